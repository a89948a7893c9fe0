"""The plan/apply/destroy case table: each tests/workflow/cases/*.yaml is one case.

A case starts from the spec in cases/_base.yaml and says:

    applied: {set: …, unset: […]}   apply this spec (--no-probe) first; {} is the base spec
    edit: [ … ]                     then change files by hand: write, append, replace, chmod,
                                    remove, symlink, json_set (a user entry in a JSONC file),
                                    forget_state
    spec: {set: …, unset: […]}      the spec to plan (default: the base spec)
    plan_args: [ … ]                extra plan arguments (-target …)
    expect:                         what `plan -json` and `plan -detailed-exitcode` report
      exit, summary, resources {address: {actions, drift, reason}} (every other address must be
      a no-op), absent [addresses], warnings [summaries], output / not_output [plan text]
    then: [ {spec: {…}, run: [command, args…], exit, output, not_output, output_is,
             files: {path: checks}} ]

`set` keys are dotted paths into the spec. File checks: exists, mode, contains, not_contains,
json (a subset of the parsed JSONC), json_absent (dotted keys that must not be there), count
(the path is a glob: how many files match).
"""

from __future__ import annotations

import copy
import json
import os
import stat
from pathlib import Path
from typing import Any

import json5
import pytest
import yaml
from workflow_kit import Cli, holds_secrets_by_design, scan_tree, walk

CASES = Path(__file__).parent / "cases"
BASE = yaml.safe_load((CASES / "_base.yaml").read_text())
CASE_FILES = sorted(p for p in CASES.glob("*.yaml") if not p.name.startswith("_"))


def spec_text(patch: dict[str, Any] | None) -> str:
    spec = copy.deepcopy(BASE["spec"])
    patch = patch or {}
    for dotted, value in (patch.get("set") or {}).items():
        node, key = walk(spec, dotted)
        node[key] = value
    for dotted in patch.get("unset") or ():
        node, key = walk(spec, dotted)
        del node[key]
    return yaml.safe_dump(spec, sort_keys=False)


def edit(root: Path, step: dict[str, Any]) -> None:
    if step.get("forget_state"):
        (root / ".provision" / "state.json").unlink()
        return
    ((kind, name),) = (
        (k, v)
        for k, v in step.items()
        if k not in ("text", "old", "new", "mode", "key", "value", "to")
    )
    path = root / name
    if kind == "write":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(step["text"])
    elif kind == "append":
        with path.open("a") as f:
            f.write(step["text"])
    elif kind == "replace":
        text = path.read_text()
        assert step["old"] in text, f"{name} lacks {step['old']!r}"
        path.write_text(text.replace(step["old"], step["new"]))
    elif kind == "chmod":
        path.chmod(int(step["mode"], 8))
    elif kind == "remove":
        path.unlink()
    elif kind == "symlink":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to(root / step["to"])
    elif kind == "json_set":
        # As Mux's settings UI saves: parsed, one key added, written back as plain JSON.
        doc = json5.loads(path.read_text())
        doc[step["key"]] = step["value"]
        mode = stat.S_IMODE(path.stat().st_mode)
        path.write_text(json.dumps(doc, indent=2) + "\n")
        path.chmod(mode)
    else:
        raise AssertionError(f"unknown edit {kind}")


def lookup(doc: Any, dotted: str) -> Any:
    for key in dotted.split("."):
        if not isinstance(doc, dict) or key not in doc:
            return KeyError
        doc = doc[key]
    return doc


def assert_subset(actual: Any, expected: Any, where: str) -> None:
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}: {actual!r} is not a mapping"
        for key, value in expected.items():
            assert key in actual, f"{where}.{key} is missing"
            assert_subset(actual[key], value, f"{where}.{key}")
    else:
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"


def check_files(root: Path, checks: dict[str, dict[str, Any]]) -> None:
    for name, check in checks.items():
        path = root / name
        if "count" in check:  # name is a glob
            found = sorted(root.glob(name))
            assert len(found) == check["count"], f"{name}: {found}"
            continue
        if "exists" in check:
            assert path.exists() == check["exists"], f"{name} exists: {path.exists()}"
            if not check["exists"]:
                continue
        assert path.is_file(), f"{name} was not written"
        if "mode" in check:
            assert f"{stat.S_IMODE(path.stat().st_mode):04o}" == check["mode"], name
        text = path.read_text()
        for s in check.get("contains", ()):
            assert s in text, f"{name} lacks {s!r}"
        for s in check.get("not_contains", ()):
            assert s not in text, f"{name} still has {s!r}"
        if "json" in check or "json_absent" in check:
            doc = json5.loads(text)
            assert_subset(doc, check.get("json", {}), name)
            for dotted in check.get("json_absent", ()):
                assert lookup(doc, dotted) is KeyError, f"{name} still has {dotted}"


def check_output(run_text: str, step: dict[str, Any], where: str) -> None:
    for s in step.get("output", ()):
        assert s in run_text, f"{where}: output lacks {s!r}:\n{run_text}"
    for s in step.get("not_output", ()):
        assert s not in run_text, f"{where}: output has {s!r}:\n{run_text}"
    if "output_is" in step:
        assert run_text.strip() == step["output_is"], where


def check_plan(doc: dict[str, Any], expect: dict[str, Any]) -> None:
    changes = {rc["address"]: rc for rc in doc["resource_changes"]}
    drift = {d["address"]: d["reason"] for d in doc["drift"]}
    if "summary" in expect:
        assert doc["summary"] == expect["summary"]
    wanted = expect.get("resources", {})
    for address, rc in changes.items():
        want = wanted.get(address, {"actions": ["no-op"], "drift": False})
        assert rc["change"]["actions"] == want["actions"], address
        if "drift" in want:
            assert (address in drift) == want["drift"], f"{address} drift: {drift}"
        if "reason" in want:
            assert drift.get(address) == want["reason"], address
    missing = set(wanted) - set(changes)
    assert not missing, f"not in the plan: {missing}"
    for address in expect.get("absent", ()):
        assert address not in changes, address
    summaries = [w["summary"] for w in doc["warnings"]]
    for w in expect.get("warnings", ()):
        assert w in summaries, summaries
    assert doc["changes_present"] == (expect.get("exit") == 2)


@pytest.mark.parametrize("case_file", CASE_FILES, ids=[p.stem for p in CASE_FILES])
def test_case(case_file: Path, tmp_path: Path, cli: Cli) -> None:
    case = yaml.safe_load(case_file.read_text())
    root = tmp_path / "spec"
    root.mkdir()
    for name, text in BASE["files"].items():
        (root / name).write_text(text)
    spec_file = root / "provision.yaml"
    if "applied" in case:
        spec_file.write_text(spec_text(case["applied"]))
        cli.ok("apply", "-f", root, "-auto-approve", "--no-probe")
    spec_file.write_text(spec_text(case.get("spec")))
    for step in case.get("edit", ()):
        edit(root, step)

    plan_args = [str(a) for a in case.get("plan_args", ())]
    expect = case["expect"]
    doc_run = cli("plan", "-f", root, "-json", *plan_args)
    assert doc_run.code == 0, doc_run.text
    check_plan(json.loads(doc_run.out), expect)
    human = cli("plan", "-f", root, "-detailed-exitcode", *plan_args)
    assert human.code == expect["exit"], human.text
    check_output(human.text, expect, "plan")

    for i, step in enumerate(case.get("then", ())):
        if "spec" in step:
            spec_file.write_text(spec_text(step["spec"]))
        command, *args = [str(a) for a in step["run"]]
        if command == "state":
            args = [args[0], "-f", str(root), *args[1:]]
        else:
            args = ["-f", str(root), *args]
        run = cli(command, *args)
        where = f"step {i + 1} ({' '.join(step['run'])})"
        assert run.code == step["exit"], f"{where}:\n{run.text}"
        check_output(run.text, step, where)
        check_files(root, step.get("files", {}))

    # The state and anything else provision keeps beside it never hold a secret.
    state_dir = root / ".provision"
    if state_dir.exists():
        scanned = scan_tree(state_dir)
        assert all(os.access(p, os.R_OK) for p in scanned)
    scan_tree(root, skip=holds_secrets_by_design)
