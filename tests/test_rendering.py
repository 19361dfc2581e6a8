"""The render stage: templates, escaping, highlighting, inlining (css_inline and premailer agree), errors."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime
from urllib.parse import quote_plus

import pytest
from conftest import BASIC_CONFIG, DATA, write_config
from markupsafe import escape

from newsletter import pipeline
from newsletter.config import load_config
from newsletter.errors import ConfigError, TemplateError
from newsletter.rendering import Composer, check_templates, highlight, premailer_inline, trim

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
    assert 'class="preheader"' in html and "display: none" in html
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


def inline_styles(html: str) -> list[tuple[str, dict[str, str]]]:
    """Every element of <body> in document order (the <tbody> an HTML5 parser
    adds left out): its tag and its style="" declarations, normalised."""
    from lxml import html as lxml_html

    def value(v: str) -> str:
        v = " ".join(v.replace('"', "'").lower().split())
        return re.sub(r"#([0-9a-f])([0-9a-f])([0-9a-f])\b", r"#\1\1\2\2\3\3", v)

    out = []
    for el in lxml_html.document_fromstring(html).body.iter():
        if not isinstance(el.tag, str) or el.tag == "tbody":
            continue
        decls = [d.split(":", 1) for d in (el.get("style") or "").split(";") if d.strip()]
        out.append((el.tag, {k.strip().lower(): value(v) for k, v in decls}))
    return out


def assert_same_styles(config, cases):
    css, pre = Composer(config), Composer(config, inliner=premailer_inline)
    for sub, matches in cases:
        a, b = css.render(sub, matches, NOW)[1], pre.render(sub, matches, NOW)[1]
        styled_a, styled_b = inline_styles(a), inline_styles(b)
        assert len(styled_a) == len(styled_b) > 10, sub.email
        for (tag_a, style_a), (tag_b, style_b) in zip(styled_a, styled_b):
            assert (tag_a, style_a) == (tag_b, style_b), sub.email
    return a, b


def test_css_inline_and_premailer_give_every_element_the_same_styles(tmp_path):
    config = load(tmp_path)
    assert config.email.inliner == "css-inline"
    cases = digests(config) + [(config.subscriber("ada@example.org"), [])]
    a, b = assert_same_styles(config, cases)
    for html in (a, b):  # what cannot be inlined stays in <style>
        assert "@media (prefers-color-scheme: dark)" in html and "@media only screen and (max-width: 480px)" in html
    assert 'class="brand" style="font-size: 20px;' in a  # css_inline's output, the default


def test_both_inliners_agree_on_a_user_stylesheet(tmp_path):
    tpl = tmp_path / "tpl"
    tpl.mkdir()
    (tpl / "style.css").write_text(
        "body { color: #000; } td > p.brand { font-size: 30px; } table td { vertical-align: top; text-align: left; }\n"
        ".paper-title a { color: red !important; } #x { width: 10px; } mark { background-color: transparent; }\n"
        ".paper p:first-child { margin: 1px } p + p { margin-top: 2px }\n"
        "a:hover { color: blue; } @media (max-width: 400px) { .paper { padding: 0 !important; } }\n"
    )
    config = load(tmp_path, extra="templates: tpl\n")
    a, b = assert_same_styles(config, digests(config))
    assert "color: red !important" in a and "font-size: 30px" in a and "margin: 1px" in a
    assert "@media (max-width: 400px)" in a and "@media (max-width: 400px)" in b


def test_email_inliner_premailer_is_used_when_asked(tmp_path):
    config = load(tmp_path, extra="  inliner: premailer\n")
    assert config.email.inliner == "premailer"
    (sub, matches), *_ = digests(config)
    html = Composer(config).compose(sub, matches, now=NOW).html
    assert 'bgcolor="#f3f4f6"' in html  # premailer's extra attributes: its output, not css_inline's
    assert 'bgcolor="#f3f4f6"' not in Composer(load(tmp_path)).compose(sub, matches, now=NOW).html


def test_unknown_inliner_is_a_config_error_with_its_line(tmp_path, cli):
    with pytest.raises(ConfigError):
        load(tmp_path, extra="  inliner: inky\n")
    r = cli("validate")
    assert r.code == 2 and "Traceback" not in r.err
    assert re.search(r"config.yaml:\d+: email.inliner: .*'css-inline'.*'premailer'", r.err), r.err


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


# -- one body for subscribers who get the same papers ---------------------------------

SHARED_CONFIG = BASIC_CONFIG + """
  - email: cy@example.org
    name: Cy Ürün
    topics: [diffusion]
  - email: di.q+x@example.org
    name: "Di <b>&amp;</b> \\"Q\\" O'Neil"
    topics: [diffusion]
  - email: ed@example.org
    topics: [diffusion]
email:
  unsubscribe: "https://example.org/unsub?u={email}&l=é"
"""


def same_email(a: bytes, b: bytes) -> None:
    """Two messages with the same headers (but the MIME boundary) and parts
    that render the same (the HTML compared as parsed trees)."""
    from lxml import html as lxml_html

    from newsletter.messages import parse_message

    ma, mb = parse_message(a), parse_message(b)
    assert [(k, str(v)) for k, v in ma.items() if k != "Content-Type"] == [(k, str(v)) for k, v in mb.items()
                                                                          if k != "Content-Type"]
    assert ma.get_body(("plain",)).get_content() == mb.get_body(("plain",)).get_content()
    trees = [lxml_html.tostring(lxml_html.document_fromstring(m.get_body(("html",)).get_content())) for m in (ma, mb)]
    assert trees[0] == trees[1]


def test_subscribers_with_the_same_papers_share_one_body(tmp_path):
    config = load(tmp_path, text=SHARED_CONFIG, hostile=False)
    shared, whole = Composer(config), Composer(config)
    whole.share_bodies = False
    cases = digests(config)
    by_mix = {tuple(m.paper.id for m in matches) for _, matches in cases}
    assert len(cases) == 5 and len(by_mix) == 2  # bob has his own mix; the four others get the same papers
    for sub, matches in cases * 2:
        a = shared.compose(sub, matches, now=NOW, message_id="<m@example.org>")
        b = whole.compose(sub, matches, now=NOW, message_id="<m@example.org>")
        same_email(a.data, b.data)
        assert a.subject == b.subject and a.text == b.text
        name = sub.name or sub.email
        assert f"Hello {name}," in a.text and str(escape(name)) in a.html
        assert quote_plus(sub.email) in a.html and "Pdtok" not in a.html + a.text
    assert shared.share_bodies and len(shared._bodies) == 3  # bob; ada, cy and di; ed (no name: greeted by address)


def test_a_template_that_transforms_the_name_renders_every_email_whole(tmp_path):
    tpl = tmp_path / "tpl"
    tpl.mkdir()
    (tpl / "digest.txt").write_text("Dear {{ name | upper }} ({{ name | length }}): {{ count }} papers\n")
    config = load(tmp_path, text=SHARED_CONFIG, hostile=False, extra="templates: tpl\n")
    composer = Composer(config)
    for sub, matches in digests(config):
        text = composer.compose(sub, matches, now=NOW).text
        name = sub.name or sub.email
        assert text.startswith(f"Dear {name.upper()} ({len(name)}):"), text
    assert composer.share_bodies is False


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
