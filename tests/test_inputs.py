"""Everything that changes what a manifest storage writes is an input of the
no-change skip (issue #11, item 7): STATIC_URL, the code of the project's
modules the storage calls, and the options each object is written with."""

from __future__ import annotations

import gzip
import importlib
import sys
from pathlib import Path
from typing import Any

import pytest

from .conftest import S3Target, Tree, collectstatic

S3_MANIFEST = "storages.backends.s3.S3ManifestStaticStorage"
LOCAL_MANIFEST = "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"
GZIPPED_TYPES = (".css", ".js", ".svg")  # django-storages' default gzip_content_types


def write_site(tree: Tree) -> None:
    tree.write("img/bg.png", b"\x89PNG bg")
    tree.write("img/icon.svg", b"<svg/>")
    # An absolute URL: Django's converter hashes it only under STATIC_URL.
    tree.write("css/abs.css", b'body { background: url("/static/img/bg.png"); }\n')
    tree.write("css/rel.css", b'.a { background: url("../img/icon.svg"); }\n')
    tree.write("js/app.js", b"console.log(1);\n")
    tree.write("notes.txt", b"plain text\n")


def local_output(tree: Tree, root: Path, backend: str = LOCAL_MANIFEST,
                 **settings: Any) -> dict[str, bytes]:
    """What Django's own storage writes for the tree, on local disk."""
    storages = {
        "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
        "staticfiles": {"BACKEND": backend, "OPTIONS": {"location": str(root)}},
    }
    collectstatic("--disable-staticship", tree=tree, storages=storages, STATIC_ROOT=str(root),
                  **settings)
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def published(s3: S3Target, location: str) -> dict[str, bytes]:
    """The bytes of each object as served (gzip bodies decompressed)."""
    found = {}
    for name in s3.under(location):
        key = "%s/%s" % (s3.location(location), name)
        data = s3.get(key)
        if s3.head(key).get("ContentEncoding") == "gzip":
            data = gzip.decompress(data)
        found[name] = data
    return found


def differing(before: dict[str, bytes], after: dict[str, bytes]) -> list[str]:
    return sorted(n for n, data in after.items() if before.get(n) != data)


def test_static_url_change_rebuilds(s3: S3Target, tree: Tree, tmp_path: Path) -> None:
    write_site(tree)
    before = local_output(tree, tmp_path / "a", STATIC_URL="/static/")
    after = local_output(tree, tmp_path / "b", STATIC_URL="/assets/")
    changed = differing(before, after)
    assert "css/abs.css" not in changed and any(n.startswith("css/abs.") for n in changed)
    storages = s3.settings(S3_MANIFEST)
    collectstatic(tree=tree, storages=storages, STATIC_URL="/static/")
    run = collectstatic(tree=tree, storages=storages, STATIC_URL="/assets/")
    assert "Nothing changed" not in run.output
    assert sorted(run.report.uploaded) == changed
    bucket = published(s3, "static")
    assert {n: bucket.get(n) for n in after} == after


HELPER = '''
from storages.backends.s3 import S3ManifestStaticStorage

def shorten(digest):
    return digest[:%d]

class HelperStorage(S3ManifestStaticStorage):
    def file_hash(self, name, content=None):
        return shorten(super().file_hash(name, content))
'''


def test_module_level_helper_change_rebuilds(s3: S3Target, tree: Tree, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The class body stays the same; a helper it calls changes."""
    write_site(tree)
    package = tmp_path / "project"
    package.mkdir()
    module_file = package / "staticship_helper_storage.py"
    module_file.write_text(HELPER % 12)
    monkeypatch.syspath_prepend(str(package))
    module = importlib.import_module("staticship_helper_storage")
    try:
        storages = s3.settings("staticship_helper_storage.HelperStorage")
        collectstatic(tree=tree, storages=storages)
        first = set(s3.under("static"))
        module_file.write_text(HELPER % 6)
        importlib.reload(module)
        run = collectstatic(tree=tree, storages=storages)
    finally:
        sys.modules.pop("staticship_helper_storage", None)
    assert "Nothing changed" not in run.output
    uploaded = set(run.report.uploaded)
    # Every hashed name is new (6 hex digits instead of 12), and the manifest.
    new_names = set(s3.under("static")) - first
    assert new_names and uploaded == new_names | {"staticfiles.json"}
    assert all(len(n.rsplit(".", 2)[1]) == 6 for n in new_names)


def test_gzip_toggle_uploads_the_compressible_outputs(s3: S3Target, tree: Tree,
                                                     tmp_path: Path) -> None:
    write_site(tree)
    expected = local_output(tree, tmp_path / "a")
    collectstatic(tree=tree, storages=s3.settings(S3_MANIFEST))
    run = collectstatic(tree=tree, storages=s3.settings(S3_MANIFEST, gzip=True))
    assert "Nothing changed" not in run.output
    compressible = sorted(n for n in expected if n.endswith(GZIPPED_TYPES))
    assert sorted(run.report.uploaded) == compressible
    for name in expected:
        head = s3.head("%s/%s" % (s3.location(), name))
        assert (head.get("ContentEncoding") == "gzip") == (name in compressible), name
    assert published(s3, "static") == expected
    # And back: the plain bytes return.
    run = collectstatic(tree=tree, storages=s3.settings(S3_MANIFEST))
    assert sorted(run.report.uploaded) == compressible
    assert all("ContentEncoding" not in s3.head("%s/%s" % (s3.location(), n))
               for n in compressible)


def test_object_parameter_toggle_rewrites_every_output(s3: S3Target, tree: Tree,
                                                       tmp_path: Path) -> None:
    write_site(tree)
    expected = local_output(tree, tmp_path / "a")
    collectstatic(tree=tree, storages=s3.settings(S3_MANIFEST))
    cached = s3.settings(S3_MANIFEST, object_parameters={"CacheControl": "max-age=60"})
    run = collectstatic(tree=tree, storages=cached)
    assert "Nothing changed" not in run.output
    assert sorted(run.report.uploaded) == sorted(expected)
    for name in expected:
        head = s3.head("%s/%s" % (s3.location(), name))
        assert head.get("CacheControl") == "max-age=60", name
    assert published(s3, "static") == expected
    # Unchanged options again: nothing to do, no post-processing.
    again = collectstatic(tree=tree, storages=cached)
    assert "Nothing changed since the last deployment" in again.output
    assert again.report.uploaded == []
