"""``collectstatic``, made fast. Every stock option keeps its meaning;
``--disable-staticship`` (or ``STATICSHIP_ENABLED = False``) runs the stock
command unchanged."""

from __future__ import annotations

import traceback
from typing import Any

from django.contrib.staticfiles.management.commands import collectstatic
from django.core.files.storage import FileSystemStorage
from django.core.management.base import CommandError

from ... import conf
from ...runner import collect, configured_class, stock


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
        self.staticship = bool(conf.get("ENABLED")) and not options.get("disable_staticship")
        self.report_path = options.get("report")
        self.prune = bool(options.get("prune"))

    def is_local_storage(self) -> bool:
        # Decided from the configured class, so that building the storage
        # (which, for manifest storages, downloads the remote manifest) waits
        # until it is needed.
        cls = configured_class() if self.staticship else None
        if cls is None:
            return super().is_local_storage()
        return issubclass(cls, FileSystemStorage)

    def collect(self) -> dict[str, list[str]]:
        if not self.staticship or self.symlink:
            if self.prune:
                raise CommandError("--prune needs staticship (it is disabled, or --link is set).")
            return stock(self)
        try:
            return collect(self)
        except CommandError as exc:
            if self.verbosity >= 3 and exc.__cause__ is not None:
                self.stderr.write("".join(traceback.format_exception(exc.__cause__)))
            raise
        except KeyboardInterrupt:
            raise CommandError(
                "Interrupted. Uploads in flight were finished and the rest abandoned; "
                "nothing after them was published (a manifest goes last), so the "
                "previous deployment is still served. Run again to finish.",
                returncode=130,
            ) from None
