"""The state record: a small JSON object kept beside the files.

Most listings prove content on their own (an MD5 ETag, a GCS ``md5Hash``),
and then no record is written at all. Where they do not (S3 with SSE-KMS or
SSE-C, whose ETags are opaque), the record remembers, per name, the token the
store gave our upload and the MD5 of the bytes we uploaded: a listing that
still shows that token proves the object still holds those bytes. Manifest
storages also keep the fingerprint of their last post-processing inputs here.

Losing or corrupting the record is harmless: files are re-uploaded, never
skipped wrongly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

FORMAT = 1


@dataclass
class State:
    # name -> (token the listing shows, MD5 of the uploaded bytes)
    tokens: dict[str, tuple[str, str]] = field(default_factory=dict)
    # free-form sections owned by pipeline stages (e.g. "manifest")
    sections: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def loads(cls, data: bytes | None) -> State:
        if not data:
            return cls()
        try:
            raw = json.loads(data)
        except ValueError:
            return cls()
        if not isinstance(raw, dict) or raw.get("staticship") != FORMAT:
            return cls()
        tokens = {
            str(name): (str(pair[0]), str(pair[1]))
            for name, pair in (raw.get("tokens") or {}).items()
            if isinstance(pair, list) and len(pair) == 2
        }
        sections = raw.get("sections") or {}
        return cls(tokens, sections if isinstance(sections, dict) else {})

    def dumps(self) -> bytes:
        body = {
            "staticship": FORMAT,
            "tokens": {name: list(pair) for name, pair in sorted(self.tokens.items())},
            "sections": self.sections,
        }
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()

    def confirms(self, name: str, remote_token: str | None, md5: str) -> bool:
        """True if the record proves that the object listed with
        ``remote_token`` holds the bytes whose MD5 is ``md5``."""
        entry = self.tokens.get(name)
        return entry is not None and remote_token is not None and entry == (remote_token, md5)
