"""Per-chunk cost of the stream proxy alone (no SDK, no telemetry): ``StreamProxy`` over a plain iterator.

Count instructions per chunk with callgrind (the difference of two runs divides out start-up):

    valgrind --tool=callgrind --collect-atstart=no --toggle-collect=map_next python benchmarks/stream_chunk.py 1
    valgrind --tool=callgrind --collect-atstart=no --toggle-collect=map_next python benchmarks/stream_chunk.py 100001

(Collected(100001) - Collected(1)) / 100000 = instructions per chunk. Without valgrind it prints ns per chunk.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from otel_llmcost.streams import StreamProxy


class _Summary:
    __slots__ = ()

    def add(self, chunk: Any) -> bool:
        return True

    def result(self, complete: bool) -> tuple[None, None, str]:
        return None, None, "benchmark"


class _Call:
    first_chunk: float | None = None

    def finish(self, *args: Any) -> None: ...

    def abandon(self, *args: Any) -> None: ...

    def fail(self, *args: Any) -> None: ...


def drain(chunks: int) -> None:
    for _ in StreamProxy(iter(range(chunks)), _Call(), _Summary()):  # type: ignore[arg-type]
        pass


def main() -> None:
    chunks = int(sys.argv[1]) if len(sys.argv) > 1 else 100_001
    drain(1000)  # warm-up: the proxy variant for this wrapped type is built once
    start = time.perf_counter()
    list(map(drain, [chunks]))  # the C function callgrind is told to count
    print(f"{(time.perf_counter() - start) / chunks * 1e9:.0f} ns per chunk ({chunks} chunks)")


if __name__ == "__main__":
    main()
