"""Any other ``Storage``: correct, if not fast.

A storage staticship does not know gives no content fingerprint, so no file
can be proven unchanged and every file is uploaded, as stock does after a
fresh checkout. Uploads still run in parallel and skip stock's HEAD requests.
An existing file is replaced in place when the storage overwrites, and
deleted before the save (as stock does) only when it does not (see
``replace``: the manifest is never left absent).
"""

from __future__ import annotations

import io
import posixpath
from collections.abc import Collection

from django.core.files import File
from django.core.files.storage import Storage

from ..plan import RemoteState
from ..sources import LocalFile
from .base import Adapter, Prepared
from .replace import Occupied, is_manifest, replace


class GenericAdapter(Adapter):
    label = "generic"

    @classmethod
    def handles(cls, storage: Storage) -> bool:
        return True

    def describe(self) -> str:
        return "storage %s.%s" % (type(self.storage).__module__, type(self.storage).__qualname__)

    _listed: set[str] | None = None

    def inventory(self, expected: Collection[str] = ()) -> dict[str, RemoteState]:
        found: dict[str, RemoteState] = {}
        pending = [""]
        while pending:
            directory = pending.pop()
            try:
                dirs, files = self.storage.listdir(directory)
            except (NotImplementedError, FileNotFoundError):
                if directory:
                    continue
                return found
            self.requests["LIST"] += 1
            for name in files:
                path = posixpath.join(directory, name) if directory else name
                found[path] = RemoteState(None, key=path)
            pending.extend(posixpath.join(directory, d) if directory else d for d in dirs)
        self._listed = set(found)
        return found

    def prepare(self, file: LocalFile, remote: RemoteState | None) -> Prepared:
        item = Prepared(file, file.path, 0, "")
        item.measure()
        return item

    def upload(self, item: Prepared) -> str | None:
        name = item.file.name
        exists = name in self._listed if self._listed is not None else self.storage.exists(name)
        replace(self.storage, name, lambda content: self._save(name, content), item.body,
                exists=exists, overwrites=lambda: self._overwrites(name),
                precious=is_manifest(self.storage, name), requests=self.requests)
        return None

    _overwrite: bool | None = None

    def _overwrites(self, name: str) -> bool:
        """Whether a save replaces an existing object (asked once, with a
        name that exists): the storage keeps the name it is given."""
        if self._overwrite is None:
            self._overwrite = self.storage.get_available_name(name) == name
        return self._overwrite

    def _save(self, name: str, content: File) -> None:
        saved = self.storage.save(name, content)
        self.requests["PUT"] += 1
        if saved == name:
            return
        if self.storage.exists(name):
            # It avoided the object already there: remove the copy it made.
            self.storage.delete(saved)
            self.requests["DELETE"] += 1
            raise Occupied("the storage saved '%s' as '%s' (it does not overwrite files)"
                           % (name, saved))
        # Nothing was in the way: the storage names files its own way, and
        # stock collectstatic ignores the name it returns too.

    def read_small(self, name: str) -> bytes | None:
        if not self.storage.exists(name):
            return None
        with self.storage.open(name, "rb") as handle:
            body: bytes = handle.read()
            return body

    def write_small(
        self, name: str, data: bytes, content_type: str, *, expect: str | None = None
    ) -> None:
        # A storage object has no conditional write (``read_versioned`` gives
        # no tag): two runs at once can lose one's record update.
        replace(self.storage, name, lambda content: self._save(name, content),
                lambda: io.BytesIO(data), exists=self.storage.exists(name),
                overwrites=lambda: self._overwrites(name), precious=True, requests=self.requests)
