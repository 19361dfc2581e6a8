"""The one exception tree every part of Paper Digest raises from.

Callers (the CLI, or a script importing the library) catch
:class:`NewsletterError` and print ``str(error)``: every message is already a
complete, one-line-per-problem report, ``FILE:LINE: what is wrong`` where a
file is involved.  ``exit_code`` tells the CLI what to return.

    NewsletterError                 exit 2 unless noted
    ├── ConfigError                 the config file: YAML, keys, types, values
    ├── InputError                  a paper source: unreadable, not the format
    │   ├── SourcesFailed           every source of a run failed: nothing to send from
    │   └── Unreachable             a source's host could not be reached (no network?)
    ├── TemplateError               a template: missing, syntax, render failure
    ├── StateError                  the SQLite state: locked, corrupt, too new
    │   └── StoppedWaiting          stopped (Ctrl-C, SIGTERM) while waiting for another send
    └── DeliveryError               exit 1: a message could not be delivered
        ├── TransientDeliveryError  worth retrying (4xx, timeout, refused)
        └── PermanentDeliveryError  not worth retrying (5xx for the recipient)
"""

from __future__ import annotations

import errno
import re
from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class Problem:
    """One thing wrong, located as precisely as we know."""

    message: str
    file: str | None = None
    line: int | None = None
    path: str | None = None  # e.g. "subscribers[2].email"

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = f"{self.file}:{self.line}: " if self.line else f"{self.file}: "
        what = f"{self.path}: " if self.path else ""
        return f"{where}{what}{self.message}"


def line_of(data: bytes | str, offset: int, newline: bytes | str | None = None) -> int:
    """The line (from 1) holding ``offset`` in ``data``, for ``FILE:LINE``
    messages; ``newline`` is the line break as encoded in ``data`` (UTF-16...)."""
    if newline is None:
        newline = b"\n" if isinstance(data, bytes) else "\n"
    return data.count(newline, 0, offset) + 1  # type: ignore[arg-type]


def parsed_xml(data: bytes, name: str, source: str, what: str) -> Any:
    """The root element of ``data`` (ElementTree's), or an error at the line
    where the XML stops parsing: ``what`` (an OAI-PMH answer, an EndNote
    export) cut off, or not XML.  Callers refuse entity declarations first."""
    import xml.etree.ElementTree as ET

    try:
        return ET.fromstring(data)
    except LookupError:  # expat's "unknown encoding" is Python's codec lookup failing: no ParseError
        declared = re.search(rb"""\bencoding\s*=\s*["']?([^"'?>\s]{0,40})""", data[:1024])
        said = declared.group(1).decode("ascii", "replace") if declared else "?"
        raise InputError(Problem(f"source {source!r}: {what} whose XML declaration names an encoding not known "
                                 f"({said!r}); cut off or damaged?", name, 1)) from None
    except ET.ParseError as exc:
        said = str(exc).split(":", 1)[0]
        raise InputError(Problem(f"source {source!r}: {what} that is not well-formed XML ({said}); cut off?", name,
                                 exc.position[0] if exc.position else 1)) from None


def counted(n: int, noun: str) -> str:
    """``n`` and ``noun``, plural unless ``n`` is 1 (``"3 papers"``,
    ``"1 paper"``): how every message counts things (only nouns taking an -s)."""
    return f"{n} {noun}{'s' * (n != 1)}"


def cannot_listen(host: str, port: int, exc: OSError) -> Problem:
    """Why ``serve`` or ``preview --serve`` cannot take ``host:port``: a busy
    port says how to pick another."""
    message = f"cannot listen on {host}:{port}: {exc.strerror or exc}"
    if exc.errno == errno.EADDRINUSE:
        message += " (another program listens there: choose another port with --port N, or --port 0 for any free one)"
    return Problem(message)


class NewsletterError(Exception):
    """Base of every error the library raises on purpose."""

    exit_code = 2

    def __init__(self, *problems: Problem | str):
        self.problems = tuple(p if isinstance(p, Problem) else Problem(p) for p in problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class ConfigError(NewsletterError):
    """The config file is malformed or invalid; carries every problem found.

    ``sources_config``: when the problems lie outside the sources, a config
    of the sources alone (a :class:`~newsletter.config.Config`), so
    ``validate`` can read them too and report every problem in one run.
    ``unset_secrets``: the SMTP password's and the signing key's variables
    that are unset, which ``validate`` names with the rest (other commands
    need them only once the config is mended)."""

    sources_config: object | None = None
    unset_secrets: tuple[Problem, ...] = ()


#: How a message of an HTML page that came where a feed or JSON goes ends
#: when the page is none a reader knows (see :func:`fetching.html_page_said`).
UNKNOWN_PAGE = " (an error page or a login wall?)"


class InputError(NewsletterError):
    """A paper source could not be read or is not in the format it claims."""


class SourcesFailed(InputError):
    """Every source a run read failed (network, HTTP errors, broken answers).

    Not "nothing new": ``send`` and ``run`` send nothing, record nothing
    (nobody's scheduled slot is used up) and exit 2 naming each source."""


#: Why a source's host was not reached: its connection ``"refused"`` (the
#: host answered, with a reset: no server on that port), ``"no answer"`` (a
#: connection or a name lookup that timed out, no route) or ``"no name"``
#: (the name did not resolve).
UnreachableKind = Literal["refused", "no answer", "no name"]


class Unreachable(InputError):
    """A source's host could not be reached at all (its name did not resolve,
    the connection was refused or timed out), as on a machine without a network:
    when every source fails so, the run says how to work from saved files.

    ``kind`` says which, so that summary need not parse the message: a refused
    connection means the network works (a server down, a wrong port), and
    asking "is this machine offline?" then sent a newcomer the wrong way."""

    def __init__(self, *problems: Problem | str, kind: UnreachableKind = "no answer"):
        super().__init__(*problems)
        self.kind: UnreachableKind = kind


class TemplateError(NewsletterError):
    """A template is missing, does not compile, or fails while rendering."""


class StateError(NewsletterError):
    """The state database cannot be used (locked by another process, corrupt...)."""


class SessionEnded(StateError):
    """The worker's PostgreSQL session ended under a statement of its own (the
    server restarted, an administrator ended it): the digests it claimed are
    any worker's now.  A send stops handing them over and says so, as when a
    delivery thread notices it first (exit 1, the rest left pending), not as
    a state it cannot use at all (exit 2)."""


class RolledBack(StateError):
    """PostgreSQL rolled back a transaction of the worker's for another
    session's sake (a deadlock, a serialization failure): nothing of it was
    recorded, and it may be run again as it was.  A batch's claim is (see
    the send's ``_claimed``); a statement of its own is by the state."""


class AheadOfTheClock(NewsletterError):
    """A send was asked to run "at" a time (``send --now``) further ahead of
    the clock its state goes by than clock skew explains: it would record
    sends in the future and hold back every schedule until then."""


class StoppedWaiting(StateError):
    """The run was stopped (Ctrl-C, SIGTERM) while it waited for another
    send to let go of the state: nothing was sent or recorded.  ``send``
    exits as stopped (128 + the signal); ``run`` stops cleanly."""


class DeliveryError(NewsletterError):
    """A message was not delivered."""

    exit_code = 1


class TransientDeliveryError(DeliveryError):
    """A failure that may go away: 4xx replies, timeouts, refused connections."""


class PermanentDeliveryError(DeliveryError):
    """A failure retrying will not fix: 5xx for a recipient, bad credentials."""
