"""Issue 5's "done when", end to end on 127.0.0.1: the demo flow's probes all pass; a wrong token
makes apply write nothing; `probe --repeat` feeds `health`; `required: false` and --no-probe;
key rotation against a local OpenAI-compatible server. No key is ever printed or stored."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import json5
import pytest
import yaml
from keyserver import key_server
from workflow_kit import Cli, assert_no_canary, gitops, scan_tree

from provision.probe.bridgesim import BridgeSim

WRONG_TOKEN = "wrong-token-Hh4Jj5Kk6Ll7Mm8Nn9"
KEY_A = "sk-rotation-a-throttled-1111aaaa"
KEY_B = "sk-rotation-b-accepted-2222bbbb"
KEY_C = "sk-rotation-c-rejected-3333cccc"


def direct_spec(root: Path, base_url: str, api_key: dict[str, str], **probe: Any) -> Path:
    provider: dict[str, Any] = {"base_url": base_url, "api_key": api_key}
    if probe:
        provider["probe"] = probe
    spec = {
        "version": 1,
        "deployments": {"dev": {"providers": {"openai": provider}}},
        "targets": {
            "mux": {
                "type": "mux_providers",
                "deployment": "dev",
                "path": "out/providers.jsonc",
                "secrets": "inline",
            }
        },
    }
    root.mkdir(exist_ok=True)
    (root / "provision.yaml").write_text(yaml.safe_dump(spec))
    return root


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_probe_repeat_then_health(tmp_path: Path, cli: Cli, sim_url: str) -> None:
    spec, f = gitops(tmp_path, sim_url)
    doc = json.loads(cli.ok("probe", *f, "--repeat", "5", "--interval", "0", "-json").out)
    assert doc["passed"] is True and len(doc["runs"]) == 5
    addresses = {v["address"] for v in doc["runs"][0]}
    assert {v["outcome"] for run in doc["runs"] for v in run} == {"ok"}, doc

    table = cli.ok("health", "-f", spec).out
    for address in addresses:
        row = next(line for line in table.splitlines() if line.startswith(address + " "))
        assert re.search(r"\s100%\s+5\s+\d+ ms\s+\d+ ms\s", row), row
    rows = json.loads(cli.ok("health", "-f", spec, "-json").out)["endpoints"]
    assert {r["address"] for r in rows} == addresses
    for r in rows:
        assert (r["checks"], r["success_rate"], r["last_outcome"]) == (5, 1.0, "ok")
        assert isinstance(r["p50_ms"], float) and r["p50_ms"] <= r["p95_ms"]
    assert scan_tree(spec / ".provision")  # health.jsonl holds verdicts, never the token
    assert not (tmp_path / "out").exists()  # probe writes nothing


def test_wrong_token_writes_nothing(
    tmp_path: Path, cli: Cli, sim_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CODER_SESSION_TOKEN", WRONG_TOKEN)
    spec, f = gitops(tmp_path, sim_url)
    run = cli("apply", *f, "-auto-approve")
    assert run.code == 1
    assert "credential rejected" in run.text
    assert "nothing was written" in run.err
    assert not (tmp_path / "out").exists()
    assert not (spec / ".provision" / "state.json").exists()
    assert_no_canary(run.text, "apply's output", [WRONG_TOKEN])
    scan_tree(spec / ".provision", canaries=[WRONG_TOKEN])
    probe = cli("probe", *f)
    assert probe.code == 1 and "credential_rejected" in probe.out


def test_no_probe_skips_the_preflight(
    tmp_path: Path, cli: Cli, bridge_sim: Callable[..., BridgeSim], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CODER_SESSION_TOKEN", WRONG_TOKEN)
    sim = bridge_sim()
    spec, f = gitops(tmp_path, sim.url)
    run = cli.ok("apply", *f, "-auto-approve", "--no-probe")
    assert "Probes:" not in run.out and "Apply complete!" in run.out
    assert sim.requests == ()
    assert not (spec / ".provision" / "health.jsonl").exists()


def test_probe_not_required_is_a_warning(tmp_path: Path, cli: Cli) -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    root = direct_spec(tmp_path / "soft", url, {"env": "OPENAI_KEY"}, required=False)
    planned = cli.ok("plan", "-f", root).out
    assert "Probes apply will run before writing anything:" in planned
    assert re.search(
        r"dev\.openai\s+http://127\.0\.0\.1:\d+/v1\s+\[openai\] \(not required\)", planned
    )
    run = cli.ok("apply", "-f", root, "-auto-approve")
    assert re.search(r"dev\.openai\s.*unreachable.*\(not required\)", run.out), run.out
    assert (root / "out" / "providers.jsonc").is_file()
    assert cli("probe", "-f", root).code == 0

    hard = direct_spec(tmp_path / "hard", url, {"env": "OPENAI_KEY"})
    refused = cli("apply", "-f", hard, "-auto-approve")
    assert refused.code == 1 and "unreachable" in refused.text
    assert not (hard / "out").exists()
    assert cli("probe", "-f", hard).code == 1


def _fingerprint(state_dir: Path, value: str) -> str:
    key = (state_dir / "fingerprint.key").read_bytes()
    return "hmac-sha256:" + hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:32]


def test_key_rotation_writes_the_first_accepted_key(
    tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEYS", f"{KEY_A}, {KEY_B}")
    keys = (KEY_A, KEY_B)
    with key_server(throttled={KEY_A}, accepted={KEY_B}) as (url, seen):
        root = direct_spec(tmp_path / "spec", url, {"env_list": "OPENAI_API_KEYS"})
        run = cli.ok("apply", "-f", root, "-auto-approve")
        assert seen[0] == KEY_A and seen[-1] == KEY_B
        written = json5.loads((root / "out" / "providers.jsonc").read_text())
        assert written["openai"]["apiKey"] == KEY_B
        state_dir = root / ".provision"
        state = json.loads((state_dir / "state.json").read_text())
        assert state["resources"]["mux_providers.mux"]["key_fingerprints"] == {
            "dev.openai": _fingerprint(state_dir, KEY_B)
        }

        # The accepted key stays the written one: no change, and probes try it first.
        assert cli("plan", "-f", root, "-detailed-exitcode").code == 0
        seen.clear()
        again = cli.ok("apply", "-f", root, "-auto-approve")
        assert "No changes." in again.out
        assert cli.ok("probe", "-f", root).code == 0
        assert seen and set(seen) == {KEY_B}
    for r in [run, *cli.runs]:
        assert_no_canary(r.text, "an output", keys)
    scan_tree(state_dir, canaries=keys)


def test_key_rotation_stops_at_a_rejected_key(
    tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEYS", f"{KEY_A};{KEY_C};{KEY_B}")
    with key_server(throttled={KEY_A}, accepted={KEY_B}) as (url, seen):
        root = direct_spec(tmp_path / "spec", url, {"env_list": "OPENAI_API_KEYS"})
        run = cli("apply", "-f", root, "-auto-approve")
    assert run.code == 1 and "credential rejected" in run.text
    assert KEY_C in seen and KEY_B not in seen  # only throttling moves on to the next key
    assert not (root / "out").exists()
    assert_no_canary(run.text, "apply's output", (KEY_A, KEY_B, KEY_C))
    scan_tree(root / ".provision", canaries=(KEY_A, KEY_B, KEY_C))
