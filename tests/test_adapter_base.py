"""The helpers every backend shares (staticship.backends.base)."""

from __future__ import annotations

import sys
from unittest import mock

from django.core.files.storage import FileSystemStorage, InMemoryStorage

from staticship.backends.base import derives_from, overrides, storage_class
from staticship.backends.cloud import batches
from staticship.backends.errors import (
    Explanation, TransferError, configured_as, first_line, refused,
)
from staticship.backends.generic import GenericAdapter


class Sub(FileSystemStorage):
    pass


def test_derives_from_checks_the_module_before_importing() -> None:
    from staticship.backends import base

    imports: list[str] = []
    real = base.import_module

    def recording(name: str) -> object:
        imports.append(name)
        return real(name)

    path = FileSystemStorage.__module__ + ".FileSystemStorage"
    with mock.patch.object(base, "import_module", recording):
        assert derives_from(Sub(), path)
        assert imports == [FileSystemStorage.__module__]
        assert not derives_from(InMemoryStorage(), "storages.backends.s3.S3Storage")
        assert imports == [FileSystemStorage.__module__]  # no class of that module: nothing imported
    # The class's own module, but its library missing: not served, no error.
    missing = type("Missing", (FileSystemStorage,), {"__module__": "staticship_no_such_lib"})
    assert storage_class("staticship_no_such_lib.Missing") is None
    assert not derives_from(missing(), "staticship_no_such_lib.Missing")


def test_overrides_tells_a_subclass_that_writes_its_own_way() -> None:
    class OwnSave(FileSystemStorage):
        def _save(self, name, content):  # type: ignore[no-untyped-def]
            return name

    path = FileSystemStorage.__module__ + ".FileSystemStorage"
    assert not overrides(Sub(), path, "_save")
    assert overrides(OwnSave(), path, "_save")
    assert not overrides(OwnSave(), path, "_open")


def test_a_storage_elsewhere_does_not_import_boto3(tmp_path) -> None:
    from staticship.backends.s3 import S3Adapter

    had = "boto3" in sys.modules
    assert not S3Adapter.handles(FileSystemStorage(location=str(tmp_path)))
    assert ("boto3" in sys.modules) == had


def test_batches_slice_to_the_limit() -> None:
    assert [list(b) for b in batches(list(range(7)), 3)] == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(batches([], 3)) == []


def test_first_line_and_default_classification() -> None:
    exc = RuntimeError("\n  Generic S3 error: status 503\n  debug: {...}\n")
    assert first_line(exc) == "Generic S3 error: status 503"
    adapter = GenericAdapter(InMemoryStorage(), workers=4)
    classified = adapter._classify(exc, "a.css")
    assert isinstance(classified, TransferError)
    assert str(classified) == "Generic S3 error: status 503 (a.css)"
    assert not adapter.is_transient(exc)  # unknown errors are not retried
    assert adapter.is_transient(TransferError("later", transient=True))


def test_explanation_reads_what_failed_cause_then_fix() -> None:
    known = Explanation("the bucket 'b' does not exist", "create it, or correct X")
    assert known.line("Listing S3 bucket 'b'") == (
        "Listing S3 bucket 'b' failed: the bucket 'b' does not exist. Fix: create it, or correct X.")
    error = TransferError("HTTP 403 AccessDenied: Access Denied (key static/a.js)", key="static/a.js")
    assert known.line("Deleting stale files", error) == (
        "Deleting stale files failed: the bucket 'b' does not exist (static/a.js). "
        "Fix: create it, or correct X.")


def test_configured_as_names_the_setting_as_the_user_wrote_it() -> None:
    from django.test import override_settings

    storages = {"staticfiles": {"BACKEND": "x", "OPTIONS": {"bucket_name": "b"}}}
    with override_settings(STORAGES=storages):
        assert configured_as("bucket_name", "AWS_STORAGE_BUCKET_NAME") == (
            'STORAGES["staticfiles"]["OPTIONS"]["bucket_name"]')
    with override_settings(STORAGES={"staticfiles": {"BACKEND": "x"}}, AWS_STORAGE_BUCKET_NAME="b"):
        assert configured_as("bucket_name", "AWS_STORAGE_BUCKET_NAME") == "AWS_STORAGE_BUCKET_NAME"
    with override_settings(STORAGES={"staticfiles": {"BACKEND": "x"}}):
        assert configured_as("endpoint_url", "AWS_S3_ENDPOINT_URL") == (
            'the "endpoint_url" option or AWS_S3_ENDPOINT_URL')


def test_refused_looks_through_the_causes() -> None:
    try:
        try:
            raise ConnectionRefusedError(111, "Connection refused")
        except OSError as inner:
            raise TransferError("error sending request") from inner
    except TransferError as outer:
        assert refused(outer)
    assert not refused(TransferError("HTTP 503 SlowDown"))
