"""newsletter.files: the lock a send or run holds, with real processes."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from newsletter.files import HeldLock, LockHeld, lock_file, unlock_file

HOLD = """
import sys
from pathlib import Path
from newsletter.files import HeldLock
held = HeldLock(Path(sys.argv[1]), "holder text\\n")
Path(sys.argv[1]).unlink()
print("ready", flush=True)
sys.stdin.readline()
"""


def test_a_removed_lock_file_still_held_keeps_a_newcomer_out_and_names_the_holder(tmp_path):
    """Another process holds the lock and its file was removed: taking the
    path makes a new file, yet the lock is refused, naming the holder's pid
    (its file, which would say more, is gone); once it ends, the lock is free."""
    lock = tmp_path / "state.lock"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(lock)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        with pytest.raises(LockHeld) as refused:
            HeldLock(lock, "newcomer\n")
        assert refused.value.holder == f"pid {holder.pid}, which holds it still though its lock file was removed"
    finally:
        holder.communicate("\n", timeout=30)
    taken = HeldLock(lock, "newcomer\n")
    assert lock.read_text() == "newcomer\n"
    taken.release()


def test_a_held_lock_refuses_a_newcomer_with_what_its_file_says(tmp_path):
    lock = tmp_path / "state.lock"
    holder = subprocess.Popen([sys.executable, "-c", HOLD.replace("Path(sys.argv[1]).unlink()", ""), str(lock)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        with pytest.raises(LockHeld) as refused:
            lock_file(lock, "newcomer\n")
        assert refused.value.holder == "holder text"
    finally:
        holder.communicate("\n", timeout=30)


def test_a_forked_child_does_not_keep_the_lock_its_parent_let_go(tmp_path):
    """A worker forked while the lock was held (``send`` forks one per core)
    must not hold it for its parent after the parent lets it go."""
    lock = tmp_path / "state.lock"
    held = HeldLock(lock, "parent\n")
    go_on_r, go_on_w = os.pipe()
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drops the file lock it shares, then lives on
        try:
            os.close(held.fd)
            os.write(ready_w, b"x")
            os.read(go_on_r, 1)
        finally:
            os._exit(0)
    try:
        assert os.read(ready_r, 1) == b"x"
        held.release()
        fd = lock_file(lock, "parent again\n")
        unlock_file(lock, fd)
    finally:
        os.write(go_on_w, b"x")
        os.waitpid(pid, 0)
        for fd in (go_on_r, go_on_w, ready_r, ready_w):
            os.close(fd)
