"""Option types shared by the commands: durations (``30s``, ``5m``, ``7d``) and points in time."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any
from urllib.parse import SplitResult, urlsplit

import click

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_LONGEST = 100 * 365 * 86400  # a window or a run longer than a century is a typo (and past datetime's range)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")


class Duration(click.ParamType):  # type: ignore[type-arg]
    """A duration as seconds: ``90`` (seconds), ``30s``, ``5m``, ``2h``, ``7d``, ``1w``."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, (int, float)):
            seconds = float(value)
        else:
            match = _DURATION.match(str(value))
            if match is None:
                self.fail(f"{value!r} is not a duration; write it like 30s, 5m, 2h, 7d.", param, ctx)
            seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"]
        if seconds <= 0:
            self.fail(f"{value!r} must be longer than zero.", param, ctx)
        if seconds > _LONGEST:
            self.fail(f"{value!r} is longer than a century; write it like 30s, 5m, 2h, 7d.", param, ctx)
        return seconds


class Moment(click.ParamType):  # type: ignore[type-arg]
    """A point in time as unix seconds: ``1732406400``, ``2026-11-23``, ``2026-11-23T18:00:00Z`` (UTC if no zone)."""

    name = "time"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, (int, float)):
            return self._in_range(float(value), value, param, ctx)
        text = str(value).strip()
        try:
            return self._in_range(float(text), value, param, ctx)
        except ValueError:
            pass
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            self.fail(f"{value!r} is not a time; write unix seconds or ISO 8601 (2026-11-23T18:00:00Z).", param, ctx)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return moment.timestamp()

    def _in_range(self, seconds: float, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        """Unix seconds that are a date (not nan, inf or beyond year 9999): a window's ends are printed as dates."""
        try:
            datetime.fromtimestamp(seconds, tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            self.fail(f"{value!r} is not a time a date can show (unix seconds up to the year 9999).", param, ctx)
        return seconds


def http_url(value: str, option: str, example: str) -> SplitResult:
    """``value`` as an http(s) URL with a host (and a valid port, if any), else a usage error on ``option``."""
    try:
        parts = urlsplit(value)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018 (raises ValueError when out of range or not a number)
    except ValueError:
        valid = False
    if not valid:
        raise click.BadParameter(f"{value!r} is not an http(s) URL such as {example}.", param_hint=option)
    return parts


LEDGER_METAVAR = "sqlite:PATH|postgresql://..."
LEDGER_HELP = "The ledger: sqlite:PATH (the SQLite budget store's file) or postgresql://USER@HOST:PORT/DB."


def ledger_url(value: str, option: str = "--from") -> str:
    """``value`` as a ledger URL (``sqlite:PATH``, ``postgresql://...``, ``postgres://...``; the scheme in
    lower case), else a usage error on ``option``. Whether the ledger is there is for ``open_reader`` to say."""
    scheme, sep, rest = value.strip().partition(":")
    scheme = scheme.lower()
    if not sep or not rest or scheme not in ("sqlite", "postgresql", "postgres") or (
        scheme != "sqlite" and not rest.startswith("//")
    ):
        raise click.BadParameter(
            f"{value!r} is not sqlite:PATH nor postgresql://... (e.g. sqlite:/var/lib/app/llmcost.db or "
            "postgresql://llmcost@db:5432/llmcost).",
            param_hint=option,
        )
    return f"{scheme}:{rest}"


def describe(seconds: float) -> str:
    """``7d``, ``36h``, ``90s``: a duration in the largest unit that spells it exactly."""
    for unit in ("d", "h", "m", "s"):
        size = _UNITS[unit]
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


DURATION = Duration()
MOMENT = Moment()
