from __future__ import annotations

import math
import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provision.errors import Diagnostic, DiagnosticsError, Span
from provision.spec import yaml_loader
from provision.spec.source import Document, Path
from provision.spec.yaml_loader import load_yaml

F = "spec.yaml"
# Each property runs once per parser, so 100 examples each makes 200 per property.
PROPERTY = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
PARSERS = ["libyaml", "python"] if hasattr(yaml, "CSafeLoader") else ["python"]
REFERENCE: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
DUMPER: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


@pytest.fixture(params=PARSERS, autouse=True)
def parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    # Every test runs against both parsers: positions and results must not depend on libyaml.
    loader = yaml.CSafeLoader if request.param == "libyaml" else yaml.SafeLoader
    monkeypatch.setattr(yaml_loader, "_LOADER", loader)
    return str(request.param)


def span(line: int, col: int, end_line: int, end_col: int) -> Span:
    return Span(F, line, col, end_line, end_col)


def errors(text: str) -> list[Diagnostic]:
    with pytest.raises(DiagnosticsError) as info:
        load_yaml(text, F)
    return list(info.value.diagnostics)


def node_paths(value: Any, path: Path = ()) -> Iterator[Path]:
    yield path
    if isinstance(value, dict):
        for k, v in value.items():
            yield from node_paths(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from node_paths(v, (*path, i))


NESTED = """\
name: web   # comment
ports:
  - 80
  - {host: 8080, proto: tcp}
env:
  DEBUG: true
  list: [a, 'b c']
"""


def test_nested_spans() -> None:
    doc = load_yaml(NESTED, F)
    assert doc.files == (F,)
    assert doc.data == {
        "name": "web",
        "ports": [80, {"host": 8080, "proto": "tcp"}],
        "env": {"DEBUG": True, "list": ["a", "b c"]},
    }
    v, k = doc.source.values, doc.source.keys
    assert v[()] == span(1, 1, 7, 19)
    assert v[("name",)] == span(1, 7, 1, 10)
    assert k[("name",)] == span(1, 1, 1, 5)
    assert v[("ports",)] == span(3, 3, 4, 29)  # a block ends at its last child, not the next key
    assert v[("ports", 0)] == span(3, 5, 3, 7)
    assert v[("ports", 1)] == span(4, 5, 4, 29)
    assert k[("ports", 1, "proto")] == span(4, 18, 4, 23)
    assert v[("ports", 1, "proto")] == span(4, 25, 4, 28)
    assert k[("env", "DEBUG")] == span(6, 3, 6, 8)
    assert v[("env", "list", 1)] == span(7, 13, 7, 18)
    assert set(v) == set(node_paths(doc.data))
    assert set(k) == {p for p in v if p and isinstance(p[-1], str)}


def test_columns_count_code_points_and_block_scalar_ends_at_last_character() -> None:
    doc = load_yaml("é😀: x\nscript: |\n  echo hi\n  exit 0\n\n\nnext: 1\n", F)
    assert doc.source.keys[("é😀",)] == span(1, 1, 1, 3)
    assert doc.source.values[("é😀",)] == span(1, 5, 1, 6)
    assert doc.data["script"] == "echo hi\nexit 0\n"
    assert doc.source.values[("script",)] == span(2, 9, 4, 9)
    assert doc.source.values[("next",)] == span(7, 7, 7, 8)


def test_leading_bom_is_ignored() -> None:
    doc = load_yaml("\ufeffa: 1\n", F)
    assert doc.data == {"a": 1}
    assert doc.source.keys[("a",)] == span(1, 1, 1, 2)


def test_scalars_resolve_like_safe_load_but_dates_and_binary_stay_text() -> None:
    doc = load_yaml(
        "i: 0x1F\nf: 1.5e+3\nb: yes\nn: ~\ns: '1'\nt: !!str 2\nd: 2024-01-01\n"
        "ts: 2024-01-01T10:00:00Z\nbin: !!binary aGk=\ninf: -.inf\ne: !!int '7'\n",
        F,
    )
    assert doc.data == {
        "i": 31,
        "f": 1500.0,
        "b": True,
        "n": None,
        "s": "1",
        "t": "2",
        "d": "2024-01-01",
        "ts": "2024-01-01T10:00:00Z",
        "bin": "aGk=",
        "inf": -math.inf,
        "e": 7,
    }


def test_scalar_keys_are_their_text() -> None:
    doc = load_yaml("1: a\ntrue: b\nnull: c\n1.5: d\non: e\n", F)
    assert doc.data == {"1": "a", "true": "b", "null": "c", "1.5": "d", "on": "e"}
    assert doc.source.keys[("true",)] == span(2, 1, 2, 5)


def test_collection_keys_are_errors() -> None:
    (diag,) = errors("? [a, b]\n: 1\nok: 2\n")
    assert diag.summary == "Invalid YAML: a list cannot be a mapping key"
    assert diag.span == span(1, 3, 1, 9)


def test_every_duplicate_key_is_reported() -> None:
    diags = errors("name: a\nsub:\n  x: 1\n  x: 2\nname: b\nname: c\n")
    assert [(d.summary, d.detail, d.span) for d in diags] == [
        ('Duplicate key "x"', f"first defined at {F}:3:3", span(4, 3, 4, 4)),
        ('Duplicate key "name"', f"first defined at {F}:1:1", span(5, 1, 5, 5)),
        ('Duplicate key "name"', f"first defined at {F}:1:1", span(6, 1, 6, 5)),
    ]


def test_keys_equal_after_conversion_are_duplicates() -> None:
    (diag,) = errors("1: a\n'1': b\n")
    assert diag.summary == 'Duplicate key "1"'


MERGE = """\
base: &base {image: nginx, replicas: 1}
extra: &extra {replicas: 5, port: 80}
svc:
  <<: [*base, *extra]
  replicas: 3
"""


def test_merge_keys_explicit_wins_and_first_listed_mapping_wins() -> None:
    doc = load_yaml(MERGE, F)
    assert doc.data["svc"] == {"image": "nginx", "replicas": 3, "port": 80}
    assert list(doc.data["svc"]) == list(yaml.safe_load(MERGE)["svc"])
    keys, values = doc.source.keys, doc.source.values
    assert keys[("svc", "image")] == span(1, 14, 1, 19)  # where the merged key was written
    assert values[("svc", "image")] == span(1, 21, 1, 26)
    assert keys[("svc", "replicas")] == span(5, 3, 5, 11)
    assert doc.data == yaml.safe_load(MERGE)


def test_nested_merge_and_single_mapping_merge() -> None:
    text = "a: &a {x: 1}\nb: &b {<<: *a, y: 2}\nc: {<<: *b, x: 9}\n"
    assert load_yaml(text, F).data["c"] == {"x": 9, "y": 2}


def test_merge_of_non_mapping_is_an_error() -> None:
    (diag,) = errors("a: &a [1]\nb: {<<: *a}\n")
    assert diag.summary == "Invalid YAML: a merge key (<<) takes a mapping or a list of mappings"
    assert diag.span == span(2, 9, 2, 11)


def test_aliases_are_copied_and_positioned_at_the_alias() -> None:
    doc = load_yaml("a: &x {k: [1]}\nb: *x\n", F)
    assert doc.data == {"a": {"k": [1]}, "b": {"k": [1]}}
    assert doc.data["a"] is not doc.data["b"]
    assert doc.source.values[("b",)] == span(2, 4, 2, 6)
    assert doc.source.values[("b", "k", 0)] == span(1, 12, 1, 13)


@pytest.mark.parametrize(
    ("text", "summary", "where"),
    [
        ("a: *nope\n", 'Invalid YAML: undefined alias "nope"', span(1, 4, 1, 9)),
        ("a: &r [*r]\n", 'Invalid YAML: recursive alias "r"', span(1, 8, 1, 10)),
        ("a: !!int abc\n", 'Invalid YAML: "abc" is not a valid int', span(1, 4, 1, 13)),
        ("a: !Ref x\n", 'Invalid YAML: unsupported tag "!Ref"', span(1, 4, 1, 10)),
        ("a: !!set {x}\n", 'Invalid YAML: unsupported tag "tag:yaml.org,2002:set"', None),
        ("a: &x 1\nb: &x 2\n", 'Invalid YAML: duplicate anchor "x"', span(2, 4, 2, 8)),
        (
            "a: 1\n---\nb: 2\n",
            "Invalid YAML: a spec file holds one YAML document",
            span(2, 1, 2, 4),
        ),
        ("a: [1, 2\n", "Invalid YAML: ", span(2, 1, 2, 1)),  # libyaml and PyYAML word it apart
        ("a: b: c\n", "Invalid YAML: mapping values are not allowed", span(1, 5, 1, 6)),
        ("a: 1\x00\n", "Invalid YAML: character U+0000 is not allowed", span(1, 5, 1, 6)),
        ("x\n\ud800", "Invalid YAML: character U+D800 is not allowed", span(2, 1, 2, 2)),
    ],
)
def test_errors_are_positioned(text: str, summary: str, where: Span | None) -> None:
    (diag,) = errors(text)
    assert diag.summary.startswith(summary)
    if where is not None:
        assert diag.span == where


def test_syntax_error_detail_names_the_context() -> None:
    (diag,) = errors("key: [1, 2\nother: 3\n")
    assert diag.summary.startswith("Invalid YAML: ")
    assert diag.detail == f"while parsing a flow sequence at {F}:1:6"


def test_problems_of_the_same_file_are_all_reported() -> None:
    diags = errors("a: !!int x\nb: *missing\nc: 1\nc: 2\n")
    assert len(diags) == 3


@pytest.mark.parametrize("text", ["", "# only a comment\n", "\n\n", "---\n...\n"])
def test_empty_document_is_none(text: str) -> None:
    doc = load_yaml(text, F)
    assert doc.data is None
    assert () in doc.source.values


def test_end_marker_keeps_a_single_document() -> None:
    assert load_yaml("---\na: 1\n...\n", F).data == {"a": 1}


@pytest.mark.parametrize(
    ("opener", "closer", "tail"), [("[", "", ""), ("[", "]", ""), ("- ", "", "x")]
)
def test_deep_nesting_is_a_diagnostic_not_a_crash(
    opener: str, closer: str, tail: str, parser: str
) -> None:
    # yaml.compose recursed on the C stack here and took the interpreter down with a segfault;
    # the pure-Python scanner is slow on such input, so it gets a smaller (still too deep) one.
    n = 100_000 if parser == "libyaml" else 300
    (diag,) = errors(opener * n + closer * n + tail)
    assert diag.summary == "Invalid YAML: nesting deeper than 256 levels"


def test_alias_bomb_is_refused_quickly() -> None:
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    started = time.perf_counter()
    (diag,) = errors("\n".join(lines))
    assert diag.summary == "Invalid YAML: aliases expand to too many nodes"
    assert time.perf_counter() - started < 5


json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@PROPERTY
@given(value=json_values, flow=st.sampled_from([None, True, False]))
def test_safe_dump_round_trips_with_a_span_for_every_node(value: Any, flow: bool | None) -> None:
    text = yaml.dump(value, Dumper=DUMPER, default_flow_style=flow)
    doc = load_yaml(text, F)
    assert doc.data == value
    assert doc.data == yaml.load(text, Loader=REFERENCE)
    assert set(doc.source.values) == set(node_paths(value))
    for s in [*doc.source.values.values(), *doc.source.keys.values()]:
        assert (1, 1) <= (s.line, s.column) <= (s.end_line, s.end_column)


@pytest.mark.parametrize(
    "text",
    ['x: "\\U00110000"\n', '- a\n- {b: "ok \\U800010000"}\n'],
    ids=["past U+10FFFF", "past a C int"],
)
def test_a_unicode_escape_out_of_range_is_a_diagnostic(text: str) -> None:
    with pytest.raises(DiagnosticsError) as info:
        load_yaml(text, F)
    (diag,) = info.value.diagnostics
    assert diag.summary.startswith("Invalid YAML")
    assert diag.span is not None and diag.span.line >= 1


def check_outcome(text: str) -> None:
    try:
        doc = load_yaml(text, F)
    except DiagnosticsError as exc:
        assert exc.diagnostics
        for diag in exc.diagnostics:
            assert diag.is_error
            assert diag.span is not None
            assert diag.span.line >= 1
            assert diag.span.column >= 1
    else:
        assert isinstance(doc, Document)
        assert set(doc.source.values) == set(node_paths(doc.data))


YAML_PIECES = [*"-:?[]{},#&*!|>'\"%@\n\t \\", "<<", "&a", "*a", "---", "!!int", "\u2028"]


@st.composite
def mutated_yaml(draw: st.DrawFn) -> str:
    value = draw(json_values)
    flow = draw(st.sampled_from([None, True, False]))
    text = yaml.dump(value, Dumper=DUMPER, default_flow_style=flow)
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(text)))
        j = draw(st.integers(i, min(len(text), i + 4)))
        piece = draw(st.sampled_from(["", *YAML_PIECES]) | st.text(max_size=2))
        text = text[:i] + piece + text[j:]
    return text


@PROPERTY
@given(text=st.text())
def test_any_text_loads_or_raises_diagnostics(text: str) -> None:
    check_outcome(text)


@PROPERTY
@given(text=mutated_yaml())
def test_mutated_documents_load_or_raise_diagnostics(text: str) -> None:
    check_outcome(text)
