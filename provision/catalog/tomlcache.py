"""Read a TOML file shipped inside the package, parsing it only when its bytes change.

tomllib is pure Python: parsing catalog.toml took 6 ms, more than half of what a whole
`python -c pass` costs, on every command. So the parsed document is kept the way Python keeps
bytecode: in a `__pycache__` directory beside the file (or under `sys.pycache_prefix`), named
for the interpreter, marshalled, and checked against the source bytes' length and CRC-32, as
PEP 552's hash-based .pyc files are checked against a hash of theirs. A CRC finds any accidental
change; it is no defence against a writer who means harm, and needs none: who can write the
cache can write the TOML beside it. (SHA-256 would import hashlib, whose OpenSSL costs every
`provision validate` more than reading the cache does.) It is written only when Python would
write bytecode (not under `-B` or PYTHONDONTWRITEBYTECODE). A missing, stale, unreadable or
corrupt cache means parsing the TOML again; it never changes the result.
"""

from __future__ import annotations

import binascii
import contextlib
import marshal
import os
import sys
from pathlib import Path
from typing import Any

# What the cache file holds; a new layout gets a new number rather than a misread.
_LAYOUT = 2


def load(path: Path) -> dict[str, Any]:
    """The TOML document at path. Raises tomllib.TOMLDecodeError for invalid TOML and OSError
    when the file cannot be read."""
    source = path.read_bytes()
    digest = (len(source), binascii.crc32(source))
    cache = cache_path(path)
    doc = _read(cache, digest)
    if doc is None:
        import tomllib

        doc = tomllib.loads(source.decode("utf-8"))
        if not sys.dont_write_bytecode:
            _write(cache, digest, doc)
    return doc


def cache_path(path: Path) -> Path:
    """Where the parsed form of path is kept, by the rules Python uses for a module's .pyc."""
    path = path.absolute()
    name = f"{path.name}.{sys.implementation.cache_tag}.marshal"
    if sys.pycache_prefix is None:
        return path.parent / "__pycache__" / name
    return Path(sys.pycache_prefix, *path.parent.parts[1:], name)


def _read(cache: Path, digest: tuple[int, int]) -> dict[str, Any] | None:
    try:
        with cache.open("rb") as f:
            layout, stored, doc = marshal.load(f)
    except (OSError, EOFError, ValueError, TypeError):
        return None
    if layout != _LAYOUT or stored != digest or not isinstance(doc, dict):
        return None
    return doc


def _write(cache: Path, digest: tuple[int, int], doc: dict[str, Any]) -> None:
    # A fresh name, created exclusively (as CPython writes bytecode): never through a symlink
    # or into another writer's file, in a shared PYTHONPYCACHEPREFIX too.
    tmp = cache.with_name(f"{cache.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        with os.fdopen(fd, "wb") as f:
            marshal.dump((_LAYOUT, digest, doc), f)
        tmp.replace(cache)  # readers see the old file or the whole new one
    except (OSError, ValueError):
        # Read-only installs and unmarshallable values just go without a cache.
        with contextlib.suppress(OSError):
            tmp.unlink()
