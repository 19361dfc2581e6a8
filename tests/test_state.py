"""The SQLite state: a real file, inspected with sqlite3."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from newsletter.errors import StateError
from newsletter.models import Paper
from newsletter.state import State, paper_from_json, send_lock
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
    st.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.sqlite3"]
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA user_version").fetchone()[0] == state_module.SCHEMA_VERSION == 1
    cols = {r[1] for r in con.execute("PRAGMA table_info(digests)")}
    assert {"id", "subscriber", "status", "attempts", "last_error", "message_id", "created", "sent", "next_attempt"} <= cols
    with pytest.raises(sqlite3.IntegrityError):  # status is constrained
        con.execute("INSERT INTO digests (subscriber, status, message_id, created) VALUES ('a', 'lost', '<x>', 't')")


def test_digest_lifecycle_and_read_api(tmp_path):
    path = tmp_path / "s.sqlite3"
    papers = [Paper("Diffusion A", "abs", "src", arxiv_id="2401.00001v2"), Paper("Some Title!", "abs", "src")]
    with State.open(path) as st:
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
        st.claim([(open_, "ada@example.org", open_.message_id, ["some title"])], T0)
        st.mark_sent(did, "ada@example.org", 1, T0 + timedelta(hours=1))
        assert st.open_digest("ada@example.org") is None
    with State.open(path, readonly=True) as ro:
        assert ro.sent_paper_ids("ADA@example.org") == frozenset({"some title"})
        assert ro.first_seen("ada@example.org") == T0
        assert ro.last_sent("ada@example.org") == T0 + timedelta(hours=1)
        [rec] = ro.digests("ada@example.org")
        assert (rec.status, rec.attempts, rec.message_id, rec.paper_ids) == ("sent", 3, "<m1@x>", ("some title",))
        assert ro.papers(["2401.00001"])["2401.00001"].title == "Diffusion A"
        with pytest.raises(StateError):
            ro.served(["ada@example.org"], T0)


def test_recover_turns_stale_sending_into_pending(tmp_path):
    with State.open(tmp_path / "s.sqlite3") as st:
        st.see_subscribers(["a@example.org"], T0)
        [did] = st.claim([(None, "a@example.org", "<m@x>", ["p"])], T0)
        [(rid, sub, mid, owner)] = st.recover()
        assert (rid, sub, mid) == (did, "a@example.org", "<m@x>") and "@" in owner
        assert st.open_digest("a@example.org").status == "pending"
        assert st.recover() == []


def test_migration_hook_upgrades_older_files(tmp_path, monkeypatch):
    path = tmp_path / "s.sqlite3"
    State.open(path).close()
    v2 = lambda db: db.execute("ALTER TABLE subscribers ADD COLUMN note TEXT")  # noqa: E731
    monkeypatch.setattr(state_module, "MIGRATIONS", state_module.MIGRATIONS + [v2])
    monkeypatch.setattr(state_module, "SCHEMA_VERSION", 2)
    with pytest.raises(StateError, match="older than this version's 2; run `newsletter send`"):
        State.open(path, readonly=True)
    State.open(path).close()
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA user_version").fetchone()[0] == 2
    assert "note" in {r[1] for r in con.execute("PRAGMA table_info(subscribers)")}


def test_newer_or_foreign_files_are_refused(tmp_path):
    path = tmp_path / "s.sqlite3"
    State.open(path).close()
    with sqlite3.connect(path) as con:
        con.execute("PRAGMA user_version = 7")
    for readonly in (False, True):
        with pytest.raises(StateError, match=r"newer Paper Digest \(schema version 7; this version knows up to 1\)"):
            State.open(path, readonly=readonly)
    other = tmp_path / "other.sqlite3"
    with sqlite3.connect(other) as con:
        con.execute("CREATE TABLE t (x)")
    with pytest.raises(StateError, match="not a Paper Digest state file"):
        State.open(other)
    with pytest.raises(StateError, match="folder .* does not exist"):
        State.open(tmp_path / "missing" / "s.sqlite3")


def test_send_lock_excludes_a_second_holder(tmp_path):
    path = tmp_path / "s.sqlite3"
    clock = [0.0]
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        clock[0] += seconds

    with send_lock(path):
        with pytest.raises(StateError, match=r"another send \(\d+@.*\) has held the state for over 1 s"):
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
