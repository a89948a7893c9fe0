"""Shared fixtures: the real consumers rendered files are tested against.

On CI (CI=true) a missing consumer is a failure, not a skip: tests/consumers/install.sh must
have installed it. Elsewhere the test is skipped with the install hint.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from provision.secrets import REDACTOR

ROOT = Path(__file__).resolve().parent.parent
CONSUMERS = ROOT / "tests" / ".consumers"
JSONC_SCRIPT = """
const jsonc = require('jsonc-parser');
const text = require('fs').readFileSync(0, 'utf8');
const errors = [];
const value = jsonc.parse(text, errors, {allowTrailingComma: true});
process.stdout.write(JSON.stringify({value, errors}));
"""


def need(tool: str, *, optional: bool = False) -> str:
    """The tool's path. Tools tests/consumers/install.sh installs are required on CI; optional
    ones (Terraform, which no registry here ships) only deepen a test where present."""
    path = shutil.which(tool)
    if path is None:
        message = f"{tool} is not installed (bash tests/consumers/install.sh)"
        if os.environ.get("CI") and not optional:
            pytest.fail(message)
        pytest.skip(message)
    return path


def need_npm(package: str) -> str:
    """node's path, once `package` is installed in tests/.consumers (required on CI)."""
    node = need("node")
    if not (CONSUMERS / "node_modules" / package).is_dir():
        message = f"npm {package} is not installed (bash tests/consumers/install.sh)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return node


@pytest.fixture(scope="session")
def jsonc_parse() -> Callable[[str], Any]:
    """Parse text with npm jsonc-parser, the parser Mux uses. Fails on any parse error."""
    node = need_npm("jsonc-parser")

    def parse(text: str) -> Any:
        proc = subprocess.run(
            [node, "-e", JSONC_SCRIPT], input=text, capture_output=True, text=True,
            cwd=CONSUMERS, timeout=60, check=True,
        )
        result = json.loads(proc.stdout)
        assert result["errors"] == [], f"jsonc-parser errors: {result['errors']}"
        return result["value"]

    return parse


# The package imports its schema as JSON without an import attribute (it is built for bundlers);
# the hook supplies the attribute that plain node needs.
GHA_WORKFLOW_SCRIPT = """
import { readFileSync } from "node:fs";
import { register } from "node:module";
register("data:text/javascript," + encodeURIComponent(`
  export async function load(url, context, next) {
    const json = url.endsWith(".json") ? { importAttributes: { type: "json" } } : {};
    return next(url, { ...context, ...json });
  }`));
const wp = await import("@actions/workflow-parser");
const name = process.argv[1];
const parsed = wp.parseWorkflow({ name, content: readFileSync(name, "utf8") },
                                new wp.NoOperationTraceWriter());
let jobs = [];
if (parsed.value) {
  const template = await wp.convertWorkflowTemplate(parsed.context, parsed.value);
  jobs = (template.jobs ?? []).map((job) => job.id.value);
}
const errors = parsed.context.errors.getErrors().map((e) => e.message);
process.stdout.write(JSON.stringify({ errors, jobs }));
"""


@pytest.fixture(scope="session")
def gha_workflow() -> Callable[[Path], dict[str, list[str]]]:
    """Read a GitHub Actions workflow file with GitHub's own parser (npm @actions/workflow-parser):
    {"errors": [...], "jobs": [job ids]}, errors as GitHub would report them (file, line, col)."""
    node = need_npm("@actions/workflow-parser")

    def check(path: Path) -> dict[str, list[str]]:
        proc = subprocess.run(
            [node, "--input-type=module", "-e", GHA_WORKFLOW_SCRIPT, str(path)],
            capture_output=True, text=True, cwd=CONSUMERS, timeout=60, check=True,
        )
        result: dict[str, list[str]] = json.loads(proc.stdout)
        return result

    return check


@pytest.fixture(autouse=True)
def _fresh_redactor() -> Iterator[None]:
    """Each test starts with no remembered secrets, so tests cannot mask each other's leaks."""
    REDACTOR.clear()
    yield
    REDACTOR.clear()


# The os calls a file is created and published with: watching around each one shows every
# state a concurrent reader could find the file in.
PUBLISHING_CALLS = ("open", "fchmod", "write", "fsync", "close", "link", "rename", "replace")


def watch_publishing(monkeypatch: pytest.MonkeyPatch, look: Callable[[], None]) -> None:
    """Call `look` before and after every os call that creates or publishes a file."""

    def watched(call: Callable[..., Any]) -> Callable[..., Any]:
        def around(*args: Any, **kwargs: Any) -> Any:
            look()
            try:
                return call(*args, **kwargs)
            finally:
                look()

        return around

    for name in PUBLISHING_CALLS:
        monkeypatch.setattr(os, name, watched(getattr(os, name)))


def provision_bin(tmp_path: Path) -> Path:
    """tmp_path/bin holding a `provision` that runs `python -m provision` with this interpreter,
    for PATH in front of the system's (shells and pre-commit call it by name)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "provision"
    shim.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m provision "$@"\n')
    shim.chmod(0o755)
    return bin_dir
