"""The helpers every backend shares (staticship.backends.base)."""

from __future__ import annotations

import sys
from unittest import mock

from django.core.files.storage import FileSystemStorage, InMemoryStorage

from staticship.backends.base import (
    TransferError, batches, derives_from, first_line, overrides, storage_class,
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
    adapter = GenericAdapter(InMemoryStorage())
    classified = adapter._classify(exc, "a.css")
    assert isinstance(classified, TransferError)
    assert str(classified) == "Generic S3 error: status 503 (a.css)"
    assert not adapter.is_transient(exc)  # unknown errors are not retried
    assert adapter.is_transient(TransferError("later", transient=True))
