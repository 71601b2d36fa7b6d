"""The GenAI names modes of ``OTEL_SEMCONV_STABILITY_OPT_IN`` beyond the default (issue 22).

``gen_ai_latest_experimental`` emits the newest names of semantic-conventions-genai main (names.py records the
commit): inference calls time into ``gen_ai.client.inference.duration`` / ``.time_to_first_chunk``, count tokens in
``gen_ai.client.inference.operation.{input,output}_tokens`` histograms and ``gen_ai.client.inference.usage.*``
counters (with ``gen_ai.token.modality``), and the span carries the cost as proposal #443 names it
(``gen_ai.usage.cost.amount`` / ``.currency`` / ``.source``) instead of ``gen_ai.usage.cost``.
``gen_ai_latest_experimental/dup`` emits both sets.

Bound once by ``Telemetry`` at construction, and only in those modes: the default mode's per-call path is the
one it always was (no check of the mode per call). Knows names and instruments, nothing about SDKs.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from . import names
from .metrics import AttrKey, Instruments, LatestInstruments, Update, add_together

_OPERATION = names.GEN_AI_OPERATION_NAME
_INFERENCE = names.INFERENCE_OPERATIONS
_TOKEN_TYPE = names.GEN_AI_TOKEN_TYPE


class _Histogram:
    """Stands in for one of the default mode's semconv histograms: an inference call's point goes to the newest
    histogram (and to the old one too with /dup); any other operation's (embeddings) to the old one only."""

    __slots__ = ("_dup", "_new", "_old")

    def __init__(self, old: Any, new: Any, dup: bool) -> None:
        self._old = old
        self._new = new
        self._dup = dup

    def record(self, value: float, attributes: dict[str, Any]) -> None:
        if attributes.get(_OPERATION) in _INFERENCE:
            self._new.record(value, attributes)
            if not self._dup:
                return
        self._old.record(value, attributes)


class _TokenHistogram:
    """Stands in for ``gen_ai.client.token.usage``: an inference call's input and output counts go to
    ``gen_ai.client.inference.operation.input_tokens`` / ``output_tokens`` (no ``gen_ai.token.type`` there)."""

    __slots__ = ("_dup", "_input", "_old", "_output")

    def __init__(self, old: Any, latest: LatestInstruments, dup: bool) -> None:
        self._old = old
        self._input = latest.input_tokens
        self._output = latest.output_tokens
        self._dup = dup

    def record(self, value: int, attributes: dict[str, Any]) -> None:
        if attributes.get(_OPERATION) in _INFERENCE:
            target = self._input if attributes.get(_TOKEN_TYPE) == "input" else self._output
            target.record(value, {k: v for k, v in attributes.items() if k != _TOKEN_TYPE})
            if not self._dup:
                return
        self._old.record(value, attributes)


_UNKNOWN_MODALITY: AttrKey = ((names.GEN_AI_TOKEN_MODALITY, names.TOKEN_MODALITY_UNKNOWN),)


class Modes:
    """What a non-default mode adds to ``Telemetry``: its instruments view, span attributes and counters."""

    def __init__(self, mode: str, instruments: Instruments, call_key: Callable[[Any, Any], AttrKey]) -> None:
        latest = instruments.latest
        if latest is None:  # instruments_for(..., latest=True) creates them; a Telemetry built by hand may not
            raise ValueError("the latest GenAI instruments were not created (instruments_for(..., latest=True))")
        self.dup = mode == names.SEMCONV_LATEST_DUP
        self._latest = latest
        self._call_key = call_key
        self._lock = instruments.call_lock
        view = copy.copy(instruments)
        view.duration = _Histogram(instruments.duration, latest.duration, self.dup)  # type: ignore[assignment]
        view.time_to_first_chunk = _Histogram(  # type: ignore[assignment]
            instruments.time_to_first_chunk, latest.time_to_first_chunk, self.dup
        )
        view.token_usage = _TokenHistogram(instruments.token_usage, latest, self.dup)  # type: ignore[assignment]
        self.instruments = view
        """The instruments Telemetry records with in this mode (same counters, the semconv histograms routed)."""

    def span_attributes(self, inner: Callable[[Any, Any], dict[str, Any]]) -> Callable[[Any, Any], dict[str, Any]]:
        """``Telemetry.span_attributes`` with the cost under the proposal's names (and without
        ``gen_ai.usage.cost`` unless /dup)."""
        dup = self.dup

        def span_attributes(request: Any, outcome: Any) -> dict[str, Any]:
            attrs = inner(request, outcome)
            cost = outcome.cost
            if cost is not None and names.GEN_AI_USAGE_COST in attrs:
                amount = attrs[names.GEN_AI_USAGE_COST] if dup else attrs.pop(names.GEN_AI_USAGE_COST)
                attrs[names.GEN_AI_USAGE_COST_AMOUNT] = amount
                attrs[names.GEN_AI_USAGE_COST_CURRENCY] = names.COST_CURRENCY
                attrs[names.GEN_AI_USAGE_COST_SOURCE] = cost_source(cost.source)
            return attrs

        return span_attributes

    def record_metrics(self, inner: Callable[[Any, Any], None]) -> Callable[[Any, Any], None]:
        """``Telemetry.record_metrics`` plus the ``gen_ai.client.inference.usage.*`` counters of an inference
        call: every counter, 0 included, for every call (failed ones too), as the conventions ask."""
        call_key = self._call_key
        tables = self._latest.usage
        lock = self._lock

        def record_metrics(request: Any, outcome: Any) -> None:
            inner(request, outcome)
            if request.operation not in _INFERENCE or outcome.conventions_elsewhere:
                return
            key: AttrKey = call_key(request, outcome) + _UNKNOWN_MODALITY
            usage = outcome.usage
            counts = (
                (usage.input_tokens, usage.output_tokens, usage.cache_read_tokens, usage.cache_write_tokens,
                 usage.reasoning_tokens)
                if usage is not None else (0, 0, 0, 0, 0)
            )
            updates: list[Update] = [
                (tables[token_type], key, count)
                for (token_type, _), count in zip(names.INFERENCE_USAGE_COUNTERS, counts, strict=True)
            ]
            add_together(lock, updates)

        return record_metrics


def cost_source(price_source: str) -> str:
    """``gen_ai.usage.cost.source``: ``provider`` when the response carried the cost (a price source naming the
    provider), ``local`` when we priced it from price data (genai-prices, an override file, a local model)."""
    provider = names.COST_SOURCE_PROVIDER
    return provider if price_source.startswith(provider) else names.COST_SOURCE_LOCAL
