"""Gemini embeddings and batch jobs through the real google-genai clients.

gemini-embedding-001: $0.15 per million input tokens. gemini-2.5-pro batch: input 0.625 / output 5 per
million up to 200k prompt tokens, 1.25 / 7.5 above (half the standard prices).
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest

from gemini_payloads import FakeGemini, Tokens, batch_job, client, embed_reply
from otel_llmcost import names

M = Decimal(1_000_000)


def test_embed_content_priced_from_usage_metadata(captured: Any) -> None:
    fake = FakeGemini(routes={":batchEmbedContents": embed_reply(prompt_tokens=2_000)})
    result = client("gemini", fake).models.embed_content(model="gemini-embedding-001", contents="hello")
    assert result.embeddings[0].values == [0.1, 0.2]
    (span,) = captured.client_spans()
    assert span.name == "embeddings gemini-embedding-001"
    assert span.attributes[names.GEN_AI_OPERATION_NAME] == "embeddings"
    from google.genai import types

    if "usage_metadata" not in types.EmbedContentResponse.model_fields:  # google-genai before 3.1 drops it
        assert span.attributes[names.LLMCOST_USAGE_AVAILABLE] is False  # said, not a silent $0
        assert names.GEN_AI_USAGE_COST not in span.attributes
        return
    assert span.attributes[names.GEN_AI_USAGE_INPUT_TOKENS] == 2_000
    # 2,000 x 0.15
    assert span.attributes[names.GEN_AI_USAGE_COST] == pytest.approx(float(2_000 * Decimal("0.15") / M))


def test_vertex_embeddings_counted_from_each_embeddings_statistics(captured: Any) -> None:
    fake = FakeGemini(routes={":predict": embed_reply(vertex_counts=(7, 5))})
    asyncio.run(client("vertex", fake).aio.models.embed_content(model="text-embedding-005", contents=["a", "b"]))
    (span,) = captured.client_spans()
    assert span.attributes[names.GEN_AI_PROVIDER_NAME] == "gcp.vertex_ai"
    assert span.attributes[names.GEN_AI_USAGE_INPUT_TOKENS] == 12


def test_succeeded_batch_job_is_priced_once_per_response_at_the_batch_rate(captured: Any) -> None:
    small, large = Tokens(prompt=100_000, candidates=10_000), Tokens(prompt=300_000, candidates=10_000)
    fake = FakeGemini(routes={"batches/job-1": batch_job("batches/job-1", "BATCH_STATE_SUCCEEDED", [small, large])})
    gemini = client("gemini", fake)
    job = gemini.batches.get(name="batches/job-1")
    assert job.dest is not None and len(job.dest.inlined_responses or []) == 2
    gemini.batches.get(name="batches/job-1")  # seen again: not priced twice
    asyncio.run(gemini.aio.batches.get(name="batches/job-1"))

    # 100,000 x 0.625 + 10,000 x 5  and, above 200k, 300,000 x 1.25 + 10,000 x 7.5
    expected = (100_000 * Decimal("0.625") + 10_000 * 5 + 300_000 * Decimal("1.25") + 10_000 * Decimal("7.5")) / M
    assert expected == Decimal("0.5625")
    assert captured.total(names.METRIC_COST, gen_ai__provider__name="gcp.gemini") == pytest.approx(float(expected))
    assert captured.total(names.METRIC_TOKENS, gen_ai__token__type="input") == 400_000
    # what the batch saved against the standard prices: (0.125 + 0.1) - 0.1125 and (0.75 + 0.15) - 0.45
    assert captured.total(names.METRIC_SAVINGS, llmcost__savings__kind="batch") == pytest.approx(0.1125 + 0.45)
    assert captured.client_spans() == []  # reading a job is not an API call of the model


def test_running_batch_job_is_not_priced(captured: Any) -> None:
    fake = FakeGemini(routes={"batches/job-2": batch_job("batches/job-2", "BATCH_STATE_RUNNING", [])})
    client("gemini", fake).batches.get(name="batches/job-2")
    assert captured.points(names.METRIC_TOKENS) == []
