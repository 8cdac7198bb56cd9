"""Callbacks from the pipeline to whatever shows progress (a progress bar on
a terminal, one line per phase in a CI log, nothing at ``-v 0``)."""

from __future__ import annotations

import threading
from typing import Any


class Events:
    """Does nothing; front ends override what they show. Upload callbacks
    come from worker threads."""

    def phase_started(self, name: str) -> None:
        pass

    def phase_finished(self, name: str, seconds: float) -> None:
        pass

    def phase_failed(self, name: str, seconds: float) -> None:
        """The phase ended with an error (the error itself is reported
        elsewhere): nothing may claim it succeeded."""

    def upload_started(self, files: int, total_bytes: int) -> None:
        pass

    def file_uploaded(self, name: str, size: int) -> None:
        pass

    def upload_finished(self) -> None:
        pass


class Fanout(Events):
    """Passes every callback on to several front ends, in order."""

    def __init__(self, *targets: Events) -> None:
        self.targets = targets

    def _each(self, callback: str, *args: Any) -> None:
        for target in self.targets:
            getattr(target, callback)(*args)

    def phase_started(self, name: str) -> None:
        self._each("phase_started", name)

    def phase_finished(self, name: str, seconds: float) -> None:
        self._each("phase_finished", name, seconds)

    def phase_failed(self, name: str, seconds: float) -> None:
        self._each("phase_failed", name, seconds)

    def upload_started(self, files: int, total_bytes: int) -> None:
        self._each("upload_started", files, total_bytes)

    def file_uploaded(self, name: str, size: int) -> None:
        self._each("file_uploaded", name, size)

    def upload_finished(self) -> None:
        self._each("upload_finished")


class Completed(Events):
    """Remembers which files were written, so that a run that fails partway
    can still say what it managed (``--report``)."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.planned_bytes: int | None = None
        self._lock = threading.Lock()

    def upload_started(self, files: int, total_bytes: int) -> None:
        self.planned_bytes = total_bytes

    def file_uploaded(self, name: str, size: int) -> None:
        with self._lock:
            self.names.append(name)
