"""Hash what you send (issue #11, item 8): a file that changes between its
fingerprint (prepare) and its upload fails with one clear line, and no
object or record vouches for bytes the object does not hold."""

from __future__ import annotations

import base64
import gzip
import hashlib
from typing import Any
from unittest import mock

import pytest
from django.core.management.base import CommandError
from storages.backends.azure_storage import AzureStorage
from storages.backends.gcloud import GoogleCloudStorage
from storages.backends.s3 import S3Storage

from staticship.upload import Upload

from .conftest import Tree, collectstatic


def listed_md5(target: Any, entry: Any) -> str | None:
    """The MD5 (hex) the store's listing gives an object, if any."""
    if isinstance(entry, dict):  # S3
        return str(entry["ETag"]).strip('"')
    if hasattr(entry, "md5_hash"):  # GCS
        return base64.b64decode(entry.md5_hash).hex() if entry.md5_hash else None
    md5 = entry.content_settings.content_md5  # Azure
    return bytes(md5).hex() if md5 else None


def edited_between_prepare_and_upload(tree: Tree, name: str, data: bytes) -> Any:
    """Upload.run (the pipeline's apply step), rewriting ``name`` in the tree
    just before uploading."""
    original = Upload.run

    def run(self: Upload, *args: Any, **kwargs: Any) -> Any:
        tree.write(name, data)
        return original(self, *args, **kwargs)

    return mock.patch.object(Upload, "run", run)


@pytest.mark.parametrize("store", ["s3", "gcs", "azure"])
@pytest.mark.parametrize("size", [40, 20 * 1024 * 1024 + 3], ids=["small", "large"])
def test_file_changed_during_upload_fails_cleanly(request: pytest.FixtureRequest, tree: Tree,
                                                  store: str, size: int) -> None:
    target = request.getfixturevalue(store)
    tree.write("css/site.css", b"a" * size)
    tree.write("js/app.js", b"console.log(1);\n")
    changed = b"b" * size  # same size, other bytes
    with edited_between_prepare_and_upload(tree, "css/site.css", changed):
        with pytest.raises(CommandError) as info:
            collectstatic(tree=tree, storages=target.settings())
    assert "'css/site.css' changed while being uploaded" in str(info.value)
    for name, entry in target.under(records=True).items():
        key = "%s/%s" % (target.location(), name)
        vouched = listed_md5(target, entry)
        if vouched is not None and "-" not in vouched:
            assert vouched == hashlib.md5(target.get(key)).hexdigest(), name
    assert "css/site.css" not in target.under()
    # The next run uploads the file as it is now.
    run = collectstatic(tree=tree, storages=target.settings())
    assert "css/site.css" in run.report.uploaded  # (js/app.js too, if it was not reached)
    assert target.get(target.location() + "/css/site.css") == changed


class OwnSaveS3(S3Storage):
    def _save(self, name: str, content: Any) -> str:
        return str(super()._save(name, content))


class OwnSaveGCS(GoogleCloudStorage):
    def _save(self, name: str, content: Any) -> str:
        return str(super()._save(name, content))


class OwnSaveAzure(AzureStorage):
    def _save(self, name: str, content: Any) -> str:
        return str(super()._save(name, content))


@pytest.mark.parametrize("store,cls,extra", [
    ("s3", OwnSaveS3, {"gzip": True}),
    ("gcs", OwnSaveGCS, {"gzip": True}),
    ("azure", OwnSaveAzure, {}),
], ids=["s3-gzip", "gcs-gzip", "azure"])
def test_storage_that_saves_its_own_way_gets_the_prepared_source(
        request: pytest.FixtureRequest, tree: Tree, store: str, cls: type,
        extra: dict[str, Any]) -> None:
    """Through the storage's own ``_save`` (which compresses by itself), the
    source handed over is checked against the one the body was made from."""
    target = request.getfixturevalue(store)
    tree.write("css/site.css", b"a" * 300)
    storages = target.settings("%s.%s" % (cls.__module__, cls.__qualname__), **extra)
    with edited_between_prepare_and_upload(tree, "css/site.css", b"b" * 300):
        with pytest.raises(CommandError) as info:
            collectstatic(tree=tree, storages=storages)
    assert "'css/site.css' changed while being uploaded" in str(info.value)
    assert "css/site.css" not in target.under()
    collectstatic(tree=tree, storages=storages)
    stored = target.get(target.location() + "/css/site.css")
    assert (gzip.decompress(stored) if extra else stored) == b"b" * 300
