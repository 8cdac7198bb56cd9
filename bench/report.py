"""Turn a results dict from bench.run into docs/benchmarks.md and a chart.

Every number and every MET/MISSED in the Markdown is computed here from the
recorded runs; nothing is typed in by hand.
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path

STORAGE_LABEL = {
    "s3": "S3Storage",
    "s3manifest": "S3ManifestStaticStorage",
    "gcs": "GoogleCloudStorage",
    "azure": "AzureStorage",
}
STORAGE_ORDER = tuple(STORAGE_LABEL)
SCENARIOS = ("cold", "warm", "changed", "cssedit", "bucket50k", "headers")
SCENARIO_LABEL = {
    "cold": "cold: empty bucket",
    "warm": "warm: nothing changed, every mtime touched",
    "changed": "1% of the files changed (mtimes touched)",
    "cssedit": "one stylesheet that references others edited (mtimes touched)",
    "bucket50k": "warm, bucket already holds 50,000 older objects",
    "headers": "cache setting changed: same files, a new CacheControl",
}
VARIANT_ORDER = ("stock", "collectfasta", "staticship", "staticship-plain")
VARIANT_LABEL = {"stock": "stock Django", "collectfasta": "Collectfasta", "staticship": "staticship",
                 "staticship-plain": "staticship, no obstore", "floor": "floor"}
PLAIN = "staticship-plain"
KIND_ORDER = ("LIST", "HEAD", "GET", "PUT", "POST", "DELETE")


HEADERS_NOTE = (
    "Cache setting changed: the bucket holds every file as that tool left it, then the storage's object parameters "
    "gain a CacheControl (`public, max-age=600`) and the tool runs again; no file changed. Stock Django uploads every "
    "file again (every mtime is newer). Collectfasta compares content only: it uploads what a warm run uploads (here "
    "the files above the multipart threshold, whose ETags it does not match) and leaves every other object with its "
    "old headers (the bucket check counts them), so its time is not a like-for-like comparison. staticship sees that "
    "the write parameters differ and updates each object in place with one CopyObject (no body sent; counted among "
    "the uploads, with the state record); the bucket check reads every object's Cache-Control back."
)


# ---------------------------------------------------------------------------
# Reading the results


class Results:
    def __init__(self, res: dict):
        self.res = res
        self.meta = res["meta"]
        self.workloads = res["workloads"]
        self.manifest_pending = res.get("manifest_pending")
        self.cells = res["cells"]

    def cell(self, workload: str, storage: str, scenario: str, variant: str) -> dict | None:
        for c in self.cells:
            if (c["workload"], c["storage"], c["scenario"], c["variant"]) == (workload, storage, scenario, variant):
                return c
        return None

    @staticmethod
    def ok_runs(c: dict | None) -> list[dict]:
        return [r for r in (c or {}).get("runs", []) if r["rc"] == 0]

    def wall(self, c: dict | None) -> float | None:
        ok = self.ok_runs(c)
        return statistics.median(r["wall"] for r in ok) if ok else None

    def median_run(self, c: dict | None) -> dict | None:
        ok = sorted(self.ok_runs(c), key=lambda r: r["wall"])
        return ok[(len(ok) - 1) // 2] if ok else None

    def requests(self, c: dict | None) -> int | None:
        r = self.median_run(c)
        return r["total"] if r else None

    def workload_by_files(self, n: int) -> str | None:
        for name, w in self.workloads.items():
            if name.startswith("generated-") and w["files"] == n:
                return name
        return None

    def pending(self, storage: str) -> bool:
        return storage == "s3manifest" and bool(self.manifest_pending)


def fmt_s(x: float | None) -> str:
    if x is None:
        return "–"
    if x >= 100:
        return f"{x:.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def fmt_ratio(x: float | None) -> str:
    if x is None:
        return "–"
    return f"{x:.1f}×" if x >= 10 else f"{x:.2f}×"


def kinds(run: dict | None) -> str:
    if not run:
        return "–"
    bk = run["by_kind"]
    parts = [f"{k} {bk[k]}" for k in KIND_ORDER if bk.get(k)]
    parts += [f"{k} {v}" for k, v in sorted(bk.items()) if k not in KIND_ORDER and v]
    return ", ".join(parts) or "none"


# ---------------------------------------------------------------------------
# Targets


def targets(R: Results) -> list[dict]:
    """Each target: text, cell, measured, verdict (MET / MISSED / PENDING / NOT RUN)."""
    out = []
    at20 = abs(R.meta["latency_ms"] - 20.0) < 1e-9

    def add(text, measured, ok, pending=False, missing=False):
        if pending:
            verdict = "PENDING"
        elif missing or ok is None:
            verdict = "NOT RUN"
        else:
            verdict = "MET" if ok else "MISSED"
        out.append({"target": text, "measured": measured, "verdict": verdict})

    for n in (1000, 10000):
        name = R.workload_by_files(n)
        label = f"{n // 1000}k files"
        if name is None:
            for t in (
                "cold: staticship ≥ 10× faster than Collectfasta",
                "cold: staticship ≥ 30× faster than stock Django",
                "warm: within 1.3× of the floor",
                "1% changed: requests = changed files + at most 3",
                "50k-object bucket, warm: requests ≤ ceil(objects/1000) + 3",
                "50k-object bucket, warm: faster than Collectfasta",
            ):
                add(f"S3Storage, {label}, {t}", "workload not run", None, missing=True)
            continue
        ss = lambda sc: R.cell(name, "s3", sc, "staticship")  # noqa: E731
        floor = R.wall(R.cell(name, "s3", "floor", "floor"))
        ss_cold = R.wall(ss("cold"))
        for other, factor in (("collectfasta", 10), ("stock", 30)):
            o = R.wall(R.cell(name, "s3", "cold", other))
            ok = None if (o is None or ss_cold is None) else o / ss_cold >= factor
            meas = "–" if ok is None else f"{fmt_s(ss_cold)} s vs {fmt_s(o)} s = {fmt_ratio(o / ss_cold)} faster"
            add(f"S3Storage, {label}, cold: staticship ≥ {factor}× faster than {VARIANT_LABEL[other]}", meas, ok)
        ss_warm = R.wall(ss("warm"))
        ok = None if (ss_warm is None or floor is None) else ss_warm <= 1.3 * floor
        meas = "–" if ok is None else f"{fmt_s(ss_warm)} s vs floor {fmt_s(floor)} s = {ss_warm / floor:.2f}×"
        add(f"S3Storage, {label}, warm: within 1.3× of the floor", meas, ok)
        if n == 1000:
            req = R.requests(ss("warm"))
            add(f"S3Storage, {label}, warm: ≤ 3 requests", "–" if req is None else f"{req} requests", None if req is None else req <= 3)
        c = ss("changed")
        req = R.requests(c)
        k = (c or {}).get("changed_files", 0)
        ok = None if req is None else k <= req <= k + 3
        mr = R.median_run(c)
        lists = mr["by_kind"].get("LIST", 0) if mr else 0
        add(
            f"S3Storage, {label}, 1% changed: requests = changed files + at most 3",
            "–" if req is None else f"{req} requests for {k} changed files, incl. {lists} LIST",
            ok,
        )
        c = ss("bucket50k")
        req = R.requests(c)
        objs = (c or {}).get("objects_before", 0)
        limit = math.ceil(objs / 1000) + 3 if objs else None
        ok = None if (req is None or not objs) else req <= limit
        add(
            f"S3Storage, {label}, 50k-object bucket, warm: requests ≤ ceil(objects/1000) + 3",
            "–" if req is None else f"{req} requests; {objs} objects → limit {limit}",
            ok,
        )
        w_ss = R.wall(c)
        w_cf = R.wall(R.cell(name, "s3", "bucket50k", "collectfasta"))
        ok = None if (w_ss is None or w_cf is None) else w_ss < w_cf
        add(
            f"S3Storage, {label}, 50k-object bucket, warm: faster than Collectfasta",
            "–" if ok is None else f"{fmt_s(w_ss)} s vs {fmt_s(w_cf)} s",
            ok,
        )

    out_plain = plain_targets(R)
    for t in out_plain:
        add(*t)

    for n in (1000, 10000):
        name = R.workload_by_files(n)
        label = f"{n // 1000}k files"
        for sc, factor in (("warm", 3), ("cold", 8)):
            text = f"S3ManifestStaticStorage, {label}, {sc}: staticship ≥ {factor}× faster than Collectfasta"
            if R.pending("s3manifest"):
                add(text, "staticship falls back to stock collectstatic for manifest storages", None, pending=True)
                continue
            if name is None:
                add(text, "workload not run", None, missing=True)
                continue
            s = R.wall(R.cell(name, "s3manifest", sc, "staticship"))
            o = R.wall(R.cell(name, "s3manifest", sc, "collectfasta"))
            ok = None if (s is None or o is None) else o / s >= factor
            add(text, "–" if ok is None else f"{fmt_s(s)} s vs {fmt_s(o)} s = {fmt_ratio(o / s)} faster", ok)

    manifest_edit_targets(R, add)

    # GCS and Azure (#5): the same behaviour as S3 on 1,000 files.
    name = R.workload_by_files(1000)
    for storage in ("gcs", "azure"):
        if name is None or not any(c["storage"] == storage for c in R.cells):
            continue
        label = f"{STORAGE_LABEL[storage]}, 1k files"
        ss = lambda sc: R.cell(name, storage, sc, "staticship")  # noqa: E731
        for sc in ("cold", "warm", "changed"):
            s_w = R.wall(ss(sc))
            others = [(v, R.wall(R.cell(name, storage, sc, v))) for v in ("collectfasta", "stock")]
            others = [(v, w) for v, w in others if w is not None]
            ok = None if (s_w is None or not others) else all(s_w < w for _, w in others)
            meas = "–" if ok is None else f"{fmt_s(s_w)} s vs " + ", ".join(
                f"{VARIANT_LABEL[v]} {fmt_s(w)} s ({fmt_ratio(w / s_w)})" for v, w in others)
            add(f"{label}, {sc.replace('changed', '1% changed')}: staticship faster than "
                + " and ".join(VARIANT_LABEL[v] for v, _ in others or [("collectfasta", 0)]), meas, ok)
        floor = R.wall(R.cell(name, storage, "floor", "floor"))
        ss_warm = R.wall(ss("warm"))
        ok = None if (ss_warm is None or floor is None) else ss_warm <= 1.3 * floor
        meas = "–" if ok is None else f"{fmt_s(ss_warm)} s vs floor {fmt_s(floor)} s = {ss_warm / floor:.2f}×"
        add(f"{label}, warm: within 1.3× of the floor", meas, ok)
        req = R.requests(ss("warm"))
        add(f"{label}, warm: ≤ 3 requests", "–" if req is None else f"{req} requests", None if req is None else req <= 3)
        c = ss("changed")
        req = R.requests(c)
        k = (c or {}).get("changed_files", 0)
        add(
            f"{label}, 1% changed: requests = changed files + at most 3",
            "–" if req is None else f"{req} requests for {k} changed files",
            None if req is None else k <= req <= k + 3,
        )

    if not at20:
        for t in out:
            if t["verdict"] in ("MET", "MISSED"):
                t["verdict"] += f" (at {R.meta['latency_ms']:g} ms, targets are set for 20 ms)"
    return out


def manifest_edit_targets(R: Results, add) -> None:
    """Issue #17: a small change on a manifest storage costs about what it
    costs a plain storage, and about a no-change run."""
    name = R.workload_by_files(10000)
    label = "S3ManifestStaticStorage, 10k files, 1% changed"
    if name is None:
        add(f"{label}: ≤ 1.5× staticship's S3Storage time for the same change", "workload not run", None, missing=True)
    else:
        m = R.wall(R.cell(name, "s3manifest", "changed", "staticship"))
        p = R.wall(R.cell(name, "s3", "changed", "staticship"))
        cf = R.wall(R.cell(name, "s3manifest", "changed", "collectfasta"))
        ok = None if (m is None or p is None) else m <= 1.5 * p
        add(f"{label}: ≤ 1.5× staticship's S3Storage time for the same change",
            "–" if ok is None else f"{fmt_s(m)} s vs {fmt_s(p)} s = {m / p:.2f}×", ok)
        ok = None if (m is None or cf is None) else cf / m >= 8
        add(f"{label}: staticship ≥ 8× faster than Collectfasta",
            "–" if ok is None else f"{fmt_s(m)} s vs {fmt_s(cf)} s = {fmt_ratio(cf / m)} faster", ok)
    real = next((n for n in R.workloads if n.startswith("real")), None)
    text = "S3ManifestStaticStorage, real workload, one stylesheet edited: ≤ 1.3× a no-change run"
    if real is None:
        add(text, "workload not run", None, missing=True)
        return
    e = R.wall(R.cell(real, "s3manifest", "cssedit", "staticship"))
    w = R.wall(R.cell(real, "s3manifest", "warm", "staticship"))
    ok = None if (e is None or w is None) else e <= 1.3 * w
    add(text, "–" if ok is None else f"{fmt_s(e)} s vs {fmt_s(w)} s = {e / w:.2f}×", ok)


def plain_targets(R: Results) -> list[tuple]:
    """Issue #13: staticship without obstore (a second virtualenv), S3Storage,
    1k files: cold ≥ 4× faster than Collectfasta, warm within 1.3× of the floor."""
    name = R.workload_by_files(1000)
    label = "S3Storage, 1k files, obstore not installed"
    cold_text = f"{label}, cold: staticship ≥ 4× faster than Collectfasta"
    warm_text = f"{label}, warm: within 1.3× of the floor"
    if name is None or not any(c["variant"] == PLAIN for c in R.cells):
        return [(cold_text, "not run", None, False, True), (warm_text, "not run", None, False, True)]
    cold = R.wall(R.cell(name, "s3", "cold", PLAIN))
    cf = R.wall(R.cell(name, "s3", "cold", "collectfasta"))
    ok = None if (cold is None or cf is None) else cf / cold >= 4
    meas = "–" if ok is None else f"{fmt_s(cold)} s vs {fmt_s(cf)} s = {fmt_ratio(cf / cold)} faster"
    warm = R.wall(R.cell(name, "s3", "warm", PLAIN))
    floor = R.wall(R.cell(name, "s3", "floor", "floor"))
    ok_w = None if (warm is None or floor is None) else warm <= 1.3 * floor
    meas_w = "–" if ok_w is None else f"{fmt_s(warm)} s vs floor {fmt_s(floor)} s = {warm / floor:.2f}×"
    return [(cold_text, meas, ok), (warm_text, meas_w, ok_w)]


# ---------------------------------------------------------------------------
# Markdown


def write(res: dict, md_path: Path, png_path: Path) -> None:
    R = Results(res)
    chart_ok = False
    try:
        chart(R, png_path)
        chart_ok = True
    except Exception as exc:  # matplotlib missing: keep the table
        print(f"chart not written: {exc!r}")
    md_path.write_text(markdown(R, png_path.name if chart_ok else None))


def markdown(R: Results, png_name: str | None) -> str:
    m = R.meta
    v = m["versions"]
    L = []
    L.append("# Benchmarks" + (" (quick run)" if m["mode"] == "quick" else ""))
    L.append("")
    L.append("<!-- Generated by `python -m bench.run` (bench/report.py). Do not edit by hand. -->")
    L.append("")
    L.append(
        "How long `manage.py collectstatic --noinput` takes, and how many requests it sends to the object store (S3, "
        "Google Cloud Storage, Azure Blob), with Django's stock command, [Collectfasta](https://github.com/jasongi/collectfasta) "
        "and staticship."
    )
    L.append("")
    L.append("## Setup")
    L.append("")
    servers = m.get("servers") or {"s3": m["server"]}
    for kind, text in servers.items():
        extra = {
            "s3": "Not moto: moto serves about 150 requests/s on this machine, which would time moto.",
            "gcs": "The emulator and the proxy (Python threads) cost CPU on the same two cores as the run: GCS rows are "
                   "slower than S3 rows for every tool, and compare the tools with each other, not with S3. "
                   "google-cloud-storage fetches the bucket's metadata once, in a background thread, the first time it "
                   "lists: that is the one GET in staticship's GCS rows.",
            "azure": "Azurite runs on one Node.js thread, and the proxy on the same two cores: Azure rows compare the "
                     "tools with each other, not with S3.",
        }.get(kind, "")
        L.append(f"- **{ {'s3': 'S3', 'gcs': 'GCS', 'azure': 'Azure'}.get(kind, kind)} server:** {text}. {extra}".rstrip())
    L.append(f"- **Latency:** {m['latency_ms']:g} ms per request, non-blocking (concurrent requests overlap).")
    L.append(f"- **Machine:** {m['cpus']} CPUs ({m['cpu_model'] or 'unknown model'}), {m['mem_gb']} GB RAM, {m['platform']}; Python {m['python']}.")
    vers = ", ".join(f"{k} {val}" for k, val in v.items() if val)
    L.append(f"- **Versions:** {vers}.")
    commit = m.get("staticship_commit")
    if commit:
        L.append(f"- **staticship source:** commit {commit}" + (" plus uncommitted changes in src/" if m.get("staticship_src_dirty") else "") + ".")
    load = m.get("load_at_start")
    if load:
        L.append(
            f"- **Other load:** 1-minute load average {load[0]:.2f} when the run started, at most "
            f"{m.get('load_max_before_run') or 0:.2f} just before a measured run (2 CPUs: above ~1 means something else was running)."
        )
    L.append(f"- **Run:** {m['mode']} mode, started {m['started']}, took {m['duration_s'] / 60:.1f} minutes; workload seed {m['seed']}.")
    L.append("")
    L.append("Every measured run is a separate `manage.py collectstatic --noinput` process (wall time of the whole process). The variants:")
    L.append("")
    L.append("- **stock Django:** `django.contrib.staticfiles` alone.")
    L.append(
        "- **Collectfasta:** `collectfasta` first in INSTALLED_APPS, `COLLECTFASTA_THREADS = 20`, the strategy its README gives per storage "
        "(`Boto3Strategy` for S3Storage, `Boto3ManifestMemoryStrategy`, the one marked recommended, for S3ManifestStaticStorage, "
        "`GoogleCloudStrategy` and `AzureBlobStrategy` for the other two), and a "
        "dedicated LocMemCache with `MAX_ENTRIES = 1,000,000`, empty at the start of every process as any cache is on an ephemeral CI "
        "runner. A warm or shared cache would save no request here: `Boto3Strategy` lists the bucket on every run and answers from "
        "that listing. LocMemCache is the cheapest choice (Django's takes a lock, so threads are safe despite the README's warning); "
        "a FileBasedCache costs far more, because Django globs the cache folder on every `set()` (a warm 10k-file run took 110 s "
        "with it in a trial run of this harness). On GCS and Azure its strategies ask for each file's metadata (one request a "
        "file) and keep the answer in that cache, which is empty on a CI runner."
    )
    L.append("- **staticship:** `staticship` before `django.contrib.staticfiles`, no other setting.")
    if any(c["variant"] == PLAIN for c in R.cells):
        L.append(
            "- **staticship, no obstore:** the same settings, run by the Python of a second virtualenv installed like the "
            "first and then `pip uninstall obstore` (as a plain `pip install` that lost it): the listing and the uploads go "
            "as plain HTTP requests signed by botocore, and the two multipart files through one boto3 client shared by "
            "the workers. S3Storage, 1,000 files, cold and warm only."
        )
    L.append(
        "- **bytecode:** staticship is installed editable and every run starts with PYTHONDONTWRITEBYTECODE=1, so "
        "the bench byte-compiles staticship's sources and the bench project once before the runs, as pip compiles an "
        "installed package (stock's and Collectfasta's modules load from the bytecode pip wrote)."
    )
    L.append(
        "- **floor:** the same Django project doing nothing remote. For S3Storage, GoogleCloudStorage and AzureStorage, a "
        "management command that starts Django, builds the storage, runs the staticfiles finders and reads and MD5-hashes every file (what any tool that compares content must do). For "
        "S3ManifestStaticStorage, stock collectstatic into an in-memory manifest storage (find, copy, hash names, rewrite CSS). "
    )
    L.append("")
    locations = m.get("locations") or {}
    L.append(
        "Storage settings are the same for all tools. S3: bucket `bench`, `location = \"static\"`, path-style addressing, boto3's "
        "defaults otherwise. GCS: bucket `bench`, anonymous credentials (the emulator takes any caller), no location. Azure: "
        "container `bench`, Azurite's well-known account, no location."
    )
    if any(locations.get(s) == "" for s in ("gcs", "azure")):
        L.append("")
        L.append(
            "Why no location on GCS and Azure: Collectfasta's `GoogleCloudStrategy` and `AzureBlobStrategy` look each object up "
            "by its name without the storage's location, so with `location = \"static\"` they find nothing and upload every "
            "file on every run (seen in a trial of this harness: a warm run re-uploaded 1,000 of 1,000 files). Without a "
            "location they work, so the rows compare against Collectfasta at its best."
        )
    L.append("")
    L.append("Scenarios:")
    L.append("")
    L.append("- **cold:** empty bucket.")
    L.append("- **warm:** the bucket holds what the same tool uploaded; no file changed, but every source file has a new mtime, as after a fresh CI checkout.")
    L.append("- **1% changed:** as warm, and 1% of the files (chosen from a seed; never the files above 8 MB) have new content.")
    L.append("- **one stylesheet edited:** as warm, and the stylesheet with the most `url()`/`@import` references has one comment appended (S3ManifestStaticStorage on the real apps' files: a developer's usual deploy).")
    L.append(
        f"- **50k bucket:** as warm, and the bucket also holds {m['old_objects']:,} older objects under the same location, from older deployments."
    )
    L.append("")
    L.append("Workloads:")
    L.append("")
    for name, w in R.workloads.items():
        desc = (
            "generated from the seed: apps with images, fonts, JS and CSS that references images and fonts with `url()`, 200 B to 1 MB"
            if name.startswith("generated-")
            else "the static files of the installed apps named, copied into one tree so they can be touched and changed"
        )
        L.append(f"- **{name}:** {w['files']:,} files, {w['bytes'] / 1e6:.1f} MB, {w['big_files']} above the 8 MB multipart threshold; {desc}.")
    L.append("")

    L.append("## Targets")
    L.append("")
    L.append("Computed from the numbers below by bench/report.py.")
    L.append("")
    L.append("| target | measured | verdict |")
    L.append("|---|---|---|")
    for t in targets(R):
        verdict = f"**{t['verdict']}**" if t["verdict"].startswith(("MET", "MISSED")) else t["verdict"]
        L.append(f"| {t['target']} | {t['measured']} | {verdict} |")
    L.append("")
    if R.manifest_pending:
        L.append(
            "*PENDING:* when this ran, staticship handed manifest storages to the stock command (seen from its requests: "
            "a HEAD per file, like stock). Its manifest rows below are that fallback, not staticship's own pipeline."
        )
        L.append("")

    if png_name:
        L.append(f"![Wall time per scenario, log scale]({png_name})")
        L.append("")

    L.append("## Results")
    L.append("")
    L.append(
        "Wall: median seconds over the runs (runs in brackets; min–max when more than one). Requests and uploads: from the run with the "
        "median time. Uploads: requests that create an object (S3: PutObject, CreateMultipartUpload, CopyObject; GCS: "
        "upload, resumable upload start, copy; Azure: Put Blob, Put Block List, copy). By kind: HTTP methods, with listings "
        "as LIST (GCS's object metadata reads are GETs, Azure's are HEADs). ×: staticship's speed-up over that row "
        "(that row's time ÷ staticship's), in the same run."
    )
    L.append("")
    for wname in R.workloads:
        for storage in STORAGE_ORDER:
            if not any(c["workload"] == wname and c["storage"] == storage for c in R.cells):
                continue
            L.append(f"### {wname} · {STORAGE_LABEL[storage]}")
            L.append("")
            floor = R.cell(wname, storage, "floor", "floor")
            fw = R.wall(floor)
            if fw is not None:
                runs = R.ok_runs(floor)
                L.append(f"Floor: {fmt_s(fw)} s ({len(runs)} runs, {fmt_s(min(r['wall'] for r in runs))}–{fmt_s(max(r['wall'] for r in runs))}).")
                L.append("")
            L.append("| scenario | variant | wall s | × | requests | by kind | uploads | bucket check |")
            L.append("|---|---|---:|---:|---:|---|---:|---|")
            for sc in SCENARIOS:
                ss = R.wall(R.cell(wname, storage, sc, "staticship"))
                for variant in VARIANT_ORDER:
                    c = R.cell(wname, storage, sc, variant)
                    if c is None:
                        continue
                    runs = c["runs"]
                    ok = R.ok_runs(c)
                    w = R.wall(c)
                    if ok:
                        spread = f" ({len(ok)}" + (f", {fmt_s(min(r['wall'] for r in ok))}–{fmt_s(max(r['wall'] for r in ok))})" if len(ok) > 1 else ")")
                    else:
                        spread = " (failed: exit " + ", ".join(str(r["rc"]) for r in runs) + ")"
                    ratio = "–"
                    if variant != "staticship" and ss and w:
                        ratio = fmt_ratio(w / ss)
                    elif variant == "staticship" and w:
                        ratio = "1×"
                    mr = R.median_run(c)
                    checks = {r.get("verified") for r in runs if r.get("verified")}
                    check = ", ".join(sorted(checks)) if checks else ""
                    vlabel = VARIANT_LABEL[variant]
                    if variant == "staticship" and R.pending(storage):
                        vlabel += " (pending: stock fallback)"
                    sc_label = SCENARIO_LABEL[sc]
                    if sc == "changed" and c.get("changed_files"):
                        sc_label += f" ({c['changed_files']} files)"
                    L.append(
                        f"| {sc_label} | {vlabel} | {fmt_s(w)}{spread} | {ratio} | {mr['total'] if mr else '–'} | {kinds(mr)} | "
                        f"{mr['uploads'] if mr else '–'} | {check} |"
                    )
            L.append("")
            if any(R.cell(wname, storage, "headers", v) for v in VARIANT_ORDER):
                L.append(HEADERS_NOTE)
                L.append("")

    L.append("## Not run, and why")
    L.append("")
    notes = []
    for wname, w in R.workloads.items():
        for storage in STORAGE_ORDER:
            if not any(c["workload"] == wname and c["storage"] == storage for c in R.cells):
                continue
            scenarios = SCENARIOS if storage in ("s3", "s3manifest") else ("cold", "warm", "changed")
            # One stylesheet edited: the manifest storage on the real apps only;
            # "cache setting changed": 1,000 files and S3Storage only (see its note).
            scenarios = [sc for sc in scenarios
                         if (sc != "cssedit" or (storage == "s3manifest" and wname.startswith("real")))
                         and sc != "headers"]
            for variant in VARIANT_ORDER:
                if variant == PLAIN:  # run where its plan says only (see the variants above)
                    continue
                missing = [sc for sc in scenarios if R.cell(wname, storage, sc, variant) is None]
                if missing and len(missing) < len(scenarios) or (missing and variant != "staticship"):
                    notes.append(f"- {wname} · {STORAGE_LABEL[storage]} · {VARIANT_LABEL[variant]}: {', '.join(missing)}")
                few = [sc for sc in SCENARIOS if (c := R.cell(wname, storage, sc, variant)) and len(R.ok_runs(c)) < 3]
                if few:
                    notes.append(f"- {wname} · {STORAGE_LABEL[storage]} · {VARIANT_LABEL[variant]}: fewer than 3 runs for {', '.join(few)}")
    if notes and m["mode"] == "quick":
        L.append("A quick run (`--quick`): 1k files, S3Storage only, one run of the slow stock and Collectfasta cells; `--full` runs the rest.")
        L.append("")
    if any(c["storage"] in ("gcs", "azure") for c in R.cells):
        L.append(
            "GCS and Azure run the 1,000-file workload, cold, warm and 1% changed (the emulators cannot be seeded with 50,000 "
            "objects or snapshotted: between two 1% changed runs the harness restores the changed files by an untimed run of "
            "the same tool)."
        )
        L.append("")
    if notes:
        L.append(
            "Stock collectstatic sends about 2 sequential requests per file on a cold run and 4 on a warm one (HEAD, HEAD for the "
            "modification time, DELETE, PUT: every mtime is new after a checkout), so its slowest cells would take most of the hour; "
            "they run once or not at all, to keep `make bench` under an hour. Stock post-processing on S3 for manifest "
            "storages is slower still. The 50k-bucket scenario is the warm one for stock (it never lists)."
        )
        L.append("")
        L.extend(notes)
    else:
        L.append("Everything ran at least 3 times.")
    L.append("")
    L.append("## Reproduce")
    L.append("")
    L.append("```sh")
    L.append("pip install -e '.[s3,gcs,azure]' -r bench/requirements.txt && npm install   # Azurite, for the Azure rows")
    L.append("python -m bench.run --full --latency-ms 20 --out docs/     # make bench (the no-obstore rows: --plain-python,")
    L.append("                                                           #  a second virtualenv after pip uninstall obstore)")
    L.append("python -m bench.run --quick --out docs/                    # make bench-quick")
    L.append("```")
    L.append("")
    return "\n".join(L)


# ---------------------------------------------------------------------------
# Chart


def chart(R: Results, png_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [
        (w, s)
        for w in R.workloads
        for s in STORAGE_ORDER
        if any(c["workload"] == w and c["storage"] == s and c["variant"] != "floor" for c in R.cells)
    ]
    if not panels:
        return
    cols = 2 if len(panels) > 1 else 1
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(7 * cols, 4.2 * rows), squeeze=False)
    colors = {"stock": "#9e9e9e", "collectfasta": "#e69f00", "staticship": "#0072b2",
              PLAIN: "#56b4e9"}
    for ax, (wname, storage) in zip(axes.flat, panels):
        scen = [sc for sc in SCENARIOS if any(R.cell(wname, storage, sc, v) for v in VARIANT_ORDER)]
        width = 0.8 / len(VARIANT_ORDER)
        for i, variant in enumerate(VARIANT_ORDER):
            xs, ys = [], []
            for j, sc in enumerate(scen):
                w = R.wall(R.cell(wname, storage, sc, variant))
                if w is not None:
                    xs.append(j + (i - (len(VARIANT_ORDER) - 1) / 2) * width)
                    ys.append(w)
            if xs:
                label = VARIANT_LABEL[variant] + (" (stock fallback)" if variant == "staticship" and R.pending(storage) else "")
                bars = ax.bar(xs, ys, width, label=label, color=colors[variant])
                for b, y in zip(bars, ys):
                    ax.annotate(fmt_s(y), (b.get_x() + b.get_width() / 2, y), ha="center", va="bottom", fontsize=7)
        fw = R.wall(R.cell(wname, storage, "floor", "floor"))
        if fw:
            ax.axhline(fw, color="k", linestyle="--", linewidth=0.8, label=f"floor {fmt_s(fw)} s")
        ax.set_yscale("log")
        ax.set_xticks(range(len(scen)))
        ax.set_xticklabels(["cold", "warm", "1% changed", "50k bucket"][: 0] or [
            {"cold": "cold", "warm": "warm", "changed": "1% changed", "cssedit": "1 CSS edit",
             "bucket50k": "50k bucket", "headers": "cache setting"}[s] for s in scen
        ])
        ax.set_ylabel("seconds (log)")
        ax.set_title(f"{wname} · {STORAGE_LABEL[storage]}", fontsize=10)
        ax.legend(fontsize=7)
        ax.grid(axis="y", which="both", alpha=0.3)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    fig.suptitle(f"collectstatic wall time, {R.meta['latency_ms']:g} ms per request ({R.meta['mode']} run)")
    fig.tight_layout()
    fig.savefig(png_path, dpi=110)
    plt.close(fig)
