"""Command line: ``python -m testbed run|serve [--s3] [--gcs] [--azure] [--all]``.

``run ... -- CMD ARGS`` starts the services, runs CMD with the STATICSHIP_TEST_*
variables set, stops the services whatever happens, and exits with CMD's
status. ``serve`` starts them, prints ``export`` lines, and waits for Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import subprocess
import sys
from types import FrameType

from . import SERVICES
from .emulators import SetupError, parent_death_signal
from .supervisor import Testbed

_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(Exception):
    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signum)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m testbed", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="action", required=True)
    for action, text in (
        ("run", "start services, run the command given after --, stop services"),
        ("serve", "start services, print export lines, wait for Ctrl-C"),
    ):
        p = sub.add_parser(action, help=text)
        for service in SERVICES:
            p.add_argument(f"--{service}", action="store_true", help=f"start the {service} emulator")
        p.add_argument("--all", action="store_true", help="start every service (the default)")
        p.add_argument(
            "--timeout",
            type=float,
            default=float(os.environ.get("TESTBED_START_TIMEOUT", 60)),
            help="seconds to wait for each service to be ready (default 60)",
        )
    return parser


def _services(args: argparse.Namespace) -> list[str]:
    chosen = [s for s in SERVICES if getattr(args, s)]
    return list(SERVICES) if args.all or not chosen else chosen


def run(services: list[str], command: list[str], timeout: float) -> int:
    previous = {s: signal.signal(s, _raise) for s in _SIGNALS}
    bed = Testbed(services, timeout)
    child: subprocess.Popen[bytes] | None = None
    try:
        bed.start()
        # SIGTERM for the command too, should we be killed outright.
        child = subprocess.Popen(
            command, env={**os.environ, **bed.env()}, preexec_fn=parent_death_signal(signal.SIGTERM)
        )
        running = child

        def forward(signum: int, frame: FrameType | None) -> None:
            running.send_signal(signum)

        # Ctrl-C reaches the child from the terminal; a SIGTERM/SIGHUP sent to us is passed on.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, forward)
        signal.signal(signal.SIGHUP, forward)
        code = child.wait()
        return 128 - code if code < 0 else code
    except Interrupted as exc:
        return 128 + exc.signum
    except SetupError as exc:
        print(f"testbed: {exc}", file=sys.stderr)
        return 3
    except FileNotFoundError as exc:
        print(f"testbed: cannot run {command[0]!r}: {exc}", file=sys.stderr)
        return 127
    finally:
        for s in _SIGNALS:
            signal.signal(s, signal.SIG_IGN)
        if child is not None and child.poll() is None:
            child.terminate()
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        bed.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)


def serve(services: list[str], timeout: float) -> int:
    previous = {s: signal.signal(s, _raise) for s in _SIGNALS}
    bed = Testbed(services, timeout)
    try:
        bed.start()
        for key, value in bed.env().items():
            print(f"export {key}={shlex.quote(value)}")
        print("# testbed: serving; Ctrl-C to stop", flush=True)
        while True:
            signal.pause()
    except Interrupted:
        return 0
    except SetupError as exc:
        print(f"testbed: {exc}", file=sys.stderr)
        return 3
    finally:
        for s in _SIGNALS:
            signal.signal(s, signal.SIG_IGN)
        bed.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command: list[str] = []
    if "--" in argv:
        split = argv.index("--")
        argv, command = argv[:split], argv[split + 1 :]
    args = _parser().parse_args(argv)
    services = _services(args)
    if args.action == "run":
        if not command:
            _parser().error("run needs a command after --, e.g. run --all -- pytest tests")
        return run(services, command, args.timeout)
    if command:
        _parser().error("serve takes no command")
    return serve(services, args.timeout)


if __name__ == "__main__":
    sys.exit(main())
