"""The conversation a call belongs to (``gen_ai.conversation.id``), when the SDK call itself says so.

An explicit ``attributes(conversation_id=...)`` (or the ``gen_ai.conversation.id`` baggage entry) wins. Else
the OpenAI Responses API names it: ``conversation="conv_..."`` is the id; a ``previous_response_id`` chain is
one conversation whose id is the id of its first response (``resp_1`` <- ``resp_2`` <- ``resp_3`` are all
``resp_1``): each turn's response id is remembered with its conversation, in a bounded map (LRU of
``MAX_REMEMBERED`` responses), so a chain longer than the map, or begun in another process, is named by the
oldest response this process saw. The first turn of a chain cannot know it starts one: its span has no
conversation id, and ``otel-llmcost report --by conversation`` counts it by its response id.
A conversation id is on spans and in the ledger, never a metric label (one value per conversation).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from .names import GEN_AI_CONVERSATION_ID

if TYPE_CHECKING:
    from .records import Request

MAX_REMEMBERED = 10_000

_lock = threading.Lock()
_chains: OrderedDict[str, str] = OrderedDict()
"""response id -> conversation id of its turn."""


def resolve(request: Request, attribution: Mapping[str, str]) -> Mapping[str, str]:
    """The call's attribution with the conversation its SDK arguments name (an explicit one wins)."""
    if GEN_AI_CONVERSATION_ID in attribution:
        return attribution
    conversation = request.conversation_id
    if conversation is None and request.previous_response_id is not None:
        with _lock:
            conversation = _chains.get(request.previous_response_id, request.previous_response_id)
    if conversation is None:
        return attribution
    return MappingProxyType({**attribution, GEN_AI_CONVERSATION_ID: conversation})


def remember(call: Any, outcome: Any) -> None:  # calls.Call, telemetry.Outcome (calls imports this module)
    """After a call of a conversation: its response id continues that conversation (a later previous_response_id)."""
    request = call.request
    if request.conversation_id is None and request.previous_response_id is None:
        return  # only a call that names its conversation continues it (explicit ids need no chain)
    conversation = request.attribution.get(GEN_AI_CONVERSATION_ID)
    response = outcome.response
    if conversation is None or response is None or not response.response_id:
        return
    with _lock:
        _chains[response.response_id] = conversation
        _chains.move_to_end(response.response_id)
        while len(_chains) > MAX_REMEMBERED:
            _chains.popitem(last=False)
