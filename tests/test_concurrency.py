"""Runs that overlap, and pruning that must fail closed (issue #11, items 2,
3 and the record part of 13): conditional writes of the state record on
every store, the age floor of ``--prune``, a second run publishing while a
first one prunes, and state or deployment records that are missing, of the
wrong shape or out of date. All over the test bed's emulators."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass
from typing import Any
from unittest import mock

import pytest
from django.core.management.base import CommandError

from staticship.backends.base import MISSING, Adapter, Conflict
from staticship.pipeline import RECORD_ATTEMPTS, Pipeline

from .conftest import Tree, collectstatic
from .helpers import recorded_names, write_site

STATE = ".staticship/state.json"
OLD_RECORD = ".staticship/deployments/%s.json"
OLD_POSTPROCESS = ".staticship/postprocess.json"
MANIFEST_CLASSES = {"s3": "tests.test_manifest.TunedS3", "gcs": "tests.test_gcs.TunedGCS",
                    "azure": "tests.test_azure.TunedAzure"}


@dataclass
class Bucket:
    """One emulator's store, seen by names relative to the location."""

    kind: str
    target: Any

    def settings(self, manifest: bool = True) -> dict[str, Any]:
        return self.target.settings(MANIFEST_CLASSES[self.kind] if manifest else None)

    def key(self, name: str) -> str:
        return self.target.location() + "/" + name

    def names(self) -> set[str]:
        """Every object of the location, staticship's records included."""
        return set(self.target.under(records=True))

    def get(self, name: str) -> bytes:
        return self.target.get(self.key(name))  # type: ignore[no-any-return]

    def put(self, name: str, data: bytes) -> None:
        if self.kind == "s3":
            self.target.client.put_object(Bucket=self.target.bucket, Key=self.key(name), Body=data)
        elif self.kind == "gcs":
            self.target.client.bucket(self.target.bucket).blob(self.key(name)).upload_from_string(data)
        else:
            self.target.client.upload_blob(self.key(name), data, overwrite=True)

    def delete(self, name: str) -> None:
        if self.kind == "s3":
            self.target.client.delete_object(Bucket=self.target.bucket, Key=self.key(name))
        elif self.kind == "gcs":
            self.target.client.bucket(self.target.bucket).blob(self.key(name)).delete()
        else:
            self.target.client.delete_blob(self.key(name))

    def adapter(self) -> Adapter:
        options = self.target.storage_options("static")
        if self.kind == "s3":
            from storages.backends.s3 import S3Storage

            from staticship.backends.s3 import S3Adapter

            return S3Adapter(S3Storage(**options), workers=2)
        if self.kind == "gcs":
            from storages.backends.gcloud import GoogleCloudStorage

            from staticship.backends.gcs import GCSAdapter

            return GCSAdapter(GoogleCloudStorage(**options), workers=2)
        from storages.backends.azure_storage import AzureStorage

        from staticship.backends.azure import AzureAdapter

        return AzureAdapter(AzureStorage(**options), workers=2)

    def manifest(self) -> dict[str, str]:
        paths: dict[str, str] = json.loads(self.get("assets.json"))["paths"]
        return paths

    def snapshot(self) -> dict[str, bytes]:
        """Every hashed file the live manifest names, with its bytes (what a
        server still running that release serves; the unhashed copies are
        overwritten by every deployment, as stock's are)."""
        return {name: self.get(name) for name in self.manifest().values()}

    def assert_holds(self, files: dict[str, bytes]) -> None:
        missing = sorted(set(files) - self.names())
        assert not missing, missing
        assert {name: self.get(name) for name in files} == files


def bucket_of(request: pytest.FixtureRequest, kind: str) -> Bucket:
    target = request.getfixturevalue(kind)
    if target.live:
        pytest.skip("needs the test bed")
    return Bucket(kind, target)


@pytest.fixture(params=["s3", "gcs", "azure"])
def bucket(request: pytest.FixtureRequest) -> Bucket:
    return bucket_of(request, request.param)


@pytest.fixture
def s3_bucket(request: pytest.FixtureRequest) -> Bucket:
    return bucket_of(request, "s3")


def deploy(tree: Tree, bucket: Bucket, version: int, *args: str, **settings: Any) -> Any:
    """Publish version ``version`` of the site (two files change each time)."""
    tree.write("css/theme/colors.css", b'@import "fonts.css";\n.v%d { color: red }\n' % version)
    tree.write("js/lib/util.js", b"export function util() { return %d }\n" % version)
    return collectstatic(*args, tree=tree, storages=bucket.settings(), **settings)


# -- conditional writes of our records -------------------------------------------

def test_conditional_writes_of_small_records(bucket: Bucket) -> None:
    """read_versioned gives a tag; a write expecting it succeeds once, and a
    write expecting a tag that is no longer current is refused, as is a
    create-only write over an object that appeared meanwhile."""
    adapter = bucket.adapter()
    name = ".staticship/probe.json"
    assert adapter.read_versioned(name) == (None, MISSING)
    adapter.write_small(name, b"one", "application/json", expect=MISSING)
    with pytest.raises(Conflict):
        adapter.write_small(name, b"other", "application/json", expect=MISSING)
    data, tag = adapter.read_versioned(name)
    assert data == b"one" and tag
    adapter.write_small(name, b"two", "application/json", expect=tag)
    with pytest.raises(Conflict):
        adapter.write_small(name, b"late", "application/json", expect=tag)
    assert bucket.get(name) == b"two"
    adapter.write_small(name, b"three", "application/json")  # unconditional still works
    assert bucket.get(name) == b"three"
    listings = [adapter.inventory()]
    if bucket.kind == "s3":
        with mock.patch.object(adapter, "_fast", None):
            listings.append(adapter.inventory())  # boto3's listing
    elif bucket.kind == "azure":
        with mock.patch.object(type(adapter), "_raw_pages", return_value=None):
            listings.append(adapter.inventory())  # the SDK's listing
    for listing in listings:
        modified = listing[name].modified
        assert modified is not None and abs(modified - time.time()) < 3600, listings


# -- two runs at once ------------------------------------------------------------

def test_a_prune_while_another_run_publishes(bucket: Bucket, tree: Tree, tmp_path: Any,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Run B uploads its hashed files and stops before its manifest; run A
    (--prune) lists, publishes and prunes meanwhile; then B publishes. B's
    manifest must name only files that exist (the age floor kept them), and
    the state record must hold both deployments (B's conditional write was
    refused after A's, and B merged)."""
    write_site(tree)
    for version in (1, 2):
        deploy(tree, bucket, version)
    adapter_class = type(bucket.adapter())
    upload = adapter_class.upload
    paused, resume = threading.Event(), threading.Event()

    def pausing_upload(self: Adapter, item: Any) -> Any:
        if item.file.name == "assets.json" and not paused.is_set():
            paused.set()
            assert resume.wait(60)
        return upload(self, item)

    monkeypatch.setattr(adapter_class, "upload", pausing_upload)
    failures: list[BaseException] = []

    def run_b() -> None:
        try:
            deploy(tree, bucket, 3, "-v", "2")
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    b = threading.Thread(target=run_b)
    b.start()
    try:
        assert paused.wait(60)
        other = Tree(tmp_path / "other")
        other.root.mkdir()
        write_site(other)
        a = deploy(other, bucket, 4, "--prune", STATICSHIP_PRUNE_KEEP=2)
    finally:
        resume.set()
        b.join(60)
    assert not failures, failures
    assert a.report.deleted == []  # the files of version 1 are young too
    live = bucket.snapshot()
    assert b".v3 " in live[bucket.manifest()["css/theme/colors.css"]]  # B's manifest is live
    bucket.assert_holds(live)
    history = json.loads(bucket.get(STATE))["sections"]["deployments"]
    assert len(history) == 4 and len(set(history)) == 4, history
    # Both runs' names are recorded (B merged its uses into A's record).
    state = bucket.get(STATE)
    assert all(recorded_names(state, d) >= {"assets.json"} for d in history), history
    assert bucket.manifest()["css/theme/colors.css"] in recorded_names(state, 0)


def test_a_record_changed_on_every_attempt_gives_one_clear_error(
        s3_bucket: Bucket, tree: Tree, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another run rewrites the state record after each read: the update is
    retried a bounded number of times, then one line says what happened."""
    write_site(tree)
    deploy(tree, s3_bucket, 1)
    adapter_class = type(s3_bucket.adapter())
    read = adapter_class.read_versioned
    reads: list[str] = []

    def racing_read(self: Adapter, name: str) -> Any:
        found = read(self, name)
        if name == STATE:
            reads.append(name)
            s3_bucket.put(STATE, found[0] + b" ")  # still valid JSON, a new version
        return found

    monkeypatch.setattr(adapter_class, "read_versioned", racing_read)
    with pytest.raises(CommandError) as info:
        deploy(tree, s3_bucket, 2)
    assert str(info.value).startswith("Writing '%s' failed: another run changed it" % STATE)
    assert len(reads) == RECORD_ATTEMPTS
    assert "Traceback" not in str(info.value)


# -- pruning fails closed ----------------------------------------------------------

def test_first_prune_over_a_stock_deployment_keeps_its_files(bucket: Bucket, tree: Tree) -> None:
    """The bucket was filled by stock collectstatic (no state record). The
    first staticship --prune establishes the deployment before it from the
    live manifest and keeps its files; what came before that is unknown, so
    with K=3 it keeps everything and says so; once the last K deployments are
    recorded, pruning resumes."""
    write_site(tree)
    deploy(tree, bucket, 1, STATICSHIP_ENABLED=False)
    stock = bucket.snapshot()
    prune = ("--prune", "-v", "1")
    second = deploy(tree, bucket, 2, *prune, STATICSHIP_PRUNE_MIN_AGE=0)
    assert second.report.deleted == []
    assert ("Not pruning: the last 3 deployments cannot be established (there is no state "
            "record '%s'); every file is kept." % STATE) in second.output
    bucket.assert_holds(stock)
    kept = bucket.snapshot()
    third = deploy(tree, bucket, 3, *prune, STATICSHIP_PRUNE_MIN_AGE=0)
    assert third.report.deleted == [] and "Not pruning" not in third.output
    bucket.assert_holds({**stock, **kept})
    fourth = deploy(tree, bucket, 4, *prune, STATICSHIP_PRUNE_MIN_AGE=0)
    only_stock = set(stock) - set(kept) - set(bucket.snapshot())
    assert only_stock and sorted(only_stock) == sorted(fourth.report.deleted)
    assert not only_stock & bucket.names()


def test_the_live_manifest_establishes_the_deployment_before(s3_bucket: Bucket, tree: Tree) -> None:
    """Two stock deployments, then staticship --prune with K=2: the live
    manifest names what the previous deployment uses, so those files stay
    and only the older deployment's files go."""
    write_site(tree)
    deploy(tree, s3_bucket, 1, STATICSHIP_ENABLED=False)
    first = s3_bucket.snapshot()
    deploy(tree, s3_bucket, 2, STATICSHIP_ENABLED=False)
    second = s3_bucket.snapshot()
    run = deploy(tree, s3_bucket, 3, "--prune", STATICSHIP_PRUNE_KEEP=2, STATICSHIP_PRUNE_MIN_AGE=0)
    s3_bucket.assert_holds(second)
    only_first = set(first) - set(second) - set(s3_bucket.snapshot())
    assert only_first and sorted(only_first) == sorted(run.report.deleted)
    state = s3_bucket.get(STATE)
    live = [d for d in json.loads(state)["sections"]["deployments"] if d.startswith("live-")]
    assert len(live) == 1
    assert set(second) | {"assets.json"} <= recorded_names(state, live[0])
    assert {n for n in s3_bucket.names() if n.startswith(".staticship/")} == {STATE}


DAMAGE = {
    "state missing": (STATE, None),
    "state not JSON": (STATE, b"{not json"),
    "state of another format": (STATE, b'{"staticship": 99}'),
    "tokens a list": (STATE, b'{"staticship":1,"tokens":[]}'),
    "sections a list": (STATE, b'{"staticship":1,"tokens":{},"sections":[]}'),
    "manifest section a string": (STATE, b'{"staticship":1,"tokens":{},"sections":{"manifest":"x"}}'),
    "deployments a string": (STATE, b'{"staticship":1,"tokens":{},"sections":{"deployments":"abc"}}'),
    "deployments not strings": (STATE, b'{"staticship":1,"tokens":{},"sections":{"deployments":[1,2]}}'),
    "record missing": ("record", None),
    "record not JSON": ("record", b"[["),
    "record names a string": ("record", b'{"id":"x","names":"css/base.css"}'),
    "uses a list": (STATE, b'{"staticship":1,"tokens":{},"sections":{"deployments":["a"],"uses":[]}}'),
}


def to_earlier_format(bucket: Bucket) -> list[str]:
    """Rewrite the records as staticship wrote them before the state record
    held the names: one deployment record per deployment, the incremental
    record beside the state record (which names its digest), no ``uses`` or
    ``postprocess`` sections. Returns the history."""
    state = json.loads(bucket.get(STATE))
    sections = state["sections"]
    uses = sections.pop("uses")
    for bit, deployment in enumerate(uses["ids"]):
        names = sorted(n for n, mask in uses["names"].items() if mask >> bit & 1)
        bucket.put(OLD_RECORD % deployment, json.dumps({"id": deployment, "names": names}).encode())
    data = json.dumps(sections.pop("postprocess"), separators=(",", ":")).encode()
    bucket.put(OLD_POSTPROCESS, data)
    sections["manifest"]["records"] = {OLD_POSTPROCESS: hashlib.sha256(data).hexdigest()}
    bucket.put(STATE, json.dumps(state, sort_keys=True, separators=(",", ":")).encode())
    history: list[str] = sections["deployments"]
    return history


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_prune_keeps_everything_when_the_history_is_damaged(
        s3_bucket: Bucket, tree: Tree, damage: str) -> None:
    """A state record or deployment record that is missing or of the wrong
    shape: no traceback, the record counts as absent (said at -v 2), and
    --prune keeps every file of the deployment before (said at -v 1)."""
    bucket = s3_bucket
    write_site(tree)
    deploy(tree, bucket, 1)
    deploy(tree, bucket, 2)
    previous = bucket.snapshot()
    name, data = DAMAGE[damage]
    if name == "record":  # in a bucket of the earlier format
        name = OLD_RECORD % to_earlier_format(bucket)[0]
    if data is None:
        bucket.delete(name)
    else:
        bucket.put(name, data)
    run = deploy(tree, bucket, 3, "--prune", "-v", "2", STATICSHIP_PRUNE_MIN_AGE=0)
    assert run.report.deleted == []
    assert "Not pruning: the last 3 deployments cannot be established (" in run.output
    if name == STATE and data is not None:
        assert "The state record '%s' is treated as absent: " % STATE in run.output
    elif name != STATE:
        assert "The deployment record '%s' cannot be used: " % name in run.output
    bucket.assert_holds(previous)
    bucket.assert_holds(bucket.snapshot())


def ours(bucket: Bucket) -> set[str]:
    return {n for n in bucket.names() if n.startswith(".staticship/")}


def test_a_bucket_of_the_earlier_format_prunes_by_its_records(s3_bucket: Bucket, tree: Tree) -> None:
    """Deployment records of the earlier format, a state record without
    names: --prune reads the records of the kept deployments, deletes the
    files only older ones use, and deletes the records nothing needs any
    more (the incremental record at once, a deployment record once its
    deployment is no longer kept), until the state record is the only one."""
    bucket = s3_bucket
    write_site(tree)
    snapshots = []
    for version in (1, 2, 3):
        deploy(tree, bucket, version)
        snapshots.append(bucket.snapshot())
    d3, d2, d1 = to_earlier_format(bucket)
    assert ours(bucket) == {STATE, OLD_POSTPROCESS, *(OLD_RECORD % d for d in (d1, d2, d3))}
    left = [{OLD_RECORD % d2, OLD_RECORD % d3}, {OLD_RECORD % d3}, set()]
    for step, version in enumerate((4, 5, 6)):
        run = deploy(tree, bucket, version, "--prune", "-v", "2", STATICSHIP_PRUNE_MIN_AGE=0)
        assert "Not pruning" not in run.output and "cannot be used" not in run.output
        gone = set(snapshots[step]) - set().union(*snapshots[step + 1:])
        assert gone and sorted(gone) == sorted(run.report.deleted)
        assert ours(bucket) == {STATE} | left[step] and run.report.records_written == 1
        for kept in snapshots[step + 1:]:
            bucket.assert_holds(kept)
        snapshots.append(bucket.snapshot())


def test_clear_keeps_the_earlier_records_that_kept_deployments_need(
        s3_bucket: Bucket, tree: Tree) -> None:
    """--clear over a bucket of the earlier format: the location holds what
    the run collected, the state record, and the deployment records of the
    kept deployments the state record has no names for (so that a later
    --prune can establish them); the incremental record goes."""
    bucket = s3_bucket
    write_site(tree)
    for version in (1, 2):
        deploy(tree, bucket, version)
    d2, d1 = to_earlier_format(bucket)
    run = deploy(tree, bucket, 3, "--clear")
    state = bucket.get(STATE)
    assert bucket.names() - ours(bucket) == recorded_names(state, 0) and run.report.deleted
    assert ours(bucket) == {STATE, OLD_RECORD % d2, OLD_RECORD % d1}
    deploy(tree, bucket, 4, "--clear")
    assert ours(bucket) == {STATE, OLD_RECORD % d2}


def test_state_record_of_the_wrong_shape_is_rewritten(s3_bucket: Bucket, tree: Tree) -> None:
    """A plain run over a state record of the wrong shape: no traceback, and
    the record is replaced by a valid one."""
    write_site(tree)
    deploy(tree, s3_bucket, 1)
    s3_bucket.put(STATE, DAMAGE["manifest section a string"][1])
    run = deploy(tree, s3_bucket, 2, "-v", "2")
    assert "The state record '%s' is treated as absent: its manifest section" % STATE in run.output
    record = json.loads(s3_bucket.get(STATE))
    assert isinstance(record["sections"]["manifest"], dict)


def test_a_manifest_published_by_another_tool_is_a_gap(s3_bucket: Bucket, tree: Tree) -> None:
    """Stock collectstatic ran between two staticship runs: the live manifest
    is not the one the state record names, so --prune keeps the files that
    deployment uses."""
    write_site(tree)
    deploy(tree, s3_bucket, 1)
    deploy(tree, s3_bucket, 2, STATICSHIP_ENABLED=False)
    stock = s3_bucket.snapshot()
    run = deploy(tree, s3_bucket, 3, "--prune", STATICSHIP_PRUNE_MIN_AGE=0)
    assert "(the live manifest is not the one last recorded)" in run.output
    s3_bucket.assert_holds(stock)


# -- the age floor -----------------------------------------------------------------

def test_prune_keeps_young_objects_until_they_are_old_enough(
        bucket: Bucket, tree: Tree, monkeypatch: pytest.MonkeyPatch) -> None:
    """By the listing's last-modified time: an object written just now is
    kept by --prune at the default floor (3600 s), deleted once the clock
    says it is older; --clear does not wait."""
    settings = bucket.settings(manifest=False)
    bucket.put("old.js", b"old")
    tree.write("new.js", b"new")
    run = collectstatic("--prune", tree=tree, storages=settings)
    assert run.report.deleted == []
    assert ("Keeping 1 files written less than 3600 seconds ago or of unknown age "
            "(STATICSHIP_PRUNE_MIN_AGE)") in run.output
    assert bucket.names() >= {"old.js", "new.js"}

    monkeypatch.setattr(Pipeline, "now", staticmethod(lambda: time.time() + 3600))
    run = collectstatic("--prune", tree=tree, storages=settings)
    assert run.report.deleted == ["old.js"]
    assert "old.js" not in bucket.names()

    monkeypatch.setattr(Pipeline, "now", staticmethod(time.time))
    bucket.put("again.js", b"again")
    run = collectstatic("--clear", tree=tree, storages=settings)
    assert "again.js" not in bucket.names()
