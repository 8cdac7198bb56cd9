"""The test bed itself: request logging, classification and faults, per service.

Run under ``python -m testbed run --all -- pytest tests/test_testbed.py``; a
service's tests are skipped when its STATICSHIP_TEST_* variables are unset.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import io
import json
import os
import re
import time
import urllib.error
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from testbed.client import Control, available, azure_connection_string, endpoint, from_env

os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
os.environ.setdefault("NO_GCE_CHECK", "true")

MIB = 1024 * 1024
AZURE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
LOOKS_LIKE_MD5 = re.compile(r'^"[0-9a-f]{32}"$')


def _name(prefix: str = "tb") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


def _fresh_control(service: str) -> Control:
    if not available(service):
        pytest.skip(f"{service} not running: use `python -m testbed run --{service} -- pytest ...`")
    control = from_env(service)
    control.reset()
    return control


def _raw(service: str, method: str, path: str) -> tuple[int, dict[str, str], bytes]:
    """One plain HTTP request to the service's endpoint (through the proxy)."""
    url = urlsplit(endpoint(service))
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    try:
        conn.request(method, path)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


# --------------------------------------------------------------------------- control API


@pytest.mark.parametrize("service", ["s3", "gcs", "azure", "s3b"])
def test_control_api(service: str) -> None:
    control = _fresh_control(service)
    assert control.healthy()
    assert control.requests() == []
    settings = control.faults(throttle_burst=1, latency_ms=1)
    assert settings["throttle_burst"] == 1 and settings["latency_ms"] == 1.0
    assert control.current_faults() == settings
    control.faults(latency_ms=None)  # null restores the default
    assert control.current_faults()["latency_ms"] == 0.0
    for bad in ({"nope": 1}, {"transient_rate": 2}, {"fail_status": 200}, {"opaque_etags": 1}):
        with pytest.raises(urllib.error.HTTPError) as info:
            control.faults(**bad)
        assert info.value.code == 400
    control.reset()
    assert control.current_faults()["throttle_burst"] == 0
    assert control.requests() == []  # control calls are never logged


@pytest.mark.parametrize(
    ("service", "path", "check"),
    [
        ("s3", "/", lambda h, b: b"<Code>SlowDown</Code>" in b),
        ("gcs", "/storage/v1/b", lambda h, b: json.loads(b)["error"]["code"] == 503),
        ("azure", "/devstoreaccount1?comp=list", lambda h, b: h.get("x-ms-error-code") == "ServerBusy"),
        ("s3b", "/", lambda h, b: b"<Code>SlowDown</Code>" in b),
    ],
)
def test_throttle_burst_answers_in_the_service_format(service: str, path: str, check: Any) -> None:
    control = _fresh_control(service)
    control.faults(throttle_burst=2)
    first = _raw(service, "GET", path)
    second = _raw(service, "GET", path)
    third = _raw(service, "GET", path)
    assert first[0] == second[0] == 503 and check(first[1], first[2])
    assert third[0] != 503
    assert [(r["status"], r["fault"]) for r in control.requests()] == [
        (503, "throttle"),
        (503, "throttle"),
        (third[0], None),
    ]
    control.reset()


# --------------------------------------------------------------------------- S3


@pytest.fixture
def s3_control() -> Iterator[Control]:
    control = _fresh_control("s3")
    yield control
    control.reset()


def _s3_client(max_attempts: int = 1) -> Any:
    boto3 = pytest.importorskip("boto3")
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint("s3"),
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(
            s3={"addressing_style": "path"},
            retries={"total_max_attempts": max_attempts, "mode": "standard"},
        ),
    )


@pytest.fixture
def s3_bucket(s3_control: Control) -> tuple[Any, str, Control]:
    client = _s3_client()
    bucket = _name()
    client.create_bucket(Bucket=bucket)
    s3_control.reset()
    return client, bucket, s3_control


def test_s3_requests_are_logged_and_classified(s3_bucket: tuple[Any, str, Control]) -> None:
    s3, bucket, control = s3_bucket
    body = b"x" * 1000
    s3.put_object(Bucket=bucket, Key="dir/a b+c.txt", Body=body)
    s3.head_object(Bucket=bucket, Key="dir/a b+c.txt")
    s3.get_object(Bucket=bucket, Key="dir/a b+c.txt")["Body"].read()
    s3.list_objects_v2(Bucket=bucket, Prefix="dir/")
    s3.list_objects(Bucket=bucket)
    s3.head_bucket(Bucket=bucket)
    s3.copy_object(Bucket=bucket, Key="copy.txt", CopySource={"Bucket": bucket, "Key": "dir/a b+c.txt"})
    s3.get_object_attributes(Bucket=bucket, Key="copy.txt", ObjectAttributes=["ETag"])
    upload = s3.create_multipart_upload(Bucket=bucket, Key="big.bin")["UploadId"]
    part = s3.upload_part(Bucket=bucket, Key="big.bin", UploadId=upload, PartNumber=1, Body=b"p" * (5 * MIB))
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="big.bin",
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
    aborted = s3.create_multipart_upload(Bucket=bucket, Key="gone.bin")["UploadId"]
    s3.abort_multipart_upload(Bucket=bucket, Key="gone.bin", UploadId=aborted)
    s3.delete_object(Bucket=bucket, Key="copy.txt")
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "big.bin"}]})

    log = control.requests()
    assert [r["op"] for r in log] == [
        "PutObject", "HeadObject", "GetObject", "ListObjectsV2", "ListObjects", "HeadBucket",
        "CopyObject", "GetObjectAttributes", "CreateMultipartUpload", "UploadPart",
        "CompleteMultipartUpload", "CreateMultipartUpload", "AbortMultipartUpload",
        "DeleteObject", "DeleteObjects",
    ]  # fmt: skip
    assert all(r["status"] in (200, 204) and r["fault"] is None for r in log)
    assert set(log[0]) >= {"method", "path", "query", "op", "status", "bytes_in"}
    assert log[0]["method"] == "PUT" and log[0]["path"] == f"/{bucket}/dir/a%20b%2Bc.txt"
    assert log[0]["bytes_in"] >= len(body)
    assert log[9]["bytes_in"] >= 5 * MIB and "partNumber=1" in log[9]["query"]
    assert "list-type=2" in log[3]["query"]
    assert control.counts()["CreateMultipartUpload"] == 2


def test_s3_upload_fileobj_multipart_is_counted(s3_bucket: tuple[Any, str, Control]) -> None:
    from boto3.s3.transfer import TransferConfig

    s3, bucket, control = s3_bucket
    data = os.urandom(20 * MIB)
    config = TransferConfig(multipart_threshold=8 * MIB, multipart_chunksize=8 * MIB, max_concurrency=3)
    s3.upload_fileobj(io.BytesIO(data), bucket, "big.bin", Config=config)
    counts = control.counts()
    assert counts == {"CreateMultipartUpload": 1, "UploadPart": 3, "CompleteMultipartUpload": 1}
    assert sum(r["bytes_in"] for r in control.requests("UploadPart")) >= len(data)
    assert s3.get_object(Bucket=bucket, Key="big.bin")["Body"].read() == data


def test_s3_opaque_etags_are_consistent(s3_bucket: tuple[Any, str, Control]) -> None:
    s3, bucket, control = s3_bucket
    body = b"body { color: red }\n"
    md5 = f'"{hashlib.md5(body).hexdigest()}"'
    assert s3.put_object(Bucket=bucket, Key="plain.css", Body=body)["ETag"] == md5

    control.faults(opaque_etags=True)
    put = s3.put_object(Bucket=bucket, Key="static/a b+é.css", Body=body)["ETag"]
    other = s3.put_object(Bucket=bucket, Key="static/b.css", Body=body)["ETag"]
    assert LOOKS_LIKE_MD5.match(put) and put != md5 and other not in (put, md5)
    assert s3.head_object(Bucket=bucket, Key="static/a b+é.css")["ETag"] == put
    assert s3.get_object(Bucket=bucket, Key="static/a b+é.css")["ETag"] == put
    v2 = {o["Key"]: o["ETag"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    v1 = {o["Key"]: o["ETag"] for o in s3.list_objects(Bucket=bucket)["Contents"]}
    assert v2 == v1 == {"plain.css": v2["plain.css"], "static/a b+é.css": put, "static/b.css": other}
    assert v2["plain.css"] != md5  # masked too, although written before
    attributes = s3.get_object_attributes(Bucket=bucket, Key="static/b.css", ObjectAttributes=["ETag"])
    assert f'"{attributes["ETag"]}"' == other
    # Conditional requests with the opaque value work (translated back for moto).
    assert s3.get_object(Bucket=bucket, Key="static/b.css", IfMatch=other)["ETag"] == other

    # Multipart: part ETags are masked and accepted back in CompleteMultipartUpload.
    upload = s3.create_multipart_upload(Bucket=bucket, Key="big.bin")["UploadId"]
    parts = []
    for number in (1, 2):
        data = bytes([number]) * (5 * MIB)
        etag = s3.upload_part(Bucket=bucket, Key="big.bin", UploadId=upload, PartNumber=number, Body=data)[
            "ETag"
        ]
        assert LOOKS_LIKE_MD5.match(etag) and etag != f'"{hashlib.md5(data).hexdigest()}"'
        parts.append({"PartNumber": number, "ETag": etag})
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="big.bin", UploadId=upload, MultipartUpload={"Parts": parts}
    )["ETag"]
    assert re.match(r'^"[0-9a-f]{32}-2"$', done)
    assert s3.head_object(Bucket=bucket, Key="big.bin")["ETag"] == done
    listed = {o["Key"]: o["ETag"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert listed["big.bin"] == done

    control.reset()  # back to real ETags
    assert s3.head_object(Bucket=bucket, Key="static/a b+é.css")["ETag"] == md5


def test_s3_fail_writes_after(s3_bucket: tuple[Any, str, Control]) -> None:
    from botocore.exceptions import ClientError

    s3, bucket, control = s3_bucket
    control.faults(fail_writes_after=2, fail_status=403)
    s3.put_object(Bucket=bucket, Key="one", Body=b"1")
    s3.put_object(Bucket=bucket, Key="two", Body=b"2")
    with pytest.raises(ClientError) as denied:
        s3.put_object(Bucket=bucket, Key="three", Body=b"3")
    assert denied.value.response["Error"]["Code"] == "AccessDenied"
    assert denied.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with pytest.raises(ClientError):  # large body sent with Expect: 100-continue
        s3.put_object(Bucket=bucket, Key="four", Body=b"4" * (2 * MIB))
    with pytest.raises(ClientError):
        s3.delete_object(Bucket=bucket, Key="one")
    s3.head_object(Bucket=bucket, Key="one")  # reads still pass
    assert [(r["op"], r["status"], r["fault"]) for r in control.requests()] == [
        ("PutObject", 200, None),
        ("PutObject", 200, None),
        ("PutObject", 403, "fail_writes"),
        ("PutObject", 403, "fail_writes"),
        ("DeleteObject", 403, "fail_writes"),
        ("HeadObject", 200, None),
    ]

    control.faults(fail_status=503)
    with pytest.raises(ClientError) as unavailable:
        s3.put_object(Bucket=bucket, Key="five", Body=b"5")
    assert unavailable.value.response["Error"]["Code"] == "ServiceUnavailable"

    control.reset()
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
    assert keys == ["one", "two"]  # faulted writes never reached the emulator


def test_s3_throttle_burst_is_retried_by_boto3(s3_bucket: tuple[Any, str, Control]) -> None:
    _, bucket, control = s3_bucket
    retrying = _s3_client(max_attempts=5)
    control.faults(throttle_burst=2)
    retrying.put_object(Bucket=bucket, Key="k", Body=b"v")
    assert [(r["status"], r["fault"]) for r in control.requests()] == [
        (503, "throttle"),
        (503, "throttle"),
        (200, None),
    ]


def _fault_pattern(s3: Any, bucket: str, control: Control, **faults: Any) -> list[bool]:
    from botocore.exceptions import ClientError

    control.reset()
    control.faults(**faults)
    failed = []
    for _ in range(40):
        try:
            s3.head_object(Bucket=bucket, Key="k")
            failed.append(False)
        except ClientError:
            failed.append(True)
    assert [r["status"] == faults.get("transient_status", 503) for r in control.requests()] == failed
    return failed


def test_s3_transient_rate_is_deterministic(s3_bucket: tuple[Any, str, Control]) -> None:
    s3, bucket, control = s3_bucket
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    first = _fault_pattern(s3, bucket, control, transient_rate=0.3, seed=7)
    again = _fault_pattern(s3, bucket, control, transient_rate=0.3, seed=7)
    other = _fault_pattern(s3, bucket, control, transient_rate=0.3, seed=8)
    assert first == again
    assert first != other
    assert 3 <= sum(first) <= 25
    assert not any(_fault_pattern(s3, bucket, control, transient_rate=0.0))
    assert all(_fault_pattern(s3, bucket, control, transient_rate=1.0, transient_status=500))


def test_s3_latency(s3_bucket: tuple[Any, str, Control]) -> None:
    s3, bucket, control = s3_bucket
    control.faults(latency_ms=150)
    started = time.monotonic()
    s3.head_bucket(Bucket=bucket)
    assert time.monotonic() - started >= 0.15


def test_s3_chunked_request_body_is_streamed(s3_bucket: tuple[Any, str, Control]) -> None:
    s3, bucket, control = s3_bucket
    url = urlsplit(endpoint("s3"))
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    conn.request(
        "PUT",
        f"/{bucket}/chunked.bin",
        body=iter([b"a" * 70000, b"b" * 5]),
        headers={"Transfer-Encoding": "chunked"},
        encode_chunked=True,
    )
    response = conn.getresponse()
    response.read()
    conn.close()
    assert response.status == 200
    assert control.requests()[0]["bytes_in"] == 70005
    assert s3.head_object(Bucket=bucket, Key="chunked.bin")["ContentLength"] == 70005


def test_s3_obstore_through_the_proxy(s3_bucket: tuple[Any, str, Control]) -> None:
    obs = pytest.importorskip("obstore")
    from obstore.store import S3Store

    _, bucket, control = s3_bucket
    store = S3Store(
        bucket,
        endpoint=endpoint("s3"),
        region="us-east-1",
        access_key_id="testing",
        secret_access_key="testing",
        virtual_hosted_style_request=False,
        client_options={"allow_http": True},
    )
    obs.put(store, "static/app.css", b"body{}", attributes={"Content-Type": "text/css"})
    obs.put(store, "static/big.bin", io.BytesIO(b"z" * (11 * MIB)), chunk_size=5 * MIB)
    listed = {m["path"]: m for batch in obs.list(store, prefix="static") for m in batch}
    assert listed["static/app.css"]["e_tag"] == f'"{hashlib.md5(b"body{}").hexdigest()}"'
    assert obs.head(store, "static/app.css")["size"] == 6
    obs.delete(store, ["static/app.css", "static/big.bin"])
    assert control.counts() == {
        "PutObject": 1, "CreateMultipartUpload": 1, "UploadPart": 3, "CompleteMultipartUpload": 1,
        "ListObjectsV2": 1, "HeadObject": 1, "DeleteObjects": 1,
    }  # fmt: skip


# --------------------------------------------------------------------------- GCS


@pytest.fixture
def gcs_bucket(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Any, Control]]:
    control = _fresh_control("gcs")
    storage = pytest.importorskip("google.cloud.storage")
    from google.auth.credentials import AnonymousCredentials

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", endpoint("gcs"))
    client = storage.Client(project="test", credentials=AnonymousCredentials())
    bucket = client.create_bucket(_name())
    control.reset()
    yield client, bucket, control
    control.reset()


def _gcs_crc32c(data: bytes) -> str:
    google_crc32c = pytest.importorskip("google_crc32c")
    return base64.b64encode(google_crc32c.value(data).to_bytes(4, "big")).decode()


def _b64md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def test_gcs_upload_and_list_through_the_proxy(gcs_bucket: tuple[Any, Any, Control]) -> None:
    client, bucket, control = gcs_bucket
    data = b"console.log('hi')\n"
    bucket.blob("static/app.js").upload_from_string(data, content_type="application/javascript")
    listed = list(client.list_blobs(bucket.name))
    assert [b.name for b in listed] == ["static/app.js"]
    # Fact: fake-gcs-server lists md5Hash and crc32c.
    assert listed[0].md5_hash == _b64md5(data)
    assert listed[0].crc32c == _gcs_crc32c(data)
    assert listed[0].media_link.startswith(endpoint("gcs") + "/")
    assert bucket.blob("static/app.js").download_as_bytes() == data
    bucket.blob("static/app.js").delete()
    assert [r["op"] for r in control.requests()] == ["Upload", "List", "Get", "Delete"]
    assert all(r["status"] in (200, 204) for r in control.requests())


def test_gcs_resumable_upload_is_counted(gcs_bucket: tuple[Any, Any, Control]) -> None:
    client, bucket, control = gcs_bucket
    data = os.urandom(20 * MIB)
    blob = bucket.blob("big.bin", chunk_size=5 * MIB)
    blob.upload_from_file(io.BytesIO(data), size=len(data))
    log = control.requests()
    assert [r["op"] for r in log] == ["ResumableStart", "UploadPart", "UploadPart", "UploadPart", "Commit"]
    assert [r["status"] for r in log] == [200, 308, 308, 308, 200]
    assert sum(r["bytes_in"] for r in log[1:]) == len(data)
    listed = {b.name: b for b in client.list_blobs(bucket.name)}
    assert listed["big.bin"].md5_hash == _b64md5(data)  # also for a multi-chunk upload
    assert listed["big.bin"].crc32c == _gcs_crc32c(data)
    assert bucket.blob("big.bin").download_as_bytes() == data


def test_gcs_fail_writes_after(gcs_bucket: tuple[Any, Any, Control]) -> None:
    from google.api_core import exceptions

    client, bucket, control = gcs_bucket
    control.faults(fail_writes_after=1, fail_status=403)
    bucket.blob("one").upload_from_string(b"1")
    with pytest.raises(exceptions.Forbidden):
        bucket.blob("two").upload_from_string(b"2")
    assert [(r["op"], r["status"]) for r in control.requests()] == [("Upload", 200), ("Upload", 403)]
    assert [b.name for b in client.list_blobs(bucket.name)] == ["one"]


def test_gcs_obstore_through_the_proxy(gcs_bucket: tuple[Any, Any, Control]) -> None:
    obs = pytest.importorskip("obstore")
    from obstore.store import GCSStore

    _, bucket, control = gcs_bucket
    # No OAuth: the service-account JSON carries the emulator URL and disable_oauth.
    key = {"gcs_base_url": endpoint("gcs"), "disable_oauth": True,
           "client_email": "", "private_key": "", "private_key_id": ""}  # fmt: skip
    store = GCSStore(bucket.name, service_account_key=json.dumps(key), client_options={"allow_http": True})
    data = b"a" * (6 * MIB)
    put = obs.put(store, "static/app.css", b"body{}", attributes={"Content-Type": "text/css"})
    obs.put(store, "static/big.bin", data, use_multipart=False)  # XML multipart: not in the emulator
    assert put["e_tag"] == f'"{_b64md5(b"body{}")}"'
    listed = {m["path"]: m for batch in obs.list(store, prefix="static") for m in batch}
    assert listed["static/big.bin"]["size"] == len(data)
    assert obs.get(store, "static/app.css").attributes["Content-Type"] == "text/css"
    obs.delete(store, ["static/app.css", "static/big.bin"])
    assert [r["op"] for r in control.requests()] == ["Upload", "Upload", "List", "Get", "Delete", "Delete"]
    assert all(r["status"] < 300 for r in control.requests())


# --------------------------------------------------------------------------- Azure


@pytest.fixture
def azure_container() -> Iterator[tuple[Any, Control]]:
    control = _fresh_control("azure")
    blob = pytest.importorskip("azure.storage.blob")
    service = blob.BlobServiceClient.from_connection_string(
        azure_connection_string(), max_single_put_size=4 * MIB, max_block_size=4 * MIB
    )
    container = service.create_container(_name())
    control.reset()
    yield container, control
    control.reset()


def test_azure_upload_and_list(azure_container: tuple[Any, Control]) -> None:
    container, control = azure_container
    data = b"<svg/>"
    container.upload_blob("static/logo.svg", data)
    listed = list(container.list_blobs())
    assert [b.name for b in listed] == ["static/logo.svg"]
    assert bytes(listed[0].content_settings.content_md5) == hashlib.md5(data).digest()  # single shot
    assert container.download_blob("static/logo.svg").readall() == data
    container.delete_blob("static/logo.svg")
    assert [r["op"] for r in control.requests()] == ["Upload", "List", "Get", "Delete"]


def test_azure_block_upload_is_counted(azure_container: tuple[Any, Control]) -> None:
    container, control = azure_container
    data = os.urandom(20 * MIB)
    container.upload_blob("big.bin", data)
    assert control.counts() == {"PutBlock": 5, "PutBlockList": 1}
    assert sum(r["bytes_in"] for r in control.requests("PutBlock")) == len(data)
    listed = {b.name: b for b in container.list_blobs()}
    # Fact: Azurite keeps no Content-MD5 for a blob committed from blocks.
    assert listed["big.bin"].content_settings.content_md5 is None
    assert listed["big.bin"].size == len(data)


def test_azure_fail_writes_after(azure_container: tuple[Any, Control]) -> None:
    from azure.core.exceptions import HttpResponseError

    container, control = azure_container
    control.faults(fail_writes_after=1, fail_status=403)
    container.upload_blob("one", b"1")
    with pytest.raises(HttpResponseError) as denied:
        container.upload_blob("two", b"2")
    assert denied.value.status_code == 403
    assert denied.value.error_code == "AuthorizationPermissionMismatch"
    assert [(r["op"], r["status"]) for r in control.requests()] == [("Upload", 201), ("Upload", 403)]
    assert [b.name for b in container.list_blobs()] == ["one"]


def test_azure_obstore_through_the_proxy(azure_container: tuple[Any, Control]) -> None:
    obs = pytest.importorskip("obstore")
    from obstore.store import AzureStore

    container, control = azure_container
    store = AzureStore(
        container.container_name,
        account_name="devstoreaccount1",
        account_key=AZURE_KEY,
        endpoint=endpoint("azure"),
        client_options={"allow_http": True},
    )
    obs.put(store, "static/app.css", b"body{}", attributes={"Content-Type": "text/css"})
    obs.put(store, "static/big.bin", io.BytesIO(b"z" * (11 * MIB)), chunk_size=5 * MIB)
    listed = {m["path"]: m for batch in obs.list(store, prefix="static") for m in batch}
    assert listed["static/big.bin"]["size"] == 11 * MIB
    assert obs.head(store, "static/app.css")["size"] == 6
    obs.delete(store, ["static/app.css", "static/big.bin"])
    assert control.counts() == {"Upload": 1, "PutBlock": 3, "PutBlockList": 1, "List": 1,
                                "GetProperties": 1, "Batch": 1}  # fmt: skip
