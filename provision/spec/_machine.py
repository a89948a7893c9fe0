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
    """Whether `host` stays on this machine: `localhost` and the names under it (RFC 6761 has
    them resolve to loopback), or a loopback address. The spelling is a URL's or a command
    line's: any case, a trailing dot, an IPv6 address with or without its brackets."""
    if host.startswith("[") and host.endswith("]"):  # brackets hold an IPv6 address only
        return ":" in host and is_loopback(host[1:-1])
    host = host.lower().removesuffix(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False  # any other name may resolve anywhere
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        # ::ffff:127.0.0.1 is 127.0.0.1; Python 3.11's ipaddress says otherwise (gh-117566).
        address = address.ipv4_mapped
    return address.is_loopback
