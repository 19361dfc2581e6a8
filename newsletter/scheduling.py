"""When each subscriber's digest is due.

A schedule string is parsed the moment the config is read, so a typo is a
config error with a line number rather than a surprise at 08:00 tomorrow.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from .patterns import lazy

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAY_ALIASES = {d[:3]: d for d in WEEKDAYS} | {d: d for d in WEEKDAYS} | {
    "tue": "tuesday", "tues": "tuesday", "wed": "wednesday", "thu": "thursday",
    "thur": "thursday", "thurs": "thursday",
}
VALID_FORMS = (
    "'daily at HH:MM', 'weekly on <weekday>[, <weekday>...] at HH:MM', "
    "'every N hours', 'every N minutes'"
)

_DAILY = lazy(r"^daily at (\d{1,2}):(\d{2})$")
_WEEKLY = lazy(r"^weekly on ([a-z ,]+?) at (\d{1,2}):(\d{2})$")
_EVERY = lazy(r"^every (\d+ )?(hour|hours|minute|minutes)$")
#: Longest interval: a year (a longer one is a typo, and runs past the calendar).
MAX_INTERVAL_MINUTES = 366 * 24 * 60


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
                meant = _respelt(norm, word) or _meant(norm)
                raise ValueError(
                    f"unknown weekday {word!r} in schedule {text!r}; "
                    + (f"did you mean {meant!r}? " if meant else "")
                    + f"valid weekdays: {', '.join(WEEKDAYS)} (or their first three letters)"
                )
            day = WEEKDAYS.index(_DAY_ALIASES[word])
            if day not in days:
                days.append(day)
        hour, minute = _clock(m.group(2), m.group(3), text)
        return Schedule(text, "weekly", hour, minute, tuple(sorted(days)))
    if m := _EVERY.match(norm):
        digits = (m.group(1) or "1").strip()
        unit = 60 if m.group(2).startswith("hour") else 1
        n = int(digits) if len(digits) <= 12 else MAX_INTERVAL_MINUTES + 1  # no int() of a 10,000-digit string
        if n <= 0:
            raise ValueError(f"schedule {text!r}: the interval must be at least 1")
        if n * unit > MAX_INTERVAL_MINUTES:
            raise ValueError(
                f"schedule {text!r}: the interval is longer than a year "
                f"(at most {MAX_INTERVAL_MINUTES // 60} hours or {MAX_INTERVAL_MINUTES} minutes)"
            )
        return Schedule(text, "interval", interval_minutes=n * unit)
    if _CRON.match(norm):
        meant = _cron_meant(norm)
        raise ValueError(f"schedule {text!r} is a cron line's time, which schedule: does not read; "
                         + (f"did you mean {meant!r}? " if meant else "") + f"valid forms: {VALID_FORMS}")
    period = _period_hint(norm)
    meant = None if period else _meant(norm)  # ('biweekly on monday at 9' is no weekly schedule)
    untimed = None if meant or period else _untimed(norm)
    dayless = None if meant or period or untimed else _dayless(norm)
    raise ValueError(f"cannot parse schedule {text!r}; "
                     + (f"did you mean {meant!r}? " if meant else "")
                     + (f"it names no {'day or ' if '<weekday>' in untimed else ''}time of day: write {untimed!r} "
                        f"with the {'day and ' if '<weekday>' in untimed else ''}time; " if untimed else "")
                     + (f"it names no day of the week: write {dayless!r} with the day; " if dayless else "")
                     + (f"{period}; " if period else "")
                     + ("a schedule holds one time of day (two digests a day: 'every 12 hours', at 00:00 and "
                        "12:00 in its zone); " if len(re.findall(r"\d{1,2}:\d{2}", norm)) > 1 else "")
                     + f"valid forms: {VALID_FORMS}")


def _respelt(norm: str, word: str) -> str | None:
    """``norm`` with the misspelt weekday ``word`` ('mondya') as the one it is
    nearest, when that schedule parses; the free-form guess dropped it
    ('weekly on mondya, thu at 09:00': 'weekly on thursday at 09:00')."""
    close = difflib.get_close_matches(word, WEEKDAYS, n=1, cutoff=0.7)
    if not close:
        return None
    respelt = re.sub(rf"\b{re.escape(word)}\b", close[0], norm, count=1)
    try:
        parse_schedule(respelt)
    except ValueError:
        return None
    return respelt


def _period_hint(norm: str) -> str | None:
    """What to write for a period no form names ('every 2 days',
    'biweekly', 'monthly'): the nearest weekly form took 'biweekly on monday
    at 09:00' for 'weekly on monday at 09:00', twice the digests meant."""
    if m := re.search(r"\bevery (\d+|one|two|other|second) days?\b", norm):
        return ("days are not a unit: write 'daily at HH:MM'" if m[1] in ("1", "one") else
                "no form skips days: 'daily at HH:MM' every day, or 'weekly on <weekday>, <weekday> at HH:MM' "
                "on the days you choose")
    if re.search(r"\b(bi-?weekly|fortnightly|every (other|\d+|two|second) weeks?)\b", norm) \
            and not re.search(r"\bevery (1|one) weeks?\b", norm):
        return "no form skips weeks: 'weekly on <weekday> at HH:MM' sends every week"
    if re.search(r"\b(monthly|every (\d+ |one |other )?months?)\b", norm):
        return "no form counts months: 'weekly on <weekday> at HH:MM' is the longest that keeps a day and a time"
    if re.search(r"\bevery (1 |one )?weeks?\b", norm):
        return "a week is not a unit: write 'weekly on <weekday> at HH:MM'"
    return None


def _untimed(norm: str) -> str | None:
    """The form a schedule naming days but no time takes ('every monday',
    'weekdays', 'daily'), with ``HH:MM`` for the time: the message listed
    the forms and left the user to see that the time was what was missing."""
    if re.search(r"\d", norm):
        return None
    days = _days_named(norm)
    if days is None:
        return None
    if days:
        return "daily at HH:MM" if len(days) == 7 else f"weekly on {', '.join(days)} at HH:MM"
    if re.fullmatch(r"(every ?week|each week|weekly|week)", norm):
        return "weekly on <weekday> at HH:MM"
    return "daily at HH:MM" if re.fullmatch(r"(every ?day|each day|daily|day)", norm) else None


def _dayless(norm: str) -> str | None:
    """The form a weekly schedule with a time but no day takes ('weekly at
    08:00', 'every week at 9am' -> 'weekly on <weekday> at 08:00'): it got
    the bare list of forms, where the one without a time said what was
    missing.  No day is guessed."""
    m = re.fullmatch(r"(?:weekly|every ?week|each week|once a week)\b(.*)", norm)
    if m is None or _days_named(norm):
        return None
    daily = _meant(f"daily{m[1]}")
    return daily.replace("daily", "weekly on <weekday>", 1) if daily and daily.startswith("daily at") else None


def _days_named(norm: str) -> list[str] | None:
    """The weekdays ``norm`` names ('mondays', 'thu', 'weekdays', 'weekends'),
    in week order.  A range is every day in it ('mon-fri', 'monday to friday',
    'fri through sun'), and days after 'except' (or 'but', 'excl.', 'save',
    'without') are left out ('weekdays except friday'): read word by word,
    'monday to friday' was offered as 'weekly on monday, friday', the two ends
    only, a schedule that validates and sends on two days a week.  Before an
    exception, 'daily' ('every day', 'each day', 'all week') is all seven days:
    'daily except sunday at 8am' was offered as 'daily at 08:00', Sunday and
    all.  None when unsure: a negation not understood ('daily (no sundays)'
    was offered as 'weekly on sunday', the opposite days), or an exception
    that leaves no day; a guess must never name a day the user excluded."""
    kept, *dropped = _EXCEPT.split(norm, maxsplit=1)
    if any(_NEGATION.search(part) for part in (kept, *dropped)):
        return None
    if not dropped:
        return sorted(_days_in(kept), key=WEEKDAYS.index)
    left_out = list(WEEKDAYS) if _EVERY_DAY.search(dropped[0]) else _days_in(dropped[0])
    named = list(WEEKDAYS) if _EVERY_DAY.search(kept) else _days_in(kept)
    days = sorted((d for d in named if d not in left_out), key=WEEKDAYS.index)
    return days or None


#: What leaves days out of the ones named before it: 'weekdays except friday', 'every day but sunday'.
_EXCEPT = lazy(r"\b(?:except|but not|but|excluding|apart from|other than|save|without)\b|\bexcl\b\.?")
#: A negation :data:`_EXCEPT` does not read ('daily (no sundays)', 'not on fridays', "don't send on monday"):
#: its days would be taken as the ones to send on.
_NEGATION = lazy(r"\b(?:no|not|never|none|nor|minus|sans|skip\w*|exclu\w*|except\w*|excl|besides|off)\b|n't\b")
#: Every day of the week, as written before an exception: 'daily except sunday', 'every day but sunday'.
_EVERY_DAY = lazy(r"\b(?:daily|every ?day|each day|all week)\b")
#: Two words joined as a range, as 'mon-fri', 'monday – friday', 'monday to friday', 'mon thru fri'.
_RANGE = lazy(r"([a-z]+)\s*(?:-|\u2013|\u2014|\bto\b|\bthrough\b|\bthru\b|\btill\b|\buntil\b)\s*([a-z]+)")


def _days_in(text: str) -> list[str]:
    """The weekdays ``text`` names, a range of two weekdays as every day in it."""
    days: list[str] = []

    def expand(m: re.Match[str]) -> str:
        first, last = _day_of(m[1]), _day_of(m[2])
        if first is None or last is None:
            return m[0]
        start, span = WEEKDAYS.index(first), (WEEKDAYS.index(last) - WEEKDAYS.index(first)) % 7
        days.extend(WEEKDAYS[(start + k) % 7] for k in range(span + 1))
        return " "

    for word in re.findall(r"[a-z]+", _RANGE.sub(expand, text)):
        day = _day_of(word)
        days += (WEEKDAYS[:5] if word in ("weekday", "weekdays")
                 else WEEKDAYS[5:] if word in ("weekend", "weekends") else (day,) if day else ())
    return list(dict.fromkeys(days))


def _day_of(word: str) -> str | None:
    """The weekday ``word`` names, plural or short ('mondays', 'thu'), or None."""
    return _DAY_ALIASES.get(word) or _DAY_ALIASES.get(word.removesuffix("s"))


#: Five cron fields (minute hour day-of-month month day-of-week), as a crontab line starts.
_CRON = lazy(r"^[\d*/,-]+ [\d*/,-]+ [\d*/,?l-]+ [\d*/,a-z-]+ [\d*/,a-z#?l-]+$")


def _cron_days(field: str) -> list[str] | None:
    """The weekdays of a cron day-of-week field (0 and 7 are Sunday; mon-fri)."""
    days: list[int] = []
    for part in field.split(","):
        ends = [(WEEKDAYS.index(_DAY_ALIASES[x]) + 1) % 7 if x in _DAY_ALIASES else int(x) if x.isdigit() else -1
                for x in part.split("-")]
        if len(ends) > 2 or any(not 0 <= e <= 7 for e in ends):
            return None
        days += range(ends[0], ends[-1] + 1) if ends[-1] >= ends[0] else [*range(ends[0], 8), *range(0, ends[-1] + 1)]
    return [d for d in WEEKDAYS if (WEEKDAYS.index(d) + 1) % 7 in {x % 7 for x in days}]


def _cron_meant(norm: str) -> str | None:
    """The schedule a crontab time means (a cron user writes the line they
    know): '0 8 * * 1-5' -> 'weekly on monday, ... at 08:00', '*/30 * * * *'
    -> 'every 30 minutes'.  None for what no form says (days of the month)."""
    minute, hour, mday, month, wday = norm.split()
    if mday != "*" or month != "*":
        return None
    if wday == "*" and hour == "*" and (m := re.fullmatch(r"\*/(\d+)", minute)):
        return f"every {m[1]} minutes"
    if wday == "*" and minute.isdigit() and (m := re.fullmatch(r"\*(?:/(\d+))?", hour)):
        return f"every {m[1]} hours" if m[1] else "every hour"
    if not (minute.isdigit() and hour.isdigit() and int(minute) < 60 and int(hour) < 24):
        return None
    at = f"at {int(hour):02d}:{int(minute):02d}"
    days = WEEKDAYS if wday in ("*", "?") else _cron_days(wday)
    if not days:
        return None
    return f"daily {at}" if len(days) == 7 else f"weekly on {', '.join(days)} {at}"


#: A time of day as people write it: 8am, 8 am, 8:30, 8.30, 20h, 8:30 p.m.
_SAID_TIME = lazy(r"(?<![\d:])(\d{1,2})(?:[:.h](\d{2}))?\s*(a\.?m\.?|p\.?m\.?|h\b|o'?clock)?(?![\d:])")


#: '08:00:00' (a time with its seconds) and '0800' (a time of four digits, 00:00-23:59).
_SECONDS_OR_NO_COLON = lazy(r"(?<![\d:])(?:(\d{1,2}):(\d{2}):00|([01]\d|2[0-3])([0-5]\d))(?![\d:])")


def _meant(norm: str) -> str | None:
    """The schedule a free-form one means, when it names days (or 'daily',
    'every day') and a time: 'mondays 8am' -> 'weekly on monday at 08:00'.
    An interval as people write it gets its form too: 'hourly' -> 'every
    hour', 'every 6 hrs' -> 'every 6 hours', 'twice a day' -> 'every 12 hours'.
    None when unsure (no time, or no day)."""
    if (every := _said_interval(norm)) is not None:
        return every
    if re.search(r"\b(hours?|minutes?|mins?)\b", norm):
        return None
    days = _days_named(norm)
    if days is None:
        return None
    # seconds, as an ISO time or a crontab-minded newcomer writes it ('08:00:00'), and a time
    # without its colon ('0800'): neither was offered a form
    norm = _SECONDS_OR_NO_COLON.sub(lambda m: f"{m[1] or m[3]}:{m[2] or m[4]}", norm)
    said = [m for m in _SAID_TIME.finditer(norm) if m.group(2) or m.group(3)] or list(_SAID_TIME.finditer(norm))
    # a time alone ('08:00', 'at 8am'), as a newcomer writes "every morning at eight", is a daily one
    alone = len(said) == 1 and re.fullmatch(r"(at)?", _SAID_TIME.sub("", norm, count=1).strip()) is not None
    daily = alone or re.search(r"\b(daily|every ?day|each day)\b", norm) is not None
    if len(said) != 1 or not (days or daily):
        return None
    hour, minute, suffix = int(said[0].group(1)), int(said[0].group(2) or 0), (said[0].group(3) or "").replace(".", "")
    if suffix in ("am", "pm") and not 1 <= hour <= 12:
        return None
    if suffix == "pm" and hour != 12:
        hour += 12
    elif suffix == "am" and hour == 12:
        hour = 0
    if hour > 23 or minute > 59:
        return None
    at = f"at {hour:02d}:{minute:02d}"
    if days:
        return f"daily {at}" if len(days) == 7 else f"weekly on {', '.join(days)} {at}"
    return f"daily {at}"


_INTERVAL_SAID = lazy(r"^(?:every|each)\s*(\d+)?\s*(h|hr|hrs|hour|hours|m|min|mins|minute|minutes)$")
_PER_DAY = {"hourly": "every hour", "every hour": "every hour", "twice daily": "every 12 hours",
            "twice a day": "every 12 hours", "four times a day": "every 6 hours", "every half hour": "every 30 minutes",
            "half-hourly": "every 30 minutes", "every minute": "every minute"}


def _said_interval(norm: str) -> str | None:
    """The ``every N hours/minutes`` form an interval written otherwise means."""
    if norm in _PER_DAY:
        return _PER_DAY[norm]
    if (m := _INTERVAL_SAID.match(norm)) is None:
        return None
    unit = "hour" if m.group(2).startswith("h") else "minute"
    n = int(m.group(1) or 1) if len(m.group(1) or "") <= 6 else 0
    if n == 0:
        return None
    return f"every {unit}" if n == 1 else f"every {n} {unit}s"


def _clock(hh: str, mm: str, text: str) -> tuple[int, int]:
    hour, minute = int(hh), int(mm)
    if hour > 23 or minute > 59:
        raise ValueError(f"schedule {text!r}: {hh}:{mm} is not a time of day (00:00-23:59)")
    return hour, minute


# --------------------------------------------------------------------------- slots

import bisect  # noqa: E402
import functools  # noqa: E402
from datetime import UTC, date, datetime, time, timedelta, tzinfo  # noqa: E402
from zoneinfo import ZoneInfo  # noqa: E402

#: "Never": what :func:`next_slot` answers when the next slot would fall past
#: the end of the calendar (a last send recorded at 9999-12-31).
NEVER = datetime.max.replace(tzinfo=UTC)
#: A last digest (or first sight) recorded more than this after the clock was
#: recorded by a clock that was ahead (a bad RTC, a VM restored): the
#: subscriber is due at once (its slots start again from that digest), or
#: nothing would be due until then (a year, say).  A smaller step back holds
#: it until the slot after the record, never sending twice a day.
CLOCK_BEHIND = timedelta(days=1)


def clock_was_ahead(recorded: datetime, now: datetime) -> bool:
    """Whether ``recorded`` lies more than :data:`CLOCK_BEHIND` after ``now``."""
    return recorded - now > CLOCK_BEHIND  # (now + a day overflows at the end of the calendar)


def next_slot(schedule: Schedule, zone: ZoneInfo, after: datetime) -> datetime:
    """The first slot strictly after ``after`` (an aware datetime), as UTC;
    :data:`NEVER` when that is past year 9999 (it never raises for a schedule
    :func:`parse_schedule` accepted).

    Daily and weekly slots are wall-clock times in the subscriber's zone: a
    slot in the hour skipped when clocks go forward happens at the same
    instant an hour "later" on the wall (no day is skipped), and a slot in the
    hour repeated when clocks go back happens once (the first time).
    ``every N minutes/hours`` slots are aligned to local midnight when N
    divides a day (never two closer than N: see :func:`_day_slots`),
    otherwise they are N minutes apart from ``after``.
    """
    try:
        return _next_slot(schedule, zone, after)
    except (OverflowError, ValueError):  # past datetime.max: in no zone does it come
        return NEVER


def _next_slot(schedule: Schedule, zone: ZoneInfo, after: datetime) -> datetime:
    local = after.astimezone(zone)
    if schedule.kind == "interval":
        step = schedule.interval_minutes
        if (24 * 60) % step:
            return (after + timedelta(minutes=step)).astimezone(UTC)
        day = local.date()
        for offset in range(0, 3):
            slots = _day_slots(day + timedelta(days=offset), step, zone)
            at = bisect.bisect_right(slots, after)
            if at < len(slots):
                return slots[at]
        raise AssertionError("unreachable: a slot exists within two days")
    for offset in range(0, 9):
        d = local.date() + timedelta(days=offset)
        if schedule.kind == "weekly" and d.weekday() not in schedule.weekdays:
            continue
        slot = _real(datetime.combine(d, time(schedule.hour, schedule.minute), tzinfo=zone))
        if slot > after:
            return slot
    raise AssertionError("unreachable: a slot exists within eight days")


@functools.lru_cache(maxsize=1024)
def _day_slots(day: date, step: int, zone: tzinfo) -> tuple[datetime, ...]:
    """The slots of ``every step minutes`` (``step`` dividing a day) on the
    local ``day``, as UTC instants in order: the wall-clock times of the
    grid from midnight, as cron keeps them, so on the days clocks change the
    gap across the change is an hour shorter or longer, except that

    - a time in the hour repeated in autumn is a slot a second time only
      where that keeps the pace (``every 30 minutes``, ``every 1 hour``;
      ``every 2 hours`` sent at 02:00 and again an hour later);
    - a slot less than half an interval after the one before is none (in
      spring ``every 90 minutes`` sent at 01:30 and again at 03:00, 30
      minutes later; now at 04:30).

    Cached: ``run`` asks for every subscriber at every tick."""
    grid = sorted(
        (t, n > 0)
        for minutes in range(0, 24 * 60, step)
        for n, t in enumerate(_instants(datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=zone)))
    )
    interval = timedelta(minutes=step)
    kept: list[datetime] = []
    for t, again in grid:
        gap = t - kept[-1] if kept else interval
        if gap >= (interval if again else interval / 2) and gap > timedelta(0):
            kept.append(t)
    return tuple(kept)


def _instants(local: datetime) -> tuple[datetime, ...]:
    """Every instant a wall-clock time denotes, in UTC: two in the hour repeated
    when clocks go back, so that ``every 1 hour`` is once an hour through it
    (only the first one made the slots two hours apart), else one (a time in
    the skipped hour is the instant :func:`_real` gives)."""
    first = _real(local)
    second = _real(local.replace(fold=1))
    if second != first and second.astimezone(local.tzinfo).replace(tzinfo=None) == local.replace(tzinfo=None, fold=0):
        return first, second
    return (first,)


def _real(local: datetime) -> datetime:
    """A wall-clock time (which may fall in a DST gap or fold) as the instant it
    denotes, in UTC: zone-local values in a fold compare unequal across zones
    (PEP 495), UTC ones never surprise."""
    return local.astimezone(UTC)


def is_due(
    schedule: Schedule | None,
    zone: ZoneInfo,
    *,
    last_sent: datetime | None,
    first_seen: datetime | None,
    now: datetime,
) -> bool:
    """The one rule ``send`` and ``run`` share.

    No schedule: always due (cron users).  Otherwise due when a slot has
    passed since the last digest, or since the subscriber was first seen; a
    subscriber never seen before is not due (it waits for its first slot).
    Many missed slots still make one digest: this only asks "at least one".
    """
    if schedule is None:
        return True
    since = last_sent or first_seen
    if since is None:
        return False
    return clock_was_ahead(since, now) or next_slot(schedule, zone, since) <= now


def next_send(
    schedule: Schedule | None,
    zone: ZoneInfo,
    *,
    last_sent: datetime | None,
    first_seen: datetime | None,
    now: datetime,
) -> datetime | None:
    """When the next digest goes out, as UTC; None when there is no schedule
    (such subscribers get a digest at every ``send``).  A time in the past
    means the digest is overdue and goes out at the next ``send``/``run`` tick.
    A subscriber never seen yet gets its first slot after ``now``."""
    if schedule is None:
        return None
    since = last_sent or first_seen
    if since is not None and clock_was_ahead(since, now):
        return now  # due at once (see CLOCK_BEHIND)
    return next_slot(schedule, zone, since or now)


def shown_time(t: datetime, zone: tzinfo | None = None) -> str:
    """A time as every command writes it: ``2026-12-01 08:00 CET`` (in ``zone``
    when given, else ``t``'s own)."""
    return f"{t.astimezone(zone) if zone is not None else t:%Y-%m-%d %H:%M %Z}"


def minute_up(t: datetime) -> datetime:
    """``t`` rounded up to the whole minute (``13:30:27`` -> ``13:31``; ``13:30:00``
    stays).  Retry times are shown to the minute: a digest "retried from 13:30"
    that is still waiting at 13:30 misleads whoever tries again then, so a
    shown retry time is never earlier than the real one."""
    if t.second or t.microsecond:
        return t.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return t
