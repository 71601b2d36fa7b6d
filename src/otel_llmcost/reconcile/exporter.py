"""``otel-llmcost reconcile --serve``: the comparison as Prometheus gauges, refreshed on a schedule.

One small process beside the stack: it polls the providers' reports every ``interval`` (an hour by default:
the reports change a few times a day and their rate limits are per minute) and serves on ``/metrics``, for
each provider, UTC day and model, the billed and computed spend (``llmcost.cost.source``), and for each closed
day the drift, (computed - billed) / billed, and the unexplained part of the difference, which the shipped
dashboard plots and the shipped alert watches. A failed poll keeps the last good numbers (their age is
``llmcost_reconcile_last_success_seconds``) and logs one line, which never holds a key.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

from .. import names
from ..config import ReconcileSettings
from ..reporting import prometheus_label
from . import ReconcileError
from .compare import ALL_MODELS
from .service import Result, run

logger = logging.getLogger(__name__)

COST = names.prometheus_name(names.METRIC_RECONCILE_COST, names.UNIT_USD, "gauge")
DRIFT = names.prometheus_name(names.METRIC_RECONCILE_DRIFT, names.UNIT_RATIO, "gauge")
UNEXPLAINED = names.prometheus_name(names.METRIC_RECONCILE_UNEXPLAINED, names.UNIT_USD, "gauge")
LAST_SUCCESS = names.prometheus_name(names.METRIC_RECONCILE_LAST_SUCCESS, names.UNIT_SECONDS, "gauge")
PROVIDER = prometheus_label(names.GEN_AI_PROVIDER_NAME)
MODEL = prometheus_label(names.GEN_AI_REQUEST_MODEL)
DAY = prometheus_label(names.LLMCOST_DAY)
CLOSED = prometheus_label(names.LLMCOST_DAY_CLOSED)
SOURCE = prometheus_label(names.LLMCOST_COST_SOURCE)


class Exporter:
    """Holds the last comparison and turns it into metric families (a prometheus_client collector)."""

    def __init__(
        self, settings: ReconcileSettings, source: str, since: float, wanted: tuple[str, ...] = (),
        base_urls: Mapping[str, str | None] | None = None,
    ) -> None:
        self.settings, self.source, self.since, self.wanted = settings, source, since, wanted
        self.base_urls = dict(base_urls or {})
        self.result: Result | None = None
        self.last_success: float | None = None
        self.failures = 0

    def poll(self, now: float | None = None) -> None:
        """One reconciliation; raises ReconcileError (the caller decides whether that ends the process)."""
        moment = time.time() if now is None else now
        self.result = run(self.settings, self.source, self.since, moment, moment, self.wanted, self.base_urls)
        self.last_success = moment

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        cost = GaugeMetricFamily(COST, "Spend per provider, UTC day and model: billed by the provider or computed "
                                 "by otel-llmcost (llmcost_cost_source)", labels=[PROVIDER, DAY, MODEL, CLOSED, SOURCE])
        drift = GaugeMetricFamily(DRIFT, "(computed - billed) / billed of a closed UTC day",
                                  labels=[PROVIDER, DAY])
        unexplained = GaugeMetricFamily(UNEXPLAINED, "The part of a closed day's difference no known cause explains",
                                        labels=[PROVIDER, DAY])
        if self.result is not None:
            for line in self.result.lines:
                if line.model == ALL_MODELS:
                    if line.closed and line.drift is not None:
                        drift.add_metric([line.provider, line.day], float(line.drift))
                    if line.closed:
                        unexplained.add_metric([line.provider, line.day], float(line.unexplained))
                    continue
                closed = "true" if line.closed else "false"
                cost.add_metric([line.provider, line.day, line.model, closed, names.COST_SOURCE_BILLED],
                                float(line.billed))
                cost.add_metric([line.provider, line.day, line.model, closed, names.COST_SOURCE_COMPUTED],
                                float(line.computed))
        yield cost
        yield drift
        yield unexplained
        if self.last_success is not None:
            yield GaugeMetricFamily(LAST_SUCCESS, "Unix time of the last successful reconciliation",
                                    value=self.last_success)


def start(exporter: Exporter, host: str, port: int) -> tuple[Any, Any]:
    """Serve ``exporter`` on http://host:port/metrics in a daemon thread; (server, registry)."""
    from prometheus_client import CollectorRegistry, start_http_server

    registry = CollectorRegistry(auto_describe=False)
    registry.register(exporter)  # type: ignore[arg-type]
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return server, registry


def serve(exporter: Exporter, host: str, port: int, stop: threading.Event | None = None) -> None:
    """Poll now (a failure here, such as a refused key, ends the command), serve, and poll every interval
    until ``stop`` is set (or Ctrl-C)."""
    import click

    exporter.poll()
    server, _ = start(exporter, host, port)
    click.echo(f"Serving the reconciliation on http://{host}:{server.server_port}/metrics, "
               f"polling every {exporter.settings.interval:g}s (Ctrl-C stops).", err=True)
    stop = stop or threading.Event()
    try:
        while not stop.wait(exporter.settings.interval):
            try:
                exporter.poll()
            except ReconcileError as exc:
                exporter.failures += 1
                logger.warning("otel-llmcost reconcile: poll failed, keeping the last numbers: %s", exc)
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
