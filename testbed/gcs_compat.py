"""Make fake-gcs-server (v1.54) accept a simple XML-API object PUT.

Real GCS takes ``PUT /bucket/object`` (the XML API, which obstore /
object_store uses for uploads) and answers with an ``ETag`` header.
fake-gcs-server only accepts that request as a signed-URL upload (it wants an
``X-Goog-Algorithm`` query parameter; otherwise: 400 "invalid uploadType"),
and answers with the object's JSON and no ETag header. The proxy adds the
parameter on the way in and the ETag/generation/hash headers on the way out.
XML multipart uploads (``POST ?uploads``) are not supported by the emulator.
"""

from __future__ import annotations

import json

_MARKER = "X-Goog-Algorithm"
_NON_XML_PREFIXES = ("/storage/", "/upload/", "/download/", "/batch/", "/_testbed")


def xml_put_target(method: str, path: str, query: str, target: str) -> str | None:
    """The request target to send instead, for an XML-API object PUT; else None."""
    if method != "PUT" or path.startswith(_NON_XML_PREFIXES):
        return None
    parts = path.strip("/").split("/", 1)
    if len(parts) < 2 or not parts[1] or _MARKER.lower() in query.lower():
        return None
    if any(key in query for key in ("partNumber", "uploadId")):
        return None
    separator = "&" if query else "?"
    return f"{target}{separator}{_MARKER}=testbed-xml-put"


def object_headers(body: bytes) -> list[tuple[str, str]]:
    """ETag, generation and hashes of an object resource, as the XML API sends them."""
    try:
        resource = json.loads(body)
    except ValueError:
        return []
    if not isinstance(resource, dict):
        return []
    headers: list[tuple[str, str]] = []
    if resource.get("etag"):
        headers.append(("ETag", f'"{resource["etag"]}"'))
    if resource.get("generation"):
        headers.append(("x-goog-generation", str(resource["generation"])))
    hashes = [
        f"{name}={resource[key]}"
        for name, key in (("crc32c", "crc32c"), ("md5", "md5Hash"))
        if resource.get(key)
    ]
    if hashes:
        headers.append(("x-goog-hash", ",".join(hashes)))
    return headers
