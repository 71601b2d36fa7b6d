"""otel-llmcost advise: traffic through the real openai and anthropic clients (httpx MockTransport), recorded in a
real SQLite ledger, with one planted case of every opportunity, and a control traffic with none.

Each estimate is computed here by hand from the list prices (per million tokens, genai-prices data):
gpt-4o-mini $0.15 in / $0.075 cached / $0.60 out, batch half; gpt-4.1 $2 / $8, gpt-4.1-mini $0.40 / $1.60;
claude-sonnet-4-5 $3 in, $3.75 5-minute write, $6 1-hour write, $0.30 read. The traffic spans less than a day, so
the window counts as one day and a month is 30 of them.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
from click.testing import CliRunner
from opentelemetry.trace import SpanKind

from conftest import Captured, make_captured
from otel_llmcost import names
from otel_llmcost.advisor import advise
from otel_llmcost.cli.advise import exposition
from otel_llmcost.cli.main import cli
from otel_llmcost.config import Settings
from otel_llmcost.fingerprints import fingerprint
from transport import for_sdk

SECRET = "SECRET-PROMPT-TEXT"
T0 = 1_900_000_000.0
M = Decimal(1_000_000)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


class Replies:
    """What the fake APIs answer next: usage and finish reason, set by the test before each call."""

    def __init__(self) -> None:
        self.usage: dict[str, Any] = {}

    def openai(self, request: Any) -> Any:
        body = json.loads(request.content)
        u = self.usage
        payload = {
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"},
                         "finish_reason": u.get("finish", "stop")}],
            "usage": {"prompt_tokens": u["input"], "completion_tokens": u["output"],
                      "total_tokens": u["input"] + u["output"],
                      "prompt_tokens_details": {"cached_tokens": u.get("read", 0)}},
        }
        return for_sdk("openai").Response(200, json=payload)  # type: ignore[union-attr]

    def anthropic(self, request: Any) -> Any:
        body = json.loads(request.content)
        u = self.usage
        w5, w1 = u.get("w5", 0), u.get("w1", 0)
        payload = {
            "id": "msg_1", "type": "message", "role": "assistant", "model": body["model"],
            "content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": u["input"], "output_tokens": u["output"],
                      "cache_read_input_tokens": u.get("read", 0), "cache_creation_input_tokens": w5 + w1,
                      "cache_creation": {"ephemeral_5m_input_tokens": w5, "ephemeral_1h_input_tokens": w1}},
        }
        return for_sdk("anthropic").Response(200, json=payload)  # type: ignore[union-attr]


class Traffic:
    def __init__(self, tmp_path: Path) -> None:
        self.ledger = tmp_path / "ledger.db"
        self.clock = Clock()
        self.replies = Replies()
        self.cap: Captured = make_captured(budget_store=f"sqlite:{self.ledger}", budget_clock=self.clock,
                                           fingerprint_key="fleet-key-for-tests")
        oh, ah = for_sdk("openai"), for_sdk("anthropic")
        self.oa = openai.OpenAI(api_key="k", http_client=oh.Client(transport=oh.MockTransport(self.replies.openai)))
        self.an = anthropic.Anthropic(
            api_key="k", http_client=ah.Client(transport=ah.MockTransport(self.replies.anthropic))
        )
        self.tracer = self.cap.tracer_provider.get_tracer("app")

    def chat(self, at: float, feature: str, messages: list[Any], usage: dict[str, Any], *, model: str = "gpt-4o-mini",
             server: bool = True, **kwargs: Any) -> None:
        from otel_llmcost import attributes

        self.clock.now = T0 + at
        self.replies.usage = usage
        with attributes(feature=feature):
            if server:
                with self.tracer.start_as_current_span("GET /answer", kind=SpanKind.SERVER):
                    self.oa.chat.completions.create(model=model, messages=messages, **kwargs)
            else:
                self.oa.chat.completions.create(model=model, messages=messages, **kwargs)

    def claude(self, at: float, feature: str, system: str, question: str, usage: dict[str, Any]) -> None:
        from otel_llmcost import attributes

        self.clock.now = T0 + at
        self.replies.usage = usage
        with attributes(feature=feature), self.tracer.start_as_current_span("POST /ask", kind=SpanKind.SERVER):
            self.an.messages.create(model="claude-sonnet-4-5", max_tokens=1024, system=system,
                                    messages=[{"role": "user", "content": question}])

    def close(self) -> None:
        self.cap.instrumentor.uninstrument()
        self.cap.tracer_provider.shutdown()
        self.cap.meter_provider.shutdown()


@pytest.fixture
def traffic(tmp_path: Path) -> Iterator[Traffic]:
    made = Traffic(tmp_path)
    yield made
    made.close()


def user(text: str) -> dict[str, str]:
    return {"role": "user", "content": f"{SECRET} {text}"}


LONG_SYSTEM = f"{SECRET} You answer questions about the product. " * 200  # ~10 KB: thousands of tokens


def plant_everything(t: Traffic) -> None:
    # 1. prompt_cache: the same long system prompt three times within 5 minutes, no cache_control
    for n in range(3):
        t.claude(10 + 60 * n, "faq", LONG_SYSTEM, f"{SECRET} faq question {n}", {"input": 5000, "output": 50})
    # 2. cache_write_unread: a 5-minute write never read
    t.claude(1000, "report", LONG_SYSTEM + " report", f"{SECRET} the report", {"input": 40, "w5": 2000, "output": 50})
    # 3. cache_ttl: a 1-hour write, read back once 60 s later
    support = LONG_SYSTEM + " support"
    t.claude(2000, "support", support, f"{SECRET} support 1", {"input": 40, "w1": 3000, "output": 50})
    t.claude(2060, "support", support, f"{SECRET} support 2", {"input": 40, "read": 3000, "output": 50})
    # 4. response_cache: one request sent three times
    for n in range(3):
        t.chat(3000 + n, "lookup", [user("what are the opening hours")], {"input": 500, "output": 100})
    # 5. batch: two calls with no server span (a script)
    for n in range(2):
        t.chat(3100 + n, "nightly", [user(f"nightly item {n}")], {"input": 1000, "output": 500}, server=False)
    # 6. model_ladder: 20 short answers on gpt-4.1
    for n in range(20):
        t.chat(3200 + n, "classify", [user(f"classify ticket {n}")], {"input": 200, "output": 5}, model="gpt-4.1")
    # 7. max_tokens: truncation (2 of 10 cut off) and a cap far above the outputs
    for n in range(10):
        finish = "length" if n < 2 else "stop"
        t.chat(3300 + n, "summarize", [user(f"summarize {n}")], {"input": 300, "output": 100, "finish": finish},
               max_tokens=100)
        t.chat(3400 + n, "draft", [user(f"draft {n}")], {"input": 300, "output": 50}, max_tokens=4000)
    # 8. growing_context: a conversation of 6 turns
    messages: list[Any] = []
    for n, tokens in enumerate((100, 300, 500, 700, 900, 1100)):
        messages = [*messages, user(f"turn {n}")]
        t.chat(3500 + n, "chat", messages, {"input": tokens, "output": 20})
        messages = [*messages, {"role": "assistant", "content": f"{SECRET} reply {n}"}]


def plant_control(t: Traffic) -> None:
    for n in range(5):  # distinct, short, interactive, on the cheapest rung
        t.chat(10 + n, "control", [user(f"distinct question {n}")], {"input": 300, "output": 120}, max_tokens=200)
    messages = [user("short conversation")]  # two turns only
    t.chat(100, "control", messages, {"input": 100, "output": 20})
    t.chat(110, "control", [*messages, {"role": "assistant", "content": "ok"}, user("and then")],
           {"input": 150, "output": 20})
    # prompt caching done right: a 5-minute write read back 60 s later
    t.claude(200, "control", LONG_SYSTEM, f"{SECRET} cached 1", {"input": 40, "w5": 2000, "output": 50})
    t.claude(260, "control", LONG_SYSTEM, f"{SECRET} cached 2", {"input": 40, "read": 2000, "output": 50})


def head_tokens(t: Traffic, feature: str) -> int:
    """The calibrated tokens of the system prefix, from the estimates recorded on the span (what advise reads)."""
    for span in t.cap.client_spans():
        attrs = dict(span.attributes or {})
        if attrs.get(names.LLMCOST_FEATURE) == feature:
            tokens = attrs[names.LLMCOST_REQUEST_PREFIX_TOKENS]
            return round(tokens[0] * attrs[names.GEN_AI_USAGE_INPUT_TOKENS] / tokens[-1])
    raise AssertionError(feature)


def by_kind(advice: Any) -> dict[tuple[str, str], Any]:
    return {(f.kind, f.feature): f for f in advice.findings}


def test_every_planted_opportunity_is_found_with_its_hand_computed_estimate(traffic: Traffic) -> None:
    plant_everything(traffic)
    advice = advise(traffic.ledger, 14 * 86_400, T0 + 7200)
    found = by_kind(advice)
    assert advice.window_days == 1

    r = head_tokens(traffic, "faq")  # two repeats read-able, one 5-minute write premium
    faq = found[("prompt_cache", "faq")]
    assert faq.window_usd == 2 * r * (Decimal("3") - Decimal("0.30")) / M - r * (Decimal("3.75") - 3) / M
    assert faq.evidence["affected_calls"] == 2
    assert "cache_control" in faq.change

    assert found[("cache_write_unread", "report")].window_usd == 2000 * (Decimal("3.75") - 3) / M
    assert found[("cache_ttl", "support")].window_usd == 3000 * (Decimal(6) - Decimal("3.75")) / M
    one_lookup = 500 * Decimal("0.15") / M + 100 * Decimal("0.60") / M
    assert found[("response_cache", "lookup")].window_usd == 2 * one_lookup
    nightly = 1000 * Decimal("0.15") / M + 500 * Decimal("0.60") / M
    assert found[("batch", "nightly")].window_usd == 2 * nightly / 2
    ladder = found[("model_ladder", "classify")]
    assert ladder.window_usd == 20 * ((200 * 2 + 5 * 8) - (200 * Decimal("0.4") + 5 * Decimal("1.6"))) / M
    assert ladder.evidence["to"] == "gpt-4.1-mini"
    truncated = found[("max_tokens", "summarize")]
    assert truncated.window_usd == 2 * (300 * Decimal("0.15") + 100 * Decimal("0.60")) / M
    assert truncated.evidence["truncated"] == 2
    far = found[("max_tokens", "draft")]
    assert far.window_usd == 0 and far.evidence["case"] == "far_above" and far.evidence["suggested_max_tokens"] == 128
    # turns 5 and 6 (of 6) would drop the 2nd, then the 2nd and 3rd turns' tokens: 200 + 400 input tokens
    assert found[("growing_context", "chat")].window_usd == 600 * Decimal("0.15") / M

    assert {f.kind for f in advice.findings} == set(names.OPPORTUNITY_KINDS)
    assert len(advice.findings) == 9  # nothing else: each planted case is found once, where it was planted
    for finding in advice.findings:
        assert finding.monthly_usd == finding.window_usd * 30
    monthly = [f.monthly_usd for f in advice.findings]
    assert monthly == sorted(monthly, reverse=True)


def test_control_traffic_yields_nothing(traffic: Traffic) -> None:
    plant_control(traffic)
    advice = advise(traffic.ledger, 14 * 86_400, T0 + 7200)
    assert advice.calls == 9
    assert advice.findings == []
    assert all(v == 0 for v in advice.totals().values())


def test_cli_formats_and_no_prompt_text_anywhere(traffic: Traffic, tmp_path: Path) -> None:
    plant_everything(traffic)
    runner = CliRunner()
    outputs = []
    for fmt in ("table", "json", "markdown"):
        result = runner.invoke(cli, ["advise", "--from", f"sqlite:{traffic.ledger}", "--until", str(T0 + 7200),
                                     "--format", fmt])
        assert result.exit_code == 0, result.output
        outputs.append(result.output)
    doc = json.loads(outputs[1])
    kinds = [f["kind"] for f in doc["findings"]]
    assert kinds[0] == "prompt_cache" and set(kinds) == set(names.OPPORTUNITY_KINDS)
    assert "## 1. repeated prefixes" in outputs[2]
    traffic.close()
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("ledger.db*"))
    assert SECRET.encode() not in stored
    for span in traffic.cap.spans():
        assert SECRET not in repr(dict(span.attributes or {}))
    for text in outputs:
        assert SECRET not in text
    gauge = exposition(advise(traffic.ledger, 14 * 86_400, T0 + 7200).totals())
    assert f'llmcost_savings_potential_USD{{llmcost_opportunity="batch"}} {float(Decimal("0.00045") * 30)!r}' in gauge


def test_serve_exposes_the_gauge_by_opportunity(traffic: Traffic) -> None:
    import threading
    import urllib.request

    from otel_llmcost.cli.advise import metrics_server

    plant_everything(traffic)
    server = metrics_server(0, "127.0.0.1", lambda: advise(traffic.ledger, 14 * 86_400, T0 + 7200))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            text = response.read().decode()
    finally:
        server.shutdown()
        server.server_close()
    series = [line for line in text.splitlines() if line.startswith("llmcost_savings_potential_USD{")]
    assert len(series) == len(names.OPPORTUNITY_KINDS)
    assert 'llmcost_savings_potential_USD{llmcost_opportunity="max_tokens"}' in text


def test_an_old_ledger_gains_the_new_columns_and_reads(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE llm_calls (id INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL, provider TEXT NOT "
                 "NULL, operation TEXT NOT NULL, model TEXT, response_model TEXT, input_tokens INTEGER, output_tokens "
                 "INTEGER, cache_read_tokens INTEGER, cache_write_tokens INTEGER, reasoning_tokens INTEGER, cost_usd "
                 "TEXT, price_source TEXT, batch INTEGER NOT NULL DEFAULT 0, feature TEXT, team TEXT, user_id TEXT, "
                 "attributes TEXT, trace_id TEXT, span_id TEXT, request_id TEXT, error_type TEXT)")
    conn.execute("INSERT INTO llm_calls (ts, provider, operation, model, input_tokens, output_tokens, cost_usd) "
                 "VALUES (?, 'openai', 'chat', 'gpt-4o-mini', 10, 10, '0.0001')", (T0,))
    conn.commit()
    conn.close()
    assert advise(path, 86_400, T0 + 1).calls == 1  # read-only: missing columns read as NULL
    from otel_llmcost.budgets.sqlite_store import SQLiteStore

    SQLiteStore(str(path), 1.0)
    conn = sqlite3.connect(path)
    columns = {row[1] for row in conn.execute("PRAGMA table_info(llm_calls)")}
    conn.close()
    assert {"request_fingerprint", "prefix_fingerprints", "origin", "max_tokens", "finish_reason"} <= columns


def test_fingerprints_are_hmac_sha256_and_prefix_stable() -> None:
    import hashlib
    import hmac

    settings = Settings.load({"fingerprint_key": "k"})
    head = ([{"name": "tool"}], "system")
    a = fingerprint(settings, head, [{"role": "user", "content": "a"}], {"model": "m"})
    b = fingerprint(settings, head, [{"role": "user", "content": "b"}], {"model": "m", "timeout": 3})
    assert a.prefixes[0] == b.prefixes[0] and a.prefixes[1] != b.prefixes[1]
    assert a.boundaries == (0, 1)
    canonical = b'\x1cj[{"name":"tool"}]\x1cssystem'  # each head part: JSON, or text as its bytes
    assert a.prefixes[0] == hmac.new(b"k", canonical, hashlib.sha256).hexdigest()[:32]
    same = fingerprint(settings, head, [{"content": "a", "role": "user"}], {"model": "m", "stream": True})
    assert same.request == a.request  # key order and streaming do not change the request
    other_key = fingerprint(Settings.load({"fingerprint_key": "other"}), head, [], {"model": "m"})
    assert other_key.prefixes[0] != a.prefixes[0]
    assert fingerprint(Settings(), head, [], {}).fleet_key is False


def test_fingerprints_off_by_one_setting(tmp_path: Path) -> None:
    t = Traffic.__new__(Traffic)
    t.ledger = tmp_path / "l.db"
    t.clock = Clock()
    t.replies = Replies()
    t.cap = make_captured(budget_store=f"sqlite:{t.ledger}", fingerprints=False)
    try:
        oh = for_sdk("openai")
        client = openai.OpenAI(api_key="k", http_client=oh.Client(transport=oh.MockTransport(t.replies.openai)))
        t.replies.usage = {"input": 10, "output": 1}
        client.chat.completions.create(model="gpt-4o-mini", messages=[user("x")])
        attrs = dict(t.cap.client_spans()[0].attributes or {})
        assert names.LLMCOST_REQUEST_FINGERPRINT not in attrs and attrs[names.LLMCOST_REQUEST_ORIGIN] == "none"
    finally:
        t.cap.instrumentor.uninstrument()


def test_gemini_and_ollama_calls_carry_fingerprints_too(captured: Any) -> None:
    from google.genai import types

    from gemini_payloads import FakeGemini
    from gemini_payloads import Tokens as GeminiTokens
    from gemini_payloads import client as gemini_client
    from ollama_payloads import FakeOllama, sync_client

    config = types.GenerateContentConfig(system_instruction=f"{SECRET} be brief")
    for question in ("a", "b"):
        gemini_client("gemini", FakeGemini(GeminiTokens(prompt=10, candidates=2))).models.generate_content(
            model="gemini-2.5-flash", contents=f"{SECRET} {question}", config=config
        )
    sync_client(FakeOllama()).chat(model="llama3.2", messages=[user("hi")], stream=False)
    spans = [dict(s.attributes or {}) for s in captured.client_spans()]
    assert len(spans) == 3 and all(len(s[names.LLMCOST_REQUEST_FINGERPRINT]) == 32 for s in spans)
    first, second = (s[names.LLMCOST_REQUEST_PREFIX_FINGERPRINTS] for s in spans[:2])
    assert first[0] == second[0] and first[1] != second[1]  # the same system instruction, another question
    assert spans[0][names.LLMCOST_REQUEST_PREFIX_BOUNDARIES] == (0, 1)
    assert all(SECRET not in repr(s) for s in spans)
