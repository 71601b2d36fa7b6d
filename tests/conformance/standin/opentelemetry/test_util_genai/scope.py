"""``TelemetryHandlerScopeTest``: the mixin their ``test_instrumentation_scope.py`` subclasses.

Upstream's test captures the util-genai ``TelemetryHandler`` the instrumentor creates, drives one inference through
it and checks that the span, the metrics and the event all carry the instrumentation's own scope name, version and
schema URL. The same test is written here: with our instrumentor in place it fails, since we do not build a
util-genai handler and our scope is ``otel_llmcost`` (the .expected lists say so).
"""

from __future__ import annotations

from typing import Any, ClassVar
from unittest.mock import patch

from opentelemetry.semconv.schemas import Schemas
from opentelemetry.util.genai.handler import TelemetryHandler

from .instrumentor import instrument


class TelemetryHandlerScopeTest:
    instrumentor_class: ClassVar[type[Any]]
    instrumentation_scope_name: ClassVar[str]
    instrumentation_scope_version: ClassVar[str]

    def test_instrumentation_scope_is_used_for_all_signals(
        self,
        tracer_provider: Any,
        logger_provider: Any,
        meter_provider: Any,
        span_exporter: Any,
        log_exporter: Any,
        metric_reader: Any,
    ) -> None:
        made: list[TelemetryHandler] = []
        real_init = TelemetryHandler.__init__

        def remember(handler: TelemetryHandler, *args: Any, **kwargs: Any) -> None:
            real_init(handler, *args, **kwargs)
            made.append(handler)

        with (
            patch.object(TelemetryHandler, "__init__", remember),
            instrument(
                self.instrumentor_class(),
                tracer_provider=tracer_provider,
                logger_provider=logger_provider,
                meter_provider=meter_provider,
                content_capture="EVENT_ONLY",
            ),
        ):
            assert len(made) == 1, f"the instrumentor built {len(made)} util-genai TelemetryHandler(s), not one"
            with made[0].inference("provider", request_model="model"):
                pass

        expected = (self.instrumentation_scope_name, self.instrumentation_scope_version, Schemas.V1_37_0.value)
        (span,) = span_exporter.get_finished_spans()
        scope = span.instrumentation_scope
        assert (scope.name, scope.version, scope.schema_url) == expected
        scopes = [
            scope_metrics.scope
            for resource_metrics in metric_reader.get_metrics_data().resource_metrics
            for scope_metrics in resource_metrics.scope_metrics
        ]
        assert [(s.name, s.version, s.schema_url) for s in scopes] == [expected]
        (log,) = log_exporter.get_finished_logs()
        scope = log.instrumentation_scope
        assert (scope.name, scope.version, scope.schema_url) == expected
