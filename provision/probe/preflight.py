"""Probes around apply: verify every endpoint with the values as rendered before anything is
written (seed 003: verify the new key, then swap), and pick rotation candidates (seed 004)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from provision.model import Spec
from provision.plan import Plan, make_plan
from provision.probe import Endpoint, Verdict, run_probes
from provision.record import replace
from provision.secrets import Secret
from provision.state import State, fingerprint_key

DEFAULT_PARALLELISM = 16


def probe_endpoints(coders: list[Endpoint], providers: list[Endpoint],
                    on_result: Callable[[Verdict], None] | None = None,
                    parallelism: int = DEFAULT_PARALLELISM) -> list[Verdict]:
    """Each Coder deployment first: when it is down, its bridged endpoints say little more."""
    verdicts = (run_probes(coders, on_result=on_result, concurrency=parallelism)
                if coders else [])
    if providers:
        verdicts += run_probes(providers, on_result=on_result, concurrency=parallelism)
    return verdicts


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


def recorded_keys(spec: Spec, state: State, key: bytes) -> dict[str, Secret]:
    """Providers whose state records a rotation candidate other than the first that is still
    listed: that candidate first, then the others in order. Without this every plan after a
    rotation would propose writing the first (throttled) candidate back."""
    recorded: dict[str, str] = {}
    for resource in state.resources.values():
        recorded.update(resource.key_fingerprints)
    out: dict[str, Secret] = {}
    for d in spec.deployments.values():
        for p in d.providers.values():
            wanted = recorded.get(p.address)
            if wanted is None or p.api_key is None or not p.api_key.known:
                continue
            candidates = p.api_key.candidates
            for i, c in enumerate(candidates):
                if i and c.fingerprint(key) == wanted:
                    rest = [o.reveal() for j, o in enumerate(candidates) if j != i]
                    out[p.address] = Secret([c.reveal(), *rest], p.api_key.origin)
                    break
    return out


def prefer_recorded_keys(plan: Plan, state_dir: Path) -> Plan:
    """The plan made again with each provider's recorded rotation candidate first."""
    if not any(r.key_fingerprints for r in plan.state.resources.values()):
        return plan
    keys = recorded_keys(plan.spec, plan.state, fingerprint_key(state_dir))
    if not keys:
        return plan
    return make_plan(with_keys(plan.spec, keys), plan.state, targets=plan.targeted,
                     destroy=plan.destroy, warnings=plan.warnings)


def rotation_fingerprints(original: Spec, final: Spec, state_dir: Path) -> dict[str, str]:
    """Which candidate each provider with several keys holds once written, by fingerprint."""
    out: dict[str, str] = {}
    key = b""
    for name, d in original.deployments.items():
        for pid, p in d.providers.items():
            if p.api_key is None or len(p.api_key.candidates) < 2:
                continue
            written = final.deployments[name].providers[pid].api_key
            if written is not None and written.known:
                key = key or fingerprint_key(state_dir)
                out[p.address] = written.fingerprint(key)
    return out
