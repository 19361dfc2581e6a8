"""When each subscriber's digest is due.

A schedule string is parsed the moment the config is read, so a typo is a
config error with a line number rather than a surprise at 08:00 tomorrow.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAY_ALIASES = {d[:3]: d for d in WEEKDAYS} | {d: d for d in WEEKDAYS} | {
    "tue": "tuesday", "tues": "tuesday", "wed": "wednesday", "thu": "thursday",
    "thur": "thursday", "thurs": "thursday",
}
VALID_FORMS = (
    "'daily at HH:MM', 'weekly on <weekday>[, <weekday>...] at HH:MM', "
    "'every N hours', 'every N minutes'"
)

_DAILY = re.compile(r"^daily at (\d{1,2}):(\d{2})$")
_WEEKLY = re.compile(r"^weekly on ([a-z ,]+?) at (\d{1,2}):(\d{2})$")
_EVERY = re.compile(r"^every (\d+ )?(hour|hours|minute|minutes)$")


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule.

    ``kind`` is ``daily``, ``weekly`` or ``interval``; ``weekdays`` are
    0=Monday..6=Sunday; ``interval_minutes`` is set for ``every N ...``.
    """

    text: str
    kind: str
    hour: int = 0
    minute: int = 0
    weekdays: tuple[int, ...] = ()
    interval_minutes: int = 0

    def __str__(self) -> str:
        return self.text


def parse_schedule(text: str) -> Schedule:
    """Parse a schedule string; ``ValueError`` names the valid forms."""
    norm = " ".join(str(text).strip().lower().split())
    if m := _DAILY.match(norm):
        hour, minute = _clock(m.group(1), m.group(2), text)
        return Schedule(text, "daily", hour, minute)
    if m := _WEEKLY.match(norm):
        days = []
        for word in re.split(r"\s*,\s*|\s+and\s+|\s+", m.group(1).strip()):
            if not word:
                continue
            if word not in _DAY_ALIASES:
                raise ValueError(
                    f"unknown weekday {word!r} in schedule {text!r}; "
                    f"valid weekdays: {', '.join(WEEKDAYS)} (or their first three letters)"
                )
            day = WEEKDAYS.index(_DAY_ALIASES[word])
            if day not in days:
                days.append(day)
        hour, minute = _clock(m.group(2), m.group(3), text)
        return Schedule(text, "weekly", hour, minute, tuple(sorted(days)))
    if m := _EVERY.match(norm):
        n = int(m.group(1) or 1)
        unit = 60 if m.group(2).startswith("hour") else 1
        if n <= 0:
            raise ValueError(f"schedule {text!r}: the interval must be at least 1")
        return Schedule(text, "interval", interval_minutes=n * unit)
    raise ValueError(f"cannot parse schedule {text!r}; valid forms: {VALID_FORMS}")


def _clock(hh: str, mm: str, text: str) -> tuple[int, int]:
    hour, minute = int(hh), int(mm)
    if hour > 23 or minute > 59:
        raise ValueError(f"schedule {text!r}: {hh}:{mm} is not a time of day (00:00-23:59)")
    return hour, minute
