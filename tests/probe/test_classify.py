"""Verdicts for every outcome and every trap in reference/probes.md, through httpx.MockTransport:
what each recipe sends, how each answer is read, retries, redirects and plain http."""

from __future__ import annotations

import asyncio
import datetime
import email.utils
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from servers import endpoint

import provision.probe.engine as engine
from provision.model import ProbeOptions
from provision.probe import Endpoint, Verdict, run_probes
from provision.record import replace
from provision.secrets import Secret

KEY = "sk-test-0123456789abcdef"
API = "https://api.example.com"
Reply = Callable[[httpx.Request], httpx.Response]
MODELS = {"object": "list", "data": [{"id": "m1"}, {"id": "m2"}]}


@pytest.fixture(autouse=True)
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Backoff waits are recorded, not slept."""
    recorded: list[float] = []

    async def fake_sleep(delay: float) -> None:
        recorded.append(delay)

    monkeypatch.setattr(engine, "_sleep", fake_sleep)
    return recorded


@dataclass
class Recorder:
    """A MockTransport handler answering from a script (the last answer repeats)."""

    answers: list[Reply]
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers[min(len(self.requests), len(self.answers)) - 1]
        return answer(request)


def probe(ep: Endpoint, *answers: Reply, **kw: Any) -> tuple[Verdict, Recorder]:
    recorder = Recorder(list(answers) or [json(200, MODELS)])
    kw.setdefault("max_retries", 0)
    [verdict] = run_probes([ep], transport=httpx.MockTransport(recorder), **kw)
    return verdict, recorder


def json(status: int, doc: Any, **headers: str) -> Reply:
    return lambda request: httpx.Response(status, json=doc, headers=headers)


def text(status: int, body: str, content_type: str = "text/html", **headers: str) -> Reply:
    return lambda request: httpx.Response(
        status, text=body, headers={"Content-Type": content_type, **headers}
    )


def err(message: str, kind: str = "error", status: int = 400) -> Reply:
    return json(status, {"error": {"message": message, "type": kind}})


def raises(exc: Exception) -> Reply:
    def answer(request: httpx.Request) -> httpx.Response:
        raise exc

    return answer


def connect_error(message: str, cause: BaseException) -> Exception:
    exc = httpx.ConnectError(message)
    exc.__cause__ = cause
    return exc


GEMINI_BAD_KEY = {
    "error": {
        "code": 400,
        "message": "API key not valid. Please pass a valid API key.",
        "status": "INVALID_ARGUMENT",
        "details": [{"reason": "API_KEY_INVALID"}],
    }
}
LOADING = {"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}}
HTML_404 = "<!DOCTYPE html><html><body>404 Not Found</body></html>"

# (id, recipe, base URL, answers, outcome, status, text expected in reason or hint)
CASES = [
    pytest.param("openai", f"{API}/v1", [json(200, MODELS)], "ok", 200, "2 models", id="openai ok"),
    pytest.param(
        "together",
        f"{API}/v1",
        [json(200, [{"id": "a"}] * 3)],
        "ok",
        200,
        "3 models",
        id="together bare array",
    ),
    pytest.param(
        "openai",
        f"{API}/v1",
        [json(200, [{"id": "a"}])],
        "wrong_url",
        200,
        '"data" array',
        id="bare array where a list object is due",
    ),
    pytest.param(
        "openai",
        f"{API}/v1",
        [text(200, '{"data": []}', "application/vnd.api+json")],
        "ok",
        200,
        "0 models",
        id="json+ content type",
    ),
    pytest.param(
        "openai",
        API,
        [text(200, "<html>Welcome</html>")],
        "wrong_url",
        200,
        "end in /v1",
        id="HTML 200 at the API root",
    ),
    pytest.param(
        "openai",
        f"{API}/v1",
        [text(200, "OK", "text/plain")],
        "wrong_url",
        200,
        "not JSON",
        id="plain text 200",
    ),
    pytest.param(
        "openai",
        f"{API}/v1",
        [text(200, "{oops", "application/json")],
        "wrong_url",
        200,
        "not valid JSON",
        id="broken JSON",
    ),
    pytest.param(
        "openai",
        f"{API}/v1",
        [err("Incorrect API key provided", status=401)],
        "credential_rejected",
        401,
        "Incorrect API key",
        id="401",
    ),
    pytest.param(
        "openai",
        f"{API}/v1",
        [err("forbidden", status=403)],
        "credential_rejected",
        403,
        "forbidden",
        id="403",
    ),
    pytest.param(
        "google",
        API,
        [json(400, GEMINI_BAD_KEY)],
        "credential_rejected",
        400,
        "API key not valid",
        id="Gemini 400 API_KEY_INVALID",
    ),
    pytest.param(
        "xai",
        "https://api.x.ai/v1",
        [err("Incorrect API key")],
        "credential_rejected",
        400,
        "Incorrect",
        id="xAI 400 on its key endpoint",
    ),
    pytest.param(
        "litellm",
        f"{API}/v1",
        [err("Invalid proxy server token", "auth_error")],
        "credential_rejected",
        400,
        "proxy server token",
        id="LiteLLM 400 auth_error",
    ),
    pytest.param(
        "openai",
        f"{API}/v1",
        [err("bad key", "authentication_error")],
        "credential_rejected",
        400,
        "bad key",
        id="gateway auth-typed 400",
    ),
    pytest.param(
        "openai",
        f"{API}/v1",
        [err("Payment required", status=402)],
        "billing",
        402,
        "credit",
        id="402",
    ),
    pytest.param(
        "openai",
        f"{API}/v1",
        [err("You exceeded your current quota", "insufficient_quota", 429)],
        "billing",
        429,
        "quota",
        id="429 insufficient_quota",
    ),
    pytest.param(
        "anthropic",
        API,
        [err("Your credit balance is too low", "invalid_request_error")],
        "billing",
        400,
        "credit balance",
        id="Anthropic credit balance",
    ),
    pytest.param(
        "openai",
        f"{API}/v1",
        [err("Rate limit reached", "requests", 429)],
        "throttled",
        429,
        "rate limited",
        id="429",
    ),
    pytest.param(
        "google",
        API,
        [json(429, {"error": {"status": "RESOURCE_EXHAUSTED"}})],
        "throttled",
        429,
        "RESOURCE_EXHAUSTED",
        id="Gemini 429 RESOURCE_EXHAUSTED",
    ),
    pytest.param(
        "anthropic",
        API,
        [err("Overloaded", "overloaded_error", 529)],
        "throttled",
        529,
        "Overloaded",
        id="Anthropic 529",
    ),
    pytest.param(
        "openai",
        f"{API}/v1",
        [err("Overloaded", status=529)],
        "throttled",
        529,
        "Overloaded",
        id="529 elsewhere",
    ),
    pytest.param(
        "openai",
        f"{API}/v1",
        [err("rate_limit_exceeded")],
        "throttled",
        400,
        "rate_limit",
        id="400 naming a rate limit",
    ),
    pytest.param(
        "openai", API, [text(404, HTML_404)], "wrong_url", 404, "end in /v1", id="404 without /v1"
    ),
    pytest.param(
        "anthropic",
        f"{API}/v1",
        [err("Not found", status=404)],
        "wrong_url",
        404,
        "not end in /v1",
        id="Anthropic base with /v1",
    ),
    pytest.param(
        "ollama",
        "http://localhost:11434/api",
        [text(404, "404 page not found", "text/plain")],
        "wrong_url",
        404,
        "without /api",
        id="Ollama base with /api",
    ),
    pytest.param(
        "openai",
        f"{API}/v1",
        [text(405, "Method Not Allowed", "text/plain")],
        "wrong_url",
        405,
        "Method Not Allowed",
        id="405",
    ),
    pytest.param(
        "openai", f"{API}/v1", [err("gone", status=410)], "wrong_url", 410, "gone", id="410"
    ),
    pytest.param(
        "openai", f"{API}/v1", [err("teapot", status=418)], "wrong_url", 418, "teapot", id="418"
    ),
    pytest.param(
        "openai", f"{API}/v1", [text(408, "", "text/plain")], "timeout", 408, "HTTP 408", id="408"
    ),
    pytest.param(
        "openai",
        f"{API}/v1",
        [err("internal", status=500)],
        "server_error",
        500,
        "internal",
        id="500",
    ),
    pytest.param(
        "openai",
        f"{API}/v1",
        [text(502, "<html>Bad Gateway</html>")],
        "server_error",
        502,
        "Bad Gateway",
        id="502",
    ),
    pytest.param(
        "openai",
        f"{API}/v1",
        [err("maintenance", status=503)],
        "server_error",
        503,
        "maintenance",
        id="503",
    ),
    pytest.param(
        "llama-cpp",
        "http://localhost:8080/v1",
        [json(200, MODELS), json(503, LOADING)],
        "not_ready",
        503,
        "Loading model",
        id="llama.cpp 503 Loading model",
    ),
    pytest.param(
        "openai",
        "http://localhost:8000/v1",
        [json(503, LOADING)],
        "not_ready",
        503,
        "Loading model",
        id="vLLM 503 Loading model",
    ),
    pytest.param(
        "llama-cpp",
        "http://localhost:8080/v1",
        [
            json(200, MODELS),
            json(
                401,
                {
                    "error": {
                        "code": 401,
                        "message": "Invalid API Key",
                        "type": "authentication_error",
                    }
                },
            ),
        ],
        "credential_rejected",
        401,
        "Invalid API Key",
        id="llama.cpp public list, protected /props",
    ),
    pytest.param(
        "openrouter",
        "https://openrouter.ai/api/v1",
        [json(200, {"data": {"label": "x", "limit": None}})],
        "ok",
        200,
        "HTTP 200",
        id="OpenRouter /key",
    ),
    pytest.param(
        "openrouter",
        "https://openrouter.ai/api",
        [text(404, HTML_404)],
        "wrong_url",
        404,
        "404",
        id="OpenRouter HTML 404",
    ),
    pytest.param(
        "openrouter",
        "https://openrouter.ai/api/v1",
        [json(200, MODELS)],
        "wrong_url",
        200,
        '"data" object',
        id="OpenRouter /key with a list",
    ),
    pytest.param(
        "cohere",
        "https://api.cohere.com",
        [json(200, {"valid": False})],
        "credential_rejected",
        200,
        "not valid",
        id="Cohere valid false",
    ),
    pytest.param(
        "cohere",
        "https://api.cohere.com",
        [json(200, {"valid": True})],
        "ok",
        200,
        "HTTP 200",
        id="Cohere valid true",
    ),
    pytest.param(
        "perplexity",
        "https://api.perplexity.ai",
        [err("messages must not be empty", "invalid_request_error")],
        "ok",
        400,
        "HTTP 400",
        id="Perplexity 400 proves the key",
    ),
    pytest.param(
        "perplexity",
        "https://api.perplexity.ai",
        [json(422, {"detail": "invalid"})],
        "ok",
        422,
        "HTTP 422",
        id="Perplexity 422 proves the key",
    ),
    pytest.param(
        "perplexity",
        "https://api.perplexity.ai",
        [err("bad key", status=401)],
        "credential_rejected",
        401,
        "bad key",
        id="Perplexity 401",
    ),
    pytest.param(
        "perplexity",
        "https://api.perplexity.ai",
        [text(400, "<html>Bad Request</html>")],
        "wrong_url",
        400,
        "not JSON",
        id="Perplexity HTML 400",
    ),
    pytest.param(
        "coder",
        "https://coder.example.com",
        [json(200, {"version": "v2"}), json(401, {"message": "logged in"})],
        "credential_rejected",
        401,
        "logged in",
        id="Coder users/me 401",
    ),
    pytest.param(
        "aibridge-openai",
        "https://coder.example.com/api/v2/aibridge/openai/v1",
        [text(400, "no authentication key provided", "text/plain")],
        "credential_missing",
        400,
        "X-Api-Key",
        id="AI Bridge 400 no key",
    ),
    pytest.param(
        "aibridge-anthropic",
        "https://coder.example.com/api/v2/aibridge/anthropic",
        [text(400, "no authentication key provided", "text/plain")],
        "credential_missing",
        400,
        "Bearer",
        id="AI Bridge anthropic 400 no key",
    ),
    pytest.param(
        "aibridge-openai",
        "https://coder.example.com/api/v2/aibridge/openai/v1",
        [text(403, "unauthorized", "text/plain")],
        "credential_rejected",
        403,
        "unauthorized",
        id="AI Bridge 403",
    ),
    pytest.param(
        "aibridge-openai",
        "https://coder.example.com/api/v2/aibridge/oai/v1",
        [text(404, "route not supported", "text/plain")],
        "wrong_url",
        404,
        "/api/v2/aibridge/<instance>",
        id="AI Bridge 404",
    ),
    pytest.param(
        "openai",
        f"{API}/v1",
        [text(299, "{}", "application/json")],
        "wrong_url",
        299,
        "data",
        id="unexpected 1xx-free status",
    ),
]


@pytest.mark.parametrize(("recipe", "base", "answers", "outcome", "status", "needle"), CASES)
def test_answers(
    recipe: str, base: str, answers: list[Reply], outcome: str, status: int, needle: str
) -> None:
    verdict, _ = probe(endpoint(recipe, base, KEY), *answers)
    assert (verdict.outcome, verdict.status) == (outcome, status), verdict
    assert needle in verdict.reason + " | " + verdict.hint
    assert verdict.hint or verdict.outcome == "ok"
    assert "\n" not in verdict.reason and len(verdict.reason) < 300


def test_ok_reports_model_count_and_candidate() -> None:
    verdict, _ = probe(endpoint("openai", f"{API}/v1", KEY))
    assert (verdict.model_count, verdict.candidate, verdict.passed) == (2, 0, True)
    assert verdict.credential == Secret(KEY) and KEY not in repr(verdict)


def test_no_credential_and_401_is_missing() -> None:
    verdict, recorder = probe(endpoint("openai", f"{API}/v1"), err("no key", status=401))
    assert verdict.outcome == "credential_missing" and "api_key" in verdict.hint
    assert "authorization" not in recorder.requests[0].headers


def test_ollama_public_api_with_and_without_a_key() -> None:
    answers = [json(200, {"version": "0.6"}), json(200, {"models": [{"name": "a"}]})]
    plain, _ = probe(endpoint("ollama", "http://localhost:11434"), *answers)
    keyed, _ = probe(endpoint("ollama", "http://localhost:11434", KEY), *answers)
    assert (plain.outcome, plain.model_count, plain.candidate) == ("ok", 1, None)
    assert keyed.outcome == "unverified" and keyed.passed and keyed.candidate is None


# ── transport failures ──────────────────────────────────────────────────────────────────────


TRANSPORT_CASES = [
    pytest.param(
        connect_error("[Errno 111] Connection refused", ConnectionRefusedError(111, "x")),
        "unreachable",
        "refused",
        id="refused",
    ),
    pytest.param(
        connect_error("[Errno -2] Name or service not known", socket.gaierror(-2, "x")),
        "unreachable",
        "DNS",
        id="dns",
    ),
    pytest.param(
        connect_error(
            "[SSL: CERTIFICATE_VERIFY_FAILED]",
            ssl.SSLCertVerificationError(1, "certificate verify failed"),
        ),
        "unreachable",
        "TLS",
        id="tls untrusted",
    ),
    pytest.param(
        connect_error("[SSL: WRONG_VERSION_NUMBER]", ssl.SSLError(1, "wrong version number")),
        "unreachable",
        "TLS handshake",
        id="tls handshake",
    ),
    pytest.param(httpx.ReadTimeout("timed out"), "timeout", "within 10 s", id="read timeout"),
    pytest.param(httpx.ConnectTimeout("timed out"), "timeout", "connecting", id="connect timeout"),
    pytest.param(
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        "unreachable",
        "disconnected",
        id="dropped",
    ),
]


@pytest.mark.parametrize(("exc", "outcome", "needle"), TRANSPORT_CASES)
def test_transport_failures(exc: Exception, outcome: str, needle: str) -> None:
    verdict, _ = probe(endpoint("openai", f"{API}/v1", KEY), raises(exc))
    assert (verdict.outcome, verdict.status) == (outcome, None)
    assert needle in verdict.reason and "api.example.com" in verdict.reason
    assert verdict.hint


def test_exception_text_is_scrubbed_of_the_credential() -> None:
    exc = httpx.ConnectError(f"failed with headers Authorization: Bearer {KEY}")
    verdict, _ = probe(endpoint("openai", f"{API}/v1", KEY), raises(exc))
    assert verdict.outcome == "unreachable" and KEY not in verdict.reason + verdict.hint


def test_short_credential_is_scrubbed_even_below_the_redactor_minimum() -> None:
    exc = httpx.ConnectError("upstream said: bad key q9z")
    verdict, _ = probe(endpoint("openai", f"{API}/v1", "q9z"), raises(exc))
    assert "q9z" not in verdict.reason


# ── redirects ────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("recipe", ["openai", "anthropic", "google", "azure-openai"])
def test_redirect_is_reported_not_followed(status: int, recipe: str) -> None:
    base = f"{API}/v1" if recipe == "openai" else API
    location = "https://elsewhere.example.net/v1/models"
    verdict, recorder = probe(
        endpoint(recipe, base, KEY),
        lambda r: httpx.Response(status, headers={"Location": location}),
    )
    assert (verdict.outcome, verdict.status) == ("wrong_url", status)
    assert f"the Location is {location}" in verdict.hint
    assert [r.url.host for r in recorder.requests] == ["api.example.com"]


def test_relative_redirect_suggests_the_new_base() -> None:
    verdict, _ = probe(
        endpoint("openai", f"{API}/v1", KEY),
        lambda r: httpx.Response(308, headers={"Location": "/openai/v1/models"}),
    )
    assert f"use {API}/openai/v1 as the base URL" in verdict.hint


# ── retries ──────────────────────────────────────────────────────────────────────────────────


def test_retry_after_ms_is_honoured(sleeps: list[float]) -> None:
    verdict, _ = probe(
        endpoint("openai", f"{API}/v1", KEY),
        json(429, {"error": "slow down"}, **{"retry-after-ms": "25", "retry-after": "9"}),
        json(200, MODELS),
        max_retries=2,
    )
    assert (verdict.outcome, verdict.attempts) == ("ok", 2)
    assert sleeps == [0.025]


def test_retry_after_seconds(sleeps: list[float]) -> None:
    verdict, _ = probe(
        endpoint("anthropic", API, KEY),
        json(529, {"error": "overloaded"}, **{"retry-after": "1.5"}),
        json(200, MODELS),
        max_retries=2,
    )
    assert verdict.outcome == "ok" and sleeps == [1.5]


def test_retry_after_http_date(sleeps: list[float]) -> None:
    when = email.utils.formatdate(time.time() + 3, usegmt=True)
    verdict, _ = probe(
        endpoint("openai", f"{API}/v1", KEY),
        json(503, {}, **{"retry-after": when}),
        json(200, MODELS),
        max_retries=1,
    )
    assert verdict.outcome == "ok" and len(sleeps) == 1 and 0.5 < sleeps[0] <= 3.0


def test_retry_after_beyond_the_deadline_is_not_waited_for(sleeps: list[float]) -> None:
    verdict, _ = probe(
        endpoint("openai", f"{API}/v1", KEY),
        json(429, {"error": "busy"}, **{"retry-after": "120"}),
        max_retries=2,
        deadline=5,
    )
    assert (verdict.outcome, verdict.attempts, sleeps) == ("throttled", 1, [])
    assert "120 s" in verdict.hint and verdict.passed


def test_capped_exponential_backoff(sleeps: list[float]) -> None:
    verdict, _ = probe(endpoint("openai", f"{API}/v1", KEY), err("down", status=503), max_retries=5)
    assert (verdict.outcome, verdict.attempts) == ("server_error", 6)
    assert sleeps == [0.2, 0.4, 0.8, 1.6, 2.0]


def test_throttled_after_max_retries(sleeps: list[float]) -> None:
    verdict, _ = probe(endpoint("openai", f"{API}/v1", KEY), err("slow", status=429), max_retries=2)
    assert (verdict.outcome, verdict.attempts, len(sleeps)) == ("throttled", 3, 2)


@pytest.mark.parametrize(
    "answer",
    [
        err("nope", status=401),
        err("nope", status=404),
        err("x", "insufficient_quota", 429),
        text(200, "<html></html>"),
        text(400, "no authentication key provided", "text/plain"),
    ],
    ids=["401", "404", "billing", "html", "bridge-400"],
)
def test_final_answers_are_not_retried(answer: Reply, sleeps: list[float]) -> None:
    verdict, _ = probe(endpoint("aibridge-openai", f"{API}/v1", KEY), answer, max_retries=3)
    assert verdict.attempts == 1 and sleeps == []


@pytest.mark.parametrize("status", [408, 500, 502, 503, 504, 529])
def test_retryable_statuses(status: int, sleeps: list[float]) -> None:
    verdict, _ = probe(
        endpoint("openai", f"{API}/v1", KEY), json(status, {}), json(200, MODELS), max_retries=1
    )
    assert (verdict.outcome, verdict.attempts, sleeps) == ("ok", 2, [0.2])


def test_connect_errors_are_retried(sleeps: list[float]) -> None:
    refused = connect_error("refused", ConnectionRefusedError(111, "x"))
    verdict, _ = probe(
        endpoint("openai", f"{API}/v1", KEY), raises(refused), json(200, MODELS), max_retries=1
    )
    assert (verdict.outcome, verdict.attempts) == ("ok", 2)


def test_deadline_cuts_a_slow_answer_off() -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return httpx.Response(200, json=MODELS)

    [verdict] = run_probes(
        [endpoint("openai", f"{API}/v1", KEY)], transport=httpx.MockTransport(slow), deadline=0.1
    )
    assert verdict.outcome == "timeout" and "deadline" in verdict.reason and verdict.attempts == 1


# ── what each recipe sends ───────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("recipe", "base", "header", "value"),
    [
        ("openai", f"{API}/v1", "authorization", f"Bearer {KEY}"),
        ("anthropic", API, "x-api-key", KEY),
        ("google", API, "x-goog-api-key", KEY),
        ("azure-openai", API, "api-key", KEY),
        ("aibridge-anthropic", f"{API}/api/v2/aibridge/anthropic", "x-api-key", KEY),
    ],
)
def test_auth_schemes(recipe: str, base: str, header: str, value: str) -> None:
    _, recorder = probe(endpoint(recipe, base, KEY), json(500, {}))
    request = recorder.requests[0]
    assert request.headers[header] == value
    assert KEY not in str(request.url)


def test_anthropic_version_and_bearer_override() -> None:
    _, recorder = probe(endpoint("anthropic", API, KEY, auth_override="bearer"), json(500, {}))
    headers = recorder.requests[0].headers
    assert headers["anthropic-version"] == "2023-06-01"
    assert headers["authorization"] == f"Bearer {KEY}" and "x-api-key" not in headers


def test_google_url() -> None:
    _, recorder = probe(endpoint("google", API, KEY), json(500, {}))
    assert str(recorder.requests[0].url) == f"{API}/v1beta/models?pageSize=1"


def test_coder_session_token_only_on_users_me() -> None:
    verdict, recorder = probe(
        endpoint("coder", "https://coder.example.com", KEY),
        json(200, {"version": "v2.24"}),
        json(200, {"username": "alice"}),
    )
    first, second = recorder.requests
    assert verdict.outcome == "ok"
    assert "coder-session-token" not in first.headers
    assert second.headers["coder-session-token"] == KEY


def test_github_copilot_exchanges_the_token() -> None:
    exchange = {
        "token": "tid=copilot-token-xyz",
        "endpoints": {"api": "https://api.copilot.example"},
    }
    verdict, recorder = probe(
        endpoint("github-copilot", "https://api.githubcopilot.com", KEY, default_base_url=True),
        json(200, exchange),
        json(200, MODELS),
    )
    first, second = recorder.requests
    assert verdict.outcome == "ok" and verdict.candidate == 0
    assert str(first.url) == "https://api.github.com/copilot_internal/v2/token"
    assert first.headers["authorization"] == f"token {KEY}"
    assert str(second.url) == "https://api.copilot.example/models"
    assert second.headers["authorization"] == "Bearer tid=copilot-token-xyz"
    assert "copilot-token-xyz" not in repr(verdict)


def test_fixed_host_steps_only_run_with_the_default_base_url() -> None:
    custom, recorder = probe(
        endpoint("github-copilot", "https://copilot.corp.example", KEY, default_base_url=False)
    )
    assert custom.outcome == "unverified" and recorder.requests == []
    assert "default" in custom.reason and custom.passed


def test_huggingface_whoami_only_with_the_default_base() -> None:
    ep = endpoint("huggingface", "https://hf-proxy.corp.example/v1", KEY, headers={"X-Team": "ml"})
    verdict, recorder = probe(ep, json(200, MODELS))
    assert verdict.outcome == "unverified" and len(recorder.requests) == 1
    default = endpoint(
        "huggingface", "https://router.huggingface.co/v1", KEY, default_base_url=True,
        headers={"X-Team": "ml"},
    )  # fmt: skip
    verdict, recorder = probe(default, json(200, MODELS), json(200, {"name": "alice"}))
    assert verdict.outcome == "ok"
    router, whoami = recorder.requests
    assert (
        whoami.url.host == "huggingface.co" and whoami.headers["authorization"] == f"Bearer {KEY}"
    )
    # The spec's headers go to the configured endpoint only.
    assert router.headers["x-team"] == "ml" and "x-team" not in whoami.headers


def test_bedrock_bearer_token_and_region() -> None:
    token = Secret("ABSKbedrock-key-123")
    ep = endpoint(
        "bedrock", "https://bedrock-runtime.{region}.amazonaws.com", None, default_base_url=True,
        settings={"region": "eu-west-1", "bearer_token": token},
    )  # fmt: skip
    verdict, recorder = probe(ep, json(200, {"modelSummaries": [{"modelId": "a"}]}))
    assert (verdict.outcome, verdict.model_count, verdict.candidate) == ("ok", 1, 0)
    request = recorder.requests[0]
    assert str(request.url) == "https://bedrock.eu-west-1.amazonaws.com/foundation-models"
    assert request.headers["authorization"] == "Bearer ABSKbedrock-key-123"


def test_bedrock_without_a_credential_is_unverified() -> None:
    ep = endpoint(
        "bedrock", "https://bedrock-runtime.us-east-1.amazonaws.com", None,
        default_base_url=True, settings={"region": "us-east-1"},
    )  # fmt: skip
    verdict, recorder = probe(ep)
    assert verdict.outcome == "unverified" and "access key pair" in verdict.reason
    assert "bearer_token" in verdict.hint and "access_key_id" in verdict.hint
    assert recorder.requests == []


AWS_ID, AWS_SECRET = "AKIAPROVISIONTEST01", "provision/secret+access/key0123456789abcd"


@pytest.mark.parametrize(("answer", "outcome"), [
    (json(200, {"modelSummaries": [{"modelId": "a"}, {"modelId": "b"}]}), "ok"),
    (json(403, {"message": "The security token included in the request is invalid."}),
     "credential_rejected"),
])
def test_bedrock_access_key_pair_signs_the_request(answer: Reply, outcome: str) -> None:
    from provision.probe import sigv4

    ep = endpoint(
        "bedrock", "https://bedrock-runtime.{region}.amazonaws.com", None, default_base_url=True,
        settings={"region": "eu-west-1", "access_key_id": Secret(AWS_ID),
                  "secret_access_key": Secret(AWS_SECRET)},
    )  # fmt: skip
    verdict, recorder = probe(ep, answer)
    assert verdict.outcome == outcome
    (request,) = recorder.requests
    assert str(request.url) == "https://bedrock.eu-west-1.amazonaws.com/foundation-models"
    stamp = request.headers["x-amz-date"]
    assert request.headers["authorization"].startswith(
        f"AWS4-HMAC-SHA256 Credential={AWS_ID}/{stamp[:8]}/eu-west-1/bedrock/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=")
    expected = sigv4.sign("GET", str(request.url), b"", access_key=AWS_ID, secret_key=AWS_SECRET,
                          region="eu-west-1", service="bedrock",
                          now=datetime.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(
                              tzinfo=datetime.UTC))
    assert request.headers["authorization"] == expected["Authorization"]
    shown = f"{verdict.url} {verdict.reason} {verdict.hint} {verdict.to_json()}"
    assert AWS_SECRET not in shown and AWS_ID not in shown
    assert all(AWS_SECRET not in value for value in request.headers.values())


def test_an_access_key_pair_signs_for_aws_hosts_only() -> None:
    ep = endpoint(
        "bedrock", "https://bedrock-runtime.{region}.amazonaws.com", None, default_base_url=True,
        settings={"region": "eu-west-1", "access_key_id": Secret(AWS_ID),
                  "secret_access_key": Secret(AWS_SECRET)},
    )  # fmt: skip
    ep = replace(ep, recipe=replace(ep.recipe, steps=tuple(
        replace(s, url="https://bedrock.eu-west-1.example.com/foundation-models")
        for s in ep.recipe.steps)))
    verdict, recorder = probe(ep)
    assert verdict.outcome == "unverified" and "AWS hosts only" in verdict.reason
    assert recorder.requests == []


def test_bedrock_without_a_region() -> None:
    ep = endpoint("bedrock", "https://bedrock-runtime.{region}.amazonaws.com", "tok-1234",
                  default_base_url=True)  # fmt: skip
    verdict, recorder = probe(ep)
    assert verdict.outcome == "wrong_url" and "region" in verdict.reason
    assert recorder.requests == []


def test_setting_headers_and_spec_headers() -> None:
    org = Secret("org-secret-1234")
    ep = endpoint(
        "openai", f"{API}/v1", KEY, settings={"organization": org},
        headers={"X-Title": "provision", "X-Extra-Key": Secret("extra-secret-99")},
    )  # fmt: skip
    verdict, recorder = probe(ep, err("nope", status=401))
    headers = recorder.requests[0].headers
    assert headers["openai-organization"] == "org-secret-1234"
    assert headers["x-title"] == "provision" and headers["x-extra-key"] == "extra-secret-99"
    assert "secret" not in verdict.reason


def test_secret_setting_never_goes_in_a_url() -> None:
    ep = endpoint(
        "bedrock", "https://bedrock-runtime.x.amazonaws.com", "tok-1234", default_base_url=True,
        settings={"region": Secret("us-secret-1")},
    )  # fmt: skip
    verdict, recorder = probe(ep)
    assert verdict.outcome == "wrong_url" and recorder.requests == []
    assert "us-secret-1" not in verdict.url + verdict.reason


def test_credential_with_a_trailing_newline() -> None:
    verdict, recorder = probe(endpoint("openai", f"{API}/v1", KEY + "\n"))
    assert verdict.outcome == "credential_rejected" and "line break" in verdict.reason
    assert recorder.requests == []


def test_userinfo_is_masked_in_the_url() -> None:
    verdict, _ = probe(endpoint("openai", "https://user:pa55word@api.example.com/v1"))
    assert "pa55word" not in verdict.url and verdict.url.startswith("https://***@api.example.com")


# ── plain http ───────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("base", "credential", "allow", "outcome"),
    [
        ("http://api.example.com/v1", KEY, False, "insecure"),
        ("http://10.0.0.5:8000/v1", KEY, False, "insecure"),
        ("http://api.example.com/v1", KEY, True, "ok"),
        ("http://api.example.com/v1", None, False, "ok"),
        ("http://localhost:8000/v1", KEY, False, "ok"),
        ("http://127.0.0.2:8000/v1", KEY, False, "ok"),
        ("http://[::1]:8000/v1", KEY, False, "ok"),
        ("http://models.localhost/v1", KEY, False, "ok"),
    ],
)
def test_plain_http(base: str, credential: str | None, allow: bool, outcome: str) -> None:
    verdict, recorder = probe(endpoint("openai", base, credential, allow_insecure=allow))
    assert verdict.outcome == outcome
    assert len(recorder.requests) == (0 if outcome == "insecure" else 1)
    if outcome == "insecure":
        assert "https" in verdict.hint and not verdict.passed and verdict.attempts == 0


def test_plain_http_is_refused_before_the_public_step() -> None:
    # llama.cpp's first step is public; the refusal still comes before any request.
    verdict, recorder = probe(endpoint("llama-cpp", "http://gpu-box.lan:8080/v1", KEY))
    assert verdict.outcome == "insecure" and recorder.requests == []


def test_secret_header_counts_as_a_credential_over_http() -> None:
    ep = endpoint(
        "openai", "http://api.example.com/v1", None, headers={"X-Key": Secret("hdr-1234")}
    )
    verdict, recorder = probe(ep)
    assert verdict.outcome == "insecure" and recorder.requests == []


# ── overrides ────────────────────────────────────────────────────────────────────────────────


def test_disabled_probe_is_skipped() -> None:
    verdict, recorder = probe(
        endpoint("openai", f"{API}/v1", KEY, options=ProbeOptions(enabled=False))
    )
    assert (verdict.outcome, verdict.passed, recorder.requests) == ("skipped", True, [])


def test_required_is_carried() -> None:
    verdict, _ = probe(endpoint("openai", f"{API}/v1", KEY, options=ProbeOptions(required=False)))
    assert verdict.required is False


def test_path_method_and_expectations() -> None:
    opts = ProbeOptions(
        path="/health", method="POST", expect_status=(201,), expect_shape="any_json"
    )
    verdict, recorder = probe(endpoint("openai", f"{API}/v1", KEY, options=opts), json(201, []))
    assert verdict.outcome == "ok"
    assert (recorder.requests[0].method, str(recorder.requests[0].url)) == (
        "POST",
        f"{API}/v1/health",
    )


def test_expect_status_other_than_listed() -> None:
    opts = ProbeOptions(expect_status=(204,))
    verdict, _ = probe(endpoint("openai", f"{API}/v1", KEY, options=opts), json(200, MODELS))
    assert verdict.outcome == "wrong_url" and "expected 204" in verdict.reason


def test_expect_status_may_accept_a_non_2xx() -> None:
    opts = ProbeOptions(expect_status=(200, 401))
    verdict, _ = probe(endpoint("openai", f"{API}/v1", KEY, options=opts), json(401, {}))
    assert verdict.outcome == "ok"
