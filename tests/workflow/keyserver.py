"""A small OpenAI-compatible server on 127.0.0.1 for key-rotation tests: `GET /v1/models`
answers 429 (Retry-After: 0) for throttled keys, 200 with a model list for accepted keys, and
401 for any other key — echoing the key in its message, as some providers do, so a test can
prove provision never repeats what a server echoes."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    throttled: frozenset[str]
    accepted: frozenset[str]
    seen: list[str]


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = 5  # a stuck client cannot hold a handler thread for long

    def do_GET(self) -> None:
        auth = self.headers.get("Authorization", "")
        key = auth.removeprefix("Bearer ")
        self.server.seen.append(key)
        headers = {"Content-Type": "application/json"}
        body: dict[str, Any]
        if self.path.rstrip("/") != "/v1/models":
            status, body = 404, {"error": {"message": f"Unknown url {self.path}"}}
        elif key in self.server.throttled:
            status, body = 429, {"error": {"message": "Rate limit reached", "type": "requests"}}
            headers["Retry-After"] = "0"
        elif key in self.server.accepted:
            status, body = (
                200,
                {
                    "object": "list",
                    "data": [{"id": "model-a", "object": "model", "owned_by": "test"}],
                },
            )
        else:
            status, body = (
                401,
                {
                    "error": {
                        "message": f"Incorrect API key provided: {key}",
                        "type": "invalid_request_error",
                        "code": "invalid_api_key",
                    }
                },
            )
        data = json.dumps(body).encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def key_server(*, throttled: set[str], accepted: set[str]) -> Iterator[tuple[str, list[str]]]:
    """(base URL ending in /v1, the keys presented so far, in order)."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.throttled, server.accepted, server.seen = frozenset(throttled), frozenset(accepted), []
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/v1", server.seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
