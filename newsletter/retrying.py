"""Exponential back-off, the one rule every retry in the house follows.

Fetching a source (HTTP 429/5xx, a connection error), an SMTP delivery inside a
run, ``newsletter run`` after a tick whose deliveries failed, and a digest whose
run failed (its ``next_attempt``) all wait ``first`` after the first failure,
twice that after the second, and so on, never longer than ``most``.

:func:`speaks_tls` tells a failure no retry mends: a client speaking plain
text (``http://``, SMTP without ``security: ssl``) to a port whose server
waits for a TLS handshake first.  Fetching and delivery both ask it.
"""

from __future__ import annotations

import socket
import ssl


def backoff(first: float, failures: int, most: float) -> float:
    """Seconds to wait after the ``failures``-th failure in a row (1, 2, ...)."""
    return min(first * 2 ** max(failures - 1, 0), most)


def speaks_tls(host: str, port: int, timeout: float) -> bool:
    """Whether the server at ``host:port`` answers a TLS handshake, within
    ``timeout``.  The handshake only tells the protocol: the certificate is
    not checked and nothing is sent over it.  A TLS alert is TLS too (a
    server wanting a client certificate, say); a server that is merely hung,
    or speaks something else, fails it."""
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
