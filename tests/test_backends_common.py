"""Google Cloud Storage and Azure Blob, the same tests for both: the core
scenarios of test_s3 (first run, a no-change run, edits, same-size edits,
a 20 MB file, --clear, faults, manifest storages byte for byte) and those of
test_reliability (bad input, pruning, batched deletes), on fake-gcs-server
and Azurite through the test bed (or on live stores). Each test runs once
per backend, through the ``store`` fixture; what only one backend has stays
in test_gcs / test_azure.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import os
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from unittest import mock
from urllib.parse import unquote

import pytest
from django.contrib.staticfiles.storage import ManifestFilesMixin
from django.core.management.base import CommandError

from staticship.backends.base import Adapter, TransferError

from .conftest import Tree, collectstatic, make_files
from .helpers import TunedLocal, local_output, write_site

MIB = 1024 * 1024
GCS_WRITES = ("Upload", "ResumableStart", "UploadPart", "Commit", "Compose", "Copy", "Delete",
              "Patch", "Batch", "CreateMultipartUpload")
AZURE_WRITES = ("Upload", "PutBlock", "PutBlockList", "Copy", "Delete", "Batch")
# Request kinds of staticship's own report, as the test bed names them (live mode).
REPORT_OPS = {"LIST": "List", "PUT": "Upload", "POST": "Upload", "GET": "Get",
              "DELETE": "Delete", "BATCH": "Batch"}


@dataclass
class Store:
    """One backend's test target, seen the same way for both backends."""

    kind: str  # "gcs" or "azure"
    target: Any  # conftest.GCSTarget or conftest.AzureTarget
    manifest_backend: str
    writes: tuple[str, ...]
    batch_limit: int
    monkeypatch: pytest.MonkeyPatch
    #: Storage options under which the big file goes in chunks.
    chunked: dict[str, Any] = field(default_factory=dict)

    def small_chunks(self) -> None:
        """Send files above 4 MiB through the backend's client, in pieces
        (GCS: resumable session with 1 MiB chunks, given ``chunked``; Azure:
        4 MiB blocks), so that a 9 MiB file exercises that path."""
        from staticship.backends import fast

        self.monkeypatch.setattr(fast, "FAST_MAX_SIZE", 4 * MIB)  # the obstore writers' limit
        if self.kind == "gcs":
            return
        from staticship.backends import azure as azure_backend

        self.monkeypatch.setattr(azure_backend.AzureAdapter, "max_single_put_size", 4 * MIB)
        self.monkeypatch.setattr(azure_backend.AzureAdapter, "max_block_size", 4 * MIB)

    @property
    def live(self) -> bool:
        return bool(self.target.live)

    @property
    def control(self) -> Any:
        return self.target.control

    def settings(self, backend: str | None = None, location: str = "static",
                 **extra: Any) -> dict[str, Any]:
        if backend is None:
            found: dict[str, Any] = self.target.settings(location=location, **extra)
        else:
            found = self.target.settings(backend, location=location, **extra)
        return found

    def location(self, name: str = "static") -> str:
        return str(self.target.location(name))

    def storage(self, location: str = "static", **extra: Any) -> Any:
        """A plain storage object on the target (the backend's own class)."""
        if self.kind == "gcs":
            from storages.backends.gcloud import GoogleCloudStorage

            return GoogleCloudStorage(**self.target.storage_options(location, **extra))
        from storages.backends.azure_storage import AzureStorage

        return AzureStorage(**self.target.storage_options(location, **extra))

    def adapter(self, location: str = "static") -> Adapter:
        if self.kind == "gcs":
            from staticship.backends.gcs import GCSAdapter

            return GCSAdapter(self.storage(location), workers=4)
        from staticship.backends.azure import AzureAdapter

        return AzureAdapter(self.storage(location), workers=4)

    def put(self, key: str, data: bytes) -> None:
        if self.kind == "gcs":
            self.target.client.bucket(self.target.bucket).blob(key).upload_from_string(data)
        else:
            self.target.client.upload_blob(key, data, overwrite=True)

    def get(self, key: str) -> bytes:
        return self.target.get(key)  # type: ignore[no-any-return]

    def keys(self, prefix: str) -> set[str]:
        return set(self.target.objects(prefix))

    def file_uploads(self) -> list[str]:
        """Paths of the uploads logged since the last reset, in order, without
        staticship's own small records. GCS: files go as XML PUTs (obstore)
        and the records through the JSON API (``/upload/...``, the name in
        the body); Azure: the records' paths name ``.staticship``."""
        paths = [unquote(r["path"]) for r in self.control.requests() if r["op"] == "Upload"]
        if self.kind == "gcs":
            return [p for p in paths if not p.startswith("/upload/")]
        return [p for p in paths if "/.staticship/" not in p]

    def md5s(self, location: str = "static") -> dict[str, str | None]:
        """Relative name -> the MD5 (hex) the store keeps for each object of
        ``location``, staticship's own records left out."""
        found: dict[str, str | None] = {}
        for name, blob in self.target.under(location).items():
            if self.kind == "gcs":
                found[name] = base64.b64decode(blob.md5_hash).hex() if blob.md5_hash else None
            else:
                md5 = blob.content_settings.content_md5
                found[name] = bytes(md5).hex() if md5 else None
        return found

    def assert_holds(self, expected: dict[str, bytes], location: str = "static") -> None:
        """``location`` holds exactly ``expected``, proven by the MD5 the store
        computed (GCS) or that every blob of ours carries (Azure)."""
        assert self.md5s(location) == {n: hashlib.md5(d).hexdigest() for n, d in expected.items()}

    def published(self, location: str = "static") -> set[str]:
        """Names in ``location`` (relative), staticship's own records left out."""
        return set(self.target.under(location))

    def describe(self, prefix: str) -> dict[str, dict[str, Any]]:
        """Every object under ``prefix``: what a browser would be served."""
        found = {}
        for key, blob in self.target.objects(prefix).items():
            if self.kind == "gcs":
                content_type, encoding = blob.content_type, blob.content_encoding
            else:
                settings = blob.content_settings
                content_type, encoding = settings.content_type, settings.content_encoding
            data = self.get(key)
            found[key[len(prefix):]] = {
                "content_type": content_type,
                "content_encoding": encoding,
                "size": blob.size,
                "length": len(data),
                "md5": hashlib.md5(data).hexdigest(),
            }
        return found

    def reset(self) -> None:
        self.target.reset()

    def ops(self, run: Any = None) -> Counter[str]:
        """Requests by operation since the last reset: at the server, or (live)
        from the run's own report."""
        counts = self.target.counts()
        if counts is not None:
            return counts  # type: ignore[no-any-return]
        found: Counter[str] = Counter()
        if run is not None:
            for kind, n in run.report.requests.items():
                found[REPORT_OPS.get(kind, kind)] += n
        return found


@pytest.fixture(params=["gcs", "azure"])
def store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Store:
    if request.param == "gcs":
        from staticship.backends import gcs as gcs_backend

        return Store("gcs", request.getfixturevalue("gcs"), "tests.test_gcs.TunedGCS", GCS_WRITES,
                     gcs_backend.BATCH_LIMIT, monkeypatch, chunked={"blob_chunk_size": MIB})
    from staticship.backends import azure as azure_backend

    return Store("azure", request.getfixturevalue("azure"), "tests.test_azure.TunedAzure",
                 AZURE_WRITES, azure_backend.BATCH_LIMIT, monkeypatch)


def emulator_only(store: Store) -> None:
    if store.live:
        pytest.skip("needs the test bed")


# -- the core scenarios --------------------------------------------------------

def test_thousand_files_first_warm_and_edited(store: Store, tree: Tree) -> None:
    make_files(tree, 1000)
    storages = store.settings()

    first = collectstatic(tree=tree, storages=storages)
    counts = store.ops(first)
    assert counts["Upload"] == 1001  # and the state record (the write digests)
    assert sum(counts.values()) - 1001 <= 3
    assert counts["List"] == 1
    assert first.output.rstrip().endswith("1000 static files copied.")
    assert first.report.backend == store.kind
    store.assert_holds(tree.files)

    tree.touch_all()
    store.reset()
    warm = collectstatic(tree=tree, storages=storages)
    counts = store.ops(warm)
    assert counts["List"] == 1
    assert sum(counts.values()) <= 3
    assert not any(counts[w] for w in store.writes)
    assert warm.output.rstrip().endswith("0 static files copied, 1000 unmodified.")

    edited = sorted(tree.files)[::100]
    for name in edited:
        tree.write(name, tree.files[name] + b"/* edited */")
    store.reset()
    third = collectstatic(tree=tree, storages=storages)
    counts = store.ops(third)
    assert counts["Upload"] == 10
    assert sum(counts.values()) - 10 <= 3
    assert sorted(third.report.uploaded) == edited
    assert third.output.rstrip().endswith("10 static files copied, 990 unmodified.")
    store.assert_holds(tree.files)


def test_location_names_are_relative(store: Store, tree: Tree) -> None:
    """Objects beside the location (a sibling prefix, the bucket's root) are
    not the storage's; listed names are relative to the location."""
    tree.write("js/app.js", b"app")
    storages = store.settings(location="deep/static")
    store.put(store.location("deep/static") + "-other/js/app.js", b"other")
    store.put("/".join(p for p in (store.target.root, "js/app.js") if p), b"app")
    first = collectstatic(tree=tree, storages=storages)
    assert first.report.files == {"js/app.js": "new"}
    second = collectstatic(tree=tree, storages=storages)
    assert second.report.files == {"js/app.js": "unchanged"}


@pytest.mark.parametrize("fast", [True, False], ids=["obstore", "client"])
@pytest.mark.parametrize("size", [15, 5 * MIB], ids=["small", "above-4MiB"])
def test_same_size_edit_is_uploaded(store: Store, tree: Tree, size: int, fast: bool) -> None:
    """Collectfasta takes an Azure blob above 4 MiB whose size is unchanged
    for unchanged; here the MD5 decides, on both stores."""
    data = os.urandom(size)
    tree.write("media/blob.bin", data)
    storages = store.settings()
    collectstatic(tree=tree, storages=storages, STATICSHIP_FAST_TRANSFER=fast)
    edited = data[:-1] + bytes([data[-1] ^ 0xFF])  # same length
    tree.write("media/blob.bin", edited)
    run = collectstatic(tree=tree, storages=storages, STATICSHIP_FAST_TRANSFER=fast)
    assert run.report.uploaded == ["media/blob.bin"]
    assert run.report.files["media/blob.bin"] == "changed"
    assert store.get(store.location() + "/media/blob.bin") == edited
    store.assert_holds(tree.files)


@pytest.mark.parametrize("fast", [True, False], ids=["obstore", "client"])
def test_large_file_is_unchanged_on_the_second_run(store: Store, tree: Tree, fast: bool) -> None:
    big = os.urandom(20 * 1000 * 1000)
    tree.write("video/intro.mp4", big)
    tree.write("css/a.css", b"a{}")
    storages = store.settings()
    store.reset()
    first = collectstatic(tree=tree, storages=storages, STATICSHIP_FAST_TRANSFER=fast)
    assert sorted(first.report.uploaded) == ["css/a.css", "video/intro.mp4"]
    if not fast and store.kind == "gcs" and not store.live:
        # Above 8 MB google-cloud-storage uploads in a resumable session.
        assert store.ops()["ResumableStart"] == 1
    assert store.get(store.location() + "/video/intro.mp4") == big
    store.assert_holds(tree.files)

    tree.touch_all()
    store.reset()
    second = collectstatic(tree=tree, storages=storages, STATICSHIP_FAST_TRANSFER=fast)
    assert second.report.uploaded == []
    assert sum(store.ops(second).values()) <= 3

    tree.write("video/intro.mp4", big[:100] + bytes([big[100] ^ 1]) + big[101:])
    third = collectstatic(tree=tree, storages=storages, STATICSHIP_FAST_TRANSFER=fast)
    assert third.report.uploaded == ["video/intro.mp4"]


def test_dry_run_writes_nothing(store: Store, tree: Tree) -> None:
    make_files(tree, 12)
    store.reset()
    run = collectstatic("--dry-run", tree=tree, storages=store.settings())
    assert not any(store.ops(run)[w] for w in store.writes)
    assert run.output.count("Would upload") == 12
    assert store.keys(store.location() + "/") == set()


def test_clear_removes_only_stale_files_in_the_location(store: Store, tree: Tree) -> None:
    root = store.location()
    store.put(root + "/old/gone.js", b"x")
    store.put(root + "-other/keep.js", b"x")
    tree.write("js/app.js", b"app")
    store.reset()
    run = collectstatic("--clear", tree=tree, storages=store.settings())
    assert run.report.deleted == ["old/gone.js"]
    counts = store.ops(run)
    assert counts["Batch"] == 1 and counts["Delete"] == 0
    keys = store.keys(root)
    assert root + "/js/app.js" in keys
    assert root + "/old/gone.js" not in keys
    assert root + "-other/keep.js" in keys


@pytest.mark.parametrize("fast", [True, False], ids=["obstore", "client"])
def test_a_failing_upload_fails_the_run_clearly(store: Store, tree: Tree, fast: bool) -> None:
    emulator_only(store)
    make_files(tree, 30)
    store.control.faults(fail_writes_after=5, fail_status=403)
    with pytest.raises(CommandError) as info:
        collectstatic(tree=tree, storages=store.settings(), STATICSHIP_FAST_TRANSFER=fast)
    message = str(info.value)
    assert "failed: access denied" in message and "Fix: " in message


def test_transient_errors_are_retried(store: Store, tree: Tree) -> None:
    emulator_only(store)
    make_files(tree, 40)
    store.control.faults(transient_rate=0.2, seed=7)
    run = collectstatic(tree=tree, storages=store.settings())
    store.control.reset()
    assert len(run.report.uploaded) == 40
    store.assert_holds(tree.files)


def test_manifest_storage_equals_djangos_output(store: Store, tree: Tree, tmp_path: Any) -> None:
    write_site(tree)
    expected = local_output(tree, tmp_path, TunedLocal, "a")
    assert "assets.json" in expected
    storages = store.settings(store.manifest_backend)
    store.reset()
    run = collectstatic(tree=tree, storages=storages)
    assert run.report.backend == store.kind
    assert run.report.post_processed
    prefix = store.location() + "/"
    published = {name: store.get(prefix + name) for name in store.published()}
    assert published == expected
    if not store.live:
        # Every file once, the manifest last; staticship's own records aside.
        files = store.file_uploads()
        assert len(files) == len(expected)
        assert files[-1].endswith("/assets.json")

    # No change: no post-processing, one listing, one read of the state record.
    tree.touch_all()
    store.reset()
    with mock.patch.object(ManifestFilesMixin, "post_process",
                           side_effect=AssertionError("post-processed")) as post:
        again = collectstatic(tree=tree, storages=storages)
    assert not post.called
    assert again.report.uploaded == []
    counts = store.ops(again)
    assert counts["List"] == 1
    assert sum(counts.values()) <= 3
    assert not any(counts[w] for w in store.writes)


def test_stock_collectstatic_works_with_the_manifest_class(store: Store, tree: Tree,
                                                           tmp_path: Any) -> None:
    write_site(tree)
    expected = local_output(tree, tmp_path, TunedLocal, "b")
    collectstatic("--disable-staticship", tree=tree,
                  storages=store.settings(store.manifest_backend, location="stock"))
    prefix = store.location("stock") + "/"
    assert {k[len(prefix):]: store.get(k) for k in store.keys(prefix)} == expected


# -- bad input -----------------------------------------------------------------

NFC = unicodedata.normalize("NFC", "café")
NFD = unicodedata.normalize("NFD", "café")
ODD_NAMES = [
    "with space/a b.css", NFC + "/menu.js", NFD + "/menu.js", "plus+sign.js", "100%.txt",
    "hash#tag.txt", "question?.txt", "amp&ersand.txt", "tilde~x.js", "quote'name.txt",
    'double"quote.txt', "a/b/c/d/e/f/g/h/i/j/k/l/deep.txt", "empty.txt",
    "no-type.unknownext", "UPPER.CSS", "Mixed.Js",
]
BIG = "big/over-threshold.bin"
BIG_SIZE = 9 * MIB + 123  # above 8 MB (GCS: resumable) and two 4 MiB blocks (Azure)


def write_odd_tree(tree: Tree) -> None:
    for index, name in enumerate(ODD_NAMES):
        tree.write(name, b"" if name == "empty.txt" else ("content %d\n" % index).encode())
    tree.write(BIG, os.urandom(BIG_SIZE))


def assert_big_file_went_in_chunks(store: Store) -> None:
    if store.live:
        return
    counts = store.ops()
    if store.kind == "gcs":
        assert counts["ResumableStart"] == 1, counts
        assert counts["UploadPart"] + counts["Commit"] == -(-BIG_SIZE // MIB), counts
    else:
        assert counts["PutBlock"] == 3 and counts["PutBlockList"] == 1, counts


@pytest.mark.parametrize("fast", [True, False], ids=["obstore", "client"])
def test_odd_names_round_trip_like_stock(store: Store, tree: Tree, fast: bool) -> None:
    store.small_chunks()
    write_odd_tree(tree)
    assert NFC != NFD
    assert (tree.root / NFC / "menu.js").exists() and (tree.root / NFD / "menu.js").exists()
    ours = store.settings(location="ours", **store.chunked)
    stock = store.settings(location="stock", **store.chunked)
    store.reset()
    run = collectstatic(tree=tree, storages=ours, STATICSHIP_FAST_TRANSFER=fast)
    assert sorted(run.report.uploaded) == sorted(tree.files)
    assert_big_file_went_in_chunks(store)
    collectstatic("--disable-staticship", tree=tree, storages=stock)

    ours_objects = store.describe(store.location("ours") + "/")
    stock_objects = store.describe(store.location("stock") + "/")
    ours_objects = {k: v for k, v in ours_objects.items() if not k.startswith(".staticship/")}
    assert sorted(ours_objects) == sorted(stock_objects) == sorted(tree.files)
    for name, data in tree.files.items():
        assert ours_objects[name] == stock_objects[name], name
        assert ours_objects[name]["md5"] == hashlib.md5(data).hexdigest(), name
        assert ours_objects[name]["size"] == len(data), name
    assert ours_objects["UPPER.CSS"]["content_type"] == "text/css"
    assert ours_objects["empty.txt"]["size"] == 0

    tree.touch_all()
    store.reset()
    again = collectstatic(tree=tree, storages=ours, STATICSHIP_FAST_TRANSFER=fast)
    assert again.report.uploaded == []
    assert again.report.files == dict.fromkeys(tree.files, "unchanged")
    counts = store.ops(again)
    assert not any(counts[w] for w in store.writes), counts
    assert counts["List"] == 1


# -- batched deletes -----------------------------------------------------------

def test_delete_many_goes_in_batches_and_ignores_missing(store: Store) -> None:
    """More objects than one batch takes, odd names among them, and names
    that do not exist: everything named goes, in two batch requests."""
    emulator_only(store)
    location = store.location("del")
    names = ODD_NAMES + ["n/%04d.js" % i for i in range(store.batch_limit + 10 - len(ODD_NAMES))]
    for name in names:
        store.put(location + "/" + name, b"x")
    store.put(location + "-other/n/0001.js", b"keep")
    store.put(location + "/kept.js", b"keep")
    adapter = store.adapter("del")
    store.reset()
    adapter.delete_many([location + "/" + n for n in (*names, "never/there.js", "n/9999.js")])
    counts = store.ops()
    assert counts == Counter({"Batch": 2}), counts
    assert store.keys(location + "/") == {location + "/kept.js"}
    assert store.get(location + "-other/n/0001.js") == b"keep"
    assert adapter.requests == Counter({"BATCH": 2})
    # Again: every object is missing now, which is no error.
    adapter.delete_many([location + "/" + n for n in names[:3]])
    assert adapter.requests["BATCH"] == 3


def test_delete_many_refused_names_the_object(store: Store) -> None:
    emulator_only(store)
    location = store.location("refused")
    store.put(location + "/a.js", b"a")
    adapter = store.adapter("refused")
    store.control.faults(fail_writes_after=0, fail_status=403)
    with pytest.raises(TransferError) as info:
        adapter.delete_many([location + "/a.js"])
    assert location + "/a.js" in str(info.value)
    assert not adapter.is_transient(info.value)
    assert adapter.explain(info.value) and "access denied" in adapter.explain(info.value).cause

    store.reset()
    store.control.faults(throttle_burst=1)
    if store.kind == "gcs":
        # One request of ours, not retried below the pipeline (which retries it).
        with pytest.raises(TransferError) as info:
            adapter.delete_many([location + "/a.js"])
        assert adapter.is_transient(info.value)
        adapter.delete_many([location + "/a.js"])
    else:
        adapter.delete_many([location + "/a.js"])  # the Azure SDK retries a 503 by itself
    statuses = [r["status"] for r in store.control.requests()]
    assert statuses == [503, 202 if store.kind == "azure" else 200]
    assert store.keys(location + "/") == set()


def test_prune_failure_is_one_clear_line(store: Store, tree: Tree) -> None:
    emulator_only(store)
    from django.core.management.base import CommandError

    storages = store.settings()
    location = store.location()
    store.put(location + "/old.js", b"old")
    tree.write("new.js", b"new")
    collectstatic(tree=tree, storages=storages)
    store.control.faults(fail_writes_after=0, fail_status=403)
    with pytest.raises(CommandError) as info:
        collectstatic("--prune", tree=tree, storages=storages, STATICSHIP_PRUNE_MIN_AGE=0)
    message = str(info.value)
    assert "Deleting stale files failed" in message and "old.js" in message
    assert "failed: access denied" in message and "Fix: " in message
    store.reset()
    assert location + "/old.js" in store.keys(location + "/")


# -- pruning -------------------------------------------------------------------

def deploy(tree: Tree, storages: dict[str, Any], version: int, *args: str, **settings: Any) -> Any:
    tree.write("css/theme/colors.css", b'@import "fonts.css";\n.v%d { color: red }\n' % version)
    tree.write("js/lib/util.js", b"export function util() { return %d }\n" % version)
    return collectstatic(*args, tree=tree, storages=storages, **settings)


def test_prune_keeps_the_last_k_deployments(store: Store, tree: Tree) -> None:
    write_site(tree)
    storages = store.settings(store.manifest_backend)
    location = store.location()
    outside = location + "-elsewhere/keep.css"
    store.put(outside, b"keep")
    manifests = []
    for version in (1, 2, 3):
        deploy(tree, storages, version)
        manifests.append(json.loads(store.get(location + "/assets.json")))
    before = store.keys(location + "/")
    # One record object: the state record names the deployments and their files.
    assert sorted(k for k in before if "/.staticship/" in k) == [location + "/.staticship/state.json"]
    assert len(json.loads(store.get(location + "/.staticship/state.json"))["sections"]["uses"]["ids"]) == 3

    store.reset()
    dry = deploy(tree, storages, 3, "--prune", "--dry-run", STATICSHIP_PRUNE_KEEP=2,
                 STATICSHIP_PRUNE_MIN_AGE=0)
    assert store.keys(location + "/") == before
    assert dry.report.deleted and dry.report.bytes_freed > 0
    assert "Would delete %d files" % len(dry.report.deleted) in dry.output
    # The bytes freed in the unit the summary uses (not "15351 bytes").
    assert re.search(r"Would delete \d+ files \(\d+(\.\d)? (B|KB|MB)\)\.", dry.output)
    for name in dry.report.deleted:
        assert "Pretending to delete '%s'" % name in dry.output
    counts = store.ops(dry)
    assert not any(counts[w] for w in store.writes), counts

    store.reset()
    run = deploy(tree, storages, 3, "--prune", STATICSHIP_PRUNE_KEEP=2, STATICSHIP_PRUNE_MIN_AGE=0)
    assert run.report.deleted == dry.report.deleted
    counts = store.ops(run)
    batches = -(-len(run.report.deleted) // store.batch_limit)
    assert counts["Batch"] == batches and counts["Delete"] == 0, counts
    after = store.published()
    for kept in manifests[1:]:
        for original, hashed in kept["paths"].items():
            assert original in after and hashed in after
    only_first = set(manifests[0]["paths"].values()) - {
        h for m in manifests[1:] for h in m["paths"].values()}
    assert only_first and not (only_first & after)
    assert after == store.published() and not (set(run.report.deleted) & after)
    assert sorted(k for k in store.keys(location + "/") if "/.staticship/" in k) == [
        location + "/.staticship/state.json"]
    assert store.get(outside) == b"keep"


def test_prune_without_manifest_removes_stale_files(store: Store, tree: Tree) -> None:
    storages = store.settings()
    location = store.location()
    store.put(location + "/old.js", b"old")
    store.put(location + "/old/deeper/gone.css", b"old")
    store.put(location + "x/keep.js", b"k")
    tree.write("new.js", b"new")
    store.reset()
    run = collectstatic("--prune", tree=tree, storages=storages, STATICSHIP_PRUNE_MIN_AGE=0)
    assert sorted(run.report.deleted) == ["old.js", "old/deeper/gone.css"]
    assert store.keys(location) == {location + "/new.js", location + "x/keep.js",
                                    location + "/.staticship/state.json"}
    counts = store.ops(run)
    assert counts["Batch"] == 1 and counts["Delete"] == 0, counts
