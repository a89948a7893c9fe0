from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from testkit import watch_publishing

from provision import __version__
from provision.cli._options import parse_duration
from provision.errors import LockError
from provision.lock import (
    LockInfo,
    MuxLock,
    StateLock,
    force_unlock,
    read_lock_info,
)
from provision.state import lock_path

ROOT = Path(__file__).resolve().parent.parent


def detail(error: pytest.ExceptionInfo[LockError]) -> str:
    return error.value.diagnostics[0].detail


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait(timeout=30)
    return child.pid


def write_lock(path: Path, pid: int, lock_id: str = "0b5e7c1e-dead-4bad-8000-000000000001") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    info = {
        "ID": lock_id,
        "Operation": "apply",
        "Who": "ci@" + socket.gethostname(),
        "Version": "0.0.9",
        "Created": "2024-05-01T10:00:00.000000Z",
        "Pid": pid,
        "Host": socket.gethostname(),
    }
    path.write_text(json.dumps(info))


@pytest.fixture
def state_lock(tmp_path: Path) -> Path:
    return lock_path(tmp_path / ".provision" / "state.json")


def test_lock_path_sits_beside_the_state(tmp_path: Path) -> None:
    assert lock_path(tmp_path / "state.json") == tmp_path / "state.lock"
    assert lock_path(tmp_path / "prod.json") == tmp_path / "prod.lock"


def test_lock_file_records_its_holder(state_lock: Path) -> None:
    with StateLock(state_lock, "apply") as lock:
        raw = json.loads(state_lock.read_text())
        assert set(raw) == {"ID", "Operation", "Who", "Version", "Created", "Pid", "Host"}
        assert raw["ID"] == lock.info.id
        assert (raw["Operation"], raw["Version"], raw["Pid"]) == ("apply", __version__, os.getpid())
        assert raw["Who"].endswith("@" + socket.gethostname())
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", raw["Created"])
        assert read_lock_info(state_lock) == lock.info
    assert not state_lock.exists()


def test_second_acquirer_fails_fast_with_the_holders_info(state_lock: Path) -> None:
    with StateLock(state_lock, "apply") as held:
        started = time.monotonic()
        with pytest.raises(LockError, match="Error acquiring the state lock") as info:
            StateLock(state_lock, "plan").acquire()
        assert time.monotonic() - started < 1.0
        text = detail(info)
        for expected in (held.info.id, "apply", held.info.who, held.info.created, str(os.getpid())):
            assert expected in text
        assert "stale" not in text
        assert "-lock-timeout" in text
        assert [p.name for p in state_lock.parent.iterdir()] == [state_lock.name]
    assert not state_lock.exists()


def test_the_lock_never_exists_empty_or_half_written(
    state_lock: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another run that finds the lock must find its holder in it; one created empty and written
    after is reported as unreadable, a crash remnant to delete by hand. So look at the lock
    around every file call the acquiring run makes."""
    lock = StateLock(state_lock, "apply")
    seen: list[Any] = []

    def look() -> None:
        try:
            seen.append(json.loads(state_lock.read_bytes()))
        except FileNotFoundError:
            seen.append(None)
        except ValueError:
            seen.append("torn")

    with monkeypatch.context() as patch:
        watch_publishing(patch, look)
        lock.acquire()
    lock.release()
    holder = lock.info.to_json()
    assert holder in seen, "the lock was never seen: nothing was watched"
    assert [s for s in seen if s not in (None, holder)] == []
    assert list(state_lock.parent.iterdir()) == []


def test_a_filesystem_without_hard_links_still_locks(
    state_lock: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    with StateLock(state_lock, "apply") as held:
        assert read_lock_info(state_lock) == held.info
        with pytest.raises(LockError, match="Error acquiring the state lock"):
            StateLock(state_lock, "apply").acquire()
    assert list(state_lock.parent.iterdir()) == []


@pytest.mark.parametrize("kind", ["fifo", "directory"])
def test_a_lock_path_that_is_not_a_regular_file_is_refused_at_once(
    state_lock: Path, kind: str
) -> None:
    state_lock.parent.mkdir(parents=True)
    if kind == "fifo":
        os.mkfifo(state_lock)
    else:
        state_lock.mkdir()
    done = threading.Event()

    def unblock() -> None:
        """Should acquire() open the FIFO to read a holder (the bug), let each open return."""
        deadline = time.monotonic() + 20
        while not done.wait(0.5) and time.monotonic() < deadline:
            with contextlib.suppress(OSError):  # ENXIO: nobody is waiting to read
                os.close(os.open(state_lock, os.O_WRONLY | os.O_NONBLOCK))

    thread = threading.Thread(target=unblock)
    thread.start()
    try:
        started = time.monotonic()
        with pytest.raises(LockError, match="Cannot take the state lock") as error:
            StateLock(state_lock, "apply").acquire()
    finally:
        done.set()
        thread.join(timeout=30)
    assert time.monotonic() - started < 1
    assert f"it is not a regular file (a {'FIFO' if kind == 'fifo' else 'directory'})" in detail(
        error
    )
    assert stat.S_IFMT(state_lock.lstat().st_mode) == (
        stat.S_IFIFO if kind == "fifo" else stat.S_IFDIR
    )
    assert [p.name for p in state_lock.parent.iterdir()] == [state_lock.name]


def test_waiting_succeeds_when_the_holder_releases(state_lock: Path) -> None:
    holder = StateLock(state_lock, "apply").acquire()
    timer = threading.Timer(0.3, holder.release)
    timer.start()
    try:
        started = time.monotonic()
        with StateLock(state_lock, "apply", timeout=10) as waiter:
            assert 0.2 < time.monotonic() - started < 5
            assert read_lock_info(state_lock) == waiter.info
    finally:
        timer.cancel()
        timer.join(timeout=5)


def test_waiting_gives_up_at_the_deadline(state_lock: Path) -> None:
    with StateLock(state_lock, "apply"):
        started = time.monotonic()
        with pytest.raises(LockError) as info:
            StateLock(state_lock, "apply", timeout=0.4).acquire()
        assert 0.35 < time.monotonic() - started < 3
        assert "waited 0.4s" in detail(info)


def test_a_lock_held_by_a_dead_process_is_reported_stale(state_lock: Path) -> None:
    pid = dead_pid()
    write_lock(state_lock, pid)
    with pytest.raises(LockError) as info:
        StateLock(state_lock, "apply").acquire()
    text = detail(info)
    assert "stale" in text and "dead process" in text and str(pid) in text
    assert "provision force-unlock 0b5e7c1e-dead-4bad-8000-000000000001" in text
    assert state_lock.exists()  # reported, never broken automatically


def test_a_live_or_foreign_holder_is_not_stale(state_lock: Path) -> None:
    write_lock(state_lock, os.getppid())
    with pytest.raises(LockError) as info:
        StateLock(state_lock, "apply").acquire()
    assert "stale" not in detail(info)
    raw = json.loads(state_lock.read_text())
    raw.update(Pid=dead_pid(), Host="some-other-host")  # cannot tell from here
    state_lock.write_text(json.dumps(raw))
    with pytest.raises(LockError) as info:
        StateLock(state_lock, "apply").acquire()
    assert "stale" not in detail(info)


def test_an_unreadable_lock_file_names_the_file_to_delete(state_lock: Path) -> None:
    state_lock.parent.mkdir(parents=True)
    state_lock.write_text("")
    with pytest.raises(LockError) as info:
        StateLock(state_lock, "apply").acquire()
    assert f"rm {state_lock}" in detail(info)


def test_release_keeps_a_lock_that_is_no_longer_ours(state_lock: Path) -> None:
    lock = StateLock(state_lock, "apply").acquire()
    write_lock(state_lock, os.getpid(), lock_id="someone-else")
    lock.release()
    assert read_lock_info(state_lock) is not None
    assert json.loads(state_lock.read_text())["ID"] == "someone-else"


def test_force_unlock(state_lock: Path) -> None:
    write_lock(state_lock, dead_pid(), lock_id="the-real-id")
    with pytest.raises(LockError, match="does not match") as info:
        force_unlock(state_lock, "a-wrong-id")
    assert "the-real-id" in detail(info) and "a-wrong-id" in detail(info)
    assert state_lock.exists()
    removed = force_unlock(state_lock, "the-real-id")
    assert isinstance(removed, LockInfo) and removed.id == "the-real-id"
    assert not state_lock.exists()
    with pytest.raises(LockError, match="No state lock"):
        force_unlock(state_lock, "the-real-id")
    with StateLock(state_lock, "apply"):
        pass


RACER = """
import sys, time
from pathlib import Path
from provision.cli._options import parse_duration
from provision.errors import LockError
from provision.lock import StateLock
lock, go, done = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
deadline = time.monotonic() + 30
while not go.exists() and time.monotonic() < deadline:
    time.sleep(0.005)
try:
    with StateLock(lock, "apply"):
        print("won", flush=True)
        while not done.exists() and time.monotonic() < deadline:  # hold until all have tried
            time.sleep(0.01)
except LockError:
    print("lost", flush=True)
"""


def test_racing_processes_exactly_one_wins(state_lock: Path, tmp_path: Path) -> None:
    go, done = tmp_path / "go", tmp_path / "done"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(state_lock), str(go), str(done)],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(6)
    ]
    time.sleep(0.5)  # let every interpreter start and wait for the signal
    go.touch()
    try:
        outcomes = [racer.stdout.readline().strip() for racer in racers if racer.stdout]
    finally:
        done.touch()
        for racer in racers:
            racer.communicate(timeout=60)
    assert sorted(outcomes) == ["lost"] * 5 + ["won"]
    assert not state_lock.exists()


# Mux's own lock


def test_mux_lock_installs_a_marked_directory_and_removes_it(tmp_path: Path) -> None:
    target = tmp_path / ".mux" / "providers.jsonc"
    with MuxLock(target) as lock:
        assert lock.lock_dir == tmp_path / ".mux" / "providers.jsonc.lock"
        entries = list(lock.lock_dir.iterdir())
        # Mux reclaims an EMPTY lock directory at once; a marker naming a live pid keeps it out.
        assert len(entries) == 1
        assert re.fullmatch(r"owner-[0-9a-f]{32}", entries[0].name)
        assert entries[0].read_text() == str(os.getpid())
    assert sorted(p.name for p in target.parent.iterdir()) == []


def test_mux_lock_is_exclusive_and_times_out(tmp_path: Path) -> None:
    target = tmp_path / "providers.jsonc"
    with MuxLock(target):
        started = time.monotonic()
        with pytest.raises(LockError, match="Mux providers lock") as info:
            MuxLock(target, timeout=0.3).acquire()
        assert 0.25 < time.monotonic() - started < 3
        assert str(target) + ".lock" in detail(info)
        assert "running" in detail(info) and "stale" not in detail(info)
    assert not (tmp_path / "providers.jsonc.lock").exists()
    assert [p.name for p in tmp_path.iterdir()] == []  # no stage directory left behind


def test_mux_lock_waits_for_the_holder(tmp_path: Path) -> None:
    target = tmp_path / "providers.jsonc"
    holder = MuxLock(target).acquire()
    timer = threading.Timer(0.3, holder.release)
    timer.start()
    try:
        with MuxLock(target, timeout=10):
            pass
    finally:
        timer.cancel()
        timer.join(timeout=5)


def test_an_empty_lock_directory_is_respected_not_replaced(tmp_path: Path) -> None:
    target = tmp_path / "providers.jsonc"
    lock_dir = tmp_path / "providers.jsonc.lock"
    lock_dir.mkdir()  # an mkdir-only (proper-lockfile) writer holding the lock
    with pytest.raises(LockError) as info:
        MuxLock(target, timeout=0.2).acquire()
    assert "stale" not in detail(info)
    assert lock_dir.is_dir() and list(lock_dir.iterdir()) == []


def test_an_old_mux_lock_is_reported_stale_with_the_directory(tmp_path: Path) -> None:
    target = tmp_path / "providers.jsonc"
    lock_dir = tmp_path / "providers.jsonc.lock"
    lock_dir.mkdir()
    past = time.time() - 120
    os.utime(lock_dir, (past, past))
    with pytest.raises(LockError) as info:
        MuxLock(target, timeout=0).acquire()
    assert "looks stale" in detail(info)
    assert f"rm -r {lock_dir}" in detail(info)
    assert lock_dir.is_dir()


def test_a_mux_lock_whose_owner_died_is_reported_stale(tmp_path: Path) -> None:
    target = tmp_path / "providers.jsonc"
    lock_dir = tmp_path / "providers.jsonc.lock"
    lock_dir.mkdir()
    pid = dead_pid()
    (lock_dir / ("owner-" + "0" * 32)).write_text(str(pid))
    with pytest.raises(LockError) as info:
        MuxLock(target, timeout=0).acquire()
    assert f"Owner pid {pid}: no longer running" in detail(info)
    assert "owner is gone" in detail(info)


def test_mux_release_leaves_a_successors_lock(tmp_path: Path) -> None:
    target = tmp_path / "providers.jsonc"
    lock = MuxLock(target).acquire()
    for marker in lock.lock_dir.iterdir():  # broken as stale, then taken by someone else
        marker.unlink()
    (lock.lock_dir / ("owner-" + "f" * 32)).write_text("1")
    lock.release()
    assert (lock.lock_dir / ("owner-" + "f" * 32)).exists()


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0", 0.0),
        ("30s", 30.0),
        ("5m", 300.0),
        ("1m30s", 90.0),
        ("1h", 3600.0),
        ("1.5s", 1.5),
        ("250ms", 0.25),
        ("2h0m1s", 7201.0),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "30", "s", "-5s", "5 m", "1d", "5m30", "abc", "1.s"])
def test_parse_duration_rejects_bad_input(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)
