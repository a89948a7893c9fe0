"""Honest verdicts: what an HTTP answer (or the lack of one) says about an endpoint.

By status AND body, because providers disagree (reference/probes.md, "Traps"): Gemini rejects
a key with 400, gateways with an auth-typed 400, llama.cpp says 503 while loading, an API host's
root answers 200 with HTML. Recipe classify hints from the catalog come first, then the generic
rules below. Nothing here performs I/O.
"""

from __future__ import annotations

import email.utils
import json
import re
import socket
import ssl
import time
from collections.abc import Mapping
from urllib.parse import urljoin, urlsplit

import httpx

from provision.catalog import ProbeRecipe
from provision.probe.build import Step, display_url
from provision.probe.verdict import Finding, snippet, status_reason
from provision.record import record

_RATE_LIMITED = re.compile(r"rate.?limit|quota|resource.?exhausted", re.IGNORECASE)
_VERSION_SEGMENT = re.compile(r"/v\d+[a-z0-9]*$")
_SHAPES: Mapping[str, str] = {
    "data_list": 'an object with a "data" array',
    "bare_list": "a JSON array",
    "models_list": 'an object with a "models" array',
    "model_summaries": 'an object with a "modelSummaries" array',
    "key_info": 'an object with a "data" object',
    "version": 'an object with a "version" string',
    "valid_flag": 'an object with a boolean "valid"',
    "object": "a JSON object",
    "validation_error": "a JSON document",
    "any_json": "a JSON document",
}
_LIST_KEYS: Mapping[str, str] = {
    "data_list": "data",
    "models_list": "models",
    "model_summaries": "modelSummaries",
}
AIBRIDGE_HINT = (
    "AI Bridge serves <access_url>/api/v2/aibridge/<instance>/v1 for OpenAI-type instances and"
    " <access_url>/api/v2/aibridge/<instance> for Anthropic-type ones (the instance is named"
    " after its type by default)"
)


@record
class Reply:
    status: int
    headers: Mapping[str, str]  # lower-case names
    body: bytes
    url: str  # the request URL


@record
class Context:
    recipe: ProbeRecipe
    step: Step
    base_url: str
    credential_sent: bool
    secrets: tuple[str, ...]


def classify_response(reply: Reply, ctx: Context) -> Finding:
    status, body = reply.status, reply.body
    text = body.decode("utf-8", errors="replace")
    reason = status_reason(status, body, ctx.secrets)
    if 300 <= status < 400:
        return _redirect(reply, ctx)
    for hint in ctx.recipe.classify:
        if hint.status == status and (hint.body_contains is None or hint.body_contains in text):
            return _hinted(hint.outcome, reason, reply, ctx)
    if status == 400 and _auth_typed(body):
        return Finding.of("credential_rejected", reason, status=status)
    if _is_success(status, ctx.step):
        return _success(reply, ctx, reason)
    if 200 <= status < 300:
        expected = ", ".join(map(str, sorted(ctx.step.ok_statuses)))
        return Finding.of("wrong_url", f"HTTP {status}, expected {expected}", status=status)
    if status in (401, 403):
        if not ctx.credential_sent:
            return Finding.of("credential_missing", reason, status=status)
        return Finding.of("credential_rejected", reason, status=status)
    if status == 402 or (status == 400 and "credit balance" in text.lower()):
        return Finding.of("billing", reason, status=status)
    if status == 429 and "insufficient_quota" in text:
        return Finding.of("billing", reason, status=status)
    if status in (429, 529):
        return _throttled(reason, reply)
    if status in (404, 405, 410):
        return Finding.of("wrong_url", reason, _url_hint(reply, ctx), status=status)
    if status == 408:
        return Finding.of("timeout", reason, status=status, retryable=True)
    if status == 503 and "loading model" in text.lower():
        return Finding.of("not_ready", reason, status=status, retryable=True)
    if status >= 500:
        return Finding.of(
            "server_error", reason, status=status, retryable=True, retry_after=_retry_after(reply)
        )
    if 400 <= status < 500 and _RATE_LIMITED.search(text):
        return _throttled(reason, reply)
    if 400 <= status < 500:
        return Finding.of("wrong_url", reason, _url_hint(reply, ctx), status=status)
    return Finding.of("server_error", f"unexpected answer: {reason}", status=status)


def _is_success(status: int, step: Step) -> bool:
    if step.ok_statuses:
        return status in step.ok_statuses
    # A deliberately incomplete request is refused after authentication: 400/422 prove the key.
    return 200 <= status < 300 or (step.expect == "validation_error" and status in (400, 422))


def _success(reply: Reply, ctx: Context, reason: str) -> Finding:
    status, step = reply.status, ctx.step
    # Nothing to inspect: no body, or a non-2xx status the spec declared good.
    if step.method == "HEAD" or status == 204 or (step.ok_statuses and not 200 <= status < 300):
        return Finding.of("ok", f"HTTP {status}", status=status)
    content_type = reply.headers.get("content-type", "").split(";")[0].strip().lower()
    if not (content_type == "application/json" or content_type.endswith("+json")):
        what = "an HTML page" if "html" in content_type else f"{content_type or 'no content type'}"
        return Finding.of(
            "wrong_url",
            f"HTTP {status} with {what}, not JSON: this is not the API",
            _url_hint(reply, ctx),
            status=status,
        )
    try:
        doc = json.loads(reply.body)
    except ValueError:
        return Finding.of(
            "wrong_url", f"HTTP {status} with a body that is not valid JSON", status=status
        )
    if step.expect in ("validation_error", "any_json"):
        return Finding.of("ok", f"HTTP {status}", status=status, document=doc)
    if not _has_shape(step.expect, doc):
        return Finding.of(
            "wrong_url",
            f"HTTP {status}, but the JSON is not {_SHAPES.get(step.expect, step.expect)}",
            _url_hint(reply, ctx),
            status=status,
        )
    if step.expect == "valid_flag" and doc["valid"] is False:
        return Finding.of(
            "credential_rejected", f"HTTP {status}: the key is not valid", status=status
        )
    count = _model_count(step.expect, doc)
    counted = "" if count is None else f", {count} model{'s' if count != 1 else ''}"
    return Finding.of(
        "ok", f"HTTP {status}{counted}", status=status, model_count=count, document=doc
    )


def _has_shape(shape: str, doc: object) -> bool:
    if shape == "bare_list":
        return isinstance(doc, list)
    if not isinstance(doc, dict):
        return False
    if shape in _LIST_KEYS:
        return isinstance(doc.get(_LIST_KEYS[shape]), list)
    if shape == "key_info":
        return isinstance(doc.get("data"), dict)
    if shape == "version":
        return isinstance(doc.get("version"), str)
    if shape == "valid_flag":
        return isinstance(doc.get("valid"), bool)
    return shape == "object"


def _model_count(shape: str, doc: object) -> int | None:
    if isinstance(doc, list):
        return len(doc)
    if isinstance(doc, dict) and shape in _LIST_KEYS:
        return len(doc[_LIST_KEYS[shape]])
    return None


def _auth_typed(body: bytes) -> bool:
    """A gateway's 400 whose error.type names authentication (LiteLLM: "auth_error")."""
    try:
        doc = json.loads(body)
    except ValueError:
        return False
    error = doc.get("error") if isinstance(doc, dict) else None
    kind = error.get("type") if isinstance(error, dict) else None
    return isinstance(kind, str) and "auth" in kind.lower()


def _hinted(outcome: str, reason: str, reply: Reply, ctx: Context) -> Finding:
    status = reply.status
    if outcome == "credential_missing":
        hint = (
            "configure a credential; AI Bridge takes the Coder session token as"
            " Authorization: Bearer or X-Api-Key"
        )
        return Finding.of("credential_missing", reason, hint, status=status)
    if outcome == "throttled":
        return _throttled(reason, reply)
    if outcome == "not_ready":
        return Finding.of("not_ready", reason, status=status, retryable=True)
    if outcome == "wrong_url":
        return Finding.of("wrong_url", reason, _url_hint(reply, ctx), status=status)
    if outcome == "billing":
        return Finding.of("billing", reason, status=status)
    return Finding.of("credential_rejected", reason, status=status)


def _throttled(reason: str, reply: Reply) -> Finding:
    wait = _retry_after(reply)
    hint = "the key works but is rate limited; probe again later"
    if wait is not None:
        hint += f" (the server asked for {wait:g} s)"
    return Finding.of(
        "throttled", reason, hint, status=reply.status, retryable=True, retry_after=wait
    )


def _redirect(reply: Reply, ctx: Context) -> Finding:
    location = reply.headers.get("location", "")
    reason = f"HTTP {reply.status} redirect (not followed: a credential must not move hosts)"
    if not location:
        return Finding.of("wrong_url", reason, status=reply.status)
    target = urljoin(reply.url, location)
    # Where the base URL itself moved: the redirect target minus the path the step appended.
    suffix = (
        reply.url[len(ctx.base_url.rstrip("/")) :]
        if reply.url.startswith(ctx.base_url.rstrip("/"))
        else ""
    )
    suggested = target[: -len(suffix)] if suffix and target.endswith(suffix) else target
    return Finding.of(
        "wrong_url",
        reason,
        f"the Location is {display_url(target, ctx.secrets)}: "
        f"use {display_url(suggested, ctx.secrets)} as the base URL",
        status=reply.status,
    )


def _url_hint(reply: Reply, ctx: Context) -> str:
    text = reply.body.decode("utf-8", errors="replace")
    if "route not supported" in text:
        return AIBRIDGE_HINT
    step_path = ctx.step.spec.path
    base = ctx.base_url.rstrip("/")
    base_path = urlsplit(base).path
    shown = display_url(base, ctx.secrets)
    if step_path is None:
        return f"check the base URL {shown}"
    if step_path.startswith("/v1/") and base_path.endswith("/v1"):
        return f"base URL should not end in /v1 (clients add it): use {shown[:-3]}"
    if step_path.startswith("/api/") and base_path.endswith("/api"):
        return f"base URL should be the server root, without /api: use {shown[:-4]}"
    versioned = _VERSION_SEGMENT.search(base_path)
    if not versioned and not step_path.startswith(("/v1", "/api/", "/openai/")):
        return f"base URL should end in /v1 (e.g. {shown}/v1)"
    return f"check that {shown} is the base URL of a {ctx.recipe.name} API"


def _retry_after(reply: Reply) -> float | None:
    """Seconds the server asked to wait: retry-after-ms, else retry-after (seconds or date)."""
    millis = reply.headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = reply.headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def classify_error(exc: Exception, url: str, timeout: float, secrets: tuple[str, ...]) -> Finding:
    """A transport failure, said plainly: which host, and DNS, refused, TLS or timeout."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    where = f"{host}:{parts.port}" if parts.port else host
    if isinstance(exc, httpx.ConnectTimeout):
        return Finding.of("timeout", f"connecting to {where} timed out")
    if isinstance(exc, httpx.TimeoutException):
        return Finding.of("timeout", f"no answer from {where} within {timeout:g} s")
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return Finding.of("wrong_url", f"not a usable http(s) URL: {display_url(url, secrets)}")
    cause = _root_causes(exc)
    detail = snippet(str(exc).encode(), secrets) or type(exc).__name__
    untrusted = next((c for c in cause if isinstance(c, ssl.SSLCertVerificationError)), None)
    if untrusted is not None or "CERTIFICATE_VERIFY" in detail:
        verify = getattr(untrusted, "verify_message", None)
        return Finding.of(
            "unreachable",
            f"TLS: the certificate of {where} is not trusted ({verify or detail})",
            "fix the server certificate, or set probe.ca_bundle to the CA that signed it",
        )
    if any(isinstance(c, ssl.SSLError) for c in cause):
        return Finding.of(
            "unreachable",
            f"TLS handshake with {where} failed ({detail})",
            "check that the port speaks https, or use http:// for a plain-http server",
        )
    if any(isinstance(c, socket.gaierror) for c in cause) or _looks_like_dns(detail):
        return Finding.of(
            "unreachable",
            f"DNS: cannot resolve {host}",
            "check the host name in the base URL",
            retryable=True,
        )
    if any(isinstance(c, ConnectionRefusedError) for c in cause) or "refused" in detail.lower():
        return Finding.of(
            "unreachable",
            f"connection refused by {where}",
            f"is the server running and listening on {where}?",
            retryable=True,
        )
    if isinstance(exc, httpx.ConnectError):
        return Finding.of("unreachable", f"cannot connect to {where}: {detail}", retryable=True)
    return Finding.of("unreachable", f"the connection to {where} failed: {detail}")


def _root_causes(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _looks_like_dns(text: str) -> bool:
    markers = (
        "name or service not known",
        "nodename nor servname",
        "name resolution",
        "getaddrinfo",
    )
    return any(m in text.lower() for m in markers)
