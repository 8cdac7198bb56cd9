"""Fingerprints, checked against independent computations."""

from __future__ import annotations

import hashlib
import io
import os
import random
import threading
import time
from unittest import mock

import pytest

from staticship import fingerprint as fp

MIB = 1024 * 1024


def reference_multipart_etag(data: bytes, part: int) -> str:
    parts = [data[i : i + part] for i in range(0, len(data), part)] or [b""]
    joined = b"".join(hashlib.md5(p).digest() for p in parts)
    return "%s-%d" % (hashlib.md5(joined).hexdigest(), len(parts))


@pytest.mark.parametrize("size", [0, 1, 5 * MIB - 1, 5 * MIB, 5 * MIB + 1, 12 * MIB + 17])
def test_multipart_etag_matches_reference(size: int) -> None:
    data = random.Random(size).randbytes(size)
    assert fp.s3_multipart_etag(io.BytesIO(data), 5 * MIB) == reference_multipart_etag(data, 5 * MIB)


def test_md5_of_file() -> None:
    data = os.urandom(3 * MIB + 5)
    assert fp.md5_of_file(io.BytesIO(data)) == (hashlib.md5(data).hexdigest(), len(data))


def test_part_size_follows_boto3_limits() -> None:
    assert fp.s3_part_size(20 * MIB, 8 * MIB) == 8 * MIB
    assert fp.s3_part_size(20 * MIB, 1 * MIB) == 5 * MIB  # S3's minimum part
    huge = 8 * MIB * 10_000 + 1
    assert fp.s3_part_size(huge, 8 * MIB) * 10_000 >= huge


def test_parts_in_etag() -> None:
    assert fp.parts_in_etag("0" * 32 + "-3") == 3
    assert fp.parts_in_etag("0" * 32) is None
    assert fp.parts_in_etag("abc-3") is None


def test_candidate_part_sizes_split_into_the_count() -> None:
    size = 20 * MIB
    found = fp.candidate_part_sizes(size, 4, [8 * MIB])
    assert found and all(-(-size // p) == 4 for p in found)
    assert 5 * MIB in found and 8 * MIB not in found  # 8 MiB gives 3 parts


def test_normalize_etag() -> None:
    assert fp.normalize_etag('"ABC"') == "abc"
    assert fp.normalize_etag('W/"abc"') == "abc"
    assert fp.normalize_etag(None) is None


@pytest.mark.parametrize("read_size", [1, 100, 8192, 1 << 20])
def test_gzip_equals_django_storages_on_upload(read_size: int) -> None:
    """The compressed bytes equal those django-storages streams to S3, however
    the uploader happens to read them, so their MD5 can be predicted."""
    from storages.compress import GzipCompressionWrapper

    data = b"body { color: red; }\n" * 5000 + os.urandom(2000)
    ours = io.BytesIO()
    fp.gzip_stream(io.BytesIO(data), ours)
    wrapper = GzipCompressionWrapper(io.BytesIO(data))
    theirs = bytearray()
    while True:
        buf = bytearray(read_size)
        n = wrapper.readinto(buf)
        if not n:
            break
        theirs += buf[:n]
    assert ours.getvalue() == bytes(theirs)
    import gzip

    assert gzip.decompress(ours.getvalue()) == data


def test_forget_drops_remembered_md5s(tmp_path) -> None:
    path = tmp_path / "a.css"
    path.write_bytes(b"one")
    fp.forget()
    assert fp.md5_of_path(str(path)) == (hashlib.md5(b"one").hexdigest(), 3)
    stat = os.stat(path)
    path.write_bytes(b"two")  # same size; mtime set back, as a checkout tool may
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert fp.md5_of_path(str(path))[0] == hashlib.md5(b"one").hexdigest()  # remembered within a run
    fp.forget()
    assert fp.md5_of_path(str(path))[0] == hashlib.md5(b"two").hexdigest()


def test_hashing_ahead_fills_the_memo_while_the_body_runs(tmp_path) -> None:
    from staticship.pipeline import hashing_ahead

    paths = []
    for i in range(50):
        path = tmp_path / f"f{i}.js"
        path.write_bytes(b"x" * (i + 1))
        paths.append(str(path))
    fp.forget()
    reads: list[str] = []
    real = fp.md5_of_file

    def counting(handle):
        reads.append(handle.name)
        return real(handle)

    with mock.patch.object(fp, "md5_of_file", counting):
        with hashing_ahead([*paths, str(tmp_path / "missing.js"), None]):
            deadline = time.monotonic() + 10
            while len(reads) < len(paths) and time.monotonic() < deadline:
                time.sleep(0.01)
        assert sorted(reads) == sorted(paths)  # each once, the missing file skipped quietly
        assert not [t for t in threading.enumerate() if t.name == "staticship-hash"]
        for i, path in enumerate(paths):  # the hash phase now finds them all done
            assert fp.md5_of_path(path) == (hashlib.md5(b"x" * (i + 1)).hexdigest(), i + 1)
    assert len(reads) == len(paths)


def test_hashing_ahead_stops_when_the_body_ends(tmp_path) -> None:
    from staticship.pipeline import hashing_ahead

    paths = [str(tmp_path / f"f{i}") for i in range(200)]
    for path in paths:
        open(path, "wb").close()
    fp.forget()
    real = fp.md5_of_file

    def slow(handle):
        time.sleep(0.05)
        return real(handle)

    with mock.patch.object(fp, "md5_of_file", slow):
        with hashing_ahead(paths):
            pass  # the listing failed at once
    assert not [t for t in threading.enumerate() if t.name == "staticship-hash"]
    assert len(fp._memo) <= 2  # at most the file each thread had started


def test_hashing_ahead_decides_off_the_callers_thread(tmp_path) -> None:
    """Which files to hash (for S3 with gzip, a look at each file's write
    parameters) is decided by the side threads, not before the listing."""
    from staticship.pipeline import hashing_ahead

    paths = []
    for i in range(20):
        path = tmp_path / f"f{i}.css"
        path.write_bytes(b"y" * (i + 1))
        paths.append(str(path))
    deciders: list[str] = []

    def chosen():
        for path in paths:
            deciders.append(threading.current_thread().name)
            yield path

    fp.forget()
    with hashing_ahead(chosen()):
        deadline = time.monotonic() + 10
        while len(fp._memo) < len(paths) and time.monotonic() < deadline:
            time.sleep(0.01)
    assert len(fp._memo) == len(paths)
    assert set(deciders) == {"staticship-hash"}


def test_hashing_ahead_stops_quietly_when_deciding_fails(tmp_path) -> None:
    from staticship.pipeline import hashing_ahead

    def failing():
        yield None
        raise ValueError("bad object parameters")

    hooked: list[object] = []
    with mock.patch.object(threading, "excepthook", hooked.append):
        with hashing_ahead(failing()):
            time.sleep(0.05)
    assert hooked == []  # no thread died with a traceback
    assert not [t for t in threading.enumerate() if t.name == "staticship-hash"]


@pytest.mark.parametrize("cpus, expected", [(1, 1), (2, 2), (6, 6), (64, 8)])
def test_one_hashing_thread_per_cpu_at_most_eight(monkeypatch: pytest.MonkeyPatch, cpus: int,
                                                  expected: int) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cpus)), raising=False)
    assert fp.hashers() == expected


def test_hashing_threads_without_cpu_affinity(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 3)
    assert fp.hashers() == 3
