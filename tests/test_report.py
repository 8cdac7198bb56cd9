"""The summary lines, the --dry-run plan and the --report JSON (against
docs/report-schema.json), on a local directory and on the S3 emulator."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from django.core.management.base import CommandError

from staticship.plan import Reason
from staticship.report import Report

from .conftest import S3Target, Tree, collectstatic, make_files

SCHEMA = json.loads((Path(__file__).resolve().parent.parent / "docs" / "report-schema.json").read_text())
TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None),
         "integer": int, "number": (int, float)}


def validate(value: Any, schema: dict[str, Any], where: str = "$") -> None:
    """A small validator for the JSON Schema keywords the report schema uses."""
    if "const" in schema:
        assert value == schema["const"], "%s: %r != %r" % (where, value, schema["const"])
    if "enum" in schema:
        assert value in schema["enum"], "%s: %r not in %r" % (where, value, schema["enum"])
    if "type" in schema:
        kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        ok = any(isinstance(value, TYPES[k]) and not (k in ("integer", "number") and isinstance(value, bool))
                 for k in kinds)
        assert ok, "%s: %r is not %s" % (where, value, kinds)
    if "minimum" in schema and isinstance(value, (int, float)):
        assert value >= schema["minimum"], where
    if isinstance(value, dict):
        for key in schema.get("required", ()):
            assert key in value, "%s: missing %r" % (where, key)
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in props:
                validate(item, props[key], "%s.%s" % (where, key))
            elif extra is False:
                raise AssertionError("%s: unexpected %r" % (where, key))
            elif isinstance(extra, dict):
                validate(item, extra, "%s.%s" % (where, key))
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            validate(item, schema["items"], "%s[%d]" % (where, i))


def check_schema(document: dict[str, Any]) -> None:
    validate(document, SCHEMA)
    try:
        import jsonschema  # present here only through moto; not a dependency
    except ImportError:
        return
    jsonschema.validate(document, SCHEMA)


def test_validator_rejects_what_the_schema_forbids() -> None:
    good = Report(backend="s3", destination="d").as_json()
    check_schema(good)
    for broken in (dict(good, version=2), dict(good, status="partial"),
                   dict(good, counts=dict(good["counts"], new=-1)), dict(good, surprise=1),
                   dict(good, files=[{"name": "a", "action": "maybe"}])):
        with pytest.raises(AssertionError):
            validate(broken, SCHEMA)


# -- summary lines ----------------------------------------------------------------
def sample(dry_run: bool = False) -> Report:
    report = Report(backend="s3", destination="S3 bucket 'b' under 'static/'", dry_run=dry_run)
    report.files = {"a.css": "new", "b.js": "new", "c.png": "changed", "d.txt": "unchanged"}
    report.deleted = ["old.js"]
    report.bytes_uploaded = 3 * 1024 * 1024
    report.requests = Counter({"PUT": 3, "LIST": 1})
    report.seconds = {"find": 0.01, "list": 0.2, "hash": 0.3, "upload": 1.5}
    return report


def test_summary_lines() -> None:
    assert sample().summary_lines() == [
        "staticship: S3 bucket 'b' under 'static/': uploaded 3 files (2 new, 1 changed), "
        "3.0 MB; 1 unchanged; 1 deleted.",
        "staticship: requests: LIST 1, PUT 3 (4 in all).",
        "staticship: seconds: find 0.01, list 0.20, hash 0.30, upload 1.50 (2.01 in all).",
    ]


def test_summary_and_json_count_headers_updates() -> None:
    report = sample()
    report.files = {"a.css": "headers", "b.js": "headers", "c.png": "changed"}
    assert report.summary_lines()[0] == (
        "staticship: S3 bucket 'b' under 'static/': uploaded 1 file (1 changed), 3.0 MB; "
        "updated the headers of 2 files; 0 unchanged; 1 deleted.")
    counts = report.as_json()["counts"]
    assert (counts["headers"], counts["changed"], counts["uploaded"]) == (2, 1, 3)
    dry = sample(dry_run=True)
    dry.files = {"a.css": "headers"}
    assert "upload 0 files, 3.0 MB; update the headers of 1 file; 0 unchanged" in (
        dry.summary_lines()[0])


def test_summary_counts_read_as_english() -> None:
    report = sample()
    report.files = {"a.css": "changed"}
    assert report.summary_lines()[0] == (
        "staticship: S3 bucket 'b' under 'static/': uploaded 1 file (1 changed), 3.0 MB; "
        "0 unchanged; 1 deleted.")
    report.files = {"a.css": "unchanged"}
    report.bytes_uploaded = 0
    assert report.summary_lines()[0] == (
        "staticship: S3 bucket 'b' under 'static/': uploaded 0 files, 0 B; 1 unchanged; 1 deleted.")


def test_requests_line_says_which_writes_were_records() -> None:
    report = sample()
    report.requests = Counter({"PUT": 5, "LIST": 1})
    report.records_written = 2
    assert report.summary_lines()[1] == (
        "staticship: requests: LIST 1, PUT 5 (6 in all; 2 writing staticship's own records).")
    report.records_written = 1
    assert report.summary_lines()[1].endswith("(6 in all; 1 writing staticship's own record).")


def test_dry_run_summary_is_the_plan_total() -> None:
    lines = sample(dry_run=True).summary_lines()
    assert lines[0] == (
        "staticship: dry run, nothing was written. Plan for S3 bucket 'b' under 'static/': "
        "upload 3 files (2 new, 1 changed), 3.0 MB; 1 unchanged; 1 to delete."
    )
    document = sample(dry_run=True).as_json()
    check_schema(document)
    assert document["bytes_uploaded"] == 0 and document["bytes_planned"] == 3 * 1024 * 1024
    assert document["counts"]["uploaded"] == 0


# -- local directory (no emulator needed) ---------------------------------------------
def local(tmp_path: Path) -> dict[str, Any]:
    return {
        "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
        "staticfiles": {"BACKEND": "django.core.files.storage.FileSystemStorage",
                        "OPTIONS": {"location": str(tmp_path / "out")}},
    }


def test_report_file_local(tree: Tree, tmp_path: Path) -> None:
    make_files(tree, 12)
    path = tmp_path / "report.json"
    run = collectstatic("--report", str(path), tree=tree, storages=local(tmp_path))
    document = json.loads(path.read_text())
    check_schema(document)
    assert document["status"] == "ok" and document["engine"] == "staticship"
    assert document["backend"] == "filesystem"
    assert document["counts"]["new"] == document["counts"]["uploaded"] == 12
    assert sorted(f["name"] for f in document["files"]) == sorted(tree.files)
    assert run.output.rstrip().splitlines()[-1].startswith("12 static files copied")

    tree.write("app0/css/file0000.css", b"/* edited */")
    collectstatic("--report", str(path), tree=tree, storages=local(tmp_path))
    document = json.loads(path.read_text())
    check_schema(document)
    assert (document["counts"]["changed"], document["counts"]["unchanged"]) == (1, 11)
    assert {f["name"]: f["action"] for f in document["files"]}["app0/css/file0000.css"] == "changed"


def test_stock_engine_report(tree: Tree, tmp_path: Path) -> None:
    """--disable-staticship is handled by the command itself; a storage that
    staticship hands back to stock goes through the runner and is reported."""
    make_files(tree, 4)
    path = tmp_path / "report.json"
    storages = local(tmp_path)
    storages["staticfiles"]["BACKEND"] = "tests.test_report.PostProcessing"
    collectstatic("--report", str(path), tree=tree, storages=storages)
    document = json.loads(path.read_text())
    check_schema(document)
    assert document["engine"] == "stock" and document["counts"]["uploaded"] == 4
    assert document["counts"]["new"] is None


class PostProcessing:  # a post-processing storage that is not a manifest storage
    def __new__(cls, **options: Any) -> Any:
        from django.core.files.storage import FileSystemStorage

        class Storage(FileSystemStorage):
            def post_process(self, paths: Any, dry_run: bool = False, **kw: Any) -> Any:
                return iter(())

        return Storage(**options)


def test_unwritable_report_path_fails_before_any_work(tree: Tree, tmp_path: Path) -> None:
    make_files(tree, 3)
    path = tmp_path / "no-such-folder" / "report.json"
    with pytest.raises(CommandError) as caught:
        collectstatic("--report", str(path), tree=tree, storages=local(tmp_path))
    assert str(caught.value).startswith("Cannot write the report to '%s': " % path)
    assert "Nothing was uploaded" in str(caught.value)
    assert not (tmp_path / "out").exists()  # nothing was collected


def test_report_that_fails_after_a_good_deploy_does_not_fail_it(
    tree: Tree, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from staticship import runner

    make_files(tree, 3)
    path = tmp_path / "report.json"
    real = runner.write_report

    def full_disk(command: Any, document: dict[str, Any]) -> None:
        if document["status"] == "ok":
            raise CommandError("Cannot write the report to '%s': No space left on device" % path)
        real(command, document)

    monkeypatch.setattr(runner, "write_report", full_disk)
    run = collectstatic("--report", str(path), tree=tree, storages=local(tmp_path))
    assert "No space left on device (the deploy itself succeeded)." in run.output
    assert len(list((tmp_path / "out").rglob("*.*"))) == 3


def test_verbosity_0_prints_nothing(tree: Tree, tmp_path: Path) -> None:
    make_files(tree, 5)
    run = collectstatic("-v", "0", tree=tree, storages=local(tmp_path))
    assert run.output == ""


def test_verbosity_1_one_line_per_phase_then_summary_then_stock_line(tree: Tree, tmp_path: Path) -> None:
    make_files(tree, 5)
    lines = collectstatic(tree=tree, storages=local(tmp_path)).output.rstrip().splitlines()
    assert [line.split(":")[1].strip() for line in lines[:4]] == ["find", "list", "hash", "upload"]
    assert lines[3].startswith("staticship: upload: 5 files, ")
    assert lines[4].startswith("staticship: directory ")
    # Each phase printed its seconds: the summary does not repeat them.
    assert not any(line.startswith("staticship: seconds:") for line in lines)
    assert lines[-1] == "5 static files copied to '%s'." % (tmp_path / "out")
    assert "\r" not in "\n".join(lines) and "\x1b" not in "\n".join(lines)


def test_manifest_run_names_each_phase_once(tree: Tree, tmp_path: Path) -> None:
    tree.write("css/site.css", b"body { background: url('../img/a.png'); }")
    tree.write("img/a.png", b"png")
    storages = local(tmp_path)
    storages["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"
    path = tmp_path / "report.json"
    run = collectstatic("--report", str(path), tree=tree, storages=storages)
    phases = [m.group(1) for line in run.output.splitlines()
              if (m := re.match(r"staticship: ([\w-]+): (?:[\d.]+ s$|\d+ files, )", line))]
    assert phases == ["find", "list", "inputs", "post-process", "hash", "upload"]
    assert list(json.loads(path.read_text())["seconds"]) == phases


# -- S3 ----------------------------------------------------------------------------
def test_dry_run_prints_the_plan_and_writes_nothing(s3: S3Target, tree: Tree, tmp_path: Path) -> None:
    make_files(tree, 10)
    storages = s3.settings()
    collectstatic(tree=tree, storages=storages)
    tree.write("app1/js/file0001.js", b"// changed\n")
    tree.write("new/one.css", b"body{}")
    tree.write("new/two.css", b"p{}")
    before = s3.objects("static/")
    s3.reset()
    path = tmp_path / "plan.json"
    run = collectstatic("--dry-run", "--report", str(path), tree=tree, storages=storages)
    assert "Would upload 'new/one.css' (new)" in run.output
    assert "Would upload 'new/two.css' (new)" in run.output
    assert "Would upload 'app1/js/file0001.js' (changed)" in run.output
    assert run.output.count("Would upload") == 3
    assert ("staticship: dry run, nothing was written. Plan for S3 bucket '%s' under 'static/': "
            "upload 3 files (2 new, 1 changed), 20 B; 9 unchanged; 0 to delete." % s3.bucket) in run.output
    counts = s3.counts()
    if counts is not None:
        assert set(counts) <= {"ListObjectsV2", "GetObject", "HeadObject"}, counts
    assert s3.objects("static/").keys() == before.keys()
    document = json.loads(path.read_text())
    check_schema(document)
    assert document["dry_run"] is True and document["counts"]["uploaded"] == 0
    assert (document["counts"]["new"], document["counts"]["changed"]) == (2, 1)
    assert document["bytes_planned"] == 20


def test_report_s3_requests_and_bytes(s3: S3Target, tree: Tree, tmp_path: Path) -> None:
    make_files(tree, 20)
    path = tmp_path / "report.json"
    collectstatic("--report", str(path), tree=tree, storages=s3.settings())
    document = json.loads(path.read_text())
    check_schema(document)
    assert document["backend"] == "s3" and document["status"] == "ok"
    assert document["requests"].get("PUT") == 21  # 20 files and the state record
    assert document["bytes_uploaded"] == sum(len(b) for b in tree.files.values())
    assert list(document["seconds"])[:3] == ["find", "list", "hash"]


def test_report_written_when_the_run_fails(s3: S3Target, tree: Tree, tmp_path: Path) -> None:
    if s3.live:
        pytest.skip("needs the emulator's fault injection")
    make_files(tree, 30)
    s3.control.faults(fail_writes_after=5, fail_status=403)
    path = tmp_path / "report.json"
    with pytest.raises(CommandError):
        collectstatic("--report", str(path), tree=tree, storages=s3.settings(),
                      STATICSHIP_WORKERS=2)
    document = json.loads(path.read_text())
    check_schema(document)
    assert document["status"] == "failed" and "failed: access denied" in document["error"]
    assert document["counts"]["new"] == 30
    assert document["counts"]["uploaded"] == len(document["completed"]) <= 5
    assert set(document["completed"]) <= set(tree.files)


def test_reason_values_match_the_schema() -> None:
    actions = SCHEMA["properties"]["files"]["items"]["properties"]["action"]["enum"]
    assert {r.value for r in Reason} <= set(actions)
