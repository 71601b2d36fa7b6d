"""Where spend lives: the interface every store implements (``memory_store``, ``sqlite_store``, ``redis_store``)
and the types they share; ``stores.open_store`` picks one by URL.

Amounts are whole picodollars (USD x 10^12) everywhere: every price per million tokens with up to six
decimals gives a whole number, so stored sums equal the sum of call costs exactly, and Redis can add
them atomically. A store keeps, per budget, settled spend per bucket (see ``periods``), the reservations
of calls in flight, and threshold marks (so a warning fires once per period across processes).

Every method is atomic on its own. A store that cannot answer raises ``StoreError`` within its timeout;
what a caller then does (fail open or closed) is the enforcer's business.

A reservation that is never settled (its process died mid-call, or it outlived its expiry) is *charged*:
its amount, the call's worst case, is added to the bucket it was reserved in, never released. The call may
well have been answered and billed, so releasing it would let other calls spend that money again; charging
it can leave headroom unused until the period ends, never let spend pass the limit. A late settlement of a
charged reservation (a call that outlived its expiry) takes the charge back and adds the real cost instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Decimal
from typing import Any

from .periods import Window

PICO = Decimal(10) ** 12


def to_pico(usd: Decimal, *, round_up: bool = False) -> int:
    """USD as whole picodollars (exact for every real price; reservations round up)."""
    return int((usd * PICO).to_integral_value(ROUND_CEILING if round_up else ROUND_HALF_EVEN))


def to_usd(pico: int) -> Decimal:
    return Decimal(pico).scaleb(-12).normalize() if pico else Decimal(0)


class StoreError(Exception):
    """The store did not answer (unreachable, timed out, locked): the failure rule applies."""


@dataclass(frozen=True, slots=True)
class Line:
    """One budget as a store operation sees it: name, limit in picodollars, its window now."""

    budget: str
    limit: int
    window: Window


@dataclass(frozen=True, slots=True)
class Refusal:
    """A reservation refused: which line, and what that budget had settled and held in flight."""

    index: int
    settled: int
    pending: int


class SpendStore:
    """The interface every store implements."""

    url: str = ""
    keeps_ledger = False
    """True when ``settle`` also writes the call's ledger row (the SQLite store)."""

    def reserve(
        self, reservation: str, lines: Sequence[Line], amount: int, now: float, expires: float, owner: int = 0
    ) -> Refusal | None:
        """Hold ``amount`` against every line's budget, unless one of them would pass its limit.

        Refused when settled + held >= limit, or settled + held + amount > limit, for any line; then nothing is
        held. A reservation still held at ``expires`` (or whose ``owner`` pid died, where the store can tell) is
        charged to each line's current bucket, as if settled at ``amount``.
        """
        raise NotImplementedError

    def settle(
        self, reservation: str | None, lines: Sequence[Line], amount: int, now: float, row: Mapping[str, Any] | None
    ) -> list[int]:
        """Release the reservation (if still held; if it was charged, take the charge back), add ``amount`` to
        each line's current bucket, write the ledger row (stores that keep one), all at once; return each
        line's settled spend in its window."""
        raise NotImplementedError

    def spend(self, lines: Sequence[Line], now: float) -> list[tuple[int, int]]:
        """(settled, held in flight) of each line's budget now (reservations found expired are charged first)."""
        raise NotImplementedError

    def probe(self) -> None:
        """One round trip to the store; ``StoreError`` (within the timeout) when it does not answer."""

    def mark_once(self, key: str, expires: float, now: float) -> bool:
        """True for the first caller to mark ``key`` (until it expires), in any process sharing the store."""
        raise NotImplementedError

    def close(self) -> None:
        """Release connections; the store is not used afterwards."""
