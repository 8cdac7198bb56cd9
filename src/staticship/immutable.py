"""Immutable caching for content-hashed names (``STATICSHIP_HASHED_CACHE_CONTROL``).

With a manifest storage, a hashed name's bytes never change, so it may be
cached for a year. The setting gives the Cache-Control for those names only;
every other name (the manifest and the unhashed originals included) keeps
what the storage itself writes.

One hook serves S3, GCS and Azure: each of django-storages' backends takes
an object's parameters from ``get_object_parameters(key)`` (S3 through
``_get_write_parameters``, Azure through ``_get_content_settings_parameters``,
GCS directly), both when staticship computes what to write and when a
storage's own ``_save`` writes. ``Override`` wraps that method on the
storage instance for the run and adds the Cache-Control for hashed keys, so
that every path (the fast writer, the client, the storage's ``_save``) and
the write digest that decides the no-change skip see the same value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from django.core.files.storage import Storage

from .backends.base import derives_from

#: The parameter each storage family reads Cache-Control from.
FIELDS = (
    ("storages.backends.s3.S3Storage", "CacheControl"),
    ("storages.backends.gcloud.GoogleCloudStorage", "cache_control"),
    ("storages.backends.azure_storage.AzureStorage", "cache_control"),
)
#: The value the README recommends.
RECOMMENDED = "public, max-age=31536000, immutable"
#: Key of the hashed names in the state record's manifest section.
SECTION_KEY = "hashed"


def field_for(storage: Storage) -> str | None:
    """The name of the Cache-Control parameter of ``storage``'s family."""
    for path, name in FIELDS:
        if derives_from(storage, path):
            return name
    return None


class Override:
    """The storage's ``get_object_parameters``, with ``value`` as the
    Cache-Control of the keys in ``keys`` (set once the hashed names are
    known)."""

    def __init__(self, storage: Storage, value: str, parameter: str,
                 key: Callable[[str], str]) -> None:
        self.storage: Any = storage
        self.value = value
        self.parameter = parameter
        self.key = key
        self.names: frozenset[str] = frozenset()
        self.keys: frozenset[str] = frozenset()
        self.had_own = "get_object_parameters" in vars(storage)
        self.original = self.storage.get_object_parameters

    def use(self, names: Iterable[str]) -> None:
        """Give ``names`` (content-hashed) the hashed Cache-Control."""
        self.names = frozenset(names)
        self.keys = frozenset(self.key(name) for name in self.names)

    @contextmanager
    def trying(self, names: Iterable[str]) -> Iterator[None]:
        """``names`` get the hashed Cache-Control inside the block only (to
        ask what they would be written with), then the names are as before."""
        before = self.names, self.keys
        self.use(names)
        try:
            yield
        finally:
            self.names, self.keys = before

    def __call__(self, name: str) -> dict[str, Any]:
        params = dict(self.original(name))
        if name in self.keys:
            params[self.parameter] = self.value
        return params

    def install(self) -> None:
        self.storage.get_object_parameters = self

    def uninstall(self) -> None:
        if self.had_own:
            self.storage.get_object_parameters = self.original
        else:
            vars(self.storage).pop("get_object_parameters", None)

    def record(self, section: dict[str, Any]) -> None:
        """Keep the hashed names in the manifest section, so that the next
        run can check its write digests before post-processing."""
        section[SECTION_KEY] = sorted(self.names)

    def recall(self, section: Mapping[str, Any] | None) -> bool:
        """Use the hashed names the last deployment recorded; False when it
        recorded none (its write digests cannot then vouch for hashed names)."""
        recorded = section.get(SECTION_KEY) if isinstance(section, Mapping) else None
        if not isinstance(recorded, list) or not all(isinstance(n, str) for n in recorded):
            return False
        self.use(recorded)
        return True


def install(storage: Storage, key: Callable[[str], str], value: str | None) -> Override | None:
    """Wrap ``storage``'s parameters for the run, when the setting
    (STATICSHIP_HASHED_CACHE_CONTROL, ``value``) is on and the storage is of
    a family the hook knows; else None."""
    parameter = field_for(storage) if value else None
    if not value or parameter is None:
        return None
    override = Override(storage, str(value), parameter, key)
    override.install()
    return override


def storage_cache_control(storage: Storage) -> bool | None:
    """Whether ``storage`` sets a Cache-Control on what it writes (its object
    parameters, or Azure's ``cache_control``); None for other storages."""
    parameter = field_for(storage)
    if parameter is None:
        return None
    try:
        params = dict(storage.get_object_parameters("staticship-probe.css"))
    except Exception:  # noqa: BLE001 - a storage that needs more: not ours to judge
        return True
    return bool(params.get(parameter) or getattr(storage, "cache_control", None))
