"""Shared fixtures: the real consumers rendered files are tested against.

On CI (CI=true) a missing consumer is a failure, not a skip: tests/consumers/install.sh must
have installed it. Elsewhere the test is skipped with the install hint.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from testkit import CONSUMERS, need_npm

from provision.secrets import REDACTOR

JSONC_SCRIPT = """
const jsonc = require('jsonc-parser');
const text = require('fs').readFileSync(0, 'utf8');
const errors = [];
const value = jsonc.parse(text, errors, {allowTrailingComma: true});
process.stdout.write(JSON.stringify({value, errors}));
"""


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
