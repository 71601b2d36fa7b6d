"""The one emitter: a finished call record becomes span attributes and metric points.

Every provider gets identical telemetry because only this module writes it. It reads the normalized
``Request``/``Response``/``Usage`` and the ``Cost``; it knows nothing about SDKs.
"""

from __future__ import annotations

import json
from collections.abc import ItemsView, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

from . import names
from .config import Settings
from .metrics import AttrKey, Instruments, Update, ValueCap, add_together
from .pricing import Cost
from .records import Request, Response, Usage, by_modality

_ATTR_CACHE_LIMIT = 4096
# Request attributes the conventions' content event repeats (the rest of the span's are ours).
@dataclass(slots=True)
class Outcome:
    """Everything known when a call ends."""

    response: Response | None
    usage: Usage | None
    cost: Cost | None
    error: BaseException | None
    duration: float
    time_to_first_chunk: float | None = None
    unavailable_reason: str | None = None
    usage_injected: bool = False
    conventions_elsewhere: bool = False
    """The span carrying the call is another instrumentation's that records the conventions' ``gen_ai.client.*``
    metrics for it (OTEL_LLMCOST_SPAN=annotate beside util-genai): only the ``llmcost.*`` ones are ours."""


_REPORTED = names.PRICE_SOURCE_PROVIDER + ":"


def _compare_with_provider(cost: Cost, reported: Decimal, m: Any, key: AttrKey, updates: list[Update]) -> None:
    """Ours beside the provider's own figure (when ours is ours): |difference| by direction."""
    if cost.source.startswith(_REPORTED):
        return
    difference = cost.exact - reported
    direction = "over" if difference > 0 else "under" if difference < 0 else "equal"
    updates.append((m.provider_cost_difference, key + ((names.LLMCOST_COST_PROVIDER_DIRECTION, direction),),
                    float(abs(difference))))


def _identity(request: Request) -> dict[str, Any]:
    """What call it is (operation, provider, requested model): first on its span, and on its content event."""
    attributes: dict[str, Any] = {
        names.GEN_AI_OPERATION_NAME: request.operation,
        names.GEN_AI_PROVIDER_NAME: request.provider,
    }
    if request.model:
        attributes[names.GEN_AI_REQUEST_MODEL] = request.model
    return attributes


class _StartAttributes(Mapping[str, Any]):
    """A span's start attributes, built the first time the tracer reads them. The OpenTelemetry SDK reads them
    only for a span it records (or a sampler that looks at attributes): an unsampled call builds none."""

    __slots__ = ("_built", "_request", "_telemetry")

    def __init__(self, telemetry: Telemetry, request: Request) -> None:
        self._telemetry = telemetry
        self._request = request
        self._built: dict[str, Any] | None = None

    def _attributes(self) -> dict[str, Any]:
        built = self._built
        if built is None:
            built = self._built = self._telemetry.start_attributes(self._request)
        return built

    def __getitem__(self, key: str) -> Any:
        return self._attributes()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._attributes())

    def __len__(self) -> int:
        return len(self._attributes())

    def items(self) -> ItemsView[str, Any]:
        return self._attributes().items()

    def copy(self) -> dict[str, Any]:
        return dict(self._attributes())


class Telemetry:
    """Starts the CLIENT span of a call and, when it ends, writes its attributes and metrics."""

    def __init__(
        self, tracer: Tracer, instruments: Instruments, settings: Settings, content_logger: Any = None
    ) -> None:
        self._tracer = tracer
        # Where captured content goes: the span, and/or the log event gen_ai.client.inference.operation.details
        # written through ``content_logger`` (an OpenTelemetry logs API Logger).
        self._span_content = settings.capture_content and settings.content_destination != "event"
        self._content_logger = content_logger if settings.capture_content else None
        self._m = instruments
        self._settings = settings
        self._cap = ValueCap(settings.max_models)
        # Attribution keys allowed on metrics, each with its own cap; "other" counts as one of the values.
        self._label_keys = settings.metric_attributes
        self._label_caps = {key: ValueCap(settings.max_attribute_values - 1) for key in self._label_keys}
        self._attrs: dict[AttrKey, tuple[dict[str, Any], dict[str, Any], dict[str, Any]]] = {}
        # OTEL_SEMCONV_STABILITY_OPT_IN (issue 22): a non-default mode is bound here, once; the default mode's
        # per-call path stays as it is (no check of the mode per call).
        if settings.semconv_stability_opt_in != names.SEMCONV_DEFAULT:
            from .semconv_modes import Modes

            modes = Modes(settings.semconv_stability_opt_in, instruments, self.call_key)
            self._m = modes.instruments
            self.span_attributes = modes.span_attributes(self.span_attributes)  # type: ignore[method-assign,assignment]
            self.record_metrics = modes.record_metrics(self.record_metrics)  # type: ignore[method-assign,assignment]

    # --- spans -----------------------------------------------------------------------------------
    def start_span(self, request: Request, tracer: Tracer | None = None, name: str | None = None) -> Span:
        """The call's CLIENT span; ``tracer`` and ``name`` when it stands in for a span another tracer (an SDK's
        own) would have made, so that it goes where and as that one would. Its attributes are built only when
        the tracer reads them: a span the sampler drops never builds them (nor serializes captured content)."""
        if name is None:
            name = f"{request.operation} {request.model}" if request.model else request.operation
        return (tracer or self._tracer).start_span(
            name, kind=SpanKind.CLIENT, attributes=_StartAttributes(self, request)
        )

    def start_attributes(self, request: Request) -> dict[str, Any]:
        """The attributes a call's span starts with (what the request says)."""
        attributes = _identity(request)
        if request.server_address:
            attributes[names.SERVER_ADDRESS] = request.server_address
        if request.server_port:
            attributes[names.SERVER_PORT] = request.server_port
        if request.stream:
            attributes[names.GEN_AI_REQUEST_STREAM] = True
        if request.max_tokens is not None:
            attributes[names.GEN_AI_REQUEST_MAX_TOKENS] = request.max_tokens
        if request.temperature is not None:
            attributes[names.GEN_AI_REQUEST_TEMPERATURE] = request.temperature
        if request.top_p is not None:
            attributes[names.GEN_AI_REQUEST_TOP_P] = request.top_p
        if request.service_tier:
            attributes[names.OPENAI_REQUEST_SERVICE_TIER] = request.service_tier
        if request.attributes:
            attributes.update(request.attributes)
        if self._span_content:
            attributes.update(self._request_content(request))
        self._request_ours(request, attributes)
        return attributes

    @staticmethod
    def _request_ours(request: Request, attributes: dict[str, Any]) -> None:
        """What a request says that only we write: who the call is for, where it came from, its fingerprints."""
        if request.attribution:
            attributes.update(request.attribution)
        if request.origin is not None:
            attributes[names.LLMCOST_REQUEST_ORIGIN] = request.origin
        prints = request.fingerprints
        if prints is not None:  # keyed hashes and token counts: never content
            attributes[names.LLMCOST_REQUEST_FINGERPRINT] = prints.request
            if prints.prefixes:
                attributes[names.LLMCOST_REQUEST_PREFIX_FINGERPRINTS] = prints.prefixes
                attributes[names.LLMCOST_REQUEST_PREFIX_TOKENS] = prints.prefix_tokens
                attributes[names.LLMCOST_REQUEST_PREFIX_BOUNDARIES] = prints.boundaries

    def _request_content(self, request: Request) -> dict[str, str]:
        content: dict[str, str] = {}
        if request.input_messages is not None:
            content[names.GEN_AI_INPUT_MESSAGES] = self._content(request.input_messages)
        if request.system_instructions is not None:
            content[names.GEN_AI_SYSTEM_INSTRUCTIONS] = self._content(request.system_instructions)
        if request.tool_definitions is not None:
            content[names.GEN_AI_TOOL_DEFINITIONS] = self._content(request.tool_definitions)
        return content

    def emit_content_event(self, span: Span, request: Request, outcome: Outcome) -> None:
        """The conventions' gen_ai.client.inference.operation.details log event of a finished call (EVENT_ONLY,
        SPAN_AND_EVENT): the content, with the call's identifying attributes, in the span's context."""
        logger = self._content_logger
        if logger is None:
            return
        from opentelemetry import trace as trace_api
        from opentelemetry._logs import LogRecord

        attributes = _identity(request)
        attributes.update(self._request_content(request))
        response = outcome.response
        if response is not None:
            self._response_attributes(response, attributes, content=True)
        if outcome.error is not None:
            attributes[names.ERROR_TYPE] = type(outcome.error).__qualname__
        context = trace_api.set_span_in_context(span)
        span_context = span.get_span_context()
        fields: dict[str, Any] = {
            "context": context, "trace_id": span_context.trace_id, "span_id": span_context.span_id,
            "trace_flags": span_context.trace_flags, "attributes": attributes,
        }
        try:
            record = LogRecord(event_name=names.GEN_AI_INFERENCE_DETAILS_EVENT, **fields)
        except TypeError:  # an opentelemetry-api before event_name: the event's name as the attribute
            fields["attributes"] = {**attributes, "event.name": names.GEN_AI_INFERENCE_DETAILS_EVENT}
            record = LogRecord(**fields)
        logger.emit(record)

    def _response_attributes(self, response: Response, into: dict[str, Any], content: bool) -> None:
        """What the response says, for the span and the content event alike (its content when ``content``)."""
        if response.model:
            into[names.GEN_AI_RESPONSE_MODEL] = response.model
        if response.response_id:
            into[names.GEN_AI_RESPONSE_ID] = response.response_id
        if response.finish_reasons:
            into[names.GEN_AI_RESPONSE_FINISH_REASONS] = response.finish_reasons
        if content and response.output_messages is not None:
            into[names.GEN_AI_OUTPUT_MESSAGES] = self._content(response.output_messages)

    def _content(self, value: object) -> str:
        if callable(value):  # built only now, for a span (or event) that is written: see providers.messages
            value = value()
        text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
        limit = self._settings.content_max_length
        return text if len(text) <= limit else text[:limit] + "…"

    def span_attributes(self, request: Request, outcome: Outcome) -> dict[str, Any]:
        """The attributes a finished call adds to its span."""
        attrs: dict[str, Any] = {}
        response = outcome.response
        if response is not None:
            self._response_attributes(response, attrs, content=self._span_content)
            if response.attributes:
                attrs.update(response.attributes)
        usage = outcome.usage
        if usage is not None:
            # Zero-valued details are left out: every attribute costs ~1 µs in the SDK.
            attrs[names.GEN_AI_USAGE_INPUT_TOKENS] = usage.input_tokens
            if request.operation != "embeddings":  # the conventions define no output count for embeddings
                attrs[names.GEN_AI_USAGE_OUTPUT_TOKENS] = usage.output_tokens
            if usage.cache_read_tokens or usage.cache_reported & 1:  # a reported 0 is written, as officially
                attrs[names.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = usage.cache_read_tokens
            if usage.cache_reported & 2 and not usage.cache_write_tokens:
                attrs[names.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS] = 0
            if usage.cache_write_tokens:
                attrs[names.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS] = usage.cache_write_tokens
                if usage.cache_write_5m_tokens:
                    attrs[names.LLMCOST_CACHE_WRITE_5M_TOKENS] = usage.cache_write_5m_tokens
                if usage.cache_write_1h_tokens:
                    attrs[names.LLMCOST_CACHE_WRITE_1H_TOKENS] = usage.cache_write_1h_tokens
            if usage.reasoning_tokens:
                attrs[names.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] = usage.reasoning_tokens
            if usage.units:
                unit_prefix = names.LLMCOST_USAGE_UNIT_PREFIX
                for unit, unit_count in usage.units.items():
                    attrs[unit_prefix + unit] = unit_count
            if usage.service_tier:
                attrs[names.LLMCOST_SERVICE_TIER] = usage.service_tier
                if request.provider.endswith("openai"):
                    attrs[names.OPENAI_RESPONSE_SERVICE_TIER] = usage.service_tier
            if usage.batch:
                attrs[names.LLMCOST_BATCH] = True
            if usage.server_duration_ns:
                attrs[names.LLMCOST_SERVER_DURATION] = usage.server_duration_ns / 1e9
            cost = outcome.cost
            if cost is not None:
                attrs[names.GEN_AI_USAGE_COST] = cost.total
                attrs[names.LLMCOST_COST_INPUT] = cost.input
                attrs[names.LLMCOST_COST_OUTPUT] = cost.output
                if cost.cache_read:
                    attrs[names.LLMCOST_COST_CACHE_READ] = cost.cache_read
                if cost.cache_write:
                    attrs[names.LLMCOST_COST_CACHE_WRITE] = cost.cache_write
                for component, component_cost in cost.components:
                    attrs[names.LLMCOST_COST_UNIT_PREFIX + component] = component_cost
                attrs[names.LLMCOST_PRICE_SOURCE] = cost.source
                if cost.savings_cache:
                    attrs[names.LLMCOST_SAVINGS_CACHE] = cost.savings_cache
                if cost.savings_batch:
                    attrs[names.LLMCOST_SAVINGS_BATCH] = cost.savings_batch
                if cost.hardware:
                    attrs[names.LLMCOST_COST_HARDWARE] = cost.hardware
                if cost.multiplier is not None:
                    attrs[names.LLMCOST_PRICE_MULTIPLIER_NAME], attrs[names.LLMCOST_PRICE_MULTIPLIER] = cost.multiplier
            else:
                attrs[names.LLMCOST_PRICE_SOURCE] = names.PRICE_SOURCE_UNKNOWN
            if response is not None and response.provider_cost is not None:
                attrs[names.LLMCOST_COST_PROVIDER] = float(response.provider_cost)
                attrs[names.LLMCOST_COST_PROVIDER_SOURCE] = response.provider_cost_source or ""
        elif outcome.error is None:
            attrs[names.LLMCOST_USAGE_AVAILABLE] = False
            attrs[names.LLMCOST_USAGE_UNAVAILABLE_REASON] = outcome.unavailable_reason or "not reported"
        if outcome.usage_injected:
            attrs[names.LLMCOST_STREAM_USAGE_INJECTED] = True
        if outcome.time_to_first_chunk is not None:
            attrs[names.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = outcome.time_to_first_chunk
        if outcome.error is not None:
            attrs[names.ERROR_TYPE] = type(outcome.error).__qualname__
        return attrs

    def ours_only(self, request: Request, outcome: Outcome) -> dict[str, Any]:
        """What a finished call adds to a span another instrumentation owns and fills by the conventions
        (OTEL_LLMCOST_SPAN=annotate): cost, cache counts, ``llmcost.*``, who the call is for. The conventions'
        request and response attributes are that instrumentation's to write."""
        ours = names.OURS_BESIDE_CONVENTIONS
        attrs = {key: value for key, value in self.span_attributes(request, outcome).items() if key.startswith(ours)}
        self._request_ours(request, attrs)
        return attrs

    def end_span(
        self, span: Span, request: Request, outcome: Outcome, extras: Mapping[str, Any] | None = None
    ) -> None:
        """Write the call's attributes (and ``extras``, the adapter's) in one go, set the status, end the span."""
        attrs = self.span_attributes(request, outcome)
        if extras:
            attrs = {**extras, **attrs}
        span.set_attributes(attrs)
        error = outcome.error
        if error is not None:
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, type(error).__qualname__))
        span.end()

    # --- metrics ---------------------------------------------------------------------------------
    def _metric_attrs(self, key: AttrKey) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        cached = self._attrs.get(key)
        if cached is None:
            if len(self._attrs) >= _ATTR_CACHE_LIMIT:
                self._attrs.clear()
            # Histograms carry the semconv's required and recommended attributes (server.address, the response
            # model: both bounded, the model by the model cap).
            base = dict(key)
            cached = (
                base,
                {**base, names.GEN_AI_TOKEN_TYPE: "input"},
                {**base, names.GEN_AI_TOKEN_TYPE: "output"},
            )
            self._attrs[key] = cached
        return cached

    def call_key(self, request: Request, outcome: Outcome) -> AttrKey:
        """The semconv attributes every metric point of a call carries (models capped), as a hashable key."""
        cap = self._cap
        response = outcome.response
        response_model = response.model if response is not None else None
        return (
            (names.GEN_AI_PROVIDER_NAME, request.provider),
            (names.GEN_AI_OPERATION_NAME, request.operation),
            (names.GEN_AI_REQUEST_MODEL, cap(request.model) or ""),
            (names.GEN_AI_RESPONSE_MODEL, cap(response_model) or cap(request.model) or ""),
            (names.SERVER_ADDRESS, request.server_address or ""),
        )

    def record_metrics(self, request: Request, outcome: Outcome) -> None:
        response = outcome.response
        key = self.call_key(request, outcome)
        if outcome.error is not None:
            key += ((names.ERROR_TYPE, type(outcome.error).__qualname__),)
        dimensions = request.attributes.get(names.GEN_AI_EMBEDDINGS_DIMENSION_COUNT) if request.attributes else None
        # The embedding size on the histograms (as the official instrumentation records it), not the counters.
        base, input_attrs, output_attrs = self._metric_attrs(
            key if dimensions is None else key + ((names.GEN_AI_EMBEDDINGS_DIMENSION_COUNT, dimensions),)
        )
        if request.attribution and self._label_keys:
            key += self._labels(request.attribution)  # on the counters only: histograms stay per model
        m = self._m
        semconv = not outcome.conventions_elsewhere  # else the instrumentation whose span carries it records them
        if semconv:
            m.duration.record(outcome.duration, base)
            if outcome.time_to_first_chunk is not None:
                m.time_to_first_chunk.record(outcome.time_to_first_chunk, base)
        updates: list[Update] = [(m.requests, key, 1)]
        usage = outcome.usage
        if usage is not None:
            self._record_usage(usage, outcome.cost, key, base, input_attrs, output_attrs, updates, semconv)
            if response is not None and response.provider_cost is not None and outcome.cost is not None:
                _compare_with_provider(outcome.cost, response.provider_cost, m, key, updates)
        add_together(m.call_lock, updates)

    def _record_usage(
        self,
        usage: Usage,
        cost: Cost | None,
        key: AttrKey,
        base: dict[str, Any],
        input_attrs: dict[str, Any],
        output_attrs: dict[str, Any],
        updates: list[Update],
        semconv: bool = True,
    ) -> None:
        """Token and cost points of a call that reported usage; counter updates go to ``updates``. ``semconv``:
        the conventions' token histogram too."""
        m = self._m
        if semconv:
            m.token_usage.record(usage.input_tokens, input_attrs)
            if base.get(names.GEN_AI_OPERATION_NAME) != "embeddings":  # no output count for embeddings
                m.token_usage.record(usage.output_tokens, output_attrs)
        tt = names.GEN_AI_TOKEN_TYPE
        tm = names.GEN_AI_TOKEN_MODALITY
        tokens = m.tokens
        for token_type, count in (
            ("input", usage.input_tokens),
            ("output", usage.output_tokens),
            ("cache_read", usage.cache_read_tokens),
            ("cache_write", usage.cache_write_tokens),
            ("reasoning", usage.reasoning_tokens),
        ):
            if count:
                for modality, part in by_modality(usage, token_type, count):
                    updates.append((tokens, key + ((tt, token_type), (tm, modality)), part))
        if cost is None:
            updates.append((m.unpriced, key, 1))
            return
        m.request_cost.record(cost.total, base)
        comp = names.LLMCOST_COST_COMPONENT
        table = m.cost
        for component, value in (
            ("input", cost.input),
            ("output", cost.output),
            ("cache_read", cost.cache_read),
            ("cache_write", cost.cache_write),
        ):
            if value:
                updates.append((table, key + ((comp, component),), value))
        for component, value in cost.components:
            updates.append((table, key + ((comp, component),), value))
        if cost.hardware:
            updates.append((m.hardware_cost, key, cost.hardware))
        if cost.source.startswith(_REPORTED):  # the provider's figure: one component
            updates.append((table, key + ((comp, names.PRICE_SOURCE_PROVIDER),), cost.total))
        kind = names.LLMCOST_SAVINGS_KIND
        if cost.savings_cache:
            updates.append((m.savings, key + ((kind, "cache"),), cost.savings_cache))
        if cost.savings_batch:
            updates.append((m.savings, key + ((kind, "batch"),), cost.savings_batch))

    def _labels(self, attribution: Mapping[str, str]) -> AttrKey:
        """The allow-listed attribution of a call as metric attributes, each value capped per process."""
        labels: list[tuple[str, str]] = []
        for key in self._label_keys:
            value = attribution.get(key)
            if value is None:
                continue
            if not self._label_caps[key].admit(value):
                value = names.OVERFLOW_VALUE
                self._m.folded.add(((names.LLMCOST_ATTRIBUTION_KEY, key),), 1)
            labels.append((key, value))
        return tuple(labels)
