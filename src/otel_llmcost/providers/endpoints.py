"""Which provider serves a base URL: api.openai.com is OpenAI, *.openai.azure.com is Azure, and a local or private
address is whatever API the client speaks (openai, anthropic, ...), marked ``local``.

The same OpenAI-compatible client talks to OpenAI, Azure, Groq, OpenRouter, Gemini's compatible endpoint
or a model on localhost; the price depends on who actually serves it. A local address is not free by itself: a
LiteLLM proxy or a gateway there serves paid models (pricing decides, from the model: ``PriceBook.cost``).
Knows hosts, nothing else.

The one ``Endpoint`` type every adapter reports, and the one per-client cache (``client_endpoint``): an
adapter says how to name a client's endpoint (its ``resolve``), this module remembers the answer for as long
as the client keeps its base URL and the runtime its host mapping.
"""

from __future__ import annotations

import ipaddress
import weakref
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any, NamedTuple
from urllib.parse import urlsplit

# (host suffix, gen_ai.provider.name), first match wins.
_HOSTS: tuple[tuple[str, str], ...] = (
    ("api.openai.com", "openai"),
    (".openai.azure.com", "azure.ai.openai"),
    (".cognitiveservices.azure.com", "azure.ai.openai"),
    (".services.ai.azure.com", "azure.ai.openai"),
    (".azure-api.net", "azure.ai.openai"),
    (".amazonaws.com", "aws.bedrock"),
    ("api.anthropic.com", "anthropic"),
    ("api.groq.com", "groq"),
    ("openrouter.ai", "openrouter"),
    ("generativelanguage.googleapis.com", "gcp.gemini"),
    ("aiplatform.googleapis.com", "gcp.vertex_ai"),
    ("api.deepseek.com", "deepseek"),
    ("api.x.ai", "x_ai"),
    ("api.mistral.ai", "mistral_ai"),
    ("api.together.xyz", "together"),
    ("api.together.ai", "together"),
    ("api.fireworks.ai", "fireworks"),
    ("api.perplexity.ai", "perplexity"),
    ("api.cerebras.ai", "cerebras"),
    ("api.cohere.com", "cohere"),
    ("api.cohere.ai", "cohere"),
)
_LOCAL_NAMES = frozenset({"localhost", "host.docker.internal", "ollama", "vllm"})


class Endpoint(NamedTuple):
    """Where a client sends its requests, as telemetry should name it (never with credentials). A tuple, so
    that an adapter reads it as ``provider, address, port, local = endpoint``."""

    provider: str
    address: str | None
    port: int | None
    local: bool


def _is_local(host: str) -> bool:
    if host in _LOCAL_NAMES or host.endswith((".local", ".localhost")):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    # Private ranges count too: a model there is self-hosted unless a hosted price list knows it (pricing
    # decides), and a gateway in front of a paid provider serves models the lists know.
    return ip.is_loopback or ip.is_unspecified or ip.is_private or ip.is_link_local


@lru_cache(maxsize=256)
def endpoint_of(base_url: str, default_provider: str, hosts: tuple[tuple[str, str], ...] = ()) -> Endpoint:
    """Provider and server of a base URL. ``hosts`` maps "host" or "host:port" to a provider (user setting)."""
    try:
        parts = urlsplit(base_url)
        host = (parts.hostname or "").lower()
        port = parts.port or (443 if parts.scheme == "https" else 80 if parts.scheme == "http" else None)
    except ValueError:
        return Endpoint(default_provider, None, None, False)
    for key, provider in hosts:
        if key.lower() in (host, f"{host}:{port}"):
            return Endpoint(provider, host, port, False)
    for suffix, provider in _HOSTS:
        if host == suffix.lstrip(".") or host.endswith(suffix):
            return Endpoint(provider, host, port, False)
    if _is_local(host):
        return Endpoint(default_provider, host, port, True)  # gen_ai.provider.name: the API it speaks
    return Endpoint(default_provider, host, port, False)


def mapped(hosts: Mapping[str, str], address: str | None, port: int | None) -> str | None:
    """The provider the user maps "host" or "host:port" to (``provider_hosts``), or None."""
    if not hosts or not address:
        return None
    return hosts.get(address) or hosts.get(f"{address}:{port}")


Resolve = Callable[[Any, str, Mapping[str, str]], Endpoint]
"""How an adapter names a client's endpoint: (client, its base URL as text, the user's host mapping)."""

# weakref to a client -> (its base URL object, the host mapping, the resolver, the endpoint). Keyed by a weak
# reference without a callback (cheaper than a WeakKeyDictionary on the hot path): a dead client's entry can
# never match a live one, and the table is emptied when it grows past _CACHE_LIMIT.
_CACHE: dict[Any, tuple[Any, Any, Any, Endpoint]] = {}
_CACHE_LIMIT = 1024


def client_endpoint(client: Any, base_url: Any, hosts: Mapping[str, str], resolve: Resolve) -> Endpoint:
    """``resolve(client, str(base_url), hosts)``, cached per client: a client's base URL rarely changes, and
    turning a URL object into text costs ~10x this lookup."""
    try:
        key: Any = weakref.ref(client)
    except TypeError:  # not weak-referenceable (None, a slotted object): resolved each time
        return resolve(client, str(base_url or ""), hosts)
    hit = _CACHE.get(key)
    if hit is not None and hit[0] is base_url and hit[1] is hosts and hit[2] is resolve:
        return hit[3]
    found = resolve(client, str(base_url or ""), hosts)
    if len(_CACHE) >= _CACHE_LIMIT:
        _CACHE.clear()
    _CACHE[key] = (base_url, hosts, resolve, found)
    return found
