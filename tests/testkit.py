"""Helpers the tests share, imported as `from testkit import …`.

Not in conftest.py: tests/workflow has a conftest.py of its own, and `from conftest import`
resolves to whichever of the two pytest imported last, so a run of some directories together
could not import these.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONSUMERS = ROOT / "tests" / ".consumers"


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
