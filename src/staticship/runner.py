"""Glue between the management command and the pipeline."""

from __future__ import annotations

import json
import os
import time
from typing import Any

from django.conf import settings
from django.contrib.staticfiles.management.commands.collectstatic import Command as StockCommand
from django.core.management.base import CommandError
from django.core.files.storage import InMemoryStorage, Storage
from django.utils.functional import LazyObject, empty
from django.utils.module_loading import import_string

from . import conf, progress
from .backends import adapter_for
from .events import Completed, Fanout
from .manifest import is_manifest_storage
from .pipeline import Options, Pipeline
from .plan import Reason
from .report import Report, stock_json


def configured_class() -> type | None:
    """The staticfiles storage class named in STORAGES, without building it."""
    try:
        return import_string(settings.STORAGES["staticfiles"]["BACKEND"])
    except (KeyError, ImportError, AttributeError):
        return None


def configured_options() -> dict[str, Any]:
    return dict(settings.STORAGES.get("staticfiles", {}).get("OPTIONS", {}) or {})


def unwrap(storage: Any) -> Any:
    """The storage object behind Django's lazy ``staticfiles_storage``."""
    if isinstance(storage, LazyObject):
        if storage._wrapped is empty:
            storage._setup()
        return storage._wrapped
    return storage


def destination(command: Any) -> Storage:
    """The user's storage, built so that a manifest storage does not download
    its remote manifest on creation (stock does; we never need it)."""
    cls = configured_class()
    lazy = command.storage
    built = not isinstance(lazy, LazyObject) or lazy._wrapped is not empty
    options = configured_options()
    if (
        not built
        and cls is not None
        and is_manifest_storage_class(cls)
        and "manifest_storage" not in options
    ):
        return cls(**options, manifest_storage=InMemoryStorage())
    return unwrap(lazy)


def is_manifest_storage_class(cls: type) -> bool:
    from django.contrib.staticfiles.storage import ManifestFilesMixin

    return issubclass(cls, ManifestFilesMixin)


def collect(command: Any) -> dict[str, list[str]]:
    """Run staticship for a ``collectstatic`` command whose options are set;
    return what stock ``collect()`` returns, for the stock summary line."""
    storage = destination(command)
    options = Options(
        dry_run=command.dry_run,
        clear=command.clear,
        ignore_patterns=list(command.ignore_patterns),
        post_process=command.post_process,
        prune=getattr(command, "prune", False),
        keep=int(conf.get("PRUNE_KEEP")),
        min_age=float(conf.get("PRUNE_MIN_AGE")),
    )
    manifest = command.post_process and is_manifest_storage(storage)
    if command.post_process and hasattr(storage, "post_process") and not manifest:
        # Some other post-processing storage: its post_process() may read
        # the destination, so it gets stock's sequence of operations.
        return stock(command)
    if manifest and "manifest_storage" in configured_options():
        return stock(command)
    completed = Completed()
    events = Fanout(progress.for_command(command.verbosity, command.stdout, command.stderr), completed)
    pipeline: Pipeline | None = None
    try:
        adapter = adapter_for(storage, conf.get("ADAPTER"), int(conf.get("WORKERS")))
        pipeline = Pipeline(adapter, options, command.log, events=events)
        try:
            if manifest:
                report = pipeline.run_manifest(storage, configured_options())
            else:
                report = pipeline.run()
        finally:
            adapter.close()
    except BaseException as exc:
        # --report: a failed run still says what it planned and what it wrote.
        failed = pipeline.report if pipeline is not None else Report(dry_run=command.dry_run)
        document = failed.as_json(
            "failed", _error_text(exc), completed.names, completed.planned_bytes
        )
        try:
            write_report(command, document)
        except CommandError as unwritten:  # the run's own error matters more
            command.stderr.write(str(unwritten))
        raise
    if command.verbosity >= 1:
        for line in report.summary_lines():
            command.stdout.write(line)
    command.report = report
    write_report(command, report.as_json(planned_bytes=completed.planned_bytes))
    return {
        "modified": report.uploaded,
        "unmodified": report.names(Reason.UNCHANGED),
        "post_processed": report.post_processed,
        # Django 6.1's summary also counts these.
        "skipped": report.skipped,
        "deleted": report.deleted,
    }


def stock(command: Any) -> dict[str, list[str]]:
    """Django's own ``collect()``, with a ``--report`` of what it returned."""
    start = time.perf_counter()
    stock_collect = StockCommand.collect
    where = "storage %s" % settings.STORAGES.get("staticfiles", {}).get("BACKEND", "?")
    try:
        result: dict[str, list[str]] = stock_collect(command)
    except BaseException as exc:
        document = stock_json({}, where, command.dry_run, time.perf_counter() - start,
                              "failed", _error_text(exc))
        try:
            write_report(command, document)
        except CommandError as unwritten:
            command.stderr.write(str(unwritten))
        raise
    write_report(command, stock_json(result, where, command.dry_run, time.perf_counter() - start))
    return result


def write_report(command: Any, document: dict[str, Any]) -> None:
    """Write ``--report FILE`` (if given) atomically."""
    path = getattr(command, "report_path", None)
    if not path:
        return
    path = os.fspath(path)
    temporary = "%s.%d.tmp" % (path, os.getpid())
    try:
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=2)
            handle.write("\n")
        os.replace(temporary, path)
    except OSError as exc:
        raise CommandError("Cannot write the report to '%s': %s" % (path, exc)) from exc


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    return str(exc) or type(exc).__name__
