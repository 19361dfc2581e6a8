"""Inputs the readers had not seen: new copies of the Hugging Face papers
page, and feeds written otherwise; each read right or refused in one
located line."""

from __future__ import annotations

import pytest
from conftest import DATA

from newsletter.errors import InputError
from newsletter.readers import parse_hf_papers_text


def _sample(n: int = 3) -> list[tuple[str, str]]:
    """The first ``n`` papers of the blank-lines sample, as (title, abstract)."""
    papers = parse_hf_papers_text((DATA / "hf-papers-blank-lines.txt").read_bytes(), "sample.txt")
    return [(p.title, p.abstract) for p in papers[:n]]


_HEADER_A = ("new\n\nGet trending papers in your email inbox!\n\nSubscribe\n\nDaily Papers\n\n"
             "byAK and the research community\n\nSep 4\n\n")
_HEADER_B = "Get trending papers in your email inbox!\nSubscribe"


def _export(pairs: list[tuple[str, str]], layout: str) -> str:
    if layout == "a":
        return _HEADER_A + "".join(f"{t}\n\n{a}\n\n" for t, a in pairs)
    return _HEADER_B + "".join(f"{t}\n{a}\n" for t, a in pairs)


@pytest.mark.parametrize("layout", ["a", "b"])
@pytest.mark.parametrize("title", ["Daily Papers", "SUBSCRIBE", "Sep 4"])
def test_a_title_read_as_the_pages_header_inside_the_papers_is_refused_not_glued_to_the_abstract_before(
        title, layout):
    """A paper titled as a line of the page's header ('Daily Papers',
    'Subscribe', a day) was dropped as a second export's header, and its
    abstract taken for the second paragraph of the abstract before it: one
    paper lost and another's abstract twice its length, without a word.
    A header is followed by a title, never by an abstract: it is refused at
    that abstract, naming the line."""
    pairs = _sample()
    pairs[1] = (title, pairs[1][1])
    text = _export(pairs, layout)
    with pytest.raises(InputError) as info:
        parse_hf_papers_text(text.encode(), "odd.txt")
    title_line = _export(pairs[:1], layout).count("\n") + 1
    abstract_line = title_line + (2 if layout == "a" else 1)
    assert str(info.value) == (
        f"odd.txt:{abstract_line}: expected a paper title, found a {len(pairs[1][1]):,}-character paragraph; "
        f"line {title_line}, {title!r}, reads as the page's header, which a title follows, not an abstract: "
        "is it this abstract's title?")


@pytest.mark.parametrize("layout", ["a", "b"])
def test_titles_holding_the_headers_words_or_starting_with_a_digit_or_a_quote_are_read(layout):
    """Titles the header's words are part of, all in capitals, or opening
    with a digit or a quote are titles (a control for the test above)."""
    titles = ["'Daily Papers' Considered Harmful", "Subscribe to Attention: Daily Papers as a Benchmark",
              "LLAMA-OMNI: SEAMLESS SPEECH INTERACTION WITH LARGE LANGUAGE MODELS",
              "3D Gaussian Splatting for Real-Time Radiance Field Rendering",
              '"Is This It?": Probing Whether Language Models Know When to Stop', "1000 Layer Networks for Self-Supervised RL"]
    abstracts = [a for _, a in _sample(2)] * 3
    pairs = list(zip(titles, abstracts, strict=True))
    papers = parse_hf_papers_text(_export(pairs, layout).encode(), "odd.txt")
    assert [(p.title, p.abstract) for p in papers] == pairs
