"""Sites and storages that several test modules share: the example site,
manifest storages tuned for tests, and how to read back what a run wrote."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.contrib.staticfiles.storage import ManifestStaticFilesStorage
from storages.backends.s3 import S3ManifestStaticStorage

from .conftest import S3Target, Tree, collectstatic


WRITES = ("PutObject", "UploadPart", "CreateMultipartUpload", "CompleteMultipartUpload",
          "DeleteObject", "DeleteObjects", "CopyObject")


class Tuned:
    """The configuration under test, shared by the S3 class and its local twin."""

    support_js_module_import_aggregation = True
    max_post_process_passes = 7
    manifest_name = "assets.json"


class TunedS3(Tuned, S3ManifestStaticStorage):
    pass


class TunedLocal(Tuned, ManifestStaticFilesStorage):
    pass


class KeepingS3(TunedS3):
    keep_intermediate_files = True


class KeepingLocal(TunedLocal):
    keep_intermediate_files = True


def write_site(tree: Tree) -> None:
    tree.write("img/bg.png", b"\x89PNG bg")
    tree.write("img/icon.svg", b"<svg/>")
    tree.write("fonts/x.woff2", b"woff2")
    tree.write("fonts/x.eot", b"eot")
    tree.write("css/base.css",
               b'@import url("theme/colors.css");\nbody { background: url("../img/bg.png"); }\n')
    tree.write("css/theme/colors.css",
               b'@import "fonts.css";\n.a { background: url("../../img/icon.svg#frag"); }\n')
    tree.write("css/theme/fonts.css",
               b'@font-face { src: url("../../fonts/x.woff2") format("woff2"),'
               b' url("../../fonts/x.eot?#iefix"); }\n')
    # A chain: each file's hash depends on the next one's.
    tree.write("css/chain/a.css", b'@import url("b.css");\n')
    tree.write("css/chain/b.css", b'@import url("c.css");\n')
    tree.write("css/chain/c.css", b'p { background: url("../../img/bg.png"); }\n')
    tree.write("css/site.css", b"h1{color:red}\n/*# sourceMappingURL=site.css.map */\n")
    tree.write("css/site.css.map", b'{"version":3}')
    tree.write("js/app.js",
               b'import { util } from "./lib/util.js";\nexport * from "./lib/other.js";\n'
               b"util();\n//# sourceMappingURL=app.js.map\n")
    tree.write("js/app.js.map", b'{"version":3}')
    tree.write("js/lib/util.js", b"export function util() {}\n")
    tree.write("js/lib/other.js", b'import "./util.js";\nexport const other = 1;\n')


def local_output(tree: Tree, tmp_path: Path, cls: type, tag: str) -> dict[str, bytes]:
    """What Django's own storage publishes for the tree, on local disk."""
    root = tmp_path / ("django-" + tag)
    storages = {
        "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
        "staticfiles": {"BACKEND": "%s.%s" % (cls.__module__, cls.__qualname__),
                        "OPTIONS": {"location": str(root)}},
    }
    collectstatic("--disable-staticship", tree=tree, storages=storages, STATIC_ROOT=str(root))
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def bucket_output(s3: S3Target, location: str) -> dict[str, bytes]:
    prefix = location + "/"
    return {
        key[len(prefix):]: s3.get(key)
        for key in s3.objects(prefix)
        if not key[len(prefix):].startswith(".staticship/")
    }


def s3_settings(s3: S3Target, cls: type) -> dict[str, Any]:
    return s3.settings("%s.%s" % (cls.__module__, cls.__qualname__))


def recorded_names(state: bytes, deployment: int | str = 0) -> set[str]:
    """The names the state record ``state`` says a deployment uses: the
    ``deployment``-th of its history (0: the newest), or the one of that id."""
    from staticship.state import State

    record = State.loads(state)
    assert record.problem is None, record.problem
    found = deployment if isinstance(deployment, str) else record.deployments[deployment]
    return set(record.used[found])
