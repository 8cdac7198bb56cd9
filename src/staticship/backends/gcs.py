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
import uuid
from collections.abc import Collection
from email.parser import BytesParser
from typing import Any, BinaryIO
from urllib.parse import quote

from django.core.files import File
from django.core.files.storage import Storage

from .. import fingerprint as fp
from ..plan import RemoteState
from ..sources import LocalFile
from .base import MISSING, Prepared, prepare_body
from .cloud import GzipCloudAdapter, batches, timestamp
from .errors import (
    Explanation, TransferError, batch_failure, classify, configured_as, error_text, Failure,
    first_line,
)
from .fast import Off
from .gcs_fast import _ObstoreWriter
from .gcs_headers import GCSHeaders

# GoogleCloudStorage is imported only when a storage derives from it (the
# Google libraries are slow to import, and warn on old Pythons).
SERVES = "storages.backends.gcloud.GoogleCloudStorage"

CRC_PREFIX = "crc32c:"
# google-cloud-storage: one multipart request up to this size, else resumable.
_MAX_MULTIPART_SIZE = 8 * 1024 * 1024
_DEFAULT_CHUNK = 100 * 1024 * 1024
# The JSON API takes at most 100 calls in one batch request.
BATCH_LIMIT = 100
_BATCH_TIMEOUT = 120
# Texts of GCS client errors worth retrying, besides the shared ones.

def listing_token(md5_b64: str | None, crc32c_b64: str | None) -> str | None:
    """The token of a listed object: its MD5 in hex, else its CRC32C."""
    if md5_b64:
        return fp.b64_md5_to_hex(md5_b64)
    if crc32c_b64:
        return CRC_PREFIX + crc32c_b64
    return None


class GCSAdapter(GCSHeaders, GzipCloudAdapter):
    """GoogleCloudStorage and its subclasses (see the module's docstring)."""

    label = "gcs"
    serves = SERVES
    parameter_methods = ("get_object_parameters", "_normalize_name")
    where = "GCS bucket"
    client_name = "google-cloud-storage"

    def __init__(self, storage: Storage, *, workers: int, fast_transfer: bool = True) -> None:
        super().__init__(storage, workers=workers, fast_transfer=fast_transfer)
        self._size_pool(storage.client, workers)
        _ = storage.bucket  # built now, not raced for by workers
        self.fast_writer(_ObstoreWriter.for_storage)

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
    @property
    def bucket(self) -> Any:
        return self.storage.bucket

    # -- list --------------------------------------------------------------
    def inventory(self, expected: Collection[str] = ()) -> dict[str, RemoteState]:
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
    def _write_parameters(self, name: str) -> tuple[dict[str, Any], bool]:
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

    # -- upload ------------------------------------------------------------
    def write(self, key: str, item: Prepared) -> str | None:
        if self._write_fast(key, item):
            self.requests["PUT"] += 1
        elif not self.own_save():
            self._upload_with_client(key, item)
        else:
            with item.source() as source:
                self.storage._save(item.file.name, File(source, name=item.file.name))
            self.requests["GET"] += 1  # GoogleCloudFile looks the blob up first
            self._count_client_upload(item.size if not item.temporary else None)
        return None

    def _write_fast(self, key: str, item: Prepared) -> bool:
        """True when obstore wrote ``item``; else the reason is noted."""
        fast = self._fast
        if fast is None:
            self.went_slow()
            return False
        off = fast.why_not(item)
        if off is None and fast.try_put(key, item, self.is_transient):
            return True
        self.went_slow(off or Off(
            "the GCS endpoint %s (an emulator) refused obstore's XML API upload"
            % fast.config.get("base_url"), "none needed for an emulator (Google's own endpoint "
            "takes it)"))
        return False

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
        self.write_record(blob.name, lambda: blob.upload_from_string(
            data, content_type=content_type, predefined_acl=acl, **condition),
            expect, (PreconditionFailed, NotFound))

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
        boundary = "staticship-" + uuid.uuid4().hex
        tag = uuid.uuid4().hex
        ids = ["%s+%d" % (tag, index) for index in range(len(keys))]
        body = self._batch_body(connection, boundary, ids, keys)
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
        results = _batch_results(response, ids, first)
        failed = [(key, status, text) for key, (status, text) in zip(keys, results, strict=False)
                  if not (200 <= status < 300 or status == 404)]
        if failed:
            raise batch_failure(failed, "object")

    def _batch_body(self, connection: Any, boundary: str, ids: list[str], keys: list[str]) -> str:
        """The batch request: one DELETE part per key, each with its Content-ID."""
        query = {"userProject": self.bucket.user_project} if self.bucket.user_project else None
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
        return "\r\n".join(chunks) + "\r\n--%s--\r\n" % boundary

    # -- errors ------------------------------------------------------------
    def _classify(self, exc: BaseException, key: str) -> TransferError:
        text = "%s: %s" % (type(exc).__name__, first_line(exc))
        return classify(exc, key, "object", text, permanent=(400, 401, 403, 404, 412))

    def explain(self, exc: BaseException) -> Explanation | None:
        failure = Failure.of(exc)
        if failure.status == 404:  # keys are never looked up: only a bucket is missing
            return self.missing(configured_as("bucket_name", "GS_BUCKET_NAME"),
                                "the %s does not exist or is not visible to these credentials")
        if failure.status == 403 or failure.code == "AccessDenied":
            return self.denied(
                "give the credentials storage.objects.list, get and create on it (and "
                "delete, to overwrite and for --prune and --clear)")
        if failure.status == 401 or "invalid_grant" in error_text(exc):  # google-auth's refresh
            return Explanation(
                "the Google credentials were rejected",
                "check %s or GOOGLE_APPLICATION_CREDENTIALS"
                % configured_as("credentials", "GS_CREDENTIALS"))
        if failure.unreachable:
            return Explanation(
                "the GCS endpoint cannot be reached",
                "check the network (and STORAGE_EMULATOR_HOST, for an emulator)")
        return None


def _batch_results(response: Any, ids: list[str], first: str) -> list[tuple[int, str]]:
    """(status, text) for each part sent, matched by Content-ID, else in order."""
    try:
        answers = _batch_answers(response.headers.get("Content-Type", ""), response.content)
    except ValueError as exc:
        raise TransferError("GCS batch delete: %s (objects %s)" % (exc, first)) from exc
    by_id = {content_id: (status, text) for content_id, status, text in answers}
    if set(by_id) >= set(ids):
        return [by_id[content_id] for content_id in ids]
    if len(answers) == len(ids):  # no usable Content-IDs: in order, as sent
        return [(status, text) for _, status, text in answers]
    raise TransferError(
        "GCS batch delete: %d answers for %d objects (objects %s)"
        % (len(answers), len(ids), first), transient=False,
    )


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
