"""The rendered email in real headless Chromium: no horizontal overflow at 375 and 1200 px."""

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
from newsletter.rendering import Composer

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
    for width in (375, 1200):
        scroll, viewport, _ = measure(html, width, tmp_path / f"profile-{width}")
        assert viewport == width
        assert scroll <= viewport, f"horizontal overflow at {width}px: scrollWidth {scroll}"
    _, _, light = measure(html, 375, tmp_path / "profile-light")
    _, _, dark = measure(html, 375, tmp_path / "profile-dark", dark=True)
    assert light == "rgb(243, 244, 246)" and dark == "rgb(17, 24, 39)"
