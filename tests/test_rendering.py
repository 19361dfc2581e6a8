"""The render stage: templates, escaping, highlighting, inlining (css_inline and premailer agree), errors."""

from __future__ import annotations

import codecs
import html as html_lib
import json
import random
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote_plus

import pytest
from conftest import BASIC_CONFIG, DATA, ROOT, unwrapped, write_config
from markupsafe import escape

from newsletter import pipeline
from newsletter.config import load_config
from newsletter.errors import ConfigError, TemplateError
from newsletter.rendering import (
    MAX_PART_CHARS,
    Composer,
    anchor_for,
    check_templates,
    flowed,
    highlight,
    paper_link,
    premailer_inline,
    scripts_raised,
    trim,
    unbroken_before_operators,
)

# What `validate`, `preview` and `match` say of templates and digests, asked of
# the command's main() in this process (conftest.run_in_process): nothing here
# is about the process itself.
pytestmark = pytest.mark.cli_in_process

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
    assert "<script>alert(1)</script> & co" in unwrapped(composed.text)  # plain text is plain


def test_highlight_never_breaks_escaping():
    patterns = [re.compile(r"amp|lt|co", re.I), re.compile("<script>")]
    out = str(highlight("<script> & co amp lt", patterns))
    assert out == "<mark>&lt;script&gt;</mark> &amp; <mark>co</mark> <mark>amp</mark> <mark>lt</mark>"
    assert str(highlight("a < b", [re.compile("a"), re.compile("a <")])) == "<mark>a &lt;</mark> b"


def test_highlight_marks_nothing_inside_a_link_and_keeps_it_whole():
    """A mark inside ``https://x.org/diffusion-models/a_b`` split the link, so
    scripts_raised no longer saw it as one and set ``a<sub>b</sub>``."""
    text = "diffusion models, code at https://x.org/diffusion-models/a_b and ada@diffusion.org"
    out = str(highlight(text, [re.compile(r"diffusion[- ]models?", re.I), re.compile("diffusion")]))
    assert out == "<mark>diffusion models</mark>, code at https://x.org/diffusion-models/a_b and ada@diffusion.org"


@pytest.mark.parametrize(
    ("text", "html"),
    [
        # scripts Unicode has no characters for (LaTeX's output) read as LaTeX source: "θ_T", "n^(3/2)"
        ("a drift v_θ(x,t), L(θ_T) − L(θ₀)", "a drift v<sub>θ</sub>(x,t), L(θ<sub>T</sub>) − L(θ₀)"),
        ("O(n^(3/2) log n) and Õ(d^(1/4)ε^(−7/4))", "O(n<sup>3/2</sup> log n) and Õ(d<sup>1/4</sup>ε<sup>−7/4</sup>)"),
        ("L_(DPO), 𝔼_(x ∼ p)[q], ℓ_∞-norm, ‖x‖_F, x^T y", "L<sub>DPO</sub>, 𝔼<sub>x ∼ p</sub>[q], ℓ<sub>∞</sub>-norm, "
         "‖x‖<sub>F</sub>, x<sup>T</sup> y"),
        ("<b>x_i</b> & 2^(k/2)", "&lt;b&gt;x<sub>i</sub>&lt;/b&gt; &amp; 2<sup>k/2</sup>"),
        # names with an underscore, links and addresses stay as written
        ("snake_case, GPT_4, a_priori, a_b_c", "snake_case, GPT_4, a_priori, a_b_c"),
        ("github.com/a_b, https://x.org/p_q and ada_l@x.org", "github.com/a_b, https://x.org/p_q and ada_l@x.org"),
        # a script holding parentheses, or one of a script, or after a big operator or an operator's name
        # (each was left as "_(": "inf_(γ ∈ Π(μ,ν))", "∑_(⟨i,j⟩)", "arg min_T")
        ("inf_(γ ∈ Π(μ,ν)) and 2^(Õ(k/ε))", "inf<sub>γ ∈ Π(μ,ν)</sub> and 2<sup>Õ(k/ε)</sup>"),
        ("𝔼_(x ∼ p_(data))[ℓ]", "𝔼<sub>x ∼ p<sub>data</sub></sub>[ℓ]"),
        ("J∑_(⟨i,j⟩) σ, ⨁_(u ∈ N(v)) ψ and arg min_T f", "J∑<sub>⟨i,j⟩</sub> σ, ⨁<sub>u ∈ N(v)</sub> ψ and arg min<sub>T</sub> f"),
        ("f(x) (see a) and x_(1) (2), admin_x", "f(x) (see a) and x<sub>1</sub> (2), admin_x"),
        # a star or the Sun as a script (astronomy's stellar mass, M_⊙), and a script before a letter
        ("M_*/M_⊙ and k_(B)T_c, file_*.txt", "M<sub>*</sub>/M<sub>⊙</sub> and k<sub>B</sub>T<sub>c</sub>, file_*.txt"),
        ("X₁,…,Xₙ ∼^(i.i.d.) P", "X₁,…,Xₙ ∼<sup>i.i.d.</sup> P"),
        # a gradient's or a derivative's variable ($\nabla_\theta \mathcal{L}$ showed "∇_θ L")
        ("∇_θ L, ∂_φ f and ∇_(θ,φ) J", "∇<sub>θ</sub> L, ∂<sub>φ</sub> f and ∇<sub>θ,φ</sub> J"),
        # a short name under a Greek letter (an export's 'nvarepsilon_DP'); a longer one, or one in a word, stays
        ("Õ(d/(nε_DP)) and θ_ref, ε_abcdef, GPT_4o", "Õ(d/(nε<sub>DP</sub>)) and θ<sub>ref</sub>, ε_abcdef, GPT_4o"),
        # a script after a letter's superscript (the Monge gap 'M^c_rho', exported as 'Mᶜ_ρ')
        ("the gap Mᶜ_ρ(T) and x²_i, not snake²_x", "the gap Mᶜ<sub>ρ</sub>(T) and x²<sub>i</sub>, not snake²_x"),
    ],
)
def test_a_script_unicode_cannot_write_is_set_as_sub_or_sup_in_html(text, html):
    assert str(scripts_raised(text)) == html
    assert str(highlight(text, [re.compile("zzz")])) == html


def test_trim_cuts_at_a_word():
    assert trim("one two three four", 9) == "one two…"
    assert trim("short", 0) == "short"


@pytest.mark.parametrize(("text", "limit", "trimmed"), [
    # the last sentence that ends in the last 40% of the limit, "…" after it (the next one was cut mid-clause)
    ("We study SAM. We derive SDEs for it and two variants. Finally, we propose a new sampler based on two "
     "simple modifications to DDIM.", 80, "We study SAM. We derive SDEs for it and two variants.\xa0…"),
    # a stop inside a sentence is no end of it: "et al. (2020)", "Fig. 3", "e.g. Adam", "0.5", an initial
    ("Following Smith et al. (2020) and Fig. 3 we set a rate of 0.5 as in J. Doe, e.g. Adam, and report the loss "
     "curves of each of the runs.", 100,
     "Following Smith et al. (2020) and Fig. 3 we set a rate of 0.5 as in J. Doe, e.g. Adam, and report…"),
    # a sentence ending too early keeps too little: the cut is at a word
    ("We study SAM. Our main contribution is the derivation of continuous-time models for SAM and two of its "
     "variants.", 80, "We study SAM. Our main contribution is the derivation of continuous-time models…"),
    ("A question? Yes! " * 3, 40, "A question? Yes! A question? Yes!\xa0…"),
    ("我们综述了对齐的方法。我们提出了新的基准和评测。还有更多内容在这里。", 24, "我们综述了对齐的方法。我们提出了新的基准和评测。…"),
])
def test_trim_ends_at_a_sentence_where_one_ends_late_enough(text, limit, trimmed):
    """An abstract cut at its 600th character ended mid-clause ("… based on
    two simple modifications to…"), where the sentence before it made a
    whole thought; within the limit, "…" saying there is more."""
    assert trim(text, limit) == trimmed and len(trimmed) <= limit + 2


_FIRST = "We study large language models for retrieval over many corpora in this paper today. "


@pytest.mark.parametrize("second", [
    "Our results in Sect. 4 show", "They climbed Mt. Everest twice", "Many Ph.D. Students joined",
    "From the U.S. Census data", "By John Smith Jr. Then more", "See Suppl. Table 2", "By Eqn. 5 we get",
    "In App. B we show", "In Chap. 3 we prove", "As in Thm. 2 and Alg. 1 here", "It holds for Col. 3",
])
def test_trim_reads_a_stop_after_an_abbreviation_as_no_sentence_end(second):
    """"Our results in Sect. 4 show …" ended a card at "Sect. …": a word
    with a dot inside ("Ph.D."), a listed abbreviation ("Mt.", "Jr.") or a
    short capitalised word before a number ("Sect. 4") ends no sentence, so
    the cut is at the sentence before."""
    text = _FIRST + second + " and many more words follow after this point to exceed the limit."
    assert trim(text, len(_FIRST) + len(second) + 5) == _FIRST.rstrip() + "\xa0…"


@pytest.mark.parametrize(("second", "kept"), [
    ("We train BERT. Then we test it", "We train BERT."),
    ("The loss drops. 4 of 5 seeds agree", "The loss drops."),
    ("It was done in 2020. 15 people came", "It was done in 2020."),
    ("See Table 3. Results follow here", "See Table 3."),
    ("We use Adam. Then we stop", "We use Adam."),
])
def test_trim_still_ends_at_a_real_sentence_end(second, kept):
    text = _FIRST + second + " and many more words follow after this point to exceed the limit."
    assert trim(text, len(_FIRST) + len(second) + 5) == _FIRST + kept + "\xa0…"


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
    for m in matches:  # every title in both parts (the text part's wrapped: see test_text_part_is_wrapped_at_72...)
        assert m.paper.title in unwrapped(composed.text)
    assert "Unsubscribe: https://example.org/unsub?u=cy%40example.org" in unwrapped(composed.text)


def test_zero_papers_renders_a_short_digest(tmp_path):
    config = load(tmp_path)
    sub = config.subscriber("ada@example.org")
    composed = Composer(config).compose(sub, [], now=NOW)
    assert "no new papers" in composed.html and "no new papers" in unwrapped(composed.text)
    # not "today": a weekly digest covers a week
    assert "today" not in unwrapped(composed.text) and "no new papers on your topics this time." in unwrapped(composed.text)
    assert 'class="paper"' not in composed.html
    assert composed.paper_ids == () and composed.subject.startswith("No new papers: ")  # not "0 new papers"


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
    # css_inline's output, the default, minified: "font-size: 20px;" on each of some 1,500 declarations
    # was 5 KB of a 60-paper digest (Gmail clips at 102 KB)
    assert 'class="brand" style="font-size:20px;' in a


def test_a_marks_chips_and_numbers_looks_are_in_style_once_not_on_each(tmp_path):
    """Each highlight's colour, each reason chip's shape and each contents
    number's box were written on every element: 17 KB of a 60-paper digest,
    which Gmail clips at 102 KB.  Either inliner leaves them in <style> once
    (an @media rule); what keeps a card readable where <style> is dropped
    stays on the element (the chip's colours and its padding: without it two
    chips read as one phrase, "diffusion models the")."""
    _, matches, _ = reader_digest(tmp_path)
    config = load_config(tmp_path / "config.yaml")
    sub = config.subscribers[0]
    for inliner in (None, premailer_inline):
        html = Composer(config, inliner=inliner).render(sub, matches, NOW)[1]
        head = html[:html.index("<body")]
        assert html.count("<mark") > 10 and not re.search(r"<mark [^>]*style=", html)
        chips = re.findall(r'<span class="term" style="([^"]*)"', html)
        assert chips and all("padding" in c and "background" in c and "radius" not in c for c in chips), chips[:1]
        nums = re.findall(r'<span class="num" style="([^"]*)"', html)
        assert nums and all("width" not in n and "color" in n for n in nums)
        rules = re.sub(r"[\s;]|!important", "", head)  # as either inliner writes them
        for rule in ("mark{background:#fef08a}", "display:inline-blockwidth:34px", "border-radius:8px"):
            assert rule in rules, rule


def test_outlook_gets_the_column_at_640_px_from_either_inliner(tmp_path):
    """Outlook's Word engine ignores max-width: the column ran across the whole
    window, lines 200 characters long.  A table only Outlook reads holds it at 640."""
    config = load(tmp_path)
    (sub, matches), *_ = digests(config)
    for inliner in (None, premailer_inline):
        html = Composer(config, inliner=inliner).compose(sub, matches, now=NOW).html
        opened = html.index('<!--[if mso]><table role="presentation" width="640"')
        closed = html.index("<!--[if mso]></td></tr></table><![endif]-->")
        assert opened < html.index('class="container"') < html.index('class="footer"') < closed


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
    assert "color:red !important" in a and "font-size:30px" in a and "margin:1px" in a
    assert "@media (max-width: 400px)" in a and "@media (max-width: 400px)" in b


def test_an_own_digest_html_with_the_old_class_names_keeps_their_text_styles(tmp_path):
    """style.css moved the abstract's and the contents entries' font to the
    card and the contents cells: a digest.html of the user's own (with the
    default style.css) whose abstract sits in a cell of another class, or
    that still writes the first release's "Matched:" line (``.terms``), lost
    its sizes and colours.  The default's cards still inherit them, and pay
    no byte for it."""
    tpl = tmp_path / "tpl"
    tpl.mkdir()
    html = (ROOT / "templates" / "digest.html").read_text(encoding="utf-8")
    html = html.replace('<td class="paper">', '<td class="card">').replace('class="contents" id', 'class="toc" id')
    html = html.replace('<p class="why">', '<p class="terms">Matched: {{ p.terms | join(", ") }}</p>\n<p class="why">')
    (tpl / "digest.html").write_text(html, encoding="utf-8")
    config = load(tmp_path, extra="templates: tpl\n")
    sub, matches = digests(config)[0]
    a = Composer(config).render(sub, matches, NOW)[1]
    # premailer inlines no :not() (it keeps it in <style>, where mail apps that read <style> apply it)
    b = Composer(config, inliner=premailer_inline).render(sub, matches, NOW)[1]
    assert ":not(.paper) > .abstract" in b[:b.index("<body")]
    styled = dict(re.findall(r'<p class="(abstract|contents-item|terms)" style="([^"]*)"', a))
    assert "font-size:14px;line-height:21px;color:#374151" in styled["abstract"], styled
    assert "font-size:14px;line-height:20px" in styled["contents-item"]
    assert "font-size:12px;line-height:18px;color:#6b7280" in styled["terms"]
    dark = a[a.index("prefers-color-scheme: dark"):]
    assert ".abstract" in dark and ".terms" in dark
    (tmp_path / "d").mkdir()
    plain = load(tmp_path / "d")
    default = Composer(plain).render(*digests(plain)[0], NOW)[1]
    assert not re.search(r'class="(abstract|contents-item)" style="[^"]*font-size', default)


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
    assert msg.startswith(f"{tpl}/digest.html:1: template 'partial.html' not found; searched: {tpl}, ")  # the include's place
    assert "templates" in msg.split("searched: ")[1].split(str(tpl))[1]


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


@pytest.mark.parametrize("line, edit", [
    (18, ('{{ p.title | flowed("  [" ~ n.i ~ "] ") }}', '{{ p.titel | flowed("  [" ~ n.i ~ "] ") }}')),  # the contents: a digest of 2 papers or more
    (51, ("{% set pdf_url = p.pdf_url %}{% if pdf_url %}",
          "{% set pdf_url = p.pdf_url %}{% if pdf_url %}{{ p.pdf_link }}")),  # a paper with a PDF
])
def test_validate_renders_what_only_a_digest_of_several_full_papers_shows(tmp_path, line, edit):
    """validate rendered a sample of one bare paper: a misspelt name in the
    contents list (shown from two papers up) or beside a PDF link passed, and
    the first real send stopped at it."""
    tpl = tmp_path / "tpl"
    tpl.mkdir()
    default = (Path(__file__).parent.parent / "templates" / "digest.txt").read_text(encoding="utf-8")
    assert default.splitlines()[line - 1].startswith(edit[0])
    (tpl / "digest.txt").write_text(default.replace(edit[0], edit[1], 1), encoding="utf-8")
    config = load(tmp_path, extra="templates: tpl\n")
    (problem,) = check_templates(config)
    assert str(problem).startswith(f"{tpl}/digest.txt:{line}: template error: "), problem


@pytest.mark.parametrize(("edit", "name"), [
    ('<a href="{{ p.url }}">{{ p.contents_html }}</a>\n{%- if more_brief', "contents_html"),  # each title
    ('{{ sep() }}<a href="{{ p.code_url }}">Code</a>', "code_url"),  # a paper in brief: its code link
])
def test_validate_renders_the_list_of_papers_past_gmails_clip(tmp_path, edit, name):
    """The "N more papers" list shows only in a digest over max_html_kb: a
    misspelt name there passed validate and stopped the first big send; so
    does its form in brief (authors, why, links), which only a paper with
    every value shows."""
    tpl = own_templates(tmp_path)
    html = (tpl / "digest.html").read_text(encoding="utf-8")
    assert html.count(edit) == 1 and html.index(edit) > html.index("{% for section in more_sections %}")
    (tpl / "digest.html").write_text(html.replace(edit, edit.replace(f"p.{name}", f"p.{name[:-1]}")), encoding="utf-8")
    config = load(tmp_path, extra="templates: tpl\n")
    (problem,) = check_templates(config)
    line = 1 + html[:html.index(edit)].count("\n")
    assert str(problem).startswith(f"{tpl}/digest.html:{line}: template error: "), problem
    assert name in str(problem)


@pytest.mark.parametrize("tag", ['{% include "digest.html" %}', '{% extends "digest.html" %}'])
def test_a_template_that_includes_itself_is_a_template_error_not_a_traceback(tmp_path, cli, tag):
    tpl = tmp_path / "tpl"
    tpl.mkdir()
    (tpl / "digest.html").write_text(f"<html>\n{tag}\n</html>\n")
    load(tmp_path, extra="templates: tpl\n")
    for command in ("validate", "preview"):
        r = cli(command)
        assert r.code == 2, r.err
        assert "Traceback" not in r.err
        (line,) = r.err.splitlines()
        assert line.startswith("tpl/digest.html:2: template error: the template includes or extends itself"), line


def test_a_template_rendering_a_runaway_amount_is_stopped_at_its_line(tmp_path, cli):
    # A loop over the wrong range rendered a gigabyte: validate said OK after
    # minutes, and send would have handed it to the mail server.
    tpl = tmp_path / "tpl"
    tpl.mkdir()
    loops = "{% for i in range(100000) %}{{ 'x' * 100000 }} {% endfor %}"
    (tpl / "digest.txt").write_text(f"{{{{ count }}}} papers\n\n{loops}\n")
    load(tmp_path, extra="templates: tpl\n")
    for command in ("validate", "preview"):
        r = cli(command)
        assert r.code == 2 and "Traceback" not in r.err, r.err
        assert r.err.strip() == (
            f"tpl/digest.txt:3: template error: the template renders more than {MAX_PART_CHARS // 1_000_000} million "
            "characters (stopped there; no mail server takes such a message): a loop running away?"
        )


@pytest.mark.parametrize("body, expected", [
    ("{{ 10.0 ** 1000 }}", "template error: a number too large (OverflowError: (34, 'Numerical result out of range'))"),
    ('{% include "header.html" %}', "template 'header.html' not found; searched: tpl, "),
])
def test_an_overflow_or_a_missing_include_is_one_line_at_its_place(tmp_path, cli, body, expected):
    # An overflow was a traceback; a missing include named no file or line.
    tpl = tmp_path / "tpl"
    tpl.mkdir()
    (tpl / "digest.txt").write_text(f"{{{{ count }}}} papers\n\n{body}\n")
    load(tmp_path, extra="templates: tpl\n")
    r = cli("validate")
    assert r.code == 2 and "Traceback" not in r.err, r.err
    assert r.err.startswith(f"tpl/digest.txt:3: {expected}"), r.err
    assert len(r.err.strip().splitlines()) == 1


@pytest.mark.parametrize("subject, expected", [
    ("{{ counts }} new papers", "'counts' is undefined (did you mean 'count'?)"),
    # no name near it: the names there are (it said only "'n' is undefined")
    ("{{ n }} new papers", "'n' is undefined; the subject knows count, topics, name, date, date_text, title, "
                           "subscriber.email"),
    ("Papers for {{ subscriber.first_name }}", "the subscriber has no 'first_name'; it has email, name, topics, "
                                               "schedule, timezone, max_papers, pin, send_empty, mailing_list"),
])
def test_a_misspelt_name_in_the_subject_says_the_one_meant(tmp_path, cli, subject, expected):
    """The subject said "'newsletter.config.Subscriber object' has no attribute
    'first_name'" and "'counts' is undefined", where the body's templates
    name what there is."""
    load(tmp_path, extra=f'  subject: "{subject}"\n')
    line = (tmp_path / "config.yaml").read_text().splitlines().index(f'  subject: "{subject}"') + 1
    r = cli("validate")
    assert r.code == 2 and r.err.strip() == f"config.yaml:{line}: email.subject: subject template: {expected}", r.err


def test_a_range_too_long_to_loop_over_is_refused_at_its_line(tmp_path, cli):
    # {% for i in range(10 ** 12) %}{% endfor %} renders nothing for hours:
    # validate never came back.  range() stops at 100,000 numbers, as Jinja's sandbox does.
    tpl = tmp_path / "tpl"
    tpl.mkdir()
    (tpl / "digest.txt").write_text("{{ count }} papers\n\n{% for i in range(10 ** 12) %}{% endfor %}\n")
    load(tmp_path, extra="  subject: \"{% for i in range(10 ** 12) %}{% endfor %}digest\"\ntemplates: tpl\n")
    line = (tmp_path / "config.yaml").read_text().splitlines().index(
        '  subject: "{% for i in range(10 ** 12) %}{% endfor %}digest"') + 1
    r = cli("validate")
    assert r.code == 2 and "Traceback" not in r.err, r.err
    assert r.err.strip() == (
        f"config.yaml:{line}: email.subject: subject template: range() of more than 100,000 numbers "
        "(1,000,000,000,000): a loop running away?"
    )
    load(tmp_path, extra="templates: tpl\n")  # the subject as it should be: the body's turn
    r = cli("validate")
    assert r.code == 2 and "Traceback" not in r.err, r.err
    assert r.err.strip() == (
        "tpl/digest.txt:3: template error: range() of more than 100,000 numbers (1,000,000,000,000): "
        "a loop running away?"
    )


@pytest.mark.parametrize("body, what, width", [
    ("{{ 'x' | center(10 ** 9) }}", "center", "1,000,000,000"),
    ("{{ 'x'.ljust(10 ** 9) }}", "ljust", "1,000,000,000"),
    ("{{ '%999999999d' | format(1) }}", "format", "999,999,999"),
    ("{{ '{:>999999999}'.format(1) }}", "format", "999,999,999"),
    ("{{ 'a\\nb' | indent(10 ** 8) }}", "indent", "100,000,000"),
])
def test_a_width_too_large_for_any_email_is_refused_at_its_line(tmp_path, cli, body, what, width):
    """A width (``center``, ``indent``, ``format``, ``ljust``) made its text
    in memory before any output bound could stop it: a gigabyte, or the
    memory there is; ordinary widths still work."""
    tpl = tmp_path / "tpl"
    tpl.mkdir()
    (tpl / "digest.txt").write_text(f"{{{{ count }}}} papers\n\n{body}\n")
    load(tmp_path, extra="templates: tpl\n")
    r = cli("validate")
    assert r.code == 2 and "Traceback" not in r.err, r.err
    assert r.err.strip() == (f"tpl/digest.txt:3: template error: {what} of width {width} makes a text of over "
                             "20,000,000 characters (no mail server takes it)")
    (tpl / "digest.txt").write_text("{{ count }} papers\n\n{{ 'x' | center(9) }}{{ '%5.1f' | format(2.25) }}"
                                    "{{ '{:>3}'.format(7) }}{{ 'y'.ljust(2) }}|\n")
    assert cli("validate").code == 0
    assert cli("preview", "--out", str(tmp_path / "pv")).code == 0
    texts = [p.read_text() for p in (tmp_path / "pv").glob("*.txt")]
    assert texts and all("\u00a0" * 4 + "x      2.2  7y |" in text for text in texts)  # an indent: no-break spaces


def test_lipsum_in_a_template_is_bounded_like_range(tmp_path, cli):
    """lipsum(10 ** 9) built a billion paragraphs in memory before any output
    bound could stop it; a placeholder of a few paragraphs still works."""
    tpl = tmp_path / "tpl"
    tpl.mkdir()
    (tpl / "digest.txt").write_text("{{ count }} papers\n\n{{ lipsum(10 ** 9) }}\n")
    load(tmp_path, extra="templates: tpl\n")
    r = cli("validate")
    assert r.code == 2 and "Traceback" not in r.err, r.err
    assert r.err.strip() == ("tpl/digest.txt:3: template error: lipsum() of up to 100,000,000,000 words, "
                             "over 100,000: a placeholder running away?")
    (tpl / "digest.txt").write_text("{{ count }} papers\n\n{{ lipsum(2, html=False, min=5, max=8) }}\n")
    r = cli("validate")
    assert r.code == 0, r.err


def test_validate_reports_template_problems(tmp_path, cli):
    tpl = tmp_path / "templates"
    tpl.mkdir()
    (tpl / "digest.html").write_text("<html>\n<body>\n{{ count }\n</body></html>\n")
    load(tmp_path, extra="templates: templates\n")
    r = cli("validate")
    assert r.code == 2, r.out
    assert r.err.strip() == "templates/digest.html:3: template syntax error: unexpected '}'"
    assert "Traceback" not in r.err


def test_validate_warns_of_own_templates_that_show_no_unsubscribe_link(tmp_path, cli):
    """A copy of the default templates with the footer cut down lost the
    unsubscribe link, and validate said OK: readers saw no way out."""
    tpl = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", tpl)
    html = (tpl / "digest.html").read_text()
    start, end = html.index("{% if unsubscribe %}"), html.index("</td></tr>", html.index("To unsubscribe, reply"))
    (tpl / "digest.html").write_text(html[:start] + "Thanks for reading." + html[end:])
    # the link with a & in it, as the HTML part writes it (&amp;)
    own_link = 'unsubscribe: "https://lists.uni.edu/leave?u={email}&list=papers"'
    load(tmp_path, HOSTILE_CONFIG.replace('unsubscribe: "https://example.org/unsub?u={email}"', own_link),
         extra="templates: templates\n")
    r = cli("validate")
    assert r.code == 0, r.err
    assert r.err.strip() == (
        "warning: templates/digest.html: the digest it renders has no unsubscribe link ({{ unsubscribe }} is used "
        "nowhere): the default digest.html's footer has one; without it readers see no way out but to report the "
        "digest as spam"), r.err
    (tpl / "digest.html").write_text(html)
    r = cli("validate")
    assert r.code == 0 and "unsubscribe" not in r.err, r.err
    (tpl / "digest.txt").write_text("{{ count }} papers\n")  # a plain-text template of one's own, without it
    assert "warning: templates/digest.txt: the digest it renders has no unsubscribe link" in cli("validate").err


def test_validate_warns_of_a_template_file_named_almost_as_one_the_digest_uses(tmp_path, cli):
    """`styles.css` beside a copied digest.html: the edits to it were never
    used (the default style.css was), and validate said OK."""
    tpl = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", tpl)
    (tpl / "style.css").rename(tpl / "styles.css")
    (tpl / "digest.txt").rename(tpl / "digest.text")
    load(tmp_path, extra="templates: templates\n")
    r = cli("validate")
    assert r.code == 0, r.err
    assert r.err.splitlines() == [
        "warning: templates/digest.text: not used (did you mean 'digest.txt'?): the digest is built from "
        "digest.html, digest.txt, style.css; the default digest.txt is used instead",
        "warning: templates/styles.css: not used (did you mean 'style.css'?): the digest is built from "
        "digest.html, digest.txt, style.css; the default style.css is used instead",
    ], r.err
    # a partial the templates include is used, whatever its name
    html = (tpl / "digest.html").read_text()
    (tpl / "digest.html").write_text(html.replace("</body>", '{% include "digest.text" %}</body>'))
    (tpl / "styles.css").rename(tpl / "style.css")
    r = cli("validate")
    assert r.code == 0 and r.err == "", r.err


def test_templates_saved_by_a_windows_editor_are_read_or_named(tmp_path, cli):
    """Saved "UTF-8 with BOM", a copied digest.txt put the mark at the head of
    every text part, and a style.css lost its first rule (body) to it; saved
    as "Unicode" (UTF-16), one said 'not UTF-8 text (invalid start byte)'."""
    default = load(tmp_path)
    (sub, matches), = digests(default, "cy@example.org")
    plain = Composer(default).compose(sub, matches, now=NOW)
    tpl = tmp_path / "tpl"
    tpl.mkdir()
    for name in ("digest.txt", "style.css"):
        (tpl / name).write_bytes(codecs.BOM_UTF8 + (ROOT / "templates" / name).read_bytes().replace(b"\n", b"\r\n"))
    config = load(tmp_path, extra="templates: tpl\n")
    composed = Composer(config).compose(sub, matches, now=NOW)
    assert composed.text == plain.text and not composed.text.startswith("\ufeff")
    assert composed.html == plain.html  # the body rule inlined as before
    (tpl / "style.css").unlink()
    (tpl / "digest.txt").write_bytes((ROOT / "templates" / "digest.txt").read_text().encode("utf-16"))
    r = cli("validate")
    assert r.code == 2 and r.err.strip() == (
        'tpl/digest.txt:1: saved as UTF-16 ("Unicode" in Windows editors); save the template as UTF-8'), r.err


def test_validate_names_a_brace_left_open_or_closed_twice_in_own_style_css(tmp_path, cli):
    """One '}' lost in a copied style.css left the digest almost unstyled (the
    inliner styled 3 elements of 108), and validate said OK."""
    tpl = tmp_path / "templates"
    tpl.mkdir()
    css = (ROOT / "templates" / "style.css").read_text()
    at = css.index(".wrapper")
    line = css[:at].count("\n") + 1
    (tpl / "style.css").write_text(css[:at] + ".note { color: red;\n" + css[at:])
    load(tmp_path, extra="templates: templates\n")
    r = cli("validate")
    assert r.code == 2 and r.err.strip() == (
        f"templates/style.css:{line}: this block's '{{' is never closed: every rule after it is lost (the digest goes "
        "out almost unstyled); add the '}'"), r.err
    (tpl / "style.css").write_text(css[:at] + "}\n" + css[at:])
    r = cli("validate")
    assert r.code == 2 and r.err.strip() == (
        f"templates/style.css:{line}: a '}}' closes no block (one too many): the rule after it is lost"), r.err
    # braces in comments, strings and Jinja's own blocks are no CSS
    (tpl / "style.css").write_text(css + '/* { */\n.a::before { content: "{"; }\n{% if count %}.b { c: d }{% endif %}\n')
    assert cli("validate").code == 0


def test_validate_renders_a_paper_with_a_title_and_an_abstract_only(tmp_path, cli):
    """Saved Hugging Face pages give no authors: a template reading
    p.authors[0] passed validate (its samples all had authors) and stopped
    the first send."""
    tpl = tmp_path / "templates"
    tpl.mkdir()
    (tpl / "digest.txt").write_text("{% for s in sections %}{% for p in s.papers %}\n"
                                    "{{ p.title }} by {{ p.authors[0] }}\n{% endfor %}{% endfor %}\n")
    load(tmp_path, extra="templates: templates\n")
    r = cli("validate")
    assert r.code == 2, r.out
    assert r.err.strip() == "templates/digest.txt:2: template error: list object has no element 0", r.err


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
        if sub.name:
            assert f"Hello {sub.name}," in a.text and str(escape(sub.name)) in a.html
        else:  # "Hello ed@example.org," greeted a mailbox
            assert "Hello, here are" in a.text and "Hello, here are" in a.html and f"Hello {sub.email}" not in a.text
        assert quote_plus(sub.email) in a.html and "Pdtok" not in a.html + a.text
    assert shared.share_bodies and len(shared._bodies) == 3  # bob; ada, cy and di; ed (no name: "Hello,")


def test_a_name_written_last_comma_first_is_greeted_first_last(tmp_path):
    """A member list pasted from a spreadsheet writes "Müller, Jürgen": the
    digest said "Hello Müller, Jürgen," as if to two people. The greeting
    says "Jürgen Müller" (shared body or whole); the To header keeps the name
    as written; two people, a degree or a suffix after the comma stay as written."""
    from newsletter.messages import parse_message

    names = {"cy@example.org": ("Ürün, Cy", "Cy Ürün"),
             "di.q+x@example.org": ("van der Berg, Anna-Lena", "Anna-Lena van der Berg"),
             "ada@example.org": ("Ada Lovelace, Grace Hopper", "Ada Lovelace, Grace Hopper"),
             "ed@example.org": ("Lovelace, PhD", "Lovelace, PhD")}
    text = SHARED_CONFIG.replace("    name: Cy Ürün\n", "").replace('    name: "Di <b>&amp;</b> \\"Q\\" O\'Neil"\n', "")
    text = text.replace("    name: Ada Lovelace\n", "")
    for email, (written, _) in names.items():
        text = text.replace(f"  - email: {email}\n", f"  - email: {email}\n    name: \"{written}\"\n")
    config = load(tmp_path, text=text, hostile=False)
    for composer in (Composer(config), Composer(config)):
        for sub, matches in digests(config):
            if sub.email not in names:
                continue
            written, greeted = names[sub.email]
            composed = composer.compose(sub, matches, now=NOW, message_id="<m@example.org>")
            assert f"Hello {greeted}," in unwrapped(composed.text) and f"Hello {escape(greeted)}," in composed.html
            assert parse_message(composed.data)["To"].addresses[0].display_name == written
        composer.share_bodies = False


def test_a_template_printing_subscriber_name_greets_alike_shared_or_whole(tmp_path):
    """With a shared body ``{{ subscriber.name }}`` of "Ürün, Cy" printed
    the greeting form, "Cy Ürün", but the same template rendered whole
    printed "Ürün, Cy": the email depended on which path made it.  Both
    print the greeting form, as ``{{ name }}`` does."""
    tpl = tmp_path / "tpl"
    tpl.mkdir()
    (tpl / "digest.txt").write_text("Dear {{ subscriber.name }} / {{ name }}: {{ count }} papers\n")
    text = SHARED_CONFIG.replace("    name: Cy Ürün\n", '    name: "Ürün, Cy"\n')
    config = load(tmp_path, text=text, hostile=False, extra="templates: tpl\n")
    shared, whole = Composer(config), Composer(config)
    whole.share_bodies = False
    for sub, matches in digests(config):
        a = shared.compose(sub, matches, now=NOW, message_id="<m@example.org>")
        b = whole.compose(sub, matches, now=NOW, message_id="<m@example.org>")
        greeting = a.text.split(":", 1)[0].encode()
        assert greeting == b.text.split(":", 1)[0].encode()
        if sub.email == "cy@example.org":
            assert greeting == "Dear Cy Ürün / Cy Ürün".encode()
    assert shared.share_bodies and len(shared._bodies) == 3  # cy's email came from the body ada's was


def test_a_body_prepared_before_composing_is_the_one_each_email_is_made_from(tmp_path):
    """A big send's parent prepares the bodies its first digests share before
    it forks its workers (Composer.prepare): the emails made from them are
    those rendered whole, and composing makes no body of its own."""
    config = load(tmp_path, text=SHARED_CONFIG, hostile=False)
    prepared, whole = Composer(config), Composer(config)
    whole.share_bodies = False
    cases = digests(config)
    made = [prepared.prepare(sub, matches, NOW) for sub, matches in cases]
    assert made.count(True) == 3 and len(prepared._bodies) == 3  # bob; ada, cy and di; ed
    assert not prepared.prepare(*cases[0], NOW)  # made already
    for sub, matches in cases:
        a = prepared.compose(sub, matches, now=NOW, message_id="<m@example.org>")
        same_email(a.data, whole.compose(sub, matches, now=NOW, message_id="<m@example.org>").data)
    assert len(prepared._bodies) == 3


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


def test_a_name_the_flowed_filter_wraps_renders_each_email_whole(tmp_path):
    """A shared body wrapped ``{% filter flowed %}Hello {{ name }}, ...`` around
    the name's 22-character stand-in, and each subscriber's name was put in
    after: "Cy" left a short line.  Only the first few bodies are checked
    against a whole render, and names of 22 to 27 characters wrap this
    greeting as the stand-in does, so the check passed them.  A stand-in
    the filter wraps makes each digest rendered whole."""
    from newsletter.rendering import greeting_name

    tpl = tmp_path / "tpl"
    tpl.mkdir()
    (tpl / "digest.txt").write_text(
        "{% filter flowed %}Hello {{ name }}, here are the papers of today on the topics you follow, best first, "
        "each with its abstract and the links to read it whole.{% endfilter %}\n\n{{ count }} papers\n")
    names = ["Augusta Ada King Byron", "Augusta Ada King Lovelace", "Augusta Ada King-Noel Love", "Cy"]
    text = BASIC_CONFIG.split("subscribers:")[0] + "subscribers:\n" + "".join(
        f"  - email: s{i}@example.org\n    name: {name}\n    topics: [diffusion]\n" for i, name in enumerate(names))
    config = load(tmp_path, text=text, hostile=False, extra="templates: tpl\n")
    shared, whole = Composer(config), Composer(config)
    whole.share_bodies = False
    cases = digests(config)
    assert [len(s.name) for s, _ in cases] == [22, 25, 26, 2]
    for sub, matches in cases:
        sent = shared.compose(sub, matches, now=NOW, message_id="<m@example.org>").text
        assert sent == whole.render(sub, matches, NOW)[2], sub.email
        assert all(len(line) <= 72 for line in sent.split("\n")), sent
        assert unwrapped(sent).startswith(f"Hello {greeting_name(sub)}, here are the papers")
    assert shared.share_bodies is False


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


# --------------------------------------------------------------------------- as a researcher reads it

READER_CONFIG = """
sources:
  - type: arxiv
    path: papers/arxiv-latex.xml
  - type: arxiv
    path: papers/arxiv-api.xml
  - type: hf-daily
    path: papers/hf-daily-2024-06-07.json
topics:
  optim:
    name: Optimization
    any: ["optimi*", "stochastic gradient", "/explain.*predictions/"]
  bridges:
    name: Schrödinger bridges
    any: ["Schrödinger", "diffusion model*"]
subscribers:
  - email: ada@example.org
    name: Ada
    topics: [optim, bridges]
    max_papers: 30
"""


def reader_digest(tmp_path, text=READER_CONFIG):
    papers = tmp_path / "papers"
    papers.mkdir(exist_ok=True)
    for name in ("arxiv-latex.xml", "arxiv-api.xml", "hf-daily-2024-06-07.json"):
        shutil.copy(DATA / name, papers / name)
    write_config(tmp_path, text)
    config = load_config(tmp_path / "config.yaml")
    (sub, matches), = digests(config)
    return config, matches, Composer(config).compose(sub, matches, now=NOW)


def test_one_upvote_is_said_as_one(tmp_path):
    """A paper with one upvote read "· 1 upvotes"."""
    from dataclasses import replace

    config, matches, composed = reader_digest(tmp_path)
    voted = [m for m in matches if m.paper.upvotes]
    assert voted and f"{voted[0].paper.upvotes} upvotes" in unwrapped(composed.text)
    one = [replace(m, paper=replace(m.paper, upvotes=1)) if m is voted[0] else m for m in matches]
    again = Composer(config).compose(config.subscribers[0], one, now=NOW)
    for part in (again.text, again.html):
        assert " 1 upvote\n" in part.replace("</p>", "\n") and "1 upvotes" not in part


def test_a_paper_dated_by_its_year_alone_shows_its_year_not_the_first_of_january(tmp_path):
    """An export's "2024" was read as 2024-01-01 and the card said "1 Jan 2024",
    a day no source named."""
    from dataclasses import replace

    config, matches, _ = reader_digest(tmp_path)
    first = matches[0]
    dated = [replace(first, paper=replace(first.paper, published=datetime(2024, 1, 1, tzinfo=UTC),
                                          date_precision="year")), *matches[1:]]
    again = Composer(config).compose(config.subscribers[0], dated, now=NOW)
    card = next(c for c in cards(again.html) if f'href="{first.paper.url}"' in c)
    assert "1 Jan 2024" not in card and re.search(r">\s*2024\s*(?:·|&middot;|<)", card), card


def cards(html: str) -> list[str]:
    return re.findall(r'<td class="paper".*?</td>', html, re.S)


def test_latex_reads_as_unicode_and_is_still_escaped(tmp_path):
    _, _, composed = reader_digest(tmp_path)
    html, text = composed.html, unwrapped(composed.text)
    visible = html_lib.unescape(re.sub(r"<[^>]+>", "", html))  # what a reader sees
    for shown in ("ε-Stationary Points in O(√d/ε) Gradient Queries", "Gröbner Bases Meet Erdős–Rényi Graphs",
                  "‖∇f(x)‖₂\u00a0≤ ε", "Õ(d^(1/4)ε^(−7/4))", "Φₜ\u00a0= f(xₜ)\u00a0+ (λ/2)‖xₜ\u00a0− xₜ₋₁‖²",
                  "from $120 to $15 per Run", "(an 87.5% saving)", "Zoë Brändli, José Ramón García"):
        # (a no-break space before a relation or operator: the line breaks after it)
        assert shown in text and shown in visible.replace("d1/4ε−7/4", "d^(1/4)ε^(−7/4)"), shown
    # the scripts Unicode has no characters for are written out in the text part, set as such in the HTML
    assert "Õ(d<sup" in html and ">1/4</sup>ε<sup" in html and ">−7/4</sup>)" in html
    for raw in ("$\\", "\\mathcal", "\\epsilon", '\\"o', "$<$"):
        assert raw not in html and raw not in text, raw
    # $<$script$>$ became <script>, which is text: escaped in the HTML, plain in the text part.
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "When <script> Meets LaTeX" in text and "When &lt;script&gt; Meets LaTeX" in html


def test_contents_links_every_card_and_each_card_links_back(tmp_path):
    config, matches, composed = reader_digest(tmp_path)
    html = composed.html
    contents = html[html.index('id="contents"'):html.index('class="section"')]
    targets = re.findall(r'href="#(paper-[^"]+)"', contents)
    assert len(targets) == len(matches) == len(set(targets))
    for anchor in targets:
        assert html.count(f'name="{anchor}"') == 1
    # grouped by topic, in the subscriber's order, with the titles as shown
    topics = re.findall(r'class="contents-topic"[^>]*><a href="#(topic-[^"]+)"[^>]*>([^<]+)', contents)
    assert [t.strip() for _, t in topics] == ["Optimization", "Schrödinger bridges"]
    for anchor, _ in topics:  # each topic links to its section's heading
        assert re.search(rf'class="section-title"[^>]*><a name="{anchor}"', html)
    for m in matches:
        assert html_lib.escape(m.paper.title, quote=False) in contents
    assert all(card.count('href="#contents"') == 1 for card in cards(html))
    assert len(cards(html)) == len(matches)
    # the text part has the same contents list, numbered like its cards
    text = unwrapped(composed.text)
    head = text[text.index("Contents"):text.index("== Optimization")]
    for n, line in enumerate(re.findall(r"^\u00a0\u00a0\[(\d+)\] (.+)$", head, re.M), start=1):  # (no-break spaces)
        assert int(line[0]) == n and f"\n[{n}] {line[1]}\n" in text


def test_one_paper_needs_no_contents(tmp_path):
    config, matches, _ = reader_digest(tmp_path)
    composed = Composer(config).compose(config.subscribers[0], matches[:1], now=NOW)
    assert 'id="contents"' not in composed.html and 'href="#contents"' not in composed.html
    assert "Contents" not in unwrapped(composed.text)


def test_reasons_are_the_matched_words_never_rule_syntax(tmp_path):
    _, matches, composed = reader_digest(tmp_path)
    html, text = composed.html, composed.text
    why = re.findall(r'<p class="why".*?</p>', html, re.S)
    assert len(why) == len(matches)
    shown = " ".join(html_lib.unescape(re.sub(r"<[^>]+>", " ", w)) for w in why)
    assert "optimi*" not in shown and "/explain" not in shown and ".*" not in shown
    assert "optimization" in shown and "Schrödinger" in shown and "explaining predictions" in shown
    assert "optimi*" not in text and ".*" not in text and "Why: optimization · also in Schrödinger bridges (Schrödinger)" in text


def test_reasons_take_the_case_of_the_configs_term_not_of_the_first_hit(tmp_path):
    """The first hit is often a title's (title case) or a sentence's first
    word: readers were given "Why: interpretability, Explainable" and
    "Stochastic Gradient, SGD".  A term written in lower case gives its reason
    in lower case; acronyms, mixed-case names and terms written with capitals
    keep the paper's letters (the marks in the text always do)."""
    from newsletter.matching import Hit
    from newsletter.rendering import reason_words

    hits = [Hit("interpretab*", "abstract", "interpretability"), Hit("explainab*", "abstract", "Explainable"),
            Hit("stochastic gradient", "title", "Stochastic Gradient"), Hit("sgd", "title", "SGD"),
            Hit("physics-informed", "title", "Physics-Informed"), Hit("diffusion", "title", "AutoDiffusion"),
            Hit("Schrödinger bridge*", "title", "Schrödinger Bridges"), Hit("/\\bllms?\\b/", "title", "LLMs"),
            Hit("gpt*", "title", "GPT-4o")]
    assert reason_words(hits) == ["interpretability", "explainable", "stochastic gradient", "SGD", "physics-informed",
                                  "AutoDiffusion", "Schrödinger bridges", "LLMs", "GPT-4o"]
    _, _, composed = reader_digest(tmp_path)
    assert re.search(r"<mark[^>]*>Optimization</mark>", composed.html)  # the paper's own letters where it writes them


def test_a_greedy_pattern_marks_words_not_a_paragraph(tmp_path):
    _, _, composed = reader_digest(tmp_path)
    marks = re.findall(r"<mark[^>]*>(.*?)</mark>", composed.html, re.S)
    assert marks and max(len(html_lib.unescape(m)) for m in marks) <= 40
    card = next(c for c in cards(composed.html) if "Shapley" in c)
    abstract = re.search(r'<p class="abstract".*?</p>', card, re.S).group()
    # /explain.*predictions/ matched most of the abstract: only its two end words are marked
    assert re.findall(r"<mark[^>]*>(.*?)</mark>", abstract)[:1] == ["explain"]
    assert "predictions</mark>" in abstract and "trained network" not in "".join(re.findall(r"<mark.*?</mark>", abstract))


def test_highlight_caps_long_matches_and_keeps_escaping():
    from newsletter.matching import compile_term

    pattern = compile_term("/explain.*predictions/").regex  # a user's /regex/, as the email gets it
    out = str(highlight("We explain <b> & why the predictions hold", [pattern]))
    assert out == "We <mark>explain</mark> &lt;b&gt; &amp; why the <mark>predictions</mark> hold"
    assert str(highlight("so explain predictions", [pattern])) == "so <mark>explain predictions</mark>"


def test_card_shows_what_the_sources_know(tmp_path):
    _, _, composed = reader_digest(tmp_path)
    by_title = {re.search(r'class="paper-title".*?</p>', c, re.S).group(): c for c in cards(composed.html)}

    def card(words: str) -> str:
        return next(c for t, c in by_title.items() if words in html_lib.unescape(re.sub(r"<[^>]+>", "", t)))

    eps = card("Stationary Points")
    assert "7 Jun 2024" in eps and ">math.OC<" in eps
    assert 'href="https://arxiv.org/abs/2406.05112"' in eps and 'href="https://arxiv.org/pdf/2406.05112v1"' in eps
    assert 'href="https://github.com/example-lab/eps-stationary"' in eps and "Code (GitHub)" in eps  # from the comment
    shapley = card("Shapley")
    assert "Ngozi Eze, Lars Mikkelsen, Yuki Sato, …&nbsp;and&nbsp;11&nbsp;more" in shapley and "Pedro Alves" not in shapley
    assert 'href="https://gitlab.com/example-lab/optimizer-shapley"' in shapley
    bridges = card("Unpaired Image Translation")
    assert 'href="https://huggingface.co/example-lab/sb-translate"' in bridges  # named in the abstract
    cheap = card("Cheap Fine-Tuning")
    assert 'href="https://github.com/example-lab/cheap-ft"' in cheap  # bare github.com/... in the abstract
    groebner = card("Gröbner")
    assert "Code (" not in groebner  # names no repository
    assert 'href="https://arxiv.org/abs/2406.04403"' in re.search(r'class="paper-title".*?</p>', groebner, re.S).group()


def test_helpers_for_authors_and_code():
    from newsletter.models import Paper
    from newsletter.rendering import code_link, short_authors

    assert short_authors(["A", "B", "C", "D"]) == "A, B, C, D"
    assert short_authors(["A", "B", "C", "D", "E", "F"]) == "A, B, C, …\xa0and\xa03\xa0more"

    def paper(**kw):
        return Paper(title="t", abstract=kw.pop("abstract", ""), source="s", **kw)

    assert code_link(paper(comment="Code: https://github.com/a/b.")) == ("https://github.com/a/b", "GitHub")
    assert code_link(paper(abstract="see gitlab.com/x/y.git)")) == ("https://gitlab.com/x/y", "GitLab")
    assert code_link(paper(abstract="our page huggingface.co/papers/2406.1 and huggingface.co/datasets/o/d")) == (
        "https://huggingface.co/datasets/o/d", "Hugging Face")
    assert code_link(paper(abstract="no code here, github.com alone")) is None
    assert code_link(paper(github="https://github.com/hf/listed", comment="https://github.com/other/one")) == (
        "https://github.com/hf/listed", "GitHub")
    assert code_link(paper(abstract="Code: HTTPS://GitHub.COM/Ada/Tool.")) == ("https://github.com/Ada/Tool", "GitHub")


def test_a_host_spelled_with_a_dotless_i_is_no_code_link_and_no_error():
    """Blind to case, the pattern's ``i`` matches ``ı`` and ``İ``: the host it
    found was no key of the hosts' names (a KeyError: the card failed)."""
    from newsletter.models import Paper
    from newsletter.rendering import code_link

    for abstract in ("Code: https://gıthub.com/ada/tool.", "See HUGGİNGFACE.co/ada/tool"):
        assert code_link(Paper(title="t", abstract=abstract, source="s")) is None
    both = "Mirror gıthub.com/x/y, code github.com/ada/tool."
    assert code_link(Paper(title="t", abstract=both, source="s")) == ("https://github.com/ada/tool", "GitHub")


def test_text_part_is_wrapped_at_72_columns_and_sent_flowed(tmp_path):
    """The text part's prose is wrapped at 72 columns (one 600-character
    abstract was one line, shown a screen wide where the app does not wrap),
    with soft breaks a format=flowed reader joins again: each abstract,
    joined, is the card's whole; no URL is broken; a title's next lines are
    indented under it."""
    from email import message_from_bytes
    from email.policy import default

    _, matches, composed = reader_digest(tmp_path)
    msg = message_from_bytes(composed.data, policy=default)
    part = msg.get_body(("plain",))
    assert part["Content-Type"].params == {"charset": "utf-8", "format": "flowed"}
    text = part.get_content().replace("\r\n", "\n")
    assert text == composed.text
    lines = text.splitlines()
    link = re.compile(r"(Abstract|Search arXiv|PDF|Code|Unsubscribe): \S+")
    for line in lines:
        # over 72 only a line of one unbreakable token, or a link's label and its URL
        assert len(line.rstrip(" ")) <= 72 or " " not in line.strip() or link.fullmatch(line), line
    assert max(len(line) for line in lines) > 60  # wrapped near the width, not short
    assert any(line.endswith(" ") for line in lines)  # soft breaks
    # a line starting with a space loses it in a flowed reader (RFC 3676 stuffing): indents are no-break spaces
    assert not any(line.startswith((" ", ">", "From ")) for line in lines)
    assert any(line.startswith("\u00a0" * 4) for line in lines)  # a title's next line, hung under it
    assert not any(line.strip() == "\u2026" for line in lines)  # a trimmed abstract's "…" ends a line of words
    joined = unwrapped(text).splitlines()
    for m in matches:  # each abstract, joined again, is one paragraph
        assert unbroken_before_operators(trim(m.paper.abstract, 600)) in joined
        assert m.paper.title in unwrapped(text)
    urls = re.findall(r"https?://\S+", composed.html.replace('"', " ").replace("<", " "))
    for url in set(re.findall(r"https?://\S+", text)):
        assert html_lib.unescape(url) in map(html_lib.unescape, urls)  # each URL whole, as the HTML links it
    assert "Why: " in text and "Abstract: https://arxiv.org/abs/" in text and "PDF: https://arxiv.org/pdf/" in text
    assert "\n-- \nYou receive this digest for: " in text and "\nUnsubscribe: " in text


def test_flowed_breaks_at_spaces_only_and_indents_a_list_items_next_lines():
    """``flowed`` breaks no URL, arXiv id or hyphenated word, even one longer
    than the width; a list item's lines after its first are indented under
    its text, hard broken; a line that would start with ">" or "From " is
    space-stuffed (RFC 3676), or a flowed reader showed it as a quote."""
    url = "https://example.org/" + "a" * 80
    text = f"See {url} and 2406.01234v2 for the well-known state-of-the-art-but-rather-long-hyphenated-name " * 3
    out = flowed(text.strip())
    lines = out.split("\n")
    assert all(line.endswith(" ") for line in lines[:-1]) and not lines[-1].endswith(" ")
    assert "".join(lines) == text.strip()  # soft breaks: the spaces it broke at, nothing lost or added
    assert url + " " in lines and all(len(line) <= 72 or line.strip() == url for line in lines)
    assert out.count("2406.01234v2") == 3 and out.count("state-of-the-art-but-rather-long-hyphenated-name") == 3
    item = flowed("A Title That Goes On and On About Diffusion Models and Their Many Samplers", "  [12] ", 40)
    first, *rest = item.split("\n")  # indented in no-break spaces: a flowed reader takes a space off each line's start
    nbsp = "\u00a0"
    assert first.startswith(nbsp * 2 + "[12] A Title") and len(rest) == 2 and all(len(line) <= 40 for line in [first, *rest])
    assert all(line.startswith(nbsp * 7) and line[7] != nbsp and not line.endswith(" ") for line in rest)
    assert " ".join(line.strip() for line in [first[7:], *rest]) == "A Title That Goes On and On About Diffusion " \
        "Models and Their Many Samplers"
    # a trimmed abstract's "…" stays with the word before it, not alone on the last line
    assert flowed("a " * 34 + "bbb \u2026") == "a " * 33 + "a \nbbb \u2026"
    assert flowed("one\n\ntwo") == "one\n\ntwo"  # its line breaks kept
    assert flowed("a" * 68 + " >90% accuracy") == "a" * 68 + " \n >90% accuracy"
    assert flowed("a" * 68 + " From here on") == "a" * 68 + " \n From here on"
    assert flowed("a" * 68 + " Fromage") == "a" * 68 + " \nFromage"


def flowed_lines(text: str) -> list[str]:
    """A format=flowed (RFC 3676, DelSp=no) text as a reader that knows the
    format shows it: each line unstuffed (one leading space taken off), and
    each soft break (a line ending in a space, but the signature's "-- ")
    joined to the next line."""
    out: list[str] = []
    soft = False
    for line in text.replace("\r\n", "\n").rstrip("\n").split("\n"):
        line = line[1:] if line.startswith(" ") else line
        if soft:
            out[-1] += line
        else:
            out.append(line)
        soft = line.endswith(" ") and line != "-- "
    return out


def _sent_text(composed) -> str:
    from email import message_from_bytes
    from email.policy import default

    part = message_from_bytes(composed.data, policy=default).get_body(("plain",))
    assert part["Content-Type"].params == {"charset": "utf-8", "format": "flowed"}
    return part.get_content().replace("\r\n", "\n")


def test_a_digest_txt_of_ones_own_without_flowed_is_sent_as_its_lines_are(tmp_path):
    """The text part is declared format=flowed whatever its template: the
    previous default digest.txt (no ``flowed`` filter) as a template of one's
    own sent its contents lines starting with spaces, unstuffed (a flowed
    reader took one off).  Each line is now shown as the template wrote it
    (its indent in no-break spaces), none joined to the next."""
    tpl = tmp_path / "tpl"
    tpl.mkdir()
    shutil.copy(DATA / "digest-before-flowed.txt", tpl / "digest.txt")
    config, matches, composed = reader_digest(tmp_path, READER_CONFIG + "templates: tpl\n")
    text = _sent_text(composed)
    lines = text.split("\n")
    assert any(line.startswith("\u00a0\u00a0[1] ") for line in lines)  # the contents, indented as written
    for line in lines:
        assert not line.startswith(" ") or line.startswith((" >", " From ")), line  # a plain space: unstuffed
        assert not line.endswith(" ") or line == "-- ", line  # no soft break the template did not make
    composer = Composer(config)
    raw = composer._render_part(composer.text_template, composer.context(config.subscribers[0], matches, NOW))
    assert raw != text and "\n  [1] " in raw
    shown = [re.sub("^\u00a0+", lambda m: " " * len(m[0]), line) for line in flowed_lines(text)]  # indents
    assert shown == [line if line == "-- " else line.rstrip(" ") for line in raw.rstrip("\n").split("\n")]


def test_a_line_the_default_digest_txt_starts_with_a_topics_name_or_title_is_space_stuffed(tmp_path):
    """A topic named "From SGD to Adam" started a contents line "From SGD
    ...", unstuffed in a format=flowed part (RFC 3676: a flowed reader takes
    one space off a stuffed line, and a relay may write ">From"); a name or
    a title starting with ">" showed as a quote."""
    named = READER_CONFIG.replace("name: Optimization", "name: From SGD to Adam").replace(
        "name: Schrödinger bridges", 'name: ">quoted bridges"') + 'email:\n  title: ">From the lab"\n'
    _, _, composed = reader_digest(tmp_path, named)
    text = _sent_text(composed)
    lines = text.split("\n")
    assert lines[0].startswith(" >From the lab - ")
    assert any(re.fullmatch(r" From SGD to Adam \(\d+\)", line) for line in lines), text[:1000]
    assert any(re.fullmatch(r" >quoted bridges \(\d+\)", line) for line in lines)
    assert not any(line.startswith((">", "From ")) for line in lines)
    shown = flowed_lines(text)
    assert shown[0].startswith(">From the lab - ")
    assert any(re.fullmatch(r"From SGD to Adam \(\d+\)", line) for line in shown)
    assert any(re.fullmatch(r">quoted bridges \(\d+\)", line) for line in shown)
    assert "You receive this digest for: From SGD to Adam, >quoted bridges." in shown


def test_the_finished_text_part_makes_only_the_filters_breaks_soft():
    """One pass over the rendered text part: stray trailing spaces off (a
    flowed reader joined such a line to the next), the filter's soft breaks
    spaces, indents in no-break spaces, ">" and "From " stuffed, the
    signature separator kept."""
    from newsletter.rendering import _flowed_marked, flowed_text

    marked = _flowed_marked("word " * 20 + "From here on")
    raw = "Title \n  indented  \n>quote\nFrom me\nFromage\n" + marked + "\n-- \nbye \n"
    out = flowed_text(raw)
    assert out == ("Title\n\u00a0\u00a0indented\n >quote\n From me\nFromage\n" + "word " * 14 + "\n"
                   + "word " * 6 + "From here on\n-- \nbye\n")
    assert flowed_lines(out) == ["Title", "\u00a0\u00a0indented", ">quote", "From me", "Fromage",
                                 "word " * 20 + "From here on", "-- ", "bye"]
    assert flowed_text("-- \r\n   \r\n >x  \r\n--  \n --  ") == "-- \n\n\u00a0>x\n--\n\u00a0--"  # no final break


def test_the_finished_text_part_is_its_lines_each_finished_alone():
    """flowed_text finds what it changes with searches over the whole part
    (its cost was a third of the text part's): the same as finishing each
    line alone, on 20,000 random texts of the pieces that matter (seeded)."""
    from newsletter.rendering import _SOFT, flowed_text

    def finished(line: str) -> str:
        line = (line if line == "-- " else line.rstrip(" ")).replace(_SOFT, " ")
        indent = len(line) - len(line.lstrip(" "))
        line = "\u00a0" * indent + line[indent:]
        return " " + line if line.startswith((">", "From ")) else line

    pieces = [" ", "  ", "\n", "\r", "\r\n", ">", "From ", "From", "-- ", "--", "word", "\u00a0", _SOFT, "\t", "\n "]
    rng = random.Random(15)
    for _ in range(20_000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randrange(16)))
        lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        assert flowed_text(text) == "\n".join(map(finished, lines)), repr(text)


def test_the_flowed_filters_wrap_is_textwraps_line_for_line():
    """The filter finds each line's end with one search for the last space
    that fits (textwrap's loop over every word was most of a wrap): the
    same lines as textwrap (break_long_words and break_on_hyphens off) on
    20,000 random paragraphs (seeded): runs of spaces, words longer than a
    line, leads, no-break spaces in a word and alone, and the white space it
    leaves to textwrap (tabs, a paragraph starting with a space)."""
    import textwrap

    from newsletter.rendering import _wrapped_lines

    rng = random.Random(15)
    for _ in range(20_000):
        pieces = []
        for _ in range(rng.randrange(1, 30)):
            kind = rng.random()
            if kind < 0.55:
                pieces.append("".join(rng.choice("abcdef-./…") for _ in range(rng.choice([1, 2, 5, 8, 12, 30, 60]))))
            elif kind < 0.92:
                pieces.append(" " * rng.choice([1, 1, 1, 2, 3]))
            else:
                pieces.append(rng.choice(["\t", "\u00a0", "\u00a0…", " \u00a0 ", "\u2009", "\x0b", " x"]))
        paragraph, lead = "".join(pieces), rng.choice(["", "", "[1] ", "  [12] "])
        if not paragraph.strip():
            continue
        width = max(rng.choice([30, 50, 72, 100]), len(lead) + 20)
        expected = textwrap.wrap(paragraph, width - 1, initial_indent=lead, subsequent_indent=" " * len(lead),
                                 break_long_words=False, break_on_hyphens=False)
        assert _wrapped_lines(paragraph, width, lead) == expected, (paragraph, lead, width)


def test_thirty_paper_digest_stays_under_gmail_clipping(tmp_path):
    """30 papers with full 600-character abstracts, contents list and every link: under 100 KB."""
    for f in DATA.glob("hf-papers-*.txt"):
        (tmp_path / "papers").mkdir(exist_ok=True)
        shutil.copy(f, tmp_path / "papers" / f.name)
    text = READER_CONFIG.replace("sources:\n", "sources:\n  - type: hf-papers-text\n    path: papers/*.txt\n")
    text = text.replace('any: ["Schrödinger", "diffusion model*"]', 'any: ["Schrödinger", "diffusion model*", "the"]')
    _, matches, composed = reader_digest(tmp_path, text)
    assert len(matches) == 30
    size = len(composed.html.encode("utf-8"))
    assert size < 100 * 1024 and not composed.warnings, size
    assert len(cards(composed.html)) == 30


def _sixty_paper_digest(tmp_path, extra=""):
    for f in DATA.glob("hf-papers-*.txt"):
        (tmp_path / "papers").mkdir(exist_ok=True)
        shutil.copy(f, tmp_path / "papers" / f.name)
    text = READER_CONFIG.replace("sources:\n", "sources:\n  - type: hf-papers-text\n    path: papers/*.txt\n")
    text = text.replace('any: ["Schrödinger", "diffusion model*"]', 'any: ["Schrödinger", "diffusion model*", "the"]')
    return reader_digest(tmp_path, text.replace("max_papers: 30", "max_papers: 60") + extra)


def test_a_sixty_paper_digest_spends_no_bytes_on_what_no_one_sees(tmp_path):
    """What a 60-paper digest carried that nobody sees is gone: the spaces of
    some 1,500 inlined declarations, a link colour on each card's empty
    ``<a name>``, the paper's id or title spelt out in each anchor, written
    twice per paper (176 KB before, 165 KB after), and each card's text
    styles written on each of its paragraphs rather than once on the card,
    which they inherit (165 KB -> 153 KB)."""
    config, matches, composed = _sixty_paper_digest(tmp_path)
    composer = Composer(config)
    sub = config.subscribers[0]
    html = composer.render(sub, matches, NOW, clip=False)[1]  # every paper as a card
    assert len(matches) == 60 and len(cards(html)) == 60
    assert not re.search(r'<a name="[^"]*" style=', html) and ": " not in re.findall(r'style="([^"]*)"', html)[0]
    anchors = re.findall(r'<a name="([^"]+)"', html)
    assert len(anchors) == 60 + 1 + 2 and all(len(a) <= 14 for a in anchors)  # cards, contents, two topics
    for a in anchors:  # each link finds its card
        assert a == "contents" or f'href="#{a}"' in html
    assert not re.search(r'class="abstract" style="[^"]*font-size', html)  # the card's, inherited
    assert len(html.encode("utf-8")) < 156 * 1024


def test_an_html_template_sends_no_indentation_but_where_it_shows(tmp_path):
    """The default template's indentation was 2 KB of a 60-paper digest (a
    card of the 31 that fit Gmail's clip): its lines go without it, the
    newline kept (so the text reads the same); a template of the user's
    with preformatted text keeps every space."""
    config, matches, composed = _sixty_paper_digest(tmp_path)
    assert not re.search(r"\n[ \t]+\S", composed.html)
    assert len(cards(composed.html)) >= 32
    tpl = own_templates(tmp_path)
    html = (tpl / "digest.html").read_text(encoding="utf-8")
    (tpl / "digest.html").write_text(html.replace("<body>", "<body>\n<pre>\n    an indented line\n</pre>"),
                                     encoding="utf-8")
    config = load_config(write_config(tmp_path, (tmp_path / "config.yaml").read_text() + "templates: tpl\n"))
    html = Composer(config).render(config.subscribers[0], matches[:2], NOW)[1]
    assert "<pre>    an indented line\n" in html and '\n    <p class="paper-title"' in html


@pytest.mark.parametrize("mark", ['<div style="white-space: break-spaces">', '<div style="white-space-collapse: preserve">',
                                  '<div style="WHITE-SPACE: PRE">', '<div style="white-space : pre">', "<PRE>",
                                  "<Textarea>", '<div style="white-space:pre-wrap">'])
def test_preformatted_text_in_any_case_or_spacing_keeps_its_indentation(mark):
    """`white-space: break-spaces`, `white-space-collapse: preserve`,
    `WHITE-SPACE: PRE` and `white-space : pre` show spaces as written too, and
    lost their indentation: only the exact lower-case spellings were known."""
    from newsletter.rendering import unindented

    html = f"<body>\n  {mark}\n    an indented line\n  </div>\n</body>"
    assert unindented(html) == html
    assert unindented('<body>\n  <div style="white-space: normal">\n    a line\n  </div>') == (
        '<body>\n<div style="white-space: normal">\na line\n</div>')


def test_a_digest_over_gmails_clip_lists_its_last_papers_in_brief(tmp_path):
    """Gmail cut a 60-paper digest (153 KB) at about 102 KB, mid-card, and
    the footer with the unsubscribe link went with it.  The best papers stay
    cards; the rest are listed under "N more papers", by topic, reached from
    the contents, each in brief: its linked title, authors, why it is here
    and its PDF and code links, without its abstract (by title only they
    told a reader nothing of why to open them); the whole fits, the text part
    has every paper in full, and the warning says what would show each in full."""
    config, matches, composed = _sixty_paper_digest(tmp_path)
    html = composed.html
    assert len(html.encode("utf-8")) <= 100 * 1024
    shown = len(cards(html))
    assert 35 <= shown < 60  # 32 when the styles of each mark, chip and number were inlined
    more = html[html.index('<a name="more">'):html.index('class="footer"')]
    visible = html_lib.unescape(re.sub(r"<[^>]+>", "", more))
    assert f"{60 - shown} more papers" in visible and "In brief, without their abstracts" in visible
    composer = Composer(config)
    entries = re.findall(r'<p class="contents-item".*?</p>', more, re.S)
    assert len(entries) == 60 - shown
    for m, entry in zip(sorted(matches[shown:], key=lambda m: m.topics[0] != "optim"), entries):
        paper = m.paper
        card = composer._card(m, 600)
        seen = html_lib.unescape(re.sub(r"<[^>]+>", "", entry))
        assert html_lib.escape(paper_link(paper)) in entry and paper.title[:20] in seen
        assert paper.abstract[:80] not in html
        assert f"Why: {', '.join(card.reasons)}" in seen, seen
        if paper.authors:
            assert card.authors_text in seen
        for url in (card.pdf_url, card.code_url):
            assert url is None or f'href="{html_lib.escape(url)}"' in entry
    for m in matches[:shown]:  # the best ones are the cards
        assert any(f'name="{anchor_for(m.paper.id)}"' in card for card in cards(html))
    # numbered after the cards, by topic, each topic once
    assert re.findall(r'class="num"[^>]*>(\d+)\.', more)[0] == str(shown + 1)
    assert visible.count("Diffusion") >= 1 and 'href="#more"' in html and "(in brief)" in html
    assert "unsubscribe" in html[html.index('class="footer"'):]
    for m in matches:  # the text part keeps every paper whole
        assert composed.text.count("\n" + m.paper.abstract[:40]) == 1, m.paper.title
    (warning,) = composed.warnings
    assert (f"so its last {60 - shown} of 60 papers are listed in brief, without their abstracts; to show each in "
            "full, lower max_papers") in warning


def test_papers_listed_in_brief_say_the_reason_they_all_give_once_over_them(tmp_path):
    """A clipped digest listed its last papers in brief each with its "Why:",
    and where a topic of one term found them all, 86 lines in a row ended
    "Why: guarantees": the reason they share is said once, under their
    topic's name, as over the cards; a paper keeps what only it has (its
    other topics), and the bytes saved make room for more cards."""
    for f in DATA.glob("hf-papers-*.txt"):
        (tmp_path / "papers").mkdir(exist_ok=True)
        shutil.copy(f, tmp_path / "papers" / f.name)
    text = READER_CONFIG.replace("sources:\n", "sources:\n  - type: hf-papers-text\n    path: papers/*.txt\n")
    text = text.replace('any: ["Schrödinger", "diffusion model*"]', 'any: ["the"]').replace("max_papers: 30", "max_papers: 60")
    config, matches, composed = reader_digest(tmp_path, text)
    html = composed.html
    more = html[html.index('<a name="more">'):html.index('class="footer"')]
    visible = html_lib.unescape(re.sub(r"<[^>]+>", "", more))
    assert "In brief, without their abstracts" in visible
    listed = [m for m in matches if m.topics[0] == "bridges" and anchor_for(m.paper.id) not in html]
    assert len(listed) >= 5
    assert visible.count("Why, for every paper below: the") == 1 and "Why: the" not in visible
    after = more[more.index("Why, for every paper below: the"):]
    entries = [html_lib.unescape(re.sub(r"<[^>]+>", "", e)) for e in re.findall(r'<p class="contents-item".*?</p>', after, re.S)]
    assert len(entries) == len(listed)
    for m, entry in zip(listed, entries):  # none says "Why:"; each says its other topic
        assert "Why:" not in entry and m.paper.title[:20] in entry
        assert ("Also in Optimization" in entry) == (len(m.topics) > 1), entry
    assert any(len(m.topics) > 1 for m in listed)


def test_a_digest_too_big_even_in_brief_lists_its_last_papers_by_title(tmp_path):
    """Where even the papers in brief would not fit, the rest are listed by
    title only, as before, rather than the whole digest sent over the clip."""
    config, matches, composed = _sixty_paper_digest(tmp_path, "email:\n  max_html_kb: 30\n")
    html = composed.html
    assert len(html.encode("utf-8")) <= 30 * 1024
    shown = len(cards(html))
    more = html[html.index('<a name="more">'):html.index('class="footer"')]
    visible = html_lib.unescape(re.sub(r"<[^>]+>", "", more))
    assert f"{60 - shown} more papers" in visible and "Titles only" in visible and "Why:" not in visible
    assert len(re.findall(r'<p class="contents-item"', more)) == 60 - shown
    (warning,) = composed.warnings
    assert f"so its last {60 - shown} of 60 papers are listed by title only" in warning


def test_a_template_of_the_users_that_shows_no_more_keeps_every_card(tmp_path):
    """A template written before ``more`` existed would drop the papers listed
    there, sent and recorded as sent yet shown nowhere in the HTML: it keeps
    every card, and the warning says what would make it fit."""
    tpl = own_templates(tmp_path)
    html = (tpl / "digest.html").read_text(encoding="utf-8")
    # the contents' line of them, and the list after the cards (up to the footer)
    html = re.sub(r"\{% if more %\}\n    <p class=\"contents-topic\">.*?\{% endif %\}\n", "", html, flags=re.S)
    html = re.sub(r"\{% if more %\}\n\{#- A digest too big.*?(?=  <tr><td class=\"footer\">)", "", html, flags=re.S)
    (tpl / "digest.html").write_text(html, encoding="utf-8")
    config, matches, composed = _sixty_paper_digest(tmp_path, "templates: tpl\n")
    assert "more" not in (tpl / "digest.html").read_text(encoding="utf-8")
    assert len(cards(composed.html)) == 60 and len(composed.html.encode()) > 100 * 1024
    (warning,) = composed.warnings
    assert "over 100 KB" in warning and "by title only" not in warning


def test_a_too_big_digests_advice_renders_only_its_html_as_the_clip_does(tmp_path, monkeypatch):
    """The advice for a too-big digest rendered whole digests again beside
    the clip's cuts (subject, text part and HTML, for no papers and for each
    count it tried): one way of cutting a digest now serves both, and the
    text part is rendered for the digest only."""
    from newsletter import rendering

    config, matches, _ = _sixty_paper_digest(tmp_path)
    composer = Composer(config)
    rendered = []
    real = rendering._render_bounded
    monkeypatch.setattr(rendering, "_render_bounded", lambda t, ctx: rendered.append(t.name) or real(t, ctx))
    composed = composer.compose(config.subscribers[0], matches, now=NOW)
    assert "lower max_papers to about" in composed.warnings[0]
    assert rendered.count("digest.txt") == 2  # the shared body's, and its check against the subscriber's own
    assert rendered.count("digest.html") > 4  # the whole, the clip's cuts and the advice's


def test_a_template_that_counts_more_but_lists_none_of_it_keeps_every_card(tmp_path):
    """A template of the user's that kept the contents' "29 more papers"
    (``more | length``) but deleted the list after the cards was taken to
    show ``more``: 29 papers were sent, recorded as sent, and shown nowhere
    in the HTML.  Every paper stays a card, and the warning says why."""
    tpl = own_templates(tmp_path)
    html = (tpl / "digest.html").read_text(encoding="utf-8")
    start = html.index("{% if more %}\n{#- A digest too big")
    end = html.index('  <tr><td class="footer">')
    (tpl / "digest.html").write_text(html[:start] + html[end:], encoding="utf-8")
    config, matches, composed = _sixty_paper_digest(tmp_path, "templates: tpl\n")
    assert "more | length" in (tpl / "digest.html").read_text(encoding="utf-8")
    assert len(matches) == 60 and len(cards(composed.html)) == 60
    for m in matches:
        assert f'name="{anchor_for(m.paper.id)}"' in composed.html
    (warning,) = composed.warnings
    # no count: the one said was the size search's first try (half the papers), not a number of this digest
    assert "counts the papers of `more` but lists none of them (the default digest.html lists each" in warning, warning
    assert "every paper stays a card; lower max_papers to about" in warning and "by title only" not in warning


def test_a_template_that_lists_only_some_of_more_says_so_and_keeps_every_card(tmp_path):
    """A template listing the first paper of each `more` section was told it
    listed "none of 30" of them, a count of the size search's first try."""
    tpl = own_templates(tmp_path)
    html = (tpl / "digest.html").read_text(encoding="utf-8")
    at = html.index("{% for p in section.papers %}", html.index("{% for section in more_sections %}"))
    (tpl / "digest.html").write_text(html[:at] + "{% for p in section.papers[:1] %}"
                                     + html[at + len("{% for p in section.papers %}"):], encoding="utf-8")
    config, matches, composed = _sixty_paper_digest(tmp_path, "templates: tpl\n")
    assert len(matches) == 60 and len(cards(composed.html)) == 60
    (warning,) = composed.warnings
    assert "counts the papers of `more` but lists only some of them (" in warning, warning


def test_a_fault_in_the_more_list_of_the_users_template_is_one_located_template_error(tmp_path):
    """Only a digest over Gmail's clip renders the "more papers" list; its cut
    was rendered outside the error handling of the whole digest, so a field
    misspelt there came out as jinja2's UndefinedError (in ``send``, an
    "unexpected error" for every big digest) rather than one TemplateError at its line."""
    tpl = own_templates(tmp_path)
    html = (tpl / "digest.html").read_text(encoding="utf-8")
    line = html[:html.index("{{ section.count }}", html.index("{% for section in more_sections %}"))].count("\n") + 1
    cut = html.index("{% for section in more_sections %}")
    (tpl / "digest.html").write_text(html[:cut] + html[cut:].replace("{{ section.count }}", "{{ section.cuont }}", 1),
                                     encoding="utf-8")
    with pytest.raises(TemplateError) as err:
        _sixty_paper_digest(tmp_path, "templates: tpl\n")
    assert str(err.value).startswith(f"{tpl / 'digest.html'}:{line}: template error: "), str(err.value)
    assert "cuont" in str(err.value) and "count" in str(err.value)


def test_the_advice_for_a_too_big_digest_offers_no_unreadable_abstract_length(tmp_path):
    """"lower max_papers to about 43 (it has 60), or abstract_chars to about 7
    (it is 600)": an abstract of 7 characters is no abstract."""
    count, size, (warning,) = _size_warning(tmp_path, 64, 300)
    assert count == 64 and size > 100 * 1024
    found = re.search(r"lower max_papers to about \d+ \(it has 64\): abstract_chars would have to be about (\d+) "
                      r"\(it is 300\), too short to read$", warning)
    assert found and int(found[1]) < 150, warning


def test_a_ranked_card_marks_the_phrases_its_reason_names(tmp_path):
    """"Why: Close to your interest in Schrödinger bridges" under a card that
    marked nothing: the reader looked for the words.  They are marked as the
    paper writes them (singular, capitalised, hyphenated), in the title and
    the abstract; the text part has no marks."""
    from newsletter.matching import PaperMatch
    from newsletter.models import Paper
    from newsletter.reasons import ranked

    config = load(tmp_path)
    sub = config.subscribers[0]
    paper = Paper("A Reflected Schrödinger Bridge", "We train score-based models with a large step size.", "s")
    m = PaperMatch(paper, 0.9, (sub.topics[0],), (), (),
                   topic_reasons=(ranked(["Schrödinger bridges", "score based", "step sizes", "flow matching"]),))
    composed = Composer(config).compose(sub, [m], now=NOW)
    card = cards(composed.html)[0]
    for marked in ("Schrödinger Bridge", "score-based", "step size"):
        assert re.search(rf"<mark[^>]*>{marked}</mark>", card), marked
    assert card.count("<mark") == 3 and "<mark" not in unwrapped(composed.text)
    assert "Why: Close to your interest in Schrödinger bridges, score based, step sizes and flow matching" in unwrapped(composed.text)


def test_a_word_the_reasons_sentence_says_is_not_said_again_after_it(tmp_path):
    """A topic with both ``about`` and ``any`` read "Why: Close to your
    interest in human preferences · preference": the term's word again,
    after the sentence that said it.  A word a phrase of the sentence holds
    goes; one saying more than the phrase, or one only the topic's name
    holds ("Preference learning"), stays, as it tells what the paper wrote."""
    from newsletter.matching import Hit, PaperMatch
    from newsletter.models import Paper
    from newsletter.reasons import ranked

    config = load(tmp_path)
    sub = config.subscribers[0]
    paper = Paper("Diffusion models from human preferences", "Score-based diffusion models trained on preferences.", "s")
    hits = (Hit("diffusion model*", "title", "Diffusion models"), Hit("score-based", "abstract", "Score-based"))
    said = PaperMatch(paper, 0.9, (sub.topics[0],), ("diffusion model*", "score-based"), hits,
                      topic_reasons=(ranked(["diffusion model", "human preferences"]),))
    composed = Composer(config).compose(sub, [said], now=NOW)
    assert "Why: Close to your interest in diffusion model and human preferences · score-based\n" in unwrapped(composed.text)
    assert "Why: Close to your interest in diffusion model and human preferences · <span" in cards(composed.html)[0]
    assert len(re.findall(r'class="term"', composed.html)) == 1  # "score-based" only
    in_meaning = PaperMatch(paper, 0.9, (sub.topics[0],), ("diffusion model*",), hits[:1], topic_reasons=(ranked(),))
    text = unwrapped(Composer(config).compose(sub, [in_meaning], now=NOW).text)
    assert "Why: Close in meaning to this topic · diffusion models\n" in text


def test_a_template_listing_all_papers_names_the_topic_each_is_close_in_meaning_to(tmp_path):
    """A card close in meaning to its topic alone says "close in meaning to
    this topic" under that topic's heading (``p.reason_here``, the default
    templates); ``p.reason`` said so too, and a template of one's own listing
    ``all_papers`` (a flat list, no headings) lost which topic each paper was
    for.  It names the topic, as before."""
    from newsletter.matching import PaperMatch
    from newsletter.models import Paper
    from newsletter.reasons import ranked

    tpl = tmp_path / "tpl"
    tpl.mkdir()
    (tpl / "digest.txt").write_text("{% for p in all_papers %}{{ p.title }}: {{ p.reason }}\n{% endfor %}")
    config = load(tmp_path, extra="templates: tpl\n")
    sub = next(s for s in config.subscribers if len(s.topics) == 2)
    first, second = (config.topic_name(t) for t in sub.topics)
    matches = [PaperMatch(Paper(f"Paper {i}", "An abstract.", "s"), 0.9 - i / 10, (t,), (), (), topic_reasons=(ranked(),))
               for i, t in enumerate(sub.topics)]
    composed = Composer(config).compose(sub, matches, now=NOW)
    assert composed.text == (f"Paper 0: close in meaning to your interest in {first}\n"
                             f"Paper 1: close in meaning to your interest in {second}\n")
    (tmp_path / "default").mkdir()
    default = Composer(load(tmp_path / "default")).compose(sub, matches, now=NOW)  # the headings name them
    assert unwrapped(default.text).count("Why: Close in meaning to this topic\n") == 2
    assert "your interest in" not in default.text and "Why: Close in meaning to this topic</p>" in default.html


@pytest.mark.parametrize(("phrase", "text", "marked"), [
    ("bias", "We remove biases; the bias stays.", ["biases", "bias"]),  # "bia(?:e?s)?" missed "biases"
    ("social biases", "A social bias, and social biases.", ["social bias", "social biases"]),  # was "biase"
    ("gases", "A noble gas; noble gases.", ["gas", "gases"]),  # was "gase"
    ("use cases", "One use case, two use cases.", ["use case", "use cases"]),  # "cases" is "case", not "cas"
    ("analysis", "Two analyses agree.", ["analyses"]),
    ("analyses", "One analysis agrees.", ["analysis"]),
    ("Gaussian processes", "A Gaussian process prior.", ["Gaussian process"]),  # "processe(?:e?s)?"
    ("Bayes", "Naive Bayes and Bayesian nets.", ["Bayes"]),
    ("lasso", "The lasso, and group lassos.", ["lasso", "lassos"]),
    ("policies", "One policy, many policies.", ["policy", "policies"]),
    ("news", "A new corpus of news.", ["news"]),  # "new" is another word
    ("dynamics", "Dynamic programming for training dynamics.", ["dynamics"]),
    ("k-means", "k-means beats the k mean.", ["k-means"]),
])
def test_a_reasons_phrase_marks_its_other_number_and_nothing_else(phrase, text, marked):
    """A final "s" was dropped by rule: "bias" missed "biases", "analysis"
    "analyses", "Gaussian processes" "Gaussian process", and "news" marked "new"."""
    from newsletter.rendering import phrase_pattern

    assert re.findall(r"<mark>(.*?)</mark>", str(highlight(text, [phrase_pattern(phrase)]))) == marked


def test_another_topic_named_as_its_found_phrase_in_the_other_number_is_said_once():
    """"also in Gaussian processes (Gaussian process)" said the name twice:
    the name and the word were compared with one "s" dropped."""
    from newsletter.matching import PaperMatch
    from newsletter.models import Paper
    from newsletter.rendering import also_in

    names = {"a": "Kernels", "gp": "Gaussian processes", "b": "Bias"}.__getitem__
    found = {"gp": ["Gaussian process"], "b": ["biases", "fairness"]}.__getitem__
    paper = Paper("t", "x", "s")
    assert also_in(PaperMatch(paper, 1.0, ("a", "gp", "b"), (), ()), names, found) == (
        "Gaussian processes", "Bias (fairness)")


def test_a_common_word_is_marked_a_few_times_not_everywhere():
    out = str(highlight("the a the b the c the d the", [re.compile(r"\bthe\b")]))
    assert out.count("<mark>") == 3 and out.endswith("d the")


def test_reason_words_name_fields_in_words_and_search_links_say_so(tmp_path):
    from newsletter.matching import Hit
    from newsletter.rendering import reason_words

    hits = [Hit("optimi*", "title", "Optimization"), Hit("optimi*", "abstract", "optimizer"),
            Hit("cs.LG", "categories", "cs.LG"), Hit("Ana Müller", "authors", "Ana Müller"),
            Hit("/a.*z/", "abstract", "a " + "long " * 20 + "z")]
    assert reason_words(hits) == ["optimization", "in cs.LG", "by Ana Müller", "a … z"]
    config = load(tmp_path)  # hf-papers-text papers: no abstract page known
    (sub, matches), = digests(config, "ada@example.org")
    composed = Composer(config).compose(sub, matches, now=NOW)
    assert ">Search arXiv</a>" in composed.html and ">Abstract</a>" not in composed.html
    assert "Search arXiv: https://arxiv.org/search/?query=" in unwrapped(composed.text)


def test_a_paper_known_by_its_arxiv_id_alone_links_its_abstract_page_as_abstract(tmp_path):
    """The link and its label come from one decision: an arXiv id without a URL
    links the abstract page, so the card must not call it a search."""
    from dataclasses import replace

    config = load(tmp_path)
    (sub, matches), = digests(config, "ada@example.org")
    first = matches[0]
    paper = replace(first.paper, arxiv_id="2206.00364", url=None)
    composed = Composer(config).compose(sub, [replace(first, paper=paper)], now=NOW)
    assert '<a href="https://arxiv.org/abs/2206.00364"' in composed.html
    assert "Abstract: https://arxiv.org/abs/2206.00364" in unwrapped(composed.text)
    assert "Search arXiv" not in unwrapped(composed.text)


TWO_TOPICS = """
sources:
  - type: hf-papers-text
    path: papers/
topics:
  wide:
    name: Optimisation at large
    any: ["optimi*"]
  sgd:
    name: SGD
    any: ["SGD"]
  steps:
    name: Step sizes
    about: Stochastic gradient descent and adaptive optimisers such as Adam, their step sizes and convergence.
  rates:
    name: Learning rates
    about: Learning rate schedules and adaptive optimisers for training neural networks with SGD or Adam.
subscribers:
  - email: ada@example.org
    topics: [wide, sgd]
    max_papers: 200
  - email: bob@example.org
    topics: [steps, rates]
"""


def _sections(text: str) -> dict[str, str]:
    """The text part's sections: name -> the text under its `== name (N) ==` line."""
    parts = re.split(r"^== (.+) \(\d+\) ==$", text, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_a_paper_two_topics_found_is_filed_under_the_one_it_fits_best(workdir, cli):
    """'SGD Implicitly Regularizes ...' has `optimi*` in its abstract only (1)
    and SGD in its title (2): it belongs under SGD, though the subscriber
    lists the broader topic first."""
    write_config(workdir, TWO_TOPICS)
    assert cli("preview").code == 0
    sections = _sections((workdir / "preview" / "ada@example.org.txt").read_text(encoding="utf-8"))
    assert "] SGD Implicitly Regularizes Generalization Error\n" in sections["SGD"]
    assert "SGD Implicitly Regularizes" not in sections["Optimisation at large"]
    # 'Momentum Optimizers' in its title (2), SGD in its abstract only (1): the broad topic
    assert "] AdamP: Slowing Down the Slowdown for Momentum Optimizers" in sections["Optimisation at large"]


def test_each_reason_of_a_paper_two_ranked_topics_found_names_its_topic(workdir, cli):
    write_config(workdir, TWO_TOPICS)
    result = cli("match", "--json", "--subscriber", "bob@example.org")
    assert result.code == 0, result.err
    [bob] = json.loads(result.out)["subscribers"]
    both = [p for p in bob["papers"] if len(p["topics"]) == 2]
    assert both  # the two sentences overlap: some papers are in both topics
    assert cli("preview", "--subscriber", "bob@example.org").code == 0
    text = unwrapped((workdir / "preview" / "bob@example.org.txt").read_text(encoding="utf-8"))
    names = {"steps": "Step sizes", "rates": "Learning rates"}
    for p in both:
        first, second = (names[t] for t in p["topics"])
        why = _why(text, p["title"], names[p["topics"][0]])
        # in one sentence naming each topic ("Why: Step sizes: close to your interest: ...; Learning rates: ..."
        # read as labels nested in labels)
        assert f"{first}: close" not in why and why.startswith("Why: Close "), why
        assert 0 < why.index(first) < why.index(second), why  # the card's own topic first
        assert f"] {p['title']}\n" in _sections(text)[first]
    for p in bob["papers"]:
        if len(p["topics"]) == 1:  # one topic: its reason as it is, no label
            why = _why(text, p["title"], names[p["topics"][0]])
            assert not why.startswith(("Why: Step sizes:", "Why: Learning rates:")), why


def _why(text: str, title: str, section: str) -> str:
    """A card's "Why: ..." line in the text part, or, when every card of its
    section gives the same, the one line under the section's heading."""
    card = text.split(f"] {title}\n", 2)[-1].split("\n[", 1)[0]
    shared = _sections(text)[section].split("\n[", 1)[0]
    line = next((line for line in card.splitlines() if line.startswith("Why: ")), None)
    return line or next(line for line in shared.splitlines() if line.startswith("Why, for every paper below: ")
                        ).replace("Why, for every paper below: ", "Why: ")


def test_the_default_subject_counts_one_paper_in_the_singular(workdir, cli):
    write_config(workdir, BASIC_CONFIG.replace("    max_papers: 5\n", "    max_papers: 1\n"))
    result = cli("preview", "--json")
    assert result.code == 0, result.err
    subjects = {s["email"]: s["subject"] for s in json.loads(result.out)["subscribers"]}
    assert subjects["bob@example.org"] in ("1 new paper: Optimisation", "1 new paper: Diffusion models")
    assert subjects["ada@example.org"] == "20 new papers: Diffusion models"


@pytest.mark.parametrize(("count", "name", "named"), [(40, "Topic {i:02} on a rather long research area name", 1),
                                                      (6, "Topic {i}", 6), (8, "Topic {i} area", 3)])
def test_a_subject_naming_more_topics_than_an_inbox_shows_names_the_first_and_counts_the_rest(
    workdir, cli, count, name, named
):
    """A subscriber of 40 long-named topics: the default subject, naming every
    topic with papers, ran over 998 characters; validate blamed an
    `email.subject` the config does not have, and each such digest failed to
    compose at every send.  Six topics made a 160-character subject that the
    inbox cut mid-name.  The subject names what fits in what an inbox shows
    (78 characters; at least one topic) and counts the rest."""
    names = [name.format(i=i) for i in range(count)]
    marks = [f"marker{chr(97 + i % 26)}{chr(97 + i // 26)}" for i in range(count)]  # a word for each topic
    header = "new\n\nGet trending papers in your email inbox!\n\nSubscribe\n\nDaily Papers\n\nbyAK and the research community\n\nSep 4\n\n"
    (workdir / "papers" / "markers.txt").write_text(header + "".join(
        f"Learning With {m.title()} Networks\n\nWe study {m} networks and report results on several benchmarks.\n\n" for m in marks
    ), encoding="utf-8")
    topics = "".join(f'  t{i}:\n    name: {name}\n    any: ["{m}"]\n' for i, (name, m) in enumerate(zip(names, marks)))
    write_config(workdir, BASIC_CONFIG.split("topics:\n")[0] + "topics:\n" + topics + f"""
subscribers:
  - email: ada@example.org
    topics: [{", ".join(f"t{i}" for i in range(count))}]
    max_papers: 40
""")
    result = cli("validate")
    assert result.code == 0, result.err
    result = cli("preview", "--json")
    assert result.code == 0, result.err
    [digest] = json.loads(result.out)["subscribers"]
    subject = digest["subject"]
    shown = subject.split(": ", 1)[1].split(", ")
    assert len(subject) <= 78 or named == 1, subject
    if named == count:  # all fit
        assert shown == names, subject
        return
    assert re.fullmatch(r"and \d+ more", shown[-1]) and len(shown) - 1 == named, subject
    assert len(shown) - 1 + int(shown[-1].split()[1]) == len({n for n in names if n in (workdir / "preview").joinpath(
        "ada@example.org.txt").read_text()}), subject
    assert shown[:-1] == [n for n in names if n in shown[:-1]]  # the first ones, in the digest's order


def test_a_subject_template_rendering_megabytes_is_refused_at_its_line(tmp_path):
    """`{{ "x" * 100000000 }}` in the subject ran validate and send for minutes
    (folding a 100 MB header); a subject longer than a header line is an error."""
    config = load(tmp_path, extra="""  subject: '{{ "Digest " * 200 }}'\n""")
    (sub, matches), = digests(config, "ada@example.org")
    with pytest.raises(TemplateError) as info:
        Composer(config).compose(sub, matches, now=NOW)
    message = str(info.value)
    assert re.fullmatch(r".*config\.yaml:\d+: email\.subject: subject template: the subject is 1,400 characters long; "
                        r"at most 998 \(a header line's limit, RFC 5322\)", message), message
    assert [str(p) for p in check_templates(config)] == [message]


@pytest.mark.parametrize(
    "email_block, title",
    [
        ('  from: "Lab Reading List <news@lab.example.org>"\n', "Lab Reading List"),  # the From name heads the digest
        ('  from: "Lab Reading List <news@lab.example.org>"\n  title: Weekly papers\n', "Weekly papers"),
        ("  from: news@lab.example.org\n", "Paper Digest"),  # no name to take
    ],
)
def test_the_digest_is_headed_by_the_from_name_unless_a_title_is_given(tmp_path, email_block, title):
    """A researcher who names the digest in `from:` sees that name as its heading
    and <title> (it said "Paper Digest" whatever `from:` said)."""
    config = load(tmp_path, HOSTILE_CONFIG.replace("email:\n", "email:\n" + email_block), hostile=False)
    assert config.email.title == title
    (sub, matches), = digests(config, "cy@example.org")
    composed = Composer(config).compose(sub, matches, now=NOW)
    assert f"<title>{title}</title>" in composed.html
    assert composed.text.startswith(f"{title} - ")


CARD_FIELDS = ("title, title_html, contents_html, url, url_label, anchor, authors, authors_text, date_text, category, abstract, "
               "abstract_html, reasons, terms, score, upvotes, pdf_url, code_url, code_host, topics, reason, reason_here, also, liked")


@pytest.mark.parametrize(
    "body, expected",
    [
        ("{% for section in sections %}{{ section.nme }}{% endfor %}",
         "'dict object' has no attribute 'nme' (did you mean 'name'?)"),
        ("{% for section in sections %}{% for p in section.papers %}{{ p.titel }}{% endfor %}{% endfor %}",
         f"a paper (p) has no 'titel' (did you mean 'title'?); it has {CARD_FIELDS}"),
        # a value no paper has (it said "'newsletter.rendering.Card object' has no attribute 'doi'")
        ("{% for section in sections %}{% for p in section.papers %}{{ p.doi }}{% endfor %}{% endfor %}",
         f"a paper (p) has no 'doi'; it has {CARD_FIELDS}"),
        ("{{ subscriber.first_name }}",
         "the subscriber has no 'first_name'; it has email, name, topics, schedule, timezone, max_papers, pin, "
         "send_empty, mailing_list"),
        ("{{ preheadr }}", "'preheadr' is undefined (did you mean 'preheader'?)"),
        # a paper's or a section's name outside its loop: it said "(did you mean 'paper'?)"
        ("{{ paper.title }}",
         "'paper' is undefined (each paper is p inside {% for p in section.papers %}: p.title, p.abstract, p.url, ...)"),
        ("{{ abstract }}", "'abstract' is undefined (it is each paper's: p.abstract inside {% for p in section.papers %})"),
        ("{% for p in papers %}{% endfor %}",
         "'papers' is undefined (it is each topic's: section.papers inside {% for section in sections %})"),
    ],
)
def test_a_misspelt_name_in_a_template_suggests_the_one_meant(tmp_path, body, expected):
    """A newcomer editing their copy of the templates misspells a name: Jinja's
    "'dict object' has no attribute 'nme'" does not say what there is."""
    tpl = tmp_path / "tpl"
    tpl.mkdir()
    (tpl / "digest.txt").write_text("Hello\n" + body + "\n")
    config = load(tmp_path, extra="templates: tpl\n")
    sub, matches = digests(config)[0]
    with pytest.raises(TemplateError) as err:
        Composer(config).compose(sub, matches, now=NOW)
    assert str(err.value) == f"{tpl}/digest.txt:2: template error: {expected}"


def test_two_topics_giving_the_same_reason_are_named_together():
    """'Interpretability: close in meaning to your interest; LLM reasoning:
    close in meaning to your interest' said the same thing twice; each topic
    is named in the sentence, its phrases after it, not as a label before
    "close to your interest: ..." (a label nested in a label)."""
    from newsletter.matching import PaperMatch
    from newsletter.models import Paper
    from newsletter.reasons import ranked
    from newsletter.rendering import reason_text

    paper = Paper("Sparse autoencoders", "Features of a protein language model.", "s")
    names = {"interp": "Interpretability", "llm": "LLM reasoning", "gen": "Generative models"}.__getitem__
    same = PaperMatch(paper, 1.0, ("interp", "llm"), (), (), topic_reasons=(ranked(), ranked()))
    assert reason_text(same, names) == "close in meaning to your interests in Interpretability and LLM reasoning"
    mixed = PaperMatch(paper, 1.0, ("interp", "llm", "gen"), (), (), topic_reasons=(
        ranked(["feature attribution"]), ranked(), ranked()))
    assert reason_text(mixed, names) == ("close to your interest in Interpretability (feature attribution); "
                                         "close in meaning to your interests in LLM reasoning and Generative models")
    # in the order the topics give them: the card stands under its first topic
    first = PaperMatch(paper, 1.0, ("llm", "interp"), (), (), topic_reasons=(
        ranked(), ranked(["feature attribution"])))
    assert reason_text(first, names) == ("close in meaning to your interest in LLM reasoning; "
                                         "close to your interest in Interpretability (feature attribution)")
    close = PaperMatch(paper, 1.0, ("interp", "llm"), (), (), topic_reasons=(
        ranked(["feature attribution", "probing"]), ranked(["chain of thought"])))
    assert reason_text(close, names) == ("close to your interests in Interpretability (feature attribution, "
                                         "probing) and LLM reasoning (chain of thought)")
    alike = PaperMatch(paper, 1.0, ("interp", "llm", "gen"), (), (), topic_reasons=(
        ranked(["probing"]), ranked(["probing"]), ranked(["x"])))
    assert reason_text(alike, names) == ("close to your interests in Interpretability and LLM reasoning (probing) "
                                         "and Generative models (x)")


def test_a_long_phrase_term_is_named_and_marked_whole_only_a_regex_by_its_ends():
    """A term of five words, as researchers write them ("reinforcement
    learning from human feedback"), read "Why: reinforcement … feedback" and
    was marked at its two ends, as a greedy /regex/ spanning a sentence is."""
    from newsletter.matching import Hit, compile_term
    from newsletter.rendering import reason_words

    phrase = "reinforcement learning from human feedback"
    text = "We revisit Reinforcement Learning from Human Feedback for small models."
    assert reason_words([Hit(phrase, "abstract", "Reinforcement Learning from Human Feedback")]) == [phrase]
    assert str(highlight(text, [compile_term(phrase).regex])) == (
        "We revisit <mark>Reinforcement Learning from Human Feedback</mark> for small models.")
    greedy = "/revisit.*models/"
    assert reason_words([Hit(greedy, "abstract", "revisit Reinforcement Learning from Human Feedback for small models")]) == [
        "revisit … models"]
    assert str(highlight(text, [compile_term(greedy).regex])) == (
        "We <mark>revisit</mark> Reinforcement Learning from Human Feedback for small <mark>models</mark>.")


def _one_paper_digest(tmp_path, title, abstract, terms, email=""):
    """(config, subscriber, matches) of one Hugging Face paper for one topic of ``terms`` (YAML, as in ``any:``)."""
    header = "new\n\nGet trending papers in your email inbox!\n\nSubscribe\n\nDaily Papers\n\nbyAK and the research community\n\nSep 4\n\n"
    (tmp_path / "papers").mkdir()
    (tmp_path / "papers" / "one.txt").write_text(header + f"{title}\n\n{abstract}\n", encoding="utf-8")
    write_config(tmp_path, f"""
sources:
  - type: hf-papers-text
    path: papers/
topics:
  one:
    name: One topic
    any: [{terms}]
subscribers:
  - email: ada@example.org
    topics: [one]
email:
  from: "Paper Digest <digest@example.org>"
{email}""")
    config = load_config(tmp_path / "config.yaml")
    (sub, matches), = digests(config)
    return config, sub, matches


def test_a_greedy_regex_is_named_by_what_the_trimmed_abstract_shows(tmp_path):
    """/explain.*predictions?/ ran on past the trimmed abstract to a later
    "prediction": the card marked "explain the model predictions" and its
    reason said "explain … prediction", a word the reader could not see."""
    abstract = ("Occlusion methods explain the model predictions of image classifiers. " + "We study them. " * 12
                + "Our method improves each prediction.")
    config, sub, matches = _one_paper_digest(tmp_path, "Occlusion Sensitivity", abstract,
                                             '"/\\\\bexplain\\\\b.*\\\\bpredictions?\\\\b/"', "  abstract_chars: 120\n")
    assert matches[0].hits[0].text.endswith("each prediction")  # the whole abstract's match
    composed = Composer(config).compose(sub, matches, now=NOW)
    assert "\nWhy: explain the model predictions\n" in unwrapped(composed.text), composed.text
    assert ">explain the model predictions</span>" in composed.html
    assert re.search(r"<mark[^>]*>explain the model predictions</mark>", composed.html)


def test_a_term_written_with_a_greek_name_is_still_marked(tmp_path):
    """The card showed "β-VAE" and "ε-greedy" (lost math as Unicode) for
    terms "beta-VAE" and "epsilon-greedy", and marked neither: what a term
    found keeps its Greek name as written; other Greek names still convert."""
    abstract = "We train a beta-VAE with an epsilon-greedy policy on a delta-smooth objective."
    config, sub, matches = _one_paper_digest(tmp_path, "Greedy Latents", abstract, '"beta-VAE", "epsilon-greedy"')
    composed = Composer(config).compose(sub, matches, now=NOW)
    assert re.search(r"<mark[^>]*>beta-VAE</mark>", composed.html), composed.html
    assert re.search(r"<mark[^>]*>epsilon-greedy</mark>", composed.html)
    assert "δ-smooth" in composed.html


def test_a_kept_greek_name_stays_written_where_the_text_has_math_elsewhere(tmp_path):
    """With a script elsewhere in the abstract (``x^{2}``), the lost-math
    pass turned "(lambda)" and "F(x; xi)" into "(λ)" and "F(x; ξ)" although
    the reader's terms had found "lambda" and "xi": the card marked nothing
    and its reason named a word the reader could not see."""
    abstract = "We tune TD (lambda) and the map F(x; xi) with a loss in x^{2} and (delta,epsilon) bounds."
    config, sub, matches = _one_paper_digest(tmp_path, "Tuning Returns", abstract, '"lambda", "xi"')
    composed = Composer(config).compose(sub, matches, now=NOW)
    card = cards(composed.html)[0]
    for kept in ("lambda", "xi"):
        assert re.search(rf"<mark[^>]*>{kept}</mark>", card), card
        assert f"({kept})" in unwrapped(composed.text) or f"; {kept})" in unwrapped(composed.text)
    assert "x²" in card and "(δ,ε)" in card  # the rest of the math is still shown as such
    assert "λ" not in card and "ξ" not in card


def test_a_match_cut_inside_a_word_shows_and_marks_the_whole_word():
    """A lazy regex stops mid-word ("Explain Their Predict"); the reason and the mark name the whole word."""
    from newsletter.matching import Hit
    from newsletter.rendering import reason_words

    pattern = re.compile(r"explain\w*\W+(?:\w+\W+){0,3}?predict", re.IGNORECASE)
    title = "Why Do Models Explain Their Predictions?"
    assert str(highlight(title, [pattern])) == "Why Do Models <mark>Explain Their Predictions</mark>?"
    hit = Hit(r"/explain\w*\W+(?:\w+\W+){0,3}?predict/", "title", pattern.search(title).group())
    assert hit.text == "Explain Their Predict"
    assert reason_words([hit], {"title": title}) == ["explain their predictions"]
    # a whole-word match found again inside a longer word first: "Why: AutoDiffusion" of the term `diffusion`
    auto = "AutoDiffusion: Training-Free Optimization for Automated Diffusion Model Acceleration"
    assert reason_words([Hit("diffusion", "title", "Diffusion")], {"title": auto}) == ["diffusion"]
    # whole-word terms are unchanged; text without spaces (CJK) is left as matched
    assert str(highlight("score-based models", [re.compile(r"\bscore\b")])) == "<mark>score</mark>-based models"
    cjk = "説明" * 30 + "予測" + "説明" * 30
    assert str(highlight(cjk, [re.compile("予測")])).count("<mark>予測</mark>") == 1


def test_a_liked_paper_is_named_in_words_not_as_the_config_key():
    """'Generative modelling: like: Finding ε-Stationary Points' showed the
    config's key ``like:`` as if it were a reason."""
    from newsletter.matching import PaperMatch
    from newsletter.models import Paper
    from newsletter.reasons import ranked
    from newsletter.rendering import reason_text

    paper = Paper("Faster gradient-free algorithms", "Nonsmooth nonconvex optimization.", "s")
    names = {"theory": "Learning theory", "gen": "Generative modelling"}.__getitem__
    one = PaperMatch(paper, 1.0, ("gen",), (), (), topic_reasons=(
        ranked(["score matching"], "Finding ε-Stationary Points; in Few Queries"),))
    assert reason_text(one, names) == ("close to your interest in score matching; "
                                       "similar to a paper you liked, \u201cFinding ε-Stationary Points; in Few Queries\u201d")
    two = PaperMatch(paper, 1.0, ("theory", "gen"), (), (), topic_reasons=(
        ranked(["sample complexity"]), ranked(liked="Reflected Diffusion Models")))
    assert reason_text(two, names) == ("close to your interest in Learning theory (sample complexity); "
                                       "similar to a paper you liked for Generative modelling, \u201cReflected Diffusion Models\u201d")


def test_the_preheader_names_the_best_papers_not_the_subject_again(tmp_path):
    """The inbox shows the preheader after the subject: '3 new papers:
    Optimisation, ...' then '3 new papers on Optimisation, ...' said it twice."""
    config = load(tmp_path)
    (sub, matches), = digests(config, "cy@example.org")
    html = Composer(config).compose(sub, matches, now=NOW).html
    shown = re.search(r'class="preheader"[^>]*>([^<]*)<', html)[1]
    first = [str(escape(m.paper.title)) for m in matches[:3]]
    rest = len(matches) - len(first)
    assert shown == " · ".join(first) + (f" · and {rest} more paper{'s' * (rest != 1)}" if rest else "")
    assert "new paper" not in shown.split(" · and ")[0]


def test_a_short_preheader_is_padded_so_the_inbox_shows_no_body_text_after_it(tmp_path):
    """An inbox fills the line after a short preheader with the body's first
    words: a digest of one paper read "Score-Based Diffusion Models for
    Schrödinger Bridge Problems Paper Digest Wednesday 2 December 2026
    Hello, here is 1 new paper".  Invisible padding follows a preheader
    shorter than an inbox shows; a long one (three titles) gets none."""
    from newsletter.rendering import PREHEADER_CHARS

    config, matches, _ = reader_digest(tmp_path)
    composer = Composer(config)
    sub = config.subscribers[0]

    def preheader(html: str) -> str:
        return html_lib.unescape(re.search(r'class="preheader"[^>]*>([^<]*)<', html)[1])

    one = preheader(composer.compose(sub, matches[:1], now=NOW).html)
    title = matches[0].paper.title
    assert one.startswith(title) and len(one) >= PREHEADER_CHARS
    assert set(one[len(title):]) == {"\u200c", "\xa0"}  # nothing a reader sees
    three = preheader(composer.compose(sub, matches[:3], now=NOW).html)
    assert len(three) > PREHEADER_CHARS and not set(three) & {"\u200c", "\xa0"}


def test_a_card_names_the_other_topics_that_found_it():
    """A paper stands under its first topic only: a reader of the other
    topic was not told it is there.  Topics the reason names already
    ('Learning theory: close to ...; Generative modelling: ...') are not named twice."""
    from newsletter.matching import PaperMatch
    from newsletter.models import Paper
    from newsletter.reasons import ranked
    from newsletter.rendering import also_in

    paper = Paper("AdjointDPM: Gradient Backpropagation of Diffusion Models", "Sampling.", "s")
    names = {"opt": "Optimisation", "diff": "Diffusion models", "theory": "Learning theory",
             "gen": "Generative modelling"}.__getitem__
    assert also_in(PaperMatch(paper, 1.0, ("opt",), (), ()), names) == ()
    assert also_in(PaperMatch(paper, 1.0, ("opt", "diff"), (), ()), names) == ("Diffusion models",)
    two_reasons = PaperMatch(paper, 1.0, ("theory", "gen", "opt"), (), (),
                             topic_reasons=(ranked(["sample complexity"]), ranked(liked="X"), None))
    assert also_in(two_reasons, names) == ("Optimisation",)
    one_reason = PaperMatch(paper, 1.0, ("gen", "diff"), (), (), topic_reasons=(ranked(["x"]), None))
    assert also_in(one_reason, names) == ("Diffusion models",)
    # what the other topic found, unless it is only its own name ("Optimisation (Optimisation)")
    found = {"opt": ["optimizing"], "diff": ["Diffusion Models"]}.__getitem__
    assert also_in(PaperMatch(paper, 1.0, ("gen", "opt"), (), ()), names, found) == ("Optimisation (optimizing)",)
    assert also_in(PaperMatch(paper, 1.0, ("gen", "diff"), (), ()), names, found) == ("Diffusion models",)


def test_both_parts_say_which_other_topics_found_a_paper(tmp_path):
    config = load(tmp_path)
    (sub, matches), = digests(config, "cy@example.org")
    several = [m for m in matches if len(m.topics) > 1]
    assert several, "the sample digest has a paper two topics found"
    composed = Composer(config).compose(sub, matches, now=NOW)
    other = config.topic_name(several[0].topics[1])
    assert f"· also in {other}" in unwrapped(composed.text)
    assert f"&middot; also in {other}" in composed.html or f"· also in {other}" in composed.html


def test_a_card_gives_under_its_heading_only_that_topics_words_and_the_others_with_their_names(tmp_path):
    """'Stochastic Interpolants' under "Diffusion models" said "Why: diffusion
    models, score-based, Schrödinger bridge, optimizing": the last is the word
    of Optimisation theory, which the card then named without it."""
    config = load(tmp_path, text=BASIC_CONFIG.replace(
        'any: ["diffusion model*", "score-based"]', 'any: ["diffusion model*", "score-based", "Schrödinger bridge*"]'
    ).replace('any: ["SGD", "stochastic gradient", "optimi*"]', 'any: ["optimi*"]'), hostile=False)
    (sub, matches), = digests(config, "bob@example.org")
    (m,) = [m for m in matches if m.paper.title.startswith("Stochastic Interpolants")]
    assert m.topics == ("diffusion", "optim")
    composed = Composer(config).compose(sub, matches, now=NOW)
    lines = unwrapped(composed.text).splitlines()
    at = max(i for i, line in enumerate(lines) if line.endswith("] " + m.paper.title))  # the card, after the contents
    why = next(line for line in lines[at:] if line.startswith("Why:"))
    assert why == "Why: diffusion models, score-based, Schrödinger bridge · also in Optimisation (optimizing)"
    (card,) = [c for c in cards(composed.html) if "Stochastic Interpolants" in c]
    assert ">optimizing</span>" not in card and "also in Optimisation (optimizing)" in card


def arxiv_config(tmp_path):
    """arXiv's papers (each with its date, category and PDF) under one topic, for
    ada, who pins an author of one of them, and bob, who pins none."""
    shutil.copy(DATA / "arxiv-api.xml", tmp_path / "api.xml")
    write_config(tmp_path, """
sources:
  - type: arxiv
    path: api.xml
topics:
  diffusion:
    name: Diffusion
    any: ["diffusion"]
subscribers:
  - email: ada@example.org
    topics: [diffusion]
    pin: ["kenji tanaka"]
  - email: bob@example.org
    topics: [diffusion]
""")
    return load_config(tmp_path / "config.yaml")


def test_a_pinned_authors_paper_says_why_it_stands_first(tmp_path):
    """A pinned author's paper goes first, and nothing said why: the author
    may even be hidden in "… and 9 more"."""
    config = arxiv_config(tmp_path)
    (ada, pinned), (bob, plain) = digests(config)
    assert pinned[0].pinned and "Kenji Tanaka" in pinned[0].paper.authors
    composer = Composer(config)
    text = composer.compose(ada, pinned, now=NOW).text
    # the word every card's topic matched ("diffusion") is said once, under the heading
    assert "\nWhy: By Kenji Tanaka, an author you pinned\n" in text
    assert "==\nWhy, for every paper below: diffusion\n" in text
    assert text.count("an author you pinned") == sum(m.pinned for m in pinned)
    assert "pinned" not in composer.compose(bob, plain, now=NOW).text  # the same paper's card, another subscriber



def test_a_card_under_a_ranked_topic_gives_no_word_of_a_keyword_topic_as_its_own(tmp_path):
    from newsletter.matching import Hit, PaperMatch
    from newsletter.models import Paper
    from newsletter.reasons import ranked as ranked_reason
    from newsletter.rendering import card_words

    config = load(tmp_path)
    paper = Paper("Optimizing diffusion", "We optimize.", "s")
    ranked = PaperMatch(paper, 1.0, ("diffusion", "optim"), ("optimi*",), (Hit("optimi*", "title", "Optimizing"),),
                        topic_reasons=(ranked_reason(["x"]), None))
    reasons, others = card_words(ranked, config.topics, {"title": paper.title, "abstract": paper.abstract})
    assert reasons == [] and others("optim") == ["optimizing"]


def test_contents_entries_are_numbered_as_the_text_part_numbers_them(tmp_path):
    """A long contents list was a wall of links whose wrapped lines ran into
    the next entry: each entry now has its number (the text part's [n]),
    its wrapped lines hung under the title."""
    config, matches, composed = reader_digest(tmp_path)
    html, text = composed.html, unwrapped(composed.text)
    contents = html[html.index('id="contents"'):html.index('class="section"')]
    entries = re.findall(r'class="contents-item".*?<span class="num"[^>]*>(\d+)\.&nbsp;</span><a href="#paper-[^"]+"[^>]*>([^<]+)</a>',
                         contents, re.S)
    assert [int(n) for n, _ in entries] == list(range(1, len(matches) + 1))
    text_contents = text[text.index("Contents"):text.index("== ")]
    for n, title in entries:
        assert f"[{n}] {html_lib.unescape(title)}\n" in text_contents
    # hung under the title, by a margin: Outlook's Word engine takes a paragraph's margin and text-indent,
    # not its padding (the number stood out of the column there)
    assert re.search(r'class="contents-item"[^>]*style="[^"]*margin:0 0 5px 34px;text-indent:-34px', contents)
    assert not re.search(r'class="contents-item"[^>]*style="[^"]*padding', contents)
    # where the number's box is not drawn (Outlook's Word engine has no inline-block, a client without
    # styles) a space still parts it from the title: "1.Schrödinger Bridges ..." read as one word
    visible = html_lib.unescape(re.sub(r"<[^>]+>", "", contents))
    assert f"1.\u00a0{html_lib.unescape(entries[0][1])}" in visible


def test_topics_written_alone_read_as_the_names_joined(tmp_path):
    """`subject: "{{ count }} on {{ topics }}"` went out as "2 on ['Diffusion models', 'Optimisation']"."""
    text = HOSTILE_CONFIG.replace("  abstract_chars: 120\n", "  abstract_chars: 120\n  subject: \"{{ count }} on {{ topics }}\"\n")
    config = load(tmp_path, text=text.replace("name: Optimisation", "name: Optimisation <&> co"), hostile=False)
    (sub, matches), = digests(config, "cy@example.org")
    composed = Composer(config).compose(sub, matches, now=NOW)
    names = sorted({m.topics[0] for m in matches})
    assert len(names) == 2 and "[" not in composed.subject and "'" not in composed.subject, composed.subject
    assert composed.subject.endswith(" on Optimisation <&> co, Diffusion models") or composed.subject.endswith(
        " on Diffusion models, Optimisation <&> co"), composed.subject
    (tmp_path / "tpl").mkdir()
    (tmp_path / "tpl" / "digest.html").write_text("<html><body><p>{{ subscriber_topics }}</p></body></html>\n")
    config = load(tmp_path, text=text.replace("name: Optimisation", "name: Optimisation <&> co"), hostile=False,
                  extra="templates: tpl\n")
    html = Composer(config).compose(sub, matches, now=NOW).html
    assert "<p>Optimisation &lt;&amp;&gt; co, Diffusion models</p>" in html, html  # escaped as any text


def test_a_value_a_subscriber_lacks_prints_nothing_and_a_date_reads_as_a_date(tmp_path):
    """`subject: "{{ subscriber.name }}: {{ date }}"` went out as "None: 2024-05-01 09:00:00+01:00"
    for a subscriber without a name."""
    text = HOSTILE_CONFIG.replace(
        "  abstract_chars: 120\n", "  abstract_chars: 120\n  subject: \"{{ subscriber.name }}: papers of {{ date }}\"\n")
    config = load(tmp_path, text=text, hostile=False)
    named = {s.email: s.name for s in config.subscribers}
    for sub, matches in digests(config):
        subject = Composer(config).compose(sub, matches, now=NOW).subject
        zone = config.zone(sub)
        local = NOW.astimezone(zone)
        day = f"{local:%A} {local.day} {local:%B %Y}"
        assert subject == f"{named[sub.email] or ''}: papers of {day}", subject
    assert None in named.values() and any(named.values())
    (tmp_path / "tpl").mkdir()
    (tmp_path / "tpl" / "digest.txt").write_text("Hello {{ subscriber.name }}\n{{ date }}\n")
    config = load(tmp_path, text=text, hostile=False, extra="templates: tpl\n")
    (sub, matches), *_ = [d for d in digests(config) if d[0].name is None]
    assert Composer(config).compose(sub, matches, now=NOW).text.startswith("Hello\nWednesday 1 May 2024\n")  # no trailing space: not a soft break


def test_the_contents_list_sets_a_titles_formula_as_its_card_does(tmp_path):
    """A title's script Unicode has no character for ('ℓ_∞') was θ<sub>..</sub>
    on its card but 'ℓ_∞' as LaTeX source in the contents list above it."""
    papers = tmp_path / "papers"
    papers.mkdir()
    (papers / "day.txt").write_text(
        "Get trending papers in your email inbox once a day!\nGet trending papers in your email inbox!\nSubscribe"
        "Certified $\\ell_\\infty$ Robustness of Diffusion Models\nWe certify diffusion models.\n"
        "Fast Sampling for Score-Based Diffusion Models\nWe sample diffusion models fast.\n"
        "Guided Diffusion Models for Tables\nWe guide diffusion models.\n"
        "Small Diffusion Models on Phones\nWe shrink diffusion models.\n", encoding="utf-8")  # 4: a contents list
    write_config(tmp_path, BASIC_CONFIG)
    config = load_config(tmp_path / "config.yaml")
    (sub, matches), = digests(config, "ada@example.org")
    html = Composer(config).compose(sub, matches, now=NOW).html
    contents = html[html.index('id="contents"'):html.index('class="section"')]
    assert re.search(r">Certified ℓ<sub[^>]*>∞</sub> Robustness of Diffusion Models</a>", contents)
    assert re.search(r"Certified ℓ<sub[^>]*>∞</sub> Robustness of <mark", html[html.index('class="section"'):])


@pytest.mark.parametrize("line, said", [
    ("{{ ''.__class__.__mro__ }}",
     "access to attribute '__class__' of 'str' object is unsafe (a template reads the values it is given; it "
     "cannot change them or reach Python's internals)"),
    ("{% for s in sections %}{% for p in s.papers %}{{ p.authors.clear() }}{% endfor %}{% endfor %}",
     "access to attribute 'clear' of 'list' object is unsafe"),
    ("{{ cycler.__init__.__globals__ }}", "access to attribute '__init__' of 'type' object is unsafe"),
    ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
     "the template's loops ran over 1,000,000 times for one email (stopped there): a loop running away?"),
    ("{{ 10 ** (10 ** 10) }}", "10 ** 10000000000 is a number of over 100,000 bits: too large to compute"),
    ("{{ 'x' * 10 ** 10 }}", "a text of 10,000,000,000 characters, over 20,000,000 (no mail server takes it)"),
    ("{% set ns = namespace(s='x') %}{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}",
     "a text of 33,554,432 characters, over 20,000,000"),
    ("{% set ns = namespace(s=[1]) %}{% for i in range(60) %}{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s }}",
     "a list of 33,554,432 items, over 20,000,000"),
])
def test_an_unsafe_or_runaway_template_is_one_line_at_its_line(tmp_path, cli, line, said):
    """User templates render in Jinja's sandbox: one could reach every class
    of the process (``''.__class__.__mro__``) or empty a paper's authors in
    every digest sharing its card (``p.authors.clear()``), and loops nested over
    ``range()``, a huge power or a text doubled in a loop hung validate,
    preview and send (or took the memory there is).  Each is one line at
    the template's line, exit 2, and send sends nothing."""
    tpl = tmp_path / "tpl"
    tpl.mkdir()
    (tpl / "digest.txt").write_text(f"{{{{ count }}}} papers\n\n{line}\n")
    load(tmp_path, extra="templates: tpl\n")
    every = "__mro__" in line or "range(100000)" in line  # (the others through validate alone: the same render)
    for command in ("validate", "preview", "send") if every else ("validate",):
        r = cli(command)
        assert r.code == 2 and "Traceback" not in r.err, (command, r.err)
        (shown,) = r.err.strip().splitlines()
        assert shown.startswith(f"tpl/digest.txt:3: template error: {said}"), (command, shown)
    assert not (tmp_path / "outbox").exists() or not list((tmp_path / "outbox").iterdir())


def test_a_subject_reaching_for_python_internals_is_an_error_at_its_line(tmp_path, cli):
    load(tmp_path, extra='  subject: "{{ count.__class__.__subclasses__() }}"\n')
    r = cli("validate")
    assert r.code == 2 and "Traceback" not in r.err, r.err
    assert re.fullmatch(r"config\.yaml:\d+: email\.subject: subject template: access to attribute '__class__' of "
                        r"'int' object is unsafe\.?\n", r.err), r.err


def test_the_sandbox_renders_the_default_templates_as_jinja_does(tmp_path):
    """The sandbox, its bounded loops and operators change nothing in what
    the default templates (with every filter they use) render."""
    import jinja2

    from newsletter.rendering import _shown

    config = load(tmp_path)
    composer = Composer(config)
    plain = jinja2.Environment(
        loader=composer.env.loader, autoescape=composer.env.autoescape, undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, finalize=_shown,
    )
    plain.filters.update({k: v for k, v in composer.env.filters.items() if not k.startswith("_")})
    plain.globals.update(composer.env.globals)
    assert type(composer.env).__name__ == "_Sandbox"
    for sub, matches in digests(config):
        ctx = composer.context(sub, matches, NOW)
        for name in ("digest.html", "digest.txt"):
            assert composer.env.get_template(name).render(ctx) == plain.get_template(name).render(ctx), name


def test_the_sandbox_reads_a_namespace_counter_without_its_python_getattribute(tmp_path, monkeypatch):
    """The templates' counter (``n.i``, read three times a card) went through
    ``Namespace.__getattribute__``, a Python function: the sandbox reads its
    values directly, with the same values and the same undefined for a name
    it lacks (a count of calls, not a time: the same on a loaded machine)."""
    import jinja2

    config = load(tmp_path)
    env = Composer(config).env
    calls = []
    own = jinja2.utils.Namespace.__getattribute__
    monkeypatch.setattr(jinja2.utils.Namespace, "__getattribute__", lambda ns, name: calls.append(name) or own(ns, name))
    template = env.from_string("{% set n = namespace(i=0) %}{% for x in xs %}{% set n.i = n.i + 1 %}[{{ n.i }}]{% endfor %}"
                               "{{ n.j is defined }} {{ n.i }}")
    assert template.render(xs="abc") == "[1][2][3]False 3"
    assert "i" not in calls and "j" not in calls


MORE_LATEX_CONFIG = """
sources:
  - type: arxiv
    path: papers/arxiv-reader-latex.xml
topics:
  learn:
    name: "Lernen & Optimierung — Größen ≥ 1 (学习)"
    any: ["learning"]
    fields: [title]
subscribers:
  - email: ada@example.org
    name: Ada Lovelace
    topics: [learn]
    max_papers: 120
email:
  from: "Paper Digest <digest@example.org>"
  abstract_chars: 1000
  max_html_kb: 1000  # every paper as a card: the cards are what is read here
"""


def more_latex_preview(tmp_path) -> tuple[str, str]:
    """The preview (the exact email `send` would send) of 102 arXiv abstracts written
    as arXiv has them: formulas, accents, ties, dashes, citations, URLs, a title far
    longer than a line, forty authors, under a topic named in three scripts."""
    from newsletter.previewing import preview

    (tmp_path / "papers").mkdir(exist_ok=True)
    shutil.copy(DATA / "arxiv-reader-latex.xml", tmp_path / "papers" / "arxiv-reader-latex.xml")
    write_config(tmp_path, MORE_LATEX_CONFIG)
    report = preview(load_config(tmp_path / "config.yaml"), now=NOW)
    out = report.out
    return (out / "ada@example.org.html").read_text(encoding="utf-8"), (out / "ada@example.org.txt").read_text(encoding="utf-8")


def test_a_hundred_arxiv_abstracts_show_no_latex_in_the_preview(tmp_path):
    """Each of these showed LaTeX or broken text in the digest: a \\url's "~user"
    as a space (a dead link), "x⋆∈", "exp(−(‖x − x'‖²)/2σ²)" (read as over 2, times
    σ²), "‖π_(ref)" run together, "± 0.1", and in the HTML part scripts left as
    "inf_(γ ∈ Π(μ,ν))", "𝔼_(x ∼ p_(data))", "∑_(⟨i,j⟩)", "2^(Õ(k/ε))"."""
    html, text = more_latex_preview(tmp_path)
    body = html[html.index("<body"):]
    visible = html_lib.unescape(re.sub(r"<[^>]+>", "", body)).replace("\u00a0", " ")
    text = unwrapped(text).replace("\u00a0", " ")
    assert visible.count("Learning with Guarantees") >= 2 * 100  # every paper, in the contents and on its card
    for part in (visible, text):
        # a backslash and a tilde the abstract writes as characters (\textbackslash, \textasciitilde): no LaTeX
        part = part.replace("\\n escapes", "").replace("10~20 runs", "")
        for raw in (r"\\[a-zA-Z]", r"\$[^\d\s]", r"\w~\w", r"[A-Za-z]--[A-Za-z]", r"[_^]\{", "''", "``"):
            assert not re.search(raw, part), (raw, re.search(raw, part) and part[re.search(raw, part).start() - 60:][:120])
        for shown in ("http://example.com/~user/page%20x", "exp(−‖x − x′‖²/(2σ²))", "x⋆ ∈ arg min f",
                      "(within ±0.1)", "0.87 ± 0.02", "Polyak–Łojasiewicz", "≈ 9.8 meV", "Gödel and Turán",
                      "Erdős–Szekeres", "François, Jiří Matoušek, Peña, Søren and Æsa", "“plug-and-play”",
                      "[hanneke2016optimal]", "O(n log n)", "SE(3)", "D, D′ and events", "15 km of hiking trails — including",
                      "C(n, k) ≤ (en/k)ᵏ and C(n, k)", "reported in £ and €", "The trade–off", "fairness—a recurring"):
            assert shown in part, shown
    assert "KL(π_θ ‖ π_(ref))" in text and "λ‖f‖_ℋ² over the RKHS ℋ" in text
    # the HTML part sets every script Unicode has no characters for, nested ones too
    assert not re.search(r"[_^]\(", visible)
    for raised in ("KL(π<sub>θ</sub> ‖ π<sub>ref</sub>)", "inf<sub>γ ∈ Π(μ,ν)</sub>", "𝔼<sub>x ∼ p<sub>data</sub></sub>",
                   "J∑<sub>⟨i,j⟩</sub>", "2<sup>Õ(k/ε)</sup>"):
        assert raised in re.sub(r"<(su[bp])[^>]*>", r"<\1>", body).replace("&nbsp;", " "), raised


# ---------------------------------------------------------------- compiled templates kept between runs


def own_templates(tmp_path: Path) -> Path:
    """The default templates copied into a ``templates:`` folder of the user's."""
    tpl = tmp_path / "tpl"
    shutil.copytree(ROOT / "templates", tpl)
    return tpl


def compiles(monkeypatch) -> list[str]:
    """The names of the templates the composers made from now on compile
    (Jinja's lexing, parsing and code generation), rather than load."""
    from newsletter.rendering import _Sandbox

    names: list[str] = []
    real = _Sandbox.compile

    def counted(self, source, name=None, filename=None, *args, **kwargs):
        if name is not None:  # not the subject (a string in the config, compiled with the config)
            names.append(name)
        return real(self, source, name, filename, *args, **kwargs)

    monkeypatch.setattr(_Sandbox, "compile", counted)
    return names


def test_a_second_run_loads_the_templates_compiled_code_from_the_cache(tmp_path, monkeypatch):
    config = load(tmp_path)
    sub, matches = digests(config, "ada@example.org")[0]
    compiled = compiles(monkeypatch)
    first = Composer(config).compose(sub, matches, now=NOW)
    assert sorted(compiled) == ["digest.html", "digest.txt", "style.css"]
    assert len(list((tmp_path / ".cache" / "templates").iterdir())) == 3
    compiled.clear()
    again = Composer(config).compose(sub, matches, now=NOW)
    assert compiled == []  # nothing lexed, parsed or generated: the code came from the cache
    assert (again.html, again.text) == (first.html, first.text)


def test_an_edited_template_is_compiled_anew_and_the_digest_shows_the_edit(tmp_path, monkeypatch):
    tpl = own_templates(tmp_path)
    config = load(tmp_path, extra="templates: tpl\n")
    sub, matches = digests(config, "ada@example.org")[0]
    assert "Edited by hand" not in Composer(config).compose(sub, matches, now=NOW).text
    (tpl / "digest.txt").write_text("Edited by hand\n" + (tpl / "digest.txt").read_text(encoding="utf-8"))
    compiled = compiles(monkeypatch)
    composed = Composer(config).compose(sub, matches, now=NOW)
    assert composed.text.startswith("Edited by hand\n")
    assert compiled == ["digest.txt"]  # the untouched HTML template still came from the cache


@pytest.mark.parametrize("spoil", ["cut short", "others may write it"])
def test_a_cached_file_cut_short_or_writable_by_others_is_compiled_anew(tmp_path, monkeypatch, spoil):
    """The cached code runs outside the sandbox: a file another user could
    have written is not run, and a damaged one is no error."""
    config = load(tmp_path)
    sub, matches = digests(config, "ada@example.org")[0]
    first = Composer(config).compose(sub, matches, now=NOW)
    for file in (tmp_path / ".cache" / "templates").iterdir():
        if spoil == "cut short":
            file.write_bytes(file.read_bytes()[:40])
        else:
            file.chmod(0o666)
    compiled = compiles(monkeypatch)
    again = Composer(config).compose(sub, matches, now=NOW)
    assert sorted(compiled) == ["digest.html", "digest.txt", "style.css"]
    assert again.text == first.text


@pytest.mark.parametrize("cache", ["a-file", "ro"])
def test_a_cache_folder_that_cannot_be_written_still_composes(tmp_path, monkeypatch, cache):
    (tmp_path / "a-file").write_text("not a folder\n")
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro" / "templates").write_text("a file where the cache's folder goes\n")
    config = load(tmp_path, extra=f"cache: {cache}\n")
    sub, matches = digests(config, "ada@example.org")[0]
    compiled = compiles(monkeypatch)
    for _ in range(2):
        assert "Diffusion" in Composer(config).compose(sub, matches, now=NOW).text
    assert len(compiled) == 6  # compiled each time, as before there was a cache


def _size_warning(tmp_path, max_papers, abstract_chars):
    config = load(tmp_path, text=BASIC_CONFIG.replace("topics: [diffusion]\n", "topics: [diffusion, optim]\n"
                                                      f"    max_papers: {max_papers}\n", 1)
                  + f"email:\n  abstract_chars: {abstract_chars}\n", hostile=False)
    (sub, matches), = digests(config, "ada@example.org")
    composer = Composer(config)
    composed = composer.compose(sub, matches, now=NOW)
    assert len(composed.html.encode()) <= 100 * 1024  # over it, the last papers are listed by title
    return len(matches), len(composer.render(sub, matches, NOW, clip=False)[1].encode()), composed.warnings


def test_a_digest_too_big_for_gmail_is_told_what_makes_it_fit(tmp_path):
    """60 papers of 600-character abstracts came to 160 KB, of which the
    abstracts were 37 KB, and the warning said "lower max_papers or
    abstract_chars": no abstract_chars could make it fit.  It now gives the
    numbers, and each one, followed, makes a digest that fits."""
    count, size, (warning,) = _size_warning(tmp_path, 70, 600)  # (60 fit 46 in full since each mark's style is not inlined)
    assert count == 70 and size > 130 * 1024
    fit = int(re.search(r"lower max_papers to about (\d+) \(it has 70\): its abstracts are \d+ KB of it, "
                        r"so no abstract_chars makes it fit$", warning)[1])
    count, size, warnings = _size_warning(tmp_path, fit, 600)
    assert count == fit and warnings == () and size <= 100 * 1024
    count, size, (warning,) = _size_warning(tmp_path, fit + 2, 600)  # "about": not far under what fits
    chars = int(re.search(rf"lower max_papers to about \d+ \(it has {fit + 2}\), or abstract_chars to about (\d+) "
                          r"\(it is 600\)$", warning)[1])
    assert 300 < chars < 600
    assert _size_warning(tmp_path, fit + 2, chars)[2] == ()


def test_a_paper_without_an_abstract_leaves_no_gap(tmp_path):
    """A feed entry without a summary is read by its title only: its card
    held an empty abstract paragraph (a blank band in the HTML) and its text
    part three blank lines between the title and "Why:"."""
    from newsletter.matching import Hit, PaperMatch
    from newsletter.models import Paper

    config = load(tmp_path)
    sub = config.subscribers[0]
    bare = Paper(title="A diffusion model paper read by its title", abstract="", source="s")
    full = Paper(title="Another diffusion model", abstract="It has an abstract.", source="s")
    hit = (Hit("diffusion model*", "title", "diffusion model"),)
    composed = Composer(config).compose(sub, [PaperMatch(bare, 1, ("diffusion",), ("diffusion model*",), hit),
                                              PaperMatch(full, 1, ("diffusion",), ("diffusion model*",), hit)], now=NOW)
    first, second = cards(composed.html)
    assert 'class="abstract"' not in first and "It has an abstract." in second
    assert "\n\n\n" not in unwrapped(composed.text)
    # both cards' word is said once, under the heading
    assert "==\nWhy, for every paper below: diffusion model\n\n[1] " in unwrapped(composed.text)
    assert "[1] A diffusion model paper read by its title\n\nSearch arXiv: " in unwrapped(composed.text)
    assert "[2] Another diffusion model\n\nIt has an abstract.\n\nSearch arXiv: " in unwrapped(composed.text)


@pytest.mark.parametrize(
    ("latex", "html"),
    [
        # nested scripts and the escapes LaTeX writes, set in the HTML and still escaped
        (r"$x^{2^{n}}$ and $e^{-x^2/2}$ at R\&D $<$ 5\%", "x<sup>2ⁿ</sup> and e<sup>−x²/2</sup> at R&amp;D &lt; 5%"),
        (r"$\mathcal{L}_{\mathrm{CE}}$, $\left. f \right|_{x=0}$, $\mathbb{E}_{x\sim p}[f]$",
         "ℒ<sub>CE</sub>, f |ₓ₌₀, 𝔼<sub>x ∼ p</sub>[f]"),
        # nested accents and an arrow's label, in the HTML as in the text
        (r"$\bar{\bar{x}} \xrightarrow{f} \mathfrak{g}$ & $\xleftarrow[n\to\infty]{}$",
         "x\u0305\u0305 →ᶠ 𝔤 &amp; ←<sub>n→∞</sub>"),
        # an unknown macro shows as written, and what stands beside it is escaped
        (r"$\mymethod$ <b> $a \foo b$", r"\mymethod &lt;b&gt; a \foo b"),
    ],
)
def test_latex_in_a_card_is_set_as_typeset_and_escaped(latex, html):
    from newsletter.latex import to_unicode

    assert str(highlight(to_unicode(latex), [re.compile("zzz")])) == html


def test_a_contents_list_from_four_papers_on_not_for_two_or_three(tmp_path):
    """A contents list above two or three cards repeated the preheader's
    titles and the first screen: it shows from CONTENTS_MIN (4) papers on,
    with each card's link back to it; below that, neither (HTML and text)."""
    from newsletter.rendering import CONTENTS_MIN

    config, matches, _ = reader_digest(tmp_path)
    sub = config.subscribers[0]
    assert CONTENTS_MIN == 4 and len(matches) >= 4
    for n in (1, 2, 3, 4, len(matches)):
        composed = Composer(config).compose(sub, matches[:n], now=NOW)
        shown = n >= CONTENTS_MIN
        assert ('id="contents"' in composed.html) is shown, n
        assert ("In this digest" in composed.html) is shown and ("\nContents\n" in unwrapped(composed.text)) is shown, n
        assert composed.html.count('href="#contents"') == (n if shown else 0), n
        assert len(cards(composed.html)) == n and composed.text.count("\n== ") == len({m.topics[0] for m in matches[:n]})


@pytest.mark.parametrize(("name", "edit"), [
    ("digest.html", ('<a href="#{{ p.anchor }}">{{ p.contents_html }}</a>', '<a href="#{{ p.anchor }}">{{ p.contents_htm }}</a>')),
    ("digest.txt", ('{{ p.title | flowed("  [" ~ n.i ~ "] ") }}', '{{ p.titel | flowed("  [" ~ n.i ~ "] ") }}')),
])
def test_validate_renders_the_contents_list_which_its_two_papers_would_not_show(tmp_path, name, edit):
    """The sample digests of validate hold two papers, under CONTENTS_MIN: a
    misspelt name in the contents list would pass it and stop the first send
    of four papers or more."""
    tpl = own_templates(tmp_path)
    text = (tpl / name).read_text(encoding="utf-8")
    assert text.count(edit[0]) == 1
    (tpl / name).write_text(text.replace(*edit), encoding="utf-8")
    (problem,) = check_templates(load(tmp_path, extra="templates: tpl\n"))
    line = 1 + text[:text.index(edit[0])].count("\n")
    assert str(problem).startswith(f"{tpl}/{name}:{line}: template error: "), problem


def _liked_digest(tmp_path, more_topics="", topics="liked"):
    """The reader digest of a topic liking one paper (its cards share their
    reason), with ``more_topics`` besides, for a subscriber of ``topics``."""
    sources = READER_CONFIG[:READER_CONFIG.index("topics:")]
    return reader_digest(tmp_path, sources + f"""topics:
  liked:
    name: Like my bridges paper
    like: ["2406.04321"]
{more_topics}subscribers:
  - email: ada@example.org
    topics: [{topics}]
""")

def test_a_clipped_digest_keeping_one_card_of_a_section_shows_its_reason_on_the_card(tmp_path):
    """A digest cut to fit Gmail's clip kept "Why, for every paper below:"
    over a section left with one card (the reason its cards shared), the card
    itself without it: said on the card, as for a section of one card."""
    from newsletter.rendering import _cut

    config, matches, _ = _liked_digest(tmp_path)
    composer = Composer(config)
    ctx = composer.context(config.subscribers[0], matches, NOW)
    (section,) = ctx["sections"]
    liked = "Similar to a paper you liked, “Score-Based Diffusion Models for Schrödinger Bridge Problems”"
    assert section["count"] >= 2 and section["reason"] == "s" + liked[1:]
    (kept,) = _cut(ctx, 1)["sections"]
    assert (kept["count"], kept["reason"], kept["reasons"]) == (1, "", [])
    html, _ = composer._cut_html(ctx, 1, listed=True)
    assert "Why, for every paper below" not in html and "Why: " + html_lib.escape(liked, quote=False) in html
    assert _cut(ctx, 2)["sections"][0]["reason"] == section["reason"]

def test_a_reason_every_card_of_a_section_gives_is_said_once_under_its_heading(tmp_path):
    """A topic liking one paper wrote "Why: Similar to a paper you liked, “...”"
    on each of its cards, and a topic of one term "Why: diffusion" on each:
    said once under the heading (HTML and text); a card keeps what is its
    own (upvotes); a section whose cards differ, or of one card, keeps them
    on the cards."""
    config, matches, composed = _liked_digest(tmp_path, """  one:
    name: Autoencoders
    any: ["autoencoder*"]
""", "liked, one")
    text, html = unwrapped(composed.text), composed.html
    liked = "Similar to a paper you liked, “Score-Based Diffusion Models for Schrödinger Bridge Problems”"
    sections = _sections(text)
    assert sections["Like my bridges paper"].startswith(f"\nWhy, for every paper below: {liked}\n\n[1] ")
    assert text.count(liked) == 1 and html.count(html_lib.escape(liked, quote=False)) == 1
    assert "Why, for every paper below: " + html_lib.escape(liked, quote=False) + "</p>" in html
    assert len([m for m in matches if m.topics[0] == "liked"]) >= 2
    # one card under "Autoencoders": its words stay on it
    assert [m.topics[0] for m in matches].count("one") == 1
    assert "Why, for every" not in sections["Autoencoders"] and "\nWhy: autoencoders" in sections["Autoencoders"]
    for card in cards(html):
        assert "Similar to a paper" not in card
    # the section's cards differ: each keeps its own
    from newsletter.rendering import _shared_reasons

    composer = Composer(config)
    like, other = (composer._card(next(m for m in matches if m.topics[0] == t), 600, ()) for t in ("liked", "one"))
    assert like.reason and other.reasons
    assert _shared_reasons([like, like]) == {"reason": like.reason, "reasons": list(like.reasons), "liked_reason": ""}
    none = {"reason": "", "reasons": [], "liked_reason": ""}
    assert _shared_reasons([like, other]) == none and _shared_reasons([like]) == none


def test_a_topic_liking_two_papers_says_so_once_and_each_card_which_it_is_closest_to(tmp_path):
    """A topic liking two papers wrote "Why: Similar to a paper you liked,
    “...”" on each card, the same words before one of two titles: the
    heading says "Similar to papers you liked" once, and each card only the
    one it is closest to; a card whose reason says more keeps it whole."""
    (tmp_path / "papers").mkdir()
    shutil.copy(DATA / "hf-papers-compact.txt", tmp_path / "papers")
    write_config(tmp_path, """
sources:
  - type: hf-papers-text
    path: papers/*.txt
topics:
  liked:
    name: Like my papers
    like: ["Input Perturbation Reduces Exposure Bias in Diffusion Models",
           "Flow Perturbation to Accelerate Unbiased Sampling of Boltzmann distribution"]
subscribers:
  - email: ada@example.org
    topics: [liked]
    max_papers: 5
""")
    config = load_config(tmp_path / "config.yaml")
    (sub, matches), = digests(config)
    composer = Composer(config)
    composed = composer.compose(sub, matches, now=NOW)
    liked = {m.paper.id: composer._card(m, 600).liked for m in matches}
    assert len(matches) >= 2 and all(liked.values()) and len(set(liked.values())) == 2, liked
    text, html = unwrapped(composed.text), composed.html
    section = _sections(text)["Like my papers"]
    assert section.startswith("\nWhy, for every paper below: Similar to papers you liked\n\n[1] ")
    assert "Similar to a paper you liked" not in text and "Similar to a paper you liked" not in html
    for m in matches:
        said = f"Why: Closest to “{liked[m.paper.id]}”"
        assert text.count(said) == sum(v == liked[m.paper.id] for v in liked.values())
        assert html.count(html_lib.escape(said, quote=False)) == text.count(said)
    assert html.count("Why, for every paper below: Similar to papers you liked</p>") == 1
    # a card that says more than which paper (a phrase of an ``about``) has no ``liked``: its section says nothing once
    from newsletter.matching import PaperMatch
    from newsletter.reasons import ranked

    m = matches[0]
    more = PaperMatch(m.paper, m.score, m.topics, (), (), topic_reasons=(ranked(["flow matching"], "T"),))
    assert composer._card(more, 600).liked is None


def test_the_templates_read_each_value_of_a_section_and_a_card_once(tmp_path, monkeypatch):
    """Each ``section.reason`` or ``p.pdf_url`` a template reads is a call of
    the sandbox's ``getattr``: the templates read a section's shared reasons
    again on each of its cards, a card's reasons twice, its date and category
    three times and its PDF link twice; they now read each once a template
    (an exact count: one render, no threads)."""
    from newsletter.rendering import _Sandbox

    config = arxiv_config(tmp_path)
    (_, (sub, matches)) = digests(config)  # bob's digest: no pinned author's reason
    watched = ("reason", "reason_here", "reasons", "date_text", "category", "pdf_url")
    reads: dict[tuple[str, str], int] = {}
    original = _Sandbox.getattr

    def counting(self, obj, attribute):
        if attribute in watched:
            key = ("section" if type(obj) is dict else "card", attribute)
            reads[key] = reads.get(key, 0) + 1
        return original(self, obj, attribute)

    monkeypatch.setattr(_Sandbox, "getattr", counting)
    composer = Composer(config)
    ctx = composer.context(sub, matches, NOW)
    composer._render_context(ctx)
    cards = ctx["all_papers"]
    assert len(cards) >= 4 and all(c.date_text and c.category and c.pdf_url for c in cards)  # every value shown
    for what in ("reason", "reasons"):
        assert reads[("section", what)] == 2 * len(ctx["sections"])  # the HTML and the text template
    for what in watched[1:]:  # a card's reason as said under its heading (p.reason_here)
        assert reads[("card", what)] == 2 * len(cards), what
    assert ("card", "reason") not in reads
