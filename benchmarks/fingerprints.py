"""What fingerprinting a request costs on the call path, per KB of request.

``PYTHONPATH=src python benchmarks/fingerprints.py`` times requests of growing size (tools, a system prompt, a
conversation of N messages), each fingerprinted as an adapter does it (``fingerprints.fingerprint``: text hashed
as its bytes, other parts as canonical JSON, HMAC-SHA256 of the whole and of every prefix), and prints
microseconds per call and per KB, next to one bare SHA-256 pass over the same bytes (the floor: no keyed hash of
every byte can cost less). ``--instructions`` counts instructions per call under valgrind's callgrind instead, a
figure other load on the machine cannot skew. The README's figures come from here.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
import tempfile
import timeit
from typing import Any

from otel_llmcost.config import Settings
from otel_llmcost.fingerprints import fingerprint

SETTINGS = Settings()
TOOLS = [{"type": "function", "function": {"name": "lookup", "description": "Look up an order. " * 10,
                                           "parameters": {"type": "object", "properties": {"id": {"type": "string"}}}}}]
SHAPES = ((1, 1), (1, 4), (4, 1), (10, 2), (20, 4), (50, 4), (2, 32), (100, 1))
"""(messages, KB per message)."""


def request(messages: int, kb_per_message: float) -> tuple[tuple[Any, ...], list[dict[str, str]], dict[str, Any]]:
    text = "The quick brown fox jumps over the lazy dog. " * max(1, int(kb_per_message * 1024 / 45))
    conversation = [{"role": "user" if n % 2 == 0 else "assistant", "content": f"{n} {text}"} for n in range(messages)]
    return (TOOLS, "You are a helpful assistant. " * 40), conversation, {"model": "gpt-4o-mini", "temperature": 0.2}


def size_kb(messages: int, kb: float) -> float:
    head, conversation, params = request(messages, kb)
    return len(json.dumps([head, conversation, params]).encode()) / 1024


def work(messages: int, kb: float, what: str) -> Any:
    head, conversation, params = request(messages, kb)
    if what == "sha256":
        data = json.dumps([head, conversation, params]).encode()
        return lambda _: hashlib.sha256(data).digest()
    return lambda _: fingerprint(SETTINGS, head, conversation, params)


def timed() -> None:
    print(f"{'messages':>8} {'KB/msg':>7} {'request KB':>10} {'us/call':>9} {'us/KB':>7} "
          f"{'SHA-256 us/KB':>14}")
    for messages, kb in SHAPES:
        size = size_kb(messages, kb)
        runs = 2000 if size < 64 else 300
        result = []
        for what in ("fingerprint", "sha256"):
            fn = work(messages, kb, what)
            best = min(timeit.repeat(lambda fn=fn, runs=runs: list(map(fn, range(runs))), number=1, repeat=5))
            result.append(best / runs * 1e6)
        print(f"{messages:>8} {kb:>7} {size:>10.1f} {result[0]:>9.1f} {result[0] / size:>7.2f} "
              f"{result[1] / size:>14.2f}")


def instructions(calls: int) -> None:
    print(f"{'messages':>8} {'KB/msg':>7} {'request KB':>10} {'instr/call':>11} {'instr/KB':>9} "
          f"{'SHA-256 instr/KB':>17}")
    for messages, kb in SHAPES:
        size = size_kb(messages, kb)
        counts = []
        for what in ("fingerprint", "sha256"):
            with tempfile.TemporaryDirectory() as tmp:
                run = subprocess.run(
                    ["valgrind", "--tool=callgrind", "--collect-atstart=no", "--toggle-collect=map_next",
                     f"--callgrind-out-file={tmp}/out", sys.executable, __file__, "--child", what,
                     "--shape", f"{messages}:{kb}", "--calls", str(calls)],
                    capture_output=True, text=True, check=True,
                )
            found = re.search(r"Collected : (\d+)", run.stderr)
            assert found, run.stderr[-2000:]
            counts.append(int(found.group(1)) / calls)
        print(f"{messages:>8} {kb:>7} {size:>10.1f} {counts[0]:>11,.0f} {counts[0] / size:>9,.0f} "
              f"{counts[1] / size:>17,.0f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instructions", action="store_true", help="count instructions under callgrind")
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--shape", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        messages, kb = args.shape.split(":")
        fn = work(int(messages), float(kb), args.child)
        fn(0)  # warm-up outside the counted map
        list(map(fn, range(args.calls)))
        return
    if args.instructions:
        instructions(args.calls)
    else:
        timed()


if __name__ == "__main__":
    main()
