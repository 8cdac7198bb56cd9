"""Google Cloud Storage (``storages.backends.gcloud.GoogleCloudStorage``).

Listing: one paginated objects.list over the storage's location, asking only
for each object's name, size, ``md5Hash`` and ``crc32c``. The token is the MD5
(hex); composite objects have no MD5, and show ``crc32c:<base64>`` instead,
which a file matches when its CRC32C is the same. Fingerprint: the hashes of
the exact bytes the storage would upload (gzip-compressed by the storage's own
``_compress_content`` where it compresses). Upload: through obstore where
the object comes out the same (no predefined ACL, no content encoding, simple
headers and lowercase metadata), otherwise with the storage's own client and
blob parameters, or through its ``_save`` when a subclass overrides it.

Emulators (an endpoint other than Google's, e.g. STORAGE_EMULATOR_HOST):
fake-gcs-server refuses the XML API's object PUT that obstore sends. On such
an endpoint the first obstore upload decides, before any other is sent: if
the emulator refuses it, that file and every later one go through the
storage's client (the JSON API), which emulators accept.
"""

from __future__ import annotations

import json
import mimetypes
import threading
import uuid
from datetime import timezone
from email.parser import BytesParser
from typing import Any, BinaryIO, cast
from urllib.parse import quote

from django.core.files import File
from django.core.files.storage import Storage

from .. import fingerprint as fp
from ..plan import RemoteState
from ..sources import LocalFile
from .base import (
    MISSING, Adapter, Conflict, Explanation, Prepared, TransferError, batches, configured_as,
    error_text, first_line, overrides, prepare_body, refused, timestamp,
)

# GoogleCloudStorage is imported only when a storage derives from it (the
# Google libraries are slow to import, and warn on old Pythons).
SERVES = "storages.backends.gcloud.GoogleCloudStorage"

CRC_PREFIX = "crc32c:"
DEFAULT_API = "https://storage.googleapis.com"
# Blob properties obstore writes as the JSON API would (XML headers).
_FAST_PROPERTIES = {
    "cache_control": "Cache-Control",
    "content_disposition": "Content-Disposition",
    "content_language": "Content-Language",
}
# Bodies up to this size go through obstore in one request (held in memory).
FAST_MAX_SIZE = 64 * 1024 * 1024
# google-cloud-storage: one multipart request up to this size, else resumable.
_MAX_MULTIPART_SIZE = 8 * 1024 * 1024
_DEFAULT_CHUNK = 100 * 1024 * 1024
# The JSON API takes at most 100 calls in one batch request.
BATCH_LIMIT = 100
_BATCH_TIMEOUT = 120
_TRANSIENT_STATUS = (408, 429, 500, 502, 503, 504)


def listing_token(md5_b64: str | None, crc32c_b64: str | None) -> str | None:
    """The token of a listed object: its MD5 in hex, else its CRC32C."""
    if md5_b64:
        return fp.b64_md5_to_hex(md5_b64)
    if crc32c_b64:
        return CRC_PREFIX + crc32c_b64
    return None


class GCSAdapter(Adapter):
    label = "gcs"
    conditional_writes = True
    serves = SERVES

    def __init__(self, storage: Storage, *, workers: int = 32) -> None:
        super().__init__(storage, workers=workers)
        self.bucket_name: str = storage.bucket_name
        self.prefix: str = storage._normalize_name("x")[:-1]
        self._size_pool(storage.client, workers)
        _ = storage.bucket  # built now, not raced for by workers
        self._fast: _ObstoreWriter | None = None
        from .. import conf

        if conf.get("FAST_TRANSFER"):
            self._fast = _ObstoreWriter.for_storage(storage, workers)

    @staticmethod
    def _size_pool(client: Any, workers: int) -> None:
        """Let the client's HTTP session keep one connection per worker."""
        session: Any = getattr(client, "_http", None)
        adapters = getattr(session, "adapters", None)
        if not adapters:
            return
        import requests.adapters

        for scheme, current in list(adapters.items()):
            if type(current) is requests.adapters.HTTPAdapter and current._pool_maxsize < workers:
                session.mount(scheme, requests.adapters.HTTPAdapter(
                    pool_connections=current._pool_connections,
                    pool_maxsize=workers,
                    max_retries=current.max_retries,
                ))

    # -- where -------------------------------------------------------------
    def key(self, name: str) -> str:
        from storages.utils import clean_name

        return str(self.storage._normalize_name(clean_name(name)))

    @property
    def bucket(self) -> Any:
        return self.storage.bucket

    def describe(self) -> str:
        return "GCS bucket '%s' under '%s'" % (self.bucket_name, self.prefix or "/")

    # -- list --------------------------------------------------------------
    def inventory(self) -> dict[str, RemoteState]:
        found: dict[str, RemoteState] = {}
        cut = len(self.prefix)
        blobs = self.storage.client.list_blobs(
            self.bucket_name,
            prefix=self.prefix or None,
            projection="noAcl",
            fields="items(name,size,md5Hash,crc32c,updated),nextPageToken",
        )
        for page in blobs.pages:
            self.requests["LIST"] += 1
            for blob in page:
                size = int(blob.size) if blob.size is not None else None
                found[blob.name[cut:]] = RemoteState(
                    listing_token(blob.md5_hash, blob.crc32c), size, key=blob.name,
                    modified=timestamp(blob.updated))
        return found

    # -- fingerprint -------------------------------------------------------
    def write_parameters(self, name: str) -> tuple[dict[str, Any], bool]:
        """What ``GoogleCloudStorage._save`` would write for ``name``: the
        predefined ACL, the content type, the blob properties; and whether
        it gzips the body."""
        storage: Any = self.storage
        key = self.key(name)
        mime_type, mime_encoding = mimetypes.guess_type(key)
        blob = dict(storage.get_object_parameters(key))
        if mime_encoding and "content_encoding" not in blob:
            blob["content_encoding"] = mime_encoding
        acl = blob.pop("acl", storage.default_acl)
        content_type = blob.pop("content_type", mime_type)
        gzipped = bool(
            storage.gzip
            and content_type in storage.gzip_content_types
            and "content_encoding" not in blob
        )
        if gzipped:
            blob["content_encoding"] = "gzip"
        return {"acl": acl, "content_type": content_type, "blob": blob}, gzipped

    def write_options(self, name: str) -> Any:
        return self.write_parameters(name)

    def hashes_source(self, file: LocalFile) -> bool:
        if not getattr(self.storage, "gzip", False):
            return bool(file.path)
        return bool(file.path) and not self.write_parameters(file.name)[1]

    def prepare(self, file: LocalFile, remote: RemoteState | None) -> Prepared:
        params, gzipped = self.write_parameters(file.name)

        def compress(source: BinaryIO, out: BinaryIO) -> None:
            # The storage's own compression: the very bytes it uploads.
            compressed = self.storage._compress_content(File(source, name=file.name))
            for block in fp.iter_blocks(compressed):
                out.write(block)

        item = prepare_body(file, params, compress if gzipped else None)
        if remote is not None and remote.token and remote.token.startswith(CRC_PREFIX):
            with item.open() as body_file:
                crc = fp.crc32c_b64(body_file)
            if crc is not None:
                item.tokens.add(CRC_PREFIX + crc)
        return item

    def expected_token(self, item: Prepared) -> str | None:
        return item.md5

    # -- upload ------------------------------------------------------------
    def upload(self, item: Prepared) -> str | None:
        key = self.key(item.file.name)
        try:
            if self._fast is not None and self._fast.can_write(item) and \
                    self._fast.try_put(key, item, self.is_transient):
                self.requests["PUT"] += 1
            elif not overrides(self.storage, SERVES, "_save"):
                self._upload_with_client(key, item)
            else:
                with item.source() as source:
                    self.storage._save(item.file.name, File(source, name=item.file.name))
                self.requests["GET"] += 1  # GoogleCloudFile looks the blob up first
                self._count_client_upload(item.size if not item.temporary else None)
        except TransferError:
            raise
        except Exception as exc:  # noqa: BLE001 - classified and re-raised
            raise self._classify(exc, key) from exc
        return None

    def _upload_with_client(self, key: str, item: Prepared) -> None:
        """``GoogleCloudStorage._save`` without its lookup of the existing
        blob: the same properties, ACL, content type and bytes."""
        from google.cloud.storage import Blob
        from google.cloud.storage.retry import DEFAULT_RETRY

        storage: Any = self.storage
        blob = Blob(key, storage.bucket, chunk_size=storage.blob_chunk_size)
        for prop, value in item.params["blob"].items():
            setattr(blob, prop, value)
        with item.body() as body:
            blob.upload_from_file(
                body,
                rewind=True,
                retry=DEFAULT_RETRY,
                size=item.size,
                predefined_acl=item.params["acl"],
                content_type=item.params["content_type"],
            )
        self._count_client_upload(item.size)

    def _count_client_upload(self, size: int | None) -> None:
        if size is not None and size <= _MAX_MULTIPART_SIZE:
            self.requests["POST"] += 1
            return
        chunk = getattr(self.storage, "blob_chunk_size", None) or _DEFAULT_CHUNK
        self.requests["POST"] += 1
        self.requests["PUT"] += max(1, -(-(size or 0) // chunk))

    # -- small objects -----------------------------------------------------
    def read_small(self, name: str) -> bytes | None:
        return self.read_versioned(name)[0]

    def read_versioned(self, name: str) -> tuple[bytes | None, str | None]:
        """The object and its generation (the download's x-goog-generation
        header, which the client keeps on the blob)."""
        from google.api_core.exceptions import NotFound

        self.requests["GET"] += 1
        blob = self.bucket.blob(self.key(name))
        try:
            data: bytes = blob.download_as_bytes()
        except NotFound:
            return None, MISSING
        except Exception as exc:  # noqa: BLE001
            raise self._classify(exc, self.key(name)) from exc
        return data, str(blob.generation) if blob.generation else None

    def record_blob(self, name: str) -> tuple[Any, str | None]:
        """A blob for one of our records with the properties and predefined
        ACL the storage gives every object (``default_acl``, object
        parameters), but no content encoding: the record is never gzipped."""
        params, _gzipped = self.write_parameters(name)
        blob = self.bucket.blob(self.key(name))
        for prop, value in params["blob"].items():
            if prop != "content_encoding":
                setattr(blob, prop, value)
        return blob, params["acl"]

    def write_small(
        self, name: str, data: bytes, content_type: str, *, expect: str | None = None
    ) -> None:
        from google.api_core.exceptions import NotFound, PreconditionFailed

        self.requests["POST"] += 1
        blob, acl = self.record_blob(name)
        # ifGenerationMatch: the generation read, or 0 (must not exist).
        condition = {} if expect is None else {"if_generation_match": int(expect or 0)}
        try:
            blob.upload_from_string(data, content_type=content_type, predefined_acl=acl,
                                    **condition)
        except (PreconditionFailed, NotFound) as exc:
            if expect is None:
                raise self._classify(exc, self.key(name)) from exc
            raise Conflict("%s changed since it was read" % self.key(name)) from exc
        except Exception as exc:  # noqa: BLE001
            raise self._classify(exc, self.key(name)) from exc

    def delete_many(self, keys: list[str]) -> None:
        """Delete through the JSON API's batch endpoint, up to ``BATCH_LIMIT``
        objects a request. A missing object is not an error."""
        for chunk in batches(keys, BATCH_LIMIT):
            self._delete_batch(list(chunk))

    def _delete_batch(self, keys: list[str]) -> None:
        """One ``multipart/mixed`` batch of object deletes. Every part carries
        a Content-ID (fake-gcs-server skips parts without one; real GCS echoes
        it as ``response-<id>``), so each answer is matched to its object."""
        client: Any = self.storage.client
        connection = client._connection
        query = {"userProject": self.bucket.user_project} if self.bucket.user_project else None
        boundary = "staticship-" + uuid.uuid4().hex
        tag = uuid.uuid4().hex
        ids = ["%s+%d" % (tag, index) for index in range(len(keys))]
        chunks = []
        for content_id, key in zip(ids, keys, strict=False):
            url = connection.build_api_url(
                "/b/%s/o/%s" % (quote(self.bucket_name, safe=""), quote(key, safe="")),
                query_params=query,
            )
            chunks.append(
                "--%s\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
                "Content-ID: <%s>\r\n\r\nDELETE %s HTTP/1.1\r\n\r\n" % (boundary, content_id, url)
            )
        body = "\r\n".join(chunks) + "\r\n--%s--\r\n" % boundary
        endpoint = "%s/batch/storage/%s" % (
            connection.API_BASE_URL.rstrip("/"), connection.API_VERSION)
        self.requests["BATCH"] += 1
        first = keys[0] if len(keys) == 1 else "%s (and %d more)" % (keys[0], len(keys) - 1)
        try:
            response = client._http.request(
                "POST", endpoint, data=body.encode("ascii"),
                headers={"Content-Type": 'multipart/mixed; boundary="%s"' % boundary},
                timeout=_BATCH_TIMEOUT,
            )
        except Exception as exc:  # noqa: BLE001 - classified and re-raised
            raise self._classify(exc, first) from exc
        if not 200 <= response.status_code < 300:
            from google.api_core.exceptions import from_http_response

            error = from_http_response(response)  # type: ignore[no-untyped-call]
            raise self._classify(error, first) from error
        try:
            answers = _batch_answers(response.headers.get("Content-Type", ""), response.content)
        except ValueError as exc:
            raise TransferError("GCS batch delete: %s (objects %s)" % (exc, first)) from exc
        by_id = {content_id: (status, text) for content_id, status, text in answers}
        if set(by_id) >= set(ids):
            results = [by_id[content_id] for content_id in ids]
        elif len(answers) == len(keys):  # no usable Content-IDs: in order, as sent
            results = [(status, text) for _, status, text in answers]
        else:
            raise TransferError(
                "GCS batch delete: %d answers for %d objects (objects %s)"
                % (len(answers), len(keys), first), transient=False,
            )
        failed = [(key, status, text) for key, (status, text) in zip(keys, results, strict=False)
                  if not (200 <= status < 300 or status == 404)]
        if failed:
            key, status, text = failed[0]
            more = " (%d more failed)" % (len(failed) - 1) if len(failed) > 1 else ""
            transient = all(code in _TRANSIENT_STATUS for _, code, _ in failed)
            raise TransferError("HTTP %d: %s (object %s)%s" % (status, text, key, more),
                                transient=transient)

    # -- errors ------------------------------------------------------------
    def _classify(self, exc: BaseException, key: str) -> TransferError:
        code = getattr(exc, "code", None)
        text = "%s: %s" % (type(exc).__name__, first_line(exc))
        transient = code in (408, 429, 500, 502, 503, 504) or any(
            marker in text
            for marker in ("503", "500 Internal", "502", "504", "429", "Too Many Requests",
                           "timed out", "Timeout", "Connection reset", "Connection aborted",
                           "ConnectionError", "RemoteDisconnected", "error sending request",
                           "Service Unavailable")
        )
        if code in (400, 401, 403, 404, 412):
            transient = False
        if refused(exc):  # a wrong endpoint: retrying only spends seconds
            transient = False
        return TransferError("%s (object %s)" % (text, key) if key else text, transient=transient,
                             key=key)

    def explain(self, exc: BaseException) -> Explanation | None:
        text = error_text(exc)
        bucket = "bucket '%s'" % self.bucket_name
        if "404" in text and ("bucket" in text.lower() or "Not Found" in text):
            return Explanation(
                "the %s does not exist or is not visible to these credentials" % bucket,
                "create it, or correct %s" % configured_as("bucket_name", "GS_BUCKET_NAME"))
        if "403" in text or "Forbidden" in text or "AccessDenied" in text:
            return Explanation(
                "access denied on %s" % bucket,
                "give the credentials storage.objects.list, get and create on it (and "
                "delete, to overwrite and for --prune and --clear)")
        if "401" in text or "Unauthorized" in text or "invalid_grant" in text:
            return Explanation(
                "the Google credentials were rejected",
                "check %s or GOOGLE_APPLICATION_CREDENTIALS"
                % configured_as("credentials", "GS_CREDENTIALS"))
        if refused(exc) or "error sending request" in text or "Max retries exceeded" in text:
            return Explanation(
                "the GCS endpoint cannot be reached",
                "check the network (and STORAGE_EMULATOR_HOST, for an emulator)")
        return None

    def close(self) -> None:
        self._fast = None


def _batch_answers(content_type: str, body: bytes) -> list[tuple[str | None, int, str]]:
    """The parts of a batch response: (the Content-ID it answers, without the
    ``response-`` prefix; the HTTP status; the error message, if any)."""
    message = BytesParser().parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body)
    if message.get_content_maintype() == "multipart" and not message.is_multipart():
        return []  # a multipart body without a single part
    if not message.is_multipart():
        raise ValueError("the response is not multipart (%s)" % (content_type or "no Content-Type"))
    answers: list[tuple[str | None, int, str]] = []
    for part in message.get_payload():
        content_id = part.get("Content-ID")  # type: ignore[union-attr]
        if content_id:
            content_id = content_id.strip().strip("<>")
            if content_id.startswith("response-"):
                content_id = content_id[len("response-"):]
        raw: Any = part.get_payload(decode=True)  # type: ignore[union-attr]
        payload = (raw or b"").lstrip().replace(b"\r\n", b"\n")
        head, _, content = payload.partition(b"\n\n")  # status line and headers; body
        fields = head.partition(b"\n")[0].split()
        if len(fields) < 2 or not fields[0].startswith(b"HTTP/") or not fields[1].isdigit():
            raise ValueError("an answer without an HTTP status line")
        status = int(fields[1])
        text = b" ".join(fields[2:]).decode("utf-8", "replace")
        if not 200 <= status < 300:
            content = content.strip()
            try:
                text = json.loads(content)["error"]["message"]
            except (ValueError, KeyError, TypeError):
                text = (content.decode("utf-8", "replace").splitlines() or [text])[0]
        answers.append((content_id or None, status, str(text)))
    return answers


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


class _ObstoreWriter:
    """Writes objects with obstore's GCSStore (XML API PUT), configured from
    the storage's client (endpoint and credentials)."""

    def __init__(self, bucket: str, config: dict[str, Any], options: dict[str, Any],
                 provider: Any) -> None:
        self.bucket = bucket
        self.config = config
        self.options = options
        self.provider = provider
        self._store: Any = None
        self._lock = threading.Lock()
        # Google's endpoint takes the XML PUT; an emulator is asked once (None: not yet).
        self.accepted: bool | None = None if "base_url" in config else True
        self._probe = threading.Lock()

    @classmethod
    def for_storage(cls, storage: Any, workers: int) -> _ObstoreWriter | None:
        try:
            import obstore  # noqa: F401
        except ImportError:
            return None
        if overrides(storage, SERVES, "_save"):
            return None
        from google.auth.credentials import AnonymousCredentials

        client = storage.client
        endpoint = str(getattr(client._connection, "API_BASE_URL", DEFAULT_API) or DEFAULT_API).rstrip("/")
        config: dict[str, Any] = {}
        options: dict[str, Any] = {
            "pool_max_idle_per_host": str(max(workers, 10)),
            "timeout": "300s",
            "connect_timeout": "60s",
        }
        if endpoint != DEFAULT_API:
            config["base_url"] = endpoint
            if endpoint.startswith("http://"):
                options["allow_http"] = True
        credentials = getattr(client, "_credentials", None)
        if isinstance(credentials, AnonymousCredentials):
            if endpoint == DEFAULT_API:
                return None  # anonymous writes to real GCS: leave them to the client
            provider: Any = _anonymous
        elif credentials is not None and hasattr(credentials, "refresh"):
            provider = _TokenProvider(credentials)
        else:
            return None
        return cls(storage.bucket_name, config, options, provider)

    def can_write(self, item: Prepared) -> bool:
        params = item.params
        blob = params["blob"]
        if params["acl"] or item.size > FAST_MAX_SIZE:
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
        with self._lock:
            if self._store is None:
                from obstore.store import GCSStore

                self._store = GCSStore(
                    self.bucket,
                    config=cast(Any, dict(self.config)),
                    client_options=cast(Any, dict(self.options)),
                    credential_provider=self.provider,
                )
            return self._store

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
        import obstore

        blob = item.params["blob"]
        attributes: dict[str, str] = {
            "Content-Type": item.params["content_type"] or "application/octet-stream",
        }
        for prop, header in _FAST_PROPERTIES.items():
            if blob.get(prop) is not None:
                attributes[header] = blob[prop]
        for k, v in (blob.get("metadata") or {}).items():
            attributes[k] = v
        with item.body() as body:
            obstore.put(self.store(), key, body.read(), attributes=attributes, use_multipart=False)

