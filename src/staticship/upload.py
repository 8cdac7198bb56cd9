"""Step 6 of the pipeline, apply: say what the plan writes (stock's
``Copying`` lines and ours), then write it through ``apply.Transfers``:
uploads, and in-place updates of the names whose headers alone differ, the
names in ``last`` (the manifest) after all others have succeeded."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from .apply import ApplyError, Transfers
from .backends.base import Adapter, Prepared
from .calls import Calls
from .plan import Plan, Reason
from .report import Report


@dataclass
class Upload:
    """The writes of one plan (``sources``: each found name's source path,
    for stock's lines)."""

    adapter: Adapter
    report: Report
    calls: Calls
    log: Callable[..., None]
    sources: Mapping[str, str]
    dry_run: bool = field(kw_only=True)

    def in_place(self, plan: Plan, prepared: Mapping[str, Prepared]) -> frozenset[str]:
        """The names whose headers alone differ and whose store can update
        them without their bytes."""
        return frozenset(n for n in plan.by(Reason.HEADERS)
                         if self.adapter.updates_in_place(prepared[n]))

    def announce(self, plan: Plan, prepared: Mapping[str, Prepared],
                 in_place: frozenset[str]) -> None:
        """Each decision in the report, and stock's line and ours for it."""
        dry = self.dry_run
        for decision in plan.decisions:
            name = decision.name
            self.report.files[name] = decision.reason.value
            if decision.reason is Reason.UNCHANGED:
                self.log("Skipping '%s' (not modified)" % name, 2)  # stock's line
                continue
            if name in self.sources:  # stock's line for a found file, then ours
                self.log("%s '%s'" % ("Pretending to copy" if dry else "Copying",
                                      self.sources[name]), 1 if dry else 2)
            verb = ("Would update" if dry else "Updating") if name in in_place else (
                "Would upload" if dry else "Uploading")
            self.log("%s '%s' (%s)" % (verb, name, decision.reason.value), 1 if dry else 2)
        if dry:
            self.report.bytes_uploaded = sum(prepared[d.name].size for d in plan.uploads
                                             if d.name not in in_place)

    def run(self, plan: Plan, prepared: Mapping[str, Prepared], last: frozenset[str],
            in_place: frozenset[str], started: Callable[[bool], None],
            published: Callable[[], None]) -> dict[str, str | None]:
        """Write what the plan says; the token each written name now has.
        ``started(final)`` is called before the first write (``final``: names
        wait for the others), ``published()`` when a name of ``last`` is."""
        names = [d.name for d in plan.uploads]
        first = [prepared[n] for n in names if n not in last]
        final = [prepared[n] for n in names if n in last]
        events = self.report.events
        transfers = self.transfers(in_place, last, published)
        events.upload_started(len(names), sum(prepared[n].size for n in names if n not in in_place))
        if names:
            started(bool(final))
        try:
            results = transfers.run(first, final)
        except ApplyError as exc:
            raise self.calls.upload_failure(exc) from exc.failures[0][1]
        finally:
            events.upload_finished()
        ordered = first + final
        return {ordered[i].file.name: token for i, token in results.items()}  # type: ignore[misc]

    def transfers(self, in_place: frozenset[str], last: frozenset[str],
                  published: Callable[[], None]) -> Transfers[Prepared]:
        lock = threading.Lock()

        def done(item: Prepared, result: object) -> None:
            if item.file.name in last:
                published()
            sent = 0 if item.file.name in in_place else item.size
            with lock:
                self.report.bytes_uploaded += sent
            self.report.events.file_uploaded(item.file.name, sent)

        def write(item: Prepared) -> str | None:
            if item.file.name in in_place:
                return self.adapter.update(item)
            return self.adapter.upload(item)

        return Transfers(
            write, lambda item: item.file.name,
            workers=self.adapter.workers, is_transient=self.adapter.is_transient,
            retry=self.calls.retry, on_done=done,
            on_retry=lambda item, exc, n: self.log(
                "Retrying '%s' after: %s" % (item.file.name, exc), 2),
        )
