"""What fingerprinting a request costs on the call path, per KB of request.

``PYTHONPATH=src python benchmarks/fingerprints.py``.

Requests of growing size (a system prompt, tools, a conversation of N messages), each fingerprinted the way an
adapter does it (``fingerprints.fingerprint``: canonical JSON, HMAC-SHA256 of the whole and of every prefix);
prints microseconds per call and per KB of canonical request. The README's figure comes from here.
"""

from __future__ import annotations

import json
import timeit

from otel_llmcost.config import Settings
from otel_llmcost.fingerprints import fingerprint

SETTINGS = Settings()
TOOLS = [{"type": "function", "function": {"name": "lookup", "description": "Look up an order. " * 10,
                                           "parameters": {"type": "object", "properties": {"id": {"type": "string"}}}}}]


def request(kb_per_message: float, messages: int) -> tuple[tuple[object, ...], list[dict[str, str]], dict[str, object]]:
    text = "The quick brown fox jumps over the lazy dog. " * max(1, int(kb_per_message * 1024 / 45))
    conversation = [{"role": "user" if n % 2 == 0 else "assistant", "content": f"{n} {text}"} for n in range(messages)]
    return (TOOLS, "You are a helpful assistant. " * 40), conversation, {"model": "gpt-4o-mini", "temperature": 0.2}


def main() -> None:
    import hashlib

    block = b"x" * 65536
    floor = min(timeit.repeat(lambda: hashlib.sha256(block).digest(), number=300, repeat=5)) / 300 * 1e6 / 64
    print(f"floor on this machine now: one SHA-256 pass = {floor:.2f} us/KB")
    print(f"{'messages':>8} {'KB/msg':>7} {'request KB':>10} {'us/call':>9} {'us/KB':>7}")
    for messages, kb in ((1, 1), (1, 4), (4, 1), (10, 2), (20, 4), (50, 4), (2, 32), (100, 1)):
        head, conversation, params = request(kb, messages)
        size = len(json.dumps([head, conversation, params]).encode()) / 1024
        runs = 2000 if size < 64 else 300
        def run(head: object = head, conversation: object = conversation, params: object = params) -> None:
            fingerprint(SETTINGS, head, conversation, params)  # type: ignore[arg-type]

        best = min(timeit.repeat(run, number=runs, repeat=5))
        per_call = best / runs * 1e6
        print(f"{messages:>8} {kb:>7} {size:>10.1f} {per_call:>9.1f} {per_call / size:>7.2f}")


if __name__ == "__main__":
    main()
