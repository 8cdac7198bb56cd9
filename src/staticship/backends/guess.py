"""Write parameters that depend on a name only through its extension.

django-storages' S3, GCS and Azure storages take an object's Content-Type
(and a Content-Encoding such as ``gzip`` for ``.gz``) from
``mimetypes.guess_type`` and every other parameter from settings, unless a
subclass overrides the method that builds them. For such a storage, two
names that ``type_key`` maps to the same extension get the same parameters,
so a run works them out (and digests them) once per extension instead of
once per file: for 20,000 names that was about a second of a no-change run.
"""

from __future__ import annotations

import mimetypes
import posixpath


def type_key(name: str) -> str | None:
    """The extension that alone decides ``mimetypes.guess_type(name)`` (and
    the storage's own cleaned name's), or None when more of the name may
    count: a ``:`` (read as a URL scheme), a backslash, a path that is not
    normal (the storage's ``clean_name`` rewrites those) or that ends with a
    dot (AzureStorage strips it: ``a.css.`` is written as ``a.css``), or an
    extension that mimetypes expands (``.tgz``) or reads as an encoding
    (``.gz``, after which the extension before it counts too)."""
    if ":" in name or "\\" in name or name.endswith(".") or not _normal(name):
        return None
    ext = posixpath.splitext(name)[1]
    if not mimetypes.inited:
        mimetypes.init()
    lower = ext.lower()
    if lower in mimetypes.suffix_map or ext in mimetypes.encodings_map or lower in mimetypes.encodings_map:
        return None
    return ext


def _normal(name: str) -> bool:
    """``posixpath.normpath(name) == name`` for a relative name, in string
    operations only (this runs once per file)."""
    wrapped = "/" + name + "/"
    return bool(name) and not name.startswith("/") and "//" not in wrapped \
        and "/./" not in wrapped and "/../" not in wrapped
