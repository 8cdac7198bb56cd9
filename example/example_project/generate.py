"""Generate a tree of static files shaped like a real project's: CSS that
references images and fonts (so a manifest storage has URLs to rewrite), JS,
SVG, PNG-like and WOFF2-like binaries, JSON, and a few larger bundles.

    python -m example_project.generate DIR [COUNT]

The same count and seed always give the same bytes.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

APPS = 8


def generate(root: Path, count: int, seed: str = "staticship-example") -> list[str]:
    """Write ``count`` files under ``root``; return their relative names."""
    rng = random.Random("%s/%d" % (seed, count))
    names: list[str] = []
    # Assets first, so that every stylesheet can reference existing files.
    assets: list[str] = []
    plan = []
    for i in range(count):
        roll = i % 10
        kind = ("css", "css", "js", "js", "js", "svg", "png", "png", "woff2", "json")[roll]
        plan.append((i, kind))
    for i, kind in plan:
        if kind in ("svg", "png", "woff2"):
            folder = {"svg": "img", "png": "img", "woff2": "fonts"}[kind]
            assets.append("app%02d/%s/%s-%05d.%s" % (i % APPS, folder, kind, i, kind))
    for i, kind in plan:
        app = "app%02d" % (i % APPS)
        if kind == "css":
            name = "%s/css/style-%05d.css" % (app, i)
            body = _css(rng, i, assets)
        elif kind == "js":
            name = "%s/js/module-%05d.js" % (app, i)
            big = i % 97 == 3  # now and then a bundle of some 200 KB
            body = _js(rng, i, 2000 if big else rng.randint(5, 60))
        elif kind == "json":
            name = "%s/data/data-%05d.json" % (app, i)
            body = ('{"id": %d, "values": [%s]}\n' % (
                i, ", ".join(str(rng.randint(0, 9999)) for _ in range(rng.randint(10, 200)))
            )).encode()
        else:
            folder = {"svg": "img", "png": "img", "woff2": "fonts"}[kind]
            name = "%s/%s/%s-%05d.%s" % (app, folder, kind, i, kind)
            if kind == "svg":
                body = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d">'
                        '<circle cx="%d" cy="%d" r="%d"/></svg>\n' % (
                            rng.randint(10, 99), rng.randint(10, 99), rng.randint(1, 9),
                            rng.randint(1, 9), rng.randint(1, 9))).encode()
            else:
                body = rng.randbytes(rng.randint(300, 12000))
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        names.append(name)
    return names


def _css(rng: random.Random, i: int, assets: list[str]) -> bytes:
    rules = ["/* stylesheet %d */" % i]
    picks = rng.sample(assets, min(len(assets), rng.randint(0, 4))) if assets else []
    app = "app%02d" % (i % APPS)
    for n, asset in enumerate(picks):
        # Relative from <app>/css/ to the asset.
        url = "../" + asset.split("/", 1)[1] if asset.startswith(app + "/") else "../../" + asset
        prop = "src" if asset.endswith(".woff2") else "background-image"
        if prop == "src":
            rules.append('@font-face { font-family: "f%d-%d"; src: url("%s"); }' % (i, n, url))
        else:
            rules.append('.c%d-%d { background-image: url("%s"); }' % (i, n, url))
    for n in range(rng.randint(5, 40)):
        rules.append(".r%d-%d { margin: %dpx; color: #%06x; }" % (
            i, n, rng.randint(0, 40), rng.randint(0, 0xFFFFFF)))
    return ("\n".join(rules) + "\n").encode()


def _js(rng: random.Random, i: int, lines: int) -> bytes:
    out = ["// module %d" % i, "export function f%d(x) {" % i]
    for n in range(lines):
        out.append("  x = (x * %d + %d) %% %d;" % (rng.randint(2, 99), n, rng.randint(100, 9999)))
    out.append("  return x;\n}\n")
    return "\n".join(out).encode()


if __name__ == "__main__":
    target = Path(sys.argv[1])
    total = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    print("%d files written under %s" % (len(generate(target, total)), target))
