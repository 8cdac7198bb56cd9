"""Start the requested services, describe them as environment variables, stop them.

Each service runs as ``python -m testbed.node NAME`` in its own session
(process group), together with its emulator. Stopping sends SIGTERM to the
group, then SIGKILL to whatever is left. If this process dies without
stopping them, the nodes see their stdin close (and get SIGTERM from the
kernel on Linux) and shut down by themselves.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from .emulators import REPO_ROOT, SetupError, parent_death_signal

AZURE_ACCOUNT = "devstoreaccount1"
# Azurite's documented development-storage key (public, not a secret).
AZURE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
# s3rver's only account (documented; it refuses any other access key).
S3RVER_KEY = "S3RVER"

COMMON_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "NO_GCE_CHECK": "true",
}


@dataclass
class Node:
    service: str
    process: subprocess.Popen[bytes]
    info: dict[str, Any] = field(default_factory=dict)


def service_env(service: str, endpoint: str, control: str, direct: str) -> dict[str, str]:
    """The variables for one service; ``direct`` is its emulator's own
    address (no proxy: no counts, no faults, no adaptations)."""
    prefix = f"STATICSHIP_TEST_{service.upper()}_"
    if service != "azure":
        env = {prefix + "ENDPOINT": endpoint, prefix + "CONTROL": control, prefix + "DIRECT_ENDPOINT": direct}
        if service == "s3b":
            env[prefix + "ACCESS_KEY_ID"] = env[prefix + "SECRET_ACCESS_KEY"] = S3RVER_KEY
        return env
    return {
        prefix + "ENDPOINT": f"{endpoint}/{AZURE_ACCOUNT}",
        prefix + "CONNECTION_STRING": _azure_connection_string(f"{endpoint}/{AZURE_ACCOUNT}"),
        prefix + "CONTROL": control,
        prefix + "DIRECT_ENDPOINT": f"{direct}/{AZURE_ACCOUNT}",
        prefix + "DIRECT_CONNECTION_STRING": _azure_connection_string(f"{direct}/{AZURE_ACCOUNT}"),
    }


def _azure_connection_string(blob_endpoint: str) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={AZURE_ACCOUNT};"
        f"AccountKey={AZURE_KEY};BlobEndpoint={blob_endpoint};"
    )


def _no_proxy(current: str) -> str:
    hosts = [h for h in current.split(",") if h.strip()]
    for host in ("127.0.0.1", "localhost"):
        if host not in hosts:
            hosts.append(host)
    return ",".join(hosts)


def _with_repo_root(pythonpath: str) -> str:
    entries = [p for p in pythonpath.split(os.pathsep) if p]
    if str(REPO_ROOT) not in entries:
        entries.insert(0, str(REPO_ROOT))
    return os.pathsep.join(entries)


class Testbed:
    """``with Testbed(["s3"]) as bed: bed.env()``"""

    def __init__(self, services: list[str], timeout: float = 60.0) -> None:
        self.services = services
        self.timeout = timeout
        self.nodes: list[Node] = []

    def __enter__(self) -> Testbed:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        env = {**os.environ, **COMMON_ENV}
        env["PYTHONPATH"] = _with_repo_root(env.get("PYTHONPATH", ""))
        for service in self.services:
            process = subprocess.Popen(
                [sys.executable, "-m", "testbed.node", service, "--timeout", str(self.timeout)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                cwd=REPO_ROOT,
                env=env,
                start_new_session=True,
                preexec_fn=parent_death_signal(signal.SIGTERM),
            )
            self.nodes.append(Node(service, process))
        deadline = time.monotonic() + self.timeout + 5
        for node in self.nodes:
            node.info = _read_ready(node, deadline)

    def env(self) -> dict[str, str]:
        env = dict(COMMON_ENV)
        for key in ("NO_PROXY", "no_proxy"):
            env[key] = _no_proxy(os.environ.get(key, ""))
        env["PYTHONPATH"] = _with_repo_root(os.environ.get("PYTHONPATH", ""))  # testbed.client importable
        for node in self.nodes:
            direct = f"http://127.0.0.1:{node.info['upstream_port']}"
            env.update(service_env(node.service, node.info["endpoint"], node.info["control"], direct))
        return env

    def stop(self, grace: float = 10.0) -> None:
        for node in self.nodes:
            _close_stdin(node.process)
            _signal_group(node.process, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for node in self.nodes:
            try:
                node.process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                print(f"testbed: {node.service} did not stop in {grace}s; killing it", file=sys.stderr)
            # Sweep the whole group: the emulator too, should the node have died first.
            _signal_group(node.process, signal.SIGKILL)
            node.process.wait()
            if node.process.stdout is not None:
                node.process.stdout.close()
        self.nodes.clear()


def _read_ready(node: Node, deadline: float) -> dict[str, Any]:
    stdout = node.process.stdout
    assert stdout is not None
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise SetupError(f"{node.service}: not ready within the timeout")
        readable, _, _ = select.select([stdout], [], [], min(remaining, 0.5))
        if readable:
            line = stdout.readline()
            if not line:
                code = node.process.wait()
                raise SetupError(f"{node.service}: failed to start (exit {code}; see the message above)")
            return dict(json.loads(line))
        if node.process.poll() is not None:
            raise SetupError(f"{node.service}: failed to start (exit {node.process.returncode})")


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    try:
        os.killpg(process.pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def _close_stdin(process: subprocess.Popen[bytes]) -> None:
    if process.stdin is not None:
        try:
            process.stdin.close()
        except OSError:
            pass
