"""Leaks: abandoned streams and plain calls leave nothing behind.

The suite runs a short version (6,000 calls per run, checked every 2,000), which a leak of one object per call
still fails by a factor of ten; the full run (100,000 abandoned streams and 100,000 plain calls) is
``-m benchmark`` (benchmarks/timed_tests.sh).

Each run (tests/leak_worker.py, its own process so that earlier tests' objects do not blur the figures, two at a
time on the two cores) drives the real Anthropic client (its own tracing off, so our span and stream proxy are
on the path; the cheapest real SDK call here). Streams are abandoned after two chunks: never closed, never read
to the end, dropped. Half the calls are sync, half async. Checked at every 10k calls after a garbage collection:
every span started has ended, sampled spans, OpenTelemetry contexts, stream proxies and SDK streams are no longer
referenced (weakrefs), live memory blocks stay flat; then tracemalloc measures what further calls leave allocated.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

WORKER = Path(__file__).with_name("leak_worker.py")
FULL = (50_000, 10_000)
"""Per run: 50k sync + 50k async abandoned streams, 50k sync + 50k async plain calls; checked every 10k."""
SHORT = (6_000, 2_000)
RUNS = [("sync", "stream"), ("async", "stream"), ("sync", "plain"), ("async", "plain")]
MAX_BLOCKS_PER_10K = 1_000
"""Live pymalloc blocks gained per 10k calls (measured: ~30-80); one object kept per call would be 10,000."""
MAX_TRACED_PER_10K = 64 * 1024
"""Bytes tracemalloc sees left allocated per 10k calls (measured: a few KiB, the test's own bookkeeping);
100 bytes kept per call would be ~1 MiB."""


def _run(run: tuple[str, str], calls: int, checkpoint: int) -> dict[str, Any]:
    flavour, mode = run
    env = {**os.environ, "LEAK_CHECKPOINT": str(checkpoint)}
    result = subprocess.run([sys.executable, str(WORKER), flavour, mode, str(calls)], capture_output=True,
                            text=True, timeout=900, check=False, env=env)
    assert result.returncode == 0, result.stderr[-4000:]
    found: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return found


def test_abandoned_streams_and_plain_calls_leave_nothing_behind() -> None:
    check(*SHORT)


@pytest.mark.benchmark
def test_100k_abandoned_streams_and_100k_plain_calls_leave_nothing_behind() -> None:
    check(*FULL)


def check(calls: int, checkpoint: int) -> None:
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda run: _run(run, calls, checkpoint), RUNS))
    report = []
    for found in results:
        name = f"{found['flavour']} {found['mode']}"
        checkpoints = found["checkpoints"]
        for point in checkpoints:
            assert point["started"] == point["ended"], (name, point)  # every span ended
            assert point["alive"] == 0, (name, point)  # no span, context, proxy or SDK stream still referenced
        assert found["duration_points"] == found["total_calls"]  # each call's metrics recorded exactly once
        untraced = checkpoints[:-1]  # the last one follows the tracemalloc windows
        assert untraced[-1]["calls"] - untraced[0]["calls"] == calls
        blocks_per_10k = (untraced[-1]["blocks"] - untraced[0]["blocks"]) / (calls / 10_000)
        traced_per_10k = found["traced_growth_bytes"] * 10_000 / found["traced_calls"]
        report.append(f"{name}: {calls:,} calls in {found['seconds']:.1f} s; per 10k calls "
                      f"{blocks_per_10k:+.0f} live blocks, {traced_per_10k / 1024:+.1f} KiB (tracemalloc)")
        assert blocks_per_10k < MAX_BLOCKS_PER_10K, (name, untraced)
        assert traced_per_10k < MAX_TRACED_PER_10K, (name, found["traced_top"])
    print("\n" + "\n".join(report))
