"""The health history under concurrent probe runs: appends are serialized by a lock file that
cutting the history back never replaces, so no run's records land in an orphaned file."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from provision.probe import Verdict, health
from provision.state import HISTORY_FILENAME, history_lock_path, history_path

ROOT = Path(__file__).resolve().parents[2]
APPENDER = """\
import sys
import tempfile
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
    lines = (tmp_path / HISTORY_FILENAME).read_text().splitlines()
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
        assert not (tmp_path / HISTORY_FILENAME).exists()
    finally:
        os.close(lock)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert [r["address"] for r in health.read(tmp_path).records] == ["waiting.0"]


def test_verdicts_in_the_history_carry_no_credential(tmp_path: Path) -> None:
    from provision.secrets import Secret

    verdict = Verdict(address="a", url="http://127.0.0.1:9/v1", outcome="ok", status=200,
                      latency_ms=2.0, reason="ok", hint="", model_count=None, attempts=1,
                      required=True, candidate=1, credential=Secret("sk-never-in-history"))
    health.append(tmp_path, [verdict])
    text = (tmp_path / HISTORY_FILENAME).read_text()
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
    assert [r["address"] for r in health.read(tmp_path).records] == ["a"]


def verdict(address: str, status: int | None = 200) -> Verdict:
    return Verdict(address=address, url="http://127.0.0.1:9/v1", outcome="ok", status=status,
                   latency_ms=3.0, reason="ok", hint="", model_count=1, attempts=1,
                   required=True)


GOOD = json.dumps({"time": 1.0, **verdict("x").to_json()}, sort_keys=True)
BAD_LINES = {
    "not-utf8": b'{"address": "\xff"}',
    "not-json": b"not json",
    "a-list": b"[]",
    "deep": b"[" * 100_000,
    "address-int": GOOD.replace('"address": "x"', '"address": 5').encode(),
    "outcome-null": GOOD.replace('"outcome": "ok"', '"outcome": null').encode(),
    "passed-string": GOOD.replace('"passed": true', '"passed": "yes"').encode(),
    "url-int": GOOD.replace('"url": "http://127.0.0.1:9/v1"', '"url": 5').encode(),
    "time-string": GOOD.replace('"time": 1.0', '"time": "now"').encode(),
    "time-huge": GOOD.replace('"time": 1.0', '"time": 1e20').encode(),
    "time-nan": GOOD.replace('"time": 1.0', '"time": NaN').encode(),
    "no-time": GOOD.replace('"time": 1.0, ', "").encode(),
    "status-string": GOOD.replace('"status": 200', '"status": "200"').encode(),
    "status-bool": GOOD.replace('"status": 200', '"status": true').encode(),
    "latency-string": GOOD.replace('"latency_ms": 3.0', '"latency_ms": "fast"').encode(),
    "latency-inf": GOOD.replace('"latency_ms": 3.0', '"latency_ms": Infinity').encode(),
}


def test_the_good_line_is_a_record() -> None:
    assert all(line != GOOD.encode() for line in BAD_LINES.values())
    assert json.loads(GOOD)["address"] == "x"


def history_with(state_dir: Path, *bad: bytes) -> None:
    health.append(state_dir, [verdict("a")], when=1_700_000_000.0)
    with (state_dir / HISTORY_FILENAME).open("ab") as f:
        f.write(b"".join(line + b"\n" for line in bad) + b"\n")  # and a blank line
    health.append(state_dir, [verdict("b", status=None)], when=1_700_000_001.0)


@pytest.mark.parametrize("bad", list(BAD_LINES.values()), ids=list(BAD_LINES))
def test_health_skips_a_line_it_cannot_read_and_shows_the_rest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    bad: bytes
) -> None:
    from provision.cli import main

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))  # where a crash log goes
    (tmp_path / "tmp").mkdir()
    history_with(tmp_path, bad)
    state = tmp_path / "state.json"
    assert main(["health", "-state", str(state)]) == 0
    out, err = capsys.readouterr()
    assert [line.split()[0] for line in out.splitlines()] == ["ADDRESS", "a", "b"]
    assert err == (f"warning: Skipped 1 unreadable line in {tmp_path / 'health.jsonl'}\n"
                   "  Not UTF-8, not JSON, or not a probe record; the other records are "
                   "summarised.\n")
    assert main(["health", "-state", str(state), "-json"]) == 0
    out, err = capsys.readouterr()
    assert [e["address"] for e in json.loads(out)["endpoints"]] == ["a", "b"]
    assert err.count("warning:") == 1
    assert list((tmp_path / "tmp").iterdir()) == []


def test_unreadable_lines_are_counted_in_one_warning(tmp_path: Path) -> None:
    history_with(tmp_path, *BAD_LINES.values())
    with (tmp_path / HISTORY_FILENAME).open("ab") as f:
        f.write(b'{"address": "torn", "ti')  # the last line, being written: not counted
    history = health.read(tmp_path)
    assert [r["address"] for r in history.records] == ["a", "b"]
    [warning] = history.warnings
    assert warning.summary == (f"Skipped {len(BAD_LINES)} unreadable lines in "
                               f"{tmp_path / HISTORY_FILENAME}")


def test_a_record_appended_after_a_torn_line_is_kept(tmp_path: Path) -> None:
    (tmp_path / HISTORY_FILENAME).write_bytes(b'{"address": "killed", "ti')
    health.append(tmp_path, [verdict("next")])
    history = health.read(tmp_path)
    assert [r["address"] for r in history.records] == ["next"]
    assert history.warnings[0].summary.startswith("Skipped 1 unreadable line in")


def test_a_history_that_cannot_be_read_is_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from provision.cli import main

    (tmp_path / HISTORY_FILENAME).mkdir()
    assert main(["health", "-state", str(tmp_path / "state.json")]) == 0
    out, err = capsys.readouterr()
    assert "No probe history yet" in out
    assert err == (f"warning: Cannot read the probe history {tmp_path / 'health.jsonl'}: "
                   "it is not a regular file (a directory)\n")


def test_a_history_that_cannot_be_written_is_a_clean_error(tmp_path: Path) -> None:
    from provision.errors import ProvisionError

    (tmp_path / HISTORY_FILENAME).mkdir()
    with pytest.raises(ProvisionError, match=r"Cannot record the probe history in .*: Is a dir"):
        health.append(tmp_path, [verdict("a")])


FIFO_APPEND = """
import sys
from pathlib import Path
from provision.errors import ProvisionError
from provision.probe import Verdict, health
v = Verdict(address="a", url="http://127.0.0.1:9/v1", outcome="ok", status=200, latency_ms=3.0,
            reason="ok", hint="", model_count=1, attempts=1, required=True)
try:
    health.append(Path(sys.argv[1]), [v])
except ProvisionError as exc:
    print(exc.diagnostics[0].summary)
"""


def append_elsewhere(state_dir: Path) -> str:
    """append in a child with a timeout (a regression would hang): "" or the error's summary."""
    proc = subprocess.run([sys.executable, "-c", FIFO_APPEND, str(state_dir)], timeout=30,
                          capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    return proc.stdout.strip()


def test_a_fifo_for_the_history_is_written_at_once_and_kept(tmp_path: Path) -> None:
    os.mkfifo(history_path(tmp_path))
    assert append_elsewhere(tmp_path) == ""
    assert stat.S_ISFIFO(history_path(tmp_path).lstat().st_mode)


def test_a_history_linked_to_dev_null_is_off(tmp_path: Path) -> None:
    history_path(tmp_path).symlink_to("/dev/null")
    assert append_elsewhere(tmp_path) == ""
    assert history_path(tmp_path).readlink() == Path("/dev/null")
    assert [w.summary for w in health.read(tmp_path).warnings] == [
        f"Cannot read the probe history {history_path(tmp_path)}: "
        "it is not a regular file (a character device)"]


def test_a_fifo_for_the_lock_fails_naming_it_instead_of_waiting(tmp_path: Path) -> None:
    os.mkfifo(history_lock_path(tmp_path))
    assert append_elsewhere(tmp_path) == (
        f"Cannot record the probe history in {history_lock_path(tmp_path)}: "
        "No such device or address")
    assert stat.S_ISFIFO(history_lock_path(tmp_path).lstat().st_mode)


def test_a_history_past_its_byte_limit_is_cut_from_its_tail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Grown past RECORD_FILE_LIMIT (by hand, say), it is cut back, not left to fail reads."""
    monkeypatch.setattr(health, "RECORD_FILE_LIMIT", 4096)
    big = json.dumps({"time": 1.0, **verdict("old").to_json(), "pad": "x" * 1000}) + "\n"
    history_path(tmp_path).write_text(big * 10)  # about 13 KB
    assert len(health.read(tmp_path).records) == 3  # the whole records in the last 4 KB
    health.append(tmp_path, [verdict("new")], when=2.0)
    data = history_path(tmp_path).read_bytes()
    assert len(data) <= 4096 and data.endswith(b"\n")
    assert [r["address"] for r in health.read(tmp_path).records][-1] == "new"
    assert not health.read(tmp_path).warnings
