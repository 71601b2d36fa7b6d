"""Who serves the call, from the client and its base URL: Azure, Groq, OpenRouter, Gemini, local servers."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import genai_prices
import pytest

from openai_payloads import MESSAGES, FakeOpenAI, Tokens, attributes, only_span, usd
from otel_llmcost import names

BUNDLED = f"genai-prices@{genai_prices.__version__}"
TOKENS = Tokens(prompt=10_000, cached=2_000, completion=1_000)


def test_azure_reports_its_provider_and_prices_the_reported_model(captured: Any) -> None:
    api = FakeOpenAI(model="gpt-4o-2024-08-06", tokens=TOKENS)
    api.azure_client().chat.completions.create(model="my-deployment", messages=MESSAGES)
    assert api.requests[0].url.path == "/openai/deployments/my-deployment/chat/completions"
    span = only_span(captured)
    attrs = attributes(span)
    assert span.name == "chat my-deployment"
    assert attrs[names.GEN_AI_PROVIDER_NAME] == "azure.ai.openai"
    assert attrs[names.SERVER_ADDRESS] == "myres.openai.azure.com"
    assert attrs[names.SERVER_PORT] == 443
    assert attrs[names.GEN_AI_RESPONSE_MODEL] == "gpt-4o-2024-08-06"
    # Azure's gpt-4o: $2.50 in, $1.25 cached, $10 out.
    assert attrs[names.GEN_AI_USAGE_COST] == usd((8_000, "2.50"), (2_000, "1.25"), (1_000, "10"))
    assert attrs[names.OPENAI_RESPONSE_SERVICE_TIER] == "default"


def test_azure_deployment_name_unknown_without_alias(captured: Any) -> None:
    # Some Azure setups report the deployment name as the model: nothing can price that by itself.
    FakeOpenAI(tokens=TOKENS).azure_client().chat.completions.create(model="prod-chat", messages=MESSAGES)
    attrs = attributes(only_span(captured))
    assert attrs[names.GEN_AI_RESPONSE_MODEL] == "prod-chat"
    assert names.GEN_AI_USAGE_COST not in attrs
    assert attrs[names.LLMCOST_PRICE_SOURCE] == names.PRICE_SOURCE_UNKNOWN
    assert captured.total(names.METRIC_UNPRICED) == 1


def test_azure_deployment_alias_from_setting(instrument_with: Callable[..., Any]) -> None:
    captured = instrument_with(model_aliases={"prod-chat": "gpt-4o-mini"})
    FakeOpenAI(tokens=TOKENS).azure_client().chat.completions.create(model="prod-chat", messages=MESSAGES)
    attrs = attributes(only_span(captured))
    # gpt-4o-mini: $0.15 in, $0.075 cached, $0.60 out.
    assert attrs[names.GEN_AI_USAGE_COST] == usd((8_000, "0.15"), (2_000, "0.075"), (1_000, "0.60"))
    assert attrs[names.LLMCOST_PRICE_SOURCE] == BUNDLED
    assert attrs[names.GEN_AI_RESPONSE_MODEL] == "prod-chat"  # the span still says what the API said


def test_azure_deployment_alias_from_environment(
    instrument_with: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(names.ENV_MODEL_ALIASES, "prod-chat=gpt-4o-mini")
    captured = instrument_with()
    FakeOpenAI(tokens=TOKENS).azure_client().chat.completions.create(model="prod-chat", messages=MESSAGES)
    assert attributes(only_span(captured))[names.GEN_AI_USAGE_COST] == usd(
        (8_000, "0.15"), (2_000, "0.075"), (1_000, "0.60")
    )


def test_azure_deployment_alias_from_price_file(instrument_with: Callable[..., Any], tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"aliases": {"prod-chat": "gpt-4o-2024-08-06"}}))
    captured = instrument_with(price_file=str(path))
    FakeOpenAI(tokens=TOKENS).azure_client().chat.completions.create(model="prod-chat", messages=MESSAGES)
    attrs = attributes(only_span(captured))
    assert attrs[names.GEN_AI_USAGE_COST] == usd((8_000, "2.50"), (2_000, "1.25"), (1_000, "10"))


@pytest.mark.parametrize(
    ("base_url", "model", "provider", "address", "cost"),
    [
        # Groq llama-3.3-70b-versatile: $0.59 in, $0.79 out (no cache price: cached input pays input).
        ("https://api.groq.com/openai/v1", "llama-3.3-70b-versatile", "groq", "api.groq.com",
         usd((10_000, "0.59"), (1_000, "0.79"))),
        # OpenRouter's openai/gpt-4o: $2.50 in, $1.25 cached, $10 out.
        ("https://openrouter.ai/api/v1", "openai/gpt-4o", "openrouter", "openrouter.ai",
         usd((8_000, "2.50"), (2_000, "1.25"), (1_000, "10"))),
        # Gemini's OpenAI-compatible endpoint, gemini-2.5-flash: $0.30 in, $0.03 cached, $2.50 out.
        ("https://generativelanguage.googleapis.com/v1beta/openai/", "gemini-2.5-flash", "gcp.gemini",
         "generativelanguage.googleapis.com", usd((8_000, "0.30"), (2_000, "0.03"), (1_000, "2.50"))),
    ],
)  # fmt: skip
def test_compatible_providers_by_base_url(
    captured: Any, base_url: str, model: str, provider: str, address: str, cost: float
) -> None:
    FakeOpenAI(tokens=TOKENS).client(base_url=base_url).chat.completions.create(model=model, messages=MESSAGES)
    attrs = attributes(only_span(captured))
    assert attrs[names.GEN_AI_PROVIDER_NAME] == provider
    assert attrs[names.SERVER_ADDRESS] == address
    assert attrs[names.GEN_AI_USAGE_COST] == cost
    assert names.OPENAI_RESPONSE_SERVICE_TIER not in attrs  # an OpenAI attribute, only for OpenAI
    (point,) = [
        p for p in captured.points(names.METRIC_COST) if dict(p.attributes)["llmcost.cost.component"] == "output"
    ]
    assert dict(point.attributes)[names.GEN_AI_PROVIDER_NAME] == provider


@pytest.mark.parametrize(
    ("base_url", "provider", "address", "port"),
    [
        # gen_ai.provider.name names the API the client speaks; server.address says where (issue 16, 22).
        ("http://localhost:11434/v1", "openai", "localhost", 11434),
        ("http://127.0.0.1:8000/v1", "openai", "127.0.0.1", 8000),
        ("http://localhost:9999/v1", "openai", "localhost", 9999),
        ("http://10.1.2.3:8080/v1", "openai", "10.1.2.3", 8080),  # a private address: self-hosted too
    ],
)
def test_local_servers_cost_zero(captured: Any, base_url: str, provider: str, address: str, port: int) -> None:
    FakeOpenAI(tokens=TOKENS).client(base_url=base_url).chat.completions.create(model="llama3.2", messages=MESSAGES)
    attrs = attributes(only_span(captured))
    assert attrs[names.GEN_AI_PROVIDER_NAME] == provider
    assert attrs[names.SERVER_ADDRESS] == address
    assert attrs[names.SERVER_PORT] == port
    assert attrs[names.GEN_AI_USAGE_COST] == 0.0  # a known zero: nobody bills a local model
    assert attrs[names.LLMCOST_PRICE_SOURCE] == names.PRICE_SOURCE_LOCAL
    assert attrs[names.GEN_AI_USAGE_INPUT_TOKENS] == 10_000
    assert captured.total(names.METRIC_UNPRICED) == 0
    (request_cost,) = captured.points(names.METRIC_REQUEST_COST)
    assert request_cost.count == 1 and request_cost.sum == 0


def test_provider_hosts_setting_names_a_gateway(instrument_with: Callable[..., Any]) -> None:
    captured = instrument_with(provider_hosts={"llm.internal:8443": "openai"})
    client = FakeOpenAI(tokens=TOKENS).client(base_url="https://llm.internal:8443/v1")
    client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    attrs = attributes(only_span(captured))
    assert attrs[names.GEN_AI_PROVIDER_NAME] == "openai"
    assert attrs[names.SERVER_ADDRESS] == "llm.internal"
    assert attrs[names.SERVER_PORT] == 8443


def test_credentials_in_base_url_never_leak(captured: Any) -> None:
    client = FakeOpenAI(tokens=TOKENS).client(base_url="https://user:s3cr3t-token@example.com:8443/v1")
    client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    stream = client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
    for chunk in stream:
        del chunk
    spans = captured.client_spans()
    assert len(spans) == 2
    for span in spans:
        attrs = attributes(span)
        assert attrs[names.SERVER_ADDRESS] == "example.com"
        assert attrs[names.SERVER_PORT] == 8443
        dumped = json.dumps(attrs, default=str) + span.name
        assert "s3cr3t" not in dumped
        assert "user" not in dumped
    for rm in captured.metrics().resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                for point in metric.data.data_points:
                    dumped = json.dumps(dict(point.attributes or {}), default=str)
                    assert "s3cr3t" not in dumped
                    assert "user" not in dumped
