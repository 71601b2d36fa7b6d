"""Batch jobs: ``batches.retrieve`` / ``list`` only read, and the first time a completed batch shows its usage it
is priced once (``BatchWatcher``, de-duplicated by the instrumentation's ``SeenOnce``); ``AsyncBatches.list``'s
paginator is looked at when the SDK fetches its first page (``batch_wrapper``).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

from ... import names
from ...calls import Runtime
from ...guard import internal_error
from ...records import Request, Response
from ..base import SeenOnce, Wrapper, get, watch_wrapper, watched
from .endpoints import resource_endpoint
from .responses import responses_usage


@dataclass
class BatchWatcher:
    """batches.retrieve / list: the first time a completed batch shows its usage, price it once.

    Retrieving a batch costs nothing by itself: no span unless it reveals usage."""

    seen: SeenOnce = field(default_factory=SeenOnce)
    """Batch ids already priced: the instrumentation's one record (``targets``' ``seen``)."""

    def record(self, runtime: Runtime, instance: Any, batch: Any) -> None:
        batch_id = get(batch, "id")
        usage_raw = get(batch, "usage")
        model = get(batch, "model")
        if get(batch, "status") != "completed" or usage_raw is None or not isinstance(model, str):
            return
        if not isinstance(batch_id, str) or not self.seen.first_time(batch_id):
            return
        provider, address, port, local = resource_endpoint(runtime, instance)
        endpoint = get(batch, "endpoint") or ""
        operation = "embeddings" if "embeddings" in str(endpoint) else "chat"
        request = Request(provider, operation, model, address, port, local=local)
        call = runtime.begin(request)
        call.annotate({names.LLMCOST_BATCH_ID: batch_id})
        call.finish(Response(model=model, response_id=batch_id), responses_usage(usage_raw, batch=True))

    def batches_in(self, result: Any) -> list[Any]:
        data = get(result, "data")
        return list(data) if isinstance(data, list) else [result]


def batch_wrapper(runtime: Runtime, watcher: BatchWatcher, is_async: bool) -> Wrapper:
    """Wraps batches.retrieve/list: the SDK call runs untouched, then we look at what came back.

    ``AsyncBatches.list`` is no coroutine function: it returns an ``AsyncPaginator`` the caller awaits (the
    first page) or iterates (every batch). That same paginator reaches the caller; its first page is looked
    at when the SDK fetches it (later pages are not, as with the sync ``list``).
    """
    if not is_async:
        return watch_wrapper(runtime, watcher, False)
    awaited = watch_wrapper(runtime, watcher, True)

    def watch_first_page(instance: Any, paginator: Any) -> None:
        fetch = getattr(paginator, "_get_page", None)  # the coroutine __await__ and __aiter__ both go through
        if fetch is None:
            return

        async def get_page() -> Any:
            page = await fetch()
            watched(runtime, watcher, instance, page)
            return page

        paginator._get_page = get_page

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if inspect.iscoroutinefunction(wrapped):  # retrieve: awaited, then looked at
            return awaited(wrapped, instance, args, kwargs)
        result = wrapped(*args, **kwargs)
        try:
            watch_first_page(instance, result)
        except Exception:
            internal_error("batch")
        return result

    return wrapper


# (module, attribute path) of every batch method watched; missing ones are skipped.
BATCH_METHODS: tuple[tuple[str, str], ...] = (
    ("openai.resources.batches", "Batches.retrieve"),
    ("openai.resources.batches", "Batches.list"),
    ("openai.resources.batches", "AsyncBatches.retrieve"),
    ("openai.resources.batches", "AsyncBatches.list"),
)
