"""Local destinations (``FileSystemStorage`` and its subclasses).

Decides by content: a destination file of the same size is hashed and
compared with the source. Writes are atomic (a temporary file in the same
directory, then a rename), so a reader never sees half a file.

A file's listing token is its identity and times (inode, size, modification
and change times), so a token recorded when a file was written or proven
equal (the manifest skip's outputs) holds only while the file is untouched:
any write to it, even one of the same size, changes its change time.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Collection
from typing import Any

from django.core.files.storage import FileSystemStorage, Storage

from .. import fingerprint as fp
from .. import leftovers
from ..plan import RemoteState
from ..sources import LocalFile
from .base import Adapter, Prepared


class FileSystemAdapter(Adapter):
    label = "filesystem"

    @classmethod
    def handles(cls, storage: Storage) -> bool:
        return isinstance(storage, FileSystemStorage)

    def __init__(self, storage: Storage, *, workers: int) -> None:
        super().__init__(storage, workers=min(workers, 8))
        self.root = str(storage.location)
        self._temporaries: list[tuple[str, str]] = []
        with _UMASK:  # read once: os.umask() sets it, and uploads run on threads
            self.umask = os.umask(0)
            os.umask(self.umask)

    def describe(self) -> str:
        return "directory '%s'" % self.root

    def inventory(self, expected: Collection[str] = ()) -> dict[str, RemoteState]:
        """Every file under the root but the temporaries of atomic writes
        (never user files), which are noted for ``clean_leftovers``."""
        found: dict[str, RemoteState] = {}
        self._temporaries = []
        for directory, _dirs, files in os.walk(self.root):
            for filename in files:
                path = os.path.join(directory, filename)
                if leftovers.is_atomic_temporary(filename):
                    self._temporaries.append((path, filename))
                    continue
                name = os.path.relpath(path, self.root).replace(os.sep, "/")
                try:
                    stat = os.stat(path)
                except OSError:  # a broken link: replace it
                    found[name] = RemoteState(None, -1, key=path)
                else:
                    found[name] = RemoteState(stat_token(stat), stat.st_size, key=path,
                                              modified=stat.st_mtime)
        return found

    def write_options(self, name: str) -> Any:
        storage: Any = self.storage
        return [storage.file_permissions_mode, storage.directory_permissions_mode]

    def clean_leftovers(self) -> None:
        """Remove the temporaries of atomic writes whose run is gone."""
        for path, filename in self._temporaries:
            if leftovers.is_stale(path, filename, leftovers.ATOMIC):
                leftovers.remove(path)
        self._temporaries = []

    def prepare(self, file: LocalFile, remote: RemoteState | None) -> Prepared:
        item = Prepared(file, file.path, 0, "")
        item.measure()
        if remote is not None and remote.token is not None and remote.size == item.size:
            target = self.storage.path(file.name)
            if not os.path.islink(target):
                with open(target, "rb") as existing:
                    if fp.md5_of_file(existing)[0] == item.md5:
                        # The destination holds these very bytes.
                        item.tokens.add(remote.token)
        return item

    def expected_token(self, item: Prepared) -> str | None:
        """The token of the file just written (called right after ``upload``)."""
        try:
            return stat_token(os.stat(self.storage.path(item.file.name)))
        except OSError:
            return None

    def upload(self, item: Prepared) -> str | None:
        self._write(item.file.name, item)
        self.requests["WRITE"] += 1
        return None

    def _write(self, name: str, item: Prepared | bytes) -> None:
        storage: Any = self.storage
        target = storage.path(name)
        directory = os.path.dirname(target)
        _make_dirs(directory, storage.directory_permissions_mode)
        handle, temporary = tempfile.mkstemp(dir=directory, prefix=leftovers.prefix(leftovers.ATOMIC))
        try:
            with os.fdopen(handle, "wb") as out:
                if isinstance(item, bytes):
                    out.write(item)
                else:
                    with item.body() as source:
                        shutil.copyfileobj(source, out, fp.BLOCK)
            mode = storage.file_permissions_mode
            if mode is None:
                mode = 0o666 & ~self.umask
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

    def key(self, name: str) -> str:
        return str(self.storage.path(name))

    def delete_many(self, keys: list[str]) -> None:
        """``keys`` are the paths the listing walked to."""
        for path in keys:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass


def stat_token(stat: os.stat_result) -> str:
    """What proves a local file untouched since it was last seen."""
    return "stat:%d:%d:%d:%d" % (stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)


# The process umask is shared by the upload threads: it is changed only under
# this lock, and only to create folders as stock does.
_UMASK = threading.Lock()


def _make_dirs(directory: str, mode: int | None) -> None:
    """Create ``directory`` and its parents as FileSystemStorage does: with
    ``mode`` (applied through the umask, so parents get it too), or as the
    umask gives."""
    if mode is None:
        os.makedirs(directory, exist_ok=True)
        return
    with _UMASK:
        old = os.umask(0o777 & ~mode)
        try:
            os.makedirs(directory, mode, exist_ok=True)
        finally:
            os.umask(old)
