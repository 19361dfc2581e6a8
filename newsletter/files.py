"""The ways the house writes files it shares with other processes.

:func:`write_atomic`: readers see the old file or the new one, never half of
one (HTTP cache entries, the outbox, preview pages, ``init``'s starter config).
:func:`lock_file`: an exclusive ``flock`` on a small file that names its holder
(one ``send`` per SQLite state, one ``run`` per state); the kernel drops it when
the holder dies, however it dies.  :class:`HeldLock` keeps one held while its
file is removed.
:func:`fitted_name`: a file name made from an address stays within what a
file system takes.
:func:`broken_link`: a symbolic link where a file or folder is read or
written that leads nowhere, named as such.
:func:`bomless_unicode` and :func:`windows_1252`: the encodings a saved file
comes in besides UTF-8, told by its bytes.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .patterns import lazy

log = logging.getLogger(__name__)


def fsync_path(path: Path) -> None:
    """Flush ``path`` (a file, or a folder's entries) to the disk."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, *, durable: bool = False, mode: int | None = None) -> None:
    """Write ``data`` to a temporary file beside ``path`` and rename it over
    ``path``.  ``durable``: fsync the file before the rename and its folder
    after it, so that both the data and the name survive a power cut (a
    digest written to the outbox is recorded sent at once: a rename still in
    the page cache lost a digest recorded as sent).
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
        if durable:
            try:
                fsync_path(path.parent)
            except OSError as exc:
                if exc.errno != errno.EINVAL:  # (a file system that cannot flush a folder: the rename stands)
                    raise
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        if exc.filename is None or exc.filename == tmp:
            exc.filename, exc.filename2 = str(path), None
        raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def own_private(info: os.stat_result) -> bool:
    """True for a file of this user's that no one else can write: only such
    a file of code is run (the templates' compiled code, kept patterns'; a
    shared or planted one would run as this user)."""
    getuid = getattr(os, "getuid", None)
    return (getuid is None or info.st_uid == getuid()) and not info.st_mode & 0o022


#: A temporary file of :func:`write_atomic` this old (seconds) was left by a
#: process killed between its write and its rename; a younger one may be
#: another process's, being written right now.
STALE_TEMPORARY = 3600.0
#: :func:`write_atomic`'s temporary name: ``.NAME.XXXXXXXX.tmp`` (``tempfile``'s 8 random characters).
_TEMPORARY = lazy(r"\.(.+)\.[a-z0-9_]{8}\.tmp")


def sweep_temporaries(
    folder: Path, ours: Callable[[str], bool], *, now: float | None = None, older_than: float = STALE_TEMPORARY
) -> int:
    """Remove the temporary files :func:`write_atomic` left in ``folder`` for
    the files whose names ``ours`` accepts, when older than ``older_than``
    (``kill -9`` mid-write: each killed run left a few for ever; their file
    is written whole again by the next run).  ``now``: seconds since the
    epoch (the real time when None).  Returns how many went; a file that
    cannot be looked at or removed is left, it harms nothing."""
    cutoff = (time.time() if now is None else now) - older_than
    removed = 0
    try:
        names = [name for name in os.listdir(folder) if (m := _TEMPORARY.fullmatch(name)) and ours(m.group(1))]
    except OSError:
        return 0
    for name in names:
        path = Path(folder) / name
        try:
            if path.is_file() and not path.is_symlink() and path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except OSError:
            pass  # gone already, or not ours to remove
    return removed


#: The longest file name made here, in bytes: file systems take 255 (ext4,
#: XFS, btrfs, tmpfs), and :func:`write_atomic`'s temporary name adds 14.
MAX_NAME_BYTES = 200


def fitted_name(stem: str, suffix: str = "") -> str:
    """``stem + suffix``, or where that is over :data:`MAX_NAME_BYTES`, the
    stem cut short and ended by ``~`` and a hash of the whole stem.

    An address may be 254 characters long, and names made from one (the
    outbox's, the preview's) were refused by the file system at every send.
    The name stays the same on every run (a digest sent again replaces its
    file), and two stems that share their first 180 bytes get two names.
    """
    name = stem + suffix
    if len(name.encode("utf-8")) <= MAX_NAME_BYTES:
        return name
    digest = hashlib.blake2s(stem.encode("utf-8"), digest_size=6).hexdigest()
    room = MAX_NAME_BYTES - len(suffix.encode("utf-8")) - len(digest) - 1
    return f"{stem.encode('utf-8')[:room].decode('utf-8', 'ignore')}~{digest}{suffix}"


class LockHeld(Exception):
    """Another process holds the lock; ``holder`` is what its file says."""

    def __init__(self, holder: str) -> None:
        super().__init__(holder)
        self.holder = holder


def lock_file(path: Path, owner: str) -> int:
    """Take ``path``'s exclusive lock without waiting (creating the file) and
    write ``owner`` into it; returns the descriptor (closing it releases the
    file's lock; :func:`unlock_file` releases both).  Raises
    :class:`LockHeld` naming the holder, or :class:`OSError`.

    A lock file removed while held (a clean-up of ``*.lock``, a hand
    tidying up) left its holder locking a file no name leads to, and the
    next taker made a new file and took it at once: two sends on one
    state.  So the holder also binds a name no clean-up of files can
    remove (:func:`_claim_name`: a socket in Linux's abstract namespace,
    dropped by the kernel when the holder dies, like the ``flock``), and a
    taker finding it bound waits.  The name is asked for before the file is
    locked, so that the holder of a removed file, taking the lock again,
    never finds the new file held for the moment of asking.  The ``flock``
    still decides between machines sharing the file (NFS)."""
    key = os.path.realpath(path)
    claimed = _claim_name(key, path)
    try:
        return _take_file(path, owner)
    except BaseException:
        if claimed:
            _let_go(key)
        raise


def _take_file(path: Path, owner: str) -> int:
    """``path``'s ``flock``, not waited for (:class:`LockHeld` names the
    holder its file names): the descriptor, the file saying ``owner``."""
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


def unlock_file(path: Path, fd: int) -> None:
    """Release what :func:`lock_file` took for ``path``: its file's lock and its name."""
    os.close(fd)
    _let_go(os.path.realpath(path))


#: The names this process holds, by the real path of their lock file: the
#: name that excludes others and the one that tells them this process's pid.
_NAMES: dict[str, tuple[socket.socket, socket.socket]] = {}
_NAMES_TURN = threading.Lock()
_NAME_PREFIX = "paper-digest-lock/"


def _claim_name(key: str, path: Path) -> bool:
    """Bind ``key``'s abstract socket name: True when this call bound it,
    False when this process holds it already or names cannot be had here
    (not Linux), :class:`LockHeld` when another process holds it.  Binding
    costs microseconds; reading ``/proc/locks``, which this replaced, cost
    10-15 ms at every start (the kernel waits for an RCU grace period)."""
    name = _NAME_PREFIX + hashlib.blake2s(key.encode("utf-8", "surrogateescape")).hexdigest()
    with _NAMES_TURN:
        if key in _NAMES:
            return False
        try:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        except (OSError, AttributeError):
            return False
        try:
            sock.bind("\0" + name)
        except OSError as exc:
            sock.close()
            if exc.errno != errno.EADDRINUSE:
                return False
            raise LockHeld(_holder_of(name, path)) from None
        tag = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            tag.bind(f"\0{name}/pid-{os.getpid()}")
        except OSError:
            pass  # only the holder's pid in a message is lost
        _NAMES[key] = (sock, tag)
        return True


def _let_go(key: str) -> None:
    with _NAMES_TURN:
        socks = _NAMES.pop(key, ())
    for sock in socks:
        sock.close()


def _holder_of(name: str, path: Path) -> str:
    """Who holds the name: what the lock file says, or, when no file is
    there to say it (it was removed), the pid the holder's second name
    gives (Linux lists bound names in ``/proc/net/unix``)."""
    try:
        said = path.read_bytes()[:200].decode("utf-8", "replace").strip()
    except OSError:
        said = ""
    if said:
        return said
    pid = "unknown"
    try:
        with open("/proc/net/unix", encoding="utf-8", errors="replace") as f:
            for line in f:
                if (at := line.find(f"@{name}/pid-")) >= 0:
                    pid = line[at + len(name) + 6 :].strip()
                    break
    except OSError:
        pass
    return f"pid {pid}, which holds it still though its lock file was removed"


def _forget_names_in_child() -> None:
    """A forked worker must not keep its parent's names bound after the
    parent lets them go (the next lock in the parent would wait on its own
    child); the ``flock`` it shares is what outlives a dead parent."""
    for socks in _NAMES.values():
        for sock in socks:
            sock.close()
    _NAMES.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_names_in_child)


class HeldLock:
    """A lock taken with :func:`lock_file` and kept: :meth:`renew` notices
    its file was removed (or replaced) and takes the lock at ``path`` again."""

    def __init__(self, path: Path, owner: str) -> None:
        self.path, self.owner = path, owner
        self.fd = lock_file(path, owner)
        self._turn = threading.Lock()

    def renew(self) -> bool:
        """Whether the lock had to be taken again: ``path`` no longer named
        the file this holds.  Raises :class:`LockHeld` when another process
        took the new file first (it runs beside this one now), or
        :class:`OSError`."""
        with self._turn:
            try:
                now = os.stat(self.path)
                if (now.st_dev, now.st_ino) == _file_of(self.fd):
                    return False
            except FileNotFoundError:
                pass
            fd = lock_file(self.path, self.owner)
            os.close(self.fd)
            self.fd = fd
            return True

    def kept(self, by: str) -> str | None:
        """Asked while ``by`` (a send, a run) works under this lock: None
        while it is still this process's, taken again if its file was
        removed (a clean-up of ``*.lock``: said once, as a warning); else
        why it is not, in words, for the caller to say what it stops."""
        try:
            if self.renew():
                log.warning(
                    "warning: %s: the %s's lock file was removed while it ran; it took the lock again", self.path, by
                )
            return None
        except LockHeld as other:
            return (f"{self.path}: the {by}'s lock file was removed while this {by} ran, and another {by} "
                    f"({other.holder.strip()}) has taken a new one")
        except OSError as exc:
            return f"{self.path}: the {by}'s lock file was removed while this {by} ran and cannot be made again: {exc.strerror}"

    def release(self) -> None:
        with self._turn:
            if self.fd >= 0:
                unlock_file(self.path, self.fd)
                self.fd = -1


def _file_of(fd: int) -> tuple[int, int]:
    st = os.fstat(fd)
    return (st.st_dev, st.st_ino)


def broken_link(path: Path) -> str | None:
    """``"a link to '/mnt/x/day.txt', which does not exist"`` (or ``"... a
    link that loops"``) when ``path`` is a symbolic link that leads to no
    file, else None."""
    if not path.is_symlink():
        return None
    try:
        path.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a symbolic link that loops (it leads back to itself)"
        return f"a symbolic link to {os.readlink(path)!r}, which does not exist"
    return None


def bomless_unicode(data: bytes) -> str | None:
    """The codec of UTF-16 or UTF-32 saved without a byte order mark (Python's
    ``encoding="utf-16-le"``, ``iconv -t UTF-16LE``, some editors' "UCS-2"),
    told by where its zero bytes fall: in Latin text every second (or third
    and fourth) byte is zero, at the same place in each character.  None for
    anything else (binary data keeps its "NUL byte" error)."""
    sample = data[:4096]
    # (codec, bytes per character, the byte of each that Latin text leaves zero, the byte it never does)
    for codec, width, zeros, text in (("utf-32-le", 4, (2, 3), 0), ("utf-32-be", 4, (0, 1), 3),
                                      ("utf-16-le", 2, (1,), 0), ("utf-16-be", 2, (0,), 1)):
        columns = [sample[i::width] for i in range(width)]
        if len(sample) >= 4 * width and all(columns[i].count(0) >= 0.9 * len(columns[i]) for i in zeros) and (
            columns[text].count(0) <= 0.1 * len(columns[text])
        ):
            return codec
    return None


#: One well-formed multi-byte UTF-8 character.
_UTF8_CHAR = lazy(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")


def windows_1252(data: bytes) -> str | None:
    """``data`` as Windows-1252 (what Windows calls "ANSI", a superset of Latin-1's
    text) when it is that: no UTF-8 character anywhere (a file partly UTF-8 is
    corrupt, not another encoding), no UTF-16 byte order mark inside, and no
    byte Windows-1252 leaves undefined.  Else None."""
    if _UTF8_CHAR.search(data) or b"\xff\xfe" in data or b"\xfe\xff" in data:
        return None
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return None


def part_text(part: Any) -> str:
    """A saved message part's text (an ``email.message.EmailMessage``'s), its
    transfer encoding and charset undone.  A charset no codec has (``ut\xff-8``,
    a byte damaged) or a content type the email package has no reader for
    (``\xfftext/plain``) raised LookupError or KeyError out of ``get_content``,
    a traceback: the part is then read as UTF-8, a byte it is not marked."""
    try:
        content = part.get_content()
    except LookupError:  # (KeyError is one: contentmanager's table of content types)
        content = part.get_payload(decode=True) or b""
    return content if isinstance(content, str) else content.decode("utf-8", "replace")
