"""Digest periods: a UTC calendar day or an ISO week (Monday to Sunday, UTC), and the closed one of a moment."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

KINDS = ("day", "week")
# How many periods before the digest's make the average it is compared with.
BASELINE = {"day": 7, "week": 4}


@dataclass(frozen=True)
class DigestPeriod:
    """One closed period: its kind, first day and the [start, end) unix seconds it covers."""

    kind: str
    first: date

    @property
    def days(self) -> int:
        return 1 if self.kind == "day" else 7

    @property
    def start(self) -> float:
        return datetime.combine(self.first, time(0), tzinfo=timezone.utc).timestamp()

    @property
    def end(self) -> float:
        return self.start + self.days * 86_400

    @property
    def key(self) -> str:
        """``day:2026-12-04`` or ``week:2026-W49``: what the sent-state file records."""
        if self.kind == "day":
            return f"day:{self.first.isoformat()}"
        year, week, _ = self.first.isocalendar()
        return f"week:{year}-W{week:02d}"

    @property
    def label(self) -> str:
        """For people: ``Friday 2026-12-04`` or ``week 2026-W49 (2026-11-30 to 2026-12-06)``."""
        if self.kind == "day":
            return f"{self.first:%A} {self.first.isoformat()}"
        last = self.first + timedelta(days=6)
        return f"week {self.key.partition(':')[2]} ({self.first.isoformat()} to {last.isoformat()})"

    def shifted(self, periods: int) -> DigestPeriod:
        """The period ``periods`` before (negative) or after this one."""
        return DigestPeriod(self.kind, self.first + timedelta(days=self.days * periods))

    @property
    def previous_name(self) -> str:
        return "previous day" if self.kind == "day" else "previous week"


def containing(kind: str, day: date) -> DigestPeriod:
    """The day, or the ISO week (from its Monday), that holds ``day``."""
    if kind == "day":
        return DigestPeriod("day", day)
    return DigestPeriod("week", day - timedelta(days=day.weekday()))


def last_closed(kind: str, now: float) -> DigestPeriod:
    """The most recent period that ended at or before ``now``."""
    today = datetime.fromtimestamp(now, timezone.utc).date()
    return containing(kind, today).shifted(-1)
