"""Read spec files: one file, or every spec file of a directory merged in lexical order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from provision.errors import Diagnostic, DiagnosticsError, Span
from provision.fsutil import SPEC_FILE_LIMIT, read_regular
from provision.spec.source import Document, SourceMap

SPEC_SUFFIXES = (".yaml", ".yml", ".json5")
# Sections whose entries are merged by name across the files of a directory.
MERGED_SECTIONS = ("variables", "deployments", "targets")


def display_name(path: Path) -> str:
    """Paths in diagnostics: relative to the working directory when below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)


def load_file(path: Path) -> Document:
    """One spec, module or variables file, parsed; DiagnosticsError when it cannot be."""
    name = display_name(path)
    try:
        raw = read_regular(path, SPEC_FILE_LIMIT)
    except OSError as exc:
        raise DiagnosticsError([Diagnostic.error(
            f"Cannot read {name}: {exc.strerror or exc}",
        )]) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise DiagnosticsError([Diagnostic.error(
            f"{name} is not valid UTF-8", span=Span(name, line, col, line, col + 1),
        )]) from None
    if path.suffix == ".json5":
        from provision.spec.json5_loader import load_json5

        doc = load_json5(text, name, allow_empty=True)
    else:
        from provision.spec.yaml_loader import load_yaml

        doc = load_yaml(text, name)
    if diags := _nul_characters(doc):
        raise DiagnosticsError(diags)
    return doc


def _nul_characters(doc: Document) -> list[Diagnostic]:
    """An escape can put U+0000 in a string, and no path, environment variable or header can
    hold one (a path with one used to crash the run)."""
    found: list[Diagnostic] = []
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), doc.data)]
    while stack:
        at, value = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                if isinstance(key, str) and "\0" in key:
                    found.append(_nul(doc.source.key_at((*at, key))))
                stack.append(((*at, key), item))
        elif isinstance(value, list):
            stack.extend(((*at, i), item) for i, item in enumerate(value))
        elif isinstance(value, str) and "\0" in value:
            found.append(_nul(doc.source.at(at)))
    return found


def _nul(span: Span | None) -> Diagnostic:
    return Diagnostic.error(
        "Text cannot contain a NUL character (U+0000)",
        "No file path, environment variable or HTTP header can hold one.",
        span=span,
    )


def is_spec_file(path: Path) -> bool:
    name = path.name
    return (
        path.suffix in SPEC_SUFFIXES
        and not name.startswith(".")
        and ".vars." not in name
        and not path.is_dir()  # a FIFO or a device is reported when read, not skipped
    )


def spec_files(path: Path) -> list[Path]:
    if not path.exists():
        raise DiagnosticsError([Diagnostic.error(
            f"No such file or directory: {display_name(path)}",
            "Pass -f with a spec file or a directory of spec files.",
        )])
    if not path.is_dir():
        return [path]
    try:
        files = sorted((p for p in path.iterdir() if is_spec_file(p)), key=lambda p: p.name)
    except OSError as exc:
        raise DiagnosticsError([Diagnostic.error(
            f"Cannot read the spec directory {display_name(path)}: {exc.strerror or exc}",
        )]) from None
    if not files:
        raise DiagnosticsError([Diagnostic.error(
            f"No spec files in {display_name(path)}",
            "A spec directory holds *.yaml, *.yml or *.json5 files.",
        )])
    return files


def load_spec(path: Path) -> Document:
    """Load and merge. Top-level maps merge by name; a name defined in two files is an error
    naming both places; other top-level keys (version) must agree."""
    diags: list[Diagnostic] = []
    merged: dict[str, Any] = {}
    source = SourceMap()
    names: list[str] = []
    for file in spec_files(path):
        try:
            doc = load_file(file)
        except DiagnosticsError as exc:
            diags.extend(exc.diagnostics)
            continue
        names.extend(doc.files)
        if doc.data is None:
            continue
        if not isinstance(doc.data, dict):
            diags.append(Diagnostic.error(
                "A spec file must be a mapping at the top level", span=doc.source.at(()),
            ))
            continue
        _merge(merged, source, doc, diags)
    if diags:
        raise DiagnosticsError(diags)
    source.values.setdefault((), Span(names[0] if names else display_name(path), 1, 1, 1, 1))
    return Document(data=merged, source=source, files=tuple(names))


def _merge(merged: dict[str, Any], source: SourceMap, doc: Document,
           diags: list[Diagnostic]) -> None:
    if not merged:
        source.values[()] = doc.source.values[()]
    taken: set[tuple[str, ...]] = set()  # paths whose spans come from this file
    for key, value in doc.data.items():
        path = (key,)
        if key not in merged:
            merged[key] = value
            taken.add(path)
            continue
        if key in MERGED_SECTIONS and isinstance(merged[key], dict) and isinstance(value, dict):
            for name, body in value.items():
                sub = (key, name)
                if name in merged[key]:
                    diags.append(Diagnostic.error(
                        f'{key[:-1].capitalize()} "{name}" is defined twice',
                        f"first defined at {source.key_at(sub)}",
                        span=doc.source.key_at(sub),
                    ))
                    continue
                merged[key][name] = body
                taken.add(sub)
        elif merged[key] != value:
            diags.append(Diagnostic.error(
                f'"{key}" differs between spec files',
                f"first set at {source.key_at(path)}",
                span=doc.source.key_at(path),
            ))
    source.graft(doc.source, taken)
