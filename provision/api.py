"""The library face the CLI and tests share: each function composes pipeline stages."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from provision.spec.resolve import Options, Resolved, load
from provision.spec.variables import VarArg

__all__ = ["VarArg", "load_spec"]


def load_spec(
    path: Path | str = ".",
    *,
    env: Mapping[str, str] | None = None,
    var_args: Sequence[VarArg] = (),
    read_secrets: bool = True,
) -> Resolved:
    """Load, validate and resolve a spec file or directory. Raises DiagnosticsError."""
    options = Options(
        env=dict(os.environ) if env is None else env,
        var_args=tuple(var_args),
        read_secrets=read_secrets,
    )
    return load(Path(path), options)
