"""The pydantic model that validates settings, built from the fields of ``config.Settings`` (the one list).

Imported by ``Settings.load()`` only when an argument or a variable gives a value: importing pydantic and
building the model costs ~70 ms, which a process configured by defaults alone (most processes started by
``opentelemetry-instrument``) should not pay. Each field gets the dataclass field's type and default, and its
``Option``'s validator as a ``BeforeValidator``; pydantic's errors are turned into one ``ConfigError`` line here.
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, create_model

from . import config
from .config import OPTIONS, _did_you_mean, _Invalid, fix
from .errors import ConfigError


@functools.cache
def model() -> type[BaseModel]:
    """The model of ``config.Settings``: one field per dataclass field, same type, default and validator."""
    hints = typing.get_type_hints(config.Settings)
    definitions: dict[str, Any] = {}
    for item in dataclasses.fields(config.Settings):
        if item.default_factory is not dataclasses.MISSING:
            default = Field(default_factory=item.default_factory)
        else:
            default = item.default
        check = OPTIONS[item.name].check
        definitions[item.name] = (Annotated[hints[item.name], BeforeValidator(check)], default)
    return create_model(  # type: ignore[no-any-return,call-overload]
        "Settings",
        __config__=ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True),
        **definitions,
    )


def validate(values: Mapping[str, Any], sources: Mapping[str, str]) -> dict[str, Any]:
    """Every field's value (the defaults for those not in ``values``), validated; ``sources`` names where each
    given value came from (the argument or the variable) for the error. Raises ``ConfigError``."""
    try:
        validated = model().model_validate(dict(values))
    except ValidationError as exc:
        raise _config_error(exc, sources) from None
    return {name: getattr(validated, name) for name in OPTIONS}


def _config_error(exc: ValidationError, sources: Mapping[str, str]) -> ConfigError:
    """One line for the user: the first bad option in full, any others by name (pydantic's text never shows)."""
    messages: list[str] = []
    others: list[str] = []
    for error in exc.errors():
        cause = error.get("ctx", {}).get("error")
        problem = cause.problem if isinstance(cause, _Invalid) else str(error["msg"])
        field = str(error["loc"][0]) if error["loc"] else None
        if field is None:  # a rule across options: its message is whole
            messages.append(problem)
            others.append(problem)
        elif field not in OPTIONS:
            messages.append(f"unknown option {field!r}{_did_you_mean(field, list(OPTIONS))}")
            others.append(field)
        else:
            shown = sources.get(field, field)
            messages.append(f"{shown}={error['input']!r} {problem}. {fix(field)}")
            others.append(shown)
    if len(messages) > 1:
        return ConfigError(f"{messages[0]} Also invalid: {', '.join(others[1:])}.")
    return ConfigError(messages[0])
