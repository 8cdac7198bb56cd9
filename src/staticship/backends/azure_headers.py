"""Azure: reading a blob's content settings back (Get Blob Properties) and
giving it new ones without sending its bytes (Set Blob Properties). See
``staticship.headers``.

Set Blob Properties replaces every content setting, clearing those it does
not name, Content-MD5 included: it names all of them, with the blob's MD5
(the token its listing shows). AzureStorage writes no metadata: a blob's
metadata is neither looked at nor changed. A subclass that writes its own way (its own ``_save``) is uploaded
again: what it writes cannot be known here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .base import Prepared, overrides

SERVES = "storages.backends.azure_storage.AzureStorage"
#: The content settings AzureStorage writes, as Blob Properties shows them.
FIELDS = ("content_type", "content_encoding", "content_language", "content_disposition",
          "cache_control")


def carries(settings: Mapping[str, Any], found: Any) -> bool:
    """True when a blob's ``found`` content settings are ``settings``."""
    if not set(settings) <= set(FIELDS):
        return False
    return all((getattr(found, f, None) or None) == (settings.get(f) or None) for f in FIELDS)


class AzureHeaders:
    """The Azure adapter's side of ``headers`` (mixed into ``AzureAdapter``)."""

    requests: Any
    storage: Any

    @property
    def client(self) -> Any:
        raise NotImplementedError

    def _own_writes(self) -> bool:
        return not overrides(self.storage, SERVES, "_save")

    def inspect(self, key: str, item: Prepared) -> bool:
        if not self._own_writes():
            return False
        self.requests["HEAD"] += 1
        found = self.client.get_blob_client(key).get_blob_properties(timeout=self.storage.timeout)
        return carries(item.params["settings"], found.content_settings)

    def updates_in_place(self, item: Prepared) -> bool:
        return self._own_writes() and set(item.params["settings"]) <= set(FIELDS)

    def rewrite(self, key: str, item: Prepared) -> str | None:
        from azure.storage.blob import ContentSettings

        settings = dict(item.params["settings"])
        settings["content_md5"] = bytearray(bytes.fromhex(item.md5))
        self.requests["PUT"] += 1
        self.client.get_blob_client(key).set_http_headers(
            ContentSettings(**settings), timeout=self.storage.timeout)
        return None
