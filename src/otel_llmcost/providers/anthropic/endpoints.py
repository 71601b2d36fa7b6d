"""Which provider and server a client talks to: first party, Bedrock or Vertex, a host the user maps, or a local
server. Cached per client (``providers.endpoints``), since a client's base URL rarely changes.

Knows nothing of calls or spans; the SDK's own provider name comes through ``sdk_internals``.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...calls import Runtime
from ..endpoints import Endpoint, endpoint_of, mapped
from ..endpoints import client_endpoint as cached_endpoint
from . import sdk_internals

_PLATFORMS = (("Bedrock", "aws.bedrock"), ("Vertex", "gcp.vertex_ai"))


def client_provider(client: Any) -> str:
    """gen_ai.provider.name as the SDK names it on its own span (``sdk_internals.provider_name``), else by class."""
    name = sdk_internals.provider_name(client)
    if name is not None:
        return name
    class_name = type(client).__name__
    for marker, provider in _PLATFORMS:
        if marker in class_name:
            return provider
    return "anthropic"


def client_endpoint(runtime: Runtime, client: Any) -> Endpoint:
    """The SDK's provider name unless the user maps the host to another, or the base URL is a local server."""
    return cached_endpoint(client, getattr(client, "base_url", None), runtime.settings.provider_hosts, _resolve)


def _resolve(client: Any, base_url: str, hosts: Mapping[str, str]) -> Endpoint:
    provider = client_provider(client)
    found = endpoint_of(base_url, provider)
    mapped_to = mapped(hosts, found.address, found.port)
    if mapped_to:
        return Endpoint(mapped_to, found.address, found.port, False)
    if found.local:
        return found
    return Endpoint(provider, found.address, found.port, False)
