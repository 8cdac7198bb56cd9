"""``--prune``'s proof: which listed objects may go.

Pure functions over the listing and the deployment history. They fail
closed: an object is deletable only when no kept deployment may use it, and
it is old enough that no run still publishing can be using it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping

from .plan import RemoteState
from .state import UNKNOWN

GAP = "the deployment history has a gap"


def too_young(remote: Mapping[str, RemoteState], min_age: float, now: float) -> set[str]:
    """Names written less than ``min_age`` seconds before ``now``, or whose
    time the listing does not give: a run still publishing (uploaded, not
    yet recorded) may be about to use them."""
    if min_age <= 0:
        return set()
    return {
        name for name, listed in remote.items()
        if listed.modified is None or now - listed.modified < min_age
    }


def kept_names(
    history: list[str], keep: int, names_of: Callable[[str], list[str] | None]
) -> tuple[set[str], str | None]:
    """The names used by the ``keep`` newest deployments of ``history``
    (newest first) but the first (the current one, whose names the caller
    knows), and None; or an empty set and why those deployments cannot be
    established (``names_of`` gives None for a record it cannot read)."""
    found: set[str] = set()
    for deployment in history[1:keep]:
        if deployment == UNKNOWN:
            return set(), GAP
        names = names_of(deployment)
        if names is None:
            return set(), "the record of deployment %s cannot be read" % deployment
        found.update(names)
    return found, None


def manifest_names(data: bytes | None, manifest_name: str) -> list[str] | None:
    """The names the deployment a Django manifest describes uses (each
    original, its hashed name, the manifest itself); None when ``data`` is
    not such a manifest."""
    try:
        raw = json.loads(data or b"")
    except ValueError:
        return None
    paths = raw.get("paths") if isinstance(raw, dict) else None
    if not isinstance(paths, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in paths.items()
    ):
        return None
    return sorted({*paths, *paths.values(), manifest_name})
