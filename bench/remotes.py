"""The remote side of a benchmark run: where the bucket lives and how its
requests are counted.

* ``S3Remote``: bench/s3server.py, the in-memory S3 with non-blocking latency,
  snapshots and seeding.
* ``EmulatorRemote``: fake-gcs-server (GCS) or Azurite (Azure Blob) behind the
  test bed's proxy (testbed/), which counts every request by operation and
  adds the same per-request latency (a sleep in the proxy's thread for that
  connection, so concurrent requests overlap).  These emulators have no
  snapshots: the harness restores a bucket by running the same tool again.

Every remote answers the same questions, so bench/run.py does not care which
one a storage uses.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


class Stats(dict):
    """Counters of one run: total, by_kind, by_op, bytes_in."""


class S3Remote:
    kind = "s3"
    snapshots = True

    def __init__(self, latency_ms: float, workdir: Path, bucket: str):
        self.bucket = bucket
        self.latency_ms = latency_ms
        port_file = workdir / "s3server.port"
        if port_file.exists():
            port_file.unlink()
        self.log_path = workdir / "s3server.log"
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.s3server", "--host", "127.0.0.1", "--port", "0",
             "--latency-ms", str(latency_ms), "--bucket", bucket, "--port-file", str(port_file)],
            cwd=str(REPO),
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.time() + 30
        while not port_file.exists():
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"bench S3 server did not start; see {self.log_path}")
            time.sleep(0.05)
        self.endpoint = f"http://127.0.0.1:{int(port_file.read_text())}"
        self.ctl("GET", "ping")

    def describe(self) -> str:
        return (f"bench/s3server.py (in-memory, asyncio, HTTP/1.1 keep-alive) on 127.0.0.1, "
                f"{self.latency_ms:g} ms added to every S3 request with asyncio.sleep")

    def ctl(self, method: str, what: str, **params: Any) -> Any:
        url = f"{self.endpoint}/_bench/{what}"
        if params:
            url += "?" + urlencode(params)
        req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
        with urllib.request.urlopen(req, timeout=120) as resp:
            return json.load(resp)

    def env(self) -> dict[str, str]:
        return {"BENCH_ENDPOINT": self.endpoint}

    def start_run(self) -> None:
        self.ctl("POST", "reset")

    def end_run(self) -> Stats:
        s = self.ctl("POST", "reset")
        return Stats(total=s["total"], by_kind=s["by_kind"], by_op=s["by_op"], bytes_in=s["bytes_in"])

    def object_count(self) -> int:
        return int(self.ctl("GET", "stats")["objects"].get(self.bucket, 0))

    def wipe(self) -> None:
        self.ctl("POST", "wipe", bucket=self.bucket)

    def snapshot(self, name: str) -> None:
        self.ctl("POST", "snapshot", bucket=self.bucket, name=name)

    def restore(self, name: str) -> None:
        self.ctl("POST", "restore", bucket=self.bucket, name=name)

    def drop_snapshots(self) -> None:
        self.ctl("POST", "drop-snapshots")

    def seed(self, prefix: str, count: int) -> None:
        self.ctl("POST", "seed", bucket=self.bucket, prefix=prefix, count=count)

    def etags(self, prefix: str) -> dict[str, tuple[str | None, int]]:
        """key -> (MD5 hex, or None when the object's ETag is not one; size)."""
        out = {}
        for key, (etag, size, *_rest) in self.ctl("GET", "etags", bucket=self.bucket, prefix=prefix).items():
            out[key] = (None if "-" in etag else etag, size)
        return out

    def cache_controls(self, prefix: str) -> dict[str, str | None]:
        """key -> the Cache-Control the object carries (None: none)."""
        return dict(self.ctl("GET", "cache-control", bucket=self.bucket, prefix=prefix))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self._log.close()


class Testbed:
    """fake-gcs-server and Azurite behind the test bed's proxies, started once."""

    def __init__(self, services: list[str]):
        from testbed.supervisor import Testbed as _Bed

        self._bed = _Bed(services, 90.0)
        try:
            self._bed.start()
        except BaseException:
            self._bed.stop()
            raise
        self.env = self._bed.env()

    def stop(self) -> None:
        self._bed.stop()


class EmulatorRemote:
    """A bucket (GCS) or container (Azure) on an emulator behind the test bed."""

    snapshots = False
    EMULATOR = {"gcs": "fake-gcs-server", "azure": "Azurite (azurite-blob, in-memory)"}

    def __init__(self, kind: str, bed: Testbed, latency_ms: float, bucket: str):
        self.kind = kind
        self.bucket = bucket
        self.latency_ms = latency_ms
        prefix = "STATICSHIP_TEST_" + kind.upper()
        self.endpoint = bed.env[prefix + "_ENDPOINT"]
        self.control = bed.env[prefix + "_CONTROL"]
        self.connection_string = bed.env.get(prefix + "_CONNECTION_STRING", "")
        self.client: Any = self._client()
        self._ctl("POST", "reset")
        if kind == "gcs":
            from google.api_core.exceptions import Conflict

            try:
                self.client.create_bucket(bucket)
            except Conflict:
                pass
        else:
            from azure.core.exceptions import ResourceExistsError

            try:
                self.client.create_container()
            except ResourceExistsError:
                pass

    def _client(self) -> Any:
        if self.kind == "gcs":
            from google.auth.credentials import AnonymousCredentials
            from google.cloud import storage

            return storage.Client(project="bench", credentials=AnonymousCredentials(),
                                  client_options={"api_endpoint": self.endpoint})
        from azure.storage.blob import ContainerClient

        return ContainerClient.from_connection_string(self.connection_string, self.bucket)

    def describe(self) -> str:
        return (f"{self.EMULATOR[self.kind]} behind the test bed's proxy (testbed/) on 127.0.0.1, "
                f"{self.latency_ms:g} ms added to every request by the proxy")

    def _ctl(self, method: str, what: str, payload: dict | None = None) -> Any:
        data = json.dumps(payload).encode() if payload is not None else (b"" if method == "POST" else None)
        req = urllib.request.Request(f"{self.control}/{what}", method=method, data=data)
        with urllib.request.urlopen(req, timeout=120) as resp:
            return json.load(resp)

    def env(self) -> dict[str, str]:
        if self.kind == "gcs":
            return {"STORAGE_EMULATOR_HOST": self.endpoint}
        return {"BENCH_AZURE_CONNECTION_STRING": self.connection_string}

    def start_run(self) -> None:
        self._ctl("POST", "reset")
        if self.latency_ms:
            self._ctl("POST", "faults", {"latency_ms": self.latency_ms})

    def end_run(self) -> Stats:
        log = self._ctl("GET", "requests")
        self._ctl("POST", "reset")  # latency off: the harness's own requests are not timed
        by_op: Counter[str] = Counter(r["op"] for r in log)
        by_kind: Counter[str] = Counter("LIST" if r["op"] == "List" else r["method"] for r in log)
        return Stats(total=len(log), by_kind=dict(by_kind), by_op=dict(by_op),
                     bytes_in=sum(r["bytes_in"] for r in log))

    def _names(self, prefix: str = "") -> list[str]:
        if self.kind == "gcs":
            return [b.name for b in self.client.list_blobs(self.bucket, prefix=prefix or None)]
        return list(self.client.list_blob_names(name_starts_with=prefix or None))

    def object_count(self) -> int:
        return len(self._names())

    def wipe(self) -> None:
        names = self._names()
        if self.kind == "gcs":
            bucket = self.client.bucket(self.bucket)
            delete = bucket.delete_blob
        else:
            delete = self.client.delete_blob
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(delete, names))
        if self._names():
            raise RuntimeError(f"{self.kind}: the bucket is not empty after a wipe")

    def etags(self, prefix: str) -> dict[str, tuple[str | None, int]]:
        """name -> (MD5 hex the store keeps for the object, or None; size)."""
        out: dict[str, tuple[str | None, int]] = {}
        if self.kind == "gcs":
            for b in self.client.list_blobs(self.bucket, prefix=prefix or None):
                md5 = base64.b64decode(b.md5_hash).hex() if b.md5_hash else None
                out[b.name] = (md5, b.size)
        else:
            for b in self.client.list_blobs(name_starts_with=prefix or None):
                md5 = b.content_settings.content_md5
                out[b.name] = (bytes(md5).hex() if md5 else None, b.size)
        return out

    def stop(self) -> None:
        pass
