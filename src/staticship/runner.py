"""Glue between the management command and the pipeline."""

from __future__ import annotations

from typing import Any

from django.utils.functional import LazyObject, empty

from . import conf
from .backends import adapter_for
from .pipeline import Options, Pipeline
from .plan import Reason


def unwrap(storage: Any) -> Any:
    """The storage object behind Django's lazy ``staticfiles_storage``."""
    if isinstance(storage, LazyObject):
        if storage._wrapped is empty:
            storage._setup()
        return storage._wrapped
    return storage


def collect(command: Any) -> dict[str, list[str]]:
    """Run staticship for a ``collectstatic`` command whose options are set;
    return what stock ``collect()`` returns, for the stock summary line."""
    storage = unwrap(command.storage)
    if command.post_process and hasattr(storage, "post_process"):
        # Storages that rewrite names (ManifestFilesMixin) go the stock way
        # until their local pipeline lands.
        return command.__class__.__mro__[1].collect(command)
    adapter = adapter_for(storage, conf.get("ADAPTER"), int(conf.get("WORKERS")))
    options = Options(
        dry_run=command.dry_run,
        clear=command.clear,
        ignore_patterns=list(command.ignore_patterns),
        post_process=command.post_process,
    )
    try:
        report = Pipeline(adapter, options, command.log).run()
    finally:
        adapter.close()
    if command.verbosity >= 1:
        for line in report.summary_lines():
            command.stdout.write(line)
    command.report = report
    return {
        "modified": report.uploaded,
        "unmodified": report.names(Reason.UNCHANGED),
        "post_processed": report.post_processed,
    }
