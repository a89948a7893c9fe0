"""Variable declarations and their values, later wins:

    default < env PROVISION_VAR_<name> < *.auto.vars.yaml beside the spec (lexical)
            < -var-file FILE / -var name=value, in command-line order

A value given as text (env, -var) is parsed by the declared type. Values of sensitive variables
become Secrets the moment they are read. Nothing here ever prompts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from provision.errors import Diagnostic, DiagnosticsError, Span, closest
from provision.record import record
from provision.secrets import Origin, Secret, protect
from provision.spec.interpolate import MISSING
from provision.spec.source import Document, SourceMap

ENV_PREFIX = "PROVISION_VAR_"
AUTO_VARS_GLOBS = ("*.auto.vars.yaml", "*.auto.vars.yml", "*.auto.vars.json5")


@record
class VariableDecl:
    """One declared variable or module input: its type, default (MISSING when required)
    and whether its values are secrets."""

    name: str
    type: str = "string"
    description: str = ""
    default: Any = MISSING
    sensitive: bool = False
    span: Span | None = None


@record(kw_only=False)
class VarArg:
    """One -var or -var-file from the command line, kept in command-line order."""

    kind: str  # "var" | "file"
    value: str


def declarations(raw: Mapping[str, Any], source: SourceMap, prefix: tuple[str, ...]
                 ) -> dict[str, VariableDecl]:
    """Declarations from an already schema-validated `variables`/`inputs` mapping."""
    out: dict[str, VariableDecl] = {}
    for name, body in raw.items():
        body = body or {}
        out[name] = VariableDecl(
            name=name,
            type=body.get("type", "string"),
            description=body.get("description", ""),
            default=body.get("default", MISSING),
            sensitive=body.get("sensitive") is True,
            span=source.key_at((*prefix, name)),
        )
    return out


def coerce(decl: VariableDecl, value: Any, origin: str, span: Span | None,
           diags: list[Diagnostic], *, from_text: bool, what: str = "") -> Any:
    """The value converted to the declared type, or MISSING after adding a diagnostic."""
    if isinstance(value, Secret):
        if decl.type == "string":
            return value
        value = value.reveal()
    try:
        converted = _convert(decl.type, value, from_text=from_text)
    except ValueError as exc:
        shown = "(sensitive value)" if decl.sensitive else _short(value)
        diags.append(Diagnostic.error(
            "Invalid value for " + (what or f'variable "{decl.name}"'),
            f"{origin}: {exc}; got {shown}.", span=span,
        ))
        return MISSING
    return protect(converted, Origin("variable", decl.name)) if decl.sensitive else converted


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:60] + "…"


def _convert(type_: str, value: Any, *, from_text: bool) -> Any:
    if type_ == "string":
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        if isinstance(value, str):
            return value
        raise ValueError("expected a string")
    if type_ == "number":
        if from_text and isinstance(value, str):
            try:
                value = int(value)
            except ValueError:
                try:
                    value = float(value)
                except ValueError:
                    raise ValueError("expected a number") from None
        if isinstance(value, int | float) and not isinstance(value, bool):
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError("expected a finite number")
            return value
        raise ValueError("expected a number")
    if type_ == "bool":
        if from_text and isinstance(value, str) and value in ("true", "false"):
            return value == "true"
        if isinstance(value, bool):
            return value
        raise ValueError("expected true or false")
    if from_text and isinstance(value, str):
        value = _parse_structured(value)
    if type_ == "list" and isinstance(value, list):
        return value
    if type_ == "map" and isinstance(value, dict):
        return value
    raise ValueError(f"expected a {type_}")


def _parse_structured(text: str) -> Any:
    from provision.spec.json5_loader import load_json5

    try:
        return load_json5(text, "<value>").data
    except DiagnosticsError:
        raise ValueError("not valid JSON5") from None


def auto_var_files(root: Path) -> list[Path]:
    found = {p for pattern in AUTO_VARS_GLOBS for p in root.glob(pattern)}
    return sorted(found, key=lambda p: p.name)


def values(
    decls: Mapping[str, VariableDecl],
    *,
    env: Mapping[str, str],
    auto_files: Iterable[Path] = (),
    args: Sequence[VarArg] = (),
) -> tuple[dict[str, Any], list[Diagnostic]]:
    """Each declared variable's value (MISSING where none was given), and diagnostics."""
    from provision.spec.loader import load_file

    diags: list[Diagnostic] = []
    result: dict[str, Any] = {}
    for name, decl in decls.items():
        if decl.default is not MISSING:
            result[name] = coerce(decl, decl.default, "default", decl.span, diags,
                                  from_text=False)
        else:
            result[name] = MISSING
        if (text := env.get(ENV_PREFIX + name)) is not None:
            _set(result, name, coerce(decl, text, f"env {ENV_PREFIX}{name}", decl.span, diags,
                                      from_text=True))

    def apply_file(path: Path) -> None:
        try:
            doc = load_file(path)
        except DiagnosticsError as exc:
            diags.extend(exc.diagnostics)
            return
        apply_document(doc)

    def apply_document(doc: Document) -> None:
        if doc.data is None:
            return
        if not isinstance(doc.data, dict):
            diags.append(Diagnostic.error(
                "A variables file must be a mapping of variable names to values",
                span=doc.source.at(()),
            ))
            return
        for name, value in doc.data.items():
            span = doc.source.key_at((name,))
            decl = decls.get(name)
            if decl is None:
                diags.append(_undeclared(name, decls, span, Diagnostic.warning))
                continue
            _set(result, name, coerce(decl, value, f"{span}", doc.source.at((name,)), diags,
                                      from_text=False))

    for path in auto_files:
        apply_file(path)
    for arg in args:
        if arg.kind == "file":
            apply_file(Path(arg.value))
            continue
        name, sep, text = arg.value.partition("=")
        name = name.strip()
        if not sep or not name:
            diags.append(Diagnostic.error(
                f'Invalid -var option "{_redacted_arg(arg.value)}"',
                "Write -var 'NAME=VALUE'.",
            ))
            continue
        cli_decl = decls.get(name)
        if cli_decl is None:
            diags.append(_undeclared(name, decls, None, Diagnostic.error))
            continue
        _set(result, name, coerce(cli_decl, text, f"-var {name}", None, diags, from_text=True))
    return result, diags


def _set(result: dict[str, Any], name: str, value: Any) -> None:
    """A value that failed to convert (already reported) leaves the earlier one in place, so
    it does not also cause a false "No value for required variable"."""
    if value is not MISSING:
        result[name] = value


def _redacted_arg(text: str) -> str:
    name, sep, _ = text.partition("=")
    return f"{name}=…" if sep else text


def _undeclared(name: str, decls: Mapping[str, VariableDecl], span: Span | None,
                make: Any) -> Diagnostic:
    hint = closest(name, decls)
    detail = f'Did you mean "{hint}"?' if hint else "Declare it under `variables` first."
    diag: Diagnostic = make(f'Value for undeclared variable "{name}"', detail, span)
    return diag


def missing_required(decls: Mapping[str, VariableDecl], values_: Mapping[str, Any],
                     used: Iterable[str] | None = None) -> list[Diagnostic]:
    """`No value for required variable "x"` for each declared variable left without a value."""
    names = decls if used is None else [n for n in decls if n in set(used)]
    return [
        Diagnostic.error(
            f'No value for required variable "{n}"',
            f"Give it a default, set {ENV_PREFIX}{n}, add it to a *.auto.vars.yaml file, or pass "
            f"-var '{n}=…' / -var-file.",
            span=decls[n].span,
        )
        for n in names
        if values_.get(n, MISSING) is MISSING
    ]
