"""Purpose-built HTTP servers on 127.0.0.1 for the probe tests: one per recipe family and one per
failure class. Each records what it received (headers, query, body) and the most requests it had
in flight at once. Every wait is bounded and ends early when the server stops.
"""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from provision.catalog import load_catalog
from provision.model import ProbeOptions
from provision.probe import Endpoint
from provision.secrets import Secret

JSON = {"Content-Type": "application/json"}
MAX_DELAY = 5.0  # no handler sleeps longer, whatever a test asks


@dataclass(frozen=True)
class Seen:
    method: str
    path: str  # as on the request line: origin-form, or absolute-form through a proxy
    headers: dict[str, str]  # lower-case names
    body: bytes

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.path).query)

    @property
    def route(self) -> str:
        return urlsplit(self.path).path


@dataclass
class Answer:
    status: int = 200
    body: Any = b""  # bytes / str as is; anything else is sent as JSON
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


Handler = Callable[[Seen], Answer]


def ok(doc: Any, status: int = 200, **headers: str) -> Answer:
    return Answer(status, doc, {**JSON, **headers})


def error(status: int, message: str, kind: str = "error", **headers: str) -> Answer:
    return ok({"error": {"message": message, "type": kind}}, status, **headers)


class Server:
    """A threaded HTTP(S) server on 127.0.0.1:<free port> answering with `handler`."""

    def __init__(self, handler: Handler, tls: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.requests: list[Seen] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = _HTTPServer(("127.0.0.1", 0), _RequestHandler)
        self._httpd.owner = self
        if tls is not None:
            self._httpd.socket = tls.wrap_socket(self._httpd.socket, server_side=True)
        self.port: int = self._httpd.server_address[1]
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> Server:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def wait(self, seconds: float) -> None:
        self._stopping.wait(min(seconds, MAX_DELAY))

    def _enter(self, seen: Seen) -> None:
        with self._lock:
            self.requests.append(seen)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 256  # 100 probes connect at once; the default backlog of 5 drops SYNs
    owner: Server


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def _handle(self) -> None:
        owner = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        seen = Seen(
            method=self.command,
            path=self.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        owner._enter(seen)
        try:
            answer = owner.handler(seen)
            if answer.delay:
                owner.wait(answer.delay)
        finally:
            # Before the answer goes out: once it has, the client may send its next request
            # before this thread would get to count this one as done.
            owner._leave()
        try:
            payload = answer.body
            if not isinstance(payload, bytes | str):
                payload = json.dumps(payload)
            data = payload.encode() if isinstance(payload, str) else payload
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test)

    do_GET = do_POST = do_HEAD = _handle

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serve(handler: Handler, tls: ssl.SSLContext | None = None) -> Iterator[Server]:
    with Server(handler, tls) as server:
        yield server


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def self_signed(directory: Path) -> tuple[Path, ssl.SSLContext]:
    """A self-signed certificate for 127.0.0.1 (its own CA file) and a server context using it."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return cert, context


def endpoint(
    recipe: str,
    base_url: str,
    credential: str | list[str] | Secret | None = None,
    *,
    default_base_url: bool = False,
    options: ProbeOptions | None = None,
    **kw: Any,
) -> Endpoint:
    """An Endpoint for a catalog recipe; a str or list credential becomes a Secret."""
    secret = credential if isinstance(credential, Secret | None) else Secret(credential)
    return Endpoint(
        address=f"test.{recipe}",
        recipe=load_catalog().recipes[recipe],
        base_url=base_url,
        credential=secret,
        default_base_url=default_base_url,
        options=options or ProbeOptions(),
        **kw,
    )


# ── one per recipe family ─────────────────────────────────────────────────────────────────────

MODELS = {"object": "list", "data": [{"id": "model-a"}, {"id": "model-b"}]}


def bearer(seen: Seen) -> str | None:
    value = seen.headers.get("authorization", "")
    return value[len("Bearer ") :] if value.startswith("Bearer ") else None


def openai_api(key: str) -> Handler:
    def handle(seen: Seen) -> Answer:
        if seen.route != "/v1/models":
            return Answer(404, "<html>Not Found</html>", {"Content-Type": "text/html"})
        if bearer(seen) != key:
            return error(401, "Incorrect API key provided", "invalid_request_error")
        return ok(MODELS)

    return handle


def anthropic_api(key: str) -> Handler:
    def handle(seen: Seen) -> Answer:
        if seen.route != "/v1/models":
            return error(404, "Not found", "not_found_error")
        if seen.headers.get("anthropic-version") != "2023-06-01":
            return error(400, "anthropic-version header is required", "invalid_request_error")
        if seen.headers.get("x-api-key") != key:
            return error(401, "invalid x-api-key", "authentication_error")
        return ok({"data": [{"id": "claude-x", "display_name": "Claude X"}], "has_more": False})

    return handle


def google_api(key: str) -> Handler:
    def handle(seen: Seen) -> Answer:
        if "key" in seen.query:  # keys never travel in URLs
            return error(500, "TEST FAILURE: the key was sent in the query string")
        if seen.route != "/v1beta/models":
            return error(404, "Not found")
        if seen.headers.get("x-goog-api-key") != key:
            return ok(
                {
                    "error": {
                        "code": 400,
                        "message": "API key not valid. Please pass a valid API key.",
                        "status": "INVALID_ARGUMENT",
                        "details": [{"reason": "API_KEY_INVALID"}],
                    }
                },
                400,
            )
        return ok({"models": [{"name": "models/gemini-x"}], "nextPageToken": "t"})

    return handle


def ollama_api() -> Handler:
    def handle(seen: Seen) -> Answer:
        if seen.route == "/api/version":
            return ok({"version": "0.6.0"})
        if seen.route == "/api/tags":
            return ok({"models": [{"name": "llama3.2:latest"}, {"name": "qwen3:8b"}]})
        return Answer(404, "404 page not found", {"Content-Type": "text/plain"})

    return handle


def openrouter_api(key: str) -> Handler:
    def handle(seen: Seen) -> Answer:
        if seen.route == "/api/v1/models":
            return ok(MODELS)  # public
        if seen.route != "/api/v1/key":
            return Answer(404, "<!DOCTYPE html><html>404</html>", {"Content-Type": "text/html"})
        if bearer(seen) != key:
            return ok({"error": {"message": "No auth credentials found", "code": 401}}, 401)
        return ok({"data": {"label": "sk-or-v1-abc...xyz", "limit": None, "usage": 0.5}})

    return handle


def llama_cpp_api(key: str, *, loading: bool = False) -> Handler:
    def handle(seen: Seen) -> Answer:
        if seen.route == "/v1/models":  # public even with --api-key
            return ok(MODELS)
        if seen.route != "/props":
            return error(404, "File Not Found", "not_found_error")
        if bearer(seen) != key:
            return ok(
                {
                    "error": {
                        "code": 401,
                        "message": "Invalid API Key",
                        "type": "authentication_error",
                    }
                },
                401,
            )
        if loading:
            return ok(
                {"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}},
                503,
            )
        return ok({"default_generation_settings": {}, "total_slots": 1})

    return handle


def azure_api(key: str) -> Handler:
    def handle(seen: Seen) -> Answer:
        if seen.route != "/openai/models" or seen.query.get("api-version") != ["2024-10-21"]:
            return ok({"error": {"code": "404", "message": "Resource not found"}}, 404)
        if seen.headers.get("api-key") != key:
            return ok(
                {"error": {"code": "401", "message": "Access denied due to invalid key"}}, 401
            )
        return ok({"data": [{"id": "gpt-4o"}], "object": "list"})

    return handle


def cohere_api(key: str) -> Handler:
    def handle(seen: Seen) -> Answer:
        if seen.method != "POST" or seen.route != "/v1/check-api-key":
            return ok({"message": "Not Found"}, 404)
        return ok({"valid": bearer(seen) == key, "organization_id": "org"})

    return handle


def coder_api(token: str) -> Handler:
    def handle(seen: Seen) -> Answer:
        if seen.route == "/api/v2/buildinfo":
            return ok({"version": "v2.24.1", "external_url": "https://github.com/coder/coder"})
        if seen.route == "/api/v2/users/me":
            if seen.headers.get("coder-session-token") != token:
                return ok({"message": "You must be logged in to use this endpoint."}, 401)
            return ok({"id": "u1", "username": "alice"})
        return ok({"message": "Route not found."}, 404)

    return handle
