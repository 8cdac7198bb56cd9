"""The floor for a remote collectstatic: everything it must do locally.

Start Django, import the configured static files storage and build it
with its options (that imports the cloud client and django-storages, as any
collectstatic with that storage does; it sends no request), run the
staticfiles finders, then:

* for a plain storage: read and MD5 every file (what a content-comparing tool
  needs before it can tell what changed);
* for a manifest storage (``--manifest``): copy every file into an in-memory
  manifest storage and post-process it there (hash the names, rewrite the CSS
  references, build the manifest), as ManifestStaticFilesStorage would.

Nothing remote is touched: a remote tool's warm run costs at least this much.
"""

import hashlib

from django.contrib.staticfiles.finders import get_finders
from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils.module_loading import import_string


class Command(BaseCommand):
    help = "Find and hash (or post-process in memory) every static file, touching no remote storage."

    def add_arguments(self, parser):
        parser.add_argument("--manifest", action="store_true", help="post-process in memory like a manifest storage")
        parser.add_argument("--no-storage", action="store_true", help="do not instantiate the configured storage")

    def handle(self, *args, manifest=False, no_storage=False, **options):
        if not no_storage:
            # Import the configured backend and build it with the same options
            # (the storages connect lazily, so no request is sent).  A manifest
            # storage would read its manifest right away: a plain S3Storage
            # stands in for it.
            conf = settings.STORAGES["staticfiles"]
            backend = import_string(conf["BACKEND"])
            from django.contrib.staticfiles.storage import ManifestFilesMixin

            if issubclass(backend, ManifestFilesMixin):
                from storages.backends.s3 import S3Storage

                backend = S3Storage
            backend(**conf.get("OPTIONS", {}))
        found = {}
        ignore = ["CVS", ".*", "*~"]
        for finder in get_finders():
            for path, storage in finder.list(ignore):
                prefix = getattr(storage, "prefix", None)
                name = f"{prefix}/{path}" if prefix else path
                if name not in found:
                    found[name] = (storage, path)
        if manifest:
            from benchfloor.storages import InMemoryManifestStorage

            target = InMemoryManifestStorage()
            for name, (storage, path) in found.items():
                with storage.open(path) as fh:
                    target.save(name, fh)
            processed = 0
            for _orig, _new, done in target.post_process(found, dry_run=False):
                if isinstance(done, Exception):
                    raise done
                processed += bool(done)
            self.stdout.write(f"{len(found)} static files copied in memory, {processed} post-processed.")
            return
        for name, (storage, path) in found.items():
            h = hashlib.md5()
            with storage.open(path) as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
        self.stdout.write(f"{len(found)} static files hashed.")
