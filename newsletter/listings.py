"""arXiv's listing pages (``arxiv.org/list/cs.LG/new``, ``/recent``, ``/pastweek``)
saved from a browser, read as the papers they list.

Offline users save the day's listing page where they would save the feed;
given to an ``arxiv`` or ``feed`` source it was "an HTML page, not an RSS or
Atom feed (an error page or a login wall?)".  The page is regular: each paper
is a ``<dt>`` naming its ``/abs/ID`` and a ``<dd>`` whose ``list-title``,
``list-authors``, ``list-comments`` and ``list-subjects`` blocks and
``mathjax`` paragraph (the abstract, on ``/new`` only) say the rest, in the
layout before 2024 and after alike.  A search's results page
(``arxiv.org/search/?query=...``) is read too: each ``arxiv-result`` item
holds a paper's id, subject tags, title, authors, whole abstract and the
day it was submitted.
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Callable
from datetime import UTC, datetime
from html.parser import HTMLParser
from itertools import islice
from typing import NamedTuple

from .errors import InputError, Problem, counted, line_of
from .files import part_text, windows_1252
from .models import ARXIV_ID, NAME_SUFFIX, Paper, abs_url, arxiv_base_id, pdf_url, split_names

#: What a listing page holds and no other page does: a paper's title block.
_LISTING = re.compile(rb"""<div\s+class\s*=\s*["']list-title\b""", re.IGNORECASE)
#: What a search's results page holds: a result's item.
_SEARCH = re.compile(rb"""<li\s+class\s*=\s*["']arxiv-result\b""", re.IGNORECASE)
#: When a search result was submitted: "[Submitted] 3 June, 2024; [originally announced] June 2024" (its labels skipped).
_SUBMITTED = re.compile(r"\b(\d{1,2})\s+(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*,?\s+(\d{4})")
#: A link to a paper's abstract page: relative as a listing or a search page links (``/abs/ID``), or on
#: arXiv's host as a page saved whole, a full-text page's "Back to abstract" and ar5iv's "View original
#: on arXiv" link; a link to another site's /abs/ page names no arXiv paper.
_ABS_LINK = re.compile(rf"^(?:(?:https?:)?//(?i:(?:[\w-]+\.)*arxiv\.org))?/abs/({ARXIV_ID})/?$")
#: A category code in a subjects line: "Machine Learning (cs.LG)".
_CATEGORY = re.compile(r"\(([a-z][a-z-]*(?:\.[A-Za-z-]+)?)\)")
#: A listing's day: "announced Thu,  6 Jun 24", "New submissions for Thu, 6 Jun 24", "Wed, 5 Jun 2024".
_DAY = re.compile(r"\b(\d{1,2})\s+(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\s+(\d{4}|\d{2})\b")
_MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
#: The blocks of a paper's ``<dd>`` read, by their class.
_FIELDS = ("list-title", "list-authors", "list-comments", "list-subjects")
#: How a ``<dt>`` or a section's heading names an announcement that is not a new paper.
_CROSS = re.compile(r"cross[- ]?list|cross submissions", re.IGNORECASE)
_REPLACED = re.compile(r"\breplace(?:d|ment)", re.IGNORECASE)

Warn = Callable[[str], None]
#: The announcement types a source keeps (none: every one), or None for a source that cannot choose
#: (a feed, an export: only `type: arxiv` has announce_type).
Announce = tuple[str, ...] | list[str] | None


#: What a paper's full text in HTML (arxiv.org/html/ID, ar5iv) holds: LaTeXML's article.
_FULL_TEXT = re.compile(rb"""<article\s+class\s*=\s*["']ltx_document\b""", re.IGNORECASE)
#: What a paper's abstract page (arxiv.org/abs/ID) holds: its title's or its abstract's block, or its
#: id for citation managers.
_ABS_PAGE = re.compile(rb"""<(?:h1\s+class\s*=\s*["']title\s+mathjax|blockquote\s+class\s*=\s*["']abstract\b)|"""
                       rb"""<meta\s+name\s*=\s*["']citation_arxiv_id["']""", re.IGNORECASE)


#: How arXiv marks a withdrawn paper, in the abstract of the version that
#: withdraws it or in its comment: the entry keeps its title, so it matched
#: topics and went out as "This paper has been withdrawn by the author".
_WITHDRAWN = re.compile(
    r"\s*(?:withdrawn\b|this (?:paper|article|submission|manuscript|work|version) (?:has been|is|was) withdrawn\b)",
    re.IGNORECASE,
)
#: Longer than any withdrawal notice put where the abstract was: an abstract
#: that merely starts with the word ("Withdrawn drugs ...") is a paper's.
_WITHDRAWAL_MOST = 400


def withdrawn(abstract: str, comment: str | None) -> bool:
    """Whether arXiv says the paper is withdrawn, in the abstract the
    withdrawing version put in its place or in its comment: no paper to send."""
    return bool((_WITHDRAWN.match(abstract) and len(abstract) < _WITHDRAWAL_MOST)
                or (comment and _WITHDRAWN.match(comment)))


def arxiv_page_kind(data: bytes) -> str | None:
    """Which arXiv page ``data`` is, saved as HTML (a listing, search results
    or abstract page), as messages name it; None for none of them."""
    page = _page(data)
    return page[0] if page else None


def _page(data: bytes) -> tuple[str, type[_ListingParser | _SearchParser | _AbsParser | _FullTextParser]] | None:
    """Which arXiv page ``data`` is (see :data:`_PAGES`): its name and its parser."""
    head = data[:1_000_000]
    return next(((said, reader) for sign, said, reader in _PAGES if sign.search(head)), None)


def _day(d: str, month: str, year: str) -> datetime:
    """A page's day ("6", "Jun", "24" or "2024") at midnight UTC."""
    return datetime(int(year) + (2000 if len(year) == 2 else 0), _MONTHS.index(month[:3].title()) + 1, int(d), tzinfo=UTC)


class _Entry(NamedTuple):
    line: int
    arxiv_id: str | None
    announce: str
    fields: dict[str, str]
    authors: list[str]
    abstract: str | None
    day: datetime | None
    categories: tuple[str, ...] = ()


class _ListingParser(HTMLParser):
    """The papers of a listing page, in page order, with the line each starts at."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.entries: list[_Entry] = []
        self.section = ""  # the heading over the papers: "New submissions", "Cross-lists", "Replacements"
        self.day: datetime | None = None
        self.heading: list[str] | None = None  # the text of an <h3> or the dateline being read
        self.dt: list[str] | None = None  # the text of a <dt> being read
        self.dt_line = 0
        self.dt_id: str | None = None
        self.open: list[tuple[str, str | None]] = []  # (tag, field) of the <div>, <p> and <span> open in a <dd>
        self.fields: dict[str, list[str]] = {}
        self.authors: list[str] = []
        self.author: list[str] | None = None
        self.in_dd = False

    def handle_starttag(self, tag: str, attrs) -> None:
        a = {k.lower(): v or "" for k, v in attrs}
        classes = a.get("class", "").split()
        if tag == "h3" or "list-dateline" in classes:
            self.heading = []
        if tag == "dt":
            self._close_dd()
            self.dt, self.dt_line, self.dt_id = [], self.getpos()[0], None
        elif tag == "a" and self.dt is not None and (m := _ABS_LINK.search(a.get("href", "").strip())):
            self.dt_id = self.dt_id or m.group(1)
        elif tag == "dd":
            self._close_dt()
            self.in_dd, self.fields, self.authors, self.open = True, {}, [], []
        elif self.in_dd and tag in ("div", "p", "span"):
            field = next((c for c in classes if c in _FIELDS), None)
            if tag == "p" and "mathjax" in classes:
                field = "abstract"
            elif tag == "span" and "descriptor" in classes:
                field = "descriptor"  # "Title:", "Authors:": not the value
            self.open.append((tag, field))
            if field and field != "descriptor":
                self.fields.setdefault(field, [])
        elif self.in_dd and tag == "a" and self._field() == "list-authors":
            self.author = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "h3" or (tag == "div" and self.heading is not None and not self.in_dd):
            self._heading_done()
        if tag == "dt":
            self._close_dt()
        elif tag in ("dd", "dl"):
            self._close_dd()
        elif self.in_dd and tag in ("div", "p", "span"):
            while self.open:
                if self.open.pop()[0] == tag:
                    break
        elif tag == "a" and self.author is not None:
            self.authors.append(" ".join("".join(self.author).split()))
            self.author = None

    def handle_data(self, data: str) -> None:
        if self.heading is not None:
            self.heading.append(data)
        if self.dt is not None:
            self.dt.append(data)
        if self.author is not None:
            self.author.append(data)
        field = self._field()
        if field and field != "descriptor":
            self.fields[field].append(data)

    def _field(self) -> str | None:
        return next((field for _, field in reversed(self.open) if field), None)

    def _heading_done(self) -> None:
        text = " ".join("".join(self.heading or []).split())
        self.heading = None
        if not text:
            return
        days = list(_DAY.finditer(text))
        if days:  # the last: "received from Tue 4 Jun 24 to Wed 5 Jun 24, announced Thu, 6 Jun 24"
            self.day = _day(*days[-1].groups())
        if not text.lower().startswith("submissions received"):
            self.section = text

    def _close_dt(self) -> None:
        if self.dt is None:
            return
        said = " ".join("".join(self.dt).split())
        self.dt = None
        self.entries.append(_Entry(self.dt_line, self.dt_id, _announce(said, self.section), {}, [], None, self.day))

    def _close_dd(self) -> None:
        if not self.in_dd:
            return
        self.in_dd = False
        if not self.entries or self.entries[-1].fields:
            return  # a <dd> without its <dt>: nothing names its paper
        text = {k: " ".join("".join(v).split()) for k, v in self.fields.items()}
        self.entries[-1] = self.entries[-1]._replace(
            fields=text, authors=[n for n in self.authors if n], abstract=text.get("abstract"),
            categories=tuple(dict.fromkeys(_CATEGORY.findall(text.get("list-subjects", "")))),
        )


class _PartsParser(HTMLParser):
    """A page read by its parts: :attr:`_PARTS` names the part an element of
    a (tag, class) holds, and :attr:`open` keeps the (tag, part) of each
    element open, so text goes to the innermost one that names a part."""

    _PARTS: dict[tuple[str, str], str] = {}
    open: list[tuple[str, str | None]]

    def _named(self, tag: str, classes: list[str]) -> str | None:
        """The part an element of ``tag`` and ``classes`` holds, if any."""
        return next((p for c in classes if (p := self._PARTS.get((tag, c)))), None)

    def _part(self) -> str | None:
        """The part the text here belongs to: the innermost open one's."""
        return next((part for _, part in reversed(self.open) if part), None)


class _SearchParser(_PartsParser):
    """The papers of a search's results page, in page order, with the line each starts at."""

    #: The parts of a result read, by (tag, class); the abstract's short form and the labels are skipped.
    _PARTS = {("p", "list-title"): "id", ("span", "tag"): "tag", ("p", "title"): "title", ("p", "authors"): "authors",
              ("span", "abstract-full"): "abstract", ("span", "abstract-short"): "skip", ("p", "comments"): "comments",
              ("span", "has-text-weight-semibold"): "skip", ("p", "is-size-7"): "dates"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.entries: list[_Entry] = []
        self.line = 0
        self.arxiv_id: str | None = None
        self.open: list[tuple[str, str | None]] = []  # (tag, part) of the elements open in a result
        self.parts: dict[str, list[str]] | None = None  # the text of each part of the result being read
        self.authors: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs) -> None:
        a = {k.lower(): v or "" for k, v in attrs}
        classes = a.get("class", "").split()
        if tag == "li" and "arxiv-result" in classes:
            self.close_result()
            self.line, self.arxiv_id, self.open, self.parts, self.authors, self.tags = self.getpos()[0], None, [], {}, [], []
            return
        if self.parts is None or tag in _VOID:
            return
        part = self._named(tag, classes)
        inside = self._part()
        if tag == "a" and inside == "id" and (m := _ABS_LINK.search(a.get("href", "").strip())):
            self.arxiv_id = self.arxiv_id or m.group(1)
        elif tag == "a" and inside == "abstract":
            part = "skip"  # its "△ Less"
        elif tag == "a" and inside == "authors":
            part = "author"
        self.open.append((tag, part))
        if part:
            self.parts.setdefault(part, [])

    def handle_endtag(self, tag: str) -> None:
        if self.parts is None:
            return
        if tag in ("li", "ol") and not any(t == "li" for t, _ in self.open):
            self.close_result()
            return
        while self.open:
            open_tag, part = self.open.pop()
            if part == "author":
                self.authors.append(" ".join("".join(self.parts.pop("author", [])).split()))
            elif part == "tag":
                self.tags.append(" ".join("".join(self.parts.pop("tag", [])).split()))
            if open_tag == tag:
                break

    def handle_data(self, data: str) -> None:
        part = self._part()
        if self.parts is not None and part and part != "skip":
            # (a part an end tag closed while another tag of it stays open, in a page cut or damaged: its text is kept)
            self.parts.setdefault(part, []).append(data)

    def close_result(self) -> None:
        if self.parts is None:
            return
        text = {k: " ".join("".join(v).split()) for k, v in self.parts.items()}
        self.parts = None
        day = _SUBMITTED.search(text.get("dates", ""))
        comments = text.get("comments", "").removeprefix("Comments:").strip()
        self.entries.append(_Entry(
            self.line, self.arxiv_id, "new", {"list-title": text.get("title", ""), "list-comments": comments},
            [n for n in self.authors if n], text.get("abstract") or None, _day(*day.groups()) if day else None,
            tuple(t for t in self.tags if _CODE.fullmatch(t)),
        ))


class _AbsParser(_PartsParser):
    """The one paper of an abstract page (``arxiv.org/abs/ID``): the parts of
    its body, and its ``citation_*`` meta tags (for citation managers) where
    the body lacks one."""

    #: The parts read, by (tag, class); a part's label ("Title:", "Abstract:") is skipped.
    _PARTS = {("h1", "title"): "title", ("div", "authors"): "authors", ("blockquote", "abstract"): "abstract",
              ("td", "comments"): "comments", ("td", "subjects"): "subjects", ("div", "dateline"): "dateline",
              ("td", "arxividv"): "version", ("span", "descriptor"): "skip"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.meta: dict[str, list[str]] = {}
        self.parts: dict[str, list[str]] = {}
        self.open: list[tuple[str, str | None]] = []  # (tag, part) of the elements open
        self.authors: list[str] = []
        self.ids: dict[str, str] = {}  # the first /abs/ID link in a part
        self.title_line = 0

    def handle_starttag(self, tag: str, attrs) -> None:
        a = {k.lower(): v or "" for k, v in attrs}
        if tag == "meta" and (key := a.get("name", "").lower()).startswith("citation_"):
            self.meta.setdefault(key, []).append(a.get("content", ""))
        if tag in _VOID:
            return
        classes = a.get("class", "").split()
        part = self._named(tag, classes)
        inside = self._part()
        href = a.get("href", "").strip()
        if tag == "a" and inside and (m := _ABS_LINK.search(href)):
            self.ids.setdefault(inside, m.group(1))
        if tag == "a" and inside == "authors":
            part = "author"
        elif tag == "a" and inside == "comments" and href.startswith(("http://", "https://")):
            part = "link"  # "this https URL", as arXiv shows a comment's link: the link itself is the text
            self.parts["comments"].append(href)
        if part == "title" and not self.title_line:
            self.title_line = self.getpos()[0]
        self.open.append((tag, part))
        if part:
            self.parts.setdefault(part, [])

    def handle_endtag(self, tag: str) -> None:
        if not any(t == tag for t, _ in self.open):
            return
        while self.open:
            open_tag, part = self.open.pop()
            if part == "author":
                self.authors.append(" ".join("".join(self.parts.pop("author", [])).split()))
            if open_tag == tag:
                break

    def handle_data(self, data: str) -> None:
        part = self._part()
        if part and part not in ("skip", "link"):
            self.parts[part].append(data)


class _FullTextParser(_PartsParser):
    """The one paper of its full text in HTML (``arxiv.org/html/ID``, made by
    LaTeXML, or ar5iv's ``ar5iv.labs.arxiv.org/html/ID``): its title, authors
    and abstract from the article's head, and its id from what the site puts
    around the article (a link in the article is a reference, not the paper)."""

    #: The article's parts read, by (tag, class); a thanks footnote, an affiliation's mark and the
    #: abstract's heading are no part of them.
    _PARTS = {("h1", "ltx_title_document"): "title", ("div", "ltx_authors"): "authors",
              ("span", "ltx_personname"): "person", ("div", "ltx_abstract"): "abstract",
              ("h6", "ltx_title_abstract"): "skip", ("span", "ltx_note"): "skip", ("span", "ltx_author_notes"): "skip",
              ("div", "ltx_page_logo"): "skip"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: dict[str, list[str]] = {"title": [], "abstract": []}
        self.persons: list[list[str]] = []
        self.open: list[tuple[str, str | None]] = []  # (tag, part) of the elements open
        self.ids: dict[str, str] = {}  # the paper's id by where the page gives it
        self.in_article = False
        self.title_line = 0
        self.watermark: list[str] | None = None
        self.head_title: list[str] | None = None

    def handle_starttag(self, tag: str, attrs) -> None:
        a = {k.lower(): v or "" for k, v in attrs}
        href = a.get("href", "").strip()
        if tag == "base" and (m := _HTML_HREF.search(href)):
            self.ids.setdefault("base", m.group(1))
        elif tag == "meta" and a.get("property", "").lower() == "og:url" and (m := _HTML_HREF.search(a.get("content", ""))):
            self.ids.setdefault("og", m.group(1))
        elif tag == "a" and not self.in_article and (m := _ABS_LINK.search(href)):
            self.ids.setdefault("link", m.group(1))  # "Back to abstract page", ar5iv's "View original on arXiv"
        elif tag == "title":
            self.head_title = []
        elif tag == "article" and "ltx_document" in a.get("class", "").split():
            self.in_article = True
        if a.get("id") == "watermark-tr":
            self.watermark = []
        if tag in _VOID:
            if tag == "br" and self._part() == "person":
                self.open.append(("br", "skip"))  # what follows a name's line break: its affiliation, its address
            return
        classes = a.get("class", "").split()
        inside = self._part()
        part = self._named(tag, classes)
        if inside == "skip" or tag in ("script", "style", "svg") or (tag == "sup" and inside in ("person", "title")):
            part = "skip"
        elif tag == "math":
            part = "skip"
            if inside in ("title", "abstract") and (alt := " ".join(a.get("alttext", "").split())):
                self.parts[inside].append(f"${alt}$")  # its TeX, as arXiv's abstracts write it
        elif part == "person" and inside == "authors":
            self.persons.append([])
        elif part == "person":
            part = None
        if part == "title" and not self.title_line:
            self.title_line = self.getpos()[0]
        self.open.append((tag, part))

    def handle_endtag(self, tag: str) -> None:
        if tag == "title" and self.head_title is not None:
            if m := re.match(rf"\s*\[({ARXIV_ID})\]", "".join(self.head_title)):  # ar5iv's "[2006.11239] Title"
                self.ids.setdefault("title", m.group(1))
            self.head_title = None
        if tag == "div" and self.watermark is not None:
            if m := re.match(rf"\s*arXiv:\s*({ARXIV_ID})\s*\[([^\]]*)\]\s*(.*)", "".join(self.watermark)):
                self.ids.setdefault("watermark", m.group(1))
                self.parts["watermark"] = [m.group(2), m.group(3)]
            self.watermark = None
        if tag == "article":
            self.in_article = False
        if not any(t == tag for t, _ in self.open):
            return
        while self.open:
            open_tag, _ = self.open.pop()
            if open_tag == tag:
                break  # (a name's line break, open until then, ends with the name)

    def handle_data(self, data: str) -> None:
        if self.head_title is not None:
            self.head_title.append(data)
        if self.watermark is not None:
            self.watermark.append(data)
        part = self._part()
        if part == "person" and self.persons:
            self.persons[-1].append(data)
        elif part in ("title", "abstract"):
            self.parts[part].append(data)


#: The paper's id in a link to its HTML full text: ``/html/2406.03001v2/``, ``https://ar5iv.org/html/2006.11239``.
_HTML_HREF = re.compile(rf"/html/({ARXIV_ID})/?$")


def _full_text_papers(parser: _FullTextParser, name: str, source: str, warn: Warn) -> list[Paper]:
    """The paper of its full text in HTML: the id the page's watermark gives
    ("arXiv:2406.03001v2 [cs.LG] 07 Jun 2024", with its primary category and
    that version's day), else its address (``<base href>``, ar5iv's title
    and ``og:url``), else the page's link to the abstract page; its title,
    authors (each name's line, affiliations and footnote marks left out) and
    abstract (math as its TeX, ``$...$``).  A page without its id, title or
    abstract (cut off, or a conversion that failed) is an error at its line.

    Its day is the watermark's only on v1's page: the watermark dates the
    version shown, while a paper's day everywhere else (the API's
    ``published``, an abstract page's "Submitted on") is its first
    submission's, which a later version's page does not say.  Taken from v2's
    page, it was a day the paper was not submitted on, and it beat the right
    one when the same paper came from the API too (a newer version's fields
    win the merge)."""
    arxiv_id = next((parser.ids[k] for k in ("watermark", "base", "title", "og", "link") if k in parser.ids), None)
    title, abstract = (" ".join("".join(parser.parts[k]).split()) for k in ("title", "abstract"))
    category, stamped = (part.strip() for part in parser.parts.get("watermark", ["", ""]))
    day = _DAY.search(stamped) if parser.ids.get("watermark", "").endswith("v1") else None
    authors = [n for person in parser.persons for n in split_names(" ".join("".join(person).split()))]
    return _abs_page_papers(
        _AbsPage(parser.title_line or 1, arxiv_id, "", title, abstract, authors, "", "",
                 _day(*day.groups()) if day else None, (category,) if _CODE.fullmatch(category) else ()),
        name, source, warn, "; the page is cut off or its conversion failed: save the paper's abstract page "
        "(arxiv.org/abs/ID) instead", what="the arXiv full-text page (arxiv.org/html/ID)")


#: "(this version, v2)" in an abstract page's dateline, when no link names the version.
_THIS_VERSION = re.compile(r"this version, v(\d+)")
#: A day as citation meta tags write it: "2024/06/04".
_META_DAY = re.compile(r"(\d{4})/(\d{2})/(\d{2})")


def _meta_day(value: str) -> datetime | None:
    """A citation tag's day ("2024/06/04") at midnight UTC; None for none or no day."""
    try:
        return datetime.strptime(value, "%Y/%m/%d").replace(tzinfo=UTC) if _META_DAY.fullmatch(value) else None
    except ValueError:
        return None


def _abs_papers(parser: _AbsParser, name: str, source: str, warn: Warn) -> list[Paper]:
    """The paper of an abstract page saved as HTML: its body's parts, each
    from its ``citation_*`` tags where the body lacks it (see :func:`_abs_page_papers`)."""
    text = {k: " ".join("".join(v).split()) for k, v in parser.parts.items()}

    def meta(key: str) -> str:
        return " ".join((parser.meta.get(key) or [""])[0].split())

    # the page's own version's link, else the id without its version (the dateline links to v1's page)
    arxiv_id = (parser.ids.get("version") or meta("citation_arxiv_id")
                or arxiv_base_id(parser.ids.get("dateline", "")) or None)
    authors = [n for n in parser.authors if n] or [" ".join(reversed(n.split(", ", 1))) for n in
                                                    parser.meta.get("citation_author", []) if n.strip()]
    return _abs_page_papers(
        _AbsPage(parser.title_line or 1, arxiv_id, text.get("dateline", ""), text.get("title") or meta("citation_title"),
                 text.get("abstract") or meta("citation_abstract"), authors, text.get("comments", ""),
                 text.get("subjects", ""), _meta_day(meta("citation_date"))),
        name, source, warn, "; the page is cut off or not arXiv's (save it again)")


class _AbsPage(NamedTuple):
    """What an abstract page says of its paper, saved as HTML or copied as text."""

    line: int  # of its title
    arxiv_id: str | None  # with the version the page shows, or without one
    dateline: str  # "[Submitted on 4 Jun 2024 (v1), last revised 6 Jun 2024 (this version, v2)]"
    title: str
    abstract: str
    authors: list[str]
    comments: str
    subjects: str  # "Machine Learning (cs.LG); Artificial Intelligence (cs.AI)"
    day: datetime | None = None  # when the dateline gives none (the citation tags', a full-text page's v1 watermark)
    categories: tuple[str, ...] = ()  # when no subjects line gives them (a full-text page's watermark)


def _abs_page_papers(page: _AbsPage, name: str, source: str, warn: Warn, advice: str,
                     what: str = "the arXiv abstract page") -> list[Paper]:
    """The paper of one paper's page, ``what`` (an abstract page saved as
    HTML or copied as text, or its full text in HTML): its id with the
    version the page shows, title, authors, abstract, comments, subjects and
    the day it was first submitted (the API's ``published``).  A page
    without its id, title or abstract is cut off or not arXiv's: an error at
    its title, saying so and the ``advice``."""
    arxiv_id = page.arxiv_id
    if arxiv_id and "v" not in arxiv_id.rpartition("/")[2] and (v := _THIS_VERSION.search(page.dateline)):
        arxiv_id = f"{arxiv_base_id(arxiv_id)}v{v.group(1)}"
    missing = [part for part, have in (("arXiv id", arxiv_id), ("title", page.title), ("abstract", page.abstract))
               if not have]
    if missing:
        raise InputError(Problem(f"source {source!r}: {what} has no {' and no '.join(missing)}{advice}", name,
                                 page.line))
    day = _DAY.search(page.dateline)
    entry = _Entry(page.line, arxiv_id, "new", {"list-title": page.title, "list-comments": page.comments},
                   page.authors, page.abstract, _day(*day.groups()) if day else page.day,
                   tuple(dict.fromkeys(_CATEGORY.findall(page.subjects))) or page.categories)
    return _papers([entry], name, source, warn, (), what)


#: Elements that have no end tag (an <img> in a result never closes).
_VOID = frozenset("area base br col embed hr img input link meta source track wbr".split())
#: A subject tag's code: "cs.LG", "math.OC", "hep-th".
_CODE = re.compile(r"[a-z][a-z-]*(?:\.[A-Za-z-]+)?")


#: The arXiv pages read when saved as HTML: what each holds and no other page does, how messages name it, its parser.
_PAGES: tuple[tuple[re.Pattern[bytes], str, type[_ListingParser | _SearchParser | _AbsParser | _FullTextParser]], ...] = (
    (_LISTING, "an arXiv listing page", _ListingParser),
    (_SEARCH, "an arXiv search results page", _SearchParser),
    (_ABS_PAGE, "an arXiv abstract page", _AbsParser),
    (_FULL_TEXT, "an arXiv full-text page (arxiv.org/html/ID)", _FullTextParser),
)


def _page_text(data: bytes, name: str, source: str) -> str:
    """The page as text: UTF-8, as arXiv serves it and browsers save it, or
    Windows-1252 where an editor saved it again; else an error at the line of
    the first byte that is neither (a "�" in a title or a name was a wrong paper)."""
    try:
        return data.removeprefix(b"\xef\xbb\xbf").decode("utf-8")
    except UnicodeDecodeError as exc:
        if (text := windows_1252(data)) is not None:
            return text
        raise InputError(Problem(f"source {source!r}: the arXiv listing page is not UTF-8 text (byte "
                                 f"{data[exc.start]:#04x}); save the page again", name, line_of(data, exc.start))) from None


def parse_arxiv_listing(
    data: bytes, name: str, source: str, warn: Warn, announce_types: Announce = None
) -> list[Paper]:
    """The papers of an arXiv listing page saved as HTML (see the module's
    docstring); ``announce_types`` as for arXiv's feed (``new``, ``cross``,
    ``replace``, ``replace-cross``; none: every paper; None: a source without
    the choice).  A paper the page gives
    no id or title is an error at its line; papers without an abstract (the
    ``/recent`` and ``/pastweek`` pages show none) are read by their titles,
    and said so once."""
    text = _page_text(data, name, source)
    parser = (_page(data) or ("", _AbsParser))[1]()
    try:
        parser.feed(text)
        parser.close()
    except AssertionError:  # html.parser gives up on a malformed marked section
        raise InputError(Problem(f"source {source!r}: an arXiv listing page that is not well-formed HTML "
                                 "(save the page again)", name, 1)) from None
    if isinstance(parser, _AbsParser):
        return _abs_papers(parser, name, source, warn)
    if isinstance(parser, _FullTextParser):
        return _full_text_papers(parser, name, source, warn)
    if isinstance(parser, _ListingParser):
        parser._close_dt()
        parser._close_dd()
    else:
        parser.close_result()
    entries = parser.entries
    if not entries:
        warn(f"{name}:1: source {source!r}: the arXiv listing page lists no papers; nothing read from it")
    return _papers(entries, name, source, warn, announce_types, "the arXiv listing page")


def _papers(entries: list[_Entry], name: str, source: str, warn: Warn, announce_types: Announce,
            what: str) -> list[Paper]:
    """The papers of a listing's entries, those of ``announce_types`` (none:
    every one); ``what`` names the listing in messages.  An entry without its
    id or title is an error at its line (a page cut off); those without an
    abstract are read by their titles and said so once."""
    wanted = {t.casefold() for t in announce_types or ()}
    papers: list[Paper] = []
    bare: list[int] = []  # the lines of papers without an abstract
    replaced = 0  # of them, replacements (a /new page shows those without)
    gone: list[int] = []  # the lines of withdrawn papers
    for entry in entries:
        title = entry.fields.get("list-title", "")
        if not entry.arxiv_id or not title:
            said = "no arXiv id (no link to /abs/ID)" if not entry.arxiv_id else "no title"
            raise InputError(Problem(f"source {source!r}: this paper of {what} has {said}; "
                                     "the page is cut off or not arXiv's (save it again)", name, entry.line))
        if wanted and entry.announce not in wanted:
            continue
        if withdrawn(entry.abstract or "", entry.fields.get("list-comments")):
            gone.append(entry.line)
            continue  # as the API and the feeds leave it out: it went out as a paper
        if not entry.abstract:
            bare.append(entry.line)
            replaced += entry.announce.startswith("replace")
        papers.append(Paper(
            title=title, abstract=entry.abstract or "", source=source, arxiv_id=entry.arxiv_id,
            authors=tuple(entry.authors), url=abs_url(entry.arxiv_id), pdf_url=pdf_url(entry.arxiv_id),
            published=entry.day, categories=entry.categories,
            comment=entry.fields.get("list-comments") or None, location=f"{name}:{entry.line}",
        ))
    if gone and len(gone) == len(entries):
        warn(f"{name}:{gone[0]}: source {source!r}: {'the paper' if len(gone) == 1 else 'every paper'} of {what} is "
             "withdrawn (so its comment or abstract says): nothing read from it")
    if bare and replaced == len(bare):
        one = len(bare) == 1
        warn(f"{name}:{bare[0]}: source {source!r}: the {counted(len(bare), 'replaced paper')} of {what} "
             f"{'has' if one else 'have'} no abstract (the page shows none for them): "
             f"{'it is read by its title' if one else 'they are read by their titles'}; `announce_type: [new, "
             f"cross]` leaves {'it' if one else 'them'} out"
             + ("" if announce_types is not None else " (on a source `type: arxiv` with this file as `path:`)"))
    elif bare:
        warn(f"{name}:{bare[0]}: source {source!r}: {len(bare)} of the {len(papers)} papers of {what} "
             "have no abstract (the /recent and /pastweek pages show none): they are read by their titles; the "
             "/new page (arxiv.org/list/CATEGORY/new) or `type: arxiv` with `categories:` gives abstracts")
    return papers


# --------------------------------------------------------------------------- a listing copied as text

#: What a listing copied as text holds: an entry's first line, "[1] arXiv:2406.03001 [pdf, html, other]"
#: (in the layout before 2024 "[1]  arXiv:2406.03001 [pdf, other]"), or one without its number.
_TEXT_SIGN = re.compile(rf"^[ \t]*(?:\[\d{{1,5}}\][ \t]*arXiv:[ \t]*{ARXIV_ID}\b|arXiv:{ARXIV_ID}[ \t]+\[pdf\b)".encode(),
                        re.MULTILINE | re.IGNORECASE)
#: How far into a file the sign is looked for (a page's header and menu come first).
_TEXT_LOOK = 20000
#: An entry's first line: its number, id, notes ("(cross-list from stat.ML)", "(replaced)",
#: "(*cross-listing*)") and links ("[pdf, html, other]").
_TEXT_ENTRY = re.compile(rf"(?:\[\d{{1,5}}\]\s*)?arXiv:\s*(?P<id>{ARXIV_ID})(?P<notes>(?:\s*\([^()]*\))*)\s*"
                         r"(?:\[[^\[\]]*\])?(?P<after>(?:\s*\([^()]*\))*)", re.IGNORECASE)
#: An entry's links on a line of their own, as some copies break them off.
_TEXT_LINKS = re.compile(r"\[\s*(?:pdf|html|other|ps|src|tex)(?:\s*,\s*(?:pdf|html|other|ps|src|tex))*\s*\]",
                         re.IGNORECASE)
#: An entry's labelled line: "Title: ...", "Authors: ...", "Comments: ...", "Subjects: ...".
_TEXT_LABEL = re.compile(r"(?P<label>title|authors?|comments|journal[- ]ref|subjects|msc classes|acm classes|"
                         r"report[- ]no|doi)\s*:\s*(?P<value>.*)", re.IGNORECASE)
#: Which of an entry's fields a label fills (the others are read and left).
_TEXT_FIELDS = {"title": "list-title", "comments": "list-comments", "subjects": "list-subjects"}
#: A section's heading: "New submissions (showing 120 of 120 entries)", "Cross-lists for Thu, 6 Jun 24".
#: (The page's menu above the papers names them bare: "Cross-lists", "Replacements"; no heading.)
_TEXT_SECTION = re.compile(r"(?:(?:new|cross|replacement) submissions|cross-lists|replacements)"
                           r"(?:\s*\(showing\b.*\)|\s+for\b.*)", re.IGNORECASE)
#: A day's heading on /recent and /pastweek: "Thu, 6 Jun 2024 (showing 25 of 25 entries)".
_TEXT_DAY = re.compile(r"(?:(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*,?\s+)?\d{1,2}\s+(?:jan|feb|mar|apr|may|jun|jul|aug|"
                       r"sep|oct|nov|dec)[a-z]*\s+\d{2,4}(?:\s*\((?:showing\b|\d)[^)]*\))?", re.IGNORECASE)
#: The page's own lines between and after the papers: paging, MathJax's switch, the footer.
_TEXT_CHROME = re.compile(r"\[?\s*total of \d[\d,]* entries\b.*|\[?\s*showing (?:up to|first|new listings)\b.*|"
                          r"links to:.*|"
                          r"(?:disable|enable) mathjax\b.*|about|help|contact\b.*|subscribe\b.*|click here to\b.*|"
                          r"copyright|privacy policy|web accessibility assistance|arxiv operational status\b.*|"
                          r"get status notifications\b.*", re.IGNORECASE)
_TEXT_SENTENCE_END = (".", "!", "?", ")", "]", "$")
#: Shorter than this, a line after the last paper that ends no sentence is the page's footer, not its abstract.
_TEXT_SHORT = 80


#: What an abstract page (arxiv.org/abs/ID) copied as text holds: its dateline and its abstract's label.
_ABS_TEXT_SIGNS = (re.compile(rb"^[ \t]*\[Submitted on \d{1,2} [A-Z][a-z]+ \d{4}", re.MULTILINE),
                   re.compile(rb"^[ \t]*Abstract:", re.MULTILINE))


def listing_text(data: bytes) -> str | None:
    """Which arXiv page ``data`` is copied as text (select all, copy, paste
    into a file): ``"listing"`` for an entry's first line near its top,
    ``"abs"`` for an abstract page's dateline and abstract label, in text
    that is not markup; None for neither.  The readers it is passed to take
    it, not to look again."""
    head = data[:_TEXT_LOOK].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith((b"<", b"{", b"[{")):
        return None
    if all(sign.search(head) is not None for sign in _ABS_TEXT_SIGNS):
        return "abs"
    return "listing" if _TEXT_SIGN.search(head) is not None else None


class _TextEntry:
    """An entry of a copied listing as its lines are read."""

    def __init__(self, line: int, arxiv_id: str, announce: str, day: datetime | None) -> None:
        self.line, self.arxiv_id, self.announce, self.day = line, arxiv_id, announce, day
        self.fields: dict[str, str] = {}
        self.authors: list[str] = []
        self.abstract: list[str] = []
        self.stage = "id"  # what the next unlabelled line is: id (the title), title (authors), meta, abstract
        self.guessed: str | None = None  # the line under the title taken for the authors, unlabelled

    def read(self, text: str) -> None:
        """One line of the entry (not blank, white space collapsed)."""
        if self.stage == "id" and _TEXT_LINKS.fullmatch(text):
            return
        m = _TEXT_LABEL.fullmatch(text)
        if m and self.stage == "abstract" and len(self.abstract) == 1 and "list-subjects" not in self.fields:
            # the line under the title, taken for the abstract (names as no list of names looks: a
            # collaboration's, one over 60 characters) is above the entry's labels: its authors
            if self.guessed:  # and the line taken for the authors above it was the title's end, wrapped
                self.fields["list-title"] = f"{self.fields.get('list-title', '')} {self.guessed}".strip()
            self.authors = split_names(self.abstract.pop())
            self.stage, self.guessed = "meta", None
        if m and self.stage != "abstract":
            label, value = m.group("label").casefold(), m.group("value")
            if label.startswith("author"):
                if self.guessed:  # "Authors:" follows: the line taken for them was the title's end, wrapped
                    self.fields["list-title"] = f"{self.fields.get('list-title', '')} {self.guessed}".strip()
                self.authors, self.stage, self.guessed = split_names(value), "meta", None
            elif label == "title":
                self.fields["list-title"], self.stage = value, ("title" if value else "id")
            else:
                self.fields[_TEXT_FIELDS.get(label, label)], self.stage = value, "meta"
            return
        if self.stage == "id":
            self.fields["list-title"], self.stage = text, "title"
        elif self.stage == "title" and (names := _text_names(text)) is not None:
            self.authors, self.stage, self.guessed = names, "meta", text
        else:
            self.abstract.append(text)
            self.stage = "abstract"

    def entry(self, last: bool) -> _Entry:
        """The entry read; the ``last`` one's lines after its abstract that end
        no sentence and are short are the page's footer, not its abstract."""
        parts = self.abstract
        if last:
            short = next((i for i, p in enumerate(parts) if len(p) < _TEXT_SHORT and not p.endswith(_TEXT_SENTENCE_END)),
                         len(parts))
            parts = parts[:short]
        subjects = self.fields.get("list-subjects", "")
        return _Entry(self.line, self.arxiv_id, self.announce, self.fields, self.authors, " ".join(parts) or None,
                      self.day, tuple(dict.fromkeys(_CATEGORY.findall(subjects))))


def _text_names(text: str) -> list[str] | None:
    """The names of an authors' line, or None when it is no list of names
    (a sentence: the abstract of an entry without authors)."""
    names = split_names(text.strip().rstrip("."))
    if not names or any(len(n) > 60 or len(n.split()) > 6 or (n[-1] in ".!?:;" and not NAME_SUFFIX.fullmatch(n.split()[-1]))
                         for n in names):
        return None
    return names


def _announce(said: str, section: str) -> str:
    """The announcement type an entry's notes ("(cross-list from stat.ML)",
    "(replaced)") and its section's heading give, as arXiv's feed names it."""
    replaced = bool(_REPLACED.search(said) or _REPLACED.search(section))
    cross = bool(_CROSS.search(said) or _CROSS.search(section))
    return "replace-cross" if replaced and cross else "replace" if replaced else "cross" if cross else "new"


#: A line of the list of links a text browser's dump ends with (``lynx -dump``):
#: under "References", numbered URLs (and "Visible links" / "Hidden links" headings).
_LINK_LINE = re.compile(r"(?:\d{1,5}\.\s+\S+|(?:visible|hidden) links:?)?", re.IGNORECASE)
#: The number a text browser puts before each link's text: "[12]Paper Title".
_LINK_MARK = re.compile(r"\[\d{1,5}\](?=[^\W\d_])")


def without_link_list(text: str) -> str:
    """A text browser's dump of the page (``lynx -dump``) as its text: the
    list of links at its end cut off (its lines left blank, so line numbers
    hold), and the link numbers before each link's text ("[12]Paper Title")
    dropped.  Only in a dump, told by that list: an abstract citing "[12]"
    keeps it.  (Hugging Face's pages and arXiv's alike: "[23]arXiv:2406.03001v2"
    named no version, "[8]Jane Doe" was an author.)"""
    at = text.rfind("References")
    if at < 0:
        return text
    start = text.rfind("\n", 0, at) + 1
    head, _, rest = text[start:].partition("\n")
    if head.strip() != "References" or not all(_LINK_LINE.fullmatch(line.strip()) for line in rest.split("\n")):
        return text
    return _LINK_MARK.sub("", text[:start]) + "\n" * text.count("\n", start)


def parse_arxiv_listing_text(
    text: str, name: str, source: str, warn: Warn, announce_types: Announce = None, *, kind: str
) -> list[Paper]:
    """The papers of an arXiv listing page (``/new``, ``/recent``,
    ``/pastweek``, either layout) copied as text from the browser: each
    entry's line "[1] arXiv:ID [pdf, html, other]", then "Title:", the
    authors (labelled "Authors:" in the layout before 2024), "Comments:",
    "Subjects:" and, on ``/new``, the abstract; the section headings ("Cross
    submissions (showing 50 of 50 entries)", "Replacements for ...") give the
    announcement type and the day's lines the day.  ``announce_types`` as
    for :func:`parse_arxiv_listing`.  A paper's abstract page copied so is
    that paper (see :func:`_abs_text_papers`): ``kind`` is what
    :func:`listing_text` found the copy to be.  A text browser's dump of
    the page (``lynx -dump``, ``w3m -dump``) is read too (see
    :func:`without_link_list`, :func:`_wrapped`)."""
    text = without_link_list(text)
    if kind == "abs":
        return _abs_text_papers(text, name, source, warn)
    if m := _SEARCH_TEXT.search(text):
        raise InputError(Problem(f"source {source!r}: an arXiv search results page copied as text: it shows each "
                                 "abstract cut short ('▽ More') and its subject tags where a title goes; save the page "
                                 "itself instead (Ctrl+S, 'Web Page, HTML only'), which holds them whole", name,
                                 line_of(text, m.start())))
    read: list[_TextEntry] = []
    current: _TextEntry | None = None
    section, day = "", None
    headless: int | None = None  # the line of a paper's "Title:" above every entry's first line
    for number, raw in enumerate(_unwrapped(text.split("\n")), 1):
        line = " ".join(raw.split())
        if not line:
            continue
        if m := _TEXT_ENTRY.fullmatch(line):
            current = _TextEntry(number, m.group("id"), _announce(m.group("notes") + m.group("after"), section), day)
            read.append(current)
            continue
        in_section = _TEXT_SECTION.fullmatch(line)
        heading = in_section or _TEXT_DAY.fullmatch(line)
        if current is not None and not heading and not _TEXT_CHROME.fullmatch(line):
            current.read(line)
            continue
        current = None  # a heading or the page's own lines end the paper; what follows to the next is the page's
        if not read and headless is None and line[:6].casefold() == "title:":
            headless = number
        if in_section:
            section = line
        if len(line) < 200 and (days := list(_DAY.finditer(line))):
            day = _day(*days[-1].groups())  # the last: "received from ... to Wed 5 Jun 24, announced Thu, 6 Jun 24"
    if not read:
        sign = _TEXT_SIGN.search(text[:_TEXT_LOOK].encode())
        raise InputError(Problem(f"source {source!r}: an arXiv listing copied as text, but no paper's first line "
                                 "reads as one ('[1] arXiv:ID [pdf, html, other]'); copy the page from the browser "
                                 "again, or save it (Ctrl+S)", name,
                                 line_of(text[:_TEXT_LOOK].encode(), sign.start()) if sign else 1))
    if headless is not None:
        warn(f"{name}:{headless}: source {source!r}: the copy of the arXiv listing starts inside a paper (its "
             "'Title:' has no '[1] arXiv:ID' line above it): that paper is left out; copy the whole page (Ctrl+A)")
    entries = [e.entry(last=i == len(read) - 1) for i, e in enumerate(read)]
    return _papers(entries, name, source, warn, announce_types, "the arXiv listing copied as text")


def read_listing_text(
    data: bytes, name: str, source: str, warn: Warn, announce_types: Announce = None, *, kind: str
) -> list[Paper]:
    """:func:`parse_arxiv_listing_text` of a file's bytes, decoded as an
    export is (UTF-8, UTF-16, Windows-1252; any line ending)."""
    from .readers import decode_text

    return parse_arxiv_listing_text(decode_text(data, name), name, source, warn, announce_types, kind=kind)


#: What a search's results page copied as text shows: its count, and each abstract's "▽ More" button.
_SEARCH_TEXT = re.compile(r"^[ \t]*Showing \d[\d,]*[–-]\d[\d,]* of \d[\d,]* results\b|▽ More|△ Less", re.MULTILINE)
#: The labelled lines of an abstract page copied as text ("Title:Faster ...", "Comments:\t12 pages").
_ABS_TEXT_LABEL = re.compile(r"(?P<label>title|authors|abstract|comments|subjects|journal reference|cite as|"
                             r"report number|msc classes|acm classes|doi|related doi)\s*:\s*(?P<value>.*)",
                             re.IGNORECASE)
#: The page's id line ("arXiv:2406.03001 (cs)") and its versioned citation ("(or arXiv:2406.03001v2 [cs.LG] for
#: this version)").
_ABS_TEXT_ID = re.compile(rf"arXiv:\s*({ARXIV_ID})\s+\([a-z][\w.-]*\)")
_ABS_TEXT_THIS = re.compile(rf"\(or arXiv:\s*({ARXIV_ID})\b.*for this version\)")
_ABS_TEXT_DATELINE = re.compile(r"\[Submitted on .*")


#: The widest line of a text browser's dump (``lynx -dump``, ``w3m -dump``: 79 or 80 columns by default).
_DUMP_WIDTH = 80
def _dump_width(lines: list[str]) -> int | None:
    """The width a text browser's dump (``lynx -dump``, ``w3m -dump``) wrapped
    ``lines`` at: its longest line of more than one word, at most 80 columns;
    None for a copy from the browser, which wraps nothing (its abstracts run
    longer).  A line of one word is not measured: lynx and w3m never break a
    word, so one long URL on its own line switched all unwrapping off."""
    width = max((len(raw.rstrip()) for raw in lines if len(raw.split(maxsplit=1)) > 1), default=0)
    return width if width <= _DUMP_WIDTH else None


def _wrapped(label: str | None, previous: str, line: str, width: int | None) -> bool:
    """Whether ``line`` of a dump wrapped at ``width`` carries on the value of
    ``label`` from ``previous``, the line before as the dump wrote it (blank
    after a blank line): a title, an authors line, comments, subjects, whose
    next word did not fit on ``previous`` (or, of authors, after its comma).
    A line that starts anew ("View PDF" under the names) is not carried on
    to.  Read line by line, the title lost its end ('... for'), the authors
    their last names, the subjects theirs."""
    if width is None or label not in ("title", "authors", "comments", "subjects") or not previous.strip() or not line:
        return False
    fits = len(previous.rstrip()) + 1 + len(line.split()[0]) <= width
    return not fits or (label == "authors" and previous.rstrip().endswith(",") and not line.startswith("View "))


def _unwrapped(lines: list[str]) -> list[str]:
    """A listing's lines as the page has them, where a text browser's dump
    (every line 80 columns or fewer) wrapped an entry's title, authors,
    comments or subjects: each line a value carries on to (see
    :func:`_wrapped`) joined to the value's first, and left blank itself, so
    the lines keep their numbers.  The authors' line is the one under the
    title when no label names it.  (Read line by line, the wrapped subjects'
    end began the abstract and the comment's end became its authors.)"""
    if (width := _dump_width(lines)) is None:
        return lines  # a copy from the browser: each line whole
    out = list(lines)
    field: str | None = None  # the value the line before belongs to
    start = 0  # the line it starts on
    for i, raw in enumerate(lines):
        line = " ".join(raw.split())
        if i and _TEXT_ENTRY.fullmatch(joined := f"{' '.join(out[i - 1].split())} {line}") \
                and not _TEXT_ENTRY.fullmatch(" ".join(out[i - 1].split())):
            out[i - 1], out[i], field = joined, "", None  # an entry's first line, its links wrapped: "[pdf, html,\nother]"
            continue
        label = _TEXT_LABEL.fullmatch(line)
        if field and not label and not _starts_anew(line) and _wrapped(field, lines[i - 1], line, width) \
                and (field != "title" or _title_goes_on(lines, i)):
            out[start], out[i] = f"{out[start].rstrip()} {line}", ""
            continue
        if label:
            kind = label.group("label").casefold()
            field, start = ("authors" if kind.startswith("author") else kind), i
        else:
            field, start = ("authors" if field == "title" and line else None), i
    return out


def _title_goes_on(lines: list[str], i: int) -> bool:
    """Whether line ``i`` under a wrapped title is the title's end, not the
    entry's unlabelled authors: the authors' line comes before the entry's
    next label, so a line with a label (or nothing) under it is theirs; and
    a line with a comma is names.  The lines after ``i`` are walked, not
    copied: a copy per wrapped title made a long listing quadratic."""
    after = next((" ".join(raw.split()) for raw in islice(lines, i + 1, None) if raw.strip()), "")
    return "," not in lines[i] and bool(after) and not _TEXT_LABEL.fullmatch(after) and not _starts_anew(after)


def _starts_anew(line: str) -> bool:
    """A listing's line that carries on no value: an entry's first line, a
    section's or a day's heading, the page's own lines (its longest line
    may be shorter than the width the dump wrapped at)."""
    return any(p.fullmatch(line) for p in (_TEXT_ENTRY, _TEXT_SECTION, _TEXT_DAY, _TEXT_CHROME))


def _abs_text_papers(text: str, name: str, source: str, warn: Warn) -> list[Paper]:
    """The paper of an abstract page copied as text: its id (with the
    version the page shows), "Title:", "Authors:", "Abstract:" (to the next
    label: its paragraphs), "Comments:", "Subjects:" and the day it was first
    submitted.  A copy without its id, title or abstract is an error."""
    values: dict[str, tuple[int, list[str]]] = {}
    current: str | None = None
    arxiv_id = this = dateline = None
    lines = text.split("\n")
    width = _dump_width(lines)
    previous = ""  # the line before, as the copy has it
    for number, raw in enumerate(lines, 1):
        line = " ".join(raw.split())
        wrapped, previous = _wrapped(current, previous, line, width), raw
        if not line:
            continue
        if (m := _ABS_TEXT_LABEL.fullmatch(line)) and (label := m.group("label").casefold()) not in values:
            values[label], current = (number, [m.group("value")] if m.group("value") else []), label
            if label == "cite as" and (cited := re.search(rf"arXiv:\s*({ARXIV_ID})", line)):
                arxiv_id = arxiv_id or cited.group(1)
            continue
        if current == "abstract" or (current == "title" and not values["title"][1]) or wrapped:
            values[current or ""][1].append(line)
            continue
        if current != "abstract":
            current = None  # a line the value does not carry on to ends it ("View a PDF of ..." under the names)
        if (m := _ABS_TEXT_THIS.search(line)) and not this:
            this = m.group(1)
        elif (m := _ABS_TEXT_ID.fullmatch(line)) and not arxiv_id:
            arxiv_id = m.group(1)
        elif _ABS_TEXT_DATELINE.fullmatch(line) and not dateline:
            dateline = line

    def value(label: str) -> str:
        return " ".join(values.get(label, (0, []))[1])

    return _abs_page_papers(
        _AbsPage(values.get("title", (1, []))[0], this or arxiv_id, dateline or "", value("title"), value("abstract"),
                 split_names(value("authors")), value("comments"), value("subjects")),
        name, source, warn,
        " (lines 'arXiv:ID (cs)', 'Title:', 'Abstract:'); the copy is cut off? Copy the whole page (Ctrl+A)",
        what="the arXiv abstract page copied as text")


# --------------------------------------------------------------------------- arXiv's daily e-mail

#: An entry of arXiv's daily e-mail listing (a subscription to cs@arxiv.org and the
#: like): a line "\\", then "arXiv:ID" (with " (*cross-listing*)" for a cross-list).
_MAIL_ENTRY = re.compile(rf"^\\\\[ \t]*\r?\n(?:arXiv:|Paper(?: \(\*cross-listing\*\))?: (?:arXiv:)?)({ARXIV_ID})",
                         re.MULTILINE)
#: The line that ends an entry: "\\ ( https://arxiv.org/abs/2406.03001 ,  812kb)".
_MAIL_END = re.compile(rf"^\\\\ \(\s*https?://arxiv\.org/abs/({ARXIV_ID})\s*,", re.MULTILINE)
#: A field of an entry's header: "Title: ...", "Authors: ...", continued on lines indented.
_MAIL_FIELD = re.compile(r"^([A-Z][A-Za-z-]*):\s?(.*)$")
#: How far into a message the first entry is looked for (its headers and the list's preamble come first).
_MAIL_LOOK = 64 * 1024


def arxiv_mail(data: bytes) -> str | None:
    """The text of arXiv's daily e-mail listing (the message body, a saved
    ``.eml``'s text part decoded), None for anything else."""
    if b"\\\\" not in data[:_MAIL_LOOK]:
        return None  # (no entry's "\\" line: nearly every file, told without decoding it)
    head = data[:_MAIL_LOOK].decode("utf-8", "replace")
    if not (_MAIL_ENTRY.search(head) and _MAIL_END.search(data[:_MAIL_LOOK * 4].decode("utf-8", "replace"))):
        return None
    text = data.decode("utf-8", "replace")
    if re.match(r"(?:[A-Za-z-]+:[^\n]*\n(?:[ \t][^\n]*\n)*)+\r?\n", text[:_MAIL_LOOK]):  # a whole message, saved
        from email import policy

        message = email.message_from_bytes(data, policy=policy.default)
        part = message.get_body(preferencelist=("plain",)) if message.is_multipart() else message
        if part is not None and part.get_content_maintype() == "text":
            text = part_text(part)
    return text.replace("\r\n", "\n")


def parse_arxiv_mail(text: str, name: str, source: str, warn: Warn, announce_types: Announce = None, *,
                     raw: bytes = b"") -> list[Paper]:
    """The papers of arXiv's daily e-mail listing, the text of the message
    every subscriber of a category gets: each entry's id, title, authors,
    categories, comments, the day it was submitted, its abstract and its
    section (new, cross, replace: a replacement has no abstract there, and
    is read by its title, said once).  Given as a source it was 'not an RSS
    or Atom feed: the answer is text'.  An entry without its title, or cut
    off before its closing line, is an error at its line.  ``raw``: the
    file, where a saved message's lines are counted (its headers above, its
    quoted-printable lines unlike the text's)."""
    entries: list[_Entry] = []
    starts = list(_MAIL_ENTRY.finditer(text))
    at = 0
    # lines counted on from the entry before (from the start for each was quadratic: 8,000 entries, 7 s)
    counted_to, lines_before = 0, 0
    raw_to, raw_lines = 0, 0
    for n, start in enumerate(starts):
        lines_before += text.count("\n", counted_to, start.start())
        counted_to = start.start()
        line = lines_before + 2  # (the "arXiv:ID" line)
        if raw and (found := raw.find(b"arXiv:" + start.group(1).encode(), at)) >= 0:
            at = found + 1
            raw_lines += raw.count(b"\n", raw_to, found)
            raw_to = found
            line = raw_lines + 1
        block_end = starts[n + 1].start() if n + 1 < len(starts) else len(text)
        end = _MAIL_END.search(text, start.end(), block_end)
        if end is None:
            raise InputError(Problem(f"source {source!r}: this entry of arXiv's e-mail listing has no closing line "
                                     f"'\\\\ ( https://arxiv.org/abs/{start.group(1)} , ...)': the message is cut off",
                                     name, line))
        lines = text[start.end():end.start()].split("\n")
        first = lines[0]
        fields: dict[str, str] = {}
        key = None
        # the header's fields, then (after a "\\" line) the abstract, which a replacement has none of
        rule = next((j for j, row in enumerate(lines) if j and row.strip() == "\\\\"), len(lines))
        for row in lines[1:rule]:
            if (m := _MAIL_FIELD.match(row)) and not row[:1].isspace():
                key = m.group(1).casefold()
                fields[key] = m.group(2).strip()
            elif row[:1].isspace() and key and row.strip():
                fields[key] += " " + row.strip()
        abstract = " ".join(" ".join(lines[rule + 1:]).split())
        dated = fields.get("date", "") or next((row.split("version", 1)[1] for row in lines[1:3]
                                                if row.startswith("replaced with revised version")), "")
        announce = ("replace" if any(row.startswith("replaced with revised version") for row in lines[1:3])
                    else "cross" if "cross-listing" in first + start.group(0) else "new")
        day = None  # (a replacement's date is its new version's, not the paper's)
        if announce != "replace" and (when := re.sub(r"\s*\(\d+kb.*$", "", dated).strip()):
            try:
                day = email.utils.parsedate_to_datetime(when).astimezone(UTC)
            except (TypeError, ValueError, IndexError):
                day = None
        entries.append(_Entry(
            line=line, arxiv_id=start.group(1), announce=announce,
            fields={"list-title": " ".join(fields.get("title", "").split()),
                    **({"list-comments": fields["comments"]} if fields.get("comments") else {})},
            authors=split_names(fields.get("authors", "")), abstract=abstract or None, day=day,
            categories=tuple(fields.get("categories", "").split())))
    return _papers(entries, name, source, warn, announce_types, "arXiv's e-mail listing")
