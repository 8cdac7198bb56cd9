"""Faults, bad input and pruning: the bucket ends exactly right, or exactly
as the previous deployment left it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import unicodedata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.core.management.base import CommandError

from .conftest import S3Target, Tree, collectstatic, make_files, on_both_s3_servers
from .helpers import TunedS3, bucket_output, recorded_names, s3_settings, write_site

ROOT = Path(__file__).resolve().parent.parent
WRITES = ("PutObject", "UploadPart", "CreateMultipartUpload", "CompleteMultipartUpload",
          "DeleteObject", "DeleteObjects", "CopyObject")


@pytest.fixture(autouse=True)
def emulator_only(s3: S3Target) -> None:
    if s3.live:
        pytest.skip("fault injection needs the test bed")


def prefix_of(storages: dict[str, Any]) -> str:
    return storages["staticfiles"]["OPTIONS"]["location"] + "/"


def expected(tree: Tree, storages: dict[str, Any]) -> dict[str, bytes]:
    return {prefix_of(storages) + n: d for n, d in tree.files.items()}


# -- transient faults ------------------------------------------------------

def test_ten_percent_transient_failures_complete(s3: S3Target, tree: Tree) -> None:
    make_files(tree, 200)
    storages = s3.settings()
    s3.control.faults(transient_rate=0.1, seed=7)
    run = collectstatic(tree=tree, storages=storages, STATICSHIP_MAX_ATTEMPTS=8)
    failed = [r for r in s3.control.requests() if r["fault"] == "transient"]
    assert failed, "the fault injection did not fire"
    assert len(run.report.uploaded) == 200
    s3.control.reset()
    s3.assert_holds(prefix_of(storages), expected(tree, storages))


def test_throttling_burst_during_uploads_completes(s3: S3Target, tree: Tree,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from staticship.apply import Limiter
    from staticship.backends.s3 import S3Adapter

    make_files(tree, 120)
    storages = s3.settings()
    real_upload = S3Adapter.upload
    started: list[bool] = []
    lowest: list[int] = []
    real_back_off = Limiter.back_off

    def upload(self: S3Adapter, item: Any) -> Any:
        if not started:  # the burst starts with the first upload
            started.append(True)
            s3.control.faults(throttle_burst=40)
        return real_upload(self, item)

    def back_off(self: Limiter) -> None:
        real_back_off(self)
        lowest.append(self.limit)

    monkeypatch.setattr(S3Adapter, "upload", upload)
    monkeypatch.setattr(Limiter, "back_off", back_off)
    run = collectstatic(tree=tree, storages=storages, STATICSHIP_MAX_ATTEMPTS=8)
    assert sum(1 for r in s3.control.requests() if r["fault"] == "throttle") == 40
    assert len(run.report.uploaded) == 120
    assert lowest and min(lowest) < 64 // 2  # concurrency backed off under throttling
    s3.control.reset()
    s3.assert_holds(prefix_of(storages), expected(tree, storages))


# -- permanent faults ------------------------------------------------------

def run_child(args: list[str], django_settings: dict[str, Any], **popen: Any) -> subprocess.Popen:
    env = dict(os.environ)
    env["STATICSHIP_TEST_DJANGO"] = json.dumps(django_settings)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "src"), env.get("PYTHONPATH", "")])
    return subprocess.Popen(
        [sys.executable, "-m", "django", "collectstatic", "--noinput",
         "--settings=tests.settings_env", *args],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen,
    )


def child_settings(tree: Tree, storages: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"STATICFILES_DIRS": [str(tree.root)], "STORAGES": storages, **extra}


def test_access_denied_is_one_clear_line(s3: S3Target, tree: Tree) -> None:
    make_files(tree, 10)
    s3.control.faults(fail_writes_after=0, fail_status=403)
    child = run_child([], child_settings(tree, s3.settings()))
    out, err = child.communicate(timeout=120)
    assert child.returncode != 0
    text = err.decode()
    assert "Traceback" not in text
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    assert "failed: access denied on bucket '%s'" % s3.bucket in lines[0]
    assert "Fix: give the credentials s3:ListBucket, s3:GetObject and s3:PutObject" in lines[0]
    # The client's own text is for -v 3, not this line.
    assert "HTTP 403" not in lines[0] and "Access Denied" not in lines[0]


def test_traceback_with_verbosity_3(s3: S3Target, tree: Tree) -> None:
    make_files(tree, 3)
    s3.control.faults(fail_writes_after=0, fail_status=403)
    child = run_child(["-v", "3"], child_settings(tree, s3.settings()))
    _out, err = child.communicate(timeout=120)
    assert child.returncode != 0
    assert "Traceback" in err.decode()


def test_missing_bucket_names_the_bucket(s3: S3Target, tree: Tree) -> None:
    make_files(tree, 3)
    storages = s3.settings(bucket_name="no-such-bucket-here")
    with pytest.raises(CommandError) as info:
        collectstatic(tree=tree, storages=storages)
    message = str(info.value)
    assert message.endswith(
        "failed: the bucket 'no-such-bucket-here' does not exist. Fix: create it, or correct "
        'STORAGES["staticfiles"]["OPTIONS"]["bucket_name"].'), message
    assert "The specified bucket does not exist" not in message  # the client's words
    assert "\n" not in message


@pytest.mark.parametrize(
    "code, status, text, fix",
    [
        # AWS, a bucket whose Object Ownership is "bucket owner enforced".
        ("AccessControlListNotSupported", 400, "The bucket does not allow ACLs",
         'Fix: set STORAGES["staticfiles"]["OPTIONS"]["default_acl"] to None'),
        # Backblaze B2 (and others) refusing boto3 1.36's default checksums.
        ("InvalidArgument", 400,
         "Unsupported header 'x-amz-checksum-crc32' received for this API call.",
         "Fix: pass botocore's Config(request_checksum_calculation='when_required') as "),
    ],
    ids=["acl", "checksum"],
)
@pytest.mark.parametrize("way", ["boto3", "http"])
def test_a_store_refusing_a_setting_names_the_setting(
    s3: S3Target, tree: Tree, code: str, status: int, text: str, fix: str, way: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Through boto3 (the fast path off) and through plain HTTP requests
    (obstore missing): the same one line."""
    make_files(tree, 3)
    storages = s3.settings(default_acl="public-read")
    if way == "http":
        monkeypatch.setitem(sys.modules, "obstore", None)
    s3.control.faults(fail_writes_after=0, fail_status=status, fail_code=code, fail_message=text)
    with pytest.raises(CommandError) as info:
        collectstatic(tree=tree, storages=storages, STATICSHIP_FAST_TRANSFER=way == "http")
    message = str(info.value)
    assert message.startswith("Uploading '"), message
    assert fix in message, message
    assert "\n" not in message
    puts = [r for r in s3.control.requests() if r["op"] == "PutObject"]
    # Not retried: no key sent twice (files not yet started when the first
    # answer came are not sent at all).
    assert puts and all(r["status"] == status for r in puts)
    assert len({r["path"] for r in puts}) == len(puts), puts


@pytest.mark.parametrize("obstore", [True, False], ids=["obstore", "http"])
def test_unreachable_endpoint_is_explained(
    tree: Tree, s3: S3Target, monkeypatch: pytest.MonkeyPatch, obstore: bool
) -> None:
    from botocore.config import Config

    if not obstore:
        monkeypatch.setitem(sys.modules, "obstore", None)

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    make_files(tree, 2)
    storages = s3.settings(endpoint_url="http://127.0.0.1:%d" % port,
                           client_config=Config(retries={"max_attempts": 1},
                                                connect_timeout=1))
    slept: list[float] = []
    monkeypatch.setattr(time, "sleep", slept.append)
    with pytest.raises(CommandError) as info:
        collectstatic(tree=tree, storages=storages)
    assert str(info.value) == (
        "Listing S3 bucket '%s' under 'static/' failed: http://127.0.0.1:%d cannot be reached. "
        'Fix: check STORAGES["staticfiles"]["OPTIONS"]["endpoint_url"] and the network.'
        % (s3.bucket, port))
    assert slept == []  # a refused connection is not waited for


# -- the server going away, the process killed, Ctrl-C ---------------------

class Relay:
    """A TCP relay in front of the test bed that can go away and come back
    on the same port, as a server that is stopped and restarted."""

    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        self.target = (parts.hostname, parts.port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections: list[socket.socket] = []
        self.requests = 0
        self.down_after: int | None = None
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.accept, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return "http://127.0.0.1:%d" % self.port

    def accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            with self.lock:
                self.connections += [client, upstream]
            threading.Thread(target=self.pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self.pipe, args=(upstream, client, False), daemon=True).start()

    def pipe(self, source: socket.socket, sink: socket.socket, counting: bool) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if counting and data[:4] in (b"PUT ", b"POST", b"GET ", b"HEAD", b"DELE"):
                    with self.lock:
                        self.requests += 1
                        over = self.down_after is not None and self.requests > self.down_after
                    if over:
                        self.stop()
                        return
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def stop(self) -> None:
        """Refuse new connections and drop the open ones."""
        try:
            self.listener.close()
        except OSError:
            pass
        with self.lock:
            for sock in self.connections:
                try:  # shutdown first: it wakes threads blocked on the socket
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                try:
                    sock.close()
                except OSError:
                    pass
            self.connections = []

    def restart(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", self.port))
        self.down_after = None
        self.thread = threading.Thread(target=self.accept, daemon=True)
        self.thread.start()


def test_server_gone_midway_then_back(s3: S3Target, tree: Tree) -> None:
    write_site(tree)
    make_files(tree, 60)
    relay = Relay(s3.endpoint or "")
    storages = s3_settings(s3, TunedS3)
    storages["staticfiles"]["OPTIONS"]["endpoint_url"] = relay.url
    location = prefix_of(storages)
    first = collectstatic(tree=tree, storages=storages)
    assert first.report.post_processed
    old = bucket_output(s3, location.rstrip("/"))
    for name in sorted(tree.files)[:30]:
        tree.write(name, tree.files[name] + b"/* v2 */")
    relay.down_after = relay.requests + 12
    with pytest.raises(CommandError):
        collectstatic(tree=tree, storages=storages, STATICSHIP_MAX_ATTEMPTS=2)
    # The previous manifest still serves, and every file it names is intact.
    now = bucket_output(s3, location.rstrip("/"))
    assert now["assets.json"] == old["assets.json"]
    manifest = json.loads(old["assets.json"])
    for hashed in manifest["paths"].values():
        assert now[hashed] == old[hashed]
    relay.restart()
    s3.reset()
    again = collectstatic(tree=tree, storages=storages)
    assert again.report.uploaded
    fresh = bucket_output(s3, location.rstrip("/"))
    manifest = json.loads(fresh["assets.json"])
    assert all(hashed in fresh for hashed in manifest["paths"].values())
    assert json.loads(fresh["assets.json"]) != json.loads(old["assets.json"])
    relay.stop()


def wait_for_puts(s3: S3Target, count: int, child: subprocess.Popen, limit: float = 60) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if s3.counts()["PutObject"] >= count:
            return
        if child.poll() is not None:
            raise AssertionError("collectstatic ended early: %r" % (child.communicate(),))
        time.sleep(0.02)
    raise AssertionError("no progress")


def test_killed_midway_next_run_uploads_only_what_is_missing(s3: S3Target, tree: Tree) -> None:
    make_files(tree, 400)
    storages = s3.settings()
    s3.reset()
    child = run_child([], child_settings(tree, storages, STATICSHIP_WORKERS=4))
    wait_for_puts(s3, 40, child)
    child.kill()
    child.communicate()
    time.sleep(0.3)  # let requests already on the wire land
    present = {k[len(prefix_of(storages)):] for k in s3.objects(prefix_of(storages))}
    assert 0 < len(present) < 400
    run = collectstatic(tree=tree, storages=storages)
    assert sorted(run.report.uploaded) == sorted(set(tree.files) - present)
    s3.assert_holds(prefix_of(storages), expected(tree, storages))


def test_ctrl_c_stops_cleanly(s3: S3Target, tree: Tree) -> None:
    write_site(tree)
    make_files(tree, 400)
    storages = s3_settings(s3, TunedS3)
    s3.reset()
    child = run_child([], child_settings(tree, storages, STATICSHIP_WORKERS=4))
    wait_for_puts(s3, 30, child)
    child.send_signal(signal.SIGINT)
    _out, err = child.communicate(timeout=120)
    assert child.returncode == 130, err.decode()
    assert "Interrupted" in err.decode() and "Traceback" not in err.decode()
    keys = s3.objects(prefix_of(storages))
    assert prefix_of(storages) + "assets.json" not in keys  # nothing partial published
    run = collectstatic(tree=tree, storages=storages)
    assert prefix_of(storages) + "assets.json" in s3.objects(prefix_of(storages))
    assert run.report.files["assets.json"] == "new"


# -- bad input ---------------------------------------------------------------

NFC = unicodedata.normalize("NFC", "café")
NFD = unicodedata.normalize("NFD", "café")
ODD_NAMES = [
    "with space/a b.css", NFC + "/menu.js", NFD + "/menu.js", "plus+sign.js", "100%.txt",
    "hash#tag.txt", "question?.txt", "amp&ersand.txt", "a/b/c/d/e/f/g/h/i/j/deep.txt",
    "empty.txt", "no-type.unknownext", "UPPER.CSS", "tilde~x.js", "quote'name.txt",
]


def write_odd_tree(tree: Tree) -> None:
    for index, name in enumerate(ODD_NAMES):
        tree.write(name, b"" if name == "empty.txt" else ("content %d" % index).encode())
    tree.write("big/over-threshold.bin", os.urandom(6 * 1024 * 1024))


def test_odd_names_round_trip_like_stock(s3: S3Target, tree: Tree) -> None:
    from boto3.s3.transfer import TransferConfig

    write_odd_tree(tree)
    small_parts = TransferConfig(multipart_threshold=5 * 1024 * 1024,
                                 multipart_chunksize=5 * 1024 * 1024)
    ours = s3.settings(location="ours", transfer_config=small_parts)
    stock = s3.settings(location="stock", transfer_config=small_parts)
    run = collectstatic(tree=tree, storages=ours)
    assert len(run.report.uploaded) == len(tree.files)
    collectstatic("--disable-staticship", tree=tree, storages=stock)
    ours_objects = {k[len(prefix_of(ours)):]: v for k, v in s3.objects(prefix_of(ours)).items()
                    if not k[len(prefix_of(ours)):].startswith(".staticship/")}
    stock_objects = {k[len(prefix_of(stock)):]: v for k, v in s3.objects(prefix_of(stock)).items()}
    assert sorted(ours_objects) == sorted(stock_objects) == sorted(tree.files)
    for name in ours_objects:
        a, b = s3.head(prefix_of(ours) + name), s3.head(prefix_of(stock) + name)
        for header in ("ContentType", "ContentEncoding", "ContentLength", "ETag"):
            assert a.get(header) == b.get(header), (name, header)
    assert ours_objects["big/over-threshold.bin"]["ETag"].strip('"').endswith("-2")
    tree.touch_all()
    s3.reset()
    again = collectstatic(tree=tree, storages=ours)
    assert again.report.uploaded == []
    assert not any(s3.counts()[w] for w in WRITES)


def test_broken_symlink_stops_before_publishing(s3: S3Target, tree: Tree) -> None:
    make_files(tree, 5)
    os.symlink(tree.root / "nowhere.css", tree.root / "broken.css")
    s3.reset()
    with pytest.raises(CommandError) as info:
        collectstatic(tree=tree, storages=s3.settings())
    assert "broken.css" in str(info.value)
    assert not any(s3.counts()[w] for w in WRITES)


def test_vanishing_file_stops_before_publishing(s3: S3Target, tree: Tree,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from staticship import pipeline, sources

    make_files(tree, 5)
    real = sources.find_files

    def find_then_vanish(*args: Any, **kwargs: Any) -> Any:
        found = real(*args, **kwargs)
        victim = sorted(found)[2]
        os.unlink(found[victim].path)
        return found

    monkeypatch.setattr(pipeline, "find_files", find_then_vanish)
    s3.reset()
    with pytest.raises(CommandError) as info:
        collectstatic(tree=tree, storages=s3.settings())
    assert sorted(tree.files)[2] in str(info.value)
    assert not any(s3.counts()[w] for w in WRITES)


def test_name_escaping_the_location_is_refused(s3: S3Target, tree: Tree) -> None:
    tree.write("x.css", b"x")
    s3.reset()
    with pytest.raises(CommandError, match="escape"):
        collectstatic(storages=s3.settings(), STATICFILES_DIRS=[("../evil", str(tree.root))])
    assert not any(s3.counts()[w] for w in WRITES)


# -- pruning -----------------------------------------------------------------

def deploy(tree: Tree, storages: dict[str, Any], version: int, *args: str, **settings: Any) -> Any:
    tree.write("css/theme/colors.css", b'@import "fonts.css";\n.v%d { color: red }\n' % version)
    tree.write("js/lib/util.js", b"export function util() { return %d }\n" % version)
    return collectstatic(*args, tree=tree, storages=storages, **settings)


@on_both_s3_servers
def test_prune_keeps_the_last_k_deployments(s3: S3Target, tree: Tree) -> None:
    write_site(tree)
    storages = s3_settings(s3, TunedS3)
    location = prefix_of(storages)
    outside = location.rstrip("/") + "-elsewhere/keep.css"
    s3.client.put_object(Bucket=s3.bucket, Key=outside, Body=b"keep")
    manifests = []
    for version in (1, 2, 3):
        deploy(tree, storages, version)
        manifests.append(json.loads(s3.get(location + "assets.json")))
    before = set(bucket_output(s3, location.rstrip("/")))

    dry = deploy(tree, storages, 3, "--prune", "--dry-run", STATICSHIP_PRUNE_KEEP=2,
                 STATICSHIP_PRUNE_MIN_AGE=0)
    assert set(bucket_output(s3, location.rstrip("/"))) == before
    assert dry.report.deleted and dry.report.bytes_freed > 0
    assert "Would delete %d files" % len(dry.report.deleted) in dry.output

    s3.reset()
    run = deploy(tree, storages, 3, "--prune", STATICSHIP_PRUNE_KEEP=2, STATICSHIP_PRUNE_MIN_AGE=0)
    assert run.report.deleted == dry.report.deleted
    assert s3.counts()["DeleteObjects"] == 1
    after = set(bucket_output(s3, location.rstrip("/")))
    for kept in manifests[1:]:
        for original, hashed in kept["paths"].items():
            assert original in after and hashed in after
    only_first = set(manifests[0]["paths"].values()) - {
        h for m in manifests[1:] for h in m["paths"].values()}
    assert only_first and not (only_first & after)
    assert s3.get(outside) == b"keep"


@on_both_s3_servers
def test_prune_without_manifest_removes_stale_files(s3: S3Target, tree: Tree) -> None:
    storages = s3.settings()
    location = prefix_of(storages)
    s3.client.put_object(Bucket=s3.bucket, Key=location + "old.js", Body=b"old")
    s3.client.put_object(Bucket=s3.bucket, Key=location.rstrip("/") + "x/keep.js", Body=b"k")
    tree.write("new.js", b"new")
    run = collectstatic("--prune", tree=tree, storages=storages, STATICSHIP_PRUNE_MIN_AGE=0)
    assert run.report.deleted == ["old.js"]
    assert set(s3.objects("")) == {location + "new.js", location.rstrip("/") + "x/keep.js",
                                   location + ".staticship/state.json"}


def test_prune_keeps_its_own_records_with_a_top_level_state_name(s3: S3Target, tree: Tree) -> None:
    """With STATICSHIP_STATE_NAME at the top of the location, the state
    record still counts as staticship's own: never planned as a stale file,
    and it holds the names of the deployments --prune keeps."""
    write_site(tree)
    storages = s3_settings(s3, TunedS3)
    location = prefix_of(storages)
    for version in (1, 2, 3):
        run = deploy(tree, storages, version, "--prune", STATICSHIP_STATE_NAME="state.json",
                     STATICSHIP_PRUNE_MIN_AGE=0,
                     STATICSHIP_PRUNE_KEEP=2)
        assert not any(n.startswith(".staticship/") or n == "state.json"
                       for n in run.report.deleted)
    assert list(s3.objects(location + ".staticship/")) == []
    state = s3.get(location + "state.json")
    assert recorded_names(state, 0) and recorded_names(state, 1)
