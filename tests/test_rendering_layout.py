"""The rendered email in real headless Chromium: no horizontal overflow at 320, 375 and 1200 px."""

from __future__ import annotations

import html as html_lib
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import BASIC_CONFIG, DATA, write_config

from newsletter import pipeline
from newsletter.config import load_config
from newsletter.rendering import Composer, premailer_inline

CHROMIUM = shutil.which("chromium") or (Path("/usr/bin/chromium").is_file() and "/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM, reason="chromium is not installed (CI installs Debian's chromium)")

# Headless Chromium will not make a window narrower than 500 px, so the email
# goes into an iframe of the wanted width (srcdoc: same origin, measurable).
PROBE = (
    "<script>function probe(f){var d=f.contentDocument;document.documentElement.setAttribute('data-probe',"
    "d.documentElement.scrollWidth+'x'+f.contentWindow.innerWidth+'x'+"
    "f.contentWindow.getComputedStyle(d.body).backgroundColor);}</script>"
)


def frame_page(email_html: str, width: int) -> str:
    return (
        f"<!DOCTYPE html><html><head>{PROBE}</head><body style='margin:0'>"
        f"<iframe onload='probe(this)' style='width:{width}px;height:900px;border:0' "
        f"srcdoc=\"{html_lib.escape(email_html, quote=True)}\"></iframe></body></html>"
    )


def measure(email_html: str, width: int, profile: Path, dark: bool = False) -> tuple[int, int, str]:
    html_file = profile.with_suffix(".html")
    html_file.write_text(frame_page(email_html, width), encoding="utf-8")
    flags = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", "--window-size=1400,1000", "--hide-scrollbars",
    ]
    if dark:
        flags.append("--force-dark-mode")
    proc = subprocess.run(flags + ["--dump-dom", html_file.as_uri()], capture_output=True, text=True, timeout=60)
    found = re.search(r'data-probe="(\d+)x(\d+)x([^"]*)"', proc.stdout)
    assert found, f"no probe in chromium output: {proc.stderr[-2000:]}"
    return int(found.group(1)), int(found.group(2)), found.group(3)


def test_no_horizontal_overflow_and_dark_mode(tmp_path):
    (tmp_path / "papers").mkdir()
    for f in DATA.glob("hf-papers-*.txt"):
        shutil.copy(f, tmp_path / "papers" / f.name)
    shutil.copy(DATA / "hostile-papers.txt", tmp_path / "papers" / "hostile.txt")
    write_config(tmp_path, BASIC_CONFIG)
    config = load_config(tmp_path / "config.yaml")
    sub, matches = next(iter(pipeline.match(config, pipeline.papers(config), "ada@example.org")))
    assert any(m.paper.title.startswith("<script>") for m in matches)  # has the very long unbroken word
    html = Composer(config).compose(sub, matches, now=datetime(2024, 5, 1, tzinfo=UTC)).html
    for width in (320, 375, 1200):  # 320: the narrowest phones still in use (iPhone SE, 1st gen)
        scroll, viewport, _ = measure(html, width, tmp_path / f"profile-{width}")
        assert viewport == width
        assert scroll <= viewport, f"horizontal overflow at {width}px: scrollWidth {scroll}"
    _, _, light = measure(html, 375, tmp_path / "profile-light")
    _, _, dark = measure(html, 375, tmp_path / "profile-dark", dark=True)
    assert light == "rgb(243, 244, 246)" and dark == "rgb(17, 24, 39)"


def test_preview_index_fits_375px(tmp_path):
    """At 375 px the index's five-column table ran off the screen: the papers
    count, size and file links were behind a horizontal scroll."""
    from newsletter.previewing import preview

    (tmp_path / "papers").mkdir()
    for f in DATA.glob("hf-papers-*.txt"):
        shutil.copy(f, tmp_path / "papers" / f.name)
    write_config(tmp_path, BASIC_CONFIG)
    report = preview(load_config(tmp_path / "config.yaml"), now=datetime(2024, 5, 1, tzinfo=UTC))
    index = (report.out / "index.html").read_text(encoding="utf-8")
    assert 'data-label="Papers"' in index
    scroll, viewport, _ = measure(index, 375, tmp_path / "profile")
    assert viewport == 375 and scroll <= viewport, f"horizontal overflow at 375px: scrollWidth {scroll}"


ANCHOR_PROBE = (
    "<script>function probe(f){var d=f.contentDocument,w=f.contentWindow,out;try{"
    "var links=d.querySelectorAll('a[href^=\"#paper-\"]'),last=links[2];"
    "var target=d.getElementsByName(last.getAttribute('href').slice(1))[0];"
    "last.click();var top=target.getBoundingClientRect().top;"
    "d.querySelector('a[href=\"#contents\"]').click();"
    "out=[links.length,Math.round(top),w.scrollY,d.documentElement.scrollWidth,w.innerWidth].join('x');"
    "}catch(e){out='error '+e;}document.documentElement.setAttribute('data-probe',out);}</script>"
)


def probed_at_375(email_html: str, probe: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """Chromium's DOM after ``probe(frame)`` ran on the email in a 375 px iframe.
    The email is a file beside the page (not srcdoc), so its in-page links
    scroll the frame as a mail client's would."""
    (tmp_path / "email.html").write_text(email_html, encoding="utf-8")
    page = tmp_path / "page.html"
    page.write_text(
        f"<!DOCTYPE html><html><head>{probe}</head><body style='margin:0'>"
        "<iframe onload='probe(this)' style='width:375px;height:700px;border:0' src='email.html'></iframe></body></html>",
        encoding="utf-8",
    )
    flags = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--allow-file-access-from-files",  # the page may read its iframe's document (file: URLs)
        f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1000,800", "--hide-scrollbars",
    ]
    return subprocess.run(flags + ["--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=60)


def test_latex_digest_fits_375px_and_contents_links_jump_to_cards(tmp_path):
    """The sample digest of docs/ (formulas, accents, long author lists, code links):
    no horizontal overflow at 375 px; clicking a contents entry brings its card
    to the top of the view, and the card's back link returns to the contents."""
    root = Path(__file__).resolve().parent.parent
    config = load_config(root / "docs" / "sample" / "config.yaml")
    (sub, matches), = pipeline.match(config, pipeline.papers(config, warn=lambda message: None))
    html = Composer(config).compose(sub, matches, now=datetime(2024, 6, 7, tzinfo=UTC)).html
    proc = probed_at_375(html, ANCHOR_PROBE, tmp_path)
    found = re.search(r'data-probe="(\d+)x(-?\d+)x(\d+)x(\d+)x(\d+)"', proc.stdout)
    assert found, re.findall(r'data-probe="[^"]*"', proc.stdout) or proc.stderr[-2000:]
    links, card_top, scroll_after_back, scroll_width, viewport = map(int, found.groups())
    assert viewport == 375 and scroll_width <= viewport, (scroll_width, viewport)
    assert links == len(matches) >= 8
    assert abs(card_top) <= 2, f"the third card should be at the top after its contents link, is at {card_top}px"
    assert scroll_after_back < 400  # back at the contents list, near the top


# Both emails in iframes; for every element of each body (document order, <tbody>
# left out: only one of the two parsers' outputs spells it) the computed values
# of the properties a digest's stylesheet sets, then the first difference.
COMPARE = (
    "<script>var seen=0;function styles(f){var out=[],props=['color','background-color','font-size',"
    "'font-weight','line-height','margin','padding','border-bottom','display','width','max-width','text-decoration'];"
    "f.contentDocument.body.querySelectorAll('*').forEach(function(el){if(el.tagName==='TBODY')return;"
    "var cs=f.contentWindow.getComputedStyle(el);out.push(el.tagName+' '+props.map(function(p){"
    "return cs.getPropertyValue(p)}).join('|'))});return out}"
    "function done(){if(++seen<2)return;var a=styles(document.getElementById('a')),b=styles(document.getElementById('b')),"
    "diff=a.length===b.length?'':'count '+a.length+' '+b.length;for(var i=0;!diff&&i<a.length;i++)"
    "if(a[i]!==b[i])diff=i+': '+a[i]+' / '+b[i];document.documentElement.setAttribute('data-probe',"
    "a.length+'|'+(diff||'same'))}</script>"
)


def compare_page(a: str, b: str) -> str:
    frame = "<iframe id='{}' onload='done()' style='width:600px;height:900px;border:0' srcdoc=\"{}\"></iframe>"
    return (
        f"<!DOCTYPE html><html><head>{COMPARE}</head><body style='margin:0'>"
        + frame.format("a", html_lib.escape(a, quote=True))
        + frame.format("b", html_lib.escape(b, quote=True))
        + "</body></html>"
    )


def test_css_inline_and_premailer_render_the_same_in_chromium(tmp_path):
    (tmp_path / "papers").mkdir()
    for f in DATA.glob("hf-papers-*.txt"):
        shutil.copy(f, tmp_path / "papers" / f.name)
    write_config(tmp_path, BASIC_CONFIG)
    config = load_config(tmp_path / "config.yaml")
    sub, matches = next(iter(pipeline.match(config, pipeline.papers(config), "ada@example.org")))
    ours = Composer(config).compose(sub, matches, now=datetime(2024, 5, 1, tzinfo=UTC)).html
    theirs = Composer(config, inliner=premailer_inline).compose(sub, matches, now=datetime(2024, 5, 1, tzinfo=UTC)).html
    assert ours != theirs  # two different inliners' bytes...
    page = tmp_path / "compare.html"
    page.write_text(compare_page(ours, theirs), encoding="utf-8")
    proc = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
         "--window-size=1400,1000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=60,
    )
    found = re.search(r'data-probe="(\d+)\|([^"]*)"', proc.stdout)
    assert found, f"no probe in chromium output: {proc.stderr[-2000:]}"
    elements, diff = int(found.group(1)), html_lib.unescape(found.group(2))
    assert elements > 50 and diff == "same", diff  # ...the same computed style on every element


CHIP_PROBE = (
    "<script>function probe(f){var d=f.contentDocument,terms=d.querySelectorAll('.term'),split=0;"
    "terms.forEach(function(t){if(t.getClientRects().length>1)split++});"
    "document.documentElement.setAttribute('data-probe',terms.length+'x'+split+'x'+d.documentElement.scrollWidth);}</script>"
)

CHIPS_FEED = """<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><id>x</id><updated>2024-06-11T00:00:00Z</updated>
<entry><id>http://arxiv.org/abs/2406.10001v1</id><published>2024-06-07T00:00:00Z</published>
<title>Adaptive step size and heavy ball momentum</title>
<summary>We study gradient descent, stochastic optimization, the convergence rate, a learning rate schedule,
mirror descent, heavy ball momentum, an adaptive step size, saddle point escape, proximal point methods,
variance reduced estimators and the Polyak Lojasiewicz inequality.</summary>
<link href="http://arxiv.org/abs/2406.10001v1" rel="alternate" type="text/html"/></entry>
</feed>
"""


def test_a_reason_chip_wraps_whole_never_split_across_lines(tmp_path):
    """Each "Why" term is a pill: split over two lines it reads as two half-pills
    ("explain … / prediction").  At phone widths every chip sits on one line."""
    (tmp_path / "chips.xml").write_text(CHIPS_FEED, encoding="utf-8")
    terms = ["gradient descent", "stochastic optimization", "convergence rate", "learning rate schedule",
             "mirror descent", "heavy ball momentum", "adaptive step size", "saddle point escape",
             "proximal point methods", "variance reduced estimators", "Polyak Lojasiewicz inequality"]
    write_config(tmp_path, f"""
        sources: [{{type: arxiv, path: chips.xml}}]
        topics:
          opt: {{name: Optimisation, any: {terms!r}, fields: [abstract]}}
        subscribers: [{{email: a@example.org, name: A, topics: [opt]}}]
        """)
    config = load_config(tmp_path / "config.yaml")
    (sub, matches), = pipeline.match(config, pipeline.papers(config, warn=lambda message: None))
    email_html = Composer(config).compose(sub, matches, now=datetime(2024, 6, 7, tzinfo=UTC)).html
    for width in (320, 375, 414):
        page = tmp_path / f"chips-{width}.html"
        page.write_text(
            f"<!DOCTYPE html><html><head>{CHIP_PROBE}</head><body style='margin:0'>"
            f"<iframe onload='probe(this)' style='width:{width}px;height:900px;border:0' "
            f"srcdoc=\"{html_lib.escape(email_html, quote=True)}\"></iframe></body></html>",
            encoding="utf-8",
        )
        flags = [
            CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={tmp_path / f'profile-{width}'}", "--window-size=1000,1000", "--hide-scrollbars",
        ]
        proc = subprocess.run(flags + ["--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=60)
        found = re.search(r'data-probe="(\d+)x(\d+)x(\d+)"', proc.stdout)
        assert found, proc.stderr[-2000:]
        chips, split, scroll = map(int, found.groups())
        assert chips == len(terms), chips
        assert split == 0, f"{split} reason chips split across lines at {width}px"
        assert scroll <= width, f"horizontal overflow at {width}px: {scroll}"


TOPIC_PROBE = (
    "<script>function probe(f){var d=f.contentDocument,out;try{"
    "var links=d.querySelectorAll('.contents-topic a'),last=links[links.length-1];"
    "var target=d.getElementsByName(last.getAttribute('href').slice(1))[0];"
    "last.click();var title=target.parentNode;"
    "out=[links.length,Math.round(title.getBoundingClientRect().top),title.textContent.trim()].join('|');"
    "}catch(e){out='error '+e;}document.documentElement.setAttribute('data-probe',out);}</script>"
)


def test_a_topic_in_the_contents_jumps_to_its_section(tmp_path):
    """With many topics the contents list runs for screens at 375 px, and only
    the papers in it linked: a reader after the last topic scrolled past
    every paper before it."""
    (tmp_path / "papers").mkdir()
    for f in DATA.glob("hf-papers-*.txt"):
        shutil.copy(f, tmp_path / "papers" / f.name)
    write_config(tmp_path, BASIC_CONFIG.replace("max_papers: 5", "max_papers: 30"))
    config = load_config(tmp_path / "config.yaml")
    sub, matches = next(iter(pipeline.match(config, pipeline.papers(config), "bob@example.org")))
    html = Composer(config).compose(sub, matches, now=datetime(2024, 5, 1, tzinfo=UTC)).html
    proc = probed_at_375(html, TOPIC_PROBE, tmp_path)
    found = re.search(r'data-probe="(\d+)\|(-?\d+)\|([^"]*)"', proc.stdout)
    assert found, re.findall(r'data-probe="[^"]*"', proc.stdout) or proc.stderr[-2000:]
    links, top, heading = int(found.group(1)), int(found.group(2)), html_lib.unescape(found.group(3))
    assert links == 2 and heading.startswith("Diffusion models (")
    assert abs(top) <= 2, f"the section's heading should be at the top after its contents link, is at {top}px"


#: For each relation or operator set off by spaces in the email's text, in each frame: does it begin a line?
OPERATOR_PROBE = (
    "<script>var seen=0,total=0,first=[];function probe(f){var d=f.contentDocument;try{"
    "var walk=d.createTreeWalker(d.body,NodeFilter.SHOW_TEXT),n,r=d.createRange();"
    "function top(node,i){r.setStart(node,i);r.setEnd(node,i+1);var b=r.getClientRects();return b.length?b[0].top:null;}"
    "while((n=walk.nextNode())){var t=n.data;if(n.parentNode.closest('.preheader'))continue;"
    "for(var i=2;i<t.length-1;i++){if('=≤≥∈⊆≈+−–'.indexOf(t[i])<0||!/\\s/.test(t[i-1])||t[i+1]!==' '||/\\s/.test(t[i-2]))continue;"
    "total++;var a=top(n,i-2),b=top(n,i);if(a!==null&&b!==null&&b>a+4)first.push(f.style.width+': '+t.slice(Math.max(0,i-12),i+8));}}"
    "}catch(e){first.push('error '+e);}if(++seen==document.querySelectorAll('iframe').length)"
    "document.documentElement.setAttribute('data-probe',total+'|'+first.join('||'));}</script>"
)


def test_a_relation_never_begins_a_line_on_a_phone(tmp_path):
    """'U ∈ R^(m×k)' broke as 'U' / '∈ R^(m×k)' on a phone: the relation began a
    line, away from what it relates.  The sample digest's formulas, in frames
    of every phone width from 320 to 420 px, break after the relation or
    operator, as typesetting does."""
    root = Path(__file__).resolve().parent.parent
    config = load_config(root / "docs" / "sample" / "config.yaml")
    (sub, matches), = pipeline.match(config, pipeline.papers(config, warn=lambda message: None))
    html = Composer(config).compose(sub, matches, now=datetime(2024, 6, 7, tzinfo=UTC)).html
    (tmp_path / "email.html").write_text(html, encoding="utf-8")
    frames = "".join(f"<iframe onload='probe(this)' style='width:{w}px;height:300px;border:0' src='email.html'></iframe>"
                     for w in range(320, 421, 10))
    page = tmp_path / "page.html"
    page.write_text(f"<!DOCTYPE html><html><head>{OPERATOR_PROBE}</head><body>{frames}</body></html>", encoding="utf-8")
    flags = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--allow-file-access-from-files", f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1000,800",
    ]
    proc = subprocess.run(flags + ["--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=60)
    found = re.search(r'data-probe="(\d+)\|([^"]*)"', proc.stdout)
    assert found, re.findall(r'data-probe="[^"]*"', proc.stdout) or proc.stderr[-2000:]
    total, starting = int(found[1]), html_lib.unescape(found[2])
    assert total >= 50  # the sample's formulas, in each frame
    assert not starting, f"a relation or operator begins a line: {starting}"


#: Each abstract holding a <sub> or <sup>: its height, over its line height.
SCRIPT_PROBE = (
    "<script>function probe(f){var d=f.contentDocument,w=f.contentWindow,out=[];"
    "d.querySelectorAll('sub,sup').forEach(function(s){var p=s.closest('p');if(out.indexOf(p)<0)out.push(p)});"
    "document.documentElement.setAttribute('data-probe',out.map(function(p){"
    "return p.getBoundingClientRect().height+'/'+w.getComputedStyle(p).lineHeight}).join(' '));}</script>"
)


def test_a_formulas_script_makes_no_line_taller(tmp_path):
    """'θ_T' is set as θ<sub>T</sub> in the HTML part; a script raised or
    lowered by the browser's default made its line a few pixels taller than
    the others (uneven lines in the abstract).  Every paragraph holding one is
    a whole number of its lines high."""
    root = Path(__file__).resolve().parent.parent
    config = load_config(root / "docs" / "sample" / "config.yaml")
    (sub, matches), = pipeline.match(config, pipeline.papers(config, warn=lambda message: None))
    html = Composer(config).compose(sub, matches, now=datetime(2024, 6, 7, tzinfo=UTC)).html
    assert "<sub" in html and "<sup" in html
    proc = probed_at_375(html, SCRIPT_PROBE, tmp_path)
    found = re.search(r'data-probe="([^"]+)"', proc.stdout)
    assert found, proc.stderr[-2000:]
    paragraphs = [tuple(float(v.removesuffix("px")) for v in item.split("/")) for item in found[1].split()]
    assert len(paragraphs) >= 2
    for height, line in paragraphs:
        assert abs(height / line - round(height / line)) < 0.02, f"{height}px is not whole lines of {line}px"


#: Each contents entry's title: the left edge of its first line and of its wrapped lines.
CONTENTS_PROBE = (
    "<script>function probe(f){var d=f.contentDocument,out=[];"
    "d.querySelectorAll('p.contents-item a').forEach(function(a){var r=a.getClientRects();"
    "if(r.length>1)out.push(Math.round(r[0].left)+','+Math.round(r[r.length-1].left))});"
    "document.documentElement.setAttribute('data-probe',out.join(' '));}</script>"
)


def test_a_contents_titles_wrapped_lines_hang_under_its_first(tmp_path):
    """The number carries a no-break space after it, so a client that draws
    no box for it (Outlook) still parts '1.' from the title; in a browser
    the title's wrapped lines still start where its first line does."""
    root = Path(__file__).resolve().parent.parent
    config = load_config(root / "docs" / "sample" / "config.yaml")
    (sub, matches), = pipeline.match(config, pipeline.papers(config, warn=lambda message: None))
    html = Composer(config).compose(sub, matches, now=datetime(2024, 6, 7, tzinfo=UTC)).html
    proc = probed_at_375(html, CONTENTS_PROBE, tmp_path)
    found = re.search(r'data-probe="([^"]+)"', proc.stdout)
    assert found, proc.stderr[-2000:]
    edges = [tuple(map(int, pair.split(","))) for pair in found[1].split()]
    assert len(edges) >= 3  # titles that wrap at 375 px
    assert all(first == wrapped for first, wrapped in edges), edges


#: For each contents entry: whether its number sits on its title's first line; the
#: page's scroll width; the body's background; a contents link's colour.
LONG_CONTENTS_PROBE = (
    "<script>var seen=0,out=[];function probe(f){var d=f.contentDocument,w=f.contentWindow,apart=0,n=0;"
    "d.querySelectorAll('p.contents-item').forEach(function(p){var num=p.querySelector('.num').getBoundingClientRect(),"
    "a=p.querySelector('a').getClientRects()[0];n++;if(Math.abs(num.top-a.top)>6)apart++});"
    "out.push([f.style.width,n,apart,d.documentElement.scrollWidth,w.getComputedStyle(d.body).backgroundColor,"
    "w.getComputedStyle(d.querySelector('p.contents-item a')).color].join('|'));"
    "if(++seen==document.querySelectorAll('iframe').length)document.documentElement.setAttribute('data-probe',out.join(';'));}"
    "</script>"
)


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_a_long_contents_keeps_each_number_on_its_titles_line_at_phone_widths(tmp_path, dark):
    """102 papers (a title far longer than a line, forty authors, a topic named in
    three scripts): from the 10th entry on, "10." wrapped inside its 24px box and
    each title began a line below its number.  At 320, 375 and 414 px, light and
    dark, every number sits on its title's line and nothing scrolls sideways, in
    the contents and in the list of the papers past Gmail's clip ("N more papers"),
    and on a desktop's 1200 px too."""
    from newsletter.previewing import preview

    (tmp_path / "papers").mkdir()
    shutil.copy(DATA / "arxiv-reader-latex.xml", tmp_path / "papers" / "arxiv-reader-latex.xml")
    write_config(tmp_path, """
        sources: [{type: arxiv, path: papers/arxiv-reader-latex.xml}]
        topics:
          learn: {name: "Lernen & Optimierung — Größen ≥ 1 (学习)", any: [learning], fields: [title]}
        subscribers: [{email: ada@example.org, name: Ada Lovelace, topics: [learn], max_papers: 120}]
        """)
    report = preview(load_config(tmp_path / "config.yaml"), now=datetime(2024, 11, 8, tzinfo=UTC))
    email_html = (report.out / "ada@example.org.html").read_text(encoding="utf-8")
    assert "…&nbsp;and&nbsp;37&nbsp;more" in email_html and "Supercalifragilisticexpialidociousnessmodels" in email_html
    # over Gmail's clip: the last papers are listed by title after the cards, numbered as the contents is
    more = email_html[email_html.index('<a name="more">'):]
    assert len(re.findall(r'class="contents-item"', more)) > 20
    (tmp_path / "email.html").write_text(email_html, encoding="utf-8")
    frames = "".join(f"<iframe onload='probe(this)' style='width:{w}px;height:600px;border:0' src='email.html'></iframe>"
                     for w in (320, 375, 414, 1200))
    page = tmp_path / "page.html"
    page.write_text(f"<!DOCTYPE html><html><head>{LONG_CONTENTS_PROBE}</head><body>{frames}</body></html>", encoding="utf-8")
    flags = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--allow-file-access-from-files", f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1400,800",
        "--hide-scrollbars", *(["--force-dark-mode"] if dark else []),
    ]
    proc = subprocess.run(flags + ["--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=60)
    found = re.search(r'data-probe="([^"]+)"', proc.stdout)
    assert found, proc.stderr[-2000:]
    for frame in html_lib.unescape(found[1]).split(";"):
        width, entries, apart, scroll, background, link = frame.split("|")
        assert int(entries) == 102, frame
        assert int(apart) == 0, f"{apart} contents numbers on another line than their title at {width}"
        assert int(scroll) <= int(width.removesuffix("px")), f"horizontal overflow at {width}: {scroll}"
        assert (background, link) == (("rgb(17, 24, 39)", "rgb(147, 197, 253)") if dark
                                      else ("rgb(243, 244, 246)", "rgb(29, 78, 216)")), frame


#: The left edge of each name the page's `data-names` lists, where it stands in the first card's authors line.
AUTHOR_ORDER_PROBE = (
    "<script>function probe(f){var d=f.contentDocument,p=d.querySelector('p.authors'),t=p.firstChild,"
    "names=JSON.parse(document.body.getAttribute('data-names')),out=[];names.forEach(function(n){"
    "var at=t.data.indexOf(n),r=d.createRange();r.setStart(t,at);r.setEnd(t,at+n.length);"
    "out.push(Math.round(r.getClientRects()[0].left))});"
    "document.documentElement.setAttribute('data-probe',out.join(','));}</script>"
)


def test_right_to_left_author_names_keep_their_order(tmp_path):
    """Two Arabic names in a row, ``محمد الأحمد, علي حسن, Ana Müller``, made
    one right-to-left run: the second author showed first (left of the
    first), with the comma between them on the wrong side.  Each such name
    is isolated: the names read left to right in the order given, in the
    HTML as in the text part."""
    import json

    from newsletter.matching import PaperMatch
    from newsletter.models import Paper

    (tmp_path / "papers").mkdir()
    shutil.copy(DATA / "hf-papers-compact.txt", tmp_path / "papers")
    write_config(tmp_path, BASIC_CONFIG)
    config = load_config(tmp_path / "config.yaml")
    names = ["محمد الأحمد", "علي حسن", "Ana Müller", "דוד לוי"]
    paper = Paper(title="A diffusion model paper", abstract="About diffusion models.", source="t",
                  authors=tuple(names), url="https://arxiv.org/abs/2411.20002")
    composed = Composer(config).compose(config.subscribers[0], [PaperMatch(paper, 1, ("diffusion",), (), ())],
                                        now=datetime(2024, 6, 7, tzinfo=UTC))
    assert "\u2068محمد الأحمد\u2069, \u2068علي حسن\u2069, Ana Müller, \u2068דוד לוי\u2069" in composed.text
    probe = AUTHOR_ORDER_PROBE.replace("<script>", "<script>document.addEventListener('DOMContentLoaded',"
                                       "function(){document.body.setAttribute('data-names'," + json.dumps(json.dumps(
                                           names)) + ")});")
    proc = probed_at_375(composed.html, probe, tmp_path)
    found = re.search(r'data-probe="([^"]+)"', proc.stdout)
    assert found, proc.stderr[-2000:]
    lefts = [int(v) for v in found[1].split(",")]
    assert lefts == sorted(lefts) and len(set(lefts)) == 4, lefts


#: For each width of the frame, from 280 to 520 px: how many lines the first card's authors take, and on how
#: many lines "and N more" stands (its range's boxes by their tops).
AUTHORS_MORE_PROBE = (
    "<script>function probe(f){var out=[];for(var w=280;w<=520;w+=2){f.style.width=w+'px';"
    "var d=f.contentDocument,p=d.querySelector('p.authors'),t=p.firstChild,at=t.data.indexOf('and'),"
    "r=d.createRange();r.setStart(t,at);r.setEnd(t,t.data.length);var tops={};"
    "Array.prototype.forEach.call(r.getClientRects(),function(b){if(b.width>0)tops[Math.round(b.top)]=1});"
    "var lh=parseFloat(f.contentWindow.getComputedStyle(p).lineHeight);"
    "out.push(w+':'+Math.round(p.getBoundingClientRect().height/lh)+':'+Object.keys(tops).length)}"
    "document.documentElement.setAttribute('data-probe',out.join(','));}</script>"
)


def test_and_n_more_authors_stays_on_one_line_at_every_phone_width(tmp_path):
    """A card of ten authors ends "… and 7 more": at some widths it broke as
    "… and 7" at a line's end and "more" alone on the next.  Across 280 to
    520 px (every 2 px, so the line's end passes each word of it), the
    phrase stands on one line, while the authors line does wrap."""
    from newsletter.matching import PaperMatch
    from newsletter.models import Paper

    (tmp_path / "papers").mkdir()
    shutil.copy(DATA / "hf-papers-compact.txt", tmp_path / "papers")
    write_config(tmp_path, BASIC_CONFIG)
    config = load_config(tmp_path / "config.yaml")
    names = ["Zoë Brändli", "José Ramón García", "Ahmet Yılmaz", "Kenji Tanaka", "Priya Raman", "Ana Müller",
             "Chloé Dubois", "Wei Zhang", "Oluwaseun Adeyemi", "Nils Björk"]
    paper = Paper(title="A diffusion model paper", abstract="About diffusion models.", source="t",
                  authors=tuple(names), url="https://arxiv.org/abs/2411.20002")
    composed = Composer(config).compose(config.subscribers[0], [PaperMatch(paper, 1, ("diffusion",), (), ())],
                                        now=datetime(2024, 6, 7, tzinfo=UTC))
    assert "Ahmet Yılmaz, …\xa0and\xa07\xa0more" in composed.text
    proc = probed_at_375(composed.html, AUTHORS_MORE_PROBE, tmp_path)
    found = re.search(r'data-probe="([^"]+)"', proc.stdout)
    assert found, proc.stderr[-2000:]
    widths = [tuple(map(int, w.split(":"))) for w in found[1].split(",")]
    assert len(widths) == 121 and {lines for _, lines, _ in widths} >= {1, 2}  # the line does wrap, and not always
    split = [w for w, _, phrase_lines in widths if phrase_lines != 1]
    assert not split, f'"and 7 more" broken over two lines at {split} px'


#: For each width of the frame, from 280 to 520 px: on how many lines the abstract's last word and its "…" stand.
ELLIPSIS_PROBE = (
    "<script>function probe(f){var out=[];for(var w=280;w<=520;w+=2){f.style.width=w+'px';"
    "var d=f.contentDocument,p=d.querySelector('p.abstract'),t=p.lastChild,at=t.data.lastIndexOf(' ',t.data.length-3)+1,"
    "r=d.createRange();r.setStart(t,at);r.setEnd(t,t.data.length);var tops={};"
    "Array.prototype.forEach.call(r.getClientRects(),function(b){if(b.width>0)tops[Math.round(b.top)]=1});"
    "out.push(w+':'+Object.keys(tops).length)}"
    "document.documentElement.setAttribute('data-probe',out.join(','));}</script>"
)


def test_a_trimmed_abstracts_ellipsis_never_stands_alone_on_a_line(tmp_path):
    """An abstract cut at a sentence's end closes with "…": on a phone it
    wrapped alone onto the abstract's last line.  Across 280 to 520 px it
    stays beside the sentence's last word (and so in the text part)."""
    from newsletter.matching import PaperMatch
    from newsletter.models import Paper

    (tmp_path / "papers").mkdir()
    shutil.copy(DATA / "hf-papers-compact.txt", tmp_path / "papers")
    write_config(tmp_path, BASIC_CONFIG)
    config = load_config(tmp_path / "config.yaml")
    abstract = ("We train diffusion models on small data sets and measure what each step of the sampler adds. "
                "The first steps decide the layout of an image and the last ones its texture. A schedule that "
                "spends its steps where they matter samples four times faster at equal quality. "
                "Our code and the trained models are released for everyone to use and extend as they wish. ") * 2
    paper = Paper(title="A diffusion model paper", abstract=abstract, source="t", url="https://arxiv.org/abs/2411.20002")
    composed = Composer(config).compose(config.subscribers[0], [PaperMatch(paper, 1, ("diffusion",), (), ())],
                                        now=datetime(2024, 6, 7, tzinfo=UTC))
    assert "its texture.\xa0…" in composed.text and "its texture.&nbsp;…</p>" in composed.html
    proc = probed_at_375(composed.html, ELLIPSIS_PROBE, tmp_path)
    found = re.search(r'data-probe="([^"]+)"', proc.stdout)
    assert found, proc.stderr[-2000:]
    widths = [tuple(map(int, w.split(":"))) for w in found[1].split(",")]
    assert len(widths) == 121
    split = [w for w, lines in widths if lines != 1]
    assert not split, f'the abstract\'s "…" alone on a line at {split} px'


# Every element with text of its own: its computed colour against the first
# background behind it (itself or an ancestor), as WCAG's contrast ratio; the
# lowest, and the element giving it; then the page's scroll width and the frame's width.
CONTRAST_PROBE = (
    "<script>function lum(c){var m=c.match(/[\\d.]+/g).map(Number).slice(0,3).map(function(v){v/=255;"
    "return v<=0.03928?v/12.92:Math.pow((v+0.055)/1.055,2.4)});return 0.2126*m[0]+0.7152*m[1]+0.0722*m[2]}"
    "function bg(el,w){for(;el;el=el.parentElement){var c=w.getComputedStyle(el).backgroundColor;"
    "if(c&&c!=='transparent'&&!/rgba\\(.*, 0\\)$/.test(c))return c}return 'rgb(255, 255, 255)'}"
    "function probe(f){var d=f.contentDocument,w=f.contentWindow,low=99,who='';"
    "d.body.querySelectorAll('*').forEach(function(el){var own=Array.prototype.some.call(el.childNodes,"
    "function(n){return n.nodeType===3&&n.textContent.trim()});if(!own||el.closest('.preheader'))return;"
    "var a=lum(w.getComputedStyle(el).color),b=lum(bg(el,w)),r=(Math.max(a,b)+0.05)/(Math.min(a,b)+0.05);"
    "if(r<low){low=r;who=el.tagName+'.'+el.className}});document.documentElement.setAttribute('data-probe',"
    "low.toFixed(2)+'x'+who+'x'+d.documentElement.scrollWidth+'x'+w.innerWidth)}</script>"
)


def test_a_long_url_and_formula_fit_375px_and_every_text_keeps_its_contrast_light_and_dark(tmp_path):
    """A 200-character URL without a break and a long formula in a title and
    an abstract: no horizontal scroll at 375 px; and every text of the digest
    (titles, marks, reason chips, meta, links, footer) at least WCAG AA's 4.5:1
    against what stands behind it, in light and in dark mode."""
    url = "https://example.org/" + "a" * 180
    formula = r"$\mathcal{L}_{\mathrm{total}}(\theta)=\sum_{i=1}^{N}\left\|f_\theta(x_i)-y_i\right\|_2^2+\lambda\|\theta\|_1$"
    (tmp_path / "papers").mkdir()
    (tmp_path / "papers" / "day.txt").write_text(
        "Get trending papers in your email inbox once a day!\nGet trending papers in your email inbox!\nSubscribe"
        f"Diffusion Models Minimising {formula} Everywhere\nWe train diffusion models; code at {url} and "
        f"the loss {formula} converges.\n"
        "Fast Sampling for Score-Based Diffusion Models\nWe sample diffusion models fast.\n", encoding="utf-8")
    write_config(tmp_path, BASIC_CONFIG)
    config = load_config(tmp_path / "config.yaml")
    (sub, matches), = pipeline.match(config, pipeline.papers(config), "ada@example.org")
    html = Composer(config).compose(sub, matches, now=datetime(2024, 5, 1, tzinfo=UTC)).html
    assert "a" * 180 in html and "‖" in html
    page = tmp_path / "page.html"
    for dark in (False, True):
        page.write_text(
            f"<!DOCTYPE html><html><head>{CONTRAST_PROBE}</head><body style='margin:0'>"
            "<iframe onload='probe(this)' style='width:375px;height:900px;border:0' "
            f"srcdoc=\"{html_lib.escape(html, quote=True)}\"></iframe></body></html>", encoding="utf-8")
        profile = tmp_path / f"profile-{dark}"
        flags = [
            CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}", "--window-size=1000,1000", "--hide-scrollbars",
        ] + (["--force-dark-mode"] if dark else [])
        proc = subprocess.run(flags + ["--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=60)
        found = re.search(r'data-probe="([\d.]+)x([^"x]*)x(\d+)x(\d+)"', proc.stdout)
        assert found, proc.stderr[-2000:]
        ratio, element, scroll, viewport = float(found[1]), found[2], int(found[3]), int(found[4])
        assert viewport == 375 and scroll <= viewport, f"horizontal overflow at 375px ({dark=}): {scroll}"
        assert ratio >= 4.5, f"{element} has a contrast of {ratio}:1 in {'dark' if dark else 'light'} mode"
