"""Shared fixtures: the real CLI as a subprocess, sample data, a pinned time zone."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"

os.environ["TZ"] = "UTC"
time.tzset()


def unwrapped(text: str) -> str:
    """The default ``digest.txt``'s text as a reader's mail app joins it: each
    soft break (a line ending in a space, RFC 3676's format=flowed; not the
    signature's "-- ") joined to the next line, and each list item's title
    continued on lines indented under it (hard breaks, four no-break spaces or more)
    joined to its first line: so a test can find a paragraph or a title whole."""
    joined = re.sub(r"(?<!^--) \n", " ", text.replace("\r\n", "\n"), flags=re.M)
    return re.sub(r"\n\u00a0{4,}(?=\S)", " ", joined)


def _libfaketime() -> str | None:
    for folder in ("/usr/lib/x86_64-linux-gnu/faketime", "/usr/lib/aarch64-linux-gnu/faketime", "/usr/lib/faketime"):
        path = os.path.join(folder, "libfaketime.so.1")
        if os.path.exists(path):
            return path
    return None


#: Debian's libfaketime (``faketime``), or None: a command run under it reads a clock the test sets.
LIBFAKETIME = _libfaketime()
FAKETIME_SITE = Path(__file__).resolve().parent / "faketime_site"


def clock_off(offset: str) -> dict:
    """The environment (for :func:`run_newsletter`) of a command whose clock
    is ``offset`` (``+10m``, ``-26h``) off the real one, as a worker on a
    machine whose clock is wrong: libfaketime, preloaded into Python itself
    (not the ``faketime`` wrapper); timeouts and waits stay real.  Skips
    the test where libfaketime is not installed."""
    if LIBFAKETIME is None:
        pytest.skip("needs Debian's faketime (libfaketime)")
    return faketime_env(FAKETIME=offset)


def faketime_env(**settings: str) -> dict:
    """The environment of a command under libfaketime (``settings``: its
    ``FAKETIME`` or ``FAKETIME_TIMESTAMP_FILE``), preloaded into Python itself
    (not the ``faketime`` wrapper, so signals reach it), the monotonic clock
    left real so timeouts and waits stay real.  ``time.sleep`` is mended
    there by ``tests/faketime_site`` (libfaketime fails it with EINVAL)."""
    assert LIBFAKETIME is not None
    return {
        "PYTHONPATH": f"{FAKETIME_SITE}{os.pathsep}{ROOT}",
        "LD_PRELOAD": LIBFAKETIME,
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        "FAKETIME_NO_CACHE": "1",
        **settings,
    }


def pytest_sessionstart(session) -> None:
    """The package's bytecode written once, before any test starts the
    command: hundreds of tests run it as a new Python, and where nothing
    writes ``__pycache__`` (``PYTHONDONTWRITEBYTECODE`` set, as in many
    containers; an editable install compiles nothing) each of those runs
    compiled every module of the package from source again: 1.3 s of a
    2.5 s ``validate`` on a loaded machine, half the suite's time.
    ``py_compile`` writes it whatever that setting says; the files are
    those Python itself would write (and .gitignore ignores)."""
    import compileall

    compileall.compile_dir(ROOT / "newsletter", quiet=1)


@dataclass
class Result:
    code: int
    out: str
    err: str


def command_env(env: dict | None = None) -> dict:
    """The environment the real command runs in: this checkout's package, UTC,
    and no ``NEWSLETTER_CONFIG`` of the machine's unless ``env`` gives one."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "TZ": "UTC", **(env or {})}
    if "NEWSLETTER_CONFIG" not in (env or {}):
        full_env.pop("NEWSLETTER_CONFIG", None)
    for name in ("GITHUB_ACTIONS", "GITLAB_CI", "CI"):  # the suite's own CI (.ci/run sets CI) is not the command's
        if name not in (env or {}):
            full_env.pop(name, None)
    return full_env


def run_newsletter(*args: str, cwd: Path, env: dict | None = None, timeout: float = 120) -> Result:
    """Run the real ``newsletter`` command (as ``python -m newsletter``) in ``cwd``."""
    proc = subprocess.run(
        [sys.executable, "-m", "newsletter", *args],
        cwd=cwd,
        env=command_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def start_newsletter(*args: str, cwd: Path, env: dict | None = None, **popen) -> subprocess.Popen:
    """The real command started and not waited for (a test signals it, kills
    it or runs a second beside it); its output piped as text unless ``popen``
    says otherwise."""
    options = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True, **popen}
    return subprocess.Popen([sys.executable, "-m", "newsletter", *args], cwd=cwd, env=command_env(env), **options)


def run_in_process(*args: str, cwd: Path, env: dict | None = None) -> Result:
    """The command's :func:`newsletter.cli.main` called in this process, as
    :func:`run_newsletter` runs it in another: in ``cwd``, with the
    environment :func:`command_env` gives, stdout and stderr captured (text
    streams over bytes, no terminal, as a pipe is), the exit code from its
    ``SystemExit``.  A new Python costs a third of a second or more a run
    (hundreds of runs in the suite); where a test asserts nothing about the
    process itself (signals, the exit at process level, stdio descriptors,
    the environment seen at start) this is the same command.  What a run
    changes in the process is put back: the environment, the working
    folder, the root logger's handlers and level (``basicConfig`` there
    adds the command's own; pytest's capture handlers are set aside for the
    run so it adds them as it does in a fresh process), the levels of the
    loggers the command sets, and the kept compiled patterns of its cache
    folder (written as its exit writes them, then none kept)."""
    import io
    import logging

    from newsletter import cli as command
    from newsletter import patterns

    loggers = [logging.getLogger(), *(logging.getLogger(name) for name in ("httpx", "psycopg.pool", "newsletter"))]
    levels = [logger.level for logger in loggers]
    handlers = logging.getLogger().handlers[:]
    environ, folder = dict(os.environ), os.getcwd()
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)
    err = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)
    logging.getLogger().handlers = []
    os.environ.clear()
    os.environ.update(command_env(env))
    time.tzset()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                command.main(list(args))
                code: object = 0
            except SystemExit as exc:
                code = exc.code
            if not isinstance(code, int):  # sys.exit("message") or sys.exit(None), as Python ends on them
                if code is not None:
                    print(code, file=sys.stderr)
                code = 0 if code is None else 1
    finally:
        patterns._save()  # what the process's exit does (atexit): the patterns it compiled kept in its cache folder
        patterns.keep_in(None)  # and the next test's process starts with none kept
        os.chdir(folder)
        os.environ.clear()
        os.environ.update(environ)
        time.tzset()
        logging.getLogger().handlers = handlers
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
    text = [stream.buffer.getvalue().decode("utf-8") for stream in (out, err)]  # type: ignore[attr-defined]
    return Result(code, text[0], text[1])


@pytest.fixture
def cli(tmp_path, request):
    """``cli("papers", "--json")`` runs the real command in a temporary folder:
    a process of its own, or in this one (:func:`run_in_process`) for the
    tests marked ``cli_in_process`` (a module's ``pytestmark``)."""
    runner = run_in_process if request.node.get_closest_marker("cli_in_process") else run_newsletter

    def run(*args: str, env: dict | None = None) -> Result:
        return runner(*args, cwd=tmp_path, env=env)

    return run


@pytest.fixture
def workdir(tmp_path):
    """A temporary folder with the sample exports in ``papers/``."""
    papers = tmp_path / "papers"
    papers.mkdir()
    for f in DATA.glob("hf-papers-*.txt"):
        (papers / f.name).write_bytes(f.read_bytes())
    return tmp_path


def stderr_until(proc: subprocess.Popen, text: str, timeout: float = 60) -> str:
    """What ``proc`` (started with ``stderr=PIPE``, text mode, not yet read) writes
    to stderr up to and including ``text``.  A signal's handler runs in the main
    thread when it next gets the CPU; on a loaded machine a delivery thread could
    otherwise take the server's next answer and start another message first,
    so a test waits for the handler's line before the server answers."""
    import select

    fd, seen = proc.stderr.fileno(), b""  # type: ignore[union-attr]
    while text.encode() not in seen:
        ready, _, _ = select.select([fd], [], [], timeout)
        assert ready, f"{text!r} never came: {seen!r}"
        chunk = os.read(fd, 65536)
        assert chunk, f"stderr ended without {text!r}: {seen!r}"
        seen += chunk
    return seen.decode()


def write_config(folder: Path, text: str, name: str = "config.yaml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


BASIC_CONFIG = """
sources:
  - type: hf-papers-text
    path: papers/
topics:
  diffusion:
    name: Diffusion models
    any: ["diffusion model*", "score-based"]
  optim:
    name: Optimisation
    any: ["SGD", "stochastic gradient", "optimi*"]
subscribers:
  - email: ada@example.org
    name: Ada Lovelace
    topics: [diffusion]
  - email: bob@example.org
    topics: [optim, diffusion]
    max_papers: 5
"""


@pytest.fixture
def http_server():
    """A real HTTP server on 127.0.0.1 serving recorded responses (tests/recorded_http.py)."""
    from recorded_http import RecordedServer

    with RecordedServer() as server:
        yield server


class HungLookups:
    """The lookups ``slow_dns`` holds: ``asked`` is set once one began, and
    ``hanging`` counts those that have not ended.  A call that returns while
    ``hanging`` is still above 0 gave its lookup up instead of waiting for it
    (the lookup hangs for a minute): what the tests assert, instead of a
    wall-clock bound a loaded machine can overrun."""

    HANG = 60.0

    def __init__(self) -> None:
        self.asked = threading.Event()
        self.released = threading.Event()
        self.hanging = 0
        self._lock = threading.Lock()

    def hang(self) -> None:
        with self._lock:
            self.hanging += 1
        self.asked.set()
        try:
            self.released.wait(self.HANG)
        finally:
            with self._lock:
                self.hanging -= 1


@pytest.fixture
def slow_dns(monkeypatch):
    """A resolver whose DNS server does not answer for names under .slow.test
    (the system's lookup, which neither httpx's timeout, smtplib's nor a
    socket's bounds, held until the test ends); other names resolve as usual.
    Yields the :class:`HungLookups`."""
    lookups, real = HungLookups(), socket.getaddrinfo

    def lookup(host, *args, **kwargs):
        name = host.decode("ascii", "replace") if isinstance(host, bytes) else host  # (an ASCII name goes as bytes)
        if isinstance(name, str) and name.endswith(".slow.test"):
            lookups.hang()
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return real(host, *args, **kwargs)

    for variable in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr(socket, "getaddrinfo", lookup)
    yield lookups
    lookups.released.set()


class FakeClock:
    """Seconds since the epoch that only move when told to (or when slept)."""

    def __init__(self, start: float = 1_717_747_200.0) -> None:  # 2024-06-07T08:00:00Z
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


# --------------------------------------------------------------------------- PostgreSQL


@pytest.fixture(scope="session")
def pg_server():
    """A real PostgreSQL server for the session (tests/pg_server.py).

    Skipped where PostgreSQL is not installed, except in CI (``CI`` set),
    where a missing server fails the tests instead of hiding them."""
    from pg_server import PostgresServer, find_bindir

    bindir = find_bindir()
    if bindir is None:
        message = "PostgreSQL is not installed (no initdb/pg_ctl via pg_config or /usr/lib/postgresql/*/bin)"
        if os.environ.get("CI"):
            pytest.fail(message + "; CI must install Debian's postgresql package")
        pytest.skip(message)
    server = PostgresServer(bindir)
    yield server
    server.stop()


@pytest.fixture
def pg_url(pg_server) -> str:
    """A fresh, empty database of its own for this test: its URL (no password in it)."""
    return pg_server.create_database()


@pytest.fixture(params=["sqlite", "postgres"])
def state_target(request, tmp_path):
    """The same test against each backend: a SQLite file path or a PostgreSQL URL."""
    if request.param == "sqlite":
        return tmp_path / "state.sqlite3"
    return request.getfixturevalue("pg_url")


def query(target, sql: str, args: tuple = ()) -> list[tuple]:
    """Run ``sql`` (``?`` placeholders) against a state's database, whichever backend."""
    import sqlite3

    if isinstance(target, str) and target.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(target) as con:
            return [tuple(r) for r in con.execute(sql.replace("?", "%s"), args).fetchall()]
    with sqlite3.connect(target) as con:
        return con.execute(sql, args).fetchall()


def sessions_left(url: str, within: float = 60.0) -> int:
    """How many server sessions other than its own are on ``url``'s database
    once none is left, or after ``within`` seconds.  A backend ends a moment
    after its client closed the connection, so a count asked at once saw the
    sessions just closed (a loaded machine's flake): asked again until it is
    0, on one connection of its own (a fresh one per ask left the previous
    ask's backend to be counted); a session left open never ends and fails
    the assertion after ``within``."""
    import psycopg

    ask = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
    deadline, tick = time.monotonic() + within, threading.Event()
    with psycopg.connect(url, autocommit=True) as admin:  # (autocommit: each ask reads the activity anew)
        while (left := admin.execute(ask).fetchone()[0]) and time.monotonic() < deadline:
            tick.wait(0.01)  # (polling the server: it has nothing to wait on)
    return left


@contextlib.contextmanager
def unwritable(path: Path):
    """``path`` (a file or a folder) made unwritable for this process: by
    ``chmod`` for a normal user, by the immutable flag (``chattr +i``) for
    root, whom permissions do not stop.  Skips where neither works."""
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            yield
        finally:
            path.chmod(mode)
        return
    if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not permitted here (needed to make a file read-only for root)")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


@contextlib.contextmanager
def immutable(path: Path):
    """``path`` marked immutable (``chattr +i``) for the block; skips where
    that is not permitted (not root, or a file system without the flag)."""
    try:
        made = subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode == 0
    except FileNotFoundError:
        made = False
    if not made:
        pytest.skip("chattr +i is not available or not permitted here")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def state_unwritable_said(path: Path) -> str:
    """What the state says of a file :func:`unwritable` made so: read-only
    for a normal user (``chmod``), immutable for root (``chattr +i``)."""
    if os.geteuid() != 0:
        return ("the state file is read-only for this user: `send` records there what it sends; "
                "make it writable (`chmod u+w`) or run as its owner")
    return ("the state file is marked immutable, so no one (root included) can write it: `send` records "
            f"there what it sends; clear the flag (`chattr -i {path}`)")


def terminated_once_said(proc: subprocess.Popen, text: str) -> tuple[str, str]:
    """SIGTERM ``proc`` (started with ``text=True`` pipes) once it has written
    ``text`` to stderr, and wait for it to exit: its stdout and whole stderr."""
    try:
        said = stderr_until(proc, text)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        return out, said + err
    finally:
        if proc.poll() is None:
            proc.kill()


def killed_writing(path: Path) -> Path:
    """The temporary file :func:`files.write_atomic` leaves when its process
    is killed (SIGKILL) between the write and the rename: a real process,
    killed at the fsync before the rename."""
    code = (
        "import os, signal, sys; from pathlib import Path; from newsletter.files import write_atomic\n"
        "os.fsync = lambda fd: os.kill(os.getpid(), signal.SIGKILL)\n"
        "write_atomic(Path(sys.argv[1]), b'half of it', durable=True)\n"
    )
    before = set(path.parent.iterdir())
    proc = subprocess.run([sys.executable, "-c", code, str(path)], env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    [left] = set(path.parent.iterdir()) - before
    assert left.name.startswith(f".{path.name}.") and left.name.endswith(".tmp") and not path.exists()
    return left


@contextlib.contextmanager
def serving_each(handle: Callable[[socket.socket], object]) -> Iterator[int]:
    """A TCP server on 127.0.0.1 that hands each connection, in turn, to
    ``handle`` (in a thread) and closes it after; yields its port.  For peers
    that misbehave as no server library can be made to: silence after
    STARTTLS, a reply dripped a byte at a time, a reset, a TLS alert, another
    protocol's banner."""
    with socket.create_server(("127.0.0.1", 0)) as server:

        def serve() -> None:
            while True:
                try:
                    conn, _ = server.accept()
                except OSError:
                    return  # the server closed: the test is over
                with conn:
                    handle(conn)

        threading.Thread(target=serve, daemon=True).start()
        yield server.getsockname()[1]


def arxiv_announcement(day: str, items: list[tuple[str, int, str, str]]) -> bytes:
    """One day's arXiv RSS announcement (as rss.arxiv.org/rss/cs.LG lists it):
    ``(id, version, title, abstract)`` each, announced on ``day``."""
    stamp = datetime.fromisoformat(day).strftime("%a, %d %b %Y 00:00:00 -0400")
    entries = "".join(
        f"<item><title>{title}</title><link>https://arxiv.org/abs/{pid}</link>"
        f"<description>arXiv:{pid}v{version} Announce Type: {'new' if version == 1 else 'replace'} \n"
        f"Abstract: {abstract}</description><guid isPermaLink=\"false\">oai:arXiv.org:{pid}v{version}</guid>"
        f"<category>cs.LG</category><pubDate>{stamp}</pubDate></item>"
        for pid, version, title, abstract in items
    )
    return (f"<?xml version='1.0' encoding='UTF-8'?><rss version=\"2.0\"><channel><title>cs.LG updates on arXiv.org"
            f"</title><link>http://rss.arxiv.org/rss/cs.LG</link><pubDate>{stamp}</pubDate>{entries}"
            "</channel></rss>").encode()


def feed_config(url: str, schedule: str, terms: str, delivery: str = "") -> str:
    """A config of one feed (arXiv's cs.LG announcement, as the test serves
    it at ``url``) and one subscriber, Europe/Berlin, on ``schedule``, to the
    topic ``ml`` of ``terms`` (its ``any:``); ``delivery`` is a whole section."""
    return f"""
timezone: Europe/Berlin
sources:
  - type: feed
    url: {url}
http:
  fresh_for: 0
{delivery}topics:
  ml:
    any: {terms}
subscribers:
  - email: ada@example.org
    topics: [ml]
    schedule: {schedule}
"""
