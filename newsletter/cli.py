"""The ``newsletter`` command: a thin click shell over :mod:`newsletter.pipeline`.

Commands print data to stdout (``--json`` for scripts) and problems to
stderr, one line each.  Any :class:`NewsletterError` becomes its message and
its exit code (2 for bad input, 1 for failed deliveries); no traceback.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import errno
import gc
import json
import logging
import math
import os
import shlex
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn

import click

from . import patterns, pipeline
from .config import DEFAULT_STATE_FILE, SERVE_PORT, Config, load_config
from .errors import AheadOfTheClock, NewsletterError, SourcesFailed, StoppedWaiting, counted
from .scheduling import minute_up, shown_time

log = logging.getLogger("newsletter")


def _home_expanded(path: str) -> str:
    """``path`` with a leading ``~`` as the home folder, unless a file or
    folder of that name is there (see :func:`_config_file`)."""
    return os.path.expanduser(path) if path.startswith("~") and not os.path.lexists(path) else path


def _home_option(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """A path option's leading ``~`` that no shell expanded (``--out=~/preview``)."""
    return _home_expanded(value) if value else value


def _config_file(path: str) -> str:
    """``--config DIR`` means ``DIR/config.yaml``, as ``init DIR`` writes it (a
    folder named like a YAML file is itself, and refused as not a file).

    A leading ``~`` is the home folder, unless a file or folder of that name
    is there: the shell expands none in ``--config=~/digest``, nor do
    systemd's ``Environment=``, a crontab's variables or a quoted
    ``NEWSLETTER_CONFIG="~/digest"``; each was 'config file not found'."""
    path = _home_expanded(path)
    named_as_file = path.rstrip("/").lower().endswith((".yaml", ".yml"))
    return os.path.join(path, "config.yaml") if os.path.isdir(path) and not named_as_file else path


class _State:
    def __init__(self, config_path: str):
        self.config_path = _config_file(config_path)
        self._config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = _loaded(load_config(self.config_path))
        return self._config


def _loaded(config: Config) -> Config:
    """The command's config, read: what follows its reading."""
    # the patterns the command compiles from here on (the sources', LaTeX's) as compiled last time
    patterns.keep_in(config.cache_dir / patterns.KEPT)
    _resume_collector()
    return config


#: The garbage collector was turned off for the command's start (see
#: :mod:`newsletter.__main__`) and is to be turned on once the config is read.
_collector_paused = False


def _resume_collector() -> None:
    """Freeze what the start made (modules, the config: they live as long as
    the process, and a frozen object is never scanned again, nor copied into
    a forked send worker by a collection that touches it), then turn the
    collector back on, if the command's start turned it off."""
    global _collector_paused
    if _collector_paused:
        _collector_paused = False
        gc.freeze()
        gc.enable()


pass_state = click.make_pass_decorator(_State)


#: Whether this command printed its JSON document (a second, for an error
#: raised after it, would make stdout no JSON at all).
_json_emitted = False
#: ``ctx.meta`` key: the warnings said so far, for the error document of
#: ``--json`` (see :meth:`_Command.invoke`).
JSON_WARNINGS = "newsletter.warnings"


def emit_json(data) -> None:
    global _json_emitted
    _json_emitted = True
    say(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def warn(message: str) -> None:
    say(f"warning: {message}\n", err=True)


#: The standard streams that failed ("stdout", "stderr"): written no more.
_FAILED: set[str] = set()


def say(text: str, *, err: bool = False) -> None:
    """Write to stdout (or stderr) whatever has become of it.

    Once a reader is gone (``newsletter send | head``) or the disk is full,
    the stream is written no more, and said so once on the other one: a send
    goes on to the end (what it leaves half done, claimed but never tried,
    would come back as "may arrive twice" warnings), and its exit code says
    how the deliveries went, not how the output did.
    """
    name = "stderr" if err else "stdout"
    if name in _FAILED:
        return
    try:
        (sys.stderr if err else sys.stdout).write(text)
    except (OSError, ValueError) as exc:  # EPIPE, ENOSPC, EIO; ValueError: closed
        _failed(name, exc)


def _flush() -> None:
    """Flush stdout, as :func:`say` writes it."""
    if "stdout" not in _FAILED:
        try:
            sys.stdout.flush()
        except (OSError, ValueError) as exc:
            _failed("stdout", exc)


def _failed(name: str, exc: BaseException | None = None) -> None:
    """``sys.stdout`` or ``sys.stderr`` (``name``) failed: it is written no
    more (a null stream takes its place: nothing left to flush into the
    broken one); a failed stdout is named once on stderr, with ``exc``."""
    _FAILED.add(name)
    setattr(sys, name, open(os.devnull, "w"))
    if name == "stdout" and exc is not None:
        say(f"stdout: {getattr(exc, 'strerror', None) or exc}; the rest of the output is dropped\n", err=True)


def _set_config(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    state = ctx.find_object(_State)
    if value is not None and state is not None:
        state.config_path = _config_file(value)


#: Options a newcomer gives for "this subscriber" and "only try": click's guess
#: goes by spelling ('--to': '--json', '--now'; '--email': '--help').
_FOR_ONE = ("--to", "--email", "--user", "--recipient", "--address", "--for", "--sub", "--subscribers")
_ONLY_TRY = ("--test", "--dryrun", "--dry", "--try", "--simulate", "--no-send")


def _option_meant(command: click.Command, option: str) -> str | None:
    """What to write for ``option``, which ``command`` does not have."""
    has = {o for p in command.params for o in getattr(p, "opts", ())}
    if option in _FOR_ONE and "--subscriber" in has:
        also = (" `newsletter test-email --to ADDRESS` sends one digest to an address now"
                if command.name == "send" and option == "--to" else "")
        return f"Did you mean '--subscriber EMAIL' (only that subscriber's digest)?{also}"
    if option in _ONLY_TRY and "--dry-run" in has:
        return ("Did you mean '--dry-run' (who would get how many papers, nothing sent)? "
                "`newsletter test-email --to ADDRESS` sends one digest now")
    return None


def _spaced_path(words: list[str]) -> str | None:
    """A path with a space in its name given unquoted, which the shell split
    into words (`--config ~/Lab Digest`): the first run of two or three of
    ``words`` that names an existing file or folder joined by spaces, when the
    first word alone names nothing; else None."""
    for i, first in enumerate(words):
        if first.startswith("-") or not first or Path(first).exists():
            continue
        for end in range(i + 2, min(i + 3, len(words)) + 1):
            joined = " ".join(words[i:end])
            if Path(joined).exists():
                return joined
    return None


def _quote_spaced(message: str, words: list[str], ctx: click.Context) -> click.UsageError | None:
    """``message`` with what to write when ``words`` hold a path split at its space."""
    joined = _spaced_path(words)
    if joined is None:
        return None
    return click.UsageError(f"{message.rstrip('.')}: '{joined}' has a space in its name, which the shell takes for two words: "
                            f"put the path in quotes, {shlex.quote(joined)}", ctx)


def _extra_words(said: str, given: list[str]) -> list[str]:
    """The words of the command line (``given``) that click names as extra
    arguments in ``said``, their texts joined by spaces: split at its spaces,
    `validate 'my config.yaml'` was told to write `--config config.yaml`.
    The words of ``said`` when the command line's do not make it up."""
    found, at = [], 0
    for word in given:
        end = at + len(word)
        if word and said.startswith(word, at) and (end == len(said) or said[end] == " "):
            found.append(word)
            at = end + 1
    return found if found and at >= len(said) else said.split()


def _bare_config(words: list[str]) -> str | None:
    """The first of ``words`` that names a config without ``--config`` in front
    (`newsletter validate config.yaml`, `newsletter ~/digest send`), as other
    tools take their file: a ``.yaml``/``.yml`` name, or a folder holding a
    ``config.yaml``; else None."""
    for word in words:
        if word.startswith("-") or not word:
            continue
        if word.rstrip("/").lower().endswith((".yaml", ".yml")) or os.path.isfile(_config_file(word)):
            return word
    return None


def _config_goes_after_option(message: str, word: str, rest: list[str], ctx: click.Context) -> click.UsageError:
    """``message`` with where the config ``word`` goes, in the whole command
    line (``rest``: the command and its other words): click said only 'Got
    unexpected extra argument (config.yaml)' or 'No such command'."""
    line = " ".join(shlex.quote(w) for w in ["newsletter", "--config", word, *rest])
    return click.UsageError(f"{message.rstrip('.')}: the config goes after --config, `{line}`", ctx)


def _command_words(ctx: click.Context) -> list[str]:
    """The command's name as typed after ``newsletter`` (``state migrate``)."""
    words: list[str] = []
    while ctx.parent is not None:
        words.insert(0, ctx.info_name or "")
        ctx = ctx.parent
    return words


def _error_json(ctx: click.Context, problems: list[str], code: int) -> None:
    """The JSON document of a ``--json`` command that failed, unless it printed
    its own: ``{"config", "ok": false, "problems", "warnings", "exit"}``, as
    ``validate --json`` has always given it; the lines on stderr are said as ever."""
    if not _json_emitted:
        state = ctx.find_object(_State)
        emit_json({"config": state.config_path if state else None, "ok": False, "problems": problems,
                   "warnings": ctx.meta.get(JSON_WARNINGS, []), "exit": code})


class _Command(click.Command):
    """A command that also takes ``--config PATH`` (or ``-c PATH``, as most
    tools spell it) after its name (``newsletter validate --config x.yaml``),
    as scripts often place it; it wins over the group's ``--config`` and
    ``$NEWSLETTER_CONFIG``.  An address given without ``--subscriber``, or an
    option named as other tools do, says what to write."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        given = list(args)  # click takes the list apart as it parses
        try:
            return self._parsed_args(ctx, args, given)
        except click.UsageError as exc:
            # `send --json --now garbage`: stdout was empty for a script waiting for JSON
            words = given[:given.index("--")] if "--" in given else given
            if "--json" in words and any("--json" in getattr(p, "opts", ()) for p in self.params):
                _error_json(ctx, [exc.format_message()], exc.exit_code)
            raise

    def _parsed_args(self, ctx: click.Context, args: list[str], given: list[str]) -> list[str]:
        """click's parse, its usage errors said for what the user likely meant."""
        if "#" in given:
            # zsh (macOS's shell) reads a README line's `# comment` as words unless interactive_comments
            # is set: `newsletter init  # writes ...` made a folder '#', `send # ...` said "extra arguments"
            comment = " ".join(given[given.index("#"):])
            raise click.UsageError(
                f"Got a comment as arguments ({comment!r}): your shell (zsh, as on macOS) passed it on "
                "instead of ignoring it; run the command without the '# ...' part, or `setopt interactive_comments` "
                "first (in ~/.zshrc to keep it)", ctx)
        try:
            return super().parse_args(ctx, args)
        except click.NoSuchOption as exc:
            meant = _option_meant(self, exc.option_name)
            if meant is None:
                raise
            raise click.UsageError(f"No such option '{exc.option_name}'. {meant}", ctx) from None
        except click.UsageError as exc:
            if "unexpected extra argument" in str(exc) and (spaced := _quote_spaced(str(exc), given, ctx)):
                raise spaced from None
            extras = _extra_words(str(exc).partition("(")[2].rpartition(")")[0], given)
            if "unexpected extra argument" in str(exc) and (config := _bare_config(extras)):
                rest = [*_command_words(ctx), *(w for w in given if w != config)]
                raise _config_goes_after_option(str(exc), config, rest, ctx) from None
            extra = [a for a in given if "@" in a and not a.startswith("-")]
            has = {o for p in self.params for o in getattr(p, "opts", ())}
            option = "--to" if "--to" in has else "--subscriber"  # test-email ADDRESS: where it goes
            if "unexpected extra argument" not in str(exc) or not extra or option not in has:
                raise
            raise click.UsageError(f"Got unexpected extra argument ({extra[0]}): an address goes after "
                                   f"{option}, `newsletter {self.name} {option} {extra[0]}`", ctx) from None

    def invoke(self, ctx: click.Context):
        """The command; with ``--json``, a :class:`NewsletterError` (a broken
        config, every source failed) is also a JSON document on stdout, as
        ``validate --json`` has always given it: ``{"config", "ok": false,
        "problems": ["FILE:LINE: ..."], "warnings", "exit"}``.  A script
        reading ``send --json`` got an empty stdout and a parse error of its
        own; stderr says the located lines as ever (:func:`main`)."""
        global _json_emitted
        _json_emitted = False  # (a command run in this process before printed its own)
        try:
            return super().invoke(ctx)
        except NewsletterError as exc:
            if ctx.params.get("as_json"):
                _error_json(ctx, [str(p) for p in exc.problems], exc.exit_code)
            raise
        except click.ClickException as exc:  # a usage error found by the command (`send --now` a day ahead)
            if ctx.params.get("as_json"):
                _error_json(ctx, [exc.format_message()], exc.exit_code)
            raise

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.params.append(
            click.Option(
                ["-c", "--config", "config_path"],
                metavar="PATH",
                expose_value=False,
                is_eager=True,
                callback=_set_config,
                help="The config file (as `newsletter --config PATH COMMAND`).",
            )
        )


#: The command a newcomer means by another word (`newsletter help`, `check`,
#: `start`): click's guess goes by spelling only ('start': 'state').
_OTHER_WORDS = {
    "help": "`newsletter --help` lists the commands, `newsletter COMMAND --help` explains one.",
    **dict.fromkeys(("check", "verify", "lint"), "Did you mean 'validate'?"),
    **dict.fromkeys(("setup", "new", "create", "config"), "Did you mean 'init' (writes a starter config.yaml)?"),
    **dict.fromkeys(("start", "daemon", "scheduler"), "Did you mean 'run' (sends on the schedule until stopped)?"),
    **dict.fromkeys(("test", "try"), "Did you mean 'test-email --to ADDRESS' (one digest now), or 'preview'?"),
    **dict.fromkeys(("deliver", "mail"), "Did you mean 'send'?"),
    **dict.fromkeys(("list", "fetch"), "Did you mean 'papers'?"),
    **dict.fromkeys(("status", "next"), "Did you mean 'schedule'?"),
}


def _closest(word: str, commands: list[str]) -> str | None:
    """The commands spelt like ``word``, closest first: click listed them in
    alphabetical order, so `unsubscibe` read "Did you mean one of:
    'resubscribe', 'unsubscribe'?" (and click 8.1 suggested nothing)."""
    import difflib

    close = difflib.get_close_matches(word.casefold(), commands, n=3)
    if not close:
        return None
    more = f" (or {', '.join(repr(c) for c in close[1:])})" if close[1:] else ""
    return f"Did you mean {close[0]!r}{more}?"


class _Group(click.Group):
    """Commands whose reader goes away (``newsletter papers | head -1``) end
    quietly with exit 0, as they would have had the reader read on."""

    command_class = _Command
    group_class = type  # `newsletter state ...`: a _Group too, its commands _Commands

    def resolve_command(self, ctx: click.Context, args: list[str]):
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as exc:
            config = ctx.params.get("config_path")
            if args and config and (spaced := _quote_spaced(exc.format_message(), [config, args[0]], ctx)):
                raise spaced from None  # `--config ~/Lab Digest validate`: 'No such command 'Digest''
            if args and exc.format_message().startswith("No such command") and _bare_config(args[:1]):
                rest = args[1:] if args[1:] and args[1] in self.commands else ["COMMAND"]
                raise _config_goes_after_option(exc.format_message(), args[0], rest, ctx) from None
            meant = _OTHER_WORDS.get(args[0].casefold()) if args and self.name == "cli" else None
            if meant is None and args and exc.format_message().startswith("No such command"):
                meant = _closest(args[0], list(self.commands))
            if meant is None:
                raise
            raise click.UsageError(f"No such command {args[0]!r}. {meant}", ctx) from None

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            _failed("stdout")
            raise click.exceptions.Exit(0) from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-c",
    "--config",
    "config_path",
    envvar="NEWSLETTER_CONFIG",
    default="config.yaml",
    show_default=True,
    metavar="PATH",
    help="The config file (or $NEWSLETTER_CONFIG).",
)
@click.option("-v", "--verbose", is_flag=True, help="Log more detail to stderr.")
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=lambda ctx, _p, value: _version(ctx)
              if value and not ctx.resilient_parsing else None, help="Show the version, the state schemas and the "
              "checkout's commit, and exit.")
@click.pass_context
def cli(ctx: click.Context, config_path: str, verbose: bool) -> None:
    """Paper Digest: topic-filtered e-mail digests of new research papers.

    First time: `newsletter init` writes a commented starter config.yaml in this
    folder; then `newsletter validate`, `newsletter test-email --to YOU@...`
    and `newsletter send` (README, "Your own digest").
    """
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        stream=sys.stderr,
    )
    # httpx logs every request at INFO; that is -v detail, not news.
    logging.getLogger("httpx").setLevel(logging.DEBUG if verbose else logging.WARNING)
    # The pool's "discarding broken connection: <psycopg.Connection [BAD] at 0x...>"
    # as PostgreSQL restarts: -v detail; the state says what it means for the send.
    logging.getLogger("psycopg.pool").setLevel(logging.DEBUG if verbose else logging.ERROR)
    ctx.obj = _State(config_path)


def _version(ctx: click.Context) -> None:
    """``--version``: the distribution's version alone stays 0.1.0 from commit
    to commit, so it also names the state schema this code writes (what a
    state "written by a newer Paper Digest" is measured by) and, installed
    from a git checkout (``pip install -e .``), the commit checked out: what
    an upgrade by ``git pull`` changed, and what a bug report needs."""
    from importlib.metadata import version

    from .state import SCHEMA_VERSION
    from .state.postgres import SCHEMA_VERSION as PG_SCHEMA_VERSION

    commit = checkout_commit(Path(__file__).resolve().parent.parent)
    click.echo(f"newsletter, version {version('paper-digest-mailer')}{f', commit {commit}' if commit else ''}; "
               f"state schema: SQLite {SCHEMA_VERSION}, PostgreSQL {PG_SCHEMA_VERSION}")
    ctx.exit()


def checkout_commit(folder: Path) -> str | None:
    """``folder``'s git commit and its date ("1ed8e0e of 2026-12-01", with
    "and local changes" when files differ), or None where it is no checkout
    or git is missing: an installed wheel has no commit to tell."""
    import subprocess

    if not (folder / ".git").exists():
        return None
    try:
        head = subprocess.run(["git", "-C", str(folder), "log", "-1", "--format=%h of %cs"],
                              capture_output=True, text=True, timeout=10)
        changed = subprocess.run(["git", "-C", str(folder), "status", "--porcelain", "--untracked-files=no"],
                                 capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if head.returncode != 0 or not head.stdout.strip():
        return None
    local = " and local changes" if changed.returncode == 0 and changed.stdout.strip() else ""
    return head.stdout.strip() + local


def _one_subscriber(ctx, param, value: str | None) -> str | None:
    """``--subscriber ""`` (``--subscriber "$EMAIL"`` with the variable unset)
    read as no option at all: `send` sent every subscriber's digest."""
    if value is not None and not value.strip():
        raise click.BadParameter(
            "empty: give a subscriber's address (an unset variable?); leave the option out to mean every subscriber"
        )
    return value


def _clock_read(ctx: click.Context) -> bool:
    """Whether ``--now`` is this machine's clock, not a time given (see ``own_clock`` of :func:`pipeline.send`)."""
    return ctx.get_parameter_source("now") is not click.core.ParameterSource.COMMANDLINE


def _parse_now(ctx, param, value: str | None) -> datetime:
    now = _read_now(ctx, param, value)
    return now if now.tzinfo else now.replace(tzinfo=UTC)


def _read_now(ctx, param, value: str | None) -> datetime:
    """``--now`` as written: without an offset, a naive time."""
    if value is None:
        return datetime.now(UTC)
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 time such as 2024-05-01T08:00:00+00:00") from None


def _offset_wanted(now: datetime, config: Config) -> NoReturn:
    """``send --now`` without an offset: read as UTC, a backfill meant in the
    config's zone ran hours off, and a schedule's slot was taken as passed
    (or not) with no word; the two readings it may mean are offered."""
    import zoneinfo

    zone = zoneinfo.ZoneInfo(config.timezone)
    local = now.replace(tzinfo=zone).isoformat()
    utc = now.replace(tzinfo=UTC).isoformat()
    meant = f"{local} for {now:%H:%M} in {config.timezone} (the config's timezone)"
    raise click.BadParameter(
        f"{now.isoformat()} has no UTC offset: write {meant}" + ("" if local == utc else f", or {utc} for UTC"),
        param_hint="'--now'",
    )


@cli.command()
@click.option("--fetch", is_flag=True, help="Also fetch the remote sources and report each one's papers or error.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--now", callback=_parse_now, hidden=True, help="Pretend it is this time (ISO 8601): for tests.")
@pass_state
def validate(state: _State, fetch: bool, as_json: bool, now: datetime) -> None:
    """Check the config, its sources and templates."""
    show = None if as_json else (lambda source: click.echo(str(source)))
    said: list[str] = []  # the warnings, for --json: a script saw "ok": true and none of them
    click.get_current_context().meta[JSON_WARNINGS] = said  # and in the error document (see _Command.invoke)

    def warned(message: str) -> None:
        said.append(message)
        warn(message)

    if state._config is None:  # a broken config: its source files are checked too
        state._config = _loaded(pipeline.load_for_validate(state.config_path))
    summary = pipeline.validate(state.config, fetch=fetch, warn=warned, progress=show, now=now)
    if as_json:
        emit_json({"config": str(state.config.file), "ok": True, **dataclasses.asdict(summary), "warnings": said})
        return
    click.echo(f"{state.config.file}: OK: {summary}")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_state
def papers(state: _State, as_json: bool) -> None:
    """Parse all sources and print the deduplicated papers.

    Exit 0 when some sources failed and the others were read (each said,
    and named again last); exit 2 when every source failed.
    """
    found, failed = pipeline.papers_read(state.config, warn=warn)
    if as_json:
        emit_json([p.to_json() for p in found])
        _failed_sources_said(failed, state.config, "the papers listed are the others'")
        return
    for n, paper in enumerate(found, 1):
        authors = f" ({_authors(paper.authors)})" if paper.authors else ""
        click.echo(f"{n:4}. {_shown(paper.title)}{authors}")
        click.echo(f"      {paper.id if paper.arxiv_id else paper.url or paper.location or paper.source}")
    papers_n, sources_n = len(found), len(state.config.sources)
    click.echo(f"{counted(papers_n, 'paper')} from {counted(sources_n, 'source')}")
    _failed_sources_said(failed, state.config, "the papers listed are the others'")


def _failed_sources_said(failed, config, shown: str) -> None:
    """The closing warning of ``papers`` and ``match`` when some sources
    failed: the warning said while reading had scrolled away above a long
    listing, and the list read as complete.  Exit 0 all the same: these
    commands show and send nothing, and a person reads them (``send``, which
    cron runs, exits 2 for it; ``validate --fetch`` checks each source)."""
    loud = [(f.index, f.name, f.location) for f in failed if f.required]
    if loud:
        warn(f"{pipeline.failed_named(loud, len(config.sources))}; {shown} (`send` exits 2 for it; "
             "`required: false` on a source lets it fail with a warning alone)")


def _authors(authors) -> str:
    return ", ".join(authors[:3]) + (" et al." if len(authors) > 3 else "")


def _shown(title: str) -> str:
    """A title as the email shows it: math an export lost its backslashes and
    dollars of (``ell_2``) as Unicode (``ℓ₂``); ``--json`` keeps the text as read."""
    from .latex import lost_math_shown

    return lost_math_shown(title)


@cli.command()
@click.option("--subscriber", metavar="EMAIL", callback=_one_subscriber, help="Only this subscriber.")
@click.option("--all", "show_all", is_flag=True, help="As if nothing had been sent yet (to tune rules after the first send).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--paper", metavar="ID|TITLE", help="Where this paper stands instead: in each topic (its relevance "
              "under a floor) and in each digest (or why not).")
@click.option("--now", "now_at", metavar="TIME", hidden=True,
              help="Pretend it is this time (ISO 8601), as send --now does: for tests.")
@pass_state
def match(state: _State, subscriber: str | None, show_all: bool, as_json: bool, paper: str | None,
          now_at: str | None) -> None:
    """Show, per subscriber, the papers that would go into the next digest and why.

    A score in [0, 1] is a paper's relevance to a topic written as `about`/`like`;
    a whole number is a keyword topic's (more matched terms first, in the title
    more); in one list a whole number n ranks as n/(n+1).  Topics that select
    none of the current papers are named on stderr.
    """
    config = state.config
    said: list[str] = []  # the warnings, for --json: advice on the topics reached no script
    click.get_current_context().meta[JSON_WARNINGS] = said  # and in the error document (see _Command.invoke)

    def warned(message: str) -> None:
        said.append(message)
        warn(message)

    found, failed = pipeline.papers_read(config, warn=warned)
    # Papers already sent are not in the next digest (unless --all), and those who
    # unsubscribed get none; reading the state never writes it.
    left = pipeline.unsubscribed(config, subscriber)
    exclude = None if show_all else pipeline.already_sent(config, subscriber)
    if paper is not None:
        _paper_standing(pipeline.paper_standing(config, found, paper, subscriber, exclude, warn, left), config, as_json)
        return
    # the next digest as send builds it: papers owed after a failed delivery come first
    report = pipeline.match_report(config, found, subscriber, exclude, warned, left, next_digest=not show_all)
    for problem in (*report.advice, *report.unmatched):
        warned(str(problem))
    selected = {sub.email: matches for sub, matches in report.subscribers}
    results = [(sub, selected.get(sub.email, []), left.get(sub.email)) for sub in pipeline.subscribers(config, subscriber)]
    # a digest not due yet, said as preview says it: after `send` sent nothing ("not due"), a list of 20
    # papers read as a digest that should have gone out
    now = datetime.now(UTC) if now_at is None else _parse_now(None, None, now_at)
    timing = {row.email: row for row in pipeline.schedules(config, now=now, only=subscriber)}
    if as_json:
        emit_json(
            {
                "subscribers": [
                    {
                        "email": sub.email,
                        "name": sub.name,
                        "papers": [m.to_json() for m in matches],
                        "unsubscribed": gone.isoformat() if gone else None,
                        "sent_before": report.sent_before.get(sub.email, 0),
                        "revised": [{"id": p.id, "version": p.version, "title": p.title}
                                    for p in report.revised.get(sub.email, ())],
                        "taken": report.capped.get(sub.email, (len(matches), 0))[0],
                        "due": timing[sub.email].due,
                        "next_send": timing[sub.email].to_json()["next_send"],
                    }
                    for sub, matches, gone in results
                ],
                "unmatched_topics": [p.path.removeprefix("topics.") for p in report.unmatched if p.path],
                "near_misses": {
                    key: {"floor": near.floor,
                          "papers": [{"id": p.id, "title": p.title, "score": score} for p, score in near.papers]}
                    for key, near in report.near
                },
                "warnings": said,
                "failed_sources": [f.to_json() for f in failed],
            }
        )
        _failed_sources_said(failed, config, "the digests shown are made from the others' papers")
        return
    from .matching import not_again_lines

    mixed = False  # a list showing 8 under 0.90 and over 0.82 read as out of order
    ranked = False  # 0.91 read as "91% relevant", of a paper on another subject on a quiet day
    for sub, matches, gone in results:
        mixed = mixed or len({bool(m.reasons) for m in matches}) == 2
        ranked = ranked or any(m.reasons for m in matches)
        if gone:
            click.echo(f"{sub.label}: unsubscribed {shown_time(gone, config.zone(sub))}, gets no digest "
                       f"(newsletter resubscribe {sub.email} undoes it)")
            continue
        before = report.sent_before.get(sub.email)
        gone_out = (f" (the {counted(before, 'paper')} its topics take now went out before; `match --all` "
                    "shows them)") if before else ""
        cut = pipeline.max_papers_said(len(matches), *report.capped.get(sub.email, (0, 0)))
        row = timing[sub.email]
        later = f"  (not due now: goes out {shown_time(row.next_send)})" if row.next_send and not row.due else ""
        click.echo(f"{sub.label}: {counted(len(matches), 'paper')}{gone_out}{cut}{later}")
        for line in not_again_lines(report.revised.get(sub.email, ())):
            click.echo(f"  {line}")  # a replacement of a paper sent: left out, never without a word
        for m in matches:
            score = f"{m.score:5.2f}" if m.reasons and not m.counted else f"{m.score:5g}"
            click.echo(f"  {score}  {_shown(m.paper.title)}")
            # the reason in words (ranked topics) and the rule terms that matched (rules)
            terms = ", ".join(f"{h.term} ({h.field})" for h in m.hits)
            why = " · ".join(filter(None, [m.reason if m.reasons else "", terms]))
            click.echo(f"         [{', '.join(config.topic_name(t) for t in m.topics)}] {why}")
    if mixed:
        click.echo("Scores: 0.00-1.00 is relevance to a topic in words (about/like); a whole number n is a "
                   "keyword topic's (its matched terms), placed as n/(n+1) (8 as 0.89).")
    if ranked:
        click.echo("Relevance (0.00-1.00, what min_score cuts) says how far a paper stands out from today's "
                   "typical paper, not how much of your sentence it covers: on a day with little on a topic, its "
                   "closest papers still score high.")
    if report.near:
        # what a lower min_score would let in: the floor is easier to set seeing these
        click.echo("Just under a topic's floor (a lower `min_score` takes them):")
        for key, near in report.near:
            topic = config.topics[key]
            # rules beside the sentence: its papers above are scored in the fused order, a scale the floor
            # does not cut (a paper listed at 0.89 may have relevance 0.31, a floor of 0.30 keeps it)
            fused = (" on relevance (its papers above are scored in the order of its rules and relevance together, "
                     "which the floor does not cut)") if topic.any or topic.all else ""
            click.echo(f"  [{config.topic_name(key)}] floor {near.floor:.2f}{fused}")
            for under, relevance in near.papers:
                # cut to two decimals, not rounded up: `min_score:` that value takes the paper
                click.echo(f"  {math.floor(relevance * 100) / 100:5.2f}  {_shown(under.title)}")
    _failed_sources_said(failed, config, "the digests shown are made from the others' papers")


def _paper_standing(standing: pipeline.PaperStanding, config, as_json: bool) -> None:
    found = standing.paper
    if as_json:
        emit_json({
            "paper": {"id": found.id, "title": found.title, "url": found.url},
            "topics": [{"topic": s.topic, "taken": s.taken, "score": s.score, "place": s.place, "of": s.of,
                        "floor": s.floor, "relevance": s.relevance, "why": s.why} for s in standing.topics],
            "subscribers": [{"email": d.subscriber.email, "place": d.place, "of": d.of, "why_not": d.why_not,
                             "pinned": d.pinned} for d in standing.digests],
        })
        return
    click.echo(_shown(found.title) + (f" ({found.arxiv_id})" if found.arxiv_id else ""))
    for s in standing.topics:
        name = config.topic_name(s.topic)
        if s.taken:
            # a topic with terms as well places it by relevance and rules together; its floor cut the relevance
            score = (f", relevance {s.relevance:.2f}" if s.relevance is not None
                     else f", {s.score:.2f}" if isinstance(s.score, float) else "")
            click.echo(f"  [{name}] in: {pipeline.ordinal(s.place or 0)} of {s.of}{score}" + (f": {s.why}" if s.why else ""))
        elif s.takes_at is not None:
            shown = math.floor((s.score or 0) * 1000) / 1000  # cut like takes_at: 0.0698 is not "0.070"
            # how many papers that floor lets in with it: a far-off topic's 0.04 would take most of the day
            above = f", and the {counted(s.place - 1, 'paper')} above it" if s.place and s.place > 1 else ""
            click.echo(f"  [{name}] out: under the floor {s.floor:.2f}: relevance {shown:.3f}, "
                       f"{pipeline.ordinal(s.place or 0)} in its order (`min_score: {s.takes_at:.2f}` would take it{above})")
        else:
            click.echo(f"  [{name}] out: {s.why}")
    for d in standing.digests:
        if d.place is not None:
            pinned = " (by an author it pins)" if d.pinned else ""
            click.echo(f"{d.subscriber.label}: in the next digest, {pipeline.ordinal(d.place)} of {d.of}{pinned}")
        else:
            click.echo(f"{d.subscriber.label}: not in the next digest: {d.why_not}")


#: How far ``send --now`` may run ahead of the real clock (clock skew between machines).
NOW_SLACK = timedelta(minutes=5)


#: A send to this many subscribers or more shows a progress bar on a terminal.
LONG_SEND = 50


#: In a long send, up to this many lines of one skipped kind ("empty", "not
#: due", "unsubscribed", "other worker") are printed; past it, one for them all.
NOT_DUE_LINES = 10
#: Where no one reads along (a pipe, a file), ``send``'s per-digest lines go
#: out this many at a time, or once the first of them has waited this long (s).
LINES_AT_ONCE = 64
LINES_WAIT_AT_MOST = 0.05
#: What each folded kind says after its count.
_FOLDED = {
    "empty": " (nothing new for them: no email)",
    "not due": "",
    "unsubscribed": " (`newsletter schedule` says since when)",
    "other worker": " (another worker sends theirs)",
}


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or replaced
        return False


class _SendProgress:
    """What ``send`` prints per digest.  On a terminal (stdout and stderr) and
    for a long send: a progress bar on stderr, with only the failures printed
    above it.  Otherwise (a pipe, a file, a short send): one line per digest,
    as ever, written without a flush per line; but in a long send, or one
    whose output is no terminal, the subscribers skipped (empty, not due,
    unsubscribed, another worker's) are one line of each kind when there are
    more than :data:`NOT_DUE_LINES` (cron
    every 10 minutes on a list of 2,500 wrote 2,500 "not due" lines to its
    log each time, 36 MB a day; each PostgreSQL worker listed every
    subscriber of the others).

    Lines for a pipe or a file go out a group at a time (:data:`LINES_AT_ONCE`,
    or once the first has waited :data:`LINES_WAIT_AT_MOST`), whatever the
    stream's buffering: with ``PYTHONUNBUFFERED`` set (as container images
    set it), each line was a write of its own, and each write woke the
    reader at the other end; 2,000 of them in a big send took CPU from the
    delivering processes and from a mail server on the same machine.  A
    group waits for the next line or the end of the send, as a block-buffered
    stream's lines do."""

    def __init__(self, total: int) -> None:
        self.bar: Any = None  # a tqdm bar
        self.long = total >= LONG_SEND
        # folded in a long send, and wherever no one reads along (cron's log): a lab of 30 on a
        # cron line every 10 minutes wrote 30 "not due" lines a run, 4,000 a day
        self.fold = self.long or not _is_terminal(sys.stdout)
        self.lines: list[str] = []  # per-digest lines not written yet (stdout no terminal)
        self.since = 0.0  # when the first of them came
        self.grouped = not _is_terminal(sys.stdout)
        self.held: dict[str, list[Any]] = {kind: [] for kind in _FOLDED}  # the first NOT_DUE_LINES + 1 of each
        self.counts: dict[str, int] = dict.fromkeys(_FOLDED, 0)
        self.soonest: Any = None  # the one not due whose digest comes first
        if self.long and sys.stdout.isatty() and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="digest", file=sys.stderr, dynamic_ncols=True)

    def __call__(self, result) -> None:
        if self.bar is None and self.fold and result.status in _FOLDED:
            self.counts[result.status] += 1
            if len(self.held[result.status]) <= NOT_DUE_LINES:
                self.held[result.status].append(result)
            if result.status == "not due" and result.next_attempt is not None and (
                    self.soonest is None or result.next_attempt < self.soonest.next_attempt):
                self.soonest = result
            return
        if self.bar is None or "stderr" in _FAILED:
            if not self.grouped:
                say(f"{result}\n")
                return
            now = time.monotonic()
            if not self.lines:
                self.since = now
            self.lines.append(f"{result}\n")
            if len(self.lines) >= LINES_AT_ONCE or now - self.since >= LINES_WAIT_AT_MOST:
                self._write_lines()
            return
        try:
            self.bar.update(1)
            if result.status == "failed":
                self.bar.write(str(result), file=sys.stdout)
        except (OSError, ValueError):  # the terminal went away: lines from here on
            _failed("stderr")

    def _write_lines(self) -> None:
        text, self.lines = "".join(self.lines), []
        say(text)

    def close(self) -> None:
        if self.lines:
            self._write_lines()
        if self.bar is not None:
            try:
                self.bar.close()
            except (OSError, ValueError):
                pass
        for kind, said in _FOLDED.items():
            if self.counts[kind] <= NOT_DUE_LINES:
                for result in self.held[kind]:
                    say(f"{result}\n")
                continue
            if kind == "not due":
                soonest = f"; the soonest: {self.soonest}".replace("not due     ", "") if self.soonest else ""
                said = f"{soonest} (`newsletter schedule` lists each)"
            say(f"{kind:<11} {self.counts[kind]:,} subscribers{said}\n")
        _flush()


@cli.command()
@click.option("--subscriber", metavar="EMAIL", callback=_one_subscriber, help="Only this subscriber.")
@click.option("--dry-run", is_flag=True, help="Show who would get how many papers; send and record nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--now", callback=_read_now, metavar="TIME",
              help="Pretend it is this time (ISO 8601 with its offset, 2024-05-06T08:00:00+00:00): for backfills; "
                   "at most 5 minutes ahead of the clock unless with --dry-run.")
@pass_state
@click.pass_context
def send(ctx: click.Context, state: _State, subscriber: str | None, dry_run: bool, as_json: bool, now: datetime) -> None:
    """Build the digests that are due and deliver them.

    Due: a subscriber one of whose schedule slots has passed since its last
    digest (a new one waits for its first slot), or one without a schedule
    (at every send: for cron).

    \b
    Exit 0: sent, or nothing due.
    Exit 1: a delivery failed; it stays pending, and the next send tries it.
    Exit 2: a bad config, or no source could be read; nothing sent.  Or some
    source failed and the digests went out from the others (unless it says
    required: false).  So too when deliveries failed as well (the last line
    says both), and when nobody was due but a source failed while the
    papers were read to be kept for a weekly digest.
    Exit 130/143: stopped by Ctrl-C/SIGTERM; the rest stay pending.

    From cron: a send started while another runs on the same state waits for
    it (10 minutes at most), then sends what is left.  The SMTP password and
    the unsubscribe links' key come from the variables delivery.password_env
    and web.secret_env name, which cron's nearly empty environment lacks:
    set them in the cron line (README "Or from cron").
    """
    if now.tzinfo is None:
        _offset_wanted(now, state.config)
    progress = None if as_json else _SendProgress(len(state.config.selected_subscribers(subscriber)))
    first_outbox = state.config.delivery.transport == "outbox" and not _has_digests(state.config.outbox_dir)
    new_state = not dry_run and not state.config.state_is_shared and not state.config.state_path.exists()
    for advice in (*pipeline.no_subscribers(state.config), *pipeline.transport_advice(state.config),
                   *pipeline.port_advice(state.config)):
        warn(str(advice))  # said before "sent": SMTP settings with the outbox, nobody to send to
    interrupted = threading.Event()
    caught: list[int] = []  # the signal that stopped it: the exit code is 128 + its number
    try:
        with _ctrl_c_stops(interrupted, caught):
            report = pipeline.send(
                state.config, now=now, only=subscriber, dry_run=dry_run, warn=warn, progress=progress,
                interrupted=interrupted.is_set, sleep=interrupted.wait,  # a retry's back-off ends at Ctrl-C
                own_clock=_clock_read(ctx),
                # the state would record sends "at" that time: every schedule would wait for it
                ahead_at_most=None if dry_run else NOW_SLACK,
            )
    except AheadOfTheClock as exc:
        raise click.BadParameter(str(exc), param_hint="'--now'") from None
    except SourcesFailed:
        if not interrupted.is_set():
            raise
        say("interrupted while reading the sources: nothing sent or recorded\n", err=True)
        _flush()
        ctx.exit(128 + (caught[0] if caught else signal.SIGINT))
    except StoppedWaiting as exc:  # another send held the state: it ignored the stop for up to ten minutes
        say(f"interrupted: {exc}\n", err=True)
        _flush()
        ctx.exit(128 + (caught[0] if caught else signal.SIGINT))
    finally:
        if progress is not None:
            progress.close()
    # a very first send: when the first digest goes out says more than "no digest is due now"
    first = _first_slot(report) if new_state and not as_json and not report.sent else None
    if as_json:
        emit_json(report.to_json())
    else:
        if report.note:
            say(report.note + "\n", err=True)
        if not report.sources_read and report.results and not first:
            say(f"{pipeline.UNREAD}\n")  # (information, not a problem: stdout, before the summary)
        say(f"{report}\n")
        if first_outbox and report.sent:
            # "sent ada@example.org" on a first run read as mail gone out to those addresses
            files = "an .eml file" if report.sent == 1 else ".eml files"
            say(f"outbox: {counted(report.sent, 'digest')} written as {files} to {state.config.outbox_dir} "
                "(open one in a mail client); nothing was mailed: `transport: smtp` under delivery: mails them\n", err=True)
    if first is not None:
        say(first + "\n", err=True)
    if new_state and state.config.state_path.exists() and (job := _ci_job()):
        say(_ci_state_note(state.config.state_path, job) + "\n", err=True)
    for problem in report.problems:
        say(problem + "\n", err=True)
    if interrupted.is_set():
        left = report.pending + sum(r.status == "failed" and r.retry and r.next_attempt is None for r in report.results)
        unreached = f" and {counted(report.not_reached, 'subscriber')} not reached" if report.not_reached else ""
        say(f"interrupted: {counted(left, 'digest')} left pending (not sent){unreached}; "
            f"the next `newsletter send` sends them{_sent_again(state.config, report) if left else ''}\n", err=True)
        _flush()
        ctx.exit(128 + (caught[0] if caught else signal.SIGINT))
    if report.skipped_sources:
        say(f"error: {pipeline.skipped_said(report, len(state.config.sources))}\n", err=True)
    _flush()
    if report.skipped_sources:
        ctx.exit(2)  # bad input, even with failed deliveries too: the input wants a look first
    if report.failed or report.problems:
        ctx.exit(1)


def _sent_again(config, report) -> str:
    """What else the `send` that finishes a stopped one sends: a subscriber
    without a schedule is due at every send, so one sent to before the stop
    whose digest was cut at max_papers gets a second digest, of the papers
    left over, minutes after the first.  "the next `newsletter send` sends
    them" read as the pending ones alone."""
    unscheduled = {sub.email.lower() for sub in config.subscribers if sub.schedule is None}
    again = [r for r in report.results
             if r.status == "sent" and r.taken > r.papers and r.email.lower() in unscheduled]
    if not again:
        return ""
    return (f", and a second digest to the {counted(len(again), 'subscriber')} sent to now without a schedule "
            "(due at every send) whose digest max_papers cut, of the papers left over; `newsletter send "
            "--subscriber EMAIL` sends one subscriber's alone")


def _first_slot(report) -> str | None:
    """The very first send (a new state) of subscribers on a schedule sent
    nothing: each waits for its first slot.  It said "not due ... next
    digest at 08:00" and "sent 0", and a new user, told to run `send`,
    saw no digest and no way to see one now."""
    waiting = [r.next_attempt for r in report.results if r.status == "not due" and r.next_attempt is not None]
    if not waiting:
        return None
    return (f"nothing sent yet: a new subscriber on a schedule waits for its first slot (the first digest goes out "
            f"at {shown_time(minute_up(min(waiting)))}); `newsletter test-email --to ADDRESS` sends one now")


@contextmanager
def _ctrl_c_stops(flag: threading.Event, caught: list[int] | None = None) -> Iterator[None]:
    """While a send runs, the first Ctrl-C or SIGTERM sets ``flag`` (and
    appends the signal to ``caught``): the messages being delivered finish
    and are recorded, the rest stay pending (not "being sent", which the next
    run would have to warn about).  A second one quits at once, as Ctrl-C
    does elsewhere.  SIGTERM is what `timeout` (cron) and a service manager's
    stop send; it killed the send outright.  SIGHUP (the terminal closed)
    too, unless it is ignored (``nohup``).  The send workers of a big send
    inherit the handlers and see the terminal's Ctrl-C (or a stop sent to the
    process group) by themselves."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers live in the main thread (a script calling main() elsewhere)
        return
    parent = os.getpid()
    again: dict[int, Callable[..., Any] | signal.Handlers] = {
        signal.SIGINT: signal.default_int_handler, signal.SIGTERM: signal.SIG_DFL
    }
    if signal.getsignal(signal.SIGHUP) == signal.SIG_DFL:  # (under nohup it is ignored: left so)
        # the terminal closed (an ssh session dropped): it killed the send
        # outright, and the messages in flight went out again with the next
        again[signal.SIGHUP] = signal.SIG_DFL

    def first(signum, frame) -> None:
        flag.set()
        if caught is not None and not caught:
            caught.append(signum)
        signal.signal(signum, again[signum])
        if os.getpid() == parent:  # once, not once per send worker
            if signum == signal.SIGINT:
                said = b"\nstopping: the messages being delivered finish, the rest stay pending " \
                       b"(Ctrl-C again to quit at once)\n"
            else:
                name = signal.Signals(signum).name.encode()
                said = b"stopping (%s): the messages being delivered finish, the rest stay pending " \
                       b"(%s again to quit at once)\n" % (name, name)
            with contextlib.suppress(OSError):  # (a closed terminal: the stop goes on without the line)
                os.write(2, said)

    before = {signum: signal.signal(signum, first) for signum in again}
    try:
        yield
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)


def _open_in_browser(url: str) -> None:
    """``preview --open``: on a server (no display, no browser) say where the
    page is instead of opening nothing without a word."""
    import webbrowser

    if not webbrowser.open(url):
        click.echo(f"no web browser found to open it: open {url} yourself", err=True)


def _serve_options(serve: bool, as_json: bool) -> None:
    """Options of ``preview`` that the other mode ignored without a word:
    ``--port 9000`` without ``--serve`` wrote files and served nothing, and
    ``--serve --json`` served and printed no JSON to the script waiting for it."""
    if serve and as_json:
        raise click.UsageError("--json prints what one preview wrote; --serve keeps writing and prints no JSON: "
                               "give one of them")
    given = click.get_current_context().get_parameter_source("port")
    if not serve and given in (click.core.ParameterSource.COMMANDLINE, click.core.ParameterSource.ENVIRONMENT):
        raise click.UsageError("--port is the port of --serve, and without it nothing is served: add --serve")


@cli.command()
@click.option("--subscriber", metavar="EMAIL", callback=_one_subscriber, help="Only this subscriber.")
@click.option("--out", "out", type=click.Path(file_okay=False), callback=_home_option,
              help="Folder to write to [default: preview/ beside the config].")
@click.option("--serve", is_flag=True, help="Serve the folder on 127.0.0.1 and re-render on changes.")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="Port for --serve (0: any free port)."
)
@click.option("--open", "open_browser", is_flag=True, help="Open the index page in a browser.")
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON (not with --serve).")
@click.option("--now", "now_at", metavar="TIME", hidden=True,
              help="Pretend it is this time (ISO 8601), as send --now does: for tests.")
@pass_state
def preview(
    state: _State,
    subscriber: str | None,
    out: str | None,
    serve: bool,
    port: int,
    open_browser: bool,
    as_json: bool,
    now_at: str | None,
) -> None:
    """Write the exact emails `send` would send (HTML, text, .eml) plus an index page."""
    from .previewing import PreviewServer
    from .previewing import preview as write_preview

    _serve_options(serve, as_json)
    fixed = None if now_at is None else _parse_now(None, None, now_at)
    now = (lambda: datetime.now(UTC)) if fixed is None else (lambda: fixed)  # noqa: E731
    if not serve:
        report = write_preview(state.config, now=now(), out=Path(out) if out else None, only=subscriber)
        for message in report.warnings:
            warn(message)
        if as_json:
            emit_json(report.to_json())
            return
        width = max((len(e.slug) for e in report.entries if e.would_send), default=0) + len(".html")
        for e in report.entries:
            if e.unsubscribed:
                click.echo(f"{e.email}: unsubscribed, nothing would be sent (`newsletter resubscribe {e.email}` undoes it)")
                continue
            if not e.would_send:
                click.echo(f"{e.email}: no new papers, nothing would be sent")
                continue
            later = f"  (not due now: goes out {shown_time(e.next_send)})" if e.next_send else ""
            papers = f"{e.papers:3} {'paper ' if e.papers == 1 else 'papers'}"
            click.echo(f"{e.slug + '.html':<{width}}  {papers}  {e.html_bytes / 1024:6.1f} KB  {e.subject}{later}")
        click.echo(f"{report}: {report.out / 'index.html'}")
        if open_browser:
            _open_in_browser((report.out / "index.html").resolve().as_uri())
        return

    server = PreviewServer(
        Path(state.config_path),
        Path(out) if out else None,
        only=subscriber,
        now=now,
        report=lambda line: click.echo(line, err=True),
        port=port,
    )
    _ = state.config  # a broken config fails here, before anything is served
    report = server.build()
    for message in report.warnings:
        warn(message)
    # Ctrl-C or SIGTERM stops the loop between polls: a KeyboardInterrupt
    # could land inside a rebuild (and a lock it holds) and stall the exit.
    # Caught from before the "Serving" line: a stop right after it is clean too.
    from .runner import stopped_by_signals

    stopping = threading.Event()
    with stopped_by_signals(stopping.set):
        try:
            url = server.start()
            click.echo(f"Serving {report.out} at {url} (Ctrl-C to stop)")
            if open_browser:
                _open_in_browser(url)
            server.watch(should_stop=stopping.is_set, wait=stopping.wait)
        finally:
            server.stop()
    click.echo("stopped", err=True)


@cli.command()
@click.option("--tick", type=click.FloatRange(min=0.01), default=15.0, show_default=True, metavar="SECONDS",
              help="How often to check who is due.")
@pass_state
def run(state: _State, tick: float) -> None:
    """Send each subscriber's digest at its scheduled times, until SIGINT/SIGTERM.

    Every subscriber needs a schedule (its own or the top-level schedule:);
    without one it would be mailed at every tick, so run refuses to start
    (`send` from cron serves such subscribers).  Missed slots are caught up
    once at start; the config is re-read when the file changes or on SIGHUP;
    a failed delivery is retried with backoff.  It logs to stderr
    (journalctl under systemd).  One run per state: a second exits 2.
    Exit 2 also for a bad config, when no source can be read, or at start
    when a variable the config names (delivery.password_env,
    web.secret_env, email.dkim.key_env) is not set.
    """
    from .runner import Runner

    logging.getLogger("newsletter").setLevel(logging.INFO)
    runner = Runner(state.config_path, tick=tick, config=state.config)
    runner.install_signal_handlers()
    runner.run()


@cli.command()
# `init '~/digest'` made a folder named '~' here, and its next steps' `--config ~/digest/...` another file
@click.argument("path", required=False, metavar="[PATH]", callback=_home_option)
@click.option("--force", is_flag=True, help="Replace an existing file.")
@pass_state
def init(state: _State, path: str | None, force: bool) -> None:
    """Write a commented starter config with live sources to PATH.

    PATH defaults to the --config file (./config.yaml); a folder gets a
    config.yaml inside.  An existing file is never replaced without --force.
    """
    from .starter import starter_zone, write_starter

    zone = starter_zone()  # once: the file and the line below say the same zone
    written = write_starter(path or state.config_path, force=force, zone=zone)
    click.echo(f"wrote {written}")
    # quoted for the shell as needed: `--config /home/me/Lab Digest/config.yaml` copied as shown read '/home/me/Lab'
    flag = "" if Path(written).resolve() == Path("config.yaml").resolve() else f" --config {shlex.quote(str(written))}"
    # a server's or a container's clock names no zone: the schedule's 08:00 would be UTC's
    utc = (" (and your time zone: it says timezone: UTC, this machine's, so the digest comes at 08:00 UTC)"
           if zone == "UTC" else "")
    click.echo(f"next: put your address{utc} in it, then `newsletter{flag} validate`, "
               f"`newsletter{flag} test-email --to YOU@EXAMPLE.ORG`, `newsletter{flag} send`")


#: Variables CI services set in every job (GitHub Actions, GitLab CI and most others set CI).
CI_VARIABLES = ("GITHUB_ACTIONS", "GITLAB_CI", "CI")


def _ci_job() -> str | None:
    """The CI variable set in this environment, if any: a CI job starts from a
    fresh checkout, without the state file an earlier job made."""
    return next((name for name in CI_VARIABLES if os.environ.get(name, "").strip().lower() not in ("", "0", "false")), None)


def _ci_state_note(path: Path, job: str) -> str:
    """A send in a CI job that had to make the state: every job of a workflow
    that does not keep the file makes it again, and then a subscriber on a
    schedule is new at every run and never due ("not due", nothing sent,
    forever), and one without a schedule gets the same papers at every run."""
    return (
        f"note: this send made a new state, {path.name} (${job} is set: a CI job?); it records what went to whom. "
        "A job that starts without it sends the same papers again, and subscribers on a schedule, new again, "
        "wait for their first slot at every run and get nothing: keep the file between runs "
        '(README "From GitHub Actions")'
    )


def _has_digests(outbox: Path) -> bool:
    """Whether a send wrote to ``outbox`` before: a test email's folder in it
    (README's first steps run test-email first) is none, and the first send's
    "nothing was mailed" went unsaid."""
    return outbox.is_dir() and next(outbox.glob("*.eml"), None) is not None


@cli.command("test-email")
@click.option("--to", "to", metavar="ADDRESS", help="Where to send the test digest (required).")
@click.option("--subscriber", metavar="EMAIL", callback=_one_subscriber,
              help="Send this subscriber's digest [default: a sample one].")
@click.option("--json", "as_json", is_flag=True, help="Print what was sent as JSON.")
@click.option("--now", callback=_parse_now, hidden=True, help="Pretend it is this time (ISO 8601): for tests.")
@pass_state
def test_email(state: _State, to: str, subscriber: str | None, as_json: bool, now: datetime) -> None:
    """Send one real digest to ADDRESS through the configured transport; record nothing.

    Checks the delivery settings and shows the email in your own mail
    client; the next `send` is the same as if this had not run.
    """
    if to is None:
        raise click.UsageError(f"Missing option '--to': the address the test digest goes to, your own "
                               f"(--to {_an_address(state)})")
    for advice in pipeline.port_advice(state.config):  # before it waits out a timeout on the port
        warn(str(advice))
    sent = pipeline.send_test_email(state.config, to, now=now, subscriber=subscriber, warn=warn)
    if sent.note:
        click.echo(sent.note, err=True)
    if as_json:
        emit_json(dataclasses.asdict(sent))
        return
    click.echo(str(sent))


def _an_address(state: _State) -> str:
    """An address to show in ``--to``'s example: the config's first
    subscriber's (most often the newcomer's own), else a placeholder."""
    try:
        subscribers = state.config.subscribers
    except NewsletterError:  # a broken config says so at the command that needs it
        return "YOU@EXAMPLE.ORG"
    return subscribers[0].email if subscribers else "YOU@EXAMPLE.ORG"


@cli.group("state")
def state_group() -> None:
    """Manage the state (papers seen, digests and schedules)."""


@state_group.command("migrate")
@click.option("--to", "to", required=True, metavar="URL", help="The PostgreSQL state: postgresql://user@host:port/db.")
@click.option(
    "--from", "source", metavar="PATH", type=click.Path(dir_okay=False), callback=_home_option,
    help="The SQLite state [default: the config's state: file, else newsletter-state.sqlite3 beside it].",
)
@pass_state
def state_migrate(state: _State, to: str, source: str | None) -> None:
    """Copy a SQLite state into an empty PostgreSQL database, so nothing is sent again.

    The password comes from PGPASSWORD or ~/.pgpass, never the URL.  Then set
    `state:` in the config to the URL.
    """
    from .state import copy_state

    config = state.config
    if source is None:
        source = str(config.base_dir / DEFAULT_STATE_FILE if config.state_is_shared else config.state_path)
    report = copy_state(source, to)
    click.echo(str(report))
    if config.state != to:
        # until then every send goes on writing the SQLite file, and the copy
        # falls behind: a later switch would send those digests' papers again
        # a running `run` keeps the state it opened (serve re-reads `state:` when the file changes)
        click.echo(f"next: set `state: {to}` in {state.config_path} and restart a running `newsletter run` "
                   f"(until then `send` and `run` go on with {source}, and the copy falls behind)")


@cli.command("schedule")
@click.option("--subscriber", metavar="EMAIL", callback=_one_subscriber, help="Only this subscriber.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--now", callback=_parse_now, hidden=True, help="Pretend it is this time (ISO 8601): for tests.")
@pass_state
def schedule_cmd(state: _State, subscriber: str | None, as_json: bool, now: datetime) -> None:
    """Each subscriber's last and next send time, in its own time zone."""
    rows = pipeline.schedules(state.config, now=now, only=subscriber, own_clock=_clock_read(click.get_current_context()))
    if as_json:
        emit_json({"subscribers": [r.to_json() for r in rows]})
        return
    fmt = lambda t: shown_time(t) if t else "never"  # noqa: E731
    for r in rows:
        when = "every send (no schedule)" if r.schedule is None else f"{r.schedule} ({r.timezone})"
        nxt = "next send" if r.schedule is None else (f"next {fmt(r.next_send)}" + (" (due now)" if r.due else ""))
        if r.schedule is None:
            nxt = "due at every send"
        if r.retry_at and not r.due:
            nxt += (f"; a failed digest is retried from {fmt(r.retry_at)}, or now by `newsletter send --subscriber "
                    f"{r.email}`")
        if r.held:
            nxt = (f"held: refused {r.failures} times ({r.last_error}); not retried until the address is fixed, "
                   f"or `newsletter send --subscriber {r.email}` tries it")
        if r.unsubscribed:
            nxt = f"unsubscribed {fmt(r.unsubscribed)}, no digest until re-subscribed"
        click.echo(f"{r.email}: {when}; last sent {fmt(r.last_sent)}; {nxt}")
    if subscriber is None and rows:
        click.echo(_schedule_summary(rows, fmt))


def _schedule_summary(rows: list, fmt: Callable) -> str:
    """The list at a glance, after its lines (2,500 of them on a mailing
    list): how many are due now, waiting, held or gone, and when the next
    digest goes out."""
    kinds = [
        (sum(r.due for r in rows), "due now"),
        (sum(bool(r.retry_at) and not r.due and not r.held for r in rows), "waiting after a failed delivery"),
        (sum(r.held for r in rows), "held"),
        (sum(bool(r.unsubscribed) for r in rows), "unsubscribed"),
    ]
    said = ", ".join(f"{n:,} {what}" for n, what in kinds if n)
    upcoming = [r.next_send for r in rows if r.next_send and not r.due and not r.unsubscribed and not r.held]
    soonest = f"; next digest {fmt(min(upcoming))}" if upcoming else ""
    return f"{len(rows):,} subscriber{'s' * (len(rows) != 1)}" + (f": {said}" if said else "") + soonest


@cli.command()
@click.option("--subscriber", metavar="EMAIL", callback=_one_subscriber,
              help="Only this address (one edited out of the config too), with each digest's papers.")
@click.option("--limit", type=click.IntRange(1), default=20, show_default=True, help="How many digests, newest first.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_state
def history(state: _State, subscriber: str | None, limit: int, as_json: bool) -> None:
    """The digests sent (or owed), newest first, with their Message-IDs; reads the state only."""
    email = _check_email(subscriber, state) if subscriber is not None else None
    found = pipeline.history(state.config, email=email, limit=limit)
    if as_json:
        iso = lambda t: t.isoformat() if t else None  # noqa: E731
        emit_json({
            "digests": [
                {"id": d.id, "email": d.subscriber, "status": d.status,
                 "created": iso(d.created.astimezone(found.zones[d.subscriber])),
                 "sent": iso(d.sent.astimezone(found.zones[d.subscriber]) if d.sent else None),
                 "attempts": d.attempts, "message_id": d.message_id, "last_error": d.last_error,
                 "unrecorded": d.unrecorded, "uncertain": d.uncertain,
                 "papers": [{"id": pid, "title": title} for pid, title in d.papers]}
                for d in found.digests
            ],
            "counts": found.counts,
        })
        return
    for d in found.digests:
        zone = found.zones[d.subscriber]
        when = shown_time(d.sent or d.created, zone)
        what = d.status
        if d.status != "sent":
            what += f" (created {d.created.astimezone(zone):%Y-%m-%d %H:%M}, {counted(d.attempts, 'attempt')}"
            what += f": {d.last_error})" if d.last_error else ")"
        if d.unrecorded:
            what += f" (not in the state yet: {d.unrecorded}; noted beside it, the next send records it)"
        if d.uncertain:
            what += f" ({_UNCERTAIN_SENT if d.status == 'sent' else _UNCERTAIN_OWED})"
        who = "" if email else f"  {d.subscriber}"
        click.echo(f"{when}  {what}{who}  {counted(len(d.papers), 'paper')}  {d.message_id}")
        if email:
            for _, title in d.papers:
                click.echo(f"    {_shown(title)}")
    if email and not found.digests:
        known = email.casefold() in {s.email.casefold() for s in state.config.subscribers}
        click.echo(f"{email}: no digest recorded" + ("" if known else " (and not a subscriber in the config)"))
    if not email:
        order = ("sent", "pending", "failed", "sending")
        total = sum(found.counts.values())
        parts = ", ".join(f"{found.counts.get(k, 0):,} {k}" for k in order)
        more = f" (the newest {len(found.digests)} above; --limit N for more)" if total > len(found.digests) else ""
        click.echo(f"digests: {parts}{more}")


#: What ``history`` says of a digest an earlier run may have delivered (see
#: DigestRecord.uncertain): sent, it may be in the subscriber's mailbox twice,
#: which only a warning at that send said.
_UNCERTAIN_SENT = "may have arrived twice: an earlier run may have delivered it, unconfirmed; same Message-ID"
_UNCERTAIN_OWED = "an earlier run may have delivered it, unconfirmed: it goes again as it was, same Message-ID"


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (a reverse proxy in front).")
@click.option("--port", type=click.IntRange(0, 65535), default=SERVE_PORT, show_default=True, help="Port (0: any free port).")
@pass_state
def serve(state: _State, host: str, port: int) -> None:
    """Serve the one-click unsubscribe and re-subscribe pages (RFC 8058) until Ctrl-C.

    Plain HTTP here; the emails' links point at web.base_url, the public
    HTTPS address of a web server that passes requests on to this one
    (under base_url's path, or with it cut off: both work).  The links are
    checked with the key in the variable web.secret_env names: the one
    `send` and `run` sign them with (the same env file for every unit).
    """
    from .web import serve as serve_web

    config = state.config
    base = config.web.base if config.web else ""
    serve_web(
        config,
        host=host,
        port=port,
        ready=lambda url: click.echo(f"Serving unsubscribe links for {base} on {url} (Ctrl-C to stop)"),
    )


def _check_email(email: str, state: _State) -> str:
    """EMAIL as the config holds it (an internationalised domain in its ASCII
    form); a subscriber's name in its place (`newsletter unsubscribe Kenji`,
    as `match --subscriber` says it) is told the address, where the config
    can be read to find it."""
    from .config import check_address

    try:
        return check_address(email, in_config=False)
    except ValueError as exc:
        try:
            by_name = state.config.named_so(email)
        except NewsletterError:  # a broken config is not this command's problem yet
            by_name = None
        raise click.BadParameter(f"{email!r} is a name: {by_name}" if by_name else str(exc),
                                 param_hint="EMAIL") from None


@cli.command()
@click.argument("email")
@click.option("--now", callback=_parse_now, hidden=True, help="Pretend it is this time (ISO 8601): for tests.")
@pass_state
def unsubscribe(state: _State, email: str, now: datetime) -> None:
    """Stop sending to EMAIL (as its unsubscribe link does), though it stays in the config."""
    email = _check_email(email, state)
    if pipeline.unsubscribe(state.config, email, now=now):
        click.echo(f"{email}: unsubscribed; `newsletter resubscribe {email}` undoes it")
    else:
        click.echo(f"{email}: already unsubscribed")
    if email.casefold() not in {s.email.casefold() for s in state.config.subscribers}:
        # allowed (it holds if the address is added later), but usually a typo
        # that leaves the real subscriber receiving mail
        click.echo(f"warning: {state.config_path}: {email} is not a subscriber in the config (a typo?)", err=True)


@cli.command()
@click.argument("email")
@pass_state
def resubscribe(state: _State, email: str) -> None:
    """Send to EMAIL again after it unsubscribed."""
    email = _check_email(email, state)
    if pipeline.resubscribe(state.config, email):
        click.echo(f"{email}: subscribed again")
    else:
        click.echo(f"{email}: was not unsubscribed; nothing to do")


class _Terminated(BaseException):
    """SIGTERM to a command that has no stop of its own (``unsubscribe``,
    ``match``, ``state migrate``...): raised where the command is, as Ctrl-C
    raises ``KeyboardInterrupt``, so it ends at once (a transaction under
    way is rolled back) with one line and exit 143.  Not a
    ``KeyboardInterrupt``: click would print a blank line for a ``^C``
    no one typed."""


@contextmanager
def _sigterm_raises() -> Iterator[None]:
    """While a command runs: SIGTERM raises :class:`_Terminated` in the main
    thread (``send``, ``run`` and the servers set their own stop inside);
    the handler found comes back after."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers live in the main thread (a script calling main() elsewhere)
        return

    def terminated(signum, frame) -> None:
        raise _Terminated()

    before = signal.signal(signal.SIGTERM, terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


def _closed_streams() -> None:
    """A standard stream whose descriptor was closed when the command started
    (``newsletter send >&-``, a supervisor that closes them) is None in
    ``sys``: the first line ``send`` wrote after delivering ended in a
    traceback and exit 1, read as failed deliveries.  It is written no more,
    as a stream that fails later; stdout's is said on stderr."""
    for name in ("stderr", "stdout"):
        if getattr(sys, name) is None:
            _failed(name, OSError(errno.EBADF, "closed when the command started"))


def main(argv: list[str] | None = None) -> None:
    """Run the CLI, turning library errors into one-line messages; ends in
    ``SystemExit`` with the exit code (callable from Python, e.g. a script)."""
    _closed_streams()
    try:
        with _sigterm_raises():
            rv = cli.main(args=argv, prog_name="newsletter", standalone_mode=False)
    except NewsletterError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        sys.exit(exc.exit_code)
    except _Terminated:
        click.echo("interrupted (SIGTERM)", err=True)
        sys.exit(128 + signal.SIGTERM)
    except click.exceptions.Abort:  # Ctrl-C (click has closed the terminal's ^C line)
        click.echo("interrupted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        click.echo(f"{where}{_os_problem(exc)}", err=True)
        sys.exit(2)
    sys.exit(rv if isinstance(rv, int) else 0)


def _os_problem(exc: OSError) -> str:
    """The system's word for a file's problem, or what it means where that
    misleads: a folder to make where something else is (``--out /dev/null``,
    a socket) read 'File exists', of a name the user gave as a folder's."""
    if isinstance(exc, FileExistsError) and exc.filename and not Path(exc.filename).is_dir():
        return "not a folder (something else of that name is there), where a folder is wanted"
    return exc.strerror or str(exc)


def entry_point(*, collector_paused: bool = False) -> NoReturn:
    """The ``newsletter`` executable: :func:`main`, then leave at once.

    ``collector_paused``: the caller turned the garbage collector off before
    importing this module; it is turned on again once the config is read
    (see :mod:`newsletter.__main__`), or here for a command that reads none.

    A normal exit tears the interpreter down: every module and object is
    freed one by one, some 50 ms after a big ``send`` that nobody waits for
    but the user.  Here the exit handlers run (logging, multiprocessing) and
    the output is flushed, then the process ends without that teardown.
    When another thread is still running, or a profiler or tracer is on
    (``python -m cProfile``, a debugger), it exits the normal way instead.
    """
    global _collector_paused
    _collector_paused = collector_paused
    try:
        main()
        code: str | int | None = 0
    except SystemExit as exc:
        code = exc.code
    _resume_collector()
    if threading.active_count() > 1 or sys.getprofile() or sys.gettrace():
        sys.exit(code)  # a thread to wait for, or a profiler or debugger that reports at exit
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:  # sys.exit("message"), as Python itself does it
        print(code, file=sys.stderr)
        status = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass  # a closed pipe: what was lost is lost either way
    os._exit(status)
