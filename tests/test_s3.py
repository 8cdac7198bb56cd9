"""S3: the core scenarios, over HTTP to moto's server (or a live bucket).

Request counts are taken at the server by the test bed; in live mode they
come from staticship's own report. The tests marked ``on_both_s3_servers``
run on s3rver too (the test bed's ``s3b``), an S3 server written by others
than moto's authors.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from collections import Counter
from typing import Any

import pytest
from django.core.management.base import CommandError

from .conftest import S3Target, Tree, collectstatic, make_files, on_both_s3_servers

MIB = 1024 * 1024
WRITES = ("PutObject", "UploadPart", "CreateMultipartUpload", "CompleteMultipartUpload",
          "DeleteObject", "DeleteObjects", "CopyObject")


def ops(s3: S3Target, run: Any) -> Counter[str]:
    """Requests of the last run by S3 operation (server-side when we can)."""
    counts = s3.counts()
    if counts is not None:
        return counts
    names = {"LIST": "ListObjectsV2", "PUT": "PutObject", "GET": "GetObject", "POST": "Post"}
    return Counter({names.get(k, k): v for k, v in run.report.requests.items()})


def expected_objects(s3: S3Target, tree: Tree, location: str = "static") -> dict[str, bytes]:
    prefix = s3.location(location)
    return {"%s/%s" % (prefix, name): data for name, data in tree.files.items()}


@on_both_s3_servers
def test_thousand_files_first_warm_and_edited(s3: S3Target, tree: Tree) -> None:
    make_files(tree, 1000)
    storages = s3.settings()
    prefix = storages["staticfiles"]["OPTIONS"]["location"] + "/"

    first = collectstatic(tree=tree, storages=storages)
    counts = ops(s3, first)
    assert counts["PutObject"] == 1001  # and the state record (the headers' digests)
    assert sum(counts.values()) - 1001 <= 3
    assert counts["ListObjectsV2"] == 1
    assert first.output.rstrip().endswith("1000 static files copied.")
    s3.assert_holds(prefix, expected_objects(s3, tree))

    # A fresh CI checkout: same content, every mtime newer.
    tree.touch_all()
    s3.reset()
    warm = collectstatic(tree=tree, storages=storages)
    counts = ops(s3, warm)
    assert sum(counts.values()) <= 3
    assert not any(counts[w] for w in WRITES)
    assert warm.output.rstrip().endswith("0 static files copied, 1000 unmodified.")

    edited = sorted(tree.files)[::100]
    for name in edited:
        tree.write(name, tree.files[name] + b"/* edited */")
    s3.reset()
    third = collectstatic(tree=tree, storages=storages)
    counts = ops(s3, third)
    # The listing (two pages: the state record is the 1,001st object) and the
    # ten files: the state record is neither read (its listed MD5 is that of
    # the record this run would write) nor written (it does not change).
    assert counts == {"ListObjectsV2": 2, "PutObject": 10}, counts
    assert sorted(third.report.uploaded) == edited
    assert third.output.rstrip().endswith("10 static files copied, 990 unmodified.")
    s3.assert_holds(prefix, expected_objects(s3, tree))


@on_both_s3_servers
def test_listing_of_two_pages_sees_every_object(s3: S3Target, tree: Tree) -> None:
    """1,050 objects: ListObjectsV2 answers in two pages (1,000 keys at most
    each) and the continuation token is the server's own. A no-change run
    finds every file, writes nothing and prunes nothing."""
    make_files(tree, 1050)
    storages = s3.settings()
    collectstatic(tree=tree, storages=storages)
    tree.touch_all()
    s3.reset()
    warm = collectstatic("--prune", tree=tree, storages=storages)
    assert warm.report.uploaded == [] and warm.report.deleted == []
    assert set(warm.report.files.values()) == {"unchanged"}
    counts = ops(s3, warm)
    assert counts["ListObjectsV2"] == 2
    assert not any(counts[w] for w in WRITES)
    assert len(s3.under()) == 1050


def test_same_size_edit_is_uploaded(s3: S3Target, tree: Tree) -> None:
    tree.write("css/site.css", b"body{color:red}")
    storages = s3.settings()
    collectstatic(tree=tree, storages=storages)
    tree.write("css/site.css", b"body{color:tan}")  # same length
    s3.reset()
    run = collectstatic(tree=tree, storages=storages)
    assert run.report.uploaded == ["css/site.css"]
    assert run.report.files["css/site.css"] == "changed"
    assert s3.get(storages["staticfiles"]["OPTIONS"]["location"] + "/css/site.css") == b"body{color:tan}"


def test_multipart_file_is_unchanged_on_the_second_run(s3: S3Target, tree: Tree) -> None:
    big = os.urandom(20 * MIB)
    tree.write("video/intro.mp4", big)
    tree.write("css/a.css", b"a{}")
    storages = s3.settings()
    first = collectstatic(tree=tree, storages=storages)
    counts = ops(s3, first)
    if not s3.live:
        assert counts["CreateMultipartUpload"] == 1
        assert counts["UploadPart"] == 3  # 8 MiB parts, boto3's default
    key = storages["staticfiles"]["OPTIONS"]["location"] + "/video/intro.mp4"
    etag = s3.objects(key)[key]["ETag"].strip('"')
    assert etag.endswith("-3")
    assert s3.get(key) == big

    tree.touch_all()
    s3.reset()
    second = collectstatic(tree=tree, storages=storages)
    assert second.report.uploaded == []
    assert sum(ops(s3, second).values()) <= 3

    # One byte changed inside a part: a new multipart ETag, so uploaded.
    tree.write("video/intro.mp4", big[:100] + bytes([big[100] ^ 1]) + big[101:])
    third = collectstatic(tree=tree, storages=storages)
    assert third.report.uploaded == ["video/intro.mp4"]


@on_both_s3_servers
def test_multipart_under_a_lowered_threshold(s3: S3Target, tree: Tree) -> None:
    """AWS_S3_TRANSFER_CONFIG at 5 MiB: a 12 MiB file goes in three parts.
    moto's ETag for it is AWS's ``md5(part md5s)-3``; s3rver's is the MD5 of
    the whole object. Either proves the bytes: the next run skips it, and a
    one-byte edit is uploaded again."""
    from boto3.s3.transfer import TransferConfig

    data = os.urandom(12 * MIB)
    tree.write("video/clip.mp4", data)
    tree.write("css/a.css", b"a{}")
    storages = s3.settings(transfer_config=TransferConfig(
        multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB))
    key = s3.location() + "/video/clip.mp4"
    first = collectstatic(tree=tree, storages=storages)
    assert sorted(first.report.uploaded) == ["css/a.css", "video/clip.mp4"]
    counts = ops(s3, first)
    if not s3.live:
        assert counts["CreateMultipartUpload"] == 1 and counts["UploadPart"] == 3
        assert counts["CompleteMultipartUpload"] == 1
    parts = b"".join(hashlib.md5(data[i:i + 5 * MIB]).digest() for i in range(0, len(data), 5 * MIB))
    etag = s3.objects(key)[key]["ETag"].strip('"')
    if s3.server == "s3rver":
        assert etag == hashlib.md5(data).hexdigest()
    else:
        assert etag == hashlib.md5(parts).hexdigest() + "-3"
    assert s3.get(key) == data

    tree.touch_all()
    s3.reset()
    second = collectstatic(tree=tree, storages=storages)
    assert second.report.files == {"css/a.css": "unchanged", "video/clip.mp4": "unchanged"}
    counts = ops(s3, second)
    assert not any(counts[w] for w in WRITES) and sum(counts.values()) <= 3

    edited = data[:100] + bytes([data[100] ^ 1]) + data[101:]
    tree.write("video/clip.mp4", edited)
    third = collectstatic(tree=tree, storages=storages)
    assert third.report.uploaded == ["video/clip.mp4"]
    assert s3.get(key) == edited


def test_object_uploaded_in_other_part_sizes_is_recognised(s3: S3Target, tree: Tree) -> None:
    """Another tool uploaded the same bytes in 5 MiB parts: the ETag differs
    from ours but is still proven equal by trying that part size."""
    from boto3.s3.transfer import TransferConfig

    data = os.urandom(12 * MIB)
    tree.write("big.bin", data)
    storages = s3.settings()
    key = storages["staticfiles"]["OPTIONS"]["location"] + "/big.bin"
    import io

    s3.client.upload_fileobj(
        io.BytesIO(data), s3.bucket, key,
        ExtraArgs={"ContentType": "application/octet-stream"},
        Config=TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB),
    )
    assert s3.objects(key)[key]["ETag"].strip('"').endswith("-3")
    s3.reset()
    run = collectstatic(tree=tree, storages=storages)
    assert run.report.files == {"big.bin": "unchanged"}


@on_both_s3_servers
def test_gzip_on_upload_is_stable_and_equals_the_storage(s3: S3Target, tree: Tree) -> None:
    css = b"body { margin: 0 }\n" * 300
    tree.write("css/site.css", css)
    tree.write("img/logo.png", b"\x89PNG" + b"\0" * 500)
    storages = s3.settings(gzip=True)
    first = collectstatic(tree=tree, storages=storages)
    assert sorted(first.report.uploaded) == ["css/site.css", "img/logo.png"]
    location = storages["staticfiles"]["OPTIONS"]["location"]
    head = s3.head(location + "/css/site.css")
    assert head["ContentEncoding"] == "gzip"
    assert head["ContentType"] == "text/css"
    stored = s3.get(location + "/css/site.css")
    assert gzip.decompress(stored) == css
    assert "ContentEncoding" not in s3.head(location + "/img/logo.png")

    # The stock command (through the storage) writes the very same bytes.
    stock = collectstatic("--disable-staticship", tree=tree, storages=s3.settings("storages.backends.s3.S3Storage", "stock", gzip=True))
    assert "copied" in stock.output
    stock_location = s3.location("stock")
    assert s3.get(stock_location + "/css/site.css") == stored

    tree.touch_all()
    s3.reset()
    second = collectstatic(tree=tree, storages=storages)
    assert second.report.uploaded == []
    assert sum(ops(s3, second).values()) <= 3


@on_both_s3_servers
def test_opaque_etags_use_the_state_record(s3: S3Target, tree: Tree) -> None:
    """SSE-KMS ETags look like MD5s but are not: the state record proves
    content, a no-change run stays read-only, and edits are still seen."""
    if s3.live:
        pytest.skip("needs the test bed's opaque ETag mode")
    s3.control.faults(opaque_etags=True)
    make_files(tree, 20)
    storages = s3.settings()
    first = collectstatic(tree=tree, storages=storages)
    counts = s3.counts()
    assert counts["PutObject"] == 21  # 20 files and the state record
    assert sum(counts.values()) - 20 <= 3

    tree.touch_all()
    s3.control.reset()
    s3.control.faults(opaque_etags=True)
    warm = collectstatic(tree=tree, storages=storages)
    counts = s3.counts()
    assert warm.report.uploaded == []
    assert counts == Counter({"ListObjectsV2": 1, "GetObject": 1})

    name = sorted(tree.files)[3]
    tree.write(name, tree.files[name][::-1] + b"!")
    s3.control.reset()
    s3.control.faults(opaque_etags=True)
    edited = collectstatic(tree=tree, storages=storages)
    assert edited.report.uploaded == [name]
    counts = s3.counts()
    assert counts["PutObject"] == 2  # the file and the updated record
    assert sum(counts.values()) - 1 <= 3
    assert first.report is not None


def test_foreign_non_md5_etag_is_uploaded_then_stable(s3: S3Target, tree: Tree) -> None:
    """An object whose ETag proves nothing (no record vouches for it) is
    replaced rather than trusted; the next run is clean."""
    if s3.live:
        pytest.skip("needs the test bed's opaque ETag mode")
    tree.write("js/app.js", b"console.log(1)")
    storages = s3.settings()
    key = storages["staticfiles"]["OPTIONS"]["location"] + "/js/app.js"
    s3.control.faults(opaque_etags=True)
    s3.client.put_object(Bucket=s3.bucket, Key=key, Body=b"console.log(1)")
    run = collectstatic(tree=tree, storages=storages)
    assert run.report.files == {"js/app.js": "changed"}
    again = collectstatic(tree=tree, storages=storages)
    assert again.report.files == {"js/app.js": "unchanged"}


HEADERS = ("ContentType", "ContentEncoding", "CacheControl", "ContentDisposition", "Metadata",
           "ContentLength", "ETag")


def _describe(s3: S3Target, key: str) -> dict[str, Any]:
    head = s3.head(key)
    # s3rver keeps no ACLs (it answers every GetObjectAcl with one fixed stub).
    grants = s3.client.get_object_acl(Bucket=s3.bucket, Key=key)["Grants"] if s3.server == "moto" else []
    return {
        **{h: head.get(h) for h in HEADERS},
        "grants": sorted((g["Permission"], str(g["Grantee"].get("URI"))) for g in grants),
        "body": hashlib.md5(s3.get(key)).hexdigest(),
    }


@on_both_s3_servers
@pytest.mark.parametrize("fast", [True, False], ids=["obstore", "through-storage"])
def test_objects_equal_what_the_storage_writes(s3: S3Target, tree: Tree, fast: bool) -> None:
    """Key, ACL, object parameters, content type, encoding and gzip: the
    objects staticship writes equal those stock collectstatic writes."""
    tree.write("css/site.css", b"h1{}" * 100)
    tree.write("js/app.js", b"let a = 1;" * 50)
    tree.write("fonts/x.woff2", b"\0\1\2" * 10)
    tree.write("data/archive.tar.gz", b"\x1f\x8b" + b"\0" * 20)  # encoding guessed from name
    tree.write("odd name+1%.txt", b"odd")
    extra = {
        "gzip": True,
        "default_acl": "public-read",
        "object_parameters": {
            "CacheControl": "max-age=31536000, immutable",
            "Metadata": {"release": "2026.11"},
            "ContentDisposition": "inline",
        },
    }
    ours = collectstatic(tree=tree, storages=s3.settings(location="ours", **extra),
                         STATICSHIP_FAST_TRANSFER=fast)
    assert len(ours.report.uploaded) == 5
    collectstatic("--disable-staticship", tree=tree, storages=s3.settings(location="stock", **extra))
    ours_prefix = s3.location("ours") + "/"
    stock_prefix = s3.location("stock") + "/"
    ours_keys = sorted(k[len(ours_prefix):] for k in s3.objects(ours_prefix)
                       if not k[len(ours_prefix):].startswith(".staticship/"))
    assert ours_keys == sorted(k[len(stock_prefix):] for k in s3.objects(stock_prefix))
    assert ours_keys == sorted(tree.files)
    for name in ours_keys:
        assert _describe(s3, ours_prefix + name) == _describe(s3, stock_prefix + name), name


def test_dry_run_writes_nothing(s3: S3Target, tree: Tree) -> None:
    make_files(tree, 12)
    s3.reset()
    run = collectstatic("--dry-run", tree=tree, storages=s3.settings())
    counts = ops(s3, run)
    assert not any(counts[w] for w in WRITES)
    assert run.output.count("Would upload") == 12
    assert s3.objects("") == {}


def test_disabled_runs_the_stock_command(s3: S3Target, tree: Tree) -> None:
    if s3.live:
        pytest.skip("compares server-side request patterns")
    make_files(tree, 3)
    storages = s3.settings()
    for args, settings in ((("--disable-staticship",), {}), ((), {"STATICSHIP_ENABLED": False})):
        s3.reset()
        run = collectstatic(*args, tree=tree, storages=storages, **settings)
        assert run.report is None
        counts = s3.counts()
        # Stock asks per file: exists() (a HEAD) before each save.
        assert counts["HeadObject"] >= 3
        assert counts["ListObjectsV2"] == 0


def test_duplicates_keep_the_first_and_warn(s3: S3Target, tree: Tree, tmp_path: Any) -> None:
    tree.write("css/a.css", b"first")
    other = Tree(tmp_path / "other")
    other.write("css/a.css", b"second")
    storages = s3.settings()
    run = collectstatic("-v", "2", storages=storages,
                        STATICFILES_DIRS=[str(tree.root), str(other.root)])
    assert "Found another file with the destination path 'css/a.css'" in run.output
    assert run.report.skipped == ["css/a.css"]
    assert s3.get(storages["staticfiles"]["OPTIONS"]["location"] + "/css/a.css") == b"first"


def test_ignore_patterns(s3: S3Target, tree: Tree) -> None:
    tree.write("css/a.css", b"a")
    tree.write("css/a.less", b"b")
    tree.write(".hidden", b"c")
    run = collectstatic("-i", "*.less", tree=tree, storages=s3.settings())
    assert sorted(run.report.files) == ["css/a.css"]
    run = collectstatic("-i", "*.less", "--no-default-ignore", tree=tree, storages=s3.settings())
    assert sorted(run.report.files) == [".hidden", "css/a.css"]


def test_clear_removes_only_stale_files_in_the_location(s3: S3Target, tree: Tree) -> None:
    storages = s3.settings()
    location = storages["staticfiles"]["OPTIONS"]["location"]
    s3.client.put_object(Bucket=s3.bucket, Key=location + "/old/gone.js", Body=b"x")
    s3.client.put_object(Bucket=s3.bucket, Key=location + "-other/keep.js", Body=b"x")
    tree.write("js/app.js", b"app")
    run = collectstatic("--clear", tree=tree, storages=storages)
    assert run.report.deleted == ["old/gone.js"]
    keys = set(s3.objects(""))
    assert location + "/js/app.js" in keys
    assert location + "/old/gone.js" not in keys
    assert location + "-other/keep.js" in keys


def test_link_refuses_a_remote_destination(s3: S3Target, tree: Tree) -> None:
    tree.write("a.css", b"a")
    with pytest.raises(CommandError, match="Can't symlink to a remote destination"):
        collectstatic("--link", tree=tree, storages=s3.settings())


def test_a_failing_upload_fails_the_run_clearly(s3: S3Target, tree: Tree) -> None:
    if s3.live:
        pytest.skip("needs the test bed's fault injection")
    make_files(tree, 30)
    s3.control.faults(fail_writes_after=5, fail_status=403)
    with pytest.raises(CommandError) as info:
        collectstatic(tree=tree, storages=s3.settings())
    message = str(info.value)
    assert "failed: access denied" in message and "Fix: " in message


def test_adapter_setting_names_the_adapter(s3: S3Target, tree: Tree) -> None:
    tree.write("a.css", b"a")
    run = collectstatic(tree=tree, storages=s3.settings(),
                        STATICSHIP_ADAPTER="staticship.backends.generic.GenericAdapter")
    assert run.report.backend == "generic"
    assert run.report.files == {"a.css": "new"}


def test_listing_survives_keys_obstore_cannot_represent(s3: S3Target, tree: Tree) -> None:
    """A key with a '..' segment (put there by another tool) makes obstore's
    listing fail; staticship then lists with boto3, which takes any key."""
    tree.write("css/a.css", b"a")
    storages = s3.settings()
    location = storages["staticfiles"]["OPTIONS"]["location"]
    s3.client.put_object(Bucket=s3.bucket, Key=location + "/odd/../x.txt", Body=b"x")
    first = collectstatic(tree=tree, storages=storages)
    assert first.report.files == {"css/a.css": "new"}
    s3.reset()
    second = collectstatic(tree=tree, storages=storages)
    assert second.report.files == {"css/a.css": "unchanged"}
    counts = ops(s3, second)
    if not s3.live:
        assert counts["ListObjectsV2"] == 2  # obstore's page, then boto3's
        assert not any(counts[w] for w in WRITES)


def test_only_files_sent_as_they_are_are_hashed_ahead() -> None:
    """The listing overlaps with hashing the sources, but a gzipped body's
    MD5 is not the source's: those files wait for the hash phase."""
    from django.core.files.storage import InMemoryStorage
    from storages.backends.s3 import S3Storage

    from staticship.backends.s3 import S3Adapter
    from staticship.sources import LocalFile

    def file(name: str, path: str = "/src/") -> LocalFile:
        return LocalFile(name, InMemoryStorage(), name, path + name if path else "")

    plain = S3Adapter(S3Storage(bucket_name="b", access_key="k", secret_key="s"), workers=4)
    gzipping = S3Adapter(S3Storage(bucket_name="b", access_key="k", secret_key="s", gzip=True), workers=4)
    assert plain.hashes_source(file("app.css")) and plain.hashes_source(file("logo.png"))
    assert not gzipping.hashes_source(file("app.css"))
    assert gzipping.hashes_source(file("logo.png"))
    assert not plain.hashes_source(file("app.css", path=""))  # no local path: nothing to read ahead


def test_warm_up_builds_the_shared_client_in_the_background() -> None:
    """A manifest run reads the state record through boto3: its client is
    built on another thread while the listing runs (no request is sent). A
    storage with its own connection, or a build that fails, is left alone
    (the first real use builds it, or raises)."""
    import threading

    from storages.backends.s3 import S3Storage

    from staticship.backends.s3 import S3Adapter

    class OwnConnection(S3Storage):
        @property
        def connection(self) -> Any:
            raise AssertionError("built in the background")

    adapter = S3Adapter(S3Storage(bucket_name="b", access_key="k", secret_key="s",
                                  endpoint_url="http://127.0.0.1:9"), workers=4)
    if adapter._fast is None:
        pytest.skip("obstore is not installed: boto3 lists, and builds the client then")
    adapter.warm_up()
    builder = next(t for t in threading.enumerate() if t.name == "staticship-client")
    builder.join(30)
    assert adapter._boto._client is not None
    own = S3Adapter(OwnConnection(bucket_name="b", access_key="k", secret_key="s"), workers=4)
    own.warm_up()
    assert not [t for t in threading.enumerate() if t.name == "staticship-client"]
    broken = S3Adapter(S3Storage(bucket_name="b", access_key="k", secret_key="s",
                                 endpoint_url="not a url"), workers=4)
    broken.warm_up()
    for thread in [t for t in threading.enumerate() if t.name == "staticship-client"]:
        thread.join(30)
    assert broken._boto._client is None
