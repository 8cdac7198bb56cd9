"""An in-memory, S3-compatible HTTP server for benchmarking collectstatic.

Why not moto: on a 2-core machine moto serves roughly 150 requests a second,
so a benchmark against it measures moto.  This server answers from memory on
a single asyncio event loop, keeps HTTP/1.1 connections alive, accepts any
number of concurrent connections and adds a configurable, *non-blocking*
per-request latency (``asyncio.sleep``), so the latency of one request never
delays another one.

Only the subset of the S3 API that Django's stock collectstatic (through
django-storages/boto3), Collectfasta and staticship use is implemented:

* ListObjectsV2 and ListObjects (v1): prefix, delimiter, max-keys (<= 1000),
  continuation-token / start-after / marker, encoding-type=url.
* HeadObject, GetObject (with an optional single byte range).
* PutObject (persists Content-Type, Content-Encoding, Cache-Control,
  Content-Disposition, Content-Language, Expires, x-amz-acl, x-amz-meta-*,
  x-amz-server-side-encryption, x-amz-storage-class; ETag = MD5 of the body).
* CopyObject (metadata directive COPY or REPLACE).
* DeleteObject and DeleteObjects (``POST ?delete``).
* Create/UploadPart/Complete/AbortMultipartUpload with S3's multipart ETag,
  ``md5(concatenated part MD5 digests)-N``.
* HeadBucket, CreateBucket, DeleteBucket, ListBuckets.

Bodies sent with ``Transfer-Encoding: chunked`` and/or
``Content-Encoding: aws-chunked`` (boto3 >= 1.36 sends trailing checksums this
way) are decoded.  Signatures are not verified: any credentials work.
Addressing is path-style only: ``http://127.0.0.1:PORT/bucket/key``.

Control endpoints live under ``/_bench/`` (a bucket name cannot start with an
underscore, so they cannot clash):

* ``GET  /_bench/stats``                      request counts, as JSON
* ``POST /_bench/reset``                      zero the counters
* ``POST /_bench/latency?ms=N``               change the per-request latency
* ``POST /_bench/seed?bucket=B&prefix=P&count=N[&size=S]``
                                              create N objects in memory
* ``POST /_bench/wipe?bucket=B``              delete every object of B
* ``GET  /_bench/object?bucket=B&key=K``      stored metadata of one object
* ``GET  /_bench/cache-control?bucket=B&prefix=P``  each object's Cache-Control
* ``GET  /_bench/etags?bucket=B[&prefix=P]``  {key: [etag, size, type, encoding]}
* ``POST /_bench/snapshot?bucket=B&name=N``   remember B's objects (in memory)
* ``POST /_bench/restore?bucket=B&name=N``    put them back (cheap: no copy of data)

Run it with ``python -m bench.s3server --port 9000 --latency-ms 20``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import bisect
import datetime as _dt
import hashlib
import json
import os
import secrets
import signal
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime
from urllib.parse import parse_qsl, quote, unquote
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape as _xml_escape

S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/"

# Request headers that are stored with an object and sent back on HEAD/GET.
STORED_HEADERS = (
    "content-type",
    "content-encoding",
    "cache-control",
    "content-disposition",
    "content-language",
    "expires",
    "x-amz-server-side-encryption",
    "x-amz-server-side-encryption-aws-kms-key-id",
    "x-amz-storage-class",
    "x-amz-website-redirect-location",
)

REASONS = {
    200: "OK",
    204: "No Content",
    206: "Partial Content",
    304: "Not Modified",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    411: "Length Required",
    412: "Precondition Failed",
    416: "Requested Range Not Satisfiable",
    500: "Internal Server Error",
    501: "Not Implemented",
}


def xml_text(value: str) -> str:
    return _xml_escape(value, {'"': "&quot;"})


def iso8601(ts: float) -> str:
    dt = _dt.datetime.fromtimestamp(int(ts), tz=_dt.timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def http_date(ts: float) -> str:
    return formatdate(int(ts), usegmt=True)


class S3Error(Exception):
    def __init__(self, status: int, code: str, message: str, resource: str = ""):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.resource = resource


@dataclass
class S3Object:
    key: str
    data: bytes
    etag: str  # without quotes
    last_modified: float
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    meta: dict[str, str] = field(default_factory=dict)  # x-amz-meta-* (lower-case suffix)
    acl: str | None = None
    parts: int = 0  # number of parts for multipart objects, else 0


@dataclass
class Upload:
    key: str
    headers: dict[str, str]
    meta: dict[str, str]
    acl: str | None
    parts: dict[int, tuple[bytes, str]] = field(default_factory=dict)


class Bucket:
    """Objects by key, plus a sorted key list so listings are O(page)."""

    def __init__(self, name: str):
        self.name = name
        self.created = time.time()
        self.objects: dict[str, S3Object] = {}
        self.keys: list[str] = []
        self.uploads: dict[str, Upload] = {}

    def put(self, obj: S3Object) -> None:
        if obj.key not in self.objects:
            bisect.insort(self.keys, obj.key)
        self.objects[obj.key] = obj

    def put_many(self, objs: list[S3Object]) -> None:
        fresh = False
        for obj in objs:
            if obj.key not in self.objects:
                fresh = True
            self.objects[obj.key] = obj
        if fresh:
            self.keys = sorted(self.objects)

    def delete(self, key: str) -> bool:
        if key in self.objects:
            del self.objects[key]
            i = bisect.bisect_left(self.keys, key)
            if i < len(self.keys) and self.keys[i] == key:
                del self.keys[i]
            return True
        return False

    def wipe(self) -> None:
        self.objects.clear()
        self.keys.clear()
        self.uploads.clear()


class Store:
    def __init__(self) -> None:
        self.buckets: dict[str, Bucket] = {}

    def bucket(self, name: str) -> Bucket:
        try:
            return self.buckets[name]
        except KeyError:
            raise S3Error(404, "NoSuchBucket", "The specified bucket does not exist", name) from None


# --------------------------------------------------------------------------
# Body decoding


def decode_http_chunked(raw: bytes) -> bytes:
    """Decode an HTTP/1.1 ``Transfer-Encoding: chunked`` body (already read)."""
    out = bytearray()
    pos = 0
    n = len(raw)
    while pos < n:
        eol = raw.index(b"\r\n", pos)
        size = int(raw[pos:eol].split(b";", 1)[0].strip() or b"0", 16)
        pos = eol + 2
        if size == 0:
            break
        out += raw[pos : pos + size]
        pos += size + 2
    return bytes(out)


def decode_aws_chunked(raw: bytes) -> bytes:
    """Decode S3's ``aws-chunked`` framing and drop the trailing checksums.

    Each chunk is ``hex-size[;chunk-signature=...]\\r\\n<data>\\r\\n``; a
    zero-size chunk ends the data and is followed by trailer lines
    (``x-amz-checksum-crc32:...``) and an empty line.
    """
    out = bytearray()
    pos = 0
    n = len(raw)
    while pos < n:
        eol = raw.index(b"\r\n", pos)
        size = int(raw[pos:eol].split(b";", 1)[0].strip() or b"0", 16)
        pos = eol + 2
        if size == 0:
            break
        out += raw[pos : pos + size]
        pos += size
        if raw[pos : pos + 2] == b"\r\n":
            pos += 2
    return bytes(out)


async def read_http_chunked(reader: asyncio.StreamReader) -> bytes:
    out = bytearray()
    while True:
        line = await reader.readuntil(b"\r\n")
        size = int(line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            # Trailer section: lines until an empty one.
            while True:
                trailer = await reader.readuntil(b"\r\n")
                if trailer == b"\r\n":
                    break
            return bytes(out)
        out += await reader.readexactly(size)
        await reader.readexactly(2)


# --------------------------------------------------------------------------
# The S3 application


class Request:
    __slots__ = ("method", "path", "query", "headers", "body", "bucket", "key")

    def __init__(self, method: str, target: str, headers: dict[str, str], body: bytes):
        self.method = method
        path, _, qs = target.partition("?")
        self.path = path
        # keep_blank_values: "?uploads", "?delete" and "?list-type=2&prefix=".
        self.query = dict(parse_qsl(qs, keep_blank_values=True))
        self.headers = headers
        self.body = body
        parts = path.lstrip("/").split("/", 1)
        self.bucket = unquote(parts[0]) if parts and parts[0] else ""
        self.key = unquote(parts[1]) if len(parts) > 1 else ""


class Response:
    __slots__ = ("status", "headers", "body")

    def __init__(self, status: int = 200, headers: dict[str, str] | None = None, body: bytes = b""):
        self.status = status
        self.headers = headers or {}
        self.body = body


def xml_response(body: str, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    h = {"Content-Type": "application/xml"}
    if headers:
        h.update(headers)
    return Response(status, h, ('<?xml version="1.0" encoding="UTF-8"?>\n' + body).encode())


def error_response(err: S3Error, method: str) -> Response:
    body = (
        f"<Error><Code>{err.code}</Code><Message>{xml_text(err.message)}</Message>"
        f"<Resource>{xml_text(err.resource)}</Resource>"
        f"<RequestId>{secrets.token_hex(8)}</RequestId></Error>"
    )
    resp = xml_response(body, err.status)
    if method == "HEAD":
        resp.body = b""
    return resp


def kind_of(req: Request) -> tuple[str, str]:
    """(coarse kind, S3 operation) for the request counters."""
    m, q = req.method, req.query
    if not req.bucket:
        return ("LIST", "ListBuckets")
    if not req.key:
        if m == "GET":
            if "list-type" in q:
                return ("LIST", "ListObjectsV2")
            if "uploads" in q:
                return ("LIST", "ListMultipartUploads")
            if "location" in q:
                return ("GET", "GetBucketLocation")
            return ("LIST", "ListObjects")
        if m == "HEAD":
            return ("HEAD", "HeadBucket")
        if m == "PUT":
            return ("PUT", "CreateBucket")
        if m == "POST" and "delete" in q:
            return ("POST", "DeleteObjects")
        if m == "DELETE":
            return ("DELETE", "DeleteBucket")
        return (m, "Bucket" + m)
    if m == "GET":
        return ("GET", "GetObject")
    if m == "HEAD":
        return ("HEAD", "HeadObject")
    if m == "PUT":
        if "partNumber" in q and "uploadId" in q:
            return ("PUT", "UploadPart")
        if "x-amz-copy-source" in req.headers:
            return ("PUT", "CopyObject")
        return ("PUT", "PutObject")
    if m == "POST":
        if "uploads" in q:
            return ("POST", "CreateMultipartUpload")
        if "uploadId" in q:
            return ("POST", "CompleteMultipartUpload")
        return ("POST", "PostObject")
    if m == "DELETE":
        if "uploadId" in q:
            return ("DELETE", "AbortMultipartUpload")
        return ("DELETE", "DeleteObject")
    return (m, m)


def split_metadata(headers: dict[str, str]) -> tuple[dict[str, str], dict[str, str], str | None]:
    stored = {}
    for name in STORED_HEADERS:
        if name in headers:
            value = headers[name]
            if name == "content-encoding":
                # aws-chunked is a transfer framing, not a property of the object.
                encs = [e.strip() for e in value.split(",") if e.strip() and e.strip() != "aws-chunked"]
                if not encs:
                    continue
                value = ",".join(encs)
            stored[name] = value
    if "content-type" not in stored:
        stored["content-type"] = "binary/octet-stream"
    meta = {k[len("x-amz-meta-") :]: v for k, v in headers.items() if k.startswith("x-amz-meta-")}
    return stored, meta, headers.get("x-amz-acl")


class S3App:
    def __init__(self, latency_ms: float = 20.0):
        self.store = Store()
        self.latency = latency_ms / 1000.0
        self.counts: Counter[str] = Counter()
        self.ops: Counter[str] = Counter()
        self.bytes_in = 0
        self.bytes_out = 0
        self.lock = threading.Lock()  # for in-process callers from other threads
        self.started = time.time()
        # name -> (objects, sorted keys); objects are never mutated in place,
        # so a shallow copy is a consistent snapshot.
        self.snapshots: dict[str, tuple[dict[str, S3Object], list[str]]] = {}

    # ---- stats ------------------------------------------------------------

    def stats(self) -> dict:
        return {
            "total": sum(self.counts.values()),
            "by_kind": dict(sorted(self.counts.items())),
            "by_op": dict(sorted(self.ops.items())),
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "latency_ms": self.latency * 1000.0,
            "objects": {name: len(b.objects) for name, b in self.store.buckets.items()},
        }

    def reset(self) -> None:
        self.counts.clear()
        self.ops.clear()
        self.bytes_in = 0
        self.bytes_out = 0

    def seed(self, bucket: str, prefix: str, count: int, size: int = 1024) -> int:
        """Create ``count`` distinct objects under ``prefix`` straight in memory."""
        b = self.store.buckets.get(bucket)
        if b is None:
            b = self.store.buckets[bucket] = Bucket(bucket)
        filler = (b"/* an asset from an older deployment */\n" * (size // 40 + 1))[: max(size - 24, 0)]
        now = time.time() - 86400
        objs = []
        for i in range(count):
            key = f"{prefix}{i // 1000:03d}/old-{i:07d}.js"
            data = b"// old %010d\n" % i + filler
            objs.append(
                S3Object(
                    key=key,
                    data=data,
                    etag=hashlib.md5(data).hexdigest(),
                    last_modified=now,
                    headers={"content-type": "text/javascript"},
                )
            )
        b.put_many(objs)
        return count

    # ---- dispatch ---------------------------------------------------------

    def control(self, req: Request) -> Response:
        what = req.path[len("/_bench/") :].strip("/")
        q = req.query
        if what == "stats":
            payload = self.stats()
        elif what == "reset":
            payload = self.stats()
            self.reset()
        elif what == "latency":
            self.latency = float(q.get("ms", "0")) / 1000.0
            payload = {"latency_ms": self.latency * 1000.0}
        elif what == "seed":
            n = self.seed(q["bucket"], q.get("prefix", ""), int(q.get("count", "0")), int(q.get("size", "1024")))
            payload = {"seeded": n, "objects": len(self.store.buckets[q["bucket"]].objects)}
        elif what == "wipe":
            b = self.store.buckets.get(q["bucket"])
            if b is not None:
                b.wipe()
            payload = {"wiped": q["bucket"]}
        elif what == "snapshot":
            b = self.store.bucket(q["bucket"])
            self.snapshots[q["name"]] = (dict(b.objects), list(b.keys))
            payload = {"snapshot": q["name"], "objects": len(b.objects)}
        elif what == "restore":
            objects, keys = self.snapshots[q["name"]]
            b = self.store.buckets.get(q["bucket"])
            if b is None:
                b = self.store.buckets[q["bucket"]] = Bucket(q["bucket"])
            b.objects, b.keys, b.uploads = dict(objects), list(keys), {}
            payload = {"restored": q["name"], "objects": len(b.objects)}
        elif what == "drop-snapshots":
            self.snapshots.clear()
            payload = {"dropped": True}
        elif what == "etags":
            b = self.store.bucket(q["bucket"])
            prefix = q.get("prefix", "")
            payload = {
                k: [o.etag, len(o.data), o.headers.get("content-type"), o.headers.get("content-encoding")]
                for k, o in b.objects.items()
                if k.startswith(prefix)
            }
        elif what == "cache-control":
            b = self.store.bucket(q["bucket"])
            prefix = q.get("prefix", "")
            payload = {k: o.headers.get("cache-control") for k, o in b.objects.items() if k.startswith(prefix)}
        elif what == "object":
            o = self.store.bucket(q["bucket"]).objects.get(q["key"])
            if o is None:
                return Response(404, {"Content-Type": "application/json"}, b"{}")
            payload = {
                "key": o.key,
                "size": len(o.data),
                "etag": o.etag,
                "headers": o.headers,
                "meta": o.meta,
                "acl": o.acl,
                "parts": o.parts,
            }
        elif what == "ping":
            payload = {"ok": True}
        else:
            return Response(404, {"Content-Type": "application/json"}, b'{"error": "unknown control endpoint"}')
        return Response(200, {"Content-Type": "application/json"}, json.dumps(payload).encode())

    def handle(self, req: Request) -> Response:
        if req.path.startswith("/_bench/"):
            return self.control(req)
        kind, op = kind_of(req)
        self.counts[kind] += 1
        self.ops[op] += 1
        self.bytes_in += len(req.body)
        try:
            handler = getattr(self, "op_" + op, None)
            if handler is None:
                raise S3Error(501, "NotImplemented", f"{op} is not implemented by the bench server")
            resp = handler(req)
        except S3Error as err:
            resp = error_response(err, req.method)
        if req.method != "HEAD":
            self.bytes_out += len(resp.body)
        return resp

    # ---- buckets ----------------------------------------------------------

    def op_ListBuckets(self, req: Request) -> Response:
        items = "".join(
            f"<Bucket><Name>{xml_text(b.name)}</Name><CreationDate>{iso8601(b.created)}</CreationDate></Bucket>"
            for b in sorted(self.store.buckets.values(), key=lambda b: b.name)
        )
        return xml_response(
            f'<ListAllMyBucketsResult xmlns="{S3_NS}"><Owner><ID>bench</ID><DisplayName>bench</DisplayName></Owner>'
            f"<Buckets>{items}</Buckets></ListAllMyBucketsResult>"
        )

    def op_CreateBucket(self, req: Request) -> Response:
        if req.bucket not in self.store.buckets:
            self.store.buckets[req.bucket] = Bucket(req.bucket)
        return Response(200, {"Location": "/" + req.bucket})

    def op_HeadBucket(self, req: Request) -> Response:
        self.store.bucket(req.bucket)
        return Response(200, {"x-amz-bucket-region": "us-east-1"})

    def op_DeleteBucket(self, req: Request) -> Response:
        b = self.store.bucket(req.bucket)
        if b.objects:
            raise S3Error(409, "BucketNotEmpty", "The bucket you tried to delete is not empty", req.bucket)
        del self.store.buckets[req.bucket]
        return Response(204)

    def op_GetBucketLocation(self, req: Request) -> Response:
        self.store.bucket(req.bucket)
        return xml_response(f'<LocationConstraint xmlns="{S3_NS}"/>')

    # ---- listings ---------------------------------------------------------

    def _walk(self, b: Bucket, prefix: str, delimiter: str, after: str, max_keys: int):
        """Yield up to max_keys entries (key or common prefix) after ``after``.

        Returns (contents, common_prefixes, truncated, last_item).
        """
        keys = b.keys
        start = bisect.bisect_right(keys, after) if after else 0
        if prefix:
            start = max(start, bisect.bisect_left(keys, prefix))
        contents: list[S3Object] = []
        prefixes: list[str] = []
        last = None
        i = start
        n = len(keys)
        # A common prefix that "after" ends inside of was returned already.
        skip_cp = after if (delimiter and after.endswith(delimiter)) else None
        while i < n:
            key = keys[i]
            if prefix and not key.startswith(prefix):
                break
            if skip_cp is not None and key.startswith(skip_cp):
                i = bisect.bisect_left(keys, skip_cp + "\U0010ffff", i)
                continue
            if delimiter:
                j = key.find(delimiter, len(prefix))
                if j >= 0:
                    cp = key[: j + len(delimiter)]
                    if len(contents) + len(prefixes) >= max_keys:
                        return contents, prefixes, True, last
                    prefixes.append(cp)
                    last = cp
                    skip_cp = cp
                    i = bisect.bisect_left(keys, cp + "\U0010ffff", i)
                    continue
            if len(contents) + len(prefixes) >= max_keys:
                return contents, prefixes, True, last
            contents.append(b.objects[key])
            last = key
            i += 1
        return contents, prefixes, False, last

    def _list(self, req: Request, v2: bool) -> Response:
        b = self.store.bucket(req.bucket)
        q = req.query
        prefix = q.get("prefix", "")
        delimiter = q.get("delimiter", "")
        encode = q.get("encoding-type") == "url"
        try:
            max_keys = int(q.get("max-keys", "1000"))
        except ValueError:
            raise S3Error(400, "InvalidArgument", "Provided max-keys not an integer or within integer range") from None
        max_keys = max(0, min(max_keys, 1000))
        token = q.get("continuation-token")
        if v2:
            if token is not None:
                try:
                    after = base64.urlsafe_b64decode(token.encode()).decode()
                except Exception:
                    raise S3Error(400, "InvalidArgument", "The continuation token provided is incorrect") from None
            else:
                after = q.get("start-after", "")
        else:
            after = q.get("marker", "")
        contents, prefixes, truncated, last = self._walk(b, prefix, delimiter, after, max_keys)

        def enc(s: str) -> str:
            return xml_text(quote(s, safe="/~") if encode else s)

        parts = [f'<ListBucketResult xmlns="{S3_NS}"><Name>{xml_text(b.name)}</Name><Prefix>{enc(prefix)}</Prefix>']
        if v2:
            if token is not None:
                parts.append(f"<ContinuationToken>{xml_text(token)}</ContinuationToken>")
            if "start-after" in q:
                parts.append(f"<StartAfter>{enc(q['start-after'])}</StartAfter>")
            parts.append(f"<KeyCount>{len(contents) + len(prefixes)}</KeyCount>")
        else:
            parts.append(f"<Marker>{enc(after)}</Marker>")
        parts.append(f"<MaxKeys>{max_keys}</MaxKeys>")
        if delimiter:
            parts.append(f"<Delimiter>{enc(delimiter)}</Delimiter>")
        if encode:
            parts.append("<EncodingType>url</EncodingType>")
        parts.append(f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>")
        if truncated and last is not None:
            if v2:
                tok = base64.urlsafe_b64encode(last.encode()).decode()
                parts.append(f"<NextContinuationToken>{tok}</NextContinuationToken>")
            elif delimiter:
                parts.append(f"<NextMarker>{enc(last)}</NextMarker>")
        for o in contents:
            parts.append(
                f"<Contents><Key>{enc(o.key)}</Key><LastModified>{iso8601(o.last_modified)}</LastModified>"
                f"<ETag>&quot;{o.etag}&quot;</ETag><Size>{len(o.data)}</Size>"
                f"<StorageClass>{xml_text(o.headers.get('x-amz-storage-class', 'STANDARD'))}</StorageClass></Contents>"
            )
        for cp in prefixes:
            parts.append(f"<CommonPrefixes><Prefix>{enc(cp)}</Prefix></CommonPrefixes>")
        parts.append("</ListBucketResult>")
        return xml_response("".join(parts))

    def op_ListObjectsV2(self, req: Request) -> Response:
        return self._list(req, v2=True)

    def op_ListObjects(self, req: Request) -> Response:
        return self._list(req, v2=False)

    def op_ListMultipartUploads(self, req: Request) -> Response:
        b = self.store.bucket(req.bucket)
        items = "".join(
            f"<Upload><Key>{xml_text(u.key)}</Key><UploadId>{uid}</UploadId></Upload>"
            for uid, u in sorted(b.uploads.items(), key=lambda kv: kv[1].key)
        )
        return xml_response(
            f'<ListMultipartUploadsResult xmlns="{S3_NS}"><Bucket>{xml_text(b.name)}</Bucket>'
            f"<IsTruncated>false</IsTruncated>{items}</ListMultipartUploadsResult>"
        )

    # ---- objects ----------------------------------------------------------

    def _get_obj(self, req: Request) -> S3Object:
        b = self.store.bucket(req.bucket)
        o = b.objects.get(req.key)
        if o is None:
            raise S3Error(404, "NoSuchKey", "The specified key does not exist.", req.key)
        return o

    @staticmethod
    def _object_headers(o: S3Object) -> dict[str, str]:
        h = {
            "ETag": f'"{o.etag}"',
            "Last-Modified": http_date(o.last_modified),
            "Accept-Ranges": "bytes",
        }
        for name, value in o.headers.items():
            if name == "x-amz-storage-class" and value == "STANDARD":
                continue
            h[name] = value
        for name, value in o.meta.items():
            h["x-amz-meta-" + name] = value
        if o.parts:
            h["x-amz-mp-parts-count"] = str(o.parts)
        return h

    def _check_conditions(self, req: Request, o: S3Object) -> Response | None:
        h = req.headers
        etag = f'"{o.etag}"'
        if "if-match" in h and h["if-match"] not in (etag, o.etag, "*"):
            raise S3Error(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold")
        if "if-none-match" in h and h["if-none-match"] in (etag, o.etag, "*"):
            return Response(304, {"ETag": etag, "Last-Modified": http_date(o.last_modified)})
        if "if-modified-since" in h and "if-none-match" not in h:
            try:
                since = parsedate_to_datetime(h["if-modified-since"]).timestamp()
            except (TypeError, ValueError):
                since = None
            if since is not None and int(o.last_modified) <= since:
                return Response(304, {"ETag": etag, "Last-Modified": http_date(o.last_modified)})
        return None

    def op_HeadObject(self, req: Request) -> Response:
        o = self._get_obj(req)
        early = self._check_conditions(req, o)
        if early is not None:
            return early
        h = self._object_headers(o)
        h["Content-Length"] = str(len(o.data))
        return Response(200, h, b"")

    def op_GetObject(self, req: Request) -> Response:
        o = self._get_obj(req)
        early = self._check_conditions(req, o)
        if early is not None:
            return early
        h = self._object_headers(o)
        rng = req.headers.get("range")
        size = len(o.data)
        if rng and rng.startswith("bytes=") and "," not in rng:
            first, _, last = rng[6:].partition("-")
            if first == "":
                start = max(size - int(last), 0)
                end = size - 1
            else:
                start = int(first)
                end = min(int(last), size - 1) if last else size - 1
            if start >= size or start > end:
                raise S3Error(416, "InvalidRange", "The requested range is not satisfiable")
            h["Content-Range"] = f"bytes {start}-{end}/{size}"
            return Response(206, h, o.data[start : end + 1])
        return Response(200, h, o.data)

    def op_PutObject(self, req: Request) -> Response:
        b = self.store.bucket(req.bucket)
        if req.headers.get("if-none-match") == "*" and req.key in b.objects:
            raise S3Error(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold")
        stored, meta, acl = split_metadata(req.headers)
        etag = hashlib.md5(req.body).hexdigest()
        b.put(S3Object(req.key, req.body, etag, time.time(), stored, meta, acl))
        h = {"ETag": f'"{etag}"'}
        if "x-amz-server-side-encryption" in stored:
            h["x-amz-server-side-encryption"] = stored["x-amz-server-side-encryption"]
        return Response(200, h)

    def op_CopyObject(self, req: Request) -> Response:
        b = self.store.bucket(req.bucket)
        src = unquote(req.headers["x-amz-copy-source"]).split("?", 1)[0].lstrip("/")
        sb_name, _, skey = src.partition("/")
        sb = self.store.bucket(sb_name)
        so = sb.objects.get(skey)
        if so is None:
            raise S3Error(404, "NoSuchKey", "The specified key does not exist.", skey)
        directive = req.headers.get("x-amz-metadata-directive", "COPY").upper()
        if directive == "REPLACE":
            stored, meta, acl = split_metadata(req.headers)
        else:
            if sb is b and skey == req.key:
                raise S3Error(
                    400,
                    "InvalidRequest",
                    "This copy request is illegal because it is trying to copy an object to itself "
                    "without changing the object's metadata, storage class, website redirect location "
                    "or encryption attributes.",
                )
            stored, meta = dict(so.headers), dict(so.meta)
            acl = req.headers.get("x-amz-acl")
        now = time.time()
        obj = S3Object(req.key, so.data, so.etag, now, stored, meta, acl, so.parts)
        b.put(obj)
        return xml_response(
            f'<CopyObjectResult xmlns="{S3_NS}"><LastModified>{iso8601(now)}</LastModified>'
            f"<ETag>&quot;{obj.etag}&quot;</ETag></CopyObjectResult>"
        )

    def op_DeleteObject(self, req: Request) -> Response:
        b = self.store.bucket(req.bucket)
        b.delete(req.key)
        return Response(204)

    def op_DeleteObjects(self, req: Request) -> Response:
        b = self.store.bucket(req.bucket)
        try:
            root = ET.fromstring(req.body)
        except ET.ParseError:
            raise S3Error(400, "MalformedXML", "The XML you provided was not well-formed") from None
        quiet = False
        keys = []
        for el in root:
            tag = el.tag.rsplit("}", 1)[-1]
            if tag == "Quiet":
                quiet = (el.text or "").strip().lower() == "true"
            elif tag == "Object":
                for sub in el:
                    if sub.tag.rsplit("}", 1)[-1] == "Key":
                        keys.append(sub.text or "")
        if len(keys) > 1000:
            raise S3Error(400, "MalformedXML", "The XML you provided was not well-formed")
        out = [f'<DeleteResult xmlns="{S3_NS}">']
        for key in keys:
            b.delete(key)
            if not quiet:
                out.append(f"<Deleted><Key>{xml_text(key)}</Key></Deleted>")
        out.append("</DeleteResult>")
        return xml_response("".join(out))

    # ---- multipart --------------------------------------------------------

    def op_CreateMultipartUpload(self, req: Request) -> Response:
        b = self.store.bucket(req.bucket)
        stored, meta, acl = split_metadata(req.headers)
        upload_id = secrets.token_urlsafe(24)
        b.uploads[upload_id] = Upload(req.key, stored, meta, acl)
        return xml_response(
            f'<InitiateMultipartUploadResult xmlns="{S3_NS}"><Bucket>{xml_text(b.name)}</Bucket>'
            f"<Key>{xml_text(req.key)}</Key><UploadId>{upload_id}</UploadId></InitiateMultipartUploadResult>"
        )

    def _upload(self, req: Request) -> tuple[Bucket, Upload]:
        b = self.store.bucket(req.bucket)
        u = b.uploads.get(req.query["uploadId"])
        if u is None or u.key != req.key:
            raise S3Error(
                404,
                "NoSuchUpload",
                "The specified upload does not exist. The upload ID may be invalid, "
                "or the upload may have been aborted or completed.",
                req.query["uploadId"],
            )
        return b, u

    def op_UploadPart(self, req: Request) -> Response:
        _, u = self._upload(req)
        number = int(req.query["partNumber"])
        if not 1 <= number <= 10000:
            raise S3Error(400, "InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive")
        etag = hashlib.md5(req.body).hexdigest()
        u.parts[number] = (req.body, etag)
        return Response(200, {"ETag": f'"{etag}"'})

    def op_CompleteMultipartUpload(self, req: Request) -> Response:
        b, u = self._upload(req)
        try:
            root = ET.fromstring(req.body)
        except ET.ParseError:
            raise S3Error(400, "MalformedXML", "The XML you provided was not well-formed") from None
        wanted: list[tuple[int, str]] = []
        for el in root:
            if el.tag.rsplit("}", 1)[-1] != "Part":
                continue
            num, etag = None, None
            for sub in el:
                tag = sub.tag.rsplit("}", 1)[-1]
                if tag == "PartNumber":
                    num = int(sub.text or "0")
                elif tag == "ETag":
                    etag = (sub.text or "").strip().strip('"')
            wanted.append((num or 0, etag or ""))
        if not wanted:
            raise S3Error(400, "MalformedXML", "The XML you provided was not well-formed")
        if [n for n, _ in wanted] != sorted({n for n, _ in wanted}):
            raise S3Error(400, "InvalidPartOrder", "The list of parts was not in ascending order.")
        chunks, digests = [], []
        for i, (num, etag) in enumerate(wanted):
            part = u.parts.get(num)
            if part is None or part[1] != etag:
                raise S3Error(400, "InvalidPart", "One or more of the specified parts could not be found.")
            if i < len(wanted) - 1 and len(part[0]) < 5 * 1024 * 1024:
                raise S3Error(400, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed object size.")
            chunks.append(part[0])
            digests.append(bytes.fromhex(part[1]))
        data = b"".join(chunks)
        etag = f"{hashlib.md5(b''.join(digests)).hexdigest()}-{len(wanted)}"
        b.put(S3Object(u.key, data, etag, time.time(), u.headers, u.meta, u.acl, len(wanted)))
        del b.uploads[req.query["uploadId"]]
        return xml_response(
            f'<CompleteMultipartUploadResult xmlns="{S3_NS}">'
            f"<Location>/{xml_text(b.name)}/{xml_text(quote(u.key))}</Location>"
            f"<Bucket>{xml_text(b.name)}</Bucket><Key>{xml_text(u.key)}</Key>"
            f"<ETag>&quot;{etag}&quot;</ETag></CompleteMultipartUploadResult>"
        )

    def op_AbortMultipartUpload(self, req: Request) -> Response:
        b, _ = self._upload(req)
        del b.uploads[req.query["uploadId"]]
        return Response(204)


# --------------------------------------------------------------------------
# HTTP/1.1 over asyncio streams


class Server:
    def __init__(self, app: S3App, host: str = "127.0.0.1", port: int = 0):
        self.app = app
        self.host = host
        self.port = port
        self._server: asyncio.base_events.Server | None = None
        self.connections = 0
        self.max_connections = 0

    async def start(self) -> int:
        self._server = await asyncio.start_server(
            self._client, self.host, self.port, limit=1 << 20, backlog=1024, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def serve_forever(self) -> None:
        assert self._server is not None
        async with self._server:
            await self._server.serve_forever()

    def close(self) -> None:
        if self._server is not None:
            self._server.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.max_connections = max(self.max_connections, self.connections)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                except asyncio.LimitOverrunError:
                    writer.write(b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    return
                lines = head[:-4].decode("latin-1").split("\r\n")
                try:
                    method, target, version = lines[0].split(" ", 2)
                except ValueError:
                    return
                headers: dict[str, str] = {}
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    name = name.strip().lower()
                    value = value.strip()
                    if name in headers:
                        headers[name] += "," + value
                    else:
                        headers[name] = value
                if headers.get("expect", "").lower() == "100-continue":
                    writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                if "chunked" in headers.get("transfer-encoding", "").lower():
                    body = await read_http_chunked(reader)
                else:
                    length = int(headers.get("content-length", "0") or 0)
                    body = await reader.readexactly(length) if length else b""
                if "aws-chunked" in headers.get("content-encoding", "") or headers.get(
                    "x-amz-content-sha256", ""
                ).startswith("STREAMING-"):
                    body = decode_aws_chunked(body)
                req = Request(method, target, headers, body)
                try:
                    resp = self.app.handle(req)
                except Exception as exc:  # a bug here must not kill the connection silently
                    import traceback

                    traceback.print_exc()
                    resp = error_response(S3Error(500, "InternalError", repr(exc)), method)
                if self.app.latency > 0 and not req.path.startswith("/_bench/"):
                    await asyncio.sleep(self.app.latency)
                close = headers.get("connection", "").lower() == "close" or version == "HTTP/1.0"
                self._write(writer, resp, method, close)
                await writer.drain()
                if close:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self.connections -= 1
            try:
                writer.close()
            except Exception:
                pass

    @staticmethod
    def _write(writer: asyncio.StreamWriter, resp: Response, method: str, close: bool) -> None:
        h = resp.headers
        h.setdefault("x-amz-request-id", secrets.token_hex(8))
        h.setdefault("Date", formatdate(usegmt=True))
        h.setdefault("Server", "staticship-bench")
        if "Content-Length" not in h:
            h["Content-Length"] = str(len(resp.body))
        if close:
            h["Connection"] = "close"
        out = [f"HTTP/1.1 {resp.status} {REASONS.get(resp.status, 'Unknown')}\r\n"]
        for name, value in h.items():
            out.append(f"{name}: {value}\r\n")
        out.append("\r\n")
        writer.write("".join(out).encode("latin-1", "replace"))
        if method != "HEAD" and resp.body and resp.status != 304:
            writer.write(resp.body)


# --------------------------------------------------------------------------
# Running it


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop  # type: ignore

        return uvloop.new_event_loop()
    except ImportError:
        return asyncio.new_event_loop()


class BackgroundServer:
    """Run the server on its own event loop in a daemon thread (for tests).

    ``app`` is reachable for in-process seeding; call it between requests, or
    use :meth:`call` to run something on the server's loop.
    """

    def __init__(self, latency_ms: float = 0.0, host: str = "127.0.0.1", port: int = 0):
        self.app = S3App(latency_ms)
        self.server = Server(self.app, host, port)
        self.loop = _new_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-s3", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.server.start())
        self._ready.set()
        self.loop.run_forever()

    def start(self) -> BackgroundServer:
        self._thread.start()
        self._ready.wait(10)
        return self

    @property
    def endpoint(self) -> str:
        return f"http://{self.server.host}:{self.server.port}"

    def call(self, fn, *args):
        fut: asyncio.Future = asyncio.run_coroutine_threadsafe(_acall(fn, *args), self.loop)
        return fut.result(60)

    def stop(self) -> None:
        async def _shutdown() -> None:
            self.server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        try:
            asyncio.run_coroutine_threadsafe(_shutdown(), self.loop).result(10)
        except Exception:
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        if not self._thread.is_alive():
            self.loop.close()

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


async def _acall(fn, *args):
    return fn(*args)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--latency-ms", type=float, default=20.0, help="added to every S3 request; 0 disables")
    p.add_argument("--bucket", action="append", default=[], help="create this bucket at start (repeatable)")
    p.add_argument("--port-file", help="write the chosen port to this file once listening")
    args = p.parse_args(argv)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print("refusing to listen anywhere but the loopback interface", file=sys.stderr)
        return 2

    app = S3App(args.latency_ms)
    for name in args.bucket:
        app.store.buckets[name] = Bucket(name)
    server = Server(app, args.host, args.port)
    loop = _new_loop()
    asyncio.set_event_loop(loop)
    port = loop.run_until_complete(server.start())
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as fh:
            fh.write(str(port))
        os.replace(tmp, args.port_file)
    print(f"bench S3 server on http://{args.host}:{port} latency={args.latency_ms}ms", flush=True)
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, loop.stop)
        except (NotImplementedError, RuntimeError):
            pass
    try:
        loop.run_forever()
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
