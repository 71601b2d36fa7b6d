"""Settings and price files: precedence (arguments > environment > defaults) and errors that say what to fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from otel_llmcost import ConfigError, names
from otel_llmcost.config import Settings
from otel_llmcost.pricing import PriceBook, PriceOverrides
from otel_llmcost.usage import Usage


def test_defaults_with_empty_environment() -> None:
    settings = Settings.load(env={})
    assert settings.capture_content is False
    assert settings.content_max_length == 8192
    assert settings.price_file is None
    assert settings.inject_stream_usage is False
    assert settings.request_cost_buckets == names.REQUEST_COST_BUCKETS
    assert settings.max_models == 100
    assert settings.model_aliases == {}
    assert settings.provider_hosts == {}


def test_environment_is_read() -> None:
    env = {
        names.ENV_CAPTURE_CONTENT: "True",
        names.ENV_CONTENT_MAX_LENGTH: "64",
        names.ENV_PRICE_FILE: "/etc/prices.yaml",
        names.ENV_INJECT_STREAM_USAGE: "yes",
        names.ENV_REQUEST_COST_BUCKETS: "0.01, 0.1,1",
        names.ENV_MAX_MODELS: "7",
        names.ENV_MODEL_ALIASES: "prod-chat=gpt-4o, batch-chat = gpt-4o-mini",
        names.ENV_PROVIDER_HOSTS: "gateway.internal:8443=openai",
    }
    settings = Settings.load(env=env)
    assert settings.capture_content is True
    assert settings.content_max_length == 64
    assert settings.price_file == "/etc/prices.yaml"
    assert settings.inject_stream_usage is True
    assert settings.request_cost_buckets == (0.01, 0.1, 1.0)
    assert settings.max_models == 7
    assert settings.model_aliases == {"prod-chat": "gpt-4o", "batch-chat": "gpt-4o-mini"}
    assert settings.provider_hosts == {"gateway.internal:8443": "openai"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("true", True),
        ("1", True),
        ("span_only", True),
        ("span_and_event", True),
        ("event_only", True),
        ("false", False),
        ("", False),
        ("no", False),
        ("maybe", False),
    ],
)
def test_capture_content_values(value: str, expected: bool) -> None:
    assert Settings.load(env={names.ENV_CAPTURE_CONTENT: value}).capture_content is expected


def test_arguments_win_over_environment() -> None:
    env = {names.ENV_CAPTURE_CONTENT: "true", names.ENV_MAX_MODELS: "7", names.ENV_INJECT_STREAM_USAGE: "true"}
    settings = Settings.load(
        {"capture_content": False, "max_models": 3, "inject_stream_usage": None, "request_cost_buckets": [1, 2]},
        env=env,
    )
    assert settings.capture_content is False
    assert settings.max_models == 3
    assert settings.inject_stream_usage is True  # None means "not given": the environment stays
    assert settings.request_cost_buckets == (1.0, 2.0)


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({names.ENV_INJECT_STREAM_USAGE: "perhaps"}, names.ENV_INJECT_STREAM_USAGE),
        ({names.ENV_MAX_MODELS: "many"}, names.ENV_MAX_MODELS),
        ({names.ENV_MAX_MODELS: "0"}, "at least 1"),
        ({names.ENV_CONTENT_MAX_LENGTH: "-5"}, names.ENV_CONTENT_MAX_LENGTH),
        ({names.ENV_REQUEST_COST_BUCKETS: "1,0.5"}, "increasing"),
        ({names.ENV_REQUEST_COST_BUCKETS: "a,b"}, names.ENV_REQUEST_COST_BUCKETS),
        ({names.ENV_MODEL_ALIASES: "prod-chat"}, names.ENV_MODEL_ALIASES),
        ({names.ENV_PROVIDER_HOSTS: "=openai"}, "KEY=VALUE"),
    ],
)
def test_bad_environment_names_the_variable(env: dict[str, str], fragment: str) -> None:
    with pytest.raises(ConfigError, match=None) as info:
        Settings.load(env=env)
    assert fragment in str(info.value)


def test_unknown_option_and_bad_buckets_argument() -> None:
    with pytest.raises(ConfigError, match="unknown instrument\\(\\) option"):
        Settings.load({"capture_contents": True}, env={})
    with pytest.raises(ConfigError, match="request_cost_buckets="):
        Settings.load({"request_cost_buckets": [0.5, 0.1]}, env={})


# --- price files ----------------------------------------------------------------------------------
YAML_FILE = """
models:
  - model: my-finetune
    input: 1.5
    output: 6
  - model: gpt-4o
    provider: openai
    input: 1
    output: 2
aliases:
  prod-chat: gpt-4o-mini
"""


def test_price_file_yaml_and_json_load_the_same(tmp_path: Path) -> None:
    yaml_path = tmp_path / "prices.yaml"
    yaml_path.write_text(YAML_FILE)
    json_path = tmp_path / "prices.json"
    json_path.write_text(
        json.dumps(
            {
                "models": [
                    {"model": "my-finetune", "input": 1.5, "output": 6},
                    {"model": "gpt-4o", "provider": "openai", "input": 1, "output": 2},
                ],
                "aliases": {"prod-chat": "gpt-4o-mini"},
            }
        )
    )
    usage = Usage(input_tokens=1_000_000, output_tokens=1_000_000)
    for path in (yaml_path, json_path):
        overrides = PriceOverrides.load(path)
        assert overrides.source == f"override:{path.name}"
        prices = PriceBook(overrides)
        finetune = prices.cost("openai", "my-finetune", usage)
        gpt4o = prices.cost("openai", "gpt-4o", usage)
        aliased = prices.cost("openai", "prod-chat", usage)
        assert finetune is not None and finetune.total == 7.5
        assert gpt4o is not None and gpt4o.total == 3.0 and gpt4o.source == f"override:{path.name}"
        assert aliased is not None and aliased.total == pytest.approx(0.75, rel=1e-12)


def test_empty_price_file_is_no_overrides(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("")
    assert PriceOverrides.load(path).entries == ()


def test_missing_price_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as info:
        PriceOverrides.load(path)
    assert str(path) in str(info.value)
    assert "cannot be read" in str(info.value)
    assert names.ENV_PRICE_FILE in str(info.value)


@pytest.mark.parametrize(
    ("name", "text", "fragments"),
    [
        ("bad.yaml", "models:\n  - model: x\n    input: [1,\n", ("is not valid yaml",)),
        ("bad.json", '{"models": [', ("is not valid json",)),
        (
            "neg.yaml",
            "models:\n  - model: cheap\n    input: -1\n    output: 1\n",
            ("models[0]", "'cheap'", "'input'", ">= 0"),
        ),
        ("noout.json", '{"models": [{"model": "half", "input": 1}]}', ("models[0]", "'half'", "'output' is required")),
    ],
)
def test_bad_price_file_names_file_entry_and_problem(
    tmp_path: Path, name: str, text: str, fragments: tuple[str, ...]
) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        PriceOverrides.load(path)
    message = str(info.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message
