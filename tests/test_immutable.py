"""STATICSHIP_HASHED_CACHE_CONTROL: the Cache-Control of content-hashed names of
manifest storages on S3, GCS and Azure, read back from the emulators."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import override_settings

from staticship import immutable

from .conftest import Tree, collectstatic

OWN = "public, max-age=60"
IMMUTABLE = immutable.RECOMMENDED


def s3_setup(request: pytest.FixtureRequest) -> tuple[Any, dict[str, Any], Any]:
    target = request.getfixturevalue("s3")
    storages = target.settings("storages.backends.s3.S3ManifestStaticStorage",
                               object_parameters={"CacheControl": OWN})

    def cache_control(key: str) -> str | None:
        return target.head(key).get("CacheControl")

    return target, storages, cache_control


def gcs_setup(request: pytest.FixtureRequest) -> tuple[Any, dict[str, Any], Any]:
    target = request.getfixturevalue("gcs")
    storages = target.settings("staticship.storages.GoogleCloudManifestStorage",
                               object_parameters={"cache_control": OWN})

    def cache_control(key: str) -> str | None:
        return target.client.bucket(target.bucket).get_blob(key).cache_control

    return target, storages, cache_control


def azure_setup(request: pytest.FixtureRequest) -> tuple[Any, dict[str, Any], Any]:
    target = request.getfixturevalue("azure")
    storages = target.settings("staticship.storages.AzureManifestStorage", cache_control=OWN)

    def cache_control(key: str) -> str | None:
        blob = target.client.get_blob_client(key)
        return blob.get_blob_properties().content_settings.cache_control

    return target, storages, cache_control


SETUPS = {"s3": s3_setup, "gcs": gcs_setup, "azure": azure_setup}


@pytest.fixture(params=list(SETUPS))
def store(request: pytest.FixtureRequest) -> tuple[Any, dict[str, Any], Any]:
    return SETUPS[request.param](request)


def site(tree: Tree) -> None:
    tree.write("css/a.css", b'a{background:url("../img/x.png")}\n')
    tree.write("img/x.png", b"\x89PNG x")
    tree.write("js/app.js", b"app();\n")


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "client"])
def test_hashed_names_get_the_setting_and_toggling_rewrites_them(
        store: tuple[Any, dict[str, Any], Any], tree: Tree, fast: bool) -> None:
    target, storages, cache_control = store
    site(tree)
    where = target.location() + "/"

    def deploy(value: str | None) -> Any:
        return collectstatic(tree=tree, storages=storages, STATICSHIP_HASHED_CACHE_CONTROL=value,
                             STATICSHIP_FAST_TRANSFER=fast)

    deploy(IMMUTABLE)
    paths = json.loads(target.get(where + "staticfiles.json"))["paths"]
    hashed = sorted(paths.values())
    assert len(hashed) == 3 and all(paths[k] != k for k in paths)
    for name in hashed:
        assert cache_control(where + name) == IMMUTABLE, name
    for name in [*paths, "staticfiles.json"]:
        assert cache_control(where + name) == OWN, name

    again = deploy(IMMUTABLE)  # nothing changed: nothing is written
    assert again.report.uploaded == []
    assert "Nothing changed since the last deployment; skipping post-processing." in again.output

    off = deploy(None)  # the setting removed: the hashed objects get the storage's own again
    assert sorted(off.report.uploaded) == hashed
    for name in hashed:
        assert cache_control(where + name) == OWN, name

    on = deploy(IMMUTABLE)
    assert sorted(on.report.uploaded) == hashed
    for name in [*hashed]:
        assert cache_control(where + name) == IMMUTABLE, name
    assert cache_control(where + "staticfiles.json") == OWN

    changed = deploy("public, max-age=999")  # another value: rewritten again
    assert sorted(changed.report.uploaded) == hashed
    assert "skipping post-processing" in deploy("public, max-age=999").output


def test_storage_parameters_are_left_as_they_were_after_the_run(s3: Any, tree: Tree) -> None:
    from django.core.files.storage import storages as handler

    site(tree)
    storages = s3.settings("storages.backends.s3.S3ManifestStaticStorage")
    collectstatic(tree=tree, storages=storages, STATICSHIP_HASHED_CACHE_CONTROL=IMMUTABLE)
    with override_settings(STORAGES=storages):
        storage = handler.create_storage(storages["staticfiles"])
    assert "get_object_parameters" not in vars(storage)
    assert immutable.storage_cache_control(storage) is False


def test_info_check_suggests_it_for_manifest_storages_without_cache_control(s3: Any) -> None:
    def infos(storages: dict[str, Any], **settings: Any) -> list[str]:
        from django.core.checks import run_checks

        with override_settings(STORAGES=storages, **settings):
            return [m.id for m in run_checks() if m.id == "staticship.I002"]

    bare = s3.settings("storages.backends.s3.S3ManifestStaticStorage")
    assert infos(bare) == ["staticship.I002"]
    assert infos(bare, STATICSHIP_HASHED_CACHE_CONTROL=IMMUTABLE) == []
    assert infos(s3.settings("storages.backends.s3.S3ManifestStaticStorage",
                             object_parameters={"CacheControl": OWN})) == []
    assert infos(s3.settings()) == []  # not a manifest storage


def test_type_check_refuses_a_non_string() -> None:
    from django.core.checks import run_checks

    with override_settings(STATICSHIP_HASHED_CACHE_CONTROL=31536000,
                           STATICSHIP_CLOUDFRONT_DISTRIBUTION=""):
        found = [m.msg for m in run_checks() if m.id == "staticship.E009"]
    assert found == [
        "STATICSHIP_HASHED_CACHE_CONTROL must be None or a non-empty string, not 31536000.",
        "STATICSHIP_CLOUDFRONT_DISTRIBUTION must be None or a non-empty string, not ''.",
    ]
