"""Cron expressions of scheduled jobs, read with crontab's meaning into APScheduler 3.x triggers.

- 5 fields: ``minute hour day month day_of_week``, as in crontab; 6 fields: ``second`` first
  (``*/3 * * * * *``: every three seconds); ``@hourly``, ``@daily``, ``@weekly``, ``@monthly``, ``@yearly``.
- Day-of-week numbers mean what crontab means (0 and 7 = Sunday, 1 = Monday); APScheduler 3.x counts from
  Monday, so numbers are translated to day names (``1-5`` -> ``mon,tue,wed,thu,fri``). Names work as they are.
- As in APScheduler, a day-of-month and a day-of-week restriction must both hold (crontab runs when either does).
Times are read in the job's time zone (IANA name, e.g. ``Europe/Amsterdam``).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger

from vlkge_graph.errors import ConfigError

ALIASES = {"@hourly": "0 * * * *", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@weekly": "0 0 * * 0",
           "@monthly": "0 0 1 * *", "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *"}
DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")  # crontab numbering, 7 = Sunday again
_NUMERIC = re.compile(r"^(\*|\d+)(?:-(\d+))?(?:/(\d+))?$")


def time_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"timezone: {name!r} is not an IANA time zone name (e.g. UTC, Europe/Amsterdam)") from exc


def parse_cron(expression: str, timezone: str = "UTC") -> CronTrigger:
    """A CronTrigger for a 5- or 6-field cron expression (see the module docstring)."""
    text = ALIASES.get(expression.strip(), expression.strip())
    fields = text.split()
    if len(fields) not in (5, 6):
        raise ConfigError(f"cron: {expression!r} has {len(fields)} fields; write 5 (minute hour day month "
                          "day_of_week, as crontab) or 6 (second first), e.g. '0 3 * * *' or '*/3 * * * * *'")
    second = fields.pop(0) if len(fields) == 6 else "0"
    minute, hour, day, month, day_of_week = fields
    zone = time_zone(timezone)
    try:
        return CronTrigger(second=second, minute=minute, hour=hour, day=day, month=month,
                           day_of_week=_day_names(day_of_week), timezone=zone)
    except ValueError as exc:
        raise ConfigError(f"cron: {expression!r} is not a valid cron expression: {exc}") from exc


def _day_names(field: str) -> str:
    """Crontab day-of-week numbers as APScheduler day names; ``*`` and names are left as they are."""
    if field == "*" or not re.search(r"\d", field):
        return field
    names: list[str] = []
    for part in field.split(","):
        match = _NUMERIC.match(part)
        if match is None:
            if re.search(r"\d", part):
                raise ValueError(f"day of week {part!r}: use numbers (0-7, 0 and 7 = Sunday), ranges and steps "
                                 "(1-5, */2), or names (mon-fri), not both in one part")
            names.append(part)
            continue
        start, end, step = match.groups()
        first = 0 if start == "*" else int(start)
        last = (6 if start == "*" else first) if end is None else int(end)
        if end is None and step is not None and start != "*":
            last = 7
        if not 0 <= first <= 7 or not 0 <= last <= 7 or first > last:
            raise ValueError(f"day of week {part!r}: numbers run from 0 to 7 (0 and 7 = Sunday)")
        names += [DAY_NAMES[d] for d in range(first, last + 1, int(step or 1))]
    return ",".join(dict.fromkeys(names))  # Sunday once, even as 0 and 7


def missed_fire_time(trigger: CronTrigger, last_started: datetime | None, now: datetime,
                     grace: timedelta) -> datetime | None:
    """The latest fire time after ``last_started`` that passed without a run, if it is within ``grace`` of
    ``now``: what a scheduler that was down should run once on start (missed runs coalesce into one)."""
    if last_started is None:
        return None
    after = max(last_started, now - grace)
    missed = None
    fire = trigger.get_next_fire_time(None, after + timedelta(microseconds=1))
    while fire is not None and fire <= now:
        missed = fire
        fire = trigger.get_next_fire_time(fire, fire + timedelta(microseconds=1))
    return missed
