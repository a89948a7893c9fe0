"""The tables of docs/spec.md that restate data: the catalog, the schema, built-in modules.

The reference is prose written by hand. Only the regions between `<!-- generated: NAME -->` and
`<!-- end generated -->` come from here, so a catalog entry, a provider option or a range that
changes in code changes the doc too (tests/spec/test_docs.py fails until it is regenerated).

    python -m provision.spec.docgen [FILE]          rewrite the regions of FILE (docs/spec.md)
    python -m provision.spec.docgen --check [FILE]  exit 1 when a region is stale

FILE defaults to the docs/spec.md of this checkout, wherever the command runs from. A usage error
or an unreadable FILE exits 2 with a message.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from provision.catalog import Catalog, CatalogEntry, load_catalog
from provision.spec.schema import spec_schema

DEFAULT_FILE = Path(__file__).resolve().parents[2] / "docs" / "spec.md"
REGION = re.compile(r"(<!-- generated: ([a-z:-]+) -->\n)(.*?)(<!-- end generated -->)", re.DOTALL)
_INTERP = "#/$defs/interpolation"
_SCALARS = {"string": "string", "boolean": "bool", "integer": "integer", "number": "number",
            "object": "map", "array": "list"}  # fmt: skip
_MUX_MODES = {"builtin": "built-in", "custom": "custom", "none": "—"}


def describe(schema: Mapping[str, Any]) -> str:
    """A value's type in a few words: `bool`, `one of "a", "b"`, `list of strings`, `secret`."""
    if schema.get("$ref") == "#/$defs/secret":
        return "secret"
    if "anyOf" in schema:
        kinds = [describe(s) for s in schema["anyOf"] if s.get("$ref") != _INTERP]
        return " or ".join(dict.fromkeys(kinds))
    if "enum" in schema:
        return "one of " + ", ".join(f"`{v}`" for v in schema["enum"])
    kind = schema.get("type")
    if kind == "array":
        inner = describe(schema.get("items", {}))
        return "list of strings" if inner == "string" else f"list of {inner}"
    text = _SCALARS.get(str(kind), "any")
    return text + _bounds(schema)


def _bounds(schema: Mapping[str, Any]) -> str:
    low, high = schema.get("minimum"), schema.get("maximum")
    if low is not None and high is not None:
        return f", {low} to {high}"
    if low is not None:
        return f", ≥ {low}"
    if "exclusiveMinimum" in schema:
        return f", > {schema['exclusiveMinimum']}"
    return ""


def _provider_schema() -> Mapping[str, Any]:
    provider: Mapping[str, Any] = spec_schema()["$defs"]["provider"]
    return provider


def _row(*cells: str) -> str:
    return "| " + " | ".join(cells) + " |"


def _codes(names: Sequence[str]) -> str:
    return ", ".join(f"`{n}`" for n in names) or "—"


def providers_table(catalog: Catalog) -> str:
    lines = [
        _row("Catalog id", "Aliases", "Provider", "API", "In Mux", "Default base URL",
             "Key env vars", "Base URL env vars", "`via: aibridge`"),
        _row(*["---"] * 9),
    ]  # fmt: skip
    for e in catalog.entries:
        mux = _MUX_MODES[e.mux] + (f" `{e.mux_id}`" if e.mux == "builtin" else "")
        lines.append(_row(
            f"`{e.id}`", _codes(e.aliases), e.display_name, e.api, mux,
            f"`{e.base_url}`" if e.base_url else "none: `base_url` is required",
            _codes(e.key_env), _codes(e.base_url_env),
            f"`{e.aibridge.path}`" if e.aibridge else "—",
        ))  # fmt: skip
    lines.append("")
    paths = [f"`{e.id}` `{e.mux_base_path}`" for e in catalog.entries if e.mux_base_path]
    lines.append(
        "Mux base paths (appended to the base URL handed to Mux): " + ", ".join(paths) + "."
    )
    for e in catalog.entries:
        if e.mux == "none":
            lines += ["", f"`{e.id}` is not carried by Mux: {e.mux_reason}."]
    return "\n".join(lines)


def _mux_key(entries: Sequence[CatalogEntry], key: str) -> str:
    names = {e.mux_options[key] for e in entries if key in e.mux_options}
    subs = dict.fromkeys(s for e in entries for s in e.mux_flatten.get(key, ()))
    env = [f"{e.id}: env `{e.extra_env[key][0]}`" for e in entries
           if key in e.extra_env and key not in e.mux_options and e.extra_env[key]]
    shown = _codes(sorted(names)) if names else "top-level " + _codes(list(subs)) if subs else ""
    return "; ".join(part for part in (shown, *env) if part)


def options_table(catalog: Catalog) -> str:
    lines = [_row("Key", "Value", "Applies to", "Mux key"), _row(*["---"] * 4)]
    for key, schema in _provider_schema()["properties"].items():
        takers = [e for e in catalog.entries if e.takes_option(key)]
        if not takers:
            continue
        value = describe(schema)
        narrowed = [f"`{e.id}`: {_codes(e.option_values[key])}"
                    for e in takers if key in e.option_values]
        if narrowed:
            value += " (" + "; ".join(narrowed) + " only)"
        if any(key in e.mux_flatten for e in takers):
            value += " (below)"
        lines.append(_row(f"`{key}`", value, _codes([e.id for e in takers]),
                          _mux_key(takers, key)))  # fmt: skip
    return "\n".join(lines)


def _key_table(properties: Mapping[str, Any], header: str) -> str:
    lines = [_row(header, "Value", "Meaning"), _row(*["---"] * 3)]
    for key, schema in properties.items():
        meaning = str(schema.get("description", "")).replace("|", "\\|")
        lines.append(_row(f"`{key}`", describe(schema), meaning))
    return "\n".join(lines)


def routing_table(catalog: Catalog) -> str:
    return _key_table(_provider_schema()["properties"]["routing"]["properties"], "`routing` key")


def model_parameters_table(catalog: Catalog) -> str:
    params = _provider_schema()["properties"]["model_parameters"]["additionalProperties"]
    lines = [_row("Key", "Value"), _row("---", "---")]
    lines += [_row(f"`{k}`", describe(s)) for k, s in params["properties"].items()]
    return "\n".join(lines)


def module_table(name: str) -> str:
    """A built-in module's inputs and the providers and targets it contributes."""
    from provision.spec.loader import load_file
    from provision.spec.modules import MODULE_FILE, builtin_modules_dir

    data: Mapping[str, Any] = load_file(builtin_modules_dir() / name / MODULE_FILE).data
    lines = [_row("Input", "Type", "Default", "Meaning"), _row(*["---"] * 4)]
    for key, body in (data.get("inputs") or {}).items():
        default = body.get("default")
        shown = "required" if "default" not in body else f"`{json.dumps(default)}`"
        lines.append(_row(f"`{key}`", body.get("type", "string"), shown,
                          str(body.get("description") or "—")))  # fmt: skip
    lines.append("")
    lines.append("Contributes providers: " + _codes(list(data.get("providers") or {})) + ".")
    if data.get("targets"):
        lines.append("Contributes targets: " + _codes(list(data["targets"])) + ".")
    return "\n".join(lines)


GENERATORS: Mapping[str, Callable[[Catalog], str]] = {
    "providers": providers_table,
    "provider-options": options_table,
    "routing": routing_table,
    "model-parameters": model_parameters_table,
}


def generate(name: str, catalog: Catalog | None = None) -> str:
    """The content of region `name`: a GENERATORS key, or `module:<built-in module>`."""
    if name.startswith("module:"):
        return module_table(name.removeprefix("module:"))
    if name not in GENERATORS:
        raise ValueError(f"unknown generated region {name!r}")
    return GENERATORS[name](catalog or load_catalog())


def regenerate(text: str, catalog: Catalog | None = None) -> str:
    """text with every generated region replaced by its current content."""
    cat = catalog or load_catalog()

    def fill(m: re.Match[str]) -> str:
        return f"{m.group(1)}{generate(m.group(2), cat)}\n{m.group(4)}"

    return REGION.sub(fill, text)


USAGE = "usage: python -m provision.spec.docgen [--check] [FILE]"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if "-h" in args or "--help" in args:
        print(USAGE)
        return 0
    check = "--check" in args
    paths = [a for a in args if a != "--check"]
    unknown = [a for a in paths if a.startswith("-")]
    if unknown or len(paths) > 1:
        what = f"unknown option {unknown[0]}" if unknown else "more than one FILE"
        print(f"docgen: {what}\n{USAGE}", file=sys.stderr)
        return 2
    path = Path(paths[0]) if paths else DEFAULT_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        print(f"docgen: cannot read {path}: {reason}", file=sys.stderr)
        return 2
    try:
        new = regenerate(text)
    except ValueError as exc:  # a region naming no generator
        print(f"docgen: {path}: {exc}", file=sys.stderr)
        return 2
    if check:
        if new != text:
            print(f"{path}: generated tables are stale; run python -m provision.spec.docgen",
                  file=sys.stderr)  # fmt: skip
            return 1
        return 0
    if new != text:
        path.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
