"""Paper Digest benchmark: one command, one table.

    python bench/run.py            # the full run (5k papers, 50 topics, 1k and 10k subscribers)
    python bench/run.py --quick    # a smaller run (a minute or two)

Builds synthetic workloads from the sample exports (bench/workload.py) in a
temporary folder and prints, in one table: papers parsed per second; topic
matching (index for 25 and 50 topics, selection for 1k and 10k subscribers);
digests rendered per second on one core, split into template render, CSS
inlining and message building, for the naive pipeline (premailer on every
email, the ``email`` package's message) and the fast one (css_inline), with the ratio;
SMTP messages per second against Postfix's ``smtp-sink`` next to Postfix's
``smtp-source`` (the limit) and a new connection per message (naive); and
``newsletter send`` end to end (wall time, peak RSS); and how an export's
read grows from 2,000 to 8,000 papers (``bench/reading.py``: work counted,
not timed; x6 at most, linear is x4).  Each target is
printed with MET or NOT MET.  Timings are medians/means of repetitions; the
machine may be busy, so read them as such.
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import smtplib
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from harness import Sink, Table, measure  # noqa: E402
from workload import make_workload  # noqa: E402

from newsletter import pipeline  # noqa: E402
from newsletter.config import load_config  # noqa: E402
from newsletter.matching import Matcher  # noqa: E402
from newsletter.messages import email_package_writer, new_message_id  # noqa: E402
from newsletter.rendering import Composer, premailer_inline  # noqa: E402

NOW = datetime(2024, 5, 1, 8, tzinfo=UTC)
SMTP_SINK = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
SMTP_SOURCE = shutil.which("smtp-source") or "/usr/sbin/smtp-source"

FULL = dict(papers=5000, topics=50, subs=(1000, 10000), fast_digests=10000, naive_digests=60, smtp_messages=3000, reps=3,
            e2e_reps=5)
QUICK = dict(papers=1000, topics=20, subs=(200, 1000), fast_digests=200, naive_digests=20, smtp_messages=500, reps=2, e2e_reps=2)


def timed(fn, reps: int) -> float:
    """Median wall time of ``reps`` calls."""
    times = []
    for _ in range(reps):
        gc.collect()
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


# --------------------------------------------------------------------------- parse, match


def bench_parse_and_match(table: Table, configs: dict[int, Path], size: dict) -> None:
    big = load_config(configs[max(configs)])
    papers = pipeline.papers(big)
    t = timed(lambda: pipeline.papers(big), size["reps"])
    table.add(f"papers parsed ({len(papers)} papers, {len(big.sources)} source)", f"{len(papers) / t:,.0f} papers/s ({t:.2f} s)")

    index_times = {}
    keys = list(big.topics)
    for n in (len(keys) // 2, len(keys)):
        topics = {k: big.topics[k] for k in keys[:n]}
        index_times[n] = timed(lambda topics=topics: Matcher(topics).index(papers), size["reps"])
        table.add(f"matching: index {n} topics x {len(papers)} papers", f"{index_times[n]:.2f} s")
    half, full = index_times[len(keys) // 2], index_times[len(keys)]
    table.add("matching: index time 50% -> 100% topics", f"x{full / half:.2f}",
              "at most linear in topics (x <= 2.2)", full / half <= 2.2)

    index = Matcher(big.topics).index(papers)
    per_sub = {}
    for n, path in sorted(configs.items()):
        subs = list(load_config(path).subscribers) if path != configs[max(configs)] else list(big.subscribers)

        def select(subs=subs):
            # Cold: the selections the index keeps from the last repetition
            # (subscribers sharing topics share one) would make this free.
            index._selected.clear()
            for sub in subs:
                index.select(sub)

        t = timed(select, size["reps"])
        per_sub[n] = t / n
        table.add(f"matching: select for {n} subscribers", f"{t:.2f} s ({t / n * 1000:.2f} ms each)")
    small, large = min(per_sub), max(per_sub)
    growth = per_sub[large] / per_sub[small]
    table.add(f"matching: per-subscriber cost {small} -> {large} subscribers", f"x{growth:.2f}",
              "flat: cost linear in subscribers (x < 1.5)", growth < 1.5)


# --------------------------------------------------------------------------- render


def _stages(composer: Composer, writer, digests, inline) -> tuple[list[float], list[float], list[float]]:
    """Per digest: template render, CSS inlining, message building (seconds)."""
    render, inl, build = [], [], []
    for sub, matches in digests:
        t0 = time.perf_counter()
        ctx = composer.context(sub, matches, NOW)
        # as the product renders (the sandbox's loop and size bounds start again per part)
        subject, html, text = composer._render_context(ctx)
        t1 = time.perf_counter()
        html = inline(html)
        t2 = time.perf_counter()
        writer(sub, subject=subject, html=html, text=text, message_id=new_message_id(composer.config), date=NOW)
        t3 = time.perf_counter()
        render.append(t1 - t0)
        inl.append(t2 - t1)
        build.append(t3 - t2)
    return render, inl, build


def bench_render(table: Table, config_path: Path, size: dict) -> None:
    config = load_config(config_path)
    papers = pipeline.papers(config)
    subs = config.subscribers[: size["fast_digests"]]
    index = Matcher(config.topics).index(papers)
    digests = [(s, index.select(s)) for s in subs]
    affinity = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(affinity)})  # one core
    try:
        # Both paths run in a process whose long-lived objects (papers, index,
        # config) are frozen out of the garbage collector, as a send's workers are.
        gc.collect()
        gc.freeze()
        naive_digests = digests[: size["naive_digests"]]
        results = {}
        naive = Composer(config, inliner=premailer_inline, writer=email_package_writer(config))
        results["naive"] = _stages(naive, naive.writer, naive_digests, naive.inliner)
        fast = Composer(config)  # cold: learns rows and cards on the way, as one send does
        results["fast, first pass (caches empty at start)"] = _stages(fast, fast.writer, digests, fast.inliner)
        results["fast, second pass"] = _stages(fast, fast.writer, digests[:1000], fast.inliner)
    finally:
        gc.unfreeze()
        os.sched_setaffinity(0, affinity)
    rates = {}
    for label, (r, i, b) in results.items():
        mean = lambda xs: sum(xs) / len(xs) * 1000  # noqa: E731
        total = mean(r) + mean(i) + mean(b)
        rates[label] = 1000 / total
        table.add(f"digests rendered, {label} ({len(r)} digests, 1 core)",
                  f"{rates[label]:,.0f}/s = {total:.2f} ms: render {mean(r):.2f} + inline {mean(i):.2f} + build {mean(b):.2f}")
    size_kb = statistics.mean(len(fast.compose(s, m, now=NOW).data) for s, m in digests[:50]) / 1024
    table.add("digest size (mean of 50)", f"{size_kb:.0f} KB")
    for label in ("fast, first pass (caches empty at start)", "fast, second pass"):
        ratio = rates[label] / rates["naive"]
        table.add(f"render+inline+build {label} / naive", f"x{ratio:.1f}", ">= x10 on one core", ratio >= 10)
    return size_kb


# --------------------------------------------------------------------------- SMTP


def smtp_source_rate(port: int, sessions: int, count: int, size: int) -> float:
    cmd = [SMTP_SOURCE, "-d", "-s", str(sessions), "-m", str(count), "-l", str(size),
           "-f", "digest@example.org", "-t", "reader@example.org", f"127.0.0.1:{port}"]
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600)
    return count / (time.perf_counter() - t)


def naive_smtp_rate(port: int, data: bytes, count: int) -> float:
    """A new SMTP connection (connect, EHLO, MAIL, RCPT, DATA, QUIT) per message."""
    t = time.perf_counter()
    for i in range(count):
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            smtp.sendmail("digest@example.org", [f"reader{i}@example.org"], data)
    return count / (time.perf_counter() - t)


def transport_rate(port: int, data: bytes, count: int, connections: int) -> float:
    """The delivery stage's SMTP transport, sessions reused, ``connections`` in parallel."""
    from newsletter.delivery import Dispatcher, Envelope, SMTPTransport

    transport = SMTPTransport("127.0.0.1", port, security="none", connections=connections, timeout=30)
    transport.check()
    failed = []
    t = time.perf_counter()
    with Dispatcher(transport, on_outcome=lambda o: o.delivered or failed.append(o.error)) as dispatcher:
        for i in range(count):
            dispatcher.submit(Envelope(None, "digest@example.org", f"reader{i}@example.org", data, "<b@example.org>", NOW))
    rate = count / (time.perf_counter() - t)
    if failed:
        raise RuntimeError(f"{len(failed)} failed: {failed[0]}")
    return rate


def bench_smtp(table: Table, data: bytes, size: dict) -> None:
    sink = Sink()
    try:
        count = size["smtp_messages"]
        limit = {}
        for sessions in (1, 4):
            limit[sessions] = statistics.median(
                smtp_source_rate(sink.port, sessions, count, len(data)) for _ in range(size["reps"])
            )
            table.add(f"SMTP smtp-source -s {sessions} -d, {len(data) // 1024} KB messages (the limit)",
                      f"{limit[sessions]:,.0f} msg/s")
        naive = statistics.median(naive_smtp_rate(sink.port, data, count // 4) for _ in range(size["reps"]))
        table.add("SMTP naive: new connection per message", f"{naive:,.0f} msg/s")
        best = 0.0
        for connections in (1, 2, 4):
            try:
                rate = statistics.median(transport_rate(sink.port, data, count, connections) for _ in range(size["reps"]))
            except ImportError as exc:
                table.add(f"SMTP transport, connections={connections}", f"not measured ({exc})")
                continue
            best = max(best, rate)
            table.add(f"SMTP transport, connections={connections}", f"{rate:,.0f} msg/s")
        top = max(limit.values())
        table.add("SMTP transport best / smtp-source best", f"{best / top:.2f} (x{best / naive:.1f} naive)" if best else "n/a",
                  ">= 0.5", best / top >= 0.5)
    finally:
        sink.stop()


# --------------------------------------------------------------------------- send end to end


def bench_send(table: Table, folder: Path, size: dict) -> None:
    if not (ROOT / "newsletter" / "state").exists():
        table.add("newsletter send end to end", "not measured: `newsletter send` (delivery stage) not merged yet",
                  "< 60 s and < 500 MB", False)
        return
    sink = Sink()
    try:
        n = max(size["subs"])
        delivery = {"transport": "smtp", "host": "127.0.0.1", "port": sink.port, "security": "none", "connections": 4}
        config = make_workload(folder, papers=size["papers"], topics=size["topics"], subscribers=n, delivery=delivery)
        m = measure([sys.executable, "-m", "newsletter", "--config", str(config), "send"], folder, timeout=1800)
        summary = (m.out.strip().splitlines() or [""])[-1] or m.err.strip().splitlines()[-1:]
        table.add(f"newsletter send, {n} subscribers x {size['papers']} papers, SMTP connections=4",
                  f"{m.wall:.1f} s, peak RSS {m.rss_mb:.0f} MB ({summary}, exit {m.code})",
                  "< 60 s and < 500 MB", m.code == 0 and m.wall < 60 and m.rss_mb < 500)
    finally:
        sink.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smaller workload, fewer repetitions")
    parser.add_argument("--skip", action="append", default=[],
                        choices=["parse", "render", "smtp", "send", "e2e", "dry-run", "ranking", "quality", "latex",
                                 "memory", "reading", "workers"])
    parser.add_argument("--keep", type=Path, help="build the workloads here and keep them")
    args = parser.parse_args()
    size = QUICK if args.quick else FULL
    table = Table()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="digest-bench-"))
    started = time.perf_counter()
    try:
        configs = {}
        for n in size["subs"]:
            configs[n] = make_workload(folder / f"subs-{n}", papers=size["papers"], topics=size["topics"], subscribers=n)
        if "parse" not in args.skip:
            bench_parse_and_match(table, configs, size)
        if "render" not in args.skip:
            bench_render(table, configs[max(configs)], size)
        config = load_config(configs[min(configs)])
        matches = Matcher(config.topics).index(pipeline.papers(config)).select(config.subscribers[0])
        data = Composer(config).compose(config.subscribers[0], matches, now=NOW).data
        have_postfix = Path(SMTP_SINK).exists() and Path(SMTP_SOURCE).exists()
        if not have_postfix and not {"smtp", "send"} <= set(args.skip):
            print("smtp-sink/smtp-source not found: install Debian's postfix (or run bench/run.sh); "
                  "SMTP and send figures are not measured", file=sys.stderr)
        if "smtp" not in args.skip and have_postfix:
            bench_smtp(table, data, size)
        if "send" not in args.skip and have_postfix:
            bench_send(table, folder / "send", size)
        if "e2e" not in args.skip and have_postfix:  # bench/send_e2e.py: send vs smtp-source, 2,000 x 56 KB
            from send_e2e import bench_send_e2e

            bench_send_e2e(table, Sink, folder / "e2e", 2000, size["e2e_reps"])
        if "dry-run" not in args.skip:  # bench/send_e2e.py: send --dry-run, flat memory up to 100,000
            from send_e2e import bench_dry_run

            bench_dry_run(table, folder / "dry-run", (10000, 40000) if args.quick else (25000, 100000))
        if "ranking" not in args.skip:  # bench/ranking.py: about/like topics, end to end
            from ranking import bench_ranking

            bench_ranking(table, *((1000, 50) if args.quick else (5000, 200)))
        if "quality" not in args.skip:  # bench/quality.py: nDCG and digest F1 on tests/data/relevance
            from quality import bench_quality

            bench_quality(table)
        if "latex" not in args.skip:  # bench/latex_text.py: LaTeX -> Unicode as papers are read
            from latex_text import bench_latex

            bench_latex(table, 1000 if args.quick else 5000)
        if "memory" not in args.skip:  # bench/memory.py: one 100 MB export, peak RSS and state size
            from memory import bench_memory

            bench_memory(table, 8_600 if args.quick else 86_000)
        if "reading" not in args.skip:  # bench/reading.py: an export's read grows linearly (2,000 -> 8,000 papers)
            from reading import bench_reading

            bench_reading(table, (500, 2000) if args.quick else (2000, 8000))
        if "workers" not in args.skip and have_postfix:  # bench/workers.py: 1, 2, 4 send workers on one PostgreSQL
            from workers import bench_workers

            bench_workers(table, Sink, folder / "workers", 500 if args.quick else 2000)
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    print(f"\nPaper Digest benchmark ({'quick' if args.quick else 'full'}: {size['papers']} papers, {size['topics']} topics, "
          f"{' / '.join(map(str, size['subs']))} subscribers; {os.cpu_count()} CPUs; {time.perf_counter() - started:.0f} s)\n")
    print(table)


if __name__ == "__main__":
    main()
