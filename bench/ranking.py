"""Ranking speed: ``newsletter match --json`` on 5,000 papers for 200 ``about`` topics.

    python bench/ranking.py            # 5,000 papers, 200 topics
    python bench/ranking.py --quick    # 1,000 papers, 50 topics

The workload's papers (bench/workload.py) and one subscriber per topic; each
topic is only a sentence (``about``), built from the workload's topic terms.
The whole command is timed, process start to exit, with its CPU time (on a
machine others share, wall time includes waiting for a core; CPU time does
not) and peak RSS: first
with an empty embedding cache (every paper embedded), then again (a day
whose papers were all seen before: the cache answers), then with two liked
papers added to every topic (``like:``: each such topic is scored with and
without them).  Target: under 10 s and 500 MB on this 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from harness import measure  # noqa: E402
from workload import make_topics, sample_papers, vary, write_exports  # noqa: E402


def about_topics(n: int, rng: random.Random) -> dict:
    """``n`` topics described in words, from the workload's mid-frequency terms."""
    topics = {}
    for key, topic in make_topics(sample_papers(), n, rng).items():
        terms = [t.rstrip("*") for t in topic["any"] if not t.startswith("/")]
        sentence = f"Papers on {terms[0]} and {terms[1]}, in particular {', '.join(terms[2:])}, and their theory."
        topics[key] = {"name": topic["name"], "about": sentence}
    return topics


def make_ranking_workload(folder: Path, papers: int, topics: int, seed: int = 7, liked: int = 0) -> Path:
    """The workload's config; ``liked`` papers of the day (by title) added to each topic as ``like``."""
    rng = random.Random(seed)
    day = vary(sample_papers(), papers, rng)
    write_exports(folder / "papers", day)
    ranked = about_topics(topics, rng)
    for topic in ranked.values():
        if liked:
            topic["like"] = [title for title, _ in rng.sample(day, liked)]
    config = {
        "sources": [{"type": "hf-papers-text", "path": "papers/"}],
        "topics": ranked,
        "subscribers": [{"email": f"reader{i:04d}@example.org", "topics": [key]} for i, key in enumerate(ranked)],
        "state": "state.sqlite3",
        "cache": "cache",
    }
    path = folder / "config.yaml"
    path.write_text(json.dumps(config, indent=1), encoding="utf-8")
    return path


def run_match(config: Path) -> tuple[float, float, int, float]:
    """(wall seconds, peak RSS MB, exit code, CPU seconds) of ``newsletter match --json``
    (see :func:`harness.measure`)."""
    m = measure([sys.executable, "-m", "newsletter", "--config", str(config), "match", "--json"], config.parent,
                stdout=Path(os.devnull), timeout=600)
    return m.wall, m.rss_mb, m.code, m.cpu


def bench_ranking(table, papers: int = 5000, topics: int = 200) -> None:
    """Adds rows to ``table`` (bench/run.py's Table): cold and warm cache."""
    with tempfile.TemporaryDirectory(prefix="digest-ranking-") as tmp:
        config = make_ranking_workload(Path(tmp), papers, topics)
        runs = [("empty embedding cache", config), ("cached embeddings", config)]
        liked = make_ranking_workload(Path(tmp) / "liked", papers, topics, liked=2)
        (Path(tmp) / "liked" / "cache").symlink_to(Path(tmp) / "cache")  # the same papers: already embedded
        runs.append(("cached embeddings, 2 liked papers per topic", liked))
        for label, path in runs:
            wall, rss, code, cpu = run_match(path)
            table.add(
                f"newsletter match --json, {papers} papers x {topics} about topics ({label})",
                f"{wall:.1f} s (CPU {cpu:.1f} s), peak RSS {rss:.0f} MB (exit {code})",
                "< 10 s and < 500 MB",
                code == 0 and wall < 10 and rss < 500,
            )


class _Rows:
    def __init__(self) -> None:
        self.rows: list[tuple] = []

    def add(self, measure: str, value: str, target: str = "", ok: bool | None = None) -> None:
        self.rows.append((measure, value, target, ok))
        print(f"{measure}: {value}" + (f"  [{target}: {'MET' if ok else 'NOT MET'}]" if target else ""), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 papers, 50 topics")
    args = parser.parse_args()
    bench_ranking(_Rows(), *((1000, 50) if args.quick else (5000, 200)))


if __name__ == "__main__":
    main()
