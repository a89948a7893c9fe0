"""A damaged saved plan — valid JSON of the wrong shape, another format version, or not JSON,
not UTF-8, empty, a directory — is one clear error from `apply FILE` and `show FILE`: exit 1,
`Invalid plan file …` naming what is wrong and where, nothing written, and never a crash log."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from workflow_kit import Cli

from provision import __version__

SPEC = {
    "version": 1,
    "deployments": {"dev": {"providers": {"openai": {
        "base_url": "http://127.0.0.1:9/v1", "api_key": {"env": "OPENAI_KEY"},
    }}}},
    "targets": {
        "sh": {"type": "shell_exports", "deployment": "dev", "path": "out/env.sh"},
        "tf": {"type": "coder_agent_env", "deployment": "dev", "path": "out/env.tf"},
    },
}


@pytest.fixture
def crash_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where a crash log would go (error_handler writes it with tempfile.mkstemp)."""
    crashes = tmp_path / "tmp"
    crashes.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(crashes))
    return crashes


@pytest.fixture
def saved(tmp_path: Path, cli: Cli, crash_dir: Path) -> Path:
    root = tmp_path / "spec"
    root.mkdir()
    (root / "provision.yaml").write_text(yaml.safe_dump(SPEC))
    planfile = tmp_path / "p.plan"
    cli.ok("plan", "-f", root, "-out", planfile)
    return planfile


def refused(cli: Cli, planfile: Path, crash_dir: Path, message: str) -> None:
    """apply and show both exit 1 with message on stderr; no crash log, nothing written."""
    for args in (("apply", planfile, "--no-probe"), ("show", planfile), ("show", planfile,
                                                                          "-json")):
        run = cli(*args)
        assert run.code == 1, run.text
        assert message in run.err, run.err
        assert run.out == "", run.out  # refused before the plan is shown
        assert "unexpected error" not in run.text
    assert list(crash_dir.iterdir()) == []
    assert not (planfile.parent / "spec" / "out").exists()


Edit = Callable[[dict[str, Any]], Any]


def _at(doc: Any, keys: tuple[str | int, ...]) -> Any:
    for k in keys:
        doc = doc[k]
    return doc


def _drop(*keys: str | int) -> Edit:
    def edit(doc: dict[str, Any]) -> None:
        del _at(doc, keys[:-1])[keys[-1]]

    return edit


def _set(value: Any, *keys: str | int) -> Edit:
    def edit(doc: dict[str, Any]) -> None:
        _at(doc, keys[:-1])[keys[-1]] = value

    return edit


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_drop("changes"), 'Missing required key "changes" at the top level'),
        (_set(5, "changes"), "Expected a list for changes, got 5"),
        (_set(5, "var_args"), "Expected a list for var_args, got 5"),
        (_set(None, "secrets"), "Expected a mapping for secrets, got null"),
        (_set([5], "targets"), "Expected a string for targets[0], got 5"),
        (_set([], "spec", "files"), "Expected a mapping for spec.files, got a list"),
        (_set(5, "plan"), "Expected a mapping for plan, got 5"),
        (_set(5, "changes", 1, "action"), "Invalid value 5 for changes[1].action"),
        (_set("explode", "changes", 0, "action"), 'Invalid value "explode" for changes[0].action'),
        (_set("0600", "changes", 0, "mode"), "Expected an integer or null for changes[0].mode"),
        (_drop("changes", 0, "before_digest"),
         'Missing required key "before_digest" in changes[0]'),
        (_set("sha1:00", "changes", 0, "after_digest"),
         "Invalid digest for changes[0].after_digest"),
        (_set("1", "state", "serial"), "Expected an integer for state.serial"),
        (_set({"kind": "var"}, "var_args", 0), 'Missing required key "value" in var_args[0]'),
        (_set("a\x00b", "spec", "path"), "Invalid path for spec.path"),
        (_set("yes", "destroy"), "Expected true or false for destroy"),
        (_set(1, "extra"), 'Unknown key "extra" at the top level'),
        (_set([], "plan", "resource_changes", 0, "change", "actions"),
         "plan.resource_changes[0].change.actions"),
        (_set("boom", "plan", "resource_changes", 0, "change", "actions", 0),
         'Invalid value "boom" for plan.resource_changes[0].change.actions[0]'),
        (_set("1", "plan", "summary", "add"), "Expected an integer for plan.summary.add"),
        (_drop("plan", "summary"), 'Missing required key "summary" in plan'),
        (_set("2", "format_version"), 'Invalid value "2" for format_version'),
        (_set("terraform-plan", "format"), "is not a provision plan file"),
        (lambda doc: [doc], "is not a provision plan file"),
    ],
    ids=["no-changes", "changes-int", "var_args-int", "secrets-null", "targets-int",
         "spec.files-list", "plan-int", "action-int", "action-unknown", "mode-string",
         "no-before_digest", "digest-other", "serial-string", "var_arg-no-value", "path-nul",
         "destroy-string", "extra-key", "actions-empty", "actions-unknown", "summary-string",
         "no-summary", "version-string", "format-other", "a-list"],
)
def test_a_plan_file_of_the_wrong_shape_is_one_clear_error(
    saved: Path, cli: Cli, crash_dir: Path, edit: Edit, message: str
) -> None:
    doc = json.loads(saved.read_text())
    doc["var_args"] = [{"kind": "var", "value": "x=1"}]  # so that var_args[0] exists
    doc["changes"].sort(key=lambda c: c["address"])
    edited = edit(doc)
    saved.write_text(json.dumps(doc if edited is None else edited))
    refused(cli, saved, crash_dir, f"Invalid plan file {saved}: ")
    refused(cli, saved, crash_dir, message)


@pytest.mark.parametrize(
    ("version", "message"),
    [
        (3, f"has a newer format (version 3, written by provision {__version__}): provision "
            f"{__version__} reads version 2"),
        (1, f"has an older format (version 1, written by provision {__version__})"),
    ],
    ids=["newer", "older"],
)
def test_a_plan_file_of_another_format_version_says_so(
    saved: Path, cli: Cli, crash_dir: Path, version: int, message: str
) -> None:
    doc = json.loads(saved.read_text())
    doc["format_version"] = version
    doc["changes"] = "whatever the other version holds"
    saved.write_text(json.dumps(doc))
    refused(cli, saved, crash_dir, f"Plan file {saved} {message}")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (b" \n\t\n", "the file is empty"),
        (b'{"format": "provision-plan", "x": "\xff"}', "it is not UTF-8 text (byte 0xff at "
                                                       "offset 35)"),
        (b'{"format": "provision-plan",', "it is not JSON (Expecting property name enclosed in "
                                         "double quotes at line 1 column 29)"),
        (b"[" * 100_000, "it is nested too deeply to read"),
        (b"1" * 5000, "it is not JSON that can be read"),
        (b"null", "it is not a provision plan file"),
    ],
    ids=["empty", "blank", "not-utf8", "truncated", "deep", "huge-int", "null"],
)
def test_a_plan_file_that_is_not_json_is_one_clear_error(
    saved: Path, cli: Cli, crash_dir: Path, content: bytes, message: str
) -> None:
    saved.write_bytes(content)
    refused(cli, saved, crash_dir, f"Invalid plan file {saved}: {message}")


def test_a_directory_is_not_a_plan_file(tmp_path: Path, cli: Cli, crash_dir: Path) -> None:
    for command in ("apply", "show"):
        run = cli(command, tmp_path)
        assert run.code == 1
        assert f"File '{tmp_path}' is a directory." in run.err
    assert list(crash_dir.iterdir()) == []


def test_the_written_plan_file_is_read_back_whole(saved: Path, cli: Cli, crash_dir: Path) -> None:
    """The schema describes what `plan -out` writes: nothing it writes is refused."""
    assert "Plan: 2 to add" in cli.ok("show", saved).out
    assert "Apply complete! Resources: 2 added" in cli.ok("apply", saved, "--no-probe").out
    assert list(crash_dir.iterdir()) == []
