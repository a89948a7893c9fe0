"""Build the model from interpolated, schema-valid data, checking what a schema cannot:
catalog rules, Mux provider IDs, AI Bridge wiring, URLs, secrets, target references.

What it relies on lives beside it and is re-exported here: the spec's secret conventions in
`_secret_rules`, and facts about the local machine (`~`, Mux's config path, loopback) in
`_machine`."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from provision.catalog import Catalog, CatalogEntry
from provision.errors import Diagnostic, Span, closest
from provision.fsutil import SECRET_FILE_LIMIT, read_regular
from provision.model import (
    Bridge,
    Coder,
    ModelEntry,
    ProbeOptions,
    Provider,
    Target,
    Text,
    frozen_map,
)
from provision.record import record
from provision.secrets import Origin, Secret
from provision.spec._machine import default_mux_path, expand_home, is_loopback
from provision.spec._secret_rules import (
    _SPLIT_KEYS,
    SECRET_FIELDS,
    SECRET_MAPS,
    misplaced_secrets,
    rotation_keys,
)
from provision.spec.interpolate import Derived, EnvDerived, EnvValue
from provision.spec.source import Path as DocPath
from provision.spec.source import SourceMap, format_path

__all__ = ["PROVIDER_OPTION_KEYS", "SECRET_FIELDS", "SECRET_MAPS", "SECRET_OPTION_KEYS",
           "TARGET_COMMON_KEYS", "Builder", "default_mux_path", "expand_home", "is_loopback",
           "misplaced_secrets", "rotation_keys"]

PROVIDER_OPTION_KEYS = frozenset({
    "organization", "service_tier", "wire_format", "store", "cache_ttl",
    "codex_oauth_default_auth", "default_model", "api_version", "websocket_transport_enabled",
    "disable_beta_features", "search_parameters", "region", "profile", "bearer_token",
    "access_key_id", "secret_access_key", "routing", "azure_deployment",
})
SECRET_OPTION_KEYS = frozenset({"bearer_token", "access_key_id", "secret_access_key"})
TARGET_COMMON_KEYS = frozenset({
    "type", "deployment", "path", "description", "providers", "follow_symlinks",
})


@record(frozen=False, kw_only=False)
class Builder:
    """Builds model nodes from interpolated, schema-valid spec data, checking what a schema
    cannot. Problems are appended to `diagnostics` (shared with the caller), never raised."""

    catalog: Catalog
    root: Path
    env: Mapping[str, str]
    read_secrets: bool
    diagnostics: list[Diagnostic]

    def error(self, summary: str, detail: str = "", span: Span | None = None) -> None:
        self.diagnostics.append(Diagnostic.error(summary, detail, span=span))

    def warn(self, summary: str, detail: str = "", span: Span | None = None) -> None:
        self.diagnostics.append(Diagnostic.warning(summary, detail, span=span))

    # -- secrets ---------------------------------------------------------------------------

    def secret(self, value: Any, source: SourceMap, path: DocPath) -> Secret | None:
        span = source.at(path)
        if isinstance(value, Secret):
            return value
        if isinstance(value, EnvValue):
            return Secret(str(value), Origin("env", value.env_name))
        if isinstance(value, str):
            if value and not isinstance(value, Derived):
                self.warn(
                    f"Secret written literally at {format_path(path)}",
                    "Use {env: NAME} or {file: PATH} so the value stays out of version control.",
                    span,
                )
            return Secret(value, Origin("literal", format_path(path)))
        if not isinstance(value, dict) or len(value) != 1:
            self.error(f"A secret source takes exactly one of env, file, env_list at "
                       f"{format_path(path)}", span=span)
            return None
        ((kind, name),) = value.items()
        origin = Origin(kind, str(name))
        if kind == "file":
            return self._secret_file(str(name), origin, span)
        if not self.read_secrets:
            return Secret.unknown(origin)
        if kind == "env_keys":
            keys = rotation_keys(self.env, str(name))
            if not keys:
                self.error(f'No keys for "{name}" in the environment',
                           f"Set {name}_API_KEY, {name}_API_KEYS (separated by , or ;), "
                           f"{name}_API_KEY_1… or PROVISION_LIVE_{name}_KEY.", span)
                return None
            return Secret(keys, origin)
        text = self.env.get(name)
        if not text:
            self.error(f'Environment variable "{name}" is not set',
                       f"The secret at {format_path(path)} is read from it.", span)
            return None
        if kind == "env":
            return Secret(text, origin)
        keys = [k.strip() for k in _SPLIT_KEYS.split(text) if k.strip()]
        if not keys:
            self.error(f'Environment variable "{name}" holds no keys',
                       "Separate candidate keys with , or ;.", span)
            return None
        return Secret(keys, origin)

    def _secret_file(self, name: str, origin: Origin, span: Span | None) -> Secret | None:
        if not self.read_secrets:
            return Secret.unknown(origin)
        path = self.path(name)
        try:
            text = read_regular(path, SECRET_FILE_LIMIT).decode("utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            self.error(f"Cannot read secret file {name}: {reason}", span=span)
            return None
        if not text:
            self.error(f"Secret file {name} is empty", span=span)
            return None
        return Secret(text, origin)

    def text(self, value: Any, source: SourceMap, path: DocPath) -> Text | None:
        """A header or env value: text written in the spec stays text; anything read from the
        environment or a secret source is a Secret (an Authorization header usually is)."""
        if isinstance(value, EnvValue):
            return Secret(str(value), Origin("env", value.env_name))
        if isinstance(value, EnvDerived):
            return Secret(str(value), Origin("interpolated", format_path(path)))
        if isinstance(value, str):
            return value
        return self.secret(value, source, path)

    def path(self, text: str) -> Path:
        p = expand_home(text, self.env)
        return Path(os.path.normpath(p if p.is_absolute() else self.root / p))

    # -- URLs ------------------------------------------------------------------------------

    def url(self, value: str, span: Span | None, what: str) -> str | None:
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises for a port out of range or not a number
        except ValueError as exc:  # "Invalid IPv6 URL" for an unmatched bracket, too
            self.error(f'Invalid URL "{value}" for {what}', f"{exc}.", span)
            return None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            self.error(f'Invalid URL "{value}" for {what}',
                       "Expected an http:// or https:// URL with a host.", span)
            return None
        return value

    # -- coder -----------------------------------------------------------------------------

    def coder(self, raw: dict[str, Any] | None, source: SourceMap, path: DocPath) -> Coder | None:
        if raw is None:
            return None
        url = self.url(raw["url"], source.at((*path, "url")), "coder.url")
        url = url.rstrip("/") if url else url  # bridged URLs are built by appending paths
        token = self.secret(raw["token"], source, (*path, "token"))
        if url is None or token is None:
            return None
        self._insecure(url, source.at((*path, "url")), "the Coder token",
                       allowed=raw.get("allow_insecure") is True)
        return Coder(url=url, token=token, allow_insecure=raw.get("allow_insecure") is True,
                     span=source.at(path),
                     spans=_spans(raw, source, path))

    # -- providers -------------------------------------------------------------------------

    def entry(self, pid: str, raw: dict[str, Any], source: SourceMap, path: DocPath
              ) -> CatalogEntry | None:
        name = raw.get("catalog", pid)
        entry = self.catalog.get(name)
        if entry is not None:
            return entry
        ids = [e.id for e in self.catalog.entries]
        hint = closest(name, ids)
        where = (*path, "catalog") if "catalog" in raw else path
        detail = f'Did you mean "{hint}"? ' if hint else ""
        detail += ('Set `catalog:` to the kind of server (e.g. "openai-compatible") for a '
                   "provider that is not in the catalog; `provision providers` lists them.")
        self.error(f'Unknown provider "{name}"', detail,
                   source.at(where) if "catalog" in raw else source.key_at(path))
        return None

    def provider(self, pid: str, raw: dict[str, Any], source: SourceMap, path: DocPath,
                 deployment: str, coder: Coder | None, coder_declared: bool) -> Provider | None:
        entry = self.entry(pid, raw, source, path)
        if entry is None:
            return None
        before = len([d for d in self.diagnostics if d.is_error])
        self._check_id(pid, entry, source.key_at(path))
        for key in PROVIDER_OPTION_KEYS & raw.keys():
            if not entry.takes_option(key):
                takers = sorted(e.id for e in self.catalog.entries if e.takes_option(key))
                self.error(f'"{key}" does not apply to provider "{pid}" ({entry.id})',
                           f"It applies to: {', '.join(takers)}.", source.key_at((*path, key)))
        bridge, base_url, api_key = self._endpoint(pid, raw, entry, source, path, coder,
                                                   coder_declared)
        options: dict[str, Any] = {}
        for key in PROVIDER_OPTION_KEYS & raw.keys():
            value = raw[key]
            if key in SECRET_OPTION_KEYS:
                value = self.secret(value, source, (*path, key))
            allowed = entry.option_values.get(key)
            if allowed is not None and value not in allowed:
                listing = ", ".join(f'"{v}"' for v in allowed)
                self.error(f"Invalid value {json.dumps(value)} for {format_path((*path, key))}",
                           f"{entry.display_name} accepts one of: {listing}.",
                           source.at((*path, key)))
            options[key] = value
        headers = {k: self.text(v, source, (*path, "headers", k))
                   for k, v in (raw.get("headers") or {}).items()}
        models = tuple(self._model(m, source, (*path, "models", i))
                       for i, m in enumerate(raw.get("models") or []))
        params = {k: frozen_map(v) for k, v in (raw.get("model_parameters") or {}).items()}
        self._check_params(entry, params, source, (*path, "model_parameters"))
        if len([d for d in self.diagnostics if d.is_error]) > before:
            return None
        return Provider(
            id=pid, deployment=deployment, catalog=entry, bridge=bridge, base_url=base_url,
            api_key=api_key, api_key_file=raw.get("api_key_file"),
            headers=frozen_map({k: v for k, v in headers.items() if v is not None}),
            models=models, model_parameters=frozen_map(params),
            display_name=raw.get("display_name"), enabled=raw.get("enabled", True),
            allow_insecure=raw.get("allow_insecure", False), options=frozen_map(options),
            probe=self._probe(raw.get("probe") or {}, source, (*path, "probe")),
            span=source.key_at(path), spans=_spans(raw, source, path),
        )

    def _check_id(self, pid: str, entry: CatalogEntry, span: Span | None) -> None:
        if entry.mux == "builtin" and pid == entry.mux_id:
            return
        if pid in self.catalog.mux_builtin_ids:
            self.warn(f'Provider "{pid}" shadows Mux\'s built-in provider of that name',
                      f"It is an instance of {entry.id}; Mux will use it instead of its "
                      f"built-in {pid}.", span)
            return
        reason = self.catalog.is_valid_custom_id(pid)
        if reason is not None:
            self.error(f'Invalid provider ID "{pid}"', reason, span)

    def _endpoint(self, pid: str, raw: dict[str, Any], entry: CatalogEntry, source: SourceMap,
                  path: DocPath, coder: Coder | None, coder_declared: bool
                  ) -> tuple[Bridge | None, str | None, Secret | None]:
        api_key = (self.secret(raw["api_key"], source, (*path, "api_key"))
                   if "api_key" in raw else None)
        if raw.get("via") == "aibridge":
            span = source.at((*path, "via"))
            if entry.aibridge is None:
                self.error(f'Provider "{pid}" ({entry.id}) cannot be routed through AI Bridge',
                           "AI Bridge serves OpenAI- and Anthropic-compatible APIs only.", span)
                return None, None, None
            for key in ("base_url", "api_key", "api_key_file"):
                if key in raw:
                    self.error(f'"{key}" conflicts with via: aibridge',
                               "A bridged provider takes its URL and credential from the "
                               "deployment's coder block.", source.key_at((*path, key)))
            if coder is None:
                if not coder_declared:
                    self.error("via: aibridge needs the deployment's Coder URL and token",
                               "Add coder: {url: …, token: …} to the deployment.", span)
                return None, None, None
            instance = raw.get("aibridge_instance", entry.aibridge.type)
            bridge = Bridge(kind=entry.aibridge.type, instance=instance)
            return bridge, coder.url + entry.aibridge.path_for(instance), coder.token
        if "aibridge_instance" in raw:
            self.error("aibridge_instance needs via: aibridge",
                       span=source.key_at((*path, "aibridge_instance")))
        base_url: str | None = raw.get("base_url") or entry.base_url
        span = source.at((*path, "base_url")) if "base_url" in raw else source.key_at(path)
        if base_url is None:
            if entry.base_url_required:
                self.error(f'Provider "{pid}" ({entry.id}) needs a base_url',
                           "The catalog has no default endpoint for it.", source.key_at(path))
            return None, None, api_key
        base_url = self.url(base_url, span, f"providers.{pid}.base_url")
        if base_url is None:
            return None, None, api_key
        if ("base_url" in raw and entry.api == "openai"
                and not urlsplit(base_url).path.rstrip("/").endswith("/v1")):
            self.warn(f'Base URL of "{pid}" does not end in /v1',
                      "Most OpenAI-compatible servers serve their API under /v1.", span)
        if api_key is not None and not raw.get("allow_insecure"):
            self._insecure(base_url, span, f'the API key of "{pid}"', allowed=False)
        return None, base_url, api_key

    def _insecure(self, url: str, span: Span | None, what: str, *, allowed: bool) -> None:
        parts = urlsplit(url)
        if parts.scheme == "http" and not allowed and not is_loopback(parts.hostname or ""):
            self.warn(f"{what[0].upper()}{what[1:]} would be sent over plain http to "
                      f"{parts.hostname}",
                      "Use https, or set allow_insecure: true if the network is trusted.", span)

    def _model(self, raw: Any, source: SourceMap, path: DocPath) -> ModelEntry:
        if isinstance(raw, str):
            return ModelEntry(id=raw, span=source.at(path))
        return ModelEntry(id=raw["id"], context_window_tokens=raw.get("context_window_tokens"),
                          mapped_to_model=raw.get("mapped_to_model"), span=source.at(path),
                          spans=_spans(raw, source, path))

    def _check_params(self, entry: CatalogEntry, params: Mapping[str, Mapping[str, Any]],
                      source: SourceMap, path: DocPath) -> None:
        if entry.api != "anthropic":
            return
        for model, values in params.items():
            temperature = values.get("temperature")
            if temperature is not None and temperature != 1:
                self.warn(
                    f'temperature {temperature} for "{model}" breaks Anthropic extended thinking',
                    "Anthropic requires temperature 1 when thinking is on; requests with "
                    "thinking enabled will fail.",
                    source.at((*path, model, "temperature")),
                )

    def _probe(self, raw: dict[str, Any], source: SourceMap, path: DocPath) -> ProbeOptions:
        expect = raw.get("expect") or {}
        return ProbeOptions(
            enabled=raw.get("enabled", True), required=raw.get("required", True),
            path=raw.get("path"), method=raw.get("method"),
            expect_status=tuple(expect.get("status") or ()), expect_shape=expect.get("shape"),
            timeout=raw.get("timeout"),
            ca_bundle=str(self.path(raw["ca_bundle"])) if "ca_bundle" in raw else None,
            span=source.at(path), spans=_spans(raw, source, path),
        )

    # -- targets ---------------------------------------------------------------------------

    def target(self, name: str, raw: dict[str, Any], source: SourceMap, path: DocPath,
               providers: Mapping[str, Mapping[str, Any]]) -> Target | None:
        deployment = raw["deployment"]
        if deployment not in providers:
            hint = closest(deployment, providers)
            self.error(f'Target "{name}" names unknown deployment "{deployment}"',
                       f'Did you mean "{hint}"?' if hint else
                       "Deployments: " + (", ".join(providers) or "(none)"),
                       source.at((*path, "deployment")))
            return None
        selected = raw.get("providers")
        for i, pid in enumerate(selected or ()):
            if pid not in providers[deployment]:
                self.error(f'Target "{name}" names unknown provider "{pid}"',
                           f'Deployment "{deployment}" has: '
                           + (", ".join(providers[deployment]) or "(none)"),
                           source.at((*path, "providers", i)))
        if "path" not in raw and raw["type"] != "mux_providers":
            self.error(f'Target "{name}" needs a path',
                       f"Only mux_providers has a default path ({raw['type']} does not).",
                       source.key_at(path))
            return None
        options: dict[str, Any] = {}
        for key, value in raw.items():
            if key in TARGET_COMMON_KEYS:
                continue
            if key == "env":
                value = frozen_map({k: self.text(v, source, (*path, "env", k))
                                    for k, v in value.items()})
            options[key] = value
        if "template" in options:
            options["template"] = self.path(options["template"])
        if "secrets_dir" in options:
            options["secrets_dir"] = self.path(options["secrets_dir"])
        out_path = self.path(raw["path"]) if "path" in raw else default_mux_path(self.env)
        return Target(
            name=name, type=raw["type"], deployment=deployment, path=out_path,
            providers=tuple(selected) if selected is not None else None,
            follow_symlinks=raw.get("follow_symlinks", False), options=frozen_map(options),
            span=source.key_at(path), spans=_spans(raw, source, path),
        )


def _spans(raw: Mapping[str, Any], source: SourceMap, path: DocPath) -> Mapping[str, Span]:
    return frozen_map({k: s for k in raw if (s := source.at((*path, k))) is not None})
