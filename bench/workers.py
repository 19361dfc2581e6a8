"""Send workers on one PostgreSQL state: digests per second with 1, 2 and 4 workers.

    python bench/workers.py [--subscribers 2000] [--workers 1 2 4]

Each row starts N ``newsletter send`` processes at once (each with one SMTP
connection, so one process each) against one PostgreSQL server (started here
with ``initdb``/``pg_ctl`` in a temporary folder, as the tests do) and Postfix's
``smtp-sink``, for the same subscribers (the ``send_e2e`` workload: four topic
mixes, digests of about 56 KB), and reports subscribers / wall time from the
first start to the last exit.  Every run is checked: each subscriber got
exactly one digest (the workers' ``sent`` counts add up to the subscribers).
The first row is the same send on the SQLite state, for comparison.

Beside them, "state only": how many digests per second one PostgreSQL
records when nothing is rendered or delivered (plan a batch of 32, claim it,
mark each sent from the delivery threads' pool), with 1 and 4 concurrent
workers: the database's ceiling, far above what rendering lets a worker ask.

The machine is shared and has few cores: a worker is CPU-bound (rendering),
so more workers than cores cannot go faster here; on separate hosts each
worker brings its own cores.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

from send_e2e import NOW, make_send_workload  # noqa: E402

SUMMARY = re.compile(r"^sent (\d+), empty (\d+), failed (\d+), not due (\d+)(?:, other workers (\d+))?$", re.M)


def start_postgres():
    """A throw-away PostgreSQL server (tests/pg_server.py), or None when not installed."""
    from pg_server import PostgresServer, find_bindir

    bindir = find_bindir()
    return PostgresServer(bindir) if bindir else None


def _config_for(folder: Path, subscribers: int, port: int, state: str) -> Path:
    config = make_send_workload(folder, subscribers, port=port)
    data = json.loads(config.read_text(encoding="utf-8"))
    data["delivery"]["connections"] = 1  # one process per worker: workers, not forks, share the work
    data["state"] = state
    config.write_text(json.dumps(data, indent=1, ensure_ascii=False), encoding="utf-8")
    return config


def run_workers(config: Path, workers: int) -> tuple[float, list[tuple[int, ...]]]:
    """Start ``workers`` sends at once; wall time to the last exit, and each one's summary counts."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TZ": "UTC"}
    cmd = [sys.executable, "-m", "newsletter", "--config", str(config), "send", "--now", NOW]
    logs = [(config.parent / f"worker{i}.out", config.parent / f"worker{i}.err") for i in range(workers)]
    t = time.perf_counter()
    procs = [  # output to files: a worker never waits for us to read a pipe
        subprocess.Popen(cmd, cwd=config.parent, env=env, stdout=out.open("w"), stderr=err.open("w"))
        for out, err in logs
    ]
    codes = [p.wait(timeout=3600) for p in procs]
    wall = time.perf_counter() - t
    counts = []
    for (out_file, err_file), code in zip(logs, codes):
        out, err = out_file.read_text(), err_file.read_text()
        found = SUMMARY.search(out)
        if code != 0 or not found:
            raise RuntimeError(f"worker failed (exit {code}): {err.strip()[-1500:]}")
        counts.append(tuple(int(g or 0) for g in found.groups()))
    return wall, counts


def state_only_rate(url: str, digests: int, workers: int) -> float:
    """Digests per second one database records: plan + claim in batches of 32, marks from a pool."""
    from concurrent.futures import ThreadPoolExecutor

    from newsletter.state import open_state

    now = datetime(2024, 5, 1, 8, tzinfo=UTC)
    emails = [f"r{i:07d}@example.org" for i in range(digests)]
    with open_state(url) as setup:
        setup.see_subscribers(emails, now)
    papers = [f"2405.{n:05d}" for n in range(20)]
    barrier = threading.Barrier(workers + 1)

    def worker(n: int) -> None:
        with open_state(url) as st, ThreadPoolExecutor(2) as pool:
            barrier.wait()
            for start in range(0, digests, 32):
                part = emails[start : start + 32]
                with st.claiming(part, now) as batch:
                    items = [(None, e, f"<{e}.{n}@bench>", papers) for e in batch.subscribers
                             if batch.subscribers[e].open is None and not batch.subscribers[e].sent_paper_ids]
                    ids = batch.claim(items) if items else []
                list(pool.map(lambda de: st.for_thread().mark_sent(de[0], de[1], 1, now), zip(ids, [i[1] for i in items])))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(workers)]
    for th in threads:
        th.start()
    barrier.wait()
    t = time.perf_counter()
    for th in threads:
        th.join()
    return digests / (time.perf_counter() - t)


def bench_workers(table, sink_factory, folder: Path, subscribers: int = 2000, counts: tuple[int, ...] = (1, 2, 4)) -> None:
    server = start_postgres()
    if server is None:
        table.add("send workers on PostgreSQL", "not measured: PostgreSQL not installed (apt-get install postgresql)")
        return
    sink = sink_factory()
    try:
        wall, _ = run_workers(_config_for(folder / "sqlite", subscribers, sink.port, "state.sqlite3"), 1)
        table.add(f"send, 1 worker, SQLite state, {subscribers} subscribers, 1 SMTP connection",
                  f"{subscribers / wall:,.0f} digests/s ({wall:.1f} s)")
        for n in counts:
            url = server.create_database()
            wall, summaries = run_workers(_config_for(folder / f"pg-{n}", subscribers, sink.port, url), n)
            sent = sum(c[0] for c in summaries)
            rate = subscribers / wall
            table.add(
                f"send, {n} worker{'s' * (n > 1)}, one PostgreSQL, {subscribers} subscribers, smtp-sink",
                f"{rate:,.0f} digests/s ({wall:.1f} s; sent per worker {'/'.join(str(c[0]) for c in summaries)})",
                "each subscriber exactly once", sent == subscribers,
            )
        for n in (1, 4):
            rate = state_only_rate(server.create_database(), 4000, n)
            table.add(f"PostgreSQL state only (plan+claim+mark), {n} worker{'s' * (n > 1)}", f"{rate:,.0f} digests/s")
    finally:
        sink.stop()
        server.stop()


if __name__ == "__main__":
    import argparse

    from harness import Sink, Table

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=2000)
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2, 4])
    args = parser.parse_args()
    table = Table()
    work = Path(tempfile.mkdtemp(prefix="digest-workers-"))
    try:
        bench_workers(table, Sink, work, args.subscribers, tuple(args.workers))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nsend workers on one PostgreSQL ({os.cpu_count()} CPUs, shared machine: noisy)\n")
    print(table)
