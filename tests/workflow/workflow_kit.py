"""What the workflow tests share: canary secrets, an in-process CLI runner that keeps every byte
it printed, a subprocess runner with a deadline, and scans that prove no canary was written where
it must not be. Every test here works on real files in a temporary directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from provision.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"

# Canary secrets: long and unique, so finding one anywhere is a leak, never a coincidence.
CANARY_OPENAI = "sk-canary-openai-5f1e2d3c4b5a6978"
CANARY_ANTHROPIC = "sk-ant-canary-0a1b2c3d4e5f6071"
CANARY_TOKEN = "canary-coder-Zq8Xw3Vt6Ys1Ur4Po7"
CANARIES = (CANARY_OPENAI, CANARY_ANTHROPIC, CANARY_TOKEN)

# Files that hold secrets by design (inline keys, key files); everything else must not.
SECRET_HOLDERS = ("providers.jsonc", ".key", ".sh")

PROCESS_TIMEOUT = 60.0


@dataclass(frozen=True, slots=True)
class Run:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


@dataclass
class Cli:
    """`provision.cli.main` in this process, its stdout/stderr captured per call."""

    capsys: pytest.CaptureFixture[str]
    runs: list[Run] = field(default_factory=list)

    def __call__(self, *args: Any) -> Run:
        self.capsys.readouterr()
        code = main([str(a) for a in args])
        captured = self.capsys.readouterr()
        run = Run(code, captured.out, captured.err)
        self.runs.append(run)
        return run

    def ok(self, *args: Any) -> Run:
        run = self(*args)
        assert run.code == 0, run.text
        return run


def assert_no_canary(text: str, where: str, canaries: Iterable[str] = CANARIES) -> None:
    for canary in canaries:
        assert canary not in text, f"canary secret found in {where}"


def scan_tree(
    root: Path, *, skip: Callable[[Path], bool] | None = None, canaries: Iterable[str] = CANARIES
) -> list[Path]:
    """Every file under root that is not skipped holds no canary; returns the files scanned."""
    scanned = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or (skip is not None and skip(path)):
            continue
        data = path.read_bytes()
        for canary in canaries:
            assert canary.encode() not in data, f"canary secret found in {path}"
        scanned.append(path)
    return scanned


def holds_secrets_by_design(path: Path) -> bool:
    name = path.name
    if name.endswith("~"):  # a --backup copy: name.<timestamp>~
        name = name.rsplit(".", 1)[0]
    return name.endswith(SECRET_HOLDERS)


def proc_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("XUM_ROOT", "MUX_ROOT")}
    env.update(PYTHONPATH=str(ROOT), NO_COLOR="1", **extra)
    return env


def provision_cmd(*args: Any) -> list[str]:
    return [sys.executable, "-m", "provision", *(str(a) for a in args)]


def run_proc(*args: Any, cwd: Path, env: dict[str, str]) -> Run:
    proc = subprocess.run(
        provision_cmd(*args),
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT,
        check=False,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.01)


def walk(tree: dict[str, Any], dotted: str) -> tuple[dict[str, Any], str]:
    """The parent mapping and last key of a dotted path, creating mappings on the way."""
    *parents, last = dotted.split(".")
    node = tree
    for key in parents:
        node = node.setdefault(key, {})
    return node, last


def gitops(tmp_path: Path, url: str) -> tuple[Path, list[str]]:
    """A copy of the gitops example's spec in tmp_path, and the arguments that plan or apply it
    with both Coder URLs at `url` and its output under tmp_path/out."""
    spec = tmp_path / "spec"
    shutil.copytree(EXAMPLES / "gitops-aibridge" / "spec", spec)
    return spec, [
        "-f",
        str(spec),
        "-var",
        f"prod_coder_url={url}",
        "-var",
        f"staging_coder_url={url}",
        "-var",
        f"out_dir={tmp_path / 'out'}",
    ]
