"""The state, both backends: one suite run against a real SQLite file and a
real PostgreSQL database (``state_target``), plus what is particular to each."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from conftest import query

from newsletter.errors import StateError
from newsletter.models import Paper
from newsletter.state import State, open_state, paper_from_json, send_lock
from newsletter.state import sqlite as state_module

T0 = datetime(2024, 5, 6, 9, 0, tzinfo=UTC)


def test_readonly_missing_file_is_empty_and_creates_nothing(tmp_path):
    path = tmp_path / "state.sqlite3"
    with State.open(path, readonly=True) as st:
        assert st.sent_paper_ids("a@example.org") == frozenset()
        assert st.first_seen("a@example.org") is None and st.last_sent("a@example.org") is None
        assert st.open_digest("a@example.org") is None
    assert list(tmp_path.iterdir()) == []


def test_writer_creates_versioned_schema_and_leaves_no_wal_behind(tmp_path):
    path = tmp_path / "state.sqlite3"
    st = State.open(path)
    assert st.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert st.db.execute("PRAGMA busy_timeout").fetchone()[0] > 0
    with st.transaction():
        pass
    st.close()
    # no -wal/-shm left; the writers' queue file stays (like the send's .lock)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.sqlite3", "state.sqlite3.writer"]
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA user_version").fetchone()[0] == state_module.SCHEMA_VERSION == len(state_module.MIGRATIONS)
    cols = {r[1] for r in con.execute("PRAGMA table_info(digests)")}
    assert {"id", "subscriber", "status", "attempts", "last_error", "message_id", "created", "sent", "next_attempt"} <= cols
    with pytest.raises(sqlite3.IntegrityError):  # status is constrained
        con.execute("INSERT INTO digests (subscriber, status, message_id, created) VALUES ('a', 'lost', '<x>', 't')")


def test_writers_queue_on_a_lock_file_so_another_process_waits_without_polling(tmp_path):
    """A write transaction waits while another process holds ``<state>.writer``
    and goes on the moment it is released (a second descriptor of the file
    stands for the other process: flock locks of two open files conflict)."""
    import fcntl
    import os
    import threading

    path = tmp_path / "state.sqlite3"
    st = State.open(path)
    with st.transaction():
        pass  # creates the queue file
    other = os.open(f"{path}.writer", os.O_RDWR)
    fcntl.flock(other, fcntl.LOCK_EX)
    done = threading.Event()

    def write() -> None:
        st.see_subscribers(["a@example.org"], T0)
        done.set()

    thread = threading.Thread(target=write)
    thread.start()
    try:
        assert not done.wait(0.3)  # queued behind the other writer
    finally:
        fcntl.flock(other, fcntl.LOCK_UN)
        os.close(other)
    assert done.wait(10)
    thread.join()
    assert st.first_seen("a@example.org") == T0
    st.close()


def test_a_state_folder_that_cannot_hold_the_queue_file_still_writes(tmp_path):
    path = tmp_path / "state.sqlite3"
    (tmp_path / "state.sqlite3.writer").mkdir()  # cannot be opened as a file
    with State.open(path) as st:
        st.see_subscribers(["a@example.org"], T0)
    with State.open(path, readonly=True) as st:
        assert st.first_seen("a@example.org") == T0


def test_digest_lifecycle_and_read_api(state_target):
    papers = [Paper("Diffusion A", "abs", "src", arxiv_id="2401.00001v2"), Paper("Some Title!", "abs", "src")]
    with open_state(state_target) as st:
        st.see_subscribers(["Ada@Example.org"], T0)
        st.see_subscribers(["ada@example.org"], T0 + timedelta(days=1))  # first seen stays
        assert st.see_papers(papers, T0) == 2 and st.see_papers(papers, T0) == 0
        [did] = st.claim([(None, "ada@example.org", "<m1@x>", ["2401.00001", "some title"])], T0)
        open_ = st.open_digest("ada@example.org")
        assert (open_.id, open_.status, open_.message_id, open_.paper_ids) == (did, "sending", "<m1@x>", ("2401.00001", "some title"))
        with pytest.raises(StateError):  # one unfinished digest per subscriber
            st.claim([(None, "ada@example.org", "<m2@x>", [])], T0)
        assert st.sent_paper_ids("ada@example.org") == frozenset()  # sending is not sent
        st.mark_unsent(did, error="451 later", tries=2, permanent=False, next_attempt=T0 + timedelta(minutes=5))
        open_ = st.open_digest("ada@example.org")
        assert (open_.status, open_.attempts, open_.last_error) == ("pending", 2, "451 later")
        assert (open_.next_attempt, open_.failures, open_.held) == (T0 + timedelta(minutes=5), 1, False)
        st.claim([(open_, "ada@example.org", open_.message_id, ["some title"])], T0)
        st.mark_sent(did, "ada@example.org", 1, T0 + timedelta(hours=1))
        assert st.open_digest("ada@example.org") is None
    with open_state(state_target, readonly=True) as ro:
        assert ro.sent_paper_ids("ADA@example.org") == frozenset({"some title"})
        assert ro.first_seen("ada@example.org") == T0
        assert ro.last_sent("ada@example.org") == T0 + timedelta(hours=1)
        [(status, attempts, mid, sent, created, failures)] = query(
            state_target,
            "SELECT status, attempts, message_id, sent, created, failures FROM digests WHERE subscriber = ?",
            ("ada@example.org",),
        )
        assert (status, attempts, mid, failures) == ("sent", 3, "<m1@x>", 1)
        at = lambda value: datetime.fromisoformat(str(value))  # noqa: E731  (text in SQLite)
        assert at(sent) == T0 + timedelta(hours=1) and at(created) == T0
        assert query(state_target, "SELECT paper_id FROM digest_papers WHERE digest_id = ?", (did,)) == [("some title",)]
        assert ro.papers(["2401.00001"])["2401.00001"].title == "Diffusion A"
        with pytest.raises(StateError):
            ro.served(["ada@example.org"], T0)


def test_plan_reads_a_batch_of_subscribers_at_once(state_target):
    emails = [f"u{i}@example.org" for i in range(5)]
    with open_state(state_target) as st:
        st.see_subscribers(emails[:4], T0)
        ids = st.claim([(None, e, f"<m{i}@x>", [f"p{i}", "shared"]) for i, e in enumerate(emails[:3])], T0)
        st.mark_sent(ids[0], emails[0], 1, T0 + timedelta(hours=1))
        st.mark_unsent(ids[1], error="boom", tries=1, permanent=True, next_attempt=None)
        st.served([emails[3]], T0 + timedelta(hours=2))
        plan = st.plan(["U0@example.org", *emails[1:]])
    assert list(plan) == ["U0@example.org", *emails[1:]]  # keyed as asked
    u0, u1, u2, u3, u4 = plan.values()
    assert u0.sent_paper_ids == {"p0", "shared"} and u0.open is None and u0.last_sent == T0 + timedelta(hours=1)
    assert u0.last_served == T0 + timedelta(hours=1) and u0.first_seen == T0
    assert (u1.open.status, u1.open.paper_ids, u1.open.last_error) == ("failed", ("p1", "shared"), "boom")
    assert u1.sent_paper_ids == frozenset()
    assert u2.open.status == "sending" and u2.open.message_id == "<m2@x>"
    assert u3.last_served == T0 + timedelta(hours=2) and u3.last_sent is None and u3.open is None
    assert u4.first_seen is None and u4.open is None and u4.sent_paper_ids == frozenset()
    with open_state(state_target, readonly=True) as st:
        times = st.plan(["U0@example.org", *emails[1:]], with_sent=False)
    # the times and open digests alone: the history of sent papers is not read
    assert [(t.first_seen, t.last_sent, t.last_served, t.open) for t in times.values()] == [
        (p.first_seen, p.last_sent, p.last_served, p.open) for p in plan.values()
    ]
    assert all(t.sent_paper_ids == frozenset() for t in times.values())


def test_the_ids_of_the_keys_sends_made_links_with_are_recorded_once_each(state_target):
    """What lets `serve` tell a link a real send made with another key from a
    made-up one (tokens.Links.foreign_key_id): a record only a send writes."""
    with open_state(state_target, readonly=True) as ro:
        assert ro.link_keys() == frozenset()  # nothing recorded yet (no file, no tables)
    with open_state(state_target) as st:
        assert st.link_keys() == frozenset()
        for _ in range(2):
            st.record_link_key("0a1b2c3d", T0)
        st.record_link_key("ffee0011", T0 + timedelta(days=1))
    with open_state(state_target, readonly=True) as ro:
        assert ro.link_keys() == frozenset({"0a1b2c3d", "ffee0011"})
    assert query(state_target, "SELECT count(*) FROM link_keys") == [(2,)]


def test_claiming_a_batch_commits_claims_drops_and_served_together(state_target):
    emails = ["a@example.org", "b@example.org", "c@example.org"]
    with open_state(state_target) as st:
        st.see_subscribers(emails, T0)
        [old] = st.claim([(None, "b@example.org", "<old@x>", ["p"])], T0)
        st.mark_unsent(old, error="later", tries=1, permanent=False, next_attempt=None)
        with st.claiming(emails, T0) as batch:
            assert set(batch.subscribers) == set(emails)
            owed = batch.subscribers["b@example.org"].open
            ids = batch.claim([(None, "a@example.org", "<a@x>", ["p1", "p2"]), (owed, "b@example.org", "<old@x>", ["p", "q"])])
            batch.served(["c@example.org"])
        assert ids[1] == old
        assert st.open_digest("a@example.org").paper_ids == ("p1", "p2")
        assert st.open_digest("b@example.org").paper_ids == ("p", "q")
        assert st.last_served("c@example.org") == T0
        # PostgreSQL: an exception inside the batch undoes the batch's changes
        # (SQLite commits each as made; its lock file keeps other senders out)
        if isinstance(state_target, str):
            with pytest.raises(RuntimeError):
                with st.claiming(["c@example.org"], T0) as batch:
                    batch.claim([(None, "c@example.org", "<c@x>", ["p"])])
                    raise RuntimeError("compose failed")
            assert st.open_digest("c@example.org") is None


def test_recover_turns_stale_sending_into_pending(state_target):
    with open_state(state_target) as st:
        st.see_subscribers(["a@example.org"], T0)
        [did] = st.claim([(None, "a@example.org", "<m@x>", ["p"])], T0)
    with open_state(state_target) as st:  # a later run: the first one is gone
        [(rid, sub, mid, owner)] = st.recover()
        assert (rid, sub, mid) == (did, "a@example.org", "<m@x>") and "@" in owner
        assert st.open_digest("a@example.org").status == "pending"
        assert st.open_digest("a@example.org").uncertain  # it may have gone out: again as it was
        assert st.recover() == []
        st.claim([(st.open_digest("a@example.org"), "a@example.org", "<m@x>", ["p"])], T0)
        st.mark_unsent(did, error="refused", tries=1, permanent=False, next_attempt=None)
        assert st.open_digest("a@example.org").uncertain  # a failed try later: the first copy may still be out


def test_a_digest_left_sending_in_sqlite_arrives_in_postgresql_as_uncertain(tmp_path, pg_url):
    """`state migrate` of a state a killed send left: the digest in flight
    goes out again as it was (see OpenDigest.uncertain), as SQLite's own next
    send would send it."""
    from newsletter.state import copy_state

    path = tmp_path / "s.sqlite3"
    with open_state(path) as st:
        st.see_subscribers(["a@example.org", "b@example.org"], T0)
        st.claim([(None, "a@example.org", "<a@x>", ["p"]), (None, "b@example.org", "<b@x>", ["q"])], T0)
        st.mark_unsent(2, error="refused", tries=1, permanent=False, next_attempt=None)
    copy_state(path, pg_url)
    with open_state(pg_url, readonly=True) as ro:
        a, b = ro.open_digest("a@example.org"), ro.open_digest("b@example.org")
    assert (a.status, a.uncertain, a.paper_ids) == ("pending", True, ("p",))
    assert (b.status, b.uncertain) == ("pending", False)


def test_outcomes_a_locked_state_refused_are_recorded_by_the_next_opener_once(tmp_path, monkeypatch):
    """A delivery recorded while another process holds the state's write
    lock past the busy timeout: noted beside the file, the first refusal
    raised (the send stops), the rest noted without waiting again; the next
    opener records them (delivered: sent; not attempted: pending), and a
    note read twice, or cut short by a full disk, changes nothing more."""
    monkeypatch.setattr(state_module, "BUSY_TIMEOUT_MS", 100)
    path = tmp_path / "s.sqlite3"
    with open_state(path) as st:
        st.see_subscribers(["a@example.org", "b@example.org"], T0)
        a, b = st.claim([(None, "a@example.org", "<a@x>", ["p"]), (None, "b@example.org", "<b@x>", ["q"])], T0)
        shell = sqlite3.connect(path, isolation_level=None)
        shell.execute("BEGIN IMMEDIATE")
        with pytest.raises(StateError, match=r"locked by another process .*; what this send delivered .* is noted in "
                                             r"s\.sqlite3\.unrecorded"):
            st.mark_sent(a, "a@example.org", 1, T0 + timedelta(minutes=1))
        st.mark_unsent(b, error="not attempted: the send stopped on an error", tries=0, permanent=False,
                       next_attempt=None)
        shell.execute("ROLLBACK")
        shell.close()
    note = tmp_path / "s.sqlite3.unrecorded"
    saved = note.read_text() + '{"sent": [1, "a@exa'  # and a line a full disk cut short
    note.write_text(saved + '\n{"sent": [1, "a@example.org", 1], "at": "yesterday"}\n{"unsent": 2}\n')  # and by hand
    with open_state(path, readonly=True) as ro:  # `history`, `schedule`: as the next send will record it
        assert ro.last_sent("a@example.org") == T0 + timedelta(minutes=1) and ro.open_digest("a@example.org") is None
        assert ro.open_digest("b@example.org").status == "pending"
        assert "p" in ro.sent_paper_ids("a@example.org") and "q" not in ro.sent_paper_ids("b@example.org")
        by_id = {d.id: d for d in ro.history(None, 10)}
        assert (by_id[a].status, by_id[a].sent, by_id[a].attempts) == ("sent", T0 + timedelta(minutes=1), 1)
        assert by_id[a].unrecorded.startswith("the state is locked") and by_id[b].status == "pending"
        assert ro.digest_counts() == {"sent": 1, "pending": 1}
    with open_state(path) as st:
        [(did, email, mid, why)] = st.apply_unrecorded()
        assert (did, email, mid) == (a, "a@example.org", "<a@x>") and why.startswith("the state is locked")
        assert st.last_sent("a@example.org") == T0 + timedelta(minutes=1)
        assert st.open_digest("a@example.org") is None
        assert st.open_digest("b@example.org").status == "pending"
        assert st.recover() == [] and not note.exists()
        note.write_text(saved)
        assert st.apply_unrecorded() == [] and not note.exists()
        assert st.open_digest("b@example.org").attempts == 0


def test_migrate_records_what_a_send_could_not_before_copying(tmp_path, pg_url, monkeypatch):
    """A send that delivered while the state was locked left it noted beside
    the file; `state migrate` copied the digest as pending (it was left
    `sending`), and the database sent it again.  It records the note first."""
    from newsletter.state import copy_state

    monkeypatch.setattr(state_module, "BUSY_TIMEOUT_MS", 100)
    path = tmp_path / "s.sqlite3"
    with open_state(path) as st:
        st.see_subscribers(["a@example.org"], T0)
        [did] = st.claim([(None, "a@example.org", "<a@x>", ["p"])], T0)
        shell = sqlite3.connect(path, isolation_level=None)
        shell.execute("BEGIN IMMEDIATE")
        with pytest.raises(StateError):
            st.mark_sent(did, "a@example.org", 1, T0)
        shell.execute("ROLLBACK")
        shell.close()
    copy_state(path, pg_url)
    with open_state(pg_url, readonly=True) as pg:
        assert pg.open_digest("a@example.org") is None and pg.last_sent("a@example.org") == T0
    assert not (tmp_path / "s.sqlite3.unrecorded").exists()


def test_migrate_copies_the_keys_links_were_made_with(tmp_path, pg_url):
    """`serve` warns of a link made with an old key only for a key a send
    recorded; `state migrate` left that record behind, so a PostgreSQL state
    took an old key's genuine links for made-up ones until the next send."""
    from newsletter.state import copy_state

    path = tmp_path / "s.sqlite3"
    with open_state(path) as st:
        st.record_link_key("0a1b2c3d", T0)
    report = copy_state(path, pg_url)
    assert report.counts["link_keys"] == 1
    with open_state(pg_url, readonly=True) as pg:
        assert pg.link_keys() == frozenset({"0a1b2c3d"})
    assert query(pg_url, "SELECT first_used FROM link_keys") == [(T0,)]


def test_migrate_copies_the_papers_kept_for_the_digests_due_later(tmp_path, pg_url):
    """A weekly digest draws on the papers the runs of the week kept: `state
    migrate` on Thursday left them behind, and Monday's digest held only the
    days after the switch."""
    from newsletter.state import copy_state

    path = tmp_path / "s.sqlite3"
    with open_state(path) as st:
        st.keep_listed([Paper("Flow matching", "Flows.", "rss", arxiv_id="2406.00101")], T0)
    report = copy_state(path, pg_url)
    assert report.counts["listed"] == 1
    with open_state(pg_url, readonly=True) as pg:
        assert [p.title for p in pg.listed(T0 - timedelta(days=1), T0 + timedelta(days=1))] == ["Flow matching"]
        assert pg.listed_times(T0 - timedelta(days=1), T0 + timedelta(days=1)) == [T0]


def test_history_lists_the_newest_digests_with_their_papers(state_target):
    """What `newsletter history` reads: with a PostgreSQL state there was no
    way to see what went to whom short of `psql`."""
    papers = [Paper("Diffusion A", "abs", "src", arxiv_id="2401.00001"), Paper("Some Title!", "abs", "src")]
    with open_state(state_target, readonly=True) as ro:
        assert ro.history(None, 10) == [] and ro.digest_counts() == {}
    with open_state(state_target) as st:
        st.see_subscribers(["ada@example.org", "bob@example.org"], T0)
        st.see_papers(papers, T0)
        [first] = st.claim([(None, "ada@example.org", "<m1@x>", ["some title", "2401.00001"])], T0)
        st.mark_sent(first, "ada@example.org", 1, T0 + timedelta(minutes=1))
        [second] = st.claim([(None, "bob@example.org", "<m2@x>", ["2401.00001", "gone"])], T0 + timedelta(days=1))
        st.mark_unsent(second, error="451 later", tries=2, permanent=False, next_attempt=None)
    with open_state(state_target, readonly=True) as ro:
        newest, older = ro.history(None, 10)
        assert ro.history(None, 1) == [newest]
        assert (newest.subscriber, newest.status, newest.message_id, newest.attempts, newest.last_error) == (
            "bob@example.org", "pending", "<m2@x>", 2, "451 later")
        assert newest.sent is None and newest.created == T0 + timedelta(days=1)
        assert newest.papers == (("2401.00001", "Diffusion A"), ("gone", "gone"))  # an unknown title: its id
        assert (older.status, older.sent, older.papers) == (
            "sent", T0 + timedelta(minutes=1), (("some title", "Some Title!"), ("2401.00001", "Diffusion A")))
        assert ro.history("ADA@example.org", 10) == [older]
        assert ro.history("zed@example.org", 10) == []
        assert ro.digest_counts() == {"sent": 1, "pending": 1}


def test_readonly_state_that_does_not_exist_yet_is_empty(state_target):
    with open_state(state_target, readonly=True) as st:
        assert st.plan(["a@example.org"])["a@example.org"].open is None
        assert st.papers(["x"]) == {}
    with open_state(state_target) as st:
        assert st.plan(["a@example.org"])["a@example.org"].open is None
    assert query(state_target, "SELECT count(*) FROM digests") == [(0,)]


def test_paper_kept_in_the_state_is_rebuilt(state_target):
    paper = Paper("T <b>", "A & B", "src", arxiv_id="2401.1", authors=("X", "Y"), url="https://a", upvotes=3)
    with open_state(state_target) as st:
        st.see_papers([paper, paper], T0)
        back = st.papers(["2401.1", "missing"])
    assert list(back) == ["2401.1"] and back["2401.1"].authors == ("X", "Y") and back["2401.1"].title == "T <b>"


def test_papers_a_run_read_are_kept_newest_version_first_and_pruned_after_two_weeks(state_target):
    """The papers each run read are kept for the digests after it (a weekly
    digest fed by a feed that lists one day): one kept twice is kept as the
    last run read it (a new version), and none outlives KEEP_LISTED after
    the last run that read it, so the state does not grow without bound."""
    from newsletter.state import KEEP_LISTED

    v1 = Paper("Old title", "First abstract.", "rss", arxiv_id="2406.00001")
    v2 = Paper("New title", "Revised abstract.", "rss", arxiv_id="2406.00001")
    other = Paper("Other", "Another.", "rss", arxiv_id="2406.00002")
    monday, tuesday = T0, T0 + timedelta(days=1)
    with open_state(state_target) as st:
        st.keep_listed([v1, other], monday)
        st.keep_listed([v2], tuesday)
        assert st.listed_times(monday - timedelta(days=1), tuesday + timedelta(days=1)) == [monday, tuesday]
        assert st.listed_times(monday, tuesday + timedelta(days=1)) == [tuesday]  # (strictly after)
        kept = {p.id: p for p in st.listed(monday - timedelta(days=1), tuesday + timedelta(days=1))}
        assert sorted(kept) == ["2406.00001", "2406.00002"] and kept["2406.00001"].title == "New title"
        assert [p.id for p in st.listed(monday, tuesday + timedelta(days=1))] == ["2406.00001"]
        later = tuesday + KEEP_LISTED - timedelta(seconds=1)  # Monday's paper is over two weeks old, Tuesday's not
        st.keep_listed([], later)
        assert [p.id for p in st.listed(monday - timedelta(days=30), later + timedelta(days=1))] == ["2406.00001"]
        st.keep_listed([], tuesday + KEEP_LISTED + timedelta(seconds=1))
    assert query(state_target, "SELECT count(*) FROM listed") == [(0,)]
    with open_state(state_target, readonly=True) as st:
        assert st.listed(monday - timedelta(days=30), monday + timedelta(days=30)) == []


def test_a_state_file_from_before_kept_papers_reads_none_and_gains_the_table(tmp_path, monkeypatch):
    """A state written before papers were kept (schema 6) reads as keeping
    none (read-only: match, preview, send --dry-run), and a send upgrades it."""
    path = tmp_path / "old.sqlite3"
    monkeypatch.setattr(state_module, "SCHEMA_VERSION", 6)
    monkeypatch.setattr(state_module, "MIGRATIONS", state_module.MIGRATIONS[:6])
    with open_state(path) as st:
        st.see_subscribers(["a@example.org"], T0)
    monkeypatch.undo()
    with open_state(path, readonly=True) as st:
        assert st.listed_times(T0 - timedelta(days=1), T0 + timedelta(days=1)) == []
        assert st.listed(T0 - timedelta(days=1), T0 + timedelta(days=1)) == []
    with open_state(path) as st:
        st.keep_listed([Paper("T", "A.", "rss", arxiv_id="2406.1")], T0)
        assert [p.id for p in st.listed(T0 - timedelta(days=1), T0 + timedelta(days=1))] == ["2406.1"]
    assert query(path, "PRAGMA user_version") == [(state_module.SCHEMA_VERSION,)]


def test_migration_hook_upgrades_older_files(tmp_path, monkeypatch):
    path = tmp_path / "s.sqlite3"
    State.open(path).close()
    nxt = state_module.SCHEMA_VERSION + 1
    vnext = lambda db: db.execute("ALTER TABLE subscribers ADD COLUMN note TEXT")  # noqa: E731
    monkeypatch.setattr(state_module, "MIGRATIONS", state_module.MIGRATIONS + [vnext])
    monkeypatch.setattr(state_module, "SCHEMA_VERSION", nxt)
    monkeypatch.setattr(state_module, "READABLE_SINCE", nxt)  # a migration that changes a table
    with pytest.raises(StateError, match=f"older than this version's {nxt}; run `newsletter send`"):
        State.open(path, readonly=True)
    State.open(path).close()
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA user_version").fetchone()[0] == nxt
    assert "note" in {r[1] for r in con.execute("PRAGMA table_info(subscribers)")}


def test_a_new_state_is_created_whole_or_not_at_all(tmp_path, monkeypatch):
    """The schema is built beside the state's path and renamed into place: a
    step that fails leaves no file there (nor its half-made copy), and the
    next open creates the whole schema."""
    path = tmp_path / "s.sqlite3"

    def broken(db):
        raise sqlite3.OperationalError("out of memory")

    good = state_module.MIGRATIONS
    monkeypatch.setattr(state_module, "MIGRATIONS", good[:2] + [broken] + good[3:])
    with pytest.raises(StateError) as caught:
        State.open(path)
    assert str(caught.value) == f"{path}: cannot create the state: out of memory"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.sqlite3.writer"]
    monkeypatch.setattr(state_module, "MIGRATIONS", good)
    State.open(path).close()
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA user_version").fetchone()[0] == state_module.SCHEMA_VERSION
    con.close()


def test_newer_or_foreign_files_are_refused(tmp_path):
    path = tmp_path / "s.sqlite3"
    State.open(path).close()
    with sqlite3.connect(path) as con:
        con.execute(f"PRAGMA user_version = {state_module.SCHEMA_VERSION + 1}")
    for readonly in (False, True):
        with pytest.raises(StateError, match=rf"newer Paper Digest \(schema version {state_module.SCHEMA_VERSION + 1}; "
                           rf"this version knows up to {state_module.SCHEMA_VERSION}\)"):
            State.open(path, readonly=readonly)
    other = tmp_path / "other.sqlite3"
    with sqlite3.connect(other) as con:
        con.execute("CREATE TABLE t (x)")
    for readonly in (False, True):  # read-only (match, schedule) said "run `newsletter send` once to upgrade it"
        with pytest.raises(StateError, match=r"not a Paper Digest state file \(it has tables but no schema version\)"):
            State.open(other, readonly=readonly)
    with pytest.raises(StateError, match="folder .* does not exist"):
        State.open(tmp_path / "missing" / "s.sqlite3")


def test_a_damaged_state_file_says_so_and_how_to_recover_it(tmp_path):
    path = tmp_path / "s.sqlite3"
    with State.open(path) as st:
        st.see_subscribers([f"user{n}@example.org" for n in range(200)], T0)
    size = path.stat().st_size
    with open(path, "r+b") as f:  # every page past the header page: the tables' own
        f.seek(4096)
        f.write(b"\xde\xad" * ((size - 4096) // 2))
    with pytest.raises(StateError) as info:
        with State.open(path, readonly=True) as st:
            st.first_seen("user1@example.org")
    message = str(info.value)
    assert message.startswith(f"{path}: database disk image is malformed: the state file is damaged")
    assert f"sqlite3 {path} .recover" in message


_CUT_SHORT = """
import os, sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("PRAGMA cache_size=1")  # the change spills into the file, its undo into <state>-journal
db.execute("BEGIN")
db.execute("UPDATE subscribers SET first_seen = 'x'")
os._exit(0)  # killed mid-write: a hot journal
"""


def test_a_write_another_tool_left_cut_short_is_said_by_a_reader_and_undone_by_a_writer(tmp_path):
    """A `sqlite3` shell killed in a transaction (the rollback journal mode
    this tool never leaves a state in) leaves a hot <state>-journal, which a
    read-only opening cannot undo: schedule, history, match and validate each
    said only 'attempt to write a readonly database'.  A writer undoes it."""
    import subprocess
    import sys

    path = tmp_path / "s.sqlite3"
    with State.open(path) as st:
        st.see_subscribers([f"user{n}@example.org" for n in range(300)], T0)
    subprocess.run([sys.executable, "-c", _CUT_SHORT, str(path)], check=True)
    assert (tmp_path / "s.sqlite3-journal").stat().st_size > 0
    with pytest.raises(StateError) as info:
        with State.open(path, readonly=True) as st:
            st.first_seen("user1@example.org")
    assert str(info.value) == (
        f"{path}: attempt to write a readonly database: a write to the state was cut short (s.sqlite3-journal, left "
        "by a process killed while writing it) and this command only reads, so it cannot undo it; the next "
        f"`newsletter send` does (or `sqlite3 {path} 'PRAGMA quick_check'`), then this reads it")
    with State.open(path) as st:  # a writer rolls it back: nothing of the cut-short write stays
        assert st.first_seen("user1@example.org") == T0
    with State.open(path, readonly=True) as st:
        assert st.first_seen("user1@example.org") == T0


_FULL_DISK = """
import resource, signal, sys
from datetime import UTC, datetime
from newsletter.errors import StateError
from newsletter.state import State
State.open(sys.argv[1]).close()
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))  # for this process alone: a full disk
try:
    with State.open(sys.argv[1]) as st:
        st.see_subscribers([f"user{n}@example.org" for n in range(20000)], datetime(2024, 5, 6, tzinfo=UTC))
except StateError as exc:
    print(exc)
"""


def test_a_state_that_cannot_grow_says_the_disk_may_be_full(tmp_path):
    """SQLite says only "disk I/O error" when the file may not grow."""
    import subprocess
    import sys

    from conftest import ROOT

    path = tmp_path / "s.sqlite3"
    proc = subprocess.run(
        [sys.executable, "-c", _FULL_DISK, str(path)],
        capture_output=True, text=True, timeout=60, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert proc.stdout == f"{path}: disk I/O error: the state could not be written; is its disk full (or over a quota)?\n", (
        proc.stdout + proc.stderr
    )
    with State.open(path, readonly=True) as st:  # the failed transaction left nothing behind
        assert st.first_seen("user1@example.org") is None


_KILLED_CREATING = """
import os, signal, sys
from newsletter.state import State
from newsletter.state import sqlite as m
die = lambda *a: os.kill(os.getpid(), signal.SIGKILL)
step = sys.argv[2]
if step == "schema":  # half of the tables made
    m.MIGRATIONS[2] = die
elif step == "fsync":  # made, before it is flushed
    m.fsync_path = die
elif step == "renamed":  # in place, before its folder is flushed
    real = os.rename
    os.rename = lambda a, b: (real(a, b), die())
State.open(sys.argv[1]).close()
"""


@pytest.mark.parametrize("step", ["schema", "fsync", "renamed"])
def test_a_first_run_killed_while_making_the_state_leaves_none_or_a_whole_one(tmp_path, step):
    """SQLite makes its file at the open and its tables at the first commit:
    a first run killed between the two left an empty file, taken as a new
    state, and so was a state cut to 0 bytes later.  Now a real process,
    killed at each step of making one, leaves no file or a whole state; the
    next open makes or opens it, and what was half made is cleared away."""
    import subprocess
    import sys

    from conftest import ROOT

    path = tmp_path / "s.sqlite3"
    proc = subprocess.run([sys.executable, "-c", _KILLED_CREATING, str(path), step], capture_output=True,
                          timeout=60, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == -9, proc.stderr
    assert path.exists() == (step == "renamed")
    if path.exists():
        assert query(path, "PRAGMA user_version") == [(state_module.SCHEMA_VERSION,)]
    with State.open(path) as st:
        st.see_subscribers(["a@example.org"], T0)
    with State.open(path, readonly=True) as st:
        assert st.first_seen("a@example.org") == T0
    assert not (tmp_path / "s.sqlite3.new").exists()


_KILLED_WRITING = """
import os, signal, sys
from datetime import UTC, datetime
from newsletter.state import State
st = State.open(sys.argv[1])
st.see_subscribers(["old@example.org"], datetime(2024, 5, 6, tzinfo=UTC))
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_state_removed_beside_the_wal_of_a_killed_send_starts_afresh(tmp_path):
    """A send killed in WAL mode leaves `-wal` and `-shm` beside the state.
    The state removed (to start afresh, as the refusal of an empty one
    says), the new one read that WAL as its own: the old state's last
    transactions came back into it (with another layout, a damaged file)."""
    import subprocess
    import sys

    from conftest import ROOT

    path = tmp_path / "s.sqlite3"
    proc = subprocess.run([sys.executable, "-c", _KILLED_WRITING, str(path)], capture_output=True, timeout=60,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == -9 and (tmp_path / "s.sqlite3-wal").stat().st_size > 0, proc.stderr
    path.unlink()
    with State.open(path) as st:
        assert st.first_seen("old@example.org") is None
        st.see_subscribers(["new@example.org"], T0)
    assert query(path, "SELECT email FROM subscribers") == [("new@example.org",)]


_OPEN_AND_SEE = """
import sys
from datetime import UTC, datetime
from newsletter.state import State
with State.open(sys.argv[1]) as st:
    st.see_subscribers([sys.argv[2]], datetime(2024, 5, 6, tzinfo=UTC))
"""


def test_first_sends_started_together_make_one_state_and_all_use_it(tmp_path):
    """Sends started together (cron) on no state yet: one makes it, the
    others wait for it and use it; none finds a half-made file, and none
    replaces the one another is already writing to."""
    import subprocess
    import sys

    from conftest import ROOT

    path = tmp_path / "s.sqlite3"
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    procs = [subprocess.Popen([sys.executable, "-c", _OPEN_AND_SEE, str(path), f"u{n}@example.org"], env=env,
                              stderr=subprocess.PIPE, text=True) for n in range(6)]
    errors = [p.communicate(timeout=60)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, errors
    assert query(path, "SELECT count(*) FROM subscribers") == [(6,)]


@pytest.mark.parametrize("readonly", [False, True])
def test_a_state_cut_to_nothing_or_without_its_tables_is_refused_not_taken_as_new(tmp_path, readonly):
    """A state truncated to 0 bytes (a full disk, a bad copy, `> state.db`)
    was taken as a new one: every subscriber got again what it had had.
    Nothing here leaves a state so, so it is refused, saying what to do, and
    left as it was; so is a SQLite file without a schema version or tables."""
    path = tmp_path / "s.sqlite3"
    path.write_bytes(b"")
    with pytest.raises(StateError) as caught:
        State.open(path, readonly=readonly)
    assert str(caught.value) == (
        f"{path}: the state file is empty (0 bytes), not a Paper Digest state (one is never left empty: this one "
        "was cut short by a full disk, a bad copy or `> s.sqlite3`, or made by hand); restore it from a backup, or "
        "remove it to start a new state (every subscriber then gets again the papers it was sent)"
    )
    assert path.stat().st_size == 0
    bare = tmp_path / "bare.sqlite3"
    con = sqlite3.connect(bare)
    con.execute("VACUUM")  # a SQLite file, header and all, with nothing in it
    con.close()
    assert bare.stat().st_size > 0
    with pytest.raises(StateError) as caught:
        State.open(bare, readonly=readonly)
    assert str(caught.value) == (
        f"{bare}: not a Paper Digest state file (a SQLite database without its tables); restore it from a backup, "
        "or remove it to start a new state (every subscriber then gets again the papers it was sent)"
    )
    assert query(bare, "SELECT count(*) FROM sqlite_master") == [(0,)]


_FIRST_RUN_DISK_FULL = """
import resource, signal, sys
from newsletter.errors import StateError
from newsletter.state import State
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))  # for this process alone: a full disk
try:
    State.open(sys.argv[1])
except StateError as exc:
    print(exc)
"""


def test_a_first_run_on_a_full_disk_leaves_no_state_behind(tmp_path):
    """A first send on a full disk left an empty state file, which every
    later send took as a new state."""
    import subprocess
    import sys

    from conftest import ROOT

    path = tmp_path / "s.sqlite3"
    proc = subprocess.run([sys.executable, "-c", _FIRST_RUN_DISK_FULL, str(path)], capture_output=True, text=True,
                          timeout=60, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert proc.stdout == (
        f"{path}: cannot create the state: disk I/O error: is its disk full (or over a quota)?\n"
    ), proc.stdout + proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.sqlite3.writer"]


def test_a_send_whose_lock_file_another_took_after_its_removal_hands_over_nothing_more(tmp_path):
    """The lock file removed, and a new one taken by another send before
    this one noticed: the other recovers this one's claims and sends them,
    so this one must stop handing messages over (claims_lost says why)."""
    import os

    from newsletter.files import lock_file

    path = tmp_path / "s.sqlite3"
    with open_state(path) as st, st.exclusive(wait=0):
        lock = tmp_path / "s.sqlite3.lock"
        assert st.claims_lost() is None
        lock.unlink()
        assert st.claims_lost() is None and lock.exists()  # taken again
        lock.unlink()
        other = lock_file(lock, "4242@elsewhere\n")  # (this process: the removed file's holder is not asked of)
        try:
            assert st.claims_lost() == (
                f"{lock}: the send's lock file was removed while this send ran, and another send (4242@elsewhere) "
                "has taken a new one; this send hands over nothing more (another send may send what this one claimed)"
            )
        finally:
            os.close(other)


@pytest.fixture
def proxied(pg_server, pg_url, monkeypatch):
    """The test's database through a TcpProxy (tests/tcp_proxy.py): the proxy,
    and the database's URL through it."""
    from pg_server import PASSWORD
    from tcp_proxy import TcpProxy

    monkeypatch.setenv("PGPASSWORD", PASSWORD)  # (the .pgpass line names the server's own port)
    proxy = TcpProxy(pg_server.port)
    yield proxy, proxy.url(pg_url, pg_server.port)
    proxy.stop()


def test_a_postgresql_server_that_stops_answering_is_given_up_on_not_waited_for(proxied, monkeypatch):
    """A proxy between worker and server that stops forwarding (a network
    partition no TCP timeout notices: the proxy acknowledges everything):
    the worker's next statement waited for ever.  It gives up after
    ANSWER_WITHIN, and the next statement fails at once: ANSWER_WITHIN is
    120 s for it, so another wait would take 120 s and say so (the bound
    is against that, not against a loaded machine's 0.3 s)."""
    import time

    from newsletter.state import postgres as postgres_state

    monkeypatch.setattr(postgres_state, "ANSWER_WITHIN", 0.3)
    proxy, far = proxied
    st = open_state(far)
    st.see_subscribers(["a@example.org"], T0)
    proxy.partition()
    message = "cannot reach PostgreSQL: no answer within 0.3 s (a network fault, or the server stopped responding)"
    with pytest.raises(StateError, match=re.escape(message)):
        st.plan(["a@example.org"])
    monkeypatch.setattr(postgres_state, "ANSWER_WITHIN", 120.0)
    started = time.monotonic()
    with pytest.raises(StateError, match=re.escape(message)):
        st.see_subscribers(["b@example.org"], T0)
    st.close()
    assert time.monotonic() - started < 60  # not another wait (of 120 s)


def test_a_postgresql_wait_that_looks_for_a_stop_still_gets_a_slow_answer_and_the_stop_ends_a_silent_one(
    proxied, monkeypatch
):
    """Once a send may be stopped, a statement waits in steps that look for
    the stop (a partition held SIGTERM ANSWER_WITHIN, 120 s): an answer
    slower than a step still comes whole, and once stopped a silent server
    is given up on within STOPPING_ANSWER_WITHIN."""
    from newsletter.state import postgres as postgres_state

    monkeypatch.setattr(postgres_state, "LOOK_FOR_A_STOP_EVERY", 0.05)
    monkeypatch.setattr(postgres_state, "STOPPING_ANSWER_WITHIN", 0.2)
    proxy, far = proxied
    stopped = threading.Event()
    st = open_state(far)
    try:
        st.stop_waiting_when(stopped.is_set)
        [[slow]] = st.session.execute("SELECT pg_sleep(0.3)::text || 'answered'").fetchall()  # six steps
        assert slow == "answered"
        proxy.partition()
        stopped.set()
        message = "cannot reach PostgreSQL: no answer within 0.2 s of the stop (a network fault"
        with pytest.raises(StateError, match=re.escape(message)):
            st.see_subscribers(["a@example.org"], T0)  # (ANSWER_WITHIN, 120 s, is still the limit without the stop)
    finally:
        st.close()


def test_a_postgresql_server_that_stops_answering_the_heartbeat_is_given_up_on_as_for_a_statement(proxied, monkeypatch):
    """The partition found by the session's heartbeat (the worker waiting on
    a slow mail server meanwhile): the next statement failed with 'the
    connection is closed', and each of the delivery threads' went on to
    wait ANSWER_WITHIN again.  It is the same silence, said the same way."""
    from newsletter.state import postgres as postgres_state

    monkeypatch.setattr(postgres_state, "ANSWER_WITHIN", 0.3)
    monkeypatch.setattr(postgres_state, "SESSION_IDLE_LIMIT", 0.4)
    proxy, far = proxied
    st = open_state(far)
    proxy.partition()
    st._heartbeat.thread.join(10)
    assert not st._heartbeat.thread.is_alive()
    message = "cannot reach PostgreSQL: no answer within 0.3 s (a network fault, or the server stopped responding)"
    with pytest.raises(StateError, match=re.escape(message)):
        st.plan(["a@example.org"])
    st.close()


def test_a_state_on_a_read_only_mount_says_so_not_chmod(tmp_path):
    """A state on a file system mounted read-only (a backup restored, a
    container's read-only volume) was told to `chmod u+w` the file, which
    no one can there.  Needs root to mount (a bind mount, read-only)."""
    import os
    import subprocess

    if os.geteuid() != 0:
        pytest.skip("mounting needs root")
    source, seen = tmp_path / "rw", tmp_path / "ro"
    source.mkdir()
    seen.mkdir()
    with open_state(source / "s.sqlite3") as st:
        st.see_subscribers(["a@example.org"], T0)
    if subprocess.run(["mount", "--bind", "-o", "ro", str(source), str(seen)], capture_output=True).returncode:
        pytest.skip("this machine allows no bind mount")
    try:
        with pytest.raises(StateError) as info:
            open_state(seen / "s.sqlite3")
        assert str(info.value) == (
            f"{seen / 's.sqlite3'}: the state is on a file system mounted read-only: `send` records there what it "
            "sends; remount it read-write or point `state:` at a writable place"
        )
        with open_state(seen / "s.sqlite3", readonly=True) as ro:  # readers still read it
            assert ro.first_seen("a@example.org") == T0
    finally:
        subprocess.run(["umount", str(seen)], check=True)


def test_send_lock_excludes_a_second_holder(tmp_path):
    path = tmp_path / "s.sqlite3"
    clock = [0.0]
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        clock[0] += seconds

    with send_lock(path):
        with pytest.raises(StateError, match=r"another send \(\d+@[^\n]*\) has held the state for over 1 s; giving up: "
                           "this one sent and recorded nothing, and what it would have sent goes out with that send "
                           "or the next$"):
            with send_lock(path, wait=1.0, sleep=sleep, clock=lambda: clock[0]):
                pass
        assert slept and all(s <= 0.05 for s in slept)
    with send_lock(path, wait=0):  # released
        pass


def test_paper_json_roundtrip():
    paper = Paper(
        "T", "A", "src", arxiv_id="2401.1", authors=("X", "Y"), url="https://a", categories=("cs.LG",), upvotes=3,
        published=datetime(2024, 1, 1, tzinfo=UTC),
    )
    back = paper_from_json(paper.to_json())
    assert back.id == paper.id and back.authors == paper.authors and back.published == paper.published


# --------------------------------------------------------------------------- PostgreSQL: workers


def test_postgres_workers_skip_each_others_batches_without_waiting(pg_url):
    emails = [f"u{i}@example.org" for i in range(6)]
    with open_state(pg_url) as a, open_state(pg_url) as b:
        # the server notices a vanished worker host within about a minute, not hours
        assert a.session.execute("SHOW tcp_keepalives_idle").fetchone()[0] == "30"
        assert a.session.execute("SHOW tcp_user_timeout").fetchone()[0] == "60000"
        a.see_subscribers(emails, T0)
        with a.claiming(emails[:4], T0) as held:
            assert set(held.subscribers) == set(emails[:4])
            # b asks for everyone while a holds four: it gets the other two at once
            with b.claiming(emails, T0) as other:
                assert set(other.subscribers) == set(emails[4:])
                other.claim([(None, e, f"<b{e}>", ["p"]) for e in other.subscribers])
            held.claim([(None, e, f"<a{e}>", ["p"]) for e in emails[:4]])
        rows = query(pg_url, "SELECT subscriber, worker FROM digests ORDER BY subscriber")
        assert [r[1] for r in rows] == [a.worker] * 4 + [b.worker] * 2
        # a live worker's claims are never recovered by another
        assert b.recover() == [] and a.recover() == []
    # both closed (their sessions end): a new worker recovers all six
    with open_state(pg_url) as c:
        assert sorted(r[1] for r in recover_when_gone(c, pg_url, 6)) == emails


def recover_when_gone(state, url: str, count: int) -> list[tuple]:
    """``state.recover()`` until ``count`` digests came back: a session ends on the
    server a moment after its client closed or died (poll the server, not the clock)."""
    rows: list[tuple] = []
    for _ in range(200):
        rows += state.recover()
        if len(rows) >= count:
            break
        query(url, "SELECT pg_sleep(0.05)")
    return rows


def test_postgres_killed_worker_claims_are_recovered_by_the_next_one(pg_url, tmp_path):
    import os
    import signal
    import subprocess
    import sys

    from conftest import ROOT

    script = tmp_path / "worker.py"
    script.write_text(
        "import sys, datetime\n"
        "from newsletter.state import open_state\n"
        "t = datetime.datetime(2024, 5, 6, tzinfo=datetime.timezone.utc)\n"
        "st = open_state(sys.argv[1])\n"
        "st.see_subscribers(['k@example.org'], t)\n"
        "st.claim([(None, 'k@example.org', '<k@x>', ['p'])], t)\n"
        "print('claimed', flush=True)\n"
        "sys.stdin.read()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, str(script), pg_url], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert proc.stdout.readline().strip() == "claimed"
        with open_state(pg_url) as other:
            assert other.recover() == []  # alive: its claim is its own
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        proc.kill()
    # The kernel closed the socket; the server ends the session and frees the lock
    # (not instantly: poll the server, never the clock).
    with open_state(pg_url) as other:
        rows = recover_when_gone(other, pg_url, 1)
        assert [(r[1], r[2]) for r in rows] == [("k@example.org", "<k@x>")]
        assert other.open_digest("k@example.org").status == "pending"


def test_postgres_a_worker_knows_when_its_session_ended_and_leaves_reclaimed_digests_alone(pg_url, tmp_path):
    """A worker whose session ended holds no claim any more: it says so
    (a send stops handing its digests over), and an outcome it records late
    never undoes the digest another worker took back and sent."""
    import psycopg

    with open_state(pg_url) as first, open_state(tmp_path / "lite.sqlite3") as lite:
        assert lite.claims_lost() is None  # SQLite: until the file is removed or replaced
        (tmp_path / "lite.sqlite3").rename(tmp_path / "moved.sqlite3")
        (tmp_path / "lite.sqlite3").write_bytes(b"")
        assert "the state file was removed or replaced while this send ran" in lite.claims_lost()
        first.see_subscribers(["k@example.org"], T0)
        [did] = first.claim([(None, "k@example.org", "<k@x>", ["p"])], T0)
        assert first.claims_lost() is None
        with psycopg.connect(pg_url, autocommit=True) as con:
            pid = first.session.info.backend_pid
            assert con.execute("SELECT pg_terminate_backend(%s, 10000)", (pid,)).fetchone() == (True,)
        lost = first.claims_lost()
        assert lost is not None and "session ended (terminating connection due to administrator command)" in lost
        with open_state(pg_url) as second:
            assert [r[2] for r in second.recover()] == ["<k@x>"]
            second.claim([(second.open_digest("k@example.org"), "k@example.org", "<k@x>", ["p"])], T0)
            second.mark_sent(did, "k@example.org", 1, T0)
        # the first worker's delivery thread (a pooled connection) records a late outcome
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(1) as pool:
            pool.submit(
                first.mark_unsent, did, error="not attempted", tries=0, permanent=False, next_attempt=None
            ).result()
    assert query(pg_url, "SELECT status, last_error FROM digests") == [("sent", None)]


def test_postgres_a_worker_resumes_its_session_once_another_has_taken_its_claims_back(pg_url, pg_server):
    """PostgreSQL restarted: every worker's session ended.  A worker that
    resumes (takes its lock anew on the restarted server) owns again the
    claims still recorded as its own.  The next worker's recover() let go
    of a gone worker's lock the moment it saw it free and only then took
    its claims back: a worker resuming in between found them its own and
    handed one over as the other took it.  recover() holds the lock until
    they are taken.  The resume found the lock held and gave up at once,
    though a lock held means only that some session has it this moment (a
    liveness probe, a recover()): it tries again until RESUME_WITHIN runs
    out, resumes once recover() is done, and the claims taken are not its own."""
    import psycopg

    with open_state(pg_url) as first:
        first.see_subscribers(["k@example.org"], T0)
        [did] = first.claim([(None, "k@example.org", "<k@x>", ["p"])], T0)
        pg_server.restart()
        result: list = []
        lost: list = []
        with psycopg.connect(pg_url, autocommit=True) as watcher, psycopg.connect(pg_url) as holder, \
                open_state(pg_url) as second:
            holder.execute("SELECT 1 FROM digests WHERE id = %s FOR UPDATE", (did,))  # a psql session in the way
            taking = threading.Thread(target=lambda: result.append(second.recover()))
            taking.start()
            resuming = threading.Thread(target=lambda: lost.append(first.claims_lost()))
            try:
                waiting: list = []
                while taking.is_alive() and not waiting:  # recover() waits for the row, the first's lock taken
                    waiting = holder.execute("SELECT pid FROM pg_locks WHERE NOT granted").fetchall()
                assert waiting, result
                known = {pid for (pid,) in watcher.execute("SELECT pid FROM pg_stat_activity").fetchall()}
                resuming.start()  # the first finds its session ended, tries to resume it
                tried = False
                while resuming.is_alive() and not tried:  # until it has found its lock held by recover()
                    tried = any(pid not in known for (pid,) in watcher.execute(
                        "SELECT pid FROM pg_stat_activity WHERE query LIKE 'SELECT pg_try_advisory_lock(%'"
                    ).fetchall())
                assert tried, lost
            finally:
                holder.rollback()
                taking.join(timeout=60)
                if resuming.ident is not None:  # (started)
                    resuming.join(timeout=60)
        assert [(r[0], r[2]) for r in result[0]] == [(did, "<k@x>")]
        assert lost == [None] and first.resumed == 1  # resumed once recover() was done
        assert not first.still_claimed(did)  # the claim taken back is not its own


def test_postgres_resumed_after_a_restart_a_worker_owns_only_the_claims_no_one_took(pg_url, pg_server):
    """A worker's session a restart ended is resumed on the restarted server
    (said once), and a claim another worker took back meanwhile is not its
    own any more (State.still_claimed), while one no one touched is."""
    with open_state(pg_url) as first:
        first.see_subscribers(["k@example.org", "m@example.org"], T0)
        kept, taken = first.claim([(None, "k@example.org", "<k@x>", ["p"]), (None, "m@example.org", "<m@x>", ["q"])], T0)
        assert first.still_claimed(kept) and first.still_claimed(taken)  # (no read while never resumed)
        pg_server.restart()
        query(pg_url, "UPDATE digests SET status = 'pending' WHERE id = ? RETURNING id", (taken,))  # taken back
        assert first.claims_lost() is None and first.resumed == 1
        assert first.still_claimed(kept) and not first.still_claimed(taken)
        assert first.unsubscribed(["k@example.org"]) == {}  # the session answers
        first.mark_sent(kept, "k@example.org", 1, T0)
    assert query(pg_url, "SELECT message_id, status FROM digests ORDER BY id") == [("<k@x>", "sent"), ("<m@x>", "pending")]


def test_postgres_migrate_of_a_big_state_is_not_cut_by_the_workers_statement_limit(tmp_path, pg_url):
    """`state migrate` copies each table in one COPY on a worker's session,
    whose statements the server cancels past statement_limit() (110 s): a
    big state's copy was cancelled half-way ("canceling statement due to
    statement timeout") and nothing was copied.  The copy lifts the limit
    for its own transaction (here a limit of 100 ms on the session, and a
    copy of 100,000 rows)."""
    from newsletter.state.postgres import PostgresState, import_sqlite

    path = tmp_path / "s.sqlite3"
    emails = [f"u{i}@example.org" for i in range(2000)]
    with open_state(path) as st:
        st.see_subscribers(emails, T0)
        st.claim([(None, e, f"<{e}>", [f"p{j}" for j in range(50)]) for e in emails], T0)
    with open_state(path, readonly=True) as src, PostgresState.open(pg_url) as dst:
        dst.session.execute("SET statement_timeout = 100")
        counts = import_sqlite(src, dst)
        assert dst.session.execute("SHOW statement_timeout").fetchone() == ("100ms",)  # (for its transaction only)
    assert counts["digest_papers"] == 100_000 and counts["digests"] == 2000
    assert query(pg_url, "SELECT count(*) FROM digest_papers") == [(100_000,)]


def test_postgres_urls_are_named_without_their_password_however_they_fail():
    """A URL libpq cannot read was quoted whole in the error, password and
    all, and one that does not parse as a URL made naming it raise; a
    password given as a query parameter was shown as written."""
    from newsletter.state import public_url
    from newsletter.state.postgres import PostgresState

    with pytest.raises(StateError) as err:
        PostgresState.open("postgresql://digest:s3cret@[::1/digest")
    assert "s3cret" not in str(err.value) and "not a valid PostgreSQL URL" in str(err.value), str(err.value)
    assert public_url("postgresql://digest@db/x?sslmode=require&password=s3cret") == (
        "postgresql://digest@db/x?sslmode=require&password=***")
    assert public_url("postgresql://digest:s3cret@db:99999x/x") == "postgresql://digest@..."


def test_postgres_a_session_a_proxy_holds_after_its_worker_went_ends_and_frees_the_claims(
    pg_url, proxied, monkeypatch
):
    """A proxy (PgBouncer, a load balancer) that lost the worker's side of a
    connection and kept the server's side open: the server's session, and
    with it the worker's lock, lived on (keepalives reach the proxy, which
    answers), so no other worker ever took back the digests claimed there.
    The server now ends a worker's session idle for SESSION_IDLE_LIMIT; a
    living worker's session never idles that long (its heartbeat)."""
    import psycopg

    from newsletter.state import postgres as postgres_state

    monkeypatch.setattr(postgres_state, "SESSION_IDLE_LIMIT", 0.3)
    proxy, far = proxied
    first = open_state(far)
    first.see_subscribers(["k@example.org"], T0)
    first.claim([(None, "k@example.org", "<k@x>", ["p"])], T0)
    with psycopg.connect(pg_url, autocommit=True) as con:
        con.execute("SET lock_timeout = '1s'")  # over three limits: the living worker keeps its lock
        with pytest.raises(psycopg.errors.LockNotAvailable):
            con.execute("SELECT pg_advisory_lock(%s)", (first.worker,))
        proxy.drop_clients()
        con.execute("SET lock_timeout = '10s'")  # waits for the server to end the session behind the proxy
        con.execute("SELECT pg_advisory_lock(%s)", (first.worker,))
        con.execute("SELECT pg_advisory_unlock(%s)", (first.worker,))
    with open_state(pg_url) as second:
        assert [r[2] for r in second.recover()] == ["<k@x>"]
    assert first.claims_lost() is not None
    proxy.cut.clear()  # (closing, the worker looks for that session through the proxy: 5 s if it forwards nothing)
    first.close()


def test_postgres_a_worker_that_lost_its_side_of_a_session_ends_the_servers_side(pg_url, proxied, monkeypatch):
    """The worker sees its session end (a proxy dropped its side) while the
    server's side lives on behind the proxy, holding the worker's lock: its
    claims waited for the server to find that session idle.  Closing, the
    worker ends that session itself, and the next worker takes them at once."""
    import psycopg

    proxy, far = proxied
    first = open_state(far)
    first.see_subscribers(["k@example.org"], T0)
    first.claim([(None, "k@example.org", "<k@x>", ["p"])], T0)
    with open_state(pg_url) as other:  # an innocent bystander's lock is left alone
        proxy.drop_clients()
        assert first.claims_lost() is not None
        with open_state(pg_url) as second:
            assert second.recover() == []  # the server's side still holds the lock
        proxy.cut.clear()  # new connections go through again (the proxy itself is fine)
        first.close()
        with open_state(pg_url) as second:
            assert [r[2] for r in second.recover()] == ["<k@x>"]
        with psycopg.connect(pg_url, autocommit=True) as con:
            assert con.execute("SELECT pg_try_advisory_lock(%s)", (other.worker,)).fetchone() == (False,)


def test_postgres_a_writer_is_exempt_from_the_databases_idle_session_timeout(pg_url):
    """A database with `idle_session_timeout` (set to end forgotten sessions)
    ended a worker's session while a slow mail server took its batch, and
    with it the worker's claims.  A writer's connections are exempt: its
    session has the worker's own limit, which its heartbeat keeps it under."""
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as con:
        con.execute(f"ALTER DATABASE {pg_url.rsplit('/', 1)[1]} SET idle_session_timeout = '2s'")
    with open_state(pg_url) as st:
        assert st.session.execute("SHOW idle_session_timeout").fetchone() == ("5min",)
        assert st.session.execute("SHOW idle_in_transaction_session_timeout").fetchone() == ("5min",)
        with st._pool().connection() as pooled:  # the delivery threads'
            assert pooled.execute("SHOW idle_session_timeout").fetchone() == ("0",)
    with open_state(pg_url, readonly=True) as ro:  # (a reader holds no claims)
        assert ro.session.execute("SHOW idle_session_timeout").fetchone() == ("2s",)


def test_postgres_a_statement_waiting_on_a_lock_is_named_as_such_not_as_a_silent_server(pg_url, monkeypatch):
    """The server's limit on a worker's statements (statement_timeout) was
    the worker's own wait for an answer, ANSWER_WITHIN: the two raced, and a
    worker whose record waited on a row lock another session held (a psql
    session left in a transaction, another worker's) mostly gave up first,
    "no answer within 120 s (a network fault, or the server stopped
    responding)", and took the server for gone.  The server's limit is
    shorter now: it says the statement waited, and on what."""
    import psycopg

    from newsletter.state import postgres

    monkeypatch.setattr(postgres, "ANSWER_WITHIN", 4.0)  # the server's limit: 2 s
    with open_state(pg_url) as st:
        st.see_subscribers(["a@example.org"], T0)
        with st.claiming(["a@example.org"], T0) as batch:
            [digest] = batch.claim([(None, "a@example.org", "<a@example.org>", [])])
        with psycopg.connect(pg_url) as holder:  # (a transaction left open)
            holder.execute("SELECT 1 FROM digests WHERE id = %s FOR UPDATE", (digest,))
            with pytest.raises(StateError) as err:
                st.drop(digest)  # (a settle of a due subscriber passes over a held row: it waits on none)
        message = str(err.value)
        assert message.startswith(f"{pg_url}: PostgreSQL: canceling statement due to statement timeout (no result "
                                  "within the worker's 2 s, while deleting tuple "), message
        assert message.endswith(' in relation "digests": a lock another session holds (pg_stat_activity and '
                                "pg_locks show which), or an overloaded server)"), message
        st.drop(digest)  # the server answered all along: the state goes on
        assert query(pg_url, "SELECT count(*) FROM digests") == [(0,)]


def test_postgres_pgbouncer_with_no_server_connection_free_says_its_pool_is_full(pg_server, pg_url):
    """PgBouncer in session mode whose pool for the database is smaller
    than the workers' connections keeps a new one waiting, then ends it with
    one word: 'cannot reach PostgreSQL: query_wait_timeout'."""
    import psycopg
    from pg_server import Bouncer

    try:
        bouncer = Bouncer(pg_server, "session", "default_pool_size = 1\nquery_wait_timeout = 2\n")
    except FileNotFoundError:
        pytest.skip("needs PgBouncer (Debian's pgbouncer)")
    url = bouncer.url(pg_url)
    try:
        with psycopg.connect(url) as holder:
            holder.execute("SELECT 1")  # the pool's one server connection is this client's
            with pytest.raises(StateError) as err:
                open_state(url)
    finally:
        bouncer.stop()
    assert str(err.value) == (
        f"{url}: cannot reach PostgreSQL: query_wait_timeout (PgBouncer had no server connection free for it within "
        "its query_wait_timeout: its pool for this database and user is full; a send needs 2 connections and takes "
        "up to 17: raise default_pool_size or max_db_connections for every worker's)")


# --------------------------------------------------------------------------- PostgreSQL: schema, errors


def test_postgres_schema_is_versioned_and_migrated_in_place(pg_url, monkeypatch, caplog):
    from newsletter.state import postgres

    caplog.set_level(logging.INFO, logger="newsletter.state.postgres")
    open_state(pg_url).close()
    open_state(pg_url).close()  # a second open finds it current
    assert query(pg_url, "SELECT version FROM paper_digest_schema") == [(postgres.SCHEMA_VERSION,)]
    tables = {r[0] for r in query(pg_url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert {"papers", "subscribers", "digests", "digest_papers", "paper_digest_schema"} <= tables
    nxt = postgres.SCHEMA_VERSION + 1
    monkeypatch.setattr(postgres, "MIGRATIONS", postgres.MIGRATIONS + [["ALTER TABLE subscribers ADD COLUMN note TEXT"]])
    monkeypatch.setattr(postgres, "SCHEMA_VERSION", nxt)
    monkeypatch.setattr(postgres, "READABLE_SINCE", nxt)  # a migration that changes a table
    with pytest.raises(StateError, match=f"older than this version's {nxt}; run `newsletter send`"):
        open_state(pg_url, readonly=True)
    open_state(pg_url).close()
    assert query(pg_url, "SELECT version FROM paper_digest_schema") == [(nxt,)]
    # the upgrade said once (the tables' creation is no upgrade), as SQLite's is
    said = [r.getMessage() for r in caplog.records if "upgraded" in r.getMessage()]
    assert len(said) == 1 and said[0].endswith(
        f": upgraded the state from schema version {nxt - 1} to {nxt}; a Paper Digest older than this one can no "
        "longer open it (`newsletter --version` names a version's schema)"), said
    assert query(pg_url, "SELECT column_name FROM information_schema.columns WHERE table_name = 'subscribers' AND column_name = 'note'")


def test_postgres_newer_schema_or_foreign_tables_are_refused(pg_url, pg_server):
    open_state(pg_url).close()
    import psycopg

    from newsletter.state import postgres

    with psycopg.connect(pg_url, autocommit=True) as con:
        con.execute("UPDATE paper_digest_schema SET version = %s", (postgres.SCHEMA_VERSION + 1,))
    for readonly in (False, True):
        with pytest.raises(StateError, match=rf"newer Paper Digest \(schema version {postgres.SCHEMA_VERSION + 1}; "
                                             rf"this version knows up to {postgres.SCHEMA_VERSION}\)"):
            open_state(pg_url, readonly=readonly)
    other = pg_server.create_database()
    with psycopg.connect(other, autocommit=True) as con:
        con.execute("CREATE TABLE digests (x int)")
    with pytest.raises(StateError, match="tables that are not Paper Digest's"):
        open_state(other)


def test_postgres_a_newer_worker_upgrades_the_schema_while_an_older_one_sends(pg_url, monkeypatch):
    """A rolling upgrade: a worker of the older version (schema 6 here) is
    mid-batch when one of the newer version starts and upgrades the schema.
    The upgrade's ALTER TABLE waited for the batch's transaction, and every
    statement after it, any reader's, queued behind it until the batch was
    done.  Now the upgrade gives up its wait every MIGRATE_LOCK_WAIT s, so
    a reader goes through meanwhile, and tries again: done once the batch
    is.  The older worker goes on with the columns added under it; an older
    worker starting after that is refused, told to upgrade."""
    import psycopg

    from newsletter.state import postgres

    monkeypatch.setattr(postgres, "MIGRATE_LOCK_WAIT", 0.5)
    monkeypatch.setattr(postgres, "MIGRATIONS", postgres.MIGRATIONS[:6])
    monkeypatch.setattr(postgres, "SCHEMA_VERSION", 6)
    old = open_state(pg_url)
    monkeypatch.undo()
    monkeypatch.setattr(postgres, "MIGRATE_LOCK_WAIT", 0.5)
    opened: list = []
    try:
        old.see_subscribers(["k@example.org"], T0)
        with old.claiming(["k@example.org"], T0) as batch:  # the older worker's batch, under way
            newer = threading.Thread(target=lambda: opened.append(open_state(pg_url)))
            newer.start()
            with psycopg.connect(pg_url) as reader:
                waiting: list = []
                while newer.is_alive() and not waiting:  # the upgrade waits for the batch's table
                    waiting = reader.execute("SELECT pid FROM pg_locks WHERE NOT granted").fetchall()
                assert waiting, opened
                reader.execute("SET statement_timeout = '30s'")  # (before: queued until the batch was done)
                assert reader.execute("SELECT count(*) FROM digests").fetchone() == (0,)
            [did] = batch.claim([(None, "k@example.org", "<k@x>", ["p"])])
        newer.join(timeout=60)
        assert not newer.is_alive() and opened, "the upgrade never finished"
        assert query(pg_url, "SELECT version FROM paper_digest_schema") == [(postgres.SCHEMA_VERSION,)]
        old.mark_sent(did, "k@example.org", 1, T0)  # the older worker goes on
        assert opened[0].history("k@example.org", 5)[0].status == "sent"
    finally:
        old.close()
        for state in opened:
            state.close()
    written = postgres.SCHEMA_VERSION
    monkeypatch.setattr(postgres, "MIGRATIONS", postgres.MIGRATIONS[:6])
    monkeypatch.setattr(postgres, "SCHEMA_VERSION", 6)
    with pytest.raises(StateError, match=rf"written by a newer Paper Digest \(schema version {written}; this "
                                         r"version knows up to 6\); upgrade paper-digest-mailer"):
        open_state(pg_url)


def test_postgres_connection_problems_are_one_line_naming_the_url(pg_server, monkeypatch):
    from pg_server import LIMITED_USER, PASSWORD, free_port

    unreachable = f"postgresql://digest@127.0.0.1:{free_port()}/digest"
    with pytest.raises(StateError) as err:
        open_state(unreachable)
    assert str(err.value).startswith(f"{unreachable}: cannot reach PostgreSQL: ") and "\n" not in str(err.value)
    assert str(err.value).endswith("Connection refused (nothing listens there: is PostgreSQL running, and the URL's "
                                   "host and port right?)"), str(err.value)

    monkeypatch.setenv("PGPASSWORD", "not-the-password")
    monkeypatch.setenv("PGPASSFILE", "/nonexistent")
    url = pg_server.url("postgres")
    with pytest.raises(StateError) as err:
        open_state(url)
    assert str(err.value) == f"{url}: PostgreSQL refused the login for user 'digest_admin' (wrong password in PGPASSWORD?)"
    assert "not-the-password" not in str(err.value) + repr(err.value.__cause__) + repr(err.value.__context__)
    # a CI secret or an env file saved with its line break: the right password, refused, and nothing said why
    monkeypatch.setenv("PGPASSWORD", PASSWORD + "\n")
    with pytest.raises(StateError) as err:
        open_state(url)
    assert str(err.value) == (
        f"{url}: PostgreSQL refused the login for user 'digest_admin' (PGPASSWORD ends or starts with a line break, "
        "which PostgreSQL takes as part of the password: set it without one)")
    assert PASSWORD not in str(err.value)
    # the password file the login came from, when PGPASSFILE names one
    wrong = pg_server.root / "wrong-pgpass"
    wrong.write_text(f"127.0.0.1:{pg_server.port}:*:digest_admin:not-it\n")
    wrong.chmod(0o600)
    monkeypatch.delenv("PGPASSWORD")
    monkeypatch.setenv("PGPASSFILE", str(wrong))
    with pytest.raises(StateError) as err:
        open_state(url)
    assert str(err.value).endswith(f"(wrong password in {wrong}?)")
    monkeypatch.setenv("PGPASSFILE", "/nonexistent")
    with pytest.raises(StateError, match="wants a password for user 'digest_admin' and none is set"):
        open_state(url)
    monkeypatch.undo()

    db = pg_server.create_database()
    limited = db.replace("digest_admin@", f"{LIMITED_USER}@")
    with pytest.raises(StateError) as err:
        open_state(limited)
    assert str(err.value).startswith(f"{limited}: no permission to create the state's tables (permission denied for schema public)")
    with open_state(limited, readonly=True) as ro:  # reading an empty database needs no rights
        assert ro.plan(["a@example.org"])["a@example.org"].open is None


def test_a_url_naming_no_host_says_which_socket_it_tried_and_what_chose_it(tmp_path, monkeypatch):
    """`postgresql:///db` with no PGHOST goes to libpq's default socket; a
    server not there read "cannot reach PostgreSQL: No such file or
    directory", naming no place at all.  PGHOST naming a socket folder is
    named so too.  (An empty folder: nothing listens in it.)"""
    from pg_server import free_port

    for name in ("PGHOST", "PGHOSTADDR", "PGPORT", "PGSERVICE"):
        monkeypatch.delenv(name, raising=False)
    port = free_port()
    url = f"postgresql://:{port}/digest"
    with pytest.raises(StateError) as err:
        open_state(url)
    assert str(err.value).startswith(f"{url}: cannot reach PostgreSQL: "), str(err.value)
    # (the default folder is libpq's build's: /var/run/postgresql on Debian, /tmp elsewhere)
    assert re.search(rf" \(tried the socket /\S+/\.s\.PGSQL\.{port}, libpq's default, as neither the URL nor PGHOST "
                     r"names a host: write the host in the URL or set PGHOST\)$", str(err.value)), str(err.value)
    monkeypatch.setenv("PGHOST", str(tmp_path))
    monkeypatch.setenv("PGPORT", str(port))
    with pytest.raises(StateError) as err:
        open_state("postgresql:///digest")
    assert str(err.value) == (
        f"postgresql:///digest: cannot reach PostgreSQL: No such file or directory (tried the socket "
        f"{tmp_path}/.s.PGSQL.{port}, named by PGHOST and PGPORT: is PostgreSQL running there, and is that right?)")
    # a host from a connection service file (no PGHOST): named as tried, not as libpq's default socket
    monkeypatch.delenv("PGHOST")
    monkeypatch.delenv("PGPORT")
    (tmp_path / "services").write_text(f"[digest]\nhost=127.0.0.1\nport={port}\n")
    monkeypatch.setenv("PGSERVICEFILE", str(tmp_path / "services"))
    with pytest.raises(StateError) as err:
        open_state("postgresql:///digest?service=digest")
    assert str(err.value).endswith(f" (tried 127.0.0.1 port {port}, named by the connection service 'digest' "
                                   f"({tmp_path / 'services'}): is PostgreSQL running there, and is that right?)"
                                   ), str(err.value)


def test_where_a_host_less_url_tried_names_each_place_and_only_what_chose_it(tmp_path, monkeypatch):
    """The "tried" line named the wrong cause: PGHOSTADDR alone was said to be
    "named by PGHOST and PGPORT", a connection service's host and port were
    not said to be the service's, and PGHOST=h1,h2 named only one host.  It
    names every place tried and only what is set; no password, from
    PGPASSWORD or the service file, is printed.  (Nothing listens on the
    port.)"""
    from pg_server import free_port

    for name in ("PGHOST", "PGHOSTADDR", "PGPORT", "PGSERVICE", "PGSERVICEFILE"):
        monkeypatch.delenv(name, raising=False)
    port, secret = free_port(), "S3cret-never-shown"
    monkeypatch.setenv("PGPASSWORD", secret)
    url = "postgresql:///digest"

    def said(url: str = url) -> str:
        with pytest.raises(StateError) as err:
            open_state(url)
        text = str(err.value)
        assert secret not in text and "Traceback" not in text and "\n" not in text, text
        return text

    monkeypatch.setenv("PGHOSTADDR", "127.0.0.1")
    monkeypatch.setenv("PGPORT", str(port))
    assert said() == (f"{url}: cannot reach PostgreSQL: Connection refused (tried 127.0.0.1 port {port}, named by "
                      "PGHOSTADDR and PGPORT: is PostgreSQL running there, and is that right?)")
    monkeypatch.delenv("PGHOSTADDR")
    monkeypatch.setenv("PGHOST", "127.0.0.1,127.0.0.2")  # libpq tries each in turn
    assert said() == (f"{url}: cannot reach PostgreSQL: Connection refused (tried 127.0.0.1 port {port} and "
                      f"127.0.0.2 port {port}, named by PGHOST and PGPORT: is PostgreSQL running there, and is that "
                      "right?)")
    monkeypatch.delenv("PGHOST")
    monkeypatch.delenv("PGPORT")
    services = tmp_path / "pg_service.conf"
    services.write_text(f"[digest]\nhost=127.0.0.1\nport={port}\nuser=bob\npassword={secret}\n")
    monkeypatch.setenv("PGSERVICEFILE", str(services))
    assert said(f"{url}?service=digest") == (
        f"{url}?service=digest: cannot reach PostgreSQL: Connection refused (tried 127.0.0.1 port {port}, named by "
        f"the connection service 'digest' ({services}): is PostgreSQL running there, and is that right?)")
    monkeypatch.setenv("PGSERVICE", "digest")
    assert said() == (f"{url}: cannot reach PostgreSQL: Connection refused (tried 127.0.0.1 port {port}, named by "
                      f"the connection service 'digest' (PGSERVICE, {services}): is PostgreSQL running there, and is "
                      "that right?)")


def test_no_password_found_says_why_the_password_file_gave_none(pg_server, monkeypatch, tmp_path):
    """libpq skips a password file others may read, and takes a line only for
    the host as written: both said "add it to ~/.pgpass" of a file that had it."""
    from pg_server import PASSWORD

    monkeypatch.delenv("PGPASSWORD", raising=False)
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"# the team's\n127.0.0.1:{pg_server.port}:*:digest_admin:{PASSWORD}\n")
    url = pg_server.create_database()  # (while PGPASSFILE names the server's own file)
    monkeypatch.setenv("PGPASSFILE", str(passfile))
    passfile.chmod(0o644)
    with pytest.raises(StateError) as err:
        open_state(url)
    assert str(err.value) == (f"{url}: PostgreSQL wants a password for user 'digest_admin' and none is set ({passfile} "
                              f"is skipped, since others may read it: chmod 600 {passfile})")
    passfile.chmod(0o600)
    by_name = url.replace("@127.0.0.1:", "@localhost:")
    with pytest.raises(StateError) as err:
        open_state(by_name)
    assert str(err.value) == (
        f"{by_name}: PostgreSQL wants a password for user 'digest_admin' and none is set ({passfile} has no line for "
        f"localhost:{pg_server.port}:{url.rsplit('/', 1)[1]}:digest_admin (host:port:database:user, matched as written or *); it has "
        f"127.0.0.1:{pg_server.port}:*:digest_admin: write the URL's host as the file does, or add a line)")
    assert PASSWORD not in str(err.value)
    with open_state(url) as state:  # the file as it now is, and the host as it writes it: in
        assert state.plan(["a@example.org"])["a@example.org"].open is None


def test_database_url_rules():
    from newsletter.state import check_state_target, is_database_url, public_url

    assert is_database_url("postgresql://u@h/db") and is_database_url("postgres://u@h/db")
    assert not is_database_url("state.sqlite3") and not is_database_url("postgresql.sqlite3")
    assert public_url("postgresql://u:secret@h:5432/db") == "postgresql://u@h:5432/db"
    assert check_state_target("postgresql://u@h:5432/db") == "postgresql://u@h:5432/db"
    with pytest.raises(ValueError, match="has a password in it") as err:
        check_state_target("postgresql://u:secret@h:5432/db")
    assert "secret" not in str(err.value)
    with pytest.raises(ValueError, match="password="):
        check_state_target("postgresql://u@h/db?password=secret")
    with pytest.raises(ValueError, match="names no database"):
        check_state_target("postgresql://u@h:5432")


def test_a_state_written_as_a_connection_string_or_another_kind_of_url_is_refused():
    # Each was taken for a SQLite file name: a libpq string made a file called
    # "host=db... dbname=digest", and every worker kept a state of its own.
    from newsletter.state import check_state_target

    for value, expected in [
        ("host=db.example.org port=5432 dbname=digest user=digest",
         "is a libpq connection string; write it as a URL: postgresql://digest@db.example.org:5432/digest"),
        ("dbname=digest", "write it as a URL: postgresql:///digest"),
        ("host=h dbname=d password=hunter2", "keep the password out of the config"),
        ("sqlite:///digest.sqlite3", "write the SQLite file's path, not a URL: state: digest.sqlite3"),
        ("sqlite:////srv/digest/state.db", "state: /srv/digest/state.db"),
        ("postgresql+psycopg://u@h:5432/db", "SQLAlchemy's form; write postgresql://u@h:5432/db"),
        ("postgresql+psycopg2://u:hunter2@h/db", "write postgresql://u@h/db"),
        ("postgresql://u@h/db?sslmod=require", 'not a valid PostgreSQL URL: invalid URI query parameter: "sslmod"'),
        ("mysql://u@h/db", "'mysql' databases are not supported: give a SQLite file's path or a postgresql:// URL"),
    ]:
        with pytest.raises(ValueError, match=re.escape(expected)) as err:
            check_state_target(value)
        assert "hunter2" not in str(err.value)
    for fine in ("state.sqlite3", "data/digest state.db", "/srv/x=y/state.sqlite3", "postgresql://u@h/db"):
        assert check_state_target(fine) == fine


def test_postgres_workers_starting_together_create_the_schema_once(pg_url):
    import threading

    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def start() -> None:
        barrier.wait()
        try:
            open_state(pg_url).close()
        except BaseException as exc:  # noqa: BLE001 -- collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    from newsletter.state import postgres

    assert query(pg_url, "SELECT version FROM paper_digest_schema") == [(postgres.SCHEMA_VERSION,)]


def test_postgres_a_subscriber_settled_by_another_worker_of_this_round_is_not_due_again(pg_url):
    x = "x@example.org"
    with open_state(pg_url) as early:
        early.see_subscribers([x], T0)
        assert not early.plan([x])[x].settled_since_start
        with open_state(pg_url) as other:
            [did] = other.claim([(None, x, "<x@x>", ["p"])], T0)
            other.mark_sent(did, x, 1, T0)  # delivered after `early` started: same round
        assert early.plan([x])[x].settled_since_start
    with open_state(pg_url) as later:  # a later run: a new round
        assert not later.plan([x])[x].settled_since_start
        later.served([x], T0)
        assert later.plan([x])[x].settled_since_start
    with open_state(pg_url, readonly=True) as ro:
        assert not ro.plan([x])[x].settled_since_start
    # A worker that starts while another runs joins its round, however late.
    with open_state(pg_url) as running:
        running.served([x], T0)
        with open_state(pg_url) as joining:
            assert joining.started == running.started
            assert joining.plan([x])[x].settled_since_start
    assert query(pg_url, "SELECT count(*) FROM workers") == [(0,)]  # each left the round when it closed


# --------------------------------------------------------------------------- unsubscribes


def test_unsubscribe_resubscribe_and_the_batch_read(state_target):
    path = state_target
    with open_state(path) as st:
        assert st.unsubscribed(["ada@example.org"]) == {}
        assert st.unsubscribe("Ada@Example.org", T0) is True
        assert st.unsubscribe("ada@example.org", T0 + timedelta(hours=1)) is False  # the first time stays
        assert st.unsubscribed(["ADA@example.org", "bob@example.org"]) == {"ADA@example.org": T0}
        assert st.unsubscribed() == {"ada@example.org": T0}
    with open_state(path, readonly=True) as st:
        assert st.unsubscribed(["ada@example.org"]) == {"ada@example.org": T0}
    with open_state(path) as st:
        assert st.resubscribe("ada@example.org") is True
        assert st.resubscribe("ada@example.org") is False
        assert st.unsubscribed() == {}


def test_a_send_thread_asks_about_an_unsubscribe_without_queueing_behind_a_claim(tmp_path):
    """A send's delivery threads ask, before each message, whether its
    reader left meanwhile; on the connection they share with the planner
    each question waited for the planner's claim transaction and its fsync.
    Asked while another thread is inside a transaction, it is answered at
    once, and it sees an unsubscribe another process committed."""
    path = tmp_path / "state.sqlite3"
    with open_state(path) as st, open_state(path) as serve:
        assert serve.unsubscribe("ada@example.org", T0) is True  # `serve`, another connection
        inside, done = threading.Event(), threading.Event()

        def claim() -> None:
            with st.transaction():
                inside.set()
                done.wait(30)

        answers: list = []
        planner = threading.Thread(target=claim)
        asking = threading.Thread(target=lambda: answers.append(st.unsubscribed(["Ada@example.org"])))
        planner.start()
        try:
            assert inside.wait(30)
            asking.start()
            asking.join(30)
            assert answers == [{"Ada@example.org": T0}], "the question waited for the transaction to end"
        finally:
            done.set()
            planner.join(30)


def test_unsubscribe_keeps_what_is_owed_for_a_comeback(state_target):
    with open_state(state_target) as st:
        [ada] = st.claim([(None, "ada@example.org", "<a@x>", ["p1"])], T0)
        st.mark_unsent(ada, error="421 later", tries=1, permanent=False, next_attempt=None)
        assert st.unsubscribe("ada@example.org", T0) is True
        assert st.open_digest("ada@example.org").message_id == "<a@x>"  # not sent, not lost
        assert st.sent_paper_ids("ada@example.org") == frozenset()


def test_readonly_reads_a_file_from_before_the_unsubscribe_table(tmp_path):
    # A state written by the previous version: match/schedule/preview must not
    # demand an upgrade they are not allowed to make.
    path = tmp_path / "s.sqlite3"
    con = sqlite3.connect(path)
    state_module.MIGRATIONS[0](con)
    con.execute("PRAGMA user_version = 1")
    con.commit()
    con.close()
    with State.open(path, readonly=True) as st:
        assert st.version == 1
        assert st.unsubscribed(["ada@example.org"]) == {}
        assert st.sent_paper_ids("ada@example.org") == frozenset()
    with State.open(path) as st:  # a writer upgrades it
        st.unsubscribe("ada@example.org", T0)
    with State.open(path, readonly=True) as st:
        assert st.version == state_module.SCHEMA_VERSION
        assert st.unsubscribed(["ada@example.org"]) == {"ada@example.org": T0}


def test_postgres_reads_a_database_from_before_the_unsubscribe_table_and_migrate_copies_it(pg_url, pg_server, tmp_path):
    import psycopg

    from newsletter.state import copy_state, postgres

    with psycopg.connect(pg_url, autocommit=True) as con:  # a database written by the previous version
        con.execute("CREATE TABLE paper_digest_schema (version INTEGER NOT NULL)")
        con.execute("INSERT INTO paper_digest_schema VALUES (1)")
        for statement in postgres.MIGRATIONS[0]:
            con.execute(statement)
    with open_state(pg_url, readonly=True) as ro:
        assert ro.unsubscribed(["ada@example.org"]) == {}
    with open_state(pg_url) as st:  # a writer upgrades it
        assert st.unsubscribe("ada@example.org", T0)
    assert query(pg_url, "SELECT version FROM paper_digest_schema") == [(postgres.SCHEMA_VERSION,)]
    # `newsletter state migrate` carries who left over from SQLite
    path = tmp_path / "s.sqlite3"
    with open_state(path) as st:
        st.see_subscribers(["bob@example.org"], T0)
        st.unsubscribe("bob@example.org", T0)
    target = pg_server.create_database()
    report = copy_state(path, target)
    assert report.counts["unsubscribed"] == 1
    assert str(report).endswith(f"(0 papers in digests) and the 1 address that unsubscribed, from {path} to {target}")
    with open_state(target, readonly=True) as ro:
        assert ro.unsubscribed() == {"bob@example.org": T0}


def test_mark_sent_many_records_every_delivery_at_once(state_target):
    emails = ["a@example.org", "b@example.org"]
    with open_state(state_target) as st:
        st.see_subscribers(emails, T0)
        ids = st.claim([(None, e, f"<{e}>", [f"p-{e}"]) for e in emails], T0)
        st.mark_sent_many([(ids[0], emails[0], 2), (ids[1], emails[1], 1)], T0 + timedelta(minutes=1))
        plan = st.plan(emails)
    assert all(plan[e].open is None and plan[e].last_sent == T0 + timedelta(minutes=1) for e in emails)
    assert plan["a@example.org"].sent_paper_ids == {"p-a@example.org"}
    assert query(state_target, "SELECT attempts FROM digests ORDER BY id") == [(2,), (1,)]


def test_a_foreign_sqlite_file_is_refused_and_left_as_it_was(tmp_path):
    path = tmp_path / "other.sqlite3"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE notes (body TEXT)")
    db.execute("INSERT INTO notes VALUES ('keep me')")
    db.commit()
    db.close()
    with pytest.raises(StateError, match="not a Paper Digest state file"):
        open_state(str(path))
    db = sqlite3.connect(path)
    assert db.execute("SELECT name FROM sqlite_master").fetchall() == [("notes",)]
    assert db.execute("PRAGMA user_version").fetchone()[0] == 0
    db.close()


@pytest.mark.parametrize("way", ["unwritable", "immutable"])
def test_a_read_only_state_file_or_folder_is_named_before_sqlite_fails(tmp_path, way):
    """SQLite opens a read-only file and fails only at the first write
    ("attempt to write a readonly database"); a folder refusing new files
    fails WAL's -wal/-shm files with "unable to open database file".  An
    immutable file (``chattr +i``) was said to be "read-only for this user
    ... `chmod u+w`", which cannot mend it: root is refused too."""
    from conftest import immutable, state_unwritable_said, unwritable

    path = tmp_path / "s.sqlite3"
    with State.open(path) as st:
        st.see_subscribers(["a@example.org"], T0)
    said = state_unwritable_said(path) if way == "unwritable" else (
        "the state file is marked immutable, so no one (root included) can write it: "
        f"`send` records there what it sends; clear the flag (`chattr -i {path}`)")
    with (unwritable if way == "unwritable" else immutable)(path):
        with pytest.raises(StateError) as caught:
            State.open(path)
        assert str(caught.value) == f"{path}: {said}"
        with State.open(path, readonly=True) as st:  # reading it is still fine
            assert st.first_seen("a@example.org") == T0
    folder = tmp_path / "locked"
    folder.mkdir()
    with unwritable(folder):
        with pytest.raises(StateError, match=r"the state's folder '.*locked' is not writable for this user: SQLite keeps"):
            State.open(folder / "s.sqlite3")
    with State.open(path) as st:  # writable again: nothing was lost
        assert st.first_seen("a@example.org") == T0


def test_a_state_that_is_a_link_to_nowhere_or_a_loop_is_named_as_such(tmp_path):
    """SQLite said only "unable to open database file", and validate (which
    opens it read-only, a missing file being an empty state) passed it."""
    (tmp_path / "gone.sqlite3").symlink_to("/nonexistent-drive/digest.sqlite3")
    (tmp_path / "loop.sqlite3").symlink_to("loop.sqlite3")
    for name, what in (("gone.sqlite3", "a symbolic link to '/nonexistent-drive/digest.sqlite3', which does not exist"),
                       ("loop.sqlite3", "a symbolic link that loops (it leads back to itself)")):
        for readonly in (False, True):
            with pytest.raises(StateError) as caught:
                State.open(tmp_path / name, readonly=readonly)
            assert str(caught.value) == f"{tmp_path / name}: the state is {what} (see `state:` in the config)"


def test_a_failure_keeps_the_delivery_settings_it_used_and_waits_only_while_they_hold(state_target):
    """The back-off of a failed digest holds while the delivery settings are
    the ones it failed with; changed settings (a fixed port) end it."""
    with open_state(state_target) as st:
        [did] = st.claim([(None, "ada@example.org", "<m1@x>", ["p1"])], T0)
        later = T0 + timedelta(minutes=5)
        st.mark_unsent(did, error="cannot connect", tries=2, permanent=False, next_attempt=later, settings="port-25")
        open_ = st.open_digest("ada@example.org")
        assert open_.settings == "port-25"
        assert open_.retry_from("port-25") == later and open_.retry_from("port-587") is None
    with open_state(state_target, readonly=True) as ro:
        assert ro.open_digest("ada@example.org").settings == "port-25"


def _v3_file_with_a_waiting_digest(path) -> None:
    """A state written before the settings column: one digest backing off."""
    con = sqlite3.connect(path)
    for migrate in state_module.MIGRATIONS[:3]:
        migrate(con)
    con.execute("PRAGMA user_version = 3")
    con.execute(
        "INSERT INTO digests (subscriber, status, attempts, message_id, created, next_attempt, failures) "
        "VALUES ('ada@example.org', 'pending', 2, '<m1@x>', ?, ?, 1)",
        (T0.isoformat(), (T0 + timedelta(minutes=5)).isoformat()),
    )
    con.commit()
    con.close()


def test_a_state_from_before_the_settings_column_is_read_then_upgraded_in_place_keeping_its_wait(tmp_path):
    path = tmp_path / "s.sqlite3"
    _v3_file_with_a_waiting_digest(path)
    with State.open(path, readonly=True) as ro:  # read as it is (match, schedule)
        assert ro.version == 3 and ro.open_digest("ada@example.org").settings is None
    with State.open(path) as st:  # a writer upgrades it
        open_ = st.open_digest("ada@example.org")
        # recorded without settings: the wait stays whatever the settings now
        assert (open_.settings, open_.retry_from("any"), open_.failures) == (None, T0 + timedelta(minutes=5), 1)
        st.mark_unsent(open_.id, error="refused", tries=1, permanent=False, next_attempt=None, settings="s2")
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA user_version").fetchone()[0] == state_module.SCHEMA_VERSION
    assert con.execute("SELECT settings, failures FROM digests").fetchall() == [("s2", 2)]
    con.close()


def test_postgres_upgrades_a_database_from_before_the_settings_column_and_migrate_copies_them(pg_url, pg_server, tmp_path):
    import psycopg

    from newsletter.state import copy_state, postgres

    with psycopg.connect(pg_url, autocommit=True) as con:  # a database written by the previous version
        con.execute("CREATE TABLE paper_digest_schema (version INTEGER NOT NULL)")
        con.execute("INSERT INTO paper_digest_schema VALUES (5)")
        for step in postgres.MIGRATIONS[:5]:
            for statement in step:
                con.execute(statement)
        con.execute(
            "INSERT INTO digests (subscriber, status, message_id, created, next_attempt, failures) "
            "VALUES ('ada@example.org', 'pending', '<m1@x>', %s, %s, 1)",
            (T0, T0 + timedelta(minutes=5)),
        )
    with open_state(pg_url, readonly=True) as ro:
        assert ro.version == 5 and ro.open_digest("ada@example.org").retry_from("any") == T0 + timedelta(minutes=5)
    with open_state(pg_url) as st:  # a writer upgrades it
        open_ = st.open_digest("ada@example.org")
        st.claim([(open_, "ada@example.org", "<m1@x>", [])], T0)  # outcomes are marked on claimed digests
        st.mark_unsent(open_.id, error="refused", tries=1, permanent=False, next_attempt=None, settings="s2")
    assert query(pg_url, "SELECT version FROM paper_digest_schema") == [(postgres.SCHEMA_VERSION,)]
    assert query(pg_url, "SELECT settings FROM digests") == [("s2",)]
    # `newsletter state migrate` carries them over from SQLite, and reads a file from before them
    for name, settings in (("new.sqlite3", "s3"), ("old.sqlite3", None)):
        path = tmp_path / name
        if settings is None:
            _v3_file_with_a_waiting_digest(path)
        else:
            with open_state(path) as st:
                [did] = st.claim([(None, "ada@example.org", "<m2@x>", [])], T0)
                st.mark_unsent(did, error="refused", tries=1, permanent=False, next_attempt=T0, settings=settings)
        target = pg_server.create_database()
        copy_state(path, target)
        assert query(target, "SELECT settings FROM digests") == [(settings,)]


def test_a_postgresql_host_whose_lookup_hangs_is_given_up_at_the_connect_timeout(pg_url, slow_dns, monkeypatch):
    """psycopg looks the host's name up itself, before libpq's connect_timeout
    applies: a DNS server that does not answer held the send (and SIGTERM)
    for as long as the resolver kept asking.  (Given up, not waited for: the
    lookup, which hangs for a minute, still hangs when open_state ends; no
    wall-clock bound, which a loaded machine overran.)"""
    url = pg_url.replace("127.0.0.1", "db.slow.test") + "?connect_timeout=1"
    with pytest.raises(StateError) as info:
        open_state(url)
    assert slow_dns.hanging >= 1
    assert str(info.value).endswith(": cannot reach PostgreSQL: the name 'db.slow.test' was not looked up within 1 s "
                                    "(connect_timeout): a DNS server that does not answer, or no network?")
    # the host named by PGHOST, as README's postgresql:///db allows
    monkeypatch.setenv("PGHOST", "db.slow.test")
    with pytest.raises(StateError) as info:
        open_state(re.sub(r"@[^/]+/", "@/", pg_url) + "?connect_timeout=1")
    assert slow_dns.hanging >= 2 and "the name 'db.slow.test' was not looked up" in str(info.value)


def test_a_postgresql_host_by_name_is_reached_at_each_of_its_addresses(pg_url, slow_dns, monkeypatch):
    """The name looked up first (within connect_timeout) gives psycopg each
    address as an attempt: 'localhost' reaches the server on 127.0.0.1
    whichever of its addresses comes first, from the pool's threads too."""
    from pg_server import PASSWORD

    monkeypatch.setenv("PGPASSWORD", PASSWORD)  # (the .pgpass names the host 127.0.0.1)
    url = pg_url.replace("127.0.0.1", "localhost")
    seen = []
    with open_state(url) as state:
        state.see_subscribers(["ada@example.org"], datetime(2024, 5, 6, tzinfo=UTC))
        worker = threading.Thread(target=lambda: seen.append(state.for_thread().unsubscribed(["ada@example.org"])))
        worker.start()
        worker.join(30)
    assert seen == [{}]
    with pytest.raises(StateError) as info:
        open_state(pg_url.replace("127.0.0.1", "db.example.invalid"))  # .invalid never resolves (RFC 6761)
    assert "cannot reach PostgreSQL: failed to resolve host 'db.example.invalid': " in str(info.value)


def test_a_worker_gets_its_turn_to_write_after_its_parent_died_holding_it(tmp_path):
    """A send's parent killed (SIGKILL) while it held ``<state>.writer``: its
    forked workers had inherited the descriptor the parent locked, so the
    lock outlived the parent, held by the workers' own copies, and each
    worker waited for its turn for ever (the parent-kill send test hung).
    Here a process takes its turn, forks a worker and dies holding it; the
    worker must get the turn (an alarm ends it if it waits)."""
    import os
    import select
    import signal

    path = tmp_path / "state.sqlite3"
    read_end, write_end = os.pipe()
    parent = os.fork()
    if parent == 0:  # the send's parent
        try:
            os.close(read_end)
            ended = os.pidfd_open(os.getpid())  # (before the fork: the worker may start after it died)
            with state_module._writers_turn(path):
                if os.fork() == 0:  # its worker
                    try:
                        select.select([ended], [], [], 30)  # until the parent is gone
                        signal.alarm(10)
                        with state_module._writers_turn(path):
                            os.write(write_end, b"turn")
                    finally:
                        os._exit(0)
                os._exit(0)  # dies holding its turn, as SIGKILL leaves it
        finally:
            os._exit(1)
    os.close(write_end)
    os.waitpid(parent, 0)
    ready, _, _ = select.select([read_end], [], [], 30)
    said = os.read(read_end, 16) if ready else b""
    os.close(read_end)
    assert said == b"turn"


def test_an_upgraded_state_says_so_once(tmp_path, monkeypatch, caplog):
    """An older state was upgraded without a word; the version before the
    upgrade refuses it from then on ("written by a newer Paper Digest"), so the
    upgrade is said, with both schema versions, and only by the open that made it."""
    path = tmp_path / "s.sqlite3"
    State.open(path).close()
    old = state_module.SCHEMA_VERSION
    monkeypatch.setattr(state_module, "MIGRATIONS", state_module.MIGRATIONS + [
        lambda db: db.execute("ALTER TABLE subscribers ADD COLUMN note TEXT")])
    monkeypatch.setattr(state_module, "SCHEMA_VERSION", old + 1)
    with caplog.at_level(logging.INFO, logger="newsletter.state.sqlite"):
        State.open(path).close()
        State.open(path).close()
    said = [r.getMessage() for r in caplog.records if "upgraded" in r.getMessage()]
    assert said == [f"{path}: upgraded the state from schema version {old} to {old + 1}; a Paper Digest older than "
                    "this one can no longer open it (`newsletter --version` names a version's schema)"]


def _v7_file_with_digests(path) -> None:
    """A state as the Paper Digest before schema 8 wrote it (its own seven
    migrations, the status CHECK an IN list): a digest in each status, each
    with a paper."""
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA foreign_keys=ON")
    con.execute("BEGIN")
    for migrate in state_module.MIGRATIONS[:7]:
        migrate(con)
    con.execute("PRAGMA user_version = 7")
    for n, status in enumerate(["sent", "pending", "failed", "sending"]):
        con.execute("INSERT INTO digests (id, subscriber, status, message_id, created) VALUES (?, ?, ?, ?, ?)",
                    (n + 1, f"u{n}@example.org", status, f"<m{n}@x>", T0.isoformat()))
        con.execute("INSERT INTO digest_papers (digest_id, paper_id, position) VALUES (?, ?, 0)", (n + 1, f"p{n}"))
    con.execute("COMMIT")
    con.close()


def _ephemeral_tables_a_status_write_builds(path) -> int:
    with sqlite3.connect(path) as con:
        return sum(op == "OpenEphemeral" for _, op, *_ in con.execute("EXPLAIN UPDATE digests SET status = 'sent' WHERE id = 1"))


def test_a_version_7_state_is_upgraded_in_place_to_a_status_check_without_an_ephemeral_table(tmp_path):
    """Schema 8 respells ``digests``' status CHECK with ORs: SQLite built an
    ephemeral b-tree for the IN list on every row that wrote ``status``
    (every claim and mark, ~30 K instructions a digest).  A file made by the
    previous version keeps every digest and paper, refuses the same bad
    status, and passes SQLite's own integrity check; read-only it is read
    as it is (nothing for a reader to upgrade)."""
    path = tmp_path / "s.sqlite3"
    _v7_file_with_digests(path)
    assert _ephemeral_tables_a_status_write_builds(path) == 1  # (the old DDL, as made)
    rows = query(path, "SELECT id, subscriber, status, message_id FROM digests ORDER BY id")
    with State.open(path, readonly=True) as ro:
        assert ro.version == 7 and ro.open_digest("u1@example.org").status == "pending"
    assert query(path, "PRAGMA user_version") == [(7,)]
    with State.open(path) as st:
        open_ = st.open_digest("u1@example.org")
        st.claim([(open_, "u1@example.org", open_.message_id, ["p1"])], T0)
        st.mark_sent(open_.id, "u1@example.org", 1, T0 + timedelta(hours=1))
    assert query(path, "PRAGMA user_version") == [(state_module.SCHEMA_VERSION,)] and state_module.SCHEMA_VERSION >= 8
    assert _ephemeral_tables_a_status_write_builds(path) == 0
    [(sql,)] = query(path, "SELECT sql FROM sqlite_master WHERE name = 'digests'")
    assert "status = 'pending' OR status = 'sending' OR status = 'sent' OR status = 'failed'" in sql
    assert "status IN" not in sql and "settings TEXT" in sql and "uncertain INTEGER" in sql  # (later columns kept)
    after = query(path, "SELECT id, subscriber, status, message_id FROM digests ORDER BY id")
    assert after == [r if r[0] != 2 else (2, "u1@example.org", "sent", "<m1@x>") for r in rows]
    assert query(path, "SELECT digest_id, paper_id FROM digest_papers ORDER BY digest_id") == [
        (1, "p0"), (2, "p1"), (3, "p2"), (4, "p3")]
    assert query(path, "PRAGMA integrity_check") == [("ok",)]
    con = sqlite3.connect(path)
    with pytest.raises(sqlite3.IntegrityError, match="CHECK constraint failed"):
        con.execute("INSERT INTO digests (subscriber, status, message_id, created) VALUES ('a', 'lost', '<x>', 't')")
    con.close()


def test_a_new_state_writes_status_without_an_ephemeral_table(tmp_path):
    path = tmp_path / "s.sqlite3"
    State.open(path).close()
    assert _ephemeral_tables_a_status_write_builds(path) == 0


_OPEN_AND_SAY = """
import logging, sys
from newsletter.state import State
logging.basicConfig(level=logging.INFO, format="%(message)s")
State.open(sys.argv[1]).close()
"""


def test_sends_started_together_on_a_version_7_state_upgrade_it_once(tmp_path):
    """Six sends started at once (cron) on a state of the previous version:
    each upgrade reads the version again inside its write transaction, so
    exactly one upgrades (an exact bound whatever the scheduling: the others
    find version 8 however late or early they come) and all open it."""
    import subprocess
    import sys

    from conftest import ROOT

    path = tmp_path / "s.sqlite3"
    _v7_file_with_digests(path)
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    procs = [subprocess.Popen([sys.executable, "-c", _OPEN_AND_SAY, str(path)], env=env, stderr=subprocess.PIPE,
                              text=True) for _ in range(6)]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, errors
    upgraded = f"upgraded the state from schema version 7 to {state_module.SCHEMA_VERSION};"
    assert state_module.SCHEMA_VERSION >= 8 and sum(e.count(upgraded) for e in errors) == 1, errors
    assert query(path, "PRAGMA user_version") == [(state_module.SCHEMA_VERSION,)]
    assert query(path, "PRAGMA integrity_check") == [("ok",)]
    assert query(path, "SELECT count(*) FROM digest_papers") == [(4,)]


def test_postgres_a_late_mark_between_a_plan_and_its_claim_has_the_batch_planned_again(pg_url):
    """A worker whose session ended (its claims taken back by another)
    still records the delivery it had in flight: the marks take no
    planner's lock.  Landing between another worker's plan of that digest
    (read as owed) and its claim, the claim found it ``sent`` and said "a
    digest being claimed changed under us", a broken state: the worker
    stopped (exit 2).  Now nothing of the batch is recorded and it is a
    :class:`RolledBack` (the send plans the batch again, see ``_claimed``);
    planned again, the digest reads as sent and its papers as sent: nothing
    goes twice.  Ordered by the test (the mark's thread is joined inside
    the planner's transaction), not by timing."""
    import psycopg

    from newsletter.errors import RolledBack

    with open_state(pg_url) as first:
        first.see_subscribers(["k@example.org"], T0)
        [did] = first.claim([(None, "k@example.org", "<k@x>", ["p"])], T0)
        with psycopg.connect(pg_url, autocommit=True) as con:
            pid = first.session.info.backend_pid
            assert con.execute("SELECT pg_terminate_backend(%s, 10000)", (pid,)).fetchone() == (True,)
        with open_state(pg_url) as second:
            assert [r[2] for r in second.recover()] == ["<k@x>"]
            with pytest.raises(RolledBack) as caught, second.claiming(["k@example.org"], T0) as batch:
                owed = batch.subscribers["k@example.org"].open
                assert (owed.id, owed.status, owed.uncertain) == (did, "pending", True)
                # the first worker's delivery thread (a pooled connection) records its delivery now
                late = threading.Thread(target=first.mark_sent, args=(did, "k@example.org", 1, T0))
                late.start()
                late.join()
                batch.claim([(owed, "k@example.org", "<k@x>", ["p"])])
            assert str(caught.value) == (
                f"{second.name}: digest {did} for k@example.org was recorded sent by another worker while this one "
                "planned it (a delivery that finished after its worker's session had ended); nothing of this batch "
                "was recorded")
            with second.claiming(["k@example.org"], T0) as batch:
                again = batch.subscribers["k@example.org"]
                assert again.open is None and again.sent_paper_ids == frozenset({"p"})
    assert query(pg_url, "SELECT id, status, worker IS NOT NULL FROM digests") == [(did, "sent", True)]


@pytest.mark.parametrize("old", [6, 7])
def test_an_upgrade_whose_schema_edit_fails_leaves_the_file_at_its_old_version(tmp_path, monkeypatch, old):
    """An interrupted (or full, or I/O-failed) write inside a transaction
    makes SQLite roll back the WHOLE transaction, not the statement: the
    status CHECK's edit taking that for a refusal went on, ``user_version``
    was then set outside any transaction (committed alone), and a version-6
    file was left marked 8 without version 7's ``listed`` table: every later
    open failed.  The upgrade now fails as one StateError line and the file
    stays at its old version, whole, and upgrades at the next open."""
    path = tmp_path / "s.sqlite3"
    _v7_file_with_digests(path)
    if old == 6:
        con = sqlite3.connect(path, isolation_level=None)
        con.execute("DROP TABLE listed")
        con.execute("PRAGMA user_version = 6")
        con.close()
    real = state_module._v8_status_check

    class Interrupting:
        """The migration's connection, interrupted (a real SQLITE_INTERRUPT) in the schema edit."""
        def __init__(self, db):
            self.db = db

        def __getattr__(self, name):
            return getattr(self.db, name)

        def execute(self, sql, *args):
            if not sql.startswith("UPDATE sqlite_master"):
                return self.db.execute(sql, *args)
            self.db.set_progress_handler(lambda: 1, 1)
            try:
                return self.db.execute(sql, *args)
            finally:
                self.db.set_progress_handler(None, 1)

    monkeypatch.setattr(state_module, "MIGRATIONS", [*state_module.MIGRATIONS[:7], lambda db: real(Interrupting(db))])
    with pytest.raises(StateError) as failed:
        State.open(path).close()
    assert "interrupted" in str(failed.value) and "\n" not in str(failed.value)
    tables = {name for (name,) in query(path, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert query(path, "PRAGMA user_version") == [(old,)]
    assert ("listed" in tables) == (old == 7) and {"digests", "digest_papers", "link_keys"} <= tables
    monkeypatch.undo()
    with State.open(path) as st:  # the next open upgrades it whole
        assert st.open_digest("u1@example.org").status == "pending"
    assert query(path, "PRAGMA user_version") == [(8,)] and query(path, "SELECT count(*) FROM listed") == [(0,)]


def test_schema_8_where_the_schema_edit_is_refused_leaves_the_check_as_it_was_and_upgrades(tmp_path):
    """A SQLite that refuses edits of ``sqlite_schema`` (defensive mode; here
    an authorizer denies the update, as SQLite itself would) keeps the IN
    list: the constraint holds as before, only slower, and the upgrade goes
    on rather than refusing the state over an optimisation."""
    path = tmp_path / "s.sqlite3"
    _v7_file_with_digests(path)
    con = sqlite3.connect(path, isolation_level=None)
    con.set_authorizer(lambda action, table, *_: sqlite3.SQLITE_DENY
                       if action == sqlite3.SQLITE_UPDATE and table == "sqlite_master" else sqlite3.SQLITE_OK)
    con.execute("BEGIN IMMEDIATE")
    state_module.MIGRATIONS[7](con)
    con.execute("PRAGMA user_version = 8")
    con.execute("COMMIT")
    assert con.execute("PRAGMA writable_schema").fetchone() == (0,)
    con.close()
    [(sql,)] = query(path, "SELECT sql FROM sqlite_master WHERE name = 'digests'")
    assert state_module._STATUS_CHECK_IN in sql and _ephemeral_tables_a_status_write_builds(path) == 1
    with State.open(path) as st:  # version 8 as it is: nothing more to do
        assert st.open_digest("u1@example.org").status == "pending"


T_HELD = datetime(2024, 5, 6, 9, tzinfo=UTC)


@contextmanager
def _two_claimed_a_row_held(url: str, monkeypatch, table: str) -> Iterator[tuple[State, list[int]]]:
    """A worker's state with digests claimed for a@ and b@ (ids in that
    order), a@'s row of ``table`` held by another session meanwhile (a psql
    session left in a transaction), and the worker's statement limit 1.5 s
    (through ANSWER_WITHIN): the server waits, not the test."""
    import psycopg

    from newsletter.state import postgres as postgres_state

    monkeypatch.setattr(postgres_state, "ANSWER_WITHIN", 3.0)
    emails = ["a@example.org", "b@example.org"]
    column = "subscriber" if table == "digests" else "email"
    with open_state(url) as st:
        st.see_subscribers(emails, T_HELD)
        with st.claiming(emails, T_HELD) as batch:
            ids = batch.claim([(None, e, f"<{e}>", []) for e in emails])
        with psycopg.connect(url) as holder:
            holder.execute(f"SELECT 1 FROM {table} WHERE {column} = 'a@example.org' FOR UPDATE")
            yield st, ids
            holder.rollback()


def test_a_held_digest_row_past_the_statement_limit_is_recorded_delivered_beside_it_and_never_sent_again(
    pg_url, monkeypatch, caplog
):
    """A delivered digest whose own row another session (a psql session left
    in a transaction) held past the worker's statement limit could not be
    recorded: the send stopped (exit 2) and the next one sent it again.
    Now its delivery is recorded beside the row (no lock holds that), the
    other digest of the group in its row, and nothing raises.  While the row
    is held, every read counts the digest sent, recover() does not take it
    back, and a claim leaves its subscriber out (named); once the row is
    free, the next recover() moves the record into it."""
    with caplog.at_level(logging.WARNING), _two_claimed_a_row_held(pg_url, monkeypatch, "digests") as (st, ids):
        st.mark_sent_many([(ids[0], "a@example.org", 1), (ids[1], "b@example.org", 1)], T_HELD)
        # the row is held still: the next worker's view
        with open_state(pg_url) as nxt:
            assert nxt.recover() == []
            assert nxt.digest_counts() == {"sent": 2}
            assert [(r.subscriber, r.status, r.sent) for r in nxt.history("a@example.org", 5)] == [
                ("a@example.org", "sent", T_HELD)]
            with nxt.claiming(["a@example.org", "b@example.org"], T_HELD) as batch:
                assert sorted(batch.subscribers) == ["b@example.org"]
                assert (list(batch.recorded), batch.held) == (["a@example.org"], {})  # (nothing owed: not held)
                assert "recorded beside that digest's row, which another session holds" in batch.recorded["a@example.org"]
            plan = nxt.plan(["a@example.org"])["a@example.org"]
            assert plan.open is None
    [said] = [r.getMessage() for r in caplog.records if "recorded sent beside" in r.getMessage()]
    assert "; the digest delivered to a@example.org is recorded sent beside its row, which another session holds " \
           "(none goes again); that subscriber gets nothing more until a send finds the row free" in said, said
    assert query(pg_url, "SELECT subscriber, status FROM digests ORDER BY subscriber") == [
        ("a@example.org", "sending"), ("b@example.org", "sent")]
    assert query(pg_url, "SELECT digest_id, tries FROM delivered") == [(ids[0], 1)]
    with open_state(pg_url) as later:  # the row is free now: moved into it
        assert later.recover() == []
    assert query(pg_url, "SELECT subscriber, status, attempts, sent FROM digests ORDER BY subscriber") == [
        ("a@example.org", "sent", 1, T_HELD), ("b@example.org", "sent", 1, T_HELD)]
    assert query(pg_url, "SELECT count(*) FROM delivered") == [(0,)]


def test_a_claim_passes_over_an_open_digest_whose_row_is_held_past_the_statement_limit(pg_url, monkeypatch):
    """A batch's claim waited on an owed digest's row another session held,
    was cancelled at the worker's statement limit, and rolled the whole
    batch back (the send stopped, exit 2: nobody got a digest).  Now the
    held subscriber alone is left out of the claim, with why, and its
    digest stays as it was; the rest is claimed."""
    import psycopg

    from newsletter.state import postgres as postgres_state

    monkeypatch.setattr(postgres_state, "ANSWER_WITHIN", 3.0)  # the server's statement_timeout for the worker: 1.5 s
    emails = ["a@example.org", "b@example.org", "c@example.org"]
    with open_state(pg_url) as st:
        st.see_subscribers(emails, T_HELD)
        [(owed,)] = query(pg_url, "INSERT INTO digests (subscriber, status, message_id, created) "
                                  "VALUES ('b@example.org', 'pending', '<owed@example.org>', now()) RETURNING id")
        with psycopg.connect(pg_url) as holder:
            holder.execute("SELECT 1 FROM digests WHERE id = %s FOR UPDATE", (owed,))
            with st.claiming(emails, T_HELD) as batch:
                owed_digest = batch.subscribers["b@example.org"].open
                ids = batch.claim([(None, "a@example.org", "<a>", []), (owed_digest, "b@example.org", "<b>", []),
                                   (None, "c@example.org", "<c>", [])])
                assert len(ids) == 2 and owed not in ids
                assert list(batch.held) == ["b@example.org"]
                assert "canceling statement due to statement timeout (no result within the worker's 1.5 s" in \
                    batch.held["b@example.org"], batch.held
            holder.rollback()
    assert query(pg_url, "SELECT subscriber, status FROM digests ORDER BY subscriber") == [
        ("a@example.org", "sending"), ("b@example.org", "pending"), ("c@example.org", "sending")]


def test_a_postgres_state_of_schema_9_is_upgraded_on_first_use_and_its_sent_digests_stay_sent(pg_url):
    """Schema 10 adds the table of deliveries recorded beside their rows: a
    database a version 9 Paper Digest made (its DDL, run here as it ran)
    is upgraded by the first writer to open it (a reader leaves it as it
    is), and what it had sent stays sent: nothing of it is owed again."""
    import psycopg

    from newsletter.state import postgres as postgres_state

    with psycopg.connect(pg_url, autocommit=True) as con:
        con.execute("CREATE TABLE paper_digest_schema (version INTEGER NOT NULL)")
        con.execute("INSERT INTO paper_digest_schema VALUES (9)")
        for step in postgres_state.MIGRATIONS[:9]:
            for statement in step:
                con.execute(statement)
        con.execute("INSERT INTO subscribers (email, first_seen) VALUES ('a@example.org', now())")
        con.execute("INSERT INTO subscriber_locks (email) VALUES ('a@example.org')")
        con.execute("INSERT INTO papers (id, title, first_seen) VALUES ('2401.00001', 'A paper', now())")
        [(did,)] = con.execute("INSERT INTO digests (subscriber, status, message_id, created, sent) VALUES "
                               "('a@example.org', 'sent', '<old@example.org>', now(), now()) RETURNING id").fetchall()
        con.execute("INSERT INTO digest_papers VALUES (%s, '2401.00001', 0)", (did,))
    with open_state(pg_url, readonly=True) as reader:  # a reader of the old schema changes nothing
        assert reader.plan(["a@example.org"])["a@example.org"].sent_paper_ids >= {"2401.00001"}
    assert query(pg_url, "SELECT version FROM paper_digest_schema") == [(9,)]
    with open_state(pg_url) as st:
        assert st.recover() == []
        known = st.plan(["a@example.org"])["a@example.org"]
        assert known.open is None and "2401.00001" in known.sent_paper_ids
    assert query(pg_url, "SELECT version FROM paper_digest_schema") == [(postgres_state.SCHEMA_VERSION,)]
    assert query(pg_url, "SELECT count(*) FROM delivered") == [(0,)]


def test_a_statement_the_server_cancelled_is_told_by_its_sqlstate_not_its_words(pg_url):
    """The record past the statement limit (and the line saying why) were
    chosen by the English words "statement timeout": a server whose
    lc_messages is another language says them in it, and the fallback never
    ran there.  It is told by the SQLSTATE (57014) of a real cancelled
    statement (the server waits, not the test); words are only a tiebreak."""
    import psycopg

    from newsletter.state import postgres as postgres_state

    with psycopg.connect(pg_url, autocommit=True) as con:
        con.execute("SET statement_timeout = 1")
        with pytest.raises(psycopg.errors.QueryCanceled) as err:
            con.execute("SELECT pg_sleep(1)")
    assert err.value.sqlstate == "57014"
    assert postgres_state._timed_out(err.value)
    # the same cancellation in German (lc_messages = 'de_DE.UTF-8'), as psycopg gives it
    translated = type(err.value)("storniere Anfrage wegen Zeitüberschreitung der Anfrage")
    assert postgres_state._timed_out(translated)
    assert postgres_state.describe(translated, {}).startswith(
        "PostgreSQL: storniere Anfrage wegen Zeitüberschreitung der Anfrage (no result within the worker's ")
    assert not postgres_state._timed_out(psycopg.errors.UniqueViolation("doppelter Schlüsselwert"))


def test_a_held_subscriber_row_past_the_record_does_not_stall_the_rounds_other_workers(pg_url, monkeypatch):
    """The record of a delivered digest passes over a subscriber row another
    session holds; that subscriber is then due again for the round's other
    workers, which find nothing left to send and settle its slot.  That
    settle waited on the same held row for the whole statement limit and
    stopped the worker (exit 2).  Now it passes over the held row, leaving
    the subscriber due (settled by a later send), and waits on nothing."""
    with _two_claimed_a_row_held(pg_url, monkeypatch, "subscribers") as (st, ids):
        st.mark_sent_many([(ids[0], "a@example.org", 1), (ids[1], "b@example.org", 1)], T_HELD)
        with open_state(pg_url) as other:  # a second worker of the same round
            with other.claiming(["a@example.org", "b@example.org"], T_HELD) as batch:
                batch.served(["a@example.org", "b@example.org"])
            other.served(["a@example.org"], T_HELD)
            waiting = query(pg_url, "SELECT count(*) FROM pg_locks WHERE NOT granted")
    assert waiting == [(0,)]
    served = query(pg_url, "SELECT email, last_served IS NOT NULL, last_sent IS NOT NULL FROM subscribers ORDER BY email")
    assert served == [("a@example.org", False, False), ("b@example.org", True, True)], served


@contextmanager
def _german_server(pg_server, monkeypatch) -> Iterator[tuple[str, Exception]]:
    """A PostgreSQL server of its own whose lc_messages is German, with a
    German locale built for it: a database's URL there, and a statement
    timeout as it says it (skipped where this machine cannot build one or
    PostgreSQL has no German messages)."""
    import shutil
    import subprocess
    import tempfile
    from pathlib import Path

    import psycopg
    from pg_server import PostgresServer

    localedef = shutil.which("localedef")
    if localedef is None:
        pytest.skip("no localedef to build a German locale with")
    locales = Path(tempfile.mkdtemp(prefix="digest-locale-"))  # (readable by the server's user)
    locales.chmod(0o755)
    server = None
    try:
        built = subprocess.run([localedef, "-i", "de_DE", "-f", "UTF-8", str(locales / "de_DE.UTF-8")],
                               capture_output=True, timeout=120)
        if built.returncode not in (0, 1) or not (locales / "de_DE.UTF-8").exists():  # (1: warnings only)
            pytest.skip(f"this machine cannot build de_DE.UTF-8: {built.stderr[-200:]!r}")
        monkeypatch.setenv("PGPASSFILE", os.environ["PGPASSFILE"])  # (a server writes its own; the session's comes back)
        server = PostgresServer(pg_server.bindir, "-c lc_messages=de_DE.UTF-8", env={"LOCPATH": str(locales)})
        url = server.create_database()
        with psycopg.connect(url, autocommit=True) as con:
            con.execute("SET statement_timeout = 1")
            with pytest.raises(psycopg.errors.QueryCanceled) as err:
                con.execute("SELECT pg_sleep(1)")  # (the server waits, not the test)
        if "statement timeout" in str(err.value):
            pytest.skip("this PostgreSQL has no German messages")
        yield url, err.value
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(locales, ignore_errors=True)


def test_the_record_past_the_statement_limit_runs_on_a_server_speaking_german(pg_server, monkeypatch, caplog):
    """A server whose lc_messages is German cancels a statement in German
    ("storniere Anfrage wegen Zeitüberschreitung der Anfrage"), and the
    record without the held subscriber row, chosen by the English words,
    never ran there: the send stopped (exit 2) and sent the delivered
    digests again."""
    with _german_server(pg_server, monkeypatch) as (url, timed_out):
        with caplog.at_level(logging.WARNING), _two_claimed_a_row_held(url, monkeypatch, "subscribers") as (st, ids):
            st.mark_sent_many([(ids[0], "a@example.org", 1), (ids[1], "b@example.org", 1)], T_HELD)
        assert query(url, "SELECT subscriber, status FROM digests ORDER BY subscriber") == [
            ("a@example.org", "sent"), ("b@example.org", "sent")]
        [said] = [r.getMessage() for r in caplog.records if "recorded sent all the same" in r.getMessage()]
        assert str(timed_out) in said and "not the send time of a@example.org" in said, said


@pytest.mark.parametrize("german", [False, True], ids=["english", "german"])
def test_an_administrators_cancel_is_told_from_a_timeout_in_any_language(pg_server, pg_url, monkeypatch, caplog,
                                                                          german):
    """An administrator's pg_cancel_backend and the worker's statement
    timeout share SQLSTATE 57014; they were told apart by the English words
    "due to user request" alone, so on a server speaking German a cancel
    read as a timeout: "no result within the worker's 110 s ... a lock
    another session holds", however soon it came.  Now a cancellation
    before the worker's limit is said as a cancel, in any language, and a
    delivered digest's record it cancelled is made once more (before, on an
    English server, the send stopped and the next one sent it again).  The
    limit here is 50 s, which the cancel, made as soon as the record waits
    on the held row, comes well within (nothing in the test waits on time)."""
    import psycopg

    from newsletter.state import postgres as postgres_state

    with contextlib.ExitStack() as stack:
        url = stack.enter_context(_german_server(pg_server, monkeypatch))[0] if german else pg_url
        monkeypatch.setattr(postgres_state, "ANSWER_WITHIN", 60.0)  # the worker's statement limit: 50 s
        emails = ["a@example.org", "b@example.org"]
        with open_state(url) as st:
            st.see_subscribers(emails, T_HELD)
            with st.claiming(emails, T_HELD) as batch:
                ids = batch.claim([(None, e, f"<{e}>", []) for e in emails])
            with psycopg.connect(url, autocommit=True) as admin, psycopg.connect(url) as holder:
                holder.execute("SELECT 1 FROM subscribers WHERE email = 'a@example.org' FOR UPDATE")
                errors: list[BaseException] = []

                def record() -> None:  # a delivery thread's record (on a pooled connection)
                    try:
                        st.mark_sent_many([(ids[0], "a@example.org", 1), (ids[1], "b@example.org", 1)], T_HELD)
                    except BaseException as exc:  # noqa: BLE001 -- said by the assertion below
                        errors.append(exc)

                with caplog.at_level(logging.WARNING):
                    recording = threading.Thread(target=record)
                    recording.start()
                    cancelled = False
                    while not cancelled and recording.is_alive():  # the record waits on the held row: cancel it
                        cancelled = any(ok for (ok,) in admin.execute(
                            "SELECT pg_cancel_backend(pid) FROM pg_locks WHERE NOT granted AND pid <> pg_backend_pid()"
                        ).fetchall())
                    recording.join(120)
                holder.rollback()
        assert cancelled and not errors, errors
        said = [r.getMessage() for r in caplog.records if r.name == "newsletter.state.postgres"]
        assert len(said) == 1, said
        assert "no result within" not in said[0], said
        assert ("(cancelled by request before the worker's 50 s limit: an administrator's pg_cancel_backend, or a "
                "stop; nothing of the statement was recorded); the digests are recorded sent all the same (none goes "
                "again), but not the send time of a@example.org") in said[0], said
        assert ("storniere Anfrage wegen Benutzeraufforderung" if german else "due to user request") in said[0], said
        assert query(url, "SELECT subscriber, status FROM digests ORDER BY subscriber") == [
            ("a@example.org", "sent"), ("b@example.org", "sent")]


def test_a_cancel_on_a_session_that_set_no_limit_is_a_timeout_said_as_the_databases():
    """A writer's session runs under the database's own statement_timeout
    until its ``SET`` takes effect, and a read-only one always does: a 1 ms
    limit there cancelled a worker's first statement under load, which the
    waited time (far under 110 s) read as an administrator's cancel, and the
    send stopped (exit 2) where it had passed as a timeout.  Such a
    cancellation is a timeout for what follows, and the line names the
    database's limit or a request, not the worker's 110 s."""
    import psycopg

    from newsletter.state import postgres as postgres_state

    exc = psycopg.errors.QueryCanceled("canceling statement due to statement timeout")
    exc.waited, exc.limit_set = 0.002, False  # type: ignore[attr-defined]
    assert postgres_state._timed_out(exc)
    said = postgres_state.describe(exc, {})
    assert "this session sets no statement limit of its own" in said and "worker's 110" not in said, said
    mine = psycopg.errors.QueryCanceled("canceling statement due to user request")
    mine.waited, mine.limit_set = 0.002, True  # type: ignore[attr-defined]
    assert not postgres_state._timed_out(mine)  # the worker's limit set: a cancel sooner is a request
