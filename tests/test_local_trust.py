"""Local destinations (STATIC_ROOT): a skip rests on content or on the file's
identity and times recorded when it was written (issue #11, item 6), and
staticship's own temporaries are never taken for user files (item 12)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .conftest import Tree, collectstatic

LOCAL_MANIFEST = "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"


def storages(root: Path, backend: str = LOCAL_MANIFEST) -> dict[str, Any]:
    return {
        "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
        "staticfiles": {"BACKEND": backend, "OPTIONS": {"location": str(root)}},
    }


def contents(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".staticship" not in p.relative_to(root).parts}


def write_site(tree: Tree) -> None:
    tree.write("css/site.css", b'body { background: url("../img/bg.png"); }\n')
    tree.write("img/bg.png", b"\x89PNG bg")
    tree.write("js/app.js", b"console.log(1);\n")


def run(tree: Tree, root: Path, *args: str) -> Any:
    return collectstatic(*args, tree=tree, storages=storages(root), STATIC_ROOT=str(root))


def test_same_size_edit_in_static_root_is_repaired(tree: Tree, tmp_path: Path) -> None:
    write_site(tree)
    root = tmp_path / "root"
    run(tree, root)
    expected = contents(root)
    hashed = next(n for n in expected if n.startswith("css/site.") and n != "css/site.css")
    for name in (hashed, "js/app.js"):
        damaged = bytearray(expected[name])
        damaged[0] ^= 0x20  # same size, other bytes
        (root / name).write_bytes(bytes(damaged))
    again = run(tree, root)
    assert "Nothing changed" not in again.output
    assert sorted(again.report.uploaded) == sorted([hashed, "js/app.js"])
    assert contents(root) == expected


def test_no_change_local_run_skips_without_hashing(tree: Tree, tmp_path: Path) -> None:
    """Untouched files: the recorded identity and times prove them, and the
    run neither post-processes nor writes."""
    write_site(tree)
    root = tmp_path / "root"
    run(tree, root)
    before = {p: os.stat(p).st_mtime_ns for p in root.rglob("*") if p.is_file()}
    again = run(tree, root)
    assert "Nothing changed since the last deployment" in again.output
    assert again.report.uploaded == [] and again.report.requests["WRITE"] == 0
    assert {p: os.stat(p).st_mtime_ns for p in root.rglob("*") if p.is_file()} == before
