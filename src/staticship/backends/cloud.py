"""What the S3, GCS and Azure adapters share: the upload wrapper that turns
a client's error into a ``TransferError``, the fast writer (see ``fast``),
the location prefix and the description of where files go; batches and
listing times."""

from __future__ import annotations

import copy
import threading
from abc import abstractmethod
from collections.abc import Callable
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from typing import Any, ClassVar, TypeVar

from django.core.files.storage import Storage

from ..sources import LocalFile
from .base import Adapter, Prepared, overrides
from .errors import Conflict, Explanation, TransferError
from .fast import Off, unavailable
from .guess import type_key

T = TypeVar("T")


class CloudAdapter(Adapter):
    conditional_writes = True
    #: How messages name the store's container ("S3 bucket", ...).
    where: ClassVar[str] = ""
    #: What the store calls a container ("bucket", "container").
    noun: ClassVar[str] = "bucket"
    #: The Python client that writes what obstore does not ("boto3", ...).
    client_name: ClassVar[str] = ""
    #: Storage methods besides ``_save`` that, when a subclass replaces
    #: them, make every upload go through the storage's ``_save``.
    writes_own_way: ClassVar[tuple[str, ...]] = ()
    #: The storage methods an object's write parameters come from (its key
    #: included): while the storage's class keeps django-storages' own, the
    #: parameters depend on a name only through its extension (``guess``).
    parameter_methods: ClassVar[tuple[str, ...]] = ()
    #: The writer of the fast path, when the storage allows one.
    _fast: Any = None

    def __init__(self, storage: Storage, *, workers: int, fast_transfer: bool = True) -> None:
        super().__init__(storage, workers=workers)
        self.fast_transfer = fast_transfer  # STATICSHIP_FAST_TRANSFER
        # The key of a one-letter name, less the letter: the location.
        self.prefix: str = self.key("x")[:-1]
        #: Why the fast path is off for the whole run (None: it is on).
        self.fast_off: Off | None = None
        #: Why some objects went the slow way, by reason; how many did.
        self.fallbacks: dict[str, Off] = {}
        self.slow_uploads = 0
        self._slow_lock = threading.Lock()
        self._by_extension: bool | None = None

    def fast_writer(self, make: Any) -> None:
        """Use the writer ``make(storage, workers, serves)`` builds, if the
        fast path is on (STATICSHIP_FAST_TRANSFER) and it builds one; else
        keep why not (``fast_off``)."""
        if not self.fast_transfer:
            self.fast_off = Off("STATICSHIP_FAST_TRANSFER is False",
                                "set STATICSHIP_FAST_TRANSFER = True (or remove it)")
            return
        made = make(self.storage, self.workers, self.serves)
        if isinstance(made, Off):
            self.fast_off = made
        else:
            self._fast = made

    @classmethod
    def blocked(cls, storage: Storage) -> Off | None:
        """Why obstore cannot write for ``storage``, as far as its settings
        tell without building a client or making a request (the system check)."""
        return unavailable(storage, cls.serves, *cls.writes_own_way)

    def went_slow(self, off: Off | None = None) -> None:
        """One object was written without obstore; ``off`` says why, when the
        fast path is on but cannot write this object."""
        with self._slow_lock:
            self.slow_uploads += 1
            if off is not None:
                self.fallbacks.setdefault(off.reason, off)

    def own_save(self) -> bool:
        """True when the storage's class writes its own way: uploads must go
        through its ``_save``."""
        return any(overrides(self.storage, self.serves, name)
                   for name in ("_save", *self.writes_own_way))

    def slow_via(self) -> str:
        """What writes the objects obstore does not: the storage's ``_save``
        or the Python client."""
        if self.own_save():
            return "%s._save" % type(self.storage).__qualname__
        return self.client_name

    def fast_path(self) -> dict[str, Any]:
        """The report's ``fast_path``: whether obstore was on, and why (some)
        uploads went another way, with the fix."""
        offs = [self.fast_off] if self.fast_off is not None else list(self.fallbacks.values())
        return {
            "used": self.fast_off is None,
            "reason": "; ".join(o.reason for o in offs) or None,
            "fix": "; ".join(o.fix for o in offs) or None,
            "via": self.slow_via() if offs else None,
            "slow_uploads": self.slow_uploads,
        }

    @property
    @abstractmethod
    def container(self) -> str:
        """The bucket or container name."""

    def named(self) -> str:
        return "%s '%s'" % (self.noun, self.container)

    def missing(self, fix: str, cause: str = "the %s does not exist") -> Explanation:
        """The explanation of a container that does not exist."""
        return Explanation(cause % self.named(), "create it, or correct %s" % fix)

    def denied(self, fix: str) -> Explanation:
        """The explanation of access denied on the container."""
        return Explanation("access denied on %s" % self.named(), fix)

    def describe(self) -> str:
        return "%s '%s' under '%s'" % (self.where, self.container, self.prefix or "/")

    def upload(self, item: Prepared) -> str | None:
        return self._classified(self.write, item)

    def _classified(self, call: Callable[[str, Prepared], str | None], item: Prepared) -> str | None:
        """``call(key, item)``, a client's error raised as a ``TransferError``."""
        key = self.key(item.file.name)
        try:
            return call(key, item)
        except TransferError:
            raise
        except Exception as exc:  # noqa: BLE001 - classified and re-raised
            raise self._classify(exc, key) from exc

    @abstractmethod
    def write(self, key: str, item: Prepared) -> str | None:
        """Write ``item`` at ``key``; its new listing token, if the store said."""

    # -- headers that follow the settings (see ``headers``) ------------------
    tracks_writes = True

    def probe(self, item: Prepared) -> bool:
        key = self.key(item.file.name)
        try:
            return self.inspect(key, item)
        except Exception as exc:  # noqa: BLE001 - a look that fails permanently proves nothing
            error = exc if isinstance(exc, TransferError) else self._classify(exc, key)
            if error.transient:
                raise error from exc
            return False

    def update(self, item: Prepared) -> str | None:
        return self._classified(self.rewrite, item)

    def inspect(self, key: str, item: Prepared) -> bool:
        """``probe`` at ``key`` (errors are classified by the caller)."""
        return False

    def rewrite(self, key: str, item: Prepared) -> str | None:
        """``update`` at ``key`` (errors are classified by the caller)."""
        raise NotImplementedError

    def expected_token(self, item: Prepared) -> str | None:
        return item.md5

    def options_key(self, name: str) -> object | None:
        if self._by_extension is None:  # a method set on the instance counts too
            self._by_extension = not any(
                overrides(self.storage, self.serves, m) or m in vars(self.storage)
                for m in self.parameter_methods)
        return type_key(name) if self._by_extension else None

    def read_small(self, name: str) -> bytes | None:
        return self.read_versioned(name)[0]

    def write_record(self, key: str, write: Callable[[], object], expect: str | None,
                     refusals: tuple[type[BaseException], ...]) -> None:
        """``write()`` one record of ours at ``key``; with ``expect``, one of
        the client's ``refusals`` means the record changed since it was read."""
        try:
            write()
        except refusals as exc:
            if expect is None:
                raise self._classify(exc, key) from exc
            raise Conflict("%s changed since it was read" % key) from exc
        except Exception as exc:  # noqa: BLE001
            raise self._classify(exc, key) from exc

    def close(self) -> None:
        self._fast = None


class GzipCloudAdapter(CloudAdapter):
    """S3 and GCS: keys by the storage's ``_normalize_name``, and a body the
    storage may gzip (``write_parameters`` says)."""

    def __init__(self, storage: Storage, *, workers: int, fast_transfer: bool = True) -> None:
        super().__init__(storage, workers=workers, fast_transfer=fast_transfer)
        self.bucket_name: str = storage.bucket_name
        self._parameters: dict[object, tuple[dict[str, Any], bool]] = {}

    @property
    def container(self) -> str:
        return self.bucket_name

    def key(self, name: str) -> str:
        from storages.utils import clean_name

        return str(self.storage._normalize_name(clean_name(name)))

    def write_parameters(self, name: str) -> tuple[dict[str, Any], bool]:
        """What the storage writes for ``name`` besides the bytes, and whether
        it gzips them: worked out once per ``options_key`` (a copy each time)."""
        key = self.options_key(name)
        if key is None:
            return self._write_parameters(name)
        known = self._parameters.get(key)
        if known is None:
            known = self._parameters[key] = self._write_parameters(name)
        return copy.deepcopy(known[0]), known[1]

    @abstractmethod
    def _write_parameters(self, name: str) -> tuple[dict[str, Any], bool]:
        """``write_parameters``, worked out."""

    def write_options(self, name: str) -> Any:
        return self.write_parameters(name)

    def hashes_source(self, file: LocalFile) -> bool:
        if not getattr(self.storage, "gzip", False):
            return bool(file.path)
        return bool(file.path) and not self.write_parameters(file.name)[1]


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
