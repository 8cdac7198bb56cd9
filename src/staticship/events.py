"""Callbacks from the pipeline to whatever shows progress (a progress bar on
a terminal, one line per phase in a CI log, nothing at ``-v 0``)."""

from __future__ import annotations


class Events:
    """Does nothing; front ends override what they show. Upload callbacks
    come from worker threads."""

    def phase_started(self, name: str) -> None:
        pass

    def phase_finished(self, name: str, seconds: float) -> None:
        pass

    def upload_started(self, files: int, total_bytes: int) -> None:
        pass

    def file_uploaded(self, name: str, size: int) -> None:
        pass

    def upload_finished(self) -> None:
        pass
