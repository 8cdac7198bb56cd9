"""Benchmark harness: stock collectstatic vs Collectfasta vs staticship.

    python -m bench.run --quick            # 1k files, S3Storage, < 3 minutes
    python -m bench.run --full             # everything, under an hour (54 min here)
    python -m bench.run --latency-ms 20 --out docs/

Each measured run is its own ``manage.py collectstatic --noinput`` process in
the project under bench/project, against bench/s3server.py for S3, or
fake-gcs-server / Azurite behind the test bed's counting proxy for GCS and
Azure (bench/remotes.py; all started here, on 127.0.0.1, with the same
per-request latency).  Request counts come from the server's or the proxy's
counters, reset before each run.  Results go to
``<out>/benchmarks.md`` (``benchmarks-quick.md`` for --quick), a PNG chart and
a JSON file with every run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import remotes
from . import workload as wl

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def _relative(path: Path) -> str:
    """``path`` relative to the repository when it lies inside (the report
    names no folder of the machine it ran on)."""
    try:
        return str(Path(path).resolve().relative_to(REPO))
    except ValueError:
        return Path(path).name
PROJECT = HERE / "project"
BUCKET = "bench"
OLD_OBJECTS = 50_000
CHANGE_FRACTION = 0.01

VARIANTS = ("stock", "collectfasta", "staticship", "staticship-plain")
# staticship as a plain `pip install` may leave it: obstore uninstalled (issue
# #13), run by the Python of a second virtualenv (--plain-python).
PLAIN = "staticship-plain"
STORAGES = ("s3", "s3manifest", "gcs", "azure")
SCENARIOS = ("cold", "warm", "changed", "cssedit", "bucket50k", "headers")
# The "cache setting changed" scenario: every file as the tool left it, then
# the storage's object parameters gain this Cache-Control.
NEW_CACHE_CONTROL = "public, max-age=600"
STORAGE_LABEL = {
    "s3": "S3Storage",
    "s3manifest": "S3ManifestStaticStorage",
    "gcs": "GoogleCloudStorage",
    "azure": "AzureStorage",
}
# Which remote each storage writes to.
REMOTE_KIND = {"s3": "s3", "s3manifest": "s3", "gcs": "gcs", "azure": "azure"}
# The storages' `location`.  GCS and Azure use none: Collectfasta's
# GoogleCloudStrategy and AzureBlobStrategy look objects up by the name
# without the location, so with one they find nothing and re-upload every
# file on every run (seen here: 1,000 of 1,000 on a warm run).  The bench
# compares against Collectfasta where it works.
LOCATIONS = {"s3": "static", "s3manifest": "static", "gcs": "", "azure": ""}
# Requests that create an object, by storage API.
UPLOAD_OPS = {
    "s3": ("PutObject", "CreateMultipartUpload", "CopyObject"),
    "gcs": ("Upload", "ResumableStart", "CreateMultipartUpload", "Copy"),
    "azure": ("Upload", "PutBlockList", "Copy"),
}
SCENARIO_LABEL = {
    "cold": "cold (empty bucket)",
    "warm": "warm (nothing changed, mtimes touched)",
    "changed": "1% of files changed",
    "cssedit": "one stylesheet that references others edited",
    "bucket50k": "warm, bucket already holds 50,000 older objects",
    "headers": "cache setting changed (same files, a new CacheControl)",
}


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# One run


@dataclass
class Run:
    wall: float
    rc: int
    total: int
    by_kind: dict
    by_op: dict
    uploads: int
    bytes_in: int
    objects_after: int
    verified: str = ""
    error: str = ""
    load_before: float = 0.0


@dataclass
class Cell:
    workload: str
    storage: str
    scenario: str
    variant: str
    runs: list[Run] = field(default_factory=list)
    note: str = ""
    changed_files: int = 0
    objects_before: int = 0

    def ok_runs(self) -> list[Run]:
        return [r for r in self.runs if r.rc == 0]

    def median_wall(self) -> float | None:
        ok = self.ok_runs()
        return statistics.median(r.wall for r in ok) if ok else None

    def median_run(self) -> Run | None:
        ok = sorted(self.ok_runs(), key=lambda r: r.wall)
        return ok[(len(ok) - 1) // 2] if ok else None


def uploads_of(kind: str, by_op: dict) -> int:
    return sum(by_op.get(op, 0) for op in UPLOAD_OPS[kind])


def object_key(storage: str, rel: str) -> str:
    return "/".join(p for p in (LOCATIONS[storage], rel) if p)


class Harness:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.workdir = Path(args.workdir).resolve()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.remotes: dict[str, Any] = {}
        self.testbed: Any = None
        self.cells: list[Cell] = []
        self.workloads: dict[str, wl.Workload] = {}
        self.floors: dict[tuple[str, str], Cell] = {}
        self.manifest_pending: bool | None = None
        self.started = time.time()
        self.load_at_start = os.getloadavg()

    # ---- remotes ----------------------------------------------------------

    def remote(self, storage: str) -> Any:
        kind = REMOTE_KIND[storage]
        if kind not in self.remotes:
            if kind == "s3":
                self.remotes[kind] = remotes.S3Remote(self.args.latency_ms, self.workdir, BUCKET)
            else:
                if self.testbed is None:
                    wanted = sorted({REMOTE_KIND[s] for s in self.args.storages} - {"s3"})
                    log(f"starting the test bed's emulators: {', '.join(wanted)}")
                    self.testbed = remotes.Testbed(wanted)
                self.remotes[kind] = remotes.EmulatorRemote(kind, self.testbed, self.args.latency_ms, BUCKET)
        return self.remotes[kind]

    def stop(self) -> None:
        for r in self.remotes.values():
            r.stop()
        self.remotes.clear()
        if self.testbed is not None:
            self.testbed.stop()
            self.testbed = None

    # ---- process ----------------------------------------------------------

    def env(self, variant: str, storage: str, source: Path) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "BENCH_", "STATICSHIP_", "COLLECTFAST"))}
        env.update(
            AWS_EC2_METADATA_DISABLED="true",
            NO_GCE_CHECK="true",
            AWS_ACCESS_KEY_ID="bench-access-key",
            AWS_SECRET_ACCESS_KEY="bench-secret-key",
            AWS_DEFAULT_REGION="us-east-1",
            AWS_CONFIG_FILE="/dev/null",
            AWS_SHARED_CREDENTIALS_FILE="/dev/null",
            DJANGO_SETTINGS_MODULE="benchproj.settings",
            BENCH_VARIANT=variant,
            BENCH_STORAGE=storage,
            BENCH_SOURCE=str(source),
            BENCH_BUCKET=BUCKET,
            BENCH_LOCATION=LOCATIONS[storage],
            BENCH_STATIC_ROOT=str(self.workdir / "static-root"),
            PYTHONDONTWRITEBYTECODE="1",
        )
        env.update(self.remote(storage).env())
        return env

    def run_once(self, variant: str, storage: str, w: wl.Workload, verify: bool = False,
                 extra_env: dict[str, str] | None = None) -> Run:
        python = self.args.plain_python if variant == PLAIN else sys.executable
        cmd = [python, str(PROJECT / "manage.py")]
        if variant == "floor":
            cmd += ["bench_floor"] + (["--manifest"] if storage == "s3manifest" else [])
        else:
            cmd += ["collectstatic", "--noinput"]
        env = {**self.env(variant, storage, w.root), **(extra_env or {})}
        remote = self.remote(storage)
        with tempfile.TemporaryDirectory(prefix="bench-run-", dir=self.workdir) as cwd:
            env["BENCH_CACHE_DIR"] = os.path.join(cwd, "collectfasta-cache")
            remote.start_run()
            load = os.getloadavg()[0]
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=self.args.run_timeout)
            wall = time.perf_counter() - t0
        stats = remote.end_run()
        run = Run(
            wall=round(wall, 3),
            rc=proc.returncode,
            total=stats["total"],
            by_kind=stats["by_kind"],
            by_op=stats["by_op"],
            uploads=uploads_of(remote.kind, stats["by_op"]),
            bytes_in=stats["bytes_in"],
            objects_after=remote.object_count(),
            load_before=round(load, 2),
        )
        if proc.returncode != 0:
            run.error = (proc.stderr or proc.stdout)[-2000:]
            log(f"  !! {variant}/{storage} exited {proc.returncode}: {run.error[-600:]}")
        elif verify and variant != "floor":
            run.verified = self.verify(storage, w)
            if run.verified == "ok" and "BENCH_CACHE_CONTROL" in (extra_env or {}):
                run.verified = self.verify_cache_control(storage, env["BENCH_CACHE_CONTROL"])
            if run.verified != "ok":
                log(f"  !! {variant}/{storage}: bucket does not match the sources: {run.verified}")
        return run

    def verify(self, storage: str, w: wl.Workload) -> str:
        """Check the bucket against the sources after a run."""
        location = LOCATIONS[storage]
        remote = self.remote(storage).etags(location + "/" if location else "")
        local = wl.md5_tree(w.root, w.files)
        sizes = {f: (w.root / f).stat().st_size for f in w.files}
        problems = []
        if storage != "s3manifest":
            for rel, md5 in local.items():
                got = remote.get(object_key(storage, rel))
                if got is None:
                    problems.append(f"missing {rel}")
                elif got[0] is None:  # no MD5 kept (multipart, block list): compare sizes
                    if got[1] != sizes[rel]:
                        problems.append(f"size {rel}")
                elif got[0] != md5:
                    problems.append(f"content {rel}")
        else:
            if object_key(storage, "staticfiles.json") not in remote:
                return "no staticfiles.json"
            for rel in w.files:
                if object_key(storage, rel) not in remote:
                    problems.append(f"missing {rel}")
        if problems:
            return f"{len(problems)} problems, e.g. " + ", ".join(problems[:3])
        return "ok"

    def verify_cache_control(self, storage: str, value: str) -> str:
        """Check that every file's object carries the Cache-Control ``value``."""
        location = LOCATIONS[storage]
        prefix = location + "/" if location else ""
        found = {k: v for k, v in self.remote(storage).cache_controls(prefix).items()
                 if not k[len(prefix):].startswith(".staticship/")}
        stale = sorted(k for k, v in found.items() if v != value)
        if stale:
            return f"{len(stale)} of {len(found)} objects keep the old Cache-Control"
        return "ok"

    # ---- scenarios --------------------------------------------------------

    def run_cell(self, w: wl.Workload, storage: str, scenario: str, variant: str, reps: int, prepare,
                 extra_env: dict[str, str] | None = None) -> Cell:
        cell = Cell(w.name, storage, scenario, variant)
        for i in range(reps):
            prepare(i)
            cell.objects_before = self.remote(storage).object_count()
            run = self.run_once(variant, storage, w,
                                verify=(i == 0 and scenario in ("cold", "changed", "cssedit", "headers")),
                                extra_env=extra_env)
            cell.runs.append(run)
            log(
                f"  {w.name:>14} {storage:<10} {scenario:<9} {variant:<12} run {i + 1}/{reps}: "
                f"{run.wall:7.2f}s  {run.total:6d} req {json.dumps(run.by_kind)}"
                + (f"  [{run.verified}]" if run.verified else "")
            )
            if run.rc != 0:
                break
        self.cells.append(cell)
        self.save()
        return cell

    def snapshot_name(self, w: wl.Workload, storage: str, variant: str) -> str:
        return f"{w.name}|{storage}|{variant}"

    def run_variant(self, w: wl.Workload, storage: str, variant: str) -> None:
        plan = self.args.plan(w, storage, variant)
        if not any(plan.values()):
            return
        snap = self.snapshot_name(w, storage, variant)
        remote = self.remote(storage)

        def cold_prep(_i):
            remote.wipe()
            wl.touch_all(w.root)

        cold_reps = plan.get("cold", 0)
        if cold_reps:
            cell = self.run_cell(w, storage, "cold", variant, cold_reps, cold_prep)
            if not cell.ok_runs():
                return
            if storage == "s3manifest" and variant == "staticship" and self.manifest_pending is None:
                self.manifest_pending = self.looks_like_stock(cell, w)
                if self.manifest_pending:
                    log("  staticship fell back to stock for the manifest storage: its manifest rows are 'pending'")
        else:
            if not any(plan.get(s, 0) for s in ("warm", "changed", "bucket50k", "headers")):
                return
            cold_prep(0)
            log(f"  {w.name} {storage} {variant}: untimed sync run")
            if self.run_once(variant, storage, w).rc != 0:
                return
        if remote.snapshots:
            remote.snapshot(snap)

        def restore(i: int) -> None:
            """The bucket as the same tool left it after syncing the sources.
            Without snapshots, the runs before did not change that state
            (warm) or the caller syncs it again (changed)."""
            if remote.snapshots:
                remote.restore(snap)

        def warm_prep(i):
            restore(i)
            wl.touch_all(w.root)
            floor = self.floors.get((w.name, storage))
            if variant in ("staticship", PLAIN) and storage == "s3" and floor is not None:
                # One more floor run right before each staticship warm run, so
                # that "warm vs floor" compares runs made under the same load.
                run = self.run_once("floor", storage, w)
                floor.runs.append(run)
                log(f"  {w.name:>14} {storage:<10} floor     (paired)     : {run.wall:7.2f}s")

        if plan.get("warm", 0):
            self.run_cell(w, storage, "warm", variant, plan["warm"], warm_prep)

        if plan.get("changed", 0):
            originals: dict[str, bytes] = {}

            def changed_prep(i):
                if originals:
                    wl.restore(w.root, originals)
                    if not remote.snapshots:
                        # Undo the previous run's uploads the way the tool
                        # itself would: sync the original files (untimed).
                        wl.touch_all(w.root)
                        log(f"  {w.name} {storage} {variant}: untimed run to restore the changed files")
                        if self.run_once(variant, storage, w).rc != 0:
                            raise RuntimeError("restoring run failed")
                restore(i)
                originals.clear()
                originals.update(wl.change(w.root, self.change_candidates(w), CHANGE_FRACTION, seed=1))
                wl.touch_all(w.root)

            try:
                cell = self.run_cell(w, storage, "changed", variant, plan["changed"], changed_prep)
                cell.changed_files = len(originals)
            finally:
                wl.restore(w.root, originals)

        if plan.get("cssedit", 0) and remote.snapshots:
            self.run_css_edit(w, storage, variant, plan["cssedit"], restore)

        if plan.get("bucket50k", 0) and remote.snapshots:

            def seeded_prep(i):
                restore(i)
                remote.seed(object_key(storage, "old-releases/"), OLD_OBJECTS)
                wl.touch_all(w.root)

            self.run_cell(w, storage, "bucket50k", variant, plan["bucket50k"], seeded_prep)

        if plan.get("headers", 0) and remote.snapshots:
            # The bucket as the tool left it, then a new Cache-Control setting:
            # the bytes match, the headers do not.

            def headers_prep(i):
                restore(i)
                wl.touch_all(w.root)

            self.run_cell(w, storage, "headers", variant, plan["headers"], headers_prep,
                          extra_env={"BENCH_CACHE_CONTROL": NEW_CACHE_CONTROL})
        if remote.snapshots:
            remote.drop_snapshots()

    def run_css_edit(self, w: wl.Workload, storage: str, variant: str, reps: int, restore) -> None:
        """A developer's usual deploy (issue #17): the bucket as the tool left
        it, and one stylesheet that references other files edited."""
        css = wl.most_referencing_css(w.root, w.files)
        originals: dict[str, bytes] = {}

        def prep(i: int) -> None:
            wl.restore(w.root, originals)
            restore(i)
            originals.update(wl.change(w.root, [css], 1.0, seed=i + 1))
            wl.touch_all(w.root)

        try:
            cell = self.run_cell(w, storage, "cssedit", variant, reps, prep)
            cell.changed_files = 1
        finally:
            wl.restore(w.root, originals)

    @staticmethod
    def change_candidates(w: wl.Workload) -> list[str]:
        # The files above the multipart threshold are left alone, so that "1%
        # changed" means the same number of single-request uploads for every
        # tool (a changed 10 MB file costs 4 requests, not 1).
        return [f for f in w.files if not f.startswith("media/big-")]

    @staticmethod
    def looks_like_stock(cell: Cell, w: wl.Workload) -> bool:
        """Stock collectstatic asks for every file with a HEAD (``exists()``);
        a listing-based tool does not.  That tells a fallback apart."""
        run = cell.median_run()
        return bool(run) and run.by_op.get("HeadObject", 0) >= w.n_files // 2

    def describe_servers(self) -> str:
        return "; ".join(f"{r.kind}: {r.describe()}" for r in self.remotes.values())

    def run_floor(self, w: wl.Workload, storage: str, reps: int) -> None:
        cell = self.run_cell(w, storage, "floor", "floor", reps, lambda _i: wl.touch_all(w.root))
        self.floors[(w.name, storage)] = cell

    # ---- bookkeeping ------------------------------------------------------

    def results(self) -> dict:
        return {
            "meta": self.meta(),
            "workloads": {
                name: {"files": w.n_files, "bytes": w.total_bytes, "big_files": w.big_files, "root": _relative(w.root)}
                for name, w in self.workloads.items()
            },
            "manifest_pending": self.manifest_pending,
            "cells": [asdict(c) for c in self.cells],
        }

    def save(self) -> None:
        path = self.workdir / ("results-quick.json" if self.args.quick else "results.json")
        path.write_text(json.dumps(self.results(), indent=1))

    def meta(self) -> dict:
        from importlib.metadata import PackageNotFoundError, version

        versions = {}
        for dist in (
            "Django",
            "django-storages",
            "boto3",
            "botocore",
            "s3transfer",
            "Collectfasta",
            "django-staticship",
            "obstore",
            "uvloop",
        ):
            try:
                versions[dist] = version(dist)
            except PackageNotFoundError:
                versions[dist] = None
        versions.update(wl.real_app_versions())
        commit = None
        try:
            commit = subprocess.run(
                ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10
            ).stdout.strip() or None
        except Exception:
            pass
        try:
            dirty = bool(
                subprocess.run(
                    ["git", "-C", str(REPO), "status", "--porcelain", "--", "src"], capture_output=True, text=True, timeout=10
                ).stdout.strip()
            )
        except Exception:
            dirty = None
        cpu = ""
        try:
            for line in open("/proc/cpuinfo"):
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
        mem_gb = None
        try:
            for line in open("/proc/meminfo"):
                if line.startswith("MemTotal"):
                    mem_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
        except OSError:
            pass
        import platform

        return {
            "mode": "quick" if self.args.quick else "full",
            "latency_ms": self.args.latency_ms,
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "cpu_model": cpu,
            "mem_gb": mem_gb,
            "versions": versions,
            "staticship_commit": commit,
            "staticship_src_dirty": dirty,
            "load_at_start": [round(x, 2) for x in self.load_at_start],
            "load_max_before_run": max((r.load_before for c in self.cells for r in c.runs), default=None),
            "started": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(self.started)),
            "duration_s": round(time.time() - self.started, 1),
            "server": self.describe_servers(),
            "servers": {r.kind: r.describe() for r in self.remotes.values()},
            "locations": {s: LOCATIONS[s] for s in self.args.storages},
            "old_objects": OLD_OBJECTS,
            "change_fraction": CHANGE_FRACTION,
            "seed": self.args.seed,
            "plain_python": _relative(Path(self.args.plain_python)) if PLAIN in self.args.variants else None,
        }

    # ---- the whole thing --------------------------------------------------

    def run(self) -> dict:
        a = self.args
        for name in a.workloads:
            if name.startswith("gen"):
                n = int(name[3:].replace("k", "000"))
                log(f"generating {n} files (seed {a.seed})")
                w = wl.generate(self.workdir / "workloads" / name, n, seed=a.seed)
            else:
                log("copying the real apps' static files")
                w = wl.copy_real(self.workdir / "workloads" / "real")
            self.workloads[w.name] = w
            log(f"workload {w.name}: {w.n_files} files, {w.total_bytes / 1e6:.1f} MB, {w.big_files} above 8 MB")
            for storage in a.storages:
                if not any(any(a.plan(w, storage, v).values()) for v in a.variants):
                    continue
                log(f"== {w.name} / {STORAGE_LABEL[storage]}")
                self.run_floor(w, storage, a.floor_reps)
                for variant in a.variants:
                    if storage == "s3manifest" and variant == "staticship" and self.manifest_pending:
                        log("  staticship/manifest: pending (stock fallback seen earlier), skipped")
                        continue
                    self.run_variant(w, storage, variant)
        res = self.results()
        self.save()
        return res


# ---------------------------------------------------------------------------
# Plans: how many runs of what


def quick_plan(w: wl.Workload, storage: str, variant: str) -> dict[str, int]:
    if variant == PLAIN:
        return {"cold": 1, "warm": 2} if storage == "s3" else {}
    if variant == "stock":
        return {"cold": 1}
    if variant == "collectfasta":
        return {"cold": 1, "warm": 2, "changed": 1, "bucket50k": 1}
    return {"cold": 3, "warm": 3, "changed": 3, "bucket50k": 3}


def full_plan(w: wl.Workload, storage: str, variant: str) -> dict[str, int]:
    big = w.n_files > 5000
    if variant == PLAIN:
        # Without obstore: S3Storage, the 1,000-file workload, cold and warm.
        if storage != "s3" or w.n_files != 1000 or not w.name.startswith("generated-"):
            return {}
        return {"cold": 3, "warm": 3}
    if storage in ("gcs", "azure"):
        # The 1,000-file workload only.  Stock goes by mtime, so warm and 1%
        # changed cost it the same ~4 sequential requests a file: one run each.
        if w.n_files != 1000 or not w.name.startswith("generated-"):
            return {}
        if variant == "stock":
            return {"cold": 1, "warm": 1, "changed": 1}
        return {"cold": 3, "warm": 3, "changed": 3}
    if storage == "s3manifest":
        # Stock post-processing on S3 costs several requests per file and
        # pass; it is run once, on the smaller workloads only.
        if variant == "stock":
            return {} if big or w.name.startswith("real") else {"cold": 1}
        # One stylesheet edited (#17): on the real apps' files, whose CSS
        # reference each other as a project's do.
        edit = 3 if w.name.startswith("real") else 0
        if variant == "collectfasta":
            return {"cold": 1 if big else 3, "warm": 1 if big else 3, "changed": 1 if big else 3,
                    "cssedit": min(edit, 1)}
        return {"cold": 3, "warm": 3, "changed": 3, "cssedit": edit}
    if variant == "stock":
        # ~2 sequential requests a file cold, ~4 warm (HEAD, HEAD, DELETE,
        # PUT, because every mtime is new): 10k files take 10-20 minutes a
        # run, so the 10k cell runs once and only cold.
        # The real workload (1.5k files) gets one cold run.  "1% changed" is
        # the same work as warm for stock (it goes by mtime), so it is skipped.
        # Warm costs it ~4 requests a file (100 s at 1k): left out for time.
        # "Cache setting changed" (1k only): stock re-uploads every file, once.
        if big or w.name.startswith("real"):
            return {"cold": 1}
        return {"cold": 3, "headers": 1}
    headers = {"headers": 3} if w.n_files == 1000 and w.name.startswith("generated-") else {}
    if variant == "collectfasta":
        return {"cold": 1 if big else 3, "warm": 3, "changed": 3, "bucket50k": 3, **headers}
    return {"cold": 3, "warm": 3, "changed": 3, "bucket50k": 3, **headers}


def plain_python_ok(python: str) -> bool:
    """True when ``python`` runs staticship and cannot import obstore (else
    its rows would not measure what they claim)."""
    if not Path(python).exists():
        log(f"{python} not found: the staticship-plain rows are skipped (make bench builds it)")
        return False
    probe = subprocess.run([python, "-c", "import staticship, importlib.util, sys; "
                            "sys.exit(importlib.util.find_spec('obstore') is not None)"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        log(f"{python} has obstore (or no staticship): the staticship-plain rows are skipped")
        return False
    return True


def compile_sources(pythons: list[str]) -> None:
    """Byte-compile staticship's sources (an editable install) and the bench
    project once, as pip does for an installed package: every run is started
    with PYTHONDONTWRITEBYTECODE=1, so without this each staticship run would
    compile about 9,000 lines of Python again (about 0.1 s) while stock's and
    Collectfasta's installed modules load from their bytecode."""
    import staticship

    package = str(Path(staticship.__file__).parent)
    for python in pythons:
        subprocess.run([python, "-m", "compileall", "-q", package, str(PROJECT)], check=True,
                       stdout=subprocess.DEVNULL)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="1k generated files, S3Storage, few runs (< 3 minutes)")
    mode.add_argument("--full", action="store_true", help="every workload, storage and scenario (the default)")
    p.add_argument("--latency-ms", type=float, default=20.0, help="added to every S3 request (default 20; 0 disables)")
    p.add_argument("--out", default=str(REPO / "docs"), help="where benchmarks.md and the chart go (default docs/)")
    p.add_argument("--workdir", default=str(HERE / "out"), help="scratch space: workloads, raw results, server log")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--workloads", help="comma-separated: gen1k,gen10k,real")
    p.add_argument("--storages", help="comma-separated: s3,s3manifest,gcs,azure")
    p.add_argument("--variants", help="comma-separated: stock,collectfasta,staticship")
    p.add_argument("--scenarios", help="comma-separated: only these of the plan's scenarios "
                   "(cold,warm,changed,bucket50k,headers); an untimed run syncs the bucket first")
    p.add_argument("--floor-reps", type=int, default=None)
    p.add_argument("--run-timeout", type=float, default=3600.0, help="seconds before one collectstatic is killed")
    p.add_argument("--plain-python", default=str(REPO / ".venv-bench-plain" / "bin" / "python"),
                   help="the Python of a virtualenv like the bench's but without obstore, for the "
                        "staticship-plain rows (make bench builds .venv-bench-plain)")
    p.add_argument("--report-only", metavar="RESULTS_JSON", help="only regenerate the report from a results file")
    args = p.parse_args(argv)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = "benchmarks-quick" if args.quick else "benchmarks"
    from . import report

    if args.report_only:
        res = json.loads(Path(args.report_only).read_text())
        report.write(res, out / f"{stem}.md", out / f"{stem}.png")
        return 0

    if args.quick:
        args.workloads = (args.workloads or "gen1k").split(",")
        args.storages = (args.storages or "s3").split(",")
        args.plan = quick_plan
        args.floor_reps = args.floor_reps or 3
    else:
        args.workloads = (args.workloads or "gen1k,gen10k,real").split(",")
        args.storages = (args.storages or ",".join(STORAGES)).split(",")
        args.plan = full_plan
        args.floor_reps = args.floor_reps or 3
    args.variants = (args.variants or ",".join(VARIANTS)).split(",")
    if args.scenarios:
        chosen, plan = set(args.scenarios.split(",")), args.plan
        args.plan = lambda w, storage, variant: {
            k: v for k, v in plan(w, storage, variant).items() if k in chosen}

    try:
        import staticship  # noqa: F401
    except ImportError:
        if "staticship" in args.variants:
            log("staticship is not installed: its variant is skipped (pip install -e .[s3])")
            args.variants.remove("staticship")

    # Absolute: each run starts in a scratch folder of its own.
    args.plain_python = os.path.abspath(args.plain_python)
    if PLAIN in args.variants and not plain_python_ok(args.plain_python):
        args.variants.remove(PLAIN)

    import signal

    def _terminate(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _terminate)
    compile_sources([sys.executable] + ([args.plain_python] if PLAIN in args.variants else []))
    h = Harness(args)
    try:
        res = h.run()
    finally:
        h.stop()
    report.write(res, out / f"{stem}.md", out / f"{stem}.png")
    (out / f"{stem}.json").write_text(json.dumps(res, indent=1))
    log(f"wrote {out / (stem + '.md')} in {time.time() - h.started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
