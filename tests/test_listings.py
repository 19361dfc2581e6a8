"""arXiv's listing pages (arxiv.org/list/cs.LG/new, /recent, /pastweek) saved
from a browser and given to an arxiv or feed source."""

from __future__ import annotations

import email
import email.policy
import json
import quopri
from datetime import UTC, datetime

import pytest
from conftest import DATA, write_config

from newsletter.errors import InputError
from newsletter.feeds import parse_arxiv, parse_feed, parse_hf_daily
from newsletter.models import Paper
from newsletter.readers import parse_hf_papers_text

NEW_PAGE = DATA / "arxiv-list-new.html"


class Collect(list):
    def __call__(self, message: str) -> None:
        self.append(message)


def _line_of(text: str, data: bytes) -> int:
    return data.decode().split("\n").index(text) + 1


def test_a_saved_new_listing_page_gives_its_papers_whole():
    """It was 'an HTML page, not an RSS or Atom feed (an error page or a login
    wall?)'; the page holds each paper's id, title, authors, comments,
    subjects and abstract."""
    page = NEW_PAGE.read_bytes()
    warnings = Collect()
    listing = parse_arxiv(page, "new.html", "arXiv", warnings)
    papers = listing.papers
    assert [p.arxiv_id for p in papers] == ["2406.03001", "2406.03002", "2406.02950", "hep-th/9901001", "2401.01234"]
    first = papers[0]
    assert first.title == r"Faster Diffusion Sampling with Learned Step Sizes for $\epsilon$-Prediction"
    assert first.authors == ("Jane Doe", "Ana Müller", "John Smith")
    assert first.abstract == ("We learn the step sizes of a diffusion model sampler from data, reducing the number of "
                              "function evaluations by a factor of four at equal sample quality on CIFAR-10 & ImageNet "
                              r"$64\times64$, where $T < 10$ steps suffice.")
    assert first.categories == ("cs.LG", "cs.AI", "cs.CV")
    assert first.comment == "12 pages, 4 figures; code at https://github.com/example/fastdiff"
    assert (first.url, first.pdf_url) == ("https://arxiv.org/abs/2406.03001", "https://arxiv.org/pdf/2406.03001")
    assert first.published == datetime(2024, 6, 6, tzinfo=UTC)  # the day it was announced
    assert first.location == f"new.html:{_line_of('<dt>', page)}"
    assert papers[2].title == "Score Matching for Schrödinger Bridges" and papers[2].authors[1] == "Zoë O'Brien"
    assert papers[3].url == "https://arxiv.org/abs/hep-th/9901001" and papers[3].categories[0] == "hep-th"
    # the replacement shows no abstract on the page: read by its title, said once at its line
    assert papers[4].abstract == "" and len(warnings) == 1
    fifth_dt = page.decode().split("\n").index("  <a name='item5'>[5]</a>")  # (the line over it, counted from 1)
    assert warnings[0].startswith(f"new.html:{fifth_dt}: source 'arXiv': the 1 replaced paper of the arXiv "
                                  "listing page has no abstract") and "it is read by its title" in warnings[0]
    assert "`announce_type: [new, cross]` leaves it out" in warnings[0]
    # the same page given to a feed source: the same papers
    assert parse_feed(page, "new.html", "arXiv", Collect()) == papers


@pytest.mark.parametrize(
    "kinds, ids",
    [
        (["new"], ["2406.03001", "2406.03002"]),
        (["cross"], ["2406.02950", "hep-th/9901001"]),
        (["replace"], ["2401.01234"]),
        (["new", "cross"], ["2406.03001", "2406.03002", "2406.02950", "hep-th/9901001"]),
    ],
)
def test_a_listing_pages_sections_are_its_announcement_types(kinds, ids):
    """New submissions, cross-lists and replacements, as arXiv's feed names them."""
    listing = parse_arxiv(NEW_PAGE.read_bytes(), "new.html", "arXiv", Collect(), kinds)
    assert [p.arxiv_id for p in listing.papers] == ids


#: /list/math.GT/recent in the layout before 2024: a day's heading, no abstracts.
RECENT = """<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN">
<html xmlns="http://www.w3.org/1999/xhtml" lang="en" xml:lang="en">
<head><title>Geometric Topology authors/titles recent submissions</title></head>
<body>
<div id="dlpage">
<h1>Geometric Topology</h1>
<h2>Authors and titles for recent submissions</h2>
<h3>Wed, 5 Jun 2024</h3>
<dl>
<dt><a name="item1">[1]</a>&nbsp;  <span class="list-identifier"><a href="/abs/2406.02001" title="Abstract">arXiv:2406.02001</a> [<a href="/pdf/2406.02001" title="Download PDF">pdf</a>, <a href="/format/2406.02001" title="Other formats">other</a>]</span></dt>
<dd>
<div class="meta">
<div class="list-title mathjax">
<span class="descriptor">Title:</span> Knot Floer Homology and Ricci Flow
</div>
<div class="list-authors">
<span class="descriptor">Authors:</span>
<a href="/search/math?searchtype=author&amp;query=Perelman%2C+G">Grisha Perelman</a>
</div>
<div class="list-subjects">
<span class="descriptor">Subjects:</span> <span class="primary-subject">Geometric Topology (math.GT)</span>
</div>
</div>
</dd>
<dt><a name="item2">[2]</a>&nbsp;  <span class="list-identifier"><a href="/abs/math/0309136" title="Abstract">arXiv:math/0309136</a> (cross-list from math.DG) [<a href="/pdf/math/0309136" title="Download PDF">pdf</a>]</span></dt>
<dd>
<div class="meta">
<div class="list-title mathjax">
<span class="descriptor">Title:</span> Ricci flow with surgery on three-manifolds
</div>
<div class="list-authors">
<span class="descriptor">Authors:</span>
<a href="/search/math?searchtype=author&amp;query=Perelman%2C+G">Grisha Perelman</a>
</div>
</div>
</dd>
</dl>
</div>
</body>
</html>
"""


def test_a_recent_listing_without_abstracts_is_read_by_titles_and_said_once():
    warnings = Collect()
    papers = parse_feed(RECENT.encode(), "recent.html", "math.GT", warnings)
    assert [(p.arxiv_id, p.title, p.authors, p.abstract) for p in papers] == [
        ("2406.02001", "Knot Floer Homology and Ricci Flow", ("Grisha Perelman",), ""),
        ("math/0309136", "Ricci flow with surgery on three-manifolds", ("Grisha Perelman",), ""),
    ]
    assert papers[0].published == datetime(2024, 6, 5, tzinfo=UTC) and papers[0].categories == ("math.GT",)
    (warning,) = warnings
    assert warning.startswith("recent.html:10: source 'math.GT': 2 of the 2 papers") and "/new page" in warning


def test_a_listing_paper_without_its_id_link_is_an_error_at_its_line():
    """A page cut off or edited: a paper no link names is refused at its
    <dt>, never read as a paper without an id."""
    page = RECENT.replace('<a href="/abs/2406.02001" title="Abstract">arXiv:2406.02001</a>', "arXiv:2406.02001")
    with pytest.raises(InputError) as info:
        parse_feed(page.encode(), "recent.html", "math.GT", Collect())
    assert str(info.value).startswith("recent.html:10: source 'math.GT': this paper of the arXiv listing page has "
                                      "no arXiv id")


def test_a_listing_page_saved_as_mhtml_is_read():
    page = NEW_PAGE.read_bytes()
    mhtml = (b"From: <Saved by Blink>\r\nSnapshot-Content-Location: https://arxiv.org/list/cs.LG/new\r\n"
             b"MIME-Version: 1.0\r\nContent-Type: multipart/related;\r\n\ttype=\"text/html\";\r\n\tboundary=\"--B--\"\r\n"
             b"\r\n----B--\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
             + quopri.encodestring(page).replace(b"\n", b"\r\n") + b"\r\n----B----\r\n")
    assert email.message_from_bytes(mhtml).is_multipart()
    listing = parse_arxiv(mhtml, "new.mhtml", "arXiv", Collect())
    assert [p.title for p in listing.papers] == [p.title for p in parse_arxiv(page, "x", "arXiv", Collect()).papers]


def test_a_saved_listing_page_goes_through_papers_match_and_send(tmp_path, cli):
    """The real commands on a listing page given as an arxiv source's path:
    its papers are matched and sent, the warning said once."""
    (tmp_path / "new.html").write_bytes(NEW_PAGE.read_bytes())
    write_config(tmp_path, """
        sources: [{type: arxiv, name: cs.LG, path: new.html, feed: rss, announce_type: [new, cross]}]
        topics: {diffusion: {name: Diffusion, any: ["diffusion model*", "Schrödinger bridge*"]}}
        subscribers: [{email: ada@example.org, topics: [diffusion]}]
        delivery: {transport: outbox, path: outbox}
        """)
    r = cli("papers", "--json")
    assert r.code == 0 and r.err == "", r.err
    assert [p["id"] for p in json.loads(r.out)] == ["2406.03001", "2406.03002", "2406.02950", "hep-th/9901001"]
    r = cli("match", "--json")
    assert r.code == 0, r.err
    (sub,) = json.loads(r.out)["subscribers"]
    assert sorted(p["id"] for p in sub["papers"]) == ["2406.02950", "2406.03001"]
    r = cli("send")
    assert r.code == 0, r.err
    (eml,) = (tmp_path / "outbox").rglob("*.eml")
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    body = message.get_body(("plain",)).get_content()  # type: ignore[attr-defined, union-attr]
    assert "Score Matching for Schrödinger Bridges" in body and "Jane Doe" in body


#: The /new page above, selected and copied as text from the browser.
COPIED = """Machine Learning
New submissions
Submissions received from Tue 4 Jun 24 to Wed 5 Jun 24, announced Thu, 6 Jun 24
See recent articles
Showing new listings for Thursday, 6 June 2024
Total of 5 entries
New submissions (showing 2 of 2 entries)
[1] arXiv:2406.03001 [pdf, html, other]
Title: Faster Diffusion Sampling with Learned Step Sizes
Jane Doe, Ana Müller, John Smith
Subjects: Machine Learning (cs.LG); Artificial Intelligence (cs.AI)

We learn the step sizes of a diffusion model sampler from data.
"""


@pytest.mark.parametrize(
    "kind, content, words",
    [
        ("hf-papers-text", NEW_PAGE.read_bytes(), "(it is an arXiv listing page saved from the browser (`type: arxiv` "
                                                  "with `path:` reads it))"),
        ("hf-daily", NEW_PAGE.read_bytes(), "source 'hf-daily': an arXiv listing page saved from the browser "
                                            "(`type: arxiv` with `path:` reads it), not the JSON list"),
        ("hf-daily", COPIED.encode(), "source 'hf-daily': an arXiv page copied as text, not the JSON list of "
                                      "daily papers (`type: arxiv` with `path:` reads it)"),
        ("hf-papers-text", (DATA / "arxiv-abs.html").read_bytes(), "(it is an arXiv abstract page saved from the "
                                                                  "browser (`type: arxiv` with `path:` reads it))"),
    ],
)
def test_a_listing_page_given_to_another_source_names_the_one_that_reads_it(tmp_path, cli, kind, content, words):
    """They said 'an error page or a login wall?' and 'the export is the page's
    text' (the HTML page), or 'is this a papers listing export?' (its text)."""
    (tmp_path / "new.html").write_bytes(content)
    write_config(tmp_path, f"""
        sources: [{{type: {kind}, path: new.html}}]
        topics: {{t: {{any: [diffusion]}}}}
        subscribers: [{{email: ada@example.org, topics: [t]}}]
        """)
    r = cli("papers")
    assert r.code == 2 and len(r.err.splitlines()) == 1 and words in r.err, r.err
    assert r.err.startswith("new.html:1: ")


def test_a_listing_page_saved_again_in_windows_1252_is_read_and_mixed_bytes_are_an_error():
    """An editor's 'ANSI' copy of the page is read as such; bytes of neither
    kind (UTF-8 with a stray Latin-1 byte) are an error at their line, never
    a name with '�' in it."""
    page = NEW_PAGE.read_bytes().decode("utf-8").replace("&#252;", "ü").replace("&#246;", "ö")
    papers = parse_arxiv(page.encode("cp1252"), "new.html", "arXiv", Collect()).papers
    assert papers[0].authors[1] == "Ana Müller" and papers[2].title == "Score Matching for Schrödinger Bridges"
    mixed = page.encode("utf-8").replace("Müller".encode(), b"M\xfcller")
    with pytest.raises(InputError) as info:
        parse_arxiv(mixed, "new.html", "arXiv", Collect())
    line = page.split("\n").index(next(ln for ln in page.split("\n") if "Müller" in ln)) + 1
    assert str(info.value).startswith(f"new.html:{line}: source 'arXiv': the arXiv listing page is not UTF-8 text")


def test_a_saved_search_results_page_gives_its_papers_whole():
    """arxiv.org/search/?query=... saved by a browser: each result's id,
    subject tags, title, authors, whole abstract (not its short form, nor the
    '△ Less' link), comments and the day it was submitted."""
    page = (DATA / "arxiv-search.html").read_bytes()
    warnings = Collect()
    first, second = parse_feed(page, "search.html", "search", warnings)
    assert (first.arxiv_id, first.title, first.authors) == (
        "2406.02950", "Score Matching for Schrödinger Bridges", ("Kenji Tanaka", "Zoë O'Brien"))
    assert first.abstract == ("We study score matching for Schrödinger bridges between two arbitrary distributions and "
                              "prove that the learned bridge converges at the minimax rate when $n < d^2$.")
    assert first.categories == ("stat.ML", "cs.LG") and first.comment == "22 pages, 3 figures"
    assert first.published == datetime(2024, 6, 4, tzinfo=UTC)
    item = page.decode().split("\n").index('  <li class="arxiv-result">') + 1
    assert first.location == f"search.html:{item}"
    assert (second.arxiv_id, second.categories, second.comment) == ("math/0309136", ("math.DG",), None)
    assert second.published == datetime(2003, 3, 10, tzinfo=UTC) and warnings == []


COPIED_NEW = DATA / "arxiv-list-new-copied.txt"


@pytest.mark.parametrize("parse", [
    lambda data, w: parse_arxiv(data, "new.txt", "arXiv", w).papers,
    lambda data, w: parse_feed(data, "new.txt", "arXiv", w),
    lambda data, w: parse_hf_papers_text(data, "new.txt", "arXiv", w),
], ids=["arxiv", "feed", "hf-papers-text"])
def test_a_new_listing_copied_as_text_gives_its_papers_whole(parse):
    """Select all on arxiv.org/list/cs.LG/new, copy, paste into a file: it was
    refused ('save the page itself instead') by every source; the text holds
    each paper's id, title, authors, comments, subjects and abstract, and the
    page's menu, paging and footer are no paper's."""
    data = COPIED_NEW.read_bytes()
    warnings = Collect()
    papers = parse(data, warnings)
    assert [p.arxiv_id for p in papers] == ["2406.03001", "2406.03002", "2406.02950", "hep-th/9901001",
                                            "2401.01234", "2312.00077"]
    first = papers[0]
    assert first.title == r"Faster Diffusion Sampling with Learned Step Sizes for $\epsilon$-Prediction"
    assert first.authors == ("Jane Doe", "Ana Müller", "John Smith")
    assert first.abstract.startswith("We learn the step sizes") and first.abstract.endswith("$T < 10$ steps suffice.")
    assert first.categories == ("cs.LG", "cs.AI", "cs.CV") and first.comment.startswith("12 pages, 4 figures; code")
    assert first.published == datetime(2024, 6, 6, tzinfo=UTC) and first.location == "new.txt:16"
    assert first.url == "https://arxiv.org/abs/2406.03001"
    assert papers[2].authors == ("Kenji Tanaka", "Zoë O'Brien") and papers[2].comment is None
    # the last paper (a replacement, no abstract on the page) takes none of the footer's lines
    assert (papers[5].title, papers[5].abstract, papers[5].categories) == (
        "Diffusion Priors for Image Restoration", "", ("cs.CV", "cs.LG"))
    (warning,) = warnings
    assert warning.startswith("new.txt:48: source 'arXiv': the 2 replaced papers of the arXiv listing copied as text "
                              "have no abstract")


@pytest.mark.parametrize("kinds, ids", [
    (["new"], ["2406.03001", "2406.03002"]),
    (["cross"], ["2406.02950", "hep-th/9901001"]),
    (["replace"], ["2401.01234"]),
    (["replace-cross"], ["2312.00077"]),
])
@pytest.mark.parametrize("copy", ["arxiv-list-new-copied.txt", "arxiv-list-old-copied.txt"])
def test_a_copied_listings_sections_and_notes_are_its_announcement_types(copy, kinds, ids):
    """'Cross submissions (showing ...)' / 'Cross-lists for Thu, 6 Jun 24',
    '(cross-list from stat.ML)', '(replaced)', '(*cross-listing*)': as the
    saved page's, so announce_type leaves replacements out of a copy too."""
    papers = parse_arxiv((DATA / copy).read_bytes(), copy, "arXiv", Collect(), kinds).papers
    expected = [i for i in ids if copy.startswith("arxiv-list-new") or i not in ("2406.03002", "hep-th/9901001")]
    assert [p.arxiv_id for p in papers] == expected


def test_a_listing_copied_in_the_layout_before_2024_reads_its_labelled_authors_and_whole_abstract():
    papers = parse_arxiv((DATA / "arxiv-list-old-copied.txt").read_bytes(), "old.txt", "arXiv", Collect()).papers
    first = papers[0]
    assert first.authors == ("Jane Doe", "Ana Müller", "John Smith") and first.comment == "12 pages, 4 figures"
    assert first.abstract.endswith("at equal sample quality. The learned schedule transfers across datasets "
                                   "without retraining.")
    assert first.published == datetime(2024, 6, 6, tzinfo=UTC) and first.location == "old.txt:15"
    assert papers[-1].abstract == "" and papers[-1].authors == ("Li Wei", "Maria Garcia")


def test_a_recent_listing_copied_as_text_gives_each_paper_its_day_and_says_it_has_no_abstracts():
    warnings = Collect()
    papers = parse_feed((DATA / "arxiv-list-recent-copied.txt").read_bytes(), "recent.txt", "cs.LG", warnings)
    assert [(p.arxiv_id, p.published.day, p.abstract) for p in papers if p.published] == [
        ("2406.04100", 7, ""), ("2406.04099", 7, ""), ("2406.03001", 6, "")]
    assert papers[0].authors == ("Priya Natarajan", "Tomás Ruiz")
    (warning,) = warnings
    assert warning.startswith("recent.txt:9: source 'cs.LG': 3 of the 3 papers of the arXiv listing copied as text "
                              "have no abstract")


def test_a_copied_listing_cut_off_after_an_entrys_first_line_is_an_error_at_that_line(tmp_path, cli):
    """The copy stopped at '[7] arXiv:...': no title, no paper; never one titled by the id."""
    text = COPIED_NEW.read_text(encoding="utf-8")
    cut = text[:text.rindex("Total of 6 entries")]
    (tmp_path / "new.txt").write_text(cut + "[7] arXiv:2406.03010 [pdf, other]\n", encoding="utf-8")
    write_config(tmp_path, """
        sources: [{type: hf-papers-text, path: new.txt}]
        topics: {t: {any: [diffusion]}}
        subscribers: [{email: ada@example.org, topics: [t]}]
        """)
    r = cli("papers")
    assert r.code == 2 and r.err.strip() == (
        f"new.txt:{cut.count(chr(10)) + 1}: source 'hf-papers-text': this paper of the arXiv listing copied as text has no title; the page "
        "is cut off or not arXiv's (save it again)"), r.err


def test_a_copied_listing_beside_hugging_face_exports_is_read_and_a_paper_in_both_is_one(tmp_path, cli):
    """A folder of daily .txt copies, one of them arXiv's: its papers join the
    exports', and the paper both carry (by its title on Hugging Face, by its
    id on arXiv) comes once, with the arXiv id."""
    folder = tmp_path / "papers"
    folder.mkdir()
    (folder / "arxiv.txt").write_bytes(COPIED_NEW.read_bytes())
    (folder / "hf.txt").write_text(
        "Get trending papers in your email inbox!\n\nSubscribe\n\nDaily Papers\n\nbyAK and the research community\n\n"
        "Jun 6\n\nScore Matching for Schrödinger Bridges\n\nWe study score matching for Schrödinger bridges between "
        "two arbitrary distributions and prove that the learned bridge converges at the minimax rate.\n",
        encoding="utf-8")
    write_config(tmp_path, """
        sources: [{type: hf-papers-text, path: papers/}]
        topics: {t: {any: [score matching]}}
        subscribers: [{email: ada@example.org, topics: [t]}]
        """)
    r = cli("papers", "--json")
    assert r.code == 0, r.err
    papers = json.loads(r.out)
    assert len(papers) == 6
    (bridge,) = [p for p in papers if "Bridges" in p["title"]]
    assert bridge["id"] == "2406.02950" and bridge["categories"] == ["stat.ML", "cs.LG"]


ABS_PAGE = DATA / "arxiv-abs.html"


def _mhtml(page: bytes, url: str) -> bytes:
    return (b"From: <Saved by Blink>\r\nSnapshot-Content-Location: " + url.encode() + b"\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: multipart/related;\r\n\ttype=\"text/html\";\r\n\tboundary=\"--B--\"\r\n"
            b"\r\n----B--\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
            + quopri.encodestring(page).replace(b"\n", b"\r\n") + b"\r\n----B----\r\n")


@pytest.mark.parametrize("saved", ["html", "mhtml"])
def test_a_saved_abstract_page_is_its_paper_with_the_version_it_shows(saved):
    """arxiv.org/abs/ID saved by a browser ('Save page as', HTML or Chrome's
    MHTML) was 'an HTML page, not an RSS or Atom feed (an error page or a
    login wall?)'; it is one paper: id and version, title, authors, abstract,
    comments (with the link arXiv shows as 'this https URL'), subjects and
    the day it was first submitted."""
    page = ABS_PAGE.read_bytes()
    data = page if saved == "html" else _mhtml(page, "https://arxiv.org/abs/2406.03001")
    warnings = Collect()
    (paper,) = parse_arxiv(data, "abs.html", "arXiv", warnings).papers
    assert (paper.arxiv_id, paper.version) == ("2406.03001", 2)
    assert paper.title == r"Faster Diffusion Sampling with Learned Step Sizes for $\epsilon$-Prediction"
    assert paper.authors == ("Jane Doe", "Ana Müller", "John Smith")
    assert paper.abstract == ("We learn the step sizes of a diffusion model sampler from data, reducing the number of "
                              "function evaluations by a factor of four at equal sample quality on CIFAR-10 & ImageNet "
                              r"$64\times64$, where $T < 10$ steps suffice.")
    assert paper.comment == "12 pages, 4 figures; code at https://github.com/example/fastdiff"
    assert paper.categories == ("cs.LG", "cs.AI", "cs.CV") and paper.published == datetime(2024, 6, 4, tzinfo=UTC)
    assert (paper.url, paper.pdf_url) == ("https://arxiv.org/abs/2406.03001", "https://arxiv.org/pdf/2406.03001v2")
    title_line = page.decode().split("\n").index(next(ln for ln in page.decode().split("\n") if 'class="title' in ln))
    assert paper.location == f"abs.html:{title_line + 1}" and warnings == []
    assert parse_feed(data, "abs.html", "arXiv", Collect()) == [paper]


def test_an_abstract_page_of_another_layout_is_read_from_its_citation_tags():
    """The page's head says the paper to citation managers (citation_title,
    citation_author 'Doe, Jane', citation_abstract, citation_date): a body
    the reader does not know (another layout, a page cut off after its
    head) still gives the paper."""
    page = ABS_PAGE.read_text(encoding="utf-8")
    head = page[:page.index("<body")] + "<body><p>Loading…</p></body></html>"
    (paper,) = parse_arxiv(head.encode(), "abs.html", "arXiv", Collect()).papers
    assert (paper.arxiv_id, paper.version, paper.authors[1]) == ("2406.03001", None, "Ana Müller")
    assert paper.abstract.endswith("$T < 10$ steps suffice.") and paper.published == datetime(2024, 6, 4, tzinfo=UTC)


def test_an_abstract_page_without_its_abstract_is_an_error_at_its_title(tmp_path, cli):
    """A page cut off before its abstract (and no citation tags to fall back
    on) is no paper: never one sent with an empty abstract."""
    page = ABS_PAGE.read_text(encoding="utf-8")
    page = "\n".join(ln for ln in page.split("\n") if "citation_" not in ln)
    cut = page[:page.index('<blockquote class="abstract')]
    (tmp_path / "abs.html").write_text(cut, encoding="utf-8")
    write_config(tmp_path, """
        sources: [{type: arxiv, path: abs.html}]
        topics: {t: {any: [diffusion]}}
        subscribers: [{email: ada@example.org, topics: [t]}]
        """)
    r = cli("papers")
    line = cut.split("\n").index(next(ln for ln in cut.split("\n") if 'class="title' in ln)) + 1
    assert r.code == 2 and r.err.strip() == (
        f"abs.html:{line}: source 'arxiv': the arXiv abstract page has no abstract; the page is cut off or not "
        "arXiv's (save it again)"), r.err


def test_a_paper_sent_from_a_listing_is_not_sent_again_as_a_replacement_a_cross_list_or_its_page(tmp_path, cli):
    """Day 1: the /new page (saved) gives 2406.03001 v1, sent.  Day 2: the
    copied /new listing of another category has it as a cross-list, the
    next day's as a replacement, and its abstract page shows v2 under a new
    title: the same paper each time (its id without the version), never sent
    again; a new paper of the day goes out alone."""
    (tmp_path / "new.html").write_bytes(NEW_PAGE.read_bytes())
    config = """
        sources: [{{type: arxiv, path: {path}}}]
        topics: {{t: {{any: ["diffusion sampling", "language model*"]}}}}
        subscribers: [{{email: ada@example.org, topics: [t]}}]
        delivery: {{transport: outbox, path: outbox}}
        """
    write_config(tmp_path, config.format(path="new.html"))
    r = cli("send")
    assert r.code == 0 and "sent        ada@example.org: 1 paper " in r.out, r.out + r.err
    day2 = tmp_path / "day2"
    day2.mkdir()
    page = ABS_PAGE.read_text(encoding="utf-8").replace("Faster Diffusion Sampling with Learned", "Fast Diffusion "
                                                                                                "Sampling by Learned")
    (day2 / "abs.html").write_text(page, encoding="utf-8")
    copied = COPIED_NEW.read_text(encoding="utf-8")
    cross = copied.replace("[1] arXiv:2406.03001 [pdf, html, other]", "[1] arXiv:2406.03001v2 (cross-list from "
                                                                      "cs.LG) [pdf, html, other]")
    cross = cross.replace("[2] arXiv:2406.03002 [pdf, other]\nTitle: Sharp Convergence Rates for Clipped SGD under "
                          "Heavy-Tailed Noise", "[2] arXiv:2406.05555 [pdf, other]\nTitle: Large Language Models "
                          "Explain Their Own Mistakes")
    (day2 / "cs.CL.txt").write_text(cross, encoding="utf-8")
    write_config(tmp_path, config.replace("[{{type: arxiv, path: {path}}}]", "[{{type: arxiv, path: day2/abs.html}}, "
                                          "{{type: hf-papers-text, path: day2/cs.CL.txt}}]").format())
    r = cli("papers", "--json")
    assert r.code == 0, r.err
    papers = {p["id"]: p for p in json.loads(r.out)}
    assert papers["2406.03001"]["title"].startswith("Fast Diffusion Sampling by Learned")  # the newer version's
    assert sum(1 for p in json.loads(r.out) if p["id"] == "2406.03001") == 1
    r = cli("send")
    assert r.code == 0, r.err
    assert "sent        ada@example.org: 1 paper " in r.out, r.out
    newest = max((tmp_path / "outbox").rglob("*.eml"), key=lambda f: f.stat().st_mtime_ns)
    body = email.message_from_bytes(newest.read_bytes(), policy=email.policy.default).get_body(("plain",))
    text = body.get_content()  # type: ignore[union-attr]
    assert "Large Language Models Explain Their Own Mistakes" in text and "Diffusion Sampling" not in text


ABS_COPIED = DATA / "arxiv-abs-copied.txt"


@pytest.mark.parametrize("parse", [
    lambda data, w: parse_arxiv(data, "abs.txt", "arXiv", w).papers,
    lambda data, w: parse_hf_papers_text(data, "abs.txt", "arXiv", w),
], ids=["arxiv", "hf-papers-text"])
def test_an_abstract_page_copied_as_text_is_its_paper(parse):
    """Select all on arxiv.org/abs/ID, copy, paste: it was 'no Hugging Face
    papers page header' or 'the answer is text, 'Skip to main content''; the
    id and version (the versioned citation), title, authors, abstract,
    comments, subjects and first submission day are the page's, the menus
    and the submission history no part of it."""
    warnings = Collect()
    (paper,) = parse(ABS_COPIED.read_bytes(), warnings)
    assert (paper.arxiv_id, paper.version) == ("2406.03001", 2)
    assert paper.title == r"Faster Diffusion Sampling with Learned Step Sizes for $\epsilon$-Prediction"
    assert paper.authors == ("Jane Doe", "Ana Müller", "John Smith")
    assert paper.abstract.startswith("We learn the step sizes") and paper.abstract.endswith("$T < 10$ steps suffice.")
    assert paper.categories == ("cs.LG", "cs.AI", "cs.CV") and paper.published == datetime(2024, 6, 4, tzinfo=UTC)
    assert paper.comment == "12 pages, 4 figures; code at this https URL" and paper.location == "abs.txt:10"
    assert warnings == []


def test_an_abstract_page_copied_without_its_abstract_is_an_error_at_its_title():
    """A copy that stopped at the authors (a selection, not the whole page):
    no paper with an empty abstract."""
    text = ABS_COPIED.read_text(encoding="utf-8")
    cut = text[:text.index("View PDF HTML")] + "Abstract:\n"
    with pytest.raises(InputError) as info:
        parse_arxiv(cut.encode(), "abs.txt", "arXiv", Collect())
    assert str(info.value) == ("abs.txt:10: source 'arXiv': the arXiv abstract page copied as text has no abstract "
                               "(lines 'arXiv:ID (cs)', 'Title:', 'Abstract:'); the copy is cut off? Copy the whole "
                               "page (Ctrl+A)")


def test_the_replacements_warning_names_announce_type_where_the_source_has_it():
    """`announce_type` is an arxiv source's: a feed or export source given the
    listing was told to set it, and validate then failed on the option."""
    data = COPIED_NEW.read_bytes()
    for parse, said in [
        (lambda w: parse_arxiv(data, "new.txt", "arXiv", w), "leaves them out"),
        (lambda w: parse_feed(data, "new.txt", "arXiv", w), "leaves them out (on a source `type: arxiv` with this "
                                                            "file as `path:`)"),
        (lambda w: parse_hf_papers_text(data, "new.txt", "arXiv", w), "(on a source `type: arxiv` with this file"),
    ]:
        warnings = Collect()
        parse(warnings)
        (warning,) = warnings
        assert said in warning and warning.endswith(("out", ")")), warning
    warnings = Collect()
    parse_arxiv(data, "new.txt", "arXiv", warnings)
    assert warnings[0].endswith("leaves them out")


def test_a_copied_entrys_authors_unlike_a_list_of_names_are_still_its_authors():
    """A collaboration's line (a name over 60 characters, six words and more)
    under the title, above 'Subjects:': it is the authors, not the front of
    the abstract."""
    text = COPIED_NEW.read_text(encoding="utf-8").replace(
        "\nAnn Lee\n", "\nThe International Consortium for Heavy-Tailed Stochastic Optimization Benchmarks, Ann Lee\n")
    papers = parse_arxiv(text.encode(), "new.txt", "arXiv", Collect()).papers
    assert papers[1].authors == ("The International Consortium for Heavy-Tailed Stochastic Optimization Benchmarks",
                                 "Ann Lee")
    assert papers[1].abstract.startswith("We prove sharp convergence rates")


def test_a_listing_copy_starting_inside_a_paper_says_that_paper_is_left_out():
    """A selection from the middle of the first paper: the papers after it
    are read, and the one whose id line is not in the copy is named, not
    lost without a word."""
    text = COPIED_NEW.read_text(encoding="utf-8")
    start = text.index("Title: Faster Diffusion")
    warnings = Collect()
    papers = parse_feed(text[start:].encode(), "part.txt", "arXiv", warnings)
    assert papers[0].arxiv_id == "2406.03002" and len(papers) == 5
    assert warnings[0].startswith("part.txt:1: source 'arXiv': the copy of the arXiv listing starts inside a paper")


def test_a_withdrawn_paper_of_a_listing_or_its_page_is_no_paper():
    """arXiv announces a withdrawal as a replacement ('Comments: This paper has
    been withdrawn by the author'); the API and the feeds leave such papers
    out, a saved or copied page sent them by their titles."""
    text = COPIED_NEW.read_text(encoding="utf-8").replace(
        "Comments: v2: corrected Theorem 2", "Comments: This paper has been withdrawn by the author due to an error")
    papers = parse_arxiv(text.encode(), "new.txt", "arXiv", Collect()).papers
    assert "2401.01234" not in [p.arxiv_id for p in papers] and len(papers) == 5
    page = ABS_PAGE.read_text(encoding="utf-8").replace(
        "12 pages, 4 figures; code at", "This paper has been withdrawn by the authors; see")
    warnings = Collect()
    assert parse_arxiv(page.encode(), "abs.html", "arXiv", warnings).papers == []
    (warning,) = warnings
    assert "abs.html:" in warning and "the paper of the arXiv abstract page is withdrawn" in warning


SEARCH_COPIED = """Skip to main content
Cornell University
Showing 1–2 of 2 results for all: schrödinger bridge
Search v0.5.6 released 2020-02-24
arXiv:2406.02950 [pdf, other]
stat.ML cs.LG
Score Matching for Schrödinger Bridges
Authors: Kenji Tanaka, Zoë O'Brien
Abstract: We study score matching for Schrödinger bridges between two arbitrary distributions and prove that the … ▽ More
Submitted 4 June, 2024; originally announced June 2024.
Comments: 22 pages, 3 figures
arXiv:math/0309136 [pdf, ps, other]
math.DG
Ricci flow with surgery on three-manifolds
Authors: Grisha Perelman
Abstract: This is a technical paper, which is a continuation of [I]. Here we verify most of the assertions made in … ▽ More
Submitted 10 March, 2003; originally announced March 2003.
"""


def test_a_search_results_page_copied_as_text_is_an_error_saying_to_save_the_page():
    """Its subject tags stand where a title goes and its abstracts are cut
    short: read as a listing, 'stat.ML cs.LG' was the paper's title."""
    with pytest.raises(InputError) as info:
        parse_arxiv(SEARCH_COPIED.encode(), "search.txt", "arXiv", Collect())
    assert str(info.value).startswith("search.txt:3: source 'arXiv': an arXiv search results page copied as text: it "
                                      "shows each abstract cut short")


def test_two_listings_copied_into_one_file_give_a_cross_listed_paper_once(tmp_path, cli):
    """cs.LG's /new and stat.ML's /new pasted one under the other: the paper
    new in stat.ML is a cross-list in cs.LG; it is one paper, with both
    pages' categories."""
    cs = COPIED_NEW.read_text(encoding="utf-8")
    stat = cs.replace("Machine Learning\nNew submissions", "Machine Learning (stat)\nNew submissions").replace(
        "[3] arXiv:2406.02950 (cross-list from stat.ML) [pdf, html, other]", "[3] arXiv:2406.02950 [pdf, html, other]")
    (tmp_path / "both.txt").write_text(cs + "\n" + stat, encoding="utf-8")
    write_config(tmp_path, """
        sources: [{type: arxiv, path: both.txt, announce_type: [new, cross]}]
        topics: {t: {any: [score matching]}}
        subscribers: [{email: ada@example.org, topics: [t]}]
        """)
    r = cli("papers", "--json")
    assert r.code == 0, r.err
    ids = [p["id"] for p in json.loads(r.out)]
    assert sorted(ids) == ["2406.02950", "2406.03001", "2406.03002", "hep-th/9901001"]
    r = cli("match", "--json")
    (sub,) = json.loads(r.out)["subscribers"]
    assert [p["id"] for p in sub["papers"]] == ["2406.02950"]


def test_a_copied_title_wrapped_onto_a_second_line_above_its_authors_label_is_whole():
    """A copy from a narrow window (the layout before 2024, 'Authors:'
    labelled): the title's end on its own line was taken for the authors."""
    text = (DATA / "arxiv-list-old-copied.txt").read_text(encoding="utf-8").replace(
        "Title: Faster Diffusion Sampling with Learned Step Sizes\n", "Title: Faster Diffusion Sampling\nwith Learned Step Sizes\n")
    first = parse_arxiv(text.encode(), "old.txt", "arXiv", Collect()).papers[0]
    assert first.title == "Faster Diffusion Sampling with Learned Step Sizes"
    assert first.authors == ("Jane Doe", "Ana Müller", "John Smith")
    # and in the layout since 2024, whose authors have no label: above 'Subjects:'
    text = COPIED_NEW.read_text(encoding="utf-8").replace(
        "Title: Sharp Convergence Rates for Clipped SGD under Heavy-Tailed Noise\n",
        "Title: Sharp Convergence Rates for Clipped SGD\nunder Heavy-Tailed Noise\n")
    second = parse_arxiv(text.encode(), "new.txt", "arXiv", Collect()).papers[1]
    assert (second.title, second.authors) == ("Sharp Convergence Rates for Clipped SGD under Heavy-Tailed Noise",
                                              ("Ann Lee",))
    assert second.abstract.startswith("We prove sharp")


def test_a_listing_copy_whose_paper_lines_read_as_none_is_an_error_not_an_empty_day():
    """A text browser's dump ('[1]arXiv:2406.03001 [[2]pdf, [3]other]'): the
    sign of a listing is there but no paper line reads; it was no papers and
    no word, a quiet day."""
    text = "Machine Learning\n   [1]arXiv:2406.03001 [[2]pdf, [3]other]\n          Title: Faster Diffusion\n"
    with pytest.raises(InputError) as info:
        parse_arxiv(text.encode(), "dump.txt", "arXiv", Collect())
    assert str(info.value).startswith("dump.txt:2: source 'arXiv': an arXiv listing copied as text, but no paper's "
                                      "first line reads as one")


def test_a_listing_copy_of_its_papers_alone_is_read_by_a_feed_source():
    """Selected from the first paper down ('[1] arXiv:...' its first line):
    the feed reader took the '[' for JSON ('invalid JSON')."""
    text = COPIED_NEW.read_text(encoding="utf-8")
    part = text[text.index("[1] arXiv:"):]
    papers = parse_feed(part.encode(), "part.txt", "arXiv", Collect())
    assert [p.arxiv_id for p in papers][:2] == ["2406.03001", "2406.03002"] and len(papers) == 6
    with pytest.raises(InputError) as info:  # and hf-daily names the source that reads it
        parse_hf_daily(part.encode(), "part.txt", "hf", Collect())
    assert str(info.value) == ("part.txt:1: source 'hf': an arXiv page copied as text, not the JSON list of daily "
                               "papers (`type: arxiv` with `path:` reads it)")


def test_one_paper_from_five_kinds_of_source_is_one_paper(tmp_path, cli):
    """Hugging Face's export (by its title), its daily papers JSON, the arXiv
    abstract page, a Semantic Scholar search and a copied /new listing all
    carry 2406.03001: one paper, one card, every source named."""
    (tmp_path / "ex").mkdir()
    (tmp_path / "ex" / "hf.txt").write_text(
        "Get trending papers in your email inbox!\n\nSubscribe\n\nDaily Papers\n\nbyAK and the research community\n\n"
        "Jun 6\n\nFaster Diffusion Sampling with Learned Step Sizes for ε-Prediction\n\nWe learn the step sizes of a "
        "diffusion model sampler from data, reducing the number of function evaluations by a factor of four.\n",
        encoding="utf-8")
    title = r"Faster Diffusion Sampling with Learned Step Sizes for $\epsilon$-Prediction"
    entry = {"id": "2406.03001", "title": title, "summary": "We learn the step sizes of a diffusion model sampler.",
             "authors": [{"name": "Jane Doe"}], "publishedAt": "2024-06-04T17:59:59.000Z", "upvotes": 12}
    (tmp_path / "hf.json").write_text(json.dumps([{"paper": entry, "title": title}]), encoding="utf-8")
    (tmp_path / "abs.html").write_bytes(ABS_PAGE.read_bytes())
    (tmp_path / "s2.json").write_bytes((DATA / "semantic-scholar-search.json").read_bytes())
    (tmp_path / "new.txt").write_bytes(COPIED_NEW.read_bytes())
    write_config(tmp_path, """
        sources:
          - {type: hf-papers-text, path: ex/, name: export}
          - {type: hf-daily, path: hf.json, name: daily}
          - {type: arxiv, path: abs.html, name: page}
          - {type: feed, path: s2.json, name: s2, required: false}
          - {type: arxiv, path: new.txt, name: listing, announce_type: [new]}
        topics: {t: {any: [diffusion sampl*]}}
        subscribers: [{email: ada@example.org, topics: [t]}]
        """)
    r = cli("papers", "--json")
    assert r.code == 0, r.err
    (paper,) = [p for p in json.loads(r.out) if "Faster Diffusion" in p["title"]]
    assert paper["id"] == "2406.03001" and paper["source"] == "export, daily, page, s2, listing"
    assert paper["title"].endswith("for ε-Prediction") and paper["upvotes"] == 12
    r = cli("match", "--json")
    (sub,) = json.loads(r.out)["subscribers"]
    assert [p["id"] for p in sub["papers"]] == ["2406.03001"]


@pytest.mark.parametrize("copy, line", [
    ("arxiv-list-new-copied.txt", "Jane Doe, Ana Müller, John Smith"),
    ("arxiv-list-old-copied.txt", "Authors: Jane Doe, Ana Müller, John Smith"),
    ("arxiv-abs-copied.txt", "Authors:Jane Doe, Ana Müller, John Smith"),
])
def test_a_copied_pages_author_with_a_suffix_after_a_comma_is_one_author(copy, line):
    """'John Smith, Jr.' on a copied listing's or abstract page's authors line
    was two authors, one named 'Jr.' (the unlabelled line, ending in '.', was
    no list of names at all: the front of the abstract), where arXiv's feed
    read the same names as one."""
    text = (DATA / copy).read_text(encoding="utf-8").replace(line, line + ", Jr., Bo Chen III", 1)
    papers = parse_arxiv(text.encode(), copy, "arXiv", Collect()).papers
    assert papers[0].authors == ("Jane Doe", "Ana Müller", "John Smith Jr.", "Bo Chen III")
    assert papers[0].abstract.startswith("We learn the step sizes")


FULL_TEXT = DATA / "arxiv-html.html"
AR5IV = DATA / "ar5iv.html"


def _index_of(page: str, text: str) -> int:
    """The line (from 1) of ``page`` that holds ``text``."""
    return next(i for i, ln in enumerate(page.split("\n"), 1) if text in ln)


@pytest.mark.parametrize("saved", ["html", "mhtml"])
def test_a_papers_full_text_page_saved_from_arxiv_is_its_paper(saved):
    """arxiv.org/html/ID saved by a browser was 'an HTML page, not an RSS or
    Atom feed (an error page or a login wall?)'; its watermark gives the id,
    version and primary category (its day is v2's, not the paper's: see the
    next test), LaTeXML's article the
    title and abstract (math as its TeX), each name's line the authors (not
    the affiliation and address under it, nor the footnote marks), and no
    reference of the paper is taken for it."""
    page = FULL_TEXT.read_bytes()
    data = page if saved == "html" else _mhtml(page, "https://arxiv.org/html/2406.03001v2")
    warnings = Collect()
    (paper,) = parse_arxiv(data, "html.html", "arXiv", warnings).papers
    assert (paper.arxiv_id, paper.version) == ("2406.03001", 2)
    assert paper.title == r"Faster Diffusion Sampling with Learned Step Sizes for $\epsilon$-Prediction"
    assert paper.authors == ("Jane Doe", "Ana Müller", "John Smith Jr.")
    assert paper.abstract == ("We learn the step sizes of a diffusion model sampler from data, reducing the number of "
                              "function evaluations by a factor of four at equal sample quality on CIFAR-10 & ImageNet "
                              r"$64\times 64$, where $T<10$ steps suffice.")
    assert paper.categories == ("cs.LG",) and paper.published is None
    assert (paper.url, paper.pdf_url) == ("https://arxiv.org/abs/2406.03001", "https://arxiv.org/pdf/2406.03001v2")
    assert paper.location == f"html.html:{_index_of(page.decode(), 'ltx_title_document')}" and warnings == []
    assert parse_feed(data, "html.html", "arXiv", Collect()) == [paper]


def test_a_full_text_pages_day_is_the_papers_only_on_its_first_version():
    """The watermark dates the version shown ('arXiv:2406.03001v2 [cs.LG] 07
    Jun 2024'); a paper's day everywhere else is its first submission's (the
    API's published, an abstract page's 'Submitted on'), which v2's page does
    not say.  Read as the paper's day, it was 7 June, and it beat the API's 4
    June when both gave the paper (the newer version's fields win the merge)."""
    page = FULL_TEXT.read_bytes()
    first = page.replace(b"2406.03001v2 [cs.LG] 07 Jun 2024", b"2406.03001v1 [cs.LG] 04 Jun 2024")
    (v1,) = parse_arxiv(first, "html.html", "arXiv", Collect()).papers
    assert (v1.version, v1.published) == (1, datetime(2024, 6, 4, tzinfo=UTC))
    (v2,) = parse_arxiv(page, "html.html", "arXiv", Collect()).papers
    api = Paper(title=v2.title, abstract=v2.abstract, source="api", arxiv_id="2406.03001v1",
                published=datetime(2024, 6, 4, 15, 40, tzinfo=UTC))
    merged = api.merge(v2)
    assert (merged.version, merged.published) == (2, datetime(2024, 6, 4, 15, 40, tzinfo=UTC))


def test_a_link_to_the_abstract_page_names_the_paper_on_a_listing_and_a_full_text_page_alike():
    """One pattern reads the abstract page's link on every page: relative
    (``/abs/ID``, as arXiv links), protocol-relative or on arXiv's hosts.  A
    full-text page whose only id is a relative "Back to abstract" link was
    'no arXiv id'; another site's ``/abs/`` page names no paper of arXiv's."""
    page = AR5IV.read_text(encoding="utf-8")
    for attr in ('<title>[2006.11239] ', 'content="https://ar5iv.org/html/2006.11239"'):
        page = page.replace(attr, attr.replace("[2006.11239] ", "").replace("https://ar5iv.org/html/2006.11239", ""))
    assert 'href="https://arxiv.org/abs/2006.11239"' in page
    for link, ident in (("/abs/2006.11239v2", "2006.11239"), ("//export.arxiv.org/abs/2006.11239", "2006.11239")):
        (paper,) = parse_feed(page.replace("https://arxiv.org/abs/2006.11239", link).encode(), "ar5iv.html", "r",
                              Collect())
        assert paper.arxiv_id == ident
    elsewhere = page.replace("https://arxiv.org/abs/2006.11239", "https://example.org/abs/2006.11239")
    with pytest.raises(InputError, match="has no arXiv id; the page is cut off or its conversion failed"):
        parse_feed(elsewhere.encode(), "ar5iv.html", "r", Collect())


def test_a_full_text_page_saved_without_its_sites_frame_takes_its_id_from_its_address():
    """'Web Page, HTML only' keeps the page as served, before its script adds
    the header and the watermark: the <base href="/html/ID/"> names the paper."""
    page = FULL_TEXT.read_text(encoding="utf-8")
    bare = page[:page.index("<div class=\"ds-announcement\"")] + page[page.index("<div class=\"ltx_page_content\">"):]
    (paper,) = parse_arxiv(bare.encode(), "html.html", "arXiv", Collect()).papers
    assert (paper.arxiv_id, paper.version, paper.published, paper.categories) == ("2406.03001", 2, None, ())


def test_an_ar5iv_page_is_its_paper_and_its_references_are_not():
    """ar5iv.labs.arxiv.org/html/ID: its title's '[ID]' names the paper (the
    bibliography's arXiv links are other papers')."""
    page = AR5IV.read_bytes()
    (paper,) = parse_feed(page, "ar5iv.html", "reading", Collect())
    assert (paper.arxiv_id, paper.title) == ("2006.11239", "Denoising Diffusion Probabilistic Models")
    assert paper.authors == ("Jonathan Ho", "Ajay Jain", "Pieter Abbeel")
    assert paper.abstract.startswith("We present high quality image synthesis results") and paper.abstract.endswith(
        "Our implementation is available at https://github.com/hojonathanho/diffusion.")
    # without its title's id, its address; without that, the footer's "View original on arXiv"
    without_title = page.replace(b"<title>[2006.11239] ", b"<title>")
    assert parse_feed(without_title, "ar5iv.html", "reading", Collect())[0].arxiv_id == "2006.11239"
    footer_only = without_title.replace(b'content="https://ar5iv.org/html/2006.11239"', b'content=""')
    assert parse_feed(footer_only, "ar5iv.html", "reading", Collect())[0].arxiv_id == "2006.11239"


@pytest.mark.parametrize("cut, said", [
    ('<div class="ltx_abstract">', "no abstract"),
    ('<article class="ltx_document', "no title and no abstract"),
])
def test_a_full_text_page_cut_off_or_unconverted_is_an_error_at_its_line(tmp_path, cli, cut, said):
    """A page cut off before its abstract, or a failed conversion's page
    (LaTeXML's article with no title), is no paper: exit 2, one line."""
    page = AR5IV.read_text(encoding="utf-8")
    cut_page = page[:page.index(cut)] + ("<article class=\"ltx_document\"><p>Conversion failed.</p></article>"
                                         if cut.startswith("<article") else "")
    (tmp_path / "ar5iv.html").write_text(cut_page, encoding="utf-8")
    write_config(tmp_path, """
        sources: [{type: feed, path: ar5iv.html}]
        topics: {t: {any: [diffusion]}}
        subscribers: [{email: ada@example.org, topics: [t]}]
        """)
    r = cli("papers")
    line = _index_of(cut_page, "ltx_title_document") if "title" not in said.split(" and ")[0] else 1
    assert r.code == 2 and r.err.strip() == (
        f"ar5iv.html:{line}: source 'feed': the arXiv full-text page (arxiv.org/html/ID) has {said}; the page is cut "
        "off or its conversion failed: save the paper's abstract page (arxiv.org/abs/ID) instead"), r.err


def test_a_full_text_page_given_to_an_export_source_names_the_source_that_reads_it(tmp_path):
    with pytest.raises(InputError) as info:
        parse_hf_papers_text(FULL_TEXT.read_bytes(), "html.html")
    assert "an arXiv full-text page (arxiv.org/html/ID) saved from the browser (`type: arxiv` with `path:` reads it)" \
        in str(info.value)


@pytest.mark.parametrize("dump", ["arxiv-abs-lynx.txt", "arxiv-abs-w3m.txt"])
@pytest.mark.parametrize("parse", [
    lambda data, w: parse_arxiv(data, "abs.txt", "arXiv", w).papers,
    lambda data, w: parse_feed(data, "abs.txt", "arXiv", w),
    lambda data, w: parse_hf_papers_text(data, "abs.txt", "arXiv", w),
], ids=["arxiv", "feed", "hf-papers-text"])
def test_an_abstract_page_dumped_by_a_text_browser_is_its_paper_whole(parse, dump):
    """`lynx -dump` / `w3m -dump` of arxiv.org/abs/ID wrap every line at 80
    columns and lynx numbers each link ('[8]Jane Doe', '(or [23]arXiv:...v2
    ... for this version)') and lists them at the end: the title was read
    without its wrapped end ('... for'), the authors as '[8]Jane Doe' and
    without those on the next line, the subjects without theirs, and the
    version not at all."""
    warnings = Collect()
    (paper,) = parse((DATA / dump).read_bytes(), warnings)
    assert (paper.arxiv_id, paper.version) == ("2406.03001", 2)
    assert paper.title == r"Faster Diffusion Sampling with Learned Step Sizes for $\epsilon$-Prediction"
    assert paper.authors == ("Jane Doe", "Ana Müller", "John Smith", "Kenji Tanaka", "Zoë O'Brien", "Maria Garcia")
    assert paper.abstract == ("We learn the step sizes of a diffusion model sampler from data, reducing the number of "
                              "function evaluations by a factor of four at equal sample quality on CIFAR-10 & ImageNet "
                              r"$64\times64$, where $T < 10$ steps suffice.")
    assert paper.categories == ("cs.LG", "cs.AI", "cs.CV") and paper.published == datetime(2024, 6, 4, tzinfo=UTC)
    assert paper.comment == "12 pages, 4 figures; code at this https URL" and paper.location == "abs.txt:29"
    assert warnings == []


@pytest.mark.parametrize("width", [None, 64, 72])
@pytest.mark.parametrize("copy", ["arxiv-list-new-copied.txt", "arxiv-list-old-copied.txt",
                                  "arxiv-list-recent-copied.txt"])
def test_a_listing_dumped_by_a_text_browser_gives_the_papers_its_copy_gives(copy, width):
    """`w3m -dump arxiv.org/list/cs.LG/new` (tests/data/arxiv-list-new-w3m.txt,
    79 columns) and dumps at other widths wrap each entry's first line,
    title, comments and subjects: read line by line, the subjects' end began
    the abstract, the comment's end ('https://github.com/...') became the
    authors and an entry whose '[pdf, html,' wrapped was no paper."""
    import textwrap

    text = (DATA / copy).read_text(encoding="utf-8")
    if width is None and copy == "arxiv-list-new-copied.txt":
        dumped = (DATA / "arxiv-list-new-w3m.txt").read_text(encoding="utf-8")
    else:
        dumped = "\n".join("\n".join(textwrap.wrap(line, width or 79, break_on_hyphens=False, break_long_words=False))
                           for line in text.split("\n"))
    assert max(len(line) for line in dumped.split("\n")) <= (width or 79)
    copied = parse_arxiv(text.encode(), copy, "arXiv", Collect()).papers
    read = parse_arxiv(dumped.encode(), copy, "arXiv", Collect()).papers
    fields = ("arxiv_id", "title", "authors", "abstract", "categories", "comment", "published")
    assert [[getattr(p, f) for f in fields] for p in read] == [[getattr(p, f) for f in fields] for p in copied]


def test_a_dump_with_one_url_longer_than_its_width_still_unwraps_its_entries():
    """lynx and w3m never break a word: one URL of 101 characters on a line of
    its own made that line the dump's width, and every wrapped title, author
    line and comment was read as the browser's copy (paper 1's title end as
    its authors)."""
    url = "https://github.com/example/" + "fastdiff-" * 8 + "x" * 2
    url += "y" * (101 - len(url))
    dumped = (DATA / "arxiv-list-new-w3m.txt").read_text(encoding="utf-8").replace(
        "Comments: 12 pages, 4 figures; code at https://github.com/example/fastdiff\n",
        f"Comments: 12 pages, 4 figures; code at\n{url}\n")
    assert len(url) == 101 and url in dumped
    first = parse_arxiv(dumped.encode(), "new.txt", "arXiv", Collect()).papers[0]
    assert first.title == r"Faster Diffusion Sampling with Learned Step Sizes for $\epsilon$-Prediction"
    assert first.authors == ("Jane Doe", "Ana Müller", "John Smith")
    assert first.comment == f"12 pages, 4 figures; code at {url}"


def test_the_end_of_a_wrapped_title_is_found_without_copying_the_rest_of_the_listing():
    """Each wrapped title looked at the lines after it through a copy of
    them all: a listing of n wrapped titles copied about n² lines.  The
    lines are walked instead (a slice of them here is an error)."""
    from newsletter.listings import _title_goes_on

    class Unsliced(list):
        def __getitem__(self, key):
            if isinstance(key, slice):
                raise AssertionError(f"the lines copied: {key}")
            return super().__getitem__(key)

    lines = Unsliced(["Title: Faster Diffusion Sampling with Learned Step Sizes for", "$\\epsilon$-Prediction",
                      "Jane Doe, Ana Müller", "", "Comments: 12 pages"])
    assert _title_goes_on(lines, 1) is True and _title_goes_on(lines, 2) is False


# --------------------------------------------------------------------------- arXiv's daily e-mail

MAIL = DATA / "arxiv-mail.eml"


@pytest.mark.parametrize("parse", [
    parse_feed, lambda *a: parse_arxiv(*a).papers, parse_hf_papers_text,
])
def test_arxivs_daily_email_saved_as_a_message_gives_its_papers(parse):
    """The message a subscriber of cs@arxiv.org gets each day, saved from the
    mail client (headers, quoted-printable body): it was 'not an RSS or Atom
    feed: the answer is text, 'Return-Path: ...'' (and, among Hugging Face
    exports, 'a Hugging Face paper's page without its title').  Each entry's
    id, wrapped title and authors, categories, comments, the day it was
    submitted and its abstract, at its line in the file; a replacement,
    which the e-mail lists without its abstract, by its title, said once."""
    warnings = Collect()
    data = MAIL.read_bytes()
    new, cross, replaced = parse(data, "cs.eml", "mail", warnings)
    assert (new.arxiv_id, new.authors, new.categories, new.comment, new.published) == (
        "2406.03001", ("Jane Doe", "Ana Müller", "John Smith"), ("cs.LG", "stat.ML"), "12 pages, 6 figures",
        datetime(2024, 6, 3, 18, 2, 11, tzinfo=UTC))
    assert new.title.endswith("Step Sizes for $\\epsilon$-Prediction") or new.title.endswith("for ε-Prediction")
    assert new.abstract.startswith("We learn the step sizes of a diffusion model sampler from data, reducing the num")
    assert new.abstract.endswith("CIFAR-10 & ImageNet, where $T<10$ steps suffice.")
    assert cross.title == "Graph Transformers for Molecular Property Prediction and Generation at Scale"
    assert cross.authors[-2:] == ("Léa Dubois", "Tomás García-López")
    assert (replaced.arxiv_id, replaced.abstract, replaced.published) == ("2305.01234", "", None)
    lines = data.decode().split("\n")
    assert [p.location for p in (new, cross, replaced)] == [
        f"cs.eml:{lines.index(f'arXiv:{i}') + 1}" for i in ("2406.03001", "2406.03002 (*cross-listing*)", "2305.01234")]
    (warning,) = warnings
    assert warning.startswith(f"{replaced.location}: source 'mail': the 1 replaced paper of arXiv's e-mail listing "
                              "has no abstract")


def _long_mail_listing(entries: int) -> str:
    """An arXiv e-mail listing of many entries of unlike lengths (a comment or
    not, abstracts of one to four lines, a long title quoted-printable wraps)."""
    rule = "-" * 78 + "\n"
    out = [rule, " Submissions to:\nMachine Learning\n", rule]
    for i in range(entries):
        out += ["\\\\\n", f"arXiv:2406.{i:05d}\n", "Date: Mon, 3 Jun 2024 18:02:11 GMT   (812kb)\n\n",
                f"Title: Paper {i} on Müller's diffusion {'sampling ' * (i % 15)}\n", "Authors: Jane Doe\n",
                "Categories: cs.LG\n", "Comments: 9 pages\n" * (i % 2), "\\\\\n",
                f"  Abstract {i}.\n", "More of it.\n" * (i % 4), f"\\\\ ( https://arxiv.org/abs/2406.{i:05d} ,  812kb)\n", rule]
    return "".join(out)


def test_a_long_arxiv_email_listing_locates_each_entry_at_its_line():
    """Each entry's line was counted from the file's start (8,000 entries:
    7.2 s); counted on from the entry before, every entry is still at its own
    "arXiv:ID" line: in the text, and in a saved quoted-printable message
    whose lines are not the text's."""
    from newsletter.listings import parse_arxiv_mail

    text = _long_mail_listing(400)
    where = [n for n, line in enumerate(text.split("\n"), 1) if line.startswith("arXiv:")]
    papers = parse_arxiv_mail(text, "cs.txt", "mail", Collect())  # (no raw file: the text's own lines)
    assert [p.location for p in papers] == [f"cs.txt:{n}" for n in where] and len(where) == 400
    assert [p.location for p in parse_feed(text.encode(), "cs.txt", "mail", Collect())] == [
        f"cs.txt:{n}" for n in where]
    message = (b"From: no-reply@arxiv.org\nSubject: cs daily\nMIME-Version: 1.0\n"
               b"Content-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: quoted-printable\n\n"
               + quopri.encodestring(text.encode()))
    raw_where = [n for n, line in enumerate(message.split(b"\n"), 1) if line.startswith(b"arXiv:")]
    assert raw_where != [n + 6 for n in where]  # (wrapped lines: the message's lines are not the text's)
    assert [p.location for p in parse_feed(message, "cs.eml", "mail", Collect())] == [
        f"cs.eml:{n}" for n in raw_where]


def test_arxivs_daily_email_sections_are_its_announcement_types_and_a_cut_one_is_an_error(tmp_path, cli):
    (tmp_path / "cs.eml").write_bytes(MAIL.read_bytes())
    write_config(tmp_path, """
        sources: [{type: arxiv, path: cs.eml, announce_type: [new]}]
        topics: {t: {any: [diffusion]}}
        subscribers: [{email: ada@example.org, topics: [t]}]
        """)
    r = cli("papers", "--json")
    assert r.code == 0 and [p["id"] for p in json.loads(r.out)] == ["2406.03001"], r.err
    text = MAIL.read_text(encoding="utf-8")
    (tmp_path / "cs.eml").write_text(text[:text.index("\\\\ ( https://arxiv.org/abs/2406.03002")], encoding="utf-8")
    r = cli("papers")
    line = text.split("\n").index("arXiv:2406.03002 (*cross-listing*)") + 1
    assert r.code == 2 and r.err.strip() == (
        f"cs.eml:{line}: source 'arxiv': this entry of arXiv's e-mail listing has no closing line '\\\\ ( "
        "https://arxiv.org/abs/2406.03002 , ...)': the message is cut off"), r.err
