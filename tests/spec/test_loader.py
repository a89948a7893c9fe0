"""provision.spec.loader: which files a directory contributes, merge order, positions after the
merge, and the property that no text written to a spec file escapes as anything but the
project's own errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provision.api import load_spec as api_load_spec
from provision.errors import DiagnosticsError, ProvisionError
from provision.spec.json5_loader import load_json5
from provision.spec.loader import is_spec_file, load_file, load_spec, spec_files
from provision.spec.yaml_loader import load_yaml

ROOT = Path(__file__).resolve().parents[2]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def errors(path: Path) -> list[tuple[str, str | None, int, int]]:
    with pytest.raises(DiagnosticsError) as info:
        load_spec(path)
    return [
        (
            x.summary,
            x.span.filename if x.span else None,
            x.span.line if x.span else 0,
            x.span.column if x.span else 0,
        )
        for x in info.value.diagnostics
    ]


@pytest.fixture
def cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


# -- which files -----------------------------------------------------------------------------


def test_directory_loads_spec_files_in_lexical_order(cwd: Path) -> None:
    for name in ("b.yaml", "a.json5", "9-x.yaml", "10-x.yml"):
        write(cwd / "spec" / name, "{}\n")
    assert [p.name for p in spec_files(cwd / "spec")] == [
        "10-x.yml",
        "9-x.yaml",
        "a.json5",
        "b.yaml",
    ]


@pytest.mark.parametrize(
    "name",
    [
        ".hidden.yaml",
        ".x.json5",
        "x.vars.yaml",
        "prod.auto.vars.yaml",
        "a.auto.vars.json5",
        "x.vars.yml",
        "README.md",
        "spec.toml",
        "spec.yaml~",
    ],
)
def test_skipped_files(cwd: Path, name: str) -> None:
    write(cwd / "spec" / "main.yaml", "version: 1\n")
    write(cwd / "spec" / name, "{{{ not a spec: [\n")
    assert [p.name for p in spec_files(cwd / "spec")] == ["main.yaml"]
    assert load_spec(cwd / "spec").data == {"version": 1}
    assert not is_spec_file(cwd / "spec" / name)


def test_subdirectories_are_not_read(cwd: Path) -> None:
    write(cwd / "spec" / "main.yaml", "version: 1\n")
    write(cwd / "spec" / "modules" / "m" / "module.yaml", "{{{ [\n")
    (cwd / "spec" / "dir.yaml").mkdir()
    assert [p.name for p in spec_files(cwd / "spec")] == ["main.yaml"]


def test_a_named_file_is_loaded_whatever_its_name(cwd: Path) -> None:
    write(cwd / "x.vars.yaml", "version: 1\n")
    assert load_spec(cwd / "x.vars.yaml").data == {"version": 1}


def test_missing_path_and_empty_directory(cwd: Path) -> None:
    assert errors(cwd / "nope") == [("No such file or directory: nope", None, 0, 0)]
    (cwd / "empty").mkdir()
    write(cwd / "empty" / "notes.txt", "x")
    assert errors(cwd / "empty") == [("No spec files in empty", None, 0, 0)]


# -- merging ---------------------------------------------------------------------------------


def test_a_spec_directory_that_cannot_be_listed_is_a_diagnostic(
    cwd: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (cwd / "spec").mkdir()

    def refuse(self: Path) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "iterdir", refuse)
    with pytest.raises(DiagnosticsError) as err:
        spec_files(cwd / "spec")
    assert [d.summary for d in err.value.diagnostics] == [
        "Cannot read the spec directory spec: Permission denied"]


def test_merge_by_name_in_file_order(cwd: Path) -> None:
    write(
        cwd / "s" / "20-b.yaml",
        """\
        version: 1
        deployments:
          b: {}
        targets:
          t2: {type: mux_providers, deployment: b}
        """,
    )
    write(
        cwd / "s" / "10-a.yaml",
        """\
        version: 1
        variables:
          v: {default: x}
        deployments:
          a: {}
        """,
    )
    doc = load_spec(cwd / "s")
    assert doc.files == ("s/10-a.yaml", "s/20-b.yaml")
    assert list(doc.data) == ["version", "variables", "deployments", "targets"]
    assert list(doc.data["deployments"]) == ["a", "b"]
    # Positions survive the merge and name the file each node came from.
    key_b = doc.source.key_at(("deployments", "b"))
    assert (key_b.filename, key_b.line, key_b.column) == ("s/20-b.yaml", 3, 3)
    t2 = doc.source.at(("targets", "t2", "deployment"))
    assert (t2.filename, t2.line) == ("s/20-b.yaml", 5)
    key_a = doc.source.key_at(("variables", "v"))
    assert (key_a.filename, key_a.line, key_a.column) == ("s/10-a.yaml", 3, 3)


def test_same_name_in_two_files_names_both_places(cwd: Path) -> None:
    write(
        cwd / "s" / "a.yaml", "version: 1\ntargets:\n  mux: {type: mux_providers, deployment: d}\n"
    )
    write(
        cwd / "s" / "b.json5",
        "{\n  targets: {\n    mux: {type: 'mux_providers', deployment: 'd'},\n  },\n}\n",
    )
    with pytest.raises(DiagnosticsError) as info:
        load_spec(cwd / "s")
    (diag,) = info.value.diagnostics
    assert diag.summary == 'Target "mux" is defined twice'
    assert diag.detail == "first defined at s/a.yaml:3:3"
    assert str(diag.span) == "s/b.json5:3:5"


def test_all_files_are_read_before_failing(cwd: Path) -> None:
    write(cwd / "s" / "a.yaml", "version: 1\ndeployments: [\n")
    write(cwd / "s" / "b.json5", "{version: 1,, }")
    write(cwd / "s" / "c.yaml", "- a list\n")
    got = errors(cwd / "s")
    assert [(f, line) for _, f, line, _ in got] == [
        ("s/a.yaml", 3),
        ("s/b.json5", 1),
        ("s/c.yaml", 1),
    ]
    assert got[2][0] == "A spec file must be a mapping at the top level"


def test_top_level_keys_must_agree(cwd: Path) -> None:
    write(cwd / "s" / "a.yaml", "version: 1\n")
    write(cwd / "s" / "b.yaml", "\n\nversion: 2\n")
    assert errors(cwd / "s") == [('"version" differs between spec files', "s/b.yaml", 3, 1)]


def test_empty_files_contribute_nothing(cwd: Path) -> None:
    write(cwd / "s" / "a.yaml", "# only a comment\n")
    write(cwd / "s" / "b.yaml", "version: 1\n")
    write(cwd / "s" / "c.json5", "")
    write(cwd / "s" / "d.json5", "// only a comment\n/* and\n another */\n")
    assert load_spec(cwd / "s").data == {"version": 1}


def test_an_empty_json5_file_still_needs_its_comments_closed(cwd: Path) -> None:
    write(cwd / "s" / "a.json5", "\n/* open")
    assert [e[0] for e in errors(cwd / "s")] == ["Invalid JSON5: unterminated comment"]


def test_encoding(cwd: Path) -> None:
    (cwd / "bom.yaml").write_bytes("\ufeffversion: 1\n".encode())
    assert load_spec(cwd / "bom.yaml").data == {"version": 1}
    (cwd / "latin1.yaml").write_bytes(b"version: 1\nx: caf\xe9\n")
    assert errors(cwd / "latin1.yaml") == [("latin1.yaml is not valid UTF-8", "latin1.yaml", 2, 7)]


def test_paths_outside_the_working_directory_stay_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    path = write(tmp_path / "spec.yaml", "version: 1\n")
    assert load_file(path).files == (str(path),)


def test_json5_and_yaml_give_the_same_data_and_positions(cwd: Path) -> None:
    y = write(
        cwd / "a.yaml",
        """\
        version: 1
        deployments:
          dev:
            providers:
              openai: {models: [gpt-5]}
        """,
    )
    j = write(
        cwd / "a.json5",
        """\
        {version: 1,
        deployments: {
          dev: {
            providers: {
              openai: {models: ['gpt-5']},
        }}}}
        """,
    )
    dy, dj = load_spec(y), load_spec(j)
    assert dy.data == dj.data
    path = ("deployments", "dev", "providers", "openai", "models", 0)
    assert (dy.source.at(path).line, dy.source.at(path).column) == (5, 25)
    assert (dj.source.at(path).line, dj.source.at(path).column) == (5, 25)


def test_yaml_keys_are_read_as_their_text(cwd: Path) -> None:
    write(cwd / "s.yaml", "on: 1\nyes: 2\nnull: 3\n0x1F: 4\n")
    assert list(load_file(cwd / "s.yaml").data) == ["on", "yes", "null", "0x1F"]


def test_json5_unexpected_quote_is_readable() -> None:
    with pytest.raises(DiagnosticsError) as info:
        load_json5('{version: 1 "x": 2}', "spec.json5")
    (diag,) = info.value.diagnostics
    assert '"""' not in diag.summary
    assert "expected" in (diag.summary + diag.detail).lower()


# -- property: only the project's own errors, whatever the text ------------------------------

VALID_YAML = (ROOT / "examples" / "laptop-local-models" / "provision.yaml").read_text()
VALID_JSON5 = """\
// a JSON5 spec
{
  version: 1,
  variables: {url: {type: 'string', default: 'https://coder.example.com'}},
  deployments: {
    dev: {
      coder: {url: '${var.url}', token: {env: 'CODER_SESSION_TOKEN'}},
      providers: {
        openai: {via: 'aibridge', models: ['gpt-5', {id: 'o3', context_window_tokens: 200000}]},
        groq: {model_parameters: {'*': {temperature: 0.5, top_p: 0.9}}},
      },
    },
  },
  targets: {mux: {type: 'mux_providers', deployment: 'dev', path: 'out/p.jsonc'}},
}
"""
NASTY = st.sampled_from(
    [
        "${",
        "$${",
        "}",
        "{",
        "[",
        "]",
        ":",
        "- ",
        "\n",
        "\t",
        "'",
        '"',
        "&a",
        "*a",
        "<<: *a",
        "!!python/object:os.system",
        "!tag",
        "\x00",
        "\ufeff",
        "\u2028",
        "#",
        ",",
        "//",
        "/*",
        "0x",
        "Infinity",
        "NaN",
        "1e999",
        "-",
        "? ",
        "|\n",
        ">-\n",
        "~",
        "null",
        "${env.HOME}",
        "${var.x}",
        "{env: X}",
        "{file: /etc/hostname}",
        "\udcff",
    ]
)


@st.composite
def mutations(draw: st.DrawFn, base: str) -> str:
    text = base
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(text)))
        j = draw(st.integers(i, min(len(text), i + 30)))
        insert = draw(st.one_of(st.text(max_size=8), NASTY))
        text = text[:i] + insert + text[j:]
    return text


PROPERTY = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def _only_project_errors(directory: Path, suffix: str, text: str) -> None:
    path = directory / f"spec{suffix}"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    for load in (
        lambda: load_yaml(text, "s.yaml"),
        lambda: load_json5(text, "s.json5"),
        lambda: api_load_spec(path, env={}, read_secrets=False),
        lambda: api_load_spec(path, env={"CODER_SESSION_TOKEN": "t"}),
    ):
        try:
            load()
        except ProvisionError as exc:
            assert exc.diagnostics
            assert all(d.summary for d in exc.diagnostics)


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@PROPERTY
@given(text=st.one_of(st.text(max_size=200), mutations(VALID_YAML)))
def test_yaml_any_text_raises_only_provision_errors(fuzz_dir: Path, text: str) -> None:
    _only_project_errors(fuzz_dir, ".yaml", text)


@PROPERTY
@given(text=st.one_of(st.text(max_size=200), mutations(VALID_JSON5)))
def test_json5_any_text_raises_only_provision_errors(fuzz_dir: Path, text: str) -> None:
    _only_project_errors(fuzz_dir, ".json5", text)


def test_the_property_bases_are_valid(tmp_path: Path) -> None:
    (tmp_path / "spec.json5").write_text(VALID_JSON5)
    resolved = api_load_spec(tmp_path / "spec.json5", env={"CODER_SESSION_TOKEN": "t"})
    assert set(resolved.spec.deployments["dev"].providers) == {"openai", "groq"}
    api_load_spec(ROOT / "examples" / "laptop-local-models", env={"CODER_SESSION_TOKEN": "t"})
