"""Headers follow the settings (issue #16, part 1): an object whose bytes are
unchanged but whose write parameters the settings changed gets them, in
place (S3 CopyObject onto itself, GCS PATCH, Azure Set Blob Properties),
one request per object and no body bytes; read back at the emulators."""

from __future__ import annotations

import mimetypes
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable

import pytest

from .conftest import Tree, collectstatic

FILES = 6
SIZE = 4096  # each file: a header request carrying its body would show it


@dataclass
class Store:
    kind: str
    target: Any
    #: The request that updates an object's parameters in place.
    update_op: str
    #: The request that reads an object's parameters (the one-time look).
    look_op: str
    #: storage options giving objects the Cache-Control ``value``.
    cache: Callable[[str], dict[str, Any]]
    #: The Cache-Control an object carries, read back at the emulator.
    read_cache: Callable[[str], str | None]
    #: Requests of a run besides the objects' own: listing, record read and write.
    listing_op: str
    record_read: str
    record_write: str

    def storages(self, value: str, **extra: Any) -> dict[str, Any]:
        return self.target.settings(**self.cache(value), **extra)

    def keys(self) -> list[str]:
        prefix = self.target.location() + "/"
        return [prefix + name for name in sorted(self.target.under())]

    def ops(self) -> Counter[str]:
        counts: Counter[str] = self.target.counts()
        counts.pop("GetBucket", None)  # google-cloud-storage's background bucket fetch
        return counts


def s3_store(request: pytest.FixtureRequest) -> Store:
    target = request.getfixturevalue("s3")
    return Store("s3", target, "CopyObject", "HeadObject",
                 lambda v: {"object_parameters": {"CacheControl": v}},
                 lambda key: target.head(key).get("CacheControl"),
                 "ListObjectsV2", "GetObject", "PutObject")


def gcs_store(request: pytest.FixtureRequest) -> Store:
    target = request.getfixturevalue("gcs")
    return Store("gcs", target, "Patch", "Head",
                 lambda v: {"object_parameters": {"cache_control": v}},
                 lambda key: target.client.bucket(target.bucket).get_blob(key).cache_control,
                 "List", "Get", "Upload")


def azure_store(request: pytest.FixtureRequest) -> Store:
    target = request.getfixturevalue("azure")

    def read(key: str) -> str | None:
        blob = target.client.get_blob_client(key)
        return blob.get_blob_properties().content_settings.cache_control  # type: ignore[no-any-return]

    return Store("azure", target, "SetProperties", "GetProperties",
                 lambda v: {"cache_control": v}, read, "List", "Get", "Upload")


STORES = {"s3": s3_store, "gcs": gcs_store, "azure": azure_store}


@pytest.fixture(params=list(STORES))
def store(request: pytest.FixtureRequest) -> Store:
    st = STORES[request.param](request)
    if st.target.live:
        pytest.skip("counts requests at the test bed")
    return st


def site(tree: Tree) -> None:
    for i in range(FILES):
        kind = ("css", "js", "txt")[i % 3]
        tree.write("%s/file%d.%s" % (kind, i, kind), (b"/* %d */" % i).ljust(SIZE, b" "))


def assert_in_place(store: Store, counts: Counter[str], objects: int) -> None:
    """``objects`` updates in place, one request each, no body; besides them
    one listing, one read and one write of the state record."""
    assert counts == Counter({store.update_op: objects, store.listing_op: 1,
                              store.record_read: 1, store.record_write: 1}), counts
    for entry in store.target.control.requests(store.update_op):
        assert entry["bytes_in"] < SIZE, entry


def test_cache_setting_changed_updates_every_object_in_place(store: Store, tree: Tree) -> None:
    site(tree)
    first = collectstatic(tree=tree, storages=store.storages("max-age=60"))
    assert len(first.report.uploaded) == FILES
    keys = store.keys()
    assert len(keys) == FILES and all(store.read_cache(k) == "max-age=60" for k in keys)

    store.target.reset()
    changed = collectstatic(tree=tree, storages=store.storages("max-age=600"))
    assert set(changed.report.files.values()) == {"headers"}
    assert changed.report.bytes_uploaded == 0
    assert_in_place(store, store.ops(), FILES)
    for key in keys:
        assert store.read_cache(key) == "max-age=600", key
    assert "updated the headers of %d files" % FILES in changed.output

    tree.touch_all()
    store.target.reset()
    again = collectstatic(tree=tree, storages=store.storages("max-age=600"))
    assert again.report.uploaded == []
    assert store.ops() == Counter({store.listing_op: 1})  # the record is known from its MD5


def test_first_run_over_a_stock_bucket_looks_once_then_records(store: Store, tree: Tree) -> None:
    site(tree)
    collectstatic("--disable-staticship", tree=tree, storages=store.storages("max-age=60"))
    tree.touch_all()
    store.target.reset()
    first = collectstatic(tree=tree, storages=store.storages("max-age=60"))
    assert first.report.uploaded == []
    assert store.ops() == Counter({store.listing_op: 1, store.look_op: FILES,
                                   store.record_write: 1})

    store.target.reset()
    again = collectstatic(tree=tree, storages=store.storages("max-age=60"))
    assert again.report.uploaded == []
    assert store.ops() == Counter({store.listing_op: 1})


def test_a_stock_bucket_with_other_headers_is_looked_at_and_updated(store: Store,
                                                                     tree: Tree) -> None:
    site(tree)
    collectstatic("--disable-staticship", tree=tree, storages=store.storages("max-age=60"))
    store.target.reset()
    run = collectstatic(tree=tree, storages=store.storages("max-age=5"))
    assert set(run.report.files.values()) == {"headers"}
    counts = store.ops()
    assert counts[store.look_op] == FILES and counts[store.update_op] == FILES
    assert all(store.read_cache(k) == "max-age=5" for k in store.keys())


def test_dry_run_shows_headers_and_writes_nothing(store: Store, tree: Tree) -> None:
    site(tree)
    collectstatic(tree=tree, storages=store.storages("max-age=60"))
    store.target.reset()
    dry = collectstatic("--dry-run", tree=tree, storages=store.storages("max-age=1"))
    assert set(dry.report.files.values()) == {"headers"}
    assert dry.report.as_json()["counts"]["headers"] == FILES
    assert "Would update 'css/file0.css' (headers)" in dry.output
    assert "update the headers of %d files" % FILES in dry.output
    assert dry.report.bytes_uploaded == 0
    counts = store.ops()
    assert counts == Counter({store.listing_op: 1, store.record_read: 1}), counts
    assert all(store.read_cache(k) == "max-age=60" for k in store.keys())


def test_a_content_type_mapping_change_updates_content_type(
        store: Store, tree: Tree, monkeypatch: pytest.MonkeyPatch) -> None:
    tree.write("app.webmanifest", b'{"name": "x"}')
    tree.write("css/a.css", b"a{}")
    storages = store.target.settings()
    collectstatic(tree=tree, storages=storages)
    original = mimetypes.guess_type

    def guess(url: Any, strict: bool = True) -> tuple[str | None, str | None]:
        if str(url).endswith(".webmanifest"):
            return "application/x-staticship-test", None
        return original(url, strict)

    monkeypatch.setattr(mimetypes, "guess_type", guess)
    store.target.reset()
    run = collectstatic(tree=tree, storages=storages)
    assert run.report.files == {"app.webmanifest": "headers", "css/a.css": "unchanged"}
    assert store.ops()[store.update_op] == 1
    key = store.target.location() + "/app.webmanifest"
    assert content_type(store, key) == "application/x-staticship-test"


def content_type(store: Store, key: str) -> str | None:
    if store.kind == "s3":
        return store.target.head(key)["ContentType"]  # type: ignore[no-any-return]
    if store.kind == "gcs":
        return store.target.client.bucket(store.target.bucket).get_blob(key).content_type  # type: ignore[no-any-return]
    props = store.target.client.get_blob_client(key).get_blob_properties()
    return props.content_settings.content_type  # type: ignore[no-any-return]


def test_s3_default_acl_change_is_copied_in_place(s3: Any, tree: Tree) -> None:
    if s3.live:
        pytest.skip("counts requests at the test bed")
    site(tree)
    collectstatic(tree=tree, storages=s3.settings())
    s3.reset()
    run = collectstatic(tree=tree, storages=s3.settings(default_acl="public-read"))
    assert set(run.report.files.values()) == {"headers"}
    counts = s3.counts()
    assert counts["CopyObject"] == FILES and counts["HeadObject"] == 0
    assert counts["PutObject"] == 1  # the state record only
    prefix = s3.location() + "/"
    for name in s3.under():
        grants = s3.client.get_object_acl(Bucket=s3.bucket, Key=prefix + name)["Grants"]
        assert any(g["Grantee"].get("URI", "").endswith("/AllUsers")
                   and g["Permission"] == "READ" for g in grants), name


def test_s3_acl_cannot_be_read_back_so_a_stock_bucket_is_copied_without_a_look(
        s3: Any, tree: Tree) -> None:
    if s3.live:
        pytest.skip("counts requests at the test bed")
    site(tree)
    storages = s3.settings(default_acl="public-read")
    collectstatic("--disable-staticship", tree=tree, storages=storages)
    s3.reset()
    run = collectstatic(tree=tree, storages=storages)
    assert set(run.report.files.values()) == {"headers"}
    counts = s3.counts()
    assert counts["HeadObject"] == 0 and counts["CopyObject"] == FILES
    s3.reset()
    collectstatic(tree=tree, storages=storages)
    assert s3.counts() == Counter({"ListObjectsV2": 1})


def test_s3_removed_parameters_are_removed_by_the_copy(s3: Any, tree: Tree) -> None:
    """A copy that replaces the metadata names every parameter: one the
    settings no longer give (Content-Disposition, metadata) is gone."""
    if s3.live:
        pytest.skip("counts requests at the test bed")
    site(tree)
    before = {"CacheControl": "max-age=1", "ContentDisposition": "inline",
              "Metadata": {"release": "1"}}
    collectstatic(tree=tree, storages=s3.settings(object_parameters=before))
    collectstatic(tree=tree, storages=s3.settings(object_parameters={"CacheControl": "max-age=2"}))
    prefix = s3.location() + "/"
    for name in s3.under():
        head = s3.head(prefix + name)
        assert head["CacheControl"] == "max-age=2"
        assert "ContentDisposition" not in head and head.get("Metadata") == {}


def test_s3_manifest_storage_gets_new_headers_in_place(s3: Any, tree: Tree) -> None:
    """A manifest deployment records its write digests too: a new cache
    setting is a run without post-processing changes, every output copied
    in place, the manifest included, and no file body sent."""
    if s3.live:
        pytest.skip("counts requests at the test bed")
    site(tree)

    def storages(value: str) -> dict[str, Any]:
        return s3.settings("storages.backends.s3.S3ManifestStaticStorage",
                           object_parameters={"CacheControl": value})

    first = collectstatic(tree=tree, storages=storages("max-age=60"))
    outputs = sorted(first.report.files)
    s3.reset()
    run = collectstatic(tree=tree, storages=storages("max-age=600"))
    assert run.report.files == dict.fromkeys(outputs, "headers")
    assert run.report.bytes_uploaded == 0
    counts = s3.counts()
    assert counts["CopyObject"] == len(outputs)
    assert all(entry["bytes_in"] < SIZE for entry in s3.control.requests("PutObject"))  # records
    prefix = s3.location() + "/"
    assert all(s3.head(prefix + name)["CacheControl"] == "max-age=600" for name in outputs)
