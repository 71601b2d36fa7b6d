"""The names their ``tests/conformance/`` scenarios import: ``Scenario``, ``ExpectedViolation``, ``run_conformance``.

Upstream replays each scenario into an OTLP endpoint of weaver's live-check and validates the report against the
GenAI semantic conventions. That needs the weaver binary, a semantic-conventions registry and
opentelemetry-test-utils, none of which the stage installs; their ``test_conformance.py`` skips itself at import
when ``opentelemetry.test.weaver_live_check`` is missing, and ``run_conformance`` here skips too, should it be
reached. The scenario classes still import (their modules are collected), and ``Scenario.run`` still works on any
providers, so a scenario could be replayed against in-memory exporters by a test of ours.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import pytest


@dataclass(frozen=True)
class ExpectedViolation:
    """A weaver finding a scenario declares as known: its advice id and a substring of its message."""

    advice_id: str
    message_substring: str

    def matches(self, violation: dict[str, Any]) -> bool:
        return violation.get("id") == self.advice_id and self.message_substring in str(violation.get("message", ""))


class Scenario(ABC):
    """One recorded call replayed with the instrumentation on the given providers, and what it must emit."""

    expected_spans: ClassVar[dict[str, int]] = {}
    """gen_ai.operation.name -> how many spans carry it."""
    expected_metrics: ClassVar[tuple[str, ...]] = ()
    expected_violations: ClassVar[tuple[ExpectedViolation, ...]] = ()

    @abstractmethod
    def run(self, *, tracer_provider: Any, meter_provider: Any, logger_provider: Any, vcr: Any) -> None: ...

    def validate(self, report: Any) -> None:
        """Upstream checks the weaver report here; there is no report without weaver."""
        del report


def run_conformance(scenario: Scenario, *, vcr: Any, weaver: Any) -> Any:
    pytest.skip(f"{type(scenario).__name__}: weaver live-check is not available here")
