"""Render the sample digest (docs/sample/) and screenshot it in headless Chromium.

    .venv/bin/python docs/screenshots.py        (or: bash docs/screenshots.sh)

Writes into docs/screenshots/: ``sample-digest.html`` and ``sample-digest.txt``
(the two parts exactly as sent) and ``digest-{375,1200}-{light,dark}.png``,
each the whole page at that width.  Needs Debian's ``chromium``
(``apt-get install -y chromium``).  The digest's date is fixed, so the
files change only when the templates, the sample or the code do.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from newsletter import pipeline  # noqa: E402
from newsletter.config import load_config  # noqa: E402
from newsletter.rendering import Composer  # noqa: E402

SAMPLE = ROOT / "docs" / "sample" / "config.yaml"
OUT = ROOT / "docs" / "screenshots"
NOW = datetime(2024, 6, 7, 8, 0, tzinfo=UTC)
WIDTHS = (375, 1200)
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
]
PROBE = "<script>document.documentElement.setAttribute('data-height', document.documentElement.scrollHeight)</script>"


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        sys.exit("chromium is not installed: apt-get install -y chromium")
    return found


def run(browser: str, args: list[str], dark: bool) -> str:
    with tempfile.TemporaryDirectory() as profile:
        flags = [browser, *FLAGS, f"--user-data-dir={profile}"] + (["--force-dark-mode"] if dark else [])
        proc = subprocess.run(flags + args, capture_output=True, text=True, timeout=120)
    if proc.returncode:
        sys.exit(f"chromium failed: {proc.stderr[-2000:]}")
    return proc.stdout


def page_height(browser: str, html: str, width: int, dark: bool, work: Path) -> int:
    probe = work / f"probe-{width}.html"
    probe.write_text(html.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    dom = run(browser, [f"--window-size={width},1000", "--dump-dom", probe.as_uri()], dark)
    found = re.search(r'data-height="(\d+)"', dom)
    if not found:
        sys.exit("could not measure the page height in chromium")
    return int(found.group(1))


def main() -> None:
    browser = chromium()
    config = load_config(SAMPLE)
    (sub, matches), = pipeline.match(config, pipeline.papers(config))
    composed = Composer(config).compose(sub, matches, now=NOW, message_id="<sample@example.org>")
    OUT.mkdir(parents=True, exist_ok=True)
    page = OUT / "sample-digest.html"
    page.write_text(composed.html, encoding="utf-8")
    (OUT / "sample-digest.txt").write_text(composed.text, encoding="utf-8")
    print(f"{len(matches)} papers, HTML {len(composed.html.encode()) / 1024:.1f} KB -> {page.relative_to(ROOT)}")
    with tempfile.TemporaryDirectory() as tmp:
        for width in WIDTHS:
            for scheme in ("light", "dark"):
                dark = scheme == "dark"
                height = page_height(browser, composed.html, width, dark, Path(tmp))
                png = OUT / f"digest-{width}-{scheme}.png"
                run(browser, [f"--window-size={width},{height}", f"--screenshot={png}", page.as_uri()], dark)
                print(f"{png.relative_to(ROOT)}  {width}x{height}")


if __name__ == "__main__":
    main()
