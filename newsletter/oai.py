"""arXiv's OAI-PMH answers (``export.arxiv.org/oai2?verb=ListRecords``),
saved and given to an ``arxiv`` or ``feed`` source, read as the papers they
hold.

Harvesters keep a day's records in the metadata formats arXiv serves:
``arXiv`` (each author's keyname and forenames, the day of v1),
``arXivRaw`` (every version with its day, authors as one line) and
``oai_dc`` (Dublin Core: ``dc:creator`` "Doe, Jane", the abstract the first
``dc:description``).  Given as a feed they were "not an RSS or Atom feed",
saying nothing of what they are.  A deleted record (its header's
``status="deleted"``) is no paper; an OAI-PMH error answer
(``badArgument``, ``badResumptionToken``) is an error quoting it, and
``noRecordsMatch`` is a day without records, said once.
"""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit, urlunsplit

from .errors import InputError, Problem, line_of, parsed_xml
from .feeds import _ARXIV_ENTRY_ID
from .models import Paper, abs_url, first_last, pdf_url, split_names
from .patterns import XML_PROLOG

Warn = Callable[[str], None]

_OAI = "{http://www.openarchives.org/OAI/2.0/}"
_DC = "{http://purl.org/dc/elements/1.1/}"
#: What an OAI-PMH answer starts with: its root element (after an XML declaration and comments).
_OAI_ROOT = re.compile(rb"\A(?:\xef\xbb\xbf)?" + XML_PROLOG + rb"<OAI-PMH[\s>]", re.DOTALL)


def is_oai(data: bytes) -> bool:
    """Whether ``data`` is an OAI-PMH answer."""
    return _OAI_ROOT.match(data[:4096]) is not None


def _text(element: ET.Element | None) -> str:
    """An element's text, its runs of white space one space ("" for none)."""
    return " ".join("".join(element.itertext()).split()) if element is not None else ""


def parse_oai(data: bytes, name: str, source: str, warn: Warn, *, paged: bool = False) -> list[Paper]:
    """The papers of an OAI-PMH answer (see the module's docstring), in its
    records' order.  A record in a metadata format other than those three is
    an error naming the format; so is XML that does not parse, at its line.
    ``paged``: the caller follows the answer's resumptionToken (a fetched
    source), so a page that is one of several is not said to be."""
    if b"<!DOCTYPE" in data[:4096] or b"<!ENTITY" in data:
        # (no OAI-PMH answer declares entities; expanding them is how a small file fills the memory)
        raise InputError(Problem(f"source {source!r}: an OAI-PMH answer declaring entities, which arXiv's never "
                                 "does: not read", name, 1))
    root = parsed_xml(data, name, source, "an OAI-PMH answer")
    errors = root.findall(f"{_OAI}error")
    if errors and all(e.get("code") == "noRecordsMatch" for e in errors):
        warn(f"{name}:1: source {source!r}: the OAI-PMH answer has no records (noRecordsMatch); nothing read from it")
        return []
    if errors:
        said = "; ".join(f"{e.get('code')}: {_text(e)}".rstrip(": ") for e in errors)
        raise InputError(Problem(f"source {source!r}: an OAI-PMH error answer, not records: {said}", name,
                                 line_of(data, data.find(b"<error"))))
    from .feeds import _skipped
    from .listings import withdrawn

    papers: list[Paper] = []
    skipped: list[str] = []
    deleted = 0
    records = list(root.iter(f"{_OAI}record"))
    for index, record in enumerate(records):
        header = record.find(f"{_OAI}header")
        if header is not None and header.get("status") == "deleted":
            deleted += 1
            continue
        metadata = record.find(f"{_OAI}metadata")
        format_ = next(iter(metadata), None) if metadata is not None else None
        if format_ is None:
            continue
        paper = _paper(format_, _text(header.find(f"{_OAI}identifier")) if header is not None else "", name, source)
        if paper is None:
            kind = format_.tag.rpartition("}")[2]
            raise InputError(Problem(f"source {source!r}: an OAI-PMH answer in the metadata format {kind!r}; "
                                     "arXiv, arXivRaw and oai_dc are read (metadataPrefix=arXiv)", name, 1))
        if not paper.title:
            skipped.append(f"record {index + 1}" + (f" ({paper.arxiv_id})" if paper.arxiv_id else "") + " has no title")
        elif not withdrawn(paper.abstract, paper.comment):
            papers.append(paper)
    _skipped(skipped, len(records) - deleted, name, source, warn)
    if not paged:
        _one_page(root, data, name, source, warn)
    if not records:
        warn(f"{name}:1: source {source!r}: the OAI-PMH answer holds no records; nothing read from it")
    return papers


def _one_page(root: ET.Element, data: bytes, name: str, source: str, warn: Warn) -> None:
    """Says so when the answer is one page of a longer list: arXiv answers
    a ListRecords of a busy day in pages, each ending with the token that asks
    for the next; read alone, a page looked like the whole day."""
    token = next(root.iter(f"{_OAI}resumptionToken"), None)
    if token is None or not (token.text or "").strip():
        return  # (the last page's token is empty)
    said = ", ".join(f"{key} {token.get(key)}" for key in ("completeListSize", "cursor") if token.get(key))
    at = _TOKEN.search(data)
    warn(f"{name}:{line_of(data, at.start()) if at else 1}: source {source!r}: the OAI-PMH answer is one page of a "
         f"longer list{f' ({said})' if said else ''}: the rest of the list is not read (harvest it by its "
         "resumptionToken and give every page)")


#: Where a resumptionToken is written, for the warning's line.
_TOKEN = re.compile(rb"<(?:[\w.-]+:)?resumptionToken\b")
#: A resumptionToken with its value (empty on the list's last page).
_TOKEN_VALUE = re.compile(rb"<(?:[\w.-]+:)?resumptionToken\b[^>]*?(?:/>|>([^<]*)</)")
#: The most pages of one list a fetched OAI-PMH source asks for: arXiv's pages
#: hold 1,000 records (a busy day's ``cs`` set is three or four of them); a
#: server handing out tokens without end must not hold a run for ever.
OAI_PAGES = 50


def resumption_token(data: bytes) -> str | None:
    """The token that asks for the next page of an OAI-PMH list (``None`` on
    its last page, or in an answer that is not paged)."""
    m = _TOKEN_VALUE.search(data)
    token = html.unescape(m.group(1).decode("utf-8", "replace")).strip() if m and m.group(1) else ""
    return token or None


#: A page's ``<request>`` start tag, which says what it was asked by (arXiv writes the token there).
_REQUEST = re.compile(rb"<(?:[\w.-]+:)?request\b[^>]*>")
#: The token in that tag.
_ASKED_BY = re.compile(rb"\bresumptionToken\s*=\s*[\"']([^\"']*)")


def continued_by(page: bytes, after: bytes) -> bool:
    """Whether ``after`` is the OAI-PMH page that ``page``'s resumptionToken
    asks for: pages harvested one by one and joined into one file.  ``after``
    must say it was asked by that token where it says what it was asked by
    (its ``<request>``); a page left out between two others (``cat p1.xml
    p3.xml``) is so told, and the rest of ``page``'s list said not read.  A
    ``<request>`` without a token is the first page of a harvest (another
    set's, ``cat cs.xml math.xml``), no continuation; only a page without a
    ``<request>`` at all is taken on trust."""
    token = resumption_token(page)
    if token is None or not is_oai(after):
        return False
    request = _REQUEST.search(after[:4096])
    if request is None:
        return True
    asked = _ASKED_BY.search(request.group())
    return asked is not None and html.unescape(asked.group(1).decode("utf-8", "replace")).strip() == token


def next_page(url: str, token: str) -> tuple[str, dict[str, str]]:
    """The request for the page after the one ``url`` answered: the same
    base URL and verb, and the token alone besides (OAI-PMH 2.0, 3.5: a
    request with a resumptionToken may carry no other argument, or the
    answer is ``badArgument``)."""
    parts = urlsplit(url)
    verb = parse_qs(parts.query).get("verb", ["ListRecords"])[0]
    return urlunsplit(parts._replace(query="", fragment="")), {"verb": verb, "resumptionToken": token}


def _paper(metadata: ET.Element, identifier: str, name: str, source: str) -> Paper | None:
    """A record's paper from its metadata, in the format its element names;
    None for a format not read."""
    namespace, _, kind = metadata.tag.rpartition("}")
    ns = namespace + "}"

    def field(tag: str) -> str:
        return _text(metadata.find(f"{ns}{tag}"))

    oai_id = _ARXIV_ENTRY_ID.search(identifier)  # "oai:arXiv.org:2406.03001"
    if kind == "arXiv":
        authors = [" ".join(p for p in (_text(a.find(f"{ns}forenames")), _text(a.find(f"{ns}keyname")),
                                        _text(a.find(f"{ns}suffix"))) if p)
                   for a in metadata.iter(f"{ns}author")]
        arxiv_id, day = field("id"), field("created")
    elif kind == "arXivRaw":
        versions = metadata.findall(f"{ns}version")
        last = versions[-1].get("version", "") if versions else ""
        arxiv_id = field("id") + (last if re.fullmatch(r"v\d+", last) else "")
        authors = split_names(field("authors"))
        day = _text(versions[0].find(f"{ns}date")) if versions else ""
    elif kind == "dc":
        # (its identifiers' arXiv link: "http://arxiv.org/abs/2406.03001v2")
        links = [m.group(1) for e in metadata.findall(f"{_DC}identifier") if (m := _ARXIV_ENTRY_ID.search(_text(e)))]
        arxiv_id = links[0] if links else oai_id.group(1) if oai_id else ""
        authors = [first_last(_text(c)) for c in metadata.findall(f"{_DC}creator")]
        descriptions = [_text(d) for d in metadata.findall(f"{_DC}description")]
        dates = [_text(d) for d in metadata.findall(f"{_DC}date")]
        return _made(_text(metadata.find(f"{_DC}title")), descriptions[0] if descriptions else "", arxiv_id,
                     authors, dates[0] if dates else "", (), next((d.removeprefix("Comment: ") for d in descriptions
                                                                 if d.startswith("Comment:")), ""), name, source)
    else:
        return None
    return _made(field("title"), field("abstract"), arxiv_id or (oai_id.group(1) if oai_id else ""), authors, day,
                 tuple(field("categories").split()), field("comments"), name, source)


def _made(title: str, abstract: str, arxiv_id: str, authors: list[str], day: str, categories: tuple[str, ...],
          comment: str, name: str, source: str) -> Paper:
    """A record's paper: its day ISO's ("2024-06-04") or RFC 2822's ("Mon, 3 Jun 2024 17:59:58 GMT")."""
    from .feeds import _record_time, is_arxiv_id

    ident = arxiv_id if is_arxiv_id(arxiv_id) else None
    return Paper(title=title, abstract=abstract, source=source, arxiv_id=ident, authors=tuple(a for a in authors if a),
                 url=abs_url(ident) if ident else None, pdf_url=pdf_url(ident) if ident else None,
                 published=_record_time(day), categories=categories, comment=comment or None, location=name)
