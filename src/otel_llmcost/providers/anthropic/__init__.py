"""The Anthropic SDK adapter: which methods to wrap, how to live beside the SDK's own spans, what usage means.

One module per job, so that each says what it holds and what it must not know:

* ``usage``: Anthropic's usage normalized into our Usage and Response, and the stream summary. Pure: no SDK
  import, no calls or spans.
* ``endpoints``: which provider and server a client talks to (first party, Bedrock, Vertex, mapped, local).
* ``methods``: which methods are wrapped (``METHODS``, ``HOOKS``, ``wrappers``), ``AnthropicMethod``, raw
  responses, stream managers and batch results.
* ``sdk_tracing``: living beside the SDK's own spans (anthropic >= 1.14): replacing or annotating them.
* ``sdk_internals``: the quarantine. Every private of the SDK we rely on (private modules and attributes, the
  name-mangled stream manager request, metaclass hooks, private argument orders), named once and checked
  against the installed SDK by ``tests/test_anthropic_sdk_internals.py``. Nothing else names one.

This package keeps the surface the instrumentor's post-import hook and the tests use: ``wrappers``,
``METHODS``, ``HOOKS`` and the usage functions; everything else is named by its module. Importing it imports no SDK.
"""
from __future__ import annotations

from . import endpoints, methods, sdk_internals, sdk_tracing, usage
from .methods import HOOKS, METHODS, targets, wrappers
from .usage import MessageStreamSummary, message_attributes, message_usage

__all__ = [
    "HOOKS",
    "METHODS",
    "MessageStreamSummary",
    "endpoints",
    "message_attributes",
    "message_usage",
    "methods",
    "sdk_internals",
    "sdk_tracing",
    "targets",
    "usage",
    "wrappers",
]
