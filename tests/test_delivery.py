"""Transports and the dispatcher, in-process against a real aiosmtpd server."""

from __future__ import annotations

import contextlib
import email
import email.policy
import logging
import os
import re
import socket
import ssl
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timezone
from email.message import EmailMessage
from typing import Any

import pytest
from conftest import ROOT, serving_each
from smtp_server import (  # noqa: F401
    PASSWORD,
    USER,
    Server,
    free_port,
    make_certificate,
    smtp_server,
    ssl_server,
    starttls_server,
)

from newsletter import delivery
from newsletter.delivery import (
    Dispatcher,
    Envelope,
    OutboxTransport,
    RateLimit,
    SMTPTransport,
    message_bytes,
    safe_name,
)
from newsletter.errors import ConfigError, TransientDeliveryError
from newsletter.refusals import About, classify

T0 = datetime(2024, 5, 6, 9, 0, tzinfo=UTC)


def envelope(n: int, rcpt: str | None = None, message_id: str | None = None) -> Envelope:
    rcpt = rcpt or f"user{n}@example.org"
    msg = EmailMessage()
    msg["From"] = "digest@example.org"
    msg["To"] = rcpt
    msg["Subject"] = f"digest {n}"
    msg["Message-ID"] = message_id or f"<m{n}@example.org>"
    msg.set_content(f"hello {n}\n.\nline after a lone dot\n")
    return Envelope(n, "digest@example.org", rcpt, msg, msg["Message-ID"], T0, 1)


def run(transport, envelopes, **kw):
    outcomes, lock = [], threading.Lock()

    def record(outcome):
        with lock:
            outcomes.append(outcome)

    slept = []
    with Dispatcher(transport, on_outcome=record, sleep=slept.append, **kw) as d:
        for env in envelopes:
            d.submit(env)
    return sorted(outcomes, key=lambda o: o.envelope.digest_id), slept


def plain(server, connections=1) -> SMTPTransport:
    t = SMTPTransport("127.0.0.1", server.port, security="none", timeout=5, connections=connections)
    t.check()
    return t


def test_one_session_reused_for_a_batch_with_nodelay(smtp_server):
    outcomes, slept = run(plain(smtp_server), [envelope(n) for n in range(5)])
    assert all(o.delivered and o.tries == 1 for o in outcomes) and slept == []
    box = smtp_server.mailbox
    assert len(box.messages) == 5 and len({m.peer for m in box.messages}) == 1
    assert "line after a lone dot" in box.messages[0].message.get_content()
    session = plain(smtp_server).session()
    smtp = session._open()
    assert smtp.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    session.smtp = smtp
    session.close()


@pytest.mark.parametrize("pipelining", [True, False])
def test_replies_are_handled_with_and_without_pipelining(smtp_server, pipelining):
    box = smtp_server.mailbox
    box.pipelining = pipelining
    box.reject["user1@example.org"] = "550 5.1.1 unknown user"
    box.reject["user2@example.org"] = "450 4.2.0 mailbox busy"
    box.data_replies = ["554 5.6.0 content rejected"]
    outcomes, slept = run(plain(smtp_server), [envelope(n) for n in range(5)], retries=1, retry_delay=0.25)
    summary = [(o.delivered, o.permanent, o.tries) for o in outcomes]
    # (the content's refusal, RFC 3463's X.6, is the message's: not retried, not the address's)
    assert summary == [(False, False, 1), (False, True, 1), (False, False, 2), (True, False, 1), (True, False, 1)]
    assert "554 5.6.0 content rejected" in outcomes[0].error and "450 4.2.0" in outcomes[2].error
    assert slept == [0.25]
    assert sorted(m.rcpt_tos[0] for m in box.messages) == ["user3@example.org", "user4@example.org"]
    assert len({m.peer for m in box.messages}) == 1  # the session survived every refusal
    assert all("hello" in m.message.get_content() for m in box.messages)


def test_next_message_rides_with_the_end_of_data_and_survives_a_closing_reply(smtp_server):
    # RFC 2920: each message's data goes out with the next one's MAIL, RCPT and
    # DATA.  A "421 closing" to the first message's data drops those too: the
    # first is retried on a new connection and the others still go out, once.
    box = smtp_server.mailbox
    box.data_replies = ["421 4.3.2 closing"]
    outcomes, slept = run(plain(smtp_server), [envelope(n) for n in range(4)], retries=2, retry_delay=0.25)
    assert [(o.delivered, o.tries) for o in outcomes] == [(True, 2), (True, 1), (True, 1), (True, 1)]
    assert slept == [0.25]
    assert sorted(m.rcpt_tos[0] for m in box.messages) == [f"user{n}@example.org" for n in range(4)]
    assert all(m.message.get_content().replace("\r\n", "\n").endswith(".\nline after a lone dot\n") for m in box.messages)


def test_session_primes_the_next_message_and_drops_it_with_a_closing_reply(smtp_server):
    box = smtp_server.mailbox
    e0, e1, e2 = envelope(0), envelope(1), envelope(2)
    session = plain(smtp_server).session()
    session.send(e0, then=e1)
    assert session.primed is e1  # e1's MAIL, RCPT and DATA went out with e0's data
    session.send(e1)
    assert session.primed is None and len({m.peer for m in box.messages}) == 1
    # a 421 ends the session that carried them (a new one is tried at once), then the new one too
    box.data_replies = ["421 4.3.2 closing", "421 4.3.2 closing"]
    with pytest.raises(TransientDeliveryError, match="421 4.3.2 closing"):
        session.send(e2, then=e0)
    assert session.primed is None and session.smtp is None  # nothing of e0 is left half-sent
    assert len(box.messages) == 2 and box.data_count == 4
    session.send(e2)
    session.close()
    assert [m.rcpt_tos[0] for m in box.messages] == ["user0@example.org", "user1@example.org", "user2@example.org"]


@pytest.mark.parametrize("pipelining", [True, False])
def test_a_connection_lost_after_the_data_is_not_retried_in_the_run(smtp_server, pipelining):
    """The server had the whole message when the connection ended, before its
    reply: it may have taken it, so it is not sent again at once (that was a
    duplicate per retry); the next messages go out on a new session."""
    box = smtp_server.mailbox
    box.pipelining = pipelining
    box.unanswered = 1
    outcomes, slept = run(plain(smtp_server), [envelope(n) for n in range(3)], retries=3, retry_delay=0.25)
    assert [(o.delivered, o.permanent, o.tries) for o in outcomes] == [(False, False, 1), (True, False, 1), (True, False, 1)]
    assert "before confirming it" in outcomes[0].error and "not resent in this run" in outcomes[0].error
    assert slept == []
    assert sorted(m.rcpt_tos[0] for m in box.messages) == [f"user{n}@example.org" for n in range(3)]  # once each


def test_a_server_dropping_every_message_after_its_data_stops_the_batch_at_the_third(smtp_server):
    """A server (or its content filter) that crashes after taking each
    message's data, before its reply: each message may have arrived, and
    goes again with the next run; the batch went on through every
    subscriber, each of whom could get each digest twice.  Three in a row
    stop it; the rest stay pending, not attempted, with no doubt on them."""
    box = smtp_server.mailbox
    box.unanswered = 10
    outcomes, slept = run(plain(smtp_server), [envelope(n) for n in range(6)], retries=3)
    assert [(o.delivered, o.uncertain, o.tries) for o in outcomes] == [(False, True, 1)] * 3 + [(False, False, 0)] * 3
    assert outcomes[3].error.startswith(
        "not attempted: 3 messages in a row went unconfirmed, the last: SMTP server 127.0.0.1:"
        f"{smtp_server.port} closed the connection after the message to user2@example.org, before confirming it; "
    ) and outcomes[3].error.endswith("the rest are not sent into the same doubt"), outcomes[3].error
    assert slept == [] and box.recipients() == ["user0@example.org", "user1@example.org", "user2@example.org"]


def test_a_stop_after_failures_and_unconfirmed_messages_says_both(smtp_server):
    """One message failing on every try, then two left unconfirmed: the stop
    was worded from the last alone, "3 messages in a row went unconfirmed",
    though the first was refused and cannot have arrived."""
    box = smtp_server.mailbox
    box.reject = {"user0@example.org": "452 4.5.3 Too many recipients"}
    box.unanswered = 2
    outcomes, slept = run(plain(smtp_server), [envelope(n) for n in range(5)], retries=1)
    assert [(o.delivered, o.uncertain, o.tries) for o in outcomes] == (
        [(False, False, 2), (False, True, 1), (False, True, 1)] + [(False, False, 0)] * 2)
    assert outcomes[3].error.startswith(
        "not attempted: 3 messages in a row failed on every try or went unconfirmed (2 of them), the last with: SMTP "
        f"server 127.0.0.1:{smtp_server.port} closed the connection after the message to user2@example.org, "
    ) and outcomes[3].error.endswith("; each unconfirmed one may have arrived, and goes again (said) with the next "
                                     "run: the rest are not sent into the same doubt"), outcomes[3].error
    assert len(slept) == 1 and box.recipients() == ["user1@example.org", "user2@example.org"]


def test_a_message_whose_commands_went_with_the_last_ones_data_is_not_resent_either(smtp_server):
    """The second message of a session (its MAIL, RCPT and DATA pipelined
    with the first one's data): its connection ending cleanly without a
    verdict was taken for a server closing before it read that data, and the
    message went again at once, a duplicate of one the server had.  The
    reset that data meets tells the two apart: a server that closes after
    each message still has every message once."""
    box = smtp_server.mailbox
    box.unanswered, box.answered_first = 1, 1
    outcomes, slept = run(plain(smtp_server), [envelope(n) for n in range(3)], retries=3)
    assert [(o.delivered, o.uncertain, o.tries) for o in outcomes] == [(True, False, 1), (False, True, 1), (True, False, 1)]
    assert "closed the connection after the message to user1@example.org, before confirming it" in outcomes[1].error
    assert slept == [] and sorted(m.rcpt_tos[0] for m in box.messages) == [f"user{n}@example.org" for n in range(3)]
    box.unanswered, box.drop_after_each = 0, True  # closing after each one: some 354s come just before the close
    outcomes, _ = run(plain(smtp_server), [envelope(n, f"again{n}@example.org") for n in range(12)], retries=0)
    assert all(o.delivered for o in outcomes), [o.error for o in outcomes if not o.delivered]
    assert sorted(box.recipients()).count("again0@example.org") == 1 and len(box.messages) == 15


@pytest.mark.parametrize("pipelining", [True, False])
def test_a_tls_server_closing_after_a_message_before_its_verdict_does_not_get_it_twice(starttls_server, monkeypatch,
                                                                                       pipelining):
    """Over STARTTLS (the default), a server that took a message's data and
    ended the connection before its verdict got it again at once, in a new
    session, and the run said "sent" with no doubt: the server's TLS ended
    without a close_notify (most do; a crash always), OpenSSL answered with
    an alert, and the closed socket's reset to that alert read as the reset
    of data the server never read.  As over plain SMTP, the message is left
    unconfirmed (not resent in this run, said), and the next ones go on."""
    monkeypatch.setenv("DIGEST_PW", PASSWORD)
    box = starttls_server.mailbox
    box.unanswered, box.pipelining = 1, pipelining
    t = SMTPTransport("127.0.0.1", starttls_server.port, username=USER, password_env="DIGEST_PW",
                      ca_file=starttls_server.cert, timeout=5, connections=1)
    t.check()
    outcomes, slept = run(t, [envelope(n) for n in range(3)], retries=3)
    assert [(o.delivered, o.uncertain, o.tries) for o in outcomes] == [(False, True, 1), (True, False, 1), (True, False, 1)]
    assert outcomes[0].error.startswith(f"SMTP server 127.0.0.1:{starttls_server.port} closed the connection after "
                                        "the message to user0@example.org, before confirming it;"), outcomes[0].error
    assert slept == [] and box.recipients() == [f"user{n}@example.org" for n in range(3)]  # each once


def test_a_refusal_to_relay_is_not_retried_nor_permanent_and_the_others_go(smtp_server):
    """'Relay access denied' says the server will not take mail from us (no
    login), not that the address is wrong: no retry now, but no permanent
    failure either (three would hold the digest for good)."""
    box = smtp_server.mailbox
    box.reject["user1@example.org"] = "554 5.7.1 <user1@example.org>: Relay access denied"
    box.reject["user2@example.org"] = "550 5.1.1 <user2@example.org>: Recipient address rejected"
    outcomes, slept = run(plain(smtp_server), [envelope(n) for n in range(4)], retries=3)
    assert [(o.delivered, o.permanent, o.tries) for o in outcomes] == [
        (True, False, 1), (False, False, 1), (False, True, 1), (True, False, 1)
    ]
    assert "Relay access denied" in outcomes[1].error and "check username/password_env" in outcomes[1].error
    assert slept == [] and box.recipients() == ["user0@example.org", "user3@example.org"]


def test_a_refused_sender_stops_the_batch_and_a_size_refusal_does_not(smtp_server):
    """A 5xx to MAIL FROM says the sender (or the login) is wrong for every
    message: the batch stops, and it is no recipient's permanent failure."""
    box = smtp_server.mailbox
    box.mail_reply = "553 5.7.1 Sender address rejected: not owned by user"
    outcomes, slept = run(plain(smtp_server), [envelope(n) for n in range(3)], retries=3)
    assert [(o.delivered, o.permanent, o.tries) for o in outcomes] == [(False, False, 1), (False, False, 0), (False, False, 0)]
    assert "refused the sender digest@example.org: 553 5.7.1" in outcomes[0].error
    assert "check email.from" in outcomes[0].error and outcomes[1].error.startswith("not attempted: ")
    assert slept == [] and box.messages == []
    box.mail_reply = "552 5.3.4 Message size exceeds fixed maximum message size"  # RFC 1870: this message
    outcomes, _ = run(plain(smtp_server), [envelope(n) for n in range(2)], retries=3)
    # (not retried in the run, and no refusal of the address either: see the test below)
    assert [(o.delivered, o.permanent, o.tries) for o in outcomes] == [(False, False, 1), (False, False, 1)]


@pytest.mark.parametrize("where", ["mail", "rcpt", "data"])
@pytest.mark.parametrize("answer, shown", [
    ("hello there", "with no SMTP reply (its line ended 'o there')"),
    ("600 weird", "with no SMTP reply (its line '600 weird')"),
    ("354 go ahead", "with '354 go ahead', which is no answer to it"),
])
def test_an_answer_that_is_no_smtp_reply_stops_the_batch_and_fails_no_digest(smtp_server, where, answer, shown):
    """A line without a reply code (smtplib's -1), a code no SMTP server
    sends, or a success that answers another command (354 to MAIL, 250 to
    DATA), in the middle of a session: each digest "failed permanently" as
    "sender digest@example.org refused: -1 o there", and three such runs held
    them all.  It is the server's (or a proxy's) fault: the batch stops and
    every digest stays pending."""
    box = smtp_server.mailbox
    if where == "mail":
        box.mail_reply = answer
    elif where == "rcpt":
        box.reject = {f"user{n}@example.org": answer for n in range(3)}
    else:
        box.data_replies = [answer] * 3
    outcomes, slept = run(plain(smtp_server), [envelope(n) for n in range(3)], retries=3)
    assert [(o.delivered, o.permanent, o.tries) for o in outcomes] == [(False, False, 1), (False, False, 0), (False, False, 0)]
    assert outcomes[0].error.startswith(f"SMTP server 127.0.0.1:{smtp_server.port} answered ")
    assert outcomes[0].error.endswith(f"{shown}: is a proxy or another service in the way?"), outcomes[0].error
    assert outcomes[1].error.startswith("not attempted: ") and slept == [] and box.messages == []


def test_a_server_limiting_recipients_per_session_gets_each_retry_in_a_new_session(smtp_server):
    """'452 4.5.3 Too many recipients' once a session has had its share: the
    retries went to the same session and got the same answer, three messages
    in a row failed, and each run delivered three digests and stopped."""
    box = smtp_server.mailbox
    box.session_recipients = 3
    outcomes, slept = run(plain(smtp_server), [envelope(n) for n in range(10)], retries=2, retry_delay=1)
    assert all(o.delivered for o in outcomes) and len(box.messages) == 10
    assert sorted(o.tries for o in outcomes) == [1] * 7 + [2] * 3 and slept == [1.0] * 3


def test_a_server_limiting_messages_per_connection_gets_the_next_in_a_new_one_at_once(smtp_server):
    """'421 4.7.0 Too many messages for this connection' to the MAIL FROM of
    a session that has carried messages: the next went through the retry
    back-off (a second's wait, and a try counted) each time; a session that
    has carried its share is given up at once, as a dropped one is."""
    box = smtp_server.mailbox
    box.session_messages = 3
    outcomes, slept = run(plain(smtp_server), [envelope(n) for n in range(10)], retries=2, retry_delay=1)
    assert all(o.delivered for o in outcomes) and len(box.messages) == 10
    assert [o.tries for o in outcomes] == [1] * 10 and slept == []
    box.session_messages = 0  # the server turns every session away so: backed off, as before
    outcomes, slept = run(plain(smtp_server), [envelope(n) for n in range(2)], retries=1, retry_delay=1)
    assert not outcomes[0].delivered and "421 4.7.0 Too many messages" in outcomes[0].error and slept == [1.0]


@pytest.mark.parametrize("pipelining", [True, False])
@pytest.mark.parametrize(("drop", "step"), [("MAIL", "MAIL FROM"), ("user0@example.org", "RCPT TO")])
def test_a_dropped_session_names_the_command_it_ended_under(smtp_server, pipelining, drop, step):
    """'closed the connection' alone did not tell a server ending every
    session at MAIL FROM (a sender its policy refuses without a word) from
    one refusing a recipient so, or a flaky network."""
    box = smtp_server.mailbox
    box.pipelining, box.drop_at = pipelining, {drop}
    outcomes, slept = run(plain(smtp_server), [envelope(0)], retries=1, retry_delay=1)
    assert outcomes[0].error == f"SMTP server 127.0.0.1:{smtp_server.port} closed the connection in answer to {step}"
    assert not outcomes[0].delivered and slept == [1.0]


@pytest.mark.parametrize("failing", ["drop at MAIL", "452 to RCPT"])
def test_messages_failing_on_every_try_one_after_another_stop_the_batch(smtp_server, failing):
    """A server (or a firewall, or a quota) that closes each session at MAIL
    FROM, or answers every RCPT "452 4.5.3 Too many recipients": every message
    went through all its retries in turn, 7 s each with the default backoff,
    hours for a big batch.  Three messages in a row failing so stop the batch,
    the rest pending; a recipient now and then failing so does not."""
    box = smtp_server.mailbox
    port = smtp_server.port
    if failing == "drop at MAIL":
        box.drop_at, last = {"MAIL"}, f"SMTP server 127.0.0.1:{port} closed the connection in answer to MAIL FROM"
    else:
        box.reject = {f"user{n}@example.org": "452 4.5.3 Too many recipients" for n in range(6)}
        last = "recipient user2@example.org refused: 452 4.5.3 Too many recipients"
    outcomes, slept = run(plain(smtp_server), [envelope(n) for n in range(6)], retries=2)
    assert [(o.delivered, o.permanent, o.tries) for o in outcomes] == [(False, False, 3)] * 3 + [(False, False, 0)] * 3
    assert outcomes[3].error == f"not attempted: 3 messages in a row failed on every try, the last with: {last}"
    assert not any(o.stopped_on_error for o in outcomes)  # stopped by the server, not the caller: failed
    assert slept == [1.0, 2.0] * 3 and box.messages == []
    box.drop_at, box.reject = {"user1@example.org", "user2@example.org", "user4@example.org"}, {}
    outcomes, _ = run(plain(smtp_server), [envelope(n) for n in range(6)], retries=2)
    assert [(o.delivered, o.tries) for o in outcomes] == [(True, 1), (False, 3), (False, 3), (True, 1), (False, 3), (True, 1)]


def test_a_message_refused_as_too_big_says_how_big_and_what_makes_it_smaller(smtp_server):
    """A 552 5.3.4 at the end of the data is this digest's size: the reply
    alone did not say what to change.  It is not retried in the run, and no
    permanent failure of the address: one held after three runs stayed held
    once max_papers was lowered, as the hint says.  A full mailbox (552
    5.2.2) is no size of ours: no such hint (see the test below)."""
    box = smtp_server.mailbox
    box.data_replies = ["552 5.3.4 Message size exceeds fixed maximum message size", "552 5.2.2 Mailbox full"]
    outcomes, _ = run(plain(smtp_server), [envelope(n) for n in range(2)], retries=3)
    size = len(envelope(0).data())
    assert not outcomes[0].permanent and outcomes[0].tries == 1 and outcomes[0].error.endswith(
        f"552 5.3.4 Message size exceeds fixed maximum message size (the digest is {size:,} bytes: "
        "lower max_papers or email.abstract_chars)"
    ), outcomes[0].error
    assert "max_papers" not in outcomes[1].error and outcomes[1].error.endswith("552 5.2.2 Mailbox full (the "
                                                                               "recipient's mailbox is full: tried "
                                                                               "again by later sends, never held for "
                                                                               "it)"), outcomes[1].error


@pytest.mark.parametrize("at, reply", [
    ("RCPT", "552 5.2.2 <user0@example.org>: Mailbox full"),
    ("RCPT", "452 4.2.2 The recipient's inbox is out of storage space. Please direct the recipient to"),
    ("DATA", "552 5.2.2 The email account that you tried to reach is over quota."),
    ("DATA", "552 Quota exceeded (mailbox for user is full)"),
])
def test_a_full_mailbox_is_not_retried_in_the_run_and_no_permanent_refusal(smtp_server, at, reply):
    """RFC 3463 calls X.2.2 a persistent transient failure: the recipient can
    make room.  As a 5xx it counted as a refusal of the address, and three
    runs (a subscriber away three days) held the digest for good; as a 4xx it
    was retried within the run, seconds apart, which no quota outlasts.  The
    next message still goes."""
    box = smtp_server.mailbox
    if at == "RCPT":
        box.reject["user0@example.org"] = reply
    else:
        box.data_replies = [reply]
    outcomes, slept = run(plain(smtp_server), [envelope(n) for n in range(2)], retries=3)
    assert [(o.delivered, o.permanent, o.tries) for o in outcomes] == [(False, False, 1), (True, False, 1)]
    assert outcomes[0].error.endswith(f"{reply} (the recipient's mailbox is full: tried again by later sends, never "
                                      "held for it)"), outcomes[0].error
    assert slept == [] and box.recipients() == ["user1@example.org"]


@pytest.mark.parametrize("at, reply", [
    ("DATA", "550 5.7.1 [192.0.2.7] Our system has detected that this message is likely unsolicited mail. To reduce "
             "the amount of spam sent to Gmail, this message has been blocked."),
    ("DATA", "554 5.7.1 Message blocked due to spam content in the message"),
    ("RCPT", "550 5.7.1 Rejected by content filter"),
])
def test_a_message_refused_as_spam_is_no_refusal_of_the_address(smtp_server, at, reply):
    """A refusal as spam is the message's or the sender's standing: three runs
    of it held the digest (each digest differs; held ones stayed held once
    DKIM or the template was mended).  Not retried in the run; the next goes."""
    box = smtp_server.mailbox
    if at == "RCPT":
        box.reject["user0@example.org"] = reply
    else:
        box.data_replies = [reply]
    outcomes, slept = run(plain(smtp_server), [envelope(n) for n in range(2)], retries=3)
    assert [(o.delivered, o.permanent, o.tries) for o in outcomes] == [(False, False, 1), (True, False, 1)]
    assert outcomes[0].error.endswith(f"{reply} (refused as spam, for the message or the sender's standing, no fault "
                                      "of the address: tried again by later sends, never held for it)"), outcomes[0].error
    assert slept == [] and box.recipients() == ["user1@example.org"]


@pytest.mark.parametrize("at, reply, said", [
    ("DATA", "550 5.7.1 Our system has detected that this message is likely unsolicited mail.", "refused as spam"),
    ("DATA", "554 5.6.0 Message content rejected", "refused for the message's content"),
    ("RCPT", "554 5.3.0 Mail system error", "the receiving server's own trouble"),
    ("RCPT", "554 5.7.1 <x>: Relay access denied", "the server does not relay for us"),
])
def test_a_server_refusing_every_message_alike_stops_the_batch_after_a_few(smtp_server, caplog, at, reply, said):
    """A content filter refusing every digest as spam, a broken mail system,
    a relay refusing us: each message was refused in turn, a batch of 2,000
    asked 2,000 times, with no word that the server turns them all away.
    Five refused alike in a row stop the batch (logged once), the rest
    pending and not attempted; one that goes out between starts the count
    again."""
    box = smtp_server.mailbox
    if at == "RCPT":
        box.reject = {f"user{n}@example.org": reply for n in range(12) if n != 3}
    else:
        box.data_replies = [reply] * 3 + [""] + [reply] * 12  # ("": taken)
    with caplog.at_level(logging.ERROR, logger="newsletter.delivery"):
        outcomes, slept = run(plain(smtp_server), [envelope(n) for n in range(12)], retries=3)
    assert [(o.delivered, o.permanent, o.tries) for o in outcomes] == (
        [(False, False, 1)] * 3 + [(True, False, 1)] + [(False, False, 1)] * 5 + [(False, False, 0)] * 3)
    assert said in outcomes[8].error
    assert outcomes[9].error.startswith(
        f"not attempted: 5 messages in a row were refused alike, the last: {'recipient' if at == 'RCPT' else 'message to'} "
        f"user8@example.org refused{':' if at == 'RCPT' else ''}"), outcomes[9].error
    assert outcomes[9].error.endswith("; the rest would be refused so too"), outcomes[9].error
    assert slept == [] and len(box.messages) == 1
    stops = [r.getMessage() for r in caplog.records if r.getMessage().startswith("delivery stopped: ")]
    assert len(stops) == 1 and stops[0].endswith("the rest would be refused so too; the remaining digests stay pending")


def test_refusals_of_different_kinds_in_a_row_stop_nothing(smtp_server):
    """Five messages each refused for a reason of its own (content, size,
    the server's trouble) are no server refusing all alike: all are tried."""
    box = smtp_server.mailbox
    box.data_replies = ["554 5.6.0 Message content rejected", "554 5.3.0 Mail system error"] * 4
    outcomes, _ = run(plain(smtp_server), [envelope(n) for n in range(10)], retries=0)
    assert [o.delivered for o in outcomes] == [False] * 8 + [True] * 2 and all(o.tries == 1 for o in outcomes)


_SENDERS = "the sender's fault, not the address's, the same for every message: check email.from"
_CLIENTS = "the server refuses this machine (its host name or address, or an unauthenticated client), not the address"


@pytest.mark.parametrize("at, reply, hint", [
    ("RCPT", "553 5.7.1 <digest@example.org>: Sender address rejected: not owned by user digest-user", _SENDERS),
    ("RCPT", "450 4.1.8 <digest@example.org>: Sender address rejected: Domain not found", _SENDERS),
    ("DATA", "554 5.2.252 SendAsDenied; digest@example.org not allowed to send as digest@example.org; STOREDRV",
     _SENDERS),
    ("RCPT", "554 5.7.1 <unknown[192.0.2.7]>: Client host rejected: cannot find your hostname, [192.0.2.7]", _CLIENTS),
    ("RCPT", "554 5.7.1 Service unavailable; Client host [192.0.2.7] blocked using zen.spamhaus.org", _CLIENTS),
    ("RCPT", "504 5.5.2 <localhost>: Helo command rejected: need fully-qualified hostname", _CLIENTS),
])
def test_a_refusal_of_the_sender_or_this_client_stops_the_batch_and_refuses_no_address(smtp_server, at, reply, hint):
    """Postfix checks the sender (smtpd_sender_login_maps: a From the login
    may not use), the client and its HELO when RCPT TO comes, Microsoft 365
    the sender after the data: each recipient was 'refused' in turn, a
    permanent failure of its address, and three runs held every subscriber's
    digest.  The batch stops at the first."""
    box = smtp_server.mailbox
    if at == "RCPT":
        box.reject = {f"user{n}@example.org": reply for n in range(3)}
    else:
        box.data_replies = [reply] * 3
    outcomes, slept = run(plain(smtp_server), [envelope(n) for n in range(3)], retries=3)
    assert [(o.delivered, o.permanent, o.tries) for o in outcomes] == [(False, False, 1)] + [(False, False, 0)] * 2
    what = "recipient user0@example.org" if at == "RCPT" else "message to user0@example.org"
    assert outcomes[0].error.startswith(
        f"SMTP server 127.0.0.1:{smtp_server.port}: {what} refused: {reply} ({hint}"
    ), outcomes[0].error
    assert slept == [] and box.messages == []


@pytest.mark.parametrize("at, reply", [
    ("MAIL", "550 5.4.5 Daily user sending quota exceeded. d2-20020a"),
    ("RCPT", "550 5.4.5 Daily user sending limit exceeded. For more information on Gmail 5.4.5 sending limits go to"),
    ("DATA", "554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException; Failed to process message"),
    ("RCPT", "454 Throttling failure: Daily message quota exceeded."),
])
def test_the_accounts_sending_limit_stops_the_batch_and_refuses_no_address(smtp_server, at, reply):
    """Gmail's '550 5.4.5 Daily user sending limit exceeded' answers every
    message after the limit, at whatever command: each digest was 'refused'
    in turn (the server asked once per subscriber, each run), and three runs
    held every subscriber past the limit for good.  The batch stops at the
    first, the rest not attempted; none is a permanent failure."""
    box = smtp_server.mailbox
    if at == "MAIL":
        box.mail_reply = reply
    elif at == "RCPT":
        box.reject = {f"user{n}@example.org": reply for n in range(1, 4)}
    else:
        box.data_replies = [reply]
    first = [] if at == "DATA" else [envelope(0)]  # (the data's refusal is the first message's)
    outcomes, slept = run(plain(smtp_server), first + [envelope(n) for n in range(1, 4)], retries=3)
    refused = outcomes[0] if at in ("MAIL", "DATA") else outcomes[1]
    assert not refused.delivered and not refused.permanent and refused.tries == 1
    what = {"MAIL": "sender digest@example.org", "RCPT": "recipient user1@example.org",
            "DATA": "message to user1@example.org"}[at]
    assert refused.error == (
        f"SMTP server 127.0.0.1:{smtp_server.port}: {what} refused: {reply} (the account has reached its sending "
        "limit, no fault of the address: no digest is held for it; a provider's daily limit lifts within a day: "
        "send to fewer subscribers a day, or through a service made for mailing lists)")
    after = outcomes[outcomes.index(refused) + 1:]
    assert after and all(o.tries == 0 and not o.delivered and not o.permanent for o in after)
    assert slept == [] and len(box.messages) == len(outcomes) - 1 - len(after)


@pytest.mark.parametrize("reply", [
    "550 5.7.26 Unauthenticated email from example.org is not accepted due to domain's DMARC policy",
    "550 5.7.23 The message was rejected because of Sender Policy Framework violation",
    "550 5.7.1 SPF fail - not authorized",
])
def test_a_sender_that_failed_spf_dkim_or_dmarc_is_no_refusal_of_the_address(smtp_server, reply):
    """Each such refusal counted against the recipient's digest, and three
    runs held them all; it is the sender domain's fault (see Unauthenticated).
    A policy refusal of the address itself stays permanent."""
    box = smtp_server.mailbox
    box.data_replies = [reply, "550 5.7.1 Recipient address rejected: Access denied"]
    outcomes, slept = run(plain(smtp_server), [envelope(n) for n in range(2)], retries=3)
    assert [(o.delivered, o.permanent, o.tries) for o in outcomes] == [(False, False, 1), (False, True, 1)]
    assert outcomes[0].error == (
        f"message to user0@example.org refused: {reply} (the receiving server found the sender digest@example.org "
        "unauthenticated: publish SPF for the server you send through and sign with email.dkim, or send through "
        "your domain's own server; no fault of the address: tried again by later sends, never held for it)")
    assert slept == [] and box.messages == []


_HELD = "held"  # a refusal of the address: permanent, counts towards holding the digest
_NOT_HELD = "not held"  # not retried in the run, never held
_STOPS = "stops"  # ... and the batch stops (the next one is not attempted)


@pytest.mark.parametrize("at, reply, kind, said", [
    # the enhanced code decides where RFC 3463 gives it one meaning, whatever the words
    ("RCPT", "550 5.1.1 <user0@example.org>: Recipient address rejected: User unknown in relay recipient table",
     _HELD, None),
    ("RCPT", "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup", _HELD, None),
    ("RCPT", "550 5.2.1 The email account that you tried to reach is disabled.", _HELD, None),
    ("RCPT", "550 5.7.13 User account disabled", _HELD, None),
    ("DATA", "554 5.3.0 Mail system error", _NOT_HELD, "(RFC 3463's X.3.0: the receiving server's own trouble, no fault of the address"),
    ("DATA", "550 5.4.6 Routing loop detected", _NOT_HELD, "(RFC 3463's X.4.6: the receiving server's own trouble"),
    ("RCPT", "550 5.3.2 System not accepting network messages", _NOT_HELD, "the receiving server's own trouble"),
    # written later in the text, after one of another class: the first of the reply's own class
    ("RCPT", "554 Delivery failed (was 4.4.1, now 5.3.2): System not accepting network messages", _NOT_HELD,
     "(RFC 3463's X.3.2: the receiving server's own trouble"),
    ("DATA", "554 5.6.1 Media type not supported", _NOT_HELD, "(RFC 3463's X.6.1: refused for the message's content, no fault of the address: tried again by later sends, never held for it)"),
    ("DATA", "550 5.2.3 Message length exceeds administrative limit", _NOT_HELD, "lower max_papers"),
    ("RCPT", "452 4.2.2 Mailbox over its storage limit", _NOT_HELD, "the recipient's mailbox is full"),
    # a bare 552 is "exceeded storage allocation" (RFC 5321 4.2.3): a full mailbox, but the size at MAIL FROM
    ("RCPT", "552 Requested mail action aborted: exceeded storage allocation", _NOT_HELD,
     "the recipient's mailbox is full"),
    ("DATA", "552 Requested mail action aborted: exceeded storage allocation", _NOT_HELD,
     "the recipient's mailbox is full"),
    ("MAIL", "552 Requested mail action aborted: exceeded storage allocation", _NOT_HELD,
     "refused for its size at MAIL FROM"),
    # at MAIL FROM, which knows nothing of the recipient, all but the size is every message's: the batch stops
    ("MAIL", "555 5.5.4 Unsupported option: SIZE", _STOPS,
     "(RFC 3463's X.5.4: the receiving server's own trouble, the same for every message)"),
    ("MAIL", "550 5.7.27 Sender address has null MX", _STOPS, "check email.from and the login"),
    ("RCPT", "550 5.7.27 Sender address has null MX", _STOPS, "the sender's fault, not the address's"),
    ("MAIL", "550 5.7.25 Reverse DNS validation failed", _STOPS, "the server refuses this machine"),
    ("RCPT", "550 5.7.25 Reverse DNS validation failed", _STOPS, "the server refuses this machine"),
    ("MAIL", "552 Message size exceeds maximum permitted", _NOT_HELD, "refused for its size at MAIL FROM"),
    ("RCPT", "530 5.7.57 Client not authenticated to send mail", _STOPS, "the server wants a login first"),
    ("RCPT", "550 5.7.10 Encryption needed", _STOPS, "the server wants a login first"),
    ("RCPT", "550 5.7.11 Encryption required for requested authentication mechanism", _STOPS,
     "the server wants a login first"),
    ("RCPT", "550 5.7.12 A password transition is needed", _STOPS, "the server wants a login first"),
    ("DATA", "550 5.7.14 Trust relationship required", _STOPS, "the server wants a login first"),
    ("DATA", "550 5.7.15 Priority Level is too low", _NOT_HELD, "(RFC 3463's X.7.15: the receiving server's own trouble"),
    # ambiguous codes (X.7.1, "other", a vendor's detail, none): the words decide, else the basic code
    ("RCPT", "554 5.7.1 <user0@example.org>: Relay access denied", _NOT_HELD, "the server does not relay for us"),
    ("RCPT", "550 5.4.1 Recipient address rejected: Access denied. AS(201806281)", _HELD, None),
    ("RCPT", "550 5.5.0 Requested action not taken: mailbox unavailable", _HELD, None),
    ("RCPT", "550 User unknown", _HELD, None),
    ("DATA", "554 5.7.9 Message not accepted for policy reasons. See https://help.yahoo.com/kb/postmaster/SLN7253.html",
     _NOT_HELD, "refused as spam, for the message or the sender's standing"),
    ("RCPT", "550 Sender verify failed", _STOPS, "the sender's fault, not the address's"),
    ("RCPT", "550 rejected because 192.0.2.7 is in a black list at zen.spamhaus.org", _STOPS,
     "the server refuses this machine"),
    ("RCPT", "550 5.7.606 Access denied, banned sending IP [192.0.2.7]. To request removal from this list please visit",
     _STOPS, "the server refuses this machine"),
    ("DATA", "552 Message size exceeds maximum permitted", _NOT_HELD, "lower max_papers"),
    # after a 250 to RCPT TO, what no code or words decide is the message's: the server took the address
    ("DATA", "554 Transaction failed", _NOT_HELD, "refused after user0@example.org was accepted at RCPT TO: the "
     "message's refusal (its content, or the server's policy), no fault of the address: tried again by later sends"),
    ("DATA", "554 5.7.1 Rejected by local policy", _NOT_HELD, "(RFC 3463's X.7.1: refused after user0@example.org "
     "was accepted at RCPT TO"),
    # ... but a server checking its recipients once the message is in still names one unknown or unusable
    # (RFC 5321's own 550 text among them: read as the message's, retried every run for ever, never held)
    ("DATA", "550 5.5.0 Requested action not taken: mailbox unavailable", _HELD, None),
    ("DATA", "550 Requested action not taken: mailbox unavailable", _HELD, None),
    ("DATA", "550 mailbox unavailable", _HELD, None),
    ("DATA", "550 Mailbox disabled, not accepting messages", _HELD, None),
    ("DATA", "550 Address rejected", _HELD, None),
    ("DATA", "553 mailbox name not allowed", _HELD, None),
    ("DATA", "550 User unknown", _HELD, None),
    ("DATA", "550 5.1.1 <user0@example.org>: Recipient address rejected: User unknown in local recipient table",
     _HELD, None),
    ("DATA", "554 5.7.1 Mailbox does not exist", _HELD, None),
])
def test_a_refusal_is_told_by_its_enhanced_status_code_then_its_words(smtp_server, at, reply, kind, said):
    """RFC 3463's subject and detail say what a refusal is about; one pattern
    per kind of refusal, tried on every reply, read Postfix's "550 5.1.1 ...
    User unknown in relay recipient table" as a refusal to relay (a dead
    address never held), and every refusal it had no pattern for (a full
    mail system, a routing loop, a media type, a login wanted at RCPT) as
    one of the address: three runs of it held the digest for good."""
    box = smtp_server.mailbox
    if at == "MAIL":
        box.mail_reply = reply
    elif at == "RCPT":
        box.reject["user0@example.org"] = reply
    else:
        box.data_replies = [reply]
    outcomes, slept = run(plain(smtp_server), [envelope(n) for n in range(2)], retries=3)
    first, second = outcomes
    assert (first.delivered, first.permanent, first.tries, slept) == (False, kind == _HELD, 1, []), first.error
    assert reply in first.error and (said is None or said in first.error), first.error
    if kind == _STOPS:
        assert second.tries == 0 and second.error.startswith("not attempted: ")
    elif at != "MAIL":
        assert second.delivered and box.recipients() == ["user1@example.org"]
    else:  # (every MAIL FROM gets the same answer)
        assert second.tries == 1 and reply in second.error


@pytest.mark.parametrize("reply, about", [
    # address wordings a server checking its recipients only after the data gives: the address's, held in time
    ("550 Requested action not taken: mailbox unavailable", About.ADDRESS),  # RFC 5321's own 550 text
    ("550 5.5.0 Requested action not taken: mailbox unavailable", About.ADDRESS),
    ("550 mailbox unavailable", About.ADDRESS),
    ("550 Mailbox disabled, not accepting messages", About.ADDRESS),
    ("550 Address rejected", About.ADDRESS),
    ("553 mailbox name not allowed", About.ADDRESS),
    ("550 User unknown", About.ADDRESS),
    # the message's, never held: no words of the address
    ("554 Transaction failed", About.CONTENT),
    ("554 5.7.1 Rejected by local policy", About.CONTENT),
    ("550 Message rejected", About.CONTENT),
    ("554 5.7.9 Message not accepted for policy reasons", About.SPAM),
    ("553 5.7.1 <digest@example.org>: Sender address rejected: not owned by user", About.SENDER),
])
def test_a_refusal_after_the_recipient_was_accepted_is_the_address_only_where_it_says_so(reply, about):
    """After '250' to RCPT TO, any reply code outside the table fell back to
    the message's refusal, so RFC 5321's own "550 Requested action not
    taken: mailbox unavailable" (and "mailbox disabled", "address rejected",
    "553 mailbox name not allowed") from a server checking recipients after
    the data was retried every run for ever, never held."""
    code, text = int(reply[:3]), reply[4:]
    assert classify(code, text, accepted=True).about is about


def test_a_message_over_the_advertised_size_is_refused_for_its_size_not_its_sender():
    """A server advertising SIZE refuses a bigger message's MAIL FROM ... SIZE=n
    (RFC 1870): it read 'sender digest@example.org refused: 552 ...', as if the
    From address were at fault, and did not say the server's limit.  Now it is
    not offered at all (see the next test)."""
    server = Server(size_limit=200)
    try:
        outcomes, _ = run(plain(server), [envelope(0)], retries=3)
    finally:
        server.stop()
    size = len(envelope(0).data())
    assert not outcomes[0].permanent and outcomes[0].tries == 1 and server.mailbox.messages == []
    assert outcomes[0].error == (
        f"message to user0@example.org not sent: over the size SMTP server 127.0.0.1:{server.port} advertises (EHLO's "
        f"SIZE; RFC 1870) (the digest is {size:,} bytes, the server takes at most 200: lower max_papers or "
        "email.abstract_chars)")


@pytest.mark.parametrize("pipelining", [False, True])
def test_a_message_over_the_advertised_size_is_not_sent_to_a_server_that_would_take_its_mail_from(pipelining):
    """A server that advertises SIZE but does not hold MAIL FROM's SIZE=n to
    it (RFC 1870 lets it wait for the data) was sent every byte of a digest
    it then refused or cut short.  The digest over the limit goes no further
    than this machine, its MAIL FROM never sent (nor pipelined with the
    message before it), and the smaller ones go out in the same session."""
    big = envelope(1)
    big.message.set_content("a line of the digest, long enough to count\n" * 40)
    commands: list[bytes] = []
    sessions: list[int] = []
    serve = _plain_server(b"250-PIPELINING\r\n250 SIZE 1000\r\n" if pipelining else b"250 SIZE 1000\r\n",
                          commands=commands, sessions=sessions)
    with serving_each(serve) as port:
        t = SMTPTransport("127.0.0.1", port, security="none", timeout=5, connections=1)
        t.check()
        outcomes, slept = run(t, [envelope(0), big, envelope(2)], retries=3)
    size = len(big.data())
    assert size > 1000 and [(o.delivered, o.permanent) for o in outcomes] == [(True, False), (False, False), (True, False)]
    assert outcomes[1].error == (
        f"message to user1@example.org not sent: over the size SMTP server 127.0.0.1:{port} advertises (EHLO's SIZE; "
        f"RFC 1870) (the digest is {size:,} bytes, the server takes at most 1,000: lower max_papers or "
        "email.abstract_chars)")
    assert slept == [] and len(sessions) == 1  # not retried; no new session
    mails = [c for c in commands if c.startswith(b"MAIL")]
    rcpts = [c for c in commands if c.startswith(b"RCPT")]
    assert rcpts == [b"RCPT TO:<USER0@EXAMPLE.ORG>", b"RCPT TO:<USER2@EXAMPLE.ORG>"] and len(mails) == 2, commands


@pytest.mark.parametrize("size", [b"SIZE", b"SIZE 0", b"SIZE unlimited", b"SIZE \xb2", b"SIZE 1e9"])
def test_a_size_extension_without_a_limit_in_digits_limits_nothing(size):
    """RFC 1870: SIZE alone, or SIZE 0, advertises no fixed limit; a value
    that is no number (a server's own words, "\xb2" read as Latin-1 "²",
    which isdigit() takes for a digit and int() refuses) is none either,
    and fails no message."""
    commands: list[bytes] = []
    with serving_each(_plain_server(b"250 " + size + b"\r\n", commands=commands)) as port:
        t = SMTPTransport("127.0.0.1", port, security="none", timeout=5, connections=1)
        t.check()
        outcomes, _ = run(t, [envelope(0)], retries=0)
    assert [(o.delivered, o.error) for o in outcomes] == [(True, None)] and b"DATA" in commands


def _plain_server(extensions: bytes = b"250 8BITMIME\r\n", verdicts: Callable[[int], bytes] = lambda n: b"250 queued\r\n",
                  *, commands: list[bytes] | None = None, sessions: list[int] | None = None
                  ) -> Callable[[socket.socket], None]:
    """A plain server (for :func:`serving_each`) taking every command, its
    EHLO's ``extensions`` after its name, and answering the end of the n-th
    message's data (from 1, over all sessions) ``verdicts(n)``; it notes each
    command (upper-cased, without its line end) in ``commands`` and each
    session in ``sessions``."""
    taken = [0]

    def serve(conn: socket.socket) -> None:
        if sessions is not None:
            sessions.append(1)
        with conn.makefile("rb") as lines:
            conn.sendall(b"220 mx\r\n")
            for command in lines:
                word = command.upper()
                if commands is not None:
                    commands.append(word.rstrip(b"\r\n"))
                if word.startswith(b"EHLO"):
                    conn.sendall(b"250-mx\r\n" + extensions)
                elif word.startswith(b"DATA"):
                    conn.sendall(b"354 go on\r\n")
                    for data in lines:
                        if data == b".\r\n":
                            break
                    taken[0] += 1
                    conn.sendall(verdicts(taken[0]))
                elif word.startswith(b"QUIT"):
                    conn.sendall(b"221 bye\r\n")
                    return
                else:
                    conn.sendall(b"250 ok\r\n")

    return serve


@pytest.mark.parametrize("pipelining", [False, True])
@pytest.mark.parametrize("verdict", [b"251 2.0.0 queued as 4F2A\r\n", b"252 ok\r\n", b"250-2.0.0 Ok\r\n250 queued as 4F2A\r\n"])
def test_any_2yz_to_the_message_is_its_delivery_not_an_answer_to_something_else(pipelining, verdict):
    """RFC 5321 has a client act on a reply's first digit: a 2yz to the end
    of the data is the server taking the message.  Any code but 250 there was
    read as 'no answer to it' (a proxy in the way): the batch stopped and
    the digest the server had taken stayed pending, so the next run sent it
    a second time."""
    commands: list[bytes] = []
    sessions: list[int] = []
    serve = _plain_server(b"250 PIPELINING\r\n" if pipelining else b"250 8BITMIME\r\n",
                          lambda n: verdict if n == 2 else b"250 queued\r\n", commands=commands, sessions=sessions)
    with serving_each(serve) as port:
        t = SMTPTransport("127.0.0.1", port, security="none", timeout=5, connections=1)
        t.check()
        outcomes, slept = run(t, [envelope(n) for n in range(3)], retries=3)
    assert [(o.delivered, o.tries, o.error) for o in outcomes] == [(True, 1, None)] * 3
    assert [c for c in commands if c.startswith(b"DATA")] == [b"DATA"] * 3 and len(sessions) == 1 and slept == []


def test_serialisation_matches_the_standard_generator():
    msg = envelope(1).message
    msg.add_alternative("<p>" + "é x " * 3000 + "</p>\n.\n", subtype="html")
    assert message_bytes(msg) == msg.as_bytes(policy=email.policy.SMTP)


def test_parallel_sessions(smtp_server):
    outcomes, _ = run(plain(smtp_server, connections=3), [envelope(n) for n in range(12)])
    assert all(o.delivered for o in outcomes)
    peers = {m.peer for m in smtp_server.mailbox.messages}
    assert len(smtp_server.mailbox.messages) == 12 and 1 <= len(peers) <= 3


@contextlib.contextmanager
def _admitted_holds_until_two_turned_away(box) -> Any:
    """The session a one-at-a-time server lets in has its first message's
    reply held until the two other sessions were turned away: on a loaded
    machine it could otherwise send all twelve and leave before the others
    connected (then let in: nobody turned away, two peers).  A guard of 60 s
    ends the hold if they never come (the test's assertions then fail)."""
    box.max_sessions, box.block_at = 1, 1

    def watch() -> None:
        deadline, tick = time.monotonic() + 60, threading.Event()
        while box.turned_away < 2 and time.monotonic() < deadline:
            tick.wait(0.01)  # (polling the server's count: it has no event for it)
        box.release.set()

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        yield
    finally:
        box.release.set()
        watcher.join()


def test_sessions_a_server_turns_away_leave_their_messages_to_the_others(smtp_server):
    """`connections: 3` against a server that allows one at a time: the sessions
    it turns away (421 greeting) hand their messages to the one it let in,
    instead of stopping the batch with everyone else's digests left pending."""
    box = smtp_server.mailbox
    with _admitted_holds_until_two_turned_away(box):
        outcomes, slept = run(plain(smtp_server, connections=3), [envelope(n) for n in range(12)], retries=1)
    assert [(o.delivered, o.error) for o in outcomes] == [(True, None)] * 12
    assert sorted(m.rcpt_tos[0] for m in box.messages) == sorted(f"user{n}@example.org" for n in range(12))
    assert len({m.peer for m in box.messages}) == 1 and box.turned_away >= 2
    assert len(slept) <= 2  # each turned-away session retried once, then handed its work over


def test_a_session_done_with_the_queue_waits_for_work_handed_back_late(smtp_server):
    """The session the server let in has emptied the queue before the turned-away
    ones give up (their retry waits until then, and is refused again): it takes
    what they hand back instead of ending, and nothing is left undelivered."""
    box = smtp_server.mailbox
    box.max_sessions = 1
    outcomes, submitted = [], threading.Event()
    transport = plain(smtp_server, connections=3)

    def sleep(delay):
        # the retry waits until the admitted session has taken its end mark:
        # the queue holds only the other two's
        submitted.wait(10)
        deadline = time.monotonic() + 10
        while list(dispatcher.queue.queue) != [None, None] and time.monotonic() < deadline:
            submitted.wait(0.001)
        box.max_sessions = 0  # and the server takes no new connection (other clients have them)

    dispatcher = Dispatcher(transport, on_outcome=outcomes.append, sleep=sleep, retries=1)
    with _admitted_holds_until_two_turned_away(box):
        for n in range(12):
            dispatcher.submit(envelope(n))
        submitted.set()
        dispatcher.finish()
    assert sorted((o.envelope.digest_id, o.delivered) for o in outcomes) == [(n, True) for n in range(12)]
    assert len(box.messages) == 12 and box.turned_away >= 2


def test_transient_failures_back_off_exponentially(smtp_server):
    smtp_server.mailbox.data_replies = ["451 4.3.0 later", "452 4.3.1 full", "421 4.3.2 closing"]
    outcomes, slept = run(plain(smtp_server), [envelope(1)], retries=3, retry_delay=0.5)
    [o] = outcomes
    assert o.delivered and o.tries == 4
    assert slept == [0.5, 1.0, 2.0]


@pytest.mark.parametrize("where", ["rcpt", "data"])
def test_a_server_closing_every_session_with_421_stops_the_batch_after_the_retries(smtp_server, where):
    """Gmail's rate limit answers "421 4.7.0 Try again later, closing connection":
    that is the whole server, not one recipient, so the batch stops once the
    retries are spent instead of backing off and reconnecting for each message."""
    box = smtp_server.mailbox
    closing = "421 4.7.0 Try again later, closing connection"
    if where == "rcpt":
        box.reject = {f"user{n}@example.org": closing for n in range(5)}
    else:
        box.data_replies = [closing] * 10
    outcomes, slept = run(plain(smtp_server), [envelope(n) for n in range(5)], retries=2, retry_delay=0.25)
    assert [(o.delivered, o.tries) for o in outcomes] == [(False, 3)] + [(False, 0)] * 4
    assert "is closing the session: 421 4.7.0" in outcomes[0].error
    assert all(o.error.startswith("not attempted: ") and not o.permanent for o in outcomes[1:])
    assert slept == [0.25, 0.5] and box.messages == []


def test_a_digest_withdrawn_during_the_back_off_is_not_retried(smtp_server):
    """A PostgreSQL restart while the worker waited to retry: another worker
    took the digest back (and sent it), so the retry must ask again first,
    not send it a second time."""
    smtp_server.mailbox.data_replies = ["451 4.3.0 later"]
    asked, slept, outcomes = [], [], []

    def withdrawn(env):
        asked.append(len(slept))
        return "not sent: another worker took it back" if slept else None

    with Dispatcher(plain(smtp_server), on_outcome=outcomes.append, sleep=slept.append, retries=3,
                    withdrawn=withdrawn) as d:
        d.submit(envelope(1))
    [o] = outcomes
    assert (o.delivered, o.withdrawn, o.tries) == (False, True, 1)
    assert o.error == "not sent: another worker took it back"
    assert asked == [0, 1] and len(slept) == 1  # asked before the first try and again before the retry
    assert smtp_server.mailbox.messages == []


def test_retries_exhausted_leave_a_transient_failure(smtp_server):
    smtp_server.mailbox.data_replies = ["451 4.3.0 later"] * 3
    outcomes, slept = run(plain(smtp_server), [envelope(1), envelope(2)], retries=2, retry_delay=1)
    assert (outcomes[0].delivered, outcomes[0].permanent, outcomes[0].tries) == (False, False, 3)
    assert "451 4.3.0 later" in outcomes[0].error
    assert outcomes[1].delivered  # the next recipient still goes out
    assert slept == [1, 2]


def test_permanent_failure_is_not_retried(smtp_server):
    smtp_server.mailbox.reject["user1@example.org"] = "550 5.1.1 unknown user"
    outcomes, slept = run(plain(smtp_server), [envelope(n) for n in range(3)], retries=3)
    assert [o.delivered for o in outcomes] == [True, False, True]
    assert outcomes[1].permanent and outcomes[1].tries == 1 and "550 5.1.1 unknown user" in outcomes[1].error
    assert slept == []


def test_unreachable_server_stops_the_batch_quickly():
    t = SMTPTransport("127.0.0.1", free_port(), security="none", timeout=5, connections=2)
    t.check()
    outcomes, slept = run(t, [envelope(n) for n in range(20)], retries=2, retry_delay=1)
    assert not any(o.delivered for o in outcomes) and not any(o.permanent for o in outcomes)
    assert all("cannot connect" in o.error for o in outcomes)
    assert len(slept) <= 2 * 2  # each session gave up once; the rest was not attempted
    assert sum(o.tries == 0 for o in outcomes) >= 18


def test_bad_login_stops_the_batch_without_revealing_the_password(starttls_server, monkeypatch):
    monkeypatch.setenv("DIGEST_PW", PASSWORD + "x")
    t = SMTPTransport(
        "127.0.0.1", starttls_server.port, username=USER, password_env="DIGEST_PW", ca_file=starttls_server.cert, timeout=5
    )
    t.check()
    outcomes, _ = run(t, [envelope(n) for n in range(4)])
    assert "rejected the login for 'digest-user': 535" in outcomes[0].error
    assert outcomes[0].error.endswith("(check delivery.username and the password in DIGEST_PW; many providers want "
                                      "an app password)"), outcomes[0].error
    assert all("not attempted" in o.error for o in outcomes[1:])
    assert not any(PASSWORD in o.error for o in outcomes)
    # the right password with a space copied at its end, as an env file may hold it
    monkeypatch.setenv("DIGEST_PW", PASSWORD + " ")
    t.check()
    outcomes, _ = run(t, [envelope(9)])
    assert outcomes[0].error.endswith("(DIGEST_PW starts or ends with a space, which is sent as part of the password: "
                                      "set it without one (not shown: it is the secret))"), outcomes[0].error
    assert PASSWORD not in outcomes[0].error
    assert starttls_server.mailbox.messages == []


def test_a_password_without_a_username_makes_no_login(starttls_server, monkeypatch):
    """`validate` says a password_env without a username makes no login; the
    session logged in as the empty user anyway, refused as 'the login for None'."""
    monkeypatch.setenv("DIGEST_PW", PASSWORD)
    t = SMTPTransport("127.0.0.1", starttls_server.port, password_env="DIGEST_PW", ca_file=starttls_server.cert,
                      timeout=5)
    t.check()
    outcomes, _ = run(t, [envelope(1)])
    assert outcomes[0].delivered, outcomes[0].error
    assert len(starttls_server.mailbox.messages) == 1


def test_a_temporary_login_failure_is_retried_not_called_a_rejected_login(starttls_server, monkeypatch):
    """'454 4.7.0 Temporary authentication failure' (the server's password
    store down) stopped the batch at once as 'rejected the login', read as a
    wrong password; it is retried like a refused session."""
    monkeypatch.setenv("DIGEST_PW", PASSWORD)
    # smtplib tries each mechanism offered (PLAIN, then LOGIN) before giving up: two replies, one attempt
    starttls_server.mailbox.login_replies = ["454 4.7.0 Temporary authentication failure"] * 2
    t = SMTPTransport(
        "127.0.0.1", starttls_server.port, username=USER, password_env="DIGEST_PW", ca_file=starttls_server.cert, timeout=5
    )
    t.check()
    outcomes, slept = run(t, [envelope(n) for n in range(2)], retries=3, retry_delay=1)
    assert [o.delivered for o in outcomes] == [True, True] and outcomes[0].tries == 2 and len(slept) == 1
    starttls_server.mailbox.login_replies = ["454 4.7.0 Temporary authentication failure"] * 9
    outcomes, _ = run(t, [envelope(n) for n in range(2)], retries=1, retry_delay=1)
    assert outcomes[0].error == (f"SMTP server 127.0.0.1:{starttls_server.port} could not check the login for "
                                 "'digest-user' now: 454 4.7.0 Temporary authentication failure")
    assert not outcomes[0].permanent and len(starttls_server.mailbox.messages) == 2


def test_a_server_silent_on_the_login_says_so_not_greeting_or_ehlo(starttls_server, monkeypatch):
    """A server that answered EHLO and then never AUTH (a wrong password held
    back, an overloaded one) was said as 'did not answer within 30 s (its
    greeting or EHLO)', sending the reader to check the network and the port.
    It names the login; retried as a server not answering."""
    monkeypatch.setenv("DIGEST_PW", PASSWORD)
    starttls_server.mailbox.login_replies = ["silent"] * 4  # (one a try: the try ends at the silence)
    # 3 s, not less: the timeout covers the connection, EHLO and the TLS handshake too, and on a loaded
    # machine a slow handshake timed out first and was said as the greeting's; only the silence waits it out
    t = SMTPTransport(
        "127.0.0.1", starttls_server.port, username=USER, password_env="DIGEST_PW", ca_file=starttls_server.cert,
        timeout=3.0,
    )
    t.check()
    [outcome], _ = run(t, [envelope(1)], retries=1, retry_delay=0.01)
    assert not outcome.delivered and not outcome.permanent
    assert outcome.error == (f"SMTP server 127.0.0.1:{starttls_server.port} did not answer the login (AUTH) within "
                             "3 s, having answered EHLO: a server that holds back its answer to a wrong username or "
                             "password, or one overloaded"), outcome.error
    assert starttls_server.mailbox.messages == []


def test_a_refused_certificate_names_what_mends_it(tmp_path, monkeypatch):
    """The hint was 'trust a private CA with delivery.ca_file' for every
    refused certificate: a wrong ca_file (already set) and a relay whose
    certificate expired got it too.  Each check now names its own remedy."""
    from smtp_server import make_certificate

    monkeypatch.setenv("DIGEST_PW", PASSWORD)
    (tmp_path / "other").mkdir()
    other_ca, _ = make_certificate(tmp_path / "other")
    right = Server(tls="starttls", folder=tmp_path, auth=True)
    (tmp_path / "old").mkdir()
    expired = Server(tls="starttls", folder=tmp_path / "old", auth=True, expired=True)
    try:
        for server, ca_file, remedy in (
            (right, other_ca, f"self-signed certificate; delivery.ca_file '{other_ca}' does not hold the CA that "
                              "signed it: point it at that CA's certificate, or remove ca_file for a relay with a "
                              "public certificate"),
            (right, None, "self-signed certificate; trust a private CA with delivery.ca_file"),
            (expired, expired.cert, "certificate has expired; the mail server must renew its certificate, or this "
                                    "machine's clock is wrong; no setting here mends it"),
        ):
            t = SMTPTransport("127.0.0.1", server.port, username=USER, password_env="DIGEST_PW", ca_file=ca_file,
                              timeout=5)
            t.check()
            outcomes, _ = run(t, [envelope(n) for n in range(2)])
            assert outcomes[0].error == (
                f"TLS with 127.0.0.1:{server.port} failed: CERTIFICATE_VERIFY_FAILED ({remedy})"
            ), ca_file
            assert server.mailbox.messages == []
    finally:
        right.stop()
        expired.stop()


@pytest.mark.parametrize("flaw, said", [
    ("weak key", "EE certificate key too weak; the mail server needs a new certificate: its key or signature is too "
                 "weak for this machine's OpenSSL (RSA under 2048 bits, SHA-1); no setting here mends it"),
    ("client only", "unsuitable certificate purpose; the mail server needs a certificate made for a TLS server: its "
                    "extended key usage leaves out serverAuth; no setting here mends it"),
])
def test_a_certificate_no_setting_mends_says_so_not_to_set_ca_file(tmp_path, monkeypatch, flaw, said):
    """A relay's certificate with a 1024-bit RSA key (this machine's OpenSSL
    refuses it) or one made for TLS clients only, with ca_file already
    holding it: the hint was 'trust a private CA with delivery.ca_file',
    which was done, and sent the user to change it again.  The batch stops,
    nothing is sent, and the line names no setting."""
    monkeypatch.setenv("DIGEST_PW", PASSWORD)
    server = Server(tls="starttls", folder=tmp_path, auth=True, flaw=flaw)
    try:
        t = SMTPTransport("127.0.0.1", server.port, username=USER, password_env="DIGEST_PW", ca_file=server.cert,
                          timeout=5)
        t.check()
        outcomes, slept = run(t, [envelope(n) for n in range(2)])
        assert outcomes[0].error == f"TLS with 127.0.0.1:{server.port} failed: CERTIFICATE_VERIFY_FAILED ({said})"
        assert outcomes[1].tries == 0 and not any(o.permanent for o in outcomes) and slept == []
        assert server.mailbox.messages == []
    finally:
        server.stop()


def test_a_certificate_for_another_name_says_to_set_the_host():
    import ssl

    exc = ssl.SSLCertVerificationError()
    exc.verify_code = 62  # X509_V_ERR_HOSTNAME_MISMATCH
    t = SMTPTransport("mail.internal", 587)
    assert t.certificate_remedy(exc) == "set delivery.host to a name the certificate is for, not 'mail.internal'"


def test_a_server_refusing_ehlo_is_greeted_with_helo(smtp_server):
    """A server (or a proxy in front of it) that knows only HELO answers EHLO
    with 500/502: the session fell through to MAIL unnamed, was told "503
    send HELO first", and every digest failed as 'refused the sender ...
    (check email.from and the login)'."""
    box = smtp_server.mailbox
    box.ehlo_reply = "502 5.5.2 Error: command not recognized"
    outcomes, slept = run(plain(smtp_server), [envelope(n) for n in range(2)])
    assert [o.delivered for o in outcomes] == [True, True] and slept == []
    assert box.recipients() == ["user0@example.org", "user1@example.org"]


def test_a_server_refusing_ehlo_where_starttls_needs_it_says_so(starttls_server, monkeypatch):
    monkeypatch.setenv("DIGEST_PW", PASSWORD)
    starttls_server.mailbox.ehlo_reply = "500 5.5.1 command unrecognized"
    t = SMTPTransport("127.0.0.1", starttls_server.port, username=USER, password_env="DIGEST_PW",
                      ca_file=starttls_server.cert, timeout=5)
    t.check()
    outcomes, slept = run(t, [envelope(n) for n in range(2)])
    assert outcomes[0].error == (f"SMTP server 127.0.0.1:{starttls_server.port} refused EHLO "
                                 "(500 5.5.1 command unrecognized), without which it offers no STARTTLS")
    assert not outcomes[0].permanent and slept == [] and "not attempted" in outcomes[1].error
    assert starttls_server.mailbox.messages == []


@pytest.mark.parametrize("login", [False, True])
def test_security_none_against_a_server_that_wants_starttls_says_to_set_starttls(starttls_server, monkeypatch, login):
    """Port 587 with `security: none` (a common slip): the server offers
    STARTTLS and takes neither AUTH nor MAIL before it.  The message says to
    set `security: starttls`; it said to check email.from (a 530 to MAIL
    FROM) or asked whether `none` was intended (no AUTH offered)."""
    monkeypatch.setenv("DIGEST_PW", PASSWORD)
    t = SMTPTransport("127.0.0.1", starttls_server.port, security="none", timeout=5,
                      **({"username": USER, "password_env": "DIGEST_PW"} if login else {}))
    t.check()
    outcomes, slept = run(t, [envelope(n) for n in range(3)], retries=3)
    first = outcomes[0].error
    assert first.startswith(f"SMTP server 127.0.0.1:{starttls_server.port} ") and first.endswith(
        "the server offers STARTTLS and wants it first: set security: starttls)"
    ), first
    assert "check email.from" not in first and "is security: none intended" not in first
    assert slept == [] and all("not attempted" in o.error for o in outcomes[1:])
    assert starttls_server.mailbox.messages == []


@pytest.mark.parametrize("mechanisms", [("GSSAPI", "NTLM"), ("XOAUTH2",)])
def test_a_server_offering_only_auth_mechanisms_we_lack_stops_the_batch(mechanisms, monkeypatch):
    """No mechanism in common is a configuration problem, not a connection one:
    smtplib's "No suitable authentication method found" was retried as
    "cannot connect"; it is one clear error naming both sides, and the batch stops."""
    server = Server(mechanisms=mechanisms)
    try:
        monkeypatch.setenv("DIGEST_PW", PASSWORD)
        t = SMTPTransport("127.0.0.1", server.port, security="none", username=USER, password_env="DIGEST_PW", timeout=5)
        t.check()
        outcomes, slept = run(t, [envelope(n) for n in range(3)], retries=3)
    finally:
        server.stop()
    offered = " ".join(mechanisms)
    assert outcomes[0].error == (
        f"SMTP server 127.0.0.1:{server.port} offers AUTH only by {offered}, which this client cannot use "
        "(it can use CRAM-MD5, LOGIN, PLAIN): enable one of those for this account, or relay through a server that does"
    )
    assert outcomes[0].tries == 1 and slept == []  # not retried: it would not change
    assert all("not attempted" in o.error for o in outcomes[1:])
    assert not any(o.delivered for o in outcomes) and server.mailbox.messages == []


@pytest.mark.parametrize("answer, said", [
    (b"334 not-base64!\r\n", "with a challenge that is not base64 (RFC 4954)"),
    (b"334 \xff\xfe\r\n", "with challenge after challenge (334), never accepting or refusing the login (RFC 4954)"),
    (b"250 2.0.0 ok\r\n", "with '250 2.0.0 ok', which is no answer to it"),
    (b"999 what\r\n", "with no SMTP reply (its line '999 what')"),
])
def test_an_answer_to_auth_that_is_no_smtp_auth_stops_the_batch_naming_it(monkeypatch, answer, said):
    """smtplib calls any answer to AUTH but 235 a refused login, and decodes
    each 334 challenge unchecked: a '250' (a proxy answering for a server)
    read 'rejected the login ... check delivery.username and the password',
    which sent the user to a right password, and a challenge that is not
    base64 failed each message as "unexpected error: Error('Incorrect
    padding')", its session left open.  Each is the server's (or a proxy's)
    fault, the same for every message: the batch stops at once, naming it."""
    monkeypatch.setenv("DIGEST_PW", PASSWORD)
    commands: list[bytes] = []

    def serve(conn: socket.socket) -> None:
        with conn.makefile("rb") as lines:
            conn.sendall(b"220 mx\r\n")
            for command in lines:
                commands.append(command[:4].upper())
                if command.upper().startswith(b"EHLO"):
                    conn.sendall(b"250-mx\r\n250 AUTH PLAIN LOGIN\r\n")
                elif command.upper().startswith(b"QUIT"):
                    conn.sendall(b"221 bye\r\n")
                    return
                else:
                    conn.sendall(answer)

    with serving_each(serve) as port:
        t = SMTPTransport("127.0.0.1", port, security="none", username=USER, password_env="DIGEST_PW", timeout=5)
        t.check()
        outcomes, slept = run(t, [envelope(0), envelope(1)], retries=3)
    assert outcomes[0].error == f"SMTP server 127.0.0.1:{port} answered AUTH {said}: is a proxy or another service in the way?"
    assert outcomes[1].error.startswith("not attempted: ") and slept == [] and b"MAIL" not in commands
    assert not any(o.delivered or o.permanent for o in outcomes) and PASSWORD not in outcomes[0].error


def test_check_reports_missing_password_and_ca_file(monkeypatch, tmp_path):
    monkeypatch.delenv("NOPE_PW", raising=False)
    with pytest.raises(ConfigError, match="delivery.password_env: environment variable NOPE_PW is not set"):
        SMTPTransport("h", username="u", password_env="NOPE_PW").check()
    monkeypatch.setenv("NOPE_PW", "pässwörd-sëcret")  # smtplib cannot send it; its error showed it in full
    with pytest.raises(ConfigError) as info:
        SMTPTransport("h", username="u", password_env="NOPE_PW").check()
    assert "delivery.password_env: environment variable NOPE_PW or the username holds non-ASCII" in str(info.value)
    assert "sëcret" not in str(info.value)
    monkeypatch.setenv("NOPE_PW", "")  # set, but to nothing: said as it is
    with pytest.raises(ConfigError, match="delivery.password_env: environment variable NOPE_PW is empty"):
        SMTPTransport("h", username="u", password_env="NOPE_PW").check()
    with pytest.raises(ConfigError, match="delivery.ca_file: .*no such file"):
        SMTPTransport("h", ca_file=tmp_path / "none.pem").check()
    # the folder of the certificates given where the file goes: it was "no such file", of a folder that is there
    with pytest.raises(ConfigError, match=r"delivery.ca_file: '.*': a folder, not a PEM file of certificates \(name"):
        SMTPTransport("h", ca_file=tmp_path).check()


def test_rate_limit_spaces_sends_evenly():
    slept = []
    rate = RateLimit(120, slept.append, lambda: 100.0)
    for _ in range(4):
        rate.wait()
    assert slept == [0.5, 1.0, 1.5]
    free = RateLimit(None, slept.append, lambda: 0.0)
    free.wait()
    assert len(slept) == 3


def test_outbox_is_atomic_safe_named_and_idempotent(tmp_path):
    t = OutboxTransport(tmp_path / "out")
    t.check()
    env = envelope(1, rcpt="a+b@example.org", message_id="<x/../y z@example.org>")
    session = t.session()
    session.send(env)
    session.send(env)  # sent again after a crash: replaces, does not duplicate
    [f] = list((tmp_path / "out").iterdir())
    assert f.name == "20240506T090000Z-a+b@example.org-x_.._y_z@example.org.eml"
    msg = email.message_from_bytes(f.read_bytes(), policy=email.policy.default)
    assert msg["Message-ID"] == "<x/../y z@example.org>" and msg["Subject"] == "digest 1"
    assert safe_name("../../etc/passwd") == "etc_passwd" and safe_name("\r\n") == "x"


def test_an_outbox_message_is_on_the_disk_file_and_name_before_its_outcome_is_recorded(tmp_path, monkeypatch):
    """A digest written to the outbox is recorded sent at once; its data and
    its rename were left in the page cache, so a power cut could lose a
    digest recorded as sent.  Before each outcome comes back, the message's
    file and the outbox folder (which holds its name) have been fsynced.
    (The real fsync runs; the spy only notes what each flush was of.)"""
    flushed: list[str] = []
    real = os.fsync

    def noted(fd: int) -> None:
        flushed.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", noted)
    folder = tmp_path / "out"
    t = OutboxTransport(folder)
    t.check()
    seen: list[tuple[str, list[str]]] = []
    with Dispatcher(t, on_outcome=lambda o: seen.append((t.filename(o.envelope), list(flushed)))) as d:
        for n in range(2):
            d.submit(envelope(n))
    assert len(seen) == 2
    for name, before in seen:
        assert any(p.startswith(f"{folder}/.{name}.") and p.endswith(".tmp") for p in before), (name, before)
        assert str(folder) in before[before.index(next(p for p in before if f"/.{name}." in p)):], before
    assert sorted(p.name for p in folder.iterdir()) == sorted(name for name, _ in seen)


def test_an_outbox_check_makes_nothing_and_the_first_message_makes_the_folder(tmp_path):
    """check() only looks (a send refused after it left an empty outbox
    behind); the first message written makes the folder, parents too."""
    folder = tmp_path / "new" / "outbox"
    outbox = OutboxTransport(folder)
    outbox.check()
    assert not (tmp_path / "new").exists()
    (outcome,), _ = run(outbox, [envelope(0)])
    assert outcome.delivered, outcome.error
    assert [p.suffix for p in folder.iterdir()] == [".eml"]


def test_an_outbox_path_that_is_a_file_is_named_as_such(tmp_path):
    (tmp_path / "out").write_text("not a folder")
    with pytest.raises(ConfigError, match=r"^delivery\.path: the outbox '.*/out' is a file, not a folder$"):
        OutboxTransport(tmp_path / "out").check()  # (was: "cannot create the outbox folder: File exists")


def test_an_outbox_that_is_a_link_to_nowhere_or_a_loop_is_named_as_such(tmp_path):
    """A link to a drive not mounted read 'cannot create the outbox folder:
    File exists' from send, and validate passed it; a link that loops was a
    traceback (RuntimeError: Symlink loop) from both."""
    (tmp_path / "gone").symlink_to("/nonexistent-drive/outbox")
    (tmp_path / "loop").symlink_to("loop")
    (tmp_path / "loop2").mkdir()
    for name, what in (("gone", "a symbolic link to '/nonexistent-drive/outbox', which does not exist"),
                       ("loop", "a symbolic link that loops (it leads back to itself)")):
        outbox = OutboxTransport(tmp_path / name)
        assert str(outbox.problem()) == f"delivery.path: the outbox '{tmp_path / name}' is {what}"
        with pytest.raises(ConfigError):
            outbox.check()
    assert not (tmp_path / "nonexistent-drive").exists()
    (tmp_path / "loop2" / "up").symlink_to("../loop2/up")
    assert str(OutboxTransport(tmp_path / "loop2" / "up" / "out").problem()) == (
        f"delivery.path: the outbox '{tmp_path / 'loop2' / 'up' / 'out'}' cannot be reached: its path holds a "
        "symbolic link that loops")


def test_an_unexpected_error_fails_one_message_not_the_batch():
    """A bug or an odd OS error in a session (seen: EINVAL from a sleep) is recorded
    as that message's failure; the thread goes on and nothing is left 'sending'."""

    class Flaky:
        name, sessions = "flaky", 1
        delivered: list[str] = []

        def check(self):
            pass

        def session(self, stop=None):
            return self

        def send(self, env, then=None):
            if env.recipient.startswith("user1@"):
                raise RuntimeError("boom")
            self.delivered.append(env.recipient)

        def close(self):
            pass

    outcomes, _ = run(Flaky(), [envelope(n) for n in range(3)])
    assert [(o.envelope.recipient, o.delivered) for o in outcomes] == [
        ("user0@example.org", True),
        ("user1@example.org", False),
        ("user2@example.org", True),
    ]
    assert "boom" in outcomes[1].error


def test_an_unexpected_error_never_shows_the_password():
    """An unexpected error's text goes to the output and the state: a password
    in it (as smtplib's UnicodeEncodeError had the whole login) is blanked out."""

    class Leaky:
        name, sessions, password = "leaky", 1, "s3cr\x00et-pässword"

        def check(self):
            pass

        def session(self, stop=None):
            return self

        def send(self, env, then=None):
            raise UnicodeEncodeError("ascii", f"\0user\0{self.password}", 14, 15, "ordinal not in range(128)")

        def close(self):
            pass

    [outcome], _ = run(Leaky(), [envelope(1)])
    assert not outcome.delivered and outcome.error.startswith("unexpected error: UnicodeEncodeError(")
    assert "***" in outcome.error and "pässword" not in outcome.error and "s3cr" not in outcome.error


def test_a_server_that_never_greets_times_out_as_a_transient_failure():
    """A listening socket that never says 220: the timeout ends the wait, the
    message stays undelivered (to be retried), and nothing hangs."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        t = SMTPTransport("127.0.0.1", silent.getsockname()[1], security="none", timeout=0.3, connections=1)
        t.check()
        outcomes, slept = run(t, [envelope(1)], retries=1, retry_delay=0.5)
    [o] = outcomes
    assert not o.delivered and not o.permanent
    # said as what happened: connected, then no greeting (smtplib says "Connection unexpectedly closed")
    assert o.error.endswith(" did not answer within 0.3 s (its greeting or EHLO)"), o.error


def test_a_server_wanting_a_login_where_none_is_configured_says_to_set_one(tmp_path):
    """'530 5.7.0 Authentication required' to MAIL FROM said to 'check email.from
    and the login', with no login configured: it says to set one."""
    server = Server(tls="starttls", folder=tmp_path, auth=True, auth_required=True)
    try:
        t = SMTPTransport("127.0.0.1", server.port, ca_file=server.cert, timeout=5)
        t.check()
        outcomes, slept = run(t, [envelope(n) for n in range(2)])
    finally:
        server.stop()
    assert outcomes[0].error == (
        f"SMTP server 127.0.0.1:{server.port} refused the sender digest@example.org: 530 5.7.0 Authentication "
        "required (the server wants a login first: set delivery.username and delivery.password_env)"
    )
    assert slept == [] and "not attempted" in outcomes[1].error and server.mailbox.messages == []


def test_starttls_at_a_plain_server_says_security_none_not_ssl(smtp_server):
    """A plain server (`python -m aiosmtpd`) under the default starttls said
    'set security: ssl or none'; ssl then failed its handshake."""
    t = SMTPTransport("127.0.0.1", smtp_server.port, security="starttls", timeout=5)
    t.check()
    outcomes, _ = run(t, [envelope(1)])
    assert outcomes[0].error == (
        f"SMTP server 127.0.0.1:{smtp_server.port} does not offer STARTTLS (it speaks plain SMTP and offers no TLS: set "
        "security: none for a relay on this machine or a trusted network (the mail then goes unencrypted), or the "
        "port that offers STARTTLS, usually 587)")
    assert smtp_server.mailbox.messages == []


def test_a_server_refusing_starttls_it_offers_names_starttls(smtp_server):
    """'454 TLS not available' to STARTTLS read 'refused the session'."""
    smtp_server.mailbox.extensions = ["STARTTLS"]
    t = SMTPTransport("127.0.0.1", smtp_server.port, security="starttls", timeout=5)
    t.check()
    outcomes, slept = run(t, [envelope(n) for n in range(2)], retries=1, retry_delay=0.5)
    assert outcomes[0].error == f"SMTP server 127.0.0.1:{smtp_server.port} refused STARTTLS: 454 TLS not available"
    assert slept == [0.5] and not outcomes[0].permanent and smtp_server.mailbox.messages == []


def test_a_server_closing_the_connection_before_a_message_is_not_said_to_be_unreachable(smtp_server):
    """A server that closes at once (a blocklist, postscreen) or in answer to
    EHLO was 'cannot connect to SMTP server ...: Connection unexpectedly
    closed', of a server that had connected; it says where it closed."""
    smtp_server.mailbox.drop_at = {"EHLO"}
    outcomes, _ = run(plain(smtp_server), [envelope(1)], retries=1, retry_delay=0.5)
    assert outcomes[0].error == f"SMTP server 127.0.0.1:{smtp_server.port} closed the connection in answer to EHLO"
    with serving_each(lambda conn: None) as port:  # each connection closed at once
        t = SMTPTransport("127.0.0.1", port, security="none", timeout=5)
        t.check()
        outcomes, slept = run(t, [envelope(1)], retries=1, retry_delay=0.5)
    [o] = outcomes
    assert not o.delivered and not o.permanent and slept == [0.5]
    assert o.error == f"SMTP server 127.0.0.1:{t.port} closed the connection before its greeting"


@pytest.mark.parametrize("security", ["starttls", "none"])
def test_port_465_without_security_ssl_says_to_set_it_and_is_not_retried(security):
    """Port 465 is implicit TLS (RFC 8314): its server says nothing until the
    TLS handshake, so a plain session waited `timeout` for a greeting, once
    per retry (two minutes with the defaults), then said only that it timed
    out."""
    with socket.socket() as tls_port:
        tls_port.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            tls_port.bind(("127.0.0.1", 465))
        except OSError as exc:  # a privileged port: root only (or taken)
            pytest.skip(f"cannot listen on port 465 here: {exc}")
        tls_port.listen(8)
        t = SMTPTransport("127.0.0.1", 465, security=security, timeout=0.3, connections=1)
        t.check()
        outcomes, slept = run(t, [envelope(n) for n in range(2)], retries=2, retry_delay=0.5)
    assert outcomes[0].error == (
        "SMTP server 127.0.0.1:465 did not answer within 0.3 s (its greeting): port 465 is for implicit TLS, "
        "whose server waits for the TLS handshake first: set security: ssl"
    ), outcomes[0].error
    assert slept == [] and "not attempted" in outcomes[1].error


@pytest.mark.parametrize("security", ["starttls", "none"])
def test_implicit_tls_on_another_port_than_465_says_to_set_security_ssl(ssl_server, security, monkeypatch):
    """Providers serve implicit TLS on other ports too (Amazon SES: 465 and
    2465): a session without security: ssl waited for a greeting, once per
    retry (two minutes with the defaults), then said only that it timed out."""
    monkeypatch.setenv("DIGEST_PW", PASSWORD)
    t = SMTPTransport("127.0.0.1", ssl_server.port, security=security, timeout=0.5, connections=1,
                      username=USER, password_env="DIGEST_PW")
    t.check()
    outcomes, slept = run(t, [envelope(n) for n in range(2)], retries=2, retry_delay=0.5)
    assert outcomes[0].error == (
        f"SMTP server 127.0.0.1:{ssl_server.port} did not answer within 0.5 s (its greeting): it waits for a TLS "
        "handshake first (implicit TLS, as on port 465): set security: ssl"
    ), outcomes[0].error
    assert slept == [] and "not attempted" in outcomes[1].error
    assert ssl_server.mailbox.messages == []


def test_a_port_that_does_not_speak_smtp_is_named_as_such_and_not_retried():
    """An SSH or other server's banner where the SMTP greeting belongs (a wrong port)."""
    def banner(conn: socket.socket) -> None:
        conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")
        conn.recv(100)

    with serving_each(banner) as port:
        t = SMTPTransport("127.0.0.1", port, security="none", timeout=5, connections=1)
        t.check()
        outcomes, slept = run(t, [envelope(1), envelope(2)], retries=2)
    assert [o.delivered for o in outcomes] == [False, False] and slept == []
    assert outcomes[0].error == (
        f"SMTP server 127.0.0.1:{t.port} does not speak SMTP (its first line ended '2.0-OpenSSH_9.6'): "
        "is this port the mail server's (587 for starttls, 465 for ssl)?"
    )
    assert outcomes[1].error.startswith("not attempted: ")


def test_a_web_server_where_the_smtp_server_should_be_is_named_and_not_retried():
    """Mailpit's web page on 8025 taken for its SMTP port: the session waited
    for a greeting once per retry (minutes with the defaults), then said only
    that the server did not answer."""
    import http.server

    web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    try:
        t = SMTPTransport("127.0.0.1", web.server_address[1], security="none", timeout=0.5, connections=1)
        t.check()
        outcomes, slept = run(t, [envelope(1), envelope(2)], retries=2, retry_delay=0.5)
    finally:
        web.shutdown()
        web.server_close()
    assert outcomes[0].error == (
        f"SMTP server 127.0.0.1:{t.port} did not answer within 0.5 s (its greeting): a web server listens there (it "
        "answers HTTP), not a mail server: check delivery.port (a relay's is usually 587, 465 or 25; a local mail "
        "catcher's 1025)"), outcomes[0].error
    assert slept == [] and outcomes[1].error.startswith("not attempted: ")


def _starttls_then(after: Callable[[socket.socket], object]) -> Callable[[socket.socket], None]:
    """A server script: greets, offers STARTTLS, answers it with '220 Ready to
    start TLS', then hands the connection to ``after`` instead of a handshake."""
    def script(conn: socket.socket) -> None:
        with conn.makefile("rb") as lines:
            conn.sendall(b"220 mx ESMTP\r\n")
            for line in lines:
                if line.upper().startswith(b"EHLO"):
                    conn.sendall(b"250-mx\r\n250 STARTTLS\r\n")
                elif line.upper().startswith(b"STARTTLS"):
                    conn.sendall(b"220 2.0.0 Ready to start TLS\r\n")
                    after(conn)
                    break
    return script


def test_a_server_taking_starttls_then_silent_is_named_as_a_tls_handshake_not_a_connection():
    """"220 Ready to start TLS", then no handshake (a middlebox eating it): it
    was "cannot connect to SMTP server ...: timed out", of a server that had
    answered three commands."""
    done = threading.Event()
    with serving_each(_starttls_then(lambda conn: done.wait(5))) as port:
        t = SMTPTransport("127.0.0.1", port, security="starttls", timeout=0.3, connections=1)
        t.check()
        outcomes, slept = run(t, [envelope(1), envelope(2)], retries=0)
        done.set()
    assert outcomes[0].error == (f"SMTP server 127.0.0.1:{t.port} took STARTTLS but did not complete the TLS handshake "
                                 "within 0.3 s")
    assert outcomes[1].error.startswith("not attempted: ") and not any(o.delivered for o in outcomes)


@pytest.mark.parametrize(("answer", "words"), [
    (b"", "the server ended the connection in the TLS handshake (it refuses this client's TLS, or something on the "
          "way cuts the connection)"),
    (b"\x15\x03\x01\x00\x02\x02\x46", "the server and this client share no TLS version or cipher "
     "(TLSV1_ALERT_PROTOCOL_VERSION): a server offering only TLS 1.0 or 1.1, which this machine's OpenSSL refuses, "
     "needs its TLS updated"),
])
def test_a_tls_handshake_the_server_ends_or_refuses_says_what_happened(answer, words):
    """After '220 Ready to start TLS' the server closed the connection, or
    sent a protocol_version alert (a TLS 1.0-only relay): the error was
    OpenSSL's bare 'UNEXPECTED_EOF_WHILE_READING' or 'TLSV1_ALERT_PROTOCOL_VERSION'."""
    def refuse(conn: socket.socket) -> None:
        conn.recv(4096)  # the client's hello
        conn.sendall(answer)

    with serving_each(_starttls_then(refuse)) as port:
        t = SMTPTransport("127.0.0.1", port, security="starttls", timeout=5, connections=1)
        t.check()
        outcomes, slept = run(t, [envelope(1), envelope(2)], retries=2)
    assert outcomes[0].error == f"TLS with 127.0.0.1:{t.port} failed: {words}"
    assert outcomes[1].error.startswith("not attempted: ") and slept == [] and not any(o.delivered for o in outcomes)


def _take_a_message(conn: socket.socket, lines, in_data: Callable[[socket.socket, Any], None] | None = None) -> bool:
    """Answer a client's commands as a plain server would, up to the end of a
    message's data (True: its reply is the caller's to give), or False: the
    client ended the session first.  ``in_data``: once the 354 is said and a
    little of the data read, hand the connection and its reader to it instead (False)."""
    for command in lines:
        if command.upper().startswith(b"EHLO"):
            conn.sendall(b"250-mx\r\n250 8BITMIME\r\n")
        elif command.upper().startswith((b"MAIL", b"RCPT")):
            conn.sendall(b"250 ok\r\n")
        elif command.upper().startswith(b"DATA"):
            conn.sendall(b"354 go on\r\n")
            if in_data is not None:
                next(lines, None)
                in_data(conn, lines)
                return False
            for data in lines:
                if data == b".\r\n":
                    break
            return True
    return False


def _beyond_the_socket_buffers() -> Envelope:
    """A message bigger than this machine's largest TCP send buffer (and a
    server's small receive buffer): its data is still going out when the
    server stops reading it or closes, whatever the kernel buffers."""
    with open("/proc/sys/net/ipv4/tcp_wmem") as f:
        most = int(f.read().split()[2])
    env = envelope(0)
    env.message.set_content("a line of the digest, long enough to count\n" * (2 * most // 40 + 1))
    return env


def _stopping_mid_data(conn: socket.socket, then: Callable[[socket.socket], None]) -> None:
    """Greet, answer the commands, take a little of the message's data after
    the 354, then ``then(conn)``."""
    conn.sendall(b"220 mx ESMTP\r\n")
    with conn.makefile("rb") as lines:
        _take_a_message(conn, lines, lambda conn, _: then(conn))


class _Said(logging.Handler):
    """Sets ``event`` when a line holding ``words`` is logged (from any thread)."""

    def __init__(self, words: str) -> None:
        super().__init__(logging.INFO)
        self.words, self.event = words, threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.words in record.getMessage():
            self.event.set()


def test_a_reset_while_the_verdict_is_overdue_leaves_the_message_unconfirmed_not_sent_twice():
    """A server that read a message and took longer than ``timeout`` over its
    verdict (a scan, a relay on), then had the connection reset (a load
    balancer's or firewall's idle limit, a server aborting), got the message
    again at once: a reset was read as data the server never read.  It has
    read it, and may have taken it: unconfirmed, not resent in the run, and
    the next message goes on in a new session.  (A reset within ``timeout``,
    a server closing with our data unread, still sends it again at once: see
    test_a_message_whose_commands_went_with_the_last_ones_data_is_not_resent_either.)"""
    overdue = _Said("has not given its verdict on the message to user0@example.org")
    taken: list[str] = []

    def serve(conn: socket.socket) -> None:
        conn.sendall(b"220 mx ESMTP\r\n")
        with conn.makefile("rb") as lines:
            while _take_a_message(conn, lines):
                taken.append("message")
                if len(taken) == 1:
                    overdue.event.wait(60)  # (the client has waited past its timeout: the verdict is overdue)
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    return  # (closed with the linger at 0: a reset, no end of the connection first)
                conn.sendall(b"250 2.0.0 queued\r\n")

    logger = logging.getLogger("newsletter.delivery")
    logger.addHandler(overdue)
    level, logger.level = logger.level, logging.INFO
    try:
        with serving_each(serve) as port:
            t = SMTPTransport("127.0.0.1", port, security="none", timeout=1, connections=1)
            t.check()
            outcomes, slept = run(t, [envelope(0), envelope(1)], retries=3)
    finally:
        logger.removeHandler(overdue)
        logger.level = level
    assert [(o.delivered, o.uncertain, o.tries) for o in outcomes] == [(False, True, 1), (True, False, 1)]
    assert outcomes[0].error.startswith(f"SMTP server 127.0.0.1:{port} reset the connection after the message to "
                                        "user0@example.org, before confirming it;"), outcomes[0].error
    assert taken == ["message", "message"] and slept == []  # user0's once, user1's once


def test_a_server_that_stops_reading_mid_message_did_not_take_it():
    """A server that stopped reading in the middle of a message's data was
    said to give 'no answer within 30 s' and to have perhaps taken the
    message: the batch stopped at once and the digest went again next time
    flagged as perhaps delivered, though its end never went out.  It is
    retried as a silent server is (here: no retries, so the batch stops),
    not flagged, and says what happened."""
    done = threading.Event()
    with serving_each(lambda conn: _stopping_mid_data(conn, lambda _: done.wait(30))) as port:
        t = SMTPTransport("127.0.0.1", port, security="none", timeout=0.5, connections=1)
        t.check()
        try:
            outcomes, slept = run(t, [_beyond_the_socket_buffers(), envelope(1)], retries=0)
        finally:
            done.set()
    first, second = outcomes
    assert (first.delivered, first.uncertain, first.tries, slept) == (False, False, 1, [])
    assert re.fullmatch(
        rf"SMTP server 127\.0\.0\.1:{port} stopped reading the message to user0@example\.org: its data stopped going "
        r"out for 0\.5 s, [\d,]+ of its [\d,]+ bytes out \(its end never went out: the server did not take it\)",
        first.error), first.error
    assert second.tries == 0 and second.error.startswith("not attempted: ") and not second.uncertain


def _reading_slowly(taken: list[bytes], each: float = 0.01,
                    tls: ssl.SSLContext | None = None) -> Callable[[socket.socket], None]:
    """A server on a slow link: it reads a message's data a little at a
    time, never pausing long, then takes it (``taken``: each message's data
    after its first line).  ``tls``: it offers STARTTLS and takes the message
    over TLS with this context."""
    def read_slowly(conn: socket.socket, lines) -> None:
        paced, data = threading.Event(), bytearray()
        while not data.endswith(b"\r\n.\r\n"):
            chunk = lines.read1(32 * 1024)
            if not chunk:
                return
            data += chunk
            paced.wait(each)  # the link's pace: never near the client's timeout
        taken.append(bytes(data))
        conn.sendall(b"250 2.0.0 queued\r\n")

    def serve(conn: socket.socket) -> None:
        # (over TLS a window of at least a whole record of 16 KB: a smaller one stalls on delayed ACKs)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, (64 if tls else 16) * 1024)
        if tls is not None:
            _starttls_then(lambda plain: serve_tls(tls.wrap_socket(plain, server_side=True)))(conn)
            return
        conn.sendall(b"220 mx ESMTP\r\n")
        with conn.makefile("rb") as lines:
            _take_a_message(conn, lines, read_slowly)

    def serve_tls(conn: ssl.SSLSocket) -> None:
        with conn.makefile("rb") as lines:
            _take_a_message(conn, lines, read_slowly)
    return serve


@pytest.mark.parametrize("tls", [False, True])
def test_a_big_message_over_a_slow_link_goes_out_while_its_bytes_move(tmp_path, tls):
    """The timeout bounded the whole of a message's data (``sendall``'s, since
    Python 3.5): a digest bigger than the socket buffers, over a link slower
    than that, failed as a server that 'stopped reading the message', though
    its bytes kept moving.  The timeout is the longest wait for progress.
    Over TLS (STARTTLS, the default) too: a TLS socket's ``send`` writes all
    it is given under one deadline, and the whole digest in one call was
    given up as "0 of its N bytes out"."""
    taken: list[bytes] = []
    context, cert = None, None
    if tls:
        cert, key = make_certificate(tmp_path)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
    with serving_each(_reading_slowly(taken, tls=context)) as port:
        t = SMTPTransport("127.0.0.1", port, security="starttls" if tls else "none", ca_file=cert, timeout=1,
                          connections=1)
        t.check()
        big = _beyond_the_socket_buffers()
        started = time.monotonic()
        outcomes, slept = run(t, [big], retries=0)
        took = time.monotonic() - started
    (outcome,) = outcomes
    assert (outcome.delivered, outcome.error, slept) == (True, None, []), outcome.error
    assert len(taken) == 1 and len(taken[0]) >= len(big.data()) - 100, len(taken[0])  # (all but its first line)
    assert took > 1, took  # (slower than the timeout: sendall, or one TLS send, gave it up)


def test_data_going_out_under_the_floor_is_said_as_slow_not_as_a_silent_server(monkeypatch):
    """A link (or a throttling server) slower than DATA_RATE_FLOOR on average
    is given up, said as slow with what went out: 'stopped reading' was
    untrue of a server still taking bytes."""
    monkeypatch.setattr(delivery, "DATA_RATE_FLOOR", 50_000_000)  # (this link's ~3 MB/s is under it)
    taken: list[bytes] = []
    with serving_each(_reading_slowly(taken)) as port:
        t = SMTPTransport("127.0.0.1", port, security="none", timeout=1, connections=1)
        t.check()
        outcomes, slept = run(t, [_beyond_the_socket_buffers()], retries=0)
    (outcome,) = outcomes
    assert not outcome.delivered and not outcome.uncertain and taken == []
    assert re.fullmatch(
        rf"SMTP server 127\.0\.0\.1:{port} took the message to user0@example\.org too slowly: [\d,]+ of its [\d,]+ "
        r"bytes went out in \d+ s, under 50,000,000 bytes a second \(a slow link, or a server throttling it; its end "
        r"never went out: the server did not take it\)", outcome.error), outcome.error


def test_a_server_closing_mid_message_gets_it_again_in_a_new_session_once(caplog):
    """A server that closes the connection while a message's data is still
    going out (a crash, a restart, a size limit enforced by hanging up) did
    not take it: it goes again, and arrives once."""
    taken: list[bytes] = []

    def serve(conn: socket.socket) -> None:
        if not taken:
            taken.append(b"")
            _stopping_mid_data(conn, lambda conn: conn.close())  # (data unread: the kernel answers with a reset)
            return
        with conn.makefile("rb") as lines:
            conn.sendall(b"220 mx ESMTP\r\n")
            while _take_a_message(conn, lines):
                taken.append(b"message")
                conn.sendall(b"250 2.0.0 queued\r\n")

    with caplog.at_level(logging.INFO, logger="newsletter.delivery"), serving_each(serve) as port:
        t = SMTPTransport("127.0.0.1", port, security="none", timeout=5, connections=1)
        t.check()
        outcomes, slept = run(t, [_beyond_the_socket_buffers()], retries=1, retry_delay=1)
    assert [(o.delivered, o.tries) for o in outcomes] == [(True, 2)] and slept == [1.0]
    assert taken == [b"", b"message"]
    assert (f"SMTP server 127.0.0.1:{port} closed the connection while the message's data went out (its end never "
            "did: the server did not take it); retrying in 1 s") in caplog.text, caplog.text


@pytest.mark.parametrize("pipelining", [False, True])
def test_a_refusal_a_server_gives_before_closing_under_the_data_is_its_verdict(pipelining):
    """A server refusing a message once it has read part of it (too big for
    it) says so and closes, with the rest of the data unread: the data met a
    reset, and its refusal was dropped with the session, so the digest went
    whole again in new sessions, each time the same, and the run said only
    'closed the connection while the message's data went out'.  The refusal
    is read and is the message's verdict: refused for its size, not retried,
    never held; the next digests go in a new session."""
    sessions: list[str] = []
    extensions = b"250 PIPELINING\r\n" if pipelining else b"250 8BITMIME\r\n"

    def refuse(conn: socket.socket) -> None:
        conn.sendall(b"552-5.3.4 Message too big for system\r\n552 5.3.4 Limit is 1 MB\r\n")
        conn.close()  # (data unread: the kernel answers what comes with a reset)

    def serve(conn: socket.socket) -> None:
        sessions.append("refused" if not sessions else "taken")
        if sessions[-1] == "refused":
            with conn.makefile("rb") as lines:
                conn.sendall(b"220 mx\r\n")
                for command in lines:
                    if command.upper().startswith(b"EHLO"):
                        conn.sendall(b"250-mx\r\n" + extensions)
                    elif command.upper().startswith(b"DATA"):
                        conn.sendall(b"354 go on\r\n")
                        next(lines)
                        return refuse(conn)
                    else:
                        conn.sendall(b"250 ok\r\n")
            return
        _plain_server(extensions, commands=taken)(conn)

    taken: list[bytes] = []
    with serving_each(serve) as port:
        t = SMTPTransport("127.0.0.1", port, security="none", timeout=5, connections=1)
        t.check()
        big = _beyond_the_socket_buffers()
        outcomes, slept = run(t, [big, envelope(1), envelope(2)], retries=3)
    first = outcomes[0]
    assert (first.delivered, first.permanent, first.uncertain, first.tries, slept) == (False, False, False, 1, [])
    assert first.error == (f"message to user0@example.org refused for its size: 552 5.3.4 Message too big for system "
                           f"5.3.4 Limit is 1 MB (the digest is {len(big.data()):,} bytes: lower max_papers or "
                           "email.abstract_chars)")
    assert [o.delivered for o in outcomes[1:]] == [True, True] and sessions == ["refused", "taken"]
    assert [c for c in taken if c.startswith(b"RCPT")] == [b"RCPT TO:<USER1@EXAMPLE.ORG>", b"RCPT TO:<USER2@EXAMPLE.ORG>"]


@pytest.mark.parametrize("where", ["greeting", "reply to the message"])
def test_a_server_dripping_a_reply_is_given_up_at_the_timeout(where):
    """The socket's timeout is per read: a greeting, or the reply to a
    message, dripped a byte at a time (a tarpit) held the send for as long as
    the server liked, 10,000 bytes a second apart being hours."""
    line = b"220 " + b"x" * 400 + b"\r\n" if where == "greeting" else b"250 " + b"y" * 400 + b"\r\n"
    dripped, done = [0], threading.Event()

    def drip(conn: socket.socket) -> None:
        for byte in line:
            if done.wait(0.02):
                return
            try:
                conn.sendall(bytes([byte]))
            except OSError:  # the client gave up
                return
            dripped[0] += 1

    def serve(conn: socket.socket) -> None:
        if where == "greeting":
            drip(conn)
            return
        with conn.makefile("rb") as lines:
            conn.sendall(b"220 mx ESMTP\r\n")
            if _take_a_message(conn, lines):
                drip(conn)

    with serving_each(serve) as port:
        # (the verdict on a message may take longer than the timeout: up to verdict_timeout; 1 s, not less:
        # the script must answer each command before it within the timeout, on a loaded machine too)
        t = SMTPTransport("127.0.0.1", port, security="none", timeout=1, connections=1, verdict_timeout=2)
        t.check()
        outcomes, _ = run(t, [envelope(1)], retries=0)
        sent_by_then = dripped[0]
        done.set()
    assert sent_by_then < len(line) // 2, sent_by_then  # given up long before the reply's end
    assert not outcomes[0].delivered
    assert (f"SMTP server 127.0.0.1:{t.port} did not answer within 1 s" if where == "greeting"
            else f"SMTP server 127.0.0.1:{t.port} timed out (no verdict on the message to user1@example.org "
                 "within 2 s)") in outcomes[0].error


class _OnLog(logging.Handler):
    """Calls ``then`` when the delivery log says ``text``: how a test learns
    that a session has waited past its timeout, without a clock of its own."""

    def __init__(self, text: str, then) -> None:
        super().__init__()
        self.text, self.then = text, then

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.then()


@contextlib.contextmanager
def on_log(text: str, then):
    handler, logger = _OnLog(text, then), logging.getLogger("newsletter.delivery")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


SLOW_VERDICT = "has not given its verdict on the message to user1@example.org within 1 s; waiting up to 60 s"


@pytest.mark.parametrize("pipelining", [True, False])
def test_a_verdict_slower_than_the_timeout_is_waited_for(smtp_server, pipelining):
    """RFC 5321 4.5.3.2.6: the reply to a message's end may take 10 minutes
    (a server scanning it, or relaying it on first). The wait ended at
    ``timeout`` (30 s): the message, which the server then took, was left
    uncertain and went again at the next run, a second copy."""
    box = smtp_server.mailbox
    box.block_at, box.pipelining = 1, pipelining  # the first message's verdict is held
    t = SMTPTransport("127.0.0.1", smtp_server.port, security="none", timeout=1, connections=1, verdict_timeout=60)
    t.check()
    with on_log(SLOW_VERDICT, box.release.set):  # given once the client has waited past its timeout
        outcomes, slept = run(t, [envelope(1), envelope(2)], retries=0)
    assert [(o.delivered, o.tries, o.error) for o in outcomes] == [(True, 1, None), (True, 1, None)]
    assert box.recipients() == ["user1@example.org", "user2@example.org"] and slept == []


def test_a_stop_ends_the_long_wait_for_a_verdict(smtp_server):
    """The verdict's longer wait looks for a stop (SIGTERM) each second: the
    message is left uncertain (it goes again as it was at the next run) and
    nothing more is attempted, instead of holding the stop for 10 minutes."""
    box = smtp_server.mailbox
    box.block_at = 1  # never released while the client waits
    asked = threading.Event()
    t = SMTPTransport("127.0.0.1", smtp_server.port, security="none", timeout=1, connections=1, verdict_timeout=60)
    t.check()
    try:
        with on_log(SLOW_VERDICT, asked.set):
            outcomes, _ = run(t, [envelope(1), envelope(2)], retries=0, stop=asked.is_set)
    finally:
        box.release.set()
    first, second = outcomes
    assert not first.delivered and first.uncertain and first.error == (
        f"SMTP server 127.0.0.1:{t.port} had given no verdict on the message to user1@example.org when the send "
        "was stopped; it may have taken the message, so it is not resent in this run"
    )
    assert not second.delivered and second.tries == 0 and second.error.startswith("not attempted: ")
    assert box.recipients() == ["user1@example.org"]


@pytest.mark.parametrize("where", ["greeting", "end of data"])
def test_a_reply_line_too_long_for_smtplib_is_no_refusal_of_the_server(where):
    """smtplib answers a line over 8,192 bytes with its own '500 Line too
    long.': it read as the server's refusal ('refused the session: 500 Line
    too long.'), and after a message as a permanent refusal of a message the
    server's '250 ...' may have taken."""
    long_line = b"x" * 10000
    def serve(conn: socket.socket) -> None:
        with conn.makefile("rb") as lines:
            conn.sendall(b"220 " + long_line + b"\r\n" if where == "greeting" else b"220 mx\r\n")
            while _take_a_message(conn, lines):
                conn.sendall(b"250 " + long_line + b"\r\n")

    with serving_each(serve) as port:
        t = SMTPTransport("127.0.0.1", port, security="none", timeout=5, connections=1)
        t.check()
        outcomes, _ = run(t, [envelope(1), envelope(2)], retries=0)
    where_said = ("does not speak SMTP (a line over 8,192 bytes): is this port the mail server's" if where == "greeting"
                  else "answered the message to user1@example.org with no SMTP reply (a line over 8,192 bytes)")
    assert f"SMTP server 127.0.0.1:{t.port} {where_said}" in outcomes[0].error, outcomes[0].error
    # no "500" reply made up for the line (the server's port, 35007 say, is no reply code)
    assert "500" not in outcomes[0].error.replace(f":{t.port}", "") and not outcomes[0].delivered
    assert outcomes[1].error.startswith("not attempted: ")  # the batch stops: every message would meet the same


def test_an_ehlo_reply_line_too_long_for_smtplib_within_a_multiline_reply_is_cut_not_failed():
    """A server that greets and lists, in its multiline EHLO reply, one
    extension whose line runs over smtplib's 8,192 bytes was said 'not to
    speak SMTP (a line over 8,192 bytes)', and no digest went out.  The line
    is cut (its text is no verdict), the reply's other extensions are read
    (8BITMIME, after it), and each message goes once."""
    taken: list[bytes] = []

    def serve(conn: socket.socket) -> None:
        with conn.makefile("rb") as lines:
            conn.sendall(b"220 mx\r\n")
            for command in lines:
                if command.upper().startswith(b"EHLO"):
                    conn.sendall(b"250-mx\r\n250-XLONG " + b"x" * 20000 + b"\r\n250 8BITMIME\r\n")
                elif command.upper().startswith((b"MAIL", b"RCPT")):
                    conn.sendall(b"250 ok\r\n")
                elif command.upper().startswith(b"DATA"):
                    conn.sendall(b"354 go on\r\n")
                    taken.append(b"".join(iter(lines.readline, b".\r\n")))
                    conn.sendall(b"250 queued\r\n")
                elif command.upper().startswith(b"QUIT"):
                    conn.sendall(b"221 bye\r\n")
                    return

    with serving_each(serve) as port:
        t = SMTPTransport("127.0.0.1", port, security="none", timeout=5, connections=1)
        outcomes, _ = run(t, [envelope(1), envelope(2)], retries=0)
    assert [(o.delivered, o.error) for o in outcomes] == [(True, None), (True, None)]
    assert [b"Subject: digest %d" % n in m for n, m in zip((1, 2), taken, strict=True)] == [True, True]


@pytest.mark.parametrize("where", ["greeting", "RCPT"])
def test_a_reply_with_control_characters_or_bytes_not_utf8_is_quoted_printable_on_one_line(where):
    """A server's words go to the terminal, the log and the state (`schedule`
    and `history` show them): an escape sequence in a reply (clearing the
    screen, recolouring the lines after it) or a bell reached them as sent.
    Bytes that are not UTF-8 (a server's Latin-1 "M\xfcller") are shown
    replaced, not failed on; the refusal is still read for what it is."""
    words = b"5.1.1 <user0@example.org> M\xfcller \x1b[2J\x1b[31munknown\x07 \xc2\x9b1m here"  # (U+009B: the one-character CSI)

    def serve(conn: socket.socket) -> None:
        with conn.makefile("rb") as lines:
            conn.sendall(b"554 " + words + b"\r\n" if where == "greeting" else b"220 mx\r\n")
            for command in lines:
                if command.upper().startswith(b"RCPT"):
                    conn.sendall(b"550 " + words + b"\r\n")
                elif command.upper().startswith(b"QUIT"):
                    conn.sendall(b"221 bye\r\n")
                    return
                else:
                    conn.sendall(b"250 ok\r\n" if where == "RCPT" else b"503 5.5.1 no\r\n")

    with serving_each(serve) as port:
        t = SMTPTransport("127.0.0.1", port, security="none", timeout=5, connections=1)
        t.check()
        outcomes, _ = run(t, [envelope(0)], retries=0)
    shown = "554 5.1.1 <user0@example.org> M\ufffdller ?[2J?[31munknown? ?1m here"
    if where == "greeting":
        assert outcomes[0].error == f"SMTP server 127.0.0.1:{port} refused the session: {shown}"
    else:
        assert outcomes[0].permanent  # (5.1.1: the address, as before)
        assert outcomes[0].error == f"recipient user0@example.org refused: 5{shown[1:]}".replace("554", "550", 1)
    assert outcomes[0].error.isprintable()


def test_implicit_tls_reset_in_the_handshake_says_so_not_cannot_connect():
    """A server (or a firewall) resetting the TLS hello on port 465 read
    'cannot connect to SMTP server ...: [Errno 104] Connection reset by
    peer', of a server that took the connection."""
    def reset(conn: socket.socket) -> None:  # closed with the hello left unread: a reset
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")

    with serving_each(reset) as port:
        t = SMTPTransport("127.0.0.1", port, security="ssl", timeout=5, connections=1)
        t.check()
        outcomes, slept = run(t, [envelope(1)], retries=1, retry_delay=1)
    assert outcomes[0].error == (
        f"TLS with 127.0.0.1:{t.port} failed: the server ended the connection in the TLS handshake (it refuses this "
        "client's TLS, or something on the way cuts the connection)"
    )
    assert slept == [1.0] and not outcomes[0].delivered


def test_implicit_tls_against_a_plain_port_says_the_port_does_not_speak_tls(smtp_server):
    t = SMTPTransport("127.0.0.1", smtp_server.port, security="ssl", timeout=5, connections=1)
    t.check()
    outcomes, slept = run(t, [envelope(1), envelope(2)], retries=2)
    assert [o.delivered for o in outcomes] == [False, False] and slept == []  # a TLS failure is not retried
    assert "WRONG_VERSION_NUMBER (the server answered without TLS: security: ssl is for a port such as 465" in (
        outcomes[0].error
    )


def test_outbox_name_is_in_utc_whatever_the_offset_of_created(tmp_path):
    # The name ends in Z: a digest created at 08:00+05:00 (send --now with an
    # offset) is 03:00 UTC; and its retry, whose time comes back from the
    # state in UTC, must replace the same file, not add a second one.
    from dataclasses import replace
    from datetime import timedelta

    t = OutboxTransport(tmp_path / "out")
    t.check()
    first = envelope(1)
    first = replace(first, created=datetime(2024, 5, 6, 8, 0, tzinfo=timezone(timedelta(hours=5))))
    t.session().send(first)
    t.session().send(replace(first, created=datetime(2024, 5, 6, 3, 0, tzinfo=UTC)))
    assert [f.name for f in (tmp_path / "out").iterdir()] == ["20240506T030000Z-user1@example.org-m1@example.org.eml"]


def test_envelope_addresses_are_angled_like_smtplib_does():
    import smtplib

    from newsletter.delivery import _angled

    for address in ["reader000001@example.org", "a.b+tag@sub.example.org", "Ada <ada@example.org>", "<x@y.org>", ""]:
        assert _angled(address) == smtplib.quoteaddr(address), address


def test_a_delivery_thread_that_fails_ends_the_run_with_its_error_not_a_hang(smtp_server):
    """A bug in a delivery thread (here: the stop check raising) is raised by
    finish(); the other sessions do not wait for ever for work it might hand back."""
    calls = []

    def stop():
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("stop check broke")
        return False

    outcomes: list = []
    dispatcher = Dispatcher(plain(smtp_server, connections=3), on_outcome=outcomes.append, stop=stop)
    done = threading.Event()
    raised: list = []

    def finish():
        try:
            for n in range(8):
                dispatcher.submit(envelope(n))
            dispatcher.finish()
        except RuntimeError as exc:
            raised.append(exc)
        done.set()

    threading.Thread(target=finish, daemon=True).start()
    assert done.wait(30), "finish() hung"
    assert [str(e) for e in raised] == ["stop check broke"]


def test_a_caller_failing_inside_the_dispatcher_has_nothing_more_attempted(smtp_server):
    """The send's planner failing (its state refused a claim, a database went
    silent) while envelopes waited in the queue: leaving the `with` block
    delivered them all, though nothing could record them, so the next run
    sent them again.  The one in flight finishes; the rest are not attempted."""
    box = smtp_server.mailbox
    box.block_at = 1
    outcomes: list = []

    def release_once_stopped() -> None:  # the answer comes as the block is left
        while dispatcher.stopped is None and not box.release.wait(0.01):
            pass
        box.release.set()

    with pytest.raises(RuntimeError, match="the claim failed"):
        with Dispatcher(plain(smtp_server), on_outcome=outcomes.append, backlog=8) as dispatcher:
            for n in range(6):
                dispatcher.submit(envelope(n))
            assert box.blocked.wait(30)
            releaser = threading.Thread(target=release_once_stopped)
            releaser.start()
            raise RuntimeError("the claim failed")
    releaser.join()
    assert [(o.envelope.digest_id, o.delivered, o.tries) for o in sorted(outcomes, key=lambda o: o.envelope.digest_id)] == [
        (0, True, 1)] + [(n, False, 0) for n in range(1, 6)]
    assert {o.error for o in outcomes[1:]} == {"not attempted: the send stopped on an error"}
    assert all(o.stopped_on_error for o in outcomes[1:]) and not outcomes[0].stopped_on_error
    assert len(box.messages) == 1


def test_an_outbox_name_for_the_longest_address_fits_the_file_system(tmp_path):
    # A valid address is up to 254 characters; with the time and the
    # Message-ID the name was over the 255 bytes a file name may have, and
    # that subscriber's digest failed at every send ("File name too long").
    from dataclasses import replace

    t = OutboxTransport(tmp_path / "out")
    t.check()
    domain = ".".join(["b" * 60] * 3) + ".example.org"
    first = envelope(1, rcpt=f"{'a' * 64}@{domain}")
    other = replace(first, recipient=f"{'a' * 64}@{domain[:-3]}net")
    t.session().send(first)
    t.session().send(first)  # sent again after a crash: the same name, replaced
    t.session().send(other)
    names = sorted(f.name for f in (tmp_path / "out").iterdir())
    assert len(names) == 2 and all(len(n.encode()) <= 200 and n.endswith(".eml") for n in names)
    assert all(n.startswith("20240506T090000Z-" + "a" * 64 + "@bbb") for n in names)
    assert t.filename(envelope(2)) == "20240506T090000Z-user2@example.org-m2@example.org.eml"  # short names as before


# --------------------------------------------------------------------------- name lookups


def test_a_server_name_whose_lookup_hangs_is_given_up_at_the_timeout(slow_dns):
    """The lookup of delivery.host was outside delivery.timeout (smtplib's
    socket.create_connection has none for it): a DNS server that does not
    answer held send for as long as the resolver kept asking."""
    t = SMTPTransport("mail.slow.test", 587, security="starttls", timeout=0.3)
    t.check()
    outcomes, slept = run(t, [envelope(1), envelope(2)], retries=0)
    assert slow_dns.hanging >= 1  # given up, not waited for: the lookup (a minute) still hangs
    assert outcomes[0].error == ("cannot connect to SMTP server mail.slow.test:587: its name was not looked up "
                                 "within 0.3 s (delivery.timeout): a DNS server that does not answer, or no network?")
    assert not any(o.delivered for o in outcomes)


def test_a_stop_ends_the_wait_for_a_server_name_lookup(slow_dns):
    """SIGTERM while the name is looked up: the wait ends at the stop, not at
    delivery.timeout (30 s by default).  The stop comes once the lookup has
    begun (an event, not a timer), and the send ends while the lookup (a
    minute) still hangs: no wall-clock bound, which a loaded machine overran."""
    t = SMTPTransport("mail.slow.test", 465, security="ssl", timeout=30)
    t.check()
    session = t.session(stop=slow_dns.asked.is_set)
    with pytest.raises(TransientDeliveryError, match="mail.slow.test:465: the send stopped while its name was looked up"):
        session.send(envelope(1))
    assert slow_dns.hanging == 1


def test_our_own_name_whose_lookup_hangs_gives_ehlo_our_address(smtp_server, monkeypatch):
    """smtplib looked this machine's name up (socket.getfqdn, no timeout) at
    every session it opened: a DNS server not answering held each one."""
    import newsletter.delivery as delivery

    released = threading.Event()
    looked_up = []

    def hung(name: str = "") -> str:
        looked_up.append(1)
        released.wait(30)
        return "late.example.org"

    monkeypatch.setattr(socket, "getfqdn", hung)
    monkeypatch.setattr(delivery, "_our_name", [])
    monkeypatch.setattr(delivery, "OWN_NAME_WITHIN", 0.3)
    try:
        started = time.monotonic()
        outcomes, _ = run(plain(smtp_server), [envelope(1)])
        t = plain(smtp_server)
        t.session()._open().quit()  # a second session asks no more
    finally:
        released.set()
    assert outcomes[0].delivered and time.monotonic() - started < 0.3 + 1.5
    assert smtp_server.mailbox.ehlo_names == ["[127.0.0.1]", "[127.0.0.1]"] and looked_up == [1]


def test_ehlo_gives_this_machines_full_name_as_smtplib_did(smtp_server, monkeypatch):
    import newsletter.delivery as delivery

    monkeypatch.setattr(socket, "getfqdn", lambda name="": "host7.lab.example.org")
    monkeypatch.setattr(delivery, "_our_name", [])
    outcomes, _ = run(plain(smtp_server), [envelope(1)])
    assert outcomes[0].delivered and smtp_server.mailbox.ehlo_names == ["host7.lab.example.org"]


def test_looking_up_plain_names_never_loads_the_idna_codec():
    """``getaddrinfo`` and ``gethostbyaddr`` encode a str name with the
    ``idna`` codec, whose first use imports it, ``stringprep`` and
    ``unicodedata``'s tables (about a millisecond in each send worker, each
    looking up the server and its own name); an ASCII name goes as its
    bytes, which the codec gives unchanged, so the answers are the same.  A
    name the codec refuses (an empty label) is refused as before."""
    code = textwrap.dedent("""
        import socket, sys
        from newsletter.retrying import addresses
        from newsletter.delivery import _own_full_name
        hosts = ('127.0.0.1', '::1', 'localhost')
        got = [addresses(h, 25, 10.0) for h in hosts] + [_own_full_name()]
        print('idna loaded' if 'encodings.idna' in sys.modules else 'idna not loaded')
        want = [socket.getaddrinfo(h, 25, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP) for h in hosts]
        print(got == want + [socket.getfqdn()])
        try:
            addresses('mail..example.org', 25, 10.0)
        except UnicodeError as exc:
            print(exc)
    """)
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "idna not loaded", "True", "encoding with 'idna' codec failed (UnicodeError: label empty or too long)"]


def test_the_tls_probe_of_a_silent_server_gives_up_on_a_hung_lookup(slow_dns):
    """Whether a silent server waits for TLS is asked by connecting again: the
    name's lookup there had no bound either."""
    from newsletter.retrying import speaks_tls

    assert speaks_tls("mail.slow.test", 587, 0.2) is False
    assert slow_dns.hanging >= 1  # given up, not waited for: the lookup (a minute) still hangs


# -- the dispatcher's queue -------------------------------------------------------------


def test_a_full_dispatcher_queue_wakes_its_producer_once_a_quarter_is_taken():
    """queue.Queue woke a producer waiting on a full queue at every item
    taken; a send's planner then woke (and took the GIL from a delivery
    thread) once per message.  The backlog wakes it once a quarter has gone."""
    import queue

    from newsletter.delivery import _Backlog

    backlog = _Backlog(8)
    for i in range(8):
        backlog.put(i)
    woken = []
    wake = backlog.not_full.notify
    backlog.not_full.notify = lambda n=1: (woken.append(backlog._qsize()), wake(n))  # type: ignore[method-assign]  # (lock held)
    producer = threading.Thread(target=backlog.put, args=(8,))
    producer.start()
    taken = [backlog.get() for _ in range(2)]
    assert woken == [6]  # not at 7: only once two (a quarter of 8) were taken
    producer.join()
    taken += [backlog.get_nowait() for _ in range(backlog.qsize())]
    assert taken == list(range(9))  # first in, first out, nothing lost
    with pytest.raises(queue.Empty):
        backlog.get_nowait()


# -- sessions opened ahead of the first message (Dispatcher.open_sessions) ---------------


def login(server, monkeypatch, connections: int = 1, password: str = PASSWORD) -> SMTPTransport:
    """A transport to the STARTTLS test ``server`` with a login, ``connections`` sessions."""
    monkeypatch.setenv("DIGEST_PW", password)
    t = SMTPTransport("127.0.0.1", server.port, username=USER, password_env="DIGEST_PW", ca_file=server.cert,
                      timeout=5, connections=connections)
    t.check()
    return t


def test_open_sessions_connects_greets_and_logs_in_a_session_per_message_before_any_message(starttls_server,
                                                                                             monkeypatch):
    """The planner calls open_sessions at each composed digest: a session per
    digest, up to ``connections``, connects, says EHLO, starts TLS and logs
    in while nothing has been handed over yet (the server sees three logins
    before a message is submitted, and no fourth for the fifth digest); the
    messages go out on them, each session ending with QUIT."""
    box = starttls_server.mailbox
    outcomes = []
    with Dispatcher(login(starttls_server, monkeypatch, 3), on_outcome=outcomes.append) as d:
        for _ in range(5):
            d.open_sessions()
        box.wait_logged("AUTH", 3)  # (without open_sessions, no session connects before a submit)
        assert not any(what == "MAIL" for _, what in box.log)
        for n in range(5):
            d.submit(envelope(n))
    assert [o.delivered for o in outcomes] == [True] * 5
    sessions = box.sessions_log()
    assert len(sessions) == 3 and all(s[:4] == ["connect", "EHLO", "EHLO", "AUTH"] and s[-1] == "QUIT"
                                      for s in sessions.values()), sessions
    assert sum(s.count("MAIL") for s in sessions.values()) == 5, sessions


def test_one_digest_due_opens_one_session_ahead_whatever_connections_says(starttls_server, monkeypatch):
    """``connections: 3`` and one digest due (a cron tick): open_sessions at
    that digest opened and logged in all three sessions, three logins for
    one message (a provider limiting logins or connections, as Gmail does,
    refuses the next).  Now the server sees one connection, one login, the
    message on it, and QUIT."""
    box = starttls_server.mailbox
    outcomes = []
    with Dispatcher(login(starttls_server, monkeypatch, 3), on_outcome=outcomes.append) as d:
        d.open_sessions()
        box.wait_logged("AUTH", 1)
        d.submit(envelope(1))
    assert [o.delivered for o in outcomes] == [True]
    assert list(box.sessions_log().values()) == [["connect", "EHLO", "EHLO", "AUTH", "MAIL", "QUIT"]], box.log


def test_sessions_opened_ahead_end_with_quit_when_the_caller_is_interrupted(smtp_server):
    """Ctrl-C in the planner (a KeyboardInterrupt out of the dispatcher's block)
    after the sessions opened: each is closed with QUIT, nothing is sent."""
    box = smtp_server.mailbox
    with pytest.raises(KeyboardInterrupt), Dispatcher(plain(smtp_server, 2), on_outcome=lambda o: None) as d:
        d.open_sessions()
        d.open_sessions()  # (two digests composed)
        box.wait_logged("EHLO", 2)
        raise KeyboardInterrupt
    assert box.sessions_log() == {1: ["connect", "EHLO", "QUIT"], 2: ["connect", "EHLO", "QUIT"]}
    assert box.messages == []


def test_a_failure_opening_ahead_is_the_first_sends_own_try_not_a_second_one(starttls_server, monkeypatch):
    """A login the server cannot check now (454) while the session opened
    ahead: the first message fails with the same words as a failure met at
    that send, and without a second connection and login (a server that times
    out would be waited for twice)."""
    box = starttls_server.mailbox
    box.login_replies = ["454 4.7.0 Temporary authentication failure"] * 9  # (smtplib tries each mechanism)
    outcomes = []
    with Dispatcher(login(starttls_server, monkeypatch), on_outcome=outcomes.append, retries=0) as d:
        d.open_sessions()
        box.wait_logged("AUTH", 1)
        d.submit(envelope(1))
    [outcome] = outcomes
    assert not outcome.delivered and outcome.tries == 1
    assert outcome.error.startswith(f"SMTP server 127.0.0.1:{starttls_server.port} could not check the login for "
                                    "'digest-user' now: 454 4.7.0 Temporary authentication failure"), outcome.error
    assert list(box.sessions_log().values()) == [["connect", "EHLO", "EHLO", "AUTH", "AUTH"]]  # (closed, as before)
    assert box.messages == []


def test_a_rejected_login_opening_ahead_reads_as_it_did_and_stops_the_batch(starttls_server, monkeypatch):
    """The wrong password, met by the sessions opened ahead: the same message
    as without them (the setting, the hint, no password), the batch stops."""
    outcomes = []
    with Dispatcher(login(starttls_server, monkeypatch, 2, PASSWORD + "x"), on_outcome=outcomes.append) as d:
        for _ in range(3):
            d.open_sessions()
        starttls_server.mailbox.wait_logged("AUTH", 2)
        for n in range(3):
            d.submit(envelope(n))
    outcomes.sort(key=lambda o: o.envelope.digest_id)
    failed = [o.error for o in outcomes if "rejected the login" in o.error]
    assert failed and all(e.endswith("(check delivery.username and the password in DIGEST_PW; many providers want "
                                     "an app password)") for e in failed), outcomes
    assert all("rejected the login" in o.error or "not attempted" in o.error for o in outcomes)
    assert not any(PASSWORD in o.error for o in outcomes) and starttls_server.mailbox.messages == []


def test_a_server_that_is_down_when_the_sessions_open_ahead_fails_the_messages_as_before():
    """Nothing listens: each session's opening fails ahead, the first messages
    fail with the same "cannot connect" line, and nothing is delivered."""
    port = free_port()
    t = SMTPTransport("127.0.0.1", port, security="none", timeout=5, connections=2)
    t.check()
    outcomes = []
    with Dispatcher(t, on_outcome=outcomes.append, retries=0) as d:
        for n in range(3):
            d.open_sessions()
            d.submit(envelope(n))
    assert not any(o.delivered for o in outcomes) and len(outcomes) == 3
    assert any(o.error.startswith(f"cannot connect to SMTP server 127.0.0.1:{port}: ") and
               "(nothing listens there" in o.error for o in outcomes), outcomes
