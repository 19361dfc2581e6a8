"""Slots in the subscriber's zone, DST included, and the shared due rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from newsletter.scheduling import is_due, minute_up, next_slot, parse_schedule

UTC = UTC
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def simulate(schedule_text: str, zone, start: datetime, end: datetime, step=timedelta(minutes=5)) -> list[datetime]:
    """Tick every ``step`` from ``start`` to ``end``, 'sending' whenever due; the send times."""
    schedule = parse_schedule(schedule_text)
    first_seen, last, sends = start, None, []
    now = start
    while now <= end:
        if is_due(schedule, zone, last_sent=last, first_seen=first_seen, now=now):
            sends.append(now)
            last = now
        now += step
    return sends


@pytest.mark.parametrize(
    "zone, day, expected_utc",
    [
        # Clocks go forward at 02:00 -> 03:00: 02:30 does not exist; the slot is the same
        # instant an hour later on the wall (01:30 UTC), and the day is not skipped.
        (BERLIN, (2026, 3, 29), utc(2026, 3, 29, 1, 30)),
        (NEW_YORK, (2026, 3, 8), utc(2026, 3, 8, 7, 30)),
        # Clocks go back: 02:30 (Berlin) / 01:30 (New York) happen twice; the first one counts.
        (BERLIN, (2026, 10, 25), utc(2026, 10, 25, 0, 30)),
    ],
)
def test_daily_slot_on_dst_days(zone, day, expected_utc):
    time_text = "01:30" if zone is NEW_YORK and day[1] == 11 else "02:30"
    s = parse_schedule(f"daily at {time_text}")
    before = datetime(*day, tzinfo=zone) - timedelta(hours=6)
    assert next_slot(s, zone, before) == expected_utc


def test_fall_back_in_new_york_sends_once():
    sends = simulate("daily at 01:30", NEW_YORK, utc(2026, 10, 31, 12), utc(2026, 11, 2, 12))
    assert [t.astimezone(NEW_YORK).strftime("%m-%d %H:%M %Z") for t in sends] == [
        "11-01 01:30 EDT",  # the first 01:30; the repeated hour (EST) does not send again
        "11-02 01:30 EST",
    ]


@pytest.mark.parametrize("zone", [BERLIN, NEW_YORK])
@pytest.mark.parametrize(
    "start, end",
    [(utc(2026, 3, 5), utc(2026, 4, 2)), (utc(2026, 10, 20), utc(2026, 11, 10))],
)
def test_one_send_per_day_across_dst_changes(zone, start, end):
    sends = simulate("daily at 08:00", zone, start, end)
    local = [t.astimezone(zone) for t in sends]
    days = [t.date() for t in local]
    assert len(days) == len(set(days))  # never twice a day
    assert all((b - a).days == 1 for a, b in zip(days, days[1:]))  # never a skipped day
    assert all(t.hour == 8 and t.minute < 5 for t in local)  # at 08:00 local, summer and winter


def test_weekly_on_several_days():
    sends = simulate("weekly on mon, thu at 07:30", BERLIN, utc(2026, 11, 1), utc(2026, 11, 15))
    local = [t.astimezone(BERLIN) for t in sends]
    assert [(t.strftime("%a %d"), t.hour, t.minute) for t in local] == [
        ("Mon 02", 7, 30),
        ("Thu 05", 7, 30),
        ("Mon 09", 7, 30),
        ("Thu 12", 7, 30),
    ]


def test_every_n_hours_is_aligned_to_local_midnight():
    s = parse_schedule("every 6 hours")
    slot = next_slot(s, BERLIN, utc(2026, 11, 23, 7, 10))  # 08:10 in Berlin
    assert slot.astimezone(BERLIN).hour == 12 and slot.astimezone(BERLIN).minute == 0


def test_every_n_minutes_that_does_not_divide_a_day_counts_from_the_last_send():
    s = parse_schedule("every 7 hours")
    assert next_slot(s, BERLIN, utc(2026, 11, 23, 7, 10)) == utc(2026, 11, 23, 14, 10)


def test_missed_slots_are_caught_up_once():
    s = parse_schedule("daily at 08:00")
    last = utc(2026, 11, 18, 7, 0)  # 08:00 Berlin, five days ago
    now = utc(2026, 11, 23, 6, 0)  # down since; five slots missed
    assert is_due(s, BERLIN, last_sent=last, first_seen=utc(2026, 1, 1), now=now)
    # once that one digest goes out, nothing more is due until the next slot
    assert not is_due(s, BERLIN, last_sent=now, first_seen=utc(2026, 1, 1), now=now + timedelta(minutes=59))
    assert is_due(s, BERLIN, last_sent=now, first_seen=utc(2026, 1, 1), now=utc(2026, 11, 23, 7, 0))


def test_new_subscriber_waits_for_its_first_slot():
    s = parse_schedule("daily at 08:00")
    assert not is_due(s, BERLIN, last_sent=None, first_seen=None, now=utc(2026, 11, 23, 12))
    seen = utc(2026, 11, 23, 12)  # 13:00 Berlin: today's 08:00 is before it
    assert not is_due(s, BERLIN, last_sent=None, first_seen=seen, now=utc(2026, 11, 23, 23))
    assert is_due(s, BERLIN, last_sent=None, first_seen=seen, now=utc(2026, 11, 24, 7, 0))


def test_no_schedule_is_always_due():
    assert is_due(None, BERLIN, last_sent=utc(2026, 11, 23), first_seen=None, now=utc(2026, 11, 23))


# --------------------------------------------------------------------------- past the calendar (issue 17)


@pytest.mark.parametrize(
    "text", ["every 99999999 hours", "every 527041 minutes", "every 8785 hours", "every " + "9" * 5000 + " minutes"]
)
def test_intervals_longer_than_a_year_are_refused(text):
    with pytest.raises(ValueError, match="longer than a year"):
        parse_schedule(text)


@pytest.mark.parametrize(
    "text", ["daily at 23:59", "weekly on sunday at 23:59", "every 8784 hours", "every 7 minutes", "every 1 hour"]
)
def test_scheduling_never_raises_at_the_end_of_the_calendar(text):
    from newsletter.scheduling import NEVER, next_send

    schedule = parse_schedule(text)
    end = datetime(9999, 12, 31, 23, 0, tzinfo=UTC)
    for zone in (ZoneInfo("Pacific/Kiritimati"), ZoneInfo("America/Adak")):
        assert next_slot(schedule, zone, end) in (NEVER,) or next_slot(schedule, zone, end) > end
        assert not is_due(schedule, zone, last_sent=end, first_seen=end, now=end)
        assert next_send(schedule, zone, last_sent=None, first_seen=None, now=end) is not None


def test_validate_names_the_line_of_an_interval_past_the_calendar(cli, tmp_path):
    from conftest import write_config

    (tmp_path / "p.txt").write_text("x", encoding="utf-8")
    write_config(
        tmp_path,
        """
        sources:
          - type: hf-papers-text
            path: p.txt
        topics:
          t:
            any: [x]
        subscribers:
          - email: ada@example.org
            topics: [t]
            schedule: every 99999999 hours
        """,
    )
    result = cli("validate")
    assert result.code == 2
    assert "config.yaml:10: subscribers[0].schedule: schedule 'every 99999999 hours': the interval is longer than a year" in result.err
    assert "Traceback" not in result.err


def test_minute_up_never_shows_a_retry_earlier_than_it_is():
    t = datetime(2026, 11, 29, 17, 11, 11, tzinfo=UTC)
    assert minute_up(t) == datetime(2026, 11, 29, 17, 12, tzinfo=UTC)
    assert minute_up(t.replace(second=0, microsecond=1)) == datetime(2026, 11, 29, 17, 12, tzinfo=UTC)
    assert minute_up(t.replace(second=0)) == t.replace(second=0)
    assert minute_up(datetime(2026, 12, 31, 23, 59, 30, tzinfo=UTC)) == datetime(2027, 1, 1, 0, 0, tzinfo=UTC)


def test_a_record_over_a_day_after_the_clock_is_due_at_once_a_smaller_one_waits():
    from datetime import timedelta

    from newsletter.scheduling import is_due, next_send, parse_schedule

    daily, zone = parse_schedule("daily at 08:00"), ZoneInfo("Europe/Berlin")
    now = datetime(2024, 5, 2, 10, 0, tzinfo=UTC)
    ahead = now + timedelta(days=7)  # recorded by a clock a week ahead
    assert is_due(daily, zone, last_sent=ahead, first_seen=None, now=now)
    assert next_send(daily, zone, last_sent=ahead, first_seen=None, now=now) == now
    assert is_due(daily, zone, last_sent=None, first_seen=ahead, now=now)
    close = now + timedelta(hours=20)  # a clock set back less than a day: the slot after the record
    assert not is_due(daily, zone, last_sent=close, first_seen=None, now=now)
    assert next_send(daily, zone, last_sent=close, first_seen=None, now=now) == datetime(2024, 5, 4, 6, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "text, meant",
    [
        ("mondays 8am", "weekly on monday at 08:00"),
        ("weekly on monday at 8am", "weekly on monday at 08:00"),
        ("weekly on mondays at 08:00", "weekly on monday at 08:00"),
        ("every monday at 8:00", "weekly on monday at 08:00"),
        ("Mon and Thu 9:15am", "weekly on monday, thursday at 09:15"),
        ("weekdays at 7.30", "weekly on monday, tuesday, wednesday, thursday, friday at 07:30"),
        # a range of days is every day in it: 'monday to friday' was offered as 'weekly on monday, friday'
        ("mon-fri at 08:00", "weekly on monday, tuesday, wednesday, thursday, friday at 08:00"),
        ("monday to friday 8am", "weekly on monday, tuesday, wednesday, thursday, friday at 08:00"),
        ("weekly on monday-friday at 08:00", "weekly on monday, tuesday, wednesday, thursday, friday at 08:00"),
        ("weekly on mon to fri at 08:00", "weekly on monday, tuesday, wednesday, thursday, friday at 08:00"),
        ("Monday \u2013 Friday, 9:00", "weekly on monday, tuesday, wednesday, thursday, friday at 09:00"),
        ("tue through thu at 9", "weekly on tuesday, wednesday, thursday at 09:00"),
        ("fri-mon at 7", "weekly on monday, friday, saturday, sunday at 07:00"),
        ("weekends at 10:00", "weekly on saturday, sunday at 10:00"),
        ("every weekday except friday at 8", "weekly on monday, tuesday, wednesday, thursday at 08:00"),
        ("daily at 8", "daily at 08:00"),
        ("every day at 12pm", "daily at 12:00"),
        ("daily 12am", "daily at 00:00"),
        ("daily at 8:30 p.m.", "daily at 20:30"),
        # intervals as people write them
        ("hourly", "every hour"),
        ("every 6 hrs", "every 6 hours"),
        ("every 6h", "every 6 hours"),
        ("every 30 mins", "every 30 minutes"),
        ("twice a day", "every 12 hours"),
        # a time alone, as "every morning at eight" is written: it got only the list of forms
        ("08:00", "daily at 08:00"),
        ("at 20:15", "daily at 20:15"),
        ("at 8am", "daily at 08:00"),
        # seconds, and four digits without a colon: only the list of forms
        ("daily at 08:00:00", "daily at 08:00"),
        ("weekly on monday at 9:30:00", "weekly on monday at 09:30"),
        ("daily at 0800", "daily at 08:00"),
        ("mondays 2130", "weekly on monday at 21:30"),
    ],
)
def test_a_schedule_written_as_people_say_it_names_the_form_meant(text, meant):
    """'mondays 8am' got only the list of valid forms, to be matched by hand."""
    with pytest.raises(ValueError) as info:
        parse_schedule(text)
    assert f"did you mean {meant!r}?" in str(info.value), str(info.value)
    parse_schedule(meant)  # and what it names is a schedule


_ALL_BUT_SUNDAY = "weekly on monday, tuesday, wednesday, thursday, friday, saturday"


@pytest.mark.parametrize(
    "text, meant",
    [
        # 'daily except sunday' was offered as 'daily at 08:00', Sunday included
        ("daily except sunday at 8am", f"{_ALL_BUT_SUNDAY} at 08:00"),
        ("every day except weekends at 7", "weekly on monday, tuesday, wednesday, thursday, friday at 07:00"),
        ("all week except monday at 8", "weekly on tuesday, wednesday, thursday, friday, saturday, sunday at 08:00"),
        # 'but', 'excl.', 'save', 'without' leave days out: they were offered as 'weekly on sunday', the opposite
        ("every day but sunday at 8am", f"{_ALL_BUT_SUNDAY} at 08:00"),
        ("every day excl. sunday at 8am", f"{_ALL_BUT_SUNDAY} at 08:00"),
        ("every day save sunday at 8am", f"{_ALL_BUT_SUNDAY} at 08:00"),
        ("daily without sundays at 8am", f"{_ALL_BUT_SUNDAY} at 08:00"),
        ("weekdays but friday 9am", "weekly on monday, tuesday, wednesday, thursday at 09:00"),
    ],
)
def test_a_guess_never_names_a_day_left_out(text, meant):
    """A schedule that leaves days out is offered the days left, never the ones excluded."""
    with pytest.raises(ValueError) as info:
        parse_schedule(text)
    assert f"did you mean {meant!r}?" in str(info.value), str(info.value)
    parse_schedule(meant)


@pytest.mark.parametrize("text", ["daily (no sundays) 8am", "not on sundays at 8", "daily except every day at 8",
                                  "every day, skipping sunday, at 8"])
def test_a_negation_not_understood_gets_no_guess(text):
    """'daily (no sundays) 8am' was offered as 'weekly on sunday at 08:00', the days the user did not want."""
    with pytest.raises(ValueError) as info:
        parse_schedule(text)
    assert "did you mean" not in str(info.value), str(info.value)


def test_a_day_left_out_of_an_untimed_schedule_stays_out():
    """The 'write ... with the time' advice leaves the excluded day out too."""
    with pytest.raises(ValueError) as info:
        parse_schedule("daily except sunday")
    assert f"write '{_ALL_BUT_SUNDAY} at HH:MM' with the time" in str(info.value), str(info.value)


@pytest.mark.parametrize(
    "text, meant",
    [
        ("0 8 * * 1-5", "weekly on monday, tuesday, wednesday, thursday, friday at 08:00"),
        ("30 7 * * mon,thu", "weekly on monday, thursday at 07:30"),
        ("0 9 * * 0", "weekly on sunday at 09:00"),
        ("15 6 * * *", "daily at 06:15"),
        ("*/30 * * * *", "every 30 minutes"),
        ("0 */6 * * *", "every 6 hours"),
        ("0 * * * *", "every hour"),
        ("0 8 1 * *", None),  # a day of the month: no form says it
    ],
)
def test_a_cron_time_as_a_schedule_is_named_with_the_form_meant(text, meant):
    """A cron user writes the crontab time they know; it got only the list of forms."""
    with pytest.raises(ValueError) as info:
        parse_schedule(text)
    said = str(info.value)
    assert said.startswith(f"schedule {text!r} is a cron line's time, which schedule: does not read; "), said
    assert (f"did you mean {meant!r}?" in said) if meant else ("did you mean" not in said), said
    if meant:
        parse_schedule(meant)


@pytest.mark.parametrize("text", ["weekly at 08:00", "mondays", "every 0 hrs", "weekly on monday at 20:00 pm", "daily at 25:00 or 8",
                                  "daily at 2460", "daily at 08:00:30"])
def test_a_schedule_with_no_single_clear_time_and_day_gets_no_guess(text):
    with pytest.raises(ValueError) as info:
        parse_schedule(text)
    assert "did you mean" not in str(info.value) and "valid" in str(info.value)


@pytest.mark.parametrize(
    "text, form",
    [
        ("weekly at 08:00", "weekly on <weekday> at 08:00"),
        ("Weekly at 8am", "weekly on <weekday> at 08:00"),
        ("once a week at 7", "weekly on <weekday> at 07:00"),
        ("weekly on at 18:30", "weekly on <weekday> at 18:30"),
    ],
)
def test_a_weekly_schedule_with_a_time_but_no_day_says_the_day_is_missing(text, form):
    """`schedule: weekly at 08:00`, as a newcomer writes it, got only the list
    of forms, where `schedule: weekly` said what was missing.  No day is guessed."""
    with pytest.raises(ValueError) as info:
        parse_schedule(text)
    assert f"; it names no day of the week: write {form!r} with the day; valid forms: " in str(info.value), info.value
    assert "did you mean" not in str(info.value)
    parse_schedule(form.replace("<weekday>", "monday"))


@pytest.mark.parametrize(
    "text, form",
    [
        ("every monday", "weekly on monday at HH:MM"),
        ("weekly on mon, thu", "weekly on monday, thursday at HH:MM"),
        ("weekdays", "weekly on monday, tuesday, wednesday, thursday, friday at HH:MM"),
        ("mon-fri", "weekly on monday, tuesday, wednesday, thursday, friday at HH:MM"),
        ("daily", "daily at HH:MM"),
        ("every day", "daily at HH:MM"),
        ("weekly", "weekly on <weekday> at HH:MM"),
    ],
)
def test_a_schedule_naming_days_but_no_time_says_the_time_is_missing(text, form):
    """'every monday' listed the valid forms and left the user to see what was missing."""
    with pytest.raises(ValueError) as info:
        parse_schedule(text)
    missing = "day or time of day" if "<weekday>" in form else "time of day"
    said = "day and time" if "<weekday>" in form else "time"
    assert f"; it names no {missing}: write {form!r} with the {said}; valid forms: " in str(info.value), info.value
    assert "did you mean" not in str(info.value)
    parse_schedule(form.replace("HH:MM", "08:00").replace("<weekday>", "monday"))


@pytest.mark.parametrize(
    "text, said",
    [
        # the free-form guess read 'biweekly on monday at 09:00' as weekly: twice the digests meant
        ("biweekly on monday at 09:00", "no form skips weeks: 'weekly on <weekday> at HH:MM' sends every week"),
        ("every 2 weeks", "no form skips weeks: 'weekly on <weekday> at HH:MM' sends every week"),
        ("every 2 days", "no form skips days: 'daily at HH:MM' every day, or 'weekly on <weekday>, <weekday> at "
                         "HH:MM' on the days you choose"),
        ("every 1 day", "days are not a unit: write 'daily at HH:MM'"),
        ("monthly", "no form counts months: 'weekly on <weekday> at HH:MM' is the longest that keeps a day and a time"),
        ("every week", "a week is not a unit: write 'weekly on <weekday> at HH:MM'"),
    ],
)
def test_a_period_no_form_names_says_what_to_write_and_guesses_nothing(text, said):
    with pytest.raises(ValueError) as info:
        parse_schedule(text)
    assert f"; {said}; valid forms: " in str(info.value), info.value
    assert "did you mean" not in str(info.value)


def test_a_misspelt_weekday_gets_the_schedule_with_it_respelt():
    """'weekly on mondya, thu at 09:00' was offered 'weekly on thursday at 09:00': monday dropped."""
    for text, meant in (("weekly on mondya at 09:00", "weekly on monday at 09:00"),
                        ("weekly on mondya, thu at 09:00", "weekly on monday, thu at 09:00")):
        with pytest.raises(ValueError) as info:
            parse_schedule(text)
        assert f"unknown weekday 'mondya' in schedule {text!r}; did you mean {meant!r}? " in str(info.value)


def test_a_schedule_with_two_times_says_a_schedule_holds_one():
    with pytest.raises(ValueError) as info:
        parse_schedule("daily at 08:00 and 18:00")
    assert ("; a schedule holds one time of day (two digests a day: 'every 12 hours', at 00:00 and 12:00 in its "
            "zone); valid forms: ") in str(info.value)
    assert parse_schedule("every 12 hours").interval_minutes == 12 * 60


def test_validate_says_which_schedule_mondays_8am_means(cli, tmp_path):
    from conftest import write_config

    (tmp_path / "p.txt").write_text("x", encoding="utf-8")
    write_config(tmp_path, "sources: [{type: hf-papers-text, path: p.txt}]\ntopics: {t: {any: [x]}}\n"
                 "schedule: mondays 8am\n")
    result = cli("validate")
    assert result.code == 2 and "Traceback" not in result.err
    assert ("config.yaml:3: schedule: cannot parse schedule 'mondays 8am'; did you mean 'weekly on monday at 08:00'? "
            "valid forms: ") in result.err, result.err


@pytest.mark.parametrize(
    "text, zone, start, end",
    [
        # Berlin falls back at 03:00 CEST -> 02:00 CET: the hour 02:00-03:00 happens twice.
        ("every 1 hour", BERLIN, utc(2026, 10, 24, 22), utc(2026, 10, 25, 4)),
        ("every 30 minutes", BERLIN, utc(2026, 10, 24, 22), utc(2026, 10, 25, 4)),
        # Lord Howe falls back by half an hour (02:00 +11 -> 01:30 +10:30).
        ("every 15 minutes", ZoneInfo("Australia/Lord_Howe"), utc(2026, 4, 4, 13), utc(2026, 4, 4, 17)),
        # Sao Paulo (2019) fell back at midnight: 23:00-24:00 happened twice.
        ("every 1 hour", ZoneInfo("America/Sao_Paulo"), utc(2019, 2, 16, 22), utc(2019, 2, 17, 6)),
    ],
)
def test_an_interval_keeps_its_pace_through_the_repeated_hour(text, zone, start, end):
    # "every 1 hour" means once an hour of real time: the repeated wall-clock
    # hour when clocks go back is an hour too (it was skipped: two hours apart).
    sends = simulate(text, zone, start, end)
    step = timedelta(minutes=parse_schedule(text).interval_minutes)
    gaps = {b - a for a, b in zip(sends, sends[1:])}
    assert gaps == {step}, [t.astimezone(zone).strftime("%H:%M %Z") for t in sends]


@pytest.mark.parametrize(
    "text, start, end, expected",
    [
        # spring: 03:00 CEST came 30 minutes after 01:30 CET; the slot is skipped
        ("every 90 minutes", utc(2026, 3, 28, 22), utc(2026, 3, 29, 4),
         ["00:00 CET", "01:30 CET", "04:30 CEST", "06:00 CEST"]),
        # autumn: the gap across the change is an hour longer, as the wall clock says
        ("every 90 minutes", utc(2026, 10, 24, 21), utc(2026, 10, 25, 4),
         ["00:00 CEST", "01:30 CEST", "03:00 CET", "04:30 CET"]),
        # autumn: 02:00 came twice, an hour apart, for a digest every two hours
        ("every 2 hours", utc(2026, 10, 24, 21), utc(2026, 10, 25, 6),
         ["00:00 CEST", "02:00 CEST", "04:00 CET", "06:00 CET"]),
        # the wall-clock times stay (as cron's): 06:00 is 06:00 in spring too
        ("every 6 hours", utc(2026, 3, 28, 22), utc(2026, 3, 29, 12), ["00:00 CET", "06:00 CEST", "12:00 CEST"]),
        ("every 6 hours", utc(2026, 10, 24, 21), utc(2026, 10, 25, 12), ["00:00 CEST", "06:00 CET", "12:00 CET"]),
    ],
)
def test_an_interval_over_an_hour_keeps_its_wall_clock_times_across_dst_and_never_comes_twice_quickly(
    text, start, end, expected
):
    """`every 90 minutes` sent 30 minutes after its last digest on the day
    clocks go forward, and `every 2 hours` a second digest an hour after
    the first when they go back: the slots are the local times from midnight
    (00:00, 01:30, 03:00 ...), the gap across a change an hour shorter or
    longer, a slot under half an interval after the last is none, and the
    repeated hour brings a slot again only where that keeps the pace."""
    sends = simulate(text, BERLIN, start, end)
    assert [t.astimezone(BERLIN).strftime("%H:%M %Z") for t in sends] == expected
    step = timedelta(minutes=parse_schedule(text).interval_minutes)
    assert all(b - a >= step / 2 for a, b in zip(sends, sends[1:]))


@pytest.mark.parametrize(
    "text, zone, start, end",
    [
        ("every 1 hour", BERLIN, utc(2026, 3, 28, 22), utc(2026, 3, 29, 4)),
        ("every 15 minutes", ZoneInfo("Australia/Lord_Howe"), utc(2026, 10, 3, 13), utc(2026, 10, 3, 17)),
    ],
)
def test_an_interval_through_the_skipped_hour_sends_neither_twice_nor_late(text, zone, start, end):
    sends = simulate(text, zone, start, end)
    step = timedelta(minutes=parse_schedule(text).interval_minutes)
    assert {b - a for a, b in zip(sends, sends[1:])} == {step}
