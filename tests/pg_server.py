"""A real PostgreSQL server for the tests: ``initdb`` + ``pg_ctl`` in a temporary folder.

The binaries come from ``pg_config --bindir`` or ``/usr/lib/postgresql/*/bin``
(Debian's ``postgresql`` package; ``.ci/run`` installs it).  Where they are
missing the PostgreSQL tests are skipped, except in CI (``CI`` set), where
that is a failure: CI must never pass without them.

``initdb`` refuses to run as root, so as root the server runs as the
``postgres`` (or ``nobody``) user.  It listens on 127.0.0.1 on a free port
with password authentication (scram-sha-256) for TCP; the superuser's
password is in a ``.pgpass`` file named by ``PGPASSFILE``, the way a
deployment would keep it out of the config.  The server is tuned for tests
(no fsync): a test server, not a benchmark of durability.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

SUPERUSER = "digest_admin"
PASSWORD = "pg-test-secret-4711"
LIMITED_USER = "digest_limited"
LIMITED_PASSWORD = "pg-limited-secret-0815"


def find_bindir() -> Path | None:
    """The folder holding initdb/pg_ctl, or None."""
    candidates = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=10).stdout.strip()
            candidates.append(out)
        except (OSError, subprocess.SubprocessError):
            pass
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for folder in candidates:
        if folder and os.access(os.path.join(folder, "initdb"), os.X_OK) and os.access(
            os.path.join(folder, "pg_ctl"), os.X_OK
        ):
            return Path(folder)
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Bouncer:
    """PgBouncer (Debian's ``pgbouncer``) in front of ``server`` on a port of
    its own, pooling in ``mode`` (``transaction`` shares each server session
    among its clients); its port is in the ``.pgpass`` too."""

    def __init__(self, server: PostgresServer, mode: str, settings: str = "") -> None:
        """``settings``: more ``name = value`` lines for its ``[pgbouncer]`` section."""
        binary = shutil.which("pgbouncer") or ("/usr/sbin/pgbouncer" if os.access("/usr/sbin/pgbouncer", os.X_OK) else None)
        if binary is None:
            raise FileNotFoundError("pgbouncer is not installed")
        self.server, self.port = server, free_port()
        folder = server.root / f"bouncer-{self.port}"
        folder.mkdir()
        if server.user:
            entry = pwd.getpwnam(server.user)
            os.chown(folder, entry.pw_uid, entry.pw_gid)
        (folder / "users.txt").write_text(f'"{SUPERUSER}" "{PASSWORD}"\n')
        self.pidfile = folder / "pid"
        (folder / "pgbouncer.ini").write_text(
            f"[databases]\n* = host=127.0.0.1 port={server.port}\n[pgbouncer]\nlisten_addr = 127.0.0.1\n"
            f"listen_port = {self.port}\nunix_socket_dir =\nauth_type = plain\nauth_file = {folder}/users.txt\n"
            f"pool_mode = {mode}\nlogfile = {folder}/log\npidfile = {self.pidfile}\n"
            # libpq settings psycopg passes at the start that PgBouncer does not know
            "ignore_startup_parameters = extra_float_digits,options,tcp_keepalives_idle,tcp_keepalives_interval,"
            "tcp_keepalives_count,tcp_user_timeout\n" + settings
        )
        with server.pgpass.open("a") as f:
            f.write(f"127.0.0.1:{self.port}:*:{SUPERUSER}:{PASSWORD}\n")
        server._run(binary, "-d", str(folder / "pgbouncer.ini"))
        deadline = time.monotonic() + 30
        while True:  # (it daemonizes before it listens)
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def url(self, direct: str) -> str:
        """``direct`` (a URL of the server's) through this pooler."""
        return direct.replace(f":{self.server.port}/", f":{self.port}/")

    def stop(self) -> None:
        try:
            os.kill(int(self.pidfile.read_text()), signal.SIGTERM)
        except (OSError, ValueError):
            pass


class Standby:
    """A hot standby of ``server`` on a port of its own (``pg_basebackup -R``,
    streaming from it): it answers reads and refuses every write, as a read
    replica's URL given by mistake does.  Its port is in the ``.pgpass`` too."""

    def __init__(self, server: PostgresServer) -> None:
        self.server, self.port = server, free_port()
        self.data = server.root / f"standby-{self.port}"
        server._run(
            str(server.bindir / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(server.port), "-U", SUPERUSER,
            "-D", str(self.data), "-R", "-X", "stream", "-c", "fast", "--no-sync", env={"PGPASSWORD": PASSWORD},
        )
        # (a standby needs max_connections at least the primary's)
        options = (f"-p {self.port} -k {server.root} -c listen_addresses=127.0.0.1 -c fsync=off -c hot_standby=on "
                   f"-c max_connections=200 {server.settings}")
        server._run(
            str(server.bindir / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.data / "log"), "-w", "start"
        )
        with server.pgpass.open("a") as f:
            f.write(f"127.0.0.1:{self.port}:*:{SUPERUSER}:{PASSWORD}\n")

    def url(self, direct: str) -> str:
        """``direct`` (a URL of the primary's) on this standby."""
        return direct.replace(f":{self.server.port}/", f":{self.port}/")

    def promote(self) -> None:
        """Make this standby a primary (a failover): from now on it takes writes, at the same URL."""
        self.server._run(str(self.server.bindir / "pg_ctl"), "-D", str(self.data), "-w", "promote")

    def stop(self) -> None:
        try:
            self.server._run(str(self.server.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        except (OSError, subprocess.SubprocessError):
            pass


class PostgresServer:
    """One server for the test session; :meth:`create_database` gives each test its own."""

    def __init__(self, bindir: Path, settings: str = "", env: dict[str, str] | None = None) -> None:
        """``settings``: more ``-c name=value`` options for the server (a test's own server);
        ``env``: more environment for its commands (``LOCPATH`` for a locale built by a test)."""
        self.bindir = bindir
        self.settings = settings
        self.env = env or {}
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="digest-pg-"))
        self.data = self.root / "data"
        self.pgpass = self.root / "pgpass"
        self.user: str | None = None
        self.count = 0
        if os.geteuid() == 0:
            for name in ("postgres", "nobody"):
                try:
                    pwd.getpwnam(name)
                    self.user = name
                    break
                except KeyError:
                    continue
        self._start()

    def _run(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        kwargs: dict = {}
        if self.user:
            entry = pwd.getpwnam(self.user)
            kwargs = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
        return subprocess.run(
            args, capture_output=True, text=True, timeout=120, check=True, cwd=self.root,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "HOME": str(self.root), **self.env,
                 **(env or {})},
            **kwargs,
        )

    def _start(self) -> None:
        pwfile = self.root / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if self.user:
            entry = pwd.getpwnam(self.user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
            os.chown(pwfile, entry.pw_uid, entry.pw_gid)
        os.chmod(self.root, 0o700)
        self._run(
            str(self.bindir / "initdb"), "-D", str(self.data), "-U", SUPERUSER, f"--pwfile={pwfile}",
            "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync",
        )
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            f"-c synchronous_commit=off -c full_page_writes=off -c max_connections=200 {self.settings}"
        )
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.root / "log"), "-w", "start")
        # The password as a deployment keeps it: a .pgpass (mode 0600), named by PGPASSFILE.
        self.pgpass.write_text(
            f"127.0.0.1:{self.port}:*:{SUPERUSER}:{PASSWORD}\n127.0.0.1:{self.port}:*:{LIMITED_USER}:{LIMITED_PASSWORD}\n"
        )
        os.chmod(self.pgpass, 0o600)
        os.environ["PGPASSFILE"] = str(self.pgpass)
        self.admin(f"CREATE ROLE {LIMITED_USER} LOGIN PASSWORD '{LIMITED_PASSWORD}'")

    def url(self, database: str = "postgres", user: str = SUPERUSER) -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    def admin(self, sql: str, database: str = "postgres") -> None:
        import psycopg

        with psycopg.connect(self.url(database), autocommit=True) as con:
            con.execute(sql)

    def create_database(self) -> str:
        """A new, empty database owned by the superuser; returns its URL (no password in it)."""
        self.count += 1
        name = f"test_{self.count}"
        self.admin(f"CREATE DATABASE {name}")
        return self.url(name)

    def restart(self) -> None:
        """Stop (every session ends, as a minor upgrade or a failover ends
        them) and start again on the same port and data."""
        self._run(
            str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-l", str(self.root / "log"), "-w", "restart"
        )

    def stop(self) -> None:
        try:
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        except (OSError, subprocess.SubprocessError):
            pass
        shutil.rmtree(self.root, ignore_errors=True)
