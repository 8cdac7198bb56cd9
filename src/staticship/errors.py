"""staticship's exceptions. The core raises these, never Django's
``CommandError``; the command turns a ``RunFailed`` into a ``CommandError``
with the same text (and the same cause, for ``-v 3``)."""

from __future__ import annotations


class StaticshipError(Exception):
    """Base of staticship's errors."""


class RunFailed(StaticshipError):
    """The run stops, for a reason told in one line (what failed, the cause,
    and where known the fix)."""
