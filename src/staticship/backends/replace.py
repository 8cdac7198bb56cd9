"""Replacing an object through a storage's own save, which may refuse to
overwrite (generic storages, Azure with ``overwrite_files = False``).

The previous object must keep serving until the new one is written: a
manifest that is deleted and then not saved leaves the site without one.

- A storage that overwrites is never asked to delete first: the save
  replaces the object in one step, and a failed save leaves it as it was.
- A storage that does not overwrite leaves no other way than delete, then
  save (stock collectstatic does the same). Precious objects (the manifest,
  our records) are read first, and written back if the save fails and the
  name is then empty, so the previous one serves again.
- "The name is taken" is not an error: the listing may be older than the
  object (a retry after a lost response wrote it, or another run did). The
  save's refusal (``Occupied``) leads to delete-then-save, and an object a
  storage saved under another name to avoid the taken one is removed again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, BinaryIO

from django.contrib.staticfiles.storage import ManifestFilesMixin
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import Storage

from .errors import TransferError


class Occupied(TransferError):
    """The storage would not write over the object already at the name.
    Transient: after a delete, the next attempt can succeed."""

    def __init__(self, message: str) -> None:
        super().__init__(message, transient=True)


def is_manifest(storage: Storage, name: str) -> bool:
    """True for the manifest of a manifest storage."""
    return isinstance(storage, ManifestFilesMixin) and name == storage.manifest_name


Body = Callable[[], AbstractContextManager[BinaryIO]]


def replace(
    storage: Storage, name: str, save: Callable[[File], None], body: Body, *,
    exists: bool, overwrites: Callable[[], bool], precious: bool, requests: Counter[str],
) -> None:
    """Write ``name`` with the bytes of ``body()`` through ``save`` (which
    raises ``Occupied`` when the name is taken). ``exists`` is what the
    listing said; ``overwrites()`` whether a save replaces an object."""
    if not exists or overwrites():
        try:
            with body() as source:
                save(File(source, name=name))
            return
        except Occupied:
            if overwrites():
                raise  # it should have overwritten: do not delete anything
    _delete_then_save(storage, name, save, body, precious, requests)


def _delete_then_save(
    storage: Storage, name: str, save: Callable[[File], None], body: Body, precious: bool,
    requests: Counter[str],
) -> None:
    previous = _read(storage, name, requests) if precious else None
    storage.delete(name)
    requests["DELETE"] += 1
    try:
        with body() as source:
            save(File(source, name=name))
    except BaseException:
        if previous is not None:
            _put_back(storage, name, save, previous)
        raise


def _read(storage: Storage, name: str, requests: Counter[str]) -> bytes | None:
    requests["GET"] += 1
    try:
        with storage.open(name, "rb") as handle:
            data: Any = handle.read()
    except FileNotFoundError:
        return None
    return bytes(data)


def _put_back(storage: Storage, name: str, save: Callable[[File], None], previous: bytes) -> None:
    """Best effort: the save's own error is the one to report. When the
    name is taken again (the failed save did land), nothing is written.
    ``save`` gets a ``ContentFile`` here (a fresh upload gets a ``File``)."""
    try:
        if not storage.exists(name):
            save(ContentFile(previous, name=name))
    except Exception:  # noqa: BLE001 - the original failure is raised instead
        pass
