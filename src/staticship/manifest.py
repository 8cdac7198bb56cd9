"""Step 2, manifest storages (``ManifestFilesMixin``) only: post-process
locally, then publish the difference, the manifest last.

Django's own post-processing runs unchanged (the user's class, with its
patterns, passes, hashing and URL overrides), but on an instance whose file
operations go to a staging directory on local disk instead of the remote
store: nothing is read from or deleted on the remote side, and the output is
byte for byte what the storage would have published. The staged tree (the
unhashed copies, the hashed ones and the manifest) is then published like any
other tree, with the manifest held back until every file it names is in place.

A fingerprint of the inputs (every file's name and content, the storage's
hashing configuration, STATIC_URL and the source of the project modules that
define the storage's classes) is kept in the state record with the tokens of
the published outputs and a digest of the options each was written with; a
run whose inputs match, whose outputs are all still listed with those tokens
and would be written with the same options does no post-processing at all.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import shutil
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import django
from django.conf import settings
from django.contrib.staticfiles.storage import ManifestFilesMixin
from django.core.files.base import ContentFile, File
from django.core.files.storage import FileSystemStorage, Storage

from . import __version__
from . import fingerprint as fp
from . import leftovers
from .errors import RunFailed
from .plan import RemoteState
from .sources import LocalFile

SECTION = "manifest"
# Configuration that changes what post-processing writes.
HASHING_ATTRIBUTES = (
    "manifest_name", "manifest_version", "manifest_strict", "max_post_process_passes",
    "keep_intermediate_files", "support_js_module_import_aggregation", "patterns",
    "default_template", "location", "base_url", "custom_domain", "querystring_auth",
    "url_protocol", "file_overwrite",
)
# Libraries whose code is covered by their version number.
_VERSIONED = ("django.", "storages.", "staticship.", "builtins")


def is_manifest_storage(storage: Storage) -> bool:
    return isinstance(storage, ManifestFilesMixin)


class StagedMixin:
    """Sends a storage's file operations to a local directory. Put first in
    the bases of a subclass of the user's storage class."""

    def __init__(self, *args: Any, stage: FileSystemStorage, **kwargs: Any) -> None:
        # Attribute names no storage class uses (InMemoryStorage has _root).
        self._staged_in = stage
        self._staged_root = os.path.abspath(str(stage.location))
        kwargs["manifest_storage"] = stage
        super().__init__(*args, **kwargs)

    def _create_session(self) -> Any:
        """S3Storage's boto3 session (its ``url()`` builds two resources),
        sharing botocore's parsed models (see backends.boto). Only storages
        that have the method call it."""
        from .backends.boto import share_loader

        return share_loader(super()._create_session())  # type: ignore[misc]

    def _local(self, name: str) -> str:
        """The staged path of ``name`` (cheaper than FileSystemStorage.path,
        which post-processing calls tens of thousands of times)."""
        clean = name.replace("\\", "/")
        if clean.startswith("/") or ".." in clean.split("/"):
            return str(self._staged_in.path(name))  # validates, and refuses escapes
        return os.path.join(self._staged_root, clean)

    def path(self, name: str) -> str:
        """The staged file, for code that works on ``path()`` directly
        (WhiteNoise compresses and deletes that way). A storage without
        local paths keeps raising as it would under stock. A staged link to
        a source file is replaced by a copy first: the caller may write to
        the path, and must never reach the user's sources."""
        if _resolved(type(self), "path") is Storage.path:
            return super().path(name)  # type: ignore[misc, no-any-return]
        target = self._local(name)
        if os.path.islink(target):
            _materialise(target)
        return target

    def exists(self, name: str) -> bool:
        return os.path.lexists(self._local(name))

    def _open(self, name: str, mode: str = "rb") -> Any:
        return File(open(self._local(name), mode))

    def open(self, name: str, mode: str = "rb") -> Any:
        return self._open(name, mode)

    def delete(self, name: str) -> None:
        self._staged_in.delete(name)

    def size(self, name: str) -> int:
        return os.path.getsize(self._local(name))

    def listdir(self, path: str) -> tuple[list[str], list[str]]:
        found: tuple[list[str], list[str]] = self._staged_in.listdir(path)
        return found

    def file_hash(self, name: str, content: Any = None) -> str | None:
        # Django's own file_hash is the MD5 (first 12 digits) of the content;
        # for an unmodified source file it was computed already. Only source
        # files qualify (directly, or through a staged link): a staged file
        # that post-processing rewrote is hashed from its bytes. Overrides in
        # the user's class are always called.
        if (
            content is not None
            and _DJANGO_FILE_HASH is not None
            and _resolved(type(self), "file_hash") is _DJANGO_FILE_HASH
        ):
            path = getattr(content, "name", None)
            if isinstance(path, str) and os.path.isabs(path):
                staged = path.startswith(self._staged_root + os.sep)
                if staged and os.path.islink(path):
                    path = os.readlink(path)
                    staged = False
                if not staged and os.path.isfile(path):
                    return fp.md5_of_path(path)[0][:12]
        digest: str | None = super().file_hash(name, content)  # type: ignore[misc]
        return digest

    def _save(self, name: str, content: Any) -> str:
        target = self._local(name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if os.path.lexists(target):  # never write through a staged symlink
            os.unlink(target)
        source = getattr(content, "name", None)
        if (
            isinstance(content, File)
            and not isinstance(content, ContentFile)
            and isinstance(source, str)
            and os.path.isabs(source)
            and os.path.isfile(source)
        ):
            # An unmodified source file (a hashed copy of a non-adjustable
            # file): link to it instead of copying its bytes.
            os.symlink(source, target)
        else:
            if hasattr(content, "seek"):
                content.seek(0)
            with open(target, "wb") as out:
                for chunk in content.chunks():
                    out.write(chunk)
        return name.replace("\\", "/")


_DJANGO_FILE_HASH = getattr(ManifestFilesMixin, "file_hash", None)


def _materialise(link: str) -> None:
    """Replace the staged symlink ``link`` by a copy of what it points to
    (atomically: a concurrent reader sees the link or the copy)."""
    handle, temporary = tempfile.mkstemp(dir=os.path.dirname(link), prefix=".staticship-copy-")
    os.close(handle)
    try:
        shutil.copyfile(link, temporary)
        os.replace(temporary, link)
    except BaseException:
        if os.path.lexists(temporary):
            os.unlink(temporary)
        raise


def _resolved(cls: type, attribute: str) -> Any:
    """``cls.attribute`` as found past StagedMixin in the MRO."""
    for klass in cls.__mro__:
        if klass is StagedMixin:
            continue
        if attribute in vars(klass):
            return vars(klass)[attribute]
    return None


def staged_storage(
    storage: Storage, options: Mapping[str, Any], root: str, mixins: tuple[type, ...] = ()
) -> Any:
    """An instance of ``storage``'s own class whose files live under ``root``
    (``mixins`` go first in its bases)."""
    cls = type(storage)
    staged_cls = type("Staged" + cls.__name__, (*mixins, StagedMixin, cls), {"__module__": __name__})
    stage = FileSystemStorage(location=root, base_url="/")
    kwargs = {k: v for k, v in options.items() if k != "manifest_storage"}
    staged = staged_cls(stage=stage, **kwargs)
    from .backends.boto import share_connections

    share_connections(storage, staged)
    return staged


def _stable(value: Any) -> Any:
    """A JSON-able form of configuration values (compiled regexes included)."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_stable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _stable(v) for k, v in sorted(value.items(), key=lambda i: str(i[0]))}
    if hasattr(value, "pattern") and hasattr(value, "flags"):
        return ["re", value.pattern, value.flags]
    return repr(value)


def _module_digest(module_name: str) -> str:
    """SHA-256 of a module's source file: helpers, constants and mixins the
    storage calls outside its own class body are part of its output. A module
    whose source cannot be read gets a fresh value (no skip can rest on it)."""
    module = sys.modules.get(module_name)
    try:
        path = inspect.getsourcefile(module) if module is not None else None
        if path:
            with open(path, "rb") as handle:
                return hashlib.sha256(handle.read()).hexdigest()
    except (OSError, TypeError):
        pass
    return "unreadable:" + os.urandom(8).hex()


def configuration(storage: Storage) -> dict[str, Any]:
    """Everything besides the files that shapes post-processing's output."""
    classes = []
    modules: dict[str, str] = {}
    for cls in type(storage).__mro__:
        classes.append("%s.%s" % (cls.__module__, cls.__qualname__))
        if not cls.__module__.startswith(_VERSIONED) and cls.__module__ not in modules:
            modules[cls.__module__] = _module_digest(cls.__module__)
    try:
        import storages

        storages_version = getattr(storages, "__version__", "")
    except ImportError:
        storages_version = ""
    return {
        "staticship": __version__,
        "django": django.get_version(),
        "django-storages": storages_version,
        "classes": classes,
        "modules": modules,
        # Django's URL converter compares absolute URLs with it.
        "static_url": str(settings.STATIC_URL or ""),
        "settings": {a: _stable(getattr(storage, a, None)) for a in HASHING_ATTRIBUTES},
    }


def write_digest(options: Any) -> str:
    """A short digest of what an adapter would put on one object besides its
    bytes (headers, ACL, encoding, permissions): see ``Adapter.write_options``."""
    text = json.dumps(_stable(options), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _measure(file: LocalFile) -> tuple[str, int]:
    if file.path:
        return fp.md5_of_path(file.path)
    with file.open() as handle:
        return fp.md5_of_file(handle)


def inputs_key(storage: Storage, files: Mapping[str, LocalFile]) -> str:
    """Hash of the configuration and of every file's name and content. The
    files are hashed on a thread per CPU (hashlib releases the GIL), and the
    MD5s are remembered for post-processing and the upload plan."""
    digest = hashlib.sha256()
    digest.update(json.dumps(configuration(storage), sort_keys=True).encode())
    names = sorted(files)
    with ThreadPoolExecutor(fp.hashers()) as pool:
        measured = list(pool.map(lambda n: _measure(files[n]), names))
    for name, (md5, size) in zip(names, measured, strict=False):
        digest.update(("\0%s\0%s\0%d" % (name, md5, size)).encode())
    return digest.hexdigest()


def unchanged_deployment(
    section: Mapping[str, Any] | None,
    key: str,
    remote: Mapping[str, RemoteState],
    writes: Callable[[str], str],
    recorded: Mapping[str, str],
) -> list[str] | None:
    """The published names if the last deployment was built from the same
    inputs, every output it recorded is still listed as it was, and each would
    be written with the same options (``writes``: name -> ``write_digest``)
    as ``recorded``; else None."""
    if not section or section.get("inputs") != key:
        return None
    outputs = section.get("outputs")
    if not isinstance(outputs, dict) or not outputs:
        return None
    for name, (token, size) in outputs.items():
        listed = remote.get(name)
        if listed is None or listed.token is None or listed.token != token or listed.size != size:
            return None
        if recorded.get(name) != writes(name):
            return None
    return sorted(outputs)


class Stage:
    """A staging directory on local disk, removed on exit."""

    def __init__(self) -> None:
        self.root = tempfile.mkdtemp(prefix=leftovers.prefix(leftovers.STAGE))

    def __enter__(self) -> Stage:
        return self

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def place_originals(self, files: Mapping[str, LocalFile]) -> None:
        """Put the unhashed files in place, as stock's copy step does, by
        linking to the sources (no bytes copied)."""
        refuse_collisions(files, case_insensitive(self.root))
        for name, file in files.items():
            target = os.path.join(self.root, name)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            if file.path:
                os.symlink(os.path.abspath(file.path), target)
            else:
                with file.open() as source, open(target, "wb") as out:
                    shutil.copyfileobj(source, out)

    def files(self) -> dict[str, LocalFile]:
        stage = FileSystemStorage(location=self.root)
        found: dict[str, LocalFile] = {}
        for directory, _dirs, names in os.walk(self.root):
            for filename in names:
                path = os.path.join(directory, filename)
                name = os.path.relpath(path, self.root).replace(os.sep, "/")
                found[name] = LocalFile(name, stage, name, path)
        return dict(sorted(found.items()))


def case_insensitive(directory: str) -> bool:
    """True when the filesystem holding ``directory`` ignores case in names
    (macOS and Windows by default): a probe file is looked up by another
    spelling."""
    handle, probe = tempfile.mkstemp(dir=directory, prefix=".staticship-Case-")
    os.close(handle)
    try:
        head, tail = os.path.split(probe)
        return os.path.exists(os.path.join(head, tail.swapcase()))
    finally:
        os.unlink(probe)


def collision(names: Iterable[str], fold_case: bool) -> tuple[str, str] | None:
    """Two names that one directory tree cannot hold at once, if any: a file
    named like another name's folder (``a`` and ``a/b``, found by two
    finders), or, when ``fold_case``, two spellings of one path that differ
    only by case (``CSS/a.css`` and ``css/b.css`` would share a folder)."""
    files = set(names)
    seen: dict[str, tuple[str, str]] = {}  # folded path -> (its spelling, a name using it)
    for name in sorted(files):
        parts = name.split("/")
        for depth in range(1, len(parts) + 1):
            path = "/".join(parts[:depth])
            if depth < len(parts) and path in files:
                return path, name
            spelling, first = seen.setdefault(path.casefold() if fold_case else path, (path, name))
            if spelling != path:
                return first, name
    return None


def refuse_collisions(files: Iterable[str], fold_case: bool) -> None:
    """Stop, in one line, before staging names that would overwrite or merge
    with each other in the stage (and publish under a wrong name)."""
    found = collision(files, fold_case)
    if found is None:
        return
    first, second = found
    if second.startswith(first + "/"):
        why = "the first is a file and the second needs a folder of the same name"
    else:
        why = "their paths differ only by case and the staging folder's filesystem ignores case"
    raise RunFailed(
        "Cannot stage '%s' and '%s' together for post-processing: %s. Rename one of "
        "them. Nothing was uploaded." % (first, second, why)
    )


class PostProcessingFailed(RunFailed):
    """The storage's post-processing failed on ``original``; nothing was
    uploaded. The message holds stock's (Django 6.1: the error and its
    notes); the command reports it as stock does (see ``runner``)."""

    def __init__(self, original: str, error: Exception) -> None:
        notes = "\n".join(getattr(error, "__notes__", ()))
        super().__init__("Post-processing '%s' failed: %s%s\nNothing was uploaded."
                         % (original, error, "\n" + notes if notes else ""))
        self.original = original
        self.error = error


def post_process(staged: Any, found: Mapping[str, LocalFile]) -> Iterator[tuple[str, str]]:
    """Run the storage's post-processing on the staged tree; yield
    (original, processed) names. Errors stop the run, naming the file."""
    paths = {name: (file.source_storage, file.source_name) for name, file in found.items()}
    for original, processed_name, processed in staged.post_process(paths, dry_run=False):
        if isinstance(processed, Exception):
            raise PostProcessingFailed(original, processed) from processed
        if processed:
            yield original, processed_name
