"""Progress front ends for ``collectstatic`` (see ``events.Events``).

* On a terminal at ``-v 1``: one transient status line on stderr, which
  becomes a progress bar during the upload (files and bytes, rate, ETA) and
  is erased when the phase ends, so that only the summary stays on screen.
* Anywhere else (CI logs, pipes, files) and at ``-v 2`` and above: one plain
  line per finished phase on stdout, no control characters.
* At ``-v 0``: nothing.

Plain ANSI and ``\\r`` only: no dependency, no colour.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

from .events import Events

#: Return to column 0 and erase the line.
CLEAR = "\r\x1b[2K"
REDRAW_EVERY = 0.1  # seconds


def human_bytes(count: float) -> str:
    value = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return ("%d %s" % (value, unit)) if unit == "B" else ("%.1f %s" % (value, unit))
        value /= 1024
    return "%d B" % count  # pragma: no cover


def human_seconds(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return "%ds" % seconds
    if seconds < 3600:
        return "%dm%02ds" % divmod(seconds, 60)
    hours, rest = divmod(seconds, 3600)
    return "%dh%02dm" % (hours, rest // 60)


class PhaseLines(Events):
    """One line per phase, for logs: ``staticship: upload: 12 files, 3.0 KB in 0.41 s``."""

    def __init__(self, write: Callable[[str], None]) -> None:
        self.write = write
        self._files = 0
        self._bytes = 0

    def upload_started(self, files: int, total_bytes: int) -> None:
        self._files, self._bytes = files, total_bytes

    def phase_finished(self, name: str, seconds: float) -> None:
        if name == "upload":
            self.write(
                "staticship: upload: %d files, %s in %.2f s"
                % (self._files, human_bytes(self._bytes), seconds)
            )
        else:
            self.write("staticship: %s: %.2f s" % (name, seconds))


class TerminalProgress(Events):
    """A status line, and a progress bar while uploading, redrawn in place."""

    def __init__(
        self,
        stream: TextIO,
        width: Callable[[], int] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.width = width or (lambda: _terminal_width(stream))
        self.clock = clock
        self._lock = threading.Lock()
        self._shown = False
        self._phase = ""
        self._total_files = 0
        self._total_bytes = 0
        self._files = 0
        self._bytes = 0
        self._start = 0.0
        self._drawn_at = -1.0
        self._uploading = False

    # -- events -------------------------------------------------------------
    def phase_started(self, name: str) -> None:
        with self._lock:
            self._phase = name
            if not self._uploading:
                self._draw("staticship: %s ..." % _PHASE_WORDS.get(name, name))

    def phase_finished(self, name: str, seconds: float) -> None:
        with self._lock:
            if not self._uploading:
                self._clear()

    def phase_failed(self, name: str, seconds: float) -> None:
        with self._lock:
            self._uploading = False
            self._clear()

    def upload_started(self, files: int, total_bytes: int) -> None:
        with self._lock:
            self._uploading = True
            self._total_files, self._total_bytes = files, total_bytes
            self._files = self._bytes = 0
            self._start = self.clock()
            self._draw(self.bar_line())

    def file_uploaded(self, name: str, size: int) -> None:
        with self._lock:
            self._files += 1
            self._bytes += size
            now = self.clock()
            if now - self._drawn_at >= REDRAW_EVERY or self._files == self._total_files:
                self._draw(self.bar_line(), now)

    def upload_finished(self) -> None:
        with self._lock:
            self._uploading = False
            self._clear()

    # -- drawing -------------------------------------------------------------
    def bar_line(self) -> str:
        """The bar as it should read now, fitted to the terminal's width."""
        width = max(40, self.width()) - 1  # never write into the last column
        elapsed = max(self.clock() - self._start, 1e-6)
        done_files, total_files = self._files, self._total_files
        done_bytes, total_bytes = self._bytes, self._total_bytes
        if total_bytes:
            fraction = done_bytes / total_bytes
        else:
            fraction = done_files / total_files if total_files else 1.0
        fraction = min(1.0, fraction)
        counts = "%d/%d files  %s/%s" % (
            done_files, total_files, human_bytes(done_bytes), human_bytes(total_bytes)
        )
        if done_files and fraction < 1.0:
            rate = "%s/s" % human_bytes(done_bytes / elapsed)
            eta = "ETA %s" % human_seconds(elapsed * (1 - fraction) / max(fraction, 1e-9))
        elif done_files:
            rate = "%s/s" % human_bytes(done_bytes / elapsed)
            eta = "done"
        else:
            rate, eta = "", "ETA --"
        tail = "  ".join(p for p in (counts, rate, eta) if p)
        head = "staticship: upload "
        room = width - len(head) - len(tail) - 9  # "[", "] ", "100%", "  "
        if room < 10:  # narrow terminal: drop the bar, keep the numbers
            return (head + tail)[:width]
        room = min(room, 40)
        filled = int(room * fraction)
        line = "%s[%s%s] %3d%%  %s" % (
            head, "#" * filled, "-" * (room - filled), int(fraction * 100), tail
        )
        return line[:width]

    def _draw(self, text: str, now: float | None = None) -> None:
        self.stream.write(CLEAR + text)
        self.stream.flush()
        self._shown = True
        self._drawn_at = self.clock() if now is None else now

    def _clear(self) -> None:
        if self._shown:
            self.stream.write(CLEAR)
            self.stream.flush()
            self._shown = False


_PHASE_WORDS = {
    "find": "finding files",
    "list": "listing the destination",
    "hash": "fingerprinting",
    "inputs": "fingerprinting the sources",
    "post-process": "post-processing",
    "delete": "deleting",
}


def _terminal_width(stream: Any = None) -> int:
    """The width of the terminal the bar is drawn on (stderr, which may not be
    the terminal stdout is on); COLUMNS, then 80, when it cannot be told."""
    try:
        columns = os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, ValueError, OSError):
        columns = 0
    if columns <= 0:
        columns = shutil.get_terminal_size((80, 24)).columns
    return columns if columns > 0 else 80


def raw(wrapper: Any) -> Any:
    """The stream behind Django's ``OutputWrapper`` (which would style and
    terminate what we write)."""
    return getattr(wrapper, "_out", wrapper)


def is_interactive(stream: Any) -> bool:
    try:
        tty = bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
    return tty and os.environ.get("TERM", "") != "dumb"


def for_command(verbosity: int, stdout: Any, stderr: Any) -> Events:
    """The front end a ``collectstatic`` run should use (see the module docstring)."""
    if verbosity <= 0:
        return Events()
    err = raw(stderr)
    if verbosity == 1 and is_interactive(err):
        return TerminalProgress(err)
    return PhaseLines(stdout.write)
