"""The progress front ends: a bar on a terminal (checked through a real
pseudo-terminal), plain lines elsewhere, nothing at -v 0."""

from __future__ import annotations

import io
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from staticship import progress
from staticship.events import Events

ROOT = Path(__file__).resolve().parent.parent


def admin_files() -> int:
    """Static files of Django's admin (127 in Django 5.2, 130 in 6.1)."""
    import django

    root = Path(django.__file__).parent / "contrib" / "admin" / "static"
    return sum(len(files) for _, _, files in os.walk(root))


FILES = 400 + admin_files()


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_bar_counts_rate_and_eta() -> None:
    out, clock = io.StringIO(), Clock()
    bar = progress.TerminalProgress(out, width=lambda: 100, clock=clock)
    bar.phase_started("upload")
    bar.upload_started(10, 10 * 1024 * 1024)
    for i in range(4):
        clock.now += 0.5
        bar.file_uploaded("f%d" % i, 1024 * 1024)
    line = bar.bar_line()
    assert "staticship: upload [" in line and " 40%" in line
    assert "4/10 files" in line and "4.0 MB/10.0 MB" in line
    assert "2.0 MB/s" in line and "ETA 3s" in line
    assert len(line) < 100
    bar.upload_finished()
    bar.phase_finished("upload", 2.0)
    text = out.getvalue()
    assert text.endswith(progress.CLEAR)  # nothing of the bar stays on screen
    assert text.count(progress.CLEAR) >= 3


def test_bar_fits_narrow_terminals_and_redraws_sparingly() -> None:
    out, clock = io.StringIO(), Clock()
    bar = progress.TerminalProgress(out, width=lambda: 30, clock=clock)
    bar.upload_started(1000, 0)
    for _ in range(999):  # no time passes: no redraw until the last file
        bar.file_uploaded("f", 0)
    assert out.getvalue().count(progress.CLEAR) == 1
    bar.file_uploaded("f", 0)
    assert out.getvalue().count(progress.CLEAR) == 2
    assert all(len(part) <= 39 for part in out.getvalue().split(progress.CLEAR))


def test_phase_lines_and_choice_of_front_end() -> None:
    lines: list[str] = []
    front = progress.PhaseLines(lines.append)
    front.phase_finished("find", 0.123)
    front.upload_started(3, 2048)
    front.phase_finished("upload", 1.5)
    assert lines == ["staticship: find: 0.12 s", "staticship: upload: 3 files, 2.0 KB in 1.50 s"]

    pipe = io.StringIO()
    assert type(progress.for_command(0, pipe, pipe)) is Events
    assert isinstance(progress.for_command(1, pipe, pipe), progress.PhaseLines)
    assert isinstance(progress.for_command(2, pipe, pipe), progress.PhaseLines)


def test_width_of_a_terminal_that_reports_none(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pseudo-terminal whose size was never set reports 0 columns: the bar
    is fitted to COLUMNS, else 80, not to zero."""
    master, slave = os.openpty()
    try:
        with os.fdopen(slave, "w", closefd=False) as stream:
            assert os.get_terminal_size(slave).columns == 0
            monkeypatch.setenv("COLUMNS", "100")
            assert progress._terminal_width(stream) == 100
            monkeypatch.delenv("COLUMNS")
            assert progress._terminal_width(stream) == 80
            bar = progress.TerminalProgress(stream, clock=Clock())
            assert len(bar.bar_line()) == 79
    finally:
        os.close(master)
        os.close(slave)


def test_a_failed_phase_prints_no_success_line() -> None:
    """A run whose uploads all failed must not print 'upload: 462 files ... in
    0.72 s' before the error."""
    from staticship.report import Report

    lines: list[str] = []
    report = Report(events=progress.PhaseLines(lines.append))
    with report.phase("find"):
        pass
    report.events.upload_started(3, 2048)
    with pytest.raises(RuntimeError):
        with report.phase("upload"):
            raise RuntimeError("refused")
    assert lines == ["staticship: find: 0.00 s"]
    assert set(report.seconds) == {"find", "upload"}  # the report still times it

    out = io.StringIO()
    bar = progress.TerminalProgress(out, width=lambda: 80, clock=Clock())
    report = Report(events=bar)
    bar.upload_started(3, 2048)
    with pytest.raises(RuntimeError):
        with report.phase("upload"):
            raise RuntimeError("refused")
    assert out.getvalue().endswith(progress.CLEAR)  # the bar is gone before the error


# -- a real terminal --------------------------------------------------------------------
def run_example(tmp_path: Path, tty: bool, *args: str) -> str:
    """Run example/manage.py collectstatic to a local directory, with its
    stdout and stderr on a pseudo-terminal or on a pipe; return the bytes seen."""
    sys.path.insert(0, str(ROOT / "example"))
    from example_project.generate import generate

    tree = tmp_path / "tree"
    if not tree.exists():
        generate(tree, 400)
    env = dict(os.environ, STATICSHIP_EXAMPLE_STORAGE="local", STATICSHIP_EXAMPLE_TREE=str(tree),
               STATICSHIP_EXAMPLE_STATIC_ROOT=str(tmp_path / ("out-%s" % tty)), TERM="xterm",
               COLUMNS="100", LINES="30", STATICSHIP_EXAMPLE_WORKERS="2")
    env.pop("DJANGO_SETTINGS_MODULE", None)
    # google-api-core warns on Python 3.10 when the GCS adapter imports it;
    # that is not staticship's output.
    env["PYTHONWARNINGS"] = "ignore::FutureWarning"
    command = [sys.executable, str(ROOT / "example" / "manage.py"), "collectstatic", "--noinput", *args]
    if not tty:
        done = subprocess.run(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=120, check=True)
        return done.stdout.decode()
    master, slave = pty.openpty()
    proc = subprocess.Popen(command, env=env, stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    chunks = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    os.close(master)
    assert proc.wait(30) == 0, b"".join(chunks).decode(errors="replace")
    return b"".join(chunks).decode(errors="replace")


def screen(raw: str) -> list[str]:
    """What a terminal shows once ``raw`` is printed: \\r returns, ESC[2K erases."""
    lines, current = [], ""
    i = 0
    while i < len(raw):
        if raw.startswith("\x1b[2K", i):
            current, i = "", i + 4
        elif raw[i] == "\r":
            current, i = (current if raw.startswith("\n", i + 1) else ""), i + 1
        elif raw[i] == "\n":
            lines.append(current)
            current, i = "", i + 1
        else:
            current, i = current + raw[i], i + 1
    if current:
        lines.append(current)
    return lines


def test_terminal_shows_a_bar_and_leaves_only_the_summary(tmp_path: Path) -> None:
    raw = run_example(tmp_path, True)
    assert "\x1b[2K" in raw and "\r" in raw
    assert "staticship: upload [" in raw
    assert "/%d files" % FILES in raw
    assert "100%" in raw
    shown = [line for line in screen(raw) if line.strip()]
    assert not any("upload [" in line for line in shown)
    assert shown[-1].startswith("%d static files copied to" % FILES)
    assert shown[-2].startswith("staticship: seconds: ")
    assert not any(line.startswith("staticship: find:") for line in shown)  # no log lines


def test_pipe_gets_lines_and_no_control_characters(tmp_path: Path) -> None:
    out = run_example(tmp_path, False)
    assert "\x1b" not in out and "\r" not in out
    assert "staticship: upload: %d files" % FILES in out
    assert out.rstrip().splitlines()[-1].startswith("%d static files copied to" % FILES)


def test_terminal_at_verbosity_0_shows_nothing(tmp_path: Path) -> None:
    assert run_example(tmp_path, True, "-v", "0").strip() == ""


@pytest.mark.parametrize("verbosity", ["2"])
def test_terminal_at_verbosity_2_gets_lines_not_a_bar(tmp_path: Path, verbosity: str) -> None:
    raw = run_example(tmp_path, True, "-v", verbosity)
    assert "\x1b" not in raw
    assert "staticship: upload: %d files" % FILES in raw
