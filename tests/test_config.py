"""Settings and price files: precedence (arguments > environment > defaults) and errors that say what to fix.

The settings table below has one row per option: a good value in the environment's string form, a good value in
its Python form, and bad values. Every option takes both forms both ways (``max_models="7"`` as well as
``OTEL_LLMCOST_MAX_MODELS=7``); a bad value is one ConfigError line naming the option, the value and a fix.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from openai_payloads import MESSAGES, FakeOpenAI, Tokens, attributes, only_span
from otel_llmcost import Budget, ConfigError, names
from otel_llmcost.config import DIGEST_OPTIONS, OPTIONS, RECONCILE_OPTIONS, Settings, fix
from otel_llmcost.pricing import PriceBook, PriceOverrides
from otel_llmcost.records import Usage

DAILY = Budget("daily", limit=50)


@dataclass(frozen=True)
class Case:
    """One option: good values in both forms (and what they load as), and bad ones."""

    option: str
    env_text: str | None
    """A good value of its environment variable; None for options only code can give."""
    env_loads: Any
    python: Any
    """A good keyword argument in its natural Python form."""
    python_loads: Any
    bad: Any
    """A bad keyword argument."""
    bad_env: str | None
    """A bad value of its variable; None when every text is valid (a path, a store URL checked on opening)."""


CASES = [
    Case("capture_content", "span_only", True, True, True, "maybe", "maybe"),
    Case("content_destination", None, None, "span_and_event", "span_and_event", "log", None),
    Case("content_max_length", "64", 64, 64, 64, -1, "lots"),
    Case("span", " Annotate ", names.SPAN_ANNOTATE, "own", names.SPAN_OWN, "theirs", "both"),
    Case("price_file", " /etc/prices.yaml ", "/etc/prices.yaml", Path("/etc/p.yaml"), "/etc/p.yaml", 42, None),
    Case("inject_stream_usage", "yes", True, True, True, "perhaps", "perhaps"),
    Case("request_cost_buckets", "0.01, 0.1,1", (0.01, 0.1, 1.0), [1, Decimal("2.5"), "10"], (1.0, 2.5, 10.0),
         [0.5, 0.1], "a,b"),
    Case("max_models", "7", 7, 7, 7, "abc", "0"),
    Case("model_aliases", "prod-chat=gpt-4o, batch = gpt-4o-mini", {"prod-chat": "gpt-4o", "batch": "gpt-4o-mini"},
         {"prod-chat": "gpt-4o"}, {"prod-chat": "gpt-4o"}, "prod-chat", "prod-chat"),
    Case("provider_hosts", "gateway.internal:8443=openai", {"gateway.internal:8443": "openai"},
         {"127.0.0.1:8765": "openai"}, {"127.0.0.1:8765": "openai"}, "http://gw:8443=openai", "=openai"),
    Case("local_models", "llama*, My-Finetune", ("llama*", "my-finetune"), ["qwen3:8b"], ("qwen3:8b",), 42, None),
    Case("hardware_usd_per_gpu_hour", " 2.40 ", Decimal("2.40"), 2.4, Decimal("2.4"), True, "-1"),
    Case("hardware_usd_per_mtok", "0.1", Decimal("0.1"), Decimal("0.25"), Decimal("0.25"), "abc", "nan"),
    Case("metric_attributes", "feature, user, llmcost.tenant", (names.LLMCOST_FEATURE, names.USER_ID, "llmcost.tenant"),
         ("team",), (names.LLMCOST_TEAM,), ["feature", "tenant"], "feature,tenant"),
    Case("max_attribute_values", "25", 25, 25, 25, 0, "1.5"),
    Case("fingerprints", "off", False, False, False, "maybe", "maybe"),
    Case("fingerprint_key", " s3cret ", "s3cret", b"k", "k", 42, None),
    Case("expensive_request_usd", " 0.50 ", Decimal("0.50"), 2, Decimal("2"), "lots", "-1"),
    Case("expensive_request_usd_by_feature", "summarize=2.00, chat=0.1",
         {"summarize": Decimal("2.00"), "chat": Decimal("0.1")}, {"bulk": 1}, {"bulk": Decimal("1")},
         {"bulk": "cheap"}, "chat=free"),
    Case("budgets", None, None, DAILY, (DAILY,), ["daily"], None),
    Case("budget_file", "/etc/budgets.yaml", "/etc/budgets.yaml", Path("/b.yaml"), "/b.yaml", 3, None),
    Case("budget_store", "redis://cache:6379/2", "redis://cache:6379/2", "sqlite:/tmp/spend.db", "sqlite:/tmp/spend.db",
         6379, None),
    Case("budget_store_failure", "CLOSED", "closed", "closed", "closed", "shut", "maybe"),
    Case("budget_store_timeout", "0.25", 0.25, 1, 1.0, -1, "soon"),
    Case("budget_default_max_tokens", "2048", 2048, 2048, 2048, 2048.5, "many"),
    Case("budget_reservation_ttl", "120", 120.0, Decimal("120"), 120.0, "inf", "0"),
    Case("ledger", " postgresql://u@db:5432/llm ", "postgresql://u@db:5432/llm", "postgres://db/llm",
         "postgres://db/llm", 5432, "sqlite:/tmp/ledger.db"),
    Case("ledger_spill", "/var/lib/spill.db", "/var/lib/spill.db", Path("/s.db"), "/s.db", 3, None),
    Case("ledger_queue_size", "500", 500, 500, 500, 0, "big"),
    Case("semconv_stability_opt_in", "http/dup, gen_ai_latest_experimental", names.SEMCONV_LATEST,
         names.SEMCONV_LATEST_DUP, names.SEMCONV_LATEST_DUP, 3, None),
    Case("budget_clock", None, None, time.time, time.time, 3, None),
]
BY_OPTION = pytest.mark.parametrize("case", CASES, ids=[case.option for case in CASES])
WITH_ENV = [case for case in CASES if case.env_text is not None]
BAD_ENV = [case for case in CASES if case.bad_env is not None]
FLAGS = ["capture_content", "inject_stream_usage"]


def env_of(option: str) -> str:
    variable = OPTIONS[option].env
    assert variable is not None
    return variable


def test_the_table_covers_every_option_and_every_variable_of_names() -> None:
    assert [case.option for case in CASES] == list(OPTIONS)
    variables = {v for k, v in vars(names).items() if k.startswith("ENV_") and v.startswith("OTEL_LLMCOST_")}
    reconcile = {option.env for option in RECONCILE_OPTIONS.values() if option.env}  # `otel-llmcost reconcile`'s
    assert reconcile == {v for v in variables if v.startswith("OTEL_LLMCOST_RECONCILE_")} | {
        names.ENV_OPENAI_ADMIN_KEY, names.ENV_ANTHROPIC_ADMIN_KEY}
    digest = {option.env for option in DIGEST_OPTIONS.values()}  # the digest's (tests/test_digest.py)
    assert not digest & {option.env for option in OPTIONS.values()}
    assert {option.env for option in OPTIONS.values() if option.env} == (variables - reconcile - digest) | {
        names.ENV_CAPTURE_CONTENT, names.ENV_SEMCONV_STABILITY_OPT_IN}
    assert {case.option for case in WITH_ENV} == {o for o, option in OPTIONS.items() if option.env}


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
    assert settings.budgets == () and settings.budget_clock is None


@pytest.mark.parametrize("case", WITH_ENV, ids=[case.option for case in WITH_ENV])
def test_environment_string_form(case: Case) -> None:
    loaded = getattr(Settings.load(env={env_of(case.option): case.env_text or ""}), case.option)
    assert loaded == case.env_loads
    assert type(loaded) is type(case.env_loads)


@pytest.mark.parametrize("case", WITH_ENV, ids=[case.option for case in WITH_ENV])
def test_the_string_form_is_a_good_keyword_argument_too(case: Case) -> None:
    # e.g. instrument(provider_hosts="127.0.0.1:8765=openai"), instrument(request_cost_buckets="0.01,0.1,1")
    assert getattr(Settings.load({case.option: case.env_text}, env={}), case.option) == case.env_loads


@BY_OPTION
def test_python_form(case: Case) -> None:
    loaded = getattr(Settings.load({case.option: case.python}, env={}), case.option)
    assert loaded == case.python_loads
    assert type(loaded) is type(case.python_loads)


@BY_OPTION
def test_bad_keyword_argument_is_one_line_naming_option_value_and_fix(case: Case) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.load({case.option: case.bad}, env={})
    message = str(info.value)
    shown = "<hidden>" if OPTIONS[case.option].secret else repr(case.bad)  # a secret's value is never echoed
    assert message.startswith(f"{case.option}={shown} "), message
    assert message.endswith(fix(case.option)), message
    assert f"instrument({case.option}=" in message
    if OPTIONS[case.option].env:
        assert OPTIONS[case.option].env in message
    assert "\n" not in message and "pydantic" not in message and "validation error" not in message
    assert info.value.__cause__ is None and info.value.__suppress_context__


@pytest.mark.parametrize("case", BAD_ENV, ids=[case.option for case in BAD_ENV])
def test_bad_environment_value_names_the_variable(case: Case) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.load(env={env_of(case.option): case.bad_env or ""})
    message = str(info.value)
    assert message.startswith(f"{env_of(case.option)}={case.bad_env!r} "), message
    assert message.endswith(fix(case.option)) and f"instrument({case.option}=" in message
    assert "\n" not in message


@pytest.mark.parametrize("option", list(OPTIONS))
def test_the_fix_examples_validate(option: str) -> None:
    described = OPTIONS[option]
    value = eval(described.python, {"Budget": Budget, "time": time})  # the fix shows Python source
    assert getattr(Settings.load({option: value}, env={}), option) not in (None, ())
    if described.env is not None:
        assert described.example is not None
        Settings.load(env={described.env: described.example})
        Settings.load({option: described.example}, env={})


@pytest.mark.parametrize("option", FLAGS)
@pytest.mark.parametrize("text", ["false", "0", "no", "off", "False", " NO "])
def test_false_strings_turn_a_flag_off(option: str, text: str) -> None:
    env = env_of(option)
    assert getattr(Settings.load({option: text}, env={env: "true"}), option) is False  # capture_content="false"
    assert getattr(Settings.load(env={env: text}), option) is False
    assert getattr(Settings.load({option: False}, env={env: "true"}), option) is False


@pytest.mark.parametrize("option", FLAGS)
@pytest.mark.parametrize("text", ["true", "1", "yes", "on", "TRUE"])
def test_true_strings_turn_a_flag_on(option: str, text: str) -> None:
    assert getattr(Settings.load({option: text}, env={}), option) is True
    assert getattr(Settings.load(env={env_of(option): text}), option) is True


@pytest.mark.parametrize(
    ("value", "expected"),
    [("SPAN_ONLY", True), ("span_and_event", True), ("event_only", True), ("NO_CONTENT", False), ("", False)],
)
def test_capture_content_takes_the_genai_enum(value: str, expected: bool) -> None:
    assert Settings.load(env={names.ENV_CAPTURE_CONTENT: value}).capture_content is expected


@pytest.mark.parametrize(
    ("value", "destination"),
    [("SPAN_ONLY", "span"), ("span_and_event", "span_and_event"), ("EVENT_ONLY", "event"), ("true", "span")],
)
def test_the_genai_enum_says_where_content_goes(value: str, destination: str) -> None:
    assert Settings.load(env={names.ENV_CAPTURE_CONTENT: value}).content_destination == destination
    assert Settings.load({"capture_content": value}, env={}).content_destination == destination


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"max_models": "abc"}, "max_models='abc' is not a whole number"),
        ({"max_models": 0}, "max_models=0 must be a whole number at least 1"),
        ({"content_max_length": -1}, "content_max_length=-1 must be a whole number at least 1"),
        ({"model_aliases": "a=b,a=c"}, "model_aliases='a=b,a=c' names 'a' twice"),
        ({"model_aliases": {"a": 1}}, "maps 'a' to 1"),
        ({"request_cost_buckets": "1,0.5"}, "must be increasing amounts in USD"),
        ({"request_cost_buckets": {0.1, 1}}, "is not a list of increasing amounts in USD"),
        ({"capture_content": 2}, "capture_content=2 is not true or false"),
        ({"budget_store_timeout": "inf"}, "must be a number of seconds above 0"),
    ],
)
def test_bad_values(options: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ConfigError, match=None) as info:
        Settings.load(options, env={})
    assert fragment in str(info.value)


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


def test_an_argument_wins_over_a_bad_variable_and_names_the_argument() -> None:
    assert Settings.load({"max_models": 5}, env={names.ENV_MAX_MODELS: "lots"}).max_models == 5
    with pytest.raises(ConfigError, match=r"^max_models='x' "):
        Settings.load({"max_models": "x"}, env={names.ENV_MAX_MODELS: "7"})


def test_unknown_option_suggests_the_closest() -> None:
    with pytest.raises(ConfigError, match=r"unknown instrument\(\) option 'capture_contents' \(did you mean "
                       r"capture_content\?\)"):
        Settings.load({"capture_contents": True}, env={})


def test_several_bad_options_are_still_one_line() -> None:
    with pytest.raises(ConfigError) as info:
        Settings.load({"max_models": 0}, env={names.ENV_CONTENT_MAX_LENGTH: "-1", names.ENV_MAX_ATTRIBUTE_VALUES: "x"})
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{names.ENV_CONTENT_MAX_LENGTH}='-1' must be a whole number at least 1.")
    assert message.endswith(f"Also invalid: max_models, {names.ENV_MAX_ATTRIBUTE_VALUES}.")


def test_settings_are_immutable() -> None:
    settings = Settings.load(env={})
    with pytest.raises(AttributeError):
        settings.max_models = 3  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del settings.capture_content
    assert settings.max_models == 100


# --- the options through instrument(), where the bugs showed ------------------------------------------------
def test_capture_content_false_as_text_captures_nothing(instrument_with: Callable[..., Any]) -> None:
    for text, captured_content in (("false", False), ("true", True)):
        captured = instrument_with(capture_content=text)
        FakeOpenAI(tokens=Tokens()).client().chat.completions.create(model="gpt-4o", messages=MESSAGES)
        assert (names.GEN_AI_INPUT_MESSAGES in attributes(only_span(captured))) is captured_content
        captured.instrumentor.uninstrument()


def test_provider_hosts_in_the_environment_form_names_the_gateway(instrument_with: Callable[..., Any]) -> None:
    captured = instrument_with(provider_hosts="127.0.0.1:8765=openai")
    client = FakeOpenAI(tokens=Tokens()).client(base_url="http://127.0.0.1:8765/v1")  # MockTransport: no socket
    client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    attrs = attributes(only_span(captured))
    assert attrs[names.GEN_AI_PROVIDER_NAME] == "openai"
    assert (attrs[names.SERVER_ADDRESS], attrs[names.SERVER_PORT]) == ("127.0.0.1", 8765)


# --- unknown variables ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("variable", "suggestion"),
    [
        ("OTEL_LLMCOST_PRICEFILE", names.ENV_PRICE_FILE),
        ("OTEL_LLMCOST_MAX_MODEL", names.ENV_MAX_MODELS),
        ("otel_llmcost_price_file", names.ENV_PRICE_FILE),
        ("OTEL_LLMCOST_CAPTURE_CONTENT", names.ENV_CAPTURE_CONTENT),
        ("OTEL_LLMCOST_FOO", None),
        ("OTEL_LLMCOST_X", None),
    ],
)
def test_unknown_variable_is_a_warning_with_the_closest_name(
    caplog: pytest.LogCaptureFixture, variable: str, suggestion: str | None
) -> None:
    with caplog.at_level(logging.WARNING, logger="otel_llmcost"):
        settings = Settings.load(env={variable: "prices.yaml", names.ENV_MAX_MODELS: "7"})
    assert settings.max_models == 7 and settings.price_file is None  # ignored, as the warning says
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    message = record.getMessage()
    assert f"{variable} is not a setting of otel-llmcost and is ignored" in message
    if suggestion is None:
        assert "did you mean" not in message and "PRICE_FILE" not in message
    else:
        assert message.endswith(f"did you mean {suggestion}?")


def test_known_variables_and_check_mode_warn_of_nothing(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="otel_llmcost"):
        Settings.load(env={names.ENV_PRICE_FILE: "p.yaml", "OTEL_SERVICE_NAME": "shop", "PATH": "/bin"})
        Settings.load(env={"OTEL_LLMCOST_PRICEFILE": "p.yaml"}, warn_unknown=False)
    assert caplog.records == []


def test_instrument_warns_of_an_unknown_variable(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, instrument_with: Callable[..., Any]
) -> None:
    monkeypatch.setenv("OTEL_LLMCOST_PRICEFILE", "prices.yaml")
    with caplog.at_level(logging.WARNING, logger="otel_llmcost"):
        instrument_with()
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert messages == ["otel-llmcost: OTEL_LLMCOST_PRICEFILE is not a setting of otel-llmcost and is ignored; "
                        f"did you mean {names.ENV_PRICE_FILE}?"]


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
