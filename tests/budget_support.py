"""What the budget tests share: a call of known cost and worst case, store URLs, an adjustable clock, the worker.

One chat call to gpt-4o ($2.50 in, $10 out per million tokens) reporting 100 input and 2,000 output tokens
costs exactly $0.02025. Its prompt (PROMPT: 296 characters of content plus the role) is estimated at
ceil(300 / 3) + 4 = 104 input tokens, and it asks for max_tokens=2000: its worst case is exactly $0.02026.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from openai_payloads import Tokens

TESTS = Path(__file__).parent
TOKENS = Tokens(prompt=100, completion=2_000)
COST = Decimal("0.02025")
WORST = Decimal("0.02026")
PROMPT: list[Any] = [{"role": "user", "content": "x" * 296}]
REQUEST: dict[str, Any] = {"model": "gpt-4o", "messages": PROMPT, "max_tokens": 2_000}


@dataclass
class Clock:
    """A clock the test moves (the budgets' ``budget_clock`` parameter)."""

    now: float

    def __call__(self) -> float:
        return self.now

    def at(self, text: str, zone: str = "UTC") -> None:
        self.now = datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).timestamp()


def store_url(kind: str, tmp_path: Path, redis: Any, name: str = "t") -> str:
    if kind == "memory":
        return "memory"
    if kind == "sqlite":
        return f"sqlite:{tmp_path / 'spend.db'}"
    return str(redis.url(f"{name}-{tmp_path.name}"))


def start_worker(**config: Any) -> subprocess.Popen[str]:
    """``budget_worker.py`` in a process of its own, configured by JSON."""
    return subprocess.Popen(
        [sys.executable, str(TESTS / "budget_worker.py"), json.dumps(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
