"""A real SMTP server for the tests: aiosmtpd on 127.0.0.1, optionally with
STARTTLS or implicit TLS (a throwaway self-signed certificate) and AUTH.

``Mailbox`` is the handler; tests steer it (reject a recipient, answer 4xx a
few times, hold the n-th message until released) and read what arrived.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import errno
import ipaddress
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import MISSING, SMTP, AuthResult, LoginPassword

USER = "digest-user"
PASSWORD = "s3cret-Pa55word-xyzzy"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    peer: tuple
    message: EmailMessage

    @property
    def message_id(self) -> str:
        return self.message["Message-ID"]


class Mailbox:
    """The aiosmtpd handler: keeps every accepted message."""

    def __init__(self) -> None:
        self.messages: list[Received] = []
        self.lock = threading.Lock()
        self.reject: dict[str, str] = {}  # recipient -> reply to RCPT
        self.data_replies: list[str] = []  # answers to the next DATA commands before accepting
        self.block_at: int | None = None  # accept the n-th message, hold the reply until release is set
        self.blocked = threading.Event()
        self.release = threading.Event()
        self.drop_after_each = False  # close the connection after every accepted message
        self.data_count = 0
        self.pipelining = True  # advertise PIPELINING (aiosmtpd reads commands in order anyway)
        self.hang_data = False  # take every message, never answer its DATA (a hung server)
        self.unanswered = 0  # take this many messages, each time dropping the connection before the reply
        self.answered_first = 0  # messages answered before ``unanswered`` applies (a later one in a session)
        self.mail_reply: str | None = None  # the answer to every MAIL FROM, instead of accepting it
        self.drop_at: set[str] = set()  # "EHLO", "MAIL", or recipients: close the connection without a word there
        self.max_sessions: int | None = None  # more connections at once get "421 too many" as the greeting
        self.sessions = 0  # connections open now
        self.connections = 0  # connections taken so far (each one's number in log)
        self.turned_away = 0  # connections refused for max_sessions
        self.ehlo_reply: str | None = None  # the answer to EHLO instead of its extensions (a HELO-only server)
        self.session_recipients: int | None = None  # recipients one session may have; then "452 4.5.3 Too many"
        self.session_messages: int | None = None  # messages one session may carry; then "421 4.7.0" to MAIL
        self.extensions: list[str] = []  # more EHLO keywords (STARTTLS without TLS set up: it gets "454 TLS not available")
        self.ehlo_names: list[str] = []  # the name each EHLO gave
        self.silent_at_rcpt: set[str] = set()  # recipients whose RCPT gets no answer until release is set
        #: hold each session's first MAIL until this many sessions have sent one: every sender
        #: (one connection each) is then under way with a message in hand, however late it started
        self.gather_sessions: int | None = None
        self.gathering = 0
        self.gathered = threading.Event()
        #: message counts at which the whole server pauses: the n-th message is accepted, then
        #: every reply to a message waits until ``resume()`` (``paused`` is set meanwhile), so
        #: senders stand still at a known point while a test acts on them
        self.pause_at: list[int] = []
        self.paused = threading.Event()
        self.going = threading.Event()
        self.going.set()
        self.pauses_waiting = 0
        self.login_replies: list[str] = []  # answers to the next logins instead of checking them ("silent": none) (no auth_ name: aiosmtpd would offer it as a mechanism)
        #: what each connection did, in the order the server saw it: (connection number,
        #: "connect", "EHLO", "AUTH", "MAIL" or "QUIT"); ``logged`` is told of each entry
        self.log: list[tuple[int, str]] = []
        self.logged = threading.Condition(self.lock)

    def note(self, server, what: str) -> None:
        """Add ``what`` of ``server``'s connection to :attr:`log`."""
        with self.logged:
            self.log.append((getattr(server, "number", 0), what))
            self.logged.notify_all()

    def wait_logged(self, what: str, count: int, timeout: float = 60.0) -> None:
        """Until :attr:`log` holds ``count`` entries ``what`` (no polling: each entry wakes it)."""
        with self.logged:
            if not self.logged.wait_for(lambda: sum(w == what for _, w in self.log) >= count, timeout):
                raise AssertionError(f"the server never saw {count} {what}: {self.log}")

    def sessions_log(self) -> dict[int, list[str]]:
        """:attr:`log` by connection: what each did, in order."""
        with self.lock:
            by: dict[int, list[str]] = {}
            for number, what in self.log:
                by.setdefault(number, []).append(what)
            return by

    async def handle_QUIT(self, server, session, envelope):
        self.note(server, "QUIT")
        return MISSING  # (aiosmtpd's own answer)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        if "EHLO" in self.drop_at:
            server.transport.close()
            return ["250 OK (never seen by the client)"]
        if self.ehlo_reply:
            return [self.ehlo_reply]  # not greeted: MAIL gets "503 Error: send HELO first"
        session.host_name = hostname
        self.ehlo_names.append(hostname)
        self.note(server, "EHLO")
        if self.pipelining:
            responses.insert(-1, "250-PIPELINING")  # before the final "250 HELP"
        for keyword in self.extensions:
            responses.insert(-1, f"250-{keyword}")
        return responses
    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if "MAIL" in self.drop_at:
            server.transport.close()
            return "250 OK (never seen by the client)"
        self.note(server, "MAIL")
        if self.mail_reply:
            return self.mail_reply
        if self.session_messages is not None:
            session.mails = getattr(session, "mails", 0) + 1
            if session.mails > self.session_messages:
                return "421 4.7.0 Too many messages for this connection"
        if self.gather_sessions is not None and not getattr(session, "gathered", False):
            session.gathered = True
            with self.lock:
                self.gathering += 1
                if self.gathering >= self.gather_sessions:
                    self.gathered.set()
            while not self.gathered.is_set() and not self.release.is_set():
                await asyncio.sleep(0.01)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.session_recipients is not None:
            session.recipients_taken = getattr(session, "recipients_taken", 0) + 1
            if session.recipients_taken > self.session_recipients:
                return "452 4.5.3 Too many recipients for this session"
        if address in self.drop_at:
            server.transport.close()
            return "250 OK (never seen by the client)"
        while address in self.silent_at_rcpt and not self.release.is_set():  # checking the address, slowly
            await asyncio.sleep(0.01)
        if address in self.reject:
            return self.reject[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.data_count += 1
            n = self.data_count
            reply = self.data_replies.pop(0) if self.data_replies else None
        if reply:
            return reply
        if self.hang_data:
            while not self.release.is_set():
                await asyncio.sleep(0.01)
            return "451 4.3.0 Server shutting down"
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content, session.peer, message)
            )
        if self.unanswered and n > self.answered_first:
            # Taken (as a server that crashed before replying would have), never confirmed.
            with self.lock:
                self.unanswered -= 1
            server.transport.abort()
            return "250 2.0.0 OK queued (never seen by the client)"
        if n in self.pause_at:
            with self.lock:
                if self.going.is_set():
                    self.going.clear()
                    self.paused.set()
                else:  # came in while paused (one message per sender may): the next pause, right after
                    self.pauses_waiting += 1
        while not self.going.is_set() and not self.release.is_set():
            await asyncio.sleep(0.01)
        if self.block_at == n:
            # Accepted (queued) but the reply is held back: the client may die meanwhile.
            self.blocked.set()
            while not self.release.is_set():
                await asyncio.sleep(0.01)
        if self.drop_after_each:
            asyncio.get_running_loop().call_soon(server.transport.close)
        return "250 2.0.0 OK queued"

    def wait_paused(self, timeout: float = 60.0) -> int:
        """Until the server pauses at one of ``pause_at``; the messages accepted by then."""
        if not self.paused.wait(timeout):
            raise AssertionError(f"the server never paused: {len(self.messages)} messages arrived")
        return len(self.messages)

    def resume(self) -> None:
        with self.lock:
            if self.pauses_waiting:
                self.pauses_waiting -= 1  # still paused: wait_paused returns at once
                return
            self.paused.clear()
            self.going.set()

    def recipients(self) -> list[str]:
        return sorted(r for m in self.messages for r in m.rcpt_tos)

    def wait_for(self, count: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"only {len(self.messages)} of {count} messages arrived")
            time.sleep(0.01)


def authenticator(server, session, envelope, mechanism, auth_data):
    box = server.event_handler
    box.note(server, "AUTH")
    with box.lock:
        reply = box.login_replies.pop(0) if box.login_replies else None
    if reply == "silent":  # "handled": aiosmtpd takes it as answered, and says nothing (a server gone quiet on AUTH)
        return AuthResult(success=False, handled=True)
    if reply:
        return AuthResult(success=False, handled=False, message=reply)
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == USER.encode() and auth_data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_certificate(folder: Path, *, expired: bool = False, flaw: str | None = None) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 / localhost: (cert.pem, key.pem);
    ``expired``: one whose validity ended yesterday (a relay nobody renewed);
    ``flaw``: "weak key" (RSA 1024 bits, an old relay's), "client only" (an
    extended key usage for TLS clients only, not servers)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = rsa.generate_private_key(65537, 1024) if flaw == "weak key" else ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC) - dt.timedelta(days=3 if expired else 0)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=True, key_cert_sign=True, crl_sign=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
    )
    if flaw == "client only":
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    cert = builder.sign(key, hashes.SHA256())
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def _with_mechanisms(mechanisms: tuple[str, ...]) -> Mailbox:
    """A mailbox whose server also advertises ``mechanisms`` (aiosmtpd offers a
    mechanism for each ``auth_NAME`` method of its handler, ``__`` for ``-``);
    each of them refuses every login."""

    async def refuse(self, server, args):
        return AuthResult(success=False, handled=False)

    methods = {f"auth_{m.replace('-', '__')}": refuse for m in mechanisms if m not in ("LOGIN", "PLAIN")}
    return type("MechanismsMailbox", (Mailbox,), methods)()


class _LimitedSMTP(SMTP):
    """aiosmtpd's SMTP, turning away connections over ``Mailbox.max_sessions``
    (as servers do, with a 421 greeting) and counting the open ones."""

    counted = False

    def connection_made(self, transport) -> None:
        box = self.event_handler
        if self.transport is None:  # a new connection, not the switch to TLS
            with box.lock:
                if box.max_sessions is not None and box.sessions >= box.max_sessions:
                    box.turned_away += 1
                    transport.write(b"421 4.7.0 Too many concurrent SMTP connections, try again later\r\n")
                    transport.close()
                    return
                box.sessions += 1
                self.counted = True
                self.number = box.connections = box.connections + 1
            box.note(self, "connect")
        super().connection_made(transport)

    def connection_lost(self, error) -> None:
        if not self.counted:
            return  # turned away: aiosmtpd never saw it
        with self.event_handler.lock:
            self.event_handler.sessions -= 1
        self.counted = False
        super().connection_lost(error)


class _Controller(Controller):
    def factory(self):
        return _LimitedSMTP(self.handler, **self.SMTP_kwargs)


class Server:
    """A running aiosmtpd; ``mailbox`` is its handler, ``port`` where it listens."""

    def __init__(
        self,
        port: int | None = None,
        *,
        tls: str | None = None,
        folder: Path | None = None,
        auth: bool = False,
        mechanisms: tuple[str, ...] | None = None,
        expired: bool = False,
        auth_required: bool = False,
        size_limit: int | None = None,
        flaw: str | None = None,
    ):
        """``mechanisms``: the AUTH mechanisms to advertise instead of aiosmtpd's
        LOGIN and PLAIN (those not built in are offered and always fail).
        ``size_limit``: the SIZE advertised (aiosmtpd refuses a bigger
        message's MAIL FROM ... SIZE=n, RFC 1870).  ``flaw``: see :func:`make_certificate`."""
        self.mailbox = _with_mechanisms(mechanisms) if mechanisms else Mailbox()
        self.port = port or free_port()
        self.cert = None
        kwargs = {}
        if tls:
            self.cert, key = make_certificate(folder, expired=expired, flaw=flaw)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            if flaw == "weak key":
                context.set_ciphers("DEFAULT:@SECLEVEL=0")  # (an old server's OpenSSL serves it)
            context.load_cert_chain(self.cert, key)
            if tls == "starttls":
                kwargs.update(tls_context=context, require_starttls=True)
            else:
                kwargs.update(ssl_context=context)
        if auth or mechanisms:
            # aiosmtpd does not know an implicit-TLS socket is encrypted
            kwargs.update(authenticator=authenticator, auth_require_tls=tls == "starttls")
        if auth_required:  # MAIL before a login gets "530 5.7.0 Authentication required"
            kwargs.update(auth_required=True)
        if size_limit is not None:
            kwargs.update(data_size_limit=size_limit)
        if mechanisms:
            kwargs.update(auth_exclude_mechanism=[m for m in ("LOGIN", "PLAIN") if m not in mechanisms])
        # (its own name given, not looked up: a test may hold this machine's lookup)
        chosen = port
        for attempt in range(5):
            self.controller = _Controller(self.mailbox, hostname="127.0.0.1", port=self.port,
                                          server_hostname="mx.test", **kwargs)
            try:
                self.controller.start()
                break
            except OSError as error:
                # free_port() only finds a port free a moment ago: another process on the
                # machine may have taken it since; a port the test chose is not re-picked
                if chosen is not None or error.errno != errno.EADDRINUSE or attempt == 4:
                    raise
                self.port = free_port()
        with self.mailbox.lock:  # (start() connected once to see the server up: not a client's session)
            self.mailbox.log.clear()
            self.mailbox.connections = 0

    def stop(self) -> None:
        self.mailbox.release.set()
        self.controller.stop()


@pytest.fixture
def smtp_server():
    """Plain SMTP on 127.0.0.1 (no TLS, no AUTH)."""
    server = Server()
    yield server
    server.stop()


@pytest.fixture
def starttls_server(tmp_path):
    """SMTP that requires STARTTLS (self-signed certificate at ``server.cert``) and AUTH."""
    folder = tmp_path / "tls"
    folder.mkdir()
    server = Server(tls="starttls", folder=folder, auth=True)
    yield server
    server.stop()


@pytest.fixture
def ssl_server(tmp_path):
    """SMTP over implicit TLS (port-465 style) with AUTH."""
    folder = tmp_path / "tls"
    folder.mkdir()
    server = Server(tls="ssl", folder=folder, auth=True)
    yield server
    server.stop()
