"""Client for the test bed's control API, for tests. Usage:

from testbed.client import from_env
s3 = from_env("s3")          # reads STATICSHIP_TEST_S3_CONTROL
s3.reset()
...                          # run the code under test against STATICSHIP_TEST_S3_ENDPOINT
assert s3.counts()["PutObject"] == 3
s3.faults(fail_writes_after=2, fail_status=403)
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections import Counter
from typing import Any

from . import SERVICES

# Never route loopback control calls through an HTTP proxy from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Control:
    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"Control({self.base_url!r})"

    def requests(self, op: str | None = None) -> list[dict[str, Any]]:
        """Logged requests since the last reset, in arrival order (optionally one op only)."""
        entries: list[dict[str, Any]] = self._call("GET", "requests")
        return entries if op is None else [e for e in entries if e["op"] == op]

    def counts(self) -> Counter[str]:
        return Counter(entry["op"] for entry in self.requests())

    def reset(self) -> None:
        """Clear the request log and every fault."""
        self._call("POST", "reset", {})

    def faults(self, **settings: Any) -> dict[str, Any]:
        """Merge fault settings (None restores a default); returns the settings in force."""
        result: dict[str, Any] = self._call("POST", "faults", settings)
        return result

    def current_faults(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "faults")
        return result

    def healthy(self) -> bool:
        try:
            return bool(self._call("GET", "health").get("ok"))
        except OSError:
            return False

    def _call(self, method: str, action: str, payload: dict[str, Any] | None = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(f"{self.base_url}/{action}", data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        with _OPENER.open(request, timeout=self.timeout) as response:
            return json.loads(response.read() or b"null")


def _var(service: str, what: str) -> str:
    if service not in SERVICES:
        raise ValueError(f"unknown service {service!r}; expected one of {SERVICES}")
    return f"STATICSHIP_TEST_{service.upper()}_{what}"


def available(service: str) -> bool:
    """Whether the test bed runs ``service`` for this process."""
    return bool(os.environ.get(_var(service, "CONTROL")))


def endpoint(service: str) -> str:
    """The service's endpoint URL (for Azure: the blob service URL incl. the account)."""
    return _require(_var(service, "ENDPOINT"))


def azure_connection_string() -> str:
    return _require(_var("azure", "CONNECTION_STRING"))


def from_env(service: str) -> Control:
    """The :class:`Control` of a running service; LookupError when it is not running."""
    return Control(_require(_var(service, "CONTROL")))


def _require(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise LookupError(f"{name} is not set: run under `python -m testbed run --all -- ...`")
    return value
