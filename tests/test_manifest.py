"""Manifest storages on S3: the bucket equals Django's own local output
(the first two tests on moto and on s3rver)."""

from __future__ import annotations

import json
from pathlib import Path
from unittest import mock

import django
import pytest
from django.contrib.staticfiles.storage import ManifestFilesMixin
from django.core.management.base import CommandError

from .conftest import S3Target, Tree, collectstatic, on_both_s3_servers
from .helpers import (  # noqa: F401 - tests.test_manifest.TunedS3 is named in settings
    WRITES, KeepingLocal, KeepingS3, Tuned, TunedLocal, TunedS3, bucket_output, local_output, s3_settings,
    write_site,
)


@on_both_s3_servers
@pytest.mark.parametrize("pair", [(TunedS3, TunedLocal), (KeepingS3, KeepingLocal)],
                         ids=["tuned", "keep-intermediate"])
def test_bucket_equals_djangos_output(s3: S3Target, tree: Tree, tmp_path: Path,
                                      pair: tuple[type, type]) -> None:
    remote_cls, local_cls = pair
    write_site(tree)
    expected = local_output(tree, tmp_path, local_cls, "a")
    storages = s3_settings(s3, remote_cls)
    run = collectstatic(tree=tree, storages=storages)
    assert run.report.post_processed
    location = storages["staticfiles"]["OPTIONS"]["location"]
    assert bucket_output(s3, location) == expected
    assert "assets.json" in expected
    # The manifest was the last object written.
    if not s3.live:
        puts = [r["path"] for r in s3.control.requests() if r["op"] == "PutObject"]
        manifest_at = [i for i, p in enumerate(puts) if p.endswith("/assets.json")]
        state_at = [i for i, p in enumerate(puts) if "/.staticship/" in p]
        assert manifest_at and max(manifest_at) == len(puts) - 1 - len(state_at)


@on_both_s3_servers
def test_no_change_run_skips_post_processing(s3: S3Target, tree: Tree) -> None:
    write_site(tree)
    storages = s3_settings(s3, TunedS3)
    collectstatic(tree=tree, storages=storages)
    tree.touch_all()
    s3.reset()
    with mock.patch.object(ManifestFilesMixin, "post_process",
                           side_effect=AssertionError("post-processed")) as post:
        run = collectstatic(tree=tree, storages=storages)
    assert not post.called
    assert run.report.uploaded == [] and run.report.post_processed == []
    counts = s3.counts()
    if counts is not None:
        assert counts["ListObjectsV2"] == 1
        assert sum(counts.values()) <= 1 + 2
        assert not any(counts[w] for w in WRITES)


def test_config_change_triggers_a_rebuild(s3: S3Target, tree: Tree) -> None:
    write_site(tree)
    collectstatic(tree=tree, storages=s3_settings(s3, TunedS3))
    run = collectstatic(tree=tree, storages=s3_settings(s3, KeepingS3))
    assert run.report.post_processed  # keep_intermediate_files differs


def test_one_css_edit_uploads_only_what_depends_on_it(s3: S3Target, tree: Tree,
                                                      tmp_path: Path) -> None:
    write_site(tree)
    before = local_output(tree, tmp_path, TunedLocal, "before")
    storages = s3_settings(s3, TunedS3)
    collectstatic(tree=tree, storages=storages)
    tree.write("css/theme/colors.css",
               b'@import "fonts.css";\n.a { background: url("../../img/icon.svg#frag"); color: red }\n')
    after = local_output(tree, tmp_path, TunedLocal, "after")
    differing = sorted(n for n, data in after.items() if before.get(n) != data)
    s3.reset()
    run = collectstatic(tree=tree, storages=storages)
    assert sorted(run.report.uploaded) == differing
    # It, its hashed twin, the hashed twin of base.css that imports it, the manifest.
    assert "css/theme/colors.css" in differing and "assets.json" in differing
    assert any(n.startswith("css/base.") and n != "css/base.css" for n in differing)
    assert "css/base.css" not in differing and "img/bg.png" not in differing
    assert len(differing) == 4
    counts = s3.counts()
    if counts is not None:
        # one record: the state record (history, names, post-processing record)
        assert counts["PutObject"] == len(differing) + 1
    location = storages["staticfiles"]["OPTIONS"]["location"]
    published = bucket_output(s3, location)
    assert {n: published[n] for n in after} == after


def test_a_one_file_edit_writes_one_record(s3: S3Target, tree: Tree) -> None:
    """A file nothing references is edited: the emulator sees four PUTs, the
    file, its hashed twin, the manifest and one record object (the state
    record, which holds the deployment's names and the post-processing
    record: before, each was an object of its own)."""
    if s3.live:
        pytest.skip("counts requests at the test bed")
    write_site(tree)
    storages = s3_settings(s3, TunedS3)
    collectstatic(tree=tree, storages=storages)
    tree.write("css/site.css", b"h1{color:blue}\n/*# sourceMappingURL=site.css.map */\n")
    s3.reset()
    run = collectstatic(tree=tree, storages=storages)
    # The listing, the state record (read once), and four PUTs.
    assert s3.counts() == {"ListObjectsV2": 1, "GetObject": 1, "PutObject": 4}, s3.counts()
    assert run.report.records_written == 1
    location = storages["staticfiles"]["OPTIONS"]["location"]
    twin = json.loads(s3.get(location + "/assets.json"))["paths"]["css/site.css"]
    assert sorted(run.report.uploaded) == sorted(["css/site.css", twin, "assets.json"])
    assert [k for k in s3.objects(location + "/.staticship/")] == [
        location + "/.staticship/state.json"]


def test_an_edit_undone_looks_at_no_object(s3: S3Target, tree: Tree) -> None:
    """An edit, then the edit undone: the hashed twin of the first version,
    still in the bucket from two deployments ago, is published again. Its
    write digest was recorded when it was written, so no object is looked at
    (before, the record kept only the last deployment's digests: a HEAD for
    every such name, each time a change was rolled back)."""
    if s3.live:
        pytest.skip("counts requests at the test bed")
    write_site(tree)
    storages = s3_settings(s3, TunedS3)
    collectstatic(tree=tree, storages=storages)
    original = tree.files["css/site.css"]
    tree.write("css/site.css", original + b"\n/* v2 */\n")
    collectstatic(tree=tree, storages=storages)
    tree.write("css/site.css", original)
    s3.reset()
    run = collectstatic(tree=tree, storages=storages)
    assert s3.counts() == {"ListObjectsV2": 1, "GetObject": 1, "PutObject": 3}, s3.counts()
    assert sorted(run.report.uploaded) == ["assets.json", "css/site.css"]
    assert "headers" not in run.report.files.values()


def test_failed_upload_keeps_the_old_manifest(s3: S3Target, tree: Tree, tmp_path: Path) -> None:
    if s3.live:
        pytest.skip("needs the test bed's fault injection")
    write_site(tree)
    storages = s3_settings(s3, TunedS3)
    location = storages["staticfiles"]["OPTIONS"]["location"]
    collectstatic(tree=tree, storages=storages)
    old_manifest = s3.get(location + "/assets.json")
    for name in ("css/chain/c.css", "js/lib/util.js", "img/icon.svg"):
        tree.write(name, tree.files[name] + b"\n/* v2 */\n")
    s3.control.faults(fail_writes_after=2, fail_status=503)
    with pytest.raises(CommandError):
        collectstatic(tree=tree, storages=storages, STATICSHIP_MAX_ATTEMPTS=1)
    s3.control.reset()
    assert s3.get(location + "/assets.json") == old_manifest
    run = collectstatic(tree=tree, storages=storages)
    assert run.report.uploaded
    expected = local_output(tree, tmp_path, TunedLocal, "final")
    published = bucket_output(s3, location)  # also holds the older hashed files
    assert {n: published.get(n) for n in expected} == expected


@pytest.mark.parametrize("css,needle", [
    (b'body { background: url("../img/missing.png"); }', "missing.png"),
    (b"body { content: '\xff\xfe' }", "css/bad.css"),
], ids=["missing-reference", "invalid-utf8"])
def test_post_processing_error_uploads_nothing(s3: S3Target, tree: Tree, css: bytes,
                                               needle: str) -> None:
    write_site(tree)
    tree.write("css/bad.css", css)
    s3.reset()
    # As stock: Django 6.1 raises a CommandError, 5.2 the storage's own error.
    with pytest.raises(CommandError if django.VERSION >= (6, 1) else ValueError) as info:
        collectstatic(tree=tree, storages=s3_settings(s3, TunedS3))
    if django.VERSION >= (6, 1) or needle.endswith(".png"):
        assert needle in str(info.value)
    counts = s3.counts()
    if counts is not None:
        assert not any(counts[w] for w in WRITES)


def test_dry_run_lists_and_writes_nothing(s3: S3Target, tree: Tree) -> None:
    write_site(tree)
    s3.reset()
    run = collectstatic("--dry-run", tree=tree, storages=s3_settings(s3, TunedS3))
    assert "Would upload 'assets.json' (new)" in run.output
    assert "Would upload 'css/base.css' (new)" in run.output
    counts = s3.counts()
    if counts is not None:
        assert not any(counts[w] for w in WRITES)


def test_no_post_process_uploads_originals_only(s3: S3Target, tree: Tree) -> None:
    write_site(tree)
    run = collectstatic("--no-post-process", tree=tree, storages=s3_settings(s3, TunedS3))
    assert sorted(run.report.uploaded) == sorted(tree.files)
    assert run.report.post_processed == []


def test_local_manifest_destination_equals_stock(tree: Tree, tmp_path: Path) -> None:
    write_site(tree)
    expected = local_output(tree, tmp_path, TunedLocal, "stock")
    root = tmp_path / "ours"
    storages = {
        "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
        "staticfiles": {"BACKEND": "tests.test_manifest.TunedLocal",
                        "OPTIONS": {"location": str(root)}},
    }
    run = collectstatic(tree=tree, storages=storages, STATIC_ROOT=str(root))
    assert run.report.backend == "filesystem"
    ours = {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*")
            if p.is_file() and ".staticship" not in p.parts}
    assert ours == expected
    again = collectstatic(tree=tree, storages=storages, STATIC_ROOT=str(root))
    assert again.report.uploaded == [] and again.report.post_processed == []
