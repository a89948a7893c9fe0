"""Probes: prove that each endpoint answers as the right kind of API and accepts its credential.

    Endpoint ──build──▶ requests (one per recipe step) ──engine──▶ replies ──classify──▶ Verdict

The only stage that talks to the network. Everything here is data; httpx is imported only when
`run_probes` / `probe_all` actually run.

`Verdict.passed` is true for `ok`, `throttled` (a 429/529 comes after authentication, so the key
was accepted; only the rate is limited), `unverified` (reachable, but the credential could not be
checked: a public endpoint, SigV4, a key-check host that is only contacted for the default base
URL) and `skipped` (`probe: {enabled: false}`). Callers show `unverified` as a warning.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from provision.catalog import AuthScheme, ProbeRecipe
from provision.model import ProbeOptions
from provision.record import field, record
from provision.secrets import Secret

if TYPE_CHECKING:
    import httpx

__all__ = ["PASSING", "Endpoint", "Outcome", "Verdict", "probe_all", "run_probes"]

Outcome = Literal[
    "ok",
    "credential_rejected",
    "credential_missing",
    "billing",
    "throttled",
    "wrong_url",
    "unreachable",
    "timeout",
    "server_error",
    "not_ready",
    "insecure",
    "unverified",
    "skipped",
]

_EMPTY: Mapping[str, Any] = MappingProxyType({})


def _empty() -> Mapping[str, Any]:
    return _EMPTY


PASSING: frozenset[Outcome] = frozenset({"ok", "throttled", "unverified", "skipped"})


@record
class Endpoint:
    """One endpoint to probe, with the values as rendered (not as written in the spec)."""

    address: str
    recipe: ProbeRecipe
    base_url: str
    credential: Secret | None
    headers: Mapping[str, str | Secret] = field(default_factory=_empty)
    # extra_env settings of the provider (region, organization, bearer_token, …): they fill
    # {placeholders} and setting_headers. A Secret setting may go in a header, never in a URL.
    settings: Mapping[str, str | Secret] = field(default_factory=_empty)
    options: ProbeOptions = field(default_factory=ProbeOptions)
    allow_insecure: bool = False
    # Steps with an absolute `url` run only when base_url is the catalog default: a credential
    # must never go to a host the user did not choose.
    default_base_url: bool
    # The auth scheme the credential's source implies (ANTHROPIC_AUTH_TOKEN → "bearer").
    auth_override: AuthScheme | None = None

    @property
    def effective_base_url(self) -> str:
        """base_url with its {setting} placeholders filled (Bedrock's {region}); as written when
        one names a setting that is unset or secret, which the probe then reports itself."""
        if "{" not in self.base_url:
            return self.base_url
        from provision.probe.build import BuildError, fill

        try:
            return fill(self.base_url, {}, self.settings)
        except BuildError:
            return self.base_url


@record
class Verdict:
    """One endpoint's probe result; `passed` also counts throttled, unverified and skipped.
    `credential` is the rotation candidate that was accepted, which `to_json` leaves out."""

    address: str
    url: str  # the first request URL, masked: never carries a secret
    outcome: Outcome
    status: int | None
    latency_ms: float  # of the request the verdict rests on; 0 when none was sent
    reason: str  # one line, for people
    hint: str  # how to fix it; "" when there is nothing to fix
    model_count: int | None
    attempts: int  # HTTP requests sent, counting retries and rotated keys
    required: bool
    candidate: int | None = None  # which rotation candidate was accepted (0-based)
    credential: Secret | None = None  # that candidate

    @property
    def passed(self) -> bool:
        return self.outcome in PASSING

    def to_json(self) -> dict[str, Any]:
        """Every field but the credential itself, for `-json` output and the health history."""
        return {
            "address": self.address,
            "url": self.url,
            "outcome": self.outcome,
            "passed": self.passed,
            "status": self.status,
            "latency_ms": round(self.latency_ms, 1),
            "reason": self.reason,
            "hint": self.hint,
            "model_count": self.model_count,
            "attempts": self.attempts,
            "required": self.required,
            "candidate": self.candidate,
        }


async def probe_all(
    endpoints: Iterable[Endpoint],
    *,
    concurrency: int = 16,
    deadline: float = 30.0,
    connect_timeout: float = 5.0,
    read_timeout: float = 10.0,
    max_retries: int = 2,
    transport: httpx.AsyncBaseTransport | None = None,
    on_result: Callable[[Verdict], None] | None = None,
) -> list[Verdict]:
    """Probe every endpoint concurrently; verdicts in input order. `on_result` sees each verdict
    as soon as it is known (completion order)."""
    from provision.probe.engine import Settings, probe_endpoints

    settings = Settings(
        concurrency=concurrency,
        deadline=deadline,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        max_retries=max_retries,
    )
    return await probe_endpoints(
        list(endpoints), settings, transport=transport, on_result=on_result
    )


def run_probes(
    endpoints: Iterable[Endpoint],
    *,
    concurrency: int = 16,
    deadline: float = 30.0,
    connect_timeout: float = 5.0,
    read_timeout: float = 10.0,
    max_retries: int = 2,
    transport: httpx.AsyncBaseTransport | None = None,
    on_result: Callable[[Verdict], None] | None = None,
) -> list[Verdict]:
    """`probe_all` for synchronous callers (not from inside a running event loop)."""
    import asyncio

    return asyncio.run(
        probe_all(
            endpoints,
            concurrency=concurrency,
            deadline=deadline,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_retries=max_retries,
            transport=transport,
            on_result=on_result,
        )
    )
