"""S3 without obstore: the listing and single-request uploads as plain HTTP
requests, sent through urllib3 (botocore's own HTTP library) and signed by
botocore's SigV4 signer with the credentials the storage's boto3 session
finds.

boto3's request pipeline costs about 2 ms of CPU per request and 0.1 s per
1,000 listed entries, on top of 0.1 s to build its client; these requests
cost a fraction of that, and a run that uploads nothing builds no client.
The bucket's address (endpoint, region, addressing style) is worked out as
for obstore (``s3_fast.base_config``). What these requests cannot send
exactly as boto3 would goes through boto3: multipart uploads, write
parameters outside ``_HEADERS`` (customer-provided keys, an Expires date,
object lock, ...), checksums other than CRC32, SHA-1 and SHA-256, header
values that are not plain ASCII, and keys with ``.`` or ``..`` segments.
"""

from __future__ import annotations

import base64
import hashlib
import re
import threading
import zlib
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, unquote_plus, urlencode, urlsplit
from xml.etree import ElementTree

from .. import fingerprint as fp
from ..plan import RemoteState
from . import ranges
from .base import Prepared
from .cloud import timestamp
from .fast import FAST_MAX_SIZE, Off, own_way
from .s3_fast import base_config, unreachable

#: Write parameters (boto3 ExtraArgs) sent as a header of their own, by the
#: name botocore's serializer gives them; ``Metadata`` is one header per key.
_HEADERS = {
    "ACL": "x-amz-acl",
    "BucketKeyEnabled": "x-amz-server-side-encryption-bucket-key-enabled",
    "CacheControl": "Cache-Control",
    "ContentDisposition": "Content-Disposition",
    "ContentEncoding": "Content-Encoding",
    "ContentLanguage": "Content-Language",
    "ContentType": "Content-Type",
    "ExpectedBucketOwner": "x-amz-expected-bucket-owner",
    "GrantFullControl": "x-amz-grant-full-control",
    "GrantRead": "x-amz-grant-read",
    "GrantReadACP": "x-amz-grant-read-acp",
    "GrantWriteACP": "x-amz-grant-write-acp",
    "RequestPayer": "x-amz-request-payer",
    "SSEKMSEncryptionContext": "x-amz-server-side-encryption-context",
    "SSEKMSKeyId": "x-amz-server-side-encryption-aws-kms-key-id",
    "ServerSideEncryption": "x-amz-server-side-encryption",
    "StorageClass": "x-amz-storage-class",
    "Tagging": "x-amz-tagging",
    "WebsiteRedirectLocation": "x-amz-website-redirect-location",
}

#: Request checksums computed here: header name and function of the body.
_CHECKSUMS: dict[str, Callable[[bytes], bytes]] = {
    "CRC32": lambda data: zlib.crc32(data).to_bytes(4, "big"),
    "SHA1": lambda data: hashlib.sha1(data).digest(),
    "SHA256": lambda data: hashlib.sha256(data).digest(),
}

#: Printable ASCII: what goes into a header unchanged whichever client sends it.
_PLAIN = re.compile(r"[\x20-\x7e]*\Z")

#: client_config.s3 settings these requests reproduce (others: boto3).
_S3_CONFIG = {"addressing_style", "payload_signing_enabled"}


def blocked(storage: Any, serves: str) -> Off | None:
    """Why these requests cannot stand in for boto3's with ``storage``'s
    settings (a class that writes or connects its own way, proxies, a
    signature other than SigV4, dual-stack or FIPS endpoints, other
    client_config.s3 settings); None when they can."""
    off = own_way(storage, serves, "_compress_content", "connection") or unreachable(storage)
    if off is not None:
        return off
    config = storage.client_config
    signature = getattr(config, "signature_version", None) or storage.signature_version
    if signature not in (None, "s3v4", "v4"):
        return Off("signature_version %r" % signature, "")
    extra = sorted(set(getattr(config, "s3", None) or {}) - _S3_CONFIG)
    if extra:
        return Off("client_config.s3 sets %s" % extra[0], "")
    for name in ("use_dualstack_endpoint", "use_fips_endpoint"):
        if getattr(config, name, None):
            return Off("client_config sets %s" % name, "")
    return None


class HttpS3:
    """ListObjectsV2 and PutObject for one bucket, over one urllib3 pool."""

    def __init__(self, storage: Any, workers: int, session: Any, credentials: Any) -> None:
        import urllib3

        config = storage.client_config
        base = base_config(storage, session, config)
        self.region: str = base["region"]
        bucket: str = storage.bucket_name
        endpoint = base.get("endpoint") or "https://%s" % _aws_host(self.region)
        parts = urlsplit(endpoint)
        if base["virtual_hosted_style_request"]:
            endpoint = "%s://%s.%s" % (parts.scheme, bucket, parts.netloc)
            self.root = parts.path.rstrip("/")
        else:
            self.root = "%s/%s" % (parts.path.rstrip("/"), quote(bucket, safe=""))
        self.url = endpoint.rstrip("/")
        tls: dict[str, Any] = {}
        if endpoint.startswith("https"):
            tls = _tls(storage.verify, session)
        timeout = urllib3.Timeout(connect=getattr(config, "connect_timeout", None) or 60,
                                  read=getattr(config, "read_timeout", None) or 60)
        self.pool = urllib3.connection_from_url(self.url, maxsize=max(workers, 10), block=False,
                                                timeout=timeout, retries=False, **tls)
        self._signed = _Signer(credentials, self.region)

    @classmethod
    def build(cls, storage: Any, workers: int, serves: str) -> HttpS3 | None:
        """The requests for ``storage``; None when its settings ask for
        something only boto3 does, or its session finds no credentials."""
        if blocked(storage, serves) is not None:
            return None
        session = storage._create_session()
        credentials = session.get_credentials()
        if credentials is None:
            return None  # boto3 fails the same way, and says so
        return cls(storage, workers, session, credentials)

    # -- requests ----------------------------------------------------------
    def send(self, method: str, target: str, headers: dict[str, str], body: bytes,
             operation: str) -> Any:
        """One signed request to ``target`` (a path and query under the
        bucket, already percent-encoded); the response, or botocore's
        ClientError for an S3 error (the code and status boto3 would give)."""
        headers = self._signed(method, self.url + target, headers, body)
        response = self.pool.urlopen(method, target, body=body or None, headers=headers,
                                     retries=False, redirect=False, assert_same_host=False)
        if response.status < 300:
            return response
        region = response.headers.get("x-amz-bucket-region")
        if region and region != self.region:
            raise WrongRegion(region)
        raise _client_error(response, operation)

    def path(self, key: str) -> str:
        return "%s/%s" % (self.root, quote(key, safe="/~"))

    # -- list --------------------------------------------------------------
    def list_range(self, prefix: str, bounds: ranges.Range) -> tuple[list[RemoteState], int]:
        """One range of the listing under ``prefix``, as ``S3Adapter`` takes it."""
        states: list[RemoteState] = []
        pages = 0
        query: dict[str, str] = {"list-type": "2", "prefix": prefix, "encoding-type": "url"}
        if bounds[0] is not None:
            query["start-after"] = bounds[0]
        while True:
            page = self.send("GET", "%s?%s" % (self.root or "/", urlencode(
                sorted(query.items()), quote_via=quote, safe="-_.~")), {}, b"", "ListObjectsV2")
            pages += 1
            root = ElementTree.fromstring(page.data)
            space = root.tag[:root.tag.index("}") + 1] if root.tag.startswith("{") else ""
            encoded = root.findtext(space + "EncodingType") == "url"
            if ranges.clip((_entry(entry, space, encoded) for entry in root.iter(space + "Contents")),
                           bounds, states):
                return states, pages
            token = root.findtext(space + "NextContinuationToken")
            if root.findtext(space + "IsTruncated") != "true" or not token:
                return states, pages
            query["continuation-token"] = token

    # -- write -------------------------------------------------------------
    @staticmethod
    def why_not(key: str, args: Mapping[str, Any], multipart: bool,
                size: int = 0) -> str | None:
        """None when one PutObject sent here carries ``args`` (the ExtraArgs
        boto3 would send) exactly as boto3 would; else what stands in the way."""
        if multipart:
            return "a multipart upload"
        if size > FAST_MAX_SIZE:
            return "a body too large to hold in memory"  # boto3 streams it
        if any(part in (".", "..") for part in key.split("/")):
            return "a key with a . or .. segment"
        for name, value in args.items():
            if name == "ChecksumAlgorithm":
                if str(value).upper() not in _CHECKSUMS:
                    return "the checksum %s" % value
            elif name == "Metadata":
                if not isinstance(value, Mapping) or not all(
                        isinstance(v, str) and _PLAIN.match(str(k) + v) for k, v in value.items()):
                    return "metadata that is not plain ASCII text"
            elif name not in _HEADERS:
                return "the write parameter %s" % name
            elif not isinstance(value, (str, bool)) or not _PLAIN.match(str(value)):
                return "a %s that is not plain ASCII text" % name
        return None

    def put(self, key: str, item: Prepared, args: Mapping[str, Any]) -> str | None:
        """PutObject of ``item`` at ``key`` with ``args``; the ETag given."""
        headers = {"Content-MD5": base64.b64encode(bytes.fromhex(item.md5)).decode()}
        for name, value in args.items():
            if name == "Metadata":
                headers.update({"x-amz-meta-%s" % k: v for k, v in value.items()})
            elif name != "ChecksumAlgorithm":
                headers[_HEADERS[name]] = str(value).lower() if isinstance(value, bool) else value
        with item.body() as body:
            data = body.read()
        algorithm = str(args.get("ChecksumAlgorithm", "")).upper()
        if algorithm:
            headers["x-amz-sdk-checksum-algorithm"] = algorithm
            headers["x-amz-checksum-%s" % algorithm.lower()] = base64.b64encode(
                _CHECKSUMS[algorithm](data)).decode()
        response = self.send("PUT", self.path(key), headers, data, "PutObject")
        return fp.normalize_etag(response.headers.get("ETag"))


class WrongRegion(Exception):
    """The bucket is in another region than the one configured: boto3
    follows S3's redirect, these requests do not."""


class _Signer:
    """SigV4 headers for one request (botocore's S3 signer; the payload's
    SHA-256 is always signed, as boto3 does over plain HTTP)."""

    def __init__(self, credentials: Any, region: str) -> None:
        self.credentials = credentials
        self.region = region
        self._lock = threading.Lock()

    def __call__(self, method: str, url: str, headers: dict[str, str],
                 body: bytes) -> dict[str, str]:
        from botocore.auth import S3SigV4Auth
        from botocore.awsrequest import AWSRequest

        request = AWSRequest(method=method, url=url, headers=headers, data=body)
        with self._lock:  # refreshable credentials refresh under one lock
            frozen = self.credentials.get_frozen_credentials()
        S3SigV4Auth(frozen, "s3", self.region).add_auth(request)
        return dict(request.headers.items())


def _tls(verify: Any, session: Any) -> dict[str, Any]:
    """urllib3's certificate settings for ``verify`` as boto3 reads it: a
    CA bundle file, False (no check), or None/True (the session's
    ``ca_bundle`` setting, else botocore's bundle)."""
    from botocore.httpsession import get_cert_path

    if verify is False:
        return {"cert_reqs": "CERT_NONE"}
    if not isinstance(verify, str):
        core = getattr(session, "_session", None)
        verify = (core.get_config_variable("ca_bundle") if core is not None else None) or True
    return {"cert_reqs": "CERT_REQUIRED", "ca_certs": get_cert_path(verify)}


def _aws_host(region: str) -> str:
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return "s3.%s.%s" % (region, suffix)


def _entry(entry: ElementTree.Element, space: str, encoded: bool) -> RemoteState:
    """One ``<Contents>`` of a ListObjectsV2 page (keys URL-decoded when the
    page says ``encoding-type=url``, as botocore decodes them)."""
    key = entry.findtext(space + "Key") or ""
    size = entry.findtext(space + "Size")
    return RemoteState(fp.normalize_etag(entry.findtext(space + "ETag")),
                       int(size) if size else None, key=unquote_plus(key) if encoded else key,
                       modified=_iso_time(entry.findtext(space + "LastModified")))


def _iso_time(value: str | None) -> float | None:
    """A listing's LastModified (ISO 8601) as seconds since the epoch."""
    from datetime import datetime

    if not value:
        return None
    try:
        return timestamp(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        return None


def _client_error(response: Any, operation: str) -> Exception:
    """botocore's ClientError for an S3 error answer: its Code and Message,
    the status, the headers (as boto3 would raise it)."""
    from botocore.exceptions import ClientError

    code, message = str(response.status), ""
    try:
        root = ElementTree.fromstring(response.data) if response.data else None
    except ElementTree.ParseError:
        root = None
    if root is not None:
        code = root.findtext("Code") or code
        message = root.findtext("Message") or ""
    headers = {k.lower(): v for k, v in response.headers.items()}
    error: Exception = ClientError({"Error": {"Code": code, "Message": message},
                                    "ResponseMetadata": {"HTTPStatusCode": response.status,
                                                         "HTTPHeaders": headers}}, operation)
    return error
