"""One clear line, never a traceback: a broken symbolic link on the manifest
path of a local destination, and names that cannot share the staging
folder (a file and a folder of the same name from two finders; names that
differ only by case where the filesystem ignores case)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from django.core.management.base import CommandError

from staticship import manifest

from .conftest import Tree, collectstatic

MANIFEST = "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"


def local(root: Path, backend: str = MANIFEST) -> dict[str, Any]:
    return {
        "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
        "staticfiles": {"BACKEND": backend, "OPTIONS": {"location": str(root)}},
    }


def write_site(tree: Tree) -> None:
    tree.write("css/site.css", b'body { background: url("../img/a.svg"); }\n')
    tree.write("img/a.svg", b"<svg/>")


@pytest.mark.parametrize("kind", ["loop", "to-a-folder", "through-a-file"])
def test_broken_link_on_the_manifest_path_is_one_line(tree: Tree, tmp_path: Path, kind: str) -> None:
    write_site(tree)
    root = tmp_path / "static"
    root.mkdir()
    link = root / "staticfiles.json"
    target = {"loop": link, "to-a-folder": tmp_path, "through-a-file": tree.root / "img/a.svg/x"}[kind]
    os.symlink(target, link)
    with pytest.raises(CommandError) as info:
        collectstatic(tree=tree, storages=local(root), STATIC_ROOT=str(root))
    message = str(info.value)
    assert "\n" not in message
    assert str(link) in message and "symbolic link" in message
    assert sorted(p.name for p in root.iterdir()) == ["staticfiles.json"]  # nothing collected
    assert os.path.islink(link)


def test_dangling_link_on_the_manifest_path_is_replaced_as_stock_does(tree: Tree, tmp_path: Path) -> None:
    write_site(tree)
    roots = {}
    for tag, args in (("stock", ("--disable-staticship",)), ("ours", ())):
        root = roots[tag] = tmp_path / tag
        root.mkdir()
        os.symlink(tmp_path / "nowhere.json", root / "staticfiles.json")
        collectstatic(*args, tree=tree, storages=local(root), STATIC_ROOT=str(root))
        assert not os.path.islink(root / "staticfiles.json")
    assert (roots["ours"] / "staticfiles.json").read_bytes() == \
        (roots["stock"] / "staticfiles.json").read_bytes()


def two_finders(tmp_path: Path, first: dict[str, bytes], second: dict[str, bytes]) -> list[str]:
    dirs = []
    for index, files in enumerate((first, second)):
        base = tmp_path / ("app%d" % index)
        for name, data in files.items():
            (base / name).parent.mkdir(parents=True, exist_ok=True)
            (base / name).write_bytes(data)
        dirs.append(str(base))
    return dirs


def test_a_file_and_a_folder_of_the_same_name_is_one_line(tmp_path: Path) -> None:
    dirs = two_finders(tmp_path, {"a": b"a file", "x.css": b"p{}"}, {"a/b.css": b"b{}"})
    root = tmp_path / "static"
    with pytest.raises(CommandError) as info:
        collectstatic(storages=local(root), STATIC_ROOT=str(root), STATICFILES_DIRS=dirs)
    message = str(info.value)
    assert "\n" not in message
    assert "'a' and 'a/b.css'" in message and "Nothing was uploaded." in message
    assert not root.exists()


def test_names_differing_by_case_on_a_case_insensitive_stage(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Simulated: this machine's temporary folder is case-sensitive."""
    monkeypatch.setattr(manifest, "case_insensitive", lambda directory: True)
    dirs = two_finders(tmp_path, {"css/a.css": b"a{}"}, {"CSS/b.css": b"b{}"})
    root = tmp_path / "static"
    with pytest.raises(CommandError) as info:
        collectstatic(storages=local(root), STATIC_ROOT=str(root), STATICFILES_DIRS=dirs)
    assert "'CSS/b.css' and 'css/a.css'" in str(info.value)
    assert "differ only by case" in str(info.value)
    assert not root.exists()


def test_collision_rules() -> None:
    assert manifest.collision(["a", "a/b"], False) == ("a", "a/b")
    assert manifest.collision(["a/b/c", "a/b"], False) == ("a/b", "a/b/c")
    assert manifest.collision(["CSS/a.css", "css/b.css"], False) is None
    assert manifest.collision(["CSS/a.css", "css/b.css"], True) == ("CSS/a.css", "css/b.css")
    assert manifest.collision(["x/A.css", "x/a.css"], True) == ("x/A.css", "x/a.css")
    assert manifest.collision(["A", "a/b"], True) == ("A", "a/b")
    assert manifest.collision(["ab", "a.b", "a/b", "x/a.css", "y/a.css"], True) is None


def test_case_probe_on_this_filesystem(tmp_path: Path) -> None:
    (tmp_path / "Probe").write_bytes(b"")
    assert manifest.case_insensitive(str(tmp_path)) is (tmp_path / "pROBE").exists()
    assert sorted(os.listdir(tmp_path)) == ["Probe"]  # the probe file is removed
