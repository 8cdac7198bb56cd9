"""boto3 sessions that share botocore's data loader.

Every ``S3Storage.connection`` and ``unsigned_connection`` starts a new
boto3 session (``_create_session``), and a new session parses botocore's
service models again: about 0.3 s of CPU per resource. The models are the
same JSON files for every session of the process, so sessions made here
share one loader (its cache) and a second resource costs about 30 ms.
Credentials, region and configuration stay each session's own.
"""

from __future__ import annotations

import threading
from typing import Any

_lock = threading.Lock()
_loader: Any = None


def share_loader(session: Any) -> Any:
    """``session`` (a boto3 Session), made to use the process's shared
    botocore data loader (the first session's becomes the shared one)."""
    global _loader
    core = getattr(session, "_session", None)
    if core is None:
        return session
    with _lock:
        if _loader is None:
            _loader = core.get_component("data_loader")
        else:
            core.register_component("data_loader", _loader)
            if hasattr(session, "_loader"):
                session._loader = _loader  # boto3 reads resource models through its own
    return session


def share_connections(source: Any, target: Any) -> None:
    """``target``, an S3Storage of the same class and options as ``source``
    (a staged copy), uses ``source``'s boto3 resources: the same
    connection, built once. The models ``source``'s resource parsed are
    shared with the sessions made later (``share_loader``)."""
    global _loader
    for attribute in ("_connections", "_unsigned_connections"):
        local = getattr(source, attribute, None)
        if isinstance(local, threading.local) and hasattr(target, attribute):
            setattr(target, attribute, local)
    built = getattr(getattr(source, "_connections", None), "connection", None)
    loader = getattr(getattr(getattr(built, "meta", None), "client", None), "_loader", None)
    with _lock:
        if _loader is None and loader is not None:
            _loader = loader
