"""Names are an API: the README documents every name in names.py, with the right Prometheus names."""

from __future__ import annotations

from pathlib import Path

import pytest

from otel_llmcost import names

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
PUBLIC = {
    key: value
    for key, value in vars(names).items()
    if key.isupper()
    and isinstance(value, str)
    and key.startswith(("GEN_AI_", "LLMCOST_", "METRIC_", "ENV_", "OPENAI_"))
}


@pytest.mark.parametrize("constant", sorted(PUBLIC))
def test_readme_documents_every_name(constant: str) -> None:
    assert f"`{PUBLIC[constant]}`" in README or f"{PUBLIC[constant]}`" in README, f"{constant} missing from README"


@pytest.mark.parametrize(
    ("metric", "unit", "kind", "expected"),
    [
        (names.METRIC_COST, names.UNIT_USD, "counter", "llmcost_cost_USD_total"),
        (names.METRIC_TOKENS, names.UNIT_TOKEN, "counter", "llmcost_tokens_total"),
        (names.METRIC_REQUEST_COST, names.UNIT_USD, "histogram", "llmcost_request_cost_USD"),
        (names.METRIC_OPERATION_DURATION, names.UNIT_SECONDS, "histogram", "gen_ai_client_operation_duration_seconds"),
    ],
)
def test_prometheus_names(metric: str, unit: str, kind: str, expected: str) -> None:
    assert names.prometheus_name(metric, unit, kind) == expected
    assert f"`{expected}`" in README


def test_no_duplicate_values() -> None:
    values = [v for k, v in PUBLIC.items()]
    assert len(values) == len(set(values))


@pytest.mark.parametrize(
    ("attribute", "expected"),
    [
        ("gen_ai.request.model", "gen_ai_request_model"),
        ("user.id", "user_id"),
        ("llmcost.cost-center/eu", "llmcost_cost_center_eu"),
        ("app.tenant:id é", "app_tenant_id__"),
        ("already_fine_1", "already_fine_1"),
    ],
)
def test_prometheus_label_is_the_otlp_translation(attribute: str, expected: str) -> None:
    """Every character outside [a-zA-Z0-9_] becomes "_"; the report and the rendered stack use this one function."""
    from otel_llmcost.reporting import prometheus_label
    from otel_llmcost.stack import promql

    assert names.prometheus_label(attribute) == expected
    assert prometheus_label is names.prometheus_label
    assert promql.label is names.prometheus_label


def _mode_rows() -> dict[str, list[str]]:
    """The README's "Names by mode" table: first cell -> the cells of default, latest, /dup."""
    start = README.index("| name | default | `gen_ai_latest_experimental` | `gen_ai_latest_experimental/dup` |")
    rows: dict[str, list[str]] = {}
    for line in README[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        rows[cells[0]] = cells[1:]
    return rows


@pytest.mark.parametrize("mode", [names.SEMCONV_DEFAULT, names.SEMCONV_LATEST])
def test_readme_mode_table_matches_names(mode: str) -> None:
    """Each mode's semconv metrics (names.SEMCONV_METRICS) have a row, with their Prometheus name, emitted in
    their mode and in /dup; the other mode's metrics are not (embeddings aside: they keep the old names)."""
    rows = _mode_rows()
    other = names.SEMCONV_LATEST if mode == names.SEMCONV_DEFAULT else names.SEMCONV_DEFAULT
    column = {names.SEMCONV_DEFAULT: 0, names.SEMCONV_LATEST: 1}
    for metric, unit, kind in names.SEMCONV_METRICS[mode]:
        key = f"`{metric}` (`{names.prometheus_name(metric, unit, kind)}`)"
        assert key in rows, f"{metric} has no row in the README's Names by mode table"
        cells = rows[key]
        assert cells[column[mode]] != "–" and cells[2] != "–", metric
        assert cells[column[other]] in ("–", "embeddings"), metric
    for attribute in names.SEMCONV_SPAN_ATTRIBUTES[mode]:
        (row,) = [cells for key, cells in rows.items() if f"`{attribute}`" in key]
        assert row[column[mode]] == "yes" and row[2] == "yes" and row[column[other]] == "–", attribute
