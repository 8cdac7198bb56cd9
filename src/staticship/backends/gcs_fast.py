"""The GCS fast path: obstore's GCSStore (an XML API PUT) with the storage
client's endpoint and credentials, for objects it writes exactly as the
client would (no predefined ACL, simple headers, lowercase metadata). On an
emulator the first upload decides whether the PUT is accepted (see gcs)."""

from __future__ import annotations

import threading
from datetime import timezone
from typing import Any, cast

from .base import Prepared
from .errors import configured_as
from .fast import ObstoreWriter, Off, client_options

DEFAULT_API = "https://storage.googleapis.com"
# Blob properties obstore writes as the JSON API would (XML headers).
_FAST_PROPERTIES = {
    "cache_control": "Cache-Control",
    "content_disposition": "Content-Disposition",
    "content_language": "Content-Language",
}


class _TokenProvider:
    """Bearer tokens for obstore from the storage client's google-auth
    credentials (refreshed under a lock when they near expiry)."""

    def __init__(self, credentials: Any) -> None:
        self.credentials = credentials
        self._lock = threading.Lock()

    def __call__(self) -> dict[str, Any]:
        from google.auth.transport.requests import Request

        with self._lock:
            if not self.credentials.valid:
                self.credentials.refresh(Request())
            expiry = self.credentials.expiry
            if expiry is not None and expiry.tzinfo is None:
                expiry = expiry.replace(tzinfo=timezone.utc)
            return {"token": self.credentials.token, "expires_at": expiry}


def _anonymous() -> dict[str, Any]:
    # Emulators ignore the token; real GCS is never reached with this.
    return {"token": "anonymous", "expires_at": None}


class _ObstoreWriter(ObstoreWriter):
    """Writes objects with obstore's GCSStore (XML API PUT), configured from
    the storage's client (endpoint and credentials)."""

    def __init__(self, bucket: str, config: dict[str, Any], options: dict[str, Any],
                 provider: Any) -> None:
        super().__init__()
        self.bucket = bucket
        self.config = config
        self.options = options
        self.provider = provider
        # Google's endpoint takes the XML PUT; an emulator is asked once (None: not yet).
        self.accepted: bool | None = None if "base_url" in config else True
        self._probe = threading.Lock()

    @classmethod
    def build(cls, storage: Any, workers: int) -> _ObstoreWriter | Off:
        from google.auth.credentials import AnonymousCredentials

        client = storage.client
        endpoint = str(getattr(client._connection, "API_BASE_URL", DEFAULT_API) or DEFAULT_API).rstrip("/")
        config: dict[str, Any] = {}
        options = client_options(workers, endpoint)
        if endpoint != DEFAULT_API:
            config["base_url"] = endpoint
        credentials = getattr(client, "_credentials", None)
        if isinstance(credentials, AnonymousCredentials):
            if endpoint == DEFAULT_API:  # anonymous writes to real GCS: leave them to the client
                return Off("the GCS client is anonymous", "give the storage credentials (%s)"
                           % configured_as("credentials", "GS_CREDENTIALS"))
            provider: Any = _anonymous
        elif credentials is not None and hasattr(credentials, "refresh"):
            provider = _TokenProvider(credentials)
        else:
            return Off("the GCS client's credentials give no tokens obstore could use",
                       "give the storage google-auth credentials (%s)"
                       % configured_as("credentials", "GS_CREDENTIALS"))
        return cls(storage.bucket_name, config, options, provider)

    def why_not(self, item: Prepared) -> Off | None:
        """None when obstore writes ``item`` as the client would; else why not."""
        if self.can_write(item):
            return None
        return Off("obstore cannot write some objects exactly as the GCS client does (a "
                   "predefined ACL, properties beyond Cache-Control, Content-Disposition and "
                   "Content-Language, metadata names not in lowercase, non-ASCII values, or "
                   "over 64 MB)",
                   "none needed (those objects are written through google-cloud-storage)")

    def can_write(self, item: Prepared) -> bool:
        params = item.params
        blob = params["blob"]
        if params["acl"] or not super().can_write(item):
            return False
        if not set(blob) <= {*_FAST_PROPERTIES, "metadata"}:
            return False
        if any(not isinstance(v, str) or not v.isascii() for v in
               [params["content_type"] or "", *(blob[p] for p in _FAST_PROPERTIES if p in blob)]):
            return False
        metadata = blob.get("metadata") or {}
        for k, v in metadata.items():
            # Header names are case-insensitive: only names that stay as they are.
            if not isinstance(k, str) or k != k.lower() or not k.isascii() or not k or \
                    not all(c.isalnum() or c in "-_" for c in k):
                return False
            if not isinstance(v, str) or not v.isascii() or v != v.strip():
                return False
        return True

    def store(self) -> Any:
        def make() -> Any:
            from obstore.store import GCSStore

            return GCSStore(self.bucket, config=cast(Any, dict(self.config)),
                            client_options=cast(Any, dict(self.options)),
                            credential_provider=self.provider)

        return self.cached((), make)

    def try_put(self, key: str, item: Prepared, is_transient: Any) -> bool:
        """Write ``item`` at ``key``; False, having written nothing, when this
        endpoint (an emulator) refuses obstore's request: write it another way.
        On an emulator the first call decides while the others wait; an error
        that may go away (``is_transient``) decides nothing and is raised."""
        if self.accepted is None:
            with self._probe:
                if self.accepted is None:
                    try:
                        self.put(key, item)
                    except Exception as exc:  # the emulator's refusal, or an error to raise
                        if is_transient(exc):
                            raise
                        self.accepted = False
                        return False
                    self.accepted = True
                    return True
        if not self.accepted:
            return False
        self.put(key, item)
        return True

    def put(self, key: str, item: Prepared) -> None:
        blob = item.params["blob"]
        attributes: dict[str, str] = {
            "Content-Type": item.params["content_type"] or "application/octet-stream",
        }
        for prop, header in _FAST_PROPERTIES.items():
            if blob.get(prop) is not None:
                attributes[header] = blob[prop]
        for k, v in (blob.get("metadata") or {}).items():
            attributes[k] = v
        self.put_whole(self.store(), key, item, attributes)

