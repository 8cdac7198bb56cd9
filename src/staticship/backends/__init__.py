"""Backends: one small module per object store, behind ``base.Adapter``.

Adding a backend means adding a module here and its dotted path to
``BUILTIN``; nothing in the pipeline changes.
"""

from __future__ import annotations

from django.core.files.storage import Storage
from django.utils.module_loading import import_string

from .base import Adapter

# Tried in order; the first whose ``handles()`` is true wins. ``generic``
# handles every storage and must stay last.
BUILTIN = [
    "staticship.backends.s3.S3Adapter",
    "staticship.backends.gcs.GCSAdapter",
    "staticship.backends.azure.AzureAdapter",
    "staticship.backends.filesystem.FileSystemAdapter",
    "staticship.backends.generic.GenericAdapter",
]


def load(path: str) -> type[Adapter]:
    cls = import_string(path)
    if not (isinstance(cls, type) and issubclass(cls, Adapter)):
        raise TypeError("%s is not a staticship adapter class" % path)
    return cls


def detect(storage: Storage) -> type[Adapter]:
    """The adapter class for ``storage``: the first built-in that handles it."""
    for path in BUILTIN:
        try:
            cls = load(path)
        except ImportError:  # its client library is not installed
            continue
        if cls.handles(storage):
            return cls
    raise LookupError("no adapter handles %r" % storage)  # pragma: no cover


def adapter_for(storage: Storage, explicit: str | None, workers: int, fast_transfer: bool) -> Adapter:
    """The adapter for ``storage``: the class named by STATICSHIP_ADAPTER
    (``explicit``), else the first built-in that handles it."""
    from .cloud import CloudAdapter

    cls = load(explicit) if explicit else detect(storage)
    if issubclass(cls, CloudAdapter):
        return cls(storage, workers=workers, fast_transfer=fast_transfer)
    return cls(storage, workers=workers)
