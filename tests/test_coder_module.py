"""modules/coder-provision: the Terraform parses, declares what the README documents, and the
script it renders installs provision and applies a spec against bridge-sim, twice.

The script is rendered here the way Terraform's templatefile() renders run.sh.tftpl: each
`${NAME}` becomes the value main.tf passes for NAME, and `$${` becomes a literal `${` (the last
`$` before the brace pairs with it, so `$$${` reads as `$${`). The template uses nothing else —
no `%{` directives, no expressions — and render() fails on anything else, so a template that
grows beyond that cannot be tested wrongly here.
"""

from __future__ import annotations

import base64
import os
import re
import stat
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import hcl2
import pytest
from testkit import ROOT, need

from provision.probe.bridgesim import BridgeSim

MODULE = ROOT / "modules" / "coder-provision"
TEMPLATE = MODULE / "run.sh.tftpl"
TOKEN = "coder-session-CANARY-7a6b5c4d3e2f"
INSTALL_TIMEOUT = 600  # a virtualenv and `pip install` of this checkout, once per session
RUN_TIMEOUT = 120
STRING_INPUTS = ("spec_path", "deployment", "install_source", "provision_version", "python",
                 "install_prefix", "log_path")  # fmt: skip
INPUTS = {"agent_id", "spec", "aibridge", "coder_login", "run_on_start", "cron", "plan_app",
          "order", "group", *STRING_INPUTS}  # fmt: skip
SPEC = """\
version: 1
deployments:
  workspace:
    coder:
      url: ${env.CODER_URL}
      token: {env: CODER_SESSION_TOKEN}
    use:
      - module: coder-aibridge
        with:
          openai_models: [gpt-5]
          anthropic_models: [claude-sonnet-4-5]
targets:
  mux:
    type: mux_providers
    deployment: workspace
    secrets: env
"""
_PIECE = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$\{|%\{")


def render(template: str, values: Mapping[str, str]) -> str:
    """templatefile() for the subset described in the module docstring."""
    out: list[str] = []
    pos = 0
    for m in _PIECE.finditer(template):
        out.append(template[pos : m.start()])
        pos = m.end()
        if m.group(0) == "$${":
            out.append("${")
        elif m.group(1) is not None:
            out.append(values[m.group(1)])
        else:
            line = template.count("\n", 0, m.start()) + 1
            raise AssertionError(f"run.sh.tftpl:{line}: {m.group(0)!r} is beyond plain ${{NAME}}")
    out.append(template[pos:])
    return "".join(out)


def template_names() -> set[str]:
    return {m.group(1) for m in _PIECE.finditer(TEMPLATE.read_text()) if m.group(1)}


def unquote(value: Any) -> Any:
    """python-hcl2 keeps a string's quotes and a block label's quotes."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def blocks(doc: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    """`variable "x" {…}` → {"x": {…}}; `resource "t" "n" {…}` → {"t.n": {…}}."""
    found: dict[str, dict[str, Any]] = {}
    for entry in doc.get(kind, []):
        for label, body in entry.items():
            if kind in ("resource", "data"):
                for name, inner in body.items():
                    found[f"{unquote(label)}.{unquote(name)}"] = inner
            else:
                found[unquote(label)] = body
    return found


@pytest.fixture(scope="module")
def tf() -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for path in sorted(MODULE.glob("*.tf")):
        with path.open() as f:
            for kind, items in hcl2.load(f).items():
                merged.setdefault(kind, []).extend(items)
    return merged


def test_every_tf_file_parses(tf: dict[str, Any]) -> None:
    assert list(MODULE.glob("*.tf")) == [MODULE / "main.tf"]
    coder = tf["terraform"][0]["required_providers"][0]["coder"]
    assert unquote(coder["source"]) == "coder/coder"
    assert unquote(coder["version"]) == ">= 2.5"


def test_variables_are_documented_and_validated(tf: dict[str, Any]) -> None:
    variables = blocks(tf, "variable")
    assert set(variables) == INPUTS
    for name, body in variables.items():
        assert unquote(body.get("description", "")), f"variable {name} has no description"
    assert "default" not in variables["agent_id"]
    for name in STRING_INPUTS:
        assert variables[name].get("validation"), f"variable {name} has no validation"
    # On PyPI the name "provision" is another project: the source must be given.
    assert "default" not in variables["install_source"]
    assert variables["aibridge"]["default"] is True
    assert variables["run_on_start"]["default"] is True
    assert variables["spec"]["sensitive"] is True


def test_resources(tf: dict[str, Any]) -> None:
    resources = blocks(tf, "resource")
    assert set(blocks(tf, "data")) == {"coder_workspace.me", "coder_workspace_owner.me"}
    script = resources["coder_script.provision"]
    assert script["agent_id"] == "${var.agent_id}"
    assert script["run_on_start"] == "${var.run_on_start}"
    assert "run.sh.tftpl" in script["script"]
    passed = set(re.findall(r"\b([A-Z][A-Z0-9_]*)\s*[=:]", script["script"]))
    assert passed == template_names()
    assert "session_token" not in script["script"], "a token in the script lands on disk"

    env = {unquote(r["name"]): r for a, r in resources.items() if a.startswith("coder_env.")}
    owner_token = "${data.coder_workspace_owner.me.session_token}"
    bridge = "${local.access_url}/api/v2/aibridge"
    assert unquote(env["OPENAI_BASE_URL"]["value"]) == f"{bridge}/openai/v1"
    assert unquote(env["ANTHROPIC_BASE_URL"]["value"]) == f"{bridge}/anthropic"
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "CODER_SESSION_TOKEN"):
        assert env[name]["value"] == owner_token
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY"):
        assert env[name]["count"] == "${var.aibridge ? 1 : 0}"
        assert env[name]["agent_id"] == "${var.agent_id}"
    app = resources["coder_app.provision_plan"]
    assert (app["order"], app["group"]) == ("${var.order}", "${var.group}")
    access_url = tf["locals"][0]["access_url"]
    assert "data.coder_workspace.me.access_url" in access_url


def test_readme_documents_every_input_and_its_usage_blocks_parse(tf: dict[str, Any]) -> None:
    readme = (MODULE / "README.md").read_text()
    table = set(re.findall(r"^\| `([a-z_]+)` \|", readme, re.MULTILINE))
    assert table == INPUTS
    usages = re.findall(r"```tf\n(.*?)```", readme, re.DOTALL)
    modules: dict[str, Any] = {}
    for usage in usages:
        modules.update(blocks(hcl2.loads(usage), "module"))
    assert unquote(modules["mux"]["source"]) == "registry.coder.com/coder/mux/coder"
    assert unquote(modules["mux"]["version"])
    assert unquote(modules["provision"]["source"]) == "./modules/coder-provision"


def test_terraform_fmt() -> None:
    terraform = need("terraform", optional=True)
    proc = subprocess.run([terraform, "fmt", "-check", "-diff", str(MODULE)],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_terraform_enforces_the_validations(tmp_path: Path) -> None:
    """The variable blocks alone (no provider to download), planned by Terraform itself."""
    terraform = need("terraform", optional=True)
    text = (MODULE / "main.tf").read_text()
    variables = re.findall(r'^variable "[^"]+" \{\n.*?^\}\n', text, re.DOTALL | re.MULTILINE)
    assert len(variables) == len(INPUTS)
    (tmp_path / "main.tf").write_text("\n".join(variables))
    env = {**os.environ, "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"}

    def tf_run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([terraform, *args, "-input=false", "-no-color"], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=120)  # fmt: skip

    assert tf_run("init").returncode == 0
    required = ("-var", "agent_id=a", "-var", "install_source=/src/provision")
    good = tf_run("plan", *required, "-var", "deployment=prod-1",
                  "-var", "provision_version=0.1.0", "-var", "install_prefix=~/p")  # fmt: skip
    assert good.returncode == 0, good.stderr
    refused = {"deployment": "a.b", "provision_version": "latest", "install_prefix": "it's",
               "python": "", "log_path": "a\nb", "install_source": ""}  # fmt: skip
    for var, value in refused.items():
        bad = tf_run("plan", *required, "-var", f"{var}={value}")
        assert bad.returncode == 1, f"{var}={value!r} was accepted"
        assert f"var.{var}" in bad.stderr
    missing = tf_run("plan", "-var", "agent_id=a")
    assert missing.returncode == 1 and "No value for required variable" in missing.stderr
    assert 'variable "install_source"' in missing.stderr


def test_render_rejects_what_terraform_would_read_differently() -> None:
    assert render("a $${x} ${A} $$${B}", {"A": "1"}) == "a ${x} 1 $${B}"
    for text in ("%{ if x }", "${var.x}", "${A }"):
        with pytest.raises(AssertionError):
            render(text, {"A": "1"})


# ── the rendered script, run ─────────────────────────────────────────────────────────────────


@pytest.fixture(scope="session")
def install_prefix(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Shared by the runs below, so the virtualenv is built once per session."""
    return tmp_path_factory.mktemp("coder-provision") / "prefix"


@pytest.fixture
def sim() -> Iterator[BridgeSim]:
    with BridgeSim(TOKEN) as s:
        yield s


def script(sim: BridgeSim, prefix: Path, home: Path, **values: str) -> str:
    return render(TEMPLATE.read_text(), {
        "ACCESS_URL": sim.url, "SPEC_B64": "", "SPEC_PATH": "", "DEPLOYMENT": "",
        "PIP_SPEC": str(ROOT), "PYTHON": sys.executable, "INSTALL_PREFIX": str(prefix),
        "LOG_PATH": str(home / "logs" / "provision.log"), **values,
    })  # fmt: skip


def run(text: str, home: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    """As the agent runs a coder_script: bash, the owner's HOME, the coder_env variables."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CODER_", "MUX_", "XUM_", "OPENAI_", "ANTHROPIC_"))}  # fmt: skip
    env.update(HOME=str(home), CODER_SESSION_TOKEN=TOKEN, CODER_SCRIPT_BIN_DIR=str(home / "bin"))
    (home / "bin").mkdir(exist_ok=True)
    return subprocess.run(["bash", "-c", text], env=env, cwd=home, capture_output=True,
                          text=True, timeout=timeout)  # fmt: skip


def files_under(*roots: Path, skip: Path) -> Iterator[Path]:
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file() and not path.is_symlink() and skip not in path.parents:
                yield path


def test_script_installs_applies_and_is_idempotent(
    sim: BridgeSim, install_prefix: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / ".zshrc").touch()  # zsh users get the variables too
    text = script(sim, install_prefix, home, DEPLOYMENT="workspace",
                  SPEC_B64=base64.b64encode(SPEC.encode()).decode())  # fmt: skip
    assert TOKEN not in text

    first = run(text, home, INSTALL_TIMEOUT)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Apply complete!" in first.stdout
    providers = home / ".mux" / "providers.jsonc"
    written = providers.read_text()
    assert f"{sim.url}/api/v2/aibridge/openai/v1" in written
    assert f"{sim.url}/api/v2/aibridge/anthropic" in written
    assert any(s.path.startswith("/api/v2/aibridge/") and s.auth and s.status == 200
               for s in sim.requests), "apply did not probe the bridge"  # fmt: skip
    assert (home / "bin" / "provision").resolve() == (install_prefix / "venv/bin/provision")

    second = run(text, home, RUN_TIMEOUT)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "No changes." in second.stdout
    assert "Installing" not in second.stdout
    assert "Wrote the spec" not in second.stdout
    assert "Added provider variables" not in second.stdout
    assert providers.read_text() == written

    log = home / "logs" / "provision.log"
    assert "No changes." in log.read_text()
    for path in (log, install_prefix / "spec" / "provision.yaml", install_prefix / "env.sh"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for path in files_under(home, install_prefix, skip=install_prefix / "venv"):
        assert TOKEN.encode() not in path.read_bytes(), f"the token was written to {path}"

    # Each shell gets its own syntax, whatever $SHELL says (here fish, which both would choke on).
    for sh, rc in ((need("bash"), ".bashrc"), (need("zsh"), ".zshrc")):
        shell = subprocess.run(
            [sh, "-c", f'. "$HOME/{rc}"; printf "%s|%s" "$OPENAI_BASE_URL" "$OPENAI_API_KEY"'],
            env={"PATH": os.environ["PATH"], "HOME": str(home), "CODER_URL": sim.url,
                 "CODER_SESSION_TOKEN": TOKEN, "SHELL": "/usr/bin/fish"},
            capture_output=True, text=True, timeout=RUN_TIMEOUT,
        )  # fmt: skip
        assert shell.stdout == f"{sim.url}/api/v2/aibridge/openai/v1|{TOKEN}", shell.stderr
        assert shell.stderr == "", shell.stderr
        assert (home / rc).read_text().count("# coder-provision\n") == 1


def test_script_applies_a_spec_path_in_place(
    sim: BridgeSim, install_prefix: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    (home / "repo").mkdir(parents=True)
    (home / "repo" / "provision.yaml").write_text(SPEC)
    text = script(sim, install_prefix, home, SPEC_PATH="~/repo")
    proc = run(text, home, INSTALL_TIMEOUT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Apply complete!" in proc.stdout
    assert (home / "repo" / ".provision" / "state.json").is_file()
    assert (home / ".mux" / "providers.jsonc").is_file()


def test_script_fails_when_a_required_probe_fails(install_prefix: Path, tmp_path: Path) -> None:
    """A token the deployment rejects: apply stops before writing, and the script fails."""
    home = tmp_path / "home"
    home.mkdir()
    with BridgeSim("another-token") as other:
        text = script(other, install_prefix, home,
                      SPEC_B64=base64.b64encode(SPEC.encode()).decode())  # fmt: skip
        proc = run(text, home, INSTALL_TIMEOUT)
    assert proc.returncode != 0, proc.stdout
    assert not (home / ".mux" / "providers.jsonc").exists()
