"""Issue #13: S3 uploads without obstore (not importable, turned off, a
storage that writes its own way, a write parameter obstore cannot map) are
never silent, and go through one shared boto3 client with exactly the
storage's ExtraArgs: the objects read back at the server equal those of the
fast path and of stock collectstatic, in the same number of requests."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from storages.backends.s3 import S3Storage

from .conftest import S3Target, Tree, collectstatic, on_both_s3_servers

MIB = 1024 * 1024
HEADERS = ("ContentType", "ContentEncoding", "CacheControl", "ContentDisposition", "Metadata",
           "ContentLength", "ETag", "ServerSideEncryption", "SSECustomerAlgorithm")
MISSING_LINE = ("staticship: uploading through HTTP requests signed by botocore, not obstore: "
                "obstore cannot be imported (import of obstore halted; None in sys.modules). "
                "Fix: pip install obstore.")


class OwnSave(S3Storage):
    """A storage that writes its own way: every upload must go through it."""

    saved: list[str] = []

    def _save(self, name: str, content: Any) -> str:
        OwnSave.saved.append(name)
        return str(super()._save(name, content))


class OwnConnection(S3Storage):
    """A storage that builds its boto3 connection its own way: every call
    goes through it (here it only counts the threads that asked)."""

    asked: set[int] = set()

    @property
    def connection(self) -> Any:
        import threading

        OwnConnection.asked.add(threading.get_ident())
        return super().connection


@pytest.fixture
def no_obstore(monkeypatch: pytest.MonkeyPatch) -> None:
    """obstore cannot be imported (as after ``pip uninstall obstore``)."""
    monkeypatch.setitem(sys.modules, "obstore", None)


def _transfer() -> Any:
    from boto3.s3.transfer import TransferConfig

    return TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB)


def _site(tree: Tree) -> None:
    tree.write("css/site.css", b"h1{color:red}" * 100)  # gzipped by the storage
    tree.write("js/app.js", b"let a = 1;" * 50)
    tree.write("img/logo.png", b"\x89PNG" + bytes(range(256)) * 4)
    tree.write("video/clip.mp4", os.urandom(12 * MIB))  # three parts of 5 MiB


def _options(**extra: Any) -> dict[str, Any]:
    options: dict[str, Any] = {
        "gzip": True,
        "default_acl": "public-read",
        "transfer_config": _transfer(),
        "object_parameters": {"CacheControl": "max-age=60", "ContentDisposition": "inline",
                              "Metadata": {"release": "2026.11"}},
    }
    options.update(extra)
    return options


def _describe(s3: S3Target, key: str, **read: Any) -> dict[str, Any]:
    """What a client reading ``key`` back sees: headers, grants, bytes."""
    head = s3.client.head_object(Bucket=s3.bucket, Key=key, **read)
    grants = []
    if s3.server == "moto" and not read:  # s3rver keeps no ACLs (moto none with SSE-C)
        grants = s3.client.get_object_acl(Bucket=s3.bucket, Key=key)["Grants"]
    body = s3.client.get_object(Bucket=s3.bucket, Key=key, **read)["Body"].read()
    return {
        **{h: head.get(h) for h in HEADERS},
        "grants": sorted((g["Permission"], str(g["Grantee"].get("URI"))) for g in grants),
        "body": hashlib.md5(body).hexdigest(),
    }


def _checksums(s3: S3Target, key: str) -> dict[str, Any]:
    head = s3.client.head_object(Bucket=s3.bucket, Key=key, ChecksumMode="ENABLED")
    return {k: v for k, v in head.items() if k.startswith("Checksum")}


def _objects(s3: S3Target, location: str, **read: Any) -> dict[str, dict[str, Any]]:
    prefix = s3.location(location) + "/"
    return {key[len(prefix):]: _describe(s3, key, **read) for key in s3.objects(prefix)
            if not key[len(prefix):].startswith(".staticship/")}


@on_both_s3_servers
def test_slow_path_objects_equal_fast_and_stock(s3: S3Target, tree: Tree,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """gzip, ACL, cache-control, disposition, metadata, one multipart file:
    the same bytes, headers and ETags whichever way they were written, and
    the slow path sends what stock sends (its checksums too)."""
    _site(tree)
    fast = collectstatic(tree=tree, storages=s3.settings(location="fast", **_options()))
    assert fast.report.as_json()["fast_path"]["used"] is True
    collectstatic("--disable-staticship", tree=tree,
                  storages=s3.settings(location="stock", **_options()))
    monkeypatch.setitem(sys.modules, "obstore", None)
    s3.reset()
    slow = collectstatic(tree=tree, storages=s3.settings(location="slow", **_options()))
    assert slow.report.as_json()["fast_path"]["slow_uploads"] == 4
    if s3.server == "moto":  # s3rver answers no per-operation counts for multipart pieces
        # The three small files and the state record (their write digests).
        assert s3.counts() == Counter({"ListObjectsV2": 1, "PutObject": 4,
                                       "CreateMultipartUpload": 1, "UploadPart": 3,
                                       "CompleteMultipartUpload": 1})
    expected = _objects(s3, "stock")
    assert sorted(expected) == sorted(tree.files)
    assert _objects(s3, "slow") == expected
    assert _objects(s3, "fast") == expected
    for name in tree.files:
        stock = _checksums(s3, "%s/%s" % (s3.location("stock"), name))
        assert _checksums(s3, "%s/%s" % (s3.location("slow"), name)) == stock, name


@on_both_s3_servers
def test_warm_run_after_a_slow_cold_run_is_one_listing(s3: S3Target, tree: Tree,
                                                       no_obstore: None) -> None:
    _site(tree)
    storages = s3.settings(**_options())
    cold = collectstatic(tree=tree, storages=storages)
    assert len(cold.report.uploaded) == 4
    tree.touch_all()
    s3.reset()
    warm = collectstatic(tree=tree, storages=storages)
    assert warm.report.uploaded == []
    assert warm.report.requests == Counter({"LIST": 1})
    assert s3.counts() == Counter({"ListObjectsV2": 1})


def test_missing_obstore_is_said_once_and_reported(s3: S3Target, tree: Tree, tmp_path: Path,
                                                    no_obstore: None) -> None:
    tree.write("css/a.css", b"a{}")
    tree.write("js/b.js", b"b()")
    path = tmp_path / "report.json"
    run = collectstatic("--report", str(path), tree=tree, storages=s3.settings())
    assert run.output.splitlines().count(MISSING_LINE) == 1
    assert json.loads(path.read_text())["fast_path"] == {
        "used": False,
        "reason": "obstore cannot be imported (import of obstore halted; None in sys.modules)",
        "fix": "pip install obstore",
        "via": "HTTP requests signed by botocore",
        "slow_uploads": 2,
    }
    quiet = collectstatic("-v", "0", tree=tree, storages=s3.settings(location="other"))
    assert quiet.output == ""


def test_turned_off_fast_path_is_said(s3: S3Target, tree: Tree) -> None:
    tree.write("css/a.css", b"a{}")
    run = collectstatic(tree=tree, storages=s3.settings(), STATICSHIP_FAST_TRANSFER=False)
    assert ("staticship: uploading through boto3, not obstore: STATICSHIP_FAST_TRANSFER is "
            "False. Fix: set STATICSHIP_FAST_TRANSFER = True (or remove it).") in run.output
    assert run.report.fast_path["used"] is False


def test_a_storage_that_overrides_save_is_written_through_it_and_said(
        s3: S3Target, tree: Tree, tmp_path: Path) -> None:
    tree.write("css/a.css", b"a{}")
    tree.write("js/b.js", b"b()")
    OwnSave.saved.clear()
    path = tmp_path / "report.json"
    storages = s3.settings("%s.%s" % (__name__, "OwnSave"))
    run = collectstatic("--report", str(path), tree=tree, storages=storages)
    assert sorted(OwnSave.saved) == ["css/a.css", "js/b.js"]
    reason = "OwnSave overrides _save, so staticship writes through it"
    fix = ("none if that override must run; if it only sets object parameters or headers, move "
           "them into the storage's settings and remove the override")
    assert ("staticship: uploading through OwnSave._save, not obstore: %s. Fix: %s." % (reason, fix)
            in run.output.splitlines())
    assert json.loads(path.read_text())["fast_path"] == {
        "used": False, "reason": reason, "fix": fix, "via": "OwnSave._save", "slow_uploads": 2}
    # The two files, and the state record with their write digests.
    assert s3.counts() == Counter({"ListObjectsV2": 1, "PutObject": 3})


def test_a_parameter_obstore_cannot_map_is_named_once(s3: S3Target, tree: Tree) -> None:
    """A checksum algorithm of the user's choice: obstore has no such
    option, so those objects go through boto3 with it (the line names the
    parameter once, at the end), and carry the checksum stock would give."""
    for i in range(5):
        tree.write("css/f%d.css" % i, b"p%d{}" % i)
    extra = {"object_parameters": {"ChecksumAlgorithm": "SHA256"}}
    run = collectstatic(tree=tree, storages=s3.settings(location="ours", **extra))
    lines = [line for line in run.output.splitlines() if "not obstore" in line]
    assert lines == [
        "staticship: 5 files uploaded through boto3, not obstore: obstore has no equivalent of "
        "the write parameter ChecksumAlgorithm. Fix: none needed (those objects are written with "
        "it through boto3); remove it from STORAGES[\"staticfiles\"][\"OPTIONS\"][\"object_parameters\"] if it is not needed."]
    status = run.report.fast_path
    assert status["used"] is True and status["slow_uploads"] == 5
    collectstatic("--disable-staticship", tree=tree,
                  storages=s3.settings(location="stock", **extra))
    for name in tree.files:
        stock = _checksums(s3, "%s/%s" % (s3.location("stock"), name))
        assert "ChecksumSHA256" in stock
        assert _checksums(s3, "%s/%s" % (s3.location("ours"), name)) == stock


def test_one_shared_client_for_every_worker(s3: S3Target, tree: Tree, no_obstore: None,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """64 workers, 40 files: one boto3 session and client, not one per
    thread (S3Storage.connection is thread-local), with a pool as large as
    the workers."""
    import boto3

    for i in range(40):
        tree.write("js/f%02d.js" % i, b"f(%d)" % i)
    built: list[Any] = []
    real = boto3.Session.client

    def client(self: Any, *args: Any, **kwargs: Any) -> Any:
        made = real(self, *args, **kwargs)
        built.append(made)
        return made

    monkeypatch.setattr(boto3.Session, "client", client)
    monkeypatch.setattr(boto3.Session, "resource", lambda *a, **k: pytest.fail("a resource"))
    run = collectstatic(tree=tree, storages=s3.settings(), STATICSHIP_WORKERS=64)
    assert len(run.report.uploaded) == 40
    assert len(built) == 1
    assert built[0].meta.config.max_pool_connections == 64


def test_shared_client_keeps_the_storage_settings() -> None:
    from botocore.config import Config

    from staticship.backends.s3_boto import shared_client

    storage = S3Storage(bucket_name="b", access_key="k", secret_key="s", region_name="eu-west-3",
                        endpoint_url="http://127.0.0.1:9", verify=False,
                        client_config=Config(signature_version="s3v4",
                                             request_checksum_calculation="when_required",
                                             s3={"addressing_style": "path"},
                                             max_pool_connections=200))
    client = shared_client(storage, 32)
    config = client.meta.config
    assert config.max_pool_connections == 200  # never lowered
    assert config.request_checksum_calculation == "when_required"
    assert config.s3 == {"addressing_style": "path"} and config.signature_version == "s3v4"
    assert client.meta.region_name == "eu-west-3"
    assert client.meta.endpoint_url == "http://127.0.0.1:9"
    assert shared_client(S3Storage(bucket_name="b", access_key="k", secret_key="s"),
                         64).meta.config.max_pool_connections == 64


@on_both_s3_servers
def test_sse_c_objects_equal_stock(s3: S3Target, tree: Tree, no_obstore: None) -> None:
    """A customer-provided key (SSE-C) on every call that needs it: small
    objects and a multipart one read back, with the key, as stock's."""
    import base64

    key = base64.b64encode(b"k" * 32).decode()
    _site(tree)
    sse = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": key}
    extra = _options(gzip=False, default_acl=None, object_parameters=dict(sse))
    ours = collectstatic(tree=tree, storages=s3.settings(location="ours", **extra))
    assert len(ours.report.uploaded) == 4
    collectstatic("--disable-staticship", tree=tree, storages=s3.settings(location="stock", **extra))
    expected = _objects(s3, "stock", **sse)  # boto3 adds the key's MD5
    assert sorted(expected) == sorted(tree.files)
    assert _objects(s3, "ours", **sse) == expected


def test_listing_without_obstore_gives_the_times_botocore_gives(s3: S3Target, tree: Tree,
                                                               no_obstore: None) -> None:
    """The shared client parses the listing's ISO 8601 times itself (half
    the CPU of botocore's parser): the same instants, for every object."""
    from django.test import override_settings

    from staticship.backends.s3 import S3Adapter

    for i in range(3):
        tree.write("css/f%d.css" % i, b"p%d{}" % i)
    storages = s3.settings()
    collectstatic(tree=tree, storages=storages)
    with override_settings(STORAGES=storages):
        storage = S3Storage(**storages["staticfiles"]["OPTIONS"])
        adapter = S3Adapter(storage, workers=4)
        assert adapter._fast is None
        listed = adapter.inventory()
        head = adapter.client.head_object(Bucket=s3.bucket, Key=s3.location() + "/css/f0.css")
    expected = {key[len(s3.location()) + 1:]: entry["LastModified"].timestamp()
                for key, entry in s3.objects(s3.location() + "/").items()}
    assert {name: state.modified for name, state in listed.items()} == expected
    assert head["LastModified"].timestamp() == expected["css/f0.css"]  # an HTTP-date header


def test_a_storage_that_builds_its_own_connection_is_written_through_it(
        s3: S3Target, tree: Tree, no_obstore: None) -> None:
    for i in range(6):
        tree.write("js/f%d.js" % i, b"f(%d)" % i)
    OwnConnection.asked.clear()
    storages = s3.settings("%s.%s" % (__name__, "OwnConnection"))
    run = collectstatic(tree=tree, storages=storages, STATICSHIP_WORKERS=4)
    assert len(run.report.uploaded) == 6
    assert len(OwnConnection.asked) >= 2  # the listing's thread and the workers'
    assert run.report.fast_path["via"] == "boto3"
    s3.assert_holds(s3.location() + "/", {"%s/%s" % (s3.location(), n): d
                                          for n, d in tree.files.items()})
