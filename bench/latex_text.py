"""LaTeX -> Unicode speed: what converting arXiv text costs as papers are read.

    python bench/latex_text.py            # 5,000 abstracts
    python bench/latex_text.py --quick    # 1,000

The abstracts and titles of tests/data/arxiv-latex.xml (formulas, accents,
prices), each copy made distinct (a number in its math and its text) so no
cache answers, converted with :func:`newsletter.latex.to_unicode` from cold
caches; and the same count of plain abstracts (no ``\\`` or ``$``: the quick
exit most Hugging Face and RSS text takes).  No target: a figure to watch.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from newsletter import latex  # noqa: E402
from newsletter.feeds import parse_arxiv  # noqa: E402


def texts(n: int) -> tuple[list[str], list[str]]:
    data = (ROOT / "tests" / "data" / "arxiv-latex.xml").read_bytes()
    papers = parse_arxiv(data, "arxiv-latex.xml", "bench", lambda message: None).papers
    base = [p.abstract for p in papers if "$" in p.abstract or "\\" in p.abstract]
    with_latex = [f"{base[i % len(base)]} With $k = {i}$ and $x_{{{i}}}^2$." for i in range(n)]
    plain = [f"Plain abstract number {i}: Schrödinger bridges cost 5% less, about $12 a run." for i in range(n)]
    return with_latex, plain


def rate(items: list[str]) -> float:
    latex.to_unicode.cache_clear()
    latex._to_text.cache_clear()
    start = time.perf_counter()
    for text in items:
        latex.to_unicode(text)
    return len(items) / (time.perf_counter() - start)


def bench_latex(table, n: int) -> None:
    with_latex, plain = texts(n)
    fast = rate(with_latex)
    table.add(f"LaTeX -> Unicode, {n} arXiv abstracts with math (cold caches)",
              f"{fast:,.0f} abstracts/s ({1000 / fast:.2f} ms each)")
    table.add(f"LaTeX -> Unicode, {n} plain abstracts (no LaTeX: passed through)", f"{rate(plain):,.0f} abstracts/s")


class _Print:
    def add(self, measure: str, value: str, *_: object) -> None:
        print(f"{measure}: {value}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    bench_latex(_Print(), 1000 if parser.parse_args().quick else 5000)
