"""``serve``'s kept PostgreSQL state (a recorder: ``PostgresState.open(recorder=True)``)
against a real server (tests/pg_server.py): closed by one request while others use it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime

import psycopg
import pytest
from conftest import query

from newsletter.errors import StateError
from newsletter.state.postgres import PostgresState

T0 = datetime(2024, 5, 6, 9, 0, tzinfo=UTC)


def _pids(admin: psycopg.Connection) -> set[int]:
    """The server processes on the test's database, other than ``admin``'s."""
    rows = admin.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
    ).fetchall()
    return {pid for (pid,) in rows}


def _waiting_on_locks(admin: psycopg.Connection, count: int = 1) -> list[int]:
    """The pids of the statements waiting on a lock, once there are ``count``
    (asked until then: no sleep)."""
    for _ in range(100_000):
        rows = admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ).fetchall()
        if len(rows) >= count:
            return [int(pid) for (pid,) in rows]
    raise AssertionError(f"fewer than {count} statements came to wait on a lock")


def test_a_recorder_closed_while_a_request_retries_opens_no_new_pool(pg_url):
    """A request retrying on a fresh connection (its own was ended: a
    PostgreSQL restart) while another request closed the kept state
    (``_let_go``) opened a new pool on the closed state, which nothing ever
    closed: its connections and threads leaked, one pool per such burst.  It
    gets a StateError (served as 503, try again) and no connection is made."""
    state = PostgresState.open(pg_url, recorder=True)
    assert state.unsubscribe("warm@example.org", T0)  # (the pool, opened)
    outcome: list[object] = []

    def request() -> None:
        try:
            outcome.append(state.unsubscribe("ada@example.org", T0))
        except Exception as exc:  # noqa: BLE001 -- what the request met is the test's subject
            outcome.append(exc)

    with psycopg.connect(pg_url, autocommit=True) as admin, psycopg.connect(pg_url) as blocker:
        blocker.execute("LOCK TABLE unsubscribed IN ACCESS EXCLUSIVE MODE")  # (its transaction, held)
        thread = threading.Thread(target=request)
        thread.start()
        [waiting] = _waiting_on_locks(admin)
        state.close()  # another request let the state go
        before = _pids(admin) - {waiting}
        admin.execute("SELECT pg_terminate_backend(%s, 5000)", (waiting,))  # its connection ends, as in a restart
        blocker.rollback()
        thread.join(30)
        assert not thread.is_alive()
        new = _pids(admin) - before - {blocker.info.backend_pid}
    assert len(outcome) == 1 and isinstance(outcome[0], StateError), outcome
    assert "the state was closed meanwhile" in str(outcome[0])
    assert new == set(), "a pool was opened on the closed state"
    assert query(pg_url, "SELECT email FROM unsubscribed") == [("warm@example.org",)]


def test_a_closed_recorder_used_from_another_thread_says_so(pg_url):
    """A state closed, then used from a request thread: a StateError (503),
    never an AssertionError (a 500 with a traceback)."""
    state = PostgresState.open(pg_url, recorder=True)
    state.close()
    met: list[BaseException] = []

    def request() -> None:
        try:
            state.unsubscribe("ada@example.org", T0)
        except BaseException as exc:  # noqa: BLE001 -- what the request met is the test's subject
            met.append(exc)

    thread = threading.Thread(target=request)
    thread.start()
    thread.join(30)
    assert len(met) == 1 and isinstance(met[0], StateError), met
    with pytest.raises(StateError, match="closed"):
        state.ready_for_threads()


def test_a_recorder_behind_a_pooler_sharing_server_sessions_is_refused(pg_server, pg_url):
    """``serve`` behind PgBouncer in transaction mode was refused with a
    clear message when it opened the state as a worker; kept open as a
    recorder (which holds no worker lock) it skipped the test and ran on.
    It is refused again; session mode works."""
    from pg_server import Bouncer

    try:
        shared, kept = Bouncer(pg_server, "transaction"), Bouncer(pg_server, "session")
    except FileNotFoundError:
        pytest.skip("needs PgBouncer (Debian's pgbouncer)")
    try:
        with pytest.raises(StateError) as err:
            PostgresState.open(shared.url(pg_url), recorder=True)
        state = PostgresState.open(kept.url(pg_url), recorder=True)
        try:
            assert state.unsubscribe("ada@example.org", T0)
        finally:
            state.close()
    finally:
        shared.stop()
        kept.stop()
    assert str(err.value) == (
        f"{shared.url(pg_url)}: the connection goes through a pooler in transaction or statement mode "
        "(PgBouncer's pool_mode = transaction), which shares one server session among its clients: a worker's "
        "claims are held by its session; connect directly, or through a pooler in session mode (pool_mode = "
        "session); this unsubscribe or re-subscribe was not recorded (answered 503: the mail provider tries again)"
    )
    assert query(pg_url, "SELECT email FROM unsubscribed") == [("ada@example.org",)]


def test_two_workers_saving_the_listed_papers_at_once_do_not_deadlock(pg_url):
    """Two workers' ``keep_listed`` (each refreshes its papers, then deletes
    the old rows in the same transaction) deadlocked when each one's delete
    came to an old row the other had just refreshed.  Made to meet there
    every time: a third session holds the first old row, both deletes wait
    on it, then it lets go."""
    from datetime import timedelta

    from newsletter.models import Paper
    from newsletter.state import KEEP_LISTED, open_state

    def paper(n: int) -> Paper:
        return Paper(f"Paper {n}", "Abstract.", "rss", arxiv_id=f"2401.0000{n}")

    first, ada, bob = paper(1), paper(2), paper(3)  # (saved in this order: the delete's scan meets them so)
    later = T0 + KEEP_LISTED + timedelta(days=1)
    outcome: dict[str, object] = {}
    with open_state(pg_url) as one, open_state(pg_url) as other:
        one.keep_listed([first, ada, bob], T0)  # all three old by `later`

        def save(name: str, state, papers: list[Paper]) -> None:
            try:
                state.keep_listed(papers, later)
                outcome[name] = "saved"
            except Exception as exc:  # noqa: BLE001 -- what the save met is the test's subject
                outcome[name] = exc

        with psycopg.connect(pg_url, autocommit=True) as admin, psycopg.connect(pg_url) as blocker:
            blocker.execute("SELECT 1 FROM listed WHERE id = %s FOR UPDATE", (first.id,))
            threads = [
                threading.Thread(target=save, args=("one", one, [ada])),
                threading.Thread(target=save, args=("other", other, [bob])),
            ]
            for n, thread in enumerate(threads, 1):
                thread.start()
                _waiting_on_locks(admin, n)
            blocker.rollback()
            for thread in threads:
                thread.join(60)
                assert not thread.is_alive()
    assert outcome == {"one": "saved", "other": "saved"}, outcome
    assert sorted(r[0] for r in query(pg_url, "SELECT id FROM listed")) == sorted([ada.id, bob.id])


def _mark_in_a_deadlock(pg_url: str, held: int | None = None,
                        settle: Callable[[], object] = lambda: None) -> tuple[list[object], str, str]:
    """Run a delivered digest's ``sent`` mark into a deadlock with another
    session (a ``psql`` session's transaction holding the digest's row and
    then wanting the subscriber's, which the mark holds), and let it go on:
    (what the mark met, the digest's status after, the state's name).
    Made to meet every time: the other session never looks for deadlocks
    itself (its ``deadlock_timeout`` is an hour), so the mark is always the
    one cancelled, and the mark runs again only once the other holds both
    rows (a log handler holds the retry's warning until then).  ``held``: an
    advisory lock the test holds meanwhile, let go once the mark is settled;
    ``settle``: called then, with the state still open."""
    import logging

    from newsletter.state import open_state

    with psycopg.connect(pg_url, autocommit=True) as admin:
        name = admin.execute("SELECT current_database()").fetchone()[0]  # type: ignore[index]
        admin.execute(f"ALTER DATABASE {name} SET deadlock_timeout = '20ms'")  # (the worker's sessions: found at once)
    outcome: list[object] = []
    with open_state(pg_url) as state, psycopg.connect(pg_url, autocommit=True) as admin, \
            psycopg.connect(pg_url) as other:
        if held is not None:
            admin.execute("SELECT pg_advisory_lock(%s)", (held,))
        state.see_subscribers(["ada@example.org"], T0)
        [did] = state.claim([(None, "ada@example.org", "<d1@example.org>", [])], T0)

        def mark() -> None:  # (a delivery thread: its own pooled connection)
            try:
                state.mark_sent(did, "ada@example.org", 1, T0)
                outcome.append("marked")
            except Exception as exc:  # noqa: BLE001 -- what the mark met is the test's subject
                outcome.append(exc)

        go = threading.Event()

        class Gate(logging.Handler):
            """The mark is run again once `other` holds both rows (not before: it would race it for them)."""

            def emit(self, record: logging.LogRecord) -> None:
                assert go.wait(60)

        gate = Gate(logging.WARNING)
        logging.getLogger("newsletter.state.postgres").addHandler(gate)
        try:
            other.execute("SET deadlock_timeout = '1h'")
            other.execute("UPDATE digests SET attempts = attempts WHERE id = %s", (did,))
            thread = threading.Thread(target=mark, name="marker")
            thread.start()
            _waiting_on_locks(admin)  # the mark holds the subscriber's row and waits for the digest's
            # the cycle: the mark is cancelled
            other.execute("UPDATE subscribers SET first_seen = first_seen WHERE email = 'ada@example.org'")
            go.set()
            while thread.is_alive() and not admin.execute(  # run again: waiting for `other` (or, unmended, ended)
                "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' "
                "AND query NOT LIKE '%pg_advisory_lock%'"
            ).fetchall():
                pass
            other.rollback()
            thread.join(60)
        finally:
            if held is not None:
                admin.execute("SELECT pg_advisory_unlock(%s)", (held,))
            settle()
            logging.getLogger("newsletter.state.postgres").removeHandler(gate)
        assert not thread.is_alive()
        return outcome, state.history("ada@example.org", 1)[0].status, state.name


def test_a_mark_cancelled_in_a_deadlock_is_run_again_and_named_as_one(pg_url, caplog):
    """A delivered digest's ``sent`` mark that PostgreSQL cancelled in a
    deadlock (see :func:`_mark_in_a_deadlock`) failed with "cannot reach
    PostgreSQL: deadlock detected": the server was there all along, and the
    next send sent the digest again.  The mark is run again (nothing of it
    had taken effect) and the log names a deadlock."""
    import logging

    caplog.set_level(logging.WARNING, logger="newsletter.state.postgres")
    outcome, status, name = _mark_in_a_deadlock(pg_url)
    assert outcome == ["marked"], outcome
    assert status == "sent"
    said = [r.getMessage() for r in caplog.records if "deadlock" in r.getMessage()]
    assert said == [
        f'{name}: PostgreSQL: deadlock detected, while updating tuple (0,1) in relation "digests" (this '
        "statement and another session's transaction each waited for a lock the other held; the server cancelled "
        "this one, and nothing of its transaction was recorded; the server's log names both statements); running "
        "it again"
    ], said


def test_a_pool_that_pgbouncer_has_no_server_connection_for_is_named_so(pg_server, pg_url):
    """Behind PgBouncer in session mode with its pool full (every server
    connection held by a client), the delivery threads' first connection
    waits in PgBouncer's queue (up to its query_wait_timeout, 120 s by
    default): past twice connect_timeout the send said "cannot reach
    PostgreSQL: pool initialization incomplete after 1.0 sec" and took the
    state for silent.  Named as the full pool it most likely is, with the
    setting to raise; nothing was sent.  Deterministic: another client holds
    the pooler's second (last) server connection all along."""
    from pg_server import Bouncer

    try:
        bouncer = Bouncer(pg_server, "session", "default_pool_size = 2\n")
    except FileNotFoundError:
        pytest.skip("needs PgBouncer (Debian's pgbouncer)")
    url = bouncer.url(pg_url) + "?connect_timeout=1"
    try:
        state = PostgresState.open(url)  # (its session, and its pooler check: come and gone)
        try:
            with psycopg.connect(url) as hog:
                hog.execute("SELECT 1")  # (session mode: held until it leaves)
                with pytest.raises(StateError) as err:
                    state.ready_for_threads()
            assert state.clock() is not None  # not taken for silent: the session goes on
        finally:
            state.close()
    finally:
        bouncer.stop()
    assert str(err.value) == (
        f"{url}: the connection its delivery threads record on was not ready within 2 s (twice connect_timeout): "
        "behind PgBouncer in session mode, its pool for this database and user is full (each client connection "
        "holds a server connection; a send needs 2 and takes up to 17: raise default_pool_size or "
        "max_db_connections), else the server is slow to take connections; nothing was sent")


def test_a_mark_cancelled_in_a_deadlock_is_run_again_when_another_thread_took_its_connection(pg_url, monkeypatch):
    """Whether a cancelled mark was a statement of its own (and can be run
    again) was read off its connection after the connection had gone back
    to the pool: another delivery thread that took it at once and was
    running a statement on it made it read ACTIVE, the mark was "not run
    again: the transaction it was part of was rolled back with it", and the
    delivered digest stayed `sending` (the next send sent it again).  Here
    the other thread takes exactly that connection as it comes back and
    keeps a statement running on it (waiting on an advisory lock the test
    holds) until the mark is settled."""
    from psycopg.pq import TransactionStatus
    from psycopg_pool import ConnectionPool

    returned = ConnectionPool.putconn
    others: list[threading.Thread] = []

    def putconn(pool: ConnectionPool, con: psycopg.Connection) -> None:
        returned(pool, con)
        if others or threading.current_thread().name != "marker":
            return
        busy = threading.Event()

        def other_delivery() -> None:  # takes the very connection just given back and keeps it busy
            held = []
            while (got := pool.getconn(timeout=30)) is not con:
                held.append(got)
            for spare in held:
                pool.putconn(spare)
            waiting = threading.Thread(target=lambda: got.execute("SELECT pg_advisory_lock(4242)"))
            waiting.start()
            while got.info.transaction_status != TransactionStatus.ACTIVE:
                pass
            busy.set()
            waiting.join()
            got.execute("SELECT pg_advisory_unlock(4242)")
            returned(pool, got)

        others.append(threading.Thread(target=other_delivery))
        others[0].start()
        assert busy.wait(60)

    monkeypatch.setattr(ConnectionPool, "putconn", putconn)

    def settle() -> None:
        for helper in others:
            helper.join(60)

    outcome, status, _ = _mark_in_a_deadlock(pg_url, held=4242, settle=settle)
    assert len(others) == 1  # the connection was taken by another thread as it came back
    assert outcome == ["marked"], outcome
    assert status == "sent"


def test_a_recorders_session_is_exempt_from_the_databases_idle_session_timeout(pg_url):
    """serve's kept state keeps its session (the pooler and version checks
    ran on it) while its changes go through its pool, whose connections were
    exempt from a database's ``idle_session_timeout`` and the session was
    not: the server ended it once idle, a FATAL in its log each time serve
    sat idle for that long.  It is exempt too; one ended all the same (by the
    server, here by ``pg_terminate_backend``) costs no POST and no close."""
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute(f"ALTER DATABASE {pg_url.rsplit('/', 1)[1]} SET idle_session_timeout = '1s'")
        state = PostgresState.open(pg_url, recorder=True)
        try:
            assert state.session is not None
            assert state.session.execute("SHOW idle_session_timeout").fetchone() == ("0",)
            assert state.unsubscribe("ada@example.org", T0)
            with state._pool().connection() as pooled:
                assert pooled.execute("SHOW idle_session_timeout").fetchone() == ("0",)
            admin.execute("SELECT pg_terminate_backend(%s, 5000)", (state.session.info.backend_pid,))
            assert state.unsubscribe("bob@example.org", T0)
        finally:
            state.close()
    assert sorted(query(pg_url, "SELECT email FROM unsubscribed")) == [("ada@example.org",), ("bob@example.org",)]
