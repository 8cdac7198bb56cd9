"""The benchmark's workload generator (bench/workload.py)."""

from __future__ import annotations

import os
import re

from bench import workload as wl


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    a = wl.generate(tmp_path / "a", 150, seed=7, big_files=0)
    b = wl.generate(tmp_path / "b", 150, seed=7, big_files=0)
    c = wl.generate(tmp_path / "c", 150, seed=8, big_files=0)
    assert a.files == b.files
    assert wl.md5_tree(a.root, a.files) == wl.md5_tree(b.root, b.files)
    assert wl.md5_tree(a.root, a.files) != wl.md5_tree(c.root, c.files)


def test_count_sizes_and_kinds(tmp_path):
    w = wl.generate(tmp_path / "w", 400, seed=1, big_files=1)
    assert w.n_files == 400 == len(set(w.files))
    on_disk = sorted(p.relative_to(w.root).as_posix() for p in w.root.rglob("*") if p.is_file())
    assert on_disk == list(w.files)
    sizes = {f: (w.root / f).stat().st_size for f in w.files}
    big = [f for f, s in sizes.items() if s > 8 * wl.MB]
    assert len(big) == w.big_files == 1
    small = [s for f, s in sizes.items() if f not in big]
    assert min(small) >= 150 and max(small) <= wl.MB + 200
    exts = {f.rsplit(".", 1)[-1] for f in w.files}
    assert {"css", "js", "png"} <= exts
    assert len(set(wl.md5_tree(w.root, w.files).values())) == w.n_files  # no two files alike


def test_css_references_exist(tmp_path):
    w = wl.generate(tmp_path / "w", 300, seed=3, big_files=0)
    css = [f for f in w.files if f.endswith(".css")]
    assert css
    checked = 0
    for rel in css:
        text = (w.root / rel).read_text()
        for url in re.findall(r"url\(['\"]?([^'\")]+)['\"]?\)", text):
            if url.startswith(("http", "data:")):
                continue
            target = os.path.normpath(os.path.join(os.path.dirname(rel), url.split("?")[0].split("#")[0]))
            assert (w.root / target).is_file(), (rel, url)
            checked += 1
    assert checked > 0


def test_change_restore_touch(tmp_path):
    w = wl.generate(tmp_path / "w", 200, seed=5, big_files=0)
    before = wl.md5_tree(w.root, w.files)
    originals = wl.change(w.root, w.files, 0.05, seed=1)
    assert len(originals) == 10
    after = wl.md5_tree(w.root, w.files)
    assert {f for f in w.files if before[f] != after[f]} == set(originals)
    assert wl.choose_changed(w.files, 0.05, 1) == sorted(originals)  # deterministic
    wl.restore(w.root, originals)
    assert wl.md5_tree(w.root, w.files) == before
    n = wl.touch_all(w.root, when=1_900_000_000)
    assert n == 200
    assert {int((w.root / f).stat().st_mtime) for f in w.files} == {1_900_000_000}
