"""provision.spec.variables: declarations, precedence, conversion from text, sensitivity.

Precedence, later wins: default < PROVISION_VAR_<name> < *.auto.vars.yaml beside the spec
(lexical) < -var-file / -var in command-line order — checked on `values()`, on `load_spec`, and
through the CLI."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path
from typing import Any

import pytest

from provision.api import load_spec
from provision.cli import main
from provision.errors import DiagnosticsError
from provision.secrets import Secret
from provision.spec.interpolate import MISSING
from provision.spec.variables import (
    VarArg,
    VariableDecl,
    auto_var_files,
    missing_required,
    values,
)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def decl(
    name: str = "x", type_: str = "string", default: Any = MISSING, sensitive: bool = False
) -> dict[str, VariableDecl]:
    return {name: VariableDecl(name=name, type=type_, default=default, sensitive=sensitive)}


@pytest.fixture
def cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in [k for k in os.environ if k.startswith("PROVISION_VAR_")]:
        monkeypatch.delenv(name)
    return tmp_path


# -- precedence on values() ------------------------------------------------------------------


def test_default_alone(cwd: Path) -> None:
    assert values(decl(default="d"), env={}) == ({"x": "d"}, [])


def test_env_beats_default(cwd: Path) -> None:
    assert values(decl(default="d"), env={"PROVISION_VAR_x": "e"}) == ({"x": "e"}, [])


def test_env_name_is_case_sensitive(cwd: Path) -> None:
    assert values(decl(default="d"), env={"PROVISION_VAR_X": "e"}) == ({"x": "d"}, [])


def test_auto_files_beat_env_and_apply_in_lexical_order(cwd: Path) -> None:
    write(cwd / "b.auto.vars.yml", "x: b\n")
    write(cwd / "a.auto.vars.yaml", "x: a\n")
    write(cwd / "c.auto.vars.json5", "{x: 'c'}\n")
    write(cwd / "z.vars.yaml", "x: not-auto\n")
    files = auto_var_files(cwd)
    assert [p.name for p in files] == ["a.auto.vars.yaml", "b.auto.vars.yml", "c.auto.vars.json5"]
    assert values(decl(default="d"), env={"PROVISION_VAR_x": "e"}, auto_files=files)[0] == {
        "x": "c"
    }
    assert values(decl(default="d"), env={}, auto_files=files[:2])[0] == {"x": "b"}


@pytest.mark.parametrize(
    ("order", "winner"),
    [
        (["file:a", "var:x=1", "file:b"], "b"),
        (["file:a", "file:b", "var:x=1"], "1"),
        (["var:x=1", "file:a"], "a"),
        (["var:x=1", "var:x=2"], "2"),
        (["file:b", "file:a"], "a"),
    ],
)
def test_command_line_order_wins_over_auto_files(cwd: Path, order: list[str], winner: str) -> None:
    write(cwd / "a.yaml", "x: a\n")
    write(cwd / "b.json5", "{x: 'b'}\n")
    write(cwd / "z.auto.vars.yaml", "x: auto\n")
    args = [
        VarArg("file", f"{v}.yaml" if v == "a" else "b.json5") if k == "file" else VarArg("var", v)
        for k, v in (o.split(":", 1) for o in order)
    ]
    got, diags = values(
        decl(default="d"), env={"PROVISION_VAR_x": "e"}, auto_files=auto_var_files(cwd), args=args
    )
    assert (got, diags) == ({"x": winner}, [])


def test_var_value_may_contain_equals_and_be_empty(cwd: Path) -> None:
    assert values(decl(), env={}, args=[VarArg("var", "x=a=b")])[0] == {"x": "a=b"}
    assert values(decl(), env={}, args=[VarArg("var", "x=")])[0] == {"x": ""}


# -- conversion from text --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_", "text", "value"),
    [
        ("string", "007", "007"),
        ("string", "", ""),
        ("number", "42", 42),
        ("number", "-4.5", -4.5),
        ("number", "1e3", 1000.0),
        ("bool", "true", True),
        ("bool", "false", False),
        ("list", '["a", 1]', ["a", 1]),
        ("list", "[]", []),
        ("map", "{a: 1, 'b c': [true]}", {"a": 1, "b c": [True]}),
        ("map", '{"k": "v"}', {"k": "v"}),
    ],
)
def test_text_is_converted_by_declared_type(cwd: Path, type_: str, text: str, value: Any) -> None:
    for where in ({"env": {"PROVISION_VAR_x": text}}, {"args": [VarArg("var", f"x={text}")]}):
        got, diags = values(decl(type_=type_), **{"env": {}, **where})  # type: ignore[arg-type]
        assert diags == []
        assert got == {"x": value} and type(got["x"]) is type(value)


@pytest.mark.parametrize(
    ("type_", "text", "problem"),
    [
        ("number", "abc", "expected a number"),
        ("number", "nan", "expected a finite number"),
        ("number", "inf", "expected a finite number"),
        ("number", "0x10", "expected a number"),
        ("bool", "yes", "expected true or false"),
        ("bool", "True", "expected true or false"),
        ("bool", "1", "expected true or false"),
        ("list", "a,b", "not valid JSON5"),
        ("list", "{}", "expected a list"),
        ("map", "[1]", "expected a map"),
    ],
)
def test_bad_text_is_an_error_naming_the_source(
    cwd: Path, type_: str, text: str, problem: str
) -> None:
    _, diags = values(decl(type_=type_), env={}, args=[VarArg("var", f"x={text}")])
    assert diags[0].summary == 'Invalid value for variable "x"'
    assert diags[0].detail == f"-var x: {problem}; got {text!r}."
    _, diags = values(decl(type_=type_), env={"PROVISION_VAR_x": text})
    assert diags[0].detail == f"env PROVISION_VAR_x: {problem}; got {text!r}."


@pytest.mark.parametrize(
    ("type_", "value", "want"),
    [
        ("string", 5, "5"),
        ("string", True, "true"),
        ("number", 2.5, 2.5),
        ("list", ["a"], ["a"]),
        ("map", {"a": 1}, {"a": 1}),
    ],
)
def test_files_keep_their_types(cwd: Path, type_: str, value: Any, want: Any) -> None:
    write(cwd / "v.json5", json.dumps({"x": value}))
    assert values(decl(type_=type_), env={}, args=[VarArg("file", "v.json5")]) == ({"x": want}, [])


def test_file_value_of_the_wrong_type_points_at_it(cwd: Path) -> None:
    write(cwd / "v.yaml", "# vars\nx: [1, 2]\n")
    _, diags = values(decl(type_="number"), env={}, args=[VarArg("file", "v.yaml")])
    (d,) = diags
    assert d.summary == 'Invalid value for variable "x"'
    assert str(d.span) == "v.yaml:2:4"
    assert d.detail.startswith("v.yaml:2:1: expected a number")


def test_a_bad_value_does_not_also_claim_the_variable_is_missing(cwd: Path) -> None:
    decls = decl(type_="number", default=1)
    got, _ = values(decls, env={}, args=[VarArg("var", "x=abc")])
    assert missing_required(decls, got) == []


# -- undeclared, malformed, missing ------------------------------------------------------------


def test_undeclared_in_a_file_is_a_warning_with_a_hint(cwd: Path) -> None:
    write(cwd / "v.yaml", "coder_ulr: https://x\n")
    _, diags = values(decl("coder_url", default="d"), env={}, args=[VarArg("file", "v.yaml")])
    (d,) = diags
    assert (d.severity, d.summary, d.detail) == (
        "warning",
        'Value for undeclared variable "coder_ulr"',
        'Did you mean "coder_url"?',
    )
    assert str(d.span) == "v.yaml:1:1"


def test_undeclared_on_the_command_line_is_an_error(cwd: Path) -> None:
    _, diags = values(decl("coder_url", default="d"), env={}, args=[VarArg("var", "coder=1")])
    (d,) = diags
    assert (d.severity, d.summary) == ("error", 'Value for undeclared variable "coder"')


def test_env_for_undeclared_variable_is_ignored(cwd: Path) -> None:
    assert values(decl(default="d"), env={"PROVISION_VAR_other": "1"}) == ({"x": "d"}, [])


@pytest.mark.parametrize("arg", ["x", "=1", " =1"])
def test_malformed_var_option(cwd: Path, arg: str) -> None:
    _, diags = values(decl(default="d"), env={}, args=[VarArg("var", arg)])
    assert diags[0].summary.startswith("Invalid -var option")
    assert diags[0].detail == "Write -var 'NAME=VALUE'."


def test_var_file_problems(cwd: Path) -> None:
    write(cwd / "list.yaml", "- x\n")
    write(cwd / "broken.yaml", "x: [\n")
    _, diags = values(
        decl(default="d"),
        env={},
        args=[
            VarArg("file", "list.yaml"),
            VarArg("file", "broken.yaml"),
            VarArg("file", "nope.yaml"),
        ],
    )
    assert [x.summary for x in diags] == [
        "A variables file must be a mapping of variable names to values",
        "Invalid YAML: did not find expected node content",
        "Cannot read nope.yaml: No such file or directory",
    ]


def test_missing_required_names_the_declaration(cwd: Path) -> None:
    spec = write(
        cwd / "spec.yaml",
        """\
        version: 1
        variables:
          region: {type: string}
          zone: {type: string, default: a}
        """,
    )
    with pytest.raises(DiagnosticsError) as info:
        load_spec(spec, env={})
    (d,) = info.value.diagnostics
    assert d.summary == 'No value for required variable "region"'
    assert str(d.span) == "spec.yaml:3:3"
    assert "PROVISION_VAR_region" in d.detail and "-var 'region=…'" in d.detail


# -- sensitivity -----------------------------------------------------------------------------


def test_sensitive_values_become_secrets(cwd: Path) -> None:
    decls = {
        "token": VariableDecl(name="token", sensitive=True),
        "keys": VariableDecl(name="keys", type="list", sensitive=True),
        "n": VariableDecl(name="n", type="number", sensitive=True),
    }
    got, diags = values(
        decls,
        env={
            "PROVISION_VAR_token": "tok-abcdef",
            "PROVISION_VAR_keys": '["k-1111", "k-2222"]',
            "PROVISION_VAR_n": "12345",
        },
    )
    assert diags == []
    assert isinstance(got["token"], Secret) and got["token"].reveal() == "tok-abcdef"
    assert [k.reveal() for k in got["keys"]] == ["k-1111", "k-2222"]
    assert got["n"] == 12345


def test_a_bad_sensitive_value_is_not_shown(cwd: Path) -> None:
    decls = decl(type_="number", sensitive=True)
    _, diags = values(decls, env={"PROVISION_VAR_x": "hunter2-secret"})
    assert "hunter2" not in diags[0].detail
    assert "(sensitive value)" in diags[0].detail


# -- through load_spec and the CLI -----------------------------------------------------------

SPEC = """\
    version: 1
    variables:
      wf: {type: string, default: from-default}
    deployments:
      dev:
        providers:
          openai:
            wire_format: ${var.wf}
    """


def winner(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """Which value reached wire_format: the error message quotes the invalid enum value."""
    code = main(["validate", "-json", "-f", "spec", *args])
    report = json.loads(capsys.readouterr().out)
    if code == 0:
        return "responses"
    (d,) = report["diagnostics"]
    return d["summary"].split('"')[1]


@pytest.fixture
def cli_spec(cwd: Path) -> Path:
    write(cwd / "spec" / "main.yaml", SPEC)
    write(cwd / "a.yaml", "wf: from-a\n")
    write(cwd / "b.json5", "{wf: 'from-b'}\n")
    return cwd


def test_cli_precedence(
    cli_spec: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert winner(capsys) == "from-default"
    monkeypatch.setenv("PROVISION_VAR_wf", "from-env")
    assert winner(capsys) == "from-env"
    write(cli_spec / "spec" / "10.auto.vars.yaml", "wf: from-auto-10\n")
    write(cli_spec / "spec" / "20.auto.vars.yaml", "wf: from-auto-20\n")
    assert winner(capsys) == "from-auto-20"
    assert (
        winner(capsys, "-var-file", "a.yaml", "-var", "wf=from-cli", "-var-file", "b.json5")
        == "from-b"
    )
    assert (
        winner(capsys, "-var-file", "a.yaml", "-var-file", "b.json5", "-var", "wf=from-cli")
        == "from-cli"
    )
    assert winner(capsys, "-var=wf=from-cli", "-var-file=a.yaml") == "from-a"
    assert winner(capsys, "--var-file", "b.json5", "--var", "wf=responses") == "responses"
    assert winner(capsys, "-var", "wf=responses", "-var-file", "b.json5") == "from-b"


def test_cli_var_file_paths_are_relative_to_the_working_directory(
    cli_spec: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(cli_spec / "spec" / "x.vars.yaml", "wf: from-spec-root\n")
    write(cli_spec / "x.vars.yaml", "wf: from-cwd\n")
    assert winner(capsys, "-var-file", "x.vars.yaml") == "from-cwd"


def test_load_spec_precedence_end_to_end(cli_spec: Path) -> None:
    def wire(*args: VarArg, env: dict[str, str] | None = None) -> str:
        try:
            load_spec("spec", env=env or {}, var_args=args)
        except DiagnosticsError as exc:
            return exc.diagnostics[0].summary.split('"')[1]
        return "responses"

    assert wire() == "from-default"
    assert wire(env={"PROVISION_VAR_wf": "from-env"}) == "from-env"
    assert wire(VarArg("var", "wf=x1"), VarArg("file", "a.yaml")) == "from-a"
    assert wire(VarArg("file", "a.yaml"), VarArg("var", "wf=x1")) == "x1"
