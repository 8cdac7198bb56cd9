"""Step 9: what happened, for the summary lines and ``--report``."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from .events import Events
from .progress import human_bytes
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
    records_written: int = 0  # writes of staticship's own record (the state record)
    # CDN invalidation (cdn.Invalidation.as_json), when a CDN is configured.
    invalidation: dict[str, Any] | None = None
    # Whether uploads went through obstore, and why not (CloudAdapter.fast_path).
    fast_path: dict[str, Any] | None = None
    # STATICSHIP_PUBLISH_ORIGINALS = False: the originals not published (see originals).
    withheld: list[str] | None = None
    events: Events = field(default_factory=Events, repr=False, compare=False)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        self.events.phase_started(name)
        start = time.perf_counter()
        try:
            yield
        except BaseException:
            took = time.perf_counter() - start
            self.seconds[name] = self.seconds.get(name, 0.0) + took
            self.events.phase_failed(name, took)
            raise
        took = time.perf_counter() - start
        self.seconds[name] = self.seconds.get(name, 0.0) + took
        self.events.phase_finished(name, took)

    def names(self, reason: Reason) -> list[str]:
        return [name for name, why in self.files.items() if why == reason.value]

    @property
    def uploaded(self) -> list[str]:
        return [n for n, why in self.files.items() if why != Reason.UNCHANGED.value]

    def summary_lines(self, seconds: bool = True) -> list[str]:
        """What ``collectstatic`` prints last, before Django's own summary line;
        without the seconds line where each phase already printed its own."""
        new, changed = len(self.names(Reason.NEW)), len(self.names(Reason.CHANGED))
        unchanged = len(self.names(Reason.UNCHANGED))
        uploads = _files(new + changed) + _split(new, changed)
        headers = len(self.names(Reason.HEADERS))
        sent = human_bytes(self.bytes_uploaded)
        if headers:  # said only when there are some (the line stays as it was)
            sent += "; %s %s" % ("update the headers of" if self.dry_run
                                 else "updated the headers of", _files(headers))
        if self.dry_run:
            lines = [
                "staticship: dry run, nothing was written. Plan for %s: upload %s, %s; "
                "%d unchanged; %d to delete."
                % (self.destination, uploads, sent, unchanged, len(self.deleted)),
            ]
        else:
            lines = [
                "staticship: %s: uploaded %s, %s; %d unchanged; %d deleted."
                % (self.destination, uploads, sent, unchanged, len(self.deleted)),
            ]
        if self.requests:
            records = self.records_written
            lines.append(
                "staticship: requests: %s (%d in all%s)."
                % (", ".join("%s %d" % (k, v) for k, v in sorted(self.requests.items())),
                   sum(self.requests.values()),
                   "; %d writing staticship's own record%s" % (records, "s" if records > 1 else "")
                   if records else "")
            )
        if self.seconds and seconds:
            lines.append(
                "staticship: seconds: %s (%.2f in all)."
                % (", ".join("%s %.2f" % (k, v) for k, v in self.seconds.items()),
                   sum(self.seconds.values()))
            )
        return lines

    def _counts(self, uploaded: int) -> dict[str, int]:
        return {
            "new": len(self.names(Reason.NEW)),
            "changed": len(self.names(Reason.CHANGED)),
            "headers": len(self.names(Reason.HEADERS)),
            "unchanged": len(self.names(Reason.UNCHANGED)),
            "uploaded": uploaded,
            "deleted": len(self.deleted),
            "post_processed": len(self.post_processed),
            "skipped": len(self.skipped),
        }

    def as_json(
        self,
        status: str = "ok",
        error: str | None = None,
        completed: list[str] | None = None,
        planned_bytes: int | None = None,
    ) -> dict[str, Any]:
        """The ``--report`` document (docs/report-schema.json). ``status`` is
        "ok" or "failed"; a failed run also names the ``completed`` uploads.
        In a dry run ``bytes_uploaded`` holds what would have been uploaded."""
        done, sent, planned = self._progress(status, completed, planned_bytes)
        document: dict[str, Any] = {
            "schema": "staticship-report",
            "version": SCHEMA_VERSION,
            "status": status,
            "error": error,
            "engine": "staticship",
            "backend": self.backend,
            "destination": self.destination,
            "dry_run": self.dry_run,
            "counts": self._counts(done),
            "bytes_uploaded": sent,
            "bytes_planned": planned,
            "requests": dict(sorted(self.requests.items())),
            "seconds": {k: round(v, 4) for k, v in self.seconds.items()},
            "files": [{"name": n, "action": why} for n, why in self.files.items()],
            "deleted": list(self.deleted),
            "skipped": list(self.skipped),
            "fast_path": self.fast_path,
        }
        if status != "ok":
            document["completed"] = sorted(completed or ())
        if self.invalidation is not None:
            document["invalidation"] = self.invalidation
        if self.withheld is not None:
            document["withheld"] = list(self.withheld)
        return document


    def _progress(
        self, status: str, completed: list[str] | None, planned_bytes: int | None
    ) -> tuple[int, int, int | None]:
        """Uploads done, bytes sent and bytes planned, as the report gives them."""
        if self.dry_run:
            return 0, 0, self.bytes_uploaded
        if status == "ok":
            return (len(self.uploaded), self.bytes_uploaded,
                    self.bytes_uploaded if planned_bytes is None else planned_bytes)
        return len(completed or ()), self.bytes_uploaded, planned_bytes


def stock_json(result: dict[str, list[str]], destination: str, dry_run: bool,
               seconds: float, status: str = "ok", error: str | None = None) -> dict[str, Any]:
    """A ``--report`` document for a run that staticship handed to Django's
    own collectstatic (it cannot tell new from changed, nor count requests)."""
    modified = list(result.get("modified", ()))
    unmodified = list(result.get("unmodified", ()))
    document: dict[str, Any] = {
        "schema": "staticship-report",
        "version": SCHEMA_VERSION,
        "status": status,
        "error": error,
        "engine": "stock",
        "backend": "stock",
        "destination": destination,
        "dry_run": dry_run,
        "counts": {
            "new": None,
            "changed": None,
            "headers": None,
            "unchanged": len(unmodified),
            "uploaded": 0 if dry_run else len(modified),
            "deleted": len(result.get("deleted", ())),
            "post_processed": len(result.get("post_processed", ())),
            "skipped": len(result.get("skipped", ())),
        },
        "bytes_uploaded": None,
        "bytes_planned": None,
        "requests": {},
        "seconds": {"collect": round(seconds, 4)},
        "files": [{"name": n, "action": "copied"} for n in modified]
        + [{"name": n, "action": "unchanged"} for n in unmodified],
        "deleted": list(result.get("deleted", ())),
        "skipped": list(result.get("skipped", ())),
    }
    if status != "ok":
        document["completed"] = []
    return document



def fast_path_line(status: dict[str, Any] | None, at_start: bool) -> str | None:
    """The -v 1 line saying why uploads do not go through obstore: at the
    start when the fast path is off for the whole run, at the end when only
    some objects went another way; None when there is nothing to say."""
    if status is None or not status["reason"] or status["used"] == at_start:
        return None
    if at_start:
        head = "uploading through %s, not obstore" % status["via"]
    elif not status["slow_uploads"]:
        return None
    else:
        head = "%s uploaded through %s, not obstore" % (_files(status["slow_uploads"]),
                                                        status["via"])
    return "staticship: %s: %s. Fix: %s." % (head, status["reason"], status["fix"])


def _files(count: int) -> str:
    return "%d file%s" % (count, "" if count == 1 else "s")


def _split(new: int, changed: int) -> str:
    """" (2 new, 1 changed)", leaving out a zero; "" when nothing is uploaded."""
    parts = ["%d %s" % (n, what) for n, what in ((new, "new"), (changed, "changed")) if n]
    return " (%s)" % ", ".join(parts) if parts else ""
