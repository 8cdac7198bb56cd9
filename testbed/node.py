"""One service: its emulator plus the proxy in front of it, in one process.

Started by the supervisor as ``python -m testbed.node SERVICE``. It prints one
JSON line on stdout once it serves, then runs until SIGTERM/SIGINT or until
its stdin closes (the supervisor died), and stops its emulator on the way out.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import BinaryIO

from . import CONTROL_PREFIX, SERVICES, emulators
from .proxy import ProxyServer


def log_dir() -> Path:
    path = Path(os.environ.get("TESTBED_LOG_DIR") or emulators.REPO_ROOT / ".testbed" / "logs")
    path.mkdir(parents=True, exist_ok=True)
    return path


def tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def serve(service: str, timeout: float) -> int:
    stop = threading.Event()
    serving = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if not serving.is_set():
            raise SystemExit(128 + signum)  # still starting: unwind, stopping the emulator
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    # One log per node, so that concurrent test beds do not share one; removed
    # after a clean run unless TESTBED_KEEP_LOGS is set, kept after a failure.
    log_path = log_dir() / f"{service}-{os.getpid()}.log"
    server = ProxyServer(service)
    try:
        with open(log_path, "wb") as log:
            code = _serve(server, log, log_path, timeout, stop, serving)
    finally:
        server.server_close()
    if code == 0 and not os.environ.get("TESTBED_KEEP_LOGS"):
        log_path.unlink(missing_ok=True)
    return code


def _serve(
    server: ProxyServer,
    log: BinaryIO,
    log_path: Path,
    timeout: float,
    stop: threading.Event,
    serving: threading.Event,
) -> int:
    service = server.service
    proxy_url = f"http://127.0.0.1:{server.port}"
    upstream: emulators.Upstream | None = None
    try:
        upstream = emulators.start(service, proxy_url, log, log_path.parent, timeout)
        server.upstream = ("127.0.0.1", upstream.port)
        threading.Thread(target=server.serve_forever, name=f"{service}-proxy", daemon=True).start()
        serving.set()
        threading.Thread(target=_watch_stdin, args=(stop,), name="stdin-watch", daemon=True).start()
        ready = {
            "service": service,
            "endpoint": proxy_url,
            "control": proxy_url + CONTROL_PREFIX,
            "upstream_port": upstream.port,
            "log": str(log_path),
        }
        print(json.dumps(ready), flush=True)
        while not stop.wait(0.5):
            if upstream.process.poll() is not None:
                print(f"testbed: {service} emulator exited ({upstream.process.returncode}); see {log_path}",
                      file=sys.stderr)  # fmt: skip
                return 4
        return 0
    except emulators.SetupError as exc:
        log.flush()
        details = tail(log_path)
        print(
            f"testbed: {service}: {exc}" + (f"\n--- {log_path}:\n{details}" if details else ""),
            file=sys.stderr,
        )
        return 3
    finally:
        if serving.is_set():
            server.shutdown()
        if upstream is not None:
            emulators.stop(upstream.process)
            emulators.remove_scratch(upstream.scratch)


def _watch_stdin(stop: threading.Event) -> None:
    try:
        while sys.stdin.buffer.read(4096):
            pass
    except (OSError, ValueError):
        pass
    stop.set()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m testbed.node")
    parser.add_argument("service", choices=SERVICES)
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args(argv)
    return serve(args.service, args.timeout)


if __name__ == "__main__":
    sys.exit(main())
