"""Step 4: fingerprint the local files against the listing (``Adapter.prepare``
on a small pool), and hash ahead on side threads while the listing waits."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from . import fingerprint as fp
from .backends.base import Adapter, Prepared
from .errors import RunFailed
from .plan import RemoteState
from .sources import LocalFile


def prepare_all(
    adapter: Adapter, files: Mapping[str, LocalFile], remote: Mapping[str, RemoteState]
) -> dict[str, Prepared]:
    """Each file prepared; on any failure, every spooled body is discarded
    and the first error raised."""
    def one(file: LocalFile) -> Prepared:
        try:
            return adapter.prepare(file, remote.get(file.name))
        except OSError as exc:
            raise RunFailed(
                "Cannot read '%s' (%s): %s. Nothing was uploaded."
                % (file.name, file.path or file.source_name, exc.strerror or exc)
            ) from exc

    with ThreadPoolExecutor(min(fp.hashers(), max(1, adapter.workers))) as pool:
        futures = {name: pool.submit(one, file) for name, file in files.items()}
    prepared: dict[str, Prepared] = {}
    failed: BaseException | None = None
    for name, future in futures.items():
        try:
            prepared[name] = future.result()
        except BaseException as exc:  # noqa: BLE001 - the first one is raised below
            failed = failed or exc
    if failed is not None:
        for item in prepared.values():  # no spooled body outlives a failed run
            item.discard()
        raise failed
    return prepared


@contextmanager
def hashing_ahead(paths: Iterable[str | None]) -> Iterator[None]:
    """Hash the files at ``paths`` on two side threads while the body of the
    ``with`` runs (the listing, which mostly waits for the network), filling
    the fingerprint memo. The threads stop when the body ends; what they did
    not reach, or could not read, is left to the hash phase. ``paths`` is
    consumed on the threads, so a generator deciding which files to hash
    runs off the caller's path."""
    queue = iter(paths)
    lock = threading.Lock()
    stop = threading.Event()

    def work() -> None:
        while not stop.is_set():
            with lock:
                try:
                    path = next(queue, _DONE)
                except Exception:  # noqa: BLE001 - the hash phase meets it again and reports it
                    return
            if path is _DONE:
                return
            if isinstance(path, str) and path:
                try:
                    fp.md5_of_path(path)
                except OSError:
                    pass

    threads = [threading.Thread(target=work, name="staticship-hash", daemon=True) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join()


_DONE = object()
