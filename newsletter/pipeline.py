"""The library API: the stages chained the way the commands use them.

parse (:mod:`readers`) -> match (:mod:`matching`) -> render -> deliver.
Everything here takes a loaded :class:`~newsletter.config.Config` and returns
plain values, so a script can do what a command does without the CLI::

    from newsletter import load_config, pipeline
    config = load_config("config.yaml")
    for subscriber, matches in pipeline.match(config, pipeline.papers(config)):
        ...
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

from .config import Config, Subscriber
from .errors import NewsletterError, Problem
from .matching import PaperMatch, topic_index
from .models import Paper
from .readers import is_remote, read_papers
from .scheduling import is_due, next_send
from .sending import DigestResult, SendReport, send
from .state import State

__all__ = [
    "DigestResult",
    "SendReport",
    "Summary",
    "ScheduleRow",
    "already_sent",
    "match",
    "papers",
    "schedules",
    "send",
    "subscribers",
    "validate",
]

log = logging.getLogger(__name__)


def papers(config: Config, warn: Callable[[str], None] | None = None, **options) -> list[Paper]:
    """All sources parsed and merged; ``options`` (``fetcher``, ``now``,
    ``offline``) as for :func:`readers.read_papers`."""
    return read_papers(config, warn, **options)


def subscribers(config: Config, only: str | None = None) -> list[Subscriber]:
    return config.selected_subscribers(only)


def match(
    config: Config,
    all_papers: list[Paper],
    only: str | None = None,
    exclude: Callable[[Subscriber], frozenset[str]] | None = None,
) -> Iterator[tuple[Subscriber, list[PaperMatch]]]:
    """Per subscriber, the papers for its next digest, best first.

    ``exclude(subscriber)`` gives the paper ids it must not get again (the
    ones already sent, from the state).  Topics are matched once for all
    subscribers.
    """
    subs = subscribers(config, only)
    index = topic_index(config, all_papers, subs)
    for sub in subs:
        yield sub, index.select(sub, exclude(sub) if exclude else frozenset())


def already_sent(config: Config, only: str | None = None) -> Callable[[Subscriber], frozenset[str]]:
    """``exclude`` for :func:`match`: each subscriber's papers already sent,
    read from the state read-only (``match`` and ``preview`` never write it)."""
    with State.open(config.state_path, readonly=True) as state:
        sent = {sub.email: state.sent_paper_ids(sub.email) for sub in subscribers(config, only)}
    return lambda sub: sent.get(sub.email, frozenset())




@dataclass(frozen=True)
class Summary:
    sources: int
    papers: int
    topics: int
    subscribers: int
    transport: str
    unfetched: int = 0  # remote sources, not fetched by validate

    def __str__(self) -> str:
        remote = f", {self.unfetched} remote not fetched" if self.unfetched else ""
        return (
            f"{self.sources} source{'s' * (self.sources != 1)} ({self.papers} papers{remote}), "
            f"{self.topics} topic{'s' * (self.topics != 1)}, "
            f"{self.subscribers} subscriber{'s' * (self.subscribers != 1)}, {self.transport} delivery"
        )


#: Extra checks run by :func:`validate` (templates, delivery...); each returns problems.
CHECKS: list[Callable[[Config], list[Problem]]] = []


def _check_templates(config: Config) -> list[Problem]:
    from .rendering import check_templates

    return check_templates(config)


CHECKS.append(_check_templates)


def validate(config: Config) -> Summary:
    """Check what loading the config cannot: every local source parses, every check passes.

    Remote sources (arxiv, hf-daily, feed without ``path``) are not fetched:
    validate stays fast, offline and free of side effects (no cache writes, no
    requests counted against rate limits); ``newsletter papers`` shows them.
    Raises :class:`NewsletterError` carrying every problem found, skipped
    entries of local files included.
    """
    problems: list[Problem] = []
    count = 0
    try:
        count = len(read_papers(config, warn=lambda msg: problems.append(Problem(msg)), offline=True))
    except NewsletterError as exc:
        problems.extend(exc.problems)
    for check in CHECKS:
        problems.extend(check(config))
    if problems:
        raise NewsletterError(*problems)
    return Summary(
        len(config.sources),
        count,
        len(config.topics),
        len(config.subscribers),
        config.delivery.transport,
        sum(1 for s in config.sources if is_remote(s)),
    )


# --------------------------------------------------------------------------- schedule


@dataclass(frozen=True)
class ScheduleRow:
    """One subscriber's schedule as ``newsletter schedule`` shows it (times in its zone)."""

    email: str
    schedule: str | None
    timezone: str
    last_sent: datetime | None
    next_send: datetime | None
    due: bool

    def to_json(self) -> dict:
        iso = lambda t: t.isoformat() if t else None  # noqa: E731
        return {
            "email": self.email,
            "schedule": self.schedule,
            "timezone": self.timezone,
            "last_sent": iso(self.last_sent),
            "next_send": iso(self.next_send),
            "due": self.due,
        }


def schedules(config: Config, *, now: datetime, only: str | None = None) -> list[ScheduleRow]:
    """Each subscriber's last and next send time; reads the state, never writes it."""
    rows = []
    with State.open(config.state_path, readonly=True) as state:
        for sub in subscribers(config, only):
            zone = config.zone(sub)
            first = state.first_seen(sub.email)
            served = state.last_served(sub.email)
            last = state.last_sent(sub.email)
            nxt = next_send(sub.schedule, zone, last_sent=served, first_seen=first, now=now)
            due = is_due(sub.schedule, zone, last_sent=served, first_seen=first, now=now) or (
                state.open_digest(sub.email) is not None
            )
            rows.append(
                ScheduleRow(
                    sub.email,
                    str(sub.schedule) if sub.schedule else None,
                    zone.key,
                    last.astimezone(zone) if last else None,
                    nxt.astimezone(zone) if nxt else None,
                    due,
                )
            )
    return rows
