"""The life of one instrumented call: begin (span), then exactly one end (priced, emitted).

Data flows one way: a provider adapter builds the ``Request`` and later the ``Response``/``Usage``;
``Runtime`` prices the usage and hands the outcome to budgets (settlement) and telemetry. Every step
that is ours is guarded: a failure here is logged at debug level and counted, never raised into the
caller's code (the one exception, a budget refusing a call before it is sent, is raised on purpose).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.instrumentation.utils import is_instrumentation_enabled

from . import inference_context, names
from .attribution import current_attributes
from .config import Settings
from .guard import internal_error
from .pricing import Cost, PriceBook
from .pricing.model_ids import price_model
from .pricing.reported import reported_cost
from .records import Request, Response, Usage
from .telemetry import Outcome, Telemetry

_perf = time.perf_counter

# Called with every finished call (request, outcome, span), after its span ended; the demo's report subscribes
# here. Budgets settle earlier, in Call._end, so that a threshold crossing can still be an event on the span.
Listener = Callable[[Request, Outcome, Any], None]

SpanEvent = tuple[str, Mapping[str, Any]]
"""(name, attributes) of an event the call's span gets when it ends (a budget threshold crossed)."""


@dataclass(frozen=True, slots=True)
class Admission:
    """What budgets answer before a call is sent: the call keeps ``ticket`` until it settles; ``refusal``
    (with the name of the ``budget`` that refused, when one did) is raised to the caller instead of sending."""

    ticket: Any = None
    refusal: BaseException | None = None
    budget: str | None = None


class Budgets(Protocol):
    """What a call needs of budgets (``budgets.enforcer.BudgetEnforcer``; the core never imports it)."""

    def admit(self, request: Request) -> Admission | None:
        """Reserve the call's worst case; None when there is nothing to hold or refuse."""

    def settle(self, call: Call, outcome: Outcome) -> Sequence[SpanEvent]:
        """Settle the call's ticket at its real cost (and write its ledger row); the events for its span."""

    def state(self) -> Sequence[tuple[str, Any, Any]]:
        """(budget, spend, limit) now, for the gauges."""

    def close(self) -> None:
        """Release the store."""


@dataclass(frozen=True, slots=True)
class StandIn:
    """Our span stands in for the one another tracer (an SDK's own) would make: started through ``tracer`` with
    ``name``, so that it goes where and as that one would; that code makes it current, not us."""

    tracer: trace.Tracer
    name: str | None = None


ForeignWriter = Callable[[Any, Request, dict[str, Any]], None]
"""Puts a finished call's span attributes onto a foreign span: (span, request, attributes)."""


def _set_attributes(span: Any, request: Request, attributes: dict[str, Any]) -> None:
    span.set_attributes(attributes)


class Foreign:
    """Another tracer's span carries the call (an SDK's own, another instrumentation's): we annotate it and never
    end it. ``span`` may be found only later (``Call.carried_by``); ``write`` is how the attributes go onto it.
    ``conventions``: that instrumentation writes the conventions' content and ``gen_ai.client.*`` metrics for
    the call itself (util-genai's), so the call writes neither: only cost, cache and ``llmcost.*``."""

    __slots__ = ("conventions", "span", "write")

    def __init__(self, span: Any = None, write: ForeignWriter = _set_attributes, conventions: bool = False) -> None:
        self.span = span
        self.write = write
        self.conventions = conventions


class LedgerSink(Protocol):
    """Where a finished call's ledger row goes off the call path (``ledgers.writer.LedgerWriter``)."""

    def add(self, call: Call, outcome: Outcome) -> None: ...

    def close(self) -> None: ...


class Runtime:
    """What one ``instrument()`` wired together: settings, prices, telemetry, budgets, listeners."""

    def __init__(
        self, settings: Settings, prices: PriceBook, telemetry: Telemetry, budgets: Budgets | None = None
    ) -> None:
        self.settings = settings
        self.prices = prices
        self.telemetry = telemetry
        self.listeners: list[Listener] = []
        self.budgets = budgets
        """Reserves before a call is sent and settles after it ended; None when no budget or ledger is set."""
        self.ledger: LedgerSink | None = None
        """The PostgreSQL ledger's writer (OTEL_LLMCOST_LEDGER); None when none is set."""
        self.after_call: list[Callable[[Call, Outcome], None]] = []
        """Run at every call's end, after budgets settled and before its span ends: roll-ups, expensive calls."""
        self.active = True
        """False after uninstrument(): wrappers still referenced somewhere pass calls straight through."""
        self.annotate = settings.span == names.SPAN_ANNOTATE
        """OTEL_LLMCOST_SPAN=annotate: a util-genai instrumentation's span carries the call where one wraps it."""

    @staticmethod
    def enabled() -> bool:
        """False inside ``suppress_instrumentation()``: the call must go through untouched."""
        return is_instrumentation_enabled()

    def begin(self, request: Request, span: StandIn | Foreign | None = None) -> Call:
        """Start a call. ``span``: None for our own CLIENT span; ``StandIn`` when ours replaces the span another
        tracer would make; ``Foreign`` when another tracer's span carries the call (we only annotate it)."""
        attribution = current_attributes()
        if request.conversation_id is not None or request.previous_response_id is not None:
            from .conversations import resolve

            attribution = resolve(request, attribution)
        request.attribution = attribution
        if span is None and self.annotate:
            outer = inference_context.annotating(request.operation)
            if outer is not None:
                span = Foreign(outer, conventions=True)
        return Call(self, request, span)

    def price(self, request: Request, response: Response | None, usage: Usage) -> Cost | None:
        model = price_model(request.provider, request.model, response.model if response is not None else None)
        cost = self.prices.cost(  # where it ran (data residency, US-only inference, regional endpoint) included
            request.provider, model, usage, local=request.local, server_address=request.server_address,
            inference_geo=response.inference_geo if response is not None else None,
        )
        if cost is None and response is not None and response.provider_cost is not None:
            cost = reported_cost(response.provider_cost, response.provider_cost_source or "", model or "")
        return cost


class Call:
    """One in-flight call, owned by the code that began it: its span target, its admission, its one end.

    ``finish``/``fail``/``abandon`` may be called many times; only the first counts. The end runs one fixed,
    ordered list of steps, each guarded: price, budget settlement (with its SQLite ledger row, one store
    transaction), the PostgreSQL ledger row (a queue append), after-call hooks (roll-ups, expensive request),
    span, metrics, listeners.
    """

    __slots__ = (
        "_foreign", "_mark", "_once", "activates", "ended", "extras", "first_chunk", "outcome", "own_span", "request",
        "runtime", "span", "start", "ticket", "usage_injected",
    )

    def __init__(self, runtime: Runtime, request: Request, span: StandIn | Foreign | None = None) -> None:
        self.runtime = runtime
        self.request = request
        self._foreign: Foreign | None = None
        self._mark: Any = None
        """The util-genai mark our span set while the SDK ran (annotate mode), into which theirs published."""
        self.span: trace.Span
        if span is None:
            self.span = runtime.telemetry.start_span(request)
            self.own_span = self.activates = True
        elif type(span) is StandIn:
            self.span = runtime.telemetry.start_span(request, span.tracer, span.name)
            self.own_span, self.activates = True, False
        else:
            self._foreign = span  # type: ignore[assignment]
            self.span = span.span if span.span is not None else trace.INVALID_SPAN  # type: ignore[union-attr]
            self.own_span = self.activates = False
        self.start = _perf()
        self.first_chunk: float | None = None
        self.usage_injected = False
        self.ticket: Any = None
        """What budgets hold for this call (its reservation), from admission to settlement."""
        self.extras: dict[str, Any] | None = None
        """Attributes an adapter adds to our span while the call runs, written with the call's own when it ends:
        one write to the span instead of several (each costs a lock and attribute cleaning in the SDK)."""
        self.ended = False
        self.outcome: Outcome | None = None
        """How the call ended (None until it has)."""
        self._once = itertools.count()

    # --- before the call is sent --------------------------------------------------------------------
    def admit(self) -> None:
        """Let the budgets admit the call before it is sent; a refusal ends the call (its span says why) and is
        raised: nothing is sent."""
        budgets = self.runtime.budgets
        if budgets is None:
            return
        admission = budgets.admit(self.request)
        if admission is None:
            return
        self.ticket = admission.ticket
        error = admission.refusal
        if error is None:
            return
        try:
            if not self.own_span:  # the other tracer would have made the span, but nothing is sent: make ours
                self._foreign = None
                self.span = self.runtime.telemetry.start_span(self.request)
                self.own_span = True
            if admission.budget is not None:
                self.span.set_attribute(names.LLMCOST_BUDGET_NAME, admission.budget)
        except Exception:
            internal_error("budget")
        self.fail(error)
        raise error

    def activate(self) -> object:
        """Make the span current while the SDK sends the request (so HTTP spans nest under it)."""
        if not self.activates:
            return None
        context = trace.set_span_in_context(self.span)
        if self.runtime.annotate:  # an inner util-genai inference publishes into our span instead of making one
            context, self._mark = inference_context.marked(context, self.request.operation)
        return otel_context.attach(context)

    @staticmethod
    def deactivate(token: object) -> None:
        if token is None:
            return
        try:
            otel_context.detach(token)  # type: ignore[arg-type]
        except Exception:
            internal_error("context")

    # --- while it runs ------------------------------------------------------------------------------
    def annotate(self, attributes: Any) -> None:
        """Add attributes to our span: kept until the call ends, or written now when it already has."""
        if not self.own_span:
            return
        if self.ended or not self.span.is_recording():  # not sampled: nothing kept
            if self.span.is_recording():
                self.span.set_attributes(attributes)
            return
        extras = self.extras
        if extras is None:
            self.extras = dict(attributes)
        else:
            extras.update(attributes)

    @property
    def captures(self) -> bool:
        """Message content is kept for this call: capture is on, the span that would carry it records, and no other
        instrumentation writes the conventions' content for the call (``Foreign.conventions``)."""
        settings = self.runtime.settings
        if not settings.capture_content:
            return False
        foreign = self._foreign
        if foreign is not None and foreign.conventions:
            return False
        if settings.content_destination != "span":  # the log event is written for unsampled calls too
            return True
        span = self.span
        return span is trace.INVALID_SPAN or span.is_recording()

    def carried_by(self, span: Any, write: ForeignWriter = _set_attributes) -> None:
        """The span another tracer made for this call was found: the call's attributes go onto it when the call
        ends (now, when it already has)."""
        if self.own_span:
            return
        self._foreign = Foreign(span, write)
        self.span = span
        if self.ended and self.outcome is not None:
            try:
                self._write_foreign(self._foreign, self.outcome)
            except Exception:
                internal_error("span")

    def chunk_arrived(self) -> None:
        if self.first_chunk is None:
            self.first_chunk = _perf()

    # --- the end ------------------------------------------------------------------------------------
    def finish(self, response: Response | None, usage: Usage | None, reason: str | None = None) -> None:
        """The call returned; usage None means the provider did not say (reason tells why)."""
        self._end(response, usage, None, reason)

    def fail(self, error: BaseException, response: Response | None = None, usage: Usage | None = None) -> None:
        """The SDK raised ``error`` (the caller sees it unchanged)."""
        self._end(response, usage, error, None)

    def abandon(self, response: Response | None, usage: Usage | None, reason: str) -> None:
        """The caller stopped early (close, break, garbage collection): end with what we know."""
        self._end(response, usage, None, reason)

    def _end(
        self, response: Response | None, usage: Usage | None, error: BaseException | None, reason: str | None
    ) -> None:
        if next(self._once):
            return
        self.ended = True
        outcome = self.outcome = self._price(response, usage, error, reason)
        events = self._settle(outcome)
        self._write_ledger(outcome)
        self._run_after_call(outcome)
        self._write_span(outcome, events)
        self._emit_content(outcome)
        self._record_metrics(outcome)
        self._notify(outcome)

    def _price(
        self, response: Response | None, usage: Usage | None, error: BaseException | None, reason: str | None
    ) -> Outcome:
        try:
            end = _perf()
            cost = self.runtime.price(self.request, response, usage) if usage is not None else None
            return Outcome(
                response=response,
                usage=usage,
                cost=cost,
                error=error,
                duration=end - self.start,
                time_to_first_chunk=(self.first_chunk - self.start) if self.first_chunk is not None else None,
                unavailable_reason=reason,
                usage_injected=self.usage_injected,
                conventions_elsewhere=self._foreign is not None and self._foreign.conventions,
            )
        except Exception:
            internal_error("price")
            return Outcome(response, usage, None, error, _perf() - self.start, unavailable_reason=reason)

    def _settle(self, outcome: Outcome) -> Sequence[SpanEvent]:
        """Budget settlement and the ledger row, before the span ends: a threshold crossing is an event on it."""
        budgets = self.runtime.budgets
        if budgets is None:
            return ()
        try:
            return budgets.settle(self, outcome)
        except Exception:
            internal_error("budget")
            return ()

    def _write_ledger(self, outcome: Outcome) -> None:
        ledger = self.runtime.ledger
        if ledger is not None:
            ledger.add(self, outcome)  # a queue append (guarded inside): written to PostgreSQL off the call path

    def _run_after_call(self, outcome: Outcome) -> None:
        """Roll-ups, the expensive-request check: before the span ends, since they write on it."""
        for hook in self.runtime.after_call:
            try:
                hook(self, outcome)
            except Exception:
                internal_error("after_call")

    def _write_span(self, outcome: Outcome, events: Sequence[SpanEvent]) -> None:
        span = self.span
        try:
            if self.own_span:
                if span.is_recording():
                    for name, attributes in events:
                        span.add_event(name, attributes)
                    extras = self.extras
                    if self._mark is not None:
                        extras = {} if extras is None else extras
                        inference_context.published(self._mark, extras)
                    self.runtime.telemetry.end_span(span, self.request, outcome, extras)
                else:  # not sampled: no attributes, events or content are built, only the metrics path runs
                    span.end()
            elif self._foreign is not None and self._foreign.span is not None:
                for name, attributes in events:
                    if span.is_recording():
                        span.add_event(name, attributes)
                self._write_foreign(self._foreign, outcome)
        except Exception:
            internal_error("span")
            if self.own_span and span.is_recording():
                span.end()

    def _write_foreign(self, foreign: Foreign, outcome: Outcome) -> None:
        if foreign.span.is_recording():
            telemetry = self.runtime.telemetry
            attributes = telemetry.ours_only if foreign.conventions else telemetry.span_attributes
            foreign.write(foreign.span, self.request, attributes(self.request, outcome))

    def _emit_content(self, outcome: Outcome) -> None:
        """The content log event (EVENT_ONLY / SPAN_AND_EVENT capture modes), if content was captured and no other
        instrumentation writes the conventions' telemetry for the call (``captures``)."""
        if self.captures and self.runtime.settings.content_destination != "span":
            try:
                self.runtime.telemetry.emit_content_event(self.span, self.request, outcome)
            except Exception:
                internal_error("content_event")

    def _record_metrics(self, outcome: Outcome) -> None:
        try:
            self.runtime.telemetry.record_metrics(self.request, outcome)
        except Exception:
            internal_error("metrics")

    def _notify(self, outcome: Outcome) -> None:
        for listener in self.runtime.listeners:
            try:
                listener(self.request, outcome, self.span)
            except Exception:
                internal_error("listener")
