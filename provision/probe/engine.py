"""Running probes: concurrency, timeouts, retries, key rotation and the overall deadline.

One shared httpx.AsyncClient per trust store (the default, or an endpoint's ca_bundle), never
following redirects, honouring proxies from the environment. An asyncio.Semaphore bounds the
requests in flight; it is held only while a request is on the wire, never during a backoff.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import ssl
import time
from collections.abc import Callable, Sequence

import httpx

from provision.probe import Endpoint, Outcome, Verdict
from provision.probe.build import Request, display_url
from provision.probe.classify import Context, Reply, classify_error, classify_response
from provision.probe.recipe import conclude, first_url, primary_secret, run_recipe
from provision.probe.verdict import Finding
from provision.record import record
from provision.secrets import REDACTOR, Secret

log = logging.getLogger("provision.probe")


BACKOFF_BASE = 0.2
BACKOFF_CAP = 2.0
MAX_BODY = 8 * 1024 * 1024
KEEPALIVE = 8
_HTTPCORE_LOGGERS = ("connection", "http11", "http2", "proxy", "socks")
# Outcomes that move key rotation to the next candidate (seed 004: rate limits only).
_ROTATE: frozenset[Outcome] = frozenset({"throttled", "billing"})
# Seam for tests: backoff waits go through here.
_sleep = asyncio.sleep


class _Redact(logging.Filter):
    """Mask known secret values in a record: httpcore's debug trace prints response headers,
    and a careless server may quote the key back in one."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = REDACTOR.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


# Logger filters see only records made on that very logger, so each one httpx uses is named.
for _name in ("provision.probe", "httpx", *(f"httpcore.{m}" for m in _HTTPCORE_LOGGERS)):
    logging.getLogger(_name).addFilter(_Redact())


@record
class Settings:
    concurrency: int = 16
    deadline: float = 30.0
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    max_retries: int = 2


@record(frozen=False, kw_only=False)
class _Track:
    """What one endpoint's probe has done so far, kept outside the task so that a probe cut off
    by the deadline can still report it."""

    attempts: int = 0
    first_url: str = ""
    latency_ms: float = 0.0


async def probe_endpoints(
    endpoints: Sequence[Endpoint],
    settings: Settings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    on_result: Callable[[Verdict], None] | None = None,
) -> list[Verdict]:
    prober = _Prober(settings, transport)
    try:

        async def one(endpoint: Endpoint) -> Verdict:
            verdict = await prober.probe(endpoint)
            if on_result is not None:
                on_result(verdict)
            return verdict

        return list(await asyncio.gather(*(one(e) for e in endpoints)))
    finally:
        await prober.close()


class _Prober:
    def __init__(self, settings: Settings, transport: httpx.AsyncBaseTransport | None) -> None:
        self.settings = settings
        self.transport = transport
        self.semaphore = asyncio.Semaphore(max(1, settings.concurrency))
        self.deadline_at = asyncio.get_running_loop().time() + settings.deadline
        self.clients: dict[str | None, httpx.AsyncClient] = {}

    def client(self, ca_bundle: str | None) -> httpx.AsyncClient:
        if ca_bundle not in self.clients:
            limit = max(1, self.settings.concurrency)
            self.clients[ca_bundle] = httpx.AsyncClient(
                follow_redirects=False,
                verify=_ssl_context(ca_bundle, *_env_trust_store()),
                trust_env=True,  # proxies from the environment (httpx ignores them for a transport)
                transport=self.transport,
                # Idle connections are few: httpcore scans the whole pool on every release, and
                # probes rarely go back to a host.
                limits=httpx.Limits(
                    max_connections=limit, max_keepalive_connections=min(limit, KEEPALIVE)
                ),
            )
        return self.clients[ca_bundle]

    async def close(self) -> None:
        await asyncio.gather(*(c.aclose() for c in self.clients.values()))

    def remaining(self) -> float:
        return self.deadline_at - asyncio.get_running_loop().time()

    async def probe(self, endpoint: Endpoint) -> Verdict:
        track = _Track(first_url=first_url(endpoint))
        try:
            async with asyncio.timeout_at(self.deadline_at):
                return await self._probe(endpoint, track)
        except TimeoutError:
            return _verdict(
                endpoint,
                track,
                Finding.of(
                    "timeout",
                    f"unfinished when the overall deadline of {self.settings.deadline:g} s passed",
                    "raise the probe deadline, or check the network and any proxy in between",
                ),
            )

    async def _probe(self, endpoint: Endpoint, track: _Track) -> Verdict:
        if not endpoint.options.enabled:
            return _verdict(endpoint, track, Finding.of("skipped", "probe.enabled is false"))
        primary = primary_secret(endpoint)
        candidates: tuple[Secret | None, ...] = (
            primary.candidates if primary is not None and primary.known else (None,)
        )
        for index, candidate in enumerate(candidates):
            more = index + 1 < len(candidates)

            async def exchange(request: Request, ctx: Context, more: bool = more) -> Finding:
                return await self._exchange(endpoint, request, ctx, track, rotating=more)

            run = await run_recipe(endpoint, candidate, exchange)
            finding = conclude(endpoint, run, candidate)
            if finding.outcome in _ROTATE and more:
                log.debug(
                    "%s: candidate %d %s, trying the next", endpoint.address, index, finding.outcome
                )
                continue
            accepted = candidate is not None and (
                (finding.outcome == "ok" and run.checked)
                or (finding.outcome == "throttled" and run.sent)
            )
            return _verdict(
                endpoint,
                track,
                finding,
                model_count=run.model_count,
                candidate=index if accepted else None,
                credential=candidate if accepted else None,
            )
        raise AssertionError("unreachable: the last candidate always returns")

    async def _exchange(
        self, endpoint: Endpoint, request: Request, ctx: Context, track: _Track, *, rotating: bool
    ) -> Finding:
        """Send `request`, retrying what is retryable within max_retries and the deadline."""
        read_timeout = endpoint.options.timeout or self.settings.read_timeout
        attempt = 0
        while True:
            finding = await self._send(endpoint, request, ctx, track, read_timeout)
            # With another key to try, a rate limit moves on at once instead of waiting.
            if not finding.retryable or attempt >= self.settings.max_retries:
                return finding
            if rotating and finding.outcome == "throttled":
                return finding
            delay = finding.retry_after
            if delay is None:
                delay = min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt)
            if delay >= self.remaining():
                return finding
            log.debug(
                "%s: %s, retry %d in %.2f s",
                endpoint.address,
                finding.outcome,
                attempt + 1,
                delay,
            )
            await _sleep(delay)
            attempt += 1

    async def _send(
        self,
        endpoint: Endpoint,
        request: Request,
        ctx: Context,
        track: _Track,
        read_timeout: float,
    ) -> Finding:
        timeout = httpx.Timeout(
            connect=self.settings.connect_timeout,
            read=read_timeout,
            write=read_timeout,
            pool=read_timeout,
        )
        shown = display_url(request.url, request.secrets)
        try:
            client = self.client(endpoint.options.ca_bundle)
        except (OSError, ssl.SSLError) as exc:  # ssl.SSLError is an OSError; named for clarity
            reason = f"cannot load probe.ca_bundle: {exc.strerror or type(exc).__name__}"
            return Finding.of("unreachable", reason, "check the probe.ca_bundle file")
        async with self.semaphore:
            track.attempts += 1
            started = time.perf_counter()
            try:
                async with client.stream(
                    request.method,
                    request.url,
                    headers=request.headers,
                    content=request.body,
                    timeout=timeout,
                ) as response:
                    body = await _read(response)
                    reply = Reply(
                        status=response.status_code,
                        headers={k.lower(): v for k, v in response.headers.items()},
                        body=body,
                        url=request.url,
                    )
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                track.latency_ms = (time.perf_counter() - started) * 1000
                finding = classify_error(exc, request.url, read_timeout, request.secrets)
                log.debug(
                    "%s: %s %s failed: %s", endpoint.address, request.method, shown, finding.reason
                )
                return finding
        track.latency_ms = (time.perf_counter() - started) * 1000
        log.debug(
            "%s: %s %s -> %d in %.0f ms",
            endpoint.address,
            request.method,
            shown,
            reply.status,
            track.latency_ms,
        )
        return classify_response(reply, ctx)


def _env_trust_store() -> tuple[str | None, str | None]:
    return os.environ.get("SSL_CERT_FILE") or None, os.environ.get("SSL_CERT_DIR") or None


@functools.lru_cache(maxsize=8)
def _ssl_context(
    ca_bundle: str | None, cert_file: str | None, cert_dir: str | None
) -> ssl.SSLContext:
    """Verification always on: the endpoint's ca_bundle, else what httpx would trust
    (SSL_CERT_FILE, SSL_CERT_DIR, certifi). Cached: loading a CA bundle costs ~0.1 s a run."""
    if ca_bundle is not None:
        return ssl.create_default_context(cafile=ca_bundle)
    if cert_file or cert_dir:
        return ssl.create_default_context(cafile=cert_file, capath=None if cert_file else cert_dir)
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


async def _read(response: httpx.Response) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BODY:
            break
    return b"".join(chunks)


def _verdict(
    endpoint: Endpoint,
    track: _Track,
    finding: Finding,
    *,
    model_count: int | None = None,
    candidate: int | None = None,
    credential: Secret | None = None,
) -> Verdict:
    return Verdict(
        address=endpoint.address,
        url=track.first_url,
        outcome=finding.outcome,
        status=finding.status,
        latency_ms=track.latency_ms,
        reason=finding.reason,
        hint=finding.hint,
        model_count=model_count if model_count is not None else finding.model_count,
        attempts=track.attempts,
        required=endpoint.options.required,
        candidate=candidate,
        credential=credential,
    )
