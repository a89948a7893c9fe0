"""Which endpoints to probe, with the values as rendered.

Preflight reads base URLs and keys back from the rendered providers.jsonc (and its key files),
so a rendering bug that corrupts a URL fails the probe instead of shipping. Providers that only
env-shaped targets carry are probed with the model's values, which those renderers copy as they
are. Each Coder deployment is probed ahead of its bridged endpoints.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from provision.catalog import load_catalog
from provision.model import Deployment, Provider, Spec
from provision.plan import Plan
from provision.probe import Endpoint
from provision.record import replace
from provision.render import Artifact
from provision.secrets import Origin, Secret


def coder_endpoint(deployment: Deployment) -> Endpoint | None:
    if deployment.coder is None:
        return None
    return Endpoint(
        address=f"{deployment.name}.coder",
        recipe=load_catalog().recipes["coder"],
        base_url=deployment.coder.url,
        credential=deployment.coder.token,
        allow_insecure=deployment.coder.allow_insecure,
        default_base_url=False,
    )


def provider_endpoint(
    p: Provider, *, base_url: str | None = None, credential: Secret | None = None
) -> Endpoint | None:
    entry = p.catalog
    catalog = load_catalog()
    url = base_url or p.base_url
    if url is None:
        return None
    recipe_name = entry.aibridge.probe if p.bridge is not None and entry.aibridge else entry.probe
    key = credential or p.api_key
    override = None
    if key is not None and key.origin.kind == "env":
        override = entry.key_env_auth.get(key.origin.name)
    settings = {
        k: v for k, v in p.options.items() if k in entry.extra_env and isinstance(v, str | Secret)
    }
    options = p.probe if p.enabled else replace(p.probe, enabled=False)
    return Endpoint(
        address=p.address,
        recipe=catalog.recipes[recipe_name],
        base_url=url,
        credential=key,
        headers=p.headers,
        settings=settings,
        options=options,
        allow_insecure=p.allow_insecure,
        default_base_url=p.bridge is None and url == entry.base_url,
        auth_override=override,
    )


def spec_endpoints(
    spec: Spec, deployments: Iterable[str] | None = None
) -> tuple[list[Endpoint], list[Endpoint]]:
    """(Coder deployments, providers) of the chosen deployments, from the model."""
    names = list(spec.deployments) if deployments is None else list(deployments)
    coders: list[Endpoint] = []
    providers: list[Endpoint] = []
    for name in names:
        d = spec.deployments[name]
        if (c := coder_endpoint(d)) is not None and any(p.bridge for p in d.providers.values()):
            coders.append(c)
        providers.extend(e for p in d.providers.values() if (e := provider_endpoint(p)) is not None)
    return coders, providers


def plan_endpoints(
    plan: Plan, deployments: Iterable[str] | None = None
) -> tuple[list[Endpoint], list[Endpoint]]:
    """Like spec_endpoints, but with what the plan would write read back from its artifacts.
    Only deployments some target renders are probed (with -target, some targeted target),
    unless deployments are named."""
    spec = plan.spec
    if deployments is None:
        targets = list(spec.targets.values())
        if plan.targeted:
            planned = {c.target.address for c in plan.changes if c.target is not None}
            targets = [t for t in targets if t.address in planned]
        deployments = list(dict.fromkeys(t.deployment for t in targets))
    coders, providers = spec_endpoints(spec, deployments)
    artifacts = {c.artifact.address: c.artifact for c in plan.changes if c.artifact is not None}
    readback: dict[str, Endpoint] = {}
    for target in spec.targets.values():
        main = artifacts.get(target.address)
        if target.type != "mux_providers" or main is None or main.structured is None:
            continue
        for p in spec.providers_of(target):
            entry = main.structured.get(p.id)
            if isinstance(entry, Mapping):
                endpoint = _read_back(p, entry, artifacts, target.address)
                if endpoint is not None:
                    readback[p.address] = endpoint
    return coders, [readback.get(e.address, e) for e in providers]


def _read_back(
    p: Provider, entry: Mapping[str, Any], artifacts: Mapping[str, Artifact], target_address: str
) -> Endpoint | None:
    base = entry.get("baseUrl")
    suffix = (p.catalog.mux_base_path or "").rstrip("/")
    if isinstance(base, str) and suffix and base.endswith(suffix):
        base = base[: -len(suffix)]
    key = entry.get("apiKey")
    credential: Secret | None = None
    if isinstance(key, Secret):
        credential = Secret([c.reveal() for c in key.candidates], key.origin)
    elif isinstance(key, str):
        credential = Secret(key, Origin("rendered", p.address))
    elif isinstance(entry.get("apiKeyFile"), str):
        key_file = artifacts.get(f"{target_address}/keys/{p.id}")
        if key_file is not None:
            credential = Secret(key_file.content.decode().strip(), Origin("rendered", p.address))
    if p.api_key is not None and len(p.api_key.candidates) > 1:
        credential = p.api_key  # a file holds one key; preflight must still try every candidate
    return provider_endpoint(
        p, base_url=base if isinstance(base, str) else None, credential=credential or p.api_key
    )
