"""Synthetic workloads for the benchmark, built from the sample exports in tests/data.

    make_workload(folder, papers=5000, topics=50, subscribers=10000)

writes ``folder/papers/*.txt`` (hf-papers-text exports: the ~350 sample
papers varied -- a suffix on the title, the abstract's sentences shuffled --
until there are ``papers`` distinct ones), and ``folder/config.yaml`` with
``topics`` topics whose terms are mid-frequency words and bigrams of the
samples (some prefixes ``word*``, some ``/regex/``, some ``none:`` terms) and
``subscribers`` subscribers with 1-3 topics each.  Deterministic for a seed.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "tests" / "data"

HEADER = ("new\n\nGet trending papers in your email inbox!\n\nSubscribe\n\nDaily Papers\n\n"
          "byAK and the research community\n\nSep 4\n\n")
STOP = set(
    """about above after again against among another based because been before being below between both could
    during each either every first further given having however including into itself large later model models
    more most much network networks other other over paper propose proposed results same several should show
    shows since some such than that their them then there these they this those through under using various
    very well were what when where which while with within without would yields approach method methods""".split()
)
NAMES = ["Ada", "Zoë", "Grace", "Łukasz", "Emmy", "José", "Chen Wei", "Søren", "Amélie", "Ravi"]


def sample_papers() -> list[tuple[str, str]]:
    """(title, abstract) of every sample paper, deduplicated by title."""
    import sys

    sys.path.insert(0, str(ROOT))
    from newsletter.readers import parse_hf_papers_text

    seen: dict[str, tuple[str, str]] = {}
    for path in sorted(SAMPLES.glob("hf-papers-*.txt")):
        for p in parse_hf_papers_text(path.read_bytes(), str(path)):
            seen.setdefault(p.title.casefold(), (p.title, p.abstract))
    return list(seen.values())


def vary(samples: list[tuple[str, str]], n: int, rng: random.Random) -> list[tuple[str, str]]:
    """``n`` distinct papers: the samples, then variants of them."""
    out = []
    for i in range(n):
        title, abstract = samples[i % len(samples)]
        round_ = i // len(samples)
        if round_:
            sentences = re.split(r"(?<=\.) ", abstract)
            rng.shuffle(sentences)
            title, abstract = f"{title} (part {round_})", " ".join(sentences)
        out.append((title, abstract))
    return out


def write_exports(folder: Path, papers: list[tuple[str, str]], per_file: int = 500) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for start in range(0, len(papers), per_file):
        path = folder / f"hf-papers-{start // per_file:03d}.txt"
        body = "".join(f"{t}\n\n{a}\n\n" for t, a in papers[start:start + per_file])
        path.write_text(HEADER + body, encoding="utf-8")
        files.append(path)
    return files


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z][a-z-]{3,}[a-z]", text.lower())


def make_topics(samples: list[tuple[str, str]], n: int, rng: random.Random) -> dict:
    """``n`` topics of specific terms: words and bigrams that occur in a few
    percent of the samples (neither rare nor everywhere)."""
    docs = len(samples)
    words, bigrams = Counter(), Counter()
    for title, abstract in samples:
        tokens = [w for w in _words(f"{title} {abstract}") if w not in STOP]
        words.update(set(tokens))
        bigrams.update({f"{a} {b}" for a, b in zip(tokens, tokens[1:])})
    lo, hi = max(2, docs // 100), max(4, docs // 12)
    mid_words = sorted(w for w, c in words.items() if lo <= c <= hi and "-" not in w)
    mid_bigrams = sorted(b for b, c in bigrams.items() if max(2, lo // 2) <= c <= hi)
    rng.shuffle(mid_words)
    rng.shuffle(mid_bigrams)
    topics = {}
    for i in range(n):
        any_ = [mid_bigrams.pop() for _ in range(2)] + [mid_words.pop() for _ in range(2)]
        if i % 5 == 0:
            any_.append(mid_words.pop()[:6] + "*")
        if i % 10 == 3:
            w = mid_words.pop()
            any_.append(f"/\\b{w[:5]}\\w*\\s+(?:of|for|in)\\b/")
        topic = {"name": f"{any_[0].title()} & co ({i})", "any": any_}
        if i % 7 == 6:
            topic["none"] = [mid_words.pop()]
        topics[f"t{i:02d}"] = topic
    return topics


def make_config(folder: Path, topics: dict, subscribers: int, rng: random.Random, *, delivery: dict | None = None,
                state: str = "state.sqlite3") -> Path:
    keys = list(topics)
    return write_config(
        folder, topics, [reader(i, {"topics": rng.sample(keys, rng.randint(1, 3))}, width=5) for i in range(subscribers)],
        delivery=delivery, state=state,
    )


def reader(i: int, fields: dict, width: int) -> dict:
    """Synthetic subscriber number ``i``: an address, a name for three in four, ``fields``."""
    sub = {"email": f"reader{i:0{width}d}@example.org", **fields}
    if i % 4:
        sub["name"] = f"{NAMES[i % len(NAMES)]} Reader {i}"
    return sub


def write_config(folder: Path, topics: dict, subscribers: list[dict], *, delivery: dict | None = None,
                 state: str = "state.sqlite3") -> Path:
    """The benchmarks' config (papers from ``papers/``, the outbox by default) as JSON, which is YAML."""
    config = {
        "sources": [{"type": "hf-papers-text", "path": "papers/"}],
        "topics": topics,
        "subscribers": subscribers,
        "email": {
            "from": "Paper Digest <digest@example.org>",
            "subject": "{{ count }} new papers: {{ topics | join(', ') }}",
            "unsubscribe": "https://example.org/unsubscribe?u={email}",
        },
        "delivery": delivery or {"transport": "outbox", "path": "outbox"},
        "state": state,
    }
    path = folder / "config.yaml"
    path.write_text(json.dumps(config, indent=1, ensure_ascii=False), encoding="utf-8")
    return path


def make_workload(folder: Path, *, papers: int = 5000, topics: int = 50, subscribers: int = 10000, seed: int = 7,
                  delivery: dict | None = None) -> Path:
    """Write papers and a config into ``folder``; returns the config's path."""
    rng = random.Random(seed)
    samples = sample_papers()
    write_exports(folder / "papers", vary(samples, papers, rng))
    return make_config(folder, make_topics(samples, topics, rng), subscribers, rng, delivery=delivery)
