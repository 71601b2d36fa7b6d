"""The price book on its own: hand-computed prices, agreement with genai-prices, the cached fast path, overrides."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import genai_prices
import pytest
from genai_prices.data_snapshot import DataSnapshot
from genai_prices.types import ModelInfo
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openai_payloads import usd
from otel_llmcost import ConfigError, names
from otel_llmcost.pricing import PriceBook, PriceOverrides, price_context
from otel_llmcost.pricing.rates import Price
from otel_llmcost.records import Usage

BUNDLED = f"genai-prices@{genai_prices.__version__}"


def book(**overrides: Any) -> PriceBook:
    data = overrides.pop("data", None)
    prices = PriceBook(PriceOverrides.from_data(data, source="override:test") if data else None, **overrides)
    prices.warm_up()
    return prices


# --- hand-computed bundled prices -----------------------------------------------------------------
def test_gpt4o_with_cached_input_hand_computed() -> None:
    # gpt-4o: $2.50 in, $1.25 cached in, $10 out. 10k input of which 8k cached, 500 out.
    cost = book().cost("openai", "gpt-4o", Usage(input_tokens=10_000, cache_read_tokens=8_000, output_tokens=500))
    assert cost is not None
    assert cost.input == usd((2_000, "2.50"))
    assert cost.cache_read == usd((8_000, "1.25"))
    assert cost.output == usd((500, "10"))
    assert cost.cache_write == 0.0
    assert cost.total == usd((2_000, "2.50"), (8_000, "1.25"), (500, "10")) == 0.02
    # The cache saved what the 8k tokens would have cost uncached, minus what they cost cached.
    assert cost.savings_cache == usd((8_000, "2.50")) - usd((8_000, "1.25"))
    assert cost.savings_batch == 0.0
    assert cost.source == BUNDLED
    assert cost.model_id == "gpt-4o"


def test_dated_model_priced_as_its_family() -> None:
    prices = book()
    usage = Usage(input_tokens=1_000, output_tokens=1_000)
    dated = prices.cost("openai", "gpt-4o-2024-08-06", usage)
    plain = prices.cost("openai", "gpt-4o", usage)
    assert dated is not None and plain is not None
    assert dated.total == usd((1_000, "2.50"), (1_000, "10")) == plain.total
    assert dated.model_id == "gpt-4o"


def test_reasoning_tokens_are_inside_output_never_added_again() -> None:
    # o4-mini: $1.10 in, $0.275 cached in, $4.40 out; 3000 output of which 2500 reasoning.
    cost = book().cost("openai", "o4-mini", Usage(input_tokens=4_000, output_tokens=3_000, reasoning_tokens=2_500))
    assert cost is not None
    assert cost.output == usd((3_000, "4.40"))
    assert cost.total == usd((4_000, "1.10"), (3_000, "4.40"))


@pytest.mark.parametrize(
    ("tier", "rates"),
    [
        # o3 since 2026-10-12 (genai-prices variants; today is after that date).
        ("flex", ("1", "0.25", "4")),
        ("priority", ("3.5", "0.875", "14")),
        ("default", ("2", "0.5", "8")),
        ("auto", ("2", "0.5", "8")),
    ],
)
def test_service_tier_selects_its_price(tier: str, rates: tuple[str, str, str]) -> None:
    usage = Usage(input_tokens=10_000, cache_read_tokens=4_000, output_tokens=1_000, service_tier=tier)
    cost = book().cost("openai", "o3", usage)
    in_rate, cached_rate, out_rate = rates
    assert cost is not None
    assert cost.total == usd((6_000, in_rate), (4_000, cached_rate), (1_000, out_rate))


def test_batch_rate_and_batch_savings() -> None:
    # gpt-4o batch: $1.25 in, $5 out (cached input keeps $1.25); standard: $2.50 / $1.25 / $10.
    usage = Usage(input_tokens=3_000, cache_read_tokens=1_000, output_tokens=2_000, batch=True)
    cost = book().cost("openai", "gpt-4o", usage)
    assert cost is not None
    assert cost.total == usd((2_000, "1.25"), (1_000, "1.25"), (2_000, "5"))
    standard = usd((2_000, "2.50"), (1_000, "1.25"), (2_000, "10"))
    assert cost.savings_batch == pytest.approx(standard - cost.total, rel=1e-12)
    assert cost.savings_cache == 0.0  # in batch, a cached token costs what an uncached one does


@pytest.mark.parametrize(
    ("input_tokens", "rates"),
    [
        (272_000, ("2.5", "0.25", "15")),  # at the threshold: still the base price
        (272_001, ("5", "0.5", "22.5")),  # past it: EVERY token pays the long-context price
        (10_000, ("2.5", "0.25", "15")),
        (1_000_000, ("5", "0.5", "22.5")),
    ],
)
def test_long_context_cliff(input_tokens: int, rates: tuple[str, str, str]) -> None:
    # gpt-5.4: $2.50/$0.25/$15 up to 272k input tokens, $5/$0.50/$22.50 beyond.
    usage = Usage(input_tokens=input_tokens, cache_read_tokens=2_000, output_tokens=1_000)
    cost = book().cost("openai", "gpt-5.4", usage)
    in_rate, cached_rate, out_rate = rates
    assert cost is not None
    assert cost.total == usd((input_tokens - 2_000, in_rate), (2_000, cached_rate), (1_000, out_rate))


def test_price_context_mapping() -> None:
    assert price_context(Usage()) == {}
    assert price_context(Usage(service_tier="default")) == {}
    assert price_context(Usage(service_tier="auto")) == {}
    assert price_context(Usage(service_tier="flex")) == {"service_tier": "flex"}
    assert price_context(Usage(speed="fast")) == {"speed": "fast"}
    assert price_context(Usage(batch=True, service_tier="priority")) == {
        "service_tier": "priority",
        "processing": "batch",
    }


def test_uncached_input_never_negative() -> None:
    assert Usage(input_tokens=5, cache_read_tokens=10).uncached_input_tokens == 0
    assert Usage(input_tokens=10, cache_read_tokens=3, cache_write_tokens=2).uncached_input_tokens == 5


def test_tier_boundaries_of_price() -> None:
    price = Price(Decimal(1), ((200, Decimal(3)), (100, Decimal(2))))
    assert [price.at(n) for n in (0, 100, 101, 200, 201)] == [1, 1, 2, 2, 3]


# --- unknown models -------------------------------------------------------------------------------
def test_unknown_model_has_no_cost_and_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    prices = book()
    with caplog.at_level(logging.WARNING, logger="otel_llmcost"):
        for _ in range(3):
            assert prices.cost("openai", "my-mystery-model", Usage(input_tokens=10, output_tokens=10)) is None
        assert prices.cost("groq", "my-mystery-model", Usage(input_tokens=10)) is None
        assert prices.cost("some-unknown-provider", "gpt-4o", Usage(input_tokens=10)) is None
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 3  # once per (provider, model), not per call
    assert "my-mystery-model" in warnings[0].getMessage()
    assert names.ENV_PRICE_FILE in warnings[0].getMessage()


def test_no_model_no_cost_and_local_is_a_real_zero() -> None:
    prices = book()
    assert prices.cost("openai", None, Usage(input_tokens=10)) is None
    local = prices.cost("ollama", "llama3.2", Usage(input_tokens=10_000, output_tokens=10_000), local=True)
    assert local is not None
    assert local.total == 0.0
    assert local.source == names.PRICE_SOURCE_LOCAL


# --- agreement with genai-prices ------------------------------------------------------------------
# (gen_ai.provider.name, genai-prices provider id, model, price contexts that model has)
MODELS: list[tuple[str, str, str, tuple[str | None, ...]]] = [
    ("openai", "openai", "gpt-4o", (None, "priority", "batch")),
    ("openai", "openai", "gpt-4o-mini", (None, "priority", "batch")),
    ("openai", "openai", "gpt-4o-2024-08-06", (None, "batch")),
    ("openai", "openai", "o3", (None, "flex", "priority", "batch")),
    ("openai", "openai", "o4-mini", (None, "flex", "priority", "batch")),
    ("openai", "openai", "gpt-5", (None, "flex", "priority", "batch")),
    ("openai", "openai", "gpt-5.4", (None, "flex", "priority", "batch")),
    ("openai", "openai", "text-embedding-3-small", (None,)),
    ("anthropic", "anthropic", "claude-sonnet-4-5", (None,)),
    ("anthropic", "anthropic", "claude-opus-4-1", (None,)),
    ("anthropic", "anthropic", "claude-haiku-4-5", (None,)),
    ("gcp.gemini", "google", "gemini-2.5-pro", (None,)),
    ("gcp.gemini", "google", "gemini-2.5-flash", (None,)),
    ("gcp.gemini", "google", "gemini-3-pro-preview", (None,)),
    ("groq", "groq", "llama-3.3-70b-versatile", (None,)),
    ("azure.ai.openai", "azure", "gpt-4o", (None,)),
]
SHARED_BOOK = book()


@st.composite
def calls(draw: Callable[..., Any]) -> tuple[str, str, str, str | None, int, int, int, int]:
    provider, prices_id, model, contexts = draw(st.sampled_from(MODELS))
    context = draw(st.sampled_from(contexts))
    # Up to 2M input tokens: well past every long-context threshold (200k, 272k).
    total = draw(st.one_of(st.integers(0, 400_000), st.integers(0, 2_000_000)))
    cache_read = draw(st.integers(0, total))
    cache_write = draw(st.integers(0, total - cache_read))
    output = draw(st.integers(0, 200_000))
    return provider, prices_id, model, context, total, cache_read, cache_write, output


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(calls())
def test_fast_path_equals_genai_prices(call: tuple[str, str, str, str | None, int, int, int, int]) -> None:
    provider, prices_id, model, context, total, cache_read, cache_write, output = call
    usage = Usage(
        input_tokens=total,
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
        output_tokens=output,
        service_tier=context if context not in (None, "batch") else None,
        batch=context == "batch",
    )
    ours = SHARED_BOOK.cost(provider, model, usage)
    theirs = genai_prices.calc_price(
        genai_prices.Usage(
            input_tokens=total, cache_read_tokens=cache_read, cache_write_tokens=cache_write, output_tokens=output
        ),
        model_ref=model,
        provider_id=prices_id,
        price_context=price_context(usage) or None,
    )
    assert ours is not None
    assert ours.total == float(theirs.total_price)
    assert ours.output == float(theirs.output_price)
    assert math.isclose(
        ours.input + ours.cache_read + ours.cache_write, float(theirs.input_price), rel_tol=1e-12, abs_tol=1e-15
    )


def test_after_warm_up_pricing_is_arithmetic_only(monkeypatch: pytest.MonkeyPatch) -> None:
    lookups: list[str] = []
    resolutions: list[Any] = []
    find = DataSnapshot.find_provider_model
    get_prices = ModelInfo.get_prices

    def counting_find(self: DataSnapshot, *args: Any, **kwargs: Any) -> Any:
        lookups.append(args[0])
        return find(self, *args, **kwargs)

    def counting_get_prices(self: ModelInfo, *args: Any, **kwargs: Any) -> Any:
        resolutions.append(args)
        return get_prices(self, *args, **kwargs)

    monkeypatch.setattr(DataSnapshot, "find_provider_model", counting_find)
    monkeypatch.setattr(ModelInfo, "get_prices", counting_get_prices)
    prices = book()
    first = prices.cost("openai", "gpt-4o", Usage(input_tokens=1, output_tokens=1))
    assert first is not None
    assert lookups == ["gpt-4o"]
    lookups.clear()
    resolutions.clear()
    for n in range(1, 2_001):
        cost = prices.cost("openai", "gpt-4o", Usage(input_tokens=n * 10, cache_read_tokens=n, output_tokens=n))
        assert cost is not None
        assert cost.total == usd((n * 9, "2.50"), (n, "1.25"), (n, "10"))
    assert lookups == []
    assert resolutions == []
    # A new context (tier) is one more lookup, then cached as well.
    for _ in range(3):
        prices.cost("openai", "gpt-4o", Usage(input_tokens=5, service_tier="priority"))
    assert lookups == ["gpt-4o"]


# --- overrides ------------------------------------------------------------------------------------
OVERRIDES: dict[str, Any] = {
    "models": [
        {"model": "my-finetune", "input": 1.5, "output": 6, "cache_read": 0.15},
        {"model": "gpt-4o", "provider": "openai", "input": 1, "output": 2},
        {"model": "my-llama", "input": 0, "output": 0},
        {"model": "acme-", "match": "prefix", "input": 3, "output": 4},
        {"model": "acme-special", "input": 5, "output": 6},
        {
            "model": "big-context",
            "input": 1,
            "output": 2,
            "tiers": [{"above": 1000, "input": 10, "output": 20}],
            "batch": {"input": 0.5, "output": 1},
            "service_tiers": {"flex": {"input": 0.25, "output": 0.5}},
        },
    ],
    "aliases": {"Prod-Deployment": "gpt-4o-mini"},
}


def test_override_adds_model_and_wins_over_bundled() -> None:
    prices = book(data=OVERRIDES)
    added = prices.cost("openai", "my-finetune", Usage(input_tokens=1_000, cache_read_tokens=400, output_tokens=100))
    assert added is not None
    assert added.total == usd((600, "1.5"), (400, "0.15"), (100, "6"))
    assert added.source == "override:test"
    replaced = prices.cost("openai", "GPT-4o", Usage(input_tokens=1_000, output_tokens=1_000))
    assert replaced is not None
    assert replaced.total == usd((1_000, "1"), (1_000, "2"))
    assert replaced.source == "override:test"
    # The entry is for provider openai only: Azure's gpt-4o keeps its bundled price.
    azure = prices.cost("azure.ai.openai", "gpt-4o", Usage(input_tokens=1_000, output_tokens=1_000))
    assert azure is not None
    assert azure.total == usd((1_000, "2.50"), (1_000, "10"))
    assert azure.source == BUNDLED


def test_override_self_hosted_zero_is_a_known_price() -> None:
    cost = book(data=OVERRIDES).cost("openai", "my-llama", Usage(input_tokens=50_000, output_tokens=9_000))
    assert cost is not None
    assert cost.total == 0.0
    assert cost.source == "override:test"


def test_override_exact_beats_prefix_and_prefix_matches_versions() -> None:
    prices = book(data=OVERRIDES)
    usage = Usage(input_tokens=1_000_000, output_tokens=1_000_000)
    special = prices.cost("openai", "acme-special", usage)
    versioned = prices.cost("openai", "acme-2025-01-01", usage)
    assert special is not None and versioned is not None
    assert special.total == 11.0
    assert versioned.total == 7.0


def test_override_tiers_batch_and_service_tiers() -> None:
    prices = book(data=OVERRIDES)
    below = prices.cost("openai", "big-context", Usage(input_tokens=1_000, output_tokens=100))
    above = prices.cost("openai", "big-context", Usage(input_tokens=1_001, output_tokens=100))
    batched = prices.cost("openai", "big-context", Usage(input_tokens=100, output_tokens=100, batch=True))
    flex = prices.cost("openai", "big-context", Usage(input_tokens=100, output_tokens=100, service_tier="flex"))
    assert below is not None and above is not None and batched is not None and flex is not None
    assert below.total == usd((1_000, "1"), (100, "2"))
    assert above.total == usd((1_001, "10"), (100, "20"))
    assert batched.total == usd((100, "0.5"), (100, "1"))
    assert batched.savings_batch == usd((100, "1"), (100, "2")) - batched.total
    assert flex.total == usd((100, "0.25"), (100, "0.5"))
    assert flex.savings_batch == 0.0  # a flex discount is not a batch saving


def test_aliases_from_file_and_from_settings() -> None:
    usage = Usage(input_tokens=1_000, output_tokens=1_000)
    mini = usd((1_000, "0.15"), (1_000, "0.6"))
    from_file = book(data=OVERRIDES).cost("azure.ai.openai", "prod-deployment", usage)
    assert from_file is not None and from_file.total == mini
    from_settings = book(aliases={"other-deployment": "gpt-4o-2024-08-06"}).cost(
        "azure.ai.openai", "Other-Deployment", usage
    )
    assert from_settings is not None
    assert from_settings.total == usd((1_000, "2.50"), (1_000, "10"))
    # Settings win over the file for the same name.
    both = book(data=OVERRIDES, aliases={"prod-deployment": "gpt-4o"}).cost("azure.ai.openai", "prod-deployment", usage)
    assert both is not None and both.model_id == "gpt-4o"


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ([1, 2], "top level must be a mapping"),
        ({"modles": []}, "unknown top-level key"),
        ({"models": {"model": "x"}}, "'models' must be a list"),
        ({"models": ["x"]}, "models[0]"),
        ({"models": [{"input": 1, "output": 1}]}, "'model' is required"),
        ({"models": [{"model": "x", "output": 1}]}, "'input' is required"),
        ({"models": [{"model": "x", "input": -1, "output": 1}]}, ">= 0"),
        ({"models": [{"model": "x", "input": "cheap", "output": 1}]}, "must be a number"),
        ({"models": [{"model": "x", "input": True, "output": 1}]}, "must be a number"),
        ({"models": [{"model": "x", "input": float("nan"), "output": 1}]}, "finite"),
        ({"models": [{"model": "x", "input": 1, "output": 1, "colour": "red"}]}, "unknown key"),
        ({"models": [{"model": "x", "input": 1, "output": 1, "match": "regex"}]}, "'match'"),
        ({"models": [{"model": "x", "input": 1, "output": 1, "tiers": [{"input": 2}]}]}, "tiers[0]"),
        ({"models": [{"model": "x", "input": 1, "output": 1, "batch": {"inptu": 1}}]}, "unknown price key"),
        ({"aliases": {"a": 1}}, "'aliases' must map"),
    ],
)
def test_bad_override_data_names_entry_and_problem(data: Any, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        PriceOverrides.from_data(data, where="price file 'p.yaml'")
    message = str(info.value)
    assert message.startswith("price file 'p.yaml'")
    assert problem in message


def test_a_local_server_costs_zero_unless_the_price_file_prices_the_model() -> None:
    from otel_llmcost.pricing import PriceBook, PriceOverrides
    from otel_llmcost.records import Usage

    usage = Usage(input_tokens=1_000_000, output_tokens=500_000)
    book = PriceBook(PriceOverrides.from_data({"models": [{"model": "llama3.1:8b", "input": 0.1, "output": 0.2}]}))
    local = book.cost("ollama", "llama3.1:8b", usage, local=True)
    assert local is not None and local.total == 0.1 + 0.1
    assert local.source.startswith("override")
    free = book.cost("ollama", "qwen3:4b", usage, local=True)
    assert free is not None and free.total == 0.0 and free.source == "local"


# --- where it ran ---------------------------------------------------------------------------------
def test_the_book_applies_where_it_ran() -> None:
    """The book is the one place a where-it-ran multiplier applies: a call's cost, a budget's estimate and a
    report priced by it agree. gpt-4o, 1,000 in + 1,000 out = $0.0125 globally, x 1.1 on eu.api.openai.com."""
    prices = book(data={"models": [], "multipliers": [{"name": "gw", "host": "llm.example", "factor": "1.25"}]})
    usage = Usage(input_tokens=1_000, output_tokens=1_000)
    exact = (Decimal(1_000) * Decimal("2.50") + Decimal(1_000) * 10) / 1_000_000
    plain = prices.cost("openai", "gpt-4o", usage)
    assert plain is not None and plain.exact == exact and plain.multiplier is None
    regional = prices.cost("openai", "gpt-4o", usage, server_address="eu.api.openai.com")
    assert regional is not None and regional.exact == exact * Decimal("1.1")
    assert regional.multiplier == ("openai.data_residency", 1.1)
    assert (regional.input, regional.output) == pytest.approx((usd((1_000, "2.75")), usd((1_000, "11"))))
    assert prices.cost("openai", "gpt-4o", usage, server_address="api.openai.com") == plain
    gateway = prices.cost("openai", "gpt-4o", usage, server_address="llm.example")
    assert gateway is not None and gateway.exact == exact * Decimal("1.25")
    claude = prices.cost("anthropic", "claude-sonnet-4-5", usage, inference_geo="us")
    sonnet = (Decimal(1_000) * 3 + Decimal(1_000) * 15) / 1_000_000
    assert claude is not None and claude.exact == sonnet * Decimal("1.1")
    assert claude.multiplier == ("anthropic.inference_geo.us", 1.1)
    # A call that costs nothing (a local server) has nothing to multiply.
    free = prices.cost("openai", "qwen3:4b", usage, local=True, server_address="eu.api.openai.com")
    assert free is not None and free.exact == 0 and free.multiplier is None
