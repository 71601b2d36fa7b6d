"""Real recorded API responses, replayed through the real SDK clients, priced against genai-prices' own reading.

The corpus (tests/recordings/, MANIFEST.json: source repository, path, commit, sha256) is other projects' test
cassettes: responses the real APIs sent. Each POST interaction to a priced provider is replayed by the SDK method
that sends it (openai ``chat.completions`` / ``responses`` / ``embeddings``, anthropic ``beta.messages`` /
``messages``, google-genai ``generate_content`` / ``generate_content_stream``), over an httpx ``MockTransport``
that answers with the recorded status, headers and body, with LLMCostInstrumentor on. Streams are consumed fully.

The expectation is independent of our pricing fast path: genai-prices' ``extract_usage`` on the recorded
response (its provider's extractor for that API flavour) and ``ExtractedUsage.calc_price`` (the response's model,
else the requested one; the response's service tier as price context). For a stream, the response is assembled
from its events the way each API defines the final usage:
  - OpenAI chat: the last chunk that carries ``usage`` (its ``model``, ``usage``, ``service_tier``);
  - OpenAI Responses: the ``response`` of the terminal ``response.completed``/``.incomplete``/``.failed`` event;
  - Anthropic: ``message_start``'s message, its usage updated by each ``message_delta`` usage (cumulative fields);
  - Gemini: the last chunk that carries ``usageMetadata`` (running totals; it has ``modelVersion``).
Equality is exact: the span's ``gen_ai.usage.cost`` (a double) must be the double nearest the expected Decimal,
i.e. ``float(expected) == ours``.

What cannot be replayed (another endpoint, an error response, usage genai-prices cannot extract, a model it
does not know) is skipped with its reason, and counted in the summary line. Mismatches we know of are listed in
tests/recordings/expected_mismatches.txt under ``## reason`` headers: strict xfail, so a fix that makes one pass
turns the run red until its id is removed (the list only shrinks), and a new mismatch is a plain failure.
Set ``RECORDINGS_REPORT=path.json`` to write every outcome (ours, expected, usage) for diagnosis.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import re
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from functools import cache
from typing import Any
from urllib.parse import urlsplit

import pytest

import transport
from conftest import Captured, make_captured
from otel_llmcost import names
from recordings_loader import RECORDINGS, Recording, expected_mismatches, manifest, recordings

EXPECTED_FILE = RECORDINGS / "expected_mismatches.txt"
EXPECTED = expected_mismatches(EXPECTED_FILE)
ALL = recordings()
OUTCOMES: dict[str, dict[str, Any]] = {}
_STANDARD_TIERS = {"default", "auto", "standard", "on_demand", None}


# --- the independent expectation -------------------------------------------------------------------------
def sse_events(body: bytes) -> Iterator[Any]:
    """The JSON data of each server-sent event ([DONE] and non-JSON data left out)."""
    for block in re.split(r"\r?\n\r?\n", body.decode("utf-8", "replace")):
        data = "\n".join(line[5:].lstrip() for line in block.splitlines() if line.startswith("data:"))
        if data and data != "[DONE]":
            try:
                yield json.loads(data)
            except ValueError:
                continue


def final_response(rec: Recording) -> Any:
    """The response whose usage is the call's bill: the body, or for a stream the one its events add up to."""
    if not rec.stream:
        return rec.json()
    events = list(sse_events(rec.body))
    if rec.route == "openai.chat":
        with_usage = [e for e in events if isinstance(e, dict) and e.get("usage")]
        if not with_usage:
            return None
        last = with_usage[-1]
        return {"model": last.get("model"), "usage": last["usage"], "service_tier": last.get("service_tier")}
    if rec.route == "openai.responses":
        for event in reversed(events):
            if event.get("type") in ("response.completed", "response.incomplete", "response.failed"):
                return event.get("response")
        return None
    if rec.route.startswith("anthropic"):
        message: dict[str, Any] | None = None
        for event in events:
            if event.get("type") == "message_start":
                message = dict(event["message"])
                message["usage"] = dict(message.get("usage") or {})
            elif event.get("type") == "message_delta" and message is not None:
                message["usage"].update({k: v for k, v in (event.get("usage") or {}).items() if v is not None})
        return message
    if rec.route == "google":
        with_usage = [e for e in events if isinstance(e, dict) and e.get("usageMetadata")]
        return with_usage[-1] if with_usage else None
    return None


def api_flavor(rec: Recording, provider: Any) -> str:
    wanted = {
        "openai.chat": "chat",
        "openai.responses": "responses",
        "openai.embeddings": "embeddings",
    }.get(rec.route, "default")
    flavors = [e.api_flavor for e in (provider.extractors or [])]
    if wanted in flavors:
        return wanted
    if rec.route.startswith("openai") and wanted == "chat" and "default" in flavors:
        return "default"  # groq: its one extractor reads the OpenAI chat shape
    if rec.route.startswith("anthropic") and "anthropic" in flavors:
        return "anthropic"
    return wanted


def requested_model(rec: Recording) -> str | None:
    model = rec.request.get("model") if isinstance(rec.request, dict) else None
    if model:
        return str(model)
    found = re.search(r"/models/([^/:]+):", urlsplit(rec.uri).path)
    return found.group(1) if found else None


def ollama_final(rec: Recording) -> dict[str, Any] | None:
    """The Ollama response that carries the counts: the body, or a stream's last (``done``) JSON line."""
    lines = [json.loads(line) for line in rec.body.decode().splitlines() if line.strip()]
    done = [line for line in lines if line.get("done", True)]
    return done[-1] if done else None


def expected_cost(rec: Recording) -> tuple[Decimal | None, str, dict[str, Any]]:
    """(expected USD, skip reason, diagnostics) from genai-prices alone.

    Ollama is the exception: genai-prices has no self-hosted prices, and a model served by the user's own
    Ollama is a real $0 of API spend; its check is the recorded token counts (``prompt_eval_count``,
    ``eval_count``) on the span, and $0."""
    from genai_prices import data_snapshot, extract_usage

    if rec.route == "ollama":
        final = ollama_final(rec)
        if not final or "prompt_eval_count" not in final:
            return None, "Ollama response without token counts", {}
        counts = {"input_tokens": final["prompt_eval_count"], "output_tokens": final.get("eval_count", 0)}
        return Decimal(0), "", counts
    response = final_response(rec)
    if not isinstance(response, dict):
        if rec.stream and rec.route == "openai.chat":
            return None, "chat stream without usage (stream_options.include_usage not asked): nothing to price", {}
        return None, "no final usage in the recorded response", {}
    provider = next((p for p in data_snapshot.get_snapshot().providers if p.id == rec.provider_id), None)
    if provider is None:
        return None, f"provider unknown to genai-prices ({rec.provider_id})", {}
    flavor = api_flavor(rec, provider)
    try:
        extracted = extract_usage(response, provider_id=str(rec.provider_id), api_flavor=flavor)
    except Exception as exc:  # genai-prices raises ValueError/KeyError/... when the shape is not its own
        return None, f"genai-prices cannot extract usage ({rec.provider_id} {flavor}: {type(exc).__name__})", {}
    searches = ((response.get("tool_usage") or {}).get("web_search") or {}).get("num_requests")
    if rec.route == "openai.responses" and searches:
        # Response.tool_usage (beside usage, which genai-prices' extractor reads): billable web searches, priced
        # by genai-prices' own calc_price at the model's web_searches_kcount.
        extracted.usage.web_searches = searches
    usage = {k: v for k, v in vars(extracted.usage).items() if v}
    tier = response.get("service_tier")
    context: Any = {"service_tier": tier} if tier not in _STANDARD_TIERS else None
    model = extracted.model
    if model is None:
        ref = requested_model(rec)
        model = provider.find_model(ref) if ref else None
        if model is None:
            return None, f"model unknown to genai-prices ({rec.provider_id})", usage
    try:
        price = extracted.calc_price(model=model, price_context=context)
    except Exception as exc:  # a usage unit the model has no price for, a price constraint it cannot meet
        return None, f"genai-prices cannot price this usage ({type(exc).__name__})", usage
    if price.total_price == 0 and not any(v for v in vars(price.model_price).values() if not isinstance(v, dict)):
        return None, "model listed by genai-prices without a price (no cost from us, by design)", usage
    total = price.total_price
    if rec.route.startswith("anthropic"):
        extra = iterations_cost(response, provider, flavor, model, context)
        if extra is None:
            return None, "an Anthropic iteration's model is unknown to genai-prices", usage
        total += extra
    return total, "", {**usage, "model": model.id, "flavor": flavor}


def iterations_cost(response: dict[str, Any], provider: Any, flavor: str, model: Any, context: Any) -> Decimal | None:
    """What Anthropic ``usage.iterations`` bill beyond the top-level totals, by genai-prices alone: a
    ``compaction`` entry at the call's model, an ``advisor_message`` entry at its own ``model`` (both left out
    of the top-level counts; ``message`` entries are in them). None when an entry's model has no price."""
    from genai_prices import extract_usage

    extra = Decimal(0)
    for entry in (response.get("usage") or {}).get("iterations") or ():
        if entry.get("type") not in ("compaction", "advisor_message"):
            continue
        own = model
        if entry.get("type") == "advisor_message":
            own = provider.find_model(entry.get("model") or "")
            if own is None:
                return None
        part = extract_usage({"usage": entry}, provider_id=str(provider.id), api_flavor=flavor)
        extra += part.calc_price(model=own, price_context=context).total_price
    return extra


# --- replay through the real SDK clients ------------------------------------------------------------------
_CURRENT: list[Recording] = []
"""The recording the clients answer with: one client per SDK and address serves every replay (a google-genai
client costs ~0.1 s to build: an SSL context), each answering with the recording being replayed."""


def _handler(http: Any) -> Any:
    def handle(request: Any) -> Any:
        rec = _CURRENT[-1]
        return http.Response(rec.status, headers=rec.headers, content=rec.body)

    return handle


def _split(method: Any, body: dict[str, Any]) -> dict[str, Any]:
    """The recorded body as the SDK method's kwargs; fields it has no parameter for go in ``extra_body``."""
    params = inspect.signature(method).parameters
    kwargs = {k: v for k, v in body.items() if k in params and k not in ("extra_body", "extra_headers")}
    extra = {k: v for k, v in body.items() if k not in kwargs}
    if extra:
        kwargs["extra_body"] = extra
    return kwargs


@cache
def _openai_client(base: str) -> Any:
    import openai

    http = transport.for_sdk("openai")
    assert http is not None
    return openai.OpenAI(
        api_key="test-key",
        base_url=base,
        max_retries=0,
        http_client=http.Client(transport=http.MockTransport(_handler(http))),
    )


def replay_openai(rec: Recording) -> None:
    path = urlsplit(rec.uri).path
    suffix = {"openai.chat": "/chat/completions", "openai.responses": "/responses", "openai.embeddings": "/embeddings"}
    base = rec.uri.split("?", 1)[0]
    base = base[: len(base) - len(suffix[rec.route])] if path.endswith(suffix[rec.route]) else base
    client = _openai_client(base)
    method: Any = {
        "openai.chat": client.chat.completions.create,
        "openai.responses": client.responses.create,
        "openai.embeddings": client.embeddings.create,
    }[rec.route]
    result = method(**_split(method, rec.request))
    if rec.request.get("stream"):
        for _ in result:
            pass


@cache
def _anthropic_client(base: str) -> Any:
    import anthropic

    http = transport.for_sdk("anthropic")
    assert http is not None
    return anthropic.Anthropic(
        api_key="test-key",
        base_url=base,
        max_retries=0,
        http_client=http.Client(transport=http.MockTransport(_handler(http))),
    )


def replay_anthropic(rec: Recording) -> None:
    parts = urlsplit(rec.uri)
    client = _anthropic_client(f"{parts.scheme}://{parts.netloc}")
    method = client.beta.messages.create if rec.route == "anthropic.beta" else client.messages.create
    result = method(**_split(method, rec.request))
    if rec.request.get("stream"):
        for _ in result:
            pass


@cache
def _google_client(vertex: bool) -> Any:
    from google import genai

    from gemini_payloads import http as gemini_http
    from gemini_payloads import http_options, vertex_client

    handler = _handler(gemini_http)
    if vertex:
        return vertex_client(handler)
    return genai.Client(api_key="test-key", http_options=http_options(handler))


_CONFIG_KEYS = ("systemInstruction", "tools", "toolConfig", "safetySettings", "cachedContent", "labels")


def replay_google(rec: Recording) -> None:
    from google.genai import types

    path = urlsplit(rec.uri).path
    model = requested_model(rec) or ""
    client = _google_client(rec.host.endswith("aiplatform.googleapis.com"))
    body = rec.request
    config: dict[str, Any] = dict(body.get("generationConfig") or {})
    config.update({k: body[k] for k in _CONFIG_KEYS if k in body})
    contents = body.get("contents") or "(recorded)"
    try:
        parsed = types.GenerateContentConfig.model_validate(config) if config else None
    except Exception:
        parsed = None  # a field this google-genai release does not know: the response is what we price
    if path.endswith(":streamGenerateContent"):
        for _ in client.models.generate_content_stream(model=model, contents=contents, config=parsed):
            pass
    else:
        client.models.generate_content(model=model, contents=contents, config=parsed)


def replay_ollama(rec: Recording) -> None:
    import httpx
    import ollama

    parts = urlsplit(rec.uri)
    client = ollama.Client(host=f"{parts.scheme}://{parts.netloc}", transport=httpx.MockTransport(_handler(httpx)))
    body = dict(rec.request)
    kind = parts.path.rsplit("/", 1)[-1]
    method: Any = {"chat": client.chat, "generate": client.generate, "embed": client.embed}[kind]
    allowed = inspect.signature(method).parameters
    result = method(**{k: v for k, v in body.items() if k in allowed and v not in (None, "")})
    if body.get("stream"):
        for _ in result:
            pass


def replay(rec: Recording) -> None:
    _CURRENT[:] = [rec]
    if rec.route == "ollama":
        replay_ollama(rec)
    elif rec.route.startswith("openai"):
        replay_openai(rec)
    elif rec.route.startswith("anthropic"):
        replay_anthropic(rec)
    else:
        replay_google(rec)


# --- the tests --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def instrumented(request: pytest.FixtureRequest) -> Iterator[Captured]:
    cap = make_captured()
    try:
        yield cap
    finally:
        cap.instrumentor.uninstrument()
        cap.meter_provider.shutdown()
        cap.tracer_provider.shutdown()
        _summarize(request.config)


def _summarize(config: pytest.Config) -> None:
    kinds = Counter(o["result"] for o in OUTCOMES.values())
    skipped = Counter(o["skip"] for o in OUTCOMES.values() if o["result"] == "skipped")
    mismatched = Counter(EXPECTED.get(i, "NEW") for i, o in OUTCOMES.items() if o["result"] == "mismatch")
    ours_sum: dict[str, Decimal] = {}
    expected_sum: dict[str, Decimal] = {}
    worst: dict[str, tuple[Decimal, str]] = {}
    for i, o in OUTCOMES.items():
        if o["result"] == "mismatch":
            why = EXPECTED.get(i, "NEW")
            ours, expected = Decimal(str(o["ours"] or 0)), Decimal(o["expected"])
            ours_sum[why] = ours_sum.get(why, Decimal(0)) + ours
            expected_sum[why] = expected_sum.get(why, Decimal(0)) + expected
            gap = abs(expected - ours)
            if why not in worst or gap > worst[why][0]:
                model = o["usage"].get("model", "?")
                worst[why] = (gap, f"worst {model}: ours ${ours} vs ${expected} ({i.rsplit('/', 1)[-1]})")
    lines = [
        f"recorded costs: {len(ALL)} interactions in {len(manifest())} cassettes; replayed "
        f"{kinds['match'] + kinds['mismatch']}, match {kinds['match']}, mismatch {kinds['mismatch']}, "
        f"skipped {kinds['skipped']}",
        *(f"  skipped {n:4d}  {why}" for why, n in sorted(skipped.items(), key=lambda x: -x[1])),
        *(
            f"  mismatch {n:3d}  ours ${ours_sum[why]} vs expected ${expected_sum[why]}: {why[:90]}\n"
            f"                {worst[why][1]}"
            for why, n in sorted(mismatched.items(), key=lambda x: -x[1])
        ),
    ]
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():  # a fixture's teardown output is captured otherwise
            reporter.write_line("")
            for line in lines:
                reporter.write_line(line)
    report = os.environ.get("RECORDINGS_REPORT")
    if report:
        with open(report, "w", encoding="utf-8") as out:
            json.dump(OUTCOMES, out, indent=1, default=str)


def _params() -> list[Any]:
    params = []
    for rec in ALL:
        marks = [pytest.mark.xfail(strict=True, reason=EXPECTED[rec.id])] if rec.id in EXPECTED else []
        params.append(pytest.param(rec, id=rec.id, marks=marks))
    return params


@pytest.mark.parametrize("rec", _params())
def test_recorded_cost(rec: Recording, instrumented: Captured) -> None:
    outcome: dict[str, Any] = {"result": "skipped", "skip": rec.skip, "route": rec.route, "stream": rec.stream}
    OUTCOMES[rec.id] = outcome
    if rec.skip:
        pytest.skip(rec.skip)
    expected, why, usage = expected_cost(rec)
    outcome.update(skip=why, usage=usage, expected=expected, provider=rec.provider_id)
    if expected is None:
        pytest.skip(why)
    instrumented.exporter.clear()
    replay(rec)
    spans = instrumented.client_spans()
    assert len(spans) == 1, [s.name for s in spans]
    attrs = dict(spans[0].attributes or {})
    ours = attrs.get(names.GEN_AI_USAGE_COST)
    outcome.update(
        result="match" if ours == float(expected) else "mismatch",
        ours=ours,
        unavailable=attrs.get(names.LLMCOST_USAGE_UNAVAILABLE_REASON),
        span_model=attrs.get(names.GEN_AI_RESPONSE_MODEL) or attrs.get(names.GEN_AI_REQUEST_MODEL),
    )
    if rec.route == "ollama":  # the recorded counts, and a real $0
        outcome["result"] = (
            "match"
            if ours == 0
            and (attrs.get(names.GEN_AI_USAGE_INPUT_TOKENS), attrs.get(names.GEN_AI_USAGE_OUTPUT_TOKENS))
            == (usage["input_tokens"], usage["output_tokens"])
            else "mismatch"
        )
        assert attrs.get(names.GEN_AI_USAGE_INPUT_TOKENS) == usage["input_tokens"]
        assert attrs.get(names.GEN_AI_USAGE_OUTPUT_TOKENS) == usage["output_tokens"]
    assert ours == float(expected), f"ours {ours} != expected {expected} ({usage})"


def test_manifest_matches_the_copies() -> None:
    """Every copy is the one the manifest describes (sha256), with its source, and nothing else is there."""
    listed = set()
    for entry in manifest():
        path = RECORDINGS / entry["file"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"], entry["file"]
        assert entry["repo"] and entry["path"] and re.fullmatch(r"[0-9a-f]{40}", entry["commit"])
        listed.add(path)
    on_disk = {p for p in RECORDINGS.rglob("*.yaml")}
    assert on_disk == listed


def test_no_credentials_in_the_copies() -> None:
    secret_headers = re.compile(
        r"^\s*(authorization|x-api-key|api-key|x-goog-api-key|cookie|set-cookie|openai-organization|openai-project)\s*:\s*(?!REDACTED)\S",
        re.IGNORECASE | re.MULTILINE,
    )
    for entry in manifest():
        text = (RECORDINGS / entry["file"]).read_text(encoding="utf-8")
        assert not secret_headers.search(text), entry["file"]
        assert not re.search(r"[?&]key=(?!REDACTED)", text), entry["file"]


def test_expected_mismatches_name_replayed_interactions() -> None:
    """The list cannot go stale: each id is a recorded interaction that is replayed (not skipped)."""
    by_id = {r.id: r for r in ALL}
    unknown = sorted(i for i in EXPECTED if i not in by_id or by_id[i].skip)
    assert not unknown, unknown[:5]
