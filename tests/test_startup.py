"""Heavy dependencies load lazily: `--help`, `validate`, `schema` and `providers` must not import
httpx, deepdiff or jinja2 (design.md: "Heavy imports load lazily")."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("httpx", "deepdiff", "jinja2")
SCRIPT = """\
import contextlib, io, sys
from provision.cli import main
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    code = main({args!r})
print(code)
print(sorted(m for m in {heavy!r} if m in sys.modules))
"""


def heavy_imports(args: list[str]) -> tuple[int, str]:
    env = {**os.environ, "CODER_SESSION_TOKEN": "tok-startup-1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(args=args, heavy=HEAVY)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    code, modules = proc.stdout.splitlines()[-2:]
    return int(code), modules


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["validate", "-f", "examples/laptop-local-models"],
        ["validate", "-json", "-f", "examples/gitops-aibridge/spec"],
        ["validate", "-f", "tests/spec/bad/four_errors"],
        ["schema"],
        ["providers"],
        ["providers", "-json"],
    ],
    ids=lambda a: " ".join(a),
)
def test_no_heavy_imports(args: list[str]) -> None:
    code, modules = heavy_imports(args)
    assert modules == "[]"
    assert code == (1 if "bad" in " ".join(args) else 0)


def test_first_plan_needs_no_deepdiff(tmp_path: Path) -> None:
    """A plan that only creates files (every first plan) shows each new document's keys without
    importing deepdiff; the update diffs that need it are covered by tests/workflow/cases."""
    args = ["plan", "-f", "examples/gitops-aibridge/spec",
            "-var", "prod_coder_url=https://coder.example.com",
            "-var", "staging_coder_url=https://coder-staging.example.com",
            "-var", f"out_dir={tmp_path / 'out'}", "-state", str(tmp_path / "state.json")]
    code, modules = heavy_imports(args)
    assert (code, modules) == (0, "[]")
    assert not (tmp_path / "out").exists()
