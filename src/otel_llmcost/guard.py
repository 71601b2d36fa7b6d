"""The rule that a failure inside otel-llmcost never reaches the caller: log at debug, count, move on."""

from __future__ import annotations

import logging

from . import names
from .metrics import INSTRUMENTATION_ERRORS

logger = logging.getLogger("otel_llmcost")

_KEYS: dict[str, tuple[tuple[str, str], ...]] = {}


def internal_error(stage: str) -> None:
    """Record a swallowed exception from our own code; call from an ``except`` block."""
    key = _KEYS.get(stage)
    if key is None:
        key = _KEYS.setdefault(stage, ((names.LLMCOST_STAGE, stage),))
    INSTRUMENTATION_ERRORS.add(key, 1)
    logger.debug("otel-llmcost: internal failure in stage %r (the SDK call is unaffected)", stage, exc_info=True)
