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

import re
from dataclasses import dataclass
from typing import Iterable, Mapping

from .models import Paper

_SEPARATORS = r"[\s\-\u2010\u2011\u2012\u2013\u2014]+"
_WORD_SPLIT = re.compile(r"[\s\-\u2010\u2011\u2012\u2013\u2014]+")


@dataclass(frozen=True)
class Term:
    text: str
    regex: re.Pattern

    def search(self, text: str) -> re.Match | None:
        return self.regex.search(text)


def compile_term(text: str) -> Term:
    """Compile one topic term; ``ValueError`` says what is wrong with it."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"empty term {text!r}")
    raw = text.strip()
    if len(raw) >= 2 and raw.startswith("/") and raw.endswith("/"):
        body = raw[1:-1]
        if not body:
            raise ValueError(f"empty regular expression {text!r}")
        try:
            return Term(text, re.compile(body, re.IGNORECASE))
        except re.error as exc:
            raise ValueError(f"invalid regular expression {text!r}: {exc}") from None
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
    return Term(text, re.compile(start + pattern + end, re.IGNORECASE))


@dataclass(frozen=True)
class Hit:
    """One term found in one field of a paper: the "why" of a match."""

    term: str
    field: str
    text: str  # what it matched, as it appears in the paper


@dataclass(frozen=True)
class TopicMatch:
    topic: str
    hits: tuple[Hit, ...]


@dataclass(frozen=True)
class PaperMatch:
    """A paper selected for a subscriber, with the reasons."""

    paper: Paper
    score: int
    topics: tuple[str, ...]  # topic keys, in the subscriber's order
    terms: tuple[str, ...]  # distinct matched terms, as written in the config
    hits: tuple[Hit, ...]
    pinned: bool = False

    def to_json(self) -> dict:
        return {
            "id": self.paper.id,
            "title": self.paper.title,
            "score": self.score,
            "topics": list(self.topics),
            "terms": list(self.terms),
            "matches": [{"term": h.term, "field": h.field, "text": h.text} for h in self.hits],
            "url": self.paper.url,
            "pinned": self.pinned,
        }


def field_texts(paper: Paper) -> dict[str, str]:
    return {
        "title": paper.title,
        "abstract": paper.abstract,
        "authors": "\n".join(paper.authors),
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

    def _hits(self, term: Term, texts: Mapping[str, str]) -> list[Hit]:
        out = []
        for field in self.fields:
            m = term.search(texts[field])
            if m:
                out.append(Hit(term.text, field, m.group(0)))
        return out

    def match(self, paper: Paper, texts: Mapping[str, str] | None = None) -> TopicMatch | None:
        texts = texts or field_texts(paper)
        hits: list[Hit] = []
        if self.categories:
            cats = [c for c in paper.categories if c.lower() in self.categories]
            if not cats:
                return None
            hits.extend(Hit(c, "categories", c) for c in cats)
        for term in self.none:
            if self._hits(term, texts):
                return None
        for term in self.all:
            found = self._hits(term, texts)
            if not found:
                return None
            hits.extend(found)
        if self.any:
            found_any = [h for term in self.any for h in self._hits(term, texts)]
            if not found_any:
                return None
            hits.extend(found_any)
        return TopicMatch(self.key, tuple(hits))


class Matcher:
    """The config's topics, compiled once."""

    def __init__(self, topics: Mapping[str, object]) -> None:
        self.rules = {key: TopicRule(key, topic) for key, topic in topics.items()}

    def index(self, papers: Iterable[Paper], topics: Iterable[str] | None = None) -> TopicIndex:
        """Match every topic (or the named ones) against every paper, once."""
        papers = list(papers)
        rules = [self.rules[k] for k in topics] if topics is not None else list(self.rules.values())
        results: dict[str, dict[str, TopicMatch]] = {r.key: {} for r in rules}
        for paper in papers:
            texts = field_texts(paper)
            for rule in rules:
                m = rule.match(paper, texts)
                if m:
                    results[rule.key][paper.id] = m
        return TopicIndex({p.id: p for p in papers}, results)


class TopicIndex:
    """Per topic, the papers it matched; :meth:`select` builds one subscriber's list."""

    def __init__(self, papers: dict[str, Paper], results: dict[str, dict[str, TopicMatch]]):
        self.papers = papers
        self.results = results

    def select(self, subscriber, exclude=frozenset(), limit: int | None = None) -> list[PaperMatch]:
        """The subscriber's papers, best first, minus ``exclude`` (ids already sent),
        capped at ``limit`` (default: the subscriber's ``max_papers``)."""
        per_paper: dict[str, list[TopicMatch]] = {}
        for key in subscriber.topics:
            for pid, tm in self.results.get(key, {}).items():
                if pid not in exclude:
                    per_paper.setdefault(pid, []).append(tm)
        pins = [p.casefold() for p in getattr(subscriber, "pin", ())]
        selected = []
        for pid, matches in per_paper.items():
            paper = self.papers[pid]
            hits = tuple(h for tm in matches for h in tm.hits)
            in_title: dict[str, bool] = {}
            for h in hits:
                in_title[h.term] = in_title.get(h.term, False) or h.field == "title"
            score = sum(2 if t else 1 for t in in_title.values())
            pinned = bool(pins) and any(a.casefold() in pins for a in paper.authors)
            selected.append(
                PaperMatch(paper, score, tuple(tm.topic for tm in matches), tuple(in_title), hits, pinned)
            )
        selected.sort(key=lambda m: (not m.pinned, -m.score, -(m.paper.upvotes or 0), m.paper.title.casefold()))
        cap = subscriber.max_papers if limit is None else limit
        return selected[:cap]
