"""S3: reading an object's write parameters back (HeadObject) and giving it
new ones without sending its bytes (CopyObject onto itself with
``MetadataDirective=REPLACE``). See ``staticship.headers``.

A copy that replaces the metadata is a fresh write of every parameter: what
it does not name is not kept (Content-Encoding, metadata, ACL and storage
class go back to the defaults; moto's server does the same), so the copy
names every parameter the storage would send with an upload. The tags are
replaced too (``TaggingDirective=REPLACE``). Parameters a copy cannot carry
(SSE-C keys, checksums of a body) and objects over CopyObject's 5 GiB are
uploaded again instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import fingerprint as fp
from .base import Prepared

#: The largest object one CopyObject may copy.
MAX_COPY = 5 * 1024**3
#: Upload parameters (boto3 ExtraArgs) that CopyObject takes as they are.
COPYABLE = frozenset({
    "ACL", "CacheControl", "ContentDisposition", "ContentEncoding", "ContentLanguage",
    "ContentType", "Expires", "GrantFullControl", "GrantRead", "GrantReadACP", "GrantWriteACP",
    "Metadata", "ServerSideEncryption", "StorageClass", "WebsiteRedirectLocation",
    "SSEKMSKeyId", "SSEKMSEncryptionContext", "BucketKeyEnabled", "Tagging", "RequestPayer",
    "ExpectedBucketOwner", "ObjectLockMode", "ObjectLockRetainUntilDate",
    "ObjectLockLegalHoldStatus",
})
#: Headers HeadObject answers as they were written (absent: not written).
_PLAIN = ("CacheControl", "ContentDisposition", "ContentEncoding", "ContentLanguage",
          "ContentType", "WebsiteRedirectLocation")
#: Encryption settings HeadObject shows; compared only when the storage sets
#: them (otherwise the bucket's default applies, to an upload as to a copy).
_ENCRYPTION = ("ServerSideEncryption", "SSEKMSKeyId", "BucketKeyEnabled")
#: Parameters that say how to reach the object, not what it carries.
_ACCESS = frozenset({"RequestPayer", "ExpectedBucketOwner", "SSECustomerAlgorithm",
                     "SSECustomerKey", "SSECustomerKeyMD5"})
_READABLE = frozenset({*_PLAIN, *_ENCRYPTION, *_ACCESS, "Metadata", "StorageClass", "Expires"})


def copy_request(bucket: str, key: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """CopyObject's arguments that give ``key`` exactly ``params``."""
    request = {"Bucket": bucket, "Key": key, "CopySource": {"Bucket": bucket, "Key": key},
               "MetadataDirective": "REPLACE", "TaggingDirective": "REPLACE", **params}
    if "ExpectedBucketOwner" in params:
        request["ExpectedSourceBucketOwner"] = params["ExpectedBucketOwner"]
    return request


def carries(params: Mapping[str, Any], head: Mapping[str, Any]) -> bool:
    """True when HeadObject's answer ``head`` shows exactly what an upload
    with ``params`` writes; False when not, or when HEAD cannot show it
    (ACL, grants, tags)."""
    if not set(params) <= _READABLE:
        return False
    if any(_text(params.get(name)) != _text(head.get(name)) for name in _PLAIN):
        return False
    if any(name in params and _text(params[name]) != _text(head.get(name))
           for name in _ENCRYPTION):
        return False
    if params.get("StorageClass", "STANDARD") != head.get("StorageClass", "STANDARD"):
        return False
    metadata = {str(k).lower(): str(v) for k, v in (params.get("Metadata") or {}).items()}
    if metadata != dict(head.get("Metadata") or {}):
        return False
    return _expires(params.get("Expires")) == _expires(head.get("ExpiresString")
                                                       or head.get("Expires"))


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return str(value).lower() if isinstance(value, bool) else str(value)


def _expires(value: Any) -> float | None:
    from .cloud import timestamp

    return timestamp(value)


class S3Headers:
    """The S3 adapter's side of ``headers`` (mixed into ``S3Adapter``)."""

    bucket_name: str
    requests: Any
    storage: Any
    workers: int

    @property
    def client(self) -> Any:
        """The adapter's one boto3 client (see ``S3Adapter.client``)."""
        raise NotImplementedError

    def inspect(self, key: str, item: Prepared) -> bool:
        params = item.params
        if not set(params) <= _READABLE:
            return False  # no request: HEAD cannot prove an ACL or tags
        reach = {k: v for k, v in params.items() if k in _ACCESS}
        self.requests["HEAD"] += 1
        head = self.client.head_object(Bucket=self.bucket_name, Key=key, **reach)
        return carries(params, head)

    def updates_in_place(self, item: Prepared) -> bool:
        return set(item.params) <= COPYABLE and item.size <= MAX_COPY

    def rewrite(self, key: str, item: Prepared) -> str | None:
        self.requests["COPY"] += 1
        answer = self.client.copy_object(
            **copy_request(self.bucket_name, key, item.params))
        return fp.normalize_etag(answer.get("CopyObjectResult", {}).get("ETag"))
