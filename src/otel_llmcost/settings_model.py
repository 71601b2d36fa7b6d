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
from collections.abc import Callable, Mapping
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model


@functools.cache
def model(settings: type, checks: tuple[tuple[str, Callable[[object], Any]], ...]) -> type[BaseModel]:
    """The model of the ``settings`` dataclass: one field per dataclass field, same type and default, validated
    by its check (``checks``: field name -> validator). Knows no module of ours: ``config`` hands it both."""
    hints = typing.get_type_hints(settings)
    validators = dict(checks)
    definitions: dict[str, Any] = {}
    for item in dataclasses.fields(settings):
        if item.default_factory is not dataclasses.MISSING:
            default = Field(default_factory=item.default_factory)
        else:
            default = item.default
        definitions[item.name] = (Annotated[hints[item.name], BeforeValidator(validators[item.name])], default)
    return create_model(  # type: ignore[no-any-return,call-overload]
        "Settings",
        __config__=ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True),
        **definitions,
    )


def validate(
    settings: type, checks: tuple[tuple[str, Callable[[object], Any]], ...], values: Mapping[str, Any]
) -> dict[str, Any]:
    """Every field's value (the defaults for those not in ``values``), validated. Raises pydantic's
    ``ValidationError``, which ``config`` turns into one ``ConfigError`` line."""
    validated = model(settings, checks).model_validate(dict(values))
    return {name: getattr(validated, name) for name, _ in checks}
