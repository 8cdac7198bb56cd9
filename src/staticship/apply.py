"""Step 6: apply the plan. Concurrent transfers, bounded retries with
exponential backoff and jitter, fail fast on a permanent error, and the
``last`` group (a manifest) only after everything else succeeded."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Generic, TypeVar

from .errors import StaticshipError

T = TypeVar("T")
R = TypeVar("R")


class ApplyError(StaticshipError):
    """Some transfers failed; ``failures`` holds (item label, exception)."""

    def __init__(self, failures: list[tuple[str, BaseException]], done: int, total: int) -> None:
        self.failures = failures
        self.done = done
        self.total = total
        super().__init__(self.summary(str(failures[0][1])))

    def summary(self, cause: str) -> str:
        """The message, with ``cause`` saying why the first upload failed."""
        more = len(self.failures) - 1
        return (
            "Uploading '%s' failed: %s%s. %d of %d uploads completed; nothing that "
            "depends on the failed files was published."
            % (self.failures[0][0], cause, " (and %d more failures)" % more if more else "",
               self.done, self.total)
        )


class _Stopped(Exception):
    pass


@dataclass
class Retry:
    max_attempts: int = 5
    base_delay: float = 0.2
    max_delay: float = 5.0

    def delay(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(max_delay, base * 2**attempt)]."""
        return random.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))


def retrying(
    call: Callable[[], R],
    is_transient: Callable[[BaseException], bool],
    retry: Retry,
    on_retry: Callable[[BaseException, int], None] = lambda exc, attempt: None,
) -> R:
    """``call()``, tried again after a backoff while it fails transiently,
    at most ``retry.max_attempts`` times in all."""
    attempt = 0
    while True:
        try:
            return call()
        except Exception as exc:
            attempt += 1
            if attempt >= retry.max_attempts or not is_transient(exc):
                raise
            on_retry(exc, attempt)
            time.sleep(retry.delay(attempt))


class Limiter:
    """Adaptive concurrency: halves the number of transfers allowed at once on
    each transient error (throttling, 5xx), and grows it back by one after as
    many successes as the current limit (additive increase, multiplicative
    decrease)."""

    def __init__(self, limit: int) -> None:
        self.ceiling = max(1, limit)
        self.limit = self.ceiling
        self.active = 0
        self._successes = 0
        self._cond = threading.Condition()

    def acquire(self) -> None:
        with self._cond:
            while self.active >= self.limit:
                self._cond.wait()
            self.active += 1

    def release(self, ok: bool) -> None:
        with self._cond:
            self.active -= 1
            if ok:
                self._successes += 1
                if self._successes >= self.limit and self.limit < self.ceiling:
                    self.limit += 1
                    self._successes = 0
            self._cond.notify_all()

    def back_off(self) -> None:
        with self._cond:
            self.limit = max(1, self.limit // 2)
            self._successes = 0


class Transfers(Generic[T]):
    """Runs ``work(item)`` for many items on a thread pool."""

    def __init__(
        self,
        work: Callable[[T], object],
        label: Callable[[T], str],
        *,
        workers: int,
        is_transient: Callable[[BaseException], bool],
        retry: Retry | None = None,
        on_done: Callable[[T, object], None] = lambda item, result: None,
        on_retry: Callable[[T, BaseException, int], None] = lambda item, exc, attempt: None,
    ) -> None:
        self.work = work
        self.label = label
        self.workers = max(1, workers)
        self.is_transient = is_transient
        self.retry = retry or Retry()
        self.on_done = on_done
        self.on_retry = on_retry
        self._stop = threading.Event()
        self.limiter = Limiter(self.workers)

    def _one(self, item: T) -> object:
        def attempt() -> object:
            if self._stop.is_set():
                raise _Stopped()
            self.limiter.acquire()
            try:
                result = self.work(item)
            except Exception:
                self.limiter.release(ok=False)
                raise
            self.limiter.release(ok=True)
            return result

        def again(exc: BaseException, attempt: int) -> None:
            self.limiter.back_off()
            self.on_retry(item, exc, attempt)

        def transient(exc: BaseException) -> bool:
            return not isinstance(exc, _Stopped) and self.is_transient(exc)

        result = retrying(attempt, transient, self.retry, again)
        self.on_done(item, result)
        return result

    def run(self, items: Sequence[T], last: Sequence[T] = ()) -> dict[int, object]:
        """Transfer ``items`` concurrently, then ``last`` (only if all of
        ``items`` succeeded). Returns {index in items + last: result}."""
        results: dict[int, object] = {}
        total = len(items) + len(last)
        for offset, group in ((0, items), (len(items), last)):
            if not group:
                continue
            failures: list[tuple[str, BaseException]] = []
            with ThreadPoolExecutor(self.workers, thread_name_prefix="staticship") as pool:
                try:
                    futures: dict[Future[object], tuple[int, T]] = {
                        pool.submit(self._one, item): (offset + index, item)
                        for index, item in enumerate(group)
                    }
                    pending = set(futures)
                    while pending:
                        done, pending = wait(pending, return_when=FIRST_EXCEPTION)
                        for future in done:
                            index, item = futures[future]
                            exc = future.exception()
                            if exc is None:
                                results[index] = future.result()
                            elif not isinstance(exc, _Stopped):
                                self._stop.set()
                                failures.append((self.label(item), exc))
                except BaseException:  # Ctrl-C: abandon what has not started
                    self._stop.set()
                    pool.shutdown(wait=True, cancel_futures=True)
                    raise
            if failures:
                raise ApplyError(failures, len(results), total)
        return results
