"""Budgets: USD limits per period for a scope of calls, warned about or enforced before a call is sent.

``definitions`` (what a budget is), ``periods`` (calendar day/month in a time zone, rolling hours), ``loader``
(the YAML file), ``store`` (the interface), ``memory_store`` / ``sqlite_store`` / ``redis_store`` (where
spend lives), ``stores`` (the one a URL names), ``estimate`` (a call's worst case), ``enforcer`` (admit
before sending, settle after). ``build`` wires them from settings.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from .. import names
from ..errors import ConfigError
from .definitions import Budget
from .enforcer import BudgetEnforcer, ThresholdCrossing, on_budget_threshold, remove_budget_threshold_callback
from .store import SpendStore, StoreError
from .stores import open_store

if TYPE_CHECKING:
    from ..config import Settings
    from ..metrics import Instruments
    from ..pricing import PriceBook

__all__ = [
    "Budget",
    "BudgetEnforcer",
    "ThresholdCrossing",
    "build",
    "on_budget_threshold",
    "remove_budget_threshold_callback",
]


def build(settings: Settings, prices: PriceBook, instruments: Instruments) -> BudgetEnforcer | None:
    """The enforcer the settings ask for, or None when there is nothing to do per call (no budget, no ledger).

    Everything is read and checked before anything is returned: a bad file or store URL raises
    ``ConfigError`` and nothing is applied. A store that does not answer now is not an error (it may be
    back before the first call), but it is logged at once, saying what calls will meet.
    """
    budgets: list[Budget] = list(settings.budgets)
    if settings.budget_file:
        from .loader import load_budgets  # PyYAML only for apps that have a budget file: it is not import time

        budgets += load_budgets(settings.budget_file)
    seen: set[str] = set()
    for budget in budgets:
        if budget.name in seen:
            where = f" (in code and in {settings.budget_file})" if settings.budget_file else ""
            raise ConfigError(f"budget name {budget.name!r} is declared twice{where}. Fix: rename one.")
        seen.add(budget.name)
    store = open_store(settings.budget_store, settings.budget_store_timeout)  # a bad URL fails even unused
    if not budgets and not store.keeps_ledger:
        store.close()
        return None  # the SQLite store is also the ledger: with it, every call is recorded even without budgets
    _probe(store, settings.budget_store_failure == "closed", settings.budget_store_timeout)
    return BudgetEnforcer(
        budgets,
        store,
        prices,
        instruments,
        fail_closed=settings.budget_store_failure == "closed",
        default_max_tokens=settings.budget_default_max_tokens,
        reservation_ttl=settings.budget_reservation_ttl,
        clock=settings.budget_clock,
    )


def _probe(store: SpendStore, fail_closed: bool, timeout: float) -> None:
    """One round trip to the store (bounded by its timeout); a WARNING when it does not answer.

    Without it, an unreachable store with the ``closed`` rule says nothing until the first call is refused.
    """
    try:
        store.probe()
    except StoreError as exc:
        if fail_closed:
            then = "calls of block budgets will be refused (BudgetUnavailableError) until it answers"
        else:
            then = "calls of block budgets will go ahead unchecked and their spend will not be recorded in it"
        logging.getLogger("otel_llmcost.budgets").warning(
            "otel-llmcost: budget store %s does not answer at start-up (%s, within %g s); with %s=%s, %s",
            store.url, exc, timeout, names.ENV_BUDGET_STORE_FAILURE, "closed" if fail_closed else "open", then,
        )  # fmt: skip
