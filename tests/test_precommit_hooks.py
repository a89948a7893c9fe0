""".pre-commit-hooks.yaml: the manifest pre-commit reads, and each hook's entry run as
pre-commit runs it — the entry split like a shell word list, the hook's `args` after it, no
filenames — with `provision` on PATH as the hook's virtualenv would put it (here a shim running
this checkout with `sys.executable -m provision`)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from testkit import ROOT, provision_bin

HOOKS = ROOT / ".pre-commit-hooks.yaml"
EXAMPLE = ROOT / "examples" / "laptop-local-models"
TOKEN = "coder-session-CANARY-hooks-1234"


def hooks() -> dict[str, dict[str, Any]]:
    return {h["id"]: h for h in yaml.safe_load(HOOKS.read_text())}


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """PATH with a `provision` shim first, HOME in tmp_path, the example's token set."""
    bin_dir = provision_bin(tmp_path)
    (tmp_path / "home").mkdir()
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(ROOT),
            "HOME": str(tmp_path / "home"), "CODER_SESSION_TOKEN": TOKEN}  # fmt: skip


def run_hook(
    hook_id: str, args: list[str], env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    command = [*shlex.split(hooks()[hook_id]["entry"]), *args]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def test_manifest() -> None:
    found = hooks()
    assert set(found) == {"provision-validate", "provision-plan"}
    for hook in found.values():
        assert hook["language"] == "python"
        assert hook["pass_filenames"] is False
        assert "additional_dependencies" not in hook
        for name in ("provision.yaml", "spec/10-deployments.yml", "prod.json5", "a.json"):
            assert re.search(hook["files"], name), name
        assert not re.search(hook["files"], "README.md")
    assert shlex.split(found["provision-validate"]["entry"]) == ["provision", "validate"]
    assert "provision plan -detailed-exitcode" in found["provision-plan"]["entry"]


def test_manifest_satisfies_pre_commit() -> None:
    clientlib = pytest.importorskip("pre_commit.clientlib")
    loaded = clientlib.load_manifest(str(HOOKS))
    assert [h["id"] for h in loaded] == ["provision-validate", "provision-plan"]


def test_validate_hook(env: dict[str, str], tmp_path: Path) -> None:
    ok = run_hook("provision-validate", ["-f", str(EXAMPLE)], env)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "The spec is valid" in ok.stdout
    broken = tmp_path / "broken.yaml"
    broken.write_text("version: 1\ndeployments:\n  x:\n    providers: {openai: {api_key: 1}}\n")
    bad = run_hook("provision-validate", ["-f", str(broken)], env)
    assert bad.returncode == 1, bad.stdout + bad.stderr


def test_plan_hook_fails_on_drift_only(env: dict[str, str], tmp_path: Path) -> None:
    args = ["-f", str(EXAMPLE), "-state", str(tmp_path / "state.json")]
    drift = run_hook("provision-plan", args, env)
    assert drift.returncode == 2, drift.stdout + drift.stderr
    assert "provision-plan: drift" in drift.stderr
    assert "will be created" in drift.stdout

    apply = subprocess.run(
        [sys.executable, "-m", "provision", "apply", *args, "-auto-approve", "--no-probe"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert apply.returncode == 0, apply.stdout + apply.stderr
    clean = run_hook("provision-plan", args, env)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "drift" not in clean.stderr
    assert not (EXAMPLE / ".provision").exists()
