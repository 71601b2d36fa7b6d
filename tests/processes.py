"""Helpers for tests that run real processes: the installed ``otel-llmcost`` command and a real Prometheus.

Nothing sleeps to synchronize: output lines are awaited on a condition variable, and servers are polled
for a condition with a deadline.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

COMMAND = Path(sys.executable).with_name("otel-llmcost")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def poll(condition: Callable[[], T | None], timeout: float, what: str, every: float = 0.1) -> T:
    """The first truthy value of ``condition()``, asked every ``every`` seconds until ``timeout``."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        pause.wait(every)


class Lines:
    """A process's stdout, read on a thread; ``wait_for`` blocks until a line matches (or the deadline)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._done = False
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._done = True
            self._changed.notify_all()

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        regex = re.compile(pattern)

        def found() -> re.Match[str] | None:
            return next((m for m in map(regex.search, self.lines) if m), None)

        with self._changed:
            self._changed.wait_for(lambda: found() is not None or self._done, timeout)
            match = found()
        if match is None:
            raise AssertionError(f"no line matching {pattern!r} within {timeout}s; output:\n{self.text()}")
        return match

    def finish(self, timeout: float) -> int:
        code = self.process.wait(timeout)
        self._thread.join(timeout)
        return code

    def text(self) -> str:
        with self._changed:
            return "\n".join(self.lines)


def start_command(*args: str) -> Lines:
    process = subprocess.Popen(
        [str(COMMAND), *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, encoding="utf-8"
    )
    return Lines(process)


def read_spans(path: Path) -> list[dict[str, Any]]:
    """The spans a ``--spans-file`` holds (one JSON document per line)."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def span_cost(span: dict[str, Any]) -> Decimal | None:
    value = span["attributes"].get("gen_ai.usage.cost")
    return None if value is None else Decimal(repr(value))


def prometheus_query(url: str, promql: str) -> list[dict[str, Any]]:
    query = urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(f"{url}/api/v1/query?{query}", timeout=5) as response:
        body = json.load(response)
    assert body["status"] == "success", body
    return list(body["data"]["result"])


@contextmanager
def running_prometheus(tmp_path: Path, target: str, interval: str = "1s") -> Iterator[str]:
    """A real Prometheus on a free loopback port scraping ``target`` (host:port) every ``interval``."""
    binary = shutil.which("prometheus")
    assert binary, "prometheus is not installed (Debian package 'prometheus'; .ci/run installs it)"
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        f"global:\n  scrape_interval: {interval}\n  scrape_timeout: {interval}\n"
        f"scrape_configs:\n  - job_name: demo\n    static_configs:\n      - targets: ['{target}']\n",
        encoding="utf-8",
    )
    log = (tmp_path / "prometheus.log").open("w")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"prometheus exited: {(tmp_path / 'prometheus.log').read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    try:
        poll(ready, 30, "prometheus to be ready")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        log.close()
