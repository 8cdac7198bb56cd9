"""Deletes hit exactly the keys that were listed (issue 11, item 1), and the
runs whose --prune cannot be honoured say so (items 4, 5); a Ctrl-C says
what is true at the point it interrupts (item 14)."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import AzureTarget, GCSTarget, S3Target, Tree, collectstatic


def site(tree: Tree, count: int = 2) -> None:
    for i in range(count):
        tree.write("css%d/style%d.css" % (i, i), b"body { order: %d }\n" % i)


# -- item 1: delete the key that was listed -----------------------------------

@pytest.mark.parametrize("stray", ["css0/zz/../style0.css", "/css0/style0.css", "css0/./style0.css"])
def test_s3_prune_deletes_the_stray_key_not_the_live_one(s3: S3Target, tree: Tree, stray: str) -> None:
    """A stray object whose key normalises to a live file's key: --prune
    deletes the stray object itself, and the live file stays."""
    site(tree)
    storages = s3.settings()
    prefix = s3.location() + "/"
    collectstatic(tree=tree, storages=storages)
    s3.client.put_object(Bucket=s3.bucket, Key=prefix + stray, Body=b"stray")
    run = collectstatic("--prune", tree=tree, storages=storages)
    assert run.report.deleted == [stray]
    assert set(s3.objects(prefix)) == {prefix + n for n in tree.files}
    for name, data in tree.files.items():
        assert s3.get(prefix + name) == data


def test_azure_prune_keeps_a_file_stored_under_another_key(azure: AzureTarget, tree: Tree) -> None:
    """AzureStorage stores a source named ``weird.`` as blob ``weird`` (a blob
    name must not end with a dot): the listing shows ``weird``, which is no
    local name, yet it is the live file."""
    site(tree)
    tree.write("weird.", b"weird")
    storages = azure.settings()
    prefix = azure.location() + "/"
    collectstatic(tree=tree, storages=storages)
    assert azure.get(prefix + "weird") == b"weird"
    run = collectstatic("--prune", tree=tree, storages=storages)
    assert run.report.deleted == []
    assert "Keeping 'weird': a file this deployment keeps is stored under its key." in run.output
    assert set(azure.objects(prefix)) == {prefix + n for n in ("css0/style0.css", "css1/style1.css", "weird")}
    assert azure.get(prefix + "weird") == b"weird"


@pytest.mark.parametrize("stray", ["/css0/style0.css", "css0//style0.css"])
def test_azure_prune_deletes_the_stray_key_not_the_live_one(azure: AzureTarget, tree: Tree,
                                                          stray: str) -> None:
    """(Blob names with dot segments cannot be written: the service
    normalises the URL, so only doubled slashes can stray here.)"""
    site(tree)
    storages = azure.settings()
    prefix = azure.location() + "/"
    collectstatic(tree=tree, storages=storages)
    azure.client.upload_blob(prefix + stray, b"stray")
    assert prefix + stray in azure.objects(prefix)
    run = collectstatic("--prune", tree=tree, storages=storages)
    assert run.report.deleted == [stray]
    assert set(azure.objects(prefix)) == {prefix + n for n in tree.files}
    for name, data in tree.files.items():
        assert azure.get(prefix + name) == data


@pytest.mark.parametrize("stray", ["css0/zz/../style0.css", "/css0/style0.css", "css0/./style0.css"])
def test_gcs_prune_deletes_the_stray_key_not_the_live_one(gcs: GCSTarget, tree: Tree,
                                                        stray: str) -> None:
    site(tree)
    storages = gcs.settings()
    prefix = gcs.location() + "/"
    collectstatic(tree=tree, storages=storages)
    gcs.client.bucket(gcs.bucket).blob(prefix + stray).upload_from_string(b"stray")
    assert prefix + stray in gcs.objects(prefix)
    run = collectstatic("--prune", tree=tree, storages=storages)
    assert run.report.deleted == [stray]
    assert set(gcs.objects(prefix)) == {prefix + n for n in tree.files}
    for name, data in tree.files.items():
        assert gcs.get(prefix + name) == data


def test_deletable_spares_unlisted_keys_and_keys_of_kept_names() -> None:
    """Pure logic: a listed object goes by its own key; one without a key, or
    whose key a kept name maps to, stays (with the reason)."""
    from django.core.exceptions import SuspiciousOperation
    from django.core.files.storage import InMemoryStorage

    from staticship.backends.generic import GenericAdapter
    from staticship.plan import RemoteState

    class Stripping(GenericAdapter):
        def key(self, name: str) -> str:
            if name.startswith("/"):
                raise SuspiciousOperation(name)
            return "loc/" + name.rstrip(".")

    adapter = Stripping(InMemoryStorage())
    stale = {
        "weird": RemoteState("t", 1, key="loc/weird"),
        "a//b": RemoteState("t", 1, key="loc/a//b"),
        "gone": RemoteState("t", 1),
    }
    doomed, spared = adapter.deletable(stale, ["weird.", "/escapes", "a/b"])
    assert doomed == {"a//b": "loc/a//b"}
    assert spared == {
        "weird": "a file this deployment keeps is stored under its key",
        "gone": "the listing gave no key to delete it by",
    }
