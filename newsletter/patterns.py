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
from typing import AnyStr, cast

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
        pattern, flags = self._source
        compiled = re.compile(pattern, flags)
        for attribute in _ATTRIBUTES:
            setattr(self, attribute, getattr(compiled, attribute))
        return getattr(compiled, name)

    def __repr__(self) -> str:
        return f"lazy({self._source[0]!r}, {self._source[1]!r})"


def lazy(pattern: AnyStr, flags: int | re.RegexFlag = 0) -> re.Pattern[AnyStr]:
    """``re.compile(pattern, flags)``, done when the pattern is first used.

    For module-level patterns used through their methods (``X.search(...)``),
    not passed to ``re.sub(X, ...)`` or checked with ``isinstance``."""
    return cast("re.Pattern[AnyStr]", _Lazy(pattern, int(flags)))
