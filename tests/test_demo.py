"""``make demo`` end to end, shortened: scripts/demo.py with a few files."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GENERATED = 20


def admin_files() -> int:
    """Static files of Django's admin (127 in Django 5.2, 130 in 6.1)."""
    import django

    root = Path(django.__file__).parent / "contrib" / "admin" / "static"
    return sum(len(files) for _, _, files in os.walk(root))


def run_demo(tmp_path: Path) -> tuple[str, dict]:
    command = [sys.executable, str(ROOT / "scripts" / "demo.py"), "--files", str(GENERATED),
               "--latency-ms", "2", "--stock-budget", "6", "--json", str(tmp_path / "demo.json")]
    if not (ROOT / "bench" / "s3server.py").exists():
        if not os.environ.get("STATICSHIP_TEST_S3_ENDPOINT"):
            pytest.skip("neither bench/s3server.py nor the test bed's S3 is available")
        command.append("--testbed")
    env = dict(os.environ, PYTHONWARNINGS="ignore::FutureWarning")
    done = subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=300)
    assert done.returncode == 0, done.stderr.decode() + done.stdout.decode()
    return done.stdout.decode(), json.loads((tmp_path / "demo.json").read_text())


def test_demo_table(tmp_path: Path) -> None:
    out, data = run_demo(tmp_path)
    lines = out.splitlines()
    files = admin_files() + GENERATED
    assert lines[0] == "staticship demo: example/ project, %d files (Django admin + %d generated)" % (
        files, GENERATED)
    assert re.match(r"emulator: .*(2 ms added to every request|no latency added)$", lines[1])
    header = lines.index(next(line for line in lines if line.startswith("storage ")))
    assert lines[header].split() == ["storage", "tool", "run", "seconds", "requests", "uploads"]
    rows = [line.split() for line in lines[header + 1 : header + 9]]
    assert [r[:3] for r in rows] == [
        [storage, tool, run]
        for storage in ("S3Storage", "S3ManifestStaticStorage")
        for tool, run in (("staticship", "cold"), ("staticship", "warm"), ("stock", "cold"),
                          ("stock", "warm"))
    ]
    table = {(r[0], r[1], r[2]): r[3:] for r in rows}
    # staticship, plain storage: one listing, one PUT per file and one for the
    # state record (the write digests), then one listing.
    assert table["S3Storage", "staticship", "cold"][1:] == [str(files + 2), str(files + 1)]
    assert table["S3Storage", "staticship", "warm"][2] == "0"
    assert table["S3ManifestStaticStorage", "staticship", "warm"][2] == "0"
    # The manifest deployment holds the originals, their hashed copies (with
    # Django's intermediate ones) and the manifest, plus staticship's state record.
    assert int(table["S3ManifestStaticStorage", "staticship", "cold"][2]) >= 2 * files + 2
    for row in data["rows"]:
        cells = table[row["storage"], row["tool"], row["run"]]
        mark = ">" if row["stopped"] else ""
        assert cells == ["%s%.1f" % (mark, row["seconds"]), "%s%d" % (mark, row["requests"]),
                         "%s%d" % (mark, row["uploads"])]
        assert row["stopped"] == (row["tool"] == "stock" and row["seconds"] >= 6)
    stock_cold = next(r for r in data["rows"] if (r["storage"], r["tool"], r["run"]) ==
                      ("S3Storage", "stock", "cold"))
    if not stock_cold["stopped"]:
        # Stock: a HEAD and a PUT per file.
        assert (stock_cold["uploads"], stock_cold["requests"]) == (files, 2 * files)
    assert any(line.startswith("S3Storage: staticship faster") for line in lines)
