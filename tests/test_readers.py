"""The hf-papers-text reader on both export layouts, and what it refuses."""

from __future__ import annotations

import json
import re
import textwrap
from datetime import UTC, datetime

import pytest
from conftest import DATA, write_config

from newsletter import readers
from newsletter.config import parse_config
from newsletter.errors import InputError
from newsletter.readers import parse_hf_papers_text, read_papers


def parse(name: str):
    return parse_hf_papers_text((DATA / name).read_bytes(), name)


#: Site menus and footers as a browser's copy puts them: all on one line, or
#: separated by dots and bars, with the logo's emoji and a search box.
MENUS = [
    "Hugging Face Models Datasets Spaces Posts Docs Enterprise Pricing Log In Sign Up",
    "🤗 Hugging Face · Models · Datasets · Spaces · Community · Docs · Solutions · Pricing · Log In · Sign Up",
    "Skip to main content Hugging Face Search models, datasets, users... Models Datasets Spaces Docs Pricing",
    "Hugging Face | Models | Datasets | Spaces | Buckets | Docs | Enterprise | Pricing | Website",  # a new tab
    "Back to Papers Daily Weekly Monthly Trending Papers Submit paper Search any paper with AI",
]
FOOTERS = [
    "System theme Company TOS Privacy About Jobs Website Models Datasets Spaces Pricing Docs",
    "© 2024 Hugging Face · Terms of Service · Privacy Policy · Careers · Press · Status · GitHub · Discord",
]


def test_blank_lines_layout_reads_every_paper():
    papers = parse("hf-papers-blank-lines.txt")
    assert len(papers) == 63
    assert papers[0].title == "Reduced-Order Neural Operators: Learning Lagrangian Dynamics on Highly Sparse Graphs"
    assert papers[0].abstract.startswith("We present a neural operator architecture to simulate Lagrangian dynamics")
    assert papers[-1].title == "Gradient is All You Need?"
    assert papers[-1].abstract.endswith("support the provided theoretical insights.")
    titles = {p.title for p in papers}
    for chrome in ("new", "Subscribe", "Daily Papers", "Sep 4", "byAK and the research community"):
        assert chrome not in titles


def test_blank_lines_layout_without_daily_papers_line():
    papers = parse("hf-papers-blank-lines-2.txt")
    assert len(papers) == 44
    assert papers[0].title == "A Deep Conjugate Direction Method for Iteratively Solving Linear Systems"
    assert papers[-1].title.startswith("Deep Gradient Compression")
    assert "Convergent Graph Solvers" in {p.title for p in papers}  # a short title is still a title


def test_compact_layout_strips_subscribe_from_first_title():
    papers = parse("hf-papers-compact.txt")
    assert len(papers) == 241
    assert papers[0].title == (
        "AtMan: Understanding Transformer Predictions Through Memory Efficient Attention Manipulation"
    )
    assert papers[-1].title == "Uncertainty quantification in a mechanical submodel driven by a Wasserstein-GAN"
    assert all(not p.title.startswith("Subscribe") for p in papers)
    assert all(len(p.abstract) > 200 for p in papers)


def test_a_title_wrapped_over_two_lines_in_the_compact_layout_is_one_title():
    """A copy without blank lines whose long titles are wrapped (an editor's
    or a saved page's wrapping) inside a hyphenated word: the second line
    was refused as "another title", or as an abstract too short.  Each such
    title is one title, and so is one whose second line starts in lower
    case; a title that ends whole, then a line without an abstract, is
    still refused, and so is one ending on a word no title ends with over a
    line that can be a title of its own (see the next test)."""
    whole = parse("hf-papers-compact.txt")
    lines = (DATA / "hf-papers-compact.txt").read_text(encoding="utf-8").split("\n")
    wrapped = 0
    for n, line in enumerate(lines):
        bare = line.removeprefix("Subscribe")
        if any(bare == p.title for p in whole) and (cut := re.match(r"\S+ \S+ .*?[A-Za-z]-(?=[A-Za-z])", bare)):
            lines[n] = line[:len(line) - len(bare) + cut.end()] + "\n" + bare[cut.end():]
            wrapped += 1
    assert wrapped > 20
    papers = parse_hf_papers_text("\n".join(lines).encode(), "x.txt")
    assert [(p.title, p.abstract) for p in papers] == [(p.title, p.abstract) for p in whole]
    abstract = whole[0].abstract
    text = (f"Get trending papers in your email inbox!\nSubscribeTabReason: A Self-\nSupervised Benchmark\n{abstract}\n"
            f"Faster Diffusion Training\nLearned Noise Schedules\n{abstract}\n")
    with pytest.raises(InputError, match=r"^y\.txt:5: title 'Faster Diffusion Training' has no abstract \(line 6, "):
        parse_hf_papers_text(text.encode(), "y.txt")
    text = text.replace("Training\nLearned", "Training with\nlearned")
    assert [p.title for p in parse_hf_papers_text(text.encode(), "y.txt")] == [
        "TabReason: A Self-Supervised Benchmark", "Faster Diffusion Training with learned Noise Schedules"]


@pytest.mark.parametrize(("name", "line", "title", "next_line"), [
    ("adv-hf-c1.txt", 5, "What Are Vision Transformers Looking At", 6),  # no blank lines
    ("adv-hf-c2.txt", 5, "Be Careful What You Wish For", 6),
    ("adv-hf-c3.txt", 17, "Diffusion Models: A Survey of Methods and Applications in V", 19),  # blank lines
    ("adv-hf-c4.txt", 17, "Be Careful What You Wish For", 19),
])
def test_a_title_ending_on_a_word_no_title_ends_with_is_not_merged_with_the_next(name, line, title, next_line):
    """A real title ending "...Looking At", "...Wish For" or with a colon,
    without its abstract, took the next paper's title into its own and the
    file read as one paper fewer, silently.  The next title can stand alone
    (title case): the paper without an abstract is refused at its line, and
    the error says what to do if the two lines are one title."""
    with pytest.raises(InputError) as info:
        parse(name)
    said = str(info.value)
    assert said.startswith(f"{name}:{line}: title '{title}"), said
    assert said.endswith(f"reads as another title: no sentence in it; if line {next_line} continues the title, "
                         "join the two lines)"), said


def test_unicode_titles_survive():
    titles = {p.title for p in parse("hf-papers-compact.txt")}
    assert "σ-GPTs: A New Approach to Autoregressive Models" in titles
    assert any("Schrödinger" in t for t in titles)
    assert any(t.startswith("ItôTTS") for t in titles)


def test_abstracts_keep_angle_brackets_and_ampersands_verbatim():
    abstracts = [p.abstract for p in parse("hf-papers-compact.txt") + parse("hf-papers-blank-lines.txt")]
    assert any("<" in a for a in abstracts)
    assert any("&" in a for a in abstracts)
    assert not any("&lt;" in a or "&amp;" in a for a in abstracts)


def test_crlf_and_bom_are_accepted():
    raw = (DATA / "hf-papers-blank-lines.txt").read_bytes()
    papers = parse_hf_papers_text(b"\xef\xbb\xbf" + raw.replace(b"\n", b"\r\n"), "x.txt")
    assert len(papers) == 63
    assert papers[0].title.endswith("Highly Sparse Graphs")


@pytest.mark.parametrize(
    "name, line_end, paragraph_end",
    [
        ("blank-lines", "\u2028", "\u2029"),  # a copy on macOS: Unicode's line and paragraph separators
        ("blank-lines", "\u2028", "\u2028\u2028"),
        ("blank-lines", "\x85", "\x85\x85"),  # NEL
        ("blank-lines", "\x0b", "\x0c"),  # Word: vertical tab (a line break), form feed
        ("compact", "\u2028", None),
    ],
)
def test_unicode_and_word_line_breaks_end_lines(name, line_end, paragraph_end):
    text = (DATA / f"hf-papers-{name}.txt").read_text(encoding="utf-8")
    if paragraph_end:
        text = text.replace("\n\n", paragraph_end)
    papers = parse_hf_papers_text(text.replace("\n", line_end).encode("utf-8"), "x.txt")
    assert [(p.title, p.abstract) for p in papers] == [(p.title, p.abstract) for p in parse(f"hf-papers-{name}.txt")]


def test_duplicates_across_files_are_collapsed(tmp_path):
    (tmp_path / "papers").mkdir()
    for name in ("hf-papers-compact.txt", "hf-papers-blank-lines.txt", "hf-papers-blank-lines-2.txt"):
        (tmp_path / "papers" / name).write_bytes((DATA / name).read_bytes())
    # The same page saved twice, with a title spelled differently.
    copy = (DATA / "hf-papers-blank-lines-2.txt").read_text(encoding="utf-8")
    copy = copy.replace("Deep Gradient Compression: Reducing", "DEEP gradient-compression -- reducing")
    (tmp_path / "papers" / "again.txt").write_text(copy, encoding="utf-8")
    path = write_config(tmp_path, "sources: [{type: hf-papers-text, path: 'papers/*.txt'}]\ntopics: {t: {any: [x]}}\n")
    config = parse_config(path.read_text(), path)
    papers = read_papers(config)
    separate = sum(len(parse(n)) for n in ("hf-papers-compact.txt", "hf-papers-blank-lines.txt", "hf-papers-blank-lines-2.txt"))
    assert len({p.id for p in papers}) == len(papers)
    assert len(papers) < separate  # the samples overlap with each other
    assert sum("deep gradient compression" in p.id for p in papers) == 1


@pytest.mark.parametrize(
    "content, line, words",
    [
        (b"", 1, "empty file"),
        (b"\n\n   \n", 1, "empty file"),
        (b"new\n\nSubscribe\n\nTitle\n\nAbstract\x00\x01binary", 7, "binary"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", 3, "binary"),
        (b"Subscribe\n\n\xff\xfe broken", 3, "not UTF-8"),
        (b"Hello world\n\nThis is just a note.\n", 1, "no Hugging Face papers page header"),
        (b"new\n\nSubscribe\n\nDaily Papers\n\nA Title\n\nIts abstract is here.\n\nA lonely title\n", 11, "has no abstract"),
    ],
)
def test_not_an_export_is_an_error_with_file_and_line(content, line, words):
    with pytest.raises(InputError) as info:
        parse_hf_papers_text(content, "bad.txt")
    message = str(info.value)
    assert message.startswith(f"bad.txt:{line}: "), message
    assert words in message


def test_missing_abstract_in_the_middle_points_at_the_paper():
    lines = (DATA / "hf-papers-compact.txt").read_text(encoding="utf-8").split("\n")
    del lines[5]  # line 6: the abstract of the second paper (title at line 5)
    with pytest.raises(InputError) as info:
        parse_hf_papers_text("\n".join(lines).encode(), "cut.txt")
    # said at the title that lacks it: the next title is where its abstract should be
    assert str(info.value).startswith("cut.txt:5: title 'Occlusion Sensitivity Analysis"), str(info.value)
    assert "has no abstract (line 6, 'Neural Clamping" in str(info.value) and "reads as another title" in str(info.value)
    assert "listing that shows no abstracts" not in str(info.value)


def test_an_abstract_of_two_paragraphs_is_one_abstract():
    """A blank line inside an abstract (a page that sets it in two paragraphs):
    it was 'expected a paper title, found a 1,002-character paragraph; does
    ... lack its abstract?', of a paper that has one."""
    whole = parse_hf_papers_text((DATA / "hf-papers-blank-lines.txt").read_bytes(), "x.txt")
    paragraphs = (DATA / "hf-papers-blank-lines.txt").read_text(encoding="utf-8").split("\n\n")
    at = next(i for i, p in enumerate(paragraphs) if i > 10 and len(p) > 600)
    cut = paragraphs[at].find(". ", 300) + 1
    paragraphs[at] = paragraphs[at][:cut] + "\n\n" + paragraphs[at][cut + 1:]
    split = parse_hf_papers_text("\n\n".join(paragraphs).encode(), "x.txt")
    assert [(p.title, p.abstract) for p in split] == [(p.title, p.abstract) for p in whole]
    # a paragraph that is no abstract (a title written in lower case, no full stop) followed
    # by a long one is still refused: the first paper lacks its abstract
    text = ("Daily Papers\n\nA Paper Without Its Abstract\n\non the convergence of gradient descent for "
            "over-parameterized models\n\n" + "We study things. " * 30 + "\n")
    with pytest.raises(InputError, match="expected a paper title, found a 509-character paragraph"):
        parse_hf_papers_text(text.encode(), "y.txt")
    # a copy without blank lines pasted under the papers, header and all lost, was glued to the last abstract
    # (refused as a "second paragraph" longer than any abstract): its lines are its papers, title over abstract,
    # after a blank line or glued to the last abstract (see test_input_variants.py)
    compact = (DATA / "hf-papers-compact.txt").read_text(encoding="utf-8").split("\n", 2)[2].removeprefix("Subscribe")
    listing = (DATA / "hf-papers-blank-lines.txt").read_text(encoding="utf-8")
    both = [(p.title, p.abstract) for name in ("hf-papers-blank-lines.txt", "hf-papers-compact.txt") for p in parse(name)]
    for between in ("\n\n", "\n"):
        papers = parse_hf_papers_text((listing + between + compact).encode(), "x.txt")
        assert [(p.title, p.abstract) for p in papers] == both
    # a paragraph longer than any abstract after one is still no part of it
    text = listing + "\n\n" + "We study things. " * 300 + "\n"
    with pytest.raises(InputError, match=r"x.txt:\d+: expected a paper title, found a 5,099-character paragraph"):
        parse_hf_papers_text(text.encode(), "x.txt")


def test_an_abstract_whose_second_paragraph_is_one_short_sentence_is_one_abstract():
    """A blank line inside an abstract before a last short sentence ("Code is
    at ..."): the sentence was read as a title, the next paper's title as its
    abstract, and the error blamed that title as "too short to be its
    abstract".  It is the abstract's; the papers after it are read as before."""
    whole = parse("hf-papers-blank-lines.txt")
    paragraphs = (DATA / "hf-papers-blank-lines.txt").read_text(encoding="utf-8").split("\n\n")
    at = next(i for i, p in enumerate(paragraphs) if i > 10 and len(p) > 600)
    cut = paragraphs[at].rfind(". ", 0, len(paragraphs[at]) - 60) + 1
    second = paragraphs[at][cut + 1:]
    assert 8 <= len(second.split()) and len(second) < 300 and second.endswith(".")  # one sentence or two, short
    paragraphs[at] = paragraphs[at][:cut] + "\n\n" + second
    split = parse_hf_papers_text("\n\n".join(paragraphs).encode(), "x.txt")
    assert [(p.title, p.abstract) for p in split] == [(p.title, p.abstract) for p in whole]
    header = "Daily Papers\n\nSep 4\n\n"
    first = "Faster Diffusion Training\n\nWe train diffusion models faster. The schedule is learned with the model.\n\n"
    last = "Why Do Language Models Hallucinate?\n\n" + "We study hallucination in large models with probes. " * 3 + "\n"
    text = header + first + "Code and checkpoints are released for all of the experiments.\n\n" + last
    papers = parse_hf_papers_text(text.encode(), "y.txt")
    assert [p.abstract for p in papers][0] == ("We train diffusion models faster. The schedule is learned with the model. "
                                               "Code and checkpoints are released for all of the experiments.")
    assert [p.title for p in papers] == ["Faster Diffusion Training", "Why Do Language Models Hallucinate?"]
    # a title in title case, ending with a full stop, without its abstract is still refused: it is no sentence
    text = header + first + "A Benchmark for Joint Table and Text Reasoning over Many Documents.\n\n" + last
    with pytest.raises(InputError, match=r"^y\.txt:11: this line, 'Why Do Language Models Hallucinate\?', under the "
                                         r"title 'A Benchmark for Joint"):
        parse_hf_papers_text(text.encode(), "y.txt")


@pytest.mark.parametrize(
    ("name", "line", "said"),
    [
        ("adv-hf-b1.txt", 17, "has no abstract (line 19, 'Jane Doe, John Smith, Wei Li', looks like a list of author names"),
        ("adv-hf-b2.txt", 19, "this line, 'Code: github.com/org/repo', under the title 'Do vision transformers see"),
        ("adv-hf-b3.txt", 19, "this line, 'ICLR 2026 (oral)', under the title 'Do vision transformers see"),
        ("adv-hf-b4.txt", 17, "has no abstract (line 19 'Project page' is page chrome)"),
        ("adv-hf-b5.txt", 19, "this line, 'Accepted at NeurIPS 2025.', under the title 'Do vision transformers see"),
    ],
)
def test_a_sentence_case_title_over_a_short_unknown_line_is_no_second_paragraph(name, line, said):
    """A real title in sentence case ending in "?" (eight words or more)
    over a line the reader does not know (authors without "Authors:", a
    venue, a code link, a line of chrome): it was glued to the abstract
    before it as a second paragraph and that short line read as a paper.
    Only a line that reads as a title can follow a second paragraph."""
    with pytest.raises(InputError) as info:
        parse(name)
    assert str(info.value).startswith(f"{name}:{line}: "), str(info.value)
    assert said in str(info.value), str(info.value)


def test_a_title_beginning_with_subscribe_is_kept_whole():
    text = (
        "new\n\nGet trending papers in your email inbox!\n\nSubscribe\n\nDaily Papers\n\n4 Sep 2024\n\n"
        "Subscriber Churn Prediction with Language Models\n\nWe predict churn from support tickets.\n"
    )
    papers = parse_hf_papers_text(text.encode(), "x.txt")
    assert [p.title for p in papers] == ["Subscriber Churn Prediction with Language Models"]
    compact = "Get trending papers in your email inbox!\nSubscribeSubscriber Churn Prediction\nWe predict churn.\n"
    assert [p.title for p in parse_hf_papers_text(compact.encode(), "y.txt")] == ["Subscriber Churn Prediction"]


@pytest.mark.parametrize(
    "date",
    ["Sep 4", "Sept 4", "September 4th, 2024", "4 Sep 2024", "2024-09-04", "Dec 12", "Jan 3, 2025",
     "Wednesday, Sep 4", "Wed Sep 4", "September 2024", "Week 36", "Week 36, 2024",
     # a weekly view's range, other spellings of a week or a day
     "Sep 2 - Sep 8, 2024", "Sep 2 – 8", "Sep 2, 2024 — Sep 8, 2024", "2024-09-02 – 2024-09-08", "2024-W36",
     "Week of Sep 2, 2024", "September, 2024", "04.09.2024", "9/4/2024", "Today", "Yesterday",
     # a weekly view's day headings: the day's name alone, or with the day's count
     "Monday", "Wednesday", "Sep 2 · 12 papers", "Sep 3 (9 papers)", "Tuesday - 1 paper"],
)
def test_date_lines_in_the_header_are_chrome(date):
    text = f"Get trending papers in your email inbox!\n\nSubscribe\n\n{date}\n\nA Title\n\nAn abstract of it.\n"
    assert [p.title for p in parse_hf_papers_text(text.encode(), "x.txt")] == ["A Title"]


@pytest.mark.parametrize(
    "name, before, after",
    [
        ("hf-papers-blank-lines.txt", "in your email inbox!", "in your\u00a0email inbox!"),  # browser copy: NBSP
        ("hf-papers-blank-lines.txt", "Daily Papers", "Daily\tPapers"),
        ("hf-papers-blank-lines.txt", "byAK and the research", "byAK  and the research"),
        ("hf-papers-compact.txt", "in your email inbox!", "in your\u00a0email inbox!"),
        # "AK" is a link: one browser's copy spaces it, another's breaks the line there
        ("hf-papers-blank-lines-2.txt", "byAK and the research", "by AK and the research"),
        ("hf-papers-blank-lines-2.txt", "byAK and the research", "by\nAK\nand the research"),
    ],
)
def test_odd_white_space_inside_header_lines_is_still_the_header(name, before, after):
    text = (DATA / name).read_text(encoding="utf-8")
    assert before in text
    expected = parse(name)
    papers = parse_hf_papers_text(text.replace(before, after).encode(), name)
    assert [p.title for p in papers] == [p.title for p in expected]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_export_with_byte_order_mark_is_read(encoding):
    # Windows Notepad's "Unicode" saves UTF-16 with a byte order mark.
    import codecs

    text = (DATA / "hf-papers-compact.txt").read_text(encoding="utf-8")
    bom = {"utf-16": b"", "utf-16-le": codecs.BOM_UTF16_LE, "utf-16-be": codecs.BOM_UTF16_BE}[encoding]
    papers = parse_hf_papers_text(bom + text.encode(encoding), "win.txt")
    assert [p.title for p in papers] == [p.title for p in parse("hf-papers-compact.txt")]
    assert any("Schrödinger" in p.title for p in papers)


@pytest.mark.parametrize("encoding", ["utf-32", "utf-32-le", "utf-32-be"])
def test_utf32_export_with_byte_order_mark_is_read(encoding):
    """UTF-32-LE's byte order mark begins with UTF-16-LE's: it was read as
    UTF-16 and called binary data."""
    import codecs

    text = (DATA / "hf-papers-compact.txt").read_text(encoding="utf-8")
    bom = {"utf-32": b"", "utf-32-le": codecs.BOM_UTF32_LE, "utf-32-be": codecs.BOM_UTF32_BE}[encoding]
    papers = parse_hf_papers_text(bom + text.encode(encoding), "win.txt")
    assert [p.title for p in papers] == [p.title for p in parse("hf-papers-compact.txt")]
    cut = codecs.BOM_UTF32_LE + "new\n\nSubscribe\n\nA Title\n\nAn abstract.".encode("utf-32-le") + b"\x00"
    with pytest.raises(InputError) as info:
        parse_hf_papers_text(cut, "cut.txt")
    assert str(info.value).startswith("cut.txt:7: ") and "UTF-32" in str(info.value)


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
def test_utf16_and_utf32_without_byte_order_mark_are_read(encoding):
    """Python's ``encoding="utf-16-le"`` and ``iconv -t UTF-16LE`` write no byte
    order mark: it was "binary data (NUL byte)" at line 1."""
    text = (DATA / "hf-papers-compact.txt").read_text(encoding="utf-8")
    papers = parse_hf_papers_text(text.encode(encoding), "win.txt")
    assert [p.title for p in papers] == [p.title for p in parse("hf-papers-compact.txt")]
    assert any("Schrödinger" in p.title for p in papers)
    width = 4 if "32" in encoding else 2
    cut = parse_hf_papers_text(text.encode(encoding)[: -width - 1], "cut.txt", warn=(said := []).append)
    assert len(cut) == len(papers) - 1 and "ends in the middle of its abstract" in said[0]


def test_nul_bytes_that_are_no_utf16_are_still_binary_data():
    text = (DATA / "hf-papers-compact.txt").read_text(encoding="utf-8").encode()
    for data in (text[:300] + b"\x00" + text[300:], bytes(range(256)) * 20):
        with pytest.raises(InputError) as info:
            parse_hf_papers_text(data, "bin.txt")
        assert "binary data (NUL byte), not a text export" in str(info.value)


def test_truncated_utf16_is_an_error_with_file_and_line():
    import codecs

    data = codecs.BOM_UTF16_LE + "new\n\nSubscribe\n\nA Title\n\nAn abstract.".encode("utf-16-le") + b"\x00"
    with pytest.raises(InputError) as info:
        parse_hf_papers_text(data, "cut.txt")
    assert str(info.value).startswith("cut.txt:7: ") and "UTF-16" in str(info.value)


@pytest.mark.parametrize("at", [3, 40, 41])  # after the first paper, between papers, inside a paper
def test_a_stray_blank_line_in_the_compact_layout_is_ignored(at):
    lines = (DATA / "hf-papers-compact.txt").read_text(encoding="utf-8").split("\n")
    lines.insert(at, "  ")
    papers = parse_hf_papers_text("\n".join(lines).encode(), "glued.txt")
    assert [p.title for p in papers] == [p.title for p in parse("hf-papers-compact.txt")]


@pytest.mark.parametrize("chrome", ["Load more", "Previous page", "See all papers"])
def test_a_last_title_without_abstract_is_not_given_a_line_of_chrome_as_one(chrome):
    text = (DATA / "hf-papers-compact.txt").read_text(encoding="utf-8").rstrip("\n").split("\n")
    text = text[:-1] + [chrome]  # the last abstract is gone; a footer line follows the last title
    with pytest.raises(InputError) as info:
        parse_hf_papers_text("\n".join(text).encode(), "cut.txt")
    message = str(info.value)
    assert message.startswith("cut.txt:483: title 'Uncertainty quantification") and "has no abstract" in message
    assert chrome in message


def titles(name: str) -> list[str]:
    return [p.title for p in parse(name)]


@pytest.mark.parametrize(
    "first, second",
    [
        ("hf-papers-blank-lines.txt", "hf-papers-blank-lines-2.txt"), ("hf-papers-compact.txt", "hf-papers-compact.txt"),
        # one copy with blank lines, one without: the compact one's 241 papers became one "second
        # paragraph" of the last abstract (293 KB), without a word; the other way round, half its papers
        ("hf-papers-blank-lines.txt", "hf-papers-compact.txt"), ("hf-papers-compact.txt", "hf-papers-blank-lines.txt"),
    ],
)
@pytest.mark.parametrize("between", ["\n", "\n\n"])
def test_two_exports_saved_into_one_file_read_as_both(first, second, between):
    """The second page header is chrome, not papers titled 'new' or 'Get
    trending papers...'.  Joined by `cat` (a line break, no blank line), the
    second export's "new" above its header was glued to the first's last
    abstract ("... theoretical insights. new"), without a word."""
    text = (DATA / first).read_text(encoding="utf-8") + between + (DATA / second).read_text(encoding="utf-8")
    papers = parse_hf_papers_text(text.encode(), "both.txt")
    assert [(p.title, p.abstract) for p in papers] == [(p.title, p.abstract) for p in parse(first) + parse(second)]
    assert all(100 < len(p.abstract) < 5000 for p in papers)


def test_a_page_header_where_an_abstract_belongs_is_a_title_without_abstract():
    cut = (DATA / "hf-papers-blank-lines.txt").read_text(encoding="utf-8").rstrip("\n")
    cut = cut[: cut.rindex("\n\n")]  # the last abstract is gone: the file ends with a title
    text = cut + "\n\n" + (DATA / "hf-papers-blank-lines-2.txt").read_text(encoding="utf-8")
    with pytest.raises(InputError) as info:
        parse_hf_papers_text(text.encode(), "both.txt")
    message = str(info.value)
    assert message.startswith("both.txt:261: title 'Gradient is All You Need?' has no abstract"), message
    assert "'new' is page chrome" in message


@pytest.mark.parametrize(
    "before, after",
    [
        ("Papers\n\nTrending\n\n", ""),  # the site's tabs above the page
        ("Hugging Face\n\nModels\n\nDatasets\n\nSpaces\n\nPosts\n\nDocs\n\nPricing\n\nLog In\n\nSign Up\n\n", ""),
        ("", "\n\nLoad more\n"),
        ("", "\n\nPrevious\n\nNext\n"),
        ("", "\n\n‹\n\n1\n\n2\n\n3\n\n…\n\n12\n\n›\n"),  # a pagination bar
    ],
)
def test_page_navigation_around_the_papers_is_chrome(before, after):
    for name in ("hf-papers-blank-lines.txt", "hf-papers-compact.txt"):
        text = before + (DATA / name).read_text(encoding="utf-8").rstrip("\n") + after
        assert [p.title for p in parse_hf_papers_text(text.encode(), name)] == titles(name)


def test_a_paragraph_before_the_header_is_not_navigation():
    text = "These are the papers I want to read, copied from the page this morning, in order.\n\n"
    text += (DATA / "hf-papers-blank-lines.txt").read_text(encoding="utf-8")
    with pytest.raises(InputError) as info:
        parse_hf_papers_text(text.encode(), "notes.txt")
    assert str(info.value).startswith("notes.txt:1: no Hugging Face papers page header")


def test_invisible_characters_of_a_browser_copy_are_not_text():
    text = (DATA / "hf-papers-blank-lines.txt").read_text(encoding="utf-8")
    assert "Reduced-Order Neural" in text and "Lagrangian" in text
    text = text.replace("\n\n", "\n\u200b\n").replace("Lagrangian", "La\u00adgran\u00adgian")
    papers = parse_hf_papers_text(text.encode(), "copy.txt")
    assert [p.title for p in papers] == titles("hf-papers-blank-lines.txt")
    assert papers[0].title == "Reduced-Order Neural Operators: Learning Lagrangian Dynamics on Highly Sparse Graphs"


def test_send_reads_copies_with_page_chrome_and_stops_at_a_truncated_one(tmp_path, cli):
    """End to end: a copy with the site's tabs and day navigation and two pages saved into
    one file are read whole; a file whose last title lost its abstract stops `send`
    (one FILE:LINE line, exit 2, nothing sent)."""
    papers = tmp_path / "papers"
    papers.mkdir()
    blank = (DATA / "hf-papers-blank-lines.txt").read_text(encoding="utf-8").rstrip("\n")
    compact = (DATA / "hf-papers-compact.txt").read_text(encoding="utf-8")
    (papers / "a.txt").write_text(
        f"{MENUS[0]}\n\nPapers\n\nTrending\n\n{blank}\n\nPrevious\n\nNext\n\n{FOOTERS[1]}\n", encoding="utf-8"
    )
    (papers / "b.txt").write_text(compact + compact, encoding="utf-8")
    write_config(
        tmp_path,
        "sources: [{type: hf-papers-text, path: 'papers/*.txt'}]\n"
        "topics: {t: {any: [diffusion]}}\n"
        "subscribers: [{email: ada@example.org, topics: [t]}]\n"
        "delivery: {transport: outbox, path: outbox}\n",
    )
    r = cli("papers", "--json")
    assert r.code == 0, r.err
    listed = [p["title"] for p in json.loads(r.out)]
    assert len(listed) == len(set(titles("hf-papers-blank-lines.txt") + titles("hf-papers-compact.txt")))
    assert not {"Papers", "Next", "Get trending papers in your email inbox!"} & set(listed)
    (papers / "c.txt").write_text("new\n\nSubscribe\n\nA Title Without Its Abstract\n", encoding="utf-8")
    r = cli("send")
    assert r.code == 2 and "Traceback" not in r.err
    assert r.err.strip() == "papers/c.txt:5: title 'A Title Without Its Abstract' has no abstract"
    assert not (tmp_path / "outbox").exists() or not any((tmp_path / "outbox").iterdir())
    (papers / "c.txt").unlink()
    r = cli("send")
    assert r.code == 0 and "sent 1," in r.out, r.err


def test_a_day_without_papers_is_read_as_none_with_a_warning(tmp_path, cli):
    """The export of a day without papers (a holiday) is its header alone: it was
    an error, and one such file in a folder of daily exports stopped every send
    (exit 2) until it was removed.  The others are read; the file is named;
    validate, strict about local files, still names it as a problem."""
    warnings: list[str] = []
    for header in ("new\n\nGet trending papers in your email inbox!\n\nSubscribe\n\nDaily Papers\n\n"
                   "byAK and the research community\n\nSep 7\n",
                   "Get trending papers in your email inbox once a day!\nGet trending papers in your email inbox!\n"
                   "Subscribe\n"):
        assert parse_hf_papers_text(header.encode(), "day.txt", warn=warnings.append) == []
    assert warnings == [f"day.txt:{line}: the page header is there but no papers follow it (a day without papers?); "
                        "nothing read from this file" for line in (11, 3)]
    papers = tmp_path / "papers"
    papers.mkdir()
    (papers / "a.txt").write_bytes((DATA / "hf-papers-compact.txt").read_bytes())
    (papers / "b.txt").write_text("new\n\nSubscribe\n\nDaily Papers\n\nSep 7\n", encoding="utf-8")
    write_config(tmp_path, "sources: [{type: hf-papers-text, path: papers/}]\ntopics: {t: {any: [diffusion]}}\n"
                           "subscribers: [{email: ada@example.org, topics: [t]}]\n")
    r = cli("send")
    assert r.code == 0 and "sent 1," in r.out, r.err
    assert r.err.startswith("warning: papers/b.txt:7: the page header is there but no papers follow it"), r.err
    r = cli("validate")
    assert r.code == 2 and "papers/b.txt:7: the page header is there but no papers follow it" in r.err


@pytest.mark.parametrize("where", ["header", "papers"])
def test_blank_lines_in_only_the_header_or_only_the_papers(where):
    """A copy whose header lines follow each other without blank lines (the date right
    above the first title), or whose papers do while its header does not."""
    text = (DATA / "hf-papers-blank-lines.txt").read_text(encoding="utf-8")
    end = text.index("Sep 4\n") + len("Sep 4\n")
    header, papers = text[:end], text[end:].lstrip("\n")
    if where == "header":
        text = header.replace("\n\n", "\n") + papers
    else:
        text = header + "\n" + papers.replace("\n\n", "\n")
    assert [p.title for p in parse_hf_papers_text(text.encode(), "x.txt")] == titles("hf-papers-blank-lines.txt")


def test_white_space_inside_titles_and_abstracts_is_one_space():
    text = "Get trending papers in your email inbox!\n\nSubscribe\n\nDeep\u00a0Learning\tfor  Fun \t\n\n"
    text += "An  abstract\u00a0with\ttabs,\nwrapped. \n"
    (paper,) = parse_hf_papers_text(text.encode(), "x.txt")
    assert paper.title == "Deep Learning for Fun"
    assert paper.abstract == "An abstract with tabs, wrapped."


@pytest.mark.parametrize(
    "name, words",
    [("hf-daily-2024-06-07.json", "type: hf-daily"), ("feed-rss2.xml", "type: feed or arxiv"), ("arxiv-api.xml", "arxiv")],
)
def test_a_saved_answer_of_another_source_type_says_which_type_reads_it(name, words):
    with pytest.raises(InputError) as info:
        parse_hf_papers_text((DATA / name).read_bytes(), name)
    message = str(info.value)
    assert message.startswith(f"{name}:1: no Hugging Face papers page header") and words in message


@pytest.mark.parametrize(
    "page",
    [
        "<!DOCTYPE html>\n<html lang=en><head><title>Daily Papers - Hugging Face</title></head><body>",
        "<!-- saved from url=(0029)https://huggingface.co/papers -->\n<html><head><title>Daily Papers</title>",
        "From: <Saved by Blink>\nSnapshot-Content-Location: https://huggingface.co/papers\n"
        "Subject: Daily Papers - Hugging Face\nMIME-Version: 1.0\nContent-Type: multipart/related;\n",
    ],
)
def test_a_web_page_saved_as_html_says_to_copy_its_text(page):
    with pytest.raises(InputError) as info:
        parse_hf_papers_text((page + "<h3>Learning Things</h3><p>We learn.</p>\n" * 3).encode(), "day.html")
    message = str(info.value)
    assert message.startswith("day.html:1: no Hugging Face papers page header"), message
    assert "a web page saved as HTML" in message and "a saved feed" not in message


def test_a_papers_page_saved_whole_given_as_a_text_export_names_the_type_that_reads_it():
    """Such a page holds every paper's data, which hf-daily reads; being told
    to copy its text lost the authors and dates it has."""
    page = (DATA / "hf-papers-page-2024-06-06.html").read_bytes()
    with pytest.raises(InputError) as info:
        parse_hf_papers_text(page, "day.html")
    assert str(info.value) == (
        "day.html:1: no Hugging Face papers page header (lines such as 'Get trending papers in your email inbox!' "
        "and 'Subscribe') (it is Hugging Face's papers page saved as HTML: type: hf-daily reads such a page as it "
        "is, each paper with its authors and date)"
    )


@pytest.mark.parametrize("encoding", ["cp1252", "latin-1"])
def test_an_export_saved_as_windows_1252_or_latin_1_is_read(encoding):
    """Windows' "ANSI" save: no UTF-8 in it at all, so the bytes are that encoding's."""
    text = (DATA / "hf-papers-compact.txt").read_text(encoding="utf-8").replace("σ", "s")  # not in either
    papers = parse_hf_papers_text(text.encode(encoding), "ansi.txt")
    assert [p.title for p in papers] == [p.title for p in parse_hf_papers_text(text.encode(), "utf8.txt")]
    assert any("Schrödinger" in p.title for p in papers)


def test_utf8_with_a_stray_latin_1_byte_is_still_an_error():
    text = (DATA / "hf-papers-compact.txt").read_text(encoding="utf-8")
    lines = text.split("\n")
    lines[5] += " caf\xe9"
    data = "\n".join(lines).encode("utf-8").replace("caf\xe9".encode(), b"caf\xe9")
    with pytest.raises(InputError) as info:
        parse_hf_papers_text(data, "mixed.txt")
    assert str(info.value).startswith("mixed.txt:6: not UTF-8 text (byte 0xe9)")


@pytest.mark.parametrize("menu", MENUS)
@pytest.mark.parametrize("name", ["hf-papers-blank-lines.txt", "hf-papers-compact.txt"])
def test_a_site_menu_in_one_long_paragraph_above_the_header_is_chrome(menu, name):
    """A whole-page copy puts the site's menu on one line, often longer than the
    short navigation lines allowed before the header: it was "no header"."""
    sep = "\n\n" if "blank" in name else "\n"
    for before in (menu + sep, "Hugging Face" + sep + menu + sep, menu + sep + "Papers" + sep + "Trending" + sep):
        text = before + (DATA / name).read_text(encoding="utf-8")
        assert [p.title for p in parse_hf_papers_text(text.encode(), name)] == titles(name)


@pytest.mark.parametrize("footer", FOOTERS + MENUS[:1])
@pytest.mark.parametrize("name", ["hf-papers-blank-lines.txt", "hf-papers-compact.txt"])
def test_a_site_footer_in_one_paragraph_after_the_papers_is_chrome(footer, name):
    sep = "\n\n" if "blank" in name else "\n"
    text = (DATA / name).read_text(encoding="utf-8").rstrip("\n") + sep + "Load more" + sep + footer + "\n"
    assert [p.title for p in parse_hf_papers_text(text.encode(), name)] == titles(name)


@pytest.mark.parametrize("name", ["hf-papers-blank-lines.txt", "hf-papers-compact.txt"])
def test_a_site_footer_one_item_a_line_after_the_papers_is_chrome(name):
    """A copy that keeps the page's lines has the footer one item a line, and
    its "System theme" toggle apart: "title 'Pricing' has no abstract"."""
    sep = "\n\n" if "blank" in name else "\n"
    items = ["System theme", "Company", "TOS", "Privacy", "About", "Jobs", "Website", "Models", "Datasets", "Spaces",
             "Pricing", "Docs", "Copyright © 2024 Hugging Face, Inc. All rights reserved."]
    text = (DATA / name).read_text(encoding="utf-8").rstrip("\n")
    for footer in (sep.join(items), "\n".join(items), items[0] + sep + " · ".join(items[1:])):
        data = f"{text}{sep}{footer}\n".encode()
        assert [p.title for p in parse_hf_papers_text(data, name)] == titles(name)


@pytest.mark.parametrize("footer", ["Previous\nNext", "Load more", "1\n2\n3\nNext", "System theme\nCompany\nTOS\nPrivacy",
                                    "See all papers"])
def test_a_footer_glued_under_the_last_abstract_is_chrome_and_that_paper_is_read(footer):
    """A copy with blank lines whose footer came under the last abstract
    without one ("... theoretical insights.", "Previous", "Next"): the footer
    was read as the abstract's end, and that paper dropped as "cut off"."""
    whole = parse("hf-papers-blank-lines.txt")
    text = (DATA / "hf-papers-blank-lines.txt").read_text(encoding="utf-8").rstrip("\n") + f"\n{footer}\n"
    said: list[str] = []
    papers = parse_hf_papers_text(text.encode(), "x.txt", warn=said.append)
    assert [(p.title, p.abstract) for p in papers] == [(p.title, p.abstract) for p in whole]
    assert said == []

@pytest.mark.parametrize("name", ["hf-papers-blank-lines.txt", "hf-papers-compact.txt"])
def test_the_logos_text_above_the_sites_menu_is_chrome(name):
    """Text taken from the page with its images' text starts "Hugging Face's
    logo": with it, the menu read as no menu and the export as "no header"."""
    sep = "\n\n" if "blank" in name else "\n"
    menu = "Hugging Face's logo\nHugging Face\nModels\nDatasets\nSpaces\nCommunity\nDocs\nEnterprise\nPricing"
    text = f"{menu}{sep}Log In\nSign Up{sep}" + (DATA / name).read_text(encoding="utf-8")
    assert [p.title for p in parse_hf_papers_text(text.encode(), name)] == titles(name)


def test_two_whole_page_copies_with_their_menus_in_one_file_read_as_both():
    first, second = ((DATA / n).read_text(encoding="utf-8").rstrip("\n") for n in ("hf-papers-blank-lines.txt", "hf-papers-blank-lines-2.txt"))
    text = f"{MENUS[0]}\n\n{first}\n\n{FOOTERS[0]}\n\n{MENUS[1]}\n\n{second}\n\n{FOOTERS[1]}\n"
    papers = parse_hf_papers_text(text.encode(), "both.txt")
    assert [p.title for p in papers] == titles("hf-papers-blank-lines.txt") + titles("hf-papers-blank-lines-2.txt")


@pytest.mark.parametrize(
    "before",
    [
        # a paper (title and abstract) above the header: not navigation, never dropped in silence
        "Flow Matching for Generative Modeling on Datasets and Spaces\n\n"
        "We introduce flow matching, a simulation-free way to train continuous normalizing flows.\n\n",
        # a title made of the site's words but one is a title, with its abstract
        "Learning to Search with Open Source Models and Datasets\n\n"
        "We train agents to search a hub of open models and datasets for the one that fits a task.\n\n",
        # a sentence made mostly of the site's words is still a sentence
        "I copied these models and datasets papers from the Hugging Face site to read them on the train.\n\n",
    ],
)
def test_text_above_the_header_that_is_not_a_menu_is_still_refused(before):
    text = MENUS[0] + "\n\n" + before + (DATA / "hf-papers-blank-lines.txt").read_text(encoding="utf-8")
    with pytest.raises(InputError) as info:
        parse_hf_papers_text(text.encode(), "notes.txt")
    assert str(info.value).startswith("notes.txt:1: no Hugging Face papers page header")


def test_a_title_made_of_the_sites_words_is_still_a_paper():
    text = (DATA / "hf-papers-overlap.txt").read_text(encoding="utf-8").rstrip()
    text += "\n\nLearning to Search with Open Source Models and Datasets\n\nWe train agents to search the hub.\n"
    assert titles("hf-papers-overlap.txt") + ["Learning to Search with Open Source Models and Datasets"] == [
        p.title for p in parse_hf_papers_text(text.encode(), "x.txt")
    ]


def test_a_menu_without_any_page_header_is_not_an_export():
    text = f"{MENUS[0]}\n\n{FOOTERS[0]}\n\nSome Title\n\nSome text about it.\n"
    with pytest.raises(InputError) as info:
        parse_hf_papers_text(text.encode(), "menu.txt")
    assert str(info.value).startswith("menu.txt:1: no Hugging Face papers page header")


def cut_in_last_abstract(name: str, keep: float = 0.5) -> tuple[str, int]:
    """The export cut off inside its last abstract (mid-word, as a truncated
    download ends), and the line of the last title."""
    text = (DATA / name).read_text(encoding="utf-8").rstrip()
    sep = "\n\n" if "blank" in name else "\n"
    start = text.rindex(sep) + len(sep)
    cut = text[: start + int((len(text) - start) * keep)]
    cut = cut.rstrip(" .,;:!?)")[:-1]  # never at a sentence's end
    return cut, text[:start].rstrip().count("\n") + 1


def parse_warned(text: str | bytes, name: str = "cut.txt") -> tuple[list, list[str]]:
    warnings: list[str] = []
    data = text.encode() if isinstance(text, str) else text
    return parse_hf_papers_text(data, name, warn=warnings.append), warnings


@pytest.mark.parametrize("name", ["hf-papers-blank-lines.txt", "hf-papers-compact.txt", "hf-papers-blank-lines-2.txt"])
def test_an_export_cut_off_inside_the_last_abstract_keeps_the_others_and_says_so(name):
    cut, line = cut_in_last_abstract(name)
    papers, warnings = parse_warned(cut)
    complete = titles(name)
    assert [p.title for p in papers] == complete[:-1]
    (warning,) = warnings
    assert warning.startswith(f"cut.txt:{line}: the last paper, {complete[-1]!r}, ends in the middle of its abstract")
    assert "cut off" in warning and "left out" in warning and "\n" not in warning


def test_a_cut_inside_a_multibyte_character_is_a_cut_not_binary_data():
    text = (DATA / "hf-papers-overlap.txt").read_text(encoding="utf-8").rstrip()
    text += "\n\nBridges Revisited\n\nWe revisit the problem of the time-reversed Schrödinger bridge"
    data = text.encode()
    data = data[: data.rindex("ö".encode()) + 1]  # half of the two bytes of "ö"
    papers, warnings = parse_warned(data)
    assert "Bridges Revisited" not in [p.title for p in papers] and len(papers) == len(titles("hf-papers-overlap.txt"))
    assert len(warnings) == 1 and "'Bridges Revisited', ends in the middle of its abstract" in warnings[0]


@pytest.mark.parametrize(
    "last",
    [
        "We study it.",  # short, but a sentence
        "Does it scale? Yes!",
        "Code is available at https://github.com/example/short-abstract",
        "It beats the baseline (90.2% vs. 88.1%)",
        "We bound the error by $O(n^{-1/2})$",
        "Il décrit «la méthode»",
    ],
)
def test_a_short_or_unusual_last_abstract_is_complete(last):
    text = (DATA / "hf-papers-overlap.txt").read_text(encoding="utf-8").rstrip() + f"\n\nLast Paper\n\n{last}\n"
    papers, warnings = parse_warned(text)
    assert warnings == [] and papers[-1].title == "Last Paper" and papers[-1].abstract == last


@pytest.mark.parametrize("footer", ["Load more", "‹\n\n1\n\n2\n\n›", FOOTERS[0]])
def test_an_abstract_without_a_full_stop_before_the_page_footer_is_complete(footer):
    """The copy went on past the papers (to the footer): the last abstract is whole."""
    text = (DATA / "hf-papers-overlap.txt").read_text(encoding="utf-8").rstrip()
    text += f"\n\nLast Paper\n\nAn abstract that ends without a full stop\n\n{footer}\n"
    papers, warnings = parse_warned(text)
    assert warnings == [] and papers[-1].abstract == "An abstract that ends without a full stop"


def test_papers_warns_of_a_cut_export_and_validate_refuses_it(tmp_path, cli):
    """End to end: `papers` lists every complete paper and warns (FILE:LINE) of
    the one cut off; `validate`, stricter, makes it a problem (exit 2)."""
    (tmp_path / "papers").mkdir()
    cut, line = cut_in_last_abstract("hf-papers-blank-lines.txt")
    (tmp_path / "papers" / "cut.txt").write_text(cut, encoding="utf-8")
    write_config(tmp_path, "sources: [{type: hf-papers-text, path: 'papers/*.txt'}]\ntopics: {t: {any: [diffusion]}}\n")
    r = cli("papers", "--json")
    assert r.code == 0, r.err
    assert [p["title"] for p in json.loads(r.out)] == titles("hf-papers-blank-lines.txt")[:-1]
    (warning,) = r.err.strip().splitlines()
    assert warning.startswith(f"warning: papers/cut.txt:{line}: the last paper, 'Gradient is All You Need?', ends in")
    r = cli("validate")
    assert r.code == 2 and "Traceback" not in r.err
    assert f"papers/cut.txt:{line}: the last paper, 'Gradient is All You Need?'" in r.err


def test_a_folder_path_names_the_glob_when_a_file_in_it_is_no_export(workdir, cli):
    """`path: papers/` reads every file in the folder: a PDF saved there is an
    error at its line, which says how to read only the exports."""
    from conftest import BASIC_CONFIG

    (workdir / "papers" / "paper.pdf").write_bytes(b"%PDF-1.4\nnot text\n")
    write_config(workdir, BASIC_CONFIG)
    result = cli("validate")
    assert result.code == 2
    assert result.err.splitlines() == [
        "papers/paper.pdf:1: a PDF file, not a text export: the export is the papers page's text; open the "
        "page in a browser, select all (Ctrl+A), copy, and paste into a .txt file (path 'papers/' reads every "
        "file in the folder; 'papers/*.txt' reads only the .txt exports)"
    ], result.err
    (workdir / "papers" / "paper.pdf").unlink()
    (workdir / "papers" / "broken.txt").write_text("Daily Papers\n", encoding="utf-8")
    result = cli("validate")  # a broken .txt export: no word about globs
    assert result.code == 2 and "reads every file" not in result.err and "papers/broken.txt:" in result.err


def test_every_broken_file_of_a_folder_is_named_not_only_the_first(workdir, cli):
    """Two broken exports in a folder: both are named in one run (the second
    came up only once the first was mended), and the good ones still parse."""
    from conftest import BASIC_CONFIG

    (workdir / "papers" / "a-picture.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (workdir / "papers" / "b-notes.txt").write_text("hello\nmy notes\n", encoding="utf-8")
    write_config(workdir, BASIC_CONFIG)
    for command in (("validate",), ("papers", "--json")):
        result = cli(*command)
        assert result.code == 2 and "Traceback" not in result.err
        lines = result.err.strip().splitlines()
        assert lines[0].startswith("papers/a-picture.txt:1: a PNG image"), result.err
        assert lines[1].startswith("papers/b-notes.txt:1: no Hugging Face papers page header"), result.err
    (workdir / "papers" / "a-picture.txt").unlink()
    (workdir / "papers" / "b-notes.txt").unlink()
    assert cli("papers", "--json").code == 0


@pytest.mark.parametrize("packer", ["gzip", "bz2", "lzma"])
def test_a_packed_export_is_read_unpacked_and_a_cut_or_bomb_one_is_an_error(tmp_path, packer, monkeypatch):
    import bz2
    import gzip
    import lzma

    pack = {"gzip": gzip.compress, "bz2": bz2.compress, "lzma": lzma.compress}[packer]
    raw = (DATA / "hf-papers-blank-lines.txt").read_bytes()
    # two members, as `cat a.gz b.gz` and parallel packers write them
    (tmp_path / "day.txt.z").write_bytes(pack(raw[:20_000]) + pack(raw[20_000:]))
    write_config(tmp_path, "sources:\n  - {type: hf-papers-text, path: 'day.txt.*'}\ntopics: {t: {any: [x]}}\n")
    config = parse_config((tmp_path / "config.yaml").read_text(), tmp_path / "config.yaml")
    assert [p.title for p in read_papers(config)] == [p.title for p in parse("hf-papers-blank-lines.txt")]
    monkeypatch.setattr(readers, "MAX_UNPACKED", 2 * 2**20)  # (256 MB by default)
    for content, words in [
        (pack(raw)[:3000], "cut off"),
        (pack(b"\n" * (3 * 2**20)), "unpacks to more than 2 MB"),
        (b"PK\x03\x04" + raw[:100], "a zip archive, not a text file"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "a PDF file, not a text export: the export is the papers page's text"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "a PNG image, not a text export"),
    ]:
        (tmp_path / "day.txt.z").write_bytes(content)
        with pytest.raises(InputError) as info:
            read_papers(config)
        assert str(info.value).startswith(f"{tmp_path / 'day.txt.z'}:1: ") and words in str(info.value)


def _cards(extra_before: list[str], extra_after: list[str], glued: bool) -> tuple[bytes, list[tuple[str, str]]]:
    """The first six papers of the blank-lines sample, each card with lines of
    its own around the title and abstract (``glued``: no blank line between them)."""
    expected = [(p.title, p.abstract) for p in parse("hf-papers-blank-lines.txt")[:6]]
    sep = "\n" if glued else "\n\n"
    text = "Trending Papers\n\n"
    for i, (title, abstract) in enumerate(expected):
        before = [line.format(i=i) for line in extra_before]
        after = [line.format(i=i) for line in extra_after]
        text += sep.join([*before, title]) + "\n\n" + sep.join([abstract, *after]) + "\n\n"
    return text.encode(), expected


@pytest.mark.parametrize("glued", [False, True])
@pytest.mark.parametrize(
    "before, after",
    [
        ([], ["{i}"]),  # an upvote count after each abstract
        (["Upvote", "1.{i}k"], ["· {i}3 comments"]),
        (["Submitted by", "akhaliq"], ["Published on Sep {i}, 2024", "· 24 authors"]),
        (["Submitted by akhaliq"], ["Authors: Ada Lovelace, Grace Hopper", "⭐ 2,345", "Published on Sep 4"]),
        (["Ada Lovelace, Grace Hopper · 2 authors"], ["Upvote {i}0"]),
        ([], ["Read more"]),  # under an abstract the page shortens
        (["Submitted by akhaliq · 3 hours ago"], ["Published 2 days ago", "· a month ago"]),
        # a submitter shown by the name they go by, not their user name: it was read as a title
        (["Submitted by", "Niels Rogge", "{i}2"], ["· 24 authors"]),
        (["Submitted by José María Pérez-García · 3 hours ago"], []),
        (["Submitted by Niels Rogge"], ["Upvote {i}0"]),
        # the date a paper was submitted, and a card's parts joined on one line
        (["Submitted by akhaliq on Sep 5, 2024"], ["Published on Sep 4, 2024 · Submitted by akhaliq · 12 comments"]),
        (["Submitted by", "hrishivish23", "on Sep 5, 2024"], ["· 24 authors · 3 comments"]),
        # a bare date beside the card's other parts
        (["Submitted by akhaliq · Sep {i}"], ["Upvote 1{i} · Sep 4, 2024"]),
    ],
)
def test_the_lines_of_a_papers_card_around_title_and_abstract_are_not_papers(before, after, glued):
    """Copies of the trending, weekly and monthly pages (and the daily one from
    some browsers) carry each card's counts, submitter, date and authors: they
    are skipped, not read as titles (which shifted every paper after them)."""
    content, expected = _cards(before, after, glued)
    papers = parse_hf_papers_text(content, "trending.txt")
    assert [(p.title, p.abstract) for p in papers] == expected


@pytest.mark.parametrize("layout", ["blank lines", "compact", "heading glued to the summary"])
def test_an_ai_generated_summary_on_a_card_is_not_a_paper(layout):
    """A card with the site's "AI-generated summary" over its abstract: the
    heading became the abstract, the summary a paper of its own, and every
    pair after it shifted, without a word.  With no abstract under it, the
    summary is the paper's text."""
    summary = "A simple two-step method makes noisy labels harmless at scale."
    abstract = ("We study learning from noisy labels in large-scale settings. Our method improves accuracy by "
                "five points on three benchmarks while using fewer parameters than prior work.")
    header = "Get trending papers in your email inbox!\n\nSubscribe\n\nDaily Papers\n\n"
    text = (header + f"Noisy Label Learning at Scale\n\nAI-generated summary\n\n{summary}\n\n{abstract}\n\n"
            f"Sparse Views, Dense Scenes\n\nAI-generated summary\n\n{summary}\n\n"
            f"Proofs at Length\n\n{abstract}\n")
    if layout == "compact":
        text = text.replace("\n\n", "\n")
    elif layout != "blank lines":
        text = text.replace("AI-generated summary\n\n", "AI-generated summary\n")
    papers = parse_hf_papers_text(text.encode(), "day.txt")
    assert [(p.title, p.abstract) for p in papers] == [
        ("Noisy Label Learning at Scale", abstract), ("Sparse Views, Dense Scenes", summary), ("Proofs at Length", abstract)
    ]


@pytest.mark.parametrize("rule", ["-" * 72, "_" * 40, "=" * 60, "─" * 30, "* * *"])
def test_a_rule_between_papers_is_no_title(rule):
    """A text save or a text browser writes the page's rules as a line of
    dashes: it was a title ("title '-----…' has no abstract")."""
    text = (DATA / "hf-papers-blank-lines.txt").read_text(encoding="utf-8")
    paragraphs = text.split("\n\n")
    first = next(i for i, p in enumerate(paragraphs) if p.startswith("Reduced-Order Neural Operators"))
    for i in range(len(paragraphs) - 1, first, -2):  # a rule above each title but the first
        if i + 1 < len(paragraphs):
            paragraphs.insert(i + 1, rule)
    papers = parse_hf_papers_text("\n\n".join(paragraphs).encode(), "day.txt")
    assert [(p.title, p.abstract) for p in papers] == [(p.title, p.abstract) for p in parse("hf-papers-blank-lines.txt")]


def test_a_short_title_under_a_submitted_by_line_without_a_name_is_still_the_title():
    """A card showing its submitter by avatar only: the short title under
    "Submitted by" reads like a name, but an abstract follows it."""
    abstract = "We revisit scaling laws for language models. They hold across three orders of magnitude."
    text = ("new\n\nGet trending papers in your email inbox!\n\nSubscribe\n\nDaily Papers\n\n"
            f"Submitted by\n\nScaling Laws Revisited\n\n{abstract}\n")
    (paper,) = parse_hf_papers_text(text.encode(), "day.txt")
    assert (paper.title, paper.abstract) == ("Scaling Laws Revisited", abstract)


@pytest.mark.parametrize("submitter", ["akhaliq", "Niels Rogge"])
def test_the_card_lines_of_the_compact_layout_are_skipped_too(submitter):
    lines = (DATA / "hf-papers-compact.txt").read_text(encoding="utf-8").split("\n")
    out = lines[:2]
    for k in range(2, 14, 2):
        out += ["Submitted by", submitter, lines[k], "· 5 authors", lines[k + 1], "Upvote", str(40 + k)]
    papers = parse_hf_papers_text("\n".join(out).encode(), "compact.txt")
    assert [(p.title, p.abstract) for p in papers] == [(p.title, p.abstract) for p in parse("hf-papers-compact.txt")[:6]]


@pytest.mark.parametrize("names", ["Ada Lovelace, Grace Hopper and E. Noether", "Ada Lovelace, Grace Hopper, Emmy Noether"])
@pytest.mark.parametrize("where", ["after the title", "after the abstract"])
def test_an_unmarked_line_of_author_names_is_an_error_that_says_so(where, names):
    """A line of bare names cannot be told from a title for sure: it is not
    skipped, and the error names it instead of only 'lacks its abstract'
    (names without an initial's full stop were 'reads as another title')."""
    if where == "after the abstract":
        content, _ = _cards([], [names], glued=False)
    else:
        content, _ = _cards([], [], glued=False)
        first = parse("hf-papers-blank-lines.txt")[0].title
        content = content.replace(f"{first}\n\n".encode(), f"{first}\n\n{names}\n\n".encode(), 1)
    with pytest.raises(InputError) as info:
        parse_hf_papers_text(content, "day.txt")
    message = str(info.value)
    assert f"{names!r}, looks like a list of author names" in message and "delete that line" in message
    # as the message says, 'Authors: ' before the names mends it (and between title and abstract, reads them)
    papers = parse_hf_papers_text(content.replace(f"\n{names}\n".encode(), f"\nAuthors: {names}\n".encode()), "d")
    assert len(papers) == 6  # (the cards of _cards)
    expected = ("Ada Lovelace", "Grace Hopper", "Emmy Noether" if "Emmy" in names else "E. Noether")
    assert papers[0].authors == (expected if where == "after the title" else ())


@pytest.mark.parametrize("glued", [False, True])
def test_a_listing_of_titles_without_abstracts_is_refused_not_read_in_pairs(glued):
    """A copy of a listing page that shows no abstracts: read in pairs, every
    other title became the abstract of the one before it, with no error."""
    titles = [p.title for p in parse("hf-papers-blank-lines.txt")[:8]]
    sep = "\n" if glued else "\n\n"
    text = "Daily Papers\n\n" + "\n\n".join(sep.join(["Submitted by", "akhaliq", t, "Upvote", "12"]) for t in titles)
    with pytest.raises(InputError) as info:
        parse_hf_papers_text(text.encode(), "listing.txt")
    message = str(info.value)
    line = 5 if glued else 7  # the first title's
    assert message.startswith(f"listing.txt:{line}: title 'Reduced-Order Neural Operators"), message
    assert "reads as another title: no sentence in it; the next ones too: is this a copy of a listing that shows no" in (
        message
    )


def test_a_text_browser_dump_of_the_page_is_read_without_its_link_numbers_and_list():
    """`lynx -dump`: each link's text after its number ("[3]Paper Title"),
    indented and wrapped lines, and the list of links at the end."""
    import textwrap

    expected = [(p.title, p.abstract) for p in parse("hf-papers-blank-lines.txt")[:5]]
    dump = "   [1]Hugging Face\n\n   Get trending papers in your email inbox!\n\n   [2]Subscribe\n\n   Daily Papers\n\n"
    for i, (title, abstract) in enumerate(expected):
        dump += f"   [{i + 3}]{title}\n\n" + textwrap.fill(
            abstract, 76, initial_indent="   ", subsequent_indent="   ", break_on_hyphens=False, break_long_words=False
        )
        dump += "\n\n"
    dump += "References\n\n   Visible links:\n   1. https://huggingface.co/\n   2. https://huggingface.co/subscribe\n"
    dump += "".join(f"   {i + 3}. https://huggingface.co/papers/2409.0000{i}\n" for i in range(5))
    assert [(p.title, p.abstract) for p in parse_hf_papers_text(dump.encode(), "day.txt")] == expected
    # without the list at the end it is no dump: a citation such as "[3]Smith" stays as written
    text = "Daily Papers\n\nA Title\n\nAs [3]Smith showed, it works.\n"
    assert parse_hf_papers_text(text.encode(), "x.txt")[0].abstract == "As [3]Smith showed, it works."


def test_a_recursive_glob_walks_each_folder_once_through_links_that_loop(tmp_path):
    """glob.glob followed `papers/self -> .` forty times deep (each export read
    forty times); with a second such link it had 2**40 paths and never ended."""
    from newsletter.config import expand_paths

    papers = tmp_path / "papers"
    (papers / "sub").mkdir(parents=True)
    (papers / ".hidden").mkdir()
    for name in ("day.txt", "sub/more.txt", ".hidden/no.txt", "sub/notes.md"):
        (papers / name).write_text("x")
    (papers / "self").symlink_to(".")
    (papers / "sub" / "up").symlink_to("..")
    (papers / "twin.txt").symlink_to("day.txt")  # the same file by another name: read once
    assert expand_paths(tmp_path, "papers/**/*.txt") == [papers / "day.txt", papers / "sub" / "more.txt"]
    assert expand_paths(tmp_path, "papers/**") == [papers / "day.txt", papers / "sub" / "more.txt",
                                                   papers / "sub" / "notes.md"]


def test_an_export_folder_with_links_that_loop_is_read_once_end_to_end(tmp_path, cli):
    papers = tmp_path / "papers"
    papers.mkdir()
    (papers / "day.txt").write_bytes((DATA / "hf-papers-blank-lines.txt").read_bytes())
    (papers / "self").symlink_to(".")
    (papers / "again").symlink_to(".")
    write_config(tmp_path, """
sources:
  - type: hf-papers-text
    path: "papers/**/*.txt"
topics: {t: {any: [diffusion]}}
""")
    r = cli("papers", "--json")
    assert r.code == 0, r.err
    assert len(json.loads(r.out)) == 63


def test_a_link_to_nowhere_among_the_exports_is_an_error_naming_it(tmp_path, cli):
    """A link to an export on a drive not mounted was skipped without a word
    (its papers silently missing); a link that loops was a traceback
    (RuntimeError: Symlink loop)."""
    papers = tmp_path / "papers"
    papers.mkdir()
    (papers / "day.txt").write_bytes((DATA / "hf-papers-blank-lines.txt").read_bytes())
    (papers / "other.txt").symlink_to("/nonexistent-drive/other.txt")
    for path in ("papers/", "papers/*.txt", "'papers/**/*.txt'"):
        write_config(tmp_path, f"""
sources:
  - type: hf-papers-text
    path: {path}
topics: {{t: {{any: [diffusion]}}}}
""")
        r = cli("papers")
        assert r.code == 2 and "Traceback" not in r.err
        assert r.err.splitlines() == [
            "papers/other.txt: cannot read: a symbolic link to '/nonexistent-drive/other.txt', which does not exist"
        ], (path, r.err)
    (papers / "other.txt").unlink()
    (papers / "other.txt").symlink_to("gone.txt")  # beside it: named by its own name, not the missing file's
    r = cli("papers")
    assert r.code == 2 and r.err.splitlines() == [
        "papers/other.txt: cannot read: a symbolic link to 'gone.txt', which does not exist"]
    (papers / "other.txt").unlink()
    (papers / "other.txt").symlink_to("other.txt")
    r = cli("papers")
    assert r.code == 2 and r.err.splitlines() == [
        "papers/other.txt: cannot read: a symbolic link that loops (it leads back to itself)"]
    write_config(tmp_path, """
sources:
  - type: hf-papers-text
    path: papers/other.txt
topics: {t: {any: [diffusion]}}
""")
    r = cli("validate")
    assert r.code == 2 and r.err.splitlines() == [
        "config.yaml:3: sources[0].path: 'papers/other.txt' is a symbolic link that loops (it leads back to itself)"]


def test_a_page_pasted_into_a_word_processor_says_to_save_it_as_text(tmp_path, cli):
    """A .docx is a zip: it read 'a zip archive, not a text file: extract the
    export from it', which it holds none of."""
    import io
    import zipfile

    def zipped(*names: str, first: tuple[str, bytes] | None = None) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as z:
            if first:
                z.writestr(zipfile.ZipInfo(first[0]), first[1])  # stored, as ODF wants its mimetype
            for n in names:
                z.writestr(n, "<x/>")
        return buffer.getvalue()

    (tmp_path / "papers").mkdir()
    cases = [
        (zipped("[Content_Types].xml", "_rels/.rels", "word/document.xml", "docProps/core.xml"),
         "a Word document (.docx)"),
        (zipped("content.xml", first=("mimetype", b"application/vnd.oasis.opendocument.text")),
         "an OpenDocument text (.odt)"),
        (b"bplist00\xd1\x01\x02_\x10\x0fWebMainResource" + b"\x00" * 40, "a Safari web archive (.webarchive)"),
    ]
    write_config(tmp_path, "sources:\n  - {type: hf-papers-text, path: papers/day.txt}\ntopics: {t: {any: [x]}}\n")
    for data, what in cases:
        (tmp_path / "papers" / "day.txt").write_bytes(data)
        r = cli("papers")
        assert r.code == 2 and "Traceback" not in r.err
        assert r.err.strip() == (f"papers/day.txt:1: {what}, not a text export: save it as plain text (.txt), or "
                                 "paste the page's text into a plain text editor"), r.err
    (tmp_path / "papers" / "day.txt").write_bytes(zipped("day.txt"))  # an archive holding the export
    assert "a zip archive, not a text file: extract the export from it" in cli("papers").err


def test_a_file_name_with_a_line_break_or_an_escape_stays_one_line(tmp_path, cli):
    """A broken export named 'day\\nevil.txt' made its message two lines; an
    escape sequence in a name reached the terminal as it was."""
    (tmp_path / "papers").mkdir()
    (tmp_path / "papers" / "day\nevil\x1b[31m.txt").write_bytes(b"not an export\n")
    write_config(tmp_path, "sources:\n  - {type: hf-papers-text, path: papers/}\ntopics: {t: {any: [x]}}\n")
    r = cli("papers")
    assert r.code == 2 and "Traceback" not in r.err
    assert len(r.err.splitlines()) == 1 and "\x1b" not in r.err
    assert r.err.startswith("papers/day\\nevil\\x1b[31m.txt:1: no Hugging Face papers page header"), r.err


@pytest.mark.parametrize("layout", ["blank lines", "one line each"])
def test_a_copy_of_one_papers_own_page_is_that_paper_with_its_arxiv_id(layout):
    """A paper's page on Hugging Face (``/papers/ID``), saved beside the listings
    to get that paper too, was "no Hugging Face papers page header"."""
    text = (DATA / "hf-paper-page.txt").read_text(encoding="utf-8")
    if layout != "blank lines":
        text = text.replace("\n\n", "\n")
    (paper,) = parse_hf_papers_text(text.encode(), "page.txt")
    assert paper.title == "Reduced-Order Neural Operators: Learning Lagrangian Dynamics on Highly Sparse Graphs"
    assert paper.abstract.startswith("We present a neural operator architecture to simulate Lagrangian dynamics, ")
    assert paper.abstract.endswith(" with negligible change in computation time.")
    assert (paper.arxiv_id, paper.url) == ("2409.02345", "https://arxiv.org/abs/2409.02345")
    assert paper.location == ("page.txt:15" if layout == "blank lines" else "page.txt:12")
    with pytest.raises(InputError) as info:
        parse_hf_papers_text(text.replace("Abstract\n", "").encode(), "page.txt")
    assert str(info.value).startswith("page.txt:1")
    assert "a Hugging Face paper's page (arxiv:2409.02345) without its title and an 'Abstract' heading" in str(info.value)


@pytest.mark.parametrize("layout", ["blank lines", "compact"])
def test_two_papers_pages_pasted_into_one_file_are_both_read(layout):
    """A second paper's page pasted under the first was dropped without a
    word: only the first page's paper was read.  The same page twice is one paper."""
    page = (DATA / "hf-paper-page.txt").read_text(encoding="utf-8")
    other = (page.replace("2409.02345", "2409.09999")
             .replace("Reduced-Order Neural Operators: Learning Lagrangian Dynamics on Highly Sparse Graphs",
                      "Sparse Graph Operators for Granular Flows")
             .replace("We present a neural operator", "We present a sparse graph operator"))
    text = page + "\n" + other + "\n" + page
    if layout != "blank lines":
        text = text.replace("\n\n", "\n")
    papers = parse_hf_papers_text(text.encode(), "pages.txt")
    assert [(p.arxiv_id, p.title[:26]) for p in papers] == [
        ("2409.02345", "Reduced-Order Neural Opera"), ("2409.09999", "Sparse Graph Operators for")
    ]
    assert papers[1].abstract.startswith("We present a sparse graph operator architecture")
    assert papers[1].location == f"pages.txt:{text.count(chr(10), 0, text.index('Sparse Graph Operators')) + 1}"


@pytest.mark.parametrize("listing", ["hf-papers-blank-lines.txt", "hf-papers-compact.txt"])
def test_a_listing_and_a_papers_page_pasted_into_one_file_are_both_read(listing):
    """A listing pasted under a paper's page was dropped without a word (only
    the page's paper was read); a page pasted under a listing was "title
    'arxiv:2409.02345' has no abstract"."""
    page = (DATA / "hf-paper-page.txt").read_text(encoding="utf-8")
    if "compact" in listing:  # the page copied the same way: no blank lines
        page = re.sub(r"\n+", "\n", page)
    listed = (DATA / listing).read_text(encoding="utf-8")
    expected = [p.title for p in parse(listing)]
    glue = "" if "compact" in listing else "\n"
    for text, order in ((page + glue + listed, "page first"), (listed + glue + page, "listing first")):
        papers = parse_hf_papers_text(text.encode(), "both.txt")
        titles_read = [p.title for p in papers]
        page_paper = "Reduced-Order Neural Operators: Learning Lagrangian Dynamics on Highly Sparse Graphs"
        assert titles_read.count(page_paper) == 1 + (page_paper in expected), order
        assert [t for t in titles_read if t != page_paper] == [t for t in expected if t != page_paper], order
        assert [p.arxiv_id for p in papers if p.arxiv_id] == ["2409.02345"], order


def test_a_papers_page_beside_a_listing_is_read_and_merges_by_its_id(tmp_path, cli):
    papers = tmp_path / "papers"
    papers.mkdir()
    (papers / "day.txt").write_bytes((DATA / "hf-papers-blank-lines.txt").read_bytes())
    (papers / "one.txt").write_bytes((DATA / "hf-paper-page.txt").read_bytes())
    write_config(tmp_path, "sources: [{type: hf-papers-text, path: 'papers/*.txt'}]\ntopics: {t: {any: [operator*]}}\n")
    r = cli("papers", "--json")
    assert r.code == 0, r.err
    listed = json.loads(r.out)
    assert len(listed) == len(titles("hf-papers-blank-lines.txt"))  # the page's paper is the listing's first one
    (first,) = [p for p in listed if p["title"].startswith("Reduced-Order Neural Operators")]
    assert first["arxiv_id"] == "2409.02345"


def _as_cards(name: str, card: str = "{title}\n{abstract}") -> str:
    """The export with each paper one paragraph: its title line, its abstract under it."""
    text = (DATA / name).read_text(encoding="utf-8")
    start = text.index(titles(name)[0])
    paragraphs = [p for p in text[start:].split("\n\n") if p.strip()]
    cards = [card.format(title=t, abstract=a) for t, a in zip(paragraphs[::2], paragraphs[1::2], strict=True)]
    return text[:start] + "\n\n".join(cards) + "\n"


@pytest.mark.parametrize("card", ["{title}\n{abstract}", "58\n{title}\n{abstract}\nUpvote", "{title}\n\n\n{abstract}"])
def test_papers_as_cards_a_title_line_over_its_abstract_are_read(card):
    """A browser that copies each paper's card as one block gives title and
    abstract on consecutive lines, blank lines between papers: it read as one
    paragraph per paper ("expected a paper title, found a 1,605-character
    paragraph")."""
    text = _as_cards("hf-papers-blank-lines.txt", card)
    papers = parse_hf_papers_text(text.encode(), "cards.txt")
    expected = parse("hf-papers-blank-lines.txt")
    assert [(p.title, p.abstract) for p in papers] == [(p.title, p.abstract) for p in expected]
    cut = text.rstrip()[: -len(expected[-1].abstract) // 2]  # the last card cut within its abstract
    said: list[str] = []
    assert len(parse_hf_papers_text(cut.encode(), "cards.txt", warn=said.append)) == len(expected) - 1
    assert "ends in the middle of its abstract" in said[0]


def test_an_abstract_wrapped_over_lines_is_no_card():
    """A text browser's copy wraps every paragraph: abstracts span lines, titles
    stand alone; its first line is no title."""
    import textwrap

    text = (DATA / "hf-papers-blank-lines.txt").read_text(encoding="utf-8")
    start = text.index(titles("hf-papers-blank-lines.txt")[0])
    wrapped = "\n\n".join(textwrap.fill(p, 40, break_on_hyphens=False, break_long_words=False) for p in text[start:].split("\n\n") if p.strip())
    papers = parse_hf_papers_text((text[:start] + wrapped + "\n").encode(), "lynx.txt")
    assert [p.title for p in papers] == titles("hf-papers-blank-lines.txt")


def test_files_an_operating_system_leaves_in_the_exports_folder_are_not_exports(tmp_path, cli):
    """Windows writes desktop.ini and Thumbs.db into folders (a synced or
    customised one), macOS an ``Icon\\r``, Word an owner file ``~$notes.docx``:
    ``path: papers/`` read them as exports and every send stopped."""
    papers = tmp_path / "papers"
    papers.mkdir()
    (papers / "day.txt").write_bytes((DATA / "hf-papers-blank-lines.txt").read_bytes())
    (papers / "desktop.ini").write_bytes(b"[.ShellClassInfo]\r\nIconResource=C:\\icon.ico,0\r\n")
    (papers / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(64))
    (papers / "Icon\r").write_bytes(b"")
    (papers / "~$notes.docx").write_bytes(b"\x05Ada  ")
    for path in ("papers/", "'papers/*'", "'papers/**/*'"):
        write_config(tmp_path, f"sources: [{{type: hf-papers-text, path: {path}}}]\ntopics: {{t: {{any: [x]}}}}\n")
        r = cli("papers", "--json")
        assert r.code == 0, (path, r.err)
        assert len(json.loads(r.out)) == len(titles("hf-papers-blank-lines.txt"))
    (papers / "notes.ini").write_bytes(b"[section]\r\n")  # any other file is still read, and refused
    write_config(tmp_path, "sources: [{type: hf-papers-text, path: papers/}]\ntopics: {t: {any: [x]}}\n")
    assert cli("papers").code == 2


def _as_markdown(name: str) -> str:
    """The export as a web clipper (Obsidian's, MarkDownload) saves the page:
    front matter, headings, each title a link to its paper, thumbnails,
    Markdown's backslash escapes."""
    text = (DATA / name).read_text(encoding="utf-8")
    start = text.index(titles(name)[0])
    paragraphs = [p for p in text[start:].split("\n\n") if p.strip()]
    page = ("---\ncreated: 2024-09-05T10:00:00 (UTC +02:00)\ntags: []\nsource: https://huggingface.co/papers\n---\n\n"
            "# Daily Papers - Hugging Face\n\n> ## Excerpt\n> Your daily dose of AI research from AK\n\n---\n\n"
            "Get trending papers in your email inbox!\n\n[Subscribe](https://huggingface.co/login?next=%2Fpapers)\n\n"
            "## Daily Papers\n\n### by [AK](https://huggingface.co/akhaliq) and the research community\n\nSep 4\n\n")
    for k, (title, abstract) in enumerate(zip(paragraphs[::2], paragraphs[1::2], strict=True)):
        escaped = re.sub(r"([\\_*\[\]`])", r"\\\1", abstract)
        page += (f"### [{title}](https://huggingface.co/papers/2409.{k:05d})\n\n"
                 f"![](https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/2409.{k:05d}.png)\n\n{escaped}\n\n")
    return page


def test_a_markdown_copy_of_the_page_is_read_with_each_papers_arxiv_id():
    """A web clipper's Markdown (``### [Title](https://huggingface.co/papers/ID)``)
    read its heading marks and link syntax as text, and pairs went wrong at
    the header's links.  Its links give each paper its arXiv id."""
    papers = parse_hf_papers_text(_as_markdown("hf-papers-blank-lines.txt").encode(), "day.md")
    expected = parse("hf-papers-blank-lines.txt")
    assert [(p.title, p.abstract) for p in papers] == [(p.title, p.abstract) for p in expected]
    assert [p.arxiv_id for p in papers[:2]] == ["2409.00000", "2409.00001"]
    assert papers[0].url == "https://arxiv.org/abs/2409.00000"
    assert papers[0].location == "day.md:24"
    relative = _as_markdown("hf-papers-blank-lines.txt").replace("(https://huggingface.co/papers/", "(/papers/")
    assert parse_hf_papers_text(relative.encode(), "day.md")[1].arxiv_id == "2409.00001"  # a clipper keeping the page's links


def test_brackets_and_hashes_in_a_text_export_are_text():
    """One heading-like or link-like line does not make an export Markdown."""
    text = (DATA / "hf-papers-blank-lines.txt").read_text(encoding="utf-8")
    title = titles("hf-papers-blank-lines.txt")[1]
    text = text.replace(title, f"# {title}", 1).replace("provided at https://", "provided at [code](https://", 1)
    papers = parse_hf_papers_text(text.encode(), "day.txt")
    assert papers[1].title == f"# {title}" and "[code](https://" in papers[0].abstract


@pytest.mark.parametrize("name", ["hf-papers-blank-lines.txt", "hf-papers-compact.txt"])
def test_a_read_more_button_glued_to_each_abstract_is_not_text(name):
    """A copy that glues the button under each abstract to its last line
    ("... theoretical insights. Read more") put "Read more" in every abstract,
    and the last paper, ending in "more", was left out as cut off."""
    expected = parse(name)
    text = (DATA / name).read_text(encoding="utf-8")
    for paper in expected:
        text = text.replace(paper.abstract, paper.abstract + " Read more", 1)
    said: list[str] = []
    papers = parse_hf_papers_text(text.encode(), name, warn=said.append)
    assert [(p.title, p.abstract) for p in papers] == [(p.title, p.abstract) for p in expected] and not said
    ends = "We show more"  # an abstract's own words are kept
    assert parse_hf_papers_text(text.replace(" Read more", " We show more", 1).encode(), name)[0].abstract.endswith(ends)


def test_the_invisible_characters_looked_for_are_the_ones_dropped():
    """decode_text looks for them one by one (fast), then drops them with the regex."""
    from newsletter.models import SHOWS_NOTHING
    from newsletter.readers import _INVISIBLE

    assert {chr(c) for c in range(0x10000) if _INVISIBLE.fullmatch(chr(c))} == set(SHOWS_NOTHING)


def _with_link_targets(name: str) -> str:
    """``name`` as a browser's "save as text" writes a page whose titles and
    header are links: each link's text followed by `` <URL>``."""
    text = (DATA / name).read_text(encoding="utf-8")
    text = text.replace("\nDaily Papers\n", "\nDaily Papers <https://huggingface.co/papers>\n")
    text = text.replace("\nbyAK and the research community\n",
                        "\nby AK <https://huggingface.co/akhaliq> and the research community\n")
    paragraphs = text.split("\n\n")
    first = next(i for i, p in enumerate(paragraphs) if p.startswith("Reduced-Order Neural Operators"))
    for n, i in enumerate(range(first, len(paragraphs), 2)):
        if paragraphs[i].strip():
            paragraphs[i] += f" <https://huggingface.co/papers/2409.{n:05}>"
    return "\n\n".join(paragraphs)


def test_link_targets_a_text_save_writes_after_titles_and_header_are_not_text():
    """"Daily Papers <https://huggingface.co/papers>" no longer read as header
    chrome: it came out as a paper whose abstract was the "by AK" line, and
    every title ended with its link.  The links give each paper its arXiv id;
    an abstract's own link in angle brackets stays."""
    papers = parse_hf_papers_text(_with_link_targets("hf-papers-blank-lines.txt").encode(), "day.txt")
    expected = parse("hf-papers-blank-lines.txt")
    assert [(p.title, p.abstract) for p in papers] == [(p.title, p.abstract) for p in expected]
    assert [p.arxiv_id for p in papers[:2]] == ["2409.00000", "2409.00001"]
    assert papers[0].url == "https://arxiv.org/abs/2409.00000" and papers[0].location == "day.txt:13"
    header = "new\n\nGet trending papers in your email inbox!\n\nSubscribe\n\nDaily Papers\n\n"
    cited = header + "A Title\n\nWe release code at <https://github.com/x/y>. It works.\n"
    assert parse_hf_papers_text(cited.encode(), "c.txt")[0].abstract == "We release code at <https://github.com/x/y>. It works."


def test_a_source_file_of_hundreds_of_megabytes_is_named_before_it_is_read(tmp_path, cli):
    """A dump of gigabytes given as the export was read whole: a 220 MB feed
    took 1.3 GB and a minute, and on a small machine the parser ran out of
    memory ('not a well-formed feed (MemoryError: )')."""
    with open(tmp_path / "dump.xml", "wb") as f:
        f.truncate(300 * 2**20)  # sparse: no disk used
    for kind in ("feed", "hf-daily", "arxiv"):
        write_config(tmp_path, f"sources: [{{type: {kind}, path: dump.xml}}]\ntopics: {{t: {{any: [x]}}}}\n")
        config = parse_config((tmp_path / "config.yaml").read_text(), tmp_path / "config.yaml")
        with pytest.raises(InputError) as info:
            read_papers(config)
        assert str(info.value) == (f"{tmp_path / 'dump.xml'}:1: 300 MB, more than the 256 MB a source file may be: "
                                   "is it the export or feed? (a listing of papers is a few MB at most)")
    write_config(tmp_path, "sources: [{type: hf-papers-text, path: dump.xml}]\ntopics: {t: {any: [x]}}\n")
    result = cli("papers")
    assert result.code == 2 and "Traceback" not in result.err
    assert result.err.strip() == ("dump.xml:1: 300 MB, more than the 256 MB a source file may be: is it the export "
                                  "or feed? (a listing of papers is a few MB at most)")


@pytest.mark.parametrize("name", ["hf-papers-blank-lines.txt", "hf-papers-compact.txt"])
@pytest.mark.parametrize("tabs", [["Trending Papers", "Collections"], ["Papers", "Buckets", "Trending"]])
def test_a_tab_the_chrome_lists_do_not_know_among_the_header_lines_is_chrome(name, tabs):
    """A newer page's tab ("Collections", one not seen yet) above the header
    ended the header there: it was the first title ("title 'Collections' has
    no abstract")."""
    sep = "\n" if "compact" in name else "\n\n"
    text = sep.join(tabs) + sep + (DATA / name).read_text(encoding="utf-8")
    assert [p.title for p in parse_hf_papers_text(text.encode(), name)] == titles(name)


@pytest.mark.parametrize("line", ["Daily Papers — Sep 4, 2025", "Daily Papers - Hugging Face", "Papers | Hugging Face"])
def test_lines_of_chrome_joined_on_one_line_are_chrome(line):
    """The page's title, or the heading with its date on one line: it was read
    as the first paper's title and every pair after it shifted."""
    for name in ("hf-papers-blank-lines.txt", "hf-papers-compact.txt"):
        sep = "\n" if "compact" in name else "\n\n"
        text = line + sep + (DATA / name).read_text(encoding="utf-8")
        assert [p.title for p in parse_hf_papers_text(text.encode(), name)] == titles(name)


def test_a_title_with_spaced_dashes_is_still_a_title():
    abstract = "We ask whether more data helps. It does, up to a point we measure on four benchmarks."
    text = f"Get trending papers in your email inbox!\n\nSubscribe\n\nDaily Papers\n\nData - More - Better\n\n{abstract}\n"
    (paper,) = parse_hf_papers_text(text.encode(), "day.txt")
    assert paper.title == "Data - More - Better"


@pytest.mark.parametrize("layout", ["blank lines", "one line each"])
def test_a_papers_own_page_gives_its_authors_and_publication_date(layout):
    """The page lists the authors and the day it was published between the
    title and the abstract: they were skipped, and the paper came without them."""
    from datetime import UTC, datetime

    text = (DATA / "hf-paper-page.txt").read_text(encoding="utf-8")
    if layout != "blank lines":
        text = text.replace("\n\n", "\n")
    (paper,) = parse_hf_papers_text(text.encode(), "page.txt")
    assert paper.authors == ("Hrishikesh Viswanath", "Yue Chang")
    assert paper.published == datetime(2024, 9, 4, tzinfo=UTC)  # not the day it was submitted (Sep 5)
    without_year = parse_hf_papers_text(text.replace("Published on Sep 4, 2024", "Published on Sep 4").encode(), "p")
    assert without_year[0].published is None  # the year is not guessed
    assert without_year[0].authors == ("Hrishikesh Viswanath", "Yue Chang")


@pytest.mark.parametrize("sep", ["\n\n", "\n"])
def test_a_cards_authors_and_date_between_title_and_abstract_are_read(sep):
    from datetime import UTC, datetime

    abstract = "We study learning from noisy labels. Our method improves accuracy by five points on three benchmarks."
    text = ("Get trending papers in your email inbox!\n\nSubscribe\n\nDaily Papers\n\nNoisy Label Learning at Scale\n\n"
            "Authors: Ada Lovelace, Grace Hopper, +3\n\nPublished on September 4th, 2024 · Submitted by akhaliq\n\n"
            f"{abstract}\n\nProofs at Length\n\n58\n\n{abstract}\n\nAuthors: Emmy Noether\n").replace("\n\n", sep)
    first, second = parse_hf_papers_text(text.encode(), "day.txt")
    assert (first.title, first.abstract) == ("Noisy Label Learning at Scale", abstract)
    assert first.authors == ("Ada Lovelace", "Grace Hopper")
    assert first.published == datetime(2024, 9, 4, tzinfo=UTC)
    # after an abstract, a card's line may be that paper's or the next one's: not taken
    assert (second.title, second.authors, second.published) == ("Proofs at Length", (), None)


@pytest.mark.parametrize("sep", ["\n\n", "\n"])
@pytest.mark.parametrize("form", ["Abstract\n{abstract}", "Abstract:\n{abstract}", "Abstract: {abstract}", "ABSTRACT. {abstract}"])
def test_an_abstract_heading_or_label_over_each_abstract_is_not_text(form, sep):
    """An "Abstract" heading between title and abstract was read as the
    abstract, every pair after it shifted (the error named the wrong paper);
    an "Abstract:" label led each abstract in every digest."""
    name = "hf-papers-blank-lines.txt"
    text = _as_cards(name, "{title}\n\n" + form.replace("\n", "\n\n"))  # each line a paragraph
    if sep == "\n":
        text = text.replace("\n\n", "\n")  # no blank lines at all
    papers = parse_hf_papers_text(text.encode(), "day.txt")
    assert [(p.title, p.abstract) for p in papers] == [(p.title, p.abstract) for p in parse(name)]


def test_an_abstract_about_abstracts_keeps_its_first_word():
    abstract = "Abstractive summarisation fails on long inputs. We fix it with a retrieval step and test it on six sets."
    text = f"Get trending papers in your email inbox!\n\nSubscribe\n\nDaily Papers\n\nSummaries at Length\n\n{abstract}\n"
    (paper,) = parse_hf_papers_text(text.encode(), "day.txt")
    assert paper.abstract == abstract


@pytest.mark.parametrize("sep", ["\n\n", "\n"])
@pytest.mark.parametrize("names, expected", [
    ("Ada Lovelace\n,\nGrace Hopper\n,\nE. Noether", ("Ada Lovelace", "Grace Hopper", "E. Noether")),
    ("Ada Lovelace,\nGrace Hopper\n+3", ("Ada Lovelace", "Grace Hopper")),
    ("Ada Lovelace", ("Ada Lovelace",)),
])
def test_an_authors_heading_over_names_a_line_each_is_neither_title_nor_abstract(sep, names, expected):
    """"Authors:" over the names, one a line with "," lines between (as a
    paper's page shows them, copied without blank lines): the names were a
    paper titled "Ada Lovelace" with the abstract ",", and every pair after
    shifted without a word.  After an abstract, the names stop before the
    next title."""
    a1 = "We study learning from noisy labels. Our method improves accuracy by five points on three benchmarks."
    a2 = "We prove bounds for long proofs. They are tight, as a matching lower bound on two families shows."
    text = ("Get trending papers in your email inbox!\nSubscribe\nDaily Papers\nNoisy Label Learning at Scale\n"
            f"Authors:\n{names}\n{a1}\nProofs at Length\n{a2}\nAuthors:\nEmmy Noether\nThird Title Here\n{a2}\n")
    papers = parse_hf_papers_text(text.replace("\n", sep).encode(), "day.txt")
    assert [(p.title, p.abstract) for p in papers] == [
        ("Noisy Label Learning at Scale", a1), ("Proofs at Length", a2), ("Third Title Here", a2)]
    assert papers[0].authors == expected


_CARD_HEADER = "Get trending papers in your email inbox!\n\nSubscribe\n\nDaily Papers\n\n"


def _two_cards(lines: str, layout: str) -> bytes:
    """Two papers of the blank-lines sample, each with ``lines`` between its
    title and its abstract, in ``layout``: paragraphs, one line each
    (compact), cards (a paragraph a paper), or the lines glued to the abstract."""
    first, second = parse("hf-papers-blank-lines.txt")[:2]
    cards = []
    for paper in (first, second):
        if layout == "blank lines":
            cards.append("\n\n".join([paper.title, *lines.split("\n"), paper.abstract]))
        elif layout == "compact":
            cards.append("\n".join([paper.title, lines, paper.abstract]))
        elif layout == "cards":
            cards.append("\n".join([paper.title, lines, paper.abstract]))
        else:  # glued to the abstract's paragraph
            cards.append(f"{paper.title}\n\n{lines}\n{paper.abstract}")
    sep = "\n" if layout == "compact" else "\n\n"
    return (_CARD_HEADER.replace("\n\n", sep) + sep.join(cards) + "\n").encode()


@pytest.mark.parametrize("layout", ["blank lines", "compact", "cards", "glued to the abstract"])
@pytest.mark.parametrize(
    "lines, arxiv_id",
    [
        ("arXiv:2406.01234", "2406.01234"),
        ("arXiv: 2406.01234v2", "2406.01234"),
        ("arXiv Page", None),
        ("PDF", None),
        ("Code", None),
        ("arXiv Page · PDF · Code", None),
        ("arXiv | PDF | GitHub 1.2k", None),
        ("arXiv:2406.01234\narXiv Page\nPDF\nCode", "2406.01234"),
        ("arXiv Page <https://arxiv.org/abs/2406.01234> · Code <https://github.com/a/b>", "2406.01234"),
        ("PDF <https://arxiv.org/pdf/2406.01234v3>", "2406.01234"),
        ("Code <https://github.com/a/b>", None),
        ("arXiv:2406.01234 [cs.LG]", "2406.01234"),
        ("arXiv 2406.01234", "2406.01234"),
        ("2406.01234", "2406.01234"),
        ("[2406.01234]", "2406.01234"),
        ("https://arxiv.org/abs/2406.01234v2", "2406.01234"),
        ("https://huggingface.co/papers/2406.01234", "2406.01234"),
        ("DOI: 10.48550/arXiv.2406.01234", "2406.01234"),
        ("Paper · arXiv:2406.01234 · PDF · Published on Sep 4, 2024", "2406.01234"),
        ("PDF | Code | 58 upvotes", None),
    ],
)
def test_a_cards_arxiv_id_or_link_lines_between_title_and_abstract_are_read(layout, lines, arxiv_id):
    """A card with an ``arXiv:ID`` line or its links (arXiv Page, PDF, Code)
    between title and abstract failed loudly (a paper's page without its
    'Abstract' heading; a title without an abstract) or was read with the line
    glued to its abstract.  The id is the paper's, and so is a link's to arXiv."""
    if layout == "compact" and "\n" in lines:
        lines = lines.replace("\n", " · ")
    expected = parse("hf-papers-blank-lines.txt")[:2]
    papers = parse_hf_papers_text(_two_cards(lines, layout), "cards.txt")
    assert [(p.title, p.abstract) for p in papers] == [(p.title, p.abstract) for p in expected]
    assert [p.arxiv_id for p in papers] == [arxiv_id, arxiv_id]
    assert papers[0].url == (f"https://arxiv.org/abs/{arxiv_id}" if arxiv_id else None)


def test_a_listing_title_that_is_made_of_link_words_and_more_is_still_a_title():
    """Only a line made of link words alone is a card's links: "Code Llama:
    Open Foundation Models for Code" is a paper."""
    abstract = parse("hf-papers-blank-lines.txt")[0].abstract
    text = f"{_CARD_HEADER}Code Llama: Open Foundation Models for Code\n\n{abstract}\n\nPDF Parsing at Scale\n\n{abstract}\n"
    papers = parse_hf_papers_text(text.encode(), "x.txt")
    assert [p.title for p in papers] == ["Code Llama: Open Foundation Models for Code", "PDF Parsing at Scale"]


def _numbered(titles_: list[str], marks: list[str], version: str = "") -> bytes:
    abstract = parse("hf-papers-blank-lines.txt")[0].abstract
    cards = [f"{mark}{title}\n\n{abstract} ({k}{version})." for k, (mark, title) in enumerate(zip(marks, titles_, strict=True))]
    return (_CARD_HEADER + "\n\n".join(cards) + "\n").encode()


NUMBERED = ["Reduced-Order Neural Operators", "3D Gaussian Splatting for Real-Time Rendering",
            "1-bit LLMs Are All You Need", "2.5D Scene Graphs"]


@pytest.mark.parametrize("style", ["{n}. ", "{n}) ", "[{n}] ", "({n}) "])
@pytest.mark.parametrize("start", [1, 11])
def test_a_numbered_listing_loses_its_numbers_not_the_titles_own(style, start):
    """A copy of the listing as a numbered list ("1. Title") kept the number in
    the title and the identity, so the same paper from another export was two.
    A title's own leading number ("3D", "1-bit", "2.5D") stays."""
    marks = [style.format(n=start + k) for k in range(len(NUMBERED))]
    papers = parse_hf_papers_text(_numbered(NUMBERED, marks), "numbered.txt")
    assert [p.title for p in papers] == NUMBERED
    assert papers[1].id == "3d gaussian splatting for real time rendering"


@pytest.mark.parametrize(
    "marks",
    [
        ["", "", "2. ", ""],  # one title that starts so, among unnumbered ones
        ["3. ", "1. ", "2. ", "4. "],  # not a list's order
        ["1. ", "2) ", "[3] ", "(4) "],  # no one style
        ["", "", "1. ", "2. "],  # fewer than half
    ],
)
def test_numbers_that_are_no_lists_numbers_stay_in_the_title(marks):
    papers = parse_hf_papers_text(_numbered(NUMBERED, marks), "numbered.txt")
    assert [p.title for p in papers] == [m + t for m, t in zip(marks, NUMBERED, strict=True)]


def test_a_single_numbered_paper_loses_a_1_but_keeps_another_number():
    assert parse_hf_papers_text(_numbered(NUMBERED[:1], ["1. "]), "one.txt")[0].title == NUMBERED[0]
    assert parse_hf_papers_text(_numbered(NUMBERED[:1], ["7. "]), "one.txt")[0].title == "7. " + NUMBERED[0]


def test_a_numbered_export_and_an_unnumbered_one_are_the_same_papers(tmp_path):
    """The identity is the title without the list's number: read together, the two exports give each paper once."""
    (tmp_path / "a.txt").write_bytes(_numbered(NUMBERED, [f"{k + 1}. " for k in range(4)]))
    (tmp_path / "b.txt").write_bytes(_numbered(NUMBERED, [""] * 4, version=" revised"))  # (not one by the abstract)
    path = write_config(tmp_path, "sources: [{type: hf-papers-text, path: '*.txt'}]\ntopics: {t: {any: [x]}}\n")
    assert [p.title for p in read_papers(parse_config(path.read_text(), path))] == NUMBERED


@pytest.mark.parametrize("mark", ["1. ", "- ", "* "])
def test_a_markdown_list_of_linked_titles_is_read_with_their_ids(mark):
    """A clipper's Markdown list ("1. [Title](https://huggingface.co/papers/ID)")
    was no Markdown to the reader: titles came with their link syntax."""
    abstract = parse("hf-papers-blank-lines.txt")[0].abstract
    items = [f"{mark if mark != '1. ' else f'{k + 1}. '}[{t}](https://huggingface.co/papers/2406.0123{k})\n\n{abstract}"
             for k, t in enumerate(NUMBERED[:2])]
    text = "# Daily Papers\n\nGet trending papers in your email inbox!\n\n" + "\n\n".join(items) + "\n"
    papers = parse_hf_papers_text(text.encode(), "list.md")
    assert [(p.title, p.arxiv_id) for p in papers] == [(NUMBERED[0], "2406.01230"), (NUMBERED[1], "2406.01231")]


@pytest.mark.parametrize("layout", ["blank lines", "compact"])
@pytest.mark.parametrize(
    "view, headings",
    [
        ("Daily Papers\n\nWeek of Sep 2, 2024", ["Sep 2", "Sep 3", "Sep 4"]),
        ("Weekly Papers", ["Monday, Sep 2", "Tuesday, Sep 3", "Wednesday, Sep 4"]),
        ("Weekly Papers", ["Monday", "Tuesday", "Wednesday"]),
        ("Monthly Papers\n\nSeptember 2024", ["Sep 2, 2024", "2024-09-03", "4 September 2024"]),
        ("Daily Papers", ["Sep 2 · 3 papers", "Sep 3 (3 papers)", "Sep 4 · 3 papers"]),
        ("Papers of the week\n\nSep 2 - Sep 8, 2024", ["Sep 2", "Sep 3", "Sep 4"]),
        ("Papers of the month\n\nSeptember 2024", ["Sep 2, 2024", "Sep 3, 2024", "Sep 4, 2024"]),
    ],
)
def test_a_week_or_month_listing_with_a_heading_per_day_reads_every_paper(view, headings, layout):
    """The weekly and monthly views list the papers under a heading a day: a
    heading the reader did not know ("Weekly Papers", "Monday", "Sep 2 · 3
    papers") was read as a title, and the error named the wrong line."""
    expected = [(p.title, p.abstract) for p in parse("hf-papers-blank-lines.txt")[:9]]
    parts = [view]
    for k, heading in enumerate(headings):
        parts.append(heading)
        for title, abstract in expected[3 * k:3 * k + 3]:
            parts += [title, abstract]
    text = "new\n\nGet trending papers in your email inbox!\n\nSubscribe\n\n" + "\n\n".join(parts) + "\n"
    if layout == "compact":
        text = text.replace("\n\n", "\n")
    papers = parse_hf_papers_text(text.encode(), "week.txt")
    assert [(p.title, p.abstract) for p in papers] == expected


def test_a_week_listing_copied_whole_in_firefox_or_chrome_reads_every_paper():
    """A week's listing copied whole (its menu, "Papers of the week" over
    its date range, each card's submitter, authors, date and upvotes, "Load
    more" and the footer): its heading was read as a title, refused as
    "title 'Papers of the week' has no abstract".  Chrome's copy of the
    same page has no blank lines; it reads the same."""
    firefox = (DATA / "week-listing-firefox.txt").read_text(encoding="utf-8")
    chrome = re.sub(r"\n\n+", "\n", firefox)
    for text in (firefox, chrome):
        papers = parse_hf_papers_text(text.encode(), "week.txt")
        assert [(p.title, p.published, p.upvotes) for p in papers] == [
            ("Faster Diffusion Training with Learned Noise Schedules", datetime(2025, 12, 2, tzinfo=UTC), 42),
            ("Why Do Language Models Hallucinate?", datetime(2025, 12, 3, tzinfo=UTC), 17),
            ("TabReason: A Benchmark for Joint Table and Text Reasoning.", datetime(2025, 12, 4, tzinfo=UTC), 3),
        ]
        assert papers[0].authors == ("Jane Doe",)
        assert papers[1].abstract.startswith("Large language models hallucinate. We study why")


@pytest.mark.parametrize("alt", ["akhaliq's avatar", "Avatar of akhaliq"])
@pytest.mark.parametrize("where", ["over Submitted by", "under Submitted by"])
def test_an_avatars_alternative_text_on_a_card_is_not_text(alt, where):
    """A page saved as text keeps each avatar's alternative text ("akhaliq's
    avatar") on a line of its own: under "Submitted by" it was taken for the
    name, and the name read as a title without an abstract."""
    firefox = (DATA / "week-listing-firefox.txt").read_text(encoding="utf-8")
    expected = [(p.title, p.abstract, p.upvotes) for p in parse_hf_papers_text(firefox.encode(), "week.txt")]
    card = "Submitted by\nakhaliq\n"
    with_alt = f"{alt}\n{card}" if where == "over Submitted by" else card.replace("\n", f"\n{alt}\n", 1)
    text = firefox.replace(card, with_alt)
    assert text != firefox
    for copy in (text, re.sub(r"\n\n+", "\n", text)):
        assert [(p.title, p.abstract, p.upvotes) for p in parse_hf_papers_text(copy.encode(), "week.txt")] == expected
    # a title that names an avatar is still a title
    titled = firefox.replace("Why Do Language Models Hallucinate?", "Avatar Diffusion for Everyone's Avatar")
    assert parse_hf_papers_text(titled.encode(), "week.txt")[1].title == "Avatar Diffusion for Everyone's Avatar"


@pytest.mark.parametrize(("name", "title"), [
    ("adv-hf-a3.txt", "Papers of the week"), ("adv-hf-d1.txt", "Everybody's Avatar"), ("adv-hf-d2.txt", "Avatar"),
])
def test_a_title_that_reads_like_a_heading_or_an_avatar_is_a_title(name, title):
    """"Papers of the week" with no date range under it, and "Avatar" or
    "Everybody's Avatar" between two abstracts (no "Submitted by" or name
    beside them), are titles: they were dropped as the header or an avatar's
    alternative text, and the error blamed the abstract under them."""
    papers = parse(name)
    assert [p.title for p in papers] == ["Graph Learning at Scale", title]
    assert papers[1].abstract.startswith("We study retrieval.")
    text = (DATA / name).read_text(encoding="utf-8")
    # the first title, right under the header, too; and the layout without blank lines
    first = text.replace("Graph Learning at Scale", title, 1).replace(f"\n\n{title}\n\nWe study", "\n\nX Y\n\nWe study")
    assert [p.title for p in parse_hf_papers_text(first.encode(), name)] == [title, "X Y"]
    compact = re.sub(r"\n\n+", "\n", text)
    assert [p.title for p in parse_hf_papers_text(compact.encode(), name)] == ["Graph Learning at Scale", title]
    # over its date range it is the week's heading (a second export's header), not a paper
    dated = text.replace("Papers of the week\n", "Papers of the week\n\nDec 1 - Dec 7, 2025\n\nDense Retrieval\n")
    if name == "adv-hf-a3.txt":
        assert [p.title for p in parse_hf_papers_text(dated.encode(), name)] == ["Graph Learning at Scale",
                                                                              "Dense Retrieval"]


def test_a_cards_authors_split_from_their_count_by_a_separator_line_are_its_authors():
    """A page saved as text puts each part of a card's authors line on one
    of its own ("Jane Doe, Li Wei", "·", "5 authors"): the names were kept
    between the title and the abstract, and the paper refused as "too short
    to be its abstract".  They are the card's authors, as on one line."""
    papers = parse("week-listing-saved.txt")
    assert [(p.title, p.authors, p.upvotes) for p in papers] == [
        ("Faster Diffusion Training with Learned Noise Schedules", ("Jane Doe", "Li Wei"), 42),
        ("Why Do Language Models Hallucinate?", ("Ann Lee",), 17),
        ("TabReason: A Benchmark for Joint Table and Text Reasoning.", (), 3),
    ]
    firefox = parse("week-listing-firefox.txt")
    assert [(p.title, p.abstract) for p in papers] == [(p.title, p.abstract) for p in firefox]
    # a name with no count after its separator is still no card line: refused at it
    text = (DATA / "week-listing-saved.txt").read_text(encoding="utf-8").replace("·\n\n5 authors", "·\n\nSep 4")
    with pytest.raises(InputError, match=r"^week.txt:29: title 'Faster Diffusion .* \(line 31, 'Jane Doe, Li Wei', "
                                         r"looks like a list of author names"):
        parse_hf_papers_text(text.encode(), "week.txt")


@pytest.mark.parametrize("layout", ["blank lines", "one line each"])
@pytest.mark.parametrize(
    "where, lines, upvotes",
    [
        ("arxiv:2409.02345\n", "Upvote\n\n57\n\n+49\n", 57),  # (+49: the upvoters not shown)
        ("Published on Sep 4, 2024", "Upvote 1.2k · 3 comments\n\n", 1200),
        ("Published on Sep 4, 2024", "57 upvotes\n\n12 comments\n\n", 57),
        ("Published on Sep 4, 2024", "3 comments\n\n⭐ 2,345\n\n", None),  # no vote among them
        ("Community\n", "3 comments\n\nakhaliq\n\nThis is a fine paper, we enjoyed reading it.\n\nReply\n", None),
    ],
)
def test_a_papers_page_with_its_counts_is_that_paper_with_its_upvotes(where, lines, upvotes, layout):
    """A paper's page copied with its upvote and comment counts (and its
    comments under the abstract) is that paper, with the upvotes it shows;
    no count is read as a title and no comment as the abstract."""
    text = (DATA / "hf-paper-page.txt").read_text(encoding="utf-8")
    text = text.replace(where, where + "\n" + lines if where.endswith("\n") else lines + where)
    if layout != "blank lines":
        text = text.replace("\n\n", "\n")
    (paper,) = parse_hf_papers_text(text.encode(), "page.txt")
    assert paper.title == "Reduced-Order Neural Operators: Learning Lagrangian Dynamics on Highly Sparse Graphs"
    assert paper.abstract.endswith(" with negligible change in computation time.")
    assert (paper.arxiv_id, paper.upvotes, paper.authors) == ("2409.02345", upvotes, ("Hrishikesh Viswanath", "Yue Chang"))


def test_a_cards_named_upvotes_between_title_and_abstract_are_its_upvotes():
    abstract = parse("hf-papers-blank-lines.txt")[0].abstract
    text = f"{_CARD_HEADER}Sparse Experts\n\nUpvote 58 · 4 comments\n\n{abstract}\n\nDense Experts\n\n· 12 comments\n\n{abstract}\n"
    assert [p.upvotes for p in parse_hf_papers_text(text.encode(), "cards.txt")] == [58, None]


#: How other browsers and systems save the same copy: each a change to the sample's text.
BROWSER_SAVES = {
    "CRLF": lambda t: t.replace("\n", "\r\n"),
    "CR alone (old Mac)": lambda t: t.replace("\n", "\r"),
    "BOM": lambda t: "\ufeff" + t,
    "no-break spaces": lambda t: t.replace(" ", "\u00a0"),
    "narrow and ideographic spaces": lambda t: t.replace(" ", "\u202f", 300).replace(" ", "\u3000", 300),
    "blank lines of white space": lambda t: t.replace("\n\n", "\n \u00a0\t\n"),
    "zero-width characters": lambda t: t.replace("Papers", "Pa\u200bpers").replace("\n\n", "\n\u200b\u2060\n"),
    # a page with right-to-left names copied: its direction marks, between words too
    "direction marks": lambda t: t.replace(" ", "\u200e ", 300).replace("\n", "\u200f\n", 50).replace(".", ".\u061c", 50),
    "tabs": lambda t: "\n".join("\t" + ln if ln else ln for ln in t.split("\n")).replace(" ", "\t", 100),
    "all at once": lambda t: "\ufeff" + t.replace("\n", "\r\n").replace(" ", "\u00a0", 400).replace(
        "\r\n\r\n", "\r\n\u200b \t\r\n"),
}


@pytest.mark.parametrize("save", list(BROWSER_SAVES))
def test_an_export_saved_by_another_browser_reads_the_same_papers(save):
    text = (DATA / "hf-papers-blank-lines.txt").read_text(encoding="utf-8")
    papers = parse_hf_papers_text(BROWSER_SAVES[save](text).encode(), "saved.txt")
    assert [(p.title, p.abstract) for p in papers] == [(p.title, p.abstract) for p in parse("hf-papers-blank-lines.txt")]


def test_smart_quotes_are_text_and_the_same_identity_as_straight_ones():
    """A copy that curls the quotes keeps them in the text, and the paper is the one the straight quotes name."""
    text = (DATA / "hf-papers-blank-lines.txt").read_text(encoding="utf-8")
    curly = text.replace("'", "\u2019").replace("Gradient is All You Need?", "\u201cGradient\u201d is All You Need?")
    papers = parse_hf_papers_text(curly.encode(), "curly.txt")
    straight = parse("hf-papers-blank-lines.txt")
    assert papers[-1].title == "\u201cGradient\u201d is All You Need?"
    assert [p.id for p in papers] == [p.id for p in straight]
    assert "body\u2019s" in papers[1].abstract


@pytest.mark.parametrize("layout", ["blank lines", "compact", "cards"])
@pytest.mark.parametrize("line", ["https://github.com/a/b", "Code: https://github.com/a/b",
                                  "arXiv Page · PDF · Code: https://github.com/a/b"])
def test_a_cards_code_link_between_title_and_abstract_is_the_papers_code(layout, line):
    expected = parse("hf-papers-blank-lines.txt")[:2]
    papers = parse_hf_papers_text(_two_cards(line, layout), "cards.txt")
    assert [(p.title, p.abstract, p.github) for p in papers] == [
        (p.title, p.abstract, "https://github.com/a/b") for p in expected]


def test_a_link_alone_on_a_wrapped_abstracts_line_stays_in_the_abstract():
    """A wrapped abstract ("... code at" over a link alone) keeps its link: only
    a card's lines right under its title are its links."""
    abstract = ("We study the problem in depth and find a simple method that works well in practice. Our code "
                "is available at https://github.com/a/b and the data too.")
    text = f"{_CARD_HEADER}Sparse Experts at Scale\n\nWe study the problem in depth and find a simple method that works\n" \
           "well in practice. Our code is available at\nhttps://github.com/a/b\nand the data too.\n"
    (paper,) = parse_hf_papers_text(text.encode(), "wrapped.txt")
    assert (paper.abstract, paper.github) == (abstract, None)


@pytest.mark.parametrize("layout", ["cards", "compact", "blank lines", "glued to the abstract"])
@pytest.mark.parametrize(
    "line, words",
    [
        ("Ada Lovelace, Grace Hopper", "looks like a list of author names"),
        ("Accepted at ICML 2024", "reads as another title"),
        ("cs.LG", "this line, 'cs.LG', under the title"),
        ("NeurIPS 2024 (Oral)", "this line, 'NeurIPS 2024 (Oral)', under the title"),
        # ending with a full stop, as a sentence of the abstract would
        ("Accepted at NeurIPS 2024.", "this line, 'Accepted at NeurIPS 2024.', under the title"),
        ("15 pages, 6 figures.", "this line, '15 pages, 6 figures.', under the title"),
    ],
)
def test_an_unknown_line_between_a_cards_title_and_abstract_is_refused_at_it(layout, line, words):
    """A card copied as one block with a line the reader does not know under
    its title (authors without 'Authors:', a venue, a category) had that line
    glued to the front of its abstract, without a word; in the other layouts
    the error named the abstract.  One ending with a full stop was glued to
    the abstract in a card, and so was any such line on top of an abstract's
    paragraph under a title.  It is refused at that line."""
    content = _two_cards(line, layout)
    with pytest.raises(InputError) as info:
        parse_hf_papers_text(content, "cards.txt")
    at = content.decode().split("\n").index(line) + 1
    assert len(info.value.problems) == 1 and words in str(info.value)
    assert str(info.value).startswith(f"cards.txt:{at}: ") or f"line {at}, {line!r}" in str(info.value)


@pytest.mark.parametrize("layout", ["cards", "compact", "blank lines", "glued to the abstract"])
@pytest.mark.parametrize(
    "line, authors",
    [
        ("Ada Lovelace · Grace Hopper · +5 authors", ("Ada Lovelace", "Grace Hopper")),
        ("Ada Lovelace, Grace Hopper + 5 authors", ("Ada Lovelace", "Grace Hopper")),
        ("Ada Lovelace, Grace Hopper, and 3 others.", ("Ada Lovelace", "Grace Hopper")),
        ("Émile Borel, Zoë O'Brien, Ludwig van Beethoven +2", ("Émile Borel", "Zoë O'Brien", "Ludwig van Beethoven")),
        ("Ada Lovelace et al.", ("Ada Lovelace",)),
    ],
)
def test_a_cards_authors_ending_with_those_not_shown_are_its_authors(layout, line, authors):
    """A card's authors line ending with the names it does not show ('+5
    authors', 'and 3 others', 'et al.') is names beyond doubt: read as the
    paper's authors.  Without 'Authors:' before it, it was a title without an
    abstract, or glued to the front of the abstract ('... et al. We present')."""
    expected = parse("hf-papers-blank-lines.txt")[:2]
    papers = parse_hf_papers_text(_two_cards(line, layout), "cards.txt")
    assert [(p.title, p.abstract, p.authors) for p in papers] == [(p.title, p.abstract, authors) for p in expected]


@pytest.mark.parametrize("text", ["Neural Operators +5", "GPT-4 Technical Report +5 more", "We prove it, and 5 others"])
def test_a_title_or_sentence_ending_with_a_count_is_no_authors_line(text):
    from newsletter.readers import _names_and_more

    assert _names_and_more(text) is None


@pytest.mark.parametrize("heading", ["Abstract", "Abstract:"])
def test_an_abstract_heading_inside_a_card_is_no_text(heading):
    expected = parse("hf-papers-blank-lines.txt")[:2]
    papers = parse_hf_papers_text(_two_cards(heading, "cards"), "cards.txt")
    assert [(p.title, p.abstract) for p in papers] == [(p.title, p.abstract) for p in expected]


def test_the_runs_an_abstract_is_known_by_are_the_same_in_every_process():
    """The same paper seen by title and by arXiv id under a changed title is
    found by a sample of its abstract's runs of words; the sample was taken
    by Python's hash(), salted per process, so whether two copies shared
    enough runs to be compared changed from one run of the command to the next."""
    import os
    import subprocess
    import sys

    code = ("from newsletter.models import _abstract_anchors, abstract_words; "
            "print(sorted(_abstract_anchors(abstract_words(' '.join(f'word{chr(97 + i % 26)}{chr(97 + i // 26)} "
            "alpha' for i in range(60))))))")
    seen = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                       env={**os.environ, "PYTHONHASHSEED": seed}).stdout
        for seed in ("1", "2", "3")
    }
    assert len(seen) == 1 and seen.pop().strip() not in ("", "[]")


@pytest.mark.parametrize("glued", [True, False])
def test_a_stray_line_ending_with_a_full_stop_over_a_short_abstract_is_named(glued):
    """'Accepted at NeurIPS 2024.' on the line over an abstract of 230
    characters was the abstract's first words (glued to its paragraph) or, as
    a paragraph of its own, the paper's abstract, and the error then named
    the real abstract as a title without one.  Both name the stray line."""
    data = (DATA / "stray-line-hf-papers.txt").read_bytes()
    if not glued:
        data = data.replace(b"2024.\n", b"2024.\n\n")
    with pytest.raises(InputError) as info:
        parse_hf_papers_text(data, "stray.txt")
    assert str(info.value).startswith("stray.txt:15: this line, 'Accepted at NeurIPS 2024.', under the title "
                                      "'Reduced-Order Neural Operators' (line 13), is too short to be its abstract")
    # without the line, both papers are read
    papers = parse_hf_papers_text(data.replace(b"Accepted at NeurIPS 2024.\n", b""), "stray.txt")
    assert [p.abstract.split()[0] for p in papers] == ["We", "Diffusion"]


def test_a_wrapped_abstracts_short_last_line_and_first_sentence_stay_in_it():
    """A text browser's copy wraps an abstract into lines of about one length:
    its short last line, and a first line ending a sentence, are the abstract's."""
    abstract = ("We study heavy tails. " + "Gradient noise in deep networks is often heavy-tailed and we show that "
                "clipped SGD attains the minimax rate under mild assumptions on the loss. " * 2).strip()
    wrapped = "\n".join(textwrap.wrap(abstract, 72, break_on_hyphens=False))
    text = f"{_CARD_HEADER}Heavy Tails in SGD\n\n{wrapped}\n\nSparse Experts at Scale\n\n{abstract}\n"
    papers = parse_hf_papers_text(text.encode(), "wrapped.txt")
    assert [p.abstract for p in papers] == [abstract, abstract]


@pytest.mark.parametrize(
    "view",
    [
        "huggingface.co\nDaily Papers - Hugging Face\n5–6 minutes\n\n",  # Firefox's reader view
        "Daily Papers – Hugging Face\n\nhttps://huggingface.co/papers\n\n",  # Safari's, with the address
        "https://huggingface.co/papers/trending\nTrending Papers - Hugging Face\n12 min read\n\n",
    ],
)
def test_a_copy_of_the_page_in_reader_view_is_read(view):
    """A browser's reader view drops the page's header lines and shows the
    site, the page's title and a reading time over the papers: it was 'no
    Hugging Face papers page header' of a copy that is one."""
    data = (DATA / "reader-view-hf-papers.txt").read_text(encoding="utf-8")
    papers = parse_hf_papers_text((view + data.split("\n\n", 1)[1]).encode(), "reader.txt")
    assert [(p.title, p.abstract) for p in papers] == [(p.title, p.abstract) for p in parse("hf-papers-blank-lines.txt")[:5]]
    assert [p.title for p in parse("reader-view-hf-papers.txt")] == [p.title for p in papers]


@pytest.mark.parametrize("bullet", ["• ", "◦ ", "▪ ", "· ", "- ", "* ", "\t• "])
@pytest.mark.parametrize("abstracts_too", [True, False])
def test_a_listing_copied_as_a_bulleted_list_loses_its_bullets(bullet, abstracts_too):
    """A copy of the page as a list ('• Title' over '• Abstract', or its
    titles only bulleted) kept the bullet as the first character of every
    title and abstract the email showed."""
    expected = parse("hf-papers-blank-lines.txt")[:3]
    text = (DATA / "bulleted-hf-papers.txt").read_text(encoding="utf-8")
    if not abstracts_too:
        for p in expected:
            text = text.replace(f"• {p.abstract}", p.abstract)
    text = text.replace("• ", bullet)
    papers = parse_hf_papers_text(text.encode(), "bulleted.txt")
    assert [(p.title, p.abstract) for p in papers] == [(p.title, p.abstract) for p in expected]


def test_a_title_of_its_own_starting_with_a_dash_keeps_it():
    """Only a list's bullet goes: one title of three starting with '- ' is a title's own."""
    text = (DATA / "bulleted-hf-papers.txt").read_text(encoding="utf-8").replace("• ", "- ", 1).replace("• ", "")
    papers = parse_hf_papers_text(text.encode(), "bulleted.txt")
    assert [p.title[:2] for p in papers].count("- ") == 1


@pytest.mark.parametrize(
    "line",
    ["Published on Wed, Sep 4, 2024", "Published on 2024/09/04", "Published on 2024-09-04T12:00:00Z",
     "Published on 2024-09-04 12:00", "Published on 4. September 2024", "Published on Sept. 4, 2024"],
)
@pytest.mark.parametrize("layout", ["blank lines", "cards", "compact"])
def test_a_cards_date_in_other_forms_is_its_date(line, layout):
    """A weekday before the date, a machine's date (with its time), a day
    with a full stop: the date was lost, or the line refused as the abstract."""
    papers = parse_hf_papers_text(_two_cards(line, layout), "cards.txt")
    expected = parse("hf-papers-blank-lines.txt")[:2]
    assert [(p.title, p.abstract) for p in papers] == [(p.title, p.abstract) for p in expected]
    assert [p.published for p in papers] == [datetime(2024, 9, 4, tzinfo=UTC)] * 2


@pytest.mark.parametrize("date", ["4. Okt. 2024", "4 août 2024", "4 de sept. de 2024", "4 сент. 2024 г.", "9月4日",
                                  "2024年9月4日", "9월 4일", "4 set 2024", "Mai 4"])
def test_the_pages_date_in_the_browsers_language_is_chrome(date):
    """A browser in German, French, Spanish, Russian, Japanese or Korean shows
    the page's day in its language; the export stopped at it: "title '4. Okt.
    2024' has no abstract (line 13 ... reads as another title)"."""
    text = (DATA / "hf-papers-blank-lines.txt").read_text(encoding="utf-8")
    assert "\nSep 4\n" in text
    english = parse_hf_papers_text(text.encode(), "en.txt")
    local = parse_hf_papers_text(text.replace("\nSep 4\n", f"\n{date}\n", 1).encode(), "local.txt")
    assert [p.title for p in local] == [p.title for p in english] and len(local) > 10


@pytest.mark.parametrize("controls", ["← Previous\n\nNext →", "Sep 4, 2025\n← Sep 3\nSep 5 →", "Sort by\nUpvotes\nNewest",
                                      "Submit a paper", "Search papers...", "🤗 Daily Papers", "All\n\nWith code"])
def test_the_pages_controls_under_its_header_are_chrome(controls):
    """The day's arrows, sorting and filters, a search box or a submit button
    between the header and the papers (a newer page, another browser's copy)
    were the first title: "title '← Previous Next →' has no abstract"."""
    text = (DATA / "hf-papers-blank-lines.txt").read_text(encoding="utf-8")
    english = parse_hf_papers_text(text.encode(), "en.txt")
    copied = parse_hf_papers_text(text.replace("\nSep 4\n", f"\nSep 4\n\n{controls}\n", 1).encode(), "c.txt")
    assert [p.title for p in copied] == [p.title for p in english]


def test_a_title_of_menu_words_without_its_abstract_under_the_header_is_still_an_error():
    """Only controls that a paper follows are skipped: a first title without
    its abstract stays an error at its line, never dropped."""
    text = (DATA / "hf-papers-blank-lines.txt").read_text(encoding="utf-8").replace(
        "\nSep 4\n", "\nSep 4\n\nOpen Source Models\n\nHugging Face Hub Papers\n", 1)
    with pytest.raises(InputError) as info:
        parse_hf_papers_text(text.encode(), "c.txt")
    assert str(info.value).startswith("c.txt:13: title 'Open Source Models' has no abstract")


@pytest.mark.parametrize("header", ["Daily Papersby AK and the research community\nSep 4",
                                    "Daily Papers by AK and the research community",
                                    "Get trending papers in your email inbox!Subscribe\n\nDaily Papers"])
def test_header_lines_glued_into_one_are_the_header(header):
    """A copy without line breaks between the header's lines glued them
    ('Daily Papersby AK ...', '...inbox!Subscribe'): 'no Hugging Face papers
    page header'."""
    text = (DATA / "hf-papers-blank-lines.txt").read_text(encoding="utf-8")
    english = parse_hf_papers_text(text.encode(), "en.txt")
    body = text[text.index("\nSep 4\n") + len("\nSep 4\n"):]
    glued = parse_hf_papers_text(f"{header}\n\n{body}".encode(), "glued.txt")
    assert [p.title for p in glued] == [p.title for p in english]


def test_a_title_of_tab_words_alone_is_no_glued_header():
    with pytest.raises(InputError) as info:
        parse_hf_papers_text(b"New Papers\n\nWe study new papers and what they say about the field at length.\n", "x.txt")
    assert "no Hugging Face papers page header" in str(info.value)


def test_the_key_and_heading_checks_skip_long_texts_with_the_same_answers():
    """``_may_be_key`` and ``_folds_to`` spare every abstract the splitting and
    folding the header and heading checks did (a tenth of reading the samples):
    they must answer as the full folding does, for white space of every kind
    (``\\s`` against ``str.split``), letters that fold longer ('ß', 'İ', 'ﬁ'),
    trailing colons, and keys padded past any length bound with white space."""
    import random

    everything = "".join(map(chr, range(0x110000)))
    assert "".join(re.findall(r"\s", everything)) == "".join(c for c in everything if c.isspace())
    spaces = [c for c in everything if c.isspace()]
    keys = sorted(readers._HEADER_KEYS | readers._CHROME_KEYS)
    words = ["ai-generated summary", "abstract", "submitted by", "subscribe"]
    alphabet = ["a", "B", "ß", "İ", "ﬁ", ":", "-", "·", "Σ", "x" * 30, *spaces[:8], *words, *keys[:6]]
    rng = random.Random(11)
    texts = [rng.choice(spaces).join(key) * rng.randint(1, 2) for key in keys]  # keys spread wide by white space
    texts += [key.upper() + rng.choice(spaces) * 300 for key in keys] + [" ".join(key) for key in keys]
    texts += ["".join(rng.choices(alphabet, k=rng.randint(0, 12))) for _ in range(20000)]
    texts += [w.upper() + ":" * n for w in words for n in (0, 1, 5, 60)] + ["Submitted BY", "ẞubscribe"]
    for text in texts:
        if readers._key(text) in readers._HEADER_KEYS | readers._CHROME_KEYS:
            assert readers._may_be_key(text), repr(text)
        for word in words:
            assert readers._folds_to(text, word) == (text.casefold() == word), (text, word)
            assert readers._folds_to(text, word, colons=True) == (text.casefold().rstrip(":") == word), (text, word)
    assert not readers._may_be_key("A" * (readers._KEY_MOST + 1) + " ")  # (the check it spares an abstract)
    assert readers._may_be_key(" \u3000 ".join("x" * readers._KEY_MOST))


def test_the_page_chrome_answers_are_kept_for_short_lines_only():
    """``_is_page_chrome`` keeps its answers (an export asks it of most lines
    two or three times), but only for lines short enough to be chrome: an
    abstract is never chrome, and thousands of them kept would be megabytes."""
    readers._is_short_page_chrome.cache_clear()
    assert readers._is_page_chrome("Daily Papers")
    assert readers._is_page_chrome("Hugging Face Models Datasets Spaces Posts Docs Pricing Log In Sign Up")
    assert not readers._is_page_chrome("Learning to Search with Open Source Models")
    assert readers._is_short_page_chrome.cache_info().currsize == 3
    long_menu = " ".join(["Pricing Docs Log In"] * 30)
    assert len(long_menu) > 2 * readers._MAX_CHROME_CHARS
    assert not readers._is_page_chrome(long_menu)  # (as before: too long to be a menu)
    assert readers._is_short_page_chrome.cache_info().currsize == 3
    assert readers._is_page_chrome("Daily Papers")
    assert readers._is_short_page_chrome.cache_info().hits == 1
