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

import threading
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from typing import Any

from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import Storage

from .. import fingerprint as fp
from ..plan import RemoteState
from ..sources import LocalFile
from .base import MISSING, Prepared, overrides, prepare_body
from .cloud import CloudAdapter, batches, timestamp
from .errors import (
    Explanation, TransferError, batch_failure, classify, configured_as, Failure,
    one_line,
)
from .azure_fast import _ObstoreWriter, blocked
from .azure_headers import AzureHeaders
from .fast import Off
from .azure_list import Listed, parse_list_blobs, raw_pages  # noqa: F401 - parse_list_blobs: tests
from .replace import Occupied, is_manifest, replace

# AzureStorage is imported only when a storage derives from it (the Azure SDK
# is slow to import).
SERVES = "storages.backends.azure_storage.AzureStorage"

# Blob Batch takes at most 256 subrequests in one request.
BATCH_LIMIT = 256
# SDK errors worth retrying whatever their text.
_TRANSIENT_TYPES = ("ServiceRequestError", "ServiceResponseError", "ServiceRequestTimeoutError",
                    "ServiceResponseTimeoutError")


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


class AzureAdapter(AzureHeaders, CloudAdapter):
    label = "azure"
    serves = SERVES
    parameter_methods = ("_get_content_settings_parameters", "get_object_parameters",
                         "_get_valid_path", "_normalize_name")
    where = "Azure container"
    client_name = "azure-storage-blob"
    noun = "container"
    #: Passed to the SDK client when set (tests lower them to force blocks).
    max_single_put_size: int | None = None
    max_block_size: int | None = None
    #: Blobs per List Blobs page (the service's maximum; tests lower it).
    list_page_size = 5000

    def __init__(self, storage: Storage, *, workers: int, fast_transfer: bool = True) -> None:
        super().__init__(storage, workers=workers, fast_transfer=fast_transfer)
        self.container_name: str = storage.azure_container
        self._client: Any = None
        self._lock = threading.Lock()
        self._local = threading.local()
        self._hooked: Any = None
        self.fast_writer(_ObstoreWriter.for_storage)

    @property
    def container(self) -> str:
        return self.container_name

    @classmethod
    def blocked(cls, storage: Storage) -> Off | None:
        return blocked(storage, cls.serves)

    # -- where -------------------------------------------------------------
    def key(self, name: str) -> str:
        return str(self.storage._get_valid_path(name))

    def record_key(self, name: str) -> str:
        """Our record's key, the name kept as it is: ``key`` strips leading
        dots (with no location, ``staticship/state.json``: the user's)."""
        return self.prefix + name

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
    def inventory(self, expected: Collection[str] = ()) -> dict[str, RemoteState]:
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
        """List Blobs pages parsed directly (``azure_list``), or None."""
        return raw_pages(self.client, self.prefix, self.list_page_size, self.storage.timeout)

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

    # -- upload ------------------------------------------------------------
    def write(self, key: str, item: Prepared) -> str | None:
        off = self._fast.why_not(item) if self._fast is not None else None
        if self._fast is not None and off is None:
            self._fast.put(key, item)
            self.requests["PUT"] += 1
            return None
        self.went_slow(off)
        if not self.own_save():
            self._upload_with_sdk(key, item)
        else:
            self._upload_through_storage(item)
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
            raise Occupied("%s (blob %s)" % (one_line(exc), self.key(name))) from exc

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
        return self._download(self.key(name))[0]

    def read_versioned(self, name: str) -> tuple[bytes | None, str | None]:
        return self._download(self.record_key(name))

    def _download(self, key: str) -> tuple[bytes | None, str | None]:
        from azure.core.exceptions import ResourceNotFoundError

        self.requests["GET"] += 1
        try:
            download = self.client.download_blob(key)
            data: bytes = download.readall()
        except ResourceNotFoundError:
            return None, MISSING
        except Exception as exc:  # noqa: BLE001
            raise self._classify(exc, key) from exc
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
        key = self.record_key(name)
        self.write_record(key, lambda: self.client.upload_blob(
            key, data, content_settings=ContentSettings(**settings), **_conditions(expect)),
            expect, (ResourceExistsError, ResourceModifiedError, ResourceNotFoundError))

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
            raise batch_failure([(key, answer.status_code,
                                  answer.headers.get("x-ms-error-code") or answer.reason or "")
                                 for key, answer in failed], "blob")

    # -- errors ------------------------------------------------------------
    def _classify(self, exc: BaseException, key: str) -> TransferError:
        return classify(exc, key, "blob", one_line(exc), also=type(exc).__name__ in _TRANSIENT_TYPES,
                        codes=("ServerBusy", "OperationTimedOut", "InternalError"),
                        permanent=(400, 401, 403, 404, 409, 412))

    def explain(self, exc: BaseException) -> Explanation | None:
        failure = Failure.of(exc)
        if failure.code == "ContainerNotFound":
            return self.missing(configured_as("azure_container", "AZURE_CONTAINER"))
        if failure.status == 403 or failure.code in ("AuthenticationFailed", "AuthorizationFailure"):
            return self.denied(
                "check the account key, SAS token or credential (%s), and that it may "
                "list, read, write and delete blobs"
                % configured_as("connection_string", "AZURE_CONNECTION_STRING",
                                "AZURE_ACCOUNT_KEY", "AZURE_SAS_TOKEN"))
        if failure.unreachable:
            return Explanation(
                "the Azure endpoint cannot be reached",
                "check %s and the network"
                % configured_as("connection_string", "AZURE_CONNECTION_STRING",
                                "AZURE_ACCOUNT_NAME"))
        return None

    def close(self) -> None:
        super().close()
        if self._hooked is not None:
            original, had_own = self._hooked
            if had_own:
                self.storage.get_object_parameters = original
            else:
                vars(self.storage).pop("get_object_parameters", None)
            self._hooked = None
