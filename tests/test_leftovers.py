"""What killed or failed runs leave behind (issue #11, item 12): atomic-write
temporaries inside STATIC_ROOT, staging directories and spooled bodies in the
temp folder. They are never taken for user files, and a later run removes
those of runs that are gone, never those of a run still alive."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from django.core.management.base import CommandError

from staticship.backends.s3 import S3Adapter

from .conftest import S3Target, Tree, collectstatic

DAY = 24 * 3600


def dead_pid() -> int:
    """The id of a process that has exited."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.fixture
def live_pid() -> Iterator[int]:
    """The id of another process, alive for the test (a concurrent run)."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield child.pid
    child.kill()
    child.wait()


@pytest.fixture
def temp_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def local_storages(root: Path, backend: str = "django.core.files.storage.FileSystemStorage"
                   ) -> dict[str, Any]:
    return {
        "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
        "staticfiles": {"BACKEND": backend, "OPTIONS": {"location": str(root)}},
    }


def aged(path: Path, seconds: float) -> Path:
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


def test_static_root_temporaries_are_not_user_files(tree: Tree, tmp_path: Path,
                                                    live_pid: int) -> None:
    tree.write("css/site.css", b"body{}\n")
    root = tmp_path / "root"
    storages = local_storages(root)
    collectstatic(tree=tree, storages=storages, STATIC_ROOT=str(root))
    killed = root / "css" / (".staticship-%d-k1ll3d" % dead_pid())
    killed.write_bytes(b"half a fi")
    concurrent = root / "css" / (".staticship-%d-l1ve" % live_pid)
    concurrent.write_bytes(b"being written")
    old_release = root / ".staticship-abc123"  # an older release's (no process id)
    old_release.write_bytes(b"old")
    aged(old_release, 2 * DAY)
    run = collectstatic("--clear", tree=tree, storages=storages, STATIC_ROOT=str(root))
    assert not any(".staticship-" in name for name in run.report.deleted)
    assert not killed.exists() and not old_release.exists()
    assert concurrent.read_bytes() == b"being written"  # a live run's file is left alone
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    assert files == ["css/%s" % concurrent.name, "css/site.css"]


def test_dry_run_leaves_static_root_alone(tree: Tree, tmp_path: Path) -> None:
    tree.write("css/site.css", b"body{}\n")
    root = tmp_path / "root"
    storages = local_storages(root)
    collectstatic(tree=tree, storages=storages, STATIC_ROOT=str(root))
    killed = root / (".staticship-%d-k1ll3d" % dead_pid())
    killed.write_bytes(b"x")
    run = collectstatic("--dry-run", "--clear", tree=tree, storages=storages,
                        STATIC_ROOT=str(root))
    assert killed.exists() and run.report.deleted == []


def test_stale_stages_and_spools_are_removed(tree: Tree, tmp_path: Path, temp_folder: Path,
                                             live_pid: int) -> None:
    gone = dead_pid()
    stage = temp_folder / ("staticship-stage-%d-ab12" % gone)
    (stage / "css").mkdir(parents=True)
    (stage / "css" / "site.css").write_bytes(b"staged")
    spool = temp_folder / ("staticship-spool-%d-cd34" % gone)
    spool.write_bytes(b"gzip")
    running = temp_folder / ("staticship-stage-%d-ef56" % live_pid)
    running.mkdir()
    old_spool = temp_folder / "staticship-q8z1x"
    old_spool.write_bytes(b"old release")
    aged(old_spool, 2 * DAY)
    young_old = temp_folder / "staticship-y0ung"  # an older release's run, maybe running
    young_old.write_bytes(b"young")
    unrelated = temp_folder / "someone-else"
    unrelated.write_bytes(b"theirs")
    tree.write("css/site.css", b"body{}\n")
    root = tmp_path / "root"
    collectstatic(tree=tree, storages=local_storages(
        root, "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"),
        STATIC_ROOT=str(root))
    assert sorted(p.name for p in temp_folder.iterdir()) == sorted(
        [running.name, young_old.name, unrelated.name])


def test_failing_prepare_leaves_no_spooled_bodies(s3: S3Target, tree: Tree,
                                                  temp_folder: Path) -> None:
    for i in range(6):
        tree.write("css/s%d.css" % i, b"body { color: red }\n" * (i + 1))
    original = S3Adapter.prepare

    def prepare(self: S3Adapter, file: Any, remote: Any) -> Any:
        if file.name == "css/s3.css":
            raise OSError(5, "Input/output error")
        return original(self, file, remote)

    with mock.patch.object(S3Adapter, "prepare", prepare):
        with pytest.raises(CommandError, match="css/s3.css"):
            collectstatic(tree=tree, storages=s3.settings(gzip=True))
    assert list(temp_folder.iterdir()) == []


KILLED_RUN = r'''
import os, shutil, sys, time
import django
django.setup()
from django.core.management import call_command
from django.test.utils import override_settings

tree, root, mark = sys.argv[1:4]

def stuck(source, out, *args):
    out.write(source.read(3))
    out.flush()
    open(mark, "w").close()
    time.sleep(300)

shutil.copyfileobj = stuck  # the first write into STATIC_ROOT never ends
storages = {
    "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage",
                    "OPTIONS": {"location": root}},
}
with override_settings(STATICFILES_DIRS=[tree], STATIC_ROOT=root, STORAGES=storages):
    call_command("collectstatic", "--noinput", verbosity=0)
'''


def test_a_killed_run_leaves_nothing_a_later_run_keeps(tree: Tree, tmp_path: Path,
                                                       temp_folder: Path) -> None:
    """A real SIGKILL in the middle of a write into STATIC_ROOT: its temporary
    there and its staging directory in the temp folder are gone after the
    next run, and STATIC_ROOT is what stock collectstatic writes."""
    tree.write("css/site.css", b'body { background: url("../img/bg.png"); }\n')
    tree.write("img/bg.png", b"\x89PNG bg")
    root = tmp_path / "root"
    mark = tmp_path / "writing"
    repo = Path(__file__).resolve().parent.parent
    env = dict(os.environ, TMPDIR=str(temp_folder), DJANGO_SETTINGS_MODULE="tests.settings",
               PYTHONPATH=os.pathsep.join([str(repo / "src"), str(repo)]))
    child = subprocess.Popen([sys.executable, "-c", KILLED_RUN, str(tree.root), str(root),
                              str(mark)], env=env)
    try:
        for _ in range(1200):  # wait (up to a minute) for the write to start
            if mark.exists() or child.poll() is not None:
                break
            time.sleep(0.05)
        assert mark.exists(), "the child run never reached its first write"
    finally:
        child.kill()
        child.wait()
    left_in_root = [p.name for p in root.rglob(".staticship-*")]
    left_in_temp = [p.name for p in temp_folder.iterdir()]
    assert left_in_root and left_in_temp  # what the killed run left
    stock_root = tmp_path / "stock"
    collectstatic("--disable-staticship", tree=tree, STATIC_ROOT=str(stock_root),
                  storages=local_storages(
                      stock_root, "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"))
    collectstatic(tree=tree, STATIC_ROOT=str(root), storages=local_storages(
        root, "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"))
    assert list(root.rglob(".staticship-*")) == []
    assert list(temp_folder.iterdir()) == []
    ours = {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*")
            if p.is_file() and ".staticship" not in p.relative_to(root).parts}
    stock = {p.relative_to(stock_root).as_posix(): p.read_bytes() for p in stock_root.rglob("*")
             if p.is_file()}
    assert ours == stock
