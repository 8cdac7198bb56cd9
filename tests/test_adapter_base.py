"""The helpers every backend shares (staticship.backends.base)."""

from __future__ import annotations

import sys

from django.core.files.storage import FileSystemStorage, InMemoryStorage

from staticship.backends.base import TransferError, batches, derives_from, first_line
from staticship.backends.generic import GenericAdapter


class Sub(FileSystemStorage):
    pass


def test_derives_from_checks_the_module_before_importing() -> None:
    loads: list[str] = []

    def load() -> type:
        loads.append("loaded")
        return FileSystemStorage

    assert derives_from(Sub(), FileSystemStorage.__module__, load)
    assert loads == ["loaded"]
    assert not derives_from(InMemoryStorage(), "storages.backends.s3", load)
    assert loads == ["loaded"]  # no class of that module in the MRO: nothing imported
    assert not derives_from(Sub(), FileSystemStorage.__module__, lambda: None)  # library missing


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
    adapter = GenericAdapter(InMemoryStorage())
    classified = adapter._classify(exc, "a.css")
    assert isinstance(classified, TransferError)
    assert str(classified) == "Generic S3 error: status 503 (a.css)"
    assert not adapter.is_transient(exc)  # unknown errors are not retried
    assert adapter.is_transient(TransferError("later", transient=True))
