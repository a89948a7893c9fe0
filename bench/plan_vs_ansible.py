"""`provision plan` against `ansible-playbook --check --diff` on the same files.

The files are those `provision plan` shows for examples/gitops-aibridge/spec (providers.jsonc
for prod and staging, the staging API key file, the coder_env Terraform and the shell exports):
their exact bytes, as provision renders them, become Jinja templates for Ansible's `template`
module (the URLs, the output directory and the token as variables), run against localhost with
the local connection. A real (not --check) Ansible run first proves the templates reproduce
provision's bytes and modes. Both tools then plan from an empty output directory: median of N
runs each, hyperfine-style (warm-up runs first). Also timed, in rounds interleaved with the
plan runs so that the machine's drift cancels out: `python -c pass`, for the startup ratio (the
median of the per-round ratios), and `python -c "import yaml"`: what the spec parser every plan
needs costs before provision runs a line of its own (an everyday `plan` command line does not
import click: provision.cli._options reads it).

Exits 1 if a target is missed. Runs in the bench venv with ansible-core from PyPI (installed on
first use); every run has a timeout; the temporary directory is removed at the end.

    python bench/plan_vs_ansible.py [--runs 15] [--ansible-runs 5] [--warmup 2]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shlex
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c

SPEC = c.REPO / "examples" / "gitops-aibridge" / "spec"
PROD_URL = "https://coder.example.com"
STAGING_URL = "https://coder-staging.example.com"
JINJA_MARKS = ("{{", "{%", "{#")
TARGET_VS_ANSIBLE = 10.0
TARGET_VS_PYTHON = 6.0


def assignments(out_dir: Path) -> list[str]:
    """The variables examples/demo.sh sets, with a temporary out_dir."""
    return [f"prod_coder_url={PROD_URL}", f"staging_coder_url={STAGING_URL}",
            f"out_dir={out_dir}"]


def plan_args(out_dir: Path, state: Path) -> list[str]:
    var_flags = [flag for a in assignments(out_dir) for flag in ("-var", a)]
    return ["plan", "-f", str(SPEC), *var_flags, "-state", str(state)]


def rendered(out_dir: Path, state: Path, token: str) -> list[tuple[Path, bytes, int]]:
    """(path relative to out_dir, content, mode) of every file the plan would write."""
    from provision import api
    from provision.spec.variables import VarArg

    var_args = [VarArg("var", a) for a in assignments(out_dir)]
    plan = api.plan(SPEC, env={**os.environ, "CODER_SESSION_TOKEN": token},
                    var_args=var_args, state=state)
    files = [(ch.artifact.path.relative_to(out_dir), ch.artifact.content, ch.artifact.mode)
             for ch in plan.changes if ch.action == "create" and ch.artifact is not None]
    if not files or any(ch.action != "create" for ch in plan.changes):
        raise SystemExit("bench: expected a plan that only creates files")
    return files


def template(content: bytes, out_dir: Path, token: str) -> str:
    """The file's text with the values provision took from variables as Jinja expressions."""
    text = content.decode()
    if any(mark in text for mark in JINJA_MARKS):
        raise SystemExit("bench: rendered content holds Jinja syntax; cannot use it as is")
    for value, expr in ((str(out_dir), "out_dir"), (STAGING_URL, "staging_coder_url"),
                        (PROD_URL, "prod_coder_url"),
                        (token, "lookup('ansible.builtin.env', 'CODER_SESSION_TOKEN')")):
        text = text.replace(value, "{{ " + expr + " }}")
    return text


def write_playbook(work: Path, files: list[tuple[Path, bytes, int]], out_dir: Path,
                   token: str) -> Path:
    """One task per directory and one `template` task per file, as a hand-written play would."""
    templates = work / "ansible" / "templates"
    tasks = []
    for d in sorted({str(rel.parent) for rel, _, _ in files}):
        tasks.append({"name": f"directory {d}",
                      "ansible.builtin.file": {"path": "{{ out_dir }}/" + d,
                                               "state": "directory", "mode": "0755"}})
    for i, (rel, content, mode) in enumerate(files):
        src = templates / f"{i}-{rel.name}.j2"
        src.parent.mkdir(parents=True, exist_ok=True)
        src.write_text(template(content, out_dir, token))
        tasks.append({"name": f"render {rel}",
                      "ansible.builtin.template": {"src": str(src),
                                                   "dest": "{{ out_dir }}/" + str(rel),
                                                   "mode": f"0{mode:o}"}})
    play = [{"name": "gitops-aibridge files", "hosts": "localhost", "connection": "local",
             "gather_facts": False,
             "vars": {"prod_coder_url": PROD_URL, "staging_coder_url": STAGING_URL},
             "tasks": tasks}]
    path = work / "ansible" / "playbook.yml"
    path.write_text(json.dumps(play, indent=2))  # JSON is YAML
    return path


def ansible_env(work: Path, token: str) -> dict[str, str]:
    home = work / "ansible" / "home"
    config = work / "ansible" / "ansible.cfg"
    config.write_text("[defaults]\n")  # no user or system ansible.cfg
    return c.child_env(work, CODER_SESSION_TOKEN=token, ANSIBLE_CONFIG=str(config),
                       ANSIBLE_HOME=str(home), ANSIBLE_LOCAL_TEMP=str(home / "tmp"),
                       ANSIBLE_REMOTE_TEMP=str(home / "tmp"), ANSIBLE_NOCOLOR="1",
                       ANSIBLE_LOCALHOST_WARNING="false",
                       ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
                       ANSIBLE_RETRY_FILES_ENABLED="false")


def ansible_cmd(playbook: Path, out_dir: Path, *, check: bool) -> list[str]:
    cmd = [str(c.VENV / "bin" / "ansible-playbook"), "-i", "localhost,", "-c", "local",
           "-e", f"out_dir={out_dir}", "-e", f"ansible_python_interpreter={c.VENV_PYTHON}",
           str(playbook)]
    return [*cmd, "--check", "--diff"] if check else cmd


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="timed runs of provision, python")
    parser.add_argument("--ansible-runs", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args(argv)
    c.in_venv("ansible-core")

    token = "bench-" + secrets.token_hex(16)
    print(f"plan vs ansible: {c.machine()}")
    with c.workdir("plan") as work:
        out_dir, state = work / "out", work / "state.json"
        files = rendered(out_dir, state, token)
        playbook = write_playbook(work, files, out_dir, token)
        aenv = ansible_env(work, token)

        # A real run first: Ansible's files must be provision's bytes. Then back to empty.
        c.run(ansible_cmd(playbook, out_dir, check=False), env=aenv, timeout=300)
        for rel, content, mode in files:
            got = (out_dir / rel).read_bytes()
            if got != content or (out_dir / rel).stat().st_mode & 0o777 != mode:
                raise SystemExit(f"bench: Ansible rendered {rel} differently from provision")
        shutil.rmtree(out_dir)
        print(f"  {len(files)} files, identical from both tools: "
              f"{', '.join(str(rel) for rel, _, _ in files)}")

        penv = c.child_env(work, CODER_SESSION_TOKEN=token)
        plan = [str(c.PROVISION), *plan_args(out_dir, state)]
        print(f"  $ provision {shlex.join(plan[1:])}".replace(str(work), "$TMP"))
        print(c.HEADER)
        base, floor, ours = c.measure_rounds(
            [("python -c pass", [c.VENV_PYTHON, "-c", "pass"]),
             ('python -c "import yaml"', [c.VENV_PYTHON, "-c", "import yaml"]),
             ("provision plan", plan)],
            env=penv, runs=args.runs, warmup=args.warmup)
        theirs = c.measure("ansible-playbook --check --diff",
                           ansible_cmd(playbook, out_dir, check=True), env=aenv,
                           runs=args.ansible_runs, warmup=1, timeout=300)
        if out_dir.exists():
            raise SystemExit("bench: a plan wrote to the output directory")

    faster, slower = theirs.median / ours.median, c.ratio(ours, base)
    ok_ansible, ok_python = faster >= TARGET_VS_ANSIBLE, slower <= TARGET_VS_PYTHON
    print(f"\n  provision plan is {faster:.1f}x faster than ansible-playbook --check --diff "
          f"(target >= {TARGET_VS_ANSIBLE:g}x): {c.verdict(ok_ansible)}")
    print(f"  provision plan takes {slower:.1f}x the time of python -c pass "
          f"(target <= {TARGET_VS_PYTHON:g}x): {c.verdict(ok_python)}")
    deps = c.ratio(floor, base)
    own = slower - deps
    print(f"  of which starting Python and importing PyYAML take {deps:.1f}x; "
          f"provision's own imports and work, {own:.1f}x")
    return 0 if ok_ansible and ok_python else 1


if __name__ == "__main__":
    sys.exit(main())
