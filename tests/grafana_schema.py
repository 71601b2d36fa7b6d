"""Validate Grafana JSON against the schema carried by ``grafana-foundation-sdk`` (pinned in the test extras).

The SDK has no JSON-schema validator; it has typed models generated from Grafana's schema (CUE kinds) with
``from_json``/``to_json``. So: decode with the models, then (1) encode again and require that nothing was
dropped or changed (a field the schema does not know, or in the wrong place, is dropped by ``from_json``),
and (2) walk the decoded models checking every value against its type annotation (literals, enums,
lists, maps, nested models). Fields the SDK adds back are its defaults and are allowed.
"""

from __future__ import annotations

import enum
import json
import types
import typing
from typing import Any

from grafana_foundation_sdk.cog import plugins
from grafana_foundation_sdk.cog.encoder import JSONEncoder

plugins.register_default_plugins()


def roundtrip_problems(original: Any, decoded: Any, path: str = "") -> list[str]:
    """Differences between the JSON and the models' encoding of it, except fields the models add."""
    back = json.loads(json.dumps(decoded, cls=JSONEncoder))
    return _diff(original, back, path)


def _diff(a: Any, b: Any, path: str) -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = [f"{path}/{k}: not in the schema (dropped)" for k in a if k not in b]
        for k in a:
            if k in b:
                out += _diff(a[k], b[k], f"{path}/{k}")
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} items became {len(b)}"]
        return [p for i, (x, y) in enumerate(zip(a, b, strict=True)) for p in _diff(x, y, f"{path}[{i}]")]
    if a != b and not (isinstance(a, int | float) and isinstance(b, int | float) and float(a) == float(b)):
        return [f"{path}: {a!r} became {b!r}"]
    return []


def type_problems(obj: Any, path: str = "") -> list[str]:
    """Values of a decoded model that do not match the schema's types."""
    if not hasattr(obj, "to_json") or not hasattr(type(obj), "__annotations__"):
        return []
    try:
        hints = typing.get_type_hints(type(obj))
    except NameError:
        return []
    out: list[str] = []
    for name, hint in hints.items():
        if name.startswith("_"):
            continue
        out += _check(getattr(obj, name, None), hint, f"{path}.{name}")
    return out


def _check(value: Any, hint: Any, path: str) -> list[str]:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any or hint is object:
        return type_problems(value, path)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return []
        results = [_check(value, arg, path) for arg in args if arg is not type(None)]
        return [] if any(not r for r in results) else results[0]
    if value is None:
        return []  # required-ness is the encoder's business; a None is simply not written
    if origin is typing.Literal:
        return [] if value in args else [f"{path}: {value!r} not one of {args}"]
    if origin is list:
        if not isinstance(value, list):
            return [f"{path}: expected a list, got {value!r}"]
        return [p for i, item in enumerate(value) for p in _check(item, args[0], f"{path}[{i}]")]
    if origin is dict:
        if not isinstance(value, dict):
            return [f"{path}: expected a mapping, got {value!r}"]
        return [p for k, v in value.items() for p in _check(v, args[1], f"{path}[{k!r}]")]
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        allowed = {m.value for m in hint}
        raw = value.value if isinstance(value, enum.Enum) else value
        return [] if raw in allowed else [f"{path}: {value!r} not one of {sorted(map(str, allowed))}"]
    if hint is bool:
        return [] if isinstance(value, bool) else [f"{path}: expected a boolean, got {value!r}"]
    if hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return [] if ok else [f"{path}: expected int, got {value!r}"]
    if hint is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return [] if ok else [f"{path}: expected a number, got {value!r}"]
    if hint is str:
        return [] if isinstance(value, str) else [f"{path}: expected a string, got {value!r}"]
    if isinstance(hint, type):
        if hasattr(hint, "to_json") and not isinstance(value, hint) and not isinstance(value, dict):
            return [f"{path}: expected {hint.__name__}, got {value!r}"]
        return type_problems(value, path)
    return []
