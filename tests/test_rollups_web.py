"""Roll-ups through the real web-framework instrumentations: a FastAPI app served by uvicorn and a Flask app
served by werkzeug, both on loopback, each request making real openai SDK calls against the loopback fake.

What a route shows: its server span carries ``llmcost.rollup.*``; ``llmcost.operation.*`` has one point per
request under the route *template* (two document ids, one series); a route with no LLM call records nothing.
"""

from __future__ import annotations

import json
import socket
import threading
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.trace import SpanKind

from openai_payloads import MESSAGES, FakeOpenAI, Tokens
from otel_llmcost import names

fastapi = pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")
flask = pytest.importorskip("flask")
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor  # noqa: E402
from opentelemetry.instrumentation.flask import FlaskInstrumentor  # noqa: E402

TOKENS = Tokens(prompt=2_000, completion=100)


class EndedSignal(SpanProcessor):
    """Tells when server spans have ended (a client can read the response before the server's span ends):
    sets ``ended`` for the one named ``name`` (orders a late read after its request) and counts them all."""

    def __init__(self, name: str = "") -> None:
        self.name = name
        self.ended = threading.Event()
        self._count = 0
        self._changed = threading.Condition()

    def on_end(self, span: ReadableSpan) -> None:
        if span.kind is not SpanKind.SERVER:
            return
        if span.name == self.name:
            self.ended.set()
        with self._changed:
            self._count += 1
            self._changed.notify_all()

    def wait_for(self, count: int) -> None:
        with self._changed:
            assert self._changed.wait_for(lambda: self._count >= count, timeout=10)


def get(port: int, path: str, method: str = "GET") -> Any:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read().decode()


def server_span(captured: Any, route: str, path: str | None = None) -> list[ReadableSpan]:
    return [
        s
        for s in captured.spans()
        if s.kind is SpanKind.SERVER
        and s.attributes.get(names.HTTP_ROUTE) == route
        and (path is None or path in str(s.attributes.get("url.path", s.attributes.get("http.target", ""))))
    ]


def per_operation(captured: Any, metric: str) -> dict[str, Any]:
    return {dict(p.attributes)[names.LLMCOST_OPERATION]: p for p in captured.points(metric)}


def cost(span: ReadableSpan) -> Decimal:
    return Decimal(repr(span.attributes[names.GEN_AI_USAGE_COST]))


@pytest.fixture
def fastapi_app(captured: Any) -> Iterator[tuple[int, EndedSignal, list[threading.Thread]]]:
    from fastapi.responses import StreamingResponse

    fake = FakeOpenAI(tokens=TOKENS)
    client, async_client = fake.client(), fake.async_client()
    app = fastapi.FastAPI()
    late_readers: list[threading.Thread] = []
    signal = EndedSignal("GET /late")
    captured.tracer_provider.add_span_processor(signal)

    @app.post("/summarize/{doc_id}")
    async def summarize(doc_id: str) -> dict[str, str]:
        await async_client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
        await async_client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        return {"doc": doc_id}

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"ok": "yes"}

    @app.get("/stream")
    def stream() -> Any:
        chunks = client.chat.completions.create(
            model="gpt-4o", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )

        def body() -> Iterator[str]:  # read after the handler returned, while the request's span is open
            for chunk in chunks:
                if chunk.choices and chunk.choices[0].delta.content:
                    yield chunk.choices[0].delta.content

        return StreamingResponse(body(), media_type="text/plain")

    @app.get("/late")
    def late() -> dict[str, str]:
        chunks = client.chat.completions.create(
            model="gpt-4o", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )

        def read_later() -> None:  # a worker reads the stream once the request's span has ended
            signal.ended.wait(10)
            for _ in chunks:
                pass

        reader = threading.Thread(target=read_later)
        late_readers.append(reader)
        reader.start()
        return {"reading": "later"}

    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=captured.tracer_provider, meter_provider=captured.meter_provider
    )
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))  # listening before the server thread starts: requests queue, no wait needed
    sock.listen(16)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1], signal, late_readers
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
        FastAPIInstrumentor.uninstrument_app(app)


def test_fastapi_requests_roll_up_by_route_template(captured: Any, fastapi_app: Any) -> None:
    port, signal, _ = fastapi_app
    assert json.loads(get(port, "/summarize/a1", "POST")) == {"doc": "a1"}
    get(port, "/summarize/b2", "POST")
    get(port, "/health")
    signal.wait_for(3)
    spans = server_span(captured, "/summarize/{doc_id}")
    assert len(spans) == 2
    calls_by_trace: dict[int, list[ReadableSpan]] = {}
    for call in captured.client_spans():
        calls_by_trace.setdefault(call.context.trace_id, []).append(call)
    for span in spans:
        calls = calls_by_trace[span.context.trace_id]
        assert len(calls) == 2
        assert span.attributes[names.LLMCOST_ROLLUP_CALLS] == 2
        assert Decimal(repr(span.attributes[names.LLMCOST_ROLLUP_COST])) == sum(cost(c) for c in calls)
        assert span.attributes[names.LLMCOST_ROLLUP_INPUT_TOKENS] == 4_000
    (health,) = server_span(captured, "/health")
    assert names.LLMCOST_ROLLUP_CALLS not in health.attributes
    points = per_operation(captured, names.METRIC_OPERATION_CALLS)
    assert set(points) == {"/summarize/{doc_id}"}  # the template: two paths, one series; /health: nothing
    assert points["/summarize/{doc_id}"].count == 2 and points["/summarize/{doc_id}"].sum == 4
    costs = per_operation(captured, names.METRIC_OPERATION_COST)
    total = sum(cost(c) for c in captured.client_spans())
    assert costs["/summarize/{doc_id}"].count == 2
    assert costs["/summarize/{doc_id}"].sum == pytest.approx(float(total))  # the SDK sums points in float


def test_fastapi_streaming_response_counts_in_its_request(captured: Any, fastapi_app: Any) -> None:
    port, signal, _ = fastapi_app
    assert get(port, "/stream") == "Hello there, friend."
    signal.wait_for(1)
    (span,) = server_span(captured, "/stream")
    assert span.attributes[names.LLMCOST_ROLLUP_CALLS] == 1
    (call,) = captured.client_spans()
    assert Decimal(repr(span.attributes[names.LLMCOST_ROLLUP_COST])) == cost(call)
    assert captured.total(names.METRIC_ROLLUP_LATE_CALLS) == 0


def test_fastapi_stream_read_after_the_request_ended_is_counted_late(captured: Any, fastapi_app: Any) -> None:
    port, signal, readers = fastapi_app
    get(port, "/late")
    (reader,) = readers
    reader.join(10)
    assert signal.ended.is_set()
    (span,) = server_span(captured, "/late")
    assert names.LLMCOST_ROLLUP_CALLS not in span.attributes
    assert captured.points(names.METRIC_OPERATION_CALLS) == []
    assert captured.total(names.METRIC_ROLLUP_LATE_CALLS) == 1
    (call,) = captured.client_spans()  # the call itself is whole: priced and counted
    assert call.attributes[names.GEN_AI_USAGE_COST] > 0
    assert captured.total(names.METRIC_REQUESTS) == 1


@pytest.fixture
def flask_app(captured: Any) -> Iterator[tuple[int, EndedSignal]]:
    from werkzeug.serving import make_server

    signal = EndedSignal()
    captured.tracer_provider.add_span_processor(signal)
    fake = FakeOpenAI(tokens=TOKENS)
    client = fake.client()
    app = flask.Flask("rollups")

    @app.post("/summarize/<doc_id>")
    def summarize(doc_id: str) -> dict[str, str]:
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
        return {"doc": doc_id}

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"ok": "yes"}

    FlaskInstrumentor().instrument_app(
        app, tracer_provider=captured.tracer_provider, meter_provider=captured.meter_provider
    )
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_port, signal
    finally:
        server.shutdown()
        thread.join(10)
        FlaskInstrumentor().uninstrument_app(app)


def test_flask_requests_roll_up_by_route_template(captured: Any, flask_app: Any) -> None:
    port, signal = flask_app
    for doc in ("x", "y", "z"):
        get(port, f"/summarize/{doc}", "POST")
    get(port, "/health")
    signal.wait_for(4)
    spans = server_span(captured, "/summarize/<doc_id>")
    assert len(spans) == 3
    for span in spans:
        assert span.attributes[names.LLMCOST_ROLLUP_CALLS] == 1
    points = per_operation(captured, names.METRIC_OPERATION_CALLS)
    assert set(points) == {"/summarize/<doc_id>"}
    assert points["/summarize/<doc_id>"].count == 3
    costs = per_operation(captured, names.METRIC_OPERATION_COST)
    one = cost(captured.client_spans()[0])  # each point is one request's exact total (the SDK sums in float)
    assert Decimal(repr(costs["/summarize/<doc_id>"].min)) == Decimal(repr(costs["/summarize/<doc_id>"].max)) == one
    assert costs["/summarize/<doc_id>"].sum == pytest.approx(float(one * 3))


LAUNCHED_APP = """
import HTTP_LIB as http_lib
import flask
import openai

USAGE = {"prompt_tokens": 1000, "completion_tokens": 50, "total_tokens": 1050}


def handler(request):
    body = {
        "id": "chatcmpl-app", "object": "chat.completion", "created": 1735689600, "model": "gpt-4o",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}],
        "usage": USAGE,
    }
    return http_lib.Response(200, json=body)


client = openai.OpenAI(api_key="sk-test", http_client=http_lib.Client(transport=http_lib.MockTransport(handler)))
app = flask.Flask("launched")


@app.post("/summarize/<doc_id>")
def summarize(doc_id):
    for _ in range(2):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": doc_id}])
    return {"doc": doc_id}


with app.test_client() as web:  # the real WSGI stack, no socket
    for doc in ("a", "b"):
        assert web.post(f"/summarize/{doc}").status_code == 200
"""


def test_under_opentelemetry_instrument_a_flask_route_rolls_up(tmp_path: Any) -> None:
    """The app never mentions otel-llmcost: the launcher loads the Flask instrumentation and ours."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from test_openai_launcher import LAUNCHER, _json_documents, _metric_points
    from transport import http

    if not Path(LAUNCHER).exists():
        pytest.skip("opentelemetry-instrument is not installed next to this Python")
    script = tmp_path / "app.py"
    script.write_text(LAUNCHED_APP.replace("HTTP_LIB", http.__name__))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OPENAI_"))}
    env.update(OTEL_METRIC_EXPORT_INTERVAL="600000", OTEL_LOGS_EXPORTER="none", OTEL_SERVICE_NAME="rollups",
               OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="openai")
    result = subprocess.run(
        [str(LAUNCHER), "--traces_exporter", "console", "--metrics_exporter", "console", sys.executable, str(script)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr
    documents = _json_documents(result.stdout)
    servers = [d for d in documents if d.get("kind") == "SpanKind.SERVER"]
    assert len(servers) == 2
    calls = [d for d in documents if d.get("kind") == "SpanKind.CLIENT" and d["name"] == "chat gpt-4o"]
    assert len(calls) == 4
    for server in servers:
        assert server["attributes"][names.HTTP_ROUTE] == "/summarize/<doc_id>"
        assert server["attributes"][names.LLMCOST_ROLLUP_CALLS] == 2
        assert server["attributes"][names.LLMCOST_ROLLUP_COST] == pytest.approx(
            2 * calls[0]["attributes"][names.GEN_AI_USAGE_COST]
        )
    (point,) = _metric_points(documents, names.METRIC_OPERATION_CALLS)
    assert point["attributes"] == {names.LLMCOST_OPERATION: "/summarize/<doc_id>"}
    assert (point["count"], point["sum"]) == (2, 4)
