"""One providers.jsonc entry as a spec provider: the Mux keys mapped back to spec fields, the
catalog entry it is an instance of guessed, and every credential replaced by `{env: NAME}`.

The result is a draft: `provision.importer` renders it to prove it reproduces the entry. An
entry provision has no way to express raises `_Unmappable` with the reason.
"""

from __future__ import annotations

import itertools
import re
from typing import Any
from urllib.parse import urlsplit

from provision.catalog import Catalog, CatalogEntry
from provision.record import field, record
from provision.render._mux_entries import _OPTION_VALUES
from provision.secrets import Origin, Secret
from provision.spec.build import is_loopback
from provision.spec.schema import ENV_NAME_PATTERN

# <coder access URL>/api/v2/aibridge/<instance>, plus /v1 for an OpenAI-type instance.
_BRIDGED = re.compile(
    r"(?P<coder>https?://[^/?#]+(?:/[^?#]*?)?)/api/v2/aibridge/"
    r"(?P<instance>[a-z0-9]+(?:-[a-z0-9]+)*)(?P<v1>/v1)?"
)
_CODER_TOKEN_ENV = "CODER_SESSION_TOKEN"
# Header names whose values are credentials (matched case-insensitively, as substrings).
_SECRET_HEADER_WORDS = ("auth", "key", "token", "secret", "password", "cookie", "session")
_SECRET_VALUE_PREFIXES = ("bearer ", "basic ", "token ")
_FROM_MUX_VALUES = {key: {v: k for k, v in m.items()} for key, m in _OPTION_VALUES.items()}


@record(kw_only=False)
class _Coder:
    url: str
    token: Secret
    env: str  # the variable the token is read from


@record(frozen=False, kw_only=False)
class _Draft:
    """One entry translated, not yet proven: its provider and the secrets it would read."""

    provider: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, Secret] = field(default_factory=dict)
    uses: dict[str, list[str]] = field(default_factory=dict)
    coder: _Coder | None = None  # the Coder deployment it is bridged through


class _Unmappable(Exception):
    pass


class _Translator:
    """Translates entries one at a time. The secrets and the Coder of the entries already
    accepted are kept here: a new entry reuses a variable name only for the same value, and a
    deployment has one Coder."""

    def __init__(self, catalog: Catalog, origin: Origin) -> None:
        self.catalog = catalog
        self.origin = origin
        self.secrets: dict[str, Secret] = {}
        self.coder: _Coder | None = None

    def translate(self, key: str, entry: Any) -> _Draft:
        if not isinstance(entry, dict):
            raise _Unmappable("it is not an object")
        rest = dict(entry)
        custom = "providerType" in rest
        if custom and rest.pop("providerType") != "openai-compatible":
            raise _Unmappable('its providerType is not "openai-compatible"')
        url = rest.get("baseUrl")
        draft = _Draft()
        p = draft.provider
        if custom:
            cat = self.guess(key, url if isinstance(url, str) else "")
            if self.catalog.get(key) is not cat:
                p["catalog"] = cat.id
        else:
            found = next(
                (e for e in self.catalog.entries if e.mux == "builtin" and e.mux_id == key), None
            )
            if found is None:
                raise _Unmappable(
                    f'"{key}" is a Mux provider provision has no catalog entry for'
                    if key in self.catalog.mux_builtin_ids
                    else "it is neither a Mux built-in provider nor a custom one (no providerType)"
                )
            cat = found
        if "baseURL" in rest:
            raise _Unmappable(
                'it spells baseUrl as "baseURL"; Mux\'s settings UI rewrites it '
                "as baseUrl, after which it can be imported"
            )
        if "displayName" in rest:
            name = rest.pop("displayName")
            if not (custom and name == cat.display_name):
                p["display_name"] = name
        if isinstance(url, str) and self.bridge(key, cat, rest, draft):
            rest.pop("baseUrl")
        else:
            self.base_url(cat, rest, p, custom)
            self.credential(key, cat, rest, draft)
        if "headers" in rest:
            p["headers"] = self.headers(key, rest.pop("headers"), draft)
        if "models" in rest:
            p["models"] = _models(rest.pop("models"))
        if "modelParameters" in rest:
            p["model_parameters"] = rest.pop("modelParameters")
        if not custom:
            self.options(key, cat, rest, draft)
        if "enabled" in rest:
            p["enabled"] = rest.pop("enabled")
        if rest:
            raise _Unmappable(
                "provision has no setting for its key(s) " + ", ".join(f'"{k}"' for k in rest)
            )
        return draft

    def guess(self, key: str, url: str) -> CatalogEntry:
        """The catalog entry a custom entry is an instance of: one with an AI Bridge route for
        a bridged URL, else by host (and port, for local servers), else by its key, else a
        generic OpenAI-compatible server."""
        fits = [e for e in self.catalog.entries if _can_be_custom(e, key)]
        bridged = _BRIDGED.fullmatch(url)
        if bridged is not None:
            kind = "openai" if bridged["v1"] else "anthropic"
            for e in fits:
                if e.aibridge is not None and e.aibridge.type == kind:
                    return e
        parts = urlsplit(url)
        host = parts.hostname or ""
        for e in fits:
            if e.base_url is None or e.id == "openai-compatible":
                continue
            default = urlsplit(e.base_url)
            if e.local:
                same = is_loopback(host) and _port(parts) == _port(default)
            else:
                same = host == default.hostname
            if same:
                return e
        named = self.catalog.get(key)
        if named is not None and named in fits:
            return named
        generic = self.catalog.get("openai-compatible")
        assert generic is not None
        return generic

    def bridge(self, key: str, cat: CatalogEntry, rest: dict[str, Any], draft: _Draft) -> bool:
        """`via: aibridge` when the entry reaches the AI Bridge with the Coder token."""
        m = _BRIDGED.fullmatch(rest["baseUrl"])
        token = rest.get("apiKey")
        if (
            m is None
            or cat.aibridge is None
            or "apiKeyFile" in rest
            or not isinstance(token, str)
            or cat.aibridge.type != ("openai" if m["v1"] else "anthropic")
        ):
            return False
        secret = Secret(token, self.origin)
        if self.coder is not None and (self.coder.url, self.coder.token) != (m["coder"], secret):
            return False  # a deployment has one Coder; this entry keeps its URL and key
        rest.pop("apiKey")
        ref = self.secret_ref(draft, [_CODER_TOKEN_ENV], secret, f"{key}: Coder token")
        draft.coder = _Coder(url=m["coder"], token=secret, env=ref["env"])
        draft.provider["via"] = "aibridge"
        if m["instance"] != cat.aibridge.type:
            draft.provider["aibridge_instance"] = m["instance"]
        return True

    def base_url(
        self, cat: CatalogEntry, rest: dict[str, Any], p: dict[str, Any], custom: bool
    ) -> None:
        if "baseUrl" not in rest:
            return
        url = rest.pop("baseUrl")
        suffix = cat.mux_base_path or ""
        if isinstance(url, str) and suffix and url.endswith(suffix) and len(url) > len(suffix):
            url = url[: -len(suffix)]
        # The renderer writes the catalog default itself for custom entries and local servers.
        if url != cat.base_url or not (custom or cat.local):
            p["base_url"] = url

    def credential(self, key: str, cat: CatalogEntry, rest: dict[str, Any], draft: _Draft) -> None:
        if "apiKeyFile" in rest:
            draft.provider["api_key_file"] = rest.pop("apiKeyFile")
        if "apiKey" in rest:
            value = rest.pop("apiKey")
            if not isinstance(value, str):
                raise _Unmappable("its apiKey is not a string")
            names = [*cat.key_env[:1], _env_name(key, "API_KEY")]
            draft.provider["api_key"] = self.secret_ref(
                draft, names, Secret(value, self.origin), f"{key}: API key"
            )

    def headers(self, key: str, headers: Any, draft: _Draft) -> Any:
        if not isinstance(headers, dict):
            return headers
        out: dict[str, Any] = {}
        for name, value in headers.items():
            if isinstance(value, str) and _sensitive_header(name, value):
                out[name] = self.secret_ref(
                    draft,
                    [_env_name(key, name)],
                    Secret(value, self.origin),
                    f'{key}: header "{name}"',
                )
            else:
                out[name] = value
        return out

    def options(self, key: str, cat: CatalogEntry, rest: dict[str, Any], draft: _Draft) -> None:
        for spec_key, mux_key in cat.mux_options.items():
            if mux_key not in rest:
                continue
            value = rest.pop(mux_key)
            if spec_key in cat.secret_options and isinstance(value, str):
                names = [*cat.extra_env.get(spec_key, ())[:1], _env_name(key, spec_key)]
                value = self.secret_ref(
                    draft, names, Secret(value, self.origin), f"{key}: {spec_key}"
                )
            elif isinstance(value, str):
                value = _FROM_MUX_VALUES.get(spec_key, {}).get(value, value)
            draft.provider[spec_key] = value
        for spec_key, allowed in cat.mux_flatten.items():
            table = {sub: rest.pop(sub) for sub in allowed if sub in rest}
            if table:
                draft.provider[spec_key] = table

    def secret_ref(
        self, draft: _Draft, names: list[str], secret: Secret, use: str
    ) -> dict[str, str]:
        """{env: NAME}: the first name free or already holding this value, then NAME_2, …"""
        taken = {**self.secrets, **draft.secrets}
        candidates = itertools.chain(names, (f"{names[-1]}_{n}" for n in itertools.count(2)))
        name = next(n for n in candidates if taken.get(n, secret) == secret)
        draft.secrets[name] = secret
        draft.uses.setdefault(name, []).append(use)
        return {"env": name}


def _can_be_custom(e: CatalogEntry, key: str) -> bool:
    """Whether the renderer can write an instance of `e` under `key` as a custom entry."""
    return e.mux == "custom" or (e.mux == "builtin" and e.api == "openai" and e.mux_id != key)


def _port(parts: Any) -> int | None:
    try:
        port: int | None = parts.port
    except ValueError:
        return None
    return port or {"http": 80, "https": 443}.get(parts.scheme)


def _models(models: Any) -> Any:
    if not isinstance(models, list):
        return models
    names = {"contextWindowTokens": "context_window_tokens", "mappedToModel": "mapped_to_model"}
    return [
        {names.get(k, k): v for k, v in m.items()} if isinstance(m, dict) else m for m in models
    ]


def _sensitive_header(name: str, value: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in _SECRET_HEADER_WORDS) or value.lower().startswith(
        _SECRET_VALUE_PREFIXES
    )


def _env_name(*parts: str) -> str:
    name = re.sub(r"[^A-Z0-9]+", "_", "_".join(parts).upper()).strip("_")
    return name if re.fullmatch(ENV_NAME_PATTERN, name) else "_" + name
