"""A process that writes to the PostgreSQL ledger through real OpenAI SDK calls (MockTransport), for the tests.

    python ledger_worker.py '{"url": "postgresql://...", "spill": "/tmp/spill.db", "index": 0, "threads": 8,
                              "calls": 25, "answered": "/tmp/answered-0", "die_in_phase": 2, "die_after": 20}'

Prints "ready" once instrumented; then for each line read from stdin (a phase), ``threads`` threads each make
``calls`` calls, each under its own user id (``p<index>-ph<phase>-t<thread>-<n>``), appended to the
``answered`` file (one O_APPEND write per call) once the call has returned; then it flushes the ledger (to the
database or the spill file) and prints "done <phase>". With
``die_in_phase``, the process SIGKILLs itself after ``die_after`` calls of that phase were answered (other
calls of its threads perhaps in flight). At the end of stdin it exits normally (the ledger flushes at exit).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

sys.modules["anthropic"] = None  # type: ignore[assignment]  # not needed here: spares each worker its import
sys.path.insert(0, str(Path(__file__).parent))

from budget_support import REQUEST, TOKENS  # noqa: E402
from openai_payloads import FakeOpenAI  # noqa: E402
from otel_llmcost import LLMCostInstrumentor  # noqa: E402
from otel_llmcost import attributes as attribution  # noqa: E402


def main(config: dict[str, Any]) -> None:
    instrumentor = LLMCostInstrumentor()
    instrumentor.instrument(ledger=config["url"], ledger_spill=config["spill"],
                                     ledger_queue_size=config.get("queue_size", 10_000))  # fmt: skip
    client = FakeOpenAI(tokens=TOKENS).client(max_retries=0)
    answered = os.open(config["answered"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    index = config["index"]
    lock = threading.Lock()
    print("ready", flush=True)
    for phase, _ in enumerate(sys.stdin):
        done = [0]
        dies = config.get("die_in_phase") == phase

        def run(thread: int, phase: int = phase, done: list[int] = done, dies: bool = dies) -> None:
            for n in range(config["calls"]):
                user = f"p{index}-ph{phase}-t{thread}-{n}"
                with attribution(user_id=user):
                    client.chat.completions.create(**REQUEST)
                os.write(answered, f"{user}\n".encode())
                with lock:
                    done[0] += 1
                    if dies and done[0] >= config["die_after"]:
                        os.kill(os.getpid(), signal.SIGKILL)

        threads = [threading.Thread(target=run, args=(t,)) for t in range(config["threads"])]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        runtime = instrumentor.runtime
        assert runtime is not None and runtime.ledger is not None
        runtime.ledger.flush()  # the phase's rows are in the database or the spill file: what a kill may lose is
        print(f"done {phase}", flush=True)  # only the rows of the phase it dies in


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
