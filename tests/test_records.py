"""staticship's own records (the state record, deployment records) are
written with the storage's write parameters: ACL, encryption, object
parameters. A bucket policy that requires them would refuse records without.
Each record is compared with a JSON object the storage itself saves."""

from __future__ import annotations

import json
from typing import Any

from django.contrib.staticfiles.storage import ManifestFilesMixin
from django.core.files.base import ContentFile
from django.core.files.storage import storages as django_storages
from django.test import override_settings
from storages.backends.azure_storage import AzureStorage
from storages.backends.gcloud import GoogleCloudStorage

from .conftest import AzureTarget, GCSTarget, S3Target, Tree, collectstatic

PROBE = ".staticship/probe.json"


class GCSManifest(ManifestFilesMixin, GoogleCloudStorage):
    pass


class AzureManifest(ManifestFilesMixin, AzureStorage):
    pass


def write_site(tree: Tree) -> None:
    tree.write("css/site.css", b'body { background: url("../img/a.svg"); }\n' * 5)
    tree.write("img/a.svg", b"<svg/>")


def records(objects: dict[str, Any]) -> list[str]:
    found = sorted(n for n in objects if n.startswith(".staticship/") and n != PROBE)
    assert found == [".staticship/state.json"]  # one record object holds all
    return found


def save_probe(storages: dict[str, Any]) -> None:
    """A JSON object written by the storage itself: what ours must look like."""
    with override_settings(STORAGES=storages):
        django_storages["staticfiles"].save(PROBE, ContentFile(b'{"probe": 1}'))


def test_s3_records_carry_the_storage_parameters(s3: S3Target, tree: Tree) -> None:
    write_site(tree)
    storages = s3.settings("storages.backends.s3.S3ManifestStaticStorage", gzip=True,
                           default_acl="public-read",
                           object_parameters={"CacheControl": "max-age=60",
                                              "ServerSideEncryption": "AES256",
                                              "Metadata": {"release": "7"}})
    collectstatic(tree=tree, storages=storages)
    save_probe(storages)
    prefix = s3.location() + "/"

    def describe(name: str) -> dict[str, Any]:
        head = s3.head(prefix + name)
        grants = [] if s3.live else s3.client.get_object_acl(Bucket=s3.bucket, Key=prefix + name)["Grants"]
        return {
            **{h: head.get(h) for h in ("ContentType", "ContentEncoding", "CacheControl",
                                        "ServerSideEncryption", "Metadata")},
            "grants": sorted((g["Permission"], str(g["Grantee"].get("URI"))) for g in grants),
        }

    expected = describe(PROBE)
    assert expected["ServerSideEncryption"] == "AES256" and expected["CacheControl"] == "max-age=60"
    assert expected["ContentType"] == "application/json"
    for name in records(s3.under(records=True)):
        assert describe(name) == expected, name
        json.loads(s3.get(prefix + name))  # sent as it is, not gzipped


def test_gcs_records_carry_the_storage_parameters(gcs: GCSTarget, tree: Tree) -> None:
    write_site(tree)
    storages = gcs.settings("tests.test_records.GCSManifest", gzip=True, default_acl="publicRead",
                            object_parameters={"cache_control": "max-age=60",
                                               "metadata": {"release": "7"}})
    collectstatic(tree=tree, storages=storages)
    save_probe(storages)

    def describe(blob: Any) -> dict[str, Any]:
        props = blob._properties
        return {
            **{p: props.get(p) for p in ("contentType", "contentEncoding", "cacheControl", "metadata")},
            "acl": sorted((a.get("entity"), a.get("role")) for a in props.get("acl") or []),
        }

    blobs = gcs.under(records=True)
    expected = describe(blobs[PROBE])
    assert expected["cacheControl"] == "max-age=60" and expected["contentType"] == "application/json"
    for name in records(blobs):
        assert describe(blobs[name]) == expected, name
        json.loads(gcs.get(blobs[name].name))


def test_azure_records_carry_the_storage_content_settings(azure: AzureTarget, tree: Tree) -> None:
    write_site(tree)
    storages = azure.settings("tests.test_records.AzureManifest", cache_control="max-age=60",
                              object_parameters={"content_disposition": "inline",
                                                 "content_language": "en"})
    collectstatic(tree=tree, storages=storages)
    save_probe(storages)

    def describe(blob: Any) -> dict[str, Any]:
        settings = blob.content_settings
        return {k: getattr(settings, k) for k in ("content_type", "content_encoding", "cache_control",
                                                  "content_disposition", "content_language")}

    blobs = azure.under(records=True)
    expected = describe(blobs[PROBE])
    assert expected["cache_control"] == "max-age=60" and expected["content_language"] == "en"
    for name in records(blobs):
        assert describe(blobs[name]) == expected, name
        json.loads(azure.get(blobs[name].name))


def test_s3_records_are_read_with_the_storage_sse_c_key(s3: S3Target) -> None:
    """SSE-C: a record is written with the key, as every object is, and read
    back with it (as django-storages reads). moto does not enforce SSE-C, so
    the requests the client sends to the emulator are observed instead."""
    from storages.backends.s3 import S3Storage

    from staticship.backends.s3 import S3Adapter

    key = b"k" * 32
    storage = S3Storage(**s3.storage_options(object_parameters={
        "SSECustomerAlgorithm": "AES256", "SSECustomerKey": key, "CacheControl": "max-age=60"}))
    adapter = S3Adapter(storage, workers=4)
    sent: list[tuple[str, dict[str, Any]]] = []

    def observe(params: dict[str, Any], model: Any, **_: Any) -> None:
        sent.append((model.name, dict(params)))

    adapter.client.meta.events.register("before-parameter-build.s3.*", observe)
    adapter.write_small(".staticship/state.json", b'{"a": 1}', "application/json")
    assert adapter.read_small(".staticship/state.json") == b'{"a": 1}'
    (put_op, put), (get_op, get) = sent
    assert (put_op, get_op) == ("PutObject", "GetObject")
    assert put["SSECustomerKey"] == get["SSECustomerKey"] == key
    assert put["CacheControl"] == "max-age=60" and "CacheControl" not in get
