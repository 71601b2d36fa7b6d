"""The store a URL names: the one module that knows every store (each imports only ``store``, never this).

The SQLite and Redis stores are imported when a URL names them, not before: ``sqlite3`` and ``redis`` stay
out of an app that keeps spend in memory.
"""

from __future__ import annotations

from ..errors import ConfigError
from .memory_store import MemoryStore
from .store import SpendStore


def open_store(url: str, timeout: float) -> SpendStore:
    """The store a URL names: ``memory``, ``sqlite:PATH`` (or ``sqlite:///abs/path``), ``redis://...``."""
    text = url.strip()
    if text in ("", "memory", "memory:"):
        return MemoryStore()
    if text.startswith("sqlite:"):
        from .sqlite_store import SQLiteStore

        path = text[len("sqlite:") :]
        if path.startswith("///"):
            path = path[2:]
        elif path.startswith("//"):
            raise ConfigError(f"budget store {url!r}: write sqlite:/abs/path.db, sqlite:///abs/path.db or sqlite:x.db.")
        if not path:
            raise ConfigError(f"budget store {url!r} names no file. Fix: e.g. sqlite:/var/lib/app/llmcost.db.")
        return SQLiteStore(path, timeout)
    if text.startswith(("redis://", "rediss://", "unix://")):
        from .redis_store import RedisStore

        return RedisStore(text, timeout)
    raise ConfigError(
        f"budget store {url!r} is not memory, sqlite:PATH or redis://HOST:PORT/DB. "
        "Fix: set OTEL_LLMCOST_BUDGET_STORE (or budget_store=) to one of those."
    )
