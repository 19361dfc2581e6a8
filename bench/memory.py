"""Memory and state size for one big export, ``newsletter send`` end to end.

    python bench/memory.py [--papers 86000] [--subscribers 200]

Writes one hf-papers-text export of ``papers`` synthetic papers (86,000 make
about 115 MB, the size that once peaked at 2.4 GB of RSS and grew the state
by 194 MB), a config with 50 keyword topics and ``subscribers`` subscribers,
then runs the real ``newsletter send`` (outbox transport) and reports its
peak RSS (the command's and its send workers', started from a small wrapper
process: :func:`harness.measure`) and the state file's size.
The targets: peak RSS within 200 MB + 6x the export's size, and a state that grows
with what is sent (the papers of the digests), not with what is read.
Figures on a shared machine are noisy (the RSS far less than the time).
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from harness import measure  # noqa: E402
from workload import make_config, make_topics, sample_papers, vary, write_exports  # noqa: E402

NOW = "2024-05-01T08:00:00+00:00"
#: Peak RSS allowed: the interpreter and libraries, plus so much per byte of
#: export (the bytes, their decoded text, the papers, one slice's word index).
RSS_BASE = 200 * 1024 * 1024
RSS_PER_EXPORT_BYTE = 6
#: State bytes allowed per paper sent (its row, its JSON, the digest_papers row).
STATE_PER_SENT_PAPER = 4096


def make_big_export(folder: Path, papers: int, subscribers: int, seed: int = 7) -> tuple[Path, int]:
    """The config's path and the export's size in bytes."""
    rng = random.Random(seed)
    samples = sample_papers()
    [export] = write_exports(folder / "papers", vary(samples, papers, rng), per_file=papers)
    return make_config(folder, make_topics(samples, 50, rng), subscribers, rng), export.stat().st_size


def run_send(folder: Path) -> tuple[float, int, int, str]:
    """(wall seconds, peak RSS bytes, exit code, stderr) of one ``newsletter send``:
    the command's and its send workers' (see :func:`harness.measure`)."""
    m = measure([sys.executable, "-m", "newsletter", "send", "--now", NOW], folder, stdout=folder / "send.out")
    return m.wall, int(m.rss_mb * 1024 * 1024), m.code, m.err


def bench_memory(table, papers: int = 86_000, subscribers: int = 200) -> None:
    """Add the big-export rows to ``table`` (bench/run.py's Table)."""
    folder = Path(tempfile.mkdtemp(prefix="digest-memory-"))
    try:
        config, size = make_big_export(folder, papers, subscribers)
        wall, peak, code, err = run_send(folder)
        if code != 0:
            print(err, file=sys.stderr)
            table.add(f"big export ({papers:,} papers): newsletter send", f"failed (exit {code})", "exit 0", False)
            return
        import sqlite3

        state = folder / "state.sqlite3"
        with sqlite3.connect(state) as con:
            sent = con.execute("SELECT count(DISTINCT paper_id) FROM digest_papers").fetchone()[0]
            kept = con.execute("SELECT count(*) FROM papers").fetchone()[0]
        state_bytes = state.stat().st_size
        mb = 1024 * 1024
        table.add(f"big export ({papers:,} papers, {size / mb:.0f} MB, {subscribers} subscribers): send wall time",
                  f"{wall:.0f} s")
        limit = RSS_BASE + RSS_PER_EXPORT_BYTE * size
        table.add("big export: send peak RSS", f"{peak / mb:,.0f} MB",
                  f"<= {RSS_BASE // mb} MB + {RSS_PER_EXPORT_BYTE}x the export ({limit / mb:,.0f} MB)", peak <= limit)
        table.add("big export: state after the send", f"{state_bytes / mb:.1f} MB ({kept:,} papers kept, {sent:,} sent)",
                  f"grows with what is sent (<= {STATE_PER_SENT_PAPER // 1024} KB per paper sent)",
                  state_bytes <= STATE_PER_SENT_PAPER * max(sent, 1) + mb)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--papers", type=int, default=86_000)
    parser.add_argument("--subscribers", type=int, default=200)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "bench"))
    from harness import Table

    table = Table()
    bench_memory(table, args.papers, args.subscribers)
    print(table)


if __name__ == "__main__":
    main()
