"""bench/probes.py runs in the test interpreter (the other benchmarks build their own venv from
PyPI, too slow for the suite): a small run of it proves the script still works against the
current probe API, with real servers on 127.0.0.1."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_probe_benchmark_runs_small() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "probes.py"), "--endpoints", "6",
         "--latency", "0.05", "--target", "30"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "6 endpoints, each answering after 50 ms" in proc.stdout
    assert "target: 6 probes in <= 30 s: met" in proc.stdout


def test_bench_venv_with_another_console_script_counts_as_stale() -> None:
    """The check `in_venv` runs in the bench venv, run here against this venv's provision."""
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import _common
    finally:
        sys.path.remove(str(ROOT / "bench"))

    def check(declared: str, *names: str) -> int:
        return subprocess.run([sys.executable, "-c", _common._INSTALLED, declared, *names],
                              capture_output=True, timeout=60, check=False).returncode

    assert check(_common._declared(), "provision") == 0
    assert check('{"provision": "provision.cli:main"}', "provision") == 1
    assert check(_common._declared(), "provision", "no-such-distribution") == 1
