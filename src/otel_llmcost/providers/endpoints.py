"""Which provider serves a base URL: api.openai.com is OpenAI, *.openai.azure.com is Azure, and a local or private
address is whatever API the client speaks (openai, anthropic, ...), marked ``local``.

The same OpenAI-compatible client talks to OpenAI, Azure, Groq, OpenRouter, Gemini's compatible endpoint
or a model on localhost; the price depends on who actually serves it. A local address is not free by itself: a
LiteLLM proxy or a gateway there serves paid models (pricing decides, from the model: ``PriceBook.cost``).
Knows hosts, nothing else.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import lru_cache
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


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a client sends its requests, as telemetry should name it (never with credentials)."""

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
