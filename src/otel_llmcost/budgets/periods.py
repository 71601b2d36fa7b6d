"""Budget periods: a calendar day or month in a named time zone, or the rolling last N hours.

A period turns "now" (unix seconds, passed in: the clock is the caller's) into a ``Window``: the
buckets whose spend counts, the bucket new spend goes to, and when things reset or expire. Spend is
kept per bucket, keyed by the bucket's start time, in every store. Knows nothing about stores or calls.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..errors import ConfigError

# A rolling window is measured in steps of 1/60 of its length: spend leaves it between N and N + N/60 hours
# after it was made (never earlier: the window errs on the side of counting).
ROLLING_STEPS = 60
_KEEP = 86_400  # seconds a calendar bucket (or mark) is kept after its period ends


@dataclass(frozen=True, slots=True)
class Window:
    """Where one budget stands at one instant."""

    bucket: int
    """Start (unix seconds) of the bucket that new spend goes to."""
    starts: tuple[int, ...]
    """Start of every bucket whose spend counts, newest first (the current one included)."""
    expires: float
    """When the current bucket stops counting in any window: its key may be dropped then."""
    resets: float
    """When spend next leaves the window: the period's end, or the next step of a rolling window."""
    mark: str
    """Identifies the period for threshold marks ("once per threshold per period")."""
    mark_expires: float
    """When a threshold mark made now expires."""
    zone: tzinfo
    """The time zone to show ``resets`` in."""

    @property
    def first(self) -> int:
        return self.starts[-1]


class Period:
    """A budget's period; ``window(now)`` says which spend counts at ``now``."""

    text: str

    def window(self, now: float) -> Window:
        raise NotImplementedError


class CalendarPeriod(Period):
    """A calendar day or month, from local midnight to local midnight in ``timezone``."""

    def __init__(self, unit: str, timezone: str = "UTC") -> None:
        if unit not in ("day", "month"):
            raise ConfigError(f"period {unit!r} is not day, month or <N>h. Fix: e.g. period: day.")
        self.unit = unit
        self.timezone = timezone
        self.zone = zone(timezone)
        self.text = unit if timezone == "UTC" else f"{unit} ({timezone})"

    def window(self, now: float) -> Window:
        local = datetime.fromtimestamp(now, self.zone)
        if self.unit == "day":
            first_day = local.date()
            next_day = first_day + timedelta(days=1)
        else:
            first_day = local.date().replace(day=1)
            next_day = (first_day + timedelta(days=32)).replace(day=1)
        start = int(_midnight(first_day, self.zone))
        end = _midnight(next_day, self.zone)
        return Window(start, (start,), end + _KEEP, end, str(start), end + _KEEP, self.zone)

    def __repr__(self) -> str:
        return f"CalendarPeriod({self.unit!r}, {self.timezone!r})"


class RollingPeriod(Period):
    """The last ``hours`` hours, moving in steps of hours/60 (so N-hour windows step every N minutes)."""

    def __init__(self, hours: int) -> None:
        if type(hours) is not int or hours < 1:
            raise ConfigError(f"a rolling period of {hours!r} hours is not a whole number >= 1. Fix: e.g. 24h.")
        self.hours = hours
        self.step = hours * 3600 // ROLLING_STEPS
        self.text = f"{hours}h"

    def window(self, now: float) -> Window:
        step = self.step
        bucket = int(now // step) * step
        starts = tuple(bucket - i * step for i in range(ROLLING_STEPS + 1))
        return Window(
            bucket,
            starts,
            bucket + (ROLLING_STEPS + 1) * step,
            bucket + step,
            "rolling",
            now + self.hours * 3600,
            ZoneInfo("UTC"),
        )

    def __repr__(self) -> str:
        return f"RollingPeriod({self.hours})"


_ROLLING = re.compile(r"^\s*(\d+)\s*h(ours?)?\s*$", re.IGNORECASE)


def parse_period(text: object, timezone: str = "UTC") -> Period:
    """``day``, ``month`` (calendar, in ``timezone``) or ``<N>h`` (rolling N hours)."""
    if isinstance(text, Period):
        return text
    if not isinstance(text, str):
        raise ConfigError(f"period {text!r} is not day, month or <N>h (e.g. 24h). Fix: write one of those.")
    found = _ROLLING.match(text)
    if found:
        if timezone != "UTC":
            raise ConfigError(f"a rolling period ({text}) has no time zone; remove timezone: {timezone}.")
        return RollingPeriod(int(found.group(1)))
    return CalendarPeriod(text.strip().lower(), timezone)


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"time zone {name!r} is unknown. Fix: an IANA name such as UTC, Europe/Paris or America/New_York."
        ) from None


def _midnight(day: date, where: tzinfo) -> float:
    return datetime.combine(day, time(0), tzinfo=where).timestamp()
