"""docs/spec.md cannot drift from the schema, the catalog or the loader.

Every key and every fixed value the JSON Schema knows is documented; the generated tables are
current; every complete example in the doc validates cleanly.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from provision.api import load_spec
from provision.catalog import load_catalog
from provision.errors import DiagnosticsError
from provision.spec import docgen
from provision.spec.schema import module_schema, spec_schema

DOC = Path(__file__).resolve().parents[2] / "docs" / "spec.md"
TEXT = DOC.read_text(encoding="utf-8")
BACKTICKED = set(re.findall(r"`([^`\n]+)`", TEXT))
# The first cell of every table row: where a key is documented, not merely mentioned.
ROW_KEYS = {
    token
    for cell in re.findall(r"^\| *([^|\n]+?) *\|", TEXT, re.MULTILINE)
    for token in re.findall(r"`([^`]+)`", cell)
}
YAML_BLOCKS = re.findall(r"^```yaml\n(.*?)^```$", TEXT, re.MULTILINE | re.DOTALL)
MODULE_HEADER = re.compile(r"# (modules/[a-z0-9-]+/module\.yaml)\n")


def walk(schema: Mapping[str, Any]) -> tuple[set[str], set[str]]:
    """Every property name and every enum/const value reachable in schema."""
    names: set[str] = set()
    values: set[str] = set()
    seen: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                visit(item)
            return
        if not isinstance(node, Mapping):
            return
        ref = node.get("$ref")
        if isinstance(ref, str) and ref not in seen:
            seen.add(ref)
            target: Any = schema
            for token in ref.removeprefix("#/").split("/"):
                target = target[token]
            visit(target)
        for name, sub in node.get("properties", {}).items():
            names.add(name)
            visit(sub)
        values.update(str(v) for v in node.get("enum", ()))
        for key in ("additionalProperties", "items", "if", "then", "else", "unevaluatedProperties"):
            visit(node.get(key))
        for key in ("anyOf", "oneOf", "allOf"):
            visit(node.get(key, []))
        for sub in node.get("$defs", {}).values():
            visit(sub)

    visit(schema)
    return names, values


def _documented(key: str) -> bool:
    return key in ROW_KEYS or any(token.endswith(f".{key}") for token in ROW_KEYS)


@pytest.mark.parametrize("schema", [spec_schema(), module_schema()], ids=["spec", "module"])
def test_every_schema_key_has_a_table_row(schema: Mapping[str, Any]) -> None:
    names, _ = walk(schema)
    assert {n for n in names if not _documented(n)} == set()


@pytest.mark.parametrize("schema", [spec_schema(), module_schema()], ids=["spec", "module"])
def test_every_enum_value_is_documented(schema: Mapping[str, Any]) -> None:
    _, values = walk(schema)
    assert values - BACKTICKED == set()


def test_walk_reaches_every_part_of_the_schema() -> None:
    names, values = walk(spec_schema())
    # One key from each place the walk must get through: $defs, if/then, anyOf, nested objects.
    assert {"api_key", "dialect", "context_window_tokens", "status", "env_list", "order"} <= names
    assert {"aibridge", "tf_json", "validation_error", "chat_completions"} <= values


def test_probe_shapes_table_lists_the_schema_enum() -> None:
    region = re.search(r"^\| Shape \|.*?\n\n", TEXT, re.MULTILINE | re.DOTALL)
    assert region is not None
    listed = re.findall(r"^\| `([a-z_]+)` \|", region.group(0), re.MULTILINE)
    shape = spec_schema()["$defs"]["provider"]["properties"]["probe"]["properties"]["expect"]
    assert listed == shape["properties"]["shape"]["enum"]


def test_generated_tables_are_current() -> None:
    assert docgen.regenerate(TEXT) == TEXT, "run: python -m provision.spec.docgen"
    assert docgen.main(["--check", str(DOC)]) == 0


def test_check_reports_a_stale_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stale = tmp_path / "spec.md"
    stale.write_text(TEXT.replace("| `groq` |", "| `groq-old` |"), encoding="utf-8")
    assert docgen.main(["--check", str(stale)]) == 1
    assert "stale" in capsys.readouterr().err
    assert docgen.main([str(stale)]) == 0
    assert stale.read_text(encoding="utf-8") == TEXT


def test_main_reports_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert docgen.main(["--bogus"]) == 2
    assert docgen.main([str(tmp_path / "missing.md")]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert docgen.DEFAULT_FILE == DOC


def test_every_catalog_id_is_in_the_provider_table() -> None:
    region = re.search(r"<!-- generated: providers -->\n(.*?)<!-- end", TEXT, re.DOTALL)
    assert region is not None
    listed = re.findall(r"^\| `([^`]+)` \|", region.group(1), re.MULTILINE)
    assert listed == [e.id for e in load_catalog().entries]


def _examples() -> Iterator[str]:
    for block in YAML_BLOCKS:
        if block.startswith("version: 1"):
            yield block


def test_doc_has_a_complete_example() -> None:
    assert len(list(_examples())) >= 2


@pytest.mark.parametrize("block", list(_examples()), ids=lambda b: b.splitlines()[2][:40])
def test_yaml_example_validates_cleanly(block: str, tmp_path: Path) -> None:
    for other in YAML_BLOCKS:
        if m := MODULE_HEADER.match(other):
            module = tmp_path / m.group(1)
            module.parent.mkdir(parents=True, exist_ok=True)
            module.write_text(other, encoding="utf-8")
    spec = tmp_path / "spec.yaml"
    spec.write_text(block, encoding="utf-8")
    try:
        resolved = load_spec(spec, env={"HOME": str(tmp_path)}, read_secrets=False)
    except DiagnosticsError as exc:
        pytest.fail("\n".join(str(d) for d in exc.diagnostics))
    assert [str(w) for w in resolved.warnings] == []
