"""Deletes hit exactly the keys that were listed (issue 11, item 1), and the
runs whose --prune cannot be honoured say so (items 4, 5); a Ctrl-C says
what is true at the point it interrupts (item 14)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.staticfiles.storage import StaticFilesStorage
from django.core.management.base import CommandError

from .conftest import AzureTarget, GCSTarget, S3Target, Tree, collectstatic
from .helpers import TunedS3, s3_settings, write_site


def site(tree: Tree, count: int = 2) -> None:
    for i in range(count):
        tree.write("css%d/style%d.css" % (i, i), b"body { order: %d }\n" % i)


def files_under(objects: Any, prefix: str) -> set[str]:
    """The keys of ``objects`` under ``prefix``, staticship's records left out."""
    return {k for k in objects if not k[len(prefix):].startswith(".staticship/")}


# -- item 1: delete the key that was listed -----------------------------------


@pytest.fixture(autouse=True)
def prune_fresh_objects(settings: Any) -> None:
    """These runs prune objects written a moment ago: no age floor."""
    settings.STATICSHIP_PRUNE_MIN_AGE = 0


@pytest.mark.parametrize("stray", ["css0/zz/../style0.css", "/css0/style0.css", "css0/./style0.css"])
def test_s3_prune_deletes_the_stray_key_not_the_live_one(s3: S3Target, tree: Tree, stray: str) -> None:
    """A stray object whose key normalises to a live file's key: --prune
    deletes the stray object itself, and the live file stays."""
    site(tree)
    storages = s3.settings()
    prefix = s3.location() + "/"
    collectstatic(tree=tree, storages=storages)
    s3.client.put_object(Bucket=s3.bucket, Key=prefix + stray, Body=b"stray")
    run = collectstatic("--prune", tree=tree, storages=storages)
    assert run.report.deleted == [stray]
    assert files_under(s3.objects(prefix), prefix) == {prefix + n for n in tree.files}
    for name, data in tree.files.items():
        assert s3.get(prefix + name) == data


def test_azure_prune_keeps_a_file_stored_under_another_key(azure: AzureTarget, tree: Tree) -> None:
    """AzureStorage stores a source named ``weird.`` as blob ``weird`` (a blob
    name must not end with a dot): the listing shows ``weird``, which is no
    local name, yet it is the live file."""
    site(tree)
    tree.write("weird.", b"weird")
    storages = azure.settings()
    prefix = azure.location() + "/"
    collectstatic(tree=tree, storages=storages)
    assert azure.get(prefix + "weird") == b"weird"
    run = collectstatic("--prune", tree=tree, storages=storages)
    assert run.report.deleted == []
    assert "Keeping 'weird': a file this deployment keeps is stored under its key." in run.output
    assert files_under(azure.objects(prefix), prefix) == {prefix + n for n in ("css0/style0.css", "css1/style1.css", "weird")}
    assert azure.get(prefix + "weird") == b"weird"


@pytest.mark.parametrize("stray", ["/css0/style0.css", "css0//style0.css"])
def test_azure_prune_deletes_the_stray_key_not_the_live_one(azure: AzureTarget, tree: Tree,
                                                          stray: str) -> None:
    """(Blob names with dot segments cannot be written: the service
    normalises the URL, so only doubled slashes can stray here.)"""
    site(tree)
    storages = azure.settings()
    prefix = azure.location() + "/"
    collectstatic(tree=tree, storages=storages)
    azure.client.upload_blob(prefix + stray, b"stray")
    assert prefix + stray in azure.objects(prefix)
    run = collectstatic("--prune", tree=tree, storages=storages)
    assert run.report.deleted == [stray]
    assert files_under(azure.objects(prefix), prefix) == {prefix + n for n in tree.files}
    for name, data in tree.files.items():
        assert azure.get(prefix + name) == data


@pytest.mark.parametrize("stray", ["css0/zz/../style0.css", "/css0/style0.css", "css0/./style0.css"])
def test_gcs_prune_deletes_the_stray_key_not_the_live_one(gcs: GCSTarget, tree: Tree,
                                                        stray: str) -> None:
    site(tree)
    storages = gcs.settings()
    prefix = gcs.location() + "/"
    collectstatic(tree=tree, storages=storages)
    gcs.client.bucket(gcs.bucket).blob(prefix + stray).upload_from_string(b"stray")
    assert prefix + stray in gcs.objects(prefix)
    run = collectstatic("--prune", tree=tree, storages=storages)
    assert run.report.deleted == [stray]
    assert files_under(gcs.objects(prefix), prefix) == {prefix + n for n in tree.files}
    for name, data in tree.files.items():
        assert gcs.get(prefix + name) == data


def test_deletable_spares_unlisted_keys_and_keys_of_kept_names() -> None:
    """Pure logic: a listed object goes by its own key; one without a key, or
    whose key a kept name maps to, stays (with the reason)."""
    from django.core.exceptions import SuspiciousOperation
    from django.core.files.storage import InMemoryStorage

    from staticship.backends.generic import GenericAdapter
    from staticship.plan import RemoteState

    class Stripping(GenericAdapter):
        def key(self, name: str) -> str:
            if name.startswith("/"):
                raise SuspiciousOperation(name)
            return "loc/" + name.rstrip(".")

    adapter = Stripping(InMemoryStorage(), workers=4)
    stale = {
        "weird": RemoteState("t", 1, key="loc/weird"),
        "a//b": RemoteState("t", 1, key="loc/a//b"),
        "gone": RemoteState("t", 1),
    }
    doomed, spared = adapter.deletable(stale, ["weird.", "/escapes", "a/b"])
    assert doomed == {"a//b": "loc/a//b"}
    assert spared == {
        "weird": "a file this deployment keeps is stored under its key",
        "gone": "the listing gave no key to delete it by",
    }


# -- item 4: --prune --no-post-process ------------------------------------------

def test_prune_without_post_processing_is_refused_before_any_request(s3: S3Target,
                                                                     tree: Tree) -> None:
    """A manifest storage's live deployment (manifest and hashed files) is
    made by post-processing: --prune --no-post-process would delete all of
    it. The run stops before its first request, naming both options."""
    write_site(tree)
    storages = s3_settings(s3, TunedS3)
    collectstatic(tree=tree, storages=storages)
    before = {k: v["ETag"] for k, v in s3.objects(s3.location() + "/").items()}
    s3.reset()
    for extra in ((), ("--dry-run",)):
        with pytest.raises(CommandError) as info:
            collectstatic("--prune", "--no-post-process", *extra, tree=tree, storages=storages)
        message = str(info.value)
        assert "--prune with --no-post-process" in message and "\n" not in message
        assert "drop --no-post-process, or drop --prune" in message
    assert not s3.control.requests()
    assert {k: v["ETag"] for k, v in s3.objects(s3.location() + "/").items()} == before


def test_clear_without_post_processing_keeps_stocks_meaning(s3: S3Target, tree: Tree) -> None:
    """--clear is unaffected: the destination ends holding what this run
    collected (the unprocessed files), as stock leaves it."""
    write_site(tree)
    storages = s3_settings(s3, TunedS3)
    collectstatic(tree=tree, storages=storages)
    collectstatic("--clear", "--no-post-process", tree=tree, storages=storages)
    assert set(s3.under()) == set(tree.files)


# -- item 5: --prune where stock runs --------------------------------------------

class Processing(StaticFilesStorage):
    """A storage that post-processes its own way: staticship runs stock."""

    def post_process(self, paths: Any, dry_run: bool = False, **options: Any) -> Any:
        yield from ()


def test_prune_on_a_stock_fallback_says_it_is_ignored(tree: Tree, tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "stale.css").write_bytes(b"old")
    tree.write("a.css", b"a")
    storages = {
        "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
        "staticfiles": {"BACKEND": "%s.%s" % (__name__, Processing.__qualname__),
                        "OPTIONS": {"location": str(root)}},
    }
    run = collectstatic("--prune", tree=tree, storages=storages, STATIC_ROOT=str(root))
    lines = [line for line in run.output.splitlines() if "--prune" in line]
    assert lines == [(
        "--prune is ignored: Processing post-processes without a manifest, and its "
        "post_process() may read the destination, so Django's stock collectstatic runs, "
        "and it does not prune."
    )]
    assert (root / "stale.css").read_bytes() == b"old"
    assert (root / "a.css").read_bytes() == b"a"
    plain = collectstatic(tree=tree, storages=storages, STATIC_ROOT=str(root))
    assert "--prune" not in plain.output


# -- item 14: what a Ctrl-C message says, by phase ------------------------------

def interrupted(*args: str, tree: Tree, storages: dict[str, Any], **settings: Any) -> str:
    """Run collectstatic expecting Ctrl-C's error; its one line."""
    with pytest.raises(CommandError) as info:
        collectstatic(*args, tree=tree, storages=storages, **settings)
    assert info.value.returncode == 130
    message = str(info.value)
    assert "\n" not in message
    return message


def ctrl_c_during_upload(monkeypatch: pytest.MonkeyPatch, adapter: type, spare: str = "",
                         only: str = "") -> list[str]:
    """Press Ctrl-C while the first upload (other than of ``spare``; of
    ``only`` if given) is in flight: the main thread, waiting on the
    uploads, gets KeyboardInterrupt, and that upload then finishes, as one
    in flight does. (Raised in-process: a SIGINT sent to the main thread
    with pthread_kill was, in 3 of 8 runs here, taken only once the uploads
    it waited on had ended, so a signal cannot place the interrupt.)
    Returns the names uploaded."""
    import threading

    from staticship import apply

    in_flight = threading.Event()
    transfers: list[Any] = []
    real_wait, real_one = apply.wait, apply.Transfers._one

    def wait(*args: Any, **kwargs: Any) -> Any:
        if in_flight.is_set() and not transfers[0]._stop.is_set():
            raise KeyboardInterrupt
        if not in_flight.is_set():
            kwargs["timeout"] = 0.01  # look again soon: the caller loops while any is pending
        return real_wait(*args, **kwargs)

    def one(self: Any, item: Any) -> Any:
        transfers[:] = [self]
        return real_one(self, item)

    monkeypatch.setattr(apply, "wait", wait)
    monkeypatch.setattr(apply.Transfers, "_one", one)
    original = adapter.upload
    seen: list[str] = []

    def upload(self: Any, item: Any) -> Any:
        name = item.file.name
        if not in_flight.is_set() and name != spare and (not only or name == only):
            in_flight.set()
            assert transfers[0]._stop.wait(60), "the interrupt was not taken"
        seen.append(name)
        return original(self, item)

    monkeypatch.setattr(adapter, "upload", upload)
    return seen


def raise_interrupt(monkeypatch: pytest.MonkeyPatch, cls: type, method: str) -> None:
    def interrupt(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(cls, method, interrupt)


def test_ctrl_c_while_listing_says_nothing_was_written(s3: S3Target, tree: Tree,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from staticship.backends.s3 import S3Adapter

    write_site(tree)
    raise_interrupt(monkeypatch, S3Adapter, "inventory")
    message = interrupted(tree=tree, storages=s3_settings(s3, TunedS3))
    assert message.startswith("Interrupted before anything was written")
    assert s3.objects(s3.location() + "/") == {}


def test_ctrl_c_during_uploads_before_the_manifest(s3: S3Target, tree: Tree,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from staticship.backends.s3 import S3Adapter

    write_site(tree)
    storages = s3_settings(s3, TunedS3)
    collectstatic(tree=tree, storages=storages)
    manifest_key = s3.location() + "/assets.json"
    live = s3.get(manifest_key)
    tree.write("css/base.css", b"body { color: blue }\n")
    seen = ctrl_c_during_upload(monkeypatch, S3Adapter, spare="assets.json")
    message = interrupted(tree=tree, storages=storages)
    assert message.startswith("Interrupted while uploading, before the manifest")
    assert "previous deployment is still served" in message
    assert seen and "assets.json" not in seen
    assert s3.get(manifest_key) == live


def test_ctrl_c_while_the_manifest_is_in_flight_says_it_is_live(
        s3: S3Target, tree: Tree, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C lands while the manifest's upload is on the wire: the upload
    finishes (uploads in flight are never cut), so the new deployment is
    live, and the message says so, not that the previous one is served."""
    from staticship.backends.s3 import S3Adapter

    write_site(tree)
    storages = s3_settings(s3, TunedS3)
    collectstatic(tree=tree, storages=storages)
    live = s3.get(s3.location() + "/assets.json")
    tree.write("css/base.css", b"body { color: blue }\n")
    ctrl_c_during_upload(monkeypatch, S3Adapter, only="assets.json")
    message = interrupted(tree=tree, storages=storages)
    assert message.startswith("Interrupted after the new deployment was published (it is live)")
    assert s3.get(s3.location() + "/assets.json") != live


def test_ctrl_c_during_plain_uploads_says_files_are_mixed(s3: S3Target, tree: Tree,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from staticship.backends.s3 import S3Adapter

    site(tree, 3)
    ctrl_c_during_upload(monkeypatch, S3Adapter)
    message = interrupted(tree=tree, storages=s3.settings(), STATICSHIP_WORKERS=1)
    assert message.startswith("Interrupted while uploading: ")
    assert "some files are new and others not yet" in message
    assert "manifest" not in message
    assert 1 <= len(s3.under()) < 3


def test_ctrl_c_after_the_manifest_says_the_deployment_is_live(
        s3: S3Target, tree: Tree, monkeypatch: pytest.MonkeyPatch) -> None:
    from staticship.backends.s3 import S3Adapter

    write_site(tree)
    storages = s3_settings(s3, TunedS3)
    raise_interrupt(monkeypatch, S3Adapter, "write_small")  # the deployment record
    message = interrupted(tree=tree, storages=storages)
    assert message.startswith("Interrupted after the new deployment was published (it is live)")
    assert "records" in message
    assert "assets.json" in s3.under()


def test_ctrl_c_while_deleting_says_the_deployment_is_complete(
        s3: S3Target, tree: Tree, monkeypatch: pytest.MonkeyPatch) -> None:
    from staticship.backends.s3 import S3Adapter

    site(tree)
    storages = s3.settings()
    s3.client.put_object(Bucket=s3.bucket, Key=s3.location() + "/stale.css", Body=b"old")
    raise_interrupt(monkeypatch, S3Adapter, "delete_many")
    message = interrupted("--prune", tree=tree, storages=storages)
    assert message.startswith("Interrupted while deleting files the deployment no longer uses")
    assert "live and complete" in message
    assert set(s3.under()) == {"stale.css", *tree.files}


def test_ctrl_c_during_a_stock_run_says_so(tree: Tree, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "root"
    tree.write("a.css", b"a")
    storages = {
        "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
        "staticfiles": {"BACKEND": "%s.%s" % (__name__, Processing.__qualname__),
                        "OPTIONS": {"location": str(root)}},
    }
    raise_interrupt(monkeypatch, Processing, "post_process")
    message = interrupted(tree=tree, storages=storages, STATIC_ROOT=str(root))
    assert message.startswith("Interrupted while Django's stock collectstatic was copying files")
    assert "previous deployment is still served" not in message


def test_ctrl_c_while_uploads_are_being_queued_abandons_the_queued(
        s3: S3Target, tree: Tree, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C while the uploads are still being handed to the workers: what
    was queued and not started is abandoned (not uploaded on the way out)."""
    from concurrent.futures import ThreadPoolExecutor

    site(tree, 5)
    real_submit = ThreadPoolExecutor.submit
    queued: list[str] = []

    def submit(self: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if getattr(fn, "__name__", "") == "_one":
            queued.append(args[0].file.name)
            if len(queued) == 3:
                raise KeyboardInterrupt
        return real_submit(self, fn, *args, **kwargs)

    monkeypatch.setattr(ThreadPoolExecutor, "submit", submit)
    message = interrupted(tree=tree, storages=s3.settings(), STATICSHIP_WORKERS=1)
    assert message.startswith("Interrupted while uploading: ")
    assert len(queued) == 3
    assert len(s3.under()) <= 1  # the first, if it had started; never the second
