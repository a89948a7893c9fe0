"""examples/: every directory validates and plans, every README's "Try it" block runs verbatim,
and each example's promise holds end to end against bridge-sim.

Commands run as a newcomer's shell would run them: `provision` on PATH, from the repository
root, with HOME, TMPDIR, MUX_ROOT, -state and -var pointing into tmp_path, so nothing is written
into the repository (checked at the end of the module). The workspace-bootstrap test installs
this checkout with pip into a venv under the temporary HOME, as bootstrap.sh does in a
workspace.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import hcl2
import json5
import pytest
import yaml
from dotenv import dotenv_values

from provision.probe.bridgesim import BridgeSim

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
TOKEN = "sim-coder-token-6f1d2c3b4a59"  # long enough to be masked by value everywhere
GITOPS = EXAMPLES / "gitops-aibridge"
VAR_FILES = ["-var-file", "envs/prod.vars.yaml", "-var-file", "envs/staging.vars.yaml"]
DIRECT_KEYS = {
    "OPENAI_API_KEYS": "sk-proj-first-0a1b2c3d,sk-proj-second-4e5f6a7b",
    "ANTHROPIC_API_KEYS": "sk-ant-first-8c9d0e1f; sk-ant-second-2a3b4c5d",
    "GEMINI_API_KEYS": "gemini-first-6e7f8a9b",
    "XAI_API_KEYS": "xai-first-0c1d2e3f,xai-second-4a5b6c7d",
    "OPENROUTER_API_KEYS": "sk-or-v1-first-8e9f0a1b",
    "AWS_BEARER_TOKEN_BEDROCK": "bedrock-apikey-2c3d4e5f",
}
LOCAL = ("vllm-tuned", "ollama", "vllm", "lmstudio", "llama-cpp")
LOCAL_PORTS = {
    "vllm-tuned": 8001,
    "ollama": 11434,
    "vllm": 8000,
    "lmstudio": 1234,
    "llama-cpp": 8080,
}
# Variables of the user's own setup that would change what provision reads or writes.
_FOREIGN = re.compile(r"^(XUM_|MUX_|PROVISION_|CODER_|AWS_|XDG_|NO_COLOR$|PYTHONPATH$)|_API_KEYS?$")


# -- helpers ---------------------------------------------------------------------------------


def _snapshot() -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(EXAMPLES)): (p.stat().st_mtime_ns, p.stat().st_size)
        for p in EXAMPLES.rglob("*")
        if p.is_file()
    }


@pytest.fixture(scope="module", autouse=True)
def _repository_untouched() -> Iterator[None]:
    before = _snapshot()
    yield
    assert _snapshot() == before, "a test wrote into examples/"


@pytest.fixture(scope="module")
def sim() -> Iterator[str]:
    with BridgeSim(TOKEN) as s:
        yield s.url


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A clean environment: `provision` on PATH, HOME and TMPDIR in tmp_path."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "provision"
    # PYTHONPATH only here: bootstrap.sh's venv must run the copy pip installed, not ROOT's.
    wrapper.write_text(
        f'#!/bin/sh\nPYTHONPATH="{ROOT}" exec "{sys.executable}" -m provision "$@"\n'
    )
    wrapper.chmod(0o755)
    for name in ("home", "tmp"):
        (tmp_path / name).mkdir()
    base = {k: v for k, v in os.environ.items() if not _FOREIGN.search(k)}
    path = os.pathsep.join([str(bin_dir), str(Path(sys.executable).parent), base["PATH"]])
    return {
        **base,
        "PATH": path,
        "HOME": str(tmp_path / "home"),
        "TMPDIR": str(tmp_path / "tmp"),
        "SHELL": "/bin/bash",
    }


def provision(
    *args: str, env: dict[str, str], cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "provision", *args],
        cwd=cwd,
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )


def ok(proc: subprocess.CompletedProcess[str], code: int = 0) -> str:
    assert proc.returncode == code, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def bash(script: str, env: dict[str, str], cwd: Path, logs: Path, timeout: float = 60) -> str:
    """Run a script as GitHub Actions and a pasted README block do (bash -e), in its own process
    group so a background bridge-sim cannot outlive a failure; output goes to files, which a
    straggler cannot hold open."""
    logs.mkdir(exist_ok=True)
    out, err = logs / "stdout", logs / "stderr"
    with out.open("w") as stdout, err.open("w") as stderr:
        proc = subprocess.Popen(
            ["bash", "-e", "-o", "pipefail", "-c", script],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )
        try:
            code = proc.wait(timeout=timeout)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            proc.wait()
    text = out.read_text()
    assert code == 0, f"exit {code}\n{text}\n{err.read_text()}"
    return text


def try_it(example: str) -> str:
    """The README's "Try it" shell block."""
    readme = (EXAMPLES / example / "README.md").read_text()
    section = readme.split("\n## Try it\n", 1)[1]
    match = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert match, f"{example}/README.md has no sh block under ## Try it"
    return match.group(1)


def probe_rows(output: str) -> dict[str, str]:
    """Probe table lines by address."""
    rows = {}
    for line in output.splitlines():
        fields = line.split()
        if len(fields) > 2 and "." in fields[0] and fields[1].startswith("http"):
            rows[fields[0]] = line
    return rows


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def unquote(value: str) -> str:
    return value[1:-1] if value.startswith('"') and value.endswith('"') else value


def coder_envs(tf: dict[str, Any]) -> dict[str, str]:
    """python-hcl2's view of a file's coder_env resources: NAME -> value expression."""
    found = {}
    for block in tf.get("resource", []):
        for kind, resources in block.items():
            if unquote(kind) == "coder_env":
                for body in resources.values():
                    found[unquote(body["name"])] = unquote(body["value"])
    return found


def copy_example(name: str, tmp_path: Path) -> Path:
    dest = tmp_path / name
    shutil.copytree(EXAMPLES / name, dest, ignore=shutil.ignore_patterns("out", ".provision"))
    return dest


# -- every example ---------------------------------------------------------------------------

PLANS = {
    "gitops-aibridge": (
        [
            "-f",
            "examples/gitops-aibridge/spec",
            "-var-file",
            "examples/gitops-aibridge/envs/prod.vars.yaml",
            "-var-file",
            "examples/gitops-aibridge/envs/staging.vars.yaml",
        ],
        {"CODER_SESSION_TOKEN": TOKEN, "CODER_STAGING_SESSION_TOKEN": TOKEN},
    ),
    "workspace-bootstrap": (["-f", "examples/workspace-bootstrap"], {"CODER_SESSION_TOKEN": TOKEN}),
    "laptop-local-models": (["-f", "examples/laptop-local-models"], {"CODER_SESSION_TOKEN": TOKEN}),
    "multi-provider-direct": (["-f", "examples/multi-provider-direct"], DIRECT_KEYS),
}


def test_every_example_is_listed() -> None:
    dirs = {p.name for p in EXAMPLES.iterdir() if p.is_dir()}
    assert dirs == set(PLANS)
    for name in dirs:
        assert (EXAMPLES / name / "README.md").is_file()


@pytest.mark.parametrize("example", sorted(PLANS))
def test_validate_and_plan(example: str, env: dict[str, str], tmp_path: Path) -> None:
    """validate needs no flags and no credentials; plan reads the credentials, shows changes
    (exit 2), prints no secret and writes nothing."""
    args, secrets = PLANS[example]
    assert "Success! The spec is valid." in ok(provision("validate", *args[:2], env=env))
    assert "Success! The spec is valid." in ok(provision("validate", *args, env=env))
    state = tmp_path / "state.json"
    extra = ["-var", f"out_dir={tmp_path}/out"] if example == "gitops-aibridge" else []
    run_env = {**env, **secrets, "MUX_ROOT": str(tmp_path / "mux")}
    out = ok(
        provision("plan", "-detailed-exitcode", *args, *extra, "-state", str(state), env=run_env), 2
    )
    assert re.search(r"^Plan: \d+ to add, 0 to change, 0 to destroy\.$", out, re.MULTILINE)
    for value in secrets.values():
        for key in re.split("[,;]", value):
            assert key.strip() not in out
    assert not state.exists()
    assert not (tmp_path / "mux").exists()
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "example", ["gitops-aibridge", "laptop-local-models", "multi-provider-direct"]
)
def test_readme_try_it_block_runs(example: str, env: dict[str, str], tmp_path: Path) -> None:
    """Pasted from the README into bash, it works and ends as the README says."""
    out = bash(try_it(example), env, ROOT, tmp_path / "logs")
    assert "Apply complete!" in out
    if example == "gitops-aibridge":
        listed = {
            line.split("/out/", 1)[1]
            for line in out.splitlines()
            if "/out/" in line and line.startswith("/")
        }
        assert listed == {
            "prod/providers.jsonc",
            "prod/aibridge.tf",
            "prod/aibridge.sh",
            "staging/providers.jsonc",
            "staging/keys/anthropic.key",
            "staging/aibridge.tf",
        }
        assert out.count("No changes. Your files match the spec.") == 1
    if example == "laptop-local-models":
        rows = probe_rows(out)
        assert " ok " in rows["laptop.anthropic"]
        assert all("(not required)" in rows[f"laptop.{p}"] for p in LOCAL)
    if example == "multi-provider-direct":
        assert '"apiKey"' not in out and "region" in out


# -- gitops-aibridge -------------------------------------------------------------------------


def _workflow() -> dict[str, Any]:
    doc = yaml.safe_load((GITOPS / ".github/workflows/provision.yml").read_text())
    assert isinstance(doc, dict)
    return doc


def _steps(job: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {step.get("name", step.get("uses", "")): step for step in job["steps"]}


def test_gitops_workflow_structure() -> None:
    doc = _workflow()
    triggers = doc.get("on", doc.get(True))  # YAML 1.1 reads a bare `on` key as true
    assert set(triggers) == {"pull_request", "push"}
    assert triggers["push"]["branches"] == ["main"]
    plan, apply = doc["jobs"]["plan"], doc["jobs"]["apply"]
    assert plan["if"] == "github.event_name == 'pull_request'"
    assert "refs/heads/main" in apply["if"] and "push" in apply["if"]
    for job in (plan, apply):
        assert job["runs-on"] == "ubuntu-latest"
        for step in job["steps"]:
            assert "run" in step or re.fullmatch(r"actions/[a-z-]+@v\d+", step["uses"])
    steps = _steps(plan)
    assert steps["Validate"]["run"] == "provision validate -f spec " + " ".join(VAR_FILES)
    plan_run = steps["Plan"]["run"]
    assert "provision plan -detailed-exitcode -json -f spec" in plan_run
    assert "> plan.json || code=$?" in plan_run and "2) " in plan_run
    upload = steps["Upload plan"]
    assert upload["uses"].startswith("actions/upload-artifact@")
    assert upload["with"]["path"] == "plan.json"
    assert _steps(apply)["Apply"]["run"].startswith("provision apply -auto-approve ")
    assert doc["env"]["CODER_SESSION_TOKEN"] == "${{ secrets.PROD_CODER_SESSION_TOKEN }}"


def test_gitops_workflow_valid_for_github(
    gha_workflow: Callable[[Path], dict[str, list[str]]],
) -> None:
    """GitHub's own parser reads the workflow with no error."""
    workflow = GITOPS / ".github/workflows/provision.yml"
    assert gha_workflow(workflow) == {"errors": [], "jobs": ["plan", "apply"]}


@pytest.mark.parametrize(
    ("before", "after", "error"),
    [
        ("    runs-on: ubuntu-latest", "    runs_on: ubuntu-latest", "Unexpected value 'runs_on'"),
        ("github.event_name == 'pull_request'", "github.event_name ==",
         "Unexpected end of expression"),
        ("cancel-in-progress: false", "cancel-in-progress: maybe", "Unexpected value 'maybe'"),
    ],
    ids=["key", "expression", "type"],
)
def test_gitops_workflow_checker_sees_errors(
    gha_workflow: Callable[[Path], dict[str, list[str]]], tmp_path: Path,
    before: str, after: str, error: str,
) -> None:
    """The check above can fail: a copy broken in one place gets GitHub's error for it."""
    text = (GITOPS / ".github/workflows/provision.yml").read_text()
    assert before in text
    broken = tmp_path / "provision.yml"
    broken.write_text(text.replace(before, after, 1))
    errors = gha_workflow(broken)["errors"]
    assert any(error in e for e in errors), errors


def test_gitops_pre_commit_config() -> None:
    doc = yaml.safe_load((GITOPS / ".pre-commit-config.yaml").read_text())
    (repo,) = doc["repos"]
    assert repo["repo"] == "https://github.com/your-org/provision"
    assert re.fullmatch(r"v\d+\.\d+\.\d+", repo["rev"])
    hooks = {hook["id"]: hook for hook in repo["hooks"]}
    assert set(hooks) == {"provision-validate", "provision-plan"}
    for hook in hooks.values():
        assert hook["args"] == ["-f", "spec", *VAR_FILES]
    defined = ROOT / ".pre-commit-hooks.yaml"
    if defined.is_file():  # the hook definitions this repository publishes
        ids = {hook["id"] for hook in yaml.safe_load(defined.read_text())}
        assert set(hooks) <= ids
    if shutil.which("pre-commit"):
        subprocess.run(
            ["pre-commit", "validate-config", ".pre-commit-config.yaml"],
            cwd=GITOPS,
            check=True,
            capture_output=True,
            timeout=60,
        )


def test_gitops_ci_commands_against_bridge_sim(
    sim: str, env: dict[str, str], tmp_path: Path
) -> None:
    """The workflow's own run steps, verbatim, in a copy of the repository whose var files point
    at bridge-sim: plan on a pull request, apply on main, then the pre-commit hooks."""
    repo = copy_example("gitops-aibridge", tmp_path)
    for name in ("prod", "staging"):
        path = repo / "envs" / f"{name}.vars.yaml"
        values = yaml.safe_load(path.read_text())
        values[f"{name}_coder_url"] = sim
        path.write_text(yaml.safe_dump(values))
    doc = _workflow()
    outputs = tmp_path / "github_output"
    ci_env = {
        **env,
        **{k: v for k, v in doc["env"].items() if "secrets." not in v},
        "CODER_SESSION_TOKEN": TOKEN,
        "CODER_STAGING_SESSION_TOKEN": TOKEN,
        "GITHUB_OUTPUT": str(outputs),
    }
    plan_steps, apply_steps = (_steps(doc["jobs"][job]) for job in ("plan", "apply"))

    logs = tmp_path / "logs"
    bash(plan_steps["Validate"]["run"], ci_env, repo, logs)
    bash(plan_steps["Plan"]["run"], ci_env, repo, logs)
    assert outputs.read_text() == "changes=true\n"
    planned = json.loads((repo / "plan.json").read_text())
    assert planned["changes_present"] is True
    assert {c["change"]["actions"][0] for c in planned["resource_changes"]} == {"create"}
    assert TOKEN not in (repo / "plan.json").read_text()

    applied = bash(apply_steps["Apply"]["run"], ci_env, repo, logs)
    assert "Apply complete! Resources: 6 added" in applied
    out = repo / "out"
    prod = json5.loads((out / "prod/providers.jsonc").read_text())
    assert prod == {
        "openai": {
            "baseUrl": f"{sim}/api/v2/aibridge/openai/v1",
            "models": ["gpt-5", "gpt-5-codex"],
        },
        "anthropic": {
            "baseUrl": f"{sim}/api/v2/aibridge/anthropic",
            "models": ["claude-sonnet-4-5", "claude-opus-4-1"],
        },
    }
    staging = json5.loads((out / "staging/providers.jsonc").read_text())["anthropic"]
    assert staging["models"] == ["claude-sonnet-4-5", "claude-haiku-4-5"]  # from the var file
    assert staging["modelParameters"] == {"*": {"max_output_tokens": 16384}}
    key = Path(staging["apiKeyFile"])
    assert key.read_text().strip() == TOKEN and mode(key) == 0o600
    for deployment, names in (("prod", {"OPENAI", "ANTHROPIC"}), ("staging", {"ANTHROPIC"})):
        tf = coder_envs(hcl2.loads((out / deployment / "aibridge.tf").read_text()))
        assert set(tf) == {f"{n}_{s}" for n in names for s in ("API_KEY", "BASE_URL")}
        assert tf["ANTHROPIC_API_KEY"] == "${data.coder_workspace_owner.me.session_token}"
    shown = subprocess.run(
        [
            "bash",
            "-c",
            '. "$1"; printf "%s|%s" "$OPENAI_BASE_URL" "$OPENAI_API_KEY"',
            "-",
            str(out / "prod/aibridge.sh"),
        ],
        env=ci_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert shown == f"{sim}/api/v2/aibridge/openai/v1|{TOKEN}"
    assert TOKEN not in (out / "prod/aibridge.sh").read_text()

    outputs.unlink()
    bash(plan_steps["Plan"]["run"], ci_env, repo, logs)
    assert outputs.read_text() == "changes=false\n"

    hooks = {
        h["id"]: h["args"]
        for h in yaml.safe_load((repo / ".pre-commit-config.yaml").read_text())["repos"][0]["hooks"]
    }
    entries = {
        "provision-validate": "provision validate",
        "provision-plan": "provision plan -detailed-exitcode",
    }
    defined = ROOT / ".pre-commit-hooks.yaml"
    if defined.is_file():
        entries.update(
            {h["id"]: h["entry"] for h in yaml.safe_load(defined.read_text()) if h["id"] in entries}
        )
    for hook_id, args in hooks.items():
        bash(" ".join([entries[hook_id], *map(shlex.quote, args)]), ci_env, repo, logs)


# -- laptop-local-models ---------------------------------------------------------------------


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def test_laptop_local_models(
    sim: str, env: dict[str, str], tmp_path: Path, jsonc_parse: Callable[[str], Any]
) -> None:
    mux_root = tmp_path / "mux"
    mux_root.mkdir()
    providers = mux_root / "providers.jsonc"
    providers.write_text('{\n  // from Mux\'s settings\n  "deepseek": {"apiKey": "sk-ds-u"},\n}\n')
    run_env = {**env, "MUX_ROOT": str(mux_root), "CODER_SESSION_TOKEN": TOKEN}
    args = (
        "-f",
        "examples/laptop-local-models",
        "-var",
        f"coder_url={sim}",
        "-state",
        str(tmp_path / "state.json"),
    )

    out = ok(provision("apply", "-auto-approve", *args, env=run_env))
    rows = probe_rows(out)
    assert re.search(r"\sok\s+200\s", rows["laptop.anthropic"])
    assert re.search(r"\sok\s+200\s", rows["laptop.coder"])
    for provider in LOCAL:
        row = rows[f"laptop.{provider}"]
        assert row.endswith("(not required)")
        if _port_free(LOCAL_PORTS[provider]):
            assert " unreachable " in row

    config = jsonc_parse(providers.read_text())
    assert config["deepseek"] == {"apiKey": "sk-ds-u"}  # the user's own entry is kept
    assert set(config) == {"deepseek", "anthropic", *LOCAL}
    assert config["anthropic"] == {
        "apiKey": TOKEN,
        "baseUrl": f"{sim}/api/v2/aibridge/anthropic",
        "models": ["claude-sonnet-4-5", "claude-haiku-4-5"],
        "modelParameters": {
            "claude-sonnet-4-5": {"max_output_tokens": 16384},
            "*": {"max_output_tokens": 8192, "temperature": 1},
        },
    }
    assert config["ollama"] == {
        "baseUrl": "http://localhost:11434/api",
        "models": ["qwen3-coder:30b", "gpt-oss:20b"],
    }
    for provider, port in (
        ("vllm", 8000),
        ("lmstudio", 1234),
        ("llama-cpp", 8080),
        ("vllm-tuned", 8001),
    ):
        assert config[provider]["providerType"] == "openai-compatible"
        assert config[provider]["baseUrl"] == f"http://localhost:{port}/v1"
    assert config["vllm-tuned"]["models"] == [
        {"id": "qwen3-coder-tuned", "contextWindowTokens": 262144}
    ]
    assert config["vllm-tuned"]["modelParameters"] == {
        "*": {"temperature": 0.2, "top_p": 0.9, "top_k": 20}
    }
    assert mode(providers) == 0o600  # it holds the Coder token
    ok(provision("plan", "-detailed-exitcode", *args, env=run_env))


# -- multi-provider-direct -------------------------------------------------------------------


def test_multi_provider_direct(
    env: dict[str, str], tmp_path: Path, jsonc_parse: Callable[[str], Any]
) -> None:
    run_env = {**env, **DIRECT_KEYS, "MUX_ROOT": str(tmp_path / "mux")}
    dotenv = tmp_path / "llm.env"
    args = (
        "-f",
        "examples/multi-provider-direct",
        "-var",
        f"dotenv_path={dotenv}",
        "-state",
        str(tmp_path / "state.json"),
    )
    firsts = {name: re.split("[,;]", value)[0].strip() for name, value in DIRECT_KEYS.items()}

    # The probe list shows Bedrock's base URL with the region filled in, not the placeholder.
    planned = json.loads(ok(provision("plan", "-json", *args, env=run_env), 0))
    urls = {p["address"]: p["url"] for p in planned["probes"]}
    assert urls["direct.bedrock"] == "https://bedrock-runtime.us-east-1.amazonaws.com"
    assert not any("{" in url for url in urls.values()), urls

    ok(provision("apply", "-auto-approve", "--no-probe", *args, env=run_env))
    text = (tmp_path / "mux/providers.jsonc").read_text()
    config = jsonc_parse(text)
    assert set(config) == {"openai", "anthropic", "google", "xai", "openrouter", "bedrock"}
    assert not any(key in text for v in DIRECT_KEYS.values() for key in re.split("[,;]", v))
    assert "apiKey" not in {k for entry in config.values() for k in entry}
    for provider, variable in (
        ("openai", "OPENAI_API_KEYS"),
        ("anthropic", "ANTHROPIC_API_KEYS"),
        ("google", "GEMINI_API_KEYS"),
        ("xai", "XAI_API_KEYS"),
        ("openrouter", "OPENROUTER_API_KEYS"),
    ):
        key = Path(config[provider]["apiKeyFile"])
        assert key.read_text().strip() == firsts[variable]  # the first of the rotation list
        assert mode(key) == 0o600
    router = config["openrouter"]
    assert "routing" not in router
    assert router["order"] == ["anthropic", "amazon-bedrock", "google-vertex"]
    assert (router["allow_fallbacks"], router["data_collection"]) == (True, "deny")
    assert (router["ignore"], router["sort"]) == (["deepinfra"], "throughput")
    assert config["xai"]["searchParameters"] == {
        "mode": "auto",
        "returnCitations": True,
        "maxSearchResults": 10,
        "sources": [{"type": "web", "safeSearch": True}, {"type": "x"}],
    }
    assert config["bedrock"] == {"region": "us-east-1"}
    assert config["anthropic"]["cacheTtl"] == "1h"

    values = dotenv_values(dotenv)
    assert values["OPENAI_API_KEY"] == firsts["OPENAI_API_KEYS"]
    assert values["ANTHROPIC_API_KEY"] == firsts["ANTHROPIC_API_KEYS"]
    assert values["GOOGLE_GENERATIVE_AI_API_KEY"] == firsts["GEMINI_API_KEYS"]
    assert values["XAI_API_KEY"] == firsts["XAI_API_KEYS"]
    assert values["OPENROUTER_API_KEY"] == firsts["OPENROUTER_API_KEYS"]
    assert values["AWS_REGION"] == "us-east-1"
    assert values["AWS_BEARER_TOKEN_BEDROCK"] == DIRECT_KEYS["AWS_BEARER_TOKEN_BEDROCK"]
    assert mode(dotenv) == 0o600
    ok(provision("plan", "-detailed-exitcode", *args, env=run_env))


# -- workspace-bootstrap ---------------------------------------------------------------------


def test_workspace_bootstrap_template_fragment() -> None:
    tf = hcl2.loads((EXAMPLES / "workspace-bootstrap/coder.tf").read_text())
    assert coder_envs(tf) == {
        "CODER_SESSION_TOKEN": "${data.coder_workspace_owner.me.session_token}",
        "CODER_URL": "${data.coder_workspace.me.access_url}",
    }
    (script,) = [
        body
        for block in tf["resource"]
        for kind, resources in block.items()
        if unquote(kind) == "coder_script"
        for body in resources.values()
    ]
    assert script["run_on_start"] is True
    assert "bootstrap.sh" in script["script"] and "provision.yaml" in script["script"]


def test_workspace_bootstrap(env: dict[str, str], tmp_path: Path) -> None:
    """The README's block: bootstrap.sh twice (a start and a restart) with a temporary HOME and
    bridge-sim as the deployment, then a new bash that sources ~/.bashrc."""
    out = bash(try_it("workspace-bootstrap"), env, ROOT, tmp_path / "logs", timeout=240)
    first, _, rest = out.partition("provision-bootstrap: provision already installed")
    assert "provision-bootstrap: installing provision from " in first
    assert "Apply complete! Resources: 3 added, 0 changed, 0 destroyed." in first
    assert "provision-bootstrap: added provision env to " in first
    assert "No changes. Your files match the spec." in rest
    assert "Apply complete!" not in rest and "added provision env" not in rest
    url = re.search(
        r"^OPENAI_BASE_URL=(http://127\.0\.0\.1:\d+)/api/v2/aibridge/openai/v1$", rest, re.MULTILINE
    )
    assert url, out

    (work,) = (tmp_path / "tmp").glob("tmp.*")
    home = work / "home"
    bashrc = (home / ".bashrc").read_text()
    assert bashrc.count("env -d workspace --shell bash") == 1
    config = json5.loads((home / ".mux/providers.jsonc").read_text())
    assert config["openai"]["baseUrl"] == f"{url.group(1)}/api/v2/aibridge/openai/v1"
    assert config["anthropic"]["baseUrl"] == f"{url.group(1)}/api/v2/aibridge/anthropic"
    assert "apiKey" not in config["openai"]
    key = Path(config["openai"]["apiKeyFile"])
    assert key.is_relative_to(home / ".config/provision/keys") and mode(key) == 0o600
    token = key.read_text().strip()
    assert token.startswith("try-")
    shown = subprocess.run(
        [
            "bash",
            "-c",
            '. "$HOME/.bashrc"; printf "%s|%s|%s" "$OPENAI_API_KEY" '
            '"$ANTHROPIC_API_KEY" "$ANTHROPIC_BASE_URL"',
        ],
        env={**env, "HOME": str(home), "CODER_SESSION_TOKEN": token},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert shown == f"{token}|{token}|{url.group(1)}/api/v2/aibridge/anthropic"
    if shutil.which("zsh"):
        zsh = subprocess.run(
            ["zsh", "-c", '. "$HOME/.zshrc"; print -r -- "$OPENAI_BASE_URL"'],
            env={**env, "HOME": str(home), "CODER_SESSION_TOKEN": token},
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        assert zsh.strip() == f"{url.group(1)}/api/v2/aibridge/openai/v1"
