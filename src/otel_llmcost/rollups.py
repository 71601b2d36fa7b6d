"""Roll-ups: what one request of the app, and one agent run, cost, in-process.

The GenAI conventions keep cost on the inference spans; the questions are one level up ("what does one
``/summarize`` cost", "what did this agent run cost"). ``Rollups`` is a span processor on the app's tracer
provider that knows, per trace, the open *local root* span (a server span of the FastAPI/Flask/Django
instrumentations, a Celery task, any span the app starts with no local parent) and, for the spans beneath an
``invoke_agent`` / ``invoke_workflow`` span, the chain of open agent spans above them. When an LLM call ends
(``add``, hooked at the call's end), its usage and cost are added to the running totals of its root and of
every agent span above it (each once), and those totals are written on the open spans
(``llmcost.rollup.*``): a trace shows its total without a backend query. When a root that had calls ends, one
point goes to ``llmcost.operation.cost`` and ``llmcost.operation.calls`` by ``llmcost.operation`` (the
``http.route`` template, else the root's span name, capped like every label) and the allow-listed attribution
of its first call, with the root's trace as exemplar.

Cost (``benchmarks/rollups.py``): spans with no LLM call beneath get no attribute and no point; a root pays a
dict insert and a pop, any other span two field reads and a prefix test (a dict lookup more inside an agent
run). Most of what a request with calls pays is the SDK's ``record()`` of its two points at the root's end.
A call that ends after its root ended (a stream read on after the handler returned) is counted in
``llmcost.rollup.late_calls``: never lost, never in two totals. State is bounded: entries leave with their span;
past ``MAX_TRACKED`` open spans new ones are not tracked.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from . import names
from .guard import internal_error
from .metrics import Instruments, ValueCap

if TYPE_CHECKING:
    from opentelemetry.context import Context

    from .calls import Call
    from .config import Settings
    from .telemetry import Outcome

MAX_TRACKED = 100_000
"""Open roots and agent-run spans tracked at once; beyond it (spans that are never ended) new ones are left out."""

_AGENT_OPERATIONS = frozenset(names.AGENT_OPERATIONS)
# Agent-run spans are named "{gen_ai.operation.name} {gen_ai.agent.name}" (GenAI conventions); pydantic-ai's
# older naming is "agent run". Only spans so named have their gen_ai.operation.name read.
_AGENT_PREFIXES = (*names.AGENT_OPERATIONS, "agent run")
_ZERO = Decimal(0)
# Bound once: run for every call, these would each be a global and an attribute lookup.
_CALLS, _INPUT, _OUTPUT, _COST = (
    names.LLMCOST_ROLLUP_CALLS, names.LLMCOST_ROLLUP_INPUT_TOKENS, names.LLMCOST_ROLLUP_OUTPUT_TOKENS,
    names.LLMCOST_ROLLUP_COST,
)
_UNPRICED, _CACHE_READ, _CACHE_WRITE, _REASONING = (
    names.LLMCOST_ROLLUP_UNPRICED_CALLS, names.LLMCOST_ROLLUP_CACHE_READ_TOKENS,
    names.LLMCOST_ROLLUP_CACHE_WRITE_TOKENS, names.LLMCOST_ROLLUP_REASONING_TOKENS,
)


class Totals:
    """The running totals of one root or agent span."""

    __slots__ = (
        "attribution", "cache_read", "cache_write", "calls", "cost", "input", "output", "priced", "reasoning",
        "unpriced",
    )

    def __init__(self, attribution: Mapping[str, str]) -> None:
        self.attribution = attribution
        """The attribution of the first call beneath (the labels of the root's metric point)."""
        self.cost = _ZERO
        self.calls = 0
        self.priced = 0
        self.unpriced = 0
        """Calls that ended without error and without a cost (no usage reported, or no known price)."""
        self.input = self.output = self.cache_read = self.cache_write = self.reasoning = 0

    def attributes(self) -> dict[str, Any]:
        attrs: dict[str, Any] = {_CALLS: self.calls, _INPUT: self.input, _OUTPUT: self.output}
        if self.priced:
            attrs[_COST] = float(self.cost)
        if self.unpriced:
            attrs[_UNPRICED] = self.unpriced
        if self.cache_read:
            attrs[_CACHE_READ] = self.cache_read
        if self.cache_write:
            attrs[_CACHE_WRITE] = self.cache_write
        if self.reasoning:
            attrs[_REASONING] = self.reasoning
        return attrs


class Rollups(SpanProcessor):
    """Tracks open local roots and agent runs; adds each finished call to their totals; records roots at end."""

    def __init__(self, instruments: Instruments, settings: Settings) -> None:
        self.active = True
        self._m = instruments
        self._lock = threading.Lock()
        self._roots: dict[int, Span] = {}
        """trace id -> its open local root in this process (the newest when two are open at once)."""
        self._shadowed: dict[int, list[Span]] = {}
        """trace id -> older local roots of the same trace, still open (rare: a process calling itself)."""
        self._chains: dict[int, tuple[Span, ...]] = {}
        """span id -> the open agent spans above it, itself included: only spans inside an agent run."""
        self._agent_traces: dict[int, int] = {}
        """trace id -> open agent spans in it: a span of any other trace skips the chain lookup."""
        self._totals: dict[int, Totals] = {}
        """span id -> totals of a root or agent span with at least one call beneath."""
        self.configure(instruments, settings)

    def configure(self, instruments: Instruments, settings: Settings) -> None:
        """(Re)bind to an instrument()'s instruments and settings: one processor per tracer provider."""
        self._m = instruments
        limit = max(settings.max_attribute_values - 1, 1)
        self._operation_cap = ValueCap(limit)
        self._label_keys = settings.metric_attributes
        self._label_caps = {key: ValueCap(limit) for key in self._label_keys}
        self.active = True

    def clear(self) -> None:
        with self._lock:
            self._roots.clear()
            self._shadowed.clear()
            self._chains.clear()
            self._agent_traces.clear()
            self._totals.clear()

    # --- the span processor ----------------------------------------------------------------------
    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        # Runs for every span of the app, so it reads the SDK span's fields directly (``_parent``, ``_context``,
        # ``_name``: each public property is a Python call, three times the read) and a SpanContext as the tuple
        # it is (``[0]`` trace id, ``[2]`` is_remote); a span that is neither a local root nor inside or named as
        # an agent run costs two field reads and a prefix test. No attribute is read (a missing key costs
        # BoundedAttributes a KeyError) unless the span is named as an agent run.
        if not self.active:
            return
        try:
            try:
                parent, name, context = span._parent, span._name, span._context
            except AttributeError:  # not the SDK's span layout: its public properties
                parent, name, context = span.parent, span.name, span.get_span_context()
            if context is None:
                return
            chain: tuple[Span, ...] | None = None
            if parent is None or parent[2]:
                trace_id = context[0]
                previous = self._roots.setdefault(trace_id, span)
                if previous is not span:
                    with self._lock:
                        if len(self._roots) < MAX_TRACKED:
                            self._shadowed.setdefault(trace_id, []).append(previous)
                            self._roots[trace_id] = span
            elif self._agent_traces and parent[0] in self._agent_traces:
                chain = self._chains.get(parent[1])
            if name.startswith(_AGENT_PREFIXES) and self._is_agent(span):
                if len(self._chains) >= MAX_TRACKED:
                    return
                trace_id = context[0]
                with self._lock:
                    self._agent_traces[trace_id] = self._agent_traces.get(trace_id, 0) + 1
                chain = (*chain, span) if chain else (span,)
            if chain is not None and len(self._chains) < MAX_TRACKED:
                self._chains[context[1]] = chain
        except Exception:
            internal_error("rollup")

    @staticmethod
    def _is_agent(span: Span) -> bool:
        attributes = span.attributes
        if not attributes:
            return False
        operation = attributes.get(names.GEN_AI_OPERATION_NAME)
        return isinstance(operation, str) and operation in _AGENT_OPERATIONS

    def on_end(self, span: ReadableSpan) -> None:
        try:
            try:
                parent, context = span._parent, span._context  # as in on_start: the fields, not the properties
            except AttributeError:
                parent, context = span.parent, span.context
            chains = self._chains
            if not chains and parent is not None and not parent[2]:
                return  # neither a root nor inside an agent run: nothing to do
            if context is None:
                return
            span_id = context[1]
            chain = chains.pop(span_id, None) if chains else None
            if chain is not None and chain[-1].get_span_context()[1] == span_id:  # an agent span: its run is over
                trace_id = context[0]
                with self._lock:
                    self._totals.pop(span_id, None)
                    left = self._agent_traces.get(trace_id, 1) - 1
                    if left > 0:
                        self._agent_traces[trace_id] = left
                    else:
                        self._agent_traces.pop(trace_id, None)
            if parent is None or parent[2]:
                self._root_ended(span, context[0], span_id)
        except Exception:
            internal_error("rollup")

    def _root_ended(self, span: ReadableSpan, trace_id: int, span_id: int) -> None:
        with self._lock:
            root = self._roots.get(trace_id)
            if root is not None and root.get_span_context()[1] == span_id:
                shadowed = self._shadowed.get(trace_id) if self._shadowed else None
                if shadowed:
                    self._roots[trace_id] = shadowed.pop()
                    if not shadowed:
                        del self._shadowed[trace_id]
                else:
                    del self._roots[trace_id]
            elif self._shadowed:  # an older root of a trace that has a newer one open
                shadowed = self._shadowed.get(trace_id)
                if shadowed:
                    self._shadowed[trace_id] = [s for s in shadowed if s.get_span_context()[1] != span_id]
                    if not self._shadowed[trace_id]:
                        del self._shadowed[trace_id]
            totals = self._totals.pop(span_id, None) if self._totals else None
        if totals is None or not self.active:
            return  # a root with no LLM call beneath records nothing
        self._record(span, totals)

    def _record(self, span: ReadableSpan, totals: Totals) -> None:
        attributes = span.attributes
        route = attributes.get(names.HTTP_ROUTE) if attributes else None
        operation = str(route) if route else span.name
        m = self._m
        if not self._operation_cap.admit(operation):
            operation = names.OVERFLOW_VALUE
            m.folded.add(((names.LLMCOST_ATTRIBUTION_KEY, names.LLMCOST_OPERATION),), 1)
        labels: dict[str, Any] = {names.LLMCOST_OPERATION: operation}
        attribution = totals.attribution
        if attribution:
            for key in self._label_keys:
                value = attribution.get(key)
                if value is None:
                    continue
                if not self._label_caps[key].admit(value):
                    value = names.OVERFLOW_VALUE
                    m.folded.add(((names.LLMCOST_ATTRIBUTION_KEY, key),), 1)
                labels[key] = value
        # The two points are most of what a request's roll-up costs (the SDK's record(): the measurement, its
        # attributes cleaned and hashed, the bucket, the exemplar), paid once per request, not per call.
        # No exemplar on the calls: the root's span has left the context by now (use_span detaches it before
        # ending it), and the cost histogram's exemplar already links the request's trace.
        m.operation_calls.record(totals.calls, labels)
        if totals.priced and not totals.unpriced:  # an unknown part makes the total unknown: never a silent $0
            own = span.get_span_context()
            context = trace.set_span_in_context(trace.NonRecordingSpan(own)) if own is not None else None
            m.operation_cost.record(float(totals.cost), labels, context=context)

    def shutdown(self) -> None:
        self.active = False

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True

    # --- a call ended ------------------------------------------------------------------------------
    def add(self, call: Call, outcome: Outcome) -> None:
        """Add a finished call to the totals of its open root and agent runs (before its own span ends)."""
        if not self.active:
            return
        own = call.own_span
        # A call without a span of ours (batch results read back) belongs where it is read: the current span.
        span: Any = call.span if own else trace.get_current_span()
        context = span.get_span_context()
        trace_id, span_id = context[0], context[1]  # a SpanContext is a tuple: no property calls
        if not trace_id or not span_id:
            return  # an invalid (non-recording) context
        chain = self._chains.get(span_id) if self._chains else None
        usage, cost, error = outcome.usage, outcome.cost, outcome.error
        written: list[tuple[Span, dict[str, Any]]] = []
        with self._lock:
            root = self._roots.get(trace_id)
            if root is None:
                parent = getattr(span, "parent", None)
                if not own or (parent is not None and not parent[2]):  # its root ended first: a late call
                    self._m.rollup_late.add((), 1)
                return
            # A call whose own span is the local root (no app span around it) is no request of the app.
            root_id = root.get_span_context()[1]
            targets: list[tuple[Span, int]] = [] if own and root_id == span_id else [(root, root_id)]
            if chain:
                targets += [(agent, agent.get_span_context()[1]) for agent in chain if agent is not root]
            all_totals = self._totals
            for target, key in targets:
                totals = all_totals.get(key)
                if totals is None:
                    totals = all_totals[key] = Totals(call.request.attribution)
                totals.calls += 1
                if usage is not None:
                    totals.input += usage.input_tokens
                    totals.output += usage.output_tokens
                    if usage.cache_read_tokens:
                        totals.cache_read += usage.cache_read_tokens
                    if usage.cache_write_tokens:
                        totals.cache_write += usage.cache_write_tokens
                    if usage.reasoning_tokens:
                        totals.reasoning += usage.reasoning_tokens
                if cost is not None:
                    totals.cost += cost.exact
                    totals.priced += 1
                elif error is None:
                    totals.unpriced += 1
                written.append((target, totals.attributes()))
        for target, attrs in written:
            if target.is_recording():
                target.set_attributes(attrs)


_by_provider: weakref.WeakKeyDictionary[Any, Rollups] = weakref.WeakKeyDictionary()


def attach(provider: Any, instruments: Instruments, settings: Settings) -> Rollups | None:
    """The roll-up processor of ``provider`` (an SDK TracerProvider), added once per provider and re-bound on a
    later instrument() (a provider cannot drop a processor); None when the provider takes no processor."""
    add = getattr(provider, "add_span_processor", None)
    if add is None:
        return None
    found = _by_provider.get(provider)
    if found is None:
        found = _by_provider[provider] = Rollups(instruments, settings)
        add(found)
    else:
        found.clear()
        found.configure(instruments, settings)
    return found
