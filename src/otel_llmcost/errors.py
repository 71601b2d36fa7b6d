"""Exceptions this package raises to its user (never from inside an SDK call, except a budget's refusal)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal


class ConfigError(ValueError):
    """Bad configuration found at start-up: the message names the setting, the problem and the fix."""


class BudgetError(RuntimeError):
    """A call refused by a budget before it was sent: nothing reached the provider, nothing was billed."""


class BudgetExceededError(BudgetError):
    """A ``block`` budget whose scope has spent its limit (counting calls in flight) refused the call."""

    def __init__(
        self,
        budget: str,
        spend: Decimal,
        limit: Decimal,
        resets_at: datetime,
        *,
        reserved: Decimal = Decimal(0),
        requested: Decimal = Decimal(0),
        rolling_hours: int | None = None,
        member: tuple[str, str] | None = None,
    ) -> None:
        self.budget = budget
        self.spend = spend
        """USD settled in the current period."""
        self.limit = limit
        self.resets_at = resets_at
        """When the calendar period ends; for a rolling window, only when its next step drops its oldest spend."""
        self.reserved = reserved
        """USD held by calls in flight (their worst case), not yet settled."""
        self.requested = requested
        """The refused call's worst-case cost."""
        self.rolling_hours = rolling_hours
        """N for a rolling window of the last N hours (it never resets: spend leaves it as it ages); else None."""
        self.member = member
        """For a per-member (wildcard) budget: (attribute, value) of the member refused, e.g. ("user.id", "alice");
        spend, limit and reserved are then that member's."""
        in_flight = f" (+${_usd(reserved)} held by calls in flight)" if reserved else ""
        if rolling_hours is None:
            when = f"the budget resets at {resets_at.isoformat()}"
        else:  # no reset time to give: room comes back call by call, as each call's spend ages out
            when = f"spend over the last {rolling_hours} h is counted; room frees up as older calls leave the window"
        who = f" for {member[0]}={member[1]!r}" if member is not None else ""
        super().__init__(
            f"budget {budget!r}{who} has spent ${_usd(spend)}{in_flight} of its ${_usd(limit)} limit; "
            f"this call could cost up to ${_usd(requested)}; {when}"
        )

    def __reduce__(self) -> tuple[object, ...]:
        return (
            _exceeded,
            (
                self.budget, self.spend, self.limit, self.resets_at, self.reserved, self.requested,
                self.rolling_hours, self.member,
            ),
        )


def _exceeded(*args: object) -> BudgetExceededError:
    budget, spend, limit, resets_at, reserved, requested, *rest = args
    return BudgetExceededError(
        budget, spend, limit, resets_at, reserved=reserved, requested=requested,  # type: ignore[arg-type]
        rolling_hours=rest[0] if rest else None,  # type: ignore[arg-type]
        member=rest[1] if len(rest) > 1 else None,  # type: ignore[arg-type]
    )  # fmt: skip


class BudgetUnavailableError(BudgetError):
    """The budget store could not be reached in time and the failure rule is ``closed``: the call was not sent."""


def _usd(value: Decimal) -> str:
    """Dollars for a message: at least cents, more digits only when they matter."""
    text = format(value.normalize(), "f")
    whole, _, cents = text.partition(".")
    return f"{whole}.{cents.ljust(2, '0')}"
