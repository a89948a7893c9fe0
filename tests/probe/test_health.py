"""The health history under concurrent probe runs: appends are serialized by a lock file that
cutting the history back never replaces, so no run's records land in an orphaned file."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from provision.probe import Verdict, health

ROOT = Path(__file__).resolve().parents[2]
APPENDER = """\
import sys
from pathlib import Path
from provision.probe import Verdict, health
health.MAX_RECORDS = int(sys.argv[3])
state_dir, name = Path(sys.argv[1]), sys.argv[2]
print("ready", flush=True)
for i in range(int(sys.argv[4])):
    health.append(state_dir, [Verdict(address=f"{name}.{i}", url="http://127.0.0.1:9/v1",
                                      outcome="ok", status=200, latency_ms=1.0, reason="ok",
                                      hint="", model_count=1, attempts=1, required=True)])
"""


def appender(state_dir: Path, name: str, max_records: int, count: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", APPENDER, str(state_dir), name, str(max_records), str(count)],
        env={**os.environ, "PYTHONPATH": str(ROOT)}, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def expected_lines(appends: int, max_records: int) -> int:
    """What one-record appends leave when each one that passes max_records cuts to half."""
    lines = 0
    for _ in range(appends):
        lines += 1
        if lines > max_records:
            lines = max_records // 2
    return lines


def test_concurrent_appends_lose_nothing_when_the_history_is_cut(tmp_path: Path) -> None:
    runs, each, max_records = 4, 150, 40
    procs = [appender(tmp_path, f"run{i}", max_records, each) for i in range(runs)]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    lines = (tmp_path / health.HISTORY_FILENAME).read_text().splitlines()
    assert all(json.loads(line)["outcome"] == "ok" for line in lines)
    assert len(lines) == expected_lines(runs * each, max_records)
    assert (tmp_path / "health.jsonl.lock").stat().st_mode & 0o777 == 0o600


def test_an_append_waits_for_the_lock(tmp_path: Path) -> None:
    health.append(tmp_path, [])  # nothing to record: no file, no lock taken
    assert not (tmp_path / "health.jsonl.lock").exists()
    lock = os.open(tmp_path / "health.jsonl.lock", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        proc = appender(tmp_path, "waiting", 5000, 1)
        assert proc.stdout is not None
        assert proc.stdout.readline() == "ready\n"  # imports done; it is about to append
        time.sleep(0.5)
        assert proc.poll() is None
        assert not (tmp_path / health.HISTORY_FILENAME).exists()
    finally:
        os.close(lock)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert [r["address"] for r in health.read(tmp_path)] == ["waiting.0"]


def test_verdicts_in_the_history_carry_no_credential(tmp_path: Path) -> None:
    from provision.secrets import Secret

    verdict = Verdict(address="a", url="http://127.0.0.1:9/v1", outcome="ok", status=200,
                      latency_ms=2.0, reason="ok", hint="", model_count=None, attempts=1,
                      required=True, candidate=1, credential=Secret("sk-never-in-history"))
    health.append(tmp_path, [verdict])
    text = (tmp_path / health.HISTORY_FILENAME).read_text()
    assert "sk-never-in-history" not in text
    assert json.loads(text)["candidate"] == 1


def test_a_filesystem_without_locks_still_records(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    def no_locks(fd: int, operation: int) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    health.append(tmp_path, [Verdict(address="a", url="http://127.0.0.1:9/v1", outcome="ok",
                                     status=200, latency_ms=1.0, reason="ok", hint="",
                                     model_count=None, attempts=1, required=True)])
    assert [r["address"] for r in health.read(tmp_path)] == ["a"]
