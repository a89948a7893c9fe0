"""bridge-sim over real HTTP on 127.0.0.1: every route and status, each fault switch, the probe
recipes against it, and the CLI in a subprocess. Every wait is bounded; every server stopped."""

from __future__ import annotations

import os
import select
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click.testing
import httpx
import pytest
from click.testing import CliRunner
from servers import endpoint

from provision.cli import bridge_sim
from provision.probe import Verdict, run_probes
from provision.probe.bridgesim import VERSION, BridgeSim

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "simtok-5f1e0c2b9a7d4e3f8a61"
WRONG = "simtok-0000000000000000wrong"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
ANTHROPIC = {"X-Api-Key": TOKEN, "anthropic-version": "2023-06-01"}
PLAIN = "text/plain; charset=utf-8"
WAIT = 15.0  # the longest any test waits for a subprocess


@pytest.fixture(autouse=True)
def _no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture
def sim() -> Iterator[BridgeSim]:
    with BridgeSim(TOKEN, instances={"openai-eu": "openai", "claude-eu": "anthropic"}) as s:
        yield s


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(trust_env=False, timeout=5.0) as c:
        yield c


def bridge(sim: BridgeSim, route: str) -> str:
    return f"{sim.url}/api/v2/aibridge{route}"


# ── Coder's own API ──────────────────────────────────────────────────────────────────────────


def test_buildinfo_is_public(sim: BridgeSim, client: httpx.Client) -> None:
    r = client.get(f"{sim.url}/api/v2/buildinfo")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    doc = r.json()
    assert doc["version"] == VERSION and doc["version"].endswith("-sim")
    assert doc["dashboard_url"] == sim.url and doc["external_url"].startswith("https://")


def test_users_me_with_session_token(sim: BridgeSim, client: httpx.Client) -> None:
    r = client.get(f"{sim.url}/api/v2/users/me", headers={"Coder-Session-Token": TOKEN})
    assert r.status_code == 200
    assert {"id", "username", "email"} <= r.json().keys() and r.json()["username"] == "sim-user"


@pytest.mark.parametrize(
    ("headers", "detail"),
    [
        ({}, 'Cookie "coder_session_token" or query parameter must be provided.'),
        ({"Coder-Session-Token": "a-b-c"}, "incorrect amount of API key parts, expected 2 got 3"),
        ({"Coder-Session-Token": WRONG}, "invalid API key ID length, expected 10 got 6"),
        ({"Coder-Session-Token": "abcdefghij-" + "x" * 22}, "API key is invalid."),
        ({"Authorization": f"Bearer {TOKEN}"}, "must be provided"),  # Bearer is the bridge's
    ],
    ids=["missing", "parts", "id-length", "unknown", "bearer"],
)
def test_users_me_rejects_like_coder(
    sim: BridgeSim, client: httpx.Client, headers: dict[str, str], detail: str
) -> None:
    r = client.get(f"{sim.url}/api/v2/users/me", headers=headers)
    assert r.status_code == 401 and r.headers["content-type"].startswith("application/json")
    assert r.json()["message"].startswith("You are signed out") and detail in r.json()["detail"]


def test_wrong_secret_of_a_known_key_id() -> None:
    token = "AbCdEfGhIj-" + "s" * 22
    with BridgeSim(token) as s, httpx.Client(trust_env=False) as c:
        r = c.get(f"{s.url}/api/v2/users/me", headers={"Coder-Session-Token": token[:-1] + "t"})
    assert r.status_code == 401 and r.json()["detail"] == "API key secret is invalid."


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/"),
        ("GET", "/api/v2/nope"),
        ("GET", "/api/v2/aibridge"),
        ("POST", "/api/v2/buildinfo"),
    ],
)
def test_other_paths_are_coder_404s(
    sim: BridgeSim, client: httpx.Client, method: str, path: str
) -> None:
    r = client.request(method, sim.url + path, headers=BEARER)
    assert r.status_code == 404 and r.json() == {"message": "Route not found."}


# ── AI Bridge ────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    "headers",
    [BEARER, {"X-Api-Key": TOKEN}, {"authorization": f"bearer {TOKEN}"}],
    ids=["bearer", "x-api-key", "lower-case"],
)
@pytest.mark.parametrize("instance", ["openai", "openai-eu"])
def test_openai_models(
    sim: BridgeSim, client: httpx.Client, headers: dict[str, str], instance: str
) -> None:
    r = client.get(bridge(sim, f"/{instance}/v1/models"), headers=headers)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    doc = r.json()
    assert doc["object"] == "list" and doc["data"][0] == {**doc["data"][0], "id": "gpt-5"}
    assert all(m["object"] == "model" for m in doc["data"])


@pytest.mark.parametrize("headers", [ANTHROPIC, {"X-Api-Key": TOKEN}, BEARER])
@pytest.mark.parametrize("instance", ["anthropic", "claude-eu"])
def test_anthropic_models(
    sim: BridgeSim, client: httpx.Client, headers: dict[str, str], instance: str
) -> None:
    r = client.get(bridge(sim, f"/{instance}/v1/models"), headers=headers)
    assert r.status_code == 200
    doc = r.json()
    assert doc["has_more"] is False and doc["first_id"] == doc["data"][0]["id"]
    assert doc["last_id"] == doc["data"][-1]["id"]
    first = doc["data"][0]
    assert (first["id"], first["type"]) == ("claude-sonnet-4-5", "model") and first["display_name"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Coder-Session-Token": TOKEN},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": "Bearer"},
    ],
    ids=["none", "coder-session-token", "basic", "empty-bearer"],
)
def test_no_token_is_400(sim: BridgeSim, client: httpx.Client, headers: dict[str, str]) -> None:
    r = client.get(bridge(sim, "/openai/v1/models"), headers=headers)
    assert r.status_code == 400 and r.headers["content-type"] == PLAIN
    assert r.text == "no authentication key provided\n"


@pytest.mark.parametrize(
    "headers",
    [{"Authorization": f"Bearer {WRONG}"}, {"X-Api-Key": WRONG}],
    ids=["bearer", "x-api-key"],
)
def test_wrong_token_is_403(sim: BridgeSim, client: httpx.Client, headers: dict[str, str]) -> None:
    r = client.get(bridge(sim, "/anthropic/v1/models"), headers=headers)
    assert (r.status_code, r.text, r.headers["content-type"]) == (403, "unauthorized\n", PLAIN)


def test_bearer_is_read_before_x_api_key(sim: BridgeSim, client: httpx.Client) -> None:
    r = client.get(
        bridge(sim, "/openai/v1/models"),
        headers={"Authorization": f"Bearer {WRONG}", "X-Api-Key": TOKEN},
    )
    assert r.status_code == 403


@pytest.mark.parametrize(
    "route", ["/openai/v1/nope", "/nope/v1/models", "/openai/models", "/openai-eu/v2/models", "/"]
)
def test_unknown_bridge_route_is_404(sim: BridgeSim, client: httpx.Client, route: str) -> None:
    r = client.get(bridge(sim, route), headers=BEARER)
    assert (r.status_code, r.headers["content-type"]) == (404, PLAIN)
    assert r.text == f"route not supported: GET {route}\n"


@pytest.mark.parametrize(("headers", "status"), [({}, 400), ({"X-Api-Key": WRONG}, 403)])
def test_token_is_checked_before_the_route(
    sim: BridgeSim, client: httpx.Client, headers: dict[str, str], status: int
) -> None:
    assert client.get(bridge(sim, "/nope/v1/x"), headers=headers).status_code == status


@pytest.mark.parametrize(
    "route", ["/openai/v1/chat/completions", "/openai-eu/v1/responses", "/anthropic/v1/messages"]
)
def test_real_routes_the_sim_lacks_say_so(sim: BridgeSim, client: httpx.Client, route: str) -> None:
    r = client.post(bridge(sim, route), headers=BEARER, json={"model": "m"})
    assert r.status_code == 501 and "does not simulate POST" in r.text


def test_head(sim: BridgeSim, client: httpx.Client) -> None:
    r = client.head(bridge(sim, "/openai/v1/models"), headers=BEARER)
    assert r.status_code == 200 and r.content == b"" and int(r.headers["content-length"]) > 0


def test_request_log_names_auth_kinds_never_tokens(sim: BridgeSim, client: httpx.Client) -> None:
    client.get(bridge(sim, "/openai/v1/models"), headers=BEARER)
    client.get(bridge(sim, "/anthropic/v1/models"), headers=ANTHROPIC)
    client.get(f"{sim.url}/api/v2/users/me?coder_session_token={TOKEN}")
    client.get(f"{sim.url}/api/v2/buildinfo", headers={"Authorization": f"Token {TOKEN}"})
    seen = sim.requests
    assert [(s.method, s.path, s.auth, s.status) for s in seen] == [
        ("GET", "/api/v2/aibridge/openai/v1/models", ("bearer",), 200),
        ("GET", "/api/v2/aibridge/anthropic/v1/models", ("x-api-key",), 200),
        ("GET", "/api/v2/users/me", (), 401),  # the query string (and its token) is dropped
        ("GET", "/api/v2/buildinfo", ("authorization",), 200),
    ]
    assert TOKEN not in repr(seen)


# ── faults ───────────────────────────────────────────────────────────────────────────────────


def test_latency_delays_every_answer(client: httpx.Client) -> None:
    with BridgeSim(TOKEN, latency=0.3) as s:
        for url, headers in ((f"{s.url}/api/v2/buildinfo", {}), (bridge(s, "/x"), BEARER)):
            start = time.monotonic()
            client.get(url, headers=headers)
            assert time.monotonic() - start >= 0.3


def test_fail_429_then_5xx_then_ok(client: httpx.Client) -> None:
    with BridgeSim(TOKEN, fail_429=2, fail_5xx=1) as s:
        assert client.get(f"{s.url}/api/v2/buildinfo").status_code == 200  # not a bridge route
        replies = [client.get(bridge(s, "/openai/v1/models"), headers=BEARER) for _ in range(4)]
    assert [r.status_code for r in replies] == [429, 429, 502, 200]
    throttled, bad_gateway = replies[0], replies[2]
    assert throttled.headers["retry-after"] == "1"
    assert throttled.headers["retry-after-ms"] == "1000"
    assert "rate limit exceeded" in throttled.json()["message"]
    assert (bad_gateway.text, bad_gateway.headers["content-type"]) == (
        "upstream proxy error\n",
        PLAIN,
    )


def test_fail_5xx_alone(client: httpx.Client) -> None:
    with BridgeSim(TOKEN, fail_5xx=2) as s:
        codes = [client.get(bridge(s, "/anthropic/v1/models"), headers=BEARER) for _ in range(3)]
    assert [r.status_code for r in codes] == [502, 502, 200]


def test_redirect(client: httpx.Client) -> None:
    target = "https://coder.example.com/api/v2/aibridge/openai/v1/models"
    with BridgeSim(TOKEN, redirect=target) as s:
        r = client.get(bridge(s, "/openai/v1/models"), headers=BEARER)
        info = client.get(f"{s.url}/api/v2/buildinfo")
    assert r.status_code == 307 and r.headers["location"] == target
    assert info.status_code == 200  # only the bridge is behind the redirect


def test_html(client: httpx.Client) -> None:
    with BridgeSim(TOKEN, html=True) as s:
        r = client.get(bridge(s, "/openai/v1/models"), headers=BEARER)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert r.text.startswith("<!DOCTYPE html>")


def test_slow_start_answers_late(client: httpx.Client) -> None:
    with BridgeSim(TOKEN, slow_start=0.5) as s:
        with pytest.raises(httpx.ReadTimeout):
            client.get(f"{s.url}/api/v2/buildinfo", timeout=httpx.Timeout(5, read=0.1))
        start = time.monotonic()
        status = client.get(f"{s.url}/api/v2/buildinfo").status_code
    assert status == 200 and 0.2 < time.monotonic() - start < 5


def test_stop_during_slow_start_is_prompt() -> None:
    s = BridgeSim(TOKEN, slow_start=60)
    s.start()
    start = time.monotonic()
    s.stop()
    assert time.monotonic() - start < 2


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"latency": -1}, "latency"),
        ({"slow_start": float("inf")}, "slow_start"),
        ({"fail_429": -1}, "fail_429"),
        ({"port": 70000}, "port"),
        ({"redirect": "/relative"}, "absolute"),
        ({"redirect": "https://x.example", "html": True}, "pick one"),
        ({"instances": {"Bad_Name": "openai"}}, "must match"),
        ({"instances": {"gemini": "google"}}, "openai or anthropic"),
        ({"instances": {"openai": "anthropic"}}, "already of type openai"),
    ],
)
def test_invalid_options(kw: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BridgeSim(TOKEN, **kw)


@pytest.mark.parametrize("token", ["", "has space", "tab\there", "naïve"])
def test_invalid_tokens(token: str) -> None:
    with pytest.raises(ValueError, match="printable ASCII"):
        BridgeSim(token)


# ── lifecycle ────────────────────────────────────────────────────────────────────────────────


def test_lifecycle() -> None:
    s = BridgeSim(TOKEN)
    with pytest.raises(RuntimeError, match="not been started"):
        _ = s.url
    s.stop()  # before start: nothing to do
    url = s.start()
    assert url == s.url and url.startswith("http://127.0.0.1:")
    with pytest.raises(RuntimeError, match="already started"):
        s.start()
    s.stop()
    s.stop()  # idempotent
    with httpx.Client(trust_env=False) as c, pytest.raises(httpx.ConnectError):
        c.get(f"{url}/api/v2/buildinfo")


def test_stop_cuts_a_latency_wait_short() -> None:
    s = BridgeSim(TOKEN, latency=30)
    s.start()
    statuses: list[int] = []

    def ask() -> None:
        with httpx.Client(trust_env=False, timeout=10) as c:
            statuses.append(c.get(f"{s.url}/api/v2/buildinfo").status_code)

    asker = threading.Thread(target=ask)
    try:
        asker.start()
        deadline = time.monotonic() + 5
        while not s.requests and time.monotonic() < deadline:
            time.sleep(0.01)
        start = time.monotonic()
    finally:
        s.stop()
    asker.join(timeout=10)
    assert time.monotonic() - start < 2 and statuses == [200]


def test_port_in_use() -> None:
    with BridgeSim(TOKEN) as first:
        port = int(first.url.rsplit(":", 1)[1])
        with pytest.raises(OSError):
            BridgeSim(TOKEN, port=port).start()


# ── the probe recipes against it ─────────────────────────────────────────────────────────────


def probe(recipe: str, base: str, credential: str, **kw: Any) -> Verdict:
    [verdict] = run_probes([endpoint(recipe, base, credential)], max_retries=0, **kw)
    return verdict


@pytest.mark.parametrize(
    ("recipe", "suffix"),
    [
        ("coder", ""),
        ("aibridge-openai", "/api/v2/aibridge/openai/v1"),
        ("aibridge-openai", "/api/v2/aibridge/openai-eu/v1"),
        ("aibridge-anthropic", "/api/v2/aibridge/anthropic"),
    ],
)
def test_recipes_pass_and_reject(sim: BridgeSim, recipe: str, suffix: str) -> None:
    good = probe(recipe, sim.url + suffix, TOKEN)
    bad = probe(recipe, sim.url + suffix, WRONG)
    assert good.outcome == "ok", good.reason
    assert bad.outcome == "credential_rejected", bad.reason
    assert TOKEN not in repr(good.to_json()) and WRONG not in repr(bad.to_json())


@pytest.mark.parametrize(
    ("kw", "outcome"),
    [
        ({"fail_429": 1}, "throttled"),
        ({"fail_5xx": 1}, "server_error"),
        ({"redirect": "https://elsewhere.example/v1"}, "wrong_url"),
        ({"html": True}, "wrong_url"),
    ],
)
def test_recipes_see_each_fault(kw: dict[str, Any], outcome: str) -> None:
    with BridgeSim(TOKEN, **kw) as s:
        verdict = probe("aibridge-openai", f"{s.url}/api/v2/aibridge/openai/v1", TOKEN)
    assert verdict.outcome == outcome, verdict.reason


def test_recipe_on_a_wrong_instance_gets_the_bridge_hint(sim: BridgeSim) -> None:
    verdict = probe("aibridge-anthropic", f"{sim.url}/api/v2/aibridge/anthropic/v1", TOKEN)
    assert verdict.outcome == "wrong_url" and "AI Bridge serves" in verdict.hint


# ── the CLI in a subprocess ──────────────────────────────────────────────────────────────────

# The command is attached here if _app.py does not attach it yet; either way through main().
RUN = """\
import sys
from provision.cli import cli, main
from provision.cli import bridge_sim
if "bridge-sim" not in cli.commands:
    cli.add_command(bridge_sim.command)
sys.exit(main(sys.argv[1:]))
"""


def cli_env(token: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["PYTHONPATH"] = str(ROOT)
    env.pop("PROVISION_BRIDGE_SIM_TOKEN", None)
    if token is not None:
        env["PROVISION_BRIDGE_SIM_TOKEN"] = token
    return env


def run_cli(*args: str, token: str | None = TOKEN) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", RUN, "bridge-sim", *args],
        cwd=ROOT, env=cli_env(token), capture_output=True, text=True, timeout=WAIT,
    )  # fmt: skip


@contextmanager
def running(
    tmp_path: Path, *args: str, token: str | None = TOKEN, ignored: tuple[int, ...] = ()
) -> Iterator[Running]:
    """bridge-sim with a ready file; `ignored` signals are ignored when it starts (nohup)."""

    def ignore() -> None:
        for sig in ignored:
            signal.signal(sig, signal.SIG_IGN)

    ready = tmp_path / "ready"
    proc = subprocess.Popen(
        [sys.executable, "-c", RUN, "bridge-sim", "--ready-file", str(ready), *args],
        cwd=ROOT, env=cli_env(token), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=ignore,
    )  # fmt: skip
    try:
        yield Running(proc, wait_ready(proc, ready), ready)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=WAIT)


class Running:
    def __init__(self, proc: subprocess.Popen[str], url: str, ready: Path) -> None:
        self.proc, self.url, self.ready = proc, url, ready

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, str, str]:
        self.proc.send_signal(sig)
        out, err = self.proc.communicate(timeout=WAIT)
        return self.proc.returncode, out, err


def wait_ready(proc: subprocess.Popen[str], ready: Path) -> str:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if ready.is_file():
            return ready.read_text().strip()
        if proc.poll() is not None:
            _, err = proc.communicate(timeout=WAIT)
            pytest.fail(f"bridge-sim exited {proc.returncode}: {err}")
        time.sleep(0.02)
    pytest.fail(f"bridge-sim wrote no ready file in {WAIT} s")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP],
                         ids=["SIGTERM", "SIGINT", "SIGHUP"])
def test_cli_serves_until_signalled(tmp_path: Path, client: httpx.Client, sig: int) -> None:
    with running(tmp_path, "--instance", "openai-eu=openai") as sim:
        assert sim.url.startswith("http://127.0.0.1:")
        r = client.get(f"{sim.url}/api/v2/aibridge/openai-eu/v1/models", headers=BEARER)
        assert r.status_code == 200
        code, out, err = sim.stop(sig)
    assert code == 0, err
    assert out == f"bridge-sim listening on {sim.url}\n"
    assert "token: (sensitive value)" in err and "bridge-sim stopped" in err
    assert TOKEN not in out + err
    assert not sim.ready.exists()


def test_cli_under_nohup_outlives_its_terminal(tmp_path: Path, client: httpx.Client) -> None:
    with running(tmp_path, ignored=(signal.SIGHUP,)) as sim:
        sim.proc.send_signal(signal.SIGHUP)
        r = client.get(f"{sim.url}/api/v2/buildinfo")  # answered after the hang-up
        assert sim.proc.poll() is None
        code, _, err = sim.stop(signal.SIGTERM)
    assert r.status_code == 200 and code == 0, err
    assert not sim.ready.exists()


def test_cli_generates_a_token_into_a_private_file(tmp_path: Path, client: httpx.Client) -> None:
    token_file = tmp_path / "secrets" / "token"
    with running(tmp_path, "--token-file", str(token_file), token=None) as sim:
        token = token_file.read_text().strip()
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        headers = {"Coder-Session-Token": token}
        assert client.get(f"{sim.url}/api/v2/users/me", headers=headers).status_code == 200
        code, out, err = sim.stop()
    assert code == 0 and f"written to {token_file}" in err
    assert token not in out + err


def test_cli_fault_switches(tmp_path: Path, client: httpx.Client) -> None:
    args = ("--fail-429", "1", "--fail-5xx", "1", "--latency", "0.1", "--html")
    with running(tmp_path, *args) as sim:
        url = f"{sim.url}/api/v2/aibridge/openai/v1/models"
        start = time.monotonic()
        codes = [client.get(url, headers=BEARER) for _ in range(3)]
        elapsed = time.monotonic() - start
        code, _, err = sim.stop()
    assert [r.status_code for r in codes] == [429, 502, 200] and code == 0, err
    assert codes[2].headers["content-type"].startswith("text/html") and elapsed >= 0.3


def test_cli_redirect_switch(tmp_path: Path, client: httpx.Client) -> None:
    with running(tmp_path, "--redirect", "https://elsewhere.example/") as sim:
        r = client.get(f"{sim.url}/api/v2/aibridge/openai/v1/models", headers=BEARER)
        code, _, _ = sim.stop()
    assert (r.status_code, r.headers["location"], code) == (307, "https://elsewhere.example/", 0)


def test_cli_token_flag_is_never_printed(tmp_path: Path) -> None:
    with running(tmp_path, "--token", TOKEN, token=None) as sim:
        code, out, err = sim.stop()
    assert code == 0 and TOKEN not in out + err


def invoke(*args: str, token: str | None = TOKEN) -> click.testing.Result:
    """The command in-process, for paths that end before it serves."""
    env = {"PROVISION_BRIDGE_SIM_TOKEN": token}
    return CliRunner().invoke(bridge_sim.command, list(args), env=env)


@pytest.mark.parametrize(
    ("args", "token", "message"),
    [
        (("--host", "0.0.0.0"), TOKEN, "--allow-remote"),
        (("--host", "example.com"), TOKEN, "--allow-remote"),
        (("--host", "[2001:db8::1]"), TOKEN, "--allow-remote"),
        ((), None, "--token-file PATH"),
        (("--token-file", "t"), TOKEN, "a token was given"),
        (("--instance", "eu"), TOKEN, "NAME=TYPE"),
        (("--instance", "eu=google"), TOKEN, "openai or anthropic"),
        (("--redirect", "nowhere"), TOKEN, "absolute"),
        (("--token", "has space"), None, "printable ASCII"),
        (("--fail-429", "-1"), TOKEN, "-1 is not in the range"),
    ],
    ids=["any-host", "host-name", "ipv6-host", "no-token", "token-and-file", "instance", "type",
         "redir", "ws", "count"],
)  # fmt: skip
def test_cli_usage_errors(args: tuple[str, ...], token: str | None, message: str) -> None:
    result = invoke(*args, token=token)
    assert result.exit_code == 2 and message in result.output
    assert "listening" not in result.output and TOKEN not in result.output


def test_cli_usage_error_writes_no_token_file(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    result = invoke("--token-file", str(token_file), "--redirect", "nowhere", token=None)
    assert result.exit_code == 2 and not token_file.exists()


def test_cli_usage_error_through_main_exits_1() -> None:
    proc = run_cli("--host", "10.0.0.1")
    assert proc.returncode == 1 and "--allow-remote" in proc.stderr
    assert proc.stdout == ""


def test_cli_port_in_use() -> None:
    with BridgeSim(TOKEN) as taken:
        port = taken.url.rsplit(":", 1)[1]
        result = invoke("--port", port)
    assert result.exit_code == 1 and f"cannot listen on 127.0.0.1:{port}" in result.output
    assert TOKEN not in result.output


def ipv6_loopback_missing() -> str:
    """Why this machine cannot listen on ::1, or "" if it can."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
    except OSError as exc:
        return f"no IPv6 loopback here: {exc}"
    return ""


@pytest.mark.parametrize("host", ["::1", "[::1]"])
def test_cli_serves_on_ipv6_loopback(tmp_path: Path, client: httpx.Client, host: str) -> None:
    if why := ipv6_loopback_missing():
        pytest.skip(why)
    with running(tmp_path, "--host", host) as sim:
        parts = urlsplit(sim.url)
        assert (parts.scheme, parts.netloc) == ("http", f"[::1]:{parts.port}")
        assert client.get(f"{sim.url}/api/v2/buildinfo").status_code == 200
        with pytest.raises(ConnectionRefusedError):  # ::1 alone, not every address
            socket.create_connection(("127.0.0.1", parts.port or 0), timeout=WAIT).close()
        code, out, err = sim.stop()
    assert code == 0, err
    assert out == f"bridge-sim listening on {sim.url}\n"
    assert f"{sim.url}/api/v2/aibridge/openai/v1" in err and "warning" not in err


def test_cli_takes_a_localhost_name_as_loopback(tmp_path: Path) -> None:
    """Names under localhost are loopback (RFC 6761); one the resolver does not know is a clear
    error, not a traceback."""
    name = "provision-bridge-sim-test.localhost"
    try:
        socket.getaddrinfo(name, None, socket.AF_INET)
    except socket.gaierror:
        proc = run_cli("--host", name)
        assert proc.returncode == 1 and f"error: cannot listen on {name}:0" in proc.stderr
        assert "Traceback" not in proc.stderr and "--allow-remote" not in proc.stderr
        return
    with running(tmp_path, "--host", name) as sim:  # this machine's resolver knows them
        code, _, err = sim.stop()
    assert code == 0 and "warning" not in err


def test_cli_help_lists_the_switches() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    for flag in ("--latency", "--fail-429", "--fail-5xx", "--redirect", "--html", "--ready-file"):
        assert flag in result.output
    assert "PROVISION_BRIDGE_SIM_TOKEN" in result.output


def test_cli_stops_quietly_when_its_terminal_is_gone(tmp_path: Path) -> None:
    """The terminal closing before the sim stops (its writes then fail with EIO) is no crash."""
    env = {**cli_env(TOKEN), "TMPDIR": str(tmp_path)}
    ready = tmp_path / "ready"
    controller, terminal = os.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-c", RUN, "bridge-sim", "--ready-file", str(ready)],
        cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=terminal, stderr=terminal,
    )  # fmt: skip
    os.close(terminal)
    try:
        wait_ready(proc, ready)  # type: ignore[arg-type]
        shown = b""
        deadline = time.monotonic() + WAIT
        while b"anthropic instance" not in shown and time.monotonic() < deadline:
            readable, _, _ = select.select([controller], [], [], deadline - time.monotonic())
            if readable:
                shown += os.read(controller, 4096)  # its start-up lines, all of them
        assert b"bridge-sim listening on" in shown, shown
        os.close(controller)  # then the terminal goes away
        controller = -1
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=WAIT)
    finally:
        if controller >= 0:
            os.close(controller)
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=WAIT)
    assert not ready.exists()
    assert list(tmp_path.glob("provision-crash-*")) == []


@pytest.mark.parametrize("gone", ["terminal", "stdout-terminal", "stdout-pipe"])
def test_cli_stops_cleanly_when_its_output_is_gone_at_start(tmp_path: Path, gone: str) -> None:
    """Its output gone before the start-up lines (EIO from a closed terminal, EPIPE from a closed
    pipe): it stops, removes its ready file and exits 1, with no crash log and no traceback."""
    env = {**cli_env(TOKEN), "TMPDIR": str(tmp_path)}
    ready = tmp_path / "ready"
    if gone == "stdout-pipe":
        reader, dead = os.pipe()
        os.close(reader)
    else:
        controller, dead = os.openpty()
        os.close(controller)  # every write to the terminal now fails with EIO
    stderr = dead if gone == "terminal" else subprocess.PIPE
    try:
        proc = subprocess.Popen(
            [sys.executable, "-c", RUN, "bridge-sim", "--ready-file", str(ready)],
            cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=dead, stderr=stderr, text=True,
        )  # fmt: skip
    finally:
        os.close(dead)
    try:
        _, err = proc.communicate(timeout=WAIT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=WAIT)
    assert proc.returncode == 1
    assert not ready.exists()
    assert list(tmp_path.glob("provision-crash-*")) == []
    if err is not None:  # stderr was a pipe that stayed open
        assert "Traceback" not in err and "unexpected" not in err
        assert "error: bridge-sim stopped: its output went away" in err
