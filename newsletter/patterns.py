"""Regular expressions compiled on first use.

The modules that parse sources, configs and LaTeX hold some two hundred
module-level patterns, and Python compiles each one in pure Python when the
module is imported: 20 ms of every command's start.  A plain ``send`` uses
about a third of them (most are for LaTeX, feed and listing layouts it never
meets), so :func:`lazy` compiles a pattern the first time it is used.  After
that the pattern's methods are plain attributes of the stand-in: a use costs
what it costs on the compiled pattern.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import AnyStr, cast

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
        compiled = _compile(pattern, flags)
        for attribute in _ATTRIBUTES:
            setattr(self, attribute, getattr(compiled, attribute))
        return getattr(compiled, name)

    def __repr__(self) -> str:
        return f"lazy({self._source[0]!r}, {self._source[1]!r})"

    def __reduce__(self):
        return lazy, self._source


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
