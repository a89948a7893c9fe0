"""Commands declared as data run the same whichever parser reads their command line.

`_options.parse` reads the everyday lines of validate and plan without click; click reads the
rest. For every line `parse` accepts, click must accept it too and hand the command the same
values and the same -var/-var-file order; and `parse` must accept the everyday forms, or it would
be a parser that hands everything to click and saves nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provision.cli import env, plan, validate
from provision.cli._common import click_command
from provision.cli._options import FLAG, MULTIPLE, Command, Opt, parse, var_order
from provision.spec.variables import VarArg

ROOT = Path(__file__).resolve().parents[1]
DECLARED = [plan.command, validate.command, env.command]


def read_by_click(command: Command, args: list[str]) -> tuple[dict[str, Any], tuple[VarArg, ...]]:
    """What the command's click face hands its function for args; click.UsageError if refused."""
    seen: list[tuple[dict[str, Any], tuple[VarArg, ...]]] = []

    def capture(_out: object, var_args: tuple[VarArg, ...], **values: Any) -> int:
        seen.append((values, var_args))
        return 0

    face = click_command(Command(name=command.name, help=command.help,
                                 options=command.options, run=capture))
    face.main(args=args, prog_name="provision", standalone_mode=False)
    assert len(seen) == 1
    return seen[0]


# Values that look like options, hold "=", or are empty: the places two parsers part ways.
VALUES = st.one_of(
    st.sampled_from(["x", "a=b", "-json", "--", "-var", "=", "30s", "1m30s", "bad", "./spec",
                     "-f", "--file=y", "é"]),
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"),
            max_size=6),
)


def spellings(opt: Opt, value: str) -> st.SearchStrategy[list[str]]:
    names = st.sampled_from(opt.names)
    if opt.kind == FLAG:
        return st.one_of(names.map(lambda n: [n]), names.map(lambda n: [f"{n}={value}"]))
    return names.flatmap(lambda n: st.sampled_from([[n, value], [f"{n}={value}"], [n]]))


def words(command: Command) -> st.SearchStrategy[list[str]]:
    option = st.tuples(st.sampled_from(command.options), VALUES).flatmap(
        lambda pair: spellings(*pair))
    stray = st.sampled_from([["-h"], ["--help"], ["--"], ["operand"], ["-fspec"], ["-f=spec"],
                             ["-bogus"], ["-no-such"], ["--json=1"]])
    return st.lists(st.one_of(option, option, option, stray), max_size=6).map(
        lambda parts: [w for part in parts for w in part])


@pytest.mark.parametrize("command", DECLARED, ids=lambda c: c.name)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_line_parse_accepts_reads_the_same_under_click(command: Command,
                                                         data: st.DataObject) -> None:
    args = data.draw(words(command))
    fast = parse(args, command.options)
    if fast is None:
        return  # click's to read, or to refuse
    assert read_by_click(command, args) == fast


def everyday(command: Command) -> st.SearchStrategy[list[str]]:
    """Lines of the forms people and CI write: valid values, either spelling, `=` or not."""
    def line(opt: Opt) -> st.SearchStrategy[list[str]]:
        names = st.sampled_from(opt.names)
        if opt.kind == FLAG:
            return names.map(lambda n: [n])
        value = (st.sampled_from(opt.choices) if opt.choices is not None else
                 st.sampled_from(["0", "30s", "2m", "1m30s"]) if opt.check is not None else
                 st.sampled_from(["prod", "name=value", "a=b=c", "./spec", "dir/file.yaml"]))
        two = st.builds(lambda n, v: [n, v], names, value)
        joined = st.builds(lambda n, v: [f"{n}={v}"], names.filter(lambda n: len(n) > 2), value)
        return st.one_of(two, joined)

    required = st.tuples(*(line(o) for o in command.options if o.required))
    rest = st.lists(st.sampled_from(command.options).flatmap(line), max_size=8)
    return st.tuples(required, rest).map(
        lambda parts: [w for part in (*parts[0], *parts[1]) for w in part])


@pytest.mark.parametrize("command", DECLARED, ids=lambda c: c.name)
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_everyday_lines_are_read_without_click(command: Command, data: st.DataObject) -> None:
    args = data.draw(everyday(command))
    fast = parse(args, command.options)
    assert fast is not None, args
    assert read_by_click(command, args) == fast


def test_the_values_parse_hands_over() -> None:
    values, var_args = parse(
        ["-var", "a=1", "--var-file=x.yaml", "-json", "-target", "t1", "--target=t2",
         "-f", "spec", "-out", "p.plan", "-var=b=2", "-state=s.json", "-lock-timeout", "1m"],
        plan.command.options) or ({}, ())
    assert var_args == (VarArg("var", "a=1"), VarArg("file", "x.yaml"), VarArg("var", "b=2"))
    assert values == {
        "as_json": True, "spec_path": Path("spec"), "vars_": ("a=1", "b=2"),
        "var_files": ("x.yaml",), "lock_timeout": "1m", "targets": ("t1", "t2"),
        "state": Path("s.json"), "out_file": Path("p.plan"), "detailed": False, "destroy": False,
    }


@pytest.mark.parametrize("args", [
    ["-h"], ["-help"], ["--help"], ["--"], ["extra"], ["-fspec"], ["-f=spec"], ["-json=true"],
    ["-var"], ["-var="], ["-lock-timeout", "soon"], ["-lock-timeout=1x"], ["-nope"],
], ids=" ".join)
def test_lines_left_to_click(args: list[str]) -> None:
    assert parse(args, plan.command.options) is None


def test_var_order_skips_the_values_of_other_options() -> None:
    """`-state -var` gives -state the value "-var": no variable layer comes of it."""
    takes_value = {"-state", "-var", "-var-file"}.__contains__
    assert var_order(["-state", "-var", "-var", "a=1", "-json", "--", "-var", "b=2"],
                     takes_value) == (VarArg("var", "a=1"),)


@pytest.mark.parametrize("command", DECLARED, ids=lambda c: c.name)
def test_option_kinds_match_their_click_face(command: Command) -> None:
    face = click_command(command)
    by_dest = {p.name: p for p in face.params if isinstance(p, click.Option)}
    assert list(by_dest) == [o.dest for o in command.options]
    for opt in command.options:
        param = by_dest[opt.dest]
        assert tuple(param.opts) == opt.names
        assert param.is_flag == (opt.kind == FLAG)
        assert param.multiple == (opt.kind == MULTIPLE)


CHILD = """\
import contextlib, io, json, sys
from provision.cli import main
out, err = io.StringIO(), io.StringIO()
with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    code = main(sys.argv[1:])
print(json.dumps({"code": code, "click": "click" in sys.modules,
                  "out": out.getvalue(), "err": err.getvalue()}))
"""


def run_main(*args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-c", CHILD, *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})
    result: dict[str, Any] = json.loads(proc.stdout.splitlines()[-1])
    return result


def test_a_missing_required_option_or_a_bad_choice_is_left_to_click() -> None:
    assert parse(["--shell", "bash"], env.command.options) is None
    assert parse(["-d", "prod", "--shell", "tcsh"], env.command.options) is None
    assert parse(["-d", "prod", "--shell", "fish"], env.command.options) == (
        {"deployment": "prod", "shell": "fish", "reveal": False, "spec_path": Path(),
         "vars_": (), "var_files": ()}, ())


def test_everyday_validate_plan_and_env_never_import_click(tmp_path: Path) -> None:
    ok = run_main("validate", "-f", "examples/laptop-local-models")
    assert (ok["code"], ok["click"]) == (0, False) and "The spec is valid" in ok["out"]
    bad = run_main("validate", "-json", "-f", "tests/spec/bad/four_errors")
    assert (bad["code"], bad["click"]) == (1, False)
    assert json.loads(bad["out"])["error_count"] == 4
    planned = run_main("plan", "-f", "examples/gitops-aibridge/spec", "-no-color",
                       "-var", "prod_coder_url=https://coder.example.com",
                       "-var", "staging_coder_url=https://coder-staging.example.com",
                       "-var", f"out_dir={tmp_path}", "-state", str(tmp_path / "state.json"),
                       "-detailed-exitcode", env={"CODER_SESSION_TOKEN": "tok-options-1"})
    assert (planned["code"], planned["click"]) == (2, False)
    assert "will be created" in planned["out"] and "tok-options-1" not in planned["out"]
    exported = run_main("env", "-d", "prod", "--shell", "bash",
                        "-f", "examples/gitops-aibridge/spec",
                        "-var", "prod_coder_url=https://coder.example.com",
                        "-var", "staging_coder_url=https://coder-staging.example.com",
                        "-var", f"out_dir={tmp_path}", env={"CODER_SESSION_TOKEN": "tok-options-1"})
    assert (exported["code"], exported["click"]) == (0, False)
    assert 'export OPENAI_API_KEY="${CODER_SESSION_TOKEN}"' in exported["out"]


def test_help_and_usage_errors_still_come_from_click() -> None:
    helped = run_main("plan", "-help")
    assert (helped["code"], helped["click"]) == (0, True)
    assert helped["out"].startswith("Usage: provision plan [OPTIONS]")
    refused = run_main("plan", "-lock-timeout", "soon")
    assert (refused["code"], refused["click"]) == (1, True)
    assert refused["err"].splitlines() == [
        "error: Invalid value for -lock-timeout: invalid duration 'soon': expected a number "
        "with a unit (ms, s, m, h), e.g. 30s, 5m or 1m30s",
        "Run 'provision plan --help' for usage.",
    ]


def without_root_reads() -> list[str]:
    """A command prefix under which the file modes bind: root drops its read override."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: file modes do not bind")
    return [setpriv, "--bounding-set", "-dac_override,-dac_read_search", "--inh-caps=-all"]


def test_a_path_that_exists_but_cannot_be_read_is_left_to_click(tmp_path: Path) -> None:
    """click.Path refuses it as a usage error; parse must not accept what click refuses."""
    closed = tmp_path / "closed"
    closed.mkdir(mode=0o311)
    write_only = tmp_path / "write-only.plan"
    write_only.write_bytes(b"kept")
    write_only.chmod(0o200)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CODER_SESSION_TOKEN": "tok-options-2",
           "TMPDIR": str(tmp_path)}
    lines = {
        "validate": ["validate", "-f", str(closed)],
        "env": ["env", "-d", "prod", "-f", str(closed)],
        "plan -out": ["plan", "-f", "examples/gitops-aibridge/spec", "-out", str(write_only),
                      "-var", "prod_coder_url=https://coder.example.com",
                      "-var", "staging_coder_url=https://coder-staging.example.com",
                      "-var", f"out_dir={tmp_path / 'out'}",
                      "-state", str(tmp_path / "state.json")],
    }
    for name, args in lines.items():
        proc = subprocess.run([*without_root_reads(), sys.executable, "-m", "provision", *args],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 1, (name, proc.stderr)
        assert "is not readable" in proc.stderr and "unexpected error" not in proc.stderr, name
    write_only.chmod(0o600)
    assert write_only.read_bytes() == b"kept"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("provision-crash-")]


def test_ctrl_c_reads_the_same_whichever_parser_ran(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from provision import api
    from provision.cli import main

    def interrupted(*_args: object, **_kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(api, "load_spec", interrupted)
    seen = []
    for args in (["validate", "-f", "spec"], ["validate", "-fspec"]):  # parse, then click
        assert (parse(args[1:], validate.command.options) is None) == (args[1] == "-fspec")
        assert main(args) == 130
        seen.append(capsys.readouterr())
    assert seen[0] == seen[1]
    assert seen[0].err == "\nInterrupted.\n" and seen[0].out == ""
