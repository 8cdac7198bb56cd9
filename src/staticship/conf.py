"""Settings, read lazily so that ``override_settings`` works.

Every setting is ``STATICSHIP_<NAME>``. Where Collectfast or Collectfasta had a
setting with the same meaning, its old name is honoured when the new one is
not set (a system check names the new one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    # Master switch: False gives exactly the stock collectstatic.
    "ENABLED": True,
    # Dotted path of an adapter class, or None to detect it from the storage.
    "ADAPTER": None,
    # Concurrent transfers.
    "WORKERS": 64,
    # Use the fast transfer path (obstore) where it writes the same objects as
    # the storage would; False always uploads through the storage object.
    "FAST_TRANSFER": True,
    # Name (relative to the storage's location) of the small state record
    # kept beside the files when content alone cannot be verified remotely.
    "STATE_NAME": ".staticship/state.json",
    # Attempts per transfer before the run fails (transient errors only).
    "MAX_ATTEMPTS": 5,
    # --prune keeps the files of this many latest deployments (manifest storages).
    "PRUNE_KEEP": 3,
    # --prune never deletes an object written less than this many seconds ago
    # (by the listing's last-modified time), nor one whose time the listing
    # does not give: another run may have uploaded it and not yet published
    # the manifest that uses it. An hour, as Rails' assets:clean keeps
    # recent assets: far longer than a deploy takes, short enough that a
    # daily --prune frees the space; it also absorbs clock skew between the
    # store and the host. 0 turns the floor off. --clear ignores it.
    "PRUNE_MIN_AGE": 3600,
    # Manifest storages: the Cache-Control of content-hashed names (None:
    # what the storage writes). Recommended: "public, max-age=31536000, immutable".
    "HASHED_CACHE_CONTROL": None,
    # A CloudFront distribution id: after a publish, its changed and deleted
    # unhashed paths are invalidated (None: no invalidation).
    "CLOUDFRONT_DISTRIBUTION": None,
    # Manifest storages: False publishes only the hashed copies and the
    # manifest (and files post-processing leaves under their own name), not
    # the unhashed originals (see originals).
    "PUBLISH_ORIGINALS": True,
}

# Old names that keep their meaning here: {new name: (old names, ...)}.
LEGACY: dict[str, tuple[str, ...]] = {
    "ENABLED": ("COLLECTFASTA_ENABLED", "COLLECTFAST_ENABLED"),
}


def get(name: str) -> Any:
    """The value of ``STATICSHIP_<name>``, else a legacy name's, else the default."""
    new = "STATICSHIP_" + name
    if hasattr(settings, new):
        return getattr(settings, new)
    for old in LEGACY.get(name, ()):
        if hasattr(settings, old):
            return getattr(settings, old)
    return DEFAULTS[name]


@dataclass(frozen=True)
class Settings:
    """The settings a run reads, read once when it starts (``Settings.read``)
    and passed down, so that nothing below the runner reads ``settings``."""

    adapter: str | None
    workers: int
    fast_transfer: bool
    state_name: str
    max_attempts: int
    prune_keep: int
    prune_min_age: float
    hashed_cache_control: str | None
    cloudfront_distribution: str | None
    publish_originals: bool = True

    @classmethod
    def read(cls) -> Settings:
        return cls(
            adapter=get("ADAPTER") or None,
            workers=int(get("WORKERS")),
            fast_transfer=bool(get("FAST_TRANSFER")),
            state_name=get("STATE_NAME"),
            max_attempts=int(get("MAX_ATTEMPTS")),
            prune_keep=int(get("PRUNE_KEEP")),
            prune_min_age=float(get("PRUNE_MIN_AGE")),
            hashed_cache_control=get("HASHED_CACHE_CONTROL") or None,
            cloudfront_distribution=get("CLOUDFRONT_DISTRIBUTION") or None,
            publish_originals=bool(get("PUBLISH_ORIGINALS")),
        )


def legacy_in_use() -> list[tuple[str, str]]:
    """(old name, new name) for every legacy setting the project still sets."""
    found = []
    for name, olds in LEGACY.items():
        for old in olds:
            if hasattr(settings, old):
                found.append((old, "STATICSHIP_" + name))
    return found


_THREADS = (
    "its thread count was tuned to boto3's cost per request; staticship uploads "
    "STATICSHIP_WORKERS (default 64) files at a time"
)

# Old names that have no meaning here; a system check (staticship.I001) says
# why, so that they can be removed: {old name: reason}.
IGNORED_LEGACY: dict[str, str] = {
    "COLLECTFASTA_STRATEGY": "staticship detects the backend from the storage",
    "COLLECTFAST_STRATEGY": "staticship detects the backend from the storage",
    # A thread count tuned to boto3's CPU cost per request (about 4 ms) would
    # cap staticship's uploads, which cost far less: 20 workers made the
    # upload of 1,000 files at 20 ms take 1.15 s instead of about 0.4 s.
    "COLLECTFASTA_THREADS": _THREADS,
    "COLLECTFAST_THREADS": _THREADS,
}


def source(name: str) -> str:
    """The setting that ``get(name)`` reads: the new name, a legacy name, or
    the new name again when neither is set (the default applies)."""
    new = "STATICSHIP_" + name
    if hasattr(settings, new):
        return new
    for old in LEGACY.get(name, ()):
        if hasattr(settings, old):
            return old
    return new


def ignored_legacy_in_use() -> list[tuple[str, str]]:
    """(old name, reason) for every ignored legacy setting the project sets."""
    return [(old, why) for old, why in IGNORED_LEGACY.items() if hasattr(settings, old)]


def unknown_settings() -> list[str]:
    """Every ``STATICSHIP_*`` setting the project sets that staticship does
    not know (a misspelling is otherwise ignored without a word)."""
    known = {"STATICSHIP_" + name for name in DEFAULTS}
    return sorted(
        name for name in dir(settings) if name.startswith("STATICSHIP_") and name not in known
    )
