"""Reading an export grows with its size, not with its square.

    python bench/reading.py [--papers 2000 8000]

A change to the hf-papers-text reader once made each paper's read walk every
line of the export (a list of the card's lines made again for each line):
8,000 papers took 18 s where they took 2 s, and the 86,000-paper export of
``bench/memory.py`` ran over 7 minutes.  This reads an export of each size
(the sample papers varied by ``bench/workload.py``, as the big export is
made) and compares the work each read does: linear, the larger read does the
ratio of the sizes (x4 for 2,000 -> 8,000), quadratic its square (x16); the
limit is half as much again as linear.

The work is counted, not timed: every line the interpreter runs and every
Python call made while reading, through a trace function
(:func:`operations`).  The count is the same on an idle machine and a loaded
one, where the clock of a read moves by half; it is blind to a loop inside
one C call (a ``str`` method over the whole text for each line would not
show), which the CPU time printed beside it would.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from workload import make_config, make_topics, sample_papers, vary, write_exports  # noqa: E402

#: How much more work the larger read may do than linear growth (its papers
#: over the smaller's): 1.5 lets x6 for four times the papers, quadratic is x16.
SLACK = 1.5
NOW = datetime(2024, 5, 1, 8, tzinfo=UTC)


def make_export(folder: Path, papers: int, seed: int = 7) -> Path:
    """A folder with one hf-papers-text export of ``papers`` papers and a config
    reading it (50 topics, 5 subscribers); the config's path."""
    rng = random.Random(seed)
    samples = sample_papers()
    write_exports(folder / "papers", vary(samples, papers, rng), per_file=papers)
    return make_config(folder, make_topics(samples, 50, rng), 5, rng)


class _Over(BaseException):
    """Raised by the trace once a read passes its count (not an ``Exception``:
    the reader's own handlers must not take it for a failed source)."""


def operations(fn: Callable[[], object], most: int | None = None) -> int:
    """Lines run and Python calls made by ``fn()``: a count of its work that
    no other process moves (``sys.settrace``: each new line, each backward
    jump of a loop, each call).  Stopped past ``most`` (returning more than
    it): traced, a read gone quadratic would run for hours."""
    count = 0

    def trace(frame, event, arg):
        nonlocal count
        count += 1
        if most is not None and count > most:
            raise _Over
        return trace

    previous = sys.gettrace()
    sys.settrace(trace)
    try:
        fn()
    except _Over:
        pass
    finally:
        sys.settrace(previous)
    return count


def read_export(config_path: Path) -> Callable[[], list]:
    """The read of the config's sources as ``send`` reads them (no network)."""
    from newsletter.config import load_config
    from newsletter.readers import read_papers

    config = load_config(config_path)
    return lambda: read_papers(config, now=NOW, offline=True)


def forget() -> None:
    """Empty the package's kept answers (``functools`` caches: a line's chrome
    check keeps 4,096): each counted read is then a process's first read of
    its export, not a read of lines answered by the warm-up read before it
    (2,000 papers' lines fit the cache, 8,000 papers' do not: x4.7 warm,
    x4.4 cold; the rest over x4 is that cache overflowing within the large
    read, `_is_menu` asked again of lines it answered)."""
    for name, module in list(sys.modules.items()):
        if name.startswith("newsletter"):
            for value in vars(module).values():
                if callable(getattr(value, "cache_clear", None)):
                    value.cache_clear()


def growth(folder: Path, sizes: tuple[int, int]) -> tuple[dict[int, int], dict[int, float], float, float]:
    """(operations per size, CPU seconds per size, ratio of the operations, its limit)."""
    ops: dict[int, int] = {}
    cpu: dict[int, float] = {}
    small, large = sizes
    limit = SLACK * large / small
    for n in sizes:
        read = read_export(make_export(folder / f"papers-{n}", n))
        found = read()  # the modules' first use (imports, patterns) left out of the count
        assert len(found) == n, f"{len(found)} papers read of {n}"
        forget()
        ops[n] = operations(read, None if n == small else int(ops[small] * limit))
        if ops[n] > ops[small] * limit:  # counting stopped: not timed either
            cpu[n] = float("nan")
            continue
        forget()
        t = time.process_time()
        read()
        cpu[n] = time.process_time() - t
    return ops, cpu, ops[large] / ops[small], limit


def bench_reading(table, sizes: tuple[int, int] = (2000, 8000)) -> None:
    """Add the reading-growth row to ``table`` (bench/run.py's Table)."""
    with tempfile.TemporaryDirectory(prefix="digest-reading-") as folder:
        ops, cpu, ratio, limit = growth(Path(folder), sizes)
    small, large = sizes
    over = ratio > limit
    table.add(f"reading {small:,} -> {large:,} papers: work (lines and calls run)",
              f"{'over ' if over else ''}x{ratio:.2f} ({ops[small] / 1e6:.1f} M -> {ops[large] / 1e6:.1f} M"
              + (", counting stopped)" if over else f"; CPU {cpu[small]:.2f} -> {cpu[large]:.2f} s)"),
              f"<= x{limit:.0f} (linear x{large / small:.0f})", ratio <= limit)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--papers", type=int, nargs=2, default=(2000, 8000))
    args = parser.parse_args()
    from harness import Table

    table = Table()
    bench_reading(table, tuple(args.papers))
    print(table)


if __name__ == "__main__":
    main()
