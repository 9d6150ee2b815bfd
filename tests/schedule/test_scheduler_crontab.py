"""schedule.cron means what crontab(5) says, in the configured zone, across daylight saving."""

from __future__ import annotations

import itertools
import pickle
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailer.crontab import CrontabTrigger, crontab_days_of_week
from mailer.errors import ConfigError

DENVER = ZoneInfo("America/Denver")


def fire_times(expression: str, start: datetime, count: int, zone: str = "America/Denver"):
    """Run times as APScheduler lists them: each the next after the previous one."""
    trigger = CrontabTrigger(expression, zone)
    times = [trigger.get_next_fire_time(None, start)]
    while len(times) < count:
        times.append(trigger.get_next_fire_time(times[-1], times[-1]))
    return times


def local(moment: datetime) -> str:
    return moment.astimezone(DENVER).strftime("%a %Y-%m-%d %H:%M %Z")


@pytest.mark.parametrize(
    ("field", "days"),
    [
        ("0", [0]),
        ("7", [0]),
        ("0,7", [0]),
        ("1", [1]),
        ("1-5", [1, 2, 3, 4, 5]),
        ("5-7", [0, 5, 6]),
        ("*/2", [0, 2, 4, 6]),
        ("1-5/2", [1, 3, 5]),
        ("sun", [0]),
        ("Mon-Fri", [1, 2, 3, 4, 5]),
        ("tue,thu", [2, 4]),
        ("2/3", [2, 5]),
    ],
)
def test_day_of_week_counts_from_sunday_like_crontab(field: str, days: list[int]) -> None:
    assert crontab_days_of_week(field) == days


def test_sunday_is_0_and_7_and_monday_is_1() -> None:
    start = datetime(2026, 11, 18, tzinfo=DENVER)  # a Wednesday
    for expression, weekday in (("0 9 * * 0", "Sun"), ("0 9 * * 7", "Sun"), ("0 9 * * 1", "Mon")):
        times = fire_times(expression, start, 3)
        assert {local(t)[:3] for t in times} == {weekday}, expression
        assert all(local(t)[15:20] == "09:00" for t in times)


def test_the_default_slot_is_tuesday_nine_in_denver() -> None:
    times = fire_times("0 9 * * 2", datetime(2026, 11, 22, 12, tzinfo=UTC), 2)
    assert [local(t) for t in times] == ["Tue 2026-11-24 09:00 MST", "Tue 2026-12-01 09:00 MST"]
    assert times[0] == datetime(2026, 11, 24, 16, 0, tzinfo=UTC)


def test_day_of_month_or_day_of_week_when_both_are_restricted() -> None:
    # crontab(5): "0 9 13 * 5" is the 13th of each month AND every Friday (either matches).
    times = fire_times("0 9 13 * 5", datetime(2026, 12, 1, tzinfo=DENVER), 6)
    assert [local(t)[:14] for t in times] == [
        "Fri 2026-12-04",
        "Fri 2026-12-11",
        "Sun 2026-12-13",
        "Fri 2026-12-18",
        "Fri 2026-12-25",
        "Fri 2027-01-01",
    ]


def test_a_star_step_day_of_week_is_not_a_restriction_for_the_or_rule() -> None:
    # Vixie cron: a field starting with "*" counts as unrestricted, so both must match.
    times = fire_times("0 9 1-7 * */7", datetime(2026, 12, 1, tzinfo=DENVER), 2)
    assert all(local(t)[:3] == "Sun" and t.astimezone(DENVER).day <= 7 for t in times)


def test_weekly_slot_keeps_its_local_time_across_both_changes() -> None:
    times = fire_times("0 9 * * 2", datetime(2026, 2, 20, tzinfo=DENVER), 40)
    assert all(local(t).startswith("Tue") and local(t)[15:20] == "09:00" for t in times)
    offsets = {t.astimezone(DENVER).utcoffset() for t in times}
    assert offsets == {timedelta(hours=-7), timedelta(hours=-6)}  # MST and MDT both crossed
    utc = [t.astimezone(UTC) for t in times]
    gaps = {b - a for a, b in itertools.pairwise(utc)}
    # A week apart, give or take the hour the clock moved: no slot skipped, none doubled.
    assert gaps == {timedelta(days=7), timedelta(days=7, hours=-1), timedelta(days=7, hours=1)}


def test_spring_forward_a_slot_in_the_skipped_hour_runs_once_after_the_change() -> None:
    # 2026-03-08 02:00 MST jumps to 03:00 MDT: 02:30 does not exist that night.
    times = fire_times("30 2 * * *", datetime(2026, 3, 6, 12, tzinfo=DENVER), 4)
    assert [local(t) for t in times] == [
        "Sat 2026-03-07 02:30 MST",
        "Sun 2026-03-08 03:30 MDT",
        "Mon 2026-03-09 02:30 MDT",
        "Tue 2026-03-10 02:30 MDT",
    ]


def test_fall_back_a_slot_in_the_repeated_hour_runs_once() -> None:
    # 2026-11-01 02:00 MDT falls back to 01:00 MST: 01:30 happens twice on the clock.
    times = fire_times("30 1 * * *", datetime(2026, 10, 30, 12, tzinfo=DENVER), 4)
    assert [local(t) for t in times] == [
        "Sat 2026-10-31 01:30 MDT",
        "Sun 2026-11-01 01:30 MDT",
        "Mon 2026-11-02 01:30 MST",
        "Tue 2026-11-03 01:30 MST",
    ]


def test_a_scheduler_started_during_the_repeated_hour_does_not_fire_the_slot_again() -> None:
    trigger = CrontabTrigger("30 1 * * *", "America/Denver")
    first_pass_slot = datetime(2026, 11, 1, 7, 30, tzinfo=UTC)  # 01:30 MDT
    second_pass = datetime(2026, 11, 1, 8, 10, tzinfo=UTC)  # 01:10 MST, after the slot ran
    nxt = trigger.get_next_fire_time(None, second_pass)
    assert nxt is not None and nxt > first_pass_slot
    assert local(nxt) == "Mon 2026-11-02 01:30 MST"


def test_started_after_the_change_in_the_skipped_hours_day_still_gets_the_slot() -> None:
    trigger = CrontabTrigger("30 2 * * *", "America/Denver")
    nxt = trigger.get_next_fire_time(None, datetime(2026, 3, 8, 9, 10, tzinfo=UTC))  # 03:10 MDT
    assert nxt is not None and local(nxt) == "Sun 2026-03-08 03:30 MDT"


@settings(max_examples=60, deadline=None)
@given(
    minute=st.integers(0, 59),
    hour=st.integers(0, 23),
    start_day=st.integers(0, 400),
)
def test_a_daily_slot_fires_exactly_once_every_local_day(
    minute: int, hour: int, start_day: int
) -> None:
    start = datetime(2026, 1, 1, tzinfo=DENVER) + timedelta(days=start_day)
    times = fire_times(f"{minute} {hour} * * *", start, 30)
    days = [t.astimezone(DENVER).date() for t in times]
    assert days == [days[0] + timedelta(days=i) for i in range(30)]
    assert times == sorted(set(times))


def test_the_trigger_survives_the_job_store_round_trip() -> None:
    trigger = CrontabTrigger("0 9 * * 2", "America/Denver")
    again = pickle.loads(pickle.dumps(trigger))
    assert again == trigger
    now = datetime(2026, 11, 22, tzinfo=UTC)
    assert again.get_next_fire_time(None, now) == trigger.get_next_fire_time(None, now)
    assert again != CrontabTrigger("0 9 * * 2", "Europe/London")


@pytest.mark.parametrize("expression", ["0 9 * * 8", "0 25 * * *", "0 9 * * fun", "0 9 * *"])
def test_a_bad_cron_is_a_configuration_error_naming_the_key(expression: str) -> None:
    with pytest.raises(ConfigError) as caught:
        CrontabTrigger(expression, "America/Denver")
    assert "schedule.cron" in caught.value.message


def test_a_slot_job_stored_before_the_calendar_moved_still_loads() -> None:
    """APScheduler's job store pickles the trigger by module and class name: a slot job stored
    while CrontabTrigger lived in mailer.schedule.crontab loads as the same trigger (else the
    store drops the job, and with it a missed slot's catch-up)."""
    trigger = CrontabTrigger("0 9 * * 2", "America/Denver")
    stored = pickle.dumps(trigger, protocol=0)
    assert b"mailer.crontab\n" in stored
    old = stored.replace(b"mailer.crontab\n", b"mailer.schedule.crontab\n")
    assert pickle.loads(old) == trigger
