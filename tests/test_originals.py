"""STATICSHIP_PUBLISH_ORIGINALS = False (issue #16, part 4): a manifest
storage publishes only the hashed copies and the manifest (and what
post-processing leaves under its own name), counted at the emulator and read
back byte for byte against Django's own output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from django.contrib.staticfiles.storage import ManifestFilesMixin

from staticship import originals

from .conftest import S3Target, Tree, collectstatic
from .test_cdn import DOMAIN as CDN_DOMAIN, MANIFEST as CDN_MANIFEST, invalidations, site as cdn_site
from .test_cdn import distribution  # noqa: F401 - the fixture, by its name
from .test_report import check_schema
from .helpers import TunedLocal, TunedS3, bucket_output, local_output, recorded_names, s3_settings, write_site

OFF = {"STATICSHIP_PUBLISH_ORIGINALS": False}
ON = {"STATICSHIP_PUBLISH_ORIGINALS": True}


class UnhashedFonts:
    """A storage whose ``file_hash`` leaves ``.eot`` files unhashed: the
    manifest maps them to their own names."""

    def file_hash(self, name: str, content: Any = None) -> str | None:
        if name is not None and name.endswith(".eot"):
            return None
        return super().file_hash(name, content)  # type: ignore[misc, no-any-return]


class UnhashedFontsS3(UnhashedFonts, TunedS3):
    pass


class UnhashedFontsLocal(UnhashedFonts, TunedLocal):
    pass


def django_output(tree: Tree, tmp_path: Path, cls: type = TunedLocal, tag: str = "a") -> tuple[
        dict[str, bytes], dict[str, str]]:
    """Django's own output for the tree, and its manifest's paths."""
    expected = local_output(tree, tmp_path, cls, tag)
    return expected, json.loads(expected["assets.json"])["paths"]


def hashed_only(expected: dict[str, bytes], paths: dict[str, str]) -> dict[str, bytes]:
    """Django's output without the originals it hashed."""
    return {n: data for n, data in expected.items() if not (n in paths and paths[n] != n)}


def state(s3: S3Target, storages: dict[str, Any]) -> bytes:
    location = storages["staticfiles"]["OPTIONS"]["location"]
    return s3.get(location + "/.staticship/state.json")


# -- pure ------------------------------------------------------------------------
def test_withheld_are_the_originals_mapped_to_a_published_other_name() -> None:
    hashed_files = {"a.css": "a.1.css", "b.eot": "b.eot", "c.js": "c.2.js", "d.png": "d.3.png"}
    names = ["a.css", "a.1.css", "b.eot", "c.js", "c.2.js", "d.png", "assets.json", "a.css.gz"]
    # d.png's hashed copy is not published: the original stays, or nothing serves d.png.
    held = originals.withheld(names, hashed_files, str, set(names) - {"d.3.png"})
    assert held == {"a.css", "c.js"}
    # A carried hashed name (published by an earlier run) counts as published.
    assert originals.withheld(["d.png"], hashed_files, str, {"d.png", "d.3.png"}) == {"d.png"}
    # An original that is also another file's hashed name is kept.
    assert originals.withheld(["x", "y"], {"x": "y", "y": "y.9"}, str, {"x", "y", "y.9"}) == {"x"}


def test_the_setting_is_an_input_only_when_off() -> None:
    assert originals.inputs("k" * 64, True) == "k" * 64
    off = originals.inputs("k" * 64, False)
    assert off != "k" * 64 and len(off) == 64 and off == originals.inputs("k" * 64, False)


def test_a_setting_that_is_not_a_bool_is_check_error_e002() -> None:
    from django.core.checks import run_checks
    from django.test import override_settings

    with override_settings(STATICSHIP_PUBLISH_ORIGINALS="false"):
        found = [m for m in run_checks() if m.id == "staticship.E002"]
    assert [m.msg for m in found] == ["STATICSHIP_PUBLISH_ORIGINALS must be True or False, not 'false'."]
    with override_settings(STATICSHIP_PUBLISH_ORIGINALS=False):
        assert not [m for m in run_checks() if m.id in ("staticship.E002", "staticship.W006")]


def test_w011_the_setting_does_nothing_without_a_manifest(tmp_path: Path) -> None:
    from django.core.checks import run_checks
    from django.test import override_settings

    def w011(backend: str, publish: Any) -> list[str]:
        storages = {"default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
                    "staticfiles": {"BACKEND": backend, "OPTIONS": {"location": str(tmp_path)}}}
        with override_settings(STORAGES=storages, STATICSHIP_PUBLISH_ORIGINALS=publish):
            return [m.msg for m in run_checks() if m.id == "staticship.W011"]

    plain = "django.core.files.storage.FileSystemStorage"
    assert w011(plain, False) == [
        "STATICSHIP_PUBLISH_ORIGINALS = False does nothing for the staticfiles storage %s: it "
        "keeps no manifest, so its files have no hashed copies and are published under their "
        "own names." % plain]
    assert w011(plain, True) == []
    assert w011("django.contrib.staticfiles.storage.ManifestStaticFilesStorage", False) == []


# -- S3 (moto) -------------------------------------------------------------------
def test_cold_deploy_publishes_only_the_hashed_copies(s3: S3Target, tree: Tree, tmp_path: Path) -> None:
    if s3.live:
        pytest.skip("counts requests at the test bed")
    write_site(tree)
    expected, paths = django_output(tree, tmp_path)
    wanted = hashed_only(expected, paths)
    originals_ = sorted(n for n in paths if paths[n] != n)
    assert len(expected) == 2 * len(originals_) + 1  # each file twice, and the manifest
    assert len(wanted) == len(originals_) + 1
    storages = s3_settings(s3, TunedS3)
    run = collectstatic(tree=tree, storages=storages, **OFF)
    # The listing, then the hashed copies, the manifest and the state record.
    assert s3.counts() == {"ListObjectsV2": 1, "PutObject": len(wanted) + 1}, s3.counts()
    location = storages["staticfiles"]["OPTIONS"]["location"]
    assert bucket_output(s3, location) == wanted  # originals absent, the rest byte for byte
    assert recorded_names(state(s3, storages)) == set(wanted)
    assert sorted(run.report.uploaded) == sorted(wanted)
    assert run.report.withheld == originals_
    assert "Not publishing %d originals (STATICSHIP_PUBLISH_ORIGINALS = False)" % len(originals_) \
        in run.output
    # Stock's summary line counts the objects written: the hashed copies and the manifest.
    assert "%d static files copied" % len(wanted) in run.output

    # The default, for comparison: every file twice.
    full = s3_settings(s3, TunedS3)
    full["staticfiles"]["OPTIONS"]["location"] = location + "-full"
    s3.reset()
    collectstatic(tree=tree, storages=full)
    assert s3.counts() == {"ListObjectsV2": 1, "PutObject": len(expected) + 1}, s3.counts()

    # A warm run with nothing changed: one listing, one read of the state record.
    tree.touch_all()
    s3.reset()
    with mock.patch.object(ManifestFilesMixin, "post_process",
                           side_effect=AssertionError("post-processed")) as post:
        warm = collectstatic(tree=tree, storages=storages, **OFF)
    assert not post.called
    assert s3.counts() == {"ListObjectsV2": 1, "GetObject": 1}, s3.counts()
    assert warm.report.uploaded == [] and warm.report.withheld == originals_
    assert "0 static files copied, %d unmodified" % len(wanted) in warm.output


def test_a_file_post_processing_leaves_unhashed_is_published(s3: S3Target, tree: Tree,
                                                             tmp_path: Path) -> None:
    write_site(tree)
    expected, paths = django_output(tree, tmp_path, UnhashedFontsLocal)
    assert paths["fonts/x.eot"] == "fonts/x.eot"
    storages = s3_settings(s3, UnhashedFontsS3)
    run = collectstatic(tree=tree, storages=storages, **OFF)
    location = storages["staticfiles"]["OPTIONS"]["location"]
    published = bucket_output(s3, location)
    assert published == hashed_only(expected, paths)
    assert published["fonts/x.eot"] == b"eot"
    assert "fonts/x.eot" not in run.report.withheld and "fonts/x.woff2" in run.report.withheld


def test_an_edit_publishes_its_hashed_copy_and_the_manifest(s3: S3Target, tree: Tree,
                                                            tmp_path: Path) -> None:
    if s3.live:
        pytest.skip("counts requests at the test bed")
    write_site(tree)
    storages = s3_settings(s3, TunedS3)
    collectstatic(tree=tree, storages=storages, **OFF)
    tree.write("css/site.css", b"h1{color:blue}\n/*# sourceMappingURL=site.css.map */\n")
    expected, paths = django_output(tree, tmp_path)
    s3.reset()
    run = collectstatic(tree=tree, storages=storages, **OFF)
    # The listing, the state record's read, and three PUTs: the hashed copy,
    # the manifest, the state record (the default writes the original too).
    assert s3.counts() == {"ListObjectsV2": 1, "GetObject": 1, "PutObject": 3}, s3.counts()
    assert sorted(run.report.uploaded) == sorted([paths["css/site.css"], "assets.json"])
    assert run.report.post_processed == ["css/site.css"]
    location = storages["staticfiles"]["OPTIONS"]["location"]
    published = bucket_output(s3, location)
    wanted = hashed_only(expected, paths)
    assert {n: published.get(n) for n in wanted} == wanted
    assert not set(published) & set(run.report.withheld)


def test_dry_run_plans_only_the_hashed_copies(s3: S3Target, tree: Tree, tmp_path: Path) -> None:
    write_site(tree)
    expected, paths = django_output(tree, tmp_path)
    wanted = hashed_only(expected, paths)
    storages = s3_settings(s3, TunedS3)
    report_path = tmp_path / "report.json"
    s3.reset()
    run = collectstatic("--dry-run", "--report", str(report_path), "-v", "1", tree=tree,
                        storages=storages, **OFF)
    counts = s3.counts()
    if counts is not None:
        assert counts == {"ListObjectsV2": 1}, counts
    assert "Would upload 'assets.json' (new)" in run.output
    assert "Would upload 'css/site.css'" not in run.output
    assert "Pretending to copy" not in run.output  # stock's line for an original written
    document = json.loads(report_path.read_text())
    check_schema(document)
    assert document["counts"]["new"] == len(wanted)
    assert sorted(f["name"] for f in document["files"]) == sorted(wanted)
    assert document["withheld"] == sorted(n for n in paths if paths[n] != n)


def _deploy(s3: S3Target, tree: Tree, storages: dict[str, Any], publish: bool, *args: str,
            **extra: Any) -> Any:
    s3.reset()
    return collectstatic(*args, tree=tree, storages=storages, STATICSHIP_PUBLISH_ORIGINALS=publish,
                         STATICSHIP_PRUNE_MIN_AGE=0, **extra)


def section(s3: S3Target, storages: dict[str, Any]) -> Any:
    """The state record's history and last manifest section."""
    from staticship.state import State

    record = State.loads(state(s3, storages))
    assert record.problem is None and record.manifest is not None
    return record.deployments, record.manifest


def toggle_site(s3: S3Target, tree: Tree,
                tmp_path: Path) -> tuple[Any, Any, Any, dict[str, Any], str]:
    """The site the toggle tests deploy: Django's output and hashed names,
    the names a hashed-only deployment publishes, the storages and their
    location."""
    if s3.live:
        pytest.skip("counts requests at the test bed")
    write_site(tree)
    expected, paths = django_output(tree, tmp_path)
    storages = s3_settings(s3, TunedS3)
    location = storages["staticfiles"]["OPTIONS"]["location"]
    return expected, paths, hashed_only(expected, paths), storages, location


def test_toggling_without_prune_keeps_what_earlier_deployments_left(s3: S3Target, tree: Tree,
                                                                     tmp_path: Path) -> None:
    expected, _paths, wanted, storages, location = toggle_site(s3, tree, tmp_path)
    held = len(expected) - len(wanted)
    _deploy(s3, tree, storages, True)
    # Off: no post-processing to redo, nothing uploaded; the record says
    # what the deployment publishes now. The originals stay in the bucket.
    off = _deploy(s3, tree, storages, False)
    assert s3.counts() == {"ListObjectsV2": 1, "GetObject": 1, "PutObject": 1}, s3.counts()
    assert off.report.uploaded == [] and bucket_output(s3, location) == expected
    assert off.report.post_processed == []  # the incremental record knows every hashed name
    history, last = section(s3, storages)
    assert set(last["outputs"]) == set(wanted)
    # The same files are the same release: one deployment, not two (a
    # toggle must not push older releases out of what --prune keeps).
    assert len(history) == 1
    # On again: the originals are published again. Their objects are still
    # there, and the record kept the digests of their headers (the release
    # that published them is kept): nothing is looked at, nothing uploaded.
    on = _deploy(s3, tree, storages, True)
    assert held and s3.counts() == {"ListObjectsV2": 1, "GetObject": 1, "PutObject": 1}, s3.counts()
    assert on.report.uploaded == [] and on.report.withheld is None
    assert on.report.post_processed == []
    assert set(section(s3, storages)[1]["outputs"]) == set(expected)
    assert bucket_output(s3, location) == expected
    # Off again, then a warm run: one listing and the record's read.
    _deploy(s3, tree, storages, False)
    assert s3.counts() == {"ListObjectsV2": 1, "GetObject": 1, "PutObject": 1}, s3.counts()
    _deploy(s3, tree, storages, False)
    assert s3.counts() == {"ListObjectsV2": 1, "GetObject": 1}, s3.counts()
    assert bucket_output(s3, location) == expected


def test_toggling_with_prune_deletes_originals_no_kept_deployment_uses(s3: S3Target, tree: Tree,
                                                                        tmp_path: Path) -> None:
    expected, paths, wanted, storages, location = toggle_site(s3, tree, tmp_path)
    held = sorted(set(expected) - set(wanted))
    _deploy(s3, tree, storages, True, "--prune")
    # Off, same files: the same deployment, which no longer uses the
    # originals: --prune deletes them (one batched request).
    pruned = _deploy(s3, tree, storages, False, "--prune")
    assert s3.counts() == {"ListObjectsV2": 1, "GetObject": 1, "PutObject": 1,
                           "DeleteObjects": 1}, s3.counts()
    assert sorted(pruned.report.deleted) == held
    assert bucket_output(s3, location) == wanted
    # On again: the originals are uploaded again, nothing is deleted.
    on = _deploy(s3, tree, storages, True, "--prune")
    assert s3.counts() == {"ListObjectsV2": 1, "GetObject": 1, "PutObject": len(held) + 1}, s3.counts()
    assert sorted(on.report.uploaded) == held and on.report.deleted == []
    assert bucket_output(s3, location) == expected
    # A new release without the originals: the full release before it is
    # kept (STATICSHIP_PRUNE_KEEP = 3), so are the originals it uses.
    tree.write("css/site.css", b"h1{color:blue}\n/*# sourceMappingURL=site.css.map */\n")
    expected2, paths2 = django_output(tree, tmp_path, tag="b")
    wanted2 = hashed_only(expected2, paths2)
    release = _deploy(s3, tree, storages, False, "--prune")
    assert release.report.deleted == []
    assert bucket_output(s3, location) == {**expected, **wanted2}
    # Keeping only the live deployment: no kept deployment uses them.
    only = _deploy(s3, tree, storages, False, "--prune", STATICSHIP_PRUNE_KEEP=1)
    assert "Nothing changed since the last deployment" in only.output
    assert sorted(only.report.deleted) == sorted({*held, paths["css/site.css"]})
    assert bucket_output(s3, location) == wanted2
    # --clear with the originals published: exactly Django's output.
    _deploy(s3, tree, storages, True, "--clear")
    assert bucket_output(s3, location) == expected2
    # --clear without: the originals go, as with --prune.
    cleared = _deploy(s3, tree, storages, False, "--clear")
    assert sorted(cleared.report.deleted) == sorted(set(expected2) - set(wanted2))
    assert bucket_output(s3, location) == wanted2


def test_cdn_invalidates_the_manifest_and_deleted_originals(s3: S3Target, tree: Tree,
                                                            distribution: str) -> None:  # noqa: F811
    """Hashed names are never invalidated: with the originals withheld an
    edit invalidates the manifest only; originals --prune deletes are
    invalidated (a CDN would serve them on)."""
    cdn_site(tree)
    storages = s3.settings(CDN_MANIFEST, custom_domain=CDN_DOMAIN)

    def deploy(publish: bool, *args: str, **extra: Any) -> Any:
        return collectstatic(*args, tree=tree, storages=storages,
                             STATICSHIP_CLOUDFRONT_DISTRIBUTION=distribution,
                             STATICSHIP_PUBLISH_ORIGINALS=publish, STATICSHIP_PRUNE_MIN_AGE=0,
                             **extra)

    deploy(True)
    pruned = deploy(False, "--prune")  # the same release, without its originals
    assert sorted(pruned.report.deleted) == ["css/a.css", "css/b.css", "js/app.js"]
    assert invalidations(s3, distribution) == [["/static/css/a.css", "/static/css/b.css",
                                                "/static/js/app.js"]]
    tree.write("css/a.css", b"a{color:green}\n")
    edit = deploy(False)
    assert len(edit.report.uploaded) == 2  # the hashed copy and the manifest
    assert sorted(invalidations(s3, distribution)) == [
        ["/static/css/a.css", "/static/css/b.css", "/static/js/app.js"],
        ["/static/staticfiles.json"]]
    deploy(False)  # no change: nothing more
    assert len(invalidations(s3, distribution)) == 2


# -- GCS and Azure (staticship's manifest classes) ------------------------------
@pytest.mark.parametrize("backend", ["gcs", "azure"])
def test_gcs_and_azure_manifest_storages_publish_only_the_hashed_copies(
        request: pytest.FixtureRequest, backend: str, tree: Tree, tmp_path: Path) -> None:
    from .test_azure import TunedAzure
    from .test_gcs import TunedGCS

    target = request.getfixturevalue(backend)
    cls = TunedGCS if backend == "gcs" else TunedAzure
    storages = target.settings("%s.%s" % (cls.__module__, cls.__qualname__))
    write_site(tree)
    expected, paths = django_output(tree, tmp_path)
    wanted = hashed_only(expected, paths)
    target.reset()
    run = collectstatic(tree=tree, storages=storages, **OFF)
    counts = target.counts()
    if counts is not None:
        counts.pop("GetBucket", None)  # google-cloud-storage's background bucket fetch
        # the listing, the hashed copies, the manifest, the state record
        assert counts == {"List": 1, "Upload": len(wanted) + 1}, counts
    where = target.location() + "/"
    assert sorted(target.under()) == sorted(wanted)
    assert {n: target.get(where + n) for n in wanted} == wanted
    assert run.report.withheld == sorted(n for n in paths if paths[n] != n)
    tree.touch_all()
    target.reset()
    warm = collectstatic(tree=tree, storages=storages, **OFF)
    assert warm.report.uploaded == []
    counts = target.counts()
    if counts is not None:
        counts.pop("GetBucket", None)
        # one listing, and the state record's read
        assert counts == {"List": 1, "Get": 1}, counts


# -- a local destination ---------------------------------------------------------
def test_local_manifest_storage_holds_only_the_hashed_copies(tree: Tree, tmp_path: Path) -> None:
    write_site(tree)
    expected, paths = django_output(tree, tmp_path)
    root = tmp_path / "out"
    storages = {"default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
                "staticfiles": {"BACKEND": "tests.helpers.TunedLocal",
                                "OPTIONS": {"location": str(root)}}}

    def deploy(publish: bool) -> Any:
        return collectstatic(tree=tree, storages=storages, STATIC_ROOT=str(root),
                             STATICSHIP_PUBLISH_ORIGINALS=publish)

    def held() -> dict[str, bytes]:
        return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
                if p.is_file() and ".staticship" not in p.parts}

    deploy(False)
    assert held() == hashed_only(expected, paths)
    assert "Nothing changed" in deploy(False).output
    on = deploy(True)
    assert sorted(on.report.uploaded) == sorted(n for n in paths if paths[n] != n)
    assert held() == expected
