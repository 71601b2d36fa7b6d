"""The embedded spend ledger's table: one row per finished call, in the SQLite file the budget store uses.

A team without a metrics backend can still answer "what did we spend yesterday, by feature" from it
(``otel-llmcost report --from sqlite:PATH``). The writer lives with the SQLite budget store; this module
holds the schema both sides agree on. Costs are stored as decimal text so sums stay exact.
"""

from __future__ import annotations

from typing import Final

TABLE: Final = "llm_calls"

SCHEMA: Final = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,                 -- unix seconds (UTC) when the call ended
    provider TEXT NOT NULL,           -- gen_ai.provider.name
    operation TEXT NOT NULL,          -- gen_ai.operation.name
    model TEXT,                       -- gen_ai.request.model
    response_model TEXT,              -- gen_ai.response.model
    input_tokens INTEGER,             -- inclusive of cache reads and writes
    output_tokens INTEGER,            -- inclusive of reasoning
    cache_read_tokens INTEGER,
    cache_write_tokens INTEGER,
    reasoning_tokens INTEGER,
    cost_usd TEXT,                    -- exact decimal; NULL when the model has no known price
    price_source TEXT,
    batch INTEGER NOT NULL DEFAULT 0,
    feature TEXT,                     -- llmcost.feature
    team TEXT,                        -- llmcost.team
    user_id TEXT,                     -- user.id
    attributes TEXT,                  -- JSON object of every attribution key of the call
    trace_id TEXT,                    -- 32 hex digits
    span_id TEXT,                     -- 16 hex digits
    request_id TEXT,                  -- gen_ai.response.id
    error_type TEXT
);
CREATE INDEX IF NOT EXISTS {TABLE}_ts ON {TABLE} (ts);
"""

COLUMNS: Final = (
    "ts", "provider", "operation", "model", "response_model", "input_tokens", "output_tokens",
    "cache_read_tokens", "cache_write_tokens", "reasoning_tokens", "cost_usd", "price_source", "batch",
    "feature", "team", "user_id", "attributes", "trace_id", "span_id", "request_id", "error_type",
)
