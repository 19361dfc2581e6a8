"""Pick each subscriber's papers with the topic rules of the config.

Term semantics (the contract): case-insensitive; whole words (``SGD`` does not
match ``SGDR``); a multi-word term is a phrase whose words may be separated by
spaces or hyphens; a trailing ``*`` makes the last word a prefix; ``/.../`` is
a Python regular expression searched within each field.

Matching is done per *topic* over all papers once (:meth:`Matcher.index`),
then each subscriber's digest is a union of its topics' results
(:meth:`TopicIndex.select`): the cost grows with topics x papers, not with
subscribers x papers.

Score: every distinct matched term counts 1, or 2 when it matched in the
title.  Order: pinned authors first, then score, then upvotes, then title.
"""

from __future__ import annotations

import functools
import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import reasons
from .errors import ConfigError, Problem, counted
from .models import NotAgain, Paper
from .patterns import lazy
from .reasons import Reason

if TYPE_CHECKING:
    import regex  # imported when a /regex/ term is compiled (it takes 10 ms to load)

    from .ranking import LikeWarning

_SEPARATORS = r"[\s\-\u2010\u2011\u2012\u2013\u2014]+"
_WORD_SPLIT = re.compile(r"[\s\-\u2010\u2011\u2012\u2013\u2014]+")


@dataclass(frozen=True)
class Term:
    text: str
    regex: re.Pattern | regex.Pattern  # regex.Pattern for /.../ terms (searched with a timeout)
    literal: str | None = None
    words: tuple[str, ...] = ()
    """Cheap necessary conditions that spare most regex searches: ``literal``
    (case-folded) must occur in the folded text, and each of ``words`` must be
    one of its words.  Both are empty for ``/regex/`` terms."""
    user_regex: bool = False  # a /.../ term: searched with a time limit

    def search(self, text: str, folded: str | None = None, tokens: frozenset | None = None) -> re.Match | None:
        if folded is not None:
            if self.literal is not None and self.literal not in folded:
                return None
            if tokens is not None:
                for word in self.words:
                    if word not in tokens:
                        return None
        if self.user_regex:
            try:
                return self.regex.search(text, timeout=REGEX_TIMEOUT)  # type: ignore[call-overload]
            except TimeoutError:
                raise RegexTimeout(self.text) from None
        return self.regex.search(text)


#: Seconds one /regex/ term may take on one field of one paper (normal: microseconds).
REGEX_TIMEOUT = 0.5


class RegexTimeout(ConfigError):
    """A /regex/ term backtracked past :data:`REGEX_TIMEOUT` (nested repetition)."""

    def __init__(self, term: str, problem: Problem | None = None):
        self.term = term
        super().__init__(problem or Problem(_timeout_message(term)))


def _timeout_message(term: str) -> str:
    return (
        f"regular expression {term!r} took over {REGEX_TIMEOUT:g} s on one paper (catastrophic "
        "backtracking); rewrite it without nested repetition such as (a|aa)+ or (\\w+\\s?)+"
    )


_TOKEN = re.compile(r"\w+")


def tokenize(folded: str) -> frozenset[str]:
    """The words of an already case-folded text, for :meth:`Term.search`."""
    return frozenset(_TOKEN.findall(folded))


#: How big a compiled /regex/ term may grow, in pattern items after its counted
#: repeats are unrolled (``a{1000}`` is 1,000; ``(a{1000}){1000}`` a million,
#: which takes the regex package seconds and hundreds of MB to compile).
MAX_REGEX_SIZE = 10_000

_COUNTED = lazy(r"(?<!\\)\{(\d*)(?:,(\d*))?\}")


def _check_regex_size(body: str, text: str) -> None:
    """Refuse a pattern whose compiled form would be huge, *before* compiling it:
    the regex package unrolls counted repeats, so ``/a{1000000000}/`` would
    exhaust memory at validation time, not just at match time."""
    import re._constants as sre_constants
    import re._parser as sre_parse

    try:
        parsed = sre_parse.parse(body, re.IGNORECASE)
    except (re.error, OverflowError, RecursionError, ValueError):
        parsed = None
    if parsed is not None:
        size = _parsed_size(parsed, sre_constants)
    else:
        # Syntax only the regex package knows (\p{L}, ...): assume every counted
        # repeat is nested in the one before (an upper bound).
        size = 1
        for m in _COUNTED.finditer(body):
            for number in m.groups():
                if number and len(number) > 9:
                    size = MAX_REGEX_SIZE + 1
                elif number:
                    size *= max(1, int(number))
            size = min(size, MAX_REGEX_SIZE + 1)
    if size > MAX_REGEX_SIZE:
        raise ValueError(
            f"regular expression {text!r} is too big: its counted repeats unroll to over "
            f"{MAX_REGEX_SIZE:,} items (use smaller counts, or + and * instead of {{n}})"
        )


def _parsed_size(items, c) -> int:
    """Items of a parsed pattern with counted repeats unrolled (capped early)."""
    total = 0
    for op, av in items:
        if op in (c.MAX_REPEAT, c.MIN_REPEAT, getattr(c, "POSSESSIVE_REPEAT", None)):
            lo, hi, sub = av
            count = lo if hi == c.MAXREPEAT else hi
            total += max(1, count) * _parsed_size(sub, c)
        elif op is c.SUBPATTERN:
            total += _parsed_size(av[-1], c)
        elif op is c.BRANCH:
            total += sum(_parsed_size(b, c) for b in av[1])
        elif op in (c.ASSERT, c.ASSERT_NOT):
            total += _parsed_size(av[1], c)
        elif op is getattr(c, "ATOMIC_GROUP", None):
            total += _parsed_size(av, c)
        elif op is c.GROUPREF_EXISTS:
            total += _parsed_size(av[1], c) + (_parsed_size(av[2], c) if av[2] else 0)
        else:
            total += 1
        if total > MAX_REGEX_SIZE:
            return total
    return total


#: arXiv's search-field prefixes, as an alert or a search copies them (``ti:diffusion``),
#: with the ``fields:`` (or key) that does the same here.
_ARXIV_FIELDS = {"ti": "fields: [title]", "abs": "fields: [abstract]", "au": "fields: [authors]",
                 "cat": "", "all": "", "co": "", "jr": ""}
#: arXiv's author search form, ``Tanaka_K`` or ``van_der_Berg_J_A``: the surname, then initials.
_ARXIV_AUTHOR = re.compile(r"(?P<surname>[^\W_](?:[^\W_]|['-])*(?:_[^\W_](?:[^\W_]|['-])*)*?)(?:_[A-Z]\.?)+")
#: "Surname, Given" as a reference list or an alert writes an author (papers write "Given Surname").
_SURNAME_FIRST = re.compile(r"(?P<surname>\w[\w'.-]*(?: \w[\w'.-]*){0,2}), (?P<given>\w[\w'.-]*(?: \w[\w'.-]*){0,2})")
_QUOTED = re.compile(r'["“”„]\s*(?P<inner>[^"“”„]+?)\s*["“”]')


_ARXIV_PREFIX = re.compile(rf"^(?:{'|'.join(_ARXIV_FIELDS)}):\s*")


def _arxiv_author(name: str) -> tuple[str, bool, str]:
    """An author as an arXiv query names one, as papers write it: the name,
    whether it is the surname alone, and why it differs (empty when it does not)."""
    if initials := _ARXIV_AUTHOR.fullmatch(name):
        # an alert's au:Tanaka_K: 'Tanaka_K' matched no paper, which writes 'Kenji Tanaka'
        return initials["surname"].replace("_", " "), True, "papers write whole names, not arXiv's Surname_Initials"
    if (named := _SURNAME_FIRST.fullmatch(name)) and _initials(named["given"]):
        return named["surname"], True, "papers write whole given names, not initials"
    if named:
        return f"{named['given']} {named['surname']}", False, "papers write the given name first"
    return name, False, ""


def _refuse_search_syntax(text: str, raw: str) -> None:
    """What search engines and arXiv alerts write but a term reads literally:
    quotes around a phrase, a field prefix, ``NOT`` or a leading ``-``.  Each
    made a term that matched nothing, and validate only said the topic
    matched no paper: a quiet week with no reason given."""
    if re.search(r"(?:^|\s)(?:AND\s+)?NOT\s|\sANDNOT\s", raw):
        parts = re.split(r"\s*\b(?:AND\s*NOT|ANDNOT|NOT)\b\s*", raw)
        kept, dropped = parts[0], ", ".join(json.dumps(p, ensure_ascii=False) for p in parts[1:] if p)
        instead = f"put [{dropped}] under none:" + (f" and keep {json.dumps(kept, ensure_ascii=False)} here"
                                                      if kept else "")
        raise ValueError(f"term {text!r} is written as a search query; NOT excludes nothing in a term: {instead}")
    if m := re.match(r"\(?([a-z]+):(?!//)\s*(\S.*)", raw):
        if m[1] in _ARXIV_FIELDS:
            field = _ARXIV_FIELDS[m[1]]
            # an alert's whole query, 'au:Tanaka_K OR au:Muller_A': each name its own term (it said
            # "write 'Tanaka_K OR au:Muller_A'", itself a query, and 'au:"Tanaka, K"' a term with a comma)
            pieces = [_ARXIV_PREFIX.sub("", p.strip().strip('()"“”').strip()).strip('()"“”').strip()
                      for p in re.split(r"\s+(?:OR|AND|\|\|?)\s+", m[2].strip())]
            found = [_arxiv_author(p) if m[1] == "au" else (p, False, "") for p in pieces if p]
            why = "; ".join([*dict.fromkeys(w for _, _, w in found if w), *([f"{field} searches only there"]
                                                                           if field else [])])
            if m[1] == "cat":
                instead = f"a category goes under categories: [{', '.join(name for name, _, _ in found)}]"
            elif len(found) == 1:
                instead = f"write {found[0][0]!r}" + (", the surname" if found[0][1] else "")
            else:
                listed = ", ".join(json.dumps(name, ensure_ascii=False) for name, _, _ in found)
                instead = f"list them as separate terms, [{listed}]"
                why = "; ".join(["under all: when each must match", *([why] if why else [])])
            instead += f" ({why})" if why and m[1] != "cat" else ""
            raise ValueError(f"term {text!r} starts with arXiv's search field '{m[1]}:', which a term reads as "
                             f"text: {instead}")
    if raw.startswith("-") and re.match(r"-\s*\w", raw):
        raise ValueError(f"term {text!r}: a leading '-' excludes nothing here; write {raw[1:].strip()!r} under none:")
    if quoted := _QUOTED.fullmatch(raw):
        bare = quoted["inner"]
        raise ValueError(f"term {text!r} holds quotes, which a term reads as text: write {bare!r} (a term of "
                         "several words is already a phrase)")


def _initials(given: str) -> bool:
    """Whether ``given`` is initials only: 'K.', 'K. J.', 'KJ', 'J.-P.'."""
    pieces = re.findall(r"[^\W\d_]+", given)
    return bool(pieces) and all(len(p) == 1 or (p.isupper() and len(p) <= 3) for p in pieces)


def compile_term(text: str) -> Term:
    """Compile one topic term; ``ValueError`` says what is wrong with it."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"empty term {text!r}")
    raw = text.strip()
    if is_regex_term(raw):
        body = raw[1:-1]
        if not body:
            raise ValueError(f"empty regular expression {text!r}")
        _check_regex_size(body, text)
        import regex

        try:
            # The regex package (Python's syntax, V0) because it can time out:
            # a user's pattern with nested repetition must not hang a send.
            return Term(text, regex.compile(body, regex.IGNORECASE | regex.V0), user_regex=True)
        except regex.error as exc:
            raise ValueError(f"invalid regular expression {text!r}: {exc}") from None
    # A newcomer's query syntax or list in one string would be one phrase that
    # matches (almost) nothing: a quiet week instead of an error.
    _refuse_search_syntax(text, raw)
    if re.search(r"\s(?:OR|AND|\|\|?)\s", raw):
        # the words without the query's brackets and quotes: '(diffusion OR flow)' lists 'diffusion', 'flow'
        bare = (p.strip().strip('()"“”').strip() for p in re.split(r"\s+(?:OR|AND|\|\|?)\s+", raw))
        parts = ", ".join(json.dumps(p, ensure_ascii=False) for p in bare if p)
        raise ValueError(
            f"term {text!r} is written as a search query; a term is one word or phrase: list the words as "
            f"separate terms, [{parts}] (under all: when each must match)"
        )
    if re.search(r",\s", raw):  # ("1,3-butadiene" is a chemist's word)
        parts = ", ".join(json.dumps(p.strip(), ensure_ascii=False) for p in raw.split(",") if p.strip())
        named = _SURNAME_FIRST.fullmatch(raw)
        if named and named["surname"].split()[-1][0].isupper() and all(w[0].isupper() for w in named["given"].split()):
            # "Müller, Ana", as an alert or a reference list names an author: not two terms
            given = named["given"]
            # initials alone ('Tanaka, K.'): papers write 'Kenji Tanaka', which 'K. Tanaka' does not match
            written = (f"the surname alone, {named['surname']!r} (papers write whole given names, not initials)"
                       if _initials(given) else f"{given + ' ' + named['surname']!r}")
            raise ValueError(f"term {text!r} holds a comma: for an author, write the name as papers do, "
                             f"{written} (with fields: [authors]); for two terms, [{parts}]")
        raise ValueError(f"term {text!r} holds a comma: each term is its own item, [{parts}]")
    prefix = raw.endswith("*")
    if prefix:
        raw = raw[:-1].rstrip()
    words = [w for w in _WORD_SPLIT.split(raw) if w]
    if not words:
        raise ValueError(f"term {text!r} has no words")
    if any("*" in w for w in words):
        raise ValueError(f"term {text!r}: '*' is only allowed at the end (a prefix), use /regex/ for more")
    pattern = _SEPARATORS.join(re.escape(w) for w in words)
    start = r"(?<!\w)" if re.match(r"\w", words[0]) else ""
    end = r"\w*" if prefix else (r"(?!\w)" if re.search(r"\w$", words[-1]) else "")
    folded = [w.casefold() for w in words]
    whole = tuple(w for w in (folded[:-1] if prefix else folded) if re.fullmatch(r"\w+", w))
    return Term(text, re.compile(start + pattern + end, re.IGNORECASE), max(folded, key=len), whole)


_LAST_WORD = lazy(r"([^\W\d_]{2,})$")


def other_number(text: str) -> str | None:
    """The term with its last word in the other grammatical number
    (``diffusion model`` -> ``diffusion models``; ``LLMs`` -> ``LLM``;
    ``policy`` <-> ``policies``), for a plain term only.  Terms are whole
    words, so ``diffusion model`` misses every paper that writes only
    ``diffusion models``: a quiet digest nobody is told about unless someone
    looks for the other form.  Words that end in s and are no plural
    (``analysis``, ``robotics``) have none."""
    raw = text.strip()
    if raw.endswith("*") or raw.startswith("/") or not (m := _LAST_WORD.search(raw)):
        return None
    word, low = m[1], m[1].casefold()
    if re.search(r"[^aeiou]ies$", low):
        form = word[:-3] + "y"
    elif re.search(r"(?:ss|x|zz|ch|sh)es$", low):  # not "sizes": size
        form = word[:-2]
    elif low.endswith("ss") or re.search(r"(?:x|z|ch|sh)$", low):
        form = word + "es"
    elif re.search(r"(?:us|is|ics|ous)$", low):
        return None
    elif low.endswith("s"):
        form = word[:-1]
    elif re.search(r"[^aeiou]y$", low):
        form = word[:-1] + "ies"
    else:
        form = word + "s"
    return raw[: m.start()] + form


@dataclass(frozen=True)
class Hit:
    """One term found in one field of a paper: the "why" of a match."""

    term: str
    field: str
    text: str  # what it matched, as it appears in the paper


@dataclass(frozen=True)
class TopicMatch:
    """A topic's verdict on a paper.  ``relevance`` (in [0, 1]) and ``reason``
    are set when the topic ranks by ``about``/``like``."""

    topic: str
    hits: tuple[Hit, ...]
    relevance: float | None = None
    reason: Reason | None = None
    fit: float | None = None  # the relevance the floor cut, where ``relevance`` fuses it with the rules' order

    @functools.cached_property
    def why(self) -> Reason:
        """The ranked reason, else the rules' (made here, for the papers a
        digest takes, not for every paper a rule matches; once per topic and
        paper, for every digest that takes it)."""
        return self.reason if self.reason is not None else rules_reason(self.hits)


#: A matched text longer than this (a regex spanning a sentence) is named by
#: its first and last words, in ``match``'s reason and in the email alike
#: (:mod:`rendering` uses these for its "Why" line and its highlighting).
REASON_CHARS = 40
REASON_WORDS = 4
WORD = re.compile(r"\w[\w'’-]*")


def is_long_match(text: str) -> bool:
    return len(text) > REASON_CHARS or len(text.split()) > REASON_WORDS


def is_regex_term(term: str) -> bool:
    """Whether a term as the config writes it is a ``/regex/``."""
    raw = term.strip()
    return len(raw) >= 2 and raw.startswith("/") and raw.endswith("/")


def reason_match(text: str, term: str) -> str:
    """A matched text as a reason names it: a ``/regex/``'s long match by its
    ends (:func:`short_match`); a word or phrase term's whole, however many
    words ("reinforcement learning from human feedback" read
    "reinforcement … feedback", a term the reader wrote, cut)."""
    return short_match(text) if is_regex_term(term) else " ".join(text.split())


def rules_reason(hits: Iterable[Hit]) -> Reason:
    """What the rules matched, as a reader is told it: the matched texts in
    the term's case (the email's), a long ``/regex/`` match by its ends, not
    the categories (the reader did not write a word of them)."""
    return reasons.rules(
        reason_match(h.text if h.field == "authors" else in_terms_case(h.text, h.term), h.term)
        for h in hits if h.field != "categories")


def short_match(text: str) -> str:
    """A matched text as a reason names it: whole when short, else its first
    and last words (``explaining … predictions``)."""
    text = " ".join(text.split())
    if not is_long_match(text):
        return text
    words = WORD.findall(text)
    return f"{words[0]} … {words[-1]}" if len(words) > 1 else text[:REASON_CHARS] + "…"


def in_terms_case(text: str, term: str) -> str:
    """A match's words that are only capitalised (a title's title case, a
    sentence's first word) in lower case where the config writes the term's
    word so: the reader was given "Why: interpretability, Explainable",
    "Stochastic Gradient, SGD" or "also in LLMs (Language Models)", the case
    of wherever the first hit happened to be.  An acronym or a mixed-case
    name ("SGD", "AutoDiffusion") keeps its letters, and so does a word the
    term writes with a capital ("Schrödinger bridge*": "Schrödinger
    bridges").  A ``/regex/`` (case-insensitive, its capitals escapes such
    as ``\\W``) has its match lowered only when every word of it is merely
    capitalised."""
    if text == text.lower():
        return text
    words = _WORD_PARTS.split(text)
    if is_regex_term(term):
        return text.lower() if all(w[1:] == w[1:].lower() for w in words) else text
    cases = [w == w.lower() for w in _WORD_PARTS.split(term.rstrip("*")) if w]
    if len(cases) != len([w for w in words if w]):
        return text  # not word for word (a term's phrase matched otherwise): as the paper writes it
    at = iter(cases)
    return _WORD_RUN.sub(lambda m: m[0].lower() if next(at) and m[0][1:] == m[0][1:].lower() else m[0], text)


_WORD_RUN = re.compile(r"[^\W_]+")
_WORD_PARTS = re.compile(r"[\W_]+")  # "Physics-Informed": two words


@dataclass(frozen=True)
class PaperMatch:
    """A paper selected for a subscriber, with the reasons."""

    paper: Paper
    score: float  # matched-term count for keyword topics, relevance in [0, 1] for ranked ones
    topics: tuple[str, ...]  # topic keys: the best fit first (its section in the email), then the subscriber's order
    terms: tuple[str, ...]  # distinct matched terms, as written in the config
    hits: tuple[Hit, ...]
    pinned: bool = False
    topic_reasons: tuple[Reason | None, ...] = ()
    """Each topic's reason, aligned with ``topics``, so an email can say which
    topic gave which reason (empty: the rules' reason is read off ``hits``)."""
    counted: bool = False
    """``score`` is a keyword topic's count though a ranked topic took the paper
    too (the count fitted better): its place is n/(n+1), not the count."""

    @property
    def reasons(self) -> tuple[Reason, ...]:
        """The ranked topics' reasons, each once (empty: only rules took it)."""
        return tuple(dict.fromkeys(r for r in self.topic_reasons if r is not None and r.ranked))

    @property
    def why(self) -> tuple[Reason, ...]:
        """Every topic's reason, aligned with ``topics`` where they were given."""
        if not self.topic_reasons:
            return (rules_reason(self.hits),)
        return tuple(r if r is not None else Reason("rules") for r in self.topic_reasons)

    @property
    def fit(self) -> float:
        """Its place in a digest that mixes topics, on one scale: the relevance,
        or a keyword score n as n/(n+1) (see :func:`_fit`)."""
        return self.score if self.reasons and not self.counted else self.score / (self.score + 1)

    @property
    def reason(self) -> str:
        """Why this paper is in the digest, in words (never rule syntax)."""
        return reasons.said(self.why)

    def to_json(self) -> dict:
        return {
            "id": self.paper.id,
            "title": self.paper.title,
            "score": self.score,
            "topics": list(self.topics),
            "terms": list(self.terms),
            "reason": self.reason,
            "reasons": [{"topic": t, **r.to_json()} for t, r in zip(self.topics, self.why, strict=False)],
            "matches": [{"term": h.term, "field": h.field, "text": h.text} for h in self.hits],
            "url": self.paper.url,
            "pinned": self.pinned,
        }


#: Papers matched together (one word index at a time); see :meth:`Matcher.results`.
INDEX_SLICE = 4096


#: Between two authors of a paper (and two papers' texts joined): a phrase term's words are joined by
#: ``[\s-]+``, which ";" stops, so "Wang Ana" is not found across "Jie Wang" and "Ana Müller".  A line
#: break alone let a topic of ``fields: [authors]`` match a name no author has.
TEXTS_APART = "\n;\n"


def field_texts(paper: Paper) -> dict[str, str]:
    """The texts a rule's terms are searched in; script letters plain (``\\mathcal{N}=4``,
    shown "𝒩=4", is found by "N=4": see :func:`latex.plain_letters`)."""
    from .latex import plain_letters

    return {
        "title": plain_letters(paper.title),
        "abstract": plain_letters(paper.abstract),
        "authors": TEXTS_APART.join(paper.authors),
        "categories": "\n".join(paper.categories),
    }


class TopicRule:
    """A compiled topic: its terms, fields, and category filter."""

    def __init__(self, key: str, topic) -> None:
        self.key = key
        self.name = topic.name or key
        self.any = [compile_term(t) for t in topic.any]
        self.all = [compile_term(t) for t in topic.all]
        self.none = [compile_term(t) for t in topic.none]
        self.fields = tuple(topic.fields)
        self.categories = {c.lower() for c in topic.categories}
        self.category_names = tuple(topic.categories)  # as written, for messages

    def candidates(self, words: _WordIndex) -> set[int] | None:
        """Papers that may match this topic (a superset); None when any paper may."""
        sets = []
        if self.any:
            union: set[int] = set()
            for term in self.any:
                found = words.term(term, self.fields)
                if found is None:  # a term the index cannot narrow: any paper may match
                    break
                union |= found
            else:
                sets.append(union)
        for term in self.all:
            found = words.term(term, self.fields)
            if found is not None:
                sets.append(found)
        if not sets:
            return None
        return set.intersection(*sets) if len(sets) > 1 else sets[0]

    def _hits(self, term: Term, texts: Mapping[str, str], folded: Mapping[str, str], tokens: Mapping) -> list[Hit]:
        out = []
        for field in self.fields:
            m = term.search(texts[field], folded[field], tokens[field])
            if m:
                out.append(Hit(term.text, field, m.group(0)))
        return out

    def match(self, paper: Paper, texts: Mapping[str, str] | None = None, folded=None, tokens=None) -> TopicMatch | None:
        if texts is None:
            texts = field_texts(paper)
        if folded is None:
            folded = {k: v.casefold() for k, v in texts.items()}
        if tokens is None:
            tokens = _LazyTokens(folded)
        hits: list[Hit] = []
        if self.categories:
            cats = [c for c in paper.categories if c.lower() in self.categories]
            if not cats:
                return None
            hits.extend(Hit(c, "categories", c) for c in cats)
        for term in self.none:
            if self._hits(term, texts, folded, tokens):
                return None
        for term in self.all:
            found = self._hits(term, texts, folded, tokens)
            if not found:
                return None
            hits.extend(found)
        if self.any:
            found_any = [h for term in self.any for h in self._hits(term, texts, folded, tokens)]
            if not found_any:
                return None
            hits.extend(found_any)
        return TopicMatch(self.key, tuple(hits))


    def refusal(self, paper: Paper) -> str:
        """Why the rules do not take ``paper``, in words (``match --paper``):
        the first check of :meth:`match` it fails, in :meth:`match`'s order."""
        texts = field_texts(paper)
        folded = {k: v.casefold() for k, v in texts.items()}
        tokens = _LazyTokens(folded)
        if self.categories and not any(c.lower() in self.categories for c in paper.categories):
            have = ", ".join(paper.categories) or "none given"
            return f"not in its categories ({', '.join(self.category_names)}; the paper's: {have})"
        for term in self.none:
            found = self._hits(term, texts, folded, tokens)
            if found:
                return f"excluded by none: {term.text!r} ({found[0].field}: {short_match(found[0].text)!r})"
        for term in self.all:
            if not self._hits(term, texts, folded, tokens):
                return f"lacks all: {term.text!r} (in {', '.join(self.fields)})"
        if self.any:
            return f"has none of its any: terms (in {', '.join(self.fields)})"
        return "its rules do not take it"

class _LazyTokens(dict):
    """Each field's word set, computed the first time a term asks for it."""

    def __init__(self, folded: Mapping[str, str]):
        super().__init__()
        self.folded = folded

    def __missing__(self, field: str) -> frozenset[str]:
        value = self[field] = tokenize(self.folded[field])
        return value


class Matcher:
    """The config's topics, compiled once.  With ``config``, a /regex/ term that
    times out is reported at its line in the config file."""

    def __init__(self, topics: Mapping[str, object], config=None) -> None:
        self.rules = {key: TopicRule(key, topic) for key, topic in topics.items()}
        self.topics = topics
        self.config = config

    def index(self, papers: Iterable[Paper], topics: Iterable[str] | None = None) -> TopicIndex:
        """Match every topic (or the named ones) against every paper, once.

        An inverted index (word -> papers) finds, per topic, the few papers
        that contain its terms' words; only those are checked with the full
        rule, so most (topic, paper) pairs cost nothing.
        """
        papers = list(papers)
        return TopicIndex({p.id: p for p in papers}, self.results(papers, topics))

    def results(self, papers: list[Paper], topics: Iterable[str] | None = None) -> dict[str, dict[str, TopicMatch]]:
        """Per topic (all, or the named ones), the papers its rules let in, by id."""
        rules = [self.rules[k] for k in topics] if topics is not None else list(self.rules.values())
        results: dict[str, dict[str, TopicMatch]] = {rule.key: {} for rule in rules}
        # A slice at a time: the folded texts and the word index (several times
        # the papers' own size) exist for one slice only, so memory stays
        # proportional to the papers, not to a big export's word count.
        for start in range(0, len(papers), INDEX_SLICE):
            part = papers[start : start + INDEX_SLICE]
            texts = [field_texts(p) for p in part]
            folded = [{k: v.casefold() for k, v in t.items()} for t in texts]
            lookups = len(part) * sum((len(r.any) + len(r.all)) * len(r.fields) for r in rules)
            words = _WordIndex(folded, scan=lookups <= SCAN_MOST)
            for rule in rules:
                found = results[rule.key]
                candidates = rule.candidates(words)
                for i in range(len(part)) if candidates is None else sorted(candidates):
                    try:
                        m = rule.match(part[i], texts[i], folded[i], words.tokens(i))
                    except RegexTimeout as exc:
                        raise self._located(rule.key, exc, part[i]) from None
                    if m:
                        found[part[i].id] = m
        return results


    def _located(self, key: str, exc: RegexTimeout, paper: Paper) -> RegexTimeout:
        message = _timeout_message(exc.term) + f" (paper: {paper.title[:60]!r})"
        if self.config is None:
            return RegexTimeout(exc.term, Problem(f"topics.{key}: {message}"))
        topic = self.topics[key]
        for kind in ("any", "all", "none"):
            terms = getattr(topic, kind)
            if exc.term in terms:
                return RegexTimeout(exc.term, self.config.problem(("topics", key, kind, terms.index(exc.term)), message))
        return RegexTimeout(exc.term, self.config.problem(("topics", key), message))


#: Up to this many (paper, term, field) lookups, a term's candidates are found
#: by searching each paper's folded text for its words (a few hundred papers:
#: a day's listing); beyond, through an index of every word (see _WordIndex).
SCAN_MOST = 100_000


class _NoTokens(dict):
    """No word set for any field (see :meth:`_WordIndex.tokens`)."""

    def __missing__(self, field: str) -> None:
        return None


_NO_TOKENS = _NoTokens()


class _WordIndex:
    """Per field, which papers contain each word (built lazily, field by field).

    ``scan``: for a few papers, :meth:`term` searches each paper's folded text
    instead, which finds the same candidates (or a few more: a word may occur
    inside another) without splitting every text into words and indexing them
    (the rules' own check, which follows, splits only the candidates)."""

    def __init__(self, folded: Sequence[Mapping[str, str]], *, scan: bool = False):
        self.folded = folded
        self.scan = scan
        self._tokens: list[_LazyTokens | None] = [None] * len(folded)
        self._postings: dict[str, dict[str, set[int]]] = {}

    def tokens(self, i: int) -> Mapping[str, frozenset[str] | None]:
        """Paper ``i``'s words per field, for :meth:`Term.search`; with ``scan``,
        none (None for every field): the texts are not split into words, and a
        term's regular expression decides alone (the words only spared
        searches that the substring check before it now spares)."""
        if self.scan:
            return _NO_TOKENS
        return self._words(i)

    def _words(self, i: int) -> _LazyTokens:
        t = self._tokens[i]
        if t is None:
            t = self._tokens[i] = _LazyTokens(self.folded[i])
        return t

    def postings(self, field: str) -> dict[str, set[int]]:
        post = self._postings.get(field)
        if post is None:
            post = self._postings[field] = defaultdict(set)
            for i in range(len(self.folded)):
                for word in self._words(i)[field]:
                    post[word].add(i)
            post.default_factory = None  # a plain lookup from here on
        return post

    def term(self, term: Term, fields: Iterable[str]) -> set[int] | None:
        """Papers that may match ``term`` in ``fields``; None when any paper may."""
        out: set[int] = set()
        if self.scan:
            # A word of a text is in it as a substring, and so is a literal made
            # of word characters: a superset of what the index would give.
            needles = term.words or ((term.literal,) if term.literal and _TOKEN.fullmatch(term.literal) else ())
            if not needles:
                return None
            for field in fields:
                texts = [f[field] for f in self.folded]
                found: Sequence[int] = range(len(texts))
                for needle in needles:
                    found = [i for i in found if needle in texts[i]]
                out.update(found)
            return out
        for field in fields:
            post = self.postings(field)
            if term.words:
                sets = [post.get(w, _EMPTY) for w in term.words]
                out |= set.intersection(*sets) if len(sets) > 1 else sets[0]
            elif term.literal and _TOKEN.fullmatch(term.literal):
                for word, ids in post.items():
                    if term.literal in word:
                        out |= ids
            else:
                return None
        return out


_EMPTY: set[int] = set()


@dataclass(frozen=True)
class _Scored:
    """One topic's verdict on one paper, with what scoring needs precomputed."""

    match: TopicMatch
    title_terms: frozenset[str]
    other_terms: frozenset[str]
    score: float  # matched-term count, or the relevance of a ranked topic


def _fusion_count(tm: TopicMatch) -> int:
    """The rules' own order that a topic with rules and ``about``/``like``
    fuses with relevance: each distinct term counts 1, or 2 in the title.

    Not :func:`_score`'s strict order (more terms always first): the fusion
    weights, and the quality figures in the README, were measured with this
    count (``bench/quality.py``), and a ranked topic's order is its fused
    relevance, not the term count."""
    title = frozenset(h.term for h in tm.hits if h.field == "title")
    other = frozenset(h.term for h in tm.hits if h.field != "title")
    return 2 * len(title) + len(other - title)


def _score(title_terms: frozenset[str], other_terms: frozenset[str]) -> int:
    """A keyword match's score: more distinct matched terms always rank
    higher, and among papers with as many, more of them in the title.

    With ``n`` distinct terms of which ``t`` matched in the title, it is
    ``n(n+1)/2 + t``: one term scores 1 (2 in the title), two score 3 to 5,
    three 6 to 9, so no title bonus lifts a paper over one with more terms.
    """
    n = len(title_terms | other_terms)
    return n * (n + 1) // 2 + len(title_terms)


def _tail(paper: Paper) -> tuple:
    """How papers of equal score are ordered: by title."""
    return (paper.title.casefold(), paper.id)


def _fusion_tail(paper: Paper) -> tuple:
    """Ties in the rules' order that a ranked topic fuses with relevance:
    more upvotes first, then the title (as :func:`_fusion_count`, the order
    the fusion was tuned with)."""
    return (-(paper.upvotes or 0), paper.title.casefold(), paper.id)


@dataclass(frozen=True)
class NearMisses:
    """A ranked topic's best papers just under its floor, best first, each with
    its relevance: what lowering ``min_score`` to below ``floor`` would let in."""

    floor: float
    papers: tuple[tuple[Paper, float], ...]


class TopicIndex:
    """Per topic, the papers it matched; :meth:`select` builds one subscriber's list.

    Each topic's papers are sorted once.  A subscriber's top N then needs only
    the first N (not excluded) papers of each of its topics, plus the papers
    found by more than one of its topics (whose scores add up), so building
    10,000 digests does not re-score every matched paper 10,000 times.
    """

    def __init__(
        self,
        papers: dict[str, Paper],
        results: dict[str, dict[str, TopicMatch]],
        near: Mapping[str, NearMisses] | None = None,
        liked: Mapping[str, frozenset[str]] | None = None,
    ):
        self.papers = papers
        self.results = results
        #: Per ranked topic, its best papers under the floor (see :func:`topic_index`'s ``near``).
        self.near: Mapping[str, NearMisses] = near or {}
        #: Per topic with ``like``, the ids of the liked papers found: never in a
        #: digest of a subscriber of that topic, under any of its topics (they
        #: have read the paper; a reader was sent the paper it named as read).
        self.liked: Mapping[str, frozenset[str]] = liked or {}
        self._scored: dict[str, dict[str, _Scored]] = {}
        self._ranked: dict[str, list[str]] = {}
        for key, matches in results.items():
            scored = {}
            for pid, tm in matches.items():
                title = frozenset(h.term for h in tm.hits if h.field == "title")
                other = frozenset(h.term for h in tm.hits if h.field != "title")
                score = _score(title, other) if tm.relevance is None else tm.relevance
                scored[pid] = _Scored(tm, title, other, score)
            self._scored[key] = scored
        self._tail = {pid: _tail(p) for pid, p in papers.items()}
        # A paper sent under its title (a listing without arXiv ids) and read
        # today with its arXiv id, or the other way round, or under a title
        # changed since, is the same paper: the sent set holds both keys (see
        # state.sent_keys), and the paper every key it was seen under (Paper.keys).
        self._keys = {pid: p.keys for pid, p in papers.items()}
        self._selected: dict[tuple, tuple[PaperMatch, ...]] = {}
        self._counted: dict[tuple, int] = {}
        for key, scored in self._scored.items():
            self._ranked[key] = sorted(scored, key=lambda pid: (-scored[pid].score, self._tail[pid]))
        self._by_author: dict[str, set[str]] = {}
        for pid, paper in papers.items():
            for author in paper.authors:
                self._by_author.setdefault(author.casefold(), set()).add(pid)
        self._later_versions: tuple[Paper, ...] | None = None

    def revised_sent(self, subscriber, sent: frozenset[str]) -> tuple[Paper, ...]:
        """The papers read in a version after the first (v2 and on) that the
        subscriber's topics take and that went out to it before (``sent``:
        its sent ids): left out of its digest, which ``match`` and ``send``
        say (:func:`not_again_said`).  The later versions are found once per
        index."""
        if self._later_versions is None:
            self._later_versions = tuple(p for p in self.papers.values() if (p.version or 0) > 1)
        if not sent:
            return ()
        return tuple(p for p in self._later_versions
                     if not sent.isdisjoint(p.keys) and any(self.takes(key, p.id) for key in subscriber.topics))

    def takes(self, key: str, pid: str) -> bool:
        """Whether topic ``key`` takes paper ``pid`` (:meth:`place` without
        finding its place, a scan of the topic's papers)."""
        return pid in self._scored.get(key, ())

    def place(self, key: str, pid: str) -> tuple[int, int, TopicMatch, float] | None:
        """Where topic ``key`` puts paper ``pid``: (its place, best first from
        1, among how many, the verdict, the score), or None if the topic does
        not take it."""
        scored = self._scored.get(key, {}).get(pid)
        if scored is None:
            return None
        ranked = self._ranked[key]
        return ranked.index(pid) + 1, len(ranked), scored.match, scored.score

    def best_fit(self, key: str) -> float | None:
        """How topic ``key``'s best paper ranks in a digest that mixes topics
        (:func:`_fit`, the scale of :meth:`select`), or None if it takes none."""
        ranked = self._ranked.get(key)
        return _fit(self._scored[key][ranked[0]]) if ranked else None

    def liked_by(self, topics: Iterable[str]) -> frozenset[str]:
        """The keys (:attr:`Paper.keys`) of the day's papers liked under any
        of ``topics``: left out of a digest of those topics."""
        return frozenset(k for t in topics for pid in self.liked.get(t, ()) if pid in self._keys
                         for k in self._keys[pid])

    def select(self, subscriber, exclude=frozenset(), limit: int | None = None) -> list[PaperMatch]:
        """The subscriber's papers, best first, minus ``exclude`` (ids already sent)
        and the papers its topics like (:meth:`liked_by`), capped at ``limit``
        (default: the subscriber's ``max_papers``).

        The answer depends only on the topics, pinned authors, cap and
        ``exclude``; subscribers who share those (a list with a few popular
        topic mixes) share one selection, kept for the index's lifetime."""
        exclude = frozenset(exclude) | self.liked_by(subscriber.topics)
        key = _selection_key(subscriber, exclude, limit)
        _, pins, cap, excluded = key
        found = self._selected.get(key)
        if found is None:
            found = self._select(subscriber.topics, pins, cap, excluded)
            if len(self._selected) >= SELECTION_CACHE:
                self._selected.clear()
            self._selected[key] = found
        return list(found)

    def count(self, subscriber, exclude=frozenset(), limit: int | None = None) -> int:
        """``len(select(...))`` without building the matches (nor wording their
        reasons): ``match`` counts up to 1,000 papers per subscriber to say what
        ``max_papers`` cut, and ``send`` for each digest it cuts.  Kept like
        :meth:`select`'s answers: a send's subscribers share a few topic mixes."""
        exclude = frozenset(exclude) | self.liked_by(subscriber.topics)
        key = _selection_key(subscriber, exclude, limit)
        _, pins, cap, excluded = key
        found = self._counted.get(key)
        if found is None:
            keys = [k for k in dict.fromkeys(subscriber.topics) if k in self._scored]
            candidates, _ = self._candidates(keys, pins, cap, excluded)
            found = min(len(candidates), cap)
            if len(self._counted) >= SELECTION_CACHE:
                self._counted.clear()
            self._counted[key] = found
        return found

    def _candidates(self, keys: list[str], pins, cap: int, exclude: frozenset) -> tuple[set[str], set[str]]:
        """The papers that may be among the best ``cap`` of topics ``keys``
        (each topic's first ``cap`` not excluded, the papers several of them
        found, the pinned authors'), and the pinned authors' papers."""
        pinned_ids: set[str] = set()
        for name in pins:
            pinned_ids |= self._by_author.get(name.casefold(), set())
        candidates: set[str] = set()
        for key in keys:
            taken = 0
            for pid in self._ranked[key]:
                if taken >= cap:
                    break
                if exclude.isdisjoint(self._keys[pid]):
                    candidates.add(pid)
                    taken += 1
        if len(keys) > 1:
            # Papers several of its topics found: their scores add up, so any may rank high.
            seen: set[str] = set(self._scored[keys[0]])
            for key in keys[1:]:
                ids = self._scored[key].keys()
                candidates.update(seen & ids)
                seen = seen | ids
        for pid in pinned_ids:
            if any(pid in self._scored[k] for k in keys):
                candidates.add(pid)
        if exclude:
            candidates = {pid for pid in candidates if exclude.isdisjoint(self._keys[pid])}
        return candidates, pinned_ids

    def _select(self, topics, pins, cap: int, exclude: frozenset) -> tuple[PaperMatch, ...]:
        keys = [k for k in dict.fromkeys(topics) if k in self._scored]
        candidates, pinned_ids = self._candidates(keys, pins, cap, exclude)
        selected = []
        for pid in candidates:
            parts = [self._scored[k][pid] for k in keys if pid in self._scored[k]]
            relevances = [p.match.relevance for p in parts if p.match.relevance is not None]
            by_terms = [p for p in parts if p.match.relevance is None]
            score: float = 0.0
            value = -1.0
            if by_terms:
                if len(by_terms) == 1:
                    score = by_terms[0].score
                else:
                    title_terms = frozenset().union(*(p.title_terms for p in by_terms))
                    other_terms = frozenset().union(*(p.other_terms for p in by_terms))
                    score = _score(title_terms, other_terms)
                # The same order as the count, on the [0, 1) scale of ranked topics
                # (a subscriber may follow both kinds).
                value = score / (score + 1)
            # A keyword topic's better fit wins over a ranked one's: a paper with 4 of its
            # terms (0.8) and 0.05 of relevance to a topic of min_score 0 was placed at 0.05.
            counted = bool(relevances) and value > max(relevances)
            if relevances and not counted:
                # Ranked topics: the best fit among them (already in [0, 1]).
                score = value = max(relevances)
            selected.append(((pid not in pinned_ids, -value, self._tail[pid]), pid, parts, score, counted))
        selected.sort(key=lambda item: item[0])
        out = []
        for order, pid, parts, score, counted in selected[:cap]:
            if len(parts) > 1:
                # The topic it fits best first: the email files the paper there
                # (not under whichever of its topics the subscriber listed first).
                parts = sorted(parts, key=_fit, reverse=True)
            hits = tuple(h for p in parts for h in p.match.hits)
            terms = tuple(dict.fromkeys(h.term for h in hits))
            topics = tuple(p.match.topic for p in parts)
            topic_reasons = tuple(p.match.why for p in parts)
            out.append(PaperMatch(self.papers[pid], score, topics, terms, hits, not order[0], topic_reasons, counted))
        return tuple(out)


def _selection_key(subscriber, exclude, limit: int | None) -> tuple:
    """What :meth:`TopicIndex.select` and :meth:`~TopicIndex.count` answer
    by: (topics, pinned authors, cap, excluded ids); subscribers sharing it
    share their answer."""
    cap = subscriber.max_papers if limit is None else limit
    excluded = exclude if isinstance(exclude, frozenset) else frozenset(exclude)
    return tuple(subscriber.topics), tuple(getattr(subscriber, "pin", ())), cap, excluded


def _fit(part: _Scored) -> float:
    """How well a paper fits one topic, on one scale for both kinds of topic:
    the relevance of a ranked topic, else the matched-term count mapped into
    [0, 1) as :meth:`TopicIndex._select` orders a digest."""
    return part.match.relevance if part.match.relevance is not None else part.score / (part.score + 1)


#: Selections kept per index (cleared when full).
SELECTION_CACHE = 1024
#: How far ``match`` and ``send`` count the papers a digest cut at
#: ``max_papers`` was taken from (max_papers' own bound).
COUNTED_UP_TO = 1000


def max_papers_cut(index: TopicIndex, subscriber, sent: frozenset[str], papers: int) -> tuple[int, int]:
    """For a digest of ``papers`` papers (``sent``: the ids that went to the
    subscriber before), what ``max_papers`` cut: how many papers not sent
    before its topics take now, of which it holds the best, and how many more
    they take that went out before; (0, 0) when nothing was cut.  ``match``
    and ``send`` each counted it their own way, and a cut that ``send``
    called "in no earlier digest" ``match`` did not."""
    if papers < subscriber.max_papers:
        return 0, 0
    taken = index.count(subscriber, sent, limit=COUNTED_UP_TO)
    if taken <= papers:
        return 0, 0
    before = index.count(subscriber, limit=COUNTED_UP_TO) - taken if sent else 0
    return taken, max(before, 0)


#: How many papers back in a new version ``match`` and ``send`` name for a
#: subscriber, one each; the rest are counted (:func:`not_again_lines`).
NOT_AGAIN_NAMED = 3


def not_again_lines(papers: Sequence[Paper | NotAgain]) -> list[str]:
    """What ``match`` (a line each) and ``send`` (after ``empty``) say of a
    subscriber's papers of :meth:`TopicIndex.revised_sent`: the first
    :data:`NOT_AGAIN_NAMED` named, the rest counted.  ``send`` named every
    one, however many, where ``match`` named three."""
    from .latex import lost_math_shown

    lines = [not_again_said(lost_math_shown(p.title), p) for p in papers[:NOT_AGAIN_NAMED]]
    if len(papers) > NOT_AGAIN_NAMED:
        lines.append(f"not again: {counted(len(papers) - NOT_AGAIN_NAMED, 'more paper')} back in a new version")
    return lines


def not_again_said(title: str, paper: Paper | NotAgain) -> str:
    """What ``match`` and ``send`` say of a paper of :meth:`TopicIndex.revised_sent`
    (``title``: as shown): a digest empty for it read "nothing new", the
    reader's paper, revised that day, gone without a word."""
    return (f"not again: {title} ({paper.arxiv_id}v{paper.version}): went out before (this version or an earlier "
            "one), and a paper sent is not sent again in a new version")


def max_papers_said(papers: int, taken: int, sent_before: int) -> str:
    """What :func:`max_papers_cut` found, as ``match`` and ``send`` both say
    it after a digest's paper count ("" when nothing was cut): a subscriber
    without a schedule got, at a second `send` moments after the first, 20
    more of the same day's papers without a word of why."""
    if taken <= papers:
        return ""
    # (a second send of the same day's papers: 'in no earlier digest' says why these come now)
    earlier = " that were in no earlier digest" if sent_before else ""
    return (f" (the best of the {taken:,} its topics take now{earlier}: max_papers: {papers}; the "
            f"other {taken - papers:,} can go in later digests)")


def topic_index(
    config, all_papers: list[Paper], subs, warn: Callable[[str], None] | None = None, near: int = 0,
    like_warn: Callable[[LikeWarning], None] | None = None,
) -> TopicIndex:
    """The topics ``subs`` follow, matched once against all papers: the one
    selection step of ``match``, ``preview`` and ``send``.

    Rules decide membership (``none`` always excludes); topics with
    ``about``/``like`` are then ranked by :mod:`ranking`, which scores each
    member in [0, 1], drops those under the topic's floor and says why in
    words.  ``warn`` gets a line per ``like`` entry naming no known paper
    (``like_warn`` instead when given, its :class:`ranking.LikeWarning`:
    ``send`` says each once, see :class:`sending.ToldOnce`).
    ``near``: keep each ranked topic's best papers under its floor, that
    many, in :attr:`TopicIndex.near` (for ``match``, which shows them).
    """
    all_papers = list(all_papers)
    wanted = list(dict.fromkeys(k for s in subs for k in s.topics))
    topics = config.topics
    ranked = [k for k in wanted if topics[k].ranked]
    with_rules = [k for k in wanted if not topics[k].ranked or topics[k].has_rules]
    results = Matcher(topics, config).results(all_papers, with_rules)
    near_misses: dict[str, NearMisses] = {}
    liked: dict[str, frozenset[str]] = {}
    if ranked:
        from .latex import to_unicode
        from .ranking import EMBEDDINGS_FILE, Embedder, Interest, Ranker  # numpy, bm25s, the model: only when needed

        first = topics[ranked[0]]

        def cache_said(text: str) -> None:
            if warn is not None:
                warn(str(config.problem(("cache",), text)))

        embedder = Embedder(
            config.cache_dir / EMBEDDINGS_FILE,
            where=config.problem(("topics", ranked[0], "about" if first.about else "like"), ""),
            lost=lambda reason: cache_said(
                f"cannot keep the embedding cache in {config.cache_dir} ({reason}): ranking goes on without it, "
                "slower, and `like` finds only the papers of the current sources; make it a folder this user "
                "can write, or set cache: to one"),
            remade=lambda reason: cache_said(
                f"the embedding cache {config.cache_dir / EMBEDDINGS_FILE} was damaged ({reason}): it is made "
                "anew (its papers' vectors are computed again, and `like` finds only the papers of the current "
                "sources until it has seen more)"),
        )
        try:
            ranker = Ranker(
                all_papers,
                embedder,
                like_warn or (None if warn is None else lambda said: warn(said.message)),
                locate=lambda key, i: f"{config.where('topics', key, 'like', i)}: topics.{key}.like[{i}]",
                avoid=[ref for key in ranked for ref in topics[key].like],
                looks_up=config.like_lookup_source is not None,
            )
            position = {p.id: i for i, p in enumerate(all_papers)}
            papers_by_id = {p.id: p for p in all_papers}
            for key in ranked:
                topic = topics[key]
                rules = results.get(key, {})
                members = None
                # Terms (any, all) vouch for their papers and order them; `none` and
                # `categories` alone only filter, so relevance alone orders what they
                # let in (else the rules' order, every paper 0 terms, would be the
                # titles' alphabetical order) under the floor of `about`.
                vouch = bool(topic.any or topic.all)
                if topic.has_rules:
                    # in the rules' own order: the ranker fuses it with relevance
                    counts = {pid: _fusion_count(tm) for pid, tm in rules.items()}
                    tail = {pid: _fusion_tail(papers_by_id[pid]) for pid in rules}
                    members = [position[pid] for pid in sorted(rules, key=lambda pid: (-counts[pid], tail[pid]))]
                # The papers' LaTeX was made Unicode when they were read; a sentence
                # written the same way ($\epsilon$-greedy) must meet them as ε-greedy.
                about = to_unicode(topic.about) if topic.about else None
                interest = Interest(key, about, tuple(topic.like), topic.min_score, vouch)
                ranking = ranker.ranking(interest, members, fuse=vouch, near=near)
                found = ranking.found
                if ranking.liked:
                    liked[key] = ranking.liked
                if ranking.near:
                    near_misses[key] = NearMisses(interest.floor, tuple(
                        (papers_by_id[pid], score) for pid, score in ranking.near))
                if not found and not ranking.liked and members and vouch and not topic.about \
                        and topic.min_score is None:
                    # Rules and `like` only, and no liked paper known (each was
                    # warned about): nothing to rank by, so the rules alone decide,
                    # as without `like` (with rules the default floor lets every
                    # member in, so an empty answer can only mean that, or that
                    # the rules took the liked papers alone, which are never sent).
                    continue
                results[key] = {
                    pid: TopicMatch(key, rules[pid].hits if pid in rules else (), r.score, r.why, r.fit)
                    for pid, r in found.items()
                }
        finally:
            embedder.close()
    return TopicIndex({p.id: p for p in all_papers}, results, near_misses, liked)
