"""Exceptions this package raises to its user (never from inside an instrumented SDK call)."""

from __future__ import annotations


class ConfigError(ValueError):
    """Bad configuration found at start-up: the message names the setting, the problem and the fix."""
