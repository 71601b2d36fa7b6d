"""Loopback fakes of the providers' cost and usage report endpoints, for the demo and the tests.

The bodies are the SDKs' own response types (openai ``UsageCostsResponse`` / ``UsageCompletionsResponse``,
anthropic ``BetaAnalyticsCostItem`` / ``BetaAnalyticsUsageItem`` pages) serialized, so the real SDK clients parse
them as they parse the real thing. A fake bills what it is told (``add``): per UTC day, model and line item, with
tokens. It paginates (``has_more`` / ``next_page``), leaves days without spend empty, checks the admin key (a
wrong one is 401 and echoes it back, as providers do; a normal API key is 403) and can be told to fail the next
requests (429 with retry-after, 5xx, 400).
"""

from __future__ import annotations

import http.server
import json
import threading
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

DAY = 86400


@dataclass(frozen=True)
class Charge:
    """One billed line: a provider's spend on a day for a model and kind of usage."""

    provider: str  # "openai" or "anthropic"
    day: str  # YYYY-MM-DD
    model: str | None
    item: str  # openai: "input" / "output" / "web search tool calls" ...; anthropic: cost_type
    usd: Decimal
    input_tokens: int = 0
    output_tokens: int = 0
    requests: int = 0


def _start(day: str) -> int:
    return int(datetime.fromisoformat(day).replace(tzinfo=timezone.utc).timestamp())


def _iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class BillingFake:
    """Both providers' report endpoints on one loopback port: ``openai_url`` and ``anthropic_url`` for the SDKs."""

    def __init__(self, openai_key: str = "sk-admin-demo-openai-0000000000",
                 anthropic_key: str = "sk-ant-admin01-demo-0000000000", page_size: int = 2) -> None:
        self.keys = {"openai": openai_key, "anthropic": anthropic_key}
        self.non_admin: set[str] = set()  # keys that are valid API keys but no admin keys: 403
        self.charges: list[Charge] = []
        self.page_size = page_size  # OpenAI: buckets per page; Anthropic: rows per page
        self.refreshed_at: float | None = None  # Anthropic's data_refreshed_at; None: omitted
        self.failures: deque[tuple[int, dict[str, str], str]] = deque()
        self.requests: list[tuple[str, dict[str, list[str]]]] = []
        self._lock = threading.Lock()
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, headers, body = fake.answer(self.path, self.headers.get("authorization", ""))
                data = body.encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    # --- control -------------------------------------------------------------------------------------
    def __enter__(self) -> BillingFake:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def openai_url(self) -> str:
        return f"{self.base}/v1"

    @property
    def anthropic_url(self) -> str:
        return self.base

    def add(self, *charges: Charge) -> None:
        with self._lock:
            self.charges.extend(charges)

    def fail(self, status: int, times: int = 1, headers: dict[str, str] | None = None, message: str = "") -> None:
        """The next ``times`` requests answer ``status`` (a 429/5xx carries retry-after-ms 1 unless told)."""
        if headers is None:
            headers = {"retry-after-ms": "1", "retry-after": "1"} if status == 429 or status >= 500 else {}
        for _ in range(times):
            self.failures.append((status, headers, message or f"fake failure {status}"))

    # --- answers -------------------------------------------------------------------------------------
    def answer(self, path: str, authorization: str) -> tuple[int, dict[str, str], str]:
        parts = urlsplit(path)
        query = parse_qs(parts.query)
        with self._lock:
            self.requests.append((parts.path, query))
            provider = "anthropic" if "/organizations/analytics/" in parts.path else "openai"
            key = authorization.removeprefix("Bearer ").strip()
            if key in self.non_admin:
                return 403, {}, _error(provider, "permission_error", "This key is not an admin key.")
            if key != self.keys[provider]:
                return 401, {}, _error(provider, "authentication_error", f"Incorrect API key provided: {key}.")
            if self.failures:
                status, headers, message = self.failures.popleft()
                kind = {429: "rate_limit_error", 400: "invalid_request_error"}.get(status, "api_error")
                return status, headers, _error(provider, kind, message)
            if parts.path.endswith("/organization/costs"):
                return 200, {}, self._openai(query, costs=True)
            if parts.path.endswith("/organization/usage/completions"):
                return 200, {}, self._openai(query, costs=False)
            if parts.path.endswith("/organizations/analytics/cost"):
                return 200, {}, self._anthropic(query, costs=True)
            if parts.path.endswith("/organizations/analytics/usage"):
                return 200, {}, self._anthropic(query, costs=False)
            return 404, {}, _error(provider, "not_found_error", f"no route {parts.path}")

    def _openai(self, query: dict[str, list[str]], costs: bool) -> str:
        from openai.types.admin.organization import UsageCompletionsResponse, UsageCostsResponse

        start, end = int(query["start_time"][0]), int(query["end_time"][0])
        limit = min(int(query.get("limit", ["7"])[0]), self.page_size)
        first = int(query.get("page", ["0"])[0])
        days = list(range(start, end, DAY))
        buckets = []
        for bucket_start in days[first:first + limit]:
            mine = [c for c in self.charges if c.provider == "openai" and _start(c.day) == bucket_start]
            results: list[dict[str, Any]]
            if costs:
                results = [{"object": "organization.costs.result",
                            "amount": {"value": float(c.usd), "currency": "usd"},
                            "line_item": f"{c.model}, {c.item}" if c.model else c.item} for c in mine]
            else:
                models: dict[str, list[Charge]] = {}
                for c in mine:
                    if c.model and (c.input_tokens or c.output_tokens or c.requests):
                        models.setdefault(c.model, []).append(c)
                results = [{"object": "organization.usage.completions.result", "model": model,
                            "input_tokens": sum(c.input_tokens for c in group),
                            "output_tokens": sum(c.output_tokens for c in group),
                            "num_model_requests": sum(c.requests for c in group)}
                           for model, group in sorted(models.items())]
            buckets.append({"object": "bucket", "start_time": bucket_start, "end_time": bucket_start + DAY,
                            "results": results})
        more = first + limit < len(days)
        page = {"object": "page", "data": buckets, "has_more": more, "next_page": str(first + limit) if more else None}
        model = UsageCostsResponse if costs else UsageCompletionsResponse
        return model.model_validate(page).to_json(indent=None)

    def _anthropic(self, query: dict[str, list[str]], costs: bool) -> str:
        from anthropic.types.beta.organization.analytics import BetaAnalyticsCostItem, BetaAnalyticsUsageItem

        start = int(datetime.fromisoformat(query["starting_at"][0].replace("Z", "+00:00")).timestamp())
        end = int(datetime.fromisoformat(query["ending_at"][0].replace("Z", "+00:00")).timestamp())
        rows: list[Any] = []
        mine = [c for c in self.charges if c.provider == "anthropic" and start <= _start(c.day) < end]
        groups: dict[tuple[str, str | None, str], list[Charge]] = {}
        for c in mine:
            groups.setdefault((c.day, c.model, c.item if costs else ""), []).append(c)
        for (day, model, item), group in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] or "", kv[0][2])):
            bucket = {"starting_at": _iso(_start(day)), "ending_at": _iso(_start(day) + DAY)}
            if costs:
                cents = format(sum((c.usd for c in group), Decimal(0)) * 100, "f")
                rows.append(BetaAnalyticsCostItem.model_validate({
                    **bucket, "group": {"model": model, "cost_type": item},
                    "cost": {"amount": cents, "list_amount": cents, "currency": "USD"},
                }))
            elif any(c.input_tokens or c.output_tokens for c in group):
                rows.append(BetaAnalyticsUsageItem.model_validate({
                    **bucket, "group": {"model": model},
                    "usage": {"uncached_input_tokens": sum(c.input_tokens for c in group), "cache_read_input_tokens": 0,
                              "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
                              "output_tokens": sum(c.output_tokens for c in group),
                              "requests": sum(c.requests for c in group),
                              "server_tool_use": {"web_search_requests": 0}, "total_tokens": 0},
                }))
        first = int(query.get("page", ["0"])[0])
        more = first + self.page_size < len(rows)
        page: dict[str, Any] = {
            "data": [json.loads(r.to_json(indent=None)) for r in rows[first:first + self.page_size]],
            "has_more": more, "next_page": str(first + self.page_size) if more else None,
        }
        if self.refreshed_at is not None:
            page["data_refreshed_at"] = _iso(int(self.refreshed_at))
        return json.dumps(page)


def _error(provider: str, kind: str, message: str) -> str:
    if provider == "anthropic":
        return json.dumps({"type": "error", "error": {"type": kind, "message": message}})
    return json.dumps({"error": {"type": kind, "message": message, "code": None, "param": None}})
