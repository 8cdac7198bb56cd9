"""The emulators as users run them in their own CI: fake-gcs-server, Azurite
and moto reached on their own ports (the test bed's
``STATICSHIP_TEST_*_DIRECT_ENDPOINT``), with no proxy of ours in front to
adapt a request, and no setting beyond what the storage needs anyway.

Cold, warm and edited runs (the last with ``--prune`` and a stale object);
every object is read back from the emulator.
Nothing is counted at a server here: the request kinds come from
staticship's own report.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from .conftest import GCSTarget, Tree, collectstatic, make_files

WRITE_KINDS = ("PUT", "POST", "DELETE", "BATCH")


@dataclass
class Plain:
    """One emulator, reached directly: storage settings and a reader."""

    kind: str
    storages: dict[str, Any]
    read: Callable[[str], bytes]  # bytes of the object at a key
    keys: Callable[[str], set[str]]  # keys under a prefix
    put: Callable[[str, bytes], None]  # write an object, as another tool would


def _direct(service: str) -> str:
    value = os.environ.get(f"STATICSHIP_TEST_{service.upper()}_DIRECT_ENDPOINT")
    if not value:
        pytest.skip(f"no {service} emulator: run through `python -m testbed run --{service}`")
    return value


def _storages(backend: str, options: dict[str, Any]) -> dict[str, Any]:
    return {
        "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
        "staticfiles": {"BACKEND": backend, "OPTIONS": options},
    }


def _gcs(monkeypatch: pytest.MonkeyPatch) -> Plain:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage as gcs_storage

    # What a user's CI sets for fake-gcs-server, and nothing else.
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", _direct("gcs"))
    bucket = "p-" + uuid.uuid4().hex[:20]
    client = gcs_storage.Client(project="test", credentials=AnonymousCredentials())
    client.create_bucket(bucket)
    options = {"bucket_name": bucket, "location": "static", "project_id": "test",
               "querystring_auth": False, "credentials": AnonymousCredentials()}
    return Plain(
        "gcs",
        _storages("storages.backends.gcloud.GoogleCloudStorage", options),
        lambda key: client.bucket(bucket).blob(key).download_as_bytes(raw_download=True),
        lambda prefix: {b.name for b in client.list_blobs(bucket, prefix=prefix)},
        lambda key, data: client.bucket(bucket).blob(key).upload_from_string(data),
    )


def _azure() -> Plain:
    from azure.storage.blob import ContainerClient

    _direct("azure")
    connection_string = os.environ["STATICSHIP_TEST_AZURE_DIRECT_CONNECTION_STRING"]
    container = "p-" + uuid.uuid4().hex[:20]
    client = ContainerClient.from_connection_string(connection_string, container)
    client.create_container()
    options = {"connection_string": connection_string, "azure_container": container,
               "location": "static"}
    return Plain(
        "azure",
        _storages("storages.backends.azure_storage.AzureStorage", options),
        lambda key: client.download_blob(key).readall(),
        lambda prefix: set(client.list_blob_names(name_starts_with=prefix)),
        lambda key, data: client.upload_blob(key, data, overwrite=True) and None,
    )


def _moto() -> Plain:
    import boto3
    from botocore.config import Config

    endpoint = _direct("s3")
    bucket = "p-" + uuid.uuid4().hex[:20]
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing",
                          config=Config(s3={"addressing_style": "path"}))
    client.create_bucket(Bucket=bucket)
    options = {"bucket_name": bucket, "location": "static", "endpoint_url": endpoint,
               "region_name": "us-east-1", "access_key": "testing", "secret_key": "testing",
               "querystring_auth": False, "file_overwrite": True}

    def keys(prefix: str) -> set[str]:
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return {e["Key"] for page in pages for e in page.get("Contents", ())}

    return Plain(
        "s3",
        _storages("storages.backends.s3.S3Storage", options),
        lambda key: client.get_object(Bucket=bucket, Key=key)["Body"].read(),
        keys,
        lambda key, data: client.put_object(Bucket=bucket, Key=key, Body=data) and None,
    )


@pytest.fixture(params=["gcs", "azure", "s3"], ids=["fake-gcs-server", "azurite", "moto"])
def plain(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Plain]:
    if request.param == "gcs":
        yield _gcs(monkeypatch)
    elif request.param == "azure":
        yield _azure()
    else:
        yield _moto()


def assert_published(plain: Plain, tree: Tree) -> None:
    """The location holds exactly the tree's files (and staticship's own
    records), byte for byte as read back from the emulator."""
    keys = plain.keys("static/")
    files = {k for k in keys if not k.startswith("static/.staticship/")}
    assert files == {"static/" + name for name in tree.files}
    for name, data in tree.files.items():
        assert plain.read("static/" + name) == data, name


def test_cold_warm_and_edited_without_the_proxy(plain: Plain, tree: Tree) -> None:
    make_files(tree, 30)
    cold = collectstatic(tree=tree, storages=plain.storages)
    assert cold.report.files == {name: "new" for name in tree.files}
    assert cold.output.rstrip().endswith("30 static files copied.")
    assert_published(plain, tree)

    tree.touch_all()  # a fresh CI checkout
    warm = collectstatic(tree=tree, storages=plain.storages)
    assert warm.report.uploaded == []
    assert warm.output.rstrip().endswith("0 static files copied, 30 unmodified.")
    assert not any(warm.report.requests.get(kind) for kind in WRITE_KINDS), warm.report.requests

    edited = sorted(tree.files)[::10]
    for name in edited:
        tree.write(name, tree.files[name] + b"/* edited */")
    plain.put("static/old/stale.js", b"stale")
    plain.put("static-other/keep.js", b"keep")
    third = collectstatic("--prune", tree=tree, storages=plain.storages,
                          STATICSHIP_PRUNE_MIN_AGE=0)
    assert sorted(third.report.uploaded) == edited
    assert third.report.deleted == ["old/stale.js"]
    assert_published(plain, tree)  # the stale object is gone
    assert plain.read("static-other/keep.js") == b"keep"


def test_gcs_emulator_refusing_the_xml_put_is_asked_once(gcs: GCSTarget, tree: Tree) -> None:
    """Through the proxy with its XML-PUT adaptation off (``plain_gcs``), so
    that requests are counted: the first upload tries obstore's XML-API PUT
    alone, the emulator refuses it (400 invalid uploadType: the request's
    host is the emulator's -public-host; on its own port, as in the test
    above, the answer is a 404), and that file and every other go through
    the JSON API. The next run is read-only."""
    gcs.control.faults(plain_gcs=True)
    make_files(tree, 12)
    storages = gcs.settings()
    cold = collectstatic(tree=tree, storages=storages)
    assert cold.report.files == {name: "new" for name in tree.files}
    requests = gcs.control.requests()
    xml_puts = [r for r in requests if r["method"] == "PUT" and not r["path"].startswith("/upload/")]
    assert len(xml_puts) == 1 and xml_puts[0]["status"] == 400, xml_puts  # invalid uploadType
    uploads = [r for r in requests if r["op"] == "Upload" and r["path"].startswith("/upload/")]
    # 12 files and the state record (the write digests)
    assert len(uploads) == 13 and all(r["status"] == 200 for r in uploads)
    assert requests.index(xml_puts[0]) < requests.index(uploads[0])  # the others waited for it
    for name, data in tree.files.items():
        assert gcs.get(gcs.location() + "/" + name) == data, name
    # Said once at the end, and in the report (issue #13).
    reason = ("the GCS endpoint %s (an emulator) refused obstore's XML API upload"
              % os.environ["STATICSHIP_TEST_GCS_ENDPOINT"].rstrip("/"))
    assert [line for line in cold.output.splitlines() if "not obstore" in line] == [
        "staticship: 12 files uploaded through google-cloud-storage, not obstore: %s. Fix: none "
        "needed for an emulator (Google's own endpoint takes it)." % reason]
    assert cold.report.fast_path == {
        "used": True, "reason": reason, "via": "google-cloud-storage", "slow_uploads": 12,
        "fix": "none needed for an emulator (Google's own endpoint takes it)"}

    tree.touch_all()
    gcs.control.reset()
    gcs.control.faults(plain_gcs=True)
    warm = collectstatic(tree=tree, storages=storages)
    assert warm.report.uploaded == []
    writes = [r for r in gcs.control.requests() if r["method"] in ("PUT", "POST", "DELETE")]
    assert writes == []


def test_a_transient_error_on_the_first_emulator_put_decides_nothing() -> None:
    """A 503 on the deciding request is raised (the pipeline retries it) and
    the next upload asks again; a refusal decides for the rest of the run."""
    from staticship.backends.gcs import _ObstoreWriter

    writer = _ObstoreWriter("b", {"base_url": "http://127.0.0.1:9"}, {}, None)
    assert writer.accepted is None
    outcomes = [ConnectionError("503 Service Unavailable"), PermissionError("400 invalid uploadType")]
    sent: list[str] = []

    def put(key: str, item: Any) -> None:
        sent.append(key)
        raise outcomes.pop(0)

    writer.put = put  # type: ignore[method-assign]
    transient = lambda exc: isinstance(exc, ConnectionError)  # noqa: E731
    with pytest.raises(ConnectionError):
        writer.try_put("a", None, transient)  # type: ignore[arg-type]
    assert writer.accepted is None
    assert writer.try_put("a", None, transient) is False  # type: ignore[arg-type]
    assert writer.accepted is False
    assert writer.try_put("b", None, transient) is False  # type: ignore[arg-type]
    assert sent == ["a", "a"]
    google = _ObstoreWriter("b", {}, {}, None)
    assert google.accepted is True  # Google's own endpoint is never asked
