"""Probes around apply: verify every endpoint with the values as rendered before anything is
written (seed 003: verify the new key, then swap), and pick rotation candidates (seed 004)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace

from provision.model import Spec
from provision.plan import Plan
from provision.probe import Endpoint, Verdict, run_probes
from provision.probe.endpoints import plan_endpoints
from provision.secrets import Secret


def probe_endpoints(coders: list[Endpoint], providers: list[Endpoint],
                    on_result: Callable[[Verdict], None] | None = None) -> list[Verdict]:
    """Each Coder deployment first: when it is down, its bridged endpoints say little more."""
    verdicts = run_probes(coders, on_result=on_result) if coders else []
    return verdicts + (run_probes(providers, on_result=on_result) if providers else [])


def probe_plan(plan: Plan, deployments: Iterable[str] | None = None,
               on_result: Callable[[Verdict], None] | None = None) -> list[Verdict]:
    coders, providers = plan_endpoints(plan, deployments)
    return probe_endpoints(coders, providers, on_result)


def failed_required(verdicts: Iterable[Verdict]) -> list[Verdict]:
    return [v for v in verdicts if v.required and not v.passed]


def chosen_keys(verdicts: Iterable[Verdict]) -> dict[str, Secret]:
    """Providers whose accepted key is not their first candidate."""
    return {v.address: v.credential for v in verdicts
            if v.candidate and v.credential is not None}


def with_keys(spec: Spec, keys: Mapping[str, Secret]) -> Spec:
    """The spec with each provider's API key replaced by the candidate preflight accepted."""
    if not keys:
        return spec
    deployments = {}
    for name, d in spec.deployments.items():
        providers = {pid: replace(p, api_key=keys.get(p.address, p.api_key))
                     for pid, p in d.providers.items()}
        deployments[name] = replace(d, providers=providers)
    return replace(spec, deployments=deployments)
