"""`provision completion`: each shell's script loads in that shell, and completing through it
(and through the raw protocol the script speaks) reaches provision's command tree.

The shells call `provision` by name, so PATH starts with a shim that runs this checkout."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from testkit import ROOT, need, provision_bin

TIMEOUT = 60


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    bin_dir = provision_bin(tmp_path)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(ROOT),
            "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config")}  # fmt: skip


def shell(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=TIMEOUT)


def script(name: str, env: dict[str, str]) -> str:
    proc = shell(["provision", "completion", name], env)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.parametrize(
    ("words", "cword", "expected"),
    [
        ("provision pl", 1, "plain,plan"),
        ("provision plan -detailed", 2, "plain,-detailed-exitcode"),
        ("provision completion f", 2, "plain,fish"),
    ],
)
def test_protocol(env: dict[str, str], words: str, cword: int, expected: str) -> None:
    """What the bash script runs on <Tab>: provision with no arguments, the words in env."""
    proc = shell(["provision"], {**env, "COMP_WORDS": words, "COMP_CWORD": str(cword),
                                 "_PROVISION_COMPLETE": "bash_complete"})  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert expected in proc.stdout.splitlines()


def test_bash_script_loads_and_completes(env: dict[str, str]) -> None:
    bash = need("bash")
    assert "_provision_completion" in script("bash", env)
    # bash calls the function with the command name, the word and the word before it
    program = (
        'eval "$(provision completion bash)" && complete -p provision && '
        "COMP_WORDS=(provision pl) COMP_CWORD=1 && _provision_completion provision pl provision && "
        'printf "reply:%s\\n" "${COMPREPLY[@]}"'
    )
    proc = shell([bash, "-c", program], env)
    assert proc.returncode == 0, proc.stderr
    assert "complete -o nosort -F _provision_completion provision" in proc.stdout
    assert "reply:plan" in proc.stdout.splitlines()


def test_zsh_script(env: dict[str, str]) -> None:
    text = script("zsh", env)
    assert "#compdef provision" in text
    assert "_provision_completion" in text
    assert "_PROVISION_COMPLETE=zsh_complete" in text
    if (zsh := shutil.which("zsh")) is not None:
        proc = shell([zsh, "-fc", 'autoload -U compinit && compinit -u && '
                      'eval "$(provision completion zsh)" && whence -w _provision_completion'],
                     env)  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        assert "_provision_completion: function" in proc.stdout


def test_fish_script(env: dict[str, str]) -> None:
    text = script("fish", env)
    assert "function _provision_completion" in text
    assert "_PROVISION_COMPLETE=fish_complete" in text
    fish = shutil.which("fish")
    if fish is None:
        return
    proc = shell([fish, "--no-config", "-c",
                  'provision completion fish | source; and complete --do-complete "provision pl"'],
                 env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "plan" in [line.split("\t")[0] for line in proc.stdout.splitlines()]


def test_unknown_shell_is_a_usage_error(env: dict[str, str]) -> None:
    proc = shell(["provision", "completion", "tcsh"], env)
    assert proc.returncode == 1
    assert "tcsh" in proc.stderr
