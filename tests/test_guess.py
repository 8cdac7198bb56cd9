"""Write digests are worked out once per extension for storages whose
write parameters depend on a name only through its guessed type, and once
per name for any storage that builds them its own way (pure: no request)."""

from __future__ import annotations

import mimetypes
import posixpath
from typing import Any
from unittest import mock

import pytest
from storages.backends.azure_storage import AzureStorage
from storages.backends.s3 import S3Storage

from staticship.backends.azure import AzureAdapter
from staticship.backends.guess import _normal, type_key
from staticship.backends.s3 import S3Adapter
from staticship.records import Records

AZURITE = ("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
           "BlobEndpoint=http://127.0.0.1:9/devstoreaccount1;")
PARTS = ["", "a", "b.css", "b.css.", "B.CSS", "x.tar", "y.gz", "z.svgz", "w.tgz", ".", "..", "c.JS", "d.",
         ".hidden", "e.Z", "f.br", "g.css.gz", "h.map", "i:j.css", "k\\l.css", "m.unknownext"]
NAMES = sorted({"/".join(p for p in combo if p) for combo in
                ((a, b) for a in PARTS for b in PARTS)} | {"/x.css", "a//b.css", "a/./b.css"})


def test_names_with_one_key_get_one_guess() -> None:
    """The promise ``type_key`` makes: equal keys, equal ``guess_type`` for
    the name and for the key a storage under a location writes it to."""
    by_key: dict[str, set[Any]] = {}
    for name in NAMES:
        key = type_key(name)
        if key is not None:
            assert _normal(name) and posixpath.normpath(name) == name, name
            by_key.setdefault(key, set()).update(
                {mimetypes.guess_type(name), mimetypes.guess_type("static/" + name),
                 mimetypes.guess_type(name.strip("./"))})  # AzureStorage's blob name
    assert all(len(guesses) == 1 for guesses in by_key.values()), by_key
    assert {".css", ".CSS", ".JS", ".map"} <= set(by_key)
    # What mimetypes reads further into the name is never keyed by extension.
    for name in ("y.gz", "g.css.gz", "z.svgz", "w.tgz", "e.Z", "f.br", "i:j.css", "k\\l.css",
                 "a//b.css", "a/./b.css", "/x.css", "..", "a/..", "b.css.", "d."):
        assert type_key(name) is None, name


def s3(cls: type = S3Storage, **options: Any) -> S3Adapter:
    return S3Adapter(cls(bucket_name="b", access_key="k", secret_key="s", location="static",
                         **options), workers=2)


def records(adapter: Any) -> Records:
    return Records(adapter, calls=None, log=lambda _m, _v: None, report=None,  # type: ignore[arg-type]
                   state_name=".staticship/state.json")


FILES = ["app%d/%s" % (i, n) for i in range(5) for n in ("a.css", "b.js", "c.png", "d.css.gz")]


def test_a_stock_storage_works_out_parameters_once_per_extension() -> None:
    adapter = s3(object_parameters={"CacheControl": "max-age=60"})
    rec = records(adapter)
    with mock.patch.object(S3Storage, "_get_write_parameters", autospec=True,
                           side_effect=S3Storage._get_write_parameters) as spy:
        digests = {name: rec.write_digest(name) for name in FILES}
    # css, js, png once each; every .gz name on its own (its type is read further in).
    assert spy.call_count == 3 + 5
    fresh = records(s3(object_parameters={"CacheControl": "max-age=60"}))
    with mock.patch.object(S3Adapter, "options_key", return_value=None):
        assert digests == {name: fresh.write_digest(name) for name in FILES}
    assert len({digests[n] for n in FILES if n.endswith(".css")}) == 1
    assert digests["app0/a.css"] != digests["app0/b.js"]


class PerName(S3Storage):
    """Parameters by name: a stylesheet of app3 is kept for a day."""

    def get_object_parameters(self, name: str) -> dict[str, Any]:
        params = super().get_object_parameters(name)
        if "app3/" in name:
            params["CacheControl"] = "max-age=86400"
        return params


def test_a_storage_with_its_own_parameters_is_asked_for_every_name() -> None:
    rec = records(s3(PerName))
    digests = {name: rec.write_digest(name) for name in FILES}
    assert digests["app3/a.css"] != digests["app2/a.css"] == digests["app4/a.css"]


def test_a_method_set_on_the_instance_counts_as_its_own() -> None:
    adapter = s3()
    adapter.storage.get_object_parameters = lambda name: {"CacheControl": name}  # type: ignore[method-assign]
    rec = records(adapter)
    assert rec.write_digest("app0/a.css") != rec.write_digest("app1/a.css")


@pytest.mark.parametrize("overridden", [False, True])
def test_azure_keys_by_extension_unless_its_settings_are_its_own(overridden: bool) -> None:
    class Custom(AzureStorage):
        def get_object_parameters(self, name: str) -> dict[str, Any]:
            return {"cache_control": "max-age=%d" % len(name)}

    cls = Custom if overridden else AzureStorage
    adapter = AzureAdapter(cls(connection_string=AZURITE, azure_container="c", location=""),
                           workers=2)
    rec = records(adapter)
    first, second = rec.write_digest("a/x.css"), rec.write_digest("abc/x.css")
    assert (first != second) is overridden
    assert (adapter.options_key("a/x.css") is None) is overridden
