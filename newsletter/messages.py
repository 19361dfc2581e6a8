"""Build the RFC 5322 message: :class:`MessageWriter` writes the bytes
directly (the fast path every digest takes); :func:`build_message` builds the
same message with the standard library's ``email`` package (the reference).

Every header value is checked for line breaks before it is set, so no text
from a config, a template or a paper can add headers (the config loader
checks too; this is the last line of defence for values that reach us by
other routes, e.g. a library caller).  Subjects and display names with
non-ASCII text are RFC 2047-encoded by the ``email`` policy.
"""

from __future__ import annotations

import base64
import binascii
import functools
import random
import re
import sys
import unicodedata
from collections.abc import Callable
from datetime import datetime
from email import message_from_bytes
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP, default
from email.utils import format_datetime, make_msgid, parseaddr
from os.path import commonprefix
from urllib.parse import quote, quote_plus

from .config import Config, Subscriber, check_header_text
from .errors import ConfigError, Problem, TemplateError
from .tokens import links


def _checked(value: str, what: str, error=ConfigError) -> str:
    try:
        return check_header_text(value)
    except ValueError as exc:
        raise error(Problem(f"{what}: {exc}")) from None


def _address(name: str | None, addr: str, what: str) -> Address:
    _checked(addr, f"{what} address")
    if name:
        _checked(name, f"{what} name")
    try:
        return Address(display_name=name or "", addr_spec=addr)
    except (ValueError, IndexError) as exc:
        raise ConfigError(Problem(f"{what}: {addr!r} is not a usable address ({exc})")) from None


def sender_domain(config: Config) -> str:
    return _domain(config.email.from_)


@functools.lru_cache(maxsize=64)
def _domain(mailbox: str) -> str:
    return parseaddr(mailbox)[1].rpartition("@")[2] or "localhost"


def new_message_id(config: Config) -> str:
    return make_msgid(idstring="digest", domain=sender_domain(config))


def list_id(config: Config) -> str:
    """The List-Id header's value (RFC 2919), ``Paper Digest <paper-digest.example.org>``:
    mail clients file and filter a list's messages by it (Gmail's "filter
    messages like these", Thunderbird's and Apple Mail's list handling);
    without it a digest was told from its sender's other mail by the From
    address alone.  The label is the digest's title as a DNS label under
    the sender's domain; the title is the phrase when it is words (RFC
    2047-encoded where not ASCII), none when it would need quoting."""
    return _list_id(config.email.title, sender_domain(config))


@functools.lru_cache(maxsize=64)
def _list_id(title: str, domain: str) -> str:
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode("ascii")  # "Päper": "Paper"
    label = re.sub(r"[^a-z0-9]+", "-", ascii_title.casefold()).strip("-")[:63].strip("-") or "digest"
    value = f"<{label}.{domain}>"
    # a phrase of words: RFC 2047-encoded where it is not ASCII; one with a comma or quotes would need quoting
    return f"{title} {value}" if _PHRASE_WORDS.fullmatch(title) and len(title) < 200 else value


_PHRASE_WORDS = re.compile(r"\w+(?:[ -]\w+)*")


def unsubscribe_url(config: Config, subscriber: Subscriber) -> str | None:
    """Where the footer's "unsubscribe" points: with ``web:`` set, the
    subscriber's signed page on ``newsletter serve``; otherwise the configured
    ``email.unsubscribe`` with ``{email}`` filled in (URL-quoted), else a
    ``mailto:`` to the From address with subject "unsubscribe".

    Non-ASCII characters are percent-encoded (UTF-8): the URL goes into the
    List-Unsubscribe header as it is, where mail clients do not decode
    RFC 2047 encoded words (RFC 2369).  None for a ``mailing_list:``
    subscriber: its list manager handles leaving it."""
    if subscriber.mailing_list:
        return None
    signed = links(config)
    if signed is not None:
        return signed.unsubscribe_url(subscriber.email)
    return _configured_url(config, subscriber)


def _configured_url(config: Config, subscriber: Subscriber) -> str:
    """``email.unsubscribe`` for this subscriber; without one, a mail to the
    From address: every digest says how to leave it (List-Unsubscribe and the
    footer), also from a config that never set up unsubscribing."""
    url = config.email.unsubscribe
    if not url:
        return _from_mailto(config)
    if "{email}" in url:
        email = subscriber.email
        # quote_plus, without its per-character work for the common address
        quoted = email.replace("@", "%40") if _URL_SAFE_ADDRESS.fullmatch(email) else quote_plus(email)
        url = url.replace("{email}", quoted)
    return _NOT_URL_ASCII.sub(lambda m: quote(m.group()), url)


def _from_mailto(config: Config) -> str:
    return f"mailto:{parseaddr(config.email.from_)[1]}?subject=unsubscribe"


_NOT_URL_ASCII = re.compile(r"[^\x21-\x7e]")
_URL_SAFE_ADDRESS = re.compile(r"[A-Za-z0-9._~-]+@[A-Za-z0-9._~-]+")
#: The longest URL that fits the List-Unsubscribe line (RFC 5322: 998 characters).
MAX_UNSUBSCRIBE_URL = 998 - len("List-Unsubscribe: <>")
#: RFC 8058: the header that makes an HTTPS List-Unsubscribe one-click.
ONE_CLICK = "List-Unsubscribe=One-Click"


def list_unsubscribe(config: Config, subscriber: Subscriber, url: str | None = None) -> tuple[list[str], bool]:
    """The List-Unsubscribe entries (``<url>`` each, checked) and whether the
    message is one-click (an HTTPS entry, so List-Unsubscribe-Post goes with it).

    With ``web:`` set: the signed page first, then a ``mailto:`` (the
    configured one, else the From address with subject "unsubscribe") for
    mail clients that only speak mail.  ``url``: :func:`unsubscribe_url`'s
    result when the caller has it already (signing and quoting cost more
    than the rest of the headers).  None for a ``mailing_list:`` subscriber:
    a member's mail client that posted the one-click link stopped the digest
    for the whole list, whose own manager handles leaving it.
    """
    if subscriber.mailing_list:
        return [], False
    signed = links(config)
    if signed is None:
        url = url or _configured_url(config, subscriber)
        return [_list_entry(config, url, ("email", "unsubscribe"))], url.startswith("https://")
    mailto = _configured_url(config, subscriber)
    return [
        _list_entry(config, url or signed.unsubscribe_url(subscriber.email), ("web", "base_url")),
        _list_entry(config, mailto, ("email", "unsubscribe")),
    ], True


def _list_entry(config: Config, url: str, where: tuple) -> str:
    """``<url>``, checked: no line break, and short enough for one header line
    (a URL cannot be folded or encoded without breaking it for mail clients)."""
    _checked(url, ".".join(where))
    if len(url) > MAX_UNSUBSCRIBE_URL:
        raise ConfigError(config.problem(
            where,
            f"the unsubscribe URL is {len(url)} characters, too long for a mail header line "
            f"(at most {MAX_UNSUBSCRIBE_URL})"))
    return f"<{url}>"


def _list_unsubscribe_lines(entries: list[str], linesep: str) -> str:
    """The header's value: one line when it fits, else one entry per line
    (folding is allowed between entries, never inside a URL)."""
    value = ", ".join(entries)
    if len("List-Unsubscribe: ") + len(value) <= 998:
        return value
    return ("," + linesep + " ").join(entries)


class _Verbatim(str):
    """A header value the ``email`` package writes exactly as given: no
    RFC 2047 encoded words, folded only between entries (for List-Unsubscribe)."""

    name: str
    entries: list[str]

    def __new__(cls, name: str, entries: list[str]):
        self = super().__new__(cls, ", ".join(entries))
        self.name = name
        self.entries = entries
        return self

    def fold(self, *, policy) -> str:
        return f"{self.name}: {_list_unsubscribe_lines(self.entries, policy.linesep)}{policy.linesep}"


#: The text part's parameter saying its lines that end in a space are soft
#: breaks (RFC 3676): the default ``digest.txt`` wraps its paragraphs at 72
#: characters (``rendering.flowed``), and a mail app that knows the format
#: joins them and wraps them to its screen again.  The text given is the
#: composer's finished part (``rendering.flowed_text``): no trailing space
#: but the filter's soft breaks, indents in no-break spaces, ">" and "From "
#: stuffed, so a template of one's own, unwrapped, is shown as it is.
FLOWED = "; format=flowed"


def _text_part(body: str, subtype: str) -> EmailMessage:
    """A UTF-8 text part, quoted-printable (safe for any line length and any
    relay) encoded by :func:`binascii.b2a_qp`: the same encoding
    ``set_content`` chooses, several times faster."""
    part = EmailMessage()
    body = body.replace("\r\n", "\n").replace("\r", "\n")
    if not body.endswith("\n"):
        body += "\n"
    part["Content-Type"] = f'text/{subtype}; charset="utf-8"' + (FLOWED if subtype == "plain" else "")
    part["Content-Transfer-Encoding"] = "quoted-printable"
    part.set_payload(binascii.b2a_qp(body.encode("utf-8"), istext=True).decode("ascii"))
    return part


def build_message(
    config: Config,
    subscriber: Subscriber,
    *,
    subject: str,
    html: str,
    text: str,
    message_id: str,
    date: datetime,
) -> EmailMessage:
    """multipart/alternative: text/plain first, text/html last (the preferred part).

    Raises :class:`ConfigError` for an address or name that would break the
    headers, :class:`TemplateError` for such a subject.
    """
    from_name, from_addr = parseaddr(config.email.from_)
    msg = EmailMessage()
    msg["From"] = _address(from_name, from_addr, "email.from")
    msg["To"] = _address(subscriber.name, subscriber.email, f"subscriber {subscriber.email!r}")
    msg["Subject"] = _checked(subject, "subject", TemplateError)
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = _checked(message_id, "Message-ID")
    if config.email.reply_to:
        name, addr = parseaddr(config.email.reply_to)
        msg["Reply-To"] = _address(name, addr, "email.reply_to")
    msg["List-Id"] = _checked(list_id(config), "email.title")
    entries, one_click = list_unsubscribe(config, subscriber)
    if entries:
        msg.set_raw("List-Unsubscribe", _Verbatim("List-Unsubscribe", entries))
        if one_click:
            msg["List-Unsubscribe-Post"] = ONE_CLICK
    msg["MIME-Version"] = "1.0"
    msg["Content-Type"] = "multipart/alternative"
    msg.attach(_text_part(text, "plain"))
    msg.attach(_text_part(html, "html"))
    return msg


def message_bytes(message: EmailMessage) -> bytes:
    """What goes over SMTP for an :class:`EmailMessage` (CRLF line ends)."""
    return message.as_bytes(policy=SMTP)


def email_package_writer(config: Config):
    """The straightforward writer: :func:`build_message`, then the ``email``
    generator (the reference :class:`MessageWriter` is checked against, and
    the naive pipeline of the benchmark)."""

    def write(subscriber: Subscriber, *, subject: str, html: str, text: str, message_id: str, date: datetime) -> bytes:
        msg = build_message(config, subscriber, subject=subject, html=html, text=text, message_id=message_id, date=date)
        return message_bytes(msg)

    return write


# Values that the email policy would write unchanged: plain ASCII words.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?: [A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*\Z")
_PLAIN_ADDR = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\Z"
)
_PLAIN_TEXT = re.compile(r"[\x21-\x7e]+(?: [\x21-\x7e]+)*\Z")


def _fold(name: str, value) -> bytes:
    """One header as the ``email`` package writes it (RFC 2047 words, folding)."""
    return SMTP.header_factory(name, value).fold(policy=SMTP).encode("ascii")


@functools.lru_cache(maxsize=4096)
def _subject(subject: str) -> bytes:
    """Folded once per distinct subject: many digests share one.  Non-ASCII
    text is all RFC 2047 encoded words (:func:`_encoded_words`)."""
    if subject.isascii():
        return _fold("Subject", subject)
    return ("Subject: " + "\r\n ".join(_encoded_words(subject)) + "\r\n").encode("ascii")


def _encoded_words(text: str, size: int = 42) -> list[str]:
    """``text`` as RFC 2047 encoded words (base64 UTF-8), at most ``size``
    bytes of text each (a folded line stays under 78 characters), cut between
    characters.  Every space is inside a word, so no reader can lose one: the
    ``email`` package's own folding drops the space between an encoded word
    and the next ("— Jürgen" read "—Jürgen"), as RFC 2047 has readers ignore
    white space between encoded words."""
    words: list[str] = []
    current: list[str] = []
    length = 0
    for ch in text:
        n = len(ch.encode("utf-8"))
        if current and length + n > size:
            words.append("".join(current))
            current, length = [], 0
        current.append(ch)
        length += n
    words.append("".join(current))
    return ["=?utf-8?b?" + base64.b64encode(w.encode("utf-8")).decode("ascii") + "?=" for w in words]


def _phrase_words(name: str) -> list[str] | None:
    """A non-ASCII display name as one RFC 2047 encoded word (base64), or
    None if it needs more care: quotes, controls, or too long for one word
    (the ``email`` parser keeps the space between adjacent encoded words)."""
    raw = name.encode("utf-8")
    if len(raw) > 45 or any(c in name for c in '"\\') or not name.isprintable() or name != " ".join(name.split()):
        return None
    return ["=?utf-8?b?" + base64.b64encode(raw).decode("ascii") + "?="]


class MessageWriter:
    """The digest's wire bytes, written directly: the same message as
    :func:`build_message` (same headers, same parts and encodings) at a
    fraction of the cost of the ``email`` package's header machinery.

    Headers that are the same for every digest (From, Reply-To) are folded
    once per config (the header order is :func:`build_message`'s); To and Subject are written as they are when they are
    plain ASCII words that fit a line, and folded/RFC 2047-encoded by the
    ``email`` policy otherwise.  Both text parts are quoted-printable
    (:func:`binascii.b2a_qp`, what ``set_content`` would choose for long
    UTF-8 lines).  The result has CRLF line ends, ready for ``sendmail``.
    Raises like :func:`build_message`.
    """

    def __init__(self, config: Config) -> None:
        self.config = config
        from_name, from_addr = parseaddr(config.email.from_)
        self._from = _fold("From", _address(from_name, from_addr, "email.from"))
        self._reply_to = b""
        if config.email.reply_to:
            name, addr = parseaddr(config.email.reply_to)
            self._reply_to = _fold("Reply-To", _address(name, addr, "email.reply_to"))
        self._list_id = _fold("List-Id", _checked(list_id(config), "email.title"))
        self._dates: dict[datetime, bytes] = {}
        self._lines: dict[str, bytes] = {}  # line -> its quoted-printable bytes
        # (a line holds about 300 characters: some 25 MB at most; a big send's
        # 4,000 distinct digests met 47,000 distinct lines, and the hits were
        # as many with this bound, cleared when full, as with none)
        self.max_lines = 30_000

    def quoted_printable(self, body: str) -> bytes:
        """``body`` in quoted-printable (:func:`_qp_line` for each line: no line
        starts with a dot) with CRLF line ends, line by line from a cache:
        quoted-printable encodes each line on its own, and most lines of a
        digest (a paper's card) recur in many digests."""
        lines = self._lines
        get = lines.get
        out = []
        for line in body.split("\n"):
            qp = get(line)
            if qp is None:
                if len(lines) >= self.max_lines:
                    lines.clear()
                qp = lines[line] = _qp_line(line)
            out.append(qp)
        return b"\r\n".join(out)

    def encoded_line(self, line: str) -> bytes:
        """One line (no line break in it) in quoted-printable, from the cache
        :meth:`quoted_printable` keeps: for :class:`EncodedBody`, whose bodies
        differ from digest to digest in a big send, and whose lines (the cards
        of the papers many subscribers get, the template's own) recur in most
        of them."""
        qp = self._lines.get(line)
        if qp is None:
            if len(self._lines) >= self.max_lines:
                self._lines.clear()
            qp = self._lines[line] = _qp_line(line)
        return qp

    def _to(self, subscriber: Subscriber) -> bytes:
        name, addr = subscriber.name or "", subscriber.email
        line = f"To: {name} <{addr}>\r\n" if name else f"To: {addr}\r\n"
        if _PLAIN_ADDR.match(addr):
            if len(line) <= 80 and (not name or _PLAIN_NAME.match(name)):
                return line.encode("ascii")
            words = _phrase_words(name) if name and not name.isascii() else None
            if words:
                return ("To: " + "\r\n ".join(words) + f"\r\n <{addr}>\r\n").encode("ascii")
        return _fold("To", _address(subscriber.name, addr, f"subscriber {addr!r}"))

    def __call__(self, subscriber: Subscriber, *, subject: str, html: str, text: str, message_id: str, date: datetime) -> bytes:
        return self.assemble(
            subscriber,
            subject=subject,
            message_id=message_id,
            date=date,
            text_qp=self.quoted_printable(text_body(text)),
            html_qp=self.quoted_printable(text_body(html)),
        )

    def assemble(
        self,
        subscriber: Subscriber,
        *,
        subject: str,
        message_id: str,
        date: datetime,
        text_qp: bytes | list[bytes],
        html_qp: bytes | list[bytes],
        unsubscribe: str | None = None,
    ) -> bytes:
        """The message around two bodies already in quoted-printable (CRLF line
        ends, as :meth:`quoted_printable` gives them for :func:`text_body`),
        each as bytes or as the pieces that make it (:meth:`EncodedBody.filled`:
        the message is then the one copy made of them);
        ``unsubscribe``: the subscriber's :func:`unsubscribe_url`, if known."""
        out = [self._from, self._to(subscriber)]
        _checked(subject, "subject", TemplateError)
        line = f"Subject: {subject}\r\n"
        if len(line) <= 80 and "=?" not in subject and _PLAIN_TEXT.match(subject):
            out.append(line.encode("ascii"))
        else:
            out.append(_subject(subject))
        stamp = self._dates.get(date)
        if stamp is None:
            stamp = self._dates[date] = f"Date: {format_datetime(date)}\r\n".encode("ascii")
            if len(self._dates) > 64:
                self._dates.clear()
        out.append(stamp)
        _checked(message_id, "Message-ID")
        if not _PLAIN_TEXT.match(message_id):
            raise ConfigError(Problem(f"Message-ID: {message_id!r} is not plain ASCII"))
        out.append(f"Message-ID: {message_id}\r\n".encode("ascii"))
        out.append(self._reply_to)
        out.append(self._list_id)
        entries, one_click = list_unsubscribe(self.config, subscriber, unsubscribe)
        if entries:
            out.append(f"List-Unsubscribe: {_list_unsubscribe_lines(entries, chr(13) + chr(10))}\r\n".encode("ascii"))
            if one_click:
                out.append(b"List-Unsubscribe-Post: " + ONE_CLICK.encode("ascii") + b"\r\n")
        boundary = ("=" * 15 + f"{random.randrange(sys.maxsize):019d}" + "==").encode("ascii")
        out.append(b'MIME-Version: 1.0\r\nContent-Type: multipart/alternative;\r\n boundary="' + boundary + b'"\r\n\r\n')
        for payload, subtype in ((text_qp, b'plain; charset="utf-8"' + FLOWED.encode("ascii")),
                                 (html_qp, b'html; charset="utf-8"')):
            out.append(b"--" + boundary + b"\r\nContent-Type: text/" + subtype
                       + b"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
            if isinstance(payload, bytes):
                out.append(payload)
            else:
                out.extend(payload)
            out.append(b"\r\n")
        out.append(b"--" + boundary + b"--\r\n")
        return b"".join(out)


def text_body(body: str) -> str:
    """A text part's body as the message carries it: LF line ends, ending with one."""
    body = body.replace("\r\n", "\n").replace("\r", "\n")
    return body if body.endswith("\n") else body + "\n"


class EncodedBody:
    """A text part shared by many messages, quoted-printable once, with holes.

    ``body`` holds placeholder tokens (see :class:`rendering.Composer`) where
    each message has its own values.  Quoted-printable encodes each line on
    its own, so the lines without a token are encoded here, once; :meth:`fill`
    encodes only the few lines with a token, after putting the values in.
    """

    __slots__ = ("pieces",)

    def __init__(self, body: str, tokens: tuple[str, ...], encode: Callable[[str], bytes] | None = None) -> None:
        """``encode``: how a line without a token is encoded (:func:`_qp_line`
        unless given, e.g. :meth:`MessageWriter.encoded_line`, from its cache)."""
        encode = encode or _qp_line
        pieces: list[bytes | str] = []
        static: list[bytes] = []
        # (the tokens share a prefix: one look for it, not a generator over them, for most lines)
        shared = commonprefix(tokens)
        for line in text_body(body).split("\n"):
            if shared in line and any(t in line for t in tokens):
                if static:
                    pieces.append(b"\r\n".join(static))
                    static = []
                pieces.append(line)
            else:
                static.append(encode(line))
        if static:
            pieces.append(b"\r\n".join(static))
        self.pieces = tuple(pieces)

    def fill(self, values: dict[str, str]) -> bytes:
        """The encoded body with each token replaced by its value."""
        return b"".join(self.filled(values))

    def filled(self, values: dict[str, str]) -> list[bytes]:
        """:meth:`fill`'s bytes as the pieces that make them, not joined: a
        message (:meth:`MessageWriter.assemble`) copies them once, not twice
        (a digest's 55 KB copied once more per message was a tenth of a send
        worker's instructions, with the copy at the SMTP write)."""
        out: list[bytes] = []
        for piece in self.pieces:
            if isinstance(piece, str):
                for token, value in values.items():
                    piece = piece.replace(token, value)
                out.append(_qp_line(piece))
            else:
                out.append(piece)
            out.append(b"\r\n")
        if out:
            out.pop()  # a line break between pieces, none after the last
        return out


def _qp_line(line: str) -> bytes:
    """One line (no line break in it) in quoted-printable, CRLF soft breaks.

    No encoded line starts with a dot, so a message of such parts needs no
    SMTP dot-stuffing (``Envelope.dot_safe``): finding the dots costs as much
    as doubling them, 50 microseconds per digest."""
    encoded = binascii.b2a_qp(line.encode("utf-8"), istext=True)
    if encoded.startswith(b".") or b"\n." in encoded:
        encoded = _rewrap_without_leading_dots(encoded)
    return encoded.replace(b"\n", b"\r\n")


def _rewrap_without_leading_dots(encoded: bytes) -> bytes:
    """``b2a_qp``'s output for one line, its soft breaks placed again so that
    a line that would start with ``.`` starts with ``=2E`` (the same
    character, RFC 2045), every line still at most 76 characters.

    Each line is as long as it can be (75 characters and the soft break's
    ``=``) without cutting an escape (``=XX``) in two.  Cut a line at a
    time, not an escape or character at a time: the digests' long lines
    meet a dot at a soft break often (six times as often as in the last
    stop's), and a loop over their characters took 18 times as long."""
    flat = encoded.replace(b"=\n", b"")  # every "=" left starts an escape: b2a_qp writes "=" itself as =3D
    end = len(flat)
    lines: list[bytes] = []
    pos = 0
    while True:
        lead = b""
        if flat.startswith(b".", pos):
            lead, pos = b"=2E", pos + 1
        cut = pos + 75 - len(lead)
        if cut >= end:
            lines.append(lead + flat[pos:])
            return b"\n".join(lines)
        if flat[cut - 1] == 61:  # "=": an escape would be cut after its "="
            cut -= 1
        elif flat[cut - 2] == 61:  # ... or after its first digit
            cut -= 2
        lines.append(lead + flat[pos:cut] + b"=")
        pos = cut


def parse_message(data: bytes) -> EmailMessage:
    """The message back as an :class:`EmailMessage` (LF line ends, as the
    ``email`` package keeps them), e.g. for preview and ``.eml`` files."""
    return message_from_bytes(data.replace(b"\r\n", b"\n"), policy=default)
