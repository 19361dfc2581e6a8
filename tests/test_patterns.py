"""Regular expressions compiled on first use (newsletter/patterns.py)."""

from __future__ import annotations

import copy
import importlib
import pickle
import re
import subprocess
import sys

import pytest

from newsletter.patterns import _Lazy, lazy, lazy_while_importing


def test_a_lazy_pattern_is_compiled_at_its_first_use_and_answers_as_the_compiled_one():
    pattern = lazy(r"(\d+)-(\d+)", re.IGNORECASE)
    assert "search" not in vars(pattern)  # nothing compiled yet
    assert pattern.search("pages 12-34").groups() == ("12", "34")
    assert "search" in vars(pattern)  # from now on, the compiled pattern's own method
    assert pattern.sub(r"\2-\1", "12-34") == "34-12"
    assert [m.group() for m in pattern.finditer("1-2 3-4")] == ["1-2", "3-4"]
    assert pattern.pattern == r"(\d+)-(\d+)" and pattern.flags & re.IGNORECASE and pattern.groups == 2


def test_a_lazy_pattern_copies_and_pickles_as_its_pattern_before_and_after_its_first_use():
    """copy and pickle ask a bare instance for its special methods: its
    stand-in for them looked up ``_source`` through itself, for ever."""
    for used in (False, True):
        pattern = lazy(r"a+b", re.IGNORECASE)
        if used:
            assert pattern.search("xAAb")
        for twin in (copy.copy(pattern), copy.deepcopy(pattern), pickle.loads(pickle.dumps(pattern))):
            assert twin.search("xAAb")[0] == "AAb" and twin.flags & re.IGNORECASE


def test_a_lazy_bytes_pattern_takes_bytes():
    assert lazy(rb"=[0-9A-F]{2}").findall(b"a=3Db=2E") == [b"=3D", b"=2E"]


@pytest.mark.parametrize(
    "module, least",
    [("config", 5), ("fetching", 5), ("latex", 5), ("readers", 5), ("scheduling", 5), ("refusals", 10),
     ("rendering", 4), ("models", 8), ("files", 2), ("signing", 2), ("matching", 2)],
)
def test_every_lazy_pattern_of_a_module_compiles(module, least):
    """A pattern a send never meets (a feed's layout, a LaTeX construct) is
    compiled at its first use, months later: each must compile now."""
    found = 0
    for item in _lazies(list(vars(importlib.import_module(f"newsletter.{module}")).values())):
        assert isinstance(item.groups, int)  # compiles it (re.error otherwise)
        found += 1
    assert found >= least


def _lazies(value):
    """The lazy patterns in ``value``, or in the dicts, tuples and lists it holds."""
    if isinstance(value, _Lazy):
        yield value
    elif isinstance(value, dict | tuple | list):
        for item in value.values() if isinstance(value, dict) else value:
            yield from _lazies(item)


def test_a_package_imported_lazily_gets_lazy_patterns_and_nothing_else_does(tmp_path, monkeypatch):
    """Only the package's own ``re.compile`` calls are deferred: a module it
    imports from elsewhere compiles as usual (it may pass its pattern to
    ``re.sub`` or check it with ``isinstance``), and ``re.compile`` is itself
    again afterwards."""
    package = tmp_path / "lazypkg"
    package.mkdir()
    (package / "__init__.py").write_text("import re\nimport lazyhelper\nfrom . import inner\nTOP = re.compile('a+')\n")
    (package / "inner.py").write_text("import re\n\nclass Reader:\n    CHECK = re.compile('[^a-z]', re.I)\n")
    (tmp_path / "lazyhelper.py").write_text("import re\nOUTSIDE = re.compile('b+')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    compile_before = re.compile
    with lazy_while_importing("lazypkg"):
        lazypkg = importlib.import_module("lazypkg")
    assert re.compile is compile_before
    assert isinstance(lazypkg.TOP, _Lazy) and isinstance(lazypkg.inner.Reader.CHECK, _Lazy)
    assert isinstance(sys.modules["lazyhelper"].OUTSIDE, re.Pattern)
    assert lazypkg.inner.Reader.CHECK.search("abc1").group() == "1" and lazypkg.TOP.fullmatch("aaa")


def test_pyyaml_compiles_its_patterns_on_first_use_and_still_finds_what_they_find():
    """The config imports PyYAML with its import-time patterns deferred (the
    reader's unprintable-character class was 58 M instructions of every
    start); a fresh interpreter shows it, and safe_load still resolves and
    rejects as before."""
    script = (
        "import re, newsletter.config, yaml\n"
        "from newsletter.patterns import _Lazy\n"
        "print(isinstance(yaml.reader.Reader.NON_PRINTABLE, _Lazy), re.compile.__module__ == 're')\n"
        "print(yaml.safe_load('a: [1, 2.5, true, 2024-01-02, ~, x]'))\n"
        "try:\n    yaml.safe_load('a: \\x01')\nexcept yaml.reader.ReaderError as exc:\n    print(exc.character)\n"
    )
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    assert r.stdout.splitlines() == [
        "True True",
        "{'a': [1, 2.5, True, datetime.date(2024, 1, 2), None, 'x']}",
        "1",  # the character's code
    ], r.stdout
