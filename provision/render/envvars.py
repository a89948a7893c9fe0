"""Which environment variables a deployment's providers become, for the env-shaped targets
(coder_agent_env, shell_exports). Names come from the catalog: the first `key_env`, the first
`base_url_env`, and `extra_env` for settings such as OpenAI's organization."""

from __future__ import annotations

from collections.abc import Mapping

from provision.errors import Diagnostic, DiagnosticsError, Span
from provision.model import Provider, Spec, Target, Text
from provision.record import record
from provision.secrets import Secret


@record
class EnvVar:
    """One environment variable an env-shaped target exports, and which provider (or the
    target's own `env:`) it comes from."""

    name: str
    value: Text
    provider: str | None  # provider ID; None for the target's own `env:` entries
    role: str  # "key" | "base_url" | "setting" | "extra"
    # Bridged providers: the value is the Coder URL + this suffix (role base_url) or the Coder
    # token (role key), which Terraform targets write as expressions, not literals.
    bridged: bool = False
    bridge_suffix: str = ""
    span: Span | None = None


def provider_vars(p: Provider) -> list[EnvVar]:
    out: list[EnvVar] = []
    entry = p.catalog
    bridged = p.bridge is not None
    if p.api_key is not None and entry.key_env:
        out.append(EnvVar(name=entry.key_env[0], value=p.api_key, provider=p.id, role="key",
                          bridged=bridged, span=p.span_of("api_key")))
    if p.base_url is not None and entry.base_url_env:
        url = p.base_url + (entry.mux_base_path or "").rstrip("/")
        suffix = ""
        if p.bridge is not None and entry.aibridge is not None:
            suffix = entry.aibridge.path_for(p.bridge.instance)
        out.append(EnvVar(name=entry.base_url_env[0], value=url, provider=p.id,
                          role="base_url", bridged=bridged, bridge_suffix=suffix,
                          span=p.span_of("base_url")))
    for setting, names in entry.extra_env.items():
        value = p.options.get(setting)
        if names and isinstance(value, str | Secret):
            out.append(EnvVar(name=names[0], value=value, provider=p.id, role="setting",
                              span=p.span_of(setting)))
    return out


def target_vars(spec: Spec, target: Target) -> list[EnvVar]:
    """Every variable the target exports, in spec order; a name claimed twice is an error."""
    out: list[EnvVar] = []
    for p in spec.providers_of(target):
        if p.enabled:
            out.extend(provider_vars(p))
    extra: Mapping[str, Text] = target.options.get("env") or {}
    out.extend(EnvVar(name=k, value=v, provider=None, role="extra",
                      span=target.span_of("env")) for k, v in extra.items())
    seen: dict[str, EnvVar] = {}
    diags: list[Diagnostic] = []
    for var in out:
        first = seen.setdefault(var.name, var)
        if first is not var:
            diags.append(Diagnostic.error(
                f'{var.name} is set by both {_who(first)} and {_who(var)} in target '
                f'"{target.name}"',
                "An environment variable has one value; keep one of them in this target "
                "(use the target's `providers:` list to pick).",
                span=var.span,
            ))
    if diags:
        raise DiagnosticsError(diags)
    return out


def _who(var: EnvVar) -> str:
    return f'provider "{var.provider}"' if var.provider else "the target's env"
