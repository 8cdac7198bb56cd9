"""WhiteNoise's storages beside staticship: STATIC_ROOT ends byte for byte as
stock collectstatic leaves it (compressed ``.gz`` and ``.br`` files included),
cold, warm and after an edit. WhiteNoise compresses and deletes through
``storage.path()``, not through ``open``/``_save``."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from django.contrib.staticfiles.storage import ManifestStaticFilesStorage

from .conftest import Tree, collectstatic

whitenoise = pytest.importorskip("whitenoise.storage")
pytest.importorskip("brotli")

MANIFEST = "whitenoise.storage.CompressedManifestStaticFilesStorage"
PLAIN = "whitenoise.storage.CompressedStaticFilesStorage"


def write_site(tree: Tree) -> None:
    """Files big enough to compress, with references between them."""
    rules = b"".join(b".rule-%d { color: #%06x; margin: %dpx }\n" % (i, i * 977, i) for i in range(80))
    tree.write("css/base.css", b'@import url("theme.css");\nbody { background: url("../img/bg.png"); }\n' + rules)
    tree.write("css/theme.css", b'.a { background: url("../img/icon.svg"); }\n' + rules)
    tree.write("js/app.js", b"".join(b"export const value%d = %d;\n" % (i, i) for i in range(120)))
    tree.write("img/icon.svg", b"<svg>" + b"<g/>" * 200 + b"</svg>")
    tree.write("img/bg.png", b"\x89PNG" + bytes(range(256)))
    tree.write("tiny.txt", b"x")


def storages(backend: str, root: Path) -> dict[str, Any]:
    return {
        "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
        "staticfiles": {"BACKEND": backend, "OPTIONS": {"location": str(root)}},
    }


def contents(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".staticship" not in p.relative_to(root).parts
    }


def both(tree: Tree, tmp_path: Path, backend: str, **settings: Any) -> tuple[dict[str, bytes], Any]:
    """Stock (--disable-staticship) into one root, staticship into another."""
    stock_root, ours_root = tmp_path / "stock", tmp_path / "ours"
    collectstatic("--disable-staticship", tree=tree, storages=storages(backend, stock_root),
                  STATIC_ROOT=str(stock_root), **settings)
    run = collectstatic(tree=tree, storages=storages(backend, ours_root),
                        STATIC_ROOT=str(ours_root), **settings)
    expected = contents(stock_root)
    assert contents(ours_root) == expected
    return expected, run


@pytest.mark.parametrize("keep_only", [False, True], ids=["keep-all", "keep-only-hashed"])
@pytest.mark.parametrize("backend", [MANIFEST, PLAIN], ids=["manifest", "plain"])
def test_static_root_equals_stock(tree: Tree, tmp_path: Path, backend: str, keep_only: bool) -> None:
    write_site(tree)
    settings = {"WHITENOISE_KEEP_ONLY_HASHED_FILES": keep_only}
    cold, first = both(tree, tmp_path, backend, **settings)  # an empty STATIC_ROOT
    assert any(n.endswith(".js.gz") for n in cold)
    assert any(n.endswith(".css.br") for n in cold)
    if backend == MANIFEST:
        assert first.report is not None and first.report.backend == "filesystem"
        assert ("css/base.css" in cold) is (not keep_only)
    else:  # handed back to stock, saying why
        assert first.report is None
        assert ("staticship: running stock collectstatic: CompressedStaticFilesStorage "
                "post-processes without a manifest") in first.output
    warm, _ = both(tree, tmp_path, backend, **settings)
    assert warm == cold
    # An edit, its source made newer than both destinations (stock copies by mtime).
    tree.write("css/theme.css", tree.files["css/theme.css"] + b".b { color: red }\n")
    later = time.time() + 100
    os.utime(tree.root / "css/theme.css", (later, later))
    edited, _ = both(tree, tmp_path, backend, **settings)
    assert edited != warm


class PathRewriting(ManifestStaticFilesStorage):
    """A project storage that post-processes through ``path()``: it appends
    a line, in place, to every hashed SVG file (a copy of an unmodified
    source, which the stage links to instead of copying)."""

    def post_process(self, paths: Any, dry_run: bool = False, **options: Any) -> Any:
        for name, hashed, processed in super().post_process(paths, dry_run, **options):
            if hashed and hashed.endswith(".svg") and not dry_run:
                with open(self.path(hashed), "ab") as out:
                    out.write(b"/* stamped */\n")
            yield name, hashed, processed


def test_post_processing_through_path_writes_only_the_stage(tree: Tree, tmp_path: Path) -> None:
    """Writes through ``path()`` land in the stage, never in the sources or
    the live STATIC_ROOT, and the result equals stock's."""
    write_site(tree)
    sources = {name: (tree.root / name).read_bytes() for name in tree.files}
    expected, _ = both(tree, tmp_path, "tests.test_whitenoise.PathRewriting")
    stamped = [n for n, v in expected.items() if v.endswith(b"/* stamped */\n")]
    assert len(stamped) == 1 and stamped[0].startswith("img/icon.")
    assert {name: (tree.root / name).read_bytes() for name in tree.files} == sources
