"""Deliver stage: finished messages -> an outbox folder or an SMTP server.

The interface is small on purpose.  A :class:`Transport` checks its settings
(:meth:`~Transport.check`, before anything is sent) and opens sessions; a
session sends one :class:`Envelope` at a time and raises

- :class:`TransientDeliveryError` for what may go away (4xx replies,
  refused or reset connections) -- retried with backoff;
  :class:`Unreachable` when no session could be opened at all; a few
  messages in a row failing on every try stop the batch (see
  :data:`FAILING_TO_STOP`);
  :class:`TimedOut` when the server stopped answering during a message --
  not retried, and the batch stops (the message may have arrived);
  :class:`Deferred` (:class:`Unconfirmed`, :class:`RelayDenied`,
  :class:`MailboxFull`, :class:`RefusedAsSpam`...) -- not retried in this run, the others go on,
  and never a permanent failure;
- :class:`PermanentDeliveryError` for this recipient (5xx) -- recorded, the
  others go on;
- :class:`TransportBroken` when the transport cannot work for anyone
  (authentication or TLS failed, outbox not writable, the account's sending
  limit reached: :class:`SendingLimit`) -- the batch stops and
  everything not sent stays pending.

:class:`Dispatcher` runs ``transport.sessions`` worker threads, each with its
own session reused for the whole batch, shares a ``max_per_minute`` rate limit
between them, retries transient failures ``retries`` times with exponential
backoff (``sleep`` is injectable), and reports every :class:`Outcome` through
``on_outcome`` *in the worker thread, before that worker takes its next
message* -- so the caller can record "sent" at once, and a process killed
mid-batch has at most the message in flight on each session unrecorded.
"""

from __future__ import annotations

import binascii
import collections
import email.generator
import email.policy
import hashlib
import io
import json
import logging
import os
import queue
import re
import smtplib
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path
from typing import Any, NoReturn, Protocol, TypeVar, cast

from .config import GMAIL_HOSTS, GMAIL_PASSWORD, Config, line_break_hint, password_holds, unset_variable
from .errors import ConfigError, PermanentDeliveryError, Problem, TransientDeliveryError
from .files import broken_link, fitted_name, sweep_temporaries, write_atomic
from .models import NotAgain
from .refusals import About, Refusal, classify
from .retrying import (
    addresses,
    backoff,
    certificate_fault,
    certificate_unmendable,
    handshake_refused,
    idna_encoded,
    speaks_http,
    speaks_tls,
    within,
)

log = logging.getLogger(__name__)

DEFAULT_PORTS = {"ssl": 465, "starttls": 587, "none": 25}
#: Submission over implicit TLS (RFC 8314): the server's greeting comes after the handshake.
IMPLICIT_TLS_PORT = 465
MAX_BACKOFF = 300.0
#: How long a server may take over its verdict on a message's data: RFC 5321
#: 4.5.3.2.6 asks a client to wait 10 minutes (a server may scan the message,
#: or relay it on, before it answers).  Given up at ``timeout``, a slow
#: server's message was left uncertain and went again at the next run.
VERDICT_WITHIN = 600.0
#: While a verdict takes longer than ``timeout``, how often the wait looks
#: whether the send was stopped (SIGTERM must not wait 10 minutes).
STOP_LOOKED_FOR_EVERY = 1.0


#: What a send does later with a message a refusal left undelivered, and one
#: whose fate is unknown: words of a run among runs, which ``test-email`` (one
#: message, nothing recorded, no later run) leaves out (:func:`as_one_message`).
LATER_SENDS = ": tried again by later sends, never held for it"
NOT_RESENT = "so it is not resent in this run"


def as_one_message(error: str) -> str:
    """A delivery's ``error`` as said of one message sent alone (``test-email``):
    without what later sends do with it, which a test email has none of
    ("refused as spam ...: tried again by later sends, never held for it")."""
    return error.replace(LATER_SENDS, "").replace(NOT_RESENT, "so it is not sent again")


class Unreachable(TransientDeliveryError):
    """No connection to the server could be opened (refused, timeout, DNS)."""


#: Messages in a row that failed on every try (transient failures: a dropped
#: session, 4xx replies) before the batch stops, the rest pending.  A server,
#: firewall or quota turning every message away so (dropping each session at
#: MAIL FROM, "452 4.5.3 Too many recipients", greylisting) cost each message
#: all its retries in turn, 7 s apiece by default, hours for a big batch; one
#: message failing so (its recipient, its size) stops nothing.  Messages left
#: unconfirmed (:class:`Unconfirmed`: a server, or a content filter, that
#: crashes after taking each message's data) count too: each may have been
#: delivered and goes again with the next run, so every subscriber of a
#: batch sent on into such a server could get each digest twice.
FAILING_TO_STOP = 3
#: Messages in a row refused alike (:attr:`Deferred.alike`: the same kind of
#: refusal with the same codes) before the batch stops, the rest pending and
#: not attempted.  A server whose content filter refuses every digest as spam
#: ("550 5.7.1 ... likely unsolicited mail"), or whose mail system is broken
#: ("554 5.3.0"), was asked for each of 2,000 messages in turn, each refusal
#: logged and counted against the sender's standing.  More than
#: :data:`FAILING_TO_STOP`: digests differ, and a few subscribers in a row
#: with the same papers may be refused for them alone.
REFUSED_ALIKE_TO_STOP = 5


class ServiceClosing(Unreachable):
    """A ``421`` in the middle of a session (to MAIL, RCPT or the data): the
    server is closing the channel for all mail (shutting down, or rate
    limiting, as Gmail's "421 4.7.0 Try again later, closing connection"),
    not refusing this message.  Retried like a refused session, then the
    batch stops with the rest pending, instead of every message in turn
    being tried (and backed off) against a server that turns them all away."""


class Deferred(TransientDeliveryError):
    """This message fails for this run only: not retried in the run, the
    digest stays pending (with its back-off) and is never held."""

    #: For a refusal that every message may get alike (the receiving server's
    #: trouble, its content filter, relaying, the sender's authentication):
    #: its kind and reply codes, which :class:`Dispatcher` counts in a row
    #: (see :data:`REFUSED_ALIKE_TO_STOP`).  None: the message's own (its
    #: size, its recipient's mailbox), or unconfirmed.
    alike: tuple | None = None


class Unconfirmed(Deferred):
    """The whole message went out but the connection ended before the server's
    reply: whether it took the message is unknown.  Not retried in this run
    (that could deliver it twice); the digest stays pending for the next run,
    with the same Message-ID.  The batch goes on in a new session."""


class RelayDenied(Deferred):
    """A 5xx to RCPT that says the server will not relay for us ("Relay access
    denied": no or the wrong login, or a server that is not ours to use).
    Retrying now would not help, but it is no fault of the address, so the
    digest is never held for it (it would hold every subscriber's)."""


class Unauthenticated(Deferred):
    """A 5xx saying the sender failed the receiving server's authentication
    checks (SPF, DKIM, DMARC: RFC 7372's X.7.20-X.7.24 and X.7.26, as Gmail's "550 5.7.26
    ... DMARC policy"): the fault of ``email.from``'s domain, not of the
    address, and the same for every message to that server.  Not retried in
    the run; never held (three runs held every subscriber's digest)."""


class TooBig(Deferred):
    """A 5xx refusing the message for its size: the digest as built, not the
    address.  Never held: a held digest is never tried again on its own, so
    lowering ``max_papers`` or ``email.abstract_chars``, as the refusal says
    to, left it held for good; pending, the next send builds it smaller."""


class MailboxFull(Deferred):
    """A refusal saying the recipient's mailbox is full (RFC 3463's X.2.2, "a
    persistent transient failure": the recipient can make room; Gmail's
    "452 4.2.2 ... out of storage space" and "552 5.2.2 ... over quota").  A
    quota does not clear in seconds, so not retried in the run; never held:
    three runs of it (a subscriber away for three days) held the digest for
    good, as if the address were wrong."""


class ServerRefused(Deferred):
    """A 5xx for the receiving server's own trouble (RFC 3463's mail system,
    network and protocol codes, X.3, X.4, X.5: "554 5.3.0 mail system
    error", "550 5.4.6 routing loop"), not the address's: not retried in the
    run, never held.  Three runs of it held the digest for good as a refused
    address."""


class RefusedContent(Deferred):
    """A refusal of the message's content or media (RFC 3463's X.6, "554
    5.6.0 content rejected"): the message as built, not the address.  Not
    retried in the run; never held."""


class RefusedAsSpam(RefusedContent):
    """A refusal of the message as spam (Gmail's "550 5.7.1 ... likely
    unsolicited mail", a content filter's "554 5.7.1 ... spam content"): its
    content or the sender's standing, not the address.  Not retried in the
    run; never held: each digest differs, and held ones stayed held once the
    sending was mended (DKIM, SPF, a template)."""


class TimedOut(Unconfirmed):
    """The server stopped answering mid-message: whether it took the message is
    unknown.  Not retried in this run (that could deliver it twice) and the
    batch stops (a hung server would cost ``timeout`` per message); the digest
    stays pending for the next run, with the same Message-ID."""


class TransportBroken(PermanentDeliveryError):
    """The transport cannot deliver anything (bad credentials, TLS, unwritable outbox)."""


class SendingLimit(TransportBroken):
    """A refusal saying the account has sent as much as it may (Gmail's "550
    5.4.5 Daily user sending limit exceeded", Outlook's
    "SubmissionQuotaExceeded"), to whatever command: every message after it
    gets the same answer until the limit resets, so the batch stops and the
    rest stay pending.  It counted against each digest as a refusal of its
    address: every run tried every digest again, and three runs held every
    subscriber past the limit for good."""


@dataclass(frozen=True)
class Envelope:
    """One message to hand over, and what the caller needs to record its fate."""

    digest_id: int | None
    sender: str
    recipient: str
    message: EmailMessage | bytes  # bytes: already RFC 5322 with CRLF line ends
    message_id: str
    created: datetime
    papers: int = 0
    #: No line of ``message`` starts with a dot, so SMTP needs no dot-stuffing
    #: (true of what :class:`messages.MessageWriter` builds).
    dot_safe: bool = False
    #: What max_papers cut, for the sender's report (see ``sending.DigestResult.taken``).
    cut: tuple[int, int] = (0, 0)
    #: Papers left out as a new version of one sent before, as the sender's
    #: report says them (see ``sending.DigestResult.not_again``).
    not_again: tuple[NotAgain, ...] = ()

    def data(self) -> bytes:
        """The message as RFC 5322 bytes with CRLF line ends."""
        if isinstance(self.message, bytes):
            return self.message
        return message_bytes(self.message)


class _Generator(email.generator.BytesGenerator):
    """``BytesGenerator`` writing each body in one piece instead of line by line:
    the same bytes, several times faster for the long bodies of a digest."""

    def _write_lines(self, lines: str) -> None:
        if not lines:
            return
        parts = lines.split("\n") if "\r" not in lines else email.generator.NLCRE.split(lines)  # type: ignore[attr-defined]
        last = parts.pop()
        if parts:
            newline: str = self._NL  # type: ignore[attr-defined]
            self.write(newline.join(parts) + newline)
        if last:
            self.write(last)


def message_bytes(message: EmailMessage) -> bytes:
    """``message.as_bytes(policy=email.policy.SMTP)``, faster (see :class:`_Generator`)."""
    out = io.BytesIO()
    _Generator(out, mangle_from_=False, policy=email.policy.SMTP).flatten(message)
    return out.getvalue()


def _quote_periods(data: bytes) -> bytes:
    """SMTP dot-stuffing (a line starting with a dot gets another): what
    ``smtplib`` does with a regular expression, with ``bytes.replace``."""
    data = data.replace(b"\n.", b"\n..")
    return b"." + data if data.startswith(b".") else data


@dataclass(frozen=True)
class Outcome:
    envelope: Envelope
    delivered: bool
    tries: int
    error: str | None = None
    permanent: bool = False  # a retry will not help (5xx)
    #: Not attempted because the caller failed (its state refused a record):
    #: the send is stopping, so the digest is pending, not failed.
    stopped_on_error: bool = False
    #: Not confirmed, but the whole message went out (:class:`Unconfirmed`):
    #: the server may have it.
    uncertain: bool = False
    #: Not attempted: the caller withdrew it at hand-over (its recipient
    #: unsubscribed after it was queued); ``error`` says why.
    withdrawn: bool = False
    #: Failed as every message would (:class:`TransportBroken`: a login
    #: refused, TLS, the sender, the outbox): no fault of this digest's, so
    #: no back-off of its own.  The batch's first digest waited 5 minutes,
    #: then longer each run, after the password was mended in the
    #: environment (which changes no setting a back-off is recorded with),
    #: while the others, not attempted, went out at once.
    transport_failed: bool = False


class Session(Protocol):
    def send(self, envelope: Envelope, then: Envelope | None = None) -> None:
        """Hand ``envelope`` over.  ``then``: the envelope the next call will
        hand over, which a session may start on early (SMTP pipelining)."""

    def open(self) -> None:
        """Open the connection now, ahead of the first :meth:`send` (the
        dispatcher's threads do it while the planner composes and claims the
        first digests, so the server's round trips overlap that work).  It
        never raises: a failure is kept and raised by the first ``send`` as
        that send's own try, so a server that is down or refuses the login
        reads as it did, and one that times out is not waited for twice."""

    def close(self) -> None: ...


class Transport(Protocol):
    """What :class:`Dispatcher` needs from a transport."""

    name: str
    sessions: int  # how many sessions to run in parallel

    def check(self) -> None:
        """Raise (ConfigError, exit 2) if it cannot work -- before anything is sent."""

    def session(self, stop: Callable[[], object] | None = None) -> Session:
        """A new session; ``stop`` returns true once the send is stopping
        (a session that waits long may give up then)."""


def sender_address(config: Config) -> str:
    return parseaddr(config.email.from_)[1]


def settings_fingerprint(config: Config) -> str:
    """A short digest of the delivery settings that decide where and how mail
    is handed over: the transport, the outbox folder, SMTP's host, port,
    security, username, CA file and the *name* of the password's variable.

    A failed digest is recorded with it, and its back-off holds only while it
    is unchanged: the wait is for a server to recover, and a user who has
    just fixed a wrong port should see the next ``send`` try again.  Never
    made from a secret, so a password changed only in the environment does
    not change it (``test-email`` checks that at once).
    """
    d = config.delivery
    if d.transport == "smtp":
        settings = [d.transport, d.host, d.port, d.security, d.username, d.password_env, d.ca_file]
    else:
        settings = [d.transport, str(config.outbox_dir)]
    return hashlib.sha256(json.dumps(settings).encode()).hexdigest()[:16]


def make_transport(config: Config) -> Transport:
    """The transport the config's ``delivery:`` asks for."""
    if config.delivery.transport == "smtp":
        return SMTPTransport.from_config(config)
    return OutboxTransport(config.outbox_dir, config=config)


# --------------------------------------------------------------------------- outbox

_UNSAFE = re.compile(r"[^A-Za-z0-9._@+=-]+")


def safe_name(text: str) -> str:
    return _UNSAFE.sub("_", text).strip("._") or "x"


class OutboxTransport:
    """Each message becomes ``DIR/<created>-<recipient>-<message id>.eml``.

    Files are written to a temporary name and renamed (``os.replace``), so a
    reader never sees half a message; the name depends only on the digest, so
    sending a digest again (after a crash) replaces its file instead of adding
    a second one.
    """

    name = "outbox"
    sessions = 1

    def __init__(self, folder: str | os.PathLike, config: Config | None = None) -> None:
        self.folder = Path(folder)
        self._config = config
        self._made = False

    def _problem(self, message: str) -> Problem:
        if self._config is not None:
            return self._config.problem(("delivery", "path"), message)
        return Problem(message, path="delivery.path")

    def _shown(self, path: Path) -> str:
        """``path`` as the config writes it: relative to the config's folder when it is in it."""
        if self._config is not None:
            try:
                return str(path.relative_to(self._config.file.parent.resolve()))
            except ValueError:
                pass
        return str(path)

    def problem(self) -> Problem | None:
        """What would stop :meth:`check` from making the folder (a file in its
        place or in its path), found without creating anything: for ``validate``.
        A symbolic link that leads nowhere (to a drive not mounted) is named:
        making its target would put the digests on the wrong disk."""
        shown = self._shown(Path(os.path.abspath(self.folder)))
        if (link := broken_link(self.folder)) is not None:
            return self._problem(f"the outbox {shown!r} is {link}")
        try:
            folder = self.folder.resolve()
        except (RuntimeError, OSError):  # a loop in a folder above it (Python 3.11 raises RuntimeError)
            return self._problem(f"the outbox {shown!r} cannot be reached: its path holds a symbolic link that loops")
        if folder.exists():
            if not folder.is_dir():
                return self._problem(f"the outbox {self._shown(folder)!r} is a file, not a folder")
            return self._unwritable(folder)
        parent = next(p for p in folder.parents if p.exists())
        if not parent.is_dir():
            return self._problem(
                f"the outbox {self._shown(folder)!r} cannot be made: {self._shown(parent)!r} is a file, not a folder"
            )
        if not os.access(parent, os.W_OK | os.X_OK):
            return self._problem(f"the outbox {self._shown(folder)!r} cannot be made: {str(parent)!r} is not writable")
        return None

    def _unwritable(self, folder: Path) -> Problem | None:
        """Why no message can be written into ``folder``, or None: each send
        failed its first digest (a back-off counted against it, exit 1) and
        ``validate`` said OK, of a folder no digest could ever go to (read-only
        for this user, immutable, on a file system mounted read-only)."""
        if os.access(folder, os.W_OK | os.X_OK):
            return None
        try:
            mounted_ro = bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
        except OSError:
            mounted_ro = False
        why = ("is on a file system mounted read-only: remount it read-write or point delivery.path elsewhere"
               if mounted_ro else "is not writable for this user: make it writable or point delivery.path elsewhere")
        return self._problem(f"the outbox {self._shown(folder)!r} {why}")

    def check(self) -> None:
        """Raise :class:`ConfigError` when no message could be written to the
        folder.  It makes nothing (the first message written makes the folder,
        :meth:`send`): it made the folder, so a send refused just after for
        another reason (an unset key), or one with nothing due, left an empty
        outbox behind, and ``send`` had to skip this check where it named
        every problem at once."""
        if (problem := self.problem()) is not None:
            raise ConfigError(problem)

    def _make_folder(self) -> None:
        """Make the folder, once, before the first message is written, and
        sweep what a killed send left in it."""
        if self._made:
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TransportBroken(f"cannot create the outbox folder {str(self.folder)!r}: {exc.strerror}") from None
        self._sweep()
        self._made = True

    def _sweep(self) -> None:
        """Remove the temporary files of messages a killed send was writing
        (``.NAME.eml.XXXX.tmp``, see :func:`files.sweep_temporaries`).  Their
        digests are still owed and are written whole again."""
        sweep_temporaries(self.folder, lambda name: name.endswith(".eml"))

    def session(self, stop: Callable[[], object] | None = None) -> OutboxTransport:
        return self

    def open(self) -> None:
        pass  # (a folder: nothing to connect to; check() found it writable, send() makes it)

    def filename(self, envelope: Envelope) -> str:
        mid = envelope.message_id.strip("<>")
        created = envelope.created.astimezone(UTC)  # the name says Z; a retry's time comes back in UTC
        # (a name over a file system's limit, from a long address, is cut short: fitted_name)
        return fitted_name(f"{created:%Y%m%dT%H%M%SZ}-{safe_name(envelope.recipient)}-{safe_name(mid)}", ".eml")

    def send(self, envelope: Envelope, then: Envelope | None = None) -> None:
        self._make_folder()
        final = self.folder / self.filename(envelope)
        try:
            write_atomic(final, envelope.data(), mode=0o644, durable=True)  # recorded sent next: on the disk first
        except OSError as exc:
            raise TransportBroken(f"{final}: cannot write: {exc.strerror}") from None

    def close(self) -> None:
        pass


# --------------------------------------------------------------------------- smtp


class SMTPTransport:
    """SMTP over :mod:`smtplib`: ``starttls`` / ``ssl`` / ``none``, AUTH, sessions reused.

    TLS verifies the server with the system's CAs (``ssl.create_default_context``,
    which honours ``SSL_CERT_FILE``), or only with ``delivery.ca_file`` when set
    (a private CA or a self-signed test server).  The password is read from
    the environment variable ``delivery.password_env`` once, in :meth:`check`;
    it is never logged nor put into an error message.
    """

    name = "smtp"

    def __init__(
        self,
        host: str,
        port: int | None = None,
        *,
        security: str = "starttls",
        username: str | None = None,
        password_env: str | None = None,
        timeout: float = 30.0,
        connections: int = 1,
        ca_file: str | os.PathLike | None = None,
        local_hostname: str | None = None,
        config: Config | None = None,
        verdict_timeout: float = VERDICT_WITHIN,
    ) -> None:
        """``verdict_timeout``: how long the verdict on a message's data may
        take (never less than ``timeout``; see :data:`VERDICT_WITHIN`)."""
        self.host = host
        self.port = port or DEFAULT_PORTS[security]
        self.security = security
        self.username = username
        self.password_env = password_env
        self.timeout = timeout
        self.verdict_timeout = max(timeout, verdict_timeout)
        self.sessions = connections
        self.ca_file = Path(ca_file) if ca_file else None
        self.local_hostname = local_hostname
        self._config = config  # to locate problems as FILE:LINE
        self._password: str | None = None
        self._context: ssl.SSLContext | None = None

    def certificate_remedy(self, exc: ssl.SSLCertVerificationError) -> str:
        """What mends the server's refused certificate, by the check that failed."""
        fault = certificate_fault(exc)
        if (theirs := certificate_unmendable(fault, "the mail server")) is not None:
            return theirs
        if fault == "name":
            return f"set delivery.host to a name the certificate is for, not {self.host!r}"
        if fault == "issuer" and self.ca_file:
            return (f"delivery.ca_file {str(self.ca_file)!r} does not hold the CA that signed it: point it at that "
                    "CA's certificate, or remove ca_file for a relay with a public certificate")
        if fault == "issuer" or not self.ca_file:
            return "trust a private CA with delivery.ca_file"
        return (f"a check that delivery.ca_file does not mend: `openssl s_client -connect {self.host}:{self.port}"
                f"{' -starttls smtp' if self.security == 'starttls' else ''}` shows the server's certificate")

    @classmethod
    def from_config(cls, config: Config) -> SMTPTransport:
        d = config.delivery
        return cls(
            d.host or "localhost",
            d.port,
            security=d.security,
            username=d.username,
            password_env=d.password_env,
            timeout=d.timeout,
            verdict_timeout=d.verdict_timeout,
            connections=d.connections,
            ca_file=config.resolve(d.ca_file) if d.ca_file else None,
            config=config,
        )

    def at(self, key: str, section: str = "delivery") -> str:
        """``FILE:LINE: `` of ``delivery.<key>`` (of ``delivery:`` where it is
        left to its default), to begin a failure that the setting mends: a
        wrong port or security read as the server's fault, with no line."""
        return f"{self._config.where(section, key)}: " if self._config is not None else ""

    def _problem(self, key: str, message: str) -> Problem:
        if self._config is not None:
            return self._config.problem(("delivery", key), message)
        return Problem(message, path=f"delivery.{key}")

    def check(self) -> None:
        """Read the password and build the TLS context; ConfigError (exit 2) if
        impossible, naming the password's and the CA file's problems together
        (``validate`` named a missing ``ca_file`` only once the password was set)."""
        problems: list[Problem] = []
        for step in (self._read_password, self._make_context):
            try:
                step()
            except ConfigError as exc:
                problems.extend(exc.problems)
        if problems:
            raise ConfigError(*problems)

    def _read_password(self) -> None:
        if self.password_env:
            password = os.environ.get(self.password_env)
            if not password:
                raise ConfigError(
                    self._problem(
                        "password_env",
                        unset_variable(
                            self.password_env, "password_env", "empty" if password == "" else "not set",
                            password_holds(self.username, self.host),
                        ),
                    )
                )
            cr = line_break_hint(password)
            if cr is not None:
                # the server's 535 made the right password look wrong
                body = password.rstrip("\r\n")
                where = "holds" if "\r" in body or "\n" in body else "ends with"
                raise ConfigError(
                    self._problem(
                        "password_env",
                        f"environment variable {self.password_env} {where} a line break{cr}; a password cannot "
                        "hold one (not shown: it is the secret)",
                    )
                )
            if not (password.isascii() and (self.username or "").isascii()):
                # smtplib sends the login as ASCII: it failed with a UnicodeEncodeError
                # whose text, the whole login, reached the output and the state
                raise ConfigError(
                    self._problem(
                        "password_env",
                        f"environment variable {self.password_env} or the username holds non-ASCII "
                        "characters, which the SMTP login cannot send (not shown: it is the secret)",
                    )
                )
            self._password = password

    def _make_context(self) -> None:
        if self.security != "none":
            if self.ca_file and not self.ca_file.is_file():
                what = ("a folder, not a PEM file of certificates (name the file in it)" if self.ca_file.is_dir()
                        else "no such file")
                raise ConfigError(self._problem("ca_file", f"{str(self.ca_file)!r}: {what}"))
            try:
                self._context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
            except (ssl.SSLError, OSError) as exc:
                raise ConfigError(self._problem("ca_file", f"cannot load CA certificates: {exc}")) from None
            # A server ending the connection without TLS's close_notify (most do, and
            # one that crashes always) made OpenSSL answer with an alert, which the
            # closed socket met with a reset: at a message's verdict, that read as
            # the reset of data the server never read (see _reset_after_end), and a
            # message the server had taken went again at once, arriving twice.  An
            # SMTP reply is lines, each whole or none, so a cut-off stream
            # (a truncation) is a connection ended, as over plain TCP.
            self._context.options |= ssl.OP_IGNORE_UNEXPECTED_EOF

    def session(self, stop: Callable[[], object] | None = None) -> SMTPSession:
        return SMTPSession(self, stop)

    @property
    def password(self) -> str | None:
        return self._password

    @property
    def logs_in(self) -> bool:
        """Whether a session logs in: only with a username as well as the
        password, as ``validate`` says ("no login is made"); a password alone
        was sent as a login for an empty user, refused as "the login for None"."""
        return self._password is not None and bool(self.username)

    @property
    def context(self) -> ssl.SSLContext | None:
        return self._context


#: The AUTH mechanisms ``smtplib`` implements (its ``auth_<name>`` methods:
#: CRAM-MD5, LOGIN, PLAIN); ``login`` picks among them.
AUTH_MECHANISMS = tuple(
    sorted(name[len("auth_"):].upper().replace("_", "-") for name in dir(smtplib.SMTP) if name.startswith("auth_"))
)


def _check_mechanisms(smtp: smtplib.SMTP, where: str) -> None:
    """Raise :class:`TransportBroken` when the server offers no AUTH mechanism
    we can use (only GSSAPI, NTLM, XOAUTH2...): a configuration problem that
    no retry changes, where ``smtplib`` says only "No suitable authentication
    method found".  Mechanism names are case-insensitive (RFC 4954): the
    server's are upper-cased for ``login``, which compares them as written."""
    offered = smtp.esmtp_features.get("auth", "").upper().split()
    smtp.esmtp_features["auth"] = " ".join(offered)
    if not set(offered) & set(AUTH_MECHANISMS):
        raise TransportBroken(
            f"SMTP server {where} offers AUTH only by {_printable(' '.join(offered)) or 'no mechanism'}, which this client "
            f"cannot use (it can use {', '.join(AUTH_MECHANISMS)}): enable one of those for this account, "
            "or relay through a server that does"
        )


def _greet(smtp: smtplib.SMTP, where: str, needs: str | None) -> None:
    """EHLO, or HELO where the server refuses EHLO (a server or proxy that
    knows only HELO), as RFC 5321 4.1.4 asks of a client: smtplib's ``ehlo()``
    returns the refusal, and the session went on unnamed into "503 send HELO
    first", read as the sender refused.  ``needs``: what this session needs
    EHLO's extensions for (STARTTLS, AUTH), which HELO cannot give.  A
    refusal to both is raised as smtplib raises a refused greeting."""
    code, text = smtp.ehlo()
    if 200 <= code < 300:
        return
    if not 500 <= code < 600:  # 4xx (421 closing, 451 try later) or no SMTP reply: as for a greeting
        raise smtplib.SMTPResponseException(code, text)
    if needs is not None:
        raise TransportBroken(
            f"SMTP server {where} refused EHLO ({_reply(code, text)}), without which it offers no {needs}"
        )
    log.debug("SMTP server %s refused EHLO (%s); greeting with HELO", where, _reply(code, text))
    code, text = smtp.helo()
    if not 200 <= code < 300:
        raise smtplib.SMTPResponseException(code, text)


#: A server that answered in plain SMTP and offers no STARTTLS: it speaks no
#: implicit TLS either (it said "set security: ssl or none", and ssl then
#: failed its handshake, as with `python -m aiosmtpd` tried locally).
_NO_TLS = ("it speaks plain SMTP and offers no TLS: set security: none for a relay on this machine or a trusted "
           "network (the mail then goes unencrypted), or the port that offers STARTTLS, usually 587")

#: getaddrinfo's "No address associated with hostname" (glibc's, not in every
#: libc): like EAI_NONAME, a name that does not exist, not a DNS server that
#: did not answer (EAI_AGAIN), which no setting mends.
_EAI_NODATA = getattr(socket, "EAI_NODATA", socket.EAI_NONAME)

#: Why a plain session (``security: none``) failed at a server that offers STARTTLS.
_WANTS_TLS = "the server offers STARTTLS and wants it first: set security: starttls"


def _login_hint(variable: str | None, password: str | None, host: str | None = None) -> str:
    """What to check after a refused login: a password copied with a space at
    an end (an env file's ``SMTP_PASSWORD=secret ``) is sent with it, and the
    right password reads as a wrong one; at Gmail, which password it takes."""
    if password is not None and password != password.strip():
        return (f"{variable} starts or ends with a space, which is sent as part of the password: set it without one "
                "(not shown: it is the secret)")
    if host is not None and host.casefold() in GMAIL_HOSTS:
        return f"check delivery.username and the password in {variable}; {GMAIL_PASSWORD}"
    return f"check delivery.username and the password in {variable}; many providers want an app password"


def _reply(code: int, text: bytes | str) -> str:
    """A server's reply as a message quotes it: one line, printable.  Its
    text goes to the terminal, the log and the state (``schedule`` and
    ``history`` show it): a control character in it (an escape sequence
    clearing the screen or recolouring what follows, a bell) reached each of
    them as the server sent it."""
    return f"{code} {_printable(text)}"


def _printable(text: bytes | str) -> str:
    """``text`` (a server's, bytes read as UTF-8) on one line, its runs of
    white space one space and every other character that does not print a
    ``?``."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return "".join(c if c.isprintable() else "?" for c in " ".join(text.split()))


class _Dropped(Exception):
    """The server closed the session under us (before or while sending);
    ``step`` is the command whose answer it ended, when known."""

    def __init__(self, step: str | None = None) -> None:
        super().__init__(step)
        self.step = step


#: The steps (see :func:`_at`) whose answers come before any of the message's data is sent.
_BEFORE_DATA = ("MAIL FROM", "RCPT TO", "DATA")
#: The step of a message's data going out (:func:`_end_data`): a session that
#: ends or stalls under it never carried the data's end, so the server cannot
#: have taken the message.  A server that stopped reading in the middle of a
#: message was said to be silent ("no answer within 30 s") and to have
#: perhaps taken it: the digest went again with the next run flagged as
#: perhaps delivered, and the others of the batch were not tried.
_SENDING_DATA = "the message's data, as it went out"

#: The ways a session ends under a command (smtplib's word, a reset, a broken pipe).
_ENDED = (smtplib.SMTPServerDisconnected, ConnectionResetError, BrokenPipeError)


@contextmanager
def _at(step: str) -> Iterator[None]:
    """Marks a session ending under ``step`` (``MAIL FROM``, ``RCPT TO``...) with
    it: 'closed the connection' alone did not say a server drops every session
    at MAIL FROM (a sender its policy refuses without a word)."""
    try:
        yield
    except _ENDED as exc:
        if getattr(exc, "smtp_step", None) is None:
            setattr(exc, "smtp_step", step)  # noqa: B010 (an attribute of our own on smtplib's exception)
        raise


class _Unanswered(Exception):
    """The connection ended after the end of a message's data went out, before
    the server's reply: it may have taken the message (RFC 5321 6.1).
    ``how``: what ended it ("closed", "reset")."""

    def __init__(self, how: str = "closed") -> None:
        super().__init__(how)
        self.how = how


class _DataUnread(ConnectionResetError):
    """The server closed the connection (its end came first) and then reset it,
    as its kernel answers data that reached a socket already closed: the
    server never read the end of the message (see :func:`_reset_after_end`)."""


#: A reply line that another line follows (``250-SIZE 10240000``): RFC 5321's ``Reply-code "-" [ textstring ]``.
_CONTINUED_LINE = re.compile(rb"[2-5][0-9][0-9]-")


class _ReplyLines(io.BufferedReader):
    """A session's reply lines, where a line of a reply that goes on past
    smtplib's 8,192 bytes (a mail server's EHLO listing one extension with a
    parameter that long) is cut there, the rest of it read and dropped:
    smtplib failed the session on it as 'a line over 8,192 bytes', and a
    server that greeted and would take the mail was said not to speak SMTP.
    Such a line's text is no verdict (the reply's last line says that) and
    an extension over 8 KB is none this program uses.  A last line, or a
    line that is no SMTP reply (another protocol's), still fails as before;
    the tail dropped is read under the reply's deadline, so an endless line
    ends the session all the same."""

    def readline(self, size: int | None = -1) -> bytes:
        line = super().readline(size)
        if size is None or size <= 0 or len(line) < size or line.endswith(b"\n") \
                or not _CONTINUED_LINE.match(line):
            return line
        tail = line
        while tail and not tail.endswith(b"\n"):
            tail = super().readline(size)
        return line[: size - 3] + b"\r\n"


class _ReplyDeadline(io.RawIOBase):
    """The socket under an SMTP session's replies, read so that a whole reply
    must come within the session's timeout: the socket's own timeout is per
    read, so a server dripping its greeting or a reply a byte a second (a
    tarpit, a hostile or broken server) held ``send`` for hours."""

    def __init__(self, smtp: _Deadlined) -> None:
        self.smtp = smtp

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while self.smtp.sock is not None:
            try:
                read = self._read(self.smtp.sock, buffer)
            except TimeoutError:
                if not self.smtp.wait_on():
                    raise
                continue
            if not read and self.smtp.verdict_by is not None and (error := _reset_after_end(self.smtp.sock)):
                raise _DataUnread(error, "the server closed the connection with the message's data unread")
            return read
        return 0

    def _read(self, sock: socket.socket, buffer) -> int:
        timeout = self.smtp.timeout
        if self.smtp.fresh:
            # A reply's first read: the socket's own timeout is its deadline
            # still; most replies come whole in it, with no settimeout calls
            # (two per read, for every reply of a big send).
            self.smtp.fresh = False
            return sock.recv_into(buffer)
        left = self.smtp.reply_by - time.monotonic()
        if left <= 0:
            raise TimeoutError("timed out")
        sock.settimeout(min(left, timeout) if isinstance(timeout, (int, float)) else left)
        try:
            return sock.recv_into(buffer)
        finally:
            sock.settimeout(timeout if isinstance(timeout, (int, float)) else None)


#: How long a connection that ended, cleanly, where the verdict on a message's
#: data was due is watched for the reset that says the server never read that
#: data (seconds): data sent to a socket its server has closed is answered by
#: the server's kernel with a reset, within a round trip.
RESET_WITHIN = 0.25


def _reset_after_end(sock: socket.socket) -> int:
    """The error (EPIPE, ECONNRESET) the server's reset left on ``sock``, or 0.

    A server that closed the session right after its ``354`` (one closing
    after each message, answering the next message's pipelined commands
    first) never read our data: its kernel resets the connection.  One that
    read the whole message and closed without a verdict sends no reset: it
    may have taken the message."""
    deadline = time.monotonic() + RESET_WITHIN
    while True:
        try:
            error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        except OSError:
            return 0
        if error or time.monotonic() >= deadline:
            return error
        time.sleep(0.01)


#: The slowest a message's data may go out on average (bytes a second) once
#: ``timeout`` has passed: a link that slow still carries a 100 KB digest in
#: under two minutes, and a server that reads a byte now and then (a tarpit)
#: cannot hold the send for hours.
DATA_RATE_FLOOR = 1000
#: Data up to this size is handed to the socket in one call (a command, a
#: small message): only bigger data is watched for progress.
_SENT_AT_ONCE = 64 * 1024
#: The most handed to the socket in one call while progress is watched: one
#: TLS record.  A TLS socket's ``send`` writes all it is given under one
#: deadline (OpenSSL, no partial writes) and, timed out, says no byte went
#: out: the whole digest in one call made the timeout bound all of it again
#: over STARTTLS (the default), and its error said "0 of its N bytes out".
_SENT_IN_ONE = 16 * 1024


@dataclass
class _DataMoved:
    """How a message's data went out, when it did not all go: ``sent`` of
    ``total`` bytes in ``seconds``; ``stalled``: none moved for a whole
    ``timeout`` (a server that stopped reading), else it kept moving but
    under :data:`DATA_RATE_FLOOR` (a slow link, or a throttling server)."""

    sent: int
    total: int
    seconds: float
    stalled: bool


#: What an SMTP reply line over smtplib's 8,192 bytes is called (smtplib said "500 Line too long."
#: as if the server had: a refusal of the message that may have been taken).
_OVERLONG = "a line over 8,192 bytes"


class _Deadlined(smtplib.SMTP):
    """smtplib's session with a deadline for each whole reply (see
    :class:`_ReplyDeadline`), and a reply line too long for smtplib named as
    no reply (code -1, as smtplib names a line without a code)."""

    reply_by = 0.0
    fresh = False  # the reply being read has not read the socket yet, whose timeout is its own
    #: Set by the session: how long a verdict on a message may take, whether
    #: the send is stopping, and the recipient (for the log line).
    verdict_within = VERDICT_WITHIN
    stop: Callable[[], object] | None = None
    where = recipient = "?"
    verdict_next = False  # the next reply is the verdict on a message's data (see _end_data)
    verdict_by: float | None = None  # while reading a verdict: when it is given up
    verdict_stopped = False  # the wait for a verdict ended because the send is stopping
    verdict_waited = False  # the verdict has taken longer than ``timeout`` (said once)
    moved: _DataMoved | None = None  # how the last data that did not all go out went (see send)
    refused: tuple[int, bytes] | None = None  # the refusal a server gave, then closed, as the data went out
    _host = ""  # (smtplib's: the server's name, for TLS)

    def send(self, s):
        """smtplib's ``send``, where data bigger than :data:`_SENT_AT_ONCE`
        goes out with ``timeout`` as the longest wait for any progress, not
        for the whole: ``sendall``'s timeout bounds all of it (since Python
        3.5), so a big digest over a slow link whose bytes kept moving was
        given up as a server that "stopped reading".  It stops at a whole
        ``timeout`` with nothing taken, or when the average falls under
        :data:`DATA_RATE_FLOOR`; :attr:`moved` says which."""
        sock, timeout = self.sock, self.timeout
        if sock is None or not isinstance(s, bytes) or len(s) <= _SENT_AT_ONCE or not isinstance(
                timeout, (int, float)):
            return super().send(s)
        self.moved = None  # (set on a timeout; the QUIT of the session's close keeps it)
        view, total, sent = memoryview(s), len(s), 0
        # (a plain socket's send takes what fits and says so: whole, it keeps the kernel's
        # buffers full, which slices of 16 KB did not -- a 8 MB digest went 16 times slower)
        step = _SENT_IN_ONE if isinstance(sock, ssl.SSLSocket) else total
        start = time.monotonic()
        deadline = start + timeout + total / DATA_RATE_FLOOR
        waits = timeout
        try:
            while sent < total:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("timed out")
                if left < waits:
                    waits = left
                    sock.settimeout(waits)
                sent += sock.send(view[sent:sent + step])
        except OSError as exc:
            if isinstance(exc, TimeoutError):
                self.moved = _DataMoved(sent, total, time.monotonic() - start, stalled=waits >= timeout)
            else:
                self.refused = _refusal_left(sock)
            self.close()
            raise smtplib.SMTPServerDisconnected("Server not connected") from exc
        finally:
            if waits != timeout and self.sock is not None:
                sock.settimeout(timeout)

    def getreply(self):
        if self.file is None and self.sock is not None:  # (a new connection, or the switch to TLS)
            self.file = _ReplyLines(_ReplyDeadline(self))
        timeout = self.timeout if isinstance(self.timeout, (int, float)) else 60.0
        now = time.monotonic()
        self.reply_by = now + timeout
        self.verdict_by = now + max(timeout, self.verdict_within) if self.verdict_next else None
        self.verdict_next = self.verdict_stopped = self.verdict_waited = False
        self.fresh = isinstance(self.timeout, (int, float))
        try:
            return super().getreply()
        except smtplib.SMTPResponseException as exc:
            if exc.smtp_code == 500 and exc.smtp_error == "Line too long.":  # smtplib's words, not the server's
                raise smtplib.SMTPResponseException(-1, _OVERLONG.encode()) from None
            raise

    def wait_on(self) -> bool:
        """A reply's ``timeout`` has passed: whether to read on.  Only the
        verdict on a message's data waits longer, up to ``verdict_by``, in
        steps that look whether the send is stopping: a stop then leaves
        the message uncertain rather than holding SIGTERM for minutes."""
        if self.verdict_by is None:
            return False
        if self.stop is not None and self.stop():
            self.verdict_stopped = True
            return False
        now = time.monotonic()
        if now >= self.verdict_by:
            return False
        if not self.verdict_waited:
            self.verdict_waited = True
            log.info("SMTP server %s has not given its verdict on the message to %s within %g s; waiting up to "
                     "%g s for it (RFC 5321)", self.where, self.recipient, self.timeout,
                     max(self.timeout, self.verdict_within))
        self.reply_by = min(self.verdict_by, now + STOP_LOOKED_FOR_EVERY)
        self.fresh = False
        return True

    def _get_socket(self, host, port, timeout):
        return _connect(host, port, timeout, self.source_address, self.stop)


def _refusal_left(sock: socket.socket) -> tuple[int, bytes] | None:
    """The refusal (code, text: as ``getreply`` gives them) a server sent
    before it closed the connection under a message's data going out, read
    from what ``sock`` holds now, or None.  A server refusing a message once
    it has read part of it (too big for it: "552 5.3.4 Message too big")
    says so and closes: the data then meets a reset, and the refusal, which
    came first, was dropped with the session; the digest was sent whole
    again in new sessions, each time meeting the same, and said only
    "closed the connection while the message's data went out"."""
    got = b""
    try:
        sock.settimeout(0.0)  # (what came before the reset is here already: no wait)
        while len(got) < 65536 and (chunk := sock.recv(65536 - len(got))):
            got += chunk
    except (OSError, ValueError):
        pass
    texts = []
    for line in got.split(b"\n"):
        code, more, text = line[:3], line[3:4], line[4:].strip(b" \t\r")
        if not (code.isdigit() and more in (b"-", b" ", b"\r", b"")):
            return None
        texts.append(text)
        if more != b"-":
            return (int(code), b"\n".join(texts)) if _is_refusal(int(code)) else None
    return None


class _DeadlinedSSL(_Deadlined, smtplib.SMTP_SSL):
    """:class:`_Deadlined` over implicit TLS."""

    def _get_socket(self, host, port, timeout):
        sock = _connect(host, port, timeout, self.source_address, self.stop)
        return self.context.wrap_socket(sock, server_hostname=self._host)


#: This machine's name as EHLO gives it, once found (see :func:`_ehlo_name`).
#: A lookup answered from /etc/hosts takes a millisecond; this only bounds one
#: whose DNS server does not answer.
OWN_NAME_WITHIN = 5.0
_our_name: list[str] = []
_our_name_lock = threading.Lock()


def _ehlo_name(sock: socket.socket, timeout: float | None) -> str:
    """The name EHLO gives: this machine's full name, as smtplib gives it,
    or, when the lookup of that name does not answer within ``timeout``, the
    connection's own address as an address literal (RFC 5321 4.1.3).
    smtplib looked the name up at every session it opened, with no timeout:
    a DNS server that does not answer held each one for as long as the
    resolver kept asking.  Looked up once per process, within
    :data:`OWN_NAME_WITHIN` (or ``timeout``, if shorter)."""
    with _our_name_lock:
        if not _our_name:
            try:
                found = within(_own_full_name, min(timeout or OWN_NAME_WITHIN, OWN_NAME_WITHIN), None)
            except OSError:
                found = None
            # (no dotted name, or none in time: the literal, as smtplib gives for the first)
            _our_name.append(found if isinstance(found, str) and "." in found else "")
        if _our_name[0]:
            return _our_name[0]
    address = sock.getsockname()[0]
    return f"[IPv6:{address}]" if ":" in address else f"[{address}]"


def _own_full_name() -> str:
    """``socket.getfqdn()``, with this machine's name handed to its lookup
    as :func:`~newsletter.retrying.idna_encoded` gives it: ``gethostbyaddr``
    encodes a str name with the ``idna`` codec, whose first use imports it
    (about a millisecond in each send worker); the name found is the same."""
    found = socket.getfqdn(idna_encoded(socket.gethostname()))  # type: ignore[arg-type]  # (bytes work: strip, lookup)
    return found.decode("ascii") if isinstance(found, bytes) else found  # (no lookup: the name as given)


class _LookupTimedOut(TimeoutError):
    """The server's name was not looked up within the session's timeout."""


def _looked_up(host: str, port: int, timeout: float | None, stop: Callable[[], object] | None) -> list:
    """The addresses of ``host``, looked up within ``timeout``: the system's
    lookup has no timeout of its own (neither the socket's nor smtplib's
    bounds it), so a DNS server that does not answer held ``send`` for as
    long as the resolver kept asking, and SIGTERM with it.  The lookup runs
    in a thread of its own, left behind when the deadline passes."""
    found = addresses(host, port, timeout, stop)
    if found is None:
        raise _LookupTimedOut("timed out")
    return found


def _connect(host: str, port: int, timeout: float | None, source: Any,
             stop: Callable[[], object] | None) -> socket.socket:
    """``socket.create_connection`` with the name's lookup bounded (see
    :func:`_looked_up`): each address in turn, the first error raised."""
    errors: list[OSError] = []
    for family, kind, proto, _, address in _looked_up(host, port, timeout, stop):
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            if source:
                sock.bind(source)
            sock.connect(address)
            return sock
        except OSError as exc:
            sock.close()
            errors.append(exc)
    raise errors[0] if errors else OSError(f"no address for {host!r}")


class SMTPSession:
    """One SMTP connection, opened ahead by :meth:`open` (see :meth:`Dispatcher.open_sessions`) or on
    first use, and re-opened when the server drops it."""

    def __init__(self, transport: SMTPTransport, stop: Callable[[], object] | None = None) -> None:
        self.t = transport
        self.stop = stop  # true once the send is stopping: a long wait for a verdict ends
        self.smtp: smtplib.SMTP | None = None
        #: The envelope whose MAIL, RCPT and DATA went out with the previous
        #: message's end of data: their replies are the next ones to read.
        self.primed: Envelope | None = None
        #: What :meth:`open` met, for the first :meth:`send` to raise as its own.
        self.failed: Exception | None = None

    def open(self) -> None:
        if self.smtp is not None or self.failed is not None:
            return
        try:
            self.smtp = self._open()
        except Exception as exc:  # noqa: BLE001 -- kept for the first send, which raises it as its own
            self.failed = exc

    def _connect(self, where: str) -> _Deadlined:
        """A session greeted by the server (smtplib's constructor, with the
        stop known to the name's lookup and the EHLO name found without an
        unbounded lookup of our own name: see :func:`_ehlo_name`)."""
        t = self.t
        smtp = (_DeadlinedSSL(timeout=t.timeout, context=t.context, local_hostname="localhost")
                if t.security == "ssl" else _Deadlined(timeout=t.timeout, local_hostname="localhost"))
        smtp.verdict_within, smtp.stop, smtp.where = t.verdict_timeout, self.stop, where
        smtp._host = t.host  # (the TLS server name: smtplib sets it in its constructor only)
        try:
            code, text = smtp.connect(t.host, t.port)
            if code != 220:
                raise smtplib.SMTPConnectError(code, text)
            smtp.local_hostname = t.local_hostname or _ehlo_name(cast(socket.socket, smtp.sock), t.timeout)
        except BaseException:
            _close(smtp)
            raise
        return smtp

    def _open(self) -> smtplib.SMTP:
        t = self.t
        where = f"{t.host}:{t.port}"
        smtp: smtplib.SMTP | None = None
        handshake = False  # in the TLS handshake after STARTTLS
        step = "EHLO"  # the command whose answer the session waits for, once greeted
        try:
            smtp = self._connect(where)
            _nodelay(smtp.sock)
            _greet(smtp, where, "STARTTLS" if t.security == "starttls" else "AUTH" if t.logs_in else None)
            if t.security == "starttls":
                if not smtp.has_extn("starttls"):
                    raise TransportBroken(f"{t.at('security')}SMTP server {where} does not offer STARTTLS ({_NO_TLS})")
                step, handshake = "STARTTLS", True
                smtp.starttls(context=t.context)
                step, handshake = "EHLO", False
                _greet(smtp, where, "AUTH" if t.logs_in else None)
            step = "AUTH"
            if t.logs_in and t.password is not None:
                if not smtp.has_extn("auth"):
                    if t.security == "none" and smtp.has_extn("starttls"):  # AUTH only under TLS (port 587)
                        raise TransportBroken(
                            f"{t.at('security')}SMTP server {where} does not offer AUTH on a plain connection "
                            f"({_WANTS_TLS})"
                        )
                    raise TransportBroken(
                        f"{t.at('security')}SMTP server {where} does not offer AUTH (is security: none intended?)"
                    )
                _check_mechanisms(smtp, where)
                try:
                    smtp.login(t.username or "", t.password)
                except UnicodeError:  # its text holds the password: never shown
                    raise TransportBroken(f"SMTP login to {where} failed: non-ASCII username or password") from None
                except binascii.Error:  # (smtplib decodes each 334 challenge; "Incorrect padding" said nothing)
                    raise TransportBroken(
                        f"SMTP server {where} answered AUTH with a challenge that is not base64 (RFC 4954): is a proxy "
                        "or another service in the way?") from None
                except smtplib.SMTPException as exc:
                    if type(exc) is not smtplib.SMTPException or "infinite loop" not in str(exc):
                        raise
                    # (challenge after challenge: it read "cannot connect to SMTP server ...", and was retried)
                    raise TransportBroken(
                        f"SMTP server {where} answered AUTH with challenge after challenge (334), never accepting or "
                        "refusing the login (RFC 4954): is a proxy or another service in the way?") from None
            return smtp
        except smtplib.SMTPAuthenticationError as exc:
            _close(smtp)
            if not _is_refusal(exc.smtp_code):  # ("250 ok" or no reply code: smtplib calls any but 235 a refusal)
                reply = _reply(exc.smtp_code, exc.smtp_error)
                said = (f"with {reply!r}, which is no answer to it" if _is_reply(exc.smtp_code)
                        else f"with no SMTP reply (its line {reply!r})")
                raise TransportBroken(f"SMTP server {where} answered AUTH {said}: is a proxy or another service in "
                                      "the way?") from None
            if 400 <= exc.smtp_code < 500:  # "454 4.7.0 Temporary authentication failure": the password may be right
                raise Unreachable(f"SMTP server {where} could not check the login for {t.username!r} now: "
                                  f"{_reply(exc.smtp_code, exc.smtp_error)}") from None
            raise TransportBroken(
                f"{t.at('username')}SMTP server {where} rejected the login for {t.username!r}: "
                f"{_reply(exc.smtp_code, exc.smtp_error)} "
                f"({_login_hint(t.password_env, t.password, t.host)})"
            ) from None
        except ssl.SSLError as exc:
            _close(smtp)
            why, setting = exc.reason or str(exc), ""
            if (refused := handshake_refused(exc)) is not None:
                raise TransportBroken(f"TLS with {where} failed: {refused[0]}") from None
            if isinstance(exc, ssl.SSLCertVerificationError) and exc.verify_message:
                why = f"{why} ({exc.verify_message}; {t.certificate_remedy(exc)})"
                setting = {"name": t.at("host"), "issuer": t.at("ca_file")}.get(certificate_fault(exc) or "", "")
            elif exc.reason == "WRONG_VERSION_NUMBER":  # a plain-text answer to our TLS hello
                why = (f"{why} (the server answered without TLS: security: ssl is for a port such as 465; "
                       "for 587 or 25 use starttls)") if t.security == "ssl" else f"{why} (the server's answer was not TLS)"
                setting = t.at("security") if t.security == "ssl" else ""
            raise TransportBroken(f"{setting}TLS with {where} failed: {why}") from None
        except TransportBroken:
            _close(smtp)
            raise
        except smtplib.SMTPResponseException as exc:
            _close(smtp)
            if exc.smtp_code == -1:  # smtplib's code for a line that does not start with one
                said = _reply(-1, exc.smtp_error).removeprefix("-1 ")
                line = _OVERLONG if said == _OVERLONG else f"its first line ended {said!r}"
                raise TransportBroken(
                    f"{t.at('port')}SMTP server {where} does not speak SMTP ({line}): "
                    "is this port the mail server's (587 for starttls, 465 for ssl)?"
                ) from None
            what = "STARTTLS" if step == "STARTTLS" else "the session"  # "454 4.7.0 TLS not available"
            if 400 <= exc.smtp_code < 500:
                raise Unreachable(f"SMTP server {where} refused {what}: {_reply(exc.smtp_code, exc.smtp_error)}") from None
            raise TransportBroken(f"SMTP server {where} refused {what}: {_reply(exc.smtp_code, exc.smtp_error)}") from None
        except _LookupTimedOut:
            if self.stop is not None and self.stop():
                raise Unreachable(f"cannot connect to SMTP server {where}: the send stopped while its name was "
                                  "looked up") from None
            raise Unreachable(
                f"cannot connect to SMTP server {where}: its name was not looked up within {t.timeout:g} s "
                "(delivery.timeout): a DNS server that does not answer, or no network?"
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            _close(smtp)
            if handshake and isinstance(exc, TimeoutError):
                # "220 Ready to start TLS", then nothing (a middlebox eating the handshake): it
                # read "cannot connect", of a server that had answered three commands
                raise Unreachable(f"SMTP server {where} took STARTTLS but did not complete the TLS handshake "
                                  f"within {t.timeout:g} s") from None
            if isinstance(exc, smtplib.SMTPServerDisconnected) and _timed_out(exc):  # connected, then silence
                if t.port == IMPLICIT_TLS_PORT and t.security != "ssl" and smtp is None:
                    # no greeting (smtplib reads it when connecting): the server waits for
                    # our TLS handshake, and no retry brings one
                    raise TransportBroken(
                        f"{t.at('security')}SMTP server {where} did not answer within {t.timeout:g} s (its greeting): "
                        f"port {IMPLICIT_TLS_PORT} is for implicit TLS, whose server waits for the TLS handshake first: "
                        "set security: ssl"
                    ) from None
                if t.security != "ssl" and smtp is None and speaks_tls(t.host, t.port, min(t.timeout, 5.0)):
                    raise TransportBroken(
                        f"{t.at('security')}SMTP server {where} did not answer within {t.timeout:g} s (its greeting): "
                        f"it waits for a TLS handshake first (implicit TLS, as on port {IMPLICIT_TLS_PORT}): set security: ssl"
                    ) from None
                if smtp is None and speaks_http(t.host, t.port, min(t.timeout, 5.0)):
                    raise TransportBroken(
                        f"{t.at('port')}SMTP server {where} did not answer within {t.timeout:g} s (its greeting): "
                        "a web server listens there (it answers HTTP), not a mail server: check delivery.port (a relay's is "
                        "usually 587, 465 or 25; a local mail catcher's 1025)"
                    ) from None
                if step == "AUTH" and smtp is not None:
                    # it had greeted and answered EHLO: "its greeting or EHLO" sent the reader
                    # looking at the network, of a server that went silent on the login
                    raise Unreachable(
                        f"SMTP server {where} did not answer the login (AUTH) within {t.timeout:g} s, having answered "
                        "EHLO: a server that holds back its answer to a wrong username or password, or one overloaded"
                    ) from None
                raise Unreachable(
                    f"SMTP server {where} did not answer within {t.timeout:g} s (its greeting or EHLO)"
                ) from None
            # (a reset: an OSError; under implicit TLS, one before the session exists is in the handshake:
            # a reset while reading the greeting reaches here as SMTPServerDisconnected)
            in_tls = handshake or (t.security == "ssl" and smtp is None)
            if in_tls and (refused := handshake_refused(exc)) is not None:
                raise Unreachable(f"TLS with {where} failed: {refused[0]}") from None
            if isinstance(exc, smtplib.SMTPServerDisconnected):  # connected, then closed: no connection problem
                said = f"in answer to {step}" if smtp is not None else "before its greeting"
                raise Unreachable(f"SMTP server {where} closed the connection {said}") from None
            nothing_there = isinstance(exc, ConnectionRefusedError)
            nobody = " (nothing listens there: check delivery.host and delivery.port, or start the server)" \
                if nothing_there else ""
            no_such_host = isinstance(exc, socket.gaierror) and exc.errno in (socket.EAI_NONAME, _EAI_NODATA)
            setting = t.at("port") if nothing_there else t.at("host") if no_such_host else ""
            raise Unreachable(f"{setting}cannot connect to SMTP server {where}: {_os_error(exc)}{nobody}") from None
        except BaseException:  # (an unexpected error fails one message: its half-open session must not stay open)
            _close(smtp)
            raise

    def send(self, envelope: Envelope, then: Envelope | None = None) -> None:
        data = envelope.data()
        if self.primed is not None and self.primed is not envelope:
            self.close()  # the server waits for another message's data: start afresh
        # (a session opened ahead counts as reused: a server that dropped it while it
        # waited for its first message gets a fresh one, as after an idle wait between two)
        reused = self.smtp is not None
        if not reused:
            failed, self.failed = self.failed, None
            if failed is not None:
                raise failed  # (the try open() made: not a second wait for the same server)
            self.smtp = self._open()
        try:
            self._send(envelope, data, then)
            return
        except _Dropped as exc:
            self.close()
            if not reused:
                raise self._dropped(exc) from None
        except ServiceClosing:
            if not reused:
                raise
        # Servers close idle or long-lived sessions, or end one that has carried its
        # share ("421 4.7.0 Too many messages for this connection"): a reused one gets
        # a fresh session at once; a 421 to that one is the server's busy signal.
        log.debug("SMTP session to %s:%s was dropped or closed; reconnecting", self.t.host, self.t.port)
        self.smtp = self._open()
        try:
            self._send(envelope, data, then)
        except _Dropped as exc:
            self.close()
            raise self._dropped(exc) from None

    def _dropped(self, exc: _Dropped) -> TransientDeliveryError:
        said = f" in answer to {exc.step}" if exc.step else ""
        if exc.step == _SENDING_DATA:
            said = " while the message's data went out (its end never did: the server did not take it)"
        return TransientDeliveryError(f"SMTP server {self.t.host}:{self.t.port} closed the connection{said}")

    def _send(self, envelope: Envelope, data: bytes, then: Envelope | None) -> None:
        rcpt = envelope.recipient
        smtp = self.smtp
        assert smtp is not None, "send() opens the session first"
        primed, self.primed = self.primed is envelope, None
        if isinstance(smtp, _Deadlined):
            smtp.recipient = rcpt
        limit = _size_limit(smtp)
        if limit and len(data) > limit and not primed:
            raise TooBig(f"message to {rcpt} not sent: over the size SMTP server {self.t.host}:{self.t.port} "
                         f"advertises (EHLO's SIZE; RFC 1870){_too_big(data, smtp)}")
        if then is not None and limit and len(then.data()) > limit:
            then = None  # (refused above when its turn comes, its MAIL FROM never sent)
        try:
            if smtp.has_extn("pipelining"):

                def prime() -> None:
                    self.primed = then

                _pipelined_sendmail(
                    smtp, envelope.sender, rcpt, data, dot_safe=envelope.dot_safe, primed=primed, then=then, on_primed=prime
                )
            else:
                _sendmail(smtp, envelope.sender, rcpt, data, dot_safe=envelope.dot_safe)
        except _Unanswered as exc:
            self.close()
            raise Unconfirmed(
                f"SMTP server {self.t.host}:{self.t.port} {exc.how} the connection after the message to {rcpt}, "
                f"before confirming it; it may have taken the message, {NOT_RESENT}"
            ) from None
        except _ENDED as exc:
            if _timed_out(exc):
                self.close()
                raise self._timed_out(rcpt, smtp, getattr(exc, "smtp_step", None)) from None
            raise _Dropped(getattr(exc, "smtp_step", None)) from None
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = exc.recipients.get(rcpt, (0, b"refused"))
            self._refused("RCPT", code, text, envelope, data, smtp)
        except smtplib.SMTPSenderRefused as exc:
            self._refused("MAIL", exc.smtp_code, exc.smtp_error, envelope, data, smtp)
        except smtplib.SMTPResponseException as exc:
            self._refused("DATA", exc.smtp_code, exc.smtp_error, envelope, data, smtp)
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            if _timed_out(exc):
                raise self._timed_out(rcpt, smtp) from None
            raise TransientDeliveryError(f"sending to {rcpt} failed: {_os_error(exc)}") from None

    def _refused(self, step: str, code: int, text: bytes | str, envelope: Envelope, data: bytes,
                 smtp: smtplib.SMTP) -> NoReturn:
        """Raise what the refusal ``code`` ``text`` of ``step`` (MAIL, RCPT or
        DATA: the data's verdict too) is, by what it is about
        (:func:`refusals.classify`).  Only a refusal of the address is a
        :class:`PermanentDeliveryError` (5xx), which three runs of hold the
        digest; the others say what mends them and hold nothing."""
        rcpt, sender = envelope.recipient, envelope.sender
        answering, what = {
            "MAIL": (f"MAIL FROM {sender}", f"sender {sender} refused"),
            "RCPT": (f"RCPT TO {rcpt}", f"recipient {rcpt} refused"),
        }.get(step, (f"the message to {rcpt}", f"message to {rcpt} refused"))
        if not _is_refusal(code):
            raise self._garbled(answering, code, text)
        refusal = classify(code, text.decode(errors="replace") if isinstance(text, bytes) else text,
                           accepted=step not in ("MAIL", "RCPT"))
        about, reply, server = refusal.about, _reply(code, text), f"SMTP server {self.t.host}:{self.t.port}"
        if about is About.CLOSING:
            raise self._closing(answering, code, text)
        if about is About.LIMIT:
            raise SendingLimit(
                f"{server}: {what}: {reply} (the account has reached its sending limit, no fault of the address: no "
                "digest is held for it; a provider's daily limit lifts within a day: send to fewer subscribers a day, "
                "or through a service made for mailing lists)")
        if step == "MAIL":
            self._sender_refused(refusal, reply, envelope, data, smtp)
        if about is About.MAILBOX_FULL:
            raise MailboxFull(f"{what}: {reply} (the recipient's mailbox is full{LATER_SENDS})")
        if about is About.SPAM:
            raise _alike(refusal, RefusedAsSpam(
                f"{what}: {reply} (refused as spam, for the message or the sender's standing, no fault of the address"
                f"{LATER_SENDS})"))
        if about in (About.SENDER, About.CLIENT):
            # Postfix checks the sender, the client and its HELO at RCPT (smtpd_delay_reject):
            # "553 5.7.1 <digest@...>: Sender address rejected: not owned by user ..."
            hint = ("the sender's fault, not the address's, the same for every message: check email.from (an "
                    "address the login may send from) and the login" if about is About.SENDER else _CLIENT_HINT)
            raise TransportBroken(f"{self.t.at('from', 'email') if about is About.SENDER else ''}{server}: {what}: "
                                  f"{reply} ({hint})")
        if not refusal.permanent:
            raise TransientDeliveryError(f"{what}: {reply}")
        if about is About.SIZE:
            raise TooBig(f"message to {rcpt} refused for its size: {reply}{_too_big(data, smtp)}")
        if about is About.UNAUTHENTICATED:
            raise _alike(refusal, Unauthenticated(
                f"{self.t.at('from', 'email')}{what}: {reply} (the receiving server found the sender {sender} "
                "unauthenticated: publish SPF for the server you send through and sign with email.dkim, or send "
                f"through your domain's own server; no fault of the address{LATER_SENDS})"))
        if about is About.SERVER:
            raise _alike(refusal, ServerRefused(
                f"{what}: {reply} ({_status(refusal)}the receiving server's own trouble, no fault of the address"
                f"{LATER_SENDS})"))
        if about is About.CONTENT:
            said = "refused for the message's content" if refusal.status and refusal.status[1] == 6 else (
                f"refused after {rcpt} was accepted at RCPT TO: the message's refusal (its content, or the server's "
                "policy)")
            raise _alike(refusal, RefusedContent(f"{what}: {reply} ({_status(refusal)}{said}, no fault of the address"
                                                 f"{LATER_SENDS})"))
        if about is About.LOGIN:  # (at RCPT: "530 5.7.57 Client not authenticated to send mail", every message's)
            hint, setting = self._login_wanted(code, smtp)
            raise TransportBroken(f"{setting}{server}: {what}: {reply} ({hint})")
        if about is About.RELAY:
            raise _alike(refusal, RelayDenied(
                f"{what}: {reply} (the server does not relay for us: check username/password_env and security)"))
        raise PermanentDeliveryError(f"{what}: {reply}")

    def _sender_refused(self, refusal: Refusal, reply: str, envelope: Envelope, data: bytes,
                        smtp: smtplib.SMTP) -> NoReturn:
        """Raise for a refusal of MAIL FROM: it knows the sender and the
        message's size (RFC 1870's SIZE=n), nothing of the recipient, so a
        5xx is the same for every message (the batch stops: counted against
        each digest, it held them all) unless it refuses the size."""
        sender, about = envelope.sender, refusal.about
        if not refusal.permanent:
            raise TransientDeliveryError(f"sender {sender} refused: {reply}")
        if about in (About.SIZE, About.MAILBOX_FULL):
            # (SIZE=n on MAIL FROM, RFC 1870: its 552, "exceeded storage allocation", is the message's, not the
            # sender's; MAIL FROM knows no recipient's mailbox to be full)
            raise TooBig(f"message to {envelope.recipient} refused for its size at MAIL FROM: {reply}"
                         f"{_too_big(data, smtp)}")
        hint, setting = "check email.from and the login", self.t.at("from", "email")
        if about is About.CLIENT:
            hint, setting = _CLIENT_HINT, ""
        elif about is About.SERVER:
            hint, setting = f"{_status(refusal)}the receiving server's own trouble, the same for every message", ""
        elif about is About.UNAUTHENTICATED:
            hint = "publish SPF for the server you send through and sign with email.dkim"
        elif about is About.LOGIN:
            hint, setting = self._login_wanted(refusal.code, smtp)
        raise TransportBroken(f"{setting}SMTP server {self.t.host}:{self.t.port} refused the sender {sender}: {reply} "
                              f"({hint})")

    def _login_wanted(self, code: int, smtp: smtplib.SMTP) -> tuple[str, str]:
        """The hint and the setting's ``FILE:LINE: `` for a refusal asking for
        a login (530, 534, 535, 538, X.7.8...)."""
        if code == 530 and self.t.security == "none" and smtp.has_extn("starttls"):
            return _WANTS_TLS, self.t.at("security")  # "530 Must issue a STARTTLS command first"
        if not self.t.logs_in:  # "530 5.7.0 Authentication required"
            return "the server wants a login first: set delivery.username and delivery.password_env", self.t.at("username")
        return "check delivery.username and the password's variable", self.t.at("username")

    def _closing(self, answering: str, code: int, text: bytes | str) -> ServiceClosing:
        self.close()
        return ServiceClosing(
            f"SMTP server {self.t.host}:{self.t.port} is closing the session: {_reply(code, text)} "
            f"(its answer to {answering})"
        )

    def _garbled(self, answering: str, code: int, text: bytes | str) -> TransportBroken:
        """A line that is no SMTP reply (see :func:`_is_reply`), or a success
        that answers another command (``250`` to DATA, ``354`` to MAIL), where
        a command's answer was due and it was not the one that goes on: the
        server's or a proxy's fault, no recipient's, and the same for every
        message; each digest "failed permanently", and three runs held them all."""
        self.close()
        reply = _reply(code, text)
        if _is_reply(code):
            said = f"with {reply!r}, which is no answer to it"
        else:
            line = f"its line ended {reply.removeprefix('-1 ')!r}" if code == -1 else f"its line {reply!r}"
            said = f"with no SMTP reply ({_OVERLONG if reply == f'-1 {_OVERLONG}' else line})"
        return TransportBroken(
            f"SMTP server {self.t.host}:{self.t.port} answered {answering} {said}: is a proxy or another service in the way?"
        )

    def _timed_out(self, rcpt: str, smtp: smtplib.SMTP, step: str | None = None) -> TransientDeliveryError:
        """The wait for an answer ended: at ``timeout``, at the verdict's
        longer limit, or (waiting for a verdict) because the send is stopping.
        Under ``step`` MAIL FROM, RCPT TO or DATA, none of the message had
        gone out: it read 'it may have taken the message', the digest went
        again as it was, and the batch stopped.  A server silent at RCPT only
        (verifying that address with the recipient's own server) has answered
        MAIL: that message is retried and the others go on; one silent at
        MAIL or DATA is retried as an unreachable server."""
        where, left = f"SMTP server {self.t.host}:{self.t.port}", f"it may have taken the message, {NOT_RESENT}"
        if step == _SENDING_DATA:
            moved = smtp.moved if isinstance(smtp, _Deadlined) else None
            end = "its end never went out: the server did not take it"
            if moved is not None and not moved.stalled:
                return Unreachable(
                    f"{where} took the message to {rcpt} too slowly: {moved.sent:,} of its {moved.total:,} bytes went "
                    f"out in {moved.seconds:.0f} s, under {DATA_RATE_FLOOR:,} bytes a second (a slow link, or a server "
                    f"throttling it; {end})")
            out = f", {moved.sent:,} of its {moved.total:,} bytes out" if moved is not None else ""
            return Unreachable(f"{where} stopped reading the message to {rcpt}: its data stopped going out for "
                               f"{self.t.timeout:g} s{out} ({end})")
        if step in _BEFORE_DATA:
            kind = TransientDeliveryError if step == "RCPT TO" else Unreachable
            return kind(f"{where} timed out (no answer to {step} within {self.t.timeout:g} s) sending to {rcpt}; "
                        "none of the message was sent")
        if isinstance(smtp, _Deadlined) and smtp.verdict_by is not None:
            if smtp.verdict_stopped:
                return TimedOut(f"{where} had given no verdict on the message to {rcpt} when the send was stopped; {left}")
            return TimedOut(f"{where} timed out (no verdict on the message to {rcpt} within "
                            f"{self.t.verdict_timeout:g} s); {left}")
        return TimedOut(f"{where} timed out (no answer within {self.t.timeout:g} s) sending to {rcpt}; {left}")

    def close(self) -> None:
        smtp, self.smtp = self.smtp, None
        primed, self.primed = self.primed, None
        self.failed = None
        if smtp is not None and primed is not None:
            _close(smtp)  # the server waits for message data: QUIT would be read as data
        elif smtp is not None:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                _close(smtp)


def _is_refusal(code: int) -> bool:
    """Whether ``code`` refuses a command (4yz or 5yz); anything else where the
    expected answer did not come is :meth:`SMTPSession._garbled`."""
    return 400 <= code <= 599


def _is_reply(code: int) -> bool:
    """Whether ``code`` is an SMTP reply code (RFC 5321: 2yz to 5yz); smtplib
    gives -1 for a line that does not start with one."""
    return 200 <= code <= 599


_CLIENT_HINT = ("the server refuses this machine (its host name or address, or an unauthenticated client), not the "
                "address, the same for every message: log in (username, password_env) or send through another server")


D = TypeVar("D", bound=Deferred)


def _alike(refusal: Refusal, exc: D) -> D:
    """``exc``, marked as a refusal every message may get alike (see
    :attr:`Deferred.alike`): its kind and codes, not its words (Gmail's name
    each message)."""
    exc.alike = (type(exc).__name__, refusal.code, refusal.status)
    return exc


def _status(refusal: Refusal) -> str:
    """The refusal's enhanced code as RFC 3463 names it, for a hint."""
    return "RFC 3463's X.{}.{}: ".format(*refusal.status[1:]) if refusal.status else ""


def _size_limit(smtp: smtplib.SMTP) -> int | None:
    """The largest message the server takes, as its EHLO's SIZE says (RFC
    1870), or None: no SIZE, ``SIZE`` alone or ``SIZE 0`` (no fixed limit),
    or a value that is no number.  A message over it is not sent (RFC 1870:
    the client should not): a server that advertises a limit but does not
    hold MAIL FROM's ``SIZE=n`` to it took every byte of a digest it then
    refused, or cut short."""
    limit = smtp.esmtp_features.get("size", "").strip()
    # (ASCII digits only: "SIZE \xb2", read as Latin-1, is "²", a digit to isdigit() that int() refuses)
    return int(limit) if limit.isascii() and limit.isdigit() and int(limit) > 0 else None


def _too_big(data: bytes, smtp: smtplib.SMTP) -> str:
    """What makes a digest refused for its size smaller (retrying it as it is
    cannot help), with the limit the server advertised (EHLO's SIZE) when the
    digest is over it."""
    limit = _size_limit(smtp)
    most = f", the server takes at most {limit:,}" if limit is not None and limit < len(data) else ""
    return f" (the digest is {len(data):,} bytes{most}: lower max_papers or email.abstract_chars)"


def _envelope_commands(smtp: smtplib.SMTP, sender: str, rcpt: str, size: int) -> bytes:
    size_param = f" SIZE={size}" if smtp.has_extn("size") else ""
    return f"MAIL FROM:{_angled(sender)}{size_param}\r\nRCPT TO:{_angled(rcpt)}\r\nDATA\r\n".encode("ascii")


def _pipelined_sendmail(
    smtp: smtplib.SMTP,
    sender: str,
    rcpt: str,
    data: bytes,
    *,
    dot_safe: bool = False,
    primed: bool = False,
    then: Envelope | None = None,
    on_primed: Callable[[], None] | None = None,
) -> None:
    """``smtp.sendmail`` for one recipient with RFC 2920 PIPELINING; raises the
    same exceptions as ``sendmail``.

    MAIL, RCPT and DATA go out in one write (already sent when ``primed``),
    and the message's data in another, which also carries ``then``'s MAIL,
    RCPT and DATA (RFC 2920 3.1: message content may open a command group),
    so a run of messages costs one round trip each instead of two.
    ``on_primed`` is called once ``then``'s commands are on the wire.
    ``dot_safe``: no line of ``data`` starts with a dot (looking for one costs
    as much as stuffing it)."""
    with _at("MAIL FROM"):
        if not primed:
            smtp.send(_envelope_commands(smtp, sender, rcpt, len(data)))
        mail = smtp.getreply()
    with _at("RCPT TO"):
        to = smtp.getreply()
    with _at("DATA"):
        go = smtp.getreply()
    if go[0] == 354 and not (_done(mail[0]) and _done(to[0])):
        smtp.send(b".\r\n")  # the server wants data it will not deliver: end it empty
        smtp.getreply()
    if not (_done(mail[0]) and _done(to[0])) or go[0] != 354:
        _abandon(smtp, mail[0], to[0], go[0])
    if not _done(mail[0]):
        raise smtplib.SMTPSenderRefused(mail[0], mail[1], sender)
    if not _done(to[0]):
        raise smtplib.SMTPRecipientsRefused({rcpt: to})
    if go[0] != 354:
        raise smtplib.SMTPDataError(*go)
    more = b""
    if then is not None:
        more = _envelope_commands(smtp, then.sender, then.recipient, len(then.data()))
    # A primed message's 354 may be the last thing a server that closes after
    # each message said (it answers the commands that came with the previous
    # message's data, then closes before reading ours): the reset our data
    # meets tells it from a server that read the message (see _reset_after_end).
    with _at("the message's data"):
        code, text = _end_data(smtp, data, dot_safe, more, on_primed if then is not None else None)
    if not _done(code):
        # (with ``then``'s commands on the way, no RSET: the refused message's
        # transaction is over anyway, and RSET would end the next one)
        if code == 421 or then is None:
            _abandon(smtp, code)
        raise smtplib.SMTPDataError(code, text)


def _sendmail(smtp: smtplib.SMTP, sender: str, rcpt: str, data: bytes, *, dot_safe: bool = False) -> None:
    """``smtp.sendmail`` for one recipient, one command at a time (a server
    without PIPELINING); raises the same exceptions, and :class:`_Unanswered`
    when the connection ends after the end of the data, before the reply."""
    with _at("MAIL FROM"):
        code, text = smtp.mail(sender, [f"SIZE={len(data)}"] if smtp.has_extn("size") else [])
    if not _done(code):
        _abandon(smtp, code)
        raise smtplib.SMTPSenderRefused(code, text, sender)
    with _at("RCPT TO"):
        code, text = smtp.rcpt(rcpt)
    if not _done(code):
        _abandon(smtp, code)
        raise smtplib.SMTPRecipientsRefused({rcpt: (code, text)})
    with _at("DATA"):
        code, text = smtp.docmd("DATA")
    if code != 354:
        _abandon(smtp, code)
        raise smtplib.SMTPDataError(code, text)
    with _at("the message's data"):
        code, text = _end_data(smtp, data, dot_safe)
    if not _done(code):
        _abandon(smtp, code)
        raise smtplib.SMTPDataError(code, text)


def _done(code: int) -> bool:
    """Whether ``code`` says the command was done: any ``2yz`` (RFC 5321
    4.2.1 and 4.3.2: a client acts on the first digit), not only ``250``.
    A ``251`` or ``252`` to the message's data (a relay's "queued", a proxy's
    own code) was read as no answer to it: the batch stopped and the digest,
    which the server had taken, went again with the next run."""
    return 200 <= code < 300


def _abandon(smtp: smtplib.SMTP, *codes: int) -> None:
    """After a refusal (``codes``: the replies to the transaction's commands):
    a 421 among them closes the session, anything else resets it."""
    if 421 in codes:
        smtp.close()
        return
    try:
        smtp.rset()
    except smtplib.SMTPException:
        pass


def _end_data(
    smtp: smtplib.SMTP,
    data: bytes,
    dot_safe: bool,
    more: bytes = b"",
    on_sent: Callable[[], None] | None = None,
) -> tuple[int, bytes]:
    """Send a message's data, its end and ``more`` (the next message's
    commands, pipelined) and read the server's verdict on the message.

    A connection the server ends cleanly while we wait for that verdict is
    :class:`_Unanswered`: it had read the whole message and may have taken
    it, so the caller must not send it again at once (RFC 5321 6.1 warns of
    exactly this duplicate).  So is a reset once the verdict has taken
    longer than ``timeout``: the server read the message and is at work on it
    (a scan, a relay on), and what resets it then is the server aborting or
    a load balancer's or firewall's idle limit (AWS's NLB: 350 s), not data
    left unread; the message went again at once, arriving twice.  A reset
    within ``timeout`` (a server that closed with our data unread, see
    :func:`_reset_after_end`) or a timeout is raised as ``smtplib`` raises it."""
    body = data if dot_safe else _quote_periods(data)
    end = b".\r\n" if body.endswith(b"\r\n") else b"\r\n.\r\n"
    with _at(_SENDING_DATA):
        try:
            smtp.send(b"".join((body, end, more)))  # one copy of the message (body + end + more made two)
        except smtplib.SMTPServerDisconnected:
            if isinstance(smtp, _Deadlined) and (refused := smtp.refused) is not None:
                smtp.refused = None
                return refused  # (its verdict, given early: the end never went out, so it was not taken)
            raise
    if on_sent is not None:
        on_sent()
    if isinstance(smtp, _Deadlined):
        smtp.verdict_next = True  # it may take longer than other replies (see VERDICT_WITHIN)
    try:
        return smtp.getreply()
    except smtplib.SMTPServerDisconnected as exc:
        cause = exc.__context__
        if isinstance(cause, ConnectionResetError) and not isinstance(cause, _DataUnread) \
                and getattr(smtp, "verdict_waited", False):
            raise _Unanswered("reset") from exc  # (reset while the verdict was overdue: the message was read)
        if isinstance(cause, OSError):
            # A timeout (see _timed_out), or a reset: the server closed with
            # some of what we sent unread, as one that ends a session after
            # its 354 does; it did not take the message.
            raise
        raise _Unanswered from exc  # a clean end of the connection, with no verdict


_PLAIN_ADDRESS = re.compile(r"[^\s<>()\[\]\\,;:\"]+@[^\s<>()\[\]\\,;:\"]+")


def _angled(address: str) -> str:
    """``smtplib.quoteaddr`` without its full RFC 5322 parse for a plain
    ``local@domain`` (what the config allows), which is most of its cost."""
    if _PLAIN_ADDRESS.fullmatch(address):
        return f"<{address}>"
    return smtplib.quoteaddr(address)


def _nodelay(sock) -> None:
    """Small SMTP commands must not wait for Nagle's algorithm."""
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError):
        pass


def _close(smtp) -> None:
    if smtp is not None:
        try:
            smtp.close()
        except OSError:
            pass


def _timed_out(exc: BaseException) -> bool:
    """A socket timeout, or smtplib's "disconnected" wrapping one (it turns a
    read timeout into SMTPServerDisconnected)."""
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, (socket.timeout, TimeoutError)):
            return True
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
        seen += 1
    return False


def _os_error(exc: BaseException) -> str:
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


# --------------------------------------------------------------------------- dispatching


class RateLimit:
    """At most ``per_minute`` sends, evenly spaced, shared by all sessions."""

    def __init__(self, per_minute: int | None, sleep: Callable[[float], None], clock: Callable[[], float]) -> None:
        self.interval = 60.0 / per_minute if per_minute else 0.0
        self.sleep, self.clock = sleep, clock
        self.lock = threading.Lock()
        self.next: float | None = None

    def wait(self) -> None:
        if not self.interval:
            return
        with self.lock:
            now = self.clock()
            slot = now if self.next is None or self.next < now else self.next
            self.next = slot + self.interval
        if slot > now:
            self.sleep(slot - now)


_NOTHING = object()

#: What a delivery thread takes from the queue when it is to open its session
#: ahead of its first message (see :meth:`Dispatcher.open_sessions`).
_OPEN = object()


#: Why the envelopes left when ``on_outcome`` failed were not attempted.
STOPPED_ON_ERROR = "the send stopped on an error"


class _Backlog(queue.Queue):
    """The dispatcher's queue: a producer that finds it full waits until a
    quarter of it has been taken, then fills it again.  ``queue.Queue`` wakes
    a waiting producer at every item taken, so a planner ahead of its
    connections woke (and took the GIL from a delivery thread) once per
    message; now once per quarter queue, and holds the GIL for no longer
    than composing that many messages takes (about a millisecond: a
    delivery thread whose reply has come waits for it meanwhile)."""

    def __init__(self, maxsize: int) -> None:
        super().__init__(maxsize)
        self.low = maxsize - max(1, maxsize // 4)
        self.granted = 0  # sessions to open ahead, so far (see Dispatcher.open_sessions)
        self.opening = 0  # ... of them, not yet taken by a thread as :data:`_OPEN`
        self.pending = 0  # ... taken, being opened
        self.ready: list = []  # ... opened, not yet taken up by a thread with a message to send
        self.readied = threading.Condition(self.mutex)

    def open_sessions(self, most: int) -> None:
        """One more session to open ahead (``most`` in all): wake the waiting
        threads, one of which takes :data:`_OPEN`."""
        with self.not_empty:
            if self.granted < most:
                self.granted += 1
                self.opening += 1
                self.not_empty.notify_all()

    def opened(self, session) -> None:
        """A session opened ahead (None: none was, the send stopping) is ready
        for whichever thread first has a message and no session."""
        with self.readied:
            self.pending -= 1
            if session is not None:
                self.ready.append(session)
            self.readied.notify_all()

    def adopt(self):
        """A session opened ahead, waiting for one being opened; None when
        none is left: the caller opens its own.  Taken up by whichever thread
        has the message, not kept by the thread that opened it: a thread
        still waiting for its session to open, or idle, left the one digest
        to another, which connected and logged in a second time."""
        with self.readied:
            while not self.ready and self.pending:
                self.readied.wait()
            return self.ready.pop() if self.ready else None

    def _take_open(self, opening: bool) -> bool:
        if opening and self.opening:
            self.opening -= 1
            self.pending += 1
            return True
        return False

    def put(self, item, block: bool = True, timeout: float | None = None) -> None:
        if not block or timeout is not None:
            super().put(item, block, timeout)
            return
        with self.not_full:
            if self.maxsize > 0 and self._qsize() >= self.maxsize:
                while self._qsize() > self.low:
                    self.not_full.wait()
            self._put(item)
            self.unfinished_tasks += 1
            self.not_empty.notify()

    def get(self, block: bool = True, timeout: float | None = None, *, opening: bool = False):
        """``opening``: the caller has opened no session yet and takes
        :data:`_OPEN`, before any item, while a session is left to open ahead
        (see :meth:`open_sessions`): whichever thread is scheduled first opens
        it (not only one that was idle), each thread at most one."""
        if timeout is not None:
            return super().get(block, timeout)
        with self.not_empty:
            if self._take_open(opening):
                return _OPEN
            if not self._qsize():
                if not block:
                    raise queue.Empty
                while not self._qsize():
                    if self._take_open(opening):
                        return _OPEN
                    self.not_empty.wait()
            item = self._get()
            if self._qsize() <= self.low:
                self.not_full.notify()
            return item


class Dispatcher:
    """Deliver envelopes through ``transport.sessions`` parallel sessions.

    ``submit`` blocks while every session is busy and ``backlog`` envelopes
    wait (memory stays flat; a caller that prepares envelopes in batches
    passes a batch or two, so the sessions never idle while it prepares the next);
    ``finish`` waits for the rest, closes the sessions, and re-raises an
    exception raised by ``on_outcome``.  Use as a context manager.
    """

    def __init__(
        self,
        transport: Transport,
        *,
        on_outcome: Callable[[Outcome], None],
        retries: int = 3,
        retry_delay: float = 1.0,
        max_per_minute: int | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        stop: Callable[[], bool | str] | None = None,
        backlog: int = 0,
        left: str | None = "the remaining digests stay pending",
        withdrawn: Callable[[Envelope], str | None] | None = None,
    ) -> None:
        """``left``: what the log's "delivery stopped" line adds about the
        envelopes not attempted (None: no such line; ``test-email`` sends one
        message, and its own error line says why it was not delivered).
        ``withdrawn(envelope)``: asked just before each hand-over (each retry too), why not to
        hand it over after all (None: go on), for what changed while it was
        queued: an unsubscribe made meanwhile must stop the digest.
        ``stop()``: true to stop, or why in words, which the caller reports
        itself (a send's lost claims are among its problems): no "delivery
        stopped" line then, the same words twice."""
        self.withdrawn = withdrawn
        self.left = left
        self.transport = transport
        # true (or a reason in words): retry nothing more, attempt nothing new (SIGTERM)
        self.stop_requested = stop
        self.on_outcome = on_outcome
        self.retries = retries
        self.retry_delay = retry_delay
        self.sleep = sleep
        self.rate = RateLimit(max_per_minute, sleep, clock)
        self.count = max(1, int(getattr(transport, "sessions", 1)))
        self.queue = _Backlog(max(2 * self.count, backlog))
        self.stopped: str | None = None  # why the rest is not attempted
        self.stopped_on_error = False  # ... because on_outcome failed (see Outcome.stopped_on_error)
        self.error: BaseException | None = None
        # What a session that could not connect left to the others: a server
        # allowing fewer connections than `connections` turns the extra ones
        # away, which must not stop the batch.  `alive`: workers that have not
        # given up or ended; `busy`: those that may still hand work back (not
        # waiting at the end for handed-back work).
        self.handed_back: collections.deque[Envelope] = collections.deque()
        self.sharing = threading.Condition()
        self.alive = self.busy = self.count
        self.failing_in_a_row = 0  # messages that failed on every try or went unconfirmed (see FAILING_TO_STOP)
        self.unconfirmed_in_a_row = 0  # those of them that went unconfirmed (the stop says which kind it was)
        self.refused_alike: tuple[tuple | None, int] = (None, 0)  # the last refusal's Deferred.alike, how many in a row
        self.threads = [
            threading.Thread(target=self._work, name=f"deliver-{i}", daemon=True) for i in range(self.count)
        ]
        for thread in self.threads:
            thread.start()

    def __enter__(self) -> Dispatcher:
        return self

    def __exit__(self, kind, *exc) -> None:
        if kind is not None and self.stopped is None:
            # The caller failed (its state refused a claim, a database went
            # silent): what is queued would go out with nobody able to record
            # it, to be sent again by the next run.  Attempted: nothing more.
            self._stop_on_error()
        self.finish()

    def submit(self, envelope: Envelope) -> None:
        if self.error is not None:
            raise self.error
        self.queue.put(envelope)

    def open_sessions(self) -> None:
        """Have one more session open now, before its message: a caller calls
        this for each message composed (so it will hand it over: a run with
        nothing due connects nowhere), and the connection, EHLO, STARTTLS and
        AUTH happen while it composes and claims the rest.  One session per
        message, up to ``connections``: opening every session at the first
        message logged in ``connections`` times for a cron tick's one digest
        (a provider counting logins or connections refuses the next ones).
        A failure is the first message's, as it was (see :meth:`Session.open`);
        a session left unused ends with QUIT at :meth:`finish`, as the others do."""
        self.queue.open_sessions(self.count)

    def finish(self) -> None:
        for _ in self.threads:
            self.queue.put(None)
        for thread in self.threads:
            thread.join()
        self.threads = []
        while self.queue.ready:  # opened ahead, never taken up (the messages went through the others)
            self.queue.ready.pop().close()
        if self.error is not None:
            error, self.error = self.error, None
            raise error

    def cancel(self, reason: str, *, said: bool = False) -> None:
        """Attempt nothing more: messages being delivered finish, queued ones
        come back as not attempted (their digests stay pending).  ``said``:
        the caller reports the reason itself (no "delivery stopped" line)."""
        self._stop(reason, said=said)

    def _stop_on_error(self) -> None:
        """The caller is failing: attempt nothing more, quietly (its own
        error says why), and mark what is left as stopped on that error."""
        self.stopped, self.stopped_on_error = STOPPED_ON_ERROR, True

    def _stop(self, reason: str, *, said: bool = False) -> None:
        if self.stopped is None:
            self.stopped = reason
            if self.left is not None and not said:  # (None: the caller's own line says it, as test-email's does)
                log.error("delivery stopped: %s%s", reason, f"; {self.left}" if self.left else "")

    def _failed_again(self, exc: TransientDeliveryError) -> None:
        """One more message that failed on every try or went unconfirmed: the
        batch stops at :data:`FAILING_TO_STOP` in a row, saying which of the
        two they were (told by the last alone, one failing and two left
        unconfirmed read "3 ... went unconfirmed")."""
        with self.sharing:
            self.failing_in_a_row += 1
            self.unconfirmed_in_a_row += isinstance(exc, Unconfirmed)
            failing, unconfirmed = self.failing_in_a_row, self.unconfirmed_in_a_row
        if failing < FAILING_TO_STOP:
            return
        doubt = "may have arrived, and goes again (said) with the next run: the rest are not sent into the same doubt"
        if unconfirmed == failing:
            self._stop(f"{failing} messages in a row went unconfirmed, the last: {exc}; each {doubt}")
        elif unconfirmed:
            self._stop(f"{failing} messages in a row failed on every try or went unconfirmed ({unconfirmed} of them), "
                       f"the last with: {exc}; each unconfirmed one {doubt}")
        else:
            self._stop(f"{failing} messages in a row failed on every try, the last with: {exc}")

    def _refused_again(self, exc: Deferred) -> None:
        """One more message refused as the one before it was (the same
        :attr:`Deferred.alike`): the batch stops at
        :data:`REFUSED_ALIKE_TO_STOP` in a row; another kind of refusal starts
        the count again, a message that goes out ends it."""
        with self.sharing:
            last, n = self.refused_alike
            n = n + 1 if last == exc.alike else 1
            self.refused_alike = (exc.alike, n)
        if n >= REFUSED_ALIKE_TO_STOP:
            self._stop(f"{n} messages in a row were refused alike, the last: {exc}; the rest would be refused so too")

    def _redacted(self, text: str) -> str:
        """``text`` (an unexpected error, bound for the output and the state)
        without the transport's password, as it is or as ``repr`` writes it."""
        secret = getattr(self.transport, "password", None)
        if secret:
            for form in (secret, repr(secret)[1:-1]):
                text = text.replace(form, "***")
        return text

    def _next(self, finishing: bool, opening: bool = False) -> Envelope | None | object:
        """What another session handed back, else the next queued item
        (:data:`_OPEN` first, with ``opening``: see :meth:`_Backlog.get`).

        ``finishing`` (this worker had its end-of-queue mark): wait for work
        handed back while another worker may still hand some back; None
        (the worker ends) once none can."""
        if not finishing:
            if self.handed_back:  # (rare: no lock for the usual case)
                with self.sharing:
                    if self.handed_back:
                        return self.handed_back.popleft()
            return self.queue.get(opening=opening)
        with self.sharing:
            self.busy -= 1
            self.sharing.notify_all()
            while True:
                if self.handed_back:
                    self.busy += 1
                    return self.handed_back.popleft()
                if self.busy == 0:
                    self.alive -= 1
                    return None
                self.sharing.wait()

    def _hand_back(self, envelopes: list[Envelope]) -> bool:
        """This session cannot connect: leave ``envelopes`` to the other
        workers (true) and end, unless this is the last one."""
        with self.sharing:
            if self.alive <= 1:
                return False
            self.alive -= 1
            self.busy -= 1
            self.handed_back.extend(envelopes)
            self.sharing.notify_all()
            return True

    def _work(self) -> None:
        session = None
        taken: Envelope | None | object = _NOTHING  # the next queue item, when already taken
        finishing = False  # had the end-of-queue mark: only handed-back work is left
        counted = True  # this worker still counts as alive and busy (see _next)
        opening = True  # no item taken yet: the session may be opened ahead (see open_sessions)
        try:
            while True:
                if taken is _NOTHING:
                    item = self._next(finishing, opening)
                else:
                    item, taken = taken, _NOTHING
                opening = False
                if item is _OPEN:
                    opened = None
                    try:
                        if self.stopped is None:
                            opened = self.transport.session(self.stop_requested)
                            opened.open()
                    finally:
                        self.queue.opened(opened)
                    continue
                envelope = cast(Envelope | None, item)
                if envelope is None:
                    if finishing:
                        counted = False  # _next counted it out
                        return
                    finishing = True
                    continue
                if self.stopped is None and self.stop_requested is not None and (why := self.stop_requested()):
                    # (before the caller's error: a stop that ended its wait for the state is why)
                    self._stop(why if isinstance(why, str) else "stop requested", said=isinstance(why, str))
                if self.error is not None and self.stopped is None:
                    # The caller is failing (its state refused a record): attempt
                    # nothing more, and hand each envelope back as not attempted, so
                    # its digest is recorded pending where it still can be, not left
                    # "being sent" for the next run to suspect of having gone out.
                    self._stop_on_error()
                if self.stopped is not None:
                    outcome = Outcome(
                        envelope, False, 0, f"not attempted: {self.stopped}", stopped_on_error=self.stopped_on_error
                    )
                elif self.withdrawn is not None and (reason := self.withdrawn(envelope)) is not None:
                    outcome = Outcome(envelope, False, 0, reason, withdrawn=True)
                else:
                    then = None
                    if not self.rate.interval and not finishing:  # the session may start on the next one early
                        try:
                            taken = self.queue.get_nowait()
                        except queue.Empty:
                            pass
                        if isinstance(taken, Envelope):
                            then = taken
                    try:
                        if session is None:
                            session = self.queue.adopt() or self.transport.session(self.stop_requested)
                        delivered = self._deliver(session, envelope, then)
                    except Exception as exc:  # noqa: BLE001 -- a bug or an odd OS error must not strand the digest
                        why = self._redacted(repr(exc))
                        log.error("delivery of %s failed unexpectedly: %s", envelope.message_id, why)
                        delivered = Outcome(envelope, False, 1, f"unexpected error: {why}")
                    if delivered is None:  # handed back (with `then`): the other sessions deliver it
                        counted = False  # _hand_back counted it out
                        return
                    outcome = delivered
                try:
                    self.on_outcome(outcome)
                except BaseException as exc:  # noqa: BLE001 -- handed to the caller's thread
                    self.error = self.error or exc
        except BaseException as exc:  # noqa: BLE001 -- a bug here must fail the run, not hang it
            self.error = self.error or exc
        finally:
            if counted:
                # ended by an exception: the others must not wait for work this one
                # might hand back (they would wait for ever, and finish() with them)
                with self.sharing:
                    self.alive -= 1
                    self.busy -= 1
                    self.sharing.notify_all()
            if session is not None:
                session.close()

    def _deliver(self, session: Session, envelope: Envelope, then: Envelope | None = None) -> Outcome | None:
        """Hand ``envelope`` over, retrying what may pass; None: this session
        cannot connect and handed it (and ``then``) back to the other sessions."""
        tries = 0
        while True:
            tries += 1
            self.rate.wait()
            try:
                session.send(envelope, then)
                self.failing_in_a_row = self.unconfirmed_in_a_row = 0
                self.refused_alike = (None, 0)
                return Outcome(envelope, True, tries)
            except (TransportBroken, TimedOut) as exc:  # the session or its outcome is lost: stop the batch
                self._stop(str(exc))
                return Outcome(envelope, False, tries, str(exc), uncertain=isinstance(exc, TimedOut),
                               transport_failed=isinstance(exc, TransportBroken))
            except Deferred as exc:  # it may have arrived, or a retry now is no use: not again in this run
                if isinstance(exc, Unconfirmed) and self.stopped is None:
                    self._failed_again(exc)  # (a server dropping every message after its data: see FAILING_TO_STOP)
                elif exc.alike is not None and self.stopped is None:
                    self._refused_again(exc)  # (a content filter refusing every digest: see REFUSED_ALIKE_TO_STOP)
                return Outcome(envelope, False, tries, str(exc), uncertain=isinstance(exc, Unconfirmed))
            except PermanentDeliveryError as exc:
                return Outcome(envelope, False, tries, str(exc), permanent=True)
            except TransientDeliveryError as exc:
                if tries > self.retries or self.stopped is not None:
                    if isinstance(exc, Unreachable):
                        if self.stopped is None and self._hand_back([envelope] + ([then] if then else [])):
                            log.info("%s; its messages go through the other sessions", exc)
                            return None
                        self._stop(str(exc))
                    elif self.stopped is None:
                        self._failed_again(exc)
                    return Outcome(envelope, False, tries, str(exc))
                # The retry starts a session of its own: a server that turns a session away once it
                # has taken so many recipients ("452 4.5.3 Too many recipients" per connection) said
                # the same to every retry in it, and three messages in a row stopped each batch.
                session.close()
                delay = backoff(self.retry_delay, tries, MAX_BACKOFF)
                log.info("%s; retrying in %.3g s (try %d of %d)", exc, delay, tries + 1, self.retries + 1)
                self.sleep(delay)
                if self.stop_requested is not None and (why := self.stop_requested()):
                    self._stop(why if isinstance(why, str) else "stop requested", said=isinstance(why, str))
                    return Outcome(envelope, False, tries, str(exc))
                # What changed during the back-off counts as much as before the first try: the
                # recipient unsubscribed, or (a PostgreSQL restart while this worker waited)
                # another worker took the digest back and sent it, and the retry sent it twice.
                if self.withdrawn is not None and (reason := self.withdrawn(envelope)) is not None:
                    return Outcome(envelope, False, tries, reason, withdrawn=True)
