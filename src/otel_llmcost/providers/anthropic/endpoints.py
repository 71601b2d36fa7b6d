"""Which provider and server a client talks to: first party, Bedrock or Vertex, a host the user maps, or a local
server. Cached per client, since a client's base URL rarely changes.

Knows nothing of calls or spans; the SDK's own provider name comes through ``sdk_internals``.
"""
from __future__ import annotations

import contextlib
import weakref
from typing import Any

from ...calls import Runtime
from ..endpoints import endpoint_of
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


Endpoint = tuple[str, str | None, int | None, bool]
# Per client: (its base URL object, the host mapping, the endpoint) -- a client's base URL rarely changes.
_ENDPOINTS: weakref.WeakKeyDictionary[Any, tuple[Any, Any, Endpoint]] = weakref.WeakKeyDictionary()


def client_endpoint(runtime: Runtime, client: Any) -> Endpoint:
    """(provider, server address, port, local) of a client: the SDK's provider name unless the user maps the
    host to another, or the base URL is a local server."""
    base_url = getattr(client, "base_url", None)
    hosts = runtime.settings.provider_hosts
    try:
        hit = _ENDPOINTS.get(client)
    except TypeError:  # not weak-referenceable
        hit = None
    if hit is not None and hit[0] is base_url and hit[1] is hosts:
        return hit[2]
    found = _endpoint(client, str(base_url or ""), hosts)
    with contextlib.suppress(TypeError):
        _ENDPOINTS[client] = (base_url, hosts, found)
    return found


def _endpoint(client: Any, base_url: str, hosts: dict[str, str]) -> Endpoint:
    provider = client_provider(client)
    found = endpoint_of(base_url, provider)
    if hosts and found.address:
        mapped = hosts.get(found.address) or hosts.get(f"{found.address}:{found.port}")
        if mapped:
            return mapped, found.address, found.port, False
    if found.local:
        return found.provider, found.address, found.port, True
    return provider, found.address, found.port, False
