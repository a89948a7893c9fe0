"""Startup benchmark: `provision --help` and `provision validate` against a bare interpreter.

Prints the median wall time of each (warm-up runs, then timed rounds that run every command once,
so the machine's drift moves them alike) and its ratio to `python -c pass` from the same
interpreter (the median of the per-round ratios), then checks, with `-X importtime`, that
neither path imports httpx, deepdiff or jinja2. Exits 1 if one does. Runs in the bench venv
(made on first use); bounded by a timeout per run.

    python bench/startup.py [--runs 20] [--warmup 3]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c

HEAVY = ("httpx", "deepdiff", "jinja2")
TOKEN = "bench-startup-token"


def imported(args: list[str], env: dict[str, str]) -> list[tuple[str, int]]:
    """(module, µs spent in it) for every module the command imports."""
    proc = subprocess.run([str(c.VENV_PYTHON), "-X", "importtime", str(c.PROVISION), *args],
                          env=env, cwd=c.REPO, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise SystemExit(f"bench: provision {' '.join(args)} exited {proc.returncode}\n"
                         f"{proc.stderr[-2000:]}")
    rows = re.findall(r"^import time:\s+(\d+) \|\s+\d+ \| +(\S+)$", proc.stderr, re.M)
    return [(name, int(own)) for own, name in rows]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args(argv)
    c.in_venv()

    commands = {
        "provision --help": ["--help"],
        "provision validate -f examples/laptop-local-models":
            ["validate", "-f", "examples/laptop-local-models"],
    }
    print(f"startup: {c.machine()}")
    ok = True
    with c.workdir("startup") as work:
        env = c.child_env(work, CODER_SESSION_TOKEN=TOKEN)
        print(c.HEADER)
        base, *results = c.measure_rounds(
            [("python -c pass", [c.VENV_PYTHON, "-c", "pass"]),
             *((name, [c.PROVISION, *cmd]) for name, cmd in commands.items())],
            env=env, runs=args.runs, warmup=args.warmup)
        print("\nratio to `python -c pass` (median of the per-round ratios of wall time):")
        for r in results:
            print(f"  {r.name:<52} {c.ratio(r, base):5.1f}x")
        print("\nmodules imported (-X importtime), heavy ones must be absent:")
        for name, cmd in commands.items():
            rows = imported(cmd, env)
            heavy = sorted({m.split(".")[0] for m, _ in rows} & set(HEAVY))
            ok = ok and not heavy
            own = sum(o for _, o in rows) / 1000
            print(f"  {name:<52} {len(rows)} modules, {own:.0f} ms importing; "
                  f"{', '.join(HEAVY)}: {'IMPORTED ' + ', '.join(heavy) if heavy else 'none'}")
    print(f"\n  target: no {', '.join(HEAVY)} on these paths: {c.verdict(ok)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
