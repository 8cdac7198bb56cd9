"""The state record (and the deployment records of the earlier format): the
one place that reads, validates and writes staticship's own JSON beside the
files.

Most listings prove content on their own (an MD5 ETag, a GCS ``md5Hash``),
and then no tokens are kept. Where they do not (S3 with SSE-KMS or SSE-C,
whose ETags are opaque), the state record remembers, per name, the token the
store gave our upload and the MD5 of the bytes we uploaded: a listing that
still shows that token proves the object still holds those bytes. Manifest
storages also keep here the fingerprint of their last post-processing inputs,
the deployment history (ids, newest first), the names each recent deployment
uses (``uses``: per name, which deployments use it) and the incremental
post-processing record (``postprocess``): one object, so that a deploy writes
at most one record.

Buckets written before ``uses`` existed hold one deployment record per
deployment (``.staticship/deployments/<id>.json``): ``deployment_names``
still parses those, for a deployment the state record has no names for.

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
USES = "uses"
POSTPROCESS = "postprocess"
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
    # Deployment id -> every name it uses, for the deployments of the history
    # (a deployment missing here may have a record of the earlier format).
    used: dict[str, frozenset[str]] = field(default_factory=dict)
    # The incremental post-processing record of the last manifest deployment
    # (see incremental.dumps); it goes and comes with ``manifest``.
    postprocess: dict[str, Any] | None = None
    # name -> digest of the write parameters (headers, ACL ...) its object
    # carries (see ``headers``): a plain run's names, or every name of the
    # kept manifest deployments; stored grouped by digest.
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
            sections = raw.get("sections", {})
            manifest, deployments = _sections(sections)
            return cls(_tokens(raw.get("tokens", {})), manifest, deployments, version=version,
                       used=_uses(sections.get(USES)), postprocess=_postprocess(sections),
                       writes=_writes(raw.get("writes", {})))
        except _Shape as exc:
            return cls(problem=str(exc), version=version)

    def dumps(self) -> bytes:
        sections: dict[str, Any] = {}
        if self.manifest is not None:
            sections[MANIFEST] = self.manifest
        if self.deployments:
            sections[DEPLOYMENTS] = self.deployments
        if self.used:
            sections[USES] = encode_uses(self.deployments, self.used)
        if self.postprocess is not None:
            sections[POSTPROCESS] = self.postprocess
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

    def same_record(self, other: State) -> bool:
        """True when ``other`` would be written as this very record (what
        ``dumps`` writes, compared without writing it: 20,000 names take a
        tenth of a second to serialise)."""
        return (self.tokens, self.manifest, self.deployments, self.used, self.postprocess,
                self.writes) == (other.tokens, other.manifest, other.deployments, other.used,
                                 other.postprocess, other.writes)

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
    names: Collection[str] = ()  # every name ``deployment`` uses
    before_names: Collection[str] = ()  # every name ``before`` uses
    postprocess: dict[str, Any] | None = None  # replaces the record's along with ``manifest``
    # The write digests of a plain run's names (replacing those recorded),
    # or of a deployment's (added to those of the names kept deployments
    # use); None keeps them.
    writes: Mapping[str, str] | None = field(default=None, kw_only=True)

    def apply(self, state: State) -> State:
        tokens = {n: t for n, t in state.tokens.items() if n not in self.uploaded}
        tokens.update(self.tokens)
        deployments, used = state.deployments, state.used
        if self.deployment is not None:
            deployments = record_deployment(deployments, self.deployment, self.gap, self.before)
            used = self.uses(used, deployments)
        if self.manifest is None:
            manifest, postprocess = state.manifest, state.postprocess
        else:
            manifest, postprocess = self.manifest, self.postprocess
        return State(tokens, manifest, deployments, version=state.version, used=used,
                     postprocess=postprocess, writes=self.digests(state.writes, used))

    def digests(self, recorded: dict[str, str], used: Mapping[str, frozenset[str]]) -> dict[str, str]:
        """The write digests after this update (``used``: the kept
        deployments' names after it)."""
        if self.writes is None:
            return dict(recorded)
        if self.deployment is None:
            return dict(self.writes)
        # A deployment's: those recorded of names a kept deployment uses stay
        # (an earlier release's objects, which a rollback publishes again).
        kept = frozenset().union(*used.values())
        return {**{n: d for n, d in recorded.items() if n in kept}, **self.writes}

    def uses(self, used: Mapping[str, frozenset[str]], history: list[str]) -> dict[str, frozenset[str]]:
        """``used`` with this run's deployment (and ``before``) added, the
        names of an id recorded twice united; only the ids ``history`` keeps."""
        merged = dict(used)
        for deployment, names in ((self.deployment, self.names), (self.before, self.before_names)):
            if deployment is not None:
                merged[deployment] = merged.get(deployment, frozenset()) | frozenset(names)
        return {d: merged[d] for d in history if d in merged}


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


def encode_uses(history: list[str], used: Mapping[str, frozenset[str]]) -> dict[str, Any]:
    """``used`` compactly: the ids (in ``history``'s order) and, per name, a
    bit mask of the deployments that use it (bit i: ``ids[i]``). Names are
    shared by most deployments, so this is far smaller than a list each."""
    ids = [d for d in history if d in used] + sorted(set(used) - set(history))
    masks: dict[str, int] = {}
    for bit, deployment in enumerate(ids):
        for name in used[deployment]:
            masks[name] = masks.get(name, 0) | 1 << bit
    return {"ids": ids, "names": masks}


def deployment_names(data: bytes | None) -> tuple[list[str] | None, str]:
    """The names a deployment record of the earlier format lists, or None
    and why it cannot say."""
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


def _uses(raw: Any) -> dict[str, frozenset[str]]:
    if raw is None:
        return {}
    ids = raw.get("ids") if isinstance(raw, dict) else None
    masks = raw.get("names") if isinstance(raw, dict) else None
    if not (isinstance(ids, list) and all(isinstance(d, str) and d != UNKNOWN for d in ids)
            and len(set(ids)) == len(ids) and isinstance(masks, dict)):
        raise _Shape("its uses are not ids and names")
    found: dict[str, set[str]] = {d: set() for d in ids}
    for name, mask in masks.items():
        if not isinstance(mask, int) or isinstance(mask, bool) or not 0 < mask < 1 << len(ids):
            raise _Shape("its uses of '%s' are not a mask of its ids" % name)
        for bit, deployment in enumerate(ids):
            if mask >> bit & 1:
                found[deployment].add(name)
    return {d: frozenset(names) for d, names in found.items()}


def _postprocess(sections: dict[str, Any]) -> dict[str, Any] | None:
    found = sections.get(POSTPROCESS)
    if found is not None and not isinstance(found, dict):
        raise _Shape("its postprocess section is not a mapping")
    return found


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
