"""What a run is asked to do (``Options``, from the command's options and
settings) and how far it got (``Phase``, for what an interruption leaves)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Phase(enum.Enum):
    """How far a run got: what an interruption leaves behind."""

    NOTHING_WRITTEN = "nothing written"
    UPLOADING = "uploading"  # files replaced one by one (no manifest)
    BEFORE_MANIFEST = "before manifest"  # new files going up, the manifest not yet
    PUBLISHED = "published"  # every file written; records and deletes may be left
    DELETING = "deleting"


@dataclass
class Options:
    dry_run: bool = False
    clear: bool = False
    ignore_patterns: list[str] = field(default_factory=list)
    # Delete remote files under the location that the deployment does not
    # use; for manifest storages keep those of the last ``keep`` deployments.
    prune: bool = False
    keep: int = 3
    # --prune never deletes objects younger than this (seconds); see conf.
    min_age: float = 0
