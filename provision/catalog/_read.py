"""Reading catalog.toml into the catalog's records, checking every field: a malformed catalog is
a bug in provision, so each problem is a RuntimeError naming the field."""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Literal, cast, get_args

from provision.catalog import (
    AIBridgeRoute,
    ApiKind,
    AuthScheme,
    Catalog,
    CatalogEntry,
    ClassifyHint,
    HttpMethod,
    MuxMode,
    Outcome,
    ProbeRecipe,
    ProbeStep,
    ResponseShape,
    _error,
)

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_NAME = re.compile(r"[a-z_][a-z0-9_]*")


def build(doc: dict[str, Any]) -> Catalog:
    """The catalog in a parsed catalog.toml, checked."""
    top = _Table(doc, "catalog")
    mux = top.table("mux")
    recipes = {
        name: _read_recipe(name, _Table(raw, f"recipes.{name}"))
        for name, raw in top.tables_by_name("recipes").items()
    }
    builtin_ids = mux.texts("builtin_ids")
    entries = [_read_entry(t, recipes, builtin_ids) for t in top.table_list("providers")]
    catalog = Catalog(
        entries=tuple(sorted(entries, key=lambda e: e.id)),
        recipes=MappingProxyType(recipes),
        mux_builtin_ids=builtin_ids,
        mux_reserved_ids=mux.texts("reserved_ids"),
        mux_custom_id_pattern=mux.text("custom_id_pattern"),
        mux_headers_ignored=mux.texts("headers_ignored"),
    )
    mux.done()
    top.done()
    if not set(catalog.mux_headers_ignored) <= set(builtin_ids):
        raise _error("mux.headers_ignored", "names an ID that is not in builtin_ids")
    for entry in catalog.entries:
        if entry.mux == "custom" and entry.mux_id is not None:
            reason = catalog.is_valid_custom_id(entry.mux_id)
            if reason:
                raise _error(f"providers.{entry.id}.mux_id", reason)
    return catalog


def _read_recipe(name: str, t: _Table) -> ProbeRecipe:
    steps: list[ProbeStep] = []
    captured: set[str] = set()
    for index, s in enumerate(t.table_list("steps"), start=1):
        step = _read_step(s)
        where = f"recipes.{name}.steps[{index}]"
        for target in (step.path, step.root_path, step.url):
            for placeholder in _placeholders(target):
                if not _NAME.fullmatch(placeholder):
                    raise _error(where, f"placeholder {{{placeholder}}} is not a valid name")
        if step.credential is not None and step.credential not in captured:
            raise _error(f"{where}.credential", f"{step.credential!r} is not an earlier capture")
        captured.update(step.capture)
        steps.append(step)
    if not steps:
        raise _error(f"recipes.{name}.steps", "at least one step is required")
    hints = []
    for h in t.table_list("classify", required=False):
        hint = ClassifyHint(
            status=h.number("status", 100, 599),
            body_contains=h.optional_text("body_contains"),
            outcome=cast(Outcome, h.choice("outcome", get_args(Outcome))),
        )
        h.done()
        hints.append(hint)
    recipe = ProbeRecipe(
        name=name,
        description=t.text("description"),
        unofficial=t.flag("unofficial", default=False),
        steps=tuple(steps),
        classify=tuple(hints),
    )
    t.done()
    return recipe


def _read_step(t: _Table) -> ProbeStep:
    step = ProbeStep(
        method=cast(HttpMethod, t.choice("method", get_args(HttpMethod))),
        path=t.optional_text("path"),
        root_path=t.optional_text("root_path"),
        url=t.optional_text("url"),
        auth=cast(AuthScheme, t.choice("auth", get_args(AuthScheme))),
        headers=t.text_map("headers"),
        setting_headers=t.text_map("setting_headers"),
        body=t.optional_text("body"),
        expect=cast(ResponseShape, t.choice("expect", get_args(ResponseShape))),
        checks_credential=t.flag("checks_credential", default=True),
        capture=t.text_map("capture"),
        credential=t.optional_text("credential"),
    )
    t.done()
    targets = [x for x in (step.path, step.root_path, step.url) if x is not None]
    if len(targets) != 1:
        raise _error(t.where, "exactly one of path, root_path and url is required")
    for key, value in (("path", step.path), ("root_path", step.root_path)):
        if value is not None and not value.startswith("/"):
            raise _error(f"{t.where}.{key}", "must start with '/'")
    if step.body is not None and step.method != "POST":
        raise _error(f"{t.where}.body", "only a POST step may have a body")
    return step


def _read_entry(
    t: _Table, recipes: Mapping[str, ProbeRecipe], builtin_ids: tuple[str, ...]
) -> CatalogEntry:
    entry_id = t.text("id")
    if entry_id != entry_id.lower() or not entry_id:
        raise _error(f"{t.where}.id", f"{entry_id!r} must be a non-empty lowercase id")
    t.where = f"providers.{entry_id}"
    mux = cast(MuxMode, t.choice("mux", get_args(MuxMode)))
    mux_id = t.optional_text("mux_id")
    aibridge_table = t.optional_table("aibridge")
    entry = CatalogEntry(
        id=entry_id,
        display_name=t.text("display_name"),
        aliases=t.texts("aliases", required=False),
        api=cast(ApiKind, t.choice("api", get_args(ApiKind))),
        base_url=t.optional_text("base_url"),
        base_url_required=t.flag("base_url_required", default=False),
        key_env=t.texts("key_env"),
        base_url_env=t.texts("base_url_env"),
        extra_env=t.list_map("extra_env"),
        key_env_auth=cast(
            Mapping[str, AuthScheme], t.text_map("key_env_auth", get_args(AuthScheme))
        ),
        needs_key=t.flag("needs_key"),
        local=t.flag("local"),
        mux=mux,
        mux_id=None if mux == "none" else mux_id or entry_id,
        mux_reason=t.optional_text("mux_reason"),
        mux_base_path=t.optional_text("mux_base_path"),
        mux_options=t.text_map("mux_options"),
        mux_flatten=t.list_map("mux_flatten"),
        option_values=t.list_map("option_values"),
        secret_options=t.texts("secret_options", required=False),
        aibridge=None if aibridge_table is None else _read_aibridge(aibridge_table),
        probe=t.text("probe"),
    )
    t.done()
    _check_entry(entry, t.where, mux_id, recipes, builtin_ids)
    return entry


def _read_aibridge(t: _Table) -> AIBridgeRoute:
    route = AIBridgeRoute(
        type=cast(Literal["openai", "anthropic"], t.choice("type", ("openai", "anthropic"))),
        path=t.text("path"),
        probe=t.text("probe"),
    )
    t.done()
    if "{instance}" not in route.path:
        raise _error(f"{t.where}.path", "must contain {instance}")
    return route


def _check_entry(
    e: CatalogEntry,
    where: str,
    explicit_mux_id: str | None,
    recipes: Mapping[str, ProbeRecipe],
    builtin_ids: tuple[str, ...],
) -> None:
    """Rules that span several fields of one entry."""

    def check(ok: bool, key: str, problem: str) -> None:
        if not ok:
            raise _error(f"{where}.{key}", problem)

    check(e.probe in recipes, "probe", f"{e.probe!r} is not a recipe")
    check(
        e.base_url is None or e.base_url.startswith(("http://", "https://")),
        "base_url",
        "must be an http(s) URL",
    )
    check(
        e.mux_base_path is None or e.mux_base_path.startswith("/"),
        "mux_base_path",
        "must start with '/'",
    )
    check(
        (e.base_url is None) == e.base_url_required,
        "base_url_required",
        "must be true exactly when base_url is absent",
    )
    check(not e.needs_key or bool(e.key_env), "key_env", "is empty but needs_key is true")
    check(set(e.key_env_auth) <= set(e.key_env), "key_env_auth", "names a var not in key_env")
    check(
        (e.mux == "none") == (e.mux_reason is not None),
        "mux_reason",
        'is required exactly when mux = "none"',
    )
    check(
        e.mux != "none" or not (explicit_mux_id or e.mux_options or e.mux_flatten),
        "mux",
        '"none" cannot have mux_id, mux_options or mux_flatten',
    )
    check(
        e.mux != "builtin" or e.mux_id in builtin_ids,
        "mux_id",
        f"{e.mux_id!r} is not a Mux built-in provider ID",
    )
    # Mux custom entries always speak Chat Completions.
    check(
        e.mux != "custom" or e.api == "openai" or e.mux_base_path is not None,
        "mux",
        '"custom" needs an OpenAI-compatible api or a mux_base_path that reaches one',
    )
    check(not set(e.mux_options) & set(e.mux_flatten), "mux_flatten", "repeats a mux_options key")
    check(set(e.option_values) <= set(e.mux_options), "option_values",
          "names a key that is not in mux_options")
    check(
        set(e.secret_options) <= set(e.mux_options) | set(e.extra_env),
        "secret_options",
        "names something that is neither a mux option nor an extra_env setting",
    )
    if e.aibridge is not None:
        check(e.aibridge.type == e.api, "aibridge.type", f"must equal api ({e.api})")
        bridge_recipe = recipes.get(e.aibridge.probe)
        check(bridge_recipe is not None, "aibridge.probe", f"{e.aibridge.probe!r} is not a recipe")
        check(
            not _setting_placeholders(cast(ProbeRecipe, bridge_recipe)),
            "aibridge.probe",
            "a bridge recipe cannot need provider settings",
        )
    missing = set(_placeholders(e.base_url)) | _setting_placeholders(recipes[e.probe])
    missing -= set(e.extra_env)
    check(not missing, "extra_env", f"has no setting for placeholder(s) {sorted(missing)}")


def _setting_placeholders(recipe: ProbeRecipe) -> set[str]:
    """Placeholders no earlier step captures, so the entry's settings must supply them."""
    needed: set[str] = set()
    captured: set[str] = set()
    for step in recipe.steps:
        for target in (step.path, step.root_path, step.url):
            needed |= set(_placeholders(target)) - captured
        captured |= set(step.capture)
    return needed


def _placeholders(text: str | None) -> list[str]:
    return _PLACEHOLDER.findall(text) if text else []


class _Table:
    """One TOML table being read: each getter consumes a key, `done` rejects what is left."""

    def __init__(self, data: object, where: str) -> None:
        if not isinstance(data, dict):
            raise _error(where, "must be a table")
        self._data: dict[str, object] = dict(data)
        self.where = where

    def _take(self, key: str, kind: type, what: str, required: bool) -> Any:
        if key not in self._data:
            if required:
                raise _error(self.where, f"missing required field {key!r}")
            return None
        value = self._data.pop(key)
        # bool is an int subclass; a flag must never pass for a number.
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise _error(f"{self.where}.{key}", f"must be {what}")
        return value

    def text(self, key: str) -> str:
        return cast(str, self._take(key, str, "a string", required=True))

    def optional_text(self, key: str) -> str | None:
        return cast(str | None, self._take(key, str, "a string", required=False))

    def flag(self, key: str, *, default: bool | None = None) -> bool:
        value = self._take(key, bool, "true or false", required=default is None)
        return cast(bool, default if value is None else value)

    def number(self, key: str, low: int, high: int) -> int:
        value = cast(int, self._take(key, int, "an integer", required=True))
        if not low <= value <= high:
            raise _error(f"{self.where}.{key}", f"must be between {low} and {high}")
        return value

    def choice(self, key: str, allowed: tuple[str, ...]) -> str:
        value = self.text(key)
        if value not in allowed:
            raise _error(f"{self.where}.{key}", f"{value!r} is not one of {', '.join(allowed)}")
        return value

    def texts(self, key: str, *, required: bool = True) -> tuple[str, ...]:
        value = self._take(key, list, "a list of strings", required=required) or []
        if not all(isinstance(item, str) for item in value):
            raise _error(f"{self.where}.{key}", "must be a list of strings")
        return tuple(value)

    def text_map(self, key: str, allowed: tuple[str, ...] = ()) -> Mapping[str, str]:
        value = self._take(key, dict, "a table of strings", required=False) or {}
        for item in value.values():
            if not isinstance(item, str) or (allowed and item not in allowed):
                raise _error(f"{self.where}.{key}", f"has an invalid value {item!r}")
        return MappingProxyType(dict(value))

    def list_map(self, key: str) -> Mapping[str, tuple[str, ...]]:
        value = self._take(key, dict, "a table of string lists", required=False) or {}
        inner = _Table(value, f"{self.where}.{key}")
        result = {name: inner.texts(name) for name in list(value)}
        return MappingProxyType(result)

    def table(self, key: str) -> _Table:
        return _Table(self._take(key, dict, "a table", required=True), f"{self.where}.{key}")

    def optional_table(self, key: str) -> _Table | None:
        value = self._take(key, dict, "a table", required=False)
        return None if value is None else _Table(value, f"{self.where}.{key}")

    def tables_by_name(self, key: str) -> dict[str, object]:
        return cast(dict[str, object], self._take(key, dict, "a table", required=True))

    def table_list(self, key: str, *, required: bool = True) -> list[_Table]:
        value = self._take(key, list, "an array of tables", required=required) or []
        return [_Table(item, f"{self.where}.{key}[{n}]") for n, item in enumerate(value, 1)]

    def done(self) -> None:
        if self._data:
            raise _error(self.where, f"unknown field {next(iter(self._data))!r}")
