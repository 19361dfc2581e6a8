"""``newsletter send`` end to end against the wire, and ``send --dry-run`` at scale.

    python bench/send_e2e.py [--subscribers 2000] [--dry-run-subscribers 25000 100000]

Row 1: ``newsletter send`` as a user runs it (process start to exit, state
written; the templates' compiled code kept by an earlier ``validate``) for N
subscribers in four distinct topic mixes (digests of about 56 KB), over SMTP
with 4 connections to Postfix's ``smtp-sink``, next to
``smtp-source -s 4`` sending the same number of messages of the same size to
the same sink: the ratio is what the tool costs on top of the wire.  Peak
RSS is the process tree's (``newsletter send`` forks one worker per core).

Row 2: ``send --dry-run`` for growing synthetic subscriber lists (same
mixes): wall time per subscriber and peak RSS, which must stay flat.

Figures on a shared machine are noisy: each is the median of a few runs; the
ratio is the median of pairs (the wire, then the send, back to back).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from harness import measure  # noqa: E402
from workload import reader, sample_papers, write_config, write_exports  # noqa: E402

SMTP_SOURCE = shutil.which("smtp-source") or "/usr/sbin/smtp-source"
NOW = "2024-05-01T08:00:00+00:00"

#: Four topic mixes, each a few topics with many matching sample papers.
MIXES = (["diffusion"], ["llm", "agents"], ["vision", "diffusion"], ["rl", "llm", "vision"])
TOPICS = {
    "diffusion": {"name": "Diffusion models", "any": ["diffusion", "denois*", "score-based"]},
    "llm": {"name": "Language models", "any": ["language model*", "llm*", "instruction tuning"]},
    "agents": {"name": "Agents", "any": ["agent*", "tool use", "planning"]},
    "vision": {"name": "Vision", "any": ["image*", "video*", "visual"]},
    "rl": {"name": "Reinforcement learning", "any": ["reinforcement", "reward*", "policy"]},
}


def make_send_workload(folder: Path, subscribers: int, *, port: int | None = None, max_papers: int = 16) -> Path:
    """Papers (the samples) and a config: ``subscribers`` subscribers cycling
    through :data:`MIXES`, SMTP to 127.0.0.1:``port`` (the outbox without one).
    16 papers a digest keep it at about 56 KB, the size its figures were
    measured at (14 did before each mark's and chip's style moved to <style>)."""
    folder.mkdir(parents=True, exist_ok=True)
    write_exports(folder / "papers", sample_papers())
    subs = [reader(i, {"topics": MIXES[i % len(MIXES)], "max_papers": max_papers}, width=6) for i in range(subscribers)]
    delivery = (
        {"transport": "smtp", "host": "127.0.0.1", "port": port, "security": "none", "connections": 4}
        if port
        else None
    )
    return write_config(folder, TOPICS, subs, delivery=delivery)


def timed_run(cmd: list[str], cwd: Path) -> tuple[float, float, int, str, float]:
    """(wall s, peak RSS MB, exit code, last line of output, CPU s) of ``cmd``
    (see :func:`harness.measure`)."""
    m = measure(cmd, cwd)
    lines = m.out.splitlines() or m.err.splitlines()[-1:]
    return m.wall, m.rss_mb, m.code, (lines or [""])[-1], m.cpu


def smtp_source_seconds(port: int, count: int, size: int) -> float:
    cmd = [SMTP_SOURCE, "-d", "-s", "4", "-m", str(count), "-l", str(size),
           "-f", "digest@example.org", "-t", "reader@example.org", f"127.0.0.1:{port}"]
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600)
    return time.perf_counter() - t


def message_size(folder: Path) -> int:
    """Mean size of the digests ``send`` builds for this workload (one of each mix, via the outbox)."""
    config = make_send_workload(folder, len(MIXES))
    r = subprocess.run([sys.executable, "-m", "newsletter", "--config", str(config), "send", "--now", NOW],
                       cwd=folder, env={**os.environ, "PYTHONPATH": str(ROOT), "TZ": "UTC"},
                       capture_output=True, text=True, timeout=600)
    sizes = [p.stat().st_size for p in (folder / "outbox").rglob("*.eml")]
    if r.returncode or not sizes:
        raise RuntimeError(f"sizing run failed: {r.stderr[-2000:]}")
    return int(statistics.mean(sizes))


def compile_package() -> None:
    """Write the package's bytecode first, as ``pip install`` does: a user's
    command does not compile the modules from source on every start (this
    machine sets PYTHONDONTWRITEBYTECODE, which would cost each run 0.07 s)."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "newsletter")], check=True)


def warm_template_cache(config: Path) -> None:
    """``newsletter validate`` once, untimed, as a user runs it after writing
    the config: it leaves the templates' compiled code in the ``cache:``
    folder, as every send after the first finds it (the state stays fresh:
    validate never creates it)."""
    subprocess.run([sys.executable, "-m", "newsletter", "--config", str(config), "validate"], cwd=config.parent,
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600)


def bench_send_e2e(table, sink_factory, folder: Path, subscribers: int = 2000, reps: int = 5) -> None:
    compile_package()
    size = message_size(folder / "size")
    sink = sink_factory()
    wires, runs = [], []
    try:
        # Pairs, each the wire then the send, back to back: both see the
        # machine as it is at that moment (other work on a shared machine
        # slows the Python command more than the C one).
        configs = [make_send_workload(folder / f"send-{i}", subscribers, port=sink.port) for i in range(reps)]
        for config in configs:
            warm_template_cache(config)
        for config in configs:
            wires.append(smtp_source_seconds(sink.port, subscribers, size))
            runs.append(timed_run([sys.executable, "-m", "newsletter", "--config", str(config), "send", "--now", NOW],
                                  config.parent))
    finally:
        sink.stop()
    wire = statistics.median(wires)
    wall = statistics.median(r[0] for r in runs)
    cpu = statistics.median(r[4] for r in runs)
    rss = max(r[1] for r in runs)
    ok = all(r[2] == 0 for r in runs)
    ratio = statistics.median(r[0] / w for r, w in zip(runs, wires))
    table.add(f"smtp-source -s 4, {subscribers} x {size // 1024} KB messages to smtp-sink", f"{wire:.2f} s")
    table.add(f"newsletter send end to end, {subscribers} subscribers x {size // 1024} KB, 4 mixes, connections=4",
              f"{wall:.2f} s ({cpu:.2f} s CPU), peak RSS {rss:.0f} MB ({runs[0][3]}, exit {runs[0][2]})")
    table.add(f"newsletter send / smtp-source (end to end), median of {reps} pairs",
              f"x{ratio:.2f} (pairs: {' '.join(f'{r[0] / w:.2f}' for r, w in zip(runs, wires))})",
              "<= 2.0 and RSS < 500 MB", ok and ratio <= 2.0 and rss < 500)


def bench_dry_run(table, folder: Path, counts: tuple[int, ...] = (25000, 100000)) -> None:
    compile_package()
    per_sub = {}
    for n in counts:
        config = make_send_workload(folder / f"dry-{n}", n)
        wall, rss, code, last, cpu = timed_run(
            [sys.executable, "-m", "newsletter", "--config", str(config), "send", "--dry-run", "--now", NOW], config.parent
        )
        per_sub[n] = cpu / n  # CPU, not wall time: the machine may be shared
        table.add(f"send --dry-run, {n:,} subscribers",
                  f"{wall:.1f} s ({wall / n * 1e6:.0f} us each; {cpu:.1f} s CPU), peak RSS {rss:.0f} MB (exit {code})",
                  "RSS < 500 MB", code == 0 and rss < 500)
    small, large = min(per_sub), max(per_sub)
    growth = per_sub[large] / per_sub[small]
    table.add(f"send --dry-run CPU per subscriber {small:,} -> {large:,}", f"x{growth:.2f}", "linear (x < 1.3)",
              growth < 1.3)


if __name__ == "__main__":
    import argparse

    from harness import Sink, Table

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=2000)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--dry-run-subscribers", type=int, nargs="*", default=[25000, 100000])
    args = parser.parse_args()
    table = Table()
    work = Path(tempfile.mkdtemp(prefix="digest-e2e-"))
    try:
        bench_send_e2e(table, Sink, work, args.subscribers, args.reps)
        if args.dry_run_subscribers:
            bench_dry_run(table, work, tuple(args.dry_run_subscribers))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(table)
