"""Single requests to the store outside the upload pool (the listing, our
records, deletes): retried on transient errors like an upload is, and a
failure told in one line."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from .apply import ApplyError, Retry, retrying
from .backends.base import Adapter
from .errors import RunFailed

Log = Callable[[str, int], None]
R = TypeVar("R")


class Calls:
    def __init__(self, adapter: Adapter, log: Log, max_attempts: int) -> None:
        self.adapter = adapter
        self.log = log
        self.retry = Retry(max_attempts=max_attempts)

    def retrying(self, call: Callable[[], R]) -> R:
        """``call()``, retried on transient errors like an upload is."""
        return retrying(call, self.adapter.is_transient, self.retry,
                        lambda exc, attempt: self.log("Retrying after: %s" % exc, 2))

    def __call__(self, what: str, call: Callable[[], R]) -> R:
        """``call()`` retried; a failure raised as one line saying ``what`` failed."""
        try:
            return self.retrying(call)
        except Exception as exc:  # noqa: BLE001 - reported as one clear line
            raise self.failure(what, exc) from exc

    def upload_failure(self, exc: ApplyError) -> RunFailed:
        """Failed uploads in one line, with the fix where it is known."""
        known = self.adapter.explain(exc.failures[0][1])
        if known is None:
            return RunFailed(str(exc))
        return RunFailed("%s Fix: %s." % (exc.summary(known.cause), known.fix))

    def failure(self, what: str, exc: BaseException) -> RunFailed:
        """One line naming what failed, the cause and, where known, the fix
        (the client's own text then only with -v 3, in the traceback)."""
        known = self.adapter.explain(exc)
        if known is not None:
            return RunFailed(known.line(what, exc))
        cause = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return RunFailed("%s failed: %s" % (what, cause))
