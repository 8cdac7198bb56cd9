"""Errors of the object stores, shared by the backends: the transfer error
and its classification (transient or not, by status and error codes where the
clients give them), the one-line explanation of permanent errors, and the
texts the clients' errors are read from."""

from __future__ import annotations

import errno
import re
from collections.abc import Iterator
from dataclasses import dataclass

from ..errors import StaticshipError

#: HTTP statuses worth retrying: timeouts, throttling, server errors.
TRANSIENT_STATUS = (408, 429, 500, 502, 503, 504)
#: OS error numbers of a connection that broke or timed out (worth retrying).
LOST_ERRNOS = frozenset({errno.ECONNRESET, errno.ECONNABORTED, errno.EPIPE, errno.ETIMEDOUT})
#: obstore's HTTP error kinds (its debug text: ``HttpError { kind: ... }``)
#: of a request that never got an answer (worth retrying).
LOST_KINDS = frozenset({"Timeout", "Interrupted", "Request", "Connect", "Decode"})


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


def causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and the errors behind it: Python's chain, azure-core's
    ``inner_exception`` and urllib3's ``reason``."""
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return
        yield seen
        behind = seen.__cause__ or seen.__context__ or getattr(seen, "inner_exception", None) \
            or getattr(seen, "reason", None)
        seen = behind if isinstance(behind, BaseException) else None


@dataclass(frozen=True)
class Failure:
    """What the clients tell of an error, as codes: the HTTP status, the
    store's error code and the OS error numbers along its chain. boto3,
    google-cloud-storage, azure-core and requests give them as attributes;
    obstore only in its debug text, from which they are parsed (its
    ``status: 403``, ``<Code>...</Code>``, ``Os { code: 111 }`` and
    ``HttpError { kind: ... }``)."""

    status: int | None
    code: str
    errnos: frozenset[int]
    kinds: frozenset[str]

    @classmethod
    def of(cls, exc: BaseException) -> Failure:
        status, code, errnos = None, "", set()
        for error in causes(exc):
            if isinstance(error, OSError):
                number = error.errno or next(
                    (n for kind, n in _ERRNO_OF.items() if isinstance(error, kind)), 0)
                if number:
                    errnos.add(number)
            status = status or _status_of(error)
            code = code or _code_of(error)
        text = error_text(exc)
        if status is None:
            found = re.search(r"\bstatus(?: code)?: (\d{3})\b", text)
            status = int(found.group(1)) if found else None
        if not code:
            found = re.search(r"<Code>(\w+)</Code>|ErrorCode:\s*(\w+)", text)
            code = (found.group(1) or found.group(2)) if found else ""
        errnos.update(int(n) for n in re.findall(r"Os \{\s*code: (\d+)", text))
        kinds = frozenset(re.findall(r"HttpError \{\s*kind: (\w+)", text))
        return cls(status, code, frozenset(errnos), kinds)

    @property
    def refused(self) -> bool:
        """Nothing listens at the endpoint: a wrong endpoint or a stopped
        server, which retrying would only wait for."""
        return errno.ECONNREFUSED in self.errnos

    @property
    def unreachable(self) -> bool:
        """No answer came at all (refused, unresolvable, broken, timed out)."""
        return self.status is None and bool(self.errnos or self.kinds)

    @property
    def lost(self) -> bool:
        """The connection broke or timed out before an answer: worth retrying."""
        return self.status is None and not self.refused and bool(
            self.errnos & LOST_ERRNOS or self.kinds & LOST_KINDS)


#: Python's connection errors, for clients that raise them without an errno
#: (http.client's RemoteDisconnected, socket timeouts).
_ERRNO_OF: dict[type[OSError], int] = {
    ConnectionRefusedError: errno.ECONNREFUSED,
    ConnectionResetError: errno.ECONNRESET,
    ConnectionAbortedError: errno.ECONNABORTED,
    BrokenPipeError: errno.EPIPE,
    TimeoutError: errno.ETIMEDOUT,
}


def _status_of(error: BaseException) -> int | None:
    """The HTTP status an SDK error carries: boto3's response metadata,
    azure-core's ``status_code``, google-api-core's ``code``, requests'
    response."""
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        value = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    else:
        value = getattr(error, "status_code", None) or getattr(response, "status_code", None)
        if value is None and not isinstance(error, OSError):
            value = getattr(error, "code", None)
    return value if isinstance(value, int) and 100 <= value < 600 else None


def _code_of(error: BaseException) -> str:
    """The store's own error code: boto3's ``Error.Code``, azure-core's
    ``error_code``."""
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code") or "")
    return str(getattr(error, "error_code", None) or "")


def refused(exc: BaseException) -> bool:
    """True when nothing listens at the endpoint (see ``Failure.refused``)."""
    return Failure.of(exc).refused


def first_line(exc: BaseException) -> str:
    """The first line of an error's message (obstore's errors carry a
    multi-line debug dump)."""
    return (str(exc).strip().splitlines() or [""])[0]


def classify(
    exc: BaseException, key: str, noun: str, text: str, *, also: bool = False,
    codes: tuple[str, ...] = (), permanent: tuple[int, ...] = (),
) -> TransferError:
    """``exc`` as one line (``text``) naming the object (``noun`` ``key``),
    transient when its HTTP status is one worth retrying, its error code is
    one of the store's ``codes`` for "slow down" or "try again", the backend
    found a reason of its own (``also``), or the connection broke or timed
    out before an answer; never for a status in ``permanent`` or a refused
    connection (a wrong endpoint: retrying only spends seconds). Decided by
    ``Failure``'s codes, never by words in the message."""
    failure = Failure.of(exc)
    transient = (failure.status in TRANSIENT_STATUS or failure.code in codes or also
                 or failure.lost)
    if failure.status in permanent or failure.refused:
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
