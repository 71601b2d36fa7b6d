"""The memory store: spend of this process only (see ``store`` for the interface and the rules it keeps).

Members of wildcard budgets (one per user, team...) are kept in an LRU of ``MEMBERS_CAP`` members: past it,
the member least recently used that has no call in flight is forgotten (its spend and held marks go; it
starts its period again from $0 if it comes back) and counted in ``evicted`` and ``on_evict``. The SQLite
and Redis stores forget nobody: their rows and keys expire with their period instead.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from itertools import islice
from typing import Any

from .store import Line, Refusal, SpendStore

MEMBERS_CAP = 10_000
"""Members of wildcard budgets a memory store keeps (all budgets together) before it forgets the oldest."""
_MARKS_CAP = 10_000


class MemoryStore(SpendStore):
    """Spend of this process only, gone when it exits: the default, and enough for one worker."""

    url = "memory"

    def __init__(self, members_cap: int = MEMBERS_CAP) -> None:
        self.members_cap = members_cap
        self.evicted = 0
        """Members forgotten past the cap, since the store was made."""
        # member line key -> (its budget's name, the buckets it has spend in), least recently used first
        self._members: OrderedDict[str, tuple[str, set[int]]] = OrderedDict()
        self._groups: dict[str, dict[str, float]] = {}
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
            left = self._pending[budget] - amount
            if left:
                self._pending[budget] = left
            else:
                del self._pending[budget]  # a member with nothing in flight leaves no entry behind
        return amount, lines

    def _charge(self, reservation: str, now: float) -> None:
        """An expired reservation: its amount becomes spend of the buckets it was made in."""
        released = self._release(reservation)
        if released is None:
            return
        amount, lines = released
        charged = tuple((budget, bucket) for budget, bucket, keep in lines if keep > now)
        for key in charged:
            self._add(key[0], key[1], amount)
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

    def _add(self, budget: str, bucket: int, amount: int) -> None:
        key = (budget, bucket)
        self._spend[key] = self._spend.get(key, 0) + amount
        member = self._members.get(budget)
        if member is not None:
            member[1].add(bucket)

    def _touch(self, lines: Sequence[Line]) -> None:
        """The members of these lines become the most recently used; past the cap, the oldest idle one goes."""
        members = self._members
        for line in lines:
            if line.member_of is None:
                continue
            if line.budget in members:
                members.move_to_end(line.budget)
            else:
                members[line.budget] = (line.member_of, set())
        excess = len(members) - self.members_cap
        if excess <= 0:
            return
        pending = self._pending
        current = {line.budget for line in lines}
        for key in list(islice(members, excess + 64)):  # oldest first; those with calls in flight are skipped
            if excess <= 0:
                break
            if key in pending or key in current:
                continue  # a member with a call in flight stays: its reservation must be settled against it
            group, buckets = members.pop(key)
            for bucket in buckets:
                self._spend.pop((key, bucket), None)
            excess -= 1
            self.evicted += 1
            if self.on_evict is not None:
                self.on_evict(group)

    def _settled(self, line: Line) -> int:
        spend = self._spend
        return sum(spend.get((line.budget, start), 0) for start in line.window.starts)

    def reserve(
        self, reservation: str, lines: Sequence[Line], amount: int, now: float, expires: float, owner: int = 0
    ) -> Refusal | None:
        with self._lock:
            self._purge(now)
            self._touch(lines)  # a member refused is in use too: forgetting it would hand it its limit again
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
            self._touch(lines)
            totals = []
            for line in lines:
                if amount:
                    self._add(line.budget, line.window.bucket, amount)
                totals.append(self._settled(line))
            if len(self._spend) > 10_000:
                self._drop_old(lines, now)
            return totals

    def _drop_old(self, lines: Sequence[Line], now: float) -> None:
        firsts = {line.budget: line.window.first for line in lines}
        for key in [k for k in self._spend if k[0] in firsts and k[1] < firsts[k[0]]]:
            del self._spend[key]
            member = self._members.get(key[0])
            if member is not None:
                member[1].discard(key[1])

    def spend(self, lines: Sequence[Line], now: float) -> list[tuple[int, int]]:
        with self._lock:
            self._purge(now)
            return [(self._settled(line), self._pending.get(line.budget, 0)) for line in lines]

    def mark_once(self, key: str, expires: float, now: float, group: str | None = None) -> bool:
        with self._lock:
            if self._marks.get(key, 0.0) > now:
                return False
            self._marks[key] = expires
            self._marks = _bounded(self._marks, now)
            if group is not None:
                marks = self._groups.setdefault(group, {})
                marks[key] = expires
                self._groups[group] = _bounded(marks, now)
            return True

    def count_marks(self, groups: Sequence[str], now: float) -> list[int]:
        with self._lock:
            return [sum(1 for e in self._groups.get(group, {}).values() if e > now) for group in groups]


def _bounded(marks: dict[str, float], now: float) -> dict[str, float]:
    """Marks past the cap: the expired ones go, then the oldest (a mark forgotten may fire once more)."""
    if len(marks) <= _MARKS_CAP:
        return marks
    kept = {k: e for k, e in marks.items() if e > now}
    if len(kept) > _MARKS_CAP:
        kept = dict(list(kept.items())[len(kept) - _MARKS_CAP // 2 :])
    return kept
