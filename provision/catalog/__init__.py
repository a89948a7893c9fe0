"""The provider catalog: what provision knows about each LLM provider, as typed data.

All of it lives in catalog.toml (its header documents every field). This module holds the
records and reads the file on first use (parsed through `tomlcache`, checked field by field in
`_read`). A malformed catalog is a bug in provision, not a user mistake, so problems raise a
plain RuntimeError naming the field.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, cast

from provision.record import field, fields, is_record, record

__all__ = [
    "AIBridgeRoute",
    "ApiKind",
    "AuthScheme",
    "Catalog",
    "CatalogEntry",
    "ClassifyHint",
    "HttpMethod",
    "MuxMode",
    "Outcome",
    "ProbeRecipe",
    "ProbeStep",
    "ResponseShape",
    "load_catalog",
    "parse_catalog",
]

ApiKind = Literal[
    "openai", "anthropic", "google", "ollama", "bedrock", "cohere", "azure-openai", "github-copilot"
]
MuxMode = Literal["builtin", "custom", "none"]
HttpMethod = Literal["GET", "POST"]
AuthScheme = Literal[
    "bearer",
    "x-api-key",
    "x-goog-api-key",
    "api-key",
    "coder-session-token",
    "github-token",
    "aws",
    "none",
]
ResponseShape = Literal[
    "data_list",
    "bare_list",
    "models_list",
    "model_summaries",
    "key_info",
    "version",
    "valid_flag",
    "object",
    "validation_error",
]
Outcome = Literal[
    "credential_rejected", "credential_missing", "billing", "throttled", "not_ready", "wrong_url"
]

# JavaScript's \s also matches U+FEFF, Python's does not; Mux's check is the JavaScript one.
_FORBIDDEN_CUSTOM_ID_CHARS = re.compile(r"[.:/\s\ufeff]")


@record
class AIBridgeRoute:
    """How Coder AI Bridge serves a provider: the instance type, the path after the Coder
    access URL (with `{instance}`), and the recipe that probes the bridge."""

    type: Literal["openai", "anthropic"]
    path: str
    probe: str

    def path_for(self, instance: str | None = None) -> str:
        """The suffix after the Coder access URL; AI Bridge names default instances by type."""
        return self.path.replace("{instance}", instance or self.type)


@record
class ProbeStep:
    """One HTTP request of a probe recipe; exactly one of `path`, `root_path` and `url` is
    set, and each may hold `{name}` placeholders."""

    method: HttpMethod
    path: str | None
    root_path: str | None
    url: str | None
    auth: AuthScheme
    headers: Mapping[str, str]
    setting_headers: Mapping[str, str]
    body: str | None
    expect: ResponseShape
    checks_credential: bool
    capture: Mapping[str, str]
    credential: str | None


@record
class ClassifyHint:
    """A provider-specific reading of a response: this status (and body text) means
    `outcome`. Checked before the generic status rules; the first match wins."""

    status: int
    body_contains: str | None
    outcome: Outcome


@record
class ProbeRecipe:
    """A named probe: steps run in order until one fails, and hints that classify its replies."""

    name: str
    description: str
    unofficial: bool
    steps: tuple[ProbeStep, ...]
    classify: tuple[ClassifyHint, ...]


@record
class CatalogEntry:
    """Everything provision knows about one kind of provider: its API, default URL,
    environment variable names, how Mux represents it and how to probe it (see catalog.toml)."""

    id: str
    display_name: str
    aliases: tuple[str, ...]
    api: ApiKind
    base_url: str | None
    base_url_required: bool
    key_env: tuple[str, ...]
    base_url_env: tuple[str, ...]
    extra_env: Mapping[str, tuple[str, ...]]
    key_env_auth: Mapping[str, AuthScheme]
    needs_key: bool
    local: bool
    mux: MuxMode
    mux_id: str | None
    mux_reason: str | None
    mux_base_path: str | None
    mux_options: Mapping[str, str]
    mux_flatten: Mapping[str, tuple[str, ...]]
    # mux_options key -> the values this provider accepts, narrower than the spec schema's enum
    # (which covers every provider taking the key)
    option_values: Mapping[str, tuple[str, ...]]
    secret_options: tuple[str, ...]
    aibridge: AIBridgeRoute | None
    probe: str

    def takes_option(self, key: str) -> bool:
        """Whether the provider has a use for the spec option: a Mux key, or an environment
        variable (Azure OpenAI's deployment and API version reach Mux only that way)."""
        return key in self.mux_options or key in self.mux_flatten or key in self.extra_env


@record
class Catalog:
    """The provider catalog: entries sorted by id, probe recipes by name, and Mux's rules for
    provider IDs. `get` matches ids and aliases without regard to case."""

    entries: tuple[CatalogEntry, ...]
    recipes: Mapping[str, ProbeRecipe]
    mux_builtin_ids: tuple[str, ...]
    mux_reserved_ids: tuple[str, ...]
    mux_custom_id_pattern: str
    mux_headers_ignored: tuple[str, ...]
    _by_name: Mapping[str, CatalogEntry] = field(init=False, repr=False, compare=False)
    _custom_id_re: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_name: dict[str, CatalogEntry] = {}
        for entry in self.entries:
            for name in (entry.id, *entry.aliases):
                if name.lower() in by_name:
                    raise _error(f"providers.{entry.id}", f"name {name!r} is already taken")
                by_name[name.lower()] = entry
        object.__setattr__(self, "_by_name", MappingProxyType(by_name))
        object.__setattr__(self, "_custom_id_re", re.compile(self.mux_custom_id_pattern))

    def get(self, id_or_alias: str) -> CatalogEntry | None:
        return self._by_name.get(id_or_alias.strip().lower())

    def is_valid_custom_id(self, provider_id: str) -> str | None:
        """Why Mux would refuse `provider_id` for a custom provider (Mux's wording and order)."""
        if not provider_id:
            return "Custom provider id is required."
        if provider_id in self.mux_reserved_ids:
            return f'Custom provider id "{provider_id}" is reserved.'
        if provider_id in self.mux_builtin_ids:
            return f'Custom provider id "{provider_id}" conflicts with a built-in provider.'
        if _FORBIDDEN_CUSTOM_ID_CHARS.search(provider_id):
            return 'Custom provider id must not contain ".", ":", "/", or whitespace.'
        if not self._custom_id_re.fullmatch(provider_id):
            return (
                "Custom provider id must start with a lowercase letter or digit and contain only"
                " lowercase letters, digits, underscores, and hyphens."
            )
        return None

    def to_json(self) -> list[dict[str, Any]]:
        """Every entry with every field, for `provision providers -json`."""
        return [cast(dict[str, Any], _jsonable(entry)) for entry in self.entries]


CATALOG_PATH = Path(__file__).with_name("catalog.toml")


@functools.cache
def load_catalog() -> Catalog:
    """The shipped catalog, parsed once per change of the file (see tomlcache)."""
    from provision.catalog import tomlcache
    from provision.catalog._read import build

    try:
        doc = tomlcache.load(CATALOG_PATH)
    except ValueError as exc:  # tomllib.TOMLDecodeError, or bytes that are not UTF-8
        raise RuntimeError(f"provider catalog: invalid TOML: {exc}") from exc
    return build(doc)


def parse_catalog(text: str) -> Catalog:
    """Parse and validate catalog TOML text; raises RuntimeError naming the offending field."""
    import tomllib

    from provision.catalog._read import build

    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RuntimeError(f"provider catalog: invalid TOML: {exc}") from exc
    return build(doc)


def _jsonable(value: object) -> object:
    if is_record(value) and not isinstance(value, type):
        return {
            f.name: _jsonable(getattr(value, f.name))
            for f in fields(value)
            if not f.name.startswith("_")
        }
    if isinstance(value, Mapping):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, tuple):
        return [_jsonable(item) for item in value]
    return value


def _error(where: str, problem: str) -> RuntimeError:
    return RuntimeError(f"provider catalog: {where}: {problem}")
