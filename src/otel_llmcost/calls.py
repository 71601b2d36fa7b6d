"""The life of one instrumented call: begin (span), then exactly one end (priced, emitted).

Data flows one way: a provider adapter builds the ``Request`` and later the ``Response``/``Usage``;
``Runtime`` prices the usage and hands the outcome to budgets (settlement) and telemetry. Every step
that is ours is guarded: a failure here is logged at debug level and counted, never raised into the
caller's code (the one exception, a budget refusing a call before it is sent, is raised on purpose).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.instrumentation.utils import is_instrumentation_enabled

from .attribution import current_attributes
from .config import Settings
from .guard import internal_error
from .pricing import Cost, PriceBook
from .pricing.models import price_model
from .telemetry import Outcome, Telemetry
from .usage import Request, Response, Usage

if TYPE_CHECKING:
    from .budgets.enforcer import BudgetEnforcer

_perf = time.perf_counter

# Called with every finished call (request, outcome, span), after its span ended; the demo's report subscribes
# here. Budgets settle earlier, in Call._end, so that a threshold crossing can still be an event on the span.
Listener = Callable[[Request, Outcome, Any], None]


class LedgerSink(Protocol):
    """Where a finished call's ledger row goes off the call path (``ledgers.writer.LedgerWriter``)."""

    def add(self, call: Call, outcome: Outcome) -> None: ...

    def close(self) -> None: ...


class Runtime:
    """What one ``instrument()`` wired together: settings, prices, telemetry, listeners."""

    def __init__(self, settings: Settings, prices: PriceBook, telemetry: Telemetry) -> None:
        self.settings = settings
        self.prices = prices
        self.telemetry = telemetry
        self.listeners: list[Listener] = []
        self.budgets: BudgetEnforcer | None = None
        """Reserves before a call is sent and settles after it ended; None when no budget or ledger is set."""
        self.ledger: LedgerSink | None = None
        """The PostgreSQL ledger's writer (OTEL_LLMCOST_LEDGER); None when none is set."""
        self.after_call: list[Callable[[Call, Outcome], None]] = []
        """Run at every call's end, after budgets settled and before its span ends: roll-ups, expensive calls."""
        self.active = True
        """False after uninstrument(): wrappers still referenced somewhere pass calls straight through."""

    @staticmethod
    def enabled() -> bool:
        """False inside ``suppress_instrumentation()``: the call must go through untouched."""
        return is_instrumentation_enabled()

    def begin(
        self, request: Request, own_span: bool = True, tracer: trace.Tracer | None = None, span_name: str | None = None
    ) -> Call:
        """Start a call; ``own_span=False`` when another tracer (an SDK's own) already makes its span, ``tracer``
        and ``span_name`` when our span replaces the one that tracer would make."""
        attribution = current_attributes()
        if request.conversation_id is not None or request.previous_response_id is not None:
            from .conversations import resolve

            attribution = resolve(request, attribution)
        request.attribution = attribution
        return Call(self, request, own_span, tracer, span_name)

    def price(self, request: Request, response: Response | None, usage: Usage) -> Cost | None:
        model = price_model(request.provider, request.model, response.model if response is not None else None)
        return self.prices.cost(request.provider, model, usage, local=request.local)


class Call:
    """One in-flight call. ``finish``/``fail``/``abandon`` may be called many times; only the first counts."""

    __slots__ = (
        "_once", "activates", "ended", "extras", "first_chunk", "own_span", "request", "runtime", "span", "start",
        "ticket", "usage_injected",
    )

    def __init__(
        self,
        runtime: Runtime,
        request: Request,
        own_span: bool = True,
        tracer: trace.Tracer | None = None,
        span_name: str | None = None,
    ) -> None:
        self.runtime = runtime
        self.request = request
        self.own_span = own_span
        self.span: trace.Span = (
            runtime.telemetry.start_span(request, tracer, span_name) if own_span else trace.INVALID_SPAN
        )
        self.start = _perf()
        self.first_chunk: float | None = None
        self.usage_injected = False
        self.ticket: Any = None
        """What budgets hold for this call (its reservation), from admission to settlement."""
        self.extras: dict[str, Any] | None = None
        """Attributes an adapter adds to our span while the call runs, written with the call's own when it ends:
        one write to the span instead of several (each costs a lock and attribute cleaning in the SDK)."""
        self.ended = False
        self.activates = own_span
        """Our span is made current while the SDK sends (False: the SDK makes it current itself)."""
        self._once = itertools.count()

    def activate(self) -> object:
        """Make the span current while the SDK sends the request (so HTTP spans nest under it)."""
        if not self.activates:
            return None
        return otel_context.attach(trace.set_span_in_context(self.span))

    @staticmethod
    def deactivate(token: object) -> None:
        if token is None:
            return
        try:
            otel_context.detach(token)  # type: ignore[arg-type]
        except Exception:
            internal_error("context")

    def annotate(self, attributes: Any) -> None:
        """Add attributes to our span: kept until the call ends, or written now when it already has."""
        if not self.own_span:
            return
        if self.ended:
            if self.span.is_recording():
                self.span.set_attributes(attributes)
            return
        extras = self.extras
        if extras is None:
            self.extras = dict(attributes)
        else:
            extras.update(attributes)

    def chunk_arrived(self) -> None:
        if self.first_chunk is None:
            self.first_chunk = _perf()

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
        runtime = self.runtime
        try:
            end = _perf()
            cost = runtime.price(self.request, response, usage) if usage is not None else None
            outcome = Outcome(
                response=response,
                usage=usage,
                cost=cost,
                error=error,
                duration=end - self.start,
                time_to_first_chunk=(self.first_chunk - self.start) if self.first_chunk is not None else None,
                unavailable_reason=reason,
                usage_injected=self.usage_injected,
            )
        except Exception:
            internal_error("price")
            outcome = Outcome(response, usage, None, error, _perf() - self.start, unavailable_reason=reason)
        budgets = runtime.budgets
        if budgets is not None:
            budgets.settle(self, outcome)  # before the span ends: a threshold crossing is an event on it
        ledger = runtime.ledger
        if ledger is not None:
            ledger.add(self, outcome)  # a queue append (guarded inside): written to PostgreSQL off the call path
        if runtime.after_call:  # roll-ups, expensive-request check: before the span ends (they write on it)
            for hook in runtime.after_call:
                try:
                    hook(self, outcome)
                except Exception:
                    internal_error("after_call")
        telemetry = runtime.telemetry
        if self.own_span:
            try:
                telemetry.end_span(self.span, self.request, outcome, self.extras)
            except Exception:
                internal_error("span")
                if self.span.is_recording():
                    self.span.end()
        try:
            telemetry.record_metrics(self.request, outcome)
        except Exception:
            internal_error("metrics")
        for listener in runtime.listeners:
            try:
                listener(self.request, outcome, self.span)
            except Exception:
                internal_error("listener")
