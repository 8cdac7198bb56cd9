"""Publishing only the hashed copies (``STATICSHIP_PUBLISH_ORIGINALS = False``).

A manifest storage publishes every file twice: under its own name (the
original) and under its content-hashed name. A site that reaches its static
files only through the manifest (``{% static %}``) never asks for an
original. With the setting off, a deployment publishes the hashed names, the
manifest, and every name post-processing did not map to another published
name (a ``file_hash`` that gives no hash leaves a file under its own name,
which is then the only name serving it); only the others are withheld.

Nothing here deletes: originals an earlier deployment published stay until
``--prune``/``--clear`` find that no kept deployment uses them. The setting
is one of the inputs the "nothing changed" skip compares (``inputs``), so
toggling it publishes the originals again, or records a deployment without
them. It is not part of the deployment's id: the same files are the same
release either way, and a toggle must not push older releases out of the
deployments ``--prune`` keeps.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any, TypeVar

T = TypeVar("T")

SETTING = "STATICSHIP_PUBLISH_ORIGINALS = False"


def inputs(key: str, publish: bool) -> str:
    """The deployment's inputs, as the skip compares them: ``key`` itself
    when the originals are published (deployments recorded before the
    setting existed keep theirs), else a key of its own."""
    if publish:
        return key
    return hashlib.sha256((key + "\0originals withheld").encode()).hexdigest()


def withheld(names: Iterable[str], hashed_files: Mapping[str, str], key: Callable[[str], str],
             published: Collection[str]) -> set[str]:
    """The names of ``names`` not to publish: each original that
    ``hashed_files`` (keyed by ``key(name)``) maps to another name which is
    published (in ``published``), and that is no file's hashed name itself."""
    targets = set(hashed_files.values())
    held = set()
    for name in names:
        hashed = hashed_files.get(key(name))
        if hashed is not None and hashed != name and hashed in published and name not in targets:
            held.add(name)
    return held


def drop(publish: bool, files: Mapping[str, T], hashed_files: Mapping[str, str],
         key: Callable[[str], str], carried: Collection[str]) -> dict[str, T]:
    """``files`` (a staged tree) without the withheld originals, when the
    setting is off (``publish`` False); ``carried``: hashed names kept as
    already published."""
    if publish:
        return dict(files)
    held = withheld(files, hashed_files, key, {*files, *carried})
    return {name: file for name, file in files.items() if name not in held}


def say(pipeline: Any, found: Collection[str], published: Collection[str]) -> None:
    """With the setting off: the found files the deployment does not
    publish under their own name, in the report and in one line (each
    name at -v 2)."""
    if pipeline.publish_originals:
        return
    held = sorted(set(found) - set(published))
    pipeline.report.withheld = held
    for name in held:
        pipeline.log("Not publishing the original '%s' (%s)." % (name, SETTING), 2)
    pipeline.log("Not publishing %d original%s (%s): the hashed copies and the manifest only."
                 % (len(held), "" if len(held) == 1 else "s", SETTING), 1)
