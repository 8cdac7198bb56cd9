"""Which published names are content-hashed (manifest storages).

A manifest storage's ``hashed_files`` maps each original name to the name
post-processing gave it; the names that differ from their originals carry
their content's hash, so their bytes never change under that name.
"""

from __future__ import annotations

from collections.abc import Mapping


def names(processed: tuple[Mapping[str, str], str] | None) -> frozenset[str]:
    """The content-hashed names of a post-processing's ``(hashed_files,
    manifest_hash)``; none without post-processing (every name is plain)."""
    if processed is None:
        return frozenset()
    return frozenset(value for key, value in processed[0].items() if value != key)
