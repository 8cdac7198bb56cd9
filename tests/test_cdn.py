"""CDN invalidation after publish (STATICSHIP_CLOUDFRONT_DISTRIBUTION), against
moto's CloudFront (the test bed's moto server serves it on the S3 port)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from django.core.management.base import CommandError
from django.test import override_settings

from staticship import cdn

from .conftest import S3Target, Tree, collectstatic
from .test_report import check_schema

DOMAIN = "cdn.example.com"
MANIFEST = "storages.backends.s3.S3ManifestStaticStorage"


def cloudfront(s3: S3Target) -> Any:
    return boto3.client("cloudfront", endpoint_url=s3.endpoint, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


@pytest.fixture
def distribution(s3: S3Target, monkeypatch: pytest.MonkeyPatch) -> str:
    if s3.live:
        pytest.skip("moto's CloudFront only")
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDFRONT", str(s3.endpoint))
    created = cloudfront(s3).create_distribution(DistributionConfig={
        "CallerReference": uuid.uuid4().hex, "Comment": "", "Enabled": True,
        "Origins": {"Quantity": 1, "Items": [{
            "Id": "o", "DomainName": "%s.s3.amazonaws.com" % s3.bucket,
            "S3OriginConfig": {"OriginAccessIdentity": ""}}]},
        "DefaultCacheBehavior": {
            "TargetOriginId": "o", "ViewerProtocolPolicy": "allow-all", "MinTTL": 0,
            "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}},
            "TrustedSigners": {"Enabled": False, "Quantity": 0}},
    })
    return str(created["Distribution"]["Id"])


def invalidations(s3: S3Target, distribution: str) -> list[list[str]]:
    """The paths of every invalidation of the distribution, oldest first."""
    client = cloudfront(s3)
    listed = client.list_invalidations(DistributionId=distribution)["InvalidationList"]
    found = []
    for summary in reversed(listed.get("Items") or []):
        batch = client.get_invalidation(DistributionId=distribution, Id=summary["Id"])
        found.append(sorted(batch["Invalidation"]["InvalidationBatch"]["Paths"]["Items"]))
    return found


def run(s3: S3Target, tree: Tree, distribution: str, *args: str,
        backend: str | None = None) -> Any:
    return collectstatic(*args, tree=tree, storages=s3.settings(backend, custom_domain=DOMAIN),
                         STATICSHIP_CLOUDFRONT_DISTRIBUTION=distribution)


def site(tree: Tree) -> None:
    tree.write("css/a.css", b"a{}\n")
    tree.write("css/b.css", b"b{}\n")
    tree.write("js/app.js", b"app();\n")


def test_plain_storage_invalidates_exactly_the_changed_paths(
        s3: S3Target, tree: Tree, distribution: str) -> None:
    site(tree)
    first = run(s3, tree, distribution)
    assert invalidations(s3, distribution) == []  # every file was new: nothing was cached
    assert "invalidat" not in first.output.lower()
    tree.write("css/a.css", b"a{color:red}\n")
    tree.write("js/new.js", b"new();\n")
    second = run(s3, tree, distribution)
    assert invalidations(s3, distribution) == [["/static/css/a.css"]]
    assert "Invalidated 1 paths on CloudFront distribution %s" % distribution in second.output
    assert second.report.invalidation["paths"] == ["/static/css/a.css"]
    run(s3, tree, distribution)  # no change: no new invalidation
    assert len(invalidations(s3, distribution)) == 1


def test_clear_invalidates_deleted_paths(s3: S3Target, tree: Tree, distribution: str,
                                         tmp_path: Path) -> None:
    site(tree)
    run(s3, tree, distribution)
    (tree.root / "css/b.css").unlink()
    tree.files.pop("css/b.css")
    report = tmp_path / "report.json"
    run(s3, tree, distribution, "--clear", "--report", str(report))
    assert invalidations(s3, distribution) == [["/static/css/b.css"]]
    document = json.loads(report.read_text())
    check_schema(document)
    assert document["status"] == "ok"
    assert document["invalidation"]["paths"] == ["/static/css/b.css"]
    assert document["invalidation"]["status"] == "ok"
    assert len(document["invalidation"]["ids"]) == 1


def test_dry_run_says_what_it_would_invalidate(s3: S3Target, tree: Tree,
                                               distribution: str) -> None:
    site(tree)
    run(s3, tree, distribution)
    tree.write("css/a.css", b"a{color:blue}\n")
    dry = run(s3, tree, distribution, "--dry-run")
    assert "Would invalidate 1 paths on CloudFront distribution %s: /static/css/a.css" % (
        distribution) in dry.output
    assert invalidations(s3, distribution) == []


def test_manifest_storage_invalidates_the_manifest_and_changed_originals(
        s3: S3Target, tree: Tree, distribution: str) -> None:
    site(tree)
    run(s3, tree, distribution, backend=MANIFEST)
    assert invalidations(s3, distribution) == []
    tree.write("css/a.css", b"a{color:green}\n")
    second = run(s3, tree, distribution, backend=MANIFEST)
    uploaded = sorted(second.report.uploaded)
    assert len(uploaded) == 3 and "staticfiles.json" in uploaded  # original, hashed, manifest
    assert invalidations(s3, distribution) == [["/static/css/a.css", "/static/staticfiles.json"]]
    run(s3, tree, distribution, backend=MANIFEST)  # no change
    assert len(invalidations(s3, distribution)) == 1


def test_failed_invalidation_fails_the_command_after_the_deploy(
        s3: S3Target, tree: Tree, distribution: str, tmp_path: Path) -> None:
    site(tree)
    run(s3, tree, "E000MISSING")
    tree.write("css/a.css", b"a{color:red}\n")
    report = tmp_path / "report.json"
    with pytest.raises(CommandError) as failed:
        run(s3, tree, "E000MISSING", "--report", str(report))
    message = str(failed.value)
    assert message.startswith("Invalidating 1 paths on CloudFront distribution E000MISSING failed")
    assert "The deploy itself is complete" in message and "/static/css/a.css" in message
    assert s3.get(s3.location() + "/css/a.css") == b"a{color:red}\n"  # published all the same
    document = json.loads(report.read_text())
    check_schema(document)
    assert document["status"] == "failed" and document["invalidation"]["status"] == "failed"
    assert document["counts"]["changed"] == 1


def test_many_paths_batch_within_cloudfronts_limit(s3: S3Target, distribution: str) -> None:
    target = cdn.CloudFront(distribution, lambda: boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing"))
    paths = ["/static/f%04d.css" % i for i in range(3001)]
    ids = target.invalidate(paths)
    assert len(ids) == 2
    assert sorted(len(p) for p in invalidations(s3, distribution)) == [1, 3000]


def test_more_names_than_the_threshold_become_one_wildcard(s3: S3Target) -> None:
    from django.core.files.storage import storages

    with override_settings(STORAGES=s3.settings(custom_domain=DOMAIN)):
        storage = storages.create_storage(s3.settings(custom_domain=DOMAIN)["staticfiles"])
        few = cdn.paths_for(storage, ["css/a.css", "b c.js"])
        many = cdn.paths_for(storage, ["f%d.css" % i for i in range(cdn.WILDCARD_THRESHOLD + 1)])
    assert few == ["/static/b%20c.js", "/static/css/a.css"]
    assert many == ["/static/*"]


def test_gcs_manifest_storage_uses_boto3s_default_credentials(
        s3: S3Target, gcs: Any, tree: Tree, distribution: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    storages = gcs.settings("staticship.storages.GoogleCloudManifestStorage",
                            custom_endpoint="https://" + DOMAIN)
    site(tree)
    collectstatic(tree=tree, storages=storages, STATICSHIP_CLOUDFRONT_DISTRIBUTION=distribution)
    tree.write("js/app.js", b"app(2);\n")
    collectstatic(tree=tree, storages=storages, STATICSHIP_CLOUDFRONT_DISTRIBUTION=distribution)
    location = "/" + gcs.location()
    assert invalidations(s3, distribution) == [
        [location + "/js/app.js", location + "/staticfiles.json"]]
