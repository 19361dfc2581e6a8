"""Per-email cost of the render stage: template render, CSS inlining, message build.

    python bench/render_timing.py [config.yaml] [N]

Compares the naive path (premailer on every email) with the default
:class:`newsletter.rendering.CssInliner`.  A quick measurement, not a test.
"""

from __future__ import annotations

import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from newsletter import pipeline  # noqa: E402
from newsletter.config import load_config  # noqa: E402
from newsletter.messages import build_message, new_message_id  # noqa: E402
from newsletter.rendering import Composer, CssInliner, inline_css  # noqa: E402


def main() -> None:
    path = sys.argv[1] if len(sys.argv) > 1 else str(Path(__file__).resolve().parent.parent / "config.yaml")
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    config = load_config(path)
    digests = [(s, m) for s, m in pipeline.match(config, pipeline.papers(config)) if m]
    now = datetime(2024, 5, 1, 8, tzinfo=timezone.utc)
    for label, make in (("naive (premailer per email)", lambda: inline_css), ("fast (CssInliner)", CssInliner)):
        composer = Composer(config, inliner=make())
        for sub, matches in digests:  # warm up: template compile, premailer's caches, the learnt sheet
            composer.compose(sub, matches, now=now)
        parts = {"render": [], "inline": [], "message": [], "compose": []}
        for i in range(n):
            sub, matches = digests[i % len(digests)]
            t0 = time.perf_counter()
            ctx = composer.context(sub, matches, now)
            html = composer.html_template.render(ctx)
            text = composer.text_template.render(ctx)
            subject = composer.subject_template.render(ctx)
            t1 = time.perf_counter()
            inlined = composer.inliner(html)
            t2 = time.perf_counter()
            build_message(config, sub, subject=subject, html=inlined, text=text, message_id=new_message_id(config), date=now)
            t3 = time.perf_counter()
            composer.compose(sub, matches, now=now)
            t4 = time.perf_counter()
            for key, dt in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                parts[key].append(dt * 1000)
        sizes = statistics.mean(len(composer.compose(s, m, now=now).html) for s, m in digests) / 1024
        print(f"{label}: " + ", ".join(f"{k} {statistics.median(v):.2f} ms" for k, v in parts.items())
              + f"  (median of {n}, {len(digests)} digests, mean HTML {sizes:.0f} KB)")


if __name__ == "__main__":
    main()
