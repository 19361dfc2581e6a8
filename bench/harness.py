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

SMTP_SINK = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"


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
