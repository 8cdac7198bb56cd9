"""The one interface every backend implements.

A backend (adapter) wraps the user's storage object and knows three things
about its object store: how to list the storage's location once, how to
fingerprint a local file the way that listing would show it, and how to
upload a file so that the object is exactly what the storage itself writes.
Everything else (finding files, planning, concurrency, retries, ordering,
reporting) lives in the pipeline and is shared.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import import_module
from typing import Any, BinaryIO, ClassVar, TypeVar

from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import Storage

from .. import fingerprint as fp
from ..plan import RemoteState
from ..sources import LocalFile

T = TypeVar("T")


class TransferError(Exception):
    """A transfer failed. ``transient`` errors may succeed when retried."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class Conflict(TransferError):
    """A conditional write was refused: the object changed (was written,
    created or removed) since it was read, by another run."""


#: The version tag ``read_versioned`` gives for an object that does not
#: exist (on a store with conditional writes): a write expecting it must
#: not overwrite anything.
MISSING = ""


@dataclass
class Prepared:
    """A local file made ready for one backend: the exact bytes to upload
    (the source itself, or a compressed copy), and the tokens a remote object
    with those bytes could show in a listing."""

    file: LocalFile
    body_path: str
    size: int
    md5: str
    tokens: set[str] = field(default_factory=set)
    params: dict[str, Any] = field(default_factory=dict)
    temporary: bool = False

    def open(self) -> BinaryIO:
        if self.body_path:
            return open(self.body_path, "rb")
        return self.file.open()

    def measure(self) -> None:
        """Set ``md5`` and ``size`` from the body (memoised for local files)."""
        if self.body_path and not self.temporary:
            self.md5, self.size = fp.md5_of_path(self.body_path)
        else:
            with self.open() as body:
                self.md5, self.size = fp.md5_of_file(body)

    def discard(self) -> None:
        if self.temporary and self.body_path:
            try:
                os.unlink(self.body_path)
            except FileNotFoundError:
                pass


class Adapter(ABC):
    """Base class of the backends. Subclasses must be safe to call from
    several threads at once (``prepare`` and ``upload``)."""

    #: Short name used in messages and reports ("s3", "gcs", ...).
    label: ClassVar[str] = "storage"
    #: True when the listing proves content (no per-file request needed).
    verifies_content: ClassVar[bool] = True
    #: True when ``read_versioned`` gives version tags and ``write_small``
    #: honours ``expect`` (the state record is then updated without losing
    #: another run's update).
    conditional_writes: ClassVar[bool] = False
    #: Dotted path of the storage class this adapter serves, subclasses
    #: included ("" for adapters whose ``handles`` decides otherwise).
    serves: ClassVar[str] = ""

    def __init__(self, storage: Storage, *, workers: int = 32) -> None:
        self.storage = storage
        self.workers = workers
        #: Requests made, by kind (LIST, GET, PUT, ...), for the report.
        self.requests: Counter[str] = Counter()

    @classmethod
    def handles(cls, storage: Storage) -> bool:
        """True if this adapter knows how to talk to ``storage``: by default,
        when the storage is an instance of ``serves``."""
        return bool(cls.serves) and derives_from(storage, cls.serves)

    @abstractmethod
    def describe(self) -> str:
        """Where the files go, for messages ("S3 bucket 'b' under 'static/'")."""

    @abstractmethod
    def inventory(self) -> dict[str, RemoteState]:
        """Every object under the storage's location, keyed by the name the
        storage would use for it (relative to its location)."""

    @abstractmethod
    def prepare(self, file: LocalFile, remote: RemoteState | None) -> Prepared:
        """Fingerprint ``file`` as the remote side would show it once uploaded.
        ``remote`` is what the listing holds under that name (if anything), for
        backends whose fingerprint depends on how the object was written."""

    @abstractmethod
    def upload(self, item: Prepared) -> str | None:
        """Write the object; return its new listing token if the store said."""

    def expected_token(self, item: Prepared) -> str | None:
        """The token the listing will show for ``item`` once uploaded, when
        ``upload`` could not say (None if it cannot be predicted)."""
        return None

    def hashes_source(self, file: LocalFile) -> bool:
        """True when ``prepare`` will take the MD5 of the source file itself
        (not of a compressed copy): the pipeline may then hash it early,
        while the listing is in flight."""
        return bool(file.path)

    # -- small objects of our own (the state record) -----------------------
    @abstractmethod
    def read_small(self, name: str) -> bytes | None:
        """Download one small object of ours; None if it does not exist."""

    @abstractmethod
    def write_small(
        self, name: str, data: bytes, content_type: str, *, expect: str | None = None
    ) -> None:
        """Upload one small object of ours, overwriting. With ``expect`` (a
        tag from ``read_versioned``), only if the object is still that
        version (``MISSING``: only if it still does not exist); else raise
        ``Conflict``."""

    def read_versioned(self, name: str) -> tuple[bytes | None, str | None]:
        """One small object of ours and its version tag for a conditional
        ``write_small``: the store's ETag or generation, ``MISSING`` when it
        does not exist, None when the store cannot write conditionally (the
        default: the write then overwrites whatever is there)."""
        return self.read_small(name), None

    def delete_many(self, names: list[str]) -> None:
        """Delete objects (batched where the store allows)."""
        for name in names:
            self.storage.delete(name)
            self.requests["DELETE"] += 1

    def is_transient(self, exc: BaseException) -> bool:
        """True if ``exc`` may go away when the transfer is retried."""
        if isinstance(exc, TransferError):
            return exc.transient
        return self._classify(exc, "").transient

    def _classify(self, exc: BaseException, key: str) -> TransferError:
        """``exc`` (a client library's error) as one line naming ``key``, and
        whether retrying may help. Backends know their clients' errors; by
        default nothing is retried."""
        text = first_line(exc)
        return TransferError("%s (%s)" % (text, key) if key else text, transient=False)

    def explain(self, exc: BaseException) -> str | None:
        """One line naming the cause and fix of a permanent error, if known."""
        return None

    def close(self) -> None:
        """Release connections and other resources."""


def prepare_body(
    file: LocalFile,
    params: dict[str, Any],
    compress: Callable[[BinaryIO, BinaryIO], None] | None = None,
) -> Prepared:
    """``file`` made ready to upload: its body is the source itself, or a
    temporary copy when ``compress`` writes the bytes the storage would send
    (its gzip) or when the source has no local path. MD5 and size are
    measured, and the MD5 is a token."""
    if compress is not None or not file.path:
        body = spool_path()
        try:
            with file.open() as source, open(body, "wb") as out:
                if compress is not None:
                    compress(source, out)
                else:
                    shutil.copyfileobj(source, out, fp.BLOCK)
        except BaseException:
            os.unlink(body)
            raise
        item = Prepared(file, body, 0, "", params=params, temporary=True)
    else:
        item = Prepared(file, file.path, 0, "", params=params)
    item.measure()
    item.tokens.add(item.md5)
    return item


def spool_path(suffix: str = "") -> str:
    """A fresh temporary file path for a prepared body (the caller removes it)."""
    handle, path = tempfile.mkstemp(prefix="staticship-", suffix=suffix)
    os.close(handle)
    return path


def storage_class(path: str) -> Any:
    """The storage class at dotted ``path``, imported now; None when it cannot
    be imported (the backend's extra, its client library, is not installed)."""
    module, _, name = path.rpartition(".")
    try:
        return getattr(import_module(module), name)
    except (ImportError, ImproperlyConfigured):
        return None


def derives_from(storage: Storage, path: str) -> bool:
    """True when ``storage`` is an instance of the class at ``path``. Its
    module is matched by name first, so that a client library is imported
    only for the storages that use it."""
    module = path.rpartition(".")[0]
    if not any(k.__module__ == module for k in type(storage).__mro__):
        return False
    base = storage_class(path)
    return base is not None and isinstance(storage, base)


def overrides(storage: Storage, path: str, attribute: str) -> bool:
    """True when the storage's class replaces ``attribute`` of the class at
    ``path`` (a subclass that writes, or connects, its own way)."""
    return getattr(type(storage), attribute, None) is not getattr(storage_class(path), attribute, None)


def batches(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """``items`` in slices of at most ``size`` (a store's batch limit)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def timestamp(value: Any) -> float | None:
    """Seconds since the epoch of a listing's last-modified time (a
    ``datetime`` or an HTTP date), None when it has none."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        from email.utils import parsedate_to_datetime

        try:
            value = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)  # stores give UTC
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, (int, float)):
        return float(value)
    return None


def first_line(exc: BaseException) -> str:
    """The first line of an error's message (obstore's errors carry a
    multi-line debug dump)."""
    return (str(exc).strip().splitlines() or [""])[0]
