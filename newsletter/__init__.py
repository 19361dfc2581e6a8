"""Paper Digest: topic-filtered e-mail digests of new research papers.

The pipeline, one module per stage: :mod:`readers` (parse) -> :mod:`matching`
-> rendering -> delivery, with :mod:`config` in front and :mod:`pipeline`
chaining them for the commands in :mod:`cli`.

The names below are loaded on first use (PEP 562), so that importing a
submodule (``newsletter.cli``, as the command does) does not load pydantic and
the config's models before that module asks for them: the command turns the
garbage collector off first (see :mod:`newsletter.__main__`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import Config, load_config
    from .errors import (
        ConfigError,
        DeliveryError,
        InputError,
        NewsletterError,
        PermanentDeliveryError,
        Problem,
        StateError,
        TemplateError,
        TransientDeliveryError,
    )
    from .matching import Matcher, PaperMatch
    from .models import Paper

__version__ = "0.1.0"

#: Each name this package exports, and the submodule it lives in.
_EXPORTS = {
    "Config": "config",
    "load_config": "config",
    "ConfigError": "errors",
    "DeliveryError": "errors",
    "InputError": "errors",
    "NewsletterError": "errors",
    "PermanentDeliveryError": "errors",
    "Problem": "errors",
    "StateError": "errors",
    "TemplateError": "errors",
    "TransientDeliveryError": "errors",
    "Matcher": "matching",
    "PaperMatch": "matching",
    "Paper": "models",
}
__all__ = [
    "Config",
    "ConfigError",
    "DeliveryError",
    "InputError",
    "Matcher",
    "NewsletterError",
    "Paper",
    "PaperMatch",
    "PermanentDeliveryError",
    "Problem",
    "StateError",
    "TemplateError",
    "TransientDeliveryError",
    "load_config",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # once: the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
