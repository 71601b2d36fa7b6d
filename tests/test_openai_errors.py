"""HTTP errors: the SDK's exception reaches the caller unchanged; the span and the metrics record it, with no cost."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import openai
import pytest
from opentelemetry.trace import StatusCode

from openai_payloads import HAS_RESPONSES, MESSAGES, FakeOpenAI, attributes, chat_helpers, only_span
from otel_llmcost import names

CASES = [
    (429, "Rate limit reached for gpt-4o in organization org-x on tokens per min.", openai.RateLimitError),
    (500, "The server had an error while processing your request.", openai.InternalServerError),
    (400, "Invalid value for 'temperature': must be <= 2.", openai.BadRequestError),
]
CALLS: dict[str, Callable[[openai.OpenAI], Any]] = {
    "chat": lambda c: c.chat.completions.create(model="gpt-4o", messages=MESSAGES),
    "chat-stream": lambda c: c.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True),
    "chat-parse": lambda c: chat_helpers(c).parse(model="gpt-4o", messages=MESSAGES),
    "embeddings": lambda c: c.embeddings.create(model="gpt-4o", input="hi"),
    "raw": lambda c: c.chat.completions.with_raw_response.create(model="gpt-4o", messages=MESSAGES),
}
if HAS_RESPONSES:
    CALLS["responses"] = lambda c: c.responses.create(model="gpt-4o", input="hi")


def _raise(status: int, message: str, call: Callable[[openai.OpenAI], Any]) -> openai.APIStatusError:
    client = FakeOpenAI(fail=(status, message)).client(max_retries=0)
    with pytest.raises(openai.APIStatusError) as info:
        call(client)
    return info.value


def _assert_recorded_error(captured: Any, error_type: str) -> None:
    span = only_span(captured)
    assert span.status.status_code is StatusCode.ERROR
    assert span.end_time is not None
    attrs = attributes(span)
    assert attrs[names.ERROR_TYPE] == error_type
    for absent in (names.GEN_AI_USAGE_COST, names.GEN_AI_USAGE_INPUT_TOKENS, names.LLMCOST_USAGE_AVAILABLE):
        assert absent not in attrs
    assert [e.name for e in span.events] == ["exception"]
    (duration,) = captured.points(names.METRIC_OPERATION_DURATION)
    assert duration.count == 1
    assert dict(duration.attributes)[names.ERROR_TYPE] == error_type
    assert captured.total(names.METRIC_COST) == 0
    assert captured.total(names.METRIC_TOKENS) == 0
    assert captured.total(names.METRIC_UNPRICED) == 0
    assert captured.points(names.METRIC_REQUEST_COST) == []


@pytest.mark.parametrize("entry", list(CALLS))
@pytest.mark.parametrize(("status", "message", "error_class"), CASES, ids=["429", "500", "400"])
def test_http_error_reaches_caller_unchanged(
    instrument_with: Callable[..., Any], entry: str, status: int, message: str, error_class: type[Exception]
) -> None:
    bare = _raise(status, message, CALLS[entry])  # the SDK alone
    captured = instrument_with()
    error = _raise(status, message, CALLS[entry])
    assert type(error) is type(bare) is error_class
    assert str(error) == str(bare)
    assert error.message == bare.message
    assert error.status_code == status
    assert error.body == bare.body
    _assert_recorded_error(captured, error_class.__name__)


@pytest.mark.parametrize(("status", "message", "error_class"), CASES, ids=["429", "500", "400"])
def test_http_error_async(captured: Any, status: int, message: str, error_class: type[Exception]) -> None:
    async def main() -> BaseException:
        client = FakeOpenAI(fail=(status, message)).async_client(max_retries=0)
        with pytest.raises(openai.APIStatusError) as info:
            await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
        return info.value

    error = asyncio.run(main())
    assert type(error) is error_class
    assert message in str(error)
    _assert_recorded_error(captured, error_class.__name__)


def test_retries_stay_inside_one_span(captured: Any) -> None:
    api = FakeOpenAI(fail=(500, "try again"))
    with pytest.raises(openai.InternalServerError):
        api.client(max_retries=2).chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert len(api.requests) == 3  # the SDK retried twice
    _assert_recorded_error(captured, "InternalServerError")
