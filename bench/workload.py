"""Static-file trees for the benchmark.

``generate(root, n_files, seed)`` writes a deterministic tree that looks like
the static files of a mid-sized Django project: several apps, each with
images, fonts, JavaScript and CSS that references its images and fonts with
``url()``; sizes from 200 bytes to 1 MB, mostly small; plus a few media files
above boto3's 8 MB multipart threshold.  The same (n_files, seed) always gives
byte-identical files.

``copy_real(root)`` copies the static files of Django's admin and of a few
popular apps from the installed packages into one tree, so the benchmark can
touch and change them like a checkout.

``change(root, files, fraction, seed)`` rewrites a deterministic fraction of
the files and returns what it needs to undo that; ``touch_all`` gives every
file a fresh mtime, as a CI checkout does.
"""

from __future__ import annotations

import hashlib
import importlib
import math
import os
import random
import shutil
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

MB = 1024 * 1024

# (extension, share of files, kind)
IMAGE_EXTS = (("png", 0.45), ("jpg", 0.2), ("svg", 0.15), ("gif", 0.1), ("webp", 0.1))
FONT_EXTS = (("woff2", 0.7), ("woff", 0.2), ("ttf", 0.1))
MISC_EXTS = (("json", 0.4), ("html", 0.3), ("txt", 0.2), ("ico", 0.1))
CATEGORY_SHARES = (("img", 0.40), ("js", 0.28), ("css", 0.14), ("fonts", 0.06), ("misc", 0.12))
BIG_EXTS = ("mp4", "zip", "wasm", "pdf")

_WORDS = (
    "function var let const return if else for while new this window document "
    "element style class value length push map filter reduce querySelector "
    "addEventListener click resize scroll render update state props module export "
    "import default async await promise then catch console log error data items "
    "widget panel modal dropdown tooltip carousel navbar sidebar footer header"
).split()


@dataclass(frozen=True)
class Workload:
    name: str
    root: Path
    files: tuple[str, ...]  # posix paths relative to root, sorted
    total_bytes: int
    big_files: int

    @property
    def n_files(self) -> int:
        return len(self.files)


def _pick(rng: random.Random, table) -> str:
    x = rng.random()
    acc = 0.0
    for value, share in table:
        acc += share
        if x < acc:
            return value
    return table[-1][0]


def _size(rng: random.Random, kind: str) -> int:
    """Bytes for one file: log-uniform within a band, mostly small files."""
    x = rng.random()
    if kind == "fonts":
        lo, hi = 8_000, 300_000
    elif x < 0.70:
        lo, hi = 200, 20_000
    elif x < 0.95:
        lo, hi = 20_000, 200_000
    else:
        lo, hi = 200_000, MB
    return int(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def _text_pool(seed: int, size: int = 2 * MB) -> str:
    rng = random.Random(seed ^ 0x5EED)
    lines = []
    total = 0
    while total < size:
        n = rng.randint(3, 12)
        line = "  " * rng.randint(0, 3) + " ".join(rng.choice(_WORDS) for _ in range(n)) + ";\n"
        lines.append(line)
        total += len(line)
    return "".join(lines)


def _text(rng: random.Random, pool: str, size: int, header: str) -> str:
    body_len = max(size - len(header), 0)
    if body_len >= len(pool):
        reps = body_len // len(pool) + 1
        return header + (pool * reps)[:body_len]
    start = rng.randrange(0, len(pool) - body_len + 1)
    return header + pool[start : start + body_len]


def generate(root: str | os.PathLike, n_files: int, seed: int = 42, big_files: int | None = None) -> Workload:
    """Write a deterministic tree of ``n_files`` files under ``root`` (wiped first)."""
    root = Path(root)
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    rng = random.Random(seed)
    pool = _text_pool(seed)
    if big_files is None:
        big_files = 2 if n_files <= 2000 else 3
    n_regular = n_files - big_files
    n_apps = max(3, min(40, n_files // 250))
    apps = [f"app{i:02d}" for i in range(n_apps)]

    # Decide every file first, so CSS can reference images and fonts that exist.
    planned: list[tuple[str, str, str]] = []  # (app, kind, ext)
    for _ in range(n_regular):
        kind = _pick(rng, CATEGORY_SHARES)
        ext = {"img": lambda: _pick(rng, IMAGE_EXTS), "fonts": lambda: _pick(rng, FONT_EXTS), "misc": lambda: _pick(rng, MISC_EXTS)}.get(
            kind, lambda: kind
        )()
        planned.append((rng.choice(apps), kind, ext))

    paths: list[tuple[str, str, str]] = []  # (relpath, kind, ext)
    by_app_kind: dict[tuple[str, str], list[str]] = {}
    for i, (app, kind, ext) in enumerate(planned):
        if kind == "img":
            sub = rng.choice(("img", "img", "img/icons", "img/photos", "img/ui/buttons"))
        elif kind == "js":
            sub = rng.choice(("js", "js", "js/vendor", "js/components"))
        elif kind == "css":
            sub = rng.choice(("css", "css", "css/themes"))
        elif kind == "fonts":
            sub = "fonts"
        else:
            sub = rng.choice(("data", "templates", "misc"))
        rel = f"{app}/{sub}/{kind}-{i:06d}.{ext}"
        paths.append((rel, kind, ext))
        by_app_kind.setdefault((app, kind), []).append(rel)

    files: list[str] = []
    total = 0
    for rel, kind, ext in paths:
        size = _size(rng, kind)
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        header = f"/* {rel} */\n"
        if kind == "css":
            app = rel.split("/", 1)[0]
            refs = []
            depth = rel.count("/") - 1  # directories below the app
            up = "../" * depth
            for target in rng.sample(by_app_kind.get((app, "img"), []), k=min(6, len(by_app_kind.get((app, "img"), [])))):
                suffix = rng.choice(("", "", "", "?v=3", "#hash"))
                quote = rng.choice(("", "'", '"'))
                refs.append(f".i{zlib.crc32(target.encode()) % 9999} {{ background: url({quote}{up}{target.split('/', 1)[1]}{suffix}{quote}); }}\n")
            fonts = by_app_kind.get((app, "fonts"), [])
            if fonts:
                f = rng.choice(fonts)
                refs.append(f"@font-face {{ font-family: F{len(refs)}; src: url('{up}{f.split('/', 1)[1]}') format('woff2'); }}\n")
            refs.append(".ext { background: url(https://cdn.example.com/logo.png); }\n")
            refs.append(".data { background: url(data:image/gif;base64,R0lGODlhAQABAAAAACw=); }\n")
            content = (header + "".join(refs)).encode()
            filler = _text(rng, pool, max(size - len(content), 0), "").replace(";", " ").replace("\n", " ")
            data = content + b"/* " + filler.replace("*/", "").encode() + b" */\n"
        elif kind in ("js", "misc") and ext not in ("ico",):
            data = _text(rng, pool, size, header).encode()
        elif ext == "svg":
            data = (
                f'<svg xmlns="http://www.w3.org/2000/svg"><!-- {rel} -->'
                + _text(rng, pool, size, "").replace("<", " ").replace(">", " ").replace("-", " ")
                + "</svg>\n"
            ).encode()
        else:
            magic = {
                "png": b"\x89PNG\r\n\x1a\n",
                "jpg": b"\xff\xd8\xff\xe0",
                "gif": b"GIF89a",
                "webp": b"RIFF\x00\x00\x00\x00WEBP",
                "woff2": b"wOF2",
                "woff": b"wOFF",
                "ttf": b"\x00\x01\x00\x00",
                "ico": b"\x00\x00\x01\x00",
            }.get(ext, b"")
            data = magic + rel.encode() + rng.randbytes(max(size - len(magic) - len(rel), 0))
        path.write_bytes(data)
        files.append(rel)
        total += len(data)

    for j in range(big_files):
        ext = BIG_EXTS[j % len(BIG_EXTS)]
        rel = f"media/big-{j:02d}.{ext}"
        size = rng.randint(int(8.5 * MB), 12 * MB)
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        data = rng.randbytes(size)
        path.write_bytes(data)
        files.append(rel)
        total += len(data)

    return Workload(f"generated-{n_files}", root, tuple(sorted(files)), total, big_files)


# Installed apps whose static files make up the "real" workload.
REAL_APPS = (
    ("django.contrib.admin", "django"),
    ("rest_framework", "djangorestframework"),
    ("debug_toolbar", "django-debug-toolbar"),
    ("ckeditor", "django-ckeditor"),
    ("jazzmin", "django-jazzmin"),
)


def real_app_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for module, dist in REAL_APPS:
        if dist == "django":
            continue
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            pass
    return out


def copy_real(root: str | os.PathLike) -> Workload:
    """Copy the ``static/`` folders of the installed REAL_APPS into ``root``.

    Apps that are not installed are skipped. Each app's static folder is
    already namespaced (admin/..., rest_framework/...), so the collected keys
    are the ones AppDirectoriesFinder would produce.
    """
    root = Path(root)
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    used = []
    for module, _dist in REAL_APPS:
        try:
            mod = importlib.import_module(module)
        except ImportError:
            continue
        static = Path(mod.__file__).parent / "static"
        if static.is_dir():
            shutil.copytree(static, root, dirs_exist_ok=True)
            used.append(module)
    files = sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
    total = sum((root / f).stat().st_size for f in files)
    big = sum(1 for f in files if (root / f).stat().st_size > 8 * MB)
    return Workload("real:" + "+".join(m.split(".")[-1] for m in used), root, tuple(files), total, big)


def most_referencing_css(root: str | os.PathLike, files) -> str:
    """The stylesheet with the most references to other files (``url()``,
    ``@import``): editing it makes a manifest storage rewrite, and rename,
    what depends on it. Ties go to the first name."""
    def references(rel: str) -> int:
        text = (Path(root) / rel).read_text(errors="replace")
        return text.count("url(") + text.count("@import")

    sheets = sorted(f for f in files if f.endswith(".css"))
    return max(sheets, key=lambda rel: (references(rel), [-ord(c) for c in rel]))


def choose_changed(files: tuple[str, ...] | list[str], fraction: float, seed: int) -> list[str]:
    k = max(1, round(len(files) * fraction))
    rng = random.Random(f"change-{seed}-{len(files)}")
    return sorted(rng.sample(sorted(files), k))


def change(root: str | os.PathLike, files, fraction: float = 0.01, seed: int = 1) -> dict[str, bytes]:
    """Modify a deterministic ``fraction`` of ``files``; return their old bytes."""
    root = Path(root)
    originals: dict[str, bytes] = {}
    for rel in choose_changed(files, fraction, seed):
        path = root / rel
        old = path.read_bytes()
        originals[rel] = old
        ext = rel.rsplit(".", 1)[-1]
        marker = f"changed by the benchmark, seed {seed}"
        if ext in ("css", "js"):
            new = old + f"\n/* {marker} */\n".encode()
        elif ext in ("html", "svg"):
            new = old + f"\n<!-- {marker} -->\n".encode()
        else:
            new = old + hashlib.md5(marker.encode()).digest()
        path.write_bytes(new)
    return originals


def restore(root: str | os.PathLike, originals: dict[str, bytes]) -> None:
    root = Path(root)
    for rel, data in originals.items():
        (root / rel).write_bytes(data)


def touch_all(root: str | os.PathLike, when: float | None = None) -> int:
    """Give every file the same fresh mtime, as a new CI checkout would."""
    when = time.time() + 2 if when is None else when
    n = 0
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            os.utime(os.path.join(dirpath, name), (when, when))
            n += 1
    return n


def md5_tree(root: str | os.PathLike, files) -> dict[str, str]:
    root = Path(root)
    out = {}
    for rel in files:
        h = hashlib.md5()
        with open(root / rel, "rb") as fh:
            for chunk in iter(lambda: fh.read(MB), b""):
                h.update(chunk)
        out[rel] = h.hexdigest()
    return out
