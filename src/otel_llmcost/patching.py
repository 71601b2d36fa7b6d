"""wrapt patches that live beside other instrumentations' patches of the same SDK methods.

OpenTelemetry's and OpenLLMetry's OpenAI instrumentations wrap the very methods we wrap, with wrapt too,
in whatever order the launcher loads them. So a method that is already a ``FunctionWrapper`` is wrapped
again unless the wrapper is ours, and ``unwrap`` takes out our layer only, wherever it sits in the chain,
leaving every other instrumentation's layer in place. Knows wrapt, nothing about SDKs or telemetry.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

import wrapt

logger = logging.getLogger("otel_llmcost")

_MARK = "_otel_llmcost_wrapper"
# A layer is a FunctionWrapper, or a BoundFunctionWrapper: what OpenTelemetry's ``unwrap()`` leaves in the class
# (with wrapt 2) when it takes off the layer above another, as the other OpenAI instrumentations' uninstrument does.
_LAYERS = (wrapt.FunctionWrapper, wrapt.BoundFunctionWrapper)
F = TypeVar("F", bound=Callable[..., Any])


def mark(wrapper: F) -> F:
    """Tag a wrapper function as ours (so a second ``instrument()`` or a second method path skips it)."""
    setattr(wrapper, _MARK, True)
    return wrapper


def is_ours(layer: Any) -> bool:
    return isinstance(layer, _LAYERS) and getattr(layer._self_wrapper, _MARK, False) is True


def _layers(value: Any) -> list[Any]:
    """The wrapt layers of an attribute value, outermost first."""
    found = []
    while isinstance(value, _LAYERS):
        found.append(value)
        value = value.__wrapped__
    return found


def wrapped_by_us(owner: Any, attribute: str) -> bool:
    return any(is_ours(layer) for layer in _layers(owner.__dict__.get(attribute)))


def wrap(owner: Any, attribute: str, wrapper: Callable[..., Any]) -> bool:
    """Wrap ``owner.attribute`` with ``wrapper`` unless one of ours is already there; True when wrapped."""
    if wrapped_by_us(owner, attribute):
        return False
    wrapt.wrap_function_wrapper(owner, attribute, mark(wrapper))
    return True


def unwrap(owner: Any, attribute: str) -> None:
    """Remove our layer(s) from ``owner.attribute``; other instrumentations' layers stay, in their order."""
    for _ in range(8):  # one layer of ours per instrument(); bounded all the same
        outer: Any = None
        for layer in _layers(owner.__dict__.get(attribute)):
            if is_ours(layer):
                break
            outer = layer
        else:
            return
        try:
            if outer is None:
                setattr(owner, attribute, layer.__wrapped__)
            else:
                outer.__wrapped__ = layer.__wrapped__  # spliced out from under another instrumentation's layer
        except Exception:  # left in place, our inactive layer passes calls straight through
            logger.debug("otel-llmcost: could not remove the wrapper of %s.%s", owner, attribute, exc_info=True)
            return
