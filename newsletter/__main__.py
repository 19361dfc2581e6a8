"""The ``newsletter`` command (the executable and ``python -m newsletter``).

The garbage collector is off while the modules and the config load: they
make hundreds of thousands of objects that live as long as the process and
nothing cyclic to free, and the collector's passes over them cost about a
tenth of a ``send``'s start (40 ms of 0.4 s for 2,000 subscribers).  Once
the config is read, what exists is frozen (never scanned again) and the
collector runs as usual (:func:`newsletter.cli.collect_again`).  The import
of :mod:`newsletter` itself loads nothing (its exports load on first use),
so everything the command imports loads after this point.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from contextlib import contextmanager

#: pydantic's switch for its plugins (``pydantic.plugin._loader``).
PLUGINS_OFF = "PYDANTIC_DISABLE_PLUGINS"


def main() -> None:
    gc.disable()
    with _no_pydantic_plugins():
        from .cli import entry_point

    entry_point(collector_paused=True)


@contextmanager
def _no_pydantic_plugins() -> Iterator[None]:
    """The config's models are built (at import) without looking for
    pydantic plugins: pydantic reads the entry points of every installed
    distribution for them at the first model, 2-4 ms of the command's
    start, and no plugin has anything to do with these models.  Only while
    the command imports its modules (the environment is as it was
    afterwards, for anything it starts), and not when the user set the
    variable."""
    if PLUGINS_OFF in os.environ:
        yield
        return
    os.environ[PLUGINS_OFF] = "__all__"
    try:
        yield
    finally:
        os.environ.pop(PLUGINS_OFF, None)


if __name__ == "__main__":
    main()
