"""Every public name this package emits or reads: span attributes, metrics, units, env vars.

Names are an API. Dashboards, alert rules, the README tables and the tests all read them from here,
so a rename is one edit and a test fails wherever an old name is still used. Knows nothing else.
"""

from __future__ import annotations

import re
from typing import Final

INSTRUMENTATION_SCOPE: Final = "otel_llmcost"

# --- GenAI semantic conventions (span and metric attributes) -------------------------------------
GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_REQUEST_MAX_TOKENS: Final = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_TEMPERATURE: Final = "gen_ai.request.temperature"
GEN_AI_REQUEST_TOP_P: Final = "gen_ai.request.top_p"
GEN_AI_REQUEST_STREAM: Final = "gen_ai.request.stream"
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
GEN_AI_RESPONSE_ID: Final = "gen_ai.response.id"
GEN_AI_RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: Final = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: Final = "gen_ai.usage.cache_write.input_tokens"
GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: Final = "gen_ai.usage.reasoning.output_tokens"
GEN_AI_TOKEN_TYPE: Final = "gen_ai.token.type"
# On llmcost.tokens: text | image | audio | video as the API reported it, unknown where it reported none.
GEN_AI_TOKEN_MODALITY: Final = "gen_ai.token.modality"
GEN_AI_INPUT_MESSAGES: Final = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES: Final = "gen_ai.output.messages"
GEN_AI_SYSTEM_INSTRUCTIONS: Final = "gen_ai.system_instructions"
OPENAI_REQUEST_SERVICE_TIER: Final = "openai.request.service_tier"
OPENAI_RESPONSE_SERVICE_TIER: Final = "openai.response.service_tier"
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
ERROR_TYPE: Final = "error.type"
# Recommended request/response attributes and content (issue 22), when the call has them.
GEN_AI_REQUEST_SEED: Final = "gen_ai.request.seed"
GEN_AI_REQUEST_STOP_SEQUENCES: Final = "gen_ai.request.stop_sequences"
GEN_AI_REQUEST_CHOICE_COUNT: Final = "gen_ai.request.choice.count"
GEN_AI_REQUEST_TOP_K: Final = "gen_ai.request.top_k"
GEN_AI_REQUEST_FREQUENCY_PENALTY: Final = "gen_ai.request.frequency_penalty"
GEN_AI_REQUEST_PRESENCE_PENALTY: Final = "gen_ai.request.presence_penalty"
GEN_AI_REQUEST_ENCODING_FORMATS: Final = "gen_ai.request.encoding_formats"
GEN_AI_OUTPUT_TYPE: Final = "gen_ai.output.type"
GEN_AI_EMBEDDINGS_DIMENSION_COUNT: Final = "gen_ai.embeddings.dimension.count"
GEN_AI_TOOL_DEFINITIONS: Final = "gen_ai.tool.definitions"
OPENAI_RESPONSE_SYSTEM_FINGERPRINT: Final = "openai.response.system_fingerprint"
# The log event carrying a call's content in the EVENT_ONLY / SPAN_AND_EVENT capture modes.
GEN_AI_INFERENCE_DETAILS_EVENT: Final = "gen_ai.client.inference.operation.details"
# HTTP semconv, on a span of ours that stands in for anthropic's own (which has them).
HTTP_REQUEST_METHOD: Final = "http.request.method"
HTTP_ROUTE: Final = "http.route"
HTTP_RESPONSE_STATUS_CODE: Final = "http.response.status_code"
HTTP_REQUEST_RESEND_COUNT: Final = "http.request.resend_count"

# Total USD cost of the call: the name OpenLIT emits and Langfuse reads as a span's cost.
GEN_AI_USAGE_COST: Final = "gen_ai.usage.cost"

# --- Our own span attributes ----------------------------------------------------------------------
LLMCOST_COST_INPUT: Final = "llmcost.cost.input"
LLMCOST_COST_OUTPUT: Final = "llmcost.cost.output"
LLMCOST_COST_CACHE_READ: Final = "llmcost.cost.cache_read"
LLMCOST_COST_CACHE_WRITE: Final = "llmcost.cost.cache_write"
LLMCOST_PRICE_SOURCE: Final = "llmcost.price.source"
LLMCOST_SAVINGS_CACHE: Final = "llmcost.savings.cache"
LLMCOST_SAVINGS_BATCH: Final = "llmcost.savings.batch"
LLMCOST_USAGE_AVAILABLE: Final = "llmcost.usage.available"
LLMCOST_USAGE_UNAVAILABLE_REASON: Final = "llmcost.usage.unavailable_reason"
LLMCOST_CACHE_WRITE_5M_TOKENS: Final = "llmcost.usage.cache_write.5m_tokens"
LLMCOST_CACHE_WRITE_1H_TOKENS: Final = "llmcost.usage.cache_write.1h_tokens"
# Every other priced unit a call reported, one span attribute each: this prefix + genai-prices' usage key
# (llmcost.usage.input_audio_tokens, llmcost.usage.web_searches, llmcost.usage.cache_write_30m_tokens).
LLMCOST_USAGE_UNIT_PREFIX: Final = "llmcost.usage."
# The cost of every other priced unit, one span attribute each: this prefix + its cost component
# (llmcost.cost.input_audio, llmcost.cost.output_image, llmcost.cost.web_search), the component also being the
# llmcost.cost.component value of the llmcost.cost metric.
LLMCOST_COST_UNIT_PREFIX: Final = "llmcost.cost."
LLMCOST_SERVICE_TIER: Final = "llmcost.service_tier"
LLMCOST_BATCH: Final = "llmcost.batch"
LLMCOST_BATCH_ID: Final = "llmcost.batch.id"
GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: Final = "gen_ai.response.time_to_first_chunk"  # semconv; anthropic sets it too
LLMCOST_STREAM_USAGE_INJECTED: Final = "llmcost.stream.usage_injected"
LLMCOST_WEB_SEARCH_REQUESTS: Final = "llmcost.usage.web_search_requests"
LLMCOST_WEB_FETCH_REQUESTS: Final = "llmcost.usage.web_fetch_requests"
# Local models (issue 7): the internal hardware cost of a self-hosted call (never part of gen_ai.usage.cost)
# and the server-reported time it took (Ollama's total_duration), in seconds.
LLMCOST_COST_HARDWARE: Final = "llmcost.cost.hardware"
LLMCOST_SERVER_DURATION: Final = "llmcost.server.duration"
# What anthropic 2.x sets on its own count_tokens span; our span carries the same when the SDK makes none.
ANTHROPIC_COUNT_TOKENS_INPUT_TOKENS: Final = "anthropic.message.count_tokens.input_tokens"
ANTHROPIC_MESSAGE_STOP_REASON: Final = "anthropic.message.stop_reason"
ANTHROPIC_RESPONSE_SERVICE_TIER: Final = "anthropic.response.service_tier"
ANTHROPIC_CACHE_WRITE_5M_TOKENS: Final = "anthropic.usage.cache_creation.ephemeral_5m_input_tokens"
ANTHROPIC_CACHE_WRITE_1H_TOKENS: Final = "anthropic.usage.cache_creation.ephemeral_1h_input_tokens"
# The response headers anthropic's span records, by attribute (its table wins where the SDK has one).
ANTHROPIC_RESPONSE_HEADERS: Final = {
    "anthropic.request.id": "request-id",
    "anthropic.organization.id": "anthropic-organization-id",
    "anthropic.workspace.id": "anthropic-workspace-id",
}

# Fingerprints (issue 20): keyed hashes of the request, never content, never a metric label.
LLMCOST_REQUEST_FINGERPRINT: Final = "llmcost.request.fingerprint"
LLMCOST_REQUEST_PREFIX_FINGERPRINTS: Final = "llmcost.request.prefix_fingerprints"
LLMCOST_REQUEST_PREFIX_TOKENS: Final = "llmcost.request.prefix_tokens"
LLMCOST_REQUEST_PREFIX_BOUNDARIES: Final = "llmcost.request.prefix_boundaries"
"""Where each prefix ends: 0 after system instructions and tools, n after the n-th message."""
LLMCOST_REQUEST_ORIGIN: Final = "llmcost.request.origin"
"""server (under a SERVER span or a propagated trace), local (a trace of this process), none (no trace)."""

# Attribution (issue 4): on every span; on metrics only when allow-listed, values capped per process.
LLMCOST_FEATURE: Final = "llmcost.feature"
LLMCOST_TEAM: Final = "llmcost.team"
USER_ID: Final = "user.id"
# Budgets (issue 4): the budget a span event / metric point is about.
LLMCOST_BUDGET_NAME: Final = "llmcost.budget.name"
LLMCOST_BUDGET_THRESHOLD: Final = "llmcost.budget.threshold"
# On a budget's span event: the spend (settled, in the current period) and limit when it fired, in USD.
LLMCOST_BUDGET_SPEND_USD: Final = "llmcost.budget.spend_usd"
LLMCOST_BUDGET_LIMIT_USD: Final = "llmcost.budget.limit_usd"
# Span event of a warning threshold crossed (once per threshold per period).
LLMCOST_BUDGET_THRESHOLD_EVENT: Final = "llmcost.budget.threshold_crossed"
# Metric attribute of llmcost.attribution.folded: the attribution key whose value was folded.
LLMCOST_ATTRIBUTION_KEY: Final = "llmcost.attribution.key"

# Roll-ups (issue 18): running totals of the LLM calls under an open local root span (an HTTP request, a task,
# any span the app starts) and under each invoke_agent / invoke_workflow span, written while it is open.
LLMCOST_ROLLUP_COST: Final = "llmcost.rollup.cost"
LLMCOST_ROLLUP_CALLS: Final = "llmcost.rollup.calls"
LLMCOST_ROLLUP_UNPRICED_CALLS: Final = "llmcost.rollup.unpriced_calls"
LLMCOST_ROLLUP_INPUT_TOKENS: Final = "llmcost.rollup.input_tokens"
LLMCOST_ROLLUP_OUTPUT_TOKENS: Final = "llmcost.rollup.output_tokens"
LLMCOST_ROLLUP_CACHE_READ_TOKENS: Final = "llmcost.rollup.cache_read_tokens"
LLMCOST_ROLLUP_CACHE_WRITE_TOKENS: Final = "llmcost.rollup.cache_write_tokens"
LLMCOST_ROLLUP_REASONING_TOKENS: Final = "llmcost.rollup.reasoning_tokens"
# The bounded operation label of the per-request histograms: the root's http.route template, else its span name.
LLMCOST_OPERATION: Final = "llmcost.operation"
# gen_ai.operation.name values of the spans that get agent roll-ups.
AGENT_OPERATIONS: Final = ("invoke_agent", "invoke_workflow")
# GenAI semconv: the conversation (thread, session) a call belongs to; on spans and the ledger, never on metrics.
GEN_AI_CONVERSATION_ID: Final = "gen_ai.conversation.id"
# One expensive call (issue 18): the span event and its threshold attribute.
LLMCOST_EXPENSIVE_REQUEST_EVENT: Final = "llmcost.expensive_request"
LLMCOST_EXPENSIVE_THRESHOLD_USD: Final = "llmcost.expensive_request.threshold_usd"

# Values of llmcost.price.source
PRICE_SOURCE_BUNDLED: Final = "genai-prices"
PRICE_SOURCE_OVERRIDE: Final = "override"
PRICE_SOURCE_LOCAL: Final = "local"
PRICE_SOURCE_UNKNOWN: Final = "unknown"
PRICE_SOURCE_PROVIDER: Final = "provider"
"""The call's cost is what the provider's response said (we could not price it): ``provider:<field>``."""

# Provider-reported cost (issue 16): what the response says the call cost (OpenRouter usage.cost, xAI
# usage.cost_in_usd_ticks), beside ours, and the response field it came from.
LLMCOST_COST_PROVIDER: Final = "llmcost.cost.provider"
LLMCOST_COST_PROVIDER_SOURCE: Final = "llmcost.cost.provider.source"
# Metric attribute of llmcost.cost.provider.difference: ours "over" / "under" the provider's, or "equal".
LLMCOST_COST_PROVIDER_DIRECTION: Final = "llmcost.cost.provider.direction"
# Where it ran (issue 16): the price multiplier a call's endpoint or reported region implies (data residency,
# US-only inference, regional endpoints), by name, and its factor.
LLMCOST_PRICE_MULTIPLIER: Final = "llmcost.price.multiplier"
LLMCOST_PRICE_MULTIPLIER_NAME: Final = "llmcost.price.multiplier.name"

# --- Metric attributes of our own -----------------------------------------------------------------
# Reconciliation: where a spend figure comes from, the UTC day it covers (YYYY-MM-DD) and whether the provider
# has closed that day (its report no longer changes).
LLMCOST_COST_SOURCE: Final = "llmcost.cost.source"
LLMCOST_DAY: Final = "llmcost.day"
LLMCOST_DAY_CLOSED: Final = "llmcost.day.closed"
COST_SOURCE_BILLED: Final = "billed"
COST_SOURCE_COMPUTED: Final = "computed"
LLMCOST_COST_COMPONENT: Final = "llmcost.cost.component"
LLMCOST_SAVINGS_KIND: Final = "llmcost.savings.kind"
LLMCOST_STAGE: Final = "llmcost.stage"

COST_COMPONENTS: Final = ("input", "output", "cache_read", "cache_write")
TOKEN_TYPES: Final = ("input", "output", "cache_read", "cache_write", "reasoning")
SAVINGS_KINDS: Final = ("cache", "batch")
# Metric attribute of llmcost.savings.potential (otel-llmcost advise --serve): the kind of opportunity.
LLMCOST_OPPORTUNITY: Final = "llmcost.opportunity"
OPPORTUNITY_KINDS: Final = (
    "prompt_cache", "cache_write_unread", "cache_ttl", "response_cache", "batch", "model_ladder", "max_tokens",
    "growing_context",
)

# --- Metrics --------------------------------------------------------------------------------------
METRIC_TOKEN_USAGE: Final = "gen_ai.client.token.usage"
METRIC_OPERATION_DURATION: Final = "gen_ai.client.operation.duration"
METRIC_TIME_TO_FIRST_CHUNK: Final = "gen_ai.client.operation.time_to_first_chunk"
METRIC_COST: Final = "llmcost.cost"
METRIC_TOKENS: Final = "llmcost.tokens"
METRIC_SAVINGS: Final = "llmcost.savings"
METRIC_REQUEST_COST: Final = "llmcost.request.cost"
METRIC_UNPRICED: Final = "llmcost.requests.unpriced"
# Every call, failed ones included (error.type): a counter born at 0, so dashboards count a new series' first call.
METRIC_REQUESTS: Final = "llmcost.requests"
METRIC_INSTRUMENTATION_ERRORS: Final = "llmcost.instrumentation.errors"
# Internal cost of self-hosted calls at the user's hardware rate: its own counter, so API spend totals
# (llmcost.cost) and budgets never include it.
METRIC_HARDWARE_COST: Final = "llmcost.hardware.cost"
# Attribution values past the per-key cap, folded into OVERFLOW_VALUE (by attribute key).
METRIC_ATTRIBUTION_FOLDED: Final = "llmcost.attribution.folded"
# Budget state (observable gauges) and events (counters), all by llmcost.budget.name.
METRIC_BUDGET_SPEND: Final = "llmcost.budget.spend"
METRIC_BUDGET_LIMIT: Final = "llmcost.budget.limit"
METRIC_BUDGET_REMAINING: Final = "llmcost.budget.remaining"
METRIC_BUDGET_THRESHOLD_CROSSINGS: Final = "llmcost.budget.threshold_crossings"
METRIC_BUDGET_BLOCKED: Final = "llmcost.budget.blocked"
# Roll-ups (issue 18): per local root span with at least one LLM call under it, by llmcost.operation and the
# allow-listed attribution keys; calls that ended after their root had ended (counted here, not in a root).
METRIC_OPERATION_COST: Final = "llmcost.operation.cost"
METRIC_OPERATION_CALLS: Final = "llmcost.operation.calls"
METRIC_ROLLUP_LATE_CALLS: Final = "llmcost.rollup.late_calls"
# Budget store failures (unreachable, timed out), by llmcost.stage (reserve, settle, read, mark).
METRIC_BUDGET_STORE_ERRORS: Final = "llmcost.budget.store_errors"
# Per-member (wildcard) budgets, by llmcost.budget.name only (never a series per member): members whose spend
# reached the budget's lowest threshold this period (gauge), and members the memory store forgot past its cap.
METRIC_BUDGET_MEMBERS_OVER_THRESHOLD: Final = "llmcost.budget.members_over_threshold"
METRIC_BUDGET_MEMBERS_EVICTED: Final = "llmcost.budget.members_evicted"
# Reconciliation (issue 17), gauges of ``otel-llmcost reconcile --serve``: spend per provider, UTC day and model,
# as the provider billed it and as we computed it (llmcost.cost.source says which), and the drift of each
# closed day, (computed - billed) / billed. Never emitted by the instrumentation itself.
METRIC_RECONCILE_COST: Final = "llmcost.reconcile.cost"
METRIC_RECONCILE_DRIFT: Final = "llmcost.reconcile.drift"
METRIC_RECONCILE_UNEXPLAINED: Final = "llmcost.reconcile.unexplained"
METRIC_RECONCILE_LAST_SUCCESS: Final = "llmcost.reconcile.last_success"

# Estimated USD per month the advisor finds could be saved, by llmcost.opportunity (a gauge of advise --serve).
METRIC_SAVINGS_POTENTIAL: Final = "llmcost.savings.potential"
# |our cost - the provider-reported cost| of calls where both exist, by llmcost.cost.provider.direction.
METRIC_PROVIDER_COST_DIFFERENCE: Final = "llmcost.cost.provider.difference"

UNIT_TOKEN: Final = "{token}"
UNIT_SECONDS: Final = "s"
UNIT_USD: Final = "USD"
UNIT_REQUEST: Final = "{request}"
UNIT_ERROR: Final = "{error}"
UNIT_VALUE: Final = "{value}"
UNIT_MEMBER: Final = "{member}"
UNIT_EVENT: Final = "{event}"
UNIT_RATIO: Final = "1"

# --- OTEL_SEMCONV_STABILITY_OPT_IN (issue 22): which GenAI names the instrumentation emits ------------------
# The variable is OpenTelemetry's: a comma-separated list of tokens, read once; tokens for other signals (http,
# database...) are ignored, as OpenTelemetry does. Ours: none of the gen_ai ones = SEMCONV_DEFAULT.
ENV_SEMCONV_STABILITY_OPT_IN: Final = "OTEL_SEMCONV_STABILITY_OPT_IN"
SEMCONV_DEFAULT: Final = "default"
"""What the released conventions (opentelemetry-semantic-conventions 0.66b1) and today's official GenAI
instrumentations (util-genai 1.3b0: openai-v2, anthropic) emit. See the README's "Names" for the choice."""
SEMCONV_LATEST: Final = "gen_ai_latest_experimental"
"""The newest names of semantic-conventions-genai main (SEMCONV_GENAI_COMMIT) and the cost proposal."""
SEMCONV_LATEST_DUP: Final = "gen_ai_latest_experimental/dup"
"""Both sets at once (a migration: dashboards and alerts keep working while they move)."""
SEMCONV_MODES: Final = (SEMCONV_DEFAULT, SEMCONV_LATEST, SEMCONV_LATEST_DUP)
SEMCONV_GENAI_REPO: Final = "open-telemetry/semantic-conventions-genai"
SEMCONV_GENAI_COMMIT: Final = "9b2ce3b4e6b351a44025a289eefc1a6f6108a938"
"""The commit of semantic-conventions-genai main whose model/gen-ai/token-metrics.yaml the latest names were
read from (metrics.yaml: #521, the inference metrics; the cost attributes: proposal PR #443, unmerged)."""

# Latest names (semantic-conventions-genai main). Inference operations (chat, text_completion,
# generate_content) move to gen_ai.client.inference.*; other operations (embeddings) keep the
# gen_ai.client.operation.* names, as main does.
INFERENCE_OPERATIONS: Final = frozenset({"chat", "text_completion", "generate_content"})
METRIC_INFERENCE_DURATION: Final = "gen_ai.client.inference.duration"
METRIC_INFERENCE_TIME_TO_FIRST_CHUNK: Final = "gen_ai.client.inference.time_to_first_chunk"
METRIC_INFERENCE_OPERATION_INPUT_TOKENS: Final = "gen_ai.client.inference.operation.input_tokens"
METRIC_INFERENCE_OPERATION_OUTPUT_TOKENS: Final = "gen_ai.client.inference.operation.output_tokens"
METRIC_INFERENCE_USAGE_INPUT_TOKENS: Final = "gen_ai.client.inference.usage.input_tokens"
METRIC_INFERENCE_USAGE_OUTPUT_TOKENS: Final = "gen_ai.client.inference.usage.output_tokens"
METRIC_INFERENCE_USAGE_CACHE_READ_TOKENS: Final = "gen_ai.client.inference.usage.cache_read.input_tokens"
METRIC_INFERENCE_USAGE_CACHE_WRITE_TOKENS: Final = "gen_ai.client.inference.usage.cache_write.input_tokens"
METRIC_INFERENCE_USAGE_REASONING_TOKENS: Final = "gen_ai.client.inference.usage.reasoning.output_tokens"
# The usage counters by token type (our Usage fields' names), in the order they are recorded.
INFERENCE_USAGE_COUNTERS: Final = (
    ("input", METRIC_INFERENCE_USAGE_INPUT_TOKENS),
    ("output", METRIC_INFERENCE_USAGE_OUTPUT_TOKENS),
    ("cache_read", METRIC_INFERENCE_USAGE_CACHE_READ_TOKENS),
    ("cache_write", METRIC_INFERENCE_USAGE_CACHE_WRITE_TOKENS),
    ("reasoning", METRIC_INFERENCE_USAGE_REASONING_TOKENS),
)
TOKEN_MODALITY_UNKNOWN: Final = "unknown"
"""The modality of every count we record: providers report totals over all modalities, so no count is known
to be text only (a per-modality split would need the providers' details; Gemini has them)."""
# Cost attributes as proposal #443 names them.
GEN_AI_USAGE_COST_AMOUNT: Final = "gen_ai.usage.cost.amount"
GEN_AI_USAGE_COST_CURRENCY: Final = "gen_ai.usage.cost.currency"
GEN_AI_USAGE_COST_SOURCE: Final = "gen_ai.usage.cost.source"
COST_CURRENCY: Final = "USD"
COST_SOURCE_PROVIDER: Final = "provider"
"""gen_ai.usage.cost.source when the response carried the cost (a Cost whose source starts with "provider")."""
COST_SOURCE_LOCAL: Final = "local"
"""gen_ai.usage.cost.source when we priced the call from price data (genai-prices, an override file)."""

# The names each mode emits where the modes differ (the README's names table is checked against these).
SEMCONV_SPAN_ATTRIBUTES: Final = {
    SEMCONV_DEFAULT: (GEN_AI_USAGE_COST,),
    SEMCONV_LATEST: (GEN_AI_USAGE_COST_AMOUNT, GEN_AI_USAGE_COST_CURRENCY, GEN_AI_USAGE_COST_SOURCE),
}
SEMCONV_METRICS: Final = {
    SEMCONV_DEFAULT: (
        (METRIC_TOKEN_USAGE, UNIT_TOKEN, "histogram"),
        (METRIC_OPERATION_DURATION, UNIT_SECONDS, "histogram"),
        (METRIC_TIME_TO_FIRST_CHUNK, UNIT_SECONDS, "histogram"),
    ),
    SEMCONV_LATEST: (
        (METRIC_INFERENCE_DURATION, UNIT_SECONDS, "histogram"),
        (METRIC_INFERENCE_TIME_TO_FIRST_CHUNK, UNIT_SECONDS, "histogram"),
        (METRIC_INFERENCE_OPERATION_INPUT_TOKENS, UNIT_TOKEN, "histogram"),
        (METRIC_INFERENCE_OPERATION_OUTPUT_TOKENS, UNIT_TOKEN, "histogram"),
        *((name, UNIT_TOKEN, "counter") for _, name in INFERENCE_USAGE_COUNTERS),
    ),
}
"""(metric, unit, kind) of the semconv metrics each mode emits for inference calls; /dup emits both. Embeddings
keep gen_ai.client.operation.duration and gen_ai.client.token.usage in every mode (main moved inference only)."""
# --- end OTEL_SEMCONV_STABILITY_OPT_IN ----------------------------------------------------------------------


# Bucket boundaries given by the GenAI semantic conventions.
TOKEN_USAGE_BUCKETS: Final = (
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
)
DURATION_BUCKETS: Final = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)
TIME_TO_FIRST_CHUNK_BUCKETS: Final = DURATION_BUCKETS
# Per-request cost in USD; a boundary at each alert threshold lets PromQL count requests above it.
REQUEST_COST_BUCKETS: Final = (
    0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0,
)
# LLM calls per request of the app (llmcost.operation.calls).
OPERATION_CALLS_BUCKETS: Final = (1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 50, 100)

# Value that replaces a model name once the per-process cap of distinct models is reached.
OVERFLOW_VALUE: Final = "other"


def prometheus_name(metric: str, unit: str, kind: str) -> str:
    """The series name Prometheus stores for an OTel metric (dots to underscores, unit and type suffixes).

    kind is "counter", "histogram" or "gauge". Units in braces add nothing, "s" adds "_seconds", "1" "_ratio",
    other units are kept as written; monotonic counters end in "_total".
    """
    name = metric.replace(".", "_")
    if unit == "s":
        name += "_seconds"
    elif unit == "1":
        name += "_ratio"
    elif unit and not unit.startswith("{"):
        name += "_" + unit
    if kind == "counter":
        name += "_total"
    return name


_NOT_IN_LABEL = re.compile(r"[^a-zA-Z0-9_]")


def prometheus_label(attribute: str) -> str:
    """The label Prometheus stores an OpenTelemetry attribute under, as its OTLP translation (and the collector's
    exporter) writes it: every character outside ``[a-zA-Z0-9_]`` becomes ``_`` (``gen_ai.request.model`` ->
    ``gen_ai_request_model``). The one function the report, the dashboards and the alert rules use."""
    return _NOT_IN_LABEL.sub("_", attribute)


# --- Environment variables ------------------------------------------------------------------------
ENV_CAPTURE_CONTENT: Final = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
ENV_PRICE_FILE: Final = "OTEL_LLMCOST_PRICE_FILE"
ENV_INJECT_STREAM_USAGE: Final = "OTEL_LLMCOST_INJECT_STREAM_USAGE"
ENV_REQUEST_COST_BUCKETS: Final = "OTEL_LLMCOST_REQUEST_COST_BUCKETS"
ENV_MAX_MODELS: Final = "OTEL_LLMCOST_MAX_MODELS"
ENV_MODEL_ALIASES: Final = "OTEL_LLMCOST_MODEL_ALIASES"
ENV_PROVIDER_HOSTS: Final = "OTEL_LLMCOST_PROVIDER_HOSTS"
ENV_CONTENT_MAX_LENGTH: Final = "OTEL_LLMCOST_CONTENT_MAX_LENGTH"
# Which span carries a call (issue 22): our own CLIENT span, or, beside OpenTelemetry's GenAI instrumentations
# (opentelemetry-util-genai), theirs: our cost, cache and attribution attributes go onto it (inference_context.py).
ENV_SPAN: Final = "OTEL_LLMCOST_SPAN"
SPAN_OWN: Final = "own"
SPAN_ANNOTATE: Final = "annotate"
SPAN_MODES: Final = (SPAN_OWN, SPAN_ANNOTATE)
OURS_BESIDE_CONVENTIONS: Final = (
    "llmcost.", GEN_AI_USAGE_COST, "gen_ai.usage.cache_", "anthropic.usage.cache_creation."
)
"""Prefixes of the span attributes a call writes onto another instrumentation's span in annotate mode: ours, the
cost (gen_ai.usage.cost, or the proposal's .amount/.currency/.source), the cache counts (Anthropic's by TTL too)."""
UTIL_GENAI_INFERENCE_CONTEXT_KEY: Final = "opentelemetry.genai.client.inference.context"
"""util-genai's context key (CLIENT_INFERENCE_CONTEXT_KEY, opentelemetry-util-genai 1.3b0): set while one of its
inference spans is open, to an ``InferenceData`` whose ``attributes`` that span takes when it ends; an inference
begun under it makes no span of its own and publishes into it."""
UTIL_GENAI_EMBEDDING_CONTEXT_KEY: Final = "opentelemetry.genai.client.embedding.context"
"""The same for embeddings (CLIENT_EMBEDDING_CONTEXT_KEY, ``EmbeddingData``)."""
# Models the user declares self-hosted ($0 API spend) wherever they are served (issue 16).
ENV_LOCAL_MODELS: Final = "OTEL_LLMCOST_LOCAL_MODELS"
# Hardware rate of self-hosted models (Ollama, local OpenAI-compatible servers): set one of the two.
ENV_HARDWARE_USD_PER_GPU_HOUR: Final = "OTEL_LLMCOST_HARDWARE_USD_PER_GPU_HOUR"
ENV_HARDWARE_USD_PER_MTOK: Final = "OTEL_LLMCOST_HARDWARE_USD_PER_MTOK"
# Attribution on metrics (issue 4).
ENV_METRIC_ATTRIBUTES: Final = "OTEL_LLMCOST_METRIC_ATTRIBUTES"
ENV_MAX_ATTRIBUTE_VALUES: Final = "OTEL_LLMCOST_MAX_ATTRIBUTE_VALUES"
# Budgets (issue 4).
ENV_BUDGET_FILE: Final = "OTEL_LLMCOST_BUDGET_FILE"
ENV_BUDGET_STORE: Final = "OTEL_LLMCOST_BUDGET_STORE"
ENV_BUDGET_STORE_FAILURE: Final = "OTEL_LLMCOST_BUDGET_STORE_FAILURE"
ENV_BUDGET_STORE_TIMEOUT: Final = "OTEL_LLMCOST_BUDGET_STORE_TIMEOUT"
ENV_BUDGET_DEFAULT_MAX_TOKENS: Final = "OTEL_LLMCOST_BUDGET_DEFAULT_MAX_TOKENS"
ENV_BUDGET_RESERVATION_TTL: Final = "OTEL_LLMCOST_BUDGET_RESERVATION_TTL"
# Reconciliation (issue 17): the providers' admin keys (the SDKs' own variables; never a normal API key) and
# our options of ``otel-llmcost reconcile``.
ENV_OPENAI_ADMIN_KEY: Final = "OPENAI_ADMIN_KEY"
ENV_ANTHROPIC_ADMIN_KEY: Final = "ANTHROPIC_ADMIN_KEY"
ENV_RECONCILE_TOLERANCE: Final = "OTEL_LLMCOST_RECONCILE_TOLERANCE"
ENV_RECONCILE_INTERVAL: Final = "OTEL_LLMCOST_RECONCILE_INTERVAL"
ENV_RECONCILE_SETTLE: Final = "OTEL_LLMCOST_RECONCILE_SETTLE"
# The digest (`otel-llmcost digest`, issue 19): where it mails from and how, the Slack webhook of a bare
# `--to slack`, and the link of a trace id (a template with {trace_id}). Read by the command only.
ENV_SMTP_HOST: Final = "OTEL_LLMCOST_SMTP_HOST"
ENV_SMTP_PORT: Final = "OTEL_LLMCOST_SMTP_PORT"
ENV_SMTP_USER: Final = "OTEL_LLMCOST_SMTP_USER"
ENV_SMTP_PASSWORD: Final = "OTEL_LLMCOST_SMTP_PASSWORD"
ENV_SMTP_FROM: Final = "OTEL_LLMCOST_SMTP_FROM"
ENV_SMTP_CA_FILE: Final = "OTEL_LLMCOST_SMTP_CA_FILE"
ENV_SLACK_WEBHOOK_URL: Final = "OTEL_LLMCOST_SLACK_WEBHOOK_URL"
ENV_TRACE_URL_TEMPLATE: Final = "OTEL_LLMCOST_TRACE_URL_TEMPLATE"
# The PostgreSQL ledger (issue 19): written off the call path, spilled to a local SQLite file while unreachable.
ENV_LEDGER: Final = "OTEL_LLMCOST_LEDGER"
ENV_LEDGER_SPILL: Final = "OTEL_LLMCOST_LEDGER_SPILL"
ENV_LEDGER_QUEUE_SIZE: Final = "OTEL_LLMCOST_LEDGER_QUEUE_SIZE"
# Fingerprints (issue 20).
ENV_FINGERPRINTS: Final = "OTEL_LLMCOST_FINGERPRINTS"
ENV_FINGERPRINT_KEY: Final = "OTEL_LLMCOST_FINGERPRINT_KEY"
# One expensive call (issue 18): a call above this cost gets a span event, a WARNING and the callbacks.
ENV_EXPENSIVE_REQUEST_USD: Final = "OTEL_LLMCOST_EXPENSIVE_REQUEST_USD"
ENV_EXPENSIVE_REQUEST_USD_BY_FEATURE: Final = "OTEL_LLMCOST_EXPENSIVE_REQUEST_USD_BY_FEATURE"
# OpenTelemetry's own switches, honoured by instrument(): either one makes us patch nothing.
ENV_SDK_DISABLED: Final = "OTEL_SDK_DISABLED"
ENV_DISABLED_INSTRUMENTATIONS: Final = "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"
INSTRUMENTOR_NAME: Final = "llmcost"
"""Our ``opentelemetry_instrumentor`` entry point name, as OTEL_PYTHON_DISABLED_INSTRUMENTATIONS names it."""
