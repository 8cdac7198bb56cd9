"""Amazon S3 and S3-compatible stores (``storages.backends.s3.S3Storage``).

Listing: one paginated ListObjectsV2 over the storage's location; each entry's
ETag is the token. Fingerprint: the MD5 of the exact bytes the storage would
upload (gzip-compressed where the storage compresses), plus the multipart
ETag for files at or above the transfer manager's threshold. Upload: through
obstore where every write parameter maps onto it (same key, headers, ACL,
metadata, encryption), otherwise through one boto3 client shared by the
workers with the same arguments as the storage's own upload (``s3_boto``), or
through the storage's ``_save`` when a subclass writes its own way.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Collection, Mapping
from contextlib import suppress
from typing import Any

from django.core.files import File
from django.core.files.storage import Storage

from .. import fingerprint as fp
from ..plan import RemoteState
from ..sources import LocalFile
from . import ranges
from .base import MISSING, Prepared, overrides, prepare_body
from .cloud import GzipCloudAdapter, batches
from .errors import (
    Conflict, Explanation, TransferError, classify, configured_as, error_text, first_line, refused,
    Failure,
)
from .fast import Off
from .s3_boto import BotoWriter, upload_args
from .s3_fast import _ObstoreWriter, blocked
from .s3_http import HttpS3, WrongRegion
from .s3_headers import S3Headers

# S3Storage is imported only when a storage derives from it (boto3 takes a
# tenth of a second to import: runs on other stores do not pay for it).
SERVES = "storages.backends.s3.S3Storage"

def _one_line(exc: BaseException) -> str:
    """A one-line description of a boto3 or obstore error: the HTTP status
    and S3 error code as ``Failure`` reads them, then S3's ``<Message>`` (an
    obstore error carries the response body in a multi-line debug dump) or
    the first line."""
    failure, first = Failure.of(exc), first_line(exc)
    if failure.status or failure.code:
        head = " ".join(p for p in ("HTTP %d" % failure.status if failure.status else "",
                                    failure.code) if p)
        message = re.search(r"<Message>([^<]+)</Message>", str(exc))
        return "%s: %s" % (head, message.group(1) if message else first)
    if failure.unreachable:
        return "connection failed (%s)" % first
    return "%s: %s" % (type(exc).__name__, first)


# Answers to a conditional PutObject when the object is not the version read:
# 412 (If-Match / If-None-Match failed), 409 (a concurrent conditional write
# won), 404 (If-Match on an object deleted since). S3 and moto's server both
# honour If-Match and If-None-Match: * on PutObject (S3 since 2024; moto 5).
_CONFLICT_CODES = ("PreconditionFailed", "412", "ConditionalRequestConflict", "409",
                   "NoSuchKey", "404")


# S3 error codes worth retrying.
_TRANSIENT_CODES = ("SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout",
                    "500", "502", "503", "504", "Throttling")


def _conditions(expect: str | None) -> dict[str, str]:
    """PutObject's precondition for a write expecting version ``expect``."""
    if expect is None:
        return {}
    if expect == MISSING:
        return {"IfNoneMatch": "*"}
    return {"IfMatch": expect}


def _error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, Mapping):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


class S3Adapter(S3Headers, GzipCloudAdapter):
    """S3Storage and its subclasses: ETags as tokens, multipart ETags
    predicted from the transfer manager's settings."""

    label = "s3"
    serves = SERVES
    parameter_methods = ("_get_write_parameters", "get_object_parameters", "_normalize_name")
    where = "S3 bucket"
    client_name = "boto3"
    writes_own_way = ("_compress_content",)

    def __init__(self, storage: Storage, *, workers: int, fast_transfer: bool = True) -> None:
        super().__init__(storage, workers=workers, fast_transfer=fast_transfer)
        transfer = storage.transfer_config
        self.threshold: int = transfer.multipart_threshold
        self.chunk_size: int = transfer.multipart_chunksize
        self._etags: dict[str, str] = {}
        self._lock = threading.Lock()
        self._hooked: set[int] = set()
        #: Objects written by boto3 though plain HTTP requests were on.
        self.through_boto3 = 0
        self._boto = BotoWriter(storage, workers)
        self.fast_writer(_ObstoreWriter.for_storage)
        #: Plain HTTP requests where obstore is missing (``s3_http``).
        self._http: HttpS3 | None = None
        if self._fast is None and fast_transfer:
            self._http = HttpS3.build(storage, workers, SERVES)

    @classmethod
    def blocked(cls, storage: Storage) -> Off | None:
        return blocked(storage, cls.serves)

    # -- where -------------------------------------------------------------
    @property
    def client(self) -> Any:
        """One boto3 client for every call, unless the storage's class
        builds its connection its own way."""
        if overrides(self.storage, SERVES, "connection"):
            return self.storage.connection.meta.client
        return self._boto.client

    def warm_up(self) -> None:
        """Build the shared boto3 client, which reads and writes the state
        record (about 0.1 s of CPU: botocore's models), while obstore lists
        or uploads, which leave the GIL. A failure here is left for the first
        real use to raise; a client already built is not built again."""
        if ((self._fast is None and self._http is None)
                or overrides(self.storage, SERVES, "connection") or self._boto.built):
            return  # boto3 lists (the client is needed now), the storage's own, or built

        def build() -> None:
            with suppress(Exception):
                self._boto.client  # noqa: B018 - built for its side effect

        threading.Thread(target=build, daemon=True, name="staticship-client").start()

    # -- list --------------------------------------------------------------
    def inventory(self, expected: Collection[str] = ()) -> dict[str, RemoteState]:
        """ListObjectsV2, in key ranges side by side when many names are
        expected (see ``ranges``): through obstore, else plain HTTP, else boto3."""
        bounds = ranges.cut(self.prefix + name for name in expected)
        if self._fast is not None:
            try:
                return self._listed(bounds, self._fast.list_range)
            except Exception as exc:  # noqa: BLE001 - e.g. a key object_store cannot represent
                if refused(exc):  # boto3 would only retry for seconds
                    raise self._classify(exc, "") from exc
                # boto3 lists anything S3 can hold
        if self._http is not None:
            try:
                return self._listed(bounds, self._http.list_range)
            except WrongRegion:
                self._http = None  # boto3 follows S3's redirect to the bucket's region
        return self._listed(bounds, lambda prefix, part: self._boto.list_range(
            self.client, self.bucket_name, prefix, part))

    def _listed(self, bounds: list[ranges.Range],
                one: Callable[[str, ranges.Range], ranges.Listed]) -> dict[str, RemoteState]:
        """The ranges listed side by side by ``one(prefix, range)``, by name."""
        pieces = ranges.list_all(bounds, lambda part: one(self.prefix, part))
        cut = len(self.prefix)
        found: dict[str, RemoteState] = {}
        for states, pages in pieces:
            self.requests["LIST"] += pages
            for state in states:
                found[str(state.key)[cut:]] = state
        return found

    # -- fingerprint -------------------------------------------------------
    def _write_parameters(self, name: str) -> tuple[dict[str, Any], bool]:
        """The storage's ExtraArgs for ``name``, and whether it gzips the body
        (the same rule as ``S3Storage._save``)."""
        storage: Any = self.storage
        params = dict(storage._get_write_parameters(self.key(name)))
        gzipped = bool(
            storage.gzip
            and params["ContentType"] in storage.gzip_content_types
            and "ContentEncoding" not in params
        )
        if gzipped:
            params["ContentEncoding"] = "gzip"
        return params, gzipped

    def prepare(self, file: LocalFile, remote: RemoteState | None) -> Prepared:
        params, gzipped = self.write_parameters(file.name)
        item = prepare_body(file, params, fp.gzip_stream if gzipped else None)
        part_sizes = []
        if item.size >= self.threshold:
            part_sizes.append(fp.s3_part_size(item.size, self.chunk_size))
        parts = fp.parts_in_etag(remote.token) if remote and remote.token else None
        if parts and remote and remote.token not in item.tokens:
            part_sizes += fp.candidate_part_sizes(item.size, parts, part_sizes)
        for part_size in dict.fromkeys(part_sizes):
            with item.open() as body_file:
                item.tokens.add(fp.s3_multipart_etag(body_file, part_size))
            if remote and remote.token in item.tokens:
                break
        return item

    def expected_token(self, item: Prepared) -> str | None:
        if item.size < self.threshold:
            return item.md5
        with item.open() as body:
            return fp.s3_multipart_etag(body, fp.s3_part_size(item.size, self.chunk_size))

    # -- upload ------------------------------------------------------------
    def write(self, key: str, item: Prepared) -> str | None:
        multipart = item.size >= self.threshold
        part = fp.s3_part_size(item.size, self.chunk_size)
        off = self._fast.why_not(item.params, multipart) if self._fast is not None else None
        if self._fast is not None and off is None:
            etag: str | None = self._fast.put(key, item, multipart, part)
        else:
            self.went_slow(off)
            if self.own_save():
                return self._upload_through_storage(key, item, multipart)
            etag = self._write_without_obstore(key, item, multipart, part)
        self._count_put(item.size, multipart, part)
        return etag

    def _write_without_obstore(self, key: str, item: Prepared, multipart: bool,
                               part: int) -> str | None:
        """One plain PutObject with the ExtraArgs boto3 would send, when it
        can carry them all; else boto3's own calls."""
        if self._http is not None:
            args = upload_args(self.client, item.params)
            if self._http.why_not(key, args, multipart, item.size) is None:
                return self._http.put(key, item, args)
            with self._lock:
                self.through_boto3 += 1
        return self._boto.put(self.client, self.bucket_name, key, item, multipart, part)

    def slow_via(self) -> str:
        if self._http is None or self.own_save():
            return super().slow_via()
        return "HTTP requests signed by botocore" + (" and boto3" if self.through_boto3 else "")

    def _count_put(self, size: int, multipart: bool, part: int) -> None:
        if multipart:
            self.requests["POST"] += 2  # create + complete
            self.requests["PUT"] += max(1, -(-size // part))
        else:
            self.requests["PUT"] += 1

    def _upload_through_storage(self, key: str, item: Prepared, multipart: bool) -> str | None:
        self._hook_client()
        with item.source() as source:
            self.storage._save(item.file.name, File(source, name=item.file.name))
        self._count_put(item.size, multipart, fp.s3_part_size(item.size, self.chunk_size))
        with self._lock:
            return self._etags.pop(key, None)

    def _hook_client(self) -> None:
        """Note the ETag of every object the storage's (thread-local) client
        writes, so that uploads through ``_save`` report it as obstore's do."""
        client = self.storage.connection.meta.client
        if id(client) in self._hooked:
            return
        with self._lock:
            if id(client) in self._hooked:
                return
            self._hooked.add(id(client))

        def remember_key(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
            context["staticship_key"] = params.get("Key")

        def remember_etag(parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
            key = context.get("staticship_key")
            if key and parsed.get("ETag"):
                with self._lock:
                    self._etags[key] = fp.normalize_etag(parsed["ETag"]) or ""

        events = client.meta.events
        for op in ("PutObject", "CompleteMultipartUpload"):
            events.register("before-parameter-build.s3.%s" % op, remember_key)
            events.register("after-call.s3.%s" % op, remember_etag)

    # -- small objects -----------------------------------------------------
    def record_read_parameters(self, name: str) -> dict[str, Any]:
        """What django-storages sends to read an object back (SSE-C keys,
        requester pays, expected owner): a record written with an SSE-C key
        cannot be read without it."""
        from s3transfer.constants import ALLOWED_DOWNLOAD_ARGS

        storage: Any = self.storage
        params = storage.get_object_parameters(self.key(name))
        return {k: v for k, v in params.items() if k in ALLOWED_DOWNLOAD_ARGS and k != "VersionId"}

    def read_versioned(self, name: str) -> tuple[bytes | None, str | None]:
        self.requests["GET"] += 1
        params = self.record_read_parameters(name)
        try:
            response = self.client.get_object(Bucket=self.bucket_name, Key=self.key(name), **params)
        except Exception as exc:  # noqa: BLE001
            if _error_code(exc) in ("NoSuchKey", "404"):
                return None, MISSING
            raise self._classify(exc, self.key(name)) from exc
        return response["Body"].read(), response.get("ETag")

    def record_parameters(self, name: str, content_type: str) -> dict[str, Any]:
        """The storage's write parameters for one of our records (ACL,
        encryption, object parameters: a bucket policy that requires them
        refuses objects without), with the record's content type and no
        ContentEncoding (the record is sent as it is, never gzipped)."""
        storage: Any = self.storage
        params = dict(storage._get_write_parameters(self.key(name)))
        params.pop("ContentEncoding", None)
        params["ContentType"] = content_type
        return params

    def write_small(
        self, name: str, data: bytes, content_type: str, *, expect: str | None = None
    ) -> None:
        self.requests["PUT"] += 1
        params = self.record_parameters(name, content_type)
        try:
            self.client.put_object(Bucket=self.bucket_name, Key=self.key(name), Body=data, **params,
                                   **_conditions(expect))
        except Exception as exc:  # noqa: BLE001
            code = _error_code(exc)
            if expect is not None and code in _CONFLICT_CODES:
                raise Conflict("%s changed since it was read" % self.key(name)) from exc
            if expect is not None and code in ("NotImplemented", "501"):
                # An S3-compatible store without conditional writes (stores
                # that ignore the headers behave the same): last writer wins.
                return self.write_small(name, data, content_type)
            raise self._classify(exc, self.key(name)) from exc

    def delete_many(self, keys: list[str]) -> None:
        for chunk in batches(keys, 1000):  # DeleteObjects takes 1,000 keys
            batch = [{"Key": key} for key in chunk]
            self.requests["POST"] += 1
            response = self.client.delete_objects(
                Bucket=self.bucket_name, Delete={"Objects": batch, "Quiet": True}
            )
            errors = response.get("Errors") or []
            if errors:
                first = errors[0]
                raise TransferError(
                    "could not delete %s: %s" % (first.get("Key"), first.get("Message"))
                )

    # -- errors ------------------------------------------------------------
    def _classify(self, exc: BaseException, key: str) -> TransferError:
        return classify(exc, key, "key", _one_line(exc), codes=_TRANSIENT_CODES)

    def explain(self, exc: BaseException) -> Explanation | None:
        failure, text = Failure.of(exc), error_text(exc)
        bucket = self.named()
        if failure.code == "NoSuchBucket":
            return self.missing(configured_as("bucket_name", "AWS_STORAGE_BUCKET_NAME"))
        if failure.code == "AccessControlListNotSupported" or (
                failure.code == "NotImplemented" and "x-amz-acl" in text):  # the header refused
            return Explanation(
                "the %s does not accept ACLs" % bucket,
                "set %s to None (and remove any ACL from %s)"
                % (configured_as("default_acl", "AWS_DEFAULT_ACL"),
                   configured_as("object_parameters", "AWS_S3_OBJECT_PARAMETERS")))
        if failure.code == "XAmzContentSHA256Mismatch" or (
                failure.code in ("InvalidArgument", "NotImplemented", "InvalidRequest")
                and "checksum" in text.lower()):  # the header or algorithm refused
            return Explanation(
                "the store refused the request checksum that boto3 1.36+ sends by default",
                "pass botocore's Config(request_checksum_calculation='when_required') as %s"
                % configured_as("client_config", "AWS_S3_CLIENT_CONFIG"))
        if failure.code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "Unauthenticated") \
                or failure.status == 401:
            return Explanation(
                "the S3 credentials were rejected",
                "check the access key and secret (%s, %s, or the AWS_* environment variables)"
                % (configured_as("access_key", "AWS_S3_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID"),
                   configured_as("secret_key", "AWS_S3_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY")))
        if failure.code == "AccessDenied" or failure.status == 403:
            return self.denied(
                "give the credentials s3:ListBucket, s3:GetObject and s3:PutObject on it "
                "(and s3:DeleteObject for --prune and --clear)")
        if failure.unreachable:
            endpoint = getattr(self.storage, "endpoint_url", None) or "the S3 endpoint"
            return Explanation(
                "%s cannot be reached" % endpoint,
                "check %s and the network"
                % configured_as("endpoint_url", "AWS_S3_ENDPOINT_URL"))
        return None
