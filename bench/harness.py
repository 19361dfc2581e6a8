"""What every benchmark module shares: the result table and Postfix's smtp-sink.

Kept apart from ``run.py`` so that the parts (``send_e2e.py``, ``workers.py``,
``memory.py``...) and the runner all import downward, never each other.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SMTP_SINK = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"


@dataclass(frozen=True)
class Measured:
    """One command as the user waits for it (see :func:`measure`)."""

    wall: float  # seconds, process start to exit
    rss_mb: float  # peak RSS of the command and its children (its send workers)
    code: int
    cpu: float  # user + system seconds, the command and its children
    out: str  # its stdout ("" when written to a file)
    err: str  # its stderr


#: Runs the command (argv[2:]; stdout to the file argv[1], if given) and prints
#: what :func:`measure` reads.  The command is forked from this small process,
#: not from the benchmark's: Linux keeps a process's RSS high-water mark across
#: exec, so a command forked from a benchmark process that has grown (the
#: ranking benchmarks load numpy and a model) would report the benchmark's size.
_MEASURE = (
    "import resource,subprocess,sys,time\n"
    "out=open(sys.argv[1],'wb') if sys.argv[1] else subprocess.PIPE\n"
    "t=time.perf_counter();p=subprocess.run(sys.argv[2:],stdout=out,stderr=subprocess.PIPE);w=time.perf_counter()-t\n"
    "r=resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "sys.stderr.buffer.write(p.stderr);sys.stdout.buffer.write(p.stdout or b'')\n"
    "print('\\n@@',w,r.ru_maxrss,p.returncode,r.ru_utime+r.ru_stime)\n"
)


def measure(cmd: list[str], cwd: Path, *, stdout: Path | None = None, timeout: float = 3600) -> Measured:
    """Run ``cmd`` (with this checkout's package, TZ=UTC) from a small wrapper
    process: wall time, peak RSS and CPU of the command and its children, its
    exit code and output (stdout into the file ``stdout`` when given)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TZ": "UTC"}
    proc = subprocess.run([sys.executable, "-c", _MEASURE, str(stdout or ""), *cmd], cwd=cwd, env=env,
                          capture_output=True, timeout=timeout)
    out, found, figures = proc.stdout.rpartition(b"\n@@ ")
    if not found:
        raise RuntimeError(f"no measurement: {proc.stderr[-2000:].decode(errors='replace')}")
    wall, rss_kb, code, cpu = figures.split()
    return Measured(float(wall), int(rss_kb) / 1024, int(code), float(cpu), out.decode(errors="replace"),
                    proc.stderr.decode(errors="replace"))


class Table:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str]] = []

    def add(self, measure: str, value: str, target: str = "", ok: bool | None = None) -> None:
        self.rows.append((measure, value, target, "" if ok is None else ("MET" if ok else "NOT MET")))
        print(f"  {measure}: {value}" + (f"  [{target}: {self.rows[-1][3]}]" if target else ""), file=sys.stderr, flush=True)

    def __str__(self) -> str:
        head = ("measure", "value", "target", "result")
        widths = [max(len(r[i]) for r in self.rows + [head]) for i in range(4)]
        line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
        return "\n".join([line(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [line(r) for r in self.rows])



def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sink:
    """Postfix's smtp-sink on 127.0.0.1 (started and stopped by the benchmark)."""

    def __init__(self) -> None:
        self.port = free_port()
        user = ["-u", "nobody"] if os.geteuid() == 0 else []  # smtp-sink refuses to run as root
        self.proc = subprocess.Popen([SMTP_SINK, *user, "-m", "512", f"127.0.0.1:{self.port}", "1024"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("smtp-sink did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
