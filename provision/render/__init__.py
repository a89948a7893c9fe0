"""Renderers: pure functions from the resolved model to artifacts. They write nothing.

One module per target type; each exposes
`render(spec: Spec, target: Target, existing: bytes | None) -> Rendered`, where `existing` is
the current content of the target's file (None when absent), needed by merge-managed targets.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Protocol

from provision.errors import Diagnostic
from provision.model import Spec, Target
from provision.record import field, record

RENDERERS = {
    "mux_providers": "provision.render.mux",
    "coder_agent_env": "provision.render.terraform",
    "shell_exports": "provision.render.shell",
    "template": "provision.render.template",
}


@record
class Artifact:
    """One file a target wants on disk."""

    address: str  # "<type>.<name>", or "<type>.<name>/<part>" for a target's extra files
    path: Path
    # May hold secret values: never printed (not even in a repr); plan masks by value.
    content: bytes = field(repr=False)
    mode: int  # 0o600 whenever the content holds a secret
    sensitive: bool  # the content holds at least one secret value
    # Merge-managed files: the top-level keys this target owns; None means the whole file.
    managed_keys: tuple[str, ...] | None = None
    # The parsed form for key-level diffs (providers.jsonc, .tf.json), secrets as Secret.
    structured: Any = field(default=None, compare=False)


@record
class Rendered:
    """What rendering one target gives: its artifacts, warnings, and the environment
    variables the files rely on at run time."""

    artifacts: tuple[Artifact, ...]  # the target's own file first
    warnings: tuple[Diagnostic, ...] = ()
    # Environment variables the rendered file relies on at run time (secrets: env).
    env_required: tuple[str, ...] = ()


class Renderer(Protocol):
    def __call__(self, spec: Spec, target: Target, existing: bytes | None) -> Rendered: ...


def render(spec: Spec, target: Target, existing: bytes | None = None) -> Rendered:
    """Render one target. Raises DiagnosticsError when a value cannot be represented."""
    module = importlib.import_module(RENDERERS[target.type])
    renderer: Renderer = module.render
    return renderer(spec, target, existing)
