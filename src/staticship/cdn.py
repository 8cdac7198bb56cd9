"""CDN invalidation after a publish (``STATICSHIP_CLOUDFRONT_DISTRIBUTION``).

A deploy behind a CDN is finished when the CDN serves it. Content-hashed
names never need invalidating (a new content is a new name); the unhashed
names whose objects changed, and the names ``--clear``/``--prune`` deleted,
do. Their URL paths are taken from the storage's own ``url()`` (its location
and custom domain path), so they are the paths the CDN caches.

Another CDN is one subclass of ``CDN`` (``invalidate``) and one line in
``configured``.
"""

from __future__ import annotations

import posixpath
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urlsplit

from django.core.files.storage import Storage

from .plan import Reason
from .report import Report

#: More paths than this become one wildcard for the storage's location (a
#: wildcard counts as one path; CloudFront bills paths past 1,000 a month).
WILDCARD_THRESHOLD = 1000


class CDN(ABC):
    """A content delivery network in front of the storage."""

    #: Short name for the report ("cloudfront"), and words for messages.
    name: ClassVar[str] = "cdn"
    label: ClassVar[str] = "CDN"

    def __init__(self, target: str) -> None:
        self.target = target  # the distribution / endpoint id

    def describe(self) -> str:
        return "%s %s" % (self.label, self.target)

    @abstractmethod
    def invalidate(self, paths: Sequence[str]) -> list[str]:
        """Invalidate ``paths`` (URL paths, ``*`` wildcards allowed, at most
        ``WILDCARD_THRESHOLD``); return the ids the CDN gave the requests."""


class CloudFront(CDN):
    name = "cloudfront"
    label = "CloudFront distribution"
    #: Paths one CreateInvalidation accepts.
    MAX_PATHS = 3000

    def __init__(self, target: str, session: Callable[[], Any]) -> None:
        super().__init__(target)
        self.session = session  # made when needed: a failure is the invalidation's

    def invalidate(self, paths: Sequence[str]) -> list[str]:
        # The endpoint comes from boto3's own configuration
        # (AWS_ENDPOINT_URL_CLOUDFRONT, the config file); CloudFront is global.
        client = self.session().client("cloudfront", region_name="us-east-1")
        run = uuid.uuid4().hex
        ids = []
        for start in range(0, len(paths), self.MAX_PATHS):
            chunk = list(paths[start : start + self.MAX_PATHS])
            response = client.create_invalidation(
                DistributionId=self.target,
                InvalidationBatch={
                    "Paths": {"Quantity": len(chunk), "Items": chunk},
                    "CallerReference": "staticship-%s-%d" % (run, start // self.MAX_PATHS),
                },
            )
            ids.append(response["Invalidation"]["Id"])
        return ids


def aws_session(storage: Storage) -> Any:
    """The boto3 session an S3Storage's own requests use (its keys or
    profile); for other storages boto3's default chain."""
    import boto3

    from .backends.base import derives_from

    if derives_from(storage, "storages.backends.s3.S3Storage"):
        return storage._create_session()
    return boto3.Session()


def configured(storage: Storage, distribution: str | None) -> CDN | None:
    """The CDN the settings name (STATICSHIP_CLOUDFRONT_DISTRIBUTION), or None."""
    if distribution:
        return CloudFront(str(distribution), lambda: aws_session(storage))
    return None


def unhashed_changes(report: Report, hashed: Iterable[str]) -> list[str]:
    """The names to invalidate: those uploaded over an existing object
    (content or headers changed) that are not content-hashed, and every
    deleted name (an old deployment's hashed names cannot be told apart
    from unhashed ones without its manifest; invalidating one costs a miss)."""
    skip = set(hashed)
    changed = [n for n in report.names(Reason.CHANGED) + report.names(Reason.HEADERS)
               if n not in skip]
    return sorted(set(changed) | set(report.deleted))


def plain_url(storage: Storage, name: str) -> str:
    """The storage's URL for ``name`` itself, never its hashed name."""
    from django.contrib.staticfiles.storage import HashedFilesMixin

    if isinstance(storage, HashedFilesMixin):
        return str(super(HashedFilesMixin, storage).url(name))
    return str(storage.url(name))


def url_path(storage: Storage, name: str) -> str:
    """The path part of the storage's URL for ``name`` (query dropped)."""
    return urlsplit(plain_url(storage, name)).path or "/"


def wildcard(storage: Storage) -> str:
    """``/<location path>/*``: every path the storage's URLs can have."""
    probe = url_path(storage, "staticship-probe")
    return posixpath.join(posixpath.dirname(probe), "*")


def paths_for(storage: Storage, names: Sequence[str]) -> list[str]:
    """URL paths of ``names``, or the one wildcard when there are too many."""
    if len(names) > WILDCARD_THRESHOLD:
        return [wildcard(storage)]
    return sorted({url_path(storage, name) for name in names})


@dataclass
class Invalidation:
    """What was (or, in a dry run, would be) invalidated, for the report."""

    cdn: str
    label: str
    target: str
    paths: list[str]
    names: int
    ids: list[str] = field(default_factory=list)
    status: str = "ok"  # ok, planned (dry run), failed
    error: str | None = None

    def failure_line(self) -> str:
        return ("Invalidating %d paths on %s %s failed: %s. The deploy itself is complete; "
                "invalidate these paths by hand: %s." % (
                    len(self.paths), self.label, self.target, self.error, _some(self.paths)))

    def as_json(self) -> dict[str, Any]:
        return {"cdn": self.cdn, "target": self.target, "paths": list(self.paths),
                "names": self.names, "ids": list(self.ids), "status": self.status,
                "error": self.error}


def invalidate(
    storage: Storage, report: Report, hashed: Iterable[str], log: Any, distribution: str | None
) -> Invalidation | None:
    """Invalidate what the run changed (see ``unhashed_changes``); None
    when no CDN is configured or nothing needs it. A failure is recorded
    (status ``failed``), not raised: the caller reports it."""
    cdn = configured(storage, distribution)
    if cdn is None:
        return None
    names = unhashed_changes(report, hashed)
    if not names:
        log("Nothing to invalidate on %s: no unhashed file changed." % cdn.describe(), 2)
        return None
    done = Invalidation(cdn.name, cdn.label, cdn.target, paths_for(storage, names), len(names))
    if report.dry_run:
        done.status = "planned"
        log("Would invalidate %d paths on %s: %s" % (
            len(done.paths), cdn.describe(), ", ".join(done.paths)), 1)
        return done
    try:
        done.ids = cdn.invalidate(done.paths)
    except Exception as exc:  # noqa: BLE001 - one line, said by the caller
        done.status = "failed"
        done.error = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return done
    log("Invalidated %d paths on %s (%s)." % (len(done.paths), cdn.describe(),
                                               ", ".join(done.ids)), 1)
    return done


def _some(paths: Sequence[str], shown: int = 10) -> str:
    more = len(paths) - shown
    return " ".join(paths[:shown]) + (" and %d more (see --report)" % more if more > 0 else "")
