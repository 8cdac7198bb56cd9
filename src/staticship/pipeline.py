"""The pipeline: the steps of a run, in order, each in a module of its own.

1. find the local files (``sources``); 2. post-process them locally, for
manifest storages (``manifest``); 3. list the remote side once (the
adapter's ``inventory``, through ``calls``); 4. fingerprint (``prepare``);
5. plan (``plan``); 6. apply (``upload``, ``apply``); 7. record the deployment
(``records``); 8. delete what ``--clear``/``--prune`` may (``cleanup``);
9. report (``report``). This module only sequences them: ``run`` and
``run_manifest`` read top to bottom.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping
from typing import Any

import django
from django.core.files.storage import Storage

from . import conf, immutable, incremental, leftovers, manifest, originals
from . import fingerprint as fp
from .backends.base import Adapter, Prepared
from .calls import Calls
from .cleanup import Cleanup
from .errors import RunFailed
from .events import Events
from .headers import Headers, run_digests
from .plan import Reason, RemoteState, make_plan
from .prepare import hashing_ahead, prepare_all
from .records import RECORD_ATTEMPTS, Deployment, Published, Records
from .options import Options, Phase
from .report import Report
from .upload import Upload
from .sources import LocalFile, duplicate_message, find_files

__all__ = ["RECORD_ATTEMPTS", "Deployment", "Options", "Phase", "Pipeline", "hashing_ahead"]

Log = Callable[[str, int], None]


class Pipeline:
    #: The clock the age floor of --prune reads (tests move it forward).
    now: Callable[[], float] = staticmethod(time.time)

    def __init__(
        self, adapter: Adapter, options: Options, settings: conf.Settings, log: Log,
        events: Events | None = None,
    ) -> None:
        self.adapter = adapter
        self.options = options
        self.log = log
        self.report = Report(
            backend=adapter.label, destination=adapter.describe(), dry_run=options.dry_run,
            events=events or Events(),
        )
        self.report.requests = adapter.requests  # one counter, always current
        self.calls = Calls(adapter, log, settings.max_attempts)
        self.records = Records(adapter, self.calls, log, self.report, settings.state_name)
        self.headers = Headers(adapter, self.calls, self.records, self.report, log)
        self.cleanup = Cleanup(adapter, self.calls, self.records, self.report, log, options,
                               now=lambda: self.now(), deleting=self.deleting)
        # Manifest runs: the post-processed storage's hashed_files and
        # manifest_hash, for the live storage instance (see runner).
        self.processed: tuple[dict[str, str], str] | None = None
        # The found files' source paths, for stock's "Copying '...'" lines.
        self.sources: dict[str, str] = {}
        self.phase = Phase.NOTHING_WRITTEN
        # STATICSHIP_HASHED_CACHE_CONTROL's hook (see immutable), set by the runner.
        self.hashed_cache: immutable.Override | None = None
        self.publish_originals = settings.publish_originals  # see originals

    # -- the run, top to bottom --------------------------------------------
    def run(self) -> Report:
        files = self.find()
        with hashing_ahead(f.path for f in files.values() if self.adapter.hashes_source(f)):
            remote = self.list_remote(files)
        self.publish(files, remote)
        if self.options.clear:
            self.cleanup.remove_stale(set(files), remote)
        elif self.options.prune:
            self.cleanup.remove_stale(set(files) | self.cleanup.too_young(remote), remote)
        return self.report

    def run_manifest(self, storage: Storage, storage_options: Mapping[str, Any]) -> Report:
        """The run for manifest storages: post-process locally, then publish
        the staged tree with the manifest last (see ``manifest``)."""
        report, records = self.report, self.records
        files = self.find()
        self.adapter.warm_up()  # a manifest run reads and writes the state record
        with hashing_ahead(f.path for f in files.values() if f.path):
            remote = self.list_remote(files)
        with report.phase("inputs"):  # one fingerprint of the sources and settings
            key = manifest.inputs_key(storage, files)
        manifest_name = storage.manifest_name
        gap = records.history_gap(remote, manifest_name)
        before = records.live_deployment(manifest_name, remote) if gap and self.options.prune else None
        # The same files are one release (one id) whatever the originals setting.
        deployment = Deployment(key[:24], originals.inputs(key, self.publish_originals),
                                gap is not None, before)
        published = None
        section = records.manifest_section()
        if section is not None and (self.hashed_cache is None or self.hashed_cache.recall(section)):
            published = manifest.unchanged_deployment(section, deployment.inputs, remote,
                                                      records.write_digest, records.recorded_writes())
        if published is not None:
            self.log("Nothing changed since the last deployment; skipping post-processing.", 1)
            report.files = dict.fromkeys(published, Reason.UNCHANGED.value)
        else:  # post-process what changed (or everything), publish, manifest last
            published = incremental.deploy(self, storage, storage_options, files, remote,
                                           deployment)
        originals.say(self, files, published)
        if self.options.clear:
            self.cleanup.clear_deployment(set(published), remote, deployment)
        elif self.options.prune:
            self.cleanup.prune_deployments(set(published), remote, deployment, gap)
        return report

    # -- steps ------------------------------------------------------------
    def find(self) -> dict[str, LocalFile]:
        fp.forget()
        leftovers.clean_temp_folder()  # stages and spools of runs that were killed
        with self.report.phase("find"):
            files = find_files(self.options.ignore_patterns, on_duplicate=self.duplicate)
        self.sources = {name: f.path or f.source_name for name, f in files.items()}
        for name in files:
            if name.startswith("/") or ".." in name.split("/"):
                raise RunFailed(
                    "Refusing '%s': the name would escape the storage's location. "
                    "Nothing was uploaded." % name
                )
        return files

    def duplicate(self, name: str) -> None:
        # Django 6.1 moved this message to -v 2 and counts the skipped files.
        self.log(duplicate_message(name), 2 if django.VERSION >= (6, 1) else 1)
        self.report.skipped.append(name)

    def list_remote(self, expected: Collection[str]) -> dict[str, RemoteState]:
        with self.report.phase("list"):
            remote = self.calls("Listing %s" % self.adapter.describe(),
                                lambda: self.adapter.inventory(expected))
        self.records.take_listed(remote)
        if not self.options.dry_run:
            self.adapter.clean_leftovers()
        return remote

    def publish(
        self,
        files: Mapping[str, LocalFile],
        remote: dict[str, RemoteState],
        last: frozenset[str] = frozenset(),
        deployment: Deployment | None = None,
        carried: Mapping[str, tuple[str | None, int]] | None = None,
        postprocess: dict[str, Any] | None = None,
    ) -> Report:
        """Fingerprint, plan and upload ``files``; names in ``last`` go after
        all others have succeeded. A ``deployment`` (manifest runs) is
        recorded with the published outputs once everything is in place,
        with ``carried`` (outputs it keeps as already published, see
        ``incremental``) and its ``postprocess`` record, in the one state
        record."""
        report, records = self.report, self.records
        prepared: dict[str, Prepared] = {}
        try:
            with report.phase("hash"):
                prepared = prepare_all(self.adapter, files, remote)
            local, writes, written = self.headers.states(prepared, remote, deployment is not None)
            plan = make_plan(local, remote, last)
            upload = Upload(self.adapter, report, self.calls, self.log, self.sources,
                            dry_run=self.options.dry_run)
            in_place = upload.in_place(plan, prepared)
            upload.announce(plan, prepared, in_place)
            if not self.options.dry_run:
                if plan.uploads:  # the state record is written after them
                    self.adapter.warm_up()
                with report.phase("upload"):
                    results = upload.run(plan, prepared, last, in_place, self.started,
                                         self.published)
                self.phase = Phase.PUBLISHED
                published = None
                if deployment is not None:
                    outputs = {**(carried or {}), **records.outputs(prepared, remote, results)}
                    published = Published(deployment, outputs, writes, tuple(carried or ()),
                                          postprocess, self.hashed_cache)
                records.record(prepared, results, published,
                               writes={} if deployment else run_digests(written, writes, results))
        finally:
            for item in prepared.values():
                item.discard()
        return report

    def started(self, final: bool) -> None:
        self.phase = Phase.BEFORE_MANIFEST if final else Phase.UPLOADING

    def published(self) -> None:
        self.phase = Phase.PUBLISHED

    def deleting(self) -> None:
        self.phase = Phase.DELETING
