"""GCS: reading an object's write parameters back (its JSON metadata) and
giving it new ones without sending its bytes (an object PATCH). See
``staticship.headers``.

The PATCH names every field an upload would set, ``null`` for those the
storage leaves unset (GCS then clears them), custom metadata cleared, and
the storage's predefined ACL when it has one. Objects whose parameters a
PATCH cannot make equal to an upload's (custom metadata, which a PATCH
merges, or blob properties besides the headers) are uploaded again. A
storage without a predefined ACL leaves the object's ACL as it is (on a
bucket with uniform access, the usual case, there is none).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from .base import Prepared

#: Blob properties a PATCH sets, and their JSON names.
FIELDS = {
    "cache_control": "cacheControl",
    "content_disposition": "contentDisposition",
    "content_encoding": "contentEncoding",
    "content_language": "contentLanguage",
}
#: What the client sends when no content type is known.
DEFAULT_TYPE = "application/octet-stream"


def resource(params: Mapping[str, Any]) -> dict[str, Any]:
    """The object fields an upload with ``params`` (``write_parameters``) sets."""
    blob = params["blob"]
    found: dict[str, Any] = {"contentType": params["content_type"] or DEFAULT_TYPE}
    for prop, field in FIELDS.items():
        found[field] = blob.get(prop) or None
    metadata = blob.get("metadata")
    found["metadata"] = {str(k): str(v) for k, v in metadata.items()} if metadata else None
    return found


def readable(params: Mapping[str, Any]) -> bool:
    """True when an object's metadata can show everything ``params`` set (no ACL)."""
    return not params["acl"] and set(params["blob"]) <= {*FIELDS, "metadata"}


def carries(params: Mapping[str, Any], found: Mapping[str, Any]) -> bool:
    """True when the object metadata ``found`` is what ``params`` write."""
    if not readable(params):
        return False
    want = resource(params)
    return all((found.get(k) or None) == v for k, v in want.items())


class GCSHeaders:
    """The GCS adapter's side of ``headers`` (mixed into ``GCSAdapter``)."""

    bucket_name: str
    requests: Any
    storage: Any

    def _object_path(self, key: str) -> str:
        return "/b/%s/o/%s" % (quote(self.bucket_name, safe=""), quote(key, safe=""))

    def _query(self) -> dict[str, str]:
        project = self.storage.bucket.user_project
        return {"userProject": project} if project else {}

    def inspect(self, key: str, item: Prepared) -> bool:
        if not readable(item.params):
            return False  # no request: the metadata cannot prove an ACL
        self.requests["HEAD"] += 1
        found = self.storage.client._connection.api_request(
            method="GET", path=self._object_path(key),
            query_params={**self._query(), "projection": "noAcl"})
        return carries(item.params, found)

    def updates_in_place(self, item: Prepared) -> bool:
        return set(item.params["blob"]) <= set(FIELDS)

    def rewrite(self, key: str, item: Prepared) -> str | None:
        query = self._query()
        if item.params["acl"]:
            query["predefinedAcl"] = item.params["acl"]
        self.requests["PATCH"] += 1
        self.storage.client._connection.api_request(
            method="PATCH", path=self._object_path(key), query_params=query,
            data=resource(item.params))
        return None
