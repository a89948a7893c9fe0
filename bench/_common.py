"""What the benchmarks share: a bench venv, hyperfine-style timing of commands, and the wall
time, CPU time and peak RSS of each child process.

The venv (bench/.venv, ignored by git) holds provision installed editable from this checkout plus
whatever a bench needs (ansible-core); it is made on first use with pip, so the benchmarks work
from a fresh clone. Children run with bytecode caching on, into a temporary PYTHONPYCACHEPREFIX
that the bench deletes: timings are of a normal installed program (compiled once in the warm-up
runs), and nothing is written into the checkout.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENV = REPO / "bench" / ".venv"
VENV_PYTHON = VENV / "bin" / "python"
PROVISION = VENV / "bin" / "provision"
INSTALL_TIMEOUT = 900.0


def in_venv(*requirements: str) -> None:
    """Re-run the calling script with the bench venv's python, installing what is missing.

    A venv whose provision declares other console scripts than pyproject.toml is reinstalled.
    """
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    if not VENV_PYTHON.exists():
        print(f"bench: creating {VENV.relative_to(REPO)}", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True, timeout=300)
    wanted = ["provision", *(r.split(">")[0].split("=")[0] for r in requirements)]
    if subprocess.run([str(VENV_PYTHON), "-c", _INSTALLED, _declared(), *wanted],
                      capture_output=True, timeout=60).returncode != 0:
        print(f"bench: pip install -e . {' '.join(requirements)}", file=sys.stderr)
        subprocess.run([str(VENV_PYTHON), "-m", "pip", "install", "-q",
                        "--disable-pip-version-check", "-e", str(REPO), *requirements],
                       check=True, timeout=INSTALL_TIMEOUT)
    os.execv(VENV_PYTHON, [str(VENV_PYTHON), sys.argv[0], *sys.argv[1:]])


# Run in the bench venv: exit 0 when every named distribution is installed and provision's
# console scripts are the ones pyproject.toml declares now. An editable install keeps the
# metadata of the day it was made, so a console script changed since would otherwise be
# benchmarked in its old form.
_INSTALLED = """
import importlib.metadata as m, json, sys
for name in sys.argv[2:]:
    m.version(name)
dist = m.distribution("provision")
scripts = {e.name: e.value for e in dist.entry_points if e.group == "console_scripts"}
sys.exit(scripts != json.loads(sys.argv[1]))
"""


def _declared() -> str:
    """provision's console scripts as pyproject.toml declares them, in JSON."""
    return json.dumps(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"])


@contextmanager
def workdir(prefix: str) -> Iterator[Path]:
    """A temporary directory, removed afterwards whatever happens."""
    with tempfile.TemporaryDirectory(prefix=f"provision-bench-{prefix}-") as tmp:
        yield Path(tmp)


def child_env(work: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPATH", "PYTHONSTARTUP")}
    env.update(PYTHONPYCACHEPREFIX=str(work / "pycache"), NO_COLOR="1", **extra)
    return env


@dataclass(frozen=True, slots=True)
class Sample:
    wall: float  # seconds
    cpu: float  # user + system seconds of the child
    max_rss_kib: int
    # Linux counts the pages a child shared with the bench process before exec in its
    # ru_maxrss: a peak at or below the bench's own tells only that it is no larger.
    floor_kib: int


def run(cmd: Sequence[str | os.PathLike[str]], *, env: Mapping[str, str], cwd: Path = REPO,
        timeout: float = 120.0, codes: Sequence[int] = (0,)) -> tuple[Sample, str]:
    """Run once: its measures and its standard output (read from a pipe, not a terminal).
    Fails on an unexpected exit code or after `timeout` seconds."""
    floor = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen([os.fspath(c) for c in cmd], env=dict(env), cwd=cwd,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            assert proc.stdout is not None
            with proc.stdout:
                out = proc.stdout.read()
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - started
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        if code not in codes:
            err.seek(0)
            shown = " ".join(os.fspath(c) for c in cmd)
            raise SystemExit(f"bench: `{shown}` exited {code} (timeout {timeout:g} s)\n"
                             f"{err.read().decode(errors='replace')[-2000:]}")
    return Sample(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, floor), out.decode()


@dataclass(frozen=True, slots=True)
class Result:
    name: str
    samples: tuple[Sample, ...]

    @property
    def median(self) -> float:
        return statistics.median(s.wall for s in self.samples)

    @property
    def fastest(self) -> float:
        return min(s.wall for s in self.samples)

    @property
    def cpu(self) -> float:
        return statistics.median(s.cpu for s in self.samples)

    @property
    def max_rss_mib(self) -> float:
        return max(s.max_rss_kib for s in self.samples) / 1024

    @property
    def rss(self) -> str:
        floor = max(s.floor_kib for s in self.samples) / 1024
        peak = self.max_rss_mib
        return f"{peak:7.1f} MiB" if peak > floor + 1 else f"<={floor:5.1f} MiB"

    def row(self) -> str:
        return (f"  {self.name:<50} {ms(self.median):>9} {ms(self.fastest):>9} "
                f"{ms(self.cpu):>9} {self.rss:>11}  (n={len(self.samples)})")


HEADER = f"  {'command':<50} {'median':>9} {'min':>9} {'cpu':>9} {'peak RSS':>11}"


def measure(name: str, cmd: Sequence[str | os.PathLike[str]], *, env: Mapping[str, str],
            runs: int, warmup: int, cwd: Path = REPO, timeout: float = 120.0,
            codes: Sequence[int] = (0,)) -> Result:
    """hyperfine-style: `warmup` runs thrown away, then `runs` timed ones."""
    (result,) = measure_rounds([(name, cmd)], env=env, runs=runs, warmup=warmup, cwd=cwd,
                               timeout=timeout, codes=codes)
    return result


def measure_rounds(commands: Sequence[tuple[str, Sequence[str | os.PathLike[str]]]], *,
                   env: Mapping[str, str], runs: int, warmup: int, cwd: Path = REPO,
                   timeout: float = 120.0, codes: Sequence[int] = (0,)) -> list[Result]:
    """Like `measure` for several commands at once, interleaved: each round runs every command
    once, so a machine that speeds up or slows down during the run (a shared one does) moves
    them all alike, and `ratio` compares them round by round."""
    for _ in range(warmup):
        for _name, cmd in commands:
            run(cmd, env=env, cwd=cwd, timeout=timeout, codes=codes)
    rounds = [[run(cmd, env=env, cwd=cwd, timeout=timeout, codes=codes)[0]
               for _name, cmd in commands]
              for _ in range(runs)]
    results = [Result(name, tuple(r[i] for r in rounds)) for i, (name, _) in enumerate(commands)]
    for result in results:
        print(result.row(), flush=True)
    return results


def ratio(a: Result, b: Result) -> float:
    """The median over rounds of a's wall time over b's (both from one `measure_rounds`)."""
    return statistics.median(x.wall / y.wall for x, y in zip(a.samples, b.samples, strict=True))


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 10 else f"{seconds:.2f} s"


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def machine() -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
            f"load average {load} (1/5/15 min)")
