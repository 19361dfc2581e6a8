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
    """The config imports PyYAML (when it first reads a text) with its
    import-time patterns deferred (the reader's unprintable-character class
    was 58 M instructions of every start); a fresh interpreter shows it, and
    safe_load still resolves and rejects as before."""
    script = (
        "import re, newsletter.config\nnewsletter.config._yaml()\nimport yaml\n"
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


# ---------------------------------------------------------------- compiled code kept between runs

from newsletter import patterns  # noqa: E402


@pytest.fixture
def kept(tmp_path, monkeypatch):
    """The kept patterns' folder, and the patterns compiled (rather than
    taken from the file) from now on."""
    compiled: list = []
    real = patterns._program

    def counted(pattern, flags):
        compiled.append(pattern)
        return real(pattern, flags)

    monkeypatch.setattr(patterns, "_program", counted)
    monkeypatch.setattr(patterns._kept, "checked", False)
    yield tmp_path / "cache" / patterns.KEPT, compiled
    patterns.keep_in(None)


def _package_lazies():
    modules = ("config", "fetching", "latex", "readers", "scheduling", "refusals", "rendering", "models", "matching")
    return [(p._source, p) for m in modules for p in _lazies(list(vars(importlib.import_module(f"newsletter.{m}")).values()))]


def test_a_second_run_takes_the_patterns_code_from_the_cache_and_they_are_re_compiles(kept):
    folder, compiled = kept
    sources = dict(_package_lazies())
    patterns.keep_in(folder)
    first = {source: patterns._kept_or_compiled(*source) for source in sources}
    assert len(compiled) == len(sources)  # nothing kept yet: each compiled
    patterns._save()  # (at the process's exit)
    assert [f.suffix for f in folder.iterdir()] == [".marshal"]
    compiled.clear()
    patterns.keep_in(folder)  # the next run
    again = {source: patterns._kept_or_compiled(*source) for source in sources}
    assert compiled == []  # the code came from the file
    for source, pattern in again.items():
        assert pattern == re.compile(*source) == first[source]  # patterns compare by their code
    latex_macro = patterns.compiled(r"(?<![A-Za-z])(?:geq|leq|neq)(?![A-Za-z])")
    assert latex_macro.sub("≥", "a geq b") == "a ≥ b" and compiled == [latex_macro.pattern]  # new: compiled


def test_lazy_patterns_answer_the_same_from_kept_code(kept):
    folder, compiled = kept
    for _ in range(2):
        patterns.keep_in(folder)
        date = lazy(r"(?P<month>jan|feb)\w*\s+(?P<day>\d{1,2})", re.IGNORECASE)
        assert date.search("on FEBRUARY 29th").groupdict() == {"month": "FEB", "day": "29"}
        assert date.groupindex == {"month": 1, "day": 2} and date.groups == 2 and date.flags & re.IGNORECASE
        assert lazy(rb"=[0-9A-F]{2}").findall(b"a=3Db=2E") == [b"=3D", b"=2E"]
        patterns._save()
    assert len(compiled) == 2  # the first run's two; the second took both from the file


def test_a_compiler_that_makes_other_code_than_re_compile_keeps_nothing(kept, monkeypatch):
    """The programs are made by the steps of Python's private
    ``re._compiler.compile``: should an interpreter's differ, the first
    program a process makes is not ``re.compile``'s, and nothing is kept."""
    folder, made = kept
    real = patterns._program
    monkeypatch.setattr(patterns, "_program", lambda pattern, flags: (flags | re.I, *real(pattern, flags)[1:]))
    patterns.keep_in(folder)
    first = patterns.compiled("ab+")
    assert first.fullmatch("abb") and not first.fullmatch("ABB")  # re.compile's pattern all the same
    assert patterns.compiled("c+").fullmatch("cc") and not patterns.compiled("c+").fullmatch("CC")
    patterns._save()
    assert not folder.exists() and made == ["ab+"]  # the one checked


@pytest.mark.parametrize("spoil", ["damaged", "cut short", "others may write it", "another interpreter's"])
def test_a_kept_file_damaged_or_writable_by_others_is_compiled_anew(kept, spoil):
    """The engine runs the kept code as given: a file another user could
    have written, or one damaged, is not used (nor an error)."""
    folder, compiled = kept
    source = (r"(\d+)-(\d+)", 0)
    patterns.keep_in(folder)
    patterns.compiled(*source)
    patterns._save()
    file, = folder.iterdir()
    data = file.read_bytes()
    if spoil == "damaged":  # one digit of the code changed: the checksum tells
        file.write_bytes(data[:-40] + bytes([data[-40] ^ 1]) + data[-39:])
    elif spoil == "cut short":
        file.write_bytes(data[: len(data) // 2])
    elif spoil == "others may write it":
        file.chmod(0o666)
    else:
        file.write_bytes(data.replace(sys.version.encode(), b"3.99.0 (elsewhere)"))
    compiled.clear()
    patterns.keep_in(folder)
    assert patterns.compiled(*source).fullmatch("12-34").groups() == ("12", "34")
    assert compiled == [source[0]]


def test_a_cache_folder_that_cannot_be_written_still_compiles(kept, tmp_path):
    _, compiled = kept
    (tmp_path / "a-file").write_text("not a folder\n")
    for _ in range(2):
        patterns.keep_in(tmp_path / "a-file" / patterns.KEPT)
        assert patterns.compiled(r"a+").fullmatch("aaa")
        patterns._save()  # nothing written, no error
    assert compiled == ["a+", "a+"]


def test_a_command_keeps_the_patterns_it_compiled_in_the_configs_cache_folder(tmp_path):
    """Only the patterns compiled after the config is read (its ``cache:``
    folder is known then): the sources' and LaTeX's in a send."""
    (tmp_path / "papers.txt").write_text(
        "Daily Papers\nSep 4\n\nA $\\beta$-VAE Title Here\n\n"
        "We study the $\\alpha$ of things. It works well in practice.\n", encoding="utf-8")
    (tmp_path / "config.yaml").write_text(
        "sources:\n  - type: hf-papers-text\n    path: papers.txt\ntopics:\n  t: {any: [things]}\n"
        "subscribers:\n  - email: ada@example.com\n    topics: [t]\ncache: here\n", encoding="utf-8")
    run = [sys.executable, "-m", "newsletter", "--config", str(tmp_path / "config.yaml"), "papers", "--json"]
    first = subprocess.run(run, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    file, = (tmp_path / "here" / patterns.KEPT).iterdir()
    assert oct(file.stat().st_mode & 0o777) == "0o600"
    written = file.stat().st_mtime_ns
    again = subprocess.run(run, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert again.stdout == first.stdout and "α" in first.stdout
    # nothing compiled the second time: the file is not written again
    assert file.stat().st_mtime_ns == written and list(file.parent.iterdir()) == [file]
