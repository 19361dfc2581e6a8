"""The arxiv, hf-daily and feed sources: recorded responses from a real server on 127.0.0.1,
parsed, merged with the other sources, matched, and run end to end through the command."""

from __future__ import annotations

import dataclasses
import json
import quopri
import re
import sqlite3
from datetime import UTC, datetime

import pytest
from conftest import DATA, FakeClock, write_config
from recorded_http import Reply, recorded

from newsletter import pipeline
from newsletter.config import load_config
from newsletter.errors import ConfigError, InputError, NewsletterError, SourcesFailed
from newsletter.feeds import html_text, parse_arxiv, parse_feed, parse_hf_daily
from newsletter.fetching import Fetcher
from newsletter.matching import Matcher
from newsletter.readers import ReadContext, arxiv_search_query, read_arxiv_api, read_papers

NOW = datetime(2024, 6, 7, 8, 0, tzinfo=UTC)


def data(name: str) -> bytes:
    return (DATA / name).read_bytes()


class Collect(list):
    def __call__(self, message: str) -> None:
        self.append(message)


def read(config, clock=None, **kw):
    """read_papers with an injected clock/sleep; returns (papers, warnings)."""
    clock = clock or FakeClock()
    warnings = Collect()
    fetcher = Fetcher.from_config(config, sleep=clock.sleep, clock=clock)
    with fetcher:
        papers = read_papers(config, warnings, fetcher=fetcher, now=NOW, **kw)
    return papers, warnings


def config_at(tmp_path, text: str):
    return load_config(write_config(tmp_path, text))


# --------------------------------------------------------------------------- formats


def test_arxiv_api_entries_have_every_field():
    listing = parse_arxiv(data("arxiv-api.xml"), "api.xml", "arxiv", Collect())
    assert listing.total == 5 and listing.entries == 5
    first = listing.papers[0]
    assert first.id == first.arxiv_id == "2406.04321"  # no version
    assert first.title == "Score-Based Diffusion Models for Schrödinger Bridge Problems"  # wrapped line collapsed
    assert first.abstract.startswith("We study score-based diffusion models through the lens of the Schrödinger bridge")
    assert "\n" not in first.abstract and "  " not in first.abstract
    assert first.authors == ("Ana Müller", "Kenji Tanaka", "Zoë O'Brien")
    assert first.categories == ("stat.ML", "cs.LG", "math.PR")  # primary first, cross-lists after
    assert first.published == datetime(2024, 6, 6, 17, 59, 58, tzinfo=UTC)
    assert first.url == "https://arxiv.org/abs/2406.04321"
    assert first.pdf_url == "https://arxiv.org/pdf/2406.04321v2"
    sgd = listing.papers[1]
    assert "$\\eta < 1/L$ & noise" in sgd.abstract  # entities decoded once, text kept verbatim
    assert listing.papers[4].categories[0] == "physics.flu-dyn"


def test_an_arxiv_feed_name_suffix_after_a_comma_stays_with_its_name():
    """arXiv's one dc:creator "John Smith, Jr., Ann Lee and Bo Chen III" read as
    four authors, one of them named "Jr."."""
    feed = data("arxiv-rss.xml").replace(b"Ingrid Solberg, Rafael Costa, Hana Kobayashi",
                                         b"John Smith, Jr., Ann Lee, Sr and Bo Chen, III, Vera Lind")
    first = parse_arxiv(feed, "rss.xml", "arxiv", Collect()).papers[0]
    assert first.authors == ("John Smith Jr.", "Ann Lee Sr", "Bo Chen III", "Vera Lind")


def test_arxiv_announcement_feed_strips_the_prefix_and_filters_announce_types():
    everything = parse_arxiv(data("arxiv-rss.xml"), "rss.xml", "arxiv", Collect())
    assert [p.arxiv_id for p in everything.papers] == [
        "2406.05501", "2406.05503", "2406.05502", "2406.02555", "2405.11111",
    ]
    first = everything.papers[0]
    assert first.abstract.startswith("We extend flow matching to data living on Lie groups")
    assert "Announce Type" not in first.abstract and "arXiv:" not in first.abstract
    assert first.authors == ("Ingrid Solberg", "Rafael Costa", "Hana Kobayashi")
    assert everything.papers[4].authors == ("Maria Silva", "Peter Novak")
    assert everything.papers[1].abstract.endswith("binding sites & motifs.")
    new = parse_arxiv(data("arxiv-rss.xml"), "rss.xml", "arxiv", Collect(), ["new"])
    assert [p.arxiv_id for p in new.papers] == ["2406.05501", "2406.05503"]
    new_and_cross = parse_arxiv(data("arxiv-rss.xml"), "rss.xml", "arxiv", Collect(), ["new", "cross"])
    assert len(new_and_cross.papers) == 3


def _lines_of(text: str, tag: str) -> list[int]:
    """The line each ``<tag>`` element of ``text`` starts on."""
    return [text.count("\n", 0, m.start()) + 1 for m in re.finditer(rf"<{tag}[\s>]", text)]


def test_arxiv_entry_without_id_or_title_is_skipped_with_a_warning():
    """Each named at the line its entry starts on ('entry 3 has no title' gave no line)."""
    text = data("arxiv-api.xml").decode()
    text = text.replace("<id>http://arxiv.org/abs/2406.03987v1</id>", "<id></id>", 1)
    text = re.sub(r'<link [^>]*2406\.03987v1[^>]*/>', "", text)
    text = text.replace("<title>Denoising Diffusion for Tabular Data with Missing Values</title>", "<title> </title>")
    warnings = Collect()
    listing = parse_arxiv(text.encode(), "api.xml", "arXiv ML", warnings)
    assert len(listing.papers) == 3
    assert len(warnings) == 2
    at = _lines_of(text, "entry")
    assert warnings[0] == f"api.xml:{at[1]}: source 'arXiv ML': entry 2 has no arXiv id; skipped", warnings
    assert warnings[1] == (f"api.xml:{at[2]}: source 'arXiv ML': entry 3 (http://arxiv.org/abs/2406.02555v1) has no "
                           "title; skipped")


def test_a_feed_entry_skipped_whose_start_cannot_be_told_is_named_without_a_line():
    """An ``<item>`` quoted in a CDATA description makes the starts found more
    than the entries: the warning names no line rather than a wrong one."""
    rss = (b'<?xml version="1.0"?>\n<rss version="2.0"><channel><title>t</title>\n'
           b'<item><title>One</title><description><![CDATA[a literal <item> here]]></description></item>\n'
           b'<item><description>no title</description></item>\n</channel></rss>')
    warnings = Collect()
    assert len(parse_feed(rss, "f.xml", "blog", warnings)) == 1
    assert warnings == ["f.xml: source 'blog': entry 2 has no title; skipped"]
    warnings = Collect()
    parse_feed(rss.replace(b"a literal <item> here", b"plain"), "f.xml", "blog", warnings)
    assert warnings == ["f.xml:4: source 'blog': entry 2 has no title; skipped"]


def test_arxiv_api_error_entry_is_an_error():
    body = b"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title type="html">ArXiv Query: search_query=&amp;id_list=1234</title>
  <id>http://arxiv.org/api/errors</id>
  <opensearch:totalResults xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">1</opensearch:totalResults>
  <entry>
    <id>http://arxiv.org/api/errors#incorrect_id_format_for_1234</id>
    <title>Error</title>
    <summary>incorrect id format for 1234</summary>
  </entry>
</feed>"""
    with pytest.raises(InputError) as info:
        parse_arxiv(body, "http://x/api/query", "arxiv", Collect())
    assert str(info.value) == "http://x/api/query: source 'arxiv': the arXiv API says: incorrect id format for 1234"
    # an API query given as a feed's url: the error entry was read as a paper titled 'Error'
    with pytest.raises(InputError) as info:
        parse_feed(body, "http://x/api/query", "feed", Collect())
    assert str(info.value) == "http://x/api/query: source 'feed': the arXiv API says: incorrect id format for 1234"


@pytest.mark.parametrize("name", ["arxiv-api.xml", "arxiv-rss.xml", "feed-rss2.xml"])
def test_truncated_xml_is_an_error_with_a_line(name):
    raw = data(name)
    cut = raw[: len(raw) * 2 // 3]
    parse = parse_feed if name.startswith("feed") else (lambda *a: parse_arxiv(*a))
    with pytest.raises(InputError) as info:
        parse(cut, "http://127.0.0.1/x", "src", Collect())
    (problem,) = info.value.problems
    assert problem.file == "http://127.0.0.1/x" and problem.line == cut.count(b"\n") + 1
    assert "source 'src': not a well-formed feed" in problem.message and "truncated" in problem.message


def test_an_opml_list_or_a_sitemap_given_as_a_feed_says_what_it_is_and_names_a_feed_to_give(tmp_path, cli):
    """A feed reader's subscriptions exported as OPML (or a site's sitemap.xml)
    given as the feed read 'not an RSS or Atom feed' alone."""
    (tmp_path / "feeds.opml").write_text(
        '<?xml version="1.0"?><opml version="2.0"><head><title>Subscriptions</title></head><body>\n'
        '<outline text="arXiv cs.LG" type="rss" xmlUrl="https://rss.arxiv.org/rss/cs.LG?a=1&amp;b=2"/>\n'
        '<outline text="Lab" type="rss" xmlUrl="https://lab.example.org/feed.xml"/></body></opml>\n')
    write_config(tmp_path, "sources: [{type: feed, path: feeds.opml}]\ntopics: {t: {any: [x]}}\n")
    result = cli("papers")
    assert result.code == 2 and "Traceback" not in result.err
    assert result.err.strip() == ("feeds.opml:1: source 'feed': not an RSS or Atom feed: an OPML list of feeds; give "
                                  "each as its own source, url: https://rss.arxiv.org/rss/cs.LG?a=1&b=2 (and 1 more)")
    sitemap = (b'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
               b"<url><loc>https://x.org/</loc></url></urlset>")
    with pytest.raises(InputError, match=r"^s\.xml:1: source 'f': not an RSS or Atom feed: a sitemap \(the site's "):
        parse_feed(sitemap, "s.xml", "f", Collect())


@pytest.mark.parametrize(
    "body, line, words",
    [
        (b"", 1, "empty document"),
        (b"<html><body><h1>502 Bad Gateway</h1></body></html>", 1, "not an RSS or Atom feed"),
    ],
)
def test_not_a_feed_is_an_error(body, line, words):
    with pytest.raises(InputError) as info:
        parse_feed(body, "f.xml", "blog", Collect())
    assert str(info.value).startswith(f"f.xml:{line}: source 'blog': ") and words in str(info.value)


def test_hf_daily_keeps_upvotes_keywords_and_github():
    warnings = Collect()
    papers = parse_hf_daily(data("hf-daily-2024-06-07.json"), "hf.json", "hf", warnings)
    assert [p.id for p in papers] == ["2406.04321", "2406.05503"]
    sb = papers[0]
    assert sb.upvotes == 57 and sb.github == "https://github.com/example-lab/sb-diffusion"
    assert sb.keywords == ("score-based diffusion", "Schrödinger bridge", "iterative proportional fitting", "optimal transport")
    assert sb.authors == ("Ana Müller", "Kenji Tanaka", "Zoë O'Brien")
    assert sb.published == datetime(2024, 6, 6, 17, 59, 58, tzinfo=UTC)
    assert sb.url == "https://arxiv.org/abs/2406.04321"
    assert "\n" not in sb.abstract
    # (at the line its entry starts on)
    third = [n for n, line in enumerate(data("hf-daily-2024-06-07.json").decode().splitlines(), 1) if line == "  {"][2]
    assert warnings == [f"hf.json:{third}: source 'hf': item 3 (2406.09999) has no title; skipped"]
    lines = "\n\n".join(json.dumps(item) for item in json.loads(data("hf-daily-2024-06-07.json"))).encode()
    warnings = Collect()
    parse_hf_daily(lines, "hf.jsonl", "hf", warnings)  # (JSON Lines, a blank line between: its own line)
    assert warnings == ["hf.jsonl:5: source 'hf': item 3 (2406.09999) has no title; skipped"]


def test_hf_daily_entries_whose_id_is_a_link_or_arxiv_colon_id_get_their_arxiv_id():
    """A list saved by another tool ("id": "https://arxiv.org/abs/2406.00001v3",
    "arXiv:2406.00002"): the paper was known by its title only, and linked to
    'https://huggingface.co/papers/https://arxiv.org/...'; the same paper from
    arXiv then came twice."""
    entries = [{"paper": {"id": ident, "title": f"Paper {n}", "summary": "S."}} for n, ident in enumerate(
        ["https://arxiv.org/abs/2406.00001v3", "arXiv:2406.00002", "https://blog.example.org/p/3"])]
    papers = parse_hf_daily(json.dumps(entries).encode(), "hf.json", "hf", Collect())
    assert [(p.arxiv_id, p.url) for p in papers] == [
        ("2406.00001", "https://arxiv.org/abs/2406.00001"), ("2406.00002", "https://arxiv.org/abs/2406.00002"),
        (None, "https://blog.example.org/p/3")]
    assert [p.id for p in papers] == ["2406.00001", "2406.00002", "paper 2"]


@pytest.mark.parametrize(
    "body, line, words",
    [
        (data("hf-daily-2024-06-07.json")[:900], None, "invalid JSON"),
        (b'{"error": "Invalid date"}', 1, "expected a JSON list of daily papers, got dict"),
        (b"\xff\xfe[]", 1, "not UTF-8"),
        # what Python's json module raises, not a JSONDecodeError: a RecursionError, a ValueError
        (b"\n\n" + b"[" * 100_000 + b"]" * 100_000, 3, "nested too deeply"),
        (b'[\n{"paper": {"id": "2406.00001", "title": "t",\n "upvotes": 1' + b"0" * 5000 + b"}}]", 3,
         "invalid JSON (a number 5001 digits long: no paper has one; damaged?)"),
        # words where JSON goes (a rate limit, a proxy's error): it read 'invalid JSON (Expecting
        # value at column 1); truncated?', of an answer that was whole
        (b"Rate exceeded.", 1, "not JSON: the answer is text, 'Rate exceeded.', expected the JSON list of daily papers"),
        (b"\n\nInternal Server Error\n", 3, "not JSON: the answer is text, 'Internal Server Error'"),
        # JSON, but no list: named as JSON names it (it was "got NoneType", "got str")
        (b"null", 1, "expected a JSON list of daily papers, got null"),
        (b'"maintenance"', 1, "expected a JSON list of daily papers, got the string 'maintenance'"),
        (b"0", 1, "expected a JSON list of daily papers, got the number 0"),
        (b"false", 1, "expected a JSON list of daily papers, got false"),
        (data("hf-papers-compact.txt"), 1,
         "a Hugging Face papers page saved as text, not the JSON list of daily papers (`type: hf-papers-text` reads it)"),
    ],
)
def test_broken_hf_json_is_an_error_with_a_line(body, line, words):
    with pytest.raises(InputError) as info:
        parse_hf_daily(body, "hf.json", "hf", Collect())
    (problem,) = info.value.problems
    assert words in problem.message and problem.file == "hf.json"
    assert problem.line == (line or body.count(b"\n") + 1)


def test_nothing_new_is_not_an_error():
    assert parse_hf_daily(b"[]", "hf.json", "hf", Collect()) == []
    empty_api = _atom_page([], total=0)
    assert parse_arxiv(empty_api, "api", "arxiv", Collect()).papers == []
    empty_rss = b'''<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><link>https://x.org/</link>
        <description>d</description></channel></rss>'''
    assert parse_feed(empty_rss, "rss", "blog", Collect()) == []


def test_feed_detects_arxiv_links_and_strips_html():
    warnings = Collect()
    papers = parse_feed(data("feed-rss2.xml"), "feed.xml", "blog", warnings)
    assert [p.arxiv_id for p in papers] == ["2406.04321", None, "2406.01010"]
    assert papers[0].abstract == "Our pick: a simulation-free objective for bridges & transport."
    assert papers[0].url == "https://arxiv.org/abs/2406.04321"
    assert papers[1].title == "Why attention sinks appear <and how to remove them>"
    assert papers[1].id == "why attention sinks appear and how to remove them"
    assert papers[1].url == "https://reading-group.example.org/posts/attention-sinks"
    assert papers[1].authors == ("Ines Pereira",)
    assert papers[2].published == datetime(2024, 6, 6, 12, 0, tzinfo=UTC)
    fourth = _lines_of(data("feed-rss2.xml").decode(), "item")[3]
    assert warnings == [f"feed.xml:{fourth}: source 'blog': entry 4 (https://reading-group.example.org/posts/"
                        "untitled-draft) has no title; skipped"]


_ATOM_NO_IDS = b"""<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>q</title>
<entry><title>One</title><summary>s</summary></entry><entry><title>Two</title><summary>s</summary></entry></feed>"""


def test_a_less_than_sign_in_an_html_description_is_text_not_a_tag():
    # RSS escapes the text once (&lt;); feedparser hands it over as HTML holding a bare '<'
    body = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><link>https://x.org/</link>
      <description>d</description>
      <item><title>Bounds when x &lt; 5 and y &gt; 3</title><link>https://x.org/a</link>
        <description>We show x &lt; 5 and y &gt; 3 imply &lt;b&gt;z&lt;/b&gt; &amp;lt; 1.</description></item>
      <item><title>CDATA</title><link>https://x.org/b</link>
        <description><![CDATA[<p>Holds for n < 10 and m > 2.</p><p>Second&nbsp;part<script>alert(1)</script></p>]]></description></item>
    </channel></rss>"""
    first, second = parse_feed(body, "rss", "blog", Collect())
    assert first.title == "Bounds when x < 5 and y > 3"
    assert first.abstract == "We show x < 5 and y > 3 imply z < 1."
    assert second.abstract == "Holds for n < 10 and m > 2. Second part"  # no script text


def test_a_malformed_html_declaration_in_a_description_is_text_not_a_crash():
    # html.parser raises AssertionError on "<![ x"
    body = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><link>https://x.org/</link>
      <description>d</description><item><title>Odd</title><link>https://x.org/a</link>
      <description>&lt;p&gt;Keep &lt;![ this ]] and &lt;b&gt;that&lt;/b&gt;.&lt;/p&gt;</description></item>
    </channel></rss>"""
    (paper,) = parse_feed(body, "rss", "blog", Collect())  # (feedparser's sanitiser repeats the text)
    assert paper.abstract.startswith("Keep") and "<![ this ]] and that." in paper.abstract
    assert html_text("<p>Keep <![ this ]] and <b>that</b>.</p><!-- note -->") == "Keep <![ this ]] and that."


@pytest.mark.parametrize("parse", [parse_feed, lambda *a: parse_arxiv(*a).papers])
def test_arxiv_rdf_feed_gives_clean_titles_authors_and_abstracts(parse):
    """arXiv's old RSS 1.0 (RDF) feed: titles end in '. (arXiv:ID [cat])', the
    authors are one dc:creator of HTML links, the description is HTML."""
    papers = parse(data("arxiv-rdf.xml"), "cs.LG.rdf", "arXiv rdf", Collect())
    assert [p.title for p in papers] == [
        "DiffPack: A Torsional Diffusion Model for Autoregressive Protein Side-Chain Packing",
        "Is Attention All You Need?",
        "Strings on Lie Groups: 3 Loops",
    ]
    assert [p.arxiv_id for p in papers] == ["2306.01794", "2306.01811", "hep-th/9901001"]
    assert papers[0].authors == ("Yangtian Zhang", "Zuobai Zhang", "Bozitao Zhong")
    assert papers[2].authors == ("Erwin Schröder", "Jane Doe")
    assert papers[0].abstract.startswith("Proteins play a critical role")
    assert papers[0].abstract.endswith("angles & improves accuracy for $p < 0.05$ on CASP13 and CASP14.")
    assert papers[1].abstract == "We revisit attention with a fresh eye."


def test_relative_links_in_a_feed_are_made_absolute(http_server, tmp_path):
    body = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>
      <link>https://lab.example.org/blog/</link><description>d</description>
      <item><title>Rooted</title><link>/posts/a.html</link></item>
      <item><title>Beside</title><link>posts/b.html</link></item>
    </channel></rss>"""
    saved = parse_feed(body, "feed.xml", "lab", Collect())  # a saved file: the site the feed names
    assert [p.url for p in saved] == ["https://lab.example.org/posts/a.html", "https://lab.example.org/blog/posts/b.html"]
    broken = body.replace(b"/posts/a.html", b"http://[::1/posts/a.html")  # urllib raises on it
    assert [p.url for p in parse_feed(broken, "feed.xml", "lab", Collect())][0] is None
    http_server.route("/lab/feed.xml", Reply(body=body, headers={"Content-Type": "application/rss+xml"}))
    config = config_at(tmp_path, f"sources: [{{type: feed, name: lab, url: '{http_server.url('/lab/feed.xml')}'}}]\ntopics: {{t: {{any: [x]}}}}\n")
    papers, _ = read(config)
    assert [p.url for p in papers] == [http_server.url("/posts/a.html"), http_server.url("/lab/posts/b.html")]


@pytest.mark.parametrize("kind", ["rss", "json feed"])
def test_relative_links_of_a_redirected_feed_are_relative_to_where_it_moved(http_server, tmp_path, kind):
    """A feed moved (``/feed`` 301 to ``/lab/feed.xml``): its relative links
    were resolved against the address asked, and led to /posts/b.html, not
    /lab/posts/b.html; from the cache, on the next run, too."""
    if kind == "rss":
        body = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><description>d</description>'
                b"<item><title>Rooted</title><link>/posts/a.html</link></item>"
                b"<item><title>Beside</title><link>posts/b.html</link></item></channel></rss>")
    else:
        body = json.dumps({"version": "https://jsonfeed.org/version/1.1", "title": "t", "items": [
            {"id": "1", "title": "Rooted", "url": "/posts/a.html"}, {"id": "2", "title": "Beside", "url": "posts/b.html"},
        ]}).encode()
    http_server.route("/lab/feed.xml", Reply(body=body, headers={"Content-Type": "application/rss+xml"}))
    http_server.route("/feed", Reply(301, b"", {"Location": "/lab/feed.xml"}))
    config = config_at(tmp_path, f"sources: [{{type: feed, name: lab, url: '{http_server.url('/feed')}'}}]\n"
                                 "topics: {t: {any: [x]}}\n")
    expected = [http_server.url("/posts/a.html"), http_server.url("/lab/posts/b.html")]
    for run in ("fetched", "from the cache"):
        papers, warnings = read(config)
        assert [p.url for p in papers] == expected, run
        assert [p.location for p in papers] == [http_server.url("/feed")] * 2  # messages name the URL configured
    assert len(http_server.requests_to("/feed")) == 1  # the second run was the cache's


def test_html_named_entities_in_a_feed_are_their_characters():
    """'&nbsp;' or '&eacute;' outside CDATA is not XML, but feeds write it: the feed
    is read (not refused), and an RSS 0.91 DOCTYPE does not drop the character."""
    item = "<item><title>Caf&eacute; &mdash; models&hellip;</title><link>https://x.org/a</link>"
    item += "<description>Fast&nbsp;sampling &amp; more</description></item>"
    channel = f"<channel><title>t</title><link>https://x.org/</link><description>d</description>{item}</channel>"
    plain = f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0">{channel}</rss>'
    netscape = (
        '<?xml version="1.0" encoding="ISO-8859-1"?><!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" '
        f'"http://my.netscape.com/publish/formats/rss-0.91.dtd"><rss version="0.91">{channel}</rss>'
    )
    for body in (plain, netscape):
        (paper,) = parse_feed(body.encode(), "f.xml", "blog", Collect())
        assert paper.title == "Café — models…"
        assert paper.abstract == "Fast sampling & more"


@pytest.mark.parametrize(
    "doctype",
    [
        '<!DOCTYPE rss [<!ENTITY nbsp "&#160;"> <!ENTITY lab \'Reading Group\'>]>',
        '<!DOCTYPE rss [<!ENTITY % HTMLlat1 PUBLIC "-//W3C//ENTITIES Latin 1 for XHTML//EN" '
        '"http://www.w3.org/TR/xhtml1/DTD/xhtml-lat1.ent">%HTMLlat1;<!ENTITY lab "Reading Group">]>',
    ],
)
def test_a_doctype_declaring_entities_on_one_line_is_read(doctype):
    """feedparser strips an internal subset only where each declaration starts
    a line: one written on one line, or one pulling in XHTML's entity sets (for
    '&eacute;'), failed the feed as 'syntax error' / 'illegal parameter entity
    reference' at line 2.  Its entities are used."""
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n{doctype}\n<rss version="2.0"><channel><title>t</title>'
        "<link>https://x.org/</link><description>d</description>\n"
        "<item><title>Caf&eacute;&nbsp;models (&lab;)</title><link>https://x.org/a</link>"
        "<description>Fast &lab; sampling</description></item></channel></rss>"
    )
    (paper,) = parse_feed(body.encode(), "f.xml", "blog", Collect())
    assert paper.title == "Café models (Reading Group)" and paper.abstract == "Fast Reading Group sampling"
    laughs = body.replace("(&lab;)", "\n(&lol;)").replace("]>", '<!ENTITY lol "&lab;&lab;">]>', 1)
    with pytest.raises(InputError) as info:  # declared from entities: undefined, at the line that uses it
        parse_feed(laughs.encode(), "f.xml", "blog", Collect())
    assert str(info.value) == "f.xml:5: source 'blog': not a well-formed feed (undefined entity); truncated or not XML?"


@pytest.mark.parametrize("declaration", [b'<?xml version="1.0" encoding="UTF-8"?>', b"<?xml version='1.0'?>", b""])
def test_a_utf8_feed_with_a_few_windows_1252_bytes_keeps_its_utf8_text(declaration):
    """One post pasted from a Windows-1252 editor ('Caf\\xe9') made feedparser read
    the whole feed as Windows-1252: every other post's '—' showed as 'â€”' in the
    emails, silently.  The stray bytes are read as Windows-1252, the rest as UTF-8;
    a feed that declares Windows-1252 is read as it says."""
    items = ("<item><title>Caf\xe9 \x93diffusion\x94</title><link>https://x.org/a</link><description>na\xefve</description>"
             "</item><item><title>Flows \xe2\x80\x94 on Lie groups</title><link>https://x.org/b</link>"
             "<description>Schr\xc3\xb6dinger</description></item>").encode("latin-1")
    body = declaration + b'<rss version="2.0"><channel><title>t</title>' + items + b"</channel></rss>"
    papers = parse_feed(body, "f.xml", "blog", Collect())
    assert [(p.title, p.abstract) for p in papers] == [
        ("Café “diffusion”", "naïve"), ("Flows — on Lie groups", "Schrödinger")]
    cp1252 = (b'<?xml version="1.0" encoding="windows-1252"?><rss version="2.0"><channel><title>t</title>'
              b"<item><title>Caf\xe9 \xe2\x80</title><link>https://x.org/a</link></item></channel></rss>")
    assert [p.title for p in parse_feed(cp1252, "f.xml", "blog", Collect())] == ["Café â€"]


@pytest.mark.parametrize("name", [b"utf-16", b"UTF-16LE", b"ucs-2", b"utf-32"])
def test_a_utf8_feed_declaring_utf16_is_read_as_utf8(name):
    """.NET's StringWriter declares encoding="utf-16" whatever the bytes are
    saved as, and such feeds are served as UTF-8: 'not a well-formed feed
    (invalid token)' at line 2 of a one-line file.  A feed that is UTF-16 is
    read as UTF-16 still."""
    body = (b'<?xml version="1.0" encoding="' + name + b'"?><rss version="2.0"><channel><title>t</title>'
            b"<item><title>Diffusion bridges</title><link>https://x.org/a</link></item></channel></rss>")
    assert [p.title for p in parse_feed(body, "f.xml", "blog", Collect())] == ["Diffusion bridges"]
    # (one non-ASCII character, and feedparser's own fallback had read it as UTF-8)
    accented = body.replace(b"Diffusion", b"Schr\xc3\xb6dinger")
    assert [p.title for p in parse_feed(accented, "f.xml", "blog", Collect())] == ["Schrödinger bridges"]
    wide = accented.decode("utf-8").replace(name.decode(), "utf-16").encode("utf-16")
    assert [p.title for p in parse_feed(wide, "f.xml", "blog", Collect())] == ["Schrödinger bridges"]


@pytest.mark.parametrize("head", [b"", b"\xef\xbb\xbf", b"\n\n", b'<?xml version="1.0"?>\n'])
def test_a_broken_feed_is_named_at_its_line_with_or_without_a_declaration(head):
    """feedparser writes a declaration of its own, on a line of its own,
    before a document without one: every error in such a feed was named a
    line after where it is."""
    body = head + b'<rss version="2.0">\n<channel><title>t</title>\n<item><title>A < B</title></item></channel></rss>'
    with pytest.raises(InputError) as info:
        parse_feed(body, "f.xml", "blog", Collect())
    line = 3 + head.count(b"\n")  # (the '<' of 'A < B' is on the document's third line)
    assert str(info.value).startswith(f"f.xml:{line}: source 'blog': not a well-formed feed (")


def test_blank_lines_before_the_xml_declaration_are_forgiven_and_lines_still_count():
    body = data("feed-rss2.xml")
    assert len(parse_feed(b"\n\n  " + body, "f.xml", "blog", Collect())) == 3
    cut = b"\n\n" + body[: len(body) // 2]
    with pytest.raises(InputError) as info:
        parse_feed(cut, "f.xml", "blog", Collect())
    assert info.value.problems[0].line == cut.count(b"\n") + 1


@pytest.mark.parametrize(
    "parse, body",
    [
        (parse_feed, b"<rss version='2.0'><channel><title>t</title><item><description>x</description></item>"
                     b"<item><link>https://x.org/b</link></item></channel></rss>"),
        (lambda *a: parse_arxiv(*a).papers, _ATOM_NO_IDS),
        (parse_hf_daily, b'[{"paper": {"arxiv": "2406.1", "name": "T"}}, {"paper": {"arxiv": "2406.2", "name": "U"}}]'),
    ],
)
def test_a_document_whose_every_entry_is_malformed_is_a_failed_source(parse, body):
    """A changed format (every entry without id or title) is not "nothing new"."""
    with pytest.raises(InputError) as info:
        parse(body, "http://x/feed", "src", Collect())
    message = str(info.value)
    # (at the first entry's line)
    assert re.match(r"http://x/feed:\d+: source 'src': no usable entry: ", message) and "(and 1 more)" in message


@pytest.mark.parametrize(
    "body",
    [
        b'<?xml version="1.0" encoding="utf-8\xd1"?><rss version="2.0"><channel><title>t</title></channel></rss>',
        b'<?xml version="1.0" encoding="ut\xfff-8"?><rss version="2.0"><channel><title>t</title></channel></rss>',
        b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom" xmlns:x="urn:a&nbsp;b"><x:y/></feed>',
    ],
)
def test_bytes_that_make_feedparser_itself_raise_are_a_broken_feed_not_a_traceback(body):
    for parse in (parse_feed, lambda *a: parse_arxiv(*a).papers):
        with pytest.raises(InputError) as info:
            parse(body, "http://x/feed", "src", Collect())
        assert str(info.value).startswith("http://x/feed:1: source 'src': not a well-formed feed (")


def test_an_html_page_instead_of_the_data_says_so():
    page = b"<!DOCTYPE html>\n<html lang='en'><head><title>Sign in</title></head><body>Log in</body></html>"
    with pytest.raises(InputError) as info:
        parse_hf_daily(page, "http://x/api", "hf", Collect())
    assert "an HTML or XML page, not the JSON list of daily papers" in str(info.value)
    with pytest.raises(InputError) as info:
        parse_feed(page, "http://x/feed", "blog", Collect())
    assert "an HTML page, not an RSS or Atom feed (an error page or a login wall?)" in str(info.value)
    with pytest.raises(InputError) as info:
        parse_hf_daily(b'{"error": "Invalid date"}', "http://x/api", "hf", Collect())
    assert str(info.value).endswith("got dict; the API says: Invalid date")


BLOG_PAGE = b"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Lab blog</title>
<link rel="stylesheet" href="/style.css">
<link rel="alternate" type="application/rss+xml" title="Lab blog" href="/blog/feed.xml">
</head>
<body><p>Posts<br>and news &nbsp; here</p></body>
</html>
"""


def test_an_html_page_that_is_no_xml_says_so_and_names_the_feed_it_links_to(tmp_path, cli, http_server):
    # A site's page given where its feed goes (the usual slip), or a login
    # page: real HTML is no XML, and it read as "not a well-formed feed (not
    # well-formed (invalid token)); truncated or not XML?".
    with pytest.raises(InputError) as info:
        parse_feed(BLOG_PAGE, "https://lab.example.org/blog/", "blog", Collect())
    assert str(info.value) == (
        "https://lab.example.org/blog/:1: source 'blog': an HTML page, not an RSS or Atom feed; the page names its "
        "feed: https://lab.example.org/blog/feed.xml (give that as url:)"
    )
    login = b"<html><head><title>Sign in</title></head><body><form>Log in <input name=user></form></body></html>"
    for parse, expected in ((parse_feed, "an RSS or Atom feed"), (parse_arxiv, "an arXiv API answer or feed")):
        with pytest.raises(InputError) as info:
            parse(login, "http://x/feed", "src", Collect())
        assert str(info.value) == (
            f"http://x/feed:1: source 'src': an HTML page, not {expected} (an error page or a login wall?)"
        )
    http_server.route("/blog/", Reply(body=BLOG_PAGE, headers={"Content-Type": "text/html; charset=utf-8"}))
    write_config(tmp_path, f"""
sources:
  - {{type: feed, name: blog, url: "{http_server.url('/blog/')}"}}
topics: {{t: {{any: [x]}}}}
""")
    r = cli("papers")
    assert r.code == 2 and "Traceback" not in r.err
    assert f"the page names its feed: {http_server.url('/blog/feed.xml')} (give that as url:)" in r.err


@pytest.mark.parametrize("body, kind", [
    (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "a PDF file"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "a PNG image"),
    (b"\xff\xd8\xff\xe0" + b"\x00" * 40, "a JPEG image"),
    (b"PK\x03\x04" + b"\x00" * 40, "a zip archive"),
    (b"\x1f\x8b\x08\x00" + b"\x00" * 40, "gzip-packed data"),
])
def test_a_file_that_is_no_text_where_a_feed_goes_is_named(body, kind):
    # They read as "not a well-formed feed (not well-formed (invalid token)); truncated or not XML?"
    # or "not UTF-8 text, expected JSON".
    for parse, expected in ((parse_feed, "an RSS or Atom feed"), (parse_arxiv, "an arXiv API answer or feed"),
                            (parse_hf_daily, "the JSON list of daily papers")):
        with pytest.raises(InputError) as info:
            parse(body, "http://x/feed", "src", Collect())
        assert str(info.value) == f"http://x/feed:1: source 'src': {kind}, not {expected} (is the address right?)"


def test_json_where_a_feed_goes_says_so():
    """expat said only "not well-formed (invalid token)" of a JSON answer."""
    for body in (b'[{"paper": {"id": "2401.00001"}}]', b'\n  {"items": []}'):
        with pytest.raises(InputError) as info:
            parse_feed(body, "http://x/feed", "blog", Collect())
        assert str(info.value) == ("http://x/feed:1: source 'blog': a JSON document, not an RSS or Atom feed "
                                   "(Hugging Face's daily papers JSON is `type: hf-daily`)")


def test_a_hugging_face_paper_link_gives_the_arxiv_id():
    """A feed of Hugging Face daily papers links each to huggingface.co/papers/<arXiv id>:
    the paper merges with the same paper from arXiv."""
    body = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>HF daily</title><link>https://x.org/</link>
      <description>d</description>
      <item><title>Flow Matching on Lie Groups</title><link>https://huggingface.co/papers/2406.05501</link></item>
      <item><title>Not a paper page</title><link>https://huggingface.co/papers?date=2024-06-11</link></item>
    </channel></rss>"""
    paper, other = parse_feed(body, "hf.xml", "hf feed", Collect())
    assert paper.arxiv_id == "2406.05501" and paper.url == "https://arxiv.org/abs/2406.05501"
    assert other.arxiv_id is None and other.url == "https://huggingface.co/papers?date=2024-06-11"


@pytest.mark.parametrize("body, said", [
    (b"""<?xml version="1.0"?><rss version="2.0"><channel><title>Links</title><link>https://x.org/</link>
      <description>d</description>
      <item><title>Flow Matching on Lie Groups</title><link>https://x.org/1</link><guid>https://x.org/1</guid></item>
      <item><title>Score Matching</title><link>https://x.org/2</link><description>About scores.</description></item>
      <item><title>Reflected Diffusion</title><link>https://x.org/3</link><description> </description></item>
    </channel></rss>""", "entry 1 (https://x.org/1) and 1 more"),
    (json.dumps({"version": "https://jsonfeed.org/version/1.1", "title": "t", "items": [
        {"id": "a", "title": "Flow Matching on Lie Groups", "url": "https://x.org/1"},
        {"id": "b", "title": "Score Matching", "content_text": "About scores."}]}).encode(), "item 1 (a)"),
], ids=["rss", "json feed"])
def test_feed_entries_without_a_body_are_read_by_title_and_said_once(body, said):
    """A link blog's feed gives titles and links only: its papers came with an
    empty abstract and no word, so `about` and abstract terms had nothing to go on."""
    warnings = Collect()
    papers = parse_feed(body, "links.xml", "links", warnings)
    assert [p.abstract for p in papers][:2] == ["", "About scores."]
    assert warnings == [f"links.xml: source 'links': {said} without a summary: read by the title only (topics' "
                        "abstract terms cannot match it, and the email shows no abstract)"]


def test_hf_daily_nulls_odd_types_and_extra_fields_are_unknown_values():
    body = b"""[{"paper": {"id": "2406.05501", "title": "Flow Matching on Lie Groups", "summary": null,
                 "authors": [null, {"name": null}, {"_id": "x"}, {"name": " Ingrid  Solberg "}, "Rafael Costa", 7],
                 "upvotes": "12", "publishedAt": "yesterday", "githubRepo": "javascript:alert(1)",
                 "ai_keywords": [null, " flow matching ", 3], "brandNew": {"nested": [1, 2]}},
                "title": "ignored", "numComments": null, "submittedBy": {"fullname": null}},
               {"paper": {"id": "not-an-arxiv-id", "title": "A paper only on the Hub", "upvotes": true}}]"""
    warnings = Collect()
    first, second = parse_hf_daily(body, "hf.json", "hf", warnings)
    # a paper without its summary is read by its title, and said so (a silent partial entry otherwise)
    assert warnings == ["hf.json: source 'hf': item 1 (2406.05501) and 1 more without a summary: read by the title "
                        "only (topics' abstract terms cannot match it, and the email shows no abstract)"]
    assert first.arxiv_id == "2406.05501" and first.abstract == ""
    assert first.authors == ("Ingrid Solberg", "Rafael Costa") and first.keywords == ("flow matching",)
    assert first.upvotes is None and first.published is None and first.github is None
    assert second.arxiv_id is None and second.upvotes is None
    assert second.url == "https://huggingface.co/papers/not-an-arxiv-id"


def test_search_query():
    assert arxiv_search_query('all:"diffusion"', ["cs.LG", "stat.ML"]) == '(cat:cs.LG OR cat:stat.ML) AND (all:"diffusion")'
    assert arxiv_search_query(None, ["cs.LG"]) == "cat:cs.LG"
    assert arxiv_search_query("ti:transformer AND au:bengio", []) == "ti:transformer AND au:bengio"


# --------------------------------------------------------------------------- readers over HTTP


def _atom_page(ids: list[str], total: int) -> bytes:
    entries = "".join(
        f"""<entry><id>http://arxiv.org/abs/{i}v1</id><published>2024-06-0{n % 9 + 1}T00:00:00Z</published>
        <title>Paper number {i}</title><summary>Abstract {i}.</summary><author><name>Author {n}</name></author>
        <arxiv:primary_category xmlns:arxiv="http://arxiv.org/schemas/atom" term="cs.LG"/></entry>"""
        for n, i in enumerate(ids)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        "<title>ArXiv Query</title><id>http://arxiv.org/api/page</id>"
        f'<opensearch:totalResults xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">{total}</opensearch:totalResults>'
        f"{entries}</feed>"
    ).encode()


def _paged(all_ids: list[str], total: int):
    def reply(request):
        start, count = int(request.query["start"]), int(request.query["max_results"])
        return Reply(200, _atom_page(all_ids[start : start + count], total), {"Content-Type": "application/atom+xml"})

    return reply


def test_arxiv_api_pages_with_three_seconds_between_requests(http_server, tmp_path):
    ids = [f"2406.{n:05d}" for n in range(1, 12)]
    http_server.route("/api/query", _paged(ids, total=11))
    config = config_at(
        tmp_path,
        f"""
        sources:
          - type: arxiv
            categories: [cs.LG, stat.ML]
            query: 'all:"diffusion"'
            max_results: 5
            url: {http_server.url("/api/query")}
        topics: {{t: {{any: [x]}}}}
        """,
    )
    clock = FakeClock()
    with Fetcher.from_config(config, sleep=clock.sleep, clock=clock) as fetcher:
        context = ReadContext(fetcher, NOW, Collect())
        papers = list(read_arxiv_api(config.sources[0], context, page_size=2))
    assert [p.arxiv_id for p in papers] == ids[:5]
    asked = [(r.query["start"], r.query["max_results"]) for r in http_server.requests]
    assert asked == [("0", "2"), ("2", "2"), ("4", "1")]
    assert clock.sleeps == [3.0, 3.0]
    first = http_server.requests[0].query
    assert first["search_query"] == '(cat:cs.LG OR cat:stat.ML) AND (all:"diffusion")'
    assert first["sortBy"] == "submittedDate" and first["sortOrder"] == "descending"

    # A second run within the hour is served from the cache: no requests, no waiting.
    clock.sleeps.clear()
    with Fetcher.from_config(config, sleep=clock.sleep, clock=clock) as fetcher:
        again = list(read_arxiv_api(config.sources[0], ReadContext(fetcher, NOW, Collect()), page_size=2))
    assert again == papers and len(http_server.requests) == 3 and clock.sleeps == []


def test_an_arxiv_api_page_after_the_first_that_fails_keeps_the_newer_papers_and_names_it(http_server, tmp_path):
    """max_results: 5 in pages of 2 and the second page failed: the two
    newest papers were thrown away with it, and as the only source the run
    sent nothing (exit 2)."""
    ids = [f"2406.{n:05d}" for n in range(1, 12)]
    good = _paged(ids, total=11)
    http_server.route("/api/query", lambda request: Reply(503) if request.query["start"] == "2" else good(request))
    config = config_at(tmp_path, f"""
        sources: [{{type: arxiv, name: ax, categories: [cs.LG], max_results: 5, url: "{http_server.url('/api/query')}"}}]
        topics: {{t: {{any: [x]}}}}
        http: {{retries: 0}}
        """)
    clock = FakeClock()
    warnings = Collect()
    with Fetcher.from_config(config, sleep=clock.sleep, clock=clock) as fetcher:
        papers = list(read_arxiv_api(config.sources[0], ReadContext(fetcher, NOW, warnings), page_size=2))
    assert [p.arxiv_id for p in papers] == ids[:2]
    assert [r.query["start"] for r in http_server.requests] == ["0", "2"]  # not asked past the failure
    [warning] = warnings
    assert warning.startswith(f"{http_server.url('/api/query')}?search_query=cat%3Acs.LG&start=2&")
    assert warning.endswith(": source 'ax': HTTP 503 Service Unavailable (the results from 3 on skipped; "
                            "the 2 newest are used)")

    http_server.route("/api/query", Reply(503))  # the first page failing is the source failing
    clock.sleep(2 * 3600)  # (the cached first page is stale)
    with Fetcher.from_config(config, sleep=clock.sleep, clock=clock) as fetcher, pytest.raises(InputError):
        list(read_arxiv_api(config.sources[0], ReadContext(fetcher, NOW, Collect()), page_size=2))


def test_arxiv_api_stops_at_the_total(http_server, tmp_path):
    ids = [f"2406.{n:05d}" for n in range(1, 4)]
    http_server.route("/api/query", _paged(ids, total=3))
    config = config_at(
        tmp_path,
        f"""
        sources: [{{type: arxiv, categories: [cs.LG], max_results: 1000, url: "{http_server.url('/api/query')}"}}]
        topics: {{t: {{any: [x]}}}}
        """,
    )
    clock = FakeClock()
    with Fetcher.from_config(config, sleep=clock.sleep, clock=clock) as fetcher:
        papers = list(read_arxiv_api(config.sources[0], ReadContext(fetcher, NOW, Collect()), page_size=2))
    assert len(papers) == 3 and len(http_server.requests) == 2


ARXIV_ONLY = """
sources: [{{type: arxiv, name: arXiv, categories: [cs.LG], url: "{url}"}}]
topics: {{t: {{any: [x]}}}}
http: {{retries: 2, backoff: 1}}
"""


def _flaky(total: int = 11) -> Reply:
    """arXiv's known flaky answer: results announced, no entries."""
    return Reply(200, _atom_page([], total=total), {"Content-Type": "application/atom+xml"}, etag='"empty"')


def test_arxiv_answer_announcing_results_without_entries_is_asked_again(http_server, tmp_path):
    ids = [f"2406.{n:05d}" for n in range(1, 4)]
    http_server.route("/api/query", _flaky(), Reply(200, _atom_page(ids, total=3), {"Content-Type": "application/atom+xml"}))
    config = config_at(tmp_path, ARXIV_ONLY.format(url=http_server.url("/api/query")))
    clock = FakeClock()
    papers, warnings = read(config, clock)
    assert [p.arxiv_id for p in papers] == ids and warnings == []
    first, second = http_server.requests
    assert first.query == second.query
    assert "if-none-match" not in second.headers  # asked afresh, not revalidated against the empty answer
    assert clock.sleeps == [1.0, 2.0]  # the configured backoff, topped up to arXiv's 3 s between requests


def test_arxiv_staying_empty_is_a_failure_not_nothing_new(http_server, tmp_path):
    http_server.route("/api/query", _flaky())
    config = config_at(tmp_path, ARXIV_ONLY.format(url=http_server.url("/api/query")))
    clock = FakeClock()
    with pytest.raises(SourcesFailed) as info:
        read(config, clock)
    first, last = str(info.value).splitlines()
    assert first.startswith(http_server.url("/api/query?search_query=cat%3Acs.LG"))
    assert first.endswith(": source 'arXiv': arXiv announced 11 results but sent no entries (gave up after 3 attempts)")
    assert last == "every source failed (1 of 1); no papers were read"
    assert len(http_server.requests) == 3
    assert clock.sleeps == [1.0, 2.0, 2.0, 1.0]  # backoff 1 s, then 2 s, each topped up to arXiv's 3 s spacing
    # The bad answer is not kept: within the hour the next run asks arXiv again.
    http_server.route("/api/query", Reply(200, _atom_page(["2406.00001"], total=1), {"Content-Type": "application/atom+xml"}))
    papers, _ = read(config, clock)
    assert [p.arxiv_id for p in papers] == ["2406.00001"] and len(http_server.requests) == 4


def test_an_arxiv_page_short_of_the_results_announced_is_asked_again_then_named(http_server, tmp_path):
    """A page with some entries but fewer than asked for before the total
    (arXiv drops some now and then) was taken as it was: the others were
    lost without a word.  It is asked again; one that stays short is used,
    and the missing results are named."""
    ids = [f"2406.{n:05d}" for n in range(1, 4)]
    atom = {"Content-Type": "application/atom+xml"}
    http_server.route("/api/query", Reply(200, _atom_page(ids[:1], total=3), atom), Reply(200, _atom_page(ids, total=3), atom))
    config = config_at(tmp_path, ARXIV_ONLY.format(url=http_server.url("/api/query")))
    papers, warnings = read(config)
    assert [p.arxiv_id for p in papers] == ids and warnings == [] and len(http_server.requests) == 2
    http_server.route("/api/query", Reply(200, _atom_page(ids[:2], total=3), atom), Reply(200, _atom_page(ids[:1], total=3), atom))
    (tmp_path / "other").mkdir()  # (a config of its own: no cached answer)
    fresh = config_at(tmp_path / "other", ARXIV_ONLY.format(url=http_server.url("/api/query")))
    papers, warnings = read(fresh)
    assert [p.arxiv_id for p in papers] == ids[:2]  # the fullest answer of the three
    (warning,) = warnings
    assert warning.startswith(http_server.url("/api/query?search_query=cat%3Acs.LG"))
    assert warning.endswith(": source 'arXiv': arXiv sent 2 of the 3 results asked for from 1 on, after 3 attempts; "
                            "the other 1 are missing this run (the next run asks again)")


def test_arxiv_with_no_results_at_all_is_asked_once_and_named(http_server, tmp_path):
    """Newest first over all time, a query arXiv has no paper for is a broken
    query (a misspelt prefix or author), not a quiet day: one warning, each run."""
    http_server.route("/api/query", Reply(200, _atom_page([], total=0), {"Content-Type": "application/atom+xml"}))
    config = config_at(tmp_path, ARXIV_ONLY.format(url=http_server.url("/api/query")))
    papers, warnings = read(config)
    assert papers == [] and len(http_server.requests) == 1
    assert warnings == [
        "source 'arXiv': arXiv has no paper at all for the query 'cat:cs.LG', not just nothing new; check the "
        "query (field prefixes such as ti:, abs:, au:, cat:, and quoting: https://info.arxiv.org/help/api/user-manual.html)"
    ]


def test_an_arxiv_category_arxiv_does_not_have_is_a_located_error(tmp_path, cli):
    """arXiv answers an unknown category with nothing, never an error: the
    config says so at the entry's line, with the category meant."""
    (tmp_path / "c.yaml").write_text(
        "sources:\n"
        "  - type: arxiv\n"
        "    categories: [cs.LGG, stat.ml]\n"
        "  - type: arxiv\n"
        "    feed: rss\n"
        "    categories:\n"
        "      - cs.XX\n"
        "      - foo.BAR\n"
        "topics:\n"
        "  t:\n"
        "    any: [x]\n"
        "    categories: [cs.lg, physics.fludyn]\n"
        "subscribers: [{email: a@example.org, topics: [t]}]\n",
        encoding="utf-8",
    )
    result = cli("--config", str(tmp_path / "c.yaml"), "validate")
    assert result.code == 2 and "Traceback" not in result.err
    lines = result.err.splitlines()
    assert lines[0] == f"{tmp_path / 'c.yaml'}:3: sources[0].categories[0]: 'cs.LGG' is not an arXiv category (did you mean 'cs.LG'?)"
    assert lines[1].startswith(f"{tmp_path / 'c.yaml'}:7: sources[1].categories[0]: 'cs.XX' is not an arXiv category (cs has cs.AI, cs.AR,")
    assert lines[2].startswith(f"{tmp_path / 'c.yaml'}:8: sources[1].categories[1]: 'foo.BAR' is not an arXiv category (the archives are astro-ph,")
    assert lines[3] == (
        f"{tmp_path / 'c.yaml'}:12: topics.t.categories[1]: 'physics.fludyn' is not an arXiv category (did you mean 'physics.flu-dyn'?)"
    )
    assert len(lines) == 4  # stat.ml and cs.lg are arXiv's stat.ML and cs.LG


def test_arxiv_categories_are_spelt_as_arxiv_spells_them():
    from newsletter.config import ARXIV_TAXONOMY, check_arxiv_category

    assert check_arxiv_category("stat.ml") == "stat.ML" and check_arxiv_category("HEP-TH") == "hep-th"
    assert check_arxiv_category("cond-mat.stat-mech") == "cond-mat.stat-mech" and check_arxiv_category("cs") == "cs"
    assert len(ARXIV_TAXONOMY) == 20 and sum(len(s) for s in ARXIV_TAXONOMY.values()) == 146


def test_a_category_as_arxivs_pages_name_it_says_its_code():
    """'Machine Learning (cs.LG)', as an abstract page's Subjects line writes it, got the list of archives."""
    from newsletter.config import check_arxiv_category

    for written, code in (("Machine Learning (cs.LG)", "cs.LG"), ("stat.ML - Machine Learning", "stat.ML"),
                          ("Computation and Language (cs.CL)", "cs.CL")):
        with pytest.raises(ValueError) as info:
            check_arxiv_category(written)
        assert str(info.value) == f"{written!r} is not an arXiv category: write its code alone, {code!r}"


def test_several_categories_in_one_item_say_to_list_them():
    """An alert's categories pasted as one item, 'cs.AI cs.LG', read "not an
    arXiv category" and listed all 40 of cs."""
    from newsletter.config import check_arxiv_category

    for written, listed in (("cs.AI cs.LG", "[cs.AI, cs.LG]"), ("cs.lg, stat.ml", "[cs.LG, stat.ML]"),
                            ("cs.LG OR stat.ML", "[cs.LG, stat.ML]")):
        with pytest.raises(ValueError) as info:
            check_arxiv_category(written)
        assert str(info.value) == f"{written!r} holds 2 categories: list each as its own item, {listed}"


def test_several_categories_in_one_item_name_each_one_the_dotless_and_the_unknown(tmp_path, cli):
    """'cs.LG hep-th' was told to "write its code alone, 'cs.LG'", dropping
    hep-th; 'hep-th quant-ph' was "not an arXiv category" (archives without a
    dot were not looked up); 'cs.AI cs.LG math.XX' listed two and dropped the
    unknown one unsaid.  Each token is looked up; an unknown one is named."""
    write_config(tmp_path, """
sources:
  - {type: arxiv, categories: [cs.LG hep-th, hep-th quant-ph]}
topics:
  t: {any: [x], categories: [cs.AI cs.LG math.XX]}
subscribers: [{email: a@example.org, topics: [t]}]
""", "c.yaml")
    result = cli("--config", str(tmp_path / "c.yaml"), "validate")
    assert result.code == 2 and "Traceback" not in result.err
    lines = result.err.splitlines()
    assert lines[:2] == [
        f"{tmp_path / 'c.yaml'}:2: sources[0].categories[0]: 'cs.LG hep-th' holds 2 categories: list each as its own "
        "item, [cs.LG, hep-th]",
        f"{tmp_path / 'c.yaml'}:2: sources[0].categories[1]: 'hep-th quant-ph' holds 2 categories: list each as its "
        "own item, [hep-th, quant-ph]",
    ], result.err
    assert lines[2].startswith(
        f"{tmp_path / 'c.yaml'}:4: topics.t.categories[0]: 'cs.AI cs.LG math.XX' holds 3 categories: list each as "
        "its own item, [cs.AI, cs.LG, math.XX]; 'math.XX' is not an arXiv category (math has math.AC, "), result.err
    assert len(lines) == 3, result.err


def test_categories_written_as_one_text_without_brackets_are_listed_apart(tmp_path, cli):
    """`categories: cs.LG stat.ML`, an alert's list without brackets, was told
    to write `["cs.LG stat.ML"]`, which is itself an error (several categories
    in one item): each code is its own item in the text to write.  A category
    as arXiv's pages name it stays whole (its own error then names the code)."""
    write_config(tmp_path, """
sources:
  - {type: arxiv, categories: hep-th quant-ph}
topics:
  t: {any: [x], categories: cs.LG OR stat.ML}
  u: {any: [x], categories: Machine Learning (cs.LG)}
subscribers: [{email: a@example.org, topics: [t, u]}]
""", "c.yaml")
    result = cli("--config", str(tmp_path / "c.yaml"), "validate")
    assert result.code == 2 and "Traceback" not in result.err
    assert result.err.splitlines() == [
        f"{tmp_path / 'c.yaml'}:2: sources[0].categories: expected a list, got the text 'hep-th quant-ph': write it "
        "in brackets, [hep-th, quant-ph]",
        f"{tmp_path / 'c.yaml'}:4: topics.t.categories: expected a list, got the text 'cs.LG OR stat.ML': write it "
        'in brackets, ["cs.LG", "stat.ML"]',
        f"{tmp_path / 'c.yaml'}:5: topics.u.categories: expected a list, got the text 'Machine Learning (cs.LG)': "
        'write it in brackets, ["Machine Learning (cs.LG)"]',
    ], result.err


@pytest.mark.parametrize("written, said", [
    ("cs.ML", "machine learning is 'cs.LG', or 'stat.ML'; arXiv has no cs.ML"),  # was: did you mean 'cs.PL'?
    ("cs.RL", "reinforcement learning is in 'cs.LG', machine learning; "),  # was: 'cs.RO', robotics
    ("cs.NN", "neural networks are 'cs.NE', "),  # was: 'cs.NI', networking
    ("cs.SEC", "security is 'cs.CR', "),  # was: 'cs.SE', software engineering
    ("cs.NLP", "natural language processing is 'cs.CL', "),  # was: the list of cs's 40 categories
    ("math.ML", "machine learning is 'cs.LG', or 'stat.ML'"),  # was: 'math.MP', mathematical physics
])
def test_a_subject_code_arxiv_files_elsewhere_names_where(written, said):
    """The nearest spelling of a code people write for a subject named another
    subject: 'cs.ML' was told "did you mean 'cs.PL'?" (programming languages)."""
    from newsletter.config import check_arxiv_category

    with pytest.raises(ValueError) as info:
        check_arxiv_category(written)
    assert str(info.value).startswith(f"{written!r} is not an arXiv category ({said}"), str(info.value)
    assert "did you mean" not in str(info.value)


ARXIV_400 = b"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title type="html">ArXiv Query: search_query=cat:cs.LG AND (all:diffusion&amp;id_list=</title>
  <id>http://arxiv.org/api/UWzh+Yg7RhgQkCAe0CazZj6gCc4</id>
  <opensearch:totalResults xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">1</opensearch:totalResults>
  <entry>
    <id>http://arxiv.org/api/errors#unbalanced_parentheses_in_query</id>
    <title>Error</title>
    <summary>unbalanced parentheses in query</summary>
    <author><name>arXiv api core</name></author>
  </entry>
</feed>"""


def test_arxiv_answering_a_bad_query_with_400_gives_its_reason(http_server, tmp_path):
    http_server.route("/api/query", Reply(400, ARXIV_400, {"Content-Type": "application/atom+xml"}))
    http_server.route("/other/query", Reply(400, b"Bad Request", {"Content-Type": "text/plain"}))
    config = config_at(tmp_path, ARXIV_ONLY.format(url=http_server.url("/api/query")))
    with pytest.raises(SourcesFailed) as info:
        read(config)
    first = info.value.problems[0]
    assert first.file.startswith(http_server.url("/api/query?")) and len(http_server.requests) == 1  # not retried
    assert first.message.endswith("HTTP 400 Bad Request: the arXiv API says: unbalanced parentheses in query")
    config = config_at(tmp_path, ARXIV_ONLY.format(url=http_server.url("/other/query")))
    with pytest.raises(SourcesFailed) as info:
        read(config)
    assert info.value.problems[0].message.endswith("HTTP 400 Bad Request")  # no API document: the status alone


def test_hf_daily_answering_with_an_error_status_gives_the_api_s_reason(http_server, tmp_path):
    """Hugging Face's API says why it refused a request as {"error": "..."};
    the source said only 'HTTP 400 Bad Request'."""
    http_server.route("/api/daily_papers", Reply(400, b'{"error":"\\"date\\" must be a valid date"}',
                                                 {"Content-Type": "application/json"}))
    http_server.route("/other", Reply(400, b"<html>Bad Request</html>", {"Content-Type": "text/html"}))
    for path, said in (("/api/daily_papers", ': the API says: "date" must be a valid date'), ("/other", "")):
        config = config_at(tmp_path, f'sources: [{{type: hf-daily, url: "{http_server.url(path)}"}}]\n'
                                     "topics: {t: {any: [x]}}\n")
        with pytest.raises(SourcesFailed) as info:
            read(config)
        assert info.value.problems[0].message == f"source 'hf-daily': HTTP 400 Bad Request{said}"
    assert len(http_server.requests) == 2  # not retried


@pytest.mark.parametrize("kind", ["feed", "hf-daily", "arxiv"])
def test_an_unusable_answer_is_not_kept_in_the_cache(http_server, tmp_path, kind):
    """A 200 answer that is not the format (an error page, a cut-off document) fails
    the source and is dropped from the cache: the next run, within http.fresh_for,
    asks again and gets the repaired answer instead of failing from disk for an hour."""
    good = {"feed": recorded("feed-rss2.xml"), "hf-daily": recorded("hf-daily-2024-06-07.json"),
            "arxiv": Reply(200, _atom_page(["2406.00001"], total=1), {"Content-Type": "application/atom+xml"})}[kind]
    http_server.route("/src", Reply(200, good.body[: len(good.body) // 2], {"Content-Type": "text/plain"}), good)
    extra = {"feed": "", "hf-daily": ", days: 1", "arxiv": ", categories: [cs.LG]"}[kind]
    config = config_at(tmp_path, f'sources: [{{type: {kind}, name: s, url: "{http_server.url("/src")}"{extra}}}]\n'
                                 "topics: {t: {any: [x]}}\nhttp: {retries: 0}\n")
    clock = FakeClock()
    with pytest.raises(SourcesFailed):
        read(config, clock)
    papers, _ = read(config, clock)  # the same moment: the cache would still be fresh
    assert papers and len(http_server.requests) == 2


@pytest.mark.parametrize("kind", ["feed", "hf-daily", "arxiv"])
@pytest.mark.parametrize("empty", [b"", b"\xef\xbb\xbf\r\n"])
def test_an_empty_200_answer_is_named_empty_and_not_kept_in_the_cache(http_server, tmp_path, kind, empty):
    """A server answering 200 with no body (a CDN's empty object, a
    generator that failed after its headers), or a UTF-8 BOM alone, is no
    list of no papers: the source fails naming it empty, at its URL, and the
    next run asks again.  A feed's BOM alone read "the answer is text, ''"."""
    good = {"feed": recorded("feed-rss2.xml"), "hf-daily": recorded("hf-daily-2024-06-07.json"),
            "arxiv": Reply(200, _atom_page(["2406.00001"], total=1), {"Content-Type": "application/atom+xml"})}[kind]
    http_server.route("/src", Reply(200, empty, dict(good.headers)), good)
    extra = {"feed": "", "hf-daily": ", days: 1", "arxiv": ", categories: [cs.LG]"}[kind]
    config = config_at(tmp_path, f'sources: [{{type: {kind}, name: s, url: "{http_server.url("/src")}"{extra}}}]\n'
                                 "topics: {t: {any: [x]}}\nhttp: {retries: 0}\n")
    clock = FakeClock()
    with pytest.raises(SourcesFailed) as info:
        read(config, clock)
    problem = info.value.problems[0]
    assert problem.message.startswith("source 's': empty document, expected ") and problem.line == 1, problem
    assert problem.file.startswith(http_server.url("/src")), problem.file
    papers, _ = read(config, clock)  # the same moment: the cache would still be fresh
    assert papers and len(http_server.requests) == 2


def test_hf_daily_fetches_the_last_n_days_ending_today(http_server, tmp_path):
    def by_date(request):
        name = f"hf-daily-{request.query['date']}.json"
        return recorded(name) if (DATA / name).exists() else Reply(200, b"[]", {"Content-Type": "application/json"})

    http_server.route("/api/daily_papers", by_date)
    config = config_at(
        tmp_path,
        f"""
        sources: [{{type: hf-daily, days: 3, url: "{http_server.url('/api/daily_papers')}"}}]
        topics: {{t: {{any: [x]}}}}
        """,
    )
    papers, warnings = read(config)  # now = 2024-06-07
    assert [r.query["date"] for r in http_server.requests] == ["2024-06-07", "2024-06-06", "2024-06-05"]
    assert [p.id for p in papers] == ["2406.04321", "2406.05503", "2406.06000", "2406.03987"]
    assert papers[2].title == "VideoGen-Ω: Scaling Text-to-Video Diffusion to Minute-Long Clips"
    assert len(warnings) == 1 and "has no title; skipped" in warnings[0]


def _daily_entries(ids: list[str]) -> bytes:
    return json.dumps([{"paper": {"id": i, "title": f"Paper {i}", "summary": f"About {i}."}} for i in ids]).encode()


def test_hf_daily_reads_every_page_of_a_day_with_more_papers_than_one_answer_holds(http_server, tmp_path):
    """The API answers 50 papers at most unless asked for the next page (p=1, ...):
    a day with 120 lost 70 of them without a word."""
    day = [f"2406.{n:05d}" for n in range(120)]
    pages = {"2024-06-07": [day[:50], day[50:100], day[100:]],  # 50, 50, 20
             "2024-06-06": [[f"2406.9{n:04d}" for n in range(50)], []]}  # exactly 50: the next page is empty

    def by_page(request):
        answer = pages[request.query["date"]][int(request.query.get("p", "0"))]
        return Reply(200, _daily_entries(answer), {"Content-Type": "application/json"})

    http_server.route("/d", by_page)
    config = config_at(tmp_path, f"""
        sources: [{{type: hf-daily, name: hf, days: 2, url: "{http_server.url('/d')}"}}]
        topics: {{t: {{any: [x]}}}}
        """)
    papers, warnings = read(config)
    assert [(r.query["date"], r.query.get("p")) for r in http_server.requests] == [
        ("2024-06-07", None), ("2024-06-07", "1"), ("2024-06-07", "2"), ("2024-06-06", None), ("2024-06-06", "1")]
    assert [p.id for p in papers] == day + pages["2024-06-06"][0]
    assert list(warnings) == []


def test_an_hf_daily_page_after_a_days_first_that_fails_keeps_the_first_and_names_the_rest(http_server, tmp_path):
    first = [f"2406.{n:05d}" for n in range(50)]

    def by_page(request):
        if request.query.get("p"):
            return Reply(503)
        return Reply(200, _daily_entries(first), {"Content-Type": "application/json"})

    http_server.route("/d", by_page)
    config = config_at(tmp_path, f"""
        sources: [{{type: hf-daily, name: hf, days: 1, url: "{http_server.url('/d')}"}}]
        topics: {{t: {{any: [x]}}}}
        http: {{retries: 0}}
        """)
    papers, warnings = read(config)
    assert [p.id for p in papers] == first
    assert list(warnings) == [f"{http_server.url('/d?date=2024-06-07&p=1')}: source 'hf': HTTP 503 Service Unavailable "
                              "(the papers of 2024-06-07 from 51 on skipped; its 50 before are used)"]


def test_hf_daily_from_a_server_that_does_not_page_asks_one_page_more_and_repeats_nothing(http_server, tmp_path):
    """A mirror or proxy answering every p= with the same 50 papers: one more
    request, no paper twice, no endless paging."""
    same = [f"2406.{n:05d}" for n in range(50)]
    http_server.route("/d", Reply(200, _daily_entries(same), {"Content-Type": "application/json"}))
    config = config_at(tmp_path, f"""
        sources: [{{type: hf-daily, name: hf, days: 1, url: "{http_server.url('/d')}"}}]
        topics: {{t: {{any: [x]}}}}
        """)
    papers, _ = read(config)
    assert [p.id for p in papers] == same and len(http_server.requests) == 2


def test_hf_daily_explicit_date(http_server, tmp_path):
    http_server.route("/d", recorded("hf-daily-2024-06-06.json"))
    config = config_at(
        tmp_path,
        f"""
        sources: [{{type: hf-daily, date: 2024-06-06, url: "{http_server.url('/d')}"}}]
        topics: {{t: {{any: [x]}}}}
        """,
    )
    papers, _ = read(config)
    assert [r.query["date"] for r in http_server.requests] == ["2024-06-06"]
    assert {p.upvotes for p in papers} == {103, 8}


def test_hf_daily_with_a_date_to_come_is_an_error_at_its_line(http_server, tmp_path, cli):
    """Hugging Face lists nothing for a day to come: every run read 'nothing
    new' (a typo'd year, 2205-06-07), and validate passed it."""
    http_server.route("/d", recorded("hf-daily-2024-06-06.json"))
    text = f"""
        timezone: TZ
        sources:
          - {{type: hf-daily, name: HF, date: 2024-06-08, url: "{http_server.url('/d')}"}}
        topics: {{t: {{any: [x]}}}}
        """
    config = config_at(tmp_path, text.replace("TZ", "UTC"))
    with pytest.raises(SourcesFailed) as info:
        read(config)  # 2024-06-07 08:00 UTC
    assert str(info.value).splitlines()[0] == f"{tmp_path / 'config.yaml'}:3: " + (
        "sources[0].date: source 'HF': 2024-06-08 is after today (2024-06-07 in UTC): Hugging Face "
        "lists no papers for a day to come, so every run would find nothing new; give a past date, or leave date: "
        "out to end at today"
    )
    assert http_server.requests == []
    # today in the config's time zone: 17:00 in Tokyo is still the 7th, 05:00 the next morning is the 8th
    config = config_at(tmp_path, text.replace("TZ", "Asia/Tokyo"))
    with pytest.raises(SourcesFailed, match=r"after today \(2024-06-07 in Asia/Tokyo\)"):
        read(config)
    papers = read_papers(config, Collect(), now=datetime(2024, 6, 7, 20, 0, tzinfo=UTC))
    assert [r.query["date"] for r in http_server.requests] == ["2024-06-08"] and papers
    # behind UTC: at 20:00 in Los Angeles it is the 8th in UTC, which the daily papers follow
    config = config_at(tmp_path, text.replace("TZ", "America/Los_Angeles"))
    assert read_papers(config, Collect(), now=datetime(2024, 6, 8, 3, 0, tzinfo=UTC))  # (from the cache)

    # validate names it without fetching; with --fetch too, once
    write_config(tmp_path, text.replace("TZ", "UTC"))
    for extra in ((), ("--fetch",)):
        r = cli("validate", "--now", "2024-06-07T08:00:00+00:00", *extra)
        assert r.code == 2 and "Traceback" not in r.err
        assert [line for line in r.err.splitlines() if "after today" in line] == [
            "config.yaml:3: sources[0].date: source 'HF': 2024-06-08 is after today (2024-06-07 in UTC): Hugging "
            "Face lists no papers for a day to come, so every run would find nothing new; give a past date, or leave "
            "date: out to end at today"
        ], r.err
    assert cli("validate", "--now", "2024-06-08T00:00:00+00:00").code == 0
    assert len(http_server.requests) == 1  # only the Tokyo read above fetched


MERGE_CONFIG = """
sources:
  - type: hf-papers-text
    name: export
    path: export.txt
  - type: arxiv
    name: arXiv ML
    categories: [cs.LG, stat.ML]
    query: 'all:"diffusion"'
    url: {api}
  - type: hf-daily
    name: HF daily
    date: 2024-06-07
    url: {hf}
  - type: feed
    name: reading group
    url: {feed}
topics:
  bridges:
    any: ["Schrödinger bridge*"]
  tanaka:
    any: ["Kenji Tanaka"]
    fields: [authors]
  optim:
    categories: [math.OC]
  fluid:
    any: ["neural operator*"]
    categories: [physics.flu-dyn]
subscribers:
  - email: ada@example.org
    topics: [bridges, tanaka, optim, fluid]
    pin: ["Olusegun Adeyemi"]
"""


@pytest.fixture
def merged_sources(http_server, tmp_path):
    http_server.route("/api/query", recorded("arxiv-api.xml"))
    http_server.route("/api/daily_papers", recorded("hf-daily-2024-06-07.json"))
    http_server.route("/feed.xml", recorded("feed-rss2.xml", headers={"Content-Type": "application/rss+xml"}))
    (tmp_path / "export.txt").write_bytes(data("hf-papers-overlap.txt"))
    return config_at(
        tmp_path,
        MERGE_CONFIG.format(
            api=http_server.url("/api/query"), hf=http_server.url("/api/daily_papers"), feed=http_server.url("/feed.xml")
        ),
    )


def test_one_paper_from_export_arxiv_hf_and_feed_keeps_the_richest_fields(merged_sources):
    papers, warnings = read(merged_sources)
    same = [p for p in papers if "schrödinger bridge" in p.title.casefold()]
    assert len(same) == 1
    paper = same[0]
    assert paper.id == "2406.04321"
    assert paper.source == "export, arXiv ML, HF daily, reading group"
    assert paper.authors == ("Ana Müller", "Kenji Tanaka", "Zoë O'Brien")
    assert paper.url == "https://arxiv.org/abs/2406.04321"
    assert paper.pdf_url == "https://arxiv.org/pdf/2406.04321v2"
    assert paper.abstract.endswith("at equal sample quality.")  # the full abstract, not the export's first sentence
    assert paper.categories[:3] == ("stat.ML", "cs.LG", "math.PR")
    assert paper.upvotes == 57 and paper.github and "optimal transport" in paper.keywords
    assert paper.published == datetime(2024, 6, 6, 17, 59, 58, tzinfo=UTC)
    assert len({p.id for p in papers}) == len(papers)
    # The feed's PDF link to 2406.01010 merged with the arXiv entry too.
    assert sum(p.arxiv_id == "2406.01010" for p in papers) == 1
    assert any(p.title == "Gradient Noise Scale Predicts the Critical Batch Size" for p in papers)
    assert len(warnings) == 2  # the HF item and the feed entry without titles


def test_title_only_export_first_then_arxiv_is_one_paper_with_the_arxiv_id():
    from newsletter.models import Paper, merge_papers

    export = Paper(title="Score-based diffusion models for Schrödinger-bridge problems", abstract="Short.", source="export")
    arxiv = parse_arxiv(data("arxiv-api.xml"), "api.xml", "arxiv", Collect()).papers[0]
    hf = parse_hf_daily(data("hf-daily-2024-06-07.json"), "hf.json", "hf", Collect())[0]
    (one,) = merge_papers([export, arxiv, hf])
    assert one.id == "2406.04321" and one.url == arxiv.url and one.authors == arxiv.authors
    assert one.upvotes == 57 and one.abstract == arxiv.abstract
    # The other way round, and a second export spelling the title the HF way, still one paper.
    variant = Paper(title="SCORE-BASED DIFFUSION MODELS FOR SCHRÖDINGER BRIDGE PROBLEMS", abstract="x", source="e2")
    assert len(merge_papers([hf, arxiv, export, variant])) == 1


def test_titles_without_a_letter_or_digit_stay_distinct_papers():
    """Their normalised title was empty, so every one of them was the same
    paper: four such papers in an export came out as one."""
    from newsletter.models import Paper, merge_papers

    titles = ["???", "…", "🤗🤗", "🚀", "  ???  "]
    merged = merge_papers([Paper(title=t, abstract=f"Abstract {i}.", source="s") for i, t in enumerate(titles)])
    assert [p.id for p in merged] == ["???", "…", "🤗🤗", "🚀"]


def test_an_old_style_arxiv_id_with_its_subject_class_is_the_same_paper():
    """``math.GT/0309136`` (how old papers are cited, and linked from feeds) is
    arXiv's ``math/0309136``: the two were two papers, sent twice."""
    from newsletter.models import Paper, arxiv_base_id, merge_papers

    atom = b"""<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>q</title><id>x</id>
      <entry><id>http://arxiv.org/abs/math/0309136v1</id><title>The entropy formula for the Ricci flow</title>
      <summary>We present a monotonic expression for the Ricci flow.</summary><updated>2003-09-10T00:00:00Z</updated>
      </entry></feed>"""
    (api,) = parse_arxiv(atom, "api.xml", "arxiv", Collect()).papers
    cited = Paper(title="Ricci flow with surgery (the entropy paper)", abstract="x", source="s",
                  arxiv_id="math.GT/0309136v2")
    assert api.id == cited.id == "math/0309136"
    (one,) = merge_papers([api, cited])
    assert one.url == "https://arxiv.org/abs/math/0309136"
    assert arxiv_base_id("hep-th/9901001v3") == "hep-th/9901001" and arxiv_base_id("2401.01234v2") == "2401.01234"


def test_a_withdrawn_arxiv_paper_is_not_a_paper_to_send():
    """A withdrawn paper's entry keeps its title, its abstract says it was
    withdrawn: it went out in digests, its title matching a topic, as
    "This paper has been withdrawn by the author due to a crucial error"."""
    def entry(n: int, summary: str, comment: str = "") -> str:
        more = f"<arxiv:comment>{comment}</arxiv:comment>" if comment else ""
        return (f"<entry><id>http://arxiv.org/abs/2406.0000{n}v2</id><title>Diffusion Paper {n}</title>"
                f"<summary>{summary}</summary>{more}<updated>2024-06-06T00:00:00Z</updated></entry>")

    atom = ('<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom" '
            'xmlns:arxiv="http://arxiv.org/schemas/atom"><title>q</title><id>x</id>'
            + entry(1, "This paper has been withdrawn by the author due to a crucial error in Theorem 2.")
            + entry(2, "We study diffusion models.", "This paper has been withdrawn")
            + entry(3, "Withdrawn.")
            + entry(4, "This submission has been withdrawn by arXiv administrators due to inappropriate text reuse.")
            + entry(5, "We show that withdrawn papers can be predicted from citation graphs.", "12 pages")
            + entry(6, "Withdrawn drugs leave traces in adverse event reports. " * 10)
            + "</feed>").encode()
    warnings = Collect()
    listing = parse_arxiv(atom, "api.xml", "arxiv", warnings)
    assert [p.title for p in listing.papers] == ["Diffusion Paper 5", "Diffusion Paper 6"]
    assert listing.entries == 6 and warnings == []


def test_compatibility_characters_fold_so_one_title_written_two_ways_is_one_paper():
    from newsletter.models import Paper, merge_papers

    titles = ["Eﬃcient ﬁne-tuning of H₂O models", "Efficient fine-tuning of H2O models",
              "Ｅｆｆｉｃｉｅｎｔ fine tuning of H2O models"]
    merged = merge_papers([Paper(title=t, abstract=f"Abstract {i}.", source="s") for i, t in enumerate(titles)])
    assert [p.id for p in merged] == ["efficient fine tuning of h2o models"]


def test_author_and_category_rules_and_pins_on_arxiv_papers(merged_sources):
    papers, _ = read(merged_sources)
    (sub,) = merged_sources.subscribers
    selected = Matcher(merged_sources.topics).index(papers).select(sub)
    by_id = {m.paper.id: m for m in selected}
    # fields: [authors] matched Kenji Tanaka on two arXiv papers
    assert {pid for pid, m in by_id.items() if "tanaka" in m.topics} == {"2406.04321", "2406.02555"}
    assert by_id["2406.02555"].hits[0].field == "authors"
    # categories: [math.OC] picks the cross-listed SGD paper
    assert [pid for pid, m in by_id.items() if "optim" in m.topics] == ["2406.03987"]
    # categories + terms: only the flu-dyn paper about neural operators
    assert [pid for pid, m in by_id.items() if "fluid" in m.topics] == ["2406.01010"]
    # the pinned author's paper comes first although it scores lower
    assert selected[0].paper.id == "2406.01010" and selected[0].pinned
    assert "2405.19876" not in by_id  # cs.CL paper, no rule wants it


# --------------------------------------------------------------------------- failures


FAILING = """
sources:
  - type: hf-papers-text
    path: export.txt
  - type: feed
    name: flaky blog
    url: {down}
    required: {required}
topics: {{t: {{any: [x]}}}}
http: {{retries: 2, backoff: 1}}
"""


def test_a_failing_source_is_reported_and_the_others_are_used(http_server, tmp_path):
    http_server.route("/down", Reply(500, b"boom"))
    (tmp_path / "export.txt").write_bytes(data("hf-papers-overlap.txt"))
    config = config_at(tmp_path, FAILING.format(down=http_server.url("/down"), required="false"))
    clock = FakeClock()
    papers, warnings = read(config, clock)
    assert len(papers) == 2
    assert warnings == [
        f"{http_server.url('/down')}: source 'flaky blog': HTTP 500 Internal Server Error (gave up after 3 attempts)"
        " (sources[1] skipped; the other sources are used)"
    ]
    assert clock.sleeps == [1.0, 2.0]


def test_a_failing_required_source_stops_the_run(http_server, tmp_path):
    http_server.route("/down", Reply(503))
    (tmp_path / "export.txt").write_bytes(data("hf-papers-overlap.txt"))
    config = config_at(tmp_path, FAILING.format(down=http_server.url("/down"), required="true"))
    with pytest.raises(InputError) as info:
        read(config)
    assert "source 'flaky blog': HTTP 503 Service Unavailable" in str(info.value)


def _daily_with_a_failing_day(http_server, failing: set[str]):
    """The recorded days, an empty list for the others, a 500 for the days in ``failing``."""
    def by_date(request):
        day = request.query["date"]
        name = f"hf-daily-{day}.json"
        if day in failing:
            return Reply(500, b"boom")
        return recorded(name) if (DATA / name).exists() else Reply(200, b"[]", {"Content-Type": "application/json"})

    http_server.route("/d", by_date)


def test_an_hf_daily_day_that_fails_is_named_and_the_other_days_are_read(http_server, tmp_path):
    """days: 3 and the middle day's page failed: the whole source failed, the
    two days that had come were thrown away, and as the only source the run
    sent nothing (exit 2)."""
    _daily_with_a_failing_day(http_server, {"2024-06-06"})
    config = config_at(tmp_path, f"""
        sources: [{{type: hf-daily, name: hf, days: 3, url: "{http_server.url('/d')}"}}]
        topics: {{t: {{any: [x]}}}}
        http: {{retries: 0}}
        """)
    papers, warnings = read(config)
    assert [r.query["date"] for r in http_server.requests] == ["2024-06-07", "2024-06-06", "2024-06-05"]
    assert [p.id for p in papers] == ["2406.04321", "2406.05503"]  # 2024-06-07's (2024-06-05 is empty)
    assert [w for w in warnings if "skipped" in w and "title" not in w] == [
        f"{http_server.url('/d?date=2024-06-06')}: source 'hf': HTTP 500 Internal Server Error "
        "(the day 2024-06-06 skipped; the other days of the source are used)"
    ]


def test_hf_daily_days_failing_before_any_came_fail_the_source_without_asking_the_rest(http_server, tmp_path):
    """Two days in a row and none read is the server, not a day: the source
    fails naming both, and the other five days are not asked (each would
    have waited through the retries)."""
    _daily_with_a_failing_day(http_server, {"2024-06-07", "2024-06-06"})
    config = config_at(tmp_path, f"""
        sources: [{{type: hf-daily, name: hf, days: 7, url: "{http_server.url('/d')}"}}]
        topics: {{t: {{any: [x]}}}}
        http: {{retries: 0}}
        """)
    with pytest.raises(SourcesFailed) as info:  # its only source: no papers is an outage, not "nothing new"
        read(config)
    assert len(http_server.requests) == 2
    assert str(info.value).splitlines() == [
        f"{http_server.url('/d?date=2024-06-07')}: source 'hf': HTTP 500 Internal Server Error",
        f"{http_server.url('/d?date=2024-06-06')}: source 'hf': HTTP 500 Internal Server Error",
        "every source failed (1 of 1); no papers were read",
    ]


def test_hf_daily_days_failing_two_in_a_row_after_one_came_leave_the_rest_unasked_and_named(http_server, tmp_path):
    """A server gone down after the first day: each of the other days waited
    through the retries before failing; after two in a row the rest are not
    asked, and said so."""
    _daily_with_a_failing_day(http_server, {"2024-06-06", "2024-06-05", "2024-06-04", "2024-06-03"})
    config = config_at(tmp_path, f"""
        sources: [{{type: hf-daily, name: hf, days: 5, url: "{http_server.url('/d')}"}}]
        topics: {{t: {{any: [x]}}}}
        http: {{retries: 0}}
        """)
    papers, warnings = read(config)
    assert [r.query["date"] for r in http_server.requests] == ["2024-06-07", "2024-06-06", "2024-06-05"]
    assert [p.id for p in papers] == ["2406.04321", "2406.05503"]
    assert [w for w in warnings if "title" not in w] == [
        f"{http_server.url('/d?date=2024-06-06')}: source 'hf': HTTP 500 Internal Server Error "
        "(the day 2024-06-06 skipped; the other days of the source are used)",
        f"{http_server.url('/d?date=2024-06-05')}: source 'hf': HTTP 500 Internal Server Error "
        "(the day 2024-06-05 skipped; the other days of the source are used)",
        f"{http_server.url('/d')}: source 'hf': the days 2024-06-03 to 2024-06-04 not asked after the failures "
        "above (skipped; the other days of the source are used)",
    ]


def test_hf_daily_told_to_stop_after_a_day_asks_no_more_and_names_no_day_skipped(http_server, tmp_path):
    """run's SIGTERM between two days: the rest are not asked, and no day is
    called failed (the source is not read this time, as any other stopped)."""
    _daily_with_a_failing_day(http_server, set())
    config = config_at(tmp_path, f"""
        sources: [{{type: hf-daily, name: hf, days: 3, url: "{http_server.url('/d')}"}}]
        topics: {{t: {{any: [x]}}}}
        """)
    clock, warnings = FakeClock(), Collect()
    with Fetcher.from_config(config, sleep=clock.sleep, clock=clock, stop=lambda: bool(http_server.requests)) as f, \
            pytest.raises(InputError, match="stop requested"):
        read_papers(config, warnings, fetcher=f, now=NOW)
    assert len(http_server.requests) == 1 and not [w for w in warnings if "skipped;" in w and "title" not in w]


def test_papers_with_an_hf_daily_day_failing_lists_the_other_days_and_names_it(http_server, tmp_path, cli):
    """The real command: exit 0 (the source was read), one warning line naming the day and its URL."""
    _daily_with_a_failing_day(http_server, {"2024-06-06"})
    write_config(tmp_path, f"""
        sources: [{{type: hf-daily, name: hf, days: 2, date: 2024-06-07, url: "{http_server.url('/d')}"}}]
        topics: {{t: {{any: [video]}}}}
        http: {{retries: 0}}
        """)
    result = cli("papers", "--json")
    assert result.code == 0, result.err
    assert {p["id"] for p in json.loads(result.out)} == {"2406.04321", "2406.05503"}
    assert "Traceback" not in result.err
    assert [line for line in result.err.splitlines() if "2024-06-06" in line] == [
        f"warning: {http_server.url('/d?date=2024-06-06')}: source 'hf': HTTP 500 Internal Server Error "
        "(the day 2024-06-06 skipped; the other days of the source are used)"
    ]


# --------------------------------------------------------------------------- config and validate


@pytest.mark.parametrize(
    "source, message",
    [
        ("{type: arxiv}", "config.yaml:2: sources[0]: an arxiv source needs 'query' and/or 'categories'"),
        ("{type: arxiv, categories: [CS LG]}", "config.yaml:2: sources[0].categories[0]: 'CS LG' is not an arXiv category (did you mean 'cs.LG'?)"),
        ("{type: arxiv, categories: [cs.LG], announce_type: [new]}", "config.yaml:2: sources[0]: 'announce_type' needs 'feed: rss'"),
        ("{type: arxiv, feed: rss, categories: [cs.LG], announce_type: [neu]}", "config.yaml:2: sources[0].announce_type[0]: expected 'new', 'cross', 'replace' or 'replace-cross'"),
        ("{type: arxiv, feed: rss}", "config.yaml:2: sources[0]: an arxiv source with 'feed: rss' needs 'categories'"),
        ("{type: hf-daily, date: 7 June}", "config.yaml:2: sources[0].date: '7 June' is not a date in the form YYYY-MM-DD"),
        ("{type: feed, url: 'ftp://example.org/x'}", "config.yaml:2: sources[0].url: 'ftp://example.org/x' is not an http:// or https:// URL"),
        # a slip of where the feed is: said what to write
        ("{type: feed, url: 'file:///srv/feed.xml'}",
         "config.yaml:2: sources[0].url: 'file:///srv/feed.xml' is not an http:// or https:// URL (a saved file is given as path:)"),
        ("{type: feed, url: 'feeds/lab.xml'}",
         "config.yaml:2: sources[0].url: 'feeds/lab.xml' is not an http:// or https:// URL (a saved file is given as path:)"),
        ("{type: feed, url: 'lab.example.org/feed.xml'}",
         "config.yaml:2: sources[0].url: 'lab.example.org/feed.xml' is not an http:// or https:// URL "
         "(did you mean 'https://lab.example.org/feed.xml'?)"),
        ("{type: feed, path: nothere.xml}", "config.yaml:2: sources[0].path: 'nothere.xml': no such file"),
        # no host, or a port no server has: at the first request they read 'redirected to a URL that
        # is not http(s)' and 'is this machine offline?'
        ("{type: feed, url: 'http://:80/feed'}", "config.yaml:2: sources[0].url: 'http://:80/feed' names no host"),
        ("{type: feed, url: 'https://x.org:99999/f'}",
         "config.yaml:2: sources[0].url: 'https://x.org:99999/f' is not a valid URL (Port out of range 0-65535)"),
        # a glob of saved feeds: it was "no such file", of files that are there
        ("{type: feed, path: 'feeds/*.xml'}", "config.yaml:2: sources[0].path: 'feeds/*.xml' is a glob (2 files): feed "
         "reads one saved file; give each file a source of its own (globs and folders are for hf-papers-text exports)"),
        # what is there instead of a file is named, not called missing
        ("{type: feed, path: /dev/zero}", "config.yaml:2: sources[0].path: '/dev/zero' is a device, not a regular file"),
        ("{type: hf-daily, path: /tmp}", "config.yaml:2: sources[0].path: '/tmp' is a folder, not a file"),
        ("{type: hf-papers-text, path: /dev/null}", "config.yaml:2: sources[0].path: '/dev/null' is a device, not a regular"),
    ],
)
def test_source_config_errors_have_file_and_line(tmp_path, source, message):
    (tmp_path / "feeds").mkdir()
    for name in ("a.xml", "b.xml"):
        (tmp_path / "feeds" / name).write_bytes(data("feed-rss2.xml"))
    write_config(tmp_path, f"sources:\n  - {source}\ntopics: {{t: {{any: [x]}}}}\n")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "config.yaml")
    assert any(str(p).replace(str(tmp_path / "config.yaml"), "config.yaml").startswith(message) for p in info.value.problems), info.value


def test_http_settings_are_validated(tmp_path):
    write_config(tmp_path, "sources: [{type: feed, url: 'https://x.org/f'}]\ntopics: {t: {any: [x]}}\nhttp:\n  retries: -1\n  timout: 3\n")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "config.yaml")
    text = str(info.value).replace(str(tmp_path / "config.yaml"), "config.yaml")
    assert "config.yaml:4: http.retries: expected greater than or equal to 0" in text
    assert "config.yaml:5: http.timout: unknown key 'timout' (did you mean 'timeout'?)" in text


def test_cache_folder_is_beside_the_config(tmp_path):
    write_config(tmp_path, "sources: [{type: feed, url: 'https://x.org/f'}]\ntopics: {t: {any: [x]}}\n")
    config = load_config(tmp_path / "config.yaml")
    assert config.cache_dir == tmp_path / ".cache" and config.http.fresh_for == 3600


def test_validate_parses_local_files_and_does_not_fetch(http_server, tmp_path):
    http_server.route("/feed.xml", recorded("feed-rss2.xml"))
    (tmp_path / "api.xml").write_bytes(data("arxiv-api.xml"))
    (tmp_path / "daily.json").write_bytes(data("hf-daily-2024-06-06.json"))
    text = f"""
    sources:
      - {{type: arxiv, path: api.xml}}
      - {{type: hf-daily, path: daily.json}}
      - {{type: feed, url: "{http_server.url('/feed.xml')}"}}
    topics: {{t: {{any: [x]}}}}
    """
    summary = pipeline.validate(config_at(tmp_path, text))
    assert summary.papers == 6 and summary.unfetched == 1  # 2406.03987 is in both files
    assert "3 sources (6 papers, 1 remote not fetched)" in str(summary)
    assert http_server.requests == []
    # nothing fetched into the cache: only the config as read and the templates' compiled code are there
    assert sorted(p.name for p in (tmp_path / ".cache").iterdir()) == ["config", "templates"]

    (tmp_path / "api.xml").write_bytes(data("arxiv-api.xml")[:3000])
    with pytest.raises(NewsletterError) as info:
        pipeline.validate(config_at(tmp_path, text))
    assert re.search(r"api\.xml:\d+: source 'arxiv': not a well-formed feed", str(info.value))


# --------------------------------------------------------------------------- the command, end to end


E2E = """
sources:
  - type: arxiv
    name: arXiv ML
    categories: [cs.LG, stat.ML]
    query: 'all:"diffusion"'
    url: {base}/api/query
  - type: arxiv
    name: arXiv today
    feed: rss
    categories: [cs.LG, stat.ML]
    announce_type: [new]
    url: {base}/atom/cs.LG+stat.ML
  - type: hf-daily
    date: 2024-06-07
    url: {base}/api/daily_papers
  - type: feed
    name: reading group
    url: {base}/feed.xml
  - type: feed
    name: broken mirror
    url: {base}/down
    required: {required}
topics:
  diffusion:
    any: ["diffusion model*", "score-based"]
subscribers:
  - email: ada@example.org
    topics: [diffusion]
http:
  retries: 1
  backoff: 0
"""


def _serve_all(http_server):
    http_server.route("/api/query", recorded("arxiv-api.xml"))
    http_server.route("/atom/cs.LG+stat.ML", recorded("arxiv-rss.xml"))
    http_server.route("/api/daily_papers", recorded("hf-daily-2024-06-07.json", etag='"hf-0607"'))
    http_server.route("/feed.xml", recorded("feed-rss2.xml"))
    http_server.route("/down", Reply(500, b"Internal error"))


def test_papers_json_from_live_sources_end_to_end(http_server, tmp_path, cli):
    _serve_all(http_server)
    write_config(tmp_path, E2E.format(base=http_server.url(), required="false"))
    r = cli("papers", "--json")
    assert r.code == 0, r.err
    papers = json.loads(r.out)
    ids = [p["id"] for p in papers]
    assert len(ids) == len(set(ids))
    assert {"2406.04321", "2406.03987", "2406.05501", "2406.05503"} <= set(ids)
    assert "2406.06000" not in ids  # on the HF list of another day
    assert "2406.05502" not in ids  # a cross-list, and only [new] was wanted
    sb = next(p for p in papers if p["id"] == "2406.04321")
    assert sb["authors"] == ["Ana Müller", "Kenji Tanaka", "Zoë O'Brien"]
    assert sb["upvotes"] == 57 and sb["published"] == "2024-06-06T17:59:58+00:00"
    assert sb["source"] == "arXiv ML, hf-daily, reading group"
    assert any(p["id"] == "why attention sinks appear and how to remove them" for p in papers)
    # The broken source is named, with its URL, and did not stop the others.
    assert "source 'broken mirror'" in r.err and f"{http_server.url('/down')}" in r.err and "HTTP 500" in r.err
    assert "has no title; skipped" in r.err
    assert "Traceback" not in r.err and "HTTP Request:" not in r.err  # httpx's chatter stays behind -v
    assert len(http_server.requests_to("/down")) == 2
    assert http_server.requests_to("/api/query")[0].query["search_query"] == '(cat:cs.LG OR cat:stat.ML) AND (all:"diffusion")'

    # Run again at once: every working source comes from the cache, no requests.
    before = len(http_server.requests)
    again = cli("match", "--json")
    assert again.code == 0, again.err
    assert [r.path for r in http_server.requests[before:]] == ["/down", "/down"]  # failures are not cached
    matched = json.loads(again.out)["subscribers"][0]["papers"]
    assert matched and matched[0]["id"] == "2406.04321"


def test_required_source_failing_exits_2_end_to_end(http_server, tmp_path, cli):
    _serve_all(http_server)
    write_config(tmp_path, E2E.format(base=http_server.url(), required="true"))
    r = cli("papers")
    assert r.code == 2
    assert r.err.strip().splitlines()[-1] == (
        f"{http_server.url('/down')}: source 'broken mirror': HTTP 500 Internal Server Error (gave up after 2 attempts)"
    )
    assert "Traceback" not in r.err


def test_validate_end_to_end_does_not_fetch(http_server, tmp_path, cli):
    _serve_all(http_server)
    write_config(tmp_path, E2E.format(base=http_server.url(), required="true"))
    r = cli("validate")
    assert r.code == 0, r.err
    assert "5 sources (0 papers, 5 remote not fetched)" in r.out
    assert http_server.requests == []


def test_arxiv_rss2_feed_read_as_a_plain_feed():
    body = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns:dc="http://purl.org/dc/elements/1.1/" version="2.0">
  <channel>
    <title>cs.LG updates on arXiv.org</title>
    <link>http://rss.arxiv.org/rss/cs.LG</link>
    <description>cs.LG updates on the arXiv.org e-print archive.</description>
    <item>
      <title>Flow Matching on Lie Groups</title>
      <link>https://arxiv.org/abs/2406.05501</link>
      <description>arXiv:2406.05501v1 Announce Type: new
Abstract: We extend flow matching to Lie groups.</description>
      <guid isPermaLink="false">oai:arXiv.org:2406.05501v1</guid>
      <category>cs.LG</category>
      <pubDate>Tue, 11 Jun 2024 00:00:00 -0400</pubDate>
      <arxiv:announce_type>new</arxiv:announce_type>
      <dc:creator>Ingrid Solberg, Rafael Costa</dc:creator>
    </item>
  </channel>
</rss>"""
    (paper,) = parse_feed(body, "rss", "arXiv rss", Collect())
    assert paper.arxiv_id == "2406.05501" and paper.abstract == "We extend flow matching to Lie groups."
    assert paper.authors == ("Ingrid Solberg", "Rafael Costa") and paper.categories == ("cs.LG",)
    assert paper.published == datetime(2024, 6, 11, 4, 0, tzinfo=UTC)


def test_arxiv_rss2_feed_as_a_plain_feed_keeps_the_version_announced_and_drops_a_withdrawal():
    """rss.arxiv.org/rss/cs.LG given as `type: feed`: a replacement's guid
    names its version (v2: its text is the newer when the v1 is read too, as
    `type: arxiv` reads it), and a replacement whose abstract is arXiv's
    withdrawal notice is no paper; it went out as 'This paper has been
    withdrawn by the authors'."""
    feed = data("arxiv-rss2.xml")
    papers = parse_feed(feed, "rss.xml", "arXiv rss", Collect())
    assert [(p.arxiv_id, p.version) for p in papers] == [("2406.05501", 1), ("2406.02950", 2)]
    assert papers == [dataclasses.replace(p, source="arXiv rss")
                      for p in parse_arxiv(feed, "rss.xml", "x", Collect()).papers] != []
    assert papers[1].pdf_url == "https://arxiv.org/pdf/2406.02950v2"


def test_a_broken_local_file_is_an_error_unless_marked_optional(tmp_path, cli):
    """A saved feed read from path: is the user's file: broken means exit 2, like an
    export; `required: false` makes it one more optional source."""
    (tmp_path / "feed.xml").write_text("<rss><channel><item><title>Cut off", encoding="utf-8")
    (tmp_path / "papers").mkdir()
    (tmp_path / "papers" / "x.txt").write_bytes((DATA / "hf-papers-blank-lines-2.txt").read_bytes())
    base = "sources:\n  - type: hf-papers-text\n    path: papers/\n  - type: feed\n    path: feed.xml\n{extra}topics: {{t: {{any: [x]}}}}\n"
    (tmp_path / "config.yaml").write_text(base.format(extra=""), encoding="utf-8")
    r = cli("papers")
    assert r.code == 2 and r.err.startswith("feed.xml:") and "Traceback" not in r.err
    (tmp_path / "config.yaml").write_text(base.format(extra="    required: false\n"), encoding="utf-8")
    r = cli("papers", "--json")
    assert r.code == 0, r.err
    assert "skipped" in r.err and len(json.loads(r.out)) == 44


# --------------------------------------------------------------------------- hostile links (issue 17)

HOSTILE_LINKS = {
    "Diffusion one": "javascript:alert(document.cookie)",
    "Diffusion two": "  JaVaScRiPt:alert(1)",
    "Diffusion three": "\n\t VBScript:msgbox(1)",
    "Diffusion four": "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "Diffusion five": "java\tscript:alert(2)",
}


def test_only_web_links_reach_an_href(cli, tmp_path):
    """A feed's javascript:/data:/vbscript: links (any case, behind spaces or
    control characters) never become an href; the title links to an arXiv
    page or a title search instead."""
    from email import message_from_bytes, policy

    items = "".join(
        f"<item><title>{title} model</title><link>{link}</link>"
        f"<description>A diffusion model paper.</description></item>"
        for title, link in HOSTILE_LINKS.items()
    )
    items += (
        "<item><title>Diffusion six model</title><link>javascript:alert(3)</link>"
        "<guid>http://arxiv.org/abs/2406.01234v2</guid><description>A diffusion model paper.</description></item>"
    )
    (tmp_path / "feed.xml").write_text(
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{items}</channel></rss>', encoding="utf-8"
    )
    write_config(
        tmp_path,
        """
        sources:
          - type: feed
            path: feed.xml
        topics:
          diffusion:
            any: ["diffusion"]
        subscribers:
          - email: ada@example.org
            topics: [diffusion]
        """,
    )
    result = cli("send")
    assert result.code == 0, result.err
    [eml] = (tmp_path / "outbox").glob("*.eml")
    message = message_from_bytes(eml.read_bytes(), policy=policy.default)
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    hrefs = re.findall(r'href="([^"]*)"', html)
    assert hrefs
    for href in hrefs:
        assert re.match(r"^(https?:|mailto:|#)", href), href
    for bad in ("javascript", "vbscript", "data:text"):
        assert bad not in html.lower() and bad not in text.lower()
    assert "https://arxiv.org/search/?query=Diffusion+one+model" in html


@pytest.mark.parametrize(
    "url",
    ["javascript:alert(1)", " \x01\x02JAVASCRIPT:alert(1)", "\x00data:text/html,x", "vbscript:x", "jav\nascript:x",
     "file:///etc/passwd", "//evil.example/x", "https://", "http://a b/"],
)
def test_a_paper_keeps_no_link_that_is_not_http(url):
    from newsletter.models import Paper

    paper = Paper("T", "A", "s", url=url, pdf_url=url, github=url)
    assert (paper.url, paper.pdf_url, paper.github) == (None, None, None)
    assert Paper("T", "A", "s", url=" https://x.org/a\n").url == "https://x.org/a"


def test_every_source_failing_is_loud_for_papers_and_match_too(http_server, tmp_path, cli):
    http_server.route("/feed.xml", Reply(500, b"boom"))
    write_config(tmp_path, f"""
sources: [{{type: feed, name: blog, url: "{http_server.url('/feed.xml')}"}}]
topics: {{t: {{any: [x]}}}}
http: {{retries: 0}}
""")
    for command in ("papers", "match"):
        r = cli(command)
        assert r.code == 2, command
        assert r.err.strip().splitlines() == [
            f"{http_server.url('/feed.xml')}: source 'blog': HTTP 500 Internal Server Error",
            "every source failed (1 of 1); no papers were read",
        ]
        assert r.out == ""


def _closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on: a connection there is refused."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_every_source_unreachable_says_what_to_do_offline(tmp_path, cli, monkeypatch):
    """A first run of the starter on a machine without a network said only
    'no network?' per source; a newcomer offline had no way on."""
    for variable in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(variable, raising=False)
    write_config(tmp_path, f"""
sources:
  - {{type: feed, name: lab, url: "https://feeds.example.invalid/lab.xml"}}
  - {{type: hf-daily, name: hf, url: "http://127.0.0.1:{_closed_port()}/api/daily_papers"}}
topics: {{t: {{any: [x]}}}}
http: {{retries: 0}}
""")
    hint = ("no source's host could be reached: is this machine offline? Without a network, give each source a "
            "saved copy instead, `path: saved.xml` in place of its URL (README \"Offline\")")
    for command in (("papers",), ("validate", "--fetch")):
        r = cli(*command)
        assert r.code == 2, command
        lines = r.err.strip().splitlines()
        assert "source 'lab': cannot find the host 'feeds.example.invalid'" in lines[0], lines
        assert "source 'hf': connection failed" in lines[1], lines
        assert lines[2] == hint, command
        assert "Traceback" not in r.err
        if command == ("papers",):
            assert lines[3:] == ["every source failed (2 of 2); no papers were read"]


def test_every_connection_refused_is_no_sign_of_being_offline(tmp_path, cli, monkeypatch):
    """A local source on 127.0.0.1 with nothing listening (a server not
    started, a wrong port) was asked 'is this machine offline?': the host
    answered, with a reset, so the network works.  The ports are held bound,
    not listening, so nothing else takes them while the test runs."""
    import socket

    for variable in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(variable, raising=False)
    with socket.socket() as one, socket.socket() as other:
        one.bind(("127.0.0.1", 0))
        other.bind(("127.0.0.1", 0))
        write_config(tmp_path, f"""
sources:
  - {{type: feed, name: lab, url: "http://127.0.0.1:{one.getsockname()[1]}/lab.xml"}}
  - {{type: hf-daily, name: hf, url: "http://127.0.0.1:{other.getsockname()[1]}/api/daily_papers"}}
topics: {{t: {{any: [x]}}}}
subscribers: [{{email: ada@example.org, topics: [t]}}]
http: {{retries: 0}}
""")
        for command in (("send",), ("validate", "--fetch")):
            r = cli(*command)
            assert r.code == 2, (command, r.err)
            lines = r.err.strip().splitlines()
            assert "source 'lab': connection failed" in lines[0] and "source 'hf': connection failed" in lines[1]
            assert lines[2] == ("every source's host refused the connection: the network works, but nothing listens "
                                "there (a server down, or a wrong port or URL in the source)"), (command, lines)
            assert "offline" not in r.err and "Traceback" not in r.err
        assert not (tmp_path / "outbox").exists() or not list((tmp_path / "outbox").iterdir())


def test_a_source_that_answers_is_no_sign_of_being_offline(http_server, tmp_path, cli, monkeypatch):
    """An HTTP error means the network works: no advice to work offline."""
    for variable in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(variable, raising=False)
    http_server.route("/feed.xml", Reply(503, b"down"))
    write_config(tmp_path, f"""
sources:
  - {{type: feed, name: blog, url: "{http_server.url('/feed.xml')}"}}
  - {{type: hf-daily, name: hf, url: "http://127.0.0.1:{_closed_port()}/api/daily_papers"}}
topics: {{t: {{any: [x]}}}}
http: {{retries: 0}}
""")
    r = cli("papers")
    assert r.code == 2
    assert "offline" not in r.err and r.err.strip().splitlines()[-1].startswith("every source failed (2 of 2)")


def test_a_source_of_malformed_entries_fails_loudly_and_does_not_stop_the_others(http_server, tmp_path, cli):
    """End to end over HTTP: an hf-daily answer whose items all lack id and title (the
    API changed) and a feed answering a login page are failed sources, named with
    their URLs; next to a working feed the papers go out from it; alone, exit 2."""
    http_server.route("/api/daily_papers", Reply(body=b'[{"paper": {"arxiv_id": "2406.1"}}]'))
    http_server.route("/login", Reply(body=b"<html><body>Please sign in</body></html>",
                                      headers={"Content-Type": "text/html"}))
    http_server.route("/feed.xml", recorded("feed-rss2.xml"))
    broken = (
        f'  - {{type: hf-daily, name: hf, days: 1, url: "{http_server.url("/api/daily_papers")}"}}\n'
        f'  - {{type: feed, name: lab, url: "{http_server.url("/login")}"}}\n'
    )
    good = f'  - {{type: feed, name: group, url: "{http_server.url("/feed.xml")}"}}\n'
    rest = "topics: {t: {any: [x]}}\nhttp: {retries: 0}\n"
    write_config(tmp_path, "sources:\n" + broken + good + rest)
    r = cli("papers", "--json")
    assert r.code == 0, r.err
    assert len(json.loads(r.out)) == 3
    assert f"{http_server.url('/api/daily_papers')}?date=" in r.err and "source 'hf': no usable entry" in r.err
    assert f"{http_server.url('/login')}:1: source 'lab': an HTML page, not an RSS or Atom feed (an error page" in r.err
    write_config(tmp_path, "sources:\n" + broken + rest)
    r = cli("papers")
    assert r.code == 2 and r.out == "" and "Traceback" not in r.err
    lines = r.err.strip().splitlines()
    assert len(lines) == 3 and lines[-1] == "every source failed (2 of 2); no papers were read"
    assert "source 'hf': no usable entry: item 1 has no id; a changed format?" in lines[0]


def test_a_hostile_abstract_does_not_crash_the_run(tmp_path, cli):
    """Braces nested 5,000 deep (more than LaTeX conversion can recurse into) in one
    entry: the run goes on, the entry keeps its text as written."""
    deep = "$" + "{" * 5000 + "$"
    (tmp_path / "feed.xml").write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><link>https://x.org/</link>'
        "<description>d</description>"
        f"<item><title>Deep</title><link>https://x.org/a</link><description>{deep}</description></item>"
        "<item><title>Flat $x^2$</title><link>https://x.org/b</link><description>Fine.</description></item>"
        "</channel></rss>",
        encoding="utf-8",
    )
    write_config(tmp_path, "sources: [{type: feed, path: feed.xml}]\ntopics: {t: {any: [x]}}\n")
    r = cli("papers", "--json")
    assert r.code == 0 and "Traceback" not in r.err, r.err
    deep_paper, flat = json.loads(r.out)
    assert "{" * 5000 in deep_paper["abstract"] and flat["title"] == "Flat x²"


@pytest.mark.parametrize("kind", ["feed", "arxiv", "hf-daily"])
def test_a_pdf_saved_where_a_feed_goes_is_named_as_a_pdf(tmp_path, cli, kind):
    """A feed's path: holding a PDF got the export's advice ("the export is the
    papers page's text; ... select all, copy"), meant for hf-papers-text."""
    (tmp_path / "saved").write_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n")
    (tmp_path / "pic").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    expected = {"hf-daily": "the JSON list of daily papers", "arxiv": "an arXiv API answer or feed"}.get(
        kind, "an RSS or Atom feed")
    for name, what in (("saved", "a PDF file"), ("pic", "a PNG image")):
        write_config(tmp_path, f"""
sources:
  - {{type: {kind}, name: mine, path: {name}}}
topics: {{t: {{any: [x]}}}}
""")
        r = cli("papers")
        assert r.code == 2 and "Traceback" not in r.err
        assert r.err.strip() == f"{name}:1: source 'mine': {what}, not {expected} (is the path right?)"


def test_a_gzip_packed_saved_feed_is_still_read(tmp_path, cli):
    import gzip

    feed = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><link>https://x.org/</link>
      <description>d</description><item><title>Flow Matching on Lie Groups</title>
      <link>https://arxiv.org/abs/2406.05501</link></item></channel></rss>"""
    (tmp_path / "feed.xml.gz").write_bytes(gzip.compress(feed))
    write_config(tmp_path, """
sources:
  - {type: feed, name: mine, path: feed.xml.gz}
topics: {t: {any: [x]}}
""")
    r = cli("papers", "--json")
    assert r.code == 0, r.err
    assert [p["id"] for p in json.loads(r.out)] == ["2406.05501"]


JSON_FEED = {
    "version": "https://jsonfeed.org/version/1.1",
    "title": "Lab reading list",
    "home_page_url": "https://lab.example.org/",
    "items": [
        {"id": "1", "url": "https://arxiv.org/abs/2406.05501v2", "title": "Flow Matching on Lie Groups",
         "content_html": "<p>We extend flow matching to <em>Lie groups</em> &amp; more.</p>",
         "authors": [{"name": "Ingrid Solberg"}, {"name": "Rafael Costa"}], "tags": ["flows"],
         "date_published": "2024-06-07T10:00:00+02:00"},
        {"id": "2", "url": "/notes/2", "title": "A note on <b> tags", "content_text": "Plain text, kept as is.",
         "author": {"name": "Ada"}},
        {"id": "3", "content_text": "a micro-post with no title"},
    ],
}


def test_a_json_feed_is_read_like_rss(http_server, tmp_path, cli):
    """JSON Feed (jsonfeed.org) 1 and 1.1: it was 'a JSON document, not an RSS
    or Atom feed', even when an HTML page named it as its feed and the
    message said to give that URL."""
    http_server.route("/feed.json", Reply(body=json.dumps(JSON_FEED).encode(),
                                          headers={"Content-Type": "application/feed+json"}))
    write_config(tmp_path, f"""
sources:
  - {{type: feed, name: lab, url: "{http_server.url('/feed.json')}"}}
topics: {{t: {{any: [x]}}}}
""")
    r = cli("papers", "--json")
    assert r.code == 0, r.err
    first, second = json.loads(r.out)
    assert first["id"] == "2406.05501" and first["url"] == "https://arxiv.org/abs/2406.05501"
    assert first["abstract"] == "We extend flow matching to Lie groups & more."
    assert first["authors"] == ["Ingrid Solberg", "Rafael Costa"]
    assert first["published"] == "2024-06-07T08:00:00+00:00"
    assert second["title"] == "A note on <b> tags" and second["abstract"] == "Plain text, kept as is."
    assert second["url"] == http_server.url("/notes/2") and second["authors"] == ["Ada"]
    assert "item 3 (3) has no title; skipped" in r.err  # like an RSS item without one


def test_a_json_feed_broken_or_without_items_is_a_located_error():
    body = json.dumps(JSON_FEED, indent=1).encode()
    with pytest.raises(InputError) as info:
        parse_feed(body[:300], "f.json", "lab", Collect())
    assert re.fullmatch(r"f\.json:\d+: source 'lab': invalid JSON \(.*\); truncated\?", str(info.value))
    with pytest.raises(InputError) as info:
        parse_feed(b'{"version": "https://jsonfeed.org/version/1", "title": "x"}', "f.json", "lab", Collect())
    assert str(info.value) == "f.json:1: source 'lab': a JSON Feed without its list of items"
    with pytest.raises(InputError, match="no usable entry: item 1 has no title"):
        parse_feed(b'{"version": "https://jsonfeed.org/version/1", "items": [{"id": 1}]}', "f.json", "lab", Collect())


def test_a_json_feed_item_skipped_is_named_at_its_line():
    """A JSON Feed's item without a title (or that is no object) was warned
    of as 'item 3 (3) has no title' with no line to look at in a feed of
    hundreds: each is now named at the line its item starts on, a feed on one
    line at line 1, and a feed of no usable item fails at its first item's line."""
    body = json.dumps(JSON_FEED, indent=1).encode()
    third = [n for n, line in enumerate(body.decode().splitlines(), 1) if line == "  {"][2]
    warnings = Collect()
    assert len(parse_feed(body, "f.json", "lab", warnings)) == 2
    assert warnings[0] == f"f.json:{third}: source 'lab': item 3 (3) has no title; skipped", warnings
    warnings = Collect()
    parse_feed(json.dumps(JSON_FEED).encode(), "f.json", "lab", warnings)
    assert warnings[0] == "f.json:1: source 'lab': item 3 (3) has no title; skipped", warnings
    listed = b'{"version": "https://jsonfeed.org/version/1",\n "title": "[x]", "items": [\n  "a post",\n  {"id": 1}]}'
    with pytest.raises(InputError) as info:
        parse_feed(listed, "f.json", "lab", Collect())
    assert str(info.value) == ("f.json:3: source 'lab': no usable entry: item 1 is not an object (and 1 more); a "
                               "changed format?")


def test_markup_in_a_feed_title_is_shown_as_its_text():
    """feedparser takes an RSS title for text: a journal's `<i>E. coli</i>` (in
    CDATA or escaped) showed its tags in the email; a lone `<b>` or a
    `<script>` stays text (escaped when shown)."""
    body = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>j</title><link>https://j.org/</link>
      <description>d</description>
      <item><title><![CDATA[Growth of <i>E. coli</i> in H<sub>2</sub>O]]></title><link>https://j.org/1</link></item>
      <item><title>Spin &lt;em&gt;glasses&lt;/em&gt;&lt;br/&gt;revisited</title><link>https://j.org/2</link></item>
      <item><title><![CDATA[A note on <b> tags, and n < m]]></title><link>https://j.org/3</link></item>
      <item><title><![CDATA[<i>x</i><script>alert(1)</script>]]></title><link>https://j.org/4</link></item>
    </channel></rss>"""
    papers = list(parse_feed(body, "j.xml", "journal", Collect()))
    assert [p.title for p in papers] == ["Growth of E. coli in H₂O", "Spin glasses revisited",
                                         "A note on <b> tags, and n < m", "<i>x</i><script>alert(1)</script>"]
    assert papers[0].id == "growth of e coli in h2o"  # the same paper as another source's "H2O"


def test_sub_and_superscripts_in_a_feed_show_raised_and_lowered_where_unicode_has_them():
    body = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>j</title><link>https://j.org/</link>
      <description>d</description>
      <item><title>Water</title><link>https://j.org/1</link>
        <description>&lt;p&gt;Rates scale as n&lt;sup&gt;2&lt;/sup&gt; and x&lt;sub&gt;i+1&lt;/sub&gt;;
        Ada&lt;sup&gt;Corresponding author&lt;/sup&gt; and p &amp;lt; 0.05.&lt;/p&gt;</description></item>
    </channel></rss>"""
    (paper,) = parse_feed(body, "j.xml", "journal", Collect())
    assert paper.abstract == "Rates scale as n² and xᵢ₊₁; AdaCorresponding author and p < 0.05."


def test_a_script_tag_nested_in_the_other_kind_closes_the_innermost_of_its_kind():
    """`</sub>` closes the `<sub>` even when a `<sup>` opened inside it was
    never closed: the text after it is raised, as the `<sup>` still is."""
    assert html_text("x<sup>2<sub>1</sub>3</sup>4") == "x²₁³4"
    assert html_text("a<sub>1<sup>2</sub>3</sup>") == "a₁²³"


def test_a_private_feeds_password_and_token_never_show_in_messages_or_links(http_server, tmp_path, cli):
    """`url: https://ada:s3cret@host/feed.xml?token=t0ken` was printed whole in
    every failure line and warning (cron mails them); a relative link in such
    a feed put the password into every email's link."""
    http_server.route("/down.xml", Reply(500, b"Internal error"))
    body = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><link>notes/</link>
      <description>d</description><item><title>A private note</title><link>/notes/1</link></item></channel></rss>"""
    http_server.route("/feed.xml", Reply(body=body, headers={"Content-Type": "application/rss+xml"}))
    private = http_server.url("/").replace("http://", "http://ada:s3cret@")
    write_config(tmp_path, f"""
sources:
  - {{type: feed, name: lab, url: "{private}feed.xml?token=t0ken&page=2"}}
  - {{type: feed, name: down, url: "{private}down.xml?api_key=k3y"}}
topics: {{t: {{any: [note]}}}}
http: {{retries: 0}}
""")
    r = cli("papers", "--json")
    assert r.code == 0, r.err
    assert "s3cret" not in r.out + r.err and "t0ken" not in r.out + r.err and "k3y" not in r.out + r.err
    shown = http_server.url("/").replace("http://", "http://ada:***@")
    assert f"{shown}down.xml?api_key=***: source 'down': HTTP 500 Internal Server Error" in r.err
    [paper] = json.loads(r.out)
    assert paper["url"] == http_server.url("/notes/1")  # no user, no password
    assert http_server.requests[0].headers["authorization"].startswith("Basic ")  # still sent to the server
    r = cli("validate", "--fetch")
    assert r.code == 2 and "s3cret" not in r.out + r.err and "k3y" not in r.out + r.err
    assert f"sources[1] 'down' ({shown}down.xml?api_key=***): FAILED" in r.out


def test_a_json_document_in_utf16_with_its_bom_is_read(tmp_path, cli):
    """A daily papers JSON saved by PowerShell (Out-File writes UTF-16 with a
    BOM) was 'not UTF-8 text, expected JSON'; JSON's own rules read it."""
    items = [{"paper": {"id": "2406.09999", "title": "Schrödinger Bridges", "summary": "Café."}}]
    (tmp_path / "daily.json").write_bytes(json.dumps(items, ensure_ascii=False).encode("utf-16"))
    (tmp_path / "feed.json").write_bytes(json.dumps(JSON_FEED).encode("utf-16-le"))  # no BOM: told by its zeros
    write_config(tmp_path, """
sources:
  - {type: hf-daily, path: daily.json}
  - {type: feed, path: feed.json}
topics: {t: {any: [x]}}
""")
    r = cli("papers", "--json")
    assert r.code == 0, r.err
    papers = json.loads(r.out)
    assert [(p["title"], p["abstract"][:5]) for p in papers] == [
        ("Schrödinger Bridges", "Café."), ("Flow Matching on Lie Groups", "We ex"), ("A note on <b> tags", "Plain")]
    # Windows' "ANSI" (PowerShell 5's Set-Content, a server's ISO-8859-1) is read, as an export is;
    # it was 'not UTF-8 text'.  UTF-8 with a stray byte in it is damaged, and still named so.
    ansi = '[{"paper": {"id": "1", "title": "Café “Schrödinger”", "authors": [{"name": "Amélie"}]}}]'.encode("cp1252")
    (paper,) = parse_hf_daily(ansi, "f", "src", Collect())
    assert (paper.title, paper.authors) == ("Café “Schrödinger”", ("Amélie",))
    (paper,) = parse_feed(json.dumps({**JSON_FEED, "items": [{"id": "1", "title": "Café"}]}, ensure_ascii=False)
                          .encode("latin-1"), "f", "src", Collect())
    assert paper.title == "Café"
    with pytest.raises(InputError, match=r"^f:1: source 'src': not UTF-8 text, expected JSON$"):
        parse_hf_daily('[{"paper": {"id": "1", "title": "Café", "summary": "Naïve"}}]'.encode().replace(b"\xc3\xa9", b"\xe9"),
                       "f", "src", Collect())


def test_an_arxiv_guid_or_doi_in_a_feed_gives_the_arxiv_id():
    body = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>x</title><link>https://x.org/</link>
      <description>d</description>
      <item><title>By guid</title><guid isPermaLink="false">oai:arXiv.org:2406.05501v1</guid></item>
      <item><title>By DOI</title><link>https://doi.org/10.48550/arXiv.2406.05502</link></item>
      <item><title>By arXiv: id</title><guid isPermaLink="false">arXiv:2406.05503v2</guid></item>
      <item><title>A journal DOI</title><link>https://doi.org/10.1038/s41586-024-07421-0</link></item>
      <item><title>By alphaXiv</title><link>https://www.alphaxiv.org/overview/2406.05504v1</link></item>
    </channel></rss>"""
    papers = parse_feed(body, "f.xml", "blog", Collect())
    assert [p.arxiv_id for p in papers] == ["2406.05501", "2406.05502", "2406.05503", None, "2406.05504"]
    assert papers[4].url == "https://arxiv.org/abs/2406.05504"  # as like: and match --paper read such a link
    assert papers[3].url == "https://doi.org/10.1038/s41586-024-07421-0"


def test_a_packed_feed_served_as_a_file_is_read_unpacked(http_server, tmp_path, cli):
    """https://.../feed.xml.gz served as application/gzip (no Content-Encoding)
    was 'gzip-packed data, not an RSS or Atom feed (is the address right?)';
    a local path: was read unpacked already."""
    import bz2
    import gzip

    feed = (DATA / "feed-rss2.xml").read_bytes()
    http_server.route("/feed.xml.gz", Reply(body=gzip.compress(feed), headers={"Content-Type": "application/gzip"}))
    http_server.route("/feed.xml.bz2", Reply(body=bz2.compress(feed)))
    http_server.route("/cut.xml.gz", Reply(body=gzip.compress(feed)[:-20]))
    write_config(tmp_path, f"""
sources:
  - {{type: feed, name: gz, url: "{http_server.url('/feed.xml.gz')}"}}
  - {{type: feed, name: bz2, url: "{http_server.url('/feed.xml.bz2')}"}}
topics: {{t: {{any: [x]}}}}
""")
    r = cli("papers", "--json")
    assert r.code == 0, r.err
    expected = parse_feed(feed, "f", "x", Collect())
    assert len(json.loads(r.out)) == len(expected) > 0
    write_config(tmp_path, f"""
sources:
  - {{type: feed, name: cut, url: "{http_server.url('/cut.xml.gz')}"}}
topics: {{t: {{any: [x]}}}}
""")
    r = cli("papers")
    assert r.code == 2 and "Traceback" not in r.err
    assert f"{http_server.url('/cut.xml.gz')}:1: source 'cut': packed by gzip but cut off" in r.err


@pytest.mark.parametrize("path, hint", [
    ("/papers", "Hugging Face's papers page has no feed; `type: hf-daily` reads its daily papers"),
    ("/list/cs.LG/new", "arXiv's pages are no feed; `type: arxiv` reads its API, and with `feed: rss` and "
                        "`categories:` the day's announcements"),
])
def test_a_sites_own_page_given_as_a_feed_says_what_reads_it(path, hint):
    """It said '(an error page or a login wall?)', sending the user after a fault."""
    page = b"<!doctype html><html><head><title>Daily Papers</title></head><body>...</body></html>"
    for host in ("https://huggingface.co", "https://arxiv.org"):
        url = host + path
        with pytest.raises(InputError) as info:
            parse_feed(page, url, "src", Collect())
        if (host == "https://huggingface.co") == (path == "/papers"):
            assert str(info.value) == f"{url}:1: source 'src': an HTML page, not an RSS or Atom feed: {hint}"
        else:
            assert str(info.value).endswith("(an error page or a login wall?)")


def test_control_characters_in_json_text_are_dropped(tmp_path, cli):
    """JSON carries "\\u001b[2J" and "\\u0000" where XML cannot: they reached the
    terminal through `papers` (an escape sequence clears it, sets its title)
    and the email's text part; PostgreSQL refuses a NUL."""
    items = [{"paper": {"id": "2406.05501", "title": "Evil\u001b]0;pwned\u0007 \u001b[2Jtitle\u0000",
                        "summary": "An abstract\u001b[31m in red.\u0085", "authors": [{"name": "Ada\u0000 Lovelace"}]}}]
    (tmp_path / "daily.json").write_text(json.dumps(items))
    (tmp_path / "feed.json").write_text(json.dumps({
        "version": "https://jsonfeed.org/version/1.1",
        "items": [{"id": "1", "title": "Bell\u0007 paper", "content_text": "Text\u009b1m."}]}))
    write_config(tmp_path, """
sources:
  - {type: hf-daily, path: daily.json}
  - {type: feed, path: feed.json}
topics: {t: {any: [x]}}
""")
    r = cli("papers", "--json")
    assert r.code == 0, r.err
    first, second = json.loads(r.out)
    assert (first["title"], first["abstract"], first["authors"]) == (
        "Evil]0;pwned [2Jtitle", "An abstract[31m in red.", ["Ada Lovelace"])
    assert (second["title"], second["abstract"]) == ("Bell paper", "Text1m.")
    r = cli("papers")
    assert r.code == 0 and not re.search(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]", r.out)


def test_a_date_beyond_what_a_datetime_holds_is_an_unknown_date_not_a_traceback(tmp_path, cli):
    """`9999-12-31T23:59:59-12:00` is in year 10000 in UTC: a feed, a JSON Feed
    or the daily papers with it stopped `papers` with a traceback."""
    far = "9999-12-31T23:59:59-12:00"
    (tmp_path / "f.xml").write_text(f"""<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>
      <entry><title>Far future</title><id>urn:1</id><updated>{far}</updated></entry>
      <entry><title>Year zero</title><id>urn:2</id><updated>0001-01-01T00:00:00+14:00</updated></entry></feed>""")
    (tmp_path / "f.json").write_text(json.dumps({"version": "https://jsonfeed.org/version/1.1", "items": [
        {"id": "1", "title": "Far JSON", "date_published": far}]}))
    (tmp_path / "d.json").write_text(json.dumps([{"paper": {"id": "2406.05501", "title": "Far daily",
                                                            "publishedAt": far}}]))
    write_config(tmp_path, """
sources:
  - {type: feed, path: f.xml}
  - {type: feed, path: f.json}
  - {type: hf-daily, path: d.json}
topics: {t: {any: [x]}}
""")
    r = cli("papers", "--json")
    assert r.code == 0 and "Traceback" not in r.err, r.err
    assert [(p["title"], p["published"]) for p in json.loads(r.out)] == [
        ("Far future", None), ("Year zero", None), ("Far JSON", None), ("Far daily", None)]


def test_hf_daily_fields_of_another_type_than_promised_are_unknown_values():
    """An answer whose `authors` or `ai_keywords` became a number or an object,
    or whose item title is not text, stopped the read with a TypeError."""
    body = json.dumps([
        {"paper": {"id": "2406.05501", "title": "Flow Matching", "authors": 3, "ai_keywords": {"a": 1}}},
        {"paper": {"id": "2406.05502", "title": 7}, "title": 8},
        {"paper": {"id": "2406.05503", "title": "Third", "authors": "Ada", "summary": ["x"]}},
    ]).encode()
    warnings = Collect()
    papers = parse_hf_daily(body, "d.json", "hf", warnings)
    assert [(p.arxiv_id, p.title, p.authors, p.keywords, p.abstract) for p in papers] == [
        ("2406.05501", "Flow Matching", (), (), ""), ("2406.05503", "Third", (), (), "")]
    assert warnings[0] == "d.json:1: source 'hf': item 2 (2406.05502) has no title; skipped"
    assert warnings[1].startswith("d.json: source 'hf': item 1 (2406.05501) and 1 more without a summary: ")
    assert len(warnings) == 2


def test_hf_daily_ids_a_tool_wrote_as_numbers_are_the_arxiv_ids_they_were():
    """A list passed through pandas writes "2406.06000" as 2406.06: it was the
    paper "2406.06", linked to https://huggingface.co/papers/2406.06 (no such page)."""
    body = (b'[{"paper": {"id": 2406.06, "title": "Trailing Zeros"}}, {"paper": {"id": 1412.698, "title": "Adam"}},'
            b' {"paper": {"id": 704.0001, "title": "The First"}}, {"paper": {"id": 12.5, "title": "No arXiv Id"}}]')
    papers = parse_hf_daily(body, "d.json", "hf", Collect())
    assert [(p.arxiv_id, p.url) for p in papers[:3]] == [
        ("2406.06000", "https://arxiv.org/abs/2406.06000"), ("1412.6980", "https://arxiv.org/abs/1412.6980"),
        ("0704.0001", "https://arxiv.org/abs/0704.0001")]
    assert (papers[3].arxiv_id, papers[3].id) == (None, "no arxiv id")


def test_control_characters_and_bare_ampersands_in_a_feed_do_not_sink_it(tmp_path, http_server):
    """XML forbids a control character (as is or as ``&#8;``), a reference to a
    surrogate and a bare ``&``; feeds carry them (a post pasted from a word
    processor, "R&D", a link's query).  expat stopped at the first, and every
    item of the feed was lost: now they are dropped (a bare ``&`` escaped),
    and CDATA keeps its ``&`` as written."""
    items = (
        "<item><title>R&D at AT&T:\x0bnotes</title><link>https://x.org/p?a=1&b=2</link>"
        "<description>Fast&#8; sampling&#x1b;\x08 &#xD800;&#x110000;&#0; now &#8212; done</description></item>"
        "<item><title><![CDATA[Q&A \x0c<b>time</b>]]></title><link>https://x.org/q</link>"
        "<description>Second &#233;.</description></item>"
    )
    body = (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
            f"<link>https://x.org/</link><description>d</description>{items}</channel></rss>").encode()
    first, second = parse_feed(body, "f.xml", "blog", Collect())
    assert (first.title, first.url, first.abstract) == ("R&D at AT&T: notes", "https://x.org/p?a=1&b=2",
                                                        "Fast sampling now — done")
    assert (second.title, second.abstract) == ("Q&A time", "Second é.")
    http_server.route("/blog/feed.xml", Reply(body=body, headers={"Content-Type": "application/rss+xml"}))
    config = config_at(tmp_path, f"sources: [{{type: feed, name: blog, url: '{http_server.url('/blog/feed.xml')}'}}]\n"
                                 "topics: {t: {any: [x]}}\n")
    papers, _ = read(config)
    assert [p.title for p in papers] == ["R&D at AT&T: notes", "Q&A time"]


def test_a_utf16_feed_is_not_taken_for_control_characters():
    body = data("feed-rss2.xml").decode("utf-8").replace('encoding="UTF-8"', 'encoding="UTF-16"')
    for encoded in (body.encode("utf-16"), body.encode("utf-16-le")):
        assert len(parse_feed(encoded, "f.xml", "blog", Collect())) == 3


@pytest.mark.parametrize("junk", [
    b"<br />\n<b>Warning</b>:  Undefined variable $id in <b>/var/www/feed.php</b> on line <b>12</b><br />\n",
    b"Deprecated: Function get_magic_quotes_gpc() is deprecated in /var/www/wp-includes/load.php on line 651\n",
])
def test_a_php_warning_printed_before_the_feed_is_not_the_feed(junk):
    """A site whose PHP prints a warning before the XML: expat stopped at once
    ("XML or text declaration not at start of entity", "junk after document
    element") and every item was lost.  A cut feed after it still fails, at
    the line of the whole answer."""
    body = data("feed-rss2.xml")
    assert [p.title for p in parse_feed(junk + body, "f.xml", "blog", Collect())] == [
        p.title for p in parse_feed(body, "f.xml", "blog", Collect())
    ]
    cut = junk + body[: len(body) // 2]
    with pytest.raises(InputError) as info:
        parse_feed(cut, "f.xml", "blog", Collect())
    assert info.value.problems[0].line == cut.count(b"\n") + 1


def test_an_answer_that_is_text_is_quoted(tmp_path, http_server):
    """arXiv's API answers "Rate exceeded." when asked too often: it read
    "not a well-formed feed (syntax error); truncated or not XML?"."""
    http_server.route("/api/query", Reply(body=b"Rate exceeded.\n", headers={"Content-Type": "text/plain"}))
    config = config_at(tmp_path, f"sources: [{{type: arxiv, categories: [cs.LG], url: '{http_server.url('/api/query')}'}}]\n"
                                 "topics: {t: {any: [x]}}\n")
    with pytest.raises(SourcesFailed) as info:
        read(config)
    message = str(info.value).splitlines()[0]
    assert message.endswith(":1: source 'arxiv': not an arXiv API answer or feed: the answer is text, 'Rate exceeded.'"), message


def test_soft_hyphens_and_bidi_overrides_show_nothing_and_split_no_word(tmp_path, http_server):
    """A site's ``&shy;`` (hyphenation hints) kept "Neu\\u00adral" in the feed's
    title: the keyword "neural" missed it, and the same paper from an export
    (without it) went out twice.  A bidi override turned the rest of a title
    around on screen."""
    title = "Neural Operators for Turbulent Flows"
    feed = ('<?xml version="1.0"?><rss version="2.0"><channel><title>lab</title><item>'
            "<title>Neu&shy;ral Op&#173;er\u200bators for Tur\u2060bulent Flows</title><link>https://lab.example.org/1</link>"
            "<description>We train neu&shy;ral operators.</description></item></channel></rss>").encode()
    http_server.route("/feed.xml", Reply(body=feed, headers={"Content-Type": "application/rss+xml"}))
    (tmp_path / "papers").mkdir()
    header = "Get trending papers in your email inbox!\n\nSubscribe\n\nDaily Papers\n\n"
    (tmp_path / "papers" / "day.txt").write_text(
        f"{header}{title}\n\nWe train neural operators on turbulent flows.\n\n"
        "Safe Sampling \u202egnp.exe\n\nA paper whose title turns around on screen.\n", encoding="utf-8")
    config = config_at(tmp_path, "sources:\n  - type: hf-papers-text\n    path: papers/\n"
                                 f"  - {{type: feed, name: lab, url: '{http_server.url('/feed.xml')}'}}\n"
                                 "topics: {t: {any: [neural operator*]}}\n")
    papers, _ = read(config)
    assert [p.title for p in papers] == [title, "Safe Sampling gnp.exe"]
    assert papers[0].abstract == "We train neural operators on turbulent flows."
    (alone,) = parse_feed(feed, "feed.xml", "lab", Collect())
    assert (alone.title, alone.abstract) == (title, "We train neural operators.")


def test_daily_papers_as_json_lines_or_one_entry_are_read(tmp_path):
    """``curl .../api/daily_papers | jq -c '.[]' > day.jsonl`` saves one entry a
    line: it was "invalid JSON (Extra data ...); truncated?".  One paper's own
    JSON (an entry alone) was "expected a JSON list, got dict"."""
    entries = json.loads(data("hf-daily-2024-06-07.json"))
    expected = [p.title for p in parse_hf_daily(data("hf-daily-2024-06-07.json"), "day.json", "hf", Collect())]
    (tmp_path / "day.jsonl").write_text("\n".join(json.dumps(e) for e in entries) + "\n\n", encoding="utf-8")
    (tmp_path / "one.json").write_text(json.dumps(entries[0]["paper"]), encoding="utf-8")
    config = config_at(tmp_path, "sources:\n  - {type: hf-daily, path: day.jsonl}\n  - {type: hf-daily, path: one.json}\n"
                                 "topics: {t: {any: [x]}}\n")
    papers, _ = read(config)
    assert [p.title for p in papers] == expected
    cut = "\n".join(json.dumps(e) for e in entries)[:-40].encode()
    with pytest.raises(InputError) as info:
        parse_hf_daily(cut, "cut.jsonl", "hf", Collect())
    assert "invalid JSON" in str(info.value)


def test_an_entry_with_only_html_content_shows_its_text_not_its_tags(tmp_path, http_server):
    """Atom's <content type="html"> or RSS's content:encoded with no summary:
    feedparser copies it into the summary with no type, and the email showed
    "<p>Some <b>notes</b>.</p>" as its abstract.  A text content keeps a
    tag it writes as text."""
    atom = (b'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>'
            b"<id>urn:x</id><updated>2024-06-10T00:00:00Z</updated>"
            b'<entry><title>Content only</title><link href="https://x.org/1"/><id>urn:1</id>'
            b'<updated>2024-06-10T00:00:00Z</updated><content type="html">&lt;p&gt;Some &lt;b&gt;notes&lt;/b&gt; '
            b"&amp;amp; more.&lt;/p&gt;</content></entry>"
            b'<entry><title>Text content</title><link href="https://x.org/2"/><id>urn:2</id>'
            b'<updated>2024-06-10T00:00:00Z</updated><content type="text">Use a &lt;b&gt; tag.</content></entry></feed>')
    rss = (b'<?xml version="1.0"?><rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">'
           b"<channel><title>t</title><item><title>Encoded only</title><link>https://x.org/3</link>"
           b"<content:encoded><![CDATA[<p>Some <em>notes</em> here.</p>]]></content:encoded></item></channel></rss>")
    http_server.route("/atom.xml", Reply(body=atom, headers={"Content-Type": "application/atom+xml"}))
    http_server.route("/rss.xml", Reply(body=rss, headers={"Content-Type": "application/rss+xml"}))
    config = config_at(tmp_path, f"sources:\n  - {{type: feed, name: a, url: '{http_server.url('/atom.xml')}'}}\n"
                                 f"  - {{type: feed, name: r, url: '{http_server.url('/rss.xml')}'}}\n"
                                 "topics: {t: {any: [x]}}\n")
    papers, _ = read(config)
    assert [(p.title, p.abstract) for p in papers] == [
        ("Content only", "Some notes & more."), ("Text content", "Use a <b> tag."), ("Encoded only", "Some notes here."),
    ]


def test_a_url_copied_with_invisible_characters_is_the_plain_url(tmp_path, http_server):
    """Pages put zero-width spaces and soft hyphens into long URLs to break
    them; copied with the URL, they reached the server ("HTTP 404 Not Found"
    for ".../feed.xml%E2%80%8B").  A feed:// link names the URL to write."""
    http_server.route("/lab/feed.xml", recorded("feed-rss2.xml", headers={"Content-Type": "application/rss+xml"}))
    url = http_server.url("/lab/feed.xml").replace("/lab/", "/la\u00adb/") + "\u200b"
    config = config_at(tmp_path, f"sources: [{{type: feed, name: lab, url: ' {url} '}}]\ntopics: {{t: {{any: [x]}}}}\n")
    assert config.sources[0].url == http_server.url("/lab/feed.xml")
    papers, _ = read(config)
    assert len(papers) == 3 and [r.path for r in http_server.requests] == ["/lab/feed.xml"]
    with pytest.raises(ConfigError) as info:
        config_at(tmp_path, "sources: [{type: feed, url: 'feed://lab.example.org/rss'}]\ntopics: {t: {any: [x]}}\n")
    assert "(a feed: link: write it as 'https://lab.example.org/rss')" in str(info.value)


def test_an_arxiv_id_written_before_or_after_a_title_is_the_papers_id():
    """Aggregators' feeds ("[2406.00001] Title", "arXiv:2406.00002v2 Title", and
    arXiv's own "Title (arXiv:2406.00003)") linking to their own pages: the
    head stayed in the title and the tail was dropped with its id, so the
    paper was known by its title only and came twice with arXiv's."""
    items = "".join(
        f"<item><title>{title}</title><link>https://blog.example.org/{n}</link><description>d</description></item>"
        for n, title in enumerate(["[2406.00001] Flow Matching on Lie Groups", "arXiv:2406.00002v2 Another Paper",
                                   "Third Paper (arXiv:2406.00003)", "[Draft] Not an id", "Plain Paper"]))
    body = f'<?xml version="1.0"?><rss version="2.0"><channel><title>x</title>{items}</channel></rss>'.encode()
    papers = parse_feed(body, "f.xml", "blog", Collect())
    assert [(p.id, p.title, p.url) for p in papers] == [
        ("2406.00001", "Flow Matching on Lie Groups", "https://blog.example.org/0"),  # its own page stays the link
        ("2406.00002", "Another Paper", "https://blog.example.org/1"),
        ("2406.00003", "Third Paper", "https://blog.example.org/2"),
        ("draft not an id", "[Draft] Not an id", "https://blog.example.org/3"),
        ("plain paper", "Plain Paper", "https://blog.example.org/4"),
    ]
    assert papers[1].pdf_url == "https://arxiv.org/pdf/2406.00002v2"


def test_a_journals_one_creator_listing_every_author_by_surname_gives_the_authors():
    """bioRxiv and journals put "Smith, J., Doe, A. B." in one dc:creator: it
    read as one author; "Smith, John" alone, or "Ada Lovelace, Grace Hopper",
    stays as written."""
    def creators(*written: str) -> list[tuple[str, ...]]:
        items = "".join(
            f"<item><title>Paper {n}</title><link>https://example.org/{n}</link>"
            f"<description>We study things.</description><dc:creator>{who}</dc:creator></item>"
            for n, who in enumerate(written)
        )
        body = ('<?xml version="1.0"?><rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">'
                f"<channel><title>bioRxiv</title>{items}</channel></rss>").encode()
        return [p.authors for p in parse_feed(body, "f.xml", "biorxiv", Collect())]

    assert creators("Smith, J., Doe, A. B., van der Berg, M.", "Wang, X., Li, Y. and Chen, Z.",
                    "Müller, K.-R.; Samek, Wojciech", "Smith, John", "Ada Lovelace, Grace Hopper, Alan Turing",
                    "Doe, J.", "Chen, Z. Y.", "Smith, Jr.") == [
        ("J. Smith", "A. B. Doe", "M. van der Berg"), ("X. Wang", "Y. Li", "Z. Chen"),
        ("K.-R. Müller", "Wojciech Samek"), ("Smith, John",), ("Ada Lovelace, Grace Hopper, Alan Turing",),
        ("J. Doe",), ("Z. Y. Chen",), ("Smith, Jr.",),  # one author alone as the others are
    ]


def test_the_papers_page_where_the_daily_papers_json_goes_says_which_address_gives_it():
    """``url: https://huggingface.co/papers`` (the page, not its API) was "an
    HTML or XML page ... (an error page or a login wall?)"."""
    page = b"<!DOCTYPE html>\n<html><head><title>Daily Papers - Hugging Face</title></head><body></body></html>"
    with pytest.raises(InputError) as info:
        parse_hf_daily(page, "https://huggingface.co/papers?date=2024-06-07", "hf", Collect())
    assert str(info.value) == (
        "https://huggingface.co/papers?date=2024-06-07:1: source 'hf': Hugging Face's papers page, not the JSON "
        "list of daily papers: leave url: out (or give https://huggingface.co/api/daily_papers)"
    )
    with pytest.raises(InputError, match=r"an error page or a login wall\?"):  # any other page as before
        parse_hf_daily(b"<html><body>502 Bad Gateway</body></html>", "x.json", "hf", Collect())


def test_a_papers_page_saved_by_a_browser_gives_the_daily_papers_its_data_holds(tmp_path, cli):
    """A page saved with Ctrl+S (or as Chrome's single-file MHTML) and given as
    hf-daily's path: holds every paper's entry HTML-escaped in its data-props;
    it was "Hugging Face's papers page ...: leave url: out", of a config with no url:."""
    saved = (DATA / "hf-papers-page-2024-06-06.html").read_bytes()
    api = parse_hf_daily((DATA / "hf-daily-2024-06-06.json").read_bytes(), "hf.json", "hf", Collect())
    assert parse_hf_daily(saved, "page.html", "hf", Collect()) == [
        dataclasses.replace(p, location="page.html") for p in api
    ]
    mhtml = (b"From: <Saved by Blink>\r\nSubject: Daily Papers - Hugging Face\r\nMIME-Version: 1.0\r\n"
             b'Content-Type: multipart/related;\r\n\ttype="text/html";\r\n\tboundary="--B--"\r\n\r\n'
             b"----B--\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
             + quopri.encodestring(saved).replace(b"\n", b"\r\n") + b"\r\n----B----\r\n")
    (tmp_path / "page.mhtml").write_bytes(mhtml)
    write_config(tmp_path, """
        sources: [{type: hf-daily, name: HF, path: page.mhtml}]
        topics: {t: {any: [diffusion]}}
        subscribers: [{email: a@example.org, topics: [t]}]
        """)
    r = cli("papers", "--json")
    assert r.code == 0, r.err
    assert [p["title"] for p in json.loads(r.out)] == [p.title for p in api] and r.err == ""


def test_a_saved_papers_page_given_as_a_feed_names_the_type_that_reads_it():
    """It was '(an error page or a login wall?)' of a page read fine, and its
    MHTML copy 'the answer is text, 'From: <Saved by Blink>''."""
    saved = (DATA / "hf-papers-page-2024-06-06.html").read_bytes()
    mhtml = (b"From: <Saved by Blink>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/related; boundary=\"B\"\r\n\r\n"
             b"--B\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
             + quopri.encodestring(saved) + b"\r\n--B--\r\n")
    hint = "Hugging Face's papers page, whose daily papers `type: hf-daily` reads as it is"
    for data, what in ((saved, "an HTML page"), (mhtml, "a web page saved as MHTML")):
        with pytest.raises(InputError) as info:
            parse_feed(data, "day.html", "src", Collect())
        assert str(info.value) == f"day.html:1: source 'src': {what}, not an RSS or Atom feed: {hint}"


def test_a_saved_page_without_the_daily_papers_says_what_to_save_instead():
    """The advice for a page fetched from url: (leave it out) is no advice for a
    saved file; another site's MHTML was "invalid JSON (Expecting value); truncated?"."""
    page = b"<!DOCTYPE html>\n<html><head><title>Daily Papers - Hugging Face</title></head><body></body></html>"
    with pytest.raises(InputError) as info:
        parse_hf_daily(page, "saved.html", "hf", Collect())
    assert str(info.value) == (
        "saved.html:1: source 'hf': a Hugging Face papers page without its papers' data, not the JSON list of daily "
        "papers: save the list instead (curl -o hf.json https://huggingface.co/api/daily_papers) and give that "
        "file as path:"
    )
    other = (b"From: <Saved by Blink>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/related; "
             b'boundary="B"\r\n\r\n--B\r\nContent-Type: text/html\r\n\r\n<html><title>Blog</title></html>\r\n--B--\r\n')
    with pytest.raises(InputError) as info:
        parse_hf_daily(other, "blog.mhtml", "hf", Collect())
    assert str(info.value) == "blog.mhtml:1: source 'hf': a web page saved as MHTML, not the JSON list of daily papers"


def test_a_daily_papers_entry_with_its_summary_beside_the_paper_keeps_it():
    """The entry's own ``title`` stood in for the paper's, but its ``summary``
    did not: the paper went out without its abstract."""
    body = b"""[{"paper": {"id": "2406.05501", "authors": [{"name": "Ingrid Solberg"}]},
                 "title": "Flow Matching on Lie Groups", "summary": "We extend flow matching to Lie groups."},
                {"paper": {"id": "2406.05502", "title": "Own Title", "summary": "Its own summary."},
                 "title": "Entry Title", "summary": "The entry's summary."}]"""
    first, second = parse_hf_daily(body, "hf.json", "hf", Collect())
    assert (first.title, first.abstract) == ("Flow Matching on Lie Groups", "We extend flow matching to Lie groups.")
    assert (second.title, second.abstract) == ("Own Title", "Its own summary.")


def test_daily_papers_wrapped_in_an_object_are_read_and_an_empty_answer_is_named_empty():
    """The papers page's own data (``{"dailyPapers": [...], "date": ...}``) and
    other endpoints wrap the list in an object: it was "expected a JSON list
    of daily papers, got dict".  An empty answer said "invalid JSON
    (Expecting value at column 1); truncated?"."""
    entries = json.loads(data("hf-daily-2024-06-07.json"))
    expected = [p.title for p in parse_hf_daily(data("hf-daily-2024-06-07.json"), "day.json", "hf", Collect())]
    for wrapper in ({"dailyPapers": entries, "date": "2024-06-07", "numTotalItems": len(entries)},
                    {"papers": entries}, {"data": {"items": entries}}):
        papers = parse_hf_daily(json.dumps(wrapper).encode(), "day.json", "hf", Collect())
        assert [p.title for p in papers] == expected
    assert parse_hf_daily(b'{"dailyPapers": [], "date": "2024-06-07"}', "day.json", "hf", Collect()) == []
    with pytest.raises(InputError, match=r"got dict with no list of papers in it \(keys: error, status\)$"):
        parse_hf_daily(b'{"error": 7, "status": 500}', "day.json", "hf", Collect())
    with pytest.raises(InputError, match=r"got dict with no list of papers in it \(keys: models, spaces\)$"):
        parse_hf_daily(b'{"models": [{"id": "x"}], "spaces": []}', "day.json", "hf", Collect())
    for empty in (b"", b" \r\n\t", b"\xef\xbb\xbf\n"):
        with pytest.raises(InputError) as info:
            parse_hf_daily(empty, "day.json", "hf", Collect())
        assert str(info.value) == "day.json:1: source 'hf': empty document, expected the JSON list of daily papers"


# --------------------------------------------------------------------------- like: looked up on arXiv

LIKED = """
        sources:
          - type: arxiv
            categories: [cs.LG]
            max_results: 5
            url: {url}
        cache: cache
        http: {{retries: 0}}
        topics:
          molecules: {{like: ["2102.09844"]}}
          diffusion: {{like: ["https://arxiv.org/abs/2206.00364v2", "2102.09844"]}}
        subscribers:
          - {{email: ada@example.org, topics: [molecules]}}
        """


def _listing_or(lookup: Reply):
    """The listing for a search, ``lookup`` for an ``id_list`` request."""
    return lambda request: lookup if "id_list" in request.query else recorded("arxiv-api.xml")


def _reasons(config, papers) -> set[str]:
    [(_, matches)] = list(pipeline.match(config, papers, "ada@example.org"))
    return {m.reason for m in matches}


def test_a_liked_arxiv_id_no_source_lists_is_looked_up_in_one_request_and_kept(http_server, tmp_path):
    """The starter's own `like:` example, a 2021 paper, is never in the newest
    listings: it was ignored at every run.  The config's arXiv source is asked
    for the unknown liked ids, all in one request; the papers rank (never as
    candidates themselves) and the cache knows them from then on."""
    http_server.route("/api/query", _listing_or(recorded("arxiv-api-liked.xml")))
    config = config_at(tmp_path, LIKED.format(url=http_server.url("/api/query")))
    papers, warnings = read(config)
    assert warnings == []
    assert len(papers) == 5 and {p.arxiv_id for p in papers}.isdisjoint({"2102.09844", "2206.00364"})  # no candidates
    lookups = [r.query for r in http_server.requests if "id_list" in r.query]
    assert lookups == [{"id_list": "2102.09844,2206.00364", "max_results": "2"}]
    assert "similar to a paper you liked, \u201cE(n) Equivariant Graph Neural Networks\u201d" in _reasons(config, papers)
    with sqlite3.connect(tmp_path / "cache" / "embeddings.sqlite3") as db:
        [(text,)] = db.execute("SELECT text FROM papers WHERE id = '2102.09844'").fetchall()
    assert "E(n)-Equivariant" in text and "$" not in text  # LaTeX shown as other papers' is

    # A later run with the server failing still knows them (the listing from the HTTP cache).
    asked = len(http_server.requests)
    http_server.route("/api/query", Reply(500))
    again, warnings = read(config)
    assert warnings == [] and len(http_server.requests) == asked
    assert "similar to a paper you liked, \u201cE(n) Equivariant Graph Neural Networks\u201d" in _reasons(config, again)


def test_a_failed_like_lookup_is_one_warning_and_the_run_goes_on(http_server, tmp_path):
    http_server.route("/api/query", _listing_or(Reply(500)))
    config = config_at(tmp_path, LIKED.format(url=http_server.url("/api/query")))
    papers, warnings = read(config)
    assert len(papers) == 5
    [warning] = warnings
    assert warning.startswith(f"{http_server.url('/api/query')}: could not look up the liked paper(s) "
                              "2102.09844, 2206.00364 on arXiv (")
    assert "500" in warning and warning.endswith("they are left out of the ranking this run")
    match_warnings: list[str] = []  # (an empty Collect is falsy: taken for no callback)
    list(pipeline.match(config, papers, "ada@example.org", warn=match_warnings.append))
    assert any("'2102.09844' matches no known paper" in w and "not looked up on arXiv this run" in w
               for w in match_warnings)


def test_an_id_arxiv_does_not_know_says_so(http_server, tmp_path):
    empty = (DATA / "arxiv-api-liked.xml").read_bytes().split(b"<entry>")[0] + b"</feed>\n"
    http_server.route("/api/query", _listing_or(Reply(200, empty, {"Content-Type": "application/atom+xml"})))
    config = config_at(tmp_path, LIKED.format(url=http_server.url("/api/query")))
    papers, warnings = read(config)
    assert warnings == []
    match_warnings: list[str] = []  # (an empty Collect is falsy: taken for no callback)
    list(pipeline.match(config, papers, "ada@example.org", warn=match_warnings.append))
    [warning] = [w for w in match_warnings if "2102.09844" in w]
    assert warning.endswith("config.yaml:9: topics.molecules.like[0]: '2102.09844' matches no known paper "
                            "(arXiv has no paper with that id: check it); it is ignored")


def test_no_like_lookup_without_an_arxiv_api_source(http_server, tmp_path):
    """A saved copy or the RSS feed cannot be asked for one paper: nothing is
    looked up (configs of local files stay offline), and the warning says how."""
    http_server.route("/atom/cs.LG", recorded("arxiv-rss.xml"))
    config = config_at(tmp_path, LIKED.replace("max_results: 5", "feed: rss").format(url=http_server.url("/atom/cs.LG")))
    papers, warnings = read(config)
    assert papers and warnings == []
    assert all("id_list" not in r.query for r in http_server.requests) and len(http_server.requests) == 1
    match_warnings: list[str] = []  # (an empty Collect is falsy: taken for no callback)
    list(pipeline.match(config, papers, "ada@example.org", warn=match_warnings.append))
    assert any("'2102.09844' matches no known paper" in w and "no arxiv source (the API kind)" in w
               for w in match_warnings)


def test_validate_without_fetch_looks_nothing_up(http_server, tmp_path):
    http_server.route("/api/query", _listing_or(recorded("arxiv-api-liked.xml")))
    config = config_at(tmp_path, LIKED.format(url=http_server.url("/api/query")))
    pipeline.validate(config, warn=Collect(), now=NOW)
    assert http_server.requests == []
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["templates"]  # nothing fetched, templates compiled


def test_a_saved_file_of_another_source_type_names_the_type_that_reads_it():
    """A saved Atom feed under type: hf-daily was "an HTML or XML page ...
    (an error page or a login wall?)", and a Hugging Face page saved as text
    under type: arxiv or feed "the answer is text, 'new'": both sent the user
    looking for a fault in a file that is fine."""
    with pytest.raises(InputError) as info:
        parse_hf_daily(data("arxiv-api.xml"), "saved.xml", "hf", Collect())
    assert str(info.value) == ("saved.xml:1: source 'hf': an RSS or Atom feed, not the JSON list of daily papers "
                               "(a feed is read by type: feed, or arxiv for arXiv's)")
    for name in ("hf-papers-compact.txt", "hf-papers-blank-lines.txt"):
        with pytest.raises(InputError) as info:
            parse_feed(data(name), name, "blog", Collect())
        assert str(info.value) == (f"{name}:1: source 'blog': a Hugging Face papers page saved as text, not an RSS "
                                   "or Atom feed (`type: hf-papers-text` reads it)")


VERSIONS_CONFIG = """
sources:
  - type: arxiv
    name: yesterday
    path: v1.xml
  - type: arxiv
    name: today
    path: v2.xml
topics:
  bridges:
    any: ["bridge*"]
subscribers:
  - email: ada@example.org
    topics: [bridges]
"""


def _first_version(xml: bytes) -> bytes:
    """The arXiv listing's first paper as its v1: another title, a longer abstract."""
    return (xml.replace(b"2406.04321v2", b"2406.04321v1")
            .replace(b"Score-Based Diffusion Models for Schr\xc3\xb6dinger Bridge\n  Problems", b"Diffusion Bridges Done Right")
            .replace(b"at equal sample quality.", b"at equal sample quality, as the first version claimed at length."))


@pytest.mark.parametrize("v1_first", [True, False])
def test_two_versions_of_one_paper_are_one_paper_with_the_newer_versions_text(tmp_path, cli, v1_first):
    """2406.04321 as v1 and as v2 (retitled), in either order: one paper, with
    v2's title, abstract and PDF, linked to the abstract page without a version.
    The title read first was kept, and the longer v1 abstract won."""
    v2 = data("arxiv-api.xml")
    v1 = _first_version(v2)
    (tmp_path / "v1.xml").write_bytes(v1 if v1_first else v2)
    (tmp_path / "v2.xml").write_bytes(v2 if v1_first else v1)
    write_config(tmp_path, VERSIONS_CONFIG)
    result = cli("papers", "--json")
    assert result.code == 0, result.err
    (paper,) = [p for p in json.loads(result.out) if p["arxiv_id"] == "2406.04321"]
    assert paper["title"] == "Score-Based Diffusion Models for Schrödinger Bridge Problems"
    assert paper["abstract"].endswith("at equal sample quality.")
    assert paper["pdf_url"] == "https://arxiv.org/pdf/2406.04321v2"
    assert paper["url"] == "https://arxiv.org/abs/2406.04321"
    assert paper["source"] == "yesterday, today"
    result = cli("preview", "--out", "pv")
    assert result.code == 0, result.err
    text = (tmp_path / "pv" / "ada@example.org.txt").read_text(encoding="utf-8")
    assert "Diffusion Bridges Done Right" not in text
    assert text.count("Score-Based Diffusion Models for Schrödinger Bridge Problems") == 1
    assert "PDF: https://arxiv.org/pdf/2406.04321v2" in text


def test_validate_fetch_looks_the_liked_papers_up_and_a_failed_lookup_is_a_warning_not_a_failure(
    http_server, tmp_path, cli
):
    """`validate --fetch` reads as `send` does, the liked papers' lookup
    included: the check a user runs before the first send learns whether the
    liked ids are found, and a lookup that fails does not fail the check (the
    sources themselves were read)."""
    http_server.route("/api/query", _listing_or(Reply(500)))
    write_config(tmp_path, LIKED.format(url=http_server.url("/api/query")))
    r = cli("validate", "--fetch")
    assert r.code == 0, r.err
    assert "FAILED" not in r.out and "5 papers" in r.out
    assert "could not look up the liked paper(s) 2102.09844, 2206.00364 on arXiv" in r.err
    assert "Traceback" not in r.err

    http_server.route("/api/query", _listing_or(recorded("arxiv-api-liked.xml")))
    r = cli("validate", "--fetch")
    assert r.code == 0 and "could not look up" not in r.err and "matches no known paper" not in r.err, r.err
    with sqlite3.connect(tmp_path / "cache" / "embeddings.sqlite3") as db:
        known = {row[0] for row in db.execute("SELECT id FROM papers")}
    assert {"2102.09844", "2206.00364"} <= known  # the send after it finds them offline


def _as_hf_shows(abstract: str) -> str:
    """An arXiv abstract as a Hugging Face listing shows it: the math's ``$``,
    backslashes and braces gone ("$\\sim$1000" is "sim1000"), accents composed."""
    return re.sub(r"[$\\{}]", "", abstract.replace('\\"o', "ö"))


def _changed_title_pair() -> tuple:
    """An arXiv paper (with its id, under the title of its latest version) and
    the same paper in a listing export: its first title, no id, its abstract as
    the site shows it."""
    from newsletter.readers import parse_hf_papers_text

    arxiv = parse_arxiv(data("arxiv-latex.xml"), "api.xml", "arXiv", Collect()).papers[1]
    text = (f"Get trending papers in your email inbox!\n\nSubscribe\n\nDaily Papers\n\n"
            f"Sinkhorn-Free Schrödinger Bridges\n\n{_as_hf_shows(arxiv.abstract)}\n")
    (export,) = parse_hf_papers_text(text.encode(), "export.txt", "export")
    return export, arxiv


@pytest.mark.parametrize("export_first", [True, False])
def test_a_paper_whose_title_changed_is_one_paper_by_its_abstract(export_first):
    """The same paper seen by its title only (an export) and, with its arXiv id,
    under a changed title stayed two papers, and went out twice.  The same
    abstract (math written either way) makes it one, with the arXiv id and title."""
    from newsletter.models import merge_papers

    export, arxiv = _changed_title_pair()
    assert export.title_key != arxiv.title_key and export.abstract != arxiv.abstract
    (one,) = merge_papers([export, arxiv] if export_first else [arxiv, export])
    assert (one.id, one.title) == ("2406.04876", arxiv.title)
    assert set(one.source.split(", ")) == {"export", "arXiv"}


def test_an_abstract_decides_only_between_a_paper_with_an_arxiv_id_and_one_without():
    """Never two different papers: two arXiv ids stay two whatever their text;
    an abstract two arXiv papers share names neither; two papers without ids
    (a blog's stock text under each post) stay two; a short or different
    abstract is no match."""
    from newsletter.models import merge_papers

    export, arxiv = _changed_title_pair()
    twin = dataclasses.replace(arxiv, arxiv_id="2406.09999", title="A Resubmission Under Another Id")
    assert len(merge_papers([arxiv, twin])) == 2
    assert len(merge_papers([arxiv, twin, export])) == 3  # the export fits both: left to neither
    assert {p.arxiv_id for p in merge_papers([export, arxiv, twin])} == {"2406.04876", "2406.09999"}
    other = dataclasses.replace(export, title="Another Post of the Blog")
    assert len(merge_papers([export, other])) == 2
    short = dataclasses.replace(export, abstract="We recast the Schrödinger bridge problem as one optimization.")
    assert len(merge_papers([short, dataclasses.replace(arxiv, abstract=short.abstract)])) == 2
    words = export.abstract.split()
    rewritten = dataclasses.replace(export, abstract=" ".join(words[:30] + ["Entirely", "new", "results"] * 15))
    assert len(merge_papers([rewritten, arxiv])) == 2
    cut = dataclasses.replace(export, abstract=" ".join(words[:50]) + " Read more")  # a card's shortened abstract
    assert len(merge_papers([arxiv, cut])) == 1
    # a paper that got its id by its title (an export, then the daily papers) is found by a later copy without one
    daily = dataclasses.replace(export, arxiv_id="2406.04876", source="daily")
    feed = dataclasses.replace(export, title="Schrödinger Bridges, Revisited", source="feed")
    (one,) = merge_papers([export, daily, feed])
    assert one.id == "2406.04876" and one.source == "export, daily, feed"


def test_papers_lists_a_paper_whose_title_changed_once_with_its_arxiv_id(tmp_path, cli):
    export, arxiv = _changed_title_pair()
    (tmp_path / "api.xml").write_bytes(data("arxiv-latex.xml"))
    (tmp_path / "export.txt").write_text(
        "Get trending papers in your email inbox!\n\nSubscribe\n\nDaily Papers\n\n"
        f"{export.title}\n\n{export.abstract}\n", encoding="utf-8")
    write_config(tmp_path, "sources:\n  - {type: hf-papers-text, path: export.txt}\n  - {type: arxiv, path: api.xml}\n"
                 "topics: {t: {any: [bridge]}}\n")
    r = cli("papers", "--json")
    assert r.code == 0, r.err
    listed = json.loads(r.out)
    assert len(listed) == 6
    assert [p["title"] for p in listed if p["id"] == "2406.04876"] == [arxiv.title.replace('\\"o', "ö")]


_SITELESS_RSS = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>Reading group</title><description>d</description>
  <item><title>Paper one</title><link>notes/one.html</link><description>We read paper one.</description></item>
  <item><title>Paper two</title><link>/abs/two</link><description>We read paper two.</description>
    <pubDate>not a date</pubDate></item>
  <item><title>Paper three</title><description>No link at all, no date.</description></item>
</channel></rss>"""
_SITELESS_ATOM = b"""<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>T</title><id>urn:t</id>
  <entry><title>Paper one</title><id>urn:a</id><link href="notes/one.html"/><summary>We read paper one.</summary></entry>
  <entry><title>Paper two</title><id>urn:b</id><link href="/abs/two"/><summary>We read paper two.</summary></entry>
  <entry><title>Paper three</title><id>urn:c</id><summary>No link at all, no date.</summary></entry></feed>"""
_SITELESS_JSON = json.dumps({"version": "https://jsonfeed.org/version/1.1", "title": "t", "items": [
    {"id": "1", "url": "notes/one.html", "title": "Paper one", "content_text": "We read paper one."},
    {"id": "2", "url": "/abs/two", "title": "Paper two", "content_text": "We read paper two."},
    {"id": "3", "title": "Paper three", "content_text": "No link at all, no date."}]}).encode()


@pytest.mark.parametrize("body", [_SITELESS_RSS, _SITELESS_ATOM, _SITELESS_JSON], ids=["rss", "atom", "json feed"])
def test_a_saved_feed_with_relative_links_and_no_site_says_so_and_its_url_resolves_them(body, tmp_path):
    """A saved feed whose entries link relatively and that names no site of
    its own (an Atom feed's ``urn:`` id is none) lost every link without a
    word.  It says so once; the source's ``url:`` beside its ``path:`` is
    where the copy came from, and resolves them.  No dates is no error."""
    warnings = Collect()
    papers = parse_feed(body, "saved.xml", "group", warnings)
    assert [(p.title, p.url, p.published) for p in papers] == [
        ("Paper one", None, None), ("Paper two", None, None), ("Paper three", None, None)]
    assert len(warnings) == 1 and warnings[0].startswith("saved.xml: source 'group': entries link to relative ")
    assert "'notes/one.html'" in warnings[0] and "url: beside its path:" in warnings[0]
    (tmp_path / "saved.xml").write_bytes(body)
    config = config_at(tmp_path, "sources: [{type: feed, name: group, path: saved.xml, "
                                 "url: 'https://group.example.org/reading/feed.xml'}]\ntopics: {t: {any: [x]}}\n")
    papers, warnings = read(config, offline=True)
    assert [p.url for p in papers] == ["https://group.example.org/reading/notes/one.html",
                                       "https://group.example.org/abs/two", None]
    assert warnings == []


def test_an_arxiv_error_entry_named_by_its_link_is_the_error_not_a_paper():
    """A mirror or proxy that rewrites the entries' ids leaves the error's
    link: the entry was a paper titled 'Error' to a feed source, and "no
    arXiv id" to an arxiv one."""
    body = b"""<?xml version="1.0" encoding="UTF-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>ArXiv Query</title>
      <id>urn:q</id><entry><id>urn:err</id><title>Error</title><summary>start must be an integer</summary>
      <link href="http://arxiv.org/api/errors#start_must_be_an_integer" rel="alternate"/></entry></feed>"""
    for parse in (lambda: parse_arxiv(body, "q.xml", "arxiv", Collect()), lambda: parse_feed(body, "q.xml", "arxiv", Collect())):
        with pytest.raises(InputError) as info:
            parse()
        assert str(info.value) == "q.xml: source 'arxiv': the arXiv API says: start must be an integer"


def test_arxiv_rdf_feed_titles_give_the_announcement_type_a_filter_keeps():
    """The RSS 1.0 (RDF) feed says a replacement and a cross-list in the
    title's tail (``UPDATED``, ``CROSS LISTED``): with no type read,
    ``announce_type: [new]`` kept every replacement of a saved RDF feed."""
    def ids(types):
        return [p.arxiv_id for p in parse_arxiv(data("arxiv-rdf.xml"), "cs.LG.rdf", "arXiv", Collect(), types).papers]

    assert ids([]) == ["2306.01794", "2306.01811", "hep-th/9901001"]
    assert ids(["new"]) == ["2306.01794"]
    assert ids(["replace"]) == ["2306.01811"]
    assert ids(["new", "cross"]) == ["2306.01794", "hep-th/9901001"]


def test_atom_with_escaped_html_cdata_and_xhtml_titles_and_summaries_reads_their_text():
    """Atom's three ways of carrying markup (escaped HTML, HTML in CDATA, inline
    XHTML), in titles and summaries: the text as a reader sees it, an escaped
    ``&lt;b&gt;`` in HTML being the text "<b>", never a tag."""
    body = b"""<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>Lab</title>
      <link href="https://lab.example.org/"/><id>urn:x</id><updated>2024-06-06T00:00:00Z</updated>
      <entry><title type="html">Diffusion &amp;lt;b&amp;gt; Models &amp;amp; Friends</title><id>urn:1</id>
        <link href="/posts/1"/><summary type="html">&lt;p&gt;We show that x &amp;lt; y &amp;amp; &lt;i&gt;z&lt;/i&gt;
        holds.&lt;/p&gt;</summary></entry>
      <entry><title type="html"><![CDATA[Transformers <i>and</i> Graphs &amp; more]]></title><id>urn:2</id>
        <link href="posts/2.html"/><summary type="html"><![CDATA[<p>We show that <b>graphs</b> &amp; transformers mix;
        3 &lt; 4.</p><script>alert(1)</script>]]></summary></entry>
      <entry><title type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">XHTML <em>Title</em></div></title>
        <id>urn:3</id><content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>Some &amp; content.</p></div>
        </content></entry></feed>"""
    warnings = Collect()
    papers = parse_feed(body, "lab.xml", "lab", warnings)
    assert [(p.title, p.abstract, p.url) for p in papers] == [
        ("Diffusion <b> Models & Friends", "We show that x < y & z holds.", "https://lab.example.org/posts/1"),
        ("Transformers and Graphs & more", "We show that graphs & transformers mix; 3 < 4.",
         "https://lab.example.org/posts/2.html"),
        ("XHTML Title", "Some & content.", None),
    ]
    assert warnings == []


def test_a_json_feed_11_item_with_only_its_modified_date_or_none_is_read():
    """JSON Feed 1.1's items: ``date_modified`` alone dates an item (as an Atom
    entry's ``updated`` does); no date, no authors, a body in ``summary`` only
    are unknown values, not errors."""
    body = json.dumps({"version": "https://jsonfeed.org/version/1.1", "title": "Lab",
                       "home_page_url": "https://lab.example.org/", "items": [
                           {"id": "a", "url": "https://lab.example.org/a", "title": "Modified only",
                            "content_text": "Text.", "date_modified": "2024-06-07T10:00:00+02:00"},
                           {"id": "b", "title": "Undated", "summary": "Summary only.", "authors": []}]}).encode()
    warnings = Collect()
    first, second = parse_feed(body, "lab.json", "lab", warnings)
    assert first.published == datetime(2024, 6, 7, 8, 0, tzinfo=UTC)
    assert (second.published, second.abstract, second.authors, second.url) == (None, "Summary only.", (), None)
    assert warnings == []


def test_a_saved_semantic_scholar_search_is_read_as_a_feed(tmp_path, cli):
    """api.semanticscholar.org/graph/v1/paper/search?fields=title,abstract,authors,externalIds,url,publicationDate
    saved and given as a feed: each record's title, abstract, authors, arXiv id and date; it was 'a JSON
    document, not an RSS or Atom feed (Hugging Face's daily papers JSON is `type: hf-daily`)', which
    hf-daily refused too.  A record without an abstract is said so, and the same paper from arXiv is one."""
    warnings = Collect()
    first, second, third = parse_feed(data("semantic-scholar-search.json"), "s2.json", "S2", warnings)
    assert (first.arxiv_id, first.url, first.authors) == (
        "2406.03001", "https://arxiv.org/abs/2406.03001", ("Jane Doe", "Ana Müller", "John Smith"))
    assert first.title.endswith("for ε-Prediction") and first.abstract.endswith("T < 10 steps suffice.")
    assert first.published == datetime(2024, 6, 4, tzinfo=UTC)
    # "year": 2024 and "publicationDate": null: the year alone, kept as a year (not a day)
    assert (second.arxiv_id, second.abstract, second.published, second.date_precision) == (
        None, "", datetime(2024, 1, 1, tzinfo=UTC), "year")
    assert second.url == "https://www.semanticscholar.org/paper/0f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6"
    assert third.arxiv_id == "2405.11111"
    (warning,) = warnings
    assert warning.startswith("s2.json: source 'S2': record 2 (0f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6) without a "
                              "summary")
    # the bare list (/paper/batch) and one record (/paper/ID) too
    records = json.loads(data("semantic-scholar-search.json"))["data"]
    assert [p.title for p in parse_feed(json.dumps(records).encode(), "b.json", "S2", Collect())] == [
        first.title, second.title, third.title]
    assert parse_feed(json.dumps(records[0]).encode(), "one.json", "S2", Collect())[0].arxiv_id == "2406.03001"
    (tmp_path / "s2.json").write_bytes(data("semantic-scholar-search.json"))
    (tmp_path / "new.html").write_bytes(data("arxiv-list-new.html"))
    write_config(tmp_path, """
        sources: [{type: feed, path: s2.json}, {type: arxiv, path: new.html}]
        topics: {t: {any: [diffusion]}}
        subscribers: [{email: ada@example.org, topics: [t]}]
        """)
    r = cli("papers", "--json")
    assert r.code == 0, r.err
    ids = [p["id"] for p in json.loads(r.out)]
    assert ids.count("2406.03001") == 1 and len(ids) == len(set(ids))


def test_saved_openreview_notes_are_read_as_a_feed():
    """api2.openreview.net/notes?invitation=... saved (each field wrapped as
    {"value": ...}; API 1's plain fields too): each note's title, abstract,
    authors, keywords, forum link and publication date."""
    warnings = Collect()
    first, second = parse_feed(data("openreview-notes.json"), "or.json", "ICLR", warnings)
    assert (first.title, first.authors) == ("Faster Diffusion Sampling with Learned Step Sizes",
                                           ("Jane Doe", "Ana Müller", "John Smith"))
    assert first.abstract.startswith("We learn the step sizes") and first.keywords[0] == "diffusion models"
    assert first.url == "https://openreview.net/forum?id=xT5pQ8rN2k"
    assert first.published == datetime(2025, 1, 27, tzinfo=UTC)  # pdate, when it was published
    assert second.published == datetime(2024, 10, 1, tzinfo=UTC) and warnings == []  # created, not yet published
    notes = json.loads(data("openreview-notes.json"))["notes"]
    v1 = [{**n, "content": {k: v["value"] for k, v in n["content"].items()}} for n in notes]
    assert parse_feed(json.dumps({"notes": v1}).encode(), "or.json", "ICLR", Collect()) == [first, second]


@pytest.mark.parametrize("saved, kind", [("semantic-scholar-search.json", "Semantic Scholar"),
                                         ("openreview-notes.json", "OpenReview")])
def test_a_scholarly_answer_given_to_hf_daily_names_the_feed_source(saved, kind):
    """It said 'expected a JSON list of daily papers, got dict with no list of papers in it (keys: ...)'."""
    with pytest.raises(InputError) as info:
        parse_hf_daily(data(saved), "x.json", "hf", Collect())
    assert str(info.value) == (f"x.json:1: source 'hf': a saved {kind} answer, not the JSON list of daily papers "
                               "(`type: feed` with `path:` reads it)")


def test_a_saved_biorxiv_details_answer_is_read_as_a_feed():
    """api.biorxiv.org/details/biorxiv/2024-06-03/2024-06-04 (medRxiv's too):
    its 'collection' of preprints, each with its authors ('Doe, J.; Smith, A.'
    as names), the version's page, day and subject."""
    warnings = Collect()
    first, second = parse_feed(data("biorxiv-details.json"), "bio.json", "bioRxiv", warnings)
    assert first.title == "Protein Language Models Learn Evolutionary Couplings"
    assert first.authors == ("J. Doe", "A. B. Müller", "J. Smith") and first.categories == ("bioinformatics",)
    assert first.url == "https://www.biorxiv.org/content/10.1101/2024.06.03.597001v2"
    assert first.published == datetime(2024, 6, 3, tzinfo=UTC) and first.abstract.startswith("We show that")
    assert (second.authors, second.url) == (("A. Lee",), "https://www.medrxiv.org/content/10.1101/2024.06.04.24308123v1")
    assert warnings == []


# --------------------------------------------------------------------------- OAI-PMH lists in pages


def _oai_pages(request):
    """arXiv's OAI-PMH server: the first page, and the last one for its token."""
    if request.query.get("resumptionToken") == "6960524|1001":
        return recorded("arxiv-oai-page2.xml", headers={"Content-Type": "text/xml"})
    return recorded("arxiv-oai-page1.xml", headers={"Content-Type": "text/xml"})


def _oai_config(http_server, tmp_path):
    url = http_server.url("/oai2") + "?verb=ListRecords&metadataPrefix=arXiv&set=cs&from=2024-06-06&until=2024-06-06"
    return config_at(tmp_path, f"sources: [{{type: feed, name: harvest, url: '{url}'}}]\ntopics: {{t: {{any: [x]}}}}\n")


def test_a_fetched_oai_pmh_list_is_followed_page_by_page_by_its_resumption_token(http_server, tmp_path):
    """A harvest URL given as a feed read its first page alone (arXiv's
    pages hold 1,000 records: a busy day lost the rest) and warned that the
    rest was not read.  The next page is asked with the verb and the token
    alone, as OAI-PMH requires; the last page's empty token ends the list."""
    http_server.route("/oai2", _oai_pages)
    papers, warnings = read(_oai_config(http_server, tmp_path))
    assert [p.arxiv_id for p in papers] == ["2406.03001", "2406.03002", "2406.03003"]
    assert papers[2].authors == ("Zoë O'Brien",) and papers[1].abstract.endswith("molecules & proteins.")
    assert warnings == []
    first, second = http_server.requests_to("/oai2")
    assert first.query["metadataPrefix"] == "arXiv"
    assert second.query == {"verb": "ListRecords", "resumptionToken": "6960524|1001"}


def test_a_gzip_file_served_as_an_oai_pmh_answer_is_followed_page_by_page_too(http_server, tmp_path):
    """A harvest saved and served packed (``oai.xml.gz``, no Content-Encoding):
    whether it is an OAI-PMH answer was asked of the packed bytes, so its
    first page alone was read (and said to be one page of a longer list)."""
    import gzip

    def packed(request):
        reply = _oai_pages(request)
        return dataclasses.replace(reply, body=gzip.compress(reply.body, mtime=0),
                                   headers={"Content-Type": "application/gzip"})

    http_server.route("/oai2", packed)
    papers, warnings = read(_oai_config(http_server, tmp_path))
    assert [p.arxiv_id for p in papers] == ["2406.03001", "2406.03002", "2406.03003"] and warnings == []
    assert http_server.requests_to("/oai2")[1].query == {"verb": "ListRecords", "resumptionToken": "6960524|1001"}


def test_each_packed_oai_pmh_page_is_unpacked_once(http_server, tmp_path, monkeypatch):
    """A packed page was unpacked three times: to ask whether it is an
    OAI-PMH answer, to read its records, and to read its token (a later page
    twice).  Nothing else shows it, so the real unpacker is counted."""
    import gzip

    from newsletter import readers

    def packed(request):
        reply = _oai_pages(request)
        return dataclasses.replace(reply, body=gzip.compress(reply.body, mtime=0),
                                   headers={"Content-Type": "application/gzip"})

    http_server.route("/oai2", packed)
    calls = []
    real = readers.unpacked
    monkeypatch.setattr(readers, "unpacked", lambda data, *a, **kw: calls.append(data[:2]) or real(data, *a, **kw))
    papers, warnings = read(_oai_config(http_server, tmp_path))
    assert [p.arxiv_id for p in papers] == ["2406.03001", "2406.03002", "2406.03003"] and warnings == []
    assert calls == [b"\x1f\x8b"] * 2  # (two pages, each unpacked once)


def test_an_oai_pmh_page_that_fails_ends_the_list_there_and_the_pages_before_are_used(http_server, tmp_path):
    http_server.route("/oai2", lambda request: Reply(404, b"gone") if "resumptionToken" in request.query
                      else _oai_pages(request))
    papers, warnings = read(_oai_config(http_server, tmp_path))
    assert [p.arxiv_id for p in papers] == ["2406.03001", "2406.03002"]
    (warning,) = warnings
    assert "HTTP 404" in warning and warning.endswith(
        "(the OAI-PMH list from page 2 on skipped; the 2 papers of the pages before are used)"), warning


def test_an_oai_pmh_server_paging_in_a_circle_or_without_end_is_stopped(http_server, tmp_path, monkeypatch):
    """A token given twice ends the list; so does the bound on pages, each
    said: a run must not be held for ever by a server's tokens."""
    http_server.route("/oai2", lambda request: recorded("arxiv-oai-page1.xml"))  # the same token every time
    papers, warnings = read(_oai_config(http_server, tmp_path))
    assert len(papers) == 2 and len(http_server.requests_to("/oai2")) == 2  # (the same two papers twice)
    assert warnings == [f"{http_server.url('/oai2')}?verb=ListRecords&metadataPrefix=arXiv&set=cs&from=2024-06-06&"
                        "until=2024-06-06: source 'harvest': the OAI-PMH server gave the resumptionToken "
                        "'6960524|1001' twice; the list ends at page 2 (4 papers read)"]
    import newsletter.oai

    monkeypatch.setattr(newsletter.oai, "OAI_PAGES", 3)
    page = data("arxiv-oai-page1.xml")
    http_server.route("/oai2", lambda request: Reply(body=page.replace(
        b"6960524|1001", f"token-{len(http_server.requests)}".encode()), headers={"Content-Type": "text/xml"}))
    (tmp_path / "again").mkdir()  # (a fresh cache)
    papers, warnings = read(_oai_config(http_server, tmp_path / "again"))
    assert len(http_server.requests_to("/oai2")) == 2 + 3
    (warning,) = warnings
    assert warning.endswith("the OAI-PMH list goes on after 3 pages (6 papers read); the rest is not read (narrow "
                            "the harvest with from= and until=, or set=)"), warning
