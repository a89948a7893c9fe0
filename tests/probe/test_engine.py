"""The probe engine against real HTTP servers on 127.0.0.1: one per recipe family, one per
failure class, concurrency, key rotation, proxies, TLS and secret hygiene."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from servers import (
    MODELS,
    Answer,
    Seen,
    anthropic_api,
    azure_api,
    bearer,
    closed_port,
    coder_api,
    cohere_api,
    endpoint,
    error,
    google_api,
    llama_cpp_api,
    ok,
    ollama_api,
    openai_api,
    openrouter_api,
    self_signed,
    serve,
)

import provision.probe
import provision.probe.engine as engine
from provision.model import ProbeOptions
from provision.probe import Endpoint, Verdict, run_probes
from provision.probe.build import join
from provision.record import replace
from provision.secrets import Secret

KEY = "sk-test-0123456789abcdef"
CANARY = "sk-CANARY-5f1e0c2b9a7d4e3f"


@pytest.fixture(autouse=True)
def _no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Backoff waits, recorded and shortened so retry tests stay fast."""
    recorded: list[float] = []
    real_sleep = engine._sleep

    async def fake_sleep(delay: float) -> None:
        recorded.append(delay)
        await real_sleep(0)

    monkeypatch.setattr(engine, "_sleep", fake_sleep)
    return recorded


def probe_one(ep: Endpoint, **kw: Any) -> Verdict:
    [verdict] = run_probes([ep], **kw)
    return verdict


# ── the public surface ───────────────────────────────────────────────────────────────────────


def test_public_surface() -> None:
    assert set(provision.probe.__all__) == {
        "PASSING", "Endpoint", "Outcome", "Verdict", "probe_all", "run_probes",
    }  # fmt: skip


def test_importing_the_data_types_does_not_import_httpx() -> None:
    code = "import sys, provision.probe; print('httpx' in sys.modules)"
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=True
    )
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("base", "path", "url"),
    [
        ("http://h/v1", "/models", "http://h/v1/models"),
        ("http://h/v1/", "/models", "http://h/v1/models"),
        ("http://h", "/v1/models", "http://h/v1/models"),
        ("http://h/", "/v1/models", "http://h/v1/models"),
        ("http://h:8080/api/v1", "/key", "http://h:8080/api/v1/key"),
        ("https://h", "/v1beta/models?pageSize=1", "https://h/v1beta/models?pageSize=1"),
        ("https://h/x?a=1", "/m?b=2", "https://h/x/m?a=1&b=2"),
    ],
)
def test_join(base: str, path: str, url: str) -> None:
    assert join(base, path) == url


# ── one server per recipe family ─────────────────────────────────────────────────────────────


def test_openai() -> None:
    with serve(openai_api(KEY)) as server:
        verdict = probe_one(endpoint("openai", server.url + "/v1", KEY))
    assert (verdict.outcome, verdict.status, verdict.model_count) == ("ok", 200, 2)
    assert verdict.passed and verdict.candidate == 0 and verdict.credential == Secret(KEY)
    assert verdict.url == server.url + "/v1/models"
    assert server.requests[0].headers["authorization"] == f"Bearer {KEY}"


def test_openai_wrong_key_is_rejected() -> None:
    with serve(openai_api(KEY)) as server:
        verdict = probe_one(endpoint("openai", server.url + "/v1", "sk-wrong-key"))
    assert (verdict.outcome, verdict.status, verdict.passed) == ("credential_rejected", 401, False)
    assert verdict.candidate is None and verdict.credential is None


def test_anthropic_sends_the_version_header() -> None:
    with serve(anthropic_api(KEY)) as server:
        verdict = probe_one(endpoint("anthropic", server.url, KEY))
        bridged = probe_one(endpoint("anthropic", server.url, KEY, auth_override="bearer"))
    assert (verdict.outcome, verdict.model_count) == ("ok", 1)
    seen = server.requests[0].headers
    assert seen["x-api-key"] == KEY and seen["anthropic-version"] == "2023-06-01"
    # ANTHROPIC_AUTH_TOKEN is a Bearer token: the same server refuses it as an x-api-key.
    assert bridged.outcome == "credential_rejected"
    assert server.requests[1].headers["authorization"] == f"Bearer {KEY}"
    assert "x-api-key" not in server.requests[1].headers


def test_google_key_goes_in_a_header_never_the_url() -> None:
    with serve(google_api(KEY)) as server:
        good = probe_one(endpoint("google", server.url, KEY))
        bad = probe_one(endpoint("google", server.url, "AIza-wrong"))
    assert (good.outcome, good.model_count) == ("ok", 1)
    assert (bad.outcome, bad.status) == ("credential_rejected", 400)
    assert all("key" not in seen.query for seen in server.requests)
    assert server.requests[0].query == {"pageSize": ["1"]}


def test_ollama_version_then_tags() -> None:
    with serve(ollama_api()) as server:
        verdict = probe_one(endpoint("ollama", server.url))
        with_key = probe_one(endpoint("ollama", server.url, KEY))
    assert (verdict.outcome, verdict.model_count) == ("ok", 2)
    assert [s.route for s in server.requests[:2]] == ["/api/version", "/api/tags"]
    # Ollama has no auth: a configured key cannot be checked, and is not sent.
    assert with_key.outcome == "unverified" and with_key.passed
    assert "not checked" in with_key.reason
    assert all("authorization" not in s.headers for s in server.requests)


def test_openrouter_checks_the_key_not_the_public_model_list() -> None:
    with serve(openrouter_api(KEY)) as server:
        good = probe_one(endpoint("openrouter", server.url + "/api/v1", KEY))
        bad = probe_one(endpoint("openrouter", server.url + "/api/v1", "sk-or-wrong"))
    assert good.outcome == "ok" and bad.outcome == "credential_rejected"
    assert {s.route for s in server.requests} == {"/api/v1/key"}


def test_llama_cpp_checks_a_protected_route() -> None:
    with serve(llama_cpp_api(KEY)) as server:
        good = probe_one(endpoint("llama-cpp", server.url + "/v1", KEY))
        bad = probe_one(endpoint("llama-cpp", server.url + "/v1", "wrong"))
        missing = probe_one(endpoint("llama-cpp", server.url + "/v1"))
    assert (good.outcome, good.model_count) == ("ok", 2)
    assert [s.route for s in server.requests[:2]] == ["/v1/models", "/props"]
    assert "authorization" not in server.requests[0].headers  # the public list gets no key
    assert bad.outcome == "credential_rejected"
    assert missing.outcome == "credential_missing"


def test_azure_api_key_header() -> None:
    with serve(azure_api(KEY)) as server:
        verdict = probe_one(endpoint("azure-openai", server.url, KEY))
    assert (verdict.outcome, verdict.model_count) == ("ok", 1)
    assert server.requests[0].headers["api-key"] == KEY
    assert "authorization" not in server.requests[0].headers


def test_cohere_post_check_api_key() -> None:
    with serve(cohere_api(KEY)) as server:
        good = probe_one(endpoint("cohere", server.url, KEY))
        bad = probe_one(endpoint("cohere", server.url, "co-wrong"))
    assert good.outcome == "ok"
    assert bad.outcome == "credential_rejected" and "not valid" in bad.reason
    assert server.requests[0].method == "POST"


def test_coder_buildinfo_then_session_token() -> None:
    with serve(coder_api(KEY)) as server:
        good = probe_one(endpoint("coder", server.url, KEY))
        bad = probe_one(endpoint("coder", server.url, "wrong-token"))
    assert good.outcome == "ok" and bad.outcome == "credential_rejected"
    buildinfo, me = server.requests[:2]
    assert buildinfo.route == "/api/v2/buildinfo" and "coder-session-token" not in buildinfo.headers
    assert me.route == "/api/v2/users/me" and me.headers["coder-session-token"] == KEY


# ── one server per failure class ─────────────────────────────────────────────────────────────


def test_connection_refused(sleeps: list[float]) -> None:
    port = closed_port()
    verdict = probe_one(endpoint("openai", f"http://127.0.0.1:{port}/v1", KEY))
    assert verdict.outcome == "unreachable" and "refused" in verdict.reason
    assert verdict.attempts == 3 and sleeps == [0.2, 0.4]  # connect errors are retried


def test_read_timeout() -> None:
    with serve(lambda seen: Answer(200, b"{}", delay=2.0)) as server:
        verdict = probe_one(endpoint("openai", server.url + "/v1", KEY), read_timeout=0.2)
    assert verdict.outcome == "timeout" and "0.2 s" in verdict.reason
    assert verdict.attempts == 1  # a slow server is not asked again


def test_per_endpoint_timeout_override() -> None:
    opts = ProbeOptions(timeout=0.2)
    with serve(lambda seen: Answer(200, b"{}", delay=2.0)) as server:
        verdict = probe_one(endpoint("openai", server.url + "/v1", KEY, options=opts))
    assert verdict.outcome == "timeout"


def test_overall_deadline() -> None:
    with serve(lambda seen: Answer(200, b"{}", delay=2.0)) as server:
        verdict = probe_one(endpoint("openai", server.url + "/v1", KEY), deadline=0.3)
    assert verdict.outcome == "timeout" and "deadline" in verdict.reason


def test_server_error_then_success_is_retried(sleeps: list[float]) -> None:
    answers = iter([error(500, "boom"), error(502, "bad gateway")])

    def flaky(seen: Seen) -> Answer:
        return next(answers, ok(MODELS))

    with serve(flaky) as server:
        verdict = probe_one(endpoint("openai", server.url + "/v1", KEY))
    assert (verdict.outcome, verdict.attempts) == ("ok", 3)
    assert sleeps == [0.2, 0.4]


def test_server_error_persisting() -> None:
    with serve(lambda seen: error(500, "boom")) as server:
        verdict = probe_one(endpoint("openai", server.url + "/v1", KEY), max_retries=0)
    assert (verdict.outcome, verdict.status, verdict.attempts) == ("server_error", 500, 1)


@pytest.mark.parametrize("header", ["authorization", "x-api-key"])
def test_redirect_is_not_followed_and_the_credential_stays(header: str) -> None:
    recipe = "openai" if header == "authorization" else "anthropic"
    with (
        serve(lambda seen: ok(MODELS)) as elsewhere,
        serve(lambda seen: Answer(302, b"", {"Location": elsewhere.url + "/v1/models"})) as server,
    ):
        base = server.url + ("/v1" if recipe == "openai" else "")
        verdict = probe_one(endpoint(recipe, base, KEY))
    assert (verdict.outcome, verdict.status) == ("wrong_url", 302)
    assert elsewhere.url in verdict.hint and "base URL" in verdict.hint
    assert elsewhere.requests == []
    assert header in server.requests[0].headers  # sent to the configured host only


def test_html_200_is_the_wrong_url() -> None:
    html = Answer(200, "<!doctype html><title>Welcome</title>", {"Content-Type": "text/html"})
    with serve(lambda seen: html) as server:
        verdict = probe_one(endpoint("openai", server.url, KEY))
    assert verdict.outcome == "wrong_url" and "HTML" in verdict.reason
    assert "/v1" in verdict.hint


def test_llama_cpp_loading_model_is_not_ready(sleeps: list[float]) -> None:
    with serve(llama_cpp_api(KEY, loading=True)) as server:
        verdict = probe_one(endpoint("llama-cpp", server.url + "/v1", KEY))
    assert (verdict.outcome, verdict.status) == ("not_ready", 503)
    assert verdict.attempts == 4  # the public list, then /props three times
    assert not verdict.passed


def test_tls_untrusted_then_trusted_with_ca_bundle(tmp_path: Path) -> None:
    cert, context = self_signed(tmp_path)
    with serve(openai_api(KEY), tls=context) as server:
        untrusted = probe_one(endpoint("openai", server.url + "/v1", KEY), max_retries=0)
        opts = ProbeOptions(ca_bundle=str(cert))
        trusted = probe_one(endpoint("openai", server.url + "/v1", KEY, options=opts))
    assert untrusted.outcome == "unreachable" and "TLS" in untrusted.reason
    assert "ca_bundle" in untrusted.hint
    assert trusted.outcome == "ok"


def test_missing_ca_bundle(tmp_path: Path) -> None:
    opts = ProbeOptions(ca_bundle=str(tmp_path / "nope.pem"))
    verdict = probe_one(endpoint("openai", "https://127.0.0.1:1/v1", KEY, options=opts))
    assert verdict.outcome == "unreachable" and "ca_bundle" in verdict.reason


def test_environment_proxy_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    with serve(lambda seen: ok(MODELS)) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        verdict = probe_one(endpoint("openai", "http://llm.example.invalid/v1"))
    assert verdict.outcome == "ok"
    assert proxy.requests[0].path == "http://llm.example.invalid/v1/models"


# ── concurrency ──────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("limit", [16, 32])
def test_concurrency_is_used_and_bounded(limit: int) -> None:
    with serve(
        lambda seen: Answer(200, MODELS, {"Content-Type": "application/json"}, 0.2)
    ) as server:
        endpoints = [
            replace(endpoint("openai", f"{server.url}/v1", KEY), address=f"e{i}")
            for i in range(50)
        ]
        verdicts = run_probes(endpoints, concurrency=limit)
    assert [v.address for v in verdicts] == [f"e{i}" for i in range(50)]
    assert all(v.outcome == "ok" for v in verdicts)
    assert 16 <= server.max_in_flight <= limit


def test_on_result_sees_every_verdict() -> None:
    seen: list[str] = []
    with serve(openai_api(KEY)) as server:
        endpoints = [
            replace(endpoint("openai", f"{server.url}/v1", KEY), address=f"e{i}")
            for i in range(5)
        ]
        run_probes(endpoints, on_result=lambda v: seen.append(v.address))
    assert sorted(seen) == [f"e{i}" for i in range(5)]


# ── key rotation (seed 004) ──────────────────────────────────────────────────────────────────


def test_rotation_moves_on_when_throttled() -> None:
    keys: list[str] = []

    def handle(seen: Seen) -> Answer:
        keys.append(bearer(seen) or "")
        if bearer(seen) == "key-A-0001":
            return error(429, "Rate limit reached", "rate_limit_error", **{"retry-after": "20"})
        return ok(MODELS)

    with serve(handle) as server:
        ep = endpoint("openai", server.url + "/v1", ["key-A-0001", "key-B-0002"])
        verdict = probe_one(ep)
    assert (verdict.outcome, verdict.candidate) == ("ok", 1)
    assert verdict.credential == Secret("key-B-0002")
    assert keys == ["key-A-0001", "key-B-0002"]  # no waiting on A while B is there


def test_rotation_stops_on_any_other_failure() -> None:
    keys: list[str] = []

    def handle(seen: Seen) -> Answer:
        keys.append(bearer(seen) or "")
        return error(401, "invalid key") if bearer(seen) == "key-A-0001" else ok(MODELS)

    with serve(handle) as server:
        ep = endpoint("openai", server.url + "/v1", ["key-A-0001", "key-B-0002"])
        verdict = probe_one(ep)
    assert verdict.outcome == "credential_rejected" and verdict.candidate is None
    assert keys == ["key-A-0001"]


def test_rotation_all_throttled_reports_the_last(sleeps: list[float]) -> None:
    def handle(seen: Seen) -> Answer:
        return error(429, f"quota for {bearer(seen)} exhausted", "rate_limit_error")

    with serve(handle) as server:
        ep = endpoint("openai", server.url + "/v1", ["key-A-0001", "key-B-0002", "key-C-0003"])
        verdict = probe_one(ep, max_retries=1)
    assert verdict.outcome == "throttled" and verdict.passed
    assert verdict.candidate == 2 and verdict.credential == Secret("key-C-0003")
    assert verdict.attempts == 4  # A, B once each; C retried once
    assert "(sensitive value)" in verdict.reason


def test_rotation_on_billing() -> None:
    def handle(seen: Seen) -> Answer:
        if bearer(seen) == "key-A-0001":
            return error(429, "You exceeded your current quota", "insufficient_quota")
        return ok(MODELS)

    with serve(handle) as server:
        ep = endpoint("openai", server.url + "/v1", ["key-A-0001", "key-B-0002"])
        verdict = probe_one(ep)
    assert (verdict.outcome, verdict.candidate) == ("ok", 1)


# ── secrets never leak ───────────────────────────────────────────────────────────────────────


def echo_key(seen: Seen) -> Answer:
    """A careless server that quotes the key back in every answer."""
    key = bearer(seen) or seen.headers.get("x-api-key", "")
    return error(401, f"Incorrect API key provided: {key}. Check {key} again.")


def test_canary_never_appears(caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    caplog.set_level(logging.DEBUG)
    canary = Secret(CANARY)
    with (
        serve(echo_key) as echo,
        serve(
            lambda seen: Answer(301, b"", {"Location": f"http://x.invalid/?k={CANARY}"})
        ) as moved,
        serve(lambda seen: Answer(200, f"<p>{CANARY}</p>", {"Content-Type": "text/html"})) as page,
        serve(lambda seen: error(429, f"slow down {CANARY}")) as busy,
    ):
        endpoints = [
            endpoint("openai", echo.url + "/v1", canary),
            endpoint("anthropic", echo.url, canary),
            endpoint("openai", moved.url + "/v1", canary),
            endpoint("openai", page.url + "/v1", canary),
            endpoint("openai", busy.url + "/v1", canary),
            endpoint("openai", f"http://127.0.0.1:{closed_port()}/v1", canary),
            endpoint("openai", "http://public.example.invalid/v1", canary),
            endpoint("openai", "https://127.0.0.1:1/v1", canary,
                     options=ProbeOptions(ca_bundle=str(tmp_path / "missing.pem"))),
            endpoint("openai", "http://127.0.0.1:1/v1", Secret(CANARY + "\n")),
            endpoint("openai", echo.url + "/v1", canary, headers={"X-Extra": canary}),
        ]  # fmt: skip
        verdicts = run_probes(endpoints, max_retries=0, deadline=10)
    assert verdicts[0].outcome == "credential_rejected"
    assert {v.outcome for v in verdicts} >= {
        "credential_rejected", "wrong_url", "throttled", "unreachable", "insecure",
    }  # fmt: skip
    for verdict in verdicts:
        for text in (repr(verdict), str(verdict.to_json()), verdict.reason, verdict.hint):
            assert CANARY not in text
    for record in caplog.records:
        assert CANARY not in record.getMessage()


# ── plain http, overrides ────────────────────────────────────────────────────────────────────


def test_plain_http_to_loopback_is_allowed() -> None:
    with serve(openai_api(KEY)) as server:
        verdict = probe_one(
            endpoint("openai", server.url.replace("127.0.0.1", "localhost") + "/v1", KEY)
        )
    assert verdict.outcome == "ok"


def test_probe_disabled_is_skipped() -> None:
    verdict = probe_one(
        endpoint(
            "openai", "https://api.example.invalid/v1", KEY, options=ProbeOptions(enabled=False)
        )
    )
    assert (verdict.outcome, verdict.attempts, verdict.passed) == ("skipped", 0, True)


def test_overrides_path_method_status_and_shape() -> None:
    def handle(seen: Seen) -> Answer:
        if seen.method == "HEAD" and seen.route == "/v1/health":
            return Answer(204)
        if seen.route == "/v1/ping":
            return ok({"pong": True}, 202)
        return error(404, "nope")

    opts_head = ProbeOptions(path="/health", method="HEAD")
    opts_shape = ProbeOptions(path="/ping", expect_status=(202,), expect_shape="object")
    opts_bad_shape = ProbeOptions(path="/ping", expect_status=(202,), expect_shape="data_list")
    with serve(handle) as server:
        verdicts = run_probes(
            [
                endpoint("openai", server.url + "/v1", KEY, options=opts_head),
                endpoint("openai", server.url + "/v1", KEY, options=opts_shape),
                endpoint("openai", server.url + "/v1", KEY, options=opts_bad_shape),
            ]
        )
    assert [v.outcome for v in verdicts] == ["ok", "ok", "wrong_url"]
    assert {(s.method, s.route) for s in server.requests} == {
        ("HEAD", "/v1/health"),
        ("GET", "/v1/ping"),
    }


@pytest.mark.parametrize(
    ("settings", "shown"),
    [
        ({"region": "eu-west-3"}, "https://bedrock-runtime.eu-west-3.amazonaws.com"),
        ({}, "https://bedrock-runtime.{region}.amazonaws.com"),
        ({"region": ""}, "https://bedrock-runtime.{region}.amazonaws.com"),
        # A secret never goes into a URL, not even one only shown.
        ({"region": Secret("eu-west-3")}, "https://bedrock-runtime.{region}.amazonaws.com"),
    ],
    ids=["filled", "unset", "empty", "secret"],
)
def test_effective_base_url_fills_plain_settings_only(
    settings: dict[str, Any], shown: str
) -> None:
    e = endpoint("bedrock", "https://bedrock-runtime.{region}.amazonaws.com", settings=settings)
    assert e.effective_base_url == shown
    assert endpoint("openai", "http://h/{x}/v1").effective_base_url == "http://h/{x}/v1"
