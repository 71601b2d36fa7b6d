"""``instrument(...)``: the instrument / uninstrument cycle every fixture of their suites goes through, and the one
place their instrumentor is swapped for ours.

Their tests call ``instrument(TheirInstrumentor(), tracer_provider=..., logger_provider=..., meter_provider=...,
content_capture="SPAN_ONLY")``; upstream sets ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` (and
``OTEL_INSTRUMENTATION_GENAI_EMIT_EVENT`` for ``emit_event=True``), instruments the given instrumentor and
uninstruments it on exit. Here the same variables are set (util-genai code that a test drives itself still sees
them) but the instrumentor is ``LLMCostInstrumentor``, on the same providers and with the same content setting given
explicitly: our ``capture_content`` takes util-genai's enum (NO_CONTENT, SPAN_ONLY, EVENT_ONLY, SPAN_AND_EVENT, any
case) and derives the destination (span, event, both) from it. ``OTEL_SEMCONV_STABILITY_OPT_IN`` is left alone:
util-genai 1.3b0 emits the released GenAI names, which are our default mode's.

``CONFORMANCE_BASELINE=1`` (with the ``swap_instrumentor`` plugin left out) instruments the instrumentor the test
gives instead, their own: the suite's result in this environment with nothing of ours, to tell a failure of ours
from one of the environment.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from otel_llmcost import LLMCostInstrumentor

CAPTURE_VARIABLE = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
EMIT_EVENT_VARIABLE = "OTEL_INSTRUMENTATION_GENAI_EMIT_EVENT"
_NOT_GIVEN: Any = object()


@contextmanager
def _environment(overrides: Mapping[str, str]) -> Iterator[None]:
    """The variables set for the block, each put back (or removed) after it, so no test leaks into the next."""
    previous = {key: os.environ.get(key) for key in overrides}
    os.environ.update(overrides)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def instrument(
    instrumentor: Any,
    *,
    tracer_provider: Any,
    logger_provider: Any,
    meter_provider: Any,
    content_capture: str | None = None,
    emit_event: bool = False,
    extra_env: Mapping[str, str] | None = None,
    completion_hook: Any = _NOT_GIVEN,
) -> Iterator[Any]:
    """Instrument otel-llmcost for the block and yield its instrumentor; uninstrument after.

    ``instrumentor`` is used only if it already is ours (the conformance stage's ``swap_instrumentor`` plugin puts
    a subclass of ours in place of their class); anything else is replaced by ``LLMCostInstrumentor()``.
    ``completion_hook`` is util-genai's API, which we do not have: it is accepted and not used, so a test that
    relies on it fails on its assertions rather than on the call.
    """
    overrides: dict[str, str] = dict(extra_env or {})
    options: dict[str, Any] = {}
    if content_capture is not None:
        overrides[CAPTURE_VARIABLE] = content_capture
    if emit_event:
        overrides[EMIT_EVENT_VARIABLE] = "true"
    if os.environ.get("CONFORMANCE_BASELINE") == "1":
        chosen = instrumentor
        if completion_hook is not _NOT_GIVEN:
            options["completion_hook"] = completion_hook
    else:
        chosen = instrumentor if isinstance(instrumentor, LLMCostInstrumentor) else LLMCostInstrumentor()
        if content_capture is not None:
            options["capture_content"] = content_capture
    with _environment(overrides):
        chosen.instrument(
            tracer_provider=tracer_provider, logger_provider=logger_provider, meter_provider=meter_provider, **options
        )
        try:
            yield chosen
        finally:
            chosen.uninstrument()
