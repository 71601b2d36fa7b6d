"""Real Prometheus and Alertmanager processes on free loopback ports, a loopback webhook, and polling.

Each server gets a temporary storage directory and is terminated by its context manager; readiness and
every later condition are polled against a deadline, never waited for with a fixed sleep.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import math
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest

T = TypeVar("T")

PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")
ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
AMTOOL = shutil.which("amtool")


def need(binary: str | None, name: str) -> str:
    if binary is None:
        pytest.fail(f"{name} is not installed: bash scripts/test.sh installs it (scripts/test-deps.sh: apt-get install "
                    "prometheus prometheus-alertmanager redis-server)")
    return binary


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def poll(condition: Callable[[], T | None], what: str, timeout: float = 30.0, interval: float = 0.1) -> T:
    """Call ``condition`` until it returns something truthy; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while True:
        try:
            value = condition()
            if value:
                return value
        except (OSError, ValueError, KeyError) as exc:
            last = exc
        if time.monotonic() > deadline:
            detail = f" (last error: {last})" if last else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {what}{detail}")
        threading.Event().wait(interval)


def http_json(url: str, data: dict[str, str] | None = None, timeout: float = 30.0) -> Any:
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    request = urllib.request.Request(url, data=body)
    if body is not None:
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


@contextlib.contextmanager
def process(args: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


class Prometheus:
    """A running Prometheus; query helpers return plain Python values."""

    def __init__(self, url: str) -> None:
        self.url = url

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        data = {"query": expr}
        if at is not None:
            data["time"] = repr(at)
        reply = http_json(self.url + "/api/v1/query", data)
        assert reply["status"] == "success", reply
        result: list[dict[str, Any]] = reply["data"]["result"]
        return result

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        data = {"query": expr, "start": repr(start), "end": repr(end), "step": repr(step)}
        reply = http_json(self.url + "/api/v1/query_range", data)
        assert reply["status"] == "success", reply
        result: list[dict[str, Any]] = reply["data"]["result"]
        return result

    def value(self, expr: str, at: float | None = None) -> float | None:
        """The single value of an expression, or None when it returns nothing."""
        result = self.query(expr, at)
        if not result:
            return None
        assert len(result) == 1, f"{expr} returned {len(result)} series"
        return float(result[0]["value"][1])

    def exemplars(self, expr: str, start: float, end: float) -> list[dict[str, Any]]:
        """``/api/v1/query_exemplars``: per series, its ``seriesLabels`` and ``exemplars`` (labels, value, time)."""
        reply = http_json(self.url + "/api/v1/query_exemplars", {"query": expr, "start": repr(start), "end": repr(end)})
        assert reply["status"] == "success", reply
        result: list[dict[str, Any]] = reply["data"] or []
        return result

    def rules(self) -> list[dict[str, Any]]:
        reply = http_json(self.url + "/api/v1/rules")
        return [rule for group in reply["data"]["groups"] for rule in group["rules"]]


def has_data(result: list[dict[str, Any]]) -> bool:
    """At least one sample that is a number (not NaN): an instant vector or a matrix."""
    for series in result:
        samples = series.get("values") or [series.get("value")]
        if any(s is not None and not math.isnan(float(s[1])) for s in samples):
            return True
    return False


@contextlib.contextmanager
def prometheus(config: Path, workdir: Path, flags: Sequence[str] = ()) -> Iterator[Prometheus]:
    """``flags``: more command-line flags (e.g. the rendered stack's ``--enable-feature=exemplar-storage``)."""
    binary = need(PROMETHEUS, "prometheus")
    port = free_port()
    storage = workdir / "prometheus-data"
    storage.mkdir()
    args = [binary, f"--config.file={config}", f"--storage.tsdb.path={storage}",
            f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn", *flags]
    with process(args, workdir / "prometheus.log") as proc:
        url = f"http://127.0.0.1:{port}"
        poll(lambda: proc.poll() is None and urllib.request.urlopen(url + "/-/ready", timeout=2).status == 200,
             "Prometheus to be ready")
        yield Prometheus(url)


@contextlib.contextmanager
def alertmanager(config: Path, workdir: Path) -> Iterator[str]:
    binary = need(ALERTMANAGER, "prometheus-alertmanager")
    port = free_port()
    storage = workdir / "alertmanager-data"
    storage.mkdir()
    args = [binary, f"--config.file={config}", f"--storage.path={storage}",
            f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=", "--log.level=warn"]
    with process(args, workdir / "alertmanager.log") as proc:
        url = f"http://127.0.0.1:{port}"
        poll(lambda: proc.poll() is None and urllib.request.urlopen(url + "/-/ready", timeout=2).status == 200,
             "Alertmanager to be ready")
        yield url


class Webhook:
    """A loopback HTTP server that records every JSON body POSTed to it (stands in for Slack)."""

    def __init__(self) -> None:
        self.bodies: list[Any] = []
        self._lock = threading.Lock()
        hook = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                with hook._lock:
                    hook.bodies.append(json.loads(raw or b"null"))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, fmt: str, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/slack"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def received(self) -> list[Any]:
        with self._lock:
            return list(self.bodies)

    def __enter__(self) -> Webhook:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
