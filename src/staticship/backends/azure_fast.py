"""The Azure fast path: obstore's AzureStore, one Put Blob a file (the
service then sets the blob's Content-MD5 itself), from the storage's account
endpoint and shared key, for blobs whose content settings it writes as the
SDK does."""

from __future__ import annotations

from typing import Any, cast

from .base import Prepared
from .errors import configured_as
from .fast import ObstoreWriter, Off, client_options, unavailable

# Content settings obstore writes as the SDK does (x-ms-blob-* headers).
_FAST_SETTINGS = {
    "content_type": "Content-Type",
    "content_encoding": "Content-Encoding",
    "content_language": "Content-Language",
    "content_disposition": "Content-Disposition",
    "cache_control": "Cache-Control",
}


class _ObstoreWriter(ObstoreWriter):
    """Writes blobs with obstore's AzureStore in one Put Blob each, from the
    storage's account endpoint and shared key."""

    def __init__(self, container: str, config: dict[str, Any], options: dict[str, Any]) -> None:
        super().__init__()
        self.container = container
        self.config = config
        self.options = options

    @staticmethod
    def blocked(storage: Any, serves: str) -> Off | None:
        return blocked(storage, serves)

    @classmethod
    def build(cls, storage: Any, workers: int) -> _ObstoreWriter | Off:
        service = storage.service_client
        credential = service.credential
        account = getattr(credential, "account_name", None)
        key = getattr(credential, "account_key", None)
        if not account or not key:  # SAS and token credentials: the SDK path
            return Off("the storage signs with a SAS or token credential, not an account key",
                       "give it the account key (%s), if that is acceptable"
                       % configured_as("account_key", "AZURE_ACCOUNT_KEY",
                                       "AZURE_CONNECTION_STRING"))
        endpoint = service.url.split("?", 1)[0].rstrip("/")
        config = {"account_name": account, "account_key": key, "endpoint": endpoint}
        options = client_options(workers, endpoint,
                                 timeout="%ds" % max(int(storage.timeout or 20), 300))
        return cls(storage.azure_container, config, options)

    def why_not(self, item: Prepared) -> Off | None:
        """None when obstore writes ``item`` as the SDK would; else why not."""
        if self.can_write(item):
            return None
        return Off("obstore cannot write some blobs exactly as the Azure SDK does (content "
                   "settings beyond type, encoding, language, disposition and cache control, "
                   "non-ASCII values, or over 64 MB)",
                   "none needed (those blobs are written through azure-storage-blob)")

    def can_write(self, item: Prepared) -> bool:
        if not super().can_write(item):
            return False
        settings = item.params["settings"]
        if not set(settings) <= set(_FAST_SETTINGS):
            return False
        return all(v is None or (isinstance(v, str) and v.isascii()) for v in settings.values())

    def store(self) -> Any:
        def make() -> Any:
            from obstore.store import AzureStore

            return AzureStore(self.container, config=cast(Any, dict(self.config)),
                              client_options=cast(Any, dict(self.options)))

        return self.cached((), make)

    def put(self, key: str, item: Prepared) -> None:
        attributes = {
            _FAST_SETTINGS[name]: value
            for name, value in item.params["settings"].items()
            if value is not None
        }
        self.put_whole(self.store(), key, item, attributes)


def blocked(storage: Any, serves: str) -> Off | None:
    """Why obstore cannot write for ``storage``, as far as its settings
    tell without any request (the system check asks this too)."""
    off = unavailable(storage, serves, "_get_service_client")
    if off is not None:
        return off
    if storage.client_options or storage.api_version:
        # Proxies, transports, versions obstore would not honour.
        return Off("the storage sets client_options or api_version, which obstore does not take",
                   "remove %s and %s if they are not needed"
                   % (configured_as("client_options", "AZURE_CLIENT_OPTIONS"),
                      configured_as("api_version", "AZURE_API_VERSION")))
    return None
