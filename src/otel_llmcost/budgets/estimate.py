"""The worst case of a call before it is sent: input estimated from the prompt, output at ``max_tokens``.

A block budget reserves this much while the call is in flight, so concurrent calls cannot together
overshoot the limit; the reservation is settled to the real cost when the call ends. The output part is
a true bound (the provider never bills more than ``max_tokens``); the input part is an estimate with no
tokenizer: one token per 3 bytes of UTF-8 text, which over-counts English (about 4 characters a token) and
counts CJK text (3 bytes, about one token a character) right. Images, audio and files are not estimated.
Where it runs is priced as the call will be: a data-residency host or regional endpoint (the request's server
address) and a region the request asks for (Anthropic ``inference_geo``) put their multiplier on the estimate, so a
block budget does not reserve less than the call can cost. Knows the normalized request and the price book,
nothing about SDKs.
"""

from __future__ import annotations

from decimal import Decimal

from ..pricing import PriceBook
from ..pricing.model_ids import price_model
from ..records import Request, Usage

BYTES_PER_TOKEN = 3
PER_MESSAGE_TOKENS = 4
"""Each message of a chat adds a few tokens of framing (role, separators)."""
_MAX_DEPTH = 12


def input_tokens(prompt: object) -> int:
    """An estimate of the input tokens of a call's prompt arguments (see the module docstring)."""
    text_bytes, items = _walk(prompt, 0)
    return -(-text_bytes // BYTES_PER_TOKEN) + items * PER_MESSAGE_TOKENS


def _walk(value: object, depth: int) -> tuple[int, int]:
    """(UTF-8 bytes of text, number of messages) under value."""
    if isinstance(value, str):
        if value.startswith("data:"):  # an inline image or file: not estimated
            return 0, 0
        return len(value.encode("utf-8", "replace")) if not value.isascii() else len(value), 0
    if depth > _MAX_DEPTH:
        return 0, 0
    if isinstance(value, dict):
        total, items = 0, 0
        for key, item in value.items():
            if key in ("image_url", "source", "image", "file", "input_audio"):
                continue
            size, count = _walk(item, depth + 1)
            total += size
            items += count
        return total, items
    if isinstance(value, (list, tuple)):
        total, items = 0, 0
        for item in value:
            size, count = _walk(item, depth + 1)
            total += size
            items += count + (1 if depth == 1 and isinstance(item, dict) else 0)
        return total, items
    if isinstance(value, int) and not isinstance(value, bool):
        return BYTES_PER_TOKEN, 0  # a token id (embeddings input)
    dump = getattr(value, "model_dump", None)  # an SDK model passed as a message
    if callable(dump):
        try:
            return _walk(dump(), depth)
        except Exception:
            return 0, 0
    return 0, 0


def worst_case(prices: PriceBook, request: Request, default_max_tokens: int) -> Decimal | None:
    """The most the call can cost in USD, or None when its model has no known price (it then reserves $0)."""
    output_tokens = request.max_tokens if request.max_tokens is not None else default_max_tokens
    usage = Usage(
        input_tokens=input_tokens(request.prompt),
        output_tokens=output_tokens if request.operation == "chat" else 0,
        service_tier=request.service_tier,
    )
    model = price_model(request.provider, request.model, None)
    cost = prices.cost(
        request.provider, model, usage, local=request.local, server_address=request.server_address,
        inference_geo=request.inference_geo,
    )
    return cost.exact if cost is not None else None
