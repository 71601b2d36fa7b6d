"""One expensive call, told at once: a span event, one WARNING log and the ``on_expensive_request`` callbacks.

The Prometheus alert on ``llmcost.request.cost`` buckets gives the fleet view minutes later; this is the
in-process view of the very call: which model, which user, which feature, which trace. The threshold is
``OTEL_LLMCOST_EXPENSIVE_REQUEST_USD`` (``expensive_request_usd=``), with per-feature thresholds from
``OTEL_LLMCOST_EXPENSIVE_REQUEST_USD_BY_FEATURE`` (``summarize=2.00,chat=0.10``), or from the budget file
(``expensive_request_usd: {default: 0.50, features: {summarize: 2.00}}``: the thresholds live beside the budgets
they go with). Both places add up; one threshold set in both to different amounts is a ``ConfigError`` naming
both. A call is expensive when its exact cost is strictly above the threshold that applies to it (its feature's,
else the default); an unpriced call never is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from opentelemetry import trace

from . import names
from .errors import ConfigError
from .guard import internal_error

if TYPE_CHECKING:
    from .calls import Call
    from .config import Settings
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


def build(settings: Settings) -> ExpensiveRequests | None:
    """The thresholds of the settings and of the budget file together; None when neither sets one.

    A threshold set in both places to different amounts raises ``ConfigError`` (which one holds would be a guess).
    """
    default = settings.expensive_request_usd
    by_feature = dict(settings.expensive_request_usd_by_feature)
    if settings.budget_file:
        from .budgets.loader import load_budget_file  # PyYAML only for an app that has a budget file

        found = load_budget_file(settings.budget_file)
        where = f"budget file {settings.budget_file}"
        if found.expensive_default is not None:
            if default is not None and default != found.expensive_default:
                raise ConfigError(
                    f"{where}:{found.expensive_lines[None]}: expensive_request_usd default "
                    f"{found.expensive_default} differs from {names.ENV_EXPENSIVE_REQUEST_USD} "
                    f"(expensive_request_usd=) {default}. Fix: set the default in one place."
                )
            default = found.expensive_default
        for feature, amount in found.expensive_by_feature.items():
            if by_feature.get(feature, amount) != amount:
                raise ConfigError(
                    f"{where}:{found.expensive_lines[feature]}: expensive_request_usd for feature {feature!r} "
                    f"{amount} differs from {names.ENV_EXPENSIVE_REQUEST_USD_BY_FEATURE} "
                    f"(expensive_request_usd_by_feature=) {by_feature[feature]}. Fix: set it in one place."
                )
            by_feature[feature] = amount
    if default is None and not by_feature:
        return None
    return ExpensiveRequests(default, by_feature)


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
