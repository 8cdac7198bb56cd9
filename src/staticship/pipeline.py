"""The pipeline: find, (post-process), list, fingerprint, plan, apply, report.

Each step is a small function of its own module; this one only sequences
them, so that the order of a run can be read top to bottom in ``run``.
"""

from __future__ import annotations

import hashlib
import json
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

from . import conf, incremental, manifest
from . import fingerprint as fp
from .apply import ApplyError, Retry, Transfers
from .backends.base import Adapter, Prepared
from .events import Events
from .plan import LocalState, Plan, Reason, RemoteState, make_plan
from .report import Report
from .sources import LocalFile, duplicate_message, find_files
from .state import State

Log = Callable[[str, int], None]
R = TypeVar("R")
# Deployment ids remembered in the state record (for --prune).
HISTORY = 20


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


class Pipeline:
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

    # -- the run, top to bottom --------------------------------------------
    def run(self) -> Report:
        files = self.find()
        with hashing_ahead(f.path for f in files.values() if self.adapter.hashes_source(f)):
            remote = self.list_remote()
        self.publish(files, remote=remote)
        if self.options.clear or self.options.prune:
            self.remove_stale(set(files), remote)
        return self.report

    def find(self) -> dict[str, LocalFile]:
        fp.forget()
        with self.report.phase("find"):
            files = find_files(self.options.ignore_patterns, on_duplicate=self.duplicate)
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
        deployment = key[:24]
        published = None
        if self._state_listed:
            published = manifest.unchanged_deployment(
                self.state().sections.get(manifest.SECTION), key, remote
            )
        if published is not None:
            self.log("Nothing changed since the last deployment; skipping post-processing.", 1)
            report.files = dict.fromkeys(published, Reason.UNCHANGED.value)
        else:  # post-process what changed (or everything), publish, manifest last
            published = incremental.deploy(self, storage, storage_options, files, remote,
                                           key, deployment)
        if self.options.clear:
            self.remove_stale(set(published), remote)
        elif self.options.prune:
            keep = set(published)
            history = self.history(deployment)
            for older in history[1 : self.options.keep]:
                keep.update(self.deployment_names(older))
            kept_records = {self.deployment_record(d) for d in history[: self.options.keep]}
            stale_records = sorted(n for n in self.internal if self.is_deployment_record(n)
                                   and n not in kept_records)
            self.remove_stale(keep, remote, stale_records)
        return report

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

    def history(self, current: str) -> list[str]:
        """Deployment ids, newest first, the current one included."""
        past = self.state().sections.get("deployments", []) if self._state_listed else []
        return [current] + [d for d in past if d != current]

    def deployment_names(self, deployment: str) -> list[str]:
        name = self.deployment_record(deployment)
        if name not in self.internal:
            return []
        try:
            data = self.retrying(lambda: self.adapter.read_small(name))
        except Exception as exc:  # noqa: BLE001
            raise self.failure("Reading '%s'" % name, exc) from exc
        try:
            names = json.loads(data or b"{}").get("names", [])
        except ValueError:
            names = []
        return [str(n) for n in names]

    def list_remote(self) -> dict[str, RemoteState]:
        with self.report.phase("list"):
            try:
                remote = self.retrying(self.adapter.inventory)
            except Exception as exc:  # noqa: BLE001 - reported as one clear line
                raise self.failure("Listing %s" % self.adapter.describe(), exc) from exc
        self.internal = {name: remote.pop(name) for name in list(remote) if self.is_internal(name)}
        self._state_listed = self.state_name in self.internal
        return remote

    def publish(
        self,
        files: Mapping[str, LocalFile],
        last: frozenset[str] = frozenset(),
        remote: dict[str, RemoteState] | None = None,
        inputs: str | None = None,
        deployment: str | None = None,
        carried: Mapping[str, tuple[str | None, int]] | None = None,
        records: Mapping[str, bytes] | None = None,
    ) -> Report:
        """Fingerprint, plan and upload ``files``; names in ``last`` go after
        all others have succeeded. ``inputs`` (manifest runs) is recorded
        with the published outputs once everything is in place, with
        ``carried`` (outputs the deployment keeps as already published) and
        the digests of ``records`` (written first, beside the state record)."""
        report = self.report
        if remote is None:
            remote = self.list_remote()
        prepared: dict[str, Prepared] = {}
        try:
            with report.phase("hash"):
                prepared = self.fingerprint(files, remote)
                self.confirm_from_state(prepared, remote)
            plan = make_plan(
                {n: LocalState(frozenset(p.tokens), p.size) for n, p in prepared.items()},
                remote,
                last,
            )
            self.record_plan(plan, prepared)
            if not self.options.dry_run:
                with report.phase("upload"):
                    results = self.upload(plan, prepared, last)
                section = None
                if inputs is not None and deployment is not None:
                    outputs = {**(carried or {}), **self.outputs(prepared, remote, results)}
                    digests: dict[str, str] = {}
                    for name, data in (records or {}).items():
                        self.write_small(name, data)
                        digests[name] = hashlib.sha256(data).hexdigest()
                    section = {"inputs": inputs, "outputs": outputs, "records": digests}
                    self.write_small(
                        self.deployment_record(deployment),
                        json.dumps({"id": deployment, "names": sorted(outputs)}).encode(),
                    )
                self.update_state(prepared, results, section, deployment)
        finally:
            for item in prepared.values():
                item.discard()
        return report

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
            return dict(zip(files, pool.map(one, files.values())))

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
        """The state record, downloaded at most once, and only if it exists."""
        if self._state is None:
            data = None
            if self._state_listed:
                try:
                    data = self.retrying(lambda: self.adapter.read_small(self.state_name))
                except Exception as exc:  # noqa: BLE001
                    raise self.failure("Reading '%s'" % self.state_name, exc) from exc
            self._state = State.loads(data)
        return self._state

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
        verb = "Would upload" if self.options.dry_run else "Uploading"
        for decision in plan.decisions:
            self.report.files[decision.name] = decision.reason.value
            if decision.reason is Reason.UNCHANGED:
                self.log("Skipping '%s' (unchanged)" % decision.name, 2)
            else:
                level = 1 if self.options.dry_run else 2
                self.log("%s '%s' (%s)" % (verb, decision.name, decision.reason.value), level)
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
        deployment: str | None = None,
    ) -> None:
        """Record the tokens of uploads whose listing will not prove content,
        and the manifest section; write the record only if it changed."""
        opaque = {
            name: (token, prepared[name].md5)
            for name, token in results.items()
            if token is not None and token not in prepared[name].tokens
        }
        if not opaque and section is None and not self._state_listed:
            return
        state = self.state()
        before = State.loads(state.dumps())
        for name in results:
            state.tokens.pop(name, None)
        state.tokens.update(opaque)
        if section is not None:
            state.sections[manifest.SECTION] = section
        if deployment is not None:
            past = [d for d in state.sections.get("deployments", []) if d != deployment]
            state.sections["deployments"] = [deployment, *past][:HISTORY]
        if state.dumps() != before.dumps():
            self.write_small(self.state_name, state.dumps())

    def write_small(self, name: str, data: bytes) -> None:
        self.report.records_written += 1
        try:
            self.retrying(lambda: self.adapter.write_small(name, data, "application/json"))
        except Exception as exc:  # noqa: BLE001
            raise self.failure("Writing '%s'" % name, exc) from exc

    def remove_stale(
        self, keep: set[str], remote: Mapping[str, RemoteState], internal: Sequence[str] = ()
    ) -> None:
        """``--clear`` and ``--prune``: delete what the kept deployments do not
        use, after the new one is fully published (so the site is never left
        without files). Only names under the storage's location are listed,
        so nothing outside it can be touched."""
        doomed = sorted(name for name in remote if name not in keep)
        freed = sum(remote[name].size or 0 for name in doomed)
        verb = "Pretending to delete" if self.options.dry_run else "Deleting"
        for name in doomed:
            self.log("%s '%s'" % (verb, name), 1)
        self.log("%s %d files (%d bytes)." % (
            "Would delete" if self.options.dry_run else "Deleted", len(doomed), freed), 1)
        if (doomed or internal) and not self.options.dry_run:
            with self.report.phase("delete"):
                try:
                    self.retrying(lambda: self.adapter.delete_many([*doomed, *internal]))
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
