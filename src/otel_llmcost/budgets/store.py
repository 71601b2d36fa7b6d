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

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Decimal
from typing import Any
from urllib.parse import quote

from .periods import Window

PICO = Decimal(10) ** 12
UNLIMITED = 2**63 - 1
"""The limit of a line that only adds up (a wildcard budget's members' total): never refuses."""
MEMBER_SEPARATOR = "#"
"""Between a wildcard budget's name and a member in a line's key (a budget name never contains it)."""
_LONGEST_MEMBER = 100


def to_pico(usd: Decimal, *, round_up: bool = False) -> int:
    """USD as whole picodollars (exact for every real price; reservations round up)."""
    return int((usd * PICO).to_integral_value(ROUND_CEILING if round_up else ROUND_HALF_EVEN))


def to_usd(pico: int) -> Decimal:
    return Decimal(pico).scaleb(-12).normalize() if pico else Decimal(0)


class StoreError(Exception):
    """The store did not answer (unreachable, timed out, locked): the failure rule applies."""


@dataclass(frozen=True, slots=True)
class Line:
    """One budget as a store operation sees it: name, limit in picodollars, its window now.

    For a wildcard budget, one line per member (``budget`` is ``member_key(name, member)``, ``member_of`` the
    budget's name: the memory store keeps those in an LRU) and one line of the members' total (the budget's
    name, limit ``UNLIMITED``).
    """

    budget: str
    limit: int
    window: Window
    member_of: str | None = None


def member_key(budget: str, member: str) -> str:
    """The key a member of a wildcard budget's spend is kept under: ``daily-per-user#alice``.

    The member is percent-encoded (no ``|`` or ``:`` reaches a Redis key or payload), and a long one (baggage
    can carry anything) is replaced by its SHA-256, so every key stays short; distinct members never share one.
    """
    encoded = quote(member, safe="@._-")
    if len(encoded) > _LONGEST_MEMBER:
        encoded = "sha256:" + hashlib.sha256(member.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{budget}{MEMBER_SEPARATOR}{encoded}"


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
    on_evict: Callable[[str], None] | None = None
    """Called with a wildcard budget's name each time a store that keeps a bounded set of members (the memory
    store) forgets one of them."""

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

    def mark_once(self, key: str, expires: float, now: float, group: str | None = None) -> bool:
        """True for the first caller to mark ``key`` (until it expires), in any process sharing the store.

        With ``group``, the first caller also adds ``key`` to that group until it expires (``count_marks``):
        how a wildcard budget counts its members over a threshold without a series per member.
        """
        raise NotImplementedError

    def count_marks(self, groups: Sequence[str], now: float) -> list[int]:
        """How many unexpired marks each group holds now."""
        raise NotImplementedError

    def close(self) -> None:
        """Release connections; the store is not used afterwards."""
