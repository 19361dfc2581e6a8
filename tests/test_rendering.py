"""The render stage: templates, escaping, highlighting, inlining (fast == premailer), errors."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime

import pytest
from conftest import BASIC_CONFIG, DATA, write_config

from newsletter import pipeline
from newsletter.config import load_config
from newsletter.errors import TemplateError
from newsletter.rendering import Composer, CssInliner, SplicingInliner, check_templates, highlight, inline_css, trim

NOW = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)

HOSTILE_CONFIG = BASIC_CONFIG + """
  - email: cy@example.org
    name: Cy Ürün
    topics: [optim, diffusion]
email:
  unsubscribe: "https://example.org/unsub?u={email}"
  abstract_chars: 120
"""


def load(tmp_path, text=HOSTILE_CONFIG, hostile=True, extra=""):
    papers = tmp_path / "papers"
    papers.mkdir(exist_ok=True)
    for f in DATA.glob("hf-papers-*.txt"):
        shutil.copy(f, papers / f.name)
    if hostile:
        shutil.copy(DATA / "hostile-papers.txt", papers / "hostile.txt")
    write_config(tmp_path, text + extra)
    return load_config(tmp_path / "config.yaml")


def digests(config, only=None):
    return list(pipeline.match(config, pipeline.papers(config), only))


def test_hostile_title_is_escaped_and_highlighted(tmp_path):
    config = load(tmp_path)
    (sub, matches), = digests(config, "ada@example.org")
    hostile = [m for m in matches if m.paper.title.startswith("<script>")]
    assert hostile, "the hostile paper should match the diffusion topic"
    composed = Composer(config).compose(sub, matches, now=NOW)
    assert "<script>alert(1)</script>" not in composed.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co: <mark" in composed.html
    assert "<b>tags</b>" not in composed.html and "&lt;b&gt;tags&lt;/b&gt;" in composed.html
    assert "<script>alert(1)</script> & co" in composed.text  # plain text is plain


def test_highlight_never_breaks_escaping():
    patterns = [re.compile(r"amp|lt|co|<script>", re.I)]
    out = str(highlight("<script> & co amp lt", patterns))
    assert out == "<mark>&lt;script&gt;</mark> &amp; <mark>co</mark> <mark>amp</mark> <mark>lt</mark>"
    assert str(highlight("a < b", [re.compile("a"), re.compile("a <")])) == "<mark>a &lt;</mark> b"


def test_trim_cuts_at_a_word():
    assert trim("one two three four", 9) == "one two…"
    assert trim("short", 0) == "short"


def test_grouped_by_topic_with_counts_links_authors_footer(tmp_path):
    config = load(tmp_path)
    (sub, matches), = digests(config, "cy@example.org")
    composed = Composer(config).compose(sub, matches, now=NOW)
    html = composed.html
    by_topic = {}
    for m in matches:
        by_topic.setdefault(m.topics[0], 0)
        by_topic[m.topics[0]] += 1
    for key, n in by_topic.items():
        assert f"{config.topic_name(key)} <span class=\"count\"" in html and f"({n})" in html
    assert "https://arxiv.org/search/?query=" in html  # no URL known: a search link
    assert "You receive this digest for: Optimisation, Diffusion models." in html
    assert 'href="https://example.org/unsub?u=cy%40example.org"' in html
    assert 'class="preheader"' in html and "display:none" in html
    assert "@media (prefers-color-scheme: dark)" in html and "@media only screen and (max-width: 480px)" in html
    for m in matches:  # every title in both parts
        assert m.paper.title in composed.text
    assert "Unsubscribe: https://example.org/unsub?u=cy%40example.org" in composed.text


def test_zero_papers_renders_a_short_digest(tmp_path):
    config = load(tmp_path)
    sub = config.subscriber("ada@example.org")
    composed = Composer(config).compose(sub, [], now=NOW)
    assert "no new papers" in composed.html and "no new papers" in composed.text
    assert 'class="paper"' not in composed.html
    assert composed.paper_ids == () and composed.subject.startswith("0 new papers")


def test_fast_inliner_gives_premailer_bytes(tmp_path):
    config = load(tmp_path)
    naive, fast = Composer(config, inliner=inline_css), Composer(config)
    cases = digests(config) + [(config.subscriber("ada@example.org"), [])]
    for sub, matches in cases:
        assert fast.compose(sub, matches, now=NOW).html == naive.compose(sub, matches, now=NOW).html, sub.email
    assert fast.inliner.specimen_runs <= 2  # learnt once, not once per email


def test_fast_inliner_with_user_template_override(tmp_path):
    tpl = tmp_path / "tpl"
    tpl.mkdir()
    (tpl / "style.css").write_text(
        "body { color: #000; } td > p.brand { font-size: 30px; } table td { vertical-align: top; text-align: left; }\n"
        ".paper-title a { color: red !important; } #x { width: 10px; } mark { background-color: transparent; }\n"
        "a:hover { color: blue; } @media (max-width: 400px) { .paper { padding: 0 !important; } }\n"
    )
    config = load(tmp_path, extra="templates: tpl\n")
    naive, fast = Composer(config, inliner=inline_css), Composer(config)
    for sub, matches in digests(config):
        a, b = naive.compose(sub, matches, now=NOW).html, fast.compose(sub, matches, now=NOW).html
        assert a == b
    assert 'valign="top"' in b and "a:hover" in b and "@media (max-width: 400px)" in b


def test_fast_inliner_falls_back_for_sibling_selectors():
    html = (
        "<!DOCTYPE html><html><head><style>p:first-child { color: red } p + p { color: blue }</style></head>"
        "<body><div><p>a</p><p class='x'>b</p></div></body></html>"
    )
    fast = CssInliner()
    assert fast(html) == inline_css(html)
    assert fast.specimen_runs == 0
    other = "<html><head><style>.x { color: red } div p { margin: 0 }</style></head><body><div><p class='x' style='a:b'>é &amp; ü</p></div><p>c</p></body></html>"
    assert fast(other) == inline_css(other) and fast(other) == inline_css(other)
    assert fast.specimen_runs == 1


def test_size_warning_and_default_cap_stays_under_100_kb(tmp_path):
    config = load(tmp_path)
    composer = Composer(config)
    for sub, matches in digests(config):
        composed = composer.compose(sub, matches, now=NOW)
        assert len(composed.html.encode()) < 100 * 1024 and composed.warnings == ()
    small = load(tmp_path, text=HOSTILE_CONFIG.replace("abstract_chars: 120", "abstract_chars: 120\n  max_html_kb: 5"))
    (sub, matches), = digests(small, "ada@example.org")
    composed = Composer(small).compose(sub, matches, now=NOW)
    assert len(composed.warnings) == 1 and "over 5 KB" in composed.warnings[0]


def test_default_max_papers_with_full_abstracts_under_100_kb(tmp_path):
    config = load(tmp_path, text=BASIC_CONFIG.replace("    max_papers: 5\n", "") + """
  - email: all@example.org
    topics: [diffusion, optim]
""", hostile=False)
    for sub, matches in digests(config):
        assert len(matches) == 20
        composed = Composer(config).compose(sub, matches, now=NOW)
        assert len(composed.html.encode()) < 100 * 1024, (sub.email, len(composed.html))
        assert not composed.warnings


def test_missing_template_names_every_place_searched(tmp_path):
    tpl = tmp_path / "tpl"
    tpl.mkdir()
    (tpl / "digest.html").write_text('{% include "partial.html" %}')
    config = load(tmp_path, extra="templates: tpl\n")
    sub, matches = digests(config)[0]
    with pytest.raises(TemplateError) as err:
        Composer(config).compose(sub, matches, now=NOW)
    msg = str(err.value)
    assert "'partial.html' not found" in msg and str(tpl) in msg and "templates" in msg.split(str(tpl))[1]


def test_template_syntax_error_gives_file_and_line(tmp_path):
    tpl = tmp_path / "tpl"
    tpl.mkdir()
    (tpl / "digest.txt").write_text("line one\nline two\n{% for x in %}\n")
    config = load(tmp_path, extra="templates: tpl\n")
    with pytest.raises(TemplateError) as err:
        Composer(config)
    assert str(err.value).startswith(f"{tpl}/digest.txt:3: template syntax error:")
    assert [str(p) for p in check_templates(config)] == [str(err.value)]


def test_undefined_variable_gives_file_and_line(tmp_path):
    tpl = tmp_path / "tpl"
    tpl.mkdir()
    (tpl / "digest.txt").write_text("Hello {{ name }}\n\n{{ nosuchthing.attr }}\n")
    config = load(tmp_path, extra="templates: tpl\n")
    sub, matches = digests(config)[0]
    with pytest.raises(TemplateError) as err:
        Composer(config).compose(sub, matches, now=NOW)
    assert str(err.value) == f"{tpl}/digest.txt:3: template error: 'nosuchthing' is undefined"


def test_validate_reports_template_problems(tmp_path, cli):
    tpl = tmp_path / "templates"
    tpl.mkdir()
    (tpl / "digest.html").write_text("<html>\n<body>\n{{ count }\n</body></html>\n")
    load(tmp_path, extra="templates: templates\n")
    r = cli("validate")
    assert r.code == 2, r.out
    assert r.err.strip() == "templates/digest.html:3: template syntax error: unexpected '}'"
    assert "Traceback" not in r.err


# -- the spliced fast path: byte for byte what premailer gives for the whole email --------

MANY_CONFIG = BASIC_CONFIG.replace("    max_papers: 5\n", "    max_papers: 7\n") + """
  - email: cy@example.org
    name: Cy Ürün
    topics: [optim, diffusion]
  - email: di@example.org
    name: "Di <b>&amp;</b> \\"Q\\""
    topics: [optim]
    max_papers: 1
  - email: ed@example.org
    topics: [diffusion, optim]
    max_papers: 30
  - email: fa@example.org
    topics: [diffusion]
    max_papers: 2
email:
  unsubscribe: "https://example.org/unsub?u={email}"
"""


def assert_spliced_like_premailer(config, cases, expect_spliced=True):
    naive, fast = Composer(config, inliner=inline_css), Composer(config)
    assert isinstance(fast.inliner, SplicingInliner)
    for _ in range(2):  # the second round is served from the learnt rows
        for sub, matches in cases:
            assert fast.render(sub, matches, NOW)[1] == naive.render(sub, matches, NOW)[1], (sub.email, len(matches))
    stats = fast.inliner.stats
    if expect_spliced:
        assert fast.inliner.enabled and stats["spliced"] >= len(cases), stats
    return fast.inliner


def test_spliced_rows_give_premailer_bytes(tmp_path):
    config = load(tmp_path, text=MANY_CONFIG)
    cases = digests(config)
    # the same cards in other positions, orders and company, and an empty digest
    for sub, matches in list(cases):
        cases += [(sub, matches[::-1]), (sub, matches[1:]), (sub, matches[:1]), (sub, [])]
    assert any(m.paper.title.startswith("<script>") for _, ms in cases for m in ms)
    assert any("Schrödinger" in m.paper.title for _, ms in cases for m in ms)
    inliner = assert_spliced_like_premailer(config, cases)
    assert inliner.layout[1] == "tr" and 'class="container"' in inliner.layout[0]


def test_spliced_rows_with_user_templates(tmp_path):
    tpl = tmp_path / "tpl"
    tpl.mkdir()
    (tpl / "style.css").write_text(
        "body { color: #000; } td > p.brand { font-size: 30px; } table td { vertical-align: top; }\n"
        "div.card p { margin: 0 } .card { padding: 2px } b { font-weight: 700 } @media (max-width: 400px) { .card { padding: 0 !important; } }\n"
    )
    # rows are <div>s without white space between them; a card holds a misnested <p><div>
    (tpl / "digest.html").write_text(
        '<!DOCTYPE html><html><head><style>{% include "style.css" %}</style></head><body><div id="list">'
        "{% for s in sections %}<div class=\"section\"><b>{{ s.name }}</b></div>"
        "{% for p in s.papers %}<div class=\"card\"><p>{{ p.title_html }}<br>{{ p.abstract_html }}</p>"
        "{% if loop.index == 2 %}<p><div>odd</div></p>{% endif %}<p><span>{{ p.terms | join(', ') }}</span></p></div>"
        "{% endfor %}{% endfor %}<div class=\"footer\">{{ name }}</div></div></body></html>"
    )
    config = load(tmp_path, text=MANY_CONFIG, extra="templates: tpl\n")
    cases = digests(config)
    cases += [(sub, matches[::-1]) for sub, matches in cases]
    inliner = assert_spliced_like_premailer(config, cases)
    assert inliner.layout[1] == "div"


def test_templates_without_rows_go_through_whole(tmp_path):
    tpl = tmp_path / "tpl"
    tpl.mkdir()
    (tpl / "digest.html").write_text(
        "<html><head><style>p { color: red } .x { margin: 0 }</style></head><body>"
        "{% for s in sections %}{% for p in s.papers %}<p class=\"x\">{{ p.title }}</p>{% endfor %}{% endfor %}</body></html>"
    )
    config = load(tmp_path, text=MANY_CONFIG, extra="templates: tpl\n")
    # <p>s straight in <body>: no container table, but still a run of rows; and a
    # digest with one paper has no run at all
    inliner = assert_spliced_like_premailer(config, digests(config), expect_spliced=False)
    assert inliner.stats["whole"] + inliner.stats["learnt"] + inliner.stats["spliced"] == 2 * len(digests(config))


def test_rows_are_learnt_per_stylesheet():
    """A stylesheet that changes between emails: rows learnt under one sheet
    are never spliced into an email with another."""
    shell = ('<!DOCTYPE html><html><head><style>{css}</style></head><body><table class="c">\n'
             '<tr><td class="a">one</td></tr>\n<tr><td class="b">two &amp; ü</td></tr>\n</table></body></html>')
    inliner = SplicingInliner(checks=0)
    for css in (".a { color: red } td { margin: 0 }", ".a { color: blue } td { padding: 0 }", ".a { color: red } td { margin: 0 }"):
        html = shell.format(css=css)
        assert inliner(html) == inline_css(html)
    assert len(inliner.units) == 2 and all(len(rows) == 2 for rows in inliner.units.values())
    again = shell.format(css=".a { color: red } td { margin: 0 }")
    assert inliner(again) == inline_css(again) and inliner.stats["spliced"] == 1


def test_template_that_is_not_utf8_is_a_template_error_with_file_and_line(tmp_path, cli):
    tpl = tmp_path / "tpl"
    tpl.mkdir()
    (tpl / "digest.html").write_bytes(b"<html>\n<body>caf\xe9</body></html>\n")  # saved as Latin-1
    config = load(tmp_path, extra="templates: tpl\n")
    with pytest.raises(TemplateError) as err:
        Composer(config)
    assert str(err.value).startswith(f"{tpl}/digest.html:2: not UTF-8 text"), str(err.value)
    r = cli("validate")
    assert r.code == 2 and "Traceback" not in r.err
    assert "tpl/digest.html:2: not UTF-8 text" in r.err
