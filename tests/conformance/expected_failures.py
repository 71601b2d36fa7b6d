"""pytest plugin: mark the listed tests of an official suite strict-xfail, each with its reason.

``CONFORMANCE_EXPECTED`` names a file of ``## reason`` headers, each followed by the node ids (relative to the
suite's tests/ folder) that fail for it. Strict: a listed test that passes fails the run (the list must shrink
when we fix something), and an unlisted failure fails it (a regression). A listed id that the suite no longer
has fails the run too, so the list cannot go stale.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def _expected() -> dict[str, str]:
    reasons: dict[str, str] = {}
    reason = ""
    for line in Path(os.environ["CONFORMANCE_EXPECTED"]).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line.startswith("## "):
            reason = line[3:]
        elif line and not line.startswith("#"):
            reasons[line] = reason
    return reasons


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    expected = _expected()
    seen = set()
    for item in items:
        node = item.nodeid.split("tests/", 1)[-1]
        if node in expected:
            seen.add(node)
            item.add_marker(pytest.mark.xfail(strict=True, reason=expected[node]))
    stale = sorted(set(expected) - seen)
    if stale:
        raise pytest.UsageError(f"{len(stale)} listed tests are not in the suite: {stale[:5]}")
