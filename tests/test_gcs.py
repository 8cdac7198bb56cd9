"""Google Cloud Storage: what only GCS has (gzip on upload, composite
objects, batch answers, the manifest class), over HTTP to fake-gcs-server
(or a live bucket). The scenarios both stores share are in
test_backends_common. Request counts are taken at the server by the test
bed; in live mode they come from staticship's own report.

Operation names (testbed.classify): ``List``; ``Upload`` (a JSON multipart
upload or an XML PUT, one request each); ``ResumableStart``/``UploadPart``/
``Commit`` (resumable uploads); ``Get``/``Head``; ``Delete``.
"""

from __future__ import annotations

import gzip
import hashlib
from collections import Counter
from typing import Any

import pytest
from django.contrib.staticfiles.storage import ManifestFilesMixin, ManifestStaticFilesStorage
from storages.backends.gcloud import GoogleCloudStorage

from staticship.backends.base import TransferError
from staticship.storages import GoogleCloudManifestStorage

from .conftest import GCSTarget, Tree, collectstatic, make_files
from .helpers import Tuned

MIB = 1024 * 1024
WRITES = ("Upload", "ResumableStart", "UploadPart", "Commit", "Compose", "Copy", "Delete",
          "Patch", "Batch")


def ops(gcs: GCSTarget, run: Any) -> Counter[str]:
    counts = gcs.counts()
    if counts is not None:
        return counts
    names = {"LIST": "List", "PUT": "Upload", "POST": "Upload", "GET": "Get", "DELETE": "Delete",
             "BATCH": "Batch"}
    found: Counter[str] = Counter()
    for kind, n in run.report.requests.items():
        found[names.get(kind, kind)] += n
    return found



def assert_holds(gcs: GCSTarget, expected: dict[str, bytes], location: str = "static") -> None:
    """The bucket under ``prefix`` holds exactly ``expected`` (relative name ->
    bytes as stored), compared through the MD5 the server computed."""
    listed = gcs.under(location)
    assert sorted(listed) == sorted(expected)
    for name, blob in listed.items():
        assert blob.md5_hash == _b64md5(expected[name]), name


def _b64md5(data: bytes) -> str:
    import base64

    return base64.b64encode(hashlib.md5(data).digest()).decode()


def test_gzip_on_upload_is_stable_and_equals_the_storage(gcs: GCSTarget, tree: Tree) -> None:
    css = b"body { margin: 0 }\n" * 300
    tree.write("css/site.css", css)
    tree.write("js/app.js", b"let x = 1;\n" * 200)
    tree.write("img/logo.png", b"\x89PNG" + b"\0" * 500)
    storages = gcs.settings(gzip=True)
    first = collectstatic(tree=tree, storages=storages)
    assert sorted(first.report.uploaded) == ["css/site.css", "img/logo.png", "js/app.js"]
    prefix = gcs.location() + "/"
    blobs = gcs.objects(prefix)
    assert blobs[prefix + "css/site.css"].content_encoding == "gzip"
    assert blobs[prefix + "css/site.css"].content_type == "text/css"
    assert blobs[prefix + "img/logo.png"].content_encoding is None
    stored = gcs.get(prefix + "css/site.css")
    assert gzip.decompress(stored) == css

    stock = collectstatic("--disable-staticship", tree=tree,
                          storages=gcs.settings(location="stock", gzip=True))
    assert "copied" in stock.output
    stock_prefix = gcs.location("stock") + "/"
    for name in ("css/site.css", "js/app.js", "img/logo.png"):
        assert gcs.get(stock_prefix + name) == gcs.get(prefix + name), name

    tree.touch_all()
    gcs.reset()
    second = collectstatic(tree=tree, storages=storages)
    assert second.report.uploaded == []
    counts = ops(gcs, second)
    assert sum(counts.values()) <= 3
    assert not any(counts[w] for w in WRITES)

    tree.write("css/site.css", css + b"p{}\n")
    third = collectstatic(tree=tree, storages=storages)
    assert third.report.uploaded == ["css/site.css"]
    assert gzip.decompress(gcs.get(prefix + "css/site.css")) == css + b"p{}\n"


def test_composite_objects_compare_by_crc32c(gcs: GCSTarget, tree: Tree,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Composite objects list a crc32c and no md5Hash. fake-gcs-server gives
    composed objects an MD5 anyway, so the listing is made to look composite:
    unchanged files are proven by CRC32C, an edited one is not."""
    from staticship.backends import gcs as gcs_backend

    make_files(tree, 12)
    storages = gcs.settings()
    collectstatic(tree=tree, storages=storages)
    original = gcs_backend.listing_token
    monkeypatch.setattr(gcs_backend, "listing_token", lambda md5, crc: original(None, crc))
    tree.touch_all()
    gcs.reset()
    warm = collectstatic(tree=tree, storages=storages)
    assert warm.report.uploaded == []
    assert not any(ops(gcs, warm)[w] for w in WRITES)
    name = sorted(tree.files)[5]
    tree.write(name, tree.files[name][::-1] + b"!")
    edited = collectstatic(tree=tree, storages=storages)
    assert edited.report.uploaded == [name]


def test_composed_object_is_recognised(gcs: GCSTarget, tree: Tree) -> None:
    """An object made with compose holds the same bytes: unchanged."""
    tree.write("big.bin", b"hello " + b"world")
    storages = gcs.settings()
    bucket = gcs.client.bucket(gcs.bucket)
    key = gcs.location() + "/big.bin"
    parts = [bucket.blob(key + ".p1"), bucket.blob(key + ".p2")]
    parts[0].upload_from_string(b"hello ")
    parts[1].upload_from_string(b"world")
    composed = bucket.blob(key)
    composed.content_type = "application/octet-stream"  # what the storage writes for it
    composed.compose(parts)
    for part in parts:
        part.delete()
    run = collectstatic(tree=tree, storages=storages)
    assert run.report.files == {"big.bin": "unchanged"}


PROPERTIES = ("contentType", "contentEncoding", "cacheControl", "contentDisposition",
              "contentLanguage", "metadata", "size", "md5Hash", "storageClass")


def _describe(gcs: GCSTarget, blob: Any) -> dict[str, Any]:
    props = blob._properties
    return {
        **{p: props.get(p) for p in PROPERTIES},
        "acl": sorted((a.get("entity"), a.get("role")) for a in props.get("acl") or []),
        "body": hashlib.md5(gcs.get(blob.name)).hexdigest(),
    }


CONFIGS = {
    "headers": {
        "object_parameters": {
            "cache_control": "public, max-age=31536000, immutable",
            "content_disposition": "inline",
            "content_language": "en",
            "metadata": {"release": "2026.11"},
        },
    },
    "acl-gzip": {
        "gzip": True,
        "default_acl": "publicRead",
        "object_parameters": {"cache_control": "max-age=60", "metadata": {"Release": "X"}},
    },
}


@pytest.mark.parametrize("config", sorted(CONFIGS))
@pytest.mark.parametrize("fast", [True, False], ids=["obstore", "through-storage"])
def test_objects_equal_what_the_storage_writes(gcs: GCSTarget, tree: Tree, fast: bool,
                                               config: str) -> None:
    tree.write("css/site.css", b"h1{}" * 100)
    tree.write("js/app.js", b"let a = 1;" * 50)
    tree.write("img/icon.svg", b"<svg/>" * 30)
    tree.write("fonts/x.woff2", b"\0\1\2" * 10)
    tree.write("data/archive.tar.gz", gzip.compress(b"tar", mtime=0))  # encoding from the name
    tree.write("noext", b"no extension")
    tree.write("odd name+1%.txt", b"odd")
    extra = CONFIGS[config]
    gcs.reset()
    ours = collectstatic(tree=tree, storages=gcs.settings(location="ours", **extra),
                         STATICSHIP_FAST_TRANSFER=fast)
    assert len(ours.report.uploaded) == len(tree.files)
    if gcs.control is not None:
        xml_puts = [r for r in gcs.control.requests("Upload") if not r["path"].startswith("/upload/")]
        if fast and config == "headers":
            # Everything but the gzip-encoded archive goes through obstore.
            assert len(xml_puts) == len(tree.files) - 1
        elif not fast:
            assert xml_puts == []
    collectstatic("--disable-staticship", tree=tree,
                  storages=gcs.settings(location="stock", **extra))
    ours_blobs = gcs.under("ours")
    stock_blobs = gcs.under("stock", records=True)
    assert sorted(ours_blobs) == sorted(stock_blobs) == sorted(tree.files)
    # Beside them, only the state record (each object's write digest).
    assert set(gcs.under("ours", records=True)) - set(ours_blobs) == {".staticship/state.json"}
    for name in ours_blobs:
        assert _describe(gcs, ours_blobs[name]) == _describe(gcs, stock_blobs[name]), name


class CustomSave(GoogleCloudStorage):
    """A subclass that writes its own way: uploads go through its _save."""

    saved: list[str] = []

    def _save(self, name: str, content: Any) -> str:
        CustomSave.saved.append(name)
        return super()._save(name, content)


def test_subclass_save_is_used(gcs: GCSTarget, tree: Tree) -> None:
    make_files(tree, 6)
    CustomSave.saved = []
    storages = gcs.settings("tests.test_gcs.CustomSave")
    run = collectstatic(tree=tree, storages=storages)
    assert sorted(CustomSave.saved) == sorted(tree.files)
    assert_holds(gcs, tree.files)
    again = collectstatic(tree=tree, storages=storages)
    assert again.report.uploaded == [] and run.report.uploaded


# -- batched deletes: answers as real GCS gives them --------------------------
# fake-gcs-server answers a batch with Go's dump of each response; real GCS
# answers with ``Content-ID: <response-ID>`` parts, in any order, each with
# its own status. These feed the adapter such answers for the batch it sent.

def _answer(sent: bytes, statuses: dict[int, tuple[int, str]], reverse: bool = False) -> Any:
    """A batch response in the JSON API's format: one part per Content-ID
    sent, 204 unless ``statuses`` says otherwise (by position)."""
    import re

    import requests

    ids = re.findall(rb"Content-ID: <([^>]+)>", sent)
    parts = []
    for index, content_id in enumerate(ids):
        status, message = statuses.get(index, (204, ""))
        if status == 204:
            http = b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"
        else:
            body = ('{"error": {"code": %d, "message": "%s", "errors": [{"message": "%s"}]}}'
                    % (status, message, message)).encode()
            http = (b"HTTP/1.1 %d Whatever\r\nContent-Type: application/json; charset=UTF-8\r\n"
                    b"Content-Length: %d\r\n\r\n" % (status, len(body))) + body
        parts.append(b"--batch_xyz\r\nContent-Type: application/http\r\nContent-ID: <response-"
                     + content_id + b">\r\n\r\n" + http + b"\r\n")
    if reverse:
        parts.reverse()
    response = requests.Response()
    response.status_code = 200
    response.headers["Content-Type"] = "multipart/mixed; boundary=batch_xyz"
    response._content = b"".join(parts) + b"--batch_xyz--\r\n"
    return response


@pytest.mark.parametrize("status,transient", [(403, False), (503, True)])
def test_batch_delete_failure_names_the_object(gcs: GCSTarget, monkeypatch: pytest.MonkeyPatch,
                                               status: int, transient: bool) -> None:
    from staticship.backends.gcs import GCSAdapter

    storage = GoogleCloudStorage(**gcs.storage_options())
    adapter = GCSAdapter(storage, workers=2)
    sent: list[bytes] = []

    def request(method: str, url: str, data: bytes, **kwargs: Any) -> Any:
        assert method == "POST" and url.endswith("/batch/storage/v1")
        sent.append(data)
        return _answer(data, {1: (404, "No such object"), 2: (status, "refused")}, reverse=True)

    monkeypatch.setattr(storage.client._http, "request", request)
    with pytest.raises(TransferError) as info:
        adapter.delete_many([adapter.prefix + n for n in ("a.js", "b.js", "c d.js", "e.js")])
    message = str(info.value)
    # The answers came in reverse order: matched by Content-ID, the third failed.
    assert "HTTP %d: refused" % status in message
    assert "(object %s/c d.js)" % gcs.location() in message
    assert info.value.transient is transient
    assert adapter.is_transient(info.value) is transient
    assert adapter.requests == Counter({"BATCH": 1})
    assert b"/o/static%2Fc%20d.js" in sent[0]


def test_batch_delete_of_missing_objects_is_no_error(gcs: GCSTarget,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from staticship.backends.gcs import GCSAdapter

    storage = GoogleCloudStorage(**gcs.storage_options())
    adapter = GCSAdapter(storage, workers=2)
    monkeypatch.setattr(storage.client._http, "request",
                        lambda method, url, data, **kw: _answer(data, {0: (404, "Not Found")}))
    adapter.delete_many([adapter.prefix + n for n in ("gone.js", "also.js")])
    assert adapter.requests == Counter({"BATCH": 1})


def test_batch_answer_that_is_not_multipart_fails(gcs: GCSTarget,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Never take silence for success: an answer without one part per
    object (as fake-gcs-server gives for parts lacking a Content-ID) fails."""
    import requests

    from staticship.backends.gcs import GCSAdapter

    storage = GoogleCloudStorage(**gcs.storage_options())
    adapter = GCSAdapter(storage, workers=2)

    def request(method: str, url: str, data: bytes, **kwargs: Any) -> Any:
        response = requests.Response()
        response.status_code = 200
        response.headers["Content-Type"] = "multipart/mixed; boundary=b"
        response._content = b"\r\n--b--\r\n"
        return response

    monkeypatch.setattr(storage.client._http, "request", request)
    with pytest.raises(TransferError, match="0 answers for 2 objects"):
        adapter.delete_many([adapter.prefix + n for n in ("a.js", "b.js")])


# -- manifest storage ---------------------------------------------------------
class TunedGCS(Tuned, GoogleCloudManifestStorage):
    pass


def test_manifest_class_mirrors_s3s() -> None:
    assert issubclass(GoogleCloudManifestStorage, ManifestFilesMixin)
    assert GoogleCloudManifestStorage.querystring_auth is False
    assert GoogleCloudManifestStorage.file_overwrite is True
    assert not issubclass(GoogleCloudManifestStorage, ManifestStaticFilesStorage)

