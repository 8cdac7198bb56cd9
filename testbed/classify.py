"""Name the storage operation of an HTTP request, per service.

The names are what tests count: S3 operation names for S3, and short
equivalents for GCS (JSON/XML APIs of fake-gcs-server) and Azure Blob.
``write`` marks requests that change objects (parts included); bucket and
container administration is not a write, so faults on writes never prevent a
test from creating its bucket.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import NamedTuple
from urllib.parse import parse_qs


class Operation(NamedTuple):
    op: str
    write: bool


Query = Mapping[str, list[str]]
Headers = Mapping[str, str]
Classifier = Callable[[str, str, Query, Headers], Operation]


def parse_query(query: str) -> dict[str, list[str]]:
    return parse_qs(query, keep_blank_values=True)


def classify_s3(method: str, path: str, query: Query, headers: Headers) -> Operation:
    """Path-style S3: ``/bucket`` or ``/bucket/key``."""
    bucket, _, key = path.lstrip("/").partition("/")
    if not bucket:
        return Operation("Other", False)  # ListBuckets
    if not key:
        return _s3_bucket_op(method, query)
    return _s3_object_op(method, query, headers)


def _s3_bucket_op(method: str, query: Query) -> Operation:
    if method == "GET":
        if query.get("list-type") == ["2"]:
            return Operation("ListObjectsV2", False)
        if not query or set(query) <= {"prefix", "delimiter", "marker", "max-keys", "encoding-type"}:
            return Operation("ListObjects", False)
        return Operation("Other", False)
    if method == "HEAD":
        return Operation("HeadBucket", False)
    if method == "POST" and "delete" in query:
        return Operation("DeleteObjects", True)
    if method == "PUT" and not query:
        return Operation("CreateBucket", False)
    return Operation("Other", False)


def _s3_object_op(method: str, query: Query, headers: Headers) -> Operation:
    copy = "x-amz-copy-source" in {name.lower() for name in headers}
    if method == "GET":
        if "attributes" in query:
            return Operation("GetObjectAttributes", False)
        if query.keys() & {"uploadId", "tagging", "acl", "retention", "legal-hold", "torrent"}:
            return Operation("Other", False)
        return Operation("GetObject", False)
    if method == "HEAD":
        return Operation("HeadObject", False)
    if method == "PUT":
        if "partNumber" in query and "uploadId" in query:
            return Operation("Other" if copy else "UploadPart", True)
        if query.keys() - {"x-id"}:
            return Operation("Other", True)  # tagging, acl, retention...
        return Operation("CopyObject" if copy else "PutObject", True)
    if method == "POST":
        if "uploads" in query:
            return Operation("CreateMultipartUpload", True)
        if "uploadId" in query:
            return Operation("CompleteMultipartUpload", True)
        return Operation("Other", True)
    if method == "DELETE":
        if "uploadId" in query:
            return Operation("AbortMultipartUpload", True)
        return Operation("DeleteObject", True)
    return Operation("Other", False)


def classify_gcs(method: str, path: str, query: Query, headers: Headers) -> Operation:
    """fake-gcs-server: JSON API, upload/download/batch endpoints, XML API."""
    parts = path.strip("/").split("/")
    if path.startswith("/upload/"):
        return _gcs_upload_op(method, query, headers)
    if path.startswith("/download/"):
        return Operation("Get", False)
    if path.startswith("/batch/"):
        return Operation("Batch", True)
    if path.startswith("/storage/v1/"):
        return _gcs_json_op(method, parts[2:], query)
    # XML API: /bucket/object
    if len(parts) < 2 or not parts[1]:
        return Operation("List" if method == "GET" else "Other", False)
    return _gcs_xml_object_op(method, query)


def _gcs_json_op(method: str, parts: list[str], query: Query) -> Operation:
    # parts after /storage/v1: ["b"], ["b", B], ["b", B, "o"], ["b", B, "o", name...]
    if parts[:1] != ["b"]:
        return Operation("Other", False)
    if len(parts) == 1:
        return Operation("CreateBucket" if method == "POST" else "Other", False)
    if len(parts) == 2:
        return Operation("GetBucket" if method == "GET" else "Other", False)
    if len(parts) == 3 and parts[2] == "o":
        if method == "GET":
            return Operation("List", False)
        return Operation("Upload" if method == "POST" else "Other", method == "POST")
    if parts[2] != "o":
        return Operation("Other", False)
    rest = "/".join(parts[3:])
    if method == "POST" and ("/copyTo/" in rest or "/rewriteTo/" in rest):
        return Operation("Copy", True)
    if method == "POST" and rest.endswith("/compose"):
        return Operation("Compose", True)
    if method in ("GET", "HEAD"):
        return Operation("Get" if query.get("alt") == ["media"] else "Head", False)
    if method == "DELETE":
        return Operation("Delete", True)
    if method in ("PATCH", "PUT"):
        return Operation("Patch", True)
    return Operation("Other", False)


def _gcs_upload_op(method: str, query: Query, headers: Headers) -> Operation:
    if method == "POST":
        if query.get("uploadType") == ["resumable"]:
            return Operation("ResumableStart", True)
        return Operation("Upload", True)
    if method == "PUT":
        if _is_last_chunk(headers):
            return Operation("Commit", True)
        return Operation("UploadPart", True)
    if method == "DELETE":
        return Operation("Other", True)  # cancel a resumable upload
    return Operation("Other", False)


def _is_last_chunk(headers: Headers) -> bool:
    """A resumable PUT is final when its Content-Range reaches the stated total.

    ``bytes 0-99/*``: more to come; ``bytes 0-99/100`` or ``bytes */100``: final.
    """
    for name, value in headers.items():
        if name.lower() != "content-range":
            continue
        span, _, total = value.strip().removeprefix("bytes").strip().partition("/")
        if total.strip() in ("", "*"):
            return False
        if span.strip() == "*":
            return True
        try:
            return int(span.partition("-")[2]) + 1 == int(total)
        except ValueError:
            return True
    return True  # no Content-Range: the whole object in one request


def _gcs_xml_object_op(method: str, query: Query) -> Operation:
    if method == "GET":
        return Operation("Get", False)
    if method == "HEAD":
        return Operation("Head", False)
    if method == "PUT":
        return Operation("UploadPart" if "partNumber" in query else "Upload", True)
    if method == "POST":
        if "uploadId" in query:
            return Operation("Commit", True)
        if "uploads" in query:
            return Operation("CreateMultipartUpload", True)  # not supported by fake-gcs-server
        return Operation("ResumableStart", True)
    if method == "DELETE":
        return Operation("Delete", True)
    return Operation("Other", False)


def classify_azure(method: str, path: str, query: Query, headers: Headers) -> Operation:
    """Azurite path-style: ``/account``, ``/account/container``, ``/account/container/blob``."""
    parts = path.strip("/").split("/", 2)
    comp = (query.get("comp") or [""])[0]
    if comp == "batch":
        return Operation("Batch", True)
    if len(parts) < 2 or not parts[1]:
        return Operation("Other", False)  # service level: list containers, properties
    if len(parts) == 2 or not parts[2]:
        return _azure_container_op(method, query, comp)
    return _azure_blob_op(method, headers, comp)


def _azure_container_op(method: str, query: Query, comp: str) -> Operation:
    if method == "GET" and comp == "list":
        return Operation("List", False)
    if query.get("restype") == ["container"] and not comp:
        if method == "PUT":
            return Operation("CreateContainer", False)
        if method == "DELETE":
            return Operation("DeleteContainer", False)
    return Operation("Other", False)


def _azure_blob_op(method: str, headers: Headers, comp: str) -> Operation:
    if method == "GET":
        return Operation("Get" if not comp else "Other", False)
    if method == "HEAD":
        return Operation("GetProperties" if not comp else "Other", False)
    if method == "PUT":
        if comp == "block":
            return Operation("PutBlock", True)
        if comp == "blocklist":
            return Operation("PutBlockList", True)
        if comp == "properties":
            return Operation("SetProperties", True)  # Set Blob Properties (headers)
        if comp:
            return Operation("Other", True)  # metadata, tier, tags
        copy = "x-ms-copy-source" in {name.lower() for name in headers}
        return Operation("Copy" if copy else "Upload", True)
    if method == "DELETE":
        return Operation("Delete", True)
    return Operation("Other", False)


# By protocol (testbed.PROTOCOL): s3b speaks S3.
CLASSIFIERS: dict[str, Classifier] = {
    "s3": classify_s3,
    "gcs": classify_gcs,
    "azure": classify_azure,
}
