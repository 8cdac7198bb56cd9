"""The fast path the cloud backends share: obstore (Rust) writes the object
in one request when it comes out exactly as the storage's own write would.
Each backend's writer says which objects it can write (``can_write``) and how
its store is configured; the rest is here."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from django.core.files.storage import Storage

from .base import Prepared, overrides

# Bodies up to this size go through obstore in one request (held in memory).
FAST_MAX_SIZE = 64 * 1024 * 1024


@dataclass(frozen=True)
class Off:
    """Why uploads (all of a run's, or some objects') do not go through
    obstore, and what to change so that they do."""

    reason: str
    fix: str


def unavailable(storage: Storage, serves: str, *attributes: str) -> Off | None:
    """Why obstore cannot write for ``storage``: it cannot be imported, or the
    storage's class replaces ``_save`` or one of ``attributes`` of the class
    at ``serves`` (it writes its own way); None when nothing stops it."""
    try:
        import obstore  # noqa: F401
    except ImportError as exc:
        return Off("obstore cannot be imported (%s)" % exc, "pip install obstore")
    return own_way(storage, serves, *attributes)


def own_way(storage: Storage, serves: str, *attributes: str) -> Off | None:
    """Why no client of ours can write for ``storage``: its class replaces
    ``_save`` or one of ``attributes`` of the class at ``serves``."""
    for name in ("_save", *attributes):
        if overrides(storage, serves, name):
            return Off(
                "%s overrides %s, so staticship writes through it" % (type(storage).__qualname__,
                                                                     name),
                "none if that override must run; if it only sets object parameters or headers, "
                "move them into the storage's settings and remove the override")
    return None


def client_options(workers: int, endpoint: str = "", *, timeout: str = "300s",
                   connect_timeout: str = "60s") -> dict[str, Any]:
    """obstore's HTTP client options: one idle connection kept per worker, a
    time limit on the whole request (obstore has no per-read timeout), and
    plain HTTP when the endpoint asks for it (emulators)."""
    options: dict[str, Any] = {
        "pool_max_idle_per_host": str(max(workers, 10)),
        "timeout": timeout,
        "connect_timeout": connect_timeout,
    }
    if endpoint.startswith("http://"):
        options["allow_http"] = True
    return options


class ObstoreWriter:
    """Base of the backends' writers: stores built once (per distinct key,
    for S3's per-request headers), under a lock."""

    def __init__(self) -> None:
        self._stores: dict[Hashable, Any] = {}
        self._lock = threading.Lock()

    @classmethod
    def for_storage(cls, storage: Any, workers: int, serves: str) -> ObstoreWriter | Off:
        """A writer for ``storage``, or why there is none (``blocked``: what
        its settings tell; ``build``: what building the writer finds)."""
        off = cls.blocked(storage, serves)
        return off if off is not None else cls.build(storage, workers)

    @staticmethod
    def blocked(storage: Any, serves: str) -> Off | None:
        return unavailable(storage, serves)

    @classmethod
    def build(cls, storage: Any, workers: int) -> ObstoreWriter | Off:
        raise NotImplementedError

    def cached(self, key: Hashable, make: Callable[[], Any]) -> Any:
        with self._lock:
            store = self._stores.get(key)
            if store is None:
                store = self._stores[key] = make()
            return store

    def can_write(self, item: Prepared) -> bool:
        """True when obstore writes ``item`` exactly as the storage would."""
        return item.size <= FAST_MAX_SIZE

    def put_whole(self, store: Any, key: str, item: Prepared, attributes: dict[str, str],
                  **extra: Any) -> Any:
        """``item`` in one request (its body held in memory)."""
        import obstore

        with item.body() as body:
            return obstore.put(store, key, body.read(), attributes=attributes, use_multipart=False,
                               **extra)
