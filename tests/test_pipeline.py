"""``newsletter test-email``: one real digest through the configured transport
to any address, recording nothing (the next ``send`` is unchanged)."""

from __future__ import annotations

import hashlib
import json
import re
import socket
from pathlib import Path

import pytest
from conftest import write_config
from smtp_server import smtp_server, starttls_server  # noqa: F401

NOW = "2024-05-06T09:00:00+00:00"
HEADER = "new\n\nGet trending papers in your email inbox!\n\nSubscribe\n\nDaily Papers\n\nbyAK and the research community\n\nSep 4\n\n"
EMPTY_FEED = """<?xml version="1.0"?><rss version="2.0"><channel><title>quiet</title><link>https://example.org/</link>
<description>nothing today</description></channel></rss>
"""


def export(titles: list[str]) -> str:
    return HEADER + "".join(f"{t}\n\nWe study {t.lower()} and report results.\n\n" for t in titles)


def setup(folder: Path, delivery: str, titles=("Diffusion Models for Task 1", "Diffusion Models for Task 2", "SGD Under Heavy Tails")) -> Path:
    (folder / "papers").mkdir(exist_ok=True)
    (folder / "papers" / "day1.txt").write_text(export(list(titles)), encoding="utf-8")
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
    any: ["SGD"]
subscribers:
  - email: ada@example.org
    name: Ada Lovelace
    topics: [diffusion]
email:
  from: "Paper Digest <digest@example.org>"
delivery:
{delivery}
""",
    )


def smtp(port: int, more: str = "") -> str:
    return f"  transport: smtp\n  host: 127.0.0.1\n  port: {port}\n  security: none\n  timeout: 5\n  retries: 1\n  retry_delay: 0.01\n{more}"


def digest_of(folder: Path) -> str | None:
    state = folder / "newsletter-state.sqlite3"
    return hashlib.sha256(state.read_bytes()).hexdigest() if state.exists() else None


def test_an_address_with_its_name_on_the_command_line_is_told_without_name_key(tmp_path, cli):
    """`--to "Me <me@x.org>"` was told to put the name "under name:", a
    config key the command line has none of."""
    setup(tmp_path, "  transport: outbox\n")
    r = cli("test-email", "--to", "Me <me@example.net>", "--now", NOW)
    assert r.code == 2 and r.err.strip() == (
        "--to: 'Me <me@example.net>' is not a bare address: write the address alone, me@example.net")
    r = cli("unsubscribe", "Ada <ada@example.org>")
    assert r.code == 2 and r.err.strip().endswith("write the address alone, ada@example.org"), r.err


def test_sample_digest_over_smtp_records_nothing(tmp_path, cli, smtp_server):
    setup(tmp_path, smtp(smtp_server.port))
    r = cli("test-email", "--to", "me@example.net", "--now", NOW)
    assert r.code == 0, r.err
    box = smtp_server.mailbox
    (got,) = box.messages
    assert got.rcpt_tos == ["me@example.net"] and got.mail_from == "digest@example.org"
    msg = got.message
    assert msg["To"] == "me@example.net"
    assert msg.get_content_type() == "multipart/alternative"
    text = msg.get_body(("plain",)).get_content()
    assert "Diffusion Models for Task 1" in text and "SGD Under Heavy Tails" in text  # every topic
    assert r.out.strip() == f"sent a sample digest (3 papers) to me@example.net via smtp: {msg['Subject']!r} {msg['Message-ID']}"
    assert not (tmp_path / "newsletter-state.sqlite3").exists()

    # The next send is what it would have been: Ada gets her papers.
    s = cli("send", "--now", NOW)
    assert s.code == 0, s.err
    assert "sent 1, empty 0, failed 0, not due 0" in s.out
    assert box.messages[1].rcpt_tos == ["ada@example.org"]
    assert "Diffusion Models for Task 1" in box.messages[1].message.get_body(("plain",)).get_content()


def test_json_says_what_was_sent(tmp_path, cli):
    setup(tmp_path, "  transport: outbox\n  path: outbox\n")
    r = cli("test-email", "--to", "me@example.net", "--subscriber", "ada@example.org", "--json", "--now", NOW)
    assert r.code == 0, r.err
    (eml,) = (tmp_path / "outbox" / "test-email").glob("*.eml")
    got = json.loads(r.out)
    assert got == {
        "to": "me@example.net",
        "transport": "outbox",
        "papers": 2,
        "subject": "2 new papers: Diffusion models",
        "message_id": got["message_id"],
        "digest_of": "ada@example.org",
        "note": None,
        "path": str(eml.relative_to(tmp_path)),  # as the config names the outbox
    }
    assert f"Message-ID: {got['message_id']}" in eml.read_text()
    assert not (tmp_path / "newsletter-state.sqlite3").exists()


def test_a_subscribers_next_digest_leaves_the_state_untouched(tmp_path, cli, smtp_server):
    setup(tmp_path, smtp(smtp_server.port))
    assert cli("send", "--now", NOW).code == 0
    (tmp_path / "papers" / "day2.txt").write_text(export(["Latent Diffusion Models at Scale"]), encoding="utf-8")
    before = digest_of(tmp_path)
    r = cli("test-email", "--to", "me@example.net", "--subscriber", "ADA@example.org", "--now", NOW)
    assert r.code == 0, r.err
    assert r.out.startswith("sent ada@example.org's digest (1 paper) to me@example.net via smtp:")
    test = smtp_server.mailbox.messages[1].message
    body = test.get_body(("plain",)).get_content()
    assert "Latent Diffusion Models at Scale" in body and "Task 1" not in body  # her next digest
    assert digest_of(tmp_path) == before  # not a byte changed

    s = cli("send", "--now", NOW)
    assert s.code == 0 and "sent 1," in s.out
    real = smtp_server.mailbox.messages[2]
    assert real.rcpt_tos == ["ada@example.org"]
    assert "Latent Diffusion Models at Scale" in real.message.get_body(("plain",)).get_content()
    assert real.message_id != test["Message-ID"]

    # Nothing new left for her: the test shows her papers already sent, and says so.
    r = cli("test-email", "--to", "me@example.net", "--subscriber", "ada@example.org", "--now", NOW)
    assert r.code == 0, r.err
    assert "nothing new for ada@example.org" in r.err and "(3 papers)" in r.out


def test_outbox_writes_the_eml_and_no_state(tmp_path, cli):
    setup(tmp_path, "  transport: outbox\n  path: outbox")
    r = cli("test-email", "--to", "me@example.net")
    assert r.code == 0, r.err
    # in a folder of its own: among the digests sent, it looked like one
    assert not list((tmp_path / "outbox").glob("*.eml"))
    (eml,) = (tmp_path / "outbox" / "test-email").glob("*.eml")
    assert "me@example.net" in eml.name and b"To: me@example.net" in eml.read_bytes()
    # Nothing is mailed: the line says where the message went, and how to mail it
    # (the starter config writes to the outbox; "sent ... to me@example.net" misled).
    subject = "3 new papers: Diffusion models, Optimisation"
    assert r.out.splitlines()[0].startswith(
        f"wrote a sample digest (3 papers) for me@example.net to {eml.relative_to(tmp_path)}: {subject!r} <"
    )
    assert r.out.splitlines()[1] == (
        "the outbox transport writes .eml files and mails nothing: open it in a mail client, "
        "or set delivery.transport: smtp to send it"
    )
    assert not (tmp_path / "newsletter-state.sqlite3").exists()


def test_no_paper_matching_any_topic_still_makes_a_sample(tmp_path, cli):
    setup(tmp_path, "  transport: outbox", titles=("Protein Folding Revisited", "Graph Coloring Bounds"))
    r = cli("test-email", "--to", "me@example.net")
    assert r.code == 0, r.err
    assert "no current paper matches any topic; the sample shows the first 2 papers" in r.err
    (eml,) = (tmp_path / "outbox" / "test-email").glob("*.eml")
    assert b"Protein Folding Revisited" in eml.read_bytes()


def test_no_papers_is_a_clear_error(tmp_path, cli, smtp_server):
    (tmp_path / "quiet.xml").write_text(EMPTY_FEED, encoding="utf-8")
    write_config(
        tmp_path,
        f"""
sources:
  - type: feed
    path: quiet.xml
topics:
  t: {{any: [x]}}
delivery:
{smtp(smtp_server.port)}
""",
    )
    r = cli("test-email", "--to", "me@example.net")
    assert r.code == 2
    assert r.err.strip() == (
        "config.yaml: no papers in the current sources (1 source read); nothing to build a test digest from"
    )
    assert smtp_server.mailbox.messages == []


def test_usage_errors_are_one_line(tmp_path, cli, smtp_server):
    setup(tmp_path, smtp(smtp_server.port, "  username: u\n  password_env: TEST_EMAIL_PASSWORD_UNSET\n"))
    r = cli("test-email", "--to", "not-an-address")
    assert (r.code, r.err.strip()) == (2, "--to: 'not-an-address' is not a valid address")
    r = cli("test-email", "--to", "me@example.net", "--subscriber", "zed@example.org")
    assert r.code == 2
    assert r.err.strip() == "config.yaml: no subscriber 'zed@example.org' in the config (subscribers: ada@example.org)"
    r = cli("test-email", "--to", "me@example.net")
    assert r.code == 2
    assert r.err.strip() == (
        "config.yaml:26: delivery.password_env: environment variable TEST_EMAIL_PASSWORD_UNSET is not set "
        "(it must hold the SMTP password for u)"
    )
    assert smtp_server.mailbox.messages == [] and "Traceback" not in r.err


def test_a_refused_test_email_exits_1_with_the_reply(tmp_path, cli, smtp_server):
    setup(tmp_path, smtp(smtp_server.port))
    smtp_server.mailbox.reject["me@example.net"] = "550 5.1.1 no such user"
    r = cli("test-email", "--to", "me@example.net")
    assert r.code == 1
    assert r.err.strip() == (
        "test email to me@example.net not delivered: recipient me@example.net refused: 550 5.1.1 no such user"
    )
    assert not (tmp_path / "newsletter-state.sqlite3").exists()


@pytest.mark.parametrize("reply, why", [
    ("550 5.7.1 Our system has detected that this message is likely unsolicited mail.",
     "refused as spam, for the message or the sender's standing, no fault of the address"),
    ("452 4.2.2 The email account that you tried to reach is out of storage space.", "the recipient's mailbox is full"),
])
def test_a_test_email_refused_for_spam_or_a_full_mailbox_speaks_of_no_later_send(tmp_path, cli, smtp_server, reply,
                                                                                 why):
    """A test email refused as spam said '... tried again by later sends,
    never held for it': a send's words for a digest it keeps; a test email
    records nothing and no later send tries it."""
    setup(tmp_path, smtp(smtp_server.port))
    smtp_server.mailbox.data_replies = [reply]
    r = cli("test-email", "--to", "me@example.net")
    assert r.code == 1 and "Traceback" not in r.err
    assert r.err.strip() == f"test email to me@example.net not delivered: message to me@example.net refused: {reply} ({why})"
    assert not (tmp_path / "newsletter-state.sqlite3").exists() and smtp_server.mailbox.messages == []


def test_a_test_email_the_server_cannot_take_is_one_line(tmp_path, cli):
    """A server that cannot be reached said so twice: the dispatcher's
    "delivery stopped: ..." and then "test email to ... not delivered: ..."."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # nothing listens there
    path = setup(tmp_path, smtp(port).replace("retries: 1", "retries: 0"))
    line = path.read_text().splitlines().index(f"  port: {port}") + 1
    r = cli("test-email", "--to", "me@example.net")
    assert r.code == 1
    assert r.err.strip().splitlines() == [
        f"test email to me@example.net not delivered: config.yaml:{line}: cannot connect to SMTP server 127.0.0.1:{port}: "
        "Connection refused"
        " (nothing listens there: check delivery.host and delivery.port, or start the server)"
    ]


def test_a_test_email_whose_reply_never_came_does_not_speak_of_a_run(tmp_path, cli, smtp_server):
    """The connection lost after the whole message, before the server's
    reply: a send leaves that digest to its next run ("not resent in this
    run"); test-email has no run, and says it is not sent again."""
    setup(tmp_path, smtp(smtp_server.port))
    smtp_server.mailbox.unanswered = 1
    r = cli("test-email", "--to", "me@example.net")
    assert r.code == 1 and len(smtp_server.mailbox.messages) == 1
    assert r.err.strip() == (
        f"test email to me@example.net not delivered: SMTP server 127.0.0.1:{smtp_server.port} closed the connection "
        "after the message to me@example.net, before confirming it; it may have taken the message, so it is not "
        "sent again"
    )


def test_a_subscriber_with_nothing_matching_is_a_located_error(tmp_path, cli):
    setup(tmp_path, "  transport: outbox", titles=("Protein Folding Revisited", "Graph Coloring Bounds"))
    r = cli("test-email", "--to", "me@example.net", "--subscriber", "ada@example.org")
    assert r.code == 2
    assert r.err.strip() == (
        "config.yaml:14: subscribers[0].topics: no current paper matches ada@example.org's topics (diffusion) "
        "among 2 papers; try test-email without --subscriber for a sample digest"
    )
    assert not (tmp_path / "outbox").exists() or not list((tmp_path / "outbox").glob("*.eml"))


def test_schedule_and_send_show_the_same_retry_minute(tmp_path, cli, smtp_server):
    """A digest that failed at 09:00:27 waits until 09:05:27: both ``send`` and
    ``schedule`` say "retried from 09:06" (rounded up: at 09:05 it is still
    waiting), while ``schedule --json`` keeps the exact time."""
    import json

    smtp_server.mailbox.reject["ada@example.org"] = "550 5.1.1 <ada@example.org>: no such user"
    setup(tmp_path, smtp(smtp_server.port))
    r = cli("send", "--now", "2024-05-06T09:00:27+00:00")
    assert r.code == 1 and "retried from 2024-05-06 09:06 UTC" in r.out, r.out

    at = "2024-05-06T09:05:00+00:00"  # the truncated minute: still waiting
    r = cli("send", "--dry-run", "--now", at)
    assert "waiting     ada@example.org" in r.out and "retried from 2024-05-06 09:06 UTC" in r.out, r.out
    text = cli("schedule", "--now", at).out
    assert "a failed digest is retried from 2024-05-06 09:06 UTC" in text, text
    [row] = json.loads(cli("schedule", "--json", "--now", at).out)["subscribers"]
    assert row["retry_at"] == "2024-05-06T09:05:27+00:00" and row["due"] is False


def test_validate_names_a_sqlite_state_send_could_not_open_and_writes_none(workdir, cli):
    """`send` refuses a state that is a folder or not SQLite; `validate` says
    so first, at the `state:` line, opening the file read-only."""
    from conftest import BASIC_CONFIG

    (workdir / "folder").mkdir()
    (workdir / "junk.sqlite3").write_bytes(b"not a database " * 100)
    for target, words in (("folder", "folder: the state is a folder, not a SQLite file"),
                          ("junk.sqlite3", "junk.sqlite3: not a SQLite database")):
        config = write_config(workdir, BASIC_CONFIG + f"state: {target}\n")
        line = config.read_text().splitlines().index(f"state: {target}") + 1
        r = cli("validate")
        assert r.code == 2 and "Traceback" not in r.err
        assert r.err.startswith(f"config.yaml:{line}: state: {words}"), r.err
    write_config(workdir, BASIC_CONFIG + "state: new.sqlite3\n")
    r = cli("validate")
    assert r.code == 0, r.err
    assert not (workdir / "new.sqlite3").exists()  # validate writes no state


def test_validate_names_a_state_damaged_in_a_page_no_open_reads(workdir, cli):
    """SQLite meets a damaged page only in a query that reads it: `validate`
    said OK, and every `send` then stopped on 'database disk image is malformed'."""
    from conftest import BASIC_CONFIG

    config = write_config(workdir, BASIC_CONFIG + "state: s.sqlite3\n")
    line = config.read_text().splitlines().index("state: s.sqlite3") + 1
    assert cli("send").code == 0
    state = workdir / "s.sqlite3"
    pages = state.stat().st_size // 4096
    with open(state, "r+b") as f:  # the last page, a table's: the header and schema read fine
        f.seek((pages - 1) * 4096)
        f.write(b"\xff" * 4096)
    r = cli("validate")
    assert r.code == 2 and "Traceback" not in r.err
    assert re.fullmatch(
        rf"config.yaml:{line}: state: s.sqlite3: database disk image is malformed \(Page \d+: [^\n]*\): the state file is "
        r"damaged\. Restore a backup, or try `sqlite3 s.sqlite3 \.recover \| sqlite3 repaired\.sqlite3` and point "
        r"`state:` at the result\n", r.err), r.err
    r = cli("send")
    assert r.code == 2 and "the state file is damaged" in r.err


def test_validate_names_a_read_only_state_at_the_state_line(workdir, cli):
    """`validate` said OK and `send` then failed at its first write."""
    from conftest import BASIC_CONFIG, state_unwritable_said, unwritable

    config = write_config(workdir, BASIC_CONFIG + "state: s.sqlite3\n")
    line = config.read_text().splitlines().index("state: s.sqlite3") + 1
    assert cli("send").code == 0
    with unwritable(workdir / "s.sqlite3"):
        said = state_unwritable_said(Path("s.sqlite3"))
        r = cli("validate")
        assert r.code == 2 and "Traceback" not in r.err
        assert r.err.strip() == f"config.yaml:{line}: state: s.sqlite3: {said}"
        r = cli("send")
        assert r.code == 2 and said in r.err and "Traceback" not in r.err


def test_validate_names_an_outbox_send_could_not_write_to(workdir, cli):
    """`validate` said OK and `send` then stopped (exit 2) on an outbox path
    that is a file, or lies under one; both name it at the `path:` line."""
    from conftest import BASIC_CONFIG

    (workdir / "notes.txt").write_text("a file")
    for path, words in (("notes.txt", "'notes.txt' is a file, not a folder"),
                        ("notes.txt/outbox", "'notes.txt/outbox' cannot be made: 'notes.txt' is a file, not a folder")):
        config = write_config(workdir, BASIC_CONFIG + f"delivery:\n  transport: outbox\n  path: {path}\n")
        line = config.read_text().splitlines().index(f"  path: {path}") + 1
        for command in ("validate", "send"):
            r = cli(command)
            assert r.code == 2 and "Traceback" not in r.err, r.err
            assert r.err.strip() == f"config.yaml:{line}: delivery.path: the outbox {words}", (command, r.err)
    assert (workdir / "notes.txt").read_text() == "a file" and not (workdir / "newsletter-state.sqlite3").exists()
    write_config(workdir, BASIC_CONFIG + "delivery:\n  transport: outbox\n  path: new/outbox\n")
    assert cli("validate").code == 0
    assert not (workdir / "new").exists()  # validate creates nothing


def test_ordinal_words_places_as_english_does():
    from newsletter.pipeline import ordinal

    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 101, 111, 112)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd", "101st", "111th", "112th"]


def test_paper_standing_names_a_pinned_author_and_the_rule_that_leaves_it_out(tmp_path):
    """A paper in a digest only for an author the subscriber pins says so; each
    topic says which of its rules leaves it out."""
    from conftest import DATA, write_config

    from newsletter import load_config, pipeline

    (tmp_path / "api.xml").write_bytes((DATA / "arxiv-api.xml").read_bytes())
    write_config(tmp_path, """
        sources:
          - type: arxiv
            categories: [cs.LG]
            path: api.xml
        topics:
          bridges:
            any: ["Schrödinger bridge*", "diffusion"]
          fluid:
            any: ["neural operator*"]
            none: ["turbulen*"]
        subscribers:
          - email: ada@example.org
            topics: [bridges, fluid]
            pin: ["Olusegun Adeyemi"]
            max_papers: 1
          - email: bob@example.org
            topics: [bridges]
            max_papers: 1
          - email: cy@example.org
            topics: [fluid]
        state: state.sqlite3
        """)
    config = load_config(tmp_path / "config.yaml")
    found = pipeline.papers(config)
    standing = pipeline.paper_standing(config, found, "http://arxiv.org/abs/2406.01010v1", left={})
    assert standing.paper.arxiv_id == "2406.01010"
    bridges, fluid = standing.topics
    assert (bridges.taken, bridges.why, bridges.place, bridges.of) == (True, "matched: diffusion", 3, 5)
    assert (fluid.taken, fluid.why) == (False, "excluded by none: 'turbulen*' (title: 'Turbulent')")
    ada, bob, cy = standing.digests
    assert (ada.place, ada.of, ada.pinned, ada.why_not) == (1, 1, True, None)
    assert (bob.place, bob.why_not) == (None, "its 1 place (max_papers) goes to a better fit")
    assert (cy.place, cy.why_not) == (None, "none of its topics takes it")


def test_match_paper_takes_the_short_name_a_researcher_calls_a_paper_by(workdir):
    """`--paper DPO-Shift` (the name before the title's colon) or a piece of a
    title that only one paper has said "no paper"; a piece several titles
    share names them, to pick from."""
    from conftest import BASIC_CONFIG, run_newsletter, write_config

    from newsletter.errors import InputError
    from newsletter.models import Paper
    from newsletter.pipeline import find_paper

    papers = [Paper("DPO-Shift: Shifting the Distribution of Direct Preference Optimization", "a", "s"),
              Paper("Reflected Diffusion Models", "b", "s"),
              Paper("Fixed Point Diffusion Models", "c", "s"),
              Paper("Shifting Gears: a survey", "d", "s")]
    assert find_paper(papers, "dpo shift").title.startswith("DPO-Shift:")
    assert find_paper(papers, "Fixed Point Diffusion").title == "Fixed Point Diffusion Models"
    with pytest.raises(InputError) as info:
        find_paper(papers, "Diffusion Models")
    assert str(info.value) == ("no paper 'Diffusion Models' among the 4 papers the sources give now (2 titles hold "
                               "it: 'Fixed Point Diffusion Models', 'Reflected Diffusion Models'; give more of the title)")
    with pytest.raises(InputError):
        find_paper(papers, "Shift")  # a word inside other words is no piece of a title

    write_config(workdir, BASIC_CONFIG)
    result = run_newsletter("match", "--paper", "DPO-Shift", cwd=workdir)
    assert result.code == 0, result.err
    assert result.out.splitlines()[0] == "DPO-Shift: Shifting the Distribution of Direct Preference Optimization"


def test_a_test_email_whose_login_is_refused_says_so_without_speaking_of_digests(tmp_path, cli, starttls_server):
    """test-email records nothing: its failure must not say "the remaining
    digests stay pending", as a send's does."""
    from smtp_server import PASSWORD, USER
    from test_send import tls_login

    setup(tmp_path, tls_login(starttls_server))
    r = cli("test-email", "--to", "me@example.net", env={"DIGEST_SMTP_PASSWORD": PASSWORD + "-wrong"})
    assert r.code == 1, r.out + r.err
    assert f"rejected the login for '{USER}'" in r.err
    assert "digests" not in r.err and PASSWORD not in r.out + r.err and "Traceback" not in r.err


def test_a_test_email_of_a_subscriber_reads_the_state_once(tmp_path, cli, monkeypatch):
    """`test-email --subscriber` opened the state three times (the papers sent
    under another key, the papers sent, whether they left): three connections
    to a PostgreSQL state for one read.  Once now, and what it reads still
    counts: the digest sent is known, and so is the unsubscribe."""
    from datetime import datetime

    from newsletter import pipeline
    from newsletter.config import load_config
    from newsletter.state.sqlite import SQLiteState

    setup(tmp_path, "  transport: outbox\n  path: out")
    assert cli("send", "--now", NOW).code == 0
    assert cli("unsubscribe", "ada@example.org", "--now", NOW).code == 0
    opened: list[bool] = []
    real = SQLiteState.open.__func__

    def counted(cls, path, **kw):
        opened.append(kw.get("readonly", False))
        return real(cls, path, **kw)

    monkeypatch.setattr(SQLiteState, "open", classmethod(counted))
    sent = pipeline.send_test_email(load_config(tmp_path / "config.yaml"), "me@example.net",
                                    now=datetime.fromisoformat(NOW), subscriber="ada@example.org")
    assert opened == [True]
    assert sent.papers == 2 and sent.note is not None and sent.note.startswith(
        "nothing new for ada@example.org; the test digest has their papers already sent; ada@example.org "
        "unsubscribed "), sent.note
