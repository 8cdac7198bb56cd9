"""The pipeline: find, (post-process), list, fingerprint, plan, apply, report.

Each step is a small function of its own module; this one only sequences
them, so that the order of a run can be read top to bottom in ``run``.
"""

from __future__ import annotations

import enum
import posixpath
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import django
from django.core.management.base import CommandError

from django.core.files.storage import Storage

from . import conf, leftovers, manifest, prune
from . import fingerprint as fp
from . import state as records
from .apply import ApplyError, Retry, Transfers
from .backends.base import MISSING, Adapter, Conflict, Prepared
from .events import Events
from .plan import LocalState, Plan, Reason, RemoteState, make_plan
from .report import Report
from .sources import LocalFile, duplicate_message, find_files
from .state import State, Update

Log = Callable[[str, int], None]
R = TypeVar("R")
# Conditional writes of the state record before a run gives up on another
# run that keeps changing it (each attempt re-reads and merges).
RECORD_ATTEMPTS = 5


@dataclass(frozen=True)
class Deployment:
    """A manifest run's deployment: its id, the fingerprint of its inputs,
    and whether a deployment no record names may have come before it."""

    id: str
    inputs: str
    gap: bool = False
    # The deployment the live manifest described when the history missed it.
    before: str | None = None


class Phase(enum.Enum):
    """How far a run got: what an interruption leaves behind."""

    NOTHING_WRITTEN = "nothing written"
    UPLOADING = "uploading"  # files replaced one by one (no manifest)
    BEFORE_MANIFEST = "before manifest"  # new files going up, the manifest not yet
    PUBLISHED = "published"  # every file written; records and deletes may be left
    DELETING = "deleting"


@dataclass
class Options:
    dry_run: bool = False
    clear: bool = False
    ignore_patterns: list[str] = field(default_factory=list)
    post_process: bool = True
    # Delete remote files under the location that the deployment does not
    # use; for manifest storages keep those of the last ``keep`` deployments.
    prune: bool = False
    keep: int = 3
    # --prune never deletes objects younger than this (seconds); see conf.
    min_age: float = 0


class Pipeline:
    #: The clock the age floor of --prune reads (tests move it forward).
    now: Callable[[], float] = staticmethod(time.time)

    def __init__(
        self, adapter: Adapter, options: Options, log: Log, events: Events | None = None
    ) -> None:
        self.adapter = adapter
        self.options = options
        self.log = log
        self.state_name: str = conf.get("STATE_NAME")
        self.report = Report(
            backend=adapter.label, destination=adapter.describe(), dry_run=options.dry_run,
            events=events or Events(),
        )
        self.report.requests = adapter.requests  # one counter, always current
        self._state: State | None = None
        self._state_listed = False
        self.internal: dict[str, RemoteState] = {}
        # Manifest runs: the post-processed storage's hashed_files and
        # manifest_hash, for the live storage instance (see runner).
        self.processed: tuple[dict[str, str], str] | None = None
        # The found files' source paths, for stock's "Copying '...'" lines.
        self.sources: dict[str, str] = {}
        self.phase = Phase.NOTHING_WRITTEN
        # Deployments established from a live manifest: id -> names.
        self.derived: dict[str, list[str]] = {}

    # -- the run, top to bottom --------------------------------------------
    def run(self) -> Report:
        files = self.find()
        with hashing_ahead(f.path for f in files.values() if self.adapter.hashes_source(f)):
            remote = self.list_remote()
        self.publish(files, remote=remote)
        if self.options.clear:
            self.remove_stale(set(files), remote)
        elif self.options.prune:
            self.remove_stale(set(files) | self.too_young(remote), remote)
        return self.report

    def find(self) -> dict[str, LocalFile]:
        fp.forget()
        leftovers.clean_temp_folder()  # stages and spools of runs that were killed
        with self.report.phase("find"):
            files = find_files(self.options.ignore_patterns, on_duplicate=self.duplicate)
        self.sources = {name: f.path or f.source_name for name, f in files.items()}
        for name in files:
            parts = name.split("/")
            if name.startswith("/") or ".." in parts:
                raise CommandError(
                    "Refusing '%s': the name would escape the storage's location. "
                    "Nothing was uploaded." % name
                )
        return files

    def run_manifest(self, storage: Storage, storage_options: Mapping[str, Any]) -> Report:
        """The run for manifest storages: post-process locally, then publish
        the staged tree with the manifest last (see ``manifest``)."""
        report = self.report
        files = self.find()
        with hashing_ahead(f.path for f in files.values() if f.path):
            remote = self.list_remote()
        with report.phase("inputs"):  # one fingerprint of the sources and settings
            key = manifest.inputs_key(storage, files)
        manifest_name = storage.manifest_name
        gap = self.history_gap(remote, manifest_name)
        before = self.live_deployment(manifest_name, remote) if gap and self.options.prune else None
        deployment = Deployment(key[:24], key, gap is not None, before)
        published = None
        if self._state_listed:
            published = manifest.unchanged_deployment(
                self.state().manifest, key, remote, self.write_digest
            )
        if published is not None:
            self.log("Nothing changed since the last deployment; skipping post-processing.", 1)
            report.files = dict.fromkeys(published, Reason.UNCHANGED.value)
        else:
            with manifest.Stage() as stage:
                stage.place_originals(files)
                staged = manifest.staged_storage(storage, storage_options, stage.root)
                with report.phase("post-process"):
                    for original, processed in manifest.post_process(staged, files):
                        self.log("Post-processed '%s' as '%s'" % (original, processed), 2)
                        report.post_processed.append(original)
                self.processed = (dict(staged.hashed_files), getattr(staged, "manifest_hash", ""))
                staged_files = stage.files()
                published = list(staged_files)
                self.publish(staged_files, last=frozenset({manifest_name}), remote=remote,
                             deployment=deployment)
        if self.options.clear:
            self.remove_stale(set(published), remote)
        elif self.options.prune:
            self.prune_deployments(set(published), remote, deployment, gap)
        return report

    def prune_deployments(
        self, published: set[str], remote: Mapping[str, RemoteState],
        deployment: Deployment, gap: str | None,
    ) -> None:
        """``--prune`` on a manifest storage: keep the files of the last K
        deployments, where the history read (and, after publishing, merged
        with any other run's) establishes them; else keep everything."""
        history = self.history(deployment)
        older, unknown = prune.kept_names(history, self.options.keep, self.deployment_names)
        if unknown is not None:
            because = gap if gap is not None and unknown == prune.GAP else unknown
            self.log("Not pruning: the last %d deployments cannot be established (%s); "
                     "every file is kept." % (self.options.keep, because), 1)
            return
        kept_records = {self.deployment_record(d) for d in history[: self.options.keep]}
        young_records = prune.too_young(self.internal, self.options.min_age, self.now())
        stale_records = sorted(n for n in self.internal if self.is_deployment_record(n)
                               and n not in kept_records and n not in young_records)
        self.remove_stale(published | older | self.too_young(remote), remote, stale_records)

    def too_young(self, listed: Mapping[str, RemoteState]) -> set[str]:
        """Listed names --prune keeps for their age (STATICSHIP_PRUNE_MIN_AGE)."""
        young = prune.too_young(listed, self.options.min_age, self.now())
        if young:
            self.log("Keeping %d files written less than %g seconds ago or of unknown age "
                     "(STATICSHIP_PRUNE_MIN_AGE): a deploy may still be publishing them."
                     % (len(young), self.options.min_age), 1)
        return young

    def history_gap(self, remote: Mapping[str, RemoteState], manifest_name: str) -> str | None:
        """Why the recorded history may miss the deployment now live (None
        when it cannot): files are listed, but the state record is missing,
        unusable, names no deployment, or recorded another manifest."""
        if not remote:
            return None  # nothing was published before
        if not self._state_listed:
            return "there is no state record '%s'" % self.state_name
        state = self.state()
        if state.problem is not None:
            return "the state record '%s' cannot be used" % self.state_name
        if not state.deployments:
            return "no deployment is recorded in '%s'" % self.state_name
        listed, recorded = remote.get(manifest_name), state.recorded_output(manifest_name)
        if listed is not None and listed.token is not None and (
            recorded is None or recorded[0] != listed.token
        ):
            return "the live manifest is not the one last recorded"
        return None

    def live_deployment(self, manifest_name: str, remote: Mapping[str, RemoteState]) -> str | None:
        """When the history missed the deployment now live: that deployment,
        established from the live manifest (read before this run replaces
        it), which names every file it uses. Its id; None without a usable
        manifest."""
        if manifest_name not in remote:
            return None
        try:
            data = self.retrying(lambda: self.adapter.read_small(manifest_name))
        except Exception as exc:  # noqa: BLE001
            raise self.failure("Reading '%s'" % manifest_name, exc) from exc
        names = prune.manifest_names(data, manifest_name)
        if data is None or names is None:
            return None
        found = "live-" + fp.md5_hex(data)[:19]
        self.derived[found] = names
        return found

    # -- deployment history (manifest storages) ------------------------------
    @property
    def internal_dir(self) -> str:
        """Where staticship's own objects live: the state record's folder (a
        state record at the top of the location still gets a folder)."""
        return posixpath.dirname(self.state_name) or ".staticship"

    def is_internal(self, name: str) -> bool:
        return name == self.state_name or name.startswith(self.internal_dir + "/")

    def deployment_record(self, deployment: str) -> str:
        return posixpath.join(self.internal_dir, "deployments", deployment + ".json")

    def is_deployment_record(self, name: str) -> bool:
        return name.startswith(posixpath.join(self.internal_dir, "deployments") + "/")

    def history(self, current: Deployment) -> list[str]:
        """Deployment ids, newest first, the current one included: as this
        run wrote them (merged with other runs' updates), or (dry run, no
        change) as they would be."""
        past = self.state().deployments
        if past[:1] == [current.id]:
            return past
        return records.record_deployment(past, current.id, current.gap, current.before)

    def deployment_names(self, deployment: str) -> list[str] | None:
        """The names of ``deployment``'s record; None if it is missing or
        unusable. A record not listed is read all the same: another run may
        have recorded it after this run listed."""
        if deployment in self.derived:
            return self.derived[deployment]
        name = self.deployment_record(deployment)
        try:
            data = self.retrying(lambda: self.adapter.read_small(name))
        except Exception as exc:  # noqa: BLE001
            raise self.failure("Reading '%s'" % name, exc) from exc
        names, why = records.deployment_names(data)
        if names is None:
            self.log("The deployment record '%s' cannot be used: %s." % (name, why), 2)
        return names

    def list_remote(self) -> dict[str, RemoteState]:
        with self.report.phase("list"):
            try:
                remote = self.retrying(self.adapter.inventory)
            except Exception as exc:  # noqa: BLE001 - reported as one clear line
                raise self.failure("Listing %s" % self.adapter.describe(), exc) from exc
        self.internal = {name: remote.pop(name) for name in list(remote) if self.is_internal(name)}
        if not self.options.dry_run:
            self.adapter.clean_leftovers()
        self._state_listed = self.state_name in self.internal
        return remote

    def publish(
        self,
        files: Mapping[str, LocalFile],
        last: frozenset[str] = frozenset(),
        remote: dict[str, RemoteState] | None = None,
        deployment: Deployment | None = None,
    ) -> Report:
        """Fingerprint, plan and upload ``files``; names in ``last`` go after
        all others have succeeded. A ``deployment`` (manifest runs) is
        recorded with the published outputs once everything is in place."""
        report = self.report
        if remote is None:
            remote = self.list_remote()
        prepared: dict[str, Prepared] = {}
        try:
            with report.phase("hash"):
                prepared = self.fingerprint(files, remote)
                self.confirm_from_state(prepared, remote)
                writes = self.rewrite_changed_options(prepared, remote) if deployment else {}
            plan = make_plan(
                {n: LocalState(frozenset(p.tokens), p.size) for n, p in prepared.items()},
                remote,
                last,
            )
            self.record_plan(plan, prepared)
            if not self.options.dry_run:
                with report.phase("upload"):
                    results = self.upload(plan, prepared, last)
                self.phase = Phase.PUBLISHED
                section = None
                if deployment is not None:
                    section = {"inputs": deployment.inputs,
                               "outputs": self.outputs(prepared, remote, results),
                               "writes": writes}
                    self.write_small(self.deployment_record(deployment.id),
                                     records.deployment_record(deployment.id, prepared))
                    if deployment.before is not None:
                        self.write_small(self.deployment_record(deployment.before),
                                         records.deployment_record(
                                             deployment.before, self.derived[deployment.before]))
                self.update_state(prepared, results, section, deployment)
        finally:
            for item in prepared.values():
                item.discard()
        return report

    def write_digest(self, name: str) -> str:
        return manifest.write_digest(self.adapter.write_options(name))

    def rewrite_changed_options(
        self, prepared: Mapping[str, Prepared], remote: Mapping[str, RemoteState]
    ) -> dict[str, str]:
        """Each name's write digest; a listed object that the last deployment
        wrote with other options (headers, ACL, gzip ...) is uploaded again
        even though its bytes match. Without a record of them (no state
        record), the bytes decide, as on the plain path."""
        writes = {name: self.write_digest(name) for name in prepared}
        section = self.state().manifest if self._state_listed else None
        recorded = section.get("writes") if isinstance(section, dict) else None
        if not isinstance(recorded, dict):
            return writes
        for name, item in prepared.items():
            listed = remote.get(name)
            if listed is not None and recorded.get(name) != writes[name]:
                item.tokens.discard(listed.token)
        return writes

    def outputs(
        self,
        prepared: Mapping[str, Prepared],
        remote: Mapping[str, RemoteState],
        results: Mapping[str, str | None],
    ) -> dict[str, tuple[str | None, int]]:
        """The token and size each published name now has remotely."""
        published: dict[str, tuple[str | None, int]] = {}
        for name, item in prepared.items():
            if name in results:
                token = results[name] or self.adapter.expected_token(item)
                published[name] = (token, item.size)
            else:
                listed = remote[name]
                published[name] = (listed.token, item.size)
        return published

    # -- steps ------------------------------------------------------------
    def duplicate(self, name: str) -> None:
        # Django 6.1 moved this message to -v 2 and counts the skipped files.
        self.log(duplicate_message(name), 2 if django.VERSION >= (6, 1) else 1)
        self.report.skipped.append(name)

    def fingerprint(
        self, files: Mapping[str, LocalFile], remote: Mapping[str, RemoteState]
    ) -> dict[str, Prepared]:
        def one(file: LocalFile) -> Prepared:
            try:
                return self.adapter.prepare(file, remote.get(file.name))
            except OSError as exc:
                raise CommandError(
                    "Cannot read '%s' (%s): %s. Nothing was uploaded."
                    % (file.name, file.path or file.source_name, exc.strerror or exc)
                ) from exc

        with ThreadPoolExecutor(min(8, max(1, self.adapter.workers))) as pool:
            futures = {name: pool.submit(one, file) for name, file in files.items()}
        prepared: dict[str, Prepared] = {}
        failed: BaseException | None = None
        for name, future in futures.items():
            try:
                prepared[name] = future.result()
            except BaseException as exc:  # noqa: BLE001 - the first one is raised below
                failed = failed or exc
        if failed is not None:
            for item in prepared.values():  # no spooled body outlives a failed run
                item.discard()
            raise failed
        return prepared

    def retrying(self, call: Callable[[], R]) -> R:
        """``call()``, retried on transient errors like an upload is."""
        retry = Retry(max_attempts=int(conf.get("MAX_ATTEMPTS")))
        attempt = 0
        while True:
            try:
                return call()
            except Exception as exc:
                attempt += 1
                if attempt >= retry.max_attempts or not self.adapter.is_transient(exc):
                    raise
                self.log("Retrying after: %s" % exc, 2)
                time.sleep(retry.delay(attempt))

    def failure(self, what: str, exc: BaseException) -> CommandError:
        """One line naming what failed, the cause and, where known, the fix
        (the client's own text then only with -v 3, in the traceback)."""
        known = self.adapter.explain(exc)
        if known is not None:
            return CommandError(known.line(what, exc))
        cause = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return CommandError("%s failed: %s" % (what, cause))

    def state(self) -> State:
        """The state record, downloaded at most once, and only if it was
        listed (else an empty one that must not exist when written)."""
        if self._state is None:
            if self._state_listed:
                self._state = self.read_state()
            else:
                self._state = State(version=MISSING if self.adapter.conditional_writes else None)
        return self._state

    def read_state(self) -> State:
        """The state record as stored now, with its version tag; one of the
        wrong shape counts as absent (said at -v 2)."""
        try:
            data, version = self.retrying(lambda: self.adapter.read_versioned(self.state_name))
        except Exception as exc:  # noqa: BLE001
            raise self.failure("Reading '%s'" % self.state_name, exc) from exc
        state = State.loads(data, version)
        if state.problem is not None:
            self.log("The state record '%s' is treated as absent: %s." % (
                self.state_name, state.problem), 2)
        return state

    def confirm_from_state(
        self, prepared: Mapping[str, Prepared], remote: Mapping[str, RemoteState]
    ) -> None:
        """Accept opaque tokens that the state record vouches for."""
        unproven = [
            name
            for name, item in prepared.items()
            if name in remote and remote[name].token not in item.tokens
        ]
        if not unproven or not self._state_listed:
            return
        state = self.state()
        for name in unproven:
            item = prepared[name]
            token = remote[name].token
            if token is not None and state.confirms(name, token, item.md5):
                item.tokens.add(token)

    def record_plan(self, plan: Plan, prepared: Mapping[str, Prepared]) -> None:
        dry = self.options.dry_run
        verb = "Would upload" if dry else "Uploading"
        for decision in plan.decisions:
            name = decision.name
            self.report.files[name] = decision.reason.value
            if decision.reason is Reason.UNCHANGED:
                self.log("Skipping '%s' (not modified)" % name, 2)  # stock's line
                continue
            if name in self.sources:  # stock's line for a found file, then ours
                self.log("%s '%s'" % ("Pretending to copy" if dry else "Copying",
                                      self.sources[name]), 1 if dry else 2)
            self.log("%s '%s' (%s)" % (verb, name, decision.reason.value), 1 if dry else 2)
        if self.options.dry_run:
            self.report.bytes_uploaded = sum(prepared[d.name].size for d in plan.uploads)

    def upload(
        self, plan: Plan, prepared: Mapping[str, Prepared], last: frozenset[str]
    ) -> dict[str, str | None]:
        names = [d.name for d in plan.uploads]
        first = [prepared[n] for n in names if n not in last]
        final = [prepared[n] for n in names if n in last]

        events = self.report.events
        lock = threading.Lock()

        def done(item: Prepared, result: object) -> None:
            if item.file.name in last:
                self.phase = Phase.PUBLISHED
            with lock:
                self.report.bytes_uploaded += item.size
            events.file_uploaded(item.file.name, item.size)

        def retrying(item: Prepared, exc: BaseException, attempt: int) -> None:
            self.log("Retrying '%s' after: %s" % (item.file.name, exc), 2)

        transfers = Transfers(
            self.adapter.upload,
            lambda item: item.file.name,
            workers=self.adapter.workers,
            is_transient=self.adapter.is_transient,
            retry=Retry(max_attempts=int(conf.get("MAX_ATTEMPTS"))),
            on_done=done,
            on_retry=retrying,
        )
        events.upload_started(len(names), sum(prepared[n].size for n in names))
        if names:
            self.phase = Phase.BEFORE_MANIFEST if final else Phase.UPLOADING
        try:
            results = transfers.run(first, final)
        except ApplyError as exc:
            first_exc = exc.failures[0][1]
            known = self.adapter.explain(first_exc)
            if known is None:
                raise CommandError(str(exc)) from first_exc
            raise CommandError(
                "%s Fix: %s." % (exc.summary(known.cause), known.fix)) from first_exc
        finally:
            events.upload_finished()
        ordered = first + final
        return {ordered[i].file.name: token for i, token in results.items()}  # type: ignore[misc]

    def update_state(
        self,
        prepared: Mapping[str, Prepared],
        results: Mapping[str, str | None],
        section: dict[str, Any] | None = None,
        deployment: Deployment | None = None,
    ) -> None:
        """Record the tokens of uploads whose listing will not prove content,
        the manifest section and the deployment; write the record only if it
        changed. The write is conditional on the version read: when another
        run wrote meanwhile, its record is read again and this run's update
        applied to it (a bounded number of times)."""
        opaque = {
            name: (token, prepared[name].md5)
            for name, token in results.items()
            if token is not None and token not in prepared[name].tokens
        }
        if not opaque and section is None and not self._state_listed:
            return
        update = Update(set(results), opaque, section, deployment.id if deployment else None,
                        deployment.before if deployment else None,
                        bool(deployment and deployment.gap))
        state = self.state()
        for attempt in range(1, RECORD_ATTEMPTS + 1):
            after = update.apply(state)
            if after.dumps() == state.dumps() and state.problem is None:
                self._state = state
                return
            try:
                self.write_small(self.state_name, after.dumps(), expect=state.version)
            except Conflict:
                if attempt == RECORD_ATTEMPTS:
                    break
                self.log("'%s' was changed by another run; merging." % self.state_name, 2)
                state = self.read_state()
                continue
            after.version = None  # written: its new tag is not known
            self._state = after
            return
        raise CommandError(
            "Writing '%s' failed: another run changed it %d times while this one tried to "
            "record its deployment. The files are published; run again to record them."
            % (self.state_name, RECORD_ATTEMPTS)
        )

    def write_small(self, name: str, data: bytes, expect: str | None = None) -> None:
        """Write one record of ours; ``expect`` makes it conditional (see
        Adapter.write_small), and a refusal is raised as ``Conflict``."""
        condition = {} if expect is None else {"expect": expect}  # adapters of old keep working
        self.report.records_written += 1
        try:
            self.retrying(lambda: self.adapter.write_small(
                name, data, "application/json", **condition))
        except Conflict:
            raise
        except Exception as exc:  # noqa: BLE001
            raise self.failure("Writing '%s'" % name, exc) from exc

    def remove_stale(
        self, keep: set[str], remote: Mapping[str, RemoteState], internal: Sequence[str] = ()
    ) -> None:
        """``--clear`` and ``--prune``: delete what the kept deployments do not
        use, after the new one is fully published (so the site is never left
        without files). Only names under the storage's location are listed,
        so nothing outside it can be touched."""
        stale = {name: state for name, state in remote.items() if name not in keep}
        keys, spared = self.adapter.deletable(stale, keep)
        for name, why in sorted(spared.items()):
            self.log("Keeping '%s': %s." % (name, why), 1)
        doomed = sorted(keys)
        freed = sum(remote[name].size or 0 for name in doomed)
        verb = "Pretending to delete" if self.options.dry_run else "Deleting"
        # Stock's --clear lines moved to -v 2 in Django 6.1 (--prune's stay at 1).
        level = 2 if self.options.clear and django.VERSION >= (6, 1) else 1
        for name in doomed:
            self.log("%s '%s'" % (verb, name), level)
        self.log("%s %d files (%d bytes)." % (
            "Would delete" if self.options.dry_run else "Deleted", len(doomed), freed), 1)
        records = self.adapter.deletable({n: self.internal[n] for n in internal}, ())[0]
        doomed_keys = [keys[name] for name in doomed] + [records[n] for n in sorted(records)]
        if doomed_keys and not self.options.dry_run:
            self.phase = Phase.DELETING
            with self.report.phase("delete"):
                try:
                    self.retrying(lambda: self.adapter.delete_many(doomed_keys))
                except Exception as exc:  # noqa: BLE001
                    raise self.failure("Deleting stale files", exc) from exc
        self.report.deleted = doomed
        self.report.bytes_freed = freed


@contextmanager
def hashing_ahead(paths: Iterable[str | None]) -> Iterator[None]:
    """Hash the files at ``paths`` on two side threads while the body of the
    ``with`` runs (the listing, which mostly waits for the network). The MD5s
    land in the fingerprint memo, so the hash phase finds them done. The
    threads stop when the body ends: files not reached yet are hashed by the
    hash phase as before, and a file that cannot be read is left to it too,
    so that it reports the error. ``paths`` is consumed by the threads, so a
    generator that decides which files to hash runs off the caller's path
    (should it raise, the threads stop: the hash phase meets the error)."""
    queue = iter(paths)
    lock = threading.Lock()
    stop = threading.Event()
    done = object()

    def work() -> None:
        while not stop.is_set():
            with lock:
                try:
                    path = next(queue, done)
                except Exception:  # noqa: BLE001 - the hash phase meets it again and reports it
                    return
            if path is done:
                return
            if isinstance(path, str) and path:
                try:
                    fp.md5_of_path(path)
                except OSError:
                    pass

    threads = [threading.Thread(target=work, name="staticship-hash", daemon=True) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join()
