"""Parse the documents remote sources publish into :class:`Paper` values.

One function per format, each ``(data: bytes, name, source, warn, ...)``:
``name`` is the URL or file shown in errors, ``source`` the config source's
label recorded on each paper, ``warn(message)`` receives entries that were
skipped.  A document that is not the format (truncated XML, invalid JSON, an
HTML error page) raises :class:`InputError` with the line where parsing gave
up; one malformed entry (no id, no title) is skipped with a warning and does
not sink the rest.

- :func:`parse_arxiv`: arXiv Atom, both the search API
  (``export.arxiv.org/api/query``) and the announcement feed
  (``rss.arxiv.org/atom/cs.LG``, with ``arxiv:announce_type``).
- :func:`parse_hf_daily`: the Hugging Face ``/api/daily_papers`` JSON.
- :func:`parse_feed`: any RSS 2.0 or Atom feed (feedparser); links to arXiv
  give the paper its arXiv id, so it merges with the arXiv sources.
"""

from __future__ import annotations

import codecs
import csv
import email
import email.utils
import html
import html.entities
import io
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from html.parser import HTMLParser
from itertools import pairwise
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

from .errors import UNKNOWN_PAGE, InputError, Problem, counted, line_of, parsed_xml
from .fetching import storage_error
from .files import windows_1252
from .latex import SUBSCRIPT, SUPERSCRIPT
from .listings import (
    arxiv_mail,
    arxiv_page_kind,
    listing_text,
    parse_arxiv_listing,
    parse_arxiv_mail,
    read_listing_text,
    withdrawn,
)
from .models import (
    ARXIV_ID,
    NAME_SUFFIX,
    SHOWS_NOTHING,
    Paper,
    abs_url,
    arxiv_base_id,
    first_last,
    pdf_url,
    split_names,
    web_url,
)
from .patterns import XML_PROLOG
from .scholar import is_scholar_alert, parse_scholar_alert

if TYPE_CHECKING:
    import feedparser

Warn = Callable[[str], None]
T = TypeVar("T")

_ARXIV_ID_FULL = re.compile(rf"^{ARXIV_ID}$")
#: A link that names an arXiv paper: its abstract, PDF or HTML page, or its Hugging Face
#: or alphaXiv page (which exist for arXiv papers only, under the same id).
_ARXIV_LINK = re.compile(
    # a link to the paper's pages, arXiv's DOI for it, or an id as arXiv's own feeds give it (a guid)
    r"(?:arxiv\.org/(?:abs|pdf|html)/|huggingface\.co/papers/|alphaxiv\.org/(?:abs|overview|pdf)/|10\.48550/arxiv\."
    rf"|^oai:arxiv\.org:|^arxiv:)({ARXIV_ID})",
    re.IGNORECASE,
)
_ARXIV_ENTRY_ID = re.compile(rf"(?:arxiv\.org/abs/|^oai:arXiv\.org:)({ARXIV_ID})$", re.IGNORECASE)
_ANNOUNCE_PREFIX = re.compile(
    rf"^\s*arXiv:{ARXIV_ID}\s+Announce Type:\s*(?P<type>[\w-]+)\s*(?:Abstract:\s*)?", re.IGNORECASE
)
#: What arXiv's old RSS 1.0 (RDF) feed appends to every title:
#: ``Title. (arXiv:2101.00001v1 [cs.LG])``, ``Title. (arXiv:2101.00001v2 [cs.LG] UPDATED)``.
_ARXIV_TITLE_SUFFIX = re.compile(
    rf"\.?\s*\(arXiv:({ARXIV_ID})(?:\s+\[[^\]]*\])?(?:\s+(?P<note>[A-Z][A-Z ]*?))?\s*\)\s*$")
#: The announcement type the RDF feed's title tail says: none for a new paper.
_RDF_ANNOUNCE = {"": "new", "UPDATED": "replace", "CROSS LISTED": "cross"}
#: The id aggregators' feeds put before a title: ``[2406.00001] Title``, ``arXiv:2406.00001v2 Title``.
_ARXIV_TITLE_PREFIX = re.compile(rf"^\s*(?:\[(?:arXiv:)?({ARXIV_ID})\]|arXiv:\s*({ARXIV_ID}))[\s:.–—-]*(?=\S)",
                                 re.IGNORECASE)


#: Control characters: JSON carries them (``"\u001b[2J"``), XML only as white space.
#: And what shows nothing (:data:`models.SHOWS_NOTHING`, as exports drop it).
_CONTROLS = re.compile(f"[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f{SHOWS_NOTHING}]")


def collapse(text: str | None) -> str:
    """Every run of white space (line breaks from XML wrapping included) to
    one space, and control characters dropped: a JSON source's escape
    sequences reached the terminal through `papers` and the text part of
    the email, and a NUL is refused by PostgreSQL's state.  So are the
    characters that show nothing: soft hyphens, zero-width spaces and bidi
    overrides (:data:`_CONTROLS`)."""
    text = text if isinstance(text, str) else ""  # a JSON field of another type than promised
    if _CONTROLS.search(text):
        text = _CONTROLS.sub("", text)
    return " ".join(text.split())


def is_arxiv_id(value: str) -> bool:
    return bool(_ARXIV_ID_FULL.match(value.strip()))


# --------------------------------------------------------------------------- XML feeds


#: A named character reference; XML knows only five, feeds use HTML's (``&nbsp;``, ``&eacute;``).
_NAMED_ENTITY = re.compile(rb"&([A-Za-z][A-Za-z0-9]{1,31});")
_XML_ENTITIES = frozenset({b"amp", b"lt", b"gt", b"quot", b"apos"})
_UTF8_BOM = b"\xef\xbb\xbf"


def _numeric_entities(data: bytes) -> bytes:
    """HTML's named entities as numeric character references, which XML knows.

    Many feeds write ``&nbsp;`` or ``&eacute;`` outside CDATA: an XML parser
    stops there, and feedparser either refuses the feed (undefined entity) or,
    with an RSS 0.91 DOCTYPE, silently drops the character ("Caf&eacute;" read
    as "Caf")."""
    from html.entities import html5

    def number(m: re.Match) -> bytes:
        if m.group(1) in _XML_ENTITIES:
            return m.group(0)
        chars = html5.get(m.group(1).decode("ascii") + ";")
        return m.group(0) if chars is None else "".join(f"&#{ord(c)};" for c in chars).encode("ascii")

    return _NAMED_ENTITY.sub(number, data)


#: A DOCTYPE with an internal subset at the head of a document (after a byte
#: order mark, the XML declaration, comments): ``<!DOCTYPE rss [ ... ]>``.
#: The name and identifiers end at a non-space, so a run of spaces is split one
#: way only (``[^\[>]*?\s*`` tried every split: 200,000 spaces took 40 s).
_INTERNAL_SUBSET = re.compile(
    rb"\A(?P<head>(?:\xef\xbb\xbf)?" + XML_PROLOG + rb"<!DOCTYPE\s(?:\s*[^\s\[>])*)\s*\[(?P<subset>.*?)\]\s*>",
    re.DOTALL | re.IGNORECASE,
)
#: A general entity with a plain value (text and character references only).
_PLAIN_ENTITY = re.compile(rb"""<!ENTITY\s+([A-Za-z_][\w.-]*)\s+(?:"((?:[^"<&]|&#\w+;)*)"|'((?:[^'<&]|&#\w+;)*)')\s*>""")


def _without_internal_subset(data: bytes) -> bytes:
    """``data`` with its DOCTYPE's internal subset taken out and the plain
    entities it declares written in where they are used (outside CDATA).

    feedparser drops such a subset only when each declaration starts a line:
    one written on one line (``<!DOCTYPE rss [<!ENTITY nbsp "&#160;">]>``), or
    one pulling in XHTML's entity sets for ``&eacute;`` (``%HTMLlat1;``),
    failed the whole feed as 'syntax error' or 'illegal parameter entity
    reference'.  HTML's named entities are read anyway (see
    :func:`_numeric_entities`); an entity declared from other entities (a
    "billion laughs") stays undefined, an error where it is used.  The subset's
    line breaks are kept, so that errors name the right line."""
    m = None if _wide_unicode(data) else _INTERNAL_SUBSET.match(data)
    if m is None:
        return data
    subset = m.group("subset")
    values = {e.group(1): e.group(2) if e.group(2) is not None else e.group(3) for e in _PLAIN_ENTITY.finditer(subset)}
    rest = data[m.end():]
    if values:
        used = re.compile(rb"(<!\[CDATA\[.*?\]\]>)|&(" + b"|".join(re.escape(n) for n in values) + rb");", re.DOTALL)
        rest = used.sub(lambda u: u.group(1) or values[u.group(2)], rest)
    return m.group("head") + b">" + b"\n" * subset.count(b"\n") + rest


#: An XML declaration's encoding, if it names one (``<?xml version="1.0" encoding="utf-8"?>``).
_DECLARED_ENCODING = re.compile(rb"\A(?:\xef\xbb\xbf)?\s*<\?xml[^>]*?\bencoding\s*=\s*(\S*)")
_UTF8_NAME = re.compile(rb"""["']utf[-_]?8["']""", re.IGNORECASE)
#: The bytes Windows-1252 leaves undefined: read as Latin-1's (C1 controls, dropped later).
_CP1252_UNDEFINED = frozenset(b"\x81\x8d\x8f\x90\x9d")


def _bytes_as_cp1252(error: UnicodeError) -> tuple[str, int]:
    """A codec error handler: the first byte UTF-8 refused, as Windows-1252."""
    assert isinstance(error, UnicodeDecodeError)
    byte = error.object[error.start]
    return (chr(byte) if byte in _CP1252_UNDEFINED else bytes([byte]).decode("cp1252")), error.start + 1


codecs.register_error("newsletter-cp1252", _bytes_as_cp1252)


#: An XML declaration naming UTF-16 or UTF-32: the name's quotes and the name.
_WIDE_DECLARED = re.compile(
    rb"""\A(?:\xef\xbb\xbf)?\s*<\?xml[^>]*?\bencoding\s*=\s*["'](?P<name>(?:utf|ucs)[-_]?(?:16|32|2|4)"""
    rb"""(?:[-_]?[lb]e)?|iso-10646-ucs-[24]|unicode)["']""",
    re.IGNORECASE,
)


def _wide_declaration_dropped(data: bytes) -> bytes:
    """A document of one byte per ASCII character (no NUL among its first
    bytes, no UTF-16 byte order mark) that declares UTF-16 or UTF-32 cannot
    be what it says: .NET's StringWriter declares ``utf-16`` whatever the
    bytes are saved as, and such feeds are served as UTF-8.  Its declaration
    is read as UTF-8 (browsers and feed readers read them so); it was 'not a
    well-formed feed (invalid token)', at a line the file does not have."""
    wide = _WIDE_DECLARED.match(data)
    if wide is None:
        return data
    return data[: wide.start("name")] + b"utf-8" + data[wide.end("name"):]


def _utf8_mended(data: bytes) -> bytes:
    """A UTF-8 feed with a few bytes in another encoding (a post pasted from a
    Windows-1252 editor: ``Caf\xe9``) with those bytes read as Windows-1252 and
    the rest as UTF-8.  feedparser read the whole document as Windows-1252
    instead, and every other post's '—' or 'é' came out as 'â€”' or 'Ã©',
    silently.  A document declaring another encoding is left as it is."""
    if _wide_unicode(data):
        return data
    data = _wide_declaration_dropped(data)
    declared = _DECLARED_ENCODING.match(data)
    if declared and not _UTF8_NAME.match(declared.group(1)):
        return data
    try:
        data.decode("utf-8")
        return data
    except UnicodeDecodeError:
        return data.decode("utf-8", "newsletter-cp1252").encode("utf-8")


#: What XML 1.0 forbids that feeds carry anyway, outside CDATA (kept whole,
#: but for its control characters): an ``&`` that starts no reference ("R&D",
#: a link's ``?a=1&b=2``), a character reference to a character XML has not
#: (``&#8;``, ``&#xD800;``), and a control character or U+FFFE/U+FFFF as is.
_XML_CONTROLS = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]|\xef\xbf[\xbe\xbf]")
_XML_SLIPS = re.compile(
    rb"(?P<cdata><!\[CDATA\[.*?\]\]>)"
    rb"|&(?![A-Za-z_][\w.-]*;|#[0-9]+;|#[xX][0-9A-Fa-f]+;)"
    rb"|&#(?P<dec>[0-9]+);|&#[xX](?P<hex>[0-9A-Fa-f]+);"
    rb"|" + _XML_CONTROLS.pattern,
    re.DOTALL,
)


def _wide_unicode(data: bytes) -> bool:
    """Whether ``data`` is UTF-16 or UTF-32, as they start: with a byte order
    mark, or with a NUL byte among the first four (XML's ``<?`` in them)."""
    return b"\x00" in data[:4] or data.startswith((b"\xff\xfe", b"\xfe\xff"))


def _xml_char(code: int) -> bool:
    """A character XML 1.0 allows (its production ``Char``)."""
    return code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD or 0x10000 <= code <= 0x10FFFF


def _without_xml_slips(data: bytes) -> bytes:
    """``data`` less what XML 1.0 forbids and feed generators write anyway (see
    :data:`_XML_SLIPS`): a bare ``&`` escaped, a reference to a control character
    or a surrogate and a control character as is dropped (Word's vertical tab and
    form feed become a space).  None of them carries text, and expat stops at the
    first one, which made one post pasted from a word processor sink every item
    of the feed.  A document in UTF-16 or UTF-32 is left as it is (its NUL bytes
    are text)."""
    if _wide_unicode(data):
        return data

    def repair(m: re.Match) -> bytes:
        whole = m.group(0)
        if m.group("cdata") is not None:
            return _XML_CONTROLS.sub(_spaced_control, whole) if _XML_CONTROLS.search(whole) else whole
        if whole == b"&":
            return b"&amp;"
        number = m.group("dec") or m.group("hex")
        if number is not None:
            code = int(number, 10 if m.group("dec") else 16) if len(number) < 10 else -1
            if _xml_char(code):
                return whole
            return b" " if code in (0xB, 0xC) else b""
        return _spaced_control(m)

    return _XML_SLIPS.sub(repair, data)


def _spaced_control(m: re.Match) -> bytes:
    return b" " if m.group(0) in (b"\x0b", b"\x0c") else b""


#: Files that are no text, told by their first bytes: given (or served) where a
#: feed or the daily papers JSON goes, expat said only "not well-formed".
_NO_TEXT = (
    (b"%PDF-", "a PDF file"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"PK\x03\x04", "a zip archive"),
    (b"\x1f\x8b", "gzip-packed data"),
)


def no_text_kind(data: bytes, *, packed: bool = True) -> str | None:
    """What ``data`` is when its first bytes say it holds no text (``"a PDF
    file"``), else None; gzip-packed data counts only when ``packed`` (a local
    file packed by gzip is unpacked and read)."""
    return next((what for magic, what in _NO_TEXT if data.startswith(magic) and (packed or what != "gzip-packed data")),
                None)


def _no_text(data: bytes, name: str, source: str, expected: str) -> None:
    """An :class:`InputError` when ``data`` starts as a file that holds no text."""
    kind = no_text_kind(data)
    if kind is not None:
        raise InputError(Problem(f"source {source!r}: {kind}, not {expected} (is the address right?)", name, 1))


#: What a feed source reads, as its messages name it.
FEED_EXPECTED = "an RSS or Atom feed"
#: What a ``type: arxiv`` source reads (its API's answers, its announcement feeds), as its messages name
#: it: an arXiv mirror's error page read "not an RSS or Atom feed", of a source that asked for neither.
ARXIV_EXPECTED = "an arXiv API answer or feed"


#: An HTML page: its first element (after an XML declaration, comments and a doctype) is <html>.
_HTML_PAGE = re.compile(XML_PROLOG + rb"(?:<!doctype\s+html[\s>]|<html[\s>])", re.IGNORECASE | re.DOTALL)


#: The address in a refresh's content: ``0; url=https://...`` (``URL=``, quoted, or without ``url=``).
_REFRESH_URL = re.compile(r"\s*\d*(?:\.\d*)?\s*[;,]\s*(?:url\s*=\s*)?(\S.*?)\s*$", re.I)


#: A path that names a feed (``/feed.xml``, ``/index.xml``, ``/feed/``, ``/atom``).
_FEED_LIKE = re.compile(r"(?i)(?:feed|rss|atom|\.xml)(?:[/.]|$)")


class _FeedLinks(HTMLParser):
    """The feeds an HTML page names in its head: ``<link rel="alternate" type="application/rss+xml" href=...>``."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []
        #: Where ``<meta http-equiv="refresh" content="0; url=...">`` sends a browser: a feed
        #: moved by a static site (Jekyll's redirect_from, Hugo's aliases) answers 200 with such a page.
        self.refresh: str | None = None

    def handle_starttag(self, tag: str, attrs) -> None:
        a = {k.lower(): (v or "") for k, v in attrs}
        if tag == "meta" and a.get("http-equiv", "").strip().lower() == "refresh" and self.refresh is None:
            if (m := _REFRESH_URL.match(a.get("content", ""))) is not None:
                self.refresh = m[1].strip().strip("'\"")
        if tag != "link":
            return
        if "alternate" in a.get("rel", "").lower().split() and a.get("type", "").lower() in (
            "application/rss+xml", "application/atom+xml", "application/feed+json"
        ) and a.get("href"):
            self.hrefs.append(a["href"].strip())


#: The longest address a page names that a message shows (a longer one is no address to give as url:).
_SHOWN_ADDRESS_MOST = 300


def _shows_as_is(address: str) -> bool:
    """Whether an address a page names may be printed as it is: every character
    printable (no backspace, escape, CSI or bell rewriting the terminal's line,
    no bidi override or isolate, U+202A-U+202E and U+2066-U+2069, reversing
    it) and no longer than :data:`_SHOWN_ADDRESS_MOST`; a hostile page's
    target reached the terminal raw."""
    return address.isprintable() and len(address) <= _SHOWN_ADDRESS_MOST


def _html_page(data: bytes, name: str, source: str, feed_link: bool, what: str = "an HTML page",
               expected: str = FEED_EXPECTED) -> InputError:
    """The error for an HTML page where ``expected`` goes: a site's page given for
    its feed (naming the feed the page links to, when ``feed_link``), an
    error page or a login wall (naming where its refresh sends browsers,
    whatever the source); ``what`` names the page."""
    found = _FeedLinks()
    try:
        found.feed(data[:262144].decode("utf-8", "replace"))
    except AssertionError:  # html.parser gives up on a malformed marked section: no link then
        pass
    base = name if name.startswith(("http://", "https://")) else ""
    hrefs = [h for h in (urljoin(base, h) for h in found.hrefs) if h.startswith(("http://", "https://"))
             and _shows_as_is(h)] if feed_link else []
    site = next((what for page, what in _SITE_PAGES if page.match(name)), None)
    refresh = urljoin(base, found.refresh) if found.refresh else ""
    refresh = refresh if _shows_as_is(refresh) else ""
    if refresh.startswith(("http://", "https://")) and _FEED_LIKE.search(urlsplit(refresh).path):
        said = (f"; the page sends browsers on to {refresh} (a refresh in the page, which a feed reader does not "
                "follow as it follows an HTTP redirect): give that as url:")
    elif refresh.startswith(("http://", "https://")):  # a network's login page sends browsers on so too
        said = f"; the page sends browsers on to {refresh}{UNKNOWN_PAGE}"
    elif hrefs:
        said = f"; the page names its feed: {hrefs[0]} (give that as url:)"
    elif site:
        said = f": {site}"
    elif holds_daily_papers(data):  # a papers page saved whole: not a fault to look for
        said = ": Hugging Face's papers page, whose daily papers `type: hf-daily` reads as it is"
    else:
        said = UNKNOWN_PAGE
    return InputError(Problem(f"source {source!r}: {what}, not {expected}{said}", name, 1))


#: Sites' own pages that people give as a feed's url:, and what reads them
#: (without it, "an error page or a login wall?" sent them looking for a fault).
_SITE_PAGES = (
    (re.compile(r"(?i)https?://(?:www\.)?huggingface\.co/papers(?:[/?#]|$)"),
     "Hugging Face's papers page has no feed; `type: hf-daily` reads its daily papers"),
    (re.compile(r"(?i)https?://(?:www\.|export\.)?arxiv\.org/(?:list|catchup|abs|a)/"),
     "arXiv's pages are no feed; `type: arxiv` reads its API, and with `feed: rss` and `categories:` "
     "the day's announcements"),
)


#: The header lines of a Hugging Face papers page saved as text.
_HF_EXPORT = re.compile(rb"^(?:Get trending papers in your email inbox|byAK and the research community)", re.M)
#: Where a feed starts: its XML declaration or its root element.
_FEED_START = re.compile(rb"<\?xml[\s?]|<(?:rss|feed|rdf:RDF)[\s>]")
#: How far into an answer text printed before the feed is looked past.
_JUNK_MOST = 4096


def _quoted(text: str, most: int = 80) -> str:
    return repr(text if len(text) <= most else text[: most - 1] + "…")


def _sanitizer_comment_end(self, i: int, report: int = 1) -> int:
    """Where an HTML comment feedparser's sanitizer meets at ``i`` ends, found
    in one pass: the end of the first ``>`` after the first ``--`` past its
    ``<!--`` (what feedparser's ``--[^>]*>`` finds, searched from every ``--``
    to the end of the text when no ``>`` follows), or the end of the text for
    an unclosed comment, which feedparser drops.  A summary of 50,000
    ``<!--`` took 6 s on an idle machine, 24 s on a loaded one; each more
    made it longer by the square."""
    ret = _HTML_COMMENT_END(self, i, report)
    if ret >= 0:
        return ret
    rawdata = self.rawdata
    dashes = rawdata.find("--", i + 4)
    close = -1 if dashes < 0 else rawdata.find(">", dashes + 2)
    return len(rawdata) if close < 0 else close + 1


#: What the sanitizer's own comment parser calls first (html.parser's, linear).
_HTML_COMMENT_END: Any = None


def _linear_sanitizer() -> None:
    """feedparser's HTML sanitizer with :func:`_sanitizer_comment_end` for its
    unclosed comment search, once a process (feedparser 6.0 has no other way in)."""
    global _HTML_COMMENT_END
    from feedparser.sanitizer import _HTMLSanitizer

    if _HTML_COMMENT_END is None:
        _HTML_COMMENT_END = super(_HTMLSanitizer, _HTMLSanitizer).parse_comment
        _HTMLSanitizer.parse_comment = _sanitizer_comment_end


def _parse_xml(data: bytes, name: str, source: str, feed_link: bool = False,
               expected: str = FEED_EXPECTED) -> feedparser.FeedParserDict:
    """feedparser, strictly: a document it had to guess at is an error, not a partial list.

    Common slips of feed generators are repaired first, since they lose
    nothing: blank lines or a line of text (a PHP warning) before the XML
    declaration, HTML's named entities, a bare ``&`` and control characters
    (see :func:`_without_xml_slips`).  An answer that is text and no XML
    (arXiv's "Rate exceeded.") is quoted.
    An HTML page is named as one (with the feed it links to, for
    ``feed_link``): expat said only "mismatched tag".  ``expected`` names
    what the source reads, in the messages of what it is not."""
    import feedparser  # imported when a feed is read: most sends start without one

    _linear_sanitizer()

    if not data.removeprefix(_UTF8_BOM).strip():  # (a BOM alone read "the answer is text, ''")
        raise InputError(Problem(f"source {source!r}: empty document, expected {expected}", name, 1))
    _no_text(data, name, source, expected)
    bom = _UTF8_BOM if data.startswith(_UTF8_BOM) else b""
    body = data[len(bom):]
    text = body.lstrip(b" \t\r\n")
    skipped_lines = body[: len(body) - len(text)].count(b"\n")
    if text[:1] in (b"{", b"["):  # expat would only say "not well-formed (invalid token)"
        raise InputError(Problem(f"source {source!r}: a JSON document, not {expected} "
                                 "(Hugging Face's daily papers JSON is `type: hf-daily`)", name, 1))
    if not _wide_unicode(text) and not text.startswith((b"<?xml", b"<!")) and not _HTML_PAGE.match(text[:4096]):
        m = _FEED_START.search(text[:_JUNK_MOST])
        if m and m.start():
            # a PHP warning (text or HTML) or a debug line printed before the feed: the feed itself is whole
            skipped_lines += text[: m.start()].count(b"\n")
            text = text[m.start():]
        elif not m and not text.startswith(b"<"):
            said = text.split(b"\n", 1)[0].decode("utf-8", "replace").strip()
            if _HF_EXPORT.search(text[:_JUNK_MOST]):
                raise InputError(Problem(f"source {source!r}: a Hugging Face papers page saved as text, not "
                                         f"{expected} (`type: hf-papers-text` reads it)", name, 1))
            if (page := _mhtml_page(text)) is not None:  # it read "the answer is text, 'From: <Saved by Blink>'"
                raise _html_page(page, name, source, feed_link, "a web page saved as MHTML", expected)
            if (links := arxiv_link_list(text)) is not None:
                raise InputError(Problem(f"source {source!r}: {links[0]}", name, links[1]))
            if (sent := _MAIL_HEADERS.match(text[:8192].decode("utf-8", "replace"))) is not None:
                fields = dict(re.findall(r"(?im)^(from|subject):[ \t]*(.*?)\s*$", sent.group()))
                said = "; ".join(f"{k}: {_quoted(v, 60)}" for k, v in fields.items())
                raise InputError(Problem(f"source {source!r}: an e-mail message ({said}), not a feed: of e-mails, "
                                         "arXiv's daily listing (a subscription to cs@arxiv.org and the like) is "
                                         "read; for another service's alerts give the feed or export it offers",
                                         name, 1))
            raise InputError(Problem(f"source {source!r}: not {expected}: the answer is text, "
                                     f"{_quoted(said)}", name, 1))
    if text.startswith(b"<"):
        data = bom + text
    else:
        skipped_lines = 0
    if _HTML_PAGE.match(text[:4096]):
        raise _html_page(text, name, source, feed_link, expected=expected)
    try:
        parsed = feedparser.parse(_without_xml_slips(_numeric_entities(_without_internal_subset(_utf8_mended(data)))))
    except Exception as error:  # feedparser means never to raise; bytes it trips on are no feed
        raise InputError(
            Problem(f"source {source!r}: not a well-formed feed ({type(error).__name__}: {error}); "
                    "truncated or not XML?", name, 1)
        ) from None
    exc = parsed.get("bozo_exception")
    # a declared encoding overridden is harmless: the document itself is fine
    if parsed.get("bozo") and not isinstance(exc, feedparser.CharacterEncodingOverride):
        line = exc.getLineNumber() + skipped_lines if hasattr(exc, "getLineNumber") else None
        if line is not None and not _wide_unicode(text) and not _LIKE_A_DECLARATION.match(text):
            line -= 1  # feedparser wrote a declaration and a line break before the document: lines named one on
        what = exc.getMessage() if hasattr(exc, "getMessage") else str(exc)
        raise InputError(
            Problem(f"source {source!r}: not a well-formed feed ({what}); truncated or not XML?", name, line)
        )
    if not parsed.get("version"):
        if re.search(rb"<html[\s>]", data[:4096], re.I):
            raise _html_page(data, name, source, feed_link, expected=expected)
        raise InputError(Problem(f"source {source!r}: not {expected}{_xml_kind(data)}", name, 1))
    return parsed


#: What feedparser takes for an XML declaration (and replaces); before any other
#: document it writes one of its own on a line of its own.
_LIKE_A_DECLARATION = re.compile(rb"<\?xml[^>]*?>")


#: The root element of an XML document that is no feed, and what it is.
_XML_KINDS = (
    (re.compile(rb"<opml[\s>]"), "an OPML list of feeds"),
    (re.compile(rb"<(?:urlset|sitemapindex)[\s>]"), "a sitemap (the site's list of pages)"),
)
#: A feed's address in an OPML list.
_OPML_FEED = re.compile(rb"""\sxmlUrl\s*=\s*(["'])(https?://[^"'<>\s]+)\1""")


def _xml_kind(data: bytes) -> str:
    """What an XML document that is no feed is, for the error (``: an OPML
    list of feeds; ...``), naming the first feed an OPML list gives: an
    export of a feed reader's subscriptions given as the feed read 'not an
    RSS or Atom feed' alone."""
    head = data[:65536]
    if (stored := storage_error(head)) is not None:  # a feed's bucket answering 200 with its error
        return f": the server's error document, {stored}"
    kind = next((what for pattern, what in _XML_KINDS if pattern.search(head)), None)
    if kind is None:
        return ""
    feeds = [html.unescape(m[2].decode("utf-8", "replace")) for m in _OPML_FEED.finditer(data)]
    if feeds:
        more = f" (and {len(feeds) - 1} more)" if len(feeds) > 1 else ""
        return f": {kind}; give each as its own source, url: {feeds[0]}{more}"
    return f": {kind}"


def arxiv_api_error(data: bytes) -> str | None:
    """What an arXiv API error document says (``start must be an integer``), or
    None when ``data`` is not one.  The API answers a bad query with HTTP 400
    and this document."""
    import feedparser

    return _arxiv_error(feedparser.parse(data).entries)


def _arxiv_error(entries: list) -> str | None:
    """What the arXiv API's error entry among ``entries`` says, if one is there."""
    for entry in entries:
        # its id names the error, or (a mirror or proxy that rewrote the ids) its link does
        places = [entry.get("id") or "", entry.get("link") or "", *(ln.get("href") or "" for ln in entry.get("links", []))]
        if any("arxiv.org/api/errors" in place for place in places):
            return collapse(entry.get("summary")) or collapse(entry.get("id"))
    return None


def _refuse_arxiv_error(entries: list, name: str, source: str) -> None:
    """An arXiv API error document (its one entry says what is wrong) is that
    error, not a paper titled "Error"."""
    if (said := _arxiv_error(entries)) is not None:
        raise InputError(Problem(f"source {source!r}: the arXiv API says: {said}", name))


def _published(entry) -> datetime | None:
    """When an entry was published (else updated), in UTC; None for a date
    outside what a datetime holds (``9999-12-31T23:59:59-12:00`` is in year
    10000 in UTC: it was a traceback)."""
    for key in ("published_parsed", "updated_parsed"):
        t = dict.get(entry, key)  # (not feedparser's alias of one for the other, which warns it is going away)
        if t:
            try:
                return datetime(*t[:6]).replace(tzinfo=UTC)
            except (ValueError, OverflowError):
                return None
    return None


class _TextOf(HTMLParser):
    """The text a browser would show for an HTML fragment.

    A real HTML parser, not a tag-stripping pattern: feedparser hands over an
    RSS description such as ``x &lt; 5 and y &gt; 3`` as ``x < 5 and y > 3``,
    whose ``<`` is text (no tag starts with a space), and must stay text."""

    _BREAKS = frozenset(
        "address article blockquote br dd div dl dt figcaption h1 h2 h3 h4 h5 h6 hr li ol p pre section "
        "table td th tr ul".split()
    )
    _HIDDEN = frozenset({"script", "style"})
    _SCRIPTS = {"sub": SUBSCRIPT, "sup": SUPERSCRIPT}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0
        self.scripts: list[str] = []  # open <sub>/<sup>: H<sub>2</sub>O shows as H₂O

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag in self._HIDDEN:
            self.hidden += 1
        elif tag in self._BREAKS:
            self.parts.append(" ")
        elif tag in self._SCRIPTS:
            self.scripts.append(tag)

    def handle_startendtag(self, tag: str, attrs) -> None:
        if tag in self._BREAKS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in self._BREAKS:
            self.parts.append(" ")
        elif tag in self._SCRIPTS and tag in self.scripts:
            # the innermost open one closes, even when another kind was left open inside it
            last = max(i for i, open_tag in enumerate(self.scripts) if open_tag == tag)
            del self.scripts[last]

    def handle_data(self, data: str) -> None:
        if self.hidden:
            return
        if self.scripts:
            table = self._SCRIPTS[self.scripts[-1]]
            shifted = data.translate(table)
            # Only where every character has a raised or lowered form: "x<sup>n+1</sup>"
            # as xⁿ⁺¹, "<sup>Corresponding author</sup>" as it is written.
            if all(c != s or c.isspace() for c, s in zip(data, shifted, strict=True)) and not data.isspace():
                data = shifted
        self.parts.append(data)


def html_text(value: str) -> str:
    """Plain text of an HTML fragment: tags dropped, entities decoded, white space collapsed."""
    try:
        return _text_of(value)
    except AssertionError:  # html.parser gives up on a malformed marked section ("<![ x"): it is text
        pass
    try:
        return _text_of(value.replace("<![", "&lt;!["))
    except AssertionError:
        return _text_of(value.replace("<!", "&lt;!"))


def _text_of(value: str) -> str:
    parser = _TextOf()
    # After the last ">" no tag, comment or "<?" can close: html.parser, closing, looked for
    # the end of each "<" there to the end of the text, and 10,000 "<a " took 20 s (50,000
    # "<?xml" in a post's CDATA, 10 s).  Each such "<" is text, as html.parser read it.
    last = value.rfind(">") + 1
    parser.feed(value[:last])
    parser.feed(value[last:].replace("<", "&lt;"))
    parser.close()
    return collapse("".join(parser.parts))


def _plain(detail, value: str | None, *, again: bool = True) -> str:
    """Text of a feed field; HTML (RSS descriptions usually are) loses its
    tags, and so does HTML escaped twice (``&amp;lt;p&amp;gt;``, as some
    generators write a description): once decoded it is still markup, a
    paragraph's or a line break's tags, which the email showed as text.

    A field whose own escaping, read, still shows an entity's text
    (``x &amp;amp;lt; y``: escaped again by its generator, see
    :func:`_escaped_again`) is read to its characters, as a JSON or CSV
    export's text is (:func:`entities_read`).  One entity left is the text as
    written (``the entity &amp;amp; breaks`` reads "the entity &amp; breaks"):
    reading it showed a paper about escaping wrong.  ``again=False`` (arXiv,
    which escapes exactly once) reads no level more."""
    value = value or ""
    if detail and "html" in (detail.get("type") or ""):
        text = html_text(value)
        text = html_text(text) if _ESCAPED_MARKUP.search(text) else text
        again = again and not _escaped_once(value)
    else:
        text = collapse(value)
    return collapse(entities_read(text)) if again and _escaped_again(value) else text


#: An entity's own text escaped (``&amp;amp;``, ``&amp;lt;``, ``&amp;#233;``): what a
#: field that its generator escaped once more than its format does still holds once read.
_ENTITY_OF_ENTITY = re.compile(r"&amp;(?:#\d+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]{1,31});")


def _escaped_again(value: str) -> bool:
    """Whether a feed field, as its XML gave it, was escaped once more than
    its type says: it holds an entity of an entity (``&amp;lt;``), the text
    of ``&amp;amp;lt;`` in the XML.  A text holding one entity's text
    (``&amp;`` read from ``&amp;amp;``) may well mean it (a paper about HTML
    escaping): it is shown as written."""
    return bool(_ENTITY_OF_ENTITY.search(value))


#: A tag of real markup in an HTML field (``<p>``, ``</b>``, ``<a href="...">``, ``<br/>``).
_MARKUP_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9]*(?:\s[^<>]*)?/?>")
#: A character escaped exactly once in HTML: a reference other than ``&amp;``, or ``&amp;`` before
#: no entity's name (``R&amp;D``, ``x &lt; y``, ``It&#8217;s``).
_ONCE_ESCAPED = re.compile(
    r"&(?!amp;)(?:#\d+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]{1,31});"
    r"|&amp;(?!#\d+;|#[xX][0-9a-fA-F]+;|[A-Za-z][A-Za-z0-9]{1,31};)"
)


def _escaped_once(value: str) -> bool:
    """Whether an HTML field (an Atom ``type="html"`` summary, an RSS
    description) shows itself escaped exactly as HTML is: real tags, and a
    character escaped once (``x &lt; y``, ``R&amp;D``).  An entity's text
    in it (``&amp;lt;``) is then the text it shows, "&lt;" (a post on
    escaping), not a sign of a generator escaping twice: read once more, it
    showed "<".  A field escaped twice throughout (WordPress's
    ``It&amp;#8217;s`` inside real ``<p>`` tags) has no character escaped
    once, and is still read to its characters."""
    return bool(_MARKUP_TAG.search(value)) and bool(_ONCE_ESCAPED.search(value))


#: What HTML escaped twice still shows once decoded: a paragraph's, a block's or a line break's tags.
_ESCAPED_MARKUP = re.compile(r"</(?:p|div|li|ul|ol|blockquote)>|<br\s*/?>|<p(?:\s[^<>]*)?>(?=\S)", re.IGNORECASE)


#: Markup in a title given as text: a pair of HTML's inline tags (``<i>E. coli</i>``,
#: ``H<sub>2</sub>O``) or a line break.  One tag alone (``a note on <b> tags``) is text.
_TITLE_MARKUP = re.compile(
    r"<(em|i|b|strong|sub|sup|span|a|code|u|small|font|tt|var|q|cite|abbr|math)(?:\s[^<>]*)?>"
    r".*?</\1\s*>|<br\s*/?>",
    re.IGNORECASE | re.DOTALL,
)


def _title_text(value: str) -> str:
    """A title written in HTML (``<i>E. coli</i>``, ``H<sub>2</sub>O``,
    ``&amp;``) as its text; one holding a ``<script>`` or ``<style>`` stays as
    written, to be seen and escaped (its text would be dropped with its tags).
    HTML escaped twice (``&lt;b&gt;laws&lt;/b&gt;``, as Crossref has some
    titles) still holds a pair of inline tags once decoded, and showed them as
    text: it is decoded again, as :func:`_plain` does with a description (a
    ``<script>`` it reveals stays text, as above)."""
    if _SCRIPT_TAG.search(value):
        return collapse(value)
    text = html_text(value)
    return html_text(text) if _TITLE_MARKUP.search(text) and not _SCRIPT_TAG.search(text) else text


_SCRIPT_TAG = re.compile(r"<(?:script|style)\b", re.IGNORECASE)


def _title(entry, *, again: bool = True) -> str:
    """An entry's title as text, without the ``(arXiv:ID [cat])`` tail arXiv's
    RDF feed adds.  feedparser takes an RSS title for text, but journals' feeds
    write ``<i>E. coli</i>`` there (in CDATA or escaped): markup read as such
    is shown as its text, not as tags (a ``<script>`` stays text, to be seen and escaped)."""
    return _titled_id(entry, again=again)[0]


def _titled_id(entry, *, again: bool = True) -> tuple[str, str | None]:
    """:func:`_title`, without the arXiv id written before or after it
    (``[2406.00001] Title``, ``arXiv:2406.00001 Title``, ``Title
    (arXiv:2406.00001)``), and that id.  The tail was dropped with its id, and
    the head kept in the title: an aggregator's entry linking to its own page
    was known by its title only, and came twice with the paper from arXiv."""
    detail, value = entry.get("title_detail"), entry.get("title") or ""
    if _TITLE_MARKUP.search(value) and not _SCRIPT_TAG.search(value):
        text = html_text(value)
    else:
        text = _plain(detail, value, again=again)
    if again and _ENTITY_REF.search(text) and _TITLE_MARKUP.search(read := entities_read(text)):
        # an HTML title escaped as text (``R&amp;amp;D &amp;lt;i&amp;gt;E. coli&amp;lt;/i&amp;gt;``):
        # its entities read are a pair of inline tags, so they were escaped once more than its type says
        text = collapse(read)
    if again and _TITLE_MARKUP.search(text) and not _TITLE_MARKUP.search(value) and not _SCRIPT_TAG.search(text):
        # tags revealed by reading the title's escaping (``&lt;b&gt;laws&lt;/b&gt;`` as html, as Crossref
        # has some) are read as a title's tags are: a ``<script>`` so revealed stays text, to be seen and escaped
        text = html_text(text)
    if (tail := _ARXIV_TITLE_SUFFIX.search(text)) is not None:
        return text[: tail.start()], tail[1]
    if (head := _ARXIV_TITLE_PREFIX.match(text)) is not None:
        return text[head.end():], head[1] or head[2]
    return text, None


def _rdf_announce(entry) -> str:
    """The announcement type arXiv's RSS 1.0 (RDF) feed gives an entry in its
    title's tail: ``(arXiv:ID [cs.LG] UPDATED)`` is a replacement, ``CROSS
    LISTED`` a cross-list, none a new paper; "" for a title without that
    tail or with a word not known.  ``announce_type: [new]`` kept every
    replacement of a saved RDF feed, none having a type."""
    tail = _ARXIV_TITLE_SUFFIX.search(collapse(entry.get("title")))
    return _RDF_ANNOUNCE.get(" ".join((tail["note"] or "").split()), "") if tail else ""


def _authors(entry, split: bool, *, again: bool = True) -> list[str]:
    """Author names as text.  arXiv's feeds put every author in one ``dc:creator``,
    comma-separated (``split``), the old RDF feed as HTML links to author searches.
    A name escaped once more than the feed's own escaping is read as :func:`_plain` reads a field."""
    raw = [a.get("name") for a in entry.get("authors", []) if a.get("name")]
    names = [_plain({"type": "text/html" if "<" in n else "text/plain"}, n, again=again) for n in raw]
    names = [n for n in names if n]
    if split or any("<a " in n.casefold() for n in raw):
        return _split_creators(names)
    if len(names) == 1 and (listed := _surname_list(names[0])):
        return listed
    return names


#: "Smith, J." or "van der Berg, A. M.": a surname, a comma, initials.
_INITIALS = r"(?:[^\W\d_]{1,2}(?:\.|(?=[\s,-]|$))[\s-]*)+"
_SURNAME_INITIALS = rf"[^\W\d][^,;]*?,\s*{_INITIALS}"
_SURNAME_LIST = re.compile(rf"{_SURNAME_INITIALS}(?:,\s*{_SURNAME_INITIALS})*")


def _surname_list(creator: str) -> list[str]:
    """A journal's or bioRxiv's one ``dc:creator`` listing every author as
    "Smith, J., Doe, A. B." (or with semicolons: "Smith, John; Doe, Ann"), as
    names: "J. Smith", "A. B. Doe"; one author alone too ("Doe, J.": a
    feed's papers by one author read "Doe, J." beside the others' "A. Smith").
    Empty when it is not such a list ("Smith, John" stays as written, and a
    suffix is no initial: "Smith, Jr.")."""
    if ";" in creator:
        parts = [p.strip() for p in creator.split(";") if p.strip()]
        if len(parts) >= 2 and all(p.count(",") == 1 for p in parts):
            return [" ".join(reversed([w.strip() for w in p.split(",")])) for p in parts]
        return []
    creator = re.sub(r",?\s+and\s+", ", ", creator.strip())
    if not _SURNAME_LIST.fullmatch(creator):
        return []
    pairs = re.findall(rf"([^\W\d][^,;]*?),\s*({_INITIALS})(?:,|$)", creator)
    if len(pairs) == 1 and NAME_SUFFIX.fullmatch(pairs[0][1].strip()):
        return []
    return [f"{initials.strip()} {surname.strip()}" for surname, initials in pairs]


def _split_creators(names: list[str]) -> list[str]:
    """arXiv's announcement feeds list every author in one ``dc:creator``
    (see :func:`split_names`); several are already one name each."""
    return split_names(names[0]) if len(names) == 1 else names


#: Where an RSS item or an Atom entry starts (``<item>``, ``<entry>``, ``<atom:entry>``).
_ENTRY_START = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(?:item|entry)[\s>/]")


def _entry_lines(data: bytes, total: int) -> list[int] | None:
    """The line each of a feed's ``total`` entries starts on, for a warning
    about one of them; None when the starts found are not that many (one
    quoted in a CDATA section, say): no line rather than a wrong one."""
    lines = [line_of(data, m.start()) for m in _ENTRY_START.finditer(data)]
    return lines if len(lines) == total else None


def _skipped_at(skipped: list[tuple[int, str]], data: bytes, total: int, name: str, source: str,
                warn: Warn) -> None:
    """:func:`_skipped` of a feed's entries (each its index and what is wrong),
    each named at its line: 'entry 4 has no title' gave none to look at."""
    lines = _entry_lines(data, total) if skipped else None
    _skipped([what for _, what in skipped], total, name, source, warn,
             [lines[index] for index, _ in skipped] if lines else None)


def _entry_label(index: int, entry) -> str:
    ident = entry.get("id") or entry.get("link")
    return f"entry {index + 1}" + (f" ({ident})" if ident else "")


@dataclass(frozen=True)
class ArxivListing:
    papers: list[Paper]
    total: int | None  # opensearch:totalResults of an API response; None for the announcement feed
    entries: int  # entries in the document, kept or not
    start: int = 0  # opensearch:startIndex of an API response: the results before it are on other pages
    dated: bool = False  # the API answer's query has a date range (submittedDate, lastUpdatedDate)

    @classmethod
    def joined(cls, listings: Sequence[ArxivListing], papers: list[Paper] | None = None) -> ArxivListing:
        """The listing of a file of several documents (pages joined by
        ``cat``), each of ``listings``: its papers (``papers`` when given),
        the largest total, every entry, and the first page's start, so that a
        query's pages all in the file say no rest not read."""
        totals = [listing.total for listing in listings if listing.total is not None]
        return cls([p for listing in listings for p in listing.papers] if papers is None else papers,
                   max(totals) if totals else None, sum(listing.entries for listing in listings),
                   min((listing.start for listing in listings if listing.total is not None), default=0),
                   any(listing.dated for listing in listings))

    def rest_said(self, name: str, source: str) -> str | None:
        """What a saved API answer that holds one page of its query's
        results says: which it holds, of how many, and how to read the rest
        (it was read as if whole, the rest lost without a word); None when
        it holds them all.  One that holds none of a query that has none
        (``opensearch:totalResults`` 0) says so too: it read as a quiet day,
        as the same answer fetched no longer does (a misspelt field or
        author matches nothing, over all time).  A query over a date range
        (``submittedDate:[... TO ...]``) that holds none is a quiet day, not
        a query that matches nothing at all: nothing is said of it."""
        if self.total == 0 and not self.entries and not self.dated:
            return (f"{name}:1: source {source!r}: this saved arXiv API answer holds no results: its query matches no "
                    "paper at all (opensearch:totalResults 0), not just nothing new; check the query that saved it "
                    "(field prefixes such as ti:, abs:, au:, cat:, and quoting)")
        if self.total is None or not self.entries or self.start + self.entries >= self.total:
            return None
        return (f"{name}:1: source {source!r}: this saved arXiv API answer holds results {self.start + 1} to "
                f"{self.start + self.entries} of the {self.total} its query has: the rest is not read (save the "
                "other pages, `&start=`, and join them into the file, or leave out `path:` to ask arXiv)")




#: An XML declaration at a line's start after the first document: a second document
#: appended to the file (``cat page1.xml page2.xml > all.xml``).
_NEXT_DECLARATION = re.compile(rb"(?<=\n)[ \t]*<\?xml\b")


#: A feed's root closing at the end of what comes before (see :func:`_xml_documents`), white space
#: after it stepped over first: searched in the few bytes before, not from the file's start for each
#: declaration (10,000 declarations in a post's CDATA took 0.9 s).
_ROOT_END = re.compile(rb"</(?:feed|rss|rdf:RDF|OAI-PMH)>\Z")
_ROOT_END_LOOK = 16  # (bytes: the longest closing tag, "</rdf:RDF>", fits)


def _xml_documents(data: bytes) -> list[tuple[int, bytes]] | None:
    """The XML documents of a file holding several one after the other (the
    pages of an arXiv API query saved by a script, joined by ``cat``), each
    with the number of lines before it; None for a file of one document.
    Read whole, it was 'not a well-formed feed (junk after document
    element)' at the second page's first line."""
    if data.find(b"<?xml", data.find(b"<?xml") + 1) < 0:
        return None  # (one declaration at most: nine files in ten, told without a scan line by line)
    # (where a document ends: a declaration in a post's CDATA, code about XML, starts none)
    starts = [m.start() for m in _NEXT_DECLARATION.finditer(data) if _ends_a_root(data, m.start())]
    if starts:  # (a post quoting a feed's end and the next one's start in its CDATA or a comment: no end)
        starts = _outside(_quoted_spans(data), starts)
    if not starts or not data.lstrip(_UTF8_BOM + b" \t\r\n").startswith(b"<?xml"):
        return None
    bounds = [0, *starts, len(data)]
    parts, lines = [], 0
    for a, b in pairwise(bounds):
        parts.append((lines, data[a:b]))
        lines += data.count(b"\n", a, b)  # (counted on, part by part: not from the start for each)
    return parts


def _quoted_spans(data: bytes) -> list[tuple[int, int]]:
    """Where ``data``'s CDATA sections and comments are, in order, as
    ``(start, end)``; an unclosed one runs to the end.  Found with ``find``
    from one end to the next, in one pass (a pattern's ``.*?`` looked from
    each unclosed ``<![CDATA[`` to the end of the file)."""
    spans: list[tuple[int, int]] = []
    at = 0
    while True:
        cdata, comment = data.find(b"<![CDATA[", at), data.find(b"<!--", at)
        if cdata < 0 and comment < 0:
            return spans
        start, opened, close = (cdata, 9, b"]]>") if comment < 0 or 0 <= cdata < comment else (comment, 4, b"-->")
        end = data.find(close, start + opened)
        at = len(data) if end < 0 else end + len(close)
        spans.append((start, at))
        if end < 0:
            return spans


def _outside(spans: list[tuple[int, int]], places: list[int]) -> list[int]:
    """Those of ``places`` (in order) in none of ``spans`` (sorted, apart),
    both walked once."""
    kept, i = [], 0
    for at in places:
        while i < len(spans) and spans[i][1] <= at:
            i += 1
        if i == len(spans) or at <= spans[i][0]:
            kept.append(at)
    return kept


def _ends_a_root(data: bytes, at: int) -> bool:
    """Whether a feed's root closes just before ``at`` (white space between)."""
    end = at
    while end and data[end - 1] in b" \t\r\n\f\v":  # (back to the line before: the walks do not overlap)
        end -= 1
    return _ROOT_END.search(data, max(0, end - _ROOT_END_LOOK), end) is not None


def _each_document(parts: list[tuple[int, bytes]], name: str, warn: Warn,
                   read: Callable[[bytes, Warn, bool], T]) -> list[T]:
    """``read(part, warn, followed)`` of each document of a file (see
    :func:`_xml_documents`), a problem or a warning in one located at its line
    in the whole file.  ``followed``: the document is an OAI-PMH page whose
    next page comes after it in the file (see :func:`.oai.continued_by`), so
    it is no page of a list whose rest was not read: every page harvested and
    joined (``cat page*.xml``) warned, each but the last, that the rest of the
    list was not read."""
    results = []
    followed = _followed_pages([part for _, part in parts])
    for (before, part), next_follows in zip(parts, followed, strict=True):
        try:
            results.append(read(part, _shifted(warn, name, before), next_follows))
        except InputError as exc:
            exc.problems = tuple(replace(p, line=p.line + before) if p.file == name and p.line else p
                                 for p in exc.problems)
            exc.args = ("\n".join(str(p) for p in exc.problems),)
            raise
    return results


def _followed_pages(parts: list[bytes]) -> list[bool]:
    """For each document of a file, whether it is an OAI-PMH page followed by
    the page its resumptionToken asks for (see :func:`.oai.continued_by`)."""
    if not any(_maybe_oai(part) for part in parts):
        return [False] * len(parts)
    from .oai import continued_by

    return [continued_by(part, after) for part, after in pairwise(parts)] + [False]


def _shifted(warn: Warn, name: str, before: int) -> Warn:
    """``warn`` with a warning's ``name:LINE:`` moved on by ``before`` lines
    (a document's lines in a file of several)."""
    prefix = f"{name}:"

    def shifted(message: str) -> None:
        m = re.match(r"(\d+):", message[len(prefix):]) if before and message.startswith(prefix) else None
        warn(f"{prefix}{int(m.group(1)) + before}:{message[len(prefix) + m.end():]}" if m else message)

    return shifted


def parse_arxiv(
    data: bytes,
    name: str,
    source: str,
    warn: Warn,
    announce_types: Iterable[str] = (),
) -> ArxivListing:
    """An arXiv API response or announcement feed (Atom).

    ``announce_types`` (``new``, ``cross``, ``replace``, ``replace-cross``)
    keeps only those announcements; entries without a type (API responses)
    are always kept.  A withdrawn paper (see :func:`withdrawn`) is no paper
    to send.  A file of several answers one after another (an API query's
    pages saved by a script) is each of them read.
    """
    if (parts := _xml_documents(data)) is not None:
        listings = _each_document(parts, name, warn, lambda part, warned, followed: _oai_page_listing(
            part, name, source, warned) if followed else parse_arxiv(part, name, source, warned, announce_types))
        return ArxivListing.joined(listings)
    if (page := listing_page(data)) is not None:
        papers = parse_arxiv_listing(page, name, source, warn, tuple(announce_types))
        return ArxivListing(papers, None, len(papers))
    if copied := listing_text(data):
        papers = read_listing_text(data, name, source, warn, tuple(announce_types), kind=copied)
        return ArxivListing(papers, None, len(papers))
    if (mail := arxiv_mail(data)) is not None:
        papers = parse_arxiv_mail(mail, name, source, warn, tuple(announce_types), raw=data)
        return ArxivListing(papers, None, len(papers))
    if _maybe_oai(data):
        from .oai import is_oai, parse_oai

        if is_oai(data):
            papers = parse_oai(data, name, source, warn)
            return ArxivListing(papers, None, len(papers))
    if (kind := feed_only_kind(data)) is not None:
        raise InputError(Problem(f"source {source!r}: {kind}, not arXiv's Atom (`type: feed` with `path:` reads it)",
                                 name, 1))
    parsed = _parse_xml(data, name, source, expected=ARXIV_EXPECTED)
    wanted = {t.casefold() for t in announce_types}
    papers = []
    skipped: list[tuple[int, str]] = []
    _refuse_arxiv_error(parsed.entries, name, source)
    for index, entry in enumerate(parsed.entries):
        entry_id = (entry.get("id") or "").strip()
        m = _ARXIV_ENTRY_ID.search(entry_id) or _ARXIV_LINK.search(entry.get("link") or "")
        # (arXiv escapes its text exactly once: "&amp;amp;" in its XML is the text "&amp;", a paper about HTML)
        title = _title(entry, again=False)
        if not m or not title:
            what = "no arXiv id" if not m else "no title"
            skipped.append((index, f"{_entry_label(index, entry)} has {what}"))
            continue
        arxiv_id = m.group(1)
        abstract = _plain(entry.get("summary_detail"), entry.get("summary"), again=False)
        announce = (entry.get("arxiv_announce_type") or "").strip().casefold() or _rdf_announce(entry)
        if prefix := _ANNOUNCE_PREFIX.match(abstract):
            announce = announce or prefix.group("type").casefold()
            abstract = abstract[prefix.end():]
        if wanted and announce and announce not in wanted:
            continue
        comment = collapse(entry.get("arxiv_comment")) or None
        if withdrawn(abstract, comment):
            continue
        names = _authors(entry, split=bool(announce), again=False)
        primary = (entry.get("arxiv_primary_category") or {}).get("term")
        categories = [primary] if primary else []
        categories += [t.get("term") for t in entry.get("tags", []) if t.get("term")]
        pdf = next(
            (link.get("href") for link in entry.get("links", []) if link.get("type") == "application/pdf"),
            None,
        )
        papers.append(
            Paper(
                title=title,
                abstract=abstract,
                source=source,
                arxiv_id=arxiv_id,
                authors=tuple(names),
                url=abs_url(arxiv_id),
                pdf_url=pdf.replace("http://", "https://", 1) if pdf else pdf_url(arxiv_id),
                published=_published(entry),
                categories=tuple(dict.fromkeys(categories)),
                comment=comment,
                location=name,
            )
        )
    _skipped_at(skipped, data, len(parsed.entries), name, source, warn)
    return ArxivListing(papers, *_opensearch(parsed))


def _opensearch(parsed) -> tuple[int | None, int, int, bool]:
    """An API answer's ``opensearch:totalResults`` (None when it has none),
    its entries, its ``opensearch:startIndex`` and whether its query (in
    its title or its own link) has a date range, as an
    :class:`ArxivListing` counts them."""
    total = parsed.feed.get("opensearch_totalresults")
    try:
        total = int(total) if total is not None else None
    except ValueError:
        total = None
    try:
        start = int(parsed.feed.get("opensearch_startindex") or 0)
    except ValueError:
        start = 0
    asked = " ".join(str(parsed.feed.get(key) or "") for key in ("title", "id", "link"))
    asked += " ".join(str(link.get("href") or "") for link in parsed.feed.get("links") or ())
    return total, len(parsed.entries), max(start, 0), bool(_DATE_RANGE_FIELD.search(unquote(asked)))


#: A date range in an arXiv API query: an answer of one with no results is a quiet day.
_DATE_RANGE_FIELD = re.compile(r"\b(?:submitted|lastupdated)date\s*:", re.IGNORECASE)


#: An arXiv API answer's own id or link (``http://arxiv.org/api/...``): other
#: OpenSearch feeds' totals are no query of arXiv's to save the pages of.
_ARXIV_API_FEED = re.compile(r"^https?://(?:export\.)?arxiv\.org/api/", re.IGNORECASE)


def _oai_page_listing(data: bytes, name: str, source: str, warn: Warn) -> ArxivListing:
    """An OAI-PMH page whose next page follows it in the file: its papers,
    and nothing said of a rest not read."""
    from .oai import parse_oai

    papers = parse_oai(data, name, source, warn, paged=True)
    return ArxivListing(papers, None, len(papers))


def _maybe_citations(data: bytes) -> bool:
    """Whether ``data`` may be a reference manager's export, by what every one
    holds in its first 4096 bytes ("TY  -", "PMID-", an "@"; UTF-16 is
    looked at by the module itself) and does not start with (markup, JSON):
    :mod:`.citations` is imported only then, not on every run of a feed
    (its import cost ~6 ms of each)."""
    head = data[:4096]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in head:
        return True
    if head.removeprefix(_UTF8_BOM).lstrip()[:1] in (b"<", b"{", b"["):
        return False
    return any(mark in head for mark in (b"TY  -", b"PMID-", b"@"))


def _maybe_oai(data: bytes) -> bool:
    """Whether ``data`` may be an OAI-PMH answer (its root element in the
    first 4096 bytes, where :func:`.oai.is_oai` looks): :mod:`.oai` and
    ElementTree are imported only then."""
    return b"<OAI-PMH" in data[:4096]


def _maybe_reference_xml(data: bytes) -> bool:
    """Whether ``data`` may be an EndNote XML or a Zotero RDF export (see
    :func:`.citations.reference_xml_kind`), by what each holds near its start."""
    head = data[:4096]
    return b"<records>" in head or b"zotero.org/namespaces/export#" in head or b"purl.org/net/biblio#" in head


def _dblp_records(document: Any) -> list[dict] | None:
    """:func:`.citations.dblp_records`, imported when called."""
    from .citations import dblp_records

    return dblp_records(document)


def _dblp_answer(document: Any) -> bool:
    """Whether a JSON document may be DBLP's search answer
    (``{"result": {"hits": {"@total": ...}}}``): :mod:`.citations` reads it,
    imported only then."""
    result = document.get("result") if isinstance(document, dict) else None
    return isinstance(result, dict) and isinstance(result.get("hits"), dict)


#: A saved e-mail message: its header fields (two or more, folded lines too) before the body.
_MAIL_HEADERS = re.compile(r"(?:(?:Return-Path|Received|From|To|Cc|Subject|Date|MIME-Version|Message-I[Dd]|Reply-To|"
                           r"Delivered-To|Content-[\w-]+|X-[\w-]+|DKIM-Signature|ARC-[\w-]+|Authentication-Results):"
                           r"[^\n]*\n(?:[ \t][^\n]*\n)*){2,}", re.IGNORECASE)
#: A line of a list of arXiv links: Markdown's "- [Title](https://arxiv.org/abs/ID)", a bare link, "* arXiv:ID",
#: or a Markdown table's row holding one ("|2024-08-12|Title|...|[2408.06300v1](http://arxiv.org/abs/2408.06300v1)|",
#: as the arxiv-daily repositories' pages list a day's papers).  White space only before and after a bullet:
#: two optional runs side by side ("^\s*(?:-)?\s*") tried every split of a long run of spaces (8,000: 1.2 s).
_LINK_LINE = re.compile(r"^\s*(?:(?:(?:[-*+]|\d+[.)])\s*)?(?:\[[^\]]*\]\()?<?|\|.*?)(?:https?://(?:www\.|export\.)?"
                        rf"arxiv\.org/(?:abs|pdf)/|arXiv:)({ARXIV_ID})", re.IGNORECASE)


def arxiv_link_list(data: bytes) -> tuple[str, int] | None:
    """What to say of a text that is a list of arXiv links (a reading list in
    Markdown, links pasted one a line), and the line of its first link; None
    for any other text.  Links carry no abstracts and no feed lists them: a
    source reading them would match titles at best, and every topic's terms
    in abstracts never; the papers such a list names are what ``like:`` is
    for.  It said 'not an RSS or Atom feed: the answer is text, "# Reading list"'."""
    text = data[:1 << 20].decode("utf-8", "replace")
    lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    matched = [(n, line, _LINK_LINE.match(line)) for n, line in lines]  # (each line matched once)
    listed = [(n, m.group(1)) for n, _, m in matched if m]
    prose = [line for _, line, m in matched if not m and not line.lstrip().startswith("#")]
    if not listed or len(prose) > len(listed):
        return None
    ids = list(dict.fromkeys(arxiv_base_id(i.removesuffix(".pdf")) for _, i in listed))
    shown = ", ".join(ids[:5]) + (", ..." if len(ids) > 5 else "")
    return (f"a list of {counted(len(ids), 'arXiv link')} (a reading list?), not a feed: links carry no abstracts "
            f"for topics to match; to rank the digest by these papers, list their ids under a topic's like: "
            f"[{shown}]; for new papers with their abstracts, an arxiv source lists them", listed[0][0])


def feed_only_kind(data: bytes) -> str | None:
    """What a file a ``feed`` source reads, and an ``arxiv`` source does not,
    is ("a BibTeX export", "a saved OpenAlex answer", "a CSV export"); None
    for anything else.  Given to ``type: arxiv`` they were 'not an RSS or Atom
    feed: the answer is text', or 'a JSON document' with a hint at hf-daily."""
    if is_scholar_alert(data):
        return "a Google Scholar alert"
    head = data[:4096].removeprefix(_UTF8_BOM)
    if _maybe_reference_xml(head):
        from .citations import reference_xml_kind

        if (xml_kind := reference_xml_kind(head)) is not None:
            return f"{'an' if xml_kind.startswith('E') else 'a'} {xml_kind} export"
    if re.match(rb"(?:\s|<\?[^>]*\?>)*<responseWrapper\b", head):
        return "a saved Europe PMC answer"
    if b"<PubmedArticleSet" in head:
        from .citations import is_pubmed_xml

        if is_pubmed_xml(head):
            return "PubMed's XML"
    if b"<dblp" in head or b"<hits" in head:
        from .citations import is_dblp_xml

        if is_dblp_xml(head):
            return "DBLP's XML"
    if not head.lstrip(b" \t\r\n").startswith(b"<"):
        text = head.decode("utf-8", "replace")
        if _maybe_citations(head):
            from .citations import citation_kind

            if (kind := citation_kind(text)) is not None:
                return f"a {kind} export"
        if csv_header(text.lstrip("\ufeff").split("\n", 1)[0]) is not None:
            return "a CSV export of papers"
    json_data = _wide_json(data) or data
    if json_data.lstrip(_UTF8_BOM + b" \t\r\n").startswith((b"{", b"[")):
        try:
            document = json.loads(json_data.decode("utf-8-sig"))
        except (ValueError, RecursionError):
            document = _json_lines(json_data)
        if (records := _scholarly_records(document)) is not None:
            return f"a saved {records[1]} answer"
        if _dblp_answer(document) and _dblp_records(document) is not None:
            return "a saved DBLP answer"
        if isinstance(document, list) and any(_is_plain_record(item) for item in document):
            return "JSON records of papers"
    return None


def _absolute(base: str, link: str | None) -> str | None:
    """``link`` resolved against ``base``; None for no link or one that is no URL
    (``http://[::1`` makes urllib raise)."""
    if not link:
        return None
    try:
        joined = urlsplit(urljoin(base, link))
    except ValueError:
        return None
    # a private feed's user and password (or its *** as messages show them) never go into a link
    return urlunsplit(joined._replace(netloc=joined.netloc.rpartition("@")[2]))


#: JSON Feed's ``version`` (https://jsonfeed.org/version/1.1): 1 and 1.1.
_JSON_FEED_VERSION = re.compile(r"^https?://jsonfeed\.org/version/1(?:\.\d+)?/?$")


def parse_feed(data: bytes, name: str, source: str, warn: Warn, *, base: str | None = None) -> list[Paper]:
    """Any RSS 2.0, RSS 1.0 (RDF), Atom or JSON Feed: one paper per entry with a title.
    ``base``: the URL the feed came from after redirects, when not ``name``."""
    return feed_listing(data, name, source, warn, base=base).papers


def feed_listing(data: bytes, name: str, source: str, warn: Warn, *, base: str | None = None) -> ArxivListing:
    """:func:`parse_feed`'s papers, with the results the arXiv API answers
    among its documents hold of their queries' (a saved answer holding one
    page: see :meth:`ArxivListing.rest_said`, as `type: arxiv` says it);
    no total when none is such an answer."""
    pages: list[ArxivListing] = []
    return ArxivListing.joined(pages, _parse_feed(data, name, source, warn, base, pages))


def _parse_feed(data: bytes, name: str, source: str, warn: Warn, base: str | None,
                pages: list[ArxivListing]) -> list[Paper]:
    """:func:`parse_feed`, each arXiv API answer's results counted into ``pages``."""
    if copied := listing_text(data):  # before JSON: a copy may start with its first paper's "[1] arXiv:..."
        return read_listing_text(data, name, source, warn, kind=copied)
    if (mail := arxiv_mail(data)) is not None:
        return parse_arxiv_mail(mail, name, source, warn, raw=data)
    if is_scholar_alert(data):
        return parse_scholar_alert(data, name, source, warn)
    if (wide := _wide_json(data)) is not None:
        data = wide
    if data.lstrip(_UTF8_BOM + b" \t\r\n").startswith((b"{", b"[")):
        lines = _json_lines(data)  # JSON Lines (`jq -c '.[]'`, arXiv's metadata snapshot): one record a line
        if lines is None and (broken := _broken_json_line(data)):
            raise InputError(Problem(f"source {source!r}: JSON Lines (one record a line), but this line is no JSON "
                                     "object (cut off, or a record written over several lines?)", name, broken))
        document = lines if lines is not None else _load_json(data, name, source, "an RSS, Atom or JSON feed")
        if isinstance(document, dict) and _JSON_FEED_VERSION.match(str(document.get("version") or "").strip()):
            return parse_json_feed(document, name, source, warn, base=base, data=data)
        if (records := _scholarly_records(document)) is not None:
            return parse_scholarly_json(*records, name, source, warn)
        if _dblp_answer(document) and (dblp := _dblp_records(document)) is not None:
            if not dblp:
                warn(f"{name}:1: source {source!r}: the DBLP answer holds no papers; nothing read from it")
            return parse_records(dblp, name, source, warn, None, "record") if dblp else []
        plain = [document] if isinstance(document, dict) else document if isinstance(document, list) else []
        if plain and any(_is_plain_record(item) for item in plain):
            at = [n for n, _ in _numbered_lines(data)]
            return parse_records(plain, name, source, warn, at if lines is not None else None)
        if isinstance(document, dict) and {"messages", "collection"} <= set(document) \
                and isinstance(listed := document["collection"], list) and listed and isinstance(listed[0], dict):
            # (its pubs, publisher and funder endpoints: papers published since, by other names; "a JSON document"
            # with a hint at Hugging Face said nothing of it)
            keys = ", ".join(_quoted(str(k), 30) for k in list(listed[0])[:8])
            raise InputError(Problem(f"source {source!r}: a bioRxiv / medRxiv answer, but not of its details "
                                     f"endpoint (the first record's keys: {keys}); a feed source reads "
                                     "api.biorxiv.org/details/biorxiv/FROM/UNTIL (or medrxiv)", name, 1))
        if lines is not None and not any(isinstance(i.get("paper"), dict) for i in lines):
            # records, but not of papers: "a JSON document, not an RSS or Atom feed" said little
            keys = ", ".join(_quoted(str(k), 30) for k in list(lines[0])[:8]) or "none"
            raise InputError(Problem(f"source {source!r}: JSON Lines whose records have no title and abstract (the "
                                     f"first one's keys: {keys}); a feed source reads records with keys such as "
                                     "title, abstract, authors, url", name, 1))
    if (page := listing_page(data)) is not None:
        return parse_arxiv_listing(page, name, source, warn)
    if (rows := parse_csv(data, name, source, warn)) is not None:
        return rows
    if _maybe_citations(data):
        from .citations import parse_citations

        if (entries := parse_citations(data, name, source, warn)) is not None:
            return entries
    if (parts := _xml_documents(data)) is not None:  # feeds, an API query's or OAI-PMH pages, joined into one file
        return [p for papers in _each_document(parts, name, warn, lambda part, warned, followed: _oai_page_listing(
            part, name, source, warned).papers if followed else _parse_feed(part, name, source, warned, base, pages))
                for p in papers]
    if _maybe_oai(data):  # (after the joined pages: an OAI-PMH page's own reader takes one document)
        from .oai import is_oai, parse_oai

        if is_oai(data):
            return parse_oai(data, name, source, warn)
    if _maybe_reference_xml(data):
        from .citations import parse_reference_xml

        if (found := parse_reference_xml(data, name, source, warn)) is not None:
            return found
    if b"<responseWrapper" in data[:4096] and (answer := _europe_pmc_xml(data, name, source)) is not None:
        return parse_scholarly_json(answer, "Europe PMC", name, source, warn)
    if b"<PubmedArticleSet" in data[:4096]:
        from .citations import parse_pubmed_xml

        if (found := parse_pubmed_xml(data, name, source, warn)) is not None:
            return found
    if b"<dblp" in data[:4096] or b"<hits" in data[:4096]:
        from .citations import parse_dblp_xml

        if (found := parse_dblp_xml(data, name, source, warn)) is not None:
            return found
    parsed = _parse_xml(data, name, source, feed_link=True)
    _refuse_arxiv_error(parsed.entries, name, source)  # an arXiv API query given as a feed: its error was a paper
    if any(_ARXIV_API_FEED.match(str(parsed.feed.get(key) or "")) for key in ("id", "link")):
        pages.append(ArxivListing([], *_opensearch(parsed)))
    # relative links are relative to the feed's own URL, else (a saved file) to the site it names
    base = base or (name if name.startswith(("http://", "https://")) else parsed.feed.get("link") or "")
    papers = []
    skipped: list[tuple[int, str]] = []
    unresolved: list[str] = []  # relative links with nothing to resolve them against (two are enough to say)
    bare: list[str] = []  # entries without a summary or content: read by their titles only, and said so
    for index, entry in enumerate(parsed.entries):
        title, titled_id = _titled_id(entry)
        if not title:
            skipped.append((index, f"{_entry_label(index, entry)} has no title"))
            continue
        links = [entry.get("link") or "", entry.get("id") or ""]
        links += [link.get("href") or "" for link in entry.get("links", [])]
        m = next((m for m in map(_ARXIV_LINK.search, links) if m), None)
        arxiv_id = m.group(1).removesuffix(".pdf") if m else titled_id
        body = entry.get("summary")
        detail = entry.get("summary_detail")
        if entry.get("content"):
            longest = max(entry.content, key=lambda c: len(c.get("value") or ""))
            # an entry with only a content (Atom's <content type="html">, RSS's content:encoded) has
            # feedparser's copy of it as its summary, with no type to say it is HTML: its tags were text
            if detail is None or len(longest.get("value") or "") > len(body or ""):
                body, detail = longest.get("value"), longest
        abstract = _WORDPRESS_FOOTER.sub("", _plain(detail, body))
        prefix = _ANNOUNCE_PREFIX.match(abstract)
        # the author's comment arXiv's feeds and API carry ("Accepted at NeurIPS 2024; 12 pages"), kept as
        # `type: arxiv` keeps it: the card shows it, and a venue in it is matched
        comment = collapse(entry.get("arxiv_comment")) or None
        if prefix:  # arXiv's RSS 2.0 feed read as a plain feed
            abstract = abstract[prefix.end():]
            if withdrawn(abstract, comment):
                continue  # a withdrawal announced as a replacement: no paper to send, as `type: arxiv` reads it
        if arxiv_id and (guid := _ARXIV_ENTRY_ID.search((entry.get("id") or "").strip())) \
                and arxiv_base_id(guid.group(1)) == arxiv_base_id(arxiv_id):
            arxiv_id = guid.group(1)  # arXiv's guid names the version announced (a replacement's v2), its link none
        if not abstract:
            bare.append(_entry_label(index, entry))
        authors = _authors(entry, split=bool(prefix))
        link = entry.get("link")
        if entry.get("guidislink") and not entry.get("links") and link and link == entry.get("id") \
                and not _WEB_LINK.match(link.strip()):
            # an item without <link> whose <guid> (a permalink unless it says isPermaLink="false") is an opaque id,
            # "12345" or "post-2024-06-07": it was made a link on the feed's site, a page that is not there (a
            # path from the site's root, "/2024/06/post", is one)
            link = None
        if link and not m and _relative(link) and not _web_base(base) and len(unresolved) < 2:
            unresolved.append(link)
        papers.append(
            Paper(
                title=title,
                abstract=abstract,
                source=source,
                arxiv_id=arxiv_id,
                authors=tuple(authors),
                # an id from the title only: the entry's own page (a reading group's notes) is its link
                url=abs_url(arxiv_id) if arxiv_id and (m or not link) else _absolute(base, link),
                pdf_url=pdf_url(arxiv_id) if arxiv_id else None,
                published=_published(entry),
                categories=tuple(dict.fromkeys(t.get("term") for t in entry.get("tags", []) if t.get("term"))),
                comment=comment,
                location=name,
            )
        )
    _skipped_at(skipped, data, len(parsed.entries), name, source, warn)
    _relative_links(unresolved, name, source, warn)
    _bare(bare, name, source, warn)
    return papers


#: The line WordPress's SEO plugins (Yoast) end each post's feed summary with: "The post <a>Title</a>
#: appeared first on <a>Site</a>." It was the end of every abstract, and matched the site's name.
_WORDPRESS_FOOTER = re.compile(r"\s*The post .{1,500}? appeared first on .{1,300}?\.\s*$")


#: A link to a web page written whole, or a path from its site's root.
_WEB_LINK = re.compile(r"https?://[^\s/]|/", re.IGNORECASE)


def _wide_json(data: bytes) -> bytes | None:
    """JSON saved as UTF-16 or UTF-32 (PowerShell's ``Out-File``, Notepad's
    "Unicode"), as UTF-8; None for anything else.  Its first bytes are no
    ``{`` or ``[``: a saved API answer, JSON Lines too, read 'not a
    well-formed feed (invalid token)'."""
    encoding = json.detect_encoding(data[:4])
    if encoding.startswith("utf-8"):
        return None
    try:
        text = data.decode(encoding).lstrip("\ufeff \t\r\n")
    except UnicodeDecodeError:
        return None
    return text.encode("utf-8") if text.startswith(("{", "[")) else None


def _relative(link: str) -> bool:
    """A link without a scheme (``/posts/1``, ``notes/one.html``); not one urllib cannot read."""
    try:
        return not urlsplit(link).scheme
    except ValueError:
        return False


def _web_base(base: str) -> bool:
    """Whether ``base`` is a web address relative links resolve against (a feed's
    ``urn:`` id, which feedparser may give as its link, is none)."""
    try:
        return urlsplit(base).scheme in ("http", "https")
    except ValueError:
        return False


def _relative_links(links: list[str], name: str, source: str, warn: Warn) -> None:
    """Say that a saved feed's entries link relatively (``/posts/1``) and it names
    no site of its own to resolve them against: they were dropped without a word,
    and each paper linked to a search for its title instead of its page."""
    if links:
        warn(f"{name}: source {source!r}: entries link to relative addresses ({links[0]!r}) and the feed names no "
             "site to resolve them against: those papers link to a search for their title; give the source the "
             "feed's url: beside its path: to resolve them")


#: An HTML character reference: "&amp;", "&#233;", "&#xF6;".
_ENTITY_REF = re.compile(r"&(?:#\d+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]{1,31});")
#: How many times a text's entities are read: HTML escaped twice (``R&amp;amp;D``) is seen; more is none.
_ESCAPED_MOST = 3


def entities_read(text: str) -> str:
    """A text given as text (a JSON record's or a CSV cell's title, a JSON
    Feed's title) whose generator escaped it as HTML, once or twice
    (``R&amp;D``, ``R&amp;amp;D``, ``caf&eacute;``), with its entities as
    their characters: they were shown as written, "R&amp;amp;D" in the
    email.  A ``&`` that starts no entity (``AT&T``) is text, and so is one
    without its ``;`` (``?id=1&section=2``): HTML's legacy entities read so
    (:func:`html.unescape`'s ``&sect``) made that link ``?id=1§ion=2``."""
    for _ in range(_ESCAPED_MOST):
        if (read := _ENTITY_REF.sub(_entity_read, text)) == text:
            break
        text = read
    return text


def _entity_read(ref: re.Match) -> str:
    """One complete character reference as its character; a name HTML does
    not know (``&notit;``, not ``&not`` and "it;") stays as written."""
    if ref[0][1] == "#":
        return html.unescape(ref[0])
    return html.entities.html5.get(ref[0][1:], ref[0])


def parse_json_feed(document: dict, name: str, source: str, warn: Warn, *, base: str | None = None,
                    data: bytes = b"") -> list[Paper]:
    """A JSON Feed (https://jsonfeed.org, versions 1 and 1.1), as loaded:
    one paper per item with a title, read as :func:`parse_feed` reads RSS.
    (feedparser 6 reads no JSON; the feed an HTML page links to may be one.)
    Titles are text; the abstract is the longest of ``content_html`` (its
    text), ``content_text`` and ``summary``; ``authors`` (1.1) or ``author``
    (1); links relative to the feed's own URL, else its ``home_page_url``.
    An item skipped is named at its line of ``data``, the document as read."""
    items = document.get("items")
    if not isinstance(items, list):
        raise InputError(Problem(f"source {source!r}: a JSON Feed without its list of items", name, 1))
    home = document.get("home_page_url") or document.get("feed_url")
    base = base or (name if name.startswith(("http://", "https://")) else home if isinstance(home, str) else "")
    papers = []
    skipped: list[str] = []
    skipped_at: list[int] = []  # the index of each item skipped
    unresolved: list[str] = []
    bare: list[str] = []  # items without a body: read by their titles only, and said so
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            skipped.append(f"item {index + 1} is not an object")
            skipped_at.append(index)
            continue
        texts: dict[str, str] = {
            key: value if isinstance(value := item.get(key), str) else "" for key in
            ("id", "url", "external_url", "title", "content_html", "content_text", "summary", "date_published",
             "date_modified")
        }
        # (text, by the spec; a generator that escaped it as HTML wrote "Diffusion &amp; Score": its entities are read)
        title = collapse(entities_read(texts["title"]))
        if not title:
            ident = texts["id"] or texts["url"]
            skipped.append(f"item {index + 1}" + (f" ({ident})" if ident else "") + " has no title")
            skipped_at.append(index)
            continue
        m = next((m for m in map(_ARXIV_LINK.search, (texts["url"], texts["external_url"], texts["id"])) if m), None)
        arxiv_id = m.group(1).removesuffix(".pdf") if m else None
        link = texts["url"] or texts["external_url"]
        if link and not m and _relative(link) and not _web_base(base) and len(unresolved) < 2:
            unresolved.append(link)
        abstract = max((html_text(texts["content_html"]), collapse(texts["content_text"]), collapse(texts["summary"])),
                       key=len)
        if not abstract:
            bare.append(f"item {index + 1}" + (f" ({texts['id'] or texts['url']})" if texts["id"] or texts["url"] else ""))
        people: list = item["authors"] if isinstance(item.get("authors"), list) else [item.get("author")]
        authors = [collapse(a["name"]) for a in people if isinstance(a, dict) and isinstance(a.get("name"), str)]
        tags = _listed(item.get("tags"))
        papers.append(
            Paper(
                title=title,
                abstract=abstract,
                source=source,
                arxiv_id=arxiv_id,
                authors=tuple(a for a in authors if a),
                url=abs_url(arxiv_id) if arxiv_id else _absolute(base, texts["url"] or texts["external_url"] or None),
                pdf_url=pdf_url(arxiv_id) if arxiv_id else None,
                # (as an RSS or Atom entry's: published, else updated)
                published=_iso_time(texts["date_published"]) or _iso_time(texts["date_modified"]),
                categories=tuple(dict.fromkeys(collapse(t) for t in tags if isinstance(t, str) and t.strip())),
                location=name,
            )
        )
    lines = json_list_lines(data, "items") if skipped else []
    _skipped(skipped, len(items), name, source, warn,
             [lines[i] for i in skipped_at] if len(lines) == len(items) else None)
    _relative_links(unresolved, name, source, warn)
    _bare(bare, name, source, warn)
    return papers


#: Where a scholarly API's answer keeps its papers: Semantic Scholar's search ("data") and
#: recommendations ("recommendedPapers"), OpenReview's notes ("notes"), bioRxiv's and
#: medRxiv's details ("collection"), OpenAlex's works ("results").
_RECORD_LISTS = ("data", "recommendedPapers", "notes", "collection", "results")
#: The keys of each API's answer that has no results: its list and what it says beside it.
_EMPTY_ANSWERS = (("bioRxiv", {"messages", "collection"}), ("Semantic Scholar", {"data", "total"}),
                  ("Semantic Scholar", {"recommendedPapers"}), ("Semantic Scholar", {"offset", "data"}),
                  ("OpenAlex", {"meta", "results"}),
                  ("OpenReview", {"notes", "count"}))
#: A heading in Crossref's JATS abstract, and the prefix of its elements (<jats:p>: HTML's <p>).
_JATS_TITLE = re.compile(r"<jats:title\b[^>]*>(.*?)</jats:title>", re.DOTALL)
_JATS_TAG = re.compile(r"(</?)jats:")
def _jats_heading(m: re.Match) -> str:
    """A JATS abstract's heading as text: none for "Abstract" itself, else the label of its part."""
    heading = html_text(_JATS_TAG.sub(r"\1", m.group(1))).rstrip(":")
    return " " if heading.casefold() in ("", "abstract", "summary") else f" {html.escape(heading)}: "


#: An OpenAlex work's id: "https://openalex.org/W2741809807".
_OPENALEX_WORK = re.compile(r"^https://openalex\.org/W\d+$")


def _scholarly_records(document: Any) -> tuple[list, str] | None:
    """The paper records of a Semantic Scholar Graph API answer (``/paper/search``,
    ``/paper/batch``, one ``/paper/ID``, recommendations), an OpenReview
    notes answer (API 1 or 2; one note too), a bioRxiv / medRxiv details
    answer (``api.biorxiv.org/details/...``), an OpenAlex works answer or a
    Crossref one (``api.crossref.org/works?query=...``, one work too), and
    which it is; None for any other JSON."""
    if not isinstance(document, (list, dict)):
        return None
    if isinstance(document, dict) and document.get("message-type") in ("work-list", "work") \
            and isinstance(message := document.get("message"), dict):  # Crossref's: the works inside its envelope
        items = message["items"] if isinstance(message.get("items"), list) else [message]
        return items, "Crossref"
    if isinstance(document, dict) and isinstance(hits := document.get("hits"), dict) \
            and isinstance(listed := hits.get("hits"), list) and "total" in hits:  # INSPIRE's literature search
        return [h["metadata"] for h in listed if isinstance(h, dict) and isinstance(h.get("metadata"), dict)], "INSPIRE"
    if isinstance(document, dict) and isinstance(one := document.get("metadata"), dict) and "titles" in one:
        return [one], "INSPIRE"  # (one record: /api/literature/ID)
    if isinstance(document, dict) and isinstance(answer := document.get("response"), dict) \
            and isinstance(docs := answer.get("docs"), list) and "numFound" in answer:  # NASA ADS's search
        return docs, "ADS"
    if isinstance(document, dict) and isinstance(found := document.get("resultList"), dict) \
            and ("hitCount" in document or "result" in found):  # Europe PMC's search answer
        return _listed(found.get("result")), "Europe PMC"
    if isinstance(document, dict) and isinstance(one := document.get("result"), dict) \
            and {"source", "id", "title"} <= set(one):  # Europe PMC's one article (/article/MED/ID?format=json)
        return [one], "Europe PMC"
    items = document if isinstance(document, list) else next(
        (v for key in _RECORD_LISTS if isinstance(v := document.get(key), list)), [document])
    records = [i for i in items if isinstance(i, dict)]
    if not records:
        # an answer without results, known by its envelope: a weekend's bioRxiv day, a search that found
        # nothing, is nothing new (it was 'a JSON document, not an RSS or Atom feed', and the source failed)
        keys = set(document) if isinstance(document, dict) and not items else set()
        kind = next((kind for kind, envelope in _EMPTY_ANSWERS if envelope <= keys), None)
        return ([], kind) if kind else None
    if all("paperId" in r for r in records):
        return items, "Semantic Scholar"
    # Semantic Scholar's citations and references (/paper/ID/citations): each paper wrapped as the one citing
    # or the one cited (it was 'a JSON document', with a hint at Hugging Face)
    wrapped = [r.get("citingPaper", r.get("citedPaper")) for r in records]
    if all(isinstance(w, dict) and "paperId" in w for w in wrapped):
        return wrapped, "Semantic Scholar"
    if all("doi" in r and r.get("server") in ("biorxiv", "medrxiv", "bioRxiv", "medRxiv") for r in records):
        return items, "bioRxiv"
    if all(isinstance(r.get("content"), dict) and ("forum" in r or "invitation" in r or "invitations" in r)
           for r in records):
        return items, "OpenReview"
    if all(_OPENALEX_WORK.match(str(r.get("id"))) for r in records):
        return items, "OpenAlex"
    return None


def _field(record: dict, key: str) -> Any:
    """A record's field; OpenReview's API 2 wraps each as ``{"value": ...}``."""
    value = record.get(key)
    return value.get("value") if isinstance(value, dict) and "value" in value else value


def parse_scholarly_json(items: list, kind: str, name: str, source: str, warn: Warn) -> list[Paper]:
    """Papers of a Semantic Scholar, OpenReview, bioRxiv, OpenAlex or Crossref answer saved as JSON (see
    :func:`_scholarly_records`), given as a feed: each record's title,
    abstract, authors, arXiv id (Semantic Scholar's ``externalIds.ArXiv``,
    OpenAlex's arXiv DOI or link), link and date.  They were 'a JSON
    document, not an RSS or Atom feed'."""
    if not items:
        warn(f"{name}:1: source {source!r}: the {kind} answer holds no papers; nothing read from it")
        return []
    papers: list[Paper] = []
    skipped: list[str] = []
    bare: list[str] = []
    for index, item in enumerate(items):
        content = item.get("content") if isinstance(item, dict) and kind == "OpenReview" else item
        if not isinstance(content, dict) or not isinstance(item, dict):
            skipped.append(f"record {index + 1} is not an object")
            continue
        t = _field(content, "title") or item.get("display_name")
        if kind == "INSPIRE":  # {"titles": [{"title": ..., "source": "arXiv"}]}
            t = next((x.get("title") for x in _listed(item.get("titles")) if isinstance(x, dict)), None)
        t = next(iter(t), None) if isinstance(t, list) else t  # (Crossref's, ADS's: a list of one)
        # Crossref's, OpenAlex's and ADS's titles are HTML, as their abstracts ("<i>Drosophila</i>", "&amp;")
        title = ("" if not isinstance(t, str) else _title_text(t)
                 if kind in ("Crossref", "OpenAlex", "Europe PMC", "ADS") else collapse(t))
        ident = (item.get("paperId") or item.get("forum") or item.get("id") or item.get("doi") or item.get("DOI")
                 or item.get("bibcode") or (str(n) if isinstance(n := item.get("control_number"), int) else None))
        label = f"record {index + 1}" + (f" ({ident})" if isinstance(ident, str) else "")
        if not title:
            skipped.append(f"{label} has no title")
            continue
        if kind == "OpenAlex":
            abstract, arxiv_id, people = _openalex_work(item)
        elif kind == "INSPIRE":  # its abstracts (arXiv's first), "Last, First" names, its arXiv e-prints
            texts = [x for x in _listed(item.get("abstracts")) if isinstance(x, dict) and isinstance(x.get("value"), str)]
            texts.sort(key=lambda x: x.get("source") != "arXiv")
            abstract = collapse(texts[0]["value"]) if texts else ""
            prints = [x for x in _listed(item.get("arxiv_eprints")) if isinstance(x, dict)]
            arxiv_id = v if prints and isinstance(v := prints[0].get("value"), str) and is_arxiv_id(v) else None
            people = [first_last(collapse(a["full_name"])) for a in _listed(item.get("authors"))
                      if isinstance(a, dict) and isinstance(a.get("full_name"), str)]
        elif kind == "ADS":  # its abstract HTML, "Last, First" names, its identifiers ("arXiv:2406.03001")
            abstract = html_text(a) if isinstance(a := item.get("abstract"), str) else ""
            arxiv_id = next((m.group(1) for v in (*_listed(item.get("identifier")), *_listed(item.get("doi")))
                             if isinstance(v, str) and (m := _ADS_ARXIV.search(v))), None)
            people = [first_last(collapse(a)) for a in _listed(item.get("author")) if isinstance(a, str)]
        elif kind == "Europe PMC":  # its title and abstract HTML (<i>, <h4>Background</h4>), its authors a list
            abstract = html_text(_HEADING.sub(r" \1: ", a)) if isinstance(a := item.get("abstractText"), str) else ""
            arxiv_id = m.group(1) if isinstance(doi := item.get("doi"), str) and (m := _ARXIV_LINK.search(doi)) else None
            people = _europe_pmc_authors(item)
        elif kind == "Crossref":  # its abstract JATS XML (<jats:p>...), its authors CSL's {given, family}
            jats = a if isinstance(a := item.get("abstract"), str) else ""
            # its heading (<jats:title>Abstract</jats:title>) is no text, a section's ("Methods") a label
            # before its part, as a structured abstract's are read elsewhere ("Methods: ..."); its paragraphs HTML's
            abstract = html_text(_JATS_TAG.sub(r"\1", _JATS_TITLE.sub(_jats_heading, jats)))
            arxiv_id = next((m.group(1) for link in (item.get("DOI"), item.get("URL"))
                             if isinstance(link, str) and (m := _ARXIV_LINK.search(link))), None)
            people = _record_authors(item.get("author"))
        else:
            abstract = collapse(a) if isinstance(a := _field(content, "abstract"), str) else ""
            ids = item.get("externalIds")
            said = ids.get("ArXiv") if isinstance(ids, dict) else None
            arxiv_id = said.strip() if isinstance(said, str) and is_arxiv_id(said.strip()) else None
            people = _field(content, "authors") or []
        if not abstract:
            bare.append(label)
        if isinstance(people, str):  # bioRxiv's "Doe, J.; Smith, A. B."
            people = _surname_list(people) or [people]
        people = people if isinstance(people, list) else []
        authors = [collapse(p.get("name") if isinstance(p, dict) else p) for p in people if isinstance(p, (dict, str))]
        link, published, keywords, categories, precision = _record_extras(item, content, kind, ident)
        papers.append(Paper(
            title=title, abstract=abstract, source=source, arxiv_id=arxiv_id, authors=tuple(a for a in authors if a),
            url=abs_url(arxiv_id) if arxiv_id else link, pdf_url=pdf_url(arxiv_id) if arxiv_id else None,
            published=published, date_precision=precision, location=name, categories=categories, keywords=keywords,
        ))
    _skipped(skipped, len(items), name, source, warn)
    _bare(bare, name, source, warn)
    return papers


def _record_extras(item: dict, content: dict, kind: str, ident: Any) -> tuple[
        str | None, datetime | None, tuple[str, ...], tuple[str, ...], str | None]:
    """A scholarly record's link, date, keywords, categories and the date's
    precision ("year", "month", None for a day), as its kind gives them:
    OpenReview's forum and publication (else creation) time in milliseconds
    and keywords, bioRxiv's DOI page of the version and its subject,
    Crossref's posted day, Europe PMC's article page, first publication day
    (else its year alone) and keywords, Semantic Scholar's page and
    publication day."""
    def texts(values: Any) -> tuple[str, ...]:
        return tuple(collapse(v) for v in values if isinstance(v, str) and v.strip()) if isinstance(values, list) else ()

    if kind == "OpenReview":
        stamp = next((t for key in ("pdate", "odate", "cdate") if isinstance(t := item.get(key), int)), None)
        return (f"https://openreview.net/forum?id={ident}" if isinstance(ident, str) else None,
                datetime.fromtimestamp(stamp / 1000, UTC) if stamp else None, texts(_field(content, "keywords")), (),
                None)
    if kind == "bioRxiv":
        server, version = str(item.get("server")).casefold(), str(item.get("version"))
        link = f"https://www.{server}.org/content/{item.get('doi')}" + (f"v{version}" if version.isdigit() else "")
        day = item.get("date")
        return link, _iso_time(day) if isinstance(day, str) else None, (), texts([item.get("category")]), None
    if kind == "Crossref":
        dated: tuple[datetime | None, str | None] = next((d for key in ("posted", "published", "issued", "created")
            if isinstance(v := item.get(key), dict) and (d := _csl_day(v))[0] is not None), (None, None))
        url = item.get("URL")
        return url if isinstance(url, str) else None, dated[0], (), (), dated[1]
    if kind == "INSPIRE":
        number = item.get("control_number")
        dated = next((d for key in ("preprint_date", "earliest_date")
                      if (d := _record_date(item.get(key)))[0] is not None), (None, None))
        prints = [x for x in _listed(item.get("arxiv_eprints")) if isinstance(x, dict)]
        return (f"https://inspirehep.net/literature/{number}" if isinstance(number, int) else None, dated[0], (),
                texts(prints[0].get("categories")) if prints else (), dated[1])
    if kind == "ADS":
        bibcode = item.get("bibcode")
        day = item.get("pubdate")  # "2024-06-00": a month; "2024-00-00": a year
        dated = _record_date(re.sub(r"(?:-00)+$", "", day)) if isinstance(day, str) else (None, None)
        return (f"https://ui.adsabs.harvard.edu/abs/{bibcode}/abstract" if isinstance(bibcode, str) and
                re.fullmatch(r"[\w.&]{19}", bibcode) else None, dated[0], (), (), dated[1])
    if kind == "Europe PMC":
        where, number = item.get("source"), item.get("id")
        page = (f"https://europepmc.org/article/{where}/{number}"
                if isinstance(where, str) and isinstance(number, str) and where.isalpha() and number.isalnum() else None)
        dated = next((d for key in ("firstPublicationDate", "pubYear")
                      if (d := _record_date(item.get(key)))[0] is not None), (None, None))
        words = item.get("keywordList")
        return page, dated[0], texts(words.get("keyword") if isinstance(words, dict) else None), (), dated[1]
    if kind == "OpenAlex":
        where = item.get("primary_location")
        url = where.get("landing_page_url") if isinstance(where, dict) else None
        url, day = url or item.get("doi"), item.get("publication_date")
    else:
        url, day = item.get("url"), item.get("publicationDate")
        if not isinstance(day, str) and kind == "Semantic Scholar" and isinstance(year := item.get("year"), int):
            # (many papers have a year and no publicationDate: their year, to the year, not no date)
            return url if isinstance(url, str) else None, datetime(year, 1, 1, tzinfo=UTC), (), (), "year"
    return url if isinstance(url, str) else None, _iso_time(day) if isinstance(day, str) else None, (), (), None


#: An arXiv id among an ADS record's identifiers ("arXiv:2406.03001", its DOI 10.48550/arXiv.ID).
_ADS_ARXIV = re.compile(rf"^(?:arXiv:|10\.48550/arXiv\.)({ARXIV_ID})$", re.IGNORECASE)
#: A heading inside an abstract's HTML (Europe PMC's structured abstract, "<h4>Background</h4>We ..."):
#: a label before its part, as MEDLINE writes it ("BACKGROUND: We ..."), not a word glued to the text.
_HEADING = re.compile(r"<h[1-6]\b[^>]*>(.*?)</h[1-6]>", re.IGNORECASE | re.DOTALL)


#: Europe PMC's fields of text, whose inline markup (``<i>``, an abstract's ``<h4>``) is part of the
#: text, as the JSON answer's string holds it; not a record of fields like ``journalInfo``.
_EUROPE_PMC_TEXT = frozenset({"title", "abstractText"})


def _europe_pmc_xml(data: bytes, name: str, source: str) -> list[dict] | None:
    """The results of Europe PMC's search answer in XML (``format=xml``, the
    REST service's default: ``<responseWrapper>...<resultList><result>``), as
    the JSON answer has them, for :func:`parse_scholarly_json`; None for
    other XML.  It was 'not an RSS or Atom feed'."""
    import xml.etree.ElementTree as ET

    if b"<!DOCTYPE" in data[:4096] or b"<!ENTITY" in data:
        return None  # (no answer of Europe PMC's declares any: read as a feed, and refused there)
    root = parsed_xml(data, name, source, "Europe PMC's answer")
    if root.tag != "responseWrapper" or (found := root.find("resultList")) is None:
        return None

    def value(element: ET.Element) -> Any:
        children = list(element)
        if not children:
            return element.text or ""
        if element.tag in _EUROPE_PMC_TEXT:  # "Sleep in <i>Drosophila</i> flies": its markup, as JSON has it
            return html.escape(element.text or "", quote=False) + "".join(
                ET.tostring(c, encoding="unicode", method="html") for c in children)
        if element.tag.endswith("List"):  # authorList -> {"author": [...]}, however many it holds
            return {children[0].tag: [value(c) for c in children]}
        return {c.tag: value(c) for c in children}

    return [value(result) for result in found.findall("result")]


def _europe_pmc_authors(item: dict) -> list[str]:
    """A Europe PMC record's authors: each ``authorList`` author's first and
    last name (``fullName``, "Doe J", where they are not given; a consortium's
    ``collectiveName``), else its ``authorString`` ("Doe J, Smith JB.")."""
    listed = item.get("authorList")
    people = []
    for author in _listed(listed.get("author") if isinstance(listed, dict) else None):
        if not isinstance(author, dict):
            continue
        first, last = author.get("firstName"), author.get("lastName")
        whole = f"{first} {last}" if isinstance(first, str) and isinstance(last, str) else None
        people.append(whole or author.get("fullName") or author.get("collectiveName"))
    if not any(isinstance(p, str) for p in people) and isinstance(line := item.get("authorString"), str):
        people = [name.strip() for name in line.rstrip(" .").split(",")]
    return [p for p in people if isinstance(p, str) and p.strip()]


def _openalex_work(work: dict) -> tuple[str, str | None, list[str]]:
    """An OpenAlex work's abstract, arXiv id and authors.  OpenAlex gives no
    abstract as text, only ``abstract_inverted_index`` (each word with the
    positions it stands at): the words are put back in their order.  The
    arXiv id is its DOI's (10.48550/arXiv.ID) or a location's link to arXiv;
    each author is an authorship's ``author.display_name`` (else the name as
    the paper wrote it)."""
    index = work.get("abstract_inverted_index")
    placed = sorted((at, word) for word, ats in index.items() if isinstance(word, str) and isinstance(ats, list)
                    for at in ats if isinstance(at, int)) if isinstance(index, dict) else []
    locations = [work.get("primary_location"), *_listed(work.get("locations"))]
    links = [work.get("doi"), *(where.get(key) for where in locations if isinstance(where, dict)
                                for key in ("landing_page_url", "pdf_url"))]
    arxiv_id = next((m.group(1).removesuffix(".pdf") for link in links
                     if isinstance(link, str) and (m := _ARXIV_LINK.search(link))), None)
    people = []
    for authorship in _listed(work.get("authorships")):
        author = authorship.get("author") if isinstance(authorship, dict) else None
        who = author.get("display_name") if isinstance(author, dict) else None
        people.append(who if isinstance(who, str) and who.strip() else
                      authorship.get("raw_author_name") if isinstance(authorship, dict) else None)
    return collapse(" ".join(word for _, word in placed)), arxiv_id, [p for p in people if isinstance(p, str)]


def _iso_time(value: str) -> datetime | None:
    """An RFC 3339 time (``2024-06-07T10:00:00Z``) in UTC, or None."""
    try:
        when = datetime.fromisoformat(value.strip())
        return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)
    except (ValueError, OverflowError):  # not a time, or beyond year 9999 in UTC
        return None


# --------------------------------------------------------------------------- Hugging Face


def _hf_time(value) -> datetime | None:
    if not isinstance(value, str):
        return None
    return _iso_time(value.replace("Z", "+00:00"))


#: Where a JSON document nests deeper than any daily papers answer (it has 4 levels).
_DEEP_JSON = re.compile(rb"(?:[\[{]\s*){200}")
#: A number longer than Python converts (``sys.get_int_max_str_digits``, 4,300 digits).
_LONG_NUMBER = re.compile(rb"\d{4000}")


def _load_json(data: bytes, name: str, source: str, expected: str) -> Any:
    """``data`` as JSON, or an :class:`InputError` at its line saying what is
    wrong (not UTF-8, an HTML page, invalid or cut off, nested or numbered
    beyond what Python reads); ``expected`` names the document wanted."""
    if not data.lstrip(_UTF8_BOM).strip():
        raise InputError(Problem(f"source {source!r}: empty document, expected {expected}", name, 1))
    _no_text(data, name, source, expected)
    # UTF-8 (a BOM too), or UTF-16/32 told by their BOM or zero bytes, as RFC 4627 and
    # json.loads read them: a file saved by PowerShell's Out-File is UTF-16
    encoding = json.detect_encoding(data)
    try:
        decoded = data.decode(encoding)
    except UnicodeDecodeError as exc:
        # Windows' "ANSI" (PowerShell 5's Set-Content, a server's ISO-8859-1), as an export may be
        ansi = windows_1252(data) if encoding.startswith("utf-8") else None
        if ansi is None:
            line = line_of(data, exc.start) if encoding.startswith("utf-8") else 1
            raise InputError(Problem(f"source {source!r}: not UTF-8 text, expected JSON", name, line)) from None
        decoded = ansi
    try:
        return json.loads(decoded)
    except json.JSONDecodeError as exc:
        if not encoding.startswith("utf-8"):  # bytes that only looked like UTF-16 or 32
            raise InputError(Problem(f"source {source!r}: not UTF-8 text, expected JSON", name, 1)) from None
        text = data.lstrip(_UTF8_BOM + b" \t\r\n")
        if listing_text(text):  # (one copied from its first paper down starts as JSON does: "[1] arXiv:...")
            raise InputError(Problem(f"source {source!r}: an arXiv page copied as text, not {expected} "
                                     "(`type: arxiv` with `path:` reads it)", name, 1)) from None
        if exc.msg == "Expecting value" and exc.pos == len(exc.doc) - len(exc.doc.lstrip("\ufeff \t\r\n")) \
                and not text.startswith(b"<"):
            # words, not JSON ('Rate exceeded.', 'Internal Server Error'): it read 'invalid JSON
            # (Expecting value at column 1); truncated?', of an answer that was whole
            if _HF_EXPORT.search(text[:_JUNK_MOST]):
                raise InputError(Problem(f"source {source!r}: a Hugging Face papers page saved as text, not "
                                         f"{expected} (`type: hf-papers-text` reads it)", name, 1)) from None
            said = text.split(b"\n", 1)[0].decode("utf-8", "replace").strip()
            raise InputError(Problem(f"source {source!r}: not JSON: the answer is text, {_quoted(said)}, "
                                     f"expected {expected}", name, exc.lineno)) from None
        if text.startswith(b"<"):
            if not _HTML_PAGE.match(text[:4096]) and _FEED_START.search(text[:_JUNK_MOST]):
                # a saved feed given where JSON goes: "an error page or a login wall?" of a file read fine
                raise InputError(Problem(f"source {source!r}: an RSS or Atom feed, not {expected} (a feed is "
                                         "read by type: feed, or arxiv for arXiv's)", name, 1)) from None
            if (page := listing_page(data)) is not None:
                raise InputError(Problem(f"source {source!r}: {arxiv_page_said(page)}, not {expected}", name,
                                         1)) from None
            raise InputError(
                Problem(f"source {source!r}: an HTML or XML page, not {expected}{UNKNOWN_PAGE}", name, 1)
            ) from None
        raise InputError(
            Problem(f"source {source!r}: invalid JSON ({exc.msg} at column {exc.colno}); truncated?", name, exc.lineno)
        ) from None
    except RecursionError:  # json's C scanner recurses per level: [[[[...]]]] a hundred thousand deep
        m = _DEEP_JSON.search(data)
        raise InputError(
            Problem(f"source {source!r}: JSON nested too deeply to be {expected}", name,
                    line_of(data, m.start()) if m else 1)
        ) from None
    except ValueError as exc:  # an integer of thousands of digits (Python refuses to convert it)
        m = _LONG_NUMBER.search(data)
        digits = re.search(r"value has (\d+) digits", str(exc))
        # Python's own words ended 'use sys.set_int_max_str_digits() to increase the limit', a remedy
        # for a programmer, not for a file
        said = f"a number {digits[1]} digits long: no paper has one; damaged?" if digits else str(exc)
        raise InputError(
            Problem(f"source {source!r}: invalid JSON ({said})", name, line_of(data, m.start()) if m else 1)
        ) from None


#: Where Hugging Face's daily papers JSON is (``?date=YYYY-MM-DD``).
HF_DAILY_API = "https://huggingface.co/api/daily_papers"
#: Hugging Face's papers page (HTML), where its JSON API's answer was wanted.
_HF_PAGE = re.compile(rb"<title>[^<]*(?:Daily Papers|Papers)[^<]*Hugging Face[^<]*</title>", re.IGNORECASE)


def parse_hf_daily(data: bytes, name: str, source: str, warn: Warn) -> list[Paper]:
    """The JSON list ``/api/daily_papers`` returns: ``[{"paper": {...}, ...}]``;
    also as JSON Lines, one entry a line (what ``jq -c '.[]'`` saves), or one
    entry alone (one paper's ``/api/papers/ID``).  Read from a saved file,
    which a script may have written escaped as HTML, its text reads as a
    JSON record's does (:func:`entities_read`)."""
    return parse_hf_daily_page(data, name, source, warn, saved=True)[1]


def parse_hf_daily_page(data: bytes, name: str, source: str, warn: Warn, *,
                        saved: bool = False) -> tuple[int, list[Paper]]:
    """:func:`parse_hf_daily`, and how many entries the answer held (the
    papers and those skipped): a page of the API as long as its page size
    may have another after it.  The API's answer is plain text, never HTML:
    its entities' text is the paper's (``Why LLMs write &amp;lt; instead of
    &lt;``), read only from a ``saved`` file."""
    items = _hf_daily_items(data, name, source)
    return len(items), _hf_daily_papers(items, name, source, warn, saved=saved, data=data)


def _hf_daily_items(data: bytes, name: str, source: str) -> list:
    """The entries of a daily papers document, in whichever form it came."""
    try:
        items = _load_json(data, name, source, "the JSON list of daily papers")
    except InputError:
        items = _json_lines(data)
        page = _mhtml_page(data)
        if items is None:
            items = _page_papers(page or data)
        if items is None and _HF_PAGE.search((page or data)[:4096]):
            raise InputError(Problem(f"source {source!r}: {_page_advice(name)}", name, 1)) from None
        if items is None and page is not None:
            raise InputError(Problem(f"source {source!r}: a web page saved as MHTML, not the JSON list of "
                                     "daily papers", name, 1)) from None
        if items is None and (kind := feed_only_kind(data)) is not None:  # it said 'not JSON: the answer is text'
            raise InputError(Problem(f"source {source!r}: {kind}, not the JSON list of daily papers (`type: feed` "
                                     "with `path:` reads it)", name, 1)) from None
        if items is None:
            raise
    if not _is_entry(items) and ((records := _scholarly_records(items)) is not None
                                 or _dblp_answer(items) and _dblp_records(items) is not None):
        raise InputError(Problem(f"source {source!r}: a saved {records[1] if records else 'DBLP'} answer, not the "
                                 "JSON list of daily papers (`type: feed` with `path:` reads it)", name, 1))
    if _is_entry(items):
        items = [items]
    elif isinstance(items, dict):
        items = _wrapped_entries(items, name, source)
    if not isinstance(items, list):
        raise InputError(
            Problem(f"source {source!r}: expected a JSON list of daily papers, got {_json_kind(items)}", name, 1)
        )
    if items and all(_is_plain_record(i) and "summary" not in i for i in items):
        # arXiv's metadata snapshot, a script's records: read as daily papers, each was its title without its
        # abstract (Hugging Face names it "summary")
        raise InputError(Problem(f"source {source!r}: JSON records of papers, not the JSON list of daily papers "
                                 "(`type: feed` with `path:` reads it)", name, 1))
    return items


def _json_kind(value: Any) -> str:
    """A JSON value as JSON names it, with the value when it is short: an
    answer of ``null`` said "got NoneType", Python's name for it."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {_quoted(value, 60)}"
    return type(value).__name__


def json_list_lines(data: bytes, key: str | None) -> list[int]:
    """The line each element of the list under the top-level object's ``key``
    starts on (a JSON Feed's ``items``), or of the top-level list itself for
    ``None`` (Hugging Face's daily papers), for a warning about one of them;
    [] when ``data`` is not such a document in UTF-8.  Walked with json's own
    scanner, value by value, so only when a warning asks for a line: a JSON
    Feed's item without a title was named 'item 3' with no line to look at."""
    decoder = json.JSONDecoder()
    try:
        text = data.decode("utf-8-sig")
        at = _json_space(text, 0)
        if key is None and text[at:at + 1] == "[":
            return _json_elements(decoder, text, at)
        if text[at:at + 1] != "{":
            return []
        at = _json_space(text, at + 1)
        while text[at:at + 1] == '"':
            name, at = decoder.raw_decode(text, at)
            at = _json_space(text, _json_space(text, at) + 1)  # past the ':'
            if name == key and text[at:at + 1] == "[":
                return _json_elements(decoder, text, at)
            at = _json_space(text, decoder.raw_decode(text, at)[1])
            at = _json_space(text, at + 1) if text[at:at + 1] == "," else at
    except (UnicodeDecodeError, ValueError, RecursionError):
        pass
    return []


def _json_elements(decoder: json.JSONDecoder, text: str, at: int) -> list[int]:
    """The line each element of the JSON list opening at ``at`` starts on."""
    lines = []
    at = _json_space(text, at + 1)
    while text[at:at + 1] not in ("]", ""):
        lines.append(line_of(text, at))
        at = _json_space(text, decoder.raw_decode(text, at)[1])
        at = _json_space(text, at + 1) if text[at:at + 1] == "," else at
    return lines


#: JSON's white space.
_JSON_SPACE = re.compile(r"[ \t\r\n]*")


def _json_space(text: str, at: int) -> int:
    """Where the JSON white space from ``at`` on ends."""
    return _JSON_SPACE.match(text, at).end()  # type: ignore[union-attr]  # (it matches the empty string)


def _numeric_id(value: Any) -> str | None:
    """An arXiv id a tool wrote as a JSON number (a list passed through pandas:
    ``2406.06`` for "2406.06000"), with the digits after the point arXiv's ids
    have (five from 1501 on, four before); None for anything else.  Read as
    text it was "2406.06", linked to a page that does not exist."""
    if not isinstance(value, float) or not 704 <= value < 10000:
        return None
    digits = 5 if value >= 1501 else 4
    ident = f"{value:0{5 + digits}.{digits}f}"  # (0704.0001: the year's zero too)
    return ident if float(ident) == value and 1 <= int(ident[2:4]) <= 12 else None


def _linked_arxiv_id(ident: str) -> str | None:
    """The arXiv id an entry's id names as a link or ``arXiv:ID`` (a list
    saved by another tool): it was taken for no id, the paper known by its
    title only, and linked to 'https://huggingface.co/papers/https://...'."""
    m = _ARXIV_LINK.search(ident)
    return m.group(1).removesuffix(".pdf") if m else None


def _hf_daily_papers(items: list, name: str, source: str, warn: Warn, *, saved: bool,
                     data: bytes = b"") -> list[Paper]:
    """The papers of a daily papers list's ``items``; one skipped is named at
    its line of ``data`` when the items are its list or its JSON Lines."""
    read = entities_read if saved else str
    papers = []
    skipped: list[str] = []
    skipped_at: list[int] = []  # the index of each item skipped
    bare: list[str] = []  # entries without a summary: read by their titles only, and said so
    for index, item in enumerate(items):
        paper = item.get("paper", item) if isinstance(item, dict) else None
        if not isinstance(paper, dict):
            skipped.append(f"item {index + 1} is not a paper object")
            skipped_at.append(index)
            continue
        ident = _numeric_id(paper.get("id")) or str(paper.get("id") or "").strip()
        # (text; escaped as HTML by a script that wrote the file, it reads as a JSON record's does)
        title = collapse(read(_own_or_entry(paper, item, "title") or ""))
        if not ident or not title:
            what = "no id" if not ident else "no title"
            label = f"item {index + 1}" + (f" ({ident})" if ident else "")
            skipped.append(f"{label} has {what}")
            skipped_at.append(index)
            continue
        arxiv_id = ident if is_arxiv_id(ident) else _linked_arxiv_id(ident)
        authors = []
        for author in _listed(paper.get("authors")):
            author_name = author.get("name") if isinstance(author, dict) else author
            if isinstance(author_name, str) and author_name.strip():
                authors.append(collapse(read(author_name)))
        abstract = collapse(read(_own_or_entry(paper, item, "summary") or ""))
        if not abstract:
            bare.append(f"item {index + 1} ({ident})")
        upvotes = paper.get("upvotes")
        keywords = _listed(paper.get("ai_keywords"))
        github = paper.get("githubRepo")
        papers.append(
            Paper(
                title=title,
                abstract=abstract,
                source=source,
                arxiv_id=arxiv_id,
                authors=tuple(authors),
                url=abs_url(arxiv_id) if arxiv_id else (
                    ident if ident.startswith(("https://", "http://")) else f"https://huggingface.co/papers/{ident}"),
                pdf_url=pdf_url(arxiv_id) if arxiv_id else None,
                published=_hf_time(paper.get("publishedAt")),
                upvotes=upvotes if isinstance(upvotes, int) and not isinstance(upvotes, bool) else None,
                keywords=tuple(collapse(k) for k in keywords if isinstance(k, str) and k.strip()),
                github=github if isinstance(github, str) and github.startswith(("https://", "http://")) else None,
                location=name,
            )
        )
    lines = (json_list_lines(data, None) or [n for n, _ in _numbered_lines(data)]) if skipped else []
    _skipped(skipped, len(items), name, source, warn,
             [lines[i] for i in skipped_at] if len(lines) == len(items) else None)
    _bare(bare, name, source, warn)
    return papers


def _bare(bare: list[str], name: str, source: str, warn: Warn) -> None:
    """Say, once per source, that entries came without a summary (a link blog's
    feed, a trimmed API answer): they are read by their titles only, which a
    topic's abstract terms and an ``about`` sentence have little to go on."""
    if bare:
        more = f" and {len(bare) - 1} more" if len(bare) > 1 else ""
        warn(f"{name}: source {source!r}: {bare[0]}{more} without a summary: read by the title only (topics' "
             "abstract terms cannot match it, and the email shows no abstract)")


#: A Svelte component's data on a Hugging Face page: the papers page keeps its
#: daily papers there (``{"dailyPapers": [...], "date": ...}``), HTML-escaped.
_PAGE_PROPS = re.compile(rb'data-props="([^"]*)"')


def _page_papers(data: bytes) -> list | None:
    """The daily papers of a Hugging Face papers page saved by a browser (Save
    Page As, the SingleFile extension), read from the page's own data; None
    when ``data`` holds none.  Its text would be a paper listing without
    abstracts; the data holds every paper's whole entry, as the API gives it."""
    for props in _PAGE_PROPS.finditer(data):
        try:
            document = json.loads(html.unescape(props.group(1).decode("utf-8")))
        except (ValueError, RecursionError):
            continue
        if isinstance(document, dict):
            try:
                return _wrapped_entries(document, "", "")
            except InputError:
                continue
    return None


#: Chrome's "Webpage, Single File" (.mhtml): a MIME message whose first part is the page.
_MHTML = re.compile(rb"(?:From: <Saved by [^>]*>|MIME-Version: 1\.0)\r?\n(?:[^\r\n]+\r?\n)*?Content-Type: multipart/related",
                    re.IGNORECASE)


def _mhtml_page(data: bytes) -> bytes | None:
    """The HTML page an MHTML file holds, decoded from its quoted-printable; None
    when ``data`` is not MHTML."""
    if not _MHTML.match(data.lstrip()[:4096]):
        return None
    message = email.message_from_bytes(data)
    for part in message.walk():
        if part.get_content_type() == "text/html":
            page = part.get_payload(decode=True)
            return page if isinstance(page, bytes) else None
    return None


def arxiv_page_said(page: bytes) -> str:
    """An arXiv page given to a reader of another format (see :func:`listing_page`), and the source that reads it."""
    return f"{arxiv_page_kind(page)} saved from the browser (`type: arxiv` with `path:` reads it)"


def listing_page(data: bytes) -> bytes | None:
    """The arXiv listing page ``data`` is, saved as HTML or as MHTML (see
    :mod:`newsletter.listings`); None for anything else."""
    page = _mhtml_page(data) or data
    return page if _HTML_PAGE.match(page.lstrip(_UTF8_BOM)[:4096]) and arxiv_page_kind(page) else None


def holds_daily_papers(data: bytes) -> bool:
    """Whether ``data`` is a saved Hugging Face papers page that :func:`parse_hf_daily` reads."""
    return _page_papers(_mhtml_page(data) or data) is not None


def _page_advice(name: str) -> str:
    """What to give instead of a papers page without its data: the API's answer
    (a url: of the page fetched it; a saved copy of the page is replaced by a saved answer)."""
    if name.startswith(("http://", "https://")):
        return (f"Hugging Face's papers page, not the JSON list of daily papers: leave url: out "
                f"(or give {HF_DAILY_API})")
    return (f"a Hugging Face papers page without its papers' data, not the JSON list of daily papers: "
            f"save the list instead (curl -o hf.json {HF_DAILY_API}) and give that file as path:")


def _own_or_entry(paper: dict, item: Any, key: str) -> str | None:
    """The paper's ``key`` (title, summary), else the entry's beside it (the
    daily list repeats both there), else None: text only."""
    for holder in (paper, item if isinstance(item, dict) else {}):
        if isinstance(value := holder.get(key), str) and value.strip():
            return value
    return None


def hf_api_error(data: bytes) -> str | None:
    """What a Hugging Face API error answer says (``{"error": "..."}``, sent
    with a 4xx), or None when ``data`` is not one."""
    try:
        document = json.loads(data[:65536])
    except (ValueError, UnicodeDecodeError):
        return None
    return _said_error(document) or None


def _said_error(document: Any) -> str | None:
    """The text of a JSON answer's ``"error"`` (Hugging Face's API), or None."""
    said = document.get("error") if isinstance(document, dict) else None
    return collapse(said) if isinstance(said, str) else None


def _is_entry(item: Any) -> bool:
    """A daily papers entry (``{"paper": {...}}``) or a paper itself (``id`` and ``title``)."""
    return isinstance(item, dict) and (isinstance(item.get("paper"), dict) or {"id", "title"} <= item.keys())


def _wrapped_entries(document: dict, name: str, source: str, depth: int = 0) -> list:
    """The list of entries an object wraps: the papers page's own data is
    ``{"dailyPapers": [...], "date": ...}``, other endpoints ``{"papers": [...]}``
    or ``{"data": {"items": [...]}}``; it was "expected a JSON list, got dict".
    The list is the one value (at most two objects deep) that is a list of
    entries, or an empty list under a name that says papers.  Anything else is
    an :class:`InputError` quoting the API's error, or naming the keys found."""
    for value in document.values():
        if isinstance(value, list) and value and all(map(_is_entry, value)):
            return value
    for key, value in document.items():
        if isinstance(value, list) and not value and "paper" in key.casefold():
            return value
    if depth < 2:
        for value in document.values():
            if isinstance(value, dict):
                try:
                    return _wrapped_entries(value, name, source, depth + 1)
                except InputError:
                    continue
    if (said := _said_error(document)) is not None:
        what = f"; the API says: {said}"
    else:
        what = f" with no list of papers in it (keys: {', '.join(sorted(map(str, document))[:8]) or 'none'})"
    raise InputError(Problem(f"source {source!r}: expected a JSON list of daily papers, got dict{what}", name, 1))


def _numbered_lines(data: bytes) -> list[tuple[int, str]]:
    """The non-blank lines of JSON Lines with their numbers, split at "\n"
    only: JSON Lines ends a record there (and "\r\n"), while splitlines()
    also broke inside a record at a raw U+2028 or U+0085 of its abstract, and
    at a lone "\r", numbering the records apart from the lines counted here.
    UTF-8, or Windows-1252 as PowerShell's ``Set-Content`` saves it (decoded
    with replacement, "Müller" was "M\ufffdller"); none for bytes that are
    neither (the whole document's reading names where they are)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        if (ansi := windows_1252(data)) is None:
            return []
        text = ansi
    return [(n, line) for n, line in enumerate(text.split("\n"), 1) if line.strip()]


def _json_lines(data: bytes) -> list[dict] | None:
    """JSON Lines of objects, one a line (blank lines allowed), as a list; None
    when ``data`` is not that.  A document on one line (an API's answer, as
    most are sent) is none without being parsed: its caller reads it as one
    JSON document, and parsing it here too read a large answer twice."""
    numbered = _numbered_lines(data)
    if len(numbered) < 2:
        return None
    items = []
    for _, line in numbered:
        try:
            item = json.loads(line)
        except (ValueError, RecursionError):
            return None
        if not isinstance(item, dict):
            return None
        items.append(item)
    return items


def _broken_json_line(data: bytes) -> int | None:
    """The first line of JSON Lines that is no JSON object, when the first is
    one (a file whose first record reads whole is JSON Lines); None for any
    other document.  Read as one JSON document, it was 'invalid JSON (Extra
    data at column 1)' at the second line, whichever was broken."""
    numbered = _numbered_lines(data)
    if len(numbered) < 2:
        return None
    for index, (number, line) in enumerate(numbered):
        try:
            item = json.loads(line)
        except (ValueError, RecursionError):
            item = None
        if not isinstance(item, dict):
            return number if index else None
    return None


def _listed(value: Any) -> list:
    """A JSON field meant as a list: itself, else nothing (an API that changed
    ``authors`` to a count or an object stopped the read with a TypeError)."""
    return value if isinstance(value, list) else []


def _skipped(skipped: list[str], total: int, name: str, source: str, warn: Warn,
             lines: list[int] | None = None) -> None:
    """One malformed entry is skipped with a warning (at its line, given
    ``lines``, one for each); when every entry of a document is malformed,
    the format has changed or is not the one expected: the source has failed
    (loudly), it has not published "nothing new"."""
    if skipped and len(skipped) == total:
        more = f" (and {total - 1} more)" if total > 1 else ""
        raise InputError(Problem(f"source {source!r}: no usable entry: {skipped[0]}{more}; a changed format?", name,
                                 lines[0] if lines else None))
    for index, what in enumerate(skipped):
        warn(f"{name}{f':{lines[index]}' if lines else ''}: source {source!r}: {what}; skipped")


# --------------------------------------------------------------------------- records: CSV, JSON Lines


#: A record's columns or keys by what they hold, written as Zotero, a spreadsheet, arXiv's metadata
#: snapshot or a script name them (compared case-folded, without spaces, ``_`` or ``-``).
_RECORD_KEYS = {
    "title": ("title", "papertitle"),
    "abstract": ("abstract", "abstractnote", "summary", "description"),
    "authors": ("authors", "author", "creators", "authorlist"),
    "arxiv_id": ("arxivid", "arxiv", "eprint", "archiveid", "number"),  # (Zotero's "Number": a preprint's archive id)
    "id": ("id", "key"),
    "url": ("url", "link", "href", "absurl", "urlabs"),  # (Papers with Code's url_abs: the paper, not its page there)
    "doi": ("doi",),
    "extra": ("extra",),
    "published": ("published", "date", "publicationdate", "submitted", "created", "updatedate", "issued"),
    "year": ("year", "publicationyear"),  # when no column gives the day
    "categories": ("categories", "category", "primarycategory"),
    "comment": ("comments", "comment"),
}
_KEY_OF = {alias: what for what, aliases in _RECORD_KEYS.items() for alias in aliases}


def _record_key(key: str) -> str | None:
    """What a column or key holds (see :data:`_RECORD_KEYS`), or None."""
    return _KEY_OF.get(re.sub(r"[\s_-]+", "", key.casefold()))


def _is_plain_record(item: Any) -> bool:
    """A record with its title and abstract under keys :data:`_RECORD_KEYS`
    knows; not a Hugging Face daily papers entry, which repeats its paper's
    title and summary beside the paper (`type: hf-daily` reads its id, authors
    and upvotes: read as a record, it was a paper without them)."""
    if not isinstance(item, dict) or isinstance(item.get("paper"), dict):
        return False
    return {"title", "abstract"} <= {_record_key(k) for k in item}


def _record_authors(value: Any) -> list[str]:
    """Authors as a record gives them: a list of names, of ``{"name": ...}``
    or of CSL JSON's ``{"given": ..., "family": ...}`` (``{"literal": ...}``
    for a group),
    arXiv's snapshot ``authors_parsed`` (``[last, first, suffix]``), or one
    text ("Doe, Jane; Müller, Ana" as Zotero writes them, "Jane Doe, Ana
    Müller and John Smith")."""
    if isinstance(value, list):
        names = []
        for v in value:
            if isinstance(v, dict):  # {"name": ...}, or CSL JSON's {"family": ..., "given": ...} (Zotero, Mendeley)
                v = v.get("name") or " ".join(p for p in (v.get("given"), v.get("family")) if isinstance(p, str)) \
                    or v.get("literal")
            elif isinstance(v, list) and all(isinstance(p, str) for p in v) and v:
                v = " ".join(p for p in (*v[1:2], v[0], *v[2:3]) if p.strip())  # [last, first, suffix]
            if isinstance(v, str) and (name := collapse(v)):
                names.append(name)
        return names
    if not isinstance(value, str) or not (text := collapse(value)):
        return []
    return _surname_list(text) or split_names(text)


def _record_paper(record: dict, number: int, what: str, name: str, source: str, location: str
                  ) -> tuple[Paper | None, str | None]:
    """A CSV row's or a JSON record's paper, or None and why not (no title).
    Its arXiv id from a column that names it, its link, its DOI (arXiv's
    10.48550/arXiv.ID), an ``id`` that is one or Zotero's ``Extra``
    ("arXiv:2406.03001 [cs]"), with the version the snapshot's ``versions``
    name."""
    fields: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(key, str) and (kind := _record_key(key)) and value not in (None, "", []):
            fields.setdefault(kind, value)
    title = collapse(entities_read(t)) if isinstance(t := fields.get("title"), str) else ""
    label = f"{what} {number}"
    if not title:
        return None, f"{label} has no title"
    text = {k: v.strip() for k, v in fields.items() if isinstance(v, str)}
    named = [v for v in (text.get("arxiv_id", "").removeprefix("arXiv:").strip(), text.get("id", "")) if is_arxiv_id(v)]
    linked = [m.group(1) for v in (text.get("arxiv_id"), text.get("url"), text.get("doi"), text.get("extra"))
              if v and (m := _ARXIV_LINK.search(v) or _EXTRA_ARXIV.search(v))]
    arxiv_id = next(iter(named + linked), None)
    if arxiv_id and arxiv_base_id(arxiv_id) == arxiv_id:
        # Zotero's Number "2101.00001" beside its URL ".../abs/2101.00001v3": the version the link names is kept
        arxiv_id = next((v for v in linked if arxiv_base_id(v) == arxiv_id != v), arxiv_id)
    versions = record.get("versions")
    if arxiv_id and isinstance(versions, list) and versions and isinstance(versions[-1], dict):
        last = versions[-1].get("version")
        if isinstance(last, str) and re.fullmatch(r"v\d+", last) and not re.search(r"v\d+$", arxiv_id):
            arxiv_id += last
    first = versions[0].get("created") if isinstance(versions, list) and versions and isinstance(versions[0], dict) else None
    published, precision = next((when for value in (first, fields.get("published"), text.get("year"))
                                 if (when := _record_date(value))[0] is not None), (None, None))
    people = record.get("authors_parsed") or fields.get("authors")
    link = text.get("url")
    categories = fields.get("categories")
    cats = categories.split() if isinstance(categories, str) else categories if isinstance(categories, list) else []
    return Paper(
        title=title, abstract=collapse(entities_read(a)) if isinstance(a := fields.get("abstract"), str) else "",
        source=source, arxiv_id=arxiv_id, authors=tuple(collapse(entities_read(n)) for n in _record_authors(people)),
        url=abs_url(arxiv_id) if arxiv_id else web_url(link) if link else None,
        pdf_url=pdf_url(arxiv_id) if arxiv_id else None, published=published, date_precision=precision,
        categories=tuple(dict.fromkeys(c for c in cats if isinstance(c, str) and c.strip())),
        comment=text.get("comment") or None, location=location,
    ), None


#: Zotero's Extra field for an arXiv preprint: "arXiv:2406.03001 [cs]".
_EXTRA_ARXIV = re.compile(rf"\barXiv:\s*({ARXIV_ID})\b", re.IGNORECASE)


_PARTIAL_DAY = re.compile(r"(?P<y>\d{4})(?:-(?P<m>\d{1,2}))?")
_DOTTED_DAY = re.compile(r"(?P<d>\d{1,2})\.(?P<m>\d{1,2})\.(?P<y>\d{4})")
#: An EDTF date (ISO 8601-2, as BibLaTeX's ``date`` takes it) with what plain ISO
#: has not: a year uncertain or approximate (``2021?``, ``2021~``, ``2021%``), a
#: month or day unspecified (``2021-XX``, ``2021-06-XX``), a season as its month
#: (``2021-21``, spring: 21 to 41).
_EDTF_DAY = re.compile(r"(?P<y>\d{4})[?~%]?(?:-(?P<m>\d{2}|XX)[?~%]?(?:-(?P<d>\d{2}|XX)[?~%]?)?)?")


def _record_date(value: Any) -> tuple[datetime | None, str | None]:
    """A record's date (see :func:`_record_time`) and its precision: "year"
    for a year alone ("2024", its 1 January), "month" for a month ("2023-09",
    its first day), None for a day or a time.  An EDTF date (see
    :data:`_EDTF_DAY`) is read to what it says surely: ``2021?`` and
    ``2021-XX`` are the year 2021 (they were no date at all), ``2021-06-XX``
    its June, a season its year; ``202X`` says no year, and is none."""
    if isinstance(value, dict):
        return _csl_day(value)
    if not isinstance(value, str) or not (value := value.strip()):
        return None, None
    if edtf := _EDTF_DAY.fullmatch(value):  # (plain ISO days and months come out as they went in)
        month = edtf["m"] if edtf["m"] and edtf["m"] != "XX" and not 21 <= int(edtf["m"]) <= 41 else None
        day = edtf["d"] if month and edtf["d"] and edtf["d"] != "XX" else None
        value = "-".join(filter(None, (edtf["y"], month, day)))
    if m := _PARTIAL_DAY.fullmatch(value):  # "2024", "2023-09": its first day
        try:  # year "0000" or month 13: no day, as a bad dotted day is none
            return datetime(int(m["y"]), int(m["m"] or 1), 1, tzinfo=UTC), "month" if m["m"] else "year"
        except ValueError:
            return None, None
    if m := _DOTTED_DAY.fullmatch(value):  # "05.06.2024", as a spreadsheet in most of Europe writes a day
        try:
            return datetime(int(m["y"]), int(m["m"]), int(m["d"]), tzinfo=UTC), None
        except ValueError:
            return None, None
    if when := _iso_time(value.replace("Z", "+00:00").replace("/", "-")):
        return when, None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None, None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC), None


def _record_time(value: Any) -> datetime | None:
    """A record's date: ISO ("2024-06-04", "2024-06-04T10:00:00Z", "2023-09"), "05.06.2024", RFC 2822
    as the arXiv snapshot's versions write it ("Mon, 2 Apr 2007 19:18:42
    GMT"), a year alone ("2024": its first day), EDTF's uncertain dates
    ("2021?"), or CSL JSON's date object (see :func:`_csl_day`); None for
    none.  (Its precision: :func:`_record_date`.)"""
    return _record_date(value)[0]


def _csl_day(value: dict) -> tuple[datetime | None, str | None]:
    """The day of CSL JSON's date object, and its precision, as Zotero,
    Mendeley and pandoc write ``issued``: ``{"date-parts": [[2024, 6, 5]]}``
    (the year alone, or with its month: their first day; the parts numbers or
    digits), else its ``raw`` or ``literal`` text read as a record's date;
    None for none.  The object was passed over, and a CSL export's papers
    had no date."""
    parts = value.get("date-parts")
    first = parts[0] if isinstance(parts, list) and parts and isinstance(parts[0], list) else None
    if first and all(isinstance(p, int) and not isinstance(p, bool) or isinstance(p, str) and p.strip().isdigit()
                     for p in first[:3]):
        y, m, d = (*(int(p) for p in first[:3]), 1, 1)[:3]
        try:
            return datetime(y, m, d, tzinfo=UTC), {1: "year", 2: "month"}.get(len(first[:3]))
        except ValueError:  # (a month 13, a year 0: no day, as a bad text date is none)
            return None, None
    return next((when for key in ("raw", "literal") if (when := _record_date(value.get(key)))[0] is not None),
                (None, None))


def parse_records(items: list, name: str, source: str, warn: Warn, lines: list[int] | None = None,
                  what: str = "record") -> list[Paper]:
    """Papers of plain records (a JSON array or JSON Lines of objects, a CSV
    file's rows) with a title and an abstract (see :data:`_RECORD_KEYS`):
    arXiv's metadata snapshot (``arxiv-metadata-oai-snapshot.json``), a
    script's or a spreadsheet's export.  ``lines``: where each record starts
    (for the papers' locations; None for a JSON array's, whose lines are not
    known: the file alone, not a false FILE:LINE); a record without a title is skipped with a
    warning, and every record without one is an error."""
    papers: list[Paper] = []
    skipped: list[str] = []
    first_skipped: int | None = None
    bare: list[str] = []
    for index, item in enumerate(items):
        # a JSON array's records have no line known: the file alone, not its array position as a false FILE:LINE
        line = lines[index] if lines else None
        at = f" (line {line})" if line else ""
        if not isinstance(item, dict):
            skipped.append(f"{what} {index + 1} is not an object")
            continue
        paper, why = _record_paper(item, index + 1, what, name, source, f"{name}:{line}" if line else name)
        if paper is None:
            skipped.append(f"{why}{at}")
            first_skipped = first_skipped or line
        elif withdrawn(paper.abstract, paper.comment):
            continue
        else:
            papers.append(paper)
            if not paper.abstract:
                bare.append(f"{what} {index + 1}{at}")
    if skipped and len(skipped) == len(items):  # (located: the file's lines are known, a feed's entries' are not)
        more = f" (and {len(items) - 1} more)" if len(items) > 1 else ""
        raise InputError(Problem(f"source {source!r}: no usable {what}: {skipped[0]}{more}", name, first_skipped))
    _skipped(skipped, len(items), name, source, warn)
    _bare(bare, name, source, warn)
    return papers


#: Where the columns of a CSV export are split: a comma, or Excel's semicolon in many locales, or a tab.
_CSV_DELIMITERS = ",;\t"


def csv_header(first: str) -> tuple[str, list[str]] | None:
    """The delimiter and columns of a CSV export's ``first`` line when its columns
    name a title and an abstract (in any order, as Zotero or a spreadsheet
    writes them); None for anything else."""
    for delimiter in sorted(_CSV_DELIMITERS, key=first.count, reverse=True):
        if first.count(delimiter) == 0:
            continue
        try:
            columns = next(csv.reader([first], delimiter=delimiter))
        except csv.Error:
            continue
        if {"title", "abstract"} <= {_record_key(c) for c in columns}:
            return delimiter, columns
    return None


def parse_csv(data: bytes, name: str, source: str, warn: Warn) -> list[Paper] | None:
    """The papers of a CSV export (Zotero's "Export Collection… CSV", a
    spreadsheet saved as CSV: columns title, authors, abstract, url, ... in
    any order, see :data:`_RECORD_KEYS`), in UTF-8 (a BOM too), UTF-16 or
    Windows-1252 as Excel saves it; None when ``data`` is no such file.  A
    row with more or fewer cells than the header (a quote left open) is an
    error at its line, not papers shifted into the wrong columns."""
    from .readers import decode_text

    head = data[:4096].lstrip(_UTF8_BOM)
    if head.lstrip().startswith((b"<", b"{", b"[")) or b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None
    try:
        text = decode_text(data, name)
    except InputError:
        return None
    first = text.lstrip("\ufeff").split("\n", 1)[0]
    if (header := csv_header(first)) is None:
        if name.casefold().endswith((".csv", ".tsv")):  # it read "not an RSS or Atom feed: the answer is text"
            columns = [c.strip() for c in re.split(r"[,;\t]", first) if c.strip()]
            shown = ", ".join(_quoted(c, 30) for c in columns[:8]) + (", ..." if len(columns) > 8 else "")
            raise InputError(Problem(f"source {source!r}: a CSV file without a title and an abstract column (its "
                                     f"columns: {shown or 'none'}); expected columns such as title, authors, abstract, "
                                     "url, in any order", name, 1))
        return None
    delimiter, columns = header
    # strict: a quote left open in a row's last cell is an error at its row, not the rest of the file in that cell
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=delimiter, strict=True)
    rows: list[dict] = []
    lines: list[int] = []
    start = 1  # (the header's own row can be what csv refuses: a NUL, a quote left open in it)
    try:
        next(reader)
        start = reader.line_num + 1
        for row in reader:
            if not any(cell.strip() for cell in row):
                start = reader.line_num + 1
                continue
            if len(row) != len(columns):
                raise InputError(Problem(f"source {source!r}: a CSV row of {counted(len(row), 'cell')} under a header "
                                         f"of {len(columns)} (a quote left open, or a {delimiter!r} too many?)", name,
                                         start))
            rows.append(dict(zip(columns, row, strict=True)))
            lines.append(start)
            start = reader.line_num + 1
    except csv.Error as exc:
        raise InputError(Problem(f"source {source!r}: not a readable CSV row ({exc}: a quote left open, or a "
                                 "stray one?)", name, start)) from None
    if not rows:
        warn(f"{name}:1: source {source!r}: the CSV file has its header but no rows; nothing read from it")
        return []
    return parse_records(rows, name, source, warn, lines, "row")
