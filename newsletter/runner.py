"""``newsletter run``: the long-running scheduler.

Why it looks like this:

- *When* a digest is due is :func:`scheduling.is_due`, the rule ``send``
  uses too, evaluated in each subscriber's zone with :mod:`zoneinfo` (DST
  exact).  The ``schedule`` package drives the loop (the periodic tick and
  the config watch); its own ``.at(time, tz)`` is not used because it needs
  pytz and computes in naive local time.
- Each tick reads the state read-only to find who is due (cheap); only then
  are the sources read and :func:`pipeline.send` called, which takes the
  state's send lock, so a ``send`` from cron beside a ``run`` still never
  double-sends.
- Missed slots (the process was down) are caught up once at start: "due"
  means "at least one slot has passed since the last digest".
- A failed delivery stays pending in the state; the runner retries it on
  later ticks with exponential backoff, not only at the next slot.
- SIGINT/SIGTERM stop the loop after the send in progress; SIGHUP (or a
  change to the config file) reloads the config, keeping the old one if the
  new one is invalid.
- One runner per SQLite state file: a second ``run`` exits with a clear
  message (``<state>.run.lock``, held with ``flock`` for the runner's
  lifetime).  On a PostgreSQL state any number of runners, on any hosts,
  share the subscribers (see :meth:`state.State.claiming`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import schedule as schedule_lib

from . import pipeline
from .config import Config, load_config
from .delivery import make_transport, settings_fingerprint
from .errors import ConfigError, NewsletterError, Problem, SourcesFailed, StateError, StoppedWaiting, counted
from .files import HeldLock, LockHeld
from .retrying import backoff
from .scheduling import is_due, next_send, shown_time
from .sending import KEEP_READ_EVERY, ONE_DAYS_LIST, SendReport, unusable_secrets
from .state import key as state_key
from .state import open_state, public_url, shared_now

log = logging.getLogger("newsletter.run")

#: Longest wait between retries of a failed delivery.
MAX_BACKOFF = timedelta(hours=1)


def utc_now() -> datetime:
    return datetime.now(UTC)



@contextlib.contextmanager
def stopped_by_signals(stop: Callable[[], object]) -> Iterator[None]:
    """Inside, SIGINT (Ctrl-C) and SIGTERM (a service manager's stop) call
    ``stop`` instead of raising ``KeyboardInterrupt`` or killing the process:
    an exception could land inside a rebuild or a lock it holds, and a long
    command should end its current step and exit 0.  The previous handlers
    come back on leaving.  Only the main thread may set handlers; elsewhere
    (a test running a server in a thread) this changes nothing."""
    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {sig: signal.signal(sig, lambda *_: stop()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

class RunLock:
    """``<state>.run.lock``: held for the runner's lifetime; released by the kernel on death."""

    def __init__(self, state_path: Path):
        self.path = Path(os.path.realpath(state_path) + ".run.lock")  # the file's, through any link
        self.state_path = state_path
        self.held: HeldLock | None = None

    def acquire(self) -> None:
        from .state.sqlite import unwritable

        # said as `send` says it: the lock file beside the state failed first, with the bare
        # "<state>.run.lock: Permission denied" of a config in a folder this user cannot write
        if problem := unwritable(self.state_path):
            raise StateError(Problem(problem, str(self.state_path)))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.held = HeldLock(self.path, f"pid {os.getpid()}")
        except LockHeld as held:
            raise StateError(
                Problem(
                    f"another `newsletter run` ({held.holder}) is already running on this state; not starting a second one",
                    str(self.path),
                )
            ) from None

    def keep(self) -> None:
        """Asked at every tick: the lock file removed (a clean-up of
        ``*.lock``) let a second ``run`` start beside this one; it is taken
        again (said once), or, should another runner have taken the new
        file first, this one stops (:class:`StateError`)."""
        why = self.held.kept("run") if self.held is not None else None
        if why is not None:
            raise StateError(Problem(f"{why}; stopping this one"))

    def release(self) -> None:
        if self.held is not None:
            self.held.release()
            self.held = None


def refused(config: Config) -> list[Problem]:
    """Every reason ``run`` will not start on ``config`` (nor reload it):
    subscribers without a schedule (:func:`unscheduled`), and what each
    send would fail on at once, its secrets' variables unset or unusable
    (:func:`sending.unusable_secrets`): started without them (a systemd
    unit missing its ``EnvironmentFile``), ``run`` said when the next
    digest would go out and failed only then, hours later, in the journal."""
    return unscheduled(config) + unusable_secrets(config, make_transport(config))


def unscheduled(config: Config) -> list[Problem]:
    """Subscribers ``run`` refuses: without a schedule (their own or the
    config's default ``schedule:``) they would get a digest at every tick."""
    return [
        config.problem(
            ("subscribers", i),
            f"{sub.email} has no schedule; `run` would send to it at every tick: give it a `schedule:` "
            "or set a default `schedule:` at the top level (`send` from cron serves subscribers without one)",
        )
        for i, sub in enumerate(config.subscribers)
        if sub.schedule is None
    ]


class Runner:
    """Sends each subscriber's digest when due, until :meth:`stop` is called."""

    def __init__(
        self,
        config_path: str | os.PathLike,
        *,
        tick: float = 15.0,
        clock: Callable[[], datetime] = utc_now,
        config: Config | None = None,
    ) -> None:
        self.config_path = Path(config_path)
        self.config = config or load_config(self.config_path)
        self.tick_seconds = tick
        self.clock = clock
        self._stop = threading.Event()
        self._reload = threading.Event()
        read_at = self.config.read_at
        self._mtime = self._config_mtime() if read_at is None else read_at
        self._failures = 0
        self._retry_at: datetime | None = None
        self._note: str | None = None
        self._fatal: SourcesFailed | StateError | None = None
        self._run_lock: RunLock | None = None  # SQLite: held while run() runs
        self._unreadable: str | None = None  # what was wrong with the state, said once
        self._told_next = False  # whether the next digest's time has been said
        #: When a tick with nobody due last let ``send`` keep the sources' papers for a
        #: digest due later (see :func:`sending._to_keep`): at most every KEEP_READ_EVERY.
        self._kept_at: datetime | None = None
        self._keep_wanted = False  # see due_now
        if problems := refused(self.config):
            raise ConfigError(*problems)
        self.scheduler = schedule_lib.Scheduler()

    # -- control --------------------------------------------------------------------------

    def stop(self, signum: int | None = None, _frame=None) -> None:
        """Stop after the send in progress.  As a signal's handler it says so
        at once, on stderr (the journal's), once: written directly, since
        the signal may have come while the main thread was inside logging."""
        if signum is not None and not self._stop.is_set():
            name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
            os.write(2, f"stopping ({name}): the message being delivered finishes, the rest stay pending\n".encode())
        self._stop.set()

    def request_reload(self, *_args) -> None:
        self._reload.set()

    def install_signal_handlers(self) -> None:
        """For the process's lifetime: SIGINT/SIGTERM stop after the send in
        progress, SIGHUP reloads the config."""
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        signal.signal(signal.SIGHUP, self.request_reload)

    def run(self) -> None:
        """The main loop: tick at once (catch-up), then every ``tick`` seconds."""
        lock = self._run_lock = None if self.config.state_is_shared else RunLock(self.config.state_path)
        if lock is not None:
            lock.acquire()
        try:
            log.info(
                "run: %s, state %s, checking every %gs; stop with Ctrl-C or SIGTERM",
                counted(len(self.config.subscribers), "subscriber"),
                public_url(str(self.config.state_target)),
                self.tick_seconds,
            )
            if self.config.delivery.transport == "outbox":  # "sent ada@..." read as mail gone out, as send's did
                log.info("run: digests are written as .eml files to %s, not mailed (`transport: smtp` under "
                         "delivery: mails them)", self.config.outbox_dir)
            # schedule takes float intervals though its annotation says int
            self.scheduler.every(self.tick_seconds).seconds.do(self.tick)  # type: ignore[arg-type]
            self.scheduler.every(1).seconds.do(self._watch_config)
            self._told_next = False
            self.tick()
            if not self._told_next and not self._stop.is_set():  # a catch-up send at start has said it
                self._say_next()
            while not self._stop.is_set():
                self._unstall()
                self.scheduler.run_pending()
                idle = self.scheduler.idle_seconds
                self._stop.wait(max(0.05, min(idle if idle is not None else 1.0, 1.0)))
            log.info("run: stopped")
        finally:
            self.scheduler.clear()
            if lock is not None:
                lock.release()
        if self._fatal is not None:
            raise self._fatal  # exit 2: systemd and cron mail see the outage

    def _unstall(self) -> None:
        """The ``schedule`` package times its jobs by the machine's local wall
        clock, naive: set back (NTP stepping it, a VM restored, and, on a
        machine not on UTC, every autumn's DST change) it ran no job until
        the clock caught up again, so an hour back was an hour without a tick
        or a config reload.  A job due further off than its own period is
        due now."""
        now = datetime.now()  # (the package's own reading: naive local time)
        for job in self.scheduler.jobs:
            if job.next_run is not None and job.unit and job.next_run - now > timedelta(**{job.unit: job.interval}):
                job.next_run = now

    # -- one tick ---------------------------------------------------------------------------

    def due_now(self, now: datetime, own_clock: bool = False, later: bool = False) -> list[str]:
        """Emails of the subscribers due at ``now`` (read-only look at the state;
        ``own_clock``: ``now`` is this machine's clock, and a state with a clock
        of its own goes by that one: see :func:`state.shared_now`).

        One who unsubscribed is never due: ``send`` would skip it without
        settling its slot, and it would wake every tick.  Nor is one whose
        failed digest waits for its back-off, or is held: its slot stays
        unsettled, so it was "due" at every tick, and each tick read every
        source again (240 times an hour) only for ``send`` to say "waiting".
        Nor, on PostgreSQL, one whose digest another worker that lives is
        delivering (see :meth:`State.sent_by_live_workers`).

        ``later``: also find whether a subscriber not due now has its next
        digest over a day away (a weekly one: see :func:`sending._to_keep`),
        in :attr:`_keep_wanted`; asked at most every KEEP_READ_EVERY, as it
        works out each one's next slot."""
        config = self.config
        self._keep_wanted = False
        settings = settings_fingerprint(config)
        due = []
        # (a partition held SIGTERM two minutes here, another process's lock on a SQLite file 30 s)
        with open_state(config.state_target, readonly=True, stop=self._stop.is_set) as state:
            now = shared_now(state, now) if own_clock else now
            known = state.plan([sub.email for sub in config.subscribers], with_sent=False)
            left = state.unsubscribed(sub.email for sub in config.subscribers)
            sending = any(k.open is not None and k.open.status == "sending" for k in known.values())
            busy = state.sent_by_live_workers() if sending else frozenset()  # (a read of the lock table each tick)
        for sub in config.subscribers:
            if sub.email in left:
                continue
            first, last, owed = known[sub.email].first_seen, known[sub.email].last_served, known[sub.email].open
            if owed is not None:
                if owed.status == "sending" and state_key(sub.email) in busy:
                    continue
                if not pipeline.owed_waits(owed, settings, now):
                    due.append(sub.email)
            elif first is None or is_due(sub.schedule, config.zone(sub), last_sent=last, first_seen=first, now=now):
                due.append(sub.email)  # a new subscriber is recorded as seen by send
            elif later and not self._keep_wanted:
                nxt = next_send(sub.schedule, config.zone(sub), last_sent=last, first_seen=first, now=now)
                self._keep_wanted = nxt is not None and nxt - now > ONE_DAYS_LIST
        return due

    def tick(self) -> None:
        if self._stop.is_set():
            return
        if self._run_lock is not None:
            try:
                self._run_lock.keep()
            except StateError as exc:
                self._fatal = exc
                self._stop.set()
                return
        if self._reload.is_set():
            self._do_reload()
        now = self.clock()
        own_clock = self.clock is utc_now  # (not a test's)
        # nobody due: a weekly digest draws on the papers of the days between, which a
        # feed of one day lists no more by its slot; send reads and keeps them (see
        # sending._to_keep), asked at most every KEEP_READ_EVERY, not at each tick
        keep_asked = self._kept_at is None or not self._kept_at <= now < self._kept_at + KEEP_READ_EVERY
        try:
            due = self.due_now(now, own_clock, later=keep_asked)
        except NewsletterError as exc:
            self._state_unreadable(exc)
            return
        if self._unreadable is not None:
            self._unreadable = None
            log.info("run: the state can be read again")
            self._say_next()
        retrying = self._retry_at is not None and now >= self._retry_at
        if keep_asked:
            self._kept_at = now
        if not due and not retrying and not (keep_asked and self._keep_wanted):
            return
        try:
            report = pipeline.send(
                self.config,
                now=now,
                progress=self._log_result,
                warn=lambda m: log.warning("warning: %s", m),
                stop=self._stop.is_set,
                sleep=self._stop.wait,  # a retry's backoff ends early on SIGTERM
                own_clock=own_clock,
            )
        except SourcesFailed as exc:
            if self._stop.is_set():
                return  # SIGTERM cut the fetching short: stopping, not an outage
            # No silent outage: stop, naming every source (the CLI prints them,
            # exit 2).  Nothing was recorded, so nobody's slot is used up: the
            # digests go out at the next start that reads the sources.
            self._fatal = exc
            self._stop.set()
            return
        except StoppedWaiting as exc:  # SIGTERM while another send held the state
            log.info("run: %s", exc)
            return
        except NewsletterError as exc:
            # A bad source or an unreachable lock: say so, keep running, try again later.
            for problem in exc.problems:
                log.error("run: %s", problem)
            self._schedule_retry(now)
            return
        if report.failed or report.problems:
            self._schedule_retry(now, said=not report.failed)
        else:
            self._failures, self._retry_at = 0, None
        self._say_stopped(report)
        if report.sent or report.failed or report.pending:
            log.info("run: %s", report)
            self._say_next()
        if report.note != self._note:
            if report.note:
                log.info("run: %s", report.note)  # once, not at every tick
            self._note = report.note

    def _say_next(self) -> None:
        """Log when the next digest goes out, and to whom: between slots
        (hours, for a daily schedule) the daemon says nothing else."""
        try:
            # (SIGTERM sets a flag here: another process's lock on the file held it 30 s)
            rows = pipeline.schedules(self.config, now=self.clock(), stop=self._stop.is_set,
                                      own_clock=self.clock is utc_now)
        except StoppedWaiting:
            return  # stopping: nothing to say of the next digest
        except NewsletterError as exc:
            self._state_unreadable(exc)
            return
        self._told_next = True
        # A failed digest goes next at its retry time (its slot has passed: said
        # as the next digest, "08:00" right after the 08:00 one failed); a held
        # one does not go at all.
        upcoming = sorted(
            (r.next_attempt or r.next_send, r.email) for r in rows if r.next_send is not None and not r.held
        )
        if not upcoming:
            return
        first = upcoming[0][0]
        who = [email for when, email in upcoming if when == first]
        more = f" and {len(who) - 3} more" if len(who) > 3 else ""
        log.info(
            "run: next digest %s: %s%s (`newsletter schedule` lists every subscriber's)",
            shown_time(first), ", ".join(who[:3]), more,
        )

    def _state_unreadable(self, exc: NewsletterError) -> None:
        """Say what keeps the state from being read, once: the daemon tries
        again at every tick, and a database down for the night was one line
        per tick (5,760 a day at 15 s).  Said again only when it changes."""
        if str(exc) != self._unreadable:
            log.error("run: %s", exc)
        self._unreadable = str(exc)

    def _schedule_retry(self, now: datetime, said: bool = False) -> None:
        """Try the send again after a back-off; ``said``: the caller's own line
        names the time (see :meth:`_say_stopped`)."""
        self._failures += 1
        delay = timedelta(seconds=backoff(self.tick_seconds, self._failures, MAX_BACKOFF.total_seconds()))
        self._retry_at = now + delay
        if not said:
            log.info("run: retrying failed deliveries after %s", self._retry_at.isoformat(timespec="seconds"))

    def _say_stopped(self, report: SendReport) -> None:
        """What stopped part of a send (a lost PostgreSQL session, a send
        worker gone), one line each, the last saying how many digests it
        left pending and when they go.  Each of those digests was a line of
        its own, all saying the same (a daemon on a list of 2,000 whose
        database restarted wrote 2,000 lines), and then "retrying failed
        deliveries" when none had failed."""
        problems = list(report.problems)
        if not problems:
            return
        if report.pending:
            then = f" from {self._retry_at.isoformat(timespec='seconds')}" if self._retry_at and not report.failed else ""
            problems[-1] += f"; {counted(report.pending, 'digest')} left pending, sent again{then}"
        for problem in problems:
            log.error("run: %s", problem)

    @staticmethod
    def _log_result(result) -> None:
        """One line per digest delivered or failed.  A digest left pending is
        not: the stop left them all pending for one reason, said once (see
        :meth:`_say_stopped`) and counted in the summary."""
        if result.status in ("sent", "failed"):
            log.info("%s", result)

    # -- config reload ------------------------------------------------------------------

    def _config_mtime(self) -> float | None:
        try:
            return self.config_path.stat().st_mtime
        except OSError:
            return None

    def _watch_config(self) -> None:
        mtime = self._config_mtime()
        if mtime != self._mtime:
            self._mtime = mtime
            self._reload.set()
        if self._reload.is_set():
            self._do_reload()

    def _do_reload(self) -> None:
        self._reload.clear()
        try:
            new = load_config(self.config_path)
        except NewsletterError as exc:
            for problem in exc.problems:
                log.error("run: config not reloaded: %s", problem)
            return
        except Exception as exc:  # noqa: BLE001 -- a bad reload must never end the daemon
            log.error("run: config not reloaded: %s: unexpected error %r; keeping the running config", self.config_path, exc)
            return
        if problems := refused(new):
            for problem in problems:
                log.error("run: config not reloaded: %s", problem)
            secrets = unscheduled(new)
            if len(secrets) < len(problems):  # (a variable: the environment is the one run started with)
                log.error("run: keeping the running config; run reads its variables from its environment at start "
                          "only: set them (e.g. in the unit's EnvironmentFile) and restart run: a reload cannot "
                          "bring them in")
            else:
                log.error("run: keeping the running config")
            return
        if new.state_target != self.config.state_target:
            log.error("run: config not reloaded: the state file cannot change while running (restart instead)")
            return
        self.config = new
        log.info("run: config reloaded (%s)", counted(len(new.subscribers), "subscriber"))
