"""A local stand-in for a Coder deployment with AI Bridge, for demos, CI dry runs and tests.

It answers as coderd and aibridged do (their bodies, taken from their source, are in
`_bridgesim_replies`):

    GET /api/v2/buildinfo             public                200 JSON
    GET /api/v2/users/me              Coder-Session-Token   200 JSON, else 401 {"message","detail"}
    /api/v2/aibridge/<instance>/...   Authorization: Bearer <token> or X-Api-Key: <token>
                                      (a Coder-Session-Token header counts as no token)
        no token                      400 text/plain "no authentication key provided"
        another token                 403 text/plain "unauthorized"
        GET /<instance>/v1/models     200 the instance type's model list
        a route the bridge lacks      404 text/plain "route not supported: GET /<route>"
    anything else                     404 {"message": "Route not found."}

The bridge checks the token before it routes, as aibridged does, so an unknown route without a
token is a 400. Faults act in front of the bridge, as a rate limiter or proxy would: the first
`fail_429` bridge requests get 429, the next `fail_5xx` get 502, then every bridge request gets
the `redirect` (307) or the `html` page when set. `latency` delays every answer; `slow_start`
leaves connections waiting in the listen backlog for that long after `start()`, as a deployment
that is up but still starting does.
"""

from __future__ import annotations

import hmac
import math
import re
import socket
import socketserver
import threading
from collections import deque
from collections.abc import Mapping
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import MappingProxyType, TracebackType
from typing import Any, Final, Literal
from urllib.parse import urlsplit

from provision.probe._bridgesim_replies import (
    _ANTHROPIC_MODELS,
    _KNOWN_ROUTES,
    _OPENAI_MODELS,
    _SIGNED_OUT,
    _USER,
    _bearer,
    _bridge_token,
    _go_error,
    _json,
    _Reply,
    _session_detail,
)
from provision.record import record

__all__ = ["DEFAULT_INSTANCES", "VERSION", "BridgeSim", "Seen"]

VERSION: Final = "v2.27.0-sim"
DEFAULT_INSTANCES: Final[Mapping[str, str]] = MappingProxyType(
    {"openai": "openai", "anthropic": "anthropic"}
)
BRIDGE_PREFIX: Final = "/api/v2/aibridge"
AuthKind = Literal["bearer", "authorization", "x-api-key", "coder-session-token"]

_INSTANCE_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_LOG_SIZE = 10_000  # the request log of a long-running CLI must not grow without bound
_MAX_BODY = 1 << 20
_HTML_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>Sign in</title></head>"
    "<body><h1>Sign in to continue</h1><form method=post action=/login></form></body></html>\n"
)


@record(kw_only=False)
class Seen:
    """One request as the simulator saw it. Which auth headers came, never their values; the
    path without its query string (a token can travel there)."""

    method: str
    path: str
    auth: tuple[AuthKind, ...]
    status: int


def _auth_kinds(headers: Mapping[str, str]) -> tuple[AuthKind, ...]:
    kinds: list[AuthKind] = []
    if "authorization" in headers:
        kinds.append("bearer" if _bearer(headers) is not None else "authorization")
    if "x-api-key" in headers:
        kinds.append("x-api-key")
    if "coder-session-token" in headers:
        kinds.append("coder-session-token")
    return tuple(kinds)


def _check_options(
    token: str,
    port: int,
    seconds: Mapping[str, float],
    counts: Mapping[str, int],
    redirect: str | None,
    html: bool,
) -> None:
    if not (token.isascii() and token.isprintable()) or not token or " " in token:
        raise ValueError("the token must be printable ASCII without spaces")
    if not 0 <= port <= 65535:
        raise ValueError(f"port {port} is out of range")
    for name, value in seconds.items():
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be a number of seconds >= 0, not {value}")
    for name, count in counts.items():
        if count < 0:
            raise ValueError(f"{name} must be >= 0, not {count}")
    if redirect is not None:
        parts = urlsplit(redirect)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"the redirect target must be an absolute http(s) URL: {redirect!r}")
        if html:
            raise ValueError("redirect and html are two answers to the same request: pick one")


def _merge_instances(extra: Mapping[str, str]) -> Mapping[str, str]:
    merged = dict(DEFAULT_INSTANCES)
    for name, kind in extra.items():
        if not _INSTANCE_NAME.match(name):
            raise ValueError(f"instance name {name!r} must match {_INSTANCE_NAME.pattern}")
        if kind not in _KNOWN_ROUTES:
            raise ValueError(f"instance {name!r}: type must be openai or anthropic, not {kind!r}")
        if merged.get(name, kind) != kind:
            raise ValueError(f"instance {name!r} is already of type {merged[name]}")
        merged[name] = kind
    return MappingProxyType(merged)


class BridgeSim:
    """A Coder deployment with AI Bridge on host:port, served from a background thread."""

    def __init__(
        self,
        token: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        fail_429: int = 0,
        fail_5xx: int = 0,
        redirect: str | None = None,
        html: bool = False,
        slow_start: float = 0.0,
        instances: Mapping[str, str] | None = None,
    ) -> None:
        _check_options(
            token,
            port,
            {"latency": latency, "slow_start": slow_start},
            {"fail_429": fail_429, "fail_5xx": fail_5xx},
            redirect,
            html,
        )
        self._token = token
        self._host, self._port = host, port
        self._latency, self._slow_start = latency, slow_start
        self._fail_429, self._fail_5xx = fail_429, fail_5xx
        self._redirect, self._html = redirect, html
        self.instances = _merge_instances(instances or {})
        self._lock = threading.Lock()
        self._log: deque[Seen] = deque(maxlen=_LOG_SIZE)
        self._bridge_count = 0
        self._stopping = threading.Event()
        self._serving = False
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self._url: str | None = None

    # ── lifecycle ────────────────────────────────────────────────────────────────────────────

    def start(self) -> str:
        """Bind, start serving in a background thread, and return the base URL."""
        if self._httpd is not None:
            raise RuntimeError("the simulator was already started")
        # Listening here, not in the thread: with SO_REUSEADDR a port conflict shows only at
        # listen(), and it must reach the caller.
        server = _Server6 if ":" in self._host else _Server
        httpd = server((self._host, self._port), _Handler)
        httpd.sim = self
        self._httpd = httpd
        shown = f"[{self._host}]" if ":" in self._host else self._host
        self._url = f"http://{shown}:{httpd.server_port}"
        self._thread = threading.Thread(target=self._run, name="bridge-sim", daemon=True)
        self._thread.start()
        return self._url

    def _run(self) -> None:
        if self._slow_start and self._stopping.wait(self._slow_start):
            return
        assert self._httpd is not None
        with self._lock:
            if self._stopping.is_set():
                return
            # From here stop() must call shutdown(), which waits for serve_forever to finish.
            self._serving = True
        self._httpd.serve_forever(poll_interval=0.05)

    def stop(self) -> None:
        """Stop serving and release the port; pending latency waits end at once. Idempotent."""
        with self._lock:
            self._stopping.set()
            serving = self._serving
        if self._httpd is not None:
            if serving:
                self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> BridgeSim:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The base URL (the Coder access URL), once started."""
        if self._url is None:
            raise RuntimeError("the simulator has not been started")
        return self._url

    @property
    def requests(self) -> tuple[Seen, ...]:
        """The most recent requests, oldest first."""
        with self._lock:
            return tuple(self._log)

    # ── answers ──────────────────────────────────────────────────────────────────────────────

    def _answer(self, method: str, target: str, headers: Mapping[str, str]) -> _Reply:
        path = urlsplit(target).path
        if path.startswith(BRIDGE_PREFIX + "/"):
            reply = self._bridge(method, path[len(BRIDGE_PREFIX) :], headers)
        else:
            reply = self._coder(method, path, headers)
        with self._lock:
            self._log.append(Seen(method, path, _auth_kinds(headers), reply.status))
        return reply

    def _delay(self) -> None:
        if self._latency:
            self._stopping.wait(self._latency)

    def _coder(self, method: str, path: str, headers: Mapping[str, str]) -> _Reply:
        if method not in ("GET", "HEAD"):
            return _json(404, {"message": "Route not found."})
        if path == "/api/v2/buildinfo":
            return _json(200, self._buildinfo())
        if path == "/api/v2/users/me":
            presented = headers.get("coder-session-token", "")
            if not presented:
                detail = 'Cookie "coder_session_token" or query parameter must be provided.'
                return _json(401, {"message": _SIGNED_OUT, "detail": detail})
            if not hmac.compare_digest(presented.encode(), self._token.encode()):
                detail = _session_detail(presented, self._token)
                return _json(401, {"message": _SIGNED_OUT, "detail": detail})
            return _json(200, _USER)
        return _json(404, {"message": "Route not found."})

    def _buildinfo(self) -> dict[str, Any]:
        return {
            "external_url": "https://github.com/coder/coder",
            "version": VERSION,
            "dashboard_url": self.url,
            "workspace_proxy": False,
            "agent_api_version": "2.0",
            "deployment_id": "00000000-0000-4000-8000-00000000b51d",
        }

    def _bridge(self, method: str, route: str, headers: Mapping[str, str]) -> _Reply:
        fault = self._fault()
        if fault is not None:
            return fault
        presented = _bridge_token(headers)
        if not presented:
            return _go_error(400, "no authentication key provided")
        if not hmac.compare_digest(presented.encode(), self._token.encode()):
            return _go_error(403, "unauthorized")
        instance, _, rest = route[1:].partition("/")
        kind = self.instances.get(instance)
        if kind is not None and rest == "v1/models" and method in ("GET", "HEAD"):
            models = _OPENAI_MODELS if kind == "openai" else _ANTHROPIC_MODELS
            return _json(200, models)
        if kind is not None and f"/{rest}" in (*_KNOWN_ROUTES[kind], "/v1/models"):
            return _go_error(501, f"bridge-sim does not simulate {method} {route}")
        return _go_error(404, f"route not supported: {method} {route}")

    def _fault(self) -> _Reply | None:
        with self._lock:
            self._bridge_count += 1
            count = self._bridge_count
        if count <= self._fail_429:
            return _json(
                429,
                {"message": "AI Bridge rate limit exceeded. Please try again later."},
                ("Retry-After", "1"),
                ("retry-after-ms", "1000"),
            )
        if count <= self._fail_429 + self._fail_5xx:
            return _go_error(502, "upstream proxy error")
        if self._redirect is not None:
            body = f'<a href="{escape(self._redirect)}">Temporary Redirect</a>.\n'.encode()
            return _Reply(
                307,
                body,
                (("Location", self._redirect), ("Content-Type", "text/html; charset=utf-8")),
            )
        if self._html:
            return _Reply(200, _HTML_PAGE.encode(), (("Content-Type", "text/html; charset=utf-8"),))
        return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128  # a concurrent probe run connects many clients at once
    sim: BridgeSim

    def server_bind(self) -> None:
        # http.server's own looks the host name up (getfqdn), which can stall without DNS.
        socketserver.TCPServer.server_bind(self)
        self.server_name = str(self.server_address[0])
        self.server_port = int(self.server_address[1])


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "bridge-sim"
    timeout = 30  # an idle keep-alive connection does not hold a thread forever
    server: _Server

    def _serve(self) -> None:
        sim = self.server.sim
        headers = {name.lower(): value for name, value in self.headers.items()}
        if self._drain(headers):
            reply = sim._answer(self.command, self.path, headers)
        else:
            reply = _go_error(413, "request body too large")
        sim._delay()
        try:
            self.send_response(reply.status)
            for name, value in reply.headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (a timeout of its own)

    def _drain(self, headers: Mapping[str, str]) -> bool:
        """Read and drop the request body; False when its length is malformed or over the limit.
        A body that is not read (chunked, refused) closes the connection after the answer."""
        if "transfer-encoding" in headers:
            self.close_connection = True
            return True
        try:
            length = int(headers.get("content-length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= _MAX_BODY:
            self.close_connection = True
            return False
        if length:
            self.rfile.read(length)
        return True

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the CLI prints one line, and a request line could carry a token in a query."""
