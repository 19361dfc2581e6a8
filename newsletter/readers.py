"""Parse stage: turn each configured source into :class:`~newsletter.models.Paper` values.

Every reader is a function ``(source, config, context) -> Iterator[Paper]``
registered in :data:`READERS` under its ``type``; ``context`` (a
:class:`ReadContext`) carries the HTTP :class:`~newsletter.fetching.Fetcher`,
the current time and the warning callback.  A reader that cannot make sense
of its input raises :class:`InputError` naming the file (and line) or URL; it
never returns a silent partial parse.  The remote formats are parsed in
:mod:`newsletter.feeds`.
"""

from __future__ import annotations

import codecs
import logging
import lzma
import os
import re
import zlib
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache, partial
from itertools import pairwise, takewhile
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from .config import ArxivSource, Config, FeedSource, HFDailySource, Source, expand_paths, unread_entries
from .errors import UNKNOWN_PAGE, InputError, NewsletterError, Problem, SourcesFailed, Unreachable, line_of
from .fetching import (
    UNPACKERS,
    Fetched,
    Fetcher,
    HTTPStatusFailure,
    Truncated,
    hide_secrets,
    html_page_said,
    shown_url,
    unpacking,
    url_secrets,
)
from .files import bomless_unicode, broken_link, windows_1252
from .latex import paper_to_unicode
from .models import ARXIV_ID, SHOWS_NOTHING, Paper, abs_url, arxiv_base_id, merge_papers, pdf_url
from .patterns import lazy
from .retrying import backoff

if TYPE_CHECKING:
    from .feeds import ArxivListing

# The remote formats' parsers (:mod:`newsletter.feeds`, with html.parser and
# some forty regular expressions) are imported by the readers that use them:
# a send from exports alone never loads them (a tenth of its imports' time).

log = logging.getLogger(__name__)
T = TypeVar("T")

# --------------------------------------------------------------------------- hf-papers-text

#: The lines that make a Hugging Face papers page header: one of them must be there.
HF_HEADER = frozenset(
    s.casefold()
    for s in (
        "Get trending papers in your email inbox!",
        "Get trending papers in your email inbox once a day!",
        "Subscribe",
        "Daily Papers",
        "Trending Papers",
        "Weekly Papers",  # the headings of the weekly and monthly views
        "Monthly Papers",
        "Papers of the week",  # ... and as a week's or a month's listing titles itself over its date range
        "Papers of the month",
        "byAK and the research community",
    )
)
#: Every line of page chrome a copy of the page may hold around the papers: the
#: header, the page's tabs and its day / page navigation.
HF_CHROME = HF_HEADER | frozenset(
    s.casefold()
    for s in (
        "new",
        "Papers",
        "Trending",
        "Daily",
        "Weekly",
        "Monthly",
        "Previous",
        "Next",
        "Load more",
        "Show more",
        "Show less",
        "Read more",  # under an abstract the page shortens
        "Read less",
        "See more",
        "See less",
        "View more",
        "Search any paper with AI",
        # a paper's own page: its links and sections after the abstract
        "View arXiv page",
        "View PDF",
        "Add to collection",
        "Project page",
        "Community",
    )
)


def _key(text: str) -> str:
    """A line as compared with the page's chrome: case-folded, without white
    space ("by AK and the research community" in one browser's copy is
    "byAK and the research community" in another's: AK is a link)."""
    return "".join(text.split()).casefold()


_HEADER_KEYS = frozenset(map(_key, HF_HEADER))
_CHROME_KEYS = frozenset(map(_key, HF_CHROME))
#: The most characters a line's :func:`_key` holds when it is one of the page's header or
#: chrome lines.  Case folding never makes a text shorter, nor turns a character into
#: white space, so a line with more characters than this outside its white space is
#: none of them: its key need not be made.
_KEY_MOST = max(map(len, _HEADER_KEYS | _CHROME_KEYS))
#: More than :data:`_KEY_MOST` characters outside white space (``\s`` is what ``str.split`` splits at).
_MORE_THAN_A_KEY = lazy(rf"(?:\s*+\S){{{_KEY_MOST + 1}}}")


def _may_be_key(text: str) -> bool:
    """Whether :func:`_key` of ``text`` may be a header or chrome key.  Every
    block of an export is asked whether it is the header, abstracts too, and
    splitting, joining and folding each abstract for that was a tenth of
    reading the samples; this looks at most at its first few dozen characters."""
    return len(text) <= _KEY_MOST or not _MORE_THAN_A_KEY.match(text)


def _folds_to(text: str, word: str, *, colons: bool = False) -> bool:
    """``text.casefold() == word`` (with ``.rstrip(":")`` after the folding when
    ``colons``), without folding a text too long to be ``word``: folding never
    makes a text shorter, and only a colon folds to one.  Each line of an
    export is compared with a heading this way; folding whole abstracts for it
    cost more than the comparisons."""
    if colons:
        text = text.rstrip(":")
    return len(text) <= len(word) and text.casefold() == word
#: The words of the site's menus and footers (and of a browser's copy of
#: them: "Skip to main content", a search box's placeholder), case-folded.  A
#: copy of the whole page may put a menu on one line: see :func:`_is_menu`.
MENU_WORDS = frozenset(
    """
    hugging face huggingface models model datasets dataset spaces space posts docs documentation
    enterprise pricing log login logout sign signup up in out community solutions learn discord
    forum forums github blog about company tos terms of service privacy policy jobs careers press
    website status changelog collections collection papers paper daily weekly monthly trending new
    home menu search users organizations inference endpoints providers huggingchat chat tasks hub
    api pro account settings profile notifications toggle navigation skip to main content back next
    previous more load show all see view theme system dark light mode language english cookies
    submit any with ai browse explore open source and logo s copyright rights reserved inc
    """.split()
)
#: The words of MENU_WORDS that only the site's chrome has (never "models",
#: "search" or "open source", which titles use): a menu has two of them.
MENU_ANCHORS = frozenset(
    """
    hugging huggingface pricing enterprise docs log login logout sign signup tos privacy careers
    jobs press discord github changelog website posts terms cookies theme skip weekly monthly
    trending submit huggingchat notifications
    """.split()
)
#: A new menu item the list above does not know yet: one word in this many.
_MENU_UNKNOWN_PER = 6
#: Fewer words are a short line (allowed above the header anyway) or a title.
_MENU_MIN_WORDS = 4
_MENU_WORD = lazy(r"[^\W_]+")
_YEAR_OR_COUNT = lazy(r"\d+(\.\d+)?[km]?")
#: Page numbers and ellipses of a pagination bar.
_PAGINATION = lazy(r"^(\d{1,3}|\.\.\.|…|[‹«<]|[›»>])$")
#: Leading lines (site navigation) before the header: few, and short.
_MAX_NAV_LINES, _MAX_NAV_CHARS = 20, 60
#: What shows nothing (:data:`models.SHOWS_NOTHING`): a browser's copy may leave it
#: alone on a line or inside words.
_INVISIBLE = lazy(f"[{SHOWS_NOTHING}]")
#: Longer than any line of the site's chrome (menu, header, date, footer).
_MAX_CHROME_CHARS = 200
_MONTH = r"(jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_WEEKDAY = r"((mon|tue|wed|thu|fri|sat|sun)[a-z]*\.?,?\s+)?"
_DAY = r"\d{1,2}(st|nd|rd|th)?"
_ONE_DATE = (
    rf"{_WEEKDAY}({_MONTH}\s+{_DAY}(,?\s+\d{{4}})?"  # (Wednesday,) Sep 4, September 4th, 2024
    rf"|{_DAY}\.?\s+{_MONTH}(,?\s+\d{{4}})?"  # 4 Sep 2024, 4. September 2024
    # 2024-09-04, 2024/09/04, with a time as a machine writes it: 2024-09-04T12:00:00Z
    r"|\d{4}(-\d{2}-\d{2}|/\d{2}/\d{2})([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?"
    r"|\d{1,2}[/.]\d{1,2}[/.]\d{2,4})"  # 09/04/2024, 4.9.2024
)
_DATE_LINE = lazy(
    rf"^({_ONE_DATE}"
    # a range, as a weekly view shows its week: Sep 2 - Sep 8, 2024 / Sep 2–8 / Sep 2, 2024 — Sep 8, 2024
    rf"(\s*[-–—]\s*({_ONE_DATE}|{_DAY}(,?\s+\d{{4}})?))?"
    rf"|{_MONTH},?\s+\d{{4}}"  # September 2024 (the monthly view)
    r"|(the\s+)?week(\s+of)?\s+\d{1,2}(,?\s+\d{4})?"  # Week 36, 2024 (the weekly view)
    rf"|week\s+of\s+{_ONE_DATE}"  # Week of Sep 2, 2024
    r"|\d{4}-w\d{1,2}"  # 2024-W36
    r"|today|yesterday|this\s+week|this\s+month|last\s+week|last\s+month"
    r"|(mon|tues|wednes|thurs|fri|satur|sun)day)"  # a weekly view's day headings, without the date
    r"(\s*(?:[·•|(–—-]\s*)?\d{1,3}\s+papers?\)?)?$",  # with the day's count: "Sep 2 · 12 papers", "Sep 3 (9 papers)"
    re.IGNORECASE,
)
#: A month as the page shows it in the browser's language: German, French, Spanish, Italian,
#: Portuguese, Dutch, Polish, Russian and Ukrainian names and their abbreviations ("Okt.",
#: "févr.", "ago", "сент.").
_LOCAL_MONTH = (r"(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|mär|mrz|mai|okt|dez|févr|fevr|avr|juin|juil|août|aout|"
                r"déc|ene|abr|ago|dic|gen|mag|giu|lug|set|ott|fev|out|mrt|mei|sty|lut|kwi|maj|cze|lip|sie|wrz|paź|lis|"
                r"gru|янв|фев|мар|апр|ма[йя]|июн|июл|авг|сен|окт|ноя|дек|січ|лют|бер|кві|тра|чер|лип|сер|вер|жов|лис|"
                r"гру)[^\W\d_]*\.?")
#: The page's day in the browser's language: "4. Okt. 2024", "4 de sept. de 2024", "4 сент. 2024 г.",
#: "Mai 4", "9月4日", "2024년 9월 4일"; a date in another was the first paper's title.
_LOCAL_DATE_LINE = lazy(
    rf"(\d{{1,2}}\.?\s+(de\s+)?{_LOCAL_MONTH}(,?\s+(de\s+)?\d{{4}}(\s*г\.?)?)?|{_LOCAL_MONTH}\s+\d{{1,2}}(,?\s+\d{{4}})?"
    r"|(\d{4}\s*年\s*)?\d{1,2}\s*月\s*\d{1,2}\s*日|(\d{4}\s*년\s*)?\d{1,2}\s*월\s*\d{1,2}\s*일)",
    re.IGNORECASE,
)
#: Longer than any such date.
_LOCAL_DATE_MOST = 32


def _date_line(text: str) -> bool:
    """Whether ``text`` is a date as the page shows it (see :data:`_DATE_LINE`), in
    English or the browser's language (looked for in short lines only: every
    line of an export is asked)."""
    return bool(_DATE_LINE.match(text)) or (len(text) <= _LOCAL_DATE_MOST and bool(_LOCAL_DATE_LINE.fullmatch(text)))


_SUBSCRIBE = "subscribe"
MAX_TITLE_CHARS = 300
_CONTROL = lazy(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
#: Line breaks other than CR and LF that copies from macOS, Safari or Word
#: carry (vertical tab is Word's line break, U+2029 a paragraph's end).
_ODD_BREAKS = "\x0b\x0c\x85\u2028\u2029"  # (five `in` scans cost less than one regex search)
_LINE_BREAKS = {0x0B: "\n", 0x0C: "\n", 0x85: "\n", 0x2028: "\n", 0x2029: "\n\n"}


def _spaced(text: str) -> str:
    """One space between words: a browser's copy may carry non-breaking
    spaces, tabs or doubled spaces where the page shows one."""
    return " ".join(text.split())


def _is_chrome(text: str) -> bool:
    if len(text) > _MAX_CHROME_CHARS:  # an abstract: no need to normalise it
        return False
    spaced = _spaced(text)
    if spaced.replace(" ", "").casefold() in _CHROME_KEYS or _date_line(spaced) or _READER_VIEW.fullmatch(spaced):
        return True
    # lines of chrome joined on one: "Daily Papers — Sep 4, 2025", the page's title "Daily Papers - Hugging Face"
    parts = _CHROME_JOIN.split(spaced) if len(spaced) <= _MAX_NAV_CHARS else ()
    return len(parts) > 1 and all(
        _key(part) in _CHROME_KEYS or _key(part) == _SITE or _date_line(part) for part in parts
    ) or _glued_header(spaced)


#: The page's chrome lines, longest first (one ``startswith`` call tries them all).
_CHROME_KEYS_LONGEST = tuple(sorted(_CHROME_KEYS, key=len, reverse=True))
#: As long as the header's own phrases ("by AK and the research community", "Get trending
#: papers in your email inbox!") and longer than any tab: a title is never glued of tabs alone.
_HEADER_PHRASE = 20


def _glued_header(text: str) -> bool:
    """Lines of the page's header glued into one, as a copy without line breaks
    glues them ("Daily Papersby AK and the research community", "Get trending
    papers in your email inbox!Subscribe"): the export was "no Hugging Face
    papers page header".  One of them is a header phrase, not only tabs
    (a word of one is looked for first: every short line of an export is
    asked, and spelling each out cost 3% of the parse)."""
    if len(text) > _MAX_NAV_CHARS or ("ommunit" not in text and "nbox" not in text):  # (Community, Inbox too)
        return False
    key = _key(text)
    if not (key.startswith(_CHROME_KEYS_LONGEST) and key.endswith(_CHROME_KEYS_LONGEST)):
        return False
    reach: dict[int, bool] = {0: False}  # how far the line is glued of chrome, and whether with a header phrase
    for i in range(len(key)):
        if i in reach:
            for part in _CHROME_KEYS_LONGEST:
                if key.startswith(part, i):
                    reach[i + len(part)] = reach.get(i + len(part), False) or reach[i] or len(part) >= _HEADER_PHRASE
    return reach.get(len(key), False) and key not in _CHROME_KEYS


#: What a browser's reader view (Firefox, Safari) puts over the page's title:
#: the site ("huggingface.co", or the listing's address: not a paper's, which a
#: card's line gives its id) and the reading time ("5–6 minutes").
_READER_VIEW = lazy(r"(?:https?://)?(?:www\.)?huggingface\.co(?:/papers(?:/trending|/(?:date|week|month)/[\w-]+)?)?/?(?:\?\S*)?|\d{1,3}(?:\s*[-–—]\s*\d{1,3})?\s*min(?:ute)?s?(?:\s+read)?",
                    re.IGNORECASE)
#: What joins two parts of the page's chrome on one line (spaced: not a hyphenated word).
_CHROME_JOIN = lazy(r"\s+[-–—|·•]\s+")
_SITE = "huggingface"


def _is_menu(text: str) -> bool:
    """A site menu or footer copied as one paragraph ("Hugging Face Models
    Datasets Spaces Posts Docs Enterprise Pricing Log In Sign Up", "© 2024
    Hugging Face · Terms of Service · Privacy"): four words or more, all of
    them the site's (:data:`MENU_WORDS`, a year or a count) but one in
    :data:`_MENU_UNKNOWN_PER` that may be a menu item added since, two of them
    words only the site's chrome has (:data:`MENU_ANCHORS`: "Pricing", "Log
    In", "Privacy").  A title or a sentence has words of its own ("Learning
    to Search with Open Source Models" is a title): it is not taken for a menu."""
    if len(text) > 2 * _MAX_CHROME_CHARS:
        return False
    words = unknown = 0
    anchors: set[str] = set()
    for m in _MENU_WORD.finditer(text.casefold()):
        words += 1
        word = m.group()
        if word in MENU_ANCHORS:
            anchors.add(word)
        elif word not in MENU_WORDS and not _YEAR_OR_COUNT.fullmatch(word):
            unknown += 1
            if unknown * _MENU_UNKNOWN_PER > max(words, _MENU_UNKNOWN_PER):
                return False
    return words >= _MENU_MIN_WORDS and len(anchors) >= 2 and unknown * _MENU_UNKNOWN_PER <= words


def _is_page_chrome(text: str) -> bool:
    """A line of the page's own chrome, or a site menu or footer in one paragraph."""
    return len(text) <= 2 * _MAX_CHROME_CHARS and _is_short_page_chrome(text)  # (longer is neither)


@lru_cache(maxsize=4096)
def _is_short_page_chrome(text: str) -> bool:
    """:func:`_is_page_chrome` of a line short enough to be either, kept for
    the last few thousand lines asked: reading an export asks it of most
    lines two or three times over (the layout, the cards' lines, the titles:
    a tenth of reading the samples), and the answer is the text's alone."""
    return _is_chrome(text) or _is_menu(text)


def _is_header(text: str) -> bool:
    """A line of the page's header (:data:`HF_HEADER`), or the page's title
    holding one as a reader view or a tab shows it, "Daily Papers - Hugging
    Face": a copy in reader view has no other header line, and was "no
    Hugging Face papers page header"."""
    if _may_be_key(text) and _key(text) in _HEADER_KEYS:
        return True
    if len(text) > _MAX_NAV_CHARS:
        return False
    if not _CHROME_JOIN.search(text):
        return _glued_header(text)
    return _is_chrome(text) and any(_key(part) in _HEADER_KEYS for part in _CHROME_JOIN.split(_spaced(text)))


def decode_text(data: bytes, name: str, *, cut_ok: bool = False) -> str:
    """Bytes to text, or an :class:`InputError` at the line where it stops being text.

    UTF-8 (with or without a BOM), or UTF-16 or UTF-32 when it starts with its byte
    order mark (what Windows editors save as "Unicode") or has none but its zero
    bytes say which (see :func:`bomless_unicode`), or Windows-1252 /
    Latin-1 when not one character of it is UTF-8 (see :func:`files.windows_1252`).
    Lines may end in LF, CRLF, CR alone, or Unicode's line and paragraph
    separators (U+2028, U+2029: a copy on macOS), NEL, or Word's vertical tab
    and form feed; all become LF (a paragraph separator a blank line).  Invisible characters a
    browser's copy leaves (zero-width spaces, soft hyphens, stray BOMs) are
    dropped: a line holding only those is blank.  ``cut_ok``: a UTF-8
    character cut in half at the very end (a truncated download) is dropped,
    not called binary data."""
    # UTF-32's marks first: UTF-32-LE's begins with UTF-16-LE's
    for bom, codec, le, be in (
        (codecs.BOM_UTF32_LE, "utf-32", "utf-32-le", None), (codecs.BOM_UTF32_BE, "utf-32", None, "utf-32-be"),
        (codecs.BOM_UTF16_LE, "utf-16", "utf-16-le", None), (codecs.BOM_UTF16_BE, "utf-16", None, "utf-16-be"),
    ):
        if data.startswith(bom):
            try:
                text = data.decode(codec)
            except UnicodeDecodeError as exc:
                line = line_of(data, exc.start, "\n".encode(le or be or codec))
                raise InputError(Problem(
                    f"not {codec.upper()} text after its byte order mark (truncated or corrupt?)", name, line
                )) from None
            data = text.encode("utf-8")
            break
    if b"\x00" in data and (unmarked := bomless_unicode(data)) is not None:
        width = 4 if "32" in unmarked else 2
        if cut_ok:  # a download cut off within its last character
            data = data[: len(data) - len(data) % width]
        try:
            data = data.decode(unmarked).encode("utf-8")
        except UnicodeDecodeError as exc:
            line = line_of(data, exc.start, "\n".encode(unmarked))
            raise InputError(Problem(f"not {unmarked.upper()} text (truncated or corrupt?)", name, line)) from None
    if b"\x00" in data:
        pos = data.index(b"\x00")
        raise InputError(Problem("binary data (NUL byte), not a text export", name, line_of(data, pos)))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if cut_ok and exc.end == len(data) and exc.reason == "unexpected end of data" and exc.start >= len(data) - 3:
            return decode_text(data[: exc.start], name)
        ansi = windows_1252(data)
        if ansi is None:
            line = line_of(data, exc.start)
            raise InputError(
                Problem(f"not UTF-8 text (byte 0x{data[exc.start]:02x}); binary data or a wrong encoding "
                        "(save the export as UTF-8)", name, line)
            ) from None
        text = ansi
    if any(c in text for c in _ODD_BREAKS):  # a macOS or Word copy: Unicode's line and paragraph separators
        text = text.translate(_LINE_BREAKS)
    if m := _CONTROL.search(text):
        line = line_of(text, m.start())
        raise InputError(Problem(f"binary data (control character {m.group()!r}), not a text export", name, line))
    # each looked for with `in`: the regex's search over a whole export cost 100 times more
    # (and str.translate 70 us per paper on every export)
    if any(c in text for c in SHOWS_NOTHING):
        text = _INVISIBLE.sub("", text)
    return text.replace("\r\n", "\n").replace("\r", "\n")


#: A count as the site shows it: 58, 1,234, 1.2k.
_COUNT = r"\d[\d.,]*\s?[km]?"
#: Who submitted a paper, as a card shows them: a user name (akhaliq), or the
#: name they go by, two to four words (Niels Rogge, José María Pérez-García).
_SUBMITTER_NAME = r"@?[\w.-]{1,40}|[^\W\d_][\w'’.-]*(?:\s+[^\W\d_][\w'’.-]*){1,3}"
#: An avatar's alternative text, which a page saved as text and some copies keep
#: beside a submitter's or author's name: "akhaliq's avatar", "Avatar of akhaliq".
#: Only beside such a line (:func:`_avatar_beside`): titles "Avatar" and
#: "Everybody's Avatar" were dropped, and the error blamed the abstract under them.
_AVATAR = lazy(r"@?[\w.-]{1,40}['’]s\s+avatar|avatar\s+(?:of|for)\s+@?[\w.-]{1,40}", re.IGNORECASE)
#: The lines of a paper's card that are neither its title nor its abstract:
#: vote, comment, star and author counts, who submitted it and when it was
#: published.  Copies of the trending, weekly and monthly pages, and of the
#: daily page in some browsers, have them around each paper.
_PAPER_META = lazy(
    rf"(?:[·•|]\s*)?(?:"
    rf"{_COUNT}"  # 58 (upvotes), 1.2k (GitHub stars)
    rf"|(?:upvotes?|upvoted|votes?|comments?|likes?|stars?|github(?:\s+stars?)?|⭐|▲|👍|💬|★)\s*:?\s*{_COUNT}"
    rf"|{_COUNT}\s*(?:upvotes?|votes?|comments?|likes?|stars?|authors?|replies|reply)"
    r"|upvote|·|•|\+\s?\d[\d,]*"  # +49: the upvoters (or authors) a card does not show
    rf"|submitted\s+by(?:\s+(?:{_SUBMITTER_NAME}))?"  # Submitted by akhaliq
    # Published 2 days ago, Submitted by akhaliq · 3 hours ago
    rf"|(?:(?:published|submitted|posted|updated)(?:\s+by\s+(?:{_SUBMITTER_NAME}))?\s*[·•]?\s*)?"
    r"(?:\d+|an?)\s+(?:second|minute|hour|day|week|month|year)s?\s+ago"
    r"|(?:authors?|by)\s*:\s+.+"  # Authors: Ada Lovelace, Grace Hopper
    rf"|.+\s[·•]\s*{_COUNT}\s*authors?"  # Ada Lovelace, Grace Hopper · 24 authors
    r")",
    re.IGNORECASE,
)
_PUBLISHED = lazy(
    rf"(?:[·•]\s*)?(?:(?:published|submitted|posted)(?:\s+by\s+(?:{_SUBMITTER_NAME}))?(?:\s+on)?|on)\s+(?P<date>.{{3,40}})",
    re.IGNORECASE,
)
#: What joins the parts of a card's line: "Published on Sep 4, 2024 · Submitted by akhaliq".
_META_JOIN = lazy(r"\s*[·•]\s*")
_SUBMITTER = lazy(_SUBMITTER_NAME)


def _is_paper_meta(text: str) -> bool:
    """A line of a paper's card that is no title or abstract (see :data:`_PAPER_META`):
    ``58``, ``Upvote 1.2k``, ``· 24 authors``, ``Published on Sep 4, 2024``, or
    such parts joined by ``·`` ("Published on Sep 4, 2024 · Submitted by akhaliq"),
    or the card's authors ending with those it does not show (:func:`_names_and_more`)."""
    if _names_and_more(text) is not None:
        return True
    if len(text) > 80 and not text.endswith(("authors", "author")):
        return False
    text = text.strip()  # (the patterns take any run of white space, no-break spaces too)
    if _PAPER_META.fullmatch(text) or _published(text):
        return True
    parts = [part for part in _META_JOIN.split(text) if part]
    if len(parts) < 2:  # (most lines: the one part was just tried whole)
        return False
    # a bare date among them ("Submitted by akhaliq · Sep 4") is the card's, beside its other parts
    # and so is an avatar's alternative text ("akhaliq's avatar · Submitted by akhaliq")
    meta = [bool(_PAPER_META.fullmatch(part) or _published(part)) for part in parts]
    return any(meta) and all(m or _date_line(part) or _AVATAR.fullmatch(part)
                             for m, part in zip(meta, parts, strict=True))


def _avatar_beside(lines: Sequence[str], k: int) -> bool:
    """Whether line ``k`` is an avatar's alternative text (:data:`_AVATAR`)
    beside a ``Submitted by`` line or a line of names, as a card has it: a
    title such as "Everybody's Avatar" is between abstracts."""
    if not _AVATAR.fullmatch(lines[k].strip()):
        return False
    near = [lines[i].strip() for i in (k - 1, k + 1) if 0 <= i < len(lines)]
    return any(t.casefold().startswith("submitted by") or (_is_name_line(t) and not _is_page_chrome(t))
               or (" " not in t and _SUBMITTER.fullmatch(t) is not None) for t in near if t)


#: A card's authors ending with the names it does not show: "Ada Lovelace, Grace Hopper +5 authors",
#: "Ada Lovelace · Grace Hopper · +5", "Ada Lovelace, Grace Hopper, and 3 others", "Ada Lovelace et al.".
_NAMES_AND_MORE = lazy(
    r"(?P<names>[^\W\d_].*?)(?:\s*[,·•]\s*|\s+)(?:and\s+)?"
    r"(?P<more>\+\s?\d[\d,]*(?:\s+(?:more|others?|authors?))?|\d[\d,]*\s+(?:more|others?|authors?)|et\.?\s+al)\.?",
    re.IGNORECASE,
)
_NAMES_AND_MORE_SPLIT = lazy(r"\s*[,;·•&]\s*|\s+and\s+")
#: A person's name: one to five words, each capitalised or a particle ("van", "de", "al").
_PERSON = lazy(r"[^\W\d_](?:[^\W\d_]|['’.-])*(?:\s+[^\W\d_](?:[^\W\d_]|['’.-])*){0,4}")


def _names_and_more(text: str) -> list[str] | None:
    """The names of a card's authors line that ends with the ones it does not
    show ("+5 authors", "and 3 others", "et al."): that ending makes it names,
    where a line of names alone may be a title.  They were a paper titled
    'Ada Lovelace · Grace Hopper · +5 authors', or glued to its abstract."""
    if len(text) > MAX_TITLE_CHARS or not _ends_as_more(text) or not (m := _NAMES_AND_MORE.fullmatch(text.strip())):
        return None
    names = [_spaced(n) for n in _NAMES_AND_MORE_SPLIT.split(m.group("names")) if n.strip()]
    people = names and all(
        _PERSON.fullmatch(n) and all(w[0].isupper() or (w.islower() and len(w) <= 3) for w in n.split())
        and n[0].isupper() for n in names
    )
    # a bare "+5" (the upvoters a card does not show, too) names more authors only after two names
    return names if people and (len(names) > 1 or not m.group("more").lstrip("+ ").isdigit()) else None


#: How a line :data:`_NAMES_AND_MORE` takes ends ("+5", "3 others", "et al."), its full stop left out.
_MORE_ENDS = ("more", "other", "others", "author", "authors", "al")


def _ends_as_more(text: str) -> bool:
    """Whether ``text`` ends as :data:`_NAMES_AND_MORE` needs: the pattern,
    tried on every line that may be a title, costs a scan of the line;
    this look at its end answers most lines."""
    end = text.rstrip().removesuffix(".").casefold()
    return end[-1:].isdigit() or end.endswith((",", *_MORE_ENDS))


def _published(text: str) -> bool:
    """``Published on Sep 4, 2024``, ``Submitted by akhaliq on Sep 5, 2024``, ``on Sep 5, 2024``."""
    m = _PUBLISHED.fullmatch(text)
    return bool(m and _date_line(_spaced(m.group("date")).rstrip(".")))


_NAME = lazy(r"(?:[A-Z][\w'’-]*\.?|[a-z]{1,3})(?:\s+(?:[A-Z][\w'’-]*\.?|[a-z]{1,3})){1,3}")
_FIRST_NAME = lazy(rf"\s*{_NAME.pattern}(?:\s*,|\s+and\s|\s*&)")


def _abstract_goes_on(text: str) -> bool:
    """Whether a paragraph read as an abstract is one, so that an over-long
    paragraph after it (where a title belongs) is its second paragraph: it
    is sentences (two, or one past half a title's length, ending with a
    full stop).  A title read where an abstract belongs (a paper without
    one) ends without a full stop, as titles do."""
    text = text.rstrip()
    sentences = len(re.findall(r"[.!?][)\"”’]?(?:\s|$)", text))
    return text.endswith((".", ".)", ".”", '."')) and (sentences >= 2 or len(text) > MAX_TITLE_CHARS // 2)


def _reads_as_title(text: str) -> bool:
    """Short, not one sentence mark in it, and most of its longer words capitalised:
    "Reduced-Order Neural Operators: Learning Lagrangian Dynamics".  No abstract
    reads so (an odd one such as "We bound the error by $O(n^{-1/2})$" has
    lower-case words)."""
    if len(text) > MAX_TITLE_CHARS or any(c in text for c in ".!?"):
        return False
    words = [w for w in text.split() if len(w) > 3 and w[0].isalpha()]
    return len(words) >= 2 and sum(w[0].isupper() for w in words) >= 0.6 * len(words)


def _looks_like_names(text: str) -> bool:
    """"Ada Lovelace, Grace Hopper and E. Noether": two names or more, each of
    two to four capitalised words (particles such as "van", "de" allowed).
    Only a hint in an error: a title can look like this too."""
    if not _FIRST_NAME.match(text):  # (an abstract fails within its first words, before any split)
        return False
    names = [n for n in re.split(r",\s*|\s+and\s+|\s*&\s*", text.strip()) if n]
    return len(names) >= 2 and all(_NAME.fullmatch(n) and n[0].isupper() for n in names)


#: Said with every line of author names found (see :func:`_names_line`).
_AUTHOR_LINES_SKIPPED = ("a line 'Authors: ...' between a title and its abstract is read as the paper's authors; "
                         "one ending '· N authors' is skipped")


def _names_line(line: int, text: str) -> str:
    """What to say of a line of author names where a title or an abstract belongs."""
    return (f"line {line}, {_short(text)!r}, looks like a list of author names without 'Authors:' before it: "
            "write 'Authors: ' before the names, or delete that line")


def _is_submitter(text: str, after: str | None) -> bool:
    """Whether ``text``, under a ``Submitted by`` line, names who submitted the
    paper: a user name, or a name of two to four words unless an abstract
    follows it (then it is the title of a card showing no name)."""
    if not _SUBMITTER.fullmatch(text):
        return False
    if " " not in text.strip() or after is None:
        return True
    return not _abstract_goes_on(after)


#: A separator alone on its line: a copy puts each part of a card's line on one of its own.
_SEPARATOR = frozenset("·•|")


def _names_before_more(blocks: Sequence[tuple[int, str]], k: int) -> bool:
    """Whether block ``k`` is a card's shown authors, split from the count of
    the rest by a separator alone on its line ("Jane Doe", "·", "5 authors":
    a copy that puts each part of the card's line on one of its own).  The
    names were kept between the title and the abstract, and the paper refused."""
    return (k + 2 < len(blocks) and blocks[k + 1][1].strip() in _SEPARATOR
            and _names_and_more(f"{blocks[k][1].strip()} · {blocks[k + 2][1].strip()}") is not None)


def _separated_joined(lines: list[str]) -> list[str]:
    """``lines`` with the parts a separator alone on its line splits joined
    around it ("Jane Doe", "·", "5 authors" is "Jane Doe · 5 authors")."""
    joined: list[str] = []
    k = 0
    while k < len(lines):
        if joined and lines[k].strip() in _SEPARATOR and k + 1 < len(lines):
            joined[-1] = f"{joined[-1].strip()} · {lines[k + 1].strip()}"
            k += 2
            continue
        joined.append(lines[k])
        k += 1
    return joined


#: The heading of the site's own summary of a paper, over or instead of its abstract.
_AI_SUMMARY = "ai-generated summary"


def _without_paper_meta(
    blocks: list[tuple[int, str]], linked: dict[int, str] | None = None
) -> tuple[list[tuple[int, str]], bool, dict[int, CardLine]]:
    """``blocks`` less the lines of the papers' cards (:func:`_is_paper_meta`),
    the user name after a ``Submitted by`` on a line of its own, an
    "AI-generated summary" heading (with the summary under it, when the
    abstract follows: it shifted every pair after it), and a card's links and
    ``arXiv:ID`` line (:func:`_card_line`, :func:`_under_a_title`); whether
    such lines came after the last block kept (the copy went on past the last
    abstract: it is whole); and the arXiv id and code a card's lines give its
    title, by the title's line (an id from its links' targets too: ``linked``,
    by line, see :func:`_without_link_targets`)."""
    kept: list[tuple[int, str]] = []
    after_submitted_by = meta_at_end = False
    dropped: set[int] = set()  # an AI summary with the paper's abstract under it
    cards: dict[int, CardLine] = {}
    texts = [t for _, t in blocks]  # (once: made for each block, a big export's read was quadratic)
    for k, (line, text) in enumerate(blocks):
        if k in dropped:
            continue
        if (card := _card_line(text)) is not None and (
            not _ARXIV_LINE.fullmatch(text.strip()) or _under_a_title(blocks, k, kept)
        ):
            # a card's "arXiv:2406.01234" or "arXiv Page · PDF · Code" between its title and abstract: it
            # was read as the abstract (or a paper's page), and the title after it had none
            if kept and _titles_card(kept[-1][1]):
                was = cards.get(kept[-1][0], CardLine(None, None))
                cards[kept[-1][0]] = CardLine(was.arxiv_id or card.arxiv_id or (linked or {}).get(line),
                                              was.github or card.github)
            meta_at_end = True
            continue
        if _folds_to(text, _AI_SUMMARY, colons=True):
            # the heading, and the summary under it when the abstract follows (else it is the paper's text)
            if k + 2 < len(blocks) and _abstract_goes_on(blocks[k + 2][1]):
                dropped.add(k + 1)
            continue
        if _avatar_beside(texts, k):
            # (between "Submitted by" and the name too: it was taken for the name, and the name for a title)
            meta_at_end = True
            continue
        if after_submitted_by and _is_submitter(text, blocks[k + 1][1] if k + 1 < len(blocks) else None):
            after_submitted_by = False
            continue
        if _AUTHORS_HEADING.fullmatch(text):
            # "Authors:" over the names, a line each with "," lines between (a page copied without blank
            # lines): they were a paper titled "Ada Lovelace" whose abstract was ",", without a word
            dropped.update(range(k + 1, _names_end(blocks, k)))
            meta_at_end = True
            continue
        after_submitted_by = _folds_to(text, "submitted by")
        meta_at_end = _is_paper_meta(text) or _names_before_more(blocks, k)
        if not meta_at_end:
            kept.append((line, text))
    return kept, meta_at_end or after_submitted_by, cards


class CardLine(NamedTuple):
    """What a card's line of links names: its paper's arXiv id, its code on GitHub."""

    arxiv_id: str | None
    github: str | None


#: The words of the links a card shows between its title and abstract ("arXiv Page", "PDF",
#: "Code", "GitHub 1.2k", "Project page"), and those of them no other line is made of.
_LINK_WORDS = frozenset("arxiv page pdf code github project website view abs html demo paper hf homepage".split())
_STRONG_LINK_WORDS = frozenset("arxiv pdf code github".split())
#: A paper's id on a card's line: arXiv:ID, arXiv ID, [ID], a bare ID (a category after it), a
#: link to its arXiv or Hugging Face page, arXiv's DOI for it.
_ID_PART = lazy(
    r"(?:arxiv\s*:?\s*|(?:https?://)?(?:www\.|export\.)?(?:arxiv\.org/(?:abs|pdf)/|huggingface\.co/papers/)"
    rf"|(?:doi\s*:?\s*)?(?:https?://(?:dx\.)?doi\.org/)?10\.48550/arxiv\.)?\[?(?P<id>{ARXIV_ID})\]?(?:\.pdf)?/?"
    r"(?:\s*\[[\w.-]+\])?",
    re.IGNORECASE,
)
#: A link on a card's line, bare or after a label of link words: "Code: https://github.com/...".
_URL_PART = lazy(r"(?:(?P<label>[^\W\d_]+(?:\s+[^\W\d_]+){0,2})\s*:?\s+)?<?(?P<url>https?://[^\s<>]+)>?",
                 re.IGNORECASE)
_CARD_SPLIT = lazy(r"\s*[·•|]\s*")


def _link_words(text: str, strong: bool = True) -> bool:
    """Link words only ("arXiv Page", "PDF", "GitHub 1.2k"), one of them a strong
    one unless ``strong`` is false ("Paper" beside "PDF")."""
    words = _MENU_WORD.findall(text.casefold())
    return (bool(words) and (not strong or any(w in _STRONG_LINK_WORDS for w in words))
            and all(w in _LINK_WORDS or _YEAR_OR_COUNT.fullmatch(w) for w in words))


def _card_line(text: str) -> CardLine | None:
    """A line of a card's links and id ("arXiv:2406.01234", "arXiv Page · PDF ·
    Code", "https://arxiv.org/abs/ID", "Code: https://github.com/...", with
    the card's counts beside them) and what it names; None for any other line
    (a part that is none of those: no title is made of link words only)."""
    if len(text) > _MAX_CHROME_CHARS or _is_page_chrome(text):
        return None
    arxiv_id = github = None
    named = False
    for part in _CARD_SPLIT.split(text.strip()):
        if not part:
            continue
        if m := _ID_PART.fullmatch(part):
            arxiv_id, named = arxiv_id or m["id"], True
        elif (m := _URL_PART.fullmatch(part)) and (not m["label"] or _link_words(m["label"])):
            named = True
            github = github or (m["url"] if "github.com/" in m["url"] else None)
            arxiv_id = arxiv_id or ((paper := _PAPER_LINK.search(m["url"])) and paper.group(1)) or None
        elif _link_words(part):
            named = True
        elif not (_link_words(part, strong=False) or _is_paper_meta(part)):
            return None
    return CardLine(arxiv_id, github) if named else None


def _titles_card(text: str) -> bool:
    """Whether a block read just before a card's links or ``arXiv:ID`` line is
    the card's title (not the header, a paper's abstract or the page's chrome)."""
    return len(text) <= MAX_TITLE_CHARS and not _is_page_chrome(text) and not _abstract_goes_on(text)


def _under_a_title(blocks: list[tuple[int, str]], k: int, kept: list[tuple[int, str]]) -> bool:
    """Whether the ``arxiv:ID`` line ``blocks[k]`` is a card's: under the card's
    title, over its abstract (or its 'Abstract' heading).  A paper's own page
    has the line over its title instead (see :func:`_paper_page`): what
    follows it there reads as a title."""
    if not kept or not _titles_card(kept[-1][1]):
        return False
    after = next((t for _, t in blocks[k + 1:] if not (_is_paper_meta(t) or _card_line(t))), None)
    if after is None:
        return False
    heading = _folds_to(after, _ABSTRACT_HEADING, colons=True)
    return heading or len(after) > MAX_TITLE_CHARS or not _reads_as_title(after)


#: The heading of a list of names on lines of their own (see :func:`_names_end`).
_AUTHORS_HEADING = lazy(r"authors?\s*:", re.IGNORECASE)
#: A sentence's end: a word (not an initial, "E.") and a full stop.
_WORD_AND_STOP = lazy(r"[^\W\d_]{3,}[.!?](?:\s|$)")
#: What the site puts on a line of its own between two names.
_NAME_SEPARATORS = frozenset({",", ";", "·", "&", "and"})


def _names_end(blocks: list[tuple[int, str]], k: int) -> int:
    """The index after the names under the ``Authors:`` line ``blocks[k]``:
    a name, then another after each line of a comma (or a name ending in
    one).  What follows the last name, a title or an abstract, is not taken
    for one."""
    j = k + 1
    while j < len(blocks) and _is_name_line(blocks[j][1]):
        j += 1
        if blocks[j - 1][1].rstrip().endswith(","):
            continue
        if j < len(blocks) and blocks[j][1].strip().casefold() in _NAME_SEPARATORS:
            j += 1
            continue
        break
    if j < len(blocks) and _NO_NAME.fullmatch(blocks[j][1].strip()):  # "+12": the names not shown
        j += 1
    return j


def _is_name_line(text: str) -> bool:
    """A line of one name or a few ("Ada Lovelace", "Ada Lovelace, Grace Hopper",
    "+12"): short, no sentence in it, each part a name."""
    parts = [part for part in map(_spaced, _NAMES_SPLIT.split(text)) if part]
    return (len(text) <= MAX_TITLE_CHARS and not _WORD_AND_STOP.search(text)
            and bool(parts) and all(_is_a_name(part) and len(part.split()) <= 6 for part in parts))


def _blocks(text: str) -> list[tuple[int, str]]:
    """(line number, text) of each paragraph, or of each line where the export
    has no blank lines: each export of a file (see :func:`_exports`) in its own layout."""
    content = [(i + 1, "" if _RULE_LINE.fullmatch(ln) else ln.strip()) for i, ln in enumerate(text.split("\n"))]
    return [block for export in _exports(content) for block in _layout_blocks(export)]


#: A rule between papers as a text save or a text browser writes it: a line of
#: one sign repeated ("-----", "=====", "─────", "* * *"), which was read as a title.
_RULE_LINE = lazy(r"\s*([-_=*~─━═])(?:\s*\1){2,}\s*")


def _exports(content: list[tuple[int, str]]) -> list[list[tuple[int, str]]]:
    """``content`` cut where another export saved into the same file starts: at
    a page header line after a line of papers.  Each is in its own layout: a
    copy without blank lines under one with them was read as one paragraph,
    its papers glued to the last abstract without a word."""
    exports: list[list[tuple[int, str]]] = []
    start, papers_seen = 0, False
    for k, (_, t) in enumerate(content):
        if not t:
            continue
        if _is_header(t):
            if papers_seen:
                # the next export's chrome above its header ("new") under the last abstract without a blank
                # line (`cat` of exports that end in one line break): it was glued to that abstract
                cut = _glued_chrome(content, start, k)
                exports.append(content[start:cut])
                start, papers_seen = cut, False
        elif not papers_seen and not _is_page_chrome(t):
            papers_seen = True
    # the page's footer glued under the last abstract ("Previous", "Next"): that paper was dropped as cut off
    cut = _glued_chrome(content, start, len(content), after_a_sentence=True)
    exports.append(content[start:cut])
    if cut < len(content):
        exports.append(content[cut:])
    return exports


def _glued_chrome(content: list[tuple[int, str]], start: int, k: int, *, after_a_sentence: bool = False) -> int:
    """Where the export before the page header at ``k`` (or the file's end)
    ends: before the lines of page chrome ("new", "Previous") above it, blank
    lines between, when they are glued to the last line of papers (no blank
    line after it; at the file's end, ``after_a_sentence``, footer lines
    under a line that ends a sentence, an abstract's); else at ``k`` (chrome in a paragraph of its own is the
    export's footer, as before)."""
    j = k
    while j - 1 > start and not content[j - 1][1]:
        j -= 1
    end = j
    chrome = _is_footer if after_a_sentence else _is_page_chrome
    while j - 1 > start and content[j - 1][1] and chrome(content[j - 1][1]):
        j -= 1
    glued = j < end and j - 1 > start and bool(content[j - 1][1])
    if glued and after_a_sentence:
        glued = bool(_SENTENCE_END.search(content[j - 1][1][-2:] + " "))
    return j if glued else k


def _layout_blocks(content: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """:func:`_blocks` of one export: (line number, text) of each of its lines."""
    nonblank = [(n, t) for n, t in content if t]
    if not nonblank:
        return []
    # the layout is told by the papers: the header may have blank lines where they have none
    first = next((n for n, t in nonblank if not _is_page_chrome(t)), nonblank[0][0])
    last = nonblank[-1][0]
    has_blank_lines = any(not t for n, t in content if first < n < last)
    if not has_blank_lines or _glued_subscribe(nonblank):
        return nonblank
    # each paragraph's lines (a line of chrome or of a card's counts alone, as a paragraph that is no candidate)
    paragraphs: list[list[tuple[int, str]]] = []
    alone: set[int] = set()  # indexes of those
    links: dict[int, list[tuple[int, str]]] = {}  # a card's link lines, by its paragraph's index
    current: list[tuple[int, str]] = []
    texts = [t for _, t in content]
    for i, (n, t) in enumerate(content):
        if t and not current and _is_page_chrome(t):
            # a header line is a block even with no blank line after it ("Sep 4" right above a title)
            alone.add(len(paragraphs))
            paragraphs.append([(n, t)])
        elif t and current and _card_links_under(current, links.get(len(paragraphs), ()), n, t):
            links.setdefault(len(paragraphs), []).append((n, t))
        elif t and (_is_paper_meta(t) or _avatar_beside(texts, i) or _folds_to(t, _AI_SUMMARY, colons=True)
                    or (not current and _card_line(t))
                    or (len(t) < _MAX_NAV_CHARS and " " in t and _key(t) in _CHROME_KEYS)) or (
            t and not current and paragraphs and _folds_to(paragraphs[-1][0][1], "submitted by")
            and _SUBMITTER.fullmatch(t)
        ):
            # a line of a paper's card ("58", "· 24 authors"), or of the page's of two words or more
            # ("Read more" under an abstract), is a block of its own, even glued to a title or abstract
            if current:
                paragraphs.append(current)
                current = []
            alone.add(len(paragraphs))
            paragraphs.append([(n, t)])
        elif t:
            current.append((n, t))
        elif current:
            paragraphs.append(current)
            current = []
    if current:
        paragraphs.append(current)
    cards = _card_layout([para for k, para in enumerate(paragraphs) if k not in alone])
    blocks: list[tuple[int, str]] = []
    for k, para in enumerate(paragraphs):
        if len(para) == 1:  # (most are)
            blocks.append(para[0])
        elif cards and k not in alone:
            # the card's title line, its abstract under it (and its links where they are, in line order)
            # a short line between the title and a long abstract (names, a venue, a heading) is a block of its
            # own, to be read or refused: glued to the abstract, it was the abstract's first words
            lone = [para[1]] if len(para) > 2 and _between_title_and_abstract(para[1][1], para[2][1]) else []
            rest = para[1 + len(lone):]
            blocks.extend(sorted([para[0], *lone, (rest[0][0], _wrapped_lines([t for _, t in rest])), *links.pop(k, ())]))
        else:
            # a short line over a paragraph under a title (names, a venue) is a block of its own too
            lone = [para[0]] if _stray_over(paragraphs, alone, k) else []
            rest = para[len(lone):]
            # from a paper's title line inside it on, each line is a block, as in the layout without blank lines
            cut = next((i for i in range(len(rest)) if _paper_starts_inside(rest, i)), len(rest))
            blocks.extend(lone)
            if cut:
                blocks.append((rest[0][0], _wrapped_lines([t for _, t in rest[:cut]])))
            blocks.extend(rest[cut:])
        blocks.extend(links.pop(k, ()))
    return blocks


def _paper_starts_inside(lines: Sequence[tuple[int, str]], i: int) -> bool:
    """Whether line ``i`` of a paragraph, in the layout with blank lines, is a
    paper's title over its abstract's line, with no blank line between: it
    reads as a title, the line under it is a whole abstract (longer than any
    title, ending a sentence) and the line over it, if any, is one too.  A
    paper so written among papers with blank lines (an export mended by hand),
    or papers of the layout without them appended under the last abstract,
    were one paragraph, glued to the abstract before as its second paragraph:
    those papers were lost without a word.  Lines an editor wrapped are never
    longer than a title, so none of an abstract's own lines is taken so.
    From there on each line is read as in the layout without blank lines,
    pair by pair, where a line that breaks the pattern (an abstract without
    a full stop, a title with a question mark inside) is read or refused as
    there: cut only where the pattern held, the papers after it were glued
    to an abstract again."""
    if i + 1 >= len(lines) or len(after := lines[i + 1][1]) <= MAX_TITLE_CHARS:  # (a wrapped line: most ask)
        return False
    text = lines[i][1]
    if (len(text) > MAX_TITLE_CHARS or not _reads_as_title(text.removesuffix("?")) or _is_page_chrome(text)
            or not _abstract_goes_on(after)):
        return False
    before = lines[i - 1][1] if i else None
    return before is None or (len(before) > MAX_TITLE_CHARS and _abstract_goes_on(before))


def _stray_over(paragraphs: list[list[tuple[int, str]]], alone: set[int], k: int) -> bool:
    """Whether the first line of paragraph ``k``, in the layout with blank lines
    between title and abstract, is no part of the abstract it is glued to: the
    paragraph before is a title (one line, no abstract) and the line is one a
    card would have between them (:func:`_between_title_and_abstract`)."""
    para = paragraphs[k]
    if len(para) < 2 or k == 0 or k - 1 in alone or len(paragraphs[k - 1]) != 1:
        return False
    title = paragraphs[k - 1][0][1]
    return (len(title) <= MAX_TITLE_CHARS and not _abstract_goes_on(title)
            and _between_title_and_abstract(para[0][1], para[1][1]))


def _card_links_under(current: list[tuple[int, str]], links: Sequence[tuple[int, str]], n: int, text: str) -> bool:
    """Whether line ``n``, ``text``, is a card's links or arXiv id under its title
    in the card's paragraph (``current`` its lines so far, ``links`` those
    taken out of it): right under the title, or under such a line.  Further
    down it is the abstract's: a wrapped abstract's line may be a link alone
    ("... code at" over "https://github.com/..."), and so may its first line's
    next one, unless that first line reads as a title."""
    if not (len(current) == 1 or (links and links[-1][0] == n - 1)) or _card_line(text) is None:
        return False
    return not _URL_PART.search(text) or _reads_as_title(current[0][1])


def _between_title_and_abstract(line: str, after: str) -> bool:
    """Whether a card's second line is no part of its abstract: the 'Abstract'
    heading, or a short line over a line more than twice as long (a card's
    authors or venue; a wrapped abstract's lines are all about as long as
    each other).  One ending a sentence is so when it is a few words or
    names ("Accepted at NeurIPS 2024.", "Ada Lovelace et al."): a browser
    copies an abstract as one line, so a short first sentence on a line of
    its own is a line of the card's."""
    if _folds_to(line, _ABSTRACT_HEADING, colons=True):
        return True
    if len(line) > _MAX_NAV_CHARS * 2 or len(after) <= 2 * len(line):
        return False
    return (not _SENTENCE_END.search(line[-2:] + " ") or len(line.split()) <= _STRAY_SENTENCE_WORDS
            or _looks_like_names(line))


#: At most so many words, a line ending a sentence over a much longer one is
#: no part of the abstract under it (see :func:`_between_title_and_abstract`).
_STRAY_SENTENCE_WORDS = 8


#: Paragraphs, of those that may be papers, that must be "a title line, then
#: an abstract" for the export to be read as cards (see :func:`_card_layout`).
_CARDS_SHARE = 0.8
#: Shorter than an abstract is.
_MIN_ABSTRACT_CHARS = 100
#: Longer than any abstract, in two paragraphs or one (arXiv takes 1,920 characters):
#: a "second paragraph" that makes an abstract longer is something else.
_MAX_ABSTRACT_CHARS = 5000


def _card_layout(paragraphs: list[list[tuple[int, str]]]) -> bool:
    """Whether the papers are cards, one paragraph each: the title on its first
    line, the abstract on the lines under it, blank lines between papers (a
    browser that copies a card as one block).  Told by nearly every paragraph
    being so; in the layout with blank lines between title and abstract, titles
    are paragraphs of their own (and a copy that wraps lines, a text browser's,
    has abstracts over many lines but titles alone), so at most half are."""
    if len(paragraphs) < 2:
        return False
    others, most = 0, (1 - _CARDS_SHARE) * len(paragraphs)
    for para in paragraphs:
        if not (len(para) > 1 and len(para[0][1]) <= MAX_TITLE_CHARS
                and sum(len(t) for _, t in para[1:]) >= _MIN_ABSTRACT_CHARS):
            others += 1
            if others > most:  # (a layout of another kind is told within its first paragraphs)
                return False
    return True


def _glued_subscribe(nonblank: list[tuple[int, str]]) -> bool:
    """Layout (b), told by ``Subscribe`` glued to the first title: its blank lines are strays."""
    for _, text in nonblank[: _MAX_NAV_LINES + 8]:
        folded = text.casefold()
        if folded == _SUBSCRIBE:
            return False
        if folded.startswith(_SUBSCRIBE) and len(folded) > len(_SUBSCRIBE):
            return True
    return False


#: A web page saved from the browser: "Web Page, HTML only" / "complete", or
#: Chrome's single-file MHTML (a MIME message holding the page).
_HTML_PAGE = lazy(r"<!doctype\s+html|<html[\s>]|^From: <Saved by |^Content-Type: multipart/related",
                        re.IGNORECASE | re.MULTILINE)
_HTML_PAGE_HINT = (
    " (it is a web page saved as HTML: the export is the page's text; in the browser select all "
    "(Ctrl+A), copy, and paste into a .txt file)"
)

#: A papers page saved whole: the daily papers are in its data, which hf-daily reads.
_DAILY_PAGE_HINT = (
    " (it is Hugging Face's papers page saved as HTML: type: hf-daily reads such a page as it is, each paper "
    "with its authors and date)"
)

#: A paper of a Hugging Face collection as its page shows it under the title: "Paper • 2409.02345 •
#: Published Sep 4, 2024 • 57", on one line or each part on a line (or a paragraph) of its own.
_COLLECTION_ITEM = lazy(r"^[ \t]*Paper\s*(?:[•·]\s*)?(\d{4}\.\d{4,5})\b", re.MULTILINE)


def _hf_collection(text: str) -> str | None:
    """What to say of a Hugging Face collection's page copied as text (titles
    over "Paper • 2409.02345 • Published ..."), or None for other text.  It
    shows no abstracts, which a listing export needs; the papers it names are
    what a topic's ``like:`` takes.  It was "is this a papers listing export?"."""
    ids = list(dict.fromkeys(m.group(1) for m in _COLLECTION_ITEM.finditer(text[:1 << 20])))
    if len(ids) < 2:
        return None
    shown = ", ".join(ids[:5]) + (", ..." if len(ids) > 5 else "")
    return (f"a Hugging Face collection of {len(ids)} papers, which shows no abstracts for topics to match; to rank "
            f"the digest by these papers, list their ids under a topic's like: [{shown}]; the daily papers page, "
            "copied, is the export")


_MD_HEADING = lazy(r"[ ]{0,3}#{1,6}[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*")
_MD_LINK = lazy(r"(!?)\[([^\]\n]*)\]\((?:<([^>\n]*)>|([^)\s]*))(?:[ \t]+\"[^\"\n]*\")?\)")
_MD_RULE = lazy(r"[ ]{0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*")
_MD_QUOTE = lazy(r"[ ]{0,3}>[ ]?")
_MD_ESCAPE = lazy(r"\\([\\`*_{}\[\]()#+\-.!>~|:])")
#: A paper's page, as a link to it names it: on Hugging Face or arXiv.
_PAPER_LINK = lazy(rf"(?:(?:huggingface\.co)?/papers/|arxiv\.org/(?:abs|pdf)/)({ARXIV_ID})(?:\.pdf)?/?(?:[?#].*)?$")
#: Lines a Markdown copy of the page has: a heading, or a line that is a link.
_MD_SIGN = lazy(r"^[ ]{0,3}#{1,6}[ \t]+\S|^[ ]{0,3}(?:#{0,6}|[-*+]|\d{1,4}[.)])[ \t]*\[[^\]\n]+\]\((?:https?://|/)",
                re.MULTILINE)
#: A list item's mark before a link ("- [Title](...)", "1. [Title](...)"): a clipper's list of the papers.
_MD_LIST_LINK = lazy(r"^[ ]{0,3}(?:[-*+]|\d{1,4}[.)])[ \t]+(?=\[[^\]\n]+\]\()")


def _from_markdown(text: str) -> tuple[str, dict[str, str]]:
    """A Markdown copy of the page (a clipper such as Obsidian's or MarkDownload
    saves one) as the page's text, line for line, and the arXiv id of each
    title that links to its paper (``### [Title](https://huggingface.co/papers/ID)``).
    Its front matter and rules become blank lines; headings, quotes, links,
    images and backslash escapes give their text.  A text copy is returned
    as it is: told by its having fewer than two headings or link lines."""
    if "\n#" not in text and "](" not in text and not text.startswith("#"):  # (a text copy: most are)
        return text, {}
    signs = _MD_SIGN.finditer(text)
    if next(signs, None) is None or next(signs, None) is None:
        return text, {}
    lines = text.split("\n")
    if lines[0].strip() == "---":  # front matter: blank, so that line numbers hold
        end = next((i for i in range(1, min(len(lines), 60)) if lines[i].strip() == "---"), None)
        if end is not None:
            lines[: end + 1] = [""] * (end + 1)
    ids: dict[str, str] = {}
    for i, line in enumerate(lines):
        if _MD_RULE.fullmatch(line):
            lines[i] = ""
            continue
        while (quote := _MD_QUOTE.match(line)) is not None:
            line = line[quote.end():]
        if heading := _MD_HEADING.fullmatch(line):
            line = heading.group(1)
        line = _MD_LIST_LINK.sub("", line, count=1)
        whole = _MD_LINK.fullmatch(line.strip())
        line = _MD_LINK.sub(lambda m: "" if m.group(1) else m.group(2), line)
        line = _MD_ESCAPE.sub(r"\1", line)
        if whole and not whole.group(1) and (target := _PAPER_LINK.search(whole.group(3) or whole.group(4) or "")):
            ids[_spaced(line)] = target.group(1)
        lines[i] = line
    return "\n".join(lines), ids


#: What a browser's "save as text" writes after a link's text: `` <https://...>``.
_LINK_TARGET = lazy(r"[ \t]*<(https?://[^\s<>]+)>")
_SENTENCE_END = lazy(r"[.!?][)\"”’]?(?:\s|$)")
_SITE_LINK = lazy(r"https://(?:huggingface\.co|arxiv\.org)/")


def _without_link_targets(text: str) -> tuple[str, dict[str, str], dict[int, str]]:
    """``text`` less the link targets a text save puts after each link's text
    ("Daily Papers <https://huggingface.co/papers>", "Title <https://huggingface.co/papers/ID>"),
    and the arXiv id of each title whose link is its paper's page.  Read as
    text, the header's links were no header (its lines became a paper) and
    each title ended with its link.  Only in a line as short as a title, and
    that is no sentence or links only to the site or arXiv: an abstract's
    "Code at <https://github.com/...>. It runs." keeps its link.  Also the
    arXiv id a line's links name, by line number: a card's "arXiv Page
    <https://arxiv.org/abs/ID> · PDF <...>" names its paper (see
    :func:`_without_paper_meta`)."""
    if "<http" not in text:
        return text, {}, {}
    lines = text.split("\n")
    ids: dict[str, str] = {}
    by_line: dict[int, str] = {}
    for i, line in enumerate(lines):
        targets = _LINK_TARGET.findall(line) if "<http" in line else []
        plain = _LINK_TARGET.sub("", line)
        if not targets or len(plain) > MAX_TITLE_CHARS:
            continue
        if _SENTENCE_END.search(plain) and not all(_SITE_LINK.match(t) for t in targets):
            continue
        lines[i] = plain
        if line.rstrip().endswith(">") and (paper := _PAPER_LINK.search(targets[-1])):
            ids[_spaced(plain)] = paper.group(1)
        if found := next((m.group(1) for t in targets if (m := _PAPER_LINK.search(t))), None):
            by_line[i + 1] = found
    return "\n".join(lines), ids, by_line


def parse_hf_papers_text(
    data: bytes, name: str, source: str = "hf-papers-text", warn: Callable[[str], None] | None = None
) -> list[Paper]:
    """Parse the text export of a Hugging Face papers listing page, either layout.

    (a) header paragraphs, then title and abstract paragraphs separated by
    blank lines; (b) no blank lines, ``Subscribe`` glued to the first title,
    then title and abstract lines alternating.  ``name`` is how the file is
    named in errors.

    An export cut off inside its last abstract (a truncated download or copy:
    see :func:`_cut_off`) gives every paper but that one, and says so through
    ``warn`` (default: the log) at the paper's ``FILE:LINE``: sent with half
    an abstract, the paper would count as delivered and never come whole.
    """
    warn = warn if warn is not None else log.warning
    if b"\\\\" in data:  # (every entry of arXiv's daily e-mail has a "\\" line: `listings` only then)
        from .listings import arxiv_mail, parse_arxiv_mail

        if (mail := arxiv_mail(data)) is not None:  # arXiv's daily e-mail saved among the exports
            return parse_arxiv_mail(mail, name, source, warn, raw=data)
    decoded = decode_text(data, name, cut_ok=True)
    text = decoded
    if "References" in text:  # maybe a text browser's dump (listings' patterns only then)
        from .listings import without_link_list

        text = without_link_list(text)
    text, ids = _from_markdown(text)
    text, linked, linked_lines = _without_link_targets(text)
    ids.update(linked)
    raw = _blocks(text)
    blocks, meta_at_end, cards = _without_paper_meta(raw, linked_lines)
    if not blocks:
        raise InputError(Problem("empty file, expected the text export of a Hugging Face papers page", name, 1))

    i, header = _skip_header(blocks, _nav_lines(blocks))
    pages: list[Paper] = []
    if not header:
        from .listings import listing_text, parse_arxiv_listing_text

        if copied := listing_text(decoded[:20000].encode()):  # an arXiv listing copied as text among the exports
            return parse_arxiv_listing_text(decoded, name, source, warn, kind=copied)
        pages, listing = _paper_pages(blocks, raw, name, source)
        if pages and listing is None:
            return pages
        if listing is not None:  # a listing pasted under the papers' pages
            i, header = _skip_header(blocks, listing)
    if not header:
        from .feeds import arxiv_link_list, arxiv_page_said, feed_only_kind, holds_daily_papers, listing_page

        start = blocks[0][1][:1]
        hint = (
            f" (it is {kind}: type: feed reads it)" if (kind := feed_only_kind(data)) is not None
            else f" (it is {links[0]})" if (links := arxiv_link_list(data)) is not None
            else " (it looks like JSON: a saved daily papers answer is read by type: hf-daily)" if start in "[{"
            else f" (it is {arxiv_page_said(page)})" if _HTML_PAGE.search(text[:4096]) and (page := listing_page(data))
            else _DAILY_PAGE_HINT if _HTML_PAGE.search(text[:4096]) and holds_daily_papers(data)
            else _HTML_PAGE_HINT if _HTML_PAGE.search(text[:4096])
            else " (it looks like XML: a saved feed is read by type: feed or arxiv)" if start == "<"
            else f" (it is {collection})" if (collection := _hf_collection(text)) is not None
            else "; is this a papers listing export?"
        )
        raise InputError(
            Problem(
                "no Hugging Face papers page header (lines such as 'Get trending papers in your email inbox!' "
                f"and 'Subscribe'){hint}",
                name,
                blocks[0][0],
            )
        )
    end = len(blocks)
    while end > i and _is_footer(blocks[end - 1][1]):
        end -= 1
    body, footer = blocks[i:end], blocks[end:]
    if not body:
        # A day without papers (a holiday, a weekend) exports as its header alone: an error
        # here failed every send of a folder of daily exports until the file was removed.
        warn(f"{name}:{blocks[-1][0]}: the page header is there but no papers follow it (a day without papers?); "
             "nothing read from this file")
        return []

    papers: list[Paper] = []
    last_title: tuple[int, str] | None = None
    page_last = False  # the last paper read is a paper's page's: the listing before it is whole
    # the header's first line skipped inside the papers, and the block after it: a title, never an abstract's
    # second paragraph (a paper titled "Daily Papers" or "Sep 4" was dropped as a header and its abstract
    # glued to the paper before it, without a word)
    header_again: tuple[int, str] | None = None
    after_header = -1
    k = 0
    while k < len(body):
        t_line, title = body[k]
        if _is_page_chrome(title) and not _titled_like_a_heading(body, k):
            # a page header (and the site's menu) again: two exports saved into one file
            header_again = body[k]
            k, _ = _skip_header(body, k)
            after_header = k
            continue
        if (page_at := _page_ahead(body, k)) is not None and (found := _paper_pages(blocks[i + k:], raw, name, source))[0]:
            # a paper's page pasted under the listing ("title 'arxiv:ID' has no abstract")
            papers.extend(found[0])
            page_last = True
            if found[1] is None:
                break
            k = max(k + found[1], page_at + 1)
            continue
        if len(title) > MAX_TITLE_CHARS or (papers and not page_last and _second_paragraph(body, k)):
            if (last_title and papers and k != after_header and _abstract_goes_on(papers[-1].abstract)
                    and len(papers[-1].abstract) + len(title) <= _MAX_ABSTRACT_CHARS):
                # an abstract of two paragraphs (the page set a blank line inside it): one abstract
                first_part = papers[-1]
                papers[-1] = replace(first_part, abstract=f"{first_part.abstract} {_without_more(_spaced(title))}")
                k += 1
                continue
            at = t_line
            if last_title:
                prev_line, prev = last_title
                why = f"; does {_short(prev)!r} (line {prev_line}) lack its abstract?"
                if papers and len(papers[-1].abstract) < _MIN_ABSTRACT_CHARS and body[k - 1][0] > prev_line:
                    # what was read as that abstract is a line the reader does not know, under the title
                    at, short = body[k - 1]
                    why = (f" at line {t_line}: this line, {_short(short)!r}, under the title {_short(prev)!r} "
                           f"(line {prev_line}), is too short to be its abstract: a line between a title and its "
                           "abstract that is not a card's authors, links or counts? Delete it")
                if _looks_like_names(prev):
                    why = f"; {_names_line(prev_line, prev)} ({_AUTHOR_LINES_SKIPPED})"
                if k == after_header and header_again is not None:
                    at, (h_line, h_text) = t_line, header_again
                    why = (f"; line {h_line}, {_short(h_text)!r}, reads as the page's header, which a title follows, "
                           "not an abstract: is it this abstract's title?")
            else:
                why = "; is the first title missing?"
            raise InputError(
                Problem(f"expected a paper title, found a {len(title):,}-character paragraph{why}", name, at)
            )
        if k + 1 >= len(body):
            after = f" (what follows it, {_short(' '.join(t for _, t in footer))!r}, is page chrome)" if footer else ""
            raise InputError(Problem(f"title {_short(title)!r} has no abstract{after}", name, t_line))
        a_line, abstract = body[k + 1]
        step = 2  # blocks to the next title
        if _folds_to(abstract, _ABSTRACT_HEADING, colons=True) and k + 2 < len(body):
            # a heading over the abstract, as a paper's page and some copies of cards have it: it was the
            # abstract, the abstract the next title, and the error named the wrong paper
            step, (a_line, abstract) = 3, body[k + 2]
        wrapped = step == 2 and k + 2 < len(body) and _wrapped_title(title, abstract, body[k + 2][1])
        if wrapped and a_line == t_line + 1 and _cannot_stand_alone(title, abstract):
            # a title wrapped over two lines (an editor's or a saved page's wrapping, in the layout without
            # blank lines): its second line was refused as another title, or as too short an abstract.
            # Only a second line no title is ("Self-" over "Supervised ...", or one in lower case): a title
            # really ending "...Looking At" or "Be Careful What You Wish For" with no abstract took the next
            # paper's title into its own, silently
            body[k + 1] = (t_line, _joined_title(title, abstract))
            k += 1
            continue
        join = f"; if line {a_line} continues the title, join the two lines" if wrapped else ""
        if _is_page_chrome(abstract):
            raise InputError(
                Problem(f"title {_short(title)!r} has no abstract (line {a_line} {_short(abstract)!r} is page "
                        "chrome)", name, t_line)
            )
        if k + step < len(body) and _reads_as_title(abstract):
            # A title where its abstract belongs: taken in pairs, every paper after it would be shifted.
            if _looks_like_names(title):
                raise InputError(
                    Problem(f"{_names_line(t_line, title)} ({_AUTHOR_LINES_SKIPPED})", name, t_line)
                )
            listing = _reads_as_title(body[k + step][1])  # and so does what would be that title's abstract
            if _looks_like_names(abstract) and not listing:
                # names without an initial's full stop read as a title too: the names are what is wrong
                raise InputError(
                    Problem(f"title {_short(title)!r} has no abstract ({_names_line(a_line, abstract)}; "
                            f"{_AUTHOR_LINES_SKIPPED})", name, t_line)
                )
            why = ("; the next ones too: is this a copy of a listing that shows no abstracts? The export needs each "
                   "paper's abstract under its title" if listing else "")
            raise InputError(
                Problem(f"title {_short(title)!r} has no abstract (line {a_line}, {_short(abstract)!r}, reads as "
                        f"another title: no sentence in it{why}{join})", name, t_line)
            )
        if _looks_like_names(abstract):
            # Title, authors, abstract: taken in pairs, every paper after this one would be shifted.
            raise InputError(
                Problem(f"title {_short(title)!r} has no abstract ({_names_line(a_line, abstract)}; "
                        f"{_AUTHOR_LINES_SKIPPED})", name, t_line)
            )
        if (len(abstract) < _MIN_ABSTRACT_CHARS and k + step < len(body)
                and len(body[k + step][1]) <= MAX_TITLE_CHARS and _abstract_goes_on(body[k + step][1])):
            # a short line under the title, then a short abstract: taken in pairs, the abstract was the next
            # title, and the error named it ("title 'We present ...' has no abstract"; a longer one is
            # "expected a paper title" above)
            raise InputError(
                Problem(f"this line, {_short(abstract)!r}, under the title {_short(title)!r} (line {t_line}), is too "
                        f"short to be its abstract, and line {body[k + step][0]} after it reads as one: a line between "
                        "a title and its abstract that is not a card's authors, links or counts? Delete it (or join "
                        f"it to the abstract's line if it is the abstract's){join}", name, a_line)
            )
        if len(abstract) < _MIN_ABSTRACT_CHARS and _two_lines_over_an_abstract(body, k + step, abstract):
            n_line, nxt = body[k + step]
            raise InputError(
                Problem(f"this line, {_short(abstract)!r}, under the title {_short(title)!r} (line {t_line}), is too "
                        f"short to be its abstract, and line {n_line}, {_short(nxt)!r}, over the abstract at line "
                        f"{body[k + step + 1][0]}, is no sentence either: lines between a title and its abstract that "
                        f"are not a card's authors, links or counts? Delete them ({_AUTHOR_LINES_SKIPPED}); a whole "
                        "abstract this short ends with a full stop", name, a_line)
            )
        if k + step >= len(body) and _looks_like_chrome(abstract):
            # The last "abstract" is a short line of page furniture ("See all papers"):
            # the last title has none.  Refuse rather than invent one.
            raise InputError(
                Problem(f"title {_short(title)!r} has no abstract (line {a_line} {_short(abstract)!r} is too short "
                        "to be one; a line of page chrome after the papers, or an export cut off?)", name, t_line)
            )
        # one space between words, as the page shows them (not the copy's tabs and no-break spaces)
        title, abstract = _spaced(title), _without_label(_without_more(_spaced(abstract)))
        if len(abstract) > _MAX_ABSTRACT_CHARS:
            raise InputError(
                Problem(f"the abstract of {_short(title)!r} is {len(abstract):,} characters long, longer than any "
                        "abstract (arXiv takes 1,920): is another copy glued to it without a blank line?", name, a_line)
            )
        if k + step < len(body) and _goes_on_below(abstract, body[k + step][1]):
            n_line, nxt = body[k + step]
            raise InputError(
                Problem(f"line {n_line}, {_short(nxt)!r}, goes on from the line above it (which ends "
                        f"{_tail(abstract)!r}, inside a sentence), where a title belongs: was the export wrapped at a "
                        "fixed width? Each title and each abstract is one line, or one paragraph between blank "
                        "lines", name, n_line)
            )
        card = cards.get(t_line, CardLine(None, None))
        arxiv_id = ids.get(title) or card.arxiv_id
        details = _card_details(raw, t_line, a_line)
        papers.append(Paper(title=title, abstract=abstract, source=source, location=f"{name}:{t_line}",
                            arxiv_id=arxiv_id, url=abs_url(arxiv_id) if arxiv_id else None,
                            pdf_url=pdf_url(arxiv_id) if arxiv_id else None, authors=details.authors,
                            published=details.published, upvotes=details.upvotes, github=card.github))
        last_title, page_last = (t_line, title), False
        k += step
    if papers and not footer and not meta_at_end and last_title and not page_last and _cut_off(papers[-1].abstract):
        t_line, title = last_title
        a_line = body[-1][0]
        warn(
            f"{name}:{t_line}: the last paper, {title!r}, ends in the middle of its abstract (line {a_line} ends "
            f"with {_tail(papers[-1].abstract)!r}): the export looks cut off (a truncated download or copy); "
            f"that paper is left out, the {len(papers) - 1} before it are read (export the page again for it)"
        )
        papers.pop()
    return pages + _without_list_numbers(_without_bullets(papers))


#: The words no title ends with: a line of a title ending so goes on on the next line.
_OPEN_ENDS = frozenset(
    "a an the and or nor of for with without in on at to from by via into onto toward towards through under over "
    "between beyond across against within about among using versus vs their its our your how what when which than"
    .split()
)
_OPEN_MARKS = (":", ",", "-", "–", "—", "/", "&")


def _wrapped_title(first: str, rest: str, after: str) -> bool:
    """Whether ``first`` and ``rest``, where a title and its abstract
    belong, are one title wrapped over two lines: ``first`` ends where no
    title ends (on "with", "of", "for", a colon or a dash), ``rest`` is no
    sentences (a mark may end it: "...?"), the two fit a title, and an abstract follows
    (sentences, or longer than any title)."""
    first, rest = first.rstrip(), rest.strip()
    if not first or not rest or len(first) + len(rest) + 1 > MAX_TITLE_CHARS or _SENTENCE_END.search(rest[:-1]):
        return False
    open_end = first.endswith(_OPEN_MARKS) or first.rsplit(None, 1)[-1].casefold() in _OPEN_ENDS
    return open_end and (_abstract_goes_on(after) or len(after) > MAX_TITLE_CHARS) and not _abstract_goes_on(rest)


def _cannot_stand_alone(first: str, rest: str) -> bool:
    """Whether ``rest``, the line under a title line ending open, can be
    no title of its own: the first line ends inside a word ("Self-"), or
    ``rest`` begins in lower case.  A title in title case can stand alone,
    and a paper without its abstract is refused, not merged with the next
    one's title (the error says to join the lines if they are one title)."""
    return _hyphen_cut(first.rstrip()) or rest.strip()[:1].islower()


def _two_lines_over_an_abstract(body: list[tuple[int, str]], k: int, abstract: str) -> bool:
    """Whether ``abstract``, a short line read as an abstract, and block ``k``
    after it are two lines a card has between its title and its abstract (a
    name a line: "Ada Lovelace" over "Grace Hopper"): neither is a sentence
    and an abstract follows them.  Taken in pairs, the title had "Ada
    Lovelace" for its abstract and a paper "Grace Hopper" the true one,
    without a word.  A paper's whole abstract so short and no sentence, over
    a title that ends with no sentence mark either (as titles do), is refused
    with them: where the two cannot be told apart, a located error, not a
    paper read wrong."""
    if k + 1 >= len(body):
        return False
    nxt = body[k][1]
    return (len(nxt) <= MAX_TITLE_CHARS and not _SENTENCE_END.search(abstract.rstrip()[-2:] + " ")
            and not _SENTENCE_END.search(nxt.rstrip()[-2:] + " ")
            and (_abstract_goes_on(body[k + 1][1]) or len(body[k + 1][1]) > MAX_TITLE_CHARS))


#: A plain word in lower case (no title starts so: "mixup:", "iPhone", "pix2pix" are no plain words).
_LOWER_WORD = lazy(r"[a-z]+(?:\s|,|$)")


def _goes_on_below(abstract: str, below: str) -> bool:
    """Whether ``below``, where the next title belongs, carries on the
    sentence ``abstract`` was cut in: the abstract ends inside one (no full
    stop, no other mark ending a sentence, not a link) and ``below`` starts with a
    plain word in lower case.  A listing without blank lines wrapped at a
    fixed width (a text saved at 120 columns) was read in pairs of its
    lines, "process multiple input modalities ..." a title, without a word."""
    end = abstract.rstrip()
    return (bool(end) and end[-1].isalnum() and not _SENTENCE_END.search(end[-2:] + " ")
            and not _LINK_AT_END.search(end) and bool(_LOWER_WORD.match(below.strip())))


#: An abstract ending on a link (no full stop after it, as many do): its end is no cut sentence.
_LINK_AT_END = lazy(r"(?:https?://|www\.)\S+$")


def _hyphen_cut(line: str) -> bool:
    """Whether ``line`` ends inside a hyphenated word: "TabReason: A Self-"."""
    return line.endswith("-") and line[-2:-1].isalpha()


def _joined_title(first: str, rest: str) -> str:
    """A wrapped title's two lines as one: "Self-" and "Supervised" join without a space."""
    first, rest = first.rstrip(), rest.strip()
    return f"{first}{rest}" if _hyphen_cut(first) and not _hanging_hyphen(rest) else f"{first} {rest}"


#: The words after a hyphen left hanging ("pre- and post-training", "first- or second-order"): a line
#: ending "pre-" over one of them was wrapped at the space after the hyphen, not at the hyphen.
_HANGING_HYPHEN_NEXT = frozenset("and or nor to vs vs. versus".split())


def _hanging_hyphen(rest: str) -> bool:
    """Whether ``rest``, the line under one ending in a hyphen, starts with a word that
    follows a hyphen left hanging (:data:`_HANGING_HYPHEN_NEXT`): the two lines keep a space."""
    return rest.split(None, 1)[0].casefold() in _HANGING_HYPHEN_NEXT if rest.strip() else False


#: A line ending inside a word at its hyphen or dash ("geometry-", "statistics--", "1990–"), as an
#: editor or a word processor wrapping at the page's width breaks "geometry-aware".
_CUT_AT_DASH = lazy(r"\w(?:-{1,3}|[–—])$")
_DASHES = ("-", "–", "—")


def _wrapped_lines(lines: list[str]) -> str:
    """A paragraph's lines as one text: a line break is a space, but for one after
    a hyphen or a dash inside a word (a paragraph pasted into an editor that
    wrapped it at 72 or 80 columns, or saved as text with line breaks by a word
    processor, breaks after "geometry-"): "geometry- aware" was in the abstract
    and the title.  A hyphen left hanging ("pre- and post-training") keeps its space."""
    if not any(line.endswith(_DASHES) for line in lines[:-1]):
        return " ".join(lines)
    text = lines[0]
    for line in lines[1:]:
        glued = line[:1].isalnum() and _CUT_AT_DASH.search(text[-4:])
        text = f"{text}{line}" if glued and not _hanging_hyphen(line) else f"{text} {line}"
    return text


#: A paragraph of fewer words is no second paragraph of an abstract (see :func:`_second_paragraph`).
_PARAGRAPH_WORDS = 8


def _second_paragraph(body: list[tuple[int, str]], k: int) -> bool:
    """Whether the short block ``k``, where a title belongs after an
    abstract, is that abstract's second paragraph (a page that sets a blank
    line inside an abstract): a sentence, of eight words or more and most
    of them in lower case, as no title is written, under an abstract that
    ends with one, and taken as a title it would fail: what follows it is
    too short to be its abstract, and an abstract follows that.  It was read
    as a title, and the next paper's title refused as a line too short to
    be its abstract.  (A longer paragraph is never a title: see the caller.)"""
    text, before = body[k][1].strip(), body[k - 1][1].rstrip()
    words = [w for w in text.split() if w[0].isalpha()]
    if (len(words) < _PARAGRAPH_WORDS or not _SENTENCE_END.search(text[-2:] + " ")
            or not text[0].isupper() or not _abstract_goes_on(before)):
        return False
    if sum(w[0].isupper() for w in words) > len(words) // 3:
        return False
    # The short line after it must read as a title too: a sentence-case title ending in "?" or "." over
    # an author list, a venue ("ICLR 2026 (oral)"), a code link or a line of chrome was glued to the
    # abstract before it and that short line read as a paper, where it was a located error.  (A title
    # may end with a question mark: "Why Do Language Models Hallucinate?".)
    short = body[k + 1][1].rstrip() if k + 1 < len(body) else ""
    return (k + 2 < len(body) and len(short) < _MIN_ABSTRACT_CHARS
            and _reads_as_title(short.removesuffix("?")) and not _looks_like_names(short) and not _is_page_chrome(short)
            and len(body[k + 2][1]) <= _MAX_ABSTRACT_CHARS and _abstract_goes_on(body[k + 2][1]))


#: A list's number before a title, as a numbered copy of a listing writes it: "1. ", "12) ", "[3] ", "(4) ".
_LIST_NUMBER = lazy(r"(?:\[(?P<b>\d{1,4})\]|\((?P<p>\d{1,4})\)|(?P<n>\d{1,4})(?P<s>[.)]))\s+(?=\S)")


def _list_number(title: str) -> tuple[str, int, int] | None:
    """The style, number and length of a list number before ``title``, else None."""
    if not title[:1].isdigit() and title[:1] not in "[(" or not (m := _LIST_NUMBER.match(title)):
        return None
    style = "[]" if m["b"] else "()" if m["p"] else m["s"]
    return style, int(m["b"] or m["p"] or m["n"]), m.end()


def _without_list_numbers(papers: list[Paper]) -> list[Paper]:
    """``papers`` with the list's numbers taken off their titles, where the
    listing is a numbered list ("1. Title", "2. Title", ...): more than half
    of the titles carry a number, all of one style, rising down the list (a
    single paper: 1).  The number was part of the paper's title and identity,
    so the same paper from another export was two.  A title that starts with
    a number of its own ("3D Gaussian Splatting", "1-bit LLMs", "2. Title" in
    an unnumbered listing) keeps it."""
    marks = [_list_number(p.title) for p in papers]
    styles = {m[0] for m in marks if m}
    if len(styles) != 1 or 2 * sum(1 for m in marks if m) <= len(papers):
        return papers
    numbers = [m[1] for m in marks if m]
    if any(b <= a for a, b in pairwise(numbers)) or (len(numbers) == 1 and numbers != [1]):
        return papers
    return [replace(p, title=p.title[m[2]:]) if m else p for p, m in zip(papers, marks, strict=True)]


#: A list's bullet before a title (or its abstract), as a copy of the page as a
#: list writes it: a bullet sign, or Markdown's "-", "*", "+", then a space.
_BULLET = lazy(r"([•◦▪▫‣⁃∙·●○■□►▸➢➤]|[-*+])\s+(?=\S)")


def _without_bullets(papers: list[Paper]) -> list[Paper]:
    """``papers`` with a list's bullets taken off their titles and abstracts,
    where the listing was copied as a bulleted list ("• Title", "- Title"):
    most titles (four in five) start with the same bullet, two at least for a
    "-", "*" or "+" (a sign a title might start with).  The bullet was the
    first character of every title and abstract the email showed.  Where the
    abstracts alone are so bulleted (each a list's item under its title), they
    lose theirs: no abstract starts with a bullet and a space."""
    mark, marks = _list_bullet([p.title for p in papers])
    if mark is None:
        mark, marks = _list_bullet([p.abstract for p in papers])
        if mark is None:
            return papers
        return [replace(p, abstract=_off(p.abstract, mark)) if marks[k] == mark else p for k, p in enumerate(papers)]
    return [replace(p, title=_off(p.title, mark), abstract=_off(p.abstract, mark)) if marks[k] == mark else p
            for k, p in enumerate(papers)]


def _list_bullet(texts: list[str]) -> tuple[str | None, list[str | None]]:
    """The bullet most of ``texts`` start with, if it is a list's (see
    :func:`_without_bullets`), and each text's bullet."""
    marks = [m.group(1) if (m := _BULLET.match(text)) else None for text in texts]
    counted = Counter(mark for mark in marks if mark)
    if not counted:
        return None, marks
    mark, n = counted.most_common(1)[0]
    return (None if n < max(2 if mark in "-*+" else 1, _BULLETED_SHARE * len(texts)) else mark), marks


def _off(text: str, mark: str) -> str:
    m = _BULLET.match(text)
    return text[m.end():] if m and m.group(1) == mark else text


#: Of the titles, the share that must start with one bullet for it to be the list's (see :func:`_without_bullets`).
_BULLETED_SHARE = 0.8


#: The page's button under a shortened abstract, when a copy glues it to the
#: abstract's last line ("... in computation time. Read more"): the button's label,
#: as the page writes it, is no part of the abstract.
_MORE_AT_END = lazy(r"\s+(?:Read|Show|See|View) (?:more|less)$")


def _without_more(abstract: str) -> str:
    """The abstract without a button's label glued to its end (the regex only
    where the text ends so: searched in every abstract, it cost a third of
    the parse)."""
    return _MORE_AT_END.sub("", abstract) if abstract.endswith(("more", "less")) else abstract


#: "Abstract:" before an abstract's first word, as some copies write it: no part of the abstract.
_ABSTRACT_LABEL = lazy(r"abstract\s*[:.—–-]\s*(?=\S)", re.IGNORECASE)


def _without_label(abstract: str) -> str:
    """The abstract without an "Abstract:" label before it (it led every
    digest's abstract, and an abstract of that label alone stays itself)."""
    return _ABSTRACT_LABEL.sub("", abstract, count=1) if abstract[:8].casefold() == "abstract" else abstract


#: The line a Hugging Face paper's own page names its paper by: ``arxiv:2409.02345``.
_ARXIV_LINE = lazy(rf"arxiv:\s*(?P<id>{ARXIV_ID})", re.IGNORECASE)
_ABSTRACT_HEADING = "abstract"


def _page_ahead(blocks: list[tuple[int, str]], k: int) -> int | None:
    """The index of a paper's page's ``arxiv:ID`` line at ``blocks[k]`` or under
    the page's navigation that starts there (short lines: "Hugging Face",
    "Models", ...; one a block in a copy without blank lines, where they read
    as titles and abstracts), else None."""
    for j in range(k, min(k + _MAX_NAV_LINES, len(blocks))):
        text = blocks[j][1]
        if _ARXIV_LINE.fullmatch(text):
            return j
        if len(text) > _MAX_NAV_CHARS and not _is_menu(text):
            return None
    return None


def _paper_pages(
    blocks: list[tuple[int, str]], raw: list[tuple[int, str]], name: str, source: str
) -> tuple[list[Paper], int | None]:
    """The papers of a copy of one or more papers' pages (see :func:`_paper_page`)
    at the start of ``blocks``, each from its ``arxiv:ID`` line (a second page
    pasted under the first was dropped without a word; the same page twice is
    one paper), and the index of a listing's header after them, where a
    listing pasted under them starts (it was dropped too), else None.  No
    papers when ``blocks`` start with no such page."""
    papers: list[Paper] = []
    at = 0
    while (page := _paper_page(blocks[at:], raw, name, source)) is not None:
        papers.append(page)
        heading = next(j for j in range(at, len(blocks))
                       if _folds_to(blocks[j][1], _ABSTRACT_HEADING, colons=True))
        after = next((j for j in range(heading + 1, len(blocks))
                      if _ARXIV_LINE.fullmatch(blocks[j][1]) or _is_header(blocks[j][1])), None)
        if after is None or _is_header(blocks[after][1]):
            return merge_papers(papers), after
        at = after
    return merge_papers(papers), None


def _paper_page(blocks: list[tuple[int, str]], raw: list[tuple[int, str]], name: str, source: str) -> Paper | None:
    """The paper of a copy of one paper's page on Hugging Face (``/papers/ID``,
    saved beside the listings to read that paper too): its ``arxiv:ID`` line
    near the top, the title under it, and the paragraph under ``Abstract``.
    It has the paper's arXiv id, which a listing does not give.  None when
    ``blocks`` are no such page; an error when the page has no abstract.
    ``raw`` are the file's blocks with the card lines :func:`_without_paper_meta`
    drops, where the page's authors and date are (see :func:`_card_details`)."""
    found = next(((j, m["id"]) for j, (_, text) in enumerate(blocks[: _MAX_NAV_LINES + 4])
                  if (m := _ARXIV_LINE.fullmatch(text))), None)
    if found is None:
        return None
    at, arxiv_id = found
    rest = [(line, text) for line, text in blocks[at + 1:] if not _is_page_chrome(text)]
    if not rest:
        return None
    t_line, title = rest[0]
    heading = next((k for k, (_, text) in enumerate(rest) if _folds_to(text, _ABSTRACT_HEADING, colons=True)), None)
    if heading is None or heading + 1 >= len(rest) or len(title) > MAX_TITLE_CHARS:
        raise InputError(Problem(f"a Hugging Face paper's page (arxiv:{arxiv_id}) without its title and an "
                                 "'Abstract' heading over the abstract; copy the whole page again", name, t_line))
    # the abstract's lines up to the page's links under it (a copy without blank lines has one block a line)
    after = blocks[next(k for k, (line, _) in enumerate(blocks) if line == rest[heading][0]) + 1:]
    abstract = " ".join(text for _, text in takewhile(lambda block: not _is_page_chrome(block[1]), after))
    details = _card_details(raw, blocks[at][0], rest[heading][0])
    return Paper(title=_spaced(title), abstract=_spaced(abstract), source=source, arxiv_id=arxiv_id,
                 url=abs_url(arxiv_id), pdf_url=pdf_url(arxiv_id), location=f"{name}:{t_line}",
                 authors=details.authors, published=details.published, upvotes=details.upvotes)


#: The line a card or a paper's page names its authors on: "Authors: Ada Lovelace, Grace Hopper"
#: (on a paper's page the names follow on lines of their own, commas between).
_AUTHORS_LINE = lazy(r"authors?\s*:\s*(?P<names>.*)", re.IGNORECASE)
_PUBLISHED_ON = lazy(r"published\s+on\s+(?P<date>.{3,40})", re.IGNORECASE)
#: What the site puts among the names that is no name: "+12" (more authors), "·".
_NO_NAME = lazy(r"\+\s*\d+(?:\s+(?:more|others|authors?))?|\d+\s+(?:more|others|authors?)|[·•…]|et al\.?",
                      re.IGNORECASE)
_NAMES_SPLIT = lazy(r",|\s+and\s+|\s*&\s*")
_DAY_FORMATS = ("%b %d %Y", "%B %d %Y", "%d %b %Y", "%d %B %Y", "%Y-%m-%d")


class CardDetails(NamedTuple):
    authors: tuple[str, ...]
    published: datetime | None
    upvotes: int | None


def _card_details(raw: list[tuple[int, str]], after: int, before: int) -> CardDetails:
    """The authors, publication date and upvotes a paper shows between the
    lines ``after`` (its title, or its page's ``arxiv:ID`` line) and ``before``
    (its abstract, or the 'Abstract' heading of its own page): "Authors: ...",
    "Published on Sep 4, 2024" and "Upvote 57" (see :func:`_upvotes`).  They
    were skipped as the card's lines, and the paper came without what its
    copy carries.  A date without its year (the site leaves it out for this
    year's) is no date: the year is not guessed."""
    authors: list[str] = []
    published: datetime | None = None
    naming = False
    first = bisect_right(raw, after, key=itemgetter(0))  # (lines in order: a scan of the file per paper cost 2 ms)
    lines = _separated_joined([text for _, text in raw[first:bisect_left(raw, before, lo=first, key=itemgetter(0))]])
    for text in lines:
        for part in _META_JOIN.split(text.strip()):
            if published is None and (m := _PUBLISHED_ON.fullmatch(part)):
                published = _calendar_day(m.group("date"))
        if not authors and (shown := _names_and_more(text)) is not None:
            authors = shown
            continue
        if (m := _AUTHORS_LINE.fullmatch(text.strip())) is not None and not authors:
            naming, text = True, m.group("names")
        elif naming and (_is_paper_meta(text) or _is_page_chrome(text)):
            naming = False
        if naming:
            authors += [name for name in map(_spaced, _NAMES_SPLIT.split(text)) if _is_a_name(name)]
    return CardDetails(tuple(dict.fromkeys(authors)), published, _upvotes(lines))


#: An upvote count as a card or a paper's page names it: "Upvote 57", "57 upvotes", "▲ 1.2k".
_UPVOTES = lazy(rf"(?:upvotes?|upvoted|votes?|▲|👍)\s*:?\s*(?P<a>{_COUNT})|(?P<b>{_COUNT})\s*(?:upvotes?|votes?)",
                re.IGNORECASE)
#: A count alone on its line under "Upvote": "57", "1.2k", "12.3K" (a narrow page's, or another locale's, capital K).
_BARE_COUNT = lazy(_COUNT, re.IGNORECASE)


def _upvotes(lines: list[str]) -> int | None:
    """The upvotes among a paper's card lines: named as such ("Upvote 57",
    "57 upvotes"), or a count on the line under an "Upvote" button; a bare
    number elsewhere may count anything (comments, stars) and is no vote."""
    for k, text in enumerate(lines):
        for part in _META_JOIN.split(text.strip()):
            if m := _UPVOTES.fullmatch(part):
                return _count(m["a"] or m["b"])
        if text.strip().casefold() == "upvote" and k + 1 < len(lines) and _BARE_COUNT.fullmatch(lines[k + 1].strip()):
            return _count(lines[k + 1].strip())
    return None


def _count(text: str) -> int | None:
    """"57", "1,234", "1.2k" as a number."""
    text = text.replace(" ", "").replace(",", "").casefold()
    scale = 1000 if text.endswith("k") else 1_000_000 if text.endswith("m") else 1
    try:
        return round(float(text.rstrip("km")) * scale)
    except ValueError:
        return None


def _is_a_name(text: str) -> bool:
    """A piece of an authors line that names someone: not empty, not "+12"."""
    return bool(text) and len(text) <= 100 and any(c.isalpha() for c in text) and not _NO_NAME.fullmatch(text)


_MACHINE_DAY = lazy(r"(\d{4}[-/]\d{2}[-/]\d{2})(?:[T ]\S*)?$")
_LEADING_WEEKDAY = lazy(r"^(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*\.?,?\s+", re.IGNORECASE)


def _calendar_day(text: str) -> datetime | None:
    """"Sep 4, 2024", "September 4th 2024", "4 Sep 2024", "2024-09-04" as that
    day's start in UTC (how the other sources give a date without a time);
    None for anything else, a day without its year included."""
    if m := _MACHINE_DAY.match(text.strip()):  # 2024/09/04, 2024-09-04T12:00:00Z: the day
        text = m.group(1).replace("/", "-")
    text = _LEADING_WEEKDAY.sub("", text.strip())  # "Wed, Sep 4, 2024"
    cleaned = re.sub(r"(?<=\d)(?:st|nd|rd|th)\b", "", text.replace(",", " ").rstrip("."), flags=re.IGNORECASE)
    cleaned = re.sub(r"\bsept\b\.?", "Sep", " ".join(cleaned.split()), flags=re.IGNORECASE).replace(".", "")
    for fmt in _DAY_FORMATS:
        try:
            return datetime.strptime(cleaned, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


#: How a whole abstract ends: a sentence's end, a closing bracket or quote, or LaTeX.
_ABSTRACT_END = frozenset(".!?)]}\"'”’»…$")
#: ...or a link (code, project page), which abstracts often end with.
_LINK_AT_END = lazy(r"(https?://|www\.|doi:)\S+$|\S+@\S+\.\w+$", re.IGNORECASE)


def _cut_off(abstract: str) -> bool:
    """An abstract that stops where no whole abstract does: neither a sentence's
    end (or a closing bracket, quote or ``$``) nor a link.  The format has no
    field after the abstract to check for, so its end is the signal; the
    caller asks only of the file's last paper with no page chrome after it
    (the copy would have gone past the papers)."""
    return not (abstract[-1:] in _ABSTRACT_END or _LINK_AT_END.search(abstract))


def _tail(text: str, n: int = 40) -> str:
    return text if len(text) <= n else "…" + text[-(n - 1):]


def _nav_lines(blocks: list[tuple[int, str]]) -> int:
    """How many lines of site navigation ("Hugging Face", "Models", "Papers"...)
    a copy of the whole page has before the papers header: a few short lines
    or the site's menu in one paragraph (:func:`_is_menu`), then a line only
    the header has.  0 when the file starts with page chrome
    (or has no header: the caller says so at line 1)."""
    if _is_chrome(blocks[0][1]):
        return 0
    for j, (_, text) in enumerate(blocks[:_MAX_NAV_LINES]):
        if _is_header(text):
            return j
        if len(text) > _MAX_NAV_CHARS and not _is_menu(text):
            break
    return 0


#: The headings a week's or a month's listing titles itself with, over its date range: a
#: header line only with the range under it ("Papers of the week" is a paper's title too).
_RANGE_HEADINGS = frozenset(map(_key, ("Papers of the week", "Papers of the month")))


def _titled_like_a_heading(blocks: list[tuple[int, str]], k: int) -> bool:
    """Whether block ``k`` reads "Papers of the week" (or month) with no date
    range under it: a paper's title, dropped as the header, and the error
    blamed its abstract as a title without one."""
    return (_may_be_key(blocks[k][1]) and _key(blocks[k][1]) in _RANGE_HEADINGS
            and not (k + 1 < len(blocks) and _date_line(_spaced(blocks[k + 1][1]))))


def _skip_header(blocks: list[tuple[int, str]], i: int) -> tuple[int, bool]:
    """Past the page header that starts at ``blocks[i]``: the index of the first
    title and whether there was a header.  Layout (b)'s ``Subscribe`` glued to
    the first title is cut off in ``blocks``."""
    header, subscribe_seen = False, False
    while i < len(blocks):
        line, block = blocks[i]
        if _titled_like_a_heading(blocks, i):
            break
        if _is_page_chrome(block):
            subscribe_seen = subscribe_seen or _folds_to(block, _SUBSCRIBE)
            header = header or _is_header(block)
            i += 1
            continue
        if (ahead := _header_after_nav(blocks, i)) is not None:
            i = ahead  # a tab or menu item the chrome lists do not know, among the header's lines
            continue
        if not subscribe_seen and block.casefold().startswith(_SUBSCRIBE) and len(block) > len(_SUBSCRIBE):
            # Layout (b): the button's label is glued to the first title (but a
            # title such as "Subscriber Churn..." after a "Subscribe" line is a title).
            blocks[i] = (line, block[len(_SUBSCRIBE):].strip())
            header = True
        break
    return (_past_controls(blocks, i) if header else i), header


#: The words of the page's controls between its header and the papers (sorting, filters, the
#: day's arrows: "Sort by Upvotes", "← Previous day", "Submit a paper"): none a title is made of
#: alone (MENU_WORDS has "open source models").
_CONTROL_WORDS = frozenset(
    "sort sorted by filter filters upvotes upvoted newest oldest latest top previous prev next day days week weeks "
    "month months daily weekly monthly trending with code all a the today yesterday newsletter date calendar select "
    "go to search submit paper papers more load show view see subscribe "
    "jan feb mar apr may jun jul aug sep sept oct nov dec january february march april june july august september "
    "october november december".split()
)


def _past_controls(blocks: list[tuple[int, str]], i: int) -> int:
    """Past the page's controls under its header (short lines of
    :data:`_CONTROL_WORDS` only: "← Previous", "Sort by Upvotes", "Submit a
    paper") when a title and its abstract follow them; each was taken for the
    first title, and the export refused ("title '← Previous Next →' has no
    abstract").  Without a paper after them they are left to be named."""
    j = i
    while j < len(blocks) and len(blocks[j][1]) <= _MAX_NAV_CHARS and _words_only(blocks[j][1], _CONTROL_WORDS):
        j += 1
    if j == i or j + 1 >= len(blocks) or not _reads_as_title(blocks[j][1]) or _reads_as_title(blocks[j + 1][1]):
        return i
    return j


def _words_only(text: str, vocabulary: frozenset[str]) -> bool:
    """Every word of ``text`` is one of ``vocabulary`` (a year or a count aside)."""
    words = _MENU_WORD.findall(text.casefold())
    return bool(words) and all(w in vocabulary or _YEAR_OR_COUNT.fullmatch(w) for w in words)


def _header_after_nav(blocks: list[tuple[int, str]], i: int) -> int | None:
    """The index of a header line that follows ``blocks[i]`` across short
    lines only (a page's tabs: "Trending Papers", "Collections", then "new",
    "Daily Papers"), else None.  A new tab the chrome lists do not know
    ended the header there, and was read as the first title ("title
    'Collections' has no abstract").  A paper stops the search: its abstract
    is longer than any line of navigation."""
    for j in range(i, min(i + _MAX_NAV_LINES, len(blocks))):
        text = blocks[j][1]
        if _is_header(text):
            return j
        if len(text) > _MAX_NAV_CHARS and not _is_menu(text):
            return None
    return None


def _is_footer(text: str) -> bool:
    """Page chrome after the papers: navigation links, a pagination bar, the
    site's footer, whole or one item a line ("System theme", "TOS", "Jobs": a
    copy that keeps the page's lines has no paragraph that is a menu).  Asked
    only of the file's last blocks, from its end: an abstract, which has
    words of its own, stops the footer."""
    if _is_page_chrome(text) or _PAGINATION.match(_spaced(text)):
        return True
    if len(text) > _MAX_NAV_CHARS:
        return False
    return _words_only(text, MENU_WORDS)


def _looks_like_chrome(text: str) -> bool:
    """Short and not ending as an abstract does: what a footer link looks like."""
    return len(text) < 40 and _cut_off(text.rstrip())


def _short(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def read_hf_papers_text(source, config: Config, context: ReadContext | None = None) -> Iterator[Paper]:
    """Every export the source's path takes.  A file that is no export is
    named, and so is every other one after it: a folder with two broken
    files named the first only, and the second came up only once it was
    mended (``validate`` names every problem)."""
    folder = config.resolve(source.path).is_dir()
    problems: list[Problem] = []
    for path in expand_paths(config.base_dir, source.path):
        try:
            papers = parse_hf_papers_text(
                _read_bytes(path, config), _display(path, config), source.label, context.warn if context else None
            )
        except InputError as exc:
            if not folder or path.suffix.lower() == ".txt":
                problems.extend(exc.problems)
                continue
            # A PDF or notes saved beside the exports: say how to read the exports only.
            glob = f"{source.path.rstrip('/')}/*.txt"
            hint = f" (path {source.path!r} reads every file in the folder; {glob!r} reads only the .txt exports)"
            problems.extend(replace(p, message=p.message + hint) for p in exc.problems)
            continue
        yield from papers
    warn = context.warn if context else log.warning
    for entry, what in unread_entries(config.base_dir, source.path):
        warn(f"{_display(entry, config)}: not read: it{what}")
    if problems:
        raise InputError(*problems)


def _read_bytes(path: Path, config: Config) -> bytes:
    """A local file's bytes; one packed by gzip, bzip2 or xz (an archived day,
    ``gzip day.txt``) unpacked, whatever its name (see :func:`unpacked`)."""
    name = _display(path, config)
    return unpacked(_file_bytes(path, name), name)


def _file_bytes(path: Path, name: str) -> bytes:
    """A local file's bytes as stored; one that cannot be read is an
    :class:`InputError` naming ``name`` (and a link to nowhere as such), and
    one over :data:`MAX_UNPACKED` too, before it is read: a dump of gigabytes
    given as the export filled the memory (a 220 MB feed took 1.3 GB and a
    minute; on a small machine the parser ran out and said 'not a
    well-formed feed (MemoryError: )')."""
    try:
        with path.open("rb") as file:
            size = os.fstat(file.fileno()).st_size
            if size > MAX_UNPACKED:
                raise InputError(Problem(f"{size / 2**20:,.0f} MB, more than the {MAX_UNPACKED // 2**20} MB a "
                                         "source file may be: is it the export or feed? (a listing of papers is "
                                         "a few MB at most)", name, 1))
            return file.read()
    except OSError as exc:
        raise InputError(Problem(f"cannot read: {broken_link(path) or exc.strerror}", name)) from None


#: The first bytes of a packed file, and the name of what packed it.
_PACKED_BY = ((b"\x1f\x8b", "gzip"), (b"BZh", "bzip2"), (b"\xfd7zXZ\x00", "xz"))
#: Archives of several files: which of them is the export is the user's call.
#: Files that hold no text to read, told by their first bytes, and what to do
#: instead: archives (extract the export), and a page printed or pictured
#: (copy the page's text).
_COPY_THE_PAGE = ("the export is the papers page's text; open the page in a browser, select all (Ctrl+A), "
                  "copy, and paste into a .txt file")
_NOT_TEXT = tuple(
    (magic, f"{what}, not a text file: extract the export from it and read that")
    for magic, what in ((b"PK\x03\x04", "a zip archive"), (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"))
) + tuple(
    (magic, f"{what}, not a text export: {_COPY_THE_PAGE}")
    for magic, what in (
        (b"%PDF-", "a PDF file"),
        (b"{\\rtf", "an RTF document"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "a Microsoft Office document"),
        (b"\x89PNG\r\n\x1a\n", "a PNG image"),
        (b"\xff\xd8\xff", "a JPEG image"),
    )
)
def _word_processor_file(data: bytes) -> str | None:
    """What a page pasted into a word processor and saved is (``"a Word
    document (.docx)"``), told by the zip's first entries or a Safari web
    archive's header; None for anything else.  As a zip it read "extract the
    export from it", which a .docx holds none of."""
    if data.startswith(b"bplist00") and b"WebMainResource" in data[:4096]:
        return "a Safari web archive (.webarchive)"
    if not data.startswith(b"PK\x03\x04"):
        return None
    head = data[:4096]
    if b"mimetypeapplication/vnd.oasis.opendocument.text" in head:
        return "an OpenDocument text (.odt)"
    if b"word/" in head or (b"[Content_Types].xml" in head and b"docProps/" in head):
        return "a Word document (.docx)"
    if (b"index.xml" in head and b"QuickLook/" in head) or b"Index/Document.iwa" in head:
        return "a Pages document"
    return None


#: The most a packed local file may unpack to (a few bytes of gzip can unpack to gigabytes).
MAX_UNPACKED = 256 * 1024 * 1024


def unpacked(data: bytes, name: str, limit: int | None = None) -> bytes:
    """``data`` itself, or unpacked when it is gzip, bzip2 or xz (told by its
    first bytes, not its name), at most ``limit`` bytes (default
    :data:`MAX_UNPACKED`).  A packed file that is
    cut off, corrupt or too big, an archive (zip, 7z), or a printed or
    pictured page (PDF, an image), is an :class:`InputError` saying so: its
    bytes are no text to read.  Unpacked by :func:`fetching.unpacking`, a
    piece at a time, so a bomb is stopped at the limit with no more than
    that in memory."""
    if (document := _word_processor_file(data)) is not None:
        raise InputError(Problem(f"{document}, not a text export: save it as plain text (.txt), or paste the "
                                 "page's text into a plain text editor", name, 1))
    for magic, message in _NOT_TEXT:
        if data.startswith(magic):
            raise InputError(Problem(message, name, 1))
    packer = next((what for magic, what in _PACKED_BY if data.startswith(magic)), None)
    if packer is None:
        return data
    limit = MAX_UNPACKED if limit is None else limit
    pieces: list[bytes] = []
    size = 0
    try:
        # one member after another: `cat a.gz b.gz`, pbzip2 and xz write several
        for piece in unpacking([data], UNPACKERS[packer], members=True):
            pieces.append(piece)
            size += len(piece)
            if size > limit:
                raise InputError(Problem(f"packed by {packer}, it unpacks to more than {limit // 2**20} MB", name, 1))
    except Truncated:
        raise InputError(Problem(f"packed by {packer} but cut off (it ends before its packed data "
                                 "does); a truncated download or copy?", name, 1)) from None
    except (zlib.error, OSError, EOFError, lzma.LZMAError) as exc:
        raise InputError(Problem(f"packed by {packer} but does not unpack ({exc}); a damaged file?", name, 1)) from None
    return b"".join(pieces)


def _display(path: Path, config: Config) -> str:
    """A path as short as it can be shown: relative to the working folder when
    inside it, a control character in a name written as its escape (a file
    named with a line break made a message two lines, and an escape sequence
    would reach the terminal)."""
    try:
        # a link to nowhere by its own name: resolved, 'day.txt -> gone.txt' was named 'gone.txt', a file
        # the folder does not show
        resolved = path.parent.resolve() / path.name if broken_link(path) else path.resolve()
    except (RuntimeError, OSError):  # a link that loops (Python 3.11 raises RuntimeError): shown as given
        resolved = Path(os.path.abspath(path))
    try:
        shown = str(resolved.relative_to(Path.cwd().resolve()))
    except ValueError:
        shown = str(path)
    return _CONTROL_IN_NAME.sub(lambda m: repr(m.group())[1:-1], shown)


#: Characters that a one-line message must not carry as they are.
_CONTROL_IN_NAME = lazy(r"[\x00-\x1f\x7f-\x9f]")


# --------------------------------------------------------------------------- remote sources

ARXIV_API = "https://export.arxiv.org/api/query"
ARXIV_RSS = "https://rss.arxiv.org/atom/"
#: arXiv's terms of use: no more than one API request every three seconds.
ARXIV_INTERVAL = 3.0
#: Results per arXiv API request; arXiv suggests small slices for big queries.
ARXIV_PAGE_SIZE = 100
#: The papers one answer of Hugging Face's daily papers API holds when no
#: ``limit`` is asked (huggingface_hub's ``list_daily_papers``: "Defaults to 50");
#: a day with more has them on the next page (``p=1``, ...).
HF_DAILY_PAGE = 50
#: Pages asked of one day at most (a thousand papers).
HF_DAILY_PAGES = 20


@dataclass(frozen=True)
class ReadContext:
    """What remote readers need besides their source: injected so tests control it."""

    fetcher: Fetcher
    now: datetime  # aware; "today" for hf-daily
    warn: Callable[[str], None]


def is_remote(source) -> bool:
    """True for a source that is fetched over HTTP (no local ``path``)."""
    return source.type != "hf-papers-text" and not getattr(source, "path", None)


def _local(source, config: Config, expected: str) -> tuple[bytes, str]:
    """A saved response's bytes (unpacked) and its name.  A PDF, an image or a
    zip given where ``expected`` goes is named as such, like one served over
    HTTP (the export's advice, "copy the page's text", was meant for
    ``hf-papers-text``)."""
    from .feeds import no_text_kind
    path = config.resolve(source.path)
    name = _display(path, config)
    data = _file_bytes(path, name)
    kind = no_text_kind(data, packed=False)
    if kind is not None:
        raise InputError(Problem(f"source {source.label!r}: {kind}, not {expected} (is the path right?)", name, 1))
    return unpacked(data, name), name


def arxiv_search_query(query: str | None, categories: list[str]) -> str:
    """``(cat:cs.LG OR cat:stat.ML) AND (all:"diffusion")``: the API's search_query."""
    parts = []
    if categories:
        cats = " OR ".join(f"cat:{c}" for c in categories)
        parts.append(f"({cats})" if len(categories) > 1 else cats)
    if query:
        parts.append(f"({query.strip()})" if categories else query.strip())
    return " AND ".join(parts)


def read_arxiv(source: ArxivSource, config: Config, context: ReadContext) -> Iterator[Paper]:
    from .feeds import ARXIV_EXPECTED, parse_arxiv
    if source.path:
        data, name = _local(source, config, ARXIV_EXPECTED)
        listing = parse_arxiv(data, name, source.label, context.warn, source.announce_type)
        if (rest := listing.rest_said(name, source.label)) is not None:
            context.warn(rest)
        yield from listing.papers
    elif source.feed == "rss":
        url = source.url or ARXIV_RSS + "+".join(source.categories)
        fetched = context.fetcher.get(url, source=source.label)
        yield from _parsed(context, fetched, parse_arxiv, source.label, context.warn, source.announce_type).papers
    else:
        yield from read_arxiv_api(source, context)


def read_arxiv_api(
    source: ArxivSource,
    context: ReadContext,
    *,
    page_size: int = ARXIV_PAGE_SIZE,
    interval: float = ARXIV_INTERVAL,
) -> Iterator[Paper]:
    """The newest ``max_results`` papers for the source's query, newest first,
    ``page_size`` per request with ``interval`` seconds between requests.  A
    page after the first that fails ends the listing there, named in a
    warning: the newer papers are kept."""
    query = arxiv_search_query(source.query, source.categories)
    start = 0
    while start < source.max_results:
        count = min(page_size, source.max_results - start)
        params = {
            "search_query": query,
            "start": start,
            "max_results": count,
            "sortBy": "submittedDate",
            "sortOrder": "descending",
        }
        try:
            listing = _arxiv_page(source, context, params, interval)
        except InputError as exc:
            if start == 0 or _stop_requested(context):
                raise
            # the newer results came: a later page's failure (arXiv's API often fails deep pages)
            # threw them all away, and as the only source the run sent nothing
            for p in exc.problems:
                context.warn(f"{p} (the results from {start + 1} on skipped; the {start} newest are used)")
            return
        if start == 0 and listing.total == 0:
            # Newest first over all time: an honest query always has results.
            # None at all is a query that matches nothing (a misspelt field
            # or author), which would otherwise read as a quiet day, run after run.
            context.warn(
                f"source {source.label!r}: arXiv has no paper at all for the query {query!r}, "
                "not just nothing new; check the query (field prefixes such as ti:, abs:, au:, cat:, "
                "and quoting: https://info.arxiv.org/help/api/user-manual.html)"
            )
        yield from listing.papers
        start += count
        if listing.entries == 0 or (listing.total is not None and start >= listing.total):
            break


def _api_said(exc: HTTPStatusFailure, said: str | None, api: str) -> InputError:
    """An API's error status with the reason it gave in the body (``HTTP 400
    Bad Request: the arXiv API says: ...``), or the status alone."""
    if said is None:
        return exc
    problem = exc.problems[0]
    return InputError(Problem(f"{problem.message}: {api} says: {said}", problem.file))


def _arxiv_page(source: ArxivSource, context: ReadContext, params: dict, interval: float) -> ArxivListing:
    """One page of API results.  arXiv sometimes answers with a feed that
    announces results (``opensearch:totalResults``) but carries no entries:
    that answer is asked again (with the fetcher's retries and backoff, never
    from the cache), and if it stays empty the source has failed; it is not
    "nothing new".  A page short of the results announced for it (some
    entries, fewer than asked for before the total) is asked again the same
    way; one that stays short is used, the missing results named in a
    warning (they were lost without a word)."""
    from .feeds import arxiv_api_error, parse_arxiv
    fetcher = context.fetcher
    attempts = fetcher.retries + 1
    short: ArxivListing | None = None  # the fullest short page yet
    for attempt in range(attempts):
        try:
            fetched = fetcher.get(
                source.url or ARXIV_API, params, source=source.label, min_interval=interval, refresh=attempt > 0
            )
        except HTTPStatusFailure as exc:  # a bad query: 400, and the API's reason in an Atom document
            raise _api_said(exc, arxiv_api_error(exc.body), "the arXiv API") from None
        listing = _parsed(context, fetched, parse_arxiv, source.label, context.warn)
        total, start = listing.total or 0, int(params["start"])
        expected = min(int(params["max_results"]), total - start)
        if listing.entries >= expected or total <= start:
            return listing
        if listing.entries and (short is None or listing.entries > short.entries):
            short = listing
        if attempt + 1 < attempts:
            delay = backoff(fetcher.backoff, attempt + 1, fetcher.max_wait)
            log.info("%s: %d results announced from %d on but %d entries; retry %d of %d in %g s",
                     shown_url(fetched.url), expected, start + 1, listing.entries, attempt + 1, attempts - 1, delay)
            fetcher.sleep(delay)
    fetcher.forget(fetched.url)  # the next run asks again rather than reuse it
    if short is not None:
        missing = expected - short.entries
        context.warn(f"{shown_url(fetched.url)}: source {source.label!r}: arXiv sent {short.entries} of the "
                     f"{expected} results asked for from {start + 1} on, after {attempts} attempts; the other "
                     f"{missing} are missing this run (the next run asks again)")
        return short
    tries = f" (gave up after {attempts} attempts)" if attempts > 1 else ""
    raise InputError(
        Problem(f"source {source.label!r}: arXiv announced {total} results but sent no entries{tries}",
                shown_url(fetched.url))
    )


def liked_arxiv_ids(config: Config) -> list[str]:
    """Every topic's ``like:`` entries that are arXiv ids (base ids, once each, in config order)."""
    refs = (arxiv_base_id(ref) for topic in config.topics.values() for ref in topic.like)
    return list(dict.fromkeys(ref for ref in refs if re.fullmatch(ARXIV_ID, ref)))


def look_up_liked(config: Config, papers: list[Paper], context: ReadContext) -> None:
    """Fetch the liked papers no source listed and no earlier run saw (a
    paper liked years ago is never in today's listings) in one request to the
    config's arXiv API source, and keep them in the embedding cache, where the
    ranker finds them, this run and offline later.  They are never candidates
    for a digest: nothing is returned.  A failed lookup is one warning and
    the run goes on without those papers."""
    source = config.like_lookup_source
    listed = {arxiv_base_id(p.arxiv_id) for p in papers if p.arxiv_id}
    wanted = [ref for ref in liked_arxiv_ids(config) if ref not in listed]
    if source is None or not wanted:
        return
    from .feeds import parse_arxiv
    from .ranking import EMBEDDINGS_FILE, Embedder  # the match stage's cache, where the ranker finds them

    embedder = Embedder(config.cache_dir / EMBEDDINGS_FILE)
    try:
        missing = [ref for ref in wanted if embedder.recall(ref) is None]
        if not missing:
            return
        endpoint = source.url or ARXIV_API
        params = {"id_list": ",".join(missing), "max_results": len(missing)}
        try:
            fetched = context.fetcher.get(endpoint, params, source=source.label, min_interval=ARXIV_INTERVAL)
            # an entry arXiv sends without an id or title for an unknown id is no paper, not a warning
            listing = _parsed(context, fetched, parse_arxiv, source.label, log.info)
        except NewsletterError as exc:
            reason = "; ".join(p.message for p in exc.problems)
            context.warn(f"{shown_url(endpoint)}: could not look up the liked paper(s) {', '.join(missing)} on arXiv "
                         f"({reason}); they are left out of the ranking this run")
            return
        found = [paper_to_unicode(p) for p in listing.papers if p.arxiv_id and arxiv_base_id(p.arxiv_id) in missing]
        embedder.remember(found)
        embedder.remember_absent(set(missing) - {arxiv_base_id(p.arxiv_id or "") for p in found})
    finally:
        embedder.close()


def future_date(source: HFDailySource, config: Config, now: datetime) -> Problem | None:
    """The problem with an ``hf-daily`` ``date:`` after today in the config's
    time zone: Hugging Face lists nothing for a day to come, so every run
    would read as "nothing new" until then (a typo'd year, 2205-06-07)."""
    if source.path or not source.date:
        return None
    zone = config.timezone
    today = now.astimezone(ZoneInfo(zone)).date()
    # a date that is already today in UTC (which the daily papers' dates follow) is no future one
    if date.fromisoformat(source.date) <= max(today, now.astimezone(UTC).date()):
        return None
    index = next(i for i, s in enumerate(config.sources) if s is source)
    return config.problem(
        ("sources", index, "date"),
        f"{source.date} is after today ({today.isoformat()} in {zone}): Hugging Face lists no papers for a day "
        "to come, so every run would find nothing new; give a past date, or leave date: out to end at today",
    )


def read_hf_daily(source: HFDailySource, config: Config, context: ReadContext) -> Iterator[Paper]:
    from .feeds import parse_hf_daily
    if source.path:
        data, name = _local(source, config, "the JSON list of daily papers")
        yield from parse_hf_daily(data, name, source.label, context.warn)
        return
    if (problem := future_date(source, config, context.now)) is not None:
        raise InputError(problem)
    last = date.fromisoformat(source.date) if source.date else context.now.astimezone(UTC).date()
    days = [last - timedelta(days=back) for back in range(source.days)]
    failed: list[tuple[date, InputError]] = []
    unasked: list[date] = []
    read = in_a_row = 0
    for index, day in enumerate(days):
        try:
            papers = _hf_day(source, day, context)
        except InputError as exc:
            stopping = _stop_requested(context)
            if stopping or (not read and isinstance(exc, Unreachable)):
                raise  # no network and nothing read: the run says so (and how to work offline)
            failed.append((day, exc))
            in_a_row += 1
            if in_a_row >= 2 or isinstance(exc, Unreachable):
                # the server, not a day: the rest are not asked (each would wait through the retries)
                unasked = days[index + 1:]
                break
            continue
        read += 1
        in_a_row = 0
        yield from papers
    if not read:
        raise failed[0][1] if len(failed) == 1 else InputError(*(p for _, e in failed for p in e.problems))
    for day, error in failed:
        for p in error.problems:
            context.warn(f"{p} (the day {day.isoformat()} skipped; the other days of the source are used)")
    if unasked:
        which = (f"the day {unasked[0]}" if len(unasked) == 1
                 else f"the days {unasked[-1]} to {unasked[0]}")
        context.warn(f"{source_location(source, config)}: source {source.label!r}: {which} not asked after the "
                     "failures above (skipped; the other days of the source are used)")


def _stop_requested(context: ReadContext) -> bool:
    """Whether ``run`` was told to stop: a day or page that failed for it is
    no fault to name and read past, and nothing more is asked."""
    return context.fetcher.stop is not None and context.fetcher.stop()


def _hf_day(source: HFDailySource, day: date, context: ReadContext) -> list[Paper]:
    """One day's daily papers.  A day that fails is skipped by
    :func:`read_hf_daily`, named; with ``days: 7`` one day's 500 or error
    page threw away the six that had come, and a source of its own failed
    the run."""
    papers: list[Paper] = []
    seen: set[str] = set()
    for page in range(HF_DAILY_PAGES):
        try:
            count, found = _hf_day_page(source, day, page, context)
        except InputError as exc:
            if not page or _stop_requested(context):
                raise
            # the day's first papers came: as an arXiv page after the first, the rest are named, not the day
            for problem in exc.problems:
                context.warn(f"{problem} (the papers of {day.isoformat()} from {len(papers) + 1} on skipped; "
                             f"its {len(papers)} before are used)")
            break
        new = [p for p in found if p.id not in seen]
        papers += new
        seen.update(p.id for p in new)
        # a short page is the day's last; one with nothing new is a server that does not page
        # (a mirror, a proxy answering p= with the same list)
        if count < HF_DAILY_PAGE or not new:
            break
    return papers


def _hf_day_page(source: HFDailySource, day: date, page: int, context: ReadContext) -> tuple[int, list[Paper]]:
    """Page ``page`` of one day's daily papers: how many entries it held, and
    its papers.  Only the first page was asked: a day with more than 50
    papers lost the rest without a word."""
    from .feeds import HF_DAILY_API, hf_api_error, parse_hf_daily_page
    params = {"date": day.isoformat(), **({"p": page} if page else {})}
    try:
        fetched = context.fetcher.get(source.url or HF_DAILY_API, params, source=source.label)
    except HTTPStatusFailure as exc:  # a 4xx, and the API's reason as {"error": "..."}
        raise _api_said(exc, hf_api_error(exc.body), "the API") from None
    return _parsed(context, fetched, parse_hf_daily_page, source.label, context.warn)


def read_feed(source: FeedSource, config: Config, context: ReadContext) -> Iterator[Paper]:
    from .feeds import feed_listing, parse_feed
    if source.path:
        data, name = _local(source, config, "an RSS or Atom feed")
        # a saved copy's relative links are relative to where it was saved from, when the config says
        listing = feed_listing(data, name, source.label, context.warn, base=source.url)
        if (rest := listing.rest_said(name, source.label)) is not None:  # one page of an arXiv API answer
            context.warn(rest)
        yield from listing.papers
        return
    assert source.url is not None, "the config requires path or url"
    fetched = context.fetcher.get(source.url, source=source.label)
    from .oai import is_oai

    body = _unpacked_body(context, fetched)
    if is_oai(body):
        yield from _oai_pages(source, source.url, fetched, body, context)
        return
    # relative links are relative to where a redirect led, not to the address asked
    base = shown_url(fetched.base) if fetched.final_url else None
    yield from _parsed(context, fetched, partial(parse_feed, base=base), source.label, context.warn, body=body)


def _oai_pages(source: FeedSource, url: str, fetched: Fetched, body: bytes, context: ReadContext) -> Iterator[Paper]:
    """The papers of a fetched OAI-PMH list, page after page by its
    resumptionToken (at most :data:`.oai.OAI_PAGES`): a harvest URL as a
    feed read the first page alone, a busy day's first thousand records,
    and warned that the rest was not read.  A page after the first that
    fails ends the list there, named, and the pages before are used (as the
    arXiv API's pages are); a token given twice (a server that pages in a
    circle) ends it too.  ``body``: the first page's, unpacked (each page
    is unpacked once, and read for its papers and its token from that)."""
    from .oai import OAI_PAGES, next_page, parse_oai, resumption_token

    read = _parsed(context, fetched, partial(parse_oai, paged=True), source.label, context.warn, body=body)
    yield from read
    count, asked, pages = len(read), set(), 1
    token = resumption_token(body)
    interval = ARXIV_INTERVAL if (urlsplit(url).hostname or "").endswith("arxiv.org") else 0.0
    while token is not None:
        where = f"{shown_url(url)}: source {source.label!r}"
        if token in asked:
            context.warn(f"{where}: the OAI-PMH server gave the resumptionToken {token!r} twice; the list ends at "
                         f"page {pages} ({count} papers read)")
            break
        if pages >= OAI_PAGES:
            context.warn(f"{where}: the OAI-PMH list goes on after {OAI_PAGES} pages ({count} papers read); the rest "
                         "is not read (narrow the harvest with from= and until=, or set=)")
            break
        asked.add(token)
        endpoint, params = next_page(url, token)
        try:
            fetched = context.fetcher.get(endpoint, params, source=source.label, min_interval=interval)
            body = _unpacked_body(context, fetched)
            read = _parsed(context, fetched, partial(parse_oai, paged=True), source.label, context.warn, body=body)
        except InputError as exc:
            if _stop_requested(context):
                raise
            for problem in exc.problems:
                context.warn(f"{problem} (the OAI-PMH list from page {pages + 1} on skipped; the {count} papers of "
                             "the pages before are used)")
            break
        pages += 1
        count += len(read)
        yield from read
        token = resumption_token(body)


def _parsed(context: ReadContext, fetched: Fetched, parse: Callable[..., T], *args: Any,
            body: bytes | None = None) -> T:
    """``parse(body, url, *args)`` of a fetched answer (unpacked when it is a
    gzip, bzip2 or xz file, unless ``body`` is that already); a body that is not the format (an error page
    served with 200, a cut-off document) is dropped from the cache, so the next
    run asks the server again instead of failing from disk for ``fresh_for``."""
    name = shown_url(fetched.url)  # the name in messages: no password
    try:
        return parse(_fetched_body(context, fetched) if body is None else body, name, *args)
    except InputError as exc:
        context.fetcher.forget(fetched.url)
        unknown = exc.problems[0].message if len(exc.problems) == 1 else ""
        if unknown.endswith(UNKNOWN_PAGE) and (said := html_page_said(fetched)):  # whose page: a Wi-Fi's login
            exc = InputError(replace(exc.problems[0], message=unknown + said))
        # a page (a redirect's address, a refresh's target) may echo the configured URL, token and all
        raise hide_secrets(exc, url_secrets(fetched.url)) from None


def _unpacked_body(context: ReadContext, fetched: Fetched) -> bytes:
    """A fetched answer's body unpacked, once for all that is asked of it
    (what it is, its papers, an OAI-PMH page's token: a packed page was
    unpacked three times); one that does not unpack is dropped from the cache
    as :func:`_parsed` drops a body that does not parse."""
    return _parsed(context, fetched, lambda body, _: body)


def _fetched_body(context: ReadContext, fetched: Fetched) -> bytes:
    """A fetched answer's body, unpacked when it is a packed file served as
    such (feed.xml.gz, no Content-Encoding), within the size a response may
    have: what is in it is asked of this (an OAI-PMH answer gzipped was
    not told as one, and its pages after the first were not read)."""
    if fetched.body.startswith(tuple(magic for magic, _ in _PACKED_BY)):
        return unpacked(fetched.body, shown_url(fetched.url), limit=context.fetcher.max_bytes)
    return fetched.body


# --------------------------------------------------------------------------- all sources

Reader = Callable[[Any, Config, ReadContext], Iterator[Paper]]
READERS: dict[str, Reader] = {
    "hf-papers-text": read_hf_papers_text,
    "arxiv": read_arxiv,
    "hf-daily": read_hf_daily,
    "feed": read_feed,
}


@dataclass(frozen=True)
class SourceRead:
    """One source's outcome in a run: its papers, or the error that stopped it."""

    index: int
    source: Source
    location: str  # the URL fetched (endpoint) or the local path
    papers: tuple[Paper, ...] = ()
    error: NewsletterError | None = None

    def problems(self) -> list[Problem]:
        """The error as located problems: a fetched source's name it and its URL;
        a local file's are at its FILE:LINE already."""
        assert self.error is not None
        label = f"source {self.source.label!r}"
        out = []
        for p in self.error.problems:
            message = p.message if label in p.message or not is_remote(self.source) else f"{label}: {p.message}"
            out.append(Problem(message, p.file or self.location, p.line, p.path))
        return out


def offline_hint(failed: list[SourceRead]) -> Problem | None:
    """What to do when no source's host could be reached (a machine without a
    network, a first run behind a firewall): the per-source lines only asked
    "no network?", and a newcomer offline had no way on; None when any source
    failed otherwise (an HTTP error, a broken answer: the network works).
    Every connection refused is no sign of being offline either: each host
    answered (with a reset), so a server is down or the URL names a wrong
    port, as a local source on 127.0.0.1 with nothing listening."""
    errors = [f.error for f in failed]
    if not errors or not all(isinstance(e, Unreachable) for e in errors):
        return None
    if all(isinstance(e, Unreachable) and e.kind == "refused" for e in errors):
        return Problem("every source's host refused the connection: the network works, but nothing listens there "
                       "(a server down, or a wrong port or URL in the source)")
    return Problem("no source's host could be reached: is this machine offline? Without a network, give each "
                   "source a saved copy instead, `path: saved.xml` in place of its URL (README \"Offline\")")


def source_location(source: Source, config: Config) -> str:
    """Where a source reads from: its local path, else the URL it asks (the
    endpoint; queries and dates are added per request), as messages show it
    (without a password or token it carries)."""
    return shown_url(_endpoint(source))


def _endpoint(source: Source) -> str:
    path = getattr(source, "path", None)
    if source.type == "hf-papers-text" or path:
        return str(path)
    if isinstance(source, ArxivSource):
        if source.feed == "rss":
            return source.url or ARXIV_RSS + "+".join(source.categories)
        return source.url or ARXIV_API
    if isinstance(source, HFDailySource):
        from .feeds import HF_DAILY_API

        return source.url or HF_DAILY_API
    return str(getattr(source, "url", "") or "")


def read_sources(config: Config, context: ReadContext, *, offline: bool = False) -> Iterator[SourceRead]:
    """Each source read in turn (all or nothing per source, but for an hf-daily
    day or an arXiv API page after the first, which are skipped named), errors caught and
    handed back; remote sources are left out when ``offline``."""
    for index, source in enumerate(config.sources):
        if not (offline and is_remote(source)):
            yield read_source(index, source, config, context)


def read_source(index: int, source: Source, config: Config, context: ReadContext) -> SourceRead:
    """``config.sources[index]`` read whole, or the error that stopped it."""
    where = source_location(source, config)
    try:
        # LaTeX in titles, abstracts and names is shown as Unicode from here on
        found = tuple(paper_to_unicode(p) for p in READERS[source.type](source, config, context))
    except NewsletterError as exc:
        return SourceRead(index, source, where, error=exc)
    _versions_said(found, source.label, where, context.warn)
    return SourceRead(index, source, where, found)


def _versions_said(papers: Sequence[Paper], label: str, where: str, warn: Callable[[str], None]) -> None:
    """Say, once a source, the papers it lists under two arXiv versions or
    more (a day's listing saved with the next's, an export holding v1 and
    v2): the newest version's title and abstract are the ones read (see
    :meth:`.Paper.merge`), and without a word the older's text, which a
    reader may have looked for, just went."""
    seen: dict[str, list[Paper]] = {}
    for paper in papers:
        if paper.arxiv_id and paper.version is not None:
            seen.setdefault(paper.arxiv_id, []).append(paper)
    twice = [listed for listed in seen.values() if len({p.version for p in listed}) > 1]
    if not twice:
        return
    listed = twice[0]
    newest = max(listed, key=lambda p: p.version or 0)
    versions = " and ".join(f"v{p.version}" + (f" ({p.location})" if p.location and p.location != where else "")
                            for p in sorted(listed, key=lambda p: p.version or 0))
    more = f"; so are {len(twice) - 1} more papers" if len(twice) > 1 else ""
    warn(f"{where}: source {label!r}: {newest.arxiv_id} is listed as {versions}: the newest, "
         f"v{newest.version}, is read{more}")


def read_papers(
    config: Config,
    warn: Callable[[str], None] | None = None,
    *,
    fetcher: Fetcher | None = None,
    now: datetime | None = None,
    offline: bool = False,
    skipped: Callable[[SourceRead], None] | None = None,
) -> list[Paper]:
    """Every source's papers, merged into one deduplicated list (first seen first).

    A required source (see ``is_required``: local files by default) that fails raises;
    any other failing source is reported through ``warn`` and skipped, so the
    digest still goes out from the sources that worked.  When every source
    read fails, that is no digest at all, not an empty one: it raises
    :class:`SourcesFailed` naming each source and its URL.  Skipped entries are
    reported through ``warn`` too.  ``fetcher`` defaults to one built from the
    config's ``http`` and ``cache`` settings; ``now`` (default: the clock) is
    "today" for date-based sources; ``offline`` skips remote sources (and
    :func:`look_up_liked`, which otherwise fetches the liked papers no source
    listed into the embedding cache, never into the list); ``skipped`` is
    handed each failed source skipped so (``send`` exits 2 for one when
    digests went out without it: a warning alone went unseen under cron).
    """
    warn = warn if warn is not None else log.warning
    own = fetcher is None
    fetcher = fetcher or Fetcher.from_config(config)
    context = ReadContext(fetcher, now or datetime.now(UTC), warn)
    papers: list[Paper] = []
    failed: list[SourceRead] = []
    read = 0
    try:
        for result in read_sources(config, context, offline=offline):
            read += 1
            if result.error is None:
                papers.extend(result.papers)
            elif result.source.is_required:
                raise result.error
            else:
                failed.append(result)
        if not offline and len(failed) < read:
            look_up_liked(config, papers, context)
    finally:
        if own:
            fetcher.close()
    if failed and len(failed) == read:
        if skipped is not None:  # (a send with nobody due says them: see sending._with_skipped)
            for f in failed:
                skipped(f)
        problems = [p for f in failed for p in f.problems()]
        hint = offline_hint(failed)
        raise SourcesFailed(*problems, *([hint] if hint else []),
                            Problem(f"every source failed ({read} of {read}); no papers were read"))
    for f in failed:
        for p in f.problems():
            warn(f"{p} (sources[{f.index}] skipped; the other sources are used)")
        if skipped is not None:
            skipped(f)
    return merge_papers(papers)
