"""The test bed as pytest sees it.

The emulators run outside pytest (``make test`` starts them through
``python -m testbed run``) and are found through environment variables.
Live mode: set STATICSHIP_LIVE_S3_BUCKET (and the usual AWS credentials,
optionally STATICSHIP_LIVE_S3_ENDPOINT and AWS_DEFAULT_REGION) to run the
same S3 tests against a real endpoint; request counts are then taken from
staticship's own report instead of the server.

The ``s3`` fixture is moto unless a test asks for another server with
``@on_both_s3_servers`` (moto and s3rver, the test bed's ``s3b``).
"""

from __future__ import annotations

import hashlib
import io
import os
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pytest
from django.core.management import call_command
from django.test import override_settings

os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
os.environ.setdefault("NO_GCE_CHECK", "true")


class Target:
    """What the S3, GCS and Azure targets share: a store on the test bed
    (``control`` set) or a live one, Django settings for it, and the
    server's request counts. Each target gives ``storage_options``."""

    #: The storage class ``settings()`` names unless told otherwise.
    default_backend: ClassVar[str]
    #: The request that creates the bucket (or container), left out of counts.
    setup_op: ClassVar[str]
    control: Any

    @property
    def live(self) -> bool:
        return self.control is None

    def storage_options(self, location: str = "static", **extra: Any) -> dict[str, Any]:
        raise NotImplementedError

    def objects(self, prefix: str) -> dict[str, Any]:
        """Every object under ``prefix`` by key, as the store lists it."""
        raise NotImplementedError

    def location(self, name: str = "static") -> str:
        """The key prefix (no trailing slash) of the storage location ``name``."""
        return str(self.storage_options(name)["location"])

    def under(self, location: str = "static", records: bool = False) -> dict[str, Any]:
        """The objects of ``location`` by name relative to it; staticship's own
        records (``.staticship/``) left out unless ``records``."""
        prefix = self.location(location) + "/"
        found = {k[len(prefix):]: v for k, v in self.objects(prefix).items()}
        return {k: v for k, v in found.items() if records or not k.startswith(".staticship/")}

    def settings(self, backend: str | None = None, location: str = "static",
                 **extra: Any) -> dict[str, Any]:
        return {
            "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
            "staticfiles": {"BACKEND": backend or self.default_backend,
                            "OPTIONS": self.storage_options(location, **extra)},
        }

    # -- what the server saw ----------------------------------------------
    def reset(self) -> None:
        if self.control is not None:
            self.control.reset()

    def counts(self) -> Counter[str] | None:
        """Requests by operation since the last reset (None in live mode)."""
        if self.control is None:
            return None
        return Counter(r["op"] for r in self.control.requests() if r["op"] != self.setup_op)


@dataclass
class S3Target(Target):
    """Where S3 tests write: an emulator bucket, or a live bucket + prefix."""

    default_backend: ClassVar[str] = "storages.backends.s3.S3Storage"
    setup_op: ClassVar[str] = "CreateBucket"

    endpoint: str | None
    bucket: str
    root: str  # key prefix under which this test's location lives
    access_key: str | None
    secret_key: str | None
    region: str
    control: Any = None  # testbed.client.Control, or None in live mode
    client: Any = None
    server: str = "moto"  # "moto", "s3rver" or "live"

    def storage_options(self, location: str = "static", **extra: Any) -> dict[str, Any]:
        options: dict[str, Any] = {
            "bucket_name": self.bucket,
            "location": "/".join(p for p in (self.root, location) if p),
            "region_name": self.region,
            "file_overwrite": True,
            "querystring_auth": False,
        }
        if self.endpoint:
            options["endpoint_url"] = self.endpoint
        if self.access_key:
            options["access_key"] = self.access_key
            options["secret_key"] = self.secret_key
        options.update(extra)
        return options

    # -- what the bucket holds --------------------------------------------
    def objects(self, prefix: str) -> dict[str, dict[str, Any]]:
        found = {}
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for entry in page.get("Contents", ()):
                found[entry["Key"]] = entry
        return found

    def get(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def head(self, key: str) -> dict[str, Any]:
        return self.client.head_object(Bucket=self.bucket, Key=key)

    def assert_holds(self, prefix: str, expected: dict[str, bytes], ignore: tuple[str, ...] = ()) -> None:
        """The bucket under ``prefix`` holds exactly ``expected`` (key -> bytes
        as stored). Single-part objects are compared through the MD5 the
        server computed from the stored bytes; others are downloaded."""
        listed = {k: v for k, v in self.objects(prefix).items() if not k.endswith(ignore)
                  and not k[len(prefix):].startswith(".staticship/")}  # our own records
        assert sorted(listed) == sorted(expected)
        for key, entry in listed.items():
            etag = entry["ETag"].strip('"')
            if "-" in etag or self.live:
                assert self.get(key) == expected[key], key
            else:
                assert etag == hashlib.md5(expected[key]).hexdigest(), key


def _control(url: str | None) -> Any:
    if not url:
        return None
    from testbed.client import Control

    return Control(url)


#: The S3 servers of the test bed, by the ``s3`` fixture's parameter.
S3_SERVERS = {"s3": "moto", "s3b": "s3rver"}
on_both_s3_servers = pytest.mark.parametrize("s3", list(S3_SERVERS), indirect=True,
                                             ids=list(S3_SERVERS.values()))


@pytest.fixture
def s3(request: pytest.FixtureRequest) -> Iterator[S3Target]:
    import boto3
    from botocore.config import Config

    service = getattr(request, "param", "s3")
    live_bucket = os.environ.get("STATICSHIP_LIVE_S3_BUCKET")
    variable = f"STATICSHIP_TEST_{service.upper()}_"
    endpoint = os.environ.get(variable + "ENDPOINT")
    if service != "s3" and (live_bucket or not endpoint):
        pytest.skip(f"{S3_SERVERS[service]} is not running (live mode, or the test bed was "
                    "started without it)")
    if live_bucket:
        target = S3Target(
            endpoint=os.environ.get("STATICSHIP_LIVE_S3_ENDPOINT") or None,
            bucket=live_bucket,
            root="staticship-test-" + uuid.uuid4().hex[:12],
            access_key=None,
            secret_key=None,
            region=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
            server="live",
        )
    elif endpoint:
        target = S3Target(
            endpoint=endpoint,
            bucket="t-" + uuid.uuid4().hex[:20],
            root="",
            access_key=os.environ.get(variable + "ACCESS_KEY_ID", "testing"),
            secret_key=os.environ.get(variable + "SECRET_ACCESS_KEY", "testing"),
            region="us-east-1",
            control=_control(os.environ.get(variable + "CONTROL") or endpoint),
            server=S3_SERVERS[service],
        )
    else:
        pytest.skip("no S3 endpoint: run through `make test` (or set STATICSHIP_LIVE_S3_BUCKET)")
    target.client = boto3.client(
        "s3",
        endpoint_url=target.endpoint,
        region_name=target.region,
        aws_access_key_id=target.access_key,
        aws_secret_access_key=target.secret_key,
        config=Config(s3={"addressing_style": "path"}) if target.endpoint else None,
    )
    if not target.live:
        target.client.create_bucket(Bucket=target.bucket)
        target.control.reset()
    yield target
    if target.live:  # leave the live bucket as we found it
        keys = list(target.objects(target.root + "/"))
        for start in range(0, len(keys), 1000):
            target.client.delete_objects(
                Bucket=target.bucket,
                Delete={"Objects": [{"Key": k} for k in keys[start : start + 1000]]},
            )


@dataclass
class Tree:
    """A directory of static files that tests write and edit."""

    root: Path
    files: dict[str, bytes] = field(default_factory=dict)

    def write(self, name: str, data: bytes) -> None:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.files[name] = data

    def touch_all(self) -> None:
        """Bump every mtime, as a fresh CI checkout does."""
        for name in self.files:
            os.utime(self.root / name)


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    root = tmp_path / "src"
    root.mkdir()
    return Tree(root)


def make_files(tree: Tree, count: int, seed: str = "") -> None:
    """``count`` small files of several kinds, deterministic for a seed."""
    kinds = ("css", "js", "png", "svg", "txt", "woff2")
    for i in range(count):
        ext = kinds[i % len(kinds)]
        body = ("/* %s %d %s */\n" % (ext, i, seed)).encode() * (1 + i % 7)
        tree.write("app%d/%s/file%04d.%s" % (i % 5, ext, i, ext), body)


@dataclass
class Run:
    output: str
    report: Any
    result: Any


def collectstatic(*args: str, tree: Tree | None = None, storages: dict[str, Any] | None = None,
                  **settings: Any) -> Run:
    """Run ``manage.py collectstatic --noinput ARGS`` in-process."""
    from staticship.management.commands.collectstatic import Command

    overrides: dict[str, Any] = dict(settings)
    if tree is not None:
        overrides["STATICFILES_DIRS"] = [str(tree.root)]
    if storages is not None:
        overrides["STORAGES"] = storages
    out = io.StringIO()
    command = Command(stdout=out, stderr=out)
    with override_settings(**overrides):
        result = call_command(command, "--noinput", *args, stdout=out, stderr=out)
    return Run(out.getvalue(), getattr(command, "report", None), result)


# -- Google Cloud Storage and Azure Blob ------------------------------------
# Emulators: fake-gcs-server and Azurite behind the test bed (counts exact).
# Live mode: STATICSHIP_LIVE_GCS_BUCKET (+ GOOGLE_APPLICATION_CREDENTIALS,
# optionally STATICSHIP_LIVE_GCS_PROJECT), and
# STATICSHIP_LIVE_AZURE_CONNECTION_STRING + STATICSHIP_LIVE_AZURE_CONTAINER;
# each test then works under a fresh prefix and removes it afterwards.


@dataclass
class GCSTarget(Target):
    """Where GCS tests write: an emulator bucket, or a live bucket + prefix."""

    default_backend: ClassVar[str] = "storages.backends.gcloud.GoogleCloudStorage"
    setup_op: ClassVar[str] = "CreateBucket"

    bucket: str
    root: str
    project: str | None
    anonymous: bool
    control: Any = None
    client: Any = None  # google.cloud.storage.Client

    def storage_options(self, location: str = "static", **extra: Any) -> dict[str, Any]:
        from google.auth.credentials import AnonymousCredentials

        options: dict[str, Any] = {
            "bucket_name": self.bucket,
            "location": "/".join(p for p in (self.root, location) if p),
            "project_id": self.project,
            "querystring_auth": False,
        }
        if self.anonymous:
            options["credentials"] = AnonymousCredentials()
        options.update(extra)
        return options

    def objects(self, prefix: str) -> dict[str, Any]:
        """Blobs under ``prefix`` by name, with every property (ACLs included)."""
        return {b.name: b for b in self.client.list_blobs(self.bucket, prefix=prefix, projection="full")}

    def get(self, key: str) -> bytes:
        """The bytes as stored (no decompressive transcoding)."""
        data: bytes = self.client.bucket(self.bucket).blob(key).download_as_bytes(raw_download=True)
        return data


@pytest.fixture
def gcs(monkeypatch: pytest.MonkeyPatch) -> Iterator[GCSTarget]:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage as gcs_storage

    live_bucket = os.environ.get("STATICSHIP_LIVE_GCS_BUCKET")
    endpoint = os.environ.get("STATICSHIP_TEST_GCS_ENDPOINT")
    if live_bucket:
        target = GCSTarget(
            bucket=live_bucket,
            root="staticship-test-" + uuid.uuid4().hex[:12],
            project=os.environ.get("STATICSHIP_LIVE_GCS_PROJECT") or None,
            anonymous=False,
        )
        target.client = gcs_storage.Client(project=target.project)
    elif endpoint:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", endpoint)
        target = GCSTarget(
            bucket="t-" + uuid.uuid4().hex[:20],
            root="",
            project="test",
            anonymous=True,
            control=_control(os.environ.get("STATICSHIP_TEST_GCS_CONTROL")),
        )
        target.client = gcs_storage.Client(project="test", credentials=AnonymousCredentials())
        target.client.create_bucket(target.bucket)
        target.control.reset()
    else:
        pytest.skip("no GCS endpoint: run through `python -m testbed run --gcs` "
                    "(or set STATICSHIP_LIVE_GCS_BUCKET)")
    yield target
    if target.live:
        for blob in list(target.client.list_blobs(target.bucket, prefix=target.root + "/")):
            blob.delete()


@dataclass
class AzureTarget(Target):
    """Where Azure tests write: an Azurite container, or a live container + prefix."""

    default_backend: ClassVar[str] = "storages.backends.azure_storage.AzureStorage"
    setup_op: ClassVar[str] = "CreateContainer"

    connection_string: str
    container: str
    root: str
    control: Any = None
    client: Any = None  # azure.storage.blob.ContainerClient

    def storage_options(self, location: str = "static", **extra: Any) -> dict[str, Any]:
        options: dict[str, Any] = {
            "connection_string": self.connection_string,
            "azure_container": self.container,
            "location": "/".join(p for p in (self.root, location) if p),
        }
        options.update(extra)
        return options

    def objects(self, prefix: str) -> dict[str, Any]:
        """Blobs under ``prefix`` by name, with their properties and metadata."""
        return {b.name: b for b in self.client.list_blobs(name_starts_with=prefix,
                                                           include=["metadata"])}

    def get(self, key: str) -> bytes:
        data: bytes = self.client.download_blob(key).readall()
        return data


@pytest.fixture
def azure() -> Iterator[AzureTarget]:
    from azure.storage.blob import ContainerClient

    live = os.environ.get("STATICSHIP_LIVE_AZURE_CONNECTION_STRING")
    connection_string = os.environ.get("STATICSHIP_TEST_AZURE_CONNECTION_STRING")
    if live:
        target = AzureTarget(
            connection_string=live,
            container=os.environ["STATICSHIP_LIVE_AZURE_CONTAINER"],
            root="staticship-test-" + uuid.uuid4().hex[:12],
        )
    elif connection_string:
        target = AzureTarget(
            connection_string=connection_string,
            container="t-" + uuid.uuid4().hex[:20],
            root="",
            control=_control(os.environ.get("STATICSHIP_TEST_AZURE_CONTROL")),
        )
    else:
        pytest.skip("no Azure endpoint: run through `python -m testbed run --azure` "
                    "(or set STATICSHIP_LIVE_AZURE_CONNECTION_STRING and _CONTAINER)")
    target.client = ContainerClient.from_connection_string(target.connection_string, target.container)
    if not target.live:
        target.client.create_container()
        target.control.reset()
    yield target
    if target.live:
        for name in list(target.client.list_blob_names(name_starts_with=target.root + "/")):
            target.client.delete_blob(name)
