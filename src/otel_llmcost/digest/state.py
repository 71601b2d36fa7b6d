"""Which periods went to which destination: a small JSON file, so a digest is sent once per period.

A destination is marked only after it took the digest; a failed one stays unmarked, and the next run
sends it there (and only there). Written whole to a temporary file and renamed, under a lock, so two runs
(cron overlapping a manual one) neither lose a mark nor both send.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SUFFIX = ".digest-sent.json"


class StateError(Exception):
    """The state file cannot be read or written (the message says which and why)."""


class SentState:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def _read(self) -> dict[str, dict[str, float]]:
        try:
            data: Any = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise StateError(f"cannot read the digest state file {self.path} ({exc})") from None
        sent = data.get("sent") if isinstance(data, dict) else None
        if not isinstance(sent, dict):
            raise StateError(f"{self.path} is not a digest state file (no 'sent' mapping)")
        return sent

    def sent(self, period: str) -> dict[str, float]:
        """Destination key -> when (unix seconds) the digest of ``period`` went there."""
        return dict(self._read().get(period, {}))

    def mark(self, period: str, destination: str, when: float) -> None:
        sent = self._read()
        sent.setdefault(period, {})[destination] = when
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name, suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump({"sent": sent}, out, indent=1, sort_keys=True)
            os.replace(temporary, self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise StateError(f"cannot write the digest state file {self.path} ({exc})") from None

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold an exclusive lock (``<state>.lock``) for one run: a second run waits for the first."""
        try:
            import fcntl
        except ImportError:  # not POSIX: no lock
            yield
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            handle = open(self.path.with_name(self.path.name + ".lock"), "a")  # noqa: SIM115
        except OSError as exc:
            raise StateError(f"cannot lock the digest state file {self.path} ({exc})") from None
        with handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield
