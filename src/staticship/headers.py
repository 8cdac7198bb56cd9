"""Headers follow the settings: an object is unchanged only if its bytes
*and* its write parameters are those the storage would use now.

The write parameters of a name (Content-Type, Cache-Control, Content-
Encoding, ACL, metadata, encryption ...: ``Adapter.write_options``) are kept
as a short digest (``manifest.write_digest``). A plain run records the
digest of every name in the state record (``State.writes``); a manifest
deployment in its section (``writes``). A name whose bytes match but whose
recorded digest differs from today's is planned as ``headers``, and its
parameters are rewritten: in place where the store allows it (S3 CopyObject
onto itself with the metadata replaced, a GCS object patch, Azure Set Blob
Properties), else by uploading it again.

No digest recorded (a bucket another tool, or an older staticship, filled):
the objects whose bytes match are looked at once, in parallel (one HEAD or
properties request each); those that already carry exactly what the storage
would write are recorded as such, the others are rewritten. An object whose
parameters cannot be read back (an ACL, tags) is rewritten without looking.

A no-change run stays one listing: the state record a plain run would write
is known in advance, and when the listing shows the record with that very
MD5 it is not downloaded (see ``Records.state``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from .apply import ApplyError, Transfers
from .backends.base import Adapter, Prepared
from .calls import Calls
from .plan import LocalState, Reason, RemoteState, decide
from .records import Records
from .report import Report
from .state import State

Log = Callable[[str, int], None]


class Headers:
    """One run's write digests: of each file now, and of its remote object."""

    def __init__(self, adapter: Adapter, calls: Calls, records: Records, report: Report,
                 log: Log) -> None:
        self.adapter = adapter
        self.calls = calls
        self.records = records
        self.report = report
        self.log = log

    def states(
        self, prepared: Mapping[str, Prepared], remote: Mapping[str, RemoteState],
        manifest_run: bool,
    ) -> tuple[dict[str, LocalState], dict[str, str], dict[str, str | None]]:
        """What the plan compares for each file (its tokens, with those the
        state record vouches for, and the write digests now and as the object
        carries them), with the digests now (to record) and as carried."""
        writes = self.current(prepared, manifest_run)
        recorded = self.recorded(writes, manifest_run)
        # After ``recorded``: a state record known from its listed MD5 holds
        # no tokens and is not read for them.
        self.records.confirm(prepared, remote)
        written = self.written(prepared, remote, writes, recorded)
        local = {n: LocalState(frozenset(p.tokens), p.size, writes[n] if n in written else None,
                               written.get(n)) for n, p in prepared.items()}
        return local, writes, written

    def current(self, prepared: Mapping[str, Prepared], manifest_run: bool) -> dict[str, str]:
        """The digest of the parameters the storage would write each name
        with now (a manifest deployment records them whatever the backend);
        empty when nothing keeps them."""
        if not (self.adapter.tracks_writes or manifest_run):
            return {}
        return {name: self.records.write_digest(name) for name in prepared}

    def recorded(self, current: Mapping[str, str], manifest_run: bool) -> dict[str, str]:
        """The digests recorded by the last run (a manifest deployment's
        section, or the plain record, read only when its listed MD5 is not
        that of the record this run would write)."""
        if not current:
            return {}
        if manifest_run:
            return self.records.recorded_writes()
        if not self.records.listed:
            return {}
        return dict(self.records.state(expected=State(writes=dict(current))).writes)

    def written(
        self,
        prepared: Mapping[str, Prepared],
        remote: Mapping[str, RemoteState],
        current: Mapping[str, str],
        recorded: Mapping[str, str],
    ) -> dict[str, str | None]:
        """Each name's digest as its remote object carries it: recorded, or
        (no digest recorded, bytes equal) the current one when a look at the
        object shows exactly those parameters; None when unknown or different.
        A backend that does not track them (local disk) compares only what a
        manifest deployment recorded: without that record, no name is here
        and the bytes alone decide."""
        if not self.adapter.tracks_writes and not recorded:
            return {}
        found: dict[str, str | None] = {n: recorded.get(n) or None for n in current}
        if not self.adapter.tracks_writes:
            return found
        unknown = [
            prepared[name] for name, digest in found.items()
            if digest is None and same_bytes(prepared[name], remote.get(name))
        ]
        if not unknown:
            return found
        with self.report.phase("probe"):
            looks = Transfers(self.adapter.probe, lambda item: item.file.name,
                              workers=self.adapter.workers,
                              is_transient=self.adapter.is_transient, retry=self.calls.retry)
            try:
                results = looks.run(unknown)
            except ApplyError as exc:
                raise self.calls.failure("Reading the headers of '%s'" % exc.failures[0][0],
                                         exc.failures[0][1]) from exc
        matching = [unknown[i].file.name for i, same in results.items() if same]
        for name in matching:
            found[name] = current[name]
        self.log("Looked at the headers of %d objects with no record of them: %d as the "
                 "storage writes them." % (len(unknown), len(matching)), 2)
        return found


def same_bytes(item: Prepared, listed: RemoteState | None) -> bool:
    """True when the listing proves the object holds ``item``'s bytes."""
    return decide(LocalState(frozenset(item.tokens), item.size), listed) is Reason.UNCHANGED


def run_digests(plan_written: Mapping[str, str | None], current: Mapping[str, str],
                done: Mapping[str, object]) -> dict[str, str]:
    """The digests a plain run records: today's for every name written now
    or found carrying them; the others (none after a complete run) omitted."""
    return {name: digest for name, digest in current.items()
            if name in done or plan_written.get(name) == digest}
