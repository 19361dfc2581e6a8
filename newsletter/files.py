"""The two ways the house writes files it shares with other processes.

:func:`write_atomic`: readers see the old file or the new one, never half of
one (HTTP cache entries, the outbox, preview pages, ``init``'s starter config).
:func:`lock_file`: an exclusive ``flock`` on a small file that names its holder
(one ``send`` per SQLite state, one ``run`` per state); the kernel drops it when
the holder dies, however it dies.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, data: bytes, *, durable: bool = False, mode: int | None = None) -> None:
    """Write ``data`` to a temporary file beside ``path`` and rename it over
    ``path``.  ``durable``: fsync before the rename (survives a power cut).
    ``mode``: the new file's permissions (default: private, 0600).  Raises
    :class:`OSError` naming ``path`` (a full disk fails the write, which
    names no file of its own); the temporary file never stays behind."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        if exc.filename is None or exc.filename == tmp:
            exc.filename, exc.filename2 = str(path), None
        raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class LockHeld(Exception):
    """Another process holds the lock; ``holder`` is what its file says."""

    def __init__(self, holder: str) -> None:
        super().__init__(holder)
        self.holder = holder


def lock_file(path: Path, owner: str) -> int:
    """Take ``path``'s exclusive lock without waiting (creating the file) and
    write ``owner`` into it; returns the descriptor (closing it releases the
    lock).  Raises :class:`LockHeld` naming the holder, or :class:`OSError`."""
    import fcntl

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "unknown"
        os.close(fd)
        raise LockHeld(holder) from None
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, owner.encode(), 0)
    return fd
