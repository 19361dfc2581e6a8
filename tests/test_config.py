"""Every config problem is reported as FILE:LINE: path: message, all at once."""

from __future__ import annotations

import codecs
import hashlib
import json
import marshal
import os
import re
import shutil
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import BASIC_CONFIG, DATA, ROOT, write_config

from newsletter.config import load_config, parse_config
from newsletter.errors import ConfigError
from newsletter.scheduling import parse_schedule

# What `validate` (and `match`, `send`) say of a config, asked of the command's
# main() in this process (conftest.run_in_process): nothing here is about the
# process itself; the tests that run the real executable call run_newsletter.
pytestmark = pytest.mark.cli_in_process


def problems(workdir, text):
    path = write_config(workdir, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return [str(p).replace(str(path), "config.yaml") for p in info.value.problems]


def test_basic_config_loads(workdir):
    config = load_config(write_config(workdir, BASIC_CONFIG))
    assert [s.email for s in config.subscribers] == ["ada@example.org", "bob@example.org"]
    assert config.subscribers[1].max_papers == 5
    assert config.subscribers[0].max_papers == 20
    assert config.topics["diffusion"].fields == ["title", "abstract"]
    assert config.delivery.transport == "outbox"
    assert config.state_path == workdir / "newsletter-state.sqlite3"
    assert config.where("subscribers", 1, "email") == f"{workdir / 'config.yaml'}:15"


BAD = """
sources:
  - type: hf-papers-text
    path: nothing/*.txt
  - type: hf-paper-text
    path: x
topics:
  d:
    any: ["ok", "/(foo/"]
    feilds: [title]
  e:
    any: [x]
    fields: [body]
subscribers:
  - email: ada@example.org
    topics: [d, f]
    shedule: daily at 08:00
  - email: bob@
    topics: [d]
    timezone: Europe/Berln
    schedule: sometimes
  - email: ADA@example.org
    name: "Ada\\nBcc: eve@example.org"
    topics: [d]
    max_papers: many
delivery:
  transport: smpt
"""


@pytest.mark.parametrize(
    "expected",
    [
        "config.yaml:3: sources[0].path: 'nothing/*.txt' matches no file",
        "config.yaml:4: sources[1].type: unknown source type 'hf-paper-text' (did you mean 'hf-papers-text'?)",
        "config.yaml:8: topics.d.any[1]: invalid regular expression '/(foo/'",
        "config.yaml:9: topics.d.feilds: unknown key 'feilds' (did you mean 'fields'?)",
        "config.yaml:12: topics.e.fields[0]: expected 'title', 'abstract', 'authors' or 'categories', got 'body'",
        "config.yaml:15: subscribers[0].topics[1]: unknown topic 'f'",
        "config.yaml:16: subscribers[0].shedule: unknown key 'shedule' (did you mean 'schedule'?)",
        "config.yaml:17: subscribers[1].email: 'bob@' is not a valid address",
        "config.yaml:19: subscribers[1].timezone: unknown time zone 'Europe/Berln' (did you mean 'Europe/Berlin'?)",
        "config.yaml:20: subscribers[1].schedule: cannot parse schedule 'sometimes'; valid forms:",
        "config.yaml:21: subscribers[2].email: duplicate subscriber 'ADA@example.org' (first at subscribers[0], line 14 as 'ada@example.org'): one address gets one digest; delete one of them",
        "config.yaml:22: subscribers[2].name: 'Ada\\nBcc: eve@example.org' contains a line break",
        "config.yaml:24: subscribers[2].max_papers: expected a valid integer",
        "config.yaml:26: delivery.transport: expected 'outbox' or 'smtp', got 'smpt' (did you mean 'smtp'?)",
    ],
)
def test_each_problem_is_reported_with_its_line(workdir, expected):
    found = problems(workdir, BAD)
    assert any(p.startswith(expected) for p in found), "\n".join(found)


@pytest.mark.parametrize(("written", "meant"), [
    ("rss", "(RSS, Atom and JSON feeds are read by type: feed)"),
    ("Atom", "(RSS, Atom and JSON feeds are read by type: feed)"),
    ("huggingface", "(Hugging Face's daily papers are type: hf-daily; a papers page saved as text is "
                    "type: hf-papers-text)"),
    # README's formats that `feed` reads: `type: zotero` got the list of types alone
    *((name, "(reference manager exports (BibTeX, RIS, CSV, CSL JSON, EndNote XML, Zotero RDF), saved answers of "
             "Semantic Scholar, OpenReview, OpenAlex, Crossref or bioRxiv, and Scholar alerts are read by type: feed, "
             "with path: or url:)") for name in ("zotero", "BibTeX", "semantic_scholar", "OpenAlex")),
    # a file's format: `type: json` got the list of types alone
    *((name, "(JSON (a JSON Feed, a saved API answer, a list of records, JSON Lines) is read by type: feed, with "
             "path: or url:)") for name in ("json", "JSON", "jsonl", "json_lines", "ndjson")),
    *((name, "(XML (RSS, RSS 1.0 RDF, Atom, a saved arXiv API answer, EndNote XML, Zotero RDF, PubMed XML) is read "
             "by type: feed, with path: or url:)") for name in ("xml", "rdf")),
    *((name, "(PubMed's exports (MEDLINE .nbib, PubMed XML) are read by type: feed, with path: or url:)")
      for name in ("pubmed", "MEDLINE", "nbib")),
])
def test_a_source_type_written_as_its_format_or_site_names_the_type_that_reads_it(workdir, written, meant):
    """The contract's table says "feed (RSS/Atom URL or file)": `type: rss`
    got only the list of types, nothing close to 'rss' among them."""
    found = problems(workdir, BASIC_CONFIG.replace("type: hf-papers-text", f"type: {written}"))
    assert found == [f"config.yaml:2: sources[0].type: unknown source type {written!r} {meant}; valid types: "
                     "hf-papers-text, arxiv, hf-daily, feed"]


ARXIV_QUERY = """
sources:
  - type: arxiv
    query: QUERY
topics:
  d:
    any: [diffusion]
subscribers:
  - {email: ada@example.org, topics: [d]}
"""


@pytest.mark.parametrize(("query", "said"), [
    ("diffusion or flow", "'or' is no operator of arXiv's (arXiv's operators are AND, OR and ANDNOT, in capitals): "
                          "write 'OR'"),
    ("diffusion NOT medical", "'NOT' is no operator of arXiv's (arXiv's operators are AND, OR and ANDNOT, in "
                              "capitals): write 'A ANDNOT B'"),
    ("title:diffusion", "'title:' is no arXiv field prefix; write 'ti:'"),
    ("author:Song", "'author:' is no arXiv field prefix; write 'au:'"),
    ("foo:bar", "'foo:' is no arXiv field prefix; arXiv's are ti:, au:, abs:, co:, jr:, cat:, rn:, id:, all:"),
])
def test_an_arxiv_query_in_another_search_syntax_is_refused_at_its_line(workdir, query, said):
    """'diffusion or flow', NOT, 'title:' are no arXiv syntax: the source
    fetched the wrong papers, or none, and every digest was short, unsaid."""
    found = problems(workdir, ARXIV_QUERY.replace("QUERY", repr(query)))
    assert found == [f"config.yaml:3: sources[0].query: query {query!r}: {said}"]


@pytest.mark.parametrize(("query", "said"), [
    ("cs.LG", "is a category, which a query searches as text: write categories: [cs.LG]"),
    ("cs.lg, stat.ML", "is a category, which a query searches as text: write categories: [cs.LG, stat.ML]"),
    ("abs:diffusion -medical", ": arXiv excludes with ANDNOT, not a leading '-': write '... ANDNOT all:medical'"),
    ("https://arxiv.org/list/cs.LG/new", "is a web address, not arXiv search syntax: a listing's categories go under "
                                         "categories: (with feed: rss for the daily announcement)"),
])
def test_an_arxiv_query_written_as_a_category_a_link_or_with_a_minus_says_what_to_write(workdir, query, said):
    """Each went to the API as text: papers mentioning 'cs.LG', or '-medical' as a word."""
    found = problems(workdir, ARXIV_QUERY.replace("QUERY", repr(query)))
    assert found == [f"config.yaml:3: sources[0].query: query {query!r}{'' if said[0] == ':' else ' '}{said}"], found


@pytest.mark.parametrize("query", ['ti:diffusion ANDNOT abs:medical', 'all:"flow or diffusion" OR TI:x',
                                   'cat:cs.LG AND all:"A: B"', "diffusion OR interpretability"])
def test_an_arxiv_query_in_its_syntax_is_taken(workdir, query):
    config = load_config(write_config(workdir, ARXIV_QUERY.replace("QUERY", repr(query))))
    assert config.sources[0].query == query


def test_all_problems_come_together_in_line_order(workdir):
    found = problems(workdir, BAD)
    assert len(found) == 14
    lines = [int(p.split(":")[1]) for p in found]
    assert lines == sorted(lines)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("sources: [\n  {type: x\n", "config.yaml:3: malformed YAML:"),
        (  # a path holding a NUL: the first stat was a traceback ('embedded null byte')
            'sources: [{type: hf-papers-text, path: "papers/\\u0000"}]\ntopics: {t: {any: [x]}}\n',
            "config.yaml:1: sources[0].path: holds a NUL character (\\u0000), which no setting can hold",
        ),
        (
            'sources: [{type: hf-papers-text, path: papers/}]\ntopics: {t: {any: [x]}}\ncache: "c\\0"\n',
            "config.yaml:3: cache: holds a NUL character (\\u0000), which no setting can hold",
        ),
        (  # a day that does not exist, unquoted: datetime's ValueError was a traceback
            "sources:\n  - type: hf-daily\n    date: 2024-02-30\ntopics: {t: {any: [x]}}\n",
            "config.yaml:3: malformed YAML: '2024-02-30' is written as a date, but there is no such date "
            "(day is out of range for month)",
        ),
        (  # a word for the newest day: leaving date: out is what reads it
            "sources:\n  - type: hf-daily\n    date: today\ntopics: {t: {any: [x]}}\n",
            "config.yaml:3: sources[0].date: 'today' is not a date in the form YYYY-MM-DD: leave date: out to read "
            "the last `days:` up to today",
        ),
        ("a: 1\na: 2\n", "config.yaml:2: duplicate key 'a' (first at line 1)"),
        ("- just\n- a list\n", "config.yaml:1: expected a mapping of settings"),
        ("topics: {t: {any: [x]}}\n", "config.yaml:1: sources: required key is missing"),
        (
            "sources: [{type: hf-papers-text, path: papers/}]\ntopics: {t: {any: [x]}}\nemail: {from: 'nobody'}\n",
            "config.yaml:3: email.from: 'nobody' is not a valid mailbox",
        ),
        (
            "sources: [{type: hf-papers-text, path: papers/}]\ntopics: {t: {any: [x]}}\nemail: {subject: '{{ count '}\n",
            "config.yaml:3: email.subject: subject template does not compile",
        ),
        (  # it went out with an empty Subject:
            "sources: [{type: hf-papers-text, path: papers/}]\ntopics: {t: {any: [x]}}\nemail: {subject: '  '}\n",
            "config.yaml:3: email.subject: is empty: a digest needs a subject; leave subject: out for the default",
        ),
        (  # found only when compiled (it was a TemplateAssertionError traceback)
            "sources: [{type: hf-papers-text, path: papers/}]\ntopics: {t: {any: [x]}}\nemail: {subject: '{{ count | plural }}'}\n",
            "config.yaml:3: email.subject: subject template does not compile: No filter named 'plural'.",
        ),
        (
            "sources: [{type: hf-papers-text, path: papers/}]\ntopics: {t: {none: [x]}}\n",
            "config.yaml:2: topics.t: a topic needs at least one 'any' or 'all' term",
        ),
        (
            "sources: [{type: hf-papers-text, path: papers/}]\ntopics: {t: {any: [x]}}\ndelivery:\n  transport: smtp\n",
            "config.yaml:3: delivery: the smtp transport needs 'host'",
        ),
        (
            "sources: [{type: hf-papers-text, path: papers/}]\ntopics: {t: {any: [x]}}\ndelivery: {transport: smtp, host: h, password_env: 'hunter2!'}\n",
            "config.yaml:3: delivery.password_env: the value is not an environment variable name (letters, digits and _; not shown",
        ),
        (
            "sources: [{type: hf-papers-text, path: papers/}]\ntopics: {t: {any: [x]}}\ntemplates: nowhere/\n",
            "config.yaml:3: templates: 'nowhere/': no such folder",
        ),
        (
            "sources: [{type: hf-papers-text, path: papers/}]\ntopics: {t: {any: [x]}}\nstate: nodir/sub/state.sqlite3\n",
            "config.yaml:3: state: 'nodir/sub/state.sqlite3': its folder",
        ),
        (  # it said "it holds a space", and "is not a valid address" of a mailto: link
            "sources: [{type: hf-papers-text, path: papers/}]\ntopics: {t: {any: [x]}}\n"
            "subscribers: [{email: 'Ada Lovelace <ada@example.org>', topics: [t]}, {email: 'mailto:bob@example.org'}]\n",
            "config.yaml:3: subscribers[0].email: 'Ada Lovelace <ada@example.org>' is not a bare address: write the "
            "address alone, ada@example.org, and the name under name:",
        ),
        (
            "sources: [{type: hf-papers-text, path: papers/}]\ntopics: {t: {any: [x]}}\n"
            "subscribers: [{email: 'mailto:bob@example.org', topics: [t]}]\n",
            "config.yaml:3: subscribers[0].email: 'mailto:bob@example.org' is not a bare address: write it without "
            "'mailto:', bob@example.org",
        ),
        (  # taken here, then refused by every send ("digest not composed"), with no file or line
            "sources: [{type: hf-papers-text, path: papers/}]\ntopics: {t: {any: [x]}}\n"
            "subscribers: [{email: ada.@example.org, topics: [t]}]\n",
            "config.yaml:3: subscribers[0].email: 'ada.@example.org' is not a valid address: the part before the @ "
            "may not start or end with a dot",
        ),
        (  # the values are lower case: 'STARTTLS' was only "expected 'starttls', 'ssl' or 'none'"
            "sources: [{type: hf-papers-text, path: papers/}]\ntopics: {t: {any: [x]}}\n"
            "delivery: {transport: SMTP, host: h, security: STARTTLS}\n",
            "config.yaml:3: delivery.security: expected 'starttls', 'ssl' or 'none', got 'STARTTLS' "
            "(write it in lower case: starttls)",
        ),
        (
            "sources: [{type: hf-papers-text, path: papers/}]\ntopics: {t: {any: [x]}}\n"
            "delivery: {transport: smtp, host: h, security: TLS}\n",
            "config.yaml:3: delivery.security: expected 'starttls', 'ssl' or 'none', got 'TLS' "
            "(implicit TLS, as on port 465, is ssl; STARTTLS, as on port 587, is starttls)",
        ),
        (  # a file named "state" was created beside the config, the folder never used
            "sources: [{type: hf-papers-text, path: papers/}]\ntopics: {t: {any: [x]}}\nstate: state/\n",
            "config.yaml:3: state: 'state/' ends with '/', a folder: the state is one SQLite file; "
            "write its name, such as 'state/newsletter-state.sqlite3'",
        ),
        (
            "sources: [{type: hf-papers-text, path: papers/}]\ntopics: {t: {any: [x]}}\nemail: {unsubscribe: 'http://x.org/u'}\n",
            "config.yaml:3: email.unsubscribe: 'http://x.org/u' must be a mailto: address or an https:// URL",
        ),
        (
            "sources: [{type: hf-papers-text, path: papers/}]\ntopics: {t: {any: [x]}}\nweb:\n  base_url: http://d.example.org\n  secret_env: S\n",
            "config.yaml:4: web.base_url: 'http://d.example.org' must be an https:// URL (mail providers only make one-click",
        ),
        (  # trying the pages on this machine: how, since http://localhost is refused
            "sources: [{type: hf-papers-text, path: papers/}]\ntopics: {t: {any: [x]}}\nweb:\n  base_url: http://localhost:8025\n  secret_env: S\n",
            "config.yaml:4: web.base_url: 'http://localhost:8025' must be an https:// URL (mail providers only make "
            "one-click unsubscribe requests over HTTPS, RFC 8058); to try the pages here, keep an https:// base_url and "
            "open a link's path on `newsletter serve`'s address (http://127.0.0.1:8058/unsubscribe/TOKEN)",
        ),
        (
            "sources: [{type: hf-papers-text, path: papers/}]\ntopics: {t: {any: [x]}}\nweb:\n  base_url: https://d.example.org/?x=1\n  secret_env: S\n",
            "config.yaml:4: web.base_url: 'https://d.example.org/?x=1' is not a base URL",
        ),
        (
            "sources: [{type: hf-papers-text, path: papers/}]\ntopics: {t: {any: [x]}}\nweb:\n  base_url: https://d.example.org\n  secret_env: 'correct horse'\n",
            "config.yaml:5: web.secret_env: the value is not an environment variable name (letters, digits and _; not shown: secret_env names",
        ),
        (
            "sources: [{type: hf-papers-text, path: papers/}]\ntopics: {t: {any: [x]}}\nweb:\n  base_url: https://d.example.org\n  secret: x\n",
            "config.yaml:5: web.secret: unknown key 'secret' (did you mean 'secret_env'?)",
        ),
        (
            "sources: [{type: hf-papers-text, path: papers/}]\ntopics: {t: {any: [x]}}\nweb:\n  base_url: https://d.example.org\n",
            "config.yaml:3: web.secret_env: required key is missing",
        ),
    ],
)
def test_single_problems(workdir, text, expected):
    found = problems(workdir, text)
    assert any(p.startswith(expected) for p in found), "\n".join(found)


@pytest.mark.parametrize("written", ["$SMTP_PASSWORD", "${SMTP_PASSWORD}", "'$SMTP_PASSWORD'"])
def test_a_shell_reference_where_the_variable_name_goes_says_to_drop_the_dollar(workdir, written):
    text = ("sources: [{type: hf-papers-text, path: papers/}]\ntopics: {t: {any: [x]}}\n"
            f"delivery:\n  transport: smtp\n  host: h\n  password_env: {written}\n")
    braces = " and braces" if "{" in written else ""
    assert problems(workdir, text) == [
        f"config.yaml:6: delivery.password_env: write the variable's name without '$'{braces}: SMTP_PASSWORD"
    ]


def test_a_secret_pasted_where_its_variable_name_goes_is_not_echoed(workdir):
    text = ("sources: [{type: hf-papers-text, path: papers/}]\ntopics: {t: {any: [x]}}\n"
            "delivery: {transport: smtp, host: h, password_env: 'Tr0ub4dor&3'}\n")
    [found] = problems(workdir, text)
    assert found.startswith("config.yaml:3: delivery.password_env:") and "Tr0ub4dor" not in found


def test_a_tab_in_the_indentation_is_named(workdir):
    found = problems(workdir, "sources: []\ntopics:\n\tt: {any: [x]}\n")
    assert len(found) == 1
    assert found[0].startswith("config.yaml:3: malformed YAML:")
    assert found[0].endswith("indented with a tab: YAML indents with spaces only")


@pytest.mark.parametrize("space", ["\u00a0", "\u202f", "\u3000"])
def test_no_break_spaces_where_yaml_wants_spaces_are_spaces(workdir, space):
    """YAML copied from a web page, a chat or a mail has no-break spaces: an
    indented ``any:`` was read as the key "  any" beside its topic ("topics.all:
    expected a mapping, got nothing").  One inside a value is kept."""
    text = BASIC_CONFIG.replace("Ada Lovelace", "Ada\u00a0Lovelace")
    odd = text.replace("  ", space * 2).replace("- email", f"-{space}email").replace("max_papers: ", f"max_papers:{space}")
    assert odd.count(space) > 20
    config, plain = load_config(write_config(workdir, odd)), load_config(write_config(workdir, text))
    assert config.model_dump() == plain.model_dump()
    assert config.subscribers[0].name == "Ada\u00a0Lovelace" and config.subscribers[1].max_papers == 5
    assert config.where("subscribers", 1, "max_papers") == plain.where("subscribers", 1, "max_papers")


def test_a_full_width_colon_after_a_key_is_a_colon(workdir):
    """A Chinese or Japanese input method types "：": ``timezone： Europe/Paris``
    was one plain value and the next key "not allowed in this context"."""
    text = BASIC_CONFIG.replace("topics:\n", "topics：\n").replace("    max_papers: 5", "    max_papers：5")
    text = text.replace("name: Diffusion models", "name: 拡散：モデル") + "timezone： Europe/Paris\n"
    config = load_config(write_config(workdir, text))
    assert config.timezone == "Europe/Paris" and config.subscribers[1].max_papers == 5
    assert config.topics["diffusion"].name == "拡散：モデル"


def test_a_tab_after_a_list_dash_is_named(workdir):
    found = problems(workdir, BASIC_CONFIG.replace("  - email: bob", "  -\temail: bob"))
    assert len(found) == 1 and found[0].startswith("config.yaml:15: malformed YAML:")
    assert found[0].endswith("a tab stands where YAML wants a space (after a '-' or a ':'): write a space")


def test_values_in_typographic_quotes_are_quoted_values(workdir):
    """A config typed in a word processor or a macOS editor has “smart” quotes,
    which YAML kept in the value: the term “diffusion model*” was refused
    ("'*' is only allowed at the end") and a subject went out with its quotes."""
    text = BASIC_CONFIG.replace('["diffusion model*", "score-based"]', "[“diffusion model*”, ‘score-based’]")
    text = text.replace("name: Optimisation", "name: “Optimisation” # theory") + 'email:\n  subject: “It’s {{ count }}”\n'
    text = text.replace("    name: Ada Lovelace", "    name: ‘Ada “the Countess” Lovelace’")
    config = load_config(write_config(workdir, text))
    assert config.topics["diffusion"].any == ["diffusion model*", "score-based"]
    assert config.topics["optim"].name == "Optimisation"
    assert config.email.subject == "It’s {{ count }}"
    assert config.subscribers[0].name == "Ada “the Countess” Lovelace"
    about = 'topics:\n  t:\n    about: A “quoted” word and “another”\n'
    sources = "sources: [{type: hf-papers-text, path: papers/}]\n"
    assert load_config(write_config(workdir, sources + about)).topics["t"].about == (
        "A “quoted” word and “another”"
    )


@pytest.mark.parametrize("text", ["", "# nothing yet\n", "---\n"])
def test_an_empty_config_is_one_problem_saying_so(workdir, text):
    path = write_config(workdir, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert [str(p) for p in info.value.problems] == [f"{path}: the config is empty; `newsletter init --force {path}` writes a starter one"]


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.yaml")
    assert "config file not found" in str(info.value)
    assert "newsletter init" in str(info.value)  # a new user learns how to get one


@pytest.mark.parametrize(
    "text, kind, fields",
    [
        ("daily at 08:00", "daily", {"hour": 8, "minute": 0}),
        ("Daily at 7:30", "daily", {"hour": 7, "minute": 30}),
        ("weekly on monday at 09:00", "weekly", {"weekdays": (0,), "hour": 9}),
        ("weekly on mon, thu at 07:30", "weekly", {"weekdays": (0, 3), "minute": 30}),
        ("every 6 hours", "interval", {"interval_minutes": 360}),
        ("every 15 minutes", "interval", {"interval_minutes": 15}),
        ("every hour", "interval", {"interval_minutes": 60}),
    ],
)
def test_schedule_strings(text, kind, fields):
    s = parse_schedule(text)
    assert s.kind == kind
    for k, v in fields.items():
        assert getattr(s, k) == v


@pytest.mark.parametrize("text", ["daily at 25:00", "weekly on funday at 09:00", "every 0 hours", "hourly", "daily"])
def test_bad_schedule_strings(text):
    with pytest.raises(ValueError):
        parse_schedule(text)


def test_paths_are_relative_to_the_config_file(workdir, tmp_path):
    path = write_config(workdir, BASIC_CONFIG)
    config = parse_config(path.read_text(), path)
    assert config.outbox_dir == workdir / "outbox"


@pytest.mark.parametrize(
    "text, expected",
    [
        # An empty path would read every file beside the config (config.yaml included).
        ("sources: [{type: hf-papers-text, path: ''}]\ntopics: {t: {any: [x]}}\n",
         "config.yaml:1: sources[0].path: empty path"),
        ("sources:\n  - type: hf-papers-text\n    path: '  '\ntopics: {t: {any: [x]}}\n",
         "config.yaml:3: sources[0].path: empty path"),
        # Case is the usual slip in a time zone name; the hint must catch it.
        ("sources: [{type: hf-papers-text, path: papers/}]\ntopics: {t: {any: [x]}}\ntimezone: utc\n",
         "config.yaml:3: timezone: unknown time zone 'utc' (did you mean 'UTC'?)"),
        ("sources: [{type: hf-papers-text, path: papers/}]\ntopics: {t: {any: [x]}}\ntimezone: america/new_york\n",
         "config.yaml:3: timezone: unknown time zone 'america/new_york' (did you mean 'America/New_York'?)"),
        # A region alone is a folder of the zone database ("Is a directory", the
        # install's path, no line); a name over 255 bytes failed the same way.
        ("sources: [{type: hf-papers-text, path: papers/}]\ntopics: {t: {any: [x]}}\ntimezone: Europe\n",
         "config.yaml:3: timezone: unknown time zone 'Europe' (a region: name one of its zones, "
         "such as 'Europe/Amsterdam')"),
        ("sources: [{type: hf-papers-text, path: papers/}]\ntopics: {t: {any: [x]}}\ntimezone: america\n",
         "config.yaml:3: timezone: unknown time zone 'america' (a region: name one of its zones, "
         "such as 'America/Adak')"),
        ("sources: [{type: hf-papers-text, path: papers/}]\ntopics: {t: {any: [x]}}\ntimezone: Europe/" + "B" * 300 + "\n",
         "config.yaml:3: timezone: unknown time zone 'Europe/" + "B" * 43 + "'... (257 more characters) "
         "(use an IANA name such as 'Europe/Berlin')"),
        # A city alone, as people say it: the zone named after it.
        ("sources: [{type: hf-papers-text, path: papers/}]\ntopics: {t: {any: [x]}}\ntimezone: Paris\n",
         "config.yaml:3: timezone: unknown time zone 'Paris' (did you mean 'Europe/Paris'?)"),
        ("sources: [{type: hf-papers-text, path: papers/}]\ntopics: {t: {any: [x]}}\ntimezone: new york\n",
         "config.yaml:3: timezone: unknown time zone 'new york' (did you mean 'America/New_York'?)"),
        # An empty section is null: say so, without pydantic's class names.
        ("sources: [{type: hf-papers-text, path: papers/}]\ntopics: {t: {any: [x]}}\nemail:\n",
         "config.yaml:3: email: expected a mapping, got nothing (an empty section?)"),
        ("sources: [{type: hf-papers-text, path: papers/}]\ntopics: {t: {any: [x]}}\ndelivery: outbox\n",
         "config.yaml:3: delivery: expected a mapping, got 'outbox'"),
        ("sources: [{type: hf-papers-text, path: papers/}]\ntopics: {t: {any: [x]}}\ntimezone: null\n",
         "config.yaml:3: timezone: has no value (nothing after `timezone:`): write one (timezone: Europe/Berlin), "
         "or remove the line for the default"),
        ("sources: [{type: hf-papers-text, path: papers/}]\ntopics: {t: {any: [x]}}\nsubscribers:\n",
         "config.yaml:3: subscribers: expected a valid list, got nothing (an empty section?)"),
        ("sources: [hf-papers-text]\ntopics: {t: {any: [x]}}\n",
         "config.yaml:1: sources[0]: expected a mapping, got 'hf-papers-text': a source is its settings, its type "
         "first: write {type: hf-papers-text, path: papers/}"),
        # A final line break passed the address check (the regex's $) and failed
        # that subscriber's digest at every send instead.
        ("sources: [{type: hf-papers-text, path: papers/}]\ntopics: {t: {any: [x]}}\n"
         "subscribers:\n  - email: \"ada@example.org\\n\"\n    topics: [t]\n",
         "config.yaml:4: subscribers[0].email: 'ada@example.org\\n' is not a valid address"),
        # One mailbox: these went out from the first address parseaddr found.
        ("sources: [{type: hf-papers-text, path: papers/}]\ntopics: {t: {any: [x]}}\n"
         "email: {from: 'a@example.org, b@example.org'}\n",
         "config.yaml:3: email.from: 'a@example.org, b@example.org' is not a valid mailbox"),
        ("sources: [{type: hf-papers-text, path: papers/}]\ntopics: {t: {any: [x]}}\n"
         "email: {from: 'x@example.org <digest@example.org>'}\n",
         "config.yaml:3: email.from: 'x@example.org <digest@example.org>' is not a valid mailbox"),
        # a comma in the name: it was "not a valid mailbox", the quotes it needs unsaid
        ("sources: [{type: hf-papers-text, path: papers/}]\ntopics: {t: {any: [x]}}\n"
         "email: {from: 'Lab, Digest <digest@example.org>'}\n",
         "config.yaml:3: email.from: 'Lab, Digest <digest@example.org>': the name holds ',', which splits or ends an "
         "address: put the name in double quotes, '\"Lab, Digest\" <digest@example.org>'"),
        # An endless timeout passed validation and failed every message (OverflowError).
        ("sources: [{type: hf-papers-text, path: papers/}]\ntopics: {t: {any: [x]}}\n"
         "delivery: {transport: smtp, host: h, timeout: .inf}\n",
         "config.yaml:3: delivery.timeout: an endless time cannot be meant: write the number of seconds, at least "
         "0.1 and at most 3600, timeout: 30 by default"),
        # host:port reached the resolver as a name ("Name or service not known").
        ("sources: [{type: hf-papers-text, path: papers/}]\ntopics: {t: {any: [x]}}\n"
         "delivery:\n  transport: smtp\n  host: 'smtp.example.org:587'\n",
         "config.yaml:5: delivery.host: 'smtp.example.org:587' includes a port: write host: smtp.example.org and port: 587"),
        ("sources: [{type: hf-papers-text, path: papers/}]\ntopics: {t: {any: [x]}}\n"
         "delivery:\n  transport: smtp\n  host: smtp://smtp.example.org\n",
         "config.yaml:5: delivery.host: 'smtp://smtp.example.org' is a URL: write host: smtp.example.org"),
        # a mail client's URL: the host, port and TLS it names
        ("sources: [{type: hf-papers-text, path: papers/}]\ntopics: {t: {any: [x]}}\n"
         "delivery:\n  transport: smtp\n  host: smtps://smtp.gmail.com:465\n",
         "config.yaml:5: delivery.host: 'smtps://smtp.gmail.com:465' is a URL: write host: smtp.gmail.com and port: "
         "465 (smtps:// is security: ssl)"),
        ("sources: [{type: hf-papers-text, path: papers/}]\ntopics: {t: {any: [x]}}\n"
         "delivery:\n  transport: smtp\n  host: https://mail.example.org/smtp\n",
         "config.yaml:5: delivery.host: 'https://mail.example.org/smtp' is not a host name or address"),
    ],
)
def test_more_single_problems(workdir, text, expected):
    found = problems(workdir, text)
    assert any(p.startswith(expected) for p in found), "\n".join(found)


def test_config_that_is_not_utf8_names_the_line(workdir):
    path = workdir / "config.yaml"
    path.write_bytes(b"sources: [{type: hf-papers-text, path: papers/}]\n# caf\xe9\ntopics: {t: {any: [x]}}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}:2: not UTF-8 text"), str(info.value)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
def test_a_config_saved_as_utf16_with_its_byte_order_mark_is_read(workdir, encoding):
    """Windows Notepad's "Unicode": UTF-16 starting with its byte order mark."""
    path = workdir / "config.yaml"
    text = "sources: [{type: hf-papers-text, path: papers/}]\ntopics: {t: {name: Café, any: [x]}}\n"
    path.write_bytes(("\ufeff" if encoding == "utf-16-be" else "").encode(encoding) + text.encode(encoding))
    assert load_config(path).topics["t"].name == "Café"
    path.write_bytes(path.read_bytes()[:-1])  # cut inside a character
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "not UTF-16 text after its byte order mark" in str(info.value) and "save it as UTF-8" in str(info.value)


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_a_config_saved_as_utf16_without_a_byte_order_mark_is_read(workdir, cli, encoding):
    """`iconv -t UTF-16LE` and a script writing utf-16-le give UTF-16 without
    its mark: it read as 'control characters are not allowed' at line 1, or
    'not UTF-8 text' at the first accent; the exports' rule reads it."""
    text = BASIC_CONFIG.replace("name: Ada Lovelace", "name: Ada Lovelace-Müller")
    (workdir / "config.yaml").write_bytes(text.encode(encoding))
    r = cli("validate")
    assert r.code == 0 and "Traceback" not in r.err, r.err
    assert load_config(workdir / "config.yaml").subscribers[0].name == "Ada Lovelace-Müller"
    broken = text.replace("topics:\n", "topics:\n  t: [\n")
    (workdir / "config.yaml").write_text(broken, encoding="utf-8")
    as_utf8 = cli("validate")
    (workdir / "config.yaml").write_bytes(broken.encode(encoding))
    r = cli("validate")  # a YAML error in it is at its line, as in UTF-8
    assert r.code == 2 and "malformed YAML" in r.err and r.err == as_utf8.err, r.err


@pytest.mark.parametrize(
    "value, expected",
    [('"5"', "an integer, got the text '5' (in quotes): write it without the quotes, max_papers: 5"),
     ("true", "a valid integer, got True"), ("5.5", "a valid integer, got 5.5")],
)
def test_numbers_are_not_guessed_from_other_types(workdir, value, expected):
    """YAML already gives numbers as numbers; a quoted one or a boolean is a mistake."""
    found = problems(workdir, BASIC_CONFIG.replace("max_papers: 5", f"max_papers: {value}"))
    assert found == [f"config.yaml:17: subscribers[1].max_papers: expected {expected}"]


@pytest.mark.parametrize("url", ["https://x.org/u?a=1,2", "https://x.org/u>,<mailto:evil@example.org", 'https://x.org/"u'])
def test_unsubscribe_url_cannot_end_or_split_the_header_list(workdir, url):
    found = problems(workdir, BASIC_CONFIG + f"email:\n  unsubscribe: '{url}'\n")
    assert len(found) == 1 and "must be percent-encoded in the unsubscribe URL" in found[0]


@pytest.mark.parametrize(("url", "named"), [("https://x.org/u?e={email}&n={name}", "{name}"),
                                           ("https://x.org/u?e={{email}}", "{{email}}"),
                                           ("mailto:digest@x.org?subject={emial}", "{emial}")])
def test_an_unsubscribe_placeholder_other_than_email_is_named(workdir, url, named):
    """Only {email} is filled in: {name}, a Jinja-style {{email}} or a typo
    went out as written, a link that names no subscriber, and validate said OK."""
    found = problems(workdir, BASIC_CONFIG + f"email:\n  unsubscribe: '{url}'\n")
    assert len(found) == 1 and found[0].endswith(
        f"email.unsubscribe: {url!r}: {named!r} is not filled in; only {{email}} is (the subscriber's address; "
        "a brace meant as such is written %7B or %7D)"), found
    fine = load_config(write_config(workdir, BASIC_CONFIG + "email:\n  unsubscribe: 'https://x.org/u/{email}?a={email}'\n"))
    assert fine.email.unsubscribe == "https://x.org/u/{email}?a={email}"


def test_top_level_schedule_is_every_unscheduled_subscribers_default(workdir):
    text = BASIC_CONFIG.replace("    max_papers: 5\n", "    max_papers: 5\n    schedule: every 6 hours\n")
    config = load_config(write_config(workdir, "schedule: weekly on mon at 07:30\n" + text))
    assert str(config.schedule) == "weekly on mon at 07:30"
    assert [str(s.schedule) for s in config.subscribers] == ["weekly on mon at 07:30", "every 6 hours"]
    assert load_config(write_config(workdir, BASIC_CONFIG)).subscribers[0].schedule is None  # no default: none


def test_a_bad_default_schedule_is_reported_once_at_its_line(workdir):
    assert problems(workdir, "schedule: daily at 25:00\n" + BASIC_CONFIG) == [
        "config.yaml:1: schedule: schedule 'daily at 25:00': 25:00 is not a time of day (00:00-23:59)"
    ]


# --------------------------------------------------------------------------- hostile files (issue 17)

_BOMB = (
    "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    + "".join(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 10))
    + "sources: *a9\ntopics: {t: {any: [x]}}\n"
)


@pytest.mark.parametrize(
    "text, expected",
    [
        (_BOMB, "config.yaml:10: YAML aliases expand this config to over"),
        ("sources: &a [*a]\ntopics: {t: {any: [x]}}\n", "config.yaml:1: a YAML alias refers to a value that contains it"),
        ("topics: &t\n  t: {any: [x]}\n  u: {all: *t}\nsources: []\n", "config.yaml:1: a YAML alias refers to a value that contains it"),
        ("sources: " + "[" * 900 + "]" * 900 + "\ntopics: {t: {any: [x]}}\n", "config.yaml:1: sources[0]: expected a mapping"),
        ("sources: []\ntopics:\n  t: {any: [\"x\x0by\"]}\n", "config.yaml:3: malformed YAML: character '\\x0b': control"),
    ],
    ids=["alias bomb", "self reference", "mapping in itself", "deep nesting", "control character"],
)
def test_hostile_yaml_is_one_line_error_in_seconds(cli, tmp_path, text, expected):
    (tmp_path / "config.yaml").write_text(text, encoding="utf-8")
    result = cli("validate")
    assert result.code == 2
    assert result.err.startswith(expected), result.err
    assert len(result.err.strip().splitlines()) == 1, result.err


def test_legitimate_aliases_still_work_and_keep_their_lines(tmp_path):
    (tmp_path / "config.yaml").write_text("x")
    config = parse_config(
        textwrap.dedent(
            """
            sources:
              - type: hf-papers-text
                path: config.yaml
            topics:
              t:
                any: &terms [diffusion, gan]
              u:
                any: *terms
            subscribers:
              - email: ada@example.org
                topics: &both [t, u]
              - email: bob@example.org
                topics: *both
            """
        ).lstrip(),
        tmp_path / "config.yaml",
    )
    assert config.topics["u"].any == ["diffusion", "gan"]
    assert config.where("subscribers", 1, "topics") == f"{tmp_path / 'config.yaml'}:13"


MERGED = """
sources:
  - type: hf-papers-text
    path: papers/
topics:
  diffusion:
    any: ["diffusion model*"]
subscribers:
  - &ada
    email: ada@example.org
    topics: [diffusion]
    timezone: Europe/Berlin
    max_papers: 5
  - <<: *ada
    email: bob@example.org
  - email: cy@example.org
    <<: *ada
    timezone: Asia/Tokyo
"""


def test_merge_keys_are_overridden_by_the_keys_written_beside_them(workdir, cli):
    """YAML's merge key: the keys written in the mapping win over the merged
    ones, wherever they stand; that is the point of `<<:` and no duplicate."""
    config = load_config(write_config(workdir, MERGED))
    assert [(s.email, s.timezone, s.max_papers) for s in config.subscribers] == [
        ("ada@example.org", "Europe/Berlin", 5),
        ("bob@example.org", "Europe/Berlin", 5),
        ("cy@example.org", "Asia/Tokyo", 5),
    ]
    result = cli("validate")
    assert result.code == 0, result.err


def test_top_level_x_keys_hold_anchors_and_are_not_settings(workdir, cli):
    """docker-compose's habit: `x-...` keys are the config's own, a home for
    anchors; any other unknown key is still an error, listing the valid ones."""
    text = "x-reader: &reader\n  max_papers: 3\n  timezone: Asia/Tokyo\n" + textwrap.dedent(BASIC_CONFIG).lstrip(
        "\n").replace("  - email: ada@example.org\n", "  - email: ada@example.org\n    <<: *reader\n")
    config = load_config(write_config(workdir, text))
    ada = config.subscriber("ada@example.org")
    assert (ada.max_papers, ada.timezone) == (3, "Asia/Tokyo")
    assert cli("validate").code == 0
    found = problems(workdir, text.replace("x-reader:", "xreader:"))
    assert len(found) == 1 and found[0].startswith("config.yaml:1: xreader: unknown key"), found


def test_a_key_written_twice_beside_a_merge_key_is_still_a_duplicate(workdir):
    text = MERGED.replace("    timezone: Asia/Tokyo\n", "    timezone: Asia/Tokyo\n    email: dan@example.org\n")
    found = problems(workdir, text)
    assert found == ["config.yaml:18: subscribers[2]: duplicate key 'email' (first at line 15)"], found


def test_a_merged_value_that_is_wrong_is_located_at_the_mapping_that_merges_it(workdir):
    text = MERGED.replace("Europe/Berlin", "Europe/Pari")
    found = problems(workdir, text)
    assert found == [  # Asia/Tokyo, written beside the merge key, wins in subscribers[2]
        "config.yaml:11: subscribers[0].timezone: unknown time zone 'Europe/Pari' (did you mean 'Europe/Paris'?)",
        "config.yaml:13: subscribers[1].timezone: unknown time zone 'Europe/Pari' (did you mean 'Europe/Paris'?)",
    ], found


def test_a_duplicate_key_names_both_lines(workdir, cli):
    text = textwrap.dedent(BASIC_CONFIG).lstrip("\n").replace("subscribers:\n", "  diffusion:\n    any: [y]\nsubscribers:\n")
    write_config(workdir, text)
    result = cli("validate")
    assert result.code == 2
    rows = text.splitlines()
    first, second = [i + 1 for i, row in enumerate(rows) if row == "  diffusion:"]
    assert result.err.splitlines() == [f"config.yaml:{second}: topics: duplicate key 'diffusion' (first at line {first})"], (
        result.err
    )
    assert "Traceback" not in result.err


@pytest.mark.parametrize(
    "written, used",
    [
        ("ada@münchen.de", "ada@xn--mnchen-3ya.de"),
        ("ada@MÜNCHEN.de", "ada@xn--mnchen-3ya.de"),  # a domain has no case (UTS 46 maps it)
        ("ada@xn--mnchen-3ya.de", "ada@xn--mnchen-3ya.de"),
        ("Ada.L@Example.org", "Ada.L@Example.org"),  # an ASCII address is kept as written
        ("info@bücher.例え.jp", "info@xn--bcher-kva.xn--r8jz45g.jp"),
    ],
)
def test_an_internationalised_domain_is_used_in_its_ascii_form(written, used):
    """A domain in Unicode (IDNA, RFC 5890) is written in its ASCII form for
    the envelope, the headers and the state: every server takes it, and
    both spellings are the same subscriber."""
    from newsletter.config import check_address

    assert check_address(written) == used


@pytest.mark.parametrize(
    "written",
    [
        "ada@example.org", "Ada.L@Example.org", "a+b@mail.example.org", "x@y.co", ".ada@example.org",
        "ada.@example.org", "ada..l@example.org", "ada@example..org", " ada@example.org", "ada@example.org\n",
        "ada@example.org ", "mailto:ada@example.org", "ada@@example.org", "ada@example", "ada@-x.org",
        "ada\u200b@example.org", "Ada <ada@example.org>", "ada@example.org,bob@example.org", "ada@münchen.de",
    ],
)
def test_the_quick_check_of_a_plain_address_agrees_with_the_whole_one(written):
    """check_address takes a plain address by one match (it runs for every
    subscriber at every start): what it returns or refuses is what the whole
    check gives."""
    from newsletter import config

    def outcome(check):
        try:
            return check(written)
        except ValueError as exc:
            return f"refused: {exc}"

    quick = outcome(config.check_address)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(config, "_plain_address", lambda value: False)
        whole = outcome(config.check_address)
    assert quick == whole
    assert config._plain_address(written) == (quick == written and written.isascii() and written.strip() == written)


@pytest.mark.parametrize(
    "written, words",
    [
        ("zoë@example.org", "'zoë@example.org': the part before the @ is not ASCII"),
        ("ada@mün_chen.de", "'ada@mün_chen.de' is not a valid address (its domain is not a valid internationalised name"),
        ("ada@-münchen.de", "'ada@-münchen.de' is not a valid address (its domain is not a valid internationalised name"),
    ],
)
def test_an_address_that_cannot_be_written_in_ascii_is_refused_saying_why(workdir, cli, written, words):
    write_config(workdir, BASIC_CONFIG.replace("bob@example.org", written))
    result = cli("validate")
    assert result.code == 2
    [line] = [row for row in result.err.splitlines() if "subscribers[1].email" in row]
    assert line.startswith("config.yaml:15: subscribers[1].email: ") and words in line, line
    assert "Traceback" not in result.err


def test_both_spellings_of_an_internationalised_domain_are_one_subscriber(workdir):
    text = BASIC_CONFIG.replace("bob@example.org", "ada@xn--mnchen-3ya.de").replace(
        "  - email: ada@example.org", "  - email: ada@münchen.de"
    )
    found = problems(workdir, text)
    assert found == ["config.yaml:15: subscribers[1].email: duplicate subscriber 'ada@xn--mnchen-3ya.de' (first at subscribers[0], line 12 as 'ada@münchen.de'): one address gets one digest; delete one of them"], found


@pytest.mark.parametrize(
    "written, used",
    [
        ("https://bücher.example.org/digest", "https://xn--bcher-kva.example.org/digest"),
        ("https://Bücher.example.org:8443", "https://xn--bcher-kva.example.org:8443"),
        ("https://digest.example.org/news/", "https://digest.example.org/news/"),
    ],
)
def test_a_web_base_url_on_an_internationalised_domain_is_used_in_its_ascii_form(workdir, written, used):
    """The links go into the List-Unsubscribe header, which takes ASCII only
    (RFC 2369); it was refused as 'not a base URL', saying nothing of why."""
    config = load_config(write_config(workdir, BASIC_CONFIG + f"web:\n  base_url: {written}\n  secret_env: S\n"))
    assert config.web is not None and config.web.base_url == used


@pytest.mark.parametrize(
    "written, words",
    [
        ("https://bü_cher.example.org", "'https://bü_cher.example.org': its domain is not a valid internationalised name"),
        ("https://digest.example.org/bücher",
         "'ü' in its path is not ASCII: percent-encode it (https://digest.example.org/b%C3%BCcher)"),
        # the character written, under the domain as written (it said '%C3%BC for ü' of an ï, under xn--)
        ("https://exämple.org/dïgest/",
         "'https://exämple.org/dïgest/': 'ï' in its path is not ASCII: percent-encode it "
         "(https://xn--exmple-cua.org/d%C3%AFgest/)"),
    ],
)
def test_a_web_base_url_that_has_no_ascii_form_says_why(workdir, written, words):
    found = problems(workdir, BASIC_CONFIG + f"web:\n  base_url: {written}\n  secret_env: S\n")
    [line] = [p for p in found if "web.base_url" in p]
    assert words in line, line


def test_a_from_address_with_an_internationalised_domain_keeps_its_name(workdir):
    config = load_config(write_config(workdir, BASIC_CONFIG + 'email:\n  from: "Bücher Digest <digest@bücher.example>"\n'))
    assert config.email.from_ == "Bücher Digest <digest@xn--bcher-kva.example>"


@pytest.mark.parametrize("kind", ["fifo", "/dev/zero", "sparse 5 GB file", "folder"])
def test_a_config_that_is_not_a_small_file_is_refused_at_once(cli, tmp_path, kind):
    path = tmp_path / "config.yaml"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    elif kind == "sparse 5 GB file":
        with open(path, "wb") as f:
            f.truncate(5 * 1024**3)
    else:
        path = Path(kind)
    result = cli("--config", str(path), "validate")
    assert result.code == 2
    assert result.err.startswith(f"{path}:1: "), result.err
    assert ("not a regular file" in result.err) or ("over the limit" in result.err)


def test_web_section_is_typed(workdir):
    config = load_config(write_config(workdir, BASIC_CONFIG + "web:\n  base_url: https://d.example.org/news/\n  secret_env: DIGEST_SECRET\n"))
    assert config.web is not None and config.web.base == "https://d.example.org/news"
    assert config.web.secret_env == "DIGEST_SECRET"
    assert load_config(write_config(workdir, BASIC_CONFIG)).web is None


PLAIN_CASES = [
    "a: 1\nb: yes\nc: ~\nd: 2024-05-01\ne: 1.5\nf: '1'\ng:\n  - x\n  - {k: v, k: w}\n  -\n    - 1\n",
    "x: 0x10\ny: .inf\nz: null\n1: one\nempty:\n",
    "a:\n  b:\n    c: [1, 2, {d: e}]\n  b: again\n",
    "# only a comment\n",
    "- a\n- b\n",
    # a plain scalar is built once per text: repeats, and the same text quoted or tagged "!"
    "a: 14\nb: '14'\nc: 14\nd: true\ne: \"true\"\nf: ! 14\ng: 2024-05-01\nh: [2024-05-01, true, 14, '']\n14: x\n",
]


@pytest.mark.parametrize("text", PLAIN_CASES + [BASIC_CONFIG])
def test_plain_documents_load_from_events_exactly_as_from_nodes(text):
    """A plain config is built from the parser's events (flat memory); the
    result, the line of each path and the duplicate keys are the node path's."""
    from newsletter.config import _load_plain, _load_yaml

    assert _load_plain(text, "c.yaml") == _load_yaml(text, "c.yaml")


@pytest.mark.parametrize("text", ["x: !!str 5\n", "x: &a 1\ny: *a\n", "base: &b {k: 1}\nother:\n  <<: *b\n", "a: 1\n---\nb: 2\n"])
def test_anchors_tags_and_streams_take_the_node_path(text):
    from newsletter.config import _load_plain

    assert _load_plain(text, "c.yaml") is None


@pytest.mark.parametrize("value", ["", " ''", " ~", " null"])
def test_an_about_left_empty_is_located_whatever_way_it_is_empty(workdir, cli, value):
    """`about:` with nothing after it is YAML null: beside `like` (or rules) the
    topic would silently lose its sentence; it is the same mistake as `about: ''`."""
    text = BASIC_CONFIG.replace(
        '    any: ["diffusion model*", "score-based"]\n',
        f'    any: ["diffusion model*", "score-based"]\n    about:{value}\n    like: ["2206.00364"]\n',
    )
    write_config(workdir, text)
    result = cli("validate")
    assert result.code == 2
    assert result.err.splitlines() == [
        "config.yaml:8: topics.diffusion.about: 'about' is empty: describe the interest in one "
        "to a few sentences, or remove the key"
    ], result.err


def test_an_unclosed_quote_is_reported_where_it_opens(workdir, cli):
    """PyYAML notices a missing closing quote only at the end of the file;
    the line to fix is the one where the quote opens."""
    write_config(workdir, BASIC_CONFIG + 'email:\n  from: "Digest <digest@example.org>\ndelivery:\n  transport: outbox\n')
    opened = len(BASIC_CONFIG.lstrip("\n").splitlines()) + 2
    result = cli("validate")
    assert result.code == 2
    assert result.err.splitlines() == [
        f"config.yaml:{opened}: malformed YAML: a quoted string starts here and is never closed "
        "(while scanning a quoted scalar found unexpected end of stream)"
    ], result.err


def test_an_empty_list_that_needs_entries_says_what_to_add(workdir, cli):
    text = BASIC_CONFIG.replace("    topics: [diffusion]\n", "    topics: []\n")
    write_config(workdir, text.replace("sources:\n  - type: hf-papers-text\n    path: papers/\n", "sources: []\n"))
    result = cli("validate")
    assert result.code == 2
    assert result.err.splitlines() == [
        "config.yaml:1: sources: is empty; give at least one source",
        "config.yaml:12: subscribers[0].topics: is empty; give at least one topic",
    ], result.err


LIKED = """
sources:
  - type: arxiv
    path: arxiv-latex.xml
  - type: arxiv
    path: arxiv-api.xml
topics:
  bridges:
    name: Bridges
    like: [LIKE]
subscribers:
  - email: ada@example.org
    topics: [bridges]
"""


def test_a_liked_paper_may_be_given_by_the_link_a_researcher_copies(tmp_path, cli):
    """`like` takes an arXiv id; the abstract or PDF link, `arXiv:ID` and the
    Hugging Face papers page name the same paper (they were 'no known paper')."""
    import json

    from conftest import DATA

    for name in ("arxiv-latex.xml", "arxiv-api.xml"):
        (tmp_path / name).write_bytes((DATA / name).read_bytes())
    write_config(tmp_path, LIKED.replace("LIKE", '"2406.04876"'))
    bare = cli("match", "--json")
    assert bare.code == 0 and "matches no known paper" not in bare.err, bare.err
    links = [
        "https://arxiv.org/abs/2406.04876",
        "https://arxiv.org/pdf/2406.04876v2",
        "http://export.arxiv.org/abs/2406.04876v1/",
        "https://arxiv.org/pdf/2406.04876.pdf",
        "arXiv:2406.04876",
        "https://huggingface.co/papers/2406.04876",
        "https://www.alphaxiv.org/abs/2406.04876",
        "https://www.alphaxiv.org/overview/2406.04876v2",
    ]
    for link in links:
        write_config(tmp_path, LIKED.replace("LIKE", json.dumps(link)))
        result = cli("match", "--json")
        assert result.code == 0 and "matches no known paper" not in result.err, (link, result.err)
        assert json.loads(result.out) == json.loads(bare.out), link
    write_config(tmp_path, LIKED.replace("LIKE", '"https://example.org/paper/2406.04876"'))
    other = cli("match", "--json")
    assert "topics.bridges.like[0]: 'https://example.org/paper/2406.04876' matches no known paper" in other.err  # not a link we know


def test_a_folder_without_files_says_its_subfolders_are_not_read(workdir, cli):
    (workdir / "exports").mkdir()
    (workdir / "exports" / "2024").mkdir()
    (workdir / "exports" / "2024" / "day.txt").write_bytes((workdir / "papers" / "hf-papers-compact.txt").read_bytes())
    write_config(workdir, BASIC_CONFIG.replace("    path: papers/\n", "    path: exports/\n"))
    result = cli("validate")
    assert result.code == 2
    assert result.err.splitlines() == [
        "config.yaml:3: sources[0].path: 'exports/' is a folder with no files in it "
        "(its subfolders are not read; 'exports/**/*.txt' reads them)"
    ], result.err
    write_config(workdir, BASIC_CONFIG.replace("    path: papers/\n", "    path: exports/**/*.txt\n"))
    assert cli("validate").code == 0


def test_a_templates_folder_with_none_of_the_template_names_is_located(workdir, cli):
    """A template saved as digest.htm is never used: the digest silently looks
    like the default one.  A folder with one of the names is fine (the rest
    fall back to the defaults, partials may sit beside them)."""
    (workdir / "mine").mkdir()
    (workdir / "mine" / "digest.htm").write_text("<p>{{ count }}</p>", encoding="utf-8")
    (workdir / "mine" / "notes.md").write_text("my notes", encoding="utf-8")
    write_config(workdir, BASIC_CONFIG + "templates: mine/\n")
    result = cli("validate")
    assert result.code == 2
    assert result.err.splitlines() == [
        "config.yaml:18: templates: 'mine/' holds none of digest.html, digest.txt, style.css, so the defaults "
        "would be used; it holds 'digest.htm' (did you mean 'digest.html'?), 'notes.md'"
    ], result.err
    (workdir / "mine" / "digest.htm").rename(workdir / "mine" / "digest.html")
    ok = cli("validate")
    assert ok.code == 0, ok.err


# A newcomer's YAML slips: PyYAML's words ("mapping values are not allowed in
# this context") do not say what to change; each gets a hint at the line to fix.

def _basic(old: str, new: str) -> str:
    assert old in BASIC_CONFIG
    return BASIC_CONFIG.replace(old, new)


def test_a_colon_inside_an_unquoted_value_says_to_quote_it(workdir, cli):
    write_config(workdir, _basic(
        "    name: Optimisation\n",
        "    name: Optimisation\n    about: Optimisers for deep learning: Adam, SGD and learning rates.\n",
    ))
    result = cli("validate")
    assert result.code == 2
    assert result.err.splitlines() == [
        "config.yaml:10: malformed YAML: mapping values are not allowed in this context; the value of 'about' "
        "holds ': ', which YAML reads as a new key: put the whole value in quotes "
        "(about: \"Optimisers for ...\") or on the lines below 'about: >-'"
    ], result.err


def test_a_colon_inside_an_unquoted_value_holding_a_double_quote_says_single_quotes(workdir, cli):
    """`subject: New papers: {{ topics | join(", ") }}`: told to put it in
    double quotes, whose own " then ended the value (the next message, a
    second round); single quotes keep it whole."""
    write_config(workdir, BASIC_CONFIG + 'email:\n  subject: New papers: {{ topics | join(", ") }}\n')
    result = cli("validate")
    assert result.code == 2
    assert result.err.splitlines() == [
        "config.yaml:19: malformed YAML: mapping values are not allowed in this context; the value of 'subject' "
        "holds ': ', which YAML reads as a new key: put the whole value in single quotes, as it holds a \" "
        "(subject: 'New papers: {{ topics | join(\", \") }}') or on the lines below 'subject: >-'"
    ], result.err
    write_config(workdir, BASIC_CONFIG + "email:\n  subject: 'New papers: {{ topics | join(\", \") }}'\n")
    assert cli("validate").code == 0  # what it says to write works


def test_a_line_indented_under_a_key_that_has_its_value_names_both_lines(workdir):
    found = problems(workdir, _basic("    name: Optimisation\n", "  name: Optimisation\n"))
    assert found == [
        "config.yaml:10: malformed YAML: mapping values are not allowed in this context; this line is indented "
        "deeper (4 spaces) than line 9 (2 spaces), whose key 'name' already has its value: "
        "the keys of one section line up"
    ], found


def test_a_key_indented_unlike_its_neighbours_names_both_indents(workdir):
    found = problems(workdir, _basic('    any: ["SGD"', '   any: ["SGD"'))
    assert len(found) == 1
    assert found[0].startswith("config.yaml:10: malformed YAML: ")
    assert found[0].endswith(
        "this line is indented 3 spaces, line 9 above it 4: the keys of one section line up"
    ), found


def test_a_dash_without_a_space_names_the_missing_space(workdir):
    found = problems(workdir, _basic("  - email: bob@example.org\n", "  -email: bob@example.org\n"))
    assert len(found) == 1
    assert found[0].startswith("config.yaml:15: malformed YAML: ")
    assert found[0].endswith("a list item needs a space after its '-' ('- email: ...')"), found


def test_a_list_item_key_indented_unlike_the_others(workdir):
    found = problems(workdir, _basic("    max_papers: 5\n", "   max_papers: 5\n"))
    assert len(found) == 1
    assert found[0].startswith("config.yaml:17: malformed YAML: ")
    assert found[0].endswith(
        "this line is indented 3 spaces, line 16 above it 4: the keys of one section line up"
    ), found


LONG_KEY = "diffusion" + "x" * 1100  # over PyYAML's 1024 characters for a key


def test_a_key_over_1024_characters_is_a_located_one_line_error_saying_what_to_change(workdir, cli):
    write_config(workdir, _basic("  diffusion:\n", f"  {LONG_KEY}:\n"))
    result = cli("validate")
    assert result.code == 2 and "Traceback" not in result.err
    assert result.err.splitlines() == [
        "config.yaml:5: malformed YAML: the key 'diffusionxxxxxxxxxxxxxxxxxxxxx...' is 1109 characters long, "
        "and YAML allows at most 1024 in a key: shorten it (a long text belongs in a value, as about: \"...\")"
    ], result.err


@pytest.mark.parametrize(
    ("old", "new", "line"),
    [
        ("sources:\n", f"{LONG_KEY}: 1\nsources:\n", 1),  # top level
        ("    max_papers: 5\n", f"    max_papers: 5\n    {LONG_KEY}: 1\n", 18),  # in a list item
        ("  - email: bob@example.org\n", f"  - {LONG_KEY}: 1\n    email: bob@example.org\n", 15),  # opening one
        ("  diffusion:\n", f'  "{LONG_KEY}":\n', 5),  # quoted
    ],
)
def test_a_key_over_1024_characters_is_reported_at_its_line_wherever_it_stands(workdir, old, new, line):
    found = problems(workdir, _basic(old, new))
    assert len(found) == 1 and "\n" not in found[0], found
    assert found[0].startswith(f"config.yaml:{line}: malformed YAML: the key 'diffusionxxx"), found
    assert "characters long, and YAML allows at most 1024 in a key: shorten it" in found[0], found


def test_a_colon_without_a_space_is_reported_at_its_own_line(workdir):
    """PyYAML notices `topics:[x]` (no space: one plain word) a line later."""
    found = problems(workdir, _basic("    topics: [optim, diffusion]\n", "    topics:[optim, diffusion]\n"))
    assert len(found) == 1
    assert found[0].startswith("config.yaml:16: malformed YAML: "), found
    assert found[0].endswith("YAML needs a space after the ':' of a key ('topics: [optim, diffusion]')"), found


@pytest.mark.parametrize(
    "old, new, expected",
    [
        # the key's colon left out: "could not find expected ':'" alone, at the line after
        ("    name: Ada Lovelace\n", "    name Ada Lovelace\n",
         "config.yaml:13: malformed YAML: while scanning a simple key could not find expected ':'; a key and its "
         "value need a ':' between them ('name: Ada Lovelace')"),
        # a quote not closed on its line: YAML read on to the next quote, and named a later line
        ("    name: Diffusion models\n", '    name: "Diffusion models\n',
         "config.yaml:6: malformed YAML: while parsing a block mapping did not find expected key; the quote opening "
         "'\"Diffusion models' is not closed on its line: end the value with \" (YAML read on to the next one, below)"),
        ("    name: Diffusion models\n", '    name: Diffusion models\n    none: ["medical]\n',
         "config.yaml:7: malformed YAML: while parsing a flow sequence did not find expected ',' or ']'; the quote "
         "opening '\"medical]' is not closed on its line: end the value with \" (YAML read on to the next one, "
         "below)"),
    ],
)
def test_a_slip_yaml_notices_lines_later_is_named_at_its_own_line(workdir, old, new, expected):
    assert problems(workdir, _basic(old, new)) == [expected]


@pytest.mark.parametrize(
    "old, new, expected",
    [
        ("    topics: [diffusion]\n", "    topics: diffusion\n",
         "config.yaml:14: subscribers[0].topics: expected a list, got the text 'diffusion': write it in brackets, "
         "[diffusion]"),
        ('    any: ["SGD", "stochastic gradient", "optimi*"]\n', "    any: SGD, stochastic gradient, optimi*\n",
         "config.yaml:10: topics.optim.any: expected a list, got the text 'SGD, stochastic gradient, optimi*': "
         'write it in brackets, [SGD, "stochastic gradient", "optimi*"]'),
        # the keys under it, as the topics themselves are written: 'expected a valid list, got a mapping'
        ("    topics: [diffusion]\n", "    topics:\n      diffusion:\n      optim:\n",
         "config.yaml:14: subscribers[0].topics: expected a list, got a mapping (each entry ends in ':'): write it "
         "in brackets, [diffusion, optim], or each entry on a line of its own after '- ', without the ':'"),
    ],
)
def test_a_text_where_a_list_goes_shows_the_list_to_write(workdir, old, new, expected):
    """`topics: diff` and `any: a, b` are a newcomer's lists: say how to write them."""
    assert problems(workdir, _basic(old, new)) == [expected]


@pytest.mark.parametrize(
    "term, expected",
    [
        ("diffusion OR flow",
         "term 'diffusion OR flow' is written as a search query; a term is one word or phrase: list the "
         "words as separate terms, [\"diffusion\", \"flow\"] (under all: when each must match)"),
        ("diffusion AND score",
         "term 'diffusion AND score' is written as a search query; a term is one word or phrase: list the "
         "words as separate terms, [\"diffusion\", \"score\"] (under all: when each must match)"),
        ("(diffusion OR flow) AND matching",  # the query's brackets are not part of the words
         "term '(diffusion OR flow) AND matching' is written as a search query; a term is one word or phrase: list "
         "the words as separate terms, [\"diffusion\", \"flow\", \"matching\"] (under all: when each must match)"),
        ("diffusion | flow",
         "term 'diffusion | flow' is written as a search query; a term is one word or phrase: list the "
         "words as separate terms, [\"diffusion\", \"flow\"] (under all: when each must match)"),
        ("diffusion, flow matching",
         "term 'diffusion, flow matching' holds a comma: each term is its own item, "
         "[\"diffusion\", \"flow matching\"]"),
        # an author as an alert or a reference list names one: not two terms (it said ["Müller", "Ana"])
        ("Müller, Ana",
         "term 'Müller, Ana' holds a comma: for an author, write the name as papers do, 'Ana Müller' (with "
         "fields: [authors]); for two terms, [\"Müller\", \"Ana\"]"),
        ("van der Berg, Jan A.",
         "term 'van der Berg, Jan A.' holds a comma: for an author, write the name as papers do, 'Jan A. van der "
         "Berg' (with fields: [authors]); for two terms, [\"van der Berg\", \"Jan A.\"]"),
        ("Tanaka, K.",  # initials: 'K. Tanaka' would match no paper, which writes 'Kenji Tanaka'
         "term 'Tanaka, K.' holds a comma: for an author, write the name as papers do, the surname alone, "
         "'Tanaka' (papers write whole given names, not initials) (with fields: [authors]); for two terms, "
         "[\"Tanaka\", \"K.\"]"),
        ("diffusion, Flow Matching",  # a lower-case word first: a list, not a name
         "term 'diffusion, Flow Matching' holds a comma: each term is its own item, [\"diffusion\", \"Flow Matching\"]"),
    ],
)
def test_a_term_written_as_a_query_or_a_list_says_how_to_split_it(workdir, term, expected):
    """`any: ["diffusion OR flow"]` was one phrase that matched nothing: a quiet week, not an error."""
    found = problems(workdir, _basic('any: ["diffusion model*", "score-based"]', f'any: ["{term}"]'))
    assert found == [f"config.yaml:7: topics.diffusion.any[0]: {expected}"], found


@pytest.mark.parametrize(
    "term, expected",
    [
        ("ti:diffusion",
         "term 'ti:diffusion' starts with arXiv's search field 'ti:', which a term reads as text: write "
         "'diffusion' (fields: [title] searches only there)"),
        # arXiv's author form: it said "write 'Tanaka_K'", which matches no paper ("Kenji Tanaka")
        ("au:Tanaka_K",
         "term 'au:Tanaka_K' starts with arXiv's search field 'au:', which a term reads as text: write 'Tanaka', "
         "the surname (papers write whole names, not arXiv's Surname_Initials; fields: [authors] searches only "
         "there)"),
        ("au:van_der_Berg_J_A",
         "term 'au:van_der_Berg_J_A' starts with arXiv's search field 'au:', which a term reads as text: write "
         "'van der Berg', the surname (papers write whole names, not arXiv's Surname_Initials; fields: [authors] "
         "searches only there)"),
        # an alert's whole query, as README's own arXiv source writes it: it said "write 'Tanaka_K OR
        # au:Muller_A'", itself a query; in brackets it listed "au:Tanaka_K", an error again
        ("au:Tanaka_K OR au:Muller_A",
         "term 'au:Tanaka_K OR au:Muller_A' starts with arXiv's search field 'au:', which a term reads as text: "
         "list them as separate terms, [\"Tanaka\", \"Muller\"] (under all: when each must match; papers write "
         "whole names, not arXiv's Surname_Initials; fields: [authors] searches only there)"),
        ("(au:Tanaka_K OR au:Muller_A)",
         "term '(au:Tanaka_K OR au:Muller_A)' starts with arXiv's search field 'au:', which a term reads as text: "
         "list them as separate terms, [\"Tanaka\", \"Muller\"] (under all: when each must match; papers write "
         "whole names, not arXiv's Surname_Initials; fields: [authors] searches only there)"),
        # it said "write 'Tanaka, K'", a term with a comma, itself an error
        ('au:\\"Tanaka, K.\\"',
         "term 'au:\"Tanaka, K.\"' starts with arXiv's search field 'au:', which a term reads as text: write "
         "'Tanaka', the surname (papers write whole given names, not initials; fields: [authors] searches only "
         "there)"),
        ("cat:cs.LG OR cat:stat.ML",
         "term 'cat:cs.LG OR cat:stat.ML' starts with arXiv's search field 'cat:', which a term reads as text: a "
         "category goes under categories: [cs.LG, stat.ML]"),
        ("au:Bengio",
         "term 'au:Bengio' starts with arXiv's search field 'au:', which a term reads as text: write 'Bengio' "
         "(fields: [authors] searches only there)"),
        ("cat:cs.LG",
         "term 'cat:cs.LG' starts with arXiv's search field 'cat:', which a term reads as text: a category goes "
         "under categories: [cs.LG]"),
        ('\\"score matching\\"',
         "term '\"score matching\"' holds quotes, which a term reads as text: write 'score matching' (a term of "
         "several words is already a phrase)"),
        ("-medical", "term '-medical': a leading '-' excludes nothing here; write 'medical' under none:"),
        ("diffusion AND NOT medical",
         "term 'diffusion AND NOT medical' is written as a search query; NOT excludes nothing in a term: put "
         "[\"medical\"] under none: and keep \"diffusion\" here"),
    ],
)
def test_a_term_in_search_syntax_says_what_to_write(workdir, term, expected):
    """Copied from an arXiv alert or a search box, each was a term that matched
    nothing, and validate said only that the topic matched no paper."""
    found = problems(workdir, _basic('any: ["diffusion model*", "score-based"]', f'any: ["{term}"]'))
    assert found == [f"config.yaml:7: topics.diffusion.any[0]: {expected}"], found


def test_a_capitalised_word_before_a_colon_is_no_search_field(workdir):
    config = load_config(write_config(workdir, _basic('"score-based"]', '"score-based", "Ti:sapphire", "Do NOT"]')))
    assert config.topics["diffusion"].any[-2:] == ["Ti:sapphire", "Do NOT"]


def test_a_comma_inside_a_word_is_no_list(workdir):
    config = load_config(write_config(workdir, _basic('"score-based"]', '"score-based", "1,3-butadiene", "Research or"]')))
    assert config.topics["diffusion"].any[-2:] == ["1,3-butadiene", "Research or"]


def test_a_web_address_as_a_path_says_what_reads_it(workdir, cli):
    # It read as "'https://huggingface.co/papers' matches no file".
    write_config(workdir, BASIC_CONFIG.replace(
        "    path: papers/\n",
        "    path: https://huggingface.co/papers\n  - {type: feed, path: 'https://lab.example.org/feed.xml'}\n",
    ))
    result = cli("validate")
    assert result.code == 2 and "Traceback" not in result.err
    assert result.err.splitlines() == [
        "config.yaml:3: sources[0].path: 'https://huggingface.co/papers' is a web address: hf-papers-text reads "
        "the page saved as text (give that file), and `type: hf-daily` fetches Hugging Face's daily papers itself",
        "config.yaml:4: sources[1].path: 'https://lab.example.org/feed.xml' is a web address: give it as url:",
    ], result.err


def test_a_word_or_number_yaml_reads_as_no_text_says_to_quote_it(workdir):
    """``any: [NO, 2024]`` (nitric oxide, a year) and a topic named ``off``:
    YAML 1.1 reads them as false and a number, and the errors said only
    "expected a valid string, got False", the topic's at the line of ``topics:``."""
    text = ("sources: [{type: hf-papers-text, path: papers/}]\ntopics:\n  chem:\n    any: [NO, 2024]\n"
            "  off:\n    any: [x]\nsubscribers:\n  - {email: a@example.org, topics: [chem]}\n")
    hint = "YAML reads an unquoted yes, no, on, off (in any case) as true or false, and digits as a number: quote it"
    assert problems(workdir, text) == [
        f"config.yaml:4: topics.chem.any[0]: expected text, got false ({hint})",
        f"config.yaml:4: topics.chem.any[1]: expected text, got the number 2024 ({hint})",
        f"config.yaml:5: topics.off: a topic's name must be text, got false ({hint})",
    ]


def test_a_path_that_names_no_file_says_which_file_was_meant(workdir, cli):
    """A space after the name, a file:// URL, quotes inside the quotes, Windows'
    backslashes, or another case: each was only "matches no file"."""
    (workdir / "papers" / "Day-1.txt").write_bytes((workdir / "papers" / "hf-papers-blank-lines.txt").read_bytes())
    sources = [
        ("hf-papers-text", "papers/hf-papers-compact.txt ", "it ends with a space: without it, it names a file"),
        ("hf-papers-text", f"file://{workdir}/papers/hf-papers-compact.txt",
         f"a file:// URL: write the path itself, {str(workdir / 'papers/hf-papers-compact.txt')!r}"),
        ("hf-papers-text", "'papers/*.txt'", "the quotes are part of it: write it without them"),
        ("hf-papers-text", "papers\\*.txt", "write / between folders, not \\"),
        ("feed", "papers/day-1.TXT", "did you mean 'papers/Day-1.txt'? names are case-sensitive"),
        # a config written on Windows (a path copied from Explorer), run on Linux or macOS
        ("hf-papers-text", "C:\\Users\\ada\\papers\\*.txt",
         "a Windows path: this machine has no drive C:; copy the file here and give its path on this machine, "
         "relative to the config's folder, with / between folders"),
    ]
    listed = "".join(f"  - {{type: {kind}, path: {json.dumps(path)}}}\n" for kind, path, _ in sources)
    write_config(workdir, BASIC_CONFIG.replace("  - type: hf-papers-text\n    path: papers/\n", listed))
    result = cli("validate")
    assert result.code == 2 and "Traceback" not in result.err
    found = result.err.splitlines()
    assert len(found) == len(sources), result.err
    for line, (kind, path, hint) in zip(found, sources, strict=True):
        missing = "no such file" if kind == "feed" else "matches no file"
        assert line.startswith("config.yaml:") and f"{path!r}" in line and missing in line, line
        assert line.endswith(f"({hint})"), line


def test_a_path_through_a_missing_folder_names_the_folder_and_the_one_meant(workdir, cli):
    """'papers/' written 'paper/': each was only "matches no file"."""
    write_config(workdir, BASIC_CONFIG.replace("    path: papers/\n", "    path: paper/*.txt\n"))
    result = cli("validate")
    assert result.code == 2
    assert result.err.strip() == ("config.yaml:3: sources[0].path: 'paper/*.txt' matches no file (there is no folder "
                                  f"{str(workdir / 'paper')!r}; did you mean 'papers'?)")


@pytest.mark.parametrize("written, what", [
    ("/path/to/the/checkout/samples/papers/*.txt", "README's placeholder"),
    ("samples/papers/*.txt", "the shipped config's path, which is relative to the checkout"),
])
def test_a_path_meant_for_the_sample_exports_names_the_checkouts(workdir, cli, written, what):
    """README's offline example copied with its placeholder, or the shipped
    config's relative path in a config of one's own folder: each was "there is
    no folder '/path'", and the newcomer had to find the checkout by hand."""
    from newsletter.config import CHECKOUT_SAMPLES

    assert CHECKOUT_SAMPLES == ROOT / "samples" / "papers" and CHECKOUT_SAMPLES.is_dir()
    write_config(workdir, BASIC_CONFIG.replace("    path: papers/\n", f"    path: {written}\n"))
    result = cli("validate")
    assert result.code == 2 and "Traceback" not in result.err
    assert result.err.strip() == (f"config.yaml:3: sources[0].path: {written!r} matches no file ({what}: for the "
                                  f"checkout's sample exports, write {str(CHECKOUT_SAMPLES / '*.txt')!r})")


@pytest.mark.parametrize("written", ["{own}/samples/papers/*.txt", "samples/papers/*.txt", "samples/papers/*.text"])
def test_a_samples_papers_folder_of_ones_own_is_not_sent_to_the_checkout(workdir, cli, written):
    """The user's own existing samples/papers folder (empty, or a pattern
    with a typo) was told to write the checkout's path instead."""
    (workdir / "samples" / "papers").mkdir(parents=True)
    written = written.format(own=workdir)
    write_config(workdir, BASIC_CONFIG.replace("    path: papers/\n", f"    path: {written}\n"))
    result = cli("validate")
    assert result.code == 2 and "Traceback" not in result.err
    assert result.err.strip().startswith(f"config.yaml:3: sources[0].path: {written!r} matches no file"), result.err
    assert "checkout" not in result.err, result.err


def test_a_path_relative_to_the_current_folder_says_paths_are_the_configs(workdir):
    """A path written from where the command runs, the config elsewhere
    (`--config ~/digest`): it read as "matches no file", beside the files."""
    from conftest import run_newsletter

    folder = workdir / "digest"
    folder.mkdir()
    write_config(folder, BASIC_CONFIG.replace("    path: papers/\n", "    path: papers/*.txt\n"))
    result = run_newsletter("validate", "--config", "digest", cwd=workdir)
    assert result.code == 2
    assert result.err.strip() == (
        f"digest/config.yaml:3: sources[0].path: 'papers/*.txt' matches no file (paths are relative to the config's "
        f"folder, {str(folder)!r}, not the current one: write {str(workdir / 'papers' / '*.txt')!r})"), result.err


def test_an_environment_variable_in_a_path_is_named_not_taken_as_a_folder(workdir, cli):
    # `delivery.path: $STATE_DIRECTORY/outbox` (systemd's habit) made a folder
    # named '$STATE_DIRECTORY' beside the config and wrote the mail there.
    config = BASIC_CONFIG + "delivery:\n  path: $STATE_DIRECTORY/outbox\ncache: ${CACHE}/http\n"
    config += "templates: $HOME/tpl\nstate: $HOME/digest.sqlite3\n"
    write_config(workdir, config)
    result = cli("send")
    assert result.code == 2 and "Traceback" not in result.err
    hint = "environment variables are not expanded in the config's paths: write the path itself (a leading ~ is expanded)"
    assert sorted(result.err.splitlines()) == sorted([
        f"config.yaml:19: delivery.path: '$STATE_DIRECTORY/outbox': {hint}",
        f"config.yaml:20: cache: '${{CACHE}}/http': {hint}",
        f"config.yaml:21: templates: '$HOME/tpl': {hint}",
        f"config.yaml:22: state: '$HOME/digest.sqlite3': {hint}",
    ]), result.err
    assert sorted(p.name for p in workdir.iterdir()) == ["config.yaml", "papers"]


def test_a_database_url_from_an_environment_variable_says_how_to_write_the_state(workdir, cli):
    """`state: ${DATABASE_URL}` (how platforms hand a database over) was told
    to "write the path itself", of a URL."""
    hint = ("environment variables are not expanded in the config: write the state's database URL itself, "
            "postgresql://user@host:port/db (no password in it: libpq reads PGPASSWORD or ~/.pgpass), or "
            "postgresql:///db to take the host, port and user from PGHOST, PGPORT and PGUSER")
    for value in ("${DATABASE_URL}", "$DATABASE_URL", "postgresql://digest@${PGHOST}/digest"):
        write_config(workdir, BASIC_CONFIG + f"state: '{value}'\n")
        for command in ("validate", "send"):
            result = cli(command, env={"DATABASE_URL": "postgresql://u@db.example.org/digest", "PGHOST": "db"})
            assert result.code == 2 and "Traceback" not in result.err
            assert result.err.splitlines() == [f"config.yaml:18: state: {value!r}: {hint}"], result.err
    assert sorted(p.name for p in workdir.iterdir()) == ["config.yaml", "papers"]  # no SQLite file of that name


def test_a_state_under_a_file_says_the_file_is_no_folder(workdir, cli):
    """`state: notes.txt/digest.sqlite3` said "its folder 'notes.txt' does not
    exist" of a file that is there."""
    (workdir / "notes.txt").write_text("a file\n")
    write_config(workdir, BASIC_CONFIG + "state: notes.txt/digest.sqlite3\n")
    for command in ("validate", "send"):
        result = cli(command)
        assert result.code == 2 and "Traceback" not in result.err
        assert result.err.splitlines()[0] == (
            "config.yaml:18: state: 'notes.txt/digest.sqlite3': 'notes.txt' is a file, not a "
            "folder: the state file cannot go under it"
        ), result.err


def test_a_state_inside_the_folder_the_exports_are_read_from_is_refused(workdir, cli):
    # The first send made it there; every later one read it as an export:
    # "binary data (NUL byte), not a text export".
    write_config(workdir, BASIC_CONFIG + "state: papers/digest.sqlite3\n")
    result = cli("send")
    assert result.code == 2 and "Traceback" not in result.err
    assert result.err.splitlines() == [
        "config.yaml:18: state: the state 'papers/digest.sqlite3' is where sources[0] reads its exports "
        "(path: papers/): from the next send on, it would be read as an export; give the state a place of its own"
    ], result.err
    assert not (workdir / "papers" / "digest.sqlite3").exists()


@pytest.mark.parametrize("source, where, written", [
    ("papers/**", "delivery:\n  path: papers/out\n", "19: delivery.path: the outbox 'papers/out'"),
    ("'**'", "delivery:\n  path: outbox\n", "19: delivery.path: the outbox 'outbox'"),
    ("papers/**/*", "state: papers/db/digest.sqlite3\n", "18: state: the state 'papers/db/digest.sqlite3'"),
])
def test_an_outbox_or_state_under_a_recursive_glob_is_refused(workdir, cli, source, where, written):
    """`**` takes any number of folders: Path.match read it as one, and the
    outbox in papers/out or a state in papers/db were let through."""
    (workdir / "papers" / "out").mkdir()
    (workdir / "papers" / "db").mkdir()
    write_config(workdir, BASIC_CONFIG.replace("    path: papers/\n", f"    path: {source}\n") + where)
    result = cli("validate")
    assert result.code == 2 and "Traceback" not in result.err
    assert f"config.yaml:{written} is where sources[0] reads its exports (path: {source.strip(chr(39))})" \
        in result.err, result.err


def test_a_recursive_glob_that_skips_the_outbox_is_fine(workdir, cli):
    # papers/**/*.txt does not take the .eml files; a folder starting with a dot is not walked by **
    write_config(workdir, BASIC_CONFIG.replace("    path: papers/\n", "    path: papers/**/*.txt\n")
                 + "delivery:\n  path: papers/out\nstate: papers/.state/digest.sqlite3\n")
    (workdir / "papers" / ".state").mkdir()
    assert cli("validate").code == 0


@pytest.mark.parametrize("outbox, source", [("papers", "papers/"), ("papers", "papers/*"), ("./papers/", "papers")])
def test_an_outbox_inside_the_folder_the_exports_are_read_from_is_refused(workdir, cli, outbox, source):
    # The first send wrote its .eml there; every later one read it as an
    # export and stopped ("no Hugging Face papers page header"), exit 2.
    write_config(workdir, BASIC_CONFIG.replace("    path: papers/\n", f"    path: {source}\n")
                 + f"delivery:\n  path: {outbox}\n")
    for command in ("validate", "send"):
        result = cli(command)
        assert result.code == 2 and "Traceback" not in result.err
        assert result.err.splitlines() == [
            f"config.yaml:19: delivery.path: the outbox {outbox!r} is where sources[0] reads its exports "
            f"(path: {source}): from the next send on, the digests written there would be read as exports; "
            "give the outbox a folder of its own"
        ], result.err
    assert not list((workdir / "papers").glob("*.eml"))
    write_config(workdir, BASIC_CONFIG.replace("    path: papers/\n", "    path: papers/*.txt\n")
                 + f"delivery:\n  path: {outbox}\n")
    assert cli("validate").code == 0  # only the .txt files are read: the .eml files are not


RANKED = """
sources:
  - type: hf-papers-text
    path: papers/
topics:
  rlhf:
    name: RLHF
    about: Reinforcement learning from human feedback and reward models for language models.
    LINE
subscribers:
  - email: ada@example.org
    topics: [rlhf]
"""


@pytest.mark.parametrize(
    "line, expected",
    [
        ('min_score: "0.5"', "topics.rlhf.min_score: expected a number, got the text '0.5' (in quotes): "
                             "write it without the quotes, min_score: 0.5"),
        ("min_score: 50", "topics.rlhf.min_score: 50 is over 1: the floor is a fraction in [0, 1], "
                          "not a percentage; for 50% write min_score: 0.5"),
        ("min_score: 50%", "topics.rlhf.min_score: '50%' is a percentage: the floor is a fraction in [0, 1]; "
                           "write min_score: 0.5"),
        ('min_score: "0,5"', "topics.rlhf.min_score: expected a number, got the text '0,5': "
                             "write it with a decimal point, min_score: 0.5"),
        ("min_score: 1000", "topics.rlhf.min_score: expected less than or equal to 1, got 1000"),
        # just over 1 is a slip for a fraction, not a floor of 1.5 % (it took nearly every paper)
        ("min_score: 1.5", "topics.rlhf.min_score: 1.5 is over 1: the floor is a fraction in [0, 1] (0.5 is the "
                           "default, 0.8 keeps only the clear fits, 1 the best alone); write e.g. min_score: 0.5"),
        ("min_score: 8", "topics.rlhf.min_score: 8 is over 1: the floor is a fraction in [0, 1] (0.5 is the "
                         "default, 0.8 keeps only the clear fits, 1 the best alone); write e.g. min_score: 0.5"),
        ("min_score: 1.5%", "topics.rlhf.min_score: '1.5%' is a percentage: the floor is a fraction in [0, 1]; "
                            "write min_score: 0.015"),
        ("min_score: 10", "topics.rlhf.min_score: 10 is over 1: the floor is a fraction in [0, 1], "
                          "not a percentage; for 10% write min_score: 0.1"),
    ],
)
def test_a_min_score_written_as_text_or_a_percentage_says_what_to_write(workdir, line, expected):
    """`min_score: "0.5"` read "expected a valid number, got '0.5'", which to
    its writer is a valid number; 50 and 50% are a percentage."""
    assert problems(workdir, RANKED.replace("LINE", line)) == [f"config.yaml:8: {expected}"]


def test_a_quoted_number_anywhere_says_to_drop_the_quotes(workdir):
    found = problems(workdir, BASIC_CONFIG.replace("max_papers: 5", 'max_papers: "5"'))
    assert found == ["config.yaml:17: subscribers[1].max_papers: expected an integer, got the text '5' (in quotes): "
                     "write it without the quotes, max_papers: 5"]


def test_an_about_written_as_a_list_says_to_write_sentences_or_use_any(workdir):
    found = problems(workdir, RANKED.replace(
        "    about: Reinforcement learning from human feedback and reward models for language models.\n    LINE\n",
        '    about: ["RLHF", "reward models"]\n'))
    assert found == [
        "config.yaml:7: topics.rlhf.about: expected the interest as text, got a list: write it as one to a few "
        "sentences (about: RLHF, reward models ...), or put the terms under any: to match them as keywords"
    ]


def test_a_min_score_on_a_topic_ranked_by_its_terms_alone_is_an_error(workdir):
    """It would do nothing: only `about`/`like` topics have a relevance floor."""
    text = RANKED.replace("    about: Reinforcement learning from human feedback and reward models for language models.\n",
                          '    any: ["RLHF", "reward model*"]\n').replace("LINE", "min_score: 0.4")
    assert problems(workdir, text) == [
        "config.yaml:8: topics.rlhf.min_score: has no effect without 'about' or 'like': a topic of terms alone "
        "takes every paper its terms match; remove min_score, or describe the interest under about: to rank them"
    ]


@pytest.mark.parametrize(
    "written, expected",
    [
        ("[2406.04876]", ["2406.04876"]),
        ("[2406.10000, 2406.04876]", ["2406.10000", "2406.04876"]),
        ("[1412.1234, 0704.0001]", ["1412.1234", "0704.0001"]),
        ("\n      - 2406.04876\n      - Some title", ["2406.04876", "Some title"]),
        ('["10.48550/arXiv.2406.04876", "https://doi.org/10.48550/arXiv.2406.04876"]', ["2406.04876", "2406.04876"]),
    ],
)
def test_an_arxiv_id_written_without_quotes_or_as_its_doi_is_that_id(workdir, written, expected):
    """YAML reads `2406.10000` as the number 2406.1: the id it was is rebuilt
    (4 digits after the point before 2015, 5 since), not refused."""
    text = RANKED.replace("LINE", f"like: {written}")
    assert load_config(write_config(workdir, text)).topics["rlhf"].like == expected


@pytest.mark.parametrize(
    "written, expected",
    [
        ("2406.04876", "topics.rlhf.like: expected a list, got 2406.04876: write it in brackets and quotes, "
                       'like: ["2406.04876"]'),
        ("[3.14]", "topics.rlhf.like[0]: 3.14 is no arXiv id (YYMM.NNNNN): write the id or the paper's title "
                   "in quotes"),
    ],
)
def test_a_like_that_is_no_list_or_no_id_says_what_to_write(workdir, written, expected):
    assert problems(workdir, RANKED.replace("LINE", f"like: {written}")) == [f"config.yaml:8: {expected}"]


@pytest.mark.parametrize("written, fix", [("1e-1", "1.0e-1"), ("'1e-1'", "1.0e-1"), ("5E-2", "5.0E-2")])
def test_an_exponent_without_a_point_says_yaml_reads_it_as_text(workdir, written, fix):
    """PyYAML (YAML 1.1) reads 1e-1 as text whether quoted or not: 'write it
    without the quotes' would not help; a point does."""
    found = problems(workdir, RANKED.replace("LINE", f"min_score: {written}"))
    shown = written.strip("'")
    assert found == [f"config.yaml:8: topics.rlhf.min_score: expected a number, got the text {shown!r}: YAML reads "
                     f"an exponent without a point as text; write, min_score: {fix}"]


# --------------------------------------------------------------------------- time zones as people write them

_TZ_CONFIG = "sources: [{type: hf-papers-text, path: papers/}]\ntopics: {t: {any: [x]}}\ntimezone: '%s'\n"


@pytest.mark.parametrize(
    "zone, expected",
    [
        # Abbreviations got the nearest spelling of another zone: PST 'MST' (Mountain,
        # no daylight saving time), CEST 'EST' (New York), BST and IST 'MST'.
        ("PST", "unknown time zone 'PST' (an abbreviation, not a zone: write the zone of a place, "
                "'America/Los_Angeles', which keeps that place's clock all year)"),
        ("CEST", "unknown time zone 'CEST' (an abbreviation, not a zone: write the zone of a place, "
                 "such as 'Europe/Berlin' or 'Europe/Paris')"),
        ("BST", "(an abbreviation, not a zone: write the zone of a place, 'Europe/London', "),
        ("IST", "such as 'Asia/Kolkata' (India), 'Europe/Dublin' (Ireland) or 'Asia/Jerusalem' (Israel)"),
        ("XYZT", "unknown time zone 'XYZT' (an abbreviation? write the zone of a place, such as 'Europe/Berlin')"),
        # Offsets: 'GMT+1' was told 'Etc/GMT+1', which is UTC-01:00 (POSIX inverts the sign).
        ("GMT+1", "unknown time zone 'GMT+1' (an offset, not a zone: write the zone of a place, such as "
                  "'Europe/Berlin', which keeps that place's clock all year; for UTC+01:00 all year, 'Etc/GMT-1': "
                  "the Etc/GMT names' signs are inverted)"),
        ("UTC-5", "for UTC-05:00 all year, 'Etc/GMT+5': the Etc/GMT names' signs are inverted)"),
        ("+05:30", "unknown time zone '+05:30' (an offset, not a zone: write the zone of a place, such as "
                   "'Asia/Kolkata')"),
        ("UTC+01:00", "for UTC+01:00 all year, 'Etc/GMT-1'"),
        # ISO 8601's Z (UTC) was told "did you mean 'NZ'?": New Zealand, 12 or 13 hours off.
        ("Z", "unknown time zone 'Z' (ISO 8601's mark for UTC, not a zone: write 'UTC')"),
        ("z", "unknown time zone 'z' (ISO 8601's mark for UTC, not a zone: write 'UTC')"),
    ],
)
def test_a_time_zone_abbreviation_or_offset_points_at_a_place(workdir, zone, expected):
    path = write_config(workdir, _TZ_CONFIG % zone)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "config.yaml:3: timezone: unknown time zone " in str(info.value) and expected in str(info.value), \
        str(info.value)
    assert "did you mean" not in str(info.value)


@pytest.mark.parametrize("zone", ["Europe/Paris ", " Europe/Paris", "Europe/Paris\u00a0", " EST "])
def test_a_time_zone_copied_with_spaces_around_it_is_the_zone(workdir, zone):
    """`timezone: 'Europe/Paris '` (quoted with the space it was copied
    with: YAML keeps it) was "unknown time zone 'Europe/Paris ' (did you mean
    'Europe/Paris'?)": the zone is read, as `host` and `username` are; a
    fixed-offset one keeps its warning."""
    from newsletter.config import fixed_zone_advice

    subscriber = "subscribers:\n  - {email: ada@example.org, topics: [t], timezone: '%s'}\n"
    config = load_config(write_config(workdir, _TZ_CONFIG % zone + subscriber % zone))
    assert config.timezone == zone.strip() and config.subscribers[0].timezone == zone.strip()
    if zone.strip() == "EST":
        assert fixed_zone_advice(config.timezone) is not None
    with pytest.raises(ConfigError) as info:  # a name still wrong within the spaces is said as written
        load_config(write_config(workdir, _TZ_CONFIG % " Europ/Paris "))
    assert "config.yaml:3: timezone: unknown time zone ' Europ/Paris ' (did you mean 'Europe/Paris'?)" in str(
        info.value), str(info.value)


@pytest.mark.parametrize(
    "written, expected",
    [
        ("+1", "timezone: expected a zone's name, got the number 1 (YAML reads an unquoted +1 as one): an offset, "
               "not a zone: write the zone of a place, such as 'Europe/Berlin', which keeps that place's clock all "
               "year; for UTC+01:00 all year, 'Etc/GMT-1': the Etc/GMT names' signs are inverted"),
        ("-5", "(YAML reads an unquoted -5 as one): an offset, not a zone: "),
        ("+5:30", "got the number 330 (YAML reads an unquoted +5:30 as one): an offset, not a zone: write the zone of "
                  "a place, such as 'Asia/Kolkata'"),
        ("+1:00", "got the number 60 (YAML reads an unquoted +1:00 as one): an offset, not a zone: "),
        ("0", "got the number 0 (YAML reads an unquoted 0 as one): UTC all year: write 'UTC'"),
    ],
)
def test_an_unquoted_offset_as_a_time_zone_points_at_a_place(workdir, written, expected):
    """`timezone: +1` is a number to YAML: the message said to quote it, and
    the quoted '+1' then got the next message, that an offset is no zone."""
    path = write_config(workdir, _TZ_CONFIG.replace("'%s'", "%s") % written)  # unquoted, as a newcomer writes it
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert expected in str(info.value), str(info.value)
    assert "config.yaml:3: timezone: expected a zone's name, got the number " in str(info.value), str(info.value)
    assert "quote it" not in str(info.value)


@pytest.mark.parametrize("written", ["30", "45", "-30", "15"])
def test_a_number_no_offset_is_read_as_is_not_said_to_be_one(workdir, written):
    """`timezone: 30` was said to be "an unquoted +0:30" read in base 60, but
    YAML's base 60 needs a first digit of 1-9: only 60 and over come from
    an H:MM, and 15-59 come from no offset at all."""
    path = write_config(workdir, _TZ_CONFIG.replace("'%s'", "%s") % written)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert f"config.yaml:3: timezone: expected text, got the number {written} (" in str(info.value), str(info.value)
    assert "an offset" not in str(info.value) and ":" not in str(info.value).split("got the number")[1].split("(")[0]


def test_gmt_and_the_machines_zone_are_warned_of_and_local_is_no_localtime(workdir, cli):
    """'GMT' is UTC all year (a London reader's digest an hour late all
    summer); 'localtime' is whichever machine's zone runs the config (a UTC
    server's, once deployed), and 'local' was told "did you mean 'localtime'?"."""
    write_config(workdir, BASIC_CONFIG + "timezone: GMT\n")
    result = cli("validate")
    assert result.code == 0 and result.err.splitlines() == [
        "warning: config.yaml:18: timezone: 'GMT' is UTC+00:00 all year, without daylight saving time: for UK time "
        "write 'Europe/London' (for UTC, 'UTC')"], result.err
    write_config(workdir, BASIC_CONFIG + "timezone: localtime\n")
    result = cli("validate")
    assert result.code == 0, result.err
    assert result.err.startswith("warning: config.yaml:18: timezone: 'localtime' is the zone of whichever machine runs "
                                 "the command: write its name, "), result.err
    assert result.err.rstrip().endswith("; a server or a container running this config has its own, often UTC")
    found = problems(workdir, BASIC_CONFIG + "timezone: local\n")
    assert len(found) == 1 and found[0].startswith(
        "config.yaml:18: timezone: unknown time zone 'local' (this machine's zone? write its name, "), found
    assert "localtime" not in found[0]


def test_validate_warns_of_a_zone_without_daylight_saving_or_with_an_inverted_sign(workdir, cli):
    """'EST' is UTC-05:00 all year (digests an hour late all summer in New York)
    and 'Etc/GMT+1' is UTC-01:00: both were taken without a word."""
    text = BASIC_CONFIG.replace("    max_papers: 5\n", "    max_papers: 5\n    timezone: Etc/GMT+1\n") + "timezone: EST\n"
    write_config(workdir, text)
    result = cli("validate")
    assert result.code == 0, result.err
    assert ("warning: config.yaml:19: timezone: 'EST' is UTC-05:00 all year, without daylight saving time: "
            "for US Eastern time write 'America/New_York'") in result.err, result.err
    assert ("warning: config.yaml:18: subscribers[1].timezone: 'Etc/GMT+1' is UTC-01:00 all year (the Etc/GMT "
            "names' signs are inverted): for UTC+01:00 write 'Etc/GMT-1', or the zone of a place, such as "
            "'Europe/Berlin'") in result.err, result.err
    # a place's zone, and UTC, are no cause for a warning
    write_config(workdir, text.replace("EST", "America/New_York").replace("Etc/GMT+1", "Etc/UTC"))
    assert "timezone" not in cli("validate").err


@pytest.mark.parametrize(
    "subject, placeholder",
    [("{count} new papers on {topics}", "{count}"), ("Digest for { name }: {{ count }} papers", "{ name }")],
)
def test_a_subject_with_single_brace_placeholders_is_refused(workdir, cli, subject, placeholder):
    """`unsubscribe:` fills in {email}, so the subject was written the same way:
    it went out as '{count} new papers on {topics}', and validate said OK."""
    write_config(workdir, BASIC_CONFIG + f"email:\n  subject: {subject!r}\n")
    result = cli("validate")
    assert result.code == 2, result.out + result.err
    name = placeholder.strip("{} ")
    assert result.err.startswith(
        f"config.yaml:19: email.subject: {placeholder!r} would go out as written: the subject is a Jinja template, "
        f"write {{{{ {name} }}}}"), result.err
    # doubled braces, Jinja's own, and a brace that names nothing are fine
    for fine in ("{{ count }} new papers", "Papers {% if count > 9 %}(many){% endif %}", "{ } and {1}"):
        write_config(workdir, BASIC_CONFIG + f"email:\n  subject: {fine!r}\n")
        assert cli("validate").code == 0, fine


def test_a_topic_renamed_in_topics_only_is_a_few_lines_and_names_the_new_key(workdir):
    """`interp:` renamed to `interpretability:` and the subscribers' lists
    left as they were: one error line per subscriber (hundreds on a mailing
    list), none saying which key was meant.  Now three, then one for the
    rest, pointing at the topic nobody follows."""
    people = "".join(f"  - email: m{i}@example.org\n    topics: [interp]\n" for i in range(6))
    found = problems(workdir, f"""
sources:
  - type: hf-papers-text
    path: papers/
topics:
  interpretability:
    any: ["saliency"]
  optim:
    any: ["SGD"]
subscribers:
  - email: ada@example.org
    topics: [optim]
{people}""")
    said = "unknown topic 'interp' (renamed? 'interpretability' is the topic no subscriber follows)"
    assert found == [
        f"config.yaml:13: subscribers[1].topics[0]: {said}; defined topics: interpretability, optim",
        f"config.yaml:15: subscribers[2].topics[0]: {said}; defined topics: interpretability, optim",
        f"config.yaml:17: subscribers[3].topics[0]: {said}; defined topics: interpretability, optim",
        "config.yaml:19: subscribers[4].topics[0]: unknown topic 'interp' here and in 2 more subscribers after this "
        "one (renamed? 'interpretability' is the topic no subscriber follows)",
    ]

    four = "".join(f"  - email: m{i}@example.org\n    topics: [intrep]\n" for i in range(4))
    found = problems(workdir, f"""
sources:
  - type: hf-papers-text
    path: papers/
topics:
  interp:
    any: ["saliency"]
subscribers:
{four}""")
    assert [line.split(": ", 1)[0] for line in found] == [f"config.yaml:{n}" for n in (9, 11, 13, 15)]
    assert all("unknown topic 'intrep' (did you mean 'interp'?)" in line for line in found)  # four: each said


def test_terms_and_categories_copied_with_invisible_characters_are_the_plain_ones(workdir):
    """A term copied from a web page with a zero-width space or a soft hyphen in
    it matched no paper (the papers lose theirs when read): a quiet week, every week."""
    text = BASIC_CONFIG.replace('"diffusion model*"', '"diffusion\u00ad model*\u200b"').replace(
        '["SGD", ', '["\u200eSGD", ').replace("    name: Optimisation\n", "    name: Optimisation\n    categories: ['cs.LG\u200b']\n")
    config = load_config(write_config(workdir, text))
    assert config.topics["diffusion"].any == ["diffusion model*", "score-based"]
    assert config.topics["optim"].any[0] == "SGD" and config.topics["optim"].categories == ["cs.LG"]
    liked = text.replace("    name: Optimisation\n", "    name: Optimisation\n    about: SGD\n    like: ['Heavy\u00adTailed SGD']\n")
    assert load_config(write_config(workdir, liked)).topics["optim"].like == ["HeavyTailed SGD"]


@pytest.mark.parametrize("terms", ["[*diffusion]", "[score-based, *diffusion ]", "\n      - *diffusion"])
def test_a_term_starting_with_a_star_says_yaml_reads_it_as_an_alias(workdir, terms):
    """`any: [*diffusion]` (a suffix wanted) was "malformed YAML: found
    undefined alias", which says nothing to someone who never wrote an anchor."""
    found = problems(workdir, BASIC_CONFIG.replace('any: ["diffusion model*", "score-based"]', f"any: {terms}"))
    line = 8 if terms.startswith("\n") else 7
    assert found == [f"config.yaml:{line}: malformed YAML: found undefined alias; YAML reads *diffusion as an alias "
                     "(a reference to an '&' anchor): to mean the text, write it in quotes, \"*diffusion\""]


@pytest.mark.parametrize(("terms", "word"), [("[score-based, @score]", "@score"), ("[`diffusion`]", "`diffusion`")])
def test_a_term_starting_with_a_character_yaml_keeps_says_to_quote_it(workdir, terms, word):
    """`any: [@score]` was "found character that cannot start any token"."""
    found = problems(workdir, BASIC_CONFIG.replace('any: ["diffusion model*", "score-based"]', f"any: {terms}"))
    assert len(found) == 1 and found[0].startswith("config.yaml:7: malformed YAML: ") and found[0].endswith(
        f"YAML keeps {word[0]} for itself at the start of a value: write it in quotes, \"{word}\""), found


@pytest.mark.parametrize(("subject", "quoted"), [
    ("{{ count }} papers", '"{{ count }} papers"'),
    ('{{ count }} new: {{ topics | join(", ") }}', """'{{ count }} new: {{ topics | join(", ") }}'"""),
    ("{{ count }}", '"{{ count }}"'),
])
def test_a_subject_template_without_quotes_says_to_quote_it(workdir, subject, quoted):
    """`subject: {{ count }} papers` was told its line was indented unlike
    the one above (or "found unhashable key"): YAML read a mapping."""
    found = problems(workdir, BASIC_CONFIG + f"email:\n  subject: {subject}\n")
    assert len(found) == 1 and found[0].startswith("config.yaml:19: malformed YAML: "), found
    assert found[0].endswith(f"YAML reads a value starting with '{{' as a mapping: put the template in quotes, "
                             f"subject: {quoted}"), found


@pytest.mark.parametrize(("written", "said"), [
    ("smtp", "write `transport: smtp` indented on a line under `delivery:`, and beside it host:, port:, security:, "
             "username:, password_env:"),
    ("outbox", "write `transport: outbox` indented on a line under `delivery:`"),
])
def test_delivery_written_as_its_transport_says_where_the_transport_goes(workdir, written, said):
    """`delivery: smtp` (the contract: "delivery: picks the transport") got only
    "expected a mapping, got 'smtp'"."""
    found = problems(workdir, BASIC_CONFIG + f"delivery: {written}\n")
    assert found == [f"config.yaml:18: delivery: expected a mapping, got {written!r}: {said}"]


@pytest.mark.parametrize(("line", "said"), [
    ("unsubscribe: 'mailto:d@example.org'", "it is a setting of email: (indent it under `email:`)"),
    ("from: 'Lab <d@example.org>'", "it is a setting of email: (indent it under `email:`)"),
    ("host: smtp.example.org", "it is a setting of delivery: (indent it under `delivery:`)"),
    ("timeout: 30", "it is a setting of delivery: or http: (indent it under the one meant)"),
    ("smtp: {host: x}", "the transport is set under delivery: (transport: smtp)"),
    ("max_papers: 10", "it is each subscriber's setting (write it in each, or once in an `x-` anchor they merge in: "
                       "README \"Many subscribers\")"),
    ("min_score: 0.4", "it is a topic's setting (indent it under the topic's name in topics:)"),
])
def test_a_sections_setting_written_at_the_top_says_where_it_goes(workdir, line, said):
    """`unsubscribe:` beside `sources:` was told "did you mean 'subscribers'?",
    `from:` or `max_papers:` got the list of top-level keys."""
    key = line.split(":")[0]
    found = problems(workdir, BASIC_CONFIG + line + "\n")
    assert found == [f"config.yaml:18: {key}: unknown key {key!r} at the top: {said}"]


def test_a_mail_providers_name_for_a_delivery_setting_names_ours(workdir):
    """Outlook's help page says 'Server name' and 'Encryption method', and a
    password copied in beside them: each was 'unknown key' with the list of
    keys (or nothing close), and the password was not told where it goes."""
    found = problems(workdir, BASIC_CONFIG + (
        "delivery:\n  transport: smtp\n  server: smtp-mail.outlook.com\n  encryption: STARTTLS\n"
        "  password: hunter2\n"))
    assert found == [
        "config.yaml:20: delivery.server: unknown key 'server': the setting is called host: here",
        "config.yaml:21: delivery.encryption: unknown key 'encryption': the setting is called security: here, "
        "one of starttls (port 587), ssl (port 465) or none",
        "config.yaml:22: delivery.password: unknown key 'password': the password never goes in the config: put it "
        "in an environment variable and give its NAME, password_env: SMTP_PASSWORD (README \"Delivery\")",
    ], found
    assert not any("hunter2" in p for p in found)


def test_a_setting_at_the_other_level_says_where_it_goes(workdir):
    """max_papers in a topic, min_score in a subscriber: each got the other
    level's list of keys, which does not hold it."""
    text = (BASIC_CONFIG.replace('    any: ["SGD", "stochastic gradient", "optimi*"]\n',
                                 '    any: ["SGD", "stochastic gradient", "optimi*"]\n    max_papers: 5\n')
            .replace("    topics: [diffusion]\n", "    topics: [diffusion]\n    min_score: 0.3\n"))
    assert problems(workdir, text) == [
        "config.yaml:11: topics.optim.max_papers: unknown key 'max_papers': it is a subscriber's setting, not a "
        "topic's: set it in each subscriber that follows the topic (or once in an `x-` anchor they merge in)",
        "config.yaml:16: subscribers[0].min_score: unknown key 'min_score': it is a topic's setting, not a "
        "subscriber's: set it under the topic in topics: (every subscriber of a topic gets it; for one subscriber "
        "alone, a topic of its own)",
    ]


@pytest.mark.parametrize("written, said", [
    ("0", "0 seconds cannot be meant: write the number of seconds, at least 0.1 and at most 3600, timeout: 30 by "
          "default"),
    ("-5", "-5 seconds cannot be meant: write the number of seconds, at least 0.1 and at most 3600, timeout: 30 by "
           "default"),
    ("0.001", "0.001 seconds cannot be meant: write the number of seconds, at least 0.1 and at most 3600, timeout: "
              "30 by default"),
    ("10000", "10000 seconds (3 hours) cannot be meant: write the number of seconds, at least 0.1 and at most 3600, "
              "timeout: 30 by default; if milliseconds were meant, that is timeout: 10"),
])
def test_a_timeout_that_cannot_be_meant_names_its_unit_and_range(workdir, written, said):
    """`delivery.timeout: 0`, `-5`, `10000` were 'expected greater than 0, got
    0' or 'expected less than or equal to 3600, got 10000': the unit (seconds)
    unnamed, and 10000 meant as milliseconds not said; 0.001 passed, and every
    SMTP reply 'timed out'."""
    text = BASIC_CONFIG + f"delivery:\n  transport: smtp\n  host: smtp.example.org\n  timeout: {written}\n"
    assert problems(workdir, text) == [f"config.yaml:21: delivery.timeout: {said}"]


def test_http_seconds_out_of_range_name_their_unit(workdir):
    text = BASIC_CONFIG + "http:\n  timeout: 0\n  backoff: -1\n"
    assert problems(workdir, text) == [
        "config.yaml:19: http.timeout: 0 seconds cannot be meant: write the number of seconds, at least 0.1 and at "
        "most 600, timeout: 30 by default",
        "config.yaml:20: http.backoff: -1 seconds cannot be meant: write the number of seconds, at least 0 and at "
        "most 60, backoff: 2 by default",
    ]


def test_a_number_with_its_unit_says_the_number_to_write(workdir):
    """`timeout: 30s`, `max_bytes: 50MB` (as people write them) were 'expected a
    valid number, got '30s'', and `security: yes` 'got True' with no word of YAML."""
    text = BASIC_CONFIG + (
        "delivery:\n  transport: smtp\n  host: smtp.gmail.com\n  security: yes\n  timeout: 30s\n"
        "  retry_delay: 2 min\n  max_per_minute: 60 msgs\nhttp:\n  max_bytes: 50MB\n")
    assert problems(workdir, text) == [
        "config.yaml:21: delivery.security: expected 'starttls', 'ssl' or 'none', got True (YAML reads an unquoted "
        "yes, no, on, off, true or false as true or false: write one of them)",
        "config.yaml:22: delivery.timeout: expected a number, got the text '30s': write the number of seconds alone, "
        "timeout: 30",
        "config.yaml:23: delivery.retry_delay: expected a number, got the text '2 min': write the number of seconds "
        "alone, retry_delay: 120",
        "config.yaml:24: delivery.max_per_minute: expected an integer, got the text '60 msgs': write the number "
        "alone, max_per_minute: 60",
        "config.yaml:26: http.max_bytes: expected an integer, got the text '50MB': write the number of bytes alone, "
        "max_bytes: 52428800",
    ]


def test_topics_written_as_a_list_or_inside_a_subscriber_say_how_topics_are_keyed(workdir):
    """`topics: [- name: RL ...]` and a topic's settings inside a subscriber's
    topics: were 'expected a mapping, got a list' and 'expected a valid string,
    got a mapping': nothing said that topics are keyed and subscribers name the keys."""
    text = ("sources: [{type: hf-papers-text, path: papers/}]\ntopics:\n  - name: RL\n    about: Reinforcement "
            "learning.\nsubscribers:\n  - email: a@uni.edu\n    topics:\n      - about: Reinforcement learning.\n")
    assert problems(workdir, text) == [
        "config.yaml:2: topics: expected a mapping, got a list: each topic goes under a key of your choosing that "
        "subscribers name in their topics: (`topics:`, then indented `rl:`, then its name:, any: or about: indented "
        "under that)",
        "config.yaml:8: subscribers[0].topics[0]: expected a topic's key, got a topic's settings: write the topic "
        "under topics: with a key (`rl:`), and the key here, topics: [rl]",
    ]


def test_a_schedule_meaning_every_send_says_how_to_write_it(workdir):
    """`schedule: ""` or `every send` (to undo the top-level default for one
    subscriber) got the list of forms; `schedule: null` is what does it."""
    head = "schedule: daily at 08:00\n" + BASIC_CONFIG
    for written, said in (('""', "''"), ("every send", "'every send'"),
                          ("no", "false (an unquoted no, off or false)")):
        found = problems(workdir, head.replace("    max_papers: 5\n", f"    max_papers: 5\n    schedule: {written}\n"))
        assert found == [f"config.yaml:20: subscribers[1].schedule: schedule {said}: for a digest at every `send` "
                         "(cron's pace), leave schedule: out, or write schedule: null where the top-level schedule: "
                         "would apply"], found
    config = load_config(write_config(workdir, head.replace("    max_papers: 5\n", "    max_papers: 5\n    schedule: null\n")))
    assert config.subscribers[0].schedule is not None and config.subscribers[1].schedule is None


def test_readme_subscriber_settings_block_loads_as_documented(workdir):
    """README's list of a subscriber's settings is a config that loads (send_empty was documented nowhere)."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    block = re.search(r"### A subscriber's settings\n\n```yaml\n(.*?)```", readme, re.S)[1]
    head = ("sources: [{type: hf-papers-text, path: papers/}]\n"
            "topics: {diffusion: {any: [diffusion]}, optim: {any: [SGD]}}\n")
    sub = load_config(write_config(workdir, head + block)).subscribers[0]
    assert (sub.email, sub.name, sub.topics, str(sub.schedule), sub.timezone, sub.max_papers, sub.pin,
            sub.send_empty) == ("ada@uni.edu", "Ada Lovelace", ["diffusion", "optim"], "daily at 08:00",
                                "Europe/Berlin", 20, ["Ada Lovelace"], False)


def test_a_title_with_a_colon_unquoted_says_to_quote_it(workdir):
    """`like: [DPO-Shift: Shifting ...]`: YAML reads the title as a key and its
    value, and the message was 'expected a valid string, got a mapping'."""
    text = BASIC_CONFIG.replace('    any: ["SGD", "stochastic gradient", "optimi*"]\n',
                                '    any: ["SGD", "stochastic gradient", "optimi*"]\n'
                                '    like: [DPO-Shift: Shifting the Distribution]\n')
    assert problems(workdir, text) == [
        "config.yaml:11: topics.optim.like[0]: expected text, got 'DPO-Shift: Shifting the Distribution' read as a "
        "key and its value (YAML takes ': ' so): put it in quotes, \"DPO-Shift: Shifting the Distribution\""]


def test_a_schedule_naming_its_time_zone_says_the_zone_goes_apart(workdir):
    """'daily at 08:00 CET' was told "did you mean 'daily at 08:00'?", which
    then ran at 08:00 in the subscriber's default zone, nothing said."""
    for written, zone in (("daily at 08:00 Europe/Berlin", "timezone: Europe/Berlin"),
                          ("weekly on monday at 09:00 PST", "the zone under timezone: (unknown time zone 'PST'")):
        found = problems(workdir, BASIC_CONFIG.replace("    max_papers: 5\n", f"    max_papers: 5\n    schedule: {written}\n"))
        assert len(found) == 1 and found[0].startswith(
            f"config.yaml:18: subscribers[1].schedule: schedule {written!r} names a time zone, which goes apart: "
            f"write schedule: '{written.rsplit(' ', 1)[0]}' and {zone}"), found


@pytest.mark.parametrize("copied", [
    "arXiv:2406.04876 [cs.LG]",  # as a listing or a reference list writes it
    "arXiv:2406.04876v2 [stat.ML]",
    "https://arxiv.org/abs/2406.04876?context=cs.LG",  # from an abstract page's browse links
    "https://arxiv.org/html/2406.04876v1#S3",  # a section of the HTML version
    "https://browse.arxiv.org/abs/2406.04876",
])
def test_a_like_copied_with_what_follows_the_id_names_the_paper(copied):
    """Each was 'matches no known paper (an arXiv id or the title ...)'."""
    from newsletter.config import liked_reference
    from newsletter.models import arxiv_base_id

    assert arxiv_base_id(liked_reference(copied)) == "2406.04876"


def test_another_name_for_a_value_says_the_one_meant(workdir):
    """arXiv's API calls the abstract 'summary'; a local MTA is 'sendmail': each got the list of values only."""
    text = BASIC_CONFIG.replace('    any: ["SGD", "stochastic gradient", "optimi*"]\n',
                                '    any: ["SGD", "stochastic gradient", "optimi*"]\n    fields: [summary]\n')
    assert problems(workdir, text + "delivery:\n  transport: sendmail\n") == [
        "config.yaml:11: topics.optim.fields[0]: expected 'title', 'abstract', 'authors' or 'categories', got "
        "'summary' (did you mean 'abstract'?)",
        "config.yaml:20: delivery.transport: expected 'outbox' or 'smtp', got 'sendmail' (did you mean 'smtp'? a "
        "local sendmail, Postfix or Exim takes mail by SMTP: host: localhost, port: 25, security: none)",
    ]


def test_several_addresses_in_one_say_so(workdir, cli):
    """'a@x.org, b@x.org' was 'not a valid address' (or 'it holds a space')."""
    from newsletter.config import check_address

    for listed in ("a@uni.edu,b@uni.edu", "a@uni.edu; b@uni.edu", "a@uni.edu b@uni.edu"):
        with pytest.raises(ValueError) as info:
            check_address(listed)
        assert str(info.value) == (f"{listed!r} is several addresses: give each subscriber its own email: "
                                   "(an entry of its own)")
    write_config(workdir, BASIC_CONFIG)
    r = cli("test-email", "--to", "a@uni.edu, b@uni.edu")
    assert r.code == 2 and r.err.strip() == "--to: 'a@uni.edu, b@uni.edu' is several addresses: give one address at a time"


@pytest.mark.parametrize(("written", "said"), [
    # an address alone, as a reader lists its feeds: the hint read 'expected a mapping' and stopped
    ("sources:\n  - https://arxiv.org/list/cs.LG/new\n",
     "config.yaml:2: sources[0]: expected a mapping, got 'https://arxiv.org/list/cs.LG/new': a source is its "
     "settings, its type first: write {type: arxiv, feed: rss, categories: [cs.LG]}"),
    ("sources:\n  - https://huggingface.co/papers\n",
     "config.yaml:2: sources[0]: expected a mapping, got 'https://huggingface.co/papers': a source is its settings, "
     "its type first: write {type: hf-daily}"),
    ("sources:\n  - https://blog.example.org/feed.xml\n",
     "config.yaml:2: sources[0]: expected a mapping, got 'https://blog.example.org/feed.xml': a source is its "
     "settings, its type first: write {type: feed, url: https://blog.example.org/feed.xml}"),
    ("sources:\n  - arxiv\n",
     "config.yaml:2: sources[0]: expected a mapping, got 'arxiv': a source is its settings, its type first: write "
     "{type: arxiv, categories: [cs.LG]}"),
    ("sources:\n  - papers/hf.json\n",
     "config.yaml:2: sources[0]: expected a mapping, got 'papers/hf.json': a source is its settings, its type "
     "first: write {type: hf-daily, path: papers/hf.json}"),
    # one address for the whole section: the brackets the hint said to add led to the error above
    ("sources: https://rss.arxiv.org/rss/cs.LG+stat.ML\n",
     "config.yaml:1: sources: expected a list of sources, got the text 'https://rss.arxiv.org/rss/cs.LG+stat.ML': "
     "each source is its settings, [{type: arxiv, feed: rss, categories: [cs.LG, stat.ML]}]"),
    ("sources: cs.LG, stat.ML\n",
     "config.yaml:1: sources: expected a list of sources, got the text 'cs.LG, stat.ML': each source is its "
     "settings, [{type: arxiv, categories: [cs.LG, stat.ML]}]"),
    # the type written as the key: 'type: required key is missing; valid types: ...'
    ("sources:\n  - feed: https://blog.example.org/feed.xml\n",
     "config.yaml:2: sources[0].type: required key is missing: write {type: feed, url: https://blog.example.org/feed.xml}"),
    ("sources:\n  - arxiv: cs.LG, stat.ML\n",
     "config.yaml:2: sources[0].type: required key is missing: write {type: arxiv, categories: [cs.LG, stat.ML]}"),
    ("sources:\n  - hf-papers-text: papers/\n",
     "config.yaml:2: sources[0].type: required key is missing: write {type: hf-papers-text, path: papers/}"),
    ("sources:\n  - url: https://blog.example.org/feed.xml\n    name: blog\n",
     "config.yaml:2: sources[0].type: required key is missing: add `type: feed`"),
    # a listing page's address as an arxiv source's url: 'needs query and/or categories' and no more
    ("sources:\n  - type: arxiv\n    url: https://arxiv.org/list/cs.LG/new\n",
     "config.yaml:2: sources[0]: url: 'https://arxiv.org/list/cs.LG/new' is arXiv's listing page, not a search: "
     "leave url: out and write feed: rss, categories: [cs.LG]"),
    # the feed's address as a feed reader shows it: 'needs query and/or categories (url: only replaces the API's address)'
    ("sources:\n  - type: arxiv\n    url: https://rss.arxiv.org/rss/cs.LG\n",
     "config.yaml:2: sources[0]: url: 'https://rss.arxiv.org/rss/cs.LG' is arXiv's announcement feed, not a search: "
     "leave url: out and write feed: rss, categories: [cs.LG]"),
    # a web address given to the text export: 'unknown key 'url'; valid keys: name, required, type, path'
    ("sources:\n  - type: hf-papers-text\n    url: https://huggingface.co/papers\n",
     "config.yaml:2: sources[0].path: required key is missing\n"
     "config.yaml:3: sources[0].url: unknown key 'url': hf-papers-text reads a papers page saved as text (path: the "
     "file); Hugging Face's daily papers by address are `type: hf-daily`, with no url: needed"),
])
def test_a_source_written_as_an_address_or_a_word_says_the_entry_to_write(workdir, cli, written, said):
    """A newcomer lists sources as a reader lists feeds (an address a line) or names
    the type as the key; each said only 'expected a mapping' or 'type: required key
    is missing', and `sources: URL` was told to add brackets, which gave the first."""
    rest = "topics:" + textwrap.dedent(BASIC_CONFIG).split("topics:", 1)[1]
    text = written + rest
    write_config(workdir, text)
    r = cli("validate")
    assert r.code == 2 and r.err.strip().replace(str(workdir / "config.yaml"), "config.yaml") == said
    suggested = re.search(r"(\{type: .*\})", said)
    if suggested and "..." not in suggested[1] and "path:" not in suggested[1]:
        # what it says to write is a source that validates
        write_config(workdir, f"sources:\n  - {suggested[1]}\n" + rest)
        assert cli("validate").code == 0


def test_topic_settings_without_a_topic_key_say_to_put_them_under_one(workdir, cli):
    """`topics:` then `about: ...` straight under it (the key of the topic left
    out): each setting was 'expected a mapping', and the subscriber's topic was
    told it had been renamed to 'about', or to write topics: [about]."""
    head = "sources:\n  - type: hf-papers-text\n    path: papers/\n"
    write_config(workdir, head + "topics:\n  name: Diffusion\n  any: [diffusion]\n  like: [\"Reflected Diffusion Models\"]\n"
                 + "subscribers:\n  - email: ada@example.org\n    topics: [diffusion]\n")
    r = cli("validate")
    assert r.code == 2 and r.err.replace(str(workdir / "config.yaml"), "config.yaml").splitlines() == [
        "config.yaml:5: topics.name: 'name' is a topic's setting, written here as a topic: the settings (name, any, "
        "like) go under the topic's key, indented under topics: (`  diffusion:`, then `    name: ...`), and "
        "subscribers follow it by that key, topics: [diffusion]",
        "config.yaml:6: topics.any: 'any' is a topic's setting too, written here as a topic (see topics.name)",
        "config.yaml:7: topics.like: 'like' is a topic's setting too, written here as a topic (see topics.name)",
        "config.yaml:10: subscribers[0].topics[0]: unknown topic 'diffusion' (its settings under topics: are not "
        "under `diffusion:`, see there); defined topics: name, any, like"]
    write_config(workdir, head + "topics:\n  about: >-\n    Diffusion models\n    and score matching.\n"
                 + "subscribers:\n  - email: ada@example.org\n")
    r = cli("validate")
    assert r.code == 2 and r.err.replace(str(workdir / "config.yaml"), "config.yaml").splitlines() == [
        "config.yaml:5: topics.about: 'about' is a topic's setting, written here as a topic: the settings (about) go "
        "under the topic's key, indented under topics: (`  mine:`, then `    about: ...`), and subscribers follow it "
        "by that key, topics: [mine]",
        "config.yaml:9: subscribers[0].topics: required key is missing: write topics: [mine] (the topics it follows, "
        "by their keys under topics:)"]
    # a setting of a topic indented as deep as the topic's key: it goes under the topic above
    write_config(workdir, head + "topics:\n  diffusion:\n    any: [diffusion]\n  none: [medical]\n"
                 + "subscribers:\n  - email: ada@example.org\n    topics: [diffusion]\n")
    r = cli("validate")
    assert r.code == 2 and r.err.replace(str(workdir / "config.yaml"), "config.yaml").splitlines() == [
        "config.yaml:7: topics.none: 'none' is a topic's setting, indented as a topic: indent it under the topic "
        "above, `diffusion:`, as deep as its other settings"]
    # written as it says, it validates
    write_config(workdir, head + "topics:\n  mine:\n    about: >-\n      Diffusion models\n      and score matching.\n"
                 + "subscribers:\n  - email: ada@example.org\n    topics: [mine]\n")
    assert cli("validate").code == 0


@pytest.mark.parametrize(("written", "said"), [
    # bracketed as the hint said ('write it in brackets, [all]'), it was 'unknown topic 'all''
    ("topics: all", "config.yaml:16: subscribers[1].topics: expected a list of topics, got the text 'all': a "
                    "subscriber follows every topic by listing their keys, topics: [diffusion, optim]"),
    ("topics: [all]", "config.yaml:16: subscribers[1].topics[0]: unknown topic 'all' (a subscriber follows every "
                      "topic by listing their keys, topics: [diffusion, optim]); defined topics: diffusion, optim"),
    ('topics: ["*"]', "config.yaml:16: subscribers[1].topics[0]: unknown topic '*' (a subscriber follows every "
                      "topic by listing their keys, topics: [diffusion, optim]); defined topics: diffusion, optim"),
])
def test_a_subscriber_of_all_topics_is_told_to_list_them(workdir, cli, written, said):
    write_config(workdir, BASIC_CONFIG.replace("topics: [optim, diffusion]", written))
    r = cli("validate")
    assert r.code == 2 and r.err.replace(str(workdir / "config.yaml"), "config.yaml").splitlines() == [said]


def test_a_missing_topics_or_sources_section_says_what_to_write(workdir, cli):
    """A digest of one interest, written as `about:` at the top: 'topics: required
    key is missing' and 'subscribers[0].topics: required key is missing' said
    nothing of the form, nor did a config without sources:."""
    write_config(workdir, "sources:\n  - type: hf-papers-text\n    path: papers/\n"
                 "about: Diffusion models and score matching.\nsubscribers:\n  - email: ada@example.org\n")
    r = cli("validate")
    assert r.code == 2 and r.err.replace(str(workdir / "config.yaml"), "config.yaml").splitlines() == [
        "config.yaml:1: topics: required key is missing: the topic's settings at the top (about) go under a key of "
        "your choosing in it (`topics:`, then `  mine:`, then `    about: ...`), which subscribers follow, topics: [mine]",
        "config.yaml:4: about: unknown key 'about' at the top: it is a topic's setting (indent it under the topic's "
        "name in topics:)",
        "config.yaml:6: subscribers[0].topics: required key is missing: write topics: [mine] (the topics it follows, "
        "by their keys under topics:)"]
    write_config(workdir, "subscribers:\n  - email: ada@example.org\n    topics: [mine]\n")
    r = cli("validate")
    assert r.code == 2 and r.err.replace(str(workdir / "config.yaml"), "config.yaml").splitlines() == [
        "config.yaml:1: sources: required key is missing: write at least one source (`sources:`, then `  - type: "
        "arxiv` and `    categories: [cs.LG]`, or for saved files `  - type: hf-papers-text` and `    path: papers/`); "
        "`newsletter init` writes a commented example",
        "config.yaml:1: topics: required key is missing: write at least one topic (`topics:`, then `  mine:`, then "
        "`    about: ` and the interest in a sentence, or `    any: [terms]`); `newsletter init` writes a commented "
        "example"]


@pytest.mark.parametrize(("written", "said"), [
    # the address as the subscriber's key: the hint said to write `- ada@uni.edu:`, still no email:
    ("subscribers:\n  ada@uni.edu:\n    topics: [diffusion]\n",
     "config.yaml:11: subscribers: expected a list, got a mapping keyed by address: each subscriber starts with "
     "'- email: ' (`- email: ada@uni.edu`), its other keys under it, indented as far as email:"),
    # bracketed as the hint said, each address was then 'expected a mapping'
    ("subscribers: ada@uni.edu, bob@uni.edu\n",
     "config.yaml:11: subscribers: expected a list of subscribers, got the text 'ada@uni.edu, bob@uni.edu': each "
     "subscriber is its settings, [{email: ada@uni.edu, topics: [diffusion, optim]}, {email: bob@uni.edu, topics: "
     "[diffusion, optim]}]"),
    # "your own email" written as the section's value, or the readers under it, or the sender under delivery:
    ("email: ada@uni.edu\nsubscribers:\n  - email: ada@uni.edu\n    topics: [diffusion]\n",
     "config.yaml:11: email: expected a mapping, got 'ada@uni.edu': email: holds the digests' settings; the sender "
     "goes under it, `from: ada@uni.edu` indented on a line under `email:`, and each reader's address under "
     "subscribers:"),
    ("email:\n  to: ada@uni.edu\nsubscribers:\n  - email: ada@uni.edu\n    topics: [diffusion]\n",
     "config.yaml:12: email.to: unknown key 'to': the readers are the subscribers: each `- email: ADDRESS` with its "
     "topics: under subscribers:"),
    ("delivery:\n  transport: outbox\n  from: digest@uni.edu\n"
     "subscribers:\n  - email: ada@uni.edu\n    topics: [diffusion]\n",
     "config.yaml:13: delivery.from: unknown key 'from': it is a setting of the message, under email:, not of the "
     "transport"),
])
def test_addresses_written_where_a_newcomer_puts_them_say_where_they_go(workdir, cli, written, said):
    write_config(workdir, textwrap.dedent(BASIC_CONFIG).split("subscribers:")[0] + written)
    r = cli("validate")
    assert r.code == 2 and r.err.replace(str(workdir / "config.yaml"), "config.yaml").splitlines() == [said]


def test_a_topic_followed_by_its_name_says_its_key(workdir, cli):
    """`topics: [Optimisation]`, the heading the email shows: with another topic
    unfollowed it read 'renamed? ...', else only the defined keys."""
    write_config(workdir, BASIC_CONFIG.replace("topics: [optim, diffusion]", "topics: [Optimisation, diffusion]"))
    r = cli("validate")
    assert r.code == 2 and r.err.replace(str(workdir / "config.yaml"), "config.yaml").splitlines() == [
        "config.yaml:16: subscribers[1].topics[0]: unknown topic 'Optimisation' (it is the name: of topic 'optim'; a "
        "subscriber follows a topic by its key, optim); defined topics: diffusion, optim"]


def test_subscribers_listed_as_addresses_say_how_a_subscriber_is_written(workdir):
    """`subscribers: [- ada@uni.edu]` was 'expected a mapping, got 'ada@uni.edu''."""
    text = BASIC_CONFIG.split("subscribers:")[0] + "subscribers:\n  - ada@uni.edu\n"
    assert problems(workdir, text) == [
        "config.yaml:12: subscribers[0]: expected a mapping, got 'ada@uni.edu': a subscriber is its settings, "
        "{email: ada@uni.edu, topics: [diffusion, optim]} (the topics it follows are required)"]


def test_arxiv_ids_under_about_or_as_a_term_say_they_go_under_like(workdir):
    """Ids pasted under about: ranked by 'https arxiv org' or by nothing, and as
    a term matched no paper's text: each says like: takes them."""
    text = BASIC_CONFIG.replace('    any: ["SGD", "stochastic gradient", "optimi*"]\n',
                                '    any: ["SGD", "2406.04321"]\n    about: "https://arxiv.org/abs/2406.04321, 2405.19876"\n')
    assert problems(workdir, text) == [
        "config.yaml:10: topics.optim.any[1]: term '2406.04321' names a paper by its arXiv id, which no paper's text "
        "holds: a paper you liked goes under the topic's like: [\"2406.04321\"]",
        "config.yaml:11: topics.optim.about: 'about' holds arXiv ids, not words: papers you liked go under like: "
        "[\"2406.04321\", \"2405.19876\"], and about: says the interest in one to a few sentences",
    ]


def test_a_username_without_password_env_says_how_the_password_is_given(workdir):
    """It said only that password_env was not set, not what it holds or how the password is given."""
    found = problems(workdir, BASIC_CONFIG + "delivery:\n  transport: smtp\n  host: smtp.gmail.com\n  username: me\n")
    assert found == ["config.yaml:18: delivery: 'username' is set but 'password_env' is not: add password_env: "
                     "SMTP_PASSWORD (the NAME of an environment variable), and give the password there: "
                     "SMTP_PASSWORD='...' newsletter send"], found


def test_a_category_as_a_keyword_term_says_it_goes_under_categories(workdir):
    """`any: [cs.LG]` (an alert's subscription pasted as keywords) looked for the text 'cs.LG'."""
    text = BASIC_CONFIG.replace('["SGD", "stochastic gradient", "optimi*"]', '["SGD", "cs.lg"]')
    assert problems(workdir, text) == [
        "config.yaml:10: topics.optim.any[1]: term 'cs.lg' is an arXiv category, which a term looks for in titles "
        "and abstracts: write it under the topic's categories: [cs.LG]"]
    with_fields = text.replace('["SGD", "cs.lg"]', '["SGD", "cs.lg"]\n    fields: [title, categories]')
    assert load_config(write_config(workdir, with_fields)).topics["optim"].any == ["SGD", "cs.lg"]  # as meant there


def test_a_category_arxiv_does_not_have_as_a_term_under_fields_categories_is_named_with_the_valid_ones(workdir):
    """Under `fields: [categories]` a term is a category, and one arXiv does
    not have (`cs.DLL`, `cs.ML`) matched no paper without a word, where the
    topic's own `categories:` says what was meant.  Text that is no
    category's spelling (`stochastic gradient`) is passed over."""
    text = BASIC_CONFIG.replace('["SGD", "stochastic gradient", "optimi*"]',
                                '["stochastic gradient", "cs.DLL", "cs.ML", "astro-ph.XX", "cs.DL"]\n'
                                '    fields: [title, categories]')
    assert problems(workdir, text) == [
        "config.yaml:10: topics.optim.any[1]: term 'cs.DLL' is not an arXiv category (did you mean 'cs.DL'?): under "
        "fields: [categories] it matches no paper",
        "config.yaml:10: topics.optim.any[2]: term 'cs.ML' is not an arXiv category (machine learning is 'cs.LG', or "
        "'stat.ML'; arXiv has no cs.ML): under fields: [categories] it matches no paper",
        "config.yaml:10: topics.optim.any[3]: term 'astro-ph.XX' is not an arXiv category (did you mean 'astro-ph'?): "
        "under fields: [categories] it matches no paper"]


def test_fields_on_a_topic_without_terms_is_named(workdir):
    """`fields: [title]` beside about: alone did nothing (the ranking reads title
    and abstract), as min_score beside terms alone does nothing: both are named."""
    text = BASIC_CONFIG.replace('    any: ["SGD", "stochastic gradient", "optimi*"]\n',
                                '    about: Stochastic gradient methods and their convergence.\n    fields: [title]\n')
    assert problems(workdir, text) == [
        "config.yaml:11: topics.optim.fields: has no effect without terms (any:, all: or none:): it says where they "
        "are looked for, and about:/like: rank by title and abstract; remove fields:"]


def test_a_topic_name_of_spaces_is_no_name(workdir):
    """name: '   ' gave the subject '2 new papers: diff, ' and an empty heading; '' showed the key."""
    text = BASIC_CONFIG.replace("    name: Optimisation\n", '    name: "  \\u200b "\n').replace(
        "    name: Diffusion models\n", "    name: ' Diffusion models '\n")
    config = load_config(write_config(workdir, text))
    assert config.topic_name("optim") == "optim" and config.topic_name("diffusion") == "Diffusion models"


def test_the_readme_csv_import_reads_excel_exports(tmp_path, cli):
    """README's CSV snippet, run as written on what Excel saves as "CSV UTF-8":
    a byte-order mark, CRLF, and in many locales `;` between the columns
    (it stopped with KeyError: 'email'); names with commas, quotes, accents."""
    import subprocess
    import sys

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    script = re.search(r"python3 - members\.csv >> config\.yaml <<'EOF'\n(.*?)\nEOF\n", readme, re.S)[1]
    papers = tmp_path / "papers"
    papers.mkdir()
    shutil.copy(Path(__file__).parent / "data" / "hf-papers-blank-lines.txt", papers)
    head = ("sources:\n  - {type: hf-papers-text, path: papers/}\ntopics:\n  d: {name: D, any: [diffusion]}\n"
            "x-member: &member {topics: [d], max_papers: 5}\nsubscribers:\n")
    rows = {",": 'email,name\r\n ana@uni.edu ,"O\'Brien, Ana"\r\nbo@uni.edu,"Bö ""the"" Builder"\r\ncy@uni.edu,\r\n',
            ";": 'email;name\r\nana@uni.edu;"O\'Brien, Ana"\r\nbo@uni.edu;"Bö ""the"" Builder"\r\ncy@uni.edu;\r\n',
            # cells copied from a spreadsheet and pasted into a file: tabs, the header as the sheet spells it
            # (it stopped with KeyError: 'email'), a trailing space, rows left blank in the sheet
            "\t": 'E-mail\tName \nana@uni.edu \tO\'Brien, Ana\nbo@uni.edu\t"Bö ""the"" Builder"\n\t\ncy@uni.edu\t\n'}
    for rows_text in rows.values():
        (tmp_path / "members.csv").write_bytes(codecs.BOM_UTF8 + rows_text.encode("utf-8"))
        run = subprocess.run([sys.executable, "-", "members.csv"], input=script, cwd=tmp_path, capture_output=True,
                             text=True, check=True)
        assert run.stderr == ""
        (tmp_path / "config.yaml").write_text(head + run.stdout, encoding="utf-8")
        config = load_config(tmp_path / "config.yaml")
        assert [(s.email, s.name) for s in config.subscribers] == [
            ("ana@uni.edu", "O'Brien, Ana"), ("bo@uni.edu", 'Bö "the" Builder'), ("cy@uni.edu", None)]
        assert cli("validate").code == 0
    # a name without its address is said at its line; a paste without the header line is refused, appending nothing
    for rows_text, code, said in (("email,name\nana@uni.edu,Ana\n,Bob Nobody\n", 0,
                                   "members.csv:3: Bob Nobody has no address: left out\n"),
                                  ("ana@uni.edu\tAna\n", 2, "members.csv:1: no email column in 'ana@uni.edu\\tAna': "
                                   "the first line names the columns, email and name\n")):
        (tmp_path / "members.csv").write_text(rows_text, encoding="utf-8")
        run = subprocess.run([sys.executable, "-", "members.csv"], input=script, cwd=tmp_path, capture_output=True,
                             text=True)
        assert (run.returncode, run.stderr) == (code, said)
        assert run.stdout == ("  - {email: \"ana@uni.edu\", name: \"Ana\", <<: *member}\n" if code == 0 else "")


def test_accents_written_as_separate_marks_match_the_papers(workdir, cli):
    """A term copied from a Mac ("o" followed by a combining umlaut) matched
    no paper's "ö": a topic that found nothing, and nothing said why."""
    import unicodedata

    found = {}
    for form in ("NFC", "NFD"):
        term = unicodedata.normalize(form, "Schrödinger bridge*")
        write_config(workdir, BASIC_CONFIG.replace('any: ["diffusion model*", "score-based"]', f'any: ["{term}"]'))
        r = cli("match", "--json", "--subscriber", "ada@example.org")
        assert r.code == 0, r.err
        found[form] = [p["title"] for p in json.loads(r.out)["subscribers"][0]["papers"]]
    assert found["NFD"] == found["NFC"] and any("Schrödinger" in t for t in found["NFC"]), found


def test_templates_naming_a_template_file_says_to_name_its_folder(workdir, cli):
    """`templates: mytpl/digest.html` said "no such folder" of a file that is there."""
    (workdir / "mytpl").mkdir()
    (workdir / "mytpl" / "digest.html").write_text("<p>{{ count }}</p>\n")
    write_config(workdir, BASIC_CONFIG + "templates: mytpl/digest.html\n")
    r = cli("validate")
    assert r.code == 2 and r.err.strip() == (
        "config.yaml:18: templates: 'mytpl/digest.html' is a file: templates: names the folder holding "
        "digest.html, digest.txt, style.css (templates: mytpl)"), r.err


@pytest.mark.parametrize("written, number, meant", [("8:00", 480, "08:00"), ("20:30", 1230, "20:30"), ("7", 7, "07:00")])
def test_a_schedule_yaml_reads_as_a_number_says_which_schedule_was_meant(workdir, cli, written, number, meant):
    """`schedule: 8:00` unquoted is the number 480 to YAML 1.1 (base 60): the
    line said only "expected a schedule string, got 480", a number nobody wrote."""
    write_config(workdir, f"schedule: {written}\n" + BASIC_CONFIG)
    result = cli("validate")
    assert result.code == 2 and "Traceback" not in result.err
    why = f": YAML reads an unquoted {written} as minutes in base 60" if ":" in written else ""
    assert result.err.splitlines() == [
        f"config.yaml:1: schedule: expected a schedule string, got the number {number}{why}; "
        f"did you mean schedule: 'daily at {meant}'?"], result.err
    write_config(workdir, f"schedule: daily at {meant}\n" + BASIC_CONFIG)
    assert cli("validate").code == 0


def test_a_setting_left_empty_says_to_write_a_value_and_whether_it_may_go(workdir, cli):
    """The starter's example deleted and nothing written (`email:`): pydantic's
    "expected a valid string, got null" did not say the value was missing."""
    write_config(workdir, BASIC_CONFIG.replace("  - email: ada@example.org\n", "  - email:\n")
                 .replace("    max_papers: 5\n", "    max_papers:\n")
                 .replace("  - type: hf-papers-text\n", "  - type:\n"))
    result = cli("validate")
    assert result.code == 2 and "Traceback" not in result.err
    assert result.err.splitlines() == [
        "config.yaml:2: sources[0].type: has no value (nothing after `type:`): write one of hf-papers-text, arxiv, "
        "hf-daily, feed",
        "config.yaml:12: subscribers[0].email: has no value (nothing after `email:`): write one (email: you@uni.edu)",
        "config.yaml:17: subscribers[1].max_papers: has no value (nothing after `max_papers:`): write one "
        "(max_papers: 20), or remove the line for the default",
    ], result.err


def test_subscribers_or_sources_written_without_the_dash_say_each_entry_starts_with_one(workdir, cli):
    """`subscribers:` then `email: ...` indented under it (the '- ' left out):
    "expected a valid list, got a mapping" did not say what was missing."""
    write_config(workdir, BASIC_CONFIG.replace("  - type: hf-papers-text\n    path: papers/\n",
                                               "  type: hf-papers-text\n  path: papers/\n")
                 .split("subscribers:")[0] + "subscribers:\n  email: ada@example.org\n  topics: [diffusion]\n")
    result = cli("validate")
    assert result.code == 2 and "Traceback" not in result.err
    assert result.err.splitlines() == [
        "config.yaml:1: sources: expected a list, got a mapping: each source starts with '- ' "
        "(`- type: hf-papers-text`), its other keys under it, indented as far as type:",
        "config.yaml:11: subscribers: expected a list, got a mapping: each subscriber starts with '- ' "
        "(`- email: ada@example.org`), its other keys under it, indented as far as email:",
    ], result.err


def test_topics_each_written_after_a_dash_say_to_remove_it_and_nothing_else(workdir, cli):
    """`- diffusion:` under topics: (as subscribers are written) was told to
    key its topics with an `rl:` it never wrote, and each subscriber's topic
    was then 'unknown ...; defined topics: none' on lines of their own."""
    write_config(workdir, BASIC_CONFIG.replace("  diffusion:\n", "  - diffusion:\n").replace("  optim:\n", "  - optim:\n"))
    result = cli("validate")
    assert result.code == 2 and "Traceback" not in result.err
    assert result.err.splitlines() == [
        "config.yaml:4: topics: expected a mapping, got a list: remove the '- ' before each topic's key "
        "(`diffusion:` under topics:, its settings indented under it)"], result.err


def test_a_subscriber_without_topics_or_email_is_told_what_to_write(workdir, cli):
    """A subscriber with no topics: (a topic nobody follows then) or no email:
    got "required key is missing", leaving the form and the names to find."""
    write_config(workdir, BASIC_CONFIG.replace("    topics: [diffusion]\n", "")
                 .replace("  - email: bob@example.org\n    topics: [optim, diffusion]\n", "  - topics: [optim]\n"))
    result = cli("validate")
    assert result.code == 2 and "Traceback" not in result.err
    assert result.err.splitlines() == [
        "config.yaml:12: subscribers[0].topics: required key is missing: write topics: [diffusion, optim] "
        "(the topics it follows, by their keys under topics:)",
        "config.yaml:14: subscribers[1].email: required key is missing: write email: you@uni.edu",
    ], result.err


def test_validate_names_unset_secrets_with_the_configs_other_problems(workdir, cli):
    """The SMTP password's and the signing key's variables were checked only
    once the config loaded: a typo elsewhere hid them, and the next run of
    `validate` brought them up one at a time (http:// base_url, then the key)."""
    write_config(workdir, BASIC_CONFIG.replace("    max_papers: 5\n", "    maxpapers: 5\n") + (
        "delivery:\n  transport: smtp\n  host: 127.0.0.1\n  username: ada\n  password_env: NU13_SMTP_PASSWORD\n"
        "web:\n  base_url: http://digest.uni.edu\n  secret_env: NU13_SECRET\n"))
    result = cli("validate")
    assert result.code == 2 and "Traceback" not in result.err
    assert [line.split(": ", 2)[:2] for line in result.err.splitlines()] == [
        ["config.yaml:17", "subscribers[1].maxpapers"],
        ["config.yaml:22", "delivery.password_env"],
        ["config.yaml:24", "web.base_url"],
        ["config.yaml:25", "web.secret_env"],
    ], result.err
    assert ("config.yaml:22: delivery.password_env: environment variable NU13_SMTP_PASSWORD is not set (it must hold "
            "the SMTP password for ada)") in result.err
    assert "config.yaml:25: web.secret_env: environment variable NU13_SECRET is not set (it must hold the key" in result.err
    secrets = {"NU13_SMTP_PASSWORD": "pw", "NU13_SECRET": "k" * 32}
    assert [line.split(": ", 2)[1] for line in cli("validate", env=secrets).err.splitlines()] == [
        "subscribers[1].maxpapers", "web.base_url"]


@pytest.mark.parametrize(("written", "schema"), [
    ("0", "expected greater than or equal to 1, got 0"),
    ("-1", "expected greater than or equal to 1, got -1"),
    ("all", "expected a valid integer, got 'all'"),
    ("unlimited", "expected a valid integer, got 'unlimited'"),
])
def test_max_papers_written_as_no_limit_says_the_most_and_how_to_pause(workdir, cli, written, schema):
    """`max_papers: 0` (no limit, as many tools read it) got "expected greater
    than or equal to 1, got 0", and `all` "expected a valid integer": the
    schema's message stays, and says what to write."""
    write_config(workdir, BASIC_CONFIG.replace("    max_papers: 5\n", f"    max_papers: {written}\n"))
    result = cli("validate")
    assert result.code == 2 and "Traceback" not in result.err
    assert result.err.splitlines() == [
        f"config.yaml:17: subscribers[1].max_papers: {schema}: for every paper its "
        "topics take, write max_papers: 1000, the most; to send this subscriber nothing for a while, "
        "`newsletter unsubscribe EMAIL`"], result.err


def test_max_papers_is_checked_by_the_schema_alone():
    """`max_papers` had a before-validator only to reword the schema's error;
    the wording now comes where every pydantic error is worded, so the model
    checks the number as its Field says and nothing more."""
    from newsletter.config import Subscriber

    assert not any("max_papers" in getattr(d.info, "fields", ()) for d in
                   Subscriber.__pydantic_decorators__.field_validators.values())
    assert Subscriber(email="a@uni.edu", topics=["t"], max_papers=1000).max_papers == 1000


def test_a_topic_crowded_out_of_one_place_says_it_in_the_singular(workdir, cli):
    """'its 1 places (max_papers) go to ...' for a subscriber of max_papers: 1."""
    write_config(workdir, BASIC_CONFIG.replace("    max_papers: 5\n", "    max_papers: 1\n").replace(
        '    any: ["SGD", "stochastic gradient", "optimi*"]\n',
        "    about: Stochastic optimization for training deep networks, SGD, Adam and learning rate schedules.\n"))
    result = cli("validate")
    assert result.code == 0, result.err
    assert ("none of them is in bob@example.org's digest: its 1 place (max_papers) goes to its other topics' papers"
            in result.err), result.err


_ABOUT = "    name: Optimisation\n"


@pytest.mark.parametrize("written, expected", [
    # the block's lines not indented under it: the hint said to put a ':' into the text
    ("    about: >-\n    Optimizers for deep learning, Adam and SGD,\n    learning rates and schedules.\n",
     "config.yaml:11: malformed YAML: while scanning a simple key could not find expected ':'; the text of "
     "'about: >-' goes on the lines below it, indented deeper than 'about:' (6 spaces here)"),
    # a plain text over several lines whose first holds ': ' (no hint at all)
    ("    about:\n      Optimizers for deep learning: Adam and SGD,\n      learning rates and schedules.\n",
     "config.yaml:11: malformed YAML: while scanning a simple key could not find expected ':'; the text under "
     "'about:' holds ': ' ('Optimizers for deep learning: ...'), which YAML reads as a key: write 'about: >-' so "
     "the lines below it are read as text"),
    # a sentence begun on about:'s line and going on under its 'a' (the hint said to put a ':' into the text)
    ("    about: I want optimizers for deep learning\n    and learning rate schedules.\n",
     "config.yaml:11: malformed YAML: while scanning a simple key could not find expected ':'; the text of 'about:' "
     "goes on here, which YAML reads as a new key: indent its lines deeper than 'about:' (6 spaces here), or write "
     "'about: >-' and the whole text on the lines below it"),
    ("    about:\n    Optimizers for deep learning and learning rate schedules.\n",
     "config.yaml:11: malformed YAML: while scanning a simple key could not find expected ':'; the text of 'about:' "
     "goes on here, which YAML reads as a new key: indent its lines deeper than 'about:' (6 spaces here), or write "
     "'about: >-' and the whole text on the lines below it"),
    # a setting's colon left out on the line after about: is still that
    ("    about: Optimizers for deep learning.\n    any SGD\n",
     "config.yaml:11: malformed YAML: while scanning a simple key could not find expected ':'; a key and its value "
     "need a ':' between them ('any: SGD')"),
    # a quote inside its own kind of quotes (no hint at all)
    ("    about: 'I'm after optimizers for deep learning'\n",
     "config.yaml:10: malformed YAML: while parsing a block mapping did not find expected key; the value between "
     "quotes holds a single quote of its own, where YAML ends it: write about: 'I''m after optimizers for deep "
     "learning' (in single quotes, a ' inside is written twice)"),
    ('    about: "The "best" optimizers"\n',
     "config.yaml:10: malformed YAML: while parsing a block mapping did not find expected key; the value between "
     "quotes holds a double quote of its own, where YAML ends it: write about: 'The \"best\" optimizers'"),
    ('    about: "Adam" and other optimizers\n',
     "config.yaml:10: malformed YAML: while parsing a block mapping did not find expected key; the value starts "
     "with a double quote, where YAML takes the quoted part for the whole value: write about: '\"Adam\" and other "
     "optimizers'"),
    ('    none: "medical", "protein"\n',
     "config.yaml:10: malformed YAML: while parsing a block mapping did not find expected key; several values are "
     'a list, written in brackets: none: ["medical", "protein"]'),
])
def test_yaml_slips_in_a_text_say_how_to_write_it(workdir, cli, written, expected):
    write_config(workdir, _basic(_ABOUT, _ABOUT + written))
    result = cli("validate")
    assert result.code == 2 and "Traceback" not in result.err
    assert result.err.splitlines() == [expected], result.err


def test_a_list_item_without_its_closing_quote_is_named(workdir, cli):
    """`any: ["diffusion model*, "score-based"]` said only "did not find expected ',' or ']'"."""
    write_config(workdir, _basic('    any: ["diffusion model*", "score-based"]', '    any: ["diffusion model*, "score-based"]'))
    result = cli("validate")
    assert result.code == 2 and "Traceback" not in result.err
    assert result.err.splitlines() == [
        "config.yaml:7: malformed YAML: while parsing a flow sequence did not find expected ',' or ']'; an item's "
        "quote is not closed in this [...] list (the line has an odd number of \"): each item is quoted on its own, "
        '["a b", "c"]'], result.err


def test_a_section_written_twice_says_to_keep_one(workdir, cli):
    """The starter's commented SMTP block uncommented beside the outbox block
    it was to replace: "duplicate key 'delivery' (first at line 20)" alone;
    a second topics: section meant more topics, and YAML kept the last only."""
    write_config(workdir, BASIC_CONFIG + "delivery:\n  transport: outbox\n  path: outbox\n"
                 "delivery:\n  transport: smtp\n  host: 127.0.0.1\n  security: none\n"
                 "topics:\n  extra:\n    any: [x]\n")
    result = cli("validate")
    assert result.code == 2 and "Traceback" not in result.err
    assert [line for line in result.err.splitlines() if "duplicate" in line] == [
        "config.yaml:21: duplicate key 'delivery' (first at line 18): the config holds one delivery: section; "
        "delete or comment out the one not meant",
        "config.yaml:25: duplicate key 'topics' (first at line 4): the config holds one topics: section; move these "
        "entries under the first (YAML keeps the last only)"], result.err


def test_an_unsubscribe_address_alone_is_told_the_mailto_form(workdir, cli):
    """`unsubscribe: digest@uni.edu` (where requests go) said only that it
    must be a mailto: address, leaving the form to look up."""
    write_config(workdir, BASIC_CONFIG + "email:\n  unsubscribe: digest@uni.edu\n")
    result = cli("validate")
    assert result.code == 2 and "Traceback" not in result.err
    assert result.err.splitlines() == [
        "config.yaml:19: email.unsubscribe: 'digest@uni.edu' must be a mailto: address or an https:// URL (for "
        "requests by mail: mailto:digest@uni.edu?subject=unsubscribe)"], result.err
    write_config(workdir, BASIC_CONFIG + "email:\n  unsubscribe: mailto:digest@uni.edu?subject=unsubscribe\n")
    assert cli("validate").code == 0


def test_a_missing_file_named_from_another_folder_says_where_it_was_looked_for(workdir):
    """`--config ~/digest/config.yaml` run elsewhere, the file in neither
    folder: "'day.txt' matches no file" did not say which folder was read."""
    from conftest import run_newsletter

    folder = workdir / "digest"
    (folder / "papers").mkdir(parents=True)
    write_config(folder, BASIC_CONFIG.replace("    path: papers/\n", "    path: papers/day.txt\n"))
    result = run_newsletter("validate", "--config", "digest", cwd=workdir)
    assert result.code == 2 and "Traceback" not in result.err
    assert result.err.strip() == (
        f"digest/config.yaml:3: sources[0].path: 'papers/day.txt' matches no file (looked for in the config's folder, "
        f"{str(folder)!r}: paths are relative to it)"), result.err
    same = run_newsletter("validate", "--config", "config.yaml", cwd=folder)  # run beside it: said as before
    assert same.err.strip() == "config.yaml:3: sources[0].path: 'papers/day.txt' matches no file", same.err


@pytest.mark.parametrize("old, new, said", [
    ('    any: ["SGD"', '    keywords: ["SGD"', "config.yaml:10: topics.optim.keywords: unknown key 'keywords': the "
     "setting is called any: here"),
    ("    name: Optimisation\n", "    name: Optimisation\n    exclude: [medical]\n", "config.yaml:10: "
     "topics.optim.exclude: unknown key 'exclude': the setting is called none: here"),
    ("    max_papers: 5\n", "    limit: 5\n", "config.yaml:17: subscribers[1].limit: unknown key 'limit': the setting "
     "is called max_papers: here"),
])
def test_another_tools_word_for_a_setting_is_told_ours(workdir, cli, old, new, said):
    """`keywords:`, `exclude:`, `limit:` (a search tool's, a mailing list's
    words) got the list of valid keys, with no pointer to the one meant."""
    write_config(workdir, _basic(old, new))
    result = cli("validate")
    assert result.code == 2 and "Traceback" not in result.err
    assert said in result.err.splitlines(), result.err


@pytest.mark.parametrize("saved", ["config.yaml.txt", "Config.yaml", "config"])
def test_a_config_saved_under_an_editors_name_is_named_with_the_rename(workdir, cli, saved):
    """Notepad's or TextEdit's `config.yaml.txt`, a capital, a name without
    its extension: "config file not found" beside the file."""
    write_config(workdir, BASIC_CONFIG, name=saved)
    result = cli("validate")
    assert result.code == 2 and "Traceback" not in result.err
    assert result.err.splitlines() == [
        f"config.yaml: config file not found ({saved} is there: rename it to config.yaml (an editor's extension or "
        f"case), or --config {saved})"], result.err
    (workdir / saved).rename(workdir / "config.yaml")
    assert cli("validate").code == 0


@pytest.mark.parametrize("typed", ["confg.yaml", "conifg.yaml", "lab-digst.yaml"])
def test_a_mistyped_config_name_is_told_the_file_beside_it(workdir, cli, typed):
    """`--config confg.yaml` said "config file not found (relative to the
    current folder, ...)", and the user read the listing to find the typo.
    The default name is never guessed at (cron's home folder with a
    `configs.yaml` of something else is no typo)."""
    write_config(workdir, BASIC_CONFIG, name="lab-digest.yaml" if typed.startswith("lab") else "config.yaml")
    meant = "lab-digest.yaml" if typed.startswith("lab") else "config.yaml"
    result = cli("--config", typed, "validate")
    assert result.code == 2 and result.err.splitlines() == [
        f"{typed}: config file not found (did you mean {meant!r}? --config {meant})"], result.err
    assert cli("--config", meant, "validate").code == 0
    (workdir / meant).rename(workdir / "configs.yaml")
    result = cli("validate")
    assert result.code == 2 and "did you mean" not in result.err and "relative to the current folder" in result.err


_MEMBER = "    max_papers: 5\n"


@pytest.mark.parametrize("head, tail, said", [
    ("", "", "config.yaml:17: malformed YAML: found undefined alias; no anchor &member is defined above: write one "
     "before this line, e.g. at the top `x-member: &member {max_papers: 10}` (README \"Many subscribers\")"),
    ("", "x-member: &member {max_papers: 10}\n", "config.yaml:17: malformed YAML: found undefined alias; the anchor "
     "&member is defined only below, at line 18: an anchor comes before its aliases, so move it up (top-level `x-` "
     "keys are there for that)"),
    ("member: &member {max_papers: 10}\n", "", "config.yaml:1: member: unknown key 'member': keys of your own at the "
     "top (a home for anchors) start with x-: write x-member"),
    # the key written, its anchor left out: it was told to write `x-member: &member` as if nothing were there
    ("x-member: {max_papers: 10}\n", "", "config.yaml:19: malformed YAML: found undefined alias; x-member (line 1) is "
     "a key, not an anchor: an alias names an &anchor, so write `x-member: &member ...` there"),
])
def test_an_anchor_missing_late_or_unprefixed_says_what_to_change(workdir, cli, head, tail, said):
    """`<<: *member` with no anchor was told to quote "*member" as text; an
    anchor below its alias got the same; `member: &member` at the top got the
    list of valid keys."""
    write_config(workdir, head + _basic(_MEMBER, "    <<: *member\n") + tail)
    result = cli("validate")
    assert result.code == 2 and "Traceback" not in result.err
    assert result.err.splitlines() == [said], result.err


@pytest.mark.parametrize("merged, line", [
    ("  - {email: eve@example.org, *member}\n", 20),
    ("  - email: eve@example.org\n    *member\n", 21),
])
def test_an_alias_written_where_a_key_goes_says_to_merge_it(workdir, cli, merged, line):
    """`{email: ..., *member}` (the `<<: ` of a merge left out) said "while
    constructing a mapping found unhashable key" at the anchor's line."""
    write_config(workdir, "x-member: &member {topics: [optim]}\n" + _basic("", "") + merged)
    result = cli("validate")
    assert result.code == 2 and "Traceback" not in result.err
    (said,) = result.err.splitlines()
    assert said.startswith(f"config.yaml:{line}: malformed YAML: "), said
    assert said.endswith("; *member stands where a key goes: to take the keys of the anchor &member, write <<: *member")


def test_a_list_of_addresses_in_one_subscriber_says_one_entry_each(workdir, cli):
    """`email: [ada@..., bob@...]` (a group in one entry) got "expected a valid
    string, got a list"; a comma-separated string is named the same way already."""
    write_config(workdir, _basic("  - email: ada@example.org\n", "  - email: [ada@example.org, eve@example.org]\n"))
    result = cli("validate")
    assert result.code == 2 and "Traceback" not in result.err
    assert result.err.splitlines() == [
        "config.yaml:12: subscribers[0].email: expected one address, got a list: give each address a subscriber "
        "entry of its own (their shared settings once, in an `x-` anchor: README \"Many subscribers\")"], result.err


def test_the_last_topic_left_at_the_left_edge_says_to_indent_it(workdir, cli):
    """One topic one indent short after others under `topics:` (the last of the
    section, as a newcomer adds one): it was "unknown key 'optim'; valid keys:
    sources, topics, ..." and "unknown topic 'optim'; defined topics:
    diffusion", neither naming the indent that was missing."""
    write_config(workdir, BASIC_CONFIG.replace("  optim:\n    name: Optimisation\n", "optim:\n    name: Optimisation\n"))
    result = cli("validate")
    assert result.code == 2 and "Traceback" not in result.err
    assert result.err.splitlines() == [
        "config.yaml:8: optim: unknown key 'optim': a topic at the left edge, outside topics: (which holds "
        "diffusion): indent it as the topics before it (2 spaces), its settings deeper than it",
        "config.yaml:16: subscribers[1].topics[0]: unknown topic 'optim' (it is written at the left edge, outside "
        "topics:, see there); defined topics: diffusion",
    ], result.err


def test_the_hash_cut_values_are_found_only_when_asked(workdir, monkeypatch):
    """parse_config scanned every line for values cut at a '#' on every
    command, send and each reload of run included (12% of parsing a
    50,000-subscriber config with comments); only validate and match say
    them.  The scan runs when they ask, once, and finds the same."""
    import newsletter.config as config_module

    calls = []
    real = config_module._cut_by_comment
    monkeypatch.setattr(config_module, "_cut_by_comment", lambda *a: calls.append(a) or real(*a))
    config = load_config(write_config(workdir, BASIC_CONFIG.replace("    name: Diffusion models\n",
                                                                    "    name: Diffusion models #1\n")))
    assert calls == []
    first = config.cut_by_comment()
    assert len(calls) == 1 and [p.line for p in first] == [6] and "so the name is only 'Diffusion models'" in str(first[0])
    assert config.cut_by_comment() == first and len(calls) == 1
    assert load_config(write_config(workdir, BASIC_CONFIG)).cut_by_comment() == () and len(calls) == 1


def test_a_text_value_a_hash_cuts_short_is_warned_of(workdir, cli):
    """`about: graph networks #GNN #chemistry for molecules`: YAML reads from
    ' #' on as a comment, and the topic ranked on 'graph networks' alone with
    nothing said; so did a subject's `#{{ count }}` vanish.  A comment written
    as one (a space after the '#') is not named."""
    write_config(workdir, BASIC_CONFIG
                 .replace("    name: Diffusion models\n", "    name: Diffusion models #1\n")
                 .replace("    name: Optimisation\n", "    name: Optimisation  # my own words\n")
                 + "email:\n  subject: Paper digest #{{ count }}\n")
    result = cli("validate")
    assert result.code == 0, result.err
    assert result.err.splitlines() == [
        "warning: config.yaml:6: topics.diffusion.name: YAML reads '#1' as a comment (a '#' after a space starts "
        "one), so the name is only 'Diffusion models': put the whole value in quotes to keep the rest (name: "
        "\"Diffusion models #1\")",
        "warning: config.yaml:19: email.subject: YAML reads '#{{ count }}' as a comment (a '#' after a space starts "
        "one), so the subject is only 'Paper digest': put the whole value in quotes to keep the rest (subject: "
        "\"Paper digest #{{ count }}\")",
    ], result.err
    write_config(workdir, BASIC_CONFIG.replace("    any: [\"SGD\"", "    about: gradient methods #SGD #Adam\n    any: [\"SGD\""))
    result = cli("match")
    assert ("warning: config.yaml:10: topics.optim.about: YAML reads '#SGD #Adam' as a comment (a '#' after a space "
            "starts one), so the about is only 'gradient methods': ") in result.err, result.err


@pytest.mark.parametrize("entry, said", [
    ("title: Reflected Diffusion Models", "got 'title: Reflected Diffusion Models': write it without 'title:', "
                                          "- \"Reflected Diffusion Models\""),
    ("arxiv: 2206.00364", "got 'arxiv: 2206.00364': write it without 'arxiv:', - \"2206.00364\""),
    ("URL: https://arxiv.org/abs/2206.00364", "write it without 'URL:', - \"https://arxiv.org/abs/2206.00364\""),
])
def test_a_like_entry_labelled_as_a_forms_field_says_to_write_the_value_alone(workdir, entry, said):
    """`- title: Reflected Diffusion Models` under like: was told to put
    'title: Reflected Diffusion Models' in quotes, a title no paper has."""
    found = problems(workdir, BASIC_CONFIG.replace('    any: ["SGD"', f"    like:\n      - {entry}\n    any: [\"SGD\""))
    assert len(found) == 1 and found[0].startswith("config.yaml:11: topics.optim.like[0]: expected a paper's arXiv "
                                                   "id, link or title, got ") and found[0].endswith(said), found


@pytest.mark.parametrize("entry, said", [
    ("arxiv: 2301.01230", "got 'arxiv: 2301.01230': write it without 'arxiv:', - \"2301.01230\""),
    ("id: 0704.0010", "got 'id: 0704.0010': write it without 'id:', - \"0704.0010\""),
])
def test_a_labelled_arxiv_id_read_as_a_number_is_advised_as_written(workdir, entry, said):
    """`- arxiv: 2301.01230` reaches the check as the number 2301.0123 and
    was advised as "2301.0123", another paper's id."""
    found = problems(workdir, BASIC_CONFIG.replace('    any: ["SGD"', f"    like:\n      - {entry}\n    any: [\"SGD\""))
    assert len(found) == 1 and found[0].endswith(said), found


@pytest.mark.parametrize("like, said", [
    ("[title: Reflected Diffusion Models]", "write it without 'title:', like: [\"Reflected Diffusion Models\"]"),
    ("[2206.00364, title: Reflected Diffusion Models]",
     "write it without 'title:', like: [..., \"Reflected Diffusion Models\", ...]"),
])
def test_a_labelled_like_entry_in_brackets_is_advised_in_brackets(workdir, like, said):
    """`like: [title: X]` was told to write `- "X"`, a block line inside the brackets."""
    found = problems(workdir, BASIC_CONFIG.replace('    any: ["SGD"', f"    like: {like}\n    any: [\"SGD\""))
    assert len(found) == 1 and found[0].startswith("config.yaml:10: topics.optim.like[") and found[0].endswith(said), found


@pytest.mark.parametrize("mark", [">-", "|", ">"])
def test_a_list_written_as_a_block_of_lines_says_one_entry_a_line(workdir, mark):
    """`any: >-` then a term a line: YAML joins the lines into one text, and
    the message said to bracket it whole, ["diffusion model* score-based"]:
    one term of all the words, which validates and matches nearly nothing."""
    found = problems(workdir, BASIC_CONFIG.replace('    any: ["diffusion model*", "score-based"]\n',
                                                   f"    any: {mark}\n      diffusion model*\n\n      score-based\n"))
    assert found == [
        f"config.yaml:7: topics.diffusion.any: expected a list, got the text of a block ('any: {mark}' makes its lines "
        "one text): write each entry on a line of its own after '- ', or in brackets, [\"diffusion model*\", "
        "\"score-based\"]"], found


def test_topics_left_at_the_left_edge_say_to_indent_them_under_topics(workdir, cli):
    """`topics:` then `diffusion:` at column 0: 'topics: expected a mapping,
    got nothing' and each topic an unknown top-level key with the list of keys."""
    write_config(workdir, BASIC_CONFIG.replace("  diffusion:\n    name: Diffusion models\n",
                                               "diffusion:\n  name: Diffusion models\n")
                 .replace('    any: ["diffusion model*"', '  any: ["diffusion model*"')
                 .replace("  optim:\n    name: Optimisation\n    any:", "optim:\n  name: Optimisation\n  any:"))
    result = cli("validate")
    assert result.code == 2 and "Traceback" not in result.err
    assert result.err.splitlines() == [
        "config.yaml:4: topics: is empty: the topics after it (diffusion, optim) are not indented under it; indent "
        "each topic and its settings 2 spaces deeper",
        "config.yaml:5: diffusion: unknown key 'diffusion': a topic not indented under topics: (see there)",
        "config.yaml:8: optim: unknown key 'optim': a topic not indented under topics: (see there)",
    ], result.err


@pytest.mark.parametrize(("written", "read"), [
    ("A* search and Q-learning", "A* search and Q-learning"),
    ("Planning with A* and Q* in C++ code for snake_case APIs", "Planning with A* and Q* in C++ code for snake_case APIs"),
    ("**diffusion** models", "diffusion models"),
    ("*flow* matching, _score_ matching and `consistency models`", "flow matching, score matching and consistency models"),
    ("***latent*** diffusion and __guided__ sampling", "latent diffusion and guided sampling"),
    ("## Interests\n- **diffusion models**\n- score matching", "Interests; diffusion models; score matching"),
])
def test_an_about_loses_markdown_marks_around_words_but_keeps_a_words_own(workdir, written, read):
    """Every star after a letter was taken for Markdown's: "A* search"
    ranked as "A search".  Only marks wrapping words ("**diffusion**",
    "`x`") and a line's heading or bullet marks go."""
    about = "topics:\n  t:\n    about: |\n" + "".join(f"      {line}\n" for line in written.split("\n"))
    sources = "sources: [{type: hf-papers-text, path: papers/}]\n"
    assert load_config(write_config(workdir, sources + about)).topics["t"].about.strip() == read


def test_mailing_list_is_true_or_false_and_a_located_error_otherwise(workdir):
    listed = BASIC_CONFIG.replace("    max_papers: 5\n", "    max_papers: 5\n    mailing_list: true\n")
    config = load_config(write_config(workdir, listed))
    assert [s.mailing_list for s in config.subscribers] == [False, True]
    found = problems(workdir, listed.replace("mailing_list: true", 'mailing_list: "sometimes"'))
    assert found == ["config.yaml:18: subscribers[1].mailing_list: expected true or false, got 'sometimes': write "
                     "mailing_list: true or mailing_list: false"]


@pytest.mark.parametrize("written, said", [
    # "expected a valid boolean, got 'true'" read as a contradiction: the quotes made it text
    ('mailing_list: "true"', "mailing_list: expected true or false, got the text 'true' (in quotes): write it "
                             "without the quotes, mailing_list: true"),
    ("send_empty: 'no'", "send_empty: expected true or false, got the text 'no' (in quotes): write it without the "
                         "quotes, send_empty: false"),
    ("send_empty: 2", "send_empty: expected true or false, got 2: write send_empty: true or send_empty: false"),
    # YAML reads a bare y, n or Y as text: it was said to be "in quotes", where there were none
    ("mailing_list: y", "mailing_list: expected true or false: YAML reads 'y' as text, not as true: write "
                        "mailing_list: true or mailing_list: false"),
    ("send_empty: N", "send_empty: expected true or false: YAML reads 'N' as text, not as false: write "
                      "send_empty: true or send_empty: false"),
    ("send_empty: 'Y'", "send_empty: expected true or false, got the text 'Y' (in quotes): write it without the "
                        "quotes, send_empty: true"),
])
def test_a_true_or_false_setting_given_otherwise_says_what_to_write(workdir, written, said):
    listed = BASIC_CONFIG.replace("    max_papers: 5\n", f"    max_papers: 5\n    {written}\n")
    assert problems(workdir, listed) == [f"config.yaml:18: subscribers[1].{said}"]


# ---------------------------------------------------------------- the config's YAML as read, kept between runs

from newsletter import config as config_module  # noqa: E402

KEPT_READS = Path(".cache") / config_module.KEPT_READS


@pytest.fixture
def reads(monkeypatch):
    """The texts whose YAML was read (rather than taken from the kept file)."""
    read: list[str] = []
    real = config_module._load_plain

    def counted(text, shown):
        read.append(text)
        return real(text, shown)

    monkeypatch.setattr(config_module, "_load_plain", counted)
    return read


def test_a_config_read_again_comes_from_its_kept_read_and_is_the_same_config(workdir, reads):
    path = write_config(workdir, BASIC_CONFIG)
    first = load_config(path)
    assert len(reads) == 1
    file, = (workdir / KEPT_READS).iterdir()
    assert oct(file.stat().st_mode & 0o777) == "0o600"
    again = load_config(path)
    assert len(reads) == 1  # not read again
    assert again.model_dump() == first.model_dump() and again._lines == first._lines
    assert again.where("subscribers", 1, "email") == f"{path}:15"
    # an edit is read anew, and its read replaces the one kept (one file per config file)
    write_config(workdir, BASIC_CONFIG.replace("max_papers: 5", "max_papers: 7"))
    assert load_config(path).subscribers[1].max_papers == 7 and len(reads) == 2
    assert list((workdir / KEPT_READS).iterdir()) == [file]
    assert load_config(path).subscribers[1].max_papers == 7 and len(reads) == 2


@pytest.mark.parametrize("spoil", ["damaged", "cut short", "others may write it", "another text's read"])
def test_a_kept_read_damaged_foreign_or_writable_by_others_is_not_used(workdir, reads, spoil):
    """A kept read would change the config as the command sees it: one that
    is not exactly this text's, or that another user could have written, is
    read anew (never an error)."""
    path = write_config(workdir, BASIC_CONFIG)
    first = load_config(path)
    file, = (workdir / KEPT_READS).iterdir()
    data = file.read_bytes()
    if spoil == "damaged":  # a byte of the read changed: the checksum tells
        at = data.index(b"bob@example.org")
        file.write_bytes(data[:at] + b"eve" + data[at + 3:])
    elif spoil == "cut short":
        file.write_bytes(data[: len(data) // 2])
    elif spoil == "others may write it":
        file.chmod(0o666)
    else:  # another config's read, whole and well formed, in this config's file
        other = write_config(workdir, BASIC_CONFIG.replace("bob@example.org", "eve@example.org"), "other.yaml")
        load_config(other)
        kept = {f.name: f for f in (workdir / KEPT_READS).iterdir()}
        file.write_bytes(next(f for name, f in kept.items() if name != file.name).read_bytes())
        reads.clear()
        reads.append(BASIC_CONFIG)
    again = load_config(path)
    assert len(reads) == 2  # read anew
    assert again.model_dump() == first.model_dump()
    assert [s.email for s in again.subscribers] == ["ada@example.org", "bob@example.org"]


@pytest.mark.parametrize("craft", ["five bytes", "this text's key, a wrong digest", "old layout"])
def test_a_crafted_kept_read_is_never_given_to_marshal(workdir, reads, monkeypatch, craft):
    """``marshal`` is not safe on crafted data: five bytes (a tuple of two
    thousand million items) stalled every command 8.5 s, as the whole file
    was given to it before its checksum was looked at.  The key and the
    digest are plain bytes, compared first: a file that fails them is read
    anew and replaced, and marshal never sees it."""
    path = write_config(workdir, BASIC_CONFIG)
    first = load_config(path)
    file, = (workdir / KEPT_READS).iterdir()
    good = file.read_bytes()
    key = good[:20]
    file.write_bytes({"five bytes": b"(\xff\xff\xff\x7f", "this text's key, a wrong digest": key + bytes(32) + good[52:],
                      "old layout": marshal.dumps((key, hashlib.sha1(good[52:]).digest(), good[52:]))}[craft])
    file.chmod(0o600)

    given: list[bytes] = []

    def never(data):  # (an error here would be taken as a damaged file: what it was given is what tells)
        given.append(data)
        raise ValueError("not to be read")

    monkeypatch.setattr(config_module, "marshal", SimpleNamespace(loads=never, dumps=marshal.dumps))
    again = load_config(path)
    assert given == []
    assert len(reads) == 2 and again.model_dump() == first.model_dump()  # read anew
    kept = file.read_bytes()  # and the crafted file replaced by this text's read
    assert kept[:20] == key and hashlib.sha256(kept[52:]).digest() == kept[20:52] and len(kept) > 52


@pytest.mark.parametrize("case", ["a date", "cache: elsewhere", "anchors", "a problem"])
def test_a_config_read_is_kept_only_plain_valid_and_for_the_default_cache(workdir, reads, case):
    """Kept: a plain document (no anchors) that validated, whose values
    ``marshal`` writes, when its ``cache:`` is the default folder (the one
    looked in before the text says another)."""
    text = {
        "a date": BASIC_CONFIG + "x-written: 2024-05-01\n",
        "cache: elsewhere": BASIC_CONFIG + "cache: elsewhere\n",
        "anchors": BASIC_CONFIG.replace("topics: [optim, diffusion]", "topics: &both [optim, diffusion]"),
        "a problem": BASIC_CONFIG.replace("max_papers: 5", "max_papers: many"),
    }[case]
    path = write_config(workdir, text)
    for _ in range(2):
        if case == "a problem":
            with pytest.raises(ConfigError):
                load_config(path)
        else:
            assert [s.email for s in load_config(path).subscribers] == ["ada@example.org", "bob@example.org"]
    assert not (workdir / KEPT_READS).exists() and not (workdir / "elsewhere").exists()
    assert len(reads) == 2  # read each time (an anchor: by the node reader after it)


def test_a_cache_folder_that_cannot_be_made_still_reads_the_config(workdir, reads):
    (workdir / ".cache").write_text("a file where the cache folder goes\n")
    path = write_config(workdir, BASIC_CONFIG)
    for _ in range(2):
        assert load_config(path).subscribers[1].max_papers == 5
    assert len(reads) == 2 and (workdir / ".cache").is_file()


def test_validate_says_the_same_from_a_kept_read(workdir, cli, reads):
    """The warnings and their lines too: validation runs on the kept read as on a fresh one."""
    write_config(workdir, BASIC_CONFIG + "delivery: {transport: smtp, host: 127.0.0.1, port: 2525}\n")
    first = cli("validate")
    assert first.code == 0, first.err
    # placeholder addresses, each at its line
    assert "config.yaml:15: subscribers[1].email: 'bob@example.org' is a placeholder address" in first.err
    again = cli("validate")
    assert (again.code, again.out, again.err) == (first.code, first.out, first.err)
    assert len(reads) == 1


def test_a_value_cut_at_a_comma_inside_braces_says_to_quote_it(workdir):
    """`{email: ..., name: Lovelace, Ada}` (a name as a directory lists it, on
    the one line README's "Many subscribers" writes): YAML ends the value at
    the comma and reads `Ada` as a key of its own; it was "unknown key 'Ada';
    valid keys: ..."."""
    said = problems(workdir, """
        sources:
          - {type: hf-papers-text, path: papers/}
        topics:
          optim: {name: Optimisation, SGD and noise, any: [SGD]}
        subscribers:
          - {email: ada@example.org, name: Lovelace, Ada, topics: [optim]}
        """)
    assert said == [
        "config.yaml:4: topics.optim.SGD and noise: unknown key 'SGD and noise': a comma inside {...} ends a value: "
        "YAML read name: 'Optimisation' and a key 'SGD and noise'; put the whole value in quotes, "
        'name: "Optimisation, SGD and noise"',
        "config.yaml:6: subscribers[0].Ada: unknown key 'Ada': a comma inside {...} ends a value: YAML read "
        "name: 'Lovelace' and a key 'Ada'; put the whole value in quotes, name: \"Lovelace, Ada\"",
    ]


def test_a_key_without_a_value_on_a_line_of_its_own_is_no_comma_cut(workdir):
    """The comma's reading is for a line in braces only: a stray `Ada:` line is an unknown key as before."""
    said = problems(workdir, """
        sources:
          - {type: hf-papers-text, path: papers/}
        topics:
          optim: {any: [SGD]}
        subscribers:
          - email: ada@example.org
            name: Lovelace
            Ada:
            topics: [optim]
        """)
    assert said == ["config.yaml:8: subscribers[0].Ada: unknown key 'Ada'; valid keys: email, name, topics, schedule, "
                    "timezone, max_papers, pin, send_empty, mailing_list"]


def test_a_list_inside_a_list_says_to_write_one_list_at_its_own_line(workdir):
    """`topics: [*mine]` with `x-mine: &mine [optim, diffusion]` (an anchored list
    in brackets) was "topics[0]: expected a valid string, got a list" at the
    anchor's line, not the subscriber's."""
    said = problems(workdir, "x-mine: &mine [optim, diffusion]\n" + _basic(
        "    topics: [optim, diffusion]\n", "    topics: [*mine]\n"))
    assert said == ["config.yaml:18: subscribers[1].topics: a list inside the list: write one list, topics: "
                    "[optim, diffusion] (an anchored list goes in as its alias alone, topics: *NAME, not in brackets)"]
    assert load_config(write_config(workdir, "x-mine: &mine [optim, diffusion]\n" + _basic(
        "    topics: [optim, diffusion]\n", "    topics: *mine\n"))).subscribers[1].topics == ["optim", "diffusion"]


@pytest.mark.parametrize("old, new, said", [
    # a topic's one setting: the topic was "expected a mapping, got 'about ...'"
    ("    name: Optimisation\n    any: [\"SGD\", \"stochastic gradient\", \"optimi*\"]\n",
     "    about stochastic gradient methods\n",
     "config.yaml:8: topics.optim: expected a mapping, got 'about stochastic gradient methods': a key and its value "
     "need a ':' between them ('about: stochastic gradient methods')"),
    # a subscriber's first key, its other keys under it: "mapping values are not allowed in this context" at the next
    ("  - email: bob@example.org\n", "  - email bob@example.org\n",
     "config.yaml:15: malformed YAML: mapping values are not allowed in this context; a key and its value need a "
     "':' between them ('email: bob@example.org')"),
    # the file's last line: noticed past its end, without a hint
    ("    max_papers: 5\n", "    max_papers 5\n",
     "config.yaml:17: malformed YAML: while scanning a simple key could not find expected ':'; a key and its value "
     "need a ':' between them ('max_papers: 5')"),
])
def test_a_key_whose_colon_is_left_out_says_so_at_its_line(workdir, cli, old, new, said):
    write_config(workdir, _basic(old, new))
    result = cli("validate")
    assert result.code == 2 and "Traceback" not in result.err
    assert result.err.splitlines() == [said], result.err


@pytest.mark.parametrize("written, meant", [
    # the nearest spelling answered these with a zone of another place
    ("Pacific Time", "America/Los_Angeles"),   # was 'Pacific/Niue'
    ("Mumbai", "Asia/Kolkata"),                # was 'Cuba'
    ("Bangalore", "Asia/Kolkata"),             # was 'Singapore'
    ("Eastern", "America/New_York"),           # was 'Canada/Eastern'
    # and these with nothing
    ("Central European Time", "Europe/Berlin"),
    ("Beijing", "Asia/Shanghai"),
    ("San Francisco", "America/Los_Angeles"),
    ("Munich", "Europe/Berlin"),
])
def test_a_zone_as_people_say_it_or_a_city_named_by_no_zone_is_told_its_zone(written, meant):
    from newsletter.config import check_timezone

    with pytest.raises(ValueError) as info:
        check_timezone(written)
    assert str(info.value) == f"unknown time zone {written!r} (did you mean {meant!r}?)"
    assert check_timezone(meant) == meant


def test_a_liked_title_copied_with_its_latex_is_read_as_the_papers_titles_are(tmp_path, cli):
    """A title copied from arXiv as its source writes it, `Finding
    $\\epsilon$-Stationary Points ...`, "matched no known paper": the papers'
    titles are read with their LaTeX made Unicode, the liked one was not."""
    shutil.copy(DATA / "arxiv-latex.xml", tmp_path / "arxiv.xml")
    write_config(tmp_path, r"""
        sources: [{type: arxiv, path: arxiv.xml}]
        topics:
          optim:
            about: nonconvex optimization and gradient queries
            like:
              - 'Finding $\epsilon$-Stationary Points in $\mathcal{O}(\sqrt{d}/\epsilon)$ Gradient Queries'
              - 'Gr\"obner Bases Meet Erd\H{o}s--R\''enyi Graphs: Random Polynomial Systems in Optimization'
        subscribers: [{email: ada@example.org, topics: [optim]}]
        """)
    config = load_config(tmp_path / "config.yaml")
    assert config.topics["optim"].like == [
        "Finding ε-Stationary Points in O(√d/ε) Gradient Queries",
        "Gröbner Bases Meet Erdős–Rényi Graphs: Random Polynomial Systems in Optimization"]
    result = cli("validate", "--json")
    assert result.code == 0, result.err
    assert not [w for w in json.loads(result.out)["warnings"] if "like[" in w], result.out


@pytest.mark.parametrize("value, escape, single", [
    (r'"/\d+ steps/"', r"\d", r"'/\d+ steps/'"),                                 # a regular expression
    (r'"C:\Users\ada"', r"\U", r"'C:\Users\ada'"),                               # a Windows path (hex wanted)
    (r'"the $\mathcal{O}$ bound"', r"\m", r"'the $\mathcal{O}$ bound'"),         # a LaTeX title
])
def test_a_backslash_in_double_quotes_says_to_use_single_quotes(workdir, value, escape, single):
    """YAML reads a backslash in double quotes as an escape: a term like
    "/\\d+ steps/" was "found unknown escape character" and no more."""
    said = problems(workdir, _basic('    any: ["SGD", "stochastic gradient", "optimi*"]\n', f"    any: [{value}]\n"))
    assert said == [f"config.yaml:10: malformed YAML: while parsing a quoted scalar "
                    f"{'did not find expected hexdecimal number' if escape == chr(92) + 'U' else 'found unknown escape character'}"
                    f"; in double quotes YAML reads a backslash as an escape ('{escape}' is none here): write the "
                    f"value in single quotes, {single}, where a backslash is itself"]


def test_a_latex_macro_or_a_word_boundary_in_double_quotes_is_an_error_at_its_line(workdir):
    """YAML's double quotes read `\\epsilon` as an escape character and
    `psilon`, `\\beta` and a regular expression's `\\b` as a backspace: the
    liked title matched no paper and the term nothing, without a word.  An
    escape meant as one (`\\n`, `\\t` before other words) is left alone."""
    text = _basic('    any: ["SGD", "stochastic gradient", "optimi*"]\n',
                  '    any: ["/\\bSGD\\b/", "\\epsilon-nets"]\n    about: "the \\beta-VAE and \\theta"\n')
    said = problems(workdir, text.replace("    name: Optimisation\n", '    name: "Optimisation\\tof nets"\n'))
    assert said == [
        "config.yaml:10: topics.optim.any[0]: in double quotes YAML reads '\\b' as an escape, not a backslash and a "
        "letter: write the value in single quotes, '/\\bSGD\\b/', where a backslash is itself",
        "config.yaml:10: topics.optim.any[1]: in double quotes YAML reads '\\e' as an escape, not a backslash and a "
        "letter: write the value in single quotes, '\\epsilon-nets', where a backslash is itself",
        "config.yaml:11: topics.optim.about: in double quotes YAML reads '\\b' as an escape, not a backslash and a "
        "letter: write the value in single quotes, 'the \\beta-VAE and \\theta', where a backslash is itself",
    ]
    single = text.replace('"/\\bSGD\\b/", "\\epsilon-nets"', "'/\\bSGD\\b/', '\\epsilon-nets'").replace(
        '"the \\beta-VAE and \\theta"', "'the \\beta-VAE and \\theta'")
    assert load_config(write_config(workdir, single)).topics["optim"].any == ["/\\bSGD\\b/", "\\epsilon-nets"]


@pytest.mark.parametrize("about", [
    "    about: |\n      Papers on\n      optimal transport\n      equivariant networks\n      automatic differentiation\n"
    "      how optimisers converge\n",
    "    about: >-\n      Papers on transport.\n\n      optimal transport and\n\n      how optimisers converge\n",
    "    about: 'Papers on\n\n      optimal transport'\n",
    "    about: Papers on\n\n      equivariant networks\n",
])
def test_a_real_line_break_before_a_latex_like_word_is_no_escape(workdir, about):
    """A line break in a block, plain or single-quoted text reads as "\\n"
    once parsed: `about: |` and a line starting "optimal", "equivariant",
    "automatic" or "how" was refused as a "\\n typed in double quotes"
    whenever the file held a backslash and a letter anywhere (a regular
    expression in single quotes beside a double-quoted term)."""
    text = _basic('    any: ["SGD", "stochastic gradient", "optimi*"]\n',
                  "    any: [\"SGD\", '/\\bAdam\\b/']\n" + about)
    text = text.replace("    name: Diffusion models\n", '    name: "Diffusion \\\\beta models"\n')
    config = load_config(write_config(workdir, text))
    assert "\n" in config.topics["optim"].about
    assert config.topics["diffusion"].name == "Diffusion \\beta models"
    assert problems(workdir, text.replace("'/\\bAdam\\b/'", '"/\\bAdam\\b/"')) == [
        "config.yaml:10: topics.optim.any[1]: in double quotes YAML reads '\\b' as an escape, not a backslash and a "
        "letter: write the value in single quotes, '/\\bAdam\\b/', where a backslash is itself"]


@pytest.mark.parametrize(("term", "escape"), [
    ('"/\\b(SGD|Adam)\\b/"', "b"),   # a group after the word boundary
    ('"/adamw?\\b/"', "b"),          # a boundary at the end
    ('"/SGD\\b/"', "b"),
    ('"/\\b[Ss]core\\b/"', "b"),     # a character class after it
    ('"a\\a"', "a"),
    ('"x\\f"', "f"),
    ('"\\v1"', "v"),
    ('"\\e[1m"', "e"),
])
def test_a_control_character_from_an_escape_is_an_error_wherever_it_stands(workdir, term, escape):
    """`\\b` before '(', '[', '/' or at a term's end made a backspace as
    surely as before a letter: `"/\\b(SGD|Adam)\\b/"` validated and matched
    nothing.  No setting wants a bell, backspace, form feed, vertical tab
    or escape character, wherever it stands."""
    said = problems(workdir, _basic('    any: ["SGD", "stochastic gradient", "optimi*"]\n', f"    any: [{term}]\n"))
    single = "'" + term[1:-1] + "'"
    assert said == [
        f"config.yaml:10: topics.optim.any[0]: in double quotes YAML reads '\\{escape}' as an escape, not a backslash "
        f"and a letter: write the value in single quotes, {single}, where a backslash is itself"]


def test_the_single_quoted_value_offered_for_a_bad_escape_means_what_the_double_quoted_one_did(workdir):
    """Escapes double quotes allow (`\\\\`, `\\"`, `\\/`) lost nothing when
    the value was offered in single quotes: `"/\\\\bSGD\\\\b \\d+ steps/"`
    became `'/\\\\bSGD\\\\b \\d+ steps/'`, a pattern that matches nothing."""
    import yaml

    said = problems(workdir, _basic('    any: ["SGD", "stochastic gradient", "optimi*"]\n',
                                    '    any: ["/\\\\bSGD\\\\b \\d+ steps/"]\n'))
    assert len(said) == 1 and "write the value in single quotes" in said[0]
    offered = re.search(r"single quotes, ('.*'), where", said[0])[1]
    assert offered == "'/\\bSGD\\b \\d+ steps/'"
    term = yaml.safe_load(offered)
    assert re.search(term[1:-1], "SGD 100 steps")
    # a double-quoted value ended early by a quote of its own: the same
    said = problems(workdir, BASIC_CONFIG.replace("    name: Ada Lovelace\n", '    name: "Ada\\/Bob "the best\\\\" x"\n'))
    assert said[0].endswith("write name: 'Ada/Bob \"the best\\\" x'")


def test_a_text_line_starting_with_a_setting_word_is_not_taken_for_a_key_without_its_colon(workdir):
    """`about:` over several lines, one starting "all of them": the ': ' on
    the next line was blamed on it ("a key and its value need a ':'
    ('all: of them ...')"), a line above the slip.  A line indented under a
    `key: value` goes on with its text; a key's colon left out at a key's
    indent is still said."""
    text = _basic("    name: Optimisation\n", "    name: Optimisation\n    about: Papers on optimisers,\n"
                  "      all of them for large models\n      tuning: learning rates\n")
    said = problems(workdir, text)
    assert len(said) == 1 and said[0].startswith("config.yaml:12: malformed YAML: mapping values are not allowed")
    assert "'all: of them" not in said[0]
    said = problems(workdir, _basic("  - email: bob@example.org\n", "  - email bob@example.org\n"))
    assert said == ["config.yaml:15: malformed YAML: mapping values are not allowed in this context; a key and its "
                    "value need a ':' between them ('email: bob@example.org')"]


def test_the_escape_error_does_not_show_a_urls_password(workdir, cli):
    """`state: "postgresql://digest:s3cr\\bt@db.example/digest"`: the escape
    error showed the value whole, password and all, on stderr (which cron
    mails and journald keeps)."""
    write_config(workdir, BASIC_CONFIG + 'state: "postgresql://digest:s3cr\\bt@db.example/digest"\n')
    result = cli("validate")
    assert result.code == 2
    assert "s3cr" not in result.err and "s3cr" not in result.out
    assert "state: in double quotes YAML reads '\\b' as an escape" in result.err
    assert "'postgresql://digest@db.example/digest'" in result.err


def test_a_zone_name_that_fits_several_places_says_each():
    """A name several places share is not guessed: 'Washington' was New York
    (the state keeps Pacific time), 'Portland' Los Angeles (Maine's is
    Eastern); Arizona keeps Mountain Standard Time all year, an hour off
    Denver's clock half the year."""
    from newsletter.config import check_timezone

    expected = {
        "Washington": "several places have that name: 'America/New_York' for Washington DC, 'America/Los_Angeles' "
                      "for the state",
        "portland": "several places have that name: 'America/Los_Angeles' for Portland, Oregon, 'America/New_York' "
                    "for Portland, Maine",
        "Mountain Standard Time": "did you mean 'America/Denver' or, in Arizona (no daylight saving time), "
                                  "'America/Phoenix'?",
        "Washington DC": "did you mean 'America/New_York'?",
        "Salt Lake City": "did you mean 'America/Denver'?",
    }
    said = {}
    for written in expected:
        with pytest.raises(ValueError) as info:
            check_timezone(written)
        said[written] = str(info.value).removeprefix(f"unknown time zone {written!r} (").removesuffix(")")
    assert said == expected
