"""mux_providers: Mux's providers.jsonc, merge-managed.

The target owns only the entries of the providers it declares: every other top-level entry of
the existing file is kept with its value and its place. The result is written the way Mux's
settings UI writes the file (reference/mux-providers.md): a comment header, then
`JSON.stringify(config, null, 2)`.

Each provider's entry is built in `_mux_entries`; this module merges the entries into the file.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from provision.errors import Diagnostic, DiagnosticsError, raise_if_errors
from provision.model import Spec, Target
from provision.render import Artifact, Rendered, jsonc
from provision.render._mux_entries import SECRET_MODES as SECRET_MODES
from provision.render._mux_entries import _Builder
from provision.secrets import Origin, contains_secret, protect

MUX_HEADER = """\
// Providers configuration for mux
// Configure your AI providers here
// Example:
// {
//   "anthropic": {
//     "apiKey": "sk-ant-..."
//   },
//   "openai": {
//     "apiKey": "sk-..."
//   },
//   "xai": {
//     "apiKey": "sk-xai-..."
//   },
//   "ollama": {
//     "baseUrl": "http://localhost:11434/api"  // Optional - only needed for remote/custom URL
//   }
// }
"""
# Comments a Mux (or Xum) save and our own renders put at the top; they are not user notes.
_KNOWN_HEADER = frozenset(
    [line[2:] for line in MUX_HEADER.splitlines()] + [" Providers configuration for xum"]
)
_OWN_MARK = " provision:"

# Fields of entries this target does not own whose strings are credentials: kept, but as
# Secrets in `structured`, so plan masks them and the file stays 0600.
_USER_SECRET_FIELDS = frozenset((
    "apiKey", "bearerToken", "accessKeyId", "secretAccessKey", "headers", "coderOauth",
    "couponCode", "voucher",
))  # fmt: skip


def render(spec: Spec, target: Target, existing: bytes | None) -> Rendered:
    """Render the target's providers.jsonc merged into `existing` (its current bytes)."""
    if target.path is None:
        raise DiagnosticsError([Diagnostic.error(f"Target {target.address} has no path")])
    builder = _Builder(spec, target, target.path)
    entries: dict[str, dict[str, Any]] = {}
    for provider in spec.providers_of(target):
        entry = builder.entry(provider)
        if entry is not None:
            entries[provider.id] = entry
    raise_if_errors(builder.diagnostics)
    config = _merge(target.path, existing, entries, builder.diagnostics)
    content = _header(spec, target, list(entries)) + jsonc.dumps(config) + "\n"
    sensitive = contains_secret(config)
    data = content.encode("utf-8")
    main = Artifact(
        address=target.address,
        path=target.path,
        content=jsonc.SensitiveBytes(data) if sensitive else data,
        mode=0o600 if sensitive else 0o644,
        sensitive=sensitive,
        managed_keys=tuple(entries),
        structured=config,
    )
    return Rendered(
        artifacts=(main, *builder.key_files),
        warnings=tuple(builder.diagnostics),
        env_required=tuple(dict.fromkeys(builder.env_required)),
    )


def _merge(
    path: Path,
    existing: bytes | None,
    entries: dict[str, dict[str, Any]],
    diagnostics: list[Diagnostic],
) -> dict[str, Any]:
    current, warnings = jsonc.read_object(path, existing, _is_header)
    diagnostics.extend(warnings)
    config: dict[str, Any] = {}
    origin = Origin("file", str(path))
    for key, value in current.items():
        config[key] = entries[key] if key in entries else _user_entry(value, origin)
    for key, value in entries.items():
        config.setdefault(key, value)
    return config


def parse_existing(content: bytes, path: Path | None = None) -> dict[str, Any]:
    """The object a providers.jsonc holds, credentials as Secrets. Raises DiagnosticsError
    when the file cannot be read exactly."""
    where = path or Path("providers.jsonc")
    config, _ = jsonc.read_object(where, content, _is_header)
    origin = Origin("file", str(where))
    return {key: _user_entry(value, origin) for key, value in config.items()}


def remove_entries(content: bytes, keys: Iterable[str], path: Path | None = None) -> bytes:
    """providers.jsonc without the top-level entries `keys`, everything else kept in place,
    written as a Mux save writes it. Raises DiagnosticsError when the file cannot be read."""
    config = parse_existing(content, path)
    for key in keys:
        config.pop(key, None)
    data = ("// Providers configuration for mux\n" + jsonc.dumps(config) + "\n").encode()
    return jsonc.SensitiveBytes(data) if contains_secret(config) else data


def _is_header(comment: jsonc.Comment) -> bool:
    return (
        comment.leading
        and not comment.block
        and (comment.text in _KNOWN_HEADER or comment.text.startswith(_OWN_MARK))
    )


def _user_entry(value: Any, origin: Origin) -> Any:
    """An entry this target does not own, its credentials wrapped as Secrets."""
    if not isinstance(value, dict):
        return value
    return {k: protect(v, origin) if k in _USER_SECRET_FIELDS else v for k, v in value.items()}


def _header(spec: Spec, target: Target, managed: list[str]) -> str:
    owned = ", ".join(f'"{key}"' for key in managed) or "no entries"
    files = ", ".join(Path(f).name for f in spec.files)
    line = _comment_text(f"{owned} managed by target {target.address} (spec: {files})")
    return (
        "// Providers configuration for mux\n"
        f"//{_OWN_MARK} {line}\n"
        f"//{_OWN_MARK} other entries are kept on apply; comments and trailing commas are not\n"
    )


def _comment_text(text: str) -> str:
    """Text safe inside a // comment: nothing that could end the line early."""
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in text)
