"""Modules: `modules/<name>/module.yaml`, typed inputs, a body contributing providers/targets.

A deployment says `use: [{module: coder-aibridge, with: {…}}]` (or `module: ./path`). Inside a
module, `${var.NAME}` refers to the module's own inputs, as in a Terraform module.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from provision.errors import Diagnostic, DiagnosticsError, Span, closest
from provision.record import record
from provision.spec.build import misplaced_secrets
from provision.spec.interpolate import MISSING, Interpolator
from provision.spec.jsonschema import validate
from provision.spec.loader import display_name, load_file
from provision.spec.schema import module_schema
from provision.spec.source import Path as DocPath
from provision.spec.source import SourceMap
from provision.spec.variables import coerce, declarations

MODULE_FILE = "module.yaml"


@record
class Contribution:
    """A provider or target contributed by a module, with where it was written."""

    kind: str  # "providers" | "targets"
    name: str
    body: dict[str, Any]
    source: SourceMap
    path: DocPath
    module: str


def builtin_modules_dir() -> Path:
    package = Path(__file__).resolve().parent.parent
    wheel = package / "_builtin_modules"
    return wheel if wheel.is_dir() else package.parent / "modules"


def find_module(ref: str, spec_root: Path, using_file: Path) -> Path | None:
    if ref.startswith(("./", "../", "/")):
        base = Path(ref) if ref.startswith("/") else using_file.parent / ref
        candidate = base / MODULE_FILE if base.is_dir() else base
        return candidate if candidate.is_file() else None
    for directory in (spec_root, *spec_root.parents):
        candidate = directory / "modules" / ref / MODULE_FILE
        if candidate.is_file():
            return candidate
    candidate = builtin_modules_dir() / ref / MODULE_FILE
    return candidate if candidate.is_file() else None


@record(frozen=False, kw_only=False)
class Expander:
    """Expands `use:` entries into the providers and targets their modules contribute, nested
    `use:` included. Problems go to `diagnostics`; a failing module contributes nothing."""

    spec_root: Path
    env: Mapping[str, str]
    diagnostics: list[Diagnostic]
    targets: bool = True  # False: leave modules' targets out, uninterpolated (`env -d`)

    def expand(self, use: list[Any], source: SourceMap, path: DocPath,
               stack: tuple[Path, ...] = ()) -> list[Contribution]:
        out: list[Contribution] = []
        for i, item in enumerate(use):
            out.extend(self._one(item, source, (*path, i), stack))
        return out

    def _error(self, summary: str, detail: str, span: Span | None) -> list[Contribution]:
        self.diagnostics.append(Diagnostic.error(summary, detail, span=span))
        return []

    def _one(self, item: dict[str, Any], source: SourceMap, path: DocPath,
             stack: tuple[Path, ...]) -> list[Contribution]:
        ref = item["module"]
        span = source.at((*path, "module"))
        using_file = Path(span.filename) if span else self.spec_root
        found = find_module(ref, self.spec_root, using_file)
        if found is None:
            return self._error(f'Module "{ref}" not found',
                               "Looked for modules/<name>/module.yaml beside the spec and in its "
                               "parent directories, then in the built-in modules.", span)
        found = found.resolve()
        if found in stack:
            chain = " -> ".join(display_name(p.parent) for p in (*stack, found))
            return self._error(f'Module cycle through "{ref}"', chain, span)
        try:
            doc = load_file(found)
        except DiagnosticsError as exc:
            self.diagnostics.extend(exc.diagnostics)
            return []
        if not isinstance(doc.data, dict):
            return self._error(f'Module "{ref}" is empty or not a mapping', "", doc.source.at(()))
        problems = validate(doc.data, doc.source, module_schema())
        if problems:
            self.diagnostics.extend(problems)
            return []
        inputs = self._inputs(ref, doc.data.get("inputs") or {}, doc.source,
                              item.get("with") or {}, source, path)
        if inputs is None:
            return []
        interp = Interpolator(inputs, self.env, doc.source, scope="input")
        kinds = ("providers", "targets", "use") if self.targets else ("providers", "use")
        body = {k: interp.walk(doc.data[k], (k,)) for k in kinds if k in doc.data}
        interp_diags = interp.finish()
        self.diagnostics.extend(interp_diags)
        if any(d.is_error for d in interp_diags):
            return []
        unresolved = {k: v for k, v in doc.data.items() if k != "targets" or self.targets}
        problems = validate({**unresolved, **body}, doc.source, module_schema(), resolved=True)
        problems += misplaced_secrets(body, doc.source)
        if problems:
            self.diagnostics.extend(problems)
            return []
        out = [
            Contribution(kind=kind, name=name, body=value, source=doc.source,
                         path=(kind, name), module=ref)
            for kind in ("providers", "targets")
            for name, value in (body.get(kind) or {}).items()
        ]
        if body.get("use"):
            out.extend(self.expand(body["use"], doc.source, ("use",), (*stack, found)))
        return out

    def _inputs(self, ref: str, declared: dict[str, Any], msource: SourceMap,
                given: dict[str, Any], source: SourceMap, path: DocPath
                ) -> dict[str, Any] | None:
        decls = declarations(declared, msource, ("inputs",))
        ok = True
        values: dict[str, Any] = {}
        for name, value in given.items():
            decl = decls.get(name)
            if decl is None:
                hint = closest(name, decls)
                detail = f'Did you mean "{hint}"?' if hint else (
                    "Inputs: " + ", ".join(decls) if decls else "The module takes no inputs.")
                self.diagnostics.append(Diagnostic.error(
                    f'Unknown input "{name}" for module "{ref}"', detail,
                    span=source.key_at((*path, "with", name)),
                ))
                ok = False
                continue
            values[name] = coerce(decl, value, f"input {name}",
                                  source.at((*path, "with", name)), self.diagnostics,
                                  from_text=False, what=f'input "{name}" of module "{ref}"')
        for name, decl in decls.items():
            if name in values:
                continue
            if decl.default is MISSING:
                self.diagnostics.append(Diagnostic.error(
                    f'Missing input "{name}" for module "{ref}"',
                    decl.description or f"declared at {decl.span}",
                    span=source.at(path),
                ))
                ok = False
                continue
            values[name] = coerce(decl, decl.default, "default", decl.span, self.diagnostics,
                                   from_text=False)
        if any(v is MISSING for v in values.values()):
            ok = False
        return values if ok else None
