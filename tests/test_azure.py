"""Azure Blob: what only Azure has (Content-MD5 on blobs in blocks, blobs
without one, content settings, the List Blobs parser, the manifest class),
over HTTP to Azurite (or a live container). The scenarios both stores share
are in test_backends_common.
Request counts are taken at the server by the test bed; in live mode they
come from staticship's own report.

Operation names (testbed.classify): ``List``; ``Upload`` (Put Blob);
``PutBlock``/``PutBlockList`` (a blob in blocks); ``Get``/``GetProperties``;
``Delete``.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from collections import Counter
from typing import Any
from unittest import mock

import pytest
from django.contrib.staticfiles.storage import ManifestFilesMixin
from storages.backends.azure_storage import AzureStorage

from staticship.backends.azure import AzureAdapter
from staticship.storages import AzureManifestStorage

from .conftest import AzureTarget, Tree, collectstatic, make_files
from .helpers import Tuned

MIB = 1024 * 1024
WRITES = ("Upload", "PutBlock", "PutBlockList", "Copy", "Delete", "Batch")


def ops(azure: AzureTarget, run: Any) -> Counter[str]:
    counts = azure.counts()
    if counts is not None:
        return counts
    names = {"LIST": "List", "PUT": "Upload", "GET": "Get", "DELETE": "Delete", "BATCH": "Batch"}
    found: Counter[str] = Counter()
    for kind, n in run.report.requests.items():
        found[names.get(kind, kind)] += n
    return found



def assert_holds(azure: AzureTarget, expected: dict[str, bytes], location: str = "static") -> None:
    """The container under ``prefix`` holds exactly ``expected``, proven by
    the Content-MD5 every blob of ours carries."""
    listed = azure.under(location)
    assert sorted(listed) == sorted(expected)
    for name, blob in listed.items():
        md5 = blob.content_settings.content_md5
        assert md5 is not None, name
        assert bytes(md5).hex() == hashlib.md5(expected[name]).hexdigest(), name


def test_blob_in_blocks_carries_its_md5(azure: AzureTarget, tree: Tree,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Above the SDK's single-put size a blob goes in blocks, which leaves
    Content-MD5 unset unless the client sends it: ours send it."""
    monkeypatch.setattr(AzureAdapter, "max_single_put_size", 4 * MIB)
    monkeypatch.setattr(AzureAdapter, "max_block_size", 4 * MIB)
    big = os.urandom(10 * MIB)
    tree.write("video/intro.mp4", big)
    storages = azure.settings()
    azure.reset()
    first = collectstatic(tree=tree, storages=storages, STATICSHIP_FAST_TRANSFER=False)
    assert first.report.uploaded == ["video/intro.mp4"]
    counts = azure.counts()
    if counts is not None:
        assert counts["PutBlock"] == 3 and counts["PutBlockList"] == 1
    assert_holds(azure, tree.files)
    tree.touch_all()
    second = collectstatic(tree=tree, storages=storages, STATICSHIP_FAST_TRANSFER=False)
    assert second.report.uploaded == []


def test_blob_without_md5_is_replaced_then_stable(azure: AzureTarget, tree: Tree) -> None:
    """A blob another tool wrote in blocks has no Content-MD5: nothing proves
    it equal, so it is uploaded once; then the listing proves it."""
    data = os.urandom(6 * MIB)
    tree.write("big.bin", data)
    from azure.storage.blob import ContainerClient

    chunky = ContainerClient.from_connection_string(
        azure.connection_string, azure.container, max_single_put_size=MIB, max_block_size=MIB)
    key = azure.location() + "/big.bin"
    chunky.upload_blob(key, data)
    assert azure.objects(key)[key].content_settings.content_md5 is None
    storages = azure.settings()
    run = collectstatic(tree=tree, storages=storages)
    assert run.report.files == {"big.bin": "changed"}
    again = collectstatic(tree=tree, storages=storages)
    assert again.report.files == {"big.bin": "unchanged"}


def _describe(azure: AzureTarget, blob: Any) -> dict[str, Any]:
    settings = blob.content_settings
    return {
        "content_type": settings.content_type,
        "content_encoding": settings.content_encoding,
        "content_language": settings.content_language,
        "content_disposition": settings.content_disposition,
        "cache_control": settings.cache_control,
        "content_md5": bytes(settings.content_md5 or b"").hex(),
        "metadata": blob.metadata,
        "size": blob.size,
        "blob_type": str(blob.blob_type),
        "tier": blob.blob_tier,
        "body": hashlib.md5(azure.get(blob.name)).hexdigest(),
    }


CONFIGS = {
    "defaults": {},
    "headers": {
        "cache_control": "public, max-age=31536000, immutable",
        "object_parameters": {"content_disposition": "inline", "content_language": "en"},
    },
}


@pytest.mark.parametrize("config", sorted(CONFIGS))
@pytest.mark.parametrize("fast", [True, False], ids=["obstore", "sdk"])
def test_objects_equal_what_the_storage_writes(azure: AzureTarget, tree: Tree, fast: bool,
                                               config: str) -> None:
    tree.write("css/site.css", b"h1{}" * 100)
    tree.write("js/app.js", b"let a = 1;" * 50)
    tree.write("img/icon.svg", b"<svg/>" * 30)
    tree.write("fonts/x.woff2", b"\0\1\2" * 10)
    tree.write("data/archive.tar.gz", gzip.compress(b"tar", mtime=0))  # encoding from the name
    tree.write("noext", b"no extension")
    tree.write("odd name+1%.txt", b"odd")
    extra = CONFIGS[config]
    azure.reset()
    ours = collectstatic(tree=tree, storages=azure.settings(location="ours", **extra),
                         STATICSHIP_FAST_TRANSFER=fast)
    assert len(ours.report.uploaded) == len(tree.files)
    collectstatic("--disable-staticship", tree=tree,
                  storages=azure.settings(location="stock", **extra))
    ours_blobs = azure.under("ours")
    stock_blobs = azure.under("stock", records=True)
    assert sorted(ours_blobs) == sorted(stock_blobs) == sorted(tree.files)
    # Beside them, only the state record (each object's write digest).
    assert set(azure.under("ours", records=True)) - set(ours_blobs) == {".staticship/state.json"}
    for name in ours_blobs:
        assert _describe(azure, ours_blobs[name]) == _describe(azure, stock_blobs[name]), name


class CustomSave(AzureStorage):
    """A subclass that writes its own way (and builds its own client, which
    puts blobs in blocks above 1 MiB): uploads go through its _save, and
    still carry their MD5."""

    saved: list[str] = []

    def _get_service_client(self) -> Any:
        from azure.storage.blob import BlobServiceClient

        return BlobServiceClient.from_connection_string(
            self.connection_string, max_single_put_size=MIB, max_block_size=MIB)

    def _save(self, name: str, content: Any) -> str:
        CustomSave.saved.append(name)
        return super()._save(name, content)


def test_subclass_save_is_used_and_carries_md5(azure: AzureTarget, tree: Tree) -> None:
    make_files(tree, 6)
    tree.write("big.bin", os.urandom(3 * MIB))
    CustomSave.saved = []
    storages = azure.settings("tests.test_azure.CustomSave")
    run = collectstatic(tree=tree, storages=storages)
    assert sorted(CustomSave.saved) == sorted(tree.files)
    assert_holds(azure, tree.files)
    # An edit: the blob exists and the storage does not overwrite, so it is
    # deleted first, as stock collectstatic does.
    tree.write("big.bin", os.urandom(3 * MIB))
    azure.reset()
    edited = collectstatic(tree=tree, storages=storages)
    assert edited.report.uploaded == ["big.bin"]
    assert_holds(azure, tree.files)
    again = collectstatic(tree=tree, storages=storages)
    assert again.report.uploaded == [] and run.report.uploaded
    # The storage object is left as it was found once the run is over.
    storage = CustomSave(**azure.storage_options())
    adapter = AzureAdapter(storage, workers=4)
    adapter._hook_parameters()
    assert "get_object_parameters" in vars(storage)
    adapter.close()
    assert "get_object_parameters" not in vars(storage)


# -- manifest storage ---------------------------------------------------------
class TunedAzure(Tuned, AzureManifestStorage):
    pass


def test_manifest_class_mirrors_s3s() -> None:
    assert issubclass(AzureManifestStorage, ManifestFilesMixin)
    assert AzureManifestStorage.overwrite_files is True
    assert AzureManifestStorage.expiration_secs is None


def test_manifest_class_can_be_created_before_the_first_deployment(azure: AzureTarget) -> None:
    """ManifestFilesMixin reads the manifest when the storage is created;
    AzureStorage reports a missing blob with the SDK's own error."""
    storage = AzureManifestStorage(**azure.storage_options("empty"))
    assert storage.hashed_files == {}


LISTING = b"""<?xml version="1.0" encoding="utf-8"?>
<EnumerationResults ServiceEndpoint="http://127.0.0.1/devstoreaccount1" ContainerName="c">
  <Prefix>static/</Prefix><MaxResults>2</MaxResults>
  <Blobs>
    <Blob><Name>static/a b.css</Name><Properties>
      <Last-Modified>Mon, 01 Jun 2026 12:04:05 GMT</Last-Modified>
      <Content-Length>3</Content-Length><Content-MD5>kAFQmDzST7DWlj99KOF/cg==</Content-MD5>
    </Properties></Blob>
    <Blob><Name Encoded="true">static/odd%EF%BF%BEname.js</Name><Properties>
      <Content-Length>12</Content-Length><Content-MD5 />
    </Properties></Blob>
  </Blobs>
  <NextMarker>2!72!MDAwMDA2IXN0YXRpYy9vZGQ-</NextMarker>
</EnumerationResults>"""


def test_list_blobs_answer_is_parsed_without_the_sdk() -> None:
    from staticship.backends.azure import parse_list_blobs

    blobs, marker = parse_list_blobs(LISTING)
    assert blobs == [
        ("static/a b.css", hashlib.md5(b"abc").hexdigest(), 3, 1780315445.0),
        ("static/odd\ufffename.js", None, 12, None),
    ]
    assert marker == "2!72!MDAwMDA2IXN0YXRpYy9vZGQ-"
    last, marker = parse_list_blobs(LISTING.replace(b"<NextMarker>2!72!MDAwMDA2IXN0YXRpYy9vZGQ-</NextMarker>",
                                                    b"<NextMarker />"))
    assert len(last) == 2 and marker == ""


ODD_NAMES = ["a b.css", "plus+sign.js", "per%cent.txt", "caf\u00e9/men\u00fc.json", "q?x=1&y.txt"]


@pytest.mark.parametrize("raw", [True, False], ids=["xml", "sdk"])
def test_listing_pages_and_odd_names(azure: AzureTarget, tree: Tree, raw: bool) -> None:
    for i, name in enumerate(ODD_NAMES):
        tree.write(name, b"body %d" % i)
    storages = azure.settings()
    with mock.patch.object(AzureAdapter, "list_page_size", 2):
        first = collectstatic(tree=tree, storages=storages)
        assert set(first.report.files.values()) == {"new"}
        azure.reset()
        from azure.storage.blob import ContainerClient

        # One path at a time: the other one fails the run if it is taken.
        if raw:
            patch = mock.patch.object(ContainerClient, "list_blobs", side_effect=AssertionError("SDK listing"))
        else:
            patch = mock.patch.object(AzureAdapter, "_raw_pages", return_value=None)
        with patch:
            second = collectstatic(tree=tree, storages=storages)
    assert second.report.files == {name: "unchanged" for name in ODD_NAMES}
    counts = ops(azure, second)
    assert counts["List"] == 3  # five blobs, two a page
    assert sum(counts[op] for op in WRITES) == 0


def test_record_at_the_container_top_keeps_its_name(azure: AzureTarget, tree: Tree) -> None:
    """With no location, AzureStorage strips a name's leading dots
    (``_get_valid_path``): written through the storage's name, the state
    record became ``staticship/state.json``, in the user's namespace and not
    where the listing looks for it, so every no-change run read it and looked
    at every blob again. Our record keeps its own key."""
    make_files(tree, 3)
    storages = azure.settings(location="")
    collectstatic(tree=tree, storages=storages)
    top = azure.root + "/" if azure.root else ""
    names = set(azure.objects(top))
    assert top + ".staticship/state.json" in names, names
    assert not any(n.startswith(top + "staticship/") for n in names), names

    azure.reset()
    tree.touch_all()
    second = collectstatic(tree=tree, storages=storages)
    assert set(second.report.files.values()) == {"unchanged"}
    assert ops(azure, second) == Counter({"List": 1})
