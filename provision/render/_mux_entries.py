"""The entries of a providers.jsonc: one Mux provider entry per spec provider, with the key files
and environment variables its credentials need. `provision.render.mux` merges them into the file.

How each provider becomes an entry is catalog data (`mux`, `mux_id`, `mux_base_path`,
`mux_options`, `mux_flatten`, `key_env`, `extra_env`); this module only applies it. API keys
follow the target's `secrets:` mode: `inline` writes apiKey, `file` writes one key file per
provider and points apiKeyFile at it, `env` writes no key and lists the variable Mux will read.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from provision.catalog import load_catalog
from provision.errors import Diagnostic, Span
from provision.model import ModelEntry, Provider, Spec, Target
from provision.render import Artifact, _paths, jsonc
from provision.secrets import Secret

SECRET_MODES = ("inline", "file", "env")

# Spec option values whose Mux spelling differs.
_OPTION_VALUES: Mapping[str, Mapping[str, str]] = {
    "wire_format": {"chat_completions": "chatCompletions"},
}
_KEY_FILE_LIMIT = 64 * 1024  # Mux ignores a larger apiKeyFile
# What JavaScript's String.prototype.trim removes; Mux trims key files with it.
_JS_SPACE = "\t\n\v\f\r \xa0\u1680\u202f\u205f\u3000\ufeff\u2028\u2029" + "".join(
    map(chr, range(0x2000, 0x200B))
)


class _Builder:
    """Builds provider entries, collecting every problem before any is raised."""

    def __init__(self, spec: Spec, target: Target, path: Path) -> None:
        self.spec = spec
        self.target = target
        self.mode = str(target.options.get("secrets", "inline"))
        self.path = path
        self.diagnostics: list[Diagnostic] = []
        self.key_files: list[Artifact] = []
        self.env_required: list[str] = []
        if self.mode not in SECRET_MODES:
            self.error(
                f'Unknown secrets mode "{self.mode}"',
                "Use inline, file or env.",
                target.span_of("secrets"),
            )

    def error(self, summary: str, detail: str = "", span: Span | None = None) -> None:
        self.diagnostics.append(Diagnostic.error(summary, detail, span))

    def entry(self, p: Provider) -> dict[str, Any] | None:
        cat = p.catalog
        errors = sum(d.is_error for d in self.diagnostics)
        if cat.mux == "none":
            self.error(
                f'Provider "{p.id}" ({cat.display_name}) cannot be written to Mux\'s '
                f"providers.jsonc (target {self.target.address})",
                cat.mux_reason or "",
                p.span,
            )
            return None
        custom = cat.mux == "custom" or p.id != cat.mux_id
        if custom and cat.mux == "builtin" and cat.api != "openai":
            self.error(
                f'Provider "{p.id}" cannot be a Mux custom provider (target {self.target.address})',
                f"It is an instance of {cat.id}, whose API is not OpenAI-compatible, and Mux "
                f"custom providers speak OpenAI Chat Completions only. Name it "
                f'"{cat.mux_id}" to use Mux\'s built-in {cat.display_name} provider.',
                p.span,
            )
            return None
        out: dict[str, Any] = {}
        if custom:
            out["providerType"] = "openai-compatible"
        if custom or p.display_name:
            self.put(p, out, "displayName", p.display_name or cat.display_name, "display_name")
        self.credential(p, out, custom)
        base_url = self.base_url(p, custom)
        if base_url is not None:
            self.put(p, out, "baseUrl", base_url, "base_url")
        if p.headers:
            self.headers(p, out, custom)
        if p.models:
            self.put(p, out, "models", [_model(m) for m in p.models], "models")
        if p.model_parameters:
            self.put(p, out, "modelParameters", p.model_parameters, "model_parameters")
        self.options(p, out, custom)
        if not p.enabled:
            out["enabled"] = False  # Mux stores `enabled` only as false
        return out if sum(d.is_error for d in self.diagnostics) == errors else None

    def put(self, p: Provider, out: dict[str, Any], key: str, value: Any, field: str) -> None:
        """Set out[key] to value as JSON data, or report why Mux could not read it back."""
        try:
            out[key] = jsonc.to_data(value, key)
        except jsonc.Unrepresentable as exc:
            self.error(
                f'Cannot write {exc.where} of provider "{p.id}" to target {self.target.address}',
                exc.reason,
                p.span_of(field),
            )

    def secret_value(self, p: Provider, secret: Secret, what: str, field: str) -> str | None:
        if not secret.known:
            self.error(
                f'The {what} of provider "{p.id}" is not available (secret not available)',
                f"It comes from {secret.origin}, which was not read; target "
                f"{self.target.address} needs its value.",
                p.span_of(field),
            )
            return None
        return secret.reveal()

    def credential(self, p: Provider, out: dict[str, Any], custom: bool) -> None:
        field = "api_key" if p.bridge is None else "via"
        what = "API key" if p.bridge is None else "Coder token (its AI Bridge credential)"
        if p.api_key is not None and p.api_key_file is not None:
            self.error(
                f'Provider "{p.id}" sets both api_key and api_key_file',
                "Keep one of them.",
                p.span_of("api_key_file"),
            )
            return
        if p.api_key_file is not None:
            key_file = p.api_key_file
            if not key_file.startswith("~") and not Path(key_file).is_absolute():
                key_file = str(self.spec.root / key_file)  # Mux would resolve it from its cwd
            self.put(p, out, "apiKeyFile", key_file, "api_key_file")
            return
        if p.api_key is None:
            return
        if self.mode == "env":
            if custom:
                self.error(
                    f'The {what} of custom provider "{p.id}" cannot come from the environment',
                    "Mux custom OpenAI-compatible providers read no environment variables; "
                    "use secrets: file (an apiKeyFile) or secrets: inline for this target.",
                    p.span_of(field),
                )
            elif not p.catalog.key_env:
                self.error(
                    f'Mux reads no environment variable for the {what} of "{p.id}"',
                    "Use secrets: inline or secrets: file.",
                    p.span_of(field),
                )
            else:
                self.env_required.append(p.catalog.key_env[0])
            return
        value = self.secret_value(p, p.api_key, what, field)
        if value is None:
            return
        problem = _key_problem(value, self.mode)
        if problem is not None:
            self.error(f'The {what} of provider "{p.id}" {problem}', "", p.span_of(field))
        elif self.mode == "inline":
            out["apiKey"] = p.api_key
        else:
            path = _paths.key_file(self.target, self.path, p)
            assert path is not None  # secrets: file, an api_key and no api_key_file
            content = jsonc.SensitiveBytes((value + "\n").encode("utf-8"))
            address = f"{self.target.address}/keys/{p.id}"
            self.key_files.append(
                Artifact(address=address, path=path, content=content, mode=0o600, sensitive=True)
            )
            out["apiKeyFile"] = str(path)

    def base_url(self, p: Provider, custom: bool) -> str | None:
        if p.base_url is None:
            if custom:
                self.error(
                    f'Custom provider "{p.id}" needs a base_url',
                    "Mux custom providers require baseUrl.",
                    p.span,
                )
            return None
        # A built-in on the catalog default is left to Mux, except a local server: Mux counts
        # it configured only when its baseUrl (or a model list) is set.
        written = custom or p.bridge is not None or "base_url" in p.spans or p.catalog.local
        if not written:
            return None
        base, suffix = p.base_url, p.catalog.mux_base_path or ""
        if not suffix:
            return base  # as written: a trailing slash tells Xum not to append /v1
        if suffix == "/":
            return base if base.endswith("/") else base + "/"
        if base.rstrip("/").endswith(suffix.rstrip("/")):
            return base  # already given in Mux's form
        return base.rstrip("/") + suffix

    def headers(self, p: Provider, out: dict[str, Any], custom: bool) -> None:
        mux_id = p.catalog.mux_id or p.id
        if not custom and mux_id in load_catalog().mux_headers_ignored:
            self.diagnostics.append(
                Diagnostic.warning(
                    f'Mux ignores headers for provider "{p.id}"',
                    f"Mux does not send custom headers to {p.catalog.display_name}.",
                    p.span_of("headers"),
                )
            )
        inline_secret = False
        for name, value in p.headers.items():
            if isinstance(value, Secret):
                inline_secret = True
                self.secret_value(p, value, f'header "{name}"', "headers")
        if inline_secret and self.mode != "inline":
            self.diagnostics.append(
                Diagnostic.warning(
                    f'Secret headers of provider "{p.id}" are written into {self.target.path}',
                    f"Mux has no file or environment reference for headers, so with secrets: "
                    f"{self.mode} they still go in the file (mode 0600).",
                    p.span_of("headers"),
                )
            )
        self.put(p, out, "headers", p.headers, "headers")

    def options(self, p: Provider, out: dict[str, Any], custom: bool) -> None:
        cat = p.catalog
        for key in p.options:
            if custom and cat.mux == "builtin":
                self.error(
                    f'"{key}" does not apply to provider "{p.id}"',
                    f"{p.id} is written as a Mux custom OpenAI-compatible provider, which has "
                    f'no such setting; name it "{cat.mux_id}" to use the built-in provider.',
                    p.span_of(key),
                )
            elif key not in cat.mux_options and key not in cat.mux_flatten:
                self.error(f'"{key}" has no Mux setting for provider "{p.id}"', span=p.span_of(key))
        if custom and cat.mux == "builtin":
            return
        for key, mux_key in cat.mux_options.items():
            if key in p.options:
                self.option(p, out, key, mux_key, p.options[key])
        for key, allowed in cat.mux_flatten.items():
            table = p.options.get(key)
            if table is None:
                continue
            if not isinstance(table, Mapping):
                self.error(f'"{key}" of provider "{p.id}" must be a table', span=p.span_of(key))
                continue
            for sub in table:
                if sub not in allowed:
                    self.error(
                        f'"{key}.{sub}" is not a Mux setting of provider "{p.id}"',
                        f"Allowed: {', '.join(allowed)}.",
                        p.span_of(key),
                    )
            for sub in allowed:
                if sub in table:
                    self.option(p, out, key, sub, table[sub])

    def option(self, p: Provider, out: dict[str, Any], key: str, mux_key: str, value: Any) -> None:
        if isinstance(value, Secret):
            if self.mode == "env":
                names = p.catalog.extra_env.get(key, ())
                if names:
                    self.env_required.append(names[0])
                else:
                    self.error(
                        f'Mux reads no environment variable for "{key}" of "{p.id}"',
                        "Use secrets: inline for this target.",
                        p.span_of(key),
                    )
                return
            if self.mode == "file":
                self.error(
                    f'Mux has no file reference for "{mux_key}" (provider "{p.id}")',
                    "Only apiKey has a file equivalent (apiKeyFile); use secrets: inline "
                    "for this target"
                    + (" or secrets: env." if key in p.catalog.extra_env else "."),
                    p.span_of(key),
                )
                return
            self.secret_value(p, value, f'"{key}"', key)
        elif isinstance(value, str):
            value = _OPTION_VALUES.get(key, {}).get(value, value)
        self.put(p, out, mux_key, value, key)


def _key_problem(value: str, mode: str) -> str | None:
    """Why Mux would not read `value` back as the key (None when it would)."""
    if not jsonc.is_unicode(value):
        return "is not valid Unicode text"
    if not value.strip(_JS_SPACE):
        return "is blank, which Mux reads as no key"
    if mode == "inline" and value.startswith("op://"):
        return "starts with op://, which Mux takes for a legacy 1Password reference and ignores"
    if mode == "file" and value != value.strip(_JS_SPACE):
        return "has surrounding whitespace, which Mux trims from a key file; use secrets: inline"
    if mode == "file" and len(value.encode("utf-8")) >= _KEY_FILE_LIMIT:
        return "is over 64 KiB, the most Mux reads from a key file; use secrets: inline"
    return None


def _model(m: ModelEntry) -> str | dict[str, Any]:
    if m.context_window_tokens is None and m.mapped_to_model is None:
        return m.id
    out: dict[str, Any] = {"id": m.id}
    if m.context_window_tokens is not None:
        out["contextWindowTokens"] = m.context_window_tokens
    if m.mapped_to_model is not None:
        out["mappedToModel"] = m.mapped_to_model
    return out
