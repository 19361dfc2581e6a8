"""The PostgreSQL state: the same tables as the SQLite file, shared by any
number of send workers on any hosts (``state: postgresql://user@host:port/db``).

Connections go through psycopg 3.  The password never sits in the URL: libpq
reads it from ``PGPASSWORD`` or a ``.pgpass`` file.  The schema is created on
first use and upgraded in place (:data:`MIGRATIONS`, version in
``paper_digest_schema``), under a transaction-level advisory lock so that
workers starting together migrate once.

How workers share the sending, and why nothing is lost or sent twice:

- Each writer holds a *session* connection for its whole life and takes a
  session advisory lock on a random 63-bit worker key on it.  Every digest
  it claims records that key (``digests.worker``).  PostgreSQL drops the
  lock the moment that connection ends: the process exited, was killed
  with ``kill -9`` (the kernel closes its socket), or its host vanished
  (TCP keepalives and a user timeout, set on both ends of the session, notice
  within about a minute).
- Planning a batch (:meth:`PostgresState.claiming`) locks the batch's rows
  of ``subscriber_locks`` ``FOR UPDATE SKIP LOCKED`` in one transaction on
  the session connection, reads their state, lets the engine compose, and
  commits the claimed digests as ``sending`` in the same transaction.  A
  row another worker holds is skipped, never waited for; a subscriber whose
  digest is ``sending`` by a live worker, or that another worker settled
  since this one started (the same round), is left alone.  Nothing but
  planning locks those rows, so the outcome marks never wait for a planner.
- :meth:`PostgresState.recover` (at the start of every send) takes each
  ``sending`` digest whose worker's advisory lock is free, i.e. whose
  worker is gone, back to ``pending``; it goes out again with the same
  Message-ID.  At most the one message in flight when a worker died can be
  delivered twice, as with SQLite.
- Delivery threads record outcomes through a connection pool
  (psycopg_pool), one statement per outcome, with ``synchronous_commit``
  off (like SQLite's ``synchronous=NORMAL`` for the same marks: a killed
  process loses nothing; a database crash in the last fraction of a second
  may make a digest go out again with the same Message-ID).

The session advisory lock needs a real session: connect directly or through
a pooler in *session* mode (PgBouncer's transaction mode would drop it).
"""

from __future__ import annotations

import getpass
import ipaddress
import json
import logging
import os
import re
import secrets
import select
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext, suppress
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn, Self, cast

import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict
from psycopg.pq import TransactionStatus

from ..errors import Problem, RolledBack, SessionEnded, StateError, counted
from ..models import Paper
from ..retrying import addresses
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
    owner_id,
    paper_from_json,
    public_url,
    sent_keys,
)
from . import key as _key

log = logging.getLogger(__name__)

#: Advisory lock key (transaction level) serialising schema migrations.
SCHEMA_LOCK = 0x5061_7065_7244_6967  # "PaperDig"
#: Advisory lock key (transaction level) serialising workers' saves of the
#: ``listed`` table (see :meth:`PostgresState.keep_listed`).
LISTED_LOCK = 0x5061_7065_724C_6973  # "PaperLis"
#: Subscribers per query in :meth:`PostgresState.plan`.
PLAN_CHUNK = 1000
#: Connections the delivery threads of one worker may hold at once.
POOL_MAX = 16
#: Times a statement of its own is run when the server rolls it back (a
#: deadlock with another session: see :meth:`PostgresState._once_more`).
ROLLED_BACK_TRIES = 3
#: What the server raises when it rolls a transaction back for another's sake
#: (psycopg's DeadlockDetected and SerializationFailure are not TransactionRollback's).
ROLLED_BACK = (pg_errors.TransactionRollback, pg_errors.DeadlockDetected, pg_errors.SerializationFailure)

#: Connections a recorder (``serve``: see :meth:`PostgresState.open`) keeps
#: for its requests: each is one statement of a millisecond, so a few carry
#: a mail provider's burst, and more would only take the server's slots.
RECORDER_POOL_MAX = 4
#: How long a recorder's request waits for one of them (a server that is
#: down): the request is answered 503, try again, well within a mail
#: provider's patience, where the pool's own 30 s held it.
RECORDER_WAIT = 10.0

#: libpq settings every connection gets unless the URL says otherwise: fail
#: fast when the server is unreachable, and notice a vanished peer (so a
#: dead worker's session, and with it its advisory lock, ends).
CONNECT_DEFAULTS = {
    "connect_timeout": "10",
    "application_name": "paper-digest",
    "keepalives": "1",
    "keepalives_idle": "30",
    "keepalives_interval": "10",
    "keepalives_count": "3",
    # ms: a statement sent into a network partition goes unacknowledged, and
    # keepalives wait while it does: the kernel retried it for 15 minutes or more
    "tcp_user_timeout": "60000",
}

#: Longest wait, in seconds, for the server's answer to one statement.  A
#: server can be unreachable without any connection ending: a proxy, a load
#: balancer or a NAT that stopped forwarding still acknowledges what is sent,
#: so neither keepalives nor ``tcp_user_timeout`` notice, and the worker waited
#: for ever.  Past this it gives up (:class:`NoAnswer`); the digests it claimed
#: go back to pending with its session (see :meth:`PostgresState.recover`).
ANSWER_WITHIN = 120.0


def statement_limit() -> float:
    """Seconds the server lets one of a worker's statements run
    (``statement_timeout``): less than :data:`ANSWER_WITHIN`, so that a
    server that is there says why a statement took too long (a row lock
    another session held, named) before the worker gives up on hearing
    anything.  Equal, the two raced: a worker waiting on a lock was told
    "no answer (a network fault, or the server stopped responding)"."""
    return max(ANSWER_WITHIN - 10.0, ANSWER_WITHIN / 2)


#: A schema upgrade waits at most this long, in seconds, for a table's lock at
#: a time, and tries again within MIGRATE_WITHIN s in all (see PostgresState._migrate).
MIGRATE_LOCK_WAIT = 2.0
MIGRATE_WITHIN = 100.0

#: Longest a worker waits, in seconds, for PostgreSQL to take connections
#: again after a restart ended its session (see :meth:`PostgresState._resume`):
#: a minor upgrade or a `pg_ctl restart` takes seconds, and a worker that
#: gave up at once left its whole share pending until the next run.  Past
#: it, the worker stops as before (exit 1, the rest pending).
RESUME_WITHIN = 30.0
#: Between two attempts to reach a restarting server, in seconds.
RESUME_EVERY = 0.2

#: Once the run is stopping (Ctrl-C, SIGTERM), the longest a statement still
#: waits for its answer, in seconds: a service manager kills what has not
#: stopped within 90 s, and a network partition held the stop ANSWER_WITHIN.
#: A server that answers at all answers well within it.
STOPPING_ANSWER_WITHIN = 3.0
#: While a run that may be stopped waits for an answer, how often it looks.
LOOK_FOR_A_STOP_EVERY = 0.5


#: The state URLs whose connections were found to be sessions of their own
#: (no pooler in transaction mode between: see
#: :meth:`PostgresState._refuse_a_shared_session`), in this process and the
#: send workers it forks.  A pooler's mode does not change under a running
#: process; a URL that points elsewhere after a config reload is asked anew.
_SESSIONS_KEPT: set[str] = set()
_SESSIONS_LOCK = threading.Lock()


class NoAnswer(psycopg.OperationalError):
    """The server did not answer a statement within :data:`ANSWER_WITHIN`."""


class _Cancelled(StateError):
    """A statement of a worker's the server cancelled (SQLSTATE 57014): at an
    administrator's request (``pg_cancel_backend``), or as :class:`_TimedOut`."""


class _TimedOut(_Cancelled):
    """A statement of a worker's the server cancelled at its
    ``statement_timeout`` (:func:`statement_limit`): mostly one waiting on a
    row lock another session held all that time (see
    :meth:`PostgresState.mark_sent_many`)."""


class _Connection(psycopg.Connection):
    """A connection that waits for an answer at most :data:`ANSWER_WITHIN` s,
    or :data:`STOPPING_ANSWER_WITHIN` once ``stopping()`` (set by its state)
    is true, and whose server's name is looked up within ``connect_timeout``
    (see :func:`_looked_up`)."""

    stopping: Callable[[], object] | None = None
    #: Whether this session set the worker's ``statement_timeout`` itself
    #: (:func:`_stay_open`); a read-only one (``match``, ``history``) does
    #: not, so a timeout there is the database's or role's (see _timed_out).
    limit_set: bool = False

    @classmethod
    def connect(cls, conninfo: str = "", **kwargs: Any) -> Self:
        return super().connect(conninfo, **_looked_up(kwargs))

    def wait(self, gen, interval: float = 0.1, timeout: float | None = None):
        began = time.monotonic()
        try:
            return self._wait(gen, interval, timeout)
        except pg_errors.QueryCanceled as exc:
            exc.waited = time.monotonic() - began  # type: ignore[attr-defined]  # (see _timed_out)
            exc.limit_set = self.limit_set  # type: ignore[attr-defined]
            raise

    def _wait(self, gen, interval: float, timeout: float | None):
        stopping, limit = self.stopping, ANSWER_WITHIN if timeout is None else timeout
        now = time.monotonic()
        until, stopped = now + limit, False
        while True:
            if stopping is not None and not stopped and stopping():
                until, stopped = min(until, now + STOPPING_ANSWER_WITHIN), True
            # in steps that look for the stop: psycopg's generators wait on where
            # they were when a step ends ("a None sent means the wait timed out")
            step = until - now if stopping is None or stopped else min(until - now, LOOK_FOR_A_STOP_EVERY)
            try:
                return super().wait(gen, interval=interval, timeout=max(step, 0.001))  # (0: no limit)
            except psycopg.OperationalError as exc:
                if type(exc).__name__ != "_WaitTimeout":  # (psycopg's own, private)
                    raise
            now = time.monotonic()
            if now >= until:
                self.pgconn.finish()  # mid-statement, in a state no one knows: never used again
                within = f"{STOPPING_ANSWER_WITHIN:g} s of the stop" if stopped else f"{limit:g} s"
                raise NoAnswer(
                    f"no answer within {within} (a network fault, or the server stopped responding)"
                ) from None


class _Pooled(_Connection):
    """A delivery threads' pool connection that tells its state how each
    attempt went: ``told(None)`` once made and set up, ``told(error)`` when
    refused (see :meth:`PostgresState.ready_for_threads`)."""

    @classmethod
    def connect(cls, conninfo: str = "", *, told: Any = None, **kwargs: Any) -> Self:
        """``told``: a ``Callable[[psycopg.Error | None], None]``, or None."""
        try:
            return super().connect(conninfo, **kwargs)
        except psycopg.Error as exc:
            if told is not None:
                told(exc)
            raise


#: Seconds a writer's session may sit idle before the server ends it (and
#: with it the worker's lock, freeing its claims).  A proxy or load balancer
#: between worker and server that lost the worker's side of the connection
#: may keep the server's side open: the server's keepalives reach the proxy,
#: which answers them, so without a limit that session, and the claims of a
#: worker long gone, lived for as long as the proxy did.  A living worker's
#: session never idles that long: it says something every
#: ``SESSION_IDLE_LIMIT / 4`` seconds (:class:`_Heartbeat`).  A living worker
#: that saw its side end frees them at once (:meth:`PostgresState._end_orphan`);
#: this is for one that died too.  A whole worker paused longer (SIGSTOP, a
#: suspended VM) is taken for gone: it hands over nothing more once resumed.
SESSION_IDLE_LIMIT = 300.0

#: Server-side settings of a worker's session (any user may set them).
SERVER_KEEPALIVES = {
    "tcp_keepalives_idle": 30,
    "tcp_keepalives_interval": 10,
    "tcp_keepalives_count": 3,
    "tcp_user_timeout": 60000,  # ms: unacknowledged data (a dead peer) ends the connection
}

_V1 = [
    """CREATE TABLE papers (
        id          TEXT PRIMARY KEY,
        title       TEXT NOT NULL,
        first_seen  TIMESTAMPTZ NOT NULL,
        data        JSONB
    )""",
    """CREATE TABLE subscribers (
        email       TEXT PRIMARY KEY,
        first_seen  TIMESTAMPTZ NOT NULL,
        last_sent   TIMESTAMPTZ,
        last_served TIMESTAMPTZ
    )""",
    """CREATE TABLE digests (
        id           BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        subscriber   TEXT NOT NULL,
        status       TEXT NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
        attempts     INTEGER NOT NULL DEFAULT 0,
        last_error   TEXT,
        message_id   TEXT NOT NULL UNIQUE,
        created      TIMESTAMPTZ NOT NULL,
        sent         TIMESTAMPTZ,
        next_attempt TIMESTAMPTZ,
        owner        TEXT,
        claimed_at   TIMESTAMPTZ,
        worker       BIGINT
    )""",
    "CREATE INDEX digests_by_subscriber ON digests (subscriber, status)",
    "CREATE UNIQUE INDEX one_open_digest_per_subscriber ON digests (subscriber) WHERE status <> 'sent'",
    "CREATE INDEX digests_sending ON digests (worker) WHERE status = 'sending'",
    """CREATE TABLE digest_papers (
        digest_id BIGINT NOT NULL REFERENCES digests (id) ON DELETE CASCADE,
        paper_id  TEXT NOT NULL,
        position  INTEGER NOT NULL,
        PRIMARY KEY (digest_id, paper_id)
    )""",
]

_V2_UNSUBSCRIBED = [
    """CREATE TABLE unsubscribed (
        email TEXT PRIMARY KEY,
        at    TIMESTAMPTZ NOT NULL
    )""",
]

#: Version 3, for workers sharing the sending:
#: - ``subscribers.settled_at``: when a subscriber was last settled (delivered,
#:   or nothing to send) by the database's clock, so that workers of one round
#:   tell "settled after I started" whatever ``--now`` they run at (see
#:   :attr:`SubscriberState.settled_since_start`); readers never need it;
#: - ``subscriber_locks``: one row per subscriber, locked ``FOR UPDATE SKIP
#:   LOCKED`` by the worker planning it and never updated, so planning never
#:   blocks the outcome marks (which update ``subscribers``) and they never
#:   block planning.
_V3_WORKERS = [
    "ALTER TABLE subscribers ADD COLUMN settled_at TIMESTAMPTZ",
    "CREATE TABLE subscriber_locks (email TEXT PRIMARY KEY)",
    "INSERT INTO subscriber_locks (email) SELECT email FROM subscribers",
]

#: ``MIGRATIONS[n]`` turns a version-``n`` database into version ``n + 1``
#: (a list of statements, run in one transaction).  Append, never edit.
#: Version 4: failed runs per digest (back-off, and holding a digest refused run after run).
_V4_FAILURES = ["ALTER TABLE digests ADD COLUMN failures INTEGER NOT NULL DEFAULT 0"]

#: Version 5: the workers sending right now (a row each while they live), so
#: that a worker joining running ones joins their round (see ``_join_round``).
_V5_ROUNDS = [
    """CREATE TABLE workers (
        worker  BIGINT PRIMARY KEY,
        started TIMESTAMPTZ NOT NULL,
        owner   TEXT
    )""",
]

#: Version 6: the delivery settings a failed run used (see :meth:`OpenDigest.retry_from`).
_V6_SETTINGS = ["ALTER TABLE digests ADD COLUMN settings TEXT"]

#: Version 7: left ``sending`` by a worker that is gone: goes again as it was (see :attr:`OpenDigest.uncertain`).
_V7_UNCERTAIN = ["ALTER TABLE digests ADD COLUMN uncertain BOOLEAN NOT NULL DEFAULT false"]

#: Version 8: the ids of the keys sends made unsubscribe links with (see :meth:`State.record_link_key`).
_V8_LINK_KEYS = [
    """CREATE TABLE link_keys (
        key_id     TEXT PRIMARY KEY,
        first_used TIMESTAMPTZ NOT NULL
    )""",
]

#: Version 9: the papers the runs read, kept for the digests after them (see :meth:`State.keep_listed`).
_V9_LISTED = [
    """CREATE TABLE listed (
        id        TEXT PRIMARY KEY,
        last_seen TIMESTAMPTZ NOT NULL,
        data      JSONB NOT NULL
    )""",
    "CREATE INDEX listed_by_time ON listed (last_seen)",
]

#: Version 10: deliveries recorded beside their digest's row, when another
#: session (a ``psql`` session left in a transaction) held that row past the
#: worker's statement limit: the row could not say ``sent``, so the next send
#: sent the digest again.  A row here is written without touching the
#: digest's (no foreign key: its check takes a share lock on the digest's
#: row, which the holder's lock blocks); it counts as ``sent`` wherever the
#: state reads what was delivered, and :meth:`PostgresState.recover` moves it
#: into the digest's row once that is free.
_V10_DELIVERED = [
    """CREATE TABLE delivered (
        digest_id BIGINT PRIMARY KEY,
        sent      TIMESTAMPTZ NOT NULL,
        tries     INTEGER NOT NULL
    )""",
]

MIGRATIONS: list[list[str]] = [
    _V1, _V2_UNSUBSCRIBED, _V3_WORKERS, _V4_FAILURES, _V5_ROUNDS, _V6_SETTINGS, _V7_UNCERTAIN, _V8_LINK_KEYS,
    _V9_LISTED, _V10_DELIVERED,
]
SCHEMA_VERSION = len(MIGRATIONS)
#: The oldest schema a read-only open accepts: every migration after it only
#: adds tables, and the readers treat a table the database lacks as empty.
#: Raise it to ``SCHEMA_VERSION`` when a migration changes what is already there.
READABLE_SINCE = 1  # (version 4's failures column reads as 0 in an older database, 6's settings as NULL, 7's as false)

_PLAN = """
SELECT k.email, s.first_seen, s.last_sent, COALESCE(s.last_served, s.last_sent), {settled},
       o.id, o.status, o.message_id, o.attempts, o.created, o.last_error, o.papers, o.next_attempt, o.failures,
       o.settings, o.uncertain, {beside}, {sent}
FROM unnest(%(keys)s::text[]) AS k(email)
LEFT JOIN subscribers s ON s.email = k.email
LEFT JOIN LATERAL (
    SELECT d.id, d.status, d.message_id, d.attempts, d.created, d.last_error, d.next_attempt,
           {failures} AS failures, {settings} AS settings, {uncertain} AS uncertain,
           ARRAY(SELECT paper_id FROM digest_papers WHERE digest_id = d.id ORDER BY position) AS papers
    FROM digests d WHERE d.subscriber = k.email AND d.status <> 'sent'{open_only}
) o ON true
"""

#: A digest not delivered (see :data:`_V10_DELIVERED`), for :data:`_PLAN`'s open digest.
_NOT_DELIVERED = " AND NOT EXISTS (SELECT 1 FROM delivered v WHERE v.digest_id = d.id)"
#: Whether ``k.email`` has a delivery recorded beside its digest's row, which
#: is still to be moved into it (see :meth:`PostgresState.claiming`).
_BESIDE = """CASE WHEN (SELECT EXISTS (SELECT 1 FROM delivered)) THEN EXISTS (SELECT 1 FROM delivered v
               JOIN digests d ON d.id = v.digest_id WHERE d.subscriber = k.email AND d.status <> 'sent') ELSE false END"""

#: Every paper delivered to the subscriber ``k.email`` (the last column of
#: :data:`_PLAN`): in its digests ``sent``, and ``{beside}``: in those whose
#: delivery is recorded beside their row (see :data:`_V10_DELIVERED`).
_SENT = """ARRAY(SELECT dp.paper_id FROM digests d JOIN digest_papers dp ON dp.digest_id = d.id
             WHERE d.subscriber = k.email AND d.status = 'sent'){beside_ids},
       ARRAY(SELECT p.title FROM digests d JOIN digest_papers dp ON dp.digest_id = d.id
             JOIN papers p ON p.id = dp.paper_id WHERE d.subscriber = k.email AND d.status = 'sent'){beside_titles}"""
#: (each behind one look at the whole table, made once per statement: with
#: the usual empty table, no subquery runs per subscriber)
_SENT_BESIDE_IDS = """ || CASE WHEN (SELECT EXISTS (SELECT 1 FROM delivered)) THEN ARRAY(SELECT dp.paper_id
             FROM delivered v JOIN digests d ON d.id = v.digest_id JOIN digest_papers dp ON dp.digest_id = d.id
             WHERE d.subscriber = k.email AND d.status <> 'sent') ELSE '{}'::text[] END"""
_SENT_BESIDE_TITLES = """ || CASE WHEN (SELECT EXISTS (SELECT 1 FROM delivered)) THEN ARRAY(SELECT p.title
             FROM delivered v JOIN digests d ON d.id = v.digest_id JOIN digest_papers dp ON dp.digest_id = d.id
             JOIN papers p ON p.id = dp.paper_id WHERE d.subscriber = k.email AND d.status <> 'sent')
             ELSE '{}'::text[] END"""


def _utc(value: datetime | None) -> datetime | None:
    return value.astimezone(UTC) if value is not None else None


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("state timestamps must be timezone-aware")
    return value


def connection_params(url: str) -> dict[str, Any]:
    """libpq parameters for ``url``: :data:`CONNECT_DEFAULTS`, overridden by the URL."""
    try:
        given = conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        # (libpq quotes the URL in some of these, password and all: it is named as public_url shows it)
        text = " ".join(str(exc).replace(f'"{url}"', "the URL").split())
        raise StateError(Problem(f"not a valid PostgreSQL URL: {text}", public_url(url))) from None
    return {**CONNECT_DEFAULTS, **given}


def _primary(exc: psycopg.Error) -> str:
    """The server's message without the ``LINE 1: ...`` context, on one line."""
    diag = getattr(exc, "diag", None)
    text = (diag.message_primary if diag is not None else None) or str(exc)
    return " ".join(text.split())


def _looked_up(params: dict[str, Any]) -> dict[str, Any]:
    """``params`` with the server's addresses (``hostaddr``) looked up within
    ``connect_timeout``: psycopg looks the name up itself, with no timeout,
    before libpq's ``connect_timeout`` applies, so a DNS server that does not
    answer held a send (and SIGTERM) for as long as the resolver kept asking.
    Each address is an attempt of its own, as psycopg makes them; looked up
    at every connection, so a server moved to another address is followed."""
    host = str(params.get("host") or os.environ.get("PGHOST") or "")  # (postgresql:///db with PGHOST set)
    if not host or "," in host or host.startswith("/") or host[1:2] == ":" or params.get("hostaddr") \
            or os.environ.get("PGHOSTADDR"):
        return params  # a socket folder, several hosts, addresses given: as psycopg does
    try:
        ipaddress.ip_address(host)
        return params  # (an address as written: psycopg looks nothing up)
    except ValueError:
        pass
    port = str(params.get("port") or os.environ.get("PGPORT") or "5432")
    timeout = float(params.get("connect_timeout") or CONNECT_DEFAULTS["connect_timeout"])
    try:
        found = addresses(host, port, timeout)
    except OSError as exc:
        raise psycopg.OperationalError(f"failed to resolve host {host!r}: {exc}") from None
    if found is None:
        raise psycopg.OperationalError(f"the name {host!r} was not looked up within {timeout:g} s (connect_timeout): "
                                       "a DNS server that does not answer, or no network?")
    each = list(dict.fromkeys(str(item[4][0]) for item in found))
    return {**params, "host": ",".join([host] * len(each)), "hostaddr": ",".join(each)}


def describe(exc: psycopg.Error, params: dict[str, Any]) -> str:
    """One line saying what went wrong, without libpq's multi-line decoration."""
    text = _primary(exc)
    user = _user(params)
    for prefix in ("connection failed: ",):
        if text.startswith(prefix):
            text = text[len(prefix) :]
    lowered = text.lower()
    if "password authentication failed" in lowered:
        return f"PostgreSQL refused the login for user {user!r} ({_password_hint()})"
    if missing := re.search(r'database "(.+)" does not exist', text):
        name = missing[1]
        return f"PostgreSQL has no database {name!r} (create it, e.g. `createdb {name}`, or correct the name in state:)"
    if "no password supplied" in lowered:
        return f"PostgreSQL wants a password for user {user!r} and none is set ({_no_password_hint(params)})"
    if isinstance(exc, pg_errors.InsufficientPrivilege) and re.search(r"permission denied for (table|sequence) ", text):
        return _not_granted(text, params)
    if isinstance(exc, pg_errors.ReadOnlySqlTransaction):  # a standby, or default_transaction_read_only
        return (f"PostgreSQL: {text}: the server takes no writes here (a read replica or hot standby, or "
                "default_transaction_read_only set for the user or database): point state: at the primary")
    if isinstance(exc, pg_errors.QueryCanceled) and getattr(exc, "limit_set", True) is False:
        # A session that set no limit of its own (a read-only one): "before the worker's 110 s limit: an
        # administrator's pg_cancel_backend" blamed a person for the database's or role's statement_timeout.
        return (f"PostgreSQL: {text} (this session sets no statement limit of its own: the server's words say "
                "whether a statement_timeout set for the database or role (ALTER DATABASE or ALTER ROLE ... SET "
                "statement_timeout; SHOW statement_timeout) cancelled it, or a request, an administrator's "
                "pg_cancel_backend; nothing was changed)")
    if _timed_out(exc):
        diag = getattr(exc, "diag", None)
        where = ((diag.context if diag is not None else None) or "").strip().splitlines()
        during = f", {where[0].rstrip('.')}" if where and where[0].startswith("while ") else ""
        return (f"PostgreSQL: {text} (no result within the worker's {statement_limit():g} s{during}: a lock "
                "another session holds (pg_stat_activity and pg_locks show which), or an overloaded server)")
    if isinstance(exc, pg_errors.QueryCanceled):  # (not a timeout: see _timed_out)
        return (f"PostgreSQL: {text} (cancelled by request before the worker's {statement_limit():g} s limit: an "
                "administrator's pg_cancel_backend, or a stop; nothing of the statement was recorded)")
    if isinstance(exc, ROLLED_BACK):  # (OperationalErrors too: not "cannot reach")
        # deadlock_detected, serialization_failure: the server is there, and rolled one transaction back
        diag = getattr(exc, "diag", None)
        where = ((diag.context if diag is not None else None) or "").strip().splitlines()
        during = f", {where[0].rstrip('.')}" if where and where[0].startswith("while ") else ""
        why = ("this statement and another session's transaction each waited for a lock the other held; the "
               "server cancelled this one" if isinstance(exc, pg_errors.DeadlockDetected)
               else "the server cancelled it as it conflicted with another session's")
        return (f"PostgreSQL: {text}{during} ({why}, and nothing of its transaction was recorded; the server's "
                "log names both statements)")
    if isinstance(exc, psycopg.OperationalError) and not isinstance(exc, pg_errors.QueryCanceled):
        # 'connection to server at "h" (1.2.3.4), port 5432 failed: Connection refused Is the server running ...'
        reason = text.split(" failed: ", 1)[-1]
        reason = reason.split(" Is the server running", 1)[0]
        if tried := _tried(str(exc), params):
            reason += f" (tried {tried})"
        elif reason.casefold().startswith("connection refused"):  # libpq's own hint was cut with its lines
            reason += " (nothing listens there: is PostgreSQL running, and the URL's host and port right?)"
        if "server does not support ssl" in lowered:  # (libpq's words name no setting of either side)
            reason += (f" (the URL asks for TLS, sslmode={params.get('sslmode') or os.environ.get('PGSSLMODE')}, and "
                       "the server has ssl = off: turn it on there, with ssl_cert_file and ssl_key_file)")
        if lowered.startswith("query_wait_timeout"):  # (PgBouncer's one word)
            reason += (f" (PgBouncer had no server connection free for it within its query_wait_timeout: its pool "
                       f"for this database and user is full; a send needs 2 connections and takes up to "
                       f"{POOL_MAX + 1}: raise default_pool_size or max_db_connections for every worker's)")
        if setting := re.search(r"no more connections allowed \((max_\w+)\)", text):  # (PgBouncer's client limits)
            reason += (f" (PgBouncer has as many clients as its {setting[1]} allows; a send needs 2 connections and "
                       f"takes up to {POOL_MAX + 1}, `serve` up to {RECORDER_POOL_MAX + 1}: raise {setting[1]} in pgbouncer.ini "
                       "for every worker's, and the open-files limit with it)")
        elif "too many connections" in lowered or "too many clients" in lowered or "connection slots" in lowered:
            reason += (f" (a send needs 2 connections and takes up to {POOL_MAX + 1}: raise the server's "
                       "max_connections or the user's CONNECTION LIMIT)")
        return f"cannot reach PostgreSQL: {reason}"
    return f"PostgreSQL: {text}"


def _timed_out(exc: psycopg.Error) -> bool:
    """Whether the server cancelled a statement (SQLSTATE 57014,
    ``query_canceled``) at the worker's ``statement_timeout``: told by its
    code, not its words, which a server with ``lc_messages`` set to another
    language translates ("storniere Anfrage wegen Zeitüberschreitung der
    Anfrage"), and the record of delivered digests without held rows never
    ran there (the send stopped, exit 2, and sent them again).

    An administrator's ``pg_cancel_backend`` (or a stop's cancel) has the
    same code, and its words were told apart where they are English alone:
    on a German server it read as a timeout ("no result within the worker's
    110 s"), however soon it came.  The worker's ``statement_timeout`` is
    the one such limit its statements run under (``lock_timeout`` is off:
    :func:`_stay_open`), and the server counts it from when the statement
    reached it, so a timeout comes only after the worker has waited at
    least :func:`statement_limit`: a cancellation sooner is a request.
    :class:`_Connection` says how long it waited (``waited``); an error
    from elsewhere, which does not, is told by its words as before.  A
    session that never set the worker's limit (a read-only one, or a
    writer's before its ``SET`` took effect) ran under the database's or
    role's, however short: its cancellation is taken for a timeout, as every
    cancellation was before the waited time was read (a database's 1 ms
    statement_timeout firing on a writer's first statement under load made
    the send stop, exit 2, where it had passed as a timeout), and
    :func:`describe` says it was the database's limit or a request."""
    if not isinstance(exc, pg_errors.QueryCanceled):
        return False
    if getattr(exc, "limit_set", True) is False:
        return True
    waited = getattr(exc, "waited", None)
    if waited is None:
        return "due to user request" not in str(exc)
    return waited >= statement_limit() - 0.001


_SERVER_TRIED = re.compile(r'connection to server (?:at "([^"]*)"(?: \([^)]*\))?, port (\d+)|on socket "([^"]+)") failed')


def _tried(text: str, params: dict[str, Any]) -> str | None:
    """Where libpq tried to connect and what chose it, when the URL names no
    host: ``postgresql:///db`` leaves host and port to PGHOST, PGHOSTADDR and
    PGPORT, a connection service (``service=`` or PGSERVICE, from its file),
    or libpq's default socket, and a server that was down was named by the
    URL alone, "postgresql:///db: cannot reach PostgreSQL: Connection
    refused (... the URL's host and port right?)": neither the place tried
    nor what chose it.  Every place tried is named (PGHOST=h1,h2 tries each),
    and only what is set: PGHOSTADDR alone was said to be PGHOST and PGPORT,
    a service's host libpq's default.  ``text`` is the whole message (each
    host's attempt on a line of its own).  None where the URL names its host
    (the line names it already)."""
    if params.get("host") or params.get("hostaddr"):
        return None
    attempts = re.findall(r"^- host: '([^']*)', port: '([^']*)'", text, re.M)  # (psycopg's, one per host)
    places = [f"the socket {h}/.s.PGSQL.{p}" if h.startswith("/") else f"{h} port {p}" for h, p in attempts] or [
        f"the socket {found[3]}" if found[3] else f"{found[1]} port {found[2]}" for found in _SERVER_TRIED.finditer(text)]
    if not places:
        return None
    where = _and(list(dict.fromkeys(places)))
    chosen = [name for name in ("PGHOST", "PGHOSTADDR") if os.environ.get(name)]
    if service := params.get("service") or os.environ.get("PGSERVICE"):
        file = os.environ.get("PGSERVICEFILE") or "~/.pg_service.conf or the system's pg_service.conf"
        named = "" if params.get("service") else "PGSERVICE, "
        chosen.insert(0, f"the connection service {service!r} ({named}{file})")
    if not chosen:
        if not places[0].startswith("the socket "):  # (a host from elsewhere: PGSYSCONFDIR's defaults)
            return f"{where}: is PostgreSQL running there?"
        return (f"{where}, libpq's default, as neither the URL nor PGHOST names a host: write the host in the URL "
                "or set PGHOST")
    chosen += ["the URL's port"] if params.get("port") else ["PGPORT"] if os.environ.get("PGPORT") else []
    return f"{where}, named by {_and(chosen)}: is PostgreSQL running there, and is that right?"


def _and(items: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return ", ".join(items[:-1]) + " and " + items[-1] if len(items) > 1 else items[0]


def _no_password_hint(params: dict[str, Any]) -> str:
    """Why libpq found no password in the password file it reads: it skips a
    file others may read (after a warning of its own, which the message then
    contradicted: "add it to ~/.pgpass"), and takes a line only for the host,
    port, database and user as written (``localhost`` is not ``127.0.0.1``)."""
    named = os.environ.get("PGPASSFILE")
    shown = named or "~/.pgpass"
    path = os.path.expanduser(shown)
    if not os.path.isfile(path):
        return f"set PGPASSWORD or add it to {shown}"
    if os.name == "posix" and os.stat(path).st_mode & 0o077:
        return f"{shown} is skipped, since others may read it: chmod 600 {shown}"
    wanted = _pgpass_key(params)
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = [fields for line in f if len(fields := _pgpass_fields(line)) == 5]
    except OSError as exc:
        return f"cannot read {shown}: {exc.strerror or exc}"
    if any(all(have in ("*", want) for have, want in zip(fields[:4], wanted, strict=True)) for fields in lines):
        return f"set PGPASSWORD or add it to {shown}"  # (a line that fits, with an empty password)
    others = [":".join(fields[:4]) for fields in lines if fields[3] in ("*", wanted[3])]
    return (f"{shown} has no line for {':'.join(wanted)} (host:port:database:user, matched as written or *)"
            + (f"; it has {others[0]}: write the URL's host as the file does, or add a line" if others else ""))


def _pgpass_key(params: dict[str, Any]) -> tuple[str, str, str, str]:
    """The host, port, database and user libpq looks up in the password file."""
    host = str(params.get("host") or os.environ.get("PGHOST") or "localhost")
    user = _user(params)
    return ("localhost" if host.startswith("/") else host, str(params.get("port") or os.environ.get("PGPORT") or 5432),
            str(params.get("dbname") or os.environ.get("PGDATABASE") or user), user)


def _pgpass_fields(line: str) -> list[str]:
    """One password file line's fields (``\\:`` is a colon, ``\\\\`` a backslash); none for a comment."""
    if line.startswith("#"):
        return []
    fields: list[str] = []
    field, escaped = "", False
    for char in line.rstrip("\r\n"):
        if escaped or char not in ":\\":
            field, escaped = field + char, False
        elif char == "\\":
            escaped = True
        elif len(fields) < 4:
            fields, field = [*fields, field], ""
        else:
            field += char
    return [*fields, field]


def _user(params: dict[str, Any]) -> str:
    """The user libpq logs in as: the URL's, else ``PGUSER``, else this system user's name."""
    if name := params.get("user") or os.environ.get("PGUSER"):
        return str(name)
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "(default user)"


def _password_hint() -> str:
    """Where the refused password came from, and a line break in it: a
    secret pasted with its newline (a CI secret, an env file with Windows line
    endings) is refused as a wrong password, and the message said only
    "wrong password in PGPASSWORD or ~/.pgpass?"."""
    password = os.environ.get("PGPASSWORD")
    if password is not None and password != password.strip():
        what = "a line break" if "\n" in password or "\r" in password else "a space"
        return (f"PGPASSWORD ends or starts with {what}, which PostgreSQL takes as part of the password: "
                "set it without one")
    source = "PGPASSWORD" if password else os.environ.get("PGPASSFILE") or "~/.pgpass"
    return f"wrong password in {source}?"


def _not_granted(text: str, params: dict[str, Any]) -> str:
    """The state's tables exist but belong to another user (the one whose
    first ``send`` made them): a second worker's user read only "permission
    denied for table paper_digest_schema", and nothing said what to grant."""
    user = params.get("user") or os.environ.get("PGUSER")
    to = f'"{user}"' if user else "the workers' user"
    return (
        f"PostgreSQL user {user or '(default user)'!r} may not use the state's tables ({text}): another user made them; "
        f"as that user, grant them once: GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {to}; "
        f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {to}; (or give every worker the same user)"
    )


class PostgresState(State):
    """A worker's connection to the shared state.  Use :meth:`open`; close it, or use ``with``.

    Safe to use from several threads: the thread that opened it uses the
    session connection; other threads (delivery) use a pool.
    """

    def __init__(self, url: str, readonly: bool, recorder: bool = False) -> None:
        self.url = url
        self.recorder = recorder
        self.name = public_url(url)
        self.readonly = readonly
        self.params = connection_params(url)
        self.session: psycopg.Connection | None = None
        self.pool: Any = None
        self._pool_lock = threading.Lock()
        #: Set by :meth:`close` (under ``_pool_lock``): no pool is opened after it.
        self._closed = False
        #: how the pool's first connection attempt went (see ready_for_threads)
        self._pool_told = threading.Event()
        self._pool_refused: psycopg.Error | None = None
        self._thread = threading.get_ident()
        self._empty = False  # a read-only open of a database without our schema
        #: When this worker's round began, by the database's clock (writers
        #: only): the earliest start among the workers alive when it started.
        self.started: datetime | None = None
        self.version = SCHEMA_VERSION  # the database's, once opened (older only when read-only)
        #: This worker's advisory lock key, recorded on every digest it claims.
        self.worker = secrets.randbits(63)
        self.owner = owner_id()
        self._lost: str | None = None  # how the session ended (see claims_lost)
        self._silent: str | None = None  # the server stopped answering (see _errors)
        self._heartbeat: _Heartbeat | None = None  # a writer's session, kept from idling (see SESSION_IDLE_LIMIT)
        self._backend: int | None = None  # the server process of a writer's session (see _end_orphan)
        #: when the server the writer's session is on started (see _resume)
        self._postmaster: datetime | None = None
        self._resume_lock = threading.Lock()
        self._resume_failed = False  # tried once and could not: the claims stay lost
        #: sessions resumed after a restart: claims made before may have been taken back meanwhile
        self.resumed = 0
        #: the subscribers of a claim whose COMMIT has not answered yet (see _claim_again)
        self._unconfirmed: frozenset[str] = frozenset()
        self._stop: Callable[[], object] | None = None  # see stop_waiting_when

    # -- opening ------------------------------------------------------------------------

    @classmethod
    def open(cls, url: str, *, readonly: bool = False, recorder: bool = False) -> PostgresState:  # type: ignore[override]
        """Connect; a writer creates or upgrades the schema and takes its worker lock.

        ``recorder``: a writer that is no worker, for ``serve``, kept open
        across its requests, each of which records an unsubscribe (one
        statement) on a connection of a small pool (:data:`RECORDER_POOL_MAX`)
        from any thread.  It takes no worker lock, joins no round and needs
        no heartbeat: it claims nothing.  Opened as a worker per request, a
        one-click POST cost a login, a lock, a row in ``workers`` (stretching
        the round of the sends running), a pooler check and a thread."""
        state = cls(url, readonly, recorder)
        try:
            state.session = _Connection.connect(**state.params, autocommit=True)
            state.session.stopping = state._stopping
        except psycopg.Error as exc:
            raise StateError(Problem(describe(exc, state.params), state.name)) from None
        try:
            if readonly:
                with state._errors():
                    state.session.execute("SET default_transaction_read_only = on")
            elif not recorder:  # (a shared session is refused before a migration takes the schema's lock on it)
                with state._errors():
                    held = _hold(state.session, state.worker)
                    assert held is not None  # (a random key nobody else holds)
                    state._backend, state._postmaster = held
                state._refuse_a_shared_session()
            elif recorder:
                # Exempt as its pool's connections are: the server ended it once idle
                # (a FATAL in its log each time serve sat idle that long); unused after
                # the checks here, so an end is harmless, but it is no forgotten session.
                with state._errors():
                    _stay_open(state.session)
                state._refuse_a_shared_session(lock=True)
            state._check_version()
            if not readonly and not recorder:
                with state._errors():
                    state.started = state._join_round()
                    state._heartbeat = _Heartbeat(state.session, SESSION_IDLE_LIMIT / 4, state._fell_silent)
        except BaseException:
            state.close()
            raise
        return state

    def _refuse_a_shared_session(self, lock: bool = False) -> None:
        """A pooler in transaction or statement mode between worker and server
        (PgBouncer's ``pool_mode = transaction``) hands each transaction the
        server connection that is free: the session lock saying this worker
        lives stayed on one that other clients then used, where any worker
        found it its own and took the live worker's claims; and psycopg's
        prepared statements met on the wrong connection (``prepared statement
        "_pg3_0" already exists``) once some digests had gone out, unrecorded.
        A second connection of this worker's is handed the same server
        connection (a pooler gives the next client the one just let go) and
        finds the lock its own there: refused before anything is read or
        claimed.  A second connection the server refuses is left for
        :meth:`ready_for_threads` to name.

        Asked once per process and URL (see :data:`_SESSIONS_KEPT`): each
        writer's open paid one more connection for it, and ``serve`` opens
        one per unsubscribe, so a mail provider's burst of one-click POSTs
        cost the server two connections each.

        ``lock``: take the worker's lock on the session for the test, and let
        it go after: a recorder (``serve``) holds none, and skipped the test,
        so behind PgBouncer in transaction mode it ran on where it had been
        refused with this message."""
        with _SESSIONS_LOCK:
            if self.url in _SESSIONS_KEPT:
                return
        session = self.session
        if lock and session is not None:
            with self._errors():
                session.execute("SELECT pg_advisory_lock(%s)", (self.worker,))
            try:
                self._refuse_a_shared_session()
            finally:
                with suppress(psycopg.Error):
                    session.execute("SELECT pg_advisory_unlock(%s)", (self.worker,))
            return
        try:
            probe = _Connection.connect(**self.params, autocommit=True)
        except psycopg.Error:
            return
        with probe, self._errors():
            shared = _gone(probe, self.worker)  # the worker's lock taken by its second connection: one session
        if not shared:
            with _SESSIONS_LOCK:
                _SESSIONS_KEPT.add(self.url)
        if shared:
            # serve (a recorder) sends nothing: "nothing was sent" told its reader of a send that never was
            outcome = ("this unsubscribe or re-subscribe was not recorded (answered 503: the mail provider tries "
                       "again)" if self.recorder else "nothing was sent")
            raise StateError(Problem(
                "the connection goes through a pooler in transaction or statement mode (PgBouncer's pool_mode = "
                "transaction), which shares one server session among its clients: a worker's claims are held by "
                "its session; connect directly, or through a pooler in session mode (pool_mode = session); "
                f"{outcome}", self.name))

    def _join_round(self) -> datetime | None:
        """Register this worker; the start of the round it joins.

        Workers whose runs overlap form one round: a subscriber without a
        schedule ("due at every send") gets one digest per round, not one per
        worker, however staggered their starts.  A worker that is gone (its
        session lock is free) leaves the round; its row is removed here.
        """
        con = self.session
        assert con is not None
        con.execute(
            "INSERT INTO workers (worker, started, owner) VALUES (%s, clock_timestamp(), %s)", (self.worker, self.owner)
        )
        for (other,) in con.execute("SELECT worker FROM workers WHERE worker <> %s", (self.worker,)).fetchall():
            if _gone(con, other):
                con.execute("DELETE FROM workers WHERE worker = %s", (other,))
        row = con.execute("SELECT min(started) FROM workers").fetchone()
        return row[0] if row else None

    def _version(self) -> int:
        con = self.session
        assert con is not None
        if not con.execute("SELECT to_regclass('paper_digest_schema') IS NOT NULL").fetchone()[0]:  # type: ignore[index]
            return 0
        row = con.execute("SELECT max(version) FROM paper_digest_schema").fetchone()
        return int(row[0] or 0) if row else 0

    def _check_version(self) -> None:
        with self._errors():
            version = self._version()
        if version > SCHEMA_VERSION:
            raise StateError(
                Problem(
                    f"the state was written by a newer Paper Digest (schema version {version}; "
                    f"this version knows up to {SCHEMA_VERSION}); upgrade paper-digest-mailer or use another database",
                    self.name,
                )
            )
        if version == SCHEMA_VERSION:
            return
        if self.readonly:
            if version == 0:
                self._empty = True  # nothing recorded yet: an empty state
                return
            if version >= READABLE_SINCE:
                self.version = version  # tables added since read as empty
                return
            raise StateError(
                Problem(
                    f"the state has schema version {version}, older than this version's {SCHEMA_VERSION}; "
                    "run `newsletter send` once to upgrade it",
                    self.name,
                )
            )
        self._migrate()

    def _migrate(self) -> None:
        """Upgrade the schema, in one transaction, waiting at most
        :data:`MIGRATE_LOCK_WAIT` s at a time for the tables' locks.

        Workers of the older version may be sending meanwhile (a rolling
        upgrade): ``ALTER TABLE`` waits for each transaction of theirs that
        touched the table, and every statement after it, theirs and any
        reader's, queued behind that wait: the whole fleet stood still for
        as long as the oldest batch took (up to the statement limit).  A
        wait given up lets them through; the upgrade is tried again, within
        :data:`MIGRATE_WITHIN` s in all."""
        con = self.session
        assert con is not None
        until = time.monotonic() + MIGRATE_WITHIN
        try:
            while True:
                try:
                    self._migrate_once(con)
                    return
                except pg_errors.LockNotAvailable:
                    if time.monotonic() >= until or self._stopping():
                        raise StateError(Problem(
                            f"the schema upgrade to version {SCHEMA_VERSION} waited {MIGRATE_WITHIN:g} s for tables "
                            "that running workers of an older Paper Digest kept in use; nothing was sent: let them "
                            "finish (or stop them), then start again", self.name)) from None
                    time.sleep(MIGRATE_LOCK_WAIT / 4)  # (their queued statements go first)
        except pg_errors.InsufficientPrivilege as exc:
            raise StateError(
                Problem(
                    f"no permission to create the state's tables ({_primary(exc)}): grant this user "
                    "CREATE on the schema, or have the database owner run `newsletter send` once",
                    self.name,
                )
            ) from None
        except pg_errors.DuplicateTable as exc:
            raise StateError(
                Problem(
                    f"the database already has tables that are not Paper Digest's ({_primary(exc)}); "
                    "give the state a database or schema of its own",
                    self.name,
                )
            ) from None
        except psycopg.Error as exc:
            raise StateError(Problem(describe(exc, self.params), self.name)) from None

    def _migrate_once(self, con: psycopg.Connection) -> None:
        # The lock is taken before the transaction begins, so that the
        # transaction sees the tables a worker that migrated meanwhile made.
        con.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK,))
        try:
            with con.transaction():
                con.execute(f"SET LOCAL lock_timeout = {round(MIGRATE_LOCK_WAIT * 1000)}")
                version = self._version()  # another worker may have migrated meanwhile
                if version == 0:
                    con.execute("CREATE TABLE paper_digest_schema (version INTEGER NOT NULL)")
                    con.execute("INSERT INTO paper_digest_schema VALUES (0)")
                for step in MIGRATIONS[version:]:
                    for statement in step:
                        con.execute(statement)
                con.execute("UPDATE paper_digest_schema SET version = %s", (SCHEMA_VERSION,))
        finally:
            con.execute("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK,))
        if 0 < version < SCHEMA_VERSION:  # (0: the tables were made now) said as SQLite's upgrade is: see there
            log.info("%s: upgraded the state from schema version %d to %d; a Paper Digest older than this one "
                     "can no longer open it (`newsletter --version` names a version's schema)", self.name, version,
                     SCHEMA_VERSION)

    def close(self) -> None:
        """Close the pool and the session (which releases this worker's lock).

        ``serve``'s kept state is closed by one request while others use it
        (see ``web.py``'s ``_let_go``): under ``_pool_lock``, so that one
        retrying on a fresh connection meanwhile (:meth:`_once_more`) gets a
        :class:`StateError` (503, try again) rather than a new pool on the
        closed state, which nothing ever closed (its connections and
        threads leaked)."""
        with self._pool_lock:
            self._closed = True
            pool, self.pool = self.pool, None
            session, self.session = self.session, None
        heartbeat, self._heartbeat = self._heartbeat, None
        if heartbeat is not None:
            heartbeat.stop()
        if session is not None and self._backend is not None and self._silent is None and (
            self._lost is not None or session.broken
        ):
            self._end_orphan(self._backend)
        if session is not None and not self.readonly and self.started is not None and self._silent is None:
            try:
                session.execute("DELETE FROM workers WHERE worker = %s", (self.worker,))
            except psycopg.Error:
                pass  # the next worker to start removes the row (our lock is gone)
        if pool is not None:
            try:
                pool.close(timeout=0.0 if self._silent else 5.0)  # (workers stuck connecting to a silent server)
            except Exception:  # noqa: BLE001 -- closing: nothing left to save
                pass
        if session is not None:
            try:
                session.close()
            except psycopg.Error:
                pass

    def _end_orphan(self, backend: int) -> None:
        """This worker's session ended on its side while the server's side may
        live on, holding the worker's lock: behind a proxy or load balancer
        that kept its connection to the server.  End it (on a new connection)
        if it still holds that lock, so that the next send of any worker takes
        the claims back now, not once the server finds the session idle (see
        :data:`SESSION_IDLE_LIMIT`).  A server that cannot be reached is left
        to do that."""
        high, low = self.worker >> 32, self.worker & 0xFFFFFFFF
        try:
            with _Connection.connect(**{**self.params, "connect_timeout": "5"}, autocommit=True) as con:
                con.execute(
                    "SELECT pg_terminate_backend(pid, 5000) FROM pg_locks WHERE locktype = 'advisory' "
                    "AND objsubid = 1 AND classid::bigint = %s AND objid::bigint = %s AND pid = %s AND granted",
                    (high, low, backend),
                )
        except psycopg.Error:
            pass  # unreachable, or not allowed: the server ends it once idle

    # -- plumbing -------------------------------------------------------------------------

    @contextmanager
    def _errors(self) -> Iterator[None]:
        if self._silent is not None:
            # The server stopped answering: each further statement would wait
            # as long again (a send's not-attempted digests, one by one).
            raise StateError(Problem(self._silent, self.name))
        session = self.session  # (a thread may resume another meanwhile: see _resume)
        try:
            yield
        except psycopg.Error as exc:
            why = describe(exc, self.params)
            if isinstance(exc, ROLLED_BACK):  # the server is there: nothing of the transaction was recorded
                raise RolledBack(Problem(why, self.name)) from None
            if isinstance(exc, NoAnswer) or type(exc).__name__ == "PoolTimeout":  # (no connection to be had)
                self._silent = why
            elif session is not None and (session.broken or session is not self.session) and self.started is not None:
                # a writer's session ended (not went silent): its claims are any worker's
                self._lost = self._lost or _primary(exc)
                raise SessionEnded(Problem(why, self.name)) from None
            elif _timed_out(exc):
                raise _TimedOut(Problem(why, self.name)) from None
            elif isinstance(exc, pg_errors.QueryCanceled):
                raise _Cancelled(Problem(why, self.name)) from None
            raise StateError(Problem(why, self.name)) from None

    def _fell_silent(self, exc: NoAnswer) -> None:
        """The server gave the heartbeat no answer: as for any statement (see :meth:`_errors`)."""
        self._silent = self._silent or describe(exc, self.params)

    def _closed_meanwhile(self) -> StateError:
        return StateError(Problem("the state was closed meanwhile (by another thread); nothing more is recorded "
                                  "on it", self.name))

    def _pool(self) -> Any:
        with self._pool_lock:
            if self._closed:
                raise self._closed_meanwhile()
            if self.pool is None:
                from psycopg_pool import ConnectionPool

                def configure(con: psycopg.Connection) -> None:
                    # outcome marks only: see the module docstring
                    cast(_Connection, con).stopping = self._stopping
                    try:
                        con.execute("SET synchronous_commit TO OFF")
                        _stay_open(con)
                    except psycopg.Error as exc:
                        self._told(exc)
                        raise
                    self._told(None)

                self.pool = ConnectionPool(
                    kwargs={**self.params, "autocommit": True, "told": self._told},
                    connection_class=_Pooled,
                    min_size=1,
                    max_size=RECORDER_POOL_MAX if self.recorder else POOL_MAX,
                    timeout=RECORDER_WAIT if self.recorder else 30.0,
                    configure=configure,
                    name="paper-digest",
                    open=True,
                )
            return self.pool

    def _told(self, refused: psycopg.Error | None) -> None:
        """How a pool connection attempt went (the first one is what counts)."""
        if not self._pool_told.is_set():
            self._pool_refused = refused
            self._pool_told.set()

    def ready_for_threads(self) -> None:
        """Open the pool with its first connection before anything is claimed.
        A server at ``max_connections`` (or a user at its ``CONNECTION LIMIT``)
        let the session in and refused the pool: each delivery thread's
        statement waited 30 s for a connection, the digest went out, its
        record failed, and the next send sent it again.  Asked before each
        claim; once the pool is open, at no cost.

        The pool's own first attempt is the test (:class:`_Pooled` says how
        it went: the pool itself only retries, for minutes, and says nothing
        of why).  A connection of its own, made and closed first, cost every
        send that claimed anything one more login: 22 ms here (a server
        process started, a SCRAM exchange), 2 ms through PgBouncer.

        Asked outside any transaction of the session's (see the send's
        ``_deliver``): behind PgBouncer in session mode with its pool full,
        the wait here (up to twice ``connect_timeout``) held the first
        batch's subscribers' rows."""
        if self.readonly or self.pool is not None:
            return
        limit = float(self.params["connect_timeout"])
        pool = self._pool()
        self._pool_told.wait(limit)  # (past it, the pool's wait says so)
        if (refused := self._pool_refused) is not None:
            raise StateError(Problem(
                f"{describe(refused, self.params)}; its deliveries are recorded on a connection beside its session, "
                "which was refused: nothing was sent", self.name))
        from psycopg_pool import PoolTimeout

        try:
            pool.wait(timeout=limit)
        except PoolTimeout:
            # (said as "cannot reach PostgreSQL: pool initialization incomplete", and the state
            # taken for silent; behind a full PgBouncer the first connection waits in its queue)
            raise StateError(Problem(
                f"the connection its delivery threads record on was not ready within {2 * limit:g} s (twice "
                "connect_timeout): behind PgBouncer in session mode, its pool for this database and user is full "
                f"(each client connection holds a server connection; a send needs 2 and takes up to {POOL_MAX + 1}: "
                "raise default_pool_size or max_db_connections), else the server is slow to take connections; "
                "nothing was sent", self.name)) from None

    @contextmanager
    def _con(self) -> Iterator[psycopg.Connection]:
        """The session connection in the opening thread, a pooled one elsewhere."""
        if self.session is None:
            raise StateError(Problem("internal error: the state is closed", self.name))
        with self._errors(), self._connection() as con:
            yield con

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection]:
        """:meth:`_con` without turning errors into :class:`StateError`
        (but one closed meanwhile, by another thread, is one)."""
        session = self.session
        if session is None:
            raise self._closed_meanwhile()
        if self.readonly or (threading.get_ident() == self._thread and not self.recorder):
            yield session
        else:
            with self._pool().connection() as con:
                yield con

    def _write(self) -> None:
        if self.readonly:
            raise StateError(Problem("internal error: write to a read-only state", self.name))

    # -- coordination ---------------------------------------------------------------------

    def exclusive(self, wait: float = 600.0, stop: Callable[[], bool] | None = None, sleep=None):
        return nullcontext()

    def stop_waiting_when(self, stop: Callable[[], object] | None) -> None:
        """See :meth:`State.stop_waiting_when`: a statement waits for its
        answer :data:`STOPPING_ANSWER_WITHIN` s at most once ``stop()`` is true."""
        self._stop = stop

    def _stopping(self) -> bool:
        stop = self._stop
        return stop is not None and bool(stop())

    def claims_lost(self) -> str | None:
        """See :meth:`State.claims_lost`: whether the session (and with it
        this worker's lock) has ended.

        Cheap enough for every message: a session between statements has
        nothing to read, so a readable socket means the server said
        something unasked (a FATAL as it ended the session) or closed it;
        only then is it asked (``SELECT 1``).  While the planner uses the
        session, its own statement finds out."""
        session = self.session
        if session is None or self.readonly:
            return None
        if not session.broken and not session.closed:
            lock = getattr(session, "lock", None)  # psycopg's, held while a statement runs
            if lock is None or not lock.acquire(blocking=False):
                return None
            try:
                waiting = bool(select.select([session.fileno()], [], [], 0)[0])
            except (OSError, ValueError, psycopg.Error):
                waiting = True
            finally:
                lock.release()
            if not waiting:
                return None
            try:
                session.execute("SELECT 1")
                return None
            except psycopg.Error as exc:
                self._lost = self._lost or _primary(exc)
        if self._resume():
            return None
        return (
            f"the PostgreSQL session ended ({self._lost or 'connection closed'}): this worker's claimed "
            "digests are any worker's to send now, so it sends no more of them"
        )

    def _resume(self) -> bool:
        """After a restart of the server (a minor upgrade, ``pg_ctl restart``,
        a failover behind the same URL) ended this worker's session: wait
        for the server to take connections again, at most
        :data:`RESUME_WITHIN` s, and take the worker's lock anew on a new
        session; true when it holds it again.  Every claim still recorded
        ``sending`` by this worker is its own again (no worker takes back
        the claims of a worker whose lock is held); one another worker took
        back while the lock was free is not, which :meth:`still_claimed`
        tells before each hand-over.  A session ended on a server that did
        not restart (an administrator's ``pg_terminate_backend``, the server
        ending a worker stopped past its lease: :data:`SESSION_IDLE_LIMIT`)
        is not resumed: that worker was taken for gone.  The lock found held
        by another session is tried again (a liveness probe or a recover()
        holds it a moment; what it took back meanwhile is not this worker's
        any more).  Tried once per loss,
        by whichever thread finds it first; the others wait for its answer."""
        if self.readonly or self._silent is not None or self._postmaster is None:
            return False
        with self._resume_lock:
            old = self.session
            if old is None:
                return False
            if not old.broken and not old.closed:
                return True  # another thread resumed it
            if self._resume_failed:
                return False
            self._resume_failed = True  # (until it works)
            until = time.monotonic() + RESUME_WITHIN
            while not self._stopping():
                left = until - time.monotonic()
                if left <= 0:
                    return False
                con = None
                try:
                    con = _Connection.connect(
                        **{**self.params, "connect_timeout": str(max(1, min(5, round(left))))}, autocommit=True
                    )
                    con.stopping = self._stopping
                    held = _hold(con, self.worker)
                    if held is None:
                        # Some session holds the lock this moment: another worker's
                        # liveness probe (_join_round, _gone) or recover() takes it
                        # briefly, so try again until RESUME_WITHIN runs out (what
                        # was taken back meanwhile, still_claimed fences).
                        con.close()
                        time.sleep(RESUME_EVERY)
                        continue
                    if held[1] == self._postmaster:
                        con.close()  # the same server: the session was ended, not restarted
                        return False
                    con.execute(
                        "INSERT INTO workers (worker, started, owner) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                        (self.worker, self.started, self.owner),
                    )
                except psycopg.Error:  # starting up, shutting down, not listening yet
                    if con is not None:
                        con.close()
                    time.sleep(RESUME_EVERY)
                    continue
                if self._heartbeat is not None:
                    self._heartbeat.stop()
                self.session, (self._backend, self._postmaster) = con, held
                self._heartbeat = _Heartbeat(con, SESSION_IDLE_LIMIT / 4, self._fell_silent)
                log.warning("the PostgreSQL session ended (%s) as the server restarted; this worker resumed it "
                            "on the restarted server and goes on sending its claims", self._lost or "connection closed")
                self._lost, self._resume_failed = None, False
                self.resumed += 1
                try:
                    old.close()
                except psycopg.Error:
                    pass
                return True
            return False

    def still_claimed(self, digest_id: int) -> bool:
        """See :meth:`State.still_claimed`: after a resumed session only, one
        read; while the worker's lock never lapsed its claims are its own."""
        if not self.resumed:
            return True
        rows = self._read_once_more(
            "SELECT 1 FROM digests WHERE id = %s AND status = 'sending' AND worker = %s", (digest_id, self.worker)
        )
        return bool(rows)

    def sent_by_live_workers(self) -> frozenset[str]:
        """See :meth:`State.sent_by_live_workers`: ``sending`` by a worker
        whose session lock is held (one read of the server's lock table)."""
        if self._empty:
            return frozenset()
        with self._con() as con:
            rows = con.execute(
                "SELECT subscriber FROM digests WHERE status = 'sending' AND worker IN (SELECT (classid::bigint << 32) "
                "| objid::bigint FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1 AND granted)"
            ).fetchall()
        return frozenset(subscriber for (subscriber,) in rows)

    def clock(self) -> datetime:
        """See :meth:`State.clock`: the server's."""
        with self._con() as con:
            row = con.execute("SELECT clock_timestamp()").fetchone()
        assert row is not None
        return cast(datetime, row[0]).astimezone(UTC)

    def recover(self) -> list[tuple[int, str, str, str | None]]:
        self._write()
        with self._con() as con:
            self._move_delivered(con)
            workers = [
                r[0]
                for r in con.execute(
                    "SELECT DISTINCT worker FROM digests WHERE status = 'sending' AND worker IS DISTINCT FROM %s",
                    (self.worker,),
                )
            ]
            gone: list[int] = []
            orphans = False  # claimed without a worker key (e.g. copied from SQLite)
            try:
                for worker in workers:
                    if worker is None:
                        orphans = True
                        continue
                    # Held until its claims are taken: let go at once, a worker whose
                    # session a restart ended could take it anew (PostgresState._resume),
                    # find its claims still its own and hand one over as this took it.
                    if con.execute("SELECT pg_try_advisory_lock(%s)", (worker,)).fetchone()[0]:  # type: ignore[index]
                        gone.append(worker)
                if not gone and not orphans:
                    return []
                rows = con.execute(
                    "UPDATE digests SET status = 'pending', uncertain = true, "
                    "last_error = 'interrupted while sending (the run stopped)' "
                    "WHERE status = 'sending' AND (worker = ANY(%s) OR (%s AND worker IS NULL)) "
                    "AND id NOT IN (SELECT digest_id FROM delivered) "  # (went out: see _move_delivered)
                    "RETURNING id, subscriber, message_id, owner",
                    (gone, orphans),
                ).fetchall()
            finally:
                if gone and not con.broken:
                    con.execute("SELECT pg_advisory_unlock(k) FROM unnest(%s::bigint[]) AS k", (gone,))
        return sorted(rows)

    def _move_delivered(self, con: psycopg.Connection) -> None:
        """Move each delivery recorded beside its digest's row (see
        :data:`_V10_DELIVERED`) into that row, now that no session holds it
        (a row held still is passed over: moved by a later send), in one
        statement; nothing to do, the usual case, costs one index look."""
        con.execute(
            "WITH free AS (SELECT d.id FROM digests d JOIN delivered v ON v.digest_id = d.id "
            "FOR UPDATE OF d SKIP LOCKED), "
            "moved AS (UPDATE digests d SET status = 'sent', sent = v.sent, attempts = d.attempts + v.tries, "
            "last_error = NULL, next_attempt = NULL FROM delivered v WHERE v.digest_id = d.id "
            "AND d.status <> 'sent' AND d.id IN (SELECT id FROM free) RETURNING d.id) "
            "DELETE FROM delivered WHERE digest_id IN (SELECT id FROM moved) "
            "OR NOT EXISTS (SELECT 1 FROM digests d WHERE d.id = digest_id AND d.status <> 'sent')"
        )

    @contextmanager
    def claiming(self, emails: Sequence[str], now: datetime) -> Iterator[Batch]:
        self._write()
        if threading.get_ident() != self._thread:
            raise StateError(Problem("internal error: claiming outside the thread that opened the state", self.name))
        keys = sorted({_key(e) for e in emails})
        unconfirmed, self._unconfirmed = self._unconfirmed, frozenset(keys)
        try:
            with self._con() as con, con.transaction():
                held = {
                    r[0]
                    for r in con.execute(
                        "SELECT email FROM subscriber_locks WHERE email = ANY(%s) ORDER BY email FOR UPDATE SKIP LOCKED",
                        (keys,),
                    )
                }
                if again := sorted(unconfirmed.intersection(keys)):  # (held now by another worker too: see _claim_again)
                    self._claim_again(con, again)
                mine = [e for e in emails if _key(e) in held]
                beside: set[str] = set()
                planned = self._plan(con, mine, beside_out=beside)
                recorded: dict[str, str] = {}
                for email in beside:  # (its row is held still, or was till a moment ago: recover moves it)
                    del planned[email]
                    recorded[email] = ("its last digest went out and is recorded beside that digest's row, which "
                                       "another session holds")
                yield _PostgresBatch(self, con, planned, now, recorded=recorded)
        except _TimedOut as exc:
            # A claim waiting past the worker's statement limit on a row another session
            # holds (a digest's, a psql session left in a transaction) said only that.
            raise StateError(Problem(
                f"{exc.problems[0].message}; the claim of a batch of {counted(len(keys), 'subscriber')} waited on it "
                "and was rolled back: nothing of that batch was recorded or sent, and the next send claims it again",
                self.name)) from None
        self._unconfirmed = frozenset()  # the COMMIT answered

    def _claim_again(self, con: psycopg.Connection, keys: Sequence[str]) -> None:
        """The last claim's COMMIT raised (the session ended as the server
        restarted) and these subscribers are claimed once more: a COMMIT
        whose reply was lost may have committed all the same, leaving their
        digests ``sending`` by this worker, though nothing of them was handed
        over.  Put back to what they were before (pending, not uncertain),
        the claim run again takes them as its own, where they were reported
        as another worker's and sent by the next run as "may arrive twice".

        The worker's key is the claim's token: no other worker writes it,
        and one that took the digests back while this worker's lock was
        free (the restart) changed it, so those stay theirs.  Run after the
        resume (this worker's lock held again), so none can be taken back
        between this and the claim.  One whose subscriber another worker
        holds this time is put back all the same: left ``sending`` by a live
        worker it was that worker's "other worker" too, and sent by the next
        run as "may arrive twice"; pending, the next run sends it plainly."""
        rows = con.execute(
            "UPDATE digests SET status = 'pending' "
            "WHERE status = 'sending' AND worker = %s AND subscriber = ANY(%s) RETURNING id",
            (self.worker, list(keys)),
        ).fetchall()
        if rows:
            log.warning("the PostgreSQL server restarted as this worker committed its claim of %d digest(s): the "
                        "claim had committed though its answer was lost; they are this worker's, put back to be "
                        "claimed again (none was sent yet)", len(rows))

    # -- reading --------------------------------------------------------------------------

    def plan(self, emails: Sequence[str], *, with_sent: bool = True) -> dict[str, SubscriberState]:
        if self._empty:
            return {e: SubscriberState(e) for e in emails}
        out: dict[str, SubscriberState] = {}
        with self._con() as con:
            for part in chunks(list(emails), PLAN_CHUNK):
                out.update(self._plan(con, part, with_sent=with_sent))
        return out

    def _plan(
        self, con: psycopg.Connection, emails: Sequence[str], *, with_sent: bool = True,
        beside_out: set[str] | None = None,
    ) -> dict[str, SubscriberState]:
        """``beside_out``: gets the addresses (as given) whose delivered
        digest is recorded beside its row, still to be moved into it."""
        if not emails:
            return {}
        keys = sorted({_key(e) for e in emails})
        # settled_at only matters to a writer (and a reader may face a
        # database from before it: READABLE_SINCE)
        settled = "COALESCE(s.settled_at >= %(started)s, false)" if self.started is not None else "false"
        # One statement, so one snapshot: read in several, a mark committed
        # between them could show a digest neither open nor settled.
        failures = "d.failures" if self.version >= 4 else "0"  # a reader of a database from before it
        settings = "d.settings" if self.version >= 6 else "NULL::text"
        uncertain = "d.uncertain" if self.version >= 7 else "false"
        delivered = self.version >= 10  # (a reader of a database from before it has none)
        sent_sql = _SENT.format(beside_ids=_SENT_BESIDE_IDS if delivered else "",
                            beside_titles=_SENT_BESIDE_TITLES if delivered else "")
        rows = con.execute(
            _PLAN.format(
                settled=settled,
                failures=failures,
                settings=settings,
                uncertain=uncertain,
                beside=_BESIDE if delivered else "false",
                open_only=_NOT_DELIVERED if delivered else "",
                sent=sent_sql if with_sent else "'{}'::text[], '{}'::text[]",
            ),
            {"started": self.started, "keys": keys},
        ).fetchall()
        known = {}
        beside: set[str] = set()
        for (
            k, first, last, served, settled_now, did, status, mid, attempts, created, error, papers, nxt, fails, used,
            doubt, unmoved, sent, titles,
        ) in rows:
            if unmoved:
                beside.add(k)
            opened = (
                None
                if did is None
                else OpenDigest(
                    did, k, status, mid, attempts, tuple(papers), created.astimezone(UTC), error, _utc(nxt), fails, used,
                    bool(doubt),
                )
            )
            known[k] = (_utc(first), _utc(last), _utc(served), opened, sent_keys(sent, titles), bool(settled_now))
        out = {}
        for email in emails:
            first, last, served, opened, sent, settled_now = known[_key(email)]
            out[email] = SubscriberState(email, first, last, served, opened, sent, settled_now)
        if beside_out is not None:
            beside_out.update(email for email in emails if _key(email) in beside)
        return out

    def papers(self, ids: Iterable[str]) -> dict[str, Paper]:
        wanted = list(dict.fromkeys(ids))
        if self._empty or not wanted:
            return {}
        with self._con() as con:
            rows = con.execute("SELECT id, data FROM papers WHERE id = ANY(%s) AND data IS NOT NULL", (wanted,)).fetchall()
        found = {pid: paper_from_json(data) for pid, data in rows}
        return {pid: found[pid] for pid in wanted if pid in found}

    def papers_sent_lately(self, *, with_id: bool) -> list[Paper]:
        if self._empty:
            return []
        with self._con() as con:
            rows = con.execute(
                "SELECT data FROM papers WHERE first_seen >= (SELECT MAX(first_seen) FROM papers) "
                f"- make_interval(days => %s) AND data IS NOT NULL AND {'' if with_id else 'NOT '}"
                f"{ARXIV_ID_SQL.replace('%', '%%')}", (KNOWN_EARLIER_DAYS,),
            ).fetchall()
        return [paper_from_json(data) for (data,) in rows]

    def listed_times(self, after: datetime, before: datetime) -> list[datetime]:
        if self._empty or self.version < 9:  # (a read-only open of an older database: none kept)
            return []
        with self._con() as con:
            rows = con.execute(
                "SELECT DISTINCT last_seen FROM listed WHERE last_seen > %s AND last_seen < %s ORDER BY 1",
                (_aware(after), _aware(before)),
            ).fetchall()
        return [r[0].astimezone(UTC) for r in rows]

    def listed_at(self, after: datetime, before: datetime) -> list[tuple[datetime, Paper]]:
        if self._empty or self.version < 9:
            return []
        with self._con() as con:
            rows = con.execute("SELECT last_seen, data FROM listed WHERE last_seen > %s AND last_seen < %s",
                               (_aware(after), _aware(before))).fetchall()
        return [(seen.astimezone(UTC), paper_from_json(data)) for seen, data in rows]

    def history(self, email: str | None, limit: int) -> list[DigestRecord]:
        if self._empty:
            return []
        where, args = ("WHERE subscriber = %s", (_key(email),)) if email is not None else ("", ())
        status, sent = "status", "sent"
        if self.version >= 10:  # a delivery recorded beside its row (see _V10_DELIVERED) is one
            status, sent = (f"COALESCE((SELECT 'sent' FROM delivered v WHERE v.digest_id = digests.id), {status})",
                            f"COALESCE({sent}, (SELECT v.sent FROM delivered v WHERE v.digest_id = digests.id))")
        with self._con() as con:
            rows = con.execute(
                f"SELECT id, subscriber, {status}, created, {sent}, attempts, message_id, last_error, "
                f"{'uncertain' if self.version >= 7 else 'false'} FROM digests {where} ORDER BY id DESC LIMIT %s",
                (*args, limit),
            ).fetchall()
            papers: dict[int, list[tuple[str, str]]] = {row[0]: [] for row in rows}
            for digest_id, pid, title in con.execute(
                "SELECT dp.digest_id, dp.paper_id, p.title FROM digest_papers dp LEFT JOIN papers p ON p.id = dp.paper_id "
                "WHERE dp.digest_id = ANY(%s) ORDER BY dp.digest_id, dp.position", (list(papers),),
            ).fetchall():
                papers[digest_id].append((pid, title or pid))
        return [
            DigestRecord(i, sub, status, created.astimezone(UTC), sent.astimezone(UTC) if sent else None, attempts,
                         mid, error, tuple(papers[i]), uncertain=uncertain)
            for i, sub, status, created, sent, attempts, mid, error, uncertain in rows
        ]

    def digest_counts(self) -> dict[str, int]:
        if self._empty:
            return {}
        status = ("CASE WHEN id IN (SELECT digest_id FROM delivered) THEN 'sent' ELSE status END"
                  if self.version >= 10 else "status")  # (see history)
        with self._con() as con:
            return {status: n for status, n in con.execute(f"SELECT {status}, count(*) FROM digests GROUP BY 1")}

    def unsubscribed(self, emails: Iterable[str] | None = None) -> dict[str, datetime]:
        if self._empty or self.version < 2:
            return {}
        if emails is not None:
            emails = list(emails)
        if emails is not None and len(emails) <= PLAN_CHUNK:  # a send's batch: only its rows
            rows = self._read_once_more(
                "SELECT email, at FROM unsubscribed WHERE email = ANY(%s)", (sorted({_key(e) for e in emails}),)
            )
        else:
            with self._con() as con:
                rows = con.execute("SELECT email, at FROM unsubscribed").fetchall()
        left = {email: at.astimezone(UTC) for email, at in rows}
        if emails is None:
            return left
        return {e: left[_key(e)] for e in emails if _key(e) in left}

    def link_keys(self) -> frozenset[str]:
        if self._empty or self.version < 8:
            return frozenset()
        with self._con() as con:
            return frozenset(key_id for (key_id,) in con.execute("SELECT key_id FROM link_keys"))

    # -- writing ---------------------------------------------------------------------------

    def record_link_key(self, key_id: str, now: datetime) -> None:
        if key_id in self.link_keys():  # recorded: no write at every send
            return
        self._write()
        with self._con() as con:
            con.execute(
                "INSERT INTO link_keys (key_id, first_used) VALUES (%s, %s) ON CONFLICT DO NOTHING", (key_id, _aware(now))
            )

    # (both as _once_more runs them: a recorder's pooled connection that a
    # restart ended is replaced, and the request is not refused for it)

    def unsubscribe(self, email: str, now: datetime) -> bool:
        self._write()
        return bool(self._once_more(
            "INSERT INTO unsubscribed (email, at) VALUES (%s, %s) ON CONFLICT DO NOTHING RETURNING 1",
            (_key(email), _aware(now)), rows=True,
        ))

    def resubscribe(self, email: str) -> bool:
        self._write()
        return bool(self._once_more("DELETE FROM unsubscribed WHERE email = %s RETURNING 1", (_key(email),), rows=True))

    def see_subscribers(self, emails: Iterable[str], now: datetime) -> None:
        self._write()
        keys = sorted({_key(e) for e in emails})  # one order for every worker: no deadlocks
        with self._con() as con:
            for part in chunks(keys, 5000):
                with con.transaction():
                    con.execute(
                        "INSERT INTO subscribers (email, first_seen) SELECT unnest(%s::text[]), %s ON CONFLICT DO NOTHING",
                        (list(part), _aware(now)),
                    )
                    con.execute(
                        "INSERT INTO subscriber_locks (email) SELECT unnest(%s::text[]) ON CONFLICT DO NOTHING",
                        (list(part),),
                    )

    def see_papers(self, papers: Iterable[Paper], now: datetime) -> int:
        self._write()
        unique = {p.id: p for p in papers}
        new = 0
        with self._con() as con:
            for part in chunks(sorted(unique), 2000):
                cur = con.execute(
                    "INSERT INTO papers (id, title, first_seen, data) "
                    "SELECT i, t, %s, d::jsonb FROM unnest(%s::text[], %s::text[], %s::text[]) AS v(i, t, d) "
                    "ON CONFLICT DO NOTHING",
                    (
                        _aware(now),
                        list(part),
                        [unique[i].title for i in part],
                        [json.dumps(unique[i].to_json(), ensure_ascii=False) for i in part],
                    ),
                )
                new += max(cur.rowcount, 0)
        return new

    def keep_listed(self, papers: Iterable[Paper], now: datetime, keep: timedelta | None = None) -> None:
        self._write()
        unique = {p.id: p for p in papers}
        with self._con() as con, con.transaction():
            # One save at a time: two workers' (each refreshing its own rows,
            # then deleting the old ones, which the other had just refreshed
            # and so locked) waited for each other: "deadlock detected".
            con.execute("SELECT pg_advisory_xact_lock(%s)", (LISTED_LOCK,))
            for part in chunks(sorted(unique), 2000):
                con.execute(
                    "INSERT INTO listed (id, last_seen, data) SELECT i, %s, d::jsonb FROM unnest(%s::text[], %s::text[]) "
                    "AS v(i, d) ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen, data = excluded.data",
                    (_aware(now), list(part), [json.dumps(unique[i].to_json(), ensure_ascii=False) for i in part]),
                )
            con.execute("DELETE FROM listed WHERE last_seen < %s", (_aware(now - (keep or KEEP_LISTED)),))

    def claim(self, items: Sequence[tuple[OpenDigest | None, str, str, Sequence[str]]], now: datetime) -> list[int]:
        self._write()
        with self._con() as con, con.transaction():
            return _claim(self, con, items, now)

    def drop(self, digest_id: int) -> None:
        self._write()
        with self._con() as con:
            _drop(con, digest_id)

    def served(self, emails: Iterable[str], now: datetime) -> None:
        self._write()
        with self._con() as con:
            _served(con, emails, now)

    def _mark(self, sql: str, params: Any) -> None:
        """Record an outcome: one statement (one round trip, atomic, safe to
        repeat), on the connection :meth:`_con` gives; when that connection
        turns out lost (the server restarted mid-send), once more on a fresh
        pooled one, which waits for the server to be back.  A delivery left
        unrecorded goes out again with the next run."""
        self._write()
        self._once_more(sql, params)

    def _read_once_more(self, sql: str, params: Any) -> list[Any]:
        """A read as :meth:`_once_more` makes it: the rows."""
        return self._once_more(sql, params, rows=True)

    def _once_more(self, sql: str, params: Any, *, rows: bool = False) -> list[Any]:
        """One statement on the connection :meth:`_con` gives; when that
        connection turns out lost (the server restarted mid-send), once more
        on a fresh pooled one, which waits for the server to be back (the
        pool's 30 s at most).  A delivery thread's unsubscribe check that
        failed on the connection a restart ended withheld the digest for the
        whole run, though the server was back a second later.

        A statement of its own (no transaction of the caller's around it)
        that the server rolled back (a deadlock with another session: a
        ``psql`` session's transaction holding a subscriber's row and waiting
        for one this statement held) is run again, up to
        :data:`ROLLED_BACK_TRIES` times in all: nothing of it took effect,
        and the other session goes on once this one's locks are gone.  A
        delivered digest's mark failed on it, and the next send sent the
        digest again.  Inside a transaction (a batch's claim) the server
        ended the transaction too: it is named, not run again here."""
        if self.session is None:
            raise StateError(Problem("internal error: the state is closed", self.name))
        with self._errors():
            for tries in range(1, ROLLED_BACK_TRIES + 1):
                used: list[psycopg.Connection] = []
                alone: list[bool] = []
                try:
                    return self._statement(sql, params, rows, used, alone)
                except ROLLED_BACK as exc:
                    alone = alone[-1:] or [False]
                    if alone[0] and tries < ROLLED_BACK_TRIES:
                        log.warning("%s: %s; running it again", self.name, describe(exc, self.params))
                        continue
                    said = f"; run {tries} times, rolled back each time" if tries > 1 else (
                        "; not run again: the transaction it was part of was rolled back with it" if not alone[0] else "")
                    raise RolledBack(Problem(describe(exc, self.params) + said, self.name)) from None
        raise AssertionError("unreachable")  # (the last try returns or raises)

    def _statement(self, sql: str, params: Any, rows: bool, used: list[psycopg.Connection],
                   alone: list[bool]) -> list[Any]:
        """:meth:`_once_more`'s one try; ``used`` gets the connections it ran
        on, ``alone`` whether a statement the server rolled back was a
        transaction of its own (decided while the connection is still this
        thread's: once back in the pool, another delivery thread's statement
        on it reads ACTIVE, and a lost mark was not run again)."""
        try:
            with self._connection() as con:
                return _execute(con, sql, params, rows, used, alone)
        except psycopg.OperationalError as exc:
            if not used or not used[0].broken or isinstance(exc, NoAnswer):  # (no answer: no restart either)
                raise
            if rows and (self.readonly or (threading.get_ident() == self._thread and not self.recorder)):
                raise  # a read on the session: its user finds out (a resumed session, or SessionEnded)
        pool = self._pool()
        pool.check()  # the restart ended its other connections too
        with pool.connection() as con:
            return _execute(con, sql, params, rows, used, alone)

    def mark_sent(self, digest_id: int, email: str, tries: int, now: datetime) -> None:
        params = {"now": _aware(now), "tries": tries, "id": digest_id, "email": _key(email)}
        try:
            self._mark(
                "WITH d AS (UPDATE digests SET status = 'sent', sent = %(now)s, attempts = attempts + %(tries)s, "
                "last_error = NULL, next_attempt = NULL WHERE id = %(id)s RETURNING subscriber) "
                "UPDATE subscribers SET last_sent = %(now)s, last_served = %(now)s, settled_at = clock_timestamp() "
                "WHERE email = %(email)s",
                params,
            )
        except _Cancelled as exc:
            self._mark_sent_past_locked_subscribers([(digest_id, email, tries)], now, exc)

    def mark_sent_many(self, items: Sequence[tuple[int, str, int]], now: datetime) -> None:
        """One statement for any number of deliveries."""
        self._write()
        if not items:
            return
        try:
            self._mark(
                "WITH d AS (UPDATE digests d SET status = 'sent', sent = %(now)s, attempts = d.attempts + v.tries, "
                "last_error = NULL, next_attempt = NULL FROM unnest(%(ids)s::bigint[], %(tries)s::integer[]) "
                "AS v(id, tries) WHERE d.id = v.id RETURNING d.subscriber) "
                "UPDATE subscribers SET last_sent = %(now)s, last_served = %(now)s, settled_at = clock_timestamp() "
                "WHERE email IN (SELECT subscriber FROM d)",
                {"now": _aware(now), "ids": [i for i, _, _ in items], "tries": [t for _, _, t in items]},
            )
        except _Cancelled as exc:
            self._mark_sent_past_locked_subscribers(items, now, exc)

    def _mark_sent_past_locked_subscribers(self, items: Sequence[tuple[int, str, int]], now: datetime,
                                           exc: _Cancelled) -> None:
        """Delivered digests' marks the server cancelled at the worker's
        statement limit: another session (a ``psql`` session left in a
        transaction, a hand-run ``UPDATE``) held a subscriber's row or a
        digest's all that time.  The send stopped on it (exit 2) with the
        delivered digests unrecorded, and the next send sent them again,
        though the mail server had accepted them.  Now every digest whose own
        row is free is recorded ``sent``, with the send times of the
        subscribers whose rows are free, in one statement that passes over
        the held rows of both tables (``SKIP LOCKED``): a held subscriber
        keeps its older send time, named in one warning.  A digest whose own
        row is held is recorded delivered beside it (the ``delivered`` table,
        see :data:`_V10_DELIVERED`), which no other session's lock can
        hold up: before, that one stopped the send (exit 2), and the next
        send sent it again.  (Waiting on the digests' rows, one held digest
        row failed its whole group, and every digest of it went out again.)"""
        try:
            left = self._once_more(
                "WITH t AS (SELECT id FROM digests WHERE id = ANY(%(ids)s) FOR UPDATE SKIP LOCKED), "
                "d AS (UPDATE digests d SET status = 'sent', sent = %(now)s, attempts = d.attempts + v.tries, "
                "last_error = NULL, next_attempt = NULL FROM unnest(%(ids)s::bigint[], %(tries)s::integer[]) "
                "AS v(id, tries) WHERE d.id = v.id AND d.id IN (SELECT id FROM t) RETURNING d.subscriber), "
                "h AS (SELECT id, subscriber FROM digests WHERE id = ANY(%(ids)s) AND id NOT IN (SELECT id FROM t)), "
                "b AS (INSERT INTO delivered (digest_id, sent, tries) SELECT h.id, %(now)s, v.tries FROM h JOIN "
                "unnest(%(ids)s::bigint[], %(tries)s::integer[]) AS v(id, tries) ON v.id = h.id "
                "ON CONFLICT (digest_id) DO NOTHING RETURNING digest_id), "
                "mine AS (SELECT subscriber FROM d UNION SELECT subscriber FROM h), "
                "free AS (SELECT email FROM subscribers WHERE email IN (SELECT subscriber FROM mine) "
                "FOR UPDATE SKIP LOCKED), "
                "s AS (UPDATE subscribers SET last_sent = %(now)s, last_served = %(now)s, settled_at = clock_timestamp() "
                "WHERE email IN (SELECT email FROM free) RETURNING email) "
                "SELECT NULL::bigint, subscriber FROM mine WHERE subscriber NOT IN (SELECT email FROM s) "
                "UNION ALL SELECT id, subscriber FROM h",  # (b, an INSERT, runs unreferenced)
                {"now": _aware(now), "ids": [i for i, _, _ in items], "tries": [t for _, _, t in items]},
                rows=True,
            )
        except _Cancelled as again:
            self._not_recorded(again.problems[0].message, [email for _, email, _ in items])
        held = sorted(email for digest, email in left if digest is None)
        if not left:  # (cancelled by request, no row held: recorded as the statement would have)
            log.warning("%s; %s recorded sent on a second try (none goes again)", exc,
                        "the digest is" if len(items) == 1 else f"the {len(items)} digests are")
        if held:
            log.warning(
                "%s; the %s recorded sent all the same (none goes again), but not the send time of %s, whose row "
                "another session holds: %s due again before %s schedule says (with only papers not yet sent; "
                "a worker finding it due with nothing left passes over the held row, leaving it due, not waiting on it)",
                exc, "digest is" if len(items) == 1 else "digests are", ", ".join(held),
                "it may be" if len(held) == 1 else "they may be", "its" if len(held) == 1 else "their")
        if beside := sorted(email for digest, email in left if digest is not None):
            log.warning(
                "%s; %s delivered to %s %s recorded sent beside %s row, which another session holds (none goes "
                "again); %s until a send finds the row free and moves the record into it",
                exc, "the digest" if len(beside) == 1 else "the digests", ", ".join(beside),
                "is" if len(beside) == 1 else "are", "its" if len(beside) == 1 else "their",
                "that subscriber gets nothing more" if len(beside) == 1 else "those subscribers get nothing more")

    def _not_recorded(self, why: str, emails: Sequence[str]) -> NoReturn:
        """Stop the send on delivered digests whose records could not be made
        (the statement that passes over held rows was cancelled too: an
        overloaded server): named, as going again with the next send."""
        emails = sorted(emails)
        who = ", ".join(emails[:5]) + (f" and {len(emails) - 5} more" if len(emails) > 5 else "")
        raise StateError(Problem(
            f"{why}; {'this delivered digest' if len(emails) == 1 else 'these delivered digests'}"
            f" could not be recorded as sent ({who}): the next send sends "
            f"{'it' if len(emails) == 1 else 'them'} again, with the same Message-ID", self.name)) from None

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
        # Only while the claim is this worker's: once its session ended, another
        # worker may have taken the digest back (recover) and be sending it.
        self._mark(
            "UPDATE digests SET status = %s, attempts = attempts + %s, last_error = %s, next_attempt = %s, "
            "failures = (CASE WHEN %s THEN 0 ELSE failures END) + %s, settings = %s, uncertain = uncertain OR %s "
            "WHERE id = %s AND status = 'sending' AND worker = %s",
            # not attempted: not a failure of this digest's
            (
                "failed" if permanent else "pending", tries, error, next_attempt, bool(tries and restart),
                1 if tries else 0, settings, uncertain, digest_id, self.worker,
            ),
        )


def _claim(
    state: PostgresState,
    con: psycopg.Connection,
    items: Sequence[tuple[OpenDigest | None, str, str, Sequence[str]]],
    now: datetime,
) -> list[int]:
    """Commit ``items`` as ``sending`` (inside the caller's transaction), a few statements for all."""
    if not items:
        return []
    now = _aware(now)
    reused = [(open_.id, mid) for open_, _, mid, _ in items if open_ is not None]
    if reused:
        claimed = {
            r[0]
            for r in con.execute(
                "UPDATE digests d SET status = 'sending', owner = %s, claimed_at = %s, worker = %s, message_id = v.mid "
                "FROM unnest(%s::bigint[], %s::text[]) AS v(id, mid) WHERE d.id = v.id AND d.status IN ('pending', 'failed') "
                "RETURNING d.id",
                (state.owner, now, state.worker, [i for i, _ in reused], [m for _, m in reused]),
            )
        }
        if changed := [did for did, _ in reused if did not in claimed]:
            raise _changed_meanwhile(state, con, changed)
        con.execute("DELETE FROM digest_papers WHERE digest_id = ANY(%s)", ([i for i, _ in reused],))
    fresh = [(_key(email), mid) for open_, email, mid, _ in items if open_ is None]
    new_ids: dict[str, int] = {}
    if fresh:
        rows = con.execute(
            "INSERT INTO digests (subscriber, status, message_id, created, owner, claimed_at, worker) "
            "SELECT s, 'sending', m, %s, %s, %s, %s FROM unnest(%s::text[], %s::text[]) AS v(s, m) "
            "RETURNING id, subscriber",
            (now, state.owner, now, state.worker, [s for s, _ in fresh], [m for _, m in fresh]),
        ).fetchall()
        new_ids = {sub: did for did, sub in rows}
    ids = [open_.id if open_ is not None else new_ids[_key(email)] for open_, email, _, _ in items]
    digest_col, paper_col, pos_col = [], [], []
    for did, (_, _, _, paper_ids) in zip(ids, items):
        for n, pid in enumerate(paper_ids):
            digest_col.append(did)
            paper_col.append(pid)
            pos_col.append(n)
    if digest_col:
        with con.cursor().copy("COPY digest_papers (digest_id, paper_id, position) FROM STDIN") as copy:
            for row in zip(digest_col, paper_col, pos_col):
                copy.write_row(row)
    return ids


def _changed_meanwhile(state: PostgresState, con: psycopg.Connection, ids: Sequence[int]) -> RolledBack:
    """A digest the batch read as owed was recorded otherwise before its
    claim: the mark of a delivery that finished after its worker's session
    had ended and another worker had taken its claims back (the marks take
    no planner's lock, and the claim's UPDATE reads the committed row).
    Said "changed under us" and taken for a broken state, it stopped the
    worker (exit 2); nothing of the batch is recorded (its transaction rolls
    back), so it is planned again (:class:`RolledBack`, see the send's
    ``_claimed``), and the new plan sees the digest sent: nothing of it goes
    again."""
    did = ids[0]
    row = con.execute("SELECT subscriber, status FROM digests WHERE id = %s", (did,)).fetchone()
    who, status = (row[0], row[1]) if row is not None else ("?", "removed")
    more = f" (and {len(ids) - 1} more)" if len(ids) > 1 else ""
    return RolledBack(Problem(
        f"digest {did} for {who}{more} was recorded {status} by another worker while this one planned it (a delivery "
        "that finished after its worker's session had ended); nothing of this batch was recorded", state.name))


class _PostgresBatch(Batch):
    """Changes made inside :meth:`PostgresState.claiming`'s transaction."""

    def __init__(
        self, state: PostgresState, con: psycopg.Connection, subscribers: dict[str, SubscriberState], now: datetime,
        recorded: dict[str, str] | None = None,
    ) -> None:
        self.state, self.con, self.subscribers, self.now = state, con, subscribers, now
        self.held: dict[str, str] = {}
        self.recorded = recorded or {}

    def claim(self, items):
        """See :meth:`Batch.claim`; a digest whose row another session holds
        past the worker's statement limit (a ``psql`` session left in a
        transaction) is left out, its subscriber named in :attr:`held`, and
        the rest claimed.  The claim's UPDATE waited on that row, and its
        cancellation at the limit rolled the whole batch back and stopped the
        send (exit 2): nobody's digest went out.  Waited on in a savepoint,
        a row held a moment (another worker's mark) is waited for as before,
        and the planned digests' rows are not locked before the claim, so a
        late mark of one still finds it owed (see :func:`_changed_meanwhile`)."""
        con = self.con
        with self.state._errors():
            try:
                with con.transaction():
                    return _claim(self.state, con, items, self.now)
            except pg_errors.QueryCanceled as exc:
                if not _timed_out(exc):
                    raise
                cancelled, why = exc, describe(exc, self.state.params)
            reused = [open_.id for open_, *_ in items if open_ is not None]
            held_ids = {did for (did,) in con.execute(
                "WITH free AS (SELECT id FROM digests WHERE id = ANY(%(ids)s) FOR UPDATE SKIP LOCKED) "
                "SELECT id FROM digests WHERE id = ANY(%(ids)s) AND id NOT IN (SELECT id FROM free)", {"ids": reused},
            ).fetchall()}
            if not held_ids:  # (another table's row, or let go meanwhile: the batch as a whole, said so)
                raise cancelled
            rest = []
            for item in items:
                if item[0] is not None and item[0].id in held_ids:
                    self.held[item[1]] = why
                else:
                    rest.append(item)
            with con.transaction():
                return _claim(self.state, con, rest, self.now)

    def drop(self, digest_id: int) -> None:
        with self.state._errors():
            _drop(self.con, digest_id)

    def served(self, emails: Iterable[str]) -> None:
        with self.state._errors():
            _served(self.con, emails, self.now)


def _drop(con: psycopg.Connection, digest_id: int) -> None:
    """Forget an unsent digest that has nothing left to send."""
    con.execute("DELETE FROM digests WHERE id = %s AND status <> 'sent'", (digest_id,))


def _served(con: psycopg.Connection, emails: Iterable[str], now: datetime) -> None:
    """Due subscribers with nothing to send: their slot is settled, passing
    over a row another session holds (``SKIP LOCKED``).  The row a
    delivered digest's record was made without (see
    :meth:`PostgresState._mark_sent_past_locked_subscribers`) is still held
    when the round's other workers find that subscriber due with nothing
    left: each waited on it for its whole statement limit and stopped (exit
    2).  A settle passed over leaves the subscriber due, which the next
    send settles (nothing to send is lost)."""
    con.execute(
        "UPDATE subscribers SET last_served = %s, settled_at = clock_timestamp() WHERE email IN "
        "(SELECT email FROM subscribers WHERE email = ANY(%s) FOR UPDATE SKIP LOCKED)",
        (_aware(now), sorted({_key(e) for e in emails})),
    )


def _execute(con: psycopg.Connection, sql: Any, params: Any, rows: bool, used: list[psycopg.Connection],
             alone: list[bool]) -> list[Any]:
    """One statement of :meth:`PostgresState._statement` on ``con``."""
    used.append(con)
    try:
        cur = con.execute(sql, params)
    except ROLLED_BACK:
        alone.append(con.info.transaction_status == TransactionStatus.IDLE)
        raise
    return cur.fetchall() if rows else []


def _stay_open(con: psycopg.Connection, limit: float = 0.0) -> None:
    """Exempt a writer's connection from ``idle_session_timeout`` (PostgreSQL
    14+), which a database may set to end forgotten sessions: a worker's
    session sits idle while a slow mail server takes a batch, and ending it
    frees the worker's claims (see :meth:`PostgresState.claims_lost`).
    ``limit`` (seconds): the worker's own limit instead, for the session a
    :class:`_Heartbeat` keeps busy (see :data:`SESSION_IDLE_LIMIT`); it
    holds inside a transaction too (a planner whose client vanished
    mid-claim held its subscribers' rows as well).

    The limits a database may set on statements (``statement_timeout``,
    ``lock_timeout``, and PostgreSQL 17's ``transaction_timeout``) give way
    to the worker's own, :func:`statement_limit`: a short one, meant for
    runaway queries, cancelled a delivered digest's record (sent again by the
    next run) or a first send's insert of its subscribers waiting on another
    worker's (the worker stopped, exit 2)."""
    ms, version = round(limit * 1000), con.info.server_version
    settings = {
        "idle_session_timeout": ms if version >= 140000 else None,
        "idle_in_transaction_session_timeout": ms or None,
        "statement_timeout": round(statement_limit() * 1000),
        "lock_timeout": 0,  # (bounded by statement_timeout)
        "transaction_timeout": 0 if version >= 170000 else None,
    }
    con.execute("; ".join(f"SET {name} = {value}" for name, value in settings.items() if value is not None))
    if isinstance(con, _Connection):
        con.limit_set = True


class _Heartbeat:
    """Says ``SELECT 1`` on a worker's session every ``every`` seconds it is
    not in use, from a thread of its own: the session never idles for
    :data:`SESSION_IDLE_LIMIT` while the worker lives, however long a mail
    server takes, and the server ends it when only a proxy is left at the
    other end.  It ends with the session."""

    def __init__(self, session: psycopg.Connection, every: float, silent: Callable[[NoAnswer], None]) -> None:
        """``silent``: told when the server did not answer (the session is
        finished then, and the state tries no further statement)."""
        self.stopping = threading.Event()
        self.silent = silent
        self.thread = threading.Thread(
            target=self._beat, args=(session, every), name="pg-heartbeat", daemon=True
        )
        self.thread.start()

    def _beat(self, session: psycopg.Connection, every: float) -> None:
        while not self.stopping.wait(every):
            if session.closed or session.broken:
                return
            if session.lock.locked():  # a statement under way: the session is not idle
                continue
            try:
                session.execute("SELECT 1")
            except NoAnswer as exc:
                self.silent(exc)
                return
            except psycopg.Error:
                pass  # the session ended, or its transaction failed: its user finds out itself

    def stop(self) -> None:
        self.stopping.set()
        if self.thread is not threading.current_thread():
            self.thread.join(timeout=1.0)  # (a beat waiting on a silent server ends with the session)


def _hold(con: psycopg.Connection, worker: int) -> tuple[int, datetime] | None:
    """Make ``con`` a writer's session and take ``worker``'s lock on it: the
    server process (a pooler's client connection reports one of its own)
    and when the server started; None when another session holds the lock.

    The server, too, must notice a worker whose host vanished (its own
    keepalive default is hours): then the session, and the lock that says
    the worker lives, end in about a minute."""
    for setting, value in SERVER_KEEPALIVES.items():
        con.execute(f"SET {setting} = {value}")
    _stay_open(con, SESSION_IDLE_LIMIT)
    row = con.execute(
        "SELECT pg_try_advisory_lock(%s), pg_backend_pid(), pg_postmaster_start_time()", (worker,)
    ).fetchone()
    assert row is not None
    return (row[1], row[2]) if row[0] else None


def _gone(con: psycopg.Connection, worker: int) -> bool:
    """Whether ``worker``'s session has ended: its advisory lock is free (taken
    and let go at once to find out)."""
    if con.execute("SELECT pg_try_advisory_lock(%s)", (worker,)).fetchone()[0]:  # type: ignore[index]
        con.execute("SELECT pg_advisory_unlock(%s)", (worker,))
        return True
    return False


# --------------------------------------------------------------------------- from SQLite


@contextmanager
def _snapshot(db: Any) -> Iterator[None]:
    """One read transaction around the copy's reads: every table as of one
    moment (an unsubscribe through `serve` may still be written meanwhile)."""
    db.execute("BEGIN")
    try:
        yield
    finally:
        db.execute("ROLLBACK")


def import_sqlite(source: Any, target: PostgresState) -> dict[str, int]:
    """Copy every row of the SQLite state ``source`` into ``target`` (empty), in one transaction.

    Digests keep their ids, status, attempts, errors and Message-IDs; one
    left ``sending`` by a run that stopped arrives ``pending``, so the next
    send delivers it with its Message-ID.  Returns the row counts.
    """
    db = source.db
    if db is None:
        raise StateError(Problem("no SQLite state here (nothing to migrate)", source.name))
    con = target.session
    assert con is not None
    counts: dict[str, int] = {}
    with target._errors(), con.transaction():
        # The worker's statement limit (statement_limit) is for a send's
        # statements: a copy of a big state streams for minutes in one COPY.
        con.execute("SET LOCAL statement_timeout = 0")
        held = con.execute(
            "SELECT (SELECT count(*) FROM papers), (SELECT count(*) FROM subscribers), (SELECT count(*) FROM digests)"
        ).fetchone()
        if held and any(held):
            raise StateError(
                Problem(
                    f"the database already holds a state ({counted(held[0], 'paper')}, {counted(held[1], 'subscriber')}, "
                    f"{counted(held[2], 'digest')}); "
                    "migrate into an empty database",
                    target.name,
                )
            )
        iso = lambda v: datetime.fromisoformat(v) if v else None  # noqa: E731
        tables = {
            "papers": ("SELECT id, title, first_seen, data FROM papers", (0, 0, 1, 0)),
            "subscribers": ("SELECT email, first_seen, last_sent, last_served FROM subscribers", (0, 1, 1, 1)),
            "digests": (
                "SELECT id, subscriber, CASE status WHEN 'sending' THEN 'pending' ELSE status END, attempts, "
                "CASE status WHEN 'sending' THEN 'interrupted while sending (the run stopped)' ELSE last_error END, "
                "message_id, created, sent, next_attempt, owner, claimed_at FROM digests",
                (0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 1),
            ),
            "digest_papers": ("SELECT digest_id, paper_id, position FROM digest_papers", (0, 0, 0)),
        }
        columns = {
            "papers": "id, title, first_seen, data",
            "subscribers": "email, first_seen, last_sent, last_served",
            "digests": "id, subscriber, status, attempts, last_error, message_id, created, sent, next_attempt, owner, claimed_at",
            "digest_papers": "digest_id, paper_id, position",
        }
        if getattr(source, "version", 1) >= 3:  # failed runs per digest
            select, kinds = tables["digests"]
            tables["digests"] = (select.replace(" FROM digests", ", failures FROM digests"), (*kinds, 0))
            columns["digests"] += ", failures"
        if getattr(source, "version", 1) >= 4:  # the delivery settings of a failed run
            select, kinds = tables["digests"]
            tables["digests"] = (select.replace(" FROM digests", ", settings FROM digests"), (*kinds, 0))
            columns["digests"] += ", settings"
        # left `sending`: may have gone out (see OpenDigest.uncertain)
        doubt = "uncertain" if getattr(source, "version", 1) >= 5 else "0"
        select, kinds = tables["digests"]
        tables["digests"] = (
            select.replace(" FROM digests", f", status = 'sending' OR {doubt} FROM digests"), (*kinds, 2)
        )
        columns["digests"] += ", uncertain"
        if getattr(source, "version", 1) >= 2:  # who unsubscribed stays out
            tables["unsubscribed"] = ("SELECT email, at FROM unsubscribed", (0, 1))
            columns["unsubscribed"] = "email, at"
        if getattr(source, "version", 1) >= 6:  # the keys links were made with: serve's warning of an old key
            tables["link_keys"] = ("SELECT key_id, first_used FROM link_keys", (0, 1))
            columns["link_keys"] = "key_id, first_used"
        if getattr(source, "version", 1) >= 7:  # the papers kept for the digests due later (a weekly one's week)
            tables["listed"] = ("SELECT id, last_seen, data FROM listed", (0, 1, 0))
            columns["listed"] = "id, last_seen, data"
        with source._errors(), _snapshot(db):
            for table, (select, kinds) in tables.items():
                n = 0
                with con.cursor().copy(f"COPY {table} ({columns[table]}) FROM STDIN") as copy:
                    for row in db.execute(select):
                        copy.write_row([iso(v) if kind == 1 else bool(v) if kind == 2 else v for v, kind in zip(row, kinds)])
                        n += 1
                counts[table] = n
        con.execute(
            "SELECT setval(pg_get_serial_sequence('digests', 'id'), GREATEST((SELECT max(id) FROM digests), 1), "
            "(SELECT max(id) FROM digests) IS NOT NULL)"
        )
    return counts
