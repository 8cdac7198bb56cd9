"""The benchmark's GCS and Azure remotes (bench/remotes.py) on the test bed's
emulators: counting, latency on for runs only, wipe, and MD5s read back."""

from __future__ import annotations

import hashlib
import os
import uuid
from types import SimpleNamespace

import pytest

from bench.remotes import EmulatorRemote


def remote(kind: str) -> EmulatorRemote:
    prefix = "STATICSHIP_TEST_" + kind.upper()
    if not os.environ.get(prefix + "_CONTROL"):
        pytest.skip(f"no {kind} emulator: run through `python -m testbed run --{kind}`")
    bed = SimpleNamespace(env={k: v for k, v in os.environ.items() if k.startswith(prefix)})
    return EmulatorRemote(kind, bed, 20.0, "b-" + uuid.uuid4().hex[:16])  # type: ignore[arg-type]


def put(r: EmulatorRemote, name: str, data: bytes) -> None:
    if r.kind == "gcs":
        r.client.bucket(r.bucket).blob(name).upload_from_string(data)
    else:
        r.client.upload_blob(name, data)


@pytest.mark.parametrize("kind", ["gcs", "azure"])
def test_counts_latency_wipe_and_md5s(kind: str) -> None:
    r = remote(kind)
    r.start_run()
    assert r._ctl("GET", "faults")["latency_ms"] == 20.0
    put(r, "static/a.css", b"body{}")
    put(r, "static/b.js", b"x" * 1000)
    stats = r.end_run()
    assert r._ctl("GET", "faults")["latency_ms"] == 0.0  # the harness's own requests are not slowed
    uploads = {"gcs": "Upload", "azure": "Upload"}[kind]
    assert stats["by_op"].get(uploads) == 2
    assert stats["total"] == sum(stats["by_kind"].values()) >= 2
    assert stats["bytes_in"] >= 1006
    assert r.etags("static/") == {
        "static/a.css": (hashlib.md5(b"body{}").hexdigest(), 6),
        "static/b.js": (hashlib.md5(b"x" * 1000).hexdigest(), 1000),
    }
    assert r.object_count() == 2
    r.wipe()
    assert r.object_count() == 0
    r.start_run()
    r._names()
    listed = r.end_run()
    assert listed["by_kind"] == {"LIST": 1}


def test_s3_remote_counts_snapshots_and_md5s(tmp_path) -> None:
    import boto3
    from botocore.config import Config

    from bench.remotes import S3Remote

    r = S3Remote(0.0, tmp_path, "bench")
    try:
        client = boto3.client("s3", endpoint_url=r.endpoint, region_name="us-east-1",
                              aws_access_key_id="k", aws_secret_access_key="s",
                              config=Config(s3={"addressing_style": "path"}))
        r.start_run()
        client.put_object(Bucket="bench", Key="static/a.css", Body=b"body{}")
        stats = r.end_run()
        assert stats["total"] == 1 and stats["by_op"] == {"PutObject": 1}
        assert r.etags("static/") == {"static/a.css": (hashlib.md5(b"body{}").hexdigest(), 6)}
        r.snapshot("one")
        client.put_object(Bucket="bench", Key="static/b.js", Body=b"x")
        assert r.object_count() == 2
        r.restore("one")
        assert r.object_count() == 1
        r.seed("static/old/", 5)
        assert r.object_count() == 6
        r.wipe()
        assert r.object_count() == 0
    finally:
        r.stop()
