"""Which provider and server an OpenAI client talks to: Azure clients are Azure wherever they point; any other
client is named by its host (a host the user maps, else one ``providers.endpoints`` knows: api.openai.com, Groq,
OpenRouter..., else "openai", the API it speaks, marked local on a local server). Cached per client
(``providers.endpoints.client_endpoint``), since a client's base URL rarely changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...calls import Runtime
from ..endpoints import Endpoint, client_endpoint, endpoint_of


def resource_endpoint(runtime: Runtime, instance: Any) -> Endpoint:
    """The endpoint of the client a wrapped resource (``client.chat.completions``, ``client.batches``) belongs to."""
    client = getattr(instance, "_client", None)
    return client_endpoint(client, getattr(client, "base_url", None), runtime.settings.provider_hosts, _resolve)


def _resolve(client: Any, base_url: str, hosts: Mapping[str, str]) -> Endpoint:
    """Azure clients are Azure wherever they point; any other client is named by its host."""
    if "Azure" in type(client).__name__:
        found = endpoint_of(base_url, "azure.ai.openai", tuple(hosts.items()))
        return Endpoint("azure.ai.openai", found.address, found.port, False)
    return endpoint_of(base_url, "openai", tuple(hosts.items()))
