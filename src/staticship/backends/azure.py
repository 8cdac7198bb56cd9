"""Azure Blob Storage (``storages.backends.azure_storage.AzureStorage``).

Listing: one paginated List Blobs over the storage's location; each blob's
``Content-MD5`` property (hex) is the token. Azure sets that property by
itself only for blobs written in one Put Blob request, so every upload here
makes sure the blob has it whatever its size: obstore's single Put Blob (the
service computes it), or the SDK with ``x-ms-blob-content-md5`` for the whole
blob (sent with Put Blob, or with Put Block List when the blob goes in
blocks). AzureStorage does not compress, so the fingerprint is the MD5 of the
file itself. The content settings are the storage's own
(``_get_content_settings_parameters``, hence ``get_object_parameters``).
"""

from __future__ import annotations

import base64
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast
from urllib.parse import quote, unquote, urlencode
from xml.etree import ElementTree

from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import Storage

from .. import fingerprint as fp
from ..plan import RemoteState
from ..sources import LocalFile
from .base import (
    MISSING, Adapter, Conflict, Explanation, Prepared, TransferError, batches, configured_as,
    error_text, first_line, overrides, prepare_body, refused, timestamp,
)
from .replace import Occupied, is_manifest, replace

# AzureStorage is imported only when a storage derives from it (the Azure SDK
# is slow to import).
SERVES = "storages.backends.azure_storage.AzureStorage"

# Content settings obstore writes as the SDK does (x-ms-blob-* headers).
_FAST_SETTINGS = {
    "content_type": "Content-Type",
    "content_encoding": "Content-Encoding",
    "content_language": "Content-Language",
    "content_disposition": "Content-Disposition",
    "cache_control": "Cache-Control",
}
# Bodies up to this size go through obstore in one Put Blob (held in memory).
FAST_MAX_SIZE = 64 * 1024 * 1024
# Blob Batch takes at most 256 subrequests in one request.
BATCH_LIMIT = 256
_TRANSIENT_STATUS = (408, 429, 500, 502, 503, 504)


Listed = tuple[str, "str | None", int, "float | None"]


def parse_list_blobs(body: bytes) -> tuple[list[Listed], str]:
    """(name, MD5 hex or None, size, last-modified time) of every blob in one
    List Blobs answer, and the next marker ("" on the last page)."""
    root = ElementTree.fromstring(body)
    blobs: list[Listed] = []
    for blob in root.iterfind("Blobs/Blob"):
        name_el = blob.find("Name")
        if name_el is None:
            continue
        name = name_el.text or ""
        if name_el.get("Encoded", "").lower() == "true":  # names with characters XML cannot hold
            name = unquote(name)
        props = blob.find("Properties")
        md5_b64 = props.findtext("Content-MD5") if props is not None else None
        size = props.findtext("Content-Length") if props is not None else None
        token = base64.b64decode(md5_b64).hex() if md5_b64 else None
        modified = timestamp(props.findtext("Last-Modified") if props is not None else None)
        blobs.append((name, token, int(size or 0), modified))
    return blobs, root.findtext("NextMarker") or ""


def _conditions(expect: str | None) -> dict[str, Any]:
    """upload_blob's arguments for a write expecting version ``expect``:
    If-Match on the ETag read, or If-None-Match: * (``overwrite=False``)."""
    if expect is None:
        return {"overwrite": True}
    if expect == MISSING:
        return {"overwrite": False}
    from azure.core import MatchConditions

    return {"overwrite": True, "etag": expect, "match_condition": MatchConditions.IfNotModified}


def md5_token(content_md5: Any) -> str | None:
    """The hex MD5 of a listed blob's ``content_md5`` (bytes), if set."""
    if not content_md5:
        return None
    return bytes(content_md5).hex()


class AzureAdapter(Adapter):
    label = "azure"
    conditional_writes = True
    serves = SERVES
    #: Passed to the SDK client when set (tests lower them to force blocks).
    max_single_put_size: int | None = None
    max_block_size: int | None = None
    #: Blobs per List Blobs page (the service's maximum; tests lower it).
    list_page_size = 5000

    def __init__(self, storage: Storage, *, workers: int = 32) -> None:
        super().__init__(storage, workers=workers)
        self.container_name: str = storage.azure_container
        self.prefix: str = storage._get_valid_path("x")[:-1]
        self._client: Any = None
        self._lock = threading.Lock()
        self._local = threading.local()
        self._hooked: Any = None
        self._fast: _ObstoreWriter | None = None
        from .. import conf

        if conf.get("FAST_TRANSFER"):
            self._fast = _ObstoreWriter.for_storage(storage, workers)

    # -- where -------------------------------------------------------------
    def key(self, name: str) -> str:
        return str(self.storage._get_valid_path(name))

    def describe(self) -> str:
        return "Azure container '%s' under '%s'" % (self.container_name, self.prefix or "/")

    @property
    def client(self) -> Any:
        """A container client like the storage's, its connection pool sized
        to the workers (the storage's own if a subclass builds it)."""
        with self._lock:
            if self._client is None:
                self._client = self._make_client()
            return self._client

    def _make_client(self) -> Any:
        storage: Any = self.storage
        if overrides(storage, SERVES, "_get_service_client"):
            return storage.client
        import requests
        from azure.core.pipeline.transport._requests_basic import (  # type: ignore[attr-defined]
            BiggerBlockSizeHTTPAdapter,
        )
        from azure.storage.blob import BlobServiceClient
        from urllib3.util.retry import Retry

        session = requests.Session()
        adapter = BiggerBlockSizeHTTPAdapter(
            pool_connections=4, pool_maxsize=max(self.workers, 10),
            max_retries=Retry(total=False, redirect=False, raise_on_status=False),
        )
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        extra: dict[str, Any] = {"session": session}
        if self.max_single_put_size:
            extra["max_single_put_size"] = self.max_single_put_size
        if self.max_block_size:
            extra["max_block_size"] = self.max_block_size
        if storage.connection_string is not None:
            service = BlobServiceClient.from_connection_string(storage.connection_string, **extra)
        else:
            account_url = "%s://%s.blob.%s" % (
                storage.azure_protocol, storage.account_name, storage.endpoint_suffix)
            credential: Any = None
            if storage.account_key:
                credential = {"account_name": storage.account_name,
                              "account_key": storage.account_key}
            elif storage.sas_token:
                credential = storage.sas_token
            elif storage.token_credential:
                credential = storage.token_credential
            options = dict(storage.client_options or {})
            if storage.api_version:
                options["api_version"] = storage.api_version
            service = BlobServiceClient(account_url, credential=credential, **{**options, **extra})
        return service.get_container_client(storage.azure_container)

    # -- list --------------------------------------------------------------
    def inventory(self) -> dict[str, RemoteState]:
        raw = self._raw_pages()
        if raw is not None:
            return self._collect(raw)
        pages = self.client.list_blobs(
            name_starts_with=self.prefix or None, timeout=self.storage.timeout,
            results_per_page=self.list_page_size,
        ).by_page()
        return self._collect(
            [(b.name, md5_token(b.content_settings.content_md5), b.size, timestamp(b.last_modified))
             for b in page]
            for page in pages
        )

    def _collect(self, pages: Any) -> dict[str, RemoteState]:
        found: dict[str, RemoteState] = {}
        cut = len(self.prefix)
        for page in pages:
            self.requests["LIST"] += 1
            for name, token, size, modified in page:
                found[name[cut:]] = RemoteState(token, size, key=name, modified=modified)
        return found

    def _raw_pages(self) -> Iterator[list[Listed]] | None:
        """List Blobs pages read with ElementTree, through the container
        client's own pipeline (same authentication, retries and transport).

        The SDK's model deserialisation costs about 0.3 ms a blob (0.3 s per
        1,000, seconds for large containers); parsing the XML directly costs a
        few microseconds.  None when the client is not one this can drive (a
        SAS in the URL, another SDK layout): the SDK's listing is used then.
        """
        client = self.client
        send = getattr(getattr(client, "_client", None), "_send_request", None)
        url = getattr(client, "url", "")
        version = getattr(client, "api_version", None)
        if send is None or not url or "?" in url or not version:
            return None
        try:
            from azure.core.exceptions import HttpResponseError
            from azure.core.rest import HttpRequest
        except ImportError:  # pragma: no cover - azure-core always comes with the SDK
            return None
        timeout = self.storage.timeout

        def pages() -> Iterator[list[Listed]]:
            marker = ""
            while True:
                query = {"restype": "container", "comp": "list", "maxresults": str(self.list_page_size)}
                if self.prefix:
                    query["prefix"] = self.prefix
                if marker:
                    query["marker"] = marker
                if timeout:  # the service's own time limit, as the SDK sends it
                    query["timeout"] = str(int(timeout))
                request = HttpRequest("GET", url + "?" + urlencode(query, quote_via=quote),
                                      headers={"x-ms-version": version, "Accept": "application/xml"})
                response = send(request)
                if response.status_code != 200:
                    raise HttpResponseError(response=response)
                page, marker = parse_list_blobs(response.content)
                yield page
                if not marker:
                    return

        return pages()

    # -- fingerprint -------------------------------------------------------
    def content_settings(self, name: str) -> dict[str, Any]:
        """The content settings ``AzureStorage._save`` would give ``name``."""
        storage: Any = self.storage
        return dict(storage._get_content_settings_parameters(self.key(name), None))

    def write_options(self, name: str) -> Any:
        return self.content_settings(name)

    def prepare(self, file: LocalFile, remote: RemoteState | None) -> Prepared:
        params = {"settings": self.content_settings(file.name), "exists": remote is not None}
        return prepare_body(file, params)

    def expected_token(self, item: Prepared) -> str | None:
        return item.md5

    # -- upload ------------------------------------------------------------
    def upload(self, item: Prepared) -> str | None:
        key = self.key(item.file.name)
        try:
            if self._fast is not None and self._fast.can_write(item):
                self._fast.put(key, item)
                self.requests["PUT"] += 1
            elif not overrides(self.storage, SERVES, "_save"):
                self._upload_with_sdk(key, item)
            else:
                self._upload_through_storage(item)
        except TransferError:
            raise
        except Exception as exc:  # noqa: BLE001 - classified and re-raised
            raise self._classify(exc, key) from exc
        return None

    def _upload_with_sdk(self, key: str, item: Prepared) -> None:
        """``AzureStorage._save`` (same settings and client options), but
        overwriting, and with the blob's MD5 set whatever its size."""
        from azure.storage.blob import ContentSettings

        storage: Any = self.storage
        settings = dict(item.params["settings"])
        settings["content_md5"] = bytearray(bytes.fromhex(item.md5))
        with item.body() as body:
            self.client.upload_blob(
                key, body, length=item.size,
                content_settings=ContentSettings(**settings),
                max_concurrency=storage.upload_max_conn,
                timeout=storage.timeout,
                overwrite=True,
            )
        self._count_sdk_upload(item.size)

    def _count_sdk_upload(self, size: int) -> None:
        single = self.max_single_put_size or 64 * 1024 * 1024
        if size <= single:
            self.requests["PUT"] += 1
        else:
            block = self.max_block_size or 4 * 1024 * 1024
            self.requests["PUT"] += -(-size // block) + 1

    def _upload_through_storage(self, item: Prepared) -> None:
        """A subclass writes its own way: call its ``_save``, with our MD5
        added to the content settings it asks ``get_object_parameters`` for.
        Like stock collectstatic, delete first unless it overwrites; a blob
        that is there although the listing did not show it (a retry after a
        lost response) is replaced, not a 409 (see ``replace``)."""
        storage: Any = self.storage
        name = item.file.name
        self._hook_parameters()
        replace(storage, name, lambda content: self._save_through_storage(name, item, content),
                item.source, exists=item.params["exists"],
                overwrites=lambda: bool(storage.overwrite_files),
                precious=is_manifest(storage, name), requests=self.requests)
        self._count_sdk_upload(item.size)

    def _save_through_storage(self, name: str, item: Prepared, content: File) -> None:
        from azure.core.exceptions import ResourceExistsError

        storage: Any = self.storage
        md5 = item.md5
        if isinstance(content, ContentFile):  # the previous blob, put back (see ``replace``)
            md5 = fp.md5_hex(content.read())
            content.seek(0)
        try:
            with self._carrying_md5(self.key(name), md5):
                storage._save(name, content)
        except ResourceExistsError as exc:
            raise Occupied("%s (blob %s)" % (_one_line(exc), self.key(name))) from exc

    @contextmanager
    def _carrying_md5(self, key: str, md5: str) -> Iterator[None]:
        self._local.md5 = (key, md5)
        try:
            yield
        finally:
            self._local.md5 = None

    def _hook_parameters(self) -> None:
        with self._lock:
            if self._hooked is not None:
                return
            storage: Any = self.storage
            original = storage.get_object_parameters
            had_own = "get_object_parameters" in vars(storage)
            local = self._local

            def get_object_parameters(name: str) -> dict[str, Any]:
                params = dict(original(name))
                pending = getattr(local, "md5", None)
                if pending and pending[0] == name and "content_md5" not in params:
                    params["content_md5"] = bytearray(bytes.fromhex(pending[1]))
                return params

            storage.get_object_parameters = get_object_parameters
            self._hooked = (original, had_own)

    # -- small objects -----------------------------------------------------
    def read_small(self, name: str) -> bytes | None:
        return self.read_versioned(name)[0]

    def read_versioned(self, name: str) -> tuple[bytes | None, str | None]:
        from azure.core.exceptions import ResourceNotFoundError

        self.requests["GET"] += 1
        try:
            download = self.client.download_blob(self.key(name))
            data: bytes = download.readall()
        except ResourceNotFoundError:
            return None, MISSING
        except Exception as exc:  # noqa: BLE001
            raise self._classify(exc, self.key(name)) from exc
        return data, getattr(download.properties, "etag", None)

    def record_settings(self, name: str, content_type: str) -> dict[str, Any]:
        """The content settings the storage gives every blob (cache control,
        object parameters) for one of our records, with the record's content
        type and no content encoding (the record is never compressed)."""
        settings = self.content_settings(name)
        settings["content_type"] = content_type
        settings.pop("content_encoding", None)
        return settings

    def write_small(
        self, name: str, data: bytes, content_type: str, *, expect: str | None = None
    ) -> None:
        from azure.core.exceptions import (
            ResourceExistsError, ResourceModifiedError, ResourceNotFoundError,
        )
        from azure.storage.blob import ContentSettings

        self.requests["PUT"] += 1
        settings = self.record_settings(name, content_type)
        settings["content_md5"] = bytearray.fromhex(fp.md5_hex(data))
        try:
            self.client.upload_blob(
                self.key(name), data, content_settings=ContentSettings(**settings),
                **_conditions(expect),
            )
        except (ResourceExistsError, ResourceModifiedError, ResourceNotFoundError) as exc:
            if expect is None:
                raise self._classify(exc, self.key(name)) from exc
            raise Conflict("%s changed since it was read" % self.key(name)) from exc
        except Exception as exc:  # noqa: BLE001
            raise self._classify(exc, self.key(name)) from exc

    def delete_many(self, keys: list[str]) -> None:
        """Delete with Blob Batch (``delete_blobs``), up to ``BATCH_LIMIT`` blobs
        a request. A missing blob is not an error."""
        for chunk in batches(keys, BATCH_LIMIT):
            self._delete_batch(list(chunk))

    def _delete_batch(self, keys: list[str]) -> None:
        storage: Any = self.storage
        first = keys[0] if len(keys) == 1 else "%s (and %d more)" % (keys[0], len(keys) - 1)
        self.requests["BATCH"] += 1
        try:
            answers = list(self.client.delete_blobs(
                *keys, raise_on_any_failure=False, timeout=storage.timeout))
        except Exception as exc:  # noqa: BLE001 - classified and re-raised
            raise self._classify(exc, first) from exc
        if len(answers) != len(keys):
            raise TransferError("Azure batch delete: %d answers for %d blobs (blob %s)"
                                % (len(answers), len(keys), first))
        failed = [(key, answer) for key, answer in zip(keys, answers, strict=False)
                  if not (200 <= answer.status_code < 300 or answer.status_code == 404)]
        if failed:
            key, answer = failed[0]
            code = answer.headers.get("x-ms-error-code") or answer.reason or ""
            more = " (%d more failed)" % (len(failed) - 1) if len(failed) > 1 else ""
            transient = all(a.status_code in _TRANSIENT_STATUS for _, a in failed)
            raise TransferError("HTTP %d: %s (blob %s)%s" % (answer.status_code, code, key, more),
                                transient=transient)

    # -- errors ------------------------------------------------------------
    def _classify(self, exc: BaseException, key: str) -> TransferError:
        status = getattr(exc, "status_code", None)
        text = _one_line(exc)
        transient = status in (408, 429, 500, 502, 503, 504) or type(exc).__name__ in (
            "ServiceRequestError", "ServiceResponseError", "ServiceRequestTimeoutError",
            "ServiceResponseTimeoutError",
        ) or any(
            marker in text
            for marker in ("503", "500 Internal", "ServerBusy", "OperationTimedOut",
                           "timed out", "Connection reset", "Connection aborted",
                           "error sending request", "Service Unavailable")
        )
        if status in (400, 401, 403, 404, 409, 412):
            transient = False
        if refused(exc):  # a wrong endpoint: retrying only spends seconds
            transient = False
        return TransferError("%s (blob %s)" % (text, key) if key else text, transient=transient,
                             key=key)

    def explain(self, exc: BaseException) -> Explanation | None:
        text = error_text(exc)
        container = "container '%s'" % self.container_name
        if "ContainerNotFound" in text:
            return Explanation(
                "the %s does not exist" % container,
                "create it, or correct %s" % configured_as("azure_container", "AZURE_CONTAINER"))
        if "AuthenticationFailed" in text or "AuthorizationFailure" in text or "403" in text:
            return Explanation(
                "access denied on %s" % container,
                "check the account key, SAS token or credential (%s), and that it may "
                "list, read, write and delete blobs"
                % configured_as("connection_string", "AZURE_CONNECTION_STRING",
                                "AZURE_ACCOUNT_KEY", "AZURE_SAS_TOKEN"))
        if refused(exc) or "Failed to establish" in text or "error sending request" in text:
            return Explanation(
                "the Azure endpoint cannot be reached",
                "check %s and the network"
                % configured_as("connection_string", "AZURE_CONNECTION_STRING",
                                "AZURE_ACCOUNT_NAME"))
        return None

    def close(self) -> None:
        self._fast = None
        if self._hooked is not None:
            original, had_own = self._hooked
            if had_own:
                self.storage.get_object_parameters = original
            else:
                vars(self.storage).pop("get_object_parameters", None)
            self._hooked = None


def _one_line(exc: BaseException) -> str:
    """One line for an SDK or obstore error: the HTTP status and Azure error
    code when known, then the first line of the message."""
    full = str(exc).strip()
    first = first_line(exc)
    status = getattr(exc, "status_code", None)
    code = getattr(exc, "error_code", None)
    if code is None:
        found = re.search(r"ErrorCode:\s*(\w+)|<Code>(\w+)</Code>", full)
        code = found and (found.group(1) or found.group(2))
    if status is None:
        found = re.search(r"status code: (\d{3})|status: (\d{3})", full)
        status = found and (found.group(1) or found.group(2))
    head = " ".join(p for p in ("HTTP %s" % status if status else "", str(code or "")) if p)
    return "%s: %s" % (head or type(exc).__name__, first)


class _ObstoreWriter:
    """Writes blobs with obstore's AzureStore in one Put Blob each, from the
    storage's account endpoint and shared key."""

    def __init__(self, container: str, config: dict[str, Any], options: dict[str, Any]) -> None:
        self.container = container
        self.config = config
        self.options = options
        self._store: Any = None
        self._lock = threading.Lock()

    @classmethod
    def for_storage(cls, storage: Any, workers: int) -> _ObstoreWriter | None:
        try:
            import obstore  # noqa: F401
        except ImportError:
            return None
        if overrides(storage, SERVES, "_save"):
            return None
        if overrides(storage, SERVES, "_get_service_client"):
            return None
        if storage.client_options or storage.api_version:
            return None  # proxies, transports, versions obstore would not honour
        service = storage.service_client
        credential = service.credential
        account = getattr(credential, "account_name", None)
        key = getattr(credential, "account_key", None)
        if not account or not key:
            return None  # SAS and token credentials: the SDK path
        endpoint = service.url.split("?", 1)[0].rstrip("/")
        config = {"account_name": account, "account_key": key, "endpoint": endpoint}
        options: dict[str, Any] = {
            "pool_max_idle_per_host": str(max(workers, 10)),
            "timeout": "%ds" % max(int(storage.timeout or 20), 300),
            "connect_timeout": "60s",
        }
        if endpoint.startswith("http://"):
            options["allow_http"] = True
        return cls(storage.azure_container, config, options)

    def can_write(self, item: Prepared) -> bool:
        if item.size > FAST_MAX_SIZE:
            return False
        settings = item.params["settings"]
        if not set(settings) <= set(_FAST_SETTINGS):
            return False
        return all(v is None or (isinstance(v, str) and v.isascii()) for v in settings.values())

    def store(self) -> Any:
        with self._lock:
            if self._store is None:
                from obstore.store import AzureStore

                self._store = AzureStore(
                    self.container,
                    config=cast(Any, dict(self.config)),
                    client_options=cast(Any, dict(self.options)),
                )
            return self._store

    def put(self, key: str, item: Prepared) -> None:
        import obstore

        attributes = {
            _FAST_SETTINGS[name]: value
            for name, value in item.params["settings"].items()
            if value is not None
        }
        with item.body() as body:
            obstore.put(self.store(), key, body.read(), attributes=attributes, use_multipart=False)
