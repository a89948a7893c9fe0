"""`provision import mux`: an existing providers.jsonc as a spec that reproduces it.

This is the inverse of provision/render/mux.py, and it proves itself: each entry is translated
to a provider, then that provider is resolved and rendered exactly as `plan` would, with the
file's own key values standing in for the environment. An entry whose rendering differs from
the file in any way is left out with a warning naming the Mux keys that would change; it stays
in the file as an entry provision does not manage, which merge-managed targets keep untouched.
So `plan` on the imported spec, with the listed variables set, shows no changes.

Key values never leave memory: every credential (apiKey, the Coder token of a bridged entry,
Bedrock secrets, header values that look like credentials) becomes `{env: NAME}`, and only the
names are reported.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from provision.catalog import Catalog, CatalogEntry, load_catalog
from provision.errors import Diagnostic, DiagnosticsError, ProvisionError
from provision.fsutil import file_mode
from provision.record import field, record
from provision.render import render
from provision.render.jsonc import read_object
from provision.render.mux import _OPTION_VALUES
from provision.secrets import Origin, Secret, reveal_all
from provision.spec.build import default_mux_path, is_loopback
from provision.spec.resolve import Options, resolve
from provision.spec.schema import ENV_NAME_PATTERN, NAME_PATTERN
from provision.spec.yaml_loader import load_yaml

__all__ = ["EnvSetting", "Imported", "import_mux"]

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
_COMMON_KEYS = ("displayName", "apiKey", "apiKeyFile", "baseUrl", "headers", "models",
                "modelParameters", "enabled")  # fmt: skip


@record
class EnvSetting:
    """An environment variable the imported spec reads a secret from."""

    name: str
    value: Secret = field(repr=False)  # the file's value; set the variable to it
    used_by: tuple[str, ...]  # e.g. ('openai: API key', 'anthropic: API key')


@record
class Imported:
    text: str  # the spec, YAML; holds no secret value
    source: Path
    imported: tuple[str, ...]  # entries the spec now manages, in file order
    left_out: tuple[str, ...]  # entries left to the file as unmanaged
    env: tuple[EnvSetting, ...]
    warnings: tuple[Diagnostic, ...]


def import_mux(
    source: Path | None = None,
    *,
    root: Path,
    env: Mapping[str, str],
    deployment: str = "default",
    target: str = "mux",
) -> Imported:
    """Read providers.jsonc (default: Mux's own) and build the spec that reproduces it.
    `root` is the directory the spec will live in. Raises ProvisionError."""
    for what, name in (("deployment", deployment), ("target", target)):
        if not re.fullmatch(NAME_PATTERN, name):
            raise ProvisionError(
                f'Invalid {what} name "{name}": use letters, digits, _ and -, '
                "starting with a letter or _"
            )
    path = source if source is not None else default_mux_path(env)
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise ProvisionError(f"Cannot read {path}: {exc.strerror or exc}") from None
    entries, _ = read_object(path, content, lambda _comment: True)
    shown = _display(path, env)
    importer = _Importer(load_catalog(), root, env, deployment, target, shown)
    warnings: list[Diagnostic] = []
    for key, entry in entries.items():
        reason = importer.add(key, entry)
        if reason is not None:
            warnings.append(
                Diagnostic.warning(
                    f'Entry "{key}" of {shown} is left out: {reason}',
                    "It stays in the file; provision will not manage it.",
                )
            )
    mode_warning = importer.check_whole(entries, content, file_mode(path))
    if mode_warning is not None:
        warnings.append(mode_warning)
    return Imported(
        text=importer.yaml_text(),
        source=path,
        imported=tuple(importer.providers),
        left_out=tuple(k for k in entries if k not in importer.providers),
        env=tuple(importer.env_settings()),
        warnings=tuple(warnings),
    )


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


class _Importer:
    def __init__(
        self,
        catalog: Catalog,
        root: Path,
        env: Mapping[str, str],
        deployment: str,
        target: str,
        shown: str,
    ) -> None:
        self.catalog = catalog
        self.root = root
        self.env = env
        self.deployment = deployment
        self.target = target
        self.shown = shown
        self.origin = Origin("file", shown)
        self.providers: dict[str, dict[str, Any]] = {}
        self.secrets: dict[str, Secret] = {}
        self.uses: dict[str, list[str]] = {}
        self.coder: _Coder | None = None

    # -- one entry -------------------------------------------------------------------------

    def add(self, key: str, entry: Any) -> str | None:
        """Import one entry; the reason when it is left out."""
        try:
            draft = self.translate(key, entry)
        except _Unmappable as exc:
            return str(exc)
        doc = self.document({key: draft.provider}, draft.coder)
        try:
            rendered, _ = self.render_entries(doc, draft.secrets, None)
        except DiagnosticsError as exc:
            first = next(d for d in exc.diagnostics if d.is_error)
            return f"provision cannot express it ({first.summary})"
        problem = _difference(entry, rendered.get(key))
        if problem is not None:
            return problem
        self.providers[key] = draft.provider
        self.coder = draft.coder or self.coder
        self.secrets.update(draft.secrets)
        for name, uses in draft.uses.items():
            self.uses.setdefault(name, []).extend(uses)
        return None

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

    # -- proof -----------------------------------------------------------------------------

    def document(self, providers: Mapping[str, Any], coder: _Coder | None) -> dict[str, Any]:
        dep: dict[str, Any] = {"description": f"Imported from {self.shown}"}
        if coder is not None:
            dep["coder"] = {"url": coder.url, "token": {"env": coder.env}}
        dep["providers"] = dict(providers)
        return {
            "version": 1,
            "deployments": {self.deployment: dep},
            "targets": {
                self.target: {
                    "type": "mux_providers",
                    "deployment": self.deployment,
                    "path": self.shown,
                }
            },
        }

    def render_entries(
        self, doc: dict[str, Any], secrets: Mapping[str, Secret], existing: bytes | None
    ) -> tuple[dict[str, Any], int]:
        """Resolve and render the document as plan would: the entries and the file mode."""
        values = {name: s.reveal() for name, s in secrets.items()}
        parsed = load_yaml(_dump(doc), "imported.yaml")
        spec = resolve(parsed, self.root, Options(env={**self.env, **values})).spec
        artifact = render(spec, spec.targets[self.target], existing).artifacts[0]
        return reveal_all(artifact.structured), artifact.mode

    def check_whole(
        self, entries: Mapping[str, Any], content: bytes, mode: int | None
    ) -> Diagnostic | None:
        """Render the whole spec against the file; any difference is a bug here."""
        if not self.providers:
            return None
        rendered, want_mode = self.render_entries(
            self.document(self.providers, self.coder), self.secrets, content
        )
        for key in self.providers:
            if _difference(entries[key], rendered.get(key)) is not None:
                raise ProvisionError(
                    f'Import could not reproduce entry "{key}" together with the '
                    "others; please report this."
                )
        if mode is None or mode == want_mode:
            return None
        return Diagnostic.warning(
            f"apply will change the mode of {self.shown} from {mode:04o} to {want_mode:04o}",
            "provision writes a file holding a key with mode 0600 and any other with 0644.",
        )

    # -- output ----------------------------------------------------------------------------

    def env_settings(self) -> list[EnvSetting]:
        return [
            EnvSetting(name=n, value=s, used_by=tuple(self.uses[n]))
            for n, s in self.secrets.items()
        ]

    def yaml_text(self) -> str:
        header = f"# Imported by `provision import mux` from {self.shown}.\n"
        if self.secrets:
            header += "# plan and apply read its keys from these environment variables:\n"
            header += "".join(f"#   {name}\n" for name in self.secrets)
        return header + _dump(self.document(self.providers, self.coder))


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


def _canonical(value: Any) -> str:
    # As plan compares entries: 1 and 1.0 differ, true and 1 differ, key order does not matter.
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _difference(original: Any, rendered: Any) -> str | None:
    """Which Mux keys rendering would change (names only: values may be secrets)."""
    if _canonical(original) == _canonical(rendered):
        return None
    if not isinstance(original, dict) or not isinstance(rendered, dict):
        return "provision would write it differently"
    verbs = {k: "dropped" for k in original if k not in rendered}
    verbs |= {k: "added" for k in rendered if k not in original}
    verbs |= {
        k: "changed"
        for k in original
        if k in rendered and _canonical(original[k]) != _canonical(rendered[k])
    }
    changes = [f"{k} would be {verb}" for k, verb in verbs.items()]
    return "provision would write it differently: " + "; ".join(changes)


def _display(path: Path, env: Mapping[str, str]) -> str:
    """The target path as the spec says it: ~/… under $HOME (the same file for every member of
    a team), else absolute. Never relative: the spec may be saved anywhere."""
    absolute = path.absolute()
    home = env.get("HOME")
    if home and absolute.is_relative_to(home):
        return "~/" + absolute.relative_to(home).as_posix()
    return str(absolute)


def _escape(value: Any) -> Any:
    """Every string value as spec text: `${` is interpolation there, `$${` a literal `${`."""
    if isinstance(value, str):
        return value.replace("${", "$${")
    if isinstance(value, dict):
        return {k: _escape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_escape(v) for v in value]
    return value


def _dump(doc: Mapping[str, Any]) -> str:
    text = yaml.safe_dump(
        _escape(dict(doc)), sort_keys=False, allow_unicode=True, default_flow_style=None, width=100
    )
    return str(text)
