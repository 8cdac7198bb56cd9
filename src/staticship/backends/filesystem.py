"""Local destinations (``FileSystemStorage`` and its subclasses).

Decides by content: a destination file of the same size is hashed and
compared with the source. Writes are atomic (a temporary file in the same
directory, then a rename), so a reader never sees half a file.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

from django.core.files.storage import FileSystemStorage, Storage

from .. import fingerprint as fp
from ..plan import RemoteState
from ..sources import LocalFile
from .base import Adapter, Prepared


class FileSystemAdapter(Adapter):
    label = "filesystem"

    @classmethod
    def handles(cls, storage: Storage) -> bool:
        return isinstance(storage, FileSystemStorage)

    def __init__(self, storage: Storage, *, workers: int = 32) -> None:
        super().__init__(storage, workers=min(workers, 8))
        self.root = str(storage.location)  # type: ignore[attr-defined]

    def describe(self) -> str:
        return "directory '%s'" % self.root

    def inventory(self) -> dict[str, RemoteState]:
        found: dict[str, RemoteState] = {}
        for directory, _dirs, files in os.walk(self.root):
            for filename in files:
                path = os.path.join(directory, filename)
                name = os.path.relpath(path, self.root).replace(os.sep, "/")
                try:
                    status = os.stat(path)
                    size, modified = status.st_size, status.st_mtime
                except OSError:  # a broken link: replace it
                    size, modified = -1, None
                found[name] = RemoteState("file:" + name, size, modified=modified)
        return found

    def prepare(self, file: LocalFile, remote: RemoteState | None) -> Prepared:
        item = Prepared(file, file.path, 0, "")
        item.measure()
        if remote is not None and remote.size == item.size:
            target = self.storage.path(file.name)
            if not os.path.islink(target):
                with open(target, "rb") as existing:
                    if fp.md5_of_file(existing)[0] == item.md5:
                        # The destination holds these very bytes.
                        item.tokens.add("file:" + file.name)
        return item

    def expected_token(self, item: Prepared) -> str | None:
        return "file:" + item.file.name

    def upload(self, item: Prepared) -> str | None:
        self._write(item.file.name, item)
        self.requests["WRITE"] += 1
        return None

    def _write(self, name: str, item: Prepared | bytes) -> None:
        storage: Any = self.storage
        target = storage.path(name)
        directory = os.path.dirname(target)
        if storage.directory_permissions_mode is not None:
            old_umask = os.umask(0o777 & ~storage.directory_permissions_mode)
            try:
                os.makedirs(directory, storage.directory_permissions_mode, exist_ok=True)
            finally:
                os.umask(old_umask)
        else:
            os.makedirs(directory, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=directory, prefix=".staticship-")
        try:
            with os.fdopen(handle, "wb") as out:
                if isinstance(item, bytes):
                    out.write(item)
                else:
                    with item.open() as source:
                        shutil.copyfileobj(source, out, fp.BLOCK)
            mode = storage.file_permissions_mode
            if mode is None:
                umask = os.umask(0)
                os.umask(umask)
                mode = 0o666 & ~umask
            os.chmod(temporary, mode)
            if os.path.islink(target):
                os.unlink(target)
            os.replace(temporary, target)
        except BaseException:
            if os.path.exists(temporary):
                os.unlink(temporary)
            raise

    def read_small(self, name: str) -> bytes | None:
        try:
            with open(self.storage.path(name), "rb") as handle:
                return handle.read()
        except FileNotFoundError:
            return None

    def write_small(
        self, name: str, data: bytes, content_type: str, *, expect: str | None = None
    ) -> None:
        # No conditional write here (``read_versioned`` gives no tag): two
        # runs into one directory at once can lose one's record update.
        self._write(name, data)

    def delete_many(self, names: list[str]) -> None:
        for name in names:
            try:
                os.unlink(self.storage.path(name))
            except FileNotFoundError:
                pass
