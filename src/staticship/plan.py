"""Step 5: plan the difference between local and remote. A pure function.

Each local file comes with the set of *tokens* that a remote object holding
exactly its content could show in a listing (an S3 ETag, a GCS MD5, a token
confirmed by the state record ...). A remote object whose token is in that set
is unchanged; any other remote object under the same name is changed; a name
with no remote object is new. An object whose token is unknown is changed:
a file is never skipped unless its content is proven equal.

Content is not all: an object whose bytes match but whose write parameters
(headers, ACL, metadata: see ``headers``) are not proven to be those the
storage would use now gets ``headers``, and its parameters are rewritten.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field


class Reason(str, enum.Enum):
    NEW = "new"
    CHANGED = "changed"
    UNCHANGED = "unchanged"
    #: The bytes match, the write parameters (headers, ACL ...) do not.
    HEADERS = "headers"


@dataclass(frozen=True)
class LocalState:
    tokens: frozenset[str]
    size: int
    #: Digest of the write parameters the storage would use now; None when
    #: the backend does not track them (the bytes alone decide).
    writes: str | None = None
    #: Digest of those the remote object carries, as recorded or found by
    #: looking (None: unknown, or different).
    written: str | None = None


@dataclass(frozen=True)
class RemoteState:
    token: str | None
    size: int | None = None
    #: The listing's last-modified time (seconds since the epoch), None when
    #: the listing does not give one. ``--prune`` never deletes an object
    #: younger than STATICSHIP_PRUNE_MIN_AGE, nor one whose age is unknown.
    modified: float | None = None
    #: The object's key exactly as the listing gave it (location included):
    #: what a delete must name. None when the backend did not say.
    key: str | None = field(default=None, kw_only=True)


@dataclass(frozen=True)
class Decision:
    name: str
    reason: Reason


@dataclass
class Plan:
    decisions: list[Decision] = field(default_factory=list)

    def by(self, reason: Reason) -> list[str]:
        return [d.name for d in self.decisions if d.reason is reason]

    @property
    def uploads(self) -> list[Decision]:
        return [d for d in self.decisions if d.reason is not Reason.UNCHANGED]

    @property
    def unchanged(self) -> list[str]:
        return self.by(Reason.UNCHANGED)


def decide(local: LocalState, remote: RemoteState | None) -> Reason:
    if remote is None:
        return Reason.NEW
    if remote.token is None or remote.token not in local.tokens:
        return Reason.CHANGED
    if remote.size is not None and remote.size != local.size:
        return Reason.CHANGED
    if local.writes is not None and local.written != local.writes:
        return Reason.HEADERS
    return Reason.UNCHANGED


def make_plan(
    local: Mapping[str, LocalState],
    remote: Mapping[str, RemoteState],
    last: frozenset[str] = frozenset(),
) -> Plan:
    """Decide every local name; names in ``last`` are ordered after the rest
    (a manifest must be published after every file it names)."""
    decisions = [Decision(name, decide(state, remote.get(name))) for name, state in local.items()]
    decisions.sort(key=lambda d: d.name in last)
    return Plan(decisions)
