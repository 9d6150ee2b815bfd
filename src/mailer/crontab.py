"""`schedule.cron` as crontab(5) means it, as an APScheduler 3 trigger.

Three places where APScheduler's own cron differs from crontab(5), each handled here:

- Day of week: crontab counts 0-7 from Sunday (0 and 7 are both Sunday); APScheduler counts 0-6
  from Monday. The field is expanded to day names (``sun,tue``), which mean the same to both.
- Day of month and day of week both restricted (neither starts with ``*``): crontab fires when
  EITHER matches; APScheduler requires both. Two triggers are combined, the earliest wins.
- Daylight saving: the slot is a wall-clock time in ``schedule.timezone``. APScheduler fires a
  time in the repeated autumn hour twice; here each wall-clock slot fires once (its first
  occurrence), and a slot inside the skipped spring hour fires once, at the same distance after
  the change (02:30 becomes 03:30), as Vixie cron does.

The wall-clock search runs APScheduler's CronTrigger on naive local times dressed as UTC, so the
calendar arithmetic is APScheduler's and only the mapping to real instants is ours.

It is part of the ground, below both use-case packages: the slot daemon (mailer.schedule) fires
it, and the campaign list (mailer.app.campaign_list) reads from it when each campaign goes out.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger

from mailer.errors import ConfigError

DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_DAY_NUMBERS = {name: number for number, name in enumerate(DAY_NAMES)}
_PART = re.compile(r"^(?P<range>\*|[0-9a-z]+(?:-[0-9a-z]+)?)(?:/(?P<step>[0-9]+))?$")
_ONE_MICROSECOND = timedelta(microseconds=1)


def crontab_days_of_week(field: str) -> list[int]:
    """The crontab(5) day-of-week field as sorted day numbers, 0 = Sunday (7 folds to 0)."""
    days: set[int] = set()
    for part in field.lower().split(","):
        match = _PART.match(part)
        if not match:
            raise ValueError(f"day of week {part!r} is not a number, name, range or step")
        span, step = match.group("range"), int(match.group("step") or 1)
        if step < 1:
            raise ValueError(f"day of week {part!r}: the step must be at least 1")
        if span == "*":
            first, last = 0, 7
        elif "-" in span:
            first, last = (_day_number(value) for value in span.split("-"))
            if first > last:
                raise ValueError(f"day of week {part!r}: the range runs backwards")
        else:
            first = last = _day_number(span)
            if match.group("step"):
                last = 7  # "2/3" means from 2 to the end, every 3rd
        days.update(day % 7 for day in range(first, last + 1, step))
    return sorted(days)


def _day_number(value: str) -> int:
    if value.isdigit():
        number = int(value)
        if number > 7:
            raise ValueError(f"day of week {value} is beyond 7 (0 and 7 are Sunday)")
        return number
    if value[:3] in _DAY_NUMBERS and len(value) == 3:
        return _DAY_NUMBERS[value]
    raise ValueError(f"day of week {value!r} is not 0-7 or sun..sat")


class CrontabTrigger(BaseTrigger):
    """Fires at each wall-clock time a crontab(5) line names, in one time zone, once each."""

    def __init__(self, expression: str, timezone: str, *, second: str = "0") -> None:
        # `second` is for tests and the lateness benchmark only: crontab has no seconds field.
        self.expression = " ".join(expression.split())
        self.timezone = timezone
        self.second = second
        self._build()

    def _build(self) -> None:
        self.zone = ZoneInfo(self.timezone)
        fields = self.expression.split()
        if len(fields) != 5:
            raise ConfigError(
                f"schedule.cron {self.expression!r}: expected five fields "
                '"minute hour day-of-month month day-of-week", e.g. "0 9 * * 2"'
            )
        minute, hour, day, month, weekday = fields
        common: dict[str, Any] = {
            "second": self.second,
            "minute": minute,
            "hour": hour,
            "month": month,
            "timezone": UTC,
        }
        try:
            days = "*"
            if weekday != "*":
                days = ",".join(DAY_NAMES[d] for d in crontab_days_of_week(weekday))
            # crontab(5): a field "restricted" is one not starting with "*" (so "*/2" is not).
            if not day.startswith("*") and not weekday.startswith("*"):
                self._walls = [
                    CronTrigger(day=day, **common),
                    CronTrigger(day_of_week=days, **common),
                ]
            else:
                self._walls = [CronTrigger(day=day, day_of_week=days, **common)]
        except ValueError as err:
            raise ConfigError(
                f"schedule.cron {self.expression!r}: {err}",
                hint='crontab(5) fields, e.g. "0 9 * * 2" for Tuesdays at 09:00',
            ) from err

    # -- the trigger ---------------------------------------------------------------------------

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        """The first slot at or after `now`, or the first after `previous_fire_time` (as
        APScheduler asks when it lists missed run times)."""
        start = now
        if previous_fire_time is not None:
            start = min(now, previous_fire_time + _ONE_MICROSECOND)
            if start <= previous_fire_time:
                start = previous_fire_time + _ONE_MICROSECOND
        wall = start.astimezone(self.zone).replace(tzinfo=None)
        # Start an hour early on the wall clock: in the repeated autumn hour, `start` may be in
        # its second pass, and the slot's wall time may read earlier than `start`'s.
        search = wall - timedelta(hours=1)
        for _ in range(10_000):
            candidate = self._next_wall_time(search)
            if candidate is None:
                return None
            instant = self.instant_of(candidate)
            if instant >= start:
                return instant.astimezone(self.zone)
            search = candidate + timedelta(seconds=1)
        return None  # pragma: no cover - a cron expression always matches within 10,000 tries

    def _next_wall_time(self, after: datetime) -> datetime | None:
        times = [t.get_next_fire_time(None, after.replace(tzinfo=UTC)) for t in self._walls]
        found = [t.replace(tzinfo=None) for t in times if t is not None]
        return min(found) if found else None

    def instant_of(self, wall: datetime) -> datetime:
        """A wall-clock time as a UTC instant: the first of a repeated time; a skipped time
        as that many minutes after the change (zoneinfo's fold=0 reading of it)."""
        return wall.replace(tzinfo=self.zone, fold=0).astimezone(UTC)

    # -- identity and persistence (the job store pickles triggers) ----------------------------

    def __getstate__(self) -> dict[str, Any]:
        return {
            "version": 1,
            "expression": self.expression,
            "timezone": self.timezone,
            "second": self.second,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.expression = state["expression"]
        self.timezone = state["timezone"]
        self.second = state.get("second", "0")
        self._build()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CrontabTrigger) and self.__getstate__() == other.__getstate__()

    def __hash__(self) -> int:
        return hash((self.expression, self.timezone, self.second))

    def __str__(self) -> str:
        return f"crontab[{self.expression}] in {self.timezone}"

    def __repr__(self) -> str:
        return f"CrontabTrigger({self.expression!r}, {self.timezone!r})"
