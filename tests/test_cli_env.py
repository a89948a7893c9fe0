"""`provision env -d DEPLOYMENT`: export lines that real shells eval, and the secret rules.

Without --reveal a secret read from an environment variable is printed as a reference to it;
any other secret is printed only when stdout is not a terminal (the eval case) and refused on a
terminal. The shells run `provision` from PATH, as a bootstrap script would.
"""

from __future__ import annotations

import io
import os
import pty
import select
import shutil
import subprocess
import textwrap
import time
from pathlib import Path

import pytest
from dotenv import dotenv_values
from testkit import need, provision_bin

from provision.cli import main
from provision.cli.env import REFUSAL, default_shell

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "coder-token-0123abcd"
XAI_KEY = "xai-key-4567efgh"
GROQ_KEY = "gsk-file-89ijklmn"
SPEC = """\
version: 1
variables:
  coder_url: {default: "https://coder.example.com"}
deployments:
  prod:
    coder: {url: "${var.coder_url}", token: {env: CODER_SESSION_TOKEN}}
    providers:
      openai: {via: aibridge}
      anthropic: {via: aibridge}
      xai: {api_key: {env: XAI_KEY}}
      groq: {api_key: {file: groq.key}}
      google: {api_key: {env: XAI_KEY}, enabled: false}
      ollama: {}
  bridged:
    coder: {url: "https://coder.example.com", token: {env: CODER_SESSION_TOKEN}}
    providers:
      openai: {via: aibridge}
      anthropic: {via: aibridge}
  clash:
    coder: {url: "https://coder.example.com", token: {env: CODER_SESSION_TOKEN}}
    providers:
      openai: {via: aibridge}
      openai-eu: {catalog: openai, via: aibridge, aibridge_instance: openai-eu}
  local:
    providers:
      ollama: {}
"""
OPENAI_URL = "https://coder.example.com/api/v2/aibridge/openai/v1"


@pytest.fixture
def spec_dir(tmp_path: Path) -> Path:
    (tmp_path / "provision.yaml").write_text(SPEC, encoding="utf-8")
    (tmp_path / "groq.key").write_text(GROQ_KEY + "\n", encoding="utf-8")
    provision_bin(tmp_path)  # the shells run `provision` from PATH, as a bootstrap script would
    return tmp_path


def shell_env(spec_dir: Path, **extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PROVISION_", "NO_COLOR"))}
    return {
        **base,
        "PATH": f"{spec_dir / 'bin'}{os.pathsep}{base.get('PATH', '')}",
        "PYTHONPATH": str(ROOT),
        "CODER_SESSION_TOKEN": TOKEN,
        "XAI_KEY": XAI_KEY,
        "SHELL": "/bin/bash",
        **extra,
    }


def run(argv: list[str], spec_dir: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        cwd=spec_dir,
        env=shell_env(spec_dir, **extra),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )


def run_tty(args: list[str], spec_dir: Path, timeout: float = 60) -> tuple[int, str, str]:
    """`provision ARGS` with stdout on a pseudo-terminal and stderr on a pipe."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        ["provision", *args],
        cwd=spec_dir,
        env=shell_env(spec_dir),
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=subprocess.PIPE,
    )
    os.close(follower)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.2)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                data = os.read(leader, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        else:
            pytest.fail(f"provision {' '.join(args)} did not finish in {timeout}s")
        _, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(leader)
    return proc.returncode, b"".join(chunks).decode().replace("\r\n", "\n"), err.decode()


def eval_in(shell: list[str], script: str, spec_dir: Path, **extra: str) -> str:
    proc = run([*shell, script], spec_dir, **extra)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


# -- real shells -----------------------------------------------------------------------------

SHOW = 'printf "%s|%s|%s|%s" "$OPENAI_BASE_URL" "$OPENAI_API_KEY" "$XAI_API_KEY" "$GROQ_API_KEY"'
EXPECTED = f"{OPENAI_URL}|{TOKEN}|{XAI_KEY}|{GROQ_KEY}"


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_posix_shells_eval_the_output(spec_dir: Path, shell: str) -> None:
    script = f'eval "$(provision env -d prod)"; {SHOW}'
    assert eval_in([need(shell), "-c"], script, spec_dir, SHELL=f"/bin/{shell}") == EXPECTED


def test_fish_sources_the_output(spec_dir: Path) -> None:
    script = (
        "provision env -d prod --shell fish | source; "
        "printf '%s|%s|%s|%s' $OPENAI_BASE_URL $OPENAI_API_KEY $XAI_API_KEY $GROQ_API_KEY"
    )
    assert eval_in([need("fish"), "--no-config", "-c"], script, spec_dir) == EXPECTED


def test_default_dialect_comes_from_shell(spec_dir: Path) -> None:
    proc = run(["provision", "env", "-d", "local"], spec_dir, SHELL="/usr/bin/fish")
    assert proc.stdout == ""  # ollama has no variables
    proc = run(["provision", "env", "-d", "bridged"], spec_dir, SHELL="/usr/local/bin/fish")
    assert proc.stdout.startswith("set -gx OPENAI_API_KEY $CODER_SESSION_TOKEN\n")
    assert default_shell({"SHELL": "/bin/zsh"}) == "zsh"
    assert default_shell({"SHELL": "C:\\Program Files\\PowerShell\\7\\pwsh.exe"}) == "powershell"
    assert default_shell({"SHELL": "/opt/pwsh"}) == "powershell"
    assert default_shell({"SHELL": "/bin/dash"}) == default_shell({}) == "bash"


def test_pwsh_evaluates_the_output(spec_dir: Path) -> None:
    pwsh = shutil.which("pwsh")
    if pwsh is None:
        pytest.skip("pwsh is not installed; test_every_dialect_prints_references covers it")
    script = (
        "provision env -d prod --shell powershell | Out-String | Invoke-Expression; "
        'Write-Output "$env:OPENAI_BASE_URL|$env:OPENAI_API_KEY"'
    )
    out = eval_in([pwsh, "-NoProfile", "-NonInteractive", "-Command"], script, spec_dir)
    assert out.strip() == f"{OPENAI_URL}|{TOKEN}"


def test_dotenv_output_reads_back(spec_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    proc = run(["provision", "env", "-d", "prod", "--shell", "dotenv"], spec_dir)
    monkeypatch.setenv("CODER_SESSION_TOKEN", TOKEN)  # dotenv resolves the references
    monkeypatch.setenv("XAI_KEY", XAI_KEY)
    values = dotenv_values(stream=io.StringIO(proc.stdout))
    assert values["OPENAI_API_KEY"] == TOKEN and values["GROQ_API_KEY"] == GROQ_KEY


# -- secrets ---------------------------------------------------------------------------------


def test_env_secrets_are_references_when_piped(spec_dir: Path) -> None:
    proc = run(["provision", "env", "-d", "prod"], spec_dir)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == textwrap.dedent(f"""\
        export OPENAI_API_KEY="${{CODER_SESSION_TOKEN}}"
        export OPENAI_BASE_URL='{OPENAI_URL}'
        export ANTHROPIC_API_KEY="${{CODER_SESSION_TOKEN}}"
        export ANTHROPIC_BASE_URL='https://coder.example.com/api/v2/aibridge/anthropic'
        export XAI_API_KEY="${{XAI_KEY}}"
        export XAI_BASE_URL='https://api.x.ai/v1'
        export GROQ_API_KEY='{GROQ_KEY}'
        """)
    assert TOKEN not in proc.stdout + proc.stderr and XAI_KEY not in proc.stdout


def test_other_secret_on_a_terminal_is_refused(spec_dir: Path) -> None:
    code, out, err = run_tty(["env", "-d", "prod"], spec_dir)
    assert code == 1
    assert out == ""
    assert REFUSAL in err and "GROQ_API_KEY (a secret from file groq.key)" in err
    for secret in (TOKEN, XAI_KEY, GROQ_KEY):
        assert secret not in out + err


def test_reveal_prints_values_on_a_terminal(spec_dir: Path) -> None:
    code, out, err = run_tty(["env", "-d", "prod", "--reveal"], spec_dir)
    assert code == 0, err
    assert f"export GROQ_API_KEY='{GROQ_KEY}'\n" in out
    assert f"export OPENAI_API_KEY='{TOKEN}'\n" in out


def test_references_alone_print_on_a_terminal(spec_dir: Path) -> None:
    code, out, err = run_tty(["env", "-d", "bridged"], spec_dir)
    assert code == 0, err
    assert 'export OPENAI_API_KEY="${CODER_SESSION_TOKEN}"\n' in out
    assert TOKEN not in out + err


# -- in-process: the rules without a shell ----------------------------------------------------


@pytest.fixture
def in_spec(spec_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(spec_dir)
    for name, value in (("CODER_SESSION_TOKEN", TOKEN), ("XAI_KEY", XAI_KEY)):
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SHELL", "/bin/bash")
    return spec_dir


def cli_run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["env", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def in_dir_with(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spec: str) -> Path:
    """A spec written to tmp_path/provision.yaml, which becomes the working directory."""
    (tmp_path / "provision.yaml").write_text(textwrap.dedent(spec), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path / "provision.yaml"


def test_unknown_deployment_suggests_the_closest(
    in_spec: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli_run(capsys, "-d", "prdo")
    assert (code, out) == (1, "")
    assert 'No deployment "prdo" in the spec' in err and 'Did you mean "prod"?' in err
    code, _, err = cli_run(capsys, "-d", "zzz")
    assert "Deployments: prod, bridged, clash, local" in err


def test_disabled_providers_are_left_out_and_vars_apply(
    in_spec: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli_run(capsys, "-d", "prod", "-var", "coder_url=https://c2.example.com")
    assert code == 0, err
    assert "GOOGLE" not in out
    assert "export OPENAI_BASE_URL='https://c2.example.com/api/v2/aibridge/openai/v1'" in out


def test_a_variable_two_providers_set_is_an_error(
    in_spec: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli_run(capsys, "-d", "clash")
    assert (code, out) == (1, "")
    assert (
        'OPENAI_API_KEY is set by both provider "openai" and provider "openai-eu" of '
        'deployment "clash"'
    ) in err


@pytest.mark.parametrize(
    ("shell", "line"),
    [
        ("bash", 'export XAI_API_KEY="${XAI_KEY}"'),
        ("zsh", 'export XAI_API_KEY="${XAI_KEY}"'),
        ("fish", "set -gx XAI_API_KEY $XAI_KEY"),
        ("powershell", "$env:XAI_API_KEY = $env:XAI_KEY"),
        ("dotenv", "XAI_API_KEY=${XAI_KEY}"),
    ],
)
def test_every_dialect_prints_references(
    in_spec: Path, capsys: pytest.CaptureFixture[str], shell: str, line: str
) -> None:
    code, out, _ = cli_run(capsys, "-d", "prod", "--shell", shell)
    assert code == 0
    assert line + "\n" in out
    assert XAI_KEY not in out


def test_warnings_go_to_stderr_only(in_spec: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = in_spec / "literal.yaml"
    spec.write_text(
        "version: 1\ndeployments:\n  d:\n    providers:\n      groq: {api_key: gsk-literal-1234}\n"
    )
    code, out, err = cli_run(capsys, "-d", "d", "-f", str(spec))
    assert code == 0
    assert out == "export GROQ_API_KEY='gsk-literal-1234'\n"
    assert "Secret written literally" in err and "gsk-literal-1234" not in err


def test_shell_choices_are_checked(in_spec: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli_run(capsys, "-d", "prod", "--shell", "tcsh")
    assert code == 1 and "'tcsh' is not one of" in err


def test_other_deployments_need_not_resolve_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A workspace has its own deployment's variables and files, not every deployment's: what
    only another deployment (or a target) reads may be missing, and `env` still answers."""
    spec = in_dir_with(tmp_path, monkeypatch, """\
        version: 1
        deployments:
          mine:
            providers:
              xai: {api_key: {env: XAI_KEY}}
            use: [{module: ./mod}]
          theirs:
            coder: {url: "${env.THEIR_CODER_URL}", token: {env: THEIR_TOKEN}}
            providers:
              openai: {via: aibridge}
              groq: {api_key: {file: missing.key}}
        targets:
          theirs-jsonc: {type: mux_providers, deployment: theirs, path: "${env.THEIR_HOME}/p.jsonc"}
        """)
    # A module's own target, for the deployment asked for, reads a variable that is unset too.
    (tmp_path / "mod").mkdir()
    (tmp_path / "mod" / "module.yaml").write_text(textwrap.dedent("""\
        version: 1
        providers:
          deepseek: {api_key: {env: XAI_KEY}}
        targets:
          sh: {type: shell_exports, path: "${env.THEIR_HOME}/x.sh"}
        """), encoding="utf-8")
    for name in ("THEIR_CODER_URL", "THEIR_TOKEN", "THEIR_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XAI_KEY", XAI_KEY)
    code, out, err = cli_run(capsys, "-d", "mine", "--shell", "bash")
    assert (code, err) == (0, "")
    assert out.startswith("export XAI_API_KEY=\"${XAI_KEY}\"\nexport XAI_BASE_URL='https://api.x.ai/v1'\n")
    assert 'export DEEPSEEK_API_KEY="${XAI_KEY}"' in out  # the module's target: never resolved
    # The same spec, asked for the deployment that does need them, names what is missing.
    code, out, err = cli_run(capsys, "-d", "theirs", "--shell", "bash")
    assert (code, out) == (1, "")
    assert "THEIR_CODER_URL" in err
    # And a structural error anywhere in the file still fails every deployment.
    spec.write_text(spec.read_text(encoding="utf-8").replace("{via: aibridge}", "{via: nowhere}"),
                    encoding="utf-8")
    code, out, err = cli_run(capsys, "-d", "mine", "--shell", "bash")
    assert (code, out) == (1, "")
    assert 'provision.yaml:10:21: error: Invalid value "nowhere"' in err


def test_required_variables_are_still_needed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Variables belong to the whole spec, as in Terraform with -target: one only another
    deployment uses must still be given."""
    in_dir_with(tmp_path, monkeypatch, """\
        version: 1
        variables:
          their_url: {type: string}
        deployments:
          mine:
            providers:
              xai: {api_key: {env: XAI_KEY}}
          theirs:
            coder: {url: "${var.their_url}", token: {env: THEIR_TOKEN}}
            providers:
              openai: {via: aibridge}
        """)
    monkeypatch.setenv("XAI_KEY", XAI_KEY)
    code, out, err = cli_run(capsys, "-d", "mine", "--shell", "bash")
    assert (code, out) == (1, "")
    assert "their_url" in err
    code, out, err = cli_run(capsys, "-d", "mine", "--shell", "bash", "-var",
                             "their_url=https://c.example.com")
    assert (code, err) == (0, "")
    assert 'export XAI_API_KEY="${XAI_KEY}"' in out


def test_azure_settings_are_exported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Mux takes Azure OpenAI only from AZURE_OPENAI_* variables, so the spec's deployment name
    and API version must reach them."""
    in_dir_with(tmp_path, monkeypatch, """\
        version: 1
        deployments:
          az:
            providers:
              azure-openai:
                base_url: https://res.openai.azure.com
                api_key: {env: AZ_KEY}
                azure_deployment: gpt-4o-prod
                api_version: 2024-10-21
        """)
    monkeypatch.setenv("AZ_KEY", "az-key-123456")
    code, out, err = cli_run(capsys, "-d", "az", "--shell", "bash")
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        'export AZURE_OPENAI_API_KEY="${AZ_KEY}"',
        "export AZURE_OPENAI_ENDPOINT='https://res.openai.azure.com'",
        "export AZURE_OPENAI_DEPLOYMENT='gpt-4o-prod'",
        "export AZURE_OPENAI_API_VERSION='2024-10-21'",
    ]


@pytest.mark.parametrize("key", ["gsk-esc\x1b[31mred-0123", "gsk-clé-accentuée-4567"],
                         ids=["escape-sequence", "non-ascii"])
def test_values_reach_eval_exactly(spec_dir: Path, key: str) -> None:
    """No escape sequence stripped from the lines a pipe gets (eval must get the key back), and
    UTF-8 where stdout claims plain ASCII, rather than a crash."""
    (spec_dir / "groq.key").write_text(key + "\n", encoding="utf-8")
    bash = need("bash")
    script = 'eval "$(provision env -d prod --shell bash)" && printf %s "$GROQ_API_KEY"'
    proc = subprocess.run([bash, "-c", script], cwd=spec_dir, capture_output=True,
                          env=shell_env(spec_dir, PYTHONIOENCODING="ascii"), timeout=60)
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout.decode("utf-8") == key


def test_a_value_stdouts_encoding_cannot_hold_is_an_error(spec_dir: Path) -> None:
    (spec_dir / "groq.key").write_text("gsk-€uro-1234\n", encoding="utf-8")
    proc = run(["provision", "env", "-d", "prod", "--shell", "bash"], spec_dir,
               PYTHONIOENCODING="latin-1", TMPDIR=str(spec_dir))
    assert proc.returncode == 1 and proc.stdout == ""
    assert "Cannot print the export lines in stdout's encoding (iso8859-1)" in proc.stderr
    assert "unexpected error" not in proc.stderr and "€uro" not in proc.stderr
    assert not list(spec_dir.glob("provision-crash-*"))
