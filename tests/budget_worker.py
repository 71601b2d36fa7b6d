"""Processes that spend against a shared budget store with the real OpenAI client (MockTransport), for the tests.

    python budget_worker.py '{"mode": "hammer", "store": "sqlite:/tmp/x.db", "processes": 4, "threads": 8, ...}'

hammer: imports everything once, then forks ``processes`` children; in each, ``threads`` threads make
``attempts`` calls against one block budget, and the child prints one JSON line: HTTP requests sent, calls
answered, calls refused, threshold crossings seen by its registered callback. With ``billing`` (a file),
every request the provider receives appends a line to it (what the provider bills); with ``die_after``,
the first child holds its requests until ``die_after`` of them have reached the provider (billed, never
answered), then SIGKILLs itself, other calls of its threads perhaps in flight too. The other children start
only then (a pipe, no sleeps): they find the dead process's reservations whatever the scheduling.
With ``members`` (a number), the budget is per member (``user="*"``, ``limit`` each) and thread i calls as user
``u<i % members>``; crossings are then printed as "<member>:<threshold>".
kill: makes ``settle`` calls (printing "settled" after each), then starts one more whose request never returns
(printing "in-flight" while it is being sent), and waits there to be killed.
"""

from __future__ import annotations

import contextlib
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
from otel_llmcost import (  # noqa: E402
    Budget,
    BudgetError,
    BudgetExceededError,
    LLMCostInstrumentor,
    attributes,
    on_budget_threshold,
)
from otel_llmcost.pricing import PriceBook  # noqa: E402


def instrument(config: dict[str, Any]) -> None:
    scope = {"user": "*"} if config.get("members") else {}
    LLMCostInstrumentor().instrument(
        budgets=[
            Budget(
                "shared",
                limit=config["limit"],
                period=config.get("period", "day"),
                action="block",
                thresholds=[0.8],
                **scope,
            )
        ],
        budget_store=config["store"],
        budget_store_failure="closed",
        budget_store_timeout=config.get("timeout", 10),
        budget_reservation_ttl=config.get("ttl", 600),
    )


def hammer(config: dict[str, Any], index: int = 0, go: tuple[int, int] | None = None) -> None:
    """One child: instrument, spend from many threads, print what happened."""
    die_after = config.get("die_after") if index == 0 else None
    if go is not None and die_after is None:
        os.read(go[0], 1)  # wait until the first child has died
    instrument(config)
    crossings: list[str] = []
    on_budget_threshold(
        lambda crossing: crossings.append(
            str(crossing.threshold) if crossing.member is None else f"{crossing.member}:{crossing.threshold}"
        )
    )
    billing = os.open(config["billing"], os.O_WRONLY | os.O_APPEND | os.O_CREAT) if config.get("billing") else None
    received = [0]
    bill_lock = threading.Lock()
    never = threading.Event()

    def on_request(request: Any) -> None:
        with bill_lock:
            if billing is not None:
                os.write(billing, b"billed\n")  # one O_APPEND write: whole lines, whatever the interleaving
            received[0] += 1
            if die_after is None:
                return
            if received[0] >= die_after:
                assert go is not None
                os.write(go[1], b"g" * (config["processes"] - 1))  # the others may start
                os.kill(os.getpid(), signal.SIGKILL)
        never.wait()  # this request is never answered: the process dies first

    api = FakeOpenAI(tokens=TOKENS, on_request=on_request)
    client = api.client(max_retries=0)
    lock = threading.Lock()
    counts = {"answered": 0, "exceeded": 0, "unavailable": 0}
    by_member: dict[str, int] = {}
    start = threading.Barrier(config["threads"])

    def run(member: str | None) -> None:
        start.wait()
        for _ in range(config["attempts"]):
            try:
                with attributes(user_id=member) if member is not None else contextlib.nullcontext():
                    client.chat.completions.create(**REQUEST)
                outcome = "answered"
            except BudgetExceededError:
                outcome = "exceeded"
            except BudgetError:
                outcome = "unavailable"
            with lock:
                counts[outcome] += 1
                if outcome == "answered" and member is not None:
                    by_member[member] = by_member.get(member, 0) + 1

    members = config.get("members")
    threads = [
        threading.Thread(target=run, args=(f"u{i % members}" if members else None,)) for i in range(config["threads"])
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    line = json.dumps(
        {"pid": os.getpid(), "sent": len(api.requests), **counts, "crossings": crossings, "members": by_member}
    )
    # One write(2) per child: the children share the pipe, and a write under PIPE_BUF is never interleaved.
    sys.stdout.flush()
    os.write(sys.stdout.fileno(), (line + "\n").encode())


def fork_hammers(config: dict[str, Any]) -> int:
    PriceBook().warm_up()  # loaded once, before the fork: the children share it
    children = []
    go = os.pipe() if config.get("die_after") else None
    for index in range(config["processes"]):
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                hammer(config, index, go)
            except BaseException:
                import traceback

                traceback.print_exc()
                code = 1
            finally:
                sys.stdout.flush()
                os._exit(code)
        children.append(pid)
    failed = 0
    for index, pid in enumerate(children):
        _, status = os.waitpid(pid, 0)
        expected = -signal.SIGKILL if index == 0 and config.get("die_after") else 0
        failed += os.waitstatus_to_exitcode(status) != expected
    return 1 if failed else 0


def kill(config: dict[str, Any]) -> None:
    instrument(config)
    hang = threading.Event()

    def on_request(request: Any) -> None:
        if len(api.requests) > config["settle"]:
            print("in-flight", flush=True)
            hang.wait()  # never set: the process is killed here, mid-call

    api = FakeOpenAI(tokens=TOKENS, on_request=on_request)
    client = api.client(max_retries=0)
    for _ in range(config["settle"]):
        client.chat.completions.create(**REQUEST)
        print("settled", flush=True)
    client.chat.completions.create(**REQUEST)


if __name__ == "__main__":
    settings = json.loads(sys.argv[1])
    if settings["mode"] == "hammer":
        sys.exit(fork_hammers(settings))
    kill(settings)
