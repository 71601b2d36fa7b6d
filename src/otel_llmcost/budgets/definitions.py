"""What a budget is: a USD limit per period for a scope of calls, warning thresholds, and an action.

Declared in code (``Budget(...)``) or in a YAML file (``loader``); both build the same objects and both
are checked when built, so a bad budget fails ``instrument()``, never a call. Knows nothing about stores.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from .. import names
from ..errors import ConfigError
from .periods import Period, parse_period

ACTIONS = ("warn", "block")
# Scope keyword -> the call attribute it matches ("model" matches the requested model).
SCOPE_KEYS: Mapping[str, str] = {
    "feature": names.LLMCOST_FEATURE,
    "team": names.LLMCOST_TEAM,
    "user": names.USER_ID,
    "model": names.GEN_AI_REQUEST_MODEL,
}
_NAME = re.compile(r"^[A-Za-z0-9_.:@/-]{1,100}$")
WILDCARD = "*"
"""A scope value that gives every distinct value of the key (every user, team, ...) its own limit."""
_PERCENT = re.compile(r"^\s*(\d+(\.\d+)?)\s*%\s*$")
ONE = Decimal(1)


class Budget:
    """A spending limit: ``Budget("daily", limit=50, period="day", timezone="Europe/Paris", feature="chat")``.

    ``period``: ``day`` or ``month`` (calendar, in ``timezone``, default UTC) or ``"<N>h"`` (the rolling last N
    hours). Scope: everything, or one of ``feature=``, ``team=``, ``user=``, ``model=`` (the requested model id).
    ``thresholds``: fractions of the limit (or ``"80%"``) that fire a warning once per period; reaching the limit
    itself always fires too. ``action``: ``warn`` (report only) or ``block`` (refuse calls before they are sent
    once the limit is reached, counting the worst case of calls in flight).

    Per member: a scope value of ``"*"`` (``user="*"``) gives every distinct value of that key its own
    ``limit`` (each user their own $5 a day), and ``overrides={"alice": 20}`` gives some values another one.
    A call without that key set counts against no member (and not against this budget).
    """

    __slots__ = ("action", "limit", "name", "overrides", "period", "scope_key", "scope_value", "thresholds")

    def __init__(
        self,
        name: str,
        *,
        limit: Decimal | float | int | str,
        period: str | Period = "day",
        timezone: str = "UTC",
        feature: str | None = None,
        team: str | None = None,
        user: str | None = None,
        model: str | None = None,
        thresholds: Iterable[float | str | Decimal] = (Decimal("0.8"),),
        action: str = "warn",
        overrides: Mapping[str, Decimal | float | int | str] | None = None,
    ) -> None:
        if not isinstance(name, str) or not _NAME.match(name):
            raise ConfigError(
                f"budget name {name!r} must be 1-100 characters of letters, digits and _.:@/-. Fix: e.g. daily-total."
            )
        self.name = name
        self.limit = _usd(limit, f"budget {name!r}: limit")
        if self.limit <= 0:
            raise ConfigError(f"budget {name!r}: limit {limit!r} must be more than $0. Fix: e.g. limit: 50.")
        self.period = parse_period(period, timezone)
        scopes = {k: v for k, v in (("feature", feature), ("team", team), ("user", user), ("model", model)) if v}
        if len(scopes) > 1:
            raise ConfigError(
                f"budget {name!r}: scope {scopes} names more than one key. Fix: one of feature, team, user, model "
                "(or none for every call); declare one budget per scope."
            )
        self.scope_key: str | None = None
        self.scope_value: str | None = None
        for key, value in scopes.items():
            if not isinstance(value, str):
                raise ConfigError(f"budget {name!r}: {key} {value!r} must be a string.")
            self.scope_key, self.scope_value = SCOPE_KEYS[key], value
        self.overrides = _overrides(overrides, name, self.scope_key, self.scope_value)
        self.thresholds = _thresholds(thresholds, name)
        if action not in ACTIONS:
            raise ConfigError(f"budget {name!r}: action {action!r} is not warn or block.")
        self.action = action

    @property
    def blocks(self) -> bool:
        return self.action == "block"

    @property
    def scope(self) -> str:
        """The scope as written in a log line: ``all``, ``llmcost.feature=chat`` or ``user.id=*`` (per member)."""
        return "all" if self.scope_key is None else f"{self.scope_key}={self.scope_value}"

    @property
    def per_member(self) -> bool:
        """True for a wildcard scope: every distinct value of the key has its own limit."""
        return self.scope_value == WILDCARD

    def value(self, model: str | None, attribution: Mapping[str, str]) -> str | None:
        """The call's value of this budget's scope key (its member, for a wildcard budget)."""
        key = self.scope_key
        if key == names.GEN_AI_REQUEST_MODEL:
            return model
        return attribution.get(key) if key is not None else None

    def matches(self, model: str | None, attribution: Mapping[str, str]) -> bool:
        """True when a call with this requested model and attribution counts against this budget."""
        if self.scope_key is None:
            return True
        value = self.value(model, attribution)
        if self.scope_value == WILDCARD:
            return bool(value)
        return value == self.scope_value

    @property
    def scope_word(self) -> str | None:
        """The scope key as a budget file writes it (``user``, ``team``, ``feature``, ``model``), or None."""
        return next((word for word, key in SCOPE_KEYS.items() if key == self.scope_key), None)

    def describe(self) -> str:
        """One line for people: ``daily $50 per day (block)``; ``per-user $5 per user per day, alice $20 (block)``."""
        if not self.per_member:
            return f"{self.name} ${self.limit} per {self.period.text} ({self.action})"
        shown = [f"{member} ${limit}" for member, limit in list(self.overrides.items())[:3]]
        if len(self.overrides) > 3:
            shown.append(f"{len(self.overrides) - 3} more overrides")
        overrides = "".join(f", {text}" for text in shown)
        return f"{self.name} ${self.limit} per {self.scope_word} per {self.period.text}{overrides} ({self.action})"

    def limit_for(self, member: str | None) -> Decimal:
        """The limit of one member (its override, else ``limit``); ``limit`` for a budget that has no members."""
        if member is None:
            return self.limit
        return self.overrides.get(member, self.limit)

    def __repr__(self) -> str:
        overrides = f", overrides={ {k: str(v) for k, v in self.overrides.items()} }" if self.overrides else ""
        return (
            f"Budget({self.name!r}, limit={self.limit}, period={self.period.text!r}, scope={self.scope!r}, "
            f"thresholds={[str(t) for t in self.thresholds]}, action={self.action!r}{overrides})"
        )


def _overrides(
    values: Mapping[str, Any] | None, name: str, key: str | None, scope: str | None
) -> Mapping[str, Decimal]:
    """Per-member limits: only for a wildcard scope; each a member value and a positive USD amount."""
    if not values:
        return {}
    if scope != WILDCARD:
        raise ConfigError(
            f"budget {name!r}: overrides {dict(values)!r} need a wildcard scope (one limit per member). "
            "Fix: scope: {user: '*'} (or team/feature/model: '*'), or remove overrides."
        )
    if not isinstance(values, Mapping):
        raise ConfigError(
            f"budget {name!r}: overrides {values!r} must map member values to limits. "
            "Fix: e.g. overrides: {alice: 20}."
        )
    found: dict[str, Decimal] = {}
    for member, limit in values.items():
        if not isinstance(member, str) or not member or member == WILDCARD:
            raise ConfigError(
                f"budget {name!r}: override key {member!r} is not a {key} value. Fix: e.g. overrides: {{alice: 20}}."
            )
        amount = _usd(limit, f"budget {name!r}: override {member!r}")
        if amount <= 0:
            raise ConfigError(
                f"budget {name!r}: override {member!r} limit {limit!r} must be more than $0. "
                "Fix: e.g. overrides: {alice: 20}."
            )
        found[member] = amount
    return found


def _usd(value: Any, where: str) -> Decimal:
    if isinstance(value, bool):
        raise ConfigError(f"{where} {value!r} is not an amount in USD. Fix: e.g. 50 or 12.5.")
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ConfigError(f"{where} {value!r} is not an amount in USD. Fix: e.g. 50 or 12.5.") from None
    if not amount.is_finite():
        raise ConfigError(f"{where} {value!r} is not a finite amount in USD.")
    return amount


def _thresholds(values: Iterable[Any], name: str) -> tuple[Decimal, ...]:
    if isinstance(values, (str, bytes, int, float, Decimal)):
        values = [values]
    found: set[Decimal] = set()
    for value in values:
        if isinstance(value, str) and _PERCENT.match(value):
            fraction = Decimal(_PERCENT.match(value).group(1)) / 100  # type: ignore[union-attr]
        else:
            fraction = _usd(value, f"budget {name!r}: threshold")
        if not 0 < fraction < 1:
            raise ConfigError(
                f"budget {name!r}: threshold {value!r} must be between 0 and 1 (a fraction of the limit) or "
                "a percentage below 100%. Fix: e.g. thresholds: [0.5, 0.8] (reaching the limit always fires)."
            )
        found.add(fraction)
    return tuple(sorted(found)) + (ONE,)
