"""Term semantics, topic rules, scoring and ordering."""

from __future__ import annotations

import pytest

from newsletter.config import Subscriber, Topic
from newsletter.latex import paper_to_unicode
from newsletter.matching import Matcher, compile_term, other_number
from newsletter.models import Paper


def hit(term: str, text: str) -> bool:
    return compile_term(term).search(text) is not None


@pytest.mark.parametrize(
    "term, text, expected",
    [
        ("SGD", "we analyse sgd in depth", True),
        ("SGD", "warm restarts (SGDR) help", False),
        ("SGD", "mini-batch SGD.", True),
        ("diffusion model", "Diffusion Models are great", False),  # whole words: 'model' != 'models'
        ("diffusion model*", "Diffusion Models are great", True),
        ("score-based", "a score based generative model", True),
        ("score based", "a score-based generative model", True),
        ("score-based", "a scorebased model", False),
        ("score based", "score\nbased", True),
        ("optimi*", "Optimization and optimisers", True),
        ("optimi*", "suboptimization", False),
        ("/l[0-9]+ regulari[sz]ation/", "with L2 regularization we", True),
        ("/^Deep/", "Deep Sets", True),
        ("/^Deep/", "Very Deep Sets", False),
        ("Schrödinger bridge", "the SCHRÖDINGER Bridge problem", True),
        ("μP", "we use μP to transfer", True),
        ("C++", "written in C++ for speed", True),
    ],
)
def test_term_semantics(term, text, expected):
    assert hit(term, text) is expected


@pytest.mark.parametrize("term", ["/(unclosed/", "//", "  ", "a*b"])
def test_invalid_terms_are_rejected(term):
    with pytest.raises(ValueError):
        compile_term(term)


def paper(title, abstract="", authors=(), categories=(), **kw):
    return Paper(title=title, abstract=abstract, source="test", authors=tuple(authors), categories=tuple(categories), **kw)


def select(topics: dict, papers, **sub):
    matcher = Matcher({k: Topic(**v) for k, v in topics.items()})
    subscriber = Subscriber(email="a@example.org", topics=list(topics), **sub)
    return matcher.index(papers).select(subscriber)


def test_any_all_none():
    papers = [
        paper("Diffusion models for audio", "score-based sampling"),
        paper("Diffusion models for medical images", "score-based"),
        paper("Diffusion models", "no scores here"),
        paper("Transformers", "attention"),
    ]
    got = select({"d": {"any": ["diffusion model*"], "all": ["score-based"], "none": ["medical"]}}, papers)
    assert [m.paper.title for m in got] == ["Diffusion models for audio"]


def test_empty_any_means_all_terms_decide():
    papers = [paper("A", "graph neural network on meshes"), paper("B", "graph only")]
    got = select({"g": {"all": ["graph", "mesh*"]}}, papers)
    assert [m.paper.title for m in got] == ["A"]


def test_fields_limit_where_terms_are_searched():
    papers = [paper("Plain title", "about diffusion models"), paper("Diffusion models", "plain")]
    got = select({"d": {"any": ["diffusion model*"], "fields": ["title"]}}, papers)
    assert [m.paper.title for m in got] == ["Diffusion models"]


def test_authors_and_categories():
    papers = [
        paper("One", "x", authors=["Yann LeCun", "Someone Else"], categories=["cs.LG"]),
        paper("Two", "x", authors=["Yann Lecunn"], categories=["cs.CV"]),
        paper("Three", "x", authors=["Ada"], categories=["cs.CV", "cs.LG"]),
    ]
    assert [m.paper.title for m in select({"p": {"any": ["Yann LeCun"], "fields": ["authors"]}}, papers)] == ["One"]
    assert {m.paper.title for m in select({"c": {"categories": ["cs.lg"]}}, papers)} == {"One", "Three"}


def test_score_counts_distinct_terms_and_title_weighs_more():
    papers = [
        paper("Zeta: plain", "sgd and momentum and adam"),  # 3 terms, none in the title
        paper("Alpha: SGD", "nothing"),  # 1 term, in the title
        paper("Beta", "sgd"),  # 1 term, in the abstract
        paper("Gamma: SGD", "sgd momentum"),  # 2 terms, 1 in the title
        paper("Delta: SGD momentum", "x"),  # 2 terms, both in the title
        paper("Eta", "momentum sgd"),  # 2 terms, none in the title
        paper("Epsilon", "momentum and sgd"),  # ties with Eta: by title
    ]
    got = select({"o": {"any": ["SGD", "momentum", "adam"]}}, papers)
    # More distinct terms first, however many matched in the title; then title matches; then the title.
    assert [(m.paper.title, m.score) for m in got] == [
        ("Zeta: plain", 6),
        ("Delta: SGD momentum", 5),
        ("Gamma: SGD", 4),
        ("Epsilon", 3),
        ("Eta", 3),
        ("Alpha: SGD", 2),
        ("Beta", 1),
    ]
    gamma = got[2]
    assert gamma.terms == ("SGD", "momentum")
    assert {(h.term, h.field) for h in gamma.hits} == {("SGD", "title"), ("SGD", "abstract"), ("momentum", "abstract")}


def test_ties_go_by_title_whatever_the_upvotes():
    papers = [
        paper("Zeta on SGD", "x", upvotes=90),
        paper("alpha on SGD", "x", upvotes=None),
        paper("Beta on SGD", "x", upvotes=5),
    ]
    got = select({"o": {"any": ["SGD"]}}, papers)
    assert [m.paper.title for m in got] == ["alpha on SGD", "Beta on SGD", "Zeta on SGD"]


def test_union_of_topics_and_max_papers_and_pins():
    papers = [paper(f"Paper {i} diffusion", "sgd" if i % 2 else "", authors=["Pinned Person"] if i == 7 else []) for i in range(10)]
    got = select({"d": {"any": ["diffusion"]}, "o": {"any": ["sgd"]}}, papers, max_papers=3, pin=["pinned person"])
    assert len(got) == 3
    assert got[0].paper.title == "Paper 7 diffusion" and got[0].pinned
    assert got[1].topics == ("d", "o")


def test_excluded_papers_are_not_selected():
    papers = [paper("Diffusion A"), paper("Diffusion B")]
    matcher = Matcher({"d": Topic(any=["diffusion"])})
    sub = Subscriber(email="a@example.org", topics=["d"])
    got = matcher.index(papers).select(sub, exclude={papers[0].id})
    assert [m.paper.title for m in got] == ["Diffusion B"]


@pytest.mark.parametrize("scan_most", [0, 10**9], ids=["word index", "text scan"])
@pytest.mark.parametrize("index_slice", [4096, 7], ids=["one slice", "slices of 7 papers"])
def test_word_index_finds_exactly_what_checking_every_paper_finds(monkeypatch, index_slice, scan_most):
    """The inverted index only prunes; it must never lose a match, whether
    the papers are indexed at once or a slice at a time (memory bound), and
    whether candidates come from the index of every word or (a small day,
    under SCAN_MOST lookups) from searching each paper's text."""
    import newsletter.matching

    monkeypatch.setattr(newsletter.matching, "INDEX_SLICE", index_slice)
    monkeypatch.setattr(newsletter.matching, "SCAN_MOST", scan_most)
    import random
    import re as _re

    from conftest import DATA

    from newsletter.readers import parse_hf_papers_text

    papers = []
    for f in sorted(DATA.glob("hf-papers-*.txt")):
        papers += parse_hf_papers_text(f.read_bytes(), f.name)
    words = sorted({w for p in papers[:80] for w in _re.findall(r"[A-Za-z][\w-]{3,}", p.title)})
    rng = random.Random(7)
    topics = {}
    for i in range(40):
        a, b, c, d = rng.sample(words, 4)
        topics[f"t{i}"] = Topic(
            any=[a, f"{b[:4]}*", f"{c} {d}", "C++", "cs.LG"] + (["/neural\\s+\\w+s\\b/"] if i % 7 == 0 else []),
            all=[rng.choice(["network*", "model*", "learning"])] if i % 3 == 0 else [],
            none=[rng.choice(words)],
            fields=["title"] if i % 4 == 0 else ["title", "abstract"],
        )
    matcher = Matcher(topics)
    index = matcher.index(papers)
    total = 0
    for key, rule in matcher.rules.items():
        brute = {p.id: rule.match(p) for p in papers}
        brute = {pid: m for pid, m in brute.items() if m}
        assert index.results[key] == brute, key
        total += len(brute)
    assert total > 100  # the topics do match things


def test_select_equals_scoring_every_matched_paper():
    """The ranked shortcut in TopicIndex.select gives the naive answer."""
    import random

    rng = random.Random(3)
    vocab = ["alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta"]
    papers = [
        paper(
            " ".join(rng.sample(vocab, 2)) + f" {i}",
            " ".join(rng.sample(vocab, 4)),
            authors=[rng.choice(["Ann", "Bo", "Cy"])],
            upvotes=rng.choice([None, 1, 5]),
        )
        for i in range(300)
    ]
    topics = {f"t{i}": Topic(any=rng.sample(vocab, 2)) for i in range(6)}
    matcher = Matcher(topics)
    index = matcher.index(papers)
    for n in range(30):
        keys = rng.sample(list(topics), rng.randint(1, 4))
        sub = Subscriber(email="a@example.org", topics=keys, max_papers=rng.randint(1, 40), pin=["Bo"] if n % 3 == 0 else [])
        exclude = {p.id for p in rng.sample(papers, 50)}
        naive = []
        for p in papers:
            if p.id in exclude:
                continue
            ms = [m for k in keys if (m := matcher.rules[k].match(p))]
            if not ms:
                continue
            title = {h.term for m in ms for h in m.hits if h.field == "title"}
            other = {h.term for m in ms for h in m.hits} - title
            pinned = "Bo" in p.authors and bool(sub.pin)
            naive.append(((not pinned, -len(title | other), -len(title), p.title.casefold()), p.id))
        naive.sort()
        got = index.select(sub, exclude=exclude)
        assert [m.paper.id for m in got] == [pid for _, pid in naive[: sub.max_papers]]
        # match's count of what max_papers cut, without building the matches
        assert index.count(sub, exclude=exclude) == len(got)
        assert index.count(sub, exclude=exclude, limit=1000) == len(naive)


def test_a_catastrophic_regex_times_out_instead_of_hanging():
    from newsletter.matching import RegexTimeout

    papers = [paper("Ordinary title", "a" * 40 + "!")]
    matcher = Matcher({"bad": Topic(any=["/(a|aa)+$/"])})
    with pytest.raises(RegexTimeout) as info:
        matcher.index(papers)
    assert "'/(a|aa)+$/' took over 0.5 s" in str(info.value) and "nested repetition" in str(info.value)


def test_regex_terms_keep_python_syntax():
    assert hit(r"/\bsgd(r)?\b/", "SGDR works")
    assert hit(r"/(?P<n>\d+)-shot/", "a 5-shot setting")
    assert not hit(r"/^diffusion$/", "diffusion models")


# --------------------------------------------------------------------------- compile-time bombs (issue 17)


@pytest.mark.parametrize(
    "term",
    ["/a{1000000000}/", "/(a{1000}){1000}/", "/((ab){100}c){100}/", "/x{,99999999999}/", "/\\p{L}{100}(\\p{N}{100}){100}/"],
)
def test_a_regex_that_compiles_huge_is_refused_before_compiling(term):
    with pytest.raises(ValueError, match="too big"):
        compile_term(term)


@pytest.mark.parametrize("term", ["/a{3}b{2,5}/", "/(?:foo|bar){2,3}\\w+/", "/\\d{4}\\.\\d{4,5}/", "/x{5,}/", "/\\p{L}{20}/"])
def test_ordinary_counted_repeats_still_compile(term):
    assert compile_term(term).user_regex


def test_validate_refuses_a_regex_bomb_with_its_line_in_seconds(cli, tmp_path):
    import time

    (tmp_path / "p.txt").write_text("x", encoding="utf-8")
    (tmp_path / "config.yaml").write_text(
        "sources:\n  - type: hf-papers-text\n    path: p.txt\ntopics:\n  t:\n    any:\n"
        "      - gan\n      - /a{1000000000}/\n",
        encoding="utf-8",
    )
    started = time.monotonic()
    result = cli("validate")
    assert time.monotonic() - started < 30
    assert result.code == 2
    assert result.err.startswith("config.yaml:8: topics.t.any[1]: regular expression '/a{1000000000}/' is too big")


def test_reason_names_each_matched_text_once_whatever_its_case():
    got = select(
        {"o": {"any": ["convex", "optimization", "score-based"]}},
        [paper("Convex optimization for Score-Based models", "convex sets; score-based sampling; Optimization")],
    )
    assert got[0].reason == "matched: convex, optimization, score-based"  # in the terms' case, as the email says it
    by = select({"o": {"any": ["GPT*", "ana müller", "LLM*"], "fields": ["title", "authors"]}},
                [paper("GPT-4o and LLMs", "x", authors=("Ana Müller",))])
    assert by[0].reason == "matched: GPT, Ana Müller, LLMs"  # names and acronyms keep their letters


def test_reason_names_a_long_regex_match_by_its_first_and_last_words():
    got = select(
        {"o": {"any": ["/\\bexplain(s|ing)?\\b.*\\bpredictions?\\b/"]}},
        [paper("Robustness", "explaining the observed trade-off between robustness and accuracy in our predictions.")],
    )
    assert got[0].reason == "matched: explaining … predictions"
    # a term's own phrase is never cut, however many words
    rlhf = select({"o": {"any": ["reinforcement learning from human feedback"]}},
                  [paper("Robustness", "we use reinforcement learning from human feedback here")])
    assert rlhf[0].reason == "matched: reinforcement learning from human feedback"


def test_rules_whose_liked_papers_are_all_unknown_still_select_by_the_rules(workdir, cli):
    """A liked paper from an earlier week that today's sources do not hold is
    "ignored" (a warning): the rules must still decide, not select nothing."""
    import json

    from conftest import BASIC_CONFIG, write_config

    write_config(workdir, BASIC_CONFIG)
    plain = cli("match", "--json", "--subscriber", "ada@example.org")
    liked = BASIC_CONFIG.replace(
        '    any: ["diffusion model*", "score-based"]\n',
        '    any: ["diffusion model*", "score-based"]\n    like: ["2101.99999"]\n',
    )
    write_config(workdir, liked)
    result = cli("match", "--json", "--subscriber", "ada@example.org")
    assert result.code == 0, result.err
    assert "config.yaml:8: topics.diffusion.like[0]: '2101.99999' matches no known paper" in result.err
    assert "matches none of" not in result.err
    [before] = json.loads(plain.out)["subscribers"]
    [after] = json.loads(result.out)["subscribers"]
    assert len(before["papers"]) == 20
    assert [(p["title"], p["score"]) for p in after["papers"]] == [(p["title"], p["score"]) for p in before["papers"]]


def test_refusal_names_the_first_rule_a_paper_fails_in_match_order():
    """`match --paper` says why a topic's rules leave a paper out, in words."""
    from newsletter.matching import TopicRule

    paper = Paper(title="Protein folding with diffusion", abstract="We fold proteins by score matching.",
                  source="t", categories=("q-bio.BM",))
    rule = lambda **kw: TopicRule("t", Topic(**kw))  # noqa: E731
    assert rule(any=["diffusion"], none=["protein fold*"]).refusal(paper) == (
        "excluded by none: 'protein fold*' (title: 'Protein folding')")
    assert rule(any=["diffusion"], all=["molecul*"]).refusal(paper) == "lacks all: 'molecul*' (in title, abstract)"
    assert rule(any=["transformer", "attention"]).refusal(paper) == "has none of its any: terms (in title, abstract)"
    assert rule(any=["diffusion"], categories=["cs.LG", "stat.ML"]).refusal(paper) == (
        "not in its categories (cs.LG, stat.ML; the paper's: q-bio.BM)")
    # the checks of match, in match's order: the category check comes first
    assert rule(categories=["cs.LG"], none=["protein"]).refusal(paper).startswith("not in its categories")
    assert rule(any=["diffusion"]).match(paper) is not None


@pytest.mark.parametrize(("term", "other"), [
    ("diffusion model", "diffusion models"),
    ("LLMs", "LLM"),
    ("policy", "policies"),
    ("policies", "policy"),
    ("loss", "losses"),
    ("approaches", "approach"),
    ("step sizes", "step size"),  # it read "step siz"
    ("buzzes", "buzz"),
    ("score-based", "score-baseds"),
    ("analysis", None),  # ends in s, no plural
    ("robotics", None),
    ("optimi*", None),  # a prefix takes both already
    ("/diffusion models?/", None),
    ("x2", None),
])
def test_other_number_gives_the_term_with_its_last_word_in_the_other_number(term, other):
    assert other_number(term) == other


def test_rules_read_script_letters_as_the_plain_letters():
    # \mathcal{NP} read "𝒩𝒫-hard" and a rule's "NP-hard" missed it; a script 𝒩 shown is found by "N=4"
    papers = [paper_to_unicode(paper(r"Graph coloring is $\mathcal{NP}$-hard")),
              paper_to_unicode(paper(r"Amplitudes of $\mathcal{N}=4$ super Yang-Mills"))]
    assert [m.paper.title for m in select({"np": {"any": ["NP-hard"]}}, papers)] == ["Graph coloring is NP-hard"]
    assert [m.paper.title for m in select({"sym": {"any": ["N=4"]}}, papers)] == ["Amplitudes of 𝒩=4 super Yang-Mills"]
