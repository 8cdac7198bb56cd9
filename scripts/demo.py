"""``make demo``: Django's stock collectstatic against staticship, side by side.

Starts a local S3 emulator (bench/s3server.py, in memory, with a fixed delay
added to every request so that round trips cost what they cost on a real
network), generates the example project's static files (Django's admin plus a
generated tree), then runs ``example/manage.py collectstatic`` with each tool,
on an empty prefix (cold) and again with nothing changed (warm), for a plain
S3Storage and for S3ManifestStaticStorage. Prints one table and cleans up.

Stock collectstatic costs one or more round trips per file, one after the
other, so its runs are stopped after ``--stock-budget`` seconds (shown as
``>N``); ``--stock-budget 0`` lets them finish (minutes at the defaults).
Stock's warm runs go to the prefix staticship published, which holds the
same objects stock's own cold run would have written.

    python scripts/demo.py [--files N] [--latency-ms MS] [--stock-budget S]
    python -m testbed run --s3 -- python scripts/demo.py --testbed   # moto instead

Every number is measured on this machine: seconds are wall-clock seconds of
the whole ``manage.py collectstatic`` process, requests and uploads are
counted by the emulator.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "example"
BUCKET = "staticship-demo"
UPLOAD_OPS = ("PutObject", "CompleteMultipartUpload", "CopyObject")
# Loopback calls to the emulator must never go through a proxy.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


# -- the emulator --------------------------------------------------------------
class BenchServer:
    """bench/s3server.py in a child process; counts come from /_bench/stats."""

    name = "bench/s3server.py (in memory)"

    def __init__(self, latency_ms: float, workdir: Path) -> None:
        self.latency_ms = latency_ms
        port_file = workdir / "s3server.port"
        self.log = open(workdir / "s3server.log", "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.s3server", "--host", "127.0.0.1", "--port", "0",
             "--latency-ms", str(latency_ms), "--bucket", BUCKET, "--port-file", str(port_file)],
            cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while not port_file.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise SystemExit("demo: the S3 emulator did not start (see %s)" % self.log.name)
            time.sleep(0.05)
        self.endpoint = "http://127.0.0.1:%s" % port_file.read_text().strip()

    def _call(self, method: str, action: str) -> Any:
        request = urllib.request.Request(self.endpoint + "/_bench/" + action, method=method,
                                         data=b"" if method == "POST" else None)
        with _OPENER.open(request, timeout=30) as response:
            return json.loads(response.read() or b"null")

    def reset(self) -> None:
        self._call("POST", "reset")

    def counts(self) -> dict[str, int]:
        return dict(self._call("GET", "stats")["by_op"])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


class TestbedServer:
    """The test bed's moto behind its counting proxy (``python -m testbed run --s3``)."""

    name = "moto (the test bed), no added latency"
    latency_ms = 0.0

    def __init__(self) -> None:
        sys.path.insert(0, str(ROOT))
        from testbed.client import Control

        self.endpoint = os.environ["STATICSHIP_TEST_S3_ENDPOINT"]
        self.control = Control(os.environ.get("STATICSHIP_TEST_S3_CONTROL") or self.endpoint)
        import boto3

        boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                     aws_access_key_id="testing", aws_secret_access_key="testing").create_bucket(
            Bucket=BUCKET)

    def reset(self) -> None:
        self.control.reset()

    def counts(self) -> dict[str, int]:
        return {k: v for k, v in self.control.counts().items() if k != "CreateBucket"}

    def stop(self) -> None:
        pass


# -- the runs --------------------------------------------------------------------
@dataclass
class Row:
    storage: str
    tool: str
    run: str
    seconds: float
    requests: int
    uploads: int
    stopped: bool = False

    def cells(self) -> list[str]:
        mark = ">" if self.stopped else ""
        return [self.storage, self.tool, self.run, "%s%.1f" % (mark, self.seconds),
                "%s%d" % (mark, self.requests), "%s%d" % (mark, self.uploads)]


def collectstatic(server: Any, env: dict[str, str], location: str, manifest: bool,
                  stock: bool, budget: float, workdir: Path) -> tuple[float, dict[str, int], bool, str]:
    """Run example/manage.py collectstatic once; (seconds, counts, stopped, output)."""
    run_env = dict(env, STATICSHIP_EXAMPLE_LOCATION=location,
                   STATICSHIP_EXAMPLE_MANIFEST="1" if manifest else "")
    command = [sys.executable, str(EXAMPLE / "manage.py"), "collectstatic", "--noinput", "-v", "1"]
    if stock:
        command.append("--disable-staticship")
    server.reset()
    out_path = workdir / ("run-%s.log" % uuid.uuid4().hex[:8])
    with open(out_path, "wb") as out:
        start = time.perf_counter()
        process = subprocess.Popen(command, env=run_env, stdout=out, stderr=subprocess.STDOUT,
                                   cwd=ROOT)
        stopped = False
        try:
            process.wait(budget if budget > 0 else None)
        except subprocess.TimeoutExpired:
            stopped = True
            process.send_signal(signal.SIGINT)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        seconds = time.perf_counter() - start
    output = out_path.read_text(errors="replace")
    if not stopped and process.returncode != 0:
        raise SystemExit("demo: collectstatic failed (exit %d):\n%s" % (process.returncode, output))
    return seconds, server.counts(), stopped, output


def run_all(server: Any, args: argparse.Namespace, workdir: Path) -> tuple[list[Row], int]:
    tree = workdir / "tree"
    sys.path.insert(0, str(EXAMPLE))
    from example_project.generate import generate

    generate(tree, args.files)
    env = dict(
        os.environ,
        AWS_ACCESS_KEY_ID="demo",
        AWS_SECRET_ACCESS_KEY="demo",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true",
        NO_GCE_CHECK="true",
        DJANGO_SETTINGS_MODULE="example_project.settings",
        STATICSHIP_EXAMPLE_STORAGE="s3",
        STATICSHIP_EXAMPLE_S3_BUCKET=BUCKET,
        STATICSHIP_EXAMPLE_S3_ENDPOINT=server.endpoint,
        STATICSHIP_EXAMPLE_TREE=str(tree),
        PYTHONPATH=os.pathsep.join(p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH"))
                                   if p),
    )
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        env.pop(name, None)
    rows: list[Row] = []
    files = 0
    prefix = "demo-" + uuid.uuid4().hex[:8]
    for manifest, label in ((False, "S3Storage"), (True, "S3ManifestStaticStorage")):
        ours = "%s/%s/staticship" % (prefix, label)
        plan = (
            ("staticship", "cold", ours),
            ("staticship", "warm", ours),
            ("stock", "cold", "%s/%s/stock" % (prefix, label)),
            ("stock", "warm", ours),  # a complete deployment, as stock would leave it
        )
        for tool, run, location in plan:
            stock = tool == "stock"
            say("%s, %s, %s run ..." % (label, tool, run))
            seconds, counts, stopped, output = collectstatic(
                server, env, location, manifest, stock, args.stock_budget if stock else 0, workdir
            )
            if not stock and run == "cold" and not manifest:
                files = _copied(output)
            rows.append(Row(label, tool, run, seconds, sum(counts.values()),
                            sum(counts.get(op, 0) for op in UPLOAD_OPS), stopped))
    return rows, files


def _copied(output: str) -> int:
    for line in reversed(output.splitlines()):
        if "static file" in line and "copied" in line:
            return int(line.split()[0])
    return 0


def table(rows: list[Row], files: int, server: Any, args: argparse.Namespace) -> str:
    latency = ("%g ms added to every request" % server.latency_ms) if server.latency_ms else (
        "no latency added")
    lines = [
        "staticship demo: example/ project, %d files (Django admin + %d generated)" % (
            files, args.files),
        "emulator: %s, %s" % (server.name, latency),
        "",
    ]
    header = ["storage", "tool", "run", "seconds", "requests", "uploads"]
    body = [r.cells() for r in rows]
    widths = [max(len(c[i]) for c in [header] + body) for i in range(len(header))]
    align = ["<", "<", "<", ">", ">", ">"]
    for cells in [header] + body:
        lines.append("  ".join("%*s" % (-w if a == "<" else w, c)
                               for c, w, a in zip(cells, widths, align, strict=False)).rstrip())
    lines.append("")
    lines.append("seconds: wall clock of manage.py collectstatic; requests and uploads "
                 "(objects written): counted by the emulator.")
    if any(r.stopped for r in rows):
        lines.append(">N: stock run stopped after --stock-budget %g s, counts up to then "
                     "(--stock-budget 0 lets it finish)." % args.stock_budget)
    for storage in dict.fromkeys(r.storage for r in rows):
        by = {(r.tool, r.run): r for r in rows if r.storage == storage}
        parts = []
        for run in ("cold", "warm"):
            stock, ours = by.get(("stock", run)), by.get(("staticship", run))
            if stock and ours and ours.seconds > 0:
                ratio = stock.seconds / ours.seconds
                shown = ("%.1f" % ratio) if ratio < 10 else ("%.0f" % ratio)
                # A stopped stock run only bounds the ratio from below.
                parts.append("%s %s%sx" % (run, "at least " if stock.stopped else "", shown))
        if parts:
            lines.append("%s: staticship faster, %s." % (storage, ", ".join(parts)))
    return "\n".join(lines)


def say(text: str) -> None:
    print("demo: " + text, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=2500,
                        help="generated files beside Django's admin (default 2500; fewer is quicker)")
    parser.add_argument("--latency-ms", type=float, default=20.0,
                        help="delay the emulator adds to every request (default 20)")
    parser.add_argument("--stock-budget", type=float, default=20.0,
                        help="stop each stock run after this many seconds (default 20; 0: never)")
    parser.add_argument("--testbed", action="store_true",
                        help="use the test bed's moto (run under `python -m testbed run --s3`)")
    parser.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="staticship-demo-"))
    server: Any = None
    try:
        if args.testbed:
            server = TestbedServer()
        else:
            sys.path.insert(0, str(ROOT))
            server = BenchServer(args.latency_ms, workdir)
        say("S3 emulator on %s; generating %d files ..." % (server.endpoint, args.files))
        rows, files = run_all(server, args, workdir)
        print(table(rows, files, server, args))
        if args.json:
            Path(args.json).write_text(json.dumps({
                "files": files, "generated": args.files, "latency_ms": server.latency_ms,
                "emulator": server.name, "stock_budget": args.stock_budget,
                "rows": [r.__dict__ for r in rows],
            }, indent=2))
        return 0
    except KeyboardInterrupt:
        return 130
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
