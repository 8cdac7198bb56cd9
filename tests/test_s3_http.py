"""Issue #13: without obstore, S3 is listed and written with plain HTTP
requests (urllib3, signed by botocore), and boto3 writes only what those
requests cannot carry as it would. The objects are compared with stock's at
the server; the names a listing gives back are the keys the store holds."""

from __future__ import annotations

import datetime
import http.server
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from storages.backends.s3 import S3Storage

from .conftest import S3Target, Tree, collectstatic, on_both_s3_servers


@pytest.fixture
def no_obstore(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "obstore", None)


def _no_client(monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a boto3 client was built")

    monkeypatch.setattr(boto3.Session, "client", refuse)
    monkeypatch.setattr(boto3.Session, "resource", refuse)


@on_both_s3_servers
def test_a_run_with_nothing_to_upload_builds_no_boto3_client(
        s3: S3Target, tree: Tree, no_obstore: None, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(5):
        tree.write("css/f%d.css" % i, b"p%d{}" % i)
    storages = s3.settings()
    cold = collectstatic(tree=tree, storages=storages)
    assert len(cold.report.uploaded) == 5
    assert cold.report.fast_path["via"] == "HTTP requests signed by botocore"
    if s3.server == "moto":  # the five files and the state record
        assert s3.counts() == Counter({"ListObjectsV2": 1, "PutObject": 6})
    tree.touch_all()
    s3.reset()
    _no_client(monkeypatch)
    warm = collectstatic(tree=tree, storages=storages)
    assert warm.report.uploaded == []
    assert warm.report.requests == Counter({"LIST": 1})
    if s3.server == "moto":
        assert s3.counts() == Counter({"ListObjectsV2": 1})


# Names whose keys must be percent-encoded in the request path and come
# back URL-encoded in the listing (encoding-type=url), and an empty file: a space, +, %, ~,
# &, =, ; and , and non-ASCII letters.
ODD_NAMES = ("css/empty.css", "css/a b.css", "css/a+b.css", "css/100%.css", "css/~tilde.css", "css/q&a=1.css",
             "css/caf\u00e9.css", "css/\u65e5\u672c.css", "css/semi;colon,comma.css")


@on_both_s3_servers
def test_keys_that_need_encoding_are_written_and_listed_as_stock_writes_them(
        s3: S3Target, tree: Tree, no_obstore: None) -> None:
    for i, name in enumerate(ODD_NAMES):
        tree.write(name, b"/* %d */" % i if i else b"")  # the first one empty
    ours = collectstatic(tree=tree, storages=s3.settings(location="ours"))
    assert len(ours.report.uploaded) == len(ODD_NAMES)
    collectstatic("--disable-staticship", tree=tree, storages=s3.settings(location="stock"))

    def names(location: str) -> dict[str, bytes]:
        prefix = s3.location(location) + "/"
        return {key[len(prefix):]: s3.get(key) for key in s3.objects(prefix)
                if not key[len(prefix):].startswith(".staticship/")}

    assert names("ours") == names("stock") == dict(tree.files)
    tree.touch_all()
    warm = collectstatic(tree=tree, storages=s3.settings(location="ours"))
    assert warm.report.uploaded == []  # every listed name is the one expected


def test_parameters_plain_requests_cannot_carry_go_through_boto3(
        s3: S3Target, tree: Tree, no_obstore: None) -> None:
    """An Expires date (botocore re-formats it): those objects are written by
    boto3, the others by plain requests, and all equal stock's."""
    tree.write("css/a.css", b"a{}")
    tree.write("js/b.js", b"b()")
    expires = datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)

    extra = {"object_parameters": {"Expires": expires, "CacheControl": "max-age=9"}}
    ours = collectstatic(tree=tree, storages=s3.settings(location="ours", **extra))
    assert ours.report.fast_path["via"] == "HTTP requests signed by botocore and boto3"
    collectstatic("--disable-staticship", tree=tree, storages=s3.settings(location="stock", **extra))
    for name in tree.files:
        mine = s3.head("%s/%s" % (s3.location("ours"), name))
        stock = s3.head("%s/%s" % (s3.location("stock"), name))
        for header in ("Expires", "ExpiresString", "CacheControl", "ContentType", "ETag"):
            assert mine.get(header) == stock.get(header), (name, header)
        assert stock.get("CacheControl") == "max-age=9"


@pytest.mark.parametrize("key, args, multipart, expected", [
    ("static/a.css", {"ContentType": "text/css", "ACL": "public-read"}, False, None),
    ("static/a.css", {"ContentType": "text/css"}, True, "a multipart upload"),
    ("static/./a.css", {}, False, "a key with a . or .. segment"),
    ("static/../a.css", {}, False, "a key with a . or .. segment"),
    ("static/.a/..b.css", {"BucketKeyEnabled": True}, False, None),
    ("static/a.css", {"ChecksumAlgorithm": "crc32"}, False, None),
    ("static/a.css", {"ChecksumAlgorithm": "CRC32C"}, False, "the checksum CRC32C"),
    ("static/a.css", {"Expires": "Thu, 01 Dec 2030 16:00:00 GMT"}, False,
     "the write parameter Expires"),
    ("static/a.css", {"SSECustomerKey": "k" * 32}, False, "the write parameter SSECustomerKey"),
    ("static/a.css", {"Metadata": {"who": "caf\u00e9"}}, False,
     "metadata that is not plain ASCII text"),
    ("static/a.css", {"Metadata": {"n": 1}}, False, "metadata that is not plain ASCII text"),
    ("static/a.css", {"ContentDisposition": "inline; filename=\"x\ny\""}, False,
     "a ContentDisposition that is not plain ASCII text"),
    ("static/a.css", {"Metadata": {"release": "2026.11"}, "Tagging": "a=b&c=d"}, False, None),
])
def test_what_plain_requests_carry(key: str, args: dict[str, Any], multipart: bool,
                                   expected: str | None) -> None:
    from staticship.backends.s3_http import HttpS3

    assert HttpS3.why_not(key, args, multipart) == expected


def test_a_body_larger_than_memory_should_hold_goes_through_boto3() -> None:
    from staticship.backends.fast import FAST_MAX_SIZE
    from staticship.backends.s3_http import HttpS3

    assert HttpS3.why_not("static/a.bin", {}, False, FAST_MAX_SIZE) is None
    assert HttpS3.why_not("static/a.bin", {}, False, FAST_MAX_SIZE + 1) == (
        "a body too large to hold in memory")


@pytest.mark.parametrize("options, expected", [
    ({}, None),
    ({"signature_version": "s3"}, "signature_version 's3'"),
    ({"client_config": {"s3": {"use_accelerate_endpoint": True}}},
     "client_config.s3 sets use_accelerate_endpoint"),
    ({"client_config": {"s3": {"addressing_style": "path"}}}, None),
    ({"client_config": {"use_fips_endpoint": True}}, "client_config sets use_fips_endpoint"),
    ({"client_config": {"proxies": {"https": "http://127.0.0.1:9"}}},
     "the S3 client config sets proxies, which obstore does not take"),
])
def test_settings_plain_requests_leave_to_boto3(options: dict[str, Any],
                                                expected: str | None) -> None:
    from botocore.config import Config

    from staticship.backends.s3_http import blocked

    if "client_config" in options:
        options = {**options, "client_config": Config(**options["client_config"])}
    storage = S3Storage(bucket_name="b", access_key="k", secret_key="s",
                        endpoint_url="http://127.0.0.1:9", **options)
    off = blocked(storage, "storages.backends.s3.S3Storage")
    assert (off.reason if off else None) == expected


class _Redirecting(http.server.BaseHTTPRequestHandler):
    """S3's answer to a request signed for the wrong region."""

    def do_GET(self) -> None:
        body = (b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>PermanentRedirect</Code>"
                b"<Message>The bucket is in this region: eu-west-3.</Message></Error>")
        self.send_response(301)
        self.send_header("x-amz-bucket-region", "eu-west-3")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def redirecting() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Redirecting)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield "http://127.0.0.1:%d" % server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_a_bucket_in_another_region_is_listed_by_boto3(
        redirecting: str, s3: S3Target, no_obstore: None,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Plain requests do not follow S3's redirect to the bucket's region:
    the listing says so (WrongRegion) and the run lists through boto3, which
    does; uploads then go through boto3 too."""
    from staticship.backends.s3 import S3Adapter
    from staticship.backends.s3_http import HttpS3, WrongRegion

    storage = S3Storage(bucket_name="b", access_key="k", secret_key="s",
                        endpoint_url=redirecting, region_name="us-east-1")
    plain = HttpS3.build(storage, 4, "storages.backends.s3.S3Storage")
    assert plain is not None
    with pytest.raises(WrongRegion):
        plain.list_range("static/", (None, None))
    from django.test import override_settings

    storages = s3.settings()
    with override_settings(STORAGES=storages):
        adapter = S3Adapter(S3Storage(**storages["staticfiles"]["OPTIONS"]), workers=4)
    assert adapter._http is not None
    boto3_listed: list[str] = []
    real = adapter._boto.list_range

    def wrong_region(prefix: str, bounds: Any) -> Any:
        raise WrongRegion("eu-west-3")

    def listed(*args: Any) -> Any:
        boto3_listed.append(args[2])
        return real(*args)

    monkeypatch.setattr(adapter._http, "list_range", wrong_region)
    monkeypatch.setattr(adapter._boto, "list_range", listed)
    assert adapter.inventory() == {}
    assert boto3_listed == [adapter.prefix]
    assert adapter._http is None
