"""Exponential back-off, the one rule every retry in the house follows.

Fetching a source (HTTP 429/5xx, a connection error), an SMTP delivery inside a
run, ``newsletter run`` after a tick whose deliveries failed, and a digest whose
run failed (its ``next_attempt``) all wait ``first`` after the first failure,
twice that after the second, and so on, never longer than ``most``.

:func:`speaks_tls` tells a failure no retry mends: a client speaking plain
text (``http://``, SMTP without ``security: ssl``) to a port whose server
waits for a TLS handshake first.  Fetching and delivery both ask it, and
both word a refused certificate by :func:`certificate_fault`: no retry mends
one either, and what mends it depends on which check failed.  A handshake
the server refused or cut short is worded by :func:`handshake_refused`.

:func:`within` bounds what no timeout of ours reaches: the system's lookup
of a host name (SMTP's server, this machine's own name, PostgreSQL's host),
which waits as long as a DNS server that does not answer is asked.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable
from typing import TypeVar

_T = TypeVar("_T")

#: While :func:`within` waits, how often it looks whether to stop.
LOOK_FOR_A_STOP_EVERY = 1.0


def backoff(first: float, failures: int, most: float) -> float:
    """Seconds to wait after the ``failures``-th failure in a row (1, 2, ...)."""
    return min(first * 2 ** max(failures - 1, 0), most)


#: The longest wait told by its length: past it, a wait is "more than a year".
WAIT_TOLD_MOST = 365 * 86400


def waiting(seconds: float) -> str:
    """A wait as people read it: a Retry-After date a month off was '2592000 s',
    one a second off '1.40187 s'.  An absurd one (``Retry-After:
    1000000000000``, a date in the year 9999) is "more than a year": it read
    'retry after 11,574,074 days', a count nobody reads or waits out."""
    if seconds > WAIT_TOLD_MOST:
        return "more than a year"
    for unit, size in (("days", 172800), ("hours", 7200), ("minutes", 120)):
        if seconds >= size:
            return f"{seconds / (size / 2):,.0f} {unit}"
    return f"{round(seconds, 1):g} s" if seconds < 10 else f"{seconds:.0f} s"


def speaks_tls(host: str, port: int, timeout: float) -> bool:
    """Whether the server at ``host:port`` answers a TLS handshake, within
    ``timeout``.  The handshake only tells the protocol: the certificate is
    not checked and nothing is sent over it.  A TLS alert is TLS too (a
    server wanting a client certificate, say); a server that is merely hung,
    or speaks something else, fails it."""
    return bool(within(lambda: _handshakes(host, port, timeout), 2 * timeout))  # (the name's lookup: see within)


def _handshakes(host: str, port: int, timeout: float) -> bool:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw, \
                context.wrap_socket(raw, server_hostname=host):
            return True
    except ssl.SSLError as exc:
        return "ALERT" in (exc.reason or "")
    except (OSError, ValueError):
        return False


def speaks_http(host: str, port: int, timeout: float) -> bool:
    """Whether the server at ``host:port`` is a web server: it answers a
    ``HEAD`` request with an HTTP status line, within ``timeout``.  An SMTP
    client there waits for a greeting that never comes: a mail catcher's web
    page (Mailpit and MailHog show theirs on 8025) taken for its SMTP port
    was retried as a hung server for minutes."""
    return bool(within(lambda: _answers_http(host, port, timeout), 2 * timeout))


def _answers_http(host: str, port: int, timeout: float) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw:
            raw.sendall(b"HEAD / HTTP/1.0\r\n\r\n")
            said = b""
            while len(said) < 5 and (more := raw.recv(5 - len(said))):
                said += more
            return said == b"HTTP/"
    except (OSError, ValueError):
        return False


#: OpenSSL's verify codes (``X509_V_ERR_*``) by what mends them.
_OUT_OF_DATE = {9: "not yet valid", 10: "expired"}
_OTHER_NAME = {62, 64}  # HOSTNAME_MISMATCH, IP_ADDRESS_MISMATCH
_UNKNOWN_ISSUER = {2, 18, 19, 20, 21}  # no issuer here, self-signed (leaf or in the chain), cannot verify the leaf
_TOO_WEAK = {66, 67, 68}  # EE_KEY_TOO_SMALL, CA_KEY_TOO_SMALL, CA_MD_TOO_WEAK
_NOT_FOR_SERVERS = {26}  # INVALID_PURPOSE


def certificate_fault(exc: ssl.SSLCertVerificationError) -> str:
    """Which check refused the server's certificate: ``"date"`` (expired or
    not yet valid: the server's to renew, or this machine's clock), ``"name"``
    (issued for another host name), ``"issuer"`` (signed by a CA not trusted
    here: a private CA, a proxy), ``"weak"`` (a key or signature this
    machine's OpenSSL takes as too weak: RSA under 2048 bits, SHA-1),
    ``"purpose"`` (a certificate not for TLS servers) or ``"other"`` (a
    revoked or malformed one).  Each has its own remedy; naming the CA
    setting for all of them sent a user whose CA file was right, but whose
    relay's certificate had expired (or had a 1024-bit key), to change it."""
    code = exc.verify_code
    if code in _OUT_OF_DATE:
        return "date"
    if code in _TOO_WEAK:
        return "weak"
    if code in _NOT_FOR_SERVERS:
        return "purpose"
    if code in _OTHER_NAME:
        return "name"
    if code in _UNKNOWN_ISSUER:
        return "issuer"
    return "other"


def certificate_unmendable(fault: str, whose: str) -> str | None:
    """The remedy for a certificate ``fault`` (see :func:`certificate_fault`)
    that only ``whose`` (the mail server, the site) can mend: none here.
    One wording for SMTP and HTTP (each wrote its own of an expired one)."""
    if fault == "date":
        return f"{whose} must renew its certificate, or this machine's clock is wrong; no setting here mends it"
    if fault == "weak":
        return (f"{whose} needs a new certificate: its key or signature is too weak for this machine's OpenSSL "
                "(RSA under 2048 bits, SHA-1); no setting here mends it")
    if fault == "purpose":
        return (f"{whose} needs a certificate made for a TLS server: its extended key usage leaves out serverAuth; "
                "no setting here mends it")
    return None


#: OpenSSL's reasons for a handshake with no TLS version or cipher both sides take.
_NO_COMMON_TLS = frozenset({
    "TLSV1_ALERT_PROTOCOL_VERSION", "UNSUPPORTED_PROTOCOL", "NO_PROTOCOLS_AVAILABLE", "WRONG_SSL_VERSION",
    "VERSION_TOO_LOW", "SSLV3_ALERT_HANDSHAKE_FAILURE", "NO_SHARED_CIPHER", "TLSV1_ALERT_INSUFFICIENT_SECURITY",
})


def handshake_refused(exc: BaseException) -> tuple[str, bool] | None:
    """Words for a TLS handshake the server refused or ended, and whether
    asking again may mend it; None for any other failure.  OpenSSL's own
    words ('UNEXPECTED_EOF_WHILE_READING', 'tlsv1 alert protocol version')
    said nothing of what happened, and the end of a connection the server
    had accepted was taken for a host not reached ('is this machine offline?')."""
    reason = exc.reason if isinstance(exc, ssl.SSLError) else None
    if reason in _NO_COMMON_TLS:
        return (f"the server and this client share no TLS version or cipher ({reason}): a server offering only "
                "TLS 1.0 or 1.1, which this machine's OpenSSL refuses, needs its TLS updated", False)
    if isinstance(exc, (ssl.SSLEOFError, ssl.SSLZeroReturnError, ConnectionResetError, BrokenPipeError)):
        return ("the server ended the connection in the TLS handshake (it refuses this client's TLS, or "
                "something on the way cuts the connection)", True)
    return None


def within(work: Callable[[], _T], timeout: float | None, stop: Callable[[], object] | None = None) -> _T | None:
    """``work()``'s result (or its exception, raised), or None when it has
    not ended within ``timeout`` or by a stop: a system lookup, which no
    timeout of ours reaches, runs in a thread of its own, left behind."""
    outcome: list = []

    def run() -> None:
        try:
            outcome.append(work())
        except BaseException as exc:  # noqa: BLE001 -- handed to the asking thread, raised there
            outcome.append(exc)

    worker = threading.Thread(target=run, name="lookup", daemon=True)
    worker.start()
    deadline = time.monotonic() + (timeout if timeout is not None else 60.0)
    while not outcome and (left := deadline - time.monotonic()) > 0 and not (stop is not None and stop()):
        worker.join(min(left, LOOK_FOR_A_STOP_EVERY))
    if not outcome:
        return None
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return outcome[0]


def addresses(host: str, port: int | str, timeout: float | None, stop: Callable[[], object] | None = None) -> list | None:
    """``socket.getaddrinfo`` for a TCP connection to ``host``, looked up
    :func:`within` ``timeout`` (None: no answer in time, or a stop); an
    address as written is answered at once, with no lookup and no thread."""
    name = idna_encoded(host)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return within(lambda: socket.getaddrinfo(name, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP),
                      timeout, stop)
    return socket.getaddrinfo(name, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP, flags=socket.AI_NUMERICHOST)


def idna_encoded(host: str) -> str | bytes:
    """``host`` as ``socket.getaddrinfo`` would encode it, as bytes, when that
    is its ASCII bytes: an ASCII name whose every label (but an empty last
    one, a trailing dot) is 1 to 63 characters long, which the ``idna``
    codec returns unchanged (its fast path).  ``getaddrinfo`` given a str
    encodes it with that codec, whose first use imports ``encodings.idna``,
    ``stringprep`` and ``unicodedata``'s tables: about a millisecond in each
    send worker, each opening its sessions.  Any other name is left as it
    is, for the codec to encode or refuse as before."""
    if not host.isascii():
        return host
    labels = host.split(".")
    if all(0 < len(label) < 64 for label in labels[:-1]) and len(labels[-1]) < 64:
        return host.encode("ascii")
    return host
