"""Errors of the object stores, shared by the backends: the transfer error
and its classification (transient or not, by status and error codes where the
clients give them), the one-line explanation of permanent errors, and the
texts the clients' errors are read from."""

from __future__ import annotations

from dataclasses import dataclass
import re
from typing import Any

from ..errors import StaticshipError

#: HTTP statuses worth retrying: timeouts, throttling, server errors.
TRANSIENT_STATUS = (408, 429, 500, 502, 503, 504)
#: Texts of connection-level failures (no status at all) worth retrying.
TRANSIENT_TEXTS = ("timed out", "Connection reset", "Connection aborted", "error sending request",
                   "Service Unavailable", "503", "500 Internal")


class TransferError(StaticshipError):
    """A transfer failed. ``transient`` errors may succeed when retried;
    ``key`` names the object, when there is one."""

    def __init__(self, message: str, *, transient: bool = False, key: str = "") -> None:
        super().__init__(message)
        self.transient = transient
        self.key = key


@dataclass(frozen=True)
class Explanation:
    """A permanent error as the user should read it: the cause in a few
    words, and the fix naming the setting as the user wrote it. The client's
    own text is left to ``-v 3`` (its traceback)."""

    cause: str
    fix: str

    def line(self, what: str, exc: BaseException | None = None) -> str:
        key = getattr(exc, "key", "")
        where = " (%s)" % key if key else ""
        return "%s failed: %s%s. Fix: %s." % (what, self.cause, where, self.fix)


def configured_as(option: str, *names: str) -> str:
    """How the user set the storage option ``option``: its key in
    ``STORAGES["staticfiles"]["OPTIONS"]`` when given there, else the first
    of the settings ``names`` the project sets, else all of them."""
    from django.conf import settings

    options = (getattr(settings, "STORAGES", {}).get("staticfiles") or {}).get("OPTIONS") or {}
    if option in options:
        return 'STORAGES["staticfiles"]["OPTIONS"]["%s"]' % option
    for name in names:
        if hasattr(settings, name):
            return name
    return " or ".join(['the "%s" option' % option, *names])


class Conflict(TransferError):
    """A conditional write was refused: the object changed (was written,
    created or removed) since it was read, by another run."""


def error_text(exc: BaseException) -> str:
    """The text of ``exc`` and of the errors that caused it (a TransferError
    carries the client's own error as its cause)."""
    parts: list[str] = []
    seen: BaseException | None = exc
    while seen is not None and len(parts) < 5:
        parts.append(str(seen))
        seen = seen.__cause__ or seen.__context__
    return "\n".join(parts)


def refused(exc: BaseException) -> bool:
    """True when nothing listens at the endpoint (connection refused): a
    wrong endpoint or a stopped server, which retrying would only wait for."""
    text = error_text(exc)
    return "Connection refused" in text or "os error 111" in text or "Errno 111" in text


def first_line(exc: BaseException) -> str:
    """The first line of an error's message (obstore's errors carry a
    multi-line debug dump)."""
    return (str(exc).strip().splitlines() or [""])[0]


def classify(
    exc: BaseException, key: str, noun: str, text: str, *, status: Any = None, also: bool = False,
    markers: tuple[str, ...] = (), permanent: tuple[int, ...] = (),
) -> TransferError:
    """``exc`` as one line (``text``) naming the object (``noun`` ``key``),
    transient when its HTTP status is one worth retrying, the backend found
    a reason of its own (``also``: its error code), or its text shows a
    connection-level failure (or one of ``markers``); never for a status in
    ``permanent`` or a refused connection (a wrong endpoint: retrying only
    spends seconds)."""
    transient = (status in TRANSIENT_STATUS or also
                 or any(m in text for m in TRANSIENT_TEXTS + markers))
    if status in permanent or refused(exc):
        transient = False
    return TransferError("%s (%s %s)" % (text, noun, key) if key else text, transient=transient, key=key)


def batch_failure(failed: list[tuple[str, int, str]], noun: str) -> TransferError:
    """One error for the deletes of a batch that failed, as (key, status,
    text): the first named, transient only if every status is."""
    key, status, text = failed[0]
    more = " (%d more failed)" % (len(failed) - 1) if len(failed) > 1 else ""
    transient = all(code in TRANSIENT_STATUS for _, code, _ in failed)
    return TransferError("HTTP %d: %s (%s %s)%s" % (status, text, noun, key, more), transient=transient)


def one_line(exc: BaseException) -> str:
    """One line for an SDK or obstore error: the HTTP status and the store's
    error code when known (as attributes, or in the text), then the first
    line of the message."""
    full = str(exc).strip()
    first = first_line(exc)
    status = getattr(exc, "status_code", None)
    code = getattr(exc, "error_code", None)
    if code is None:
        found = re.search(r"ErrorCode:\s*(\w+)|<Code>(\w+)</Code>", full)
        code = found and (found.group(1) or found.group(2))
    if status is None:
        found = re.search(r"status code: (\d{3})|status: (\d{3})", full)
        status = found and (found.group(1) or found.group(2))
    head = " ".join(p for p in ("HTTP %s" % status if status else "", str(code or "")) if p)
    return "%s: %s" % (head or type(exc).__name__, first)
