"""Issue 4's "done when" on the shipped examples, copied into a temporary directory: plan → apply
→ plan shows no changes; a hand edit is drift (exit 2) that apply refuses without --force;
providers added by hand survive apply and destroy; destroy removes what provision made; no
canary secret in the state, plan files or any output."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import json5
import pytest
from workflow_kit import (
    CANARY_TOKEN,
    EXAMPLES,
    Cli,
    assert_no_canary,
    holds_secrets_by_design,
    scan_tree,
)

USER_ENTRY = {"apiKey": "user-own-key-5678", "baseUrl": "https://openrouter.ai/api/v1"}


def add_user_entry(path: Path, key: str = "openrouter") -> None:
    doc = json5.loads(path.read_text())
    doc[key] = USER_ENTRY
    path.write_text(json.dumps(doc, indent=2) + "\n")


def probe_rows(text: str) -> dict[str, str]:
    """address → verdict, from the probe table apply prints."""
    rows = {}
    for line in text.splitlines():
        m = re.match(r"^\s+(\S+)\s+(https?://\S+)\s+(\S+)\s", line)
        if m:
            rows[m.group(1)] = m.group(3)
    return rows


def paths_of(doc: dict[str, Any], kind: str = "") -> list[Path]:
    return [Path(rc["path"]) for rc in doc["resource_changes"] if rc["type"].startswith(kind)]


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_gitops_example_done_when(
    tmp_path: Path, cli: Cli, sim_url: str, mux_parse: Callable[[str], Any]
) -> None:
    spec = tmp_path / "spec"
    shutil.copytree(EXAMPLES / "gitops-aibridge" / "spec", spec)
    out = tmp_path / "out"
    f = [
        "-f",
        spec,
        "-var",
        f"prod_coder_url={sim_url}",
        "-var",
        f"staging_coder_url={sim_url}",
        "-var",
        f"out_dir={out}",
    ]

    assert cli("plan", *f, "-detailed-exitcode").code == 2
    doc = json.loads(cli.ok("plan", *f, "-json").out)
    saved = tmp_path / "first.plan"
    cli.ok("plan", *f, "-out", saved)
    applied = cli.ok("apply", *f, "-auto-approve")
    probes = {p["address"] for p in doc["probes"] if p["enabled"]}
    assert len(probes) >= 3
    assert probe_rows(applied.out) == dict.fromkeys(probes, "ok"), applied.out
    added = doc["summary"]["add"]
    assert f"Apply complete! Resources: {added} added, 0 changed, 0 destroyed." in applied.out
    assert files_under(out) == sorted(paths_of(doc))
    for key_file in (p for p in paths_of(doc) if p.suffix == ".key"):
        assert key_file.stat().st_mode & 0o777 == 0o600
    made_dirs = sorted(p for p in out.rglob("*") if p.is_dir())
    assert any(d.name == "keys" for d in made_dirs)  # the staging key file's directory

    again = cli("plan", *f, "-detailed-exitcode")
    assert again.code == 0 and "No changes." in again.out, again.text

    # A provider added by hand (or in Mux's settings UI) is neither drift nor touched.
    mux_file = paths_of(doc, "mux_providers")[0]
    # Its key makes the file one that holds a secret, so provision only tightens the mode.
    add_user_entry(mux_file)
    (rc,) = (
        rc
        for rc in json.loads(cli.ok("plan", *f, "-json").out)["resource_changes"]
        if rc["change"]["actions"] != ["no-op"]
    )
    assert rc["path"] == str(mux_file)
    assert rc["change"]["before"] == rc["change"]["after"]
    assert rc["mode"] == {"before": "0644", "after": "0600"}
    cli.ok("apply", *f, "-auto-approve", "--no-probe")
    assert cli("plan", *f, "-detailed-exitcode").code == 0

    # A hand edit of a managed file: drift, exit 2, apply refuses and writes nothing.
    shell = paths_of(doc, "shell_exports")[0]
    shell.write_text(shell.read_text() + "export OPENAI_BASE_URL=http://elsewhere/v1\n")
    drift = cli("plan", *f, "-detailed-exitcode")
    assert drift.code == 2
    assert "changed outside provision" in drift.out and str(shell) in drift.out
    refused = cli("apply", *f, "-auto-approve")
    assert refused.code == 1 and "--force" in refused.err
    assert "elsewhere" in shell.read_text()
    cli.ok("apply", *f, "-auto-approve", "--force")
    assert "elsewhere" not in shell.read_text()
    assert mux_parse(mux_file.read_text())["openrouter"] == USER_ENTRY

    destroyed = cli.ok("destroy", *f, "-auto-approve")
    assert f"{len(doc['resource_changes'])} destroyed" in destroyed.out
    assert files_under(out) == [mux_file]
    # Files go, directories stay (docs/targets.md): the state records no directories.
    assert sorted(p for p in out.rglob("*") if p.is_dir()) == made_dirs
    assert mux_parse(mux_file.read_text()) == {"openrouter": USER_ENTRY}
    assert cli("plan", *f, "-destroy", "-detailed-exitcode").code == 0

    assert scan_tree(spec / ".provision")  # state, backup, health history, fingerprint key
    scan_tree(tmp_path, skip=holds_secrets_by_design)
    assert_no_canary(saved.read_text(), "the saved plan")


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"MUX_ROOT": "mux"}, "mux/providers.jsonc"),
        ({"XUM_ROOT": "xum", "MUX_ROOT": "mux"}, "xum/providers.jsonc"),
        ({}, "home/.mux/providers.jsonc"),
    ],
    ids=["MUX_ROOT", "XUM_ROOT-first", "HOME"],
)
def test_laptop_example_done_when(
    tmp_path: Path,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    expected: str,
    mux_parse: Callable[[str], Any],
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, str(tmp_path / value))
    spec = tmp_path / "spec"
    shutil.copytree(EXAMPLES / "laptop-local-models", spec)
    target = tmp_path / expected
    # The developer's own providers.jsonc, from before provision.
    target.parent.mkdir(parents=True)
    target.write_text(f'// mine\n{{"openrouter": {json.dumps(USER_ENTRY)}}}\n')
    f = ["-f", spec]

    doc = json.loads(cli.ok("plan", *f, "-json").out)
    (mux,) = doc["resource_changes"]
    assert (mux["path"], mux["change"]["actions"], doc["drift"]) == (str(target), ["update"], [])
    # Local model servers are not running here: the probes are the probe tests' business.
    cli.ok("apply", *f, "-auto-approve", "--no-probe")
    written = mux_parse(target.read_text())
    assert written["openrouter"] == USER_ENTRY
    bridged = [v for v in written.values() if "/api/v2/aibridge/" in v.get("baseUrl", "")]
    assert bridged and all(v["apiKey"] == CANARY_TOKEN for v in bridged)
    assert cli("plan", *f, "-detailed-exitcode").code == 0

    # A hand edit of an entry provision owns: pick one whose baseUrl is unique in the file.
    text = target.read_text()
    pid, url = next(
        (k, v["baseUrl"])
        for k, v in written.items()
        if k != "openrouter" and text.count(json.dumps(v.get("baseUrl"))) == 1
    )
    target.write_text(text.replace(json.dumps(url), '"http://edited.invalid/v1"'))
    drift = cli("plan", *f, "-detailed-exitcode")
    assert drift.code == 2 and "changed outside provision" in drift.out
    assert f'~ {pid}.baseUrl: "http://edited.invalid/v1" -> {json.dumps(url)}' in drift.out
    assert cli("apply", *f, "-auto-approve", "--no-probe").code == 1
    assert "edited.invalid" in target.read_text()
    assert cli("destroy", *f, "-auto-approve").code == 1  # destroy refuses drift too
    cli.ok("apply", *f, "-auto-approve", "--no-probe", "--force")

    cli.ok("destroy", *f, "-auto-approve")
    assert mux_parse(target.read_text()) == {"openrouter": USER_ENTRY}
    scan_tree(spec / ".provision")
