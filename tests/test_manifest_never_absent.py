"""The previous manifest serves until the new one is written, through
storages that delete before saving: the generic adapter (an in-process
storage whose saves fail on demand) and Azure with ``overwrite_files =
False`` (Azurite, through a subclass's ``_save`` that loses a response)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.staticfiles.storage import ManifestFilesMixin
from django.core.files.base import ContentFile
from django.core.files.storage import InMemoryStorage
from django.core.management.base import CommandError
from storages.backends.azure_storage import AzureStorage

from .conftest import AzureTarget, Tree, collectstatic

MANIFEST = "staticfiles.json"


class Faults:
    """What the test storages do wrong, and what they were asked."""

    files: Any = None  # the in-memory tree every instance shares
    fail: dict[str, str] = {}  # name -> "before" (nothing written) or "after" (response lost)
    plant: dict[str, bytes] = {}  # written right after the listing, unseen by it
    log: list[tuple[str, str]] = []

    @classmethod
    def reset(cls) -> None:
        cls.files, cls.fail, cls.plant, cls.log = None, {}, {}, []


class FaultyMemory(InMemoryStorage):
    """An InMemoryStorage whose files outlive the instance (the runner builds
    one per run) and whose saves fail as ``Faults`` says. It does not
    overwrite: a save of a taken name gets a suffix (as Django's default)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if Faults.files is None:
            Faults.files = self._root
        self._root = Faults.files

    def _save(self, name: str, content: Any) -> str:
        mode = Faults.fail.pop(name, None)
        Faults.log.append(("save", name))
        if mode == "before":
            raise ConnectionError("connection reset while saving %s" % name)
        saved = super()._save(name, content)
        if mode == "after":
            raise ConnectionError("response lost after saving %s" % name)
        return saved

    def delete(self, name: str) -> None:
        Faults.log.append(("delete", name))
        super().delete(name)

    def listdir(self, path: str) -> Any:
        found = super().listdir(path)
        for name, data in list(Faults.plant.items()):
            del Faults.plant[name]
            super()._save(name, ContentFile(data))
        return found


class OverwritingMemory(FaultyMemory):
    def get_available_name(self, name: str, max_length: int | None = None) -> str:
        return name


class SuffixingManifest(ManifestFilesMixin, FaultyMemory):
    pass


class OverwritingManifest(ManifestFilesMixin, OverwritingMemory):
    pass


@pytest.fixture(autouse=True)
def faults() -> Any:
    Faults.reset()
    yield Faults
    Faults.reset()


@pytest.fixture(autouse=True)
def generic_adapter(settings: Any, request: pytest.FixtureRequest) -> None:
    """The in-memory storages here have no adapter of their own: staticship
    runs stock for them unless the generic adapter is asked for, as here
    (the Azure tests keep the Azure adapter)."""
    if "azure" not in request.node.name:
        settings.STATICSHIP_ADAPTER = "staticship.backends.generic.GenericAdapter"


def memory(cls: type) -> dict[str, Any]:
    return {"default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
            "staticfiles": {"BACKEND": "%s.%s" % (cls.__module__, cls.__qualname__)}}


def held(cls: type) -> dict[str, bytes]:
    """Every file the shared in-memory tree holds, by name."""
    storage = cls()
    found, pending = {}, [""]
    while pending:
        directory = pending.pop()
        dirs, files = storage.listdir(directory)
        for name in files:
            path = "%s/%s" % (directory, name) if directory else name
            with storage.open(path) as handle:
                found[path] = handle.read()
        pending.extend("%s/%s" % (directory, d) if directory else d for d in dirs)
    return found


def write_site(tree: Tree, version: int) -> None:
    tree.write("css/site.css", b'body { background: url("../img/a.svg"); } /* %d */\n' % version)
    tree.write("img/a.svg", b"<svg/>")


@pytest.mark.parametrize("cls", [OverwritingManifest, SuffixingManifest], ids=["overwrites", "suffixes"])
def test_failed_manifest_save_leaves_the_previous_one(tree: Tree, cls: type) -> None:
    write_site(tree, 1)
    collectstatic(tree=tree, storages=memory(cls))
    previous = held(cls)[MANIFEST]
    write_site(tree, 2)
    Faults.fail = {MANIFEST: "before"}
    Faults.log = []
    with pytest.raises(CommandError):
        collectstatic(tree=tree, storages=memory(cls))
    files = held(cls)
    assert files[MANIFEST] == previous
    assert [n for n in files if n.startswith("staticfiles")] == [MANIFEST]
    if cls is OverwritingManifest:  # replaced in one step: never deleted
        assert ("delete", MANIFEST) not in Faults.log
    # The next run publishes the new manifest.
    collectstatic(tree=tree, storages=memory(cls))
    assert held(cls)[MANIFEST] != previous


@pytest.mark.parametrize("cls", [OverwritingManifest, SuffixingManifest], ids=["overwrites", "suffixes"])
def test_a_manifest_the_listing_did_not_show_is_replaced_without_orphans(tree: Tree, cls: type) -> None:
    """Written after the listing (a lost response, another run): the save
    is not refused, and no suffixed copy is left behind."""
    write_site(tree, 1)
    Faults.plant = {MANIFEST: b'{"stale": true}'}
    collectstatic(tree=tree, storages=memory(cls))
    files = held(cls)
    assert [n for n in files if n.startswith("staticfiles")] == [MANIFEST]
    assert b'"paths"' in files[MANIFEST]


def test_failed_record_write_keeps_the_previous_record(tree: Tree) -> None:
    write_site(tree, 1)
    collectstatic(tree=tree, storages=memory(SuffixingManifest))
    state = ".staticship/state.json"
    previous = held(SuffixingManifest)[state]
    write_site(tree, 2)
    Faults.fail = {state: "before"}
    with pytest.raises(CommandError):
        collectstatic(tree=tree, storages=memory(SuffixingManifest))
    assert held(SuffixingManifest)[state] == previous


# -- Azure, overwrite_files = False, through a subclass's _save ---------------

class LossyAzure(AzureStorage):
    """Writes its own way, and fails as ``Faults`` says."""

    def _save(self, name: str, content: Any) -> str:
        from azure.core.exceptions import ServiceResponseError

        mode = Faults.fail.pop(name, None)
        if mode == "before":
            raise ServiceResponseError("connection reset while saving %s" % name)
        saved: str = super()._save(name, content)
        if mode == "after":
            raise ServiceResponseError("response lost after saving %s" % name)
        return saved


class LossyAzureManifest(ManifestFilesMixin, LossyAzure):
    pass


def azure_settings(azure: AzureTarget) -> dict[str, Any]:
    return azure.settings("tests.test_manifest_never_absent.LossyAzureManifest",
                          overwrite_files=False)


def test_azure_retry_after_a_lost_response_replaces_the_blob(azure: AzureTarget, tree: Tree) -> None:
    write_site(tree, 1)
    Faults.fail = {MANIFEST: "after"}  # written, then the response is lost: retried
    run = collectstatic(tree=tree, storages=azure_settings(azure), STATICSHIP_FAST_TRANSFER=False)
    assert MANIFEST in run.report.uploaded
    blobs = azure.under()
    assert [n for n in blobs if n.startswith("staticfiles")] == [MANIFEST]
    assert b'"paths"' in azure.get(blobs[MANIFEST].name)


def test_azure_failed_manifest_save_puts_the_previous_back(azure: AzureTarget, tree: Tree,
                                                           tmp_path: Path) -> None:
    write_site(tree, 1)
    settings = azure_settings(azure)
    collectstatic(tree=tree, storages=settings, STATICSHIP_FAST_TRANSFER=False)
    key = azure.under()[MANIFEST].name
    previous = azure.get(key)
    write_site(tree, 2)
    Faults.fail = {MANIFEST: "before"}
    with pytest.raises(CommandError):
        collectstatic(tree=tree, storages=settings, STATICSHIP_FAST_TRANSFER=False,
                      STATICSHIP_MAX_ATTEMPTS=1)
    assert azure.get(key) == previous
    blob = azure.under()[MANIFEST]
    assert blob.content_settings.content_type == "application/json"
    assert bytes(blob.content_settings.content_md5 or b"") != b""
