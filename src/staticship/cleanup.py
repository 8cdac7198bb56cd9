"""Step 8, ``--clear`` and ``--prune``: delete what the kept
deployments do not use, after the new one is fully published (so the site is
never left without files). ``prune`` holds the proof; this module the I/O."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

import django

from . import prune
from .backends.base import Adapter
from .calls import Calls
from .plan import RemoteState
from .records import Deployment, Records
from .progress import human_bytes
from .report import Report

Log = Callable[[str, int], None]


class Cleanup:
    def __init__(
        self, adapter: Adapter, calls: Calls, records: Records, report: Report, log: Log,
        options: CleanupOptions, now: Callable[[], float], deleting: Callable[[], None],
    ) -> None:
        self.adapter = adapter
        self.calls = calls
        self.records = records
        self.report = report
        self.log = log
        self.options = options
        self.now = now  # the clock the age floor reads
        self.deleting = deleting  # called before the first delete request

    def prune_deployments(
        self, published: set[str], remote: Mapping[str, RemoteState],
        deployment: Deployment, gap: str | None,
    ) -> None:
        """``--prune`` on a manifest storage: keep the files of the last K
        deployments, where the history read (and, after publishing, merged
        with any other run's) establishes them; else keep everything."""
        records, keep = self.records, self.options.keep
        history = records.history(deployment)
        older, unknown = prune.kept_names(history, keep, records.deployment_names)
        if unknown is not None:
            because = gap if gap is not None and unknown == prune.GAP else unknown
            self.log("Not pruning: the last %d deployments cannot be established (%s); "
                     "every file is kept." % (keep, because), 1)
            return
        young_records = prune.too_young(records.internal, self.options.min_age, self.now())
        stale_records = [n for n in records.obsolete(history[:keep]) if n not in young_records]
        self.remove_stale(published | older | self.too_young(remote), remote, stale_records)

    def clear_deployment(
        self, published: set[str], remote: Mapping[str, RemoteState], deployment: Deployment
    ) -> None:
        """``--clear`` on a manifest storage: every listed file but the
        deployment's, and our records of the earlier format that no kept
        deployment needs (as ``--prune`` would delete them, without the age
        floor)."""
        kept = self.records.history(deployment)[: self.options.keep]
        self.remove_stale(published, remote, self.records.obsolete(kept))

    def too_young(self, listed: Mapping[str, RemoteState]) -> set[str]:
        """Listed names --prune keeps for their age (STATICSHIP_PRUNE_MIN_AGE)."""
        young = prune.too_young(listed, self.options.min_age, self.now())
        if young:
            self.log("Keeping %d files written less than %g seconds ago or of unknown age "
                     "(STATICSHIP_PRUNE_MIN_AGE): a deploy may still be publishing them."
                     % (len(young), self.options.min_age), 1)
        return young

    def remove_stale(
        self, keep: set[str], remote: Mapping[str, RemoteState], internal: Sequence[str] = ()
    ) -> None:
        """Delete the listed names not in ``keep`` (and the records of ours
        in ``internal``). Only names under the storage's location are
        listed, so nothing outside it can be touched."""
        stale = {name: state for name, state in remote.items() if name not in keep}
        keys, spared = self.adapter.deletable(stale, keep)
        for name, why in sorted(spared.items()):
            self.log("Keeping '%s': %s." % (name, why), 1)
        doomed = sorted(keys)
        freed = sum(remote[name].size or 0 for name in doomed)
        self.say_deleted(doomed, freed)
        ours = self.adapter.deletable({n: self.records.internal[n] for n in internal}, ())[0]
        doomed_keys = [keys[name] for name in doomed] + [ours[n] for n in sorted(ours)]
        if doomed_keys and not self.options.dry_run:
            self.deleting()
            with self.report.phase("delete"):
                self.calls("Deleting stale files", lambda: self.adapter.delete_many(doomed_keys))
        self.report.deleted = doomed
        self.report.bytes_freed = freed

    def say_deleted(self, doomed: list[str], freed: int) -> None:
        dry = self.options.dry_run
        verb = "Pretending to delete" if dry else "Deleting"
        # Stock's --clear lines moved to -v 2 in Django 6.1 (--prune's stay at 1).
        level = 2 if self.options.clear and django.VERSION >= (6, 1) else 1
        for name in doomed:
            self.log("%s '%s'" % (verb, name), level)
        self.log("%s %d file%s (%s)." % ("Would delete" if dry else "Deleted", len(doomed),
                                           "" if len(doomed) == 1 else "s", human_bytes(freed)), 1)


class CleanupOptions(Protocol):
    """What cleanup reads of the run's options (``options.Options`` fits)."""

    dry_run: bool
    clear: bool
    keep: int
    min_age: float
