"""Google Scholar's alert e-mails (``scholaralerts-noreply@google.com``),
saved from the mail client as ``.eml`` (or their HTML alone), read as the
papers they list.

Scholar offers no feed and no export of an alert: the e-mail is what a
reader has.  Each paper is an ``<a class="gse_alrt_title">`` (its link
Scholar's redirect, ``scholar.google.com/scholar_url?url=REAL&...``), a
line of authors and venue (``J Doe, A Smith - arXiv preprint
arXiv:2406.03001, 2024``, the authors cut short with ``…`` past a few) and
a snippet (``<div class="gse_alrt_sni">``).  A snippet is an excerpt of the
abstract, not all of it, so it is read as the abstract and that is said
once; the year is the paper's date, to the year.  It was refused as "an
e-mail message", which left a Scholar user nothing to give.
"""

from __future__ import annotations

import email
import re
from collections.abc import Callable
from datetime import UTC, datetime
from email import policy
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

from .errors import InputError, Problem, line_of
from .files import part_text
from .models import ARXIV_ID, Paper, abs_url, pdf_url
from .patterns import XML_PROLOG_DOCTYPE, lazy

Warn = Callable[[str], None]

#: Who sends the alerts, and the class of each paper's title link.
_SENDER = b"scholaralerts-noreply@google.com"
_TITLE_CLASS = "gse_alrt_title"
#: The bytes looked at to tell an alert (headers, and the first paper's title link).
_LOOK = 1 << 16
_ARXIV = re.compile(rf"(?:arxiv\.org/(?:abs|pdf)/|\barXiv:)({ARXIV_ID})", re.IGNORECASE)
#: The year at the end of the venue ("arXiv preprint arXiv:2406.03001, 2024").
_YEAR = re.compile(r"(?:^|,\s*)((?:19|20)\d\d)\s*$")
#: The title links' class as the file has it: quoted-printable may break a line within it ("gse_al=\n").
_TITLE_IN_FILE = re.compile(b"(?:=\r?\n)?".join(re.escape(bytes([c])) for c in _TITLE_CLASS.encode()))
#: Scholar's mark of a link's kind before a title ("[PDF]", "[HTML]").
_KIND = re.compile(r"^\[(?:PDF|HTML|BOOK|CITATION|B)\]\s*", re.IGNORECASE)
#: A feed, an OAI-PMH answer or JSON, past a BOM and any declaration, comment or
#: document type first: a post quoting Scholar's markup is no alert, however its file starts.
_NOT_ALERT = lazy(rb"\A(?:\xef\xbb\xbf)?(?:\s*<\?xml|" + XML_PROLOG_DOCTYPE + rb"(?:<rss|<feed|<rdf|<OAI-PMH|\{|\[))",
                  re.DOTALL | re.IGNORECASE)


def is_scholar_alert(data: bytes) -> bool:
    """Whether ``data`` is a Google Scholar alert: a message from its sender,
    or HTML holding its title links.  Never a feed or JSON (a post or a record
    about parsing Scholar's alerts, quoting their markup, is no alert)."""
    head = data[:_LOOK]
    if _NOT_ALERT.match(head):
        return False
    return _SENDER in head or _TITLE_CLASS.encode() in head


#: A message's headers, after the ``From sender date`` line of one saved from an mbox.
_HEADERS = re.compile(rb"(?:From [^\n]*\n)?(?:[\w-]+:[^\n]*\n(?:[ \t][^\n]*\n)*)+")


def _html(data: bytes) -> str:
    """The alert's HTML: a saved message's HTML part decoded (quoted-printable,
    base64, its charset), or the file itself.  A message saved from an mbox
    starts with its ``From sender date`` line (the parser takes it as such)."""
    if _HEADERS.match(data[:_LOOK]) and b"\n\n" in data.replace(b"\r\n", b"\n"):
        message = email.message_from_bytes(data, policy=policy.default)
        part = message.get_body(preferencelist=("html", "plain"))
        if part is not None:
            return part_text(part)
    return data.decode("utf-8", "replace")


class _Alert(HTMLParser):
    """Each paper's title, link, authors-and-venue line and snippet, in order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.items: list[dict[str, str]] = []
        self.field: str | None = None  # the field text goes to
        self.depth = 0  # open <div>s within the field's

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if tag == "a" and _TITLE_CLASS in classes:
            self.items.append({"title": "", "href": a.get("href") or "", "line": "", "snippet": ""})
            self.field = "title"
        elif tag == "div" and self.items and self.field is None:
            item = self.items[-1]
            self.field = "snippet" if "gse_alrt_sni" in classes else "line" if not item["line"] and not item[
                "snippet"] else None
            self.depth = 0
        elif tag == "div" and self.field in ("line", "snippet"):
            self.depth += 1
        elif tag == "br" and self.field:
            self.items[-1][self.field] += " "

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self.field == "title":
            self.field = None
        elif tag == "div" and self.field in ("line", "snippet"):
            if self.depth:
                self.depth -= 1
            else:
                self.field = None

    def handle_data(self, data: str) -> None:
        if self.field and self.items:
            self.items[-1][self.field] += data


def _real_url(href: str) -> str:
    """The paper's own address out of Scholar's redirect
    (``https://scholar.google.com/scholar_url?url=REAL&hl=en&...``)."""
    parts = urlsplit(href)
    if (parts.hostname or "").startswith("scholar.google.") and parts.path == "/scholar_url":
        return parse_qs(parts.query).get("url", [href])[0]
    return href


def _authors(names: str) -> tuple[str, ...]:
    """The authors of the line's first part; one cut short ("A Smith…") is left out."""
    listed = [n.strip() for n in names.split(",")]
    if listed and listed[-1].endswith(("…", "...")):
        listed.pop()
    return tuple(n for n in listed if n)


def parse_scholar_alert(data: bytes, name: str, source: str, warn: Warn) -> list[Paper]:
    """The papers of a Google Scholar alert (see the module's docstring), each
    at the line of its title link in the file."""
    page = _html(data)
    parser = _Alert()
    try:
        parser.feed(page)
        parser.close()
    except AssertionError:  # html.parser gives up on a malformed marked section ("<![e"): it is text, as browsers read it
        parser = _Alert()
        parser.feed(page.replace("<![", "&lt;!["))
        parser.close()
    if not parser.items:
        raise InputError(Problem(f"source {source!r}: a Google Scholar alert without its papers' title links "
                                 "(gse_alrt_title): not read (was it saved whole, as .eml?)", name, 1))
    starts = [m.start() for m in _TITLE_IN_FILE.finditer(data)]
    papers = []
    excerpts = 0
    for index, item in enumerate(parser.items):
        title = _KIND.sub("", " ".join(item["title"].split()))
        if not title:
            continue
        line = " ".join(item["line"].split())
        names, _, venue = line.partition(" - ")
        url = _real_url(item["href"])
        found = _ARXIV.search(url) or _ARXIV.search(venue)
        arxiv_id = found.group(1).removesuffix(".pdf") if found else None
        year = _YEAR.search(venue)
        snippet = " ".join(item["snippet"].split())
        excerpts += bool(snippet)
        at = line_of(data, starts[index]) if index < len(starts) else 1
        papers.append(Paper(
            title=title, abstract=snippet, source=source, arxiv_id=arxiv_id, authors=_authors(names),
            url=abs_url(arxiv_id) if arxiv_id else url or None, pdf_url=pdf_url(arxiv_id) if arxiv_id else None,
            published=datetime(int(year.group(1)), 1, 1, tzinfo=UTC) if year else None,
            date_precision="year" if year else None, comment=venue or None, location=f"{name}:{at}"))
    if excerpts:
        warn(f"{name}: source {source!r}: a Google Scholar alert shows an excerpt of each abstract (its snippet), "
             "not the whole: topics match the papers on what it shows")
    if excerpts < len(papers):
        warn(f"{name}: source {source!r}: {len(papers) - excerpts} of the alert's {len(papers)} papers without a "
             "snippet: read by their titles only")
    return papers
