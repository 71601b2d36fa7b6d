"""One expensive call, told at once: a span event, one WARNING log and the ``on_expensive_request`` callbacks.

The Prometheus alert on ``llmcost.request.cost`` buckets gives the fleet view minutes later; this is the
in-process view of the very call: which model, which user, which feature, which trace. The threshold is
``OTEL_LLMCOST_EXPENSIVE_REQUEST_USD`` (``expensive_request_usd=``), with per-feature thresholds from
``OTEL_LLMCOST_EXPENSIVE_REQUEST_USD_BY_FEATURE`` (``summarize=2.00,chat=0.10``). A call is expensive when its
exact cost is strictly above the threshold that applies to it; an unpriced call never is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from opentelemetry import trace

from . import names
from .guard import internal_error

if TYPE_CHECKING:
    from .calls import Call
    from .telemetry import Outcome

logger = logging.getLogger("otel_llmcost.expensive")


@dataclass(frozen=True)
class ExpensiveRequest:
    """What an ``on_expensive_request`` callback receives: one call that cost more than ``threshold``."""

    cost: Decimal
    """The call's exact USD cost."""
    threshold: Decimal
    provider: str
    model: str | None
    """The model the response named, else the requested one."""
    user: str | None
    feature: str | None
    trace_id: str | None
    """32 hex digits, None when the call had no valid span context."""
    span_id: str | None
    attributes: Mapping[str, str]
    """Every attribution key of the call."""


ExpensiveRequestCallback = Callable[[ExpensiveRequest], None]
_callbacks: list[ExpensiveRequestCallback] = []


def on_expensive_request(callback: ExpensiveRequestCallback) -> ExpensiveRequestCallback:
    """Call ``callback(request)`` for every call above the expensive-request threshold. Usable as a decorator.

    Runs in the thread of the call, when it ends (before its span ends): keep it quick. A callback that
    raises is logged and counted, never seen by the call.
    """
    _callbacks.append(callback)
    return callback


def remove_expensive_request_callback(callback: ExpensiveRequestCallback) -> None:
    if callback in _callbacks:
        _callbacks.remove(callback)


class ExpensiveRequests:
    """The thresholds of one ``instrument()``; ``check`` runs at every priced call's end."""

    __slots__ = ("by_feature", "default")

    def __init__(self, default: Decimal | None, by_feature: Mapping[str, Decimal]) -> None:
        self.default = default
        self.by_feature = dict(by_feature)

    def check(self, call: Call, outcome: Outcome) -> None:
        cost = outcome.cost
        if cost is None:
            return
        attribution = call.request.attribution
        feature = attribution.get(names.LLMCOST_FEATURE)
        threshold = self.by_feature.get(feature, self.default) if feature is not None else self.default
        if threshold is None or cost.exact <= threshold:
            return
        self._tell(call, outcome, cost.exact, threshold, feature)

    def _tell(self, call: Call, outcome: Outcome, amount: Decimal, threshold: Decimal, feature: str | None) -> None:
        request = call.request
        response = outcome.response
        model = (response.model if response is not None else None) or request.model
        span: Any = call.span if call.own_span else trace.get_current_span()
        context = span.get_span_context()
        trace_id = format(context.trace_id, "032x") if context.is_valid else None
        span_id = format(context.span_id, "016x") if context.is_valid else None
        user = request.attribution.get(names.USER_ID)
        if call.own_span and span.is_recording():
            span.add_event(
                names.LLMCOST_EXPENSIVE_REQUEST_EVENT,
                {names.GEN_AI_USAGE_COST: float(amount), names.LLMCOST_EXPENSIVE_THRESHOLD_USD: float(threshold)},
            )
        logger.warning(
            "otel-llmcost: expensive LLM call: $%s (above $%s) model %s user %s feature %s trace %s",
            amount, threshold, model or "(unknown)", user or "(none)", feature or "(none)", trace_id or "(none)",
        )  # fmt: skip
        event = ExpensiveRequest(
            amount, threshold, request.provider, model, user, feature, trace_id, span_id, request.attribution
        )
        for callback in list(_callbacks):
            try:
                callback(event)
            except Exception:
                internal_error("expensive_callback")
                logger.warning("otel-llmcost: expensive-request callback %r raised", callback, exc_info=True)
