"""Scale benchmark: `provision plan` on generated specs of 100, 500 and 1,000 deployments.

Each deployment has a Coder block and four providers (OpenAI and Anthropic bridged through AI
Bridge, Groq with an API key from the environment, a local Ollama) and three targets
(mux_providers with inline secrets, coder_agent_env, shell_exports); the largest is timed again
split over three files, as a GitOps repo lays it out. Timed per size, median of N runs:
`provision.api.plan` in a fresh worker process (the call only, the first in its process, as the
CLI makes it) and the CLI `provision plan` in a subprocess (everything a user waits for). Peak
RSS is the child's ru_maxrss. Growth must be linear (twice the deployments in at most 2.3 times
the time) and 1,000 deployments planned in at most 5 s.

Exits 1 if a target is missed. Runs in the bench venv (made on first use); every run has a
timeout; the generated specs live in a temporary directory removed at the end.

    python bench/scale.py [--sizes 100 500 1000] [--split 1000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c

TARGET_SECONDS = 5.0
TARGET_GROWTH = 2.3
ENV = {"CODER_SESSION_TOKEN": "bench-coder-token", "GROQ_API_KEY": "bench-groq-key"}
WORKER = """\
import json, sys, time
from provision import api
started = time.perf_counter()
plan = api.plan(sys.argv[1], state=sys.argv[2])
print(json.dumps({"seconds": time.perf_counter() - started, "changes": len(plan.changes)}))
"""


def deployments(start: int, n: int) -> list[str]:
    out = ["deployments:"]
    for i in range(start, n):
        out += [
            f"  d{i:04d}:",
            f"    description: Generated deployment {i}.",
            f"    coder: {{url: 'https://coder-{i:04d}.example.com', "
            "token: {env: CODER_SESSION_TOKEN}}",
            "    providers:",
            "      openai: {via: aibridge, models: [gpt-5, gpt-5-codex]}",
            "      anthropic:",
            "        via: aibridge",
            "        models: [claude-sonnet-4-5]",
            "        model_parameters: {'*': {max_output_tokens: 8192}}",
            "      groq: {api_key: {env: GROQ_API_KEY}, models: [llama-3.3-70b-versatile]}",
            "      ollama: {base_url: 'http://localhost:11434', models: ['qwen3-coder:30b']}",
        ]
    return out


def targets(n: int) -> list[str]:
    out = ["targets:"]
    for i in range(n):
        d = f"d{i:04d}"
        out += [
            f"  {d}_mux: {{type: mux_providers, deployment: {d}, "
            f"path: out/{d}/providers.jsonc, secrets: inline}}",
            f"  {d}_env: {{type: coder_agent_env, deployment: {d}, path: out/{d}/aibridge.tf}}",
            f"  {d}_sh: {{type: shell_exports, deployment: {d}, path: out/{d}/aibridge.sh}}",
        ]
    return out


def write_spec(root: Path, n: int, *, split: bool) -> None:
    """One file; or, as a GitOps repo lays it out, the deployments over two files that both
    have a `deployments:` section (merged by name) and the targets in a third."""
    root.mkdir()
    files = {"provision.yaml": [*deployments(0, n), *targets(n)]} if not split else {
        "00-first.yaml": deployments(0, 1), "10-deployments.yaml": deployments(1, n),
        "20-targets.yaml": targets(n)}
    for name, lines in files.items():
        (root / name).write_text("\n".join(["version: 1", *lines]) + "\n")


def timed(work: Path, env: dict[str, str], n: int, *, split: bool, runs: int) -> Row:
    root = work / f"spec-{n}{'-split' if split else ''}"
    write_spec(root, n, split=split)
    state = work / f"{root.name}.state.json"
    api_runs = []
    for _ in range(runs):
        sample, out = c.run([c.VENV_PYTHON, "-c", WORKER, root, state], env=env, timeout=120)
        doc = json.loads(out)
        if doc["changes"] != 3 * n:
            raise SystemExit(f"bench: {doc['changes']} changes for {n} deployments")
        api_runs.append((doc["seconds"], sample.max_rss_kib / 1024))
    cli = c.Result(f"plan {n}", tuple(
        c.run([c.PROVISION, "plan", "-f", root, "-state", state], env=env, timeout=120)[0]
        for _ in range(runs)))
    row = Row(n, split, statistics.median(s for s, _ in api_runs),
              max(r for _, r in api_runs), cli)
    print(row.line(), flush=True)
    return row


@dataclass(frozen=True, slots=True)
class Row:
    n: int
    split: bool
    api: float
    api_rss: float
    cli: c.Result

    def line(self) -> str:
        label = f"{self.n}{' in 3 files' if self.split else ''}"
        return (f"  {label:>16} {3 * self.n:>7} {c.ms(self.api):>9} {self.api_rss:5.0f} MiB "
                f"{c.ms(self.cli.median):>9} {self.cli.max_rss_mib:5.0f} MiB "
                f"{c.ms(self.cli.cpu):>9}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 500, 1000])
    parser.add_argument("--split", type=int, nargs="*", default=[1000],
                        help="sizes to time again as a spec split over three files")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    c.in_venv()

    print(f"scale: {c.machine()}")
    with c.workdir("scale") as work:
        env = c.child_env(work, **ENV)
        c.run([c.PROVISION, "--help"], env=env)  # compile the bytecode once
        print(f"  {'deployments':>16} {'targets':>7} {'api.plan':>9} {'api RSS':>9} "
              f"{'CLI plan':>9} {'CLI RSS':>9} {'CLI cpu':>9}")
        rows = {n: timed(work, env, n, split=False, runs=args.runs) for n in sorted(args.sizes)}
        split = [timed(work, env, n, split=True, runs=args.runs) for n in sorted(args.split)]

    ok = True
    pairs = [(n, 2 * n) for n in sorted(rows) if 2 * n in rows]
    for n, m in pairs:
        api_growth = rows[m].api / rows[n].api
        cli_growth = rows[m].cli.median / rows[n].cli.median
        good = max(api_growth, cli_growth) <= TARGET_GROWTH
        ok = ok and good
        print(f"\n  {m} vs {n} deployments: api.plan {api_growth:.2f}x, CLI {cli_growth:.2f}x "
              f"the time (target <= {TARGET_GROWTH:g}x): {c.verdict(good)}")
    if not pairs:
        print("\n  no size twice another: growth not checked")
    per = [f"{n}: {r.cli.median / n * 1000:.2f} ms" for n, r in sorted(rows.items())]
    print(f"  CLI time per deployment: {', '.join(per)}")
    for row in [rows[n] for n in sorted(rows) if n >= 1000] + [r for r in split if r.n >= 1000]:
        good = row.cli.median <= TARGET_SECONDS
        ok = ok and good
        layout = "split over 3 files" if row.split else "in one file"
        print(f"  {row.n} deployments {layout} planned by the CLI in {c.ms(row.cli.median)} "
              f"(target <= {TARGET_SECONDS:g} s): {c.verdict(good)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
