"""Inputs no earlier test had seen, each read right or refused loudly: one
located line, exit 2 for bad input (1 for failed deliveries), no traceback,
nothing lost or sent twice.  Sources are served by a real HTTP server on
127.0.0.1 (tests/recorded_http.py); no test here measures time."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from conftest import DATA, ROOT, write_config
from recorded_http import Reply
from smtp_server import smtp_server  # noqa: F401  (aiosmtpd on 127.0.0.1)

from newsletter.feeds import parse_feed


class Collect(list):
    def __call__(self, message: str) -> None:
        self.append(message)


def _feed_source(base: str, path: str = "/feed.xml") -> str:
    return f"""
sources:
  - type: feed
    name: blog
    url: {base}{path}
http:
  fresh_for: 0
  retries: 0
topics:
  ml:
    any: ["flow matching", "notes", "diffusion"]
subscribers:
  - email: ada@example.org
    topics: [ml]
"""


_OPEN_COMMENTS = r'''
from newsletter.feeds import parse_feed

n = 50_000
rss = (b'<rss version="2.0"><channel><title>t</title><item><title>Comments</title><link>https://x.org/a</link>'
       b'<description>%s</description></item></channel></rss>')
for body in (b'<![CDATA[Notes. ' + b'<!--' * n + b']]>', b'Notes. ' + b'&lt;!--' * n,
             b'Notes. ' + b'&lt;!-- a --' * n):
    (paper,) = parse_feed(rss % body, "blog.xml", "blog", print)
    print(paper.title, paper.abstract)
atom = (b'<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><entry><title>Comments</title><id>x</id>'
        b'<link href="https://x.org/a"/><summary type="html">Notes. ' + b'&lt;!--' * n + b'</summary></entry></feed>')
(paper,) = parse_feed(atom, "blog.xml", "blog", print)
print(paper.title, paper.abstract)
'''


def test_a_summary_of_fifty_thousand_unclosed_comments_is_read_in_one_pass():
    """feedparser's HTML sanitizer, meeting a ``<!--`` without ``-->``,
    searched ``--[^>]*>`` from every later ``--`` to the end of the text: a
    summary of 50,000 ``<!--`` took 6 s on an idle machine and 24 s on a loaded
    one, each more making it longer by the square.  The search is now one
    pass; what the summary keeps is as before (an unclosed comment is dropped
    to the end).  Read in a subprocess whose generous bound, 240 s, is a guard
    against a hang (each takes well under a second), not a measurement."""
    r = subprocess.run([sys.executable, "-c", _OPEN_COMMENTS], cwd=ROOT, capture_output=True, text=True,
                       timeout=240)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["Comments Notes."] * 4


def test_a_closed_comment_in_a_summary_is_dropped_as_before():
    """What the one-pass search finds is what feedparser's search found: a
    comment closed by ``-- >`` or by ``--x>`` ends there, and the text after
    it is kept."""
    for comment in (b"&lt;!-- a -- &gt;", b"&lt;!-- a --x&gt;", b"&lt;!----&gt;"):
        feed = (b'<rss version="2.0"><channel><title>t</title><item><title>T</title><link>https://x.org/a</link>'
                b'<description>Before ' + comment + b' after.</description></item></channel></rss>')
        (paper,) = parse_feed(feed, "blog.xml", "blog", Collect())
        assert paper.abstract == "Before after.", comment


def test_a_feed_keeps_arxivs_author_comment(http_server, tmp_path, cli):
    """arXiv's RSS and Atom carry the author's comment (``<arxiv:comment>``:
    "Accepted at NeurIPS 2024; 12 pages"); `type: arxiv` kept it, `type:
    feed` (the same feed given as a plain feed, or a mirror of it) dropped it."""
    feed = (DATA / "arxiv-rss2.xml").read_bytes().replace(
        b"<arxiv:announce_type>new</arxiv:announce_type>",
        b"<arxiv:announce_type>new</arxiv:announce_type>\n      <arxiv:comment>Accepted at NeurIPS 2024;\n"
        b"      12 pages</arxiv:comment>", 1)
    http_server.route("/feed.xml", Reply(200, feed, {"Content-Type": "application/rss+xml"}))
    write_config(tmp_path, _feed_source(http_server.url()))
    r = cli("papers", "--json")
    assert r.code == 0, r.err
    papers = {p["id"]: p for p in json.loads(r.out)}
    assert papers["2406.05501"]["comment"] == "Accepted at NeurIPS 2024; 12 pages"
    assert all(p["comment"] is None for k, p in papers.items() if k != "2406.05501")


_QUOTING_POST = b'''<?xml version="1.0"?>
<rss version="2.0"><channel><title>t</title>
<item><title>Writing feeds</title><link>https://x.org/a</link><description><![CDATA[<p>A feed ends so:</p>
</rss>
<?xml version="1.0"?>
<p>and the next starts.</p>]]></description></item>
<!-- an old copy:
</rss>
<?xml version="1.0"?>
-->
<item><title>Joined pages</title><link>https://x.org/b</link><description>Two notes.</description></item>
</channel></rss>
'''


def test_a_post_quoting_a_feeds_end_and_the_next_ones_start_is_one_feed(http_server, tmp_path, cli):
    """A file is split into documents where a root closes and an XML
    declaration starts the next line (pages joined by ``cat``); a post whose
    CDATA (or a comment) quoted ``</rss>`` then ``<?xml`` was split there:
    'unclosed CDATA section' at line 5, and the feed's every post lost.  Both
    posts are read, and joined pages are still read as pages."""
    http_server.route("/feed.xml", Reply(200, _QUOTING_POST, {"Content-Type": "application/rss+xml"}))
    write_config(tmp_path, _feed_source(http_server.url()))
    r = cli("papers", "--json")
    assert r.code == 0, r.err
    assert [(p["title"], p["abstract"]) for p in json.loads(r.out)] == [
        ("Writing feeds", "A feed ends so: and the next starts."), ("Joined pages", "Two notes.")]
    page = _QUOTING_POST.replace(b"<item><title>Joined pages</title><link>https://x.org/b</link>",
                                 b"<item><title>Paged</title><link>https://x.org/c</link>")
    joined = parse_feed(_QUOTING_POST + page, "all.xml", "blog", Collect())
    assert [p.title for p in joined] == ["Writing feeds", "Joined pages", "Writing feeds", "Paged"]


_DEEP_JOINS = r"""% a JabRef export: macros joined from macros, titles braced four deep
@string{pre   = "arXiv"}
@string{id    = pre # {:} # "2406.0"}
@string{alias = id}

@inproceedings{deep,
  author   = {Doe, Jane},
  title    = {Deep {Nested {Braces {\"O}f {Four}}}} # " Levels",
  note     = id # "3001",
  year     = 2024,
  abstract = {Sampling {with {braces {four {deep}}}}} # " in " # "a join.",
}

@misc{alias,
  title    = "A quoted {part with {a {"} quote}}" # { and more},
  note     = alias # {3002},
  abstract = {An abstract.},
}
"""


def test_bibtex_joins_of_braces_four_deep_and_of_joined_macros_are_read(tmp_path, cli):
    """A ``#`` join whose braced part held braces four deep was no join to the
    pattern that read it (it knew three), and the title was kept as written,
    ``# " Levels"`` and all; an ``@string`` joined from other macros, or
    naming one, was its text as written (``pre # {:} # "2406.0"``), so the
    arXiv id a note joined from it was lost."""
    (tmp_path / "refs.bib").write_text(_DEEP_JOINS, encoding="utf-8")
    write_config(tmp_path, _feed_source("", "").replace("url: ", "path: refs.bib"))
    r = cli("papers", "--json")
    assert r.code == 0, r.err
    papers = {p["id"]: p for p in json.loads(r.out)}
    assert set(papers) == {"2406.03001", "2406.03002"}
    deep, alias = papers["2406.03001"], papers["2406.03002"]
    assert (deep["title"], deep["abstract"]) == ("Deep Nested Braces Öf Four Levels",
                                                 "Sampling with braces four deep in a join.")
    assert alias["title"] == 'A quoted part with a " quote and more'


def test_an_at_string_joining_a_macro_defined_nowhere_before_it_is_refused_at_its_line(tmp_path, cli):
    """A macro joined from one defined nowhere (or only after it) is an error
    at its line, exit 2, as a field joining one is."""
    (tmp_path / "refs.bib").write_text('@string{a = "x"}\n@string{b = a # later}\n@string{later = "y"}\n'
                                       '@misc{k, title = {T}, note = b, abstract = {A.}}\n', encoding="utf-8")
    write_config(tmp_path, _feed_source("", "").replace("url: ", "path: refs.bib"))
    r = cli("papers", "--json")
    assert r.code == 2 and "Traceback" not in r.err
    assert r.err.splitlines()[0] == ("refs.bib:2: source 'blog': this @string 'b' joins the @string 'later', "
                                     "defined nowhere before it")


def test_a_listing_with_a_paper_under_two_versions_reads_the_newest_and_says_so(http_server, tmp_path, cli):
    """arXiv's cs.LG announcements of two days saved as one feed (or a
    mirror's) list a paper as v2 before its v1: it is one paper, read by
    v2's title and abstract whichever comes first, and the older version
    going is said, once, in one located line; the run still succeeds."""
    from conftest import arxiv_announcement

    feed = arxiv_announcement("2024-06-11", [
        ("2406.05501", 2, "Flow Matching on Lie Groups, Revised", "The revised abstract about flow matching."),
        ("2406.05502", 1, "Flow Straightening", "Another abstract about flow matching."),
        ("2406.05501", 1, "Flow Matching on Lie Groups", "The first abstract about flow matching."),
    ])
    http_server.route("/feed.xml", Reply(200, feed, {"Content-Type": "application/rss+xml"}))
    write_config(tmp_path, _feed_source(http_server.url()))
    r = cli("papers", "--json")
    assert r.code == 0, r.err
    assert [(p["id"], p["title"], p["abstract"]) for p in json.loads(r.out)] == [
        ("2406.05501", "Flow Matching on Lie Groups, Revised", "The revised abstract about flow matching."),
        ("2406.05502", "Flow Straightening", "Another abstract about flow matching.")]
    said = [line for line in r.err.splitlines() if "listed as" in line]
    assert said == [f"warning: {http_server.url('/feed.xml')}: source 'blog': 2406.05501 is listed as v1 and v2: "
                    "the newest, v2, is read"]


@pytest.mark.parametrize("kind", ["arxiv", "feed"])
def test_a_saved_arxiv_api_answer_holding_one_page_of_its_results_says_the_rest_is_not_read(tmp_path, cli, kind):
    """A saved answer of the arXiv API (``path:``) whose
    ``opensearch:totalResults`` is more than it holds (one page of a longer
    search: results 101 to 105 of 120) was read as if whole: its papers are
    read, and the rest not read is said in one located line; a whole answer,
    and a query's pages all joined into the file, say nothing.  `type: feed`
    reads such an answer too, and said nothing where `type: arxiv` did."""
    (tmp_path / "api.xml").write_bytes((DATA / "arxiv-api-page.xml").read_bytes())
    write_config(tmp_path, _feed_source("", "").replace("type: feed", f"type: {kind}").replace("url: ", "path: api.xml"))
    r = cli("papers", "--json")
    assert r.code == 0, r.err
    assert len(json.loads(r.out)) == 5
    assert [line for line in r.err.splitlines() if "saved arXiv API answer" in line] == [
        "warning: api.xml:1: source 'blog': this saved arXiv API answer holds results 101 to 105 of the 120 its "
        "query has: the rest is not read (save the other pages, `&start=`, and join them into the file, or leave "
        "out `path:` to ask arXiv)"]
    api = (DATA / "arxiv-api.xml").read_bytes()
    first = api.replace(b">5</opensearch:totalResults>", b">10</opensearch:totalResults>")
    second = first.replace(b">0</opensearch:startIndex>", b">5</opensearch:startIndex>")
    for whole in (api, first + b"\n" + second):
        (tmp_path / "api.xml").write_bytes(whole)
        r = cli("papers", "--json")
        assert r.code == 0 and len(json.loads(r.out)) == 5, r.err
        assert "saved arXiv API answer" not in r.err and "rest is not read" not in r.err



@pytest.mark.parametrize("kind", ["arxiv", "feed"])
def test_a_saved_arxiv_api_answer_of_a_query_with_no_results_says_so(tmp_path, cli, kind):
    """A saved arXiv API answer of a query that matches nothing at all
    (``opensearch:totalResults`` 0: a misspelt author) read as a quiet day:
    no papers and not a word, where the same answer fetched is said.  It is
    said in one located line; an answer with results says nothing of it."""
    (tmp_path / "api.xml").write_bytes((DATA / "arxiv-api-none.xml").read_bytes())
    write_config(tmp_path, _feed_source("", "").replace("type: feed", f"type: {kind}").replace("url: ", "path: api.xml"))
    r = cli("papers", "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out) == []
    assert [line for line in r.err.splitlines() if "saved arXiv API answer" in line] == [
        "warning: api.xml:1: source 'blog': this saved arXiv API answer holds no results: its query matches no "
        "paper at all (opensearch:totalResults 0), not just nothing new; check the query that saved it (field "
        "prefixes such as ti:, abs:, au:, cat:, and quoting)"]
    (tmp_path / "api.xml").write_bytes((DATA / "arxiv-api.xml").read_bytes())
    r = cli("papers", "--json")
    assert r.code == 0 and len(json.loads(r.out)) == 5, r.err
    assert "no results" not in r.err
    # a query over a date range (submittedDate:[... TO ...]) with none is a quiet day, not a query
    # that "matches no paper at all"
    quiet = (DATA / "arxiv-api-quiet-day.xml").read_bytes()
    assert b"submittedDate" in quiet and b">0</opensearch:totalResults>" in quiet
    for day in (quiet, re.sub(rb"<title[^>]*>.*?</title>", b"", quiet)):  # in its own link alone too
        (tmp_path / "api.xml").write_bytes(day)
        r = cli("papers", "--json")
        assert r.code == 0 and json.loads(r.out) == [], r.err
        assert "no results" not in r.err and "matches no paper" not in r.err, r.err


def test_html_entities_escaped_once_or_twice_in_json_and_csv_exports_are_read_as_their_characters(
        http_server, tmp_path, cli):
    """A JSON or CSV export whose generator escaped its text as HTML, once or
    twice (``R&amp;amp;D``, ``caf&eacute;``), showed the entities as written
    in the email; they are read as their characters, and a ``&`` that starts
    no entity (``AT&T``) stays."""
    records = [{"title": "Diffusion &amp;amp; Score Models at AT&T", "abstract": "When x &amp;lt; y, caf&eacute;.",
                "url": "https://x.org/1", "authors": ["Jane Doe", "R&amp;amp;D Lab"]}]
    http_server.route("/papers.json", Reply(200, json.dumps(records).encode(), {"Content-Type": "application/json"}))
    (tmp_path / "papers.csv").write_bytes(b'title,abstract,url\n"Notes on R&amp;D","A &amp; B diffusion.",'
                                          b'https://x.org/2\n')
    config = _feed_source(http_server.url(), "/papers.json")
    write_config(tmp_path, config.replace("\nhttp:", "\n  - type: feed\n    name: sheet\n    path: papers.csv\nhttp:", 1))
    r = cli("papers", "--json")
    assert r.code == 0, r.err
    got = sorted((p["title"], p["abstract"], p["authors"]) for p in json.loads(r.out))
    assert got == [("Diffusion & Score Models at AT&T", "When x < y, café.", ["Jane Doe", "R&D Lab"]),
                   ("Notes on R&D", "A & B diffusion.", [])]


def test_an_atom_title_escaped_two_or_three_times_reads_as_its_characters_and_its_script_as_escaped_text(
        tmp_path, cli):
    """An Atom title escaped once more than its type says, or twice more
    (``R&amp;amp;amp;D`` as text, ``&amp;amp;lt;b&amp;amp;gt;`` as html), was
    shown as ``R&amp;amp;D`` and ``&lt;b&gt;``: it reads as the JSON and CSV
    exports' titles do, as its characters (so do a summary and an author's
    name, escaped twice more: ``R&amp;amp;amp;D Lab``; once more,
    ``R&amp;amp;D``, is the text ``R&amp;D`` as written, see
    test_a_title_escaped_exactly_once_shows_the_entities_it_writes_as_text);
    a ``<script>`` it reveals stays text, escaped in the HTML part, never a
    tag."""
    entry = ('<entry><id>urn:{n}</id><title{kind}>{title}</title><updated>2024-06-01T00:00:00Z</updated>'
             '<link href="https://x.org/{n}"/><author><name>R&amp;amp;amp;D Lab</name></author>'
             '<summary{kind}>Notes on diffusion when x &amp;amp;lt; y.</summary></entry>')
    titles = [("", "Text R&amp;amp;amp;D &amp;amp;lt;b&amp;amp;gt; diffusion"),
              (' type="html"', "Html R&amp;amp;amp;D &amp;amp;lt;b&amp;amp;gt; diffusion"),
              ("", "Twice R&amp;amp;D &amp;lt;i&amp;gt;E. coli&amp;lt;/i&amp;gt; diffusion"),
              (' type="html"', "Script &amp;amp;lt;script&amp;amp;gt;alert(1)&amp;amp;lt;/script&amp;amp;gt; diffusion")]
    body = ('<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>'
            '<id>urn:x</id><updated>2024-06-01T00:00:00Z</updated>'
            + "".join(entry.format(n=n, kind=kind, title=title) for n, (kind, title) in enumerate(titles)) + "</feed>")
    (tmp_path / "feed.xml").write_text(body, encoding="utf-8")
    write_config(tmp_path, _feed_source("", "").replace("    url: \n", "    path: feed.xml\n"))
    r = cli("papers", "--json")
    assert r.code == 0 and r.err == "", r.err
    assert [p["title"] for p in json.loads(r.out)] == [
        "Text R&D <b> diffusion", "Html R&D <b> diffusion", "Twice R&D E. coli diffusion",
        "Script <script>alert(1)</script> diffusion"]
    # a summary and an author name escaped so too: their characters
    assert {(p["abstract"], tuple(p["authors"])) for p in json.loads(r.out)} == {
        ("Notes on diffusion when x < y.", ("R&D Lab",))}
    r = cli("preview", "--out", str(tmp_path / "out"))
    assert r.code == 0, r.err
    html = (tmp_path / "out" / "ada@example.org.html").read_text(encoding="utf-8")
    assert "Script &lt;script&gt;alert(1)&lt;/script&gt; diffusion" in html and "<script" not in html
    assert "Text R&amp;D &lt;b&gt; diffusion" in html and "&amp;amp;" not in html


def test_an_hf_daily_file_escaped_as_html_by_the_script_that_wrote_it_reads_as_a_json_records_text(tmp_path, cli):
    """A saved Hugging Face daily list (or a script's records read as one)
    whose text was escaped as HTML, once or twice, showed ``R&amp;amp;D`` in
    the email where a JSON export's records read ``R&D``; a record without
    a title is still skipped and named, never a traceback."""
    items = json.loads((DATA / "hf-daily-2024-06-06.json").read_text(encoding="utf-8"))
    paper = items[0].get("paper", items[0])
    paper["title"] = "R&amp;amp;D on diffusion &amp;lt;b&amp;gt;"
    paper["summary"] = "When x &amp;amp;lt; y, caf&amp;eacute;."
    paper["authors"] = [{"name": "R&amp;amp;D Lab"}]
    items.append({"paper": {"id": "2406.99999", "summary": "No title."}})
    (tmp_path / "daily.json").write_text(json.dumps(items), encoding="utf-8")
    write_config(tmp_path, _feed_source("", "").replace("type: feed", "type: hf-daily").replace(
        "    url: \n", "    path: daily.json\n"))
    r = cli("papers", "--json")
    assert r.code == 0 and "Traceback" not in r.err, r.err
    first = json.loads(r.out)[0]
    assert (first["title"], first["abstract"], first["authors"]) == (
        "R&D on diffusion <b>", "When x < y, café.", ["R&D Lab"])
    assert f"item {len(items)} (2406.99999) has no title" in r.err, r.err


def _damaged(name: str) -> bytes:
    """A sample of tests/data damaged as a mutation of it first showed a
    traceback (each byte change is one a cut download or a bad save makes)."""
    if name == "header.csv":  # a quote left open in the header row
        return b'title,abstract,url,"note\nA paper,An abstract.,https://x.org/1,n\n'
    if name == "oai.xml":  # one letter of the declared encoding lost
        return (DATA / "arxiv-oai.xml").read_bytes().replace(b'encoding="UTF-8"', b'encoding="oTF-8"', 1)
    if name == "alert.eml":  # the HTML part's charset damaged
        return (DATA / "scholar-alert-multipart.eml").read_bytes().replace(
            b'text/html; charset="utf-8"', b'text/html; charset="ut\xff-8"', 1)
    if name == "marked.eml":  # "<![e": a marked section html.parser gives up on, after the first paper
        return (DATA / "scholar-alert-multipart.eml").read_bytes().replace(
            b'uality on CIFAR-10 &amp; <br>ImageNet =E2=80=A6</div>', b'uality on CIFAR-10 &amp; <br>ImageNet =E2=80=A6'
            b'</div><![e ', 1)
    if name in ("type.eml", "charset.eml"):  # arXiv's daily mail, its content type or its charset damaged
        damage = b"Content-Type: \xffext/plain; charset=UTF-8" if name == "type.eml" else \
            b"Content-Type: text/plain; charset=UTF-8intable"
        return (DATA / "arxiv-mail.eml").read_bytes().replace(b"Content-Type: text/plain; charset=UTF-8", damage, 1)
    assert name == "search.html"  # a category's span left open
    return (DATA / "arxiv-search.html").read_bytes().replace(
        b'<div class="tags is-inline-block">\n', b'<div class="tags is-inline-block">\n        <span class="tag ck">\n', 1)


@pytest.mark.parametrize(("name", "code", "said"), [
    ("header.csv", 2, "header.csv:1: source 'feed': not a readable CSV row (unexpected end of data: a quote left "
                      "open, or a stray one?)"),
    ("oai.xml", 2, "oai.xml:1: source 'feed': an OAI-PMH answer whose XML declaration names an encoding not known "
                   "('oTF-8'); cut off or damaged?"),
    ("alert.eml", 0, 3),
    ("marked.eml", 0, 3),
    ("type.eml", 0, 3),
    ("charset.eml", 0, 3),
    ("search.html", 0, 2),
])
def test_a_damaged_file_is_one_located_line_or_read_whole_never_a_traceback(tmp_path, cli, name, code, said):
    """Mutating the samples byte by byte found seven tracebacks: a CSV
    header csv refuses (UnboundLocalError), an XML declaration naming an
    encoding no codec has (LookupError), a Scholar alert whose HTML part
    names such a charset (LookupError) or holds a marked section html.parser
    gives up on (AssertionError), arXiv's daily mail whose content type or
    charset is damaged (KeyError, LookupError), and an arXiv search page
    with a span left open (KeyError).  Each is now one located line and exit 2, or read whole
    (``said`` the number of papers): none lost after the damage."""
    (tmp_path / name).write_bytes(_damaged(name))
    write_config(tmp_path, _feed_source("", "").replace("    name: blog\n", "").replace("url: ", f"path: {name}"))
    r = cli("papers", "--json")
    assert r.code == code and "Traceback" not in r.err, r.err
    if isinstance(said, str):
        assert r.err.splitlines()[0] == said
    else:
        assert len(json.loads(r.out)) == said


def test_an_rss_items_guid_that_is_no_link_is_not_made_one(http_server, tmp_path, cli):
    """An item without ``<link>`` whose ``<guid>`` (a permalink by RSS's
    default) is an opaque id, ``12345``, was made a link on the feed's site,
    ``https://blog.example.org/12345``, a page that is not there: the email
    linked to it.  Such an item has no link of its own (its card links to a
    title search); a guid that is a URL or a path from the site's root is
    its link, as is an item's ``<link>`` beside any guid."""
    feed = (b'<rss version="2.0"><channel><title>t</title><link>https://blog.example.org/news/</link>'
            b'<item><title>Opaque notes</title><guid>12345</guid><description>S.</description></item>'
            b'<item><title>Permalink notes</title><guid>https://blog.example.org/p/9</guid>'
            b'<description>S.</description></item>'
            b'<item><title>Rooted notes</title><guid>/p/10</guid><description>S.</description></item>'
            b'<item><title>Linked notes</title><link>https://blog.example.org/p/11</link><guid>77</guid>'
            b'<description>S.</description></item></channel></rss>')
    http_server.route("/feed.xml", Reply(200, feed, {"Content-Type": "application/rss+xml"}))
    write_config(tmp_path, _feed_source(http_server.url()))
    r = cli("papers", "--json")
    assert r.code == 0, r.err
    assert {p["title"]: p["url"] for p in json.loads(r.out)} == {
        "Opaque notes": None, "Permalink notes": "https://blog.example.org/p/9",
        "Rooted notes": f"{http_server.url()}/p/10", "Linked notes": "https://blog.example.org/p/11"}


_SMALL_ATOM = (b'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>'
               b'<id>urn:x</id><entry><id>http://arxiv.org/abs/2406.00001v1</id><title>Schr\xc3\xb6dinger R&amp;amp;D'
               b'</title><author><name>Ada</name></author><summary type="html">x &amp;lt; y</summary>'
               b'<link href="https://x.org/1"/></entry></feed>')


@pytest.mark.parametrize(("kind", "sample"), [("hf-papers-text", "hf-papers-overlap.txt"),
                                              ("feed", "papers-excel.csv"), ("feed", "atom"), ("arxiv", "atom")])
def test_a_small_sample_cut_at_every_byte_is_read_or_refused_in_a_located_line(tmp_path, kind, sample):
    """A download or a copy cut off anywhere (inside a UTF-8 character, a tag,
    an entity, a quoted CSV cell) is read whole or refused as an input error
    at its file: never another exception (a traceback at the command)."""
    from newsletter.config import load_config
    from newsletter.errors import NewsletterError
    from newsletter.readers import read_papers

    whole = _SMALL_ATOM if sample == "atom" else (DATA / sample).read_bytes()
    target = tmp_path / ("in.xml" if sample == "atom" else f"in{(DATA / sample).suffix}")
    target.write_bytes(whole)
    config = load_config(write_config(tmp_path, f"sources:\n  - type: {kind}\n    path: {target.name}\n"
                                                "topics: {t: {any: [x]}}\n"))
    read = refused = 0
    for cut in range(len(whole) + 1):
        target.write_bytes(whole[:cut])
        try:
            read_papers(config, lambda message: None, offline=True)
        except NewsletterError as exc:
            assert all(p.file and str(target) in str(p) for p in exc.problems), (cut, str(exc))
            refused += 1
        else:
            read += 1
    assert read >= 1 and refused >= 1  # the whole sample reads; an empty one is refused


def _one_entry_atom(ident: str, title: str, author: str, summary: str, link: str) -> str:
    """An Atom feed of one entry, its fields as written in the XML (escaped as the test says)."""
    return ('<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>'
            f'<id>urn:x</id><updated>2024-06-01T00:00:00Z</updated><entry><id>{ident}</id><title>{title}</title>'
            f'<updated>2024-06-01T00:00:00Z</updated><author><name>{author}</name></author>'
            f'<summary>{summary}</summary><link href="{link}"/></entry></feed>')


_ONCE_ESCAPED_TITLE = ("Why the entity &amp;amp; breaks HTML sanitisers: escaping &amp;lt;b&amp;gt; model outputs")
_ONCE_ESCAPED_READ = "Why the entity &amp; breaks HTML sanitisers: escaping &lt;b&gt; model outputs"


def test_a_title_escaped_exactly_once_shows_the_entities_it_writes_as_text(http_server, tmp_path, cli):
    """A paper about HTML escaping, its title escaped once as XML asks
    (``&amp;amp;`` is the text ``&amp;``), read "entity & breaks ...
    escaping <b>": an entity's text was read once more than arXiv (which
    escapes exactly once) or the feed wrote.  So did an abstract's
    ``&amp;amp;nbsp;`` (the text ``&amp;nbsp;``, shown as a no-break space)
    and a Hugging Face daily title, plain JSON text, ``&amp;lt; instead of
    &lt;``.  Each now reads as written."""
    atom = _one_entry_atom("http://arxiv.org/abs/2406.00001v1", _ONCE_ESCAPED_TITLE, "Ada &amp;amp; Co",
                           "On diffusion: write &amp;amp;nbsp; not a space.", "http://arxiv.org/abs/2406.00001v1")
    (tmp_path / "arxiv.xml").write_text(atom, encoding="utf-8")
    (tmp_path / "feed.xml").write_text(atom.replace("http://arxiv.org/abs/2406.00001v1", "https://x.org/1").replace(
        "model outputs", "model outputs again"), encoding="utf-8")
    daily = [{"paper": {"id": "2406.00002", "title": "Why LLMs write &amp;lt; instead of &lt; in HTML",
                        "summary": "Diffusion notes on R&amp;D.", "authors": [{"name": "Bo &amp; Al"}]}}]
    http_server.route("/d", Reply(200, json.dumps(daily).encode(), {"Content-Type": "application/json"}))
    write_config(tmp_path, _feed_source("", "").replace("    url: \n", "    path: feed.xml\n").replace(
        "sources:\n", "sources:\n  - type: arxiv\n    name: arx\n    path: arxiv.xml\n"
                      f"  - type: hf-daily\n    name: hf\n    date: 2024-06-06\n    url: {http_server.url('/d')}\n"))
    r = cli("papers", "--json")
    assert r.code == 0 and r.err == "", r.err
    read = {p["source"]: (p["title"], p["abstract"], p["authors"]) for p in json.loads(r.out)}
    assert read == {
        "arx": (_ONCE_ESCAPED_READ, "On diffusion: write &amp;nbsp; not a space.", ["Ada &amp; Co"]),
        # a feed of another kind writing one entity's text: as written too (no sign of escaping twice); an
        # entity's escaped text (&amp;nbsp;) is that sign there, as only arXiv is known to escape exactly once
        "blog": (f"{_ONCE_ESCAPED_READ} again", "On diffusion: write not a space.", ["Ada &amp; Co"]),
        "hf": ("Why LLMs write &amp;lt; instead of &lt; in HTML", "Diffusion notes on R&amp;D.", ["Bo &amp; Al"]),
    }, read


def test_an_ampersand_without_its_semicolon_stays_text_where_entities_are_read(tmp_path, cli):
    """A text holding one entity was read whole by :func:`html.unescape`,
    whose legacy entities need no ``;``: ``?id=1&section=2&amp;v=3`` read
    ``?id=1§ion=2&v=3`` (``&sect``), ``&copy2024`` read ``©2024``.  Only
    complete references ending in ``;`` are read, in a JSON export, a saved
    Hugging Face list and a feed escaped twice alike."""
    link = "https://x.org/q?id=1&section=2&amp;v=3 &copy2024 &notit;"
    records = [{"title": "Diffusion &amp;amp; notes", "abstract": f"See {link}.", "url": "https://x.org/1",
                "authors": ["R&amp;D &para Lab"]}]
    (tmp_path / "papers.json").write_text(json.dumps(records), encoding="utf-8")
    daily = [{"paper": {"id": "2406.00002", "title": "Diffusion daily &amp; notes", "summary": f"See {link}.",
                        "authors": [{"name": "R&amp;D &para Lab"}]}}]
    (tmp_path / "daily.json").write_text(json.dumps(daily), encoding="utf-8")
    escaped = link.replace("&", "&amp;amp;")  # as a generator escaping an escaped text writes it in the XML
    atom = _one_entry_atom("urn:1", "Diffusion feed notes", "R&amp;amp;amp;D &amp;amp;para Lab", f"See {escaped}.",
                           "https://x.org/3")
    (tmp_path / "feed.xml").write_text(atom, encoding="utf-8")
    write_config(tmp_path, _feed_source("", "").replace("    url: \n", "    path: feed.xml\n").replace(
        "sources:\n", "sources:\n  - type: feed\n    name: export\n    path: papers.json\n"
                      "  - type: hf-daily\n    name: hf\n    path: daily.json\n"))
    r = cli("papers", "--json")
    assert r.code == 0 and r.err == "", r.err
    read = {p["source"]: (p["abstract"], p["authors"]) for p in json.loads(r.out)}
    said = "See https://x.org/q?id=1&section=2&v=3 &copy2024 &notit;."
    assert read == {"export": (said, ["R&D &para Lab"]), "hf": (said, ["R&D &para Lab"]),
                    "blog": (said, ["R&D &para Lab"])}, read


def test_a_line_break_read_from_an_entity_is_a_space_in_titles_authors_and_headers(tmp_path, cli, smtp_server):
    """A numeric entity read to a line break (``Line&amp;amp;#10;break`` in a
    feed escaped twice, ``Bob&#10;Evil`` in a saved list) stayed in the title
    and the author: ``newsletter papers`` printed the title on two lines, and
    a subject naming it carried a line break into a header.  White space is
    collapsed after the entities are read: one space."""
    atom = _one_entry_atom("urn:1", "Diffusion Line&amp;amp;#10;Bcc: eve@example.org &amp;amp;amp; more",
                           "Bob&amp;amp;#10;Evil &amp;amp;amp; Co", "Notes.", "https://x.org/3")
    (tmp_path / "feed.xml").write_text(atom, encoding="utf-8")
    daily = [{"paper": {"id": "2406.00002", "title": "Daily diffusion&#10;break", "summary": "Notes&#13;&#10;here.",
                        "authors": [{"name": "Bob&#10;Evil"}]}}]
    (tmp_path / "daily.json").write_text(json.dumps(daily), encoding="utf-8")
    records = [{"title": "Record diffusion&#x0A;break", "abstract": "Notes.", "url": "https://x.org/1",
                "authors": ["Bob&#10;Evil"]}]
    (tmp_path / "papers.json").write_text(json.dumps(records), encoding="utf-8")
    write_config(tmp_path, _feed_source("", "").replace("    url: \n", "    path: feed.xml\n").replace(
        "sources:\n", "sources:\n  - type: feed\n    name: export\n    path: papers.json\n"
                      "  - type: hf-daily\n    name: hf\n    path: daily.json\n") + (
        f'email:\n  from: "Paper Digest <digest@example.org>"\n  subject: "{{{{ all_papers[0].title }}}}"\n'
        f"delivery:\n  transport: smtp\n  host: 127.0.0.1\n  port: {smtp_server.port}\n  security: none\n"
        "  timeout: 5\n  retries: 0\n"))
    r = cli("papers", "--json")
    assert r.code == 0 and r.err == "", r.err
    read = {p["source"]: (p["title"], p["abstract"], p["authors"]) for p in json.loads(r.out)}
    assert read == {"blog": ("Diffusion Line Bcc: eve@example.org & more", "Notes.", ["Bob Evil & Co"]),
                    "hf": ("Daily diffusion break", "Notes here.", ["Bob Evil"]),
                    "export": ("Record diffusion break", "Notes.", ["Bob Evil"])}, read
    r = cli("papers")
    assert r.code == 0, r.err
    assert not [line for line in r.out.splitlines() if line.startswith(("Bcc", "break", "Evil"))], r.out
    r = cli("send", "--now", "2024-06-07T09:00:00+00:00")
    assert r.code == 0, r.err
    (message,) = [m.message for m in smtp_server.mailbox.messages]
    assert message["Bcc"] is None and message["Subject"] in {t for t, _, _ in read.values()}, dict(message.items())
    assert smtp_server.mailbox.recipients() == ["ada@example.org"]


_WIFI_LOGIN = (b"<!DOCTYPE html>\n<html><head><meta charset='utf-8'>\n<title>\n  Hotel Wi-Fi &amp; Lounge: sign in\n"
               b"</title></head><body><form action='/accept'>Accept the terms</form></body></html>")


def test_a_networks_login_page_answered_for_a_feed_names_its_title_and_where_it_led(http_server, tmp_path, cli):
    """A hotel's or a train's Wi-Fi answers every address with its login
    page, after a redirect or as 200 in place: it read "an HTML page, not an
    RSS or Atom feed (an error page or a login wall?)" at the feed's own
    URL, and the user went to look at the feed.  The line names the page's
    title and where the address was redirected (an hf-daily source alike);
    a page with no title and no redirect reads as before, and the next run
    (the network logged in) reads the feed, from no cache."""
    http_server.route("/feed.xml", Reply(302, b"", {"Location": "/login?continue=%2Ffeed.xml"}))
    http_server.route("/login", Reply(200, _WIFI_LOGIN, {"Content-Type": "text/html; charset=utf-8"}))
    write_config(tmp_path, _feed_source(http_server.url()).replace("fresh_for: 0", "fresh_for: 3600"))
    r = cli("papers")
    assert r.code == 2 and r.out == "" and "Traceback" not in r.err, r.err
    assert r.err.splitlines() == [
        f"{http_server.url('/feed.xml')}:1: source 'blog': an HTML page, not an RSS or Atom feed (an error page or a "
        f"login wall?); the page's title: 'Hotel Wi-Fi & Lounge: sign in'; redirected to "
        f"{http_server.url('/login?continue=%2Ffeed.xml')}",
        "every source failed (1 of 1); no papers were read"], r.err
    # the same page served in place (200 at the feed's URL): its title alone
    http_server.route("/feed.xml", Reply(200, _WIFI_LOGIN, {"Content-Type": "text/html"}),
                      Reply(200, b"<html><body>Nothing here</body></html>", {"Content-Type": "text/html"}),
                      Reply(200, (DATA / "feed-rss2.xml").read_bytes(), {"Content-Type": "application/rss+xml"}))
    r = cli("papers")
    assert r.code == 2 and r.err.splitlines()[0].endswith(
        "(an error page or a login wall?); the page's title: 'Hotel Wi-Fi & Lounge: sign in'"), r.err
    r = cli("papers")
    assert r.code == 2 and r.err.splitlines()[0].endswith("not an RSS or Atom feed (an error page or a login wall?)")
    r = cli("papers")  # logged in: the feed, asked afresh (no page was kept as the feed)
    assert r.code == 0 and "Score-Based Diffusion Models" in r.out, r.err
    # hf-daily: the same words after its own
    http_server.route("/api/daily_papers", Reply(302, b"", {"Location": "/login"}))
    write_config(tmp_path, _feed_source(http_server.url()).replace("type: feed", "type: hf-daily").replace(
        "/feed.xml", "/api/daily_papers"))
    r = cli("papers")
    assert r.code == 2 and "Traceback" not in r.err, r.err
    assert r.err.splitlines()[0].endswith(
        "an HTML or XML page, not the JSON list of daily papers (an error page or a login wall?); the page's title: "
        f"'Hotel Wi-Fi & Lounge: sign in'; redirected to {http_server.url('/login')}"), r.err


def test_an_arxiv_mirrors_html_page_is_named_by_its_title_and_as_no_arxiv_answer(http_server, tmp_path, cli):
    """A ``type: arxiv`` source whose endpoint (a mirror, a proxy, a network's
    login) answers with an HTML page read "not an RSS or Atom feed", of a
    source that asked for neither: it now says what it got, the page's title
    (as a feed source says of a login page) and where its refresh sends
    browsers, and what the source wanted, an arXiv API answer or feed, for
    the API's query and for the announcement feed alike."""
    mirror = (b"<!DOCTYPE html>\n<html><head><title>Mirror error: 503 Service Unavailable</title></head>"
              b"<body>Try again later</body></html>")
    portal = (b"<!DOCTYPE html><html><head><meta http-equiv='refresh' content='0; url=http://wifi.example/login'>"
              b"<title>Sign in to Wi-Fi</title></head></html>")
    http_server.route("/api/query", Reply(200, mirror, {"Content-Type": "text/html"}))
    http_server.route("/rss/cs.LG", Reply(200, portal, {"Content-Type": "text/html"}))
    for source, path, said in (
            ("query: 'cat:cs.LG'", "/api/query", "an HTML page, not an arXiv API answer or feed (an error page or a "
             "login wall?); the page's title: 'Mirror error: 503 Service Unavailable'"),
            ("categories: [cs.LG]\n    feed: rss", "/rss/cs.LG", "an HTML page, not an arXiv API answer or feed; the "
             "page sends browsers on to http://wifi.example/login (an error page or a login wall?); the page's title: "
             "'Sign in to Wi-Fi'")):
        write_config(tmp_path, _feed_source(http_server.url(), path).replace(
            "type: feed\n    name: blog", f"type: arxiv\n    name: arxiv\n    {source}"))
        r = cli("papers")
        assert r.code == 2 and r.out == "" and "Traceback" not in r.err, r.err
        first = r.err.splitlines()[0]
        assert first.startswith(http_server.url(path)) and first.endswith(f":1: source 'arxiv': {said}"), r.err
        assert "RSS or Atom" not in r.err, r.err


def test_an_error_status_with_a_page_names_the_pages_title_when_it_says_more(http_server, tmp_path, cli):
    """A mirror's or a proxy's error page served with its status (503, 502)
    read 'HTTP 503 Service Unavailable' alone, for an arXiv source and a feed
    alike: the page's title is named when it says more than the status
    ('Down for maintenance until 14:00 UTC'), not when it only repeats it
    ('503 Service Unavailable'), and never a bot check's ('Just a moment...')."""
    down = (b"<!DOCTYPE html><html><head><title>arXiv mirror: down for maintenance until 14:00 UTC</title></head>"
            b"<body>Back soon</body></html>")
    plain = b"<html><head><title>503 Service Unavailable</title></head><body><h1>503</h1></body></html>"
    http_server.route("/api/query", Reply(503, down, {"Content-Type": "text/html"}),
                      Reply(503, plain, {"Content-Type": "text/html"}))
    http_server.route("/feed.xml", Reply(502, down.replace(b"arXiv mirror", b"Blog"), {"Content-Type": "text/html"}))
    arxiv = _feed_source(http_server.url(), "/api/query").replace(
        "type: feed\n    name: blog", "type: arxiv\n    name: arxiv\n    query: 'cat:cs.LG'")
    for config, said in (
            (arxiv, "source 'arxiv': HTTP 503 Service Unavailable; the page's title: 'arXiv mirror: down for "
                    "maintenance until 14:00 UTC'"),
            (arxiv, "source 'arxiv': HTTP 503 Service Unavailable"),
            (_feed_source(http_server.url()), "source 'blog': HTTP 502 Bad Gateway; the page's title: 'Blog: down for "
                                              "maintenance until 14:00 UTC'")):
        write_config(tmp_path, config)
        r = cli("papers")
        assert r.code == 2 and "Traceback" not in r.err, r.err
        assert r.err.splitlines()[0].endswith(f": {said}"), r.err


def _saved_whole(folder) -> None:
    """A browser's "Web page, complete" save of Hugging Face's papers page: the
    page and a ``_files`` folder of what it shows (a style sheet, a script, a picture)."""
    (folder / "Daily Papers - Hugging Face_files").mkdir(parents=True)
    (folder / "Daily Papers - Hugging Face.html").write_bytes((DATA / "hf-papers-page-2024-06-06.html").read_bytes())
    for name, body in (("style.css", b"body{}"), ("app.js", b"var x = 1;"), ("logo.png", b"\x89PNG\r\n\x1a\n....")):
        (folder / "Daily Papers - Hugging Face_files" / name).write_bytes(body)


def test_a_papers_page_saved_whole_by_a_browser_is_named_and_read_by_the_file_it_is(tmp_path, cli):
    """"Web page, complete" saves the .html and a _files folder beside it.
    `type: hf-papers-text` given the folder says, in one located line, that
    `type: hf-daily` reads the page; `hf-daily` given the same folder said
    only "is a folder, not a file", the page sitting in it: it names the
    file, and given that file it reads the day's papers."""
    _saved_whole(tmp_path / "saved")
    config = "sources:\n  - type: {type}\n    path: {path}\ntopics:\n  t:\n    any: [diffusion]\n"
    write_config(tmp_path, config.format(type="hf-papers-text", path="saved/"))
    r = cli("papers")
    assert r.code == 2 and r.out == "" and "Traceback" not in r.err, r.err
    (line,) = r.err.splitlines()
    assert line.startswith("saved/Daily Papers - Hugging Face.html:1: no Hugging Face papers page header") and (
        "type: hf-daily reads such a page as it is" in line), line
    write_config(tmp_path, config.format(type="hf-daily", path="saved/"))
    r = cli("papers")
    assert r.code == 2 and r.out == "" and r.err.splitlines() == [
        "config.yaml:3: sources[0].path: 'saved/' is a folder, not a file (it holds one file: give its path, "
        "'saved/Daily Papers - Hugging Face.html')"], r.err
    write_config(tmp_path, config.format(type="hf-daily", path="'saved/Daily Papers - Hugging Face.html'"))
    r = cli("papers", "--json")
    assert r.code == 0, r.err
    assert {p["id"] for p in json.loads(r.out)} == {"2406.06000", "2406.03987"}
    # a folder of several files names a few of them
    for name in ("a.json", "b.json", "c.json", "d.json"):
        (tmp_path / "many" / name).parent.mkdir(exist_ok=True)
        (tmp_path / "many" / name).write_bytes(b"[]")
    write_config(tmp_path, config.format(type="hf-daily", path="many"))
    r = cli("papers")
    assert r.code == 2 and r.err.splitlines() == [
        "config.yaml:3: sources[0].path: 'many' is a folder, not a file (it holds 4 files, 'many/a.json', "
        "'many/b.json', 'many/c.json' and 1 more: give the path of the one to read)"], r.err


def test_an_answer_with_no_length_cut_off_mid_document_is_asked_again(http_server, tmp_path, cli):
    """An HTTP/1 answer with neither Content-Length nor chunks ends where the
    server closes the connection: one dropped halfway (a proxy, a restarted
    server) gave half a feed that looked whole, and it failed as 'not a
    well-formed feed (no element found); truncated or not XML?' without
    being asked again, though the next answer was whole.  It is named as
    cut off and asked again, as one cut short of its Content-Length is; a
    whole answer with no length is read at once."""
    feed = (DATA / "feed-rss2.xml").read_bytes()
    daily = (DATA / "hf-daily-2024-06-06.json").read_bytes()
    whole = Reply(200, feed, {"Content-Type": "application/rss+xml"}, length=False)
    cut = Reply(200, feed[: len(feed) // 2], {"Content-Type": "application/rss+xml"}, length=False)
    http_server.route("/feed.xml", cut, whole)
    write_config(tmp_path, _feed_source(http_server.url()).replace("retries: 0", "retries: 1\n  backoff: 0"))
    r = cli("papers", "--json")
    assert r.code == 0 and "Score-Based Diffusion Models for Schrödinger Bridge Problems" in r.out, r.err
    assert len(http_server.requests_to("/feed.xml")) == 2
    assert (f"{http_server.url('/feed.xml')}: the answer was cut off: the server closed the connection before its end "
            f"(received {len(feed) // 2:,} bytes with no length said, ending mid-document); retry 1 of 1") in r.err, r.err
    r = cli("papers")  # whole at once: asked once
    assert r.code == 0 and len(http_server.requests_to("/feed.xml")) == 3 and "cut off" not in r.err, r.err
    # gzipped, with no length: a gzip stream stopped short is cut off too (it was 'does not decompress', not retried)
    import gzip

    packed = gzip.compress(feed)
    gz = {"Content-Type": "application/rss+xml", "Content-Encoding": "gzip"}
    http_server.route("/feed.xml", Reply(200, packed[: len(packed) // 2], gz, length=False),
                      Reply(200, packed, gz, length=False))
    r = cli("papers")
    assert r.code == 0 and "Score-Based Diffusion Models" in r.out, r.err
    assert (f"the server closed the connection before its end (received {len(packed) // 2:,} bytes with no length "
            "said, the compressed data ending before its end); retry 1 of 1") in r.err, r.err
    assert len(http_server.requests_to("/feed.xml")) == 5
    # cut every time: the source fails, saying so (not 'truncated or not XML?')
    http_server.route("/api/daily", Reply(200, daily[:700], {"Content-Type": "application/json"}, length=False))
    write_config(tmp_path, _feed_source(http_server.url()).replace("type: feed", "type: hf-daily").replace(
        "/feed.xml", "/api/daily").replace("retries: 0", "retries: 1\n  backoff: 0"))
    r = cli("papers")
    assert r.code == 2 and r.out == "" and "Traceback" not in r.err, r.err
    assert r.err.splitlines()[-2].endswith(
        "source 'blog': the answer was cut off: the server closed the connection before its end (received 700 bytes "
        "with no length said, ending mid-document) (gave up after 2 attempts)"), r.err
    assert len(http_server.requests_to("/api/daily")) == 2


def _encoded(feed: bytes, how: str) -> tuple[bytes, str]:
    """The sample feed (with a title holding 'Café — “neural”') sent as ``how``: its bytes and Content-Type."""
    text = feed.decode("utf-8").replace("Equivariant neural", "Café — “neural”")
    declared = text.replace('encoding="UTF-8"', 'encoding="{}"')
    return {
        "utf-16 with its mark": (declared.format("UTF-16").encode("utf-16"), "application/rss+xml"),
        "utf-16be with its mark": (b"\xfe\xff" + declared.format("UTF-16").encode("utf-16-be"), "application/rss+xml"),
        "utf-16le, no mark, said by the header": (declared.format("UTF-16").encode("utf-16-le"),
                                                  "application/rss+xml; charset=utf-16"),
        "utf-8 with a mark, the header saying latin-1": (b"\xef\xbb\xbf" + text.encode("utf-8"),
                                                         "text/xml; charset=iso-8859-1"),
        "declared latin-1, sent as utf-8": (declared.format("ISO-8859-1").encode("utf-8"),
                                            "application/rss+xml; charset=iso-8859-1"),
    }[how]


@pytest.mark.parametrize("how", ["utf-16 with its mark", "utf-16be with its mark", "utf-16le, no mark, said by the header",
                                 "utf-8 with a mark, the header saying latin-1", "declared latin-1, sent as utf-8"])
def test_a_feed_in_utf16_with_a_mark_or_declared_latin1_but_sent_as_utf8_reads_its_characters(
        http_server, tmp_path, cli, how):
    """Encodings feeds come in over HTTP, the header and the document
    disagreeing: every title reads as written (no 'CafÃ©', no NUL bytes, no
    'not well-formed')."""
    body, content_type = _encoded((DATA / "feed-rss2.xml").read_bytes(), how)
    http_server.route("/feed.xml", Reply(200, body, {"Content-Type": content_type}))
    write_config(tmp_path, _feed_source(http_server.url()))
    r = cli("papers", "--json")
    assert r.code == 0 and "Traceback" not in r.err, r.err
    assert [p["title"] for p in json.loads(r.out)] == [
        "Score-Based Diffusion Models for Schrödinger Bridge Problems",
        "Why attention sinks appear <and how to remove them>", "Café — “neural” operators for turbulent flows"]


_JEKYLL_REDIRECT = """<!DOCTYPE html>
<html lang="en-US">
  <meta charset="utf-8">
  <title>Redirecting&hellip;</title>
  <link rel="canonical" href="{to}">
  <script>location="{to}"</script>
  <meta http-equiv="refresh" content="0; url={to}">
  <meta name="robots" content="noindex">
  <h1>Redirecting&hellip;</h1>
  <a href="{to}">Click here if you are not redirected.</a>
</html>
"""


def test_a_feed_moved_by_a_refresh_in_a_page_names_where_it_went(http_server, tmp_path, cli):
    """A static site moves its feed with a page that a browser follows (Jekyll's
    redirect_from, Hugo's aliases: 200 and `<meta http-equiv="refresh">`), not an
    HTTP redirect: it read "an HTML page, not an RSS or Atom feed (an error
    page or a login wall?)".  The line names where the page sends browsers,
    a relative address (Hugo's) made whole, to give as url:."""
    http_server.route("/old.xml", Reply(200, _JEKYLL_REDIRECT.format(to=http_server.url("/blog/feed.xml")).encode(),
                                        {"Content-Type": "text/html; charset=utf-8"}))
    http_server.route("/alias/", Reply(200, b'<!DOCTYPE html><html><head><title>/blog/feed.xml</title>'
                                            b'<meta http-equiv="refresh" content="0; URL=\'/blog/feed.xml\'"></head></html>',
                                       {"Content-Type": "text/html"}))
    for path in ("/old.xml", "/alias/"):
        write_config(tmp_path, _feed_source(http_server.url(), path))
        r = cli("papers")
        assert r.code == 2 and r.out == "" and "Traceback" not in r.err, r.err
        assert r.err.splitlines() == [
            f"{http_server.url(path)}:1: source 'blog': an HTML page, not an RSS or Atom feed; the page sends browsers "
            f"on to {http_server.url('/blog/feed.xml')} (a refresh in the page, which a feed reader does not follow "
            "as it follows an HTTP redirect): give that as url:",
            "every source failed (1 of 1); no papers were read"], r.err
    # a network's login page sends browsers on by a refresh too: no feed to give, its title said
    http_server.route("/feed.xml", Reply(200, b"<html><head><title>Guest Wi-Fi</title><meta http-equiv='refresh' "
                                              b"content='1;url=http://wifi.example/login?from=feed'></head></html>",
                                         {"Content-Type": "text/html"}))
    write_config(tmp_path, _feed_source(http_server.url()))
    r = cli("papers")
    assert r.code == 2 and r.err.splitlines()[0] == (
        f"{http_server.url('/feed.xml')}:1: source 'blog': an HTML page, not an RSS or Atom feed; the page sends "
        "browsers on to http://wifi.example/login?from=feed (an error page or a login wall?); the page's title: "
        "'Guest Wi-Fi'"), r.err


_S3_DENIED = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>Access Denied'
              b'</Message><RequestId>8X2K</RequestId><HostId>aGVsbG8=</HostId></Error>')
_AZURE_MISSING = (b'\xef\xbb\xbf<?xml version="1.0" encoding="utf-8"?><Error><Code>BlobNotFound</Code><Message>The '
                  b'specified blob does not exist.\nRequestId:4e1f\nTime:2026-12-02T08:00:00.0000000Z</Message></Error>')


def test_a_feed_in_a_storage_bucket_says_what_the_bucket_answered(http_server, tmp_path, cli):
    """A feed kept in a bucket (S3, Azure, Google Cloud Storage behind a
    CDN) that went private or moved read 'HTTP 403 Forbidden' alone, and
    the bucket's error answered with 200 read 'not an RSS or Atom feed': the
    bucket's own word (its code and message, without its request ids) is
    quoted, which tells a private bucket from a missing file."""
    write_config(tmp_path, _feed_source(http_server.url()))
    for reply, said in (
        (Reply(403, _S3_DENIED, {"Content-Type": "application/xml"}),
         "HTTP 403 Forbidden (the server says 'AccessDenied: Access Denied')"),
        (Reply(404, _AZURE_MISSING, {"Content-Type": "application/xml"}),
         "HTTP 404 Not Found (the server says 'BlobNotFound: The specified blob does not exist.')"),
        (Reply(200, _S3_DENIED, {"Content-Type": "application/xml"}),
         "not an RSS or Atom feed: the server's error document, 'AccessDenied: Access Denied'"),
        (Reply(404, b"<html><head><title>404</title></head></html>", {"Content-Type": "text/html"}),
         "HTTP 404 Not Found"),  # any other body: the status alone, as before
    ):
        http_server.route("/feed.xml", reply)
        r = cli("papers")
        assert r.code == 2 and r.out == "" and "Traceback" not in r.err, r.err
        assert r.err.splitlines()[0].startswith(http_server.url("/feed.xml")), r.err
        assert r.err.splitlines()[0].endswith(f" source 'blog': {said}"), r.err
