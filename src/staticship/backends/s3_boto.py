"""The S3 path without obstore: one boto3 client shared by every worker,
built as the storage builds its own (its session, endpoint, region, verify
and client config: signature, addressing style, checksum settings), with a
connection pool as large as the workers. Objects are written with the calls
and arguments the storage's ``upload_fileobj`` would make (s3transfer's own
lists of which ExtraArgs go on which call), in the part size staticship
predicts, so that the ETag is the one expected.

``S3Storage._save`` instead builds a boto3 resource per thread (64 threads,
64 clients: seconds of CPU) and a transfer manager per file."""

from __future__ import annotations

import threading
from contextlib import suppress
from datetime import datetime
from typing import Any

from .. import fingerprint as fp
from ..plan import RemoteState
from . import ranges
from .base import Prepared
from .cloud import timestamp
from .boto import share_loader


def shared_client(storage: Any, workers: int) -> Any:
    """A boto3 S3 client as ``S3Storage.connection`` makes one, with a pool
    of at least ``workers`` connections (botocore keeps 10 and discards the
    rest after each request)."""
    from botocore.config import Config

    config = storage.client_config
    pool = max(workers, getattr(config, "max_pool_connections", None) or 10)
    pooled = Config(max_pool_connections=pool)
    config = config.merge(pooled) if config is not None else pooled
    session = share_loader(storage._create_session())  # post-processing's sessions reuse its models
    _parse_iso_times_fast(session)
    return session.client("s3", region_name=storage.region_name, use_ssl=storage.use_ssl,
                          endpoint_url=storage.endpoint_url, config=config,
                          verify=storage.verify)


def _parse_iso_times_fast(session: Any) -> None:
    """Let this session's clients parse ISO 8601 times (a listing's
    LastModified) with ``datetime.fromisoformat``, other forms with
    botocore's own parser: the same values, and half the CPU a 1,000-entry
    ListObjectsV2 page costs (botocore tries dateutil first)."""
    from botocore.utils import parse_timestamp

    def parse(value: Any) -> Any:
        if isinstance(value, str) and "T" in value:
            try:
                parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                return parse_timestamp(value)
            if parsed.tzinfo is not None:
                return parsed
        return parse_timestamp(value)

    core = getattr(session, "_session", None)  # boto3's Session wraps botocore's
    factory: Any = core.get_component("response_parser_factory") if core is not None else None
    if hasattr(factory, "set_parser_defaults"):
        factory.set_parser_defaults(timestamp_parser=parse)


def upload_args(client: Any, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` (the storage's ExtraArgs) with the defaults the transfer
    manager adds (boto3 1.36+: a CRC32 checksum unless the client config
    says ``when_required``)."""
    args = dict(params)
    if getattr(client.meta.config, "request_checksum_calculation", None) == "when_supported":
        with suppress(ImportError):  # s3transfer before 0.11 adds none
            from s3transfer.utils import set_default_checksum_algorithm

            set_default_checksum_algorithm(args)
    return args


class BotoWriter:
    """Writes objects through one shared boto3 client (built on first use:
    a run with nothing to upload builds none)."""

    def __init__(self, storage: Any, workers: int) -> None:
        self.storage = storage
        self.workers = workers
        self._client: Any = None
        self._lock = threading.Lock()

    @property
    def built(self) -> bool:
        return self._client is not None

    @property
    def client(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = shared_client(self.storage, self.workers)
        return self._client

    @staticmethod
    def list_range(client: Any, bucket: str, prefix: str, bounds: ranges.Range) -> ranges.Listed:
        """One range of the listing under ``prefix``, through ``client``."""
        states: list[RemoteState] = []
        pages = 0
        start = {"StartAfter": bounds[0]} if bounds[0] is not None else {}
        paginator = client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix, **start):
            pages += 1
            if ranges.clip((RemoteState(
                    fp.normalize_etag(entry.get("ETag")), entry.get("Size"), key=entry["Key"],
                    modified=timestamp(entry.get("LastModified")))
                    for entry in page.get("Contents", ())), bounds, states):
                return states, pages
        return states, pages

    def put(self, client: Any, bucket: str, key: str, item: Prepared, multipart: bool,
            part_size: int) -> str | None:
        """Write ``item`` through ``client`` (the shared one, unless the
        storage builds its connection its own way) as ``upload_fileobj``
        would, in parts of ``part_size`` when ``multipart``; the ETag the
        store gave."""
        from s3transfer.upload import UploadSubmissionTask as Task

        args = upload_args(client, item.params)
        if multipart:
            return _put_parts(client, bucket, key, item, part_size, args)
        args = {k: v for k, v in args.items() if k not in Task.PUT_OBJECT_BLOCKLIST}
        with item.body() as body:
            response = client.put_object(Bucket=bucket, Key=key, Body=body, **args)
        return fp.normalize_etag(response.get("ETag"))


def _put_parts(client: Any, bucket: str, key: str, item: Prepared, part_size: int,
               args: dict[str, Any]) -> str | None:
    """CreateMultipartUpload, the parts, CompleteMultipartUpload, each with
    the ExtraArgs the transfer manager gives that call (aborted on failure)."""
    from s3transfer.constants import FULL_OBJECT_CHECKSUM_ARGS
    from s3transfer.upload import UploadSubmissionTask as Task

    for checksum in FULL_OBJECT_CHECKSUM_ARGS:  # as the transfer manager does
        if checksum in args:
            args["ChecksumType"] = "FULL_OBJECT"
            args["ChecksumAlgorithm"] = checksum.replace("Checksum", "")
    create = {k: v for k, v in args.items() if k not in Task.CREATE_MULTIPART_BLOCKLIST}
    upload_id = client.create_multipart_upload(Bucket=bucket, Key=key, **create)["UploadId"]
    where = {"Bucket": bucket, "Key": key, "UploadId": upload_id}
    try:
        parts = _send_parts(client, where, item, part_size,
                            {k: v for k, v in args.items() if k in Task.UPLOAD_PART_ARGS})
        response = client.complete_multipart_upload(
            MultipartUpload={"Parts": parts}, **where,
            **{k: v for k, v in args.items() if k in Task.COMPLETE_MULTIPART_ARGS})
    except BaseException:
        with suppress(Exception):  # best effort; the error that matters is the first
            client.abort_multipart_upload(**where, **{
                k: v for k, v in args.items() if k in ("RequestPayer", "ExpectedBucketOwner")})
        raise
    return fp.normalize_etag(response.get("ETag"))


def _send_parts(client: Any, where: dict[str, Any], item: Prepared, part_size: int,
                args: dict[str, Any]) -> list[dict[str, Any]]:
    """UploadPart for each ``part_size`` slice of the body, in order."""
    checksum = "Checksum%s" % str(args.get("ChecksumAlgorithm", "")).upper()
    parts: list[dict[str, Any]] = []
    with item.body() as body:
        while True:
            chunk = body.read(part_size)
            if not chunk and parts:
                break
            number = len(parts) + 1
            response = client.upload_part(PartNumber=number, Body=chunk, **where, **args)
            part = {"ETag": response["ETag"], "PartNumber": number}
            if "ChecksumAlgorithm" in args and checksum in response:
                part[checksum] = response[checksum]
            parts.append(part)
            if len(chunk) < part_size:
                break
    return parts
