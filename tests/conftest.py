"""Shared fixtures: the real consumers rendered files are tested against.

On CI (CI=true) a missing consumer is a failure, not a skip: tests/consumers/install.sh must
have installed it. Elsewhere the test is skipped with the install hint.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
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


@pytest.fixture(scope="session")
def jsonc_parse() -> Callable[[str], Any]:
    """Parse text with npm jsonc-parser, the parser Mux uses. Fails on any parse error."""
    node = need("node")
    if not (CONSUMERS / "node_modules" / "jsonc-parser").is_dir():
        message = "npm jsonc-parser is not installed (bash tests/consumers/install.sh)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)

    def parse(text: str) -> Any:
        proc = subprocess.run(
            [node, "-e", JSONC_SCRIPT], input=text, capture_output=True, text=True,
            cwd=CONSUMERS, timeout=60, check=True,
        )
        result = json.loads(proc.stdout)
        assert result["errors"] == [], f"jsonc-parser errors: {result['errors']}"
        return result["value"]

    return parse


@pytest.fixture(autouse=True)
def _fresh_redactor() -> Iterator[None]:
    """Each test starts with no remembered secrets, so tests cannot mask each other's leaks."""
    REDACTOR.clear()
    yield
    REDACTOR.clear()
