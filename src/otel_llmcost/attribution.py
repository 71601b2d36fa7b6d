"""Who a call is for: feature, team, user and any other key, set by the caller or by W3C baggage.

Kept in a context variable, so nesting, threads and asyncio tasks each see their own values. Explicit
values win over baggage; an inner scope adds to (and overrides keys of) the outer one. This module only
says what the attributes are; telemetry decides which reach metrics, budgets which scope they match.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from contextvars import ContextVar, Token
from types import MappingProxyType, TracebackType
from typing import Any, TypeVar

from opentelemetry import baggage
from opentelemetry import context as otel_context

from .names import GEN_AI_CONVERSATION_ID, LLMCOST_FEATURE, LLMCOST_TEAM, USER_ID

_EMPTY: Mapping[str, str] = MappingProxyType({})
_CURRENT: ContextVar[Mapping[str, str]] = ContextVar("otel_llmcost_attributes", default=_EMPTY)

# Keyword -> attribute name; any other keyword becomes "llmcost.<keyword>".
KEYWORDS: Mapping[str, str] = MappingProxyType(
    {
        "user_id": USER_ID,
        "feature": LLMCOST_FEATURE,
        "team": LLMCOST_TEAM,
        "conversation_id": GEN_AI_CONVERSATION_ID,
    }
)
# Baggage entries read, and the attribute each sets (the attribute's own name, or its short form).
BAGGAGE_KEYS: Mapping[str, str] = MappingProxyType(
    {
        USER_ID: USER_ID,
        LLMCOST_FEATURE: LLMCOST_FEATURE,
        LLMCOST_TEAM: LLMCOST_TEAM,
        "feature": LLMCOST_FEATURE,
        "team": LLMCOST_TEAM,
        GEN_AI_CONVERSATION_ID: GEN_AI_CONVERSATION_ID,
        "conversation_id": GEN_AI_CONVERSATION_ID,
    }
)

F = TypeVar("F", bound=Callable[..., Any])

# Where the baggage API keeps its entries in the context: read directly, one dict lookup instead of the
# API's copy into a read-only view on every call (a third of the cost of a call with no attribution).
_BAGGAGE_KEY: str | None = getattr(baggage, "_BAGGAGE_KEY", None)


def attribute_name(key: str) -> str:
    """The span attribute a keyword sets: the well-known three by name, dotted keys as given, others prefixed."""
    if key in KEYWORDS:
        return KEYWORDS[key]
    return key if "." in key else f"llmcost.{key}"


class attributes:  # lower case: used like a function, `with attributes(...)` or `@attributes(...)`
    """Attribute every LLM call inside this scope (a ``with`` block, or a decorated sync or async function).

    ``attributes(user_id="u1", feature="summarize", team="search", conversation_id="c-42")``; a mapping argument
    takes dotted names as they are (``attributes({"app.tenant": "acme"})``). ``None`` values are ignored.
    """

    __slots__ = ("_tokens", "_values")

    def __init__(self, values: Mapping[str, object] | None = None, /, **keywords: object) -> None:
        merged: dict[str, str] = {}
        for key, value in (values or {}).items():
            if value is not None:
                merged[key] = str(value)
        for key, value in keywords.items():
            if value is not None:
                merged[attribute_name(key)] = str(value)
        self._values = MappingProxyType(merged)
        self._tokens: list[Token[Mapping[str, str]]] = []

    def __enter__(self) -> attributes:
        outer = _CURRENT.get()
        self._tokens.append(_CURRENT.set(MappingProxyType({**outer, **self._values}) if outer else self._values))
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        _CURRENT.reset(self._tokens.pop())

    def __call__(self, function: F) -> F:
        values = self._values
        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                with attributes(values):
                    return await function(*args, **kwargs)

            return run_async  # type: ignore[return-value]

        @functools.wraps(function)
        def run(*args: Any, **kwargs: Any) -> Any:
            with attributes(values):
                return function(*args, **kwargs)

        return run  # type: ignore[return-value]


def current_attributes() -> Mapping[str, str]:
    """The attribution of a call starting now: baggage first, then explicit scopes on top."""
    explicit = _CURRENT.get()
    entries = otel_context.get_current().get(_BAGGAGE_KEY) if _BAGGAGE_KEY is not None else baggage.get_all()
    if not entries or not isinstance(entries, Mapping):
        return explicit
    merged = {BAGGAGE_KEYS[key]: str(value) for key, value in entries.items() if key in BAGGAGE_KEYS}
    if not merged:
        return explicit
    merged.update(explicit)
    return MappingProxyType(merged)
