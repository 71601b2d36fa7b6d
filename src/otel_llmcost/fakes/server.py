"""The fakes on a real loopback HTTP server, for code that owns its HTTP client (the demo, subprocess tests).

Each request is answered by :func:`otel_llmcost.fakes.routing.handle` (or another function of its signature);
SSE replies go out with chunked encoding, one event per chunk, and a truncated reply ends without the terminating
chunk, like a dropped connection. Standard library only.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import socket
import socketserver
import sys
import threading
from typing import TYPE_CHECKING, Protocol

from .wire import RecordedRequest, Reply, dumps

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from types import TracebackType


class Handle(Protocol):
    """What the server asks for a reply (:func:`otel_llmcost.fakes.routing.handle`'s signature)."""

    def __call__(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes, *, base_url: str | None = None
    ) -> Reply: ...


def _parse_json(body: bytes) -> object:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


_SocketRequest = socket.socket | tuple[bytes, socket.socket]  # socketserver's request type


class _HTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, record: Callable[[RecordedRequest], None], handle: Handle) -> None:
        self.record = record
        self.answer = handle
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", port), _Handler)
        self.url = f"http://127.0.0.1:{self.server_port}"

    def server_bind(self) -> None:
        """Skip HTTPServer's reverse-DNS lookup of the host: it can stall without a resolver."""
        socketserver.TCPServer.server_bind(self)
        self.server_name = "127.0.0.1"
        self.server_port = self.server_address[1]

    def process_request(self, request: _SocketRequest, client_address: object) -> None:
        if isinstance(request, socket.socket):
            with self.connections_lock:
                self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: _SocketRequest) -> None:
        if isinstance(request, socket.socket):
            with self.connections_lock:
                self.connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: _SocketRequest, client_address: object) -> None:
        """Stay quiet when a client hangs up (or stop() drops it); print real bugs as usual."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)

    def drop_connections(self) -> None:
        """Wake handler threads parked on idle keep-alive connections so stop() is prompt."""
        with self.connections_lock:
            connections = list(self.connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive for plain replies, chunked encoding for SSE
    disable_nagle_algorithm = True  # else Nagle + delayed ACK add ~40 ms to every small reply
    timeout = 60  # idle keep-alive connections end by themselves
    server: _HTTPServer

    def log_message(self, fmt: str, *args: object) -> None:
        """Keep test and demo output clean."""

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _read_body(self) -> bytes:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            parts: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length else b""

    def _serve(self) -> None:
        body = self._read_body()
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.server.record(RecordedRequest(self.command, self.path, headers, _parse_json(body), body))
        try:
            reply = self.server.answer(self.command, self.path, headers, body, base_url=self.server.url)
        except Exception as exc:  # a bug in the fake must not look like a hung connection
            data = dumps({"error": {"message": f"the fake crashed: {exc!r}", "type": "server_error", "code": None}})
            reply = Reply(500, {"content-type": "application/json"}, data, [data])
        try:
            self._write(reply)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _write(self, reply: Reply) -> None:
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if not reply.streaming:
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for chunk in reply.chunks:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.flush()
        if reply.truncated:
            self.close_connection = True  # no terminating chunk: the client sees a cut body
            return
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class MockLLMServer:
    """The deterministic fake on a real loopback HTTP server, for clients that cannot take a custom transport.

    Usage::

        with MockLLMServer() as server:
            client = openai.OpenAI(api_key="test", base_url=server.openai_base_url)
            ...
            assert server.request_count == 1

    ``handle`` answers each request (default: :func:`otel_llmcost.fakes.routing.handle`).
    """

    def __init__(self, port: int = 0, handle: Handle | None = None) -> None:
        self.port = port
        self.requests: list[RecordedRequest] = []
        self._handle = handle
        self._lock = threading.Lock()
        self._server: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._url: str | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``; set once started."""
        if self._url is None:
            raise RuntimeError("MockLLMServer is not started")
        return self._url

    @property
    def openai_base_url(self) -> str:
        """Base URL for ``openai.OpenAI(base_url=...)``."""
        return self.url + "/v1"

    @property
    def anthropic_base_url(self) -> str:
        """Base URL for ``anthropic.Anthropic(base_url=...)``."""
        return self.url

    @property
    def gemini_base_url(self) -> str:
        """Base URL for ``genai.Client(http_options=types.HttpOptions(base_url=...))`` (Gemini API or Vertex AI)."""
        return self.url

    @property
    def ollama_host(self) -> str:
        """Host for ``ollama.Client(host=...)``."""
        return self.url

    @property
    def request_count(self) -> int:
        """Requests received so far (safe to read while clients run)."""
        with self._lock:
            return len(self.requests)

    def clear_requests(self) -> None:
        """Forget recorded requests, e.g. between test phases."""
        with self._lock:
            self.requests.clear()

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def start(self) -> MockLLMServer:
        """Bind 127.0.0.1 and serve in a daemon thread; a no-op when already running."""
        if self._server is not None:
            return self
        if self._handle is None:
            from .routing import handle

            self._handle = handle
        server = _HTTPServer(self.port, self._record, self._handle)
        self._url = server.url
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="mock-llm-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, drop open connections and join the thread; safe to call twice."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._server = self._thread = None
        server.shutdown()
        server.drop_connections()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> MockLLMServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
