"""The PostgreSQL ledger: what a call pays on its path, and how many rows a second reach the database.

Call path: ``LedgerWriter.add`` (what ``Call._end`` runs for a finished call when OTEL_LLMCOST_LEDGER is set):
the span context, a tuple, a deque append. Measured over blocks of calls with a real SDK span and a real priced
outcome. Inserts: rows a second through the writer (row building, COPY into a staging table, INSERT ... ON
CONFLICT, one transaction per 1,000 rows) and the CPU its thread spends per row (the app's GIL pays it),
through ``postgres.insert`` alone, and replayed from the spill file. Needs a PostgreSQL server:
``--url postgresql://...``, or Debian's binaries (a cluster of its own is made with initdb in a temporary
folder and removed after; as root it runs as the postgres user).

    python benchmarks/ledger.py [--url URL] [--calls 5000 --blocks 41] [--rows 50000] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from opentelemetry.sdk.trace import TracerProvider

from otel_llmcost.ledgers import postgres
from otel_llmcost.ledgers.spill import Spill
from otel_llmcost.ledgers.writer import LedgerWriter
from otel_llmcost.pricing import PriceBook
from otel_llmcost.records import Request, Response, Usage
from otel_llmcost.telemetry import Outcome


@contextmanager
def cluster() -> Iterator[str]:
    """A throwaway PostgreSQL cluster on a free loopback port; yields its URL."""
    found = shutil.which("pg_ctl")
    binaries = Path(found).resolve().parent if found else sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1]
    folder = Path(tempfile.mkdtemp(prefix="llmcost-bench-pg-"))
    folder.chmod(0o755)
    prefix: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    data = str(folder / "data")

    def run(*argv: str) -> None:
        subprocess.run([*prefix, str(binaries / argv[0]), *argv[1:]], check=True, stdout=subprocess.DEVNULL)

    run("initdb", "-D", data, "-A", "trust", "-U", "postgres", "--no-sync")
    run("pg_ctl", "-D", data, "-l", str(folder / "log"), "-w",
        "-o", f"-p {port} -k {folder} -c listen_addresses=127.0.0.1", "start")  # fmt: skip
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        run("pg_ctl", "-D", data, "-w", "-m", "fast", "stop")
        shutil.rmtree(folder, ignore_errors=True)


def fresh_database(url: str) -> str:
    import psycopg

    name = "bench_" + uuid.uuid4().hex[:10]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")  # type: ignore[arg-type]
    return url.rsplit("/", 1)[0] + "/" + name


def a_finished_call() -> tuple[Any, Outcome]:
    """A real SDK span and a real priced outcome, as ``Call._end`` hands them over."""
    span = TracerProvider().get_tracer("bench").start_span("chat gpt-4o")
    span.end()
    request = Request(provider="openai", operation="chat", model="gpt-4o")
    request.attribution = {"llmcost.feature": "chat", "llmcost.team": "cs", "user.id": "alice"}
    usage = Usage(input_tokens=1_000, output_tokens=200)
    cost = PriceBook().cost("openai", "gpt-4o", usage)
    outcome = Outcome(Response(model="gpt-4o-2024-08-06", response_id="chatcmpl-1"), usage, cost, None, 0.5)
    return SimpleNamespace(span=span, request=request, own_span=True), outcome


def call_path(url: str, spill: Path, calls: int, blocks: int) -> float:
    """Median ns per ``add`` over ``blocks`` blocks of ``calls`` each, the queue emptied between blocks (untimed:
    a queue holds about a second of calls in an app, and a tight loop of adds outruns any writer)."""
    call, outcome = a_finished_call()
    writer = LedgerWriter(url, spill=spill, queue_size=calls + 1, flush_every=3600, batch=calls + 1,
                          handle_sigterm=False)  # fmt: skip
    add = writer.add
    writer.started.wait(60)
    per_call = []
    for _ in range(blocks):
        writer.flush(timeout=600)
        start = time.perf_counter_ns()
        for _ in range(calls):
            add(call, outcome)  # type: ignore[arg-type]
        per_call.append((time.perf_counter_ns() - start) / calls)
    writer.close()
    return statistics.median(per_call)


def writer_throughput(url: str, spill: Path, rows: int) -> tuple[float, float]:
    """(rows a second, CPU microseconds a row in the writing thread: row building and the driver's part)."""
    call, outcome = a_finished_call()
    writer = LedgerWriter(url, spill=spill, queue_size=rows + 1, flush_every=3600, batch=rows + 1,
                          handle_sigterm=False)  # fmt: skip
    for _ in range(rows):
        writer.add(call, outcome)  # type: ignore[arg-type]
    writer._batch = postgres.BATCH  # flush in batches of 500 rows, as the thread does
    start, cpu = time.perf_counter(), time.thread_time()
    writer.flush(timeout=600)
    elapsed, cpu = time.perf_counter() - start, time.thread_time() - cpu
    assert writer.counts["written"] == rows, writer.counts
    writer.close()
    return rows / elapsed, cpu / rows * 1e6


def insert_throughput(url: str, rows: int) -> float:
    call, outcome = a_finished_call()
    writer = LedgerWriter(url, handle_sigterm=False, spill=Path(tempfile.mkdtemp()) / "s.db")
    item = (time.time(), call.request, outcome, call.span)
    built = [writer._build(item) for _ in range(rows)]
    writer.close()
    with postgres.connect(url) as conn:
        postgres.migrate(conn)
        start = time.perf_counter()
        for i in range(0, rows, postgres.BATCH):
            postgres.insert(conn, built[i : i + postgres.BATCH])
        return rows / (time.perf_counter() - start)


def replay_throughput(url: str, spill: Path, rows: int) -> float:
    """Rows a second replayed by a writer that starts with a full spill file (its thread's first pass)."""
    call, outcome = a_finished_call()
    maker = LedgerWriter(url, spill=spill.with_suffix(".other"), handle_sigterm=False)
    item = (time.time(), call.request, outcome, call.span)
    Spill(spill).add(maker.target, [maker._build(item) for _ in range(rows)])
    maker.close()
    start = time.perf_counter()
    writer = LedgerWriter(url, spill=spill, handle_sigterm=False)
    writer.started.wait(600)
    elapsed = time.perf_counter() - start
    assert writer.counts["replayed"] == rows, writer.counts
    writer.close()
    return rows / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a PostgreSQL server (a database per measure is made in it)")
    parser.add_argument("--calls", type=int, default=5_000, help="calls per block of the call-path measure")
    parser.add_argument("--blocks", type=int, default=41)
    parser.add_argument("--rows", type=int, default=50_000, help="rows per throughput measure")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, (cluster() if args.url is None else _given(args.url)) as server:
        folder = Path(tmp)
        rate, cpu = writer_throughput(fresh_database(server), folder / "c.db", args.rows)
        results = {
            "add_ns": call_path(fresh_database(server), folder / "a.db", args.calls, args.blocks),
            "writer_rows_per_s": rate,
            "writer_cpu_us_per_row": cpu,
            "insert_rows_per_s": insert_throughput(fresh_database(server), args.rows),
            "replay_rows_per_s": replay_throughput(fresh_database(server), folder / "d.db", args.rows),
        }
    if args.json:
        print(json.dumps(results))
        return
    print(f"call path (LedgerWriter.add)               : {results['add_ns'] / 1000:.2f} us/call")
    print(f"writer flush (build rows + COPY + INSERT)  : {results['writer_rows_per_s']:,.0f} rows/s")
    print(f"writer CPU in its thread (shares the GIL)  : {results['writer_cpu_us_per_row']:.1f} us/row")
    print(f"postgres.insert of built rows              : {results['insert_rows_per_s']:,.0f} rows/s")
    print(f"replay from the spill file                 : {results['replay_rows_per_s']:,.0f} rows/s")


@contextmanager
def _given(url: str) -> Iterator[str]:
    yield url


if __name__ == "__main__":
    main()
