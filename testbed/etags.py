"""Opaque S3 ETags, as SSE-KMS gives them.

With ``opaque_etags`` on, every ETag the client sees is replaced by a value
that looks like an MD5 (32 lowercase hex digits, plus ``-N`` for multipart
objects, as AWS keeps it) but is ``sha256(real etag, bucket/key)``. The same
object shows the same opaque ETag in PUT responses, HEAD/GET headers and
listings. ETags that clients send back (CompleteMultipartUpload part lists,
If-Match headers) are translated back to the real ones before moto sees them.
"""

from __future__ import annotations

import hashlib
import re
import threading
from urllib.parse import unquote, unquote_plus
from xml.sax.saxutils import unescape

_CORE = re.compile(r"[0-9a-fA-F]{32}(?:-\d+)?")
_ETAG_ELEMENT = re.compile(rb"(<ETag>)(.*?)(</ETag>)", re.S)
_LIST_ENTRY = re.compile(rb"<(Contents|Version)>.*?</\1>", re.S)
_KEY_ELEMENT = re.compile(rb"<Key>(.*?)</Key>", re.S)
_URL_ENCODED = re.compile(rb"<EncodingType>url</EncodingType>")

CONDITIONAL_HEADERS = (
    "if-match",
    "if-none-match",
    "x-amz-copy-source-if-match",
    "x-amz-copy-source-if-none-match",
)


def object_name(path: str) -> str:
    """``bucket/key`` of a path-style request path, percent-decoded."""
    return unquote(path.lstrip("/"))


class EtagMasker:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._real: dict[str, str] = {}

    def mask_core(self, core: str, name: str) -> str:
        base, dash, parts = core.lower().partition("-")
        digest = hashlib.sha256(f"{base}{dash}{parts}|{name}".encode()).hexdigest()[:32]
        opaque = f"{digest}{dash}{parts}"
        with self._lock:
            self._real[opaque] = core
        return opaque

    def mask_text(self, text: str, name: str) -> str:
        """Replace the ETag inside ``text`` (quotes and entities kept)."""
        return _CORE.sub(lambda m: self.mask_core(m.group(0), name), text, count=1)

    def unmask_text(self, text: str) -> str:
        def real(match: re.Match[str]) -> str:
            with self._lock:
                return self._real.get(match.group(0), match.group(0))

        return _CORE.sub(real, text)

    # -- bodies ----------------------------------------------------------------
    def mask_xml(self, body: bytes, name: str) -> bytes:
        """Mask every <ETag> of a response about one object (``name``)."""
        return _ETAG_ELEMENT.sub(lambda m: self._mask_element(m, name), body)

    def mask_listing(self, body: bytes, bucket: str) -> bytes:
        """Mask each listed object's <ETag> with its own key."""
        url_encoded = bool(_URL_ENCODED.search(body))

        def entry(match: re.Match[bytes]) -> bytes:
            block = match.group(0)
            key_match = _KEY_ELEMENT.search(block)
            if key_match is None:
                return block
            key = unescape(key_match.group(1).decode(), {"&quot;": '"', "&apos;": "'", "&#34;": '"'})
            if url_encoded:
                key = unquote_plus(key)
            return self.mask_xml(block, f"{bucket}/{key}")

        return _LIST_ENTRY.sub(entry, body)

    def unmask_xml(self, body: bytes) -> bytes:
        def element(match: re.Match[bytes]) -> bytes:
            inner = self.unmask_text(match.group(2).decode())
            return match.group(1) + inner.encode() + match.group(3)

        return _ETAG_ELEMENT.sub(element, body)

    def _mask_element(self, match: re.Match[bytes], name: str) -> bytes:
        inner = self.mask_text(match.group(2).decode(), name)
        return match.group(1) + inner.encode() + match.group(3)
