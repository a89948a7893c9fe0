"""Saved plans: `plan -out F` then `apply F` applies exactly that plan, from any directory and
with no state yet; a plan that no longer holds is refused with its own reason and nothing is
written; the plan file holds no secret."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from workflow_kit import CANARIES, CANARY_OPENAI, Cli, assert_no_canary, proc_env, run_proc

SPEC = {
    "version": 1,
    "variables": {"region": {"type": "string", "default": "eu"}},
    "deployments": {
        "dev": {
            "providers": {
                "openai": {
                    "base_url": "http://127.0.0.1:9/${var.region}/v1",
                    "api_key": {"env": "OPENAI_KEY"},
                },
                "anthropic": {
                    "base_url": "https://api.anthropic.com",
                    "api_key": {"env": "ANTHROPIC_KEY"},
                },
            }
        }
    },
    "targets": {
        "mux": {"type": "mux_providers", "deployment": "dev", "path": "out/providers.jsonc"},
        "sh": {"type": "shell_exports", "deployment": "dev", "path": "out/env.sh"},
        "tf": {"type": "coder_agent_env", "deployment": "dev", "path": "out/env.tf"},
    },
}


def write_spec(root: Path, **region: str) -> Path:
    root.mkdir(exist_ok=True)
    spec = json.loads(json.dumps(SPEC))
    if region:
        spec["variables"]["region"]["default"] = region["region"]
    (root / "provision.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return root


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.suffix != ".plan"
    }


def test_saved_plan_applies_from_another_directory_with_no_state(
    tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_spec(tmp_path / "spec")
    planfile = tmp_path / "tfplan.plan"
    made = cli.ok("plan", "-f", root, "-out", planfile)
    assert f"provision apply {planfile}" in made.out
    assert not (root / ".provision" / "state.json").exists()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    applied = cli.ok("apply", planfile, "--no-probe")  # a saved plan never asks
    assert "Apply complete! Resources: 3 added" in applied.out
    assert (root / "out" / "providers.jsonc").is_file()
    assert (root / ".provision" / "state.json").is_file()
    assert not list(elsewhere.iterdir())
    assert cli("plan", "-f", root, "-detailed-exitcode").code == 0
    shown = cli.ok("show", planfile)
    assert "+ mux_providers.mux" in shown.out and "Plan: 3 to add" in shown.out
    shown_json = json.loads(cli.ok("show", planfile, "-json").out)
    assert shown_json["summary"] == {"add": 3, "change": 0, "destroy": 0}


def test_saved_plan_in_a_fresh_process(tmp_path: Path) -> None:
    """Another process, another cwd, the secrets read again from its environment."""
    root = write_spec(tmp_path / "spec")
    env = proc_env(OPENAI_KEY=CANARY_OPENAI, ANTHROPIC_KEY=CANARIES[1])
    planfile = tmp_path / "p.plan"
    made = run_proc("plan", "-f", root, "-out", planfile, cwd=tmp_path, env=env)
    assert made.code == 0, made.text
    applied = run_proc("apply", planfile, "--no-probe", cwd=Path("/"), env=env)
    assert applied.code == 0, applied.text
    assert CANARY_OPENAI in (root / "out" / "env.sh").read_text()
    for run in (made, applied):
        assert_no_canary(run.text, "a subprocess's output")
    assert_no_canary(planfile.read_text(), "the plan file")


def _serial_moved(root: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    cli.ok("apply", "-f", root, "-auto-approve", "--no-probe", "-target", "shell_exports.sh")


def _target_file_changed(root: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    path = root / "out" / "env.tf"
    path.write_text(path.read_text() + "# edited after the plan\n")


def _secret_changed(root: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_KEY", "sk-rotated-after-the-plan-0000")


def _spec_changed(root: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = root / "provision.yaml"
    spec.write_text(spec.read_text() + "# reviewed\n")


Stale = Callable[[Path, Cli, pytest.MonkeyPatch], None]


@pytest.mark.parametrize(
    ("make_stale", "message"),
    [
        (_serial_moved, "the state changed since the plan (serial 1 → 2)"),
        (_target_file_changed, "coder_agent_env.tf: {root}/out/env.tf changed since the plan"),
        (
            _secret_changed,
            "the secret used at dev.openai.api_key[0] is not the one the plan was made with",
        ),
        (_spec_changed, "spec file {root}/provision.yaml changed since the plan"),
    ],
    ids=["state-serial", "target-file", "secret", "spec"],
)
def test_stale_saved_plan_is_refused(
    tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch, make_stale: Stale, message: str
) -> None:
    root = write_spec(tmp_path / "spec")
    cli.ok("apply", "-f", root, "-auto-approve", "--no-probe")
    write_spec(root, region="us")  # every target has a pending update
    planfile = tmp_path / "p.plan"
    cli.ok("plan", "-f", root, "-out", planfile)
    make_stale(root, cli, monkeypatch)
    before = snapshot(root)
    refused = cli("apply", planfile, "--no-probe")
    assert refused.code == 1
    assert f"Saved plan {planfile} is stale" in refused.err
    assert message.format(root=root) in refused.err, refused.err
    assert "Re-run plan." in refused.err
    assert snapshot(root) == before  # nothing written: not the files, not the state


def test_state_created_after_a_plan_without_state(tmp_path: Path, cli: Cli) -> None:
    root = write_spec(tmp_path / "spec")
    planfile = tmp_path / "p.plan"
    cli.ok("plan", "-f", root, "-out", planfile)
    cli.ok("apply", "-f", root, "-auto-approve", "--no-probe", "-target", "shell_exports.sh")
    refused = cli("apply", planfile, "--no-probe")
    assert refused.code == 1
    assert "a state was created since the plan (serial 1)" in refused.err


def test_plan_file_holds_no_secret(tmp_path: Path, cli: Cli) -> None:
    root = write_spec(tmp_path / "spec")
    cli.ok("apply", "-f", root, "-auto-approve", "--no-probe")
    write_spec(root, region="us")
    planfile = tmp_path / "p.plan"
    cli.ok("plan", "-f", root, "-out", planfile)
    text = planfile.read_text()
    assert_no_canary(text, "the plan file")
    doc = json.loads(text)
    assert set(doc["secrets"]) == {"dev.openai.api_key[0]", "dev.anthropic.api_key[0]"}
    assert all(v.startswith("hmac-sha256:") for v in doc["secrets"].values())
    assert planfile.stat().st_mode & 0o777 == 0o600
    # File digests are keyed too: a plain SHA-256 of a file holding a key lets anyone with the
    # plan test guesses of the key offline.
    for path in (root / "out").iterdir():
        assert hashlib.sha256(path.read_bytes()).hexdigest() not in text, path
    assert_no_canary(cli.ok("show", planfile, "-json").out, "show -json")
