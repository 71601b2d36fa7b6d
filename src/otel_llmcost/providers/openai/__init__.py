"""The OpenAI SDK adapter (being split into modules; for now all of it is in ``methods``)."""
from __future__ import annotations

from .methods import (
    BATCH_METHODS,
    METHODS,
    chat_result,
    responses_result,
    targets,
)

__all__ = ["BATCH_METHODS", "METHODS", "chat_result", "responses_result", "targets"]
