"""OTEL_SEMCONV_STABILITY_OPT_IN: each mode through real OpenAI SDK calls over the fake, exact names asserted."""

from __future__ import annotations

import logging
from typing import Any

import openai
import pytest

from openai_payloads import MESSAGES, FakeOpenAI, Tokens, attributes
from otel_llmcost import names
from otel_llmcost.config import Settings

DEFAULT, LATEST, DUP = names.SEMCONV_DEFAULT, names.SEMCONV_LATEST, names.SEMCONV_LATEST_DUP
CALL = Tokens(prompt=3_000, cache_write=1_000, cached=500, completion=1_000, reasoning=200)
COST_NAMES = {names.GEN_AI_USAGE_COST_AMOUNT, names.GEN_AI_USAGE_COST_CURRENCY, names.GEN_AI_USAGE_COST_SOURCE}
OLD_METRICS = {names.METRIC_TOKEN_USAGE, names.METRIC_OPERATION_DURATION, names.METRIC_TIME_TO_FIRST_CHUNK}
NEW_METRICS = {metric for metric, _, _ in names.SEMCONV_METRICS[LATEST]}


def _calls(cap: Any) -> list[dict[str, Any]]:
    """A priced chat call with cache and reasoning tokens, a stream, an embeddings call: their spans' attributes."""
    api = FakeOpenAI()
    client = api.client()
    api.tokens = CALL
    client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    for chunk in client.chat.completions.create(
        model="gpt-4o", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    ):
        del chunk
    client.embeddings.create(model="text-embedding-3-small", input="hi")
    spans = [attributes(s) for s in cap.client_spans()]
    assert len(spans) == 3
    return spans


def _gen_ai_metrics(cap: Any) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for rm in cap.metrics().resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name.startswith("gen_ai."):
                    found.setdefault(metric.name, []).extend(metric.data.data_points)
    return found


@pytest.mark.parametrize("mode", [DEFAULT, LATEST, DUP])
def test_span_attribute_names_per_mode(instrument_with: Any, mode: str) -> None:
    chat, _, embeddings = _calls(instrument_with(semconv_stability_opt_in=mode))
    # The token counts have one name in every mode (util-genai 1.3b0's and main's): never cache_creation.
    assert chat[names.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS] == 1_000
    assert chat[names.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 500
    assert chat[names.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] == 200
    assert not any("cache_creation" in key for key in chat)
    for attrs in (chat, embeddings):
        if mode == DEFAULT:
            assert names.GEN_AI_USAGE_COST in attrs and not COST_NAMES & set(attrs)
            continue
        assert attrs[names.GEN_AI_USAGE_COST_CURRENCY] == "USD"
        assert attrs[names.GEN_AI_USAGE_COST_SOURCE] == names.COST_SOURCE_LOCAL  # priced from genai-prices
        assert attrs[names.GEN_AI_USAGE_COST_AMOUNT] > 0
        if mode == DUP:
            assert attrs[names.GEN_AI_USAGE_COST] == attrs[names.GEN_AI_USAGE_COST_AMOUNT]
        else:
            assert names.GEN_AI_USAGE_COST not in attrs


@pytest.mark.parametrize("mode", [DEFAULT, LATEST, DUP])
def test_metric_names_per_mode(instrument_with: Any, mode: str) -> None:
    cap = instrument_with(semconv_stability_opt_in=mode)
    _calls(cap)
    emitted = _gen_ai_metrics(cap)
    # Embeddings keep the operation duration and token.usage in every mode; inference calls move.
    expected = {
        DEFAULT: OLD_METRICS,
        LATEST: NEW_METRICS | {names.METRIC_OPERATION_DURATION, names.METRIC_TOKEN_USAGE},
        DUP: NEW_METRICS | OLD_METRICS,
    }[mode]
    assert set(emitted) == expected

    def ops(metric: str) -> list[str]:
        return sorted(dict(p.attributes)[names.GEN_AI_OPERATION_NAME] for p in emitted[metric])

    if mode == LATEST:
        assert ops(names.METRIC_OPERATION_DURATION) == ["embeddings"]
        assert ops(names.METRIC_INFERENCE_DURATION) == ["chat"]
        assert sum(p.count for p in emitted[names.METRIC_INFERENCE_DURATION]) == 2
    if mode == DUP:  # the same calls in both: nothing lost, nothing counted twice within one name
        assert sum(p.count for p in emitted[names.METRIC_OPERATION_DURATION]) == 3
        assert sum(p.count for p in emitted[names.METRIC_INFERENCE_DURATION]) == 2
    if mode != DEFAULT:
        (ttfc,) = emitted[names.METRIC_INFERENCE_TIME_TO_FIRST_CHUNK]
        assert ttfc.count == 1
        (inputs,) = emitted[names.METRIC_INFERENCE_OPERATION_INPUT_TOKENS]
        assert inputs.count == 2 and names.GEN_AI_TOKEN_TYPE not in dict(inputs.attributes)


@pytest.mark.parametrize("mode", [LATEST, DUP])
def test_inference_usage_counters(instrument_with: Any, mode: str) -> None:
    cap = instrument_with(semconv_stability_opt_in=mode)
    chat, stream, _ = _calls(cap)
    for token_type, metric in names.INFERENCE_USAGE_COUNTERS:
        points = _gen_ai_metrics(cap)[metric]
        assert {dict(p.attributes)[names.GEN_AI_TOKEN_MODALITY] for p in points} == {names.TOKEN_MODALITY_UNKNOWN}
        assert {dict(p.attributes)[names.GEN_AI_OPERATION_NAME] for p in points} == {"chat"}
        span_name = {
            "input": names.GEN_AI_USAGE_INPUT_TOKENS, "output": names.GEN_AI_USAGE_OUTPUT_TOKENS,
            "cache_read": names.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
            "cache_write": names.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS,
            "reasoning": names.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
        }[token_type]
        assert cap.total(metric) == chat.get(span_name, 0) + stream.get(span_name, 0), token_type


def test_failed_inference_call_counts_zero(instrument_with: Any) -> None:
    cap = instrument_with(semconv_stability_opt_in=LATEST)
    client = FakeOpenAI(fail=(500, "The server had an error.")).client(max_retries=0)
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    emitted = _gen_ai_metrics(cap)
    for _, metric in names.INFERENCE_USAGE_COUNTERS:
        (point,) = emitted[metric]
        assert point.value == 0
    (duration,) = emitted[names.METRIC_INFERENCE_DURATION]
    assert dict(duration.attributes)[names.ERROR_TYPE] == "InternalServerError"


def test_read_from_the_environment_as_opentelemetry_does(instrument_with: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv(names.ENV_SEMCONV_STABILITY_OPT_IN, "http/dup, database,gen_ai_latest_experimental")
    chat, _, _ = _calls(instrument_with())
    assert set(chat) >= COST_NAMES and names.GEN_AI_USAGE_COST not in chat


@pytest.mark.parametrize(
    ("value", "mode"),
    [
        ("", DEFAULT),
        ("http", DEFAULT),
        ("gen_ai_latest_experimental", LATEST),
        ("gen_ai_latest_experimental,gen_ai_latest_experimental/dup", DUP),  # /dup wins, as in OpenTelemetry
        (" http/dup ,gen_ai_latest_experimental/dup", DUP),
    ],
)
def test_modes_of_the_variable(value: str, mode: str, caplog: Any) -> None:
    with caplog.at_level(logging.WARNING):
        assert Settings.load(env={names.ENV_SEMCONV_STABILITY_OPT_IN: value}).semconv_stability_opt_in == mode
    assert not caplog.records


@pytest.mark.parametrize("typo", ["gen_ai_latest_experimantal", "GEN_AI_LATEST_EXPERIMENTAL", "genai_latest"])
def test_a_misspelled_gen_ai_token_is_ignored_with_a_warning(typo: str, caplog: Any) -> None:
    with caplog.at_level(logging.WARNING):
        settings = Settings.load(env={names.ENV_SEMCONV_STABILITY_OPT_IN: f"http,{typo}"})
    assert settings.semconv_stability_opt_in == DEFAULT
    (record,) = caplog.records
    assert typo in record.getMessage() and names.ENV_SEMCONV_STABILITY_OPT_IN in record.getMessage()
