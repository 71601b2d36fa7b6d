"""Dashboards and alerts written for OpenAI and Anthropic show Gemini and Ollama unchanged: the same metric
names with the same attribute keys, only the values (provider, model) differ."""

from __future__ import annotations

from typing import Any

from gemini_payloads import FakeGemini, Tokens, client
from ollama_payloads import FakeOllama, sync_client
from openai_payloads import MESSAGES, FakeOpenAI
from openai_payloads import Tokens as OpenAITokens
from otel_llmcost import names

METRICS = (
    names.METRIC_COST,
    names.METRIC_TOKENS,
    names.METRIC_REQUEST_COST,
    names.METRIC_TOKEN_USAGE,
    names.METRIC_OPERATION_DURATION,
)


def _keys_by_provider(captured: Any, metric: str) -> dict[str, set[frozenset[str]]]:
    found: dict[str, set[frozenset[str]]] = {}
    for point in captured.points(metric):
        attrs = dict(point.attributes)
        found.setdefault(attrs[names.GEN_AI_PROVIDER_NAME], set()).add(frozenset(attrs))
    return found


def test_same_metric_names_and_label_keys_for_every_provider(captured: Any) -> None:
    FakeOpenAI(
        model="gpt-4o-mini", tokens=OpenAITokens(prompt=1_000, cached=200, completion=100)
    ).client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    client("gemini", FakeGemini(Tokens(prompt=1_000, cached=200, candidates=100))).models.generate_content(
        model="gemini-2.5-flash", contents="Hi"
    )
    client("vertex", FakeGemini(Tokens(prompt=1_000, cached=200, candidates=100))).models.generate_content(
        model="gemini-2.5-flash", contents="Hi"
    )
    sync_client(FakeOllama()).chat(model="llama3.2", messages=MESSAGES)
    for metric in METRICS:
        by_provider = _keys_by_provider(captured, metric)
        expected = {"openai", "gcp.gemini", "gcp.vertex_ai", "ollama"}
        if metric == names.METRIC_COST:
            expected.discard("ollama")  # $0 API spend adds nothing to the spend counter
        assert set(by_provider) == expected, metric
        assert len({frozenset().union(*keys) for keys in by_provider.values()}) == 1, (metric, by_provider)
    # The spend every dashboard sums: OpenAI and both Gemini clients, on one counter.
    assert captured.total(names.METRIC_COST, gen_ai__provider__name="gcp.gemini") > 0
    assert captured.total(names.METRIC_COST, gen_ai__provider__name="gcp.vertex_ai") > 0
