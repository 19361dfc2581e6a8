"""Render stage: one subscriber's matched papers -> subject, inlined HTML, plain text.

Templates are looked up in the config's ``templates:`` folder first, then in
the package defaults (the repository's ``templates/``); a missing template
names every place searched.  Autoescaping is on for HTML, and every piece of
paper text reaches the template either as plain text (escaped there) or as
:class:`markupsafe.Markup` built here from escaped pieces (highlighting).

``preview`` and ``send`` both call :meth:`Composer.compose`, so what you
preview is byte for byte what is sent.
"""

from __future__ import annotations

import codecs
import dataclasses
import difflib
import functools
import hashlib
import itertools
import logging
import os
import re
import secrets
import textwrap
import threading
import traceback
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import cast
from urllib.parse import quote_plus
from zoneinfo import ZoneInfo

import jinja2
import jinja2.bccache
import jinja2.sandbox
from markupsafe import Markup, escape

from .config import TEMPLATE_NAMES, Config, Subscriber
from .errors import NewsletterError, Problem, TemplateError, counted, line_of
from .files import own_private
from .latex import LINK_LIKE, greek_named, in_link, lost_math_shown, own_name_shown
from .matching import (
    REASON_CHARS,
    REGEX_TIMEOUT,
    WORD,
    PaperMatch,
    in_terms_case,
    is_long_match,
    is_regex_term,
    other_number,
    reason_match,
    rules_reason,
)
from .messages import EncodedBody, MessageWriter, new_message_id, parse_message, unsubscribe_url
from .models import NAME_SUFFIX, first_last, web_url
from .patterns import lazy
from .reasons import (
    SIMILAR_TO_LIKED,
    for_reader,
    found_words,
    liked_in_words,
    listed,
    ranked,
    title_shown,
    under_ranked,
)

log = logging.getLogger(__name__)

HTML_TEMPLATE = "digest.html"
#: The fewest papers a digest lists in a contents list at its top.  Below it the
#: list repeated the first screen: the preheader names the first three titles,
#: and two or three cards scroll past faster than a list of them is read.
CONTENTS_MIN = 4
TEXT_TEMPLATE = "digest.txt"


def default_templates_dir() -> Path:
    """The package's own templates: installed beside the package as
    ``default_templates``, or the repository's ``templates/`` in a checkout."""
    here = Path(__file__).resolve().parent
    installed = here / "default_templates"
    return installed if installed.is_dir() else here.parent / "templates"


def template_dirs(config: Config) -> list[Path]:
    dirs = [config.templates_dir] if config.templates_dir else []
    return dirs + [default_templates_dir()]


def templates_gone(config: Config) -> Problem | None:
    """The configured ``templates:`` folder no longer there, or holding none
    of the templates, since the config was read (removed or emptied while
    ``run`` runs, a volume unmounted), at its line; None while it is there.
    The loader went on with the package's defaults: the digests went out
    in another design, and nothing said so."""
    folder = config.templates_dir
    if folder is None:
        return None
    if not folder.is_dir():
        why = "no such folder now"
    elif not any((folder / name).is_file() for name in TEMPLATE_NAMES):
        why = f"holds none of {', '.join(TEMPLATE_NAMES)} now"
    else:
        return None
    return config.problem(("templates",), f"{config.templates!r}: {why} (it had them when the config was read); "
                                          "restore it, or drop `templates:` for the defaults: nothing sent")


@dataclass(frozen=True)
class Composed:
    """One finished email, and the parts it was made of (for preview and the state).

    ``html`` (the HTML part exactly as sent, after CSS inlining) and ``text``
    are made on first use: sending needs only ``data``.
    """

    data: bytes  # the message exactly as sent over SMTP (RFC 5322, CRLF line ends)
    subject: str
    message_id: str
    paper_ids: tuple[str, ...]
    parts: Callable[[], tuple[str, str]] = field(repr=False, compare=False)  # () -> (html, text)
    warnings: tuple[str, ...] = ()
    dot_safe: bool = False  # no line of ``data`` starts with a dot (see Envelope.dot_safe)

    @functools.cached_property
    def html(self) -> str:
        return self.parts()[0]

    @functools.cached_property
    def text(self) -> str:
        return self.parts()[1]

    @functools.cached_property
    def message(self) -> EmailMessage:
        """``data`` parsed back."""
        return parse_message(self.data)


def _given(parts: tuple[str, str]) -> Callable[[], tuple[str, str]]:
    return lambda: parts


#: A sentence's end: its stop, then a space and what may begin a sentence (not "0.5", not "e.g., a"),
#: or a stop of Chinese and Japanese, which takes no space.
_SENTENCE_END = re.compile(r"[.!?](?=\s+[\"“‘(\[]?[A-Z0-9\u0370-\u03ff])|[。！？]")
#: Words a stop follows inside a sentence ("et al. (2021)", "Fig. 3", "cf. Smith", "Sect. 4", "Mt. Everest").
_ABBREVIATIONS = frozenset({
    "al", "e.g", "i.e", "cf", "vs", "etc", "fig", "figs", "eq", "eqs", "sec", "secs", "ref", "refs", "thm", "lem",
    "def", "prop", "tab", "ch", "vol", "no", "pp", "ca", "approx", "resp", "viz", "dr", "prof", "mr", "ms", "st",
    "sect", "sects", "eqn", "eqns", "app", "appx", "suppl", "chap", "jr", "sr", "mt", "col", "nos", "ex", "exp",
    "alg", "cor", "vols", "mrs", "esp", "incl", "corr", "defn", "lemm", "props", "thms", "tabs", "algs",
})
#: A word with a dot between letters ("Ph.D", "U.S", "e.g"): an abbreviation, whichever it is.
_DOTTED = re.compile(r"[^\W\d_]\.[^\W\d_]")
#: The longest capitalised word read as an abbreviation when a number follows its stop ("Lemma. 2" is not
#: one, "Thm. 2" and "Sect. 4" are): a sentence seldom ends on a short capitalised word before a number.
_NUMBERED_CHARS = 5


def _ends_sentence(head: str, end: re.Match) -> bool:
    """Whether the stop ``end`` found in ``head`` ends a sentence: a stop
    after an abbreviation does not, as "Our results in Sect. 4 show …" ended
    a card at "Sect." and "Ph.D. Students" at "Ph.D."."""
    if end.group() != ".":
        return True
    word = head[:end.start()].rsplit(" ", 1)[-1].lstrip("([“\"")
    if (len(word) <= 1 and not word.isdigit()) or word.casefold() in _ABBREVIATIONS or _DOTTED.search(word):
        return False
    numbered = head[end.end():].lstrip()[:1].isdigit()
    return not (numbered and word[:1].isupper() and word.isalpha() and len(word) <= _NUMBERED_CHARS)
#: The least of ``limit`` a cut at a sentence's end keeps; under it the cut is at a word.
SENTENCE_KEEPS = 0.6


@functools.lru_cache(maxsize=8192)
def trim(text: str, limit: int) -> str:
    """At most ``limit`` characters (0: no limit), cut at the end of a
    sentence where one ends in the last part of them, else at a word, with
    "…" after it: an abstract cut at its 600th character ended mid-clause,
    "… based on two simple modifications to…", where the sentence before
    it made a whole thought.  The "…" after a sentence follows a no-break
    space: a card on a phone showed it alone on the abstract's last line."""
    text = " ".join(text.split())
    if not limit or len(text) <= limit:
        return text
    head = text[:limit]
    for end in reversed(list(_SENTENCE_END.finditer(head, int(limit * SENTENCE_KEEPS)))):
        if _ends_sentence(head, end):
            return head[:end.end()] + ("…" if end.group() in "。！？" else "\u00a0…")
    cut = head.rsplit(" ", 1)[0].rstrip(",;:.")
    return cut + "…"


#: The space before a relation, an operator or a dash set off by spaces (``U ∈ R``, ``a + b``, ``x - y``).
_SPACE_BEFORE_OPERATOR = re.compile(r"(?<=\S) (?=[=<>≤≥≠≈≜≡∼≃≅∝∈∉⊆⊂⊇⊃→←↔⇒⇐⇔↦≪≫+\-−±×·–—] )")


def unbroken_before_operators(text: str) -> str:
    """``text`` with a no-break space before each relation or operator set
    off by spaces: a narrow screen (or a text client) breaks the line after
    ``U ∈``, as typesetting does, never between ``U`` and ``∈ R``, which
    left a line starting with the relation, away from what it relates."""
    return _SPACE_BEFORE_OPERATOR.sub("\u00a0", text) if " " in text else text


def highlight(text: str, patterns: Sequence[re.Pattern]) -> Markup:
    """``text`` escaped, with every match of ``patterns`` wrapped in ``<mark>``.

    Escaping happens piece by piece around the marks, so a match can never
    split an entity or let markup from the text through.  A long match (a
    greedy ``/explain.*predictions/``) marks only its first and last words
    (:func:`_marked_spans`), and each pattern marks at most :data:`MAX_MARKS`
    places: highlighting shows the words, never a paragraph.  Nothing in a
    link or an address is marked: its text must stay whole, as written."""
    return _highlight(text, tuple(patterns))


#: Marks per term in one text: a common word ("the") must not paint every line.
#: A match longer than :data:`matching.REASON_CHARS` (or its words) is marked at its ends only.
MAX_MARKS = 3


#: How far a match cut inside a word is widened to the word's ends; further
#: (text without spaces, as in Chinese or Japanese) it is left as it matched.
WIDEN_CHARS = 24


def whole_words(text: str, start: int, end: int) -> tuple[int, int]:
    """The span ``text[start:end]`` widened to whole words where a match cuts
    one: ``/explain\\w*\\W+(?:\\w+\\W+){0,3}?predict/`` finds "explain their
    predict" in "explain their predictions", and the reader must see (and
    have marked) "predictions", not a word cut in two.  Whole-word terms are
    unchanged."""
    s = start
    if start < end and text[start].isalnum():
        while s > 0 and text[s - 1].isalnum() and start - s < WIDEN_CHARS:
            s -= 1
        if s > 0 and text[s - 1].isalnum():
            s = start
    e = end
    if start < end and text[end - 1].isalnum():
        while e < len(text) and text[e].isalnum() and e - end < WIDEN_CHARS:
            e += 1
        if e < len(text) and text[e].isalnum():
            e = end
    return s, e


#: Words ending in s whose form without it is another word ("new", "mean"), not their singular.
_NO_SINGULAR = frozenset({"news", "means", "series", "species", "lens", "always", "perhaps", "whereas", "thus",
                          "bayes", "gas", "chaos", "atlas", "canvas"})


@functools.lru_cache(maxsize=4096)
def number_forms(word: str) -> tuple[str, ...]:
    """``word`` and its other grammatical number as a paper may write it,
    longest first: ``model``/``models``, ``policy``/``policies``,
    ``process``/``processes``, ``analysis``/``analyses``, ``bias``/``biases``;
    a word that is its own plural or names a field (``Bayes``, ``dynamics``,
    ``news``) keeps its s, so "dynamic programming" and "new" are not taken for it.
    Dropping a final s by rule made "bias" miss "biases", "analysis" miss
    "analyses", "Gaussian processes" miss "Gaussian process", "biases" and
    "gases" miss "bias" and "gas", and "news" mark "new"."""
    low = word.casefold()
    forms = {word}
    # biases, aliases, gases, atlases: the singular drops "es" (the plain -s rule made "biase", "gase", so
    # 'social biases' missed "social bias"); only for a singular known to end in s, as "cases" is "case"
    s_plural = low.endswith("ses") and (low[:-2].endswith("ias") or low[:-2] in _NO_SINGULAR)
    if s_plural:
        forms.add(word[:-2])
    elif low not in _NO_SINGULAR and not low.endswith("ias") and (other := other_number(word)):
        forms.add(other)
    if low.endswith("is") and len(low) > 3:  # analysis, hypothesis: analyses, hypotheses
        forms.add(word[:-2] + "es")
    elif low.endswith("yses") or low.endswith("theses"):
        forms.add(word[:-2] + "is")
    elif re.search(r"[ao]s$|ias$", low):  # bias, atlas, gas: biases, atlases, gases
        forms.add(word + "es")
    return tuple(sorted(forms, key=lambda f: (-len(f), f)))


def same_but_number(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` are one phrase but for the number of its last
    word (a topic "Gaussian processes" and its found "Gaussian process")."""
    a, b = " ".join(a.casefold().split()), " ".join(b.casefold().split())
    if a == b:
        return True
    head_a, _, last_a = a.rpartition(" ")
    head_b, _, last_b = b.rpartition(" ")
    return head_a == head_b and (last_b in number_forms(last_a) or last_a in number_forms(last_b))


@functools.lru_cache(maxsize=4096)
def phrase_pattern(phrase: str) -> re.Pattern:
    """A phrase a ranked topic's reason names ("close to your interest in
    Schrödinger bridges") as the paper may write it, to mark it as a keyword
    topic's terms are: any case, its words apart by spaces or hyphens, the
    last one singular or plural (:func:`number_forms`: "Schrödinger Bridge",
    "score based", "biases" for "bias").  A ranked card marked nothing, and
    the reader looked for the words the reason named."""
    words = [w for w in re.split(r"[\s\-\u2010\u2011]+", phrase) if w] or [phrase]
    last = "(?:" + "|".join(re.escape(f) for f in number_forms(words[-1])) + ")"
    parts = [re.escape(w) for w in words[:-1]] + [last]
    return re.compile(r"(?<!\w)" + r"[\s\-\u2010\u2011]+".join(parts) + r"(?!\w)", re.IGNORECASE)


def _marked_spans(text: str, start: int, end: int, whole: bool = False) -> list[tuple[int, int]]:
    """``[(start, end)]`` for a short match, or a word or phrase term's
    (``whole``: the reader's own phrase, however long); a long ``/regex/``
    match's first and last words."""
    start, end = whole_words(text, start, end)
    if whole or not is_long_match(text[start:end]):
        return [(start, end)]
    words = list(WORD.finditer(text, start, end))
    if not words:
        return []
    first, last = words[0], words[-1]
    if first is last:
        return [(first.start(), min(first.end(), first.start() + REASON_CHARS))]
    return [(first.start(), first.end()), (last.start(), last.end())]


@functools.lru_cache(maxsize=8192)
def _highlight(text: str, patterns: tuple[re.Pattern, ...]) -> Markup:
    spans = sorted(
        span
        for p in patterns
        # never in a link: a mark would split it, and scripts_raised's check of it
        for m in [m for m in _finditer(p, text) if m.end() > m.start() and not in_link(text, m.start(), m.end())][
            :MAX_MARKS]
        for span in _marked_spans(text, m.start(), m.end(), isinstance(p, re.Pattern))
    )
    merged: list[list[int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out, pos = [], 0
    for start, end in merged:
        out.append(scripts_raised(text[pos:start]))
        out.append(Markup("<mark>") + scripts_raised(text[start:end]) + Markup("</mark>"))
        pos = end
    out.append(scripts_raised(text[pos:]))
    return Markup("").join(out)


#: A script the text could not write in Unicode characters (:mod:`latex` leaves
#: ``v_θ``, ``L(θ_T)``, ``d^(1/4)``, ``L_(DPO)``): a group in parentheses after
#: a letter, a digit, a bracket or a big operator (``∑_(⟨i,j⟩)``), which may hold
#: one level of parentheses of its own (``inf_(γ ∈ Π(μ,ν))``, ``2^(Õ(k/ε))``), or
#: one character after a lone letter, a Greek letter, a bracket, a big operator or
#: an operator's name (``min_T``; never inside a word: ``snake_case``, ``GPT_4`` stay),
#: or a short name under a Greek letter (``ε_DP``, ``θ_ref``: an export's ``varepsilon_DP``);
#: a lone letter's superscript may come first (``Mᶜ_ρ``, ``x²_i``).
_RAW_SCRIPT = lazy(
    r"(?P<base>[\w)\]‖|∑∏∫∮⋃⋂⊕⊗⨁⨂⋁⋀∼=≈→←∇∂])(?P<op>[_^])\((?P<group>[^()\s](?:[^()]|\([^()]{0,30}\)){0,30})\)"
    r"|(?P<base1>(?<!\w)[^\W\d_]|[α-ωΑ-Ωϑϕϵℓ)\]‖|∑∏∫⋃⋂⊕⊗∇∂]|(?<![A-Za-z])(?:min|max|sup|inf|lim)"
    r"|(?<=(?<!\w)[^\W\d_])[\u1d2c-\u1d6a\u1d9c-\u1dbf\u2070-\u207f¹²³])"
    r"(?P<op1>[_^])(?P<one>[^\W_]|[∞⊙★⋆∗*†]|(?<=[α-ωΑ-Ωϑϕϵ]_)[A-Za-z0-9]{2,4})(?!\w)"
)


def scripts_raised(text: str) -> Markup:
    """``text`` escaped, with the scripts :data:`_RAW_SCRIPT` finds set as
    ``<sub>``/``<sup>``: "θ_T" read as LaTeX source in the HTML part (the
    text part keeps the underscore, as plain text writes it).  Not in a link
    or an address (``github.com/a_b``): its characters must stay as they are."""
    if "_" not in text and "^" not in text:
        return escape(text)
    out, pos = [], 0
    for m in _RAW_SCRIPT.finditer(text):
        before = text.rfind(" ", 0, m.start()) + 1
        after = text.find(" ", m.end())
        if LINK_LIKE.search(text, before, len(text) if after < 0 else after):
            continue
        op, script = (m["op"], m["group"]) if m["op"] else (m["op1"], m["one"])
        tag = "sub" if op == "_" else "sup"
        # a script's own script (``𝔼_(x ∼ p_(data))``) is set as one too
        out += [escape(text[pos:m.start()]), escape(m["base"] or m["base1"]),
                Markup(f"<{tag}>") + scripts_raised(script) + Markup(f"</{tag}>")]
        pos = m.end()
    out.append(escape(text[pos:]))
    return Markup("").join(out)


def _found_in(m: PaperMatch, field: str) -> tuple[str, ...]:
    """What ``m``'s terms found in ``field``, as the paper wrote it, and that
    holds a Greek letter's name (the words :func:`lost_math_shown` keeps)."""
    return greek_named(tuple(dict.fromkeys(h.text for h in m.hits if h.field == field)))


def _finditer(pattern, text: str) -> list:
    """Matches of a term's pattern; a user's /regex/ gets the matcher's time
    limit (no highlight rather than a hung send)."""
    if not isinstance(pattern, re.Pattern):  # a regex.Pattern: a user's /regex/
        try:
            return list(pattern.finditer(text, timeout=REGEX_TIMEOUT))
        except TimeoutError:
            return []
    return list(pattern.finditer(text))


def paper_link(paper) -> str:
    """Where a paper's title links: its own (http/https) URL, else its arXiv
    page, else a title search -- never a ``javascript:`` or ``data:`` URL."""
    url = web_url(paper.url)
    if url:
        return url
    if paper.arxiv_id:
        return f"https://arxiv.org/abs/{quote_plus(paper.arxiv_id, safe='/.')}"
    return _search_link(paper.title)


#: A repository named in an arXiv comment or an abstract.
_CODE = re.compile(
    r"(?:https?://)?(?:www\.)?(?P<host>github\.com|gitlab\.com|huggingface\.co)"
    r"/(?P<path>(?:(?:spaces|datasets)/)?[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)",
    re.IGNORECASE,
)
_CODE_HOSTS = {"github.com": "GitHub", "gitlab.com": "GitLab", "huggingface.co": "Hugging Face"}


@functools.lru_cache(maxsize=16384)
def _code_in(text: str) -> tuple[str, str] | None:
    # Most texts name no such host, and the pattern, blind to case, cannot
    # start from a letter it looks for: tried at every character, it took
    # 0.14 ms an abstract (6 ms of a send's first cards).
    lowered = text.lower()
    if all(host not in lowered for host in _CODE_HOSTS):
        return None
    for m in _CODE.finditer(text):
        host = m.group("host").lower()
        if host not in _CODE_HOSTS:  # 'gıthub.com': a dotless ı matches i, blind to case (a KeyError)
            continue
        path = m.group("path").rstrip(".-_")
        if host == "huggingface.co" and path.split("/")[0] in ("papers", "blog", "docs"):
            continue  # a paper page or an article, not a repository
        return f"https://{host}/{path.removesuffix('.git')}", _CODE_HOSTS[host]
    return None


def code_link(paper) -> tuple[str, str] | None:
    """``(url, host name)`` of the paper's code: the repository Hugging Face
    lists, else the first GitHub, GitLab or Hugging Face repository its arXiv
    comment or its abstract names; None when none is known."""
    if paper.github:
        found = _code_in(paper.github)
        return paper.github, found[1] if found else ""
    for text in (paper.comment, paper.abstract):
        found = _code_in(text) if text else None
        if found:
            return found
    return None


#: A letter of a script written right to left (Hebrew, Arabic, Syriac, Thaana, N'Ko and their presentation forms).
_RIGHT_TO_LEFT = re.compile("[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefe\U00010800-\U00010fff\U0001e800-\U0001efff]")


def isolated(name: str) -> str:
    """``name`` between Unicode's first-strong isolate and its pop
    (U+2068, U+2069) where it holds a right-to-left letter: two Arabic names
    in a row, ``محمد الأحمد, علي حسن, Ana``, read as one right-to-left run,
    showed the second author first and the comma between them on the wrong
    side.  Invisible; a name in a left-to-right script is left as it is."""
    return f"\u2068{name}\u2069" if _RIGHT_TO_LEFT.search(name) else name


def short_authors(authors: Sequence[str], keep: int = 3, most: int = 4) -> str:
    """``A, B, C, D``, or ``A, B, C, … and 9 more`` past ``most`` names;
    each right-to-left name isolated (:func:`isolated`).  "… and 9 more" is
    held together by no-break spaces: on a phone it broke as "… and 9" at a
    line's end and "more" alone on the next (and so in the text part)."""
    if len(authors) <= most:
        return ", ".join(map(isolated, authors))
    return ", ".join(map(isolated, authors[:keep])) + f", …\u00a0and\u00a0{len(authors) - keep}\u00a0more"


def anchor_for(paper_id: str, kind: str = "paper") -> str:
    """The card's in-page anchor (or a topic's section's, ``kind="topic"``):
    stable across digests (cards are shared between subscribers), unique
    per paper id, and short: each is written twice per paper (the card's
    name, the contents' link), and the paper's id or title spelt out in it
    was 5 KB of a 60-paper digest, which Gmail clips at 102 KB."""
    return f"{kind}-{hashlib.blake2s(paper_id.encode('utf-8'), digest_size=4).hexdigest()}"


def reason_words(hits, texts: Mapping[str, str] | None = None,
                 shown: Callable[[object], str | None] | None = None) -> list[str]:
    """What made the paper match, as the paper writes it: the matched text
    (``optimization``, ``Schrödinger``), never the rule (``optimi*``,
    ``/.../``).  One per term, from its first hit (the title's when it
    matched there); a long regex match shows as its first and last words, a
    category as ``in cs.LG``, an author as ``by Ana Müller``;
    case-insensitive duplicates are dropped.  With the fields' ``texts``, a
    match cut inside a word names the whole word (:func:`whole_words`).
    ``shown(hit)``: the hit's match in the text the card shows, where it
    differs (a greedy regex ran on past the trimmed abstract)."""
    words: dict[str, str] = {}
    seen_terms: set[str] = set()
    for h in hits:
        text = (shown(h) if shown else None) or h.text
        field_text = texts.get(h.field, "") if texts else ""
        at = _found_at(field_text, text) if text else -1
        if at >= 0:
            text = field_text[slice(*whole_words(field_text, at, at + len(text)))]
        text = " ".join(text.split())
        if not text or h.term in seen_terms:
            continue
        seen_terms.add(h.term)
        if h.field == "categories":
            text = f"in {text}"
        elif h.field == "authors":
            text = f"by {text}"
        else:
            text = reason_match(in_terms_case(text, h.term), h.term)
        words.setdefault(text.casefold(), text)
    return list(words.values())




def _found_at(text: str, found: str) -> int:
    """Where the matched ``found`` stands in ``text``: its first place as a
    whole word, else its first place.  The hit holds the matched text, not its
    place: "Diffusion" matched in "AutoDiffusion: ... Automated Diffusion
    Model" was looked up inside "AutoDiffusion", widened to that word, and
    the reader was told the paper is here for "AutoDiffusion"."""
    first = at = text.find(found)
    while at >= 0:
        if whole_words(text, at, at + len(found)) == (at, at + len(found)):
            return at
        at = text.find(found, at + 1)
    return first


@functools.lru_cache(maxsize=16384)
def _search_link(title: str) -> str:
    return f"https://arxiv.org/search/?query={quote_plus(title)}&searchtype=title"


#: Cards kept for reuse across subscribers (cleared when full).
CARD_CACHE = 50_000


@dataclass(frozen=True, slots=True)
class Card:
    """One paper in a digest, as the templates see it (``p.title``, ``p.abstract_html``...).

    An object rather than a dict because Jinja tries attribute access first;
    ``p["title"]`` works too."""

    paper: object
    title: str
    title_html: Markup
    contents_html: Markup  # the title as the contents list shows it: no marks, a formula's scripts set as such
    url: str  # the title's link: the abstract page, else a search for the title
    url_label: str  # what that link is: "Abstract", or "Search arXiv" when no page is known
    anchor: str  # the card's id, for the contents list
    authors: list
    authors_text: str  # shortened: "A, B, C, … and 9 more"
    date_text: str  # "6 Jun 2024" (published or announced), or ""
    category: str | None  # the primary arXiv category
    abstract: str
    abstract_html: Markup
    reasons: list  # the matched text in words ("optimization", "Schrödinger")
    terms: list  # the config's terms that matched (rule syntax: for match --json, not for readers)
    score: float
    upvotes: int | None
    pdf_url: str | None
    code_url: str | None
    code_host: str | None  # "GitHub", "GitLab", "Hugging Face" ("" for another host)
    topics: list
    reason: str = ""
    """Why the paper is here, in words, for ranked (``about``/``like``) topics,
    naming each topic it speaks for (a template of one's own listing
    ``all_papers``, without headings, tells which)."""
    reason_here: str = ""
    """:attr:`reason` as said under the heading of the card's first topic,
    which the default templates do: one close in meaning to that topic alone
    says "close in meaning to this topic", not the heading's name again."""
    also: tuple[str, ...] = ()
    """The other topics that found it, which :attr:`reason` does not name: the
    card stands in its first topic's section only."""
    liked: str | None = None
    """The title of the liked paper this one is close to, when that is all
    :attr:`reason` says ("similar to a paper you liked, “…”"): a section of
    such cards says "similar to papers you liked" once (``section.liked_reason``)
    and each card only which ("closest to “…”")."""

    def __getitem__(self, name: str):
        try:
            return getattr(self, name)
        except AttributeError:
            raise KeyError(name) from None

    def get(self, name: str, default=None):
        return getattr(self, name, default)


#: How many titles the preheader names: an inbox shows about 100 characters of it.
PREHEADER_TITLES = 3


#: About how much of the preheader an inbox's list shows after the subject (Gmail, Apple Mail: 90 to 140 characters).
PREHEADER_CHARS = 110


def preheader_fill(preheader: str) -> Markup:
    """Invisible padding after a short preheader, up to :data:`PREHEADER_CHARS`:
    an inbox fills the rest of its line with the body's first words, and a
    digest of one paper showed "Reflected Diffusion Models Paper Digest
    Wednesday 2 December 2026 Hello Ada, here is 1 new paper", the sender's
    name and the heading said again after the title.  Zero-width non-joiners
    between no-break spaces (the usual filler: a run of plain spaces is
    collapsed to one, and the body's words follow it)."""
    return Markup("\u200c\u00a0" * max(0, PREHEADER_CHARS - len(preheader)))


def _preheader(matches: Sequence[PaperMatch]) -> str:
    """The best papers' titles: the inbox shows the preheader after the
    subject, which already gives the count and the topics ("30 new papers:
    Optimisation, ..." read twice there), so it names what is new instead."""
    titles = [lost_math_shown(m.paper.title) for m in matches[:PREHEADER_TITLES]]
    rest = len(matches) - len(titles)
    return " · ".join(titles) + (f" · and {counted(rest, 'more paper')}" if rest else "")


def reason_text(m: PaperMatch, topic_name: Callable[[str], str], *, here: bool = False) -> str:
    """The reason in words under a paper (see :func:`reasons.for_reader`);
    ``here``, as said under the heading of the paper's first topic."""
    return for_reader(m.topic_reasons, topic_name, m.topics, here=here)


def also_in(
    m: PaperMatch, topic_name: Callable[[str], str], words: Callable[[str], list[str]] | None = None
) -> tuple[str, ...]:
    """The names of the paper's other topics, but those :func:`reason_text`
    names already: a reader of "Diffusion models" does not find it under
    "Optimisation" without being told.  With ``words``, each name is followed
    by what that topic found ("Optimisation (optimizing)"; a ranked topic's
    phrases, "Generative modelling (diffusion models)", when the card stands
    under a keyword topic), but the topic's own name ("Optimization
    (Optimization)", "Diffusion models (diffusion model, score-based)" said
    it twice)."""
    reasons = m.topic_reasons + (None,) * (len(m.topics) - len(m.topic_reasons))
    own_ranked = under_ranked(reasons)
    out = []
    for t, r in zip(m.topics[1:], reasons[1:]):
        by_rank = r is not None and r.ranked
        if own_ranked and by_rank:
            continue  # the card's reason names it (reasons.for_reader)
        found = found_words(r) if r is not None and by_rank else words(t) if words else []
        found = [w for w in found if not same_but_number(w, topic_name(t))]
        out.append(f"{topic_name(t)} ({', '.join(found)})" if found else topic_name(t))
    return tuple(out)


def _pinned_reason(authors: tuple[str, ...]) -> str:
    """Why a pinned author's paper stands first ("" for another paper)."""
    if not authors:
        return ""
    return f"by {listed(authors)}, {'an author' if len(authors) == 1 else 'authors'} you pinned"


def card_words(
    m: PaperMatch, topics: Mapping, texts: Mapping[str, str], in_shown: Callable[[object], str | None] | None = None
) -> tuple[list[str], Callable[[str], list[str]]]:
    """The words a card gives under its topic's heading, and for each other
    topic the words only it found (for :func:`also_in`).  ``in_shown``: see
    :func:`reason_words`."""
    own = topic_hits(m, topics[m.topics[0]]) if len(m.topics) > 1 else m.hits
    reasons = reason_words(own, texts, in_shown)
    shown = {r.casefold() for r in reasons}

    def others_found(topic: str) -> list[str]:
        return [w for w in reason_words(topic_hits(m, topics[topic]), texts, in_shown) if w.casefold() not in shown]

    return reasons, others_found


def unsaid(words: list[str], reasons: Sequence) -> list[str]:
    """The ``words`` a keyword topic found that the card's sentence does not
    say already: "Why: Close to your interest in human preferences ·
    preference" said it twice.  A word a ranked reason's phrase holds (in
    either number) is left out; one that says more ("human preferences"
    beside "preferences"), or a topic's name in the sentence, is not."""
    phrases = [p for r in reasons if r is not None and r.ranked for p in r.phrases]
    if not phrases:
        return words
    return [w for w in words if not any(phrase_pattern(w).search(p) for p in phrases)]


def topic_hits(m: PaperMatch, topic) -> tuple:
    """The hits of ``topic``'s own terms: a paper two topics found was given,
    under the first one's heading, the words of both ("Diffusion models" said
    "Why: diffusion models, optimizing")."""
    terms = {*topic.any, *topic.all, *topic.categories}
    return tuple(h for h in m.hits if h.term in terms)


#: The shortest abstract_chars a too-big digest's warning offers: below it an abstract is a line.
MIN_ABSTRACT_CHARS = 150
#: The share of ``max_html_kb`` the numbers of a too-big digest's warning aim at.
FIT_MARGIN = 0.98

#: The longest subject a template may render: a header line's limit (RFC 5322 2.1.1).
MAX_SUBJECT_CHARS = 998

#: About what an inbox's list shows of a subject: beyond it, the default's list of
#: topics is cut to the first ones and "and N more" (see ``Composer._subject``).
SHOWN_SUBJECT_CHARS = 78

#: The most a body template may render, in characters: beyond what mail
#: servers take (most refuse a message over 10 to 50 MB), so only a loop
#: running away gets there; it is stopped there, not rendered whole.
MAX_PART_CHARS = 20_000_000


def _render_bounded(template: jinja2.Template, ctx: dict) -> str:
    """``template.render(ctx)``, stopped with :class:`_Runaway` at the line
    rendering when the output passes :data:`MAX_PART_CHARS`
    (``{% for i in range(10 ** 9) %}`` rendered a gigabyte for minutes).
    Done as ``render`` does it (errors come out with the template's lines),
    counting a batch of pieces at a time: as fast as ``render``."""
    parts: list[str] = []
    size = 0
    _new_render()
    try:
        chunks = cast(types.GeneratorType, template.root_render_func(template.new_context(ctx)))
        while batch := list(itertools.islice(chunks, 1024)):
            parts += batch
            size += sum(map(len, batch))
            if size > MAX_PART_CHARS:
                frame = chunks.gi_frame  # the template's code, where it stopped
                line = template.get_corresponding_lineno(frame.f_lineno) if frame is not None else None
                chunks.close()
                raise _Runaway(template.filename, line)
    except _Runaway:
        raise
    except Exception:
        template.environment.handle_exception()
    return "".join(parts)


#: The longest ``range()`` a template may loop over (Jinja's sandbox has the same bound).
MAX_RANGE = 100_000


def _bounded_range(*args: int) -> range:
    """``range`` for templates: one over :data:`MAX_RANGE` numbers is refused.
    ``{% for i in range(10 ** 12) %}{% endfor %}`` renders nothing, so no
    bound on the output stops it: validate never came back."""
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise jinja2.TemplateRuntimeError(
            f"range() of more than {MAX_RANGE:,} numbers ({len(numbers):,}): a loop running away?"
        )
    return numbers


def _bounded_lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:  # noqa: A002 -- Jinja's names
    """Jinja's ``lipsum`` for templates, refused over :data:`MAX_RANGE` words
    (``lipsum(10 ** 9)`` built its text in memory before any output bound)."""
    if n * max > MAX_RANGE:
        raise jinja2.TemplateRuntimeError(
            f"lipsum() of up to {n * max:,} words, over {MAX_RANGE:,}: a placeholder running away?"
        )
    from jinja2.utils import generate_lorem_ipsum

    return generate_lorem_ipsum(n=n, html=html, min=min, max=max)


#: The most loop turns one part of an email (its HTML, its text, its
#: subject) may take in its templates, all loops together: a digest of a
#: thousand papers takes some thousands; loops nested over
#: ``range()`` (``{% for i in range(100000) %}{% for j in range(100000) %}``)
#: rendered nothing for hours, which no output bound stops.
MAX_LOOP_TURNS = 1_000_000

#: The largest number ``**`` may make in a template, in bits (about 30,000
#: digits): ``{{ 10 ** (10 ** 10) }}`` computed for ever.
MAX_NUMBER_BITS = 100_000

_turns = threading.local()  # `left`: the loop turns the part being rendered may still take


def _new_render() -> None:
    """A part of an email starts rendering (in this thread): the loop
    turns start again (see :data:`MAX_LOOP_TURNS`)."""
    _turns.left = MAX_LOOP_TURNS


def _counted(items: object) -> object:
    """What each ``{% for %}`` of a user template loops over (see
    :meth:`_Sandbox._parse`), its turns counted against :data:`MAX_LOOP_TURNS`."""
    try:
        size = len(items)  # type: ignore[arg-type]
    except TypeError:
        return _counted_one_by_one(items)
    _take_turns(size)
    return items


def _counted_one_by_one(items):
    for item in items:
        _take_turns(1)
        yield item


def _take_turns(n: int) -> None:
    left = getattr(_turns, "left", MAX_LOOP_TURNS) - n
    _turns.left = left
    if left < 0:
        raise jinja2.TemplateRuntimeError(
            f"the template's loops ran over {MAX_LOOP_TURNS:,} times for one email (stopped there): "
            "a loop running away?"
        )


def _bounded_binop(operator: str, left: object, right: object) -> None:
    """Refuse ``**`` making a number over :data:`MAX_NUMBER_BITS`, and ``*``
    or ``+`` making a text or list over :data:`MAX_PART_CHARS` (``'x' * 10
    ** 10`` took the memory there is), before Python computes them."""
    if operator == "**":
        if (type(left) is int and type(right) is int and right > 1 and abs(left) > 1
                and right * (abs(left).bit_length() - 1) > MAX_NUMBER_BITS):
            raise jinja2.TemplateRuntimeError(
                f"{left} ** {right} is a number of over {MAX_NUMBER_BITS:,} bits: too large to compute"
            )
    elif operator == "+":
        if isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple)):
            _bounded_size(left, len(left) + len(right))
    else:
        for seq, times in ((left, right), (right, left)):
            if isinstance(seq, (str, list, tuple)) and type(times) is int:
                _bounded_size(seq, len(seq) * times)


def _bounded_size(kind: object, size: int) -> None:
    """Refuse a text (or list) of ``size`` over :data:`MAX_PART_CHARS`."""
    if size > MAX_PART_CHARS:
        what = "a text of" if isinstance(kind, str) else "a list of"
        unit = "characters" if isinstance(kind, str) else "items"
        raise jinja2.TemplateRuntimeError(
            f"{what} {size:,} {unit}, over {MAX_PART_CHARS:,} (no mail server takes it): a loop running away?"
        )


def _bounded_text(text: str) -> str:
    """What ``~`` joined (see :meth:`_Sandbox._parse`), refused over :data:`MAX_PART_CHARS`
    (``{% set ns.s = ns.s ~ ns.s %}`` in a loop doubled it past the memory there is)."""
    _bounded_size(text, len(text))
    return text


_WIDTH_METHODS = frozenset({"center", "ljust", "rjust", "zfill"})
_FORMAT_SPEC_NUMBERS = lazy(r"%[-#0 +]*(\d*)(?:\.(\d+))?|\{[^{}:]*:([^{}]*)\}")


def _bounded_width(what: str, width: object, times: int = 1) -> None:
    """Refuse a width that would make a text over :data:`MAX_PART_CHARS`
    (``{{ 'x' | center(10 ** 9) }}`` took the memory there is before any
    output bound could stop it)."""
    size = len(width) if isinstance(width, str) else width  # indent's width may be a text
    if type(size) is int and size * times > MAX_PART_CHARS:
        raise jinja2.TemplateRuntimeError(
            f"{what} of width {size:,} makes a text of over {MAX_PART_CHARS:,} characters (no mail server takes it)"
        )


def _bounded_format(what: str, fmt: object) -> None:
    """Refuse a format string (``%`` or ``{}`` style) whose width or precision
    would make a text over :data:`MAX_PART_CHARS` (``'%999999999d'``)."""
    if not isinstance(fmt, str):
        return
    for match in _FORMAT_SPEC_NUMBERS.finditer(fmt):
        for spec in filter(None, match.groups()):
            for number in re.findall(r"\d+", spec):
                _bounded_width(what, int(number))


#: The width of the text part's lines (RFC 3676 asks for at most 78; 72 leaves
#: room for a reply's quoting).  Each paragraph is wrapped at a space, never
#: inside a URL, an arXiv id or a long word: a line longer than this holds one
#: such token alone (or a link line, "PDF: https://...", kept whole).
TEXT_WIDTH = 72


#: What the ``flowed`` filter writes at a soft break, in place of the line's
#: trailing space: the finished text part (:func:`flowed_text`) turns it into
#: that space, after taking every other line's trailing spaces off, so only
#: the filter's breaks are soft.  Random, so no paper or template holds it.
_SOFT = "\ue000" + secrets.token_hex(6) + "\ue001"


def flowed(text: object, lead: str = "", width: int = TEXT_WIDTH) -> str:
    """``text`` wrapped for the text part, sent as ``format=flowed`` (RFC
    3676): each line of it is a paragraph, broken at spaces into lines of at
    most ``width`` characters, each but the last ending in a space (a soft
    break), so a mail app that knows the format joins them again and wraps
    the paragraph to its screen, and one that does not shows lines of 72
    characters instead of one line a screen long, or 76-column breaks
    mid-word.  ``lead`` ("  [3] ") starts the first line, and the lines
    after it are indented under its text and hard broken (a list item's
    title: joined again, its indent would land mid-sentence), in no-break
    spaces (see :func:`flowed_text`).  A trimmed abstract's closing "…" stays
    on the line of the word before it.  The text as sent; the templates'
    filter is :func:`_flowed_marked`, whose soft breaks the whole part's
    finishing tells from a template's own trailing spaces."""
    return flowed_text(_flowed_marked(text, lead, width))


#: Texts up to this long are wrapped once per process (:func:`_flowed_cached`).
_FLOWED_CACHED_CHARS = 8192


def _flowed_marked(text: object, lead: str = "", width: int = TEXT_WIDTH) -> str:
    """:func:`flowed` with each soft break's space written :data:`_SOFT`."""
    text = str(text)
    if lead:  # no lead, no width to bound (counting the text's spaces was a tenth of the filter)
        _bounded_width("flowed", str(lead), text.count(" ") + text.count("\n") + 1)
    width = int(width)
    if type(lead) is str and len(text) <= _FLOWED_CACHED_CHARS:
        return _flowed_cached(text, lead, width)
    return _flowed_wrapped(text, lead, width)


@functools.lru_cache(maxsize=32768)
def _flowed_cached(text: str, lead: str, width: int) -> str:
    """:func:`_flowed_wrapped`, once for each text: textwrap was two thirds of
    rendering a digest's text part, and the same abstracts, titles and
    reasons come again in digest after digest of a send (20 distinct digests
    of 20 papers each wrapped 400 abstracts, of far fewer papers).  Room for
    every text of a large day: with 4,096 entries, 10,000 digests of a
    5,000-paper day wrapped 229,000 texts for 23,000 distinct ones (the
    cache thrashed, render 2.6 ms a digest); with 32,768, each once (2.0 ms).
    The key is the paper's own string, so an entry costs its wrapped copy
    (about 1.5 KB for an abstract)."""
    return _flowed_wrapped(text, lead, width)


@functools.lru_cache(maxsize=256)
def _wrapper(width: int, lead: str) -> textwrap.TextWrapper:
    """The wrapper for a width and a lead, made once (``textwrap.wrap`` makes
    one a call; its ``wrap`` keeps no state, so threads share it)."""
    return textwrap.TextWrapper(
        # width - 1: room for a soft break's space, or the space-stuffing's
        width - 1, initial_indent=lead, subsequent_indent=" " * len(lead),
        break_long_words=False, break_on_hyphens=False,
    )


#: What ``textwrap`` reads other than a plain space would: white space it
#: turns into spaces (a tab, a line break), or a word of white space alone
#: that it does not break at but drops at a line's end (a no-break space
#: between spaces).  A no-break space inside a word is a letter to both.
_WRAPPED_APART = re.compile(r"[\t\n\x0b\x0c\r]|(?:^| )[^\S ]+(?= |$)")


def _wrapped_lines(paragraph: str, width: int, lead: str) -> list[str]:
    """``_wrapper(width, lead).wrap(paragraph)``, the same lines, each
    found with one ``str.rfind`` for the last space that fits instead of
    ``textwrap``'s loop over every word and space (a wrapped abstract was
    some 150 turns of it): for a paragraph whose only white space is the
    plain space it breaks at (no-break spaces are letters to it: a trimmed
    abstract's "\u00a0…") and that starts with none.  Each line of ``textwrap``'s
    greedy fill ends after the last word that fits whole (or holds one word
    too long alone), its spaces after it dropped, and the next line starts
    at the next word."""
    if paragraph.startswith(" ") or _WRAPPED_APART.search(paragraph):
        return _wrapper(width, lead).wrap(paragraph)
    width -= 1  # as _wrapper's: room for a soft break's space
    lines = []
    indent = lead
    end = len(paragraph)
    start = 0
    while True:
        bound = start + width - len(indent)  # the line's text ends at or before it
        if bound >= end:
            lines.append(indent + paragraph[start:].rstrip(" "))
            return lines
        cut = paragraph.rfind(" ", start, bound + 1)  # the last space that may end the line
        while cut > start and paragraph[cut - 1] == " ":
            cut -= 1
        if cut <= start:  # the first word does not fit: alone on its line
            cut = paragraph.find(" ", start)
            if cut < 0:
                lines.append(indent + paragraph[start:])
                return lines
        lines.append(indent + paragraph[start:cut])
        start = cut
        while start < end and paragraph[start] == " ":
            start += 1
        if start == end:
            return lines
        indent = " " * len(lead)


def _flowed_wrapped(text: str, lead: str, width: int) -> str:
    width = max(width, len(lead) + 20)
    out = []
    for paragraph in text.split("\n"):
        if not paragraph.strip():
            out.append("")
            continue
        lines = _wrapped_lines(paragraph, width, lead)
        if len(lines) > 1 and lines[-1].strip() == "\u2026":  # a trimmed abstract's "…" alone on its last line
            head, _, word = lines[-2].rpartition(" ")
            if head.strip():
                lines[-2:] = [head, " " * len(lead) + word + " \u2026"]
        out.append("\n".join(lines) if lead else (_SOFT + "\n").join(lines))
    return "\n".join(out)


class _StandIns:
    """The personal values' stand-in tokens of a digest rendered to be shared
    (see :meth:`Composer._body`), and whether the ``flowed`` filter wrapped
    one: it wraps around the token's 22 characters, not the name put in its
    place after, so that digest is rendered whole for each subscriber."""

    __slots__ = ("pattern", "wrapped")

    def __init__(self, pattern: re.Pattern) -> None:
        self.pattern = pattern
        self.wrapped = False


@jinja2.pass_context
def _flowed_filter(context: jinja2.runtime.Context, text: object, lead: str = "", width: int = TEXT_WIDTH) -> str:
    """The templates' ``flowed`` (:func:`_flowed_marked`), noting a stand-in token it wraps (:class:`_StandIns`).
    Looked up as ``Context.get`` does, without its ``KeyError``: a digest
    rendered for its subscriber has no stand-ins, and the raised and caught
    error was a third of the filter's cost, some 80 calls a digest."""
    local = context.vars
    stand_ins = local["_stand_ins"] if "_stand_ins" in local else context.parent.get("_stand_ins")
    if isinstance(stand_ins, _StandIns) and stand_ins.pattern.search(f"{lead}{text}"):
        stand_ins.wrapped = True
    return _flowed_marked(text, lead, width)


#: The signature separator, whose trailing space is not a soft break (RFC 3676, 4.3).
_SIGNATURE = "-- "


def flowed_text(text: str) -> str:
    """The whole text part as sent ``format=flowed`` (RFC 3676), in one pass
    over the rendered template: a line's trailing spaces taken off (a line of
    a template of one's own ending in a stray space was joined to the next by
    a flowed reader), the ``flowed`` filter's soft breaks (:data:`_SOFT`) made
    spaces, a line's indent written in no-break spaces, and a space put
    before a line starting with ``>`` or ``From `` (RFC 3676's
    space-stuffing: a flowed reader takes one space off a line that starts
    with one, and showed ">" as a quote).  A flowed reader and one that does
    not know the format then show the same lines: an indent of spaces was a
    column off in one of them, whichever way it was written; no-break spaces
    are text to both.  Each line of the template but the filter's soft breaks
    ends hard, so a ``digest.txt`` of one's own without the filter is shown
    as its lines are."""
    # A few passes over the whole text, each a search for a line break next to
    # what it changes (``str.find``, C speed): not a Python loop over the
    # lines, nor a pattern tried at each character (``re`` scans some 14
    # instructions a character, ``str.find`` 3-5: the part is some 20,000
    # characters, and these passes were half its finishing), and no pass or
    # copy where there is nothing to change.
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _nbsp_indented(_untrailed(text).replace(_SOFT, " "))
    if text.startswith((">", "From ")) or (">" in text and "\n>" in text) or "\nFrom " in text:
        text = _STUFFED.sub("\n ", "\n" + text)[1:]
    return text


#: The line break before a line RFC 3676 asks to be space-stuffed.
_STUFFED = re.compile(r"\n(?=>|From )")
#: A run of spaces (a line's indent, from where it starts).
_SPACES = re.compile(" +")


def _untrailed(text: str) -> str:
    """``text`` without its lines' trailing spaces, but the signature separator's ("-- ")."""
    out: list[str] = []
    start = 0  # text[:start] is in out
    end = text.find(" \n") + 1  # the line break after a trailing space
    while end:
        line_start = text.rfind("\n", 0, end) + 1
        if text[line_start:end] != _SIGNATURE:
            out += (text[start:line_start], text[line_start:end].rstrip(" "))
            start = end
        end = text.find(" \n", end + 1) + 1
    if text.endswith(" "):  # the last line, with no line break after it
        line_start = text.rfind("\n") + 1
        if text[line_start:] != _SIGNATURE:
            out += (text[start:line_start], text[line_start:].rstrip(" "))
            start = len(text)
    if not out:
        return text
    out.append(text[start:])
    return "".join(out)


def _nbsp_indented(text: str) -> str:
    """``text`` with each line's leading spaces written as no-break spaces."""
    out: list[str] = []
    start = 0  # text[:start] is in out
    indent = 0 if text.startswith(" ") else text.find("\n ") + 1  # where an indent starts; 0: none after the first
    while indent or (not out and text.startswith(" ")):
        end = _SPACES.match(text, indent).end()  # type: ignore[union-attr]
        out += (text[start:indent], "\u00a0" * (end - indent))
        start = end
        indent = text.find("\n ", end) + 1
    if not out:
        return text
    out.append(text[start:])
    return "".join(out)


def _bounded_filters() -> dict:
    """Jinja's filters that take a width, with the width bounded."""
    filters = jinja2.filters.FILTERS

    def center(value, width=80):
        _bounded_width("center", width)
        return filters["center"](value, width)

    def indent(s, width=4, first=False, blank=False):
        _bounded_width("indent", width, str(s).count("\n") + 1)
        return filters["indent"](s, width, first, blank)

    def format_(value, *args, **kwargs):
        _bounded_format("format", value)
        return filters["format"](value, *args, **kwargs)

    return {"center": center, "indent": indent, "format": format_}


class _Sandbox(jinja2.sandbox.ImmutableSandboxedEnvironment):
    """Where user templates and the subject render: Jinja's sandbox, so a
    template reaches the values it is given and not Python's internals
    (``{{ ''.__class__.__mro__ }}`` reached every class of the process) nor
    changes them (``{{ p.authors.clear() }}`` emptied a card every
    subscriber's digest shares), with its loops, ``range()``, ``lipsum()``,
    ``**``, ``*``, ``+`` and ``~`` bounded so a template cannot hang
    ``validate``, ``preview`` or ``send``."""

    intercepted_binops = frozenset({"**", "*", "+"})

    def __init__(self, **options) -> None:
        super().__init__(**options)
        self.globals.update(range=_bounded_range, lipsum=_bounded_lipsum)
        self.filters.update(_counted=_counted, _bounded_text=_bounded_text, flowed=_flowed_filter, **_bounded_filters())

    def _parse(self, source, name, filename):
        """The template, each ``{% for %}`` looping over ``iter | _counted``
        and each ``a ~ b`` made ``(a ~ b) | _bounded_text``."""
        tree = super()._parse(source, name, filename)
        for loop in tree.find_all(jinja2.nodes.For):
            loop.iter = jinja2.nodes.Filter(loop.iter, "_counted", [], [], None, None, lineno=loop.iter.lineno)
        for parent in list(tree.find_all(jinja2.nodes.Node)):
            for name_, value in parent.iter_fields():
                if isinstance(value, jinja2.nodes.Concat):
                    setattr(parent, name_, self._bounded(value))
                elif isinstance(value, list):
                    value[:] = [self._bounded(v) if isinstance(v, jinja2.nodes.Concat) else v for v in value]
        return tree

    @staticmethod
    def _bounded(concat: jinja2.nodes.Concat) -> jinja2.nodes.Filter:
        return jinja2.nodes.Filter(concat, "_bounded_text", [], [], None, None, lineno=concat.lineno)

    def call_binop(self, context, operator, left, right):
        _bounded_binop(operator, left, right)
        return super().call_binop(context, operator, left, right)

    def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805 (Jinja's own signature)
        """The sandbox's call, with the text methods that take a width
        (``'x'.ljust(10 ** 9)``) bounded."""
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str):
            name = getattr(__obj, "__name__", "")
            if name in _WIDTH_METHODS and args:
                _bounded_width(name, args[0])
            elif name == "expandtabs":
                _bounded_width(name, args[0] if args else kwargs.get("tabsize", 8), owner.count("\t"))
        return super().call(__context, __obj, *args, **kwargs)

    def wrap_str_format(self, value):
        """The sandbox's ``str.format``, its widths bounded (it is wrapped
        where the template reads ``.format``, not where it calls it)."""
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None

        def bounded(*args, **kwargs):
            _bounded_format(value.__name__, value.__self__)
            return wrapped(*args, **kwargs)

        return bounded

    def getattr(self, obj, attribute):
        """The sandbox's ``getattr``, at once for the values the templates
        are given most (a paper's card, a topic's section): of these, what
        the sandbox allows is every name not starting with ``_``, and its
        checks tripled the time a digest took to render."""
        if type(obj) is dict and not hasattr(dict, attribute):  # a key (section.papers), not a method
            try:
                return obj[attribute]
            except KeyError:
                return self.undefined(obj=obj, name=attribute)
        kind = type(obj)
        if kind not in _PLAIN or attribute.startswith("_"):
            return super().getattr(obj, attribute)
        try:
            # a namespace's values at once: its __getattribute__ is Python's, and the templates'
            # counter (n.i) was read three times a card
            if kind is _NAMESPACE:
                return _object_attribute(obj, "_Namespace__attrs")[attribute]
            return getattr(obj, attribute)
        except (AttributeError, KeyError):
            return self.undefined(obj=obj, name=attribute)


#: The folder, in the config's ``cache:`` folder, that keeps the templates' compiled code.
TEMPLATE_CACHE = "templates"


class _CompiledTemplates(jinja2.FileSystemBytecodeCache):
    """The templates' compiled code kept between runs: Jinja's lexing,
    parsing and code generation of the two templates were 17 ms of every
    run's start, 1.3 ms with the code at hand.  A file is used only while
    its template's text, this module (the sandbox rewrites what it
    compiles) and Jinja's version are what they were: an edited template,
    the user's or the package's, compiles anew by itself.  The cache is only
    a speed-up, so a folder that cannot be made or written (``cache:``
    naming a file, a read-only disk) and a file that cannot be read, is cut
    short or is not the user's own (it runs as code, outside the sandbox)
    are compiling as before, never an error."""

    def __init__(self, folder: Path, salt: str) -> None:
        super().__init__(str(folder), "%s.jinja")
        self._salt = salt

    def get_source_checksum(self, source: str) -> str:
        return super().get_source_checksum(self._salt + source)

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            with open(self._get_cache_filename(bucket), "rb") as file:
                if own_private(os.fstat(file.fileno())):  # (it runs as code, outside the sandbox)
                    bucket.load_bytecode(file)
        except Exception:  # missing, unreadable, damaged (pickle and marshal raise many kinds): compile
            bucket.reset()

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
            super().dump_bytecode(bucket)  # a temporary file renamed into place: a reader never sees half of one
        except OSError:
            pass  # no cache this run: the next compiles again


def _compiled_templates(config: Config) -> _CompiledTemplates | None:
    """The cache of compiled templates in the config's ``cache:`` folder;
    None (compile each run) where this module's text cannot be read to key it."""
    salt = _compiler_salt()
    return _CompiledTemplates(config.cache_dir / TEMPLATE_CACHE, salt) if salt else None


@functools.cache
def _compiler_salt() -> str:
    """What the compiled code depends on besides the template's text; "" if unknown."""
    try:
        return f"{jinja2.__version__}|{hashlib.sha1(Path(__file__).read_bytes()).hexdigest()}|"
    except OSError:
        return ""


class _Runaway(Exception):
    """A template rendered over :data:`MAX_PART_CHARS`; where it was."""

    def __init__(self, filename: str | None, line: int | None) -> None:
        super().__init__(filename, line)
        self.filename, self.line = filename, line


class Names(list):
    """Topic names as a template sees them: a list (``topics | join(', ')``,
    ``topics[0]``) that prints as the names joined, so a subject written
    ``{{ topics }}`` reads 'Diffusion, SGD', not Python's "['Diffusion', 'SGD']"."""

    def __str__(self) -> str:
        return ", ".join(str(name) for name in self)


#: The types of the values templates are given most, none of them a list or
#: a dict, whose attributes the sandbox allows unless their names start
#: with ``_`` (see :meth:`_Sandbox.getattr`).
_NAMESPACE = jinja2.utils.Namespace
_PLAIN = frozenset({Card, Subscriber, _NAMESPACE, jinja2.runtime.LoopContext})
#: How a ``namespace()``'s own ``__getattribute__`` reads its values (here in C, not through it).
_object_attribute = object.__getattribute__


def _shown(value: object) -> object:
    """What ``{{ value }}`` prints: nothing for a value a subscriber lacks
    (``{{ subscriber.name }}`` of one without a name went out as "None" in
    the subject), and a date as people read it ("Monday 30 November 2026",
    not "2026-11-30 08:00:00+01:00")."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return _day(value)
    return value


def _day(when: datetime) -> str:
    """A date as the digest's heading shows it: "Monday 30 November 2026"."""
    return f"{when:%A} {when.day} {when:%B %Y}"


def _no_field(message: str, ctx: dict, meant: str) -> str:
    """Jinja's message and ``meant`` (the name meant, or ""); Jinja's
    "'newsletter.rendering.Card object' has no attribute 'doi'" (a template
    asking for a value a paper does not have) in the words of the templates,
    with the names there are."""
    found = re.fullmatch(r"'[\w.]*?(\w+) object' has no attribute '([^']+)'", message)
    kind, name = found.groups() if found else ("", "")
    if kind == "Card":
        fields = [f.name for f in dataclasses.fields(Card) if f.name != "paper"]
        return f"a paper (p) has no {name!r}{meant}; it has {', '.join(fields)}"
    if kind == "Subscriber" and "subscriber" in ctx:
        fields = list(type(ctx["subscriber"]).model_fields)
        return f"the subscriber has no {name!r}{meant}; it has {', '.join(fields)}"
    return message + meant


#: The names a subject template is most likely after (the context has the body's too).
_SUBJECT_NAMES = ("count", "topics", "name", "date", "date_text", "title", "subscriber.email")


#: A name as a spreadsheet or a directory lists it, "Last, First": words of letters on each side of one comma.
_LAST_COMMA_FIRST = re.compile(r"[^\W\d_](?:[^\W\d_]|['’.\- ])*, ?[^\W\d_](?:[^\W\d_]|['’.\- ])*")

#: What follows a name's comma that is no given name: "Ada Lovelace, PhD".
_DEGREE = re.compile(r"(?:Ph\.?D|M\.?D|M\.?Sc|B\.?Sc|M\.?A|B\.?A|MBA|Esq|Prof|Dr|FRS)\.?", re.IGNORECASE)


def greeting_name(subscriber: Subscriber) -> str:
    """The name the digest greets with (``{{ name }}``): ``name:`` as written,
    but "Last, First" as said, "First Last", as a member list pasted from a
    spreadsheet or a directory writes it ("Hello Müller, Jürgen," read as
    addressing two people); the address when there is no name.  The To header
    keeps the name as written."""
    name = subscriber.name
    if not name:
        return subscriber.email
    if _LAST_COMMA_FIRST.fullmatch(name):
        last, first = (part.split() for part in name.split(","))
        # one family name ("van der Berg" with its particles): "Ada Lovelace, Grace Hopper" is two people
        one_name = all(word.islower() for word in last[:-1])
        if one_name and not (NAME_SUFFIX.fullmatch(first[0]) or _DEGREE.fullmatch(first[0])):
            return first_last(name)
    return name


def _greeted(subscriber: Subscriber) -> Subscriber:
    """``subscriber`` as the templates see it: its name in the greeting form
    (:func:`greeting_name`).  A shared body fills ``{{ subscriber.name }}``
    with the greeting form, the one token there is for a name, and a digest
    rendered whole printed "Müller, Jürgen" as written: the same template
    gave two texts by the path that made it."""
    if not subscriber.name:
        return subscriber
    name = greeting_name(subscriber)
    return subscriber if name == subscriber.name else subscriber.model_copy(update={"name": name})


class Composer:
    """Builds the exact email for a subscriber; create once, compose many."""

    def __init__(
        self, config: Config, inliner: Callable[[str], str] | None = None, writer: Callable[..., bytes] | None = None
    ) -> None:
        """``inliner`` turns rendered HTML into the HTML sent: default the one
        ``email.inliner`` names (:func:`make_inliner`).  ``writer`` makes the message bytes:
        default :class:`~newsletter.messages.MessageWriter`;
        :func:`~newsletter.messages.email_package_writer` is the ``email``
        package's (same message, slower)."""
        self.config = config
        self.inliner = inliner or make_inliner(config.email.inliner)
        self.writer = writer or MessageWriter(config)
        from .signing import signer

        self.signer = signer(config)  # DKIM, when email.dkim is set; a bad key fails here, before any send
        if (gone := templates_gone(config)) is not None:
            raise TemplateError(gone)
        self.dirs = template_dirs(config)
        # utf-8-sig: a template saved "UTF-8 with BOM" (Notepad, an editor's option) put the mark at the head
        # of every text part, and in a style.css before its first rule, which the inliner then dropped
        loader = jinja2.FileSystemLoader([str(d) for d in self.dirs], encoding="utf-8-sig")
        self.env = _Sandbox(
            loader=loader,
            bytecode_cache=_compiled_templates(config),
            autoescape=jinja2.select_autoescape(["html", "htm", "xml"], default_for_string=False),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            finalize=_shown,
        )
        self.html_template = self._load(HTML_TEMPLATE)
        self.text_template = self._load(TEXT_TEMPLATE)
        subject_env = _Sandbox(undefined=jinja2.StrictUndefined, finalize=_shown)
        self.subject_template = subject_env.from_string(config.email.subject)
        from .matching import Matcher

        self.rules = Matcher(config.topics).rules
        self._cards: dict[tuple, Card] = {}
        self._fits: dict[tuple, str] = {}  # a too-big digest's advice, per digest (see _advice)
        self._term_regex = {t.text: t.regex for rule in self.rules.values() for t in rule.any + rule.all}
        # Stand-ins for the personal values (address, name, unsubscribe link):
        # random, so no paper or template text contains them.
        salt = secrets.token_hex(8)
        self._tokens = (f"Pdtok{salt}E", f"Pdtok{salt}N", f"Pdtok{salt}U")
        self._token_pattern = re.compile("(" + "|".join(self._tokens) + ")")
        self._bodies: dict[tuple, _Body] = {}
        self._checks_left = 3
        #: False once a template is found to use a personal value beyond printing it.
        self.share_bodies = True

    @functools.cached_property
    def lists_more(self) -> bool:
        """Whether the HTML template shows ``more`` (see :func:`_template_names`);
        asked only of a digest over ``max_html_kb``, so a send of digests that
        fit never parses the template's source (its compiled code comes from
        the cache; parsing it again cost every send some 25 M instructions)."""
        return "more" in self._html_names

    @functools.cached_property
    def tells_brief(self) -> bool:
        """Whether the HTML template may list ``more`` in brief (it reads
        ``more_brief``, as the default does); one of the user's from before
        lists those papers by title only, and the warning says so."""
        return "more_brief" in self._html_names

    @functools.cached_property
    def _html_names(self) -> set[str]:
        return _template_names(self.env)

    def _load(self, name: str) -> jinja2.Template:
        try:
            return self.env.get_template(name)
        except jinja2.TemplateError as exc:
            raise self._template_error(exc) from None
        except UnicodeDecodeError as exc:  # e.g. a template saved as Latin-1
            file = next((d / name for d in self.dirs if (d / name).is_file()), None)
            data = file.read_bytes() if file else b""
            if data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):  # what Windows editors save as "Unicode"
                raise TemplateError(Problem("saved as UTF-16 (\"Unicode\" in Windows editors); save the template as "
                                            "UTF-8", str(file or name), 1)) from None
            line = line_of(data, exc.start) if file else None
            raise TemplateError(
                Problem(f"not UTF-8 text ({exc.reason} at byte {exc.start}); save the template as UTF-8", str(file or name), line)
            ) from None

    def _template_error(self, exc: jinja2.TemplateError, tb=None, ctx: dict | None = None) -> TemplateError:
        """One line naming the template file (and line) and what is wrong; a
        misspelt name (``section.nme``, ``p.titel``) gets the name meant,
        from what the templates see (``ctx``: the context rendered)."""
        if isinstance(exc, jinja2.TemplateNotFound):
            searched = ", ".join(str(d) for d in self.dirs)
            place = self._place(tb or exc.__traceback__)  # the {% include %} asking for it, if one did
            return TemplateError(Problem(f"template {exc.name!r} not found; searched: {searched}", *place))
        if isinstance(exc, jinja2.TemplateSyntaxError):
            return TemplateError(Problem(f"template syntax error: {exc.message}", exc.filename or exc.name, exc.lineno))
        file, line = self._place(tb or exc.__traceback__)
        message = str(exc.message if getattr(exc, "message", None) else exc).splitlines()[0]
        if isinstance(exc, jinja2.sandbox.SecurityError):  # "access to attribute '__class__' of 'str' object is unsafe."
            message = (f"{message.rstrip('.')} (a template reads the values it is given; "
                       "it cannot change them or reach Python's internals)")
        return TemplateError(Problem(f"template error: {self._explained(message, ctx)}", file, line))

    def _explained(self, message: str, ctx: dict | None) -> str:
        """Jinja's message for a name or value a template asks for and the
        context lacks, with the name meant and the names there are."""
        missing = re.search(r"has no attribute '([^']+)'$|^'([^']+)' is undefined$", message)
        if not missing or ctx is None:
            return message
        return _no_field(message, ctx, self._meant(missing[1] or missing[2], ctx, top=missing[2] is not None))

    @staticmethod
    def _meant(name: str, ctx: dict, *, top: bool) -> str:
        """The name a misspelt one means, from what the templates see.  A
        paper's or a section's own name used at the top (``{{ paper.title }}``,
        ``{{ papers }}``) is no misspelling: it said "'paper' is undefined (did
        you mean 'paper'?)"; it gets the loop that holds it."""
        fields = {f.name for f in dataclasses.fields(Card)}
        keys = {key for section in ctx.get("sections", ()) for key in section}
        if top and name in ("paper", "card"):
            return " (each paper is p inside {% for p in section.papers %}: p.title, p.abstract, p.url, ...)"
        if top and name in fields:
            return f" (it is each paper's: p.{name} inside {{% for p in section.papers %}})"
        if top and name in keys:
            return f" (it is each topic's: section.{name} inside {{% for section in sections %}})"
        names = set(ctx) | keys | fields
        names.update(type(ctx["subscriber"]).model_fields if "subscriber" in ctx else ())
        meant = difflib.get_close_matches(name, sorted(names - {name}), n=1, cutoff=0.7)
        return f" (did you mean {meant[0]!r}?)" if meant else ""

    def _place(self, tb) -> tuple[str | None, int | None]:
        """The template file and line a render-time error came from: Jinja
        rewrites the traceback so the template's frames carry its file and line."""
        file = line = None
        for frame in traceback.extract_tb(tb):
            if any(frame.filename.startswith(str(d)) for d in self.dirs):
                file, line = frame.filename, frame.lineno
        return file, line

    def _hit_patterns(self, m: PaperMatch, field: str) -> tuple[re.Pattern, ...]:
        """The regexes of the terms that matched ``field``: only they can be
        highlighted there, and running only them is what keeps highlighting cheap;
        and those of the phrases a ranked topic's reason names (see :func:`phrase_pattern`)."""
        regex = self._term_regex
        terms = (regex[h.term] for h in m.hits if h.field == field and h.term in regex)
        phrases = (phrase_pattern(p) for r in m.topic_reasons if r is not None and r.ranked for p in r.phrases)
        return tuple(dict.fromkeys((*terms, *phrases)))

    def _in_shown(self, abstract: str) -> Callable[[object], str | None]:
        """A ``/regex/`` hit's match in the ``abstract`` the card shows when
        its match in the whole one is not there: a greedy pattern ran on past
        the trim, and the reason named words the reader could not see
        ("explain … prediction" over a marked "explain the model
        predictions")."""
        def in_shown(hit) -> str | None:
            if hit.field != "abstract" or not is_regex_term(hit.term) or hit.text in abstract:
                return None
            pattern = self._term_regex.get(hit.term)
            found = _finditer(pattern, abstract)[:1] if pattern is not None else []
            return found[0].group() if found and found[0].group() else None

        return in_shown

    def _card(self, m: PaperMatch, limit: int, pinned: tuple[str, ...] = ()) -> Card:
        """A paper as the templates see it; the same for every subscriber whose
        topics found it the same way, so it is built once (cached).  ``pinned``:
        its authors the subscriber pinned, named in the reason (the paper stands
        first, and the author may be among the "… and 9 more")."""
        key = (m.paper.id, m.topics, m.terms, m.topic_reasons, limit, pinned)
        card = self._cards.get(key)
        if card is not None and card.paper is m.paper:
            return card
        paper = m.paper
        # math an export lost the backslashes of (ell_2) as Unicode (ℓ₂): shown only,
        # so highlighting runs on the text shown and matching on the text read
        # (what the terms found keeps its Greek names as written: a term "beta-VAE" marks "beta-VAE")
        title = unbroken_before_operators(lost_math_shown(paper.title, _found_in(m, "title")))
        abstract = unbroken_before_operators(
            trim(own_name_shown(lost_math_shown(paper.abstract, _found_in(m, "abstract")), paper.title), limit))
        config = self.config
        code = code_link(paper)
        reasons, others_found = card_words(m, config.topics, {"title": paper.title, "abstract": paper.abstract},
                                           self._in_shown(abstract))
        reasons = unsaid(reasons, m.topic_reasons)
        reason = "; ".join(filter(None, [_pinned_reason(pinned), reason_text(m, config.topic_name)]))
        reason_here = "; ".join(filter(None, [_pinned_reason(pinned), reason_text(m, config.topic_name, here=True)]))
        card = Card(
            paper=paper,
            title=title,
            title_html=highlight(title, self._hit_patterns(m, "title")),
            contents_html=scripts_raised(title),
            url=paper_link(paper),
            url_label="Abstract" if paper.url or paper.arxiv_id else "Search arXiv",  # as paper_link decides
            anchor=anchor_for(paper.id),
            authors=list(paper.authors),
            authors_text=short_authors(paper.authors),
            date_text=paper.date_text,
            category=paper.primary_category,
            abstract=abstract,
            abstract_html=highlight(abstract, self._hit_patterns(m, "abstract")),
            reasons=reasons,
            terms=list(m.terms),
            score=m.score,
            upvotes=paper.upvotes,
            pdf_url=paper.pdf_url,
            code_url=code[0] if code else None,
            code_host=code[1] if code else None,
            topics=[config.topic_name(t) for t in m.topics],
            reason=reason,
            reason_here=reason_here,
            also=also_in(m, config.topic_name, others_found),
            liked=_liked_alone(m, reason_here),
        )
        if len(self._cards) >= CARD_CACHE:
            self._cards.clear()  # a new batch of papers; memory stays bounded
        self._cards[key] = card
        return card

    @staticmethod
    def _pinned(subscriber: Subscriber, m: PaperMatch) -> tuple[str, ...]:
        """The paper's authors the subscriber pinned, for a paper that stands first for them."""
        if not m.pinned:
            return ()
        pins = {name.casefold() for name in subscriber.pin}
        return tuple(a for a in m.paper.authors if a.casefold() in pins)

    # -- the context the templates see ------------------------------------------------

    def context(self, subscriber: Subscriber, matches: Sequence[PaperMatch], now: datetime) -> dict:
        config = self.config
        limit = config.email.abstract_chars
        sections: dict[str, dict] = {}
        for key in subscriber.topics:
            sections[key] = {"key": key, "name": config.topic_name(key), "anchor": anchor_for(key, "topic"), "papers": []}
        papers = []
        for m in matches:
            card = self._card(m, limit, self._pinned(subscriber, m))
            papers.append(card)
            sections[m.topics[0]]["papers"].append(card)
        groups = [s for s in sections.values() if s["papers"]]
        for g in groups:
            g["count"] = len(g["papers"])
            g.update(_shared_reasons(g["papers"]))
        topic_names = [g["name"] for g in groups]
        count = len(matches)
        local = now.astimezone(config.zone(subscriber))
        unsubscribe = unsubscribe_url(config, subscriber)
        preheader = _preheader(matches) if count else "No new papers on your topics this time"
        return {
            "title": config.email.title,
            "subscriber": _greeted(subscriber),
            "name": greeting_name(subscriber),
            "count": count,
            "topics": Names(topic_names or [config.topic_name(k) for k in subscriber.topics]),
            "sections": groups,
            "all_papers": papers,
            "more": [],
            "more_sections": [],
            "more_brief": False,
            "subscriber_topics": Names(config.topic_name(k) for k in subscriber.topics),
            "date": local,
            "date_text": _day(local),
            "preheader": preheader,
            "preheader_fill": preheader_fill(preheader),
            "contents": count >= CONTENTS_MIN,
            "unsubscribe": unsubscribe,
            "unsubscribe_is_mail": bool(unsubscribe and unsubscribe.startswith("mailto:")),
            "mailing_list": subscriber.mailing_list,
        }

    # -- rendering ----------------------------------------------------------------------

    def render(
        self, subscriber: Subscriber, matches: Sequence[PaperMatch], now: datetime, *, clip: bool = True
    ) -> tuple[str, str, str]:
        """(subject, inlined HTML, text), rendered whole for this subscriber;
        with ``clip``, a digest too big for Gmail lists its last papers by
        title only in the HTML (see :meth:`_fit`)."""
        return self._rendered(subscriber, matches, now, clip=clip)[:3]

    def _rendered(
        self, subscriber: Subscriber, matches: Sequence[PaperMatch], now: datetime, *, clip: bool = True
    ) -> tuple[str, str, str, Clip | None]:
        ctx = self.context(subscriber, matches, now)
        subject, html, text = self._render_context(ctx)
        inlined, clipped = self._fit(ctx, html) if clip else (self._inlined(html), None)
        return subject, inlined, text, clipped

    def _fit(self, ctx: dict, html: str) -> tuple[str, Clip | None]:
        """The inlined HTML, and, for a digest over ``email.max_html_kb``,
        how it was clipped (and what would make it fit).  Such a digest
        keeps its best papers as cards and lists the rest after them by
        linked title only ("26 more papers"), as many cards as fit a little
        under the limit: Gmail cut a 60-paper digest at about 102 KB,
        mid-card, behind "View entire message", and the footer with the
        unsubscribe link went with it.  The text part keeps every paper
        whole.  Only for an HTML template that shows the papers of ``more``
        (the default does): one that does not, or that only counts them
        (``more | length``) without listing them, would lose them, so it
        keeps every card (:attr:`Clip.unlisted` says so)."""
        inlined = self._inlined(html)
        limit = self.config.email.max_html_kb * 1024
        full = len(inlined.encode("utf-8"))
        papers = ctx["all_papers"]
        if full <= limit:
            return inlined, None
        whole = Clip(full, len(papers), len(papers), self._advice(ctx, full))
        if not self.lists_more or len(papers) < 2:
            return inlined, whole
        budget = int(limit * FIT_MARGIN)
        for brief in (True, False) if self.tells_brief else (False,):  # in brief if it can, else by title only
            ctx = {**ctx, "more_brief": brief}
            low, high, best = 0, len(papers) - 1, None  # the most cards that fit (sizes grow with the cards)
            while low <= high:
                mid = (low + high) // 2
                out, unshown = self._cut_html(ctx, mid, listed=True)
                if unshown:  # the template's list of `more` leaves papers out: they would be sent and seen nowhere
                    return inlined, dataclasses.replace(whole, unlisted=unshown)
                if len(out.encode("utf-8")) <= budget:
                    low, best = mid + 1, (out, mid)
                else:
                    high = mid - 1
            if best is not None:
                return best[0], dataclasses.replace(whole, shown=best[1], brief=brief)
        return inlined, whole  # not even the titles alone fit: the digest whole, and the warning

    def _inlined(self, html: str) -> str:
        """The HTML as sent: its CSS inlined, without indentation (see :func:`unindented`)."""
        return self.inliner(unindented(html))

    def _cut_html(self, ctx: dict, shown: int, *, listed: bool) -> tuple[str, str]:
        """The inlined HTML of the digest with its first ``shown`` papers as
        cards, and, ``listed``, the rest in ``more`` (else left out: the
        digest as ``max_papers: shown`` would make it); and, when the
        template rendered nothing of some papers of ``more``, how many it
        listed ('none', 'only some'), else ''.  The one way a clipped
        digest, and what would make one fit, are rendered."""
        cut = _cut(ctx, shown)
        if not listed:
            cut.update(more=[], more_sections=[], all_papers=cut["all_papers"][:shown], count=shown,
                       contents=shown >= CONTENTS_MIN)
            return self._inlined(self._render_part(self.html_template, cut)), ""
        watched = {id(card): _Watched(card) for card in cut["more"]}
        cut["more"] = [watched[id(card)] for card in cut["more"]]
        cut["more_sections"] = [{**section, "papers": [watched[id(card)] for card in section["papers"]]}
                                for section in cut["more_sections"]]
        out = self._inlined(self._render_part(self.html_template, cut))
        unread = sum(not w.read for w in watched.values())
        return out, "" if not unread else "none" if unread == len(watched) else "only some"

    def _render_context(self, ctx: dict) -> tuple[str, str, str]:
        """(subject, HTML before inlining, text)."""
        subject = self._subject(ctx)
        return subject, self._render_part(self.html_template, ctx), flowed_text(self._render_part(self.text_template, ctx))

    def _render_part(self, template: jinja2.Template, ctx: dict) -> str:
        """``template`` rendered with ``ctx``; whatever goes wrong in it is one
        :class:`TemplateError` at its line (exit 2), for the whole digest and
        for each cut :meth:`_fit` tries alike: a fault in the "more papers"
        list only the cut shows must not come out as an unexpected error."""
        try:
            out = _render_bounded(template, ctx)
            # the text part's soft breaks are made in flowed_text; elsewhere each is the space it stands for
            return out if template is self.text_template else out.replace(_SOFT, " ")
        except _Runaway as exc:
            millions = MAX_PART_CHARS // 1_000_000
            raise TemplateError(Problem(
                f"template error: the template renders more than {millions} million characters (stopped there; "
                "no mail server takes such a message): a loop running away?", exc.filename, exc.line,
            )) from None
        except jinja2.TemplateError as exc:
            raise self._template_error(exc, ctx=ctx) from None
        except (TypeError, ValueError, AttributeError, KeyError, ZeroDivisionError) as exc:
            # A template doing arithmetic or calls on the wrong values.
            raise self._template_error(jinja2.TemplateRuntimeError(str(exc)), exc.__traceback__) from None
        except (OverflowError, MemoryError) as exc:  # {{ 10.0 ** 1000 }}, {{ range(10 ** 12) | list }}
            what = "a number too large" if isinstance(exc, OverflowError) else "more memory than there is"
            said = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            raise self._template_error(jinja2.TemplateRuntimeError(f"{what} ({said})"), exc.__traceback__) from None
        except RecursionError as exc:
            # `{% include %}` or `{% extends %}` of itself (or a longer loop), resolved as it renders
            loop = jinja2.TemplateRuntimeError("the template includes or extends itself (a loop); nothing can be rendered")
            raise self._template_error(loop, exc.__traceback__) from None

    def _subject_text(self, ctx: dict) -> str:
        try:
            _new_render()
            return self.subject_template.render(ctx).replace(_SOFT, " ")
        except (jinja2.TemplateError, TypeError, ValueError, AttributeError, KeyError, ZeroDivisionError) as exc:
            # e.g. arithmetic on a value one subscriber lacks: that digest fails, named
            message = self._explained(str(exc).splitlines()[0], ctx) if isinstance(exc, jinja2.UndefinedError) else exc
            if isinstance(exc, jinja2.UndefinedError) and str(message).endswith(" is undefined"):
                # `{{ n }}`, no name near it: the names there are, as a template's missing field gets them
                message = f"{message}; the subject knows {', '.join(_SUBJECT_NAMES)}"
            raise TemplateError(self.config.problem(("email", "subject"), f"subject template: {message}")) from None

    def _subject(self, ctx: dict) -> str:
        """The subject, within what an inbox shows where it can be.  A
        subject over :data:`SHOWN_SUBJECT_CHARS` because the subscriber has
        several topics with papers (the default names each) names the first
        ones that fit and ``and N more`` (at least one whole): six topics made
        a 160-character subject the inbox cut mid-name.  One over a header
        line (998 characters) even so is the template's doing: an error at its
        line (folding a 100 MB subject would take minutes)."""
        subject = self._subject_text(ctx)
        topics = ctx["topics"]
        if len(subject) > SHOWN_SUBJECT_CHARS and len(topics) > 1:
            def shortened(k: int) -> str:
                return self._subject_text({**ctx, "topics": Names([*topics[:k], f"and {len(topics) - k} more"])})

            low, high = 1, len(topics) - 1  # the most topics named whole that fit (at least one)
            while low < high:
                mid = (low + high + 1) // 2
                low, high = (mid, high) if len(shortened(mid)) <= SHOWN_SUBJECT_CHARS else (low, mid - 1)
            subject = shortened(low)
            if len(subject) > MAX_SUBJECT_CHARS:  # even one topic's name is too long for a header line
                subject = shortened(0)
        if len(subject) > MAX_SUBJECT_CHARS:
            raise TemplateError(self.config.problem(
                ("email", "subject"),
                f"subject template: the subject is {len(subject):,} characters long; at most {MAX_SUBJECT_CHARS} "
                "(a header line's limit, RFC 5322)",
            ))
        return " ".join(subject.split())

    def compose(
        self,
        subscriber: Subscriber,
        matches: Sequence[PaperMatch],
        *,
        now: datetime,
        message_id: str | None = None,
    ) -> Composed:
        """The finished email.  Subscribers who get the same papers the same way
        share one rendered, inlined and encoded body (see :class:`_Body`); only
        their name, address and unsubscribe link are put in per message."""
        message_id = message_id or new_message_id(self.config)
        body = self._body(subscriber, matches, now) if self.share_bodies else None
        parts: Callable[[], tuple[str, str]]
        if body is None:
            subject, html, text, clipped = self._rendered(subscriber, matches, now)
            data = self.writer(subscriber, subject=subject, html=html, text=text, message_id=message_id, date=now)
            size = len(html.encode("utf-8"))
            parts = _given((html, text))
        else:
            html_values, text_values = self._values(subscriber)
            subject = body.subject.fill(text_values)
            size = body.html.size(html_values)
            clipped = body.clipped
            parts = functools.partial(body.parts, html_values, text_values)
            if isinstance(self.writer, MessageWriter):
                data = self.writer.assemble(
                    subscriber,
                    subject=subject,
                    message_id=message_id,
                    date=now,
                    text_qp=body.text_qp.filled(text_values),
                    html_qp=body.html_qp.filled(html_values),
                    unsubscribe=text_values.get(self._tokens[2]),
                )
            else:
                html, text = parts()
                data = self.writer(subscriber, subject=subject, html=html, text=text, message_id=message_id, date=now)
        if self.signer is not None:
            data = self.signer(data, mailing_list=subscriber.mailing_list)
        warnings = []
        limit = self.config.email.max_html_kb
        if clipped is not None and clipped.unlisted:
            warnings.append(
                f"digest for {subscriber.email}: HTML body is {clipped.full / 1024:.0f} KB, over {limit} KB (Gmail "
                f"clips messages at about 102 KB); its template counts the papers of `more` but lists "
                f"{clipped.unlisted} of them (the default digest.html lists each by title: {{% for p in more %}}), so "
                f"every paper stays a card; " + clipped.advice
            )
        elif clipped is not None and clipped.shown < clipped.total:
            warnings.append(
                f"digest for {subscriber.email}: HTML body is {clipped.full / 1024:.0f} KB with every paper in full, "
                f"over {limit} KB (Gmail clips messages at about 102 KB), so its last "
                f"{clipped.total - clipped.shown} of {clipped.total} papers are listed "
                f"{'in brief, without their abstracts' if clipped.brief else 'by title only'}; to show each "
                "in full, " + clipped.advice
            )
        elif size > limit * 1024:
            advice = clipped.advice if clipped is not None else self._advice(
                self.context(subscriber, matches, now), size)
            warnings.append(
                f"digest for {subscriber.email}: HTML body is {size / 1024:.0f} KB, over "
                f"{limit} KB (Gmail clips messages at about 102 KB); " + advice
            )
        return Composed(
            data,
            subject,
            message_id,
            body.paper_ids if body is not None else tuple(m.paper.id for m in matches),
            parts,
            tuple(warnings),
            dot_safe=isinstance(self.writer, MessageWriter),
        )

    def _advice(self, ctx: dict, size: int) -> str:
        """What would make a digest too big for Gmail fit, in numbers, worked
        out once for the subscribers of one digest: "lower max_papers or
        abstract_chars" was said of a 60-paper digest of 160 KB whose
        abstracts were 36 KB of it, where no abstract_chars could do it.
        The papers that fit are counted at this digest's size per paper,
        past what the digest's frame takes (its cards cut by
        :meth:`_cut_html`, as a clipped digest is); both aim a little under
        the limit, as the papers' sizes vary."""
        cards = ctx["all_papers"]
        key = (tuple(ctx["subscriber"].topics), tuple(c.paper.id for c in cards))
        if key not in self._fits:
            if len(self._fits) >= CARD_CACHE:
                self._fits.clear()
            self._fits[key] = self._advised(ctx, size)
        return self._fits[key]

    def _advised(self, ctx: dict, size: int) -> str:
        email = self.config.email
        budget = int(email.max_html_kb * 1024 * FIT_MARGIN)
        cards = ctx["all_papers"]

        def bytes_with(shown: int) -> int:
            return len(self._cut_html(ctx, shown, listed=False)[0].encode("utf-8"))

        frame = bytes_with(0)
        fit = len(cards) * max(budget - frame, 0) // max(size - frame, 1)
        # the best papers come first and may be the longest: counted again on the digest cut there
        while 1 < fit < len(cards) and bytes_with(fit) > budget:
            fit -= 1
        papers = (f"max_papers to about {fit} (it has {len(cards)})" if fit else
                  "max_papers" if len(cards) > 1 else "the template's size")
        abstracts = sum(len(str(c.abstract_html).encode("utf-8")) for c in cards)
        if not abstracts or size - abstracts > budget:
            return f"lower {papers}: its abstracts are {abstracts / 1024:.0f} KB of it, so no abstract_chars makes it fit"
        longest = email.abstract_chars or max(len(c.abstract) for c in cards)
        chars = int(longest * (1 - (size - budget) / abstracts))
        if chars < MIN_ABSTRACT_CHARS:  # "abstract_chars to about 7 (it is 600)" was advice no one could take
            return f"lower {papers}: abstract_chars would have to be about {chars} (it is {longest}), too short to read"
        return f"lower {papers}, or abstract_chars to about {chars} (it is {longest})"

    # -- one body for many subscribers ------------------------------------------------

    def prepare(self, subscriber: Subscriber, matches: Sequence[PaperMatch], now: datetime) -> bool:
        """Make the shared body :meth:`compose` would use for this digest
        (see :meth:`_body`), without the message; true when it was not made
        before.  A big send's parent makes the common ones before it forks
        its workers, which then inherit them instead of each making them."""
        if not self.share_bodies or not matches:
            return False
        before = len(self._bodies)
        return self._body(subscriber, matches, now) is not None and len(self._bodies) != before


    def _values(self, subscriber: Subscriber) -> tuple[dict[str, str], dict[str, str]]:
        """Each personal token's value in the HTML part (escaped) and in the text part and subject."""
        email_token, name_token, unsubscribe_token = self._tokens
        text = {email_token: subscriber.email, name_token: greeting_name(subscriber)}
        url = unsubscribe_url(self.config, subscriber)
        if url is not None:
            text[unsubscribe_token] = url
        return {k: str(escape(v)) if _HTML_SPECIAL.search(v) else v for k, v in text.items()}, text

    def _tokenised(self, subscriber: Subscriber, matches: Sequence[PaperMatch], now: datetime) -> dict:
        """The template context with a token in place of each personal value."""
        email_token, name_token, unsubscribe_token = self._tokens
        stand_in = subscriber.model_copy(update={"email": email_token, "name": name_token if subscriber.name else None})
        ctx = self.context(stand_in, matches, now)
        ctx["name"] = name_token
        if ctx.get("unsubscribe") is not None:
            ctx["unsubscribe"] = unsubscribe_token
        ctx["_stand_ins"] = _StandIns(self._token_pattern)
        return ctx

    def _body(self, subscriber: Subscriber, matches: Sequence[PaperMatch], now: datetime) -> _Body | None:
        """The shared body for this digest (made on first use), or None when
        the templates use a personal value other than by printing it."""
        personal = ("email", "name")
        key = (
            now,
            # by identity: hashing the papers costs more than the rest of a
            # shared digest; the body holds the matches, so no id is reused
            tuple(map(id, matches)),
            subscriber.name is None,
            repr([v for k, v in subscriber.__dict__.items() if k not in personal]),
        )
        body = self._bodies.get(key)
        if body is not None:
            return body
        ctx = self._tokenised(subscriber, matches, now)
        subject, html, text = self._render_context(ctx)
        if ctx["_stand_ins"].wrapped:
            # `{% filter flowed %}Hello {{ name }}, ...`: lines wrapped around the token, not the name
            log.debug("templates wrap a personal value (flowed): every digest rendered whole")
            self.share_bodies = False
            return None
        holes = self._token_pattern
        holed = _Holed(subject, holes), _Holed(html, holes), _Holed(text, holes)
        if self._checks_left:
            # The first few bodies are also rendered for their real subscriber:
            # tokens filled in must give exactly that.  A template that tests,
            # measures or transforms a name or an address renders every email whole.
            self._checks_left -= 1
            real = self._render_context(self.context(subscriber, matches, now))
            html_values, text_values = self._values(subscriber)
            filled = holed[0].fill(text_values), holed[1].fill(html_values), holed[2].fill(text_values)
            if filled != real:
                log.debug("templates use personal values beyond printing them: every digest rendered whole")
                self.share_bodies = False
                return None
        inlined, clipped = self._fit(ctx, html)
        encode = self.writer.encoded_line if isinstance(self.writer, MessageWriter) else None
        body = _Body(
            tuple(matches),
            tuple(m.paper.id for m in matches),
            holed[0],
            _Holed(inlined, holes),
            holed[2],
            EncodedBody(inlined, self._tokens, encode),
            EncodedBody(text, self._tokens, encode),
            clipped,
        )
        if len(self._bodies) >= BODY_CACHE:
            self._bodies.clear()
        self._bodies[key] = body
        return body


#: Distinct digest bodies kept for reuse (cleared when full).
BODY_CACHE = 64


@dataclass(frozen=True, slots=True)
class Clip:
    """A digest over ``email.max_html_kb`` (see :meth:`Composer._fit`): its
    size with every paper in full, how many papers stand as cards (fewer
    than ``total``: the rest are listed by title only), how many it has,
    what would make it fit, and, where its template counts ``more`` but
    does not list each of its papers, how many of them it lists, 'none' or
    'only some' (it keeps every card).  No count: the one the size search
    met first (half the papers, as it happens) said nothing of this digest."""

    full: int
    shown: int
    total: int
    advice: str = ""
    unlisted: str = ""
    brief: bool = False
    """The papers past the cards are listed in brief (title, authors, why,
    links), not by title only."""


class _Watched:
    """A paper of ``more`` while a clipped digest renders: records whether
    the template read anything of it (its title, its link), so a template
    that only counts ``more`` (``{{ more | length }} more papers``) and
    lists none of them is found, not sent with those papers shown nowhere."""

    __slots__ = ("card", "read")

    def __init__(self, card: Card) -> None:
        self.card = card
        self.read = False

    def __getattr__(self, name: str):
        self.read = True
        return getattr(self.card, name)

    def __getitem__(self, name: str):
        self.read = True
        return self.card[name]

    def get(self, name: str, default=None):
        self.read = True
        return self.card.get(name, default)


def _liked_alone(m: PaperMatch, reason: str) -> str | None:
    """The liked paper's title when the card's reason says that and nothing else (see :attr:`Card.liked`)."""
    first = m.topic_reasons[0] if m.topic_reasons else None
    if first is None or not first.ranked or first.liked is None:
        return None
    return title_shown(first.liked) if reason == liked_in_words(first.liked) else None


def _shared_reasons(cards: Sequence[Card]) -> dict:
    """The reason in words and the matched words every card of a section
    gives alike (``reason``, ``reasons``: each "" or [] where they differ, or
    for one card), and ``liked_reason``, "similar to papers you liked", where
    each card is here for a liked paper, not all the same.  The templates say
    them once, under the section's heading: a topic liking one paper wrote
    "Similar to a paper you liked, “...”" on each of its cards, a topic of one
    term "Why: transformer" on each, and a reader learnt nothing from the
    second on; a topic liking two papers wrote "Similar to a paper you liked,"
    on each card before the title it names, which is all a card says then
    ("Closest to “...”")."""
    if len(cards) < 2:
        return {"reason": "", "reasons": [], "liked_reason": ""}
    first = cards[0]
    reason = first.reason_here if all(c.reason_here == first.reason_here for c in cards) else ""
    words = first.reasons if all(c.reasons == first.reasons for c in cards) else []
    liked = SIMILAR_TO_LIKED if not reason and all(c.liked for c in cards) else ""
    return {"reason": reason, "reasons": list(words), "liked_reason": liked}


def _cut(ctx: dict, shown: int) -> dict:
    """The context with the first ``shown`` papers (the best) as cards in
    their sections, and the rest in ``more`` (in order) and in
    ``more_sections`` (by topic, as the cards are: a list of titles whose
    topics alternate read as a jumble).  A section's reason said once under
    its heading is said again of the cards it keeps: over one card it is
    that card's own ("Why, for every paper below:" stayed over a lone card);
    so is the one the papers listed in brief share, said over them once
    ("Why: guarantees" ended each of 86 lines alike)."""
    papers = ctx["all_papers"]
    kept = {id(card) for card in papers[:shown]}
    sections, more = [], []
    for section in ctx["sections"]:
        cards = [card for card in section["papers"] if id(card) in kept]
        rest = [card for card in section["papers"] if id(card) not in kept]
        if cards:
            sections.append({**section, "papers": cards, "count": len(cards), **_shared_reasons(cards)})
        if rest:
            more.append({**section, "papers": rest, "count": len(rest), **_shared_reasons(rest)})
    return {**ctx, "sections": sections, "more": papers[shown:], "more_sections": more}


def _template_names(env: jinja2.Environment) -> set[str]:
    """The names the HTML template reads from its context: whether it shows
    ``more`` (the papers a digest too big for Gmail lists in brief or by
    title), which one of the user's own from before may not."""
    from jinja2 import meta

    source = env.loader.get_source(env, HTML_TEMPLATE)[0] if env.loader is not None else ""
    return meta.find_undeclared_variables(env.parse(source))


#: What HTML escaping changes; a value without any is its own escaped form
#: (``escape`` makes a ``Markup`` object for each of a message's three values).
_HTML_SPECIAL = re.compile(r"[&<>'\"]")


@dataclass(frozen=True, slots=True)
class _Body:
    """One digest as rendered for a stand-in subscriber whose address, name
    and unsubscribe link are tokens: subject, inlined HTML and text with the
    tokens in, and both parts already quoted-printable but for the lines
    holding a token."""

    matches: tuple[PaperMatch, ...]
    paper_ids: tuple[str, ...]
    subject: _Holed
    html: _Holed
    text: _Holed
    html_qp: EncodedBody
    text_qp: EncodedBody
    clipped: Clip | None = None

    def parts(self, html_values: dict[str, str], text_values: dict[str, str]) -> tuple[str, str]:
        """(HTML, text) for one subscriber's values."""
        return self.html.fill(html_values), self.text.fill(text_values)


class _Holed:
    """A text cut at its tokens, so filling it in is one join."""

    __slots__ = ("parts", "static_bytes")

    def __init__(self, text: str, tokens: re.Pattern) -> None:
        self.parts = tokens.split(text)  # the pattern captures: tokens at odd indexes
        self.static_bytes = sum(len(p.encode("utf-8")) for p in self.parts[0::2])

    def fill(self, values: dict[str, str]) -> str:
        parts = list(self.parts)
        parts[1::2] = [values.get(t, t) for t in parts[1::2]]
        return "".join(parts)

    def size(self, values: dict[str, str]) -> int:
        """UTF-8 bytes of :meth:`fill`'s result, without encoding it."""
        return self.static_bytes + sum(len(values.get(t, t).encode("utf-8")) for t in self.parts[1::2])


# --------------------------------------------------------------------------- CSS inlining

#: A line break and the indentation after it.
_INDENT = re.compile(r"\n[ \t]+")
#: What makes indentation show: text laid out as written, in any case and spacing CSS allows
#: (`WHITE-SPACE: PRE`, `white-space : pre`, `break-spaces`, `white-space-collapse: preserve` kept it too),
#: looked for in the lower-cased HTML, each only where a plain substring says it may be: one case-blind
#: pattern of the three took 1.5 ms a digest (tried at every character), 3 s of a 10,000-digest send.
_PRE_TAG = re.compile(r"<(?:pre|textarea)\b")
_WHITE_SPACE_PRE = re.compile(r"white-space(?:-collapse)?\s*:\s*(?:pre|break-spaces|preserve)")
_PRE_VALUE = re.compile(r"\bpre-(?:wrap|line)\b")


def _preformatted(html: str) -> bool:
    low = html.lower()
    return bool(
        (("<pre" in low or "<textarea" in low) and _PRE_TAG.search(low))
        or ("white-space" in low and _WHITE_SPACE_PRE.search(low))
        or (("pre-wrap" in low or "pre-line" in low) and _PRE_VALUE.search(low))
    )


def unindented(html: str) -> str:
    """``html`` without the indentation after its line breaks, which stay
    (so the text reads the same: a break is a space): the templates'
    indentation was 2 KB of a 60-paper digest, which Gmail clips at 102 KB.
    Not in HTML holding preformatted text (``<pre>``, ``white-space: pre``),
    where the spaces show."""
    if _preformatted(html):
        return html
    return _INDENT.sub("\n", html)


#: The ``email.inliner`` choices; ``css-inline`` is the default.
INLINERS = ("css-inline", "premailer")


def css_inliner() -> Callable[[str], str]:
    """Move the ``<style>`` rules into ``style=""`` attributes with ``css_inline``
    (a maintained Rust library, well under a millisecond for a digest).

    ``@media`` and other at-rules, which cannot be inlined, stay in a
    ``<style>`` block at the top of ``<head>``; nothing is fetched over the
    network; ``width``/``height`` rules on tables and images are also written
    as attributes, as Outlook reads those.
    """
    import css_inline

    inline = css_inline.CSSInliner(
        keep_at_rules=True,
        minify_css=True,
        load_remote_stylesheets=False,
        apply_width_attributes=True,
        apply_height_attributes=True,
    ).inline

    def run(html: str) -> str:
        out = inline(html)
        # A text part ends with a line break: the message keeps the HTML as given.
        return out if out.endswith("\n") else out + "\n"

    return run


def premailer_inline(html: str) -> str:
    """The same job with premailer (``email.inliner: premailer``): pure Python,
    15-90 ms an email, and it also writes ``bgcolor``/``align`` attributes."""
    import premailer

    return premailer.Premailer(
        html,
        allow_network=False,
        strip_important=False,
        cssutils_logging_level=logging.CRITICAL,
        disable_validation=True,
    ).transform()


def make_inliner(name: str) -> Callable[[str], str]:
    """The inliner ``email.inliner`` names (one of :data:`INLINERS`)."""
    return premailer_inline if name == "premailer" else css_inliner()


# --------------------------------------------------------------------------- validate


def _full_sample(sub: Subscriber, now: datetime) -> PaperMatch:
    """A second sample paper with every value a source may give (id, links,
    date, category, upvotes, code, a reason in words, a second topic): beside
    the first, the digest shows what only a digest of two papers, or of such
    a paper, shows (the contents list, a card's links), so a misspelt name
    there is found by ``validate``, not by the first real ``send``."""
    from .matching import Hit
    from .models import Paper

    paper = Paper(
        title="A second sample paper", abstract="Its abstract.", source="validate", arxiv_id="2401.00001",
        authors=("C. Author",), url="https://arxiv.org/abs/2401.00001", pdf_url="https://arxiv.org/pdf/2401.00001",
        published=now, categories=("cs.LG",), upvotes=3, github="https://github.com/example/sample",
        comment="8 pages",
    )
    topics = tuple(sub.topics[1::-1]) if len(sub.topics) > 1 else (sub.topics[0],)
    hit = Hit("abstract", "abstract", "abstract")
    reasons = (ranked(("samples",)),) + (rules_reason((hit,)),) * (len(topics) - 1)
    return PaperMatch(paper, 0.9, topics, ("abstract",), (hit,), topic_reasons=reasons)


#: What a scan of a style sheet steps over whole: comments, quoted strings, and Jinja's own
#: blocks (style.css is included through Jinja), whose braces are no CSS.
_CSS_OPAQUE = lazy(r"/\*.*?(?:\*/|\Z)|\"(?:[^\"\\\n]|\\.)*\"|'(?:[^'\\\n]|\\.)*'|\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}",
                         re.S)


def css_problems(config: Config) -> list[Problem]:
    """For ``newsletter validate``: a brace left open or closed twice in the
    user's own ``style.css``.  CSS parsers skip to the end of a broken rule,
    which a lost ``}`` puts at the end of the file: the inliner then styled
    3 elements of 108, and validate said OK."""
    folder = config.templates_dir
    css = folder / "style.css" if folder else None
    if css is None or not css.is_file():
        return []
    text = css.read_text(encoding="utf-8-sig", errors="replace")
    opened: list[int] = []  # where each open block starts
    at = 0
    for m in itertools.chain(_CSS_OPAQUE.finditer(text), [None]):
        chunk = text[at : m.start() if m else len(text)]
        for i, c in enumerate(chunk, at):
            if c == "{":
                opened.append(i)
            elif c == "}" and not opened:
                return [Problem("a '}' closes no block (one too many): the rule after it is lost", str(css),
                                line_of(text, i))]
            elif c == "}":
                opened.pop()
        at = m.end() if m else len(text)
    if opened:
        return [Problem("this block's '{' is never closed: every rule after it is lost (the digest goes out "
                        "almost unstyled); add the '}'", str(css), line_of(text, opened[0]))]
    return []


def check_templates(config: Config) -> list[Problem]:
    """For ``newsletter validate``: the templates load, and render a sample
    digest (one paper with markup in its title; two, one with every value,
    and the same with a contents list, and with the second listed by title as
    past Gmail's clip; one with a
    title and an abstract only; and an empty one) without error."""
    from .matching import Hit
    from .models import Paper

    try:
        composer = Composer(config)
        sub = (
            config.subscribers[0]
            if config.subscribers
            else Subscriber(email="preview@example.org", topics=[next(iter(config.topics))])
        )
        paper = Paper(
            title="A <sample> paper & its title",
            abstract="An abstract with <markup> & entities, long enough to be trimmed. " * 20,
            source="validate",
            authors=("A. Author", "B. Author"),
        )
        match = PaperMatch(paper, 2, (sub.topics[0],), ("sample",), (Hit("sample", "title", "sample"),))
        now = datetime(2024, 1, 1, 8, 0, tzinfo=ZoneInfo("UTC"))
        composer.compose(sub, [match], now=now, message_id="<validate@localhost>")
        composer.compose(sub, [match, _full_sample(sub, now)], now=now, message_id="<validate@localhost>")
        # the contents list, which a digest shows from CONTENTS_MIN papers on, and the cards' links to it
        composer._render_context({**composer.context(sub, [match, _full_sample(sub, now)], now), "contents": True})
        if composer.lists_more:  # the list past Gmail's clip, which only a digest over max_html_kb renders
            cut = _cut(composer.context(sub, [match, _full_sample(sub, now)], now), 1)
            for brief in (True, False) if composer.tells_brief else (False,):  # in brief, or titles only
                composer._render_context({**cut, "more_brief": brief})
        # a paper with a title and an abstract only, as saved Hugging Face pages give them: a
        # template reading p.authors[0] passed validate and stopped the first send
        bare = Paper(title="A bare sample paper", abstract="Only a title and an abstract.", source="validate")
        composer.compose(sub, [PaperMatch(bare, 1, (sub.topics[0],), ("sample",), ())], now=now,
                         message_id="<validate@localhost>")
        composer.compose(sub, [], now=now, message_id="<validate@localhost>")
    except NewsletterError as exc:
        return list(exc.problems)
    return css_problems(config)


def unsubscribe_advice(config: Config) -> list[Problem]:
    """For ``newsletter validate``: the user's own ``digest.html`` or
    ``digest.txt`` (a copy of the defaults, edited) whose digest shows no way
    to unsubscribe.  Cutting the footer down dropped the link without a word;
    the header alone is not shown by every mail client, and a list with no
    visible way out gets its mail reported as spam."""
    folder = config.templates_dir
    # a mailing list's digest has no link of its own (its list manager handles leaving it)
    sub = next((s for s in config.subscribers if not s.mailing_list), None)
    if folder is None or sub is None:
        return []
    url = unsubscribe_url(config, sub)
    if not url:
        return []
    composed = Composer(config).compose(sub, [], now=datetime(2024, 1, 1, 8, 0, tzinfo=ZoneInfo("UTC")),
                                        message_id="<validate@localhost>")
    shown = {HTML_TEMPLATE: (url in composed.html or str(escape(url)) in composed.html), TEXT_TEMPLATE: url in composed.text}
    return [
        Problem(f"the digest it renders has no unsubscribe link ({{{{ unsubscribe }}}} is used nowhere): the default "
                f"{name}'s footer has one; without it readers see no way out but to report the digest as spam",
                str(folder / name))
        for name, found in shown.items() if not found and (folder / name).is_file()
    ]


def unused_template_advice(config: Config) -> list[Problem]:
    """For ``newsletter validate``: a file in the ``templates:`` folder named
    almost as one the digest is built from (``styles.css``, ``digest.text``)
    while that one is missing there, and included by no template: the user's
    edits to it were never used, the default was, and nothing said so."""
    folder = config.templates_dir
    if folder is None or not folder.is_dir():
        return []
    files = sorted(f for f in folder.iterdir() if f.is_file())
    texts = "\n".join(f.read_text(encoding="utf-8", errors="replace") for f in files if f.stat().st_size < 1_000_000)
    missing = [name for name in TEMPLATE_NAMES if not (folder / name).is_file()]
    problems = []
    for f in files:
        meant = difflib.get_close_matches(f.name, missing, n=1, cutoff=0.75)
        if meant and f.name not in TEMPLATE_NAMES and f.name not in texts:
            problems.append(Problem(f"not used (did you mean {meant[0]!r}?): the digest is built from "
                                    f"{', '.join(TEMPLATE_NAMES)}; the default {meant[0]} is used instead", str(f)))
    return problems
