"""End-to-end ``newsletter send``: real CLI runs against a real aiosmtpd server
and a real SQLite state (inspected with sqlite3)."""

from __future__ import annotations

import contextlib
import email
import email.policy
import errno
import json
import logging
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from conftest import (
    DATA,
    ROOT,
    arxiv_announcement,
    clock_off,
    command_env,
    feed_config,
    query,
    run_in_process,
    run_newsletter,
    start_newsletter,
    stderr_until,
    terminated_once_said,
    write_config,
)
from smtp_server import PASSWORD, USER, Server, free_port, smtp_server, ssl_server, starttls_server  # noqa: F401

from newsletter.state import SCHEMA_VERSION, open_state

NOW = "2024-05-06T09:00:00+00:00"

HEADER = "new\n\nGet trending papers in your email inbox!\n\nSubscribe\n\nDaily Papers\n\nbyAK and the research community\n\nSep 4\n\n"


def export(titles: list[str]) -> str:
    body = "".join(f"{t}\n\nWe study {t.lower()} and report results.\n\n" for t in titles)
    return HEADER + body


DIFFUSION = [f"Diffusion Models for Task {n}" for n in range(1, 5)]
OPTIM = ["SGD Under Heavy Tails", "Stochastic Gradient Methods Revisited"]


def setup(folder: Path, delivery: str, subscribers: str | None = None, extra: str = "") -> Path:
    papers = folder / "papers"
    papers.mkdir(exist_ok=True)
    (papers / "day1.txt").write_text(export(DIFFUSION + OPTIM), encoding="utf-8")
    subscribers = subscribers or """
  - email: ada@example.org
    name: Ada Lovelace
    topics: [diffusion]
  - email: bob@example.org
    topics: [optim, diffusion]
    max_papers: 3
"""
    return write_config(
        folder,
        f"""
sources:
  - type: hf-papers-text
    path: papers/
topics:
  diffusion:
    name: Diffusion models
    any: ["diffusion model*"]
  optim:
    name: Optimisation
    any: ["SGD", "stochastic gradient"]
subscribers:{subscribers}
email:
  from: "Paper Digest <digest@example.org>"
delivery:
{delivery}
{extra}
""",
    )


def smtp(port: int, more: str = "") -> str:
    return f"""  transport: smtp
  host: 127.0.0.1
  port: {port}
  security: none
  timeout: 5
  retries: 1
  retry_delay: 0.01
{more}"""


def tls_login(server) -> str:
    """The delivery block for ``server`` (the STARTTLS test server): its own CA, a login."""
    return f"""  transport: smtp
  host: 127.0.0.1
  port: {server.port}
  username: {USER}
  password_env: DIGEST_SMTP_PASSWORD
  ca_file: {server.cert}
"""


def many(n: int) -> str:
    return "".join(f"\n  - email: user{i:02}@example.org\n    topics: [diffusion]" for i in range(n))


def db(folder: Path) -> sqlite3.Connection:
    return sqlite3.connect(folder / "newsletter-state.sqlite3")


def _target(where: Path | str) -> Path | str:
    """A test folder (its default SQLite state) or a PostgreSQL URL."""
    return where if isinstance(where, str) else where / "newsletter-state.sqlite3"


def digests(where: Path | str) -> list[tuple]:
    return query(_target(where), "SELECT subscriber, status, message_id, attempts, last_error FROM digests ORDER BY id")


def digest_papers(where: Path | str, email_: str) -> list[str]:
    return [
        r[0]
        for r in query(
            _target(where),
            "SELECT paper_id FROM digest_papers JOIN digests ON id = digest_id WHERE subscriber = ? ORDER BY id, position",
            (email_,),
        )
    ]


@contextlib.contextmanager
def sending_meanwhile(config, box, **options) -> Iterator[list[BaseException]]:
    """``send`` of ``config`` (at NOW) in a thread, held at the server's
    ``box.block_at``-th message (or its ``pause_at``) while the block runs (a test makes its fault
    there); then the server answers and the send ends.  Yields the list that
    then holds the StateError the send stopped with, if it did."""
    import threading

    from newsletter.errors import StateError
    from newsletter.sending import send

    failed: list[BaseException] = []

    def run() -> None:
        try:
            send(config, now=datetime.fromisoformat(NOW), **options)
        except StateError as exc:
            failed.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        if box.pause_at:  # (held at the pause instead: every session's reply waits)
            box.wait_paused()
        else:
            assert box.blocked.wait(60), f"message {box.block_at} never arrived"
        yield failed
    finally:
        box.release.set()
        thread.join(60)
    assert not thread.is_alive(), "the send hung"


class Store:
    """Where a parametrized test keeps its state: the config line and what to inspect."""

    def __init__(self, line: str, where: Path | str) -> None:
        self.line, self.where = line, where


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, tmp_path) -> Store:
    """The same end-to-end test on the SQLite default and on a real PostgreSQL."""
    if request.param == "sqlite":
        return Store("", tmp_path)
    url = request.getfixturevalue("pg_url")
    return Store(f"state: {url}", url)


# --------------------------------------------------------------------------- smtp


def test_send_delivers_multipart_with_headers_then_nothing_new(tmp_path, cli, smtp_server, store):
    setup(tmp_path, smtp(smtp_server.port), extra=store.line)
    r = cli("send", "--now", NOW)
    assert r.code == 0, r.err
    assert r.out.strip().splitlines()[-1] == "sent 2, empty 0, failed 0, not due 0"
    box = smtp_server.mailbox
    assert box.recipients() == ["ada@example.org", "bob@example.org"]
    ada = next(m for m in box.messages if m.rcpt_tos == ["ada@example.org"])
    msg = ada.message
    assert ada.mail_from == "digest@example.org"
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert msg["To"] == "Ada Lovelace <ada@example.org>"
    assert msg["From"] == "Paper Digest <digest@example.org>"
    assert msg["Subject"] and msg["Date"] and msg["Message-ID"]
    assert "Diffusion Models for Task 1" in msg.get_body(("plain",)).get_content()
    assert f"sent        ada@example.org: 4 papers {msg['Message-ID']}" in r.out

    # The state (a real SQLite file, or a real PostgreSQL database) holds what was sent.
    if not store.line:
        with db(tmp_path) as con:
            assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
            assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            tables = {t for (t,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            assert {"papers", "subscribers", "digests", "digest_papers"} <= tables
    else:
        assert not (tmp_path / "newsletter-state.sqlite3").exists()
    # only the papers the digests hold are kept whole (not every paper read: issue 17)
    owed = query(_target(store.where), "SELECT count(DISTINCT paper_id) FROM digest_papers")
    assert query(_target(store.where), "SELECT count(*) FROM papers") == owed != [(0,)]
    rows = digests(store.where)
    assert [(s, st) for s, st, *_ in rows] == [("ada@example.org", "sent"), ("bob@example.org", "sent")]
    assert rows[0][2] == msg["Message-ID"]
    assert len(digest_papers(store.where, "bob@example.org")) == 3  # max_papers

    r = cli("send", "--now", NOW)
    assert r.code == 0, r.err
    assert len(box.messages) == 3  # only bob's remaining papers
    assert "sent 1, empty 1, failed 0" in r.out
    bob = set(digest_papers(store.where, "bob@example.org"))
    assert len(bob) == 6  # no paper twice
    r = cli("send", "--now", NOW)
    assert len(box.messages) == 3 and "sent 0, empty 2, failed 0" in r.out
    assert "no new papers" in r.err


def test_a_cache_folder_that_cannot_be_written_does_not_fail_a_send(tmp_path, cli, smtp_server):
    """The templates' compiled code is kept in the ``cache:`` folder; one that
    cannot be made (a file in its place) means compiling, as before."""
    (tmp_path / "cache-file").write_text("not a folder\n")
    setup(tmp_path, smtp(smtp_server.port), extra="cache: cache-file")
    r = cli("send", "--now", NOW)
    assert r.code == 0, r.err
    assert "sent 2, empty 0, failed 0" in r.out and "Traceback" not in r.err
    assert smtp_server.mailbox.recipients() == ["ada@example.org", "bob@example.org"]
    assert (tmp_path / "cache-file").read_text() == "not a folder\n"


def test_history_shows_what_went_to_whom_on_either_backend(tmp_path, cli, smtp_server, store):
    """A subscriber says Monday's digest never came: `history` gives the
    time, the papers and the Message-ID to look for in the relay's log, also
    for an address since edited out of the config, and on PostgreSQL, where
    "inspect it with sqlite3" did not apply."""
    setup(tmp_path, smtp(smtp_server.port), extra=store.line)
    assert cli("send", "--now", NOW).code == 0
    ada_mid = next(m.message_id for m in smtp_server.mailbox.messages if m.rcpt_tos == ["ada@example.org"])
    r = cli("history", "--subscriber", "ada@example.org")
    assert r.code == 0, r.err
    assert r.out.splitlines() == [
        f"2024-05-06 09:00 UTC  sent  4 papers  {ada_mid}",
        *(f"    Diffusion Models for Task {n}" for n in range(1, 5)),
    ]
    # Ada edited out of the config: her digests stay in the state, and are shown.
    setup(tmp_path, smtp(smtp_server.port), subscribers="\n  - email: bob@example.org\n    topics: [optim]",
          extra=store.line)
    out = json.loads(cli("history", "--subscriber", "ada@example.org", "--json").out)
    [digest] = out["digests"]
    assert (digest["email"], digest["status"], digest["message_id"]) == ("ada@example.org", "sent", ada_mid)
    assert digest["sent"] == "2024-05-06T09:00:00+00:00" and len(digest["papers"]) == 4
    assert set(digest["papers"][0]) == {"id", "title"} and out["counts"] == {"sent": 2}
    r = cli("history", "--limit", "1")
    assert r.code == 0 and len(r.out.splitlines()) == 2
    assert r.out.splitlines()[-1] == "digests: 2 sent, 0 pending, 0 failed, 0 sending (the newest 1 above; --limit N for more)"
    r = cli("history", "--subscriber", "zed@example.org")
    assert r.out.strip() == "zed@example.org: no digest recorded (and not a subscriber in the config)"
    assert cli("history", "--subscriber", "not-an-address").code == 2


def test_an_internationalised_domain_goes_out_in_its_ascii_form(tmp_path, cli, smtp_server):
    """ada@münchen.de (and a From at bücher.example): the envelope and the
    headers carry the domains' ASCII (IDNA) form, which a server without
    SMTPUTF8 takes; the message stays 7-bit; the commands that name a
    subscriber take either spelling."""
    subscribers = "\n  - email: ada@münchen.de\n    name: Zoë Ünal\n    topics: [diffusion]"
    path = setup(tmp_path, smtp(smtp_server.port), subscribers=subscribers)
    path.write_text(path.read_text().replace("<digest@example.org>", "<digest@bücher.example>"))
    r = cli("match", "--subscriber", "ada@münchen.de", "--json")
    assert r.code == 0, r.err
    assert [s["email"] for s in json.loads(r.out)["subscribers"]] == ["ada@xn--mnchen-3ya.de"]
    r = cli("send", "--now", NOW)
    assert r.code == 0, r.out + r.err
    [got] = smtp_server.mailbox.messages
    assert (got.mail_from, got.rcpt_tos) == ("digest@xn--bcher-kva.example", ["ada@xn--mnchen-3ya.de"])
    assert got.message["To"].addresses[0].addr_spec == "ada@xn--mnchen-3ya.de"
    assert got.message["To"].addresses[0].display_name == "Zoë Ünal"
    assert got.message["From"].addresses[0].addr_spec == "digest@xn--bcher-kva.example"
    assert got.content.isascii()
    r = cli("unsubscribe", "ada@MÜNCHEN.de")
    assert r.code == 0 and r.out.startswith("ada@xn--mnchen-3ya.de: unsubscribed") and not r.err, r.out + r.err


def test_an_address_copied_with_invisible_characters_or_spaces_is_the_plain_address(tmp_path, cli, smtp_server):
    """A zero-width space or a bidi mark copied with an address from a web page
    or a chat made it "not ASCII, needs SMTPUTF8", of an address that shows
    plain ASCII; spaces around a quoted one made it invalid.  A space inside
    is named as such."""
    subscribers = ('\n  - email: "ada\\u200b@example.org\\u200e"\n    topics: [diffusion]'
                   '\n  - email: " \\u202abob@example.org\\u202c\\u00a0"\n    topics: [diffusion]')
    setup(tmp_path, smtp(smtp_server.port), subscribers=subscribers)
    r = cli("send", "--now", NOW)
    assert r.code == 0, r.out + r.err
    assert smtp_server.mailbox.recipients() == ["ada@example.org", "bob@example.org"]
    assert cli("unsubscribe", "\u200bada@example.org ").out.startswith("ada@example.org: unsubscribed")
    setup(tmp_path, smtp(smtp_server.port), subscribers='\n  - email: "ada\\u00a0@example.org"\n    topics: [diffusion]')
    r = cli("validate")
    assert r.code == 2 and r.err.strip().endswith(
        "subscribers[0].email: 'ada\\xa0@example.org' is not a valid address: it holds a space (no-break space)"), r.err


def test_an_ipv6_host_in_brackets_is_its_address(tmp_path, cli):
    """``host: '[::1]'``, as URLs write an IPv6 address, passed validate and
    failed every send: "cannot connect to SMTP server [::1]:N: Name or service
    not known"."""

    from aiosmtpd.controller import Controller
    from smtp_server import Mailbox, free_port

    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback")
    mailbox, port = Mailbox(), free_port()
    controller = Controller(mailbox, hostname="::1", port=port)
    controller.start()
    try:
        path = setup(tmp_path, smtp(port).replace("host: 127.0.0.1", "host: '[::1]'"))
        r = cli("send", "--now", NOW)
        assert r.code == 0, r.out + r.err
        assert mailbox.recipients() == ["ada@example.org", "bob@example.org"]
        path.write_text(path.read_text().replace("host: '[::1]'", f"host: '[::1]:{port}'"))
        r = cli("validate")
        assert r.code == 2 and f"delivery.host: '[::1]:{port}' includes a port: write host: '::1' and port: {port}" in r.err
    finally:
        controller.stop()


def test_a_delivery_setting_the_server_shows_wrong_is_named_at_its_line(tmp_path, cli, smtp_server):
    """A port nothing listens on, or security: starttls for a plain server,
    said 'check delivery.port' or 'set security: none' with no line of the
    config, where every other config error names its FILE:LINE."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # nothing listens there
    for delivery, key, said in (
        (smtp(port), f"  port: {port}", f"cannot connect to SMTP server 127.0.0.1:{port}: Connection refused"),
        (smtp(smtp_server.port).replace("security: none", "security: starttls"), "  security: starttls",
         f"SMTP server 127.0.0.1:{smtp_server.port} does not offer STARTTLS"),
    ):
        path = setup(tmp_path, delivery)
        line = path.read_text().splitlines().index(key) + 1
        r = cli("send", "--now", NOW)
        assert r.code == 1 and "Traceback" not in r.err, r.out + r.err
        assert f"failed      ada@example.org: config.yaml:{line}: {said}" in r.out, r.out
        assert f"delivery stopped: config.yaml:{line}: {said}" in r.err, r.err
        assert smtp_server.mailbox.messages == [] and {row[1] for row in digests(tmp_path)} == {"pending"}


def test_new_papers_go_out_in_the_next_run_only(tmp_path, cli, smtp_server):
    setup(tmp_path, smtp(smtp_server.port), subscribers="\n  - email: ada@example.org\n    topics: [diffusion]")
    assert cli("send", "--now", NOW).code == 0
    (tmp_path / "papers" / "day2.txt").write_text(export(["Latent Diffusion Models at Scale"]), encoding="utf-8")
    r = cli("send", "--now", NOW)
    assert r.code == 0, r.err
    box = smtp_server.mailbox
    assert len(box.messages) == 2
    text = box.messages[1].message.get_body(("plain",)).get_content()
    assert "Latent Diffusion Models at Scale" in text and "Task 1" not in text
    assert box.messages[0].message_id != box.messages[1].message_id


def test_server_down_keeps_digest_pending_then_delivers_once_with_same_message_id(tmp_path, cli, store):
    port = free_port()
    setup(tmp_path, smtp(port), subscribers="\n  - email: ada@example.org\n    topics: [diffusion]", extra=store.line)
    r = cli("send", "--now", NOW)
    assert r.code == 1
    assert "failed 1" in r.out and "cannot connect to SMTP server 127.0.0.1" in r.out
    assert "Traceback" not in r.err
    [(sub, status, message_id, attempts, error)] = digests(store.where)
    assert status == "pending" and attempts == 2 and "cannot connect" in error
    before = digest_papers(store.where, "ada@example.org")

    # A new paper arrives meanwhile: the owed digest keeps its papers first, plus the new one.
    (tmp_path / "papers" / "day2.txt").write_text(export(["Latent Diffusion Models at Scale"]), encoding="utf-8")
    server = Server(port)
    later = (datetime.fromisoformat(NOW) + timedelta(minutes=5)).isoformat()  # the back-off after a failed run
    try:
        r = cli("send", "--now", NOW)
        assert r.code == 0 and "waiting 1" in r.out and not server.mailbox.messages, r.out  # not before next_attempt
        r = cli("send", "--now", later)
        assert r.code == 0, r.err
        assert "sent 1, empty 0, failed 0" in r.out
        assert cli("send", "--now", later).code == 0
        [got] = server.mailbox.messages
    finally:
        server.stop()
    assert got.message_id == message_id
    [(_, status, same_id, attempts, error)] = digests(store.where)
    assert (status, same_id, attempts, error) == ("sent", message_id, 3, None)
    after = digest_papers(store.where, "ada@example.org")
    assert after[: len(before)] == before and after[-1] == "latent diffusion models at scale"



def test_a_digest_that_failed_on_delivery_settings_since_changed_is_retried_at_once(tmp_path, cli, store):
    """The back-off waits for a server to recover, not for the user's fix: a
    digest that failed with the SMTP settings of the config (here a wrong
    port) is retried by the next send once those settings changed, while an
    unchanged config still waits.  What the state keeps of the settings names
    no secret."""
    server = Server(auth=True)
    login = f"  username: {USER}\n  password_env: DIGEST_SMTP_PASSWORD\n"
    env = {"DIGEST_SMTP_PASSWORD": PASSWORD}
    subscribers = "\n  - email: ada@example.org\n    topics: [diffusion]"
    t0 = datetime.fromisoformat(NOW)
    at = lambda minutes: (t0 + timedelta(minutes=minutes)).isoformat()  # noqa: E731
    try:
        setup(tmp_path, smtp(free_port(), login), subscribers=subscribers, extra=store.line)
        r = cli("send", "--now", at(0), env=env)
        assert r.code == 1 and "stays pending, retried from 2024-05-06 09:05 UTC" in r.out, r.out
        r = cli("send", "--now", at(1), env=env)  # nothing changed: the back-off holds
        assert r.code == 0 and r.out.strip().endswith("waiting 1") and not server.mailbox.messages, r.out

        setup(tmp_path, smtp(server.port, login), subscribers=subscribers, extra=store.line)  # the port fixed
        [row] = json.loads(cli("schedule", "--json", "--now", at(2)).out)["subscribers"]
        assert (row["due"], row["retry_at"]) == (True, None)
        r = cli("send", "--now", at(2), env=env)
        assert r.code == 0 and r.out.strip().endswith("sent 1, empty 0, failed 0, not due 0"), r.out + r.err
        assert server.mailbox.recipients() == ["ada@example.org"]
    finally:
        server.stop()
    [(_, status, _, attempts, _)] = digests(store.where)
    assert (status, attempts) == ("sent", 3)
    dump = repr(query(_target(store.where), "SELECT * FROM digests"))
    assert PASSWORD not in dump and "DIGEST_SMTP_PASSWORD" not in dump


def test_digests_never_attempted_wait_for_no_back_off(tmp_path, cli, store):
    """Server down: the digest that was tried backs off; those never attempted
    stay pending with no failure counted and go out with the next run."""
    port = free_port()
    setup(tmp_path, smtp(port), subscribers=many(3), extra=store.line)
    r = cli("send", "--now", NOW)
    assert r.code == 1 and "failed 3" in r.out
    assert r.out.count("not attempted") == 2 and r.out.count("tried again by the next run") == 2
    rows = {e: (status, attempts) for e, status, _, attempts, _ in digests(store.where)}
    assert sorted(rows.values()) == [("pending", 0), ("pending", 0), ("pending", 2)]
    failures = dict(query(_target(store.where), "SELECT subscriber, failures FROM digests"))
    assert sorted(failures.values()) == [0, 0, 1]
    server = Server(port)
    try:
        r = cli("send", "--now", NOW)  # a minute later, as it were: the server is back
        assert r.code == 0, r.err
        assert "sent 2," in r.out and "waiting 1" in r.out
        assert sorted(server.mailbox.recipients()) == sorted(e for e, (_, tries) in rows.items() if tries == 0)
    finally:
        server.stop()


SCHRODINGER = "Score-Based Diffusion Models for Schrödinger Bridge Problems"  # in arxiv-api.xml, with its id


@pytest.mark.parametrize("first", ["listing", "arxiv"])
def test_a_paper_sent_under_its_title_is_not_sent_again_under_its_arxiv_id(tmp_path, cli, store, first):
    """A listing without arXiv ids knows a paper by its title; arXiv by its id.
    Sent one day from one and read the next from the other, it is the same
    paper: it does not go out again (either order, either backend)."""
    from conftest import DATA

    (tmp_path / "listing.txt").write_text(export([SCHRODINGER]), encoding="utf-8")
    (tmp_path / "arxiv.xml").write_bytes((DATA / "arxiv-api.xml").read_bytes())
    sources = {"listing": "  - type: hf-papers-text\n    path: listing.txt", "arxiv": "  - type: arxiv\n    path: arxiv.xml"}

    def send_from(kind: str) -> str:
        write_config(tmp_path, f"""
sources:
{sources[kind]}
topics:
  diffusion:
    name: Diffusion models
    any: ["diffusion model*"]
subscribers:
  - email: ada@example.org
    topics: [diffusion]
delivery:
  transport: outbox
{store.line}
""")
        r = cli("send", "--now", NOW)
        assert r.code == 0, r.err
        return r.out

    assert "sent 1," in send_from(first)
    second = "arxiv" if first == "listing" else "listing"
    send_from(second)
    bodies = [p.read_text(encoding="utf-8") for p in sorted((tmp_path / "outbox").rglob("*.eml"))]
    assert sum("Schr=C3=B6dinger Bridge Problems" in b for b in bodies) == 1


def test_transient_451_is_retried_and_delivered(tmp_path, cli, smtp_server):
    smtp_server.mailbox.data_replies = ["451 4.3.0 Try again later"]
    setup(tmp_path, smtp(smtp_server.port), subscribers="\n  - email: ada@example.org\n    topics: [diffusion]")
    r = cli("send", "--now", NOW)
    assert r.code == 0, r.err
    assert len(smtp_server.mailbox.messages) == 1 and smtp_server.mailbox.data_count == 2
    [(_, status, _, attempts, _)] = digests(tmp_path)
    assert (status, attempts) == ("sent", 2)


def test_permanent_550_for_one_recipient_does_not_stop_the_others(tmp_path, cli, smtp_server, store):
    smtp_server.mailbox.reject["ada@example.org"] = "550 5.1.1 <ada@example.org>: no such user"
    setup(tmp_path, smtp(smtp_server.port), extra=store.line)
    r = cli("send", "--now", NOW)
    assert r.code == 1
    assert smtp_server.mailbox.recipients() == ["bob@example.org"]
    assert "sent 1, empty 0, failed 1" in r.out
    assert "failed      ada@example.org: recipient ada@example.org refused: 550 5.1.1" in r.out
    rows = {s: (st, att, err) for s, st, _, att, err in digests(store.where)}
    assert rows["ada@example.org"][:2] == ("failed", 1)  # not retried within the run
    assert "550" in rows["ada@example.org"][2]
    assert rows["bob@example.org"][0] == "sent"


def test_refused_digest_backs_off_then_is_held_after_three_refusals(tmp_path, cli, smtp_server, store):
    """next_attempt is honoured (5 min, then 10: the back-off doubles), and a
    digest refused three runs running is held: said in send's summary and in
    schedule, never tried again on its own.  Each refusal says how many more
    hold it (it read 'failed permanently; retried from', both at once)."""
    smtp_server.mailbox.reject["ada@example.org"] = "550 5.1.1 <ada@example.org>: no such user"
    setup(tmp_path, smtp(smtp_server.port), extra=store.line)
    t0 = datetime.fromisoformat(NOW)
    at = lambda minutes: (t0 + timedelta(minutes=minutes)).isoformat()  # noqa: E731

    r = cli("send", "--now", at(0))
    assert r.code == 1 and "(refused: retried from 2024-05-06 09:05 UTC; held if refused 2 more times)" in r.out, r.out
    r = cli("send", "--now", at(1))  # within the back-off: not tried
    assert r.code == 0 and r.out.strip().endswith("failed 0, not due 0, waiting 1"), r.out
    assert "waiting     ada@example.org: last run failed (recipient ada@example.org refused: 550" in r.out
    assert "retried from 2024-05-06 09:05 UTC" in r.out
    r = cli("send", "--now", at(6))  # second refusal: twice the wait
    assert r.code == 1 and "(refused: retried from 2024-05-06 09:16 UTC; held if refused 1 more time)" in r.out, r.out
    r = cli("send", "--now", at(17))  # third refusal: held
    assert r.code == 1 and "refused 3 times: held, not retried" in r.out, r.out
    r = cli("send", "--now", at(24 * 60))  # a day later: still held, and said so
    assert r.code == 0 and r.out.strip().endswith("failed 0, not due 0, held 1"), r.out
    assert "held        ada@example.org: refused 3 times (recipient ada@example.org refused: 550" in r.out
    assert "ada@example.org" not in smtp_server.mailbox.recipients()
    [(status, failures)] = query(_target(store.where), "SELECT status, failures FROM digests WHERE subscriber = ?",
                                 ("ada@example.org",))
    assert (status, failures) == ("failed", 3)

    rows = {row["email"]: row for row in json.loads(cli("schedule", "--json", "--now", at(24 * 60)).out)["subscribers"]}
    assert rows["ada@example.org"]["held"] is True and rows["ada@example.org"]["due"] is False
    assert "550" in rows["ada@example.org"]["last_error"] and rows["bob@example.org"]["held"] is False
    text = cli("schedule", "--now", at(24 * 60)).out
    assert "ada@example.org: every send (no schedule); last sent never; held: refused 3 times (recipient" in text
    assert "or `newsletter send --subscriber ada@example.org` tries it" in text

    # The refusal was the receiving server's passing fault: a send naming ada
    # tries the held digest (it had no way out but a new address).
    del smtp_server.mailbox.reject["ada@example.org"]
    r = cli("send", "--now", at(24 * 60 + 1))
    assert r.code == 0 and "held 1" in r.out and "or `newsletter send --subscriber ada@example.org` tries it" in r.out
    r = cli("send", "--subscriber", "ada@example.org", "--dry-run", "--now", at(24 * 60 + 1))
    assert r.code == 0 and "would send  ada@example.org: 4 papers" in r.out, r.out
    r = cli("send", "--subscriber", "ada@example.org", "--now", at(24 * 60 + 1))
    assert r.code == 0 and "sent        ada@example.org: 4 papers" in r.out, r.out + r.err
    assert smtp_server.mailbox.recipients().count("ada@example.org") == 1


def test_a_hold_counts_refusals_in_a_row_not_runs_the_server_was_down(tmp_path, cli, store):
    """The first subscriber's digest takes each run's failure when the relay
    is down; two such runs and then one passing '550' held it for good, as
    'refused 3 times'.  Three refusals in a row hold it, and a run that
    fails otherwise between them starts the count again."""
    port = free_port()
    setup(tmp_path, smtp(port), subscribers="\n  - email: ada@example.org\n    topics: [diffusion]", extra=store.line)
    t0 = datetime.fromisoformat(NOW)
    at = lambda minutes: (t0 + timedelta(minutes=minutes)).isoformat()  # noqa: E731
    for minutes in (0, 6):  # nothing listens: two failed runs
        r = cli("send", "--now", at(minutes))
        assert r.code == 1 and "cannot connect" in r.out, r.out
    server = Server(port)
    try:
        server.mailbox.reject["ada@example.org"] = "550 5.1.1 <ada@example.org>: no such user"
        r = cli("send", "--now", at(17))
        assert r.code == 1 and "(refused: retried from 2024-05-06 09:22 UTC; held if refused 2 more times)" in r.out, r.out
        server.mailbox.reject["ada@example.org"] = "451 4.3.0 Try again later"
        r = cli("send", "--now", at(23))  # a failure of another kind: the count starts again
        assert r.code == 1 and "stays pending, retried from" in r.out, r.out
        server.mailbox.reject["ada@example.org"] = "550 5.1.1 <ada@example.org>: no such user"
        for minutes, then in ((29, "held if refused 2 more times"), (35, "held if refused 1 more time"),
                              (46, "refused 3 times: held, not retried")):
            r = cli("send", "--now", at(minutes))
            assert r.code == 1 and then in r.out, (minutes, r.out)
        r = cli("send", "--now", at(24 * 60))
        assert r.code == 0 and r.out.strip().endswith("held 1"), r.out
        assert server.mailbox.messages == []
    finally:
        server.stop()


def test_a_send_naming_a_waiting_subscriber_tries_its_digest_now(tmp_path, cli, smtp_server):
    """The server's fault mended (a server started, as the error said to): the next
    `send` said 'waiting ... retried from 09:05' and nothing tried it before then.
    A send naming the subscriber tries it now, as it does a held digest, and the
    waiting line says so; a send of everyone still waits out the back-off."""
    smtp_server.mailbox.reject["ada@example.org"] = "550 5.1.1 <ada@example.org>: no such user"
    setup(tmp_path, smtp(smtp_server.port))
    t0 = datetime.fromisoformat(NOW)
    at = lambda minutes: (t0 + timedelta(minutes=minutes)).isoformat()  # noqa: E731
    assert cli("send", "--now", at(0)).code == 1
    del smtp_server.mailbox.reject["ada@example.org"]
    r = cli("send", "--now", at(1))
    assert r.code == 0 and r.out.strip().endswith("waiting 1"), r.out
    assert ("; retried from 2024-05-06 09:05 UTC, or now by `newsletter send --subscriber ada@example.org`"
            in r.out), r.out
    assert "ada@example.org" not in smtp_server.mailbox.recipients()
    assert ("a failed digest is retried from 2024-05-06 09:05 UTC, or now by `newsletter send --subscriber "
            "ada@example.org`") in cli("schedule", "--now", at(1)).out
    r = cli("send", "--subscriber", "ada@example.org", "--now", at(1))
    assert r.code == 0 and "sent        ada@example.org: " in r.out, r.out + r.err
    assert smtp_server.mailbox.recipients().count("ada@example.org") == 1


def test_a_sender_refused_as_unauthenticated_holds_nobody_and_names_email_from(tmp_path, cli, smtp_server):
    """Gmail's '550 5.7.26 ... DMARC policy' (RFC 7372's sender
    authentication codes) refuses every message for the sender's domain, not
    for the address: each digest was 'refused', and three runs held every
    subscriber's, never tried again once SPF and DKIM were fixed."""
    box = smtp_server.mailbox
    path = setup(tmp_path, smtp(smtp_server.port))
    line = path.read_text().splitlines().index('  from: "Paper Digest <digest@example.org>"') + 1
    t0 = datetime.fromisoformat(NOW)
    for minutes in (0, 6, 17, 38):  # four runs, each after the last one's back-off
        box.data_replies = ["550 5.7.26 Unauthenticated email from example.org is not accepted due to domain's "
                            "DMARC policy"] * 2
        r = cli("send", "--now", (t0 + timedelta(minutes=minutes)).isoformat())
        assert r.code == 1 and "failed 2" in r.out and "held if" not in r.out and "held, not" not in r.out, r.out
    assert (f"failed      ada@example.org: config.yaml:{line}: message to ada@example.org refused: 550 5.7.26 "
            "Unauthenticated email from example.org is not accepted due to domain's DMARC policy (the receiving "
            "server found the sender digest@example.org unauthenticated: publish SPF for the server you send "
            "through and sign with email.dkim") in r.out, r.out
    assert {row[1] for row in digests(tmp_path)} == {"pending"}
    r = cli("send", "--now", (t0 + timedelta(minutes=79)).isoformat())  # fixed: out they go
    assert r.code == 0 and "sent 2" in r.out, r.out + r.err
    assert box.recipients() == ["ada@example.org", "bob@example.org"]


def test_the_accounts_sending_limit_or_a_full_mailbox_holds_nobody(tmp_path, cli, smtp_server):
    """Gmail's '550 5.4.5 Daily user sending limit exceeded' (every message
    after the limit) and '552 5.2.2 ... over quota' (a subscriber away,
    mailbox full) each counted as a refusal of the address: three runs held
    every subscriber past the limit, and the one whose mailbox was full, for
    good.  The limit stops each run at its first refusal (the rest pending,
    not asked for); once it lifts and room is made, every digest goes out."""
    box = smtp_server.mailbox
    setup(tmp_path, smtp(smtp_server.port), subscribers=many(4))
    t0 = datetime.fromisoformat(NOW)
    for minutes in (0, 6, 17):  # three runs, each after the last one's back-off: three refusals held a digest
        box.reject = {"user00@example.org": "552 5.2.2 The email account that you tried to reach is over quota.",
                      **{f"user{n:02}@example.org": "550 5.4.5 Daily user sending limit exceeded." for n in (2, 3)}}
        r = cli("send", "--now", (t0 + timedelta(minutes=minutes)).isoformat())
        assert r.code == 1 and "held if" not in r.out and "held, not" not in r.out, r.out
    assert ("failed      user00@example.org: recipient user00@example.org refused: 552 5.2.2 The email account that "
            "you tried to reach is over quota. (the recipient's mailbox is full: tried again by later sends, never held "
            "for it) (stays pending, retried from") in r.out, r.out
    assert (f"failed      user02@example.org: SMTP server 127.0.0.1:{smtp_server.port}: recipient user02@example.org "
            "refused: 550 5.4.5 Daily user sending limit exceeded. (the account has reached its sending limit, no fault "
            "of the address: no digest is held for it;") in r.out, r.out
    assert "failed      user03@example.org: not attempted: " in r.out and "delivery stopped: " in r.err, r.out
    assert box.recipients() == ["user01@example.org"]
    assert {row[0]: row[1] for row in digests(tmp_path)} == {
        "user00@example.org": "pending", "user01@example.org": "sent", "user02@example.org": "pending",
        "user03@example.org": "pending"}
    box.reject = {}
    r = cli("send", "--now", (t0 + timedelta(hours=2)).isoformat())  # the limit lifted, room made
    assert r.code == 0 and "sent 3, empty 1," in r.out, r.out + r.err
    assert box.recipients() == ["user00@example.org", "user01@example.org", "user02@example.org", "user03@example.org"]


def test_three_refusals_hold_a_dead_address_and_never_the_receiving_servers_trouble(tmp_path, cli, smtp_server):
    """What holds a digest is read from the refusal's enhanced status code
    (RFC 3463): Postfix's '550 5.1.1 ... User unknown in relay recipient
    table' (a dead address) was taken for a refusal to relay, never held,
    and tried every run for ever; '550 5.3.2 System not accepting network
    messages' (the receiving server's trouble) was taken for a refusal of
    the address, and three runs held it for good."""
    box = smtp_server.mailbox
    setup(tmp_path, smtp(smtp_server.port), subscribers=many(3))
    t0 = datetime.fromisoformat(NOW)
    box.reject = {"user00@example.org": "550 5.1.1 <user00@example.org>: Recipient address rejected: User unknown in "
                                        "relay recipient table",
                  "user01@example.org": "550 5.3.2 System not accepting network messages"}
    for minutes in (0, 6, 17):  # three runs, each after the last one's back-off
        r = cli("send", "--now", (t0 + timedelta(minutes=minutes)).isoformat())
        assert r.code == 1, r.out + r.err
    assert "failed      user00@example.org: recipient user00@example.org refused: 550 5.1.1 " in r.out, r.out
    assert "(refused 3 times: held, not retried)" in r.out, r.out
    assert ("failed      user01@example.org: recipient user01@example.org refused: 550 5.3.2 System not accepting "
            "network messages (RFC 3463's X.3.2: the receiving server's own trouble, no fault of the address: tried "
            "again by later sends, never held for it) (stays pending, retried from") in r.out, r.out
    assert {row[0]: row[1] for row in digests(tmp_path)} == {
        "user00@example.org": "failed", "user01@example.org": "pending", "user02@example.org": "sent"}
    box.reject = {}
    r = cli("send", "--now", (t0 + timedelta(hours=2)).isoformat())  # the server mended; the dead address stays held
    assert r.code == 0 and "sent 1, empty 1, failed 0, not due 0, held 1" in r.out, r.out + r.err
    assert box.recipients() == ["user01@example.org", "user02@example.org"]


def test_a_content_filter_refusing_every_digest_stops_the_send_loudly_and_holds_nobody(tmp_path, cli, smtp_server):
    """A server whose content filter refuses every digest as spam was asked
    for each subscriber's in turn (2,000 refusals for a big list, each one
    a mark against the sender's standing).  The fifth refusal alike stops
    the send: one 'delivery stopped' line, exit 1, the rest pending and not
    attempted, nobody held; once mended, every digest goes out once."""
    box = smtp_server.mailbox
    setup(tmp_path, smtp(smtp_server.port), subscribers=many(8))
    box.data_replies = ["550 5.7.1 [192.0.2.7] Our system has detected that this message is likely unsolicited "
                        "mail."] * 8
    r = cli("send", "--now", NOW)
    assert r.code == 1 and "sent 0, empty 0, failed 8" in r.out, r.out + r.err
    stops = [line for line in r.err.splitlines() if "delivery stopped: " in line]
    assert len(stops) == 1 and "5 messages in a row were refused alike, the last: message to user04@example.org " \
        "refused: 550 5.7.1 [192.0.2.7] Our system has detected" in stops[0], r.err
    assert "Traceback" not in r.err and box.data_count == 5 and box.messages == []
    assert r.out.count("not attempted: 5 messages in a row were refused alike") == 3, r.out
    assert {row[1] for row in digests(tmp_path)} == {"pending"}
    box.data_replies = []
    r = cli("send", "--now", (datetime.fromisoformat(NOW) + timedelta(hours=1)).isoformat())
    assert r.code == 0 and "sent 8, " in r.out, r.out + r.err
    assert sorted(box.recipients()) == [f"user{n:02}@example.org" for n in range(8)]


def test_a_digest_whose_data_is_refused_after_its_recipient_was_accepted_is_never_held(tmp_path, cli, smtp_server):
    """'250' to RCPT TO, then '554 Transaction failed' to one subscriber's
    digest (a content filter refusing it for something in it): filed under
    the address, three runs held that subscriber's mail for good.  It is the
    message's refusal: the other digest goes out, this one stays pending
    run after run (exit 1 each time), and goes out once the server takes it."""
    box = smtp_server.mailbox
    setup(tmp_path, smtp(smtp_server.port))
    t0 = datetime.fromisoformat(NOW)
    box.data_replies = ["554 Transaction failed"]  # (the first message of the run: ada's)
    r = cli("send", "--now", NOW)
    assert r.code == 1 and "sent 1, empty 0, failed 1" in r.out, r.out + r.err
    assert ("failed      ada@example.org: message to ada@example.org refused: 554 Transaction failed (refused after "
            "ada@example.org was accepted at RCPT TO: the message's refusal (its content, or the server's policy), no "
            "fault of the address: tried again by later sends, never held for it)") in r.out, r.out
    assert box.recipients() == ["bob@example.org"] and "Traceback" not in r.err
    for minutes in (6, 17, 40):  # each after the last one's back-off: three refusals of the address held a digest
        box.data_replies = ["554 Transaction failed"]
        r = cli("send", "--subscriber", "ada@example.org", "--now", (t0 + timedelta(minutes=minutes)).isoformat())
        assert r.code == 1 and "554 Transaction failed" in r.out and "(stays pending, retried from" in r.out, r.out + r.err
        assert "held if" not in r.out and "held, not" not in r.out and "held" not in r.out.splitlines()[-1], r.out
    assert {row[0]: row[1] for row in digests(tmp_path)} == {"ada@example.org": "pending", "bob@example.org": "sent"}
    r = cli("send", "--now", (t0 + timedelta(hours=2)).isoformat())
    assert r.code == 0 and "sent        ada@example.org: " in r.out, r.out + r.err
    assert box.recipients().count("ada@example.org") == 1


def test_a_sender_postfix_refuses_at_rcpt_holds_nobody_and_names_email_from(tmp_path, cli, smtp_server):
    """Postfix's submission port refuses a From the login may not use at RCPT
    TO ('553 5.7.1 <digest@example.org>: Sender address rejected: not owned by
    user ...'): every recipient was refused in turn, and three runs held every
    digest, still held once email.from was fixed.  Now the batch stops at
    email.from's line and nobody is held."""
    box = smtp_server.mailbox
    path = setup(tmp_path, smtp(smtp_server.port))
    line = path.read_text().splitlines().index('  from: "Paper Digest <digest@example.org>"') + 1
    t0 = datetime.fromisoformat(NOW)
    refusal = "553 5.7.1 <digest@example.org>: Sender address rejected: not owned by user digest-user"
    for minutes in (0, 6, 17):  # three runs, each after the last one's back-off: three refusals held a digest
        box.reject = {"ada@example.org": refusal, "bob@example.org": refusal}
        r = cli("send", "--now", (t0 + timedelta(minutes=minutes)).isoformat())
        assert r.code == 1 and "held if" not in r.out and "held, not" not in r.out, r.out
    assert (f"failed      ada@example.org: config.yaml:{line}: SMTP server 127.0.0.1:{smtp_server.port}: recipient "
            f"ada@example.org refused: {refusal} (the sender's fault, not the address's") in r.out, r.out
    assert "failed      bob@example.org: not attempted: " in r.out, r.out
    box.reject = {}
    r = cli("send", "--now", (t0 + timedelta(minutes=38)).isoformat())  # email.from fixed: out they go
    assert r.code == 0 and "sent 2" in r.out, r.out + r.err
    assert box.recipients() == ["ada@example.org", "bob@example.org"]


def test_a_digest_refused_for_its_size_is_never_held_and_goes_out_once_made_smaller(tmp_path, cli):
    """The refusal says to lower max_papers or email.abstract_chars; three
    runs of it held the digest, and a held digest is never tried again on
    its own: done as told, it stayed held ('not retried until the address is
    fixed').  Now it stays pending and the next send builds it smaller."""
    server = Server(size_limit=8_000)
    try:
        path = setup(tmp_path, smtp(server.port))
        t0 = datetime.fromisoformat(NOW)
        for minutes in (0, 6, 17):
            r = cli("send", "--subscriber", "ada@example.org", "--now", (t0 + timedelta(minutes=minutes)).isoformat())
            assert r.code == 1 and "not sent: over the size SMTP server" in r.out, r.out + r.err
            assert "lower max_papers or email.abstract_chars) (stays pending, retried from" in r.out, r.out
        assert [row[1] for row in digests(tmp_path)] == ["pending"]
        path.write_text(path.read_text().replace("    topics: [diffusion]\n", "    topics: [diffusion]\n    max_papers: 1\n", 1)
                        .replace("email:\n", "email:\n  abstract_chars: 50\n", 1))
        r = cli("send", "--subscriber", "ada@example.org", "--now", (t0 + timedelta(minutes=38)).isoformat())
        assert r.code == 0 and "sent        ada@example.org: 1 paper" in r.out, r.out + r.err
        assert server.mailbox.recipients() == ["ada@example.org"]
    finally:
        server.stop()


def test_a_refused_sender_holds_nobody_and_the_digests_go_out_once_it_is_fixed(tmp_path, cli, smtp_server):
    """A 5xx to MAIL FROM (a sender the server will not take) is the config's
    fault, not the recipients': runs failing on it stop at once and count
    against no digest, so none is held and all go out once it is fixed."""
    box = smtp_server.mailbox
    box.mail_reply = "553 5.7.1 <digest@example.org>: Sender address rejected: not owned by user"
    path = setup(tmp_path, smtp(smtp_server.port))
    line = path.read_text().splitlines().index('  from: "Paper Digest <digest@example.org>"') + 1
    t0 = datetime.fromisoformat(NOW)
    for minutes in (0, 6, 17, 40, 24 * 60):  # after each back-off, and a day later
        r = cli("send", "--now", (t0 + timedelta(minutes=minutes)).isoformat())
        assert r.code == 1, r.out + r.err
        assert f"delivery stopped: config.yaml:{line}: SMTP server 127.0.0.1:{smtp_server.port} refused the sender " \
               "digest@example.org: 553 5.7.1" in r.err, r.err  # at email.from's line, which mends it
        assert "refused the sender digest@example.org: 553 5.7.1" in r.out and "check email.from" in r.out
        assert "held" not in r.out and "Traceback" not in r.err
    assert {status for _, status, *_ in digests(tmp_path)} == {"pending"}  # none failed (permanently), none held
    box.mail_reply = None
    r = cli("send", "--now", (t0 + timedelta(days=2)).isoformat())
    assert r.code == 0, r.out + r.err
    assert "sent 2, empty 0, failed 0" in r.out
    assert box.recipients() == ["ada@example.org", "bob@example.org"]


def test_a_server_that_will_not_relay_for_us_holds_nobody(tmp_path, cli, smtp_server):
    """No login configured, and the server refuses to relay to every recipient
    (a 5xx to each RCPT): each run fails, backs off, but no digest is held,
    and once the server relays they all go out."""
    box = smtp_server.mailbox
    for address in ("ada@example.org", "bob@example.org"):
        box.reject[address] = f"554 5.7.1 <{address}>: Relay access denied"
    setup(tmp_path, smtp(smtp_server.port))
    t0 = datetime.fromisoformat(NOW)
    for minutes in (0, 6, 17, 40):  # after each back-off
        r = cli("send", "--now", (t0 + timedelta(minutes=minutes)).isoformat())
        assert r.code == 1 and "failed 2" in r.out, r.out + r.err
        assert "Relay access denied" in r.out and "held" not in r.out and "permanently" not in r.out
    assert {status for _, status, *_ in digests(tmp_path)} == {"pending"}
    box.reject.clear()
    r = cli("send", "--now", (t0 + timedelta(days=2)).isoformat())
    assert r.code == 0 and "sent 2, empty 0, failed 0" in r.out, r.out + r.err
    assert box.recipients() == ["ada@example.org", "bob@example.org"]


def test_a_connection_lost_before_the_reply_to_the_data_is_not_resent_in_the_run(tmp_path, cli, smtp_server):
    """The server took ada's message and died before saying so: not resent in
    that run (it was, once per retry), bob's still goes out; the next run sends
    ada's again with the same Message-ID (the server may not have kept it),
    and as it was: with a newer paper added, a mail program keeping one copy
    per Message-ID would hide it.  That paper goes in the digest after."""
    box = smtp_server.mailbox
    box.unanswered = 1
    setup(tmp_path, smtp(smtp_server.port).replace("retries: 1", "retries: 3"))
    r = cli("send", "--now", NOW)
    assert r.code == 1, r.out + r.err
    assert "failed      ada@example.org: SMTP server 127.0.0.1" in r.out and "before confirming it" in r.out
    assert box.recipients() == ["ada@example.org", "bob@example.org"]  # one copy each
    rows = {sub: (status, mid) for sub, status, mid, *_ in digests(tmp_path)}
    assert rows["ada@example.org"][0] == "pending" and rows["bob@example.org"][0] == "sent"
    assert query(tmp_path / "newsletter-state.sqlite3", "SELECT uncertain FROM digests ORDER BY id") == [(1,), (0,)]
    (tmp_path / "papers" / "day2.txt").write_text(export(["Diffusion Models Arrive Later"]), encoding="utf-8")
    r = cli("send", "--now", (datetime.fromisoformat(NOW) + timedelta(minutes=5)).isoformat())
    assert r.code == 0, r.out + r.err
    # the resend is said, as a killed run's is (it went again without a word)
    assert r.err.strip().splitlines() == [
        f"warning: digest 1 for ada@example.org {rows['ada@example.org'][1]}: the server did not confirm it in an "
        "earlier run (it may have taken it); sending it again with the same Message-ID (if the server had taken it, "
        "it arrives twice with that Message-ID)"], r.err
    to_ada = [m for m in box.messages if m.rcpt_tos == ["ada@example.org"]]
    assert [m.message_id for m in to_ada] == [rows["ada@example.org"][1]] * 2
    assert "Arrive Later" not in to_ada[1].content.decode()
    r = cli("send", "--now", (datetime.fromisoformat(NOW) + timedelta(minutes=6)).isoformat())
    assert "warning" not in r.err, r.err  # once delivered, the doubt is over
    to_ada = [m for m in box.messages if m.rcpt_tos == ["ada@example.org"]]
    assert len(to_ada) == 3 and "Arrive Later" in to_ada[2].content.decode() and "Task 1" not in to_ada[2].content.decode()


def test_history_marks_a_digest_that_may_have_arrived_twice(tmp_path, cli, smtp_server, store):
    """The server closed after ada's whole message, before its reply: the next
    run sends it again, and only that run's warning said she may have it
    twice; `history` (the one place a subscriber's complaint is looked up)
    showed a plain 'sent'.  It says so while the digest is owed and once sent,
    and --json has it as "uncertain"; bob's, confirmed, is not marked."""
    box = smtp_server.mailbox
    box.unanswered = 1
    setup(tmp_path, smtp(smtp_server.port), extra=store.line)
    assert cli("send", "--now", NOW).code == 1
    [ada] = [line for line in cli("history").out.splitlines() if "ada@example.org" in line]
    assert ada.startswith("2024-05-06 09:00 UTC  pending (created 2024-05-06 09:00, 1 attempt: SMTP server ") and (
        "(an earlier run may have delivered it, unconfirmed: it goes again as it was, same Message-ID)  "
        "ada@example.org  4 papers") in ada, ada
    later = (datetime.fromisoformat(NOW) + timedelta(minutes=5)).isoformat()
    assert cli("send", "--now", later).code == 0
    ada_mid = box.messages[0].message_id
    r = cli("history", "--subscriber", "ada@example.org")
    assert r.out.splitlines()[0] == (
        "2024-05-06 09:05 UTC  sent (may have arrived twice: an earlier run may have delivered it, unconfirmed; same "
        f"Message-ID)  4 papers  {ada_mid}"), r.out
    rows = {d["email"]: d["uncertain"] for d in json.loads(cli("history", "--json").out)["digests"]}
    assert rows == {"ada@example.org": True, "bob@example.org": False}
    assert "twice" not in cli("history", "--subscriber", "bob@example.org").out


def test_a_server_silent_at_one_recipients_rcpt_took_nothing_and_the_others_go_out(tmp_path, cli, smtp_server):
    """No answer to RCPT TO (a server verifying the address with the
    recipient's own server) read 'it may have taken the message': the batch
    stopped, bob's digest was not tried, and ada's went again as it was
    (new papers held back), though none of it had been sent."""
    box = smtp_server.mailbox
    box.silent_at_rcpt = {"ada@example.org"}
    # (2 s: the server must answer everything else within it, on a loaded machine too)
    setup(tmp_path, smtp(smtp_server.port).replace("timeout: 5", "timeout: 2"))
    r = cli("send", "--now", NOW)
    assert r.code == 1, r.out + r.err
    assert (f"failed      ada@example.org: SMTP server 127.0.0.1:{smtp_server.port} timed out (no answer to RCPT TO "
            "within 2 s) sending to ada@example.org; none of the message was sent (stays pending") in r.out, r.out
    assert "sent        bob@example.org" in r.out and "may have taken" not in r.out + r.err
    assert box.recipients() == ["bob@example.org"]
    assert query(tmp_path / "newsletter-state.sqlite3", "SELECT subscriber, status, uncertain FROM digests ORDER BY id") == [
        ("ada@example.org", "pending", 0), ("bob@example.org", "sent", 0)]


def test_more_connections_than_the_server_allows_still_send_everything(tmp_path, cli, smtp_server):
    box = smtp_server.mailbox
    box.max_sessions = 1
    setup(tmp_path, smtp(smtp_server.port, "  connections: 4"), subscribers=many(10))
    r = cli("send", "--now", NOW)
    assert r.code == 0, r.out + r.err
    assert r.out.strip().splitlines()[-1] == "sent 10, empty 0, failed 0, not due 0"
    assert box.recipients() == [f"user{i:02}@example.org" for i in range(10)] and box.turned_away >= 1


def test_a_username_copied_with_a_space_or_a_zero_width_space_logs_in(tmp_path, cli, starttls_server):
    """``username: "digest-user\u200b "`` (copied from a provider's page): every
    login was refused with 535, and the user named in the error looked right.
    A host so copied did not resolve."""
    setup(tmp_path, tls_login(starttls_server).replace(f"username: {USER}", f'username: "{USER}\\u200b "')
          .replace("host: 127.0.0.1", 'host: " 127.0.0.1\\u200b"'))
    r = cli("send", "--now", NOW, env={"DIGEST_SMTP_PASSWORD": PASSWORD})
    assert r.code == 0, r.out + r.err
    assert starttls_server.mailbox.recipients() == ["ada@example.org", "bob@example.org"]


def test_a_refused_login_backs_off_no_digest_and_all_go_once_the_password_is_mended(tmp_path, cli, starttls_server):
    """A login refused (535) stops the batch: the first digest was counted a
    failure of its own and backed off (5 minutes, then longer each run),
    while the others, not attempted, were not.  The password mended in the
    environment (no setting changes, so the back-off stood), the next send
    sent the others and left that one waiting.  The refusal is the login's,
    as every message's: no digest backs off, and all go out at once."""
    setup(tmp_path, tls_login(starttls_server), subscribers=many(3))
    line = (tmp_path / "config.yaml").read_text().splitlines().index(f"  username: {USER}") + 1
    r = cli("send", "--now", NOW, env={"DIGEST_SMTP_PASSWORD": PASSWORD + "x"})
    assert r.code == 1 and "sent 0, empty 0, failed 3" in r.out and "Traceback" not in r.err, r.out + r.err
    assert (f"failed      user00@example.org: config.yaml:{line}: SMTP server 127.0.0.1:{starttls_server.port} rejected "
            "the login for 'digest-user': 535 ") in r.out, r.out
    assert r.out.count("(stays pending, tried again by the next run)") == 3 and "retried from" not in r.out, r.out
    assert [row[1:2] + row[3:4] for row in digests(tmp_path)] == [("pending", 0)] * 3
    r = cli("send", "--now", (datetime.fromisoformat(NOW) + timedelta(minutes=1)).isoformat(),
            env={"DIGEST_SMTP_PASSWORD": PASSWORD})
    assert r.code == 0 and "sent 3, empty 0, failed 0" in r.out, r.out + r.err
    assert starttls_server.mailbox.recipients() == [f"user0{n}@example.org" for n in range(3)]


def test_starttls_with_auth(tmp_path, cli, starttls_server):
    setup(
        tmp_path,
        f"""  transport: smtp
  host: 127.0.0.1
  port: {starttls_server.port}
  security: starttls
  username: {USER}
  password_env: DIGEST_SMTP_PASSWORD
  ca_file: {starttls_server.cert}
  retries: 0
""",
    )
    r = cli("send", "--now", NOW, env={"DIGEST_SMTP_PASSWORD": PASSWORD})
    assert r.code == 0, r.err
    assert starttls_server.mailbox.recipients() == ["ada@example.org", "bob@example.org"]
    state = (tmp_path / "newsletter-state.sqlite3").read_bytes()
    assert PASSWORD.encode() not in state and PASSWORD not in r.out + r.err

    # A wrong password: a clear failure, no password anywhere, the digests stay owed.
    (tmp_path / "papers" / "day2.txt").write_text(export(["Latent Diffusion Models at Scale"]), encoding="utf-8")
    r = cli("send", "--now", NOW, env={"DIGEST_SMTP_PASSWORD": PASSWORD + "-wrong"})
    assert r.code == 1
    assert f"rejected the login for '{USER}'" in r.out
    assert PASSWORD not in r.out + r.err
    assert PASSWORD.encode() not in (tmp_path / "newsletter-state.sqlite3").read_bytes()
    assert [st for _, st, *_ in digests(tmp_path)][2:] == ["pending", "pending"]


def test_a_server_without_a_usable_auth_mechanism_fails_the_send_clearly(tmp_path, cli):
    """A server offering AUTH only by mechanisms smtplib lacks: one line naming the
    server and both sides' mechanisms, exit 1, the digests stay pending."""
    server = Server(mechanisms=("GSSAPI", "NTLM"))
    try:
        setup(tmp_path, smtp(server.port, f"  username: {USER}\n  password_env: DIGEST_SMTP_PASSWORD\n"))
        r = cli("send", "--now", NOW, env={"DIGEST_SMTP_PASSWORD": PASSWORD})
    finally:
        server.stop()
    assert r.code == 1, r.out + r.err
    assert f"SMTP server 127.0.0.1:{server.port} offers AUTH only by GSSAPI NTLM" in r.out
    assert "(it can use CRAM-MD5, LOGIN, PLAIN)" in r.out and "cannot connect" not in r.out + r.err
    assert "Traceback" not in r.err and PASSWORD not in r.out + r.err
    assert [st for _, st, *_ in digests(tmp_path)] == ["pending", "pending"]
    assert server.mailbox.messages == []


def test_a_non_ascii_password_is_refused_before_sending_and_never_shown(tmp_path, cli, starttls_server):
    """smtplib sends the login as ASCII: a password like 'pässwörd' failed every
    digest with a UnicodeEncodeError whose text (the whole login) went to stdout,
    stderr and the state's last_error."""
    secret = "pässwörd-sëcret"
    setup(tmp_path, tls_login(starttls_server))
    r = cli("-v", "send", "--now", NOW, env={"DIGEST_SMTP_PASSWORD": secret})
    assert r.code == 2, r.out + r.err
    assert "password_env: environment variable DIGEST_SMTP_PASSWORD or the username holds non-ASCII" in r.err
    assert "sëcret" not in r.out + r.err and "Traceback" not in r.err
    assert starttls_server.mailbox.messages == []
    if (tmp_path / "newsletter-state.sqlite3").exists():
        assert query(tmp_path / "newsletter-state.sqlite3", "SELECT count(*) FROM digests WHERE last_error LIKE ?",
                     ("%sëcret%",)) == [(0,)]


@pytest.mark.parametrize("command", ["validate", "send"])
def test_a_password_with_a_line_break_is_refused_naming_the_variable_not_the_secret(tmp_path, cli, starttls_server, command):
    """A password read from a .env file saved with Windows line endings ends
    in a carriage return: the server said 535 and the right password looked
    wrong.  No password holds a line break: said before anything is sent."""
    setup(tmp_path, tls_login(starttls_server))
    r = cli(command, *(["--now", NOW] if command == "send" else []), env={"DIGEST_SMTP_PASSWORD": PASSWORD + "\r"})
    assert r.code == 2, r.out + r.err
    [line] = r.err.splitlines()
    assert line.startswith("config.yaml:") and ": delivery.password_env: environment variable DIGEST_SMTP_PASSWORD ends " \
        "with a line break (a carriage return: an env file saved with Windows line endings?)" in line, line
    assert PASSWORD not in r.out + r.err and "Traceback" not in r.err
    assert starttls_server.mailbox.messages == [] and not (tmp_path / "newsletter-state.sqlite3").exists()


@pytest.mark.parametrize("command", ["validate", "send"])
def test_a_secret_variable_set_under_another_case_is_named_never_its_value(tmp_path, cli, command):
    """password_env: SMTP_PASSWORD with smtp_password exported (or the other
    way round): 'not set' alone sent the user to check what they had set."""
    setup(tmp_path, smtp(free_port(), f"  username: {USER}\n  password_env: SMTP_PASSWORD\n"),
          extra="web:\n  base_url: https://digest.example.org\n  secret_env: DIGEST_SECRET\n")
    r = cli(command, *(["--now", NOW] if command == "send" else []),
            env={"smtp_password": PASSWORD, "Digest_Secret": "k" * 40})
    assert r.code == 2, r.out + r.err
    # every problem, send's too: it named only the key, and the next cron run failed on the password
    assert (f"delivery.password_env: environment variable SMTP_PASSWORD is not set (it must hold the SMTP password "
            f"for {USER}; smtp_password is set: variable names are case-sensitive)") in r.err, r.err
    assert "web.secret_env: environment variable DIGEST_SECRET is not set (" in r.err
    assert "; Digest_Secret is set: variable names are case-sensitive)" in r.err, r.err
    assert PASSWORD not in r.out + r.err and "k" * 16 not in r.err and "Traceback" not in r.err


def test_run_refuses_to_start_without_its_secrets_and_names_each(tmp_path, cli, smtp_server):
    """A daemon started without the variables its config names (a systemd
    unit missing its EnvironmentFile, cron's empty environment) said when
    the next digest would go out and failed only then, hours later, in the
    journal; it now refuses at once, as `send` does, naming each (exit 2),
    the DKIM key's too (a send failed on it only once the sources were read)."""
    config = setup(tmp_path, smtp(smtp_server.port, f"  username: {USER}\n  password_env: NU19_SMTP_PASSWORD\n"),
                   extra="schedule: daily at 08:00\nweb:\n  base_url: https://digest.example.org\n"
                         "  secret_env: NU19_SECRET\n")
    config.write_text(config.read_text(encoding="utf-8").replace(
        'email:\n  from: "Paper Digest <digest@example.org>"\n',
        'email:\n  from: "Paper Digest <digest@example.org>"\n  dkim: {domain: example.org, selector: s1, '
        'key_env: NU19_DKIM_KEY}\n'), encoding="utf-8")
    r = cli("run", "--tick", "0.1")
    assert r.code == 2, r.out + r.err
    lines = r.err.strip().splitlines()
    assert [line.split(": environment variable ")[0] for line in lines] == [
        "config.yaml:36: web.secret_env", "config.yaml:21: email.dkim.key_env",
        "config.yaml:31: delivery.password_env"], r.err
    assert all(line.endswith(")") and " is not set (it must hold " in line for line in lines), r.err
    assert "Traceback" not in r.err and "run: next digest" not in r.err
    assert not (tmp_path / "newsletter-state.sqlite3").exists() and smtp_server.mailbox.messages == []


def test_a_reload_that_needs_an_unset_secret_keeps_the_running_config(tmp_path, caplog, smtp_server):
    """A config edited under `run` to add web: (one-click unsubscribe) with
    its variable not in the daemon's environment: every send would fail on
    it, so the reload is refused like one that breaks the config, and the
    daemon keeps sending with the config it has."""
    from newsletter.runner import Runner

    path = setup(tmp_path, smtp(smtp_server.port), extra="schedule: daily at 08:00")
    runner = Runner(path, tick=0.1)
    path.write_text(path.read_text(encoding="utf-8")
                    + "web:\n  base_url: https://digest.example.org\n  secret_env: NU19_RELOAD_SECRET\n",
                    encoding="utf-8")
    caplog.set_level(logging.INFO, logger="newsletter.run")
    runner.request_reload()
    runner._do_reload()
    assert runner.config.web is None
    [said] = [r.getMessage() for r in caplog.records if "not reloaded" in r.getMessage()]
    assert said.startswith("run: config not reloaded: ") and (
        "config.yaml:33: web.secret_env: environment variable NU19_RELOAD_SECRET is not set") in said, said
    # a reload cannot bring a variable in (the environment is the one run started with): it says to restart
    [kept] = [r.getMessage() for r in caplog.records if "keeping the running config" in r.getMessage()]
    assert "restart run: a reload cannot bring them in" in kept, kept


def test_starttls_rejects_an_unknown_certificate(tmp_path, cli, starttls_server):
    setup(
        tmp_path,
        f"""  transport: smtp
  host: 127.0.0.1
  port: {starttls_server.port}
  username: {USER}
  password_env: DIGEST_SMTP_PASSWORD
""",
    )
    r = cli("send", "--now", NOW, env={"DIGEST_SMTP_PASSWORD": PASSWORD, "SSL_CERT_FILE": str(ROOT / "pyproject.toml")})
    assert r.code == 1
    assert "TLS with 127.0.0.1" in r.out and "CERTIFICATE_VERIFY_FAILED" in r.out
    assert "(self-signed certificate; trust a private CA with delivery.ca_file)" in r.out  # which check failed
    assert starttls_server.mailbox.messages == []


def test_implicit_tls(tmp_path, cli, ssl_server):
    setup(
        tmp_path,
        f"""  transport: smtp
  host: 127.0.0.1
  port: {ssl_server.port}
  security: ssl
  username: {USER}
  password_env: DIGEST_SMTP_PASSWORD
  ca_file: {ssl_server.cert}
""",
    )
    r = cli("send", "--now", NOW, env={"DIGEST_SMTP_PASSWORD": PASSWORD})
    assert r.code == 0, r.err
    assert ssl_server.mailbox.recipients() == ["ada@example.org", "bob@example.org"]


def test_unset_password_variable_exits_2_before_sending(tmp_path, cli, smtp_server):
    config = setup(
        tmp_path,
        smtp(smtp_server.port, f"  username: {USER}\n  password_env: DIGEST_SMTP_PASSWORD_UNSET\n"),
    )
    r = cli("send", "--now", NOW)
    assert r.code == 2
    line = next(n for n, text in enumerate(config.read_text().splitlines(), 1) if "password_env" in text)
    assert r.err.strip() == (
        f"config.yaml:{line}: delivery.password_env: environment variable DIGEST_SMTP_PASSWORD_UNSET "
        f"is not set (it must hold the SMTP password for {USER})"
    )
    assert smtp_server.mailbox.messages == [] and r.out == ""
    assert not (tmp_path / "newsletter-state.sqlite3").exists()


def test_two_concurrent_sends_deliver_each_digest_once(tmp_path, smtp_server):
    setup(tmp_path, smtp(smtp_server.port, "  connections: 2\n"), subscribers=many(12))
    procs = [
        start_newsletter("send", "--now", NOW, cwd=tmp_path)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    box = smtp_server.mailbox
    assert box.recipients() == [f"user{i:02}@example.org" for i in range(12)]
    assert len({m.message_id for m in box.messages}) == 12
    summaries = sorted(out.strip().splitlines()[-1] for out, _ in outs)
    assert summaries == ["sent 0, empty 12, failed 0, not due 0", "sent 12, empty 0, failed 0, not due 0"]


def test_a_send_through_a_link_to_the_state_waits_for_the_send_on_the_file(tmp_path, smtp_server):
    """Two configs naming one state file, one through a symbolic link (a
    `current` link, a second checkout): each send took its own lock file
    (`link.lock`, `file.lock`), so the second ran during the first, took the
    first's claims for a stopped run's and sent them again.  The lock is
    now the file's, whatever the name: the second waits, then sends nothing."""
    box = smtp_server.mailbox
    box.block_at = 3
    setup(tmp_path, smtp(smtp_server.port), subscribers=many(6))
    other = tmp_path / "other"
    other.mkdir()
    (other / "state.sqlite3").symlink_to(tmp_path / "newsletter-state.sqlite3")
    setup(other, smtp(smtp_server.port), subscribers=many(6), extra="state: state.sqlite3")
    send = ["send", "--now", NOW]
    first = start_newsletter(*send, cwd=tmp_path)
    try:
        assert box.blocked.wait(60), "the third message never arrived"
        second = start_newsletter(*send, cwd=other)
        try:
            stderr_until(second, "is running on this state; waiting for it")
        finally:
            box.release.set()
            out, err = second.communicate(timeout=60)
    finally:
        box.release.set()
        first.communicate(timeout=60)
    assert first.returncode == 0 and second.returncode == 0, err
    assert out.strip().splitlines()[-1] == "sent 0, empty 6, failed 0, not due 0", out
    ids = [m.message_id for m in box.messages]
    assert len(ids) == 6 and len(set(ids)) == 6


def _unsubscribe_mid_send(tmp_path, box, cli, email: str) -> str:
    """Run `send`, and while the server holds its third message, unsubscribe
    ``email`` through the CLI; the send's output once it has ended well."""
    proc = start_newsletter("send", "--now", NOW, cwd=tmp_path)
    try:
        assert box.blocked.wait(60), "the third message never arrived"
        left = cli("unsubscribe", email, "--now", NOW)
        assert left.code == 0, left.err
    finally:
        box.release.set()
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return out


def test_one_who_unsubscribes_during_a_long_send_gets_nothing_from_it(tmp_path, smtp_server, cli, store):
    """The unsubscribes were read once, as the send began: one made through
    `serve` while a long send went on (thousands of subscribers, a slow
    server) still got that send's digest.  They are read again for each
    batch the send claims."""
    box = smtp_server.mailbox
    box.block_at = 3  # by then three batches (96) are claimed, the fourth not yet
    setup(tmp_path, smtp(smtp_server.port), subscribers=many(100), extra=store.line)
    out = _unsubscribe_mid_send(tmp_path, box, cli, "user99@example.org")
    assert out.strip().splitlines()[-1] == "sent 99, empty 0, failed 0, not due 0, unsubscribed 1", out
    assert "user99@example.org" not in box.recipients()
    assert len(box.messages) == 99


def test_one_who_unsubscribes_after_the_digest_was_claimed_does_not_get_it(tmp_path, smtp_server, cli, store):
    """A send claims its digests a batch or two ahead of the hand-over: one
    who clicked the one-click link meanwhile (RFC 8058: the request is the
    whole of it) still got the digest moments later.  Each digest is
    withdrawn at hand-over if its recipient has left; it stays pending."""
    box = smtp_server.mailbox
    box.block_at = 3  # user03's digest is claimed and queued by then
    setup(tmp_path, smtp(smtp_server.port), subscribers=many(6), extra=store.line)
    out = _unsubscribe_mid_send(tmp_path, box, cli, "user04@example.org")
    assert out.strip().splitlines()[-1] == "sent 5, empty 0, failed 0, not due 0, unsubscribed 1", out
    assert "user04@example.org" not in box.recipients() and len(box.messages) == 5
    rows = {sub: status for sub, status, *_ in digests(store.where)}
    assert rows["user04@example.org"] == "pending"  # owed, should they come back
    assert cli("resubscribe", "user04@example.org").code == 0
    r = cli("send", "--now", NOW)
    assert r.code == 0 and box.recipients().count("user04@example.org") == 1, r.out + r.err


def test_a_state_removed_during_a_send_stops_it_loudly(tmp_path, cli, smtp_server):
    """The state's folder removed while a send ran (a clean-up, a disk
    swapped, a volume unmounted): SQLite wrote on into the unlinked file, the
    send ended `sent 6`, exit 0, and its record went with the file, so the
    next send on a new state sent all six again, and nothing had said so.
    It now stops at its next message, says why, and exits 1."""
    box = smtp_server.mailbox
    box.block_at = 3
    setup(tmp_path, smtp(smtp_server.port), subscribers=many(6), extra="state: st/state.sqlite3")
    (tmp_path / "st").mkdir()
    proc = start_newsletter("send", "--now", NOW, cwd=tmp_path)
    try:
        assert box.blocked.wait(60), "the third message never arrived"
        for path in sorted((tmp_path / "st").iterdir()):
            path.unlink()
        (tmp_path / "st").rmdir()
    finally:
        box.release.set()
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    assert out.strip().splitlines()[-1] == "sent 3, empty 0, failed 0, not due 0, left pending 3", out
    assert err.strip().splitlines()[-1] == (
        "st/state.sqlite3: the state file was removed or replaced while this send ran; what it records is lost with "
        "it, so it sends no more (the next send, on a new state, sends again what this one delivered)"
    )
    assert len(box.messages) == 3


def test_a_state_locked_mid_send_sends_nothing_twice(tmp_path, cli, smtp_server, monkeypatch):
    """A state locked by another process past the busy timeout (a `sqlite3`
    shell left inside a transaction) while a message was being accepted:
    the send stopped with the message delivered but recorded `sending`, the
    next send sent it again, and warned of it and of three digests never
    handed over alike ("was being sent ... if the server had accepted it").
    The outcomes the state refused are noted beside it and recorded by the
    next send first: nothing twice, and a line only for the delivered one."""

    import newsletter.state.sqlite as sqlite_state
    from newsletter.config import load_config

    monkeypatch.setattr(sqlite_state, "BUSY_TIMEOUT_MS", 200)
    monkeypatch.chdir(tmp_path)
    box = smtp_server.mailbox
    box.block_at = 3
    config = load_config(setup(tmp_path, smtp(smtp_server.port), subscribers=many(6)))
    shown: list = []
    with sending_meanwhile(config, box, progress=shown.append) as failed:
        shell = sqlite3.connect(tmp_path / "newsletter-state.sqlite3", isolation_level=None)
        shell.execute("BEGIN IMMEDIATE")  # the other process's open transaction
    shell.execute("ROLLBACK")
    shell.close()
    assert [(r.email, r.status) for r in shown if r.status != "sent"] == [
        (f"user{i:02}@example.org", "pending") for i in range(3, 6)  # never handed over: pending, not failed
    ]
    [error] = failed
    assert str(error).endswith(
        "newsletter-state.sqlite3: the state is locked by another process (database is locked after 0 s); what this "
        "send delivered (or failed to) from here on is noted in newsletter-state.sqlite3.unrecorded, and the next "
        "send records it there first (nothing is sent twice)"
    ), error
    assert len(box.messages) == 3
    delivered = box.messages[2]

    # meanwhile `history` and `schedule` show it delivered (they said "sending", owed, due now)
    r = cli("history")
    line = next(line for line in r.out.splitlines() if delivered.message_id in line)
    assert line.split()[3] == "sent" and "not in the state yet: the state is locked" in line, r.out
    assert r.out.splitlines()[-1].startswith("digests: 3 sent, 3 pending, 0 failed, 0 sending"), r.out
    rows = {row["email"]: row for row in json.loads(cli("schedule", "--json", "--now", NOW).out)["subscribers"]}
    assert rows["user02@example.org"]["last_sent"] is not None and rows["user03@example.org"]["last_sent"] is None

    r = cli("send", "--now", NOW)
    assert r.code == 0, r.err
    warnings = [line for line in r.err.splitlines() if line.startswith("warning: digest")]
    assert warnings == [
        f"warning: digest 3 for user02@example.org {delivered.message_id} was delivered by an earlier run that could "
        "not record it (the state is locked by another process (database is locked after 0 s)); recorded as sent "
        "now, not sent again"
    ], r.err
    ids = [m.message_id for m in box.messages]
    assert len(ids) == 6 and len(set(ids)) == 6
    assert box.recipients() == [f"user{i:02}@example.org" for i in range(6)]
    assert [st for _, st, *_ in digests(tmp_path)] == ["sent"] * 6
    assert not (tmp_path / "newsletter-state.sqlite3.unrecorded").exists()


@contextlib.contextmanager
def small_disk(folder: Path, size: str = "2m") -> Iterator[Path]:
    """A file system of its own, ``size`` big (tmpfs), mounted at ``folder``:
    a test fills it up, as a full disk is, for every process on it.  Skips
    where mounting is not permitted (not root, or no CAP_SYS_ADMIN)."""
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small file system here: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)


def fill_up(folder: Path) -> Path:
    """Fill the file system under ``folder`` to its last byte: the filler file."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        for size in (1 << 16, 512, 1):
            try:
                while os.write(fd, b"\0" * size):
                    pass
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
    finally:
        os.close(fd)
    return filler


def test_a_disk_too_full_even_for_the_unrecorded_note_loses_nothing_and_sends_nothing_twice(
    tmp_path, cli, smtp_server, monkeypatch
):
    """The state's disk filled up mid-send, so full that the note of what the
    state refused (``<state>.unrecorded``) could not be written either: the
    delivered digest stayed 'sending' and the next send sent it again,
    after an error that named only the state.  A send keeps room for the
    note (``<state>.spare``), frees it when the disk is full, and says so."""
    from newsletter.config import load_config
    from newsletter.state.sqlite import SPARE_BYTES

    monkeypatch.chdir(tmp_path)
    box = smtp_server.mailbox
    box.block_at = 3
    with small_disk(tmp_path / "disk") as disk:
        config = load_config(setup(tmp_path, smtp(smtp_server.port), subscribers=many(6),
                                   extra="state: disk/state.sqlite3"))
        with sending_meanwhile(config, box) as failed:
            filler = fill_up(disk)
        [error] = failed
        assert str(error).endswith(
            "state.sqlite3: database or disk is full: the state could not be written; is its disk full (or over a "
            "quota)?; what this send delivered (or failed to) from here on is noted in state.sqlite3.unrecorded (in "
            "the room kept for it, state.sqlite3.spare: the disk is full; free some space before the next send), and "
            "the next send records it there first (nothing is sent twice)"
        ), error
        assert len(box.messages) == 3 and not (disk / "state.sqlite3.spare").exists()
        filler.unlink()
        r = cli("send", "--now", NOW)
        assert (disk / "state.sqlite3.spare").stat().st_size == SPARE_BYTES  # kept again, for the next time
    assert r.code == 0, r.out + r.err
    assert "was being sent" not in r.err and "was delivered by an earlier run that could not record it" in r.err
    ids = [m.message_id for m in box.messages]
    assert len(ids) == 6 and len(set(ids)) == 6, r.err
    assert box.recipients() == [f"user{i:02}@example.org" for i in range(6)]


def test_deliveries_that_finish_while_a_refused_record_waits_are_not_sent_twice(
    tmp_path, cli, smtp_server, monkeypatch
):
    """Two connections; the state locked while one of them waits for the
    server's answer and the other records its delivery (waiting for the
    lock): the answer came meanwhile, and that delivery was left to the
    waiting record (which takes what comes in while it runs), which gave
    up without it: left `sending`, it was sent again by the next run."""

    import newsletter.state.sqlite as sqlite_state
    from newsletter.config import load_config

    monkeypatch.setattr(sqlite_state, "BUSY_TIMEOUT_MS", 1000)
    monkeypatch.chdir(tmp_path)
    box = smtp_server.mailbox
    box.block_at = 3
    config = load_config(setup(tmp_path, smtp(smtp_server.port, "  connections: 2\n"), subscribers=many(40)))
    open_state(tmp_path / "newsletter-state.sqlite3").close()  # (an empty file is no state)
    shell = sqlite3.connect(tmp_path / "newsletter-state.sqlite3", isolation_level=None, check_same_thread=False)
    # the third one's answer comes (at the end of the block) while the record waits: its thread delivers on
    with sending_meanwhile(config, box) as failed:
        shell.execute("BEGIN IMMEDIATE")  # the other connection's next record waits for this
    shell.execute("ROLLBACK")
    shell.close()
    assert failed, "the send did not stop"
    before = [m.message_id for m in box.messages]
    assert len(before) > 3

    box.block_at = None
    r = cli("send", "--now", NOW)
    assert r.code == 0, r.err
    ids = [m.message_id for m in box.messages]
    assert len(ids) == len(set(ids)) == 40, [mid for mid in before if ids.count(mid) > 1]
    assert "being sent" not in r.err, r.err


def test_a_lock_file_removed_during_a_send_lets_no_second_send_beside_it(tmp_path, smtp_server):
    """`<state>.lock` removed while a send held it (a clean-up of `*.lock`):
    a second send made a new lock file, took it at once, took the first's
    claimed digests for a stopped run's and sent them again (10 messages for
    6 subscribers).  The second now waits for the holder of the removed
    file, which takes the lock again at its next message and says so."""
    box = smtp_server.mailbox
    box.block_at = 3
    setup(tmp_path, smtp(smtp_server.port), subscribers=many(6))
    send = ["send", "--now", NOW]
    first = start_newsletter(*send, cwd=tmp_path)
    try:
        assert box.blocked.wait(60), "the third message never arrived"
        (tmp_path / "newsletter-state.sqlite3.lock").unlink()
        second = start_newsletter(*send, cwd=tmp_path)
        try:
            said = stderr_until(second, "is running on this state; waiting for it")
        finally:
            box.release.set()
            out, err = second.communicate(timeout=60)
    finally:
        box.release.set()
        first_out, first_err = first.communicate(timeout=60)
    assert f"another send (pid {first.pid}, which holds it still though its lock file was removed)" in said
    assert first.returncode == 0 and second.returncode == 0, first_err + err
    assert first_out.strip().splitlines()[-1] == "sent 6, empty 0, failed 0, not due 0", first_out
    assert first_err.strip() == (
        f"warning: {tmp_path / 'newsletter-state.sqlite3.lock'}: the send's lock file was removed while it ran; "
        "it took the lock again"
    )
    assert out.strip().splitlines()[-1] == "sent 0, empty 6, failed 0, not due 0", out
    assert "being sent" not in err
    ids = [m.message_id for m in box.messages]
    assert len(ids) == 6 and len(set(ids)) == 6


def test_a_postgresql_server_cut_off_mid_send_is_given_up_on_and_nothing_is_lost(
    tmp_path, cli, smtp_server, pg_server, pg_url, monkeypatch
):
    """The network to PostgreSQL partitioned mid-send (here a proxy that stops
    forwarding, which a client cannot tell from a slow server): the worker
    waited for the answer to its `sent` mark for ever.  It gives up after
    ANSWER_WITHIN, saying so in one line, fails the rest at once instead of
    waiting again for each, and the next send delivers what it left owed."""

    from pg_server import PASSWORD
    from tcp_proxy import TcpProxy

    import newsletter.state.postgres as postgres_state
    from newsletter.config import load_config

    monkeypatch.setattr(postgres_state, "ANSWER_WITHIN", 0.5)
    monkeypatch.setenv("PGPASSWORD", PASSWORD)  # (the .pgpass line names the server's own port)
    monkeypatch.chdir(tmp_path)
    proxy = TcpProxy(pg_server.port)
    box = smtp_server.mailbox
    box.block_at = 3
    far = proxy.url(pg_url, pg_server.port)
    config = load_config(setup(tmp_path, smtp(smtp_server.port), subscribers=many(6), extra=f"state: {far}"))
    with sending_meanwhile(config, box) as failed:
        proxy.partition()
    [error] = failed
    assert str(error) == (
        f"{postgres_state.public_url(far)}: cannot reach PostgreSQL: no answer within 0.5 s "
        "(a network fault, or the server stopped responding)"
    )
    proxy.stop()  # the partition ends the sessions behind it (the server's keepalives would)
    assert len(box.messages) == 3

    setup(tmp_path, smtp(smtp_server.port), subscribers=many(6), extra=f"state: {pg_url}")
    r = cli("send", "--now", NOW)
    assert r.code == 0, r.err
    ids = [m.message_id for m in box.messages]
    # the one accepted as the partition began could not be recorded: sent again, with its Message-ID
    assert len(set(ids)) == 6 and len(ids) <= 7 and sorted(set(box.recipients())) == [
        f"user{i:02}@example.org" for i in range(6)
    ]
    assert {st for _, st, *_ in digests(pg_url)} == {"sent"} and len(digests(pg_url)) == 6


def test_sigterm_during_a_postgresql_partition_stops_within_seconds_and_nothing_is_lost(
    tmp_path, cli, smtp_server, pg_server, pg_url
):
    """SIGTERM (a service stop: systemd kills after 90 s) while the network
    to PostgreSQL is cut: the message in flight finished, then its record
    waited ANSWER_WITHIN (120 s) for a server that could not answer, and the
    stop took that long.  Once stopping, a statement waits a few seconds at
    most; the digest it could not record goes again with its Message-ID."""
    from pg_server import PASSWORD
    from tcp_proxy import TcpProxy

    from newsletter.state import public_url

    proxy = TcpProxy(pg_server.port)
    box = smtp_server.mailbox
    box.block_at = 3
    far = proxy.url(pg_url, pg_server.port)
    setup(tmp_path, smtp(smtp_server.port), subscribers=many(6), extra=f"state: {far}")
    proc = start_newsletter("send", "--now", NOW, cwd=tmp_path, env={"PGPASSWORD": PASSWORD})
    try:
        assert box.blocked.wait(60), "the third message never arrived"
        proxy.partition()
        proc.send_signal(signal.SIGTERM)
        said = stderr_until(proc, "stopping (SIGTERM):")
        box.release.set()
        out, err = proc.communicate(timeout=30)  # (ANSWER_WITHIN is 120 s)
        err = said + err
    finally:
        box.release.set()
        proc.kill()
        proxy.stop()
    assert proc.returncode == 2 and "Traceback" not in err, (out, err)  # (a state gone silent, stopped or not)
    assert err.splitlines()[-1] == (
        f"{public_url(far)}: cannot reach PostgreSQL: no answer within 3 s of the stop "
        "(a network fault, or the server stopped responding)"
    ), err
    assert len(box.messages) == 3

    setup(tmp_path, smtp(smtp_server.port), subscribers=many(6), extra=f"state: {pg_url}")
    r = cli("send", "--now", NOW, env={"PGPASSWORD": PASSWORD})
    assert r.code == 0, r.out + r.err
    ids = [m.message_id for m in box.messages]
    # the third, taken as the partition began, could not be recorded: sent again, with its Message-ID
    assert len(ids) == 7 and len(set(ids)) == 6 and ids.count(ids[2]) == 2, ids
    assert sorted(set(box.recipients())) == [f"user{i:02}@example.org" for i in range(6)]
    assert {st for _, st, *_ in digests(pg_url)} == {"sent"}


def test_a_state_that_cannot_say_whether_a_recipient_left_withholds_the_digest(
    tmp_path, cli, smtp_server, pg_server, pg_url, monkeypatch
):
    """Just before each hand-over a delivery thread asks the state whether the
    recipient unsubscribed meanwhile.  A state that gave no answer (a
    partition, a restart) was taken for "no": the digest went out to one
    whose one-click unsubscribe `serve` had already confirmed, and its
    delivery could not be recorded either.  It is withheld now (pending: the
    next run asks again), and the send stops as the state fails."""
    from pg_server import PASSWORD
    from tcp_proxy import TcpProxy

    import newsletter.state.postgres as postgres_state
    from newsletter.config import load_config

    monkeypatch.setattr(postgres_state, "ANSWER_WITHIN", 0.5)
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    monkeypatch.chdir(tmp_path)
    proxy = TcpProxy(pg_server.port)
    box = smtp_server.mailbox
    box.pause_at = [3]  # every session waits for its reply: each holds one message checked before the fault
    far = proxy.url(pg_url, pg_server.port)
    everyone = [f"user{i:02}@example.org" for i in range(8)]
    config = load_config(
        setup(tmp_path, smtp(smtp_server.port, "  connections: 2\n"), subscribers=many(8), extra=f"state: {far}")
    )
    try:
        with sending_meanwhile(config, box) as failed:
            seen = len(box.messages)
            left = [a for a in everyone if a not in {r for m in box.messages for r in m.rcpt_tos}]
            with open_state(pg_url) as direct:  # the POSTs, answered while the sessions wait
                for address in left:
                    direct.unsubscribe(address, datetime.fromisoformat(NOW))
            proxy.partition()
            box.resume()
        [error] = failed
        assert "no answer within 0.5 s" in str(error), error
    finally:
        proxy.stop()
    # after the POSTs, only the message the other session had checked before, if it had not arrived yet
    late = [m.rcpt_tos[0] for m in box.messages[seen:] if m.rcpt_tos[0] in left]
    assert len(box.messages) <= 4 and len(late) <= 1 and len(late) <= 4 - seen, [m.rcpt_tos for m in box.messages]
    setup(tmp_path, smtp(smtp_server.port), subscribers=many(8), extra=f"state: {pg_url}")
    r = cli("send", "--now", NOW)
    assert r.code == 0 and r.out.strip().splitlines()[-1].endswith(f"unsubscribed {len(left)}"), r.out + r.err
    assert [m.rcpt_tos[0] for m in box.messages if m.rcpt_tos[0] in left] == late  # and nothing more, ever


def test_a_digest_killed_in_flight_goes_again_as_it_was_and_new_papers_wait_for_the_next(
    tmp_path, smtp_server, cli, store
):
    """`kill -9` while the server was taking a digest, then new papers: the
    next send sent that digest again with its Message-ID and the new papers
    added.  The server had the first copy, and a mail program that keeps one
    message per Message-ID (Gmail does) showed that one: the new papers were
    recorded sent and never seen.  It goes again as it was; the new papers
    go in the next digest, under a Message-ID of their own."""
    box = smtp_server.mailbox
    setup(tmp_path, smtp(smtp_server.port), subscribers=many(3), extra=store.line)
    killed_while_held(tmp_path, box, 2)
    first = box.messages[1]
    (tmp_path / "papers" / "day2.txt").write_text(export(["Diffusion Models Arrive Later"]), encoding="utf-8")

    r = cli("send", "--now", NOW)
    assert r.code == 0, r.err
    again = [m for m in box.messages[2:] if m.message_id == first.message_id]
    assert len(again) == 1 and "Arrive Later" not in again[0].content.decode(), r.out
    titles = lambda m: sorted(set(re.findall(r"Diffusion Models for Task \d", m.content.decode())))  # noqa: E731
    assert titles(again[0]) == titles(first) == [f"Diffusion Models for Task {n}" for n in range(1, 5)]
    r = cli("send", "--now", NOW)
    assert r.code == 0, r.err
    later = [m for m in box.messages if first.rcpt_tos == m.rcpt_tos and "Arrive Later" in m.content.decode()]
    assert len(later) == 1 and later[0].message_id != first.message_id and titles(later[0]) == []
    assert {st for _, st, *_ in digests(store.where)} == {"sent"}


def killed_while_held(folder: Path, box, n: int) -> None:
    """A send in ``folder`` killed (SIGKILL) while the server holds its
    ``n``-th message, accepted but not answered yet; then the server goes on."""
    box.block_at = n
    proc = start_newsletter("send", "--now", NOW, cwd=folder, text=False)
    try:
        assert box.blocked.wait(60), f"message {n} never arrived"
        assert len(box.messages) == n  # the server has accepted it; the client has no reply yet
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    box.release.set()


def test_killed_mid_batch_the_rest_goes_out_next_run(tmp_path, smtp_server, cli, store):
    box = smtp_server.mailbox
    setup(tmp_path, smtp(smtp_server.port), subscribers=many(6), extra=store.line)
    killed_while_held(tmp_path, box, 3)
    statuses = [st for _, st, *_ in digests(store.where)]
    assert statuses[:2] == ["sent", "sent"] and set(statuses[2:]) == {"sending"}
    in_flight = box.messages[2]

    r = cli("send", "--now", NOW)
    assert r.code == 0, r.err
    assert f"{in_flight.message_id} was being sent when an earlier run" in r.err
    ids = [m.message_id for m in box.messages]
    # Everyone got their digest; the only repeat is the in-flight one, with the same Message-ID.
    assert box.recipients() == sorted([f"user{i:02}@example.org" for i in range(6)] + in_flight.rcpt_tos)
    assert ids.count(in_flight.message_id) == 2 and len(set(ids)) == 6
    assert {st for _, st, *_ in digests(store.where)} == {"sent"} and len(digests(store.where)) == 6


def test_a_stopped_runs_many_claimed_digests_are_one_warning_not_one_each(tmp_path, cli, smtp_server):
    """A 2,000-member send killed mid-batch left 150 digests `sending`, and
    the next send printed 150 warnings, each saying it may arrive twice
    (only those in flight can).  Past 5, one line per stopped run."""
    setup(tmp_path, smtp(smtp_server.port), subscribers=many(8))
    with open_state(tmp_path / "newsletter-state.sqlite3") as st:  # a run that claimed its batch, then died
        st.see_subscribers([f"user{i:02}@example.org" for i in range(8)], datetime(2024, 5, 6, 8, tzinfo=UTC))
        st.claim([(None, f"user{i:02}@example.org", f"<m{i}@x>", ["diffusion models for task 1"]) for i in range(8)],
                 datetime(2024, 5, 6, 8, tzinfo=UTC))
    r = cli("send", "--now", NOW)
    assert r.code == 0, r.err
    [line] = [x for x in r.err.splitlines() if "being sent" in x]
    assert re.fullmatch(
        r"warning: 8 digests were being sent when an earlier run \(\d+@[^)]+\) stopped; sending them again with the "
        r"same Message-IDs \(those the server had accepted just before, at most one per connection, arrive twice "
        r"with their Message-ID\): user00@example.org <m0@x>, user01@example.org <m1@x>, user02@example.org <m2@x> "
        r"and 5 more \(`newsletter history` lists them\)", line), line
    assert sorted(m.message_id for m in smtp_server.mailbox.messages)[:8] == sorted(f"<m{i}@x>" for i in range(8))


def test_ctrl_c_mid_batch_finishes_the_message_in_flight_and_leaves_the_rest_pending(tmp_path, smtp_server, cli):
    """Ctrl-C (SIGINT to the terminal's process group) stops a send cleanly: the
    message in flight finishes and is recorded, the rest are never claimed as
    being sent, so the next run sends them once, without the warnings of a
    crash, and says nothing was being sent."""
    box = smtp_server.mailbox
    box.block_at = 3
    setup(tmp_path, smtp(smtp_server.port), subscribers=many(6))
    proc = start_newsletter("send", "--now", NOW, cwd=tmp_path, start_new_session=True)
    out, err = stopped_while_held(proc, box, "the third message", ctrl_c=True)
    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in err
    # never tried: pending, not failed
    assert out.splitlines()[-1] == "sent 3, empty 0, failed 0, not due 0, left pending 3", out
    assert out.count("pending     user0") == 3 and "failed      " not in out, out
    assert err.splitlines()[-1] == (
        "interrupted: 3 digests left pending (not sent); the next `newsletter send` sends them"
    ), err
    assert [st for _, st, *_ in digests(tmp_path)] == ["sent"] * 3 + ["pending"] * 3
    assert len(box.messages) == 3

    r = cli("send", "--now", NOW)
    assert r.code == 0, r.err
    assert "was being sent" not in r.err
    assert box.recipients() == [f"user{i:02}@example.org" for i in range(6)]
    assert len({m.message_id for m in box.messages}) == 6


def test_ctrl_c_says_the_next_send_also_sends_the_rest_to_those_sent_to_without_a_schedule(tmp_path, smtp_server, cli):
    """After Ctrl-C, "the next `newsletter send` sends them" read as the
    pending digests alone; but subscribers without a schedule are due at
    every send, and those sent to before the stop whose digest max_papers
    cut got a second digest, of the papers left over, minutes after the first."""
    box = smtp_server.mailbox
    box.block_at = 3
    setup(tmp_path, smtp(smtp_server.port), subscribers=many(6).replace("topics: [diffusion]",
                                                                      "topics: [diffusion]\n    max_papers: 2"))
    proc = start_newsletter("send", "--now", NOW, cwd=tmp_path, start_new_session=True)
    out, err = stopped_while_held(proc, box, "the third message", ctrl_c=True)
    assert proc.returncode == 130 and "Traceback" not in err, (out, err)
    assert err.splitlines()[-1] == (
        "interrupted: 3 digests left pending (not sent); the next `newsletter send` sends them, and a second digest "
        "to the 3 subscribers sent to now without a schedule (due at every send) whose digest max_papers cut, of the "
        "papers left over; `newsletter send --subscriber EMAIL` sends one subscriber's alone"), err
    r = cli("send", "--now", NOW)
    assert r.code == 0, r.err
    assert sorted(box.recipients()) == sorted([f"user{i:02}@example.org" for i in range(6)]
                                              + [f"user{i:02}@example.org" for i in range(3)])  # as it said


def stopped_while_held(proc: subprocess.Popen, box, what: str, ctrl_c: bool = False) -> tuple[str, str]:
    """SIGTERM ``proc`` (a send) once the server holds its message
    (``box.block_at``), let that message through once the stop is seen, and
    wait for the send to exit: its stdout and stderr.  ``ctrl_c``: SIGINT to
    its process group instead, as a terminal's Ctrl-C (``proc`` started in a
    session of its own)."""
    try:
        assert box.blocked.wait(60), f"{what} never arrived"
        if ctrl_c:
            os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does on a terminal
        else:
            proc.send_signal(signal.SIGTERM)  # to the process alone, as `kill` and `timeout` do
        said = stderr_until(proc, "stopping:" if ctrl_c else "stopping (SIGTERM):")  # seen before the server answers
        box.release.set()
        out, err = proc.communicate(timeout=60)
        return out, said + err
    finally:
        box.release.set()
        proc.kill()


def test_sigterm_while_another_send_holds_the_state_stops_the_wait(tmp_path, smtp_server, cli):
    """A send waiting for another send's lock (a long one from the last
    cron slot) took SIGTERM (cron's `timeout`, a service stop) as a note
    for later and went on waiting, up to ten minutes, until killed.  It
    stops at once: nothing sent or recorded, exit 143."""
    from newsletter.state import send_lock

    box = smtp_server.mailbox
    setup(tmp_path, smtp(smtp_server.port))
    with send_lock(tmp_path / "newsletter-state.sqlite3"):
        proc = start_newsletter("send", "--now", NOW, cwd=tmp_path)
        out, err = terminated_once_said(proc, "is running on this state; waiting for it")
    assert proc.returncode == 143, (out, err)
    assert "Traceback" not in err and box.messages == [] and out == ""
    assert re.search(r"^interrupted: \S+newsletter-state\.sqlite3\.lock: stopped while waiting for another send "
                     r"\(\d+@[^)]+\): nothing sent or recorded$", err, re.M), err
    assert digests(tmp_path) == []
    r = cli("send", "--now", NOW)
    assert r.code == 0 and len(box.messages) == 2, r.err


def test_sigterm_to_a_big_sends_parent_alone_stops_its_workers_too(tmp_path, smtp_server, cli):
    """A big send shares the subscribers among forked workers; a SIGTERM to
    the command alone (`kill PID`, a supervisor that signals one process)
    reached none of them: the command said "stopping ... the rest stay
    pending" and every digest went out.  The parent passes the stop on."""
    from newsletter.sending import SHARD_MIN

    box = smtp_server.mailbox
    box.block_at = 20
    count = SHARD_MIN + 50
    subscribers = "".join(f"\n  - email: user{i:03}@example.org\n    topics: [diffusion]" for i in range(count))
    setup(tmp_path, smtp(smtp_server.port, "  connections: 2"), subscribers=subscribers)
    proc = start_newsletter("send", "--now", NOW, cwd=tmp_path)
    out, err = stopped_while_held(proc, box, "the 20th message")  # (a signal to the parent alone)
    assert proc.returncode == 143 and "Traceback" not in err, err
    statuses = [st for _, st, *_ in digests(tmp_path)]
    assert len(box.messages) < count // 2 and statuses.count("sent") == len(box.messages), out[-500:]
    assert "sending" not in statuses and f"left pending {statuses.count('pending')}" in out
    r = cli("send", "--now", NOW)
    assert r.code == 0, r.err
    assert sorted(box.recipients()) == [f"user{i:03}@example.org" for i in range(count)]  # each once


def test_sigterm_mid_batch_stops_as_ctrl_c_does(tmp_path, smtp_server, cli):
    """SIGTERM (`timeout 600 newsletter send` from cron, a systemd unit's stop)
    killed a send outright: the digests it had claimed stayed "being sent" and
    the next run warned of each as possibly sent twice.  It stops as Ctrl-C
    does: the message in flight finishes and is recorded, the rest stay pending."""
    box = smtp_server.mailbox
    box.block_at = 3
    setup(tmp_path, smtp(smtp_server.port), subscribers=many(6))
    proc = start_newsletter("send", "--now", NOW, cwd=tmp_path)
    out, err = stopped_while_held(proc, box, "the third message")
    assert proc.returncode == 143, (out, err)
    assert "Traceback" not in err and "stopping (SIGTERM):" in err
    assert out.splitlines()[-1].startswith("sent 3, "), out
    assert err.splitlines()[-1] == (
        "interrupted: 3 digests left pending (not sent); the next `newsletter send` sends them"
    ), err
    assert [st for _, st, *_ in digests(tmp_path)] == ["sent"] * 3 + ["pending"] * 3

    r = cli("send", "--now", NOW)
    assert r.code == 0 and "was being sent" not in r.err, r.err
    assert box.recipients() == [f"user{i:02}@example.org" for i in range(6)]


def test_a_hangup_mid_batch_stops_as_sigterm_does(tmp_path, smtp_server, cli):
    """The terminal closed under a send (an ssh session dropped): SIGHUP
    killed it outright, its claimed digests stayed "being sent", and the
    next send sent them again as possibly delivered.  It stops as SIGTERM
    does: the message in flight is recorded, the rest stay pending, exit 129."""
    if signal.getsignal(signal.SIGHUP) == signal.SIG_IGN:
        pytest.skip("SIGHUP is ignored here (nohup): the send would ignore it too")
    box = smtp_server.mailbox
    box.block_at = 3
    setup(tmp_path, smtp(smtp_server.port), subscribers=many(6))
    proc = start_newsletter("send", "--now", NOW, cwd=tmp_path)
    try:
        assert box.blocked.wait(60), "the third message never arrived"
        proc.send_signal(signal.SIGHUP)
        said = stderr_until(proc, "stopping (SIGHUP):")
        box.release.set()
        out, err = proc.communicate(timeout=60)
    finally:
        box.release.set()
        proc.kill()
    assert proc.returncode == 129 and "Traceback" not in err, (out, said + err)
    assert err.splitlines()[-1] == "interrupted: 3 digests left pending (not sent); the next `newsletter send` sends them"
    assert [st for _, st, *_ in digests(tmp_path)] == ["sent"] * 3 + ["pending"] * 3
    r = cli("send", "--now", NOW)
    assert r.code == 0 and "was being sent" not in r.err, r.err
    assert box.recipients() == [f"user{i:02}@example.org" for i in range(6)]


def test_sigterm_while_a_slow_server_gives_its_verdict_stops_and_the_digest_goes_again_as_it_was(
    tmp_path, smtp_server, cli
):
    """The verdict on a message's data may take up to 10 minutes (RFC 5321);
    a SIGTERM meanwhile (systemd stops within 90 s) ends the wait: the
    digest is left uncertain, the rest pending, exit 143, and the next send
    sends it again under its Message-ID."""
    box = smtp_server.mailbox
    box.block_at = 1  # the first message's verdict is held until the send has stopped
    # (2 s: the server must answer each command before the verdict within it, on a loaded machine too)
    setup(tmp_path, smtp(smtp_server.port).replace("timeout: 5", "timeout: 2"), subscribers=many(3))
    proc = start_newsletter("send", "--now", NOW, cwd=tmp_path)
    try:
        out, err = terminated_once_said(proc, "has not given its verdict on the message to user00@example.org")
    finally:
        box.release.set()
    assert proc.returncode == 143, (out, err)
    assert "Traceback" not in err and "waiting up to 600 s for it (RFC 5321)" in err, err
    assert "had given no verdict on the message to user00@example.org when the send was stopped" in out, out
    rows = digests(tmp_path)
    assert [st for _, st, *_ in rows] == ["pending"] * 3
    assert query(tmp_path / "newsletter-state.sqlite3", "SELECT uncertain FROM digests ORDER BY id") == [(1,), (0,), (0,)]
    r = cli("send", "--now", (datetime.fromisoformat(NOW) + timedelta(minutes=5)).isoformat())  # (after its back-off)
    assert r.code == 0, r.out + r.err
    assert box.recipients() == ["user00@example.org"] * 2 + ["user01@example.org", "user02@example.org"], r.out
    assert [m.message_id for m in box.messages if m.rcpt_tos == ["user00@example.org"]] == [rows[0][2]] * 2


def test_ctrl_c_while_a_source_is_retried_stops_at_once_and_sends_nothing(tmp_path, http_server):
    """Ctrl-C during the fetch (a source answering 503, long back-offs) cuts the
    back-off short and starts no new request: exit 130 at once, nothing recorded."""
    import time

    from recorded_http import Reply

    http_server.route("/feed.xml", Reply(503, b"busy"))
    write_config(tmp_path, f"""
sources:
  - type: feed
    url: {http_server.url("/feed.xml")}
topics:
  t:
    any: [x]
subscribers:
  - email: ada@example.org
    topics: [t]
http:
  retries: 5
  backoff: 30
""")
    proc = start_newsletter("send", cwd=tmp_path, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not http_server.requests_to("/feed.xml"):
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGINT)
        started = time.monotonic()
        out, err = proc.communicate(timeout=60)
        took = time.monotonic() - started
    finally:
        proc.kill()
    assert proc.returncode == 130, (out, err)
    assert took < 20, took  # not the 30 s back-off (a bound against that wait, not a loaded machine's exit)
    assert len(http_server.requests_to("/feed.xml")) == 1
    assert "Traceback" not in err
    assert err.splitlines()[-1] == "interrupted while reading the sources: nothing sent or recorded", err
    # (the state is opened before the sources are read, to ask whether anyone is due: it may exist, empty)
    state_file = tmp_path / "newsletter-state.sqlite3"
    if state_file.exists():
        with contextlib.closing(sqlite3.connect(state_file)) as db:
            assert [db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                    for table in ("papers", "subscribers", "digests", "digest_papers")] == [0, 0, 0, 0]


@pytest.mark.parametrize("sig, code, said", [(signal.SIGINT, 130, "stopping:"), (signal.SIGTERM, 143, "stopping (SIGTERM):")])
def test_ctrl_c_stops_a_big_send_shared_by_processes_cleanly(tmp_path, smtp_server, cli, sig, code, said):
    """The send workers of a big send see the terminal's Ctrl-C themselves
    (and a SIGTERM sent to the process group, as systemd and `timeout` do):
    each finishes its message in flight, nothing is left "being sent", and
    the next run sends the rest, everyone once."""
    from newsletter.sending import SHARD_MIN

    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("a big send forks only with two cores or more")
    box = smtp_server.mailbox
    box.block_at = 40
    setup(tmp_path, smtp(smtp_server.port, "  connections: 2"), subscribers=many(SHARD_MIN))
    proc = start_newsletter("send", "--now", NOW, cwd=tmp_path, start_new_session=True)
    try:
        assert box.blocked.wait(120), "message 40 never arrived"
        assert len(_children(proc.pid)) == 2  # shared out, Ctrl-C or not
        os.killpg(proc.pid, sig)
        box.release.set()
        out, err = proc.communicate(timeout=120)
    finally:
        box.release.set()
        proc.kill()
    assert proc.returncode == code, (out, err)
    assert "Traceback" not in err and err.count(said) == 1, err
    statuses = [st for _, st, *_ in digests(tmp_path)]
    assert "sending" not in statuses and statuses.count("sent") == len(box.messages) < SHARD_MIN
    assert err.splitlines()[-1].startswith(f"interrupted: {statuses.count('pending')} digests left pending"), err
    unreached = SHARD_MIN - len(statuses)  # (the parts no worker had taken yet: in no count, they were)
    assert out.splitlines()[-1] == (
        f"sent {len(box.messages)}, empty 0, failed 0, not due 0, left pending {statuses.count('pending')}"
        + (f", not reached {unreached}" if unreached else "")
    ), out

    r = cli("send", "--now", NOW)
    assert r.code == 0, r.err
    assert "was being sent" not in r.err
    assert sorted(box.recipients()) == sorted(f"user{i:02}@example.org" for i in range(SHARD_MIN))
    assert len({m.message_id for m in box.messages}) == SHARD_MIN


def test_dropped_connection_is_reopened(tmp_path, cli, smtp_server):
    smtp_server.mailbox.drop_after_each = True
    setup(tmp_path, smtp(smtp_server.port).replace("retries: 1", "retries: 0"), subscribers=many(4))
    r = cli("send", "--now", NOW)
    assert r.code == 0, r.err + r.out
    box = smtp_server.mailbox
    assert len(box.messages) == 4 and len({m.peer for m in box.messages}) == 4


# --------------------------------------------------------------------------- outbox, state, dry run


def test_an_outbox_disk_that_fills_up_stops_the_batch_and_loses_nothing(tmp_path, cli, pg_url):
    """A full disk under the outbox (a file size limit here: the state is in
    PostgreSQL, so only the .eml files are limited): the digest that did
    not fit fails, saying why, the rest stay pending, no half-written file
    or temporary file is left, and the next send writes each digest once."""
    import resource

    def limited() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))

    setup(tmp_path, "  transport: outbox\n  path: out", subscribers=many(4), extra=f"state: {pg_url}")
    full = subprocess.run([sys.executable, "-m", "newsletter", "send", "--now", NOW], cwd=tmp_path, env=command_env(),
                          capture_output=True, text=True, timeout=120, preexec_fn=limited)
    assert full.returncode == 1, full.stdout + full.stderr
    assert "Traceback" not in full.stderr
    assert re.search(r"^failed      user00@example\.org: out/[^ ]+\.eml: cannot write: File too large \(stays pending",
                     full.stdout, re.M), full.stdout
    assert full.stdout.strip().splitlines()[-1] == "sent 0, empty 0, failed 4, not due 0", full.stdout
    assert list((tmp_path / "out").iterdir()) == []
    assert {st for _, st, *_ in digests(pg_url)} == {"pending"}

    r = cli("send", "--now", "2024-05-06T09:10:00+00:00")  # past the failed one's back-off
    assert r.code == 0, r.err
    assert r.out.strip().splitlines()[-1] == "sent 4, empty 0, failed 0, not due 0", r.out
    assert len(list((tmp_path / "out").glob("*.eml"))) == 4 and len(list((tmp_path / "out").iterdir())) == 4


def test_an_outbox_folder_no_one_can_write_is_a_config_error_before_anything_is_claimed(tmp_path, cli):
    """An outbox folder read-only for this user (or immutable, or on a
    read-only mount): `validate` said OK and every send failed its first
    digest (exit 1, and a back-off counted against the digest), claiming
    it for nothing.  Both say so at `delivery.path`, exit 2, nothing recorded."""
    from conftest import unwritable

    setup(tmp_path, "  transport: outbox\n  path: out")
    (tmp_path / "out").mkdir()
    with unwritable(tmp_path / "out"):
        for command in ("validate", "send"):
            r = cli(command)
            assert r.code == 2 and "Traceback" not in r.err, r.out + r.err
            assert r.err.strip() == (
                "config.yaml:23: delivery.path: the outbox 'out' is not writable for this user: make it writable or "
                "point delivery.path elsewhere"
            ), r.err
    assert not (tmp_path / "newsletter-state.sqlite3").exists()  # nothing claimed, no slot used up
    r = cli("send", "--now", NOW)
    assert r.code == 0 and len(list((tmp_path / "out").glob("*.eml"))) == 2, r.out + r.err


def test_a_send_beside_a_config_in_a_folder_it_cannot_write_names_the_outbox_and_the_state_together(tmp_path, cli):
    """A config in a folder this user cannot write (a colleague's): `send`
    named the outbox, and once that was moved the next send named the state
    (`validate` named both).  Both at once, exit 2, nothing made; a dry run,
    which writes neither, still runs."""
    from conftest import unwritable

    setup(tmp_path, "  transport: outbox\n  path: out")
    with unwritable(tmp_path):
        r = cli("send", "--now", NOW)
        assert r.code == 2 and "Traceback" not in r.err, r.out + r.err
        assert r.err.splitlines() == [
            f"config.yaml:23: delivery.path: the outbox 'out' cannot be made: {str(tmp_path.resolve())!r} is not writable",
            f"newsletter-state.sqlite3: the state's folder {str(tmp_path.resolve())!r} is not writable for this user: "
            "SQLite keeps its journal files (-wal, -shm) beside the state file; make the folder writable or move "
            "`state:`",
        ], r.err
        assert cli("send", "--dry-run", "--now", NOW).code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml", "papers"]


def test_an_outbox_clears_what_a_killed_send_was_writing(tmp_path, cli):
    """`kill -9` while a message was being written left its temporary file
    (`.NAME.eml.XXXX.tmp`) in the outbox for ever, a few per killed run.  A
    send removes those an hour old; a fresh one may be another process's."""
    setup(tmp_path, "  transport: outbox\n  path: out")
    out = tmp_path / "out"
    out.mkdir()
    stale = out / ".20240505T090000Z-ada@example.org-1.2.3.digest@example.org.eml.k2j4h5g6.tmp"
    fresh = out / ".20240506T090000Z-bob@example.org-4.5.6.digest@example.org.eml.a1b2c3d4.tmp"
    for path in (stale, fresh):
        path.write_bytes(b"From: half a mess")
    os.utime(stale, (1_700_000_000, 1_700_000_000))  # 2023: long before this test
    r = cli("send", "--now", NOW)
    assert r.code == 0, r.err
    assert not stale.exists() and fresh.exists()
    assert len(list(out.glob("*.eml"))) == 2


def test_outbox_writes_parseable_eml_files(tmp_path, cli):
    setup(tmp_path, "  transport: outbox\n  path: out/box")
    r = cli("send", "--now", NOW)
    assert r.code == 0, r.err
    files = sorted((tmp_path / "out" / "box").iterdir())
    assert len(files) == 2
    rows = {s: mid for s, _, mid, *_ in digests(tmp_path)}
    for f in files:
        assert f.suffix == ".eml" and f.name.startswith("20240506T090000Z-")
        assert all(c.isalnum() or c in "._@+=-" for c in f.name)
        msg = email.message_from_bytes(f.read_bytes(), policy=email.policy.default)
        rcpt = msg["To"].addresses[0].addr_spec
        assert rcpt in f.name and msg["Message-ID"] == rows[rcpt]
        assert msg.get_content_type() == "multipart/alternative"
        assert b"\r\n" in f.read_bytes()
    assert not [p for p in (tmp_path / "out" / "box").iterdir() if p.name.startswith(".")]
    assert cli("send", "--now", NOW).out.strip().endswith("sent 1, empty 1, failed 0, not due 0")
    assert len(list((tmp_path / "out" / "box").iterdir())) == 3


def test_dry_run_and_match_never_write_the_state(tmp_path, cli):
    setup(tmp_path, "  transport: outbox")
    state = tmp_path / "newsletter-state.sqlite3"
    r = cli("send", "--dry-run", "--now", NOW)
    assert r.code == 0, r.err
    assert "would send  ada@example.org: 4 papers" in r.out and "would send  bob@example.org: 3 papers" in r.out
    assert r.out.strip().endswith("dry run: would send 2, empty 0, not due 0 (nothing sent or recorded)")
    # only the cache: the config as read, the templates' and the patterns' compiled code, as any command that
    # renders keeps them
    assert sorted(p.name for p in tmp_path.iterdir()) == [".cache", "config.yaml", "papers"]
    assert sorted(p.name for p in (tmp_path / ".cache").iterdir()) == ["config", "patterns", "templates"]
    assert cli("match").code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [".cache", "config.yaml", "papers"]
    assert not state.exists()

    assert cli("send", "--now", NOW).code == 0
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in tmp_path.iterdir() if p.is_file()}
    r = cli("match", "--json")
    assert r.code == 0, r.err
    import json

    subs = {s["email"]: s["papers"] for s in json.loads(r.out)["subscribers"]}
    assert subs["ada@example.org"] == [] and len(subs["bob@example.org"]) == 3  # sent papers excluded
    r = cli("send", "--dry-run", "--now", NOW)
    assert "would send  bob@example.org: 3 papers" in r.out and "empty       ada@example.org" in r.out
    after = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in tmp_path.iterdir() if p.is_file()}
    assert after == before


def test_schedule_waits_for_first_slot_then_sends_once_per_slot(tmp_path, cli, store):
    setup(
        tmp_path,
        "  transport: outbox",
        subscribers="\n  - email: ada@example.org\n    topics: [diffusion]\n    schedule: daily at 08:00",
        extra=store.line,
    )
    r = cli("send", "--now", "2024-05-06T09:00:00+00:00")
    assert r.code == 0 and "not due 1" in r.out
    assert "not due     ada@example.org: next digest at 2024-05-07 08:00 UTC" in r.out  # when, in its zone
    # the very first send (a new state file) says why nothing came, and how to see a digest now
    first = ("nothing sent yet: a new subscriber on a schedule waits for its first slot (the first digest goes out at "
             "2024-05-07 08:00 UTC); `newsletter test-email --to ADDRESS` sends one now")
    assert r.err.splitlines() == ([first] if not store.line else []), r.err
    r = cli("send", "--now", "2024-05-07T07:59:00+00:00")
    assert r.out.strip().endswith("not due 1") and "nothing sent yet" not in r.err, r.err  # said once, not every run
    r = cli("send", "--now", "2024-05-07T08:01:00+00:00")
    assert "sent 1," in r.out
    assert "not due 1" in cli("send", "--now", "2024-05-07T12:00:00+00:00").out
    # next slot, nothing new: empty, and the slot is settled (not due again until the next one)
    assert "empty 1" in cli("send", "--now", "2024-05-08T08:00:00+00:00").out
    assert "not due 1" in cli("send", "--now", "2024-05-08T09:00:00+00:00").out
    [(first, last)] = query(_target(store.where), "SELECT first_seen, last_sent FROM subscribers")
    assert str(first).replace(" ", "T").startswith("2024-05-06T09:00") and str(last).replace(" ", "T").startswith("2024-05-07T08:01")


def test_send_empty_sends_a_no_papers_email(tmp_path, cli):
    setup(
        tmp_path,
        "  transport: outbox",
        subscribers="\n  - email: ada@example.org\n    topics: [optim]\n    send_empty: true"
        "\n  - email: bob@example.org\n    topics: [optim]",
    )
    assert cli("send", "--now", NOW).code == 0
    r = cli("send", "--now", NOW)
    assert r.code == 0, r.err
    assert "sent        ada@example.org: 0 papers" in r.out
    assert "empty       bob@example.org: nothing new for them: no email" in r.out.splitlines()
    assert len(list((tmp_path / "outbox").glob("*ada@example.org*.eml"))) == 2


def test_state_from_a_newer_version_or_not_a_database_is_a_clear_error(tmp_path, cli):
    setup(tmp_path, "  transport: outbox")
    state = tmp_path / "newsletter-state.sqlite3"
    assert cli("send", "--now", NOW).code == 0
    with sqlite3.connect(state) as con:
        con.execute("PRAGMA user_version = 99")
    for args in (("send", "--now", NOW), ("match",)):
        r = cli(*args)
        assert r.code == 2
        assert r.err.strip() == (
            "newsletter-state.sqlite3: the state was written by a newer Paper Digest (schema version 99; "
            f"this version knows up to {SCHEMA_VERSION}); upgrade paper-digest-mailer or use another state file"
        )
    state.write_bytes(b"this is not sqlite" * 100)
    r = cli("send", "--now", NOW)
    assert r.code == 2 and "not a SQLite database" in r.err and "Traceback" not in r.err
    # a folder, or a device, where the state goes (was "unable to open database file", "disk I/O error")
    for where in (tmp_path / "state-folder", Path("/dev/null")):
        (tmp_path / "state-folder").mkdir(exist_ok=True)
        write_config(tmp_path, (tmp_path / "config.yaml").read_text().split("\nstate:")[0] + f"\nstate: {where}\n")
        for args in (("send", "--now", NOW), ("match",)):
            r = cli(*args)
            assert r.code == 2 and "Traceback" not in r.err, r.err
            kind = "a folder" if where.is_dir() else "not a regular file"
            assert r.err.strip() == f"{where}: the state is {kind}, not a SQLite file (see `state:` in the config)"
    assert not list((tmp_path / "outbox").glob("*")) or len(list((tmp_path / "outbox").glob("*"))) == 2


def test_shipped_config_send_leaves_eml_files_in_outbox(tmp_path, cli):
    import shutil

    shutil.copy(ROOT / "config.yaml", tmp_path / "config.yaml")
    shutil.copytree(ROOT / "samples", tmp_path / "samples")
    r = cli("send")
    assert r.code == 0, r.err
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 3
    assert r.out.strip().endswith("sent 3, empty 0, failed 0, not due 0")
    # the quick start's "sent ada@example.org" read as mail gone out: the first send says where it went
    assert r.err.strip().splitlines()[-1] == (
        "outbox: 3 digests written as .eml files to outbox (open one in a mail client); "
        "nothing was mailed: `transport: smtp` under delivery: mails them")
    (tmp_path / "samples" / "papers" / "more.txt").write_text(
        (ROOT / "tests" / "data" / "hf-papers-overlap.txt").read_text(encoding="utf-8"), encoding="utf-8")
    r = cli("send")
    assert r.code == 0 and "sent 0," not in r.out, r.out + r.err
    assert "outbox:" not in r.err  # once, when it makes the folder: no line in every cron mail


def test_a_ci_job_that_makes_the_state_is_told_to_keep_it(tmp_path, cli):
    """A GitHub Actions job starts from a fresh checkout: without the state of
    the job before, a subscriber on a schedule is new at every run and never
    due ("not due", nothing sent, every day), and nothing said why."""
    setup(tmp_path, "  transport: outbox", extra="schedule: daily at 08:00")
    ci = {"GITHUB_ACTIONS": "true", "CI": "true"}
    for _ in range(2):  # each job without the last one's file
        (tmp_path / "newsletter-state.sqlite3").unlink(missing_ok=True)
        r = cli("send", "--now", NOW, env=ci)
        assert r.code == 0 and "not due     ada@example.org" in r.out, r.out + r.err
        assert r.err.strip().splitlines()[-1] == (
            "note: this send made a new state, newsletter-state.sqlite3 ($GITHUB_ACTIONS is set: a CI job?); "
            "it records what went to whom. A job that starts without it sends the same papers again, and "
            "subscribers on a schedule, new again, wait for their first slot at every run and get nothing: "
            'keep the file between runs (README "From GitHub Actions")')
    r = cli("send", "--now", NOW, env=ci)  # the file kept: nothing to say
    assert r.code == 0 and "note:" not in r.err, r.err
    (tmp_path / "newsletter-state.sqlite3").unlink()
    r = cli("send", "--now", NOW, env={"CI": "false"})  # no CI job: a first send as README shows it
    assert r.code == 0 and "note:" not in r.err, r.err
    (tmp_path / "newsletter-state.sqlite3").unlink()
    r = cli("send", "--now", NOW, "--dry-run", env=ci)  # a dry run makes no state
    assert r.code == 0 and "note:" not in r.err and not (tmp_path / "newsletter-state.sqlite3").exists(), r.err


def test_send_one_subscriber_as_json(tmp_path, cli):
    import json

    setup(tmp_path, "  transport: outbox")
    r = cli("send", "--subscriber", "BOB@example.org", "--json", "--now", NOW)
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert (data["sent"], data["empty"], data["failed"], data["not_due"]) == (1, 0, 0, 0)
    [d] = data["digests"]
    assert (d["email"], d["status"], d["papers"]) == ("bob@example.org", "sent", 3) and d["message_id"].startswith("<")
    assert [s for s, *_ in digests(tmp_path)] == ["bob@example.org"]
    r = cli("send", "--subscriber", "nobody@example.org", "--now", NOW)
    assert r.code == 2 and "no subscriber 'nobody@example.org'" in r.err
    r = cli("send", "--now", "yesterday")
    assert r.code == 2 and "not an ISO 8601 time" in r.err


def test_send_now_without_an_offset_is_refused_with_the_two_times_it_may_mean(tmp_path, cli):
    """`send --now 2024-05-06T08:00` was read as UTC: a backfill meant at 08:00
    in the config's zone ran two hours off in Berlin, and a schedule's slot
    was taken as passed or not with no word.  Refused, nothing recorded,
    with both spellings; with an offset (or Z) it runs."""
    setup(tmp_path, "  transport: outbox", extra="timezone: Europe/Berlin")
    r = cli("send", "--now", "2024-05-06T08:00")
    assert r.code == 2 and r.err.splitlines()[-1] == (
        "Error: Invalid value for '--now': 2024-05-06T08:00:00 has no UTC offset: write 2024-05-06T08:00:00+02:00 "
        "for 08:00 in Europe/Berlin (the config's timezone), or 2024-05-06T08:00:00+00:00 for UTC"), r.err
    assert not (tmp_path / "newsletter-state.sqlite3").exists()
    r = cli("send", "--now", "2024-05-06T08:00Z")
    assert r.code == 0 and "sent 2," in r.out, r.out + r.err


def test_big_send_is_shared_by_processes_and_each_digest_goes_once(tmp_path, cli, smtp_server, store):
    """At SHARD_MIN subscribers and more, send forks one process per core (at most
    one per SMTP connection); every digest still goes exactly once and is recorded."""
    from newsletter.sending import SHARD_MIN

    setup(tmp_path, smtp(smtp_server.port, "  connections: 2"), subscribers=many(SHARD_MIN), extra=store.line)
    r = cli("send")
    assert r.code == 0, r.err
    assert r.out.strip().splitlines()[-1] == f"sent {SHARD_MIN}, empty 0, failed 0, not due 0"
    box = smtp_server.mailbox
    assert sorted(box.recipients()) == sorted(f"user{i:02}@example.org" for i in range(SHARD_MIN))
    rows = digests(store.where)
    assert len(rows) == SHARD_MIN and {status for _, status, *_ in rows} == {"sent"}
    assert {m.message_id for m in box.messages} == {message_id for _, _, message_id, *_ in rows}
    if len(os.sched_getaffinity(0)) >= 2:
        pids = {m.message_id.split(".")[1] for m in box.messages}  # make_msgid puts the pid there
        assert len(pids) == 2
    assert cli("send").out.strip().splitlines()[-1].startswith("sent 0,")


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue  # gone meanwhile
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def test_big_send_stops_when_its_parent_is_killed(tmp_path, cli, smtp_server, store):
    """The parent records what its send workers deliver. Killed (SIGKILL), its
    workers stop at their next delivery instead of sending on with nobody to
    record it; the next run sends the rest, repeating only digests that were
    in flight, with their Message-IDs."""
    import select

    from newsletter.sending import SHARD_MIN, UNRECORDED_MOST

    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one core: send forks no workers")
    box = smtp_server.mailbox
    box.block_at = 40
    setup(tmp_path, smtp(smtp_server.port, "  connections: 2"), subscribers=many(SHARD_MIN), extra=store.line)
    proc = start_newsletter("send", "--now", NOW, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert box.blocked.wait(60), "the 40th message never arrived"
        workers = [os.pidfd_open(pid) for pid in _children(proc.pid)]
        assert len(workers) == 2
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        at_kill = len(box.messages)
    finally:
        box.release.set()
    try:
        waiting = list(workers)
        while waiting:  # each worker ends on its own, without a parent to wait for it
            # Only a hang is caught here: a worker that sent on is caught by the
            # count of messages below.  Niced (WORKER_NICENESS) on a machine running
            # four suites, a worker took over 60 s to end, so the bound is generous.
            ended, _, _ = select.select(waiting, [], [], 300)
            assert ended, "a send worker never ended after its parent was killed"
            waiting = [fd for fd in waiting if fd not in ended]
    finally:
        for fd in workers:
            os.close(fd)
    # Each worker's connection ends with what it had in flight (one message, and
    # the next one's commands), not with the rest of the list.
    assert len(box.messages) - at_kill <= 4 and len(box.messages) < SHARD_MIN
    sending = {s for s, status, *_ in digests(store.where) if status == "sending"}
    unrecorded = sending & set(box.recipients())  # delivered, not (yet) recorded as sent
    # Recorded as they arrived: what the parent had not recorded when it was
    # killed is at least the message whose reply the server held back, and at
    # most UNRECORDED_MOST per worker (how many depends on the machine's load:
    # on a loaded one the parent, writing to PostgreSQL, lagged 30 of 42).
    assert box.messages[39].rcpt_tos[0] in unrecorded and len(unrecorded) <= 2 * UNRECORDED_MOST

    r = cli("send", "--now", NOW)
    assert r.code == 0, r.err
    assert "being sent when an earlier run" in r.err  # one line each, or one for the run past 5
    everyone = [f"user{i:02}@example.org" for i in range(SHARD_MIN)]
    assert set(box.recipients()) == set(everyone)
    ids: dict[str, set[str]] = {}
    for m in box.messages:
        ids.setdefault(m.rcpt_tos[0], set()).add(m.message_id)
    assert all(len(found) == 1 for found in ids.values())  # a repeat has the first one's Message-ID
    repeated = {r for r in box.recipients() if box.recipients().count(r) > 1}
    assert repeated == unrecorded  # nothing recorded as sent went out again
    rows = digests(store.where)
    assert len(rows) == SHARD_MIN and {status for _, status, *_ in rows} == {"sent"}


def test_a_send_worker_waits_for_the_parent_to_record_its_deliveries():
    """At most UNRECORDED_MOST deliveries a worker has told of and the parent
    has not recorded; with its parent gone, waiting is an error, not a hang."""
    import multiprocessing

    from newsletter.errors import StateError
    from newsletter.sending import UNRECORDED_MOST, _Relay

    ctx = multiprocessing.get_context("fork")
    reader, writer = ctx.Pipe(duplex=False)
    relay = _Relay(writer, ctx.Semaphore(UNRECORDED_MOST), os.getppid())
    for _ in range(UNRECORDED_MOST):
        relay.wait_for_room()  # room at once
    assert not relay.window.acquire(block=False)  # the next one waits...
    relay.window.release()  # ...until the parent records one
    relay.wait_for_room()
    orphan = _Relay(writer, ctx.Semaphore(0), parent=os.getpid())  # "my parent" is not os.getppid()
    with pytest.raises(StateError, match="parent process is gone"):
        orphan.wait_for_room()


def test_send_workers_take_a_small_part_each_first_then_bigger_ones():
    """Each send worker's first part is CLAIM_BATCH subscribers (the first
    messages go out early), the parts after it CLAIM_BATCH_LATER (a third as
    many claims, each holding the state's write lock through its fsync), and
    CLAIM_BATCH again near the end (the workers finish together); between
    them the workers take every subscriber once, in order."""
    import multiprocessing

    from newsletter.sending import CLAIM_BATCH, CLAIM_BATCH_LATER, _parts_taken

    ctx = multiprocessing.get_context("fork")
    subs = list(range(1000))
    taken = ctx.Value("l", 0)
    one, two = _parts_taken(subs, taken, 2), _parts_taken(subs, taken, 2)  # two workers, taking in turn
    parts = []
    for worker in [one, two] * 40:
        part = next(worker, None)
        if part is not None:
            parts.append(part)
    sizes = [len(p) for p in parts]
    assert sizes[:2] == [CLAIM_BATCH, CLAIM_BATCH] and CLAIM_BATCH_LATER > CLAIM_BATCH
    big = sizes.index(CLAIM_BATCH_LATER)
    small = big + sizes[big:].index(CLAIM_BATCH)
    assert big == 2 and set(sizes[big:small]) == {CLAIM_BATCH_LATER} and set(sizes[small:-1]) == {CLAIM_BATCH}
    assert len(subs) - sum(sizes[:small]) < 2 * CLAIM_BATCH_LATER  # small again once too few are left for a big one each
    assert [s for p in parts for s in p] == subs
    assert next(one, None) is None and next(two, None) is None


def test_the_parent_hears_its_workers_through_one_poller():
    """The parent of send workers polls their pipes with one poller for the
    whole send: it is told which pipe has news (or closed), whether more is
    waiting on one, and stops polling a pipe whose worker said its last word."""
    import multiprocessing

    from newsletter.sending import _Listening

    ctx = multiprocessing.get_context("fork")
    (r1, w1), (r2, w2) = ctx.Pipe(duplex=False), ctx.Pipe(duplex=False)
    listening = _Listening([r1, r2])
    assert listening.ready(0) == []
    w2.send(("delivered", 1, []))
    w2.send(("delivered", 2, []))
    assert listening.ready(1.0) == [r2]
    assert r2.recv()[1] == 1 and listening.more(r2)
    assert r2.recv()[1] == 2 and not listening.more(r2)
    w1.close()  # a worker gone: its pipe reads as ready (EOF) ...
    assert listening.ready(1.0) == [r1] and listening.more(r1)
    listening.forget(r1)  # ... until its last word is taken
    assert listening.ready(0) == []
    w2.close()


def test_a_send_worker_killed_mid_send_is_reported_with_the_summary(tmp_path, smtp_server, cli):
    """The other worker finishes; the summary and the JSON report still come,
    with the dead worker named (killed by SIGKILL), exit 1; nothing is lost."""
    import select

    from newsletter.sending import SHARD_MIN

    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one core: send forks no workers")
    box = smtp_server.mailbox
    box.block_at = 20
    setup(tmp_path, smtp(smtp_server.port, "  connections: 2"), subscribers=many(SHARD_MIN))
    out, err = tmp_path / "out.json", tmp_path / "err.txt"
    with out.open("w") as o, err.open("w") as e:
        proc = start_newsletter("send", "--json", "--now", NOW, cwd=tmp_path, stdout=o, stderr=e)
    try:
        assert box.blocked.wait(60), "the 20th message never arrived"
        victim = _children(proc.pid)[0]
        pidfd = os.pidfd_open(victim)
        os.kill(victim, signal.SIGKILL)
        select.select([pidfd], [], [], 60)
        os.close(pidfd)
    finally:
        box.release.set()
    assert proc.wait(timeout=120) == 1
    report = json.loads(out.read_text())
    assert report["sent"] > 0 and len(report["digests"]) == report["sent"] + report["failed"] + report["empty"]
    [problem] = report["problems"]
    assert "killed by SIGKILL" in problem and "stay 'sending' until the next send takes them back" in problem
    assert problem in err.read_text() and "Traceback" not in err.read_text()
    r = cli("send", "--now", NOW)
    assert r.code == 0, r.err
    assert set(box.recipients()) == {f"user{i:02}@example.org" for i in range(SHARD_MIN)}


def test_a_big_send_uses_every_configured_connection(tmp_path, cli, smtp_server):
    """connections: 3 on two workers: one gets two sessions, the other one."""
    from newsletter.sending import SHARD_MIN

    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one core: send forks no workers")
    setup(tmp_path, smtp(smtp_server.port, "  connections: 3"), subscribers=many(SHARD_MIN))
    r = cli("send", "--now", NOW)
    assert r.code == 0, r.err
    box = smtp_server.mailbox
    assert len(box.messages) == SHARD_MIN
    assert len({m.peer for m in box.messages}) == 3


def test_a_big_send_worker_the_server_turns_away_leaves_the_rest_to_the_others(tmp_path, cli, smtp_server):
    """A server that takes one connection at a time, and a big send on several
    workers: a worker whose sessions are all turned away claims one part (it
    waits for its first try before claiming more), then leaves the rest to the
    worker that got in (it went on claiming parts only to report them not
    attempted).  The next run sends what is left, each digest once."""
    from newsletter.sending import CLAIM_BATCH, SHARD_MIN

    shards = min(len(os.sched_getaffinity(0)), 4)  # one per core, at most one per connection
    box = smtp_server.mailbox
    box.max_sessions = 1
    setup(tmp_path, smtp(smtp_server.port, "  connections: 4").replace("retries: 1", "retries: 0"),
          subscribers=many(SHARD_MIN))
    r = cli("send", "--now", NOW)
    sent = int(r.out.strip().splitlines()[-1].split(",")[0].removeprefix("sent "))
    assert sent >= SHARD_MIN - CLAIM_BATCH * (shards - 1), r.out[-300:] + r.err[-300:]
    assert len(box.messages) == sent and "Traceback" not in r.err
    r = cli("send", "--now", (datetime.fromisoformat(NOW) + timedelta(minutes=5)).isoformat())
    assert r.code == 0, r.out[-300:] + r.err[-300:]
    assert box.recipients() == sorted(f"user{i:02}@example.org" for i in range(SHARD_MIN))  # each once


# --------------------------------------------------------------------------- a hung server (issue 17)


def test_a_server_that_never_answers_data_stops_the_batch(tmp_path, cli, smtp_server):
    """After a DATA timeout the outcome is unknown: that digest is not resent
    in this run, the batch stops, the rest stays pending, the error says
    "timed out", and 30 subscribers end well within a minute."""
    import time

    box = smtp_server.mailbox
    box.hang_data = True
    delivery = f"""  transport: smtp
  host: 127.0.0.1
  port: {smtp_server.port}
  security: none
  timeout: 2
  verdict_timeout: 2
  retries: 3
  retry_delay: 0.5
"""
    setup(tmp_path, delivery, subscribers=many(30))
    started = time.monotonic()
    r = cli("send", "--now", NOW)
    elapsed = time.monotonic() - started
    assert r.code == 1, r.err
    assert elapsed < 60
    assert box.data_count <= 3, box.data_count
    assert "timed out" in r.out and "closed the connection" not in r.out + r.err
    assert "Traceback" not in r.err
    rows = digests(tmp_path)
    assert not any(status == "sent" for _, status, *_ in rows)
    # nothing is lost: the next run after the back-off, with the server answering, sends every digest once
    box.hang_data = False
    r = cli("send", "--now", (datetime.fromisoformat(NOW) + timedelta(minutes=5)).isoformat())
    assert r.code == 0, r.out + r.err
    assert box.recipients() == [f"user{i:02}@example.org" for i in range(30)]


# --------------------------------------------------------------------------- one subscriber cannot sink the run (issue 17)


@pytest.mark.parametrize("where", ["subject", "html template"])
def test_a_template_failing_for_one_subscriber_fails_only_that_digest(tmp_path, cli, where):
    """The template divides by (len(name) - 3), or by (topics - 2): it fails for Bob alone;
    Bob's digest is named as failed (exit 1), Ada's goes out, and Bob's is
    not recorded, so it is composed again at the next run."""
    subscribers = """
  - email: ada@example.org
    name: Ada Lovelace
    topics: [diffusion]
  - email: bob@example.org
    name: Bob
    topics: [diffusion, optim]
"""
    if where == "subject":
        extra = 'email:\n  subject: "{{ 60 // (name | length - 3) }} papers for you"\n'
        config = setup(tmp_path, "  transport: outbox", subscribers=subscribers)
        config.write_text(config.read_text().replace('email:\n  from: "Paper Digest <digest@example.org>"\n', extra))
    else:
        folder = tmp_path / "templates"
        folder.mkdir()
        html = (ROOT / "templates" / "digest.html").read_text(encoding="utf-8")
        (folder / "digest.html").write_text(html.replace("</body>", "{{ 1 // (subscriber_topics | length - 2) }}</body>"), encoding="utf-8")
        setup(tmp_path, "  transport: outbox", subscribers=subscribers, extra="templates: templates/")
    r = cli("send", "--now", NOW)
    assert r.code == 1, r.out + r.err
    assert "Traceback" not in r.err
    assert "sent 1, empty 0, failed 1" in r.out
    failed = [line for line in r.out.splitlines() if line.startswith("failed")]
    assert len(failed) == 1 and "bob@example.org" in failed[0] and "integer division or modulo by zero" in failed[0]
    [eml] = (tmp_path / "outbox").glob("*.eml")
    assert "ada@example.org" in eml.name
    assert [email_ for email_, status, *_ in digests(tmp_path)] == ["ada@example.org"]


@pytest.mark.parametrize("failing_first", [True, False])
def test_a_template_broken_for_everyone_is_one_error_and_nothing_is_claimed(tmp_path, cli, failing_first):
    """A typo in the HTML template fails every digest: `send` says so in one
    FILE:LINE line and exits 2, with nothing claimed or written; a template
    failing for the first subscriber alone does not stop the others."""
    folder = tmp_path / "templates"
    folder.mkdir()
    html = (ROOT / "templates" / "digest.html").read_text(encoding="utf-8")
    if failing_first:  # Bob first, and only Bob's data fails
        broken = html.replace("</body>", "{{ 1 // (subscriber_topics | length - 2) }}</body>")
        subscribers = """
  - email: bob@example.org
    topics: [diffusion, optim]
  - email: ada@example.org
    topics: [diffusion]
"""
    else:
        assert "{{ p.title_html }}" in html
        broken = html.replace("{{ p.title_html }}", "{{ p.titel_html }}")
        subscribers = None
    (folder / "digest.html").write_text(broken, encoding="utf-8")
    setup(tmp_path, "  transport: outbox", subscribers=subscribers, extra="templates: templates/")
    r = cli("send", "--now", NOW)
    if failing_first:
        assert r.code == 1 and "sent 1, empty 0, failed 1" in r.out, r.out + r.err
        return
    assert r.code == 2 and r.out == "", r.out
    [line] = r.err.strip().splitlines()
    assert line.startswith("templates/digest.html:") and "titel_html" in line
    assert not (tmp_path / "outbox").exists() or not list((tmp_path / "outbox").iterdir())
    assert digests(tmp_path) == []


def test_send_now_ahead_of_the_clock_is_refused_unless_dry_run(tmp_path, cli):
    """A send "at" 2099 would record last_sent in 2099 and silently stop every
    scheduled digest until then."""
    setup(tmp_path, "  transport: outbox")
    r = cli("send", "--now", "2099-01-01T08:00:00+00:00")
    assert r.code == 2
    assert "'--now': 2099-01-01T08:00:00+00:00 is ahead of this machine's clock" in r.err
    assert "Traceback" not in r.err
    assert not (tmp_path / "newsletter-state.sqlite3").exists() or digests(tmp_path) == []
    assert not (tmp_path / "outbox").exists() or not list((tmp_path / "outbox").iterdir())
    r = cli("send", "--dry-run", "--now", "2099-01-01T08:00:00+00:00")
    assert r.code == 0, r.err
    assert "dry run: would send 2" in r.out


def test_a_last_digest_recorded_after_the_clock_is_due_at_once_and_said(tmp_path, cli):
    """A machine whose clock was ahead (a bad RTC, a VM restored) recorded a
    digest "in the future"; once the clock was right, the subscriber waited
    for the first slot after that (a week here, a year for a clock a year
    ahead), and nothing said so.  It is due at once, and its slots go on from there."""
    daily = "\n  - email: ada@example.org\n    topics: [diffusion]\n    schedule: daily at 08:00\n"
    setup(tmp_path, "  transport: outbox", subscribers=daily)
    assert cli("send", "--now", "2024-05-01T06:00:00+00:00").code == 0  # first seen
    assert "sent 1" in cli("send", "--now", "2024-05-09T08:30:00+00:00").out  # the clock a week ahead
    r = cli("send", "--now", "2024-05-02T08:30:00+00:00")  # the clock put right
    assert r.code == 0 and r.out.strip().endswith("not due 0"), r.out  # due (empty: its papers all went out)
    assert r.err.splitlines()[0] == (
        "warning: ada@example.org: its last digest is recorded at 2024-05-09 08:30 UTC, over a day after this "
        "machine's clock (2024-05-02 08:30 UTC); it is due now, and its slots go on from there (was the clock ahead then?)"
    )
    r = cli("send", "--now", "2024-05-02T09:00:00+00:00")  # once: then by its schedule again
    assert r.code == 0 and "not due 1" in r.out and "warning" not in r.err, r.err
    assert "next digest at 2024-05-03 08:00" in r.out


def test_a_failed_digest_whose_retry_was_set_by_a_clock_ahead_is_tried_at_once_and_said(tmp_path, cli, smtp_server):
    """A delivery failed on a machine whose clock was a month ahead: its
    back-off (5 minutes) ran to a time a month away, and once the clock was
    right the digest sat `waiting` for that month.  No back-off is longer
    than a day, so a retry time further off than that is the clock's doing:
    it is tried now, and said."""
    box = smtp_server.mailbox
    box.data_replies = ["451 4.3.0 Try again later"] * 2  # both tries of the run
    setup(tmp_path, smtp(smtp_server.port), subscribers="\n  - email: ada@example.org\n    topics: [diffusion]")
    r = cli("send", "--now", "2024-06-06T09:00:00+00:00")  # the clock a month ahead
    assert r.code == 1 and "retried from 2024-06-06 09:05 UTC" in r.out, r.out
    r = cli("schedule", "--now", NOW, "--json")
    [row] = json.loads(r.out)["subscribers"]
    assert row["due"] is True and row["retry_at"] is None, row
    r = cli("send", "--now", NOW)  # the clock put right
    assert r.code == 0 and r.out.strip().endswith("sent 1, empty 0, failed 0, not due 0"), r.out
    assert r.err.splitlines()[0] == (
        "warning: ada@example.org: its failed digest is to be retried from 2024-06-06 09:05 UTC, 31 days after "
        "this machine's clock (2024-05-06 09:00 UTC), longer than its back-off (5 minutes); it is tried now (was "
        "the clock ahead then?)"
    ), r.err
    assert len(box.messages) == 1


def test_a_state_cut_to_nothing_is_refused_by_every_command_and_nothing_is_sent_again(tmp_path, cli):
    """A state truncated to 0 bytes (a full disk, a bad copy, `> state.db`)
    was taken as a new state: every subscriber got its papers again.  Every
    command that reads the state now stops at it, one line, exit 2, and the
    file is left for the user to restore."""
    setup(tmp_path, "  transport: outbox")
    assert cli("send", "--now", NOW).code == 0
    outbox = sorted((tmp_path / "outbox").iterdir())
    assert len(outbox) == 2
    state = tmp_path / "newsletter-state.sqlite3"
    state.write_bytes(b"")
    said = (
        "newsletter-state.sqlite3: the state file is empty (0 bytes), not a Paper Digest state (one is never left "
        "empty: this one was cut short by a full disk, a bad copy or `> newsletter-state.sqlite3`, or made by hand); "
        "restore it from a backup, or remove it to start a new state (every subscriber then gets again the papers it "
        "was sent)"
    )
    for command in (["send"], ["match"], ["schedule"], ["history"], ["validate"], ["unsubscribe", "ada@example.org"]):
        r = cli(*command, "--now", NOW) if command == ["send"] else cli(*command)
        assert r.code == 2, (command, r.out, r.err)
        assert [line for line in r.err.splitlines() if said in line] != [], (command, r.err)
        assert "Traceback" not in r.err
    assert sorted((tmp_path / "outbox").iterdir()) == outbox and state.stat().st_size == 0


def test_a_back_off_set_before_the_clock_went_back_less_than_a_day_waits_no_longer_than_itself(
    tmp_path, cli, smtp_server
):
    """A delivery failed, then the clock was put back 12 hours (a wrong time
    zone fixed, a VM restored): the digest's 5-minute back-off ran to a time
    12 hours off, and it sat `waiting` those 12 hours.  A retry time further
    off than the digest's own back-off is the clock's doing: tried now, and said.
    A back-off the clock did not move still holds, to its end."""
    box = smtp_server.mailbox
    box.data_replies = ["451 4.3.0 Try again later"] * 4  # both tries of two runs
    setup(tmp_path, smtp(smtp_server.port), subscribers="\n  - email: ada@example.org\n    topics: [diffusion]")
    assert "retried from 2024-05-06 09:05 UTC" in cli("send", "--now", NOW).out
    r = cli("send", "--now", "2024-05-06T09:04:59+00:00")  # the clock right: the back-off holds
    assert r.code == 0 and "waiting" in r.out and r.err == "", r.out + r.err
    r = cli("send", "--now", "2024-05-06T09:05:00+00:00")  # the second failure: 10 minutes
    assert r.code == 1 and "retried from 2024-05-06 09:15 UTC" in r.out, r.out
    r = cli("schedule", "--now", "2024-05-06T09:05:30+00:00", "--json")
    [row] = json.loads(r.out)["subscribers"]
    assert row["retry_at"] == "2024-05-06T09:15:00+00:00" and row["due"] is False, row
    back = "2024-05-05T21:05:00+00:00"  # the clock put back 12 hours
    r = cli("schedule", "--now", back, "--json")
    [row] = json.loads(r.out)["subscribers"]
    assert row["due"] is True and row["retry_at"] is None, row
    r = cli("send", "--now", back)
    assert r.code == 0 and r.out.strip().endswith("sent 1, empty 0, failed 0, not due 0"), r.out
    assert r.err.splitlines() == [
        "warning: ada@example.org: its failed digest is to be retried from 2024-05-06 09:15 UTC, 12 hours after "
        "this machine's clock (2024-05-05 21:05 UTC), longer than its back-off (10 minutes); it is tried now (was "
        "the clock ahead then?)"
    ], r.err
    assert len(box.messages) == 1


def test_a_clock_set_back_less_than_a_day_never_sends_twice_that_day(tmp_path, cli):
    daily = "\n  - email: ada@example.org\n    topics: [diffusion]\n    schedule: daily at 08:00\n"
    setup(tmp_path, "  transport: outbox", subscribers=daily)
    assert cli("send", "--now", "2024-05-01T06:00:00+00:00").code == 0
    assert "sent 1" in cli("send", "--now", "2024-05-02T08:00:30+00:00").out
    r = cli("send", "--now", "2024-05-02T08:00:10+00:00")  # the clock stepped back 20 s, or hours
    assert "not due 1" in r.out and r.err == "", r.err
    assert "not due 1" in cli("send", "--now", "2024-05-01T23:00:00+00:00").out


# --------------------------------------------------------------------------- source outages


OUTAGE = """
sources:
  - type: arxiv
    name: arXiv ML
    categories: [cs.LG]
    url: {base}/api/query
  - type: feed
    name: reading group
    url: {base}/feed.xml
topics:
  diffusion:
    name: Diffusion models
    any: ["diffusion model*"]
subscribers:
  - email: ada@example.org
    topics: [diffusion]
    schedule: weekly on monday at 08:00
delivery:
{delivery}
http: {{retries: 0, fresh_for: 0}}
"""


def _sources_up(http_server) -> None:
    from recorded_http import recorded

    http_server.route("/api/query", recorded("arxiv-api.xml"))
    http_server.route("/feed.xml", recorded("feed-rss2.xml"))


def _sources_down(http_server) -> None:
    from recorded_http import Reply

    http_server.route("/api/query", Reply(503, b"down for maintenance"))
    http_server.route("/feed.xml", Reply(200, b"<rss><channel><item><title>cut off"))


def test_every_source_failing_sends_nothing_exits_2_and_keeps_the_slot(tmp_path, cli, smtp_server, http_server):
    write_config(tmp_path, OUTAGE.format(base=http_server.url(), delivery=smtp(smtp_server.port)))
    _sources_up(http_server)
    assert cli("send", "--now", "2024-05-01T12:00:00+00:00").code == 0  # ada first seen; her slot is Monday 08:00
    with db(tmp_path) as con:
        before = con.execute("SELECT * FROM subscribers").fetchall()

    _sources_down(http_server)  # at her slot, both sources fail
    r = cli("send", "--now", "2024-05-06T08:05:00+00:00")
    assert r.code == 2
    lines = r.err.strip().splitlines()
    assert lines[0].startswith(f"{http_server.url('/api/query')}?search_query=cat%3Acs.LG")
    assert lines[0].endswith("source 'arXiv ML': HTTP 503 Service Unavailable")
    assert lines[1].startswith(f"{http_server.url('/feed.xml')}:") and "source 'reading group'" in lines[1]
    assert lines[2] == (
        "every source failed (2 of 2); no papers were read: nothing sent; "
        "due digests go out at the next run that reads the sources"
    )
    assert len(lines) == 3 and r.out == "" and "Traceback" not in r.err
    assert smtp_server.mailbox.messages == []
    with db(tmp_path) as con:
        assert con.execute("SELECT * FROM subscribers").fetchall() == before  # the slot is not used up
        assert con.execute("SELECT count(*) FROM digests").fetchone()[0] == 0

    _sources_up(http_server)  # an hour later the sources are back: her digest goes out
    r = cli("send", "--now", "2024-05-06T09:05:00+00:00")
    assert r.code == 0, r.err
    assert "sent 1, empty 0, failed 0, not due 0" in r.out
    assert smtp_server.mailbox.recipients() == ["ada@example.org"]


def test_nobody_due_reads_no_source_and_says_so(tmp_path, cli, smtp_server, http_server):
    """A send with no digest due (a cron line every 10 minutes) read every
    source and ranked every paper, then said "not due 1".  Subscribers all
    daily (the shipped config): the sources are not asked at all, and it
    says so.  A weekly subscriber's digest draws on the papers of the days
    between, which a feed of one day lists no more by Monday: the first send
    of the day reads and keeps them (ranking nothing), the ones within
    KEEP_READ_EVERY after it read nothing.  At the slot they are read and
    the digest goes out; a source down while nobody is due is no failure of
    that send, but it is said."""
    daily = OUTAGE.replace("weekly on monday at 08:00", "daily at 08:00")
    write_config(tmp_path, daily.format(base=http_server.url(), delivery=smtp(smtp_server.port)))
    _sources_up(http_server)
    r = cli("send", "--now", "2024-05-01T12:00:00+00:00")  # ada first seen; her slot is tomorrow 08:00
    assert r.code == 0 and "not due 1" in r.out, r.err
    assert http_server.requests_to("/api/query") == [] and http_server.requests_to("/feed.xml") == []
    with db(tmp_path) as con:
        assert con.execute("SELECT count(*) FROM subscribers").fetchone()[0] == 1  # first seen: recorded
        assert con.execute("SELECT count(*) FROM listed").fetchone()[0] == 0
    (tmp_path / "newsletter-state.sqlite3").unlink()
    write_config(tmp_path, OUTAGE.format(base=http_server.url(), delivery=smtp(smtp_server.port)))
    r = cli("send", "--now", "2024-05-01T12:00:00+00:00")  # weekly: Monday 08:00
    assert r.code == 0 and "not due 1" in r.out, r.err
    assert len(http_server.requests_to("/api/query")) == 1 and len(http_server.requests_to("/feed.xml")) == 1
    assert re.search(r"^no digest is due now: the sources were read and their \d+ papers kept for the digests "
                     r"due later", r.err, re.M), r.err
    with db(tmp_path) as con:
        kept = con.execute("SELECT count(*) FROM listed").fetchone()[0]
    assert kept > 0
    for args in (("send", "--now", "2024-05-01T12:10:00+00:00"), ("send", "--dry-run", "--now", "2024-05-03T12:00:00+00:00")):
        r = cli(*args)  # ten minutes later: kept just now; a dry run keeps nothing, so reads nothing
        assert r.code == 0 and r.err == "", r.err
        assert r.out.splitlines()[-2:-1] == ["no digest is due now: the sources were not read (`newsletter schedule` "
                                             "says when each is due)"], r.out
        assert "not due     ada@example.org: next digest at 2024-05-06 08:00 UTC" in r.out, r.out
    assert len(http_server.requests_to("/api/query")) == 1 and len(http_server.requests_to("/feed.xml")) == 1
    _sources_down(http_server)
    r = cli("send", "--json", "--now", "2024-05-03T12:00:00+00:00")  # two days later: read to keep, every source down
    # exit 2, as when digests went out without a source's papers: Monday's digest lacks these days' unless said
    assert r.code == 2 and json.loads(r.out)["sources_read"] is False, r.out + r.err
    assert [f["source"] for f in json.loads(r.out)["failed_sources"]] == [0, 1]
    assert r.err.splitlines()[-2] == ("warning: every source failed (2 of 2); no papers were read: no digest is due "
                                      "now; their papers are not kept for the digests due later (the next send "
                                      "reads them again)"), r.err
    assert r.err.splitlines()[-1].startswith("error: 2 of 2 sources failed (said above): sources[0] 'arXiv ML'"), r.err
    assert r.err.splitlines()[-1].endswith(
        "no digest was due; nothing was kept for the digests due later (the next send reads the sources again) "
        "(exit 2; `required: false` on a source lets it fail with a warning alone)"), r.err
    assert len(http_server.requests_to("/api/query")) == 2
    _sources_up(http_server)
    r = cli("send", "--json", "--now", "2024-05-06T08:05:00+00:00")  # her slot: read, ranked, sent
    assert r.code == 0 and json.loads(r.out)["sources_read"] is True, r.err
    assert len(http_server.requests_to("/api/query")) == 3 and len(http_server.requests_to("/feed.xml")) == 3
    assert smtp_server.mailbox.recipients() == ["ada@example.org"]


def test_some_sources_failing_send_from_the_others_with_a_warning(tmp_path, cli, smtp_server, http_server):
    from recorded_http import Reply

    write_config(tmp_path, OUTAGE.format(base=http_server.url(), delivery=smtp(smtp_server.port)).replace(
        "    schedule: weekly on monday at 08:00\n", ""))
    _sources_up(http_server)
    http_server.route("/api/query", Reply(500, b"oops"))
    r = cli("send", "--now", NOW)
    # the digest goes out from the feed, and the run is loud: exit 2 and a last line naming the source
    # (exit 0 with a warning went unseen under cron, which mails a job's output only when it fails)
    assert r.code == 2, r.err
    assert "sent 1, empty 0" in r.out
    (warning,) = [line for line in r.err.splitlines() if line.startswith("warning:") and "'arXiv ML'" in line]
    assert warning.startswith(f"warning: {http_server.url('/api/query')}?") and "HTTP 500" in warning
    assert warning.endswith("(sources[0] skipped; the other sources are used)")
    assert r.err.splitlines()[-1] == (
        f"error: 1 of 2 sources failed (said above): sources[0] 'arXiv ML' ({http_server.url('/api/query')}); the "
        "digests went out from the others without its papers (exit 2; `required: false` on a source lets it fail "
        "with a warning alone)"), r.err
    assert "Traceback" not in r.err
    body = smtp_server.mailbox.messages[0].message.get_body(("plain",)).get_content()
    assert "Score-Based Diffusion Models" in body  # from the feed
    # sent once: the next run (the source still down) sends nothing twice, and says so again
    r = cli("send", "--json", "--now", NOW)
    assert r.code == 2 and json.loads(r.out)["failed_sources"] == [
        {"source": 0, "name": "arXiv ML", "location": http_server.url("/api/query"), "required": True}], r.out + r.err
    assert len(smtp_server.mailbox.messages) == 1
    # `required: false` said of it: its failure is a warning alone, exit 0
    write_config(tmp_path, OUTAGE.format(base=http_server.url(), delivery=smtp(smtp_server.port)).replace(
        "    schedule: weekly on monday at 08:00\n", "").replace("    url: ", "    required: false\n    url: ", 1))
    r = cli("send", "--now", NOW)
    assert r.code == 0 and "error:" not in r.err and "'arXiv ML'" in r.err, r.err
    # ... and --json still lists it, saying it was not required (an empty list read as every source read)
    r = cli("send", "--json", "--now", NOW)
    assert r.code == 0 and "error:" not in r.err, r.out + r.err
    assert json.loads(r.out)["failed_sources"] == [
        {"source": 0, "name": "arXiv ML", "location": http_server.url("/api/query"), "required": False}], r.out


def test_a_failed_source_and_a_failed_delivery_are_both_in_the_last_line(tmp_path, cli, smtp_server, http_server):
    """A source down and a recipient refused in the same send: exit 2 (bad
    input wants a person; retrying on 1 cannot mend a moved feed, and the
    failed digest stays pending for the next send whatever the code), but
    the last line said only the source, so the failed delivery went unseen
    by whoever read the end of cron's mail.  Both are in the last line and
    in --json."""
    from recorded_http import Reply

    write_config(tmp_path, OUTAGE.format(base=http_server.url(), delivery=smtp(smtp_server.port)).replace(
        "    schedule: weekly on monday at 08:00\n",
        "  - email: bob@example.org\n    topics: [diffusion]\n"))
    _sources_up(http_server)
    http_server.route("/api/query", Reply(500, b"oops"))
    smtp_server.mailbox.reject["bob@example.org"] = "550 5.1.1 no such user"
    r = cli("send", "--now", NOW)
    assert r.code == 2, r.err
    assert "sent 1, empty 0, failed 1" in r.out
    assert r.err.splitlines()[-1] == (
        f"error: 1 of 2 sources failed (said above): sources[0] 'arXiv ML' ({http_server.url('/api/query')}); the "
        "digests went out from the others without its papers; and 1 digest failed to go out (pending: the next "
        "send tries it again) (exit 2; `required: false` on a source lets it fail with a warning alone)"), r.err
    assert "Traceback" not in r.err and smtp_server.mailbox.recipients() == ["ada@example.org"]
    # --json: both facts, for a script that tells them apart (a day later: bob's back-off is over)
    r = cli("send", "--json", "--now", "2024-05-07T09:00:00+00:00")
    report = json.loads(r.out)
    assert r.code == 2 and report["failed"] == 1, r.out + r.err
    assert report["failed_sources"] == [{"source": 0, "name": "arXiv ML", "location": http_server.url("/api/query"),
                                         "required": True}]
    assert [d["status"] for d in report["digests"] if d["email"] == "bob@example.org"] == ["failed"]
    # the source back, bob's digest still refused: exit 1, as ever
    _sources_up(http_server)
    r = cli("send", "--now", "2024-05-08T09:00:00+00:00")
    assert r.code == 1 and "failed 1" in r.out and "error:" not in r.err, r.out + r.err


def test_a_source_failing_while_papers_are_kept_for_a_weekly_digest_is_loud(tmp_path, cli, smtp_server, http_server):
    """A weekly subscriber fed by a daily cron: the sends between her slots
    read the sources to keep their papers for Monday's digest.  A feed dead
    on those days said a warning and exited 0, so cron (which mails a failed
    job's output only) said nothing while a week of its papers went missing
    from the digest.  It exits 2, as a send whose digests went out without a
    source's papers does, its last line naming the source; `required: false`
    keeps exit 0."""
    from recorded_http import Reply

    write_config(tmp_path, OUTAGE.format(base=http_server.url(), delivery=smtp(smtp_server.port)))
    _sources_up(http_server)
    assert cli("send", "--now", "2024-05-01T12:00:00+00:00").code == 0  # first seen; Monday 08:00 is her slot
    http_server.route("/feed.xml", Reply(404, b"moved"))
    r = cli("send", "--now", "2024-05-02T12:00:00+00:00")  # the next day: nobody due, read to keep
    assert r.code == 2 and "not due 1" in r.out, r.out + r.err
    (warning,) = [line for line in r.err.splitlines() if line.startswith("warning:") and "'reading group'" in line]
    assert warning.startswith(f"warning: {http_server.url('/feed.xml')}: ") and "HTTP 404" in warning
    # the note says what was read and kept: "the sources were read and their 12 papers kept" said the feed's
    # papers were in, while the 12 were arXiv's alone
    (note,) = [line for line in r.err.splitlines() if line.startswith("no digest is due now")]
    with db(tmp_path) as con:
        # this run's (the first send, a day before, kept the feed's too)
        listed = con.execute("SELECT count(*) FROM listed WHERE last_seen = (SELECT max(last_seen) FROM listed)"
                             ).fetchone()[0]
        assert 0 < listed < con.execute("SELECT count(*) FROM listed").fetchone()[0]
    assert note == (f"no digest is due now: 1 of 2 sources read (1 failed: said above) and its {listed} papers kept "
                    "for the digests due later, without the papers of the failed one (README \"Schedules\")"), r.err
    assert r.err.splitlines()[-1] == (
        f"error: 1 of 2 sources failed (said above): sources[1] 'reading group' ({http_server.url('/feed.xml')}); "
        "no digest was due; the papers of the others were kept for the digests due later, without its papers "
        "(exit 2; `required: false` on a source lets it fail with a warning alone)"), r.err
    with db(tmp_path) as con:
        assert con.execute("SELECT count(*) FROM listed").fetchone()[0] > 0  # arXiv's kept all the same
    assert smtp_server.mailbox.messages == []
    # `required: false` on the feed: its warning alone, exit 0
    write_config(tmp_path, OUTAGE.format(base=http_server.url(), delivery=smtp(smtp_server.port)).replace(
        f"    url: {http_server.url()}/feed.xml",
        f"    required: false\n    url: {http_server.url()}/feed.xml"))
    r = cli("send", "--now", "2024-05-03T12:00:00+00:00")
    assert r.code == 0 and "error:" not in r.err and "'reading group'" in r.err, r.err


def test_papers_and_match_name_a_failed_source_last_and_exit_0(tmp_path, cli, http_server):
    """`papers` and `match` with one source down: they show and send
    nothing, and a person reads them, so exit 0 (`send`, run by cron, exits
    2 for it); but the warning said while reading scrolled away above a long
    listing, and the list read as complete: their last line names the
    failed source, and `match --json` lists it under failed_sources."""
    from recorded_http import Reply

    write_config(tmp_path, OUTAGE.format(base=http_server.url(), delivery="  transport: outbox"))
    _sources_up(http_server)
    http_server.route("/api/query", Reply(500, b"oops"))
    closing = (f"warning: 1 of 2 sources failed (said above): sources[0] 'arXiv ML' ({http_server.url('/api/query')}); "
               "{shown} (`send` exits 2 for it; `required: false` on a source lets it fail with a warning alone)")
    for args, shown in ((("papers",), "the papers listed are the others'"),
                        (("papers", "--json"), "the papers listed are the others'"),
                        (("match",), "the digests shown are made from the others' papers"),
                        (("match", "--json"), "the digests shown are made from the others' papers")):
        r = cli(*args)
        assert r.code == 0, r.err
        assert r.err.splitlines()[-1] == closing.format(shown=shown), (args, r.err)
        assert "Traceback" not in r.err
    assert json.loads(r.out)["failed_sources"] == [
        {"source": 0, "name": "arXiv ML", "location": http_server.url("/api/query"), "required": True}]
    assert json.loads(r.out)["subscribers"][0]["papers"], r.out  # the feed's papers matched
    # `required: false`: no closing line, but match --json still lists it (an empty list read as all read)
    write_config(tmp_path, OUTAGE.format(base=http_server.url(), delivery="  transport: outbox").replace(
        "    url: ", "    required: false\n    url: ", 1))
    r = cli("match", "--json")
    assert r.code == 0 and "failed (said above)" not in r.err, r.err
    assert json.loads(r.out)["failed_sources"] == [
        {"source": 0, "name": "arXiv ML", "location": http_server.url("/api/query"), "required": False}], r.out
    _sources_up(http_server)  # back: no closing line
    r = cli("match", "--json")
    assert r.code == 0 and json.loads(r.out)["failed_sources"] == [] and "failed (said above)" not in r.err, r.err


def test_nothing_new_is_quiet_and_not_a_failure(tmp_path, cli, http_server):
    write_config(tmp_path, OUTAGE.format(base=http_server.url(), delivery="  transport: outbox").replace(
        "    schedule: weekly on monday at 08:00\n", ""))
    from recorded_http import Reply

    empty = b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom" xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/"><title>q</title><opensearch:totalResults>0</opensearch:totalResults></feed>'
    http_server.route("/api/query", Reply(200, empty, {"Content-Type": "application/atom+xml"}))
    http_server.route("/feed.xml", Reply(200, b'<?xml version="1.0"?><rss version="2.0"><channel><title>q</title></channel></rss>'))
    r = cli("send", "--now", NOW)
    assert r.code == 0, r.err
    assert "sent 0, empty 1, failed 0, not due 0" in r.out
    # The empty feed is quiet; arXiv's "no results" is not retried and not a
    # failure, but named: newest-first over all time, it is a query matching nothing.
    (warning,) = [line for line in r.err.splitlines() if "warning" in line]
    assert "arXiv has no paper at all for the query" in warning
    assert len(http_server.requests_to("/api/query")) == 1


def test_the_outbox_folder_is_made_by_the_first_digest_written_not_by_a_check(tmp_path, cli, monkeypatch):
    """The outbox's check() makes nothing.  It made the folder, so a send
    with nothing due left an empty outbox behind (one that said a digest had
    been written), and send had to skip the check when another problem (an
    unset signing key) refused it.  A refused send, a preview, a send with
    nothing due and a dry run leave no outbox; the first digest written makes it."""
    setup(tmp_path, "  transport: outbox", extra="schedule: weekly on monday at 08:00\n"
          "web:\n  base_url: https://digest.example.org\n  secret_env: DIGEST_TEST_SECRET")
    monkeypatch.delenv("DIGEST_TEST_SECRET", raising=False)
    refused = cli("send", "--now", NOW)
    assert refused.code == 2 and "DIGEST_TEST_SECRET" in refused.err and "Traceback" not in refused.err
    key = {"DIGEST_TEST_SECRET": "k" * 32}
    assert cli("preview", "--out", "shown", env=key).code == 0
    waiting = cli("send", "--now", NOW, env=key)  # new subscribers wait for their first slot
    assert waiting.code == 0 and "sent 0, empty 0, failed 0, not due 2" in waiting.out, waiting.out + waiting.err
    week_later = "2024-05-13T09:00:00+00:00"
    dry = cli("send", "--dry-run", "--now", week_later, env=key)
    assert dry.code == 0 and "would send 2, empty 0" in dry.out, dry.out + dry.err
    assert not (tmp_path / "outbox").exists()
    sent = cli("send", "--now", week_later, env=key)
    assert sent.code == 0 and "sent 2, empty 0, failed 0" in sent.out, sent.out + sent.err
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 2


# --------------------------------------------------------------------------- PostgreSQL: bad input


def test_postgres_url_with_a_password_is_refused_at_its_line(tmp_path, cli):
    config = setup(tmp_path, "  transport: outbox", extra="state: postgresql://digest:hunter2@db.example.org:5432/digest")
    for command in (("validate",), ("send", "--now", NOW)):
        r = cli(*command)
        assert r.code == 2
        line = next(n for n, text in enumerate(config.read_text().splitlines(), 1) if text.startswith("state:"))
        assert r.err.strip().startswith(f"config.yaml:{line}: state: 'postgresql://digest@db.example.org:5432/digest' has a password in it")
        assert "hunter2" not in r.err + r.out and "Traceback" not in r.err
    assert not (tmp_path / "outbox").exists()


def test_a_libpq_connection_string_as_state_is_refused_at_its_line(tmp_path, cli):
    config = setup(tmp_path, "  transport: outbox", extra="state: host=db.example.org dbname=digest user=digest")
    line = next(n for n, text in enumerate(config.read_text().splitlines(), 1) if text.startswith("state:"))
    for command in (("validate",), ("send", "--now", NOW)):
        r = cli(*command)
        assert r.code == 2 and "Traceback" not in r.err
        assert r.err.strip().startswith(f"config.yaml:{line}: state: ")
        assert "write it as a URL: postgresql://digest@db.example.org/digest" in r.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml", "papers"]  # no SQLite file of that name


def test_postgres_unreachable_wrong_login_or_no_rights_exit_2_and_send_nothing(tmp_path, cli, pg_server, smtp_server):
    from pg_server import LIMITED_USER, free_port

    unreachable = f"postgresql://digest@127.0.0.1:{free_port()}/digest"
    limited = pg_server.create_database().replace(f"{pg_server.url('x').split('@')[0]}@", f"postgresql://{LIMITED_USER}@")
    good = pg_server.create_database()
    missing = good.rsplit("/", 1)[0] + "/no_such_db"
    cases = [
        (unreachable, {}, f"{unreachable}: cannot reach PostgreSQL: "),
        # (was "cannot reach PostgreSQL: FATAL: database ... does not exist": it was reached)
        (missing, {}, f"{missing}: PostgreSQL has no database 'no_such_db' (create it, e.g. `createdb no_such_db`, "
                      "or correct the name in state:)"),
        (good, {"PGPASSWORD": "wrong-password", "PGPASSFILE": "/nonexistent"},
         f"{good}: PostgreSQL refused the login for user 'digest_admin'"),
        (limited, {}, f"{limited}: no permission to create the state's tables (permission denied for schema public)"),
    ]
    for url, env, expected in cases:
        setup(tmp_path, smtp(smtp_server.port), extra=f"state: {url}")
        r = cli("send", "--now", NOW, env=env)
        assert r.code == 2, r.err
        assert len(r.err.strip().splitlines()) == 1 and r.err.startswith(expected), r.err
        assert "wrong-password" not in r.err and "Traceback" not in r.err
        assert smtp_server.mailbox.messages == []


def test_a_state_url_leaving_host_port_user_and_password_to_the_environment_works_and_names_where_it_tried(
    tmp_path, cli, pg_server, smtp_server
):
    """README's `state: postgresql:///db` takes host, port and user from
    PGHOST, PGPORT and PGUSER and the password from PGPASSWORD: a user and a
    password with URL-special characters are read as they are, and a database
    name with a space is written URL-encoded.  A server down at start was
    named by the URL alone, "postgresql:///db: cannot reach PostgreSQL:
    Connection refused (... the URL's host and port right?)", though the URL
    names neither: the line now says where it tried and which variables
    chose it.  The password is in no output, whichever way the send ends."""
    database = pg_server.create_database().rsplit("/", 1)[1]
    user, password = f"ops@{database}", "p@ss:w/rd %20#?&'\"\\;=x"
    spaced = f"paper digest {database}"
    quoted = password.replace("'", "''")
    pg_server.admin(f'CREATE ROLE "{user}" LOGIN PASSWORD \'{quoted}\'')
    pg_server.admin(f'CREATE DATABASE "{spaced}" OWNER "{user}"')
    url = f"postgresql:///paper%20digest%20{database}"
    setup(tmp_path, smtp(smtp_server.port), extra=f"state: {url}")
    env = {"PGHOST": "127.0.0.1", "PGPORT": str(pg_server.port), "PGUSER": user, "PGPASSWORD": password,
           "PGPASSFILE": str(tmp_path / "no-pgpass")}
    r = cli("send", "--now", NOW, env=env)
    assert r.code == 0 and r.out.strip().splitlines()[-1] == "sent 2, empty 0, failed 0, not due 0", r.out + r.err
    assert sorted(smtp_server.mailbox.recipients()) == ["ada@example.org", "bob@example.org"]
    assert password not in r.out + r.err
    assert {status for _, status, *_ in digests(pg_server.url(spaced).replace(" ", "%20"))} == {"sent"}

    down = free_port()
    r = cli("send", "--now", NOW, env={**env, "PGPORT": str(down)})
    assert r.code == 2 and "Traceback" not in r.err and password not in r.out + r.err, r.err
    assert r.err.strip() == (
        f"{url}: cannot reach PostgreSQL: Connection refused (tried 127.0.0.1 port {down}, named by PGHOST and "
        "PGPORT: is PostgreSQL running there, and is that right?)"), r.err
    for wrong in (password[:-1], password + "\n"):  # a wrong one, or the right one pasted with its line break
        r = cli("send", "--now", NOW, env={**env, "PGPASSWORD": wrong})
        assert r.code == 2 and len(r.err.strip().splitlines()) == 1, r.err
        assert r.err.startswith(f"{url}: PostgreSQL refused the login for user {user!r} ("), r.err
        assert password[:-1] not in r.out + r.err and "Traceback" not in r.err
    assert len(smtp_server.mailbox.messages) == 2

    # the same user URL-encoded in the URL, its password in a .pgpass (':' and '\\' escaped as libpq reads them)
    pgpass = tmp_path / "pgpass"
    escaped = password.replace("\\", "\\\\").replace(":", "\\:")
    pgpass.write_text(f"127.0.0.1:{pg_server.port}:{spaced}:{user}:{escaped}\n")
    pgpass.chmod(0o600)
    written = f"postgresql://ops%40{database}@127.0.0.1:{pg_server.port}/paper%20digest%20{database}"
    setup(tmp_path, smtp(smtp_server.port), extra=f"state: {written}")
    (tmp_path / "papers" / "day2.txt").write_text(export(["Diffusion models from a second day"]), encoding="utf-8")
    r = cli("send", "--now", "2024-05-07T09:00:00+00:00", env={"PGPASSFILE": str(pgpass)})
    assert r.code == 0 and r.out.strip().splitlines()[-1] == "sent 2, empty 0, failed 0, not due 0", r.out + r.err
    assert password not in r.out + r.err and len(smtp_server.mailbox.messages) == 4

    # a password written into the URL, URL-encoded, is refused at its line and shown neither way
    encoded = quote(password, safe="")
    config = setup(tmp_path, smtp(smtp_server.port), extra=f"state: {written.replace('@127', f':{encoded}@127')}")
    line = next(n for n, text in enumerate(config.read_text().splitlines(), 1) if text.startswith("state:"))
    r = cli("send", "--now", "2024-05-08T09:00:00+00:00", env={"PGPASSFILE": str(pgpass)})
    assert r.code == 2 and len(r.err.strip().splitlines()) == 1 and "has a password in it" in r.err, r.err
    assert r.err.startswith(f"config.yaml:{line}: state: {written!r} has a password in it"), r.err
    assert encoded not in r.out + r.err and password not in r.out + r.err
    assert len(smtp_server.mailbox.messages) == 4


def test_a_second_workers_user_without_rights_on_the_tables_is_told_what_to_grant(tmp_path, cli, pg_server):
    """The tables belong to the user whose first send made them; a worker with
    another user read only 'PostgreSQL: permission denied for table
    paper_digest_schema'.  The grant it names is enough."""
    from pg_server import LIMITED_USER

    url = pg_server.create_database()
    setup(tmp_path, "  transport: outbox", extra=f"state: {url}")
    assert cli("send", "--now", NOW).code == 0  # the owner makes the tables
    worker = url.replace(f"{url.split('@')[0]}@", f"postgresql://{LIMITED_USER}@")
    setup(tmp_path, "  transport: outbox", extra=f"state: {worker}")
    r = cli("send", "--now", NOW)
    assert r.code == 2 and "Traceback" not in r.err and len(r.err.strip().splitlines()) == 1, r.err
    grant = (f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{LIMITED_USER}"; '
             f'GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO "{LIMITED_USER}";')
    assert r.err.strip() == (
        f"{worker}: PostgreSQL user '{LIMITED_USER}' may not use the state's tables (permission denied for table "
        f"paper_digest_schema): another user made them; as that user, grant them once: {grant} "
        "(or give every worker the same user)")
    for statement in grant.rstrip(";").split("; "):
        pg_server.admin(statement, database=url.rsplit("/", 1)[1])
    (tmp_path / "papers" / "day2.txt").write_text(export(["Diffusion models for worker two"]), encoding="utf-8")
    r = cli("send", "--now", "2024-05-06T10:00:00+00:00")
    assert r.code == 0 and "sent        ada@example.org: 1 paper" in r.out, r.out + r.err


def test_a_postgresql_state_that_takes_no_writes_says_to_point_at_the_primary(tmp_path, cli, pg_server, smtp_server):
    """A state URL on a read replica (or a database set read-only) read only
    'PostgreSQL: cannot execute INSERT in a read-only transaction'."""
    url = pg_server.create_database()
    setup(tmp_path, smtp(smtp_server.port), extra=f"state: {url}")
    assert cli("send", "--now", NOW).code == 0
    pg_server.admin(f"ALTER DATABASE {url.rsplit('/', 1)[1]} SET default_transaction_read_only = on")
    (tmp_path / "papers" / "day2.txt").write_text(export(["Diffusion Models Arrive Later"]), encoding="utf-8")
    r = cli("send", "--now", "2024-05-06T10:00:00+00:00")
    assert r.code == 2 and "Traceback" not in r.err and len(r.err.strip().splitlines()) == 1, r.err
    assert r.err.startswith(f"{url}: PostgreSQL: cannot execute ") and r.err.rstrip().endswith(
        "in a read-only transaction: the server takes no writes here (a read replica or hot standby, or "
        "default_transaction_read_only set for the user or database): point state: at the primary"), r.err
    assert len(smtp_server.mailbox.messages) == 2  # the first send's two, nothing more


def test_a_hot_standbys_url_given_by_mistake_sends_nothing_and_serve_records_nothing(
    tmp_path, cli, pg_server, smtp_server, monkeypatch
):
    """The state URL of a streaming replica (a real hot standby here, not a
    database set read-only): it lets a worker in, answers its reads, takes
    its session lock, and refuses the first write.  A send says so in one
    line, whether the primary holds the state yet or not (the schema is made
    in a transaction the standby refuses), and sends nothing; `serve`
    answers a one-click unsubscribe 503, try again, never 200 for a change
    it could not record."""
    import warnings

    from pg_server import Standby

    with warnings.catch_warnings():  # (newer Starlette suggests httpx2 for its test client)
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    from newsletter.config import load_config
    from newsletter.tokens import links
    from newsletter.web import create_app

    used, empty = pg_server.create_database(), pg_server.create_database()
    setup(tmp_path, smtp(smtp_server.port), extra=f"state: {used}")
    assert cli("send", "--now", NOW).code == 0  # the primary holds the state
    sent = len(smtp_server.mailbox.messages)
    standby = Standby(pg_server)
    try:
        for primary, statement in ((used, "INSERT"), (empty, "CREATE TABLE")):
            url = standby.url(primary)
            setup(tmp_path, smtp(smtp_server.port), extra=f"state: {url}")
            (tmp_path / "papers" / "day2.txt").write_text(export(["Diffusion Models Arrive Later"]), encoding="utf-8")
            r = cli("send", "--now", "2024-05-06T10:00:00+00:00")
            assert r.code == 2 and "Traceback" not in r.err and len(r.err.strip().splitlines()) == 1, r.err
            assert r.err.strip() == (
                f"{url}: PostgreSQL: cannot execute {statement} in a read-only transaction: the server takes no "
                "writes here (a read replica or hot standby, or default_transaction_read_only set for the user or "
                "database): point state: at the primary"), r.err
            assert len(smtp_server.mailbox.messages) == sent

        monkeypatch.setenv("DIGEST_WEB_SECRET", "standby-web-secret-0123456789")
        config = load_config(setup(tmp_path, smtp(smtp_server.port), extra=(
            f"state: {standby.url(used)}\nweb:\n  base_url: https://digest.example.org/news\n"
            "  secret_env: DIGEST_WEB_SECRET\n")))
        path = urlsplit(links(config).unsubscribe_url("ada@example.org")).path
        with TestClient(create_app(config), base_url="https://digest.example.org") as client:
            answer = client.post(path, data={"List-Unsubscribe": "One-Click"})
        assert answer.status_code == 503 and answer.headers["retry-after"], answer.status_code
    finally:
        standby.stop()
    assert query(used, "SELECT email FROM unsubscribed") == []


def one_connection_database(pg_server) -> tuple[str, str, str]:
    """A new role allowed one connection at a time (password 'one-connection'),
    owning a new database: (role, the database's URL as the superuser, its URL as the role)."""
    name = f"digest_one_{free_port()}"
    pg_server.admin(f"CREATE ROLE {name} LOGIN PASSWORD 'one-connection' CONNECTION LIMIT 1")
    url = pg_server.create_database()
    database = url.rsplit("/", 1)[1]
    pg_server.admin(f"ALTER DATABASE {database} OWNER TO {name}")
    pg_server.admin(f"GRANT ALL ON SCHEMA public TO {name}", database=database)
    return name, url, url.replace(f"{url.split('@')[0]}@", f"postgresql://{name}@")


def test_a_postgresql_user_at_its_connection_limit_sends_nothing_rather_than_leaving_it_unrecorded(
    tmp_path, cli, pg_server, smtp_server
):
    """A server at max_connections (here a user at its CONNECTION LIMIT) let
    the send's session in and refused the pool its delivery threads record
    through: each statement waited 30 s for a connection, the digest went
    out, its record failed ('couldn't get a connection after 30.00 sec'), and
    the next send sent it again.  Now nothing is claimed or sent, the refusal
    is named at once, and once there is room the digest goes out once."""
    name, url, mine = one_connection_database(pg_server)
    setup(tmp_path, smtp(smtp_server.port), extra=f"state: {mine}")
    env = {"PGPASSWORD": "one-connection", "PGPASSFILE": "/nonexistent"}
    r = cli("send", "--now", NOW, env=env)
    assert r.code == 2 and "Traceback" not in r.err and len(r.err.strip().splitlines()) == 1, r.err
    assert r.err.startswith(f"{mine}: cannot reach PostgreSQL: ") and f'too many connections for role "{name}"' in r.err
    assert "raise the server's max_connections or the user's CONNECTION LIMIT" in r.err and "nothing was sent" in r.err
    assert smtp_server.mailbox.messages == [] and digests(url) == []
    pg_server.admin(f"ALTER ROLE {name} CONNECTION LIMIT 2")  # the session and one recording connection
    r = cli("send", "--now", NOW, env=env)
    assert r.code == 0 and "warning" not in r.err, r.out + r.err
    assert smtp_server.mailbox.recipients() == ["ada@example.org", "bob@example.org"]
    assert [row[1] for row in digests(url)] == ["sent", "sent"]


def test_a_postgresql_server_out_of_connections_is_one_line_naming_max_connections(
    tmp_path, cli, pg_server, smtp_server, monkeypatch
):
    """A whole server at max_connections (not one user at its limit): with
    one connection left the send's session gets in and its delivery threads'
    pool is refused; with none, the session is.  Either way one line naming
    the setting to raise, exit 2, nothing claimed or sent."""
    import psycopg
    from pg_server import PASSWORD, PostgresServer

    monkeypatch.setenv("PGPASSFILE", os.environ["PGPASSFILE"])  # (a server writes its own; the session's comes back)
    full = PostgresServer(pg_server.bindir, "-c superuser_reserved_connections=0 -c max_connections=4")
    held: list = []
    try:
        url = full.create_database()
        setup(tmp_path, smtp(smtp_server.port), extra=f"state: {url}")
        for room, refused in ((1, "the delivery threads' pool"), (0, "the session")):
            while len(held) < 4 - room:
                held.append(psycopg.connect(url))
            r = cli("send", "--now", NOW)
            assert r.code == 2 and "Traceback" not in r.err and len(r.err.strip().splitlines()) == 1, (refused, r.err)
            assert r.err.startswith(f"{url}: cannot reach PostgreSQL: ") and "sorry, too many clients already" in r.err
            assert "raise the server's max_connections" in r.err and PASSWORD not in r.err, (refused, r.err)
            assert ("nothing was sent" in r.err) == (room == 1), r.err
            assert smtp_server.mailbox.messages == []
        for con in held:
            con.close()
        assert digests(url) == []
    finally:
        for con in held:
            con.close()
        full.stop()


def test_the_delivery_threads_pool_is_opened_before_any_subscriber_is_held(tmp_path, pg_url, smtp_server, monkeypatch):
    """The delivery threads' pool was opened inside the first batch's claim
    transaction: behind PgBouncer in session mode with its pool full, the
    wait for a server connection (up to twice connect_timeout) held that
    batch's subscribers' rows, which every other worker then skipped.  It
    is opened once a digest may be due, with the session in no transaction
    and no subscriber held (seen from another session as it opens)."""
    import psycopg
    from psycopg.pq import TransactionStatus

    from newsletter.config import load_config
    from newsletter.sending import send
    from newsletter.state.postgres import PostgresState

    monkeypatch.chdir(tmp_path)
    config = load_config(setup(tmp_path, smtp(smtp_server.port), extra=f"state: {pg_url}"))
    seen: list[tuple[TransactionStatus, int, int]] = []
    real = PostgresState.ready_for_threads

    def looked_at(self) -> None:
        if self.session is not None and not self.readonly:
            with psycopg.connect(pg_url) as other:  # (a transaction, rolled back at the end)
                rows = other.execute("SELECT count(*) FROM subscriber_locks").fetchone()[0]  # type: ignore[index]
                free = other.execute("SELECT count(*) FROM (SELECT 1 FROM subscriber_locks "
                                     "FOR UPDATE SKIP LOCKED) AS s").fetchone()[0]  # type: ignore[index]
                other.rollback()
            seen.append((self.session.info.transaction_status, rows, free))
        real(self)

    monkeypatch.setattr(PostgresState, "ready_for_threads", looked_at)
    report = send(config, now=datetime.fromisoformat(NOW))
    assert [r.status for r in report.results] == ["sent", "sent"], report.results
    assert seen and all(status == TransactionStatus.IDLE and free == rows == 2 for status, rows, free in seen), seen


def test_a_claim_cancelled_in_a_deadlock_is_claimed_again_without_the_subscriber_another_session_holds(
    tmp_path, pg_url, smtp_server, monkeypatch
):
    """A batch's claim that PostgreSQL cancelled in a deadlock (a ``psql``
    session inserted a digest for ada, uncommitted, which the claim's own
    insert waited on, then asked for ada's row the claim held) stopped the
    whole send: "cannot reach PostgreSQL: deadlock detected", exit 2.
    Nothing of the batch was recorded, so it is planned and claimed again:
    ada, held by the other session now, is left to it ("other worker"),
    bob's digest goes out, and the warning names the deadlock.  Made to meet
    every time: the other session never looks for deadlocks itself, and the
    claim runs again only once the other session holds ada's row."""
    import threading

    import psycopg

    from newsletter.config import load_config
    from newsletter.sending import send
    from newsletter.state import open_state

    monkeypatch.chdir(tmp_path)
    config = load_config(setup(tmp_path, smtp(smtp_server.port), extra=f"state: {pg_url}"))
    with open_state(pg_url) as state:  # (the tables, and the subscribers seen)
        state.see_subscribers(["ada@example.org", "bob@example.org"], datetime.fromisoformat(NOW))
    name = pg_url.rsplit("/", 1)[1]
    warned: list[str] = []
    with psycopg.connect(pg_url, autocommit=True) as admin, psycopg.connect(pg_url) as other:
        admin.execute(f"ALTER DATABASE {name} SET deadlock_timeout = '20ms'")  # (the send's sessions)
        other.execute("SET deadlock_timeout = '1h'")
        other.execute("INSERT INTO digests (subscriber, status, message_id, created) "
                      "VALUES ('ada@example.org', 'pending', '<other@example.org>', now())")
        outcome: list = []
        go = threading.Event()

        def said_then_wait(message: str) -> None:
            """The send's warnings: the claim is run again once the other
            session holds ada's row (not before: it would race it there)."""
            warned.append(message)
            assert go.wait(120)

        def run() -> None:
            try:
                outcome.append(send(config, now=datetime.fromisoformat(NOW), warn=said_then_wait))
            except Exception as exc:  # noqa: BLE001 -- what the send met is the test's subject
                outcome.append(exc)

        running = threading.Thread(target=run)
        running.start()
        while not admin.execute("SELECT 1 FROM pg_stat_activity WHERE datname = current_database() "
                                "AND wait_event_type = 'Lock'").fetchall():
            assert running.is_alive(), outcome  # (the claim waits for ada's other digest)
        # the cycle: the claim is cancelled, and this gets ada's row
        other.execute("SELECT 1 FROM subscriber_locks WHERE email = 'ada@example.org' FOR UPDATE")
        go.set()
        running.join(120)
        other.rollback()
    assert not running.is_alive()
    [report] = outcome
    assert [(r.email, r.status) for r in report.results] == [("ada@example.org", "other worker"),
                                                             ("bob@example.org", "sent")], report.results
    assert smtp_server.mailbox.recipients() == ["bob@example.org"]

    assert len(warned) == 1, warned
    [said] = warned
    assert said.startswith(f"{pg_url}: PostgreSQL: deadlock detected, while inserting index tuple ") and said.endswith(
        "(this statement and another session's transaction each waited for a lock the other held; the server "
        "cancelled this one, and nothing of its transaction was recorded; the server's log names both statements); "
        "claiming that batch again"), said


def test_a_send_behind_pgbouncer_with_room_for_its_session_and_one_more_delivers_everything(
    tmp_path, cli, pg_server, pg_url, smtp_server
):
    """Behind PgBouncer in session mode a worker holds a server connection
    per client connection: its session, for a moment the pooler check, and
    its delivery threads' pool (up to 16, grown as they wait).  With room
    for exactly two at once (default_pool_size = 2) and four SMTP
    connections, the pool's growth waits in PgBouncer's queue while the one
    connection it has records everything: every digest sent and recorded,
    exit 0.  With room for one, the send is refused in one line naming the
    setting to raise, nothing claimed or sent."""
    from pg_server import Bouncer

    try:
        bouncer = Bouncer(pg_server, "session", "default_pool_size = 2\nquery_wait_timeout = 30\n")
        narrow = Bouncer(pg_server, "session", "default_pool_size = 1\nquery_wait_timeout = 3\n")
    except FileNotFoundError:
        pytest.skip("needs PgBouncer (Debian's pgbouncer)")
    try:
        setup(tmp_path, smtp(smtp_server.port, "  connections: 4\n"), subscribers=many(40),
              extra=f"state: {narrow.url(pg_url)}")
        r = cli("send", "--now", NOW)
        assert r.code == 2 and "Traceback" not in r.err and len(r.err.strip().splitlines()) == 1, r.err
        assert "query_wait_timeout" in r.err and "raise default_pool_size or max_db_connections" in r.err, r.err
        assert smtp_server.mailbox.messages == []  # (refused by its first look, the pooler check: no table made)
        assert query(pg_url, "SELECT to_regclass('digests') IS NULL") == [(True,)], r.err
        setup(tmp_path, smtp(smtp_server.port, "  connections: 4\n"), subscribers=many(40),
              extra=f"state: {bouncer.url(pg_url)}")
        r = cli("send", "--now", NOW)
    finally:
        bouncer.stop()
        narrow.stop()
    assert r.code == 0 and r.out.strip().splitlines()[-1].startswith("sent 40,"), r.out + r.err
    assert len(smtp_server.mailbox.messages) == 40
    assert sorted({row[1] for row in digests(pg_url)}) == ["sent"] and len(digests(pg_url)) == 40


def test_pgbouncer_out_of_client_slots_is_one_line_naming_max_client_conn(tmp_path, cli, pg_server, pg_url, smtp_server):
    """PgBouncer at its max_client_conn turns a new client away with
    "no more connections allowed (max_client_conn)", and the line said
    nothing of whose setting that is or what a worker needs (PostgreSQL's
    max_connections got a hint; this did not).  With one client slot left
    the send's session gets in and its delivery threads' pool is refused;
    with none, the session is: either way one line naming the setting and
    pgbouncer.ini, exit 2, nothing claimed or sent."""
    import psycopg
    from pg_server import PASSWORD, Bouncer

    try:
        bouncer = Bouncer(pg_server, "session", "max_client_conn = 3\n")
    except FileNotFoundError:
        pytest.skip("needs PgBouncer (Debian's pgbouncer)")
    url = bouncer.url(pg_url)
    setup(tmp_path, smtp(smtp_server.port), extra=f"state: {url}")
    held: list = []
    try:
        for room, refused in ((1, "the delivery threads' pool"), (0, "the session")):
            while len(held) < 3 - room:
                held.append(psycopg.connect(url))
            r = cli("send", "--now", NOW)
            assert r.code == 2 and "Traceback" not in r.err and len(r.err.strip().splitlines()) == 1, (refused, r.err)
            assert r.err.startswith(f"{url}: cannot reach PostgreSQL: ") and "(max_client_conn)" in r.err, r.err
            assert "PgBouncer has as many clients as its max_client_conn allows" in r.err, r.err
            assert "raise max_client_conn in pgbouncer.ini" in r.err and PASSWORD not in r.err, r.err
            assert ("nothing was sent" in r.err) == (room == 1), (refused, r.err)
            assert smtp_server.mailbox.messages == []
        for con in held:
            con.close()
        held.clear()
        assert digests(pg_url) == []
    finally:
        for con in held:
            con.close()
        bouncer.stop()


def test_sslmode_require_against_a_server_without_tls_says_which_side_to_change(tmp_path, cli, pg_url, smtp_server):
    """libpq's "server does not support SSL, but SSL was required" named
    neither the URL's sslmode nor the server's ssl setting."""
    url = f"{pg_url}?sslmode=require"
    setup(tmp_path, smtp(smtp_server.port), extra=f"state: {url}")
    r = cli("send", "--now", NOW)
    assert r.code == 2 and "Traceback" not in r.err and len(r.err.strip().splitlines()) == 1, r.err
    assert r.err.strip() == (
        f"{url}: cannot reach PostgreSQL: server does not support SSL, but SSL was required (the URL asks for TLS, "
        "sslmode=require, and the server has ssl = off: turn it on there, with ssl_cert_file and ssl_key_file)")
    assert smtp_server.mailbox.messages == []


def test_a_send_logs_in_to_postgresql_no_more_often_than_it_holds_connections(tmp_path, cli, pg_server, smtp_server):
    """Before its first claim a send made sure the server would take the
    delivery threads' connection by opening one of its own and closing it,
    then opened the pool: every send that claimed anything paid one login
    more than it used (a server process started and a SCRAM exchange, 22 ms
    here; through PgBouncer 2 ms).  The pool's first connection is the test
    now.  Logins of one send: its session, the once-per-process look for a
    pooler sharing it, and the pool's one connection (one delivery thread)."""
    url = pg_server.create_database()
    database = url.rsplit("/", 1)[1]
    setup(tmp_path, smtp(smtp_server.port), extra=f"state: {url}")
    assert cli("send", "--now", "2024-05-05T10:00:00+00:00").code == 0  # the tables made, the subscribers seen
    sessions = f"SELECT sessions FROM pg_stat_database WHERE datname = '{database}'"
    [(before,)] = query(url, sessions)
    (tmp_path / "papers" / "day2.txt").write_text(export(["Diffusion Models Arrive Later"]), encoding="utf-8")
    r = cli("send", "--now", NOW)
    assert r.code == 0 and r.out.strip().splitlines()[-1].startswith("sent 2,"), r.out + r.err
    [(after,)] = query(url, sessions)
    assert after - before - 1 == 3, after - before - 1  # (the second query's own login is the 1)


def test_a_send_with_nothing_due_opens_no_connection_beside_its_session(tmp_path, cli, pg_server, smtp_server):
    """Every send opened its delivery threads' pool (and checked the server
    would take one more connection) at its start, whether or not anything was
    due: cron every 10 minutes against a server near max_connections was
    refused ('nothing was sent', exit 2) at every run between slots.  The
    pool is opened before the first claim: a user allowed one connection
    runs a send with nothing due, and one with digests due is still refused
    before anything is claimed or sent."""
    name, url, mine = one_connection_database(pg_server)
    setup(tmp_path, smtp(smtp_server.port), extra=f"schedule: daily at 08:00\nstate: {mine}")
    env = {"PGPASSWORD": "one-connection", "PGPASSFILE": "/nonexistent"}
    r = cli("send", "--now", "2024-05-06T09:00:00+00:00", env=env)  # new subscribers wait for their first slot
    assert r.code == 0, r.err
    assert r.out.strip().splitlines()[-1] == "sent 0, empty 0, failed 0, not due 2", r.out
    r = cli("send", "--now", "2024-05-07T09:00:00+00:00", env=env)  # the slot: due, and no room to record
    assert r.code == 2 and f'too many connections for role "{name}"' in r.err and "nothing was sent" in r.err, r.err
    assert smtp_server.mailbox.messages == [] and digests(url) == []
    pg_server.admin(f"ALTER ROLE {name} CONNECTION LIMIT 2")  # the session and one recording connection
    r = cli("send", "--now", "2024-05-07T09:00:00+00:00", env=env)
    assert r.code == 0 and r.out.strip().splitlines()[-1] == "sent 2, empty 0, failed 0, not due 0", r.out + r.err
    assert [row[1] for row in digests(url)] == ["sent", "sent"]


# --------------------------------------------------------------------------- state migrate


def test_state_migrate_counts_one_of_a_kind_in_the_singular(tmp_path, cli, pg_url):
    """A researcher's own digest, migrated after its first send: it said
    "1 subscribers and 1 digests"."""
    subs = "\n  - email: ada@example.org\n    topics: [optim]"
    setup(tmp_path, "  transport: outbox", subscribers=subs)
    assert "sent 1," in cli("send", "--now", "2024-05-06T09:00:00+00:00").out
    r = cli("state", "migrate", "--to", pg_url)
    assert r.code == 0, r.err
    assert r.out.startswith(f"copied {len(OPTIM)} papers, 1 subscriber and 1 digest ({len(OPTIM)} papers in digests) "
                            "from newsletter-state.sqlite3"), r.out
    r = cli("state", "migrate", "--to", pg_url)
    assert r.code == 2 and "already holds a state (" in r.err and "1 subscriber, 1 digest)" in r.err, r.err


def test_state_migrate_to_postgres_then_nothing_is_sent_again(tmp_path, cli, pg_url):
    subs = "\n  - email: ada@example.org\n    topics: [diffusion]\n  - email: bob@example.org\n    topics: [optim]\n    schedule: daily at 08:00"
    setup(tmp_path, "  transport: outbox", subscribers=subs)
    assert cli("send", "--now", "2024-05-06T09:00:00+00:00").out.strip().endswith("sent 1, empty 0, failed 0, not due 1")
    assert "sent 1, empty 1" in cli("send", "--now", "2024-05-07T08:30:00+00:00").out
    before = digests(tmp_path)
    assert len(before) == 2 and len(list((tmp_path / "outbox").iterdir())) == 2

    r = cli("state", "migrate", "--to", pg_url)
    assert r.code == 0, r.err
    assert r.out.strip().splitlines() == [
        f"copied 6 papers, 2 subscribers and 2 digests (6 papers in digests) from newsletter-state.sqlite3 to {pg_url}",
        f"next: set `state: {pg_url}` in config.yaml and restart a running `newsletter run` "
        "(until then `send` and `run` go on with newsletter-state.sqlite3, and the copy falls behind)",
    ]
    assert digests(pg_url) == before
    r = cli("state", "migrate", "--to", pg_url)  # never into a database that holds a state
    assert r.code == 2 and "already holds a state (6 papers, 2 subscribers, 2 digests)" in r.err

    # Switch the config to the database: ada has nothing new, bob is not due until tomorrow 08:00.
    setup(tmp_path, "  transport: outbox", subscribers=subs, extra=f"state: {pg_url}")
    r = cli("send", "--now", "2024-05-07T09:00:00+00:00")
    assert r.code == 0, r.err
    assert r.out.strip().endswith("sent 0, empty 1, failed 0, not due 1")
    assert len(list((tmp_path / "outbox").iterdir())) == 2
    (tmp_path / "papers" / "day2.txt").write_text(export(["Latent Diffusion Models at Scale"]), encoding="utf-8")
    r = cli("send", "--now", "2024-05-07T09:00:00+00:00")
    assert "sent        ada@example.org: 1 paper" in r.out  # new ids continue after the copied ones
    assert [d[0] for d in digests(pg_url)] == ["ada@example.org", "bob@example.org", "ada@example.org"]
    # the read-only commands read the database too
    import json

    r = cli("schedule", "--json", "--now", "2024-05-07T09:00:00+00:00")
    assert r.code == 0, r.err
    bob = next(s for s in json.loads(r.out)["subscribers"] if s["email"] == "bob@example.org")
    assert bob["last_sent"].startswith("2024-05-07T08:30") and bob["next_send"].startswith("2024-05-08T08:00")
    r = cli("match", "--json")
    assert r.code == 0, r.err
    ada = next(s for s in json.loads(r.out)["subscribers"] if s["email"] == "ada@example.org")
    assert ada["papers"] == []  # everything matching was sent


def test_state_migrate_waits_for_a_send_under_way_and_copies_what_it_delivered(tmp_path, cli, smtp_server, pg_url):
    """`state migrate` run while a cron send was delivering copied the state
    mid-send: the digests being sent arrived `pending` in the database, and
    the first send on it sent them again.  It waits for the send, as a
    second send would, and copies one consistent snapshot."""
    box = smtp_server.mailbox
    box.block_at = 3
    setup(tmp_path, smtp(smtp_server.port), subscribers=many(6))
    sending = start_newsletter("send", "--now", NOW, cwd=tmp_path)
    try:
        assert box.blocked.wait(60), "the third message never arrived"
        migrate = start_newsletter("state", "migrate", "--to", pg_url, cwd=tmp_path)
        try:
            stderr_until(migrate, "is running on this state; waiting for it")
        finally:
            box.release.set()
            out, err = migrate.communicate(timeout=60)
    finally:
        box.release.set()
        sending.communicate(timeout=60)
    assert sending.returncode == 0 and migrate.returncode == 0, err
    assert {status for _, status, *_ in digests(pg_url)} == {"sent"}, out
    setup(tmp_path, smtp(smtp_server.port), subscribers=many(6), extra=f"state: {pg_url}")
    r = cli("send", "--now", NOW)
    assert r.code == 0 and r.out.strip().splitlines()[-1] == "sent 0, empty 6, failed 0, not due 0", r.out
    assert len(box.messages) == 6


def test_state_migrate_refuses_bad_targets_and_missing_sources(tmp_path, cli):
    setup(tmp_path, "  transport: outbox")
    r = cli("state", "migrate", "--to", "postgresql://u:hunter2@127.0.0.1:1/db")
    assert r.code == 2 and r.err.strip().startswith("--to: 'postgresql://u@127.0.0.1:1/db' has a password in it: "
                                                    "keep it out of the URL (set PGPASSWORD")  # not "of the config"
    assert "hunter2" not in r.err
    r = cli("state", "migrate", "--to", "state2.sqlite3")
    assert r.code == 2 and "--to: 'state2.sqlite3' is not a postgresql:// URL" in r.err
    r = cli("state", "migrate", "--to", "mysql://u@h/db")  # it was told to give a SQLite file's path, which --to refuses
    assert r.code == 2 and r.err.strip() == ("--to: 'mysql' databases are not supported: give a "
                                             "postgresql://user@host:port/db URL"), r.err
    r = cli("state", "migrate", "--to", "postgresql://u@127.0.0.1:1/db")
    assert r.code == 2 and r.err.strip() == "newsletter-state.sqlite3: no SQLite state here (nothing to migrate)"


# --------------------------------------------------------------------------- PostgreSQL: many workers


def start_fleet(tmp_path: Path, server, pg_url: str, count: int, sends: int, connections: int):
    """``sends`` real `newsletter send` workers on one PostgreSQL state for
    ``count`` subscribers, each with ``connections`` SMTP connections to
    ``server`` (the test's SMTP server): the
    server holds message 200's answer, and answers no first message until
    every SMTP session has one in hand (none starts so late that the others
    have sent everything), and a worker waits for an answer longer than a
    slow start takes.  Output to files, not pipes: a worker must never wait
    for the test to read it.  The processes, and their (out, err) files."""
    box = server.mailbox
    box.block_at = 200
    box.gather_sessions = sends * connections
    delivery = smtp(server.port, f"  connections: {connections}\n").replace("timeout: 5\n", "timeout: 120\n")
    setup(tmp_path, delivery, subscribers=many(count), extra=f"state: {pg_url}")
    logs = [(tmp_path / f"worker{i}.out", tmp_path / f"worker{i}.err") for i in range(sends)]
    workers = [
        start_newsletter("send", "--now", NOW, cwd=tmp_path, stdout=out.open("w"), stderr=err.open("w"))
        for out, err in logs
    ]
    return workers, logs


def held_at_200(box) -> tuple:
    """Message 200 (its answer held), and the pid of the process that composed it (make_msgid puts it there)."""
    assert box.blocked.wait(120), "message 200 never arrived"
    in_flight = box.messages[199]
    return in_flight, int(in_flight.message_id.split(".")[1])


def finished_by_one_more_send(cli, pg_url: str, pid: int, count: int) -> list[tuple]:
    """One more send after a fleet's process ``pid`` was killed: it sends that
    process's claims (named one by one or, past 5, in one line for the run),
    and every one of ``count`` subscribers has a digest recorded sent.  The digests' rows."""
    r = cli("send", "--now", NOW)
    assert r.code == 0, r.err
    assert re.search(rf"(was|were) being sent when an earlier run \({pid}@", r.err), r.err
    rows = digests(pg_url)
    assert len(rows) == count and {status for _, status, *_ in rows} == {"sent"}
    assert sorted(s for s, *_ in rows) == sorted(f"user{i:02}@example.org" for i in range(count))
    return rows


def test_three_workers_share_a_digest_one_is_killed_and_one_more_send_finishes_it(tmp_path, cli, smtp_server, pg_url):
    """The done-when test of scale-out: three `newsletter send` workers on one
    PostgreSQL state split 1,500 subscribers; the one delivering message 200 is
    killed (SIGKILL) with that message accepted but unacknowledged; one more
    send leaves every subscriber with exactly one digest.

    Deterministic on a loaded machine: the server answers no worker's first
    message until all three have one in hand (each has claimed a batch), so
    none starts so late that the others have sent everything; and a worker
    waits for that answer longer than a slow start takes."""
    count = 1500
    box = smtp_server.mailbox
    workers, logs = start_fleet(tmp_path, smtp_server, pg_url, count, sends=3, connections=1)
    try:
        in_flight, pid = held_at_200(box)
        [victim] = [w for w in workers if w.pid == pid]
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=30)
        box.release.set()
        codes = {w.pid: w.wait(timeout=120) for w in workers if w is not victim}
        survivors = [
            (out.read_text(), err.read_text(), codes[w.pid]) for w, (out, err) in zip(workers, logs) if w is not victim
        ]
    finally:
        box.release.set()
        for w in workers:
            w.kill()
    assert victim.returncode == -signal.SIGKILL
    assert box.gathered.is_set()
    for out, err, code in survivors:
        assert code == 0, err
        assert "other workers" in out.strip().splitlines()[-1]  # they met each other's batches and skipped them
    first_run = list(box.messages)
    assert len({m.message_id.split(".")[1] for m in first_run}) == 3  # all three delivered a share
    assert sum(1 for s, status, *_ in digests(pg_url) if status == "sent") < count  # the victim's claims are owed

    finished_by_one_more_send(cli, pg_url, pid, count)
    # Everyone got their digest once; the one possible repeat is the message in flight at the kill.
    ids = [m.message_id for m in box.messages]
    assert sorted(set(box.recipients())) == sorted(f"user{i:02}@example.org" for i in range(count))
    assert len(set(ids)) == count and len(ids) - count <= 1
    assert all(ids.count(i) == 1 for i in ids if i != in_flight.message_id)
    assert cli("send", "--now", NOW).out.strip().splitlines()[-1] == f"sent 0, empty {count}, failed 0, not due 0"


def test_two_sends_each_split_across_processes_one_process_killed_every_digest_composed_and_sent_once(
    tmp_path, cli, smtp_server, pg_url
):
    """Two `newsletter send` workers on one PostgreSQL state, each split
    across processes (`connections: 2` forks one per core, each a worker of
    its own with its own session and lock; one process each on one core):
    the process delivering message 200 is killed (SIGKILL) with that message
    accepted but unanswered.  No subscriber's digest is composed by two
    processes (each recipient gets one Message-ID over both runs), the
    killed process's claims are left to the next send, which sends them
    with their Message-IDs, and every subscriber ends with exactly one
    digest recorded sent; the only message that may arrive twice is the one
    in flight.  Deterministic under load: the server answers no first
    message until all four SMTP sessions have one in hand, and holds
    message 200's answer until the kill is done."""
    count = 800
    box = smtp_server.mailbox
    workers, logs = start_fleet(tmp_path, smtp_server, pg_url, count, sends=2, connections=2)
    try:
        in_flight, pid = held_at_200(box)
        os.kill(pid, signal.SIGKILL)  # a whole send, or one of a send's processes
        box.release.set()
        codes = [w.wait(timeout=120) for w in workers]
    finally:
        box.release.set()
        for w in workers:
            w.kill()
    errs = [err.read_text() for _, err in logs]
    whole = [w.pid for w in workers].count(pid) == 1
    for w, code, err in zip(workers, codes, errs):
        if w.pid == pid:
            assert code == -signal.SIGKILL
        elif whole or "killed by SIGKILL" not in err:
            assert code == 0, err
        else:  # the killed process's parent: the others delivered, its share is left
            assert code == 1 and "stopped without finishing (killed by SIGKILL)" in err, err
    assert sum(1 for err in errs if "killed by SIGKILL" in err) == (0 if whole else 1), errs
    assert sum(1 for _, status, *_ in digests(pg_url) if status == "sent") < count  # the killed one's claims are owed

    rows = finished_by_one_more_send(cli, pg_url, pid, count)
    ids_of: dict[str, set[str]] = {}
    for m in box.messages:
        for rcpt in m.rcpt_tos:
            ids_of.setdefault(rcpt, set()).add(m.message_id)
    assert sorted(ids_of) == sorted(f"user{i:02}@example.org" for i in range(count))
    assert all(len(ids) == 1 for ids in ids_of.values()), [r for r, ids in ids_of.items() if len(ids) > 1]
    ids = [m.message_id for m in box.messages]
    assert len(ids) - count <= 1 and all(ids.count(i) == 1 for i in ids if i != in_flight.message_id)
    assert {mid for _, _, mid, *_ in rows} == set(ids)  # recorded with the Message-ID that arrived


@pytest.mark.parametrize(("paused", "restart"), [(False, False), (True, False), (True, True)],
                         ids=["running", "stopped-past-its-lease", "stopped-through-a-restart"])
def test_a_worker_whose_postgres_session_ends_sends_no_more_of_its_claims(
    tmp_path, cli, smtp_server, pg_url, pg_server, paused, restart
):
    """A worker's session ended mid-batch (the server restarted, an
    administrator or a pooler ended it) while its delivery
    threads' pooled connections lived on: the next worker's send took its
    claims back (its lock was free) and sent them, and the first went on
    sending the same digests: 6 of 8 subscribers got theirs twice, and it
    said nothing, exit 0.  It now stops at its next message: only the one in
    flight may go twice, and it says why and exits 1.

    Stopped past its lease (SIGSTOP, a suspended VM, with a message in
    flight): its heartbeat stops with it, and the server ends its idle
    session (SESSION_IDLE_LIMIT; here at once), freeing its claims, which
    another send takes and delivers.  Continued, it hears its message's
    answer and hands over nothing more: fenced by its lost session.

    Stopped through a restart of the server, while another send took its
    claims back: continued, it resumes its session on the restarted server
    (its lock was free) but hands over none of the digests the other took
    (exit 0, `other workers 5`): fenced per digest, not by its session
    alone."""
    box = smtp_server.mailbox
    box.block_at = 3
    setup(tmp_path, smtp(smtp_server.port), subscribers=many(8), extra=f"state: {pg_url}")
    first = start_newsletter("send", "--now", NOW, cwd=tmp_path)
    try:
        assert box.blocked.wait(60), "the third message never arrived"
        if paused:
            first.send_signal(signal.SIGSTOP)
        if restart:
            pg_server.restart()
        else:
            ended = query(  # its session (the one holding a worker lock) ends
                pg_url, "SELECT pg_terminate_backend(pid, 10000) FROM pg_locks WHERE locktype = 'advisory' "
                "AND pid <> pg_backend_pid()")
            assert ended == [(True,)]
        second = cli("send", "--now", NOW)
        assert second.code == 0 and "being sent when an earlier run" in second.err, second.err  # taken back
        taken_over = len(box.messages)
        box.release.set()
        first.send_signal(signal.SIGCONT)
        out, err = first.communicate(timeout=60)
    finally:
        box.release.set()
        first.send_signal(signal.SIGCONT)
        first.kill()
    assert first.returncode == (0 if restart else 1) and "Traceback" not in err, out + err
    assert "the PostgreSQL session ended (terminating connection due to administrator command)" in err, err
    assert ("this worker resumed it on the restarted server" in err) == restart, err
    if restart:
        assert out.strip().splitlines()[-1] == "sent 3, empty 0, failed 0, not due 0, other workers 5", out
    assert len(box.messages) == taken_over  # nothing handed over after its session ended
    in_flight = box.messages[2].message_id
    ids = [m.message_id for m in box.messages]
    assert sorted(set(box.recipients())) == [f"user{i:02}@example.org" for i in range(8)]
    assert len(set(ids)) == 8 and len(ids) == 9 and ids.count(in_flight) == 2, ids
    rows = query(pg_url, "SELECT message_id, status, uncertain FROM digests")
    assert {(mid, status) for mid, status, _ in rows} == {(i, "sent") for i in set(ids)}
    # (every claim taken back is marked so: whether the first had handed it over, no one could tell)
    assert in_flight in {mid for mid, _, uncertain in rows if uncertain}

def test_a_session_that_ends_under_the_planners_claim_stops_the_send_as_when_a_delivery_finds_it(
    tmp_path, cli, smtp_server, pg_url
):
    """PostgreSQL restarted (or an administrator ended the worker's session)
    while the planner's claim was under way: the send stopped on it as on a
    state it cannot use at all (exit 2, no summary), while a worker whose
    delivery thread noticed it first said the session ended and exited 1
    with the rest pending (six workers through one restart ended both ways).
    It stops the same way whoever notices; the next send sends them all."""
    import psycopg

    setup(tmp_path, smtp(smtp_server.port), subscribers=many(8), extra=f"state: {pg_url}")
    with open_state(pg_url) as st:  # user03's digest is owed from an earlier run: the claim takes its row
        st.see_subscribers([f"user{i:02}@example.org" for i in range(8)], datetime(2024, 5, 6, 8, tzinfo=UTC))
    query(pg_url, "INSERT INTO digests (subscriber, status, message_id, created) "
                  "VALUES ('user03@example.org', 'pending', '<owed@example.org>', now()) RETURNING id")
    with psycopg.connect(pg_url) as holder:
        holder.execute("SELECT 1 FROM digests WHERE subscriber = 'user03@example.org' FOR UPDATE")  # a psql session
        proc = start_newsletter("send", "--now", NOW, cwd=tmp_path)
        try:
            waiting: list = []
            while proc.poll() is None and not waiting:  # the claim waits for the row
                waiting = holder.execute(
                    "SELECT l.pid FROM pg_locks l WHERE NOT l.granted AND l.pid IN (SELECT pid FROM pg_locks "
                    "WHERE locktype = 'advisory' AND granted)").fetchall()
            assert waiting, proc.communicate(timeout=30)
            with psycopg.connect(pg_url, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s, 10000)", (waiting[0][0],))
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
        holder.rollback()
    assert proc.returncode == 1 and "Traceback" not in err, out + err
    assert err.strip().splitlines()[-1] == (
        "the PostgreSQL session ended (terminating connection due to administrator command): this worker's claimed "
        "digests are any worker's to send now, so it sends no more of them"), err
    assert out.strip().splitlines()[-1] == "sent 0, empty 0, failed 0, not due 0, not reached 8", out
    assert smtp_server.mailbox.messages == []
    r = cli("send", "--now", NOW)
    assert r.code == 0 and r.out.strip().splitlines()[-1] == "sent 8, empty 0, failed 0, not due 0", r.out + r.err
    assert sorted(smtp_server.mailbox.recipients()) == [f"user{i:02}@example.org" for i in range(8)]


def test_postgres_restarted_mid_send_loses_no_delivery_and_sends_none_twice(tmp_path, cli, smtp_server, pg_url, pg_server):
    """PostgreSQL restarted while the server held the third message's reply:
    its `sent` mark failed on the pooled connection the restart had ended,
    the send stopped (exit 2) leaving all six `sending`, and the next run sent
    the delivered one again.  The mark is now made again on a fresh
    connection.  Then the worker stopped (its session, and the lock that
    fences its claims, had ended; exit 1, five left pending), and each
    digest's unsubscribe check, made on a connection the restart had ended,
    withheld it for the whole run though the server was back in a second.
    Now the worker takes its lock anew on the restarted server, asks each
    check again there (one who unsubscribed meanwhile still gets nothing)
    and sends the rest: exit 0, each digest once."""
    box = smtp_server.mailbox
    box.block_at = 3
    setup(tmp_path, smtp(smtp_server.port), subscribers=many(8), extra=f"state: {pg_url}")
    first = start_newsletter("send", "--now", NOW, cwd=tmp_path)
    try:
        assert box.blocked.wait(60), "the third message never arrived"
        pg_server.restart()
        query(pg_url, "INSERT INTO unsubscribed (email, at) VALUES ('user06@example.org', now()) RETURNING email")
    finally:
        box.release.set()
        out, err = first.communicate(timeout=60)
    assert first.returncode == 0 and "Traceback" not in err, out + err
    assert out.strip().splitlines()[-1] == "sent 7, empty 0, failed 0, not due 0, unsubscribed 1", out
    [said] = [line for line in err.splitlines() if "session ended" in line]
    assert said == (
        "the PostgreSQL session ended (terminating connection due to administrator command) as the server restarted; "
        "this worker resumed it on the restarted server and goes on sending its claims"), err
    assert "psycopg.Connection" not in err and "not attempted" not in err  # the pool's repairs are not news
    assert sorted(box.recipients()) == [f"user{i:02}@example.org" for i in range(8) if i != 6]
    assert len({m.message_id for m in box.messages}) == len(box.messages) == 7
    assert sorted(status for _, status, *_ in digests(pg_url)) == ["pending"] + ["sent"] * 7

    r = cli("send", "--now", NOW)
    assert r.code == 0 and "being sent" not in r.err, r.err
    assert r.out.strip().splitlines()[-1] == "sent 0, empty 7, failed 0, not due 0, unsubscribed 1", r.out
    assert len(box.messages) == 7


@pytest.mark.parametrize("fault", ["restart", "sessions ended"])
def test_postgres_restarted_mid_big_send_names_each_worker_and_counts_every_subscriber(
    tmp_path, cli, smtp_server, pg_url, pg_server, fault
):
    """PostgreSQL restarted in the middle of a send shared among worker
    processes: the summary ended 'no new papers ... none new for any due
    subscriber' (the workers whose claims were lost told the parent nothing
    of what they had composed), a worker that could not reach the database
    was named by the database's error alone, and the subscribers no worker
    reached were in no count.  A restart is now weathered: each worker takes
    its lock anew on the restarted server and the send finishes, each digest
    once.  Sessions ended on a server that did not restart (an administrator
    ended them: the workers were taken for gone) stop the workers: every
    subscriber is counted (`not reached`), each stopped worker is named, and
    the next send sends the rest, each digest once."""
    from newsletter.sending import SHARD_MIN

    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one core: send forks no workers")
    box = smtp_server.mailbox
    box.block_at = 40
    setup(tmp_path, smtp(smtp_server.port, "  connections: 2"), subscribers=many(SHARD_MIN), extra=f"state: {pg_url}")
    first = start_newsletter("send", "--json", "--now", NOW, cwd=tmp_path)
    try:
        assert box.blocked.wait(60), "the 40th message never arrived"
        if fault == "restart":
            pg_server.restart()
        else:
            assert query(pg_url, "SELECT bool_and(pg_terminate_backend(pid, 10000)) FROM pg_locks "
                                 "WHERE locktype = 'advisory' AND pid <> pg_backend_pid()") == [(True,)]
    finally:
        box.release.set()
        out, err = first.communicate(timeout=120)
    assert first.returncode == (0 if fault == "restart" else 1) and "Traceback" not in err, err
    assert "no new papers" not in err, err
    report = json.loads(out)
    if fault == "restart":
        assert report["sent"] == SHARD_MIN and not report["problems"], {k: v for k, v in report.items() if k != "digests"}
        assert "resumed it on the restarted server" in err, err
    else:
        assert report["sent"] >= 39 and report["problems"], report["problems"]
    for problem in report["problems"]:
        assert problem in err and ("send worker send-" in problem or "this worker's claimed digests" in problem), problem
    counted = report["sent"] + report["pending"] + report["failed"] + report["empty"] + report["not_reached"]
    assert counted == SHARD_MIN, {k: v for k, v in report.items() if k != "digests"}
    r = cli("send", "--now", NOW)
    assert r.code == 0, r.err[-500:]
    ids = [m.message_id for m in box.messages]
    assert len(ids) == len(set(ids)) == SHARD_MIN


def test_a_worker_that_finds_every_subscriber_taken_does_not_say_there_are_no_new_papers(tmp_path, cli, smtp_server, pg_url):
    """Of six workers racing for 200 digests, those that found every batch
    held by the others said 'no new papers: all 1 source read (6 papers),
    none new for any due subscriber': the others were sending those papers."""
    import psycopg

    setup(tmp_path, smtp(smtp_server.port), extra=f"state: {pg_url}")
    with open_state(pg_url) as st:
        st.see_subscribers(["ada@example.org", "bob@example.org"], datetime(2024, 5, 6, 8, tzinfo=UTC))
    with psycopg.connect(pg_url) as other:  # another worker planning both
        other.execute("SELECT email FROM subscriber_locks FOR UPDATE").fetchall()
        r = cli("send", "--now", NOW)
    assert r.code == 0, r.err
    assert r.out.strip().splitlines()[-1] == "sent 0, empty 0, failed 0, not due 0, other workers 2", r.out
    assert "no new papers" not in r.err, r.err
    assert not smtp_server.mailbox.messages


def test_postgres_workers_go_by_the_databases_clock_not_their_own(tmp_path, cli, pg_url):
    """Workers on several machines share one state, not one clock: a worker
    whose clock ran ahead sent digests before they were due (the earliest
    clock of the fleet won, every time) and recorded them sent in its future;
    one whose clock lagged sent them late.  Each goes by PostgreSQL's clock,
    and says how far its own is off."""
    import psycopg

    every = "\n  - email: ada@example.org\n    topics: [diffusion]\n    schedule: every 25 hours\n"
    setup(tmp_path, "  transport: outbox", subscribers=every, extra=f"state: {pg_url}")
    assert cli("send").code == 0  # ada is first seen: her first slot is 25 hours on
    ahead = cli("send", env=clock_off("+26h"))
    assert ahead.code == 0 and ahead.out.strip().splitlines()[-1] == "sent 0, empty 0, failed 0, not due 1", ahead.out
    assert f"warning: this machine's clock is 26 hours ahead of the clock of {pg_url}; due times" in ahead.err, ahead.err
    assert cli("schedule", "--json", env=clock_off("+26h")).out.count('"due": false') == 1
    assert digests(pg_url) == [] and not list((tmp_path / "outbox").glob("*.eml"))

    with psycopg.connect(pg_url, autocommit=True) as con:  # her first slot: 5 minutes ago, by the database's clock
        con.execute("UPDATE subscribers SET first_seen = now() - interval '25 hours 5 minutes'")
    behind = cli("send", env=clock_off("-10m"))
    assert behind.code == 0 and "sent 1," in behind.out, behind.out + behind.err
    assert "warning: this machine's clock is 10 minutes behind the clock of" in behind.err, behind.err
    assert [status for _, status, *_ in digests(pg_url)] == ["sent"] and len(list((tmp_path / "outbox").glob("*.eml"))) == 1
    # recorded by the database's clock, not ten minutes in its past
    assert query(pg_url, "SELECT sent > now() - interval '5 minutes' FROM digests") == [(True,)]


def test_send_now_ahead_is_judged_by_the_databases_clock_as_the_workers_go(tmp_path, cli, pg_url):
    """`send --now` may run at most 5 minutes ahead (a send recorded in the
    future holds every schedule back); it was judged by the machine's clock
    while the workers go by PostgreSQL's: on a machine a day ahead, a send
    "at" two hours in the database's future was taken, and on a machine a
    day behind, a backfill a minute in the database's past was refused."""
    from datetime import timedelta

    setup(tmp_path, "  transport: outbox", extra=f"state: {pg_url}")
    [(db_now,)] = query(pg_url, "SELECT now()")  # the clock every worker goes by
    later = (db_now + timedelta(hours=2)).astimezone(UTC).isoformat()
    r = cli("send", "--now", later, env=clock_off("+1d"))
    assert r.code == 2 and "Traceback" not in r.err, r.err
    assert f"'--now': {later} is ahead of the clock of {pg_url}, which every worker goes by (" in r.err, r.err
    assert digests(pg_url) == [] and not list((tmp_path / "outbox").glob("*.eml"))
    assert cli("send", "--dry-run", "--now", later, env=clock_off("+1d")).code == 0  # looking ahead is fine

    earlier = (db_now - timedelta(minutes=1)).astimezone(UTC).isoformat()
    r = cli("send", "--now", earlier, env=clock_off("-1d"))
    assert r.code == 0 and r.out.strip().splitlines()[-1] == "sent 2, empty 0, failed 0, not due 0", r.out + r.err
    assert [status for _, status, *_ in digests(pg_url)] == ["sent", "sent"]


def test_a_databases_short_statement_and_lock_timeouts_cancel_no_record_of_a_worker(tmp_path, cli, pg_url, pg_server):
    """A database may set statement_timeout and lock_timeout for runaway
    queries.  A worker's statements gave way to them: a delivered digest's
    record waiting on a row lock (another worker's, a psql session) was
    cancelled, and the next run sent the digest again.  A worker's own limit
    (120 s with no answer) is the one that holds on its connections."""
    import psycopg

    setup(tmp_path, "  transport: outbox", subscribers=many(3), extra=f"state: {pg_url}")
    with open_state(pg_url) as st:
        st.see_subscribers([f"user{i:02}@example.org" for i in range(3)], datetime(2024, 5, 6, 8, tzinfo=UTC))
    name = pg_url.rsplit("/", 1)[1]
    with psycopg.connect(pg_url) as holder:  # (opened before the limits: they bind sessions opened after)
        holder.execute("SELECT 1 FROM subscribers WHERE email = 'user01@example.org' FOR UPDATE")
        pg_server.admin(f"ALTER DATABASE {name} SET statement_timeout = '1ms'")
        pg_server.admin(f"ALTER DATABASE {name} SET lock_timeout = '1ms'")
        proc = start_newsletter("send", "--now", NOW, cwd=tmp_path)
        try:
            waited = False
            while proc.poll() is None and not waited:  # the record of user01's digest waits for the row
                waited = bool(holder.execute("SELECT 1 FROM pg_locks WHERE NOT granted AND locktype = 'transactionid'")
                              .fetchall())
            holder.commit()
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    pg_server.admin(f"ALTER DATABASE {name} RESET ALL")
    assert proc.returncode == 0 and waited, out + err
    assert out.strip().splitlines()[-1] == "sent 3, empty 0, failed 0, not due 0", out + err
    assert [status for _, status, *_ in digests(pg_url)] == ["sent"] * 3
    assert cli("send", "--now", NOW).out.strip().splitlines()[-1] == "sent 0, empty 3, failed 0, not due 0"


def test_a_delivered_digests_record_cancelled_at_the_workers_statement_limit_is_made_without_the_held_row(
    tmp_path, smtp_server, pg_url, monkeypatch
):
    """Another session (a psql session left in a transaction) held a
    subscriber's row past the worker's own statement limit (110 s; here the
    server's statement_timeout is set to 1.5 s through ANSWER_WITHIN): the
    record of that subscriber's delivered digest was cancelled, the send
    stopped (exit 2, the digest after it not attempted) and the next send
    sent the delivered digest again, so it arrived twice.  Now the digest
    is recorded sent without the held row (its subscriber's send time alone
    is left, named in one warning), the send goes on (exit 0), and the next
    send sends nothing again."""
    import psycopg

    from newsletter.state import postgres

    monkeypatch.setattr(postgres, "ANSWER_WITHIN", 3.0)  # the server's statement_timeout for the worker: 1.5 s
    setup(tmp_path, smtp(smtp_server.port), subscribers=many(3), extra=f"state: {pg_url}")
    with open_state(pg_url) as st:  # (seen before: the claim writes no subscriber row)
        st.see_subscribers([f"user{i:02}@example.org" for i in range(3)], datetime(2024, 5, 6, 8, tzinfo=UTC))
    env = {"PGPASSFILE": os.environ["PGPASSFILE"]}
    with psycopg.connect(pg_url) as holder:  # held for the whole send: no wait in the test but the server's own
        holder.execute("SELECT 1 FROM subscribers WHERE email = 'user01@example.org' FOR UPDATE")
        r = run_in_process("send", "--now", NOW, cwd=tmp_path, env=env)
        holder.rollback()
    assert r.code == 0 and "Traceback" not in r.err, r.out + r.err
    assert r.out.strip().splitlines()[-1] == "sent 3, empty 0, failed 0, not due 0", r.out
    [said] = [line for line in r.err.splitlines() if "statement timeout" in line]
    assert said.startswith(f"{pg_url}: PostgreSQL: canceling statement due to statement timeout (no result within "
                           "the worker's 1.5 s, while updating tuple "), said
    # (user01's record may have been grouped with user00's: "the digests are")
    assert re.search(r' in relation "subscribers": a lock another session holds \(pg_stat_activity and pg_locks show '
                     r"which\), or an overloaded server\); the (digest is|digests are) recorded sent all the same "
                     r"\(none goes again\), but not the send time of user01@example\.org, whose row another session "
                     r"holds: it may be due again before its schedule says \(with only papers not yet sent; a worker finding it due "
                     r"with nothing left passes over the held row, leaving it due, not waiting on it\)$", said), said
    assert [status for _, status, *_ in digests(pg_url)] == ["sent"] * 3
    assert sorted(smtp_server.mailbox.recipients()) == [f"user{i:02}@example.org" for i in range(3)]

    again = run_in_process("send", "--now", NOW, cwd=tmp_path, env=env)
    assert again.code == 0 and "being sent when an earlier run" not in again.err, again.err
    assert again.out.strip().splitlines()[-1] == "sent 0, empty 3, failed 0, not due 0", again.out
    assert len(smtp_server.mailbox.messages) == 3


def test_a_delivered_digest_whose_own_row_is_held_past_the_statement_limit_is_never_sent_again(
    tmp_path, smtp_server, pg_url, monkeypatch
):
    """Where the delivered digest's own row is the one another session (a
    psql session left in a transaction) holds past the worker's statement
    limit, nothing of it could be recorded: the send stopped (exit 2) and
    the next send sent it again, with the same Message-ID.  Now its delivery
    is recorded beside the row, the send goes on (exit 0, a warning names
    it), and the next send, the row free, records it in the row and sends
    nobody anything twice."""
    import threading

    import psycopg

    from newsletter.state import postgres

    monkeypatch.setattr(postgres, "ANSWER_WITHIN", 3.0)  # the server's statement_timeout for the worker: 1.5 s
    box = smtp_server.mailbox
    box.block_at = 2  # the second message's reply is held while its digest's row is taken
    setup(tmp_path, smtp(smtp_server.port), subscribers=many(3), extra=f"state: {pg_url}")
    env = {"PGPASSFILE": os.environ["PGPASSFILE"]}
    done: list = []
    sending = threading.Thread(target=lambda: done.append(run_in_process("send", "--now", NOW, cwd=tmp_path, env=env)))
    sending.start()
    try:
        assert box.blocked.wait(60), "the second message never arrived"
        [held] = box.messages[1].rcpt_tos
        with psycopg.connect(pg_url) as holder:
            holder.execute("SELECT 1 FROM digests WHERE subscriber = %s FOR UPDATE", (held,))
            box.release.set()
            sending.join(60)
            holder.rollback()
    finally:
        box.release.set()
        sending.join(60)
    [r] = done
    assert r.code == 0 and "Traceback" not in r.err, r.out + r.err
    assert r.out.strip().splitlines()[-1] == "sent 3, empty 0, failed 0, not due 0", r.out
    [said] = [line for line in r.err.splitlines() if "statement timeout" in line]
    assert said.startswith(f"{pg_url}: PostgreSQL: canceling statement due to statement timeout (no result within "
                           "the worker's 1.5 s, while updating tuple "), said
    assert said.endswith(f' in relation "digests": a lock another session holds (pg_stat_activity and pg_locks show '
                         f"which), or an overloaded server); the digest delivered to {held} is recorded sent beside "
                         "its row, which another session holds (none goes again); that subscriber gets nothing more "
                         "until a send finds the row free and moves the record into it"), said

    again = run_in_process("send", "--now", NOW, cwd=tmp_path, env=env)
    assert again.code == 0 and "Traceback" not in again.err, again.out + again.err
    assert again.out.strip().splitlines()[-1] == "sent 0, empty 3, failed 0, not due 0", again.out
    assert sorted(box.recipients()) == [f"user{i:02}@example.org" for i in range(3)]  # each once
    assert [status for _, status, *_ in digests(pg_url)] == ["sent"] * 3
    assert query(pg_url, "SELECT count(*) FROM delivered") == [(0,)]


def test_a_claim_meeting_a_row_held_past_the_workers_statement_limit_sends_the_rest_and_names_the_held_one(
    tmp_path, smtp_server, pg_url, monkeypatch
):
    """A batch's claim waited on an owed digest's row another session held
    (a psql session left in a transaction) past the worker's statement limit
    (here 1.5 s through ANSWER_WITHIN), was cancelled, and the whole send
    stopped (exit 2): nobody got a digest.  Now the others' digests go out;
    the held one stays pending, named in one line, and the send exits 1 as
    for a failed delivery; the next send sends it, with its Message-ID."""
    import psycopg

    from newsletter.state import postgres

    monkeypatch.setattr(postgres, "ANSWER_WITHIN", 3.0)  # the server's statement_timeout for the worker: 1.5 s
    setup(tmp_path, smtp(smtp_server.port), subscribers=many(8), extra=f"state: {pg_url}")
    with open_state(pg_url) as st:
        st.see_subscribers([f"user{i:02}@example.org" for i in range(8)], datetime(2024, 5, 6, 8, tzinfo=UTC))
    query(pg_url, "INSERT INTO digests (subscriber, status, message_id, created) "  # owed from an earlier run
                  "VALUES ('user03@example.org', 'pending', '<owed@example.org>', now()) RETURNING id")
    env = {"PGPASSFILE": os.environ["PGPASSFILE"]}
    with psycopg.connect(pg_url) as holder:  # held for the whole send: no wait in the test but the server's own
        holder.execute("SELECT 1 FROM digests WHERE subscriber = 'user03@example.org' FOR UPDATE")
        r = run_in_process("send", "--now", NOW, cwd=tmp_path, env=env)
        holder.rollback()
    assert r.code == 1 and "Traceback" not in r.err, r.out + r.err
    assert r.out.strip().splitlines()[-1] == "sent 7, empty 0, failed 0, not due 0, locked 1", r.out
    [said] = [line for line in r.err.splitlines() if "left out of this send" in line]
    assert said == (f"{pg_url}: 1 subscriber left out of this send (user03@example.org): another session held rows of "
                    "theirs past the worker's statement limit (a psql session left in a transaction? pg_stat_activity "
                    "and pg_locks show which); their digests stay as they were, and the next send sends them"), said
    assert sorted(smtp_server.mailbox.recipients()) == [f"user{i:02}@example.org" for i in range(8) if i != 3]
    assert ("user03@example.org", "pending", "<owed@example.org>", 0, None) in digests(pg_url)

    again = run_in_process("send", "--now", NOW, cwd=tmp_path, env=env)
    assert again.code == 0 and again.out.strip().splitlines()[-1] == "sent 1, empty 7, failed 0, not due 0", again.out
    assert sorted(smtp_server.mailbox.recipients()) == [f"user{i:02}@example.org" for i in range(8)]
    assert "<owed@example.org>" in {m.message_id for m in smtp_server.mailbox.messages}


def test_a_pooler_sharing_server_sessions_is_refused_before_anything_is_sent(tmp_path, cli, pg_server, pg_url):
    """Through PgBouncer in transaction mode a worker's session lock (which
    says it lives) stayed on a server connection other clients then used, so
    another worker could find it its own and take a live worker's claims;
    and a send stopped on 'prepared statement "_pg3_0" already exists' with
    digests delivered and unrecorded (sent again by the next run).  It is
    refused at once, naming the pool mode to use; session mode works."""
    from pg_server import Bouncer

    try:
        shared, kept = Bouncer(pg_server, "transaction"), Bouncer(pg_server, "session")
    except FileNotFoundError:
        pytest.skip("needs PgBouncer (Debian's pgbouncer)")
    try:
        setup(tmp_path, "  transport: outbox", subscribers=many(3), extra=f"state: {shared.url(pg_url)}")
        r = cli("send", "--now", NOW)
        assert r.code == 2 and r.err.strip() == (
            f"{shared.url(pg_url)}: the connection goes through a pooler in transaction or statement mode "
            "(PgBouncer's pool_mode = transaction), which shares one server session among its clients: a worker's "
            "claims are held by its session; connect directly, or through a pooler in session mode (pool_mode = "
            "session); nothing was sent"
        ), r.err
        assert query(pg_url, "SELECT to_regclass('digests')") == [(None,)] and not list((tmp_path / "outbox").glob("*"))
        setup(tmp_path, "  transport: outbox", subscribers=many(3), extra=f"state: {kept.url(pg_url)}")
        r = cli("send", "--now", NOW)
        assert r.code == 0 and r.out.strip().splitlines()[-1] == "sent 3, empty 0, failed 0, not due 0", r.out + r.err
    finally:
        shared.stop()
        kept.stop()


def test_a_retry_time_is_shown_rounded_up_to_the_minute():
    from datetime import UTC

    from newsletter.sending import DigestResult

    at = datetime(2026, 11, 29, 13, 30, 27, tzinfo=UTC)
    waiting = DigestResult("a@example.org", "waiting", error="down", next_attempt=at)
    assert "retried from 2026-11-29 13:31 UTC," in str(waiting)  # not 13:30: still waiting then
    on_the_minute = DigestResult("a@example.org", "waiting", error="down", next_attempt=at.replace(second=0))
    assert "retried from 2026-11-29 13:30 UTC," in str(on_the_minute)


def test_digests_a_stop_left_untried_are_counted_pending_apart_from_failures():
    from newsletter.sending import DigestResult, SendReport

    untried = DigestResult("a@example.org", "pending", 2, "<m@x>", "not attempted: stop requested", True)
    report = SendReport(sent=1, empty=0, failed=1, not_due=0, results=(untried,), pending=1)
    assert str(report) == "sent 1, empty 0, failed 1, not due 0, left pending 1"
    assert (report.to_json()["pending"], report.to_json()["failed"]) == (1, 1)
    assert str(untried) == "pending     a@example.org: not attempted: stop requested (stays pending, sent by the next run)"


@pytest.mark.parametrize("command", ["validate", "send"])
def test_a_secret_written_where_its_variable_name_goes_is_not_echoed(tmp_path, cli, command):
    """password_env: hunter2 (the password itself, in the shape of a name)
    answered 'environment variable hunter2 is not set': the password in the
    output, the cron mail and the logs.  So did a signing key without '-'."""
    key = "Q7xkP2mVbN9rT4wYzL8cH3jD6fG1sA5eU0iO"
    setup(tmp_path, smtp(free_port(), f"  username: {USER}\n  password_env: hunter2\n"),
          extra=f"web:\n  base_url: https://digest.example.org\n  secret_env: {key}\n")
    r = cli(command, *(["--now", NOW] if command == "send" else []))
    assert r.code == 2, r.out + r.err
    assert "hunter2" not in r.out + r.err and key not in r.out + r.err and "Traceback" not in r.err
    if command == "validate":  # every problem; send stops at the first
        assert ("delivery.password_env: the environment variable it names is not set (the name is not shown: it does "
                "not look like a variable name such as SMTP_PASSWORD, and may be the secret itself; password_env "
                "holds the variable's NAME)") in r.err, r.err
    assert "web.secret_env: the environment variable it names is not set (the name is not shown: " in r.err, r.err
    # a name as people write them is still named
    setup(tmp_path, smtp(free_port(), f"  username: {USER}\n  password_env: lab_smtp_password\n"))
    assert "environment variable lab_smtp_password is not set" in cli(command, *(["--now", NOW] if command == "send" else [])).err


def test_starttls_against_an_implicit_tls_port_says_to_set_security_ssl(tmp_path, cli, ssl_server):
    """Amazon SES serves implicit TLS on 2465 as well as 465: `security:
    starttls` there waited for a greeting four times (two minutes with the
    defaults) and ended 'did not answer within 30 s (its greeting or EHLO)'."""
    setup(tmp_path, tls_login(ssl_server).replace("  ca_file:", "  timeout: 1\n  retries: 3\n  ca_file:"))
    r = cli("send", "--now", NOW, env={"DIGEST_SMTP_PASSWORD": PASSWORD})
    assert r.code == 1, r.out + r.err
    assert (f"SMTP server 127.0.0.1:{ssl_server.port} did not answer within 1 s (its greeting): it waits for a TLS "
            "handshake first (implicit TLS, as on port 465): set security: ssl") in r.out + r.err, r.out + r.err
    assert "retrying" not in r.out + r.err and ssl_server.mailbox.messages == []


def test_validate_names_an_unset_password_and_a_missing_ca_file_together(tmp_path, cli):
    """The first validate named the unset password only; the missing CA file
    came one fix later."""
    setup(tmp_path, smtp(free_port(), f"  username: {USER}\n  password_env: DIGEST_SMTP_PASSWORD\n  ca_file: ca.pem\n")
          .replace("security: none", "security: starttls"))
    r = cli("validate")
    assert r.code == 2, r.out + r.err
    assert "delivery.password_env: environment variable DIGEST_SMTP_PASSWORD is not set" in r.err, r.err
    assert "config.yaml:31: delivery.ca_file: 'ca.pem': no such file" in r.err, r.err


def test_match_shows_when_a_subscriber_left_in_its_own_time_zone(tmp_path, cli):
    """`schedule` said 'unsubscribed 2026-11-30 08:04 CET' and `match` '07:04 UTC'
    for the same Berlin subscriber."""
    import re

    setup(tmp_path, "  transport: outbox\n", extra="timezone: Europe/Berlin\n")
    assert cli("unsubscribe", "ada@example.org").code == 0
    out = cli("match").out
    assert re.search(r"^Ada Lovelace <ada@example.org>: unsubscribed \d{4}-\d\d-\d\d \d\d:\d\d CES?T, gets no digest",
                     out, re.M), out


@pytest.mark.parametrize("journal", ["delete", "wal"])
def test_sigterm_while_another_process_holds_the_sqlite_file_stops_the_wait(tmp_path, smtp_server, cli, journal):
    """Another process in a write transaction on the state file (an sqlite3
    shell, a backup tool): SQLite's busy handler waits in C, where SIGTERM's
    handler cannot run, so the stop waited out the 30 s busy timeout and
    then failed as 'the state is locked' (exit 2).  It stops at once."""
    import time

    box = smtp_server.mailbox
    setup(tmp_path, smtp(smtp_server.port))
    assert cli("send", "--now", NOW).code == 0 and len(box.messages) == 2
    (tmp_path / "papers" / "day2.txt").write_text(export(["Diffusion Models for Task 9"]), encoding="utf-8")
    holder = sqlite3.connect(tmp_path / "newsletter-state.sqlite3", isolation_level=None)
    try:
        if journal == "wal":  # the file stays in WAL mode: the wait is the send's first write, not its open
            holder.execute("PRAGMA journal_mode=WAL")
        holder.execute("BEGIN IMMEDIATE")
        started = time.monotonic()
        proc = start_newsletter("send", "--now", NOW, cwd=tmp_path)
        out, err = terminated_once_said(proc, "is locked by another process (database is locked); waiting up to 30 s")
        assert time.monotonic() - started < 25  # not SQLite's 30 s (generous: the start of a process under load)
    finally:
        holder.close()
    assert proc.returncode == 143, (out, err)
    assert "Traceback" not in err and len(box.messages) == 2 and out == ""
    assert re.search(r"^interrupted: newsletter-state\.sqlite3: stopped while waiting for another process to let go "
                     r"of the state \(database is locked\)$", err, re.M), err
    r = cli("send", "--now", NOW)
    assert r.code == 0 and len(box.messages) == 4, r.err


def test_sigterm_mid_send_while_another_process_holds_the_file_loses_and_repeats_nothing(tmp_path, smtp_server, cli):
    """The message in flight is delivered after the stop while another
    process holds the state file: its mark cannot wait for the lock, so it
    is noted beside the state, and the next send records it first.  Said
    as the interruption it is (exit 143), not "stopped on an error" (exit 2)."""
    box = smtp_server.mailbox
    box.block_at = 2
    setup(tmp_path, smtp(smtp_server.port), subscribers=many(4))
    proc = start_newsletter("send", "--now", NOW, cwd=tmp_path)
    holder = None
    try:
        assert box.blocked.wait(60), "the second message never arrived"
        holder = sqlite3.connect(tmp_path / "newsletter-state.sqlite3", isolation_level=None)  # (the send made it)
        holder.execute("BEGIN IMMEDIATE")
        proc.send_signal(signal.SIGTERM)
        stderr_until(proc, "stopping (SIGTERM)")
        box.release.set()
        out, err = proc.communicate(timeout=60)
    finally:
        if holder is not None:
            holder.close()
        if proc.poll() is None:
            proc.kill()
    assert "Traceback" not in err and proc.returncode == 143, (proc.returncode, out, err)
    assert ("\ninterrupted: newsletter-state.sqlite3: stopped while waiting for another process to let go of the state "
            "(database is locked); what this send delivered (or failed to) from here on is noted in "
            "newsletter-state.sqlite3.unrecorded") in err, err
    assert "stopped on an error" not in out + err and "not attempted: stop requested" in out, out
    delivered = [m.rcpt_tos[0] for m in box.messages]
    assert len(delivered) == 2
    r = cli("send", "--now", NOW)
    assert r.code == 0, r.err
    again = [m.rcpt_tos[0] for m in box.messages]
    assert sorted(again) == [f"user{i:02}@example.org" for i in range(4)], again  # each once


def test_sigterm_while_another_process_has_its_turn_to_write_stops_the_wait(tmp_path, smtp_server, cli):
    """Another process writing to the state holds its turn (``<state>.writer``,
    which the processes of a send queue on) through its whole transaction,
    up to SQLite's 30 s when that one waits for a lock in turn: a send (or a
    big send's worker) waiting for its turn took SIGTERM as a note for
    later and waited on.  It stops at once: nothing sent, exit 143, and the
    next send sends everyone once."""
    import fcntl
    import time

    box = smtp_server.mailbox
    setup(tmp_path, smtp(smtp_server.port))
    open_state(tmp_path / "newsletter-state.sqlite3").close()  # (a new state's creation waits for the turn too)
    fd = os.open(tmp_path / "newsletter-state.sqlite3.writer", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        proc = start_newsletter("send", "--now", NOW, cwd=tmp_path)
        waiting = f"-> FLOCK  ADVISORY  WRITE {proc.pid} {os.major(os.fstat(fd).st_dev):02x}:"
        inode = f":{os.fstat(fd).st_ino} "
        deadline = time.monotonic() + 60
        while not any(waiting in line and inode in line for line in Path("/proc/locks").read_text().splitlines()):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.02)  # (polling the process: it queues for its turn in the kernel)
        said = ""
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        took = time.monotonic() - started
    finally:
        os.close(fd)
        if proc.poll() is None:
            proc.kill()
    assert took < 20, took  # the turn is never given: a bound against waiting for it, not a loaded machine's exit
    assert proc.returncode == 143, (out, said + err)
    assert "Traceback" not in err and box.messages == [] and out == ""
    assert re.search(r"^interrupted: newsletter-state\.sqlite3: stopped while waiting for another process to finish "
                     r"writing to the state \(it holds newsletter-state\.sqlite3\.writer\)", err, re.M), err
    r = cli("send", "--now", NOW)
    assert r.code == 0 and len(box.messages) == 2, r.out + r.err


def test_sigterm_to_a_dry_run_waiting_for_a_held_state_stops_it_at_once(tmp_path, cli):
    """`send --dry-run` read the state without a stop: SIGTERM while another
    process held the file waited out SQLite's 30 s, then failed as locked."""
    import time

    setup(tmp_path, "  transport: outbox\n")
    assert cli("send", "--now", NOW).code == 0
    holder = sqlite3.connect(tmp_path / "newsletter-state.sqlite3", isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        proc = start_newsletter("send", "--dry-run", "--now", NOW, cwd=tmp_path)
        said = stderr_until(proc, "waiting up to 30 s for it")
        started = time.monotonic()
        out, err = terminated_once_said(proc, "")
        took = time.monotonic() - started
    finally:
        holder.close()
    assert took < 20 and proc.returncode == 143, (took, out, said + err)  # not SQLite's 30 s
    assert "Traceback" not in err and err.splitlines()[-1] == (
        "interrupted: newsletter-state.sqlite3: stopped while waiting for another process to let go of the state "
        "(database is locked)"
    ), err


# --------------------------------------------------------------------------- a title changed between two sends


@pytest.mark.parametrize("export_first", [True, False], ids=["export first", "arxiv first"])
def test_a_paper_sent_under_one_title_is_not_sent_again_under_another(tmp_path, cli, store, export_first):
    """A paper sent from an export (its title, no arXiv id) came back the next
    day from arXiv with its id under the title its authors changed, and went
    out again (and the other way round); with the export still read beside
    arXiv, the merged paper also went out again.  The state's copy of the
    sent paper is found by its abstract, as one run's two copies are."""
    export = (DATA / "export-changed-title.txt").read_bytes()
    (tmp_path / "api.xml").write_bytes((DATA / "arxiv-latex.xml").read_bytes())
    (tmp_path / "export.txt").write_bytes(export)
    first, second = ("export.txt", "api.xml") if export_first else ("api.xml", "export.txt")
    kinds = {"export.txt": "hf-papers-text", "api.xml": "arxiv"}

    def config(*paths: str) -> None:
        sources = "".join(f"  - {{type: {kinds[p]}, path: {p}}}\n" for p in paths)
        write_config(tmp_path, f"sources:\n{sources}topics: {{b: {{name: Bridges, any: [bridge*]}}}}\n"
                     f"subscribers: [{{email: ada@example.org, topics: [b]}}]\n"
                     f"delivery: {{transport: outbox, path: outbox}}\n{store.line}\n")

    def sent(now: str) -> int:
        r = cli("send", "--json", "--now", now)
        assert r.code == 0, r.err
        return sum(d["papers"] for d in json.loads(r.out)["digests"] if d["status"] == "sent")

    config(first)
    assert sent(NOW) == 1
    config(second)
    r = cli("match", "--json")
    assert r.code == 0 and json.loads(r.out)["subscribers"][0]["papers"] == [], r.out
    r = cli("match", "--paper", "2406.04876" if export_first else "Sinkhorn-Free Schrödinger Bridges")
    assert r.code == 0 and "ada@example.org: not in the next digest: sent before" in r.out, r.out + r.err
    r = cli("test-email", "--to", "me@example.org", "--subscriber", "ada@example.org", "--json")
    assert r.code == 0 and json.loads(r.out)["note"].startswith("nothing new for ada@example.org"), r.out + r.err
    assert sent("2024-05-07T09:00:00+00:00") == 0
    config(first, second)  # both read: one paper, sent before under either key
    assert sent("2024-05-08T09:00:00+00:00") == 0


def test_a_send_says_what_max_papers_cut_and_where_the_rest_go(tmp_path, cli):
    """A subscriber without a schedule got, at a second `send` moments after
    the first, two more of the same day's papers, without a word: the first
    digest had been cut at max_papers.  Each line of a cut digest says so."""
    setup(tmp_path, "  transport: outbox\n  path: out",
          subscribers="\n  - email: bob@example.org\n    topics: [optim, diffusion]\n    max_papers: 2")

    def send(minute: int, *more: str) -> str:
        r = cli("send", "--now", f"2024-05-06T09:0{minute}:00+00:00", *more)
        assert r.code == 0, r.err
        return r.out

    def match() -> str:
        r = cli("match")
        assert r.code == 0, r.err
        return r.out.splitlines()[0]

    # `match` counts and says the cut as `send` does: it said "(the best of the 4 its topics take now:
    # max_papers: 2)" of the digest `send` called "the best of the 4 ... that were in no earlier digest"
    cut = " (the best of the 6 its topics take now: max_papers: 2; the other 4 can go in later digests)"
    assert match() == f"bob@example.org: 2 papers{cut}"
    assert f"would send  bob@example.org: 2 papers{cut}" in send(0, "--dry-run")
    assert f"sent        bob@example.org: 2 papers{cut} <" in send(0)
    (planned,) = json.loads(send(1, "--dry-run", "--json"))["digests"]
    assert (planned["papers"], planned["taken"], planned["sent_before"]) == (2, 4, 2)
    cut = (" (the best of the 4 its topics take now that were in no earlier digest: max_papers: 2; the other 2 can "
           "go in later digests)")
    assert match() == f"bob@example.org: 2 papers{cut}"
    assert f"sent        bob@example.org: 2 papers{cut} <" in send(1)
    assert re.search(r"sent        bob@example.org: 2 papers <", send(2))  # the last two: nothing cut
    assert "empty       bob@example.org" in send(3)
    assert len(list((tmp_path / "out").glob("*.eml"))) == 3


def test_test_email_of_a_subscriber_who_unsubscribed_says_so(tmp_path, cli):
    """`test-email --subscriber ada` after Ada left through the one-click link
    sent her digest with no word that `send` sends her nothing: it read as
    though the unsubscribe had not taken."""
    setup(tmp_path, "  transport: outbox\n  path: out", extra="timezone: Europe/Berlin")
    assert cli("unsubscribe", "ada@example.org", "--now", NOW).code == 0
    r = cli("test-email", "--to", "me@example.net", "--subscriber", "ada@example.org", "--now", NOW)
    assert r.code == 0, r.err
    assert r.err.strip().splitlines()[-1] == (
        "ada@example.org unsubscribed 2024-05-06 11:00 CEST: `send` sends them nothing until "
        "`newsletter resubscribe ada@example.org`; this is the digest they would get then")
    r = cli("test-email", "--to", "me@example.net", "--subscriber", "bob@example.org", "--now", NOW)
    assert r.code == 0 and "unsubscribed" not in r.err, r.err


def test_test_email_to_a_placeholder_address_through_a_real_relay_says_no_mail_reaches_it(tmp_path, cli, smtp_server):
    """README's `newsletter test-email --to you@example.org`, copied as it is
    with a real relay configured: the server took the message, the command
    said "sent", and the newcomer waited for a mail that could never come.
    Through a local catcher (127.0.0.1, localhost), where any address is a
    fine test, nothing is said."""
    setup(tmp_path, smtp(smtp_server.port).replace("host: 127.0.0.1", "host: smtp.nowhere.invalid")
          .replace("retries: 1", "retries: 0"))
    r = cli("test-email", "--to", "you@example.org", "--now", NOW)
    assert r.code == 1 and "Traceback" not in r.err, r.err  # (no such relay: the warning comes first)
    assert r.err.splitlines()[0] == (
        "warning: --to: 'you@example.org' is a placeholder address (example.org is reserved for examples): the "
        "server at smtp.nowhere.invalid takes it, and no mail reaches it; give your own address"), r.err
    setup(tmp_path, smtp(smtp_server.port))
    r = cli("test-email", "--to", "you@example.org", "--now", NOW)
    assert r.code == 0 and "placeholder" not in r.err, r.err
    assert smtp_server.mailbox.recipients() == ["you@example.org"]


def _daily_feed_config(http_server, schedule: str, delivery: str = "") -> str:
    """A subscriber on ``schedule`` reading arXiv's cs.LG feed (one day's
    announcement, recorded) from ``http_server``."""
    from recorded_http import recorded

    http_server.route("/rss/cs.LG", recorded("arxiv-rss2.xml", headers={"Content-Type": "application/rss+xml"}))
    return feed_config(http_server.url("/rss/cs.LG"), schedule, "[learning, flow, matching, model*]", delivery)


def test_an_owed_weekly_digest_retried_does_not_say_the_days_it_never_read(tmp_path, http_server, smtp_server):
    """A weekly digest whose delivery failed stays owed with the papers it was
    composed of: its retry said the sources listed none of its days and that
    "papers listed in between are in no digest", of a digest that holds them."""
    write_config(tmp_path, _daily_feed_config(http_server, "weekly on monday at 08:00",
                                              f"delivery:\n{smtp(smtp_server.port)}"))
    seen = run_newsletter("send", "--now", "2024-06-04T09:00:00+02:00", cwd=tmp_path)
    assert seen.code == 0 and re.search(r"^not due +ada@example\.org", seen.out, re.M), seen.out + seen.err
    smtp_server.mailbox.data_replies = ["451 4.3.0 Try again later"] * 2  # both tries of the run
    failed = run_newsletter("send", "--now", "2024-06-11T09:00:00+02:00", cwd=tmp_path)
    assert failed.code == 1 and "are in no digest" in failed.err, failed.out + failed.err
    again = run_newsletter("send", "--now", "2024-06-12T09:00:00+02:00", cwd=tmp_path)
    assert again.code == 0 and re.search(r"^sent +ada@example\.org: \d+ papers", again.out, re.M), again.out + again.err
    assert "are in no digest" not in again.err, again.err
    assert len(smtp_server.mailbox.messages) == 1


def test_a_weekly_digest_from_a_daily_feed_says_the_days_it_never_read(tmp_path, http_server):
    """A researcher reading arXiv through rss.arxiv.org/rss/cs.LG wants a
    weekly digest on Monday, Europe/Berlin. The feed lists one day's
    announcement, and a digest takes what the sources list when it is sent
    and what the runs since its last one kept: with no run between (cron on
    Mondays only) the other days' papers went to nobody, without a word. The
    weekly send says so (once); a daily one, whose last digest was the day
    before, does not."""
    said = ("warning: ada@example.org: its digest is of the papers since {since}, but neither the sources nor the "
            "runs since then list any before 2024-06-11 06:00 CEST: papers listed in between are in no digest")
    for schedule, first, since in (("weekly on monday at 08:00", "2024-06-04", "2024-06-04 09:00 CEST"),
                                   ("daily at 08:00", "2024-06-10", None)):
        for old in tmp_path.glob("newsletter-state.sqlite3*"):
            old.unlink()
        write_config(tmp_path, _daily_feed_config(http_server, schedule))
        seen = run_newsletter("send", "--now", f"{first}T09:00:00+02:00", cwd=tmp_path)
        assert seen.code == 0 and re.search(r"^not due +ada@example\.org", seen.out, re.M), seen.out + seen.err
        due = run_newsletter("send", "--now", "2024-06-11T09:00:00+02:00", cwd=tmp_path)
        assert due.code == 0 and re.search(r"^sent +ada@example\.org: \d+ papers", due.out, re.M), due.out + due.err
        warned = [line for line in due.err.splitlines() if "are in no digest" in line]
        if since is None:
            assert warned == [], due.err
        else:
            assert len(warned) == 1 and warned[0].startswith(said.format(since=since)), due.err
            assert warned[0].endswith("(type: arxiv with max_results: 2000; hf-daily with days: 7) (README \"Schedules\")")


#: A week of cs.LG announcements, Monday 3 June to Monday 10 June 2024: each day
#: a paper on flow matching (the subscriber's topic) and one on something else;
#: Tuesday's first draft on Wednesday replaced by its second version.
WEEK = {
    "2024-06-03": [("2406.00101", 1, "Flow matching on Monday", "Flow matching, day one."),
                   ("2406.00102", 1, "Sheaf cohomology on Monday", "Topology.")],
    "2024-06-04": [("2406.00201", 1, "Flow matching on Tuesday", "Flow matching, day two."),
                   ("2406.00299", 1, "Flow matching, a first draft", "Flow matching, drafted."),
                   ("2406.00202", 1, "Sheaf cohomology on Tuesday", "Topology.")],
    "2024-06-05": [("2406.00301", 1, "Flow matching on Wednesday", "Flow matching, day three."),
                   ("2406.00299", 2, "Flow matching, the revised version", "Flow matching, revised."),
                   ("2406.00302", 1, "Sheaf cohomology on Wednesday", "Topology.")],
    "2024-06-06": [("2406.00401", 1, "Flow matching on Thursday", "Flow matching, day four."),
                   ("2406.00402", 1, "Sheaf cohomology on Thursday", "Topology.")],
    "2024-06-07": [("2406.00501", 1, "Flow matching on Friday", "Flow matching, day five."),
                   ("2406.00502", 1, "Sheaf cohomology on Friday", "Topology.")],
    "2024-06-10": [("2406.00601", 1, "Flow matching on the next Monday", "Flow matching, day six."),
                   ("2406.00602", 1, "Sheaf cohomology on the next Monday", "Topology.")],
}


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_weekly_digest_fed_by_a_daily_feed_holds_the_whole_week(tmp_path, http_server, smtp_server, backend,
                                                                   request):
    """The most common arXiv reader: rss.arxiv.org/rss/cs.LG, which lists one
    day's announcement, and a digest weekly on Monday.  A digest took what the
    sources listed when it was sent: Monday's papers alone, a fifth of the
    week.  Now cron runs `newsletter send` every day: the days nobody is due
    it reads the feed and keeps its papers in the state, and Monday's digest
    holds every day's paper on its topic (the revised one in its newest
    version, once), none of the others, and no warning of days never read.
    The next Monday's digest holds none of them again, and papers no run
    read for two weeks leave the state."""
    from recorded_http import Reply

    from newsletter.state import KEEP_LISTED

    env, target, state = None, tmp_path / "newsletter-state.sqlite3", ""
    if backend == "postgres":
        from pg_server import PASSWORD as PG_PASSWORD

        target, env = request.getfixturevalue("pg_url"), {"PGPASSWORD": PG_PASSWORD}
        state = f"state: {target}\n"
    write_config(tmp_path, state + feed_config(http_server.url("/rss/cs.LG"), "weekly on monday at 08:00",
                                               '["flow matching"]', f"delivery:\n{smtp(smtp_server.port)}"))

    def send(day: str, *more: str):
        http_server.route("/rss/cs.LG", Reply(200, arxiv_announcement(day, WEEK.get(day, WEEK["2024-06-10"])),
                                              {"Content-Type": "application/rss+xml"}))
        return run_newsletter("send", *more, "--now", f"{day}T09:00:00+02:00", cwd=tmp_path, env=env)

    for day in ("2024-06-03", "2024-06-04", "2024-06-05", "2024-06-06", "2024-06-07"):
        r = send(day)
        assert r.code == 0 and re.search(r"^not due +ada@example\.org", r.out, re.M), r.out + r.err
        assert "kept for the digests due later" in r.err, r.err
    assert len(http_server.requests_to("/rss/cs.LG")) == 5 and smtp_server.mailbox.messages == []
    flows = ["Flow matching on Monday", "Flow matching on Tuesday", "Flow matching, the revised version",
             "Flow matching on Wednesday", "Flow matching on Thursday", "Flow matching on Friday",
             "Flow matching on the next Monday"]
    preview = send("2024-06-10", "--dry-run")  # what send will do, the same papers
    assert preview.code == 0 and re.search(r"^would send +ada@example\.org: 7 papers", preview.out, re.M), preview.out
    due = send("2024-06-10")
    assert due.code == 0 and re.search(r"^sent +ada@example\.org: 7 papers", due.out, re.M), due.out + due.err
    assert "are in no digest" not in due.err, due.err
    (got,) = smtp_server.mailbox.messages
    text = got.message.get_body(("plain",)).get_content()
    for title in flows:
        assert text.count(title) >= 1, (title, text)
    assert "Sheaf" not in text and "first draft" not in text, text

    for day in ("2024-06-11", "2024-06-12", "2024-06-17"):  # the same papers listed again: none goes twice
        r = send(day)
        assert r.code == 0, r.out + r.err
    assert len(smtp_server.mailbox.messages) == 1, [m.message["Subject"] for m in smtp_server.mailbox.messages]
    assert re.search(r"^empty +ada@example\.org", r.out, re.M), r.out

    assert query(target, "SELECT count(*) FROM listed")[0][0] > 2
    later = datetime(2024, 6, 17, 7, tzinfo=UTC) + KEEP_LISTED + timedelta(days=1)
    http_server.route("/rss/cs.LG", Reply(200, arxiv_announcement("2024-07-02", []), {"Content-Type": "application/rss+xml"}))
    r = run_newsletter("send", "--now", later.isoformat(), cwd=tmp_path, env=env)
    assert r.code == 0, r.out + r.err
    assert query(target, "SELECT count(*) FROM listed") == [(0,)]


def test_a_retried_digest_shows_a_year_alone_as_the_first_attempt_did(tmp_path, cli):
    """A paper dated by its year alone ("2024" in an export) is stored with its
    precision; the pending digest rebuilt from the stored papers for the retry
    read the date back without it and showed "1 Jan 2024", a day the source
    never named, where the first attempt would have shown "2024"."""
    port = free_port()
    config = setup(tmp_path, smtp(port), subscribers="\n  - email: ada@example.org\n    topics: [diffusion]")
    (tmp_path / "refs.bib").write_text(
        "@misc{k, title = {Year-Dated Diffusion Models}, abstract = {We study diffusion models.}, year = {2024}}\n",
        encoding="utf-8")
    config.write_text(config.read_text(encoding="utf-8").replace(
        "sources:\n", "sources:\n  - type: feed\n    path: refs.bib\n", 1), encoding="utf-8")
    r = cli("send", "--now", NOW)
    assert r.code == 1 and "failed 1" in r.out, r.out + r.err
    # the export no longer lists it: the retry has the paper from the state alone
    (tmp_path / "refs.bib").write_text("@misc{o, title = {Other}, abstract = {Unrelated.}, year = {2023}}\n",
                                       encoding="utf-8")
    server = Server(port)
    try:
        later = (datetime.fromisoformat(NOW) + timedelta(minutes=5)).isoformat()
        r = cli("send", "--now", later)
        assert r.code == 0 and "sent 1, empty 0, failed 0" in r.out, r.out + r.err
        [got] = server.mailbox.messages
    finally:
        server.stop()
    text = got.message.get_body(("plain",)).get_content()
    html = got.message.get_body(("html",)).get_content()
    assert "Year-Dated Diffusion Models" in text, text
    assert "1 Jan 2024" not in text and "1 Jan 2024" not in html and re.search(r"\b2024\b", text), text


def on_insert(url: str, table: str, when: str, then: str) -> None:
    """A new state at ``url`` whose inserts into ``table`` do ``then`` (PL/pgSQL)
    ``when`` holds, before they insert (a sequence ``hits`` counts them)."""
    import psycopg

    with open_state(url):
        pass
    with psycopg.connect(url, autocommit=True) as con:
        con.execute("CREATE SEQUENCE hits")
        con.execute("CREATE FUNCTION on_insert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                    f"IF {when} THEN {then} END IF; RETURN NULL; END $$")
        con.execute(f"CREATE TRIGGER on_insert BEFORE INSERT ON {table} FOR EACH STATEMENT EXECUTE FUNCTION on_insert()")


def test_postgres_session_ended_after_the_claim_committed_stops_without_running_the_batch_again(
    tmp_path, cli, smtp_server, pg_url, pg_server
):
    """The session ended (a restart) as the papers of a committed claim were
    recorded, and again on the resumed session.  The whole batch was run once
    more: it found its own digests `sending`, reported them as another
    worker's, and left them for the next run to take back ("may arrive
    twice", though none was handed over).  Now the send stops, says why, and
    the claimed digests come back not attempted (pending again).  (The
    server itself waits in the papers' insert, so each restart ends it there.)"""

    setup(tmp_path, smtp(smtp_server.port), subscribers=many(2), extra=f"state: {pg_url}")
    on_insert(pg_url, "papers", "nextval('hits') <= 2", "PERFORM pg_sleep(600);")
    run = start_newsletter("send", "--now", NOW, cwd=tmp_path)
    try:
        for _ in range(2):
            waiting = False
            while not waiting and run.poll() is None:
                waiting = bool(query(pg_url, "SELECT pid FROM pg_stat_activity WHERE wait_event = 'PgSleep'"))
            assert waiting, run.communicate()
            pg_server.restart()
    finally:
        out, err = run.communicate(timeout=120)
    assert run.returncode == 1 and "Traceback" not in err, out + err
    assert "other worker" not in out and "the PostgreSQL session ended again" in err, out + err
    assert not smtp_server.mailbox.messages
    assert sorted(status for _, status, *_ in digests(pg_url)) == ["pending", "pending"], out + err
    r = cli("send", "--now", NOW)  # the next run sends them, none said to be maybe twice
    assert r.code == 0 and "twice" not in r.err and "sent 2, empty 0, failed 0" in r.out, r.out + r.err
    assert len(smtp_server.mailbox.messages) == 2


def test_postgres_a_claim_whose_commit_reply_was_lost_in_a_restart_is_this_workers_own(
    tmp_path, smtp_server, pg_url, pg_server
):
    """The claim's COMMIT committed, then the server restarted before its
    reply reached the worker (here a proxy drops the reply).  The worker
    resumed and claimed the batch again: it found its own digests `sending`,
    reported every one as "other worker", sent none, and the next run took
    them back as "may arrive twice".  The worker's key on the rows tells its
    own commit from another worker's claim: they are claimed again and sent
    in this run, once each, and the log says what happened."""
    import psycopg
    from pg_server import PASSWORD
    from tcp_proxy import TcpProxy

    proxy = TcpProxy(pg_server.port)
    far = proxy.url(pg_url, pg_server.port)
    setup(tmp_path, smtp(smtp_server.port), subscribers=many(3), extra=f"state: {far}")
    on_insert(pg_url, "digests", "nextval('hits') = 1",
              "PERFORM pg_advisory_lock_shared(4242); PERFORM pg_advisory_unlock_shared(4242);")
    gate = psycopg.connect(pg_url, autocommit=True)
    gate.execute("SELECT pg_advisory_lock(4242)")
    # (the .pgpass line names the server's own port, not the proxy's)
    run = start_newsletter("send", "--now", NOW, cwd=tmp_path, env={"PGPASSWORD": PASSWORD})
    try:
        waiting = False
        while not waiting and run.poll() is None:  # the claim's insert waits at the gate
            waiting = bool(query(pg_url, "SELECT pid FROM pg_stat_activity WHERE wait_event = 'advisory'"))
        assert waiting, run.communicate()
        proxy.lose_reply_to(b"COMMIT")
        gate.close()
        committed = False
        while not committed and run.poll() is None:
            committed = proxy.muted_at.is_set() and len(
                query(pg_url, "SELECT id FROM digests WHERE status = 'sending'")) == 3
        assert committed, run.communicate()
        pg_server.restart()
        out, err = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
        proxy.stop()
    assert run.returncode == 0 and "Traceback" not in err, out + err
    assert "other worker" not in out and "sent 3, empty 0, failed 0" in out, out + err
    assert "the claim had committed though its answer was lost" in err, err
    assert sorted(smtp_server.mailbox.recipients()) == [f"user{i:02}@example.org" for i in range(3)]
    assert [status for _, status, *_ in digests(pg_url)] == ["sent"] * 3


def test_postgres_a_digest_another_worker_sent_during_the_back_off_across_a_restart_is_not_retried(
    tmp_path, cli, smtp_server, pg_url, pg_server
):
    """End to end, with real sends and a real restart: worker A's digest is
    refused for now (451); during its back-off PostgreSQL restarts, A's
    session ends, and worker B, started meanwhile, finds A's lock free, takes
    the digest back and sends it.  A resumes (its connections go through a
    proxy that takes no new ones until B is done) and, before its retry,
    finds the digest no longer its own: not sent a second time."""
    from pg_server import PASSWORD
    from tcp_proxy import TcpProxy

    proxy = TcpProxy(pg_server.port)
    far = proxy.url(pg_url, pg_server.port)
    setup(tmp_path, smtp(smtp_server.port), subscribers=many(1), extra=f"state: {far}")
    box = smtp_server.mailbox
    box.hang_data = True  # A's message is held, then refused for now (451)
    a = start_newsletter("send", "--now", NOW, cwd=tmp_path, env={"PGPASSWORD": PASSWORD})
    try:
        while box.data_count < 1 and a.poll() is None:
            box.blocked.wait(0.01)
        assert box.data_count == 1, a.communicate()
        pg_server.restart()  # A's session ends while it waits for the mail server
        proxy.refusing.set()  # A cannot resume before B is done
        box.hang_data = False
        box.release.set()  # 451 to A: its back-off begins
        setup(tmp_path, smtp(smtp_server.port), subscribers=many(1), extra=f"state: {pg_url}")
        b = cli("send", "--now", NOW)
        assert b.code == 0 and "sent 1, empty 0, failed 0" in b.out, b.out + b.err
        assert box.recipients() == ["user00@example.org"]
        proxy.refusing.clear()
        out, err = a.communicate(timeout=120)
    finally:
        if a.poll() is None:
            a.kill()
        proxy.stop()
    assert a.returncode == 0 and "Traceback" not in err, out + err
    assert "retrying in" in err and "resumed it on the restarted server" in err, err
    assert "other worker user00@example.org" in out and "sent 0, empty 0, failed 0, not due 0, other workers 1" in out
    assert box.recipients() == ["user00@example.org"]  # once: B's, not A's retry as well
    assert [status for _, status, *_ in digests(pg_url)] == ["sent"]
    (message,) = box.messages
    assert [mid for _, _, mid, *_ in digests(pg_url)] == [message.message["Message-ID"]]


@pytest.mark.parametrize("due", [1, 4])
def test_a_session_opens_ahead_per_digest_due_up_to_connections(tmp_path, cli, starttls_server, due):
    """With a digest composed, a session connects, starts TLS and logs in
    while the planner claims it: one per digest, up to ``connections``.  It
    opened every session at the first digest: one digest and ``connections:
    3`` logged in three times (a provider limiting logins or connections,
    as Gmail does, refuses the next ones).  Now one digest is one
    connection and one login, four digests three; each session ends with
    QUIT.  A send with nothing due connects nowhere.

    Four digests open three sessions only when the planner claims them
    faster than the threads take them: a thread that has taken a digest no
    longer opens ahead, so on a loaded machine the third grant can find no
    thread to open it and two sessions carry all four (it failed once so,
    in a run under load).  So four digests assert at most three sessions,
    each logged in once; one digest, exactly one."""
    setup(tmp_path, tls_login(starttls_server) + "  connections: 3\n",
          subscribers="\n  - email: ada@example.org\n    topics: [diffusion]" if due == 1 else many(due))
    r = cli("send", "--now", NOW, env={"DIGEST_SMTP_PASSWORD": PASSWORD})
    assert r.code == 0 and f"sent {due}, empty 0, failed 0" in r.out, r.out + r.err
    box = starttls_server.mailbox
    sessions = box.sessions_log()
    assert (len(sessions) == 1 if due == 1 else 1 <= len(sessions) <= 3), box.log
    assert [s.count("AUTH") for s in sessions.values()] == [1] * len(sessions), box.log
    assert all(s[:4] == ["connect", "EHLO", "EHLO", "AUTH"] and s[-1] == "QUIT" for s in sessions.values()), box.log
    assert sum(s.count("MAIL") for s in sessions.values()) == due, box.log
    seen = len(box.log)
    r = cli("send", "--now", NOW, env={"DIGEST_SMTP_PASSWORD": PASSWORD})
    assert r.code == 0 and "sent 0" in r.out and len(box.log) == seen, r.out + r.err


def test_a_refused_login_on_sessions_opened_ahead_reads_as_it_did(tmp_path, cli, starttls_server):
    """The wrong password met by three sessions opened ahead: the same located
    line, exit 1, nothing sent, each digest pending."""
    setup(tmp_path, tls_login(starttls_server) + "  connections: 3\n", subscribers=many(3))
    line = (tmp_path / "config.yaml").read_text().splitlines().index(f"  username: {USER}") + 1
    r = cli("send", "--now", NOW, env={"DIGEST_SMTP_PASSWORD": PASSWORD + "x"})
    assert r.code == 1 and "sent 0, empty 0, failed 3" in r.out and "Traceback" not in r.err, r.out + r.err
    assert (f": config.yaml:{line}: SMTP server 127.0.0.1:{starttls_server.port} rejected the login for 'digest-user': "
            "535 ") in r.out, r.out
    assert PASSWORD not in r.out + r.err and starttls_server.mailbox.messages == []
    assert [row[1] for row in digests(tmp_path)] == ["pending"] * 3


def test_a_server_that_is_down_with_sessions_opened_ahead_fails_as_before(tmp_path, cli):
    """Nothing listens, ``connections: 3``: one located "cannot connect" line
    for the run, exit 1, nothing marked sent."""
    port = free_port()
    setup(tmp_path, smtp(port, "  connections: 3\n"), subscribers=many(4))
    r = cli("send", "--now", NOW)
    assert r.code == 1 and "sent 0, empty 0, failed 4" in r.out and "Traceback" not in r.err, r.out + r.err
    line = (tmp_path / "config.yaml").read_text().splitlines().index(f"  port: {port}") + 1
    said = f"config.yaml:{line}: cannot connect to SMTP server 127.0.0.1:{port}: "
    assert said in r.out + r.err, r.out + r.err
    assert {row[1] for row in digests(tmp_path)} == {"pending"}


def test_a_failed_weekly_digest_of_kept_papers_is_delivered_after_they_leave_the_kept_list(
        tmp_path, http_server, smtp_server):
    """A weekly digest made of papers kept on the days before (none of them
    in Monday's feed) failed: the server was down.  The papers it owed were
    taken from the run's index alone, so none was saved with it; once
    `listed` pruned them (two weeks on) the retry found the digest empty and
    dropped it -- a digest lost.  Now they are saved with the digest and the
    retry, three weeks on, delivers every one of them."""
    from recorded_http import Reply

    from newsletter.state import KEEP_LISTED

    def config(port: int) -> None:
        write_config(tmp_path, feed_config(http_server.url("/rss/cs.LG"), "weekly on monday at 08:00",
                                           '["flow matching"]', f"delivery:\n{smtp(port)}"))

    def send(day: str, listed: list, at: str = "T09:00:00+02:00"):
        http_server.route("/rss/cs.LG", Reply(200, arxiv_announcement(day[:10], listed),
                                              {"Content-Type": "application/rss+xml"}))
        return run_newsletter("send", "--now", f"{day}{at}", cwd=tmp_path)

    config(free_port())  # nothing listens there: every delivery fails
    for day in ("2024-06-03", "2024-06-04", "2024-06-05"):
        r = send(day, WEEK[day])
        assert r.code == 0 and re.search(r"^not due +ada@example\.org", r.out, re.M), r.out + r.err
    due = send("2024-06-10", [])  # Monday's feed lists nothing: the digest is the kept papers alone
    assert due.code == 1 and re.search(r"^failed +ada@example\.org", due.out, re.M), due.out + due.err
    config(smtp_server.port)
    later = (datetime(2024, 6, 10, 7, tzinfo=UTC) + KEEP_LISTED + timedelta(days=7)).date().isoformat()
    r = send(later, [])
    assert r.code == 0 and re.search(r"^sent +ada@example\.org: 4 papers", r.out, re.M), r.out + r.err
    (got,) = smtp_server.mailbox.messages
    text = got.message.get_body(("plain",)).get_content()
    for title in ("Flow matching on Monday", "Flow matching on Tuesday", "Flow matching, the revised version",
                  "Flow matching on Wednesday"):
        assert title in text, (title, text)


#: A paper as arXiv lists it and as a Daily Papers page (no arXiv ids) lists it: the same title and abstract.
TWICE_LISTED = ("Flow Matching for Protein Folding at Scale",
                "We study flow matching for protein folding at scale and show that a simple objective over backbone "
                "coordinates, trained on the full structure database with a careful schedule, matches specialised "
                "folding pipelines on standard benchmarks while being an order of magnitude cheaper to sample.")


def _arxiv_and_daily_papers(tmp_path, http_server, smtp_server):
    """A weekly subscriber fed by an arXiv feed (served per day) and a Daily
    Papers page (papers/day.txt, listing something else at first): returns
    ``send(day, arxiv_items)`` and ``page(title, abstract)``, which rewrites the page."""
    from recorded_http import Reply

    day = tmp_path / "papers" / "day.txt"

    def page(title: str, abstract: str) -> None:
        day.write_text("new\n\nGet trending papers in your email inbox!\n\nSubscribe\n\nDaily Papers\n\n"
                       f"byAK and the research community\n\nJun 5\n\n{title}\n\n{abstract}\n\n", encoding="utf-8")

    (tmp_path / "papers").mkdir()
    page("Sheaf Cohomology", "Topology, not flows.")
    write_config(tmp_path, feed_config(http_server.url("/rss/cs.LG"), "weekly on monday at 08:00",
                                       '["flow matching"]', f"delivery:\n{smtp(smtp_server.port)}").replace(
        "sources:\n", "sources:\n  - type: hf-papers-text\n    path: papers/\n", 1))

    def send(on: str, listed: list):
        http_server.route("/rss/cs.LG", Reply(200, arxiv_announcement(on, listed),
                                              {"Content-Type": "application/rss+xml"}))
        return run_newsletter("send", "--now", f"{on}T09:00:00+02:00", cwd=tmp_path)

    return send, page


def test_a_paper_sent_from_the_kept_papers_is_not_sent_again_as_a_title_only_copy(
        tmp_path, http_server, smtp_server):
    """Tuesday's arXiv feed lists a paper; Monday's digest (its feed empty)
    sends it from the kept papers.  It was not saved with the digest (only
    the run's index was), so when a Daily Papers page without arXiv ids
    listed the same paper (title and abstract) the week after, nothing knew
    it as sent: it went out again.  Now the next Monday has nothing new."""
    title, abstract = TWICE_LISTED
    send, page = _arxiv_and_daily_papers(tmp_path, http_server, smtp_server)
    r = send("2024-06-04", [("2406.00201", 1, title, abstract)])
    assert r.code == 0 and re.search(r"^not due +ada@example\.org", r.out, re.M), r.out + r.err
    r = send("2024-06-10", [])
    assert r.code == 0 and re.search(r"^sent +ada@example\.org: 1 paper", r.out, re.M), r.out + r.err
    page(title, abstract)
    for day in ("2024-06-12", "2024-06-17"):
        r = send(day, [])
        assert r.code == 0, r.out + r.err
    assert re.search(r"^empty +ada@example\.org", r.out, re.M), r.out + r.err
    assert len(smtp_server.mailbox.messages) == 1, [m.message["Subject"] for m in smtp_server.mailbox.messages]


def test_an_arxiv_copy_and_a_title_only_copy_kept_on_two_days_are_one_paper_in_the_digest(
        tmp_path, http_server, smtp_server):
    """Tuesday's arXiv feed lists a paper, Wednesday's Daily Papers page
    (no arXiv ids) the same paper by its title and abstract; both were kept,
    and Monday's digest drew on the two unmerged: the paper twice in one
    email.  Now it is listed once."""
    title, abstract = TWICE_LISTED
    send, page = _arxiv_and_daily_papers(tmp_path, http_server, smtp_server)
    r = send("2024-06-04", [("2406.00201", 1, title, abstract)])
    assert r.code == 0 and re.search(r"^not due +ada@example\.org", r.out, re.M), r.out + r.err
    page(title, abstract)
    r = send("2024-06-05", [])
    assert r.code == 0 and re.search(r"^not due +ada@example\.org", r.out, re.M), r.out + r.err
    page("Sheaf Cohomology", "Topology, not flows.")
    r = send("2024-06-10", [])
    assert r.code == 0 and re.search(r"^sent +ada@example\.org: 1 paper\b", r.out, re.M), r.out + r.err
    (got,) = smtp_server.mailbox.messages
    text = got.message.get_body(("plain",)).get_content()
    assert text.count(title) == 1, text


def test_a_schedule_a_month_apart_keeps_the_papers_of_its_whole_month(tmp_path, http_server, smtp_server):
    """`every 720 hours` is allowed (a schedule up to a year), but the kept
    papers were pruned after two weeks: a paper read on the second day of
    the month was gone when the first digest went out thirty days on.  Now they
    are kept for the longest interval of any subscriber's schedule and a
    week more."""
    from recorded_http import Reply

    write_config(tmp_path, feed_config(http_server.url("/rss/cs.LG"), '"every 720 hours"',
                                       '["flow matching"]', f"delivery:\n{smtp(smtp_server.port)}"))

    def send(on: str, listed: list):
        http_server.route("/rss/cs.LG", Reply(200, arxiv_announcement(on, listed),
                                              {"Content-Type": "application/rss+xml"}))
        return run_newsletter("send", "--now", f"{on}T09:00:00+02:00", cwd=tmp_path)

    r = send("2024-06-03", [("2406.00101", 1, "Flow matching on the first day", "Flow matching, day one.")])
    assert r.code == 0 and re.search(r"^not due +ada@example\.org: next digest at 2024-07-03", r.out, re.M), r.out
    r = send("2024-06-05", [("2406.00201", 1, "Flow matching read early in the month", "Flow matching, early.")])
    assert r.code == 0 and re.search(r"^not due +ada@example\.org", r.out, re.M), r.out + r.err
    r = send("2024-06-25", [])  # three weeks after the paper was read
    assert r.code == 0 and re.search(r"^not due +ada@example\.org", r.out, re.M), r.out + r.err
    r = send("2024-07-04", [])
    assert r.code == 0 and re.search(r"^sent +ada@example\.org: 2 papers", r.out, re.M), r.out + r.err
    (got,) = smtp_server.mailbox.messages
    text = got.message.get_body(("plain",)).get_content()
    assert "Flow matching on the first day" in text and "Flow matching read early in the month" in text, text


def test_kept_papers_are_read_once_a_run_for_more_pools_than_are_kept_built(tmp_path):
    """Six subscribers' last digests fell between six different runs that
    kept papers, so six pools; with more than KeptPools.POOLS_KEPT of them
    interleaved in the config's order, each subscriber's pool had been
    evicted and every one read all the kept papers from the state again.
    Now the kept papers are read once, and each pool still holds just the
    papers kept after its subscriber's last digest."""
    from newsletter.config import load_config
    from newsletter.matching import topic_index
    from newsletter.models import Paper
    from newsletter.sending import KeptPools
    from newsletter.state import SubscriberState

    groups = 6
    subs = "".join(f"  - email: s{i}@example.org\n    topics: [ml]\n" for i in range(2 * groups))
    (tmp_path / "config.yaml").write_text(
        "timezone: Europe/Berlin\nschedule: weekly on monday at 08:00\nsources:\n  - type: feed\n    path: f.xml\n"
        f"topics:\n  ml:\n    any: [\"flow matching\"]\nsubscribers:\n{subs}", encoding="utf-8")
    (tmp_path / "f.xml").write_text("<rss version='2.0'><channel><title>x</title></channel></rss>", encoding="utf-8")
    config = load_config(tmp_path / "config.yaml")
    runs = [datetime(2024, 6, 3 + day, 7, tzinfo=UTC) for day in range(groups)]
    now = datetime(2024, 6, 10, 7, tzinfo=UTC)
    calls = []

    class Counting:
        """The real state, counting its reads of the kept papers."""

        def __init__(self, state):
            self.state = state

        def __getattr__(self, name):
            if name in ("listed", "listed_at"):
                calls.append(name)
            return getattr(self.state, name)

    with open_state(tmp_path / "newsletter-state.sqlite3") as st:
        for day, run in enumerate(runs):
            st.keep_listed([Paper(f"Flow matching on day {day}", "Flow matching.", "rss",
                                  arxiv_id=f"2406.0{day}001")], run)
        pools = KeptPools(config, [], topic_index(config, [], config.subscribers), config.subscribers,
                          st.listed_times(now - timedelta(days=14), now), now)
        counting = Counting(st)
        for i, sub in enumerate(config.subscribers):  # groups interleaved: 0 1 2 3 4 5 0 1 ...
            since = runs[i % groups] - timedelta(hours=1)
            index, _ = pools.of(SubscriberState(sub.email, first_seen=since, last_served=since), counting)
            assert sorted(p.title for p in index.papers.values()) == [
                f"Flow matching on day {day}" for day in range(i % groups, groups)], sub.email
    assert len(calls) == 1, calls


@pytest.mark.parametrize("schedule, kept", [('"daily at 08:00"', 0), ('"every 6 hours"', 0),
                                            ('"weekly on monday at 08:00"', 1), ('"every 48 hours"', 1)])
def test_only_a_config_with_a_digest_over_a_day_apart_keeps_the_papers_it_read(tmp_path, http_server, schedule,
                                                                               kept):
    """Every run kept all it read, so a 111 MB export sent to daily
    subscribers made a 232 MB state (the papers sent take 6 MB).  Only a
    digest whose slots are over a day apart draws on the days before its
    own; a config without one keeps nothing."""
    import sqlite3

    from recorded_http import Reply

    write_config(tmp_path, feed_config(http_server.url("/rss/cs.LG"), schedule, '["flow matching"]'))
    http_server.route("/rss/cs.LG", Reply(200, arxiv_announcement("2024-06-03", [
        ("2406.00101", 1, "Flow matching on the first day", "Flow matching, day one.")]),
        {"Content-Type": "application/rss+xml"}))
    for day in ("2024-06-03", "2024-06-04"):  # the first registers the subscriber; a daily one is due the next
        r = run_newsletter("send", "--now", f"{day}T09:00:00+02:00", cwd=tmp_path)
        assert r.code == 0, r.out + r.err
    assert ("sent     " in r.out) == (kept == 0), r.out
    (state,) = tmp_path.glob("*.sqlite3")
    with sqlite3.connect(state) as db:
        assert db.execute("SELECT count(*) FROM listed").fetchone()[0] == kept, r.out


@pytest.mark.parametrize("schedule, reads", [('"daily at 08:00"', False), ('"weekly on monday at 08:00"', True)])
def test_nobody_due_reads_to_keep_only_where_the_run_keeps_what_it_reads(tmp_path, schedule, reads):
    """A send with nobody due read the sources to keep their papers when a
    digest was over a day away, though a config of daily digests keeps
    nothing it reads (see draws_on_kept): a daily digest whose retry waits
    over a day had every such send read the sources for nothing."""
    from datetime import UTC, datetime, timedelta

    from newsletter.config import load_config
    from newsletter.sending import DigestResult, _to_keep
    from newsletter.state import open_state

    write_config(tmp_path, feed_config("http://127.0.0.1:9/rss", schedule, '["flow matching"]'))
    config = load_config(tmp_path / "config.yaml")
    now = datetime(2024, 6, 3, 9, tzinfo=UTC)
    waiting = [DigestResult("ada@example.org", "waiting", next_attempt=now + timedelta(hours=30))]
    with open_state(config.state_target) as state:
        assert _to_keep(state, config, waiting, now) is reads


@pytest.mark.parametrize("schedule, asked", [('"daily at 08:00"', 0), ('"weekly on monday at 08:00"', 1)])
def test_a_send_asks_for_the_kept_papers_only_where_its_digests_draw_on_them(tmp_path, http_server, monkeypatch,
                                                                             schedule, asked):
    """Each send with a digest due asked the state when the runs before it
    kept papers (``listed_times``, a query of ``listed`` on PostgreSQL, per
    worker and per run), though a config of daily digests keeps nothing and
    draws on nothing kept (see draws_on_kept).  Asked where a digest may draw
    on kept papers only; the digest goes out either way."""
    from recorded_http import Reply

    from newsletter.config import load_config
    from newsletter.sending import send
    from newsletter.state.sqlite import SQLiteState

    write_config(tmp_path, feed_config(http_server.url("/rss/cs.LG"), schedule, '["flow matching"]',
                                       "delivery:\n  transport: outbox\n  path: out\n"))
    http_server.route("/rss/cs.LG", Reply(200, arxiv_announcement("2024-06-03", [
        ("2406.00101", 1, "Flow matching on the first day", "Flow matching, day one.")]),
        {"Content-Type": "application/rss+xml"}))
    config = load_config(tmp_path / "config.yaml")
    calls: list[tuple[datetime, datetime]] = []
    real = SQLiteState.listed_times

    def counted(self, after, before):
        calls.append((after, before))
        return real(self, after, before)

    monkeypatch.setattr(SQLiteState, "listed_times", counted)
    send(config, now=datetime(2024, 6, 3, 9, tzinfo=UTC))  # (the first send sees the subscriber)
    calls.clear()
    report = send(config, now=datetime(2024, 6, 10, 9, tzinfo=UTC))  # a Monday a week on: both are due
    assert [r.status for r in report.results] == ["sent"], report.results
    assert len(calls) == asked, calls


def test_a_send_split_across_processes_builds_the_kept_papers_pool_once(tmp_path, http_server, monkeypatch):
    """In a send split across processes each one built the pool of kept
    papers its digests draw on (a topic index over the week's papers:
    seconds of CPU and its memory, per process), though every subscriber
    served by the same run shares one.  The pool of the first subscribers
    is built before the fork and inherited: built once in all, where the
    run's own index is built too.  (On one core the send is not split, and
    it is built once all the same.)"""
    from recorded_http import Reply

    import newsletter.sending as sending_module
    from newsletter.config import load_config

    count = 220  # (over SHARD_MIN: split)
    subs = "".join(f"  - email: s{i:03}@example.org\n    topics: [ml]\n    schedule: weekly on monday at 08:00\n"
                   for i in range(count))
    write_config(tmp_path, feed_config(http_server.url("/rss/cs.LG"), "weekly on monday at 08:00", '["flow matching"]',
                                       "delivery:\n  transport: outbox\n  path: out\n")
                 .split("subscribers:\n")[0] + "subscribers:\n" + subs)
    config = load_config(tmp_path / "config.yaml")
    built = tmp_path / "built"
    real = sending_module.topic_index

    def counted(*args, **kwargs):
        with built.open("a") as f:  # (from any process of the send)
            f.write(f"{os.getpid()}\n")
        return real(*args, **kwargs)

    for day, n in (("2024-06-03", 1), ("2024-06-04", 2), ("2024-06-10", 3)):
        http_server.route("/rss/cs.LG", Reply(200, arxiv_announcement(day, [
            (f"2406.0{n}101", 1, f"Flow matching on day {n}", "Flow matching.")]), {"Content-Type": "application/rss+xml"}))
        if n == 3:
            monkeypatch.setattr(sending_module, "topic_index", counted)
        report = sending_module.send(config, now=datetime.fromisoformat(f"{day}T09:00:00+02:00"))
    assert [r.status for r in report.results] == ["sent"] * count, {r.status for r in report.results}
    assert len(built.read_text().split()) == 2, built.read_text()  # the run's index, and the kept papers' pool
    digest = next((tmp_path / "out").rglob("*.eml")).read_text(encoding="utf-8")
    assert "Flow matching on day 2" in digest and "Flow matching on day 3" in digest


def _wait_forever(event) -> None:
    event.wait()


def test_a_killed_send_worker_is_said_to_leave_its_claims_to_the_next_send():
    """A send worker killed (SIGKILL, the OOM killer) was said to leave "its
    unfinished digests pending": they stay `sending` (claimed), and only the
    next send's recovery takes them back and sends them again, with their
    Message-IDs.  A real forked process, killed."""
    import multiprocessing

    from newsletter.sending import _died

    context = multiprocessing.get_context("fork")
    never = context.Event()
    proc = context.Process(target=_wait_forever, args=(never,), name="send-worker-2")
    proc.start()
    os.kill(proc.pid, signal.SIGKILL)
    said = _died(proc)
    assert said == ("send worker send-worker-2 stopped without finishing (killed by SIGKILL); the digests it had "
                    "claimed stay 'sending' until the next send takes them back and sends them again, with the "
                    "same Message-IDs")


def test_a_big_weekly_send_prepares_the_bodies_its_workers_use(tmp_path, smtp_server, monkeypatch):
    """Before forking its workers a big send prepares the bodies its first
    digests share (Composer.prepare), from the run's own index; weekly
    digests draw on the kept papers (KeptPools), whose matches are others:
    the bodies prepared were never used, and each worker made them again.
    They come from the pools built before the fork: every digest is made
    from a body the workers inherit.  Counted (in each forked worker,
    through a file), not timed."""
    from newsletter.config import load_config
    from newsletter.rendering import Composer
    from newsletter.sending import SHARD_MIN, send

    count = SHARD_MIN + 50
    weekly = "".join(f"\n  - email: user{i:03}@example.org\n    topics: [diffusion]\n"
                     f"    schedule: weekly on monday at 08:00" for i in range(count))
    config = load_config(setup(tmp_path, smtp(smtp_server.port, "  connections: 2"), subscribers=weekly))
    send(config, now=datetime.fromisoformat("2024-05-01T12:00:00+00:00"))  # first seen; the papers kept
    assert smtp_server.mailbox.messages == []
    monday = ["Diffusion Models for Monday's Task"]  # the sources list Monday's papers only (a feed of one day)
    (tmp_path / "papers" / "day1.txt").write_text(export(monday), encoding="utf-8")

    parent, before_fork = os.getpid(), set()
    uses = tmp_path / "uses"
    body = Composer._body

    def counted_body(self, subscriber, matches, now):
        found = body(self, subscriber, matches, now)
        if found is not None and os.getpid() == parent:
            before_fork.add(id(found))
        elif found is not None:
            with open(uses, "a", encoding="utf-8") as out:  # (each forked worker appends its own lines)
                out.write("inherited\n" if id(found) in before_fork else "own\n")  # own: made in the worker
        return found

    monkeypatch.setattr(Composer, "_body", counted_body)
    report = send(config, now=datetime.fromisoformat("2024-05-06T08:05:00+00:00"))
    assert [r.status for r in report.results].count("sent") == count
    text = smtp_server.mailbox.messages[0].message.get_body(("plain",)).get_content()
    assert "Monday's Task" in text and "Task 4" in text  # the kept papers too: the digest drew on its pool
    used = uses.read_text(encoding="utf-8").split()
    assert used.count("own") == 0 and used.count("inherited") == count, (used.count("own"), len(used))


def test_a_send_worker_stopped_by_an_error_after_its_claim_is_said_truthfully_and_its_part_goes_next_send(
    tmp_path, smtp_server, monkeypatch
):
    """A send worker stopped by an error was said to leave "its unfinished
    digests pending"; a part it had claimed (committed) and not yet handed
    over stays ``sending`` instead, and only the next send takes it back.
    Real forked workers on a real SQLite state: the first worker to record
    its papers is refused (the state's error, injected once across the
    processes through an O_EXCL file: exactly one worker fails, whichever
    it is).  The other delivers the rest; the failed one's batch is left
    ``sending`` (exactly one claim batch of it, no more and no less), the
    problem says so, and the next send sends each of them once, with the
    Message-ID it was claimed with."""
    from newsletter.config import load_config
    from newsletter.errors import Problem, StateError
    from newsletter.sending import CLAIM_BATCH, SHARD_MIN, send
    from newsletter.state.sqlite import SQLiteState

    count = SHARD_MIN + 50
    config = load_config(setup(tmp_path, smtp(smtp_server.port, "  connections: 2"), subscribers=many(count)))
    parent, flag = os.getpid(), tmp_path / "failed-once"
    real = SQLiteState.see_papers

    def refused_once(self, papers, now):
        if os.getpid() != parent:
            try:
                os.close(os.open(flag, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                pass
            else:
                raise StateError(Problem("disk I/O error", str(self.path)))
        return real(self, papers, now)

    monkeypatch.setattr(SQLiteState, "see_papers", refused_once)
    report = send(config, now=datetime.fromisoformat(NOW))
    [problem] = [p for p in report.problems if "stopped" in p]
    assert re.fullmatch(
        r"send worker send-\d stopped: .*disk I/O error; the digests it had claimed and not delivered go out with "
        r"the next send \(any left 'sending' are taken back by it and sent again, with the same Message-IDs\)",
        problem,
    ), problem
    left = {s: mid for s, status, mid, *_ in digests(tmp_path) if status == "sending"}
    assert len(left) == CLAIM_BATCH  # the failed worker's first batch: claimed, never handed over
    assert [r.status for r in report.results].count("sent") == count - CLAIM_BATCH
    assert not set(left) & set(smtp_server.mailbox.recipients())

    monkeypatch.undo()
    again = send(config, now=datetime.fromisoformat(NOW) + timedelta(minutes=1))
    assert sorted(r.email for r in again.results if r.status == "sent") == sorted(left)
    box = smtp_server.mailbox
    assert sorted(box.recipients()) == sorted(f"user{i:02}@example.org" for i in range(count))  # each once
    assert {m.rcpt_tos[0]: m.message_id for m in box.messages if m.rcpt_tos[0] in left} == left
    assert {status for _, status, *_ in digests(tmp_path)} == {"sent"}


def test_a_template_broken_for_everyone_is_one_error_when_the_weekly_digests_draw_on_kept_papers(tmp_path, cli):
    """The up-front template check composed from the run's own papers; a
    weekly digest draws on the papers the runs since its last one kept.  A
    Monday listing of other topics matched nobody, so the check tried no
    digest, and a template broken for everyone failed the digest on its own
    (exit 1, a failure counted against it) where it is one FILE:LINE error
    (exit 2, nothing claimed).  The check now tries what the digest draws on."""
    folder = tmp_path / "templates"
    folder.mkdir()
    html = (ROOT / "templates" / "digest.html").read_text(encoding="utf-8")
    weekly = """
  - email: ada@example.org
    topics: [diffusion]
    schedule: weekly on monday at 08:00
"""
    setup(tmp_path, "  transport: outbox", subscribers=weekly, extra="templates: templates/")
    (folder / "digest.html").write_text(html, encoding="utf-8")
    r = cli("send", "--now", "2024-05-01T12:00:00+00:00")  # first seen; Wednesday's diffusion papers kept
    assert r.code == 0 and "not due 1" in r.out, r.out + r.err
    (tmp_path / "papers" / "day1.txt").write_text(export(OPTIM), encoding="utf-8")  # Monday: nothing on diffusion
    (folder / "digest.html").write_text(html.replace("{{ p.title_html }}", "{{ p.titel_html }}"), encoding="utf-8")
    r = cli("send", "--now", "2024-05-06T08:05:00+00:00")
    assert r.code == 2 and r.out == "", r.out + r.err
    [line] = r.err.strip().splitlines()
    assert line.startswith("templates/digest.html:") and "titel_html" in line
    assert digests(tmp_path) == []
    (folder / "digest.html").write_text(html, encoding="utf-8")  # mended: the week's papers go out
    r = cli("send", "--now", "2024-05-06T08:10:00+00:00")
    assert r.code == 0 and "sent 1," in r.out, r.out + r.err
    text = next((tmp_path / "outbox").rglob("*.eml")).read_text(encoding="utf-8")
    assert "Diffusion Models for Task 1" in text


# --------------------------------------------------------------------------- a title's LaTeX read another way after an upgrade

_RAW_LATEX_EXPORT = (
    "Daily Papers\n\nbyAK and the research community\n\nJun 7\n\n"
    "Diffusion $\\eps$-Nets with $\\Tilde{O}(n)$ Samples\n\n"
    "We build nets for diffusion samplers from few samples and bound their size.\n\n"
    "A Plain Diffusion Paper\n\nA diffusion abstract with no LaTeX at all.\n"
)


@pytest.mark.parametrize("old_state", [
    None,
    ("Diffusion \\eps-Nets with \\Tilde{O}(n) Samples", "diffusion eps nets with tilde o n samples"),
    # as the previous version (245afb6) really read it: \eps as written, but $\Tilde{O}$ dropped to
    # "O": neither this code's key nor the key as written, so it went out again after the upgrade
    ("Diffusion \\eps-Nets with O(n) Samples", "diffusion eps nets with o n samples"),
], ids=["twice", "state of the code before", "state of the previous version"])
def test_a_title_with_latex_converted_another_way_is_not_sent_again(tmp_path, cli, old_state):
    """A paper without an arXiv id is known by its title's key.  The previous
    version (245afb6) left ``$\\eps$`` as written and dropped ``$\\Tilde{O}$``'s
    accent (key "diffusion eps nets with o n samples"); this one shows "ε-Nets
    ... Õ(n)", a new key, and the paper went out again after the upgrade.  The
    key of the title as the source wrote it, and as that version read it, are
    keys of the paper too, whatever the conversion makes of it now."""
    (tmp_path / "export.txt").write_text(_RAW_LATEX_EXPORT, encoding="utf-8")
    write_config(tmp_path, "sources: [{type: hf-papers-text, path: export.txt}]\n"
                 "topics: {d: {name: Diffusion, any: [diffusion]}}\n"
                 "subscribers: [{email: ada@example.org, topics: [d]}]\n"
                 "delivery: {transport: outbox, path: outbox}\n")

    def sent(now: str) -> int:
        r = cli("send", "--json", "--now", now)
        assert r.code == 0, r.err
        return sum(d["papers"] for d in json.loads(r.out)["digests"] if d["status"] == "sent")

    assert sent(NOW) == 2
    if old_state:  # as the code before recorded it: its title, that title's key the paper's id
        old_title, old_id = old_state
        with contextlib.closing(sqlite3.connect(tmp_path / "newsletter-state.sqlite3")) as db, db:
            [(new_id,)] = db.execute("SELECT id FROM papers WHERE title LIKE 'Diffusion ε%'").fetchall()
            assert new_id != old_id
            db.execute("UPDATE papers SET id = ?, title = ? WHERE id = ?", (old_id, old_title, new_id))
            assert db.execute("UPDATE digest_papers SET paper_id = ? WHERE paper_id = ?", (old_id, new_id)).rowcount == 1
    assert sent("2024-05-07T09:00:00+00:00") == 0
