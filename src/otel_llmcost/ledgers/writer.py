"""The PostgreSQL ledger writer: rows leave the call path through a bounded in-memory queue.

``add`` is the only part that runs in the caller's thread: it appends (time, request, outcome, span context)
to a deque and returns; the row itself (JSON of the attribution, ids in hex) is built by the writer's
background thread, which inserts batches (multi-row ``INSERT ... ON CONFLICT (row_id) DO NOTHING``) every
``flush_every`` seconds or as soon as a batch is full. When the queue holds ``queue_size`` rows the call
moves the oldest batch to the local SQLite spill file itself instead of waiting: a call never waits for the
database (one call in a batch's worth pays for a spill transaction). When the database does not answer, the
thread spills what it holds, retries with backoff, and when it answers again replays the spill oldest first,
deleting a batch only after PostgreSQL committed it.

At exit (``atexit``), on ``close()`` (``uninstrument()``) and on SIGTERM (a handler chained before the
app's own, or before the default, which then still ends the process) the queue is flushed: to the database
when it answers within ``exit_timeout``, to the spill file otherwise. Only SIGKILL (or a power cut) loses
rows: those still in memory, at most ``queue_size`` plus the one batch being inserted.
"""

from __future__ import annotations

import atexit
import itertools
import logging
import os
import signal
import threading
import time
import uuid
import weakref
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opentelemetry import trace

from .. import ledger
from ..guard import internal_error
from . import postgres
from .spill import Spill, default_path

if TYPE_CHECKING:
    from ..calls import Call
    from ..records import Request
    from ..telemetry import Outcome

logger = logging.getLogger("otel_llmcost.ledger")

FLUSH_EVERY = 1.0
"""Seconds between the background thread's flushes when no batch fills up sooner."""
RETRY_MIN, RETRY_MAX = 0.5, 10.0
"""Backoff (seconds) between connection attempts while the database does not answer."""


call_row = ledger.call_row


_Item = tuple[float, "Request", "Outcome", trace.Span]
_now = time.time


class LedgerWriter:
    """Writes finished calls to a PostgreSQL ledger from a background thread; see the module's docstring."""

    def __init__(
        self,
        url: str,
        *,
        spill: str | Path | None = None,
        queue_size: int = 10_000,
        flush_every: float = FLUSH_EVERY,
        batch: int = postgres.BATCH,
        exit_timeout: float = 10.0,
        connect_timeout: float = 5.0,
        handle_sigterm: bool = True,
    ) -> None:
        postgres.import_psycopg()  # a missing extra is a ConfigError at instrument(), not a silent loss later
        self.url = url
        self.target = postgres.safe_url(url)
        self.spill = Spill(spill if spill is not None else default_path())
        self.queue_size = queue_size
        self._room = queue_size
        """Rows the queue takes; 0 once closed (a late call's row goes to the spill file)."""
        self._flush_every = flush_every
        self._batch = batch
        self._exit_timeout = exit_timeout
        self._connect_timeout = connect_timeout
        self.counts = {"written": 0, "spilled": 0, "replayed": 0, "failed": 0}
        """Rows inserted from memory, rows spilled, spilled rows replayed, rows neither written nor spilled."""
        self._reset()
        self._closed = False
        ref = weakref.ref(self)
        atexit.register(_close_ref, ref)
        os.register_at_fork(after_in_child=lambda: _after_fork_ref(ref))
        self._previous_sigterm: Any = None
        if handle_sigterm:
            self._install_sigterm()
        self._start()  # at once: the schema is migrated and an earlier run's spill replayed before any call

    started: threading.Event
    """Set once the thread's first pass is done: connected and migrated (or found the database down) and the
    spill file replayed. Nothing waits for it but tests and benchmarks."""

    def _reset(self) -> None:
        """This process's state: a fresh queue, id prefix and (not yet started) thread."""
        self._queue: deque[_Item] = deque()
        self._wake = threading.Event()
        self._stop = False
        self._start_lock = threading.RLock()
        self._drain_lock = threading.Lock()  # one writer of the connection at a time (the thread, or flush())
        self._thread: threading.Thread | None = None
        self._prefix = uuid.uuid4().hex[:16]
        self._seq = itertools.count()
        self._conn: Any = None
        self._retry_at = 0.0
        self._backoff = RETRY_MIN
        self._down = False
        self._spilled = True  # the file may hold rows from before (another process, a previous run): look once
        self.started = threading.Event()

    # --- the call path ------------------------------------------------------------------------------------
    def add(self, call: Call, outcome: Outcome) -> None:
        """Hand a finished call's row to the writer: an append to the queue (a spill when it is full).

        The span (ours, or the current one when the SDK made its own) is kept, not its context: the thread
        reads the ids. The row is built by the thread too."""
        try:
            queue = self._queue
            item = (_now(), call.request, outcome, call.span if call.own_span else trace.get_current_span())
            if len(queue) < self._room:
                queue.append(item)
                if len(queue) >= self._batch or self._thread is None:
                    self._kick()
                return
            self._overflow(item)
        except Exception:
            internal_error("ledger")

    def _overflow(self, item: _Item) -> None:
        """The queue is full (the database is slow, or the thread starved): this call moves the oldest batch to
        the spill file (one transaction for the batch, not one per call) and queues its row behind; the order
        holds, since the spill is replayed before the queue. Closed: its row goes to the spill file."""
        if self._closed:
            self._spill_rows([self._build(item)])
            return
        self._spill_rows(self._take())
        self._queue.append(item)

    def _kick(self) -> None:
        if self._thread is None:
            self._start()
        else:
            self._wake.set()

    # --- the background thread ----------------------------------------------------------------------------
    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None and not self._stop:
                thread = threading.Thread(target=self._run, name="otel-llmcost-ledger", daemon=True)
                thread.start()
                self._thread = thread

    def _run(self) -> None:
        try:
            self._drain(None, queue=False)
        except Exception:
            internal_error("ledger")
        self.started.set()
        while True:
            self._wake.wait(self._flush_every)
            self._wake.clear()
            stopping = self._stop
            try:
                self._drain(time.monotonic() + self._exit_timeout if stopping else None)
            except Exception:
                internal_error("ledger")
            if stopping:
                return

    def _build(self, item: _Item) -> dict[str, Any]:
        ts, request, outcome, span = item
        row = call_row(request, outcome, span.get_span_context(), ts)
        row["row_id"] = f"{self._prefix}-{next(self._seq)}"
        return row

    def _take(self) -> list[dict[str, Any]]:
        """The rows of the oldest batch of the queue (at most ``batch``), taken off it."""
        queue = self._queue
        items = []
        for _ in range(self._batch):
            try:
                items.append(queue.popleft())
            except IndexError:
                break
        return [self._build(item) for item in items]

    def _drain(self, deadline: float | None, queue: bool = True) -> None:
        """Replay the spill (when it holds rows and the database answers), then write the queue in batches.

        ``deadline`` (monotonic): a last flush, which tries the database once even while backing off, and
        spills what is left when the time is up."""
        with self._drain_lock:
            down = False
            while self._spilled:
                if (deadline is not None and time.monotonic() > deadline) or self._connection(deadline) is None:
                    down = True
                    break
                if not self._replay_batch():
                    down = self._spilled
                    break
            while queue:
                rows = self._take()
                if not rows:
                    return
                late = deadline is not None and time.monotonic() > deadline
                if down or late or self._spilled or self._connection(deadline) is None:
                    down = True
                    self._spill_rows(rows)  # behind the rows spilled before them: the order is kept
                    continue
                try:
                    postgres.insert(self._conn, rows)
                except postgres.PostgresUnavailable as exc:
                    self._lost_connection(exc)
                    self._spill_rows(rows)
                    down = True
                    continue
                self.counts["written"] += len(rows)

    def _replay_batch(self) -> bool:
        """Write the oldest spilled rows; False when none are left or the database failed."""
        try:
            batch = self.spill.oldest(self.target, self._batch)
        except Exception:
            internal_error("ledger")
            return False
        if not batch:
            self._spilled = False
            return False
        try:
            postgres.insert(self._conn, [row for _, row in batch])
        except postgres.PostgresUnavailable as exc:
            self._lost_connection(exc)
            return False
        self.spill.remove([seq for seq, _ in batch])  # after the commit: a crash here means a replay, not a loss
        self.counts["replayed"] += len(batch)
        return True

    def _spill_rows(self, rows: list[dict[str, Any]]) -> None:
        try:
            self.spill.add(self.target, rows)
        except Exception:
            self.counts["failed"] += len(rows)
            logger.warning("otel-llmcost: ledger rows could not be spilled to %s: %d lost", self.spill.path,
                           len(rows), exc_info=True)  # fmt: skip
            return
        self._spilled = True
        self.counts["spilled"] += len(rows)

    # --- the connection -----------------------------------------------------------------------------------
    def _connection(self, deadline: float | None) -> Any:
        """The open connection, or a new one (migrated); None while the database does not answer."""
        if self._conn is not None and not self._conn.closed:
            return self._conn
        now = time.monotonic()
        if now < self._retry_at and deadline is None:
            return None
        try:
            conn = postgres.connect(self.url, self._connect_timeout)
            try:
                postgres.migrate(conn)
            except Exception as exc:
                conn.close()
                raise postgres.PostgresUnavailable(str(exc)) from None
        except postgres.PostgresUnavailable as exc:
            self._lost_connection(exc)
            return None
        self._conn = conn
        self._backoff = RETRY_MIN
        if self._down:
            self._down = False
            logger.warning("otel-llmcost: ledger %s answers again; spilled rows are being replayed", self.target)
        return conn

    def _lost_connection(self, exc: BaseException) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:
                internal_error("ledger")
        self._conn = None
        self._retry_at = time.monotonic() + self._backoff
        self._backoff = min(self._backoff * 2, RETRY_MAX)
        if not self._down:
            self._down = True
            logger.warning("otel-llmcost: ledger %s does not answer (%s); rows are spilled to %s until it does",
                           self.target, exc, self.spill.path)  # fmt: skip

    # --- flush and close ----------------------------------------------------------------------------------
    def flush(self, timeout: float | None = None) -> None:
        """Write (or spill) every row queued so far, from the calling thread. For tests, benchmarks and exit."""
        self._drain(time.monotonic() + (self._exit_timeout if timeout is None else timeout))

    def close(self) -> None:
        """Stop the thread after a last flush (database within ``exit_timeout``, else the spill file)."""
        if self._closed:
            return
        self._closed = True
        self._room = 0
        self._stop = True
        thread = self._thread
        if thread is not None and thread.is_alive() and thread is not threading.current_thread():
            self._wake.set()
            thread.join(self._exit_timeout + self._connect_timeout + 1)
        try:
            rest = self._take()
            while rest:  # what the thread left (it had not started, or it is stuck): to the spill file
                self._spill_rows(rest)
                rest = self._take()
        except Exception:
            internal_error("ledger")
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:
                internal_error("ledger")
            self._conn = None
        self.spill.close()
        self._restore_sigterm()

    # --- SIGTERM ------------------------------------------------------------------------------------------
    def _install_sigterm(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # only the main thread may set handlers; atexit still flushes a normal exit
        try:
            previous = signal.getsignal(signal.SIGTERM)
        except (ValueError, OSError):
            return
        if previous == signal.SIG_IGN:
            return
        ref = weakref.ref(self)

        def on_sigterm(signum: int, frame: Any) -> None:
            writer = ref()
            if writer is not None:
                writer.close()  # restores ``previous``
            if callable(previous):
                previous(signum, frame)
            else:  # the default: end the process as SIGTERM would have
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                os.kill(os.getpid(), signal.SIGTERM)

        signal.signal(signal.SIGTERM, on_sigterm)
        self._previous_sigterm = (previous, on_sigterm)

    def _restore_sigterm(self) -> None:
        if self._previous_sigterm is None or threading.current_thread() is not threading.main_thread():
            return
        previous, ours = self._previous_sigterm
        self._previous_sigterm = None
        try:
            if signal.getsignal(signal.SIGTERM) is ours:
                signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
        except (ValueError, OSError):
            pass


def _close_ref(ref: weakref.ref[LedgerWriter]) -> None:
    writer = ref()
    if writer is not None:
        writer.close()


def _after_fork_ref(ref: weakref.ref[LedgerWriter]) -> None:
    """In a forked child: the parent's queue and thread are the parent's; start afresh."""
    writer = ref()
    if writer is not None:
        writer._reset()
        writer.spill.forget_connection()


def pending(writer: LedgerWriter) -> Mapping[str, int]:
    """Rows in memory and in the spill file for this ledger (for tests and ``check``)."""
    return {"queued": len(writer._queue), "spilled": writer.spill.count(writer.target)}
