"""A listing in key ranges side by side (backends/ranges.py): the ranges
cover every key once whatever the bucket holds besides the expected names,
through obstore and boto3, on both S3 servers of the test bed; a store that
ignores ``start-after`` costs requests, never a key."""

from __future__ import annotations

from collections import Counter
from typing import Any
from unittest import mock

import pytest

from staticship.backends import ranges
from staticship.backends.s3 import S3Adapter

from .conftest import S3Target, Tree, collectstatic, on_both_s3_servers


def test_cuts_fall_at_expected_keys_and_cover_everything() -> None:
    keys = ["k%03d" % i for i in range(10)]
    with mock.patch.multiple(ranges, PER_RANGE=3, MOST=3):
        cut = ranges.cut(reversed(keys))
        assert cut == [(None, "k003"), ("k003", "k006"), ("k006", None)]
        assert ranges.cut(keys[:5]) == [(None, None)]  # too few for two ranges
    for key in ["", "a", "k003", "k0030", "k005", "k006", "k999", "\U0001f600"]:
        assert sum(ranges.within(key, bounds) == 0 for bounds in cut) == 1, key
    assert ranges.within("k003", (None, "k003")) == 0
    assert ranges.within("k003", ("k003", "k006")) == -1
    assert ranges.within("k0030", (None, "k003")) == 1


def test_keys_order_by_their_utf8_bytes() -> None:
    """What ``within`` relies on: code point order is UTF-8 byte order."""
    keys = ["a", "a/b", "a.b", "z", "é", "\uffff", "\U00010000", "\U0001f600", "~", "A"]
    assert sorted(keys) == sorted(keys, key=lambda k: k.encode())


def plant(s3: S3Target, location: str) -> set[str]:
    """Objects the run does not expect, in every range and on the bounds' edges."""
    extra = {"app0/css/0.css", "app2/css/a.css", "app2/css/file0002.css.x", "zz/last.txt",
             "app1/js/file0001.js~", "0-first.txt"}
    for name in extra:
        s3.client.put_object(Bucket=s3.bucket, Key=location + "/" + name, Body=b"x")
    return extra


def s3_adapter(storages: dict[str, Any]) -> S3Adapter:
    """An adapter over the storage ``storages`` configures."""
    from django.core.files.storage import storages as django_storages
    from django.test import override_settings

    with override_settings(STORAGES=storages):
        return S3Adapter(django_storages.create_storage(storages["staticfiles"]), workers=4)


@on_both_s3_servers
@pytest.mark.parametrize("client", ["obstore", "boto3"])
def test_a_listing_in_ranges_is_the_whole_listing(s3: S3Target, tree: Tree, client: str) -> None:
    if s3.live:
        pytest.skip("counts requests at the test bed")
    for i in range(12):
        tree.write("app%d/%s/file%04d.%s" % (i % 3, ("css", "js")[i % 2], i, ("css", "js")[i % 2]),
                   b"/* %d */" % i)
    storages = s3.settings()
    location = storages["staticfiles"]["OPTIONS"]["location"]
    collectstatic(tree=tree, storages=storages)
    extra = plant(s3, location)
    adapter = s3_adapter(storages)
    if client == "boto3":
        adapter._fast = None
    whole = adapter.inventory()
    assert set(whole) >= extra | set(tree.files) and len(whole) == len(extra) + 12 + 1
    s3.reset()
    with mock.patch.multiple(ranges, PER_RANGE=4, MOST=3):
        assert len(ranges.cut(tree.files)) == 3
        split = adapter.inventory(list(tree.files))
    assert split == whole
    counts: Counter[str] = s3.counts() or Counter()
    assert counts == {"ListObjectsV2": 3}, counts


def test_a_store_that_ignores_start_after_loses_no_key(s3: S3Target, tree: Tree) -> None:
    """boto3 with StartAfter dropped from every request: each range lists
    from the start, and keys at or below its lower bound are dropped here."""
    if s3.live:
        pytest.skip("counts requests at the test bed")
    for i in range(9):
        tree.write("f%02d.txt" % i, b"%d" % i)
    storages = s3.settings()
    collectstatic(tree=tree, storages=storages)
    adapter = s3_adapter(storages)
    adapter._fast = None
    whole = adapter.inventory()

    def drop(params: dict[str, Any], **_: Any) -> None:
        params.pop("StartAfter", None)

    adapter.client.meta.events.register("before-parameter-build.s3.ListObjectsV2", drop)
    with mock.patch.multiple(ranges, PER_RANGE=3, MOST=3):
        assert adapter.inventory(list(tree.files)) == whole
