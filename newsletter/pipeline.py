"""The library API: the stages chained the way the commands use them.

parse (:mod:`readers`) -> match (:mod:`matching`) -> render -> deliver.
Everything here takes a loaded :class:`~newsletter.config.Config` and returns
plain values, so a script can do what a command does without the CLI::

    from newsletter import load_config, pipeline
    config = load_config("config.yaml")
    for subscriber, matches in pipeline.match(config, pipeline.papers(config)):
        ...
"""

from __future__ import annotations

import logging
import math
import re
import time
import unicodedata
import zoneinfo
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit

from .config import Config, HFDailySource, Subscriber, check_address
from .delivery import (
    IMPLICIT_TLS_PORT,
    Dispatcher,
    Envelope,
    OutboxTransport,
    Outcome,
    Transport,
    as_one_message,
    make_transport,
    sender_address,
    settings_fingerprint,
)
from .errors import ConfigError, DeliveryError, InputError, NewsletterError, Problem, StateError, counted
from .fetching import Fetcher
from .matching import NearMisses, PaperMatch, TopicIndex, max_papers_cut, max_papers_said, not_again_said, topic_index
from .models import Paper, merge_papers, short_title_key
from .patterns import lazy
from .readers import (
    ReadContext,
    SourceRead,
    future_date,
    is_remote,
    look_up_liked,
    offline_hint,
    read_papers,
    read_source,
)
from .reasons import CLOSE_IN_MEANING, said
from .rendering import Composer, unsubscribe_advice, unused_template_advice
from .scheduling import Schedule, is_due, minute_up, next_send, shown_time
from .sending import (
    UNREAD,
    DigestResult,
    FailedSource,
    KeptPools,
    SendReport,
    digest_papers,
    failed_named,
    failed_sources,
    retry_time,
    send,
    skipped_said,
)
from .state import DigestRecord, OpenDigest, SubscriberState, known_earlier, open_state, shared_now
from .tokens import old_secrets_problem, secret_problem

__all__ = [
    "DigestResult",
    "SendReport",
    "UNREAD",
    "TestEmail",
    "Summary",
    "ScheduleRow",
    "History",
    "history",
    "already_sent",
    "match",
    "match_report",
    "max_papers_said",
    "not_again_said",
    "unmatched_topics",
    "papers",
    "papers_read",
    "failed_named",
    "resubscribe",
    "schedules",
    "send",
    "skipped_said",
    "send_test_email",
    "subscribers",
    "unsubscribe",
    "unsubscribed",
    "validate",
]

log = logging.getLogger(__name__)


def papers(config: Config, warn: Callable[[str], None] | None = None, **options) -> list[Paper]:
    """All sources parsed and merged; ``options`` (``fetcher``, ``now``,
    ``offline``) as for :func:`readers.read_papers`."""
    return read_papers(config, warn, **options)


def papers_read(config: Config, warn: Callable[[str], None] | None = None,
                **options) -> tuple[list[Paper], tuple[FailedSource, ...]]:
    """:func:`papers`, and the sources that failed while the others were read
    (see :func:`sending.failed_sources`): ``papers`` and ``match`` end with a
    line naming those not written ``required: false``, as ``send`` does,
    since the warning said while reading had scrolled away above a long
    listing; ``match --json`` lists them all."""
    skipped: list[SourceRead] = []
    found = read_papers(config, warn, skipped=skipped.append, **options)
    return found, failed_sources(skipped)


def subscribers(config: Config, only: str | None = None) -> list[Subscriber]:
    return config.selected_subscribers(only)


def match(
    config: Config,
    all_papers: list[Paper],
    only: str | None = None,
    exclude: Callable[[Subscriber], frozenset[str]] | None = None,
    warn: Callable[[str], None] | None = None,
    left: Mapping[str, datetime] | None = None,
    next_digest: bool = False,
) -> Iterator[tuple[Subscriber, list[PaperMatch]]]:
    """Per subscriber, the papers for its next digest, best first.

    ``exclude(subscriber)`` gives the paper ids it must not get again (the
    ones already sent, from the state).  With ``next_digest`` instead, each
    digest is the one ``send`` builds next, read from the state (read-only):
    :func:`sending.digest_papers`, an owed digest's papers first, one a
    stopped run may have delivered as it was.  Subscribers in ``left`` (by
    default :func:`unsubscribed`, read from the state) get no digest and are
    not yielded.  Topics are matched once for all subscribers; ``warn`` gets
    a line per ``like:`` entry that names no known paper.
    """
    subs, index = _selection(config, all_papers, only, warn, left)
    if next_digest:
        yield from _next_digests(config, index, subs)
        return
    for sub in subs:
        yield sub, index.select(sub, exclude(sub) if exclude else frozenset())


def _next_digests(config: Config, index: TopicIndex, subs: list[Subscriber]) -> list[tuple[Subscriber, list[PaperMatch]]]:
    """Each subscriber's next digest as ``send`` builds it, the state read
    (read-only) once for all: from the papers read now and those the runs
    since its last digest kept (:class:`~newsletter.sending.KeptPools`)."""
    with open_state(config.state_target, readonly=True) as state:
        known = state.plan([sub.email for sub in subs])
        papers = list(index.papers.values())
        pools = KeptPools(config, papers, index, subs, state.listed_times(_EVER[0], _EVER[1]), _EVER[1])
        out = []
        for sub in subs:
            k = known.get(sub.email) or SubscriberState(sub.email)
            out.append((sub, digest_papers(config, pools.of(k, state)[0], sub, k, state.papers)))
        return out


#: Every time a kept paper may have been read at (a read-only look, with no run's time to go by).
_EVER = (datetime(1970, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC))


def owed_message_ids(config: Config, only: str | None = None) -> dict[str, str]:
    """The Message-ID of each subscriber's owed digest (a delivery failed, or
    a run stopped while sending it), by address: ``send`` sends it again
    under it.  Read-only."""
    with open_state(config.state_target, readonly=True) as state:
        known = state.plan([sub.email for sub in subscribers(config, only)], with_sent=False)
    return {email: k.open.message_id for email, k in known.items() if k.open}


def _selection(
    config: Config,
    all_papers: list[Paper],
    only: str | None,
    warn: Callable[[str], None] | None,
    left: Mapping[str, datetime] | None,
    near: int = 0,
) -> tuple[list[Subscriber], TopicIndex]:
    """The subscribers who get a digest (not in ``left``, by default read from
    the state) and the topic index over their topics: what :func:`match` and
    :func:`match_report` select from."""
    if left is None:
        left = unsubscribed(config, only)
    subs = [s for s in subscribers(config, only) if s.email not in left]
    return subs, topic_index(config, _known_earlier(config, all_papers), subs, warn, near=near)


def _known_earlier(config: Config, papers: list[Paper]) -> list[Paper]:
    """``papers`` as ``send`` takes them (:func:`~newsletter.state.known_earlier`,
    the state read-only): one sent earlier under another title is sent."""
    with open_state(config.state_target, readonly=True) as state:
        return known_earlier(state, papers)


@dataclass(frozen=True)
class _Following:
    """Stands for "someone following every topic" where :func:`topic_index` wants subscribers."""

    topics: tuple[str, ...]


def unmatched_topics(
    config: Config,
    all_papers: list[Paper],
    topics: list[str] | None = None,
    warn: Callable[[str], None] | None = None,
    index: TopicIndex | None = None,
) -> list[Problem]:
    """The topics (default: all) that select no paper among ``all_papers``,
    each as a problem located at the topic in the config: a rule with a typo,
    or a floor set too high, would otherwise read as a quiet week.  ``index``
    reuses a :func:`topic_index` already built over those topics."""
    keys = list(dict.fromkeys(topics if topics is not None else config.topics))
    if not keys:
        return []
    if index is None:
        index = topic_index(config, all_papers, [_Following(tuple(keys))], warn, near=1)
    n = len(all_papers)
    return [
        config.problem(("topics", key), f"matches none of the {counted(n, 'paper')} in the current sources"
                       + (_floor_hint(index.near.get(key)) or _missing_data_hint(config.topics[key], all_papers)
                          or _no_liked_hint(config.topics[key], index.near.get(key))))
        for key in keys
        if not index.results.get(key)
    ]


def _floor_hint(near: NearMisses | None) -> str:
    """A ranked topic whose ``min_score`` is above every paper's relevance:
    validate said only "matches none of the 336 papers", read as a topic
    with nothing on it; the floor is the cause, and the value that takes the
    best paper is the fix (cut, not rounded, as ``match`` shows it)."""
    if near is None or not near.papers:
        return ""
    paper, relevance = near.papers[0]
    cut = math.floor(relevance * 100) / 100
    title = paper.title if len(paper.title) <= 60 else paper.title[:59] + "…"
    return (f" (its min_score {near.floor:g} is over them all: the best, {title!r}, has relevance "
            f"{math.floor(relevance * 1000) / 1000:.3f}; `min_score: {cut:.2f}` would take it)")


def _no_liked_hint(topic, near: NearMisses | None) -> str:
    """A topic of liked papers alone none of which is known: it has nothing
    to rank by, every day, where "matches none of the 336 papers" read as a
    quiet day on a subject (each entry is warned of on its own line)."""
    if not topic.like or topic.about or topic.any or topic.all or topic.categories or near is not None:
        return ""
    return (" (none of its like: papers is known, so it has nothing to rank by: name papers of the sources by "
            "arXiv id or title, or describe the interest in an about: sentence)")


def _missing_data_hint(topic, papers: list[Paper]) -> str:
    """Why a topic may match nothing whatever the day: it asks for data its
    sources do not carry.  Hugging Face exports and most feeds give no arXiv
    categories, and exports no authors; a topic relying on them is empty
    every day, which must not read as a run of quiet days."""
    wanted = []
    if topic.categories:
        wanted.append("categories")
    searched = set(topic.fields) if (topic.any or topic.all) else set()
    if searched and not searched & {"title", "abstract"}:
        wanted.extend(sorted(searched - {"categories"}))
    missing = [what for what in wanted if not any(getattr(p, what) for p in papers)]
    if not missing or not papers:
        return ""
    fix = "drop `categories`" if missing == ["categories"] else "search `fields: [title, abstract]` too"
    # (the daily papers' JSON has authors but no categories: "saved pages" sent hf-daily users looking for one)
    givers = ("Hugging Face's papers (saved pages or hf-daily) and most feeds" if missing == ["categories"]
              else "saved Hugging Face pages")
    return (f" (none of them has {' or '.join(missing)}, which {givers} do not give; "
            f"add an arXiv source or {fix})")


def about_advice(config: Config, topics: Iterable[str] | None = None) -> list[Problem]:
    """Advice on how the topics' (default: all) ``about`` is written; not
    errors: each topic works, just poorly.

    - One word and no rules (liked papers or not): measured on the
      samples, ``about: RL`` or ``about: LoRA`` fills a digest with
      papers that merely sound like the word, where one sentence in the
      papers' own words ranks well; a liked paper beside ``about:
      transformers`` still let in papers on "transformations".
    - Over :data:`ranking.LONG_ABOUT_WORDS` words: a pasted abstract ranks by
      all it mentions and its reasons quote odd phrases of it.
    - Not English (:func:`ranking.not_english`): a sentence in French or
      German ranked papers at random, each "close in meaning to your interest".
    - Only what is not wanted (:func:`ranking.only_unwanted`): "Not
      diffusion models." ranked diffusion papers first.
    - Typos (:func:`ranking.misspelt`): "grpah nueral netwroks" ranked at random.
    - British spellings (:func:`ranking.british`): "preference optimisation"
      found DPO-Shift, but named nothing of the sentence as its reason.
    - Search syntax (:func:`about_search_syntax`), told first: the sentence
      is read as words, so ``robot*`` or ``robotics OR manipulation`` is
      ranked as those words and the email's reasons quoted the syntax to
      the reader ("close to your interest: robotics OR manipulation")."""
    from .ranking import LONG_ABOUT_WORDS, british, content_words, misspelt, not_english, only_unwanted

    out = []
    for key in dict.fromkeys(topics if topics is not None else config.topics):
        topic = config.topics[key]
        if not topic.about:
            continue
        where = ("topics", key, "about")
        words = len(topic.about.split())
        if syntax := about_search_syntax(topic.about):
            named = ", ".join(repr(s) for s in syntax[:3])
            out.append(config.problem(where, (
                f"{named} {'is' if len(syntax) == 1 else 'are'} search syntax, which 'about' reads as plain words "
                "(a sentence is ranked by its words, and a paper's reason in the email quotes them); write the "
                "interest as you would say it, and put keywords to match (word*, /regex/) under any:, words that "
                "leave a paper out under none:")))
        elif lines := unmarked_lines(topic.about):
            shown = " / ".join(lines[:3]) + (" / ..." if len(lines) > 3 else "")
            out.append(config.problem(where, (
                f"lists its subjects one a line with nothing between them ({shown}): they are read run "
                "together as one phrase, which no paper writes, so no paper's reason can name one; put '- ' "
                "before each line (a list, read item by item) or a comma after each")))
        elif not (topic.any or topic.all) and len(set(content_words(topic.about))) == 1:
            # liked papers beside it do not make up for it: `about: transformers` with a liked
            # transformer paper still ranked "transformation"-based control laws 0.94 on the samples
            liked = "; the liked papers beside it do not make up for it" if topic.like else ""
            out.append(config.problem(where,
                                      f"{topic.about.strip()!r} is one word; a sentence or two in the words papers "
                                      "use ranks far better (one word, an acronym above all, also brings papers "
                                      f"that merely sound like it){liked}"))
        elif words > LONG_ABOUT_WORDS:
            out.append(config.problem(where, f"'about' is {words:,} words long (a pasted abstract?): one to a few "
                                      "sentences rank best and give reasons that read well; put a paper you want "
                                      "more of under like:"))
        elif (unknown := not_english(topic.about)) is not None:
            named = f" ({', '.join(repr(w) for w in unknown[:3])} occur in no English paper)" if unknown else ""
            out.append(config.problem(where, (
                f"does not read as English{named}: the ranking reads English, so a sentence in another language "
                "ranks papers almost at random; write the interest in English, in the words papers use")))
        elif only_unwanted(topic.about):
            out.append(config.problem(where, "'about' says only what you do not want, so its words are the query "
                                      "and rank exactly those papers first: describe what you want; to leave "
                                      "papers out, list their terms under none:"))
        elif slips := misspelt(topic.about):
            named = ", ".join(f"{word!r} (did you mean {near!r}?)" for word, near in slips[:3])
            out.append(config.problem(where, f"{named} occur{'s' * (len(slips) == 1)} in no paper: a word no paper "
                                      "uses ranks nothing"))
        elif spelt := british(topic.about):
            mine, theirs = (", ".join(repr(w[i]) for w in spelt[:3]) for i in (0, 1))
            out.append(config.problem(where, f"{mine} {'is' if len(spelt) == 1 else 'are'} spelt {theirs} in most "
                                      "papers: the ranking and its reasons read words as papers spell them, so "
                                      "the American spelling ranks better"))
    return out


#: What a search box or a keyword rule writes but a sentence does not: the
#: operators in capitals, a prefix's ``*``, a ``/regex/``, a field prefix.
_ABOUT_SYNTAX = lazy(
    # capitals between two words, each side no operator itself ("AND, OR and NOT gates", "combinatorial OR
    # problems" are prose: an operator is caught as one joining operands, `a OR b`, with no list around it)
    r"(?<=[\w\")*/]\s)(?:AND\s+NOT|OR|AND|NOT|\|\|?|&&)(?=\s[\w\"(])(?!\s(?:gates?|problems?|logic|and|or)\b)"
    r"(?<!\bin\sOR)(?<!\bthe\sOR)(?<!\bof\sOR)(?<!\bfor\sOR)"  # (OR the field: "in OR", "the OR")
    # robot*: a stem of 3 letters or more (C*-algebras, A* search, L*, weak* topology are names), no Markdown
    r"|(?<![\w*])(?!weak\*)[A-Za-z][\w-]{2,}\*(?![\w*-])"
    # /regex/: with a metacharacter inside (the /r/ and /l/ of phonetics are prose)
    r"|(?:^|(?<=\s))/(?=[^/\s]*[?*+|()\[\]\\.^$])[^/\s][^/]*/(?=\s|$|[,;.])"
    r"|\b(?:ti|abs|au|cat|all):(?=[\w\"(])"                # arXiv's search fields
)

#: Words a wrapped sentence's line ends on, or its next line starts with.
_JOINING = frozenset("for of and or with to in on from the a an by as via into over under at".split())


def unmarked_lines(about: str) -> list[str]:
    """The lines of an ``about`` written as a list without marks (``about: |``,
    then ``robotics``, ``grasping``, ``manipulation`` a line each), or [] for
    anything else.  Items with ``- `` before them are read as a list (see
    :func:`config._about_of_a_list`: they arrive joined by ``; ``); these
    were read as "robotics grasping manipulation", one phrase no paper
    writes, and each paper was only "close in meaning" -- the warning then
    blamed the words.  A sentence wrapped over lines has longer lines or
    ends one with punctuation."""
    lines = [line.strip() for line in about.strip().splitlines() if line.strip()]
    if len(lines) < 2 or any(len(line.split()) > 4 or re.search(r"[.,;:!?]$", line) for line in lines):
        return []
    if any(line.split()[-1].lower() in _JOINING for line in lines[:-1]) or any(
            line.split()[0].lower() in _JOINING for line in lines[1:]):
        return []  # a phrase broken mid-way ("Diffusion models for / image generation"): a sentence
    return lines


def about_search_syntax(about: str) -> list[str]:
    """The pieces of search syntax in an ``about`` sentence, in order, each
    once (none: []).  Only forms prose does not write: ``OR`` in capitals
    between words, ``word*``, a ``/regex/``, ``ti:``."""
    return list(dict.fromkeys(m[0] for m in _ABOUT_SYNTAX.finditer(about)))


def number_advice(config: Config, papers: list[Paper], topics: Iterable[str] | None = None) -> list[Problem]:
    """Terms of the topics (default: all) that miss papers only for the
    grammatical number of their last word: terms are whole words, so the
    contract's own example ``any: ["diffusion model"]`` missed 19 of the 336
    sample papers, which write only "diffusion models" (and none of its
    other terms), and the digest was short with nothing said.  Counted only
    where no other term of the same list matches the paper, so a topic that
    lists both forms, or a prefix, is not told."""
    from .matching import compile_term, field_texts, other_number

    keys = list(dict.fromkeys(topics if topics is not None else config.topics))
    if not papers or not any(other_number(t) for k in keys for kind in ("any", "all", "none")
                             for t in getattr(config.topics[k], kind)):
        return []  # (topics in words only: nothing to fold)
    texts = [field_texts(p) for p in papers]
    folded = [{k: v.casefold() for k, v in t.items()} for t in texts]
    everything = "\n".join(v for f in folded for v in f.values())
    out = []
    for key in keys:
        topic = config.topics[key]
        for kind in ("any", "all", "none"):
            terms = getattr(topic, kind)
            compiled = [compile_term(t) for t in terms]
            for i, text in enumerate(terms):
                form = other_number(text)
                last = re.search(r"[^\W\d_]+$", form or "")  # the changed word: most occur nowhere
                if form is None or last is None or last[0].casefold() not in everything:
                    continue
                variant = compile_term(form)
                others = compiled if kind != "all" else [compiled[i]]
                missed = sum(
                    1 for t, f in zip(texts, folded, strict=True)
                    if any(variant.search(t[name], f[name]) for name in topic.fields)
                    and not any(term.search(t[name], f[name]) for term in others for name in topic.fields)
                )
                if missed:
                    message = _number_message(text, form, kind, missed, len(papers))
                    out.append(config.problem(("topics", key, kind, i), message))
    return out


def author_advice(config: Config, papers: list[Paper], topics: Iterable[str] | None = None) -> list[Problem]:
    """Terms of the topics (default: all) that name authors where the topic
    does not search them: ``fields:`` is title and abstract unless set, so
    a reader coming from arXiv's alerts with "papers by these authors" wrote
    the names under ``any:`` and got none of their papers, nothing said
    (or only "matches none of the papers" when every term was a name).  Told
    of a term that matches no paper in the topic's fields and some papers'
    authors.  Each term is searched once in all papers' authors joined (and
    only a name found there in the other fields joined): 200 topics over
    5,000 papers one paper at a time were millions of searches; and a term
    with a word no author's name has (most of a topic's terms) is passed
    over on a set look-up, before any search: 860 terms searched in the
    joined names of 5,000 papers took 4.4 s CPU on every match/validate."""
    from .matching import TEXTS_APART, compile_term, field_texts, is_regex_term, tokenize

    if not any(p.authors for p in papers):
        return []  # (saved Hugging Face pages give no authors: nothing to tell)
    joined: dict[str, str] = {}
    texts: list[dict[str, str]] = []

    def every(field: str) -> str:
        if not texts:
            texts.extend(field_texts(p) for p in papers)
        if field not in joined:
            joined[field] = TEXTS_APART.join(t[field] for t in texts)
        return joined[field]

    names: list[tuple[str, frozenset[str]]] = []  # (folded, words) of all authors joined, made when first needed
    whole: set[str] = set()  # every author's whole name, case-folded
    out: list[Problem] = []
    for key in dict.fromkeys(topics if topics is not None else config.topics):
        topic = config.topics[key]
        if "authors" in topic.fields:
            out.extend(_author_spelling(config, key, papers, every))
            continue
        told: list[tuple[int, Problem]] = []  # (words in the name, what is said)
        for kind in ("any", "all"):
            for i, text in enumerate(getattr(topic, kind)):
                if is_regex_term(text.strip()) or not _written_as_name(text):
                    continue
                term = compile_term(text)
                if not names:
                    folded = every("authors").casefold()
                    names.append((folded, tokenize(folded)))
                if (not term.search(every("authors"), *names[0])
                        or any(term.search(every(f)) for f in topic.fields)):
                    continue
                if not whole:
                    whole.update(" ".join(a.split()).casefold() for p in papers for a in p.authors)
                name = " ".join(text.split()).casefold()
                if name not in whole and not any(a.endswith(" " + name) for a in whole):
                    continue  # a word of a name ('Wang Ana' of Jie Wang's, Ana Müller's), not a name
                by = sum(1 for t in texts if term.search(t["authors"]))
                searched = ", ".join(topic.fields)
                told.append((len(name.split()) if name in whole else 1, config.problem(("topics", key, kind, i), (
                    f"{text.strip()!r} is in no paper's {' or '.join(topic.fields)}, but it is an author's name "
                    f"in {by:,} of the {counted(len(papers), 'paper')}: a topic searches its fields: ({searched}); "
                    f"add `fields: [{searched}, authors]`, or give the names a topic of their own with "
                    "`fields: [authors]`"))))
        # a surname alone ('Tanaka', but also 'Bayes', 'Gauss') only beside a whole name: a topic of people
        if any(n > 1 for n, _ in told):
            out.extend(problem for _, problem in told)
    return out


#: Lower-case words of surnames ('van der Berg', 'da Silva'): a name written so is still written as a name.
_PARTICLES = frozenset("van von der den de del della di da das dos du la le ter ten zu bin ibn al el".split())


def _written_as_name(text: str) -> bool:
    """Whether ``text`` is written as a name: each word capitalised (particles
    aside).  'song', 'long' and 'bayes' in a topic are words, not the authors
    Song, Long and Bayes, and were told "it is an author's name"."""
    words = text.split()
    return bool(words) and words[-1][:1].isupper() and all(w[:1].isupper() or w in _PARTICLES for w in words)


def _author_spelling(config: Config, key: str, papers: list[Paper], every: Callable[[str], str]) -> list[Problem]:
    """Terms of topic ``key`` (which searches authors) written as no paper
    writes a name: initials (``K. Tanaka``; arXiv lists ``Kenji Tanaka``)
    or without the name's accents (``Muller`` for ``Ana Müller``); a
    whole given name is not guessed at ('Jun Wang' is not 'Jie Wang').  A term
    matches whole words as written, so each matched none of that author's
    papers, and validate said only that the topic matched nothing."""
    from .matching import _initials, compile_term, is_regex_term

    topic = config.topics[key]
    surnames: dict[str, set[str]] = {}
    out = []
    for kind in ("any", "all"):
        for i, text in enumerate(getattr(topic, kind)):
            name = text.strip()
            if is_regex_term(name) or any(compile_term(text).search(every(f)) for f in topic.fields):
                continue
            if not surnames:
                for paper in papers:
                    for author in paper.authors:
                        if author.split():
                            surnames.setdefault(_unaccented(author.split()[-1]), set()).add(author)
            for surname, given in _name_readings(name):
                # initials ('K. Tanaka'): the authors of that surname and first initial; a whole given name
                # ('Jun Wang' when today's papers have only Jie Wang's): no one, unless only its accents differ
                first = _unaccented(given[:1]) if given and _initials(given) else ""
                close = sorted(a for a in surnames.get(_unaccented(surname), ())
                               if (first and _unaccented(a.split()[0][:1]) == first) or not given
                               or _unaccented(" ".join(a.split())) == _unaccented(f"{given} {surname}"))
                if close:
                    break
            else:
                continue
            shown = ", ".join(repr(a) for a in close[:3]) + (" ..." if len(close) > 3 else "")
            out.append(config.problem(("topics", key, kind, i), (
                f"{name!r} is no author's name as the current papers write it: they write {shown}; a term "
                f"matches whole words as written, so write the name so, or the surname alone, "
                f"{close[0].split()[-1]!r}")))
    return out


def _name_readings(name: str) -> list[tuple[str, str]]:
    """The (surname, given names) readings of a name written without a
    comma: given names first, as papers and the sources write it; else,
    for a name of two words or more, surname first, as PubMed, Scopus and
    East Asian order write it ('Tanaka K', 'Tanaka Kenji'), which matched
    (a term) or pinned (a pin) nothing, with nothing said.  One reading for
    the author warnings and the pin check both, so that neither learns a
    way of writing names the other does not."""
    *given, surname = words = name.split() or [""]
    return [(surname, " ".join(given)), *([(words[0], " ".join(words[1:]))] if given else [])]


def _unaccented(text: str) -> str:
    """``text`` case-folded without its accents: 'Müller' and 'Muller' are one surname here."""
    return "".join(c for c in unicodedata.normalize("NFKD", text.casefold()) if not unicodedata.combining(c))


def _number_message(text: str, form: str, kind: str, missed: int, n: int) -> str:
    """What :func:`number_advice` says of one term: what it misses and what to write."""
    short, long = sorted((text.strip(), form), key=len)
    prefix = f"{short + '*'!r} (a prefix), or " if long.casefold().startswith(short.casefold()) else ""
    alone = "" if kind == "all" else f" and no other {kind}: term matches"
    return (f"{text.strip()!r} matches whole words, not {form!r}, which {missed} of the {counted(n, 'paper')} "
            f"write{'s' * (missed == 1)}{alone}; write {prefix}add {form!r}")


def pin_advice(config: Config, papers: list[Paper], only: str | None = None) -> list[Problem]:
    """``pin:`` where no paper of the sources has authors (saved Hugging Face
    pages give none): pinning can never apply, and the digest looked the same
    as without it, nothing said.  One line for all such subscribers (a list of
    thousands sharing an anchor would say it thousands of times)."""
    wanted = config.subscriber(only).email if only else None
    pinning = [i for i, sub in enumerate(config.subscribers) if sub.pin and wanted in (None, sub.email)]
    if not pinning or not papers:
        return []
    if any(p.authors for p in papers):
        return _pin_spelling(config, papers, pinning)
    more = f" (nor for {counted(len(pinning) - 1, 'more subscriber')} with pin:)" if len(pinning) > 1 else ""
    return [config.problem(("subscribers", pinning[0], "pin"),
                           f"pins authors, but none of the {counted(len(papers), 'paper')} in the current sources "
                           f"has authors (saved Hugging Face pages give none), so no paper is pinned{more}; add an "
                           "arxiv or hf-daily source")]


def _pin_spelling(config: Config, papers: list[Paper], pinning: list[int]) -> list[Problem]:
    """Pins that can never match as written: a name surname first
    (``Lovelace, Ada``; the sources write ``Ada Lovelace``), or one the
    current papers write otherwise (``A. Lovelace`` for ``Ada Lovelace``).
    A pin matches an author's name exactly, so either pinned nothing, with
    no word.  Each name once (subscribers sharing an anchor share pins)."""
    authors = {a.casefold() for p in papers for a in p.authors}
    by_surname: dict[str, set[str]] = {}
    for paper in papers:
        for author in paper.authors:
            if author.split():
                by_surname.setdefault(author.split()[-1].casefold(), set()).add(author)
    problems, said = [], set()
    for i in pinning:
        for j, name in enumerate(config.subscribers[i].pin):
            if name.casefold() in authors or name.casefold() in said:
                continue
            said.add(name.casefold())
            surname, comma, first = (part.strip() for part in name.partition(","))
            readings = [(surname, first)] if comma else _name_readings(name)
            for surname, first in readings:
                close = sorted(a for a in by_surname.get(surname.casefold(), ())
                               if first and a.split()[0][:1].casefold() == first[:1].casefold())
                if close:
                    break
            if len(close) == 1:
                why = f"the current papers write {close[0]!r}; a pin matches a name as the sources write it"
            elif comma and first:
                why = f"it is written surname first; the sources write names first name first: {first} {surname}"
            else:
                continue
            problems.append(config.problem(("subscribers", i, "pin", j), f"{name!r} pins no paper: {why}"))
    return problems


@dataclass(frozen=True)
class MatchReport:
    """What ``newsletter match`` shows: each subscriber's next digest, the
    topics (of those subscribers) that select no current paper, and advice
    on how their topics are written (:func:`about_advice`)."""

    subscribers: tuple[tuple[Subscriber, list[PaperMatch]], ...]
    unmatched: tuple[Problem, ...]
    advice: tuple[Problem, ...] = ()
    #: Per ranked topic (of those subscribers), its best papers just under the floor.
    near: tuple[tuple[str, NearMisses], ...] = ()
    #: Per subscriber whose next digest is empty only because its papers went
    #: out before: how many its topics take now (up to max_papers).
    sent_before: Mapping[str, int] = field(default_factory=dict)
    #: The part of ``advice`` read off the digests (:func:`digest_advice`), which ``preview`` says too.
    digest_advice: tuple[Problem, ...] = ()
    #: Per subscriber whose digest is cut at max_papers: how many papers its
    #: topics take now (not sent before), of which the digest holds the best,
    #: and how many more they take that went out before (see
    #: :func:`~newsletter.matching.max_papers_cut`, which ``send`` counts by too).
    capped: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    #: Per subscriber: the papers its topics take now that went out before and
    #: are back in a newer arXiv version (a replacement, a revised abstract
    #: page): not sent again, and said so (they were left out without a word).
    revised: Mapping[str, tuple[Paper, ...]] = field(default_factory=dict)


def _revised_sent(config: Config, index: TopicIndex, subs: list[Subscriber],
                  exclude: Callable[[Subscriber], frozenset[str]] | None) -> dict[str, tuple[Paper, ...]]:
    """Per subscriber, :meth:`TopicIndex.revised_sent` of the papers that went
    out to it before (``exclude``, else the state's record, read-only): see
    :attr:`MatchReport.revised`.  The state is read only when the sources
    hold a paper in a later version."""
    if not any((p.version or 0) > 1 for p in index.papers.values()):
        return {}
    if exclude is not None:
        sent = {sub.email: exclude(sub) for sub in subs}
    else:
        with open_state(config.state_target, readonly=True) as state:
            known = state.plan([sub.email for sub in subs])
        sent = {email: k.sent_paper_ids for email, k in known.items()}
    return {sub.email: back for sub in subs if (back := index.revised_sent(sub, sent.get(sub.email, frozenset())))}


def match_report(
    config: Config,
    all_papers: list[Paper],
    only: str | None = None,
    exclude: Callable[[Subscriber], frozenset[str]] | None = None,
    warn: Callable[[str], None] | None = None,
    left: Mapping[str, datetime] | None = None,
    next_digest: bool = False,
) -> MatchReport:
    """:func:`match` plus :func:`unmatched_topics`, from one topic index, and
    each ranked topic's :data:`NEAR_MISSES` best papers under its floor.
    Subscribers in ``left`` (see :func:`match`) are left out.  With
    ``next_digest``, each digest is the one ``send`` builds next, read from
    the state (see :func:`match`), instead of ``exclude``'s."""
    subs, index = _selection(config, all_papers, only, warn, left, near=NEAR_MISSES)
    if next_digest:
        results = tuple(_next_digests(config, index, subs))
    else:
        results = tuple((sub, index.select(sub, exclude(sub) if exclude else frozenset())) for sub in subs)
    # "0 papers" right after a send read as rules that match nothing
    before = {
        sub.email: n
        for sub, found in results
        if (exclude or next_digest) and not found and (n := index.count(sub))
    }
    # "3 papers" read as all there were: a newcomer's max_papers: 3 kept 3 of 40 without a word
    capped = {
        sub.email: cut
        for sub, found in results
        if (cut := max_papers_cut(index, sub, exclude(sub) if exclude else frozenset(), len(found)))[0]
    }
    revised = _revised_sent(config, index, subs, exclude) if exclude or next_digest else {}
    followed = list(dict.fromkeys(k for s in subs for k in s.topics))
    digests = tuple(digest_advice(config, index, results, followed))
    return MatchReport(results, tuple(unmatched_topics(config, all_papers, followed, index=index)),
                       (*config.cut_by_comment(), *about_advice(config, followed),
                        *number_advice(config, all_papers, followed),
                        *author_advice(config, all_papers, followed),
                        *pin_advice(config, all_papers, only), *digests),
                       tuple((k, index.near[k]) for k in followed if k in index.near), before, digests, capped,
                       revised)


def digest_advice(config: Config, index: TopicIndex, results: Iterable[tuple[Subscriber, list[PaperMatch]]],
                  topics: Iterable[str]) -> list[Problem]:
    """What the day's digests show of how their topics are written: a
    sentence that takes papers by vague closeness alone, a topic whose papers
    never reach a full digest.  Only ``match`` said it, and a user who went
    from ``validate`` to ``preview`` to ``send`` never saw why a topic was
    missing from the email: ``validate`` and ``preview`` say it too (``send``
    does not: it would say it at every run, to cron's log)."""
    topics = list(topics)
    advised = {p.path for p in about_advice(config, topics)}  # a one-word sentence is told that first, not twice
    return [*(p for p in vague_topics(config, index, topics) if p.path not in advised),
            *crowded_topics(config, index, results)]


def vague_topics(config: Config, index: TopicIndex, topics: Iterable[str]) -> list[Problem]:
    """Sentences none of whose papers writes a phrase of them: each reads only
    "close in meaning to your interest".  "Interesting new methods in machine
    learning." took 20 such papers, a digest of the day's average, and
    nothing said how to do better: either the day has nothing on the
    interest, or the sentence names no subject in the words papers use.
    Topics with rules are left out: the rules vouch for their papers."""
    out = []
    for key in topics:
        topic, taken = config.topics[key], index.results.get(key) or {}
        if not topic.about or topic.any or topic.all or len(taken) < VAGUE_AT_LEAST:
            continue
        if all(tm.reason is not None and tm.reason.in_meaning_only for tm in taken.values()):
            out.append(config.problem(("topics", key, "about"), (
                f"none of the {len(taken)} papers it takes writes a phrase of it (each is only "
                f"'{CLOSE_IN_MEANING}'): either today's papers have nothing on it, or it names no subject in the "
                "words papers use; name the methods, models or problems as papers write them, add like: papers, "
                "or add a rule (any: [...]) to keep days with nothing on it empty")))
    return out


#: A topic in words is called vague (:func:`vague_topics`) from this many papers on.
VAGUE_AT_LEAST = 3


def crowded_topics(config: Config, index: TopicIndex,
                   results: Iterable[tuple[Subscriber, list[PaperMatch]]]) -> list[Problem]:
    """Topics that take papers today of which none reaches a subscriber's
    digest: its ``max_papers`` places all go to its other topics' papers,
    which rank higher.  One digest mixes both kinds on one scale, a keyword
    topic's score n as n/(n+1) (0.50 for one term), under most papers of a
    topic in words (0.9 and more), so a keyword topic next to a sentence
    sent nothing at all, and ``match`` listed the digest without a word of
    that topic.  Only where a topic in words fills the digest (among keyword
    topics alone, more matched terms first is the rule README gives).
    Checked on the digest as if nothing had been sent (its papers may have
    gone out before) and on the one shown; each topic said once, with how
    many more subscribers it leaves out."""
    crowded: dict[str, list[tuple[Subscriber, PaperMatch]]] = {}
    for sub, shown in results:
        whole = index.select(sub)
        if len(whole) < sub.max_papers or not any(m.reasons for m in whole):
            continue  # room left (every topic's papers are in), or keyword topics alone: more terms first, as told
        there = {t for m in (*whole, *shown) for t in m.topics}
        for key in dict.fromkeys(sub.topics):
            if key not in there and index.results.get(key):
                crowded.setdefault(key, []).append((sub, whole[-1]))
    row = {sub.email: i for i, sub in enumerate(config.subscribers)}
    out = []
    for key, subs in crowded.items():
        sub, last = subs[0]
        best = index.best_fit(key) or 0.0
        more = f" (and of {counted(len(subs) - 1, 'more subscriber')})" if len(subs) > 1 else ""
        topic, n = config.topics[key], len(index.results[key])
        fix = (f"raise max_papers, or give {key!r} an about: sentence so its papers rank by relevance too"
               if not (topic.about or topic.like) else "raise max_papers")
        out.append(config.problem(("subscribers", row[sub.email], "topics"), (
            f"{key!r} takes {counted(n, 'paper')} now, {'it is not' if n == 1 else 'none of them is'} in "
            f"{sub.email}'s digest"
            f"{more}: its {counted(sub.max_papers, 'place')} (max_papers) "
            f"{'goes' if sub.max_papers == 1 else 'go'} to its other topics' papers, which rank higher "
            f"(the best of {key!r} at {best:.2f}, the digest's last at {last.fit:.2f}: a keyword topic's score n "
            f"counts as n/(n+1), 0.50 for one term, against the relevance of a topic in words); {fix}")))
    return out


#: How many papers under a ranked topic's floor ``match`` shows (see :class:`MatchReport`).
NEAR_MISSES = 3


@dataclass(frozen=True)
class TopicStanding:
    """Where one paper stands in one topic (:func:`paper_standing`)."""

    topic: str
    taken: bool  # the topic takes the paper (it may still miss a digest: max_papers, sent before)
    why: str  # in words: the reason it is taken (as the email gives it), or why not
    score: float | None = None  # relevance in [0, 1] (ranked topics) or matched-term count
    place: int | None = None  # best first, from 1: among the topic's papers, then those under its floor
    of: int | None = None  # the papers the topic takes
    floor: float | None = None  # ranked topics: the relevance floor
    #: Ranked topics: the relevance the floor cuts.  The same as ``score``,
    #: but for a topic with terms as well, whose ``score`` (its order) fuses
    #: the relevance with the rules' order: a paper shown in at 0.92 may be
    #: 0.41 to the floor, and one at 0.31 kept by a floor of 0.35.
    relevance: float | None = None

    @property
    def takes_at(self) -> float | None:
        """Under the floor: the ``min_score`` (two decimals) that would take it."""
        if self.taken or self.score is None or self.floor is None:
            return None
        return math.floor(self.score * 100) / 100


@dataclass(frozen=True)
class DigestStanding:
    """Whether one paper is in one subscriber's next digest, and why not."""

    subscriber: Subscriber
    place: int | None  # in the next digest, from 1; None when it is not in it
    of: int  # the papers in that digest
    why_not: str | None = None
    pinned: bool = False  # in it for an author the subscriber pins (`pin`)


@dataclass(frozen=True)
class PaperStanding:
    """``newsletter match --paper``: one paper's standing in each topic and
    each subscriber's next digest, to tell "why is it not in my digest?"
    (a floor a little too high, a rule that excludes it, a full digest, a
    paper sent before) from "it is not among today's papers"."""

    paper: Paper
    topics: tuple[TopicStanding, ...]
    digests: tuple[DigestStanding, ...]


def find_paper(all_papers: list[Paper], ref: str) -> Paper:
    """The paper ``ref`` names among ``all_papers``: an arXiv id or link, or a
    title (as ``like`` entries are read); else the one paper whose short name
    (its title before the colon: "DPO-Shift") or a piece of whose title (two
    words or more, whole words) it is.  None found is an :class:`InputError`
    naming the titles that hold the piece, or the nearest title if one is close."""
    import difflib

    from .config import liked_reference
    from .latex import lost_math_shown
    from .models import ARXIV_ID, DOI, NO_DOI_HINT, arxiv_base_id, idless_hint, normalize_title

    wanted = liked_reference(ref.strip())
    key = normalize_title(wanted)
    for paper in all_papers:
        if paper.id == arxiv_base_id(wanted) or paper.title_key == key:
            return paper
    for paper in all_papers:  # a title as the email shows it (ℓ₂ for an export's ell_2)
        if (shown := lost_math_shown(paper.title)) != paper.title and normalize_title(shown) == key:
            return paper
    short = [p for p in all_papers if short_title_key(p.title) == key]
    holding = [p for p in all_papers if len(key.split()) >= 2 and f" {key} " in f" {p.title_key} "]
    if len(short) == 1 or (not short and len(holding) == 1):
        return (short or holding)[0]
    titles = {p.title_key: p.title for p in all_papers}
    close = difflib.get_close_matches(key, list(titles), n=1, cutoff=0.6)
    if len(short or holding) > 1:
        named = sorted(p.title for p in short or holding)
        hint = (f" ({len(named)} titles hold it: {', '.join(repr(t) for t in named[:3])}"
                f"{' ...' if len(named) > 3 else ''}; give more of the title)")
    elif re.fullmatch(DOI, wanted, re.I):
        hint = f" ({NO_DOI_HINT})"
    elif close:
        hint = f" (did you mean {titles[close[0]]!r}?)"
    elif re.fullmatch(ARXIV_ID, wanted):
        idless = idless_hint(all_papers)
        hint = f" ({idless})" if idless else " (a paper of another day's listing is not ranked today)"
    else:
        hint = " (give its arXiv id, or its title as the sources write it)"
    count = counted(len(all_papers), "paper")
    raise InputError(Problem(f"no paper {ref!r} among the {count} the sources give now{hint}"))


def paper_standing(
    config: Config,
    all_papers: list[Paper],
    ref: str,
    only: str | None = None,
    exclude: Callable[[Subscriber], frozenset[str]] | None = None,
    warn: Callable[[str], None] | None = None,
    left: Mapping[str, datetime] | None = None,
) -> PaperStanding:
    """Where the paper ``ref`` (see :func:`find_paper`) stands: in each topic
    the subscribers (``only``, or all) follow, and in each one's next digest,
    selected exactly as :func:`match` selects (``exclude``, ``left`` as there).
    Under a ranked topic's floor it gets its relevance and place, so the
    ``min_score`` that would take it can be read off."""
    from .matching import TopicRule

    if exclude is not None:  # as match
        all_papers = _known_earlier(config, all_papers)
    paper = find_paper(all_papers, ref)
    if left is None:
        left = unsubscribed(config, only)
    subs = subscribers(config, only)
    keys = list(dict.fromkeys(k for s in subs for k in s.topics))
    index = topic_index(config, all_papers, [_Following(tuple(keys))], warn, near=len(all_papers))
    topics = []
    for key in keys:
        topic = config.topics[key]
        placed = index.place(key, paper.id)
        near = index.near.get(key)
        if placed is not None:
            place, count, verdict, score = placed
            # the reason exactly as match and the email word it
            why = said((verdict.why,))
            relevance = verdict.fit if verdict.fit is not None else verdict.relevance
            topics.append(TopicStanding(key, True, why, score, place, count, near.floor if near else None, relevance))
            continue
        # its place among the papers under the floor, which come after the topic's own
        under = next(((n, s) for n, (p, s) in enumerate(near.papers) if p.id == paper.id), None) if near else None
        if near is not None and under is not None:
            count = len(index.results.get(key, {}))
            topics.append(TopicStanding(key, False, "under the floor", under[1], count + under[0] + 1, count, near.floor,
                                        under[1]))
        elif any(liked in (paper.id, paper.title_key, short_title_key(paper.title)) for liked in _liked_keys(topic.like)):
            topics.append(TopicStanding(key, False, "a paper you liked (`like`): never sent back to you"))
        elif topic.has_rules:
            topics.append(TopicStanding(key, False, TopicRule(key, topic).refusal(paper)))
        else:
            topics.append(TopicStanding(key, False, "not ranked today"))
    taken = {s.topic for s in topics if s.taken}
    digests = []
    for sub in subs:
        if sub.email in left:
            digests.append(DigestStanding(sub, None, 0, "unsubscribed: gets no digest"))
            continue
        excluded = exclude(sub) if exclude else frozenset()
        matches = index.select(sub, excluded)
        ids = [m.paper.id for m in matches]
        if paper.id in ids:
            place = ids.index(paper.id)
            digests.append(DigestStanding(sub, place + 1, len(ids), pinned=matches[place].pinned))
        elif liked := [k for k in sub.topics if paper.id in index.liked.get(k, ())]:
            digests.append(DigestStanding(sub, None, len(ids), f"a paper you liked (`like` of "
                                          f"{config.topic_name(liked[0])}): never sent back to you"))
        elif not excluded.isdisjoint(paper.keys):
            again = (f"; read now as its version {paper.version}, and a paper sent is not sent again in a new version"
                     if (paper.version or 0) > 1 else "")
            digests.append(DigestStanding(sub, None, len(ids), f"sent before{again} (`match --all` shows it as if not)"))
        elif taken & set(sub.topics):
            full = (f"its {sub.max_papers} places (max_papers) go to better fits" if sub.max_papers != 1
                    else "its 1 place (max_papers) goes to a better fit")
            digests.append(DigestStanding(sub, None, len(ids), full))
        else:
            digests.append(DigestStanding(sub, None, len(ids), "none of its topics takes it"
                                          + _floor_too_far(config, index, sub, topics, excluded)))
    return PaperStanding(paper, tuple(topics), tuple(digests))


def _floor_too_far(config: Config, index: TopicIndex, sub: Subscriber, topics: list[TopicStanding],
                   excluded: frozenset[str]) -> str:
    """Why the ``min_score`` that takes a paper would still not bring it into
    ``sub``'s digest: in each of its topics that has it under the floor, more
    papers not sent before rank above it than the digest has places.  The
    topic line said "`min_score: 0.57` would take it", the user set it, and
    the paper stayed out of a digest of 5, 26 papers ranking above it."""
    under = [s for s in topics if s.topic in sub.topics and s.takes_at is not None]
    if not under:
        return ""

    def new(p: Paper) -> bool:
        return excluded.isdisjoint(p.keys)

    fewest = None
    for s in under:
        # the topic's own papers, then those under its floor before this one (its place counts both)
        ahead = [index.papers[pid] for pid in index.results.get(s.topic, {})]
        ahead += [p for p, _ in index.near[s.topic].papers[: (s.place or 1) - (s.of or 0) - 1]]
        above = sum(1 for p in ahead if new(p))
        if above < sub.max_papers:
            return ""
        if fewest is None or above < fewest[0]:
            fewest = (above, s.topic)
    assert fewest is not None
    return (f" (nor would a lower min_score bring it in: {counted(fewest[0], 'paper')} of "
            f"{config.topic_name(fewest[1])} rank above it, for {counted(sub.max_papers, 'place')} (max_papers))")


def _liked_keys(like: Iterable[str]) -> Iterator[str]:
    """A topic's ``like`` entries as the keys a paper is known by (id, title key)."""
    from .models import arxiv_base_id, normalize_title

    for entry in like:
        yield arxiv_base_id(entry)
        yield normalize_title(entry)


def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, 11th, 12th, 13th, 21st."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def already_sent(config: Config, only: str | None = None) -> Callable[[Subscriber], frozenset[str]]:
    """``exclude`` for :func:`match`: each subscriber's papers already sent,
    read from the state read-only (``match`` and ``preview`` never write it)."""
    with open_state(config.state_target, readonly=True) as state:
        known = state.plan([sub.email for sub in subscribers(config, only)])
    sent = {email: s.sent_paper_ids for email, s in known.items()}
    return lambda sub: sent.get(sub.email, frozenset())


def unsubscribed(config: Config, only: str | None = None) -> dict[str, datetime]:
    """The config's subscribers who unsubscribed (``newsletter serve`` or
    :func:`unsubscribe`), by address as the config spells it, with the time
    (UTC).  Read-only: every command honours this without writing the state."""
    with open_state(config.state_target, readonly=True) as state:
        return state.unsubscribed(s.email for s in subscribers(config, only))


def unsubscribe(config: Config, email: str, *, now: datetime) -> bool:
    """Record that ``email`` left (as the web page does); False if it already
    had.  Any address is accepted: one removed from the config stays out if it
    is added back."""
    with open_state(config.state_target) as state:
        return state.unsubscribe(email, now)


@dataclass(frozen=True)
class History:
    """What ``newsletter history`` shows: the newest digests (newest first),
    how many the state holds in each status, and the zone each address's
    times are shown in (its own, or the config's for one no longer in it)."""

    digests: list[DigestRecord]
    counts: dict[str, int]
    zones: dict[str, zoneinfo.ZoneInfo]


def history(config: Config, *, email: str | None = None, limit: int = 20) -> History:
    """The digests the state recorded, read-only: ``email``'s (any address,
    one edited out of the config too) or everyone's, the newest ``limit``.
    With a PostgreSQL state it is the one way to look without `psql`."""
    with open_state(config.state_target, readonly=True) as state:
        digests = state.history(email, limit)
        counts = state.digest_counts()
    own = {sub.email.lower(): config.zone(sub) for sub in config.subscribers}
    fallback = zoneinfo.ZoneInfo(config.timezone)
    return History(digests, counts, {d.subscriber: own.get(d.subscriber, fallback) for d in digests})


def resubscribe(config: Config, email: str) -> bool:
    """Let ``email`` receive digests again; False if it had not unsubscribed."""
    with open_state(config.state_target) as state:
        return state.resubscribe(email)

# --------------------------------------------------------------------------- test-email

#: Papers in a sample digest when no topic matches any current paper.
SAMPLE_PAPERS = 5
#: The outbox's subfolder for test emails: among the digests sent they looked
#: like one (and a mailer that takes the outbox's files would send them on).
TEST_EMAIL_FOLDER = "test-email"


@dataclass(frozen=True)
class TestEmail:
    """What :func:`send_test_email` sent."""

    to: str
    transport: str
    papers: int
    subject: str
    message_id: str
    digest_of: str | None  # the subscriber whose digest it was; None for a sample
    note: str | None = None
    #: The ``outbox`` transport's file: nothing was mailed (the starter config's transport).
    path: str | None = None

    def __str__(self) -> str:
        whose = f"{self.digest_of}'s digest" if self.digest_of else "a sample digest"
        n = counted(self.papers, "paper")
        if self.path is not None:
            return (
                f"wrote {whose} ({n}) for {self.to} to {self.path}: {self.subject!r} {self.message_id}\n"
                "the outbox transport writes .eml files and mails nothing: open it in a mail client, "
                "or set delivery.transport: smtp to send it"
            )
        return f"sent {whose} ({n}) to {self.to} via {self.transport}: {self.subject!r} {self.message_id}"


def send_test_email(
    config: Config,
    to: str,
    *,
    now: datetime,
    subscriber: str | None = None,
    transport: Transport | None = None,
    warn: Callable[[str], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> TestEmail:
    """Send one real digest to ``to`` through the configured transport, so a
    user can check the delivery settings and how the email looks.

    With ``subscriber``, it is that subscriber's next digest (or, when
    nothing new is left for them, their digest of every current paper);
    without, a sample digest of the current papers over every topic.  The
    state is only ever read: nothing is recorded, so the next ``send`` is
    the same as if this had not run.  Raises :class:`NewsletterError` (exit 2)
    when there are no papers to show, :class:`DeliveryError` (exit 1) when
    the message was not delivered.
    """
    try:
        to = check_address(to, in_config=False)
    except ValueError as exc:
        raise ConfigError(Problem(f"--to: {exc}")) from None
    domain = to.rpartition("@")[2]
    if config.delivery.transport == "smtp" and _reserved(domain) and not _local_host(config.delivery.host or ""):
        # README's `test-email --to you@example.org` copied as it is: the relay takes it, and it never arrives
        (warn or log.warning)(f"--to: {to!r} is a placeholder address ({domain} is reserved for examples): the "
                              f"server at {config.delivery.host} takes it, and no mail reaches it; give your own address")
    sub = config.subscriber(subscriber) if subscriber else None
    transport = transport or make_transport(config)
    if isinstance(transport, OutboxTransport):
        transport = OutboxTransport(transport.folder / TEST_EMAIL_FOLDER, config=config)
    transport.check()  # e.g. an unset password variable: before fetching anything
    found = read_papers(config, warn, now=now)
    if not found:
        raise InputError(
            Problem(
                f"no papers in the current sources ({counted(len(config.sources), 'source')} read); "
                "nothing to build a test digest from",
                str(config.file),
            )
        )
    note = digest_of = None
    if sub is not None:
        digest_of = sub.email
        # read once, read-only (it was opened three times: three connections to a PostgreSQL state)
        with open_state(config.state_target, readonly=True) as state:
            earlier = known_earlier(state, found)
            known = state.plan([sub.email]).get(sub.email)
            gone = state.unsubscribed([sub.email]).get(sub.email)
        index = topic_index(config, earlier, [sub])
        matches = index.select(sub, known.sent_paper_ids if known else frozenset())
        if not matches:
            matches = index.select(sub)
            note = f"nothing new for {sub.email}; the test digest has their papers already sent"
        # the digest of one who left through the link came without a word, as if they would get it
        if gone is not None:
            note = "; ".join(filter(None, [note, (
                f"{sub.email} unsubscribed {shown_time(gone, config.zone(sub))}: `send` sends them nothing until "
                f"`newsletter resubscribe {sub.email}`; this is the digest they would get then")]))
        if not matches:
            topics = ", ".join(sub.topics)
            raise InputError(
                config.problem(
                    ("subscribers", config.subscribers.index(sub), "topics"),
                    f"no current paper matches {sub.email}'s topics ({topics}) among {len(found)} papers; "
                    "try test-email without --subscriber for a sample digest",
                )
            )
        recipient = sub.model_copy(update={"email": to, "name": None})
    else:
        recipient = Subscriber.model_validate({"email": to, "topics": list(config.topics)})
        matches = topic_index(config, found, [recipient]).select(recipient)
        if not matches:
            first = next(iter(config.topics))
            matches = [PaperMatch(p, 0, (first,), (), ()) for p in found[:SAMPLE_PAPERS]]
            note = f"no current paper matches any topic; the sample shows the first {len(matches)} papers"
    composed = Composer(config).compose(recipient, matches, now=now)
    for warning in composed.warnings:
        (warn or log.warning)(warning)
    outcomes: list[Outcome] = []
    d = config.delivery
    envelope = Envelope(
        0, sender_address(config), to, composed.data, composed.message_id, now, len(matches), composed.dot_safe
    )
    with Dispatcher(
        transport, on_outcome=outcomes.append, retries=d.retries, retry_delay=d.retry_delay, sleep=sleep, left=None
    ) as dispatcher:
        dispatcher.submit(envelope)
    outcome = outcomes[0]
    if not outcome.delivered:
        # a send's words for a digest it leaves to the next run; a test email has no next run
        error = as_one_message(outcome.error or "")
        raise DeliveryError(f"test email to {to} not delivered: {error}")
    written = str(transport.folder / transport.filename(envelope)) if isinstance(transport, OutboxTransport) else None
    return TestEmail(
        to, transport.name, len(matches), composed.subject, composed.message_id, digest_of, note, written
    )


@dataclass(frozen=True)
class Summary:
    sources: int
    papers: int
    topics: int
    subscribers: int
    transport: str
    unfetched: int = 0  # remote sources, not fetched by validate
    fetched: tuple[FetchedSource, ...] = ()  # with validate --fetch: each remote source's outcome
    unmatched_topics: tuple[str, ...] = ()  # topics that select none of the papers read
    dkim_record: str | None = None  # with email.dkim: where the public key must be published (DNS TXT)

    def __str__(self) -> str:
        remote = f", {self.unfetched} remote not fetched" if self.unfetched else ""
        signed = f", DKIM-signed (public key at {self.dkim_record})" if self.dkim_record else ""
        return (
            f"{counted(self.sources, 'source')} ({self.papers} papers{remote}), "
            f"{counted(self.topics, 'topic')}, "
            f"{counted(self.subscribers, 'subscriber')}, {self.transport} delivery{signed}"
        )


@dataclass(frozen=True)
class FetchedSource:
    """A remote source as ``validate --fetch`` found it: its papers, or what went wrong."""

    index: int
    name: str
    url: str
    papers: int | None
    error: str | None = None

    def __str__(self) -> str:
        # the reason is one of validate's errors, printed with the others: said once
        what = counted(self.papers or 0, "paper") if self.error is None else "FAILED (the reason is below)"
        return f"sources[{self.index}] {self.name!r} ({self.url}): {what}"


#: Extra checks run by :func:`validate` (templates, delivery...); each returns problems.
CHECKS: list[Callable[[Config], list[Problem]]] = []


def _check_templates(config: Config) -> list[Problem]:
    from .rendering import check_templates

    return check_templates(config)


CHECKS.append(_check_templates)


def _check_delivery(config: Config) -> list[Problem]:
    """The delivery settings ``send`` would refuse: an unset ``password_env``
    variable, an unreadable ``ca_file``, an outbox that cannot be a folder
    (located at their lines)."""
    if config.delivery.transport != "smtp":
        # the outbox folder is made by send; validate creates nothing
        problem = OutboxTransport(config.outbox_dir, config=config).problem()
        return [problem] if problem else []
    try:
        make_transport(config).check()
    except ConfigError as exc:
        return list(exc.problems)
    return []


CHECKS.append(_check_delivery)


def _check_web_secret(config: Config) -> list[Problem]:
    return [p for p in (secret_problem(config), old_secrets_problem(config)) if p]


CHECKS.append(_check_web_secret)


def _check_dkim_key(config: Config) -> list[Problem]:
    from .signing import key_problem

    problem = key_problem(config)
    return [problem] if problem else []


CHECKS.append(_check_dkim_key)


def _check_ranking_model(config: Config) -> list[Problem]:
    """Topics with ``about``/``like`` need the embedding model: a broken install
    is found by ``validate``, not by the first ``send``.  Loading it takes a
    fraction of a second and happens only when such a topic exists."""
    ranked = [key for key, topic in config.topics.items() if topic.ranked]
    if not ranked:
        return []
    from .ranking import RankingError, load_model

    first = config.topics[ranked[0]]
    try:
        load_model(config.problem(("topics", ranked[0], "about" if first.about else "like"), ""))
    except RankingError as exc:
        return list(exc.problems)
    return []


CHECKS.append(_check_ranking_model)


def _check_state(config: Config) -> list[Problem]:
    """A SQLite state ``send`` could not open (a folder, not a SQLite file, a
    newer schema, damaged in any page) or not write (a read-only file or folder): opened read-only, so ``validate`` still writes
    nothing.  A PostgreSQL state is not connected to here: ``validate``
    stays offline, and ``send`` names a server it cannot reach."""
    if config.state_is_shared:
        return []
    from .state.sqlite import SQLiteState, unwritable

    try:
        state = SQLiteState.open(config.state_path, readonly=True)
        try:
            state.check_intact()
        finally:
            state.close()
    except StateError as exc:
        return [config.problem(("state",), f"{p.file}: {p.message}" if p.file else p.message) for p in exc.problems]
    path = config.state_path
    if problem := unwritable(path):
        return [config.problem(("state",), f"{path}: {problem}")]
    return []


CHECKS.append(_check_state)


def _reach_database(config: Config) -> list[Problem]:
    """``validate --fetch`` goes online, so it logs in to a PostgreSQL state
    too (read-only, creating nothing): run from cron's or a unit's
    environment without ``PGPASSWORD`` or ``.pgpass`` it said OK, and every
    ``send`` then stopped at the database."""
    try:
        with open_state(config.state_target, readonly=True) as state:
            state.digest_counts()
    except StateError as exc:
        return [config.problem(("state",), f"{p.file}: {p.message}" if p.file else p.message) for p in exc.problems]
    return []


def load_for_validate(path: str, *, now: datetime | None = None) -> Config:
    """:func:`~newsletter.config.load_config`, for ``validate``: when the
    config has problems outside its sources, its local source files are read
    too, so one run names every problem (a typo in a topic and a broken
    export both), not the second only after the first is fixed."""
    from .config import load_config

    try:
        return load_config(path)
    except ConfigError as exc:
        part = exc.sources_config
        extra = [p for p in local_source_problems(part, now=now) if p not in exc.problems] if isinstance(
            part, Config) else []
        if not extra and not exc.unset_secrets:
            raise
        found = sorted([*exc.problems, *exc.unset_secrets], key=lambda p: p.line or 0)
        raise ConfigError(*found, *extra) from None


def local_source_problems(config: Config, *, now: datetime | None = None) -> list[Problem]:
    """Every problem of the config's local sources, read as strictly as
    :func:`validate` reads them; remote sources are not fetched."""
    return _read_sources(config, fetch=False, warn=log.warning, progress=None, now=now)[0]


def _read_sources(
    config: Config,
    *,
    fetch: bool,
    warn: Callable[[str], None],
    progress: Callable[[FetchedSource], None] | None,
    now: datetime | None,
) -> tuple[list[Problem], list[Paper], list[FetchedSource]]:
    """Read the sources in config order as :func:`validate` does: local ones
    strictly (a skipped entry is a problem), remote ones only with ``fetch`` and
    leniently (a skipped entry of an answer is a warning, not the user's to fix)."""
    problems: list[Problem] = []
    found: list[Paper] = []
    fetched: list[FetchedSource] = []
    failed: list[SourceRead] = []  # the remote sources that failed
    fetcher = Fetcher.from_config(config)  # makes no request (nor cache folder) until asked
    strict = ReadContext(fetcher, now or datetime.now(UTC), lambda msg: problems.append(Problem(msg)))
    lenient = ReadContext(fetcher, strict.now, warn)
    try:
        for index, source in enumerate(config.sources):
            remote = is_remote(source)
            if remote and not fetch:
                # not fetched, but a date to come is wrong whatever the server says
                if isinstance(source, HFDailySource) and (problem := future_date(source, config, strict.now)):
                    problems.extend(SourceRead(index, source, "", error=InputError(problem)).problems())
                continue
            before = len(problems)
            result = read_source(index, source, config, lenient if remote else strict)
            if result.error is None:
                found.extend(result.papers)
                if not remote and not result.papers and len(problems) == before:
                    # said OK with "(0 papers)" in the summary: a file saved from an empty day, or the wrong one
                    warn(f"{result.location}: source {source.label!r}: holds no papers; no digest gets any from it")
            else:
                problems.extend(result.problems())
            if remote:
                failed.extend([result] if result.error is not None else [])
                error = None if result.error is None else "; ".join(p.message for p in result.problems())
                report = FetchedSource(index, source.label, result.location, len(result.papers) if error is None else None, error)
                fetched.append(report)
                if progress:
                    progress(report)
        if len(failed) < len(fetched):  # with --fetch, as the other commands do (a host reached)
            look_up_liked(config, found, lenient)
    finally:
        fetcher.close()
    if len(failed) == len(config.sources) and (hint := offline_hint(failed)):
        problems.append(hint)
    return problems, found, fetched


def validate(
    config: Config,
    *,
    fetch: bool = False,
    warn: Callable[[str], None] | None = None,
    progress: Callable[[FetchedSource], None] | None = None,
    now: datetime | None = None,
) -> Summary:
    """Check what loading the config cannot: every local source parses, every check passes.

    Remote sources (arxiv, hf-daily, feed without ``path``) are fetched only
    with ``fetch``: by default validate stays fast and offline (no HTTP cache
    writes, no requests counted against rate limits).  With
    ``fetch`` each remote source is read (through the cache, like ``send``)
    and its paper count or error handed to ``progress``; a failure is a
    problem.  Raises :class:`NewsletterError` carrying every problem found,
    skipped entries of local files included (those of remote answers are
    only warnings: not the user's to fix).  Topics that select none of the
    papers read are named through ``warn``, not problems.
    """
    warn = warn or log.warning
    problems, found, fetched = _read_sources(config, fetch=fetch, warn=warn, progress=progress, now=now)
    for check in CHECKS:
        problems.extend(check(config))
    if fetch and config.state_is_shared:
        problems.extend(_reach_database(config))
    if problems:
        raise NewsletterError(*dict.fromkeys(problems))  # once each (a sample render meets them too)
    if config.delivery.transport == "smtp":
        for placeholder in (_placeholder_sender(config), _placeholder_base_url(config), *_placeholder_recipients(config)):
            if placeholder is not None:
                warn(str(placeholder))
    if config.delivery.transport == "smtp" and config.delivery.password_env and not config.delivery.username:
        warn(str(config.problem(("delivery", "password_env"), "is set but delivery.username is not: no login is "
                                "made and the password is never used; set username: to the account's login")))
    for problem in (*no_subscribers(config), *zone_advice(config), *unzoned_advice(config), *schedule_advice(config),
                    *transport_advice(config),
                    *port_advice(config), *subfolder_advice(config), *saved_copy_advice(config),
                    *unused_template_advice(config), *unsubscribe_advice(config)):
        warn(str(problem))
    from .signing import key_file_advice

    if (loose := key_file_advice(config)) is not None:
        warn(str(loose))
    followed = {key for sub in config.subscribers for key in sub.topics}
    for key in config.topics if config.subscribers else ():
        if key not in followed:  # written, never added to a subscriber: nothing goes out for it
            warn(str(config.problem(("topics", key), "no subscriber follows it (add it to a subscriber's topics: list)")))
    papers = merge_papers(found)
    unfetched = 0 if fetch else sum(1 for s in config.sources if is_remote(s))
    for problem in (*config.cut_by_comment(), *about_advice(config), *number_advice(config, papers),
                    *author_advice(config, papers)):
        warn(str(problem))
    unmatched: list[Problem] = []
    if papers:
        keys = list(config.topics)
        index = topic_index(config, papers, [_Following(tuple(keys))], warn, near=1)
        unmatched = unmatched_topics(config, papers, keys, index=index)
        partial = f" ({counted(unfetched, 'remote source')} not fetched; --fetch reads them)" if unfetched else ""
        for problem in unmatched:
            warn(f"{problem}{partial}")
        # what the digests of part of the papers hold says little of the whole day's
        for problem in () if unfetched else (*pin_advice(config, papers), *_digest_advice(config, index)):
            warn(str(problem))
    return Summary(
        len(config.sources),
        len(papers),
        len(config.topics),
        len(config.subscribers),
        config.delivery.transport,
        unfetched,
        tuple(fetched),
        tuple(p.path.removeprefix("topics.") for p in unmatched if p.path),
        f"{config.email.dkim.selector}._domainkey.{config.email.dkim.domain}" if config.email.dkim else None,
    )


def _digest_advice(config: Config, index: TopicIndex) -> list[Problem]:
    """:func:`digest_advice` for ``validate``: each subscriber's digest as
    if nothing had been sent (validate never reads the state)."""
    followed = list(dict.fromkeys(k for sub in config.subscribers for k in sub.topics))
    return digest_advice(config, index, [(sub, index.select(sub)) for sub in config.subscribers], followed)


#: delivery: keys only the smtp transport reads.
_SMTP_KEYS = ("host", "port", "security", "username", "password_env", "timeout", "max_per_minute", "connections",
              "retries", "retry_delay", "ca_file")


def no_subscribers(config: Config) -> list[Problem]:
    """A config without subscribers (the key left out, or an empty list):
    validate said OK and every send 'sent 0' with exit 0, a digest that
    never comes with nothing said."""
    if config.subscribers:
        return []
    message = "no subscribers, so nothing is ever sent: add one (email: and topics:) under subscribers:"
    if "subscribers" not in config.model_fields_set:  # no line to name (the file's first is not it)
        return [Problem(message, str(config.file), None, "subscribers")]
    return [config.problem(("subscribers",), message)]


def transport_advice(config: Config) -> list[Problem]:
    """Settings of the transport not in use.  SMTP settings written without
    ``transport: smtp`` are the trap: every digest goes to the outbox folder,
    none is mailed, and ``send`` says "sent"."""
    d = config.delivery
    if d.transport == "outbox":
        written = [key for key in _SMTP_KEYS if key in d.model_fields_set]
        if written:
            return [config.problem(("delivery", written[0]), (
                f"SMTP settings ({', '.join(written)}) but the transport is 'outbox'"
                f"{'' if 'transport' in d.model_fields_set else ' (the default)'}: nothing is mailed, each digest "
                f"is written to {d.path}/; add transport: smtp to mail them"))]
    elif "path" in d.model_fields_set:
        return [config.problem(("delivery", "path"), "is the outbox transport's folder; with transport: smtp "
                               "nothing is written there (remove it, or set transport: outbox)")]
    return []


def port_advice(config: Config) -> list[Problem]:
    """A port whose kind of TLS is not ``security:``'s: port 465 without
    ``security: ssl`` (a provider's page saying "port 465", the default
    starttls kept) hung until the timeout at every send before saying so;
    587 with ``ssl`` failed the handshake.  Warned by validate, before a send."""
    d = config.delivery
    if d.transport != "smtp" or d.port is None:
        return []
    if d.port == IMPLICIT_TLS_PORT and d.security != "ssl":
        why = " (the default)" if "security" not in d.model_fields_set else ""
        return [config.problem(("delivery", "port"), (
            f"465 is the port of implicit TLS, whose server waits for a TLS handshake first, but security is "
            f"{d.security!r}{why}: set security: ssl (or port: 587 for starttls)"))]
    if d.port in (587, 25) and d.security == "ssl":
        return [config.problem(("delivery", "security"), (
            f"ssl (implicit TLS) on port {d.port}, whose servers speak plain SMTP and offer STARTTLS: set security: "
            "starttls (or port: 465 for ssl)"))]
    if d.security == "none" and d.username and d.password_env and d.host and not _local_host(d.host):
        # a server that offers AUTH on a plain connection took the password as it came, readable on the way
        return [config.problem(("delivery", "security"), (
            f"none with a login: the password for {d.username!r} goes to {d.host} unencrypted, readable by anyone "
            "on the way; set security: starttls (port 587) or ssl (port 465), unless the server is on a network "
            "you trust"))]
    return []


def subfolder_advice(config: Config) -> list[Problem]:
    """An export folder whose subfolders hold files too: only its own files are
    read (a folder per month, with this month's exports at the top, lost the
    older ones without a word).  An empty top level is an error (config)."""
    out = []
    for i, source in enumerate(config.sources):
        if source.type != "hf-papers-text":
            continue
        folder = config.resolve(source.path)
        try:
            if not folder.is_dir():
                continue
            entries = list(folder.iterdir())
            unread = sorted(d.name for d in entries
                            if d.is_dir() and not d.name.startswith(".") and any(f.is_file() for f in d.iterdir()))
        except OSError:
            continue  # unreadable: the source's own read says so
        if unread and any(f.is_file() for f in entries):
            shown = ", ".join(f"{name}/" for name in unread[:3]) + (", ..." if len(unread) > 3 else "")
            out.append(config.problem(("sources", i, "path"), (
                f"the files in its subfolders ({shown}) are not read; "
                f"'{source.path.rstrip('/')}/**/*.txt' reads them too")))
    return out


#: A remote source's settings that say what to ask the server: a saved file (``path:``) is read whole.
_ASKING_KEYS = ("categories", "query", "max_results", "days", "date", "url")


def saved_copy_advice(config: Config) -> list[Problem]:
    """A source given a saved copy (``path:``) that keeps the settings of
    what to ask the server (``categories: [math.AP]``, ``days: 3``): the
    file is read whole, so they filter nothing, and a reader expecting
    only math.AP papers got every paper in the file, with no word."""
    out = []
    for i, source in enumerate(config.sources):
        if source.type == "hf-papers-text" or not getattr(source, "path", None):
            continue
        unused = [key for key in _ASKING_KEYS if key in source.model_fields_set]
        if unused:
            keys = " and ".join(f"{k}:" for k in unused)
            also = " (a topic's categories: keeps the papers of some categories)" if "categories" in unused else ""
            out.append(config.problem(("sources", i, unused[0]), (
                f"{keys} {'is' if len(unused) == 1 else 'are'} not used with path: (they say what to ask the "
                f"server; the saved file is read whole){also}")))
    return out


def zone_advice(config: Config) -> list[Problem]:
    """Time zones the database knows that their writer most likely did not
    mean (:func:`config.fixed_zone_advice`): 'EST' (no daylight saving time)
    and 'Etc/GMT+1' (UTC-01:00) shift every digest by an hour or two, silently."""
    from .config import fixed_zone_advice

    written: list[tuple[tuple, str]] = [(("timezone",), config.timezone)] if "timezone" in config.model_fields_set else []
    written += [(("subscribers", i, "timezone"), sub.timezone) for i, sub in enumerate(config.subscribers) if sub.timezone]
    return [config.problem(where, why) for where, name in written if (why := fixed_zone_advice(name)) is not None]


def unzoned_advice(config: Config) -> list[Problem]:
    """A time of day read in UTC because no ``timezone:`` is written, on a
    machine whose clock is another zone's: 'daily at 08:00' written in
    Berlin went out at 09:00 there (10:00 in summer), and nothing said the
    hour was UTC's.  One warning, at the first such schedule: one top-level
    ``timezone:`` mends them all (``timezone: UTC`` keeps UTC and quiets it)."""
    from .config import machine_zone

    here = machine_zone()
    if "timezone" in config.model_fields_set or here is None or not _keeps_other_hours(here):
        return []
    top = config.schedule.text if config.schedule else None
    for i, subscriber in enumerate(config.subscribers):
        schedule = subscriber.schedule
        if subscriber.timezone or schedule is None or schedule.kind == "interval":
            continue
        where = ("schedule",) if schedule.text == top else ("subscribers", i, "schedule")
        return [config.problem(where, (
            f"{schedule.text!r} is read in UTC, as no timezone: is written, but this machine's clock is {here}'s: "
            f"set timezone: {here} at the top for {schedule.hour:02d}:{schedule.minute:02d} on that clock "
            "(timezone: UTC keeps UTC's)"))]
    return []


def _keeps_other_hours(zone: str) -> bool:
    """Whether ``zone``'s clock differs from UTC's in winter or summer (2026's)."""
    tz = zoneinfo.ZoneInfo(zone)
    return any(datetime(2026, month, 1, 12, tzinfo=tz).utcoffset() for month in (1, 7))


def schedule_advice(config: Config) -> list[Problem]:
    """``every N hours`` (or minutes) where N does not divide a day: its
    digests go N apart from the last one, drifting through the day, where
    ``every 6 hours`` keeps 00:00, 06:00, ... (README, Schedules); a writer
    expecting fixed times of day was not told.  Once per schedule written:
    the top-level one, and each subscriber's own."""
    top = config.schedule.text if config.schedule else None
    written: list[tuple[tuple, Schedule]] = [(("schedule",), config.schedule)] if config.schedule else []
    written += [(("subscribers", i, "schedule"), sub.schedule) for i, sub in enumerate(config.subscribers)
                if sub.schedule is not None and sub.schedule.text != top]
    problems = []
    for where, schedule in written:
        step = schedule.interval_minutes
        if schedule.kind != "interval" or (24 * 60) % step == 0:
            continue
        if step % (24 * 60) == 0:  # whole days: the time of day is the last digest's, not "other times each day"
            problems.append(config.problem(where, (
                f"{schedule.text!r} counts {step // (24 * 60)} days from the last digest, so its time of day moves "
                "with each send's delay and with daylight saving time; for a time that holds, 'daily at HH:MM' or "
                "'weekly on <weekday>, <weekday> at HH:MM'")))
            continue
        unit, size = ("hour", 60) if step % 60 == 0 else ("minute", 1)
        fitting = [n for n in (range(1, 25) if size == 60 else range(1, 1441)) if (24 * 60) % (n * size) == 0]
        near = sorted(fitting, key=lambda n: (abs(n * size - step), n))[:2]
        problems.append(config.problem(where, (
            f"{schedule.text!r} does not divide a day: its digests go {step // size} {unit}s apart from the last "
            f"one, at other times each day; every {' or '.join(str(n) for n in sorted(near))} {unit}s keeps "
            "the same times every day")))
    return problems


#: Domains reserved for examples and tests (RFC 2606, RFC 6761): no real mailbox.
_RESERVED_DOMAINS = ("example.org", "example.com", "example.net", "example", "invalid", "test", "localhost")


def _reserved(domain: str) -> bool:
    """Whether ``domain`` is under a name reserved for examples (RFC 2606, 6761)."""
    domain = domain.casefold().rstrip(".")
    return any(domain == d or domain.endswith("." + d) for d in _RESERVED_DOMAINS)


def _placeholder_base_url(config: Config) -> Problem | None:
    """The starter's (or README's) ``web.base_url`` kept as it is: every email's
    unsubscribe link, the one Gmail and Yahoo offer as a button, leads nowhere."""
    if config.web is None:
        return None
    host = urlsplit(config.web.base_url).hostname or ""
    if _local_host(host):
        return config.problem(("web", "base_url"), f"{config.web.base_url!r} names {host}, which only this machine or "
                              "its network reaches: the unsubscribe links of readers elsewhere, and the one-click requests "
                              "mail providers send from their own servers, cannot reach it; set it to the public HTTPS "
                              "address of the web server that passes requests on to `newsletter serve`")
    if not _reserved(host):
        return None
    return config.problem(("web", "base_url"), f"{config.web.base_url!r} is a placeholder ({host} is reserved for "
                          "examples): the unsubscribe link in every email would lead nowhere; set it to the HTTPS "
                          "address where `newsletter serve` is reachable")


#: Names only a local network resolves (RFC 6762 .local, RFC 8375 home.arpa, and the usual private suffixes).
_LOCAL_SUFFIXES = ("localhost", "local", "internal", "lan", "home.arpa", "intranet", "corp")


def _local_host(host: str) -> bool:
    """Whether ``host`` is this machine or a name or address of its network
    (https://localhost:8058, the address `newsletter serve` listens on, or a
    LAN name as ``web.base_url``): a reader's link, and the one-click request
    a mail provider makes from its own servers, cannot reach it."""
    import ipaddress

    name = host.casefold().rstrip(".")
    try:
        return not ipaddress.ip_address(name).is_global
    except ValueError:
        return "." not in name or any(name == s or name.endswith("." + s) for s in _LOCAL_SUFFIXES)


def _placeholder_recipients(config: Config) -> list[Problem]:
    """Subscribers under a domain reserved for examples: the starter's
    ``you@example.org`` kept when switching to smtp.  Such a digest is
    refused or bounces at every send; validate warned of the From and
    not of where the mail goes.  The first three, then one line for the rest."""
    places = [i for i, sub in enumerate(config.subscribers) if _reserved(sub.email.rpartition("@")[2])]
    shown = places if len(places) <= 4 else places[:3]
    lines = [config.problem(("subscribers", i, "email"), f"{config.subscribers[i].email!r} is a placeholder address "
                            f"({config.subscribers[i].email.rpartition('@')[2]} is reserved for examples): no mail "
                            "reaches it; put the subscriber's own address") for i in shown]
    if len(shown) < len(places):
        first = places[3]
        lines.append(config.problem(("subscribers", first, "email"), f"{config.subscribers[first].email!r} and "
                                    f"{len(places) - 4:,} more after it are placeholder addresses too"))
    return lines


def _placeholder_sender(config: Config) -> Problem | None:
    """A From address no real mail server takes: the default (``email.from``
    left out) or the example's, under a domain reserved for examples."""
    address = sender_address(config)
    domain = address.rpartition("@")[2].casefold().rstrip(".")
    if not _reserved(domain):
        return None
    why = (f"a placeholder address ({domain} is reserved for examples) that mail servers refuse or file as spam; "
           "set email.from to your own address")
    if "from" not in config.email.model_fields_set and "from_" not in config.email.model_fields_set:
        return Problem(f"not set: mail goes out from {config.email.from_!r}, {why}", str(config.file), None, "email.from")
    return config.problem(("email", "from"), f"{config.email.from_!r} is {why}")


# --------------------------------------------------------------------------- schedule


@dataclass(frozen=True)
class ScheduleRow:
    """One subscriber's schedule as ``newsletter schedule`` shows it (times in its zone)."""

    email: str
    schedule: str | None
    timezone: str
    last_sent: datetime | None
    next_send: datetime | None
    due: bool
    unsubscribed: datetime | None = None  # when it left; no digest until it re-subscribes
    #: Its digest was refused permanently run after run: not tried again.
    held: bool = False
    #: A digest whose last run failed waits until then (back-off), rounded up
    #: to the minute as ``send`` shows it (so it is no longer waiting at the
    #: shown minute); :attr:`next_attempt` is the exact time.
    retry_at: datetime | None = None
    failures: int = 0
    last_error: str | None = None
    #: The exact time the failed digest may be tried again (JSON ``retry_at``).
    next_attempt: datetime | None = None

    def to_json(self) -> dict:
        iso = lambda t: t.isoformat() if t else None  # noqa: E731
        return {
            "email": self.email,
            "schedule": self.schedule,
            "timezone": self.timezone,
            "last_sent": iso(self.last_sent),
            "next_send": iso(self.next_send),
            "due": self.due,
            "unsubscribed": iso(self.unsubscribed),
            "held": self.held,
            "retry_at": iso(self.next_attempt),
            "failures": self.failures,
            "last_error": self.last_error,
        }


def _retry_at(owed: OpenDigest | None, settings: str, now: datetime) -> datetime | None:
    """When a failed digest may be tried again; None: now (or held)."""
    if owed is None or owed.held:
        return None
    return retry_time(owed, settings, now)[0]  # (further off than its back-off: send tries it now)


def owed_waits(owed: OpenDigest, settings: str, now: datetime) -> bool:
    """Whether ``send`` leaves this owed digest for later (held, or backing
    off): ``schedule`` shows it not due, and ``run`` does not wake for it."""
    return _waits(owed, _retry_at(owed, settings, now), now)


def _waits(owed: OpenDigest, retry_at: datetime | None, now: datetime) -> bool:
    """:func:`owed_waits` given the digest's :func:`_retry_at`."""
    return owed.held or (retry_at is not None and retry_at > now)


def schedules(
    config: Config, *, now: datetime, only: str | None = None, stop: Callable[[], object] | None = None,
    own_clock: bool = False,
) -> list[ScheduleRow]:
    """Each subscriber's last and next send time; reads the state, never writes it.
    ``stop``: see :meth:`State.stop_waiting_when` (``run`` asks between sends).
    ``own_clock``: as for :func:`send`, what is due is due by the state's clock."""
    rows = []
    subs = subscribers(config, only)
    settings = settings_fingerprint(config)
    with open_state(config.state_target, readonly=True, stop=stop) as state:
        now = shared_now(state, now) if own_clock else now
        known = state.plan([sub.email for sub in subs], with_sent=False)
        left = state.unsubscribed(sub.email for sub in subs)
    for sub in subs:
        zone = config.zone(sub)
        k = known[sub.email]
        first, served, last = k.first_seen, k.last_served, k.last_sent
        nxt = next_send(sub.schedule, zone, last_sent=served, first_seen=first, now=now)
        owed = k.open
        due = is_due(sub.schedule, zone, last_sent=served, first_seen=first, now=now) or owed is not None
        retry_at = _retry_at(owed, settings, now)
        if owed is not None and _waits(owed, retry_at, now):
            due = False  # held, or backing off after a failed run
        gone = left.get(sub.email)
        if gone is not None:
            nxt, due = None, False
        rows.append(
            ScheduleRow(
                sub.email,
                str(sub.schedule) if sub.schedule else None,
                zone.key,
                last.astimezone(zone) if last else None,
                nxt.astimezone(zone) if nxt else None,
                due,
                gone.astimezone(zone) if gone else None,
                held=owed is not None and owed.held,
                retry_at=minute_up(retry_at).astimezone(zone) if retry_at else None,
                failures=owed.failures if owed is not None else 0,
                last_error=owed.last_error if owed is not None else None,
                next_attempt=retry_at.astimezone(zone) if retry_at else None,
            )
        )
    return rows
