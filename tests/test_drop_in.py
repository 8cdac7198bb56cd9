"""Behaviours Django's own staticfiles tests check (issue 12), tested on
staticship's side: what a process sees after ``call_command("collectstatic")``,
storages that choose their own names, configuration errors, post-processing
failures and the stock message lines."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import django
import pytest
from django.contrib.staticfiles.storage import staticfiles_storage
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import InMemoryStorage
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from .conftest import Tree

MANIFEST = "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"


def local(backend: str) -> dict[str, Any]:
    return {
        "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
        "staticfiles": {"BACKEND": backend},
    }


@contextmanager
def site(tree: Tree, root: Path | str | None, backend: str = MANIFEST) -> Iterator[None]:
    """Settings for collecting ``tree`` into ``root``, kept for the body so
    that it can look at the live ``staticfiles_storage`` afterwards."""
    with override_settings(STATICFILES_DIRS=[str(tree.root)], STORAGES=local(backend),
                           STATIC_ROOT=str(root) if root is not None else root):
        yield


def run(*args: str, **options: Any) -> tuple[str, str]:
    """``collectstatic`` as a test or fixture calls it: by name, in-process."""
    out, err = io.StringIO(), io.StringIO()
    call_command("collectstatic", *args, interactive=False, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def write_css(tree: Tree) -> None:
    tree.write("img/x.png", b"png")
    tree.write("css/a.css", b'body { background: url("../img/x.png"); }\n')


# -- (a) the live storage holds the new manifest ---------------------------
def test_live_storage_holds_the_new_manifest(tree: Tree, tmp_path: Path) -> None:
    write_css(tree)
    root = tmp_path / "static"
    with site(tree, root):
        run(verbosity=0)
        written = json.loads((root / "staticfiles.json").read_text())
        # The instance collectstatic itself built (for its location) is the
        # one templates use: it must know the hashed names.
        assert staticfiles_storage.hashed_files == written["paths"]
        assert staticfiles_storage.manifest_hash == written["hash"]
        assert staticfiles_storage.url("css/a.css") == "/static/" + written["paths"]["css/a.css"]

        tree.write("css/a.css", b"body { color: red; }\n")
        run(verbosity=0)
        rewritten = json.loads((root / "staticfiles.json").read_text())
        assert rewritten["paths"]["css/a.css"] != written["paths"]["css/a.css"]
        assert staticfiles_storage.hashed_files == rewritten["paths"]


def test_live_storage_after_a_run_that_skipped_post_processing(
    tree: Tree, tmp_path: Path
) -> None:
    write_css(tree)
    root = tmp_path / "static"
    with site(tree, root):
        run(verbosity=0)
        # As if the instance had been built before the manifest was written
        # (by another process): a no-change run still leaves it current.
        staticfiles_storage.hashed_files = {}
        staticfiles_storage.manifest_hash = ""
        out, _ = run(verbosity=1)
        assert "skipping post-processing" in out
        written = json.loads((root / "staticfiles.json").read_text())
        assert staticfiles_storage.hashed_files == written["paths"]
        assert staticfiles_storage.manifest_hash == written["hash"]


def test_dry_run_leaves_the_live_storage_alone(tree: Tree, tmp_path: Path) -> None:
    write_css(tree)
    with site(tree, tmp_path / "static"):
        run("--dry-run", verbosity=0)
        assert staticfiles_storage.hashed_files == {}
        assert not (tmp_path / "static" / "staticfiles.json").exists()


# -- (b) storages that choose their own names ------------------------------
class RenamingMemory(InMemoryStorage):
    """Keeps what it is given, under a name of its own choosing (as Django's
    test doubles and storages that never overwrite do)."""

    def _save(self, name: str, content: Any) -> str:
        return super()._save("chosen/" + name, content)


def test_a_storage_may_choose_its_own_names(tree: Tree) -> None:
    tree.write("css/a.css", b"one")
    tree.write("js/b.js", b"two")
    with site(tree, None, "tests.test_drop_in.RenamingMemory"):
        out, _ = run(verbosity=1)
        target = staticfiles_storage._wrapped
        assert target.open("chosen/css/a.css").read() == b"one"
        assert target.open("chosen/js/b.js").read() == b"two"
    assert "2 static files copied" in out


# -- (c) configuration errors ------------------------------------------------
@pytest.mark.parametrize("root", ["", None])
def test_an_empty_static_root_is_stocks_configuration_error(tree: Tree, root: str | None) -> None:
    tree.write("css/a.css", b"one")
    backend = "django.contrib.staticfiles.storage.StaticFilesStorage"
    with site(tree, root, backend):
        with pytest.raises(ImproperlyConfigured, match="without having set the STATIC_ROOT"):
            run(verbosity=0)


# -- (d) post-processing failures --------------------------------------------
@pytest.mark.parametrize("css,error", [
    (b'body { background: url("missing.png"); }', ValueError),
    (b"body { content: '\xff\xfe' }", UnicodeDecodeError),
], ids=["missing-reference", "invalid-utf8"])
def test_a_post_processing_failure_is_told_as_stock_tells_it(
    tree: Tree, tmp_path: Path, css: bytes, error: type
) -> None:
    tree.write("css/bad.css", css)
    out, err = io.StringIO(), io.StringIO()
    with site(tree, tmp_path / "static"):
        with pytest.raises(Exception) as info:
            call_command("collectstatic", interactive=False, verbosity=0, stdout=out, stderr=err)
    assert err.getvalue() == "Post-processing 'css/bad.css' failed!\n\n"
    if django.VERSION >= (6, 1):
        assert isinstance(info.value, CommandError)
        assert isinstance(info.value.__cause__, error)
        assert "css/bad.css" in str(info.value)
    else:
        assert type(info.value) is error
    assert not (tmp_path / "static" / "staticfiles.json").exists()


# -- (e) stock's message lines -----------------------------------------------
PLAIN = "django.contrib.staticfiles.storage.StaticFilesStorage"


def test_stocks_copy_and_skip_lines_at_stocks_verbosity(tree: Tree, tmp_path: Path) -> None:
    tree.write("css/a.css", b"one")
    source = str(tree.root / "css" / "a.css")
    with site(tree, tmp_path / "static", PLAIN):
        quiet, _ = run(verbosity=1)
        assert "Copying " not in quiet
        (tmp_path / "static" / "css" / "a.css").unlink()
        loud, _ = run(verbosity=2)
        assert "Copying '%s'" % source in loud.splitlines()
        again, _ = run(verbosity=2)
        assert "Skipping 'css/a.css' (not modified)" in again.splitlines()
        dry, _ = run("--dry-run", verbosity=1)
    assert "Pretending to copy" not in dry  # nothing to copy
    with site(tree, tmp_path / "elsewhere", PLAIN):
        dry, _ = run("--dry-run", verbosity=1)
    assert "Pretending to copy '%s'" % source in dry.splitlines()


def test_stocks_clear_lines_at_stocks_verbosity(tree: Tree, tmp_path: Path) -> None:
    tree.write("css/a.css", b"one")
    root = tmp_path / "static"
    with site(tree, root, PLAIN):
        for verbosity in (1, 2):
            root.mkdir(exist_ok=True)
            (root / "gone.txt").write_bytes(b"x")
            out, _ = run("--clear", verbosity=verbosity)
            assert not (root / "gone.txt").exists()
            shown = "Deleting 'gone.txt'" in out.splitlines()
            # Django 6.1 moved the line to -v 2; 5.2 prints it at 1.
            assert shown == (verbosity >= 2 or django.VERSION < (6, 1))


# -- (f) --clear with a manifest storage ---------------------------------------
def test_clear_with_a_manifest_storage_leaves_the_manifest_as_stock(
    tree: Tree, tmp_path: Path
) -> None:
    write_css(tree)
    tree.write("test/cleared.txt", b"to be deleted")
    root = tmp_path / "static"
    with site(tree, root):
        run(verbosity=0)
        hashed = staticfiles_storage.hashed_files["test/cleared.txt"]
        assert (root / hashed).exists()
        (tree.root / "test" / "cleared.txt").unlink()
        run("--clear", verbosity=0)
        assert "test/cleared.txt" not in staticfiles_storage.hashed_files
        on_disk, _ = staticfiles_storage.load_manifest()
        assert "test/cleared.txt" not in on_disk
        assert on_disk == staticfiles_storage.hashed_files
        assert not (root / "test" / "cleared.txt").exists()
        assert not (root / hashed).exists()


# -- (g) permissions of local destinations -------------------------------------
def modes(root: Path) -> dict[str, int]:
    """Permission bits of every file and folder under ``root`` (staticship's
    own records left out)."""
    return {
        str(p.relative_to(root)): p.stat().st_mode & 0o777
        for p in sorted(root.rglob("*"))
        if ".staticship" not in p.parts
    }


@pytest.mark.parametrize("configured,expected", [
    ({"FILE_UPLOAD_PERMISSIONS": 0o640, "FILE_UPLOAD_DIRECTORY_PERMISSIONS": 0o750},
     {0o640, 0o750}),
    ({"OPTIONS": {"file_permissions_mode": 0o604, "directory_permissions_mode": 0o705}},
     {0o604, 0o705}),
    ({}, None),
], ids=["settings", "storage-options", "umask"])
@pytest.mark.parametrize("backend", [PLAIN, MANIFEST], ids=["plain", "manifest"])
def test_permissions_of_local_destinations_are_stocks(
    tree: Tree, tmp_path: Path, configured: dict[str, Any], expected: set[int] | None,
    backend: str,
) -> None:
    write_css(tree)
    for n in range(12):  # parent folders created by several upload threads at once
        tree.write("deep/d%d/er/x.txt" % n, b"x")
    configured = dict(configured)
    options = configured.pop("OPTIONS", {})
    umask = os.umask(0o022)
    os.umask(umask)
    collected = {}
    for tag, args in (("stock", ["--disable-staticship"]), ("ours", [])):
        root = tmp_path / tag
        storages = local(backend)
        storages["staticfiles"]["OPTIONS"] = options
        with override_settings(STATICFILES_DIRS=[str(tree.root)], STORAGES=storages,
                               STATIC_ROOT=str(root), **configured):
            run(*args, verbosity=0)
        collected[tag] = modes(root)
    assert collected["ours"] == collected["stock"]
    if expected is not None:
        assert set(collected["ours"].values()) == expected
    # The process umask is as it was.
    assert os.umask(umask) == umask
