"""Incremental post-processing for manifest storages.

After a full post-processing run, Django's output for a file depends only on
its own bytes and on the final names of the files it references: every
adjustable file's name has stopped changing when the passes stop, so its
content is its source with each reference replaced by that reference's final
name. Intermediate names never survive (each pass deletes the previous
pass's copy), and the manifest lists the final names in processing order.

So a run records, per source, its fingerprint, the names it references (as
the storage's own converter resolved them, whatever its patterns) and its
final hashed name. The next run, when only some sources changed and nothing
else that shapes the output did, post-processes with the user's own class
just the changed files and those that reference them, directly or through a
chain, with every other name resolved to its recorded final name. Whether a
full run would have converged within ``max_post_process_passes`` depends on
the processing order of the whole tree, so that is replayed on the recorded
graph; when it would not (a reference cycle, a too long chain), or anything
is in doubt (a post-processing error included), Django's own passes run
instead, which also yield Django's own error.

A run with everything to process (cold, or the configuration changed) works
the same way with every file affected: each adjustable file is processed
once, again only if a name it saw was not final yet, instead of Django's
passes over all of them (with several CPUs, the first pass is shared by
forked processes). Sources and the hashed copies post-processing does not
rewrite are mapped into the stage, not linked.

Storages that override the methods driving the passes, or keep intermediate
files, always get Django's own passes (``eligible``).
"""

from __future__ import annotations

import graphlib
import hashlib
import json
import multiprocessing
import os
import posixpath
import shutil
from collections.abc import Iterable, Iterator, Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.contrib.staticfiles.utils import matches_patterns
from django.core.files.base import ContentFile, File
from django.core.files.storage import FileSystemStorage, Storage

from . import hashed, manifest, originals
from .plan import Reason, RemoteState
from .sources import LocalFile

FORMAT = 1
# Methods whose stock behaviour the incremental run relies on: a storage
# that overrides any of them is always post-processed in full.
_DRIVEN = ("post_process", "_post_process", "url_converter", "_url", "_stored_name",
           "save_manifest")


class Fallback(Exception):
    """The incremental run cannot prove its output; run in full."""


class RecordingMixin:
    """Remembers, per processed file, the names its references resolve to
    and the names they got (every call the storage's URL converter makes
    to ``_stored_name``)."""

    _current: str | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # file -> {key of each name it references: (the name it got, the
        # name as normalised)}
        self.references: dict[str, dict[str, tuple[str, str]]] = {}
        super().__init__(*args, **kwargs)

    def url_converter(self, name: str, *args: Any, **kwargs: Any) -> Any:
        self._current = name
        self.references.setdefault(name, {})
        return super().url_converter(name, *args, **kwargs)  # type: ignore[misc]

    def _stored_name(self, name: str, hashed_files: Any) -> Any:
        found = super()._stored_name(name, hashed_files)  # type: ignore[misc]
        if self._current is not None:
            normal = posixpath.normpath(name)
            self.references[self._current][key_of(self, normal)] = (found, normal)
        return found


class VirtualMixin:
    """Leaves the sources, and the hashed copies of those post-processing
    does not rewrite, where they are: the stage maps their names to the
    source files instead of holding links (one file system write each,
    which costs more than the processing on a slow disk). Goes before
    StagedMixin in the bases."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.virtual: dict[str, str] = {}  # name -> absolute source path
        super().__init__(*args, **kwargs)

    def exists(self, name: str) -> bool:
        return name in self.virtual or bool(super().exists(name))  # type: ignore[misc]

    def _open(self, name: str, mode: str = "rb") -> Any:
        source = self.virtual.get(name)
        if source is not None:
            return File(open(source, mode))
        return super()._open(name, mode)  # type: ignore[misc]

    def size(self, name: str) -> int:
        source = self.virtual.get(name)
        return os.path.getsize(source) if source else super().size(name)  # type: ignore[misc]

    def delete(self, name: str) -> None:
        if self.virtual.pop(name, None) is None:
            super().delete(name)  # type: ignore[misc]

    def path(self, name: str) -> str:
        target: str = super().path(name)  # type: ignore[misc]
        source = self.virtual.pop(name, None)
        if source is not None:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copyfile(source, target)
        return target

    def _save(self, name: str, content: Any) -> str:
        source = getattr(content, "name", None)
        if (isinstance(content, File) and not isinstance(content, ContentFile)
                and isinstance(source, str) and os.path.isabs(source)
                and os.path.isfile(source) and not self._staged(source)):
            if os.path.lexists(self._local(name)):  # type: ignore[attr-defined]
                os.unlink(self._local(name))  # type: ignore[attr-defined]
            self.virtual[name] = source
            return name.replace("\\", "/")
        self.virtual.pop(name, None)
        return super()._save(name, content)  # type: ignore[misc, no-any-return]

    def _staged(self, path: str) -> bool:
        return path.startswith(self._staged_root + os.sep)  # type: ignore[attr-defined]

    def place(self, files: Mapping[str, LocalFile]) -> None:
        """The sources, in place as collectstatic's copy step leaves them."""
        for name, file in files.items():
            if file.path:
                self.virtual[name] = os.path.abspath(file.path)
            else:
                with file.open() as handle:
                    super()._save(name, File(handle))  # type: ignore[misc]

    def published(self, stage: manifest.Stage) -> dict[str, LocalFile]:
        """Every file of the staged tree, the mapped ones included."""
        found = stage.files()
        holder = FileSystemStorage(location=stage.root)
        for name, source in self.virtual.items():
            found[name] = LocalFile(name, holder, name, source)
        return dict(sorted(found.items()))


def key_of(storage: Any, name: str) -> str:
    """The key ``hashed_files`` uses for ``name``."""
    return str(storage.hash_key(storage.clean_name(name)))


def eligible(storage: Storage) -> bool:
    """True when the storage post-processes as stock Django does (its own
    patterns, hashing and names are fine: they run unchanged)."""
    if getattr(storage, "keep_intermediate_files", False):
        return False
    for attribute in _DRIVEN:
        owner = next((k for k in type(storage).__mro__ if attribute in vars(k)), None)
        if owner is None or owner.__module__ != "django.contrib.staticfiles.storage":
            return False
    return True


def configuration_key(storage: Storage) -> str:
    """Everything besides the files that shapes the output."""
    body = {
        "format": FORMAT,
        "configuration": manifest.configuration(storage),
        "static_url": str(settings.STATIC_URL),
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


@dataclass
class Source:
    md5: str
    size: int
    hashed: str
    references: tuple[str, ...]  # sources whose final name it contains
    reads: tuple[str, ...] = ()  # sources whose original bytes name it (a query)


def dumps(config: str, sources: Mapping[str, Source]) -> dict[str, Any]:
    """The record (a section of the state record), compactly: references as
    indexes into the name list."""
    names = sorted(sources)
    index = {n: i for i, n in enumerate(names)}
    rows = [[n, s.md5, s.size, s.hashed, sorted(index[r] for r in s.references),
             sorted(index[r] for r in s.reads)] for n, s in ((n, sources[n]) for n in names)]
    return {"format": FORMAT, "config": config, "files": rows}


def loads(raw: Mapping[str, Any] | None, config: str) -> dict[str, Source] | None:
    """The recorded sources, or None if the record is missing, malformed or
    from another configuration."""
    try:
        if raw is None or raw.get("format") != FORMAT or raw.get("config") != config:
            return None
        names = [str(row[0]) for row in raw["files"]]
        return {
            str(row[0]): Source(str(row[1]), int(row[2]), str(row[3]),
                                tuple(names[int(i)] for i in row[4]),
                                tuple(names[int(i)] for i in row[5]))
            for row in raw["files"]
        }
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        return None


def processing_order(names: Iterable[str]) -> list[str]:
    """The order of Django's ``_post_process``: deepest first, stable."""
    return sorted(names, key=lambda n: len(n.split(os.sep)), reverse=True)


def converges(order: list[str], references: Mapping[str, Iterable[str]],
              adjustable: set[str], passes: int, rewritten: set[str]) -> bool:
    """Whether Django's passes over the whole tree stop changing names
    within ``passes``, replayed on names alone: a file's processed content
    (and so its name) changes exactly when a reference it sees changed.
    ``rewritten``: the files whose processed bytes differ from their
    source's (those with any reference)."""
    versions: dict[tuple[str, tuple[int, ...] | None], int] = {}

    def version(name: str, seen: tuple[int, ...] | None) -> int:
        return versions.setdefault((name, seen), len(versions))

    files = [n for n in order if n in adjustable]
    deps = {n: sorted(r for r in references.get(n, ()) if r in adjustable) for n in files}
    changes = {n: n in rewritten for n in files}
    current: dict[str, int] = {}

    def step(name: str) -> int:
        if not changes[name]:  # no reference: processed bytes are the original's
            return version(name, None)
        return version(name, tuple(current.get(r, version(r, None)) for r in deps[name]))

    for name in files:  # the first pass, over every file
        current[name] = step(name)
    for _ in range(passes):
        moved = False
        for name in files:
            new = step(name)
            moved = moved or new != current[name]
            current[name] = new
        if not moved:
            return True
    return False


@dataclass
class Plan:
    """What an incremental run does: the sources to post-process, and the
    recorded names (and published outputs) of all the others."""

    affected: list[str]
    seeded: dict[str, str]  # unaffected source -> its final hashed name
    carried: dict[str, tuple[str | None, int]]  # outputs kept as published
    previous: dict[str, Source]


def plan(
    storage: Any,
    files: Mapping[str, LocalFile],
    fingerprints: Mapping[str, tuple[str, int]],
    previous: Mapping[str, Source],
    outputs: Mapping[str, Any],
    remote: Mapping[str, RemoteState],
) -> Plan:
    """The affected set: changed, added and removed sources and every source
    that references one of them, transitively. Raises Fallback when the
    recorded outputs of the others are not listed as published."""
    changed = {n for n in files if n not in previous
               or (previous[n].md5, previous[n].size) != fingerprints[n]}
    changed |= set(previous) - set(files)
    dependants: dict[str, set[str]] = {}
    for name, source in previous.items():
        for target in (*source.references, *source.reads):
            dependants.setdefault(target, set()).add(name)
    affected, queue = set(changed), list(changed)
    while queue:
        for user in dependants.get(queue.pop(), ()):
            if user not in affected:
                affected.add(user)
                queue.append(user)
    seeded: dict[str, str] = {}
    carried: dict[str, tuple[str | None, int]] = {}
    for name in files:
        if name in affected:
            continue
        hashed = previous[name].hashed
        listed, entry = remote.get(hashed), outputs.get(hashed)
        if (listed is None or listed.token is None or not isinstance(entry, list)
                or len(entry) != 2 or [listed.token, listed.size] != entry):
            raise Fallback("'%s' is not listed as last published" % hashed)
        seeded[name] = hashed
        carried[hashed] = (listed.token, int(entry[1]))
    return Plan([n for n in files if n in affected], seeded, carried, dict(previous))


def run(staged: Any, files: Mapping[str, LocalFile], work: Plan) -> Iterator[tuple[str, str]]:
    """Post-process the affected sources on ``staged`` (a recording staged
    instance of the user's class), the others resolved to their recorded
    names; write the manifest of everything. Yields (original, hashed).

    Instead of Django's repeated passes over every adjustable file, each is
    processed once, the files it does not reference first; it is processed
    again only when a name it saw then is not the final one, after those
    names are final (references first). Whether Django's passes would have
    converged is replayed on the references (``converges``)."""
    keys = {n: key_of(staged, n) for n in files}
    hashed_files = {keys[n]: h for n, h in work.seeded.items()}
    paths = {n: (files[n].source_storage, files[n].source_name) for n in work.affected}
    adjustable = [n for n in paths if matches_patterns(n, staged._patterns)]
    ordered = set(adjustable)
    plain = {n: p for n, p in paths.items() if n not in ordered}
    _post_process_paths(staged, plain, adjustable, hashed_files)
    first_pass(staged, {n: paths[n] for n in adjustable}, adjustable, hashed_files, keys)
    by_key = {k: n for n, k in keys.items()}
    references = {n: s.references for n, s in work.previous.items() if n in work.seeded}
    rewritten = {n for n, s in work.previous.items()
                 if n in work.seeded and (s.references or s.reads)}
    for name in adjustable:
        found = classify(staged.references.get(name, {}), by_key, files)
        if found is None:
            raise Fallback("'%s' references a name no source has" % name)
        references[name] = found[0]
        if found[0] or found[1]:
            rewritten.add(name)
    order = processing_order(files)
    every_adjustable = {n for n in files if matches_patterns(n, staged._patterns)}
    passes = int(staged.max_post_process_passes)
    if not converges(order, references, every_adjustable, passes, rewritten):
        raise Fallback("a full run would exceed the post-processing passes")
    graph = {n: [r for r in references[n] if r in ordered] for n in adjustable}
    for name in graphlib.TopologicalSorter(graph).static_order():
        seen = staged.references.get(name, {})
        if any(k in by_key and hashed_files.get(k) != v for k, (v, _) in seen.items()):
            staged.references[name] = {}
            _post_process_paths(staged, {name: paths[name]}, adjustable, hashed_files)
    staged.hashed_files = {keys[n]: hashed_files[keys[n]] for n in order}
    staged.save_manifest()
    for name in processing_order(paths):
        yield name, hashed_files[keys[name]]


def classify(seen: Mapping[str, tuple[str, str]], by_key: Mapping[str, str],
             files: Mapping[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """A file's references as (sources whose final names it contains,
    sources whose original bytes it hashed): a name that is no key of
    ``hashed_files`` (one with a query string) is hashed from the file its
    path names, every time. None if that is no source either."""
    names, reads = set(), set()
    for key, (_found, normal) in seen.items():
        if key in by_key:
            names.add(by_key[key])
            continue
        path = urlsplit(unquote(normal)).path.strip()
        if path not in files:
            return None
        reads.add(path)
    return tuple(sorted(names)), tuple(sorted(reads))


# Below this many adjustable files, one process does the first pass.
PARALLEL_FROM = 32
_JOB: tuple[Any, Mapping[str, Any], list[str], dict[str, str], Mapping[str, str]] | None = None


def first_pass(staged: Any, paths: Mapping[str, Any], adjustable: list[str],
               hashed_files: dict[str, str], keys: Mapping[str, str]) -> None:
    """Process every adjustable file once. With several CPUs and enough
    files, in forked processes, each on a share of the files: a name one
    of them saw before another process gave it its processed name is not
    final, and ``run`` processes that file again (as for any stale name)."""
    workers = min(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                  else (os.cpu_count() or 1), 4)
    if (len(paths) < PARALLEL_FROM or workers < 2
            or "fork" not in multiprocessing.get_all_start_methods()):
        _post_process_paths(staged, paths, adjustable, hashed_files)
        return
    global _JOB
    names = processing_order(paths)
    shares = [names[i::workers] for i in range(workers)]
    _JOB = (staged, paths, adjustable, hashed_files, keys)
    try:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            results = pool.map(_share, shares)
    except Exception as exc:  # noqa: BLE001 - no processes: the full run does it all
        raise Fallback("the first pass in %d processes failed: %s" % (workers, exc)) from exc
    finally:
        _JOB = None
    for names_done, references, error in results:
        if error is not None:
            raise Fallback(error)
        hashed_files.update(names_done)
        staged.references.update(references)


def _share(names: list[str]) -> tuple[dict[str, str], dict[str, Any], str | None]:
    """In a forked process: the first pass over ``names``; returns their
    hashed names and what they referenced (the outputs are on disk)."""
    assert _JOB is not None
    staged, paths, adjustable, hashed_files, keys = _JOB
    staged.references = {}
    try:
        _post_process_paths(staged, {n: paths[n] for n in names}, adjustable, hashed_files)
    except Exception as exc:  # noqa: BLE001 - the parent runs in full, which reports it
        return {}, {}, "post-processing failed: %s" % exc
    return {keys[n]: hashed_files[keys[n]] for n in names}, staged.references, None


def _post_process_paths(staged: Any, paths: Mapping[str, Any], adjustable: list[str],
             hashed_files: dict[str, str]) -> None:
    for _name, _hashed, processed, _ in staged._post_process(paths, adjustable, hashed_files):
        if isinstance(processed, Exception):
            raise Fallback("post-processing failed")


def record(staged: Any, files: Mapping[str, LocalFile],
           fingerprints: Mapping[str, tuple[str, int]],
           work: Plan | None = None) -> dict[str, Source] | None:
    """Per source, what the next run needs, after a successful run on
    ``staged`` (``work`` if it was incremental: sources it did not process
    keep their recorded references). None when a reference does not resolve
    to a source."""
    by_key = {key_of(staged, n): n for n in files}
    sources: dict[str, Source] = {}
    for name in files:
        key = key_of(staged, name)
        hashed = staged.hashed_files.get(key)
        if hashed is None:
            return None
        if work is None or name not in work.seeded:
            found = classify(staged.references.get(name, {}), by_key, files)
            if found is None:
                return None
            refs, reads = found
        else:
            refs, reads = work.previous[name].references, work.previous[name].reads
        md5, size = fingerprints[name]
        sources[name] = Source(md5, size, str(hashed), refs, reads)
    return sources


def fingerprints(files: Mapping[str, LocalFile]) -> dict[str, tuple[str, int]]:
    """Each source's MD5 and size (remembered since the inputs key)."""
    return {name: manifest._measure(file) for name, file in files.items()}


def previous_sources(pipeline: Any, config: str) -> dict[str, Source] | None:
    """The record the last deployment left in the state record, if it is
    from the same configuration."""
    return loads(pipeline.records.postprocess(), config)


def deploy(pipeline: Any, storage: Any, options: Mapping[str, Any],
           files: Mapping[str, LocalFile], remote: Mapping[str, RemoteState],
           deployment: Any) -> list[str]:
    """Post-process (only what changed, when that is proven equal to a full
    run; else everything) and publish the staged tree, manifest last.
    Returns every name the deployment uses."""
    config = configuration_key(storage) if eligible(storage) else None
    prints = fingerprints(files) if config else {}
    work = None
    previous = previous_sources(pipeline, config) if config else None
    if previous is not None:
        section = pipeline.records.state().manifest or {}
        try:
            work = plan(storage, files, prints, previous, section.get("outputs") or {}, remote)
            stale = _written_otherwise(pipeline, work)
            if stale:
                raise Fallback("'%s' was written with other options" % stale)
        except Fallback as why:
            work = None
            pipeline.log("Post-processing everything: %s." % why, 2)
    if config is not None and work is None:  # everything, each file once where possible
        work = Plan(list(files), {}, {}, {})
    if work is not None:
        with manifest.Stage() as stage:
            try:
                staged = _process(pipeline, stage, storage, options, files, work)
            except Fallback as why:
                pipeline.log("Post-processing everything: %s." % why, 2)
            else:
                return _publish(pipeline, stage, staged, files, prints, config, deployment,
                                work, remote)
    with manifest.Stage() as stage:
        staged = _process(pipeline, stage, storage, options, files, None)
        return _publish(pipeline, stage, staged, files, prints, config, deployment, None,
                        remote)


def _written_otherwise(pipeline: Any, work: Plan) -> str | None:
    """A kept output that the last deployment wrote with other options than
    the storage would use now (gzip, headers, ACL ...): it must be written
    again, which only a full run does."""
    recorded = pipeline.records.recorded_writes()
    hashed_now = [work.seeded[n] for n in work.seeded if work.seeded[n] != n]
    # The kept hashed names, as this run would write them (asked, not kept).
    with (pipeline.hashed_cache.trying(hashed_now) if pipeline.hashed_cache is not None
          else nullcontext()):
        return next((name for name in work.carried
                     if recorded.get(name) != pipeline.records.write_digest(name)), None)


def _process(pipeline: Any, stage: manifest.Stage, storage: Any, options: Mapping[str, Any],
             files: Mapping[str, LocalFile], work: Plan | None) -> Any:
    if work is None:  # Django's own passes, on a staged tree
        stage.place_originals(files)
        staged = manifest.staged_storage(storage, options, stage.root, mixins=(RecordingMixin,))
    else:
        manifest.refuse_collisions(files, manifest.case_insensitive(stage.root))
        staged = manifest.staged_storage(storage, options, stage.root,
                                         mixins=(RecordingMixin, VirtualMixin))
        staged.place(files)
    fallback = None
    with pipeline.report.phase("post-process"):
        pairs = run(staged, files, work) if work else manifest.post_process(staged, files)
        try:
            done = list(pairs)
        except Fallback as why:  # not a failure of the run: it goes on in full
            fallback = why
    if fallback is not None:
        raise fallback
    if work is not None and len(work.affected) < len(files):
        pipeline.log("Post-processed %d of %d files (the others did not change)."
                     % (len(work.affected), len(files)), 2)
    for original, processed in done:
        pipeline.log("Post-processed '%s' as '%s'" % (original, processed), 2)
        pipeline.report.post_processed.append(original)
    return staged


def _publish(pipeline: Any, stage: manifest.Stage, staged: Any, files: Mapping[str, LocalFile],
             prints: Mapping[str, tuple[str, int]], config: str | None, deployment: Any,
             work: Plan | None, remote: Mapping[str, RemoteState]) -> list[str]:
    staged_files = staged.published(stage) if work else stage.files()
    postprocess = None
    if config is not None:
        sources = record(staged, files, prints, work)
        if sources is not None:
            postprocess = dumps(config, sources)
    carried = {n: v for n, v in (work.carried if work else {}).items() if n not in staged_files}
    staged_files = originals.drop(pipeline.publish_originals, staged_files, staged.hashed_files,
                                  lambda name: key_of(staged, name), carried)
    # The live storage instance gets this deployment's names (see runner).
    pipeline.processed = (dict(staged.hashed_files), getattr(staged, "manifest_hash", ""))
    if pipeline.hashed_cache is not None:  # STATICSHIP_HASHED_CACHE_CONTROL (see immutable)
        pipeline.hashed_cache.use(hashed.names(pipeline.processed))
    pipeline.publish(staged_files, last=frozenset({staged.manifest_name}), remote=remote,
                     deployment=deployment, carried=carried, postprocess=postprocess)
    for name in carried:  # counted as a full run counts them: unmodified
        pipeline.report.files.setdefault(name, Reason.UNCHANGED.value)
    return sorted(set(staged_files) | set(carried))
