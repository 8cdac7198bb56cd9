"""The bench's rows for staticship without obstore (issue #13): which runs
the plans ask for, and the targets computed from them."""

from __future__ import annotations

from pathlib import Path

from bench import report, run
from bench import workload as wl


def _workload(n: int, name: str = "") -> wl.Workload:
    files = tuple("f%05d.css" % i for i in range(n))
    return wl.Workload(name or "generated-%dk" % (n // 1000), Path("/nonexistent"), files, 0, 0)


def test_plans_run_the_plain_variant_on_s3_1k_cold_and_warm_only() -> None:
    one_k, ten_k = _workload(1000), _workload(10000)
    assert run.full_plan(one_k, "s3", run.PLAIN) == {"cold": 3, "warm": 3}
    assert run.full_plan(ten_k, "s3", run.PLAIN) == {}
    assert all(run.full_plan(one_k, s, run.PLAIN) == {} for s in ("s3manifest", "gcs", "azure"))
    assert run.quick_plan(one_k, "s3", run.PLAIN) == {"cold": 1, "warm": 2}


def _cell(scenario: str, variant: str, *walls: float) -> dict:
    return {"workload": "generated-1k", "storage": "s3", "scenario": scenario, "variant": variant,
            "runs": [{"wall": w, "rc": 0, "total": 1, "by_kind": {}} for w in walls]}


def test_targets_of_the_plain_rows() -> None:
    res = {"meta": {"latency_ms": 20.0}, "workloads": {"generated-1k": {"files": 1000}},
           "cells": [_cell("floor", "floor", 1.0, 1.1, 1.2), _cell("cold", "collectfasta", 20.0),
                     _cell("cold", run.PLAIN, 4.0, 4.5, 6.0), _cell("warm", run.PLAIN, 1.2, 1.5, 1.6)]}
    found = {t[0]: t for t in report.plain_targets(report.Results(res))}
    cold = found["S3Storage, 1k files, obstore not installed, cold: staticship ≥ 4× faster than "
                 "Collectfasta"]
    assert cold[1:] == ("4.50 s vs 20.0 s = 4.44× faster", True)
    warm = found["S3Storage, 1k files, obstore not installed, warm: within 1.3× of the floor"]
    assert warm[1:] == ("1.50 s vs floor 1.10 s = 1.36×", False)
    res["cells"] = [c for c in res["cells"] if c["variant"] != run.PLAIN]
    assert [t[-1] for t in report.plain_targets(report.Results(res))] == [True, True]  # missing
