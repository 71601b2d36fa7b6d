"""Concurrency: 32 threads and 500 asyncio tasks calling through one client, plain calls and streams interleaved.

Each call k asks for its own usage (the fake API reads k from the prompt) and runs inside its own caller span and
its own ``otel_llmcost.attributes(user_id=..., feature=...)`` scope. Then: exactly one CLIENT span per call, with
call k's id and usage and the caller's span as parent; metric sums equal the sum of the per-call values exactly
(token counts are multiples of 15,625 and prices whole dollars per million, so every cost is a binary fraction:
float sums are exact in any order); and every call, from the request the SDK sends to the end of the call (where
listeners such as budgets run), sees its own attribution and nobody else's.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openai
from opentelemetry import trace

from conftest import Captured
from openai_payloads import chat_chunks, chat_completion, http, sse
from otel_llmcost import attributes, names
from otel_llmcost.attribution import current_attributes

THREADS = 32
CALLS_PER_THREAD = 12
TASKS = 500
UNIT = 15_625  # 10**6 / 2**6: a token count in these units costs whole dollars / 64 at whole-dollar prices
MODEL = "conc-model"
PRICES = f"""
models:
  - model: {MODEL}
    input: 1
    output: 2
"""


def usage_of(k: int) -> tuple[int, int]:
    return UNIT * (1 + k % 8), UNIT * (1 + k % 5)


def cost_of(k: int) -> float:
    prompt, completion = usage_of(k)
    return (prompt * 1 + completion * 2) / 1_000_000


class Api:
    """Answers call k (its prompt is "k") with call k's usage; notes the attribution each request was sent under."""

    def __init__(self) -> None:
        self.sent: dict[int, dict[str, str]] = {}
        self.lock = threading.Lock()

    def __call__(self, request: Any) -> Any:
        body = json.loads(request.content)
        k = int(body["messages"][0]["content"])
        with self.lock:
            assert k not in self.sent
            self.sent[k] = dict(current_attributes())  # the handler runs in the caller's context
        prompt, completion = usage_of(k)
        tokens = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
        if body.get("stream"):
            chunks = chat_chunks(MODEL, include_usage=True, response_id=f"call-{k}")
            chunks[-1]["usage"] = tokens
            return http.Response(200, headers={"content-type": "text/event-stream"}, content=b"".join(sse(chunks)))
        reply = chat_completion(MODEL, response_id=f"call-{k}", usage=tokens)
        return http.Response(200, json=reply)


def expected_attributes(k: int) -> dict[str, str]:
    return {names.USER_ID: f"user-{k}", names.LLMCOST_FEATURE: f"feature-{k % 7}"}


def setup(instrument_with: Callable[..., Captured], tmp_path: Path) -> tuple[Captured, Api, dict[int, Any]]:
    prices = tmp_path / "prices.yaml"
    prices.write_text(PRICES)
    captured = instrument_with(price_file=str(prices))
    runtime = captured.instrumentor.runtime
    assert runtime is not None
    ended: dict[int, Any] = {}
    lock = threading.Lock()

    def listener(request: Any, outcome: Any, span: Any) -> None:  # where budgets settle a call
        k = int(outcome.response.response_id.removeprefix("call-"))
        with lock:
            assert k not in ended
            ended[k] = dict(current_attributes())

    runtime.listeners.append(listener)
    return captured, Api(), ended


def check(captured: Captured, api: Api, ended: dict[int, Any], calls: list[int]) -> None:
    assert sorted(api.sent) == sorted(ended) == sorted(calls)
    for k in calls:
        assert api.sent[k] == expected_attributes(k), k  # no bleed into the request...
        assert ended[k] == expected_attributes(k), k  # ...nor into the end of the call
    spans = captured.client_spans()
    assert len(spans) == len(calls)  # exactly one span per call
    parents = {s.context.span_id: s.name for s in captured.spans() if s.name.startswith("caller-")}
    seen = set()
    for span in spans:
        attrs = dict(span.attributes or {})
        k = int(str(attrs[names.GEN_AI_RESPONSE_ID]).removeprefix("call-"))
        seen.add(k)
        assert (attrs[names.GEN_AI_USAGE_INPUT_TOKENS], attrs[names.GEN_AI_USAGE_OUTPUT_TOKENS]) == usage_of(k)
        assert attrs[names.GEN_AI_USAGE_COST] == cost_of(k)
        assert span.parent is not None and parents[span.parent.span_id] == f"caller-{k}"  # its own caller's span
    assert seen == set(calls)
    prompt = sum(usage_of(k)[0] for k in calls)
    completion = sum(usage_of(k)[1] for k in calls)
    assert captured.total(names.METRIC_TOKENS, gen_ai__token__type="input") == prompt
    assert captured.total(names.METRIC_TOKENS, gen_ai__token__type="output") == completion
    assert captured.total(names.METRIC_COST) == sum(cost_of(k) for k in calls)  # exact: binary fractions
    assert captured.total(names.METRIC_COST, llmcost__cost__component="input") == prompt / 1_000_000
    (request_cost,) = captured.points(names.METRIC_REQUEST_COST)
    assert request_cost.count == len(calls)
    assert request_cost.sum == sum(cost_of(k) for k in calls)
    (duration,) = captured.points(names.METRIC_OPERATION_DURATION)
    assert duration.count == len(calls)
    token_usage = {dict(p.attributes)[names.GEN_AI_TOKEN_TYPE]: p for p in captured.points(names.METRIC_TOKEN_USAGE)}
    assert token_usage["input"].sum == prompt and token_usage["input"].count == len(calls)


def test_32_threads_one_client(instrument_with: Callable[..., Captured], tmp_path: Path) -> None:
    captured, api, ended = setup(instrument_with, tmp_path)
    client = openai.OpenAI(api_key="sk-test", max_retries=0, http_client=http.Client(transport=http.MockTransport(api)))
    tracer = captured.tracer_provider.get_tracer("app")
    start = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def worker(thread: int) -> None:
        try:
            start.wait()
            for i in range(CALLS_PER_THREAD):
                k = thread * 1000 + i
                with attributes(user_id=f"user-{k}", feature=f"feature-{k % 7}"), tracer.start_as_current_span(
                    f"caller-{k}"
                ):
                    messages: Any = [{"role": "user", "content": str(k)}]
                    if k % 3 == 0:
                        stream = client.chat.completions.create(
                            model=MODEL, messages=messages, stream=True, stream_options={"include_usage": True}
                        )
                        for _ in stream:
                            pass
                    else:
                        client.chat.completions.create(model=MODEL, messages=messages)
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert not any(thread.is_alive() for thread in threads)
    check(captured, api, ended, [t * 1000 + i for t in range(THREADS) for i in range(CALLS_PER_THREAD)])


def test_500_asyncio_tasks_one_client(instrument_with: Callable[..., Captured], tmp_path: Path) -> None:
    captured, api, ended = setup(instrument_with, tmp_path)
    tracer = captured.tracer_provider.get_tracer("app")

    async def main() -> None:
        client = openai.AsyncOpenAI(
            api_key="sk-test", max_retries=0, http_client=http.AsyncClient(transport=http.MockTransport(api))
        )
        gate = asyncio.Event()

        async def one(k: int) -> None:
            with attributes(user_id=f"user-{k}", feature=f"feature-{k % 7}"), tracer.start_as_current_span(
                f"caller-{k}"
            ):
                await gate.wait()  # all 500 in flight at once
                messages: Any = [{"role": "user", "content": str(k)}]
                if k % 3 == 0:
                    stream = await client.chat.completions.create(
                        model=MODEL, messages=messages, stream=True, stream_options={"include_usage": True}
                    )
                    async for _ in stream:
                        await asyncio.sleep(0)  # let the other tasks run between chunks
                else:
                    await client.chat.completions.create(model=MODEL, messages=messages)

        tasks = [asyncio.create_task(one(k)) for k in range(TASKS)]
        await asyncio.sleep(0)
        gate.set()
        await asyncio.gather(*tasks)

    before = trace.get_current_span()
    asyncio.run(main())
    assert trace.get_current_span() is before  # nothing left attached here either
    check(captured, api, ended, list(range(TASKS)))
