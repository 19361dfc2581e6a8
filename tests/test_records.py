"""Paper records given to a `feed` source: a CSV export (Zotero's, a
spreadsheet's), JSON Lines and JSON arrays of records (arXiv's metadata
snapshot, a script's export), and feeds in the encodings Windows tools
save them in."""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from conftest import DATA, ROOT, write_config

from newsletter.errors import InputError
from newsletter.feeds import parse_arxiv, parse_feed
from newsletter.models import Paper
from newsletter.scholar import is_scholar_alert

# The command's runs here (send, match of records and versions) call its main()
# in this process (conftest.run_in_process): nothing here is about the process
# itself; the imports checked in a fresh interpreter still run one.
pytestmark = pytest.mark.cli_in_process

ZOTERO = DATA / "zotero-export.csv"
EXCEL = DATA / "papers-excel.csv"
SNAPSHOT = DATA / "arxiv-metadata-snapshot.jsonl"


class Collect(list):
    def __call__(self, message: str) -> None:
        self.append(message)


def test_a_zotero_csv_export_gives_its_items_as_papers():
    """Zotero's "Export Collection… → CSV" (a BOM, 87 quoted columns, authors
    "Last, First; ..."): it was 'not an RSS or Atom feed: the answer is
    text'.  A preprint's arXiv id comes from its DOI, URL, Extra or Number;
    a journal article keeps its own link; an item without an abstract is
    read by its title and said so."""
    warnings = Collect()
    papers = parse_feed(ZOTERO.read_bytes(), "library.csv", "zotero", warnings)
    assert [p.title for p in papers] == [
        r"Faster Diffusion Sampling with Learned Step Sizes for $\epsilon$-Prediction",
        'Score Matching for "Schrödinger" Bridges, Revisited', "Reading group notes: week 12"]
    first, second, third = papers
    assert (first.arxiv_id, first.url, first.pdf_url) == (
        "2406.03001", "https://arxiv.org/abs/2406.03001", "https://arxiv.org/pdf/2406.03001")
    assert first.authors == ("Jane Doe", "Ana Müller", "John Smith")
    assert first.abstract.endswith(r"$64\times64$, where $T < 10$ steps suffice.")
    assert first.published == datetime(2024, 6, 4, tzinfo=UTC) and first.location == "library.csv:2"
    assert (second.arxiv_id, second.url, second.authors) == (
        None, "https://jmlr.org/papers/v24/23-0142.html", ("Zoë O'Brien", "Kenji Tanaka"))
    assert second.published == datetime(2023, 9, 1, tzinfo=UTC)  # "2023-09": its month, not its year alone
    assert (third.abstract, third.published) == ("", datetime(2024, 1, 1, tzinfo=UTC))
    (warning,) = warnings
    assert warning.startswith("library.csv: source 'zotero': row 3 (line 4) without a summary")


def test_a_spreadsheets_csv_in_windows_1252_with_semicolons_and_its_own_column_order_is_read():
    """Excel's plain "CSV" in a German locale: Windows-1252, `;` between the
    columns, CRLF, a line break and `;` inside a quoted cell, a day written
    05.06.2024; the columns named as the sheet names them, in its order."""
    papers = parse_feed(EXCEL.read_bytes(), "sheet.csv", "sheet", Collect())
    first, second = papers
    assert (first.arxiv_id, first.version, first.authors) == ("2406.03002", 1, ("Ann Lee",))
    assert first.abstract.endswith("the “heavy tails” of the gradient noise are what clipping tames.")
    assert first.published == datetime(2024, 6, 5, tzinfo=UTC)
    assert (second.title, second.authors) == ("Café Lattices, Naïve Bayes and R&D", ("Ana Müller", "Jane Doe"))
    assert second.abstract == "A note with a ; in it; and a line break inside its quotes."
    assert (second.url, second.location) == (None, "sheet.csv:3")


@pytest.mark.parametrize("text, line, said", [
    ('title,authors,abstract\n"A title","Ada","An abstract"\n"Open quote,"Ada","An abstract"\n"B","C","D"\n', 3,
     "not a readable CSV row (',' expected after '\"': a quote left open, or a stray one?)"),
    ("title;abstract\nA;B;C\n", 2, "a CSV row of 3 cells under a header of 2 (a quote left open, or a ';' too many?)"),
    ("Name,Email,Notes\nAda,ada@example.org,\n", 1, "a CSV file without a title and an abstract column (its columns: "
     "'Name', 'Email', 'Notes'); expected columns such as title, authors, abstract, url, in any order"),
    ('{"title": "A", "abstract": "B"}\n{"title": "C", "abstract": "D"}\n{"title": "E", "abst\n', 3,
     "JSON Lines (one record a line), but this line is no JSON object (cut off, or a record written over several "
     "lines?)"),
    ('title,abstract\n"","An abstract under no title"\n', 2, "no usable row: row 1 has no title (line 2)"),
    ('Title,Abstract\nT1,"a first\nT2,second\nT3,third\n', 2, "not a readable CSV row (unexpected end of data: a quote left open, or a stray one?)"),
])
def test_a_broken_export_is_one_located_error_and_exit_2(tmp_path, cli, text, line, said):
    """Never papers shifted into the wrong columns, nor a paper glued out of
    two rows: the file, its line and what was expected."""
    name = "papers.csv" if "JSON" not in said else "papers.jsonl"
    (tmp_path / name).write_text(text, encoding="utf-8")
    write_config(tmp_path, f"""
        sources: [{{type: feed, name: export, path: {name}}}]
        topics: {{t: {{any: [diffusion]}}}}
        subscribers: [{{email: ada@example.org, topics: [t]}}]
        """)
    r = cli("papers")
    assert r.code == 2 and r.err.strip() == f"{name}:{line}: source 'export': {said}", r.err
    assert "Traceback" not in r.err and r.out == ""


def test_arxivs_metadata_snapshot_as_json_lines_gives_each_paper_with_its_latest_version():
    """arxiv-metadata-oai-snapshot.json (Kaggle's, one record a line): the id
    with its last version, authors from authors_parsed, the day of v1, the
    categories, the comment; a withdrawn paper is none, as arXiv's API and
    feeds leave it out."""
    papers = parse_feed(SNAPSHOT.read_bytes(), "snapshot.jsonl", "snapshot", Collect())
    assert [(p.arxiv_id, p.version) for p in papers] == [("2406.03001", 2), ("hep-th/9901001", 1)]
    first, old = papers
    assert first.title == r"Faster Diffusion Sampling with Learned Step Sizes for $\epsilon$-Prediction"
    assert first.authors == ("Jane Doe", "Ana Müller", "John Smith")
    assert first.abstract.startswith("We learn the step sizes") and "\n" not in first.abstract
    assert first.published == datetime(2024, 6, 4, 17, 52, 11, tzinfo=UTC)
    assert first.categories == ("cs.LG", "cs.AI", "cs.CV") and first.comment.startswith("12 pages")
    assert (old.title, old.authors, old.location) == (
        "Dualities of Score Functions on Curved Backgrounds", ("K. Tanaka", "Z. O'Brien"), "snapshot.jsonl:2")
    assert old.url == "https://arxiv.org/abs/hep-th/9901001"


def test_json_records_of_a_script_are_read_as_a_list_or_one_a_line():
    """A script's export (`jq -c`, pandas' to_json(orient="records")): keys
    named as it names them (Title, summary, link, arxiv_id, authors as a
    list or a line of names); one record alone too."""
    records = [{"Title": "Flow Matching on Manifolds", "summary": "We extend flow matching to manifolds.",
                "link": "https://arxiv.org/abs/2406.05555v2", "authors": ["Ada Lovelace", {"name": "Alan Turing"}]},
               {"title": "Notes on SGD", "abstract": "Heavy tails.", "arxiv_id": "arXiv:2406.06666",
                "authors": "Grace Hopper and Emmy Noether", "date": "2024-06-08"}]
    lines = "\n".join(json.dumps(r) for r in records).encode()
    as_list = json.dumps(records, indent=2).encode()
    for data in (lines, as_list):
        first, second = parse_feed(data, "export.json", "script", Collect())
        assert (first.arxiv_id, first.version, first.authors) == ("2406.05555", 2, ("Ada Lovelace", "Alan Turing"))
        assert (second.arxiv_id, second.authors, second.published) == (
            "2406.06666", ("Grace Hopper", "Emmy Noether"), datetime(2024, 6, 8, tzinfo=UTC))
    assert [p.location for p in parse_feed(lines, "export.jsonl", "script", Collect())] == [
        "export.jsonl:1", "export.jsonl:2"]
    # a JSON array's records: the file, not their positions in the array given as false lines
    assert [p.location for p in parse_feed(as_list, "export.json", "script", Collect())] == [
        "export.json", "export.json"]
    (one,) = parse_feed(json.dumps(records[1]).encode(), "one.json", "script", Collect())
    assert one.title == "Notes on SGD"


def test_csl_json_authors_are_read_by_their_family_and_given_names():
    """Zotero's and Mendeley's "CSL JSON" export names each author as
    ``{"family", "given"}`` (a group as ``{"literal"}``), with no "name":
    the authors came out empty."""
    record = {"id": "http://zotero.org/users/1/items/ABCD1234", "type": "article", "title": "Score Matching on Graphs",
              "abstract": "We study score matching on graphs.", "URL": "http://arxiv.org/abs/2406.03001",
              "number": "arXiv:2406.03001", "issued": {"date-parts": [["2024", 6, 5]]},
              "author": [{"family": "Doe", "given": "Jane"}, {"family": "Müller", "given": "Ana"},
                         {"literal": "The Graph Lab"}, {"family": "Plato"}]}
    (paper,) = parse_feed(json.dumps([record]).encode(), "zotero.json", "zotero", Collect())
    assert (paper.arxiv_id, paper.authors) == ("2406.03001", ("Jane Doe", "Ana Müller", "The Graph Lab", "Plato"))


def test_a_csv_and_the_arxiv_api_give_one_paper_for_the_same_arxiv_id(tmp_path, cli):
    """The Zotero export's preprint and the snapshot's record are the paper
    arXiv's API gives: `papers` lists it once, with arXiv's authors."""
    (tmp_path / "library.csv").write_bytes(ZOTERO.read_bytes())
    (tmp_path / "snapshot.jsonl").write_bytes(SNAPSHOT.read_bytes())
    write_config(tmp_path, """
        sources:
          - {type: feed, name: zotero, path: library.csv}
          - {type: feed, name: snapshot, path: snapshot.jsonl}
        topics: {t: {any: [diffusion]}}
        subscribers: [{email: ada@example.org, topics: [t]}]
        """)
    r = cli("papers", "--json")
    assert r.code == 0, r.err
    papers = json.loads(r.out)
    assert [p["id"] for p in papers].count("2406.03001") == 1
    assert {p["id"] for p in papers} >= {"2406.03001", "hep-th/9901001"}


FEED_LATIN1 = DATA / "feed-latin1.xml"


def test_a_feed_saved_as_utf_16_keeping_its_utf_8_declaration_is_read_by_its_byte_order_mark():
    """Notepad's "Unicode" or PowerShell's Out-File re-save a feed as UTF-16
    with its BOM and leave `encoding="utf-8"` in its declaration: the mark
    says the encoding (XML's rule)."""
    text = FEED_LATIN1.read_bytes().decode("latin-1").replace('encoding="ISO-8859-1"', 'encoding="utf-8"')
    expected = parse_feed(FEED_LATIN1.read_bytes(), "feed.xml", "group", Collect())
    for codec in ("utf-16", "utf-32"):
        papers = parse_feed(text.encode(codec), "feed.xml", "group", Collect())
        assert papers == expected
    declared = text.replace('encoding="utf-8"', 'encoding="utf-16"')  # as it should be: still read
    assert parse_feed(declared.encode("utf-16"), "feed.xml", "group", Collect()) == expected
    api = (DATA / "arxiv-api.xml").read_bytes()  # and arXiv's answer, saved again so
    assert parse_arxiv(api.decode().encode("utf-16"), "a.xml", "arXiv", Collect()).papers == parse_arxiv(
        api, "a.xml", "arXiv", Collect()).papers


def test_a_latin_1_feed_with_cdata_html_and_entities_reads_as_its_author_meant():
    """WordPress in ISO-8859-1: titles with numeric entities (`&#038;`,
    `&#8211;`), raw Latin-1 bytes in CDATA, HTML descriptions with entities
    and tags, a content:encoded whose link names the arXiv paper."""
    papers = parse_feed(FEED_LATIN1.read_bytes(), "feed.xml", "group", Collect())
    first, second = papers
    assert first.title == "Schrödinger-Brücken & Score Matching – Lesekreis am 7. Juni"
    # a post about a paper is the post (its link is its own), not the paper it links to in its body
    assert (first.arxiv_id, first.url) == (None, "https://ml.uni-example.de/2024/06/07/schroedinger-bruecken/")
    assert first.authors == ("Ana Müller",)
    assert first.abstract == ("Wir lesen „Score Matching for Schrödinger Bridges“ (Tanaka & O’Brien): Bridges zwischen "
                              "zwei Verteilungen, gelernt mit einem Netz für beide Richtungen. Für die Diskussion "
                              "genügt es, dass 5 < 6 ist.")  # without Yoast's "The post ... appeared first on ..."
    assert second.title == "Ein Beitrag ohne Zusammenfassung: <script>alert(1)</script>? Nein."  # text, escaped later
    assert second.abstract == "Am Pfingstmontag fällt der Lesekreis aus; nächstes Treffen am 7. Juni."
    with pytest.raises(InputError):
        parse_feed(FEED_LATIN1.read_bytes()[:-300], "feed.xml", "group", Collect())


def test_a_paper_sent_and_back_in_a_new_version_is_not_sent_again_and_match_says_so(tmp_path, cli):
    """Day 1: the /new listing gives 2406.02950 (v1), sent.  Day 2: arXiv's
    RSS feed announces its v2 (a replacement) beside a new paper: only the
    new one goes out, and `match` names the replacement left out instead of
    passing over it without a word (it read '1 paper', the reader's paper
    gone missing)."""
    (tmp_path / "new.html").write_bytes((DATA / "arxiv-list-new.html").read_bytes())
    (tmp_path / "rss.xml").write_bytes((DATA / "arxiv-rss2.xml").read_bytes())
    config = """
        sources: [{source}]
        topics: {{t: {{name: Matching, any: ["score matching", "flow matching"]}}}}
        subscribers: [{{email: ada@example.org, topics: [t]}}]
        delivery: {{transport: outbox, path: outbox}}
        """
    write_config(tmp_path, config.format(source="{type: arxiv, path: new.html}"))
    r = cli("send")
    assert r.code == 0 and "sent        ada@example.org: 1 paper " in r.out, r.out + r.err
    write_config(tmp_path, config.format(source="{type: feed, path: rss.xml}"))
    r = cli("match")
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert lines[0] == "ada@example.org: 1 paper"
    assert lines[1] == ("  not again: Score Matching for Schrödinger Bridges (2406.02950v2): went out before "
                        "(this version or an earlier one), and a paper sent is not sent again in a new version")
    assert "Flow Matching on Lie Groups" in lines[2]
    r = cli("match", "--json")
    (sub,) = json.loads(r.out)["subscribers"]
    assert sub["revised"] == [{"id": "2406.02950", "version": 2, "title": "Score Matching for Schrödinger Bridges"}]
    assert [p["id"] for p in sub["papers"]] == ["2406.05501"]
    r = cli("match", "--paper", "2406.02950")
    assert ("ada@example.org: not in the next digest: sent before; read now as its version 2, and a paper sent is not "
            "sent again in a new version") in r.out, r.out
    r = cli("send")
    assert r.code == 0 and "sent        ada@example.org: 1 paper " in r.out, r.out + r.err
    # only the replacement is left: `send` said "nothing new", as if the reader's paper had not come back
    not_again = ("not again: Score Matching for Schrödinger Bridges (2406.02950v2): went out before (this version "
                 "or an earlier one), and a paper sent is not sent again in a new version")
    r = cli("send")
    assert r.code == 0 and f"empty       ada@example.org: nothing new for them: no email; {not_again}\n" in r.out, r.out
    assert cli("match").out.splitlines()[1] == f"  {not_again}"
    r = cli("send", "--json")
    assert json.loads(r.out)["digests"][0]["not_again"] == [not_again], r.out
    r = cli("match", "--all", "--json")  # as if nothing had been sent: nothing held back to name
    assert json.loads(r.out)["subscribers"][0]["revised"] == []


@pytest.mark.parametrize("many", [False, True], ids=["one", "shared-by-processes"])
def test_send_counts_a_new_version_left_out_of_a_digest_with_other_papers(tmp_path, cli, many):
    """Day 2 brings 2406.02950v2 (sent on day 1) beside a new paper: `send`
    said only "1 paper", the replacement left out without a word (it named
    it only when the digest was otherwise empty; `match` names it).  A big
    send's forked workers pass the count on too."""
    import re

    from newsletter.sending import SHARD_MIN

    emails = [f"ada{i:03}@example.org" for i in range(SHARD_MIN if many else 1)]
    (tmp_path / "new.html").write_bytes((DATA / "arxiv-list-new.html").read_bytes())
    (tmp_path / "rss.xml").write_bytes((DATA / "arxiv-rss2.xml").read_bytes())
    subscribers = ", ".join(f"{{{{email: {e}, topics: [t]}}}}" for e in emails)  # braces doubled for format
    config = """
        sources: [{source}]
        topics: {{t: {{name: Matching, any: ["score matching", "flow matching"]}}}}
        subscribers: [{subscribers}]
        delivery: {{transport: outbox, path: outbox}}
        """.replace("{subscribers}", subscribers)
    write_config(tmp_path, config.format(source="{type: arxiv, path: new.html}"))
    r = cli("send")  # nothing left out: the lines as before
    assert r.code == 0, r.err
    sent = re.findall(r"^sent        (\S+): 1 paper <[^>\s]+>$", r.out, re.M)
    assert sorted(sent) == emails, r.out
    write_config(tmp_path, config.format(source="{type: feed, path: rss.xml}"))
    again = "; not again: 1 new version of a paper sent before"
    r = cli("send", "--dry-run")
    assert r.code == 0 and f"would send  {emails[0]}: 1 paper{again}\n" in r.out, r.out + r.err
    r = cli("send", "--dry-run", "--json")
    digest = json.loads(r.out)["digests"][0]
    assert (digest["status"], digest["papers"]) == ("would send", 1)
    assert digest["not_again"] == [
        "not again: Score Matching for Schrödinger Bridges (2406.02950v2): went out before (this version or an "
        "earlier one), and a paper sent is not sent again in a new version"]
    r = cli("send")
    assert r.code == 0, r.err
    sent = re.findall(rf"^sent        (\S+): 1 paper <[^>\s]+>{re.escape(again)}$", r.out, re.M)
    assert sorted(sent) == emails, r.out


def _arxiv_atom(version: int, count: int) -> str:
    """An arXiv API answer of ``count`` papers on score matching, each in ``version``."""
    entries = "".join(f"""
  <entry>
    <id>http://arxiv.org/abs/2406.0100{n}v{version}</id>
    <published>2024-06-0{n + 1}T10:00:00Z</published>
    <title>Score Matching Study {n}</title>
    <summary>We study score matching in setting {n} and report what it gives.</summary>
    <author><name>Ada Lovelace</name></author>
  </entry>""" for n in range(count))
    return f'''<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>ArXiv Query</title><id>http://arxiv.org/api/q</id>{entries}
</feed>
'''


def test_send_names_new_versions_as_match_does_and_counts_the_rest(tmp_path, cli):
    """Five papers sent, then all five back in v2: `send` named every one of
    them after `empty` (one line however many) where `match` named three and
    counted the rest, and its --json had their sentences but not match's
    `revised` records.  Both say the same now."""
    config = """
        sources: [{type: arxiv, path: papers.xml}]
        topics: {t: {name: Matching, any: ["score matching"]}}
        subscribers: [{email: ada@example.org, topics: [t]}]
        delivery: {transport: outbox, path: outbox}
        """
    write_config(tmp_path, config)
    (tmp_path / "papers.xml").write_text(_arxiv_atom(1, 5), encoding="utf-8")
    r = cli("send")
    assert r.code == 0 and "sent        ada@example.org: 5 papers " in r.out, r.out + r.err
    (tmp_path / "papers.xml").write_text(_arxiv_atom(2, 5), encoding="utf-8")
    said = cli("match").out.splitlines()[1:]
    assert len(said) == 4 and said[3] == "  not again: 2 more papers back in a new version", said
    r = cli("send")
    assert r.code == 0, r.err
    (line,) = [x for x in r.out.splitlines() if x.startswith("empty")]
    assert line == "empty       ada@example.org: nothing new for them: no email; " + "; ".join(x.strip() for x in said)
    (digest,) = json.loads(cli("send", "--json").out)["digests"]
    (sub,) = json.loads(cli("match", "--json").out)["subscribers"]
    assert digest["revised"] == sub["revised"] and len(sub["revised"]) == 5, (digest, sub)
    assert sub["revised"][0] == {"id": "2406.01000", "version": 2, "title": "Score Matching Study 0"}
    assert len(digest["not_again"]) == 5


def test_json_lines_of_other_records_say_what_a_feed_source_reads(tmp_path, cli):
    """Log lines or members as JSON Lines given as a feed: it was 'a JSON
    document, not an RSS or Atom feed (Hugging Face's ...)'."""
    (tmp_path / "log.jsonl").write_text('{"ts": 1, "level": "info"}\n{"ts": 2, "level": "warn"}\n', encoding="utf-8")
    write_config(tmp_path, """
        sources: [{type: feed, name: export, path: log.jsonl}]
        topics: {t: {any: [diffusion]}}
        subscribers: [{email: ada@example.org, topics: [t]}]
        """)
    r = cli("papers")
    assert r.code == 2 and r.err.strip() == (
        "log.jsonl:1: source 'export': JSON Lines whose records have no title and abstract (the first one's keys: "
        "'ts', 'level'); a feed source reads records with keys such as title, abstract, authors, url"), r.err


def test_hugging_faces_daily_papers_given_as_a_feed_still_say_the_source_that_reads_them():
    """Its entries repeat the paper's title and summary beside the paper: read
    as plain records they were papers without their arXiv ids and authors."""
    entries = json.loads((DATA / "hf-daily-2024-06-06.json").read_text(encoding="utf-8"))
    for entry in entries:
        entry.update(title=entry["paper"]["title"], summary=entry["paper"]["summary"])
    for data in (json.dumps(entries), "\n".join(json.dumps(e) for e in entries)):
        with pytest.raises(InputError, match="Hugging Face's daily papers JSON is `type: hf-daily`"):
            parse_feed(data.encode(), "hf.json", "x", Collect())


@pytest.mark.parametrize("description, abstract", [
    ("&amp;lt;p&amp;gt;We study Gr&amp;amp;ouml;bner bases &amp;amp;amp; more.&amp;lt;/p&amp;gt;&amp;lt;p&amp;gt;Second."
     "&amp;lt;/p&amp;gt;", "We study Gröbner bases & more. Second."),
    ("Line one&amp;lt;br /&amp;gt;line two", "Line one line two"),
    ("Bounds for $n &amp;lt; p$ and $p &amp;gt; 2$, i.e. x &amp;lt;p and p&amp;gt; y.",
     "Bounds for $n < p$ and $p > 2$, i.e. x <p and p> y."),
])
def test_a_description_escaped_twice_shows_its_text_not_its_tags(description, abstract):
    """Some generators escape a description's HTML twice: once decoded it
    read '<p>We study ...</p>' in the email.  Text that only has a '<' (math)
    keeps it."""
    feed = ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Lab</title><item>'
            f'<title>A post</title><link>https://lab.example.org/1</link><description>{description}</description>'
            '</item></channel></rss>')
    (paper,) = parse_feed(feed.encode(), "feed.xml", "lab", Collect())
    assert paper.abstract == abstract


@pytest.mark.parametrize("day", ["0000", "0000-01", "2024-13", "00.06.0000"])
def test_a_record_with_an_impossible_year_or_month_is_read_without_its_date(day):
    """A year "0000" (a spreadsheet's empty date) or a month 13: the paper
    without a date, never a traceback from datetime()."""
    records = [{"title": "A", "abstract": "B", "date": day}, {"title": "C", "abstract": "D", "date": "2024-06-08"}]
    first, second = parse_feed("\n".join(json.dumps(r) for r in records).encode(), "x.jsonl", "script", Collect())
    assert (first.title, first.published) == ("A", None)
    assert second.published == datetime(2024, 6, 8, tzinfo=UTC)


def test_json_lines_with_a_raw_line_separator_in_an_abstract_read_each_record_at_its_line():
    """A raw U+2028 or U+0085 inside a record's abstract is no end of its line
    (JSON Lines ends one at "\\n"): each record read, located at its line."""
    records = [{"title": "A", "abstract": "One\u2028two\x85three."}, {"title": "C", "abstract": "D"}]
    data = "\n".join(json.dumps(r, ensure_ascii=False) for r in records).encode()
    first, second = parse_feed(data, "x.jsonl", "script", Collect())
    assert (first.title, first.location, second.location) == ("A", "x.jsonl:1", "x.jsonl:2")
    assert first.abstract.startswith("One") and first.abstract.endswith("three.")


def test_json_records_parted_by_a_lone_carriage_return_are_a_located_error_not_a_traceback(tmp_path, cli):
    """Records parted by a lone "\\r" (an old Mac's line ends) are no JSON Lines:
    one located error, exit 2, where an IndexError stopped the run."""
    (tmp_path / "x.jsonl").write_text('{"title": "A", "abstract": "B"}\r{"title": "C", "abstract": "D"}\r',
                                      encoding="utf-8", newline="")
    write_config(tmp_path, """
        sources: [{type: feed, name: export, path: x.jsonl}]
        topics: {t: {any: [diffusion]}}
        subscribers: [{email: ada@example.org, topics: [t]}]
        """)
    r = cli("papers")
    assert r.code == 2 and r.err.startswith("x.jsonl:1: source 'export': "), r.err
    assert "Traceback" not in r.err and r.out == ""


@pytest.mark.parametrize("issued, day", [
    ({"date-parts": [[2024, 6, 5]]}, datetime(2024, 6, 5, tzinfo=UTC)),
    ({"date-parts": [["2024", "6"]]}, datetime(2024, 6, 1, tzinfo=UTC)),
    ({"date-parts": [[2024]]}, datetime(2024, 1, 1, tzinfo=UTC)),
    ({"raw": "2024-06-05"}, datetime(2024, 6, 5, tzinfo=UTC)),
    ({"literal": "05.06.2024"}, datetime(2024, 6, 5, tzinfo=UTC)),
    ({"date-parts": [[2024, 13, 1]]}, None),
    ({"season": 2}, None),
])
def test_a_csl_json_records_issued_date_is_its_day(issued, day):
    """CSL JSON (Zotero's, Mendeley's, pandoc's) dates a paper by ``issued``,
    an object: its date-parts, else its raw or literal text.  It was passed
    over, and every paper of such an export came without a date."""
    records = json.loads((DATA / "zotero-csl.json").read_text(encoding="utf-8"))
    records[0]["issued"] = issued
    first, _ = parse_feed(json.dumps(records).encode(), "zotero.json", "zotero", Collect())
    assert first.published == day


def test_a_zotero_csl_json_export_gives_its_items_as_papers():
    """Zotero's "Export Collection... -> CSL JSON" of two preprints: their
    ids, versions (from the URL where the Number has none), authors and days."""
    first, second = parse_feed((DATA / "zotero-csl.json").read_bytes(), "zotero.json", "zotero", Collect())
    assert (first.arxiv_id, first.version, first.published) == ("2406.03001", 2, datetime(2024, 6, 4, tzinfo=UTC))
    assert first.authors == ("Jane Doe", "Ana Müller") and first.abstract.startswith("We learn the step sizes")
    assert (second.arxiv_id, second.version, second.published) == ("2101.00001", 3, datetime(2021, 1, 1, tzinfo=UTC))
    assert second.pdf_url == "https://arxiv.org/pdf/2101.00001v3"


@pytest.mark.parametrize("number", ["2101.00001", "arXiv:2101.00001"])
def test_an_unversioned_number_keeps_the_version_its_url_names(number):
    """Zotero's Number (or an arxiv_id column) without a version beside a URL
    naming v3 (arxiv.org/abs/2101.00001v3): the paper is v3.  The Number won,
    and the version was lost: a v3 sent later came back as 'new'."""
    row = {"title": "Old Ideas, New Tricks", "abstract": "We revisit old ideas.", "Number": number,
           "Url": "https://arxiv.org/abs/2101.00001v3"}
    (paper,) = parse_feed(json.dumps([row]).encode(), "export.json", "zotero", Collect())
    assert (paper.arxiv_id, paper.version) == ("2101.00001", 3)
    # a link to another paper's version does not version this one
    row["Url"] = "https://arxiv.org/abs/2101.00002v3"
    (paper,) = parse_feed(json.dumps([row]).encode(), "export.json", "zotero", Collect())
    assert (paper.arxiv_id, paper.version) == ("2101.00001", None)


def test_a_json_document_on_one_line_is_parsed_once(monkeypatch):
    """An API's answer comes on one line; it was parsed as JSON Lines first
    (a list of one, not JSON Lines) and then again as the document it is:
    a 50 MB answer read twice."""
    import newsletter.feeds as feeds

    one_line = json.dumps(json.loads((DATA / "zotero-csl.json").read_bytes())).encode()
    assert b"\n" not in one_line
    calls = []
    real = feeds.json.loads
    monkeypatch.setattr(feeds.json, "loads", lambda text, *a, **k: calls.append(len(text)) or real(text, *a, **k))
    assert len(parse_feed(one_line, "zotero.json", "zotero", Collect())) == 2
    assert len(calls) == 1


def test_a_csv_whose_header_names_no_title_and_abstract_says_its_columns_once_read(tmp_path, cli):
    """The header line is taken once, for reading the columns and for the
    message naming them (CRLF line ends as Excel writes them: no stray
    carriage return in the last column's name)."""
    (tmp_path / "papers.csv").write_bytes(b"Name,Notes,Link\r\nA,B,https://example.org\r\n")
    write_config(tmp_path, """
        sources: [{type: feed, path: papers.csv}]
        topics: {t: {any: [diffusion]}}
        subscribers: [{email: ada@example.org, topics: [t]}]
        """)
    r = cli("papers")
    assert r.code == 2 and r.err.strip() == (
        "papers.csv:1: source 'feed': a CSV file without a title and an abstract column (its columns: 'Name', "
        "'Notes', 'Link'); expected columns such as title, authors, abstract, url, in any order"), r.err


def test_an_openalex_works_answer_gives_its_papers_with_their_abstracts_put_back_in_order():
    """api.openalex.org/works?search=... saved: OpenAlex gives no abstract as
    text, only an inverted index (each word with its positions); the words
    are put back in order.  An arXiv preprint's DOI (10.48550/arxiv.ID) gives
    its id.  It was 'a JSON document, not an RSS or Atom feed (Hugging Face's
    daily papers JSON is `type: hf-daily`)'."""
    data = (DATA / "openalex-works.json").read_bytes()
    warnings = Collect()
    preprint, article = parse_feed(data, "openalex.json", "openalex", warnings)
    assert (preprint.arxiv_id, preprint.title) == ("2406.03001", "Faster Diffusion Sampling with Learned Step Sizes")
    assert preprint.abstract == ("We learn the step sizes of a diffusion model sampler from data, reducing the number "
                                 "of function evaluations by a factor of four at equal sample quality.")
    assert preprint.authors == ("Jane Doe", "Ana Müller") and preprint.published == datetime(2024, 6, 4, tzinfo=UTC)
    assert (article.arxiv_id, article.url, article.authors) == (
        None, "https://doi.org/10.1038/s41586-024-00001-1", ("Grace Hopper",))
    assert article.abstract.startswith("Graph neural networks for molecules: we study message passing") and not warnings
    # one work alone (api.openalex.org/works/W...), its index shuffled as JSON objects may be
    work = json.loads(data)["results"][0]
    work["abstract_inverted_index"] = dict(reversed(work["abstract_inverted_index"].items()))
    (one,) = parse_feed(json.dumps(work).encode(), "work.json", "openalex", Collect())
    assert one.abstract == preprint.abstract


def test_a_zotero_ris_export_gives_its_items_as_papers():
    """Zotero's "Export Collection... -> RIS" (CRLF line ends, "Last, First"
    names, a wrapped abstract, "2024/06/04/" days): it was 'not an RSS or
    Atom feed: the answer is text, 'TY  - PREPRINT''."""
    data = (DATA / "zotero-export.ris").read_bytes()
    assert b"\r\n" in data
    warnings = Collect()
    preprint, article = parse_feed(data, "library.ris", "zotero", warnings)
    assert (preprint.arxiv_id, preprint.title, preprint.location) == (
        "2406.03001", "Faster Diffusion Sampling with Learned Step Sizes for ϵ-Prediction", "library.ris:1")
    assert preprint.authors == ("Jane Doe", "Ana Müller", "John Smith Jr.")
    assert preprint.published == datetime(2024, 6, 4, tzinfo=UTC) and preprint.abstract.endswith("steps suffice.")
    assert (article.arxiv_id, article.url, article.location) == (
        None, "https://doi.org/10.1234/jcl.2023.0012", "library.ris:18")
    assert article.abstract == ("Graph neural networks for molecules: we study message passing and equivariant "
                                "architectures for property prediction and molecule generation.")
    assert warnings == []
    # as Windows tools save it: UTF-16 with its byte order mark
    assert parse_feed(data.decode("utf-8").encode("utf-16"), "library.ris", "zotero", Collect()) == [
        preprint, article]


def test_a_bibtex_export_gives_its_entries_as_papers():
    """Zotero's BibTeX (tab-indented, {Braced} words, LaTeX accents, its
    escapes of $ and <), Google Scholar's ("journal={arXiv preprint
    arXiv:ID}") and arXiv's own ("eprint", "primaryClass"): each its arXiv
    id, authors by their first names, day.  Entries without an abstract are
    read by their titles, and said so once."""
    warnings = Collect()
    zotero, scholar, arxiv = parse_feed((DATA / "zotero-export.bib").read_bytes(), "refs.bib", "bib", warnings)
    assert (zotero.arxiv_id, zotero.authors, zotero.published, zotero.location) == (
        "2406.03001", ("Jane Doe", "Ana Müller", "John Smith Jr."), datetime(2024, 6, 1, tzinfo=UTC), "refs.bib:2")
    assert zotero.title == r"Faster Diffusion Sampling with Learned Step Sizes for $\epsilon$-Prediction"
    assert zotero.abstract.endswith(r"ImageNet $64\times 64$, where $T<10$ steps suffice.")
    assert (scholar.arxiv_id, scholar.authors, scholar.abstract) == (
        "2006.11239", ("Jonathan Ho", "Ajay Jain", "Pieter Abbeel"), "")
    assert (arxiv.arxiv_id, arxiv.title, arxiv.categories) == (
        "2406.02950", "Score Matching for Schrödinger Bridges", ("cs.LG",))
    assert warnings == ["refs.bib: source 'bib': entry 2 (line 16) and 1 more without a summary: read by the title "
                        "only (topics' abstract terms cannot match it, and the email shows no abstract)"]


@pytest.mark.parametrize("name, text, line, said", [
    ("refs.bib", "@misc{a, title={One}, abstract={A.}}\n\n@misc{b,\n  title = {Two,\n  year = 2024\n}\n", 3,
     "this BibTeX entry does not parse (a brace or a quote left open, or a comma missing?)"),
    ("refs.bib", "@misc{a, title={One}, abstract={A.},\n  url={https://a.org/1},\n  url = {https://a.org/2}}\n", 3,
     "this BibTeX entry gives its field 'url' a second time (the entry starts at line 1): which one is meant? "
     "Keep one"),
    ("refs.bib", "@string{j = {Journal X}}\n@string{j = {Journal Y}}\n@misc{a, title={One}, journal=j}\n", 2,
     "this @string 'j' is defined a second time (first at line 1): which one is meant? Keep one"),
    ("refs.ris", "TY  - JOUR\nTI  - One\nAB  - A.\nER  - \n\nTY  - JOUR\nTI  - Two\nAB  - Cut", 6,
     "this RIS record has no end (no 'ER  - ' line after it): the export is cut off? Export it again"),
    ("refs.ris", "TY  - JOUR\nTI  - One\nTY  - JOUR\nTI  - Two\nER  - \n", 1,
     "this RIS record has no end (no 'ER  - ' line after it): the export is cut off? Export it again"),
])
def test_a_broken_citation_export_is_one_located_error_and_exit_2(tmp_path, cli, name, text, line, said):
    """A brace left open took the rest of the file into one field; a RIS
    export cut off lost its last record without a word."""
    (tmp_path / name).write_text(text, encoding="utf-8")
    write_config(tmp_path, f"""
        sources: [{{type: feed, path: {name}}}]
        topics: {{t: {{any: [diffusion]}}}}
        subscribers: [{{email: ada@example.org, topics: [t]}}]
        """)
    r = cli("papers")
    assert r.code == 2 and r.err.strip() == f"{name}:{line}: source 'feed': {said}", r.err


OAI = DATA / "arxiv-oai.xml"
_OAI_HEAD = ('<?xml version="1.0" encoding="UTF-8"?>\n<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">\n'
             '<responseDate>2024-06-07T12:00:03Z</responseDate>\n')


def test_an_arxiv_oai_pmh_harvest_is_read_by_an_arxiv_or_a_feed_source():
    """export.arxiv.org/oai2?verb=ListRecords&metadataPrefix=arXiv saved: each
    record's id, title, authors (forenames, keyname, suffix), abstract,
    categories, comments and the day of v1; a deleted record is none.  It
    was 'not an RSS or Atom feed', naming nothing of what it is."""
    data = OAI.read_bytes()
    warnings = Collect()
    new, old = parse_arxiv(data, "oai.xml", "arXiv", warnings).papers
    assert (new.arxiv_id, new.authors) == ("2406.03001", ("Jane Doe", "Ana Müller", "John Smith Jr"))
    assert new.title == r"Faster Diffusion Sampling with Learned Step Sizes for $\epsilon$-Prediction"
    assert new.abstract.endswith(r"CIFAR-10 & ImageNet $64\times 64$, where $T<10$ steps suffice.")
    assert (new.categories, new.comment, new.published) == (
        ("cs.LG", "stat.ML"), "12 pages, 6 figures", datetime(2024, 6, 4, tzinfo=UTC))
    assert (old.arxiv_id, old.authors, old.url) == (
        "hep-th/9901001", ("K. Tanaka", "Z. O'Brien"), "https://arxiv.org/abs/hep-th/9901001")
    assert warnings == [] and parse_feed(data, "oai.xml", "reading", Collect()) == [
        replace(p, source="reading") for p in (new, old)]


def test_oai_pmh_pages_joined_into_one_file_are_read_by_a_feed_source_as_by_an_arxiv_one():
    """``cat page1.xml page2.xml``: a feed source took the joined file for
    one OAI-PMH answer (not well-formed at the second page) though an arxiv
    source read both pages; now each page is read, as ``type: arxiv`` does."""
    pages = (DATA / "arxiv-oai-page1.xml").read_bytes() + (DATA / "arxiv-oai-page2.xml").read_bytes()
    said = Collect()
    expected = [p.arxiv_id for p in parse_arxiv(pages, "pages.xml", "reading", said).papers]
    assert len(expected) == 3
    warnings = Collect()
    assert [p.arxiv_id for p in parse_feed(pages, "pages.xml", "reading", warnings)] == expected
    assert warnings == said  # (each page's own word, as the arxiv source says it)


def test_arxivs_oai_pmh_raw_and_dublin_core_records_are_read_too():
    """metadataPrefix=arXivRaw (every version with its day, authors on one
    line: the last version is the paper's, v1's day its day) and oai_dc
    (creators "Last, First", the first description the abstract, a
    "Comment:" one the comment)."""
    raw = _OAI_HEAD + """<GetRecord><record><header><identifier>oai:arXiv.org:2406.03001</identifier></header>
<metadata><arXivRaw xmlns="http://arxiv.org/OAI/arXivRaw/"><id>2406.03001</id><submitter>Jane Doe</submitter>
<version version="v1"><date>Tue, 4 Jun 2024 15:40:02 GMT</date><size>812kb</size></version>
<version version="v2"><date>Thu, 6 Jun 2024 09:01:00 GMT</date><size>815kb</size></version>
<title>Faster Diffusion Sampling</title><authors>Jane Doe, Ana M\u00fcller and John Smith</authors>
<categories>cs.LG</categories><abstract>We learn step sizes.</abstract></arXivRaw></metadata></record></GetRecord></OAI-PMH>"""
    (paper,) = parse_feed(raw.encode(), "raw.xml", "oai", Collect())
    assert (paper.arxiv_id, paper.version, paper.authors, paper.published) == (
        "2406.03001", 2, ("Jane Doe", "Ana Müller", "John Smith"), datetime(2024, 6, 4, 15, 40, 2, tzinfo=UTC))
    dc = _OAI_HEAD + """<ListRecords><record><header><identifier>oai:arXiv.org:2406.03001</identifier></header>
<metadata><oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" xmlns:dc="http://purl.org/dc/elements/1.1/">
<dc:title>Faster Diffusion Sampling</dc:title><dc:creator>Doe, Jane</dc:creator><dc:creator>M\u00fcller, Ana</dc:creator>
<dc:subject>Computer Science - Machine Learning</dc:subject><dc:description>We learn step sizes.</dc:description>
<dc:description>Comment: 12 pages</dc:description><dc:date>2024-06-04</dc:date><dc:date>2024-06-06</dc:date>
<dc:type>text</dc:type><dc:identifier>http://arxiv.org/abs/2406.03001</dc:identifier></oai_dc:dc></metadata>
</record></ListRecords></OAI-PMH>"""
    (paper,) = parse_feed(dc.encode(), "dc.xml", "oai", Collect())
    assert (paper.arxiv_id, paper.authors, paper.abstract, paper.comment, paper.published) == (
        "2406.03001", ("Jane Doe", "Ana Müller"), "We learn step sizes.", "12 pages", datetime(2024, 6, 4, tzinfo=UTC))


@pytest.mark.parametrize("body, line, said", [
    ('<error code="badResumptionToken">The value of the resumptionToken argument is invalid or expired.</error>'
     "</OAI-PMH>", 4, "an OAI-PMH error answer, not records: badResumptionToken: The value of the resumptionToken "
     "argument is invalid or expired."),
    ('<ListRecords><record><header><identifier>oai:arXiv.org:2406.03001</identifier></header><metadata>'
     '<mods xmlns="http://www.loc.gov/mods/v3"><titleInfo/></mods></metadata></record></ListRecords></OAI-PMH>', 1,
     "an OAI-PMH answer in the metadata format 'mods'; arXiv, arXivRaw and oai_dc are read (metadataPrefix=arXiv)"),
    ("<ListRecords><record><header><identifier>oai:arXiv.org:2406.03001</identifier>", 5,
     "an OAI-PMH answer that is not well-formed XML (no element found); cut off?"),
])
def test_an_oai_pmh_error_a_format_not_read_or_a_cut_harvest_is_one_located_error(tmp_path, cli, body, line, said):
    (tmp_path / "oai.xml").write_text(_OAI_HEAD + body + "\n", encoding="utf-8")
    write_config(tmp_path, """
        sources: [{type: arxiv, path: oai.xml}]
        topics: {t: {any: [diffusion]}}
        subscribers: [{email: ada@example.org, topics: [t]}]
        """)
    r = cli("papers")
    assert r.code == 2 and r.err.strip() == f"oai.xml:{line}: source 'arxiv': {said}", r.err


def test_an_oai_pmh_answer_without_records_is_said_once_and_reads_nothing():
    warnings = Collect()
    data = (_OAI_HEAD + '<error code="noRecordsMatch">The combination of the values of the from, until, set and '
            'metadataPrefix arguments results in an empty list.</error></OAI-PMH>').encode()
    assert parse_feed(data, "oai.xml", "oai", warnings) == []
    assert warnings == ["oai.xml:1: source 'oai': the OAI-PMH answer has no records (noRecordsMatch); nothing read "
                        "from it"]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32"])
def test_a_json_answer_or_json_lines_saved_as_utf_16_is_read_by_a_feed_source(encoding):
    """PowerShell's Out-File (and Notepad's "Unicode") save UTF-16: a saved
    API answer given to a feed source was 'not a well-formed feed (invalid
    token)', its first bytes no '{'; JSON Lines too, CRLF line ends and all."""
    answer = (DATA / "openalex-works.json").read_text(encoding="utf-8")
    expected = parse_feed(answer.encode(), "works.json", "s", Collect())
    assert parse_feed(answer.encode(encoding), "works.json", "s", Collect()) == expected
    lines = SNAPSHOT.read_text(encoding="utf-8").replace("\n", "\r\n")
    assert parse_feed(lines.encode(encoding), "s.jsonl", "s", Collect()) == parse_feed(
        lines.encode(), "s.jsonl", "s", Collect())


def test_json_lines_in_windows_1252_keep_their_accented_names():
    """JSON Lines saved by PowerShell 5's Set-Content are Windows-1252: read
    with replacement characters, 'Ana Müller' was 'Ana M\ufffdller' without a
    word.  Bytes that are neither UTF-8 nor Windows-1252 are an error."""
    records = [{"title": "Faster Diffusion Sampling", "abstract": "We learn step sizes.",
                "authors": "Jane Doe, Ana Müller"},
               {"title": "Notes on SGD", "abstract": "Heavy tails.", "authors": "Grace Hopper"}]
    data = "\r\n".join(json.dumps(r, ensure_ascii=False) for r in records).encode("cp1252")
    first, _ = parse_feed(data, "export.jsonl", "script", Collect())
    assert first.authors == ("Jane Doe", "Ana Müller") and first.location == "export.jsonl:1"
    with pytest.raises(InputError, match="not UTF-8 text, expected JSON"):
        parse_feed(data.replace(b"\xfc", b"\x81"), "export.jsonl", "script", Collect())


@pytest.mark.parametrize("fixture, kind", [
    ("zotero-export.bib", "a BibTeX export"), ("zotero-export.ris", "a RIS export"),
    ("zotero-export.csv", "a CSV export of papers"), ("openalex-works.json", "a saved OpenAlex answer"),
    ("semantic-scholar-search.json", "a saved Semantic Scholar answer"),
    ("arxiv-metadata-snapshot.jsonl", "JSON records of papers"), ("pubmed-export.nbib", "a MEDLINE export"),
    ("endnote-export.xml", "an EndNote XML export"), ("zotero-export.rdf", "a Zotero RDF export"),
    ("europepmc-search.json", "a saved Europe PMC answer"), ("dblp-search.json", "a saved DBLP answer"),
    ("dblp-person.xml", "DBLP's XML"), ("europepmc-search.xml", "a saved Europe PMC answer"),
    ("inspire-literature.json", "a saved INSPIRE answer"), ("ads-search.json", "a saved ADS answer"),
])
def test_a_file_only_a_feed_source_reads_given_to_another_source_says_so(tmp_path, cli, fixture, kind):
    """It was 'not an RSS or Atom feed: the answer is text, '@misc{...'', or
    'a JSON document' with a hint at hf-daily (`type: arxiv`), 'no Hugging
    Face papers page header ...; is this a papers listing export?'
    (`type: hf-papers-text`), or 'not JSON: the answer is text' (`type:
    hf-daily`), of files `type: feed` reads."""
    (tmp_path / fixture).write_bytes((DATA / fixture).read_bytes())
    for kind_of_source, said in (
            ("arxiv", f"source 'arxiv': {kind}, not arXiv's Atom (`type: feed` with `path:` reads it)"),
            ("hf-papers-text", "no Hugging Face papers page header (lines such as 'Get trending papers in your email "
                               f"inbox!' and 'Subscribe') (it is {kind}: type: feed reads it)"),
            ("hf-daily", f"source 'hf-daily': {kind}, not the JSON list of daily papers (`type: feed` with `path:` "
                         "reads it)")):
        write_config(tmp_path, f"""
            sources: [{{type: {kind_of_source}, path: {fixture}}}]
            topics: {{t: {{any: [diffusion]}}}}
            subscribers: [{{email: ada@example.org, topics: [t]}}]
            """)
        r = cli("papers")
        line = 2 if fixture.endswith(".bib") and kind_of_source == "hf-papers-text" else 1  # (its first line: blank)
        assert r.code == 2 and r.err.strip() == f"{fixture}:{line}: {said}", r.err


def test_a_crossref_works_answer_gives_its_papers():
    """api.crossref.org/works?query=... saved (bioRxiv's and medRxiv's
    preprints are there with their DOIs): each work's title (a list of one),
    its JATS abstract as text without its 'Abstract' heading, authors by
    given and family name, the day it was posted, its DOI link.  It was 'a
    JSON document, not an RSS or Atom feed'; one work alone too."""
    data = (DATA / "crossref-works.json").read_bytes()
    warnings = Collect()
    preprint, article = parse_feed(data, "crossref.json", "crossref", warnings)
    assert (preprint.title, preprint.authors, preprint.published, preprint.url) == (
        "Protein Folding with Score-Based Diffusion", ("Jane Doe", "Ana Müller"), datetime(2024, 6, 4, tzinfo=UTC),
        "https://doi.org/10.1101/2024.06.04.597001")
    assert preprint.abstract == ("We fold proteins with diffusion models & score matching, improving accuracy on de "
                                 "novo designs.")
    assert (article.abstract, article.published) == ("", datetime(2023, 3, 1, tzinfo=UTC))
    assert warnings == ["crossref.json: source 'crossref': record 2 (10.1234/jcl.2023.0012) without a summary: read "
                        "by the title only (topics' abstract terms cannot match it, and the email shows no abstract)"]
    one = {"status": "ok", "message-type": "work", "message": json.loads(data)["message"]["items"][0]}
    assert parse_feed(json.dumps(one).encode(), "work.json", "crossref", Collect()) == [
        replace(preprint, location="work.json")]


def test_a_pubmed_medline_export_gives_its_records_as_papers():
    """PubMed's "Send to: Citation manager" (.nbib, MEDLINE tags): titles and
    abstracts carried on by indented lines, full author names, the day (the
    electronic one where the print one is a season), the PubMed page as the
    link.  It was 'not an RSS or Atom feed: the answer is text, 'PMID-
    38837012''."""
    warnings = Collect()
    first, second = parse_feed((DATA / "pubmed-export.nbib").read_bytes(), "pubmed.nbib", "pubmed", warnings)
    assert first.title == "Score-based diffusion models for cryo-EM density maps of protein complexes."
    assert first.abstract.startswith("Cryo-electron microscopy yields density maps whose resolution varies across a "
                                     "structure. We train") and first.abstract.endswith("for 38 of 50 test complexes.")
    assert (first.authors, first.published, first.url, first.location) == (
        ("Jane Doe", "Ana Müller"), datetime(2024, 6, 5, tzinfo=UTC), "https://pubmed.ncbi.nlm.nih.gov/38837012/",
        "pubmed.nbib:1")
    assert (second.authors, second.published, second.location) == (
        ("Grace Hopper",), datetime(2024, 4, 2, tzinfo=UTC), "pubmed.nbib:33")
    assert warnings == []
    # with a BOM and CRLF line ends, as Windows tools save it
    bom = b"\xef\xbb\xbf" + (DATA / "pubmed-export.nbib").read_bytes().replace(b"\n", b"\r\n")
    assert parse_feed(bom, "pubmed.nbib", "pubmed", Collect()) == [first, second]
    with pytest.raises(InputError, match=r"pubmed.nbib:3: .*a MEDLINE \(PubMed\) export, but this line is no"):
        parse_feed(b"PMID- 1\nTI  - One\n<html>\n", "pubmed.nbib", "pubmed", Collect())


def test_a_bibtex_export_under_its_tools_header_is_read_and_a_text_quoting_an_entry_is_not_one():
    """Mendeley and JabRef write a few lines before the first entry; a long
    text that merely quotes an entry somewhere (a saved page, notes) is no
    BibTeX export, and keeps its own error."""
    mendeley = ("Automatically generated by Mendeley Desktop.\nAny changes to this file will be lost if it is "
                "regenerated by Mendeley.\n\nBibTeX export options can be customized via Options -> BibTeX in "
                "Mendeley Desktop\n\n@article{Doe2024,\nabstract = {We learn step sizes.},\narchivePrefix = {arXiv},\n"
                "author = {Doe, Jane},\neprint = {2406.03001},\ntitle = {{Faster Diffusion Sampling}},\nyear = {2024}\n}\n")
    (paper,) = parse_feed(mendeley.encode(), "library.bib", "mendeley", Collect())
    assert (paper.arxiv_id, paper.title, paper.location) == ("2406.03001", "Faster Diffusion Sampling", "library.bib:6")
    notes = "\n".join(f"Note {i}: a line of my reading notes." for i in range(12)) + "\n@misc{x, title={Y}}\n"
    with pytest.raises(InputError, match="not an RSS or Atom feed: the answer is text, 'Note 0: a line"):
        parse_feed(notes.encode(), "notes.txt", "notes", Collect())


@pytest.mark.parametrize("answer, kind", [
    ({"messages": [{"status": "no posts found"}], "collection": []}, "bioRxiv"),
    ({"total": 0, "offset": 0, "data": []}, "Semantic Scholar"),
    ({"meta": {"count": 0, "page": 1, "per_page": 25}, "results": [], "group_by": []}, "OpenAlex"),
    ({"status": "ok", "message-type": "work-list", "message": {"total-results": 0, "items": []}}, "Crossref"),
    ({"count": 0, "notes": []}, "OpenReview"),
])
def test_a_scholarly_apis_answer_without_results_is_nothing_new_said_once(answer, kind):
    """A weekend's bioRxiv day ('no posts found'), a search that found
    nothing: the source has nothing new.  It was 'a JSON document, not an RSS
    or Atom feed', and the source failed (every run of a quiet day, exit 2)."""
    warnings = Collect()
    assert parse_feed(json.dumps(answer).encode(), "day.json", "api", warnings) == []
    assert warnings == [f"day.json:1: source 'api': the {kind} answer holds no papers; nothing read from it"]


def test_a_wrapped_line_of_a_tag_not_read_is_skipped_with_it_in_medline_and_ris():
    """PubMed wraps the AD affiliation of almost every record, and RIS
    exports wrap keywords and notes: such a line was 'no TAG - value line'
    or 'outside any record' though its record's first line was above it."""
    medline = (b"PMID- 38000001\nDP  - 2024 Jun 5\nTI  - Deep learning for protein structure prediction in a long\n"
               b"      title.\nAB  - We present a method.\nFAU - Doe, Jane\nAD  - Department of Computer Science,\n"
               b"      Cambridge, MA, USA.\nFAU - Smith, John\n")
    (paper,) = parse_feed(medline, "pubmed.nbib", "pubmed", Collect())
    assert (paper.title, paper.authors) == ("Deep learning for protein structure prediction in a long title.",
                                            ("Jane Doe", "John Smith"))
    ris = (b"TY  - JOUR\nTI  - A paper\nKW  - first keyword\nsecond line of keyword note\nAB  - An abstract\n"
           b"carried on.\nER  - \n")
    (paper,) = parse_feed(ris, "refs.ris", "zotero", Collect())
    assert (paper.title, paper.abstract) == ("A paper", "An abstract carried on.")
    # outside any record it still is an error
    with pytest.raises(InputError, match=r"refs.ris:9: .*this line is outside any record"):
        parse_feed(ris + b"\nstray line\n", "refs.ris", "zotero", Collect())


def test_a_percent_in_a_bibtex_abstract_and_a_urls_own_characters_are_kept():
    """A "%" in a braced BibTeX value is text, but every field went through
    LaTeX decoding, where it opens a comment: the abstract was cut at "by 5",
    a url at its "%2F", and one with "~" and "%20" was dropped."""
    bib = (br"""@article{k1, title = {One}, author = {M{\"u}ller, Ana},
  abstract = {Our method improves accuracy by 5% over the baseline, 50\% of all cases.},
  url = {https://example.org/get?id=a%2Fb\&v=2}}
@misc{k2, title = {Two}, abstract = {Some abstract.},
  url = {https://www.cs.example.edu/~jdoe/papers/my_paper%202024.pdf}}
""")
    one, two = parse_feed(bib, "refs.bib", "bib", Collect())
    assert (one.abstract, one.authors) == (
        "Our method improves accuracy by 5% over the baseline, 50% of all cases.", ("Ana Müller",))
    assert one.url == "https://example.org/get?id=a%2Fb&v=2"
    assert two.url == "https://www.cs.example.edu/~jdoe/papers/my_paper%202024.pdf"


def test_an_arxiv_id_a_note_mentions_does_not_beat_the_records_own_arxiv_link():
    """"extends arXiv:2301.00001" in a RIS N1 or a BibTeX note named the
    other paper, and it was taken before the record's own link; a note's id
    is still read when nothing else names one (Google Scholar's journal)."""
    ris = (b"TY  - JOUR\nTI  - Follow-up paper\nAB  - An abstract.\nUR  - http://arxiv.org/abs/2406.03001\n"
           b"N1  - Comment: extends our earlier work arXiv:2301.00001\nER  - \n")
    bib = (b"@misc{k, title = {Follow-up paper}, abstract = {An abstract.}, url = {http://arxiv.org/abs/2406.03001},\n"
           b"  note = {Extends arXiv:2301.00001}}\n"
           b"@article{s, title = {Alone}, abstract = {A.}, journal = {arXiv preprint arXiv:2006.11239}}\n")
    (from_ris,) = parse_feed(ris, "refs.ris", "zotero", Collect())
    from_bib, scholar = parse_feed(bib, "refs.bib", "bib", Collect())
    assert (from_ris.arxiv_id, from_bib.arxiv_id, scholar.arxiv_id) == ("2406.03001", "2406.03001", "2006.11239")


def test_a_bibtex_key_given_twice_reads_both_entries_and_says_so():
    """Two papers filed under one key (two exports pasted together) were 'an
    entry that does not parse (a brace or a quote left open...)'."""
    bib = (b"@string{j = {Journal X}}\n@article{doe2024, title = {A Study}, abstract = {A.}, author = {Doe, Jane}}\n\n"
           b"@article{doe2024,\n  title = {A Second {S}tudy}, abstract = {B.}, author = {Doe, Jane and M{\\\"u}ller, Ana},\n"
           b"  journal = j}\n@misc{z, title = {Last}, abstract = {C.}}\n")
    warnings = Collect()
    first, second, last = parse_feed(bib, "refs.bib", "bib", warnings)
    assert (first.title, second.title, last.title) == ("A Study", "A Second Study", "Last")
    assert (second.authors, second.location) == (("Jane Doe", "Ana Müller"), "refs.bib:4")
    assert warnings == ["refs.bib:4: source 'bib': the BibTeX key 'doe2024' is given twice (lines 2 and 4): both "
                        "entries read"]


def test_crossref_and_openalex_titles_show_their_text_not_their_html():
    """Crossref's titles are HTML as its abstracts are (OpenAlex passes them
    on): they read '<i>Drosophila</i>', 'H<sub>2</sub>O' and '&amp;'."""
    title = "Wing growth in <i>Drosophila</i> &amp; H<sub>2</sub>O uptake"
    crossref = {"status": "ok", "message-type": "work-list", "message": {"total-results": 1, "items": [
        {"DOI": "10.1234/x", "title": [title], "abstract": "<jats:p>We measure.</jats:p>",
         "author": [{"given": "Jane", "family": "Doe"}], "URL": "https://doi.org/10.1234/x"}]}}
    openalex = {"meta": {"count": 1}, "results": [
        {"id": "https://openalex.org/W123", "title": title, "display_name": title,
         "abstract_inverted_index": {"We": [0], "measure.": [1]}}]}
    shown = "Wing growth in Drosophila & H₂O uptake"
    for answer in (crossref, openalex):
        (paper,) = parse_feed(json.dumps(answer).encode(), "works.json", "api", Collect())
        assert (paper.title, paper.abstract) == (shown, "We measure.")


def test_a_biblatex_date_range_gives_its_start_and_iso_days_and_months_their_day():
    """BibLaTeX's ``date`` may be a range (a conference's days, "2024-06-05/2024-06-08"),
    open at its end ("2024-06/"): such a paper had no date.  Its start is
    read as ISO days and months are; a range open at its start names no day,
    and the entry's year is read instead."""
    dates = ["2024-06-05/2024-06-08", "2024-06/", "2024-06-05", "2024-06", "2024"]
    bib = "".join(f"@misc{{k{n}, title = {{T{n}}}, abstract = {{A.}}, date = {{{d}}}}}\n" for n, d in enumerate(dates))
    bib += "@misc{open, title = {Open}, abstract = {A.}, date = {../2024-06-08}, year = 2023}\n"
    papers = parse_feed(bib.encode(), "refs.bib", "bib", Collect())
    assert [p.published for p in papers] == [
        datetime(2024, 6, 5, tzinfo=UTC), datetime(2024, 6, 1, tzinfo=UTC), datetime(2024, 6, 5, tzinfo=UTC),
        datetime(2024, 6, 1, tzinfo=UTC), datetime(2024, 1, 1, tzinfo=UTC), datetime(2023, 1, 1, tzinfo=UTC)]


def test_crossref_and_openalex_titles_escaped_twice_show_their_text():
    """A title escaped twice ("Scaling &lt;b&gt;laws&lt;/b&gt;", as Crossref
    has some) showed '<b>laws</b>' as text.  It is decoded again as a
    description escaped twice is; a <script> it reveals, or one tag alone,
    stays text (the email escapes it)."""
    titles = ["Scaling &lt;b&gt;laws&lt;/b&gt; for diffusion", "H&lt;sub&gt;2&lt;/sub&gt;O uptake",
              "&lt;i&gt;x&lt;/i&gt; &lt;script&gt;alert(1)&lt;/script&gt;", "A note on &lt;b&gt; tags"]
    shown = ["Scaling laws for diffusion", "H₂O uptake", "<i>x</i> <script>alert(1)</script>", "A note on <b> tags"]
    crossref = {"status": "ok", "message-type": "work-list", "message": {"total-results": len(titles), "items": [
        {"DOI": f"10.1234/x{n}", "title": [t], "abstract": "<jats:p>We measure.</jats:p>"}
        for n, t in enumerate(titles)]}}
    openalex = {"meta": {"count": len(titles)}, "results": [
        {"id": f"https://openalex.org/W{n}", "title": t, "display_name": t,
         "abstract_inverted_index": {"We": [0], "measure.": [1]}} for n, t in enumerate(titles)]}
    for answer in (crossref, openalex):
        papers = parse_feed(json.dumps(answer).encode(), "works.json", "api", Collect())
        assert [p.title for p in papers] == shown


def test_bibtex_and_others_is_no_author():
    """BibTeX's "and others" (et al.) became an author named 'others'."""
    bib = b"@article{k, title = {One}, abstract = {A.}, author = {M{\\\"u}ller, Ana and Doe, Jane and others}}\n"
    (paper,) = parse_feed(bib, "refs.bib", "bib", Collect())
    assert paper.authors == ("Ana Müller", "Jane Doe")


def test_one_page_of_an_oai_pmh_list_is_read_and_said_to_be_one_page():
    """arXiv answers a busy day's ListRecords in pages, each with a token
    asking for the next: a page was read silently as the whole day.  The last
    page's token is empty, and nothing is said."""
    data = OAI.read_bytes()
    warnings = Collect()
    page = data.replace(b'completeListSize="3"></resumptionToken>', b'completeListSize="3">6960524|1001</resumptionToken>')
    assert len(parse_feed(page, "oai.xml", "oai", warnings)) == 2
    line = page[:page.index(b"<resumptionToken")].count(b"\n") + 1
    assert warnings == [f"oai.xml:{line}: source 'oai': the OAI-PMH answer is one page of a longer list "
                        "(completeListSize 3, cursor 0): the rest of the list is not read (harvest it by its "
                        "resumptionToken and give every page)"]


def test_a_bibtex_file_with_many_strings_and_comments_before_its_first_entry_is_bibtex():
    """Nine @string macros (or a long "%" comment header) before the first
    entry passed the eight lines a tool's header may have: the file was 'not
    an RSS or Atom feed'."""
    strings = "".join(f"@string{{c{i} = {{Conference {i}}}}}\n" for i in range(9))
    comments = "".join(f"% a comment line {i}\n" for i in range(10))
    entry = "@article{doe2024,\n  title = {A Study},\n  abstract = {A.},\n  journal = c3\n}\n"
    for text, line in ((strings + entry, 10), (comments + "\n" + strings + entry, 21)):
        (paper,) = parse_feed(text.encode(), "refs.bib", "bib", Collect())
        assert (paper.title, paper.location) == ("A Study", f"refs.bib:{line}")


def test_a_ris_iso_day_is_its_day_and_a_local_attachment_is_no_link():
    """Zotero writes DA as ISO's "2017-06-12" (read as the PY year's 1
    January) and the PDF it keeps as L1 "file:///..." before UR: the file was
    the paper's link.  An attachment on the web is the link when there is no UR."""
    ris = (b"TY  - JOUR\nTI  - Attention\nAB  - A.\nDA  - 2017-06-12\nPY  - 2017\n"
           b"L1  - file:///C:/Users/ada/Zotero/storage/ABCD/Vaswani.pdf\nUR  - https://example.org/paper\nER  - \n\n"
           b"TY  - JOUR\nTI  - Second\nAB  - B.\nL1  - file:///C:/x.pdf\nL1  - https://example.org/second.pdf\nER  - \n")
    first, second = parse_feed(ris, "refs.ris", "zotero", Collect())
    assert (first.published, first.url) == (datetime(2017, 6, 12, tzinfo=UTC), "https://example.org/paper")
    assert second.url == "https://example.org/second.pdf"


def test_reading_a_feed_or_arxivs_feed_never_loads_the_citation_and_oai_readers():
    """Reference managers' exports and OAI-PMH answers are rare inputs: their
    readers (and ElementTree) were imported with every arxiv or feed source,
    some 6 ms of each run.  They still load when the input is one."""
    code = (
        "import sys\nfrom newsletter.feeds import parse_arxiv, parse_feed\n"
        f"parse_arxiv(open({str(DATA / 'arxiv-rss.xml')!r}, 'rb').read(), 'a.xml', 'arxiv', print)\n"
        f"parse_feed(open({str(DATA / 'feed-rss2.xml')!r}, 'rb').read(), 'f.xml', 'lab', lambda w: None)\n"
        f"parse_feed(open({str(DATA / 'arxiv-rdf.xml')!r}, 'rb').read(), 'r.rdf', 'rdf', lambda w: None)\n"
        "parse_feed(b'{\"title\": \"A\", \"abstract\": \"B by ada@example.org\"}', 'r.json', 'j', print)\n"
        "parse_feed(b'{\"result\": {\"x\": 1}, \"title\": \"A\", \"abstract\": \"B\"}', 'r.json', 'j', print)\n"
        "print(sorted({'newsletter.citations', 'newsletter.oai', 'xml.etree.ElementTree'} & set(sys.modules)))\n"
        "parse_feed(b'TY  - JOUR\\nTI  - A\\nAB  - B.\\nER  - \\n', 'r.ris', 'z', print)\n"
        f"parse_feed(open({str(OAI)!r}, 'rb').read(), 'o.xml', 'o', print)\n"
        "print(sorted({'newsletter.citations', 'newsletter.oai', 'xml.etree.ElementTree'} & set(sys.modules)))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["[]", "['newsletter.citations', 'newsletter.oai', 'xml.etree.ElementTree']"]


def test_a_dublin_core_creator_with_a_suffix_reads_as_the_citation_readers_read_it():
    """oai_dc's "Doe, Jane, Jr." was flipped at its first comma only: 'Jane,
    Jr. Doe', where a RIS or BibTeX export's same name reads 'Jane Doe Jr.'."""
    dc = _OAI_HEAD + """<ListRecords><record><header><identifier>oai:arXiv.org:2406.03001</identifier></header>
<metadata><oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" xmlns:dc="http://purl.org/dc/elements/1.1/">
<dc:title>Faster Diffusion Sampling</dc:title><dc:creator>Doe, Jane, Jr.</dc:creator><dc:creator>Ana Lee</dc:creator>
<dc:description>We learn step sizes.</dc:description><dc:identifier>http://arxiv.org/abs/2406.03001v2</dc:identifier>
</oai_dc:dc></metadata></record></ListRecords></OAI-PMH>"""
    (paper,) = parse_feed(dc.encode(), "dc.xml", "oai", Collect())
    (ris,) = parse_feed(b"TY  - JOUR\nTI  - A\nAB  - B.\nAU  - Doe, Jane, Jr.\nER  - \n", "r.ris", "z", Collect())
    assert paper.authors == ("Jane Doe Jr.", "Ana Lee") and ris.authors[0] == "Jane Doe Jr."


def test_a_dublin_core_records_arxiv_link_is_read_as_the_feeds_read_one():
    """The OAI reader had its own patterns for an arXiv link and record id,
    narrower than the feeds' (case-sensitive): a link written
    "http://arXiv.org/abs/2406.03001v2" was passed over for the header's id,
    and the version it names was lost."""
    dc = _OAI_HEAD + """<ListRecords><record><header><identifier>oai:arXiv.org:2406.03001</identifier></header>
<metadata><oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" xmlns:dc="http://purl.org/dc/elements/1.1/">
<dc:title>Faster Diffusion Sampling</dc:title><dc:creator>Doe, Jane</dc:creator><dc:description>We learn.</dc:description>
<dc:identifier>http://arXiv.org/abs/2406.03001v2</dc:identifier></oai_dc:dc></metadata></record></ListRecords></OAI-PMH>"""
    (paper,) = parse_feed(dc.encode(), "dc.xml", "oai", Collect())
    assert (paper.arxiv_id, paper.version) == ("2406.03001", 2)


def test_plain_bibtex_values_skip_the_latex_converter():
    """pylatexenc took nine tenths of a BibTeX file's reading (0.6 ms an
    entry) though most titles, names and abstracts hold no LaTeX: a value
    without a macro, brace, math or one of its specials is kept as it is."""
    from newsletter import citations

    citations._latex_decoder.cache_clear()
    bib = b"@article{k, title = {Plain words: 50/50 and x@y.org}, abstract = {It's \"plain\".}, author = {Doe, Jane}}\n"
    (paper,) = parse_feed(bib, "refs.bib", "bib", Collect())
    assert (paper.title, paper.abstract, paper.authors) == (
        "Plain words: 50/50 and x@y.org", "It's \"plain\".", ("Jane Doe",))
    assert citations._latex_decoder.cache_info().currsize == 0
    (paper,) = parse_feed(b"@misc{k, title = {Schr{\\\"o}dinger -- Bridges}, abstract = {A.}}\n", "r.bib", "b", Collect())
    assert paper.title == "Schrödinger – Bridges" and citations._latex_decoder.cache_info().currsize == 1


def test_biblatex_uncertain_approximate_and_unspecified_dates_give_what_they_say_surely():
    """EDTF, as BibLaTeX's ``date`` takes it: ``2021?`` (uncertain), ``2021~``
    (approximate), ``2021-XX`` (month unspecified), ``2021-06-XX``, a season
    (``2021-22``, summer), each qualifier after a part.  Each was no date at
    all; each is now its year (its month where one is given), dated to what
    it says and no finer.  ``202X`` says no year, and is none."""
    dates = ["2021?", "2021~", "2021%", "2021-XX", "2021-06-XX", "2021-06~", "2021-22", "2021?-06-05", "202X"]
    bib = "".join(f"@misc{{k{n}, title = {{T{n}}}, abstract = {{A.}}, date = {{{d}}}}}\n" for n, d in enumerate(dates))
    papers = parse_feed(bib.encode(), "refs.bib", "bib", Collect())
    year, june = datetime(2021, 1, 1, tzinfo=UTC), datetime(2021, 6, 1, tzinfo=UTC)
    assert [(p.published, p.date_precision) for p in papers] == [
        (year, "year"), (year, "year"), (year, "year"), (year, "year"), (june, "month"), (june, "month"),
        (year, "year"), (datetime(2021, 6, 5, tzinfo=UTC), None), (None, None)]


def test_a_paper_dated_by_its_year_alone_is_not_shown_or_given_as_its_1_january():
    """An export's "2024" was read as 2024-01-01 and shown as "1 Jan 2024",
    a day the source never named (and an old paper looked dated to a day).
    The date keeps its precision: shown "2024" (a month "Sep 2023"), and
    ``papers --json`` says ``published_precision``; merged with the same
    paper dated to its day elsewhere, the day wins."""
    papers = parse_feed(ZOTERO.read_bytes(), "library.csv", "zotero", Collect())
    day, month, year = papers
    assert [(p.date_text, p.to_json()["published_precision"]) for p in papers] == [
        ("4 Jun 2024", "day"), ("Sep 2023", "month"), ("2024", "year")]
    dated = replace(year, published=datetime(2024, 3, 7, tzinfo=UTC), date_precision=None, source="other")
    assert (year.merge(dated).published, year.merge(dated).date_precision) == (dated.published, None)
    assert dated.merge(year).date_text == "7 Mar 2024"
    assert replace(year, published=None).to_json()["published_precision"] is None


def test_merged_dates_keep_the_earliest_and_of_two_that_agree_the_finer():
    """The card shows when the paper was first published: of two dates the
    earlier (a newer version's later date won the merge with its text), and
    of two that agree as far as the coarser says, the finer.  A year or a
    month alone is never taken for its first day."""
    def dated(when: datetime | None, precision: str | None = None, version: int = 1) -> Paper:
        return Paper(title="T", abstract="A.", source=f"s{version}", arxiv_id=f"2406.02555v{version}",
                     published=when, date_precision=precision)

    v1, v2 = dated(datetime(2024, 6, 4, 15, 40, tzinfo=UTC)), dated(datetime(2024, 6, 11, 4, tzinfo=UTC), version=2)
    june, year = dated(datetime(2024, 6, 1, tzinfo=UTC), "month"), dated(datetime(2023, 1, 1, tzinfo=UTC), "year")
    naive = dated(datetime(2024, 6, 4, 9, 0))  # the same day, no zone: not ordered against 15:40 UTC
    for a, b, shown in [(v1, v2, "4 Jun 2024"), (june, v2, "11 Jun 2024"), (june, v1, "4 Jun 2024"),
                        (year, v1, "2023"), (v1, naive, "4 Jun 2024"), (dated(None), june, "Jun 2024")]:
        assert a.merge(b).date_text == b.merge(a).date_text == shown, (a.published, b.published)
    assert v2.merge(v1).version == v1.merge(v2).version == 2  # the newer version's text, the first one's date


EUROPE_PMC = DATA / "europepmc-search.json"


def test_a_europe_pmc_search_answer_gives_its_results_as_papers():
    """Europe PMC's REST search (``/webservices/rest/search?query=...&
    resultType=core&format=json``): each result's title and abstract (HTML:
    ``<i>``, ``<h4>Background</h4>`` headings), authors by first and last
    name, the first publication day (else its year, as a year), keywords,
    the article's page as the link, an arXiv DOI giving the id.  It was
    'a JSON document, not an RSS or Atom feed'."""
    warnings = Collect()
    journal, preprint, erratum = parse_feed(EUROPE_PMC.read_bytes(), "epmc.json", "epmc", warnings)
    assert journal.title == "Denoising diffusion models for in silico protein design."
    assert journal.abstract == ("Background: Diffusion models generate protein backbones & sequences. Results: We "
                                "design binders with p < 0.05 against three targets.")
    assert journal.authors == ("Jane Doe", "Ana Müller", "John B Smith")
    assert (journal.url, journal.published, journal.keywords) == (
        "https://europepmc.org/article/MED/38843001", datetime(2024, 6, 5, tzinfo=UTC),
        ("Protein design", "Diffusion models"))
    assert (preprint.arxiv_id, preprint.url) == ("2406.03001", "https://arxiv.org/abs/2406.03001")
    assert (erratum.authors, erratum.date_text, erratum.abstract) == (("Tanaka K",), "2024", "")
    assert warnings == ["epmc.json: source 'epmc': record 3 (38843007) without a summary: read by the title only "
                        "(topics' abstract terms cannot match it, and the email shows no abstract)"]
    empty = {"version": "6.9", "hitCount": 0, "request": {"queryString": "x"}, "resultList": {"result": []}}
    assert parse_feed(json.dumps(empty).encode(), "none.json", "epmc", warnings) == []
    assert warnings[-1] == "none.json:1: source 'epmc': the Europe PMC answer holds no papers; nothing read from it"
    one = {"result": json.loads(EUROPE_PMC.read_bytes())["resultList"]["result"][0]}  # /article/MED/ID?format=json
    assert parse_feed(json.dumps(one).encode(), "one.json", "epmc", Collect()) == [
        replace(journal, location="one.json")]


def test_an_endnote_xml_or_zotero_rdf_export_gives_its_records_as_papers():
    """EndNote's XML export (each field in ``<style>`` runs, a title in
    several: an italic ε) and Zotero RDF (``bib:Article`` and
    ``rdf:Description`` items; its attachments, notes and journals no
    papers) were read by feedparser as feeds without entries, or 'not an
    RSS or Atom feed'.  Each record's title, abstract, authors ("Doe, Jane"
    as Jane Doe), day (a year alone as a year), link, and the arXiv id its
    DOI or link names."""
    warnings = Collect()
    endnote = parse_feed((DATA / "endnote-export.xml").read_bytes(), "library.xml", "endnote", warnings)
    rdf = parse_feed((DATA / "zotero-export.rdf").read_bytes(), "library.rdf", "zotero", warnings)
    assert warnings == []
    for (preprint, article), title in ((endnote, "Faster Diffusion Sampling with Learned Step Sizes for ε-Prediction"),
                                       (rdf, r"Faster Diffusion Sampling with Learned Step Sizes for $\epsilon$-Prediction")):
        assert (preprint.title, preprint.arxiv_id, preprint.authors, preprint.date_text) == (
            title, "2406.03001", ("Jane Doe", "Ana Müller"), "4 Jun 2024")
        assert "CIFAR-10 & ImageNet" in preprint.abstract
        assert (article.title, article.arxiv_id, article.url, article.date_text) == (
            "Score Matching for Schrödinger Bridges, Revisited", None, "https://jmlr.org/papers/v24/23-0142.html",
            "2023")
        assert article.authors[0] == "Zoë O'Brien"
    assert [p.location for p in endnote] == ["library.xml:2", "library.xml:3"]


def test_an_rss_1_0_feed_declaring_the_biblio_namespace_is_a_feed_not_a_zotero_export():
    """Any ``<rdf:RDF>`` declaring ``xmlns:bib`` was taken for a Zotero
    export, so an RSS 1.0 feed declaring it read zero papers.  Zotero's
    namespace (or a ``z:itemType``) is asked for, a root declaring RSS 1.0
    is a feed, and RDF where Zotero's reading finds nothing goes to the feed parser."""
    feed = (DATA / "arxiv-rdf.xml").read_bytes()
    plain = parse_feed(feed, "r.rdf", "rdf", Collect())
    assert plain
    biblio = feed.replace(b' xmlns:dc=', b' xmlns:bib="http://purl.org/net/biblio#"\n xmlns:dc=', 1)
    zotero = feed.replace(b' xmlns:dc=', b' xmlns:z="http://www.zotero.org/namespaces/export#"\n xmlns:dc=', 1)
    assert b"purl.org/net/biblio#" in biblio and b"zotero.org/namespaces" in zotero
    assert parse_feed(biblio, "r.rdf", "rdf", Collect()) == plain
    assert parse_feed(zotero, "r.rdf", "rdf", Collect()) == plain
    other = zotero.replace(b' xmlns="http://purl.org/rss/1.0/"\n', b"")  # Zotero's namespace, none of its items
    with pytest.raises(InputError, match=r"^r\.rdf:1: source 'rdf': not an RSS or Atom feed"):
        parse_feed(other, "r.rdf", "rdf", Collect())  # (the feed parser's word, not 'holds no records')


@pytest.mark.parametrize("fixture", ["endnote-export.xml", "zotero-export.rdf"])
def test_a_cut_off_endnote_or_zotero_rdf_export_is_an_error_at_its_line(tmp_path, cli, fixture):
    whole = (DATA / fixture).read_text(encoding="utf-8")
    (tmp_path / fixture).write_text(whole[:len(whole) // 2], encoding="utf-8")
    write_config(tmp_path, f"""
        sources: [{{type: feed, path: {fixture}}}]
        topics: {{t: {{any: [diffusion]}}}}
        subscribers: [{{email: ada@example.org, topics: [t]}}]
        """)
    r = cli("papers")
    kind = "EndNote XML" if fixture.endswith(".xml") else "Zotero RDF"
    assert r.code == 2 and re.fullmatch(rf"{fixture}:\d+: source 'feed': {kind} that is not well-formed XML "
                                        r"\((?:no element found|unclosed token)\); cut off\?", r.err.strip()), r.err


def test_a_papers_with_code_dump_gives_each_paper_its_own_link_and_arxiv_version():
    """Papers with Code's ``papers-with-abstracts.json``: its ``url_abs`` is
    the paper's link (an OpenReview forum for one without an arXiv id; it was
    no link, and the email linked a title search), its arXiv id with the
    version the link names."""
    preprint, review = parse_feed((DATA / "paperswithcode-papers.json").read_bytes(), "pwc.json", "pwc", Collect())
    assert (preprint.arxiv_id, preprint.version, preprint.authors, preprint.date_text) == (
        "2406.03001", 2, ("Jane Doe", "Ana Müller"), "4 Jun 2024")
    assert (review.url, review.published) == ("https://openreview.net/forum?id=Hk3xQ9sF7", None)


def test_a_json_feed_title_escaped_as_html_shows_its_text():
    """JSON Feed titles are text, but generators escape them as HTML: "Diffusion
    &amp; Score" showed its '&amp;'.  A title without a character reference
    is as written ('<b>' in a title about tags stays)."""
    feed = {"version": "https://jsonfeed.org/version/1.1", "title": "Lab", "items": [
        {"id": "1", "url": "https://lab.example.org/1", "title": "Diffusion &amp; Score Caf&#233;s",
         "content_text": "We diffuse."},
        {"id": "2", "url": "https://lab.example.org/2", "title": "On the <b> tag & HTML", "content_text": "Tags."}]}
    papers = parse_feed(json.dumps(feed).encode(), "feed.json", "lab", Collect())
    assert [p.title for p in papers] == ["Diffusion & Score Cafés", "On the <b> tag & HTML"]


def test_dblp_home_pages_and_volumes_are_no_papers_and_dblp_xml_with_its_dtd_is_named():
    """A person's page's ``<www>`` (its home page, titled "Home Page") and a
    ``<proceedings>`` volume were taken as papers; dblp.xml, which starts
    with its ``<!DOCTYPE>``, was not told as DBLP's at all, so the message
    naming it could not be said."""
    page = (DATA / "dblp-person.xml").read_bytes()
    extra = (b'<r><www key="homepages/03/1234" mdate="2024-05-02"><author>Kenji Tanaka</author><title>Home Page</title>'
             b'<url>https://example.org/~tanaka</url></www></r><r><proceedings key="conf/icml/2023" mdate="2024-01-01">'
             b"<editor>Ana M\xfcller</editor><title>Proceedings of ICML 2023.</title><year>2023</year></proceedings></r>")
    more = page.replace(b"</person>\n", b"</person>\n" + extra.replace(b"\xfc", b"u"), 1)
    assert b"<www " in more and b"<proceedings " in more
    assert parse_feed(more, "p.xml", "dblp", Collect()) == parse_feed(page, "p.xml", "dblp", Collect())
    whole = b'<?xml version="1.0" encoding="ISO-8859-1"?>\n<!DOCTYPE dblp SYSTEM "dblp.dtd">\n<dblp>\n' + extra + b"</dblp>\n"
    with pytest.raises(InputError, match=r"^dblp\.xml:2: source 'dblp': DBLP's XML with a DTD \(the whole dblp\.xml\?\)"):
        parse_feed(whole, "dblp.xml", "dblp", Collect())


@pytest.mark.parametrize("fixture, titles", [
    ("dblp-search.json", ["Faster Diffusion Sampling", "Score Matching on Graphs"]),
    ("dblp-person.xml", ["Graph Transformers for Molecular Property Prediction",
                         "Score Matching on Graphs: Why Local Scores Suffice?"]),
])
def test_dblp_search_answers_and_xml_pages_are_read_by_their_titles(fixture, titles):
    """DBLP's search API (``format=json``) and a person's or record's XML
    page: 'a JSON document, not an RSS or Atom feed' (with a hint at
    hf-daily), 'not an RSS or Atom feed'.  DBLP has no abstracts: each
    publication is read by its title (without the period DBLP ends each
    with), said once; its authors without the numbers that tell namesakes
    apart, its year as a year, the arXiv id its link names."""
    warnings = Collect()
    first, second = parse_feed((DATA / fixture).read_bytes(), fixture, "dblp", warnings)
    assert [first.title, second.title] == titles
    assert first.arxiv_id and first.arxiv_id.startswith("2406.") and "Ana Müller" in first.authors
    assert (first.date_text, second.date_text, second.url) == (
        "2024", "2023", "https://proceedings.mlr.press/v202/tanaka23a.html")
    assert warnings == [f"{fixture}: source 'dblp': record 1 and 1 more without a summary: read by the title only "
                        "(topics' abstract terms cannot match it, and the email shows no abstract)"]
    empty = {"result": {"query": "x", "status": {"@code": "200"}, "hits": {"@total": "0", "@sent": "0"}}}
    assert parse_feed(json.dumps(empty).encode(), "none.json", "dblp", warnings) == []
    assert warnings[-1] == "none.json:1: source 'dblp': the DBLP answer holds no papers; nothing read from it"


@pytest.mark.parametrize("kind, said", [
    ("feed", "reading-list.md:5: source 'feed': "), ("arxiv", "reading-list.md:5: source 'arxiv': "),
    ("hf-papers-text", "reading-list.md:1: no Hugging Face papers page header (lines such as 'Get trending papers in "
                       "your email inbox!' and 'Subscribe') (it is "),
])
def test_a_markdown_list_of_arxiv_links_says_the_ids_go_under_like(tmp_path, cli, kind, said):
    """A reading list of arXiv links (Markdown, or links one a line) was 'not
    an RSS or Atom feed: the answer is text, '# Reading list''.  Links carry
    no abstracts, and the papers a reader lists are what like: is for: the
    line of the first link says so, with the ids to write."""
    (tmp_path / "reading-list.md").write_bytes((DATA / "reading-list.md").read_bytes())
    write_config(tmp_path, f"""
        sources: [{{type: {kind}, path: reading-list.md}}]
        topics: {{t: {{any: [diffusion]}}}}
        subscribers: [{{email: ada@example.org, topics: [t]}}]
        """)
    r = cli("papers")
    what = ("a list of 3 arXiv links (a reading list?), not a feed: links carry no abstracts for topics to match; to "
            "rank the digest by these papers, list their ids under a topic's like: [2406.03001, 2406.02950, 2405.00001]; "
            "for new papers with their abstracts, an arxiv source lists them")
    assert r.code == 2 and r.err.strip() == said + what + (")" if kind == "hf-papers-text" else ""), r.err


@pytest.mark.parametrize("source", ["arxiv", "feed"])
def test_api_answers_joined_into_one_file_are_each_read(tmp_path, cli, source):
    """A script saving an arXiv query's pages and joining them (`cat
    page1.xml page2.xml > all.xml`): it was 'not a well-formed feed (junk
    after document element)' at the second page's first line.  Each page
    is read; a page cut off is an error at its line in the whole file."""
    first, second = (DATA / "arxiv-api.xml").read_bytes(), (DATA / "arxiv-api-liked.xml").read_bytes()
    (tmp_path / "all.xml").write_bytes(first + second)
    write_config(tmp_path, f"""
        sources: [{{type: {source}, path: all.xml}}]
        topics: {{t: {{any: [diffusion]}}}}
        subscribers: [{{email: ada@example.org, topics: [t]}}]
        """)
    r = cli("papers", "--json")
    assert r.code == 0, r.err
    assert len(json.loads(r.out)) == 5 + 2
    (tmp_path / "all.xml").write_bytes(first + second[:len(second) // 2])
    r = cli("papers")
    line = first.count(b"\n") + second[:len(second) // 2].count(b"\n") + 1  # (the cut line, in the whole file)
    assert r.code == 2 and r.err.startswith(f"all.xml:{line}: source '{source}': "), r.err


def test_an_xml_declaration_inside_a_posts_cdata_starts_no_second_document():
    body = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><link>https://x.org/</link>
<description>d</description><item><title>Writing XML</title><link>https://x.org/a</link>
<description><![CDATA[<p>Start a file with:</p><pre>
<?xml version="1.0"?>
<root/></pre>]]></description></item></channel></rss>
"""
    (paper,) = parse_feed(body, "blog.xml", "blog", Collect())
    assert paper.title == "Writing XML" and "Start a file with" in paper.abstract


def test_joined_documents_are_told_apart_by_the_bytes_before_each_declaration_only():
    """Where each appended document starts was asked of the whole file
    before every line-start declaration (50,000 in a post's CDATA: some
    20 s); now of the few bytes before it, white space between documents
    stepped over.  The documents and their first lines are as before."""
    from newsletter.feeds import _xml_documents

    post = (b'<?xml version="1.0"?>\n<rss version="2.0"><channel><title>t</title><link>https://x.org/</link>'
            b'<description>d</description><item><title>Writing XML</title><link>https://x.org/a</link>'
            b'<description><![CDATA[' + b'\n<?xml version="1.0"?>' * 50_000 + b']]></description></item>'
            b'</channel></rss>')
    api = (DATA / "arxiv-api.xml").read_bytes()
    joined = post + b"\n \t\r\n\n" + api + b"\n" + post + b"\n"
    parts = _xml_documents(joined)
    assert [part for _, part in parts] == [post + b"\n \t\r\n\n", api + b"\n", post + b"\n"]
    assert [before for before, _ in parts] == [0, 50_004, 50_004 + api.count(b"\n") + 1]
    assert _xml_documents(post) is None  # (declarations inside a post start no document)
    assert len(parse_feed(api + b"\n \t\r\n\n" + api, "all.xml", "all", Collect())) == 5 + 5


@pytest.mark.parametrize("fixture, head", [
    ("endnote-export.xml", b'<?xml version="1.0" encoding="UTF-8" ?>'),
    ("zotero-export.rdf", b""),
])
def test_an_endnote_or_zotero_rdf_export_declaring_entities_is_not_read(fixture, head):
    """No export declares entities; expanding them is how a small file fills the memory."""
    data = (DATA / fixture).read_bytes()
    bomb = b'<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">]>\n'
    data = head + b"\n" + bomb + data[len(head):] if head else bomb + data
    with pytest.raises(InputError, match=r"declaring entities, which no export does: not read") as caught:
        parse_feed(data, fixture, "lib", Collect())
    assert caught.value.problems[0].line == (2 if head else 1)  # (the declaration's line)


def test_a_europe_pmc_answer_in_xml_the_services_default_reads_as_its_json():
    """Europe PMC's REST service answers XML unless asked for JSON: it was
    'not an RSS or Atom feed'.  Its results read as the JSON answer's do,
    one author or keyword in a list too; one cut off is an error at its line."""
    xml = (DATA / "europepmc-search.xml").read_bytes()
    assert parse_feed(xml, "epmc.xml", "epmc", Collect()) == parse_feed(
        EUROPE_PMC.read_bytes(), "epmc.xml", "epmc", Collect())
    cut = r"^epmc.xml:4: source 'epmc': Europe PMC's answer that is not well-formed XML \(no element found\); cut off\?$"
    with pytest.raises(InputError, match=cut):
        parse_feed(xml[:len(xml) // 2], "epmc.xml", "epmc", Collect())


def test_europe_pmc_xml_markup_inside_a_title_or_abstract_is_its_text_not_fields():
    """Europe PMC's XML may hold a title's or abstract's markup as elements
    (``<title>... <i>in silico</i> ...</title>``, ``<abstractText><h4>Background</h4>We ...``),
    not escaped: that element was read as a record of its children, so the
    paper was dropped ('has no title') and the abstract lost.  Both read as
    the JSON answer's strings do."""
    xml = (DATA / "europepmc-search.xml").read_text(encoding="utf-8")
    elements = re.sub(r"<(title|abstractText)>(.*?)</\1>",
                      lambda m: f"<{m[1]}>{html.unescape(m[2])}</{m[1]}>", xml, flags=re.DOTALL)
    assert "<i>in silico</i>" in elements and "<abstractText><h4>Background</h4>" in elements
    papers = parse_feed(elements.encode(), "epmc.xml", "epmc", Collect())
    assert papers == parse_feed(EUROPE_PMC.read_bytes(), "epmc.xml", "epmc", Collect())
    assert "in silico" in papers[0].title and papers[0].abstract.startswith("Background:")


def test_a_long_run_of_spaces_is_no_list_of_links_and_is_read_in_one_pass():
    """The link line's pattern had two optional runs of white space side by
    side ("^\\s*(?:-)?\\s*"): a long run of spaces was tried at every split
    (8,000 spaces: 1.2 s; 100,000 would take minutes).  White space now only
    before and after a bullet, so this finishes at once; links still match."""
    from newsletter.feeds import _LINK_LINE, arxiv_link_list

    # no two runs of white space side by side, nor with only an optional group between them
    assert not re.search(r"\\s\*(?:\(\?:(?:[^()]|\([^()]*\))*\)\?)?\\s\*", _LINK_LINE.pattern)
    spaces = " " * 100_000 + "x"
    assert _LINK_LINE.match(spaces) is None and arxiv_link_list(spaces.encode()) is None
    for line in (" " * 1000 + "- [T](https://arxiv.org/abs/2406.03001)", "  *   arXiv:2406.03001",
                 "1.https://arxiv.org/abs/2406.03001", "<https://arxiv.org/abs/2406.03001>"):
        assert _LINK_LINE.match(line)[1] == "2406.03001"


def test_an_endnote_day_in_month_day_year_is_read_and_no_day_is_the_year_alone():
    """EndNote's pub-dates "06/05/2024" gave the year alone though the day is
    there; "Feb 30" gave "2024-02-30", a date that is none: now the day as
    written (month first, as EndNote writes it), and the year where the day is no day."""
    from newsletter.citations import _endnote_day

    assert _endnote_day("2024", "06/05/2024") == "2024-06-05"
    assert _endnote_day("", "6/5/2024") == "2024-06-05"
    assert _endnote_day("2024", "Feb 30") == "2024" and _endnote_day("2024", "13/01/2024") == "2024"
    assert _endnote_day("2024", "Jun 5") == "2024-06-05" and _endnote_day("2024", "June") == "2024-06"
    assert _endnote_day("2024", "2024-06-05") == "2024-06-05" and _endnote_day("2024", "") == "2024"


def test_a_markdown_table_of_arxiv_papers_is_named_as_a_list_of_links():
    """An arxiv-daily repository's page (a Markdown table a day: date, title,
    authors, the arXiv link): titles and links, no abstracts."""
    table = b"""# arxiv-daily
 Automated deployment @ 2024-08-14 09:02:11 Asia/Shanghai
> Welcome to contribute! Add your topics and keywords in `topic.yml`.

## Diffusion

|Publish Date|Title|Authors|PDF|Code|
| :---: | :---: | :---: | :---: | :---: |
|**2024-08-12**|**Inverse designing metamaterials**|Marco Maurizi et.al.|[2408.06300v1](http://arxiv.org/abs/2408.06300v1)|null|
|**2024-08-12**|**Tolerant testing stabilizer states**|Srinivasan Arunachalam et.al.|[2408.06289v1](http://arxiv.org/abs/2408.06289v1)|null|
|**2024-08-12**|**Motion Planning for Minimally Actuated Serial Robots**|Avi Cohen et.al.|[2408.06143v1](http://arxiv.org/abs/2408.06143v1)|null|
|**2024-08-12**|**Clarifying Kasner dynamics**|Rong-Gen Cai et.al.|[2408.06122v1](http://arxiv.org/abs/2408.06122v1)|null|
"""
    with pytest.raises(InputError) as caught:
        parse_feed(table, "README.md", "daily", Collect())
    assert str(caught.value).startswith("README.md:9: source 'daily': a list of 4 arXiv links (a reading list?)")
    assert "like: [2408.06300, 2408.06289, 2408.06143, 2408.06122]" in str(caught.value)


def test_inspire_and_nasa_ads_search_answers_give_their_papers():
    """INSPIRE-HEP's literature search (``inspirehep.net/api/literature?q=...``)
    and NASA ADS's (``api.adsabs.harvard.edu/v1/search/query?q=...&fl=title,
    abstract,author,bibcode,identifier,pubdate``), as high-energy physicists
    and astronomers keep their alerts: 'a JSON document, not an RSS or Atom
    feed'.  Titles, abstracts (arXiv's first; ADS's HTML as text), authors
    "Last, First" as First Last, arXiv ids and categories, links to the
    record, days; ADS's "2023-06-00" a month, not the 1st."""
    warnings = Collect()
    (hep,) = parse_feed((DATA / "inspire-literature.json").read_bytes(), "inspire.json", "inspire", warnings)
    assert (hep.title, hep.arxiv_id, hep.authors, hep.categories, hep.published) == (
        "Dualities of Score Functions on Curved Backgrounds", "2406.03001", ("Kenji Tanaka", "Zoë O'Brien"),
        ("hep-th", "cs.LG"), datetime(2024, 6, 4, tzinfo=UTC))
    assert hep.abstract.startswith("We relate score functions")
    preprint, journal = parse_feed((DATA / "ads-search.json").read_bytes(), "ads.json", "ads", warnings)
    assert (preprint.arxiv_id, preprint.authors, preprint.abstract, preprint.date_text) == (
        "2406.03001", ("Jane Doe", "Ana Müller"), "We learn the step sizes & more.", "Jun 2024")
    assert (journal.url, journal.authors, journal.date_text) == (
        "https://ui.adsabs.harvard.edu/abs/2023ApJ...950...12T/abstract", ("K. Tanaka",), "Jun 2023")
    assert warnings == []
    empty = {"hits": {"hits": [], "total": 0}, "links": {}}
    assert parse_feed(json.dumps(empty).encode(), "none.json", "inspire", warnings) == []
    assert warnings == ["none.json:1: source 'inspire': the INSPIRE answer holds no papers; nothing read from it"]


@pytest.mark.parametrize("parse", [parse_feed, parse_arxiv])
def test_an_email_other_than_arxivs_listing_or_a_scholar_alert_is_named_with_its_sender(parse):
    """A journal's table-of-contents alert saved as .eml was 'not an RSS or
    Atom feed: the answer is text, 'From: ...''.  No other service's alert
    e-mail is read: the message names the sender and subject, and what is
    read."""
    mail = (b"From: Nature <alerts@nature.com>\nTo: ada@example.org\nSubject: Nature Volume 630 Issue 8016\n"
            b"MIME-Version: 1.0\nContent-Type: text/plain; charset=UTF-8\n\nThis week's issue: ...\n")
    with pytest.raises(InputError) as caught:
        parse(mail, "toc.eml", "alerts", Collect())
    assert str(caught.value) == (
        "toc.eml:1: source 'alerts': an e-mail message (From: 'Nature <alerts@nature.com>'; Subject: 'Nature "
        "Volume 630 Issue 8016'), not a feed: of e-mails, arXiv's daily listing (a subscription to cs@arxiv.org "
        "and the like) is read; for another service's alerts give the feed or export it offers")


def test_a_google_scholar_alert_saved_as_eml_gives_its_papers():
    """A Google Scholar alert (the .eml a mail client saves: multipart, its
    HTML quoted-printable) was refused as 'an e-mail message', and Scholar
    offers neither a feed nor an export of an alert.  Each paper's title
    (without "[PDF]", its bold search terms as text), its authors (one cut
    short with "…" left out), the paper's own link out of Scholar's
    redirect (an arXiv link giving the id), the venue and the year (the
    date, to the year), and its snippet as the abstract, said once to be an
    excerpt; a paper without a snippet is read by its title, said."""
    warnings = Collect()
    papers = parse_feed((DATA / "scholar-alert-multipart.eml").read_bytes(), "alert.eml", "scholar", warnings)
    assert [p.title for p in papers] == ["Faster Diffusion Sampling with Learned Step Sizes",
                                         "Protein structure generation by score-based diffusion",
                                         "Consistency models revisited"]
    arxiv, nature, forum = papers
    assert (arxiv.arxiv_id, arxiv.url, arxiv.authors) == (
        "2406.03001", "https://arxiv.org/abs/2406.03001", ("J Doe", "A Müller", "J Smith"))
    assert arxiv.abstract == ("We learn the step sizes of a diffusion model sampler from data, reducing the number "
                              "of function evaluations by a factor of four at equal sample quality on CIFAR-10 & "
                              "ImageNet …")
    assert (arxiv.published, arxiv.date_precision, arxiv.comment) == (
        datetime(2024, 1, 1, tzinfo=UTC), "year", "arXiv preprint arXiv:2406.03001, 2024")
    assert (nature.arxiv_id, nature.url, nature.authors, nature.comment) == (
        None, "https://www.nature.com/articles/s41586-024-07566-y", ("K Tanaka", "Z O'Brien", "L Chen"),
        "Nature, 2024")
    assert (forum.url, forum.abstract, forum.published, forum.comment) == (
        "https://openreview.net/forum?id=abc123XYZ", "", None, "openreview.net")
    assert [p.location for p in papers] == ["alert.eml:38", "alert.eml:58", "alert.eml:69"]
    assert warnings == [
        "alert.eml: source 'scholar': a Google Scholar alert shows an excerpt of each abstract (its snippet), not "
        "the whole: topics match the papers on what it shows",
        "alert.eml: source 'scholar': 1 of the alert's 3 papers without a snippet: read by their titles only"]
    (single,) = parse_feed((DATA / "scholar-alert.eml").read_bytes(), "one.eml", "scholar", Collect())
    assert (single.title, single.arxiv_id, single.authors) == ("Faster diffusion sampling", "2406.03001",
                                                               ("J Doe", "A Müller"))


def test_a_google_scholar_alert_saved_from_an_mbox_with_its_from_line_gives_its_papers():
    """A message saved out of an mbox starts with its ``From sender date``
    line before the headers; the alert was refused as one 'without its
    papers' title links'.  Its papers are read, at their lines in the file."""
    alert = b"From 1802345678901234567@xxx Thu Jun 06 10:00:00 +0000 2024\r\n" + (
        DATA / "scholar-alert-multipart.eml").read_bytes()
    papers = parse_feed(alert, "alert.eml", "scholar", Collect())
    assert [(p.title, p.arxiv_id, p.location) for p in papers] == [
        ("Faster Diffusion Sampling with Learned Step Sizes", "2406.03001", "alert.eml:39"),
        ("Protein structure generation by score-based diffusion", None, "alert.eml:59"),
        ("Consistency models revisited", None, "alert.eml:70")]
    assert papers[0].authors == ("J Doe", "A Müller", "J Smith")

def test_a_google_scholar_alert_without_its_title_links_or_given_to_arxiv_is_an_error():
    """An alert whose layout is not the one read (no title links: a changed
    layout, or only the text part kept) is an error at line 1, never read
    as no papers; an arxiv source says which source reads it."""
    text = (b"From: Google Scholar Alerts <scholaralerts-noreply@google.com>\nSubject: new results\n"
            b"Content-Type: text/plain; charset=UTF-8\n\n[PDF] Faster diffusion sampling\nJ Doe - arXiv, 2024\n")
    with pytest.raises(InputError) as caught:
        parse_feed(text, "alert.eml", "scholar", Collect())
    assert str(caught.value) == ("alert.eml:1: source 'scholar': a Google Scholar alert without its papers' title "
                                 "links (gse_alrt_title): not read (was it saved whole, as .eml?)")
    post = (b'<?xml version="1.0"?>\n<rss version="2.0"><channel><title>t</title><item><title>Parsing alerts</title>'
            b'<link>https://x.org/a</link><description><![CDATA[Each <a class="gse_alrt_title" href="x">title</a> is '
            b'a paper.]]></description></item></channel></rss>')
    (paper,) = parse_feed(post, "blog.xml", "blog", Collect())  # (a post quoting the markup is no alert)
    assert (paper.title, paper.abstract) == ("Parsing alerts", "Each title is a paper.")
    with pytest.raises(InputError) as caught:
        parse_arxiv((DATA / "scholar-alert.eml").read_bytes(), "alert.eml", "arxiv", Collect())
    assert str(caught.value) == ("alert.eml:1: source 'arxiv': a Google Scholar alert, not arXiv's Atom (`type: "
                                 "feed` with `path:` reads it)")


@pytest.mark.parametrize("first", [b"<!-- generated by the blog -->\n", b"<!DOCTYPE rss>\n", b"\xef\xbb\xbf\n"])
def test_a_feed_quoting_scholars_markup_after_a_comment_or_doctype_is_read_as_a_feed(first):
    """A feed starting with a comment or a document type (not ``<?xml``
    or ``<rss``) whose post quotes an alert's markup was refused as 'a
    Google Scholar alert without its papers' title links': its items are read."""
    post = (first + b'<rss version="2.0"><channel><title>t</title><item><title>Parsing alerts</title>'
            b'<link>https://x.org/a</link><description>Each &lt;a class="gse_alrt_title"&gt; is a paper.'
            b'</description></item></channel></rss>')
    (paper,) = parse_feed(post, "blog.xml", "blog", Collect())
    assert (paper.title, paper.url) == ("Parsing alerts", "https://x.org/a")
    oai = (b'<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><request verb="ListRecords">x</request>'
           b'<error code="noRecordsMatch">gse_alrt_title</error></OAI-PMH>')
    assert not is_scholar_alert(oai)


_HEADS_AND_POSTS = r'''
from newsletter import citations, fetching, feeds, oai
from newsletter.feeds import html_text, parse_feed

n = 50_000
item = b'<item><title>Writing XML</title><link>https://x.org/a</link><description><![CDATA[Notes. %s]]></description></item>'
rss = b'<?xml version="1.0"?>\n<rss version="2.0"><channel><title>t</title>%s</channel></rss>\n'
for body in (b'\n<?xml version="1.0"?>' * n, b'<?xml x' * n, b'<a ' * n):
    (paper,) = parse_feed(rss % (item % body), "blog.xml", "blog", print)
    print(paper.title, paper.abstract[:6])
for head in (b'<!-- licence -->\n' * n, b'<?pi x?>\n' * n):
    (paper,) = parse_feed(rss.replace(b'\n', b'\n' + head, 1) % (item % b'Notes.'), "blog.xml", "blog", print)
    print(paper.abstract)
    for pattern in (feeds._INTERNAL_SUBSET, feeds._HTML_PAGE, citations._ENDNOTE_START, citations._DBLP_XML,
                    oai._OAI_ROOT, fetching._HTML_START):
        assert pattern.match(head + b'<x>') is None
print(html_text("<sup>" + "<a " * n)[:6])
spaced = (b'<!DOCTYPE rss' + b' ' * 1_000_000 + b'>\n<rss version="2.0"><channel><title>t</title><item><title>Spaced'
          b'</title><link>https://x.org/a</link><description>Wide.</description></item></channel></rss>\n')
(paper,) = parse_feed(spaced, "blog.xml", "blog", print)
print(paper.title, paper.abstract)
'''


def test_declarations_comments_and_unclosed_tags_by_the_ten_thousand_are_read_in_one_pass():
    """Three patterns of work that grew faster than the file: (1) the
    patterns that step over what comes before a document's first element
    (the XML declaration, comments: `(?:\\s|<\\?.*?\\?>|<!--.*?-->)*`) let
    each comment or declaration end at any later ``-->`` or ``?>``, and a
    head that did not go on as wanted was tried every such way: 20 comments
    took 0.5 s, each one more doubled it, and a post whose CDATA held 50
    line-start ``<?xml`` declarations never finished (the DOCTYPE check ran
    over the whole file); (2) html.parser, closing a summary, looked for the
    end of each unclosed ``<`` to the end of the text: 10,000 ``<a `` took
    20 s, 50,000 ``<?xml x`` 10 s; (3) a DOCTYPE's name followed by
    200,000 spaces (``<!DOCTYPE rss      >``) took 40 s, its spaces split
    every way between the name and the space before a subset's ``[``.  All
    are now one pass (atomic groups; the text after the last ``>`` given
    as text; a name ending at a non-space).  50,000 of each are read
    in a subprocess whose generous bound, 240 s, is a guard against a hang
    (each takes well under a second), not a measurement."""
    r = subprocess.run([sys.executable, "-c", _HEADS_AND_POSTS], cwd=ROOT, capture_output=True, text=True,
                       timeout=240)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["Writing XML Notes."] * 3 + ["Notes. Notes."] * 2 + ["<a <a ", "Spaced Wide."]


def test_oai_pmh_pages_harvested_one_by_one_and_joined_are_one_list_said_whole():
    """Every page of a harvest, fetched by its resumptionToken and joined into
    one file (``cat page1.xml page2.xml``), warned, each but the last, that it
    was "one page of a longer list: the rest of the list is not read", when
    the rest was there.  Now a page followed by the page its token asks for
    says nothing; a page left out between two others (its successor asked by
    another token) and a last page with a token are said, at their lines in
    the whole file, and so is a page followed by another harvest's first
    page (its ``<request>`` without a token), once taken for its successor."""
    page1, page2 = (DATA / "arxiv-oai-page1.xml").read_bytes(), (DATA / "arxiv-oai-page2.xml").read_bytes()
    for parse in (parse_feed, lambda *a: parse_arxiv(*a).papers):
        warnings = Collect()
        papers = parse(page1 + page2, "harvest.xml", "oai", warnings)
        assert [p.arxiv_id for p in papers] == ["2406.03001", "2406.03002", "2406.03003"] and warnings == []
    gap = page2.replace(b'resumptionToken="6960524|1001"', b'resumptionToken="6960524|2001"', 1)
    cut = page2.replace(b'completeListSize="3"></resumptionToken>', b'completeListSize="5">6960524|2001</resumptionToken>')
    # another harvest's first page (its <request> asks for set "math", by no token) continues nothing
    math = page2.replace(b'<request verb="ListRecords" resumptionToken="6960524|1001">',
                         b'<request verb="ListRecords" metadataPrefix="arXiv" set="math">', 1)
    for joined, page in ((page1 + gap, page1), (page1 + cut, page1 + cut), (page1 + math, page1)):
        warnings = Collect()
        assert len(parse_feed(joined, "harvest.xml", "oai", warnings)) == 3
        line = page[:page.rindex(b"<resumptionToken")].count(b"\n") + 1
        (warning,) = warnings
        assert warning.startswith(f"harvest.xml:{line}: source 'oai': the OAI-PMH answer is one page of a longer "
                                  "list"), warning
    unsaid = re.sub(rb"<request\b[^>]*>[^<]*</request>", b"", page2, count=1)  # (no <request>: taken on trust)
    warnings = Collect()
    assert len(parse_feed(page1 + unsaid, "harvest.xml", "oai", warnings)) == 3 and warnings == []


def test_bibtex_values_joined_by_hash_read_as_bibtex_joins_them():
    """BibTeX's ``#`` joins a value's parts and ``@string`` macros (JabRef
    and hand-kept files write ``"Faster " # {Diffusion}``, ``neurips # " 37"``):
    bibtexparser keeps such a value as written, and the title was read as
    '"Faster " # {Diffusion} # ...', quotes, hashes and all.  A ``#`` inside
    braces is text; a join naming a macro defined nowhere is an error at its
    line, not the macro's name read as words."""
    warnings = Collect()
    first, second = parse_feed((DATA / "macros-concatenation.bib").read_bytes(), "refs.bib", "bib", warnings)
    assert first.title == "Faster Diffusion Sampling with Learned Step Sizes"
    assert (first.arxiv_id, first.authors) == ("2406.03001", ("Jane Doe", "Ana Müller"))
    assert (first.published, first.date_precision) == (datetime(2024, 6, 1, tzinfo=UTC), "month")
    assert first.abstract.endswith("A title may hold a # sign: C# code stays as written.")
    assert (second.title, second.abstract) == ("Score Matching # Revisited", "Kept whole: two parts, one abstract.")
    bad = b'@article{k,\n  title = {A},\n  abstract = "Part " # undefinedmacro,\n}\n'
    with pytest.raises(InputError) as caught:
        parse_feed(bad, "refs.bib", "bib", Collect())
    assert str(caught.value) == ("refs.bib:3: source 'bib': this BibTeX field 'abstract' joins the @string "
                                 "'undefinedmacro', defined nowhere in the file")


def test_pubmeds_xml_gives_its_articles_as_its_medline_export_does():
    """PubMed's XML (E-utilities' ``efetch.fcgi?db=pubmed&rettype=xml``, or
    "Send to: File → XML") was 'not an RSS or Atom feed'.  Each article's
    title, structured abstract (each part after its label, its markup as
    text), authors (a consortium by its name), the electronic day where the
    print one is a month or a season, the DOI (an arXiv DOI giving the id)
    and the PubMed page, at its line; a book chapter is no paper, said; an
    arxiv source names it."""
    warnings = Collect()
    data = (DATA / "pubmed-efetch.xml").read_bytes()
    first, second = parse_feed(data, "pubmed.xml", "pubmed", warnings)
    assert first.title == "Score-based diffusion models for cryo-EM density maps of protein complexes."
    assert first.abstract == (
        "Background: Cryo-electron microscopy yields density maps whose resolution varies across a structure. "
        "Results: We train a score-based diffusion model on 12,000 deposited maps of E. coli and other complexes, "
        "improving model building for 38 of 50 test complexes (P < 0.01).")
    assert (first.authors, first.published, first.url, first.location) == (
        ("Jane Doe", "Ana Müller", "Cryo-EM Benchmark Consortium"), datetime(2024, 6, 5, tzinfo=UTC),
        "https://pubmed.ncbi.nlm.nih.gov/38837012/", "pubmed.xml:4")
    assert (second.authors, second.published, second.date_precision, second.arxiv_id) == (
        ("Grace Hopper",), datetime(2024, 1, 1, tzinfo=UTC), "year", "2404.01234")
    assert warnings == ["pubmed.xml:1: source 'pubmed': 1 of PubMed's book chapters (PubmedBookArticle) left out: "
                        "no papers"]
    with pytest.raises(InputError) as caught:
        parse_arxiv(data, "pubmed.xml", "arxiv", Collect())
    assert str(caught.value) == ("pubmed.xml:1: source 'arxiv': PubMed's XML, not arXiv's Atom (`type: feed` with "
                                 "`path:` reads it)")


def test_semantic_scholars_citations_and_references_are_read_and_a_year_alone_is_kept():
    """``/graph/v1/paper/ID/citations`` (and ``/references``) wraps each paper
    as ``citingPaper`` (``citedPaper``): it was 'a JSON document, not an RSS
    or Atom feed (Hugging Face's daily papers JSON is `type: hf-daily`)'.  A
    paper with a ``year`` and no ``publicationDate`` was dated nothing; it
    is dated to its year.  An answer without citations is nothing new."""
    warnings = Collect()
    data = (DATA / "s2-citations.json").read_bytes()
    first, second = parse_feed(data, "citations.json", "s2", warnings)
    assert (first.title, first.arxiv_id, first.authors, first.published) == (
        "Faster Diffusion Sampling with Learned Step Sizes", "2406.03001", ("Jane Doe", "Ana Müller"),
        datetime(2024, 6, 4, tzinfo=UTC))
    assert (second.title, second.abstract, second.published, second.date_precision) == (
        "A Survey of Score-Based Models", "", datetime(2023, 1, 1, tzinfo=UTC), "year")
    assert len(warnings) == 1 and "without a summary" in warnings[0]
    references = data.replace(b'"citingPaper"', b'"citedPaper"')
    assert [p.title for p in parse_feed(references, "refs.json", "s2", Collect())] == [first.title, second.title]
    warnings = Collect()
    assert parse_feed(b'{"offset": 0, "data": []}', "none.json", "s2", warnings) == []
    assert warnings == ["none.json:1: source 's2': the Semantic Scholar answer holds no papers; nothing read from it"]


def test_a_crossref_abstracts_sections_keep_their_headings_as_labels():
    """A JATS abstract in sections (``<jats:sec><jats:title>Methods</jats:title>``,
    as Springer's and Elsevier's deposits are) lost its headings, the parts
    run together ("... binders. Diffusion."); each part now follows its label,
    as a structured abstract from PubMed or Europe PMC does.  The heading
    "Abstract" itself is no text."""
    work = {"status": "ok", "message-type": "work", "message": {
        "DOI": "10.1007/s00000-024-00001-x", "type": "journal-article", "title": ["Protein design at scale"],
        "abstract": "<jats:title>Abstract</jats:title><jats:sec><jats:title>Purpose</jats:title><jats:p>We design "
                    "<jats:italic>proteins</jats:italic> &amp; binders.</jats:p></jats:sec><jats:sec><jats:title>"
                    "Methods</jats:title><jats:p>Diffusion.</jats:p></jats:sec>",
        "author": [{"given": "Jane", "family": "Doe"}], "URL": "https://doi.org/10.1007/s00000-024-00001-x"}}
    (paper,) = parse_feed(json.dumps(work).encode(), "work.json", "crossref", Collect())
    assert paper.abstract == "Purpose: We design proteins & binders. Methods: Diffusion."


def test_a_biorxiv_answer_of_another_endpoint_is_named_not_taken_for_hugging_faces():
    """bioRxiv's ``/pubs`` endpoint (preprints since published: ``preprint_title``,
    ``published_doi``) was 'a JSON document, not an RSS or Atom feed (Hugging
    Face's daily papers JSON is `type: hf-daily`)'.  It is named, with the
    endpoint a feed source reads."""
    pubs = {"messages": [{"status": "ok", "interval": "2024-06-01:2024-06-05", "cursor": 0, "count": 1}],
            "collection": [{"biorxiv_doi": "10.1101/2024.06.03.597001", "published_doi": "10.1038/s41586-024-0001-x",
                            "published_journal": "Nature", "preprint_platform": "bioRxiv",
                            "preprint_title": "Protein design", "preprint_abstract": "We design proteins."}]}
    with pytest.raises(InputError) as caught:
        parse_feed(json.dumps(pubs).encode(), "pubs.json", "biorxiv", Collect())
    assert str(caught.value) == (
        "pubs.json:1: source 'biorxiv': a bioRxiv / medRxiv answer, but not of its details endpoint (the first "
        "record's keys: 'biorxiv_doi', 'published_doi', 'published_journal', 'preprint_platform', 'preprint_title', "
        "'preprint_abstract'); a feed source reads api.biorxiv.org/details/biorxiv/FROM/UNTIL (or medrxiv)")
