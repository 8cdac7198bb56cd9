"""Any other ``Storage``: correct, if not fast.

A storage staticship does not know gives no content fingerprint, so no file
can be proven unchanged and every file is uploaded, as stock does after a
fresh checkout. Uploads still run in parallel and skip stock's HEAD requests;
an existing file is deleted before the save (as stock does) so that storages
which never overwrite keep the name.
"""

from __future__ import annotations

import posixpath

from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import Storage

from ..plan import RemoteState
from ..sources import LocalFile
from .base import Adapter, Prepared, TransferError


class GenericAdapter(Adapter):
    label = "generic"
    verifies_content = False

    @classmethod
    def handles(cls, storage: Storage) -> bool:
        return True

    def describe(self) -> str:
        return "storage %s.%s" % (type(self.storage).__module__, type(self.storage).__qualname__)

    _listed: set[str] | None = None

    def inventory(self) -> dict[str, RemoteState]:
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
                found[posixpath.join(directory, name) if directory else name] = RemoteState(None)
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
        if exists:
            self.storage.delete(name)
            self.requests["DELETE"] += 1
        with item.open() as source:
            saved = self.storage.save(name, File(source, name=name))
        self.requests["PUT"] += 1
        if saved != name:
            raise TransferError(
                "the storage saved '%s' as '%s' (it does not overwrite files)" % (name, saved)
            )
        return None

    def read_small(self, name: str) -> bytes | None:
        if not self.storage.exists(name):
            return None
        with self.storage.open(name, "rb") as handle:
            return handle.read()

    def write_small(
        self, name: str, data: bytes, content_type: str, *, expect: str | None = None
    ) -> None:
        # A storage object has no conditional write (``read_versioned`` gives
        # no tag): two runs at once can lose one's record update.
        if self.storage.exists(name):
            self.storage.delete(name)
        self.storage.save(name, ContentFile(data, name=name))
