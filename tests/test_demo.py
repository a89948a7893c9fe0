"""The README's first command, exactly as written: the demo runs end to end on this machine."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_demo_runs_plan_apply_probes_and_converges() -> None:
    first = next(
        line for line in (ROOT / "README.md").read_text().splitlines() if line.startswith("bash ")
    )
    assert first.split("#")[0].split() == ["bash", "examples/demo.sh"]
    proc = subprocess.run(
        ["bash", "examples/demo.sh"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "NO_COLOR": "1"},
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "Success! The spec is valid." in out
    assert "Apply complete! Resources: " in out
    assert out.count(" ok ") >= 5  # every probe in the table passed
    assert out.rstrip().count("No changes.") >= 1
    assert "Traceback" not in out
