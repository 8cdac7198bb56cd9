"""The state record and the deployment records: the one place that reads,
validates and writes staticship's own JSON beside the files.

Most listings prove content on their own (an MD5 ETag, a GCS ``md5Hash``),
and then no tokens are kept. Where they do not (S3 with SSE-KMS or SSE-C,
whose ETags are opaque), the state record remembers, per name, the token the
store gave our upload and the MD5 of the bytes we uploaded: a listing that
still shows that token proves the object still holds those bytes. Manifest
storages also keep here the fingerprint of their last post-processing inputs
and the deployment history (ids, newest first), each deployment's names in a
record of its own.

A record that is missing, corrupt, of another format or of the wrong shape is
treated as absent, and ``problem`` says why: files are then re-uploaded, never
skipped wrongly, and ``--prune`` keeps what it cannot prove unused.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

FORMAT = 1
MANIFEST = "manifest"
DEPLOYMENTS = "deployments"
# Deployment ids remembered in the state record (for --prune).
HISTORY = 20
#: In the history: earlier deployments happened that no record names (the
#: state record was missing or out of date when the next one was recorded).
#: ``--prune`` keeps every file while this falls within the kept deployments.
UNKNOWN = "?"


@dataclass
class State:
    # name -> (token the listing shows, MD5 of the uploaded bytes)
    tokens: dict[str, tuple[str, str]] = field(default_factory=dict)
    # The last manifest deployment: {"inputs": key, "outputs": {name: [token, size]},
    # "writes": {name: digest of the options it was written with}}.
    manifest: dict[str, Any] | None = None
    # Deployment ids, newest first (``UNKNOWN`` where the history has a gap).
    deployments: list[str] = field(default_factory=list)
    # Why the stored record was treated as absent (None: it was not, or none exists).
    problem: str | None = None
    # The store's version tag of the record read (see Adapter.read_versioned).
    version: str | None = None
    # Plain runs: name -> digest of the write parameters (headers, ACL ...)
    # its object carries (see ``headers``); stored grouped by digest.
    writes: dict[str, str] = field(default_factory=dict, kw_only=True)

    @classmethod
    def loads(cls, data: bytes | None, version: str | None = None) -> State:
        if not data:
            return cls(version=version)
        try:
            raw = json.loads(data)
        except ValueError:
            return cls(problem="it is not JSON", version=version)
        if not isinstance(raw, dict) or raw.get("staticship") != FORMAT:
            return cls(problem="it is not of format %d" % FORMAT, version=version)
        try:
            return cls(_tokens(raw.get("tokens", {})), *_sections(raw.get("sections", {})),
                       version=version, writes=_writes(raw.get("writes", {})))
        except _Shape as exc:
            return cls(problem=str(exc), version=version)

    def dumps(self) -> bytes:
        sections: dict[str, Any] = {}
        if self.manifest is not None:
            sections[MANIFEST] = self.manifest
        if self.deployments:
            sections[DEPLOYMENTS] = self.deployments
        body = {
            "staticship": FORMAT,
            "tokens": {name: list(pair) for name, pair in sorted(self.tokens.items())},
            "sections": sections,
        }
        if self.writes:  # {digest: [names]}: few distinct digests, many names
            grouped: dict[str, list[str]] = {}
            for name, digest in sorted(self.writes.items()):
                grouped.setdefault(digest, []).append(name)
            body["writes"] = grouped
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()

    def confirms(self, name: str, remote_token: str | None, md5: str) -> bool:
        """True if the record proves that the object listed with
        ``remote_token`` holds the bytes whose MD5 is ``md5``."""
        entry = self.tokens.get(name)
        return entry is not None and remote_token is not None and entry == (remote_token, md5)

    def recorded_output(self, name: str) -> tuple[str | None, int] | None:
        """The token and size the last manifest deployment recorded for ``name``."""
        outputs = (self.manifest or {}).get("outputs", {})
        found = outputs.get(name)
        return (found[0], found[1]) if found is not None else None


@dataclass
class Update:
    """What one run changes in the state record, applied to whatever record
    is current when it is written (another run may have written meanwhile)."""

    uploaded: Collection[str] = ()  # names written now: their old tokens go
    tokens: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    manifest: dict[str, Any] | None = None
    deployment: str | None = None
    before: str | None = None  # the deployment found live before this one (see record_deployment)
    gap: bool = False  # a deployment no record names came before this one (or ``before``)
    # The write digests of a plain run's names (replacing those recorded);
    # None keeps them.
    writes: Mapping[str, str] | None = field(default=None, kw_only=True)

    def apply(self, state: State) -> State:
        tokens = {n: t for n, t in state.tokens.items() if n not in self.uploaded}
        tokens.update(self.tokens)
        deployments = state.deployments
        if self.deployment is not None:
            deployments = record_deployment(deployments, self.deployment, self.gap, self.before)
        return State(tokens, self.manifest if self.manifest is not None else state.manifest,
                     deployments, version=state.version,
                     writes=dict(self.writes if self.writes is not None else state.writes))


def record_deployment(
    history: list[str], current: str, gap: bool, before: str | None = None
) -> list[str]:
    """``history`` with ``current`` first, then ``before`` (a deployment the
    history missed, established from the live manifest) and ``UNKNOWN`` when
    a gap came before them; each id once, at most ``HISTORY`` long. A history
    cut short ends with ``UNKNOWN`` (what came before is forgotten)."""
    merged: list[str] = []
    for entry in [current, *([before] if before else []), *([UNKNOWN] if gap else []), *history]:
        if entry not in merged:
            merged.append(entry)
    if len(merged) > HISTORY:
        merged = merged[: HISTORY - 1] + [UNKNOWN]
    return merged


def deployment_record(deployment: str, names: Collection[str]) -> bytes:
    return json.dumps({"id": deployment, "names": sorted(names)}).encode()


def deployment_names(data: bytes | None) -> tuple[list[str] | None, str]:
    """The names a deployment record lists, or None and why it cannot say."""
    if data is None:
        return None, "it is missing"
    try:
        raw = json.loads(data)
    except ValueError:
        return None, "it is not JSON"
    names = raw.get("names") if isinstance(raw, dict) else None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        return None, "its names are not a list of names"
    return names, ""


class _Shape(ValueError):
    """A state record of the right format whose fields have the wrong types."""


def _tokens(raw: Any) -> dict[str, tuple[str, str]]:
    if not isinstance(raw, dict):
        raise _Shape("its tokens are not a mapping")
    tokens = {}
    for name, pair in raw.items():
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair)):
            raise _Shape("its token for '%s' is not a pair of strings" % name)
        tokens[str(name)] = (pair[0], pair[1])
    return tokens


def _writes(raw: Any) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise _Shape("its writes are not a mapping")
    writes: dict[str, str] = {}
    for digest, names in raw.items():
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise _Shape("its writes for '%s' are not a list of names" % digest)
        for name in names:
            if name in writes:
                raise _Shape("its writes name '%s' twice" % name)
            writes[name] = str(digest)
    return writes


def _sections(raw: Any) -> tuple[dict[str, Any] | None, list[str]]:
    if not isinstance(raw, dict):
        raise _Shape("its sections are not a mapping")
    manifest = raw.get(MANIFEST)
    if manifest is not None and not _valid_manifest(manifest):
        raise _Shape("its manifest section is of the wrong shape")
    deployments = raw.get(DEPLOYMENTS, [])
    if not isinstance(deployments, list) or not all(isinstance(d, str) for d in deployments):
        raise _Shape("its deployments are not a list of ids")
    return manifest, deployments


def _valid_manifest(section: Any) -> bool:
    if not isinstance(section, dict) or not isinstance(section.get("inputs"), str):
        return False
    writes = section.get("writes", {})  # name -> digest of its write options
    if not isinstance(writes, dict) or not all(isinstance(w, str) for w in writes.values()):
        return False
    outputs = section.get("outputs")
    return isinstance(outputs, dict) and all(
        isinstance(pair, list) and len(pair) == 2
        and (pair[0] is None or isinstance(pair[0], str))
        and isinstance(pair[1], int) and not isinstance(pair[1], bool)
        for pair in outputs.values()
    )
