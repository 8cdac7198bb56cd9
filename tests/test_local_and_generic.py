"""Destinations other than S3: a local directory (decided by content) and
any other Storage (through the generic adapter)."""

from __future__ import annotations

import os
from pathlib import Path

from django.core.files.storage import InMemoryStorage

from .conftest import Tree, collectstatic, make_files


def fs_storages(root: Path) -> dict:
    return {
        "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
        "staticfiles": {
            "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage",
            "OPTIONS": {"location": str(root)},
        },
    }


def test_filesystem_decides_by_content(tree: Tree, tmp_path: Path) -> None:
    make_files(tree, 40)
    dest = tmp_path / "collected"
    first = collectstatic(tree=tree, storages=fs_storages(dest), STATIC_ROOT=str(dest))
    assert len(first.report.uploaded) == 40
    for name, data in tree.files.items():
        assert (dest / name).read_bytes() == data

    tree.touch_all()  # newer sources, same bytes: nothing to copy
    second = collectstatic(tree=tree, storages=fs_storages(dest), STATIC_ROOT=str(dest))
    assert second.report.uploaded == []
    assert "0 static files copied to '%s', 40 unmodified." % dest in second.output

    name = sorted(tree.files)[0]
    tree.write(name, b"X" * len(tree.files[name]))  # same size, other bytes
    older = os.stat(dest / name).st_mtime + 100
    os.utime(dest / name, (older, older))  # a destination newer than the source
    third = collectstatic(tree=tree, storages=fs_storages(dest), STATIC_ROOT=str(dest))
    assert third.report.uploaded == [name]
    assert (dest / name).read_bytes() == tree.files[name]


def test_filesystem_clear_removes_stale(tree: Tree, tmp_path: Path) -> None:
    dest = tmp_path / "collected"
    (dest / "old").mkdir(parents=True)
    (dest / "old" / "gone.css").write_bytes(b"x")
    tree.write("a.css", b"a")
    run = collectstatic("--clear", tree=tree, storages=fs_storages(dest), STATIC_ROOT=str(dest))
    assert run.report.deleted == ["old/gone.css"]
    assert not (dest / "old" / "gone.css").exists()
    assert (dest / "a.css").read_bytes() == b"a"


class NoOverwriteMemory(InMemoryStorage):
    """A storage staticship does not know, which renames on collision."""


GENERIC = "staticship.backends.generic.GenericAdapter"


def test_unknown_storage_runs_stock_and_says_why(tree: Tree) -> None:
    """Nothing proves content on a storage staticship does not know: Django's
    own command decides (by modification times), as without staticship."""
    storages = {
        "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
        "staticfiles": {"BACKEND": "tests.test_local_and_generic.NoOverwriteMemory"},
    }
    tree.write("css/a.css", b"one")
    run = collectstatic(tree=tree, storages=storages)
    assert run.report is None  # staticship's pipeline did not run
    assert ("staticship: running stock collectstatic: staticship has no adapter for "
            "NoOverwriteMemory (STATICSHIP_ADAPTER = 'staticship.backends.generic."
            "GenericAdapter' uploads every file in parallel instead).") in run.output
    assert run.output.rstrip().splitlines()[-1] == "1 static file copied."


def test_generic_storage_uploads_and_overwrites(tree: Tree) -> None:
    storages = {
        "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
        "staticfiles": {"BACKEND": "tests.test_local_and_generic.NoOverwriteMemory"},
    }
    tree.write("css/a.css", b"one")
    tree.write("js/b.js", b"two")
    from django.test import override_settings

    with override_settings(STORAGES=storages, STATICSHIP_ADAPTER=GENERIC):
        first = collectstatic(tree=tree)
        assert first.report.backend == "generic"
        assert sorted(first.report.uploaded) == ["css/a.css", "js/b.js"]
        from django.contrib.staticfiles.storage import staticfiles_storage

        target = staticfiles_storage._wrapped
        assert target.open("css/a.css").read() == b"one"
        tree.write("css/a.css", b"three")
        second = collectstatic(tree=tree)
        # No fingerprint to trust: everything goes again, names kept.
        assert sorted(second.report.files.values()) == ["changed", "changed"]
        assert target.open("css/a.css").read() == b"three"
        assert sorted(target.listdir("css")[1]) == ["a.css"]


def test_every_step_aside_is_said_at_verbosity_1(tree: Tree, tmp_path: Path) -> None:
    """One function decides between stock and staticship, and its reason is
    printed at -v 1 whatever it is: the user's switch, the setting, --link."""
    import pytest
    from django.core.management.base import CommandError

    tree.write("css/a.css", b"one")
    cases = [
        (("--disable-staticship",), {}, "staticship is disabled (--disable-staticship)"),
        ((), {"STATICSHIP_ENABLED": False}, "staticship is disabled (STATICSHIP_ENABLED = False)"),
        (("--link",), {}, "--link makes symbolic links, which staticship does not create"),
    ]
    for n, (args, settings, why) in enumerate(cases):
        root = tmp_path / str(n)
        run = collectstatic(*args, tree=tree, storages=fs_storages(root),
                            STATIC_ROOT=str(root), **settings)
        assert run.report is None  # stock ran
        assert "staticship: running stock collectstatic: %s." % why in run.output
        assert (root / "css" / "a.css").exists()
        quiet = collectstatic("-v", "0", *args, tree=tree, storages=fs_storages(root),
                              STATIC_ROOT=str(root), **settings)
        assert quiet.output == ""
        # --prune is only staticship's: asked for together with stock, it is refused.
        with pytest.raises(CommandError) as refused:
            collectstatic("--prune", *args, tree=tree, storages=fs_storages(root),
                          STATIC_ROOT=str(root), **settings)
        assert str(refused.value) == "--prune needs staticship, and %s. Nothing was changed." % why
