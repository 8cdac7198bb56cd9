"""Step 5: what happened, for the summary lines and ``--report``."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from .events import Events
from .plan import Reason

SCHEMA_VERSION = 1


@dataclass
class Report:
    backend: str = ""
    destination: str = ""
    dry_run: bool = False
    files: dict[str, str] = field(default_factory=dict)  # name -> reason
    deleted: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # duplicates, first one won
    bytes_uploaded: int = 0
    bytes_freed: int = 0  # by --clear / --prune
    requests: Counter[str] = field(default_factory=Counter)
    seconds: dict[str, float] = field(default_factory=dict)
    post_processed: list[str] = field(default_factory=list)
    events: Events = field(default_factory=Events, repr=False, compare=False)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        self.events.phase_started(name)
        start = time.perf_counter()
        try:
            yield
        finally:
            took = time.perf_counter() - start
            self.seconds[name] = self.seconds.get(name, 0.0) + took
            self.events.phase_finished(name, took)

    def names(self, reason: Reason) -> list[str]:
        return [name for name, why in self.files.items() if why == reason.value]

    @property
    def uploaded(self) -> list[str]:
        return [n for n, why in self.files.items() if why != Reason.UNCHANGED.value]

    def summary_lines(self) -> list[str]:
        new, changed = len(self.names(Reason.NEW)), len(self.names(Reason.CHANGED))
        unchanged = len(self.names(Reason.UNCHANGED))
        verb = "would upload" if self.dry_run else "uploaded"
        lines = [
            "staticship: %s %d new, %d changed; %d unchanged; %d deleted; %s to %s"
            % (verb, new, changed, unchanged, len(self.deleted), _bytes(self.bytes_uploaded),
               self.destination),
        ]
        if self.requests:
            lines.append(
                "staticship: requests: "
                + ", ".join("%s %d" % (k, v) for k, v in sorted(self.requests.items()))
            )
        if self.seconds:
            lines.append(
                "staticship: seconds: "
                + ", ".join("%s %.2f" % (k, v) for k, v in self.seconds.items())
            )
        return lines

    def as_json(self) -> dict[str, Any]:
        return {
            "schema": "staticship-report",
            "version": SCHEMA_VERSION,
            "backend": self.backend,
            "destination": self.destination,
            "dry_run": self.dry_run,
            "counts": {
                "new": len(self.names(Reason.NEW)),
                "changed": len(self.names(Reason.CHANGED)),
                "unchanged": len(self.names(Reason.UNCHANGED)),
                "deleted": len(self.deleted),
                "post_processed": len(self.post_processed),
                "skipped": len(self.skipped),
            },
            "bytes_uploaded": self.bytes_uploaded,
            "requests": dict(sorted(self.requests.items())),
            "seconds": {k: round(v, 4) for k, v in self.seconds.items()},
            "files": [{"name": n, "action": why} for n, why in self.files.items()],
            "deleted": list(self.deleted),
            "skipped": list(self.skipped),
        }


def _bytes(count: int) -> str:
    value = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return ("%d %s" % (value, unit)) if unit == "B" else ("%.1f %s" % (value, unit))
        value /= 1024
    return "%d B" % count  # pragma: no cover
