"""Glue between the management command and the pipeline."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import django
from django.conf import settings
from django.contrib.staticfiles.management.commands.collectstatic import Command as StockCommand
from django.core.management.base import CommandError
from django.core.files.storage import FileSystemStorage, InMemoryStorage, Storage
from django.utils.functional import LazyObject, empty
from django.utils.module_loading import import_string

from . import cdn, conf, hashed, immutable, progress
from .backends import adapter_for, detect
from .events import Completed, Fanout
from .manifest import PostProcessingFailed, is_manifest_storage
from .options import Options, Phase
from .pipeline import Pipeline
from .plan import Reason
from .report import Report, fast_path_line, stock_json

T = TypeVar("T")


def configured_class() -> type | None:
    """The staticfiles storage class named in STORAGES, without building it."""
    try:
        cls: type = import_string(settings.STORAGES["staticfiles"]["BACKEND"])
        return cls
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
    if not built and cls is not None:
        storage = without_remote_manifest(cls, configured_options())
        if storage is not None:
            return storage
    return unwrap(lazy)


def without_remote_manifest(cls: type, options: dict[str, Any]) -> Storage | None:
    """A manifest storage of class ``cls`` built with an in-memory
    ``manifest_storage``, so that it does not read its remote manifest on
    creation; None when ``cls`` is no manifest storage or the options give
    a ``manifest_storage`` of their own."""
    if not is_manifest_storage_class(cls) or "manifest_storage" in options:
        return None
    storage: Storage = cls(**options, manifest_storage=InMemoryStorage())
    return storage


def post_processing(command: Any, run: Callable[[], Report]) -> Report:
    """``run()``; a post-processing failure is told as stock tells it: one
    line and a blank line on stderr, then (Django 6.1) a CommandError from
    the storage's error, or (Django 5.2) the storage's error itself."""
    try:
        return run()
    except PostProcessingFailed as failed:
        command.stderr.write("Post-processing '%s' failed!" % failed.original)
        command.stderr.write()
        if django.VERSION < (6, 1):
            raise failed.error from None
        raise


def refresh_live(lazy: Any, processed: tuple[dict[str, str], str] | None) -> None:
    """Give the storage instance this process serves from the manifest just
    published, as stock's ``post_process`` does (tests and fixtures render
    ``{% static %}`` right after ``call_command("collectstatic")``). An
    instance not built yet reads the published manifest when it is built.
    A run that skipped post-processing published nothing new: a local
    manifest is read again (no request), a remote one was read when the
    instance was built."""
    if isinstance(lazy, LazyObject):
        if lazy._wrapped is empty:
            return
        lazy = lazy._wrapped
    if not is_manifest_storage(lazy):
        return
    if processed is not None:
        lazy.hashed_files, lazy.manifest_hash = dict(processed[0]), processed[1]
    elif isinstance(getattr(lazy, "manifest_storage", None), FileSystemStorage):
        lazy.hashed_files, lazy.manifest_hash = lazy.load_manifest()


def is_manifest_storage_class(cls: type) -> bool:
    from django.contrib.staticfiles.storage import ManifestFilesMixin

    return issubclass(cls, ManifestFilesMixin)


def collect(command: Any) -> dict[str, list[str]]:
    """Run staticship for a ``collectstatic`` command whose options are set,
    or Django's own ``collect()`` when ``stock_reason`` gives a reason; return
    what stock ``collect()`` returns, for the stock summary line."""
    check_report_path(command)
    target = once(lambda: Target.of(command))
    run = once(conf.Settings.read)
    why = stock_reason(command, target, run)
    if why is not None:
        return fall_back(command, why)
    report = run_pipeline(command, target(), run_options(command, run()), run())
    return {
        "modified": report.uploaded,
        "unmodified": report.names(Reason.UNCHANGED),
        "post_processed": report.post_processed,
        # Django 6.1's summary also counts these.
        "skipped": report.skipped,
        "deleted": report.deleted,
    }


def once(make: Callable[[], T]) -> Callable[[], T]:
    """``make``, called the first time only (what the decision needs is
    built when it needs it, and then kept)."""
    made: list[T] = []

    def get() -> T:
        if not made:
            made.append(make())
        return made[0]
    return get


@dataclass(frozen=True)
class Target:
    """The destination of a run, examined once: the storage, the options it
    was configured with, and whether the run post-processes it as a manifest
    storage."""

    storage: Storage
    options: dict[str, Any]
    manifest: bool

    @classmethod
    def of(cls, command: Any) -> Target:
        """The command's destination, once the options that cannot work on it
        are refused (before any work, as stock refuses them)."""
        storage = destination(command)
        if isinstance(storage, FileSystemStorage):
            # Stock's configuration error before any work: a local storage with
            # no location (an empty STATIC_ROOT) raises ImproperlyConfigured.
            storage.path("")
        if getattr(command, "prune", False) and not command.post_process \
                and hasattr(storage, "post_process"):
            raise CommandError(
                "--prune with --no-post-process would delete what post-processing made for "
                "the live deployment (a manifest storage's manifest and hashed files): drop "
                "--no-post-process, or drop --prune. Nothing was changed."
            )
        manifest = bool(command.post_process and is_manifest_storage(storage))
        return cls(storage, configured_options(), manifest)


def stock_reason(command: Any, target: Callable[[], Target],
                 run: Callable[[], conf.Settings]) -> str | None:
    """The one place that decides: why Django's own collectstatic runs
    instead of staticship (said at -v 1), or None when staticship runs.
    ``target`` builds the destination and ``run`` reads the settings; neither
    happens when the command alone decides (staticship disabled, ``--link``)."""
    if getattr(command, "disabled_by", None):
        return "staticship is disabled (%s)" % command.disabled_by
    if command.symlink:
        return "--link makes symbolic links, which staticship does not create"
    storage = target().storage
    if command.post_process and hasattr(storage, "post_process") and not target().manifest:
        # Some other post-processing storage: its post_process() may read
        # the destination, so it gets stock's sequence of operations.
        return ("%s post-processes without a manifest, and its post_process() may read the "
                "destination" % type(storage).__qualname__)
    if target().manifest and "manifest_storage" in target().options:
        return "the manifest is kept in a separate manifest_storage"
    if not run().adapter and detect(storage).label == "generic":
        # Nothing proves content on a storage staticship does not know, so
        # Django's own rule (modification times) decides, as before.
        return ("staticship has no adapter for %s (STATICSHIP_ADAPTER = "
                "'staticship.backends.generic.GenericAdapter' uploads every file in parallel "
                "instead)" % type(storage).__qualname__)
    return None


def run_options(command: Any, run: conf.Settings) -> Options:
    return Options(
        dry_run=command.dry_run,
        clear=command.clear,
        ignore_patterns=list(command.ignore_patterns),
        prune=getattr(command, "prune", False),
        keep=run.prune_keep,
        min_age=run.prune_min_age,
    )


def run_pipeline(command: Any, target: Target, options: Options, run: conf.Settings) -> Report:
    """The pipeline over the target's storage, its summary lines and
    ``--report``; a failed run still writes its report (what it planned and
    what it wrote)."""
    storage, manifest = target.storage, target.manifest
    completed = Completed()
    front = progress.for_command(command.verbosity, command.stdout, command.stderr)
    pipeline: Pipeline | None = None
    try:
        adapter = adapter_for(storage, run.adapter, run.workers, run.fast_transfer)
        pipeline = Pipeline(adapter, options, run, command.log, events=Fanout(front, completed))
        say_fast_path(command, pipeline, at_start=True)
        # The hashed names' Cache-Control (issue #16), undone after adapter.close().
        pipeline.hashed_cache = (immutable.install(storage, adapter.key, run.hashed_cache_control)
                                 if manifest else None)
        try:
            if manifest:
                report = post_processing(command, lambda: pipeline.run_manifest(
                    storage, target.options))
                if not command.dry_run:
                    refresh_live(command.storage, pipeline.processed)
            else:
                report = pipeline.run()
        finally:
            pipeline.report.fast_path = fast_path_status(adapter)
            adapter.close()
            if pipeline.hashed_cache is not None:  # staticship #16
                pipeline.hashed_cache.uninstall()
    except BaseException as exc:
        failed(command, exc, pipeline, completed)
        raise
    # staticship #16: CDN invalidation, once the deploy is complete.
    invalidation = cdn.invalidate(storage, report, hashed.names(pipeline.processed), command.log,
                                  run.cloudfront_distribution)
    report.invalidation = invalidation.as_json() if invalidation is not None else None
    summarise(command, pipeline, front)
    command.report = report
    if invalidation is not None and invalidation.status == "failed":  # staticship #16
        error = invalidation.failure_line()
        write_report_after_success(command, report.as_json(
            "failed", error, completed.names, completed.planned_bytes))
        raise CommandError(error)
    write_report_after_success(command, report.as_json(planned_bytes=completed.planned_bytes))
    return report


def summarise(command: Any, pipeline: Pipeline, front: Any) -> None:
    """The lines a run ends with, at -v 1."""
    say_fast_path(command, pipeline, at_start=False)
    if command.verbosity >= 1:
        # Phase lines (CI logs) already gave each phase's seconds.
        for line in pipeline.report.summary_lines(seconds=not isinstance(front, progress.PhaseLines)):
            command.stdout.write(line)


def fast_path_status(adapter: Any) -> dict[str, Any] | None:
    """Whether the uploads went through obstore, for the report (cloud adapters)."""
    from .backends.cloud import CloudAdapter

    return adapter.fast_path() if isinstance(adapter, CloudAdapter) else None


def say_fast_path(command: Any, pipeline: Pipeline, at_start: bool) -> None:
    """At -v 1, once: why uploads do not go through obstore (issue #13)."""
    line = fast_path_line(fast_path_status(pipeline.adapter), at_start)
    if line is not None:
        command.log(line, 1)


def failed(command: Any, exc: BaseException, pipeline: Pipeline | None, completed: Completed) -> None:
    """Where a Ctrl-C interrupted, and ``--report`` of a failed run."""
    if isinstance(exc, KeyboardInterrupt):
        command.interrupted_at = pipeline.phase if pipeline is not None else Phase.NOTHING_WRITTEN
    report = pipeline.report if pipeline is not None else Report(dry_run=command.dry_run)
    document = report.as_json("failed", _error_text(exc), completed.names, completed.planned_bytes)
    try:
        write_report(command, document)
    except CommandError as unwritten:  # the run's own error matters more
        command.stderr.write(str(unwritten))


def fall_back(command: Any, why: str) -> dict[str, list[str]]:
    """Run stock for a case staticship does not handle, saying why at -v 1.
    ``--prune``, which only staticship does, is refused when the user chose
    stock (disabled, ``--link``) and ignored, with a warning, when the
    storage did."""
    if getattr(command, "prune", False):
        if getattr(command, "disabled_by", None) or command.symlink:
            raise CommandError("--prune needs staticship, and %s. Nothing was changed." % why)
        command.stderr.write(
            "--prune is ignored: %s, so Django's stock collectstatic runs, and it does not "
            "prune." % why, style_func=command.style.WARNING,
        )
    command.log("staticship: running stock collectstatic: %s." % why, 1)
    return stock(command)


def stock(command: Any) -> dict[str, list[str]]:
    """Django's own ``collect()``, with a ``--report`` of what it returned."""
    check_report_path(command)
    start = time.perf_counter()
    stock_collect = StockCommand.collect
    where = "storage %s" % settings.STORAGES.get("staticfiles", {}).get("BACKEND", "?")
    try:
        result: dict[str, list[str]] = stock_collect(command)
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            command.interrupted_at = None  # stock was copying files in place
        document = stock_json({}, where, command.dry_run, time.perf_counter() - start,
                              "failed", _error_text(exc))
        try:
            write_report(command, document)
        except CommandError as unwritten:
            command.stderr.write(str(unwritten))
        raise
    write_report_after_success(
        command, stock_json(result, where, command.dry_run, time.perf_counter() - start))
    return result


def check_report_path(command: Any) -> None:
    """``--report FILE``: a path that cannot be written fails the command
    before any work, not after a successful deploy."""
    path = getattr(command, "report_path", None)
    if not path:
        return
    probe = "%s.%d.tmp" % (os.fspath(path), os.getpid())
    try:
        with open(probe, "w", encoding="utf-8"):
            pass
        os.unlink(probe)
    except OSError as exc:
        raise CommandError(
            "Cannot write the report to '%s': %s. Nothing was uploaded; fix the --report "
            "path and run again." % (path, exc.strerror or exc)
        ) from exc


def write_report_after_success(command: Any, document: dict[str, Any]) -> None:
    """The report of a run that succeeded: if it still cannot be written,
    say so without turning a good deploy into a failed command."""
    try:
        write_report(command, document)
    except CommandError as unwritten:
        command.stderr.write("%s (the deploy itself succeeded)." % unwritten)


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
