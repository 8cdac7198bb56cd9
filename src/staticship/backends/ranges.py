"""One listing in several ranges at once.

A listing is a chain of pages (1,000 keys each on S3), each request waiting
for the previous one's continuation token: 20,000 objects are 20 round trips
in a row. A run knows which names it expects, so it can cut the key space
at some of them and list the pieces side by side, each piece starting after
its lower bound (S3's ``start-after``) and stopping at the first key past
its upper bound. Together the pieces cover every key exactly once whatever
the bucket holds besides the expected names: the bounds only decide where
the cuts fall. A store that ignores ``start-after`` costs requests, not
correctness (keys at or below the lower bound are dropped here).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from ..plan import RemoteState

T = TypeVar("T")
#: (after, upto]: keys greater than ``after`` and at most ``upto`` (None: no bound).
Range = tuple[str | None, str | None]
#: What listing one range gives: the objects in it, and the pages it took.
Listed = tuple[list[RemoteState], int]

#: Expected keys per range, and the most ranges: each range's last page may
#: run past its upper bound, so k ranges cost at most k - 1 requests more.
PER_RANGE = 3000
MOST = 3


def cut(expected: Iterable[str]) -> list[Range]:
    """Ranges that split the sorted ``expected`` keys into about equal parts
    of at least ``PER_RANGE``; one unbounded range when that is too few."""
    keys = sorted(expected)
    count = min(MOST, len(keys) // PER_RANGE)
    if count < 2:
        return [(None, None)]
    bounds = sorted({keys[len(keys) * i // count] for i in range(1, count)})
    edges: list[str | None] = [None, *bounds, None]
    return [(edges[i], edges[i + 1]) for i in range(len(edges) - 1)]


def within(key: str, bounds: Range) -> int:
    """-1 when ``key`` is at or below the range, 1 when past it, else 0.
    (Python compares code points, which orders keys as S3 does: by their
    UTF-8 bytes.)"""
    after, upto = bounds
    if after is not None and key <= after:
        return -1
    if upto is not None and key > upto:
        return 1
    return 0


def clip(states: Iterable[RemoteState], bounds: Range, into: list[RemoteState]) -> bool:
    """Append to ``into`` the ``states`` (one page, in key order) whose keys
    fall within ``bounds``; True once one lies past the upper bound (the
    range is done: nothing after it is consumed)."""
    for state in states:
        place = within(state.key or "", bounds)
        if place > 0:
            return True
        if place == 0:
            into.append(state)
    return False


def list_all(ranges: Sequence[Range], one: Callable[[Range], T]) -> list[T]:
    """``one(range)`` for each range, side by side."""
    if len(ranges) == 1:
        return [one(ranges[0])]
    with ThreadPoolExecutor(len(ranges), thread_name_prefix="staticship-list") as pool:
        return list(pool.map(one, ranges))
