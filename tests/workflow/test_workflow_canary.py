"""The canary secret in every place a secret can go, then rotated: the plan's diff shows the
files' old content, which holds the old key — a value this run never loaded, so masking by value
alone cannot catch it. No old or new key may appear in plan text, plan JSON, the plan file,
`show`, the state or any output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from workflow_kit import CANARIES, CANARY_ANTHROPIC, CANARY_OPENAI, Cli, assert_no_canary, scan_tree

from provision.secrets import REDACTOR

NEW_OPENAI = "sk-rotated-openai-9e8d7c6b5a4f"
NEW_ANTHROPIC = "sk-ant-rotated-1f2e3d4c5b6a"
HEADER_TOKEN = "hdr-canary-Qw3Er4Ty5Ui6Op7"
TEMPLATE = """\
{% for p in providers %}{"id": "{{ p.id }}", "key": "{{ p.api_key | reveal }}"}
{% endfor %}# base: {{ providers[0].base_url }}
"""


def spec(root: Path) -> None:
    targets: dict[str, dict[str, object]] = {
        "mux": {"type": "mux_providers", "deployment": "dev", "path": "out/providers.jsonc"},
        "mux_files": {
            "type": "mux_providers",
            "deployment": "dev",
            "path": "out/files/providers.jsonc",
            "secrets": "file",
        },
        "tf": {
            "type": "coder_agent_env",
            "deployment": "dev",
            "path": "out/env.tf",
            "env": {"EXTRA_TOKEN": {"env": "EXTRA_TOKEN"}},
        },
        "tpl": {"type": "template", "deployment": "dev", "template": "t.j2", "path": "out/t.txt"},
    }
    for dialect in ("posix", "fish", "powershell", "dotenv"):
        targets[f"sh_{dialect}"] = {
            "type": "shell_exports",
            "deployment": "dev",
            "path": f"out/env.{dialect}",
            "dialect": dialect,
            "env": {"EXTRA_TOKEN": {"env": "EXTRA_TOKEN"}},
        }
    doc = {
        "version": 1,
        "deployments": {
            "dev": {
                "providers": {
                    "openai": {
                        "base_url": "http://127.0.0.1:9/v1",
                        "api_key": {"env": "OPENAI_KEY"},
                        "headers": {"X-Team-Token": "Bearer ${env.HEADER_TOKEN}"},
                    },
                    "anthropic": {
                        "base_url": "https://api.anthropic.com",
                        "api_key": {"env": "ANTHROPIC_KEY"},
                    },
                }
            }
        },
        "targets": targets,
    }
    root.mkdir(exist_ok=True)
    (root / "provision.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    (root / "t.j2").write_text(TEMPLATE)


def test_rotated_secrets_never_show(
    tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEADER_TOKEN", HEADER_TOKEN)
    monkeypatch.setenv("EXTRA_TOKEN", HEADER_TOKEN + "-extra")
    root = tmp_path / "spec"
    spec(root)
    cli.ok("apply", "-f", root, "-auto-approve", "--no-probe")
    old = (*CANARIES, HEADER_TOKEN)
    on_disk = "".join(p.read_text() for p in (root / "out").rglob("*") if p.is_file())
    assert CANARY_OPENAI in on_disk and CANARY_ANTHROPIC in on_disk and HEADER_TOKEN in on_disk

    # A new process with new keys: it never saw the old ones.
    REDACTOR.clear()
    monkeypatch.setenv("OPENAI_KEY", NEW_OPENAI)
    monkeypatch.setenv("ANTHROPIC_KEY", NEW_ANTHROPIC)
    monkeypatch.setenv("HEADER_TOKEN", "hdr-rotated-Zx9Cv8Bn7")
    monkeypatch.setenv("EXTRA_TOKEN", "extra-rotated-Lk8Jh7Gf6")
    planfile = tmp_path / "rotate.plan"
    # Each target alone, so no other file (an inline providers.jsonc) teaches this run the
    # old keys: what masks them must be the view's own rules.
    alone = []
    for address in (
        "template.tpl",
        "mux_providers.mux_files",
        "shell_exports.sh_posix",
        "shell_exports.sh_dotenv",
        "shell_exports.sh_powershell",
    ):
        for destroy in ((), ("-destroy",)):
            REDACTOR.clear()
            alone.append(cli("plan", "-f", root, "-target", address, *destroy))
            assert alone[-1].code == 0
    REDACTOR.clear()
    runs = [
        *alone,
        cli("plan", "-f", root, "-detailed-exitcode"),
        cli("plan", "-f", root, "-json"),
        cli("plan", "-f", root, "-out", planfile),
        cli("plan", "-f", root, "-destroy"),
        cli("show", planfile),
        cli("show", planfile, "-json"),
        cli("show", "-f", root),
        cli("state", "show", "mux_providers.mux", "-f", root),
    ]
    human, doc = runs[len(alone)], json.loads(runs[len(alone) + 1].out)
    assert human.code == 2
    assert "~ openai.apiKey: (sensitive value) -> (sensitive value, changed)" in human.out
    changed = {
        rc["address"] for rc in doc["resource_changes"] if rc["change"]["actions"] != ["no-op"]
    }
    assert {"mux_providers.mux", "template.tpl", "shell_exports.sh_posix"} <= changed
    new = (NEW_OPENAI, NEW_ANTHROPIC)
    for i, run in enumerate(runs):
        assert_no_canary(run.text, f"run {i + 1}", (*old, *new))
    assert_no_canary(planfile.read_text(), "the plan file", (*old, *new))
    scan_tree(root / ".provision", canaries=(*old, *new))

    cli.ok("apply", "-f", root, "-auto-approve", "--no-probe")
    assert NEW_OPENAI in (root / "out" / "providers.jsonc").read_text()
