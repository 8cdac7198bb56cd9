"""The plain HTTP requests staticship sends to S3 without obstore carry valid
SigV4 signatures, as a store checks them on the wire.

None of the test bed's S3 servers verifies signatures (moto and s3rver take
any), so a server here does: it recomputes each request's signature from
what arrived (method, path, query, the signed headers, the payload's hash)
by AWS's documented algorithm, written here independently of botocore's
signer. The checker itself is proven on requests from a real boto3 client
(valid) and from one with the wrong secret (refused).
"""

from __future__ import annotations

import hashlib
import hmac
import http.server
import re
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, unquote

import pytest
from storages.backends.s3 import S3Storage

KEY_ID, SECRET, REGION = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "eu-west-3"
_AUTH = re.compile(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/s3/aws4_request, "
                   r"SignedHeaders=([^,]+), Signature=([0-9a-f]{64})\Z")


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def _canonical_query(raw: str) -> str:
    pairs = []
    for part in filter(None, raw.split("&")):
        name, _, value = part.partition("=")
        pairs.append((quote(unquote(name), safe="-_.~"), quote(unquote(value), safe="-_.~")))
    return "&".join("%s=%s" % pair for pair in sorted(pairs))


def verdict(method: str, target: str, headers: Any, body: bytes) -> str:
    """"ok", or why the request's signature does not hold."""
    match = _AUTH.match(headers.get("Authorization", ""))
    if match is None:
        return "no SigV4 Authorization header"
    key_id, day, region, signed, signature = match.groups()
    if key_id != KEY_ID or region != REGION:
        return "credential scope %s/%s" % (key_id, region)
    payload = headers.get("x-amz-content-sha256", "")
    if payload != hashlib.sha256(body).hexdigest():
        return "payload hash %r does not match the body" % payload
    path, _, query = target.partition("?")
    lines = [method, quote(unquote(path), safe="/~"), _canonical_query(query)]
    for name in signed.split(";"):
        value = headers.get(name)
        if value is None:
            return "signed header %s missing" % name
        lines.append("%s:%s" % (name, " ".join(value.split())))
    request = "\n".join(lines) + "\n\n%s\n%s" % (signed, payload)
    to_sign = "AWS4-HMAC-SHA256\n%s\n%s/%s/s3/aws4_request\n%s" % (
        headers["x-amz-date"], day, region, hashlib.sha256(request.encode()).hexdigest())
    key = _hmac(_hmac(_hmac(_hmac(("AWS4" + SECRET).encode(), day), region), "s3"), "aws4_request")
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return "ok" if hmac.compare_digest(expected, signature) else "signature mismatch"


class _Checking(http.server.BaseHTTPRequestHandler):
    """Answers like S3 (an empty listing, an ETag) when the signature
    holds, 403 SignatureDoesNotMatch when not; keeps every verdict."""

    protocol_version = "HTTP/1.1"
    seen: list[tuple[str, str, str]] = []

    def _answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        result = verdict(self.command, self.path, self.headers, body)
        self.seen.append((self.command, self.path, result))
        if result != "ok":
            payload = (b"<Error><Code>SignatureDoesNotMatch</Code><Message>%s</Message></Error>"
                       % result.encode())
            self.send_response(403)
        elif self.command == "GET":
            payload = (b"<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                       b"<Name>b</Name><KeyCount>0</KeyCount><IsTruncated>false</IsTruncated>"
                       b"</ListBucketResult>")
            self.send_response(200)
        else:
            payload = b""
            self.send_response(200)
            self.send_header("ETag", '"%s"' % hashlib.md5(body).hexdigest())
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_PUT = _answer

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def checking() -> Iterator[tuple[str, list[tuple[str, str, str]]]]:
    seen: list[tuple[str, str, str]] = []
    handler = type("Handler", (_Checking,), {"seen": seen})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield "http://127.0.0.1:%d" % server.server_address[1], seen
    finally:
        server.shutdown()
        server.server_close()


ODD_KEYS = ("static/a b+c.css", "static/100%/caf\u00e9 ~x.css", "static/q&a=1;x,y.js",
            "static/\u65e5\u672c/x.png")


def _boto3(endpoint: str, secret: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "s3", endpoint_url=endpoint, region_name=REGION, aws_access_key_id=KEY_ID,
        aws_secret_access_key=secret,
        config=Config(s3={"addressing_style": "path"}, request_checksum_calculation="when_required",
                      retries={"max_attempts": 1}))


def test_the_checker_accepts_boto3s_requests_and_refuses_a_wrong_secret(checking: Any) -> None:
    from botocore.exceptions import ClientError

    endpoint, seen = checking
    client = _boto3(endpoint, SECRET)
    for key in ODD_KEYS:
        client.put_object(Bucket="b", Key=key, Body=b"x", ContentType="text/css",
                          Metadata={"release": "1"}, ACL="public-read")
    client.list_objects_v2(Bucket="b", Prefix="static/a b+", StartAfter="static/\u00e9 x")
    assert [result for _, _, result in seen] == ["ok"] * (len(ODD_KEYS) + 1)
    with pytest.raises(ClientError, match="SignatureDoesNotMatch"):
        _boto3(endpoint, "not-the-secret").put_object(Bucket="b", Key="static/a.css", Body=b"x")
    assert seen[-1][2] == "signature mismatch"


def test_plain_requests_are_signed_as_a_store_checks_them(checking: Any) -> None:
    from staticship.backends.s3_http import HttpS3

    endpoint, seen = checking
    storage = S3Storage(bucket_name="b", endpoint_url=endpoint, region_name=REGION,
                        access_key=KEY_ID, secret_key=SECRET, addressing_style="path")
    plain = HttpS3.build(storage, 4, "storages.backends.s3.S3Storage")
    assert plain is not None

    class Item:
        def __init__(self, data: bytes) -> None:
            self.data, self.md5, self.size = data, hashlib.md5(data).hexdigest(), len(data)

        def body(self) -> Any:
            import contextlib
            import io

            return contextlib.nullcontext(io.BytesIO(self.data))

    args = {"ContentType": "text/css", "CacheControl": "max-age=60,  public", "ACL": "public-read",
            "Metadata": {"release": "2026.11"}, "ChecksumAlgorithm": "CRC32", "Tagging": "a=b&c=d"}
    for key in ODD_KEYS:
        assert plain.put(key, Item(b"body of " + key.encode()), args) is not None  # type: ignore[arg-type]
    plain.put("static/empty.css", Item(b""), {"ContentType": "text/css"})  # type: ignore[arg-type]
    plain.list_range("static/a b+", ("static/\u00e9 x", None))
    assert [(method, result) for method, _, result in seen] == (
        [("PUT", "ok")] * (len(ODD_KEYS) + 1) + [("GET", "ok")])
