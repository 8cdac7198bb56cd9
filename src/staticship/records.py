"""Step 7: our records beside the files, for one run: the state record (read at
most once, written conditionally and merged on a race), which holds the
deployment history of manifest storages too. ``state`` holds its format;
this module holds the I/O (``state``/``read_state`` read, ``update_state``
writes: one record object a run at most), so that the pipeline only
sequences."""

from __future__ import annotations

import functools
import posixpath
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from . import fingerprint as fp
from . import manifest, prune
from . import state as formats
from .backends.base import MISSING, Adapter, Prepared
from .backends.errors import Conflict
from .calls import Calls
from .errors import RunFailed
from .immutable import Override
from .plan import RemoteState
from .report import Report
from .state import State, Update

Log = Callable[[str, int], None]
# Conditional writes of the state record before a run gives up on another
# run that keeps changing it (each attempt re-reads and merges).
RECORD_ATTEMPTS = 5
#: The incremental post-processing record of the earlier format, beside the
#: state record (now a section of it): nothing reads it; cleanup deletes it.
OLD_POSTPROCESS = "postprocess.json"


@dataclass(frozen=True)
class Deployment:
    """A manifest run's deployment: its id, the fingerprint of its inputs,
    and whether a deployment no record names may have come before it."""

    id: str
    inputs: str
    gap: bool = False
    # The deployment the live manifest described when the history missed it.
    before: str | None = None


@dataclass(frozen=True)
class Published:
    """What a manifest deployment leaves in the state record."""

    deployment: Deployment
    outputs: Mapping[str, tuple[str | None, int]]  # every name it uses: token, size
    writes: Mapping[str, str]  # the write digest of each name published now
    carried: Collection[str] = ()  # outputs kept as published (see incremental)
    postprocess: dict[str, Any] | None = None  # see incremental.dumps
    hashed_cache: Override | None = None  # STATICSHIP_HASHED_CACHE_CONTROL's hook

    def section(self) -> dict[str, Any]:
        """Its manifest section: its inputs, every output with its token and,
        with STATICSHIP_HASHED_CACHE_CONTROL, the hashed names. Builds only:
        no I/O. (The options each output was written with go to the state
        record's ``writes``, see ``digests``.)"""
        section = {"inputs": self.deployment.inputs, "outputs": dict(self.outputs)}
        if self.hashed_cache is not None:  # the hashed names, for the next run's skip
            self.hashed_cache.record(section)
        return section

    def digests(self, recorded: Mapping[str, str]) -> dict[str, str]:
        """The write digest of each output: today's for those written now,
        the one ``recorded`` for the carried ones."""
        carried = {n: recorded[n] for n in self.carried if n in recorded}
        return {**carried, **self.writes}


class Records:
    def __init__(self, adapter: Adapter, calls: Calls, log: Log, report: Report, state_name: str) -> None:
        self.adapter = adapter
        self.calls = calls
        self.log = log
        self.report = report
        self.state_name = state_name
        # Our objects as listed (not files to publish), and whether the
        # state record is among them.
        self.internal: dict[str, RemoteState] = {}
        self.listed = False
        self._state: State | None = None
        # The state record was known from its listed MD5 (its version tag is not).
        self.from_listing = False
        # Deployments established from a live manifest: id -> names.
        self.derived: dict[str, list[str]] = {}
        # Write digests by ``Adapter.options_key``.
        self._digests: dict[object, str] = {}

    # -- names -----------------------------------------------------------------
    @functools.cached_property
    def internal_dir(self) -> str:
        """Where staticship's own objects live: the state record's folder (a
        state record at the top of the location still gets a folder)."""
        return posixpath.dirname(self.state_name) or ".staticship"

    def is_internal(self, name: str) -> bool:
        return name == self.state_name or name.startswith(self.internal_dir + "/")

    def deployment_record(self, deployment: str) -> str:
        """Where the earlier format kept ``deployment``'s names."""
        return posixpath.join(self.internal_dir, "deployments", deployment + ".json")

    def is_deployment_record(self, name: str) -> bool:
        return name.startswith(posixpath.join(self.internal_dir, "deployments") + "/")

    def take_listed(self, remote: dict[str, RemoteState]) -> None:
        """Move our own objects out of the listing ``remote``."""
        self.internal = {name: remote.pop(name) for name in list(remote) if self.is_internal(name)}
        self.listed = self.state_name in self.internal

    # -- the state record --------------------------------------------------------
    def state(self, expected: State | None = None) -> State:
        """The state record, downloaded at most once, and only if it was
        listed (else an empty one that must not exist when written). Not
        downloaded at all when the listing shows it with the MD5 of
        ``expected`` (the record a run would write): it is that record."""
        if self._state is None:
            if self.listed and expected is not None and self.listed_as(expected):
                self._state, self.from_listing = expected, True
            elif self.listed:
                self._state = self.read_state()
            else:
                self._state = State(version=MISSING if self.adapter.conditional_writes else None)
        return self._state

    def listed_as(self, expected: State) -> bool:
        listed = self.internal[self.state_name]
        data = expected.dumps()
        return listed.token == fp.md5_hex(data) and listed.size in (None, len(data))

    def read_state(self) -> State:
        """The state record as stored now, with its version tag; one of the
        wrong shape counts as absent (said at -v 2)."""
        data, version = self.calls("Reading '%s'" % self.state_name,
                                   lambda: self.adapter.read_versioned(self.state_name))
        state = State.loads(data, version)
        if state.problem is not None:
            self.log("The state record '%s' is treated as absent: %s." % (
                self.state_name, state.problem), 2)
        return state

    def manifest_section(self) -> dict[str, Any] | None:
        """The last manifest deployment's section, when a record was listed."""
        return self.state().manifest if self.listed else None

    def confirm(self, prepared: Mapping[str, Prepared], remote: Mapping[str, RemoteState]) -> None:
        """Accept opaque tokens that the state record vouches for."""
        unproven = [
            name
            for name, item in prepared.items()
            if name in remote and remote[name].token not in item.tokens
        ]
        if not unproven or not self.listed:
            return
        state = self.state()
        for name in unproven:
            item = prepared[name]
            token = remote[name].token
            if token is not None and state.confirms(name, token, item.md5):
                item.tokens.add(token)

    def outputs(
        self,
        prepared: Mapping[str, Prepared],
        remote: Mapping[str, RemoteState],
        results: Mapping[str, str | None],
    ) -> dict[str, tuple[str | None, int]]:
        """The token and size each published name now has remotely."""
        published: dict[str, tuple[str | None, int]] = {}
        for name, item in prepared.items():
            if name in results:
                token = results[name] or self.adapter.expected_token(item)
                published[name] = (token, item.size)
            else:
                listed = remote[name]
                published[name] = (listed.token, item.size)
        return published

    def write_digest(self, name: str) -> str:
        """The digest of the parameters the storage would write ``name``
        with now; worked out once per ``Adapter.options_key``."""
        key = self.adapter.options_key(name)
        digest = self._digests.get(key) if key is not None else None
        if digest is None:
            digest = manifest.write_digest(self.adapter.write_options(name))
            if key is not None:
                self._digests[key] = digest
        return digest

    def recorded_writes(self) -> dict[str, str]:
        """The write digests recorded, by name: of every name of the kept
        deployments (and, from a record of the earlier format, of the last
        deployment's, which its manifest section held)."""
        if not self.listed:
            return {}
        section = self.manifest_section()
        older = section.get("writes") if isinstance(section, dict) else None
        return {**self.state().writes, **(older if isinstance(older, dict) else {})}

    def postprocess(self) -> dict[str, Any] | None:
        """The incremental post-processing record of the last deployment."""
        return self.state().postprocess if self.listed else None

    def record(
        self,
        prepared: Mapping[str, Prepared],
        results: Mapping[str, str | None],
        published: Published | None = None,
        writes: Mapping[str, str] | None = None,
    ) -> None:
        """After publishing: the state record, with the tokens of uploads
        whose listing will not prove content, a plain run's write digests
        (``writes``) and, for a manifest deployment, its section, names and
        post-processing record (one object)."""
        opaque = {
            name: (token, prepared[name].md5)
            for name, token in results.items()
            if token is not None and token not in prepared[name].tokens
        }
        if not opaque and published is None and not self.listed and not writes:
            return
        if published is None:
            self.update_state(Update(set(results), opaque, writes=writes))
            return
        deployment = published.deployment
        self.update_state(Update(
            set(results), opaque, published.section(),
            deployment.id, deployment.before, deployment.gap, names=set(published.outputs),
            before_names=self.derived.get(deployment.before or "", ()),
            postprocess=published.postprocess, writes=published.digests(self.recorded_writes())))

    def update_state(self, update: Update) -> None:
        """Apply ``update`` and write the record, only if it changed. The
        write is conditional on the version read: when another run wrote
        meanwhile, its record is read again and ``update`` applied to it (a
        bounded number of times)."""
        state = self.writable_state(update)
        for attempt in range(1, RECORD_ATTEMPTS + 1):
            after = update.apply(state)
            if after.same_record(state) and state.problem is None:
                self._state = state
                return
            try:
                self.write_small(self.state_name, after.dumps(), expect=state.version)
            except Conflict:
                if attempt == RECORD_ATTEMPTS:
                    break
                self.log("'%s' was changed by another run; merging." % self.state_name, 2)
                state = self.read_state()
                continue
            after.version = None  # written: its new tag is not known
            self._state = after
            return
        raise RunFailed(
            "Writing '%s' failed: another run changed it %d times while this one tried to "
            "record its deployment. The files are published; run again to record them."
            % (self.state_name, RECORD_ATTEMPTS)
        )

    def writable_state(self, update: Update) -> State:
        """The state record to apply ``update`` to; one known only from its
        listed MD5 is read when the update changes it (the write is
        conditional on the version tag the read gives)."""
        state = self.state()
        if self.from_listing and not update.apply(state).same_record(state):
            self.from_listing = False
            state = self.read_state()
        return state

    def write_small(self, name: str, data: bytes, expect: str | None = None) -> None:
        """Write one record of ours; ``expect`` makes it conditional (see
        Adapter.write_small), and a refusal is raised as ``Conflict``."""
        condition = {} if expect is None else {"expect": expect}  # adapters of old keep working
        self.report.records_written += 1
        try:
            self.calls.retrying(lambda: self.adapter.write_small(
                name, data, "application/json", **condition))
        except Conflict:
            raise
        except Exception as exc:  # noqa: BLE001
            raise self.calls.failure("Writing '%s'" % name, exc) from exc

    # -- the deployment history (manifest storages) ------------------------------
    def history_gap(self, remote: Mapping[str, RemoteState], manifest_name: str) -> str | None:
        """Why the recorded history may miss the deployment now live (None
        when it cannot): files are listed, but the state record is missing,
        unusable, names no deployment, or recorded another manifest."""
        if not remote:
            return None  # nothing was published before
        if not self.listed:
            return "there is no state record '%s'" % self.state_name
        state = self.state()
        if state.problem is not None:
            return "the state record '%s' cannot be used" % self.state_name
        if not state.deployments:
            return "no deployment is recorded in '%s'" % self.state_name
        listed, recorded = remote.get(manifest_name), state.recorded_output(manifest_name)
        if listed is not None and listed.token is not None and (
            recorded is None or recorded[0] != listed.token
        ):
            return "the live manifest is not the one last recorded"
        return None

    def live_deployment(self, manifest_name: str, remote: Mapping[str, RemoteState]) -> str | None:
        """When the history missed the deployment now live: that deployment,
        established from the live manifest (read before this run replaces
        it), which names every file it uses. Its id; None without a usable
        manifest."""
        if manifest_name not in remote:
            return None
        data = self.calls("Reading '%s'" % manifest_name,
                          lambda: self.adapter.read_small(manifest_name))
        names = prune.manifest_names(data, manifest_name)
        if data is None or names is None:
            return None
        found = "live-" + fp.md5_hex(data)[:19]
        self.derived[found] = names
        return found

    def history(self, current: Deployment) -> list[str]:
        """Deployment ids, newest first, the current one included: as this
        run wrote them (merged with other runs' updates), or (dry run, no
        change) as they would be."""
        past = self.state().deployments
        if past[:1] == [current.id]:
            return past
        return formats.record_deployment(past, current.id, current.gap, current.before)

    def deployment_names(self, deployment: str) -> list[str] | None:
        """The names ``deployment`` uses: as the state record holds them, as
        the live manifest gave them, or else as a deployment record of the
        earlier format lists them (read even if not listed: a run of an
        earlier version may have written it after this run listed); None if
        none can say."""
        used = self.state().used.get(deployment)
        if used is not None:
            return sorted(used)
        if deployment in self.derived:
            return self.derived[deployment]
        name = self.deployment_record(deployment)
        data = self.calls("Reading '%s'" % name, lambda: self.adapter.read_small(name))
        names, why = formats.deployment_names(data)
        if names is None:
            self.log("The deployment record '%s' cannot be used: %s." % (name, why), 2)
        return names

    def obsolete(self, kept: Collection[str]) -> list[str]:
        """Listed objects of ours of the earlier format that nothing will
        read: the incremental record beside the state record, and deployment
        records but those of ``kept`` deployments the state record has no
        names for."""
        used = self.state().used
        needed = {self.deployment_record(d) for d in kept if d not in used}
        old_postprocess = posixpath.join(self.internal_dir, OLD_POSTPROCESS)
        return sorted(n for n in self.internal if n not in needed and (
            self.is_deployment_record(n) or n == old_postprocess))
