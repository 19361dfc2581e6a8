"""Paper records given to a `feed` source: a CSV export (Zotero's, a
spreadsheet's), JSON Lines and JSON arrays of records (arXiv's metadata
snapshot, a script's export), and feeds in the encodings Windows tools
save them in."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from conftest import DATA, write_config

from newsletter.errors import InputError
from newsletter.feeds import parse_arxiv, parse_feed

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
