"""The SQLite store: one file (WAL) shared by every process on a host, surviving restarts; also the spend ledger
(``ledger`` makes and writes its table).

Each operation is one ``BEGIN IMMEDIATE`` transaction (the write lock is taken first, so a check and the
reservation it allows cannot interleave with another process's), bounded by the busy timeout. ``settle``
writes the spend and the call's ledger row in the same transaction: a process killed at any point either
settled a call completely or not at all. A reservation left by a process that died is charged (see
``store``) to the bucket it was made in as soon as a reserve or read finds its process (same host) gone,
or when it expires (a process on another host). Charges are remembered in ``budget_charged`` until their
bucket expires, so a call that outlived its reservation and settles late replaces its charge.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from .. import ledger
from ..errors import ConfigError
from .store import Line, Refusal, SpendStore, StoreError

SCHEMA = """
CREATE TABLE IF NOT EXISTS budget_spend (
    budget TEXT NOT NULL,
    bucket INTEGER NOT NULL,          -- unix seconds of the bucket's start
    spend INTEGER NOT NULL,           -- picodollars (USD x 10^12)
    expires REAL NOT NULL,
    PRIMARY KEY (budget, bucket)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS budget_reservations (
    id TEXT NOT NULL,
    budget TEXT NOT NULL,
    amount INTEGER NOT NULL,          -- picodollars held while the call is in flight
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    expires REAL NOT NULL,
    bucket INTEGER NOT NULL DEFAULT 0,  -- the bucket the reservation is charged to if never settled
    keep REAL NOT NULL DEFAULT 0,     -- when that bucket expires (0: a reservation of an older version)
    PRIMARY KEY (id, budget)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS budget_reservations_budget ON budget_reservations (budget);
CREATE TABLE IF NOT EXISTS budget_charged (
    id TEXT NOT NULL,                 -- a reservation charged unsettled: a late settlement takes it back
    budget TEXT NOT NULL,
    bucket INTEGER NOT NULL,
    amount INTEGER NOT NULL,
    expires REAL NOT NULL,
    PRIMARY KEY (id, budget)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS budget_marks (
    mark TEXT PRIMARY KEY,
    expires REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS budget_mark_groups (
    grp TEXT NOT NULL,                -- a wildcard budget: its members over a threshold, counted for a gauge
    mark TEXT NOT NULL,
    expires REAL NOT NULL,
    PRIMARY KEY (grp, mark)
) WITHOUT ROWID;
"""

_HOST = socket.gethostname()
_CLEAN_EVERY = 1000  # settlements between deletions of expired buckets and marks


class SQLiteStore(SpendStore):
    keeps_ledger = True

    def __init__(self, path: str, timeout: float) -> None:
        self.path = str(Path(path).expanduser())
        self.url = f"sqlite:{self.path}"
        self._timeout = timeout
        folder = Path(self.path).parent
        if not folder.is_dir():
            raise ConfigError(f"budget store sqlite:{path}: folder {folder} does not exist. Fix: create it.")
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        self._settled = 0
        try:
            with self._transaction() as conn:
                for statement in ledger.statements(SCHEMA):
                    conn.execute(statement)
                ledger.create(conn)
                columns = {name for (_, name, *_) in conn.execute("PRAGMA table_info(budget_reservations)")}
                for column, kind in (("bucket", "INTEGER"), ("keep", "REAL")):  # a file made by 0.1.0 before them
                    if column not in columns:
                        conn.execute(f"ALTER TABLE budget_reservations ADD COLUMN {column} {kind} NOT NULL DEFAULT 0")
        except StoreError as exc:
            raise ConfigError(f"budget store sqlite:{path} cannot be opened ({exc}).") from None

    # --- connection ----------------------------------------------------------------------------------
    def _connection(self) -> sqlite3.Connection:
        """This process's connection (a forked child opens its own; the parent's is never touched)."""
        if self._conn is None or self._pid != os.getpid():
            conn = sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # WAL: a committed transaction survives a process crash
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                conn = self._connection()
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreError(f"sqlite {self.path}: {exc}") from exc
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException as exc:
                with suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise StoreError(f"sqlite {self.path}: {exc}") from exc
                raise

    # --- the interface -------------------------------------------------------------------------------
    def reserve(
        self, reservation: str, lines: Sequence[Line], amount: int, now: float, expires: float, owner: int = 0
    ) -> Refusal | None:
        with self._transaction() as conn:
            _charge_unsettled(conn, now)
            refusal = self._check(conn, lines, amount)
            if refusal is not None:
                return refusal
            conn.executemany(
                "INSERT INTO budget_reservations (id, budget, amount, host, pid, expires, bucket, keep) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (reservation, line.budget, amount, _HOST, owner or os.getpid(), expires, line.window.bucket,
                     line.window.expires)
                    for line in lines
                ],
            )  # fmt: skip
        return None

    def _check(self, conn: sqlite3.Connection, lines: Sequence[Line], amount: int) -> Refusal | None:
        for index, line in enumerate(lines):
            settled = _settled(conn, line)
            pending = _pending(conn, line.budget)
            if settled + pending >= line.limit or settled + pending + amount > line.limit:
                return Refusal(index, settled, pending)
        return None

    def settle(
        self, reservation: str | None, lines: Sequence[Line], amount: int, now: float, row: Mapping[str, Any] | None
    ) -> list[int]:
        with self._transaction() as conn:
            if reservation is not None:
                released = conn.execute("DELETE FROM budget_reservations WHERE id = ?", (reservation,)).rowcount
                if not released:  # charged meanwhile (it outlived its expiry): the real cost replaces the charge
                    _uncharge(conn, reservation)
            totals = []
            for line in lines:
                if amount:
                    conn.execute(
                        "INSERT INTO budget_spend (budget, bucket, spend, expires) VALUES (?, ?, ?, ?) "
                        "ON CONFLICT (budget, bucket) DO UPDATE SET spend = spend + excluded.spend",
                        (line.budget, line.window.bucket, amount, line.window.expires),
                    )
                totals.append(_settled(conn, line))
            if row is not None:
                ledger.write(conn, row)
            self._settled += 1
            if self._settled % _CLEAN_EVERY == 0:
                conn.execute("DELETE FROM budget_spend WHERE expires < ?", (now,))
                conn.execute("DELETE FROM budget_marks WHERE expires < ?", (now,))
                conn.execute("DELETE FROM budget_charged WHERE expires < ?", (now,))
                conn.execute("DELETE FROM budget_mark_groups WHERE expires < ?", (now,))
        return totals

    def spend(self, lines: Sequence[Line], now: float) -> list[tuple[int, int]]:
        with self._transaction() as conn:
            _charge_unsettled(conn, now)
            return [(_settled(conn, line), _pending(conn, line.budget)) for line in lines]

    def probe(self) -> None:
        with self._transaction() as conn:
            conn.execute("SELECT 1 FROM budget_spend LIMIT 1").fetchall()

    def mark_once(self, key: str, expires: float, now: float, group: str | None = None) -> bool:
        with self._transaction() as conn:
            conn.execute("DELETE FROM budget_marks WHERE mark = ? AND expires <= ?", (key, now))
            cursor = conn.execute("INSERT OR IGNORE INTO budget_marks (mark, expires) VALUES (?, ?)", (key, expires))
            first = cursor.rowcount == 1
            if first and group is not None:
                conn.execute(
                    "INSERT OR REPLACE INTO budget_mark_groups (grp, mark, expires) VALUES (?, ?, ?)",
                    (group, key, expires),
                )
            return first

    def count_marks(self, groups: Sequence[str], now: float) -> list[int]:
        with self._transaction() as conn:
            return [
                int(conn.execute(
                    "SELECT COUNT(*) FROM budget_mark_groups WHERE grp = ? AND expires > ?", (group, now)
                ).fetchone()[0])
                for group in groups
            ]  # fmt: skip

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None


def _settled(conn: sqlite3.Connection, line: Line) -> int:
    (total,) = conn.execute(
        "SELECT COALESCE(SUM(spend), 0) FROM budget_spend WHERE budget = ? AND bucket >= ? AND bucket <= ?",
        (line.budget, line.window.first, line.window.bucket),
    ).fetchone()
    return int(total)


def _pending(conn: sqlite3.Connection, budget: str) -> int:
    (total,) = conn.execute(
        "SELECT COALESCE(SUM(amount), 0) FROM budget_reservations WHERE budget = ?", (budget,)
    ).fetchone()
    return int(total)


def _charge_unsettled(conn: sqlite3.Connection, now: float) -> None:
    """Charge the reservations that expired or whose process (this host) is gone to the buckets they were made in.

    Never released: the dead call may have been answered and billed (see ``store``).
    """
    expired = conn.execute(
        "SELECT id, budget, amount, bucket, keep FROM budget_reservations WHERE expires <= ?", (now,)
    ).fetchall()
    pids = [pid for (pid,) in conn.execute("SELECT DISTINCT pid FROM budget_reservations WHERE host = ?", (_HOST,))]
    dead = [pid for pid in pids if not _alive(pid)]
    for pid in dead:
        expired += conn.execute(
            "SELECT id, budget, amount, bucket, keep FROM budget_reservations WHERE host = ? AND pid = ? "
            "AND expires > ?",
            (_HOST, pid, now),
        ).fetchall()
    for reservation, budget, amount, bucket, keep in expired:
        conn.execute("DELETE FROM budget_reservations WHERE id = ? AND budget = ?", (reservation, budget))
        if keep <= now or not amount:
            continue  # its bucket no longer counts anywhere (or a reservation of 0.1.0, which knew no bucket)
        conn.execute(
            "INSERT INTO budget_spend (budget, bucket, spend, expires) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (budget, bucket) DO UPDATE SET spend = spend + excluded.spend",
            (budget, bucket, amount, keep),
        )
        conn.execute(
            "INSERT OR REPLACE INTO budget_charged (id, budget, bucket, amount, expires) VALUES (?, ?, ?, ?, ?)",
            (reservation, budget, bucket, amount, keep),
        )


def _uncharge(conn: sqlite3.Connection, reservation: str) -> None:
    """Take back what ``_charge_unsettled`` charged for a reservation whose call then settled after all."""
    rows = conn.execute("SELECT budget, bucket, amount FROM budget_charged WHERE id = ?", (reservation,)).fetchall()
    for budget, bucket, amount in rows:
        conn.execute(
            "UPDATE budget_spend SET spend = spend - ? WHERE budget = ? AND bucket = ?", (amount, budget, bucket)
        )
    if rows:
        conn.execute("DELETE FROM budget_charged WHERE id = ?", (reservation,))


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True

