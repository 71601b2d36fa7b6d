"""The hardware rate settings: exact values from env or options, and clear errors at start-up."""

from __future__ import annotations

from decimal import Decimal

import pytest

from otel_llmcost import names
from otel_llmcost.config import Settings
from otel_llmcost.errors import ConfigError


def test_rates_from_env_and_options_are_exact() -> None:
    assert Settings.load(env={names.ENV_HARDWARE_USD_PER_GPU_HOUR: " 2.40 "}).hardware_usd_per_gpu_hour == Decimal(
        "2.40"
    )
    assert Settings.load({"hardware_usd_per_mtok": 0.1}, env={}).hardware_usd_per_mtok == Decimal("0.1")
    # an option wins over the environment
    loaded = Settings.load({"hardware_usd_per_mtok": "1"}, env={names.ENV_HARDWARE_USD_PER_MTOK: "2"})
    assert loaded.hardware_usd_per_mtok == Decimal(1)
    assert Settings.load(env={}).hardware_usd_per_gpu_hour is None


@pytest.mark.parametrize("value", ["abc", "-1", "nan", "inf"])
def test_bad_rate_names_the_variable_and_the_fix(value: str) -> None:
    with pytest.raises(ConfigError, match=names.ENV_HARDWARE_USD_PER_GPU_HOUR + ".*Fix"):
        Settings.load(env={names.ENV_HARDWARE_USD_PER_GPU_HOUR: value})


def test_bad_option_is_refused() -> None:
    with pytest.raises(ConfigError, match="hardware_usd_per_mtok="):
        Settings.load({"hardware_usd_per_mtok": True}, env={})


def test_both_rates_at_once_is_an_error() -> None:
    env = {names.ENV_HARDWARE_USD_PER_GPU_HOUR: "2", names.ENV_HARDWARE_USD_PER_MTOK: "0.1"}
    with pytest.raises(ConfigError, match="set one hardware rate"):
        Settings.load(env=env)


def test_instrument_fails_at_start_up_on_a_bad_rate(instrument_with: object) -> None:
    with pytest.raises(ConfigError):
        instrument_with(hardware_usd_per_gpu_hour="-3")  # type: ignore[operator]
