"""Run Django's own ``tests/staticfiles_tests`` with staticship installed.

For the Django version installed in the interpreter running this script:
fetch that version's source distribution from the package registry with pip
(cached under ``.cache/django-src/``), unpack its ``tests/`` folder, put
"staticship" first in ``staticfiles_tests/settings.py``'s INSTALLED_APPS and
run ``runtests.py staticfiles_tests --parallel 1`` with this checkout's
``src`` importable. Extra arguments replace the test label, for example
``staticfiles_tests.test_management``. The exit status is the suite's.

    python scripts/django_suite.py [LABEL ...]
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import django

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "django-src"
APP = '"staticship",'
ANCHOR = '"INSTALLED_APPS": ['


def sdist(version: str) -> Path:
    """The cached source archive of Django ``version``, downloaded if missing."""
    CACHE.mkdir(parents=True, exist_ok=True)
    found = sorted(CACHE.glob("[dD]jango-%s.tar.gz" % version))
    if found:
        return found[0]
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-binary", ":all:",
         "--no-deps", "django==%s" % version, "-d", str(CACHE)],
        check=True,
    )
    found = sorted(CACHE.glob("[dD]jango-%s.tar.gz" % version))
    if not found:
        sys.exit("pip downloaded no source archive of Django %s into %s" % (version, CACHE))
    return found[0]


def unpack(archive: Path, version: str) -> Path:
    """A fresh copy of the archive's ``tests/`` folder; returns its path."""
    target = CACHE / ("django-%s-tests" % version)
    if target.exists():
        shutil.rmtree(target)
    target.mkdir()
    with tarfile.open(archive) as tar:
        members = [m for m in tar.getmembers() if m.name.split("/")[1:2] == ["tests"]]
        for member in members:
            member.name = member.name.split("/", 1)[1]
        if sys.version_info >= (3, 12):
            tar.extractall(target, members=members, filter="data")
        else:
            tar.extractall(target, members=members)  # noqa: S202 - the registry's own archive
    return target / "tests"


def install_app(tests: Path) -> None:
    """Put "staticship" first in the suite's INSTALLED_APPS."""
    settings = tests / "staticfiles_tests" / "settings.py"
    text = settings.read_text(encoding="utf-8")
    if text.count(ANCHOR) != 1:
        sys.exit("%s: expected one %r; the suite's layout changed" % (settings, ANCHOR))
    settings.write_text(text.replace(ANCHOR, ANCHOR + "\n        " + APP), encoding="utf-8")


def main(argv: list[str]) -> int:
    version = django.get_version()
    tests = unpack(sdist(version), version)
    install_app(tests)
    labels = argv or ["staticfiles_tests"]
    env = dict(os.environ)
    paths = [str(ROOT / "src"), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    print("== Django %s (%s), staticship from %s" % (version, sys.executable, ROOT / "src"),
          flush=True)
    command = [sys.executable, "runtests.py", *labels, "--parallel", "1"]
    return subprocess.run(command, cwd=tests, env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
