"""Loaded (as ``sitecustomize``) only into the commands the tests run under
libfaketime (see ``conftest.faketime_env``); never part of the product.

Debian's libfaketime 0.9.10 with ``FAKETIME_DONT_FAKE_MONOTONIC`` fails every
``clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME)``, which is what Python's
``time.sleep`` calls: each sleep raised ``OSError: [Errno 22] Invalid
argument``.  A daemon under test that met a locked state (its 10 ms pauses
between tries) died with that bare line, about one full run in three under
load; a real machine never does.  A timed wait on an event keeps real time
under libfaketime and is interrupted by signals the same way.
"""

import threading
import time


def _sleep(seconds: float) -> None:
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    threading.Event().wait(seconds)


time.sleep = _sleep
