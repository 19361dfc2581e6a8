"""Regular expressions compiled on first use (newsletter/patterns.py)."""

from __future__ import annotations

import importlib
import re

import pytest

from newsletter.patterns import _Lazy, lazy


def test_a_lazy_pattern_is_compiled_at_its_first_use_and_answers_as_the_compiled_one():
    pattern = lazy(r"(\d+)-(\d+)", re.IGNORECASE)
    assert "search" not in vars(pattern)  # nothing compiled yet
    assert pattern.search("pages 12-34").groups() == ("12", "34")
    assert "search" in vars(pattern)  # from now on, the compiled pattern's own method
    assert pattern.sub(r"\2-\1", "12-34") == "34-12"
    assert [m.group() for m in pattern.finditer("1-2 3-4")] == ["1-2", "3-4"]
    assert pattern.pattern == r"(\d+)-(\d+)" and pattern.flags & re.IGNORECASE and pattern.groups == 2


def test_a_lazy_bytes_pattern_takes_bytes():
    assert lazy(rb"=[0-9A-F]{2}").findall(b"a=3Db=2E") == [b"=3D", b"=2E"]


@pytest.mark.parametrize("module", ["config", "fetching", "latex", "readers", "scheduling"])
def test_every_lazy_pattern_of_a_module_compiles(module):
    """A pattern a send never meets (a feed's layout, a LaTeX construct) is
    compiled at its first use, months later: each must compile now."""
    found = 0
    for value in vars(importlib.import_module(f"newsletter.{module}")).values():
        for item in value.values() if isinstance(value, dict) else [value]:
            if isinstance(item, _Lazy):
                assert isinstance(item.groups, int)  # compiles it (re.error otherwise)
                found += 1
    assert found >= 5
