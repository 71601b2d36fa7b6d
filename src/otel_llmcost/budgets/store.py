"""Where spend lives: one interface, three stores (memory, SQLite, Redis), chosen by URL.

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

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Decimal
from typing import Any

from ..errors import ConfigError
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


class MemoryStore(SpendStore):
    """Spend of this process only, gone when it exits: the default, and enough for one worker."""

    url = "memory"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spend: dict[tuple[str, int], int] = {}
        # reservation -> (amount, expires, (budget, bucket, bucket expires) per line)
        self._held: dict[str, tuple[int, float, tuple[tuple[str, int, float], ...]]] = {}
        # charged reservation -> (amount, (budget, bucket) charged, when the record may go)
        self._charged: dict[str, tuple[int, tuple[tuple[str, int], ...], float]] = {}
        self._pending: dict[str, int] = {}
        self._marks: dict[str, float] = {}

    def _purge(self, now: float) -> None:
        for reservation in [r for r, (_, expires, _) in self._held.items() if expires <= now]:
            self._charge(reservation, now)
        for reservation in [r for r, (_, _, keep) in self._charged.items() if keep <= now]:
            del self._charged[reservation]

    def _release(self, reservation: str) -> tuple[int, tuple[tuple[str, int, float], ...]] | None:
        held = self._held.pop(reservation, None)
        if held is None:
            return None
        amount, _, lines = held
        for budget, _, _ in lines:
            self._pending[budget] -= amount
        return amount, lines

    def _charge(self, reservation: str, now: float) -> None:
        """An expired reservation: its amount becomes spend of the buckets it was made in."""
        released = self._release(reservation)
        if released is None:
            return
        amount, lines = released
        charged = tuple((budget, bucket) for budget, bucket, keep in lines if keep > now)
        for key in charged:
            self._spend[key] = self._spend.get(key, 0) + amount
        if charged:
            self._charged[reservation] = (amount, charged, max(keep for _, _, keep in lines))

    def _uncharge(self, reservation: str) -> None:
        charged = self._charged.pop(reservation, None)
        if charged is None:
            return
        amount, keys, _ = charged
        for key in keys:
            if key in self._spend:
                self._spend[key] -= amount

    def _settled(self, line: Line) -> int:
        spend = self._spend
        return sum(spend.get((line.budget, start), 0) for start in line.window.starts)

    def reserve(
        self, reservation: str, lines: Sequence[Line], amount: int, now: float, expires: float, owner: int = 0
    ) -> Refusal | None:
        with self._lock:
            self._purge(now)
            for index, line in enumerate(lines):
                settled = self._settled(line)
                pending = self._pending.get(line.budget, 0)
                if settled + pending >= line.limit or settled + pending + amount > line.limit:
                    return Refusal(index, settled, pending)
            held = tuple((line.budget, line.window.bucket, line.window.expires) for line in lines)
            self._held[reservation] = (amount, expires, held)
            for line in lines:
                self._pending[line.budget] = self._pending.get(line.budget, 0) + amount
        return None

    def settle(
        self, reservation: str | None, lines: Sequence[Line], amount: int, now: float, row: Mapping[str, Any] | None
    ) -> list[int]:
        with self._lock:
            if reservation is not None and self._release(reservation) is None:
                self._uncharge(reservation)
            totals = []
            for line in lines:
                if amount:
                    key = (line.budget, line.window.bucket)
                    self._spend[key] = self._spend.get(key, 0) + amount
                totals.append(self._settled(line))
            if len(self._spend) > 10_000:
                self._drop_old(lines, now)
            return totals

    def _drop_old(self, lines: Sequence[Line], now: float) -> None:
        firsts = {line.budget: line.window.first for line in lines}
        for key in [k for k in self._spend if k[0] in firsts and k[1] < firsts[k[0]]]:
            del self._spend[key]

    def spend(self, lines: Sequence[Line], now: float) -> list[tuple[int, int]]:
        with self._lock:
            self._purge(now)
            return [(self._settled(line), self._pending.get(line.budget, 0)) for line in lines]

    def mark_once(self, key: str, expires: float, now: float) -> bool:
        with self._lock:
            if self._marks.get(key, 0.0) > now:
                return False
            if len(self._marks) > 10_000:
                self._marks = {k: e for k, e in self._marks.items() if e > now}
            self._marks[key] = expires
            return True


def open_store(url: str, timeout: float) -> SpendStore:
    """The store a URL names: ``memory``, ``sqlite:PATH`` (or ``sqlite:///abs/path``), ``redis://...``."""
    text = url.strip()
    if text in ("", "memory", "memory:"):
        return MemoryStore()
    if text.startswith("sqlite:"):
        from .sqlite_store import SQLiteStore

        path = text[len("sqlite:") :]
        if path.startswith("///"):
            path = path[2:]
        elif path.startswith("//"):
            raise ConfigError(f"budget store {url!r}: write sqlite:/abs/path.db, sqlite:///abs/path.db or sqlite:x.db.")
        if not path:
            raise ConfigError(f"budget store {url!r} names no file. Fix: e.g. sqlite:/var/lib/app/llmcost.db.")
        return SQLiteStore(path, timeout)
    if text.startswith(("redis://", "rediss://", "unix://")):
        from .redis_store import RedisStore

        return RedisStore(text, timeout)
    raise ConfigError(
        f"budget store {url!r} is not memory, sqlite:PATH or redis://HOST:PORT/DB. "
        "Fix: set OTEL_LLMCOST_BUDGET_STORE (or budget_store=) to one of those."
    )
