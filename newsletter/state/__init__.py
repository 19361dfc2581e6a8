"""The state: which papers each subscriber got, and every digest's fate.

:class:`State` is the interface both backends honour; :func:`open_state`
picks one from the config's ``state:`` value:

- a file path: :mod:`.sqlite` (the embedded default; one sender at a time,
  kept apart by a lock file);
- ``postgresql://user@host:port/db``: :mod:`.postgres` (any number of send
  workers on any hosts, splitting the subscribers between them).  The
  password comes from ``PGPASSWORD`` or a ``.pgpass`` file, never the URL.

Everything outside this package imports from here, never from a backend, so
a new backend is a new module plus a branch in :func:`open_state`.  One test
suite (tests/test_state.py) runs against both.

The guarantees (PRODUCT.md "State") rest on one protocol that both keep:

1. a digest is committed as ``sending`` (with its papers and Message-ID)
   before a transport sees it, inside :meth:`State.claiming`, which gives
   each subscriber to exactly one worker at a time;
2. it is marked ``sent`` right after the server accepted it
   (:meth:`State.mark_sent`), or ``pending``/``failed`` when it was not;
3. "sent to this subscriber" means "in a digest whose status is ``sent``";
4. a digest left ``sending`` by a worker that is gone goes back to
   ``pending`` (:meth:`State.recover`) and is sent again, with the same
   Message-ID.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import socket
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from ..errors import Problem, StateError, counted
from ..models import Paper, normalize_title
from ..retrying import waiting

#: URL schemes that select PostgreSQL.
DATABASE_SCHEMES = ("postgresql", "postgres")


def is_database_url(target: str | os.PathLike) -> bool:
    """True for ``postgresql://...`` (the PostgreSQL backend), False for a file path."""
    return isinstance(target, str) and target.split(":", 1)[0].lower() in DATABASE_SCHEMES and "://" in target


#: A password among a URL's query parameters (``?password=...``, ``sslpassword=...``).
_QUERY_PASSWORD = re.compile(r"((?:^|&)(?:ssl)?password=)[^&]*", re.IGNORECASE)


def public_url(url: str) -> str:
    """``url`` without its password, for messages and logs: the one after
    the user and any given as a query parameter.  A URL that does not parse
    (``postgresql://u:pw@[host/db``) is shown up to its user, whatever its
    error: naming it must not fail, nor show what follows a colon there."""
    try:
        parts = urlsplit(url)
        password, host, port = parts.password, parts.hostname or "", parts.port
    except ValueError:
        scheme, _, rest = url.partition("://")
        user = rest.split("@", 1)[0].split(":", 1)[0] if "@" in rest else ""
        return f"{scheme}://{user}@..." if user else f"{scheme}://..."
    if password is None and not _QUERY_PASSWORD.search(parts.query):
        return url
    netloc = parts.netloc
    if password is not None:
        if ":" in host:
            host = f"[{host}]"
        netloc = f"{parts.username or ''}@{host}" + (f":{port}" if port else "")
    return urlunsplit(parts._replace(netloc=netloc, query=_QUERY_PASSWORD.sub(r"\1***", parts.query)))


#: A libpq ``key=value`` connection string (``host=db dbname=digest``).
_CONNINFO = re.compile(r"^\s*(host|hostaddr|dbname|user|port|service|password)\s*=", re.IGNORECASE)


def check_state_target(value: str, *, file_ok: bool = True) -> str:
    """Config check for ``state:``: a database URL must not carry a password;
    a file path is a SQLite file.  What is neither, though it would make a
    file name (a libpq connection string, a SQLAlchemy or another
    database's URL), is refused saying what to write: taken as a file, it
    left each worker a SQLite state of its own."""
    not_url = _not_a_state_url(value, file_ok=file_ok)
    if not_url:
        raise ValueError(not_url)
    if is_database_url(value):
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 -- raises on a bad port
        except ValueError as exc:
            raise ValueError(f"not a valid PostgreSQL URL ({exc})") from None
        if parts.password is not None:
            raise ValueError(
                # said of `state migrate --to` too: there it is a command line, not the config
                f"{public_url(value)!r} has a password in it: keep it out of the URL "
                "(set PGPASSWORD or add it to ~/.pgpass) and write postgresql://user@host:port/db"
            )
        if "password=" in parts.query.lower():
            raise ValueError("the URL sets password=...: keep it out of the URL (set PGPASSWORD or use ~/.pgpass)")
        if not parts.path.strip("/"):
            raise ValueError(f"{value!r} names no database (write postgresql://user@host:port/db)")
        from psycopg import ProgrammingError
        from psycopg.conninfo import conninfo_to_dict

        try:  # libpq's own check: a setting it does not know (?sslmod=...) stopped every send, and only send
            conninfo_to_dict(value)
        except ProgrammingError as exc:
            raise ValueError(f"not a valid PostgreSQL URL: {' '.join(str(exc).split())}") from None
    return value


def _not_a_state_url(value: str, *, file_ok: bool = True) -> str | None:
    """Why ``value`` is neither a SQLite file path nor a ``postgresql://`` URL, or None.
    ``file_ok`` False: only a URL will do (``state migrate --to``)."""
    if _CONNINFO.match(value) and "/" not in value:
        from psycopg.conninfo import conninfo_to_dict

        try:
            params = conninfo_to_dict(value)
        except Exception:  # psycopg.ProgrammingError: not a connection string after all
            return None
        if "password" in params:
            return "a libpq connection string with password=...: keep the password out of the config " \
                "(set PGPASSWORD or use ~/.pgpass) and write postgresql://user@host:port/db"
        user = f"{params['user']}@" if params.get("user") else ""
        port = f":{params['port']}" if params.get("port") else ""
        url = f"postgresql://{user}{params.get('host', '')}{port}/{params.get('dbname', '')}"
        return f"{value!r} is a libpq connection string; write it as a URL: {url}"
    scheme, sep, rest = value.partition("://")
    if not sep or not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", scheme) or scheme.lower() in DATABASE_SCHEMES:
        return None
    base = scheme.lower().split("+")[0]
    if base in ("sqlite", "sqlite3"):
        return f"write the SQLite file's path, not a URL: state: {rest[1:] if rest.startswith('/') else rest}"
    if base in DATABASE_SCHEMES:
        return f"{scheme}:// is SQLAlchemy's form; write {public_url(f'{base}://{rest}')}"
    wanted = "a SQLite file's path or a postgresql:// URL" if file_ok else "a postgresql://user@host:port/db URL"
    return f"{scheme!r} databases are not supported: give {wanted}"


def key(email: str) -> str:
    """How a subscriber is stored: the address stripped and lower-cased."""
    return email.strip().lower()


def owner_id() -> str:
    """Who claimed a digest: ``pid@host``, shown when a stale claim is found."""
    return f"{os.getpid()}@{_hostname()}"


@functools.cache
def _hostname() -> str:
    return socket.gethostname()  # a system call each time, and claims are frequent


@dataclass(frozen=True)
class DigestRecord:
    """One digest as the state keeps it, for ``newsletter history``: whether
    and when it went out, with which Message-ID (to find it in a relay's
    log) and which papers (ids and titles, in the digest's order)."""

    id: int
    subscriber: str
    status: str
    created: datetime
    sent: datetime | None
    attempts: int
    message_id: str
    last_error: str | None
    papers: tuple[tuple[str, str], ...]
    #: Why the state refused its outcome, which a send noted beside it
    #: (SQLite's ``<state>.unrecorded``) for the next send to record; the
    #: record shows that outcome already.  None: recorded.
    unrecorded: str | None = None
    #: An earlier run may have delivered it (killed mid-send, or the server
    #: closed or went silent after the whole message): owed, it goes again as
    #: it was; sent, it may have arrived twice (see :attr:`OpenDigest.uncertain`).
    uncertain: bool = False


@dataclass(frozen=True)
class OpenDigest:
    """A digest owed to a subscriber: pending, failed, or left ``sending`` by a
    run that stopped.  Its Message-ID is reused when it is sent again."""

    id: int
    subscriber: str
    status: str
    message_id: str
    attempts: int
    paper_ids: tuple[str, ...]
    created: datetime
    last_error: str | None = None
    #: Not to be tried again before this (back-off after a failed run).
    next_attempt: datetime | None = None
    #: Runs that failed to deliver it (any kind).
    failures: int = 0
    #: The delivery settings its last failed run used
    #: (:func:`delivery.settings_fingerprint`); None when not recorded.
    settings: str | None = None
    #: Left ``sending`` by a run that stopped (:meth:`State.recover`): the
    #: server may have it.  It goes again as it was, its Message-ID and its
    #: papers only: a reader's mail program that keeps one message per
    #: Message-ID would hide a second copy grown by newer papers, which
    #: were then recorded sent and never seen.
    uncertain: bool = False

    def retry_from(self, settings: str) -> datetime | None:
        """When its back-off lets it be tried again, or None: no wait.

        ``settings``: the fingerprint of the delivery settings now.  The
        back-off waits for a server to recover; when the settings it failed
        with have changed since (the user fixed a wrong port or host), it
        need not wait.  A digest recorded without them keeps its wait."""
        if self.settings is not None and self.settings != settings:
            return None
        return self.next_attempt

    @property
    def held(self) -> bool:
        """Refused permanently, run after run: no more automatic attempts."""
        return self.status == "failed" and self.failures >= HOLD_AFTER


#: A digest refused permanently (5xx) this many runs is held, not retried.
HOLD_AFTER = 3


@dataclass(frozen=True)
class SubscriberState:
    """Everything the send engine needs to know about one subscriber, read in
    one batch (:meth:`State.plan`): a handful of queries for many subscribers
    instead of five per subscriber, which matters over a network."""

    email: str
    first_seen: datetime | None = None
    last_sent: datetime | None = None
    #: The last run that settled this subscriber's due digest: delivered, or
    #: nothing to send (the last delivery when no such run is recorded).  The
    #: schedule counts slots from here, so a slot with no new papers does not
    #: keep the subscriber due until papers arrive.
    last_served: datetime | None = None
    open: OpenDigest | None = None
    sent_paper_ids: frozenset[str] = field(default=frozenset())
    #: A worker settled this subscriber (delivered, or found nothing to send)
    #: in this worker's round (workers whose runs overlap), so it is not due
    #: again in this round, schedule or not.  Only a shared state
    #: (PostgreSQL) sets it; on SQLite one sender runs at a time.
    settled_since_start: bool = False


class Batch(ABC):
    """Subscribers held by this worker while it plans their digests (:meth:`State.claiming`).

    ``subscribers`` holds the ones this worker got, keyed by the address as
    the caller gave it; any other worker skips them until the batch ends, and
    a subscriber missing here is being handled by another worker right now.
    Hand claimed digests to a transport only after the ``with`` block ended.
    PostgreSQL commits :meth:`claim`, :meth:`drop` and :meth:`served` when
    the block ends, and an exception undoes them all; SQLite commits each as
    it is made (a claim left by an exception is recovered like any other).
    """

    subscribers: dict[str, SubscriberState]
    #: Subscribers this worker got but left out, each with why: rows of
    #: theirs another session holds past the worker's statement limit
    #: (PostgreSQL).  Their digests stay as they are, for a later send.  One
    #: found so while planning is not in ``subscribers``; one found by
    #: :meth:`claim` is left out of what it claimed (no id for it).
    held: dict[str, str] = {}  # noqa: RUF012 -- never changed: a batch that has some sets its own

    @abstractmethod
    def claim(self, items: Sequence[tuple[OpenDigest | None, str, str, Sequence[str]]]) -> list[int]:
        """Record digests as ``sending``: ``(open_digest or None, email, message_id, paper_ids)``
        each; returns their ids in order, but for those whose subscribers it
        put in :attr:`held` (not claimed).  An open digest keeps its row and
        Message-ID; its paper list is replaced."""

    @abstractmethod
    def drop(self, digest_id: int) -> None:
        """Forget an unsent digest that has nothing left to send."""

    @abstractmethod
    def served(self, emails: Iterable[str]) -> None:
        """Due subscribers with nothing to send: their slot is settled."""


class State(ABC):
    """A connection to the state; open with :func:`open_state` (or ``State.open``),
    close it, or use ``with``.

    ``name`` is what messages call it: the file, or the URL without password.
    A read-only state (``readonly=True``) never creates or changes anything;
    a missing file or an empty database reads as empty.
    """

    name: str
    readonly: bool

    @staticmethod
    def open(target: str | os.PathLike, *, readonly: bool = False) -> State:
        """Same as :func:`open_state`."""
        return open_state(target, readonly=readonly)

    def __enter__(self) -> State:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @abstractmethod
    def close(self) -> None: ...

    # -- coordination ---------------------------------------------------------------------

    @abstractmethod
    def exclusive(
        self,
        wait: float = 600.0,
        stop: Callable[[], bool] | None = None,
        sleep: Callable[[float], object] | None = None,
    ) -> AbstractContextManager[None]:
        """Held around a whole send.  SQLite: the lock file, so a second sender
        waits (up to ``wait`` seconds, or until ``stop()`` is true:
        :class:`StoppedWaiting`; ``sleep`` waits between tries, e.g. a stop
        event's ``wait``) and then finds the work done.
        PostgreSQL: nothing to hold; workers meet in :meth:`claiming`."""

    def stop_waiting_when(self, stop: Callable[[], object] | None) -> None:
        """Once ``stop()`` is true (Ctrl-C, SIGTERM), wait only briefly for the
        database.  PostgreSQL: a server cut off by the network held a stop
        for as long as a statement waits for an answer (two minutes).
        SQLite: a wait for another process's lock on the file ends."""
        return None

    @abstractmethod
    def recover(self) -> list[tuple[int, str, str, str | None]]:
        """Turn digests left ``sending`` by a worker that is gone back into
        ``pending``, marked :attr:`OpenDigest.uncertain`; returns ``(id,
        subscriber, message_id, owner)`` of each.

        SQLite: every ``sending`` digest (call it inside :meth:`exclusive`).
        PostgreSQL: those whose worker no longer holds its session lock
        (killed, or its host lost); a live worker's digests are never touched.
        """

    def apply_unrecorded(self) -> list[tuple[int, str, str, str]]:
        """Record the outcomes an earlier send delivered but could not write
        into the state (it was locked, its disk full) and kept aside; call it
        inside :meth:`exclusive`, before :meth:`recover`.  Returns ``(id,
        subscriber, message_id, why)`` of each digest so recorded as sent:
        not sent again.  SQLite only (a note beside the file, see
        :mod:`.sqlite`); PostgreSQL keeps nothing aside."""
        return []

    @abstractmethod
    def claiming(self, emails: Sequence[str], now: datetime) -> AbstractContextManager[Batch]:
        """Hold ``emails`` for planning and read their state (see :class:`Batch`).

        SQLite reads them (the lock file already keeps other senders out);
        PostgreSQL locks their rows ``FOR UPDATE SKIP LOCKED`` in one
        transaction, so workers never wait for each other: each gets the
        subscribers no other worker holds.
        """

    def claims_lost(self) -> str | None:
        """Why the digests this worker claimed may no longer be its own, or
        None while they are.  Asked before each message is handed over.

        SQLite: once the file was removed or replaced (its folder deleted):
        what is recorded goes with it, and the next send sends it all again;
        or once another send took the lock file made anew after this one's
        was removed (a lock file merely removed is taken again, here).
        PostgreSQL: once the session holding the worker's lock has ended
        (the server restarted, an administrator or a network fault ended it),
        the next ``send`` of any worker takes the claims back:
        a worker that went on delivering them would send them twice."""
        return None

    def still_claimed(self, digest_id: int) -> bool:
        """Whether the digest this worker claimed is still its own to hand
        over.  PostgreSQL: false for one another worker took back while this
        worker's session was down (a restart; see
        ``PostgresState._resume``).  SQLite: always (one sender at a time)."""
        return True

    def sent_by_live_workers(self) -> frozenset[str]:
        """The subscribers (as :func:`key` writes them) whose digest a worker
        that lives is delivering right now, a ``run`` on another host say:
        until it is done, a run waking for them would only find them another
        worker's (reading every source again at every tick).  SQLite: none
        (a send holds the file's lock, which ``run`` waits for)."""
        return frozenset()

    def clock(self) -> datetime | None:
        """The time every worker on this state goes by, or None where it is
        this machine's own.  A SQLite file serves one machine; workers on
        several machines disagree by however far their clocks are apart, and
        one ten minutes ahead sent a 08:00 digest at 07:50 (and recorded it
        sent at 08:10): PostgreSQL's clock is the one they share."""
        return None

    def ready_for_threads(self) -> None:
        """Make sure delivery threads will be able to record what they deliver,
        before anything is claimed; StateError when they could not (then
        nothing is sent).  Asked once a digest may be due, before the first
        claim and outside its transaction: a send with nobody due asks
        nothing.  Nothing to do where they share this handle."""
        return None

    def for_thread(self) -> State:
        """A handle for another thread (the delivery threads record outcomes
        through it).  Close it when done unless it is this state itself."""
        return self

    # -- reading --------------------------------------------------------------------------

    @abstractmethod
    def plan(self, emails: Sequence[str], *, with_sent: bool = True) -> dict[str, SubscriberState]:
        """Everything known about each of ``emails`` (keyed as given), in a few
        queries; an unknown subscriber gets an empty :class:`SubscriberState`.

        ``with_sent=False`` leaves ``sent_paper_ids`` empty: the papers ever
        sent grow with the whole history, and a caller that only needs the
        times (``run``'s tick, ``schedule``) should not read them."""

    def subscriber(self, email: str) -> SubscriberState:
        return self.plan([email])[email]

    def sent_paper_ids(self, email: str) -> frozenset[str]:
        """Every paper that went to ``email`` in a delivered digest."""
        return self.subscriber(email).sent_paper_ids

    def first_seen(self, email: str) -> datetime | None:
        """When a ``send``/``run`` first read this subscriber (UTC), or None."""
        return self.subscriber(email).first_seen

    def last_sent(self, email: str) -> datetime | None:
        """When the last digest was delivered to this subscriber (UTC), or None."""
        return self.subscriber(email).last_sent

    def last_served(self, email: str) -> datetime | None:
        """See :attr:`SubscriberState.last_served`."""
        return self.subscriber(email).last_served

    def open_digest(self, email: str) -> OpenDigest | None:
        """The digest still owed to ``email`` (pending, failed, or stale sending)."""
        return self.subscriber(email).open

    @abstractmethod
    def papers(self, ids: Iterable[str]) -> dict[str, Paper]:
        """Papers recorded earlier, rebuilt from the state (for a digest whose
        papers are no longer in any source)."""

    @abstractmethod
    def papers_sent_lately(self, *, with_id: bool) -> list[Paper]:
        """The papers first sent in the :data:`KNOWN_EARLIER_DAYS` up to the newest
        one's sending (a state idle for a while looks as far back), those
        recorded with an arXiv id or those by their titles only (see :func:`known_earlier`)."""

    @abstractmethod
    def listed_times(self, after: datetime, before: datetime) -> list[datetime]:
        """When the runs that kept papers read them (:meth:`keep_listed`),
        oldest first, strictly between ``after`` and ``before``: the points
        where one subscriber's pool (see :data:`KEEP_LISTED`) differs from another's."""

    def listed(self, after: datetime, before: datetime) -> list[Paper]:
        """The papers kept by runs that read them strictly between ``after``
        and ``before``, as the last of them read each (a paper's newest version)."""
        return [paper for _, paper in self.listed_at(after, before)]

    @abstractmethod
    def listed_at(self, after: datetime, before: datetime) -> list[tuple[datetime, Paper]]:
        """:meth:`listed`, each paper with when the last run that read it did:
        read once a run, the kept papers serve every pool (see
        :class:`~newsletter.sending.KeptPools`), each taking those after its ``since``."""

    @abstractmethod
    def history(self, email: str | None, limit: int) -> list[DigestRecord]:
        """The newest ``limit`` digests, newest first: ``email``'s, or
        everyone's when None (an address no longer in the config too)."""

    @abstractmethod
    def digest_counts(self) -> dict[str, int]:
        """How many digests the state holds in each status (absent: none)."""

    @abstractmethod
    def unsubscribed(self, emails: Iterable[str] | None = None) -> dict[str, datetime]:
        """Who unsubscribed (``newsletter serve``, ``newsletter unsubscribe``)
        and when (UTC), keyed by the address as given; every recorded one,
        lower-cased, when ``emails`` is None.  One read for any number."""

    @abstractmethod
    def link_keys(self) -> frozenset[str]:
        """The ids of the keys sends made unsubscribe links with (see
        :meth:`record_link_key`); none in a state from before they were recorded."""

    # -- writing --------------------------------------------------------------------------

    @abstractmethod
    def record_link_key(self, key_id: str, now: datetime) -> None:
        """Record that a send made links with the key ``key_id`` names
        (:attr:`tokens.Links.key_id`, which tells nothing about the key).
        ``serve`` warns of a refused link carrying one of these ids: only a
        real send can put an id here, where anyone can write one into a link."""

    @abstractmethod
    def unsubscribe(self, email: str, now: datetime) -> bool:
        """Record that ``email`` left; False if it already had (the first time
        stays).  A digest still owed to it is kept, not sent: it goes out,
        with newer papers, if the subscriber comes back."""

    @abstractmethod
    def resubscribe(self, email: str) -> bool:
        """Undo :meth:`unsubscribe`; False if ``email`` had not unsubscribed."""

    @abstractmethod
    def see_subscribers(self, emails: Iterable[str], now: datetime) -> None:
        """Record ``first_seen`` for subscribers this state has not met yet."""

    @abstractmethod
    def see_papers(self, papers: Iterable[Paper], now: datetime) -> int:
        """Record papers not seen before; returns how many were new."""

    @abstractmethod
    def keep_listed(self, papers: Iterable[Paper], now: datetime, keep: timedelta | None = None) -> None:
        """Keep the papers a run read at ``now`` (one the state has replaced by
        this newest version), and forget those no run read in the ``keep``
        before ``now`` (:data:`KEEP_LISTED` when None; see
        :func:`~newsletter.sending.listed_kept_for`): a weekly
        digest draws on the papers of the days between, which a daily feed
        lists no more."""

    @abstractmethod
    def claim(self, items: Sequence[tuple[OpenDigest | None, str, str, Sequence[str]]], now: datetime) -> list[int]:
        """:meth:`Batch.claim` in a transaction of its own."""

    @abstractmethod
    def drop(self, digest_id: int) -> None:
        """Forget an unsent digest that has nothing left to send."""

    @abstractmethod
    def served(self, emails: Iterable[str], now: datetime) -> None:
        """Due subscribers with nothing to send: their slot is settled."""

    @abstractmethod
    def mark_sent(self, digest_id: int, email: str, tries: int, now: datetime) -> None:
        """The server accepted the digest."""

    def mark_sent_many(self, items: Sequence[tuple[int, str, int]], now: datetime) -> None:
        """:meth:`mark_sent` for ``(digest_id, email, tries)`` each; a backend
        may commit them together (one transaction instead of one each)."""
        for digest_id, email, tries in items:
            self.mark_sent(digest_id, email, tries, now)

    @abstractmethod
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
        """Delivery did not happen: ``failed`` (permanent) or ``pending`` (try
        again); one more failed run (``failures``) unless ``tries`` is 0 (not
        attempted: the server unreachable, the run stopped), or the first one
        again when ``restart`` (the runs counted so far failed the other way:
        refused where this one was not, or the reverse; ``failures`` counts
        failed runs of one kind in a row, so a hold counts refusals), and no new
        attempt before ``next_attempt`` while the delivery settings are still
        ``settings`` (see :meth:`OpenDigest.retry_from`).  ``uncertain``: the
        server may have taken it after all (it went silent or closed after
        the whole message): it goes again as it was (:attr:`OpenDigest.uncertain`,
        which stays set until the digest is sent)."""


def sent_keys(paper_ids: Iterable[str], titles: Iterable[str | None]) -> frozenset[str]:
    """What a subscriber has been sent, as :class:`SubscriberState.sent_paper_ids`
    holds it: each paper's id and the key of its title.  A paper is known by
    its arXiv id when a source gives one and by its title otherwise, so the
    same paper read from a listing without ids and, another day, from arXiv
    carries two ids; either key marks it sent."""
    return frozenset(paper_ids) | {_title_key(t) for t in titles if t}


@functools.lru_cache(maxsize=65536)
def _title_key(title: str) -> str:
    return normalize_title(title)


def open_state(target: str | os.PathLike, *, readonly: bool = False,
               stop: Callable[[], object] | None = None, recorder: bool = False) -> State:
    """Open (and for writers create or upgrade) the state at ``target``:
    a ``postgresql://`` URL or a SQLite file path.

    ``readonly``: never create or write anything.  ``stop``: as
    :meth:`State.stop_waiting_when`, from the open on.  ``recorder``: on
    PostgreSQL, a writer that sends nothing, kept open across ``serve``'s
    requests and used from any thread (see ``PostgresState.open``).
    """
    if is_database_url(target):
        from .postgres import PostgresState

        state: State = PostgresState.open(str(target), readonly=readonly, recorder=recorder)
        state.stop_waiting_when(stop)
        return state
    from .sqlite import SQLiteState

    return SQLiteState.open(Path(target), readonly=readonly, stop=stop)


#: A machine clock this far from the state's (see :meth:`State.clock`) is said.
CLOCK_APART_SAID = timedelta(minutes=1)


def shared_now(state: State, machine: datetime, warn: Callable[[str], object] | None = None) -> datetime:
    """The time a run on ``state`` goes by, ``machine`` being this machine's
    clock (read a moment ago): the state's clock where it has one (see
    :meth:`State.clock`), else ``machine``.  ``warn`` is told when the two
    are more than :data:`CLOCK_APART_SAID` apart (NTP not running)."""
    shared = state.clock()
    if shared is None:
        return machine
    apart = (datetime.now(UTC) - shared).total_seconds()
    if warn is not None and abs(apart) > CLOCK_APART_SAID.total_seconds():
        warn(
            f"this machine's clock is {waiting(abs(apart))} {'ahead of' if apart > 0 else 'behind'} the clock of "
            f"{state.name}; due times, Date headers and the state's records follow the database's clock, which "
            "every worker shares (set this machine's clock right, e.g. with NTP)"
        )
    return shared


@dataclass(frozen=True)
class CopyReport:
    """What :func:`copy_state` copied."""

    source: str
    target: str
    counts: dict[str, int]

    def __str__(self) -> str:
        c = self.counts
        return (
            f"copied {counted(c.get('papers', 0), 'paper')}, {counted(c.get('subscribers', 0), 'subscriber')} and "
            f"{counted(c.get('digests', 0), 'digest')} ({counted(c.get('digest_papers', 0), 'paper')} in digests)"
            # ", 2 unsubscribed from FILE" read as "2 left the file's list", all of them at times
            + (f" and the {c['unsubscribed']} address{'es' * (c['unsubscribed'] != 1)} that unsubscribed,"
               if c.get("unsubscribed") else "")
            + f" from {self.source} to {self.target}"
        )


def copy_state(source: str | os.PathLike, url: str) -> CopyReport:
    """Copy the SQLite state at ``source`` into the (empty) PostgreSQL state at
    ``url``, in one transaction: papers seen, subscribers with their first,
    last-sent and last-served times (so schedules carry on), and every digest
    with its papers, status and Message-ID (so nothing is sent again)."""
    try:
        check_state_target(url, file_ok=False)
    except ValueError as exc:
        raise StateError(Problem(str(exc), path="--to")) from None
    if not is_database_url(url):
        raise StateError(Problem(f"{url!r} is not a postgresql:// URL: migrate copies a SQLite state into "
                                 "PostgreSQL (postgresql://user@host:port/db)", path="--to"))
    path = Path(source)
    if not path.is_file():
        raise StateError(Problem("no SQLite state here (nothing to migrate)", str(path)))
    from .postgres import PostgresState, import_sqlite
    from .sqlite import SQLiteState

    # A send under way (cron) would change the file during the copy: its digests
    # being sent would arrive `pending` and be sent again from the database.
    # Wait for it as a second send would; a folder no one can write holds no
    # lock file, and no send either.
    folder = path.parent if str(path.parent) else Path(".")
    held = send_lock(path) if os.access(folder, os.W_OK | os.X_OK) else contextlib.nullcontext()
    with held:
        if unrecorded_path(path).exists():
            # What a send delivered but could not record: the copy would carry
            # those digests as pending, and the database would send them again.
            with SQLiteState.open(path) as writer:
                writer.apply_unrecorded()
        src = SQLiteState.open(path, readonly=True)
        try:
            dst = PostgresState.open(url)
            try:
                counts = import_sqlite(src, dst)
            finally:
                dst.close()
        finally:
            src.close()
    return CopyReport(str(path), public_url(url), counts)


#: How long the papers a run read are kept for the digests after it (see
#: :meth:`State.keep_listed`): a week, the longest a schedule's slots are apart
#: (``weekly on monday``), and a week more for a digest whose slot was missed
#: (a machine off, every source failing) and caught up later.  A digest whose
#: last one is older draws on these two weeks, and ``send`` says so.
KEEP_LISTED = timedelta(days=14)
#: What is kept beyond a schedule's longest interval (``every 720 hours``): a
#: digest whose slot was missed and caught up later still has its papers.
KEEP_LISTED_MORE = timedelta(days=7)


def listed_stamp(value: datetime) -> str:
    """A kept paper's time as SQLite holds it: fixed-width UTC text, so that
    text order is time order (``isoformat`` drops zero microseconds)."""
    if value.tzinfo is None:
        raise ValueError("state timestamps must be timezone-aware")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


#: How long after it was sent a paper is looked for under another title
#: (see :func:`known_earlier`): arXiv lists a paper days or weeks after an
#: export, or an export after arXiv; a longer look reads more of the state.
KNOWN_EARLIER_DAYS = 60
#: What a recorded paper's id is when it is an arXiv id (a title's key has no "." or "/").
ARXIV_ID_SQL = "(id LIKE '%.%' OR id LIKE '%/%')"


def known_earlier(state: State, papers: list[Paper]) -> list[Paper]:
    """``papers``, each one sent earlier under another key given that key
    (:attr:`Paper.known_as`): a paper sent by its title (an export, without
    an arXiv id) and read today with its id under a title its authors changed,
    or the other way round, is found by its abstract (as :func:`merge_papers`
    finds the two in one run) among the papers sent lately
    (:meth:`State.papers_sent_lately`); it was sent again.  Only the kinds of
    paper that can pair are read from the state (none for a run of exports alone)."""
    from ..models import papers_known_earlier

    recorded: list[Paper] = []
    if any(p.arxiv_id for p in papers):
        recorded += state.papers_sent_lately(with_id=False)
    if any(not p.arxiv_id for p in papers):
        recorded += state.papers_sent_lately(with_id=True)
    return papers_known_earlier(papers, recorded) if recorded else papers


def paper_from_json(data: dict) -> Paper:
    """The inverse of :meth:`Paper.to_json` (for papers kept in the state)."""
    published = data.get("published")
    # (to_json writes "day" for a full date, which the paper keeps as None; a year
    # alone dropped here was shown as "1 Jan 2024" on the retry of a digest)
    precision = data.get("published_precision")
    return Paper(
        title=data["title"],
        abstract=data.get("abstract") or "",
        source=data.get("source") or "state",
        arxiv_id=data.get("arxiv_id"),
        authors=tuple(data.get("authors") or ()),
        url=data.get("url"),
        pdf_url=data.get("pdf_url"),
        published=datetime.fromisoformat(published) if published else None,
        date_precision=precision if published and precision in ("year", "month") else None,
        categories=tuple(data.get("categories") or ()),
        upvotes=data.get("upvotes"),
        keywords=tuple(data.get("keywords") or ()),
        github=data.get("github"),
    )


def chunks(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


from .sqlite import MIGRATIONS, READABLE_SINCE, SCHEMA_VERSION, SQLiteState, send_lock, unrecorded_path  # noqa: E402  (the default backend)

__all__ = [
    "MIGRATIONS",
    "READABLE_SINCE",
    "SCHEMA_VERSION",
    "Batch",
    "CopyReport",
    "copy_state",
    "OpenDigest",
    "SQLiteState",
    "State",
    "SubscriberState",
    "check_state_target",
    "is_database_url",
    "open_state",
    "owner_id",
    "paper_from_json",
    "public_url",
    "send_lock",
]
