"""The state: which papers each subscriber got, and every digest's fate.

Backends live beside this file, one module each (:mod:`.sqlite` today).
Everything outside this package imports from here, never from a backend, so
a new backend is a new module plus a branch in :func:`open_state`.
"""

from __future__ import annotations

from .sqlite import (
    MIGRATIONS,
    READABLE_SINCE,
    SCHEMA_VERSION,
    DigestRecord,
    OpenDigest,
    State,
    owner_id,
    paper_from_json,
    send_lock,
)

__all__ = [
    "MIGRATIONS",
    "READABLE_SINCE",
    "SCHEMA_VERSION",
    "DigestRecord",
    "OpenDigest",
    "State",
    "owner_id",
    "paper_from_json",
    "send_lock",
]
