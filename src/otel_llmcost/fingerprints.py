"""Privacy-safe fingerprints of a request: keyed hashes that find repeats without keeping a word of the prompt.

What the optimization advisor (``otel-llmcost advise``) needs to know about the content of calls is whether two
calls sent the same thing, and how far their prompts agree: the same whole request (a response cache would have
answered it), the same prefix up to the system prompt and tools or up to a message boundary (a provider's prompt
cache would have served it). A keyed hash answers both and reveals nothing: HMAC-SHA256 (RFC 2104) under a key
from ``OTEL_LLMCOST_FINGERPRINT_KEY`` (shared by a fleet, so that repeats are found across hosts), else under a
random key made once per process (repeats are then seen only within one process). Only the first 128 bits of
each hash are kept.

One function for every provider: an adapter hands ``describe`` the canonical parts of the request as the SDK
was given them (references, never copied): the head (tools, system instructions: what providers cache first),
the messages (in order) and the other parameters. The prefixes are the head and every message boundary after
it, each with an estimated token length (UTF-8 bytes of its canonical JSON / 4: English averages ~4 characters a
token; the advisor rescales it by the tokens the call really reported). The whole-request hash adds the other
parameters (model, temperature, response format, ...), leaving out those that do not change the answer
(headers, timeouts, streaming, user ids).

The cost is on the call path: one running HMAC-SHA256 over the request (text as its bytes, only non-text parts
through the C JSON encoder), one update per kept boundary, where the inner digest is read without a copy of the
running hash, and one short outer hash (one SHA-256 block from the pre-hashed outer pad) per kept prefix. What is
left above the bare SHA-256 is Python's walk of the request (~1 µs a message) and ~0.5 µs per kept boundary
(``benchmarks/fingerprints.py`` measures it; the README states it).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind

from . import names
from .config import Settings
from .guard import internal_error
from .records import Request

logger = logging.getLogger(__name__)

BYTES_PER_TOKEN = 4
"""The token estimate of a prefix: UTF-8 bytes of its canonical JSON / 4."""
HEX_DIGITS = 32
"""128 bits of each HMAC-SHA256 are kept."""
MAX_BOUNDARIES = 64
"""A longer conversation keeps its first 16 and its last 48 prefixes (a span attribute stays small)."""
_FIRST = 16

# Parameters left out of the whole request's parameters: the content (hashed as head and messages already), and
# what does not change the answer.
IGNORED_PARAMETERS = frozenset({
    "messages", "system", "tools", "instructions", "input", "contents", "prompt",
    "extra_headers", "extra_query", "extra_body", "timeout", "stream", "stream_options", "user", "metadata",
    "store", "safety_identifier", "prompt_cache_key", "prompt_cache_retention", "betas", "background",
})

ORIGIN_SERVER = "server"
"""The call ran under a SERVER span, or in a trace continued from another process (an incoming request)."""
ORIGIN_LOCAL = "local"
"""The call ran in a trace that started in this process with no SERVER span around the call (a job, a script)."""
ORIGIN_NONE = "none"
"""No trace at all around the call."""


@dataclass(slots=True)
class Fingerprints:
    """The keyed hashes of one request: the whole of it, and each stable prefix with its estimated tokens."""

    request: str
    prefixes: tuple[str, ...]
    prefix_tokens: tuple[int, ...]
    boundaries: tuple[int, ...]
    """Where each prefix ends: 0 after the head (system, tools), n after the n-th message."""
    fleet_key: bool
    """True when the key came from OTEL_LLMCOST_FINGERPRINT_KEY (repeats across hosts are comparable)."""


class _Key:
    """The HMAC key, padded once: the inner and outer pads are hashed once, each boundary copies them."""

    __slots__ = ("fleet", "inner", "outer")

    def __init__(self, key: bytes, fleet: bool) -> None:
        if len(key) > 64:
            key = hashlib.sha256(key).digest()
        key = key.ljust(64, b"\0")
        self.inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self.outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
        self.fleet = fleet

    def finish(self, digests: list[bytes]) -> list[str]:
        """HMAC(key, message) of each inner digest: a copy of the hashed outer pad and one 32-byte update each
        (one SHA-256 block), the first 128 bits as hex."""
        outer = self.outer
        hexes = []
        for digest in digests:
            final = outer.copy()
            final.update(digest)
            hexes.append(final.hexdigest()[:HEX_DIGITS])
        return hexes


_PROCESS_KEY = os.urandom(32)
_keys: dict[str | None, _Key] = {}


def _key(settings: Settings) -> _Key:
    secret = settings.fingerprint_key
    key = _keys.get(secret)
    if key is None:
        key = _Key(secret.encode("utf-8") if secret else _PROCESS_KEY, secret is not None)
        if secret is None:
            logger.info(
                "otel-llmcost: request fingerprints use a random key of this process: repeated requests are found "
                "within it only, not across processes or hosts (set %s, the same on every host, for that).",
                names.ENV_FINGERPRINT_KEY,
            )
        _keys.clear()  # one key in use at a time
        _keys[secret] = key
    return key


def _plain(value: Any) -> Any:
    """JSON's fallback: SDK objects (pydantic models) as their fields, bytes as their hash, sentinels as null."""
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            return dump(exclude_none=True, mode="json")
        except Exception:
            return repr(type(value))
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "sha256:" + hashlib.sha256(value).hexdigest()
    if isinstance(value, (set, frozenset)):
        return sorted(map(str, value))
    if type(value).__name__ in ("NotGiven", "Omit"):
        return None
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        try:
            return to_dict()
        except Exception:
            pass
    return repr(type(value))


_encoder = json.JSONEncoder(
    ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=_plain, check_circular=False
)
_c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
# The C encoder that JSONEncoder.encode builds on every call, built once (the same output, ~1 us less a call).
_c_encode = (
    _c_make_encoder(None, _plain, json.encoder.encode_basestring, None, ":", ",", True, False, True)
    if _c_make_encoder is not None else None
)


def _encode(value: Any) -> str:
    if _c_encode is None:  # pragma: no cover - CPython has the C encoder
        return _encoder.encode(value)
    return "".join(_c_encode(value, 0))


def _utf8(text: str) -> bytes:
    try:
        return text.encode()
    except UnicodeEncodeError:  # a lone surrogate: kept, as bytes of its own
        return text.encode("utf-8", "surrogatepass")


def _part(value: Any, sep: str) -> tuple[bytes, int]:
    """The bytes that hash one part, after its separator ``sep``, and its size in bytes (separator and tag left
    out). Text, and a message of text fields (the common case), are hashed as their UTF-8 bytes (an ASCII str
    encodes at memory speed); anything else as canonical JSON (the C encoder). The same value always takes the
    same path, so equal parts hash equal."""
    kind = type(value)
    if kind is dict:
        # One str of separator, headers and text, encoded once: an ASCII text's length in bytes is its length.
        pieces = [sep]
        for name in sorted(value):
            text = value[name]
            if type(text) is not str or type(name) is not str:
                break
            pieces.append(f"\x1f{name}\x1f{len(text) if text.isascii() else len(_utf8(text))}\x1f")
            pieces.append(text)
        else:  # every field is text
            data = _utf8("".join(pieces))
            return data, len(data) - len(sep)
    elif kind is str:
        data = _utf8(f"{sep}s{value}")
        return data, len(data) - len(sep) - 1
    elif kind is int or kind is float or kind is bool or value is None:
        data = _utf8(f"{sep}n{value!r}")
        return data, len(data) - len(sep) - 1
    data = _utf8(f"{sep}j{_encode(value)}")
    return data, len(data) - len(sep) - 1


def _given(value: Any) -> bool:
    return value is not None and type(value).__name__ not in ("NotGiven", "Omit")


def fingerprint(settings: Settings, head: tuple[Any, ...], messages: Any, params: Mapping[str, Any]) -> Fingerprints:
    """The fingerprints of a request from its canonical parts: ``head`` (tools, system: what is cached first),
    ``messages`` (a list in order, or one prompt), ``params`` (every other argument, the model included).

    One running inner hash over the request: the bytes of each part are gathered and hashed in one update per
    kept boundary, where the inner digest is taken (without disturbing the running hash); the outer hashes of
    all kept boundaries are made at the end."""
    key = _key(settings)
    inner = key.inner.copy()
    update = inner.update
    join = b"".join
    digests: list[bytes] = []
    tokens: list[int] = []
    boundaries: list[int] = []
    size = 0
    pending: list[bytes] = []  # bytes of the parts since the last kept boundary
    for part in head:
        if _given(part):
            data, length = _part(part, "\x1c")
            pending.append(data)
            size += length
    if pending:
        update(join(pending))
        pending.clear()
        digests.append(inner.digest())
        tokens.append(-(-size // BYTES_PER_TOKEN))
        boundaries.append(0)
    if _given(messages):
        items = messages if isinstance(messages, (list, tuple)) else (messages,)
        # A longer conversation keeps its first _FIRST and its last boundaries: those between are not finalized.
        offset = len(digests) - 1  # boundary index = offset + message number
        total = offset + 1 + len(items)
        gap = range(_FIRST, total - (MAX_BOUNDARIES - _FIRST)) if total > MAX_BOUNDARIES else range(0)
        for number, message in enumerate(items, 1):
            data, length = _part(message, "\x1e")
            size += length + 1
            if offset + number in gap:
                pending.append(data)
                continue
            if pending:
                pending.append(data)
                update(join(pending))
                pending.clear()
            else:
                update(data)
            digests.append(inner.digest())
            tokens.append(-(-size // BYTES_PER_TOKEN))
            boundaries.append(number)
    pending.append(b"\x1d")
    for name in sorted(params):
        value = params[name]
        if name in IGNORED_PARAMETERS or not _given(value):
            continue
        pending.append(_part(value, f"\x1f{name}")[0])
    update(join(pending))
    digests.append(inner.digest())
    hexes = key.finish(digests)
    request = hexes.pop()
    return Fingerprints(request, tuple(hexes), tuple(tokens), tuple(boundaries), key.fleet)


def origin() -> str:
    """Where the call runs: under a SERVER span (or a trace continued from elsewhere), in a local trace, or none.

    Only the current span is looked at: a SERVER span further up, under a span of the app's own, is not seen
    (that call counts as local); the advisor's offline features name such calls."""
    span = trace.get_current_span()
    context = span.get_span_context()
    if not context.is_valid:
        return ORIGIN_NONE
    kind = getattr(span, "kind", None)
    if context.is_remote or kind is SpanKind.SERVER:
        return ORIGIN_SERVER
    parent = getattr(span, "parent", None)
    if kind is SpanKind.CLIENT and parent is None:  # another instrumentation's span for this very call, at the root
        return ORIGIN_NONE
    if parent is not None and getattr(parent, "is_remote", False):
        return ORIGIN_SERVER
    return ORIGIN_LOCAL


def describe(
    settings: Settings, request: Request, head: tuple[Any, ...], messages: Any, params: Mapping[str, Any]
) -> None:
    """Set the request's origin and (unless turned off) its fingerprints; an adapter calls it once per request.
    Never raises: a failure is counted (internal_error) and the call goes on without fingerprints."""
    try:
        request.origin = origin()
        if settings.fingerprints:
            request.fingerprints = fingerprint(settings, head, messages, params)
    except Exception:
        internal_error("fingerprint")
