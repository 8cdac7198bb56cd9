"""Incremental post-processing: after every step of a seeded random sequence
of edits, the published tree (manifest included) equals byte for byte what
Django's own storage class produces from scratch, and errors match Django's.

Steps default to a short sequence; STATICSHIP_INCREMENTAL_STEPS=N runs N per
tree (and more seeds with STATICSHIP_INCREMENTAL_SEEDS).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
from pathlib import Path
from typing import Any

import django.contrib.admin
import pytest
from django.contrib.staticfiles.storage import ManifestStaticFilesStorage
from storages.backends.s3 import S3ManifestStaticStorage

from .conftest import S3Target, Tree, collectstatic
from .helpers import recorded_names

STEPS = int(os.environ.get("STATICSHIP_INCREMENTAL_STEPS", "0"))
SEEDS = int(os.environ.get("STATICSHIP_INCREMENTAL_SEEDS", "1"))


class ModulesLocal(ManifestStaticFilesStorage):
    support_js_module_import_aggregation = True


class ShortPassesLocal(ManifestStaticFilesStorage):
    """Chains of CSS imports then exceed the passes, depending on the order."""

    max_post_process_passes = 3


class ModulesS3(S3ManifestStaticStorage):
    support_js_module_import_aggregation = True


def dotted(cls: type) -> str:
    return "%s.%s" % (cls.__module__, cls.__qualname__)


def local_storages(cls: type, root: Path) -> dict[str, Any]:
    return {
        "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
        "staticfiles": {"BACKEND": dotted(cls), "OPTIONS": {"location": str(root)}},
    }


def read_tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


_OBJECT = re.compile(r"<[\w.]+ object at 0x[0-9a-f]+>")


def django_from_scratch(tree: Tree, cls: type, root: Path) -> tuple[dict[str, bytes], str | None]:
    """What the stock command writes to an empty STATIC_ROOT, or its error."""
    shutil.rmtree(root, ignore_errors=True)
    try:
        collectstatic("--disable-staticship", tree=tree, storages=local_storages(cls, root))
    except Exception as exc:  # noqa: BLE001 - compared with ours
        return {}, _OBJECT.sub("<storage>", str(exc))
    return read_tree(root), None


def rank(name: str) -> str:
    return hashlib.md5(name.encode()).hexdigest()


# -- the operations ------------------------------------------------------------
class Site:
    """A tree of CSS, JS and images with references between them, edited by
    seeded random operations. ``broken`` holds a pending error to undo."""

    def __init__(self, tree: Tree, rng: random.Random) -> None:
        self.tree, self.rng = tree, rng
        self.counter = 0
        self.broken: list[tuple[str, bytes | None]] = []  # (name, bytes to restore or None to delete)

    def names(self, suffix: str) -> list[str]:
        return sorted(n for n in self.tree.files if n.endswith(suffix))

    def images(self) -> list[str]:
        return self.names(".png") + self.names(".svg")

    def remove(self, name: str) -> None:
        (self.tree.root / name).unlink()
        del self.tree.files[name]

    def fresh(self, folder: str, ext: str) -> str:
        self.counter += 1
        return "%s/n%d.%s" % (folder, self.counter, ext)

    def relative(self, source: str, target: str) -> str:
        return os.path.relpath(target, os.path.dirname(source) or ".").replace(os.sep, "/")

    def css_body(self, name: str, targets: list[str]) -> bytes:
        lines = ["/* %s %d */" % (name, self.rng.randrange(10**6))]
        for target in targets:
            # A query string makes Django hash the file's source bytes, a
            # fragment does not change what the name resolves to.
            url = self.relative(name, target) + self.rng.choice(
                ["", "", "", "?v=2", "#top", "?#iefix"])
            if target.endswith(".css"):
                lines.append('@import url("%s");' % url)
            else:
                lines.append('.c%d { background: url("%s"); }' % (self.rng.randrange(99), url))
        return ("\n".join(lines) + "\n").encode()

    def acyclic_targets(self, name: str, count: int) -> list[str]:
        """Images, and CSS files of a higher rank (no cycles; the rank is
        unrelated to the processing order, so chains need several passes)."""
        pool = [n for n in self.tree.files if not n.endswith((".js", ".map"))
                and (not n.endswith(".css") or rank(n) > rank(name))]
        return self.rng.sample(sorted(pool), min(count, len(pool)))

    # Each operation returns a short description.
    def edit_css(self) -> str:
        name = self.rng.choice(self.names(".css"))
        self.tree.write(name, self.css_body(name, self.acyclic_targets(name, 3)))
        return "edit " + name

    def edit_image(self) -> str:
        name = max(self.images(), key=lambda n: sum(
            Path(n).name in data.decode(errors="replace") for data in self.tree.files.values()))
        self.tree.write(name, b"\x89PNG" + os.urandom(8))
        return "edit image " + name

    def add(self) -> str:
        if self.rng.random() < 0.5:
            name = self.fresh(self.rng.choice(["img", "img/deep"]), "png")
            self.tree.write(name, b"\x89PNG" + os.urandom(6))
        else:
            name = self.fresh(self.rng.choice(["css", "css/sub", "css/sub/deeper"]), "css")
            self.tree.write(name, self.css_body(name, self.acyclic_targets(name, 2)))
        return "add " + name

    def users(self, name: str) -> list[str]:
        base = Path(name).name
        return sorted(n for n, d in self.tree.files.items()
                      if n != name and base.encode() in d and n.endswith((".css", ".js")))

    def remove_unused(self) -> str:
        unused = [n for n in self.images() + self.names(".css") if not self.users(n)]
        if not unused:
            return self.add()
        name = self.rng.choice(unused)
        self.remove(name)
        return "remove " + name

    def rename(self) -> str:
        """Rename a referenced image and update the files referring to it."""
        old = self.rng.choice(self.images())
        new = self.fresh(os.path.dirname(old), old.rsplit(".", 1)[1])
        data = self.tree.files[old]
        self.remove(old)
        self.tree.write(new, data)
        for user in self.users(old):
            text = self.tree.files[user].decode()
            text = re.sub(r"(?<![\w.])%s\b" % re.escape(Path(old).name), Path(new).name, text)
            self.tree.write(user, text.encode())
        return "rename %s -> %s" % (old, new)

    def cycle(self) -> str:
        first, second = self.rng.sample(self.names(".css"), 2)
        self.broken = [(first, self.tree.files[first])]
        self.tree.write(first, self.tree.files[first]
                        + b'@import url("%s");\n' % self.relative(first, second).encode()
                        + b'@import url("%s");\n' % self.relative(first, first).encode())
        if not self.users(first):
            self.broken.append((second, self.tree.files[second]))
            self.tree.write(second, self.tree.files[second]
                            + b'@import url("%s");\n' % self.relative(second, first).encode())
        return "cycle %s <-> %s" % (first, second)

    def missing(self) -> str:
        name = self.rng.choice(self.names(".css"))
        self.broken = [(name, self.tree.files[name])]
        self.tree.write(name, self.tree.files[name] + b'.m { background: url("nowhere.png"); }\n')
        return "missing reference in " + name

    def remove_used(self) -> str:
        used = [n for n in self.images() if self.users(n)]
        name = self.rng.choice(used)
        self.broken = [(name, self.tree.files[name])]
        self.remove(name)
        return "remove referenced " + name

    def deepen(self) -> str:
        """A new CSS file one folder deeper than one it imports: processed
        before it, so the chain needs one more pass (the full run may then
        exceed its passes, whatever the incremental one would need)."""
        target = self.rng.choice(self.names(".css"))
        folder = os.path.dirname(target) + "/d"
        name = self.fresh(folder, "css")
        self.tree.write(name, self.css_body(name, [target]))
        if self.rng.random() < 0.5:
            self.broken = [(name, None)]
        return "deepen %s -> %s" % (name, target)

    def edit_js(self) -> str:
        """Edit a module that another imports (or make it import one)."""
        modules = self.names(".js")
        name = self.rng.choice(modules)
        body = b"export const u = %d;\n" % self.rng.randrange(10**6)
        others = [m for m in modules if m != name and rank(m) > rank(name)]
        if others and self.rng.random() < 0.5:
            body = b'import "%s";\n' % ("./" + self.relative(name, self.rng.choice(others))
                                        ).replace("./../", "../").encode() + body
        self.tree.write(name, body)
        return "edit module " + name

    def repair(self) -> str:
        for name, data in self.broken:
            if data is None:
                self.remove(name)
            else:
                self.tree.write(name, data)
        self.broken = []
        return "repair"

    def step(self) -> str:
        if self.broken:
            return self.repair()
        operations = [self.edit_css, self.edit_css, self.edit_image, self.add, self.add,
                      self.remove_unused, self.rename, self.cycle, self.missing, self.remove_used,
                      self.deepen, self.deepen, self.edit_js]
        return self.rng.choice(operations)()


def generate(tree: Tree, rng: random.Random) -> Site:
    site = Site(tree, rng)
    for i in range(8):
        tree.write("img/%s/i%d.png" % ("deep" if i % 3 == 0 else ".", i), b"\x89PNG%d" % i)
    tree.files = {n.replace("/./", "/"): d for n, d in tree.files.items()}
    for i, folder in enumerate(["css", "css", "css/sub", "css/sub", "css/sub/deeper", "css"]):
        name = "%s/s%d.css" % (folder, i)
        tree.write(name, site.css_body(name, site.acyclic_targets(name, 3)))
    tree.write("js/lib/util.js", b"export const u = 1;\n")
    tree.write("js/app.js", b'import { u } from "./lib/util.js";\nconsole.log(u);\n')
    tree.write("js/lib/more.js", b'import "../app.js";\n' if rank("js/lib/more.js") < rank(
        "js/app.js") else b"export const m = 2;\n")
    tree.write("css/plain.css", b"p { color: red }\n")
    return site


def copy_admin(tree: Tree) -> Site:
    """Django admin's static files, as a tree the test may edit."""
    source = Path(django.contrib.admin.__file__).parent / "static"
    for path in sorted(source.rglob("*")):
        if path.is_file():
            tree.write(str(path.relative_to(source)), path.read_bytes())
    return Site(tree, random.Random())


# -- checking ------------------------------------------------------------------
def deployment_names(root: Path) -> set[str]:
    return recorded_names((root / ".staticship/state.json").read_bytes())


def check_step(tree: Tree, cls: type, dest: Path, scratch: Path) -> tuple[bool, bool]:
    """One run of ours against Django's from scratch. Returns (succeeded,
    post-processed only part of the tree)."""
    expected, error = django_from_scratch(tree, cls, scratch)
    try:
        run = collectstatic(tree=tree, storages=local_storages(cls, dest))
    except Exception as exc:  # noqa: BLE001
        assert error is not None, "we failed where Django did not: %s" % exc
        assert error in _OBJECT.sub("<storage>", str(exc))
        return False, False
    assert error is None, "Django failed (%s) and we did not" % error
    published = read_tree(dest)
    assert deployment_names(dest) == set(expected)
    assert {n: published[n] for n in expected} == expected
    found = [n for n in expected if n in tree.files]
    return True, 0 < len(run.report.post_processed) < len(found)


def walk(site: Site, cls: type, tmp_path: Path, steps: int) -> list[str]:
    dest, scratch = tmp_path / "ours", tmp_path / "django"
    ok, _ = check_step(site.tree, cls, dest, scratch)
    log, partial = ["start" + ("" if ok else " (error, as Django)")], 0
    for _ in range(steps):
        log.append(site.step())
        ok, part = check_step(site.tree, cls, dest, scratch)
        partial += part
        log[-1] += "" if ok else " (error, as Django)"
    assert partial, "no step post-processed incrementally: %s" % log
    print("\n".join(log))
    return log


@pytest.mark.parametrize("cls", [ModulesLocal, ShortPassesLocal], ids=["modules", "short"])
@pytest.mark.parametrize("seed", range(SEEDS))
def test_generated_tree_matches_django_after_every_step(tree: Tree, tmp_path: Path,
                                                        seed: int, cls: type) -> None:
    rng = random.Random(1000 + seed)
    site = generate(tree, rng)
    walk(site, cls, tmp_path, STEPS or 24)


@pytest.mark.parametrize("seed", range(SEEDS))
def test_first_pass_in_processes_matches_django(tree: Tree, tmp_path: Path, seed: int,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The first pass split between forked processes (from two adjustable
    files on): names one process saw before another gave them are redone."""
    from staticship import incremental

    monkeypatch.setattr(incremental, "PARALLEL_FROM", 2)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    rng = random.Random(2000 + seed)
    site = generate(tree, rng)
    for _ in range(12):
        site.add()
    walk(site, ShortPassesLocal, tmp_path, STEPS or 12)


def test_admin_tree_matches_django_after_every_step(tree: Tree, tmp_path: Path) -> None:
    site = copy_admin(tree)
    site.rng = random.Random(7)
    walk(site, ManifestStaticFilesStorage, tmp_path, STEPS or 8)


def test_a_chain_longer_than_the_passes_fails_as_django(tree: Tree, tmp_path: Path) -> None:
    """Each file imports one a folder up (processed after it): a chain of
    three needs three passes, one of four fails. Adding the fourth would
    take one pass incrementally; Django's full run fails, and so must we."""
    dest, scratch = tmp_path / "ours", tmp_path / "django"
    tree.write("img/x.png", b"\x89PNG x")
    tree.write("css/a.css", b'p { background: url("../img/x.png"); }\n')
    tree.write("css/d/b.css", b'@import url("../a.css");\n')
    tree.write("css/d/d/c.css", b'@import url("../b.css");\n')
    assert check_step(tree, ShortPassesLocal, dest, scratch) == (True, False)
    tree.write("css/d/d/d/e.css", b'@import url("../c.css");\n')
    assert check_step(tree, ShortPassesLocal, dest, scratch) == (False, False)
    (tree.root / "css/d/d/d/e.css").unlink()
    del tree.files["css/d/d/d/e.css"]
    tree.write("css/d/d/c.css", b'@import url("../b.css");\n/* edited */\n')
    assert check_step(tree, ShortPassesLocal, dest, scratch) == (True, True)


# -- over the S3 emulator ------------------------------------------------------
def bucket_names(s3: S3Target, location: str) -> set[str]:
    return recorded_names(s3.get(location + "/.staticship/state.json"))


def test_s3_steps_read_back_as_django_wrote_them(s3: S3Target, tree: Tree,
                                                 tmp_path: Path) -> None:
    site = generate(tree, random.Random(5))
    storages = s3.settings(dotted(ModulesS3))
    location = storages["staticfiles"]["OPTIONS"]["location"]
    partial = 0
    for step in range(6):
        description = site.step() if step else "start"
        expected, error = django_from_scratch(tree, ModulesLocal, tmp_path / "django")
        try:
            run = collectstatic(tree=tree, storages=storages)
        except Exception as exc:  # noqa: BLE001
            assert error is not None and error in _OBJECT.sub("<storage>", str(exc)), description
            continue
        assert error is None, description
        assert bucket_names(s3, location) == set(expected), description
        for name, data in expected.items():
            assert s3.get("%s/%s" % (location, name)) == data, (description, name)
        done = len(run.report.post_processed)
        partial += 0 < done < len([n for n in expected if n in tree.files])
    assert partial


def test_s3_one_css_edit_costs_its_own_objects(s3: S3Target, tree: Tree, tmp_path: Path) -> None:
    tree.write("img/x.png", b"\x89PNG x")
    tree.write("img/y.png", b"\x89PNG y")
    tree.write("css/leaf.css", b'p { background: url("../img/x.png"); }\n')
    tree.write("css/mid.css", b'@import url("leaf.css");\n')
    tree.write("css/top.css", b'@import url("mid.css");\n')
    tree.write("css/other.css", b'a { background: url("../img/y.png"); }\n')
    tree.write("js/app.js", b'import { u } from "./util.js";\n')
    tree.write("js/util.js", b"export const u = 1;\n")
    storages = s3.settings(dotted(ModulesS3))
    location = storages["staticfiles"]["OPTIONS"]["location"]
    collectstatic(tree=tree, storages=storages)
    tree.write("css/leaf.css", b'p { background: url("../img/x.png"); color: red; }\n')
    s3.reset()
    run = collectstatic(tree=tree, storages=storages)
    counts = s3.counts()
    assert sorted(run.report.post_processed) == ["css/leaf.css", "css/mid.css", "css/top.css"]
    # The summary counts what a full run would: the kept hashed files unmodified.
    assert len(run.report.files) == 2 * len(tree.files) + 1
    expected, error = django_from_scratch(tree, ModulesLocal, tmp_path / "django")
    assert error is None and bucket_names(s3, location) == set(expected)
    for name, data in expected.items():
        assert s3.get("%s/%s" % (location, name)) == data, name
    if counts is not None:
        # The listing and the state record (which holds the post-processing
        # record); the edited source, the three new hashed files, the
        # manifest, and the state record (the deployment's names in it).
        assert counts == {"ListObjectsV2": 1, "GetObject": 1, "PutObject": 6}, counts


# -- when the record cannot be trusted -----------------------------------------
def small_site(tree: Tree) -> None:
    tree.write("img/x.png", b"\x89PNG x")
    tree.write("css/a.css", b'p { background: url("../img/x.png"); }\n')
    tree.write("css/b.css", b'@import url("a.css");\n')
    tree.write("css/c.css", b"c { color: red }\n")


def test_a_missing_output_or_a_tampered_record_means_a_full_run(tree: Tree,
                                                                  tmp_path: Path) -> None:
    dest, scratch = tmp_path / "ours", tmp_path / "django"
    small_site(tree)
    assert check_step(tree, ManifestStaticFilesStorage, dest, scratch) == (True, False)
    # One edit: only it is post-processed.
    tree.write("css/c.css", b"c { color: blue }\n")
    assert check_step(tree, ManifestStaticFilesStorage, dest, scratch) == (True, True)
    # An output the record relies on was deleted: everything, and it is back.
    manifest = json.loads((dest / "staticfiles.json").read_bytes())["paths"]
    (dest / manifest["css/b.css"]).unlink()
    tree.write("css/c.css", b"c { color: green }\n")
    assert check_step(tree, ManifestStaticFilesStorage, dest, scratch) == (True, False)
    assert (dest / manifest["css/b.css"]).exists()
    # The record (a section of the state record) is malformed.
    record = dest / ".staticship" / "state.json"
    state = json.loads(record.read_bytes())
    state["sections"]["postprocess"]["files"][0][2] = "not a size"
    record.write_bytes(json.dumps(state).encode())
    tree.write("css/c.css", b"c { color: gray }\n")
    assert check_step(tree, ManifestStaticFilesStorage, dest, scratch) == (True, False)
    tree.write("css/c.css", b"c { color: black }\n")
    assert check_step(tree, ManifestStaticFilesStorage, dest, scratch) == (True, True)


def test_a_configuration_change_means_a_full_run(tree: Tree, tmp_path: Path) -> None:
    dest, scratch = tmp_path / "ours", tmp_path / "django"
    small_site(tree)
    check_step(tree, ManifestStaticFilesStorage, dest, scratch)
    tree.write("css/c.css", b"c { color: blue }\n")
    expected, _ = django_from_scratch(tree, ModulesLocal, scratch)
    run = collectstatic(tree=tree, storages=local_storages(ModulesLocal, dest))
    assert len(run.report.post_processed) == len(tree.files)
    assert {n: read_tree(dest)[n] for n in expected} == expected


def test_storages_overriding_the_passes_are_not_incremental() -> None:
    from staticship import incremental

    class Custom(ManifestStaticFilesStorage):
        def _post_process(self, *args: Any, **kwargs: Any) -> Any:
            return super()._post_process(*args, **kwargs)

    class Keeping(ManifestStaticFilesStorage):
        keep_intermediate_files = True

    assert incremental.eligible(ManifestStaticFilesStorage(location="/tmp/x"))
    assert incremental.eligible(ModulesLocal(location="/tmp/x"))
    assert not incremental.eligible(Custom(location="/tmp/x"))
    assert not incremental.eligible(Keeping(location="/tmp/x"))


def test_s3_edit_builds_one_connection_and_parses_the_models_once(
        s3: S3Target, tree: Tree, monkeypatch: pytest.MonkeyPatch) -> None:
    """The staged copy of the storage (whose url() post-processing calls)
    uses the storage's own boto3 connection, and its sessions share the
    service models already parsed: about 0.3 s of CPU each, otherwise."""
    import boto3.session
    import botocore.loaders

    tree.write("img/x.png", b"\x89PNG x")
    tree.write("css/a.css", b'p { background: url("../img/x.png"); }\n')
    storages = s3.settings(dotted(ModulesS3))
    collectstatic(tree=tree, storages=storages)
    tree.write("css/a.css", b'p { background: url("../img/x.png"); color: red; }\n')
    resources: list[Any] = []
    parsed: list[str] = []
    resource, load = boto3.session.Session.resource, botocore.loaders.JSONFileLoader.load_file

    def counted_resource(self: Any, *args: Any, **kwargs: Any) -> Any:
        resources.append(kwargs.get("config"))
        return resource(self, *args, **kwargs)

    def counted_load(self: Any, path: str) -> Any:
        parsed.append(path)
        return load(self, path)

    monkeypatch.setattr(boto3.session.Session, "resource", counted_resource)
    monkeypatch.setattr(botocore.loaders.JSONFileLoader, "load_file", counted_load)
    run = collectstatic(tree=tree, storages=storages)
    assert run.report.post_processed == ["css/a.css"]
    # The storage's connection (its records), and the unsigned one url()
    # builds when querystring_auth is off; the staged copy builds neither again.
    assert len(resources) == 2
    # Each model file (the S3 API, its resources, endpoints ...) parsed once.
    assert len(parsed) == len(set(parsed)), sorted(parsed)
