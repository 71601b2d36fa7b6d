"""The observability stack for this plugin's data, generated: collector config, Prometheus and Grafana alert
rules, Alertmanager config, Grafana provisioning and dashboard, docker-compose.

Everything is rendered from ``names.py`` and one small limits file (``llmcost-stack.yaml``) by
``otel-llmcost stack render``; promql.py holds the PromQL both dashboards and alerts use.
"""

from __future__ import annotations

from .files import render, write
from .limits import Limit, StackConfig, load, parse

__all__ = ["Limit", "StackConfig", "load", "parse", "render", "write"]
