"""``newsletter run`` as a real daemon process, with a real SMTP server and a fast clock.

The daemon runs under libfaketime (Debian's ``faketime``) at 60x speed, so a
minute of schedule passes in a second; the test itself never reads the real
clock and waits only by polling the mailbox or the process with a deadline.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from conftest import (
    LIBFAKETIME,
    ROOT,
    arxiv_announcement,
    faketime_env,
    feed_config,
    run_newsletter,
    stderr_until,
    terminated_once_said,
    write_config,
)
from smtp_server import smtp_server  # noqa: F401
from test_send import digests, export, setup
from test_send import smtp as plain_smtp

pytestmark = pytest.mark.skipif(LIBFAKETIME is None, reason="needs Debian's faketime (libfaketime)")


def smtp(port: int, more: str = "") -> str:
    """test_send's SMTP delivery settings for a daemon under the fast clock.

    libfaketime speeds up timeouts as well as the clock: a socket's 5 s
    timeout is 83 ms of real time at 60x, which a busy machine's test server
    can miss.  The message then times out, and the next run sends it again
    (rightly, since it may have arrived), so the mailbox holds a duplicate.
    600 s at 60x is 10 s of real time."""
    return plain_smtp(port, more).replace("timeout: 5\n", "timeout: 600\n")


def start_run(folder, fake_start: str, *args: str, speed: int = 60) -> subprocess.Popen:
    env = {**os.environ, "TZ": "UTC", **faketime_env(FAKETIME=f"@{fake_start} x{speed}")}  # only the wall clock runs fast
    env.pop("NEWSLETTER_CONFIG", None)
    return subprocess.Popen(
        [sys.executable, "-m", "newsletter", "run", "--tick", "0.1", *args],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def stop(proc: subprocess.Popen, sig=signal.SIGTERM) -> tuple[int, str]:
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=30)
    return proc.returncode, out + err


def wait_until(predicate, proc: subprocess.Popen, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            raise AssertionError(f"the daemon exited ({proc.returncode}) before {what}: {proc.stderr.read()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def terminate_after(predicate, proc: subprocess.Popen, what: str) -> tuple[str, str, float]:
    """Once ``predicate()`` holds, SIGTERM the daemon and wait for it to exit:
    its output and how many seconds it took to stop."""
    try:
        wait_until(predicate, proc, what)
        proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        out, err = proc.communicate(timeout=60)
        return out, err, time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()


SCHEDULED = """
  - email: ada@example.org
    name: Ada Lovelace
    topics: [diffusion]
    schedule: daily at 08:00
    timezone: Europe/Berlin
  - email: bob@example.org
    topics: [optim]
    schedule: every 1 minutes
  - email: cron@example.org
    topics: [optim]
    schedule: every 1 minutes
"""


#: cron@ without a schedule: for `send` from cron (and refused by `run`).
CRON_UNSCHEDULED = SCHEDULED.removesuffix("    schedule: every 1 minutes\n")


def test_daemon_sends_on_schedule_and_stops_cleanly(tmp_path, cli, smtp_server):
    setup(tmp_path, smtp(smtp_server.port), subscribers=SCHEDULED)
    box = smtp_server.mailbox
    # An earlier send saw everyone at 06:00 UTC (each waits for its first slot).
    assert cli("send", "--now", "2026-11-23T06:00:00+00:00").code == 0
    assert box.messages == []
    # 07:59:30 in Berlin: ada's slot is 30 fake seconds away; bob's minute slots have passed.
    proc = start_run(tmp_path, "2026-11-23 06:59:30")
    try:
        wait_until(lambda: len(box.messages) >= 3, proc, "the scheduled digests")
        assert len(box.messages) == 3
        by_rcpt = {m.rcpt_tos[0]: m for m in box.messages}
        assert set(by_rcpt) == {"ada@example.org", "bob@example.org", "cron@example.org"}
        ada_date = by_rcpt["ada@example.org"].message["Date"].datetime
        assert "2026-11-23T07:00:00+00:00" <= ada_date.isoformat() < "2026-11-23T07:10:00+00:00"  # at 08:00 Berlin, not before
        # New papers: bob's and cron@'s next minute slots send them; ada (daily) waits for tomorrow.
        (tmp_path / "papers" / "day2.txt").write_text(export(["SGD With Momentum, Again", "Diffusion Models Once More"]))
        wait_until(lambda: any("Momentum" in m.content.decode() for m in box.messages if m.rcpt_tos == ["bob@example.org"]), proc, "bob's second digest")
        wait_until(lambda: any("Momentum" in m.content.decode() for m in box.messages if m.rcpt_tos == ["cron@example.org"]), proc, "cron's second digest")
        assert not any("Once More" in m.content.decode() for m in box.messages if m.rcpt_tos == ["ada@example.org"])
    finally:
        code, log = stop(proc)
    assert code == 0, log
    assert "stopped" in log
    assert "Traceback" not in log
    rows = digests(tmp_path)
    assert all(status == "sent" for _, status, *_ in rows)
    assert len(rows) == len(box.messages) == 5
    assert len({m.message_id for m in box.messages}) == len(box.messages)  # nothing went twice


def test_missed_slots_are_caught_up_once_at_start(tmp_path, cli, smtp_server):
    subscribers = SCHEDULED.split("  - email: bob")[0] + "  - email: cron@example.org\n    topics: [optim]\n    schedule: every 1 minutes\n"
    setup(tmp_path, smtp(smtp_server.port), subscribers=subscribers)
    box = smtp_server.mailbox
    to_ada = lambda: [m for m in box.messages if m.rcpt_tos == ["ada@example.org"]]  # noqa: E731
    assert cli("send", "--now", "2026-11-19T12:00:00+00:00").code == 0  # first seen
    assert cli("send", "--now", "2026-11-20T07:05:00+00:00").code == 0  # ada's 08:00 Berlin slot
    assert len(to_ada()) == 1
    (tmp_path / "papers" / "day2.txt").write_text(export(["Diffusion Models After The Outage"]))
    # Down for three days (three missed slots); started at 11:00 Berlin, long before the next one.
    proc = start_run(tmp_path, "2026-11-23 10:00:00")
    try:
        wait_until(lambda: len(to_ada()) >= 2, proc, "the catch-up digest")
        # A paper for cron@ (every minute) proves the daemon ticked on after the catch-up.
        (tmp_path / "papers" / "day3.txt").write_text(export(["SGD Marker Paper"]))
        wait_until(lambda: any("Marker" in m.content.decode() for m in box.messages), proc, "the marker digest")
        assert len(to_ada()) == 2  # one digest for three missed slots
    finally:
        code, log = stop(proc)
    assert code == 0, log
    assert "After The Outage" in to_ada()[1].content.decode()


def test_second_daemon_on_the_same_state_refuses(tmp_path, smtp_server):
    setup(tmp_path, smtp(smtp_server.port), subscribers=SCHEDULED)
    first = start_run(tmp_path, "2026-11-23 06:59:30")
    try:
        wait_until(lambda: (tmp_path / "newsletter-state.sqlite3.run.lock").exists(), first, "the run lock")
        wait_until(lambda: len(smtp_server.mailbox.messages) >= 1, first, "the first digest")
        second = start_run(tmp_path, "2026-11-23 06:59:30")
        out, err = second.communicate(timeout=30)
        assert second.returncode == 2
        assert "another `newsletter run`" in err and "already running" in err
        assert "Traceback" not in err
    finally:
        code, log = stop(first)
    assert code == 0, log


def test_a_second_daemon_refuses_though_the_run_lock_file_was_removed(tmp_path, smtp_server):
    """`<state>.run.lock` removed under a running daemon (a clean-up of
    `*.lock`): a second `run` made a new one and ran beside the first.  It
    is refused (the first still holds the removed file), and the first
    takes the lock again at its next tick, saying so."""
    setup(tmp_path, smtp(smtp_server.port), subscribers=SCHEDULED)
    lock = tmp_path / "newsletter-state.sqlite3.run.lock"
    first = start_run(tmp_path, "2026-11-23 06:59:30")
    try:
        wait_until(lambda: len(smtp_server.mailbox.messages) >= 1, first, "the first digest")
        lock.unlink()
        second = start_run(tmp_path, "2026-11-23 06:59:30")
        out, err = second.communicate(timeout=30)
        assert second.returncode == 2, out + err
        # whether the first took the lock again (its tick) before the second asked, or not yet
        assert re.fullmatch(
            rf"{re.escape(str(lock))}: another `newsletter run` \(pid {first.pid}(, which holds it still though its "
            r"lock file was removed)?\) is already running on this state; not starting a second one", err.strip()
        ), err
        wait_until(lock.exists, first, "the lock file taken again")
    finally:
        code, log = stop(first)
    assert code == 0, log
    assert f"warning: {lock}: the run's lock file was removed while it ran; it took the lock again" in log


def test_sigterm_mid_batch_finishes_the_message_in_flight_and_loses_nothing(tmp_path, cli, smtp_server):
    many = "".join(f"\n  - email: user{i:02}@example.org\n    topics: [diffusion]" for i in range(6))
    setup(tmp_path, smtp(smtp_server.port), subscribers=many, extra="schedule: every 1 minutes")  # the default
    box = smtp_server.mailbox
    box.block_at = 2  # the second message is held until released
    proc = start_run(tmp_path, "2026-11-23 06:59:30")
    try:
        wait_until(box.blocked.is_set, proc, "the second message to be in flight")
        proc.send_signal(signal.SIGTERM)
        # the stop is seen before the server answers (on a loaded machine the
        # handler could run after all six went out)
        said = stderr_until(proc, "stopping (SIGTERM): the message being delivered finishes")
        box.release.set()
        out, err = proc.communicate(timeout=30)
        err = said + err
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    delivered_then = {m.rcpt_tos[0] for m in box.messages}
    assert len(delivered_then) >= 2  # the one in flight was finished
    # the digests the stop left untried are pending, not failed
    summary = next(line for line in err.splitlines() if "run: sent " in line)
    assert f"run: sent {len(delivered_then)}, empty 0, failed 0, " in summary and ", left pending " in summary, err
    # counted in the summary, not one line each (the stop said why once)
    assert "pending     user0" not in err and "failed      " not in err, err
    rows = digests(tmp_path)
    assert not any(status == "sending" for _, status, *_ in rows)
    # Whatever was not sent is still owed: the next send delivers exactly the rest.
    r = cli("send")
    assert r.code == 0, r.err
    recipients = [m.rcpt_tos[0] for m in box.messages]
    assert sorted(recipients) == [f"user{i:02}@example.org" for i in range(6)]


def test_sigterm_while_a_cron_send_holds_the_state_stops_the_daemon_at_once(tmp_path, cli, smtp_server):
    """A tick waiting for the state's lock (a long `send` from cron beside
    the daemon) took SIGTERM as a note for after its send and went on
    waiting, up to ten minutes: systemd kills a unit after 90 s.  It stops
    at once and cleanly (exit 0), nothing sent, and the digests stay due."""
    from newsletter.state import send_lock

    setup(tmp_path, smtp(smtp_server.port), subscribers=SCHEDULED)
    assert cli("send", "--now", "2026-11-23T06:00:00+00:00").code == 0  # everyone seen: bob and cron@ due at start
    box = smtp_server.mailbox
    with send_lock(tmp_path / "newsletter-state.sqlite3"):
        proc = start_run(tmp_path, "2026-11-23 06:59:30")
        _, err = terminated_once_said(proc, "is running on this state; waiting for it")
    assert proc.returncode == 0 and "Traceback" not in err, err
    assert "stopped while waiting for another send" in err and "run: stopped" in err, err
    assert box.messages == [] and digests(tmp_path) == []


def test_a_lost_postgres_session_is_said_and_its_digests_go_out_at_the_next_tick(tmp_path, smtp_server, pg_url):
    """The daemon's send stops when its PostgreSQL session ends (its claims
    are any worker's then); `run` dropped a report's problems (only the
    delivery's 'stopped' line said why) and set no retry.  It logs them as
    `run: ...`, and the rest go out at a following tick, each once."""
    import psycopg

    many = "".join(f"\n  - email: user{i:02}@example.org\n    topics: [diffusion]" for i in range(6))
    setup(tmp_path, smtp(smtp_server.port), subscribers=many, extra=f"schedule: every 1 minutes\nstate: {pg_url}")
    # first seen long ago: the daemon goes by PostgreSQL's clock, not its fast one, and finds them all due
    assert run_newsletter("send", "--now", "2026-11-23T06:00:00+00:00", cwd=tmp_path).code == 0
    box = smtp_server.mailbox
    box.block_at = 2
    proc = start_run(tmp_path, "2026-11-23 06:59:30")
    try:
        wait_until(box.blocked.is_set, proc, "the second message to be in flight")
        with psycopg.connect(pg_url, autocommit=True) as con:
            con.execute(
                "SELECT pg_terminate_backend(pid, 10000) FROM pg_locks WHERE locktype = 'advisory' "
                "AND pid <> pg_backend_pid()"
            )
        box.release.set()
        wait_until(lambda: len({m.rcpt_tos[0] for m in box.messages}) == 6, proc, "every digest")
        code, err = stop(proc)
    finally:
        box.release.set()
        if proc.poll() is None:
            proc.kill()
    assert code == 0, err
    # one line says what happened and how many it left (each pending digest was a line of its own,
    # the stop said twice, and then "retrying failed deliveries" when none had failed)
    [said] = [line for line in err.splitlines() if "session ended" in line]
    assert re.fullmatch(
        r"run: the PostgreSQL session ended \(terminating connection due to administrator command\): this worker's "
        r"claimed digests are any worker's to send now, so it sends no more of them; [1-4] digests? left pending, "
        r"sent again from 2026-11-23T\d\d:\d\d:\d\d\+00:00", said), said
    assert "pending     " not in err and "retrying failed deliveries" not in err, err
    ids = [m.message_id for m in box.messages]
    assert len(ids) == 6 and len(set(ids)) == 6


def test_a_daemon_whose_clock_is_ahead_goes_by_postgresqls(tmp_path, pg_url):
    """A `run` on a machine whose clock is ahead of the database's took its
    subscribers for due and sent them early: it goes by PostgreSQL's clock,
    which every worker shares (its own runs a day and more ahead here)."""
    every = "\n  - email: ada@example.org\n    topics: [diffusion]\n    schedule: every 25 hours\n"
    setup(tmp_path, "  transport: outbox", subscribers=every, extra=f"state: {pg_url}")
    assert run_newsletter("send", cwd=tmp_path).code == 0  # first seen now: her first slot is 25 hours on
    proc = start_run(tmp_path, "2030-01-01 08:00:00", speed=1)
    _, err = terminated_once_said(proc, "run: next digest")
    assert proc.returncode == 0, err
    assert "warning: this machine's clock is" not in err  # (said by a send only, not at every tick)
    assert digests(pg_url) == [] and not list((tmp_path / "outbox").glob("*.eml")), err


def test_a_daemon_does_not_wake_for_a_digest_a_live_worker_is_sending(tmp_path, pg_url):
    """A digest another worker (a `run` on another host) is delivering is
    owed until it is done; each daemon took it for due, and every tick
    (15 s) read every source and ranked every paper again, only for the
    send to find it another worker's.  Once that worker is gone, the digest
    is due at once, and the next send takes it back."""
    from datetime import datetime, timedelta

    from newsletter.config import load_config
    from newsletter.runner import Runner
    from newsletter.state import open_state

    config_path = setup(tmp_path, "  transport: outbox", subscribers=SCHEDULED, extra=f"state: {pg_url}")
    runner = Runner(config_path, config=load_config(config_path))
    now = datetime(2026, 11, 23, 7, 30, tzinfo=UTC)
    everyone = ["ada@example.org", "bob@example.org", "cron@example.org"]
    with open_state(pg_url) as other:
        other.see_subscribers(everyone, now - timedelta(days=2))
        other.claim([(None, "ada@example.org", "<ada@x>", ["p"])], now)
        assert runner.due_now(now) == ["bob@example.org", "cron@example.org"]
    deadline = time.monotonic() + 10  # (the server ends the closed session a moment later: asked, not waited for)
    while (due := runner.due_now(now)) != everyone and time.monotonic() < deadline:
        pass
    assert due == everyone


def test_schedule_command_shows_last_and_next_in_each_zone(tmp_path, cli, smtp_server):
    setup(tmp_path, smtp(smtp_server.port), subscribers=CRON_UNSCHEDULED)
    assert not (tmp_path / "newsletter-state.sqlite3").exists()
    r = cli("schedule", "--json", "--now", "2026-11-23T12:00:00+00:00")
    assert r.code == 0, r.err
    assert not (tmp_path / "newsletter-state.sqlite3").exists()  # schedule never writes the state
    rows = {row["email"]: row for row in json.loads(r.out)["subscribers"]}
    assert rows["ada@example.org"]["next_send"] == "2026-11-24T08:00:00+01:00"
    assert rows["ada@example.org"]["last_sent"] is None
    assert rows["cron@example.org"]["schedule"] is None and rows["cron@example.org"]["next_send"] is None
    assert cli("send", "--now", "2026-11-23T06:00:00+00:00").code == 0  # all seen; cron@ sent
    assert cli("send", "--now", "2026-11-23T07:00:30+00:00").code == 0  # ada's and bob's slots
    rows = {row["email"]: row for row in json.loads(cli("schedule", "--json", "--now", "2026-11-23T07:30:00+00:00").out)["subscribers"]}
    assert rows["ada@example.org"]["last_sent"] == "2026-11-23T08:00:30+01:00"
    assert rows["ada@example.org"]["next_send"] == "2026-11-24T08:00:00+01:00"
    assert rows["ada@example.org"]["timezone"] == "Europe/Berlin"
    assert rows["bob@example.org"]["next_send"] == "2026-11-23T07:01:00+00:00"
    assert rows["bob@example.org"]["due"] is True
    text = cli("schedule", "--now", "2026-11-23T07:30:00+00:00").out
    assert "ada@example.org: daily at 08:00 (Europe/Berlin); last sent 2026-11-23 08:00 CET; next 2026-11-24 08:00 CET" in text


def test_a_command_under_the_tests_fake_clock_can_pause():
    """The daemon pauses between tries on a locked state (``time.sleep``);
    under libfaketime without the tests' mend every pause raised "Invalid
    argument" and the daemon died with that bare line, a fault of the test
    clock that a real machine never has."""
    script = "import time; t = time.monotonic(); time.sleep(0.05); print(round(time.monotonic() - t, 1))"
    env = {**os.environ, "TZ": "UTC", **faketime_env(FAKETIME="@2026-11-23 06:59:30 x60")}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=30)
    assert (proc.returncode, proc.stderr) == (0, ""), proc.stderr
    assert 0.0 <= float(proc.stdout) < 5  # a real pause: the monotonic clock is not sped up


def test_failed_delivery_is_retried_by_the_daemon_before_the_next_slot(tmp_path, cli):
    from smtp_server import Server, free_port

    port = free_port()  # nothing listens here yet: the server is down
    setup(tmp_path, smtp(port), subscribers=SCHEDULED.split("  - email: bob")[0])
    assert cli("send", "--now", "2026-11-23T06:00:00+00:00").code == 0  # ada seen; no server needed
    proc = start_run(tmp_path, "2026-11-23 06:59:30")
    server = None
    try:
        # ada's 08:00 Berlin slot comes, delivery fails and the digest stays pending...
        wait_until(lambda: any(status == "pending" for _, status, *_ in digests(tmp_path)), proc, "a failed delivery")
        server = Server(port)  # ...the server comes back; no new slot is due before tomorrow
        wait_until(lambda: len(server.mailbox.messages) >= 1, proc, "the retried digest")
        assert server.mailbox.messages[0].rcpt_tos == ["ada@example.org"]
    finally:
        code, log = stop(proc)
        if server:
            server.stop()
    assert code == 0, log
    assert "retrying failed deliveries" in log, log
    rows = digests(tmp_path)
    assert [(email, status) for email, status, *_ in rows] == [("ada@example.org", "sent")]


def test_config_change_is_picked_up_without_restart(tmp_path, smtp_server):
    config = setup(tmp_path, smtp(smtp_server.port), subscribers=SCHEDULED.split("  - email: bob")[0])
    box = smtp_server.mailbox
    proc = start_run(tmp_path, "2026-11-23 10:00:00")
    try:
        wait_until(lambda: (tmp_path / "newsletter-state.sqlite3").exists(), proc, "the daemon to start")
        # A broken edit is reported and ignored; the daemon keeps the config it has.
        text = config.read_text()
        config.write_text(text.replace("subscribers:", "subscribers:\n  - email: broken@\n    topics: [optim]"))
        wait_until(lambda: "config not reloaded" in _peek(proc), proc, "the broken config to be reported", timeout=30)
        # A subscriber without a schedule would get mail at every tick: refused too.
        config.write_text(text.replace("subscribers:", "subscribers:\n  - email: eager@example.org\n    topics: [optim]"))
        wait_until(lambda: "eager@example.org has no schedule" in _peek(proc), proc, "the unscheduled subscriber to be refused")
        # A good edit adds a subscriber on a schedule: due at its first slot.
        config.write_text(text.replace(
            "subscribers:", "subscribers:\n  - email: newcomer@example.org\n    topics: [optim]\n    schedule: every 1 minutes"
        ))
        wait_until(lambda: any(m.rcpt_tos == ["newcomer@example.org"] for m in box.messages), proc, "the newcomer's digest")
    finally:
        code, rest = stop(proc)
    log = _seen_output.pop(proc.pid, "") + rest
    assert code == 0, log
    assert "'broken@' is not a valid address" in log
    assert "config not reloaded: config.yaml:12: subscribers[0]: eager@example.org has no schedule" in log
    assert not any(m.rcpt_tos == ["eager@example.org"] for m in box.messages)
    assert "config reloaded (2 subscribers)" in log


def test_a_clock_set_back_does_not_stall_the_daemon(tmp_path, smtp_server):
    """The `schedule` package times its jobs by the local wall clock: set
    back an hour (NTP stepping it, a VM restored; on a machine not on UTC,
    each autumn's DST change) the daemon ran nothing for that hour, not a
    tick nor a config reload.  It goes on at once."""
    config = setup(tmp_path, smtp(smtp_server.port), subscribers=SCHEDULED)
    clock = tmp_path / "faketime.rc"
    clock.write_text("@2026-11-23 10:00:00\n")
    env = {**os.environ, "TZ": "UTC", **faketime_env(FAKETIME_TIMESTAMP_FILE=str(clock))}  # read at every look
    env.pop("FAKETIME", None)
    env.pop("NEWSLETTER_CONFIG", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "newsletter", "run", "--tick", "0.1"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        wait_until(lambda: "run: next digest" in _peek(proc), proc, "the daemon to start")
        clock.write_text("@2026-11-23 09:00:00\n")  # an hour back
        text = config.read_text()
        config.write_text(text.replace("subscribers:", "subscribers:\n  - email: newcomer@example.org\n"
                                       "    topics: [optim]\n    schedule: every 1 minutes"))
        wait_until(lambda: "config reloaded" in _peek(proc), proc, "the config reload", timeout=60)
    finally:
        code, rest = stop(proc)
    log = _seen_output.pop(proc.pid, "") + rest
    assert code == 0, log
    assert "run: config reloaded (4 subscribers)" in log


_seen_output: dict[int, str] = {}


def _peek(proc: subprocess.Popen) -> str:
    """What the daemon has written to stderr so far (read without blocking)."""
    import fcntl

    fd = proc.stderr.fileno()
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)
    try:
        chunk = proc.stderr.read()
    except (BlockingIOError, TypeError):
        chunk = None
    _seen_output[proc.pid] = _seen_output.get(proc.pid, "") + (chunk or "")
    return _seen_output[proc.pid]


def test_run_beside_a_config_in_a_folder_it_cannot_write_says_so_as_send_does(tmp_path, cli, smtp_server):
    """A config in a folder this user cannot write: `send` and `validate`
    named the state's folder, and `run` stopped at its lock file beside the
    state with the bare `...newsletter-state.sqlite3.run.lock: Permission
    denied`.  It says what `send` says, with the folder's whole path (it was
    '.', of a config named from its own folder); nothing is sent."""
    from conftest import unwritable

    setup(tmp_path, smtp(smtp_server.port), extra="schedule: daily at 08:00")
    with unwritable(tmp_path):
        r = cli("run")
    assert r.code == 2 and r.err.splitlines() == [
        f"newsletter-state.sqlite3: the state's folder {str(tmp_path.resolve())!r} is not writable for this user: "
        "SQLite keeps its journal files (-wal, -shm) beside the state file; make the folder writable or move `state:`"
    ], r.err
    assert smtp_server.mailbox.messages == [] and not (tmp_path / "newsletter-state.sqlite3").exists()


def test_run_refuses_subscribers_without_a_schedule_unless_there_is_a_default(tmp_path, cli, smtp_server):
    setup(tmp_path, smtp(smtp_server.port), subscribers=CRON_UNSCHEDULED + "  - email: dan@example.org\n    topics: [optim]\n")
    r = cli("run")
    assert r.code == 2
    lines = r.err.strip().splitlines()
    assert [line.split(" has no schedule")[0] for line in lines] == [
        "config.yaml:20: subscribers[2]: cron@example.org",
        "config.yaml:22: subscribers[3]: dan@example.org",
    ]
    assert "set a default `schedule:` at the top level" in lines[0] and "Traceback" not in r.err
    assert not (tmp_path / "newsletter-state.sqlite3").exists() and smtp_server.mailbox.messages == []

    # A top-level default: cron@ and dan@ inherit it (ada and bob keep their own), and run starts.
    setup(tmp_path, smtp(smtp_server.port), subscribers=CRON_UNSCHEDULED, extra="schedule: every 1 minutes")
    rows = {row["email"]: row for row in json.loads(cli("schedule", "--json").out)["subscribers"]}
    assert rows["cron@example.org"]["schedule"] == "every 1 minutes"
    assert rows["ada@example.org"]["schedule"] == "daily at 08:00"
    proc = start_run(tmp_path, "2026-11-23 10:00:00")
    try:
        wait_until(lambda: any(m.rcpt_tos == ["cron@example.org"] for m in smtp_server.mailbox.messages), proc, "cron's digest")
    finally:
        code, log = stop(proc)
    assert code == 0, log


def _every_minute(http_server, smtp_server, arxiv: bool = False) -> str:
    """A config with ada's digest every minute from the feed (and arXiv's API)
    on the test HTTP server, for the outage tests."""
    api = (f"""
  - type: arxiv
    name: arXiv ML
    categories: [cs.LG]
    url: {http_server.url("/api/query")}""" if arxiv else "")
    return f"""
sources:{api}
  - type: feed
    name: reading group
    url: {http_server.url("/feed.xml")}
topics:
  diffusion: {{any: ["diffusion model*"]}}
subscribers:
  - email: ada@example.org
    topics: [diffusion]
    schedule: every 1 minutes
delivery:
{smtp(smtp_server.port)}
http: {{retries: 0, fresh_for: 0, timeout: 600}}  # 10 s real at 60x (see smtp())
"""


def test_run_stops_with_exit_2_when_every_source_fails_and_keeps_the_slot(tmp_path, cli, smtp_server, http_server):
    from recorded_http import Reply, recorded

    write_config(tmp_path, _every_minute(http_server, smtp_server))
    http_server.route("/feed.xml", recorded("feed-rss2.xml"))
    assert cli("send", "--now", "2026-11-23T09:00:00+00:00").code == 0  # ada seen; her first slot is a minute later
    http_server.route("/feed.xml", Reply(502, b"bad gateway"))
    proc = start_run(tmp_path, "2026-11-23 10:00:00")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, err
    lines = err.strip().splitlines()
    assert lines[-2] == f"{http_server.url('/feed.xml')}: source 'reading group': HTTP 502 Bad Gateway"
    assert lines[-1].startswith("every source failed (1 of 1); no papers were read: nothing sent")
    assert "Traceback" not in err and smtp_server.mailbox.messages == []
    assert digests(tmp_path) == []

    http_server.route("/feed.xml", recorded("feed-rss2.xml"))  # back: her digest goes out at the next run
    r = cli("send")
    assert r.code == 0, r.err
    assert smtp_server.mailbox.recipients() == ["ada@example.org"]


BAD_RELOADS = {
    "alias bomb": "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    + "".join(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 10))
    + "sources: *a9\n",
    "self-reference": "sources: &a [*a]\n",
}


def test_a_hostile_config_reload_keeps_the_running_config(tmp_path, smtp_server):
    """An alias bomb, a self-referencing alias, a FIFO and a 5 GB (sparse) file
    put in place of the config: each is reported in seconds, the daemon keeps
    running on its old config, and a good edit after them still takes."""
    config = setup(tmp_path, smtp(smtp_server.port), subscribers=SCHEDULED.split("  - email: bob")[0])
    good = config.read_text()
    box = smtp_server.mailbox
    proc = start_run(tmp_path, "2026-11-23 10:00:00")
    log = ""
    try:
        wait_until(lambda: (tmp_path / "newsletter-state.sqlite3").exists(), proc, "the daemon to start")
        for n, (what, text) in enumerate(BAD_RELOADS.items()):
            config.write_text(text)
            wait_until(lambda n=n: _peek(proc).count("config not reloaded") > n, proc, f"the {what} to be reported", timeout=60)
        fifo = tmp_path / "fifo"
        os.mkfifo(fifo)
        os.replace(fifo, config)
        wait_until(lambda: "not a regular file" in _peek(proc), proc, "the FIFO to be reported", timeout=60)
        big = tmp_path / "big.yaml"
        with open(big, "wb") as f:
            f.truncate(5 * 1024**3)  # sparse: no disk used
        os.replace(big, config)
        wait_until(lambda: "over the limit" in _peek(proc), proc, "the big file to be reported", timeout=60)
        config.write_text(good.replace(
            "subscribers:", "subscribers:\n  - email: newcomer@example.org\n    topics: [optim]\n    schedule: every 1 minutes"
        ))
        wait_until(lambda: any(m.rcpt_tos == ["newcomer@example.org"] for m in box.messages), proc, "the newcomer's digest")
    finally:
        code, rest = stop(proc)
        log = _seen_output.pop(proc.pid, "") + rest
    assert code == 0, log
    assert "Traceback" not in log
    assert "config.yaml:10: YAML aliases expand this config" in log
    assert "config.yaml:1: a YAML alias refers to a value that contains it" in log
    assert "config reloaded (2 subscribers)" in log


def test_sigterm_with_a_hung_server_exits_within_the_smtp_timeout(tmp_path, smtp_server):
    """SIGTERM while a message hangs in DATA: no new delivery starts, the one
    in flight is abandoned at its timeout, the daemon exits well inside
    systemd's 90 s, and every digest stays pending."""
    from test_send import many

    box = smtp_server.mailbox
    box.hang_data = True
    delivery = plain_smtp(smtp_server.port).replace("timeout: 5", "timeout: 4").replace("retries: 1", "retries: 3")
    setup(tmp_path, delivery, subscribers=many(30), extra="schedule: every 1 hours")
    assert run_newsletter("send", "--now", "2026-11-23T06:00:00+00:00", cwd=tmp_path).code == 0  # all seen, none due
    assert box.data_count == 0
    proc = start_run(tmp_path, "2026-11-23 10:00:00", speed=1)  # libfaketime would scale socket timeouts too
    out, err, took = terminate_after(lambda: box.data_count >= 1, proc, "a message in flight")
    assert proc.returncode == 0, err
    assert took < 15, took
    assert box.data_count <= 2
    assert "Traceback" not in err
    assert not any(status == "sent" for _, status, *_ in digests(tmp_path))


def test_an_unsubscribed_subscriber_is_never_due_so_run_does_not_wake_for_it(tmp_path, cli):
    from datetime import datetime

    from newsletter.config import load_config
    from newsletter.runner import Runner

    config_path = setup(tmp_path, "  transport: outbox", subscribers=SCHEDULED)
    assert cli("send", "--now", "2026-11-23T06:00:00+00:00").code == 0
    assert cli("unsubscribe", "bob@example.org").code == 0
    runner = Runner(config_path, config=load_config(config_path))
    later = datetime(2026, 11, 23, 7, 30, tzinfo=UTC)  # bob's minute slots and ada's 08:00 Berlin passed
    assert runner.due_now(later) == ["ada@example.org", "cron@example.org"]
    assert cli("resubscribe", "bob@example.org").code == 0
    assert runner.due_now(later) == ["ada@example.org", "bob@example.org", "cron@example.org"]


def test_a_config_edited_while_run_starts_is_reloaded(tmp_path):
    """run read the config, then took the file's time for its watch: an edit
    in between (a deployment writing the file as the service restarts) was
    taken as the config it had read, and never loaded until the next edit."""
    from newsletter.config import load_config
    from newsletter.runner import Runner

    config_path = setup(tmp_path, "  transport: outbox", subscribers=SCHEDULED)
    os.utime(config_path, (1_700_000_000, 1_700_000_000))
    read = load_config(config_path)
    config_path.write_text(config_path.read_text().replace("  - email: cron@example.org", "  - email: carl@example.org"))
    os.utime(config_path, (1_700_000_060, 1_700_000_060))  # a minute later
    runner = Runner(config_path, config=read)
    runner._watch_config()
    assert [s.email for s in runner.config.subscribers] == ["ada@example.org", "bob@example.org", "carl@example.org"]


def test_sigterm_while_a_source_is_retried_exits_at_once(tmp_path, http_server):
    """A feed answering 503 with long backoffs between retries: SIGTERM cuts
    the backoff short and starts no new request."""
    from recorded_http import Reply

    http_server.route("/feed.xml", Reply(503, b"busy"))
    write_config(
        tmp_path,
        f"""
        sources:
          - type: feed
            url: {http_server.url("/feed.xml")}
        topics:
          t:
            any: [x]
        schedule: every 1 hours
        subscribers:
          - email: ada@example.org
            topics: [t]
        http:
          retries: 5
          backoff: 30
        """,
    )
    from newsletter.state import open_state

    with open_state(tmp_path / "newsletter-state.sqlite3") as state:  # seen at 08:00: due at 10:00 (a new one waits)
        state.see_subscribers(["ada@example.org"], datetime(2026, 11, 23, 8, tzinfo=UTC))
    proc = start_run(tmp_path, "2026-11-23 10:00:00", speed=1)
    out, err, took = terminate_after(lambda: len(http_server.requests_to("/feed.xml")) >= 1, proc, "the first request")
    assert proc.returncode == 0, err
    assert took < 20, took  # not the 30 s back-off (a bound against that wait, not a loaded machine's exit)
    assert len(http_server.requests_to("/feed.xml")) == 1
    assert "Traceback" not in err


def test_run_says_when_the_next_digest_goes_out(tmp_path, cli, smtp_server):
    """A newcomer starting `run` saw one line, then nothing until the first
    slot (hours, maybe): it says when, and for whom, at start and after a send."""
    daily = "\n  - email: ada@example.org\n    topics: [diffusion]\n    schedule: daily at 08:00\n    timezone: Europe/Berlin\n"
    setup(tmp_path, smtp(smtp_server.port), subscribers=daily)
    assert cli("send", "--now", "2026-11-23T06:00:00+00:00").code == 0  # seen at 07:00 Berlin
    proc = start_run(tmp_path, "2026-11-23 06:10:00")
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stderr.readline, "")), daemon=True)
    reader.start()
    try:
        wait_until(lambda: any("next digest" in line for line in lines), proc, "the next-digest line")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        reader.join(timeout=30)
    assert [line.strip() for line in lines if "next digest" in line] == [
        "run: next digest 2026-11-23 08:00 CET: ada@example.org (`newsletter schedule` lists every subscriber's)"
    ], lines


def test_a_state_that_cannot_be_read_is_said_once_and_its_recovery_too(tmp_path, caplog):
    """A state the daemon cannot read (PostgreSQL down for the night, a file
    replaced) was one error line at every tick: 5,760 a day at the default 15 s.
    It is said once (again only if what is wrong changes), then that it is back."""
    import logging
    import sqlite3
    from datetime import datetime

    from newsletter.runner import Runner

    daily = "\n  - email: ada@example.org\n    topics: [diffusion]\n    schedule: daily at 08:00\n"
    config = setup(tmp_path, "  transport: outbox", subscribers=daily)
    state = tmp_path / "newsletter-state.sqlite3"
    with sqlite3.connect(state) as con:
        con.execute("CREATE TABLE notes (body TEXT)")  # not a Paper Digest state (yet)
    runner = Runner(config, clock=lambda: datetime(2026, 11, 23, 6, 10, tzinfo=UTC))
    with caplog.at_level(logging.INFO, logger="newsletter"):
        for _ in range(5):
            runner.tick()
        state.unlink()
        runner.tick()
        runner.tick()
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("newsletter")]
    assert lines == [
        f"run: {state}: not a Paper Digest state file (it has tables but no schema version)",
        "run: the state can be read again",
        "run: next digest 2026-11-23 08:00 UTC: ada@example.org (`newsletter schedule` lists every subscriber's)",
    ], lines


def test_a_catch_up_send_at_start_says_the_next_digest_once(tmp_path, caplog):
    """A start that sends (a missed slot caught up) said the next digest's time twice."""
    import logging
    from datetime import datetime

    from newsletter.runner import Runner

    daily = "\n  - email: ada@example.org\n    topics: [diffusion]\n    schedule: daily at 08:00\n"
    config = setup(tmp_path, "  transport: outbox", subscribers=daily)
    assert run_newsletter("send", "--now", "2026-11-22T06:00:00+00:00", cwd=tmp_path).code == 0  # seen the day before
    runner = Runner(config, tick=3600, clock=lambda: datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
    with caplog.at_level(logging.INFO, logger="newsletter"):
        thread = threading.Thread(target=runner.run)
        thread.start()
        deadline = time.monotonic() + 60
        while not any("next digest" in r.getMessage() for r in caplog.records) and time.monotonic() < deadline:
            time.sleep(0.02)
        runner.stop()
        thread.join(timeout=60)
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("newsletter")]
    assert any(line.startswith("sent        ada@example.org") for line in lines), lines
    assert [line for line in lines if "next digest" in line] == [
        "run: next digest 2026-11-24 08:00 UTC: ada@example.org (`newsletter schedule` lists every subscriber's)"
    ], lines
    # the outbox said at start: "sent ada@example.org" read as mail gone out
    assert lines[1] == (f"run: digests are written as .eml files to {tmp_path / 'outbox'}, not mailed "
                        "(`transport: smtp` under delivery: mails them)"), lines


def test_run_says_once_when_a_last_digest_is_recorded_after_its_clock(tmp_path, caplog):
    import logging
    from datetime import datetime

    from newsletter.runner import Runner

    daily = "\n  - email: ada@example.org\n    topics: [diffusion]\n    schedule: daily at 08:00\n"
    config = setup(tmp_path, "  transport: outbox", subscribers=daily)
    assert run_newsletter("send", "--now", "2024-05-01T06:00:00+00:00", cwd=tmp_path).code == 0
    assert run_newsletter("send", "--now", "2024-05-09T08:30:00+00:00", cwd=tmp_path).code == 0  # a clock ahead
    runner = Runner(config, clock=lambda: datetime(2024, 5, 2, 8, 30, tzinfo=UTC))
    with caplog.at_level(logging.INFO, logger="newsletter"):
        for _ in range(3):
            runner.tick()
    assert [r.getMessage() for r in caplog.records if "warning" in r.getMessage()] == [
        "warning: ada@example.org: its last digest is recorded at 2024-05-09 08:30 UTC, over a day after this "
        "machine's clock (2024-05-02 08:30 UTC); it is due now, and its slots go on from there (was the clock ahead then?)"
    ]


def _daily_runner_refused(tmp_path):
    """A runner for one subscriber due daily at 08:00, at 07:00 after its first
    tick (first seen), whose SMTP port refuses every connection; and its clock."""
    import socket
    from datetime import datetime

    from newsletter.runner import Runner

    with socket.socket() as probe:  # a port nothing listens on: connection refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    daily = "\n  - email: ada@example.org\n    topics: [diffusion]\n    schedule: daily at 08:00\n"
    config = setup(tmp_path, plain_smtp(port), subscribers=daily)
    now = [datetime(2026, 11, 23, 7, 0, tzinfo=UTC)]
    runner = Runner(config, clock=lambda: now[0])
    runner.tick()  # first seen
    return runner, now


def test_a_failed_digest_waiting_for_its_back_off_does_not_wake_every_tick(tmp_path):
    """A failed digest leaves its slot unsettled, so the subscriber counted as
    due at every tick: each tick (every 15 s) read every source again, only
    for `send` to find the digest still waiting for its back-off."""
    from datetime import datetime, timedelta

    from newsletter.state import State

    runner, now = _daily_runner_refused(tmp_path)
    now[0] = datetime(2026, 11, 23, 8, 0, 5, tzinfo=UTC)
    runner.tick()  # the slot: delivery refused, the digest stays pending
    with State.open(tmp_path / "newsletter-state.sqlite3", readonly=True) as state:
        owed = state.open_digest("ada@example.org")
    assert owed is not None and owed.next_attempt is not None and owed.next_attempt > now[0]
    assert runner.due_now(now[0] + timedelta(seconds=15)) == []
    assert runner.due_now(owed.next_attempt - timedelta(seconds=1)) == []
    assert runner.due_now(owed.next_attempt) == ["ada@example.org"]


def test_a_failed_digest_whose_clock_went_back_is_retried_at_the_next_tick_not_hours_later(tmp_path):
    """The clock put back 2 hours after a delivery failed: its back-off (5
    minutes) ran to a time 2 h 5 min off, and `run` slept those hours.  A
    wait further off than the digest's own back-off is the clock's doing:
    due at once (and at its proper time when the clock is right)."""
    from datetime import datetime, timedelta

    from newsletter.state import State

    runner, now = _daily_runner_refused(tmp_path)
    now[0] = datetime(2026, 11, 23, 8, 0, 5, tzinfo=UTC)
    runner.tick()  # the slot: delivery refused, the digest stays pending
    with State.open(tmp_path / "newsletter-state.sqlite3", readonly=True) as state:
        owed = state.open_digest("ada@example.org")
    assert owed is not None and owed.next_attempt == now[0] + timedelta(minutes=5)
    assert runner.due_now(owed.next_attempt - timedelta(minutes=5)) == []  # right after: the back-off holds
    assert runner.due_now(now[0] - timedelta(seconds=1)) == ["ada@example.org"]  # the clock put back a second
    assert runner.due_now(now[0] - timedelta(hours=2)) == ["ada@example.org"]


def test_a_templates_folder_removed_while_run_runs_sends_nothing_in_another_design(tmp_path, caplog):
    """The `templates:` folder removed (or moved) while `run` ran: the next
    digests went out in the package's default design, and nothing said so
    (`send` and `validate` refuse such a config).  Now the tick says it at
    its line and sends nothing; the digests go out once the folder is back."""
    import logging
    import shutil
    from datetime import datetime

    from newsletter.runner import Runner

    (tmp_path / "mine").mkdir()
    html = (ROOT / "templates" / "digest.html").read_text(encoding="utf-8")
    (tmp_path / "mine" / "digest.html").write_text(html.replace("<body", "<!-- my design --><body", 1), encoding="utf-8")
    daily = "\n  - email: ada@example.org\n    topics: [diffusion]\n    schedule: daily at 08:00\n"
    config = setup(tmp_path, "  transport: outbox", subscribers=daily, extra="templates: mine/")
    now = [datetime(2026, 11, 23, 7, 0, tzinfo=UTC)]
    runner = Runner(config, clock=lambda: now[0])
    runner.tick()  # first seen
    shutil.move(tmp_path / "mine", tmp_path / "mine.away")
    now[0] = datetime(2026, 11, 23, 8, 0, 5, tzinfo=UTC)
    with caplog.at_level(logging.INFO, logger="newsletter"):
        runner.tick()
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert said == [
        f"run: {config}:20: templates: 'mine/': no such folder now (it had them when the config was read); "
        "restore it, or drop `templates:` for the defaults: nothing sent"
    ], said
    assert not (tmp_path / "outbox").exists() or not list((tmp_path / "outbox").iterdir())
    shutil.move(tmp_path / "mine.away", tmp_path / "mine")
    now[0] = datetime(2026, 11, 23, 8, 5, tzinfo=UTC)
    runner.tick()
    [sent] = list((tmp_path / "outbox").glob("*.eml"))
    assert "my design" in sent.read_text(encoding="utf-8")


def test_after_a_failed_delivery_run_says_the_retry_as_the_next_digest(tmp_path, caplog):
    """Right after the 08:00 digest failed, `run` said "next digest 08:00"
    (the slot just gone): the next is the retry, after its back-off."""
    import logging
    from datetime import datetime

    runner, now = _daily_runner_refused(tmp_path)
    now[0] = datetime(2026, 11, 23, 8, 0, 5, tzinfo=UTC)
    with caplog.at_level(logging.INFO, logger="newsletter"):
        runner.tick()
    said = [r.getMessage() for r in caplog.records if "next digest" in r.getMessage()]
    assert len(said) == 1, said
    when = re.search(r"next digest (\d{4}-\d\d-\d\d \d\d:\d\d) UTC: ada@example.org", said[0])
    assert when is not None and when.group(1) > "2026-11-23 08:00", said


def test_sigterm_while_run_reads_a_postgresql_state_cut_off_stops_within_seconds(tmp_path, pg_server, pg_url,
                                                                                  monkeypatch):
    """Each tick reads the state to find who is due; with the network to
    PostgreSQL cut (a proxy that stops forwarding), that read waited
    ANSWER_WITHIN (120 s) and a SIGTERM meanwhile with it, past systemd's
    90 s.  Once stopping, the read gives up within STOPPING_ANSWER_WITHIN."""
    from datetime import datetime

    from pg_server import PASSWORD
    from tcp_proxy import TcpProxy

    import newsletter.runner as runner_module
    import newsletter.state.postgres as postgres_state
    from newsletter.config import load_config
    from newsletter.errors import StateError
    from newsletter.runner import Runner
    from newsletter.state import open_state

    monkeypatch.setattr(postgres_state, "ANSWER_WITHIN", 30.0)  # (without the stop: a failure, not a hang)
    monkeypatch.setattr(postgres_state, "STOPPING_ANSWER_WITHIN", 0.2)
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    proxy = TcpProxy(pg_server.port)
    try:
        far = proxy.url(pg_url, pg_server.port)
        config_path = setup(tmp_path, "  transport: outbox", subscribers=SCHEDULED, extra=f"state: {far}")
        runner = Runner(config_path, config=load_config(config_path))
        later = datetime(2026, 11, 23, 7, 30, tzinfo=UTC)
        open_state(far).close()  # (a writer makes the schema: a read-only look at an empty database asks nothing)
        assert runner.due_now(later)

        def cut_once_open(*args, **kwargs):  # (cut before the open, the connect's own 10 s limit would end it)
            state = open_state(*args, **kwargs)
            proxy.partition()
            return state

        monkeypatch.setattr(runner_module, "open_state", cut_once_open)
        runner.stop()  # SIGTERM's handler, before the read
        with pytest.raises(StateError, match="no answer within 0.2 s of the stop"):
            runner.due_now(later)
    finally:
        proxy.stop()


def test_sigterm_while_another_process_holds_the_sqlite_file_stops_the_daemon_at_once(tmp_path, cli, smtp_server):
    """A tick reading the state while another process holds the file
    exclusively (an sqlite3 shell's BEGIN EXCLUSIVE, a backup) waited in
    SQLite's busy handler, where no signal handler runs: SIGTERM waited out
    the 30 s busy timeout, then the next digest's time was read for
    another 30 s.  The daemon stops at once and cleanly."""
    import sqlite3

    setup(tmp_path, smtp(smtp_server.port), subscribers=SCHEDULED)
    assert cli("send", "--now", "2026-11-23T06:00:00+00:00").code == 0  # the state exists (rollback journal at rest)
    holder = sqlite3.connect(tmp_path / "newsletter-state.sqlite3", isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        started = time.monotonic()
        proc = start_run(tmp_path, "2026-11-23 06:59:30")
        _, err = terminated_once_said(proc, "is locked by another process (database is locked); waiting up to 30 s")
        took = time.monotonic() - started  # (the busy timeout alone is 30 s)
    finally:
        holder.close()
    assert proc.returncode == 0 and "Traceback" not in err, err
    assert "stopped while waiting for another process to let go of the state" in err and "run: stopped" in err, err
    assert "next digest" not in err and smtp_server.mailbox.messages == [] and digests(tmp_path) == []
    assert took < 20, took


def test_a_stopped_run_does_not_wait_out_a_held_state_to_say_the_next_digest(tmp_path, caplog):
    """After a send, `run` says when the next digest goes: a read of the
    state without the stop, so a SIGTERM while another process held the
    file waited out SQLite's 30 s there and then logged it as an error."""
    import logging
    import sqlite3
    from datetime import datetime

    from newsletter.runner import Runner
    from newsletter.state import open_state

    daily = "\n  - email: ada@example.org\n    topics: [diffusion]\n    schedule: daily at 08:00\n"
    config = setup(tmp_path, "  transport: outbox", subscribers=daily)
    state = tmp_path / "newsletter-state.sqlite3"
    open_state(state).close()
    runner = Runner(config, clock=lambda: datetime(2026, 11, 23, 6, 10, tzinfo=UTC))
    runner.stop()  # SIGTERM came
    holder = sqlite3.connect(state, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        started = time.monotonic()
        with caplog.at_level(logging.INFO, logger="newsletter"):
            runner._say_next()
        took = time.monotonic() - started
    finally:
        holder.close()
    assert took < 20, took  # not SQLite's 30 s (a bound against that wait, not a loaded machine's speed)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


def test_run_keeps_the_papers_of_the_days_nobody_is_due_for_a_weekly_digest(tmp_path, http_server):
    """`newsletter run` only called send when someone was due: a weekly
    reader's digest on Monday held Monday's announcement alone.  A tick with
    nobody due now lets send read and keep the sources' papers, at most every
    KEEP_READ_EVERY (not at each 15 s tick), and Monday's digest holds the week."""
    from recorded_http import Reply

    from newsletter.config import load_config
    from newsletter.runner import Runner

    days = {"2024-06-04": "Tuesday", "2024-06-05": "Wednesday", "2024-06-10": "Monday"}
    config_path = write_config(tmp_path, feed_config(http_server.url("/rss/cs.LG"), "weekly on monday at 08:00",
                                                      '["flow matching"]', "delivery:\n  transport: outbox\n"))
    now = [datetime(2024, 6, 4, 9, tzinfo=UTC)]
    runner = Runner(config_path, config=load_config(config_path), clock=lambda: now[0])
    for day, name, minutes in (("2024-06-04", "Tuesday", (0, 1, 300)), ("2024-06-05", "Wednesday", (0,)),
                               ("2024-06-10", "Monday", (0,))):
        http_server.route("/rss/cs.LG", Reply(200, arxiv_announcement(day, [
            (f"2406.0{len(name)}01", 1, f"Flow matching on {name}", "Flow matching."),
            (f"2406.0{len(name)}02", 1, f"Sheaves on {name}", "Topology.")])))
        for minute in minutes:
            now[0] = datetime.fromisoformat(f"{day}T{'08' if name == 'Monday' else '09'}:05:00+00:00") + timedelta(
                minutes=minute)
            runner.tick()
    assert len(http_server.requests_to("/rss/cs.LG")) == 3  # once a day: not at 09:06 nor 14:05 on Tuesday
    (eml,) = (tmp_path / "outbox").glob("*.eml")
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    text = message.get_body(("plain",)).get_content()
    assert all(f"Flow matching on {name}" in text for name in days.values()), text
    assert "Sheaves" not in text


def test_run_names_each_failed_source_every_round_and_stops_when_all_fail(tmp_path, cli, smtp_server, http_server):
    """Some sources down: each round that reads the sources logs one line per
    failed source, at its URL and index, and goes on sending from the others;
    every source down: the daemon stops with exit 2 naming each source and
    its URL (PRODUCT "Failures that must be loud")."""
    from recorded_http import Reply, recorded

    write_config(tmp_path, _every_minute(http_server, smtp_server, arxiv=True))
    http_server.route("/api/query", recorded("arxiv-api.xml"))
    http_server.route("/feed.xml", recorded("feed-rss2.xml"))
    assert cli("send", "--now", "2026-11-23T09:00:00+00:00").code == 0  # ada seen; her first slot is a minute later
    http_server.route("/api/query", Reply(500, b"oops"))
    proc = start_run(tmp_path, "2026-11-23 10:00:00")
    try:
        wait_until(lambda: len(http_server.requests_to("/api/query")) >= 3, proc, "three rounds")
        http_server.route("/feed.xml", Reply(502, b"bad gateway"))
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 2, err
    lines = err.strip().splitlines()
    said = [line for line in lines if "'arXiv ML'" in line and "HTTP 500" in line]
    assert len(said) >= 2, err  # the first round's and the second's (plus the last, if it read arXiv again)
    assert all(f"{http_server.url('/api/query')}?" in line and "(sources[0] skipped; the other sources are used)" in line
               for line in said[:2]), err
    assert smtp_server.mailbox.recipients() == ["ada@example.org"]  # sent from the feed
    assert lines[-3].startswith(f"{http_server.url('/api/query')}?") and lines[-3].endswith(
        "source 'arXiv ML': HTTP 500 Internal Server Error"), err
    assert lines[-2] == f"{http_server.url('/feed.xml')}: source 'reading group': HTTP 502 Bad Gateway", err
    assert lines[-1].startswith("every source failed (2 of 2); no papers were read: nothing sent"), err
    assert "Traceback" not in err
