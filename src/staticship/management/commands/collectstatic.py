"""``collectstatic``, made fast. Every stock option keeps its meaning;
``--disable-staticship`` (or ``STATICSHIP_ENABLED = False``) runs the stock
command unchanged."""

from __future__ import annotations

import os
import traceback
from typing import Any

from django.contrib.staticfiles.management.commands import collectstatic
from django.core.files.storage import FileSystemStorage
from django.core.management.base import CommandError

from ... import conf
from ...errors import RunFailed
from ...options import Phase
from ...runner import collect, configured_class, is_manifest_storage_class, unwrap

# What is true after Ctrl-C, by how far the run got (None: stock was running).
INTERRUPTED: dict[Phase | None, str] = {
    Phase.NOTHING_WRITTEN: "Interrupted before anything was written: the destination is as it "
    "was. Run again to deploy.",
    Phase.UPLOADING: "Interrupted while uploading: uploads in flight were finished and the rest "
    "abandoned, so some files are new and others not yet. Run again to finish.",
    Phase.BEFORE_MANIFEST: "Interrupted while uploading, before the manifest: uploads in flight "
    "were finished and the rest abandoned; the new manifest was not published, so the previous "
    "deployment is still served. Run again to finish.",
    Phase.PUBLISHED: "Interrupted after the new deployment was published (it is live): "
    "staticship's records and the deletes of --prune or --clear may be unfinished. Run again "
    "to finish them.",
    Phase.DELETING: "Interrupted while deleting files the deployment no longer uses: the new "
    "deployment is live and complete, some of those files remain. Run again to finish.",
    None: "Interrupted while Django's stock collectstatic was copying files (staticship does not "
    "handle this storage): files copied so far are in place, the rest are not. Run again to "
    "finish.",
}


class Command(collectstatic.Command):
    help = collectstatic.Command.help + " (staticship: compares by content, uploads in parallel)"

    def add_arguments(self, parser: Any) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--disable-staticship",
            action="store_true",
            help="Run Django's stock collectstatic instead of staticship.",
        )
        parser.add_argument(
            "--report",
            metavar="FILE",
            help="Also write what happened as JSON to FILE (docs/report-schema.json), "
            "even when the run fails partway.",
        )
        parser.add_argument(
            "--prune",
            action="store_true",
            help="After publishing, delete remote files under the location that no "
            "longer belong to the deployment (for manifest storages: to any of the "
            "last STATICSHIP_PRUNE_KEEP deployments). With --dry-run, list them.",
        )

    def set_options(self, **options: Any) -> None:
        super().set_options(**options)
        #: Why the user turned staticship off for this run (None: it is on).
        self.disabled_by: str | None = (
            "--disable-staticship" if options.get("disable_staticship")
            else None if conf.get("ENABLED") else "STATICSHIP_ENABLED = False")
        self.staticship = self.disabled_by is None
        self.report_path = options.get("report")
        self.prune = bool(options.get("prune"))
        #: How far the run got when Ctrl-C came (set by the runner).
        self.interrupted_at: Phase | None = Phase.NOTHING_WRITTEN

    def handle(self, **options: Any) -> Any:
        if conf.get("ENABLED") and not options.get("disable_staticship"):
            self.build_local_storage()
        return super().handle(**options)

    def build_local_storage(self) -> None:
        """Stock ``handle`` builds a local destination (it asks for its
        location), and a local manifest storage reads its manifest then: a
        broken link on that path (a loop, a link to a folder) raised an
        ``OSError`` with a traceback. Build it here and say so in one line."""
        cls = configured_class()
        if cls is None or not (issubclass(cls, FileSystemStorage) and is_manifest_storage_class(cls)):
            return
        try:
            unwrap(self.storage)
        except OSError as exc:
            path = exc.filename or "?"
            what = "a broken symbolic link" if os.path.islink(path) else "unreadable"
            raise CommandError(
                "Cannot read the manifest '%s': it is %s (%s). Remove it or make it a file, "
                "and run again. Nothing was collected." % (path, what, exc.strerror or exc)
            ) from exc

    def is_local_storage(self) -> bool:
        # Decided from the configured class, so that building the storage
        # (which, for manifest storages, downloads the remote manifest) waits
        # until it is needed.
        cls = configured_class() if self.staticship else None
        if cls is None:
            return bool(super().is_local_storage())
        return issubclass(cls, FileSystemStorage)

    def collect(self) -> dict[str, list[str]]:
        try:
            return collect(self)
        except (CommandError, RunFailed) as exc:
            if self.verbosity >= 3 and exc.__cause__ is not None:
                self.stderr.write("".join(traceback.format_exception(exc.__cause__)))
            if isinstance(exc, RunFailed):  # the core's one-line failures, as Django shows them
                raise CommandError(str(exc)) from exc.__cause__
            raise
        except KeyboardInterrupt:
            raise CommandError(INTERRUPTED[self.interrupted_at], returncode=130) from None
