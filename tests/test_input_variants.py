"""Inputs the readers had not seen: new copies of the Hugging Face papers
page, and feeds written otherwise; each read right or refused in one
located line."""

from __future__ import annotations

import json
import os
import re
import textwrap

import pytest
from conftest import DATA, write_config
from recorded_http import Reply

from newsletter.errors import InputError
from newsletter.feeds import parse_feed
from newsletter.readers import parse_hf_papers_text


def parse(name: str):
    return parse_hf_papers_text((DATA / name).read_bytes(), name)


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


@pytest.mark.parametrize("width", [72, 80])
@pytest.mark.parametrize("at_hyphens", [True, False], ids=["word processor", "editor"])
def test_an_export_hard_wrapped_by_an_editor_or_a_word_processor_reads_the_same_papers(width, at_hyphens):
    """The export pasted into an editor that wrapped its paragraphs at 72 or
    80 columns, or saved as text with line breaks by a word processor (which
    breaks after a hyphen or a dash too): each paragraph's lines are one
    text.  A break after "geometry-" read "geometry- aware" (25 of the
    sample's 63 papers at 72 columns), "statistics--otherwise" and
    "robustness---ensembles" so too."""
    text = (DATA / "hf-papers-blank-lines.txt").read_text(encoding="utf-8")
    wrapped = "\n\n".join("\n".join(textwrap.wrap(p, width, break_on_hyphens=at_hyphens, break_long_words=False))
                          for p in text.split("\n\n"))
    assert wrapped.count("\n") > 2 * text.count("\n")
    papers = parse_hf_papers_text(wrapped.encode(), "wrapped.txt")
    assert [(p.title, p.abstract) for p in papers] == [(p.title, p.abstract) for p in parse("hf-papers-blank-lines.txt")]


@pytest.mark.parametrize("layout", ["a", "b"])
def test_a_hyphen_left_hanging_at_a_lines_end_keeps_its_space(layout):
    """"pre- and post-training" wrapped after "pre-" is two words: the line
    break there is a space, in an abstract and in a title wrapped over two lines."""
    (title, abstract), second = _sample(2)
    head, tail = "Pre- and Post-Training Compression", "of Sparse Experts"
    cut = abstract.index(" ", 200)
    body = abstract[:cut] + " both pre-\nand post-training" + abstract[cut:]
    if layout == "a":
        text = f"{_HEADER_A}{head}\n{tail}\n\n{body}\n\n{second[0]}\n\n{second[1]}\n"
    else:
        text = f"{_HEADER_B}Pre-\nand Post-Training Compression of Sparse Experts\n{abstract}\n{second[0]}\n{second[1]}\n"
    first = parse_hf_papers_text(text.encode(), "hanging.txt")[0]
    assert first.title == "Pre- and Post-Training Compression of Sparse Experts"
    if layout == "a":
        assert first.abstract == abstract[:cut] + " both pre- and post-training" + abstract[cut:]


_FEEDS = {  # name: (fixture, the Content-Type it is served with)
    "blog": ("feed-atom-html-summaries.xml", "application/atom+xml"),
    # a server that sends its feeds as web pages
    "news": ("feed-rss-cdata.xml", "text/html; charset=utf-8"),
    "arxiv": ("arxiv-rss-replace-cross.xml", "application/rss+xml"),
    "quiet": ("feed-rss-no-items.xml", "text/html"),
}


def test_feeds_with_html_summaries_cdata_announce_types_an_empty_day_and_a_wrong_content_type(
        http_server, tmp_path, cli):
    """Feeds fetched from 127.0.0.1: an Atom ``type="html"`` summary is text,
    its tags gone and its entities read once: the post's "&lt;" (written
    ``&amp;amp;lt;`` in the XML, ``&amp;lt;`` in its HTML) read "<", twice
    decoded, beside HTML escaped once (``x &lt; y``, ``R&amp;D``); HTML
    escaped twice throughout (WordPress's ``It&amp;#8217;s``) still reads
    as its characters.  An RSS description in CDATA loses its ``<p>`` and
    ``<a>``; a feed sent as ``text/html`` is read as the feed it is; an
    arXiv paper replaced (v2) or cross-listed is one paper; a feed of no
    items is a quiet day, no error."""
    sources = ""
    for name, (fixture, content_type) in _FEEDS.items():
        http_server.route(f"/{name}", Reply(body=(DATA / fixture).read_bytes(), headers={"Content-Type": content_type}))
        sources += f'  - {{type: feed, name: {name}, url: "{http_server.url("/" + name)}"}}\n'
    write_config(tmp_path, "sources:\n" + sources + "http: {retries: 0, fresh_for: 0}\ntopics: {t: {any: [diffusion]}}\n")
    r = cli("papers", "--json")
    assert r.code == 0 and r.err == "", r.err
    read = {p["title"]: (p["source"], p["abstract"], p["id"]) for p in json.loads(r.out)}
    assert read == {
        "Escaping Model Outputs for Diffusion Demos": (
            "blog", "We show that x < y & that R&D costs drop. A demo must write &lt; where a model writes <. "
                    "See the code.", "escaping model outputs for diffusion demos"),
        "Diffusion Notes from the Reading Group": (
            "blog", "It\u2019s our diffusion reading group\u2019s notes.", "diffusion notes from the reading group"),
        "Transformers for Graph Diffusion": (
            "news", "We show that transformers & graph diffusion mix when x < y. Code & data: github.com/lab/gd.",
            "transformers for graph diffusion"),
        "Sparse Flow Matching": (
            "arxiv", "We revise our flow matching method; the new version adds diffusion experiments on 3 & 4 datasets.",
            "2405.01234"),
        "Graph Kernels for Diffusion, Revisited": (
            "arxiv", "Graph kernels are compared with diffusion models on twelve benchmarks.", "2406.07777"),
    }, read
    warnings: list[str] = []
    papers = parse_feed((DATA / "arxiv-rss-replace-cross.xml").read_bytes(), "arxiv.xml", "arxiv", warnings.append)
    assert [(p.arxiv_id, p.version, p.categories) for p in papers] == [
        ("2405.01234", 2, ("cs.LG",)), ("2406.07777", 1, ("stat.ML", "cs.LG"))] and warnings == []


@pytest.mark.parametrize("layout", ["a", "b"])
@pytest.mark.parametrize("before", ["• ", "- ", "▪ ", "Abstract: ", "Abstract. ", "Abstract — "])
def test_an_abstract_opening_with_a_bullet_or_a_label_loses_it(before, layout):
    """Abstracts each set as a list's item under a title that is none ("•
    We present ..."), or labelled: the bullet was the abstract's first
    character in the email (the labels were already dropped)."""
    pairs = _sample()
    papers = parse_hf_papers_text(_export([(t, before + a) for t, a in pairs], layout).encode(), "bullets.txt")
    assert [(p.title, p.abstract) for p in papers] == pairs


def test_a_dash_before_one_abstract_alone_is_kept():
    """One abstract opening with "- " is no list (a "-" may be text): kept, as a title's is."""
    pairs = _sample()
    papers = parse_hf_papers_text(_export([pairs[0], (pairs[1][0], "- " + pairs[1][1]), pairs[2]], "a").encode(), "x.txt")
    assert papers[1].abstract == "- " + pairs[1][1]


@pytest.mark.parametrize("layout", ["a", "b"])
@pytest.mark.parametrize("lines", ["Ada Lovelace\nGrace Hopper", "Ada Lovelace\nGrace Hopper\n+3\n· 5 authors"])
def test_two_unknown_lines_between_a_title_and_its_abstract_are_refused_not_read_as_a_paper(lines, layout):
    """A card copied with its authors' names a line each (no 'Authors:'),
    read in pairs, gave the title "Ada Lovelace" for its abstract and a
    paper titled "Grace Hopper" the true abstract, without a word."""
    pairs = _sample(2)
    between = lines if layout == "b" else lines.replace("\n", "\n\n")
    text = _export([(f"{pairs[0][0]}\n{between if layout == 'b' else chr(10) + between}", pairs[0][1]), pairs[1]], layout)
    with pytest.raises(InputError) as info:
        parse_hf_papers_text(text.encode(), "names.txt")
    lines_at = {t.removeprefix("Subscribe"): n for n, t in enumerate(text.split("\n"), 1) if t}
    assert str(info.value).startswith(
        f"names.txt:{lines_at['Ada Lovelace']}: this line, 'Ada Lovelace', under the title {pairs[0][0][:59] + '…'!r} "
        f"(line {lines_at[pairs[0][0]]}), is too short to be its abstract, and line {lines_at['Grace Hopper']}, "
        f"'Grace Hopper', over the abstract at line {lines_at[pairs[0][1]]}, is no sentence either:"), info.value


def test_a_short_abstract_ending_with_a_full_stop_over_a_short_title_is_read():
    """The way out the error above names: a whole abstract this short is a sentence."""
    pairs = _sample(2)
    papers = parse_hf_papers_text(_export([(pairs[0][0], "We prove it."), ("Grokking", pairs[1][1])], "b").encode(), "x")
    assert [(p.title, p.abstract) for p in papers] == [(pairs[0][0], "We prove it."), ("Grokking", pairs[1][1])]


@pytest.mark.parametrize("which", [0, 1, 3])
def test_a_paper_without_the_blank_line_between_its_title_and_abstract_is_read(which):
    """One paper of a listing with blank lines written title over abstract
    without one between (an export mended by hand): its two lines were one
    paragraph, glued to the abstract before as its second paragraph, the
    paper lost without a word (the first paper's was refused)."""
    pairs = _sample(4)
    text = _export(pairs, "a")
    title, abstract = pairs[which]
    text = text.replace(f"{title}\n\n{abstract}", f"{title}\n{abstract}")
    papers = parse_hf_papers_text(text.encode(), "mended.txt")
    assert [(p.title, p.abstract) for p in papers] == pairs


@pytest.mark.parametrize("between", ["\n", "\n\n"], ids=["glued", "blank line"])
def test_papers_without_blank_lines_appended_under_a_listing_with_them_are_read(between):
    """A file of the layout with blank lines, then papers of the layout
    without them appended with no header of their own (a second copy's
    papers pasted under the first's): they were one paragraph, glued to the
    last abstract as its second; two papers lost without a word."""
    pairs = _sample(4)
    text = _export(pairs[:2], "a").rstrip("\n") + between + "".join(f"{t}\n{a}\n" for t, a in pairs[2:])
    papers = parse_hf_papers_text(text.encode(), "mixed.txt")
    assert [(p.title, p.abstract) for p in papers] == pairs


@pytest.mark.parametrize("day", ["Sep 4, 2025", "Thursday, September 4, 2025", "Sept. 4, 2025", "2025-09-04",
                                 "Sep 4, 2025\n← Sep 3\nSep 5 →", "Sep 4, 2025 · 12 papers"])
@pytest.mark.parametrize("layout", ["a", "b"])
def test_a_day_reached_by_the_calendar_with_its_year_is_the_header(day, layout):
    """The listing of one day opened from the page's calendar shows its full date (and the arrows to
    the days beside it): header lines, as "Sep 4" is."""
    pairs = _sample(2)
    sep = "\n\n" if layout == "a" else "\n"
    header = f"Daily Papers\nby AK and the research community\n{day}\n".replace("\n", sep)
    papers = parse_hf_papers_text((header + "".join(f"{t}{sep}{a}{sep}" for t, a in pairs)).encode(), "day.txt")
    assert [(p.title, p.abstract) for p in papers] == pairs


#: A card as a phone's narrow page copies it: its counts on lines of their own (upvotes named, or bare).
_NARROW_CARDS = {
    "named upvotes": ("Submitted by\nakhaliq\nUpvote\n{up}\n{comments}\n", [1200, 57, 3]),
    "upvotes on one line": ("Submitted by akhaliq\nUpvote {up}\n", [1200, 57, 3]),
    "capital K": ("Upvote\n{up}\n".replace("{up}", "{up_k}"), [12300, 57, 3]),
    "bare counts": ("·\n5 authors\n{up}\n", [None, None, None]),
}


@pytest.mark.parametrize("layout", ["a", "b"])
@pytest.mark.parametrize("card", list(_NARROW_CARDS))
def test_a_narrow_pages_cards_with_counts_a_line_each_are_read(card, layout):
    """A copy from a phone (or a narrow window): "Upvote" over "1.2k", a
    comment count alone; the papers are read, the named upvotes with them
    (1.2k is 1,200), a bare number is no title."""
    lines, upvotes = _NARROW_CARDS[card]
    pairs = _sample()
    sep = "\n\n" if layout == "a" else "\n"
    text = "Daily Papers\nby AK and the research community\nSep 4\n" + "".join(
        f"{t}\n" + lines.format(up=up, up_k=up.replace("1.2k", "12.3K"), comments=c) + f"{a}\n"
        for (t, a), up, c in zip(pairs, ["1.2k", "57", "3"], [4, 0, 12], strict=True))
    papers = parse_hf_papers_text(text.replace("\n", sep).encode(), "phone.txt")
    assert [(p.title, p.abstract) for p in papers] == pairs
    assert [p.upvotes for p in papers] == upvotes


def test_an_export_of_one_two_megabyte_line_is_refused_at_it():
    """The line breaks lost (a copy through a tool that joined them): one
    line of 2 MB is refused in one located line, not read as one paper."""
    text = (DATA / "hf-papers-blank-lines.txt").read_text(encoding="utf-8").replace("\n", " ")
    line = (text * (2_000_000 // len(text) + 1))[:2_000_000]
    with pytest.raises(InputError) as info:
        parse_hf_papers_text(line.encode(), "joined.txt")
    assert str(info.value).startswith("joined.txt:1: no Hugging Face papers page header")


@pytest.mark.parametrize(("width", "lines"), [(95, 4), (123, 8), (193, 12), (298, 6)])
def test_a_listing_without_blank_lines_wrapped_at_a_fixed_width_is_refused_where_a_line_goes_on(width, lines):
    """The layout without blank lines saved at a fixed width (a text editor's
    or a terminal's): its lines were read in pairs, "since they rely on
    backpropagation ..." a paper's title, without a word (the shorter copies
    of the sample, 49 widths and lengths of 70 tried).  The line that carries
    on a sentence where a title belongs is named."""
    compact = (DATA / "hf-papers-compact.txt").read_text(encoding="utf-8").split("\n")[:lines]
    text = "\n".join("\n".join(textwrap.wrap(line, width)) for line in compact)
    with pytest.raises(InputError) as info:
        parse_hf_papers_text(text.encode(), "wrapped.txt")
    assert re.fullmatch(r"wrapped\.txt:(\d+): line \1, '[a-z][^']*', goes on from the line above it \(which ends '[^']*', "
                        r"inside a sentence\), where a title belongs: was the export wrapped at a fixed width\? .*",
                        str(info.value)), info.value


def test_an_abstract_ending_on_a_link_or_without_a_full_stop_over_a_title_is_read():
    """Abstracts end without a full stop (on a link, a word) and titles may
    start in lower case ("mixup: ..."): no wrapped line unless both a word
    ends the abstract and a plain word starts the title."""
    (t1, a1), (t2, a2), (t3, a3) = _sample()
    pairs = [(t1, a1.rstrip(".") + " at https://github.com/x/y"), ("mixup: Beyond Empirical Risk", a2.rstrip(".")),
             ("iPhone Photos Denoised", a3)]
    papers = parse_hf_papers_text(_export(pairs, "b").encode(), "x.txt")
    assert [(p.title, p.abstract) for p in papers] == pairs


@pytest.mark.parametrize("item", ["Paper • {id} • Published Sep 4, 2024 • 57\n",
                                  "Paper\n{id}\n•\nPublished Sep 4, 2024\n•\n57\n",
                                  "Paper\n\n•\n\n{id}\n\n•\n\nPublished Sep 4, 2024\n\n"])
def test_a_hugging_face_collection_copied_as_text_is_named_with_its_papers_ids(item):
    """A collection's page (titles over "Paper • ID • Published ...", no
    abstracts) given as the export was "is this a papers listing export?":
    it says what it is and the ids a topic's like: takes."""
    text = "akhaliq's Collections\nDiffusion distillation\nupdated 3 days ago\n" + "".join(
        f"{title}\n" + item.format(id=f"2409.0234{i}") for i, (title, _) in enumerate(_sample()))
    with pytest.raises(InputError) as info:
        parse_hf_papers_text(text.encode(), "collection.txt")
    assert str(info.value) == (
        "collection.txt:1: no Hugging Face papers page header (lines such as 'Get trending papers in your email "
        "inbox!' and 'Subscribe') (it is a Hugging Face collection of 3 papers, which shows no abstracts for topics "
        "to match; to rank the digest by these papers, list their ids under a topic's like: [2409.02340, 2409.02341, "
        "2409.02342]; the daily papers page, copied, is the export)")


@pytest.mark.parametrize("path", ["papers/", "papers/*.txt"])
def test_a_named_pipe_or_a_link_to_a_device_among_the_exports_is_named_not_read(tmp_path, cli, path):
    """A FIFO (an export piped in: `mkfifo papers/today.txt`) or a link to
    /dev/zero in the exports folder was left out without a word (reading it
    would block, or never end): each is named in a warning, and the other
    exports are read."""
    folder = tmp_path / "papers"
    folder.mkdir()
    (folder / "day.txt").write_bytes((DATA / "hf-papers-blank-lines.txt").read_bytes())
    os.mkfifo(folder / "today.txt")
    (folder / "zero.txt").symlink_to("/dev/zero")
    write_config(tmp_path, f"sources: [{{type: hf-papers-text, path: '{path}'}}]\ntopics: {{t: {{any: [diffusion]}}}}\n")
    r = cli("papers", "--json")
    assert r.code == 0, r.err
    assert len(json.loads(r.out)) == len(parse("hf-papers-blank-lines.txt"))
    assert r.err.splitlines() == [
        "warning: papers/today.txt: not read: it is a FIFO, not a regular file (save the export or the feed to a file)",
        "warning: papers/zero.txt: not read: it is a device, not a regular file (save the export or the feed to a file)"]
