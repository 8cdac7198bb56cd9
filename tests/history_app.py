"""The generated static app of the deployment-history test, and what stock
Django publishes for it.

``App`` is a small site (15 to 30 files): images and fonts, CSS that
references them and imports other CSS (two levels, so post-processing
settles within Django's default passes), JavaScript and text. Seeded edits
change, add and remove files, and keep every reference pointing at a file
that exists, as a real project does.

``stock_output`` runs Django's own ``ManifestStaticFilesStorage`` over a
tree on local disk: the names and bytes a manifest storage publishes for
it, which the remote storages (S3ManifestStaticStorage and staticship's
GCS/Azure manifest storages) must equal.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import random
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

MIN_FILES = 15
MAX_FILES = 30
MIN_SHEETS = 4  # the CSS, its references and imports are what post-processing is about
MIN_BLOBS = 6


@dataclass
class Sheet:
    """A CSS file: level 0 references assets only; level 1 also imports level-0 sheets."""

    level: int
    imports: list[str] = field(default_factory=list)
    assets: list[str] = field(default_factory=list)
    rule: int = 0


@dataclass
class App:
    rng: random.Random
    blobs: dict[str, bytes] = field(default_factory=dict)  # images, fonts, js, txt
    sheets: dict[str, Sheet] = field(default_factory=dict)
    serial: int = 0

    @classmethod
    def generate(cls, rng: random.Random) -> App:
        app = cls(rng)
        for _ in range(5):
            app.add_asset()
        app.add_blob("fonts/f%d.woff2")
        app.add_blob("fonts/f%d.woff2")
        for _ in range(3):
            app.add_sheet(0)
        for _ in range(4):
            app.add_sheet(1)
        for pattern in ("js/m%d.js", "js/lib/l%d.js", "js/m%d.js", "txt/r%d.txt"):
            app.add_blob(pattern)
        return app

    # -- naming and content ------------------------------------------------
    def fresh(self, pattern: str) -> str:
        self.serial += 1
        return pattern % self.serial

    def body(self, name: str) -> bytes:
        self.serial += 1
        noise = bytes(self.rng.randrange(256) for _ in range(self.rng.randint(8, 120)))
        if name.endswith(".svg"):
            return b"<svg><!-- %d --></svg>" % self.serial
        if name.endswith(".png"):
            return b"\x89PNG\r\n\x1a\n" + noise
        if name.endswith(".js"):
            return b"export const v%d = %d;\n" % (self.serial, len(noise))
        return b"serial %d " % self.serial + noise.hex().encode()

    def count(self) -> int:
        return len(self.blobs) + len(self.sheets)

    def assets(self) -> list[str]:
        return sorted(n for n in self.blobs if n.startswith(("img/", "fonts/")))

    def add_blob(self, pattern: str) -> str:
        name = self.fresh(pattern)
        self.blobs[name] = self.body(name)
        return name

    def add_asset(self) -> str:
        return self.add_blob(self.rng.choice(("img/i%d.png", "img/icons/k%d.svg", "img/i%d.png")))

    def add_sheet(self, level: int) -> str:
        folder = "css/base" if level == 0 else self.rng.choice(("css", "css/pages"))
        name = self.fresh(folder + "/s%d.css")
        sheet = Sheet(level, rule=self.serial)
        assets = self.assets()
        sheet.assets = self.rng.sample(assets, min(len(assets), self.rng.randint(1, 3)))
        if level == 1:
            bases = sorted(n for n, s in self.sheets.items() if s.level == 0)
            sheet.imports = self.rng.sample(bases, min(len(bases), self.rng.randint(0, 2)))
        self.sheets[name] = sheet
        return name

    def render(self, name: str, sheet: Sheet) -> bytes:
        here = posixpath.dirname(name)
        lines = ['@import url("%s");' % posixpath.relpath(i, here) for i in sheet.imports]
        for index, asset in enumerate(sheet.assets):
            url = posixpath.relpath(asset, here)
            if asset.endswith(".woff2"):
                lines.append('@font-face { font-family: f%d; src: url("%s") format("woff2"); }'
                             % (index, url))
            else:
                suffix = "#frag" if asset.endswith(".svg") else ""
                lines.append('.c%d { background: url("%s%s"); }' % (index, url, suffix))
        lines.append(".rule%d { color: #%06x; }" % (sheet.rule, sheet.rule % 0xFFFFFF))
        return ("\n".join(lines) + "\n").encode()

    def files(self) -> dict[str, bytes]:
        out = dict(self.blobs)
        for name, sheet in self.sheets.items():
            out[name] = self.render(name, sheet)
        return out

    # -- edits ---------------------------------------------------------------
    def edit(self) -> str:
        """One random edit; returns what it did."""
        choices = ["edit blob", "edit blob"]
        if self.sheets:
            choices += ["edit sheet", "edit sheet", "rewire"]
        if self.count() < MAX_FILES or len(self.sheets) < MIN_SHEETS:
            choices += ["add asset", "add sheet", "add js"]
        if self.count() > MIN_FILES:
            if len(self.blobs) > MIN_BLOBS:
                choices.append("remove blob")
            if len(self.sheets) > MIN_SHEETS:
                choices.append("remove sheet")
        what = self.rng.choice(choices)
        if what == "edit blob":
            name = self.rng.choice(sorted(self.blobs))
            self.blobs[name] = self.body(name)
        elif what == "edit sheet":
            name = self.rng.choice(sorted(self.sheets))
            self.serial += 1
            self.sheets[name].rule = self.serial
        elif what == "rewire":
            name = self.rng.choice(sorted(self.sheets))
            sheet = self.sheets[name]
            assets = self.assets()
            sheet.assets = self.rng.sample(assets, min(len(assets), self.rng.randint(0, 3)))
        elif what == "add asset":
            name = self.add_asset()
        elif what == "add sheet":
            name = self.add_sheet(self.rng.randint(0, 1))
        elif what == "add js":
            name = self.add_blob("js/m%d.js")
        elif what == "remove blob":
            name = self.rng.choice(sorted(self.blobs))
            self.remove(name)
        else:
            name = self.rng.choice(sorted(self.sheets))
            self.remove(name)
        return "%s %s" % (what, name)

    def remove(self, name: str) -> None:
        self.blobs.pop(name, None)
        self.sheets.pop(name, None)
        for sheet in self.sheets.values():
            sheet.imports = [n for n in sheet.imports if n != name]
            sheet.assets = [n for n in sheet.assets if n != name]


def write_tree(root: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def digest(files: dict[str, bytes]) -> str:
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode() + b"\0" + hashlib.md5(files[name]).digest())
    return h.hexdigest()


@dataclass
class Output:
    """What a manifest storage publishes for one tree."""

    objects: dict[str, str]  # name -> MD5 hex of the bytes, the manifest included
    paths: dict[str, str]  # the manifest's original -> hashed name
    manifest_md5: str

    def hashed(self) -> dict[str, str]:
        """The names the manifest maps to, with the MD5 of their bytes."""
        return {h: self.objects[h] for h in self.paths.values()}


def stock_output(files: dict[str, bytes], manifest_name: str = "staticfiles.json") -> Output:
    """Stock collectstatic with ManifestStaticFilesStorage over ``files``, on local disk."""
    from .conftest import collectstatic

    work = Path(tempfile.mkdtemp(prefix="staticship-history-stock-"))
    try:
        src, dest = work / "src", work / "dest"
        write_tree(src, files)
        storages = {
            "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
            "staticfiles": {
                "BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage",
                "OPTIONS": {"location": str(dest)},
            },
        }
        collectstatic("--disable-staticship", storages=storages, STATIC_ROOT=str(dest),
                      STATICFILES_DIRS=[str(src)])
        objects = {
            str(p.relative_to(dest)): hashlib.md5(p.read_bytes()).hexdigest()
            for p in dest.rglob("*") if p.is_file()
        }
        manifest = (dest / manifest_name).read_bytes()
        paths = json.loads(manifest)["paths"]
        return Output(objects, paths, hashlib.md5(manifest).hexdigest())
    finally:
        shutil.rmtree(work, ignore_errors=True)
