"""The proxy's shared state: the request log and the fault settings.

Fault decisions are taken when a request arrives, under one lock, so they are
well defined under concurrency:

* ``throttle_burst``: the next K requests get ``throttle_status`` (503 SlowDown).
* ``fail_writes_after``: the first N write requests admitted after the setting
  pass; every later write gets ``fail_status``.
* ``transient_rate``: request number i (counted from the last reset or faults
  call) fails with ``transient_status`` when ``hash(seed, i)`` falls under the
  rate: the same sequence of requests fails at the same places on every run.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import asdict, dataclass, fields
from typing import Any, NamedTuple

from .errors import FAIL_WRITES, THROTTLE, TRANSIENT


@dataclass
class Faults:
    fail_writes_after: int | None = None
    fail_status: int = 503
    transient_rate: float = 0.0
    transient_status: int = 503
    seed: int = 0
    throttle_burst: int = 0
    throttle_status: int = 503
    opaque_etags: bool = False
    latency_ms: float = 0.0
    plain_gcs: bool = False  # GCS: forward XML-API PUTs unadapted, as to a plain fake-gcs-server
    # With fail_writes_after: the error code and message of the failures, to
    # reproduce a real store's refusal (e.g. AccessControlListNotSupported).
    fail_code: str = ""
    fail_message: str = ""


_FAULT_FIELDS = {f.name for f in fields(Faults)}


class Decision(NamedTuple):
    entry: dict[str, Any]
    fault: str | None
    status: int
    latency_s: float
    opaque_etags: bool
    plain_gcs: bool
    error: tuple[str, str] = ("", "")


class ControlState:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._log: list[dict[str, Any]] = []
        self._faults = Faults()
        self._sequence = 0
        self._writes_admitted = 0

    # -- control API ---------------------------------------------------------
    def requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(entry) for entry in self._log]

    def reset(self) -> None:
        with self._lock:
            self._log.clear()
            self._faults = Faults()
            self._sequence = 0
            self._writes_admitted = 0

    def faults(self) -> dict[str, Any]:
        with self._lock:
            return asdict(self._faults)

    def set_faults(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Merge ``changes`` into the settings (``null`` restores a default)."""
        unknown = set(changes) - set(_FAULT_FIELDS)
        if unknown:
            raise ValueError(f"unknown fault settings: {sorted(unknown)}")
        defaults = Faults()
        parsed = {
            name: getattr(defaults, name) if value is None else _coerce(name, value)
            for name, value in changes.items()
        }
        with self._lock:
            for name, value in parsed.items():
                setattr(self._faults, name, value)
            if "fail_writes_after" in parsed:
                self._writes_admitted = 0
            if parsed.keys() & {"transient_rate", "seed"}:
                self._sequence = 0
            return asdict(self._faults)

    # -- per request ---------------------------------------------------------
    def admit(self, method: str, path: str, query: str, op: str, write: bool) -> Decision:
        """Log a request and decide whether it is let through or faulted."""
        entry: dict[str, Any] = {
            "method": method,
            "path": path,
            "query": query,
            "op": op,
            "status": None,
            "bytes_in": 0,
            "fault": None,
        }
        with self._lock:
            self._log.append(entry)
            f = self._faults
            index = self._sequence
            self._sequence += 1
            fault: str | None = None
            status = 0
            if f.throttle_burst > 0:
                f.throttle_burst -= 1
                fault, status = THROTTLE, f.throttle_status
            elif write and f.fail_writes_after is not None and self._writes_admitted >= f.fail_writes_after:
                fault, status = FAIL_WRITES, f.fail_status
            elif f.transient_rate > 0 and _draw(f.seed, index) < f.transient_rate:
                fault, status = TRANSIENT, f.transient_status
            elif write:
                self._writes_admitted += 1
            entry["fault"] = fault
            error = (f.fail_code, f.fail_message) if fault == FAIL_WRITES else ("", "")
            return Decision(entry, fault, status, f.latency_ms / 1000.0, f.opaque_etags,
                            f.plain_gcs, error)

    def finish(self, entry: dict[str, Any], status: int, bytes_in: int) -> None:
        with self._lock:
            entry["status"] = status
            entry["bytes_in"] = bytes_in


def _draw(seed: int, index: int) -> float:
    digest = hashlib.sha256(f"{seed}:{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


_FLOATS = {"transient_rate", "latency_ms"}
_BOOLS = {"opaque_etags", "plain_gcs"}
_STATUSES = {"fail_status", "transient_status", "throttle_status"}
_STRINGS = {"fail_code", "fail_message"}


def _coerce(name: str, value: Any) -> Any:
    if name in _STRINGS:
        if not isinstance(value, str):
            raise ValueError(f"{name}: expected a string, got {value!r}")
        return value
    if name in _BOOLS:
        if not isinstance(value, bool):
            raise ValueError(f"{name}: expected true or false, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name}: expected a number, got {value!r}")
    if name in _FLOATS:
        number = float(value)
        if number < 0 or (name == "transient_rate" and number > 1):
            raise ValueError(f"{name} out of range: {value!r}")
        return number
    if not isinstance(value, int) or value < 0:
        raise ValueError(f"{name}: expected a non-negative integer, got {value!r}")
    if name in _STATUSES and not 400 <= value <= 599:
        raise ValueError(f"{name}: expected an HTTP error status, got {value}")
    return value
