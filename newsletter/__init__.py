"""Paper Digest: topic-filtered e-mail digests of new research papers.

The pipeline, one module per stage: :mod:`readers` (parse) -> :mod:`matching`
-> rendering -> delivery, with :mod:`config` in front and :mod:`pipeline`
chaining them for the commands in :mod:`cli`.
"""

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
