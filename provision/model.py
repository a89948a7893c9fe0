"""The resolved model: plain frozen data that renderers, plan and probes consume.

Everything here is already interpolated, typed and validated. Secret values are `Secret`s.
Each node keeps the source spans of its fields so later stages can point a diagnostic at the
place in the spec (or module) a value came from.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from provision.errors import Span
from provision.record import field, record
from provision.secrets import Secret

if TYPE_CHECKING:
    from provision.catalog import CatalogEntry

Text = str | Secret
"""A string that may be a secret (header values, extra env values)."""

_EMPTY: Mapping[str, Any] = MappingProxyType({})


def _empty() -> Mapping[str, Any]:
    return _EMPTY


def frozen_map(d: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    return MappingProxyType(dict(d or {}))


@record
class Located:
    """Spans of a node's fields, by spec key; `span` is the node itself."""

    span: Span | None = field(default=None, compare=False, repr=False)
    spans: Mapping[str, Span] = field(default_factory=_empty, compare=False, repr=False)

    def span_of(self, key: str) -> Span | None:
        return self.spans.get(key) or self.span


@record
class ModelEntry(Located):
    """One model a provider lists in Mux's model picker, optionally with its context window
    size and the model ID it maps to."""

    id: str
    context_window_tokens: int | None = None
    mapped_to_model: str | None = None


@record
class ProbeOptions(Located):
    """A provider's `probe:` block. `path`, `method` and `expect_*` override the recipe's
    last step; None or () keeps the recipe's own choice."""

    enabled: bool = True
    required: bool = True
    path: str | None = None
    method: str | None = None
    expect_status: tuple[int, ...] = ()
    expect_shape: str | None = None
    timeout: float | None = None
    ca_bundle: str | None = None


@record
class Bridge:
    """A provider routed through Coder AI Bridge."""

    kind: str  # "openai" | "anthropic": the bridge instance type
    instance: str  # instance name; defaults to the kind


@record
class Coder(Located):
    """A deployment's Coder access URL and token: the endpoint and credential of every
    provider routed through AI Bridge."""

    url: str  # without a trailing slash
    token: Secret
    allow_insecure: bool = False


@record
class Provider(Located):
    """One provider of a deployment, keyed by its Mux provider ID, with its catalog entry and
    effective base URL and credential (a bridged provider takes both from the Coder block)."""

    id: str  # the Mux provider ID (the key in the spec)
    deployment: str
    catalog: CatalogEntry = field(repr=False)
    bridge: Bridge | None = None
    base_url: str | None = None  # effective: explicit, bridged, or the catalog default
    api_key: Secret | None = None
    api_key_file: str | None = None
    headers: Mapping[str, Text] = field(default_factory=_empty)
    models: tuple[ModelEntry, ...] = ()
    model_parameters: Mapping[str, Mapping[str, Any]] = field(default_factory=_empty)
    display_name: str | None = None
    enabled: bool = True
    allow_insecure: bool = False
    # Provider-specific options by spec key (snake_case).
    options: Mapping[str, Any] = field(default_factory=_empty)
    probe: ProbeOptions = field(default_factory=ProbeOptions)

    @property
    def address(self) -> str:
        return f"{self.deployment}.{self.id}"


@record
class Deployment(Located):
    """One named set of providers, usually one Coder deployment as one audience sees it;
    module contributions are already in `providers`."""

    name: str
    description: str = ""
    coder: Coder | None = None
    providers: Mapping[str, Provider] = field(default_factory=_empty)


@record
class Target(Located):
    """A file provision writes (its renderer may add more), of one type, from one deployment's
    providers: all of them unless `providers` picks some."""

    name: str
    type: str
    deployment: str
    path: Path | None  # absolute; None where the renderer picks its default
    providers: tuple[str, ...] | None = None  # None: all of the deployment's
    follow_symlinks: bool = False
    # Type-specific options, already schema-validated.
    options: Mapping[str, Any] = field(default_factory=_empty)

    @property
    def address(self) -> str:
        return f"{self.type}.{self.name}"


@record
class Spec:
    """The whole resolved spec: deployments and targets by name, the values variables took,
    and the files it was read from."""

    root: Path  # the directory the spec was loaded from; state and relative paths hang off it
    files: tuple[str, ...]
    variables: Mapping[str, Any] = field(default_factory=_empty)
    deployments: Mapping[str, Deployment] = field(default_factory=_empty)
    targets: Mapping[str, Target] = field(default_factory=_empty)

    def providers_of(self, target: Target) -> tuple[Provider, ...]:
        """The providers a target renders, in spec order."""
        providers = self.deployments[target.deployment].providers
        if target.providers is None:
            return tuple(providers.values())
        return tuple(providers[p] for p in target.providers)
