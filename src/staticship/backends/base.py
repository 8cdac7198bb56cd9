"""The one interface every backend implements.

A backend (adapter) wraps the user's storage and knows how to list its
location once, fingerprint a local file as that listing would show it, and
upload a file so that the object is exactly what the storage writes.
Everything else (finding, planning, concurrency, retries, ordering,
reporting) lives in the pipeline and is shared.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any, BinaryIO, ClassVar, TypeVar

from django.core.exceptions import ImproperlyConfigured, SuspiciousOperation
from django.core.files.storage import Storage

from .. import fingerprint as fp
from .. import leftovers
from ..plan import RemoteState
from ..sources import LocalFile
from .errors import (  # noqa: F401 - the names backends have imported from here
    Conflict, Explanation, TransferError, configured_as, error_text, first_line, refused,
)

T = TypeVar("T")
# Source bodies up to this size are held in memory while sent (most uploads
# read them whole anyway); larger ones are copied to a temporary file (see
# ``Prepared.body``).
SNAPSHOT_IN_MEMORY = 8 * 1024 * 1024


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
    #: True when the body is an encoding of the source (its gzip), and then
    #: the MD5 of the source bytes it was made from ("" if not followed).
    encoded: bool = False
    source_md5: str = ""

    def open(self) -> BinaryIO:
        """The body, for fingerprinting while preparing."""
        if self.body_path:
            return open(self.body_path, "rb")
        return self.file.open()

    @contextmanager
    def body(self) -> Iterator[BinaryIO]:
        """The bytes to send, proven to be those fingerprinted: our own body
        (a compressed copy) as it is, or the source read again (into memory or
        a temporary copy) and hashed; a source whose MD5 changed fails with a
        TransferError: no record vouches for bytes that were not sent."""
        if self.temporary:
            with open(self.body_path, "rb") as own:
                yield own
        else:
            with self._snapshot(self.md5) as data:
                yield data

    @contextmanager
    def source(self) -> Iterator[BinaryIO]:
        """The source bytes, for a storage that encodes them itself (its own
        ``_save``), proven to be the ones the body was prepared from."""
        if self.encoded:
            with self._snapshot(self.source_md5) as data:
                yield data
        else:
            with self.body() as data:  # the body is the source, or a copy of it
                yield data

    @contextmanager
    def _snapshot(self, expected: str) -> Iterator[BinaryIO]:
        digest = hashlib.md5(usedforsecurity=False)
        held: Any = io.BytesIO()
        with self.file.open() as source:
            for block in fp.iter_blocks(source):
                digest.update(block)
                if isinstance(held, io.BytesIO) and held.tell() + len(block) > SNAPSHOT_IN_MEMORY:
                    spooled = open(spool_path(), "w+b")
                    spooled.write(held.getvalue())
                    held = spooled
                held.write(block)
        try:
            if expected and digest.hexdigest() != expected:
                raise TransferError("'%s' changed while being uploaded; run collectstatic "
                                    "again" % self.file.name)
            held.seek(0)
            yield held
        finally:
            held.close()
            if not isinstance(held, io.BytesIO):
                os.unlink(held.name)

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
    #: True when ``read_versioned`` gives version tags and ``write_small``
    #: honours ``expect`` (the state record is then updated without losing
    #: another run's update).
    conditional_writes: ClassVar[bool] = False
    #: Dotted path of the storage class this adapter serves, subclasses
    #: included ("" for adapters whose ``handles`` decides otherwise).
    serves: ClassVar[str] = ""

    def __init__(self, storage: Storage, *, workers: int) -> None:
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
    def inventory(self, expected: Collection[str] = ()) -> dict[str, RemoteState]:
        """Every object under the location, keyed by its name relative to it.
        ``expected``: names the run publishes (a hint, see ``ranges``)."""

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

    def write_options(self, name: str) -> Any:
        """Everything besides the bytes that this adapter would put on the
        object ``name`` (headers, ACL, encoding, permissions), JSON-able: a
        change of any of it must be written again even when the bytes match."""
        return None

    def options_key(self, name: str) -> object | None:
        """Names with equal keys get equal ``write_options`` (None: no promise)."""
        return None

    #: True when a run keeps ``write_options`` digests of plain files and
    #: rewrites an object whose bytes match but whose parameters do not
    #: (see ``headers``).
    tracks_writes: ClassVar[bool] = False

    def probe(self, item: Prepared) -> bool:
        """True when the object listed under ``item``'s name carries exactly
        the parameters ``upload`` would write (one request at most); False
        when it does not, or when that cannot be read back."""
        return False

    def updates_in_place(self, item: Prepared) -> bool:
        """True when ``update`` can give the object ``item``'s parameters
        without sending its bytes again."""
        return False

    def update(self, item: Prepared) -> str | None:
        """Give the object (which holds ``item``'s bytes) the parameters
        ``upload`` would write; its new listing token, if the store said."""
        raise NotImplementedError

    def clean_leftovers(self) -> None:  # noqa: B027  (optional hook)
        """Remove what killed runs left at the destination (after the listing)."""

    def warm_up(self) -> None:  # noqa: B027  (optional hook)
        """The run will read or write our record: build its client now, aside."""

    def hashes_source(self, file: LocalFile) -> bool:
        """True when ``prepare`` hashes the source file itself (not a
        compressed copy): it may then be hashed while the listing runs."""
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

    def key(self, name: str) -> str:
        """The key the storage writes ``name`` under (the listing's key)."""
        return name

    def delete_many(self, keys: list[str]) -> None:
        """Delete the objects with exactly these keys, as the listing gave
        them (batched where the store allows). A key is never normalised: a
        normalised key may name another object."""
        for key in keys:
            self.storage.delete(key)
            self.requests["DELETE"] += 1

    def deletable(
        self, stale: Mapping[str, RemoteState], keep: Iterable[str]
    ) -> tuple[dict[str, str], dict[str, str]]:
        """Of the listed objects ``stale`` (by name), those that may go, as
        name -> key as listed, and those kept, as name -> why. An object is
        kept when the listing gave no key, or when its key is the one the
        storage writes a kept name under (Azure stores ``weird.`` as
        ``weird``): comparing names alone would delete a live file."""
        kept_keys = set()
        for name in keep:
            try:
                kept_keys.add(self.key(name))
            except (SuspiciousOperation, ValueError):
                continue  # the storage refuses the name: no object holds it
        doomed: dict[str, str] = {}
        spared: dict[str, str] = {}
        for name, state in stale.items():
            if state.key is None:
                spared[name] = "the listing gave no key to delete it by"
            elif state.key in kept_keys:
                spared[name] = "a file this deployment keeps is stored under its key"
            else:
                doomed[name] = state.key
        return doomed, spared

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

    def explain(self, exc: BaseException) -> Explanation | None:
        """The cause and fix of a permanent error, if known."""
        return None

    def close(self) -> None:  # noqa: B027  (optional hook)
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
                    reader = _HashingReader(source)
                    compress(reader, out)  # type: ignore[arg-type]
                else:
                    shutil.copyfileobj(source, out, fp.BLOCK)
        except BaseException:
            os.unlink(body)
            raise
        item = Prepared(file, body, 0, "", params=params, temporary=True)
        if compress is not None:
            item.encoded, item.source_md5 = True, reader.hexdigest()
    else:
        item = Prepared(file, file.path, 0, "", params=params)
    item.measure()
    item.tokens.add(item.md5)
    return item


class _HashingReader:
    """A source file whose bytes are hashed as a compressor reads them (from
    the start; a seek elsewhere makes the digest unknown)."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.digest: Any = hashlib.md5(usedforsecurity=False)

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        if self.digest is not None:
            self.digest.update(data)
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        if (offset, whence) == (0, 0):
            self.digest = hashlib.md5(usedforsecurity=False)
        else:
            self.digest = None
        return self.raw.seek(offset, whence)

    def tell(self) -> int:
        return self.raw.tell()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)

    def hexdigest(self) -> str:
        return self.digest.hexdigest() if self.digest is not None else ""


def spool_path(suffix: str = "") -> str:
    """A fresh temporary file path for a prepared body (the caller removes it)."""
    handle, path = tempfile.mkstemp(prefix=leftovers.prefix(leftovers.SPOOL), suffix=suffix)
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
