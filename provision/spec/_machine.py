"""The machine a spec is resolved on, as the spec refers to it: its home directory (`~`), where
Mux reads providers.jsonc there, and which host names stay on it (loopback)."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from pathlib import Path


def default_mux_path(env: Mapping[str, str]) -> Path:
    """Where Mux (or Xum, after its rename) reads providers.jsonc."""
    for name in ("XUM_ROOT", "MUX_ROOT"):
        if env.get(name):
            return expand_home(env[name], env) / "providers.jsonc"
    home = _home(env)
    root = home / ".xum" if (home / ".xum").is_dir() else home / ".mux"
    return root / "providers.jsonc"


def _home(env: Mapping[str, str]) -> Path:
    return Path(env["HOME"]) if env.get("HOME") else Path.home()


def expand_home(text: str, env: Mapping[str, str]) -> Path:
    """`~` and `~/…` from HOME in the given environment (tests pass their own)."""
    if text == "~" or text.startswith("~/"):
        return _home(env) / text[2:]
    return Path(text)


def is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
