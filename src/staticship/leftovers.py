"""Temporary files of staticship's own, and what a killed run leaves of them.

Every temporary name carries the id of the process that made it
(``<prefix><pid>-<random>``): the staging directories and spooled bodies in
the temp folder, and the files an atomic write puts beside its target in
STATIC_ROOT. A later run removes those whose process is gone; one of a
process still alive (a concurrent run) is left alone unless it is older than
``MAX_AGE``, and so is a name without a process id (an older release's)
unless it is that old.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time

STAGE = "staticship-stage-"
SPOOL = "staticship-spool-"
#: Prefix of the atomic writes' temporaries inside a local destination.
ATOMIC = ".staticship-"
_OLD_SPOOL = "staticship-"  # an older release's spooled bodies (no process id)
#: Seconds after which a leftover is stale whoever made it.
MAX_AGE = 24 * 3600


def prefix(kind: str) -> str:
    """The name prefix for a new temporary of ``kind`` made by this process."""
    return "%s%d-" % (kind, os.getpid())


def is_atomic_temporary(filename: str) -> bool:
    return filename.startswith(ATOMIC)


def _pid(filename: str, kind: str) -> int | None:
    """The process id in ``<kind><pid>-<random>`` (None for other names)."""
    head, separator, _ = filename[len(kind):].partition("-")
    return int(head) if separator and head.isdigit() else None


def _alive(pid: int) -> bool:
    if pid == os.getpid() or os.name == "nt":  # no safe probe there: age decides
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process
        return True
    return True


def is_stale(path: str, filename: str, kind: str, now: float | None = None) -> bool:
    """True when the temporary at ``path`` belongs to no live run."""
    try:
        age = (now or time.time()) - os.lstat(path).st_mtime
    except OSError:
        return False
    pid = _pid(filename, kind)
    if pid is not None and not _alive(pid):
        return True
    return age > MAX_AGE


def remove(path: str) -> None:
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)
    except FileNotFoundError:
        pass


def clean_temp_folder() -> list[str]:
    """Remove stale staging directories and spooled bodies from the temp
    folder; return their paths."""
    folder = tempfile.gettempdir()
    try:
        entries = os.listdir(folder)
    except OSError:
        return []
    removed = []
    for filename in entries:
        kind = next((k for k in (STAGE, SPOOL, _OLD_SPOOL) if filename.startswith(k)), None)
        if kind is None:
            continue
        path = os.path.join(folder, filename)
        if kind == _OLD_SPOOL and os.path.isdir(path):
            continue  # only files were spooled under the old prefix
        if is_stale(path, filename, kind):
            remove(path)
            removed.append(path)
    return removed
