"""The benchmark's workload generator makes what it claims (no timings here)."""

from __future__ import annotations

import sys
from pathlib import Path

from newsletter import pipeline
from newsletter.config import load_config

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

from workload import make_workload  # noqa: E402


def test_workload_has_the_claimed_sizes(tmp_path):
    path = make_workload(tmp_path, papers=700, topics=12, subscribers=40)
    config = load_config(path)
    papers = pipeline.papers(config)
    assert len(papers) == 700 and len({p.id for p in papers}) == 700
    assert len(config.topics) == 12 and len(config.subscribers) == 40
    assert all(1 <= len(s.topics) <= 3 for s in config.subscribers)
    assert any(t.startswith("/") for topic in config.topics.values() for t in topic.any)  # some regex terms
    assert any(t.endswith("*") for topic in config.topics.values() for t in topic.any)  # some prefixes
    digests = list(pipeline.match(config, papers))
    assert sum(1 for _, matches in digests if matches) >= 30  # the terms really match
    assert make_workload(tmp_path / "again", papers=700, topics=12, subscribers=40).read_text() == path.read_text()


def test_send_workload_has_four_topic_mixes_and_digests_of_about_56_kb(tmp_path):
    from send_e2e import MIXES, make_send_workload, message_size

    config = load_config(make_send_workload(tmp_path / "w", 8))
    assert len(config.subscribers) == 8 and {tuple(s.topics) for s in config.subscribers} == {tuple(m) for m in MIXES}
    assert 52_000 <= message_size(tmp_path / "size") <= 62_000  # the real command's digests, via the outbox


def test_big_export_is_one_file_of_the_claimed_papers(tmp_path):
    from memory import make_big_export

    path, size = make_big_export(tmp_path, papers=900, subscribers=5)
    [export] = (tmp_path / "papers").iterdir()
    assert export.stat().st_size == size > 900 * 500
    config = load_config(path)
    assert len(pipeline.papers(config)) == 900 and len(config.subscribers) == 5


def test_reading_grows_with_the_export_not_its_square(tmp_path):
    """bench/reading.py's guard on small exports: the work of a read counted
    (lines and calls, no clock), four times the papers within x6 of the work;
    a read made quadratic (86,000 papers once took over 7 minutes) is x10
    and more at these sizes, and the count is not flat either."""
    from reading import growth

    ops, _, ratio, limit = growth(tmp_path, (150, 600))
    assert limit == 6
    assert 3 <= ratio <= limit, (ratio, ops)


def test_the_reading_guard_counts_a_loop_inside_a_comprehension():
    """The quadratic read was a list comprehension made again for each line:
    its element loop must be counted, not only its one call."""
    from reading import operations

    def quadratic(n: int) -> None:
        items = list(range(n))
        for _ in items:
            [i for i in items]

    small, large = operations(lambda: quadratic(100)), operations(lambda: quadratic(400))
    assert large / small > 12
    assert operations(lambda: quadratic(400), most=1000) == 1001  # stopped there, not hours later
