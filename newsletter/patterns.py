"""Regular expressions compiled on first use.

The modules that parse sources, configs and LaTeX hold some two hundred
module-level patterns, and Python compiles each one in pure Python when the
module is imported: 20 ms of every command's start.  A plain ``send`` uses
about a third of them (most are for LaTeX, feed and listing layouts it never
meets), so :func:`lazy` compiles a pattern the first time it is used.  After
that the pattern's methods are plain attributes of the stand-in: a use costs
what it costs on the compiled pattern.

Compiling them was still 13 ms of a ``send``'s start after the config is
read (the readers' and LaTeX patterns: Python's regular-expression parser
and code generator are pure Python), so the command keeps the code they
compile to in the config's ``cache:`` folder (:func:`keep_in`): the next
run hands that code to the engine as ``re.compile`` does (under 1 ms).
"""

from __future__ import annotations

import atexit
import hashlib
import marshal
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import AnyStr, cast

try:
    import _sre
    from re import _compiler, _parser  # type: ignore[attr-defined]
except ImportError:  # another interpreter's engine: patterns compile as usual
    _sre = None

#: ``re.compile`` itself (while :func:`lazy_while_importing` stands in for it).
_compile = re.compile

#: What a compiled pattern offers; the stand-in takes each from it on first use.
_ATTRIBUTES = (
    "search", "match", "fullmatch", "sub", "subn", "split", "findall", "finditer", "scanner",
    "pattern", "flags", "groups", "groupindex",
)


class _Lazy:
    """Stands in for ``re.compile(pattern, flags)`` until an attribute is asked for."""

    def __init__(self, pattern: str | bytes, flags: int) -> None:
        self._source = (pattern, flags)

    def __getattr__(self, name: str):
        # Only called for what the instance does not hold yet: the first use.
        # (Two threads at once compile two equal patterns: harmless.)
        if name.startswith("__") or name == "_source":  # copy and pickle ask on a bare instance: no recursion
            raise AttributeError(name)
        pattern, flags = self._source
        compiled = _kept_or_compiled(pattern, flags)
        for attribute in _ATTRIBUTES:
            setattr(self, attribute, getattr(compiled, attribute))
        return getattr(compiled, name)

    def __repr__(self) -> str:
        return f"lazy({self._source[0]!r}, {self._source[1]!r})"

    def __reduce__(self):
        return lazy, self._source


#: What may come before an XML or HTML document's first element: white space, processing
#: instructions (the XML declaration) and comments, any number of them, each taken whole and
#: never given back (an atomic group).  Written as ``(?:\s|<\?.*?\?>|<!--.*?-->)*`` a comment's
#: or a declaration's lazy body could also end at any later ``-->`` or ``?>``, and a head that
#: did not go on as wanted was tried every such way: 20 comments took 0.5 s, each one more
#: twice that, and a post's CDATA of 50 line-start declarations never finished.
XML_PROLOG = rb"(?>\s+|<\?.*?\?>|<!--.*?-->)*"
#: The same, with a document type declaration (its internal subset whole) among them.
#: Its name and identifiers are taken whole (``(?>...)``): given back a character at
#: a time to the ``\s*`` after them, a DOCTYPE never closed tried every split
#: (64 KB of spaces: 9 s).
XML_PROLOG_DOCTYPE = rb"(?>\s+|<\?.*?\?>|<!--.*?-->|<!DOCTYPE(?>[^\[>]*)(?:\[.*?\])?\s*>)*"


def lazy(pattern: AnyStr, flags: int | re.RegexFlag = 0) -> re.Pattern[AnyStr]:
    """``re.compile(pattern, flags)``, done when the pattern is first used.

    For module-level patterns used through their methods (``X.search(...)``),
    not passed to ``re.sub(X, ...)`` or checked with ``isinstance``."""
    return cast("re.Pattern[AnyStr]", _Lazy(pattern, int(flags)))


@contextmanager
def lazy_while_importing(package: str) -> Iterator[None]:
    """While the block imports ``package``, each pattern its modules compile
    (``re.compile`` at module or class level) is a :func:`lazy` one.

    PyYAML compiles its reader's check for unprintable characters at import
    (a class of every code point: 3 ms, 58 M instructions, a sixth of
    importing it), and its resolver's and constructor's patterns; a config
    read by libyaml's parser never uses the first, and a plain one few of
    the others.  Only calls made from ``package``'s own modules are changed
    (anything else imported meanwhile compiles as usual), and PyYAML uses
    its patterns through their methods only.  ``re.compile`` is what it was
    again when the block ends (blocks may nest); a package already imported
    is not imported again (nothing changes)."""
    prefix = package + "."
    before = re.compile  # (itself, or an outer block's stand-in)

    def compile_later(pattern, flags=0):
        caller = sys._getframe(1).f_globals.get("__name__", "")
        if isinstance(pattern, str | bytes) and (caller == package or caller.startswith(prefix)):
            return lazy(pattern, flags)
        return before(pattern, flags)

    re.compile = compile_later
    try:
        yield
    finally:
        re.compile = before


# -- compiled code kept between runs ----------------------------------------------------

#: The interpreters whose ``re._compiler.compile`` hands the engine what
#: :func:`_program` makes (its very steps); any other compiles as usual.
_KNOWN = ((3, 11), (3, 12), (3, 13))
#: The folder of kept patterns in the ``cache:`` folder.
KEPT = "patterns"
#: More programs than the package has patterns: a file grown by other
#: versions' patterns is started anew.
_MOST_KEPT = 2000


class _Kept:
    """The file of compiled patterns (see :func:`keep_in`) and what it holds."""

    def __init__(self) -> None:
        self.path: Path | None = None
        self.programs: dict[tuple, tuple] = {}  # (pattern, flags) -> (flags, code, groups, groupindex, indexgroup)
        self.made = 0  # programs compiled this run, not in the file yet
        self.saving = False  # the exit handler is registered
        self.checked = False  # a program this process made gave what re.compile gives


_kept = _Kept()


def _version() -> str:
    """What a kept program depends on besides its pattern: this interpreter's
    regular-expression compiler and engine."""
    return f"{sys.version}|{_sre.MAGIC}|{_sre.CODESIZE}|{sys.maxunicode}"


def keep_in(folder: Path | None) -> None:
    """From now on, lazy patterns (and :func:`compiled` ones) take their
    compiled code from a file in ``folder`` (one per interpreter version),
    and what they compile is added to it when the process exits; None:
    compile as usual.  The cache is only a speed-up: a folder that cannot be
    made or written, and a file that cannot be read, is damaged (its
    checksum) or is not the user's own, are compiling as before."""
    _kept.path, _kept.programs, _kept.made = None, {}, 0
    if folder is None or _sre is None or sys.version_info[:2] not in _KNOWN:
        return
    _kept.path = folder / (hashlib.sha1(_version().encode()).hexdigest()[:16] + ".marshal")
    try:
        with open(_kept.path, "rb") as file:
            from .files import own_private  # (files imports this module)

            if own_private(os.fstat(file.fileno())):  # (what the engine runs: no one else's)
                version, digest, payload = marshal.loads(file.read())
                if version == _version() and hashlib.sha1(payload).digest() == digest:
                    programs = marshal.loads(payload)
                    if isinstance(programs, dict) and len(programs) <= _MOST_KEPT:
                        _kept.programs = programs
    except Exception:  # noqa: BLE001 -- missing, unreadable, damaged (marshal raises many kinds): compile
        _kept.programs = {}
    if not _kept.saving:
        _kept.saving = True
        atexit.register(_save)


def compiled(pattern: AnyStr, flags: int | re.RegexFlag = 0) -> re.Pattern[AnyStr]:
    """``re.compile(pattern, flags)``, its code from the kept file (see
    :func:`keep_in`) when it holds it: for the package's patterns made from
    tables at first use (one of a few, not one per config or paper)."""
    return cast("re.Pattern[AnyStr]", _kept_or_compiled(pattern, int(flags)))


def _kept_or_compiled(pattern: str | bytes, flags: int) -> re.Pattern:
    """:func:`compiled`, without the flags' check.

    This compiles by the steps of ``re._compiler.compile`` (:func:`_program`),
    Python's own and private, on the interpreters where they are those
    (:data:`_KNOWN`); the first program a process makes must give the very
    pattern ``re.compile`` gives (patterns compare by their code), or
    nothing is kept from then on."""
    if _kept.path is None or flags & re.DEBUG:
        return _compile(pattern, flags)
    key = (pattern, flags)
    program = _kept.programs.get(key)
    if program is not None:
        try:
            return _sre.compile(pattern, *program)
        except Exception:  # noqa: BLE001 -- not code the engine takes: compile
            pass
    try:
        program = _program(pattern, flags)
        made = _sre.compile(pattern, *program)
        if not _kept.checked:
            if made != _compile(pattern, flags):
                raise ValueError("not re.compile's code")
            _kept.checked = True
    except Exception:  # noqa: BLE001 -- re.error (raised by re.compile as ever), or another compiler
        _kept.path = None  # nothing kept from here on
        return _compile(pattern, flags)
    _kept.programs[key] = program
    _kept.made += 1
    return made


def _program(pattern: str | bytes, flags: int) -> tuple:
    """What ``re.compile`` hands the engine for ``pattern`` (the steps of
    ``re._compiler.compile``), as plain values that ``marshal`` writes."""
    parsed = _parser.parse(pattern, flags)
    code = [int(op) for op in _compiler._code(parsed, flags)]
    groupindex = dict(parsed.state.groupdict)
    indexgroup: list[str | None] = [None] * parsed.state.groups
    for name, index in groupindex.items():
        indexgroup[index] = name
    return int(flags | parsed.state.flags), code, parsed.state.groups - 1, groupindex, tuple(indexgroup)


def _save() -> None:
    """Write the kept programs with those compiled this run (at exit, once)."""
    if _kept.path is None or not _kept.made:
        return
    from .files import write_atomic

    payload = marshal.dumps(_kept.programs)
    try:
        os.makedirs(_kept.path.parent, mode=0o700, exist_ok=True)
        write_atomic(_kept.path, marshal.dumps((_version(), hashlib.sha1(payload).digest(), payload)), mode=0o600)
        _kept.made = 0
    except OSError:
        pass  # no cache this run: the next compiles again
