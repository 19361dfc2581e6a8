"""The send engine: plan a batch of due subscribers, claim their digests,
compose, deliver and record each outcome.

:func:`send` is what ``newsletter send`` and ``newsletter run`` call (through
the :mod:`pipeline` façade).  It reads the sources itself (:mod:`readers`) and
never imports :mod:`pipeline`, so the façade stays on top of the house.
"""

from __future__ import annotations

import bisect
import contextlib
import gc
import json
import logging
import multiprocessing
import multiprocessing.connection
import os
import pickle
import select
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from .config import Config, Subscriber
from .delivery import (
    Dispatcher,
    Envelope,
    Outcome,
    Transport,
    make_transport,
    sender_address,
    settings_fingerprint,
)
from .errors import (
    AheadOfTheClock,
    ConfigError,
    NewsletterError,
    Problem,
    RolledBack,
    SessionEnded,
    SourcesFailed,
    StateError,
    TemplateError,
    counted,
)
from .fetching import Fetcher
from .files import write_atomic
from .latex import lost_math_shown
from .matching import (
    Matcher,
    PaperMatch,
    TopicIndex,
    max_papers_cut,
    max_papers_said,
    not_again_lines,
    not_again_said,
    topic_index,
)
from .models import NotAgain, Paper, merge_papers
from .readers import SourceRead, read_papers
from .rendering import Composed, Composer
from .retrying import backoff, waiting
from .scheduling import clock_was_ahead, is_due, minute_up, next_send, shown_time
from .state import (
    HOLD_AFTER,
    KEEP_LISTED,
    KEEP_LISTED_MORE,
    Batch,
    OpenDigest,
    State,
    SubscriberState,
    chunks,
    known_earlier,
    open_state,
    shared_now,
)
from .tokens import links

if TYPE_CHECKING:
    from .ranking import LikeWarning

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DigestResult:
    """What happened to one subscriber's digest in a send."""

    email: str
    #: "sent", "empty", "failed", "not due", "would send", "other worker",
    #: "unsubscribed", "waiting" (a failed digest's back-off), "held",
    #: "pending" (claimed, never tried: the run was stopped), "locked"
    #: (another session held rows of its subscriber's: left for the next send)
    status: str
    papers: int = 0
    message_id: str | None = None
    error: str | None = None
    retry: bool = False  # failed, and stays pending for the next run
    #: failed or waiting: no new attempt before this; held: how many runs failed
    next_attempt: datetime | None = None
    failures: int = 0
    #: Sent (or would be) cut at max_papers: how many papers not sent before
    #: its topics take now, of which it holds the best (0: not cut), and how
    #: many more they take that earlier digests sent.  A subscriber without a
    #: schedule got the rest at the next `send`, 20 more of the same day's
    #: papers, without a word of why.
    taken: int = 0
    sent_before: int = 0
    #: What its topics take that went out before in an earlier version
    #: (:func:`~newsletter.matching.not_again_said`), as ``match`` says: named
    #: when the digest is empty, counted when it went out with other papers
    #: (a digest with news left them out without a word).
    not_again: tuple[NotAgain, ...] = ()

    def __str__(self) -> str:
        n = counted(self.papers, "paper") + self._cut()
        if self.status == "sent":
            return f"sent        {self.email}: {n} {self.message_id}{self._again()}"
        if self.status == "would send":
            return f"would send  {self.email}: {n}{self._again()}"
        # as `newsletter schedule` writes a time (in the subscriber's zone)
        when = shown_time(minute_up(self.next_attempt)) if self.next_attempt else "next run"
        if self.status == "failed":
            if self.next_attempt is None and self.retry:  # never attempted
                then = "stays pending, tried again by the next run"
            elif self.next_attempt is None:  # refused once too often
                then = f"refused {self.failures} times: held, not retried"
            else:
                # (a refusal is tried again a few runs, then held: "failed permanently; retried" read as both)
                then = f"stays pending, retried from {when}" if self.retry else (
                    f"refused: retried from {when}; held if refused {counted(HOLD_AFTER - self.failures, 'more time')}")
            return f"failed      {self.email}: {self.error} ({then})"
        if self.status == "pending":
            return f"pending     {self.email}: {self.error} (stays pending, sent by the next run)"
        if self.status == "waiting":
            return (f"waiting     {self.email}: last run failed ({self.error}); retried from {when}, or now by "
                    f"`newsletter send --subscriber {self.email}`")
        if self.status == "not due" and self.next_attempt is not None:
            return f"not due     {self.email}: next digest at {when}"
        if self.status == "empty":  # a bare "empty  ADDRESS" read as if the address had been emptied
            # (a paper revised that day, and nothing else, read "nothing new": the reader's paper gone without a word)
            again = "".join(f"; {said}" for said in not_again_lines(self.not_again))
            return f"empty       {self.email}: nothing new for them: no email{again}"
        if self.status == "locked":
            return f"locked      {self.email}: {self.error} (stays as it was, sent by the next send)"
        if self.status == "held":
            return (
                f"held        {self.email}: refused {self.failures} times ({self.error}); not retried "
                f"until the address is fixed (or the subscriber removed), or `newsletter send --subscriber "
                f"{self.email}` tries it"
            )
        return f"{self.status:<11} {self.email}"

    def _again(self) -> str:
        """A digest's papers left out as new versions of papers sent before,
        counted (``match`` names them), or nothing when there are none."""
        if not self.not_again:
            return ""
        n = len(self.not_again)
        return f"; not again: {counted(n, 'new version')} of {'a paper' if n == 1 else 'papers'} sent before"

    def _cut(self) -> str:
        """What max_papers left out of this digest, and where it goes."""
        return max_papers_said(self.papers, self.taken, self.sent_before)


@dataclass(frozen=True)
class SendReport:
    """The outcome of :func:`send`; ``str()`` is the one-line summary."""

    sent: int
    empty: int
    failed: int
    not_due: int
    results: tuple[DigestResult, ...] = ()
    dry_run: bool = False
    would_send: int = 0
    note: str | None = None
    unsubscribed: int = 0  # skipped: they left through `newsletter serve`
    #: Subscribers another worker was handling (a shared PostgreSQL state).
    other_workers: int = 0
    #: Digests whose last run failed, not due for another attempt yet (back-off).
    waiting: int = 0
    #: Digests refused permanently run after run: not retried (see ``schedule``).
    held: int = 0
    #: What stopped part of the run (a send worker that died): its unfinished
    #: digests stay pending.  The command prints each and exits 1.
    problems: tuple[str, ...] = ()
    #: Digests never tried because the run was stopped (Ctrl-C, SIGTERM):
    #: not failed, pending for the next run.
    pending: int = 0
    #: Subscribers left out because another session held rows of theirs past
    #: the worker's statement limit (PostgreSQL; see :attr:`Batch.held`): their
    #: digests stay as they were, for the next send.  Named in :attr:`problems`.
    locked: int = 0
    #: Subscribers the run stopped before it reached (stopped, a send worker
    #: gone, its claims lost): nothing planned or claimed, the next send
    #: serves them.  They were in no count, and the counts fell short of
    #: the subscribers without a word.
    not_reached: int = 0
    #: False when no digest was due: the sources were not read (see :data:`UNREAD`).
    sources_read: bool = True
    #: The sources that failed while the digests went out from the others
    #: (index in ``sources:``, name, URL or path), those not marked
    #: ``required: false``: the command exits 2 (see :func:`skipped_said`).
    skipped_sources: tuple[tuple[int, str, str], ...] = ()
    #: Every source that failed so, ``required: false`` ones too (their
    #: failure leaves the exit code as it is): ``failed_sources`` in
    #: ``--json``, where a script saw an empty list and took the run for
    #: complete while a source was down (see :func:`failed_sources`).
    failed_sources: tuple[FailedSource, ...] = ()

    @property
    def built(self) -> int:
        """The digests this send built (sent, failed, empty, would send, left pending)."""
        return self.sent + self.failed + self.empty + self.would_send + self.pending

    def __str__(self) -> str:
        left = f", unsubscribed {self.unsubscribed}" if self.unsubscribed else ""
        if self.dry_run:
            return (
                f"dry run: would send {self.would_send}, empty {self.empty}, not due {self.not_due}{left} "
                "(nothing sent or recorded)"
            )
        others = f", other workers {self.other_workers}" if self.other_workers else ""
        later = f", waiting {self.waiting}" if self.waiting else ""
        held = f", held {self.held}" if self.held else ""
        pending = f", left pending {self.pending}" if self.pending else ""
        unreached = f", not reached {self.not_reached}" if self.not_reached else ""
        locked = f", locked {self.locked}" if self.locked else ""
        return (
            f"sent {self.sent}, empty {self.empty}, failed {self.failed}, not due {self.not_due}"
            f"{later}{held}{left}{others}{pending}{locked}{unreached}"
        )

    def to_json(self) -> dict:
        return {
            "sent": self.sent,
            "empty": self.empty,
            "failed": self.failed,
            "not_due": self.not_due,
            "dry_run": self.dry_run,
            "would_send": self.would_send,
            "unsubscribed": self.unsubscribed,
            "other_workers": self.other_workers,
            "waiting": self.waiting,
            "held": self.held,
            "pending": self.pending,
            "locked": self.locked,
            "not_reached": self.not_reached,
            "sources_read": self.sources_read,
            "failed_sources": [f.to_json() for f in self.failed_sources],
            "problems": list(self.problems),
            "digests": [
                {"email": r.email, "status": r.status, "papers": r.papers, "message_id": r.message_id, "error": r.error,
                 "taken": max(r.taken, r.papers), "sent_before": r.sent_before,
                 "not_again": [not_again_said(lost_math_shown(p.title), p) for p in r.not_again],
                 "revised": [p.to_json() for p in r.not_again]}
                for r in self.results
            ],
        }


#: A subscriber's digest as planned: its open digest (if owed), the
#: subscriber, the composed message, what max_papers cut (see
#: :func:`~newsletter.matching.max_papers_cut`), and what it leaves out as new
#: versions of papers sent before (``DigestResult.not_again``).
#: ... and the papers the digest drew on by id: those of a kept pool are in no run's index (see _batch)
_Planned = tuple[OpenDigest | None, Subscriber, Composed, tuple[int, int], tuple[NotAgain, ...], dict[str, Paper]]


#: Subscribers planned together: their state read in a few queries, their
#: digests committed as ``sending`` in one transaction (one fsync).
CLAIM_BATCH = 32
#: A send worker's parts after its first are this many subscribers: each
#: claim holds the state's write lock through its fsync, and the parent,
#: queued behind it to record deliveries, held the workers' deliveries up
#: (see :data:`UNRECORDED_MOST`); a third as many claims, a third as many
#: waits.  The first part stays small, so the first messages go out early.
CLAIM_BATCH_LATER = 3 * CLAIM_BATCH
#: A digest whose run failed waits this long before the next attempt, twice
#: that after a second failed run, and so on up to RETRY_MOST (seconds).
RETRY_FIRST = 300.0
RETRY_MOST = 86400.0


def retry_wait(failures: int) -> timedelta:
    """The back-off a digest gets after its ``failures``-th failed run."""
    return timedelta(seconds=backoff(RETRY_FIRST, max(failures, 1), RETRY_MOST))


def retry_time(owed: OpenDigest, settings: str, now: datetime) -> tuple[datetime | None, bool]:
    """When the failed digest ``owed`` may be tried again (None: now), and
    whether its recorded retry time lies further from ``now`` than its
    back-off (:func:`retry_wait`): set by a clock ahead of this one (a clock
    put back since, by NTP, by hand, a VM restored).  It is tried now then:
    no back-off waits longer than its own length, where a clock put back
    some hours held the digest those hours more, and one put back a month
    held it a month.  ``settings``: see :meth:`OpenDigest.retry_from`."""
    at = owed.retry_from(settings)
    if at is None:
        return None, False
    if at - now > retry_wait(owed.failures):  # (now + a wait overflows at the end of the calendar)
        return None, True
    return at, False


#: A send this big (in subscribers) is shared among processes, one per core.
SHARD_MIN = 200
MAX_SHARDS = 8
#: Times a batch is planned and claimed when the server rolls its transaction
#: back before the claim commits (a deadlock: see :meth:`_SendRun._claimed`).
BATCH_TRIES = 3
#: How much lower a send worker's CPU priority is than the command's (see _shard).
WORKER_NICENESS = 5
#: A send worker passes at most this many results to the parent at once.
RELAY_GROUP = 64
#: The parent of send workers records their deliveries a group at a time: it
#: wakes for the first of a group, lets the rest come in for this long
#: (seconds), then reads them all and records them in one transaction.
RECORD_WITHIN = 0.005
#: A send worker has at most this many deliveries that the parent has not
#: recorded yet; it waits for the parent beyond that (a parent held up by a
#: slow reader of its output or by the state's lock holds the workers up too,
#: so a kill then repeats at most this many per worker).
UNRECORDED_MOST = 32
#: Seconds within which the parent of send workers passes a stop on to them.
STOP_SEEN_WITHIN = 0.1
#: Before forking its workers, a big send makes the shared bodies of the digests
#: that recur among its first SHARE_SCAN subscribers, at most SHARE_BODIES of
#: them (see _share_first_bodies).
SHARE_SCAN = 4 * CLAIM_BATCH
SHARE_BODIES = 8
#: Digests composed before a send claims anything, to tell templates broken
#: for everyone from a failure on one subscriber's data (see _try_templates).
TEMPLATE_TRIES = 3


#: How much later than a subscriber's last digest the sources' oldest paper may
#: be without a word: a weekend and a holiday, when arXiv announces nothing.
SOURCES_SHORT_AFTER = timedelta(days=4)


def _oldest_date(papers: Sequence[Paper]) -> datetime | None:
    """The oldest of ``papers``' dates, None when one is undated (or none is given)."""
    dates = [p.published for p in papers]
    return None if not dates or None in dates else min(cast(list[datetime], dates))


#: The ``like:`` warnings a send told, by config file, in the cache folder (see ToldOnce).
LIKE_TOLD_FILE = "like-warnings-told.json"
#: What a warning said once by send adds, so its silence later reads as meant.
TOLD_ONCE = " (said once: later sends are quiet of it while it stands; `newsletter validate` says it again)"


#: What a ``like:`` warning is remembered by (see :class:`ToldOnce`).
_Told = tuple[str, str, str]


class ToldOnce:
    """The warnings of ``like:`` entries that name no known paper, as
    ``send`` and ``run`` say them: each once while it stands.  Said at every
    send, cron mailed its admin the same lines every day for as long as the
    entry stayed (a liked paper no source lists is no fault to mend daily),
    and the mails that mattered drowned among them.  ``validate``,
    ``match``, ``preview`` and ``test-email`` say them every time.

    Remembered in the cache folder, per config file, by what stands of each
    from one day to the next, as the ranker hands it over
    (:class:`ranking.LikeWarning`): the topic, the entry as written and the
    kind of problem.  Not by its words: their hint counts the day's papers
    and suggests a title among them, so remembered whole it was said again
    nearly every day with live sources; nor by the entry's place in the
    list, so an entry written above leaves the others quiet; nor by the
    config file's line, moved by an edit elsewhere.  A warning not told
    before is said; the file then holds this send's warnings, and those of
    ``unbuilt`` (the config's topics this send ranked none for: ``send
    --subscriber``, subscribers not due), so one mended (or its entry
    edited) and broken again is said again, and a send for some subscribers
    leaves the others' quiet.  A cache that cannot be read or written makes
    every send say them, as before.  What versions before this one wrote
    there (the warnings' words) is read as nothing told: each is said once
    more, then remembered so."""

    def __init__(self, path: Path, config: Path, warn: Callable[[str], None], unbuilt: Iterable[str] = ()) -> None:
        self.path, self.key, self.warn, self.unbuilt = path, str(config.resolve()), warn, set(unbuilt)
        self.before = self._told()
        self.now: list[_Told] = []
        # a cache folder that cannot be written: said every time, so not "said once"
        try:
            folder = next((p for p in (path.parent, *path.parent.parents) if p.exists()), path.parent)
            self.keeps = folder.is_dir() and os.access(path if path.exists() else folder, os.W_OK)
        except OSError:  # (Python 3.11's exists() raises PermissionError under a folder that cannot be searched)
            self.keeps = False

    def _all(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _told(self) -> set[_Told]:
        told = self._all().get(self.key)
        if not isinstance(told, list):
            return set()
        # (an earlier version's entries are the warnings' words: not [topic, entry, kind], so not told)
        return {(t[0], t[1], t[2]) for t in told
                if isinstance(t, list) and len(t) == 3 and all(isinstance(part, str) for part in t)}

    def __call__(self, warning: LikeWarning) -> None:
        self.now.append((warning.topic, warning.entry, warning.kind))
        if self.now[-1] not in self.before:
            self.warn(warning.message + TOLD_ONCE if self.keeps else warning.message)

    def save(self) -> None:
        told = {t for t in self.before if t[0] in self.unbuilt} | set(self.now)
        if told == self.before:
            return
        data = self._all()
        if told:
            data[self.key] = [list(t) for t in sorted(told)]
        else:
            data.pop(self.key, None)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.path, json.dumps(data, ensure_ascii=False, indent=1).encode())
        except OSError:
            pass  # (said again by the next send: no worse than before)


def unusable_secrets(config: Config, transport: Transport | None) -> list[Problem]:
    """Every problem of what a send needs before it sends anything: the
    unsubscribe links' signing key (``web.secret_env``), the DKIM key
    (``email.dkim``: a send failed on it only once the sources were read)
    and, with a ``transport``, its own settings (``delivery.password_env``'s
    variable).
    All of them, not the first: under cron's empty environment both
    variables are unset, and a send named only the key, so the admin
    mended that and the next cron run failed on the password.  ``run``
    asks the same at its start (:class:`runner.Runner`), where it said
    nothing until the first digest was due, hours later."""
    from .signing import signer

    problems: list[Problem] = []
    for check in (lambda: links(config), lambda: signer(config)):
        try:
            check()
        except ConfigError as exc:
            problems.extend(exc.problems)
    if transport is not None:  # (its check makes nothing: a send refused here leaves no outbox behind)
        try:
            transport.check()
        except ConfigError as exc:
            problems.extend(exc.problems)
    return problems


def send(
    config: Config,
    *,
    now: datetime,
    only: str | None = None,
    dry_run: bool = False,
    transport: Transport | None = None,
    warn: Callable[[str], None] | None = None,
    progress: Callable[[DigestResult], None] | None = None,
    sleep: Callable[[float], object] = time.sleep,
    lock_wait: float = 600.0,
    stop: Callable[[], bool] | None = None,
    interrupted: Callable[[], bool] | None = None,
    own_clock: bool = False,
    ahead_at_most: timedelta | None = None,
) -> SendReport:
    """Build every due digest and deliver it; see PRODUCT.md "Delivery" and "State".

    ``now`` (aware) is the run's time: due-ness, Date headers and the state's
    timestamps use it.  ``only`` limits the run to one subscriber.
    ``dry_run`` reads the state read-only and sends and records nothing.
    ``transport`` replaces the configured one (tests, scripts); ``sleep`` is
    what retries wait with; ``progress`` sees each :class:`DigestResult` as it
    happens (from delivery threads too, one call at a time).  ``stop()``
    returning true (``newsletter run`` got SIGTERM) ends the run early: the
    messages being delivered finish, the rest stay pending for the next run.
    ``interrupted()`` does the same for a Ctrl-C (``newsletter send``): as
    the terminal signals every process of the command, each send worker of
    a big send sees it by itself (its copy of the flag), so unlike ``stop``
    it leaves the send shared out among them.  ``own_clock``: ``now`` was
    read from this machine's clock (no ``--now``); on a state with a clock of
    its own (PostgreSQL's, shared by workers on several machines) that clock's
    time replaces it (see :func:`state.shared_now`).  ``ahead_at_most``: how
    far a ``now`` given (not ``own_clock``) may be ahead of the state's clock
    (:class:`AheadOfTheClock` past it, before anything is claimed); checked
    here, where the state is open, since workers on PostgreSQL go by its
    clock: a worker whose own clock ran an hour ahead let a send "at" 50
    minutes ahead record its digests in everyone's future.

    Each digest is committed as ``sending`` with its papers and Message-ID
    before the transport gets it, and recorded the moment it is delivered.
    On SQLite the whole send holds the state's lock file, so a second
    process waits instead of sending the same digests; on PostgreSQL any
    number of workers run at once, each planning the subscribers no other
    worker holds (:meth:`State.claiming`).  A digest that failed stays
    pending and is sent again by the next run (with the same Message-ID, its
    papers first, plus newer ones).
    """
    if now.tzinfo is None:
        raise ValueError("send(now=...) must be timezone-aware")
    warn = warn or log.warning
    if not dry_run:
        transport = transport or make_transport(config)
    # the links' key and the password variable: fail before anything is sent, naming both
    problems = unusable_secrets(config, None if dry_run else transport)
    if not dry_run and not config.state_is_shared:
        # with them, a state this user cannot write: in a folder not the user's, the outbox was
        # named, and once it was moved the next send named the state (validate names both)
        from .state.sqlite import unwritable

        if why := unwritable(config.state_path):
            problems.append(Problem(why, str(config.state_path)))
    if problems:
        raise ConfigError(*problems)
    source_problems: list[str] = []
    skipped: list[SourceRead] = []

    def source_warn(message: str) -> None:
        source_problems.append(message)
        warn(message)

    # Under `run`, SIGTERM also ends fetching: a retry's backoff is cut short and
    # no new request starts (the one in flight ends within http.timeout).
    # A Ctrl-C (``interrupted``) does the same.
    halt = _either(stop, interrupted)

    def read() -> list[Paper]:
        fetcher = Fetcher.from_config(config, sleep=sleep, stop=halt) if halt is not None else None
        try:
            return read_papers(config, source_warn, now=now, fetcher=fetcher, skipped=skipped.append)
        except SourcesFailed as exc:
            # Raised before any digest is claimed: nobody's slot is used up.
            *each, summary = exc.problems
            raise SourcesFailed(
                *each,
                Problem(f"{summary.message}: nothing sent; due digests go out at the next run that reads the sources"),
            ) from None
        finally:
            if fetcher is not None:
                fetcher.close()

    subs = config.selected_subscribers(only)
    release_held = only is not None
    # Nobody due: the sources are not read (a cron line sending every 10 minutes to subscribers on
    # a daily schedule read every source, and ranked every paper, 143 times a day for nothing).
    # Asked of the state the send opens (on PostgreSQL one more session was one more login, under
    # the database's own statement_timeout), before its lock is taken: the sources are read
    # outside the lock, as ever, when someone is due.
    if dry_run:
        with open_state(config.state_target, readonly=True, stop=halt) as state:
            now = shared_now(state, now, warn) if own_clock else now
            found = read() if _anyone_due(state, config, subs, now, release_held) is None else None
            dry = _SendRun(config, state, found, now, warn, progress, source_problems, release_held=release_held)
            dry.read = read
            return _with_skipped(dry.run(subs, None), skipped)
    with open_state(config.state_target, stop=halt) as state:
        now = shared_now(state, now, warn) if own_clock else now
        if ahead_at_most is not None and not own_clock:
            _not_ahead(state, now, ahead_at_most)
        undue = _anyone_due(state, config, subs, now, release_held)
        to_keep = undue is not None and _to_keep(state, config, undue, now)
        found = read() if undue is None else _read_to_keep(read, warn, halt) if to_keep else None
        with state.exclusive(wait=lock_wait, stop=halt, sleep=sleep):
            run = _SendRun(config, state, found, now, warn, progress, source_problems, sleep, release_held=release_held)
            run.read = read
            run.skipped = skipped
            run.due_read = undue is None
            run.stop_shared = stop is not None
            run.stop = halt
            return _with_skipped(run.run(subs, transport), skipped, kept_read=to_keep)


def _with_skipped(report: SendReport, skipped: list[SourceRead], kept_read: bool = False) -> SendReport:
    """``report`` naming the sources that failed while due digests were built
    from the others.  A warning alone, with exit 0, went unseen under cron
    (which mails a job's output only when it fails), run after run, while a
    moved feed's papers were missing from every digest.  A source that says
    ``required: false`` may fail quietly (its warning is said all the same).
    A send with nobody due that read the sources to keep their papers for a
    digest due later (``kept_read``: a weekly subscriber fed by a daily
    cron) is loud alike, even when every source failed: with exit 0 there
    a feed that moved on Tuesday lost a week of papers without a word,
    since the Monday digest draws on what those runs kept."""
    failed = failed_sources(skipped)
    if not failed or not (report.built or kept_read):
        return report
    return replace(report, skipped_sources=loud_failures(skipped), failed_sources=failed)


@dataclass(frozen=True)
class FailedSource:
    """A source that failed while the others were read, as ``--json`` lists it."""

    index: int  # in ``sources:``
    name: str
    location: str  # the URL fetched or the local path
    #: False for a source written ``required: false``: its failure is a warning
    #: alone and changes no exit code (see :func:`loud_failures`).
    required: bool

    def to_json(self) -> dict:
        return {"source": self.index, "name": self.name, "location": self.location, "required": self.required}


def failed_sources(skipped: Sequence[SourceRead]) -> tuple[FailedSource, ...]:
    """Every failed source of ``skipped``, once each, in config order."""
    once = {f.index: f for f in skipped}
    return tuple(FailedSource(f.index, f.source.label, f.location, f.source.required is not False)
                 for _, f in sorted(once.items()))


def loud_failures(skipped: Sequence[SourceRead]) -> tuple[tuple[int, str, str], ...]:
    """The failed sources not written ``required: false`` (which may fail
    with their warning alone), once each, in config order: (index in
    ``sources:``, name, URL or path)."""
    return tuple((f.index, f.name, f.location) for f in failed_sources(skipped) if f.required)


def failed_named(failed: Sequence[tuple[int, str, str]], sources: int) -> str:
    """``1 of 2 sources failed (said above): sources[0] 'arXiv ML' (URL)``:
    how a closing line names the sources that failed (see :func:`loud_failures`)."""
    named = ", ".join(f"sources[{index}] {name!r} ({where})" for index, name, where in failed)
    return f"{len(failed)} of {counted(sources, 'source')} failed (said above): {named}"


def skipped_said(report: SendReport, sources: int) -> str:
    """The line ``send`` ends with (exit 2) when some sources failed and the
    digests went out from the others (see :func:`_with_skipped`).

    Failed deliveries too are said here, in the last line: the exit code is
    2 all the same (bad input wants a person; a script retrying on 1 could
    not mend a moved feed, and the failed digests stay pending for the next
    send whatever the code), so the line a cron mail or a script's log ends
    with would otherwise hide them behind the source."""
    named = failed_named(report.skipped_sources, sources)
    if not report.built:  # the sources were read to keep their papers
        kept = ("the papers of the others were kept for the digests due later, without its papers"
                if report.sources_read else "nothing was kept for the digests due later (the next send reads "
                "the sources again)")
        return (f"{named}; no digest was due; {kept} (exit 2; `required: false` on a source lets it fail with a warning "
                "alone)")
    went = "would go out" if report.dry_run else "went out"
    failed = (f"; and {counted(report.failed, 'digest')} failed to go out (pending: the next send tries "
              f"{'it' if report.failed == 1 else 'them'} again)" if report.failed else "")
    return (f"{named}; the digests {went} from the others without its papers{failed} (exit 2; `required: false` on a source "
            "lets it fail with a warning alone)")


def _anyone_due(state: State, config: Config, subs: Sequence[Subscriber], now: datetime,
                release_held: bool) -> list[DigestResult] | None:
    """None when a digest of ``subs`` may be due at ``now``, else what
    becomes of each (see :func:`_all_undue`), asked before any source is
    read and before the state's lock is taken: the send run asks again under
    the lock (the lock's ``recover`` may have made a digest owed meanwhile),
    and reads the sources then if another process changed that meanwhile."""
    left = state.unsubscribed(s.email for s in subs)
    subs = [s for s in subs if s.email not in left]
    return _all_undue(state, config, subs, now, settings_fingerprint(config), release_held)


#: A send with nobody due reads the sources, to keep their papers for a digest
#: later (see :func:`_to_keep`), once the last run that kept papers is this old.
KEEP_READ_EVERY = timedelta(hours=6)
#: A digest whose slots are further apart than this draws on papers that a
#: source listing one day (arXiv's feed) lists no more by its next slot.
ONE_DAYS_LIST = timedelta(hours=25)


def _read_to_keep(read: Callable[[], list[Paper]], warn: Callable[[str], None],
                  halt: Callable[[], bool] | None) -> list[Paper] | None:
    """The sources' papers, read only to be kept for a digest due later (see
    :func:`_to_keep`), or None when every source failed: said source by
    source, since the digests due later lack what they listed today unless a
    later run reads it (and ``send`` exits 2: see :func:`_with_skipped`).
    A read cut short by a stop (``halt``) is the stop's."""
    try:
        return read()
    except SourcesFailed as exc:
        if halt is not None and halt():
            raise
        *each, summary = exc.problems
        for problem in each:
            warn(str(problem))
        warn(f"{summary.message.split(':')[0]}: no digest is due now; their papers are not kept for the digests "
             "due later (the next send reads them again)")
        return None


def _to_keep(state: State, config: Config, undue: list[DigestResult], now: datetime) -> bool:
    """Whether a send with nobody due reads the sources all the same, to keep
    their papers (:meth:`State.keep_listed`) for a digest due later: when a
    subscriber's next digest is over a day away (a weekly one: arXiv's feed
    lists one day, so the days between were read by nobody), and no run
    kept papers in the last :data:`KEEP_READ_EVERY`.  A cron line sending
    every 10 minutes to weekly subscribers reads 4 times a day, not 143;
    one whose subscribers are all daily (the shipped config) never reads
    when nobody is due: each daily digest reads its own day, and the run
    would not keep what it read (:func:`draws_on_kept`), even for a daily
    digest whose retry is over a day away."""
    if not draws_on_kept(config) or not any(r.next_attempt is not None and r.next_attempt - now > ONE_DAYS_LIST for r in undue):
        return False
    kept = state.listed_times(now - KEEP_READ_EVERY, now + timedelta(microseconds=1))
    return not kept


def _all_undue(state: State, config: Config, subs: Sequence[Subscriber], now: datetime, settings: str,
               release_held: bool) -> list[DigestResult] | None:
    """What becomes of each of ``subs`` when none is due (:func:`_undue`),
    or None as soon as one is: the state is read a part at a time, and no
    further once a digest is due."""
    results = []
    for part in chunks(subs, DUE_ASKED_AT_ONCE):
        known = state.plan([s.email for s in part], with_sent=False)
        for sub in part:
            undue = _undue(config, sub, known[sub.email], now, settings, release_held)
            if undue is None:
                return None
            results.append(undue)
    return results


#: What ``send`` says when no digest was due, so the sources were not read.
UNREAD = "no digest is due now: the sources were not read (`newsletter schedule` says when each is due)"
#: Subscribers whose state :func:`_anyone_due` reads at once.
DUE_ASKED_AT_ONCE = 1000


def _undue(config: Config, sub: Subscriber, known: SubscriberState, now: datetime, settings: str,
           release_held: bool) -> DigestResult | None:
    """What becomes of ``sub``'s digest when it is not due at ``now`` (held,
    waiting out its back-off after a failed run, or no slot passed since its
    last), or None: due.  A digest owed is due.  ``release_held``: a send
    naming one subscriber tries its held or waiting digest."""
    owed = known.open
    if owed is not None and owed.held and not release_held:
        return DigestResult(sub.email, "held", error=owed.last_error, failures=owed.failures)
    retry_from = retry_time(owed, settings, now)[0] if owed is not None else None
    if owed is not None and retry_from is not None and retry_from > now and not release_held:
        return DigestResult(sub.email, "waiting", error=owed.last_error, next_attempt=retry_from)
    if owed is not None:
        return None
    zone = config.zone(sub)
    if is_due(sub.schedule, zone, last_sent=known.last_served, first_seen=known.first_seen, now=now):
        return None
    nxt = next_send(sub.schedule, zone, last_sent=known.last_served, first_seen=known.first_seen, now=now)
    return DigestResult(sub.email, "not due", next_attempt=nxt.astimezone(zone) if nxt else None)


def _not_ahead(state: State, now: datetime, slack: timedelta) -> None:
    """:class:`AheadOfTheClock` when ``now`` is more than ``slack`` ahead of
    the clock ``state`` goes by (its own, else this machine's)."""
    shared = state.clock()
    clock = shared or datetime.now(UTC)
    if now <= clock + slack:
        return
    whose = (f"the clock of {state.name}, which every worker goes by ({clock.isoformat(timespec='seconds')})"
             if shared is not None else "this machine's clock")
    raise AheadOfTheClock(
        f"{now.isoformat()} is ahead of {whose}; a send recorded in the future would hold back the next digests "
        "until then (use --dry-run to look ahead)"
    )


def _either(*flags: Callable[[], bool] | None) -> Callable[[], bool] | None:
    """True once any of ``flags`` is (None when none is given)."""
    given = [f for f in flags if f is not None]
    if len(given) <= 1:
        return given[0] if given else None
    return lambda: any(f() for f in given)


def _parts_taken(subs: Sequence[Subscriber], taken, workers: int) -> Iterator[Sequence[Subscriber]]:
    """In a send worker: the next part of ``subs`` no worker has taken yet
    (``taken`` counts the subscribers taken, shared by the ``workers``): its
    first part, and each part once too few are left for a big one each,
    :data:`CLAIM_BATCH` subscribers (the first messages go out early, and
    the workers finish together); the others :data:`CLAIM_BATCH_LATER`."""
    first = True
    while True:
        with taken.get_lock():
            start = taken.value
            small = first or len(subs) - start < workers * CLAIM_BATCH_LATER
            size = CLAIM_BATCH if small else CLAIM_BATCH_LATER
            taken.value = start + size
        if start >= len(subs):
            return
        yield subs[start : start + size]
        first = False


def _died(proc) -> str:
    """Why a send worker went silent, once it has been reaped."""
    proc.join(timeout=5)
    code = proc.exitcode
    if code is not None and code < 0:
        try:
            how = f"killed by {signal.Signals(-code).name}"
        except ValueError:
            how = f"killed by signal {-code}"
    else:
        how = f"exit {code}" if code is not None else "still running"
    # (not "stay pending": its claims stay `sending`, which only the next send's recovery takes back)
    return (f"send worker {proc.name} stopped without finishing ({how}); the digests it had claimed stay "
            "'sending' until the next send takes them back and sends them again, with the same Message-IDs")


def _stopped(why: str) -> str:
    """A send worker's error as the parent reports it: which worker, and
    that nothing is lost (a worker's bare error, a state it could no longer
    reach, read as the whole send's).  In the worker.

    Not "its unfinished digests stay pending", as it said: what the worker
    had queued comes back not attempted and is written back ``pending`` when
    its state still takes writes, but a part claimed and not yet handed over
    (an error between the claim's commit and the hand-over, e.g. the state
    refusing the papers' record) stays ``sending``, and nothing running takes
    that back: only the next send's recovery does (SQLite: any ``sending``;
    PostgreSQL: once this worker's session has ended, which its exit does),
    and it sends them again with the same Message-IDs."""
    return (f"send worker {multiprocessing.current_process().name} stopped: {why}; the digests it had claimed and "
            "not delivered go out with the next send (any left 'sending' are taken back by it and sent again, "
            "with the same Message-IDs)")


def digest_papers(
    config: Config,
    index: TopicIndex,
    sub: Subscriber,
    known: SubscriberState,
    papers_of: Callable[[list[str]], dict[str, Paper]],
) -> list[PaperMatch]:
    """The papers of ``sub``'s next digest, best first, as :func:`send`
    builds it and ``preview`` shows it: those not sent before, at most
    ``max_papers``; an owed digest's papers first, in their order, then new
    ones (``papers_of`` rebuilds owed papers no source has any more, from
    the state); and a digest a stopped run may have delivered (uncertain)
    exactly as it was, its new papers left for the next digest."""
    sent = known.sent_paper_ids
    open_ = known.open
    if open_ is None or not open_.paper_ids:
        if open_ is not None and open_.uncertain:
            return []  # an empty digest (send_empty), again as it was
        return index.select(sub, exclude=sent)[: sub.max_papers]
    # enough ranked papers to fill up after the owed ones, wherever those rank
    ranked = index.select(sub, exclude=sent, limit=sub.max_papers + len(open_.paper_ids))
    owed = [pid for pid in open_.paper_ids if pid not in sent]
    by_id = {m.paper.id: m for m in ranked}
    missing = [pid for pid in owed if pid not in by_id]
    if missing:
        old = papers_of(missing)
        if old:
            extra = Matcher(config.topics, config).index(old.values(), sub.topics)
            by_id.update((m.paper.id, m) for m in extra.select(sub, exclude=sent, limit=len(old)))
    owed_set = set(owed)
    ranked = [by_id[pid] for pid in owed if pid in by_id] + [m for m in ranked if m.paper.id not in owed_set]
    if open_.uncertain:
        # a stopped run may have delivered it: again as it was, the new papers go in the next digest
        return [m for m in ranked if m.paper.id in owed_set]
    return ranked[: sub.max_papers]


class _Relay:
    """A send worker's news on its way to the parent.

    Deliveries go at once, for the parent to record (see
    :meth:`_SendRun._deliver_sharded`); other results (failures, skipped
    subscribers) a group per pickle, when :data:`RELAY_GROUP` have piled up
    or with the next delivery.  Not thread-safe: callers hold the run's lock.
    """

    def __init__(self, conn, window, parent: int) -> None:
        self.conn = conn
        self.items: list[DigestResult] = []
        self.window = window  # a slot per delivery the parent has not recorded yet
        self.parent = parent

    def wait_for_room(self) -> None:
        """Wait until the parent has recorded enough of this worker's
        deliveries (:data:`UNRECORDED_MOST`); a parent gone is an error."""
        if self.window.acquire(block=False):
            return
        while True:
            if os.getppid() != self.parent:
                raise StateError(Problem("the send's parent process is gone: nobody records the deliveries"))
            if self.window.acquire(timeout=1.0):
                return

    def __call__(self, result: DigestResult) -> None:
        self.items.append(result)
        if len(self.items) >= RELAY_GROUP:
            self.flush()

    def delivered(self, outcome: Outcome) -> None:
        env = outcome.envelope
        items, self.items = self.items, []
        # pickle.dumps, not Connection.send's ForkingPickler (a pickler object
        # per message): the parent's recv() reads either
        self.conn.send_bytes(pickle.dumps(
            ("delivered", (env.digest_id, env.recipient, outcome.tries, env.papers, env.message_id, env.cut,
                          env.not_again), items),
            pickle.HIGHEST_PROTOCOL,
        ))

    def flush(self) -> None:
        if self.items:
            items, self.items = self.items, []
            self.conn.send(("results", items, 0))


class _Listening:
    """The parent's ear on its send workers' pipes: one ``poll`` object for
    the whole send, and one per pipe to ask whether more has come."""

    def __init__(self, readers: Iterable) -> None:
        self.poller = select.poll()
        self.by_fd: dict[int, multiprocessing.connection.Connection] = {}
        self.one: dict[multiprocessing.connection.Connection, select.poll] = {}
        for reader in readers:
            fd = reader.fileno()
            self.poller.register(fd, select.POLLIN)
            self.by_fd[fd] = reader
            self.one[reader] = single = select.poll()
            single.register(fd, select.POLLIN)

    def ready(self, timeout: float | None) -> list:
        """The pipes with something to read (or closed), waiting at most
        ``timeout`` seconds (None: until one has)."""
        events = self.poller.poll(None if timeout is None else timeout * 1000)
        return [self.by_fd[fd] for fd, _ in events if fd in self.by_fd]

    def more(self, reader) -> bool:
        """Whether ``reader`` has more to read (or was closed) right now."""
        return bool(self.one[reader].poll(0))

    def forget(self, reader) -> None:
        """``reader``'s worker said its last word: its pipe is not polled again."""
        fd = reader.fileno()
        if self.by_fd.pop(fd, None) is not None:
            self.poller.unregister(fd)


@dataclass(frozen=True, slots=True)
class _Before:
    """A claimed digest's failed runs before this one: how many, in a row of
    one kind, and whether that kind was refusals (permanent).  One record,
    where two dicts keyed by digest id had to be written in step (and held
    an entry for every digest of the run, a new one's too)."""

    failures: int = 0
    refused: bool = False

    @classmethod
    def of(cls, owed: OpenDigest) -> _Before:
        return cls(owed.failures, owed.status == "failed")

    def then(self, permanent: bool) -> tuple[bool, int]:
        """After one more failed run (``permanent``: a refusal): whether the
        count starts again, and the count.  A hold counts refusals in a row:
        two runs that found the server down, then one passing "550", held the
        digest as "refused 3 times"."""
        restart = self.refused != permanent
        return restart, (0 if restart else self.failures) + 1


_NEVER_FAILED = _Before()


def draws_on_kept(config: Config) -> bool:
    """Whether a run keeps the papers it read (:meth:`State.keep_listed`):
    only when some subscriber's slots can be over a day apart (``weekly on
    monday``, ``every 48 hours``), the digests that draw on days read by the
    runs before theirs.  One whose digests are all daily or at every send
    reads its own day, so nothing is kept: a 111 MB export kept whole made
    a 232 MB state where the papers sent take 6 MB."""
    for sub in config.subscribers:
        schedule = sub.schedule
        if schedule is None:
            continue
        if schedule.kind == "interval" and timedelta(minutes=schedule.interval_minutes) > ONE_DAYS_LIST:
            return True
        if schedule.kind == "weekly":
            days = schedule.weekdays
            gaps = [(b - a) % 7 or 7 for a, b in zip(days, days[1:] + days[:1])]
            if max(gaps, default=7) > 1:
                return True
    return False


def listed_kept_for(config: Config) -> timedelta:
    """How long the papers a run read are kept (:meth:`State.keep_listed`):
    :data:`KEEP_LISTED`, or longer for a schedule whose slots are further
    apart (``every 720 hours``) -- a digest due a month on found the papers
    of its last two weeks only, and those of the days before were lost."""
    longest = max((s.schedule.interval_minutes for s in config.subscribers if s.schedule is not None), default=0)
    return max(KEEP_LISTED, timedelta(minutes=longest) + KEEP_LISTED_MORE)


class KeptPools:
    """The papers each digest draws on, matched and ranked: those the run
    read (its :class:`TopicIndex`) and those the runs since the subscriber's
    last digest kept (:meth:`State.keep_listed`), a paper read again as the
    newest run read it.  A weekly digest fed by arXiv's feed, which lists
    one day, holds the week; ``send``, ``preview`` and ``match`` draw on the
    same.  Subscribers whose last digests fell between the same two runs
    share one pool, built once (at most :data:`POOLS_KEPT` at a time, from
    the kept papers read once a run: :meth:`State.listed_at`); one
    the runs since its last digest kept nothing for (a daily digest) draws on
    the run's papers alone, its index as before."""

    POOLS_KEPT = 4

    def __init__(self, config: Config, papers: list[Paper], index: TopicIndex, subs: Sequence[Subscriber],
                 kept_times: list[datetime], before: datetime) -> None:
        #: ``kept_times``: when the runs that kept papers read them (:meth:`State.listed_times`), before ``before``.
        self.config, self.papers, self.index, self.subs = config, papers, index, subs
        self.kept_times, self.before = kept_times, before
        self.built: dict[datetime, tuple[TopicIndex, datetime | None]] = {}
        #: every kept paper with when it was last read, read once (see :meth:`State.listed_at`): a
        #: pool rebuilt after its eviction (more `since` groups than POOLS_KEPT, interleaved) read
        #: the kept papers from the state again, once per subscriber
        self.kept: list[tuple[datetime, Paper]] | None = None
        self.oldest = _oldest_date(papers)

    @staticmethod
    def since(known: SubscriberState) -> datetime | None:
        """From when a digest draws on kept papers: the subscriber's last
        digest (the papers kept then were offered to it), else just before it
        was first seen (a first digest has those of the run that first saw it)."""
        if known.last_served is not None:
            return known.last_served
        return known.first_seen - timedelta(microseconds=1) if known.first_seen is not None else None

    def of(self, known: SubscriberState, state: State) -> tuple[TopicIndex, datetime | None]:
        """The index ``known``'s next digest selects from, and its papers'
        oldest date (None when one is undated; see ``_warn_sources_short``)."""
        since = self.since(known)
        later = len(self.kept_times) if since is None else bisect.bisect_right(self.kept_times, since)
        if later == len(self.kept_times):
            return self.index, self.oldest
        first = self.kept_times[later]
        pool = self.built.get(first)
        if pool is None:
            assert since is not None
            read = {p.id for p in self.papers}
            if self.kept is None:
                self.kept = state.listed_at(self.kept_times[0] - timedelta(microseconds=1), self.before)
            kept = [p for seen, p in self.kept if seen > since and p.id not in read]
            # merged: an arXiv copy kept Tuesday and a title-only copy (an export
            # without ids) kept Wednesday are one paper, listed once in the digest
            papers = merge_papers(self.papers + known_earlier(state, kept))
            pool = (topic_index(self.config, papers, self.subs), _oldest_date(papers))
            if len(self.built) >= self.POOLS_KEPT:
                self.built.pop(next(iter(self.built)))
            self.built[first] = pool
        return pool


class _SendRun:
    """One :func:`send`: plan per subscriber in the main thread, deliver in the
    dispatcher's threads, record outcomes from those threads (in a big send,
    the parent process records its workers' deliveries: :meth:`_hear`)."""

    def __init__(self, config, state, found, now, warn, progress, source_problems, sleep=time.sleep, *,
                 release_held: bool = False):
        self.config, self.state, self.papers, self.now = config, state, found, now
        #: Reads the sources, when ``found`` is None (nobody was due) and someone is due after all.
        self.read: Callable[[], list[Paper]] = list
        #: ``found`` was read for a digest due (not only to be kept: see :func:`_to_keep`).
        self.due_read = True
        self.warn, self.progress, self.source_problems, self.sleep = warn, progress, source_problems, sleep
        self.results: list[DigestResult] = []
        self.lock = threading.Lock()
        self.local = threading.local()
        self.worker_states: list[State] = []
        self.with_papers = 0
        self.stop: Callable[[], bool] | None = None
        self.stop_shared = False  # ``stop`` is one process's to see: no send workers
        self.keep_results = True  # False in a send worker: the parent keeps them
        self.subscribers = 0  # in the run (see SendReport.not_reached)
        self.before: dict[int, _Before] = {}  # digest id -> its failed runs before this one (owed digests only)
        self.settings = settings_fingerprint(config)  # recorded with a failure: see OpenDigest.retry_from
        self.delivered: list[Outcome] = []  # accepted by the server, not committed yet
        self.recorded: set[str] = set()  # papers this run has put in the state
        self.claim_committed = False  # whether the batch being claimed has committed its claim
        self.recovered: set[int] = set()  # digests a stopped run left sending (said at the start)
        self.unchecked: set[int] = set()  # digests withheld: whether their recipient left could not be asked
        self.taken: set[int] = set()  # digests withheld: another worker took them back (see State.still_claimed)
        #: a send naming one subscriber (``--subscriber``) tries its held digest, or one waiting
        #: out its back-off: a held digest is never tried on its own, and a refusal that was the
        #: receiving server's passing fault ("550 5.1.1" while its directory was rebuilt) held the
        #: subscriber's mail for good; a server started after the first send failed (as the error
        #: said to) waited its 5 minutes, with no way to try now
        self.release_held = release_held
        self.committing = threading.Lock()
        self.relay: _Relay | None = None  # in a send worker: where results go
        self.delivering: Any = None  # in a big send: how many send workers still deliver (shared)
        self.stopping: Any = None  # in a big send: the parent was stopped (shared, see _pass_the_stop)
        self.left = False  # this send worker's deliveries stopped and it counted itself out
        self.tried = threading.Event()  # a first outcome came in (see _deliver)
        self.problems: list[Problem] = []  # what stopped a send worker
        self.lost: str | None = None  # why this worker's claims may be another's now (see _halted)
        self._held: list[DigestResult | str] | None = None
        self._planner = threading.get_ident()
        self._short_said = False  # the sources' papers start after a digest's last one: said once a run
        self.pools: KeptPools | None = None  # what each digest draws on (see _pool)
        self.kept = 0  # papers this run kept for the digests after it (nobody was due)
        self.skipped: Sequence[SourceRead] = ()  # the sources that failed while the others were read

    def _result(self, result: DigestResult) -> None:
        if self._held is not None and threading.get_ident() == self._planner:
            self._held.append(result)
            return
        with self.lock:
            if self.keep_results:
                self.results.append(result)
            if self.progress:
                self.progress(result)

    def _warn(self, message: str) -> None:
        if self._held is not None and threading.get_ident() == self._planner:
            self._held.append(message)
            return
        self.warn(message)

    @contextmanager
    def _quiet(self) -> Iterator[None]:
        """Say nothing while a batch is held: a full pipe or a stopped terminal
        must not keep the batch's transaction (and what it locks) open.  What
        was to be said comes out right after."""
        self._held = []
        try:
            yield
        except (SessionEnded, RolledBack):
            # the batch's transaction ended with the session, or the server rolled it back (a
            # deadlock): nothing of it is recorded, and what was decided for it is decided
            # again (a resumed session, the claim run again) or not at all
            self._held = None
            raise
        finally:
            held, self._held = self._held or [], None
            for item in held:
                if isinstance(item, str):
                    self.warn(item)
                else:
                    self._result(item)

    #: Up to this many digests of a stopped run are named one line each.
    RECOVERED_LINES = 5

    def _warn_recovered(self, recovered: list[tuple[int, str, str, str | None]]) -> None:
        """Say which digests a stopped run left ``sending`` go out again.  A
        big send killed mid-batch leaves hundreds (its whole claimed batch),
        of which only those in flight may arrive twice: one line per stopped
        run past a few, naming the first ones, not hundreds of lines in the
        cron mail."""
        by_owner: dict[str, list[tuple[int, str, str]]] = {}
        for did, email, message_id, owner in recovered:
            by_owner.setdefault(owner or "unknown", []).append((did, email, message_id))
        for owner, items in by_owner.items():
            if len(items) <= self.RECOVERED_LINES:
                for did, email, message_id in items:
                    self.warn(
                        f"digest {did} for {email} {message_id} was being sent when an earlier run "
                        f"({owner}) stopped; sending it again with the same Message-ID "
                        "(if the server had accepted it just before, it arrives twice with that Message-ID)"
                    )
                continue
            named = ", ".join(f"{email} {message_id}" for _, email, message_id in items[:3])
            self.warn(
                f"{len(items):,} digests were being sent when an earlier run ({owner}) stopped; sending them "
                "again with the same Message-IDs (those the server had accepted just before, at most one per "
                f"connection, arrive twice with their Message-ID): {named} and {len(items) - 3:,} more "
                "(`newsletter history` lists them)"
            )

    def _warn_unconfirmed(self, owed: OpenDigest, email: str) -> None:
        """Say that a digest whose outcome an earlier run could not learn (the
        server closed or went silent after the whole message, before its
        reply) goes again: a lost digest is worse than a second copy, and it
        went again without a word, though the reader may get it twice."""
        self._warn(
            f"digest {owed.id} for {email} {owed.message_id}: the server did not confirm it in an earlier run "
            "(it may have taken it); sending it again with the same Message-ID (if the server had taken it, "
            "it arrives twice with that Message-ID)"
        )

    def _warn_recorded_late(self, delivered: list[tuple[int, str, str, str]]) -> None:
        """Say which digests an earlier run delivered but could not record
        (:meth:`State.apply_unrecorded`): recorded now, not sent again."""
        if len(delivered) > self.RECOVERED_LINES:
            named = ", ".join(f"{email} {message_id}" for _, email, message_id, _ in delivered[:3])
            self.warn(
                f"{len(delivered):,} digests were delivered by an earlier run that could not record them "
                f"({delivered[0][3]}); recorded as sent now, not sent again: {named} and {len(delivered) - 3:,} more"
            )
            return
        for did, email, message_id, why in delivered:
            self.warn(
                f"digest {did} for {email} {message_id} was delivered by an earlier run that could not record it "
                f"({why}); recorded as sent now, not sent again"
            )

    def run(self, subs: list[Subscriber], transport: Transport | None) -> SendReport:
        config, state, now = self.config, self.state, self.now
        dry = transport is None
        self.subscribers = len(subs)
        if not dry:
            state.see_subscribers((s.email for s in subs), now)
            signed = links(config)
            if signed is not None:  # serve tells the links of this key from made-up ones by it
                state.record_link_key(signed.key_id, now)
            self._warn_recorded_late(state.apply_unrecorded())
            recovered = state.recover()
            self.recovered = {did for did, *_ in recovered}
            self._warn_recovered(recovered)
        left = state.unsubscribed(s.email for s in subs)
        if left:
            for sub in subs:
                if sub.email in left:
                    self._result(DigestResult(sub.email, "unsubscribed"))
            subs = [s for s in subs if s.email not in left]
        undue = None
        if self.papers is None or (not dry and not self.due_read):
            # nobody was due (see send): unless that changed meanwhile, nothing to read, or
            # the papers read are only kept for the digests after this run (see _to_keep)
            undue = _all_undue(self.state, self.config, subs, self.now, self.settings, self.release_held)
        if undue is None and self.papers is None:
            self.papers = self.read()
        if not dry and self.papers is not None and draws_on_kept(config):
            state.keep_listed(self.papers, now, listed_kept_for(config))
            self.kept = len(self.papers)
        if undue is not None:
            for result in undue:
                self._result(result)
            return self._report(dry)
        self.papers = known_earlier(state, self.papers)  # sent under another title: sent
        built = {key for sub in subs for key in sub.topics}
        told = None if dry else ToldOnce(config.cache_dir / LIKE_TOLD_FILE, config.file, self.warn,
                                         unbuilt=set(config.topics) - built)
        self.index = topic_index(config, self.papers, subs, self.warn, like_warn=told)
        if told is not None:
            told.save()
        self.index_subs = subs
        self.pools = None
        self.composer = Composer(config)
        self.sender = sender_address(config)
        self._try_templates(subs)
        if transport is None:
            for part in chunks(subs, CLAIM_BATCH):
                known = state.plan([s.email for s in part])
                for sub in part:
                    self._plan_one(sub, known[sub.email], None)
        elif (shards := self._shards(len(subs), transport)) > 1:
            self._deliver_sharded(subs, transport, shards)
        else:
            self._deliver(chunks(subs, CLAIM_BATCH), transport)
        return self._report(dry)

    def _try_templates(self, subs: Sequence[Subscriber]) -> None:
        """Compose a few digests before anything is claimed: templates that
        fail on every digest (``{{ p.titel }}``) are one :class:`TemplateError`
        (exit 2), not a failed digest per subscriber.  A failure on one
        subscriber's data fails that digest only (:meth:`_plan_one`): one
        success among the first :data:`TEMPLATE_TRIES` digests with papers
        lets the run go on.

        The papers tried are those the digest draws on (:meth:`_pool`): where
        digests draw on the kept papers (weekly ones), the run's own read
        can match nobody (a Monday listing of other topics) while the week's
        pool fills every digest; tried on the run's papers alone, the check
        tried none, and a broken template failed each digest on its own
        (exit 1, a failure counted against each, held after a few) instead
        of one ``FILE:LINE`` error (exit 2, nothing claimed)."""
        first: TemplateError | None = None
        tried = 0
        for sub, index in self._drawn_on(subs):
            matches = index.select(sub, exclude=frozenset())[: sub.max_papers]  # as _plan asks (its cache)
            if not matches:
                continue
            try:
                self.composer.compose(sub, matches, now=self.now)
                return
            except TemplateError as exc:
                first = first or exc
            except Exception:  # noqa: BLE001 -- reported per digest by _plan_one
                return
            tried += 1
            if tried >= TEMPLATE_TRIES:
                break
        if first is not None:
            raise first

    def _drawn_on(self, subs: Sequence[Subscriber]) -> Iterator[tuple[Subscriber, TopicIndex]]:
        """Each of ``subs`` with the index its digest draws on (:meth:`_pool`),
        the state read a part at a time, as far as the caller goes; the
        run's index for all when no digest draws on kept papers."""
        if not draws_on_kept(self.config):
            yield from ((sub, self.index) for sub in subs)
            return
        for part in chunks(subs, CLAIM_BATCH):
            known = self.state.plan([s.email for s in part], with_sent=False)
            for sub in part:
                yield sub, self._pool(known[sub.email])[0]

    def _deliver(self, parts: Iterable[Sequence[Subscriber]], transport: Transport) -> None:
        """Plan, claim and hand over each subscriber's digest, in this process,
        a part (at most :data:`CLAIM_BATCH` subscribers) at a time.

        The delivery threads' connections (PostgreSQL's pool) are opened
        first, once a digest may be due (a send with nobody due, cron
        between slots, opens none), and outside any claim: opened inside the
        first batch's transaction, a full PgBouncer pool held that batch's
        subscribers for up to twice the connect timeout while it waited.
        Refused, nothing is claimed or sent (exit 2)."""
        self.state.ready_for_threads()
        d = self.config.delivery
        with Dispatcher(
            transport,
            on_outcome=self._record,
            retries=d.retries,
            retry_delay=d.retry_delay,
            max_per_minute=d.max_per_minute,
            sleep=self.sleep,
            stop=self._halted,
            backlog=2 * CLAIM_BATCH,
            withdrawn=self._left_meanwhile,
        ) as dispatcher:
            for part in parts:
                if why := self._halted():
                    # claims lost: one of the run's problems, which the caller says (see _halted)
                    dispatcher.cancel(why if isinstance(why, str) else "stop requested", said=isinstance(why, str))
                    break
                try:
                    claimed = self._claimed(part, dispatcher)
                except SessionEnded:
                    # the planner found the session ended (a restart) before a delivery did: the
                    # same stop (exit 1, what was claimed left pending), not an unusable state (exit 2)
                    if isinstance(why := self._halted(), str):
                        dispatcher.cancel(why, said=True)
                    elif not (self.claim_committed and dispatcher.stopped is not None):
                        raise
                    break  # (after its claim committed: _batch said why and stopped the dispatcher)
                if claimed and self.delivering is not None:
                    # a send worker claims no more until its sessions have had a
                    # first try: one the server turns away claims one part, not three
                    while not self.tried.wait(0.1) and dispatcher.error is None:
                        pass
                if dispatcher.stopped is not None and self._leave_the_rest():
                    break
        for worker_state in self.worker_states:
            if worker_state is not self.state:
                worker_state.close()
        self.worker_states.clear()

    def _claimed(self, part: Sequence[Subscriber], dispatcher: Dispatcher) -> int:
        """:meth:`_resumed`, run again (up to :data:`BATCH_TRIES` times in
        all) when the server rolled its transaction back before the claim
        committed (a deadlock with another session: a ``psql`` session
        holding a subscriber's row): nothing of it was recorded, and the
        subscriber the other session holds is skipped the next time, where
        the whole send stopped (exit 2, "cannot reach PostgreSQL")."""
        for tries in range(1, BATCH_TRIES + 1):
            try:
                return self._resumed(part, dispatcher)
            except RolledBack as exc:
                if self.claim_committed or tries == BATCH_TRIES:
                    raise
                self.warn(f"{exc}; claiming that batch again")
        raise AssertionError("unreachable")  # (the last try returns or raises)

    def _resumed(self, part: Sequence[Subscriber], dispatcher: Dispatcher) -> int:
        """:meth:`_batch`, once more when its transaction ended with the
        session and the session was resumed on the restarted server (see
        :meth:`State.claims_lost`): nothing of the first try was recorded."""
        try:
            return self._batch(part, dispatcher)
        except SessionEnded:
            # Once its claim committed, a batch run again found its own digests
            # "sending" and reported them as another worker's (the next run took
            # them back saying they may arrive twice): _batch has handed them
            # over as not attempted, and the send stops (see _send).
            if self._halted() or self.claim_committed:
                raise
        return self._batch(part, dispatcher)

    def _halted(self) -> bool | str:
        """Whether to hand over no more messages: the run was stopped (true),
        or the claims it holds may be taken by another worker (why, in
        words; see :meth:`State.claims_lost`), which is said once."""
        lost = self.state.claims_lost()
        if lost is not None:
            with self.lock:
                if self.lost is None:
                    self.lost = lost
                    self.problems.append(Problem(lost))
            return lost
        return self.stop is not None and self.stop()

    def _leave_the_rest(self) -> bool:
        """In a send worker whose deliveries stopped (e.g. the server turned
        its sessions away): true while another worker still delivers, which
        takes the parts this one would have claimed only to report them not
        attempted.  The last one to stop goes on taking them (so the report
        names every subscriber)."""
        delivering = self.delivering
        if delivering is None:
            return False
        with delivering.get_lock():
            if not self.left:
                self.left = True
                delivering.value -= 1
            return delivering.value > 0

    def _batch(self, subs: Sequence[Subscriber], dispatcher: Dispatcher) -> int:
        """Plan ``subs`` together and claim their digests in one transaction,
        then hand the claimed ones to the dispatcher; returns how many."""
        queued: list[_Planned] = []
        self.claim_committed = False
        with self._quiet(), self.state.claiming([s.email for s in subs], self.now) as batch:
            # asked again for each batch: one who left through `serve` while
            # this send ran (a long one) gets nothing from it either
            left = self.state.unsubscribed(batch.subscribers)
            for sub in subs:
                known = batch.subscribers.get(sub.email)
                if sub.email in batch.held:  # (another session's lock: the batch goes on without it)
                    self._result(DigestResult(sub.email, "locked", error=batch.held[sub.email]))
                    continue
                if sub.email in left:
                    self._result(DigestResult(sub.email, "unsubscribed"))
                    continue
                if (
                    known is None
                    or (known.open is not None and known.open.status == "sending")
                    or (known.open is None and known.settled_since_start)
                ):
                    # another worker holds it, is delivering its digest right now,
                    # or has settled it since this run started (the same round)
                    self._result(DigestResult(sub.email, "other worker"))
                    continue
                planned = self._plan_one(sub, known, batch)
                if planned is not None:
                    # a digest to hand over: a session connects (and greets, starts TLS, logs in) for it
                    # while this composes the rest and commits the claim, not after it (one per digest)
                    dispatcher.open_sessions()
                    queued.append(planned)
            ids = batch.claim([(open_, sub.email, c.message_id, c.paper_ids) for open_, sub, c, *_ in queued]) if queued else []
            if batch.held and queued:  # (rows another session holds: not claimed, the rest goes on)
                for planned in queued:
                    if planned[1].email in batch.held:
                        self._result(DigestResult(planned[1].email, "locked", error=batch.held[planned[1].email]))
                queued = [planned for planned in queued if planned[1].email not in batch.held]
        self.claim_committed = True  # (a COMMIT that raised is taken for not done: tried again)
        ended: SessionEnded | None = None
        if queued:
            # The state keeps the papers a digest owes (to rebuild it should they
            # leave the sources), not every paper read: it grows with what is sent.
            # Batches share most of their papers: each is recorded once per run.
            # Taken from the papers each digest drew on, not the run's index: one
            # made of kept papers (see KeptPools) was lost once `listed` pruned
            # them while it was owed, and a title-only copy was sent again later.
            owed = {
                pid: drew[pid]
                for _, _, c, _, _, drew in queued
                for pid in c.paper_ids
                if pid in drew and pid not in self.recorded
            }
            if owed:
                try:
                    try:
                        self.state.see_papers(owed.values(), self.now)
                    except SessionEnded:  # claimed (committed): the papers once more on a resumed session
                        if self._halted():
                            raise
                        self.state.see_papers(owed.values(), self.now)
                except SessionEnded as exc:
                    why = self._halted()
                    if isinstance(why, str):
                        raise  # the claims are any worker's: none is handed over (see _send)
                    # Resumed, yet ended again: the claimed digests go to the dispatcher
                    # stopped, and come back not attempted (pending again, said as such).
                    ended = exc
                    why = f"the PostgreSQL session ended again as this run recorded the papers of digests it claimed ({exc})"
                    with self.lock:
                        self.problems.append(Problem(why))
                    dispatcher.cancel(why, said=True)
                else:
                    self.recorded.update(owed)
        # committed: from here on each digest is owed until it is marked
        for did, (open_, sub, composed, cut, again, _) in zip(ids, queued):
            if open_ is not None:  # (a new digest has failed no run: _NEVER_FAILED)
                self.before[did] = _Before.of(open_)
            dispatcher.submit(
                Envelope(
                    did,
                    self.sender,
                    sub.email,
                    composed.data,
                    composed.message_id,
                    open_.created if open_ else self.now,
                    len(composed.paper_ids),
                    dot_safe=composed.dot_safe,
                    cut=cut,
                    not_again=again,
                )
            )
        if ended is not None:
            raise ended
        return len(ids)

    # -- using every core -------------------------------------------------------------

    def _shards(self, count: int, transport: Transport) -> int:
        """How many processes share a big send.

        Composing a digest is CPU-bound Python, so one process uses one
        core; a big send forks one process per core, each with its own
        state connection and its share of the configured SMTP
        ``connections`` (never more in total), taking the subscribers a part
        at a time (see :func:`_parts_taken`).  Not done
        when a rate limit or a stop request must be shared by everyone.
        """
        try:
            cores = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            cores = os.cpu_count() or 1
        if (
            count < SHARD_MIN
            or self.stop_shared
            or self.config.delivery.max_per_minute
            or "fork" not in multiprocessing.get_all_start_methods()
        ):
            return 1
        sessions = max(1, int(getattr(transport, "sessions", 1)))
        limit = sessions if self.config.delivery.transport == "smtp" else cores
        return max(1, min(cores, limit, MAX_SHARDS))

    def _share_first_bodies(self, subs: Sequence[Subscriber], known: dict[str, SubscriberState] | None) -> None:
        """Before the fork: the shared bodies (see :meth:`Composer.prepare`) of
        the digests that recur among the first subscribers, for every worker
        to inherit.  Each worker made them itself, the same few bodies twice
        over (4 ms each, 7 for the first three, which are also rendered
        whole as a check).  A digest that only one subscriber among them
        gets is left to its worker, and a failure to the digest's own
        composing (see :meth:`_plan_one`), which reports it.

        ``known``: the first subscribers' state where digests draw on kept
        papers (see :meth:`_share_kept_pools`): each digest's matches come
        from its pool, as the workers' do; from the run's own index, the
        bodies made were keyed by matches no worker selects, and never used."""
        counts: Counter = Counter()
        first: dict[tuple, tuple[Subscriber, list[PaperMatch]]] = {}
        for sub in subs[:SHARE_SCAN]:
            index = self.index if known is None else self._pool(known[sub.email])[0]
            matches = index.select(sub, exclude=frozenset())[: sub.max_papers]  # as _plan asks (its cache)
            if matches:
                key = (tuple(map(id, matches)), sub.name is None)
                counts[key] += 1
                first.setdefault(key, (sub, matches))
        made = 0
        for key, seen in counts.most_common():
            if seen < 2 or made >= SHARE_BODIES:
                break
            sub, matches = first[key]
            try:
                made += self.composer.prepare(sub, matches, self.now)
            except Exception:  # noqa: BLE001 -- reported per digest by _plan_one
                return

    def _share_kept_pools(self, subs: Sequence[Subscriber]) -> dict[str, SubscriberState] | None:
        """Before the fork, where digests draw on kept papers (see
        :class:`KeptPools`): the pools of the first subscribers, for every
        worker to inherit.  Each worker built them itself, the same pool (a
        topic index over a week of papers, seconds of CPU and its memory)
        once per process: subscribers served by one run share one.  One
        read of the first subscribers' state (as each worker's batch reads
        it), returned for :meth:`_share_first_bodies`; a pool the first ones
        do not need is still built where needed.  None: nothing drawn on."""
        if not draws_on_kept(self.config):
            return None
        first = subs[:SHARE_SCAN]
        known = self.state.plan([s.email for s in first], with_sent=False)
        for sub in first:
            self._pool(known[sub.email])
        return known

    def _deliver_sharded(self, subs: list[Subscriber], transport: Transport, shards: int) -> None:
        self._share_first_bodies(subs, self._share_kept_pools(subs))
        ctx = multiprocessing.get_context("fork")
        # every configured connection is used: the first workers take one more
        total = max(shards, int(getattr(transport, "sessions", 1)))
        # The workers take the subscribers a part at a time from one shared
        # count, so one slowed down (by the machine's other work) takes fewer.
        taken = ctx.Value("l", 0)
        # how many workers still deliver (see _leave_the_rest); inherited by each
        self.delivering = ctx.Value("i", shards)
        # set once this process is stopped (see _pass_the_stop): a SIGTERM to it
        # alone (`kill PID`) reached none of the workers, which sent everything
        self.stopping = ctx.RawValue("b", 0)
        workers: list = []
        self.windows: dict = {}
        for i in range(shards):
            reader, writer = ctx.Pipe(duplex=False)
            window = self.windows[reader] = ctx.Semaphore(UNRECORDED_MOST)
            # A worker closes every read end it inherits: with the parent gone,
            # its next word fails (EPIPE) and it stops, instead of blocking or
            # sending on with nobody to record the deliveries.
            readers = [r for _, r in workers] + [reader]
            sessions = total // shards + (1 if i < total % shards else 0)
            proc = ctx.Process(
                target=self._shard,
                args=(subs, taken, shards, transport, sessions, writer, readers, window, os.getpid()),
                name=f"send-{i}",
            )
            proc.start()
            writer.close()
            workers.append((proc, reader))
        waiting: dict = {reader: proc for proc, reader in workers}
        # One poller for the whole send (multiprocessing.connection.wait builds
        # a selector per call, and Connection.poll another: two per delivery,
        # about a tenth of the parent's CPU while the workers send).
        listening = _Listening(waiting)
        delivered: list[tuple] = []  # told, not recorded yet
        since = 0.0  # when the first of them came in
        try:
            while waiting:
                gathering = bool(delivered)
                if gathering:
                    # One wake-up per group, not one per delivery: the rest of the
                    # group comes in while this process sleeps (a worker waits only
                    # once UNRECORDED_MOST of its deliveries are unrecorded).
                    pause = since + RECORD_WITHIN - time.monotonic()
                    if pause > 0:
                        time.sleep(pause)
                # woken now and then while a stop may come, to pass it on
                ready = listening.ready(0 if gathering else None if self.stop is None else STOP_SEEN_WITHIN)
                self._pass_the_stop()
                if self._hear(ready, waiting, delivered, listening) and not gathering:
                    since = time.monotonic()  # the first of a new group
                elif delivered:
                    self._record_delivered(delivered)
                    delivered = []
            if delivered:
                self._record_delivered(delivered)
        except BaseException:
            for proc in waiting.values():  # what they deliver now would not be recorded
                proc.terminate()
            if delivered:
                with contextlib.suppress(NewsletterError):  # the error under way says more
                    self._record_delivered(delivered)
            raise
        # A worker's problems go in the report (what the others delivered is
        # recorded; the rest is pending): see SendReport.problems.

    def _pass_the_stop(self) -> None:
        """In the parent of send workers: once stopped (Ctrl-C, SIGTERM), say
        so to the workers through :attr:`stopping`, which each one's own
        ``stop`` also reads (see :meth:`_shard`).  The terminal's Ctrl-C, or
        a stop sent to the process group, reaches every worker by itself."""
        if self.stop is not None and not self.stopping.value and self.stop():
            self.stopping.value = 1

    def _hear(self, ready: list, waiting: dict, delivered: list[tuple], listening: _Listening) -> bool:
        """Take in everything the workers in ``ready`` have said: deliveries
        join ``delivered`` (true if any did), other results are shown now, a
        worker's failure joins :attr:`problems`.

        The parent is the one process that writes ``sent`` marks, a group at
        a time (see :data:`RECORD_WITHIN`): the workers' delivery threads would
        otherwise queue for SQLite's write lock, one connection idle each
        time, and SQLite orders processes by polling (1 to 100 ms sleeps).
        A delivery is recorded a few milliseconds after the server accepted
        it; a process killed in that moment leaves the digest ``sending``,
        sent again by the next run with its Message-ID.
        """
        results: list[DigestResult] = []
        before = len(delivered)
        for ready_one in ready:
            reader = cast(multiprocessing.connection.Connection, ready_one)
            proc = waiting[reader]
            while True:
                try:
                    kind, payload, extra = reader.recv()
                except (EOFError, OSError):
                    kind, payload, extra = "error", _died(proc), 0
                if kind == "delivered":
                    delivered.append((reader, payload))
                    results.extend(extra)
                elif kind == "results":
                    results.extend(payload)
                else:  # the worker's last word
                    del waiting[reader]
                    listening.forget(reader)
                    proc.join()
                    self.with_papers += extra  # (a worker that stopped composed some too)
                    if kind != "ok":
                        self.problems.append(Problem(str(payload)))
                    break
                if not listening.more(reader):
                    break
        for result in results:  # progress is shown here, in one process
            self._result(result)
        return len(delivered) > before

    def _record_delivered(self, delivered: list[tuple]) -> None:
        """Record deliveries the workers told of, in one transaction, and
        give each worker back the room they took (see :data:`UNRECORDED_MOST`)."""
        self.state.mark_sent_many([(did, email, tries) for _, (did, email, tries, *_) in delivered], self.now)
        for reader, (_, email, _, papers, mid, cut, again) in delivered:
            self.windows[reader].release()
            self._result(DigestResult(email, "sent", papers, mid, taken=cut[0], sent_before=cut[1], not_again=again))

    def _shard(
        self, subs: list[Subscriber], taken, shards: int, transport: Transport, sessions: int, conn, readers, window,
        parent: int,
    ) -> None:
        """In a forked worker: deliver the parts of ``subs`` it takes (the
        shared count ``taken``, see :func:`_parts_taken`), planning and
        claiming on its own state connection; the parent records what it
        delivers (see :meth:`_hear`)."""
        for reader in readers:
            reader.close()
        try:
            # The papers, index and config are read-only from here on: keep the
            # collector off them (cheaper collections, fewer copied pages).
            gc.freeze()
            # Below the mail server in the CPU queue: when it runs on this
            # machine (a local MTA, or the benchmark's sink), it is the
            # bottleneck, and a reply it sends late idles a connection, while
            # a digest composed a moment later costs nothing.
            try:
                os.nice(WORKER_NICENESS)
            except OSError:
                pass
            stopping = self.stopping
            self.stop = _either(self.stop, lambda: bool(stopping.value))  # the parent's stop too
            self.state = open_state(self.config.state_target, stop=self.stop)  # never the parent's connection
            self.results, self.worker_states = [], []
            self.lock, self.local, self.with_papers = threading.Lock(), threading.local(), 0
            self.recorded = set()  # what this worker's own connection recorded
            self.tried = threading.Event()
            # results go to the parent as they happen (progress, then the report)
            self.relay = _Relay(conn, window, parent)
            self.progress, self.keep_results = self.relay, False
            self._planner = threading.get_ident()
            if hasattr(transport, "sessions"):
                transport.sessions = sessions
            self._deliver(_parts_taken(subs, taken, shards), transport)
            self.relay.flush()
            # claims lost: one of the run's problems (see _halted)
            conn.send(("error" if self.lost is not None else "ok", self.lost, self.with_papers))
        except BaseException as exc:  # noqa: BLE001 -- reported by the parent, one line
            try:
                if self.relay is not None:
                    self.relay.flush()
                conn.send(("error", _stopped(str(exc) or type(exc).__name__), self.with_papers))
            except OSError:
                pass  # the parent is gone: nobody to tell
        finally:
            conn.close()

    def _plan_one(
        self, sub: Subscriber, known: SubscriberState, batch: Batch | None
    ) -> _Planned | None:
        """:meth:`_plan`, where one subscriber's trouble (a template failing on
        its data, anything unexpected) fails that digest only: it is named,
        stays pending, and the others go out.  A broken state stops the run."""
        try:
            return self._plan(sub, known, batch)
        except StateError:
            raise
        except Exception as exc:  # noqa: BLE001 -- reported per digest, one line
            if isinstance(exc, NewsletterError):
                why = "; ".join(str(p) for p in exc.problems)
            else:
                log.debug("composing the digest for %s failed", sub.email, exc_info=True)
                why = f"unexpected error: {exc!r}"
            self._result(DigestResult(sub.email, "failed", error=f"digest not composed: {why}", retry=True))
            return None

    def _plan(
        self, sub: Subscriber, known: SubscriberState, batch: Batch | None
    ) -> _Planned | None:
        """Decide and compose one subscriber's digest: ``(open digest, sub,
        composed)`` to claim, or None (not due, empty, or a dry run)."""
        config, now = self.config, self.now
        open_ = known.open
        undue = _undue(config, sub, known, now, self.settings, self.release_held)
        if undue is None and open_ is not None and retry_time(open_, self.settings, now)[1]:
            assert open_.next_attempt is not None
            zone, at = config.zone(sub), open_.next_attempt
            self._warn(
                f"{sub.email}: its failed digest is to be retried from {shown_time(at, zone)}, "
                f"{waiting((at - now).total_seconds())} after this machine's clock ({shown_time(now, zone)}), "
                f"longer than its back-off ({waiting(retry_wait(open_.failures).total_seconds())}); it is tried now "
                "(was the clock ahead then?)"
            )
        last = known.last_served
        if (undue is None or undue.status == "not due") and last is not None and clock_was_ahead(last, now):
            # recorded by a clock that was ahead: counted from now (it was held until then, silently)
            zone = config.zone(sub)
            self._warn(
                f"{sub.email}: its last digest is recorded at {shown_time(last, zone)}, over a day "
                f"after this machine's clock ({shown_time(now, zone)}); it is due now, and its slots go on from "
                "there (was the clock ahead then?)"
            )
        if undue is not None:
            self._result(undue)
            return None
        since = known.last_served or known.first_seen
        # a first digest draws on the papers read by the run that first saw the subscriber too
        index, oldest = self._pool(known)
        if open_ is None:  # (a digest still owed keeps the papers it was composed of: none is lost)
            self._warn_sources_short(sub, since, oldest)
        matches = digest_papers(config, index, sub, known, self.state.papers)
        send_empty = config.sends_empty(sub)
        # worded when said: a digest that goes out counts them, and most are never worded
        again = tuple(NotAgain.of(p) for p in index.revised_sent(sub, known.sent_paper_ids))
        if not matches and not send_empty:
            if batch is not None:
                if open_ is not None:
                    batch.drop(open_.id)
                batch.served([sub.email])
            self._result(DigestResult(sub.email, "empty", not_again=again))
            return None
        composed = self.composer.compose(sub, matches, now=now, message_id=open_.message_id if open_ else None)
        for warning in composed.warnings:
            self._warn(warning)
        if matches:
            self.with_papers += 1
        if batch is not None and open_ is not None and open_.uncertain and open_.id not in self.recovered:
            self._warn_unconfirmed(open_, sub.email)
        cut = max_papers_cut(index, sub, known.sent_paper_ids, len(matches))
        if batch is None:
            self._result(DigestResult(sub.email, "would send", len(matches), composed.message_id, taken=cut[0],
                                      sent_before=cut[1], not_again=again))
            return None
        return (open_, sub, composed, cut, again, {m.paper.id: m.paper for m in matches})

    def _pool(self, known: SubscriberState) -> tuple[TopicIndex, datetime | None]:
        """See :class:`KeptPools`; built once the run's index is (in a send
        worker, read through the worker's own state connection)."""
        if self.pools is None:
            # a config whose digests draw on no kept papers reads none: `listed` was queried once a run for nothing
            kept = (self.state.listed_times(self.now - listed_kept_for(self.config), self.now)
                    if draws_on_kept(self.config) else [])
            self.pools = KeptPools(self.config, self.papers, self.index, self.index_subs, kept, self.now)
        return self.pools.of(known, self.state)

    def _warn_sources_short(self, sub: Subscriber, since: datetime | None, oldest: datetime | None) -> None:
        """Say (once a run) that a due digest covers days neither the sources
        nor the state list.  A digest takes the papers the sources list now
        and those the runs since its last one kept: a weekly digest fed by
        arXiv's daily announcement feed, with no run between (a cron line on
        Mondays only), held the last day's papers, and the other days'
        never went to anyone, without a word.  Only when every paper is
        dated (``oldest``, of the papers it draws on), and the gap is longer
        than a weekend with a holiday (arXiv announces nothing on Saturdays
        and Sundays)."""
        if self._short_said or since is None:
            return
        if oldest is None or not since + SOURCES_SHORT_AFTER < oldest <= self.now:
            return
        self._short_said = True
        zone = self.config.zone(sub)
        self._warn(
            f"{sub.email}: its digest is of the papers since {shown_time(since, zone)}, but neither the sources nor "
            f"the runs since then list any before {shown_time(oldest, zone)}: papers listed in between are in no "
            "digest (a digest takes what the sources list when it is sent and what the runs since its last one "
            "read, and no run read them: arXiv's feed lists one day's announcement). Run `newsletter send` daily "
            "(it reads and keeps the papers for a weekly digest when nobody is due), or read sources that list "
            "the days (type: arxiv with max_results: 2000; hf-daily with days: 7) (README \"Schedules\")"
        )

    def _worker_state(self) -> State:
        state = getattr(self.local, "state", None)
        if state is None:
            state = self.state.for_thread()
            self.local.state = state
            with self.lock:
                self.worker_states.append(state)
        return state

    def _left_meanwhile(self, envelope: Envelope) -> str | None:
        """In a delivery thread, just before the hand-over: whether the
        recipient unsubscribed (through `serve`) since the digest was
        claimed, up to two batches earlier: a click on the link, and the
        digest still came a moment later.

        A check the state cannot answer withholds the digest (pending, not
        attempted): it went out, and a database gone silent for a moment (a
        restart, a partition) sent a digest to one whose unsubscribe the POST
        had already confirmed; nor could its delivery have been recorded.
        A check that met the connection a restart ended is made once more
        when the server is back (see ``PostgresState._once_more``).

        After the worker's session was resumed (a restart), also whether the
        digest is still its own: another worker may have taken it back
        while the session was down."""
        state = self._worker_state()
        try:
            left = state.unsubscribed([envelope.recipient])
            taken = not left and not state.still_claimed(cast(int, envelope.digest_id))
        except StateError as exc:
            with self.lock:
                self.unchecked.add(cast(int, envelope.digest_id))
            return f"not attempted: the state could not say whether {envelope.recipient} had unsubscribed ({exc})"
        if taken:
            with self.lock:
                self.taken.add(cast(int, envelope.digest_id))
            return f"not sent: another worker took {envelope.recipient}'s digest back while this one's session was down"
        return f"not sent: {envelope.recipient} unsubscribed during this send" if left else None

    def _record(self, outcome: Outcome) -> None:
        """In a delivery thread, right after the attempt: commit what happened."""
        if not self.tried.is_set():  # (setting it takes its lock and wakes waiters: once is enough)
            self.tried.set()
        env = outcome.envelope
        assert env.digest_id is not None, "claimed digests carry their id"
        if outcome.withdrawn:  # pending again, no failure of its own: a re-subscribe gets it
            with self.lock:
                unchecked = env.digest_id in self.unchecked
                taken = env.digest_id in self.taken
            if taken:  # (its record is the other worker's now: nothing to mark)
                self._result(DigestResult(env.recipient, "other worker"))
                return
            # (a state that cannot take this either fails the send here: nothing more goes out)
            self._worker_state().mark_unsent(env.digest_id, error=outcome.error or "not sent", tries=0,
                                             permanent=False, next_attempt=None, settings=self.settings)
            if unchecked:  # the next run asks again
                self._result(DigestResult(env.recipient, "pending", env.papers, env.message_id, outcome.error, True))
            else:
                self._result(DigestResult(env.recipient, "unsubscribed"))
            return
        if outcome.delivered:
            if self.relay is not None:  # a send worker: the parent records it
                self.relay.wait_for_room()
                with self.lock:
                    self.relay.delivered(outcome)
                return
            with self.lock:
                self.delivered.append(outcome)
            self._commit_delivered()
            return
        state = self._worker_state()
        before = self.before.get(env.digest_id, _NEVER_FAILED)
        restart = False
        if outcome.tries == 0 or outcome.transport_failed:
            # Not attempted (the server was unreachable, or the run stopped), or
            # failed as any would (a login refused): no failure of this digest's,
            # so no back-off; the next run tries it.
            failures, later = before.failures, None
        else:
            restart, failures = before.then(outcome.permanent)
            held = outcome.permanent and failures >= HOLD_AFTER
            later = None if held else self.now + retry_wait(failures)
        state.mark_unsent(
            env.digest_id,
            error=outcome.error or "not delivered",
            tries=0 if outcome.transport_failed else outcome.tries,  # (no failure of its own to count)
            permanent=outcome.permanent,
            next_attempt=later,
            settings=self.settings,
            uncertain=outcome.uncertain,
            restart=restart,
        )
        stopping = self.lost is not None or (self.stop is not None and self.stop())
        if outcome.tries == 0 and (stopping or outcome.stopped_on_error):
            # never tried because the run is stopping (Ctrl-C, SIGTERM, claims lost, the state
            # refusing a record): pending, not failed
            self._result(DigestResult(env.recipient, "pending", env.papers, env.message_id, outcome.error, True))
            return
        self._result(
            DigestResult(
                env.recipient, "failed", env.papers, env.message_id, outcome.error, not outcome.permanent, later, failures
            )
        )

    def _commit_delivered(self) -> None:
        """Group commit: the thread that finds no commit running records every
        delivery waiting so far in one transaction (the others' included), and
        again while more arrive; a delivery is committed a few milliseconds
        after the server accepted it, in the transaction under way or the next.

        A commit held up (the state locked by another process, a database
        gone silent) holds the delivery threads up once :data:`UNRECORDED_MOST`
        deliveries wait for it: they delivered on meanwhile, dozens a second,
        and a commit that failed at last left every one of them unrecorded,
        to be sent again by the next run.  Those it leaves are recorded as
        the state still can (SQLite notes them, see :meth:`State.mark_sent_many`)."""
        while True:
            with self.lock:
                crowded = len(self.delivered) > UNRECORDED_MOST
            if not self.committing.acquire(blocking=crowded):
                return  # the running commit picks this one up (it checks again before it stops)
            try:
                while True:
                    with self.lock:
                        done, self.delivered = self.delivered, []
                    if not done:
                        break
                    self._worker_state().mark_sent_many(
                        [(cast(int, o.envelope.digest_id), o.envelope.recipient, o.tries) for o in done], self.now
                    )
                    for o in done:
                        env = o.envelope
                        self._result(DigestResult(env.recipient, "sent", env.papers, env.message_id,
                                                  taken=env.cut[0], sent_before=env.cut[1],
                                                  not_again=env.not_again))
            except BaseException:
                with self.lock:
                    rest, self.delivered = self.delivered, []
                if rest:
                    with contextlib.suppress(NewsletterError):  # the error under way says more
                        self._worker_state().mark_sent_many(
                            [(cast(int, o.envelope.digest_id), o.envelope.recipient, o.tries) for o in rest], self.now
                        )
                raise
            finally:
                self.committing.release()
            with self.lock:
                if not self.delivered:
                    return

    def _kept_said(self) -> str:
        """What a send with nobody due kept for the digests due later.  With a
        source down, "the sources were read and their 40 papers kept" said
        every source's papers were in: the 40 were the others', and the
        digests due later lack the failed one's unless a later run reads it."""
        failed = len({f.index for f in self.skipped})
        if not failed:
            return f"the sources were read and their {counted(self.kept, 'paper')} kept for the digests due later"
        sources = len(self.config.sources)
        read = sources - failed
        return (f"{read} of {counted(sources, 'source')} read ({failed} failed: said above) and "
                f"{'its' if read == 1 else 'their'} {counted(self.kept, 'paper')} kept for the digests due later, "
                f"without the papers of the failed {'one' if failed == 1 else 'ones'}")

    def _locked_said(self) -> tuple[str, ...]:
        """One line naming the subscribers whose rows another session held
        past the worker's statement limit (see :attr:`Batch.held`), or none.
        A batch's claim waited on such a row, was cancelled at the limit and
        stopped the whole send (exit 2): the other digests stayed unsent.
        Now they go out, and these, left as they were, are a problem of the
        run (exit 1, as for a failed delivery: the next send sends them)."""
        locked = sorted(r.email for r in self.results if r.status == "locked")
        if not locked:
            return ()
        who = ", ".join(locked[:5]) + (f" and {len(locked) - 5} more" if len(locked) > 5 else "")
        return (
            f"{self.state.name}: {counted(len(locked), 'subscriber')} left out of this send ({who}): another session "
            "held rows of theirs past the worker's statement limit (a psql session left in a transaction? "
            "pg_stat_activity and pg_locks show which); their digests stay as they were, and the next send "
            "sends them",
        )

    def _report(self, dry: bool) -> SendReport:
        count = Counter(r.status for r in self.results)
        note = None
        skipped = (count["not due"] + count["unsubscribed"] + count["waiting"] + count["held"] + count["other worker"]
                   + count["locked"])
        composed = self.with_papers or any(r.papers for r in self.results)  # (a worker killed told nothing)
        if self.kept and not self.due_read and count["not due"] == len(self.results):
            note = f"no digest is due now: {self._kept_said()} (README \"Schedules\")"
        elif self.papers is not None and not self.source_problems and not composed and skipped < len(self.results):
            sources, papers = len(self.config.sources), len(self.papers)
            note = (
                f"no new papers: all {counted(sources, 'source')} read ({counted(papers, 'paper')}),"
                " none new for any due subscriber"
            )
        return SendReport(
            sent=count["sent"],
            empty=count["empty"],
            failed=count["failed"],
            not_due=count["not due"],
            results=tuple(self.results),
            dry_run=dry,
            would_send=count["would send"],
            note=note,
            unsubscribed=count["unsubscribed"],
            other_workers=count["other worker"],
            waiting=count["waiting"],
            held=count["held"],
            problems=tuple(str(p) for p in self.problems) + self._locked_said(),
            pending=count["pending"],
            locked=count["locked"],
            not_reached=max(0, self.subscribers - len({r.email for r in self.results})) if not dry else 0,
            sources_read=self.papers is not None,
        )
