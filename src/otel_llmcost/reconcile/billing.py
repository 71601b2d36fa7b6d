"""The providers' own reports, read through their SDKs' typed admin clients (no HTTP of our own).

OpenAI: ``client.admin.organization.usage.costs`` (USD per day and line item, e.g. ``gpt-4o-2024-08-06, input``)
and ``usage.completions`` (tokens per day and model), paginated by ``has_more`` / ``next_page``. Anthropic:
``client.beta.organization.analytics.cost`` (cost per day, model and cost type, in cents as decimal text) and
``analytics.usage`` (tokens), which the SDK pages itself; at most 31 days per request, so longer windows are read
in pieces. (``analytics.cost_report`` / ``usage_report`` are the legacy Claude Enterprise reports, without API
keys or workspaces; the analytics ``cost`` report includes all API spend.) Rate limits (429 with retry-after) and
5xx are retried by the SDKs; what still fails becomes one ``ReconcileError`` line in which no key appears.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, TypeVar

from .. import names
from . import CREDIT, OTHER, TOKENS, Bill, BilledCost, BilledUsage, ReconcileError, model_key

DAY = 86400
ANTHROPIC_MAX_DAYS = 31  # the analytics reports' longest range per request
PAGE_DAYS = 31  # buckets per page we ask for (OpenAI: costs up to 180, completions up to 31 at 1d)
_CENTS = Decimal(100)

T = TypeVar("T")


def day_of(moment: datetime | float) -> str:
    """The UTC day (YYYY-MM-DD) a bucket starting at ``moment`` covers."""
    if not isinstance(moment, datetime):
        moment = datetime.fromtimestamp(moment, tz=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d")


def scrub(text: str, secrets: tuple[str | None, ...]) -> str:
    """``text`` with every secret (and any long piece of one a provider echoes back) replaced, as one line."""
    for secret in secrets:
        if not secret:
            continue
        text = text.replace(secret, "<admin key>")
        if len(secret) >= 16:  # a provider's "Incorrect API key provided: sk-adm...abcd" shows pieces
            for piece in (secret[:12], secret[-8:]):
                text = text.replace(piece, "<admin key>")
    return " ".join(text.split())


def _guarded(provider: str, variable: str, secret: str, call: Callable[[], T]) -> T:
    """Run a report read; the SDK's errors become one ``ReconcileError`` that names the variable, not the key."""
    module: Any
    if provider == "openai":
        import openai as module
    else:
        import anthropic as module
    try:
        return call()
    except module.AuthenticationError as exc:
        problem = f"{provider} refused {variable} (HTTP 401): it is not a valid admin key"
        detail = _detail(exc)
    except module.PermissionDeniedError as exc:
        problem = (f"{provider} refused {variable} (HTTP 403): reading the organization's reports needs an admin "
                   "key, not a normal API key")
        detail = _detail(exc)
    except module.RateLimitError as exc:
        problem = f"{provider} kept answering HTTP 429 (rate limited) after retries; try again later"
        detail = _detail(exc)
    except module.BadRequestError as exc:
        problem = f"{provider} refused the window (HTTP 400)"
        detail = _detail(exc)
    except module.APIStatusError as exc:
        problem = f"{provider} answered HTTP {exc.status_code}"
        detail = _detail(exc)
    except module.APIConnectionError as exc:
        problem = f"cannot reach the {provider} API ({type(exc).__name__})"
        detail = str(exc.__cause__ or exc)
    except (ValueError, TypeError) as exc:  # a report the SDK's types did not expect
        problem = f"{provider} sent a report we cannot read"
        detail = str(exc)
    raise ReconcileError(scrub(f"{problem}: {detail}" if detail else problem, (secret,))) from None


def _detail(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error", body)
        message = error.get("message") if isinstance(error, dict) else error
        if message:
            return str(message)
    return ""


# --- OpenAI ----------------------------------------------------------------------------------------------
def _openai_line(day: str, line_item: str | None, value: Decimal) -> BilledCost:
    """A cost line: ``gpt-4o-2024-08-06, input`` is token spend of that model; a line without a model
    (``web search tool calls``) or whose unit is not tokens is spend we do not price; a negative one a credit."""
    item = line_item or "(no line item)"
    model, sep, unit = item.partition(", ")
    tokens = bool(sep) and ("input" in unit or "output" in unit)
    kind = CREDIT if value < 0 else TOKENS if tokens else OTHER
    return BilledCost("openai", day, model_key(model) if sep else model_key(None), kind, value, item)


def _openai_pages(fetch: Callable[..., Any]) -> Iterator[Any]:
    page: str | None = None
    while True:
        response = fetch(page) if page else fetch(None)
        yield response
        if not response.has_more or not response.next_page:
            return
        page = response.next_page


def openai_bill(client: Any, start: int, end: int, secret: str) -> Bill:
    """OpenAI's costs and completions usage for [start, end) (unix seconds at UTC midnights)."""
    usage_api = client.admin.organization.usage
    variable = names.ENV_OPENAI_ADMIN_KEY

    def costs(page: str | None) -> Any:
        extra = {"page": page} if page else {}
        return usage_api.costs(start_time=start, end_time=end, bucket_width="1d", group_by=["line_item"],
                               limit=PAGE_DAYS, **extra)

    def completions(page: str | None) -> Any:
        extra = {"page": page} if page else {}
        return usage_api.completions(start_time=start, end_time=end, bucket_width="1d", group_by=["model"],
                                     limit=PAGE_DAYS, **extra)

    def read() -> Bill:
        lines: list[BilledCost] = []
        for response in _openai_pages(costs):
            for bucket in response.data:
                for result in bucket.results:
                    amount = getattr(result, "amount", None)
                    if amount is None or amount.value is None:
                        continue
                    if (amount.currency or "usd").lower() != "usd":
                        raise ReconcileError(f"openai billed in {amount.currency}; only USD bills are compared")
                    lines.append(_openai_line(day_of(bucket.start_time), result.line_item,
                                              Decimal(repr(float(amount.value)))))
        usage: list[BilledUsage] = []
        for response in _openai_pages(completions):
            for bucket in response.data:
                for result in bucket.results:
                    usage.append(BilledUsage("openai", day_of(bucket.start_time), model_key(result.model),
                                             result.input_tokens, result.output_tokens, result.num_model_requests))
        return Bill("openai", lines, usage)

    return _guarded("openai", variable, secret, read)


# --- Anthropic -------------------------------------------------------------------------------------------
def _pieces(start: int, end: int) -> Iterator[tuple[datetime, datetime]]:
    """[start, end) in ranges of at most 31 days, as the analytics reports take them."""
    while start < end:
        stop = min(end, start + ANTHROPIC_MAX_DAYS * DAY)
        yield datetime.fromtimestamp(start, tz=timezone.utc), datetime.fromtimestamp(stop, tz=timezone.utc)
        start = stop


def anthropic_bill(client: Any, start: int, end: int, secret: str) -> Bill:
    """Anthropic's cost (by model and cost type) and token usage (by model) for [start, end)."""
    analytics = client.beta.organization.analytics
    variable = names.ENV_ANTHROPIC_ADMIN_KEY

    def read() -> Bill:
        lines: list[BilledCost] = []
        usage: list[BilledUsage] = []
        refreshed: list[float] = []
        for since, until in _pieces(start, end):
            first = analytics.cost.list(starting_at=since, ending_at=until, time_bucket_width="1d",
                                        group_by=["model", "cost_type"])
            for page in first.iter_pages():
                if page.data_refreshed_at is not None:
                    refreshed.append(page.data_refreshed_at.timestamp())
                for item in page.data:
                    if item.cost.currency.upper() != "USD":
                        raise ReconcileError(f"anthropic billed in {item.cost.currency}; only USD bills are compared")
                    value = Decimal(item.cost.amount) / _CENTS  # cents as decimal text: exact
                    cost_type = item.group.cost_type or "tokens"
                    kind = CREDIT if value < 0 else TOKENS if cost_type == "tokens" else OTHER
                    lines.append(BilledCost("anthropic", day_of(item.starting_at), model_key(item.group.model), kind,
                                            value, cost_type))
            first_usage = analytics.usage.list(starting_at=since, ending_at=until, time_bucket_width="1d",
                                               group_by=["model"])
            for page in first_usage.iter_pages():
                for item in page.data:
                    metrics = item.usage
                    cache_write = metrics.cache_creation.ephemeral_5m_input_tokens + \
                        metrics.cache_creation.ephemeral_1h_input_tokens
                    usage.append(BilledUsage(
                        "anthropic", day_of(item.starting_at), model_key(item.group.model),
                        metrics.uncached_input_tokens + metrics.cache_read_input_tokens + cache_write,
                        metrics.output_tokens, metrics.requests,
                    ))
        return Bill("anthropic", lines, usage, min(refreshed) if refreshed else None)

    return _guarded("anthropic", variable, secret, read)


# --- clients ---------------------------------------------------------------------------------------------
def unsupported(provider: str) -> str | None:
    """Why the installed SDK of ``provider`` cannot read its reports (too old, missing), or None when it can."""
    try:
        if provider == "openai":
            import openai

            found = hasattr(openai.OpenAI, "admin")
            need = "openai>=3.60"
        else:
            from anthropic.resources.beta.organization.analytics import analytics

            found = hasattr(analytics.Analytics, "cost") and hasattr(analytics.Analytics, "usage")
            need = "anthropic>=2.17"
    except ImportError:
        found, need = False, "openai>=3.60" if provider == "openai" else "anthropic>=2.17"
    return None if found else f"reading {provider}'s reports needs {need} (pip install 'otel-llmcost[reconcile]')"


def openai_client(key: str, base_url: str | None = None, timeout: float = 30.0) -> Any:
    import openai

    return openai.OpenAI(api_key="unused-admin-only", admin_api_key=key, base_url=base_url, timeout=timeout)


def anthropic_client(key: str, base_url: str | None = None, timeout: float = 30.0) -> Any:
    import anthropic

    return anthropic.Anthropic(api_key=key, base_url=base_url, timeout=timeout)


READERS: dict[str, tuple[str, Callable[[str, str | None], Any], Callable[[Any, int, int, str], Bill]]] = {
    "openai": (names.ENV_OPENAI_ADMIN_KEY, openai_client, openai_bill),
    "anthropic": (names.ENV_ANTHROPIC_ADMIN_KEY, anthropic_client, anthropic_bill),
}
"""Provider -> (its admin key's variable, client factory, reader)."""
