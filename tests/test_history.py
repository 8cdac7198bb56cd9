"""A seeded, randomized deployment history over the emulators (issue #11,
"Must show").

Hundreds of steps, each one of: a deploy after random edits, adds and
removals of files in a generated app (``history_app.App``) through a manifest
storage; the same with ``--prune``; ``--clear``; a deploy by stock
collectstatic (``--disable-staticship``); runs under injected
transient faults and under permanent write failures (the test bed proxy);
runs in a child process killed by a real SIGKILL after the proxy has seen a
random number of its requests; and two overlapping runs (a child and an
in-process run, or two children).

After every step, read at the emulator:
- nothing outside the storage's location changed (objects seeded beside it);
- the live manifest is complete: every name it maps to exists with the bytes
  stock Django gives that name (``history_app.stock_output``);
- unless the step was ``--clear``, every name in each of the last K
  (STATICSHIP_PRUNE_KEEP) published manifests still exists with those bytes.
  A manifest counts as published once it was live at the end of a step, or
  its run succeeded;
- a single run that succeeded left its own manifest live, and a ``--clear``
  that succeeded left the location holding exactly what it collected
  (plus staticship's ``.staticship/`` records);
- a run fails, if at all, with one CommandError (no traceback), and a run
  under transient faults only succeeds.

Every run has STATICSHIP_PRUNE_KEEP=3 and STATICSHIP_PRUNE_MIN_AGE=0 (so that
--prune may delete objects written seconds ago: the age floor must not be
what keeps a deployment's files).

Seeded and reproducible: STATICSHIP_HISTORY_SEED (default: per backend, fixed)
and STATICSHIP_HISTORY_STEPS (default 200 per backend) choose the history,
e.g. ``STATICSHIP_HISTORY_STEPS=5000 STATICSHIP_HISTORY_SEED=7``;
STATICSHIP_HISTORY_BACKENDS (default ``s3,gcs``; add ``azure``) which stores
(run under ``python -m testbed run --all``). STATICSHIP_HISTORY_ORIGINALS
gives each staticship run's STATICSHIP_PUBLISH_ORIGINALS: ``random`` (the
default: drawn per run from a second generator, so the steps stay those of
the seed), ``on`` or ``off``; a run that withholds the originals says so in
its label, and its ``--clear`` must leave the location without them. Where a
child is killed, and how two runs interleave, depends on timing as well; the
step list in a failure names what each step did.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.core.management.base import CommandError

from .conftest import Target, collectstatic
from .history_app import App, Output, digest, stock_output, write_tree

ROOT = Path(__file__).resolve().parent.parent
STEPS = int(os.environ.get("STATICSHIP_HISTORY_STEPS", "200"))
SEED = os.environ.get("STATICSHIP_HISTORY_SEED")
# Azure is left out by default: its SDK backs off 15 s and more before each
# retry of an injected 503, so a few hundred steps take many minutes.
BACKENDS = os.environ.get("STATICSHIP_HISTORY_BACKENDS", "s3,gcs").split(",")
ORIGINALS = os.environ.get("STATICSHIP_HISTORY_ORIGINALS", "random")
KEEP = 3
LOCATION = "static"
MANIFEST = "staticfiles.json"
RECORDS = ".staticship/"
# Objects beside the location that no run may touch.
OUTSIDE = {
    "static-other/x": b"beside the location",
    "staticfoo": b"a key that shares the prefix",
    "static.css": b"not under static/",
    "other/static/y.css": b"elsewhere",
}
SETTINGS: dict[str, Any] = {"STATICSHIP_PRUNE_KEEP": KEEP, "STATICSHIP_PRUNE_MIN_AGE": 0}
# Two runs at once are kept apart by the age floor (its default): an object a
# run is still publishing is younger than that, so the other run's prune keeps it.
OVERLAP_MIN_AGE = 3600
WRITE_OPS = frozenset({
    "PutObject", "UploadPart", "CreateMultipartUpload", "CompleteMultipartUpload", "CopyObject",
    "DeleteObject", "DeleteObjects", "Upload", "ResumableStart", "Commit", "Delete", "Batch",
    "Copy", "Compose", "Patch", "PutBlock", "PutBlockList",
})


# -- the three stores, as this test reads them -------------------------------

@dataclass
class Object:
    md5: str
    version: str  # changes whenever the object is written again


class Store:
    """One emulator bucket: the manifest storage's settings (in-process and
    for a child), a full listing with MD5s, reads and seeding writes."""

    backend: str
    #: Statuses of permanent write failures. A lasting 503 only on S3: the GCS
    #: and Azure client libraries retry a 503 for minutes (GCS: a 120 s
    #: deadline per call; Azure: 15 s and longer back-offs) before failing.
    permanent_statuses: tuple[int, ...] = (403,)

    def __init__(self, target: Target) -> None:
        self.target = target
        self.control = target.control

    def storages(self) -> dict[str, Any]:
        return self.target.settings(self.backend, LOCATION)

    def child_storages(self) -> dict[str, Any]:
        return self.storages()

    def prefix(self) -> str:
        return self.target.location(LOCATION) + "/"

    def listing(self) -> dict[str, Object]:
        raise NotImplementedError

    def get(self, key: str) -> bytes:
        data: bytes = self.target.get(key)
        return data

    def put(self, key: str, data: bytes) -> None:
        raise NotImplementedError


class S3Store(Store):
    backend = "storages.backends.s3.S3ManifestStaticStorage"
    permanent_statuses = (403, 403, 503)

    def listing(self) -> dict[str, Object]:
        found = {}
        for key, entry in self.target.objects("").items():
            etag = entry["ETag"].strip('"')
            md5 = etag if "-" not in etag else hashlib.md5(self.get(key)).hexdigest()
            found[key] = Object(md5, "%s@%s" % (etag, entry["LastModified"].isoformat()))
        return found

    def put(self, key: str, data: bytes) -> None:
        self.target.client.put_object(Bucket=self.target.bucket, Key=key, Body=data)


class GCSStore(Store):
    backend = "staticship.storages.GoogleCloudManifestStorage"

    def child_storages(self) -> dict[str, Any]:
        storages = self.storages()
        storages["staticfiles"]["OPTIONS"]["credentials"] = "anonymous"  # see settings_history
        return storages

    def listing(self) -> dict[str, Object]:
        found = {}
        for blob in self.target.client.list_blobs(self.target.bucket):
            if blob.md5_hash:
                md5 = base64.b64decode(blob.md5_hash).hex()
            else:
                md5 = hashlib.md5(self.get(blob.name)).hexdigest()
            found[blob.name] = Object(md5, str(blob.generation))
        return found

    def put(self, key: str, data: bytes) -> None:
        self.target.client.bucket(self.target.bucket).blob(key).upload_from_string(data)


class AzureStore(Store):
    backend = "staticship.storages.AzureManifestStorage"

    def listing(self) -> dict[str, Object]:
        found = {}
        for blob in self.target.client.list_blobs():
            stored = blob.content_settings.content_md5
            md5 = bytes(stored).hex() if stored else hashlib.md5(self.get(blob.name)).hexdigest()
            found[blob.name] = Object(md5, str(blob.etag))
        return found

    def put(self, key: str, data: bytes) -> None:
        self.target.client.upload_blob(key, data, overwrite=True)


STORES = {"s3": S3Store, "gcs": GCSStore, "azure": AzureStore}
# Seed 5 leads today's code (before the fixes of issue #11) into a lost
# deployment on S3 (step 34) and GCS (step 76) by deterministic steps: a
# manifest published by a run whose deployment record was then refused.
DEFAULT_SEED = 5


# -- runs ----------------------------------------------------------------------

def newer_than_the_bucket(root: Path) -> None:
    """Move every file under ``root`` one second later, so that its
    modification time falls in a later whole second than any object written
    before the tree was (as with a checkout made after the last deployment).

    Stock collectstatic decides by time, and the checks after a stock step
    hold only if it copies every original. Django's (5.2 and 6.1)
    ``Command.delete_file`` (staticfiles/management/commands/collectstatic.py)
    skips a source whose target's ``get_modified_time()``, cut to the second,
    is not older than the source's. A target original can hold older bytes
    than its source here: a staticship run that withholds the originals
    leaves the original of an earlier, kept deployment in place. Skipped, the
    stale original is then read back: ``HashedFilesMixin._post_process``
    (staticfiles/storage.py) takes the files deepest first, so
    ``css/base/x.css`` meets ``img/y.png`` before it is hashed, and
    ``_stored_name`` hashes it through ``hashed_name(name)``, which opens the
    copy in the *target* storage. The first pass thus renders the sheet as the
    earlier deployment did and saves it under that deployment's hashed name;
    the next pass starts with ``if hashed_file_exists:
    self.delete(hashed_name)`` on that name and saves the sheet under its
    final name: stock deletes a file of a deployment staticship keeps.
    Steps take a fraction of a second, so whether the two times fell in one
    second was chance: with seed 5 on GCS, about one run in three lost step
    93's ``css/base/s119.0502c51685a2.css`` in stock's step 95. With sources
    older than the bucket (a build that sets every mtime to a fixed date),
    stock does that every time: Django's behaviour, which this test does not
    check (under --disable-staticship, staticship hands the run to Django's
    own ``collect()``)."""
    for path in root.rglob("*"):
        if path.is_file():
            stat = path.stat()
            os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


@dataclass
class Run:
    """One collectstatic run of a step: its arguments, tree and outcome."""

    label: str
    args: list[str]
    files: dict[str, bytes]
    output: Output
    outcome: str = "not run"  # "ok", "failed: ...", "killed", "exit N: ..."
    originals: bool = True  # STATICSHIP_PUBLISH_ORIGINALS

    @property
    def collected(self) -> dict[str, str]:
        """What the run publishes: stock's output, without the originals
        the manifest maps to other names when it withholds them."""
        if self.originals:
            return self.output.objects
        paths = self.output.paths
        return {n: md5 for n, md5 in self.output.objects.items() if paths.get(n, n) == n}

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


class Failure(AssertionError):
    pass


@dataclass
class History:
    store: Store
    rng: random.Random
    seed: int
    workdir: Path
    app: App = field(init=False)
    # Draws STATICSHIP_PUBLISH_ORIGINALS (ORIGINALS = "random"), apart from ``rng``.
    originals_rng: random.Random = field(init=False)
    outputs: dict[str, Output] = field(default_factory=dict)  # tree digest -> output
    by_manifest: dict[str, Output] = field(default_factory=dict)  # manifest MD5 -> output
    hashed_md5: dict[str, str] = field(default_factory=dict)  # every hashed name ever produced
    published: list[str] = field(default_factory=list)  # manifest MD5s, oldest first, distinct
    published_at: dict[str, int] = field(default_factory=dict)  # manifest MD5 -> step
    lines: list[str] = field(default_factory=list)
    step: int = 0
    requests_per_run: int = 20
    trees: int = 0

    def __post_init__(self) -> None:
        self.app = App.generate(self.rng)
        self.originals_rng = random.Random(self.seed * 7919 + 1)

    # -- reporting -----------------------------------------------------------
    def fail(self, message: str) -> Failure:
        shown = self.lines if len(self.lines) <= 400 else ["..."] + self.lines[-400:]
        return Failure(
            "%s backend, seed %d, step %d: %s\nReproduce: STATICSHIP_HISTORY_SEED=%d "
            "STATICSHIP_HISTORY_STEPS=%d pytest tests/test_history.py -k %s\nSteps:\n%s"
            % (type(self.store).__name__, self.seed, self.step, message, self.seed, self.step + 1,
               type(self.store).__name__[:-5].lower(), "\n".join(shown)))

    # -- the trees and what stock publishes for them ----------------------
    def next_tree(self, edits: int) -> tuple[dict[str, bytes], list[str]]:
        done = [self.app.edit() for _ in range(edits)]
        return self.app.files(), done

    def output_of(self, files: dict[str, bytes]) -> Output:
        key = digest(files)
        if key not in self.outputs:
            output = stock_output(files, MANIFEST)
            for name, md5 in output.hashed().items():
                if self.hashed_md5.setdefault(name, md5) != md5:
                    raise self.fail("the model broke: stock gave %s two contents" % name)
            self.outputs[key] = output
            self.by_manifest[output.manifest_md5] = output
        return self.outputs[key]

    def source_dir(self, files: dict[str, bytes], stock: bool = False) -> Path:
        self.trees += 1
        root = self.workdir / ("src-%d" % self.trees)
        write_tree(root, files)
        if stock:
            newer_than_the_bucket(root)
        return root

    def run_for(self, label: str, args: list[str], edits: int) -> Run:
        files, done = self.next_tree(edits)
        run = Run(label, args, files, self.output_of(files))
        if done:
            run.label += " after " + "; ".join(done)
        draw = self.originals_rng.random() < 0.5
        if "--disable-staticship" not in args and (ORIGINALS == "off" or (
                ORIGINALS == "random" and draw)):
            run.originals = False
            run.label += " (originals withheld)"
        return run

    # -- running collectstatic -----------------------------------------------
    def settings(self, src: Path, **extra: Any) -> dict[str, Any]:
        return {"STATICFILES_DIRS": [str(src)], **SETTINGS, **extra}

    def run_here(self, run: Run, **extra: Any) -> None:
        src = self.source_dir(run.files, stock="--disable-staticship" in run.args)
        try:
            collectstatic(*run.args, storages=self.store.storages(), **self.settings(
                src, STATICSHIP_PUBLISH_ORIGINALS=run.originals, **extra))
        except CommandError as exc:
            run.outcome = "failed: %s" % str(exc).splitlines()[0][:160]
        except Exception as exc:  # a traceback is a finding
            run.outcome = "raised"
            raise self.fail("%s raised %s (a traceback, not one clear line):\n%s" % (
                run.label, type(exc).__name__, traceback.format_exc()[-3000:])) from exc
        else:
            run.outcome = "ok"

    def start_child(self, run: Run, **extra: Any) -> subprocess.Popen[bytes]:
        src = self.source_dir(run.files)
        env = dict(os.environ)
        settings = {**self.settings(src, STATICSHIP_PUBLISH_ORIGINALS=run.originals, **extra),
                    "STORAGES": self.store.child_storages()}
        env["STATICSHIP_TEST_DJANGO"] = json.dumps(settings)
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT), env.get("PYTHONPATH", "")])
        return subprocess.Popen(
            [sys.executable, "-m", "django", "collectstatic", "--noinput",
             "--settings=tests.settings_history", *run.args],
            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )

    def finish_child(self, run: Run, child: subprocess.Popen[bytes]) -> None:
        _out, err = child.communicate(timeout=300)
        text = err.decode(errors="replace")
        if child.returncode == 0:
            run.outcome = "ok"
        elif child.returncode == -9:
            run.outcome = "killed"
        elif "Traceback" in text:
            run.outcome = "raised"
            raise self.fail("%s (child) died with a traceback:\n%s" % (run.label, text[-3000:]))
        else:
            run.outcome = "exit %d: %s" % (child.returncode, text.strip()[:160])

    def requests(self) -> int:
        return len(self.store.control.requests())

    def wait_for_requests(self, count: int, child: subprocess.Popen[bytes]) -> None:
        """Until the proxy has logged ``count`` requests, or the child ended."""
        deadline = time.monotonic() + 120
        while child.poll() is None and time.monotonic() < deadline:
            if self.requests() >= count:
                return
            time.sleep(0.01)

    def quiesce(self) -> None:
        """Let requests still on the wire land (the proxy logs each on completion)."""
        seen, still = -1, 0
        while still < 3:
            now = self.requests()
            still = still + 1 if now == seen else 0
            seen = now
            time.sleep(0.05)

    # -- steps -----------------------------------------------------------------
    def prune_args(self, chance: float) -> list[str]:
        return ["--prune"] if self.rng.random() < chance else []

    def point(self) -> int:
        """A random point in a run: 0 to the requests a recent run made. One draw
        whatever that count (it may vary), so the seed keeps choosing the same
        history."""
        return int(self.rng.random() * (self.requests_per_run + 1))

    def edits(self) -> int:
        return self.rng.choice((0, 1, 1, 1, 2, 2, 3))

    def step_deploy(self) -> list[Run]:
        run = self.run_for("deploy", [], self.edits())
        self.run_here(run)
        return [run]

    def step_prune(self) -> list[Run]:
        run = self.run_for("deploy --prune", ["--prune"], self.edits())
        self.run_here(run)
        return [run]

    def step_stock(self) -> list[Run]:
        """A deployment by Django's own collectstatic (a team going back to stock
        for a release, or deploying with it before switching): staticship keeps
        no record of it, and a later --prune must still keep its files. Its
        sources are newer than every object in the bucket (see
        ``newer_than_the_bucket``)."""
        run = self.run_for("stock collectstatic (--disable-staticship)", ["--disable-staticship"],
                           self.edits())
        self.run_here(run)
        return [run]

    def step_clear(self) -> list[Run]:
        run = self.run_for("deploy --clear", ["--clear"], self.edits())
        self.run_here(run)
        return [run]

    def step_transient(self) -> list[Run]:
        rate, seed = self.rng.choice((0.05, 0.1, 0.2)), self.rng.randrange(10**6)
        args = self.prune_args(0.5)
        run = self.run_for("deploy %s under %d%% transient faults (seed %d)" % (
            " ".join(args), rate * 100, seed), args, self.edits())
        self.store.control.faults(transient_rate=rate, seed=seed)
        self.run_here(run, STATICSHIP_MAX_ATTEMPTS=10)
        return [run]

    def step_permanent(self) -> list[Run]:
        after = self.point()
        status = self.rng.choice(self.store.permanent_statuses)
        args = self.prune_args(0.5)
        run = self.run_for("deploy %s with every write after the first %d failing %d" % (
            " ".join(args), after, status), args, self.edits())
        self.store.control.faults(fail_writes_after=after, fail_status=status)
        self.run_here(run, STATICSHIP_MAX_ATTEMPTS=2)
        return [run]

    def step_kill(self) -> list[Run]:
        at = 1 + self.point()
        args = self.prune_args(0.5)
        run = self.run_for("child deploy %s SIGKILLed after %d requests" % (" ".join(args), at),
                           args, self.edits())
        child = self.start_child(run)
        self.wait_for_requests(at, child)
        child.kill()
        self.finish_child(run, child)
        self.quiesce()
        return [run]

    def step_overlap(self) -> list[Run]:
        at = 1 + self.point()
        first_args = self.prune_args(0.3)
        first = self.run_for("overlap A: child deploy %s" % " ".join(first_args), first_args,
                             max(1, self.edits()))
        second_args = self.prune_args(0.7)
        in_child = self.rng.random() < 0.4
        second = self.run_for("overlap B (%s, from A's request %d): deploy %s" % (
            "child" if in_child else "in-process", at, " ".join(second_args)),
            second_args, max(1, self.edits()))
        # What is promised for runs at the same time rests on the age floor
        # (README, "What is guaranteed"): overlapping runs keep its default.
        floor = {"STATICSHIP_PRUNE_MIN_AGE": OVERLAP_MIN_AGE}
        child = self.start_child(first, **floor)
        self.wait_for_requests(at, child)
        if in_child:
            other = self.start_child(second, **floor)
            self.finish_child(second, other)
        else:
            self.run_here(second, **floor)
        self.finish_child(first, child)
        self.quiesce()
        return [first, second]

    # -- the model and the checks ----------------------------------------------
    def live_manifest(self, listing: dict[str, Object]) -> Output | None:
        key = self.store.prefix() + MANIFEST
        if key not in listing:
            return None
        output = self.by_manifest.get(listing[key].md5)
        if output is None:
            data = self.store.get(key)
            raise self.fail("the live manifest is none that stock gives any tree deployed: %r"
                            % data[:300])
        return output

    def publish(self, md5: str) -> None:
        if md5 in self.published:
            if md5 == self.published[-1]:
                return
            self.published.remove(md5)
        self.published.append(md5)
        self.published_at[md5] = self.step

    def check_outside(self, listing: dict[str, Object], seeded: dict[str, Object]) -> None:
        outside = {k: v for k, v in listing.items() if not k.startswith(self.store.prefix())}
        if outside != seeded:
            changed = sorted(k for k in set(outside) | set(seeded) if outside.get(k) != seeded.get(k))
            raise self.fail("objects outside the location were touched: %s" % changed)

    def check_complete(self, output: Output, listing: dict[str, Object], what: str) -> None:
        prefix = self.store.prefix()
        missing, wrong = [], []
        for name, md5 in sorted(output.hashed().items()):
            found = listing.get(prefix + name)
            if found is None:
                missing.append(name)
            elif found.md5 != md5:
                wrong.append(name)
        if missing or wrong:
            raise self.fail("%s is incomplete: missing %s, other bytes in %s\n%s" % (
                what, missing, wrong, self.evidence(listing)))

    def evidence(self, listing: dict[str, Object]) -> str:
        """staticship's records as the bucket holds them, for the failure message."""
        prefix = self.store.prefix()
        records = sorted(k[len(prefix):] for k in listing if k.startswith(prefix + RECORDS))
        state = prefix + RECORDS + "state.json"
        deployments: Any = "no state record"
        if state in listing:
            try:
                deployments = json.loads(self.store.get(state)).get("sections", {}).get("deployments")
            except ValueError:
                deployments = "unreadable state record"
        ids = {self.published_at[m]: m for m in self.published[-KEEP - 2:]}
        return "Records in the bucket: %s; deployments in the state record: %s; published " \
               "manifests (step: MD5): %s" % (records, deployments, ids)

    def check_clear(self, run: Run, listing: dict[str, Object]) -> None:
        prefix = self.store.prefix()
        held = {k[len(prefix):]: v.md5 for k, v in listing.items()
                if k.startswith(prefix) and not k[len(prefix):].startswith(RECORDS)}
        if held != run.collected:
            extra = sorted(set(held) - set(run.collected))
            missing = sorted(set(run.collected) - set(held))
            other = sorted(n for n in set(held) & set(run.collected)
                           if held[n] != run.collected[n])
            raise self.fail("after --clear the location does not hold exactly what was "
                            "collected: extra %s, missing %s, other bytes %s" % (extra, missing, other))

    def check(self, runs: list[Run], seeded: dict[str, Object]) -> None:
        listing = self.store.listing()
        self.check_outside(listing, seeded)
        live = self.live_manifest(listing)
        # What became published in this step: runs that succeeded, then the live one.
        for run in runs:
            if run.ok and (live is None or run.output.manifest_md5 != live.manifest_md5):
                self.publish(run.output.manifest_md5)
        if live is not None:
            self.publish(live.manifest_md5)
        clearing = any("--clear" in run.args for run in runs)
        if clearing and live is not None:
            self.published = [live.manifest_md5]
        if self.published and live is None:
            raise self.fail("the live manifest %s is gone" % MANIFEST)
        if live is None:
            return
        self.lines[-1] += "  [live: step %d's]" % self.published_at[live.manifest_md5]
        self.check_complete(live, listing, "the live manifest")
        if len(runs) == 1 and runs[0].ok and live.manifest_md5 != runs[0].output.manifest_md5:
            raise self.fail("the run succeeded but its manifest is not the live one")
        if len(runs) == 1 and runs[0].ok and clearing:
            self.check_clear(runs[0], listing)
        if not clearing:
            recent = self.published[-KEEP:]
            for age, md5 in enumerate(reversed(recent)):
                self.check_complete(self.by_manifest[md5], listing,
                                    "published manifest %d of the last %d (0 = live; this one "
                                    "was published at step %d)" % (age, KEEP, self.published_at[md5]))

    def take(self, name: str, action: Callable[[], list[Run]], seeded: dict[str, Object]) -> None:
        self.store.control.reset()
        started = time.monotonic()
        runs = action()
        for tree in self.workdir.glob("src-*"):  # every run of the step has ended
            shutil.rmtree(tree, ignore_errors=True)
        requests = self.store.control.requests()
        self.store.control.reset()  # faults off before the checks read the bucket
        self.lines.append("%4d %s (%.1fs): %s" % (
            self.step, name, time.monotonic() - started, " | ".join("%s -> %s" % (r.label, r.outcome) for r in runs)))
        if name in ("deploy", "prune") and runs[0].ok:
            self.requests_per_run = max(4, len(requests))
        if name == "transient" and not runs[0].ok:
            raise self.fail("a run under transient faults only failed: %s" % runs[0].outcome)
        self.check(runs, seeded)
        print(self.lines[-1])  # progress, with -s


WEIGHTS = {
    "deploy": 27, "prune": 30, "stock": 4, "clear": 3, "transient": 12, "permanent": 16, "kill": 4, "overlap": 3,
}


@pytest.fixture
def shared_botocore_models(monkeypatch: pytest.MonkeyPatch) -> None:
    """One cache of botocore's parsed JSON models for every boto3 session of the
    test (each in-process run builds new storages, each a new session that
    would parse the S3 model again: most of a small run's time). Only the
    parsing is shared; every request still goes to the emulator."""
    from botocore import loaders

    shared: dict[Any, Any] = {}
    real_init = loaders.Loader.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        real_init(self, *args, **kwargs)
        self._cache = shared

    monkeypatch.setattr(loaders.Loader, "__init__", init)


@pytest.mark.parametrize("backend", BACKENDS)
def test_deployment_history(backend: str, request: pytest.FixtureRequest, tmp_path: Path,
                            shared_botocore_models: None) -> None:
    target: Target = request.getfixturevalue(backend)
    if target.live:
        pytest.skip("fault injection and kills need the test bed")
    store = STORES[backend](target)
    seed = int(SEED) if SEED else DEFAULT_SEED
    history = History(store, random.Random(seed), seed, tmp_path)
    for key, data in OUTSIDE.items():
        store.put(key, data)
    seeded = store.listing()
    assert sorted(seeded) == sorted(OUTSIDE)
    names, weights = list(WEIGHTS), list(WEIGHTS.values())
    # The first deployment, then the random history.
    history.take("deploy", history.step_deploy, seeded)
    for step in range(1, STEPS):
        history.step = step
        kind = history.rng.choices(names, weights)[0]
        history.take(kind, getattr(history, "step_" + kind), seeded)
