"""Exponential back-off, the one rule every retry in the house follows.

Fetching a source (HTTP 429/5xx, a connection error), an SMTP delivery inside a
run, ``newsletter run`` after a tick whose deliveries failed, and a digest whose
run failed (its ``next_attempt``) all wait ``first`` after the first failure,
twice that after the second, and so on, never longer than ``most``.
"""

from __future__ import annotations


def backoff(first: float, failures: int, most: float) -> float:
    """Seconds to wait after the ``failures``-th failure in a row (1, 2, ...)."""
    return min(first * 2 ** max(failures - 1, 0), most)
