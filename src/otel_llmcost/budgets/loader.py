"""The budget file (YAML, named by OTEL_LLMCOST_BUDGET_FILE or ``budget_file=``): read whole, checked whole.

Every problem is a ``ConfigError`` that names the file, the line and the fix; nothing of a bad file is
applied. The file is read from PyYAML's node tree, so each value keeps the line it was written on (a pydantic
model would check the same fields but lose those lines). A file that is empty (or only comments) is an error:
a budget file that declares nothing is far more often a bad deploy than an intent (write ``budgets: []``).

    budgets:
      - name: daily-total
        limit: 50                 # USD
        period: day               # day | month (calendar, in timezone) | 24h (rolling N hours)
        timezone: Europe/Paris    # default UTC
        scope: all                # or {feature: summarize} / {team: ...} / {user: ...} / {model: gpt-4o}
                                  # or {user: "*"}: every user their own limit (also team, feature, model)
        overrides: {alice: 20}    # wildcard scopes only: members with another limit
        thresholds: [0.5, 80%]    # default [0.8]; reaching the limit always fires too
        action: block             # warn (default) | block

    expensive_request_usd:        # optional: one call above its threshold is told at once (span event, WARNING,
      default: 0.50               #   on_expensive_request); default: every call's (OTEL_LLMCOST_EXPENSIVE_REQUEST_USD)
      features:                   #   per llmcost.feature, in place of the default
        summarize: 2.00
    # (expensive_request_usd: 0.50 alone sets the default)
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from ..errors import ConfigError
from .definitions import ACTIONS, SCOPE_KEYS, WILDCARD, Budget, _thresholds, _usd
from .periods import parse_period

TOP_LEVEL = ("budgets", "expensive_request_usd")
EXPENSIVE_FIELDS = ("default", "features")
FIELDS = ("name", "limit", "period", "timezone", "scope", "overrides", "thresholds", "action")
_SCALARS = yaml.constructor.SafeConstructor()
_BARE_WILDCARD = re.compile(r":\s*\*\s*($|[,}\]#])")


class _Where:
    """File and line of a node, for error messages."""

    def __init__(self, path: str) -> None:
        self.path = path

    def error(self, node: yaml.Node | None, reason: str) -> ConfigError:
        line = f":{node.start_mark.line + 1}" if node is not None else ""
        return ConfigError(f"budget file {self.path}{line}: {reason}")


class BudgetFile(NamedTuple):
    """What a budget file declares: budgets, and the expensive-request thresholds (None / empty when unset)."""

    budgets: list[Budget]
    expensive_default: Decimal | None
    expensive_by_feature: dict[str, Decimal]
    expensive_lines: dict[str | None, int]
    """Where each threshold is written: line of the default (key None) and of each feature, for error messages."""


def load_budgets(path: str | Path) -> list[Budget]:
    """The budgets a file declares (``budgets: []`` declares none; an empty file is an error)."""
    return load_budget_file(path).budgets


def load_budget_file(path: str | Path) -> BudgetFile:
    """The whole file: budgets and expensive-request thresholds, each checked; a ``ConfigError`` names the line."""
    where = _Where(str(path))
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"budget file {path} cannot be read ({exc.strerror or exc}). Fix: point OTEL_LLMCOST_BUDGET_FILE "
            "(or budget_file=) at a readable YAML file."
        ) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        bad_line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"budget file {path}:{bad_line}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}). "
            "Fix: save the file as UTF-8."
        ) from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        lines = text.splitlines()
        hint = ""
        if mark is not None and mark.line < len(lines) and _BARE_WILDCARD.search(lines[mark.line]):
            hint = " Fix: quote the wildcard (YAML reads a bare * as an alias): scope: {user: \"*\"}."
        raise ConfigError(f"budget file {path}{line}: not valid YAML ({exc.problem or exc.context}).{hint}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"budget file {path}: not valid YAML ({exc}).") from None
    if root is None or (isinstance(root, yaml.ScalarNode) and _scalar(where, root, "the file") is None):
        raise ConfigError(
            f"budget file {path} is empty (no YAML in it). Fix: declare budgets (budgets: [{{name: daily, limit: "
            "50}]), write budgets: [] to declare none on purpose, or unset OTEL_LLMCOST_BUDGET_FILE."
        )
    if not isinstance(root, yaml.MappingNode):
        raise where.error(root, "the file must be a mapping with a 'budgets:' list.")
    items = expensive = None
    for key, value in root.value:
        name = _scalar(where, key, "a top-level key")
        if name not in TOP_LEVEL:
            raise where.error(key, f"unknown key {name!r}; the top-level keys are {', '.join(TOP_LEVEL)}.")
        if name == "budgets":
            items = value
        else:
            expensive = value
    if items is None and expensive is None:
        raise where.error(root, "no 'budgets:' key. Fix: budgets: [ {name: daily, limit: 50} ].")
    budgets = _budgets(where, items)
    thresholds = _expensive(where, expensive) if expensive is not None else (None, {}, {})
    return BudgetFile(budgets, *thresholds)


def _budgets(where: _Where, items: yaml.Node | None) -> list[Budget]:
    if items is None or (isinstance(items, yaml.ScalarNode) and _scalar(where, items, "budgets") is None):
        return []
    if not isinstance(items, yaml.SequenceNode):
        raise where.error(items, "'budgets' must be a list of budgets (each starting with '- name:').")
    budgets: list[Budget] = []
    seen: dict[str, int] = {}
    for item in items.value:
        budget = _budget(where, item)
        if budget.name in seen:
            raise where.error(
                item, f"budget name {budget.name!r} is used twice (first on line {seen[budget.name]}). Fix: rename one."
            )
        seen[budget.name] = item.start_mark.line + 1
        budgets.append(budget)
    return budgets


_EXAMPLES = {
    "name": "name: daily-total",
    "limit": "limit: 50",
    "period": "period: day",
    "timezone": "timezone: Europe/Paris",
    "action": "action: block",
    "threshold": "thresholds: [0.5, 80%]",
}


def _scalar(where: _Where, node: yaml.Node, what: str) -> Any:
    """The plain value of ``node``; a list or mapping where one value belongs is an error naming ``what``."""
    if not isinstance(node, yaml.ScalarNode):
        kind = "a list" if isinstance(node, yaml.SequenceNode) else "a mapping"
        example = _EXAMPLES.get(what, "scope: {team: search}" if what.startswith("scope") else None)
        fix = f" Fix: e.g. {example}." if example else ""
        raise where.error(node, f"{what} must be a single value, not {kind}.{fix}")
    try:
        return _SCALARS.construct_object(node)
    except (yaml.YAMLError, ValueError) as exc:  # an unknown tag (!foo 5), a date that does not exist
        problem = getattr(exc, "problem", None) or exc
        raise where.error(node, f"{what}: {problem}. Fix: write a plain value.") from None


def _budget(where: _Where, item: yaml.Node) -> Budget:
    if not isinstance(item, yaml.MappingNode):
        raise where.error(item, "each budget must be a mapping (name:, limit:, ...).")
    fields: dict[str, tuple[yaml.Node, Any]] = {}
    keys = [(_scalar(where, k, "a budget field name"), k, v) for k, v in item.value]
    label = next((_scalar(where, v, "name") for key, _, v in keys if key == "name"), "?")
    for key, key_node, value_node in keys:
        if key not in FIELDS:
            raise where.error(key_node, f"unknown budget field {key!r}. Known fields: {', '.join(FIELDS)}.")
        if key == "thresholds" and isinstance(value_node, yaml.SequenceNode):
            found = []
            for threshold in value_node.value:  # each checked on its own line
                value = _scalar(where, threshold, "threshold")
                try:
                    _thresholds([value], str(label))
                except ConfigError as exc:
                    raise where.error(threshold, str(exc)) from None
                found.append(value)
            fields[key] = (value_node, found)
            continue
        fields[key] = (value_node, value_node if key in ("scope", "overrides") else _scalar(where, value_node, key))
    for required in ("name", "limit"):
        if required not in fields:
            raise where.error(item, f"a budget needs '{required}:'.")
    values = {key: value for key, (_, value) in fields.items()}
    name = values["name"]

    def check(key: str, test: Any) -> None:
        if key in fields:
            try:
                test(values[key])
            except ConfigError as exc:
                raise where.error(fields[key][0], str(exc)) from None

    if not isinstance(name, str):
        raise where.error(fields["name"][0], f"name {name!r} must be a string.")
    check("limit", lambda v: _usd(v, "limit"))
    if "timezone" in fields and not isinstance(values["timezone"], str):
        raise where.error(fields["timezone"][0], "timezone must be an IANA name such as Europe/Paris.")
    timezone = values.get("timezone", "UTC")
    if "period" in fields and isinstance(values["period"], int) and not isinstance(values["period"], bool):
        raise where.error(fields["period"][0], f"period {values['period']} needs a unit: day, month or e.g. 24h.")
    check("period", lambda v: parse_period(v, timezone))
    if "period" not in fields:
        check("timezone", lambda v: parse_period("day", v))
    check("thresholds", lambda v: _thresholds(v if isinstance(v, list) else [v], name))
    check("action", lambda v: None if v in ACTIONS else _raise(f"action {v!r} is not warn or block."))
    scope: dict[str, Any] = {}
    if "scope" in fields:
        scope = _scope(where, fields["scope"][0])
    if "overrides" in fields:
        scope["overrides"] = _overrides(where, fields["overrides"][0], scope, str(name))
    thresholds = values.get("thresholds", [0.8])
    try:
        return Budget(
            name,
            limit=values["limit"],
            period=values.get("period", "day"),
            timezone=timezone,
            thresholds=thresholds if isinstance(thresholds, list) else [thresholds],
            action=values.get("action", "warn"),
            **scope,
        )
    except ConfigError as exc:
        raise where.error(item, str(exc)) from None


def _scope(where: _Where, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        if _scalar(where, node, "scope") in ("all", None):
            return {}
        raise where.error(node, f"scope {node.value!r} must be 'all' or one of {{feature|team|user|model: value}}.")
    if not isinstance(node, yaml.MappingNode) or len(node.value) != 1:
        raise where.error(node, "scope must be 'all' or exactly one of {feature|team|user|model: value}.")
    key_node, value_node = node.value[0]
    key = _scalar(where, key_node, "the scope key")
    value = _scalar(where, value_node, f"scope {key}")
    if key not in SCOPE_KEYS:
        raise where.error(key_node, f"scope key {key!r} is not one of {', '.join(SCOPE_KEYS)}.")
    if not isinstance(value, (str, int)) or isinstance(value, bool) or value == "":
        raise where.error(value_node, f"scope {key} needs a value, e.g. {{{key}: search}}.")
    return {key: str(value)}


def _overrides(where: _Where, node: yaml.Node, scope: dict[str, Any], name: str) -> dict[str, Any]:
    """``overrides: {alice: 20, bob: 5}``: each member and limit checked on its own line."""
    if not scope or next(iter(scope.values())) != WILDCARD:
        raise where.error(
            node, "overrides need a wildcard scope (one limit per member). Fix: scope: {user: \"*\"} (or team, "
            "feature, model), or remove overrides."
        )
    if not isinstance(node, yaml.MappingNode):
        raise where.error(node, "overrides must map members to limits. Fix: e.g. overrides: {alice: 20, bob: 5}.")
    found: dict[str, Any] = {}
    for key_node, value_node in node.value:
        member = _scalar(where, key_node, "an override's member")
        if isinstance(member, bool) or not isinstance(member, (str, int)) or member in ("", WILDCARD):
            raise where.error(
                key_node,
                f"override member {member!r} is not a value of the scope key. Fix: e.g. overrides: {{alice: 20}}.",
            )
        member = str(member)
        if member in found:
            raise where.error(key_node, f"override member {member!r} is given twice. Fix: keep one.")
        limit = _scalar(where, value_node, "an override's limit")
        try:
            amount = _usd(limit, f"override {member!r}: limit")
        except ConfigError as exc:
            raise where.error(value_node, str(exc)) from None
        if amount <= 0:
            raise where.error(
                value_node, f"override {member!r}: limit {limit!r} must be more than $0. Fix: e.g. {member}: 20."
            )
        found[member] = limit
    return found


_EXPENSIVE_FIX = "Fix: e.g. expensive_request_usd: {default: 0.50, features: {summarize: 2.00}}."


def _expensive(
    where: _Where, node: yaml.Node
) -> tuple[Decimal | None, dict[str, Decimal], dict[str | None, int]]:
    """``expensive_request_usd: 0.50`` or ``{default: 0.50, features: {summarize: 2.00}}``: each amount checked
    on its own line; returns the default, the per-feature thresholds and the line of each."""
    lines: dict[str | None, int] = {}
    if isinstance(node, yaml.ScalarNode):
        lines[None] = node.start_mark.line + 1
        return _threshold(where, node, "expensive_request_usd"), {}, lines
    if not isinstance(node, yaml.MappingNode):
        raise where.error(node, f"expensive_request_usd must be an amount in USD or a mapping. {_EXPENSIVE_FIX}")
    default: Decimal | None = None
    features: dict[str, Decimal] = {}
    for key_node, value_node in node.value:
        key = _scalar(where, key_node, "an expensive_request_usd key")
        if key not in EXPENSIVE_FIELDS:
            raise where.error(
                key_node, f"unknown expensive_request_usd key {key!r}; the keys are default and features. "
                + _EXPENSIVE_FIX
            )
        if key == "default":
            default = _threshold(where, value_node, "expensive_request_usd default")
            lines[None] = value_node.start_mark.line + 1
            continue
        if isinstance(value_node, yaml.ScalarNode) and _scalar(where, value_node, "features") is None:
            continue  # features: (nothing) sets none
        if not isinstance(value_node, yaml.MappingNode):
            raise where.error(value_node, f"expensive_request_usd features must map features to USD. {_EXPENSIVE_FIX}")
        for feature_node, amount_node in value_node.value:
            feature = _scalar(where, feature_node, "a feature name")
            if isinstance(feature, bool) or not isinstance(feature, (str, int)) or feature in ("", WILDCARD):
                raise where.error(
                    feature_node, f"{feature!r} is not a feature name (a value of llmcost.feature); every other "
                    "feature's calls get the default. " + _EXPENSIVE_FIX,
                )
            feature = str(feature)
            if feature in features:
                raise where.error(
                    feature_node, f"feature {feature!r} has two expensive-request thresholds (first on line "
                    f"{lines[feature]}). Fix: keep one."
                )
            features[feature] = _threshold(where, amount_node, f"expensive_request_usd for feature {feature!r}")
            lines[feature] = amount_node.start_mark.line + 1
    if default is None and not features:
        raise where.error(node, f"expensive_request_usd sets no threshold. {_EXPENSIVE_FIX}")
    return default, features, lines


def _threshold(where: _Where, node: yaml.Node, what: str) -> Decimal:
    value = _scalar(where, node, what)
    if value is None:
        raise where.error(node, f"{what} needs an amount in USD. {_EXPENSIVE_FIX}")
    try:
        amount = _usd(value, what)
    except ConfigError as exc:
        raise where.error(node, str(exc)) from None
    if amount < 0:
        raise where.error(node, f"{what} {value!r} must be an amount in USD >= 0. {_EXPENSIVE_FIX}")
    return amount


def _raise(reason: str) -> None:
    raise ConfigError(reason)
