"""Quiet hours: a due step waits for the clinic's sending window (``[sequences] send_between``,
e.g. "08:00-19:00", in ``[schedule] timezone``), so nobody is woken at 3 a.m.

The window is read in local wall-clock time, so it follows daylight saving: 08:00 is 08:00 on
both sides of a change. A window whose end is before its start runs over midnight
("20:00-06:00"); an empty setting means any time.
"""

from __future__ import annotations

import re
from datetime import datetime, time
from zoneinfo import ZoneInfo

_WINDOW = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


def parse_window(text: str) -> tuple[time, time] | None:
    """ "08:00-19:00" -> (08:00, 19:00); "" -> None (any time); ValueError saying what to write."""
    if not text.strip():
        return None
    match = _WINDOW.match(text)
    if match is None:
        raise ValueError('a window such as "08:00-19:00" (24-hour clock, local time)')
    start_h, start_m, end_h, end_m = (int(part) for part in match.groups())
    if start_h > 23 or end_h > 23 or start_m > 59 or end_m > 59:
        raise ValueError('hours 00-23 and minutes 00-59, e.g. "08:00-19:00"')
    start, end = time(start_h, start_m), time(end_h, end_m)
    if start == end:
        raise ValueError('a window with a start and a different end, e.g. "08:00-19:00"')
    return start, end


def is_open(moment: datetime, zone: str, window: tuple[time, time] | None) -> bool:
    """Is ``moment`` (aware) inside the window, in the clinic's local time?"""
    if window is None:
        return True
    local = moment.astimezone(ZoneInfo(zone)).time()
    start, end = window
    if start < end:
        return start <= local < end
    return local >= start or local < end
