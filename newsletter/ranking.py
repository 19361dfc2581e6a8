"""Rank papers by how well they fit an interest written in words (``about:``)
or shown by example (``like:``).

Two kinds of evidence, fused:

- lexical: BM25 (the ``bm25s`` package) over title and abstract, words
  stemmed, so a rare exact term of the interest ("Schrödinger bridge") counts;
- semantic: cosine similarity in the space of a small static embedding model
  (``wordllama``, whose wheel carries its weights: loaded from the package
  folder with downloads disabled, on CPU, no torch), so a paraphrase
  ("rectified transport" for "flow matching") counts too.

The query is the ``about`` text minus its sentences that say what the reader
does *not* want.  Each signal becomes a z-score over the day's papers (how
unusual this paper's fit is compared with the others; embeddings centred on
the day's mean first), the semantic one blending title + abstract with the
title alone; the z-scores are added with fixed weights; one round of
pseudo-relevance feedback adds the best papers' centroid to the semantic
query; and a robust z-score of the sum (median, MAD; the MAD capped so that a
paper :data:`RELATIVE_FLOOR` of the way to the day's best paper also reaches
the floor) through a logistic gives a score in [0, 1]; a paper that writes a
phrase of the sentence's distinctive words close together ("importance
sampling") gains a bonus added after the floor's statistics are taken, more
when its title writes it (:meth:`Ranker.phrase_bonus`), and, among the papers
over the default floor, more again when its abstract opens with it
(:meth:`Ranker.opening_bonus`).  A topic keeps the papers whose score reaches its floor
(``min_score``, default :data:`DEFAULT_MIN_SCORE`), so a quiet day gives a
short digest.  With keyword rules, the rules decide membership and the
order fuses the rules' order with the relevance order (reciprocal rank fusion).

``like:`` papers act as extra queries: they join the feedback set (with the
best papers of the first pass) that refines the semantic query, and the
nearest liked paper's similarity and the liked titles (as a BM25 query, when
two or more papers are liked) are added as evidence.  With ``about``, a
paper's score is the higher of the scores with and without the liked papers:
they can bring papers in, never push down what the sentence found.  Weights and the floor were tuned on
the development split of tests/data/relevance (bench/quality.py), never on
its held-out split.

Paper embeddings are cached in a SQLite file in the config's cache folder,
keyed by a hash of the model name and the text: a paper seen yesterday costs
nothing today.  The same file remembers each ranked paper's title and text, so
``like:`` can name a paper the tool saw on an earlier day, and the liked
papers looked up on arXiv (:func:`readers.look_up_liked`).

Heavy imports (numpy, bm25s, the model) happen only when a topic uses
``about``/``like``: the other commands start as fast as before.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import math
import os
import re
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeVar

from . import reasons
from .errors import NewsletterError, Problem
from .latex import lost_math_shown, plain_letters
from .models import (
    ARXIV_ID,
    DOI,
    NO_DOI_HINT,
    NOT_LOOKED_UP_HINT,
    NOT_ON_ARXIV_HINT,
    OLDER_PAPER_HINT,
    Paper,
    arxiv_base_id,
    idless_hint,
    normalize_title,
    short_title_key,
)

# Scoring is many small matrix-vector products: BLAS threads only contend
# (16x slower on a busy 2-core machine).  Effective when numpy is first
# imported after this module, as in the CLI.
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

_T = TypeVar("_T")

#: The embedding model: package and dimension (the one its wheel ships weights for).
MODEL_PACKAGE = "wordllama"
MODEL_DIM = 256
#: A topic's floor when it sets no ``min_score``.
DEFAULT_MIN_SCORE = 0.5
#: The default floor of a topic whose rules already decide membership.
DEFAULT_MIN_SCORE_WITH_RULES = 0.0

# Fusion weights and calibration, tuned on the development split of
# tests/data/relevance (see bench/quality.py); the held-out split is only reported.
W_SEMANTIC = 1.0
W_LEXICAL = 1.0
# With rules: reciprocal rank fusion of the rules' order and the relevance order
# among the rules' papers (k = 60 as in Cormack et al. 2009; the relevance
# rank counts half as much as the rules' own).
RRF_K = 60
W_RRF_RELEVANCE = 0.5
W_LIKE_NEAREST = 0.5  # weight of the similarity to the nearest liked paper
W_LIKE_LEXICAL = 0.5  # weight of the liked papers' titles as a second lexical query
#: The liked titles are a lexical query only when there are at least this many
#: of them: one short title makes its one common word ("regression" of
#: "Conformal Prediction via Regression-as-Classification") decide
#: (bench/RANKING.md, seventeenth round).
LIKE_LEXICAL_MIN = 2
# A liked paper lifts a paper over the sentence's score only by what it adds beyond
# LIFT_MARGIN x the wobble: the median change (in deviations) the liked papers make to
# the sentence's LIFT_WOBBLE_PAPERS best papers (see lift).
LIFT_MARGIN = 0.3
LIFT_WOBBLE_PAPERS = 30
TITLE_REPEAT = 2  # the title counts this many times in BM25's text
W_TITLE = 0.5  # semantic: weight of the title-only similarity next to title + abstract
CENTRE = True  # measure semantic similarity on vectors centred on the day's mean
PRF_DOCS = 5  # pseudo-relevance feedback: how many top papers pull the semantic query
PRF_WEIGHT = 1.0

#: How many titles a ``like`` entry naming several papers by their short name lists.
SHORT_NAMES_SHOWN = 3
CENTER = 2.5  # robust z-score of the fused evidence that maps to 0.5 (the default floor)
SPREAD = 1.0  # z-score units per logistic unit
#: A paper whose fused evidence is this share of the way from the day's median
#: to its best paper also reaches the floor (a broad topic inflates the MAD).
RELATIVE_FLOOR = 0.4
#: A paper that writes a phrase of the sentence's distinctive words close
#: together ("importance sampling", "finite elements", "membership
#: inference") gains this much evidence, in units of the day's spread of that
#: closeness (see Ranker.phrase_closeness), added after the floor's statistics
#: are taken: it raises such papers past others and over the floor, and moves
#: nothing else (bench/RANKING.md, thirteenth round).
W_PHRASE = 0.25
#: The same for a phrase written in the paper's title ("What's in a Prior?
#: Learned Proximal Networks for Inverse Problems"), on top of the above: a
#: title says what the paper is about, an abstract also what it uses or is
#: compared with.  In a title the phrase's common words count too ("problems"
#: next to "inverse"; bench/RANKING.md, fourteenth round).
W_TITLE_PHRASE = 0.175
#: The same again, for the abstract's opening sentence (where a paper states its
#: problem: "Many state-of-the-art hyperparameter optimization (HPO) algorithms
#: ..."), but only to order the papers that reach the floor without it: as
#: evidence for membership it let misses in on `heldout` (bench/RANKING.md,
#: sixteenth round).  Its spread units are capped at OPENING_CAP: on a day where
#: one paper alone opens with a phrase, that paper's own spread units run to 18
#: and it passed every paper on the interest.  (Weight x cap, the largest bonus,
#: 0.75: from 0.6 to 0.875 every labelled check passed; at 0.5 one liked paper
#: lifted a miss past a paper it had raised to tenth place, from 1.0 the cap's
#: lone paper returned.)
W_OPENING_PHRASE = 0.15
OPENING_CAP = 5.0
#: A phrase counts in the opening sentence only with this share of its weight
#: written together: "Recent machine learning tasks focus on ..." opens a
#: third of the papers, and half of "optimization algorithms for machine
#: learning" is in it.
OPENING_MIN_SHARE = 0.75
#: A "hub" paper, one that many of the day's papers have among their
#: HUB_NEIGHBOURS nearest (centred cosine), is close in meaning to many
#: sentences at once ("The Pitfalls of Simplicity Bias in Neural Networks",
#: "Preserving Statistical Validity in Adaptive Data Analysis"): such papers
#: were most of the misses in digests' first tens.  One that writes none of the
#: sentence's phrases, in its text or its title, must reach the floor with
#: W_HUB x (its hub z-score - HUB_MIN_Z) less fused evidence; the order of
#: the digest stays as it was (bench/RANKING.md, eighteenth round: `about`'s F1
#: +0.008 over the four labelled sets, every nDCG@10 as before; HUB_MIN_Z
#: 0.75-1.25 at W_HUB 0.4 and W_HUB 0.3-0.5 at HUB_MIN_Z 1 passed every check,
#: W_HUB 0.6 lost `dev`).
HUB_NEIGHBOURS = 10
#: The most papers whose nearest neighbours are counted for the hub scores:
#: a day past it counts those of this many papers spread evenly over it, so
#: the pass grows with the day's size, not with its square (86,000 papers:
#: 3 s instead of 35); a day up to it counts every paper's, as measured.
HUB_SAMPLE = 8000
HUB_MIN_Z = 1.0
W_HUB = 0.4
#: A pick that writes none of the sentence's phrases and stands on the
#: sentence's words more than on its meaning (its BM25 z-score over its
#: semantic one: a lean) must reach the floor with W_LEAN x that lean less
#: fused evidence, as a hub must: just over the floor, such papers share
#: single words of the sentence in another sense ("black-box", "theory",
#: "calibration") and were false picks 20 times of 25 (bench/RANKING.md,
#: twenty-fourth round: `about`'s F1 +0.015 over the four labelled sets, every
#: nDCG@10 as before or higher; W_LEAN 0.15-0.3 passed every check, 0.35
#: lost `dev`).
W_LEAN = 0.25
#: Words of a phrase count as written together within this many places of the
#: paper's stemmed content words (3: side by side, or one word between).
PHRASE_WINDOW = 3
#: Only a phrase's distinctive words count towards its closeness: those with
#: an IDF of at least this over the day (in fewer than about 37% of its
#: papers), so "neural networks" written together says nothing.
PHRASE_MIN_IDF = 1.0
#: How many papers with a word are read to tell a name from a common word (Ranker._is_name).
NAME_EVIDENCE = 50
#: A reason names one word of a longer phrase alone ("Hamiltonian" of
#: "Hamiltonian dynamics") only if at most this share of the day's papers
#: have it: "search" alone says nothing of "neural architecture search".
REASON_WORD_SHARE = 0.04
#: A day with fewer papers is scored among background papers up to this many
#: (see Ranker): among a handful of papers, "stands out from the day" means
#: little (one relevant paper alone scored 0.08; on a 5-paper day with nothing
#: on the interest, the least unrelated paper scored 0.98).
MIN_DAY = 100
#: Where background papers come from when the cache has too few of earlier
#: days: 336 machine-learning papers (titles and abstracts of the sample
#: Hugging Face exports in tests/data), shipped with the package.
BACKGROUND_FILE = Path(__file__).resolve().parent / "data" / "background.json.gz"
#: The embedding cache's file name in the config's cache folder.
EMBEDDINGS_FILE = "embeddings.sqlite3"


class RankingError(NewsletterError):
    """The embedding model could not be loaded (a broken or missing install)."""


@dataclass(frozen=True)
class LikeWarning:
    """A ``like:`` entry that names no paper :class:`Ranker` knows, as data
    beside its words: ``send`` says each once while it stands
    (:class:`sending.ToldOnce`), remembered by what stands of it from one
    day to the next, the topic, the entry as written and the kind of
    problem; not by its words, whose hint counts the day's papers or
    suggests one of them, nor by the entry's place in the list, which an
    entry written above it moves."""

    topic: str
    #: The entry as the user wrote it (an arXiv id, a title, a short name).
    entry: str
    #: "unknown": it matches no known paper; "ambiguous": it is the short name of more than one.
    kind: Literal["unknown", "ambiguous"]
    #: What is said: ``FILE:LINE: topics.KEY.like[I]: ...`` from a config.
    message: str


@dataclass(frozen=True)
class Interest:
    """What ranking needs of one topic: its words, its liked papers, its floor."""

    key: str
    about: str | None = None
    like: tuple[str, ...] = ()
    min_score: float | None = None
    rules: bool = False  # whether keyword rules decide membership (then they vouch: a lower default floor)

    @property
    def floor(self) -> float:
        if self.min_score is not None:
            return self.min_score
        return DEFAULT_MIN_SCORE_WITH_RULES if self.rules else DEFAULT_MIN_SCORE


@dataclass(frozen=True)
class Relevance:
    """One paper's fit to one interest: a score in [0, 1] and why (put into words by :mod:`reasons`)."""

    score: float
    why: reasons.Reason
    #: The relevance the floor cut, where ``score`` fuses it with the rules'
    #: order (a topic with terms and ``about``/``like``); None where they are one.
    fit: float | None = None

    @property
    def reason(self) -> str:
        """In words, as ``match`` gives it."""
        return reasons.said((self.why,))


@dataclass(frozen=True)
class Ranking:
    """:meth:`Ranker.ranking`'s answer: the papers at or above the floor, and
    the best few just under it (``near``: ids and relevance, best first), which
    ``match`` shows so a reader can tell whether to lower ``min_score``.
    ``liked``: the ids of the liked papers found, which are never among
    ``found``: the subscriber has read them (the digest leaves them out of
    the subscriber's other topics too, see :class:`matching.TopicIndex`)."""

    found: dict[str, Relevance]
    near: tuple[tuple[str, float], ...] = ()
    liked: frozenset[str] = frozenset()


# --------------------------------------------------------------------------- text


_WORD = re.compile(r"\w[\w\-]*\w|\w", re.UNICODE)
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?:])\s+")
_PHRASE_SPLIT = re.compile(r"[,;:.()\[\]!?/]+|\s+(?:and|as well as|including|such as|e\.g\.|i\.e\.)\s+", re.I)
_PHRASE_SPLIT_KEEP = re.compile(f"({_PHRASE_SPLIT.pattern})", re.I)  # the same, keeping what split
_STOP = frozenset(
    """a an the of for in on at to from by with without and or as is are be been being this that these those
    it its their our we i my me you your they them into onto over under between among via using use used
    new novel paper papers method methods approach approaches work works study studies interested interest
    especially particular particularly about also any all how what which who whom whose where when why
    research researcher topic topics like including such than then there here do does done can could may
    might should would will not no only more most less very much many each other both either neither""".split()
)


#: The nouns among the stop words: a reason names them only where the paper writes them
#: ("stochastic gradient methods" of a paper on "stochastic gradient descent" is "stochastic gradient").
_STOP_NOUNS = frozenset(
    "paper papers method methods approach approaches work works study studies research researcher topic topics "
    "interest".split()
)


def content_words(text: str) -> list[str]:
    """The words of ``text`` that can rank papers: not common words, not numbers."""
    return [w for w in _WORD.findall(plain_letters(text).casefold()) if w not in _STOP and not w.isdigit()]


def paper_text(paper: Paper) -> str:
    """What ranking reads of ``paper``: its script letters plain (see :func:`latex.plain_letters`)."""
    return plain_letters(f"{paper.title}. {paper.abstract}")


class _Stemmer:
    """Snowball English stems (PyStemmer), memoised: 'molecules' -> 'molecul'."""

    def __init__(self) -> None:
        import Stemmer

        self._stem = Stemmer.Stemmer("english").stemWord
        self._memo: dict[str, str] = {}

    def __call__(self, word: str) -> str:
        out = self._memo.get(word)
        if out is None:
            out = self._memo[word] = self._stem(word)
        return out

    def tokens(self, text: str) -> list[str]:
        """Stemmed content words of ``text`` (hyphenated words also split)."""
        return [self(part) for part in content_parts(text)]


def content_parts(text: str) -> list[str]:
    """The content words of ``text`` in order, case-folded, a hyphenated word
    followed by its parts: what :meth:`_Stemmer.tokens` stems, and what
    :func:`surface_key` keys for a reason's words (the two lists align)."""
    out = []
    for w in _WORD.findall(plain_letters(text).casefold()):
        parts = [w] + (w.split("-") if "-" in w else [])
        for part in parts:
            if part and part not in _STOP and not part.isdigit():
                out.append(part)
    return out


@functools.cache
def surface_key(word: str) -> str:
    """``word`` as a reader tells it from others: its case, a plural's "s" and
    British "-ise" set aside ("Transformers" is "transformer", "optimisation"
    "optimization"), nothing more.  A stem is too coarse for what a reason
    names: "transformation" and "transformers" share one ("transform"), and a
    paper on "transformation" read "close to your interest: transformers"."""
    w = word.casefold().replace("\u2019", "'")
    if w.endswith("'s"):
        w = w[:-2]
    w = _DOUBLED_L.sub(r"el\1", w)
    if len(w) > 5:
        for ending, american in _BRITISH:
            w = ending.sub(american, w)
    if len(w) > 4 and w.endswith("ies"):
        return w[:-3] + "y"
    if w.endswith(("sses", "ches", "shes", "xes")):
        return w[:-2]
    if len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is")):
        return w[:-1]
    return w


_DOUBLED_L = re.compile(r"ell(ing|ed|er|ers)$")  # "modelling", "labelled"
#: What parts a text's words, so that words on either side of it do not follow each other.
_GAP_MARK = re.compile(r"[.,;:!?()\[\]{}]")
#: What may stand between two words of a phrase in a paper that writes it ("the
#: convergence of the SGD iterates" writes "convergence of SGD").
_ARTICLES = frozenset("a an the".split())
#: A word or a mark that parts words (:func:`surface_words`).
_WORD_OR_MARK = re.compile(rf"({_WORD.pattern})|{_GAP_MARK.pattern}", re.UNICODE)
#: Each word part's surface key and whether it only joins content words (a stop word, a number).
_PART_KEYS: dict[str, tuple[str, bool]] = {}


def _part_key(part: str) -> tuple[str, bool]:
    known = _PART_KEYS[part] = (surface_key(part), part in _STOP or part.isdigit())
    return known


#: Each word as written, once: its parts (a hyphenated word's, case-folded) as (part, surface
#: key, what it is: :data:`_CONTENT`, :data:`_JOINS` or :data:`_ARTICLE`).  Most of a day's
#: words recur across its papers, so a paper's words are keyed by one look-up each.
_WORD_PARTS: dict[str, tuple[tuple[str, str, int], ...]] = {}
_CONTENT, _JOINS, _ARTICLE = 0, 1, 2


def _word_parts(word: str) -> tuple[tuple[str, str, int], ...]:
    parts = []
    w = word.casefold()
    for part in w.split("-") if "-" in w else (w,):
        if part:
            key, joining = _PART_KEYS.get(part) or _part_key(part)
            parts.append((part, key, _CONTENT if not joining else _ARTICLE if part in _ARTICLES else _JOINS))
    known = _WORD_PARTS[word] = tuple(parts)
    return known


#: Each run of joining words once, shared by the papers that write it (most are empty).
_GAPS: dict[tuple[str, ...], tuple[str, ...]] = {}


def _next_to(seq: Sequence[str | None], a: str, b: str, between: Callable[[int], bool] | None = None) -> bool:
    """Whether ``b`` follows ``a`` somewhere in ``seq`` (and ``between(place of b)``
    holds there): a scan in C per place of ``a``, no set of pairs made per paper."""
    k = -1
    try:
        while True:
            k = seq.index(a, k + 1)
            if k + 1 < len(seq) and seq[k + 1] == b and (between is None or between(k + 1)):
                return True
    except ValueError:
        return False


def keyed_words(text: str) -> list[tuple[str, str, tuple[str, ...], int]]:
    """The content words of ``text`` in order, a hyphenated word by its parts:
    each as (word, :func:`surface_key`, the joining words before it since the
    last content word, articles aside, a punctuation mark as ","; its word's
    offset in ``text``)."""
    found = list(_WORD_OR_MARK.finditer(plain_letters(text)))
    parts: list[str] = []
    at: list[int] = []
    keys, gaps, _ = _surface_scan([m[1] or "" for m in found], parts, at)
    return [(part, key, gap, found[n].start()) for part, key, gap, n in zip(parts, keys, gaps, at, strict=True)]


def surface_words(text: str) -> tuple[list[str], list[tuple[str, ...]], list[str | None]]:
    """The keys of :func:`keyed_words` of ``text`` and the joining words before
    each, and the keys of all its words, stop words too, with None where a
    punctuation mark parts two: in one pass, each word looked up once
    (:data:`_WORD_PARTS`), no offsets."""
    return _surface_scan(_WORD_OR_MARK.findall(plain_letters(text)))


def _surface_scan(
    found: list[str], parts: list[str] | None = None, at: list[int] | None = None,
) -> tuple[list[str], list[tuple[str, ...]], list[str | None]]:
    """:func:`surface_words` of the words ``found`` in a text ("" for a mark);
    with ``parts`` and ``at``, each content word's part and the place in
    ``found`` of the word it is in are added to them."""
    keys: list[str] = []
    gaps: list[tuple[str, ...]] = []
    words: list[str | None] = []
    gap: list[str] = []
    known, word = _WORD_PARTS.get, words.append  # (looked up once: this runs for each word of a day)
    for n, w in enumerate(found):
        if not w:  # a mark: the words on either side do not follow each other
            if words and words[-1] is not None:
                word(None)
                gap.append(",")
            continue
        for part, key, kind in known(w) or _word_parts(w):
            word(key)
            if kind:
                if kind == _JOINS:
                    gap.append(part)
                continue
            keys.append(key)
            if gap:
                joined = tuple(gap)
                gaps.append(_GAPS.setdefault(joined, joined))
                gap = []
            else:
                gaps.append(())
            if parts is not None and at is not None:
                parts.append(part)
                at.append(n)
    return keys, gaps, words


_NEGATION = re.compile(
    r"\b(not|n't|no longer|rather than|except|excluding|other than|only interest me when|only when|"
    r"different (?:interest|topic)|out of scope)\b",
    re.I,
)


#: Where a sentence ends: a full stop before a capital ("i.i.d. bounds" goes on).
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[^\w\s]*[A-Z0-9])")
#: Where a sentence turns from what is wanted to what is not: ", but ...", ", not ...", "; ...".
_CLAUSE_TURN = re.compile(r",\s*(?=(?:but|not|except|rather than|other than)\b)|;\s*", re.I)


#: A sentence that plainly says what is not wanted: opening with a negation
#: ("Not ...", "Anything except ...") or saying so ("I'm not interested in").
_UNWANTED = re.compile(
    r"^\W*(?:not|no|never|except|excluding|anything|everything|nothing)\b"
    r"|\b(?:not|n't)\s+(?:interested|want|wanted|care|looking)\b|\bdifferent (?:interest|topic)\b|\bout of scope\b",
    re.I,
)


def only_unwanted(about: str) -> bool:
    """Whether ``about`` says only what the reader does not want ("Not
    diffusion models."): :func:`wanted` then keeps all of it, so its words
    rank exactly those papers first.  A sentence with a "not" that says what
    is wanted ("methods that do not need labels") is not counted."""
    sentences = [s for s in _SENTENCE_END.split(about.strip()) if s.strip()]
    return bool(sentences) and all(_UNWANTED.search(s) for s in sentences) and not any(
        c.strip() and not _NEGATION.search(c) for s in sentences for c in _CLAUSE_TURN.split(s)
    )


def wanted(about: str) -> str:
    """What the reader wants, from ``about``: a sentence or clause saying what
    they do *not* want ("... is not what I mean", "X is a different interest",
    "an optimizer or its analysis, not papers that simply train with Adam")
    is left out, since its words would pull exactly those papers up; the
    wanted clause before ", but"/", not" in the same sentence stays.  All of
    it if everything is a negation.

    A list after a colon that ends such an aside spells out the wanted part:
    in "I'm interested in how gradients get computed, not in what optimizers
    do with them: automatic differentiation, adjoint methods, ..." the list
    is the interest, and dropping it with the aside left only "how gradients
    get computed".  A sentence that opens negated ("Not applications:
    imaging, robotics") keeps nothing of it."""
    kept = []
    for sentence in _SENTENCE_END.split(about.strip()):
        if not _NEGATION.search(sentence):
            kept.append(sentence)
            continue
        clauses = [c for c in _CLAUSE_TURN.split(sentence) if c.strip()]
        for i, clause in enumerate(clauses):
            if not _NEGATION.search(clause):
                kept.append(clause)
            elif i and not _NEGATION.search(clauses[0]):
                _, colon, spelled_out = clause.partition(":")
                if colon and not _NEGATION.search(spelled_out):
                    kept[-1] = f"{kept[-1].rstrip()}:{spelled_out}"  # the opening clause was kept
    return " ".join(k.strip() for k in kept if k.strip()) or about


#: Trimmed off a phrase's start and end: stop words, and how a request is
#: phrased rather than what it asks for ("I'm after theory", "classical
#: methods are my core").  A phrase may end in a noun the query leaves out
#: ("classical methods", "empirical studies").
_LEAD_TRIM = _STOP | frozenset(
    "i i'm im am we we're our my after want wanted care looking focus mainly mostly main contribution is"
    # how a reader says they keep up with it: "so I follow hyperparameter optimization"
    " so follow follows track read"
    # what the reader wants of the subject, not the subject: "better ODE solvers", "making diffusion ... cheap"
    " better make making improve improved improving new novel".split()
)
_TAIL_TRIM = (_STOP - frozenset("method methods approach approaches study studies work works".split())) | frozenset(
    "are is both welcome my our core main focus built mean meant".split()
)


_TIGHT_GROUP = re.compile(r"(?<=\w)\([^()\s]{1,30}\)")
_HIDE_BRACKETS = str.maketrans("()", "\ue000\ue001")
_SHOW_BRACKETS = str.maketrans("\ue000\ue001", "()")


_NOUN_ENDS = reasons.NOUN_ENDS


def phrases(
    about: str,
    keep_capital: Callable[[str], bool] | None = None,
    said: Callable[[str, str], bool] | None = None,
) -> list[str]:
    """The interest cut into short phrases ("message passing", "molecule
    generation"): the words a reason names.  A sentence's first word is
    lower-cased ("Diffusion models" reads "diffusion models" in a list)
    unless ``keep_capital(word)`` says it is a name ("Schrödinger bridges").

    "finite and boundary elements" shares its noun: the first phrase reads
    "finite elements", not "finite", when ``said(word, noun)`` says papers
    write the two together ("attacks and adversarial training" stays
    "attacks": nobody writes "attacks training"); so does "better ODE and SDE
    solvers for the reverse process" ("better ODE solvers")."""
    out = []
    # "(" opens an aside ("bridges (and flows)"), but not in O(√T) or f(x): such a
    # group stays with its word, its brackets hidden from the split meanwhile.
    about = _TIGHT_GROUP.sub(lambda m: m[0].translate(_HIDE_BRACKETS), about)
    for sentence in _SENTENCE_SPLIT.split(about):
        parts = _PHRASE_SPLIT_KEEP.split(sentence)  # phrases at even places, what split them between
        chunks = [part.translate(_SHOW_BRACKETS).split() for part in parts[::2]]
        for words in chunks:
            while words and words[0].casefold().replace("’", "'") in _LEAD_TRIM:
                words.pop(0)
            while words and words[-1].casefold() in _TAIL_TRIM:
                words.pop()
        for n, words in enumerate(chunks):
            noun = _list_noun(chunks, parts, n) if said is not None and len(words) == 1 else None
            if noun is not None and said is not None and said(words[-1], noun):
                words = [*words, noun]
            if words and len(words) <= 8:
                if n == 0 and words[0][1:].islower() and not (keep_capital and keep_capital(words[0])):
                    words = [words[0].lower(), *words[1:]]  # "Diffusion" opening a sentence reads as "diffusion"
                out.append(" ".join(words))
    return list(dict.fromkeys(out))


#: A title written in sentence case: a word of four letters or more in lower case.
_SENTENCE_CASE = re.compile(r"(?<![\w-])[a-z]{4,}(?![\w-])")


def _list_noun(chunks: list[list[str]], parts: list[str], n: int) -> str | None:
    """The noun that ends the list the one-word chunk ``n`` opens, if it is
    one: "finite and boundary elements", "covariate, label or target shift"
    (its last item holds "or"), "ODE/SDE solvers for the reverse process"
    (the noun comes before "for"), "diffusion and score-based generative
    models".  The last item must be a noun with a word or two before it: in
    "diffusion, language models and transformers that explain predictions"
    no item shares "predictions".  Commas alone make
    no list ("calibration, prediction intervals" are two subjects)."""
    for m in range(n + 1, len(chunks)):
        joined_by = parts[2 * m - 1].strip().casefold()
        if joined_by not in (",", "and", "/"):
            return None
        last = chunks[m]
        inner = len(last) > 2 and last[1].casefold() in ("or", "and")
        if len(last) >= 2 and (joined_by != "," or inner):
            item = last[2:] if inner else last
            if len(item) == 2 or (len(item) > 2 and item[2].casefold() in _NOUN_ENDS):
                return item[1]
            return item[2] if len(item) == 3 else None  # "score-based generative models"
        if len(last) != 1 or joined_by != ",":
            return None
    return None


# --------------------------------------------------------------------------- embeddings


class Embedder:
    """The static embedding model plus a cache of paper vectors.

    ``cache`` is a SQLite file (created on first use); None keeps vectors in
    memory only.  The model loads on the first text not in the cache.  A
    cache that cannot be made or written (its folder a file, a read-only
    disk) is done without: ``lost(reason)`` is called once, to say so.  A
    damaged one is made anew: ``remade(reason)`` is called once.
    """

    def __init__(
        self, cache: Path | None = None, where: Problem | None = None, lost: Callable[[str], None] | None = None,
        remade: Callable[[str], None] | None = None,
    ) -> None:
        self.cache = cache
        self.where = where  # the config line blamed when the model cannot load
        self._lost = lost
        self._remade = remade
        self._was_remade = False
        self._model = None
        self._db: sqlite3.Connection | None = None
        self.model_id = f"{MODEL_PACKAGE}-{MODEL_DIM}"

    def _cache_failed(self, exc: Exception) -> None:
        """Say once that the cache is not kept (the ranking itself goes on)."""
        if self._lost is not None:
            lost, self._lost = self._lost, None
            lost(getattr(exc, "strerror", None) or str(exc))

    # -- the model ------------------------------------------------------------------

    def model(self):
        if self._model is None:
            self._model = load_model(self.where)
        return self._model

    def encode(self, texts: Sequence[str]):
        """Unit vectors for ``texts`` (no cache)."""
        import numpy as np

        out = np.zeros((len(texts), MODEL_DIM), dtype=np.float32)
        if not texts:
            return out
        model = self.model()
        table = model.embedding
        # wordllama's own embed() pads each batch to its longest text and
        # gathers (batch x tokens x dim) at once: hundreds of MB for long
        # abstracts.  The same average pool, one text at a time, stays small.
        for start in range(0, len(texts), 256):
            for j, enc in enumerate(model.tokenizer.encode_batch(list(texts[start : start + 256]), add_special_tokens=False)):
                ids = [t for t, m in zip(enc.ids, enc.attention_mask) if m]
                if ids:
                    out[start + j] = table[np.asarray(ids, dtype=np.int64)].mean(axis=0)
        return _unit(out)

    # -- the cache ------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection | None:
        if self._db is None and self.cache is not None:
            try:
                self._db = self._connect(self.cache)
            except (sqlite3.Error, OSError) as exc:
                if isinstance(exc, sqlite3.Error) and _damaged(exc):
                    return self._remake(exc)
                self.cache = None  # an unwritable cache folder, or a file where it goes: work without it
                self._cache_failed(exc)
        return self._db

    @staticmethod
    def _connect(cache: Path) -> sqlite3.Connection:
        cache.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(cache, timeout=30)
        try:
            # A cache: a crash may lose the last vectors (they are computed
            # again), so no fsync per commit (one per topic's query otherwise).
            db.execute("PRAGMA synchronous = OFF")
            db.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vec BLOB NOT NULL)")
            db.execute(
                "CREATE TABLE IF NOT EXISTS papers (id TEXT PRIMARY KEY, title_key TEXT NOT NULL, "
                "title TEXT NOT NULL, text TEXT NOT NULL)"
            )
            db.execute("CREATE INDEX IF NOT EXISTS papers_by_title ON papers (title_key)")
            db.execute("CREATE TABLE IF NOT EXISTS stems (key TEXT PRIMARY KEY, words TEXT NOT NULL)")
            db.execute("CREATE TABLE IF NOT EXISTS absent (id TEXT PRIMARY KEY)")
        except sqlite3.Error:
            db.close()
            raise
        return db

    def _remake(self, exc: sqlite3.Error) -> sqlite3.Connection | None:
        """A damaged cache (a power cut, with its commits not synced; a disk
        fault; a copy taken mid-write) is removed and made anew, its vectors
        computed again: every read of it raised, and each match, preview and
        send ended in a traceback.  Once per run; then it is done without."""
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None
        cache, self.cache = self.cache, None
        if cache is None or self._was_remade:
            self._cache_failed(exc)
            return None
        self._was_remade = True
        try:
            for suffix in ("", "-journal", "-wal", "-shm"):
                cache.with_name(cache.name + suffix).unlink(missing_ok=True)
        except OSError as gone:
            self._cache_failed(gone)
            return None
        if self._remade is not None:
            remade, self._remade = self._remade, None
            remade(" ".join(str(exc).split()))
        self.cache = cache
        return self._open()

    def _read(self, run: Callable[[sqlite3.Connection], _T], empty: _T) -> _T:
        """``run(db)`` on the cache, or ``empty`` without one: a damaged cache
        is made anew (see :meth:`_remake`), one that cannot be read (locked
        past its timeout) done without."""
        db = self._open()
        if db is None:
            return empty
        try:
            return run(db)
        except sqlite3.Error as exc:
            if _damaged(exc):
                db = self._remake(exc)
                return run(db) if db is not None else empty  # (a new, empty cache)
            self._db, self.cache = None, None
            with contextlib.suppress(sqlite3.Error):
                db.close()
            self._cache_failed(exc)
            return empty

    def _write(self, run: Callable[[sqlite3.Connection], object]) -> None:
        """``run(db)`` in one transaction; a cache that refuses it is only not
        kept (a read-only or full disk), a damaged one made anew."""
        db = self._open()
        if db is None:
            return
        try:
            with db:
                run(db)
        except sqlite3.Error as exc:
            if not _damaged(exc):
                self._cache_failed(exc)  # a read-only or full disk: the vectors are simply not kept
            elif (db := self._remake(exc)) is not None:
                self._write(run)

    def _key(self, text: str) -> str:
        return hashlib.sha1(f"{self.model_id}\0{text}".encode()).hexdigest()

    def embed(self, texts: Sequence[str]):
        """Unit vectors for ``texts``, from the cache where possible."""
        import numpy as np

        out = np.zeros((len(texts), MODEL_DIM), dtype=np.float32)
        keys = [self._key(t) for t in texts]
        found: dict[str, bytes] = self._read(lambda db: _by_key(db, "SELECT key, vec FROM vectors", keys), {})
        missing = [i for i, k in enumerate(keys) if k not in found]
        for i, k in enumerate(keys):
            blob = found.get(k)
            if blob is not None and len(blob) == MODEL_DIM * 4:
                out[i] = np.frombuffer(blob, dtype=np.float32)
            elif blob is not None:
                missing.append(i)
        if missing:
            vecs = self.encode([texts[i] for i in missing])
            out[missing] = vecs
            self._write(lambda db: db.executemany(
                "INSERT OR REPLACE INTO vectors (key, vec) VALUES (?, ?)",
                ((keys[i], vecs[j].tobytes()) for j, i in enumerate(missing)),
            ))
        return out

    def stems(self, texts: Sequence[str], tokens: Callable[[str], list[str]]) -> list[list[str]]:
        """``tokens(text)`` for each text (BM25's stemmed words), from the cache
        where possible: stemming is the largest cost of ranking cached papers."""
        keys = [hashlib.sha1(f"stems-1\0{t}".encode()).hexdigest() for t in texts]
        found: dict[str, str] = self._read(lambda db: _by_key(db, "SELECT key, words FROM stems", keys), {})
        out = []
        new = []
        for key, text in zip(keys, texts):
            words = found.get(key)
            if words is None:
                out.append(tokens(text))
                new.append((key, " ".join(out[-1])))
            else:
                out.append(words.split())
        if new:
            self._write(lambda db: db.executemany("INSERT OR REPLACE INTO stems (key, words) VALUES (?, ?)", new))
        return out

    def remember(self, papers: Iterable[Paper]) -> None:
        """Keep ids, titles and texts, so ``like:`` can name a paper seen on an earlier day."""
        papers = list(papers)
        self._write(lambda db: db.executemany(
            "INSERT OR IGNORE INTO papers (id, title_key, title, text) VALUES (?, ?, ?, ?)",
            ((p.id, p.title_key, p.title, paper_text(p)) for p in papers),
        ))

    def remember_absent(self, ids: Iterable[str]) -> None:
        """Keep the liked arXiv ids that arXiv itself answered it has no paper
        for, so the ranker's warning can say so (a typo, not an old paper)."""
        ids = list(ids)
        self._write(lambda db: db.executemany("INSERT OR IGNORE INTO absent (id) VALUES (?)", ((i,) for i in ids)))

    def absent(self, ref: str) -> bool:
        """Whether arXiv answered a lookup that it has no paper with id ``ref``."""
        return self._read(lambda db: db.execute(
            "SELECT 1 FROM absent WHERE id = ?", (arxiv_base_id(ref),)
        ).fetchone() is not None, False)

    def background(self, day: Sequence[Paper], count: int, avoid: Iterable[str] = ()) -> list[Paper]:
        """Up to ``count`` papers that are not ``day``'s, to score a small day
        among: the ones most recently ranked on earlier days (the user's own
        sources), then the shipped :data:`BACKGROUND_FILE`.  None named in
        ``avoid`` (arXiv ids or titles: the liked papers, whose closeness to
        themselves would stand out of any statistic they are part of)."""
        if count <= 0:
            return []
        avoid = list(avoid)
        ids = {p.id for p in day} | {arxiv_base_id(ref) for ref in avoid}
        liked = {normalize_title(ref) for ref in avoid}  # a title, or a short name (see Ranker._liked)
        titles = {p.title_key for p in day} | liked
        out: list[Paper] = []
        rows: list[tuple[str, str, str, str]] = self._read(lambda db: db.execute(
            "SELECT id, title_key, title, text FROM papers ORDER BY rowid DESC LIMIT ?", (count + len(day),)
        ).fetchall(), [])
        for pid, key, title, text in rows:
            if len(out) >= count:
                break
            if pid in ids or key in titles or short_title_key(title) in liked:
                continue
            titles.add(key)
            prefix = f"{title}. "
            out.append(Paper(title, text[len(prefix):] if text.startswith(prefix) else text, "background"))
        if len(out) < count:
            for title, abstract in _shipped_background():
                paper = Paper(title, abstract, "background")
                if paper.title_key in titles or short_title_key(title) in liked:
                    continue
                titles.add(paper.title_key)
                out.append(paper)
                if len(out) >= count:
                    break
        return out

    def recall_short(self, ref: str) -> list[tuple[str, str, str]]:
        """(id, title, text) of the papers seen before whose short name
        (:func:`short_title_key`) ``ref`` is, at most :data:`SHORT_NAMES_SHOWN` + 1:
        enough to tell one from several."""
        key = normalize_title(ref)
        rows: list[tuple[str, str, str]] = self._read(lambda db: db.execute(
            # the keys that start with "KEY " (the colon, like every punctuation, is a space in a key)
            "SELECT id, title, text FROM papers WHERE title_key >= ? AND title_key < ? LIMIT 1000",
            (f"{key} ", f"{key}!"),
        ).fetchall(), [])
        return [row for row in rows if short_title_key(row[1]) == key][: SHORT_NAMES_SHOWN + 1]

    def recall(self, ref: str) -> tuple[str, str, str] | None:
        """(id, title, text) of a paper seen before, by arXiv id or title."""
        def find(db: sqlite3.Connection) -> tuple[str, str, str] | None:
            row = db.execute("SELECT id, title, text FROM papers WHERE id = ?", (arxiv_base_id(ref),)).fetchone()
            if row is None:
                row = db.execute("SELECT id, title, text FROM papers WHERE title_key = ?",
                                 (normalize_title(ref),)).fetchone()
            return row

        return self._read(find, None)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


def _damaged(exc: sqlite3.Error) -> bool:
    """SQLite's word for a file that is no (longer a whole) database."""
    return "malformed" in str(exc) or "not a database" in str(exc)


def _by_key(db: sqlite3.Connection, select: str, keys: Sequence[str]) -> dict:
    """``select`` (two columns, the first ``key``) for ``keys``, 500 at a time."""
    found: dict = {}
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        found.update(db.execute(f"{select} WHERE key IN ({','.join('?' * len(chunk))})", chunk))
    return found


def _shipped_background() -> list[tuple[str, str]]:
    """(title, abstract) of the shipped background papers; none if the file is missing or broken."""
    import gzip
    import json

    try:
        with gzip.open(BACKGROUND_FILE, "rt", encoding="utf-8") as f:
            return [(str(t), str(a)) for t, a in json.load(f)]
    except (OSError, ValueError, TypeError):
        return []


#: An ``about`` longer than this many words is advised on: the interests the
#: ranking was measured on are 17 to 51 words; a pasted abstract (150 to 300)
#: or paper ranks by everything it mentions and its reasons name odd phrases.
LONG_ABOUT_WORDS = 150


#: Function words of the languages a researcher may write in instead of
#: English (French, German, Dutch, Spanish, Italian, Portuguese), none of
#: them an English word nor a symbol of maths (no "y", "e", "a", "die", "per").
_FOREIGN_WORDS = frozenset(
    """de la le les des du et à au aux pour par une un sur dans avec est sont
    und der das den dem für mit von zur zum ein eine einer ist sind nicht auf im aus
    het een voor met van
    el los las del para con por una que il di dal dei della delle degli gli che em com uma dos""".split()
)


def not_english(about: str) -> list[str] | None:
    """Whether ``about`` reads as another language than English, which the
    model and the stemmer are (a sentence in French ranked papers at random):
    more of its words are other languages' function words ("de", "und",
    "pour") than English ones (at least two), or it has one such word, no
    English one, and fewer than half of its (at least five) words occur in
    the shipped background papers.  Then its words that occur in no such
    paper (to name in advice, function words left out), else None."""
    written = _WORD.findall(about)
    words = [w.casefold() for w in written]
    # A particle of a name ("de Finetti", "van der Waals") is no sign of a
    # language: a lower-case function word before a capitalised word, or
    # before another such particle.
    name_part = [False] * len(words)
    for i in range(len(words) - 2, -1, -1):
        if words[i] in _FOREIGN_WORDS and written[i].islower():
            name_part[i] = written[i + 1][:1].isupper() or name_part[i + 1]
    foreign = sum(1 for i, w in enumerate(words) if w in _FOREIGN_WORDS and not name_part[i])
    english = sum(1 for w in words if w in _STOP)
    if not foreign or (english and foreign <= english) or (not english and foreign < 2 and len(words) < 5):
        return None  # the usual case, decided without reading the background papers
    stem, vocabulary = _reference_vocabulary()
    distinct = list(dict.fromkeys(content_words(about)))
    unknown = [w for w in distinct if stem(w) not in vocabulary]
    if (foreign >= 2 and foreign > english) or (len(distinct) >= 5 and len(unknown) * 2 > len(distinct)):
        return [w for w in unknown if w not in _FOREIGN_WORDS and len(w) > 3]
    return None


def misspelt(about: str) -> list[tuple[str, str]]:
    """The words of ``about`` that no background paper uses, stemmed or not,
    but that are one slip from a word several of them do ("grpah": "graph"),
    with that word.  Only words written in lower case (or capitalised to
    open a sentence): an acronym or a name new to the background ("QLoRA",
    "Mamba") is no typo."""
    import difflib

    stem, vocabulary = _reference_vocabulary()
    common = _common_words()
    out: list[tuple[str, str]] = []
    for found in _WORD.finditer(about):
        written, word = found.group(), found.group().casefold()
        opening = not about[: found.start()].strip() or about[: found.start()].rstrip()[-1] in ".!?"
        lower = written.islower() or (opening and written[1:].islower())
        if (not written.isalpha() or not lower or len(word) < 4 or word in _STOP
                or stem(word) in vocabulary or any(word == w for w, _ in out)):
            continue
        # a slip: a letter swapped, left out or added ("things" is not "this" mistyped)
        close = [c for c in difflib.get_close_matches(word, common, n=3, cutoff=0.8) if abs(len(c) - len(word)) <= 1]
        if close and word not in _model_words():  # 'thought' is a word, not 'though' mistyped
            out.append((word, close[0]))
    return out


@functools.cache
def _model_words() -> frozenset[str]:
    """The words the model's tokenizer holds whole (``▁thought``): English
    words common enough to be one token, which a typo ("grpah", "nueral")
    is not.  The background papers alone miss common words such as
    'thought'.  Loaded only when a word looks like a slip; empty if the
    model cannot be loaded (that is reported where it is used)."""
    try:
        vocabulary = load_model().tokenizer.get_vocab()
    except RankingError:
        return frozenset()
    return frozenset(token[1:].casefold() for token in vocabulary if token.startswith("▁") and token[1:].isalpha())


@functools.cache
def _common_words() -> list[str]:
    """The words that at least two shipped background papers use, as written (case-folded)."""
    return sorted(w for w, n in _background_counts().items() if n >= 2)


@functools.cache
def _background_counts() -> dict[str, int]:
    """How many shipped background papers use each word, as written (case-folded)."""
    seen: dict[str, int] = {}
    for title, abstract in _shipped_background():
        for word in set(_WORD.findall(f"{title} {abstract}".casefold())):
            if word.isalpha():
                seen[word] = seen.get(word, 0) + 1
    return seen


#: British endings and their American forms, which stem apart ('optimis' / 'optim').
_BRITISH = (
    (re.compile(r"is(e|es|ed|ing|ation|ations|er|ers)$"), r"iz\1"),
    (re.compile(r"our(s|ed|ing|al)?$"), r"or\1"),
    (re.compile(r"yse(s|d)?$"), r"yze\1"),
)


def british(about: str) -> list[tuple[str, str]]:
    """The words of ``about`` spelt the British way ("optimisation",
    "behaviour") whose American form stems apart and is what the shipped
    background papers write, by far, with that form.  The lexical evidence
    and the reasons read words as written: "preference optimisation for
    large language models" gave DPO-Shift no reason at all ("close in
    meaning"), "preference optimization" named it."""
    counts, stem = _background_counts(), _reference_vocabulary()[0]
    out: list[tuple[str, str]] = []
    for word in dict.fromkeys(w.casefold() for w in _WORD.findall(about)):
        for ending, american in _BRITISH:
            us = ending.sub(american, word)
            if us != word and len(word) > 5 and word.isalpha() and us not in _STOP and stem(us) != stem(word) and (
                    counts.get(us, 0) >= 2) and (
                    counts.get(us, 0) > 3 * counts.get(word, 0)):
                out.append((word, us))
                break
    return out


@functools.cache
def _reference_vocabulary() -> tuple[_Stemmer, frozenset[str]]:
    """The stemmer and the stems of the shipped background papers' words."""
    stem = _Stemmer()
    vocabulary: set[str] = set()
    for title, abstract in _shipped_background():
        vocabulary.update(stem.tokens(f"{title} {abstract}"))
    return stem, frozenset(vocabulary)


def load_model(where: Problem | None = None):
    """The wordllama model from its package folder, never from the network.

    Anything that goes wrong (package missing, weights absent or corrupt)
    becomes one :class:`RankingError` line naming the package.
    """
    try:
        import wordllama
        from wordllama import WordLlama

        return WordLlama.load(dim=MODEL_DIM, cache_dir=Path(wordllama.__file__).parent, disable_download=True)
    except Exception as exc:  # noqa: BLE001 - any failure of a broken install is the same user problem
        detail = " ".join(str(exc).split())[:160] or type(exc).__name__
        message = (
            f"cannot load the embedding model of the {MODEL_PACKAGE!r} package ({detail}); "
            f"'about'/'like' topics need it: reinstall it with pip install --force-reinstall {MODEL_PACKAGE}"
        )
        if where is not None:
            raise RankingError(Problem(message, where.file, where.line, where.path)) from None
        raise RankingError(Problem(message)) from None


# --------------------------------------------------------------------------- ranking


def calibrate(fused, bonus=None):
    """Fused evidence (plus ``bonus``) -> scores in [0, 1], relative to the day's papers.

    A robust z-score (median and median absolute deviation, not mean and
    standard deviation: a broad interest with many relevant papers would
    inflate the deviation and hide them) through a logistic centred on
    :data:`CENTER`, so the default floor 0.5 keeps the papers that stand
    :data:`CENTER` deviations above the typical paper of the day.

    A broad topic (a quarter of the day's papers on it) widens the deviation
    itself, so its relevant papers no longer stand :data:`CENTER` deviations
    out.  The deviation is therefore capped so that a paper
    :data:`RELATIVE_FLOOR` of the way from the median to the day's best paper
    also reaches 0.5: the floor is the lower of the two.

    ``bonus`` (in the units of ``fused``) is added after the median, the
    spread and the day's best are taken from ``fused`` alone: the papers it
    raises move past the others and over the floor, the floor itself stays
    where the evidence puts it.  (Added before, the same bonus moved the
    floor of every topic and lost F1 on two of the three labelled sets.)
    """
    import numpy as np

    median = float(np.median(fused))
    spread = float(np.median(np.abs(fused - median))) * 1.4826
    if not math.isfinite(spread) or spread < 1e-9:
        spread = float(fused.std()) or 1.0
    reach = (float(fused.max()) - median) * RELATIVE_FLOOR / CENTER
    if RELATIVE_FLOOR and reach > 1e-9:
        spread = min(spread, reach)
    z = (fused + (0 if bonus is None else bonus) - median) / spread
    return 1.0 / (1.0 + np.exp(-(z - CENTER) / SPREAD))


def fuse_with_rules(order: Sequence[int], relevance):
    """Scores in (0, 1] for the papers a topic's rules let in, ``order`` being
    the rules' order (matched-term count, then upvotes, then title) and
    ``relevance`` every paper's fit (indexed by position).

    Reciprocal rank fusion: 1 / (k + rank by the rules) + w / (k + rank by
    relevance), scaled so that a paper first in both scores 1.  The rules
    keep the larger say (their term counts are what the user wrote), and
    relevance moves a paper only as far as its rank among the members
    differs: measured on tests/data/relevance, this never lost more than
    0.002 nDCG@10 against the rules alone on any interest, where blending
    relevance into the term count as a number lost up to 0.03 (it reorders
    papers whose counts tie on small relevance differences).
    """
    import numpy as np

    order = list(order)
    if not order:
        return np.zeros(0)
    by_relevance = sorted(range(len(order)), key=lambda n: -float(relevance[order[n]]))  # stable: ties keep the rules' order
    relevance_rank = np.empty(len(order))
    relevance_rank[by_relevance] = np.arange(1, len(order) + 1)
    rules_rank = np.arange(1, len(order) + 1)
    fused = 1.0 / (RRF_K + rules_rank) + W_RRF_RELEVANCE / (RRF_K + relevance_rank)
    return fused * (RRF_K + 1) / (1 + W_RRF_RELEVANCE)


def lift(liked, alone, day: int):
    """The scores with the liked papers (``liked``), less a margin, so that
    they lift a paper over its score from the sentence alone (``alone``)
    only by more than the wobble of the two calibrations (the first ``day``
    papers are the day's, the rest background).

    The liked papers' evidence changes the day's median and spread, so
    every paper moves a little, the sentence's best ones included: the
    wobble is the median change, in deviations, over the sentence's
    :data:`LIFT_WOBBLE_PAPERS` best papers.  A lift of less than
    :data:`LIFT_MARGIN` of it says little, but it was enough to pass the
    sentence's own papers: "On Neural Differential Equations" (grade 1)
    moved from 11th to 8th past two grade-2 papers for "how gradients get
    computed", and a PDE paper passed a Bayesian-optimisation one for
    "kernel methods and Gaussian processes", whose liked paper puts
    Gaussian process priors on PDEs (bench/RANKING.md, fifteenth round).
    The same margin serves one liked paper: the seventeenth round gave one
    paper a margin of its own (0.6), but on today's ranker it moves no
    figure of the four labelled sets by more than 0.0013, one liked paper
    or two (bench/RANKING.md, twenty-fifth round).
    """
    import numpy as np

    def logit(p):
        # In float64: a float32 score of 1.0 stays 1.0 clipped (1 - 1e-12 rounds to
        # it), and a paper at 1.0 in both calibrations made inf - inf, a NaN wobble
        # and every score of the topic NaN.
        p = np.clip(np.asarray(p, dtype=np.float64), 1e-12, 1 - 1e-12)
        return np.log(p / (1 - p))

    with_liked, sentence = logit(liked), logit(alone)
    best = np.argsort(-alone[:day], kind="stable")[:LIFT_WOBBLE_PAPERS]
    wobble = float(np.median(np.abs(with_liked - sentence)[best])) if len(best) else 0.0
    lifted = 1.0 / (1.0 + np.exp(-(with_liked - LIFT_MARGIN * wobble)))
    return lifted.astype(np.asarray(liked).dtype, copy=False)


def _closest_window(tokens: list[str], words: list[str], weight: dict[str, float]) -> float:
    """The largest ``weight`` of ``words`` found within :data:`PHRASE_WINDOW`
    places of each other in ``tokens``, the first of ``words`` (the phrase's
    rarest) and at least one other among them (0 if none is)."""
    rarest = words[0]
    hits = sorted((p, w) for w in words for p in _places(tokens, w))
    best = 0.0
    for a, (start, _) in enumerate(hits):
        seen = set()
        for p, w in hits[a:]:
            if p - start >= PHRASE_WINDOW:
                break
            seen.add(w)
        if len(seen) >= 2 and rarest in seen:
            best = max(best, sum(weight[w] for w in seen))
    return best


def _places(tokens: list[str], word: str) -> list[int]:
    """Where ``word`` stands in ``tokens`` (list.index scans at C speed: a
    position table of every paper's words cost 50 MB for 5,000 papers)."""
    out = []
    start = 0
    try:
        while True:
            start = tokens.index(word, start)
            out.append(start)
            start += 1
    except ValueError:
        return out


def _unit(x):
    import numpy as np

    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norm, 1e-9)


def _zscores(x):
    import numpy as np

    std = float(x.std())
    if not math.isfinite(std) or std < 1e-9:
        return np.zeros_like(x)
    return (x - float(x.mean())) / std


class Ranker:
    """The day's papers, indexed once (BM25 + embeddings), scored per interest.

    ``warn`` receives a :class:`LikeWarning` per ``like`` entry that names no
    known paper; ``locate(key, index)`` gives where it is (``FILE:LINE: topics.KEY.like[I]``
    from a config, the path alone by default).  A day
    of fewer than ``min_day`` papers is scored among background papers
    (:meth:`Embedder.background`; none of ``avoid``, the topics' liked
    papers): on a 5-paper day, a relevant paper stood out only against the
    other four, and an unrelated one did on a day with nothing relevant.
    ``looks_up``: the config has an arXiv API source, which reading the
    sources asked for the liked ids (:func:`readers.look_up_liked`); an
    unknown id's warning then says so instead of pointing to that source.
    """

    def __init__(
        self,
        papers: Sequence[Paper],
        embedder: Embedder,
        warn: Callable[[LikeWarning], None] | None = None,
        locate: Callable[[str, int], str] | None = None,
        min_day: int = MIN_DAY,
        avoid: Iterable[str] = (),
        looks_up: bool = False,
    ) -> None:
        import bm25s
        import numpy as np

        logging.getLogger("bm25s").setLevel(logging.WARNING)  # its index build talks at DEBUG
        day = list(papers)
        #: How many of ``self.papers`` are the day's (first); the rest is
        #: background: counted in every statistic (BM25's word rarity, the
        #: mean vector, the median and spread of scores, feedback), never ranked.
        self.day = len(day)
        background = embedder.background(day, min_day - len(day), avoid) if day else []
        self.papers = day + background
        self.embedder = embedder
        self.warn = warn or (lambda message: None)
        self.locate = locate or (lambda key, i: f"topics.{key}.like[{i}]")
        self.looks_up = looks_up  # whether the config has a source that liked arXiv ids are looked up at
        self.stem = _Stemmer()
        self.by_id = {p.id: i for i, p in enumerate(self.papers)}
        self.by_title: dict[str, int] = {}
        for i, p in enumerate(self.papers):
            self.by_title.setdefault(p.title_key, i)
        for i, p in enumerate(self.papers[: self.day]):  # the title as the email shows it (ℓ₂ for ell_2)
            if (shown := lost_math_shown(p.title)) != p.title:
                self.by_title.setdefault(normalize_title(shown), i)
        self.tokens = embedder.stems(
            [plain_letters(" ".join([p.title] * TITLE_REPEAT + [p.abstract])) for p in self.papers], self.stem.tokens
        )
        self.token_sets = [frozenset(t) for t in self.tokens]
        self.df: dict[str, int] = {}
        for words in self.token_sets:
            for w in words:
                self.df[w] = self.df.get(w, 0) + 1
        self.bm25 = bm25s.BM25()
        if self.papers:
            vocab: dict[str, int] = {}
            ids = [[vocab.setdefault(w, len(vocab)) for w in doc] for doc in self.tokens]
            self.bm25.index(bm25s.tokenization.Tokenized(ids=ids, vocab=vocab), show_progress=False)
        self.vectors = (
            embedder.embed([paper_text(p) for p in self.papers]) if self.papers else np.zeros((0, MODEL_DIM), np.float32)
        )
        self.mean = self.vectors.mean(axis=0) if self.papers and CENTRE else np.zeros(MODEL_DIM, np.float32)
        self.centred = _unit(self.vectors - self.mean)
        self._names: dict[str, tuple[bool, bool]] = {}  # see _is_name
        self._closeness: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}  # see phrase_closeness
        self._title_tokens: dict[int, list[str]] = {}  # see _title_words
        self._opening_tokens: dict[int, list[str]] = {}  # see _opening_words
        self._surface_keys: dict[int, tuple] = {}  # see _surface
        self._phrase_cache: dict[str, list[str]] = {}  # see phrases
        self._postings: dict[str, list[int]] | None = None
        self._hubs: np.ndarray | None = None  # see hubness
        titles = embedder.embed([plain_letters(p.title) for p in self.papers]) if self.papers else self.vectors
        self.titles = _unit(titles - (titles.mean(axis=0) if self.papers and CENTRE else 0))
        embedder.remember(self.papers[: self.day])

    # -- signals -----------------------------------------------------------------------

    def lexical(self, text: str):
        import numpy as np

        words = [w for w in self.stem.tokens(text) if w in self.bm25.vocab_dict]
        if not words or not self.papers:
            return np.zeros(len(self.papers), dtype=np.float32)
        return self.bm25.get_scores(words)

    def _liked(self, interest: Interest) -> list[tuple[str, str, str]]:
        """(id, title, text) of each liked paper found; a warning for each not found."""
        out = []
        for i, ref in enumerate(interest.like):
            hit = self.by_id.get(arxiv_base_id(ref))
            if hit is None:
                hit = self.by_title.get(normalize_title(ref))
            if hit is not None:
                p = self.papers[hit]
                out.append((p.id, p.title, paper_text(p)))
                continue
            old = self.embedder.recall(ref)
            if old is not None:
                out.append(old)
                continue
            named = self._short_named(ref)
            if len(named) == 1:
                out.append(named[0])
                continue
            if named:
                titles = ", ".join(repr(title) for _, title, _ in named[:SHORT_NAMES_SHOWN])
                more = " ..." if len(named) > SHORT_NAMES_SHOWN else ""
                self.warn(LikeWarning(
                    interest.key, ref, "ambiguous",
                    f"{self.locate(interest.key, i)}: {ref!r} is the short name of more than one known paper "
                    f"({titles}{more}); write the whole title or the arXiv id of the one you liked; it is ignored"))
                continue
            near = self._near_title(ref)
            by_id = re.fullmatch(ARXIV_ID, arxiv_base_id(ref)) is not None
            idless = idless_hint(self.papers[: self.day]) if by_id else None
            self.warn(LikeWarning(
                interest.key, ref, "unknown",
                f"{self.locate(interest.key, i)}: {ref!r} matches no known paper "
                + (f"(did you mean {near!r}?)" if near
                   else f"({NO_DOI_HINT})" if re.fullmatch(DOI, ref.strip(), re.I)
                   else f"({idless})" if idless
                   else f"({NOT_ON_ARXIV_HINT})" if by_id and self.embedder.absent(ref)
                   else f"({NOT_LOOKED_UP_HINT if self.looks_up else OLDER_PAPER_HINT})" if by_id
                   else "(an arXiv id or the title of a paper from the sources)")
                + "; it is ignored"
            ))
        return out

    def _short_named(self, ref: str) -> list[tuple[str, str, str]]:
        """(id, title, text) of each known paper whose short name ``ref`` is
        ("DPO-Shift"), as researchers name a paper: the day's, then those seen
        on earlier days (the liked paper is rarely in today's listing).  The
        ranking used to say "did you mean 'DPO-Shift: Shifting the ...'?" and
        ignore it, where `match --paper DPO-Shift` found it."""
        key = normalize_title(ref)
        found = {p.title_key: (p.id, p.title, paper_text(p)) for p in self.papers[: self.day]
                 if short_title_key(p.title) == key}
        ids = {pid for pid, _, _ in found.values()}
        for pid, title, text in self.embedder.recall_short(ref):
            if pid not in ids:  # (one paper seen under its title, then with its arXiv id: one title)
                found.setdefault(normalize_title(title), (pid, title, text))
        return list(found.values())

    def _near_title(self, ref: str) -> str | None:
        """The title of the day's paper whose title ``ref`` nearly is (a
        plural, a dropped word), if one is."""
        import difflib

        day = self.papers[: self.day]  # not the background's: the user never saw those
        close = difflib.get_close_matches(normalize_title(ref), [p.title_key for p in day], n=1, cutoff=0.85)
        return self.papers[self.by_title[close[0]]].title if close else None

    # -- scores ------------------------------------------------------------------------

    def ranking(
        self, interest: Interest, members: Sequence[int] | None = None, *, fuse: bool = True, near: int = 0
    ) -> Ranking:
        """Papers (by id) at or above the interest's floor, with score and reason,
        and the ``near`` best of the day's papers under it.

        ``members`` (paper positions, in the rules' own order, best first)
        restricts the result to the papers the topic's rules let in;
        statistics still use the whole day.  Their relevance must reach
        the floor; their score is :func:`fuse_with_rules` of the two orders,
        or, with ``fuse`` False (rules that only exclude, ``none``: their
        order says nothing), the relevance itself.
        """
        if not self.day:
            return Ranking({})
        liked = self._liked(interest)
        liked_ids = {pid for pid, _, _ in liked}
        liked_vecs = self.embedder.embed([t for _, _, t in liked]) if liked else None
        scores = self.scores(interest, liked, liked_vecs)
        if scores is None:
            return Ranking({}, liked=frozenset(liked_ids))
        import numpy as np

        lifted = None  # which papers the liked papers raised (None: all their doing, or no liked papers)
        if liked and interest.about:
            # Liked papers only add: a paper keeps the score the sentence alone
            # gives it if that is higher.  As evidence next to the sentence they
            # also pulled their own subject up and the interest's other aspects
            # down (measured on three labelled sets: up to -0.23 nDCG@10 on an
            # interest); as the higher of the two, no interest lost.  A lift
            # within the calibrations' wobble does not count (see lift).
            alone = self.scores(interest, [], None)
            if alone is not None:
                scores = lift(scores, alone, self.day)
                lifted = scores > alone
                scores = np.maximum(scores, alone)

        floor = interest.floor
        allowed = None if members is None else set(members)  # the papers the rules let in
        fits = None  # the relevance, where the scores become the fused ones
        under: tuple[tuple[str, float], ...] = ()
        if near:
            below: list[int] = []
            for i in np.argsort(-scores[: self.day], kind="stable").tolist():
                if len(below) == near:
                    break
                if scores[i] < floor and (allowed is None or i in allowed) and self.papers[i].id not in liked_ids:
                    below.append(i)
            # cut, not rounded: a min_score of the value shown must take the paper
            under = tuple((self.papers[i].id, math.floor(float(scores[i]) * 10000) / 10000) for i in below)
        if allowed is not None and not fuse:
            keep = [i for i in np.flatnonzero(scores[: self.day] >= floor).tolist() if i in allowed]
        elif members is not None:
            keep = [i for i in members if scores[i] >= floor]
            fits = scores
            scores = scores.copy()
            scores[list(members)] = fuse_with_rules(members, scores)
            floor = 0.0  # the floor applied to the relevance itself, above
        else:
            keep = np.flatnonzero(scores[: self.day] >= floor).tolist()
        # the phrases as a reason names them: nouns, not "solve" of "used to solve them" (the scores read them all)
        about_phrases = []
        if interest.about:
            about_phrases = [self._in_lower_case(ph)
                             for ph in reasons.noun_phrases(interest.about, self.phrases(wanted(interest.about)))]
        # (phrase, its stems, the rarest of them, their total weight, its stems in order
        # with their word's place): see _reason
        phrase_words = []
        for ph in about_phrases:
            # a word no paper of the day has weighs nothing: no paper can share it
            stems = frozenset(w for w in self.stem.tokens(ph) if self.df.get(w))
            # a phrase of one-letter words is a formula's variables ("‖x‖²", "𝔼"): it names no interest
            if any(len(w) > 1 for w in stems):
                rarest = max(stems, key=lambda w: (self._idf(w), w))
                # each word of the phrase (a hyphenated one by its parts), in order: its stem, the place
                # of the word it is in, its surface key (what the paper must write for a reason to name
                # it) and the joining words before it
                placed = [(self.stem(part), len(ph[:at].split()), key, gap) for part, key, gap, at in keyed_words(ph)]
                word_stems = [frozenset(self.stem.tokens(word)) for word in ph.split()]
                # a British spelling stems apart from the American one a paper may write ("discretisation")
                spelt = any(len(part) > 5 and ending.search(part) for part in content_parts(ph)
                            for ending, _ in _BRITISH)
                phrase_words.append((ph, stems, rarest, sum(self._idf(w) for w in stems), placed, word_stems, spelt))
        out = {}
        for i in keep:
            s = float(scores[i])
            pid = self.papers[i].id
            if s < floor or pid in liked_ids:
                continue
            by_like = bool(liked) and (lifted is None or bool(lifted[i]))
            fit = None if fits is None else round(float(fits[i]), 4)
            out[pid] = Relevance(round(s, 4), self._reason(i, phrase_words, liked if by_like else [], liked_vecs), fit)
        return Ranking(out, under, frozenset(liked_ids))

    def scores(self, interest: Interest, liked: list, liked_vecs) -> np.ndarray | None:
        """Every paper's score in [0, 1] for ``interest`` (None: nothing to rank by).

        1. The query: the ``about`` sentences that say what the reader wants
           (a sentence that says what they do *not* want would otherwise pull
           those papers up); the liked papers' centroid when there is no ``about``.
        2. Lexical (BM25) and semantic (cosine, vectors centred on the day's
           mean so the common "this is an ML paper" direction does not count)
           evidence, each as a z-score over the day's papers, added.
        3. Pseudo-relevance feedback: the centroid of the best few papers,
           and of the liked ones (known relevant), is added to the semantic
           query once (the reader's words meet the papers' words), and the
           fusion is redone.  Liked papers only refine the reader's sentence
           this way: put into the first query (measured: Rocchio weight 1.0
           and 0.5) they pulled it towards the liked papers' own subject and
           lost relevant papers of the interest's other subjects.
        4. The sum, as a robust z-score, goes through a logistic (:func:`calibrate`): a paper
           :data:`CENTER` deviations above the day's median, or
           :data:`RELATIVE_FLOOR` of the way to the day's best paper if that
           is lower (a broad topic), scores 0.5.
        """
        import numpy as np

        positive = wanted(interest.about) if interest.about else ""
        liked_unit = _unit(liked_vecs - self.mean) if liked_vecs is not None else None
        if positive:
            query = _unit(self.embedder.embed([positive])[0] - self.mean)
        elif liked_unit is not None:
            query = _unit(liked_unit.mean(axis=0))
        else:
            return None
        if positive:
            lexical = _zscores(self.lexical(positive))
            worded = lexical  # the sentence's own words, before the liked papers' evidence joins
        else:
            lexical = _zscores(self.lexical(" ".join(title for _, title, _ in liked)))
        if len(liked) >= LIKE_LEXICAL_MIN and positive and W_LIKE_LEXICAL:
            lexical = lexical + W_LIKE_LEXICAL * _zscores(self.lexical(" ".join(title for _, title, _ in liked)))
        if liked_unit is not None and positive and W_LIKE_NEAREST:
            # each liked paper as its own query: closeness to the nearest one
            nearest = (self.centred @ liked_unit.T).max(axis=1)
            lexical = lexical + W_LIKE_NEAREST * _zscores(nearest)
        semantic = self.semantic(query)
        fused = W_SEMANTIC * semantic + W_LEXICAL * lexical
        if PRF_DOCS:
            liked_pos = [self.by_id[pid] for pid, _, _ in liked if pid in self.by_id]
            order = np.argsort(-fused)
            top = [i for i in order[: PRF_DOCS + len(liked_pos)] if i not in liked_pos][:PRF_DOCS]
            feedback = self.centred[top]
            if liked_unit is not None and positive:
                # the liked papers are relevant for sure: they join the feedback set
                feedback = np.vstack([feedback, liked_unit])
            semantic = self.semantic(_unit(query + PRF_WEIGHT * _unit(feedback.mean(axis=0))))
            fused = W_SEMANTIC * semantic + W_LEXICAL * lexical
        # With rules, their matched-term count already orders by the words
        # written; the bonus there counted them twice (quick rules + about:
        # -0.009 nDCG@10 on the blind set).
        bonus = self.phrase_bonus(positive) if positive and not interest.rules else None
        if positive and not interest.rules and W_OPENING_PHRASE:
            bonus = self.opening_bonus(positive, fused, bonus)
            if W_HUB or W_LEAN:
                return self.hub_floor(positive, fused, bonus, worded - semantic)
        return calibrate(fused, bonus)

    def hub_floor(self, about: str, fused, bonus, lean=None):
        """The scores of :func:`calibrate`, except that a paper writing none
        of the sentence's phrases (in its text or title) that reaches the
        default floor only with less than :data:`W_HUB` x (its
        :meth:`hubness` - :data:`HUB_MIN_Z`) plus :data:`W_LEAN` x its
        ``lean`` (its lexical z-score minus its semantic one, where positive)
        of fused evidence to spare gets the score with that taken off, under
        the floor: a hub, or a paper sharing the sentence's words more than its
        meaning, may pass the floor only on clearer evidence, and the digest's
        order is left alone.  The default floor, as in :meth:`opening_bonus`:
        a paper's score does not depend on the topic's ``min_score``."""
        import numpy as np

        scores = calibrate(fused, bonus)
        writes = (self.phrase_closeness(about) > 0) | (self.phrase_closeness(about, title=True) > 0)
        penalty = W_HUB * np.maximum(self.hubness() - HUB_MIN_Z, 0.0)
        if lean is not None and W_LEAN:
            penalty = penalty + W_LEAN * np.maximum(lean, 0.0)
        penalty = penalty * ~writes
        if not penalty.any():
            return scores
        held = calibrate(fused, (0 if bonus is None else bonus) - penalty)
        return np.where((scores >= DEFAULT_MIN_SCORE) & (held < DEFAULT_MIN_SCORE), held, scores)

    def hubness(self):
        """Each paper's z-score over the day of how many papers have it
        among their :data:`HUB_NEIGHBOURS` nearest (centred cosine, itself
        left out), worked out once, in blocks, so 5,000 papers never hold a
        5,000 x 5,000 matrix; over at most :data:`HUB_SAMPLE` papers' lists."""
        import numpy as np

        if self._hubs is None:
            n = len(self.papers)
            k = min(HUB_NEIGHBOURS, n - 1)
            counts = np.zeros(n)
            if k > 0:
                counted = np.arange(n) if n <= HUB_SAMPLE else np.linspace(0, n - 1, HUB_SAMPLE).astype(np.int64)
                for start in range(0, len(counted), 512):
                    block = counted[start:start + 512]
                    sims = self.centred[block] @ self.centred.T
                    sims[np.arange(len(block)), block] = -np.inf
                    np.add.at(counts, np.argpartition(sims, -k, axis=1)[:, -k:].ravel(), 1)
            self._hubs = _zscores(counts)
        return self._hubs

    def phrase_bonus(self, about: str):
        """The evidence a paper gains for writing the sentence's phrases
        (:meth:`phrase_closeness`): :data:`W_PHRASE` for its text and
        :data:`W_TITLE_PHRASE` more for its title, each in units of the day's
        spread of that closeness (None: no paper writes one)."""
        bonus = None
        for weight, title in ((W_PHRASE, False), (W_TITLE_PHRASE, True)):
            if not weight:
                continue
            closeness = self.phrase_closeness(about, title=title)
            spread = float(closeness.std())
            if spread > 1e-9:
                part = weight * closeness / spread
                bonus = part if bonus is None else bonus + part
        return bonus

    def opening_bonus(self, about: str, fused, bonus):
        """``bonus`` plus :data:`W_OPENING_PHRASE` x the closeness of the
        abstract's opening sentence to the sentence's phrases (in units of
        its spread over the day, at most :data:`OPENING_CAP`), for the
        papers that reach the default floor (:data:`DEFAULT_MIN_SCORE`)
        without it: it orders a digest and lets no paper into it.  The
        default, not the topic's own ``min_score``: a paper's score must not
        depend on the floor, since ``match`` names the ``min_score`` that
        takes a paper just under it."""
        import numpy as np

        closeness = self.phrase_closeness(about, opening=True)
        spread = float(closeness.std())
        if spread < 1e-9:
            return bonus
        members = calibrate(fused, bonus) >= DEFAULT_MIN_SCORE
        part = W_OPENING_PHRASE * np.where(members, np.minimum(closeness / spread, OPENING_CAP), 0.0)
        return part if bonus is None else bonus + part

    def phrase_closeness(self, about: str, *, title: bool = False, opening: bool = False):
        """How closely each paper writes the sentence's phrases: for each
        phrase of two or more words (:func:`phrases`, the phrases the reasons
        name), the best window of :data:`PHRASE_WINDOW` places in the paper's
        stemmed words that holds the phrase's rarest word and another of its
        distinctive ones (IDF >= :data:`PHRASE_MIN_IDF`), as the share of the
        phrase's IDF weight the window holds; summed over the phrases.

        BM25 counts "importance" and "sampling" wherever they are; a paper
        on importance sampling writes them together.  Measured on the three
        labelled sets it was chosen on (bench/RANKING.md, thirteenth round),
        as a bonus after calibration it gains nDCG@10 on each (blind +0.03)
        and F1 on the blind one (+0.04); on the second blind set, measured
        once after the choice, +0.03 and +0.04.  Whole words only: a hyphenated word
        ("fine-tuning", "zeroth-order") is one word, not a phrase of its
        parts, which raised every paper naming it (-0.02 on `heldout`).

        ``title``: the same in the paper's title alone, where the rarest
        word with any other word of the phrase counts (in an abstract
        "problems" says nothing; next to "inverse" in a title it names the
        subject).  ``opening``: the same as ``title``, in the abstract's
        opening sentence, a phrase counting only where the window holds
        :data:`OPENING_MIN_SHARE` of its weight."""
        import numpy as np

        known = self._closeness.get(about)
        if known is not None:
            return known[2] if opening else known[1] if title else known[0]
        out = np.zeros(len(self.papers))
        in_title = np.zeros(len(self.papers))
        in_opening = np.zeros(len(self.papers))
        for phrase in self.phrases(about):
            stems = frozenset(self.stem(w) for w in content_words(phrase))
            if len(stems) < 2 or not any(len(w) > 1 for w in stems):
                continue  # one word, or a formula's variables ("x and y")
            rarest = max(stems, key=lambda w: (self._idf(w), w))
            distinctive = {w for w in stems if self._idf(w) >= PHRASE_MIN_IDF}
            if rarest not in distinctive:
                continue  # all common words: written together, they still say nothing
            total = sum(self._idf(w) for w in stems)
            weight = {w: self._idf(w) / total for w in stems}
            others = distinctive - {rarest}
            rest = stems - {rarest}
            for i in self._papers_with(rarest):
                words = self.token_sets[i]
                present = [w for w in others if w in words]
                if present:  # the rarest word and another: where do they stand?
                    out[i] += _closest_window(self.tokens[i], [rarest, *present], weight)
                written = [w for w in rest if w in words]
                if written:  # in a title any word of the phrase counts: "Inverse Problems"
                    in_title[i] += _closest_window(self._title_words(i), [rarest, *written], weight)
                    share = _closest_window(self._opening_words(i), [rarest, *written], weight)
                    if share >= OPENING_MIN_SHARE:  # not "machine learning" of "optimization for machine learning"
                        in_opening[i] += share
        self._closeness[about] = (out, in_title, in_opening)
        return in_opening if opening else in_title if title else out

    def _title_words(self, i: int) -> list[str]:
        """The stemmed content words of paper ``i``'s title (worked out on
        first use: only papers that write a phrase of a sentence are asked)."""
        words = self._title_tokens.get(i)
        if words is None:
            words = self._title_tokens[i] = self.stem.tokens(self.papers[i].title)
        return words

    def _opening_words(self, i: int) -> list[str]:
        """The stemmed content words of paper ``i``'s abstract up to its
        first sentence's end (on first use, as :meth:`_title_words`)."""
        words = self._opening_tokens.get(i)
        if words is None:
            first = _SENTENCE_END.split(self.papers[i].abstract.strip(), maxsplit=1)[0]
            words = self._opening_tokens[i] = self.stem.tokens(first)
        return words

    def phrases(self, about: str) -> list[str]:
        """:func:`phrases` of ``about`` as this day's papers write them (names,
        shared nouns), worked out once per sentence: the reasons and
        :meth:`phrase_closeness` both read them."""
        known = self._phrase_cache.get(about)
        if known is None:
            known = self._phrase_cache[about] = phrases(about, self._is_name, self._said)
        return known

    def _papers_with(self, stem: str) -> list[int]:
        """The positions of the papers that have ``stem`` (an index built on first use)."""
        if self._postings is None:
            postings: dict[str, list[int]] = {}
            for i, words in enumerate(self.token_sets):
                for w in words:
                    postings.setdefault(w, []).append(i)
            self._postings = postings
        return self._postings.get(stem, [])

    def semantic(self, query):
        """Semantic evidence (a z-score): the query's cosine with each paper's
        title and abstract, plus :data:`W_TITLE` times that with the title
        alone (a title says what the paper is about without the abstract's
        setting and results)."""
        sim = _zscores(self.centred @ query)
        if W_TITLE:
            sim = _zscores(sim + W_TITLE * _zscores(self.titles @ query))
        return sim

    def _is_name(self, word: str) -> bool:
        """Whether ``word`` is a name, to keep its capital: the day's abstracts
        write it capitalised and never in lower case ("Schrödinger", "Adam";
        not "Graph").  A word they do not use is not a name.  Only papers
        with the word's stem are read, at most :data:`NAME_EVIDENCE` of them."""
        return self._name_evidence(word)[0]

    def _in_lower_case(self, phrase: str) -> str:
        """``phrase`` of the reader's sentence as a reason names it mid-sentence:
        a capitalised word in lower case unless the day's abstracts write it
        as a name, capitalised inside a sentence and never in lower case
        (:meth:`_name_evidence`).  A reason read "close to your interest in
        Optimisation (Stochastic)" and "... and Stochastic gradient methods":
        the reader's capital ("Step sizes and Stochastic gradient methods"),
        or one the abstracts wrote only opening a sentence ("Stochastic
        gradient descent is ..."), which :func:`phrases` took for a name.
        For the reasons only: the scores read words whatever their case."""
        words = phrase.split()
        lowered = [w.lower() if w[:1].isupper() and w[1:].islower() and not self._name_evidence(w)[1] else w
                   for w in words]
        return phrase if lowered == words else " ".join(lowered)

    def _name_evidence(self, word: str) -> tuple[bool, bool]:
        """Whether the day's abstracts write ``word`` capitalised and never in
        lower case (:meth:`_is_name`), and whether they do so inside a
        sentence too (an abstract's, or a title's in sentence case), not only
        opening one (:meth:`_in_lower_case`)."""
        key = word.casefold()
        known = self._names.get(key)
        if known is None:
            stem = self.stem(key)
            pattern = re.compile(rf"(?<!\w){re.escape(key)}(?!\w)", re.IGNORECASE)
            lower = capital = within = False
            read = 0
            for i, tokens in enumerate(self.token_sets):
                if stem not in tokens:
                    continue
                abstract, title = self.papers[i].abstract, self.papers[i].title
                for m in pattern.finditer(abstract):
                    if m.group().islower():
                        lower = True
                    else:
                        capital = True
                        before = abstract[: m.start()].rstrip()
                        within = within or bool(before) and before[-1] not in ".!?:"
                # a title in sentence case ("A tutorial on Bayesian optimization") capitalises names
                # alone; one in title case ("Stochastic Gradient Methods Revisited") says nothing
                if not within and _SENTENCE_CASE.search(title):
                    within = any(not m.group().islower() and m.start() > 0 for m in pattern.finditer(title))
                read += 1
                if lower or read >= NAME_EVIDENCE:
                    break
            known = self._names[key] = (capital and not lower, within and not lower)
        return known

    def _said(self, word: str, noun: str) -> bool:
        """Whether some paper of the day (or its background) writes ``word``
        directly before ``noun`` (stems: "finite element" for "finite
        elements"); see :func:`phrases`."""
        first, second = self.stem(word.casefold()), self.stem(noun.casefold())
        # in the text itself: the stems lose the punctuation between "bounds. Measures"
        together = re.compile(rf"(?<!\w){re.escape(first)}\w*[ -]+{re.escape(second)}", re.IGNORECASE)
        return any(
            first in words and second in words and together.search(paper_text(self.papers[i]))
            for i, words in enumerate(self.token_sets)
        )

    def _idf(self, stem: str) -> float:
        return math.log((1 + len(self.papers)) / (1 + self.df.get(stem, 0)))

    @staticmethod
    def _alone(phrase: str, place: int) -> str | None:
        """The phrase's word at ``place`` if it can stand for the phrase alone:
        its noun ("unlearning" of "machine unlearning", "preconditioning" of
        "preconditioning for linear systems") or a name ("Hamiltonian"), not
        a word that qualifies one ("fewer" of "fewer sampling steps")."""
        words = phrase.split()
        head = next((k - 1 for k in range(1, len(words)) if words[k] in _NOUN_ENDS), len(words) - 1)
        word = words[place]
        return word if place == head or word[:1].isupper() else None

    @staticmethod
    def _written_part(
        phrase: str, placed: list, word_stems: list[frozenset[str]],
        written: Callable[[str, str, tuple[str, ...]], bool], beside: Callable[[str, str], bool],
    ) -> tuple[str, frozenset[str]] | None:
        """The phrase itself if the paper writes it as the phrase does (each
        two words that follow each other in it also follow each other in the
        paper, as a reader would recognise them: :func:`surface_key`, with
        nothing between them but the phrase's own joining words or an
        article), else the longest run of two or more of its words the paper
        writes so, in the phrase's words; with the stems of those words.
        None if there is no such run.  A hyphenated word is read by its
        parts, written with a hyphen or without; it is in a run only whole
        ("classifier-free guidance" writes "free guidance", not
        "training-free guidance"), and one whole is a run.  "State space of
        such models" does not write "state-space models"."""
        if not placed:
            return None
        words = phrase.split()

        def follows(k: int) -> bool:
            return written(placed[k - 1][2], placed[k][2], placed[k][3])

        def widened(first: int, last: int) -> tuple[int, int]:
            """With the words beside the run that are no content words ("methods" of "kernel
            methods") where the paper writes them there: "stochastic gradient descent" is
            no "stochastic gradient methods"."""
            while first > 0 and words[first - 1].casefold() in _STOP_NOUNS and beside(
                    surface_key(words[first - 1].casefold()), surface_key(words[first].split("-")[0].casefold())):
                first -= 1
            while last < len(words) - 1 and words[last + 1].casefold() in _STOP_NOUNS and beside(
                    surface_key(words[last].split("-")[-1].casefold()), surface_key(words[last + 1].casefold())):
                last += 1
            return first, last

        best: tuple[int, int, int] | None = None
        start = 0
        for k in range(1, len(placed) + 1):
            if k == len(placed) or not follows(k):
                first = placed[start][1] if start == 0 or placed[start - 1][1] != placed[start][1] \
                    else placed[start][1] + 1  # the run starts inside a hyphenated word: after it
                last = placed[k - 1][1] if k == len(placed) or placed[k][1] != placed[k - 1][1] \
                    else placed[k - 1][1] - 1
                if last >= first:
                    size = sum(1 for t in placed if first <= t[1] <= last)
                    first, last = widened(first, last)
                    # two words, a hyphenated one whole ("physics-informed" of "physics-informed
                    # networks"), or the phrase's one word; else its noun alone, see _reason
                    # the longest by its stems, a hyphenated word's own counted too (as the scores count them)
                    length = size + sum(1 for n in range(first, last + 1) if "-" in words[n])
                    if (last > first or size >= 2 or len(words) == 1) and (best is None or length > best[2]):
                        best = (first, last, length)
                start = k
        if best is None:
            return None
        first, last, _ = best
        stems = frozenset().union(*word_stems[first : last + 1])
        if first == 0 and last == len(words) - 1:
            return phrase, stems
        # named ending on a noun; weighed by all the words it was found by
        return reasons.part_named(phrase, " ".join(words[first : last + 1])), stems

    def _surface(self, i: int) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...], tuple[str | None, ...]]:
        """The paper's words as :func:`surface_key` keys them, on first use:
        its content words (a hyphenated word by its parts) with the joining
        words before each (:func:`keyed_words`), and all its words, stop words
        too ("methods"), with None where a mark parts them.  Kept as tuples of
        shared strings (a few kilobytes a paper); the sets :meth:`_reason`
        reads are made per call."""
        known = self._surface_keys.get(i)
        if known is None:
            keys, gaps, words = surface_words(f"{self.papers[i].title}. {self.papers[i].abstract}")
            known = self._surface_keys[i] = (tuple(keys), tuple(gaps), tuple(words))
        return known

    def _reason(self, i: int, phrase_words, liked, liked_vecs) -> reasons.Reason:
        """In words: the interest's phrases the paper shares, and the liked
        paper it is closest to when ``liked`` (the papers that raised it) is given.

        What is named is what the paper writes: the phrase, or the longest
        part of it the paper writes as one ("Bayesian optimization" of
        "Bayesian optimization of expensive black-box functions") if that part
        holds the phrase's rarest word or half its weight (each word weighted
        by its rarity among the day's papers), or, with no two of its words
        together, its noun or a name alone, if that carries half the weight
        and few papers have it (:data:`REASON_WORD_SHARE`: "Hamiltonian").  So words the
        paper has only apart ("sample" as a verb, "complexity" elsewhere) do
        not make "sample complexity" its subject; an optimiser paper on
        "large" step sizes with "language model" experiments does not share
        "large language models that reason step by step"; and a line-search
        paper with "neural" and "search" no longer reads "close to your
        interest: neural architecture search", nor one on "probability flow
        ODEs" "flow matching".

        A word counts as written only in a form a reader recognises as the
        sentence's (:func:`surface_key`), not by its stem: "transformation" is
        no "transformers", "settings" no "sets", "engineering" no "engines".
        A name the paper writes only in part loses the ends it does not write
        ("stochastic gradient methods" of a paper on "stochastic gradient
        descent" is "stochastic gradient"), and a name another one holds goes
        ("privacy" beside "differential privacy")."""
        shared = []
        tokens = self.token_sets[i]
        keys, gaps, every = self._surface(i) if any(p[1] & tokens or p[6] for p in phrase_words) else ((), (), ())

        def follows(a: str, b: str, between: tuple[str, ...]) -> bool:
            """The paper writes ``b`` right after ``a``, nothing between or ``between``."""
            return _next_to(keys, a, b, lambda k: gaps[k] == () or gaps[k] == between)

        def beside(a: str, b: str) -> bool:
            return _next_to(every, a, b)

        for phrase, stems, rarest, total, placed, word_stems, spelt in phrase_words:
            if not stems & tokens and not spelt:
                continue
            # the stems of the phrase's words the paper writes (a hyphenated one: each part)
            whole = [n for n in dict.fromkeys(t[1] for t in placed) if all(t[2] in keys for t in placed if t[1] == n)]
            common = {stem for n in whole for stem in word_stems[n] if stem in stems}
            if not common:
                continue
            written_part = self._written_part(phrase, placed, word_stems, follows, beside)
            if written_part is not None:
                part, part_stems = written_part
                weight = sum(self._idf(w) for w in part_stems)
                named = _as_written(part, every)
                if named and (rarest in part_stems or weight * 2 >= total):
                    shared.append((len(part_stems) / len(stems), weight, named, part_stems))
                    continue
            stem = max(common, key=lambda w: (self._idf(w), w))
            word = self._alone(phrase, next(n for n in sorted(whole) if stem in word_stems[n]))
            word = word and _as_written(word, every)
            if word and self._idf(stem) * 2 >= total and self.df.get(stem, 0) <= REASON_WORD_SHARE * len(self.papers):
                shared.append((1 / len(stems), self._idf(stem), word, frozenset([stem])))
        # a name of words most papers write says nothing ("learning" of "learning and simulation")
        shared = [t for t in shared if any(self._idf(w) >= PHRASE_MIN_IDF for w in t[3])]
        shared.sort(key=lambda t: (-t[0], -t[1]))
        names = _not_within(list(dict.fromkeys(t[2] for t in shared)))[:3]  # one part may stand for two phrases
        names = [lost_math_shown(n) for n in names]  # as the card shows the paper: "ℓ₂ penalties", not "ell_2 penalties"
        title = None
        if liked:
            sims = liked_vecs @ self.vectors[i]
            title = liked[int(sims.argmax())][1]
        return reasons.ranked(names, title)


#: Words a reason may name that the paper need not write: they join the words it does
#: ("convergence rates of stochastic gradient methods").  Every other word of a name,
#: "methods" and "work" too, must be the paper's.
_JOINING = (_STOP - _STOP_NOUNS) | _NOUN_ENDS


def _as_written(name: str, every: Sequence[str | None]) -> str | None:
    """``name`` as far as the paper writes it (``every``: the keys of its words):
    its ends that the paper does not write taken off, joining words left at an
    end too ("stochastic gradient methods" of a paper on "stochastic gradient
    descent" reads "stochastic gradient").  None if a word inside is not the
    paper's, or if one word is left of several (an adjective: "constrained" of
    "constrained methods"), unless it is a compound ("communication-efficient")."""
    words = name.split()

    def ours(word: str) -> bool:
        return word.casefold() in _JOINING or surface_key(word) in every or all(
            surface_key(part) in every for part in word.split("-") if part)

    def loose(word: str) -> bool:
        return word.casefold() in _JOINING or not ours(word)

    start, end = 0, len(words)
    while start < end and loose(words[start]):
        start += 1
    while end > start and loose(words[end - 1]):
        end -= 1
    kept = words[start:end]
    if not kept or not all(ours(w) for w in kept) or (len(kept) == 1 < len(words) and "-" not in kept[0]):
        return None
    return " ".join(kept)


def _not_within(names: list[str]) -> list[str]:
    """``names`` without those another one holds, word for word ("privacy"
    beside "differential privacy", "guidance" beside "classifier-free
    guidance"): the card read "differential privacy, privacy"."""
    keyed = [tuple(surface_key(w) for w in n.split()) for n in names]

    def within(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
        return len(a) < len(b) and any(b[k : k + len(a)] == a for k in range(len(b) - len(a) + 1))

    return [n for n, a in zip(names, keyed, strict=True) if not any(within(a, b) for b in keyed)]
