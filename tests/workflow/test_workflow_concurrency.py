"""Two applies at once and an apply killed mid-way, as real processes.

The overlap is made certain rather than hoped for: the first apply asks for approval on a
pseudo-terminal and holds the state lock until the test answers, however long the others take to
start on a busy machine. The kill lands between two writes for certain: apply reports each
written file on stdout, and with the pipe shrunk to one page and nobody reading it, apply blocks
after a few dozen of its 200 files.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pty
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from workflow_kit import (
    CANARY_OPENAI,
    CANARY_TOKEN,
    PROCESS_TIMEOUT,
    Cli,
    assert_no_canary,
    gitops,
    proc_env,
    provision_cmd,
    run_proc,
    wait_for,
)

from provision.probe.bridgesim import BridgeSim
from provision.state import load_state

MANY = 200


@contextlib.contextmanager
def started(
    *args: object, cwd: Path, env: dict[str, str], **popen: Any
) -> Iterator[subprocess.Popen[bytes]]:
    with subprocess.Popen(provision_cmd(*args), cwd=cwd, env=env, **popen) as proc:
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=PROCESS_TIMEOUT)


@contextlib.contextmanager
def terminal() -> Iterator[tuple[int, int]]:
    """A pseudo-terminal as (leader, follower): apply asks for approval only on a terminal."""
    leader, follower = pty.openpty()
    try:
        yield leader, follower
    finally:
        os.close(leader)
        os.close(follower)


def test_two_applies_one_wins_the_other_fails_or_waits(
    tmp_path: Path, bridge_sim: Callable[..., BridgeSim], mux_parse: Callable[[str], Any]
) -> None:
    sim = bridge_sim()
    spec, f = gitops(tmp_path, sim.url)
    env = proc_env(CODER_SESSION_TOKEN=CANARY_TOKEN)
    lock = spec / ".provision" / "state.lock"
    with (
        terminal() as (leader, follower),
        started(
            "apply",
            *f,
            cwd=tmp_path,
            env=env,
            stdin=follower,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        ) as first,
    ):
        wait_for(lock.exists, PROCESS_TIMEOUT, "the first apply to take the state lock")
        holder = json.loads(lock.read_text())  # a lock appears with its holder already in it
        assert holder["Pid"] == first.pid and holder["Operation"] == "apply"
        with started(
            "apply",
            *f,
            "-auto-approve",
            "-lock-timeout=60s",
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        ) as waiter:
            second = run_proc("apply", *f, "-auto-approve", cwd=tmp_path, env=env)
            assert first.poll() is None, "the first apply ended before its approval"
            assert second.code == 1
            assert "Error acquiring the state lock" in second.err
            assert f"Pid:       {first.pid}" in second.err
            os.write(leader, b"yes\n")
            out, err = first.communicate(timeout=PROCESS_TIMEOUT)
            assert first.returncode == 0, err.decode()
            assert "Do you want to perform these actions?" in out.decode()
            assert "Apply complete!" in out.decode()
            w_out, w_err = waiter.communicate(timeout=PROCESS_TIMEOUT)
            assert waiter.returncode == 0, w_err.decode()
            assert "No changes." in w_out.decode()
            for text in (out, err, w_out, w_err):
                assert_no_canary(text.decode(), "a concurrent apply's output")
    assert_no_canary(second.text, "the losing apply's output")
    assert not lock.exists()
    state = load_state(spec / ".provision" / "state.json")
    assert state.serial == 1  # one apply wrote; the waiter found nothing to do
    for resource in state.resources.values():
        path = Path(resource.path)
        if path.name == "providers.jsonc":
            mux_parse(path.read_text())
        assert path.is_file()


def many_targets(root: Path, version: str) -> None:
    targets = {
        f"t{i:03}": {"type": "shell_exports", "deployment": "dev", "path": f"out/f{i:03}.sh"}
        for i in range(MANY)
    }
    spec = {
        "version": 1,
        "deployments": {
            "dev": {
                "providers": {
                    "openai": {
                        "base_url": f"http://127.0.0.1:9/{version}/v1",
                        "api_key": {"env": "OPENAI_KEY"},
                    }
                }
            }
        },
        "targets": targets,
    }
    root.mkdir(exist_ok=True)
    (root / "provision.yaml").write_text(yaml.safe_dump(spec))


def test_apply_killed_between_writes_leaves_old_or_new(tmp_path: Path, cli: Cli) -> None:
    root = tmp_path / "spec"
    many_targets(root, "old")
    cli.ok("apply", "-f", root, "-auto-approve", "--no-probe")
    old = {p.name: p.read_bytes() for p in (root / "out").iterdir()}
    new = {name: data.replace(b"/old/v1", b"/new/v1") for name, data in old.items()}
    state_before = (root / ".provision" / "state.json").read_bytes()
    many_targets(root, "new")

    env = proc_env(OPENAI_KEY=CANARY_OPENAI)
    with started(
        "apply",
        "-f",
        root,
        "-auto-approve",
        "--no-probe",
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    ) as proc:
        assert proc.stdout is not None
        fcntl.fcntl(proc.stdout.fileno(), fcntl.F_SETPIPE_SZ, 4096)
        deadline = time.monotonic() + PROCESS_TIMEOUT
        while b"Modifications complete" not in proc.stdout.readline():
            assert proc.poll() is None and time.monotonic() < deadline
        # Stop reading: apply blocks once the pipe is full. Wait until it writes no more.
        written = -1
        while written != (
            now := sum(p.read_bytes() == new[p.name] for p in (root / "out").glob("*.sh"))
        ):
            written = now
            time.sleep(0.2)
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=PROCESS_TIMEOUT) == -signal.SIGKILL

    files = {p.name: p.read_bytes() for p in (root / "out").iterdir()}
    assert set(files) == set(old), "a temporary file or a stray file was left behind"
    states = {
        name: "new" if data == new[name] else "old" if data == old[name] else "torn"
        for name, data in files.items()
    }
    assert "torn" not in states.values()
    assert 0 < list(states.values()).count("new") < MANY, "the kill did not land mid-apply"
    # The state was not written for a run that never finished: still the old, valid one.
    assert (root / ".provision" / "state.json").read_bytes() == state_before
    load_state(root / ".provision" / "state.json")

    # The dead run's lock is reported as stale, removed by ID, and a new apply finishes the job
    # without --force: files already new are not drift.
    blocked = cli("apply", "-f", root, "-auto-approve", "--no-probe")
    assert blocked.code == 1 and "The lock is stale" in blocked.err
    lock_id = json.loads((root / ".provision" / "state.lock").read_text())["ID"]
    cli.ok("force-unlock", lock_id, "-f", root)
    cli.ok("apply", "-f", root, "-auto-approve", "--no-probe")
    assert {p.name: p.read_bytes() for p in (root / "out").iterdir()} == new
    assert cli("plan", "-f", root, "-detailed-exitcode").code == 0


# Longer than any of these tests runs: every probe waits until the test stops the sim (which
# ends pending waits at once), so the signal always lands while the preflight is still probing.
HELD = 60.0


def stop_during_preflight(
    tmp_path: Path, sim: BridgeSim, signum: int
) -> tuple[Path, subprocess.Popen[bytes], str]:
    spec, f = gitops(tmp_path, sim.url)
    env = proc_env(CODER_SESSION_TOKEN=CANARY_TOKEN)
    with started(
        "apply",
        *f,
        "-auto-approve",
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as proc:
        wait_for(lambda: bool(sim.requests), what="the preflight's first probe request")
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=PROCESS_TIMEOUT)
    text = (out + err).decode()
    assert_no_canary(text, "the stopped apply's output")
    return spec, proc, text


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGINT], ids=["KILL", "INT"])
def test_apply_stopped_during_preflight_writes_nothing(
    tmp_path: Path, bridge_sim: Callable[..., BridgeSim], signum: int
) -> None:
    spec, proc, _ = stop_during_preflight(tmp_path, bridge_sim(latency=HELD), signum)
    assert proc.returncode != 0
    assert not (tmp_path / "out").exists()
    assert not (spec / ".provision" / "state.json").exists()
    if signum == signal.SIGINT:  # a clean stop releases its lock
        assert not (spec / ".provision" / "state.lock").exists()


def test_ctrl_c_exits_130(tmp_path: Path, bridge_sim: Callable[..., BridgeSim]) -> None:
    _, proc, text = stop_during_preflight(tmp_path, bridge_sim(latency=HELD), signal.SIGINT)
    assert (proc.returncode, "Interrupted." in text) == (130, True)
