"""The pipeline: find, (post-process), list, fingerprint, plan, apply, report.

Each step is a small function of its own module; this one only sequences
them, so that the order of a run can be read top to bottom in ``run``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import django
from django.core.management.base import CommandError

from django.core.files.storage import Storage

from . import conf, manifest
from .apply import ApplyError, Retry, Transfers
from .backends.base import Adapter, Prepared
from .events import Events
from .plan import LocalState, Plan, Reason, RemoteState, make_plan
from .report import Report
from .sources import LocalFile, duplicate_message, find_files
from .state import State

Log = Callable[[str, int], None]


@dataclass
class Options:
    dry_run: bool = False
    clear: bool = False
    ignore_patterns: list[str] = field(default_factory=list)
    post_process: bool = True


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
        self._state: State | None = None
        self._state_listed = False

    # -- the run, top to bottom --------------------------------------------
    def run(self) -> Report:
        with self.report.phase("find"):
            files = find_files(self.options.ignore_patterns, on_duplicate=self.duplicate)
        return self.publish(files)

    def run_manifest(self, storage: Storage, storage_options: Mapping[str, Any]) -> Report:
        """The run for manifest storages: post-process locally, then publish
        the staged tree with the manifest last (see ``manifest``)."""
        report = self.report
        with report.phase("find"):
            files = find_files(self.options.ignore_patterns, on_duplicate=self.duplicate)
        remote = self.list_remote()
        with report.phase("hash"):
            key = manifest.inputs_key(storage, files)
        if self._state_listed:
            published = manifest.unchanged_deployment(
                self.state().sections.get(manifest.SECTION), key, remote
            )
            if published is not None:
                self.log("Nothing changed since the last deployment; skipping post-processing.", 1)
                report.files = dict.fromkeys(published, Reason.UNCHANGED.value)
                report.requests.update(self.adapter.requests)
                return report
        with manifest.Stage() as stage:
            stage.place_originals(files)
            staged = manifest.staged_storage(storage, storage_options, stage.root)
            with report.phase("post-process"):
                for original, processed in manifest.post_process(staged, files):
                    self.log("Post-processed '%s' as '%s'" % (original, processed), 2)
                    report.post_processed.append(original)
            manifest_name = storage.manifest_name  # type: ignore[attr-defined]
            return self.publish(
                stage.files(), last=frozenset({manifest_name}), remote=remote, inputs=key
            )

    def list_remote(self) -> dict[str, RemoteState]:
        with self.report.phase("list"):
            remote = self.adapter.inventory()
        self._state_listed = remote.pop(self.state_name, None) is not None
        return remote

    def publish(
        self,
        files: Mapping[str, LocalFile],
        last: frozenset[str] = frozenset(),
        remote: dict[str, RemoteState] | None = None,
        inputs: str | None = None,
    ) -> Report:
        """Fingerprint, plan and upload ``files``; names in ``last`` go after
        all others have succeeded. ``inputs`` (manifest runs) is recorded
        with the published outputs once everything is in place."""
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
                if inputs is not None:
                    section = {"inputs": inputs, "outputs": self.outputs(prepared, remote, results)}
                self.update_state(prepared, results, section)
            if self.options.clear:
                self.clear_others(files, remote)
        finally:
            for item in prepared.values():
                item.discard()
        report.requests.update(self.adapter.requests)
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

    def state(self) -> State:
        """The state record, downloaded at most once, and only if it exists."""
        if self._state is None:
            data = self.adapter.read_small(self.state_name) if self._state_listed else None
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
            self.report.requests.update(self.adapter.requests)
            first_exc = exc.failures[0][1]
            hint = self.adapter.explain(first_exc)
            message = str(exc) + ("\n" + hint if hint else "")
            raise CommandError(message) from first_exc
        finally:
            events.upload_finished()
        ordered = first + final
        return {ordered[i].file.name: token for i, token in results.items()}  # type: ignore[misc]

    def update_state(
        self,
        prepared: Mapping[str, Prepared],
        results: Mapping[str, str | None],
        section: dict[str, Any] | None = None,
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
        if state.dumps() != before.dumps():
            self.adapter.write_small(self.state_name, state.dumps(), "application/json")

    def clear_others(self, files: Mapping[str, LocalFile], remote: Mapping[str, RemoteState]) -> None:
        """``--clear``: remove what the new deployment does not contain, after
        it is fully published (so the site is never left without files)."""
        doomed = sorted(name for name in remote if name not in files)
        for name in doomed:
            verb = "Pretending to delete" if self.options.dry_run else "Deleting"
            self.log("%s '%s'" % (verb, name), 1)
        if doomed and not self.options.dry_run:
            with self.report.phase("delete"):
                self.adapter.delete_many(doomed)
        self.report.deleted = doomed
