"""The memory store: spend of this process only (see ``store`` for the interface and the rules it keeps)."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from .store import Line, Refusal, SpendStore


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
