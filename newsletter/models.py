"""The values the pipeline stages hand each other: frozen, hashable, plain."""

from __future__ import annotations

import re
import unicodedata
import zlib
from collections import Counter
from dataclasses import dataclass, field, fields, replace
from datetime import datetime

from .patterns import lazy

_NOT_ALNUM = re.compile(r"[\W_]+")
_ARXIV_VERSION = lazy(r"v\d+$")
_OLD_SUBJECT_CLASS = lazy(r"^([a-z][a-z-]*)\.[A-Z]{2}(?=/\d{7}$)")
#: An arXiv identifier: new style (2401.01234, 2401.01234v2) or old style (hep-th/9901001v1).
ARXIV_ID = r"(?:\d{4}\.\d{4,5}|[a-z][a-z-]*(?:\.[A-Z]{2})?/\d{7})(?:v\d+)?"
#: A DOI (``10.1038/...``, bare, ``doi:`` or a doi.org link): besides arXiv's own
#: (``10.48550/arXiv.ID``, read as the id), one names no paper offline.
DOI = r"(?:(?:https?://)?(?:dx\.)?doi\.org/|doi:\s*)?10\.\d{4,9}/\S+"
NO_DOI_HINT = "a DOI other than arXiv's 10.48550/arXiv.ID cannot be looked up offline: give the paper's arXiv id or its title"
#: Why a liked arXiv id is unknown when the sources give ids and none of them is
#: arXiv's API, where it would be looked up: the starter's own example (a 2021
#: paper) was never in the newest listings, so it was ignored at every run.
OLDER_PAPER_HINT = ("no paper the sources list now, or listed on an earlier day, has that id, and no arxiv source "
                    "(the API kind) is there to look it up at: add one, or see README \"Liking an older paper\"")
#: The same with an arXiv API source: the lookup did not happen (offline, or it
#: failed: its own warning says why).
NOT_LOOKED_UP_HINT = ("no paper the sources list now, or listed on an earlier day, has that id, and it was not "
                      "looked up on arXiv this run (offline, or the lookup failed: see its warning)")
#: arXiv answered the lookup without that paper: a typo far likelier than an old paper.
NOT_ON_ARXIV_HINT = "arXiv has no paper with that id: check it"
#: cs.LG, astro-ph.CO, cond-mat.stat-mech, or an archive without subjects (hep-th, gr-qc, quant-ph).
#: What shows nothing on screen and no text needs: a soft hyphen (a site's
#: ``&shy;``, which split "neu\u00adral" from the keyword "neural"), a zero-width
#: space, a word joiner, a byte order mark, bidi embeddings and overrides
#: (U+202A-U+202E, U+2066-U+2069: "\u202egnp.exe" shows as "exe.png"), and the
#: direction marks a copy of a page with right-to-left names carries (U+200E,
#: U+200F, U+061C: "Neural\u200e Operators" was no match for "neural operators").
#: Exports (:mod:`readers`), feeds' fields (:mod:`feeds`) and settings
#: (:mod:`config`) drop them.
SHOWS_NOTHING = (
    "\u00ad\u200b\u200e\u200f\u061c\u2060\ufeff"
    + "".join(map(chr, range(0x202A, 0x202F)))
    + "".join(map(chr, range(0x2066, 0x206A)))
)

_ARXIV_CATEGORY = lazy(r"^(?:[a-z]+(?:-[a-z]+)?\.[A-Za-z]+(?:-[a-z]+)?|[a-z]+-(?:th|ph|ex|lat|qc))$")
#: What browsers drop before reading a URL's scheme (WHATWG URL: C0 controls and
#: space at the ends, tab and newlines anywhere), so ``" java\tscript:"`` is caught.
_URL_IGNORED = lazy(r"[\t\n\r]")
_URL_ENDS = "".join(map(chr, range(0x21))) + "\x7f"
_WEB_URL = lazy(r"^https?://[^\s\x00-\x1f\x7f/?#]+[^\s\x00-\x1f\x7f]*$", re.IGNORECASE)


#: Date precisions from the coarsest; None (a day, a time) is the finest.
_PRECISIONS = ("year", "month")


def _finer(theirs: str | None, mine: str | None) -> bool:
    """Whether a date given to ``theirs`` precision says more than one given
    to ``mine`` (a day beats a month, a month a year alone)."""
    return _rank(theirs) > _rank(mine)


def _rank(precision: str | None) -> int:
    """A date precision's place from the coarsest (a year alone: 0)."""
    return _PRECISIONS.index(precision) if precision in _PRECISIONS else len(_PRECISIONS)


def _first_published(theirs: Paper, mine: Paper) -> bool:
    """Whether ``theirs``'s date, not ``mine``'s, is when the paper was first
    published, the date its card shows.  Sources date a paper differently: the
    arXiv API's ``published`` and an abstract page's "Submitted on" are v1's
    day, an RSS feed's the day it announced this version (v2 a week after v1),
    Hugging Face's ``publishedAt`` arXiv's first day.  The newer version's date
    won the merge: the card of a paper first out on 4 Jun said 11 Jun.  So the
    earlier date wins, and of two that agree as far as the coarser says
    (Jun 2024, 4 Jun 2024), the finer one."""
    if theirs.published is None:
        return False
    if mine.published is None:
        return True
    coarse = min(theirs.date_precision, mine.date_precision, key=_rank)

    def cut(when: datetime) -> tuple:
        return (when.year,) if coarse == "year" else (when.year, when.month) if coarse == "month" else (when.date(),)

    if cut(theirs.published) != cut(mine.published):
        return cut(theirs.published) < cut(mine.published)
    if theirs.date_precision != mine.date_precision:
        return _finer(theirs.date_precision, mine.date_precision)
    # (the same day: the earlier time, where both say their zone)
    aware = theirs.published.tzinfo is not None, mine.published.tzinfo is not None
    return aware[0] == aware[1] and theirs.published < mine.published


def web_url(value: str | None) -> str | None:
    """``value`` when it is an ``http(s)://`` URL, else None.

    Feeds are written by strangers: a ``javascript:``, ``data:`` or ``vbscript:``
    link (any case, hidden behind spaces or control characters) must never reach
    an ``href``.  Every URL of a :class:`Paper` passes through here, so the
    templates may link whatever a paper carries; a dropped link falls back to
    the paper's arXiv page or a title search (:func:`rendering.paper_link`).
    """
    if not isinstance(value, str):
        return None
    url = _URL_IGNORED.sub("", value).strip(_URL_ENDS)
    return url if _WEB_URL.match(url) else None


def normalize_title(title: str) -> str:
    """Case-fold and collapse every run of punctuation and white space to one space.

    This is the identity of a paper whose arXiv id is unknown, so the same
    title copied from two exports (different dashes, spacing, case) is one paper;
    compatibility forms fold too (NFKC: "H₂O" from a feed's ``H<sub>2</sub>O`` is
    "H2O" as another source writes it, "ﬁ" is "fi", full-width letters are letters).
    A title with no letter or digit at all ("???", "🤗") is itself, case-folded
    with its white space collapsed: made empty, every such paper would be one.
    """
    folded = (unicodedata.normalize("NFKC", title) if not title.isascii() else title).casefold()
    return _NOT_ALNUM.sub(" ", folded).strip() or " ".join(title.casefold().split())


def short_title_key(title: str) -> str | None:
    """The key of a title's short name, its part before the colon ("DPO-Shift"
    of "DPO-Shift: Shifting the Distribution of ..."), as researchers name a
    paper; None for a title without one."""
    name, colon, _ = title.partition(":")
    return normalize_title(name) if colon and name.strip() else None


def idless_hint(papers) -> str | None:
    """Why an arXiv id names none of ``papers`` when some of them come
    without one (saved Hugging Face pages give none): a paper right there
    is named by its title.  None when every paper has its id."""
    papers = list(papers)
    without = sum(1 for p in papers if not p.arxiv_id)
    if not without:
        return None
    many = f"all {without}" if without == len(papers) else f"{without} of the {len(papers)}"
    return (f"no paper of the sources has that arXiv id, and {many} come without one, as saved pages give them: "
            "name it by its title")


def arxiv_base_id(arxiv_id: str) -> str:
    """``2401.01234v3`` -> ``2401.01234``: versions are the same paper; and
    ``math.GT/0309136`` -> ``math/0309136``: an old-style id cited with its
    subject class is arXiv's id without it (both were read, as two papers)."""
    return _OLD_SUBJECT_CLASS.sub(r"\1", _ARXIV_VERSION.sub("", arxiv_id.strip()))


#: Between the names of one authors' line: "Jane Doe, Ana Müller and John Smith".
_NAMES_SPLIT = lazy(r"\s*,\s*|\s+and\s+")
#: What follows a name after a comma and is no name of its own ("John Smith, Jr.").  Both lazy, as the
#: module's other patterns: every command imports this module, few read an authors' line.
NAME_SUFFIX = lazy(r"(?:Jr|Sr|Jnr|Snr)\.?|II|III|IV|V", re.IGNORECASE)


def split_names(names: str) -> list[str]:
    """The authors of one line listing them all, as arXiv writes them (its
    feeds' one ``dc:creator``, its listings' and abstract pages' authors
    line): comma- or "and"-separated.  A suffix written after a comma stays
    with its name: "John Smith, Jr., Ann Lee" read as three authors, one
    named "Jr."."""
    out: list[str] = []
    for part in (n.strip() for n in _NAMES_SPLIT.split(names)):
        if out and NAME_SUFFIX.fullmatch(part):
            out[-1] = f"{out[-1]} {part}"
        elif part:
            out.append(part)
    return out


def first_last(name: str) -> str:
    """A name as exports and Dublin Core write it, "Last, First" (or "Last,
    First, Suffix"), as it is shown: "First Last" ("First Last Suffix"); one
    written otherwise as it is."""
    parts = [p.strip() for p in name.split(",")]
    if len(parts) in (2, 3) and all(parts):
        return " ".join((parts[1], parts[0], *parts[2:]))
    return " ".join(name.split())


def abs_url(arxiv_id: str) -> str:
    """The paper's arXiv abstract page (every version's: the base id)."""
    return f"https://arxiv.org/abs/{arxiv_base_id(arxiv_id)}"


def pdf_url(arxiv_id: str) -> str:
    """The paper's PDF on arXiv (the version the id names)."""
    return f"https://arxiv.org/pdf/{arxiv_id}"


@dataclass(frozen=True, slots=True)
class NotAgain:
    """A paper a digest leaves out as a new version of one sent before
    (``TopicIndex.revised_sent``), as ``send`` carries it from planning to its
    report (and from a send worker to its parent): what :func:`matching.not_again_lines`
    words, only when it is said, and without the paper's abstract."""

    id: str
    version: int | None
    title: str

    @property
    def arxiv_id(self) -> str:
        return self.id

    @classmethod
    def of(cls, paper: Paper) -> NotAgain:
        return cls(paper.id, paper.version, paper.title)

    def to_json(self) -> dict:
        """As ``match --json`` gives it under ``revised``."""
        return {"id": self.id, "version": self.version, "title": self.title}


@dataclass(frozen=True, slots=True)
class Paper:
    """One research paper as the sources describe it.

    ``id`` is the arXiv id (without version) when known, else the normalised
    title; two papers with the same id, or the same normalised title, are the
    same paper and get merged by :func:`merge`.
    """

    title: str
    abstract: str
    source: str
    arxiv_id: str | None = None
    authors: tuple[str, ...] = ()
    url: str | None = None
    pdf_url: str | None = None
    published: datetime | None = None
    categories: tuple[str, ...] = ()
    upvotes: int | None = None
    keywords: tuple[str, ...] = ()
    github: str | None = None
    comment: str | None = None  # the arXiv author comment ("12 pages; code at https://github.com/...")
    location: str | None = None  # "FILE:LINE" or URL it was read from, for messages
    version: int | None = None  # the arXiv version read (2 for ``2401.01234v2``), when the source gave one
    # how much of ``published`` the source gave: "year" (an export's "2024": ``published`` is then its 1 January),
    # "month" ("2023-09"), None for a day (or a time); a year alone was shown as "1 Jan 2024", a day it never named
    date_precision: str | None = None
    # the keys of the titles it was also seen under (an export's, before its authors changed it on
    # arXiv): a paper sent under one of them is sent (see :attr:`keys`)
    known_as: tuple[str, ...] = field(default=(), compare=False)
    title_key: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "title_key", normalize_title(self.title))
        if self.arxiv_id:
            if self.version is None and (version := _ARXIV_VERSION.search(self.arxiv_id.strip())):
                object.__setattr__(self, "version", int(version.group()[1:]))
            object.__setattr__(self, "arxiv_id", arxiv_base_id(self.arxiv_id))
        for name in ("url", "pdf_url", "github"):
            value = getattr(self, name)
            if value is not None and (clean := web_url(value)) != value:
                object.__setattr__(self, name, clean)

    @property
    def id(self) -> str:
        return self.arxiv_id or self.title_key

    @property
    def keys(self) -> frozenset[str]:
        """Every key the paper may have been sent under: its id, its title's
        key, and those of the titles it was also seen under."""
        return frozenset((self.id, self.title_key, *self.known_as))

    @property
    def primary_category(self) -> str | None:
        """The arXiv primary category (``cs.LG``): the first category, when it is
        one in arXiv's taxonomy (a blog feed's tags are not)."""
        first = self.categories[0] if self.categories else None
        return first if first and _ARXIV_CATEGORY.match(first) else None

    def merge(self, other: Paper) -> Paper:
        """The same paper seen twice: keep the richest value of each field, a
        newer arXiv version's own text (its v2 title, not v1's read first), and
        the earliest date (:func:`_first_published`)."""
        versions = self.version is not None and other.version is not None and self.version != other.version
        if versions and (other.version or 0) > (self.version or 0):
            newer = other.merge(self)
            return replace(newer, source=self._sources_with(other), location=self.location or newer.location)
        changes = {}
        for f in fields(self):
            if not f.init:
                continue
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            if f.name in ("abstract", "title") and versions:
                continue  # two versions: the newer one's text, even where the older's is longer
            if f.name in ("abstract", "title"):
                if len(theirs) > len(mine) and f.name == "abstract":
                    changes[f.name] = theirs
            elif f.name == "source":
                if (sources := self._sources_with(other)) != mine:
                    changes[f.name] = sources
            elif f.name == "upvotes":
                if theirs is not None and (mine is None or theirs > mine):
                    changes[f.name] = theirs
            elif f.name == "published":
                if _first_published(other, self):
                    changes.update(published=theirs, date_precision=other.date_precision)
            elif f.name == "date_precision":
                continue  # (with published, above)
            elif f.name == "known_as":
                seen = tuple(dict.fromkeys(k for k in (*mine, *theirs, self.title_key, other.title_key)))
                if seen != mine and len(seen) > 1:
                    changes[f.name] = seen
            elif f.name in ("categories", "keywords"):
                merged = tuple(dict.fromkeys(mine + theirs))
                if merged != mine:
                    changes[f.name] = merged
            elif not mine and theirs:
                changes[f.name] = theirs
        return replace(self, **changes) if changes else self

    def _sources_with(self, other: Paper) -> str:
        """The sources that gave the paper, in the order they were read."""
        parts = self.source.split(", ")
        return self.source if other.source in parts else ", ".join(parts + [other.source])

    @property
    def date_text(self) -> str:
        """The paper's date as the source gave it, for people: "6 Jun 2024",
        "Jun 2024" or "2024" ("" for none)."""
        when = self.published
        if when is None:
            return ""
        return {"year": f"{when:%Y}", "month": f"{when:%b %Y}"}.get(self.date_precision or "", f"{when.day} {when:%b %Y}")

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "title": self.title,
            "abstract": self.abstract,
            "authors": list(self.authors),
            "url": self.url,
            "source": self.source,
            "published": self.published.isoformat() if self.published else None,
            # (a year alone is published on its 1 January: this says it is no day)
            "published_precision": (self.date_precision or "day") if self.published else None,
            "arxiv_id": self.arxiv_id,
            "pdf_url": self.pdf_url,
            "categories": list(self.categories),
            "upvotes": self.upvotes,
            "keywords": list(self.keywords),
            "github": self.github,
            "comment": self.comment,
            "primary_category": self.primary_category,
        }


#: A word of an abstract as :func:`abstract_words` takes it: letters only (math
#: comes as "sim1000" from one source and "∼1000" from another: the digits are no word).
_LETTERS = lazy(r"[^\W\d_]+")
#: Fewer words than this is no abstract to know a paper by ("Short.", "See the paper").
MIN_ABSTRACT_WORDS = 40
#: Words in a row that name an abstract (see :func:`_abstract_anchors`), and one such run in
#: this many is kept (chosen by the run's text, so two copies of one abstract keep the same ones).
_ANCHOR_WORDS = 5
_ANCHOR_SAMPLE = 4
#: The share of the fewer anchors that two abstracts must share to be compared word by word.
_ANCHORS_SHARED = 0.3
#: The share of the shorter abstract's words the other must have for the two to be one
#: abstract: what differs is math written another way ("α" / "alpha"), not sentences.
SAME_ABSTRACT_SHARE = 0.9


def abstract_words(abstract: str) -> list[str]:
    """The abstract's words, case-folded and in compatibility form (see :func:`normalize_title`)."""
    text = unicodedata.normalize("NFKC", abstract) if not abstract.isascii() else abstract
    return [w for w in _LETTERS.findall(text.casefold()) if len(w) > 1]


def _abstract_anchors(words: list[str]) -> frozenset[int]:
    """Runs of words of an abstract, some of them (by their text, not where they
    are): two copies of one abstract share most of them even when math is
    written differently in places ("Schr\\"odinger" is two words, "Schrödinger"
    one) or one copy is cut short ("Read more")."""
    if len(words) < MIN_ABSTRACT_WORDS:
        return frozenset()
    # crc32, not hash(): Python salts str hashes per process, so which runs were kept, and so
    # whether two copies shared enough of them to be compared, changed from one run to the next
    runs = (zlib.crc32(" ".join(words[i:i + _ANCHOR_WORDS]).encode()) for i in range(len(words) - _ANCHOR_WORDS + 1))
    return frozenset(h for h in runs if h % _ANCHOR_SAMPLE == 0)


def same_abstract(a: list[str], b: list[str]) -> bool:
    """Two abstracts that are one: each long enough (:data:`MIN_ABSTRACT_WORDS`),
    and nearly every word of the shorter in the longer (:data:`SAME_ABSTRACT_SHARE`)."""
    if min(len(a), len(b)) < MIN_ABSTRACT_WORDS:
        return False
    shorter, longer = (a, b) if len(a) <= len(b) else (b, a)
    have = set(longer)
    return sum(w in have for w in shorter) >= SAME_ABSTRACT_SHARE * len(shorter)


def merge_papers(papers) -> list[Paper]:
    """Collapse duplicates, keeping first-seen order: the same arXiv id, the same
    normalised title, or, between a paper with an arXiv id and one without,
    the same abstract (see :class:`_ByAbstract`)."""
    merged: list[Paper] = []
    by_id: dict[str, int] = {}
    by_title: dict[str, int] = {}
    by_abstract = _ByAbstract(merged)
    for paper in papers:
        slot = by_id.get(paper.arxiv_id) if paper.arxiv_id else None
        if slot is None:
            slot = by_title.get(paper.title_key)
            # Two different arXiv ids with the same title are different papers.
            if slot is not None and paper.arxiv_id and merged[slot].arxiv_id not in (None, paper.arxiv_id):
                slot = None
        by_text = slot is None and (slot := by_abstract.find(paper)) is not None
        if slot is None:
            merged.append(paper)
            slot = len(merged) - 1
        else:
            kept = merged[slot]
            merged[slot] = kept.merge(paper)
            if by_text and paper.arxiv_id and not kept.arxiv_id:
                merged[slot] = replace(merged[slot], title=paper.title)  # the arXiv title: the newer
        current = merged[slot]
        by_abstract.saw(current)
        if current.arxiv_id:
            by_id[current.arxiv_id] = slot
        # Every spelling seen names the paper: an export with the HF title merges
        # even when the arXiv title (kept) differs from it.
        by_title.setdefault(current.title_key, slot)
        by_title.setdefault(paper.title_key, slot)
    return merged


def papers_known_earlier(papers: list[Paper], recorded: list[Paper]) -> list[Paper]:
    """``papers``, each one whose abstract is that of a ``recorded`` paper of the
    other kind (with an arXiv id, without one: see :class:`_ByAbstract`) given
    that paper's keys as :attr:`Paper.known_as`; one known by a key already is
    left as it is."""
    keys = frozenset(k for r in recorded for k in r.keys)
    by_abstract = _ByAbstract(recorded)
    for r in recorded:
        by_abstract.saw(r)
    out = []
    for paper in papers:
        slot = None if not keys.isdisjoint(paper.keys) else by_abstract.find(paper)
        if slot is not None:
            earlier = recorded[slot]
            paper = replace(paper, known_as=tuple(dict.fromkeys((*paper.known_as, earlier.id, earlier.title_key))))
        out.append(paper)
    return out


class _ByAbstract:
    """The papers merged so far by their abstracts, for a paper seen by its
    title only (an export) and, with its arXiv id, under a title its authors
    changed since (the arXiv API, a feed): they were two papers, sent twice.

    Only between a paper with an id and one without (two ids are two papers
    whatever their text; two papers without one may be a blog's stock text
    under each post), only for an abstract of :data:`MIN_ABSTRACT_WORDS` or
    more that is :func:`same_abstract`, and only when one paper fits (an
    abstract fitting two is left to neither).  The abstracts are read only
    when such a pair can be: a run of exports alone, or of arXiv alone, pays
    nothing."""

    def __init__(self, merged: list[Paper]) -> None:
        self.merged = merged
        self.indexed = 0
        self.words: list[list[str]] = []
        self.counts: list[int] = []
        self.anchors: dict[int, list[int]] = {}
        self.with_id = self.without_id = False

    def saw(self, merged: Paper) -> None:
        """Note a paper as merged (with an id or without one: a pair of the two kinds can be)."""
        if merged.arxiv_id:
            self.with_id = True
        else:
            self.without_id = True

    def find(self, paper: Paper) -> int | None:
        """The slot of the one merged paper whose abstract is ``paper``'s, else None."""
        if not (self.without_id if paper.arxiv_id else self.with_id):
            return None
        self._index()
        words = abstract_words(paper.abstract)
        anchors = _abstract_anchors(words)
        shared = Counter(slot for anchor in anchors for slot in self.anchors.get(anchor, ()))
        found = [slot for slot, n in sorted(shared.items())
                 if n >= max(2, _ANCHORS_SHARED * min(len(anchors), self.counts[slot]))
                 and bool(self.merged[slot].arxiv_id) != bool(paper.arxiv_id) and same_abstract(words, self.words[slot])]
        return found[0] if len(found) == 1 else None

    def _index(self) -> None:
        """Index the abstracts of the papers merged since the last call."""
        for slot in range(self.indexed, len(self.merged)):
            words = abstract_words(self.merged[slot].abstract)
            anchors = _abstract_anchors(words)
            self.words.append(words)
            self.counts.append(len(anchors))
            for anchor in anchors:
                self.anchors.setdefault(anchor, []).append(slot)
        self.indexed = len(self.merged)
