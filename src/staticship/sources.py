"""Step 1: find the local files, with stock collectstatic's first-wins rule."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import BinaryIO

from django.contrib.staticfiles.finders import get_finders
from django.core.files.storage import Storage


@dataclass(frozen=True)
class LocalFile:
    """One file to publish under ``name`` (the path relative to the storage)."""

    name: str
    source_storage: Storage = field(compare=False, repr=False)
    source_name: str
    # Absolute path on local disk, or "" when the finder's storage has none.
    path: str

    def open(self) -> BinaryIO:
        if self.path:
            return open(self.path, "rb")
        handle: BinaryIO = self.source_storage.open(self.source_name, "rb")
        return handle


def duplicate_message(name: str) -> str:
    return (
        "Found another file with the destination path '%s'. It will be ignored "
        "since only the first encountered file is collected. If this is not what "
        "you want, make sure every static file has a unique path." % name
    )


def find_files(
    ignore_patterns: Iterable[str],
    on_duplicate: Callable[[str], None] = lambda name: None,
) -> dict[str, LocalFile]:
    """Every file the finders list, keyed by destination name, first one wins.

    The returned dict keeps the finders' order, which stock collectstatic's
    ``post_process`` sees as well.
    """
    patterns = list(ignore_patterns)
    found: dict[str, LocalFile] = {}
    for finder in get_finders():
        for path, storage in finder.list(patterns):
            prefix = getattr(storage, "prefix", None)
            name = os.path.join(prefix, path) if prefix else path
            name = name.replace(os.sep, "/")
            if name in found:
                on_duplicate(name)
                continue
            try:
                local_path = storage.path(path)
            except NotImplementedError:
                local_path = ""
            found[name] = LocalFile(name, storage, path, local_path)
    return found
