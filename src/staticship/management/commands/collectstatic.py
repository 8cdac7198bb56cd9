"""``collectstatic``, made fast. Every stock option keeps its meaning;
``--disable-staticship`` (or ``STATICSHIP_ENABLED = False``) runs the stock
command unchanged."""

from __future__ import annotations

from typing import Any

from django.contrib.staticfiles.management.commands import collectstatic
from django.core.files.storage import FileSystemStorage

from ... import conf
from ...runner import collect, configured_class


class Command(collectstatic.Command):
    help = collectstatic.Command.help + " (staticship: compares by content, uploads in parallel)"

    def add_arguments(self, parser: Any) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--disable-staticship",
            action="store_true",
            help="Run Django's stock collectstatic instead of staticship.",
        )

    def set_options(self, **options: Any) -> None:
        super().set_options(**options)
        self.staticship = bool(conf.get("ENABLED")) and not options.get("disable_staticship")

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
            return super().collect()
        return collect(self)
