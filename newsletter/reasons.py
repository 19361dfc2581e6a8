"""Why a paper is in a digest: the reason as data, and the one place it is put into words.

Ranking and matching make a :class:`Reason` once per topic and paper;
``match`` (text and ``--json``) and the email (HTML and text) word it here.
Reasons used to travel as text ("close to your interest: ...; like: ...")
that the email split apart again with a pattern, so a liked paper's title
holding "; " or "close" broke the sentence."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from .latex import lost_math_shown

#: What a ranked reason says of a paper that writes no phrase of the sentence and
#: is close to no liked paper.
CLOSE_IN_MEANING = "close in meaning to your interest"
#: The same, on a card under its topic's heading, which names the topic already:
#: "Close in meaning to your interest in ML for molecules" under "ML for
#: molecules" said the heading again on each such card.
CLOSE_IN_MEANING_HERE = "close in meaning to this topic"
_CLOSE_TO = "close to your interest"


#: What an infinitive follows ("used to solve them", "how to train", "in order to plan", "want to
#: learn"): only words after which "to" opens a verb.  Not a method's or a tool's noun: "methods to
#: graphs" is a noun's "to" as often as "methods to solve" a verb's, and a noun taken for a verb was
#: lost ("Applying deep learning methods to graphs" named no graphs).
_LEADS_TO_VERB = ("used", "how", "order", "able", "aim", "aims", "want", "wants", "need", "needs", "try", "trying",
                  "tries")
#: What stands between a noun phrase and the infinitive after it ("Krylov methods used to solve").
_BEFORE_INFINITIVE = frozenset("how in order able being is are be that which i we you they".split()) | frozenset(
    _LEADS_TO_VERB)
#: What opens an object, once its verb is off ("solve the inverse problem", "learn about graphs").
_OBJECT_OPENERS = frozenset("the a an their its these those them it this about in on of for up with".split())
#: What a phrase left alone by its verb names nothing of the subject with ("ways to estimate it").
_GENERIC = frozenset("way ways method methods technique techniques tool tools algorithm algorithms".split())


def noun_phrases(about: str, found: Sequence[str]) -> list[str]:
    """The phrases ``found`` in the reader's sentence ``about`` as a reason names them: nouns,
    not what the reader does with them.  ``phrases`` cuts the sentence at its commas and
    brackets, so "(diffusion priors included) used to solve them" gave the phrase "solve" and
    a card read "close to your interest: solve".  A verb (after "used to", "how to", "want
    to"...: :data:`_LEADS_TO_VERB`) is taken out of the phrase it is in, and only that one:
    the words before it are a phrase, and so are those after it ("Krylov methods used to solve
    linear systems" -> "Krylov methods", "linear systems"; "want to learn about graph neural
    networks" -> "graph neural networks").  For the reasons only: the ranking reads the
    phrases as they are."""
    out = []
    for phrase in found:
        words = phrase.split()
        if words and _after_infinitive(about, words):
            words = _object(words[1:])
        pieces = []
        k = 1
        while k < len(words) - 1:
            if words[k].casefold() == "to" and words[k - 1].casefold() in _LEADS_TO_VERB:
                head = words[:k]
                while head and head[-1].casefold() in _BEFORE_INFINITIVE:
                    head.pop()
                pieces.append(head)
                words, k = _object(words[k + 2 :]), 1
            else:
                k += 1
        pieces.append(words)
        out += [" ".join(p) for p in map(_without_a_verb_at_the_end, pieces)
                if p and not all(w.casefold() in _GENERIC for w in p) and not _says_how(p, about)]
    return list(dict.fromkeys(out))


#: How an adverb ends ("mathematically", "efficiently", "provably"), and no noun does ("family", "anomaly").
_ADVERB = re.compile(r"(?:al|ive|ent|ant|ous|ab|ib|ful|less|ed|ing|ate|e|ic)ly$", re.I)
#: How a reader says what they are, not what they read: "I am an engineer", "I'm a physicist".
_SELF = re.compile(r"\bI(?:\s+am|['’]m)\s+an?\s+([\w-]+)", re.I)


def _without_a_verb_at_the_end(words: list[str]) -> list[str]:
    """"diffusion models work" of "Why do diffusion models work?" is "diffusion
    models": "work" after a plural is its verb (a card read "close to your
    interest: diffusion models work")."""
    if len(words) > 2 and words[-1].casefold() in ("work", "works") and words[-2].casefold().endswith("s"):
        return words[:-1]
    return words


def _says_how(words: list[str], about: str) -> bool:
    """Whether the phrase of ``words`` says how or who, not what: an adverb alone
    ("I study them mathematically": a card read "close to your interest:
    mathematically") or the reader's own trade ("I am an engineer": a paper on
    engineering read "close to your interest: engineer")."""
    if len(words) != 1:
        return False
    word = words[0].casefold()
    return _ADVERB.search(word) is not None or any(m[1].casefold() == word for m in _SELF.finditer(about))


#: Words after which a phrase's noun has come ("SDE solvers for the reverse process").
NOUN_ENDS = frozenset("for of in on with to from under via".split())


def part_named(phrase: str, part: str) -> str:
    """The ``part`` of ``phrase`` a paper writes, as a reason names it: ending
    on a noun.  A part that stops inside the group after a preposition
    ("convergence rates of stochastic" of "convergence rates of stochastic
    gradient methods": the paper writes "rates of stochastic ...", not the
    "gradient methods") is named up to that preposition, "convergence rates";
    a card read "close to your interest in convergence rates of stochastic".
    A part that ends where the phrase does, or before another preposition
    ("convergence of SGD" of "convergence of SGD with momentum"), is whole,
    and so is one already ending on its noun: a plural ("generalization bounds
    for neural networks" of "... neural networks trained with SGD" read
    "generalization bounds") or a word a participle follows ("trained", "using")."""
    words, said = phrase.split(), part.split()
    for start in range(len(words) - len(said) + 1):
        if words[start:start + len(said)] == said:
            break
    else:
        return part
    after = start + len(said)
    if after == len(words) or words[after].casefold() in NOUN_ENDS:
        return part
    last, following = said[-1].casefold(), words[after].casefold()
    if last.endswith("s") and not last.endswith("ss") or following.endswith(("ed", "ing")):
        return part
    cut = max((k for k in range(1, len(said)) if said[k].casefold() in NOUN_ENDS), default=None)
    return " ".join(said[:cut]) if cut is not None else part


def _after_infinitive(about: str, words: Sequence[str]) -> bool:
    """Whether the phrase of ``words`` opens with a verb: ``about`` writes it after "how to" and
    the like ("train large models" of "how to train large models"), this phrase and not
    another that holds the same word ("(to robotics), robotics benchmarks")."""
    written = r"[\s-]+".join(re.escape(w) for w in words[:2])
    leads = "|".join(_LEADS_TO_VERB)
    return re.search(rf"\b(?:{leads})\s+to\s+{written}(?!\w)", about, re.IGNORECASE) is not None


def _object(words: Sequence[str]) -> list[str]:
    """The words after a verb without what opens them ("the inverse problem" -> "inverse problem"),
    nor another verb joined to it ("how to accelerate or parallelize them": "or parallelize" was
    a card's reason)."""
    words = list(words)
    while words and words[0].casefold() in _OBJECT_OPENERS:
        words.pop(0)
    if len(words) >= 2 and words[0].casefold() in ("or", "and"):
        return _object(words[2:])
    return words


@dataclass(frozen=True, slots=True)
class Reason:
    """One topic's reason for taking a paper.

    ``kind`` is who decided: ``"ranked"`` (an ``about``/``like`` topic's
    relevance, which names the sentence's ``phrases`` the paper writes and
    the ``liked`` paper that raised it, if any) or ``"rules"`` (a keyword
    topic, which names the ``words`` its terms matched, as the paper writes
    them: "convex", "Ana Müller", never the rule ``optimi*``)."""

    kind: Literal["ranked", "rules"]
    phrases: tuple[str, ...] = ()
    liked: str | None = None
    words: tuple[str, ...] = ()

    @property
    def ranked(self) -> bool:
        return self.kind == "ranked"

    @property
    def in_meaning_only(self) -> bool:
        """A ranked reason with nothing to name: the sentence fits, no phrase of it is written."""
        return self.ranked and not self.phrases and self.liked is None

    def to_json(self) -> dict:
        return {"kind": self.kind, "phrases": list(self.phrases), "liked": self.liked, "words": list(self.words)}


def ranked(phrases: Sequence[str] = (), liked: str | None = None) -> Reason:
    return Reason("ranked", tuple(phrases), liked)


def rules(words: Iterable[str]) -> Reason:
    """The matched texts, each once whatever its case ("Convex" in the title and
    "convex" in the abstract are one reason), as first given."""
    found: dict[str, str] = {}
    for text in words:
        found.setdefault(text.casefold(), text)
    return Reason("rules", words=tuple(found.values()))


def said(reasons: Sequence[Reason | None]) -> str:
    """The reasons of a paper's topics as ``match`` and ``match --json``'s
    ``reason`` give them: the ranked topics' ("close to your interest:
    score matching; similar to a paper you liked, “<title>”", each reason
    once), else the rules' matched words ("matched: convex, SGD"), else "".
    A liked paper is worded as the email words it: "like: <title>" in
    ``match`` read as the config's key, and the email said it otherwise."""
    given = [r for r in reasons if r is not None]
    by_rank = [r for r in dict.fromkeys(given) if r.ranked]
    if by_rank:
        return "; ".join(dict.fromkeys(_said(r) for r in by_rank))
    merged = rules(w for r in given for w in r.words)
    return "matched: " + ", ".join(merged.words) if merged.words else ""


def for_reader(reasons: Sequence[Reason | None], topic_name: Callable[[str], str] | None = None,
               topics: Sequence[str] = (), *, here: bool = False) -> str:
    """The reason the email gives under a paper, in a sentence: "close to
    your interest in score matching and SDEs", a liked paper as "similar to
    a paper you liked, “<title>”" (not the config's ``like:``).  A paper two
    ranked topics found has a reason from each, and each says which
    interest it speaks for: "close to your interests in Optimisation (step
    sizes) and LLM reasoning (chain of thought)"; topics giving the same
    reason are named together ("close in meaning to your interests in
    Interpretability and LLM reasoning").  ``topics`` (aligned with
    ``reasons``, the card's own first) and ``topic_name`` name them.  A card
    under a keyword topic gives none here: its words are its own topic's,
    and a ranked topic that also found it says so after "also in"
    (:func:`found_words`); "Close to your interest: diffusion models" under
    the heading "Diffusion models", then "also in Generative modelling", gave
    the one topic's reason as the other's.  A reason with nothing to name
    names its topic: "close in meaning to your interest in Generative
    modelling" ("Why: Close in meaning to your interest" stopped short); said
    ``here``, under the heading of the card's topic, which names it, the
    card's topic's alone points at the heading instead: "close in meaning to
    this topic" ("... to your interest in ML for molecules" under the heading
    "ML for molecules" said its name again on each card), while a flat list
    of papers (a template of one's own over ``all_papers``) keeps the name.
    So does its part of a reason that names other topics too: "similar to a
    paper you liked for Like my bridges paper, “…”" under the heading "Like
    my bridges paper" reads "similar to a paper you liked, “…”" (see
    :func:`_for_topics`)."""
    if topics and not under_ranked(reasons):
        return ""
    given = [(t, r) for t, r in zip(topics, reasons, strict=False) if r is not None and r.ranked]
    alone_in_meaning = len(given) == 1 and given[0][1].in_meaning_only
    if here and topics and alone_in_meaning:
        return CLOSE_IN_MEANING_HERE
    if topic_name is not None and (len(given) > 1 or alone_in_meaning):
        return _for_topics([(topic_name(t), r) for t, r in given], here=here and bool(topics))
    return "; ".join(dict.fromkeys(_sentence(r) for r in reasons if r is not None and r.ranked))


def under_ranked(reasons: Sequence[Reason | None]) -> bool:
    """The card stands under a ranked topic (its own, first, reason is one):
    :func:`for_reader` then names every ranked topic, and ``also_in`` none."""
    return bool(reasons) and reasons[0] is not None and reasons[0].ranked


def found_words(r: Reason) -> list[str]:
    """What a ranked topic found, as "also in Generative modelling (...)" gives
    it: its phrases, and its liked paper as "similar to “<title>”" (in
    parentheses after a list of phrases, "similar to a paper you liked,
    “...”" read as a sentence inside a list)."""
    return [*r.phrases, *([f"similar to \u201c{title_shown(r.liked)}\u201d"] if r.liked is not None else [])]


def _sentence(r: Reason) -> str:
    """One ranked reason alone, as the email says it."""
    out = [f"{_CLOSE_TO} in {listed(r.phrases)}"] if r.phrases else []
    if r.liked is not None:
        out.append(liked_in_words(r.liked))
    return "; ".join(out) or CLOSE_IN_MEANING


#: What a section says once, over cards that are each here for one paper the
#: topic likes, not the same one (each card then names its own, "closest to “…”").
SIMILAR_TO_LIKED = "similar to papers you liked"


def liked_in_words(title: str, topics: str = "") -> str:
    return f"similar to a paper you liked{' for ' + topics if topics else ''}, \u201c{title_shown(title)}\u201d"


#: How long a liked paper's title may be where a reason names it: the line under a card
#: read a title of 135 characters after the card's own.
LIKED_TITLE_CHARS = 80
#: A longer one with no short name before a colon or a dash is whole up to this, else cut
#: at a word ("... Graph Neural Networks with FROND" kept its name).
LIKED_TITLE_MOST = 100
#: Where a title's short name ends: "SGD with AdaGrad Stepsizes: Full Adaptivity ...",
#: "... structural mechanics -- application to ..." (an export keeps LaTeX's dash).
_TITLE_HEAD = re.compile(r":\s|\s(?:--|[\u2013\u2014])\s")


def title_shown(title: str) -> str:
    """A liked paper's title as a reason names it: as the email shows a title
    ("Certified ℓ₂ Attribution Robustness", not the export's "ell_2"; its
    dashes, on one line) and, when long, by its part before a colon or a dash
    ("SGD with AdaGrad Stepsizes"), else whole up to :data:`LIKED_TITLE_MOST`
    characters, else cut at a word with "…"."""
    shown = " ".join(lost_math_shown(title).split())
    if len(shown) <= LIKED_TITLE_CHARS:
        return shown
    head = _TITLE_HEAD.split(shown, maxsplit=1)[0].rstrip()
    if len(head) < len(shown) and len(head) <= LIKED_TITLE_MOST or len(shown) <= LIKED_TITLE_MOST:
        return head
    return shown[:LIKED_TITLE_MOST].rsplit(" ", 1)[0].rstrip(",;:-\u2013\u2014 ") + "\u2026"


def _said(r: Reason) -> str:
    """One ranked reason alone, as ``match`` gives it: its phrases (a list a
    script can split at ", "), its liked paper in the email's words, or that
    it is close in meaning."""
    out = []
    if r.phrases:
        out.append(f"{_CLOSE_TO}: " + ", ".join(r.phrases))
    if r.liked is not None:
        out.append(liked_in_words(r.liked))
    return "; ".join(out) or CLOSE_IN_MEANING


def _for_topics(given: Sequence[tuple[str, Reason]], *, here: bool = False) -> str:
    """The reasons of several topics (``(topic's name, reason)``) as one
    sentence naming each topic: those close to phrases of theirs with the
    phrases in parentheses after each name, those close in meaning, and each
    liked paper ("similar to a paper you liked for Optimisation, “...”"), in
    the order the topics give them (the card's own topic first).  ``here``:
    said under the heading of the card's own topic (the first), which is not
    named again: what it alone gives is said as for one topic ("close to your
    interest in step sizes", "similar to a paper you liked, “...”", "close in
    meaning to this topic"), and beside other topics it is "this topic"."""
    own = given[0][0] if here and given else None

    def shown(names: Sequence[str]) -> str:
        return listed(["this topic" if name == own else name for name in names])

    close: dict[str, list[str]] = {}  # topic -> the phrases it is close to
    meaning: list[str] = []  # topics close in meaning
    liked: dict[str, list[str]] = {}  # a liked paper's title -> its topics
    order: dict[tuple[str, str], None] = {}  # the kinds of reason, as first given
    for name, r in given:
        if r.phrases:
            close.setdefault(name, []).extend(r.phrases)
            order.setdefault(("close", ""))
        if r.liked is not None:
            liked.setdefault(r.liked, []).append(name)
            order.setdefault(("liked", r.liked))
        if r.in_meaning_only:
            meaning.append(name)
            order.setdefault(("meaning", ""))
    out = []
    for kind, title in order:
        if kind == "close":
            if own is not None and list(close) == [own]:
                out.append(f"{_CLOSE_TO} in {listed(close[own])}")
                continue
            by_phrases: dict[str, list[str]] = {}  # topics close to the same phrases are named together
            for name, phrases in close.items():
                by_phrases.setdefault(", ".join(phrases), []).append(name)
            topics = [f"{shown(names)} ({phrases})" for phrases, names in by_phrases.items()]
            out.append(f"{_CLOSE_TO}{'s' if len(close) > 1 else ''} in {listed(topics)}")
        elif kind == "meaning":
            if own is not None and meaning == [own]:
                out.append(CLOSE_IN_MEANING_HERE)
                continue
            out.append(f"{CLOSE_IN_MEANING}{'s' if len(meaning) > 1 else ''} in {shown(meaning)}")
        else:
            out.append(liked_in_words(title, "" if own is not None and liked[title] == [own] else shown(liked[title])))
    return "; ".join(out)


def listed(names: Sequence[str]) -> str:
    """"A", "A and B", "A, B and C", as a sentence names them."""
    return f"{', '.join(names[:-1])} and {names[-1]}" if len(names) > 1 else names[0]
