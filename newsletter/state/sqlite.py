"""The SQLite state: which papers each subscriber got, and every digest's fate.

One file (``config.state_path``) holds

    papers          id, title, first_seen, data (the paper as JSON, so a digest
                    that failed can be rebuilt after its paper left the sources)
    subscribers     email (lower-cased), first_seen, last_sent, last_served
    digests         id, subscriber, status, attempts, last_error, message_id,
                    created, sent, next_attempt, owner, claimed_at, failures,
                    settings (a fingerprint of the delivery settings a failed
                    run used: its back-off holds only while they are unchanged)
    digest_papers   digest_id, paper_id, position
    unsubscribed    email (lower-cased), at: who left through ``newsletter serve``
                    (or ``newsletter unsubscribe``) and when; the row goes on re-subscribe
    listed          id, last_seen, data: the papers the runs of the last
                    :data:`KEEP_LISTED` read, for the digests after them (a
                    weekly digest fed by a feed that lists one day)

A digest moves ``pending -> sending -> sent | pending | failed``.  It is
committed as ``sending`` (with its papers and Message-ID) *before* the
transport sees it, and marked ``sent`` right after the server accepted it, so
a process killed at any moment leaves either a finished digest or one still
owed: the next run sends every ``pending``/``failed``/stale ``sending`` digest
again, with the same Message-ID.  "Sent to this subscriber" means "in a digest
whose status is ``sent``", which is what makes a paper go out at most once.
At most one unfinished digest exists per subscriber (a partial unique index).

Writers use WAL mode, a busy timeout and ``BEGIN IMMEDIATE`` around every
change, and queue for ``<state>.writer`` (``flock``) first (see
:func:`_writers_turn`).  Claims (the ``sending`` commit) are fsynced (``synchronous=FULL``);
the ``sent`` marks use ``synchronous=NORMAL``, which survives a killed process
(not necessarily a power cut, after which a digest may go out again with the
same Message-ID).  When the last writer closes, the file is switched back to
a rollback journal so that read-only users (``match``, ``schedule``) never
need to create ``-wal``/``-shm`` files.

A delivery the state cannot take (locked by another process past the busy
timeout, its disk full) is noted in ``<state>.unrecorded`` instead, one JSON
line each (:meth:`SQLiteState.mark_sent_many`, :meth:`SQLiteState.mark_unsent`),
and the next send records it before anything else
(:meth:`SQLiteState.apply_unrecorded`): a message the server accepted is not
sent again because the state was busy.  A disk too full for the note too is
why a send keeps ``<state>.spare`` (:data:`SPARE_BYTES`): freed for the note.

A new state is made whole beside its path and renamed into place
(:func:`_create`), so a file at the path is always a whole state: one
empty, or a SQLite file without a schema version, is refused, never taken
for a new state (a truncated state sent everything again).

Read-only opens (``SQLiteState.open(path, readonly=True)``) use a ``mode=ro`` URI:
they never create or modify the file, and a missing file reads as empty.  They
also accept a file as old as :data:`READABLE_SINCE` (a read-only user cannot
upgrade it): the migrations since then only add tables, which read as empty.

The schema is versioned with ``PRAGMA user_version``; :data:`MIGRATIONS`
upgrades an older file in place, and a file written by a newer version is a
:class:`StateError` rather than a guess.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import shlex
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar, cast

from ..errors import Problem, StateError, StoppedWaiting
from ..files import HeldLock, LockHeld, broken_link, fsync_path
from ..models import Paper
from . import (
    ARXIV_ID_SQL,
    KEEP_LISTED,
    KNOWN_EARLIER_DAYS,
    Batch,
    DigestRecord,
    OpenDigest,
    State,
    SubscriberState,
    chunks,
    listed_stamp,
    owner_id,
    paper_from_json,
    sent_keys,
)
from . import key as _key

log = logging.getLogger(__name__)
_T = TypeVar("_T")

BUSY_TIMEOUT_MS = 30_000
#: Once a run may be stopped (:meth:`SQLiteState.stop_waiting_when`), how
#: often a wait for another process's lock on the file looks for the stop.
LOOK_FOR_A_STOP_EVERY_MS = 250

_V1 = """
CREATE TABLE papers (
    id          TEXT PRIMARY KEY,
    title       TEXT NOT NULL,
    first_seen  TEXT NOT NULL,
    data        TEXT
);
CREATE TABLE subscribers (
    email       TEXT PRIMARY KEY,
    first_seen  TEXT NOT NULL,
    last_sent   TEXT,
    last_served TEXT
);
CREATE TABLE digests (
    id           INTEGER PRIMARY KEY,
    subscriber   TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT,
    message_id   TEXT NOT NULL UNIQUE,
    created      TEXT NOT NULL,
    sent         TEXT,
    next_attempt TEXT,
    owner        TEXT,
    claimed_at   TEXT
);
CREATE INDEX digests_by_subscriber ON digests (subscriber, status);
CREATE UNIQUE INDEX one_open_digest_per_subscriber ON digests (subscriber) WHERE status != 'sent';
CREATE TABLE digest_papers (
    digest_id INTEGER NOT NULL REFERENCES digests (id) ON DELETE CASCADE,
    paper_id  TEXT NOT NULL,
    position  INTEGER NOT NULL,
    PRIMARY KEY (digest_id, paper_id)
) WITHOUT ROWID;
"""

_V2_UNSUBSCRIBED = """
CREATE TABLE unsubscribed (
    email TEXT PRIMARY KEY,
    at    TEXT NOT NULL
) WITHOUT ROWID;
"""

#: Failed runs per digest: back-off, and holding a digest refused run after run.
_V3_FAILURES = """
ALTER TABLE digests ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;
"""

#: The delivery settings a failed run used (see :meth:`OpenDigest.retry_from`).
_V4_SETTINGS = """
ALTER TABLE digests ADD COLUMN settings TEXT;
"""

#: Left ``sending`` by a run that stopped: goes again as it was (see :attr:`OpenDigest.uncertain`).
_V5_UNCERTAIN = """
ALTER TABLE digests ADD COLUMN uncertain INTEGER NOT NULL DEFAULT 0;
"""

#: The ids of the keys sends made unsubscribe links with (see :meth:`State.record_link_key`).
_V6_LINK_KEYS = """
CREATE TABLE link_keys (
    key_id     TEXT PRIMARY KEY,
    first_used TEXT NOT NULL
) WITHOUT ROWID;
"""

#: The papers the runs read, kept for the digests after them (see :meth:`State.keep_listed`).
_V7_LISTED = """
CREATE TABLE listed (
    id        TEXT PRIMARY KEY,
    last_seen TEXT NOT NULL,
    data      TEXT NOT NULL
);
CREATE INDEX listed_by_time ON listed (last_seen);
"""


#: The ``digests.status`` CHECK as versions 1-7 wrote it, and as version 8 does.
_STATUS_CHECK_IN = "CHECK (status IN ('pending', 'sending', 'sent', 'failed'))"
_STATUS_CHECK_OR = "CHECK (status = 'pending' OR status = 'sending' OR status = 'sent' OR status = 'failed')"


def _v8_status_check(db: sqlite3.Connection) -> None:
    """Rewrite ``digests``' status CHECK from an IN list to the same test
    spelt with ORs.  SQLite (3.40) compiles a constant IN list of more than
    two values into an ephemeral b-tree, built afresh for every row that
    writes ``status`` (every claim and every mark): about 30 K instructions
    a digest (bench/README.md, the round of 2 Dec, fix6rec).  The ORs accept
    and refuse exactly the same values, so no row needs checking again and
    nothing on disk changes but the table's text in ``sqlite_schema``: the
    in-place edit SQLite documents for changing a CHECK
    (https://sqlite.org/lang_altertable.html#otheralter, "writable_schema"),
    one statement whatever the size of the table.  A rebuild of ``digests``
    (the general way) would drop the table, and with ``foreign_keys`` on its
    implicit DELETE cascades into ``digest_papers``.  Runs inside the
    migration's transaction, so a process killed here leaves version 7
    whole; the ``schema_version`` bump makes every other connection re-read
    the schema.  A table whose text lacks the old CHECK exactly (made by
    hand) is left as it is: its constraint still holds, it is only slower;
    so is one where the edit is refused (a SQLite built in defensive mode
    forbids ``writable_schema``): an optimisation is no reason to refuse
    the state."""
    (sql,) = db.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'digests'").fetchone()
    if _STATUS_CHECK_IN not in sql:
        return
    (cookie,) = db.execute("PRAGMA schema_version").fetchone()
    db.execute("PRAGMA writable_schema=ON")
    try:
        db.execute("UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'digests'",
                   (sql.replace(_STATUS_CHECK_IN, _STATUS_CHECK_OR),))
    except sqlite3.DatabaseError as exc:
        if not _schema_edit_refused(db, exc):
            raise  # (the whole transaction is gone: going on would mark the file 8 without the steps before)
        log.debug("the status CHECK was left as an IN list: %s", exc)
        return
    finally:
        db.execute("PRAGMA writable_schema=OFF")
    db.execute(f"PRAGMA schema_version={cookie + 1}")


def _schema_edit_refused(db: sqlite3.Connection, exc: sqlite3.DatabaseError) -> bool:
    """Whether the schema edit failed as a refusal, the statement alone
    undone and the transaction going on: an authorizer's SQLITE_AUTH, or
    defensive mode's "table sqlite_master may not be modified".  Anything
    else (SQLITE_FULL, IOERR, NOMEM, INTERRUPT) rolls back the WHOLE
    transaction, which only the caller's failure may report."""
    if not db.in_transaction:
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    return code == sqlite3.SQLITE_AUTH or (code == sqlite3.SQLITE_ERROR and "may not be modified" in str(exc))


def _script(sql: str) -> Callable[[sqlite3.Connection], None]:
    def migrate(db: sqlite3.Connection) -> None:
        for statement in sql.split(";"):
            if statement.strip():
                db.execute(statement)

    return migrate


#: ``MIGRATIONS[n]`` turns a version-``n`` file into version ``n + 1``; the
#: schema version this code writes is ``len(MIGRATIONS)``.  Append, never edit.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    _script(_V1),
    _script(_V2_UNSUBSCRIBED),
    _script(_V3_FAILURES),
    _script(_V4_SETTINGS),
    _script(_V5_UNCERTAIN),
    _script(_V6_LINK_KEYS),
    _script(_V7_LISTED),
    _v8_status_check,
]
SCHEMA_VERSION = len(MIGRATIONS)
#: The oldest schema a read-only open accepts: every migration after it only
#: adds tables, and the readers treat a table the file lacks as empty.  Raise
#: it to ``SCHEMA_VERSION`` when a migration changes what is already there.
READABLE_SINCE = 1  # (version 3's and 5's columns read as 0 in an older file, version 4's as NULL; 8 only respells a CHECK)


_TURNS: dict[tuple[int, Path], threading.RLock] = {}


def _turn(path: Path) -> threading.RLock:
    """This process's turn on the state at ``path``: one statement or
    transaction at a time, across threads.

    The threads of a send (its planner and its delivery threads) share one
    connection and queue here, woken the moment the one before them is done;
    SQLite's own busy handler polls instead, sleeping 1 to 100 ms between
    tries (processes queue for :func:`_writers_turn`).  Keyed by process
    too, so a forked send worker gets its own.
    """
    key = (os.getpid(), path)
    lock = _TURNS.get(key)
    if lock is None:
        lock = _TURNS.setdefault(key, threading.RLock())
    return lock


_WRITERS: dict[tuple[int, Path], int | None] = {}
#: Descriptors of waits for a turn under way in a thread (see :func:`_wait_for_turn`).
_WAITING: set[int] = set()
#: A wait for another process's turn this long is said (once): the turns of
#: a big send's own processes are far shorter, even on a loaded machine.
TURN_WAIT_SAID_AFTER = 5.0


@contextmanager
def _writers_turn(path: Path, stop: Callable[[], object] | None = None) -> Iterator[None]:
    """This process's turn to write, among the processes sharing the state.

    An ``flock`` on ``<state>.writer`` held around each write transaction:
    the kernel wakes the next writer the moment the lock is free, where
    SQLite's busy handler has it sleep 1 to 100 ms between tries.  A big
    send's worker processes claim while their parent records deliveries,
    and that polling cost about a tenth of its time.  The caller holds
    :func:`_turn`, so one thread per process waits here.  The descriptor
    is per process (a forked worker opens its own); a file that cannot be
    opened leaves the ordering to SQLite, as before.  ``stop``: see
    :func:`_take_turn`.
    """
    import fcntl

    key = (os.getpid(), path)
    if key not in _WRITERS:
        try:
            _WRITERS[key] = os.open(f"{os.path.realpath(path)}.writer", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError:
            _WRITERS[key] = None
    fd = _WRITERS[key]
    if fd is None:
        yield
        return
    held = _take_turn(path, fd, stop)
    try:
        yield
    finally:
        fcntl.flock(held, fcntl.LOCK_UN)
        if held != fd:
            _WAITING.discard(held)
            os.close(held)


def _take_turn(path: Path, fd: int, stop: Callable[[], object] | None) -> int:
    """Take the ``flock`` on ``<state>.writer`` (``fd``); returns the
    descriptor holding it.  Once a stop may come (``stop``: Ctrl-C,
    SIGTERM), a turn not free at once is waited for in a thread
    (:func:`_wait_for_turn`) while this one looks for the stop: ``flock``
    waits in the kernel, where a signal's handler that only notes the stop
    (a send's) does not end it, and a send worker waited out the other
    writer's whole transaction (up to SQLite's 30 s) after SIGTERM."""
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return fd
    except BlockingIOError:
        if stop is None:
            fcntl.flock(fd, fcntl.LOCK_EX)  # (in the main thread, Ctrl-C's KeyboardInterrupt ends it)
            return fd
    return _wait_for_turn(path, stop)


def _wait_for_turn(path: Path, stop: Callable[[], object]) -> int:
    """:func:`_take_turn`'s wait: a thread waits for the turn on a
    descriptor of its own (another open of the file: the kernel wakes it the
    moment the turn is free, and a wait given up cannot release this
    process's other turn), while the caller looks for ``stop`` every
    :data:`LOOK_FOR_A_STOP_EVERY_MS`.  Given up (:class:`StoppedWaiting`),
    the thread lets go of the turn as soon as it gets it."""
    import fcntl

    own = os.open(f"{os.path.realpath(path)}.writer", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    _WAITING.add(own)
    got, settled, abandoned = threading.Event(), threading.Lock(), [False]

    def take() -> None:
        with contextlib.suppress(OSError):  # (ENOLCK: the caller goes on without its turn, as without the file)
            fcntl.flock(own, fcntl.LOCK_EX)
        with settled:
            if not abandoned[0]:
                got.set()
                return
        _WAITING.discard(own)
        os.close(own)  # the turn, given up, goes to the next writer

    threading.Thread(target=take, name="writer-turn", daemon=True).start()
    step, waited, told = LOOK_FOR_A_STOP_EVERY_MS / 1000, 0.0, False
    while not got.wait(step):
        waited += step
        if stop():
            with settled:
                if not got.is_set():
                    abandoned[0] = True
                    raise StoppedWaiting(Problem(
                        f"stopped while waiting for another process to finish writing to the state "
                        f"(it holds {path.name}.writer): nothing more recorded", str(path)
                    ))
            break
        if not told and waited >= TURN_WAIT_SAID_AFTER:
            told = True
            log.info("%s: another process is writing to the state (it holds %s.writer); waiting for its turn",
                     path, path.name)
    return own


def _close_parents_writers() -> None:
    """A forked worker closes its copies of its parent's ``<state>.writer``
    descriptors: an ``flock`` belongs to the open file, which the copies keep
    open, so a parent killed while it held its turn (SIGKILL mid-record) left
    the lock held by its own workers' copies, and each worker, waiting on a
    descriptor of its own for a turn, waited for itself, for ever.  Closing a
    copy does not release the parent's turn while the parent lives."""
    pid = os.getpid()
    for key in [k for k in _WRITERS if k[0] != pid]:
        fd = _WRITERS.pop(key)
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
    for fd in list(_WAITING):  # (a parent's thread waiting for its turn: not in this process)
        _WAITING.discard(fd)
        with contextlib.suppress(OSError):
            os.close(fd)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_parents_writers)


def _locked(exc: sqlite3.Error) -> bool:
    """SQLite's "database is locked" (or "busy"): another connection holds the file."""
    return "locked" in str(exc) or "busy" in str(exc)


def _identity(path: Path) -> tuple[int, int] | None:
    """Which file ``path`` names now (device, inode), or None when none."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _ts(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("state timestamps must be timezone-aware")
    return value.astimezone(UTC).isoformat()


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value).astimezone(UTC) if value else None


#: Subscribers per query in :meth:`SQLiteState.plan` (well under SQLite's variable limit).
PLAN_CHUNK = 500



def unwritable(path: Path) -> str | None:
    """Why this user could not write the state at ``path``, or None.

    Asked before opening, because SQLite's own words come late and say
    little: a read-only file opens fine and fails at the first write with
    "attempt to write a readonly database", and a folder that refuses new
    files fails WAL's ``-wal``/``-shm`` files with "unable to open database
    file".  :func:`os.access` answers for the real user, root's immutable
    files (``chattr +i``) included.  A file system mounted read-only is
    said as such: ``chmod`` cannot mend that (root is refused too); nor an
    immutable file, which :func:`_immutable` tells apart."""
    folder = path.parent if str(path.parent) else Path(".")
    try:
        mounted_ro = bool(os.statvfs(path if path.exists() else folder).f_flag & os.ST_RDONLY)
    except OSError:
        mounted_ro = False
    if mounted_ro:
        return ("the state is on a file system mounted read-only: `send` records there what it sends; "
                "remount it read-write or point `state:` at a writable place")
    if path.exists() and not os.access(path, os.W_OK):
        if _immutable(path):
            return ("the state file is marked immutable, so no one (root included) can write it: `send` records "
                    f"there what it sends; clear the flag (`chattr -i {shlex.quote(str(path))}`)")
        return ("the state file is read-only for this user: `send` records there what it sends; "
                "make it writable (`chmod u+w`) or run as its owner")
    if folder.is_dir() and not os.access(folder, os.W_OK | os.X_OK):
        # its whole path: a state beside a config named from its own folder said "folder '.'"
        return (f"the state's folder {os.path.abspath(folder)!r} is not writable for this user: SQLite keeps its "
                "journal files (-wal, -shm) beside the state file; make the folder writable or move `state:`")
    return None

def _immutable(path: Path) -> bool:
    """Whether the file at ``path``, which :func:`os.access` says is not
    writable, is so because of the immutable flag (``chattr +i``): opening it
    for writing then fails with EPERM, where permissions fail with EACCES.
    Told apart because "read-only ... `chmod u+w`" sent the reader to a mend
    that does nothing for such a file.  Opening neither truncates nor writes;
    non-blocking, so a FIFO there cannot hang it."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as exc:
        return exc.errno == errno.EPERM
    os.close(fd)
    return False


def _hot_journal(path: Path) -> bool:
    """Whether a rollback journal with content lies beside the state."""
    try:
        return Path(f"{path}-journal").stat().st_size > 0
    except OSError:
        return False


#: What to do with a file at the state's path that is no state (see :func:`_empty`).
_AFRESH = ("restore it from a backup, or remove it to start a new state (every subscriber then gets again "
           "the papers it was sent)")


def _empty(path: Path) -> bool:
    """Whether ``path`` is an empty file: a state cut short, never one made
    here (:func:`_create`).  SQLite takes an empty file for a new database,
    and a state truncated (a full disk, a bad copy, ``> state.db``) sent
    every subscriber again the papers it had been sent."""
    try:
        return path.stat().st_size == 0
    except OSError:
        return False


def _create(path: Path) -> None:
    """Make a new state at ``path``, whole or not at all: its schema is
    built in ``<state>.new`` beside it, fsynced, and renamed into place.

    SQLite creates its file empty at the open and writes the schema at the
    first commit, so a first run stopped between the two (killed, a full
    disk) left an empty file, which had to be taken as a new state; a state
    truncated to nothing later was taken as one too, and its subscribers
    were sent again what they had had.  Made this way, a file at the
    state's path is always a whole state, and an empty one is refused
    (:func:`_empty`, :meth:`SQLiteState._not_ours`).  Two sends started together take
    turns (:func:`_writers_turn`); the second finds the file made."""
    with _turn(path), _writers_turn(path):
        if path.exists() or path.is_symlink():
            return
        temp = Path(os.path.realpath(path) + ".new")
        try:
            temp.unlink(missing_ok=True)  # left by a first run that was stopped while making it
            _build(temp)
            fsync_path(temp)
            _forget_orphans(path)
            os.rename(temp, path)
            with contextlib.suppress(OSError):  # (a file system that cannot flush a folder: the rename stands)
                fsync_path(path.parent if str(path.parent) else Path("."))
        except (OSError, sqlite3.Error) as exc:
            with contextlib.suppress(OSError):
                temp.unlink(missing_ok=True)
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            if isinstance(exc, sqlite3.OperationalError) and ("disk I/O error" in why or "disk is full" in why):
                why += ": is its disk full (or over a quota)?"  # (as SQLite says ENOSPC, EFBIG, a quota)
            raise StateError(Problem(f"cannot create the state: {why}", str(path))) from None


def _forget_orphans(path: Path) -> None:
    """Remove the journal files of a state that is gone (``-wal``, ``-shm``,
    ``-journal`` beside a removed file, left by a send killed before it was
    removed): SQLite reads them as the new file's own, and a new state took
    the old one's last transactions (subscribers, digests) from its WAL."""
    names = {os.path.realpath(path), str(path.absolute())}
    for name in names:
        for suffix in ("-wal", "-shm", "-journal"):
            Path(name + suffix).unlink(missing_ok=True)


def _build(temp: Path) -> None:
    """The current schema, in one transaction, into the new file ``temp``
    (its journal in memory: a file stopped half-made is thrown away)."""
    db = sqlite3.connect(temp, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=MEMORY")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("BEGIN")
        for migrate in MIGRATIONS:
            migrate(db)
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        db.execute("COMMIT")
    finally:
        db.close()


class SQLiteState(State):
    """A connection to the state file.  Use :meth:`open`; close it, or use ``with``.

    Threads share it (:meth:`for_thread` is the state itself): each use
    takes the process's turn on the file (:func:`_turn`), so a delivery
    thread's commit never finds the page cache of a second connection to
    refresh, nor waits in SQLite's polling busy handler for the first.
    """

    def __init__(self, path: Path, db: sqlite3.Connection | None, readonly: bool) -> None:
        self.path = path
        self.name = str(path)
        self.db = db
        self.readonly = readonly
        self._synchronous = True  # the connection's setting now: FULL (fsync) or NORMAL
        self.version = SCHEMA_VERSION  # the file's, once opened (older only when read-only)
        self._identity: tuple[int, int] | None = None  # (device, inode) of the file a writer opened
        self._where = path  # made absolute when a writer opens it
        self._unwritable: StateError | None = None  # a mark the state refused: the rest are noted (see _mark)
        self._spared = False  # the note took the room kept for it (see _keep_spare)
        self._lock: HeldLock | None = None  # the send lock, inside exclusive()
        self._beside: sqlite3.Connection | None = None  # reads that do not queue behind a write (_read_beside)
        self._beside_turn = threading.Lock()
        self._stop: Callable[[], object] | None = None  # see stop_waiting_when

    # -- opening ------------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | os.PathLike, *, readonly: bool = False,
             stop: Callable[[], object] | None = None) -> SQLiteState:
        """Open (and for writers create or upgrade) the state at ``path``.

        ``readonly``: never create or write anything; a missing file is an
        empty state.  ``stop``: see :meth:`stop_waiting_when` (the open may
        wait for another process's lock already).
        """
        path = Path(path)
        if (link := broken_link(path)) is not None:  # SQLite said only "unable to open database file"
            raise StateError(Problem(f"the state is {link} (see `state:` in the config)", str(path)))
        if path.exists() and not path.is_file():  # SQLite said only "unable to open" or "disk I/O error"
            what = "a folder" if path.is_dir() else "not a regular file"
            raise StateError(Problem(f"the state is {what}, not a SQLite file (see `state:` in the config)", str(path)))
        if _empty(path):
            raise StateError(Problem(
                "the state file is empty (0 bytes), not a Paper Digest state (one is never left empty: this one was "
                f"cut short by a full disk, a bad copy or `> {path.name}`, or made by hand); {_AFRESH}", str(path)))
        if readonly:
            if not path.exists():
                return cls(path, None, True)
            uri = path.absolute().as_uri() + "?mode=ro"
            db = cls._connect(path, uri, uri=True)
            state = cls(path, db, True)
            state._stop = stop
            state._check_version(readonly=True)
            return state
        if path.parent and not path.parent.is_dir():
            raise StateError(Problem(f"cannot create the state: folder {str(path.parent)!r} does not exist", str(path)))
        if problem := unwritable(path):
            raise StateError(Problem(problem, str(path)))
        if not path.exists():
            _create(path)
        db = cls._connect(path, str(path), uri=False)
        state = cls(path, db, False)
        state._stop = stop
        with state._errors():
            mode = state._switch_to_wal()
            if mode.lower() != "wal":
                raise StateError(Problem(f"cannot switch the state to WAL mode (got {mode!r})", str(path)))
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA foreign_keys=ON")
        state._check_version(readonly=False)
        state._where = path.absolute()  # (a later chdir must not look like a removed file)
        state._identity = _identity(state._where)
        return state

    def claims_lost(self) -> str | None:
        """See :meth:`State.claims_lost`: whether the file at ``path`` is no
        longer the one this connection writes (its folder removed, the file
        deleted or replaced).  SQLite writes on into the unlinked file without
        a word, and the next send finds no record of this one: it sends the
        same digests again."""
        if self.readonly or self._identity is None:
            return None
        if _identity(self._where) != self._identity:
            return (
                f"{self.path}: the state file was removed or replaced while this send ran; what it records is lost "
                "with it, so it sends no more (the next send, on a new state, sends again what this one delivered)"
            )
        return self._lock_lost()

    def _lock_lost(self) -> str | None:
        """The send lock's file removed (or replaced) while this send holds
        it: taken again at once, before another send can start beside this
        one (said once); None then.  Should another send have taken the new
        file first, it recovers this one's claims as a stopped run's and
        sends them: why this one must hand over nothing more."""
        why = self._lock.kept("send") if self._lock is not None else None
        return why and f"{why}; this send hands over nothing more (another send may send what this one claimed)"

    def _switch_to_wal(self) -> str:
        """``PRAGMA journal_mode=WAL``, waiting like every other statement does.

        Changing the journal mode needs the file to itself for a moment, and
        SQLite answers "database is locked" at once (its busy handler is not
        asked) when another process is opening or closing the same file, as
        two cron sends started together do.  So: try again until the busy
        timeout, as any other write would wait.
        """
        return self._waited(lambda db: str(db.execute("PRAGMA journal_mode=WAL").fetchone()[0]), pause=0.01)

    def stop_waiting_when(self, stop: Callable[[], object] | None) -> None:
        """See :meth:`State.stop_waiting_when`: a wait for another process's
        lock on the file (an ``sqlite3`` shell in a transaction, a backup
        tool) looks for the stop every :data:`LOOK_FOR_A_STOP_EVERY_MS`.
        SQLite's busy handler waits in C, where no signal handler runs: a
        SIGTERM waited out the whole busy timeout (30 s), then the send
        failed as "locked" rather than stopped."""
        self._stop = stop

    def _stopped_waiting(self, exc: sqlite3.Error, told: list[bool]) -> None:
        """Raise :class:`StoppedWaiting` when the run is stopping; say once
        (``told``) that it waits (a send sat silent for 30 s)."""
        if not told:
            told.append(True)
            log.info("%s: the state is locked by another process (%s); waiting up to %d s for it",
                     self.path, exc, BUSY_TIMEOUT_MS // 1000)
        if self._stop is not None and self._stop():
            raise StoppedWaiting(Problem(
                f"stopped while waiting for another process to let go of the state ({exc})", str(self.path)
            )) from None

    def _waited(self, work: Callable[[sqlite3.Connection], _T], pause: float = 0.0) -> _T:
        """``work(db)`` (one statement: ``BEGIN IMMEDIATE``, a read), waiting
        for another process's lock on the file up to the busy timeout, in
        steps that look for a stop once one may come (see
        :meth:`stop_waiting_when`).  In the main thread always: between
        steps a signal's handler runs there (Ctrl-C's ``KeyboardInterrupt``),
        which SQLite's own wait, in C, held for 30 s (``unsubscribe``,
        ``match`` and the other one-shot commands ignored Ctrl-C so long).
        ``pause``: see :meth:`_while_locked`."""
        db = self._db
        if self._stop is None and threading.current_thread() is not threading.main_thread():
            return self._while_locked(work, pause) if pause else work(db)
        db.execute(f"PRAGMA busy_timeout={LOOK_FOR_A_STOP_EVERY_MS}")
        try:
            return self._while_locked(work, pause)
        finally:
            db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")

    def _while_locked(self, work: Callable[[sqlite3.Connection], _T], pause: float = 0.0) -> _T:
        """``work(db)`` tried again while the file is locked, up to the busy
        timeout, looking for a stop between tries (``pause``: seconds between
        them, where SQLite's busy handler does not wait for us)."""
        import time

        deadline, told = time.monotonic() + BUSY_TIMEOUT_MS / 1000, cast(list[bool], [])
        while True:
            try:
                return work(self._db)
            except sqlite3.OperationalError as exc:
                if not _locked(exc) or time.monotonic() >= deadline:
                    raise
                self._stopped_waiting(exc, told)
                if pause:
                    time.sleep(pause)

    @staticmethod
    def _connect(path: Path, target: str, uri: bool) -> sqlite3.Connection:
        try:
            db = sqlite3.connect(
                target, uri=uri, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False
            )
            db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            return db
        except sqlite3.Error as exc:
            raise StateError(Problem(f"cannot open the state: {exc}", str(path))) from None

    @property
    def _db(self) -> sqlite3.Connection:
        """The open connection (``db`` is None once closed, or for an empty read-only state)."""
        if self.db is None:
            raise StateError(Problem("internal error: the state is closed", str(self.path)))
        return self.db

    def _check_version(self, readonly: bool) -> None:
        with self._errors():
            version = self._waited(lambda db: db.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            self.close()
            raise StateError(
                Problem(
                    f"the state was written by a newer Paper Digest (schema version {version}; "
                    f"this version knows up to {SCHEMA_VERSION}); upgrade paper-digest-mailer or use another state file",
                    str(self.path),
                )
            )
        if version == SCHEMA_VERSION:
            return
        if version == 0:
            # Never one of ours: a state is made whole before it takes its name (see _create)
            why = self._not_ours()
            self.close()
            raise StateError(Problem(why, str(self.path)))
        if readonly:
            if version >= READABLE_SINCE:
                self.version = version  # tables added since read as empty
                return
            self.close()
            raise StateError(
                Problem(
                    f"the state has schema version {version}, older than this version's {SCHEMA_VERSION}; "
                    "run `newsletter send` once to upgrade it",
                    str(self.path),
                )
            )
        try:
            self._migrate(version)
        except StateError:
            self.close()
            raise

    def _has_tables(self) -> bool:
        with self._errors():
            return self._db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] > 0

    def _not_ours(self) -> str:
        """Why a SQLite file without a schema version is refused: this
        version never leaves one so (see :func:`_create`), and what is in it
        is not a state to send from."""
        if self._has_tables():  # (no upgrade would help)
            return "not a Paper Digest state file (it has tables but no schema version)"
        return f"not a Paper Digest state file (a SQLite database without its tables); {_AFRESH}"

    def _migrate(self, version: int) -> None:
        """Upgrade from ``version`` (an older schema, never 0: see
        :func:`_create`) in one transaction that reads the version again:
        another process may be upgrading the same file at this moment (two
        sends started together).  Said once, on stderr: the upgrade cannot be
        undone, and the version before it refuses the file from then on (a
        rollback after ``git pull`` read "written by a newer Paper Digest"
        with no word of when that happened)."""
        with self.transaction():
            version = before = self._db.execute("PRAGMA user_version").fetchone()[0]  # another may have migrated
            while version < SCHEMA_VERSION:
                MIGRATIONS[version](self._db)
                version += 1
                self._db.execute(f"PRAGMA user_version={version}")
        if before < SCHEMA_VERSION:
            log.info("%s: upgraded the state from schema version %d to %d; a Paper Digest older than this one "
                     "can no longer open it (`newsletter --version` names a version's schema)", self.path, before,
                     SCHEMA_VERSION)

    def close(self) -> None:
        """Close; a writer also folds the WAL back into the file when it is the last user."""
        with self._beside_turn:
            beside, self._beside = self._beside, None
        if beside is not None:
            beside.close()
        db, self.db = self.db, None
        if db is None:
            return
        try:
            if not self.readonly:
                try:
                    db.execute("PRAGMA busy_timeout=0")
                    db.execute("PRAGMA journal_mode=DELETE")
                except sqlite3.Error:
                    pass  # another connection is still open; it will do this
            db.close()
        except sqlite3.Error:
            pass

    def check_intact(self) -> None:
        """Read every page of the file (``PRAGMA quick_check``): SQLite meets a
        damaged page only in a query that reads it, so ``validate`` (which
        reads none) said OK of a state whose every send then stopped."""
        if self.db is None:
            return
        with self._errors():
            found = [row[0] for row in self._db.execute("PRAGMA quick_check(1)")]
        if found != ["ok"]:  # ('*** in database main ***\nPage 4: btreeInitPage() returns error code 11')
            first = found[0].strip().splitlines()[-1] if found and found[0].strip() else "quick_check failed"
            raise StateError(Problem(self._damaged(f"database disk image is malformed ({first})"), str(self.path)))

    def _damaged(self, text: str) -> str:
        """SQLite's word for a damaged file, and what mends it."""
        return (f"{text}: the state file is damaged. Restore a backup, or try "
                f"`sqlite3 {self.path} .recover | sqlite3 repaired.sqlite3` and point `state:` at the result")

    # -- plumbing -------------------------------------------------------------------------

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            text = str(exc)
            if isinstance(exc, sqlite3.DatabaseError) and "not a database" in text:
                text = "not a SQLite database (does `state:` in the config name the right file?)"
            elif "malformed" in text:  # damaged (a disk fault, a copy taken mid-write): nothing here repairs it
                text = self._damaged(text)
            elif isinstance(exc, sqlite3.OperationalError) and ("disk I/O error" in text or "disk is full" in text):
                # (SQLite says the first when the file may not grow: ENOSPC, EFBIG, a quota)
                text = f"{text}: the state could not be written; is its disk full (or over a quota)?"
            elif "locked" in text or "busy" in text:
                text = f"the state is locked by another process ({text} after {BUSY_TIMEOUT_MS // 1000} s)"
            elif self.readonly and "readonly database" in text and _hot_journal(self.path):
                text = self._cut_short(text)
            raise StateError(Problem(text, str(self.path))) from None

    def _cut_short(self, text: str) -> str:
        """Why a read failed as a write: a transaction cut short (a ``sqlite3``
        shell or another tool killed mid-write, in the rollback journal
        mode this tool never leaves a state in) left ``<state>-journal``,
        which the next opening must undo, and one that only reads cannot:
        every read-only command said "attempt to write a readonly database"."""
        return (f"{text}: a write to the state was cut short ({self.path.name}-journal, left by a process killed "
                "while writing it) and this command only reads, so it cannot undo it; the next `newsletter send` "
                f"does (or `sqlite3 {self.path} 'PRAGMA quick_check'`), then this reads it")

    @contextmanager
    def transaction(self, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` (rolled back on any exception);
        ``durable=False``: no fsync at the commit (the ``sent`` marks, see
        the module docstring)."""
        if self.readonly:
            raise StateError(Problem("internal error: write to a read-only state", str(self.path)))
        with _turn(self.path), self._errors():
            if durable != self._synchronous:
                self._db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
                self._synchronous = durable
            with _writers_turn(self.path, self._stop):
                self._waited(lambda db: db.execute("BEGIN IMMEDIATE"))
                try:
                    yield self._db
                except BaseException:
                    if self._db.in_transaction:  # (SQLite rolls back itself after an interrupt, a full disk, an I/O error)
                        self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")

    def _rows(self, sql: str, args: Sequence = ()) -> list[tuple]:
        if self.db is None:
            return []
        with _turn(self.path), self._errors():
            if not self.readonly:  # (a writer's file is in WAL mode, where a read waits for no lock)
                return self.db.execute(sql, args).fetchall()
            return self._waited(lambda db: db.execute(sql, args).fetchall())

    def _read_beside(self, sql: str, args: Sequence = ()) -> list[tuple]:
        """A read on a second, read-only connection when another thread of this
        process holds the shared one (a writer's state is in WAL mode, where a
        reader sees the last commit and waits for no writer).  A send's
        delivery threads ask about each message just before handing it over
        (:meth:`unsubscribed`); on the shared connection each question
        queued behind the planner's claim transaction and its fsync, and the
        connections stood idle meanwhile."""
        if self.readonly or self.db is None:
            return self._rows(sql, args)
        turn = _turn(self.path)
        if turn.acquire(blocking=False):  # (an RLock: the thread inside a transaction reads its own)
            try:
                return self._rows(sql, args)
            finally:
                turn.release()
        with self._beside_turn, self._errors():
            if self._beside is None:
                self._beside = self._connect(self.path, self._where.absolute().as_uri() + "?mode=ro", uri=True)
            return self._beside.execute(sql, args).fetchall()

    # -- reading (the agreed read API) -------------------------------------------------------

    def plan(self, emails: Sequence[str], *, with_sent: bool = True) -> dict[str, SubscriberState]:
        out: dict[str, SubscriberState] = {}
        for part in chunks(list(emails), PLAN_CHUNK):
            keys = sorted({_key(e) for e in part})
            marks = ",".join("?" * len(keys))
            subs = {
                r[0]: r[1:]
                for r in self._rows(
                    f"SELECT email, first_seen, last_sent, COALESCE(last_served, last_sent) FROM subscribers "
                    f"WHERE email IN ({marks})",
                    keys,
                )
            }
            opened = self._rows(
                "SELECT id, subscriber, status, message_id, attempts, created, last_error, next_attempt, "
                f"{'failures' if self.version >= 3 else '0'}, {'settings' if self.version >= 4 else 'NULL'}, "
                f"{'uncertain' if self.version >= 5 else '0'} "
                f"FROM digests WHERE subscriber IN ({marks}) AND status != 'sent'",
                keys,
            )
            papers: dict[int, list[str]] = {r[0]: [] for r in opened}
            if opened:
                for did, pid in self._rows(
                    f"SELECT digest_id, paper_id FROM digest_papers WHERE digest_id IN ({','.join('?' * len(opened))}) "
                    "ORDER BY digest_id, position",
                    list(papers),
                ):
                    papers[did].append(pid)
            noted = self._noted() if any(r[2] == "sending" for r in opened) else {}
            open_by = {
                r[1]: OpenDigest(
                    r[0],
                    r[1],
                    r[2],
                    r[3],
                    r[4],
                    tuple(papers[r[0]]),
                    datetime.fromisoformat(r[5]).astimezone(UTC),
                    r[6],
                    _dt(r[7]),
                    r[8],
                    r[9],
                    bool(r[10]),
                )
                for r in (_noted_open(r, noted) for r in opened)
                if r is not None
            }
            delivered = {r[1]: (r[0], noted[r[0]]["at"]) for r in opened if _noted_sent(r[0], r[1], r[2], noted)}
            sent: dict[str, tuple[list[str], list[str]]] = {}
            ids_noted = [did for did, _ in delivered.values()]
            also = f" OR d.id IN ({','.join('?' * len(ids_noted))})" if ids_noted else ""
            for sub, pid, title in (
                self._rows(
                    "SELECT d.subscriber, dp.paper_id, p.title FROM digest_papers dp JOIN digests d ON d.id = dp.digest_id "
                    f"LEFT JOIN papers p ON p.id = dp.paper_id WHERE d.subscriber IN ({marks}) AND (d.status = 'sent'{also})",
                    [*keys, *ids_noted],
                )
                if with_sent
                else ()
            ):
                ids, titles = sent.setdefault(sub, ([], []))
                ids.append(pid)
                titles.append(title)
            for email in part:
                k = _key(email)
                first, last, served = subs.get(k, (None, None, None))
                if k in delivered:  # noted delivered, not recorded yet: as the next send will record it
                    last = served = delivered[k][1]
                out[email] = SubscriberState(
                    email, _dt(first), _dt(last), _dt(served), open_by.get(k), sent_keys(*sent.get(k, ((), ())))
                )
        return out

    def papers(self, ids: Iterable[str]) -> dict[str, Paper]:
        """Papers recorded earlier, rebuilt from the state (for a digest whose
        papers are no longer in any source)."""
        out = {}
        for pid in ids:
            rows = self._rows("SELECT data FROM papers WHERE id = ?", (pid,))
            if rows and rows[0][0]:
                out[pid] = paper_from_json(json.loads(rows[0][0]))
        return out

    def papers_sent_lately(self, *, with_id: bool) -> list[Paper]:
        # (first_seen is ISO 8601 text in UTC: the text of the oldest time taken compares as the time)
        rows = self._rows(
            "SELECT data FROM papers WHERE first_seen >= (SELECT strftime('%Y-%m-%dT%H:%M:%S', MAX(first_seen), ?) "
            f"FROM papers) AND data IS NOT NULL AND {'' if with_id else 'NOT '}{ARXIV_ID_SQL}",
            (f"-{KNOWN_EARLIER_DAYS} days",),
        )
        return [paper_from_json(json.loads(data)) for (data,) in rows]

    def listed_times(self, after: datetime, before: datetime) -> list[datetime]:
        if self.version < 7:  # (a read-only open of an older file: none kept)
            return []
        rows = self._rows("SELECT DISTINCT last_seen FROM listed WHERE last_seen > ? AND last_seen < ? ORDER BY 1",
                          (listed_stamp(after), listed_stamp(before)))
        return [datetime.fromisoformat(r[0]) for r in rows]

    def listed_at(self, after: datetime, before: datetime) -> list[tuple[datetime, Paper]]:
        if self.version < 7:
            return []
        rows = self._rows("SELECT last_seen, data FROM listed WHERE last_seen > ? AND last_seen < ?",
                          (listed_stamp(after), listed_stamp(before)))
        return [(datetime.fromisoformat(seen), paper_from_json(json.loads(data))) for seen, data in rows]

    def history(self, email: str | None, limit: int) -> list[DigestRecord]:
        where, args = ("WHERE subscriber = ?", (_key(email),)) if email is not None else ("", ())
        rows = self._rows(
            "SELECT id, subscriber, status, created, sent, attempts, message_id, last_error, "
            f"{'uncertain' if self.version >= 5 else '0'} FROM digests {where} ORDER BY id DESC LIMIT ?", (*args, limit),
        )
        papers: dict[int, list[tuple[str, str]]] = {row[0]: [] for row in rows}
        for part in chunks(list(papers), PLAN_CHUNK):
            for digest_id, pid, title in self._rows(
                "SELECT dp.digest_id, dp.paper_id, p.title FROM digest_papers dp LEFT JOIN papers p ON p.id = dp.paper_id "
                f"WHERE dp.digest_id IN ({','.join('?' * len(part))}) ORDER BY dp.digest_id, dp.position", part,
            ):
                papers[digest_id].append((pid, title or pid))
        noted = self._noted() if any(row[2] == "sending" for row in rows) else {}
        out = []
        for i, sub, status, created, sent, attempts, mid, error, uncertain in rows:
            note = noted.get(i) if status == "sending" else None
            unrecorded = None
            if note is not None and _noted_sent(i, sub, status, noted):
                status, sent, attempts, error = "sent", note["at"], attempts + note["sent"][2], None
                unrecorded = note.get("why") or "the state could not be written"
            elif note is not None and "unsent" in note:
                status, attempts, error = _noted_status(note), attempts + note["tries"], note["error"]
                unrecorded = note.get("why") or "the state could not be written"
            out.append(DigestRecord(i, sub, status, datetime.fromisoformat(created).astimezone(UTC), _dt(sent),
                                    attempts, mid, error, tuple(papers[i]), unrecorded, bool(uncertain)))
        return out

    def digest_counts(self) -> dict[str, int]:
        counts = dict(self._rows("SELECT status, count(*) FROM digests GROUP BY status"))
        if counts.get("sending"):
            noted = self._noted()
            for did, sub in self._rows("SELECT id, subscriber FROM digests WHERE status = 'sending'") if noted else ():
                if did in noted and (_noted_sent(did, sub, "sending", noted) or "unsent" in noted[did]):
                    now = "sent" if "sent" in noted[did] else _noted_status(noted[did])
                    counts["sending"] -= 1
                    counts[now] = counts.get(now, 0) + 1
        return {status: n for status, n in counts.items() if n}

    def unsubscribed(self, emails: Iterable[str] | None = None) -> dict[str, datetime]:
        # A long list: one query, the table read whole (it holds only those who
        # left) and matched here; a send's batch: only its own rows (a send
        # asks again before each batch, and the table may be long).
        if self.db is None or self.version < 2:
            return {}
        if emails is not None:
            emails = list(emails)
            if len(emails) <= PLAN_CHUNK:
                keys = sorted({_key(e) for e in emails})
                marks = ",".join("?" * len(keys))
                sql = f"SELECT email, at FROM unsubscribed WHERE email IN ({marks})"
                rows = self._read_beside(sql, keys) if keys else []
                found = {email: datetime.fromisoformat(at) for email, at in rows}
                return {e: found[_key(e)] for e in emails if _key(e) in found}
        left = {email: datetime.fromisoformat(at) for email, at in self._rows("SELECT email, at FROM unsubscribed")}
        if emails is None:
            return left
        return {e: left[_key(e)] for e in emails if _key(e) in left}

    def link_keys(self) -> frozenset[str]:
        if self.db is None or self.version < 6:
            return frozenset()
        return frozenset(key_id for (key_id,) in self._rows("SELECT key_id FROM link_keys"))

    # -- writing ---------------------------------------------------------------------------

    def record_link_key(self, key_id: str, now: datetime) -> None:
        if key_id in self.link_keys():  # recorded: no write transaction at every send
            return
        with self.transaction() as db:
            db.execute("INSERT OR IGNORE INTO link_keys (key_id, first_used) VALUES (?, ?)", (key_id, _ts(now)))

    def unsubscribe(self, email: str, now: datetime) -> bool:
        with self.transaction() as db:
            return db.execute(
                "INSERT OR IGNORE INTO unsubscribed (email, at) VALUES (?, ?)", (_key(email), _ts(now))
            ).rowcount == 1

    def resubscribe(self, email: str) -> bool:
        with self.transaction() as db:
            return db.execute("DELETE FROM unsubscribed WHERE email = ?", (_key(email),)).rowcount == 1

    def see_subscribers(self, emails: Iterable[str], now: datetime) -> None:
        """Record ``first_seen`` for subscribers this state has not met yet."""
        stamp = _ts(now)  # once, not per subscriber (2,000 of them: 3 ms of a send's start)
        with self.transaction() as db:
            db.executemany(
                "INSERT OR IGNORE INTO subscribers (email, first_seen) VALUES (?, ?)",
                ((_key(e), stamp) for e in emails),
            )

    def see_papers(self, papers: Iterable[Paper], now: datetime) -> int:
        """Record papers not seen before; returns how many were new."""
        stamp = _ts(now)
        with self.transaction() as db:
            before = db.total_changes
            db.executemany(
                "INSERT OR IGNORE INTO papers (id, title, first_seen, data) VALUES (?, ?, ?, ?)",
                ((p.id, p.title, stamp, json.dumps(p.to_json(), ensure_ascii=False)) for p in papers),
            )
            return db.total_changes - before

    def keep_listed(self, papers: Iterable[Paper], now: datetime, keep: timedelta | None = None) -> None:
        stamp = listed_stamp(now)
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO listed (id, last_seen, data) VALUES (?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen, data = excluded.data",
                ((p.id, stamp, json.dumps(p.to_json(), ensure_ascii=False)) for p in papers),
            )
            db.execute("DELETE FROM listed WHERE last_seen < ?", (listed_stamp(now - (keep or KEEP_LISTED)),))

    @contextmanager
    def exclusive(
        self,
        wait: float = 600.0,
        stop: Callable[[], bool] | None = None,
        sleep: Callable[[float], object] | None = None,
    ) -> Iterator[None]:
        with send_lock(self.path, wait=wait, stop=stop, sleep=sleep) as held:
            self._lock = held
            _keep_spare(spare_path(self._where))
            try:
                yield
            finally:
                self._lock = None

    def for_thread(self) -> SQLiteState:
        return self

    @contextmanager
    def claiming(self, emails: Sequence[str], now: datetime) -> Iterator[Batch]:
        # The lock file keeps every other sender out: a plain read is enough.
        yield _SQLiteBatch(self, self.plan(emails), now)

    def recover(self) -> list[tuple[int, str, str, str | None]]:
        """Turn digests left ``sending`` by a run that stopped back into ``pending``.

        Only call this while holding the send lock (no other run is sending).
        Returns ``(id, subscriber, message_id, owner)`` of each.
        """
        with self.transaction() as db:
            rows = db.execute("SELECT id, subscriber, message_id, owner FROM digests WHERE status = 'sending'").fetchall()
            db.execute(
                "UPDATE digests SET status = 'pending', uncertain = 1, "
                "last_error = 'interrupted while sending (the run stopped)' WHERE status = 'sending'"
            )
        return rows

    def claim(self, items: Sequence[tuple[OpenDigest | None, str, str, Sequence[str]]], now: datetime) -> list[int]:
        """Commit digests as ``sending`` before they are handed to a transport.

        Each item is ``(open_digest or None, email, message_id, paper_ids)``;
        returns the digest ids in the same order.  An open digest keeps its row
        and Message-ID; its paper list is replaced.
        """
        ids = []
        owner = owner_id()
        stamp = _ts(now)
        with self.transaction() as db:
            for open_, email, message_id, paper_ids in items:
                if open_ is not None:
                    cur = db.execute(
                        "UPDATE digests SET status = 'sending', owner = ?, claimed_at = ?, message_id = ? "
                        "WHERE id = ? AND status IN ('pending', 'failed')",
                        (owner, stamp, message_id, open_.id),
                    )
                    if cur.rowcount != 1:
                        raise StateError(Problem(f"digest {open_.id} for {email} changed under us", str(self.path)))
                    did = open_.id
                    db.execute("DELETE FROM digest_papers WHERE digest_id = ?", (did,))
                else:
                    did = db.execute(
                        "INSERT INTO digests (subscriber, status, message_id, created, owner, claimed_at) "
                        "VALUES (?, 'sending', ?, ?, ?, ?)",
                        (_key(email), message_id, stamp, owner, stamp),
                    ).lastrowid or 0  # never None after an INSERT
                db.executemany(
                    "INSERT INTO digest_papers (digest_id, paper_id, position) VALUES (?, ?, ?)",
                    ((did, pid, n) for n, pid in enumerate(paper_ids)),
                )
                ids.append(did)
        return ids

    def drop(self, digest_id: int) -> None:
        """Forget an unsent digest that has nothing left to send."""
        with self.transaction() as db:
            db.execute("DELETE FROM digests WHERE id = ? AND status != 'sent'", (digest_id,))

    def served(self, emails: Iterable[str], now: datetime) -> None:
        """Due subscribers with nothing to send: their slot is settled."""
        with self.transaction() as db:
            stamp = _ts(now)
            db.executemany("UPDATE subscribers SET last_served = ? WHERE email = ?", ((stamp, _key(e)) for e in emails))

    def mark_sent(self, digest_id: int, email: str, tries: int, now: datetime) -> None:
        self.mark_sent_many([(digest_id, email, tries)], now)

    def mark_sent_many(self, items: Sequence[tuple[int, str, int]], now: datetime) -> None:
        """One transaction for all: the delivery threads of a big send would
        otherwise queue for SQLite's write lock once per message."""
        stamp = _ts(now)

        def write() -> None:
            with self.transaction(durable=False) as db:
                _write_sent(db, items, stamp)

        self._mark(write, [{"sent": [did, email, tries], "at": stamp} for did, email, tries in items])

    def mark_unsent(
        self,
        digest_id: int,
        *,
        error: str,
        tries: int,
        permanent: bool,
        next_attempt: datetime | None,
        settings: str | None = None,
        uncertain: bool = False,
        restart: bool = False,
    ) -> None:
        """Delivery did not happen: ``failed`` (permanent) or ``pending`` (try again)."""
        values = {
            "unsent": digest_id,
            "error": error,
            "tries": tries,
            "permanent": permanent,
            "next_attempt": _ts(next_attempt) if next_attempt else None,
            "settings": settings,
            "uncertain": uncertain,
            "restart": restart,
        }

        def write() -> None:
            with self.transaction(durable=False) as db:
                _write_unsent(db, values, only_sending=False)

        self._mark(write, [values])

    # -- what the state could not take --------------------------------------------------

    @property
    def unrecorded_path(self) -> Path:
        return unrecorded_path(self._where)

    def _mark(self, write: Callable[[], None], records: list[dict]) -> None:
        """Record a delivery's outcome with ``write``, or, when the state
        refuses it (locked past the busy timeout, a full disk), note
        ``records`` in :attr:`unrecorded_path` for the next send.

        The message has gone (or not) whatever the state says: left
        ``sending``, the next send would send a delivered digest again.  The
        first refusal still stops the send (nothing more can be claimed);
        the outcomes that come in after it are noted without trying the
        state again (each try waits the whole busy timeout)."""
        with _turn(self.path):  # one delivery thread finds the state refusing, the others then note at once
            first = self._unwritable is None
            if first:
                try:
                    write()
                    return
                except StateError as exc:
                    self._unwritable = exc
            spare = self._spared
            if not self._note(records):
                raise cast(StateError, self._unwritable)
        if first:
            refused = cast(StateError, self._unwritable)
            why = "; ".join(p.message for p in refused.problems)
            room = (f" (in the room kept for it, {spare_path(self._where).name}: the disk is full; free some space "
                    "before the next send)") if self._spared and not spare else ""
            # A stop (SIGTERM) that ended the wait for the lock is the send's
            # interruption, not an error of the state's: said as one (exit 143)
            kind = StoppedWaiting if isinstance(refused, StoppedWaiting) else StateError
            raise kind(Problem(
                f"{why}; what this send delivered (or failed to) from here on is noted in "
                f"{self.unrecorded_path.name}{room}, and the next send records it there first (nothing is sent twice)",
                str(self.path),
            ))

    def _noted(self) -> dict[int, dict]:
        """What a send noted in :attr:`unrecorded_path` and the state has not
        taken yet, by digest id (the last note of each): the readers show
        those digests as the next send will record them (delivered, not
        "sending"), so `schedule` and `history` tell the truth meanwhile."""
        try:
            text = self.unrecorded_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return {}
        noted: dict[int, dict] = {}
        for record in _notes(text):
            if _readable(record):
                noted[record["sent"][0] if "sent" in record else record["unsent"]] = record
        return noted

    def _note(self, records: list[dict]) -> bool:
        """Append ``records`` to :attr:`unrecorded_path` (one write, fsynced;
        a send's processes append to it together); False when it cannot be."""
        why = "; ".join(p.message for p in self._unwritable.problems) if self._unwritable else ""
        owner = owner_id()
        data = "".join(json.dumps({**r, "owner": owner, "why": why}) + "\n" for r in records).encode()
        try:
            _append(self.unrecorded_path, data)
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT) or self._spared:
                return False
            # The disk is too full even for the note: the room kept for it
            # (see _keep_spare) is freed, once (a partial line is skipped when read).
            self._spared = True
            try:
                spare_path(self._where).unlink(missing_ok=True)  # (another process of the send may have freed it)
                _append(self.unrecorded_path, data)
            except OSError:
                return False
        return True

    def apply_unrecorded(self) -> list[tuple[int, str, str, str]]:
        """Record what an earlier send noted in :attr:`unrecorded_path` (see
        :meth:`_mark`), then remove the note; call it inside :meth:`exclusive`
        before :meth:`recover`.  Returns ``(id, subscriber, message_id, why)``
        of each digest recorded as delivered by it.  Only digests still
        ``sending`` are touched, so a note applied twice (a kill between the
        commit and the removal) changes nothing the second time."""
        path = self.unrecorded_path
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise StateError(Problem(f"cannot read what an earlier send could not record: {exc.strerror}", str(path))) from None
        records = [r for r in _notes(text) if _readable(r)]  # (a line damaged by hand stopped every send)
        delivered = []
        with self.transaction() as db:
            for record in records:
                if "sent" in record:
                    did, email, tries = record["sent"]
                    row = db.execute(
                        "SELECT message_id FROM digests WHERE id = ? AND subscriber = ? AND status = 'sending'",
                        (did, _key(email)),
                    ).fetchone()
                    if row is not None:
                        _write_sent(db, [(did, email, tries)], record["at"])
                        delivered.append((did, email, row[0], record.get("why") or "the state could not be written"))
                elif "unsent" in record:
                    _write_unsent(db, record, only_sending=True)
        path.unlink(missing_ok=True)
        return delivered


def _notes(text: str) -> list[dict]:
    """The records of an unrecorded note (see :meth:`SQLiteState._mark`), in order."""
    records = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a line cut short (the disk filled up while it was written, or is being written)
        if isinstance(record, dict):
            records.append(record)
    return records


def _readable(record: dict) -> bool:
    """Whether a note's record has what the readers use (a note damaged by
    hand must not stop `schedule` or `history`)."""
    sent = record.get("sent")
    if sent is not None:
        return (isinstance(sent, list) and len(sent) == 3 and isinstance(sent[0], int) and isinstance(sent[1], str)
                and isinstance(sent[2], int) and _a_time(record.get("at")))
    return (isinstance(record.get("unsent"), int) and isinstance(record.get("tries"), int)
            and isinstance(record.get("error"), str) and isinstance(record.get("permanent"), bool)
            and isinstance(record.get("settings"), (str, type(None)))
            and (record.get("next_attempt") is None or _a_time(record.get("next_attempt"))))


def _a_time(value: object) -> bool:
    """Whether ``value`` is a time as the state writes one (see :func:`_ts`)."""
    try:
        return isinstance(value, str) and datetime.fromisoformat(value).tzinfo is not None
    except ValueError:
        return False


def _noted_sent(digest_id: int, subscriber: str, status: str, noted: dict[int, dict]) -> bool:
    """Whether the digest row ``(digest_id, subscriber, status)`` is one the
    note says was delivered (as :meth:`SQLiteState.apply_unrecorded` will record it)."""
    note = noted.get(digest_id)
    return status == "sending" and note is not None and "sent" in note and _key(note["sent"][1]) == subscriber


def _noted_status(note: dict) -> str:
    """The status an ``unsent`` note gives its digest (see :func:`_write_unsent`)."""
    return "failed" if note["permanent"] else "pending"


def _noted_open(row: tuple, noted: dict[int, dict]) -> tuple | None:
    """An open digest's row from :meth:`SQLiteState.plan` as the note will
    leave it: None when noted delivered; pending or failed, with its error,
    when noted undelivered; else as it is."""
    did, sub, status = row[0], row[1], row[2]
    note = noted.get(did) if status == "sending" else None
    if note is None:
        return row
    if _noted_sent(did, sub, status, noted):
        return None
    if "unsent" not in note:
        return row
    tries = note["tries"]
    return (did, sub, _noted_status(note), row[3], row[4] + tries, row[5], note["error"], note["next_attempt"],
            row[8] + (1 if tries else 0), note["settings"], row[10] or note.get("uncertain", False))


#: Bytes ``<state>.spare`` keeps for the unrecorded note: a disk too full for
#: the state may be too full for the note, and a delivery recorded nowhere is
#: sent again by the next send.  A record is about 500 bytes; a send notes at
#: most a few hundred (its claimed batches, per process).
SPARE_BYTES = 256 * 1024


def spare_path(state: Path) -> Path:
    """``<state>.spare``, beside the file (its real place, as the note's)."""
    return Path(os.path.realpath(state) + ".spare")


def _keep_spare(path: Path) -> None:
    """Make sure ``path`` holds :data:`SPARE_BYTES` of disk space (allocated,
    not a sparse file) for :meth:`SQLiteState._note` to free; a disk too
    full for it already goes without (the state's own writes fail first)."""
    try:
        if path.stat().st_size >= SPARE_BYTES:
            return
    except FileNotFoundError:
        pass
    except OSError:
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            os.posix_fallocate(fd, 0, SPARE_BYTES)  # (emulated by writing where the file system lacks it)
        finally:
            os.close(fd)
    except OSError:
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)


def _append(path: Path, data: bytes) -> None:
    """Append ``data`` to ``path`` in one write, fsynced (a send's processes append together)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        if os.write(fd, data) != len(data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        os.fsync(fd)
    finally:
        os.close(fd)


def unrecorded_path(state: Path) -> Path:
    """``<state>.unrecorded``, beside the file (its real place, as the lock file's)."""
    return Path(os.path.realpath(state) + ".unrecorded")


def _write_sent(db: sqlite3.Connection, items: Sequence[tuple[int, str, int]], stamp: str) -> None:
    """Mark ``(digest_id, email, tries)`` each delivered at ``stamp``."""
    db.executemany(
        "UPDATE digests SET status = 'sent', sent = ?, attempts = attempts + ?, last_error = NULL, "
        "next_attempt = NULL WHERE id = ?",
        [(stamp, tries, digest_id) for digest_id, _, tries in items],
    )
    db.executemany(
        "UPDATE subscribers SET last_sent = ?, last_served = ? WHERE email = ?",
        [(stamp, stamp, _key(email)) for _, email, _ in items],
    )


def _write_unsent(db: sqlite3.Connection, values: dict, *, only_sending: bool) -> None:
    """Mark a digest not delivered (see :meth:`State.mark_unsent`); ``values``
    as :meth:`SQLiteState.mark_unsent` notes them.  ``only_sending``: leave
    it alone unless it is still ``sending`` (a note applied late)."""
    tries = values["tries"]
    db.execute(
        "UPDATE digests SET status = ?, attempts = attempts + ?, last_error = ?, next_attempt = ?, "
        "failures = (CASE WHEN ? THEN 0 ELSE failures END) + ?, settings = ?, uncertain = max(uncertain, ?) WHERE id = ?"
        + (" AND status = 'sending'" if only_sending else ""),
        (
            "failed" if values["permanent"] else "pending",
            tries,
            values["error"],
            values["next_attempt"],
            1 if tries and values.get("restart") else 0,  # (a note written before there was such a thing: no)
            1 if tries else 0,  # not attempted: not a failure of this digest's
            values["settings"],
            1 if values.get("uncertain") else 0,  # (a note written before there was such a thing: no)
            values["unsent"],
        ),
    )


class _SQLiteBatch(Batch):
    """SQLite needs no holding: each change is its own transaction, as before."""

    def __init__(self, state: SQLiteState, subscribers: dict[str, SubscriberState], now: datetime) -> None:
        self.state, self.subscribers, self.now = state, subscribers, now

    def claim(self, items):
        return self.state.claim(items, self.now)

    def drop(self, digest_id: int) -> None:
        self.state.drop(digest_id)

    def served(self, emails: Iterable[str]) -> None:
        self.state.served(list(emails), self.now)


@contextmanager
def send_lock(
    state_path: str | os.PathLike,
    *,
    wait: float = 600.0,
    sleep: Callable[[float], object] | None = None,
    clock: Callable[[], float] | None = None,
    stop: Callable[[], bool] | None = None,
) -> Iterator[HeldLock]:
    """Hold ``<state>.lock`` (``fcntl.flock``) for the length of a send.

    This is how two ``send``/``run`` processes on one state never both send a
    digest: only the holder reads "what is owed" and sends it, so a second
    process waits (up to ``wait`` seconds, then :class:`StateError`) and then
    finds the work done.  The kernel drops the lock when its holder dies,
    even by SIGKILL, so a crash never leaves it stuck, and any digest still
    ``sending`` when the lock is taken was left by a dead run (see
    :meth:`State.recover`).  The file is never deleted (that would race);
    removed by someone else while held, it is taken again (see
    :meth:`SQLiteState.claims_lost`), and a second send waits for a holder
    of the removed file as for any other (:func:`files.lock_file`).
    ``stop()`` true (Ctrl-C, SIGTERM) ends the wait: :class:`StoppedWaiting`
    (the stop was ignored for as long as ``wait``, ten minutes, while a
    service manager gives a stopping process 90 s before it kills it).
    """
    import time

    sleep = sleep or time.sleep
    clock = clock or time.monotonic
    # The file's lock, whatever name reaches it: a config naming the state through
    # a symbolic link took a lock of its own and sent during the other's send.
    path = Path(os.path.realpath(state_path) + ".lock")
    deadline = clock() + wait
    told = False
    while True:
        try:
            held_lock = HeldLock(path, f"{owner_id()}\n")
            break
        except LockHeld as held:
            if stop is not None and stop():
                raise StoppedWaiting(
                    Problem(f"stopped while waiting for another send ({held.holder.strip()}): nothing sent or recorded",
                            str(path))
                ) from None
            if clock() >= deadline:
                raise StateError(
                    # (cron starting a send every 10 minutes beside a long one: what is this exit 2 to them?)
                    Problem(f"another send ({held.holder.strip()}) has held the state for over {wait:.0f} s; giving "
                            "up: this one sent and recorded nothing, and what it would have sent goes out with that "
                            "send or the next", str(path))
                ) from None
            if not told:
                logging.getLogger(__name__).info("another send (%s) is running on this state; waiting for it", held.holder)
                told = True
            sleep(0.05)
        except OSError as exc:
            raise StateError(Problem(f"cannot create the lock file: {exc.strerror}", str(path))) from None
    try:
        yield held_lock
    finally:
        held_lock.release()
