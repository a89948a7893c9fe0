"""The CLI contract around `validate`, `schema` and `providers`: exit codes (usage errors are 1,
never 2), colour only on a terminal and never with -no-color / NO_COLOR, the JSON Schema is
draft 2020-12 and every example validates against it, and the provider list."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from provision.cli import main
from provision.spec.jsonschema import validate
from provision.spec.loader import is_spec_file, load_file, load_spec, spec_files

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_DIRS = sorted({
    p.parent for p in (ROOT / "examples").rglob("*")
    if is_spec_file(p) and not any(part.startswith(".") for part in p.relative_to(ROOT).parts)
})
BAD = "tests/spec/bad/four_errors"
ENV = {"CODER_SESSION_TOKEN": "tok-cli-1"}


@pytest.fixture(autouse=True)
def _in_root(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("NO_COLOR", raising=False)
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    yield


def subprocess_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    return {**env, **ENV, "PYTHONPATH": str(ROOT), **extra}


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "provision", *args],
        cwd=ROOT,
        env=subprocess_env(**env),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )


def run_tty(*args: str, **env: str) -> tuple[int, str]:
    """Run with stdout and stderr on a pseudo-terminal: what a person at a terminal sees."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "provision", *args],
        cwd=ROOT,
        env=subprocess_env(**env),
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    return proc.wait(timeout=60), b"".join(chunks).decode()


# -- exit codes ------------------------------------------------------------------------------


def test_examples_exist() -> None:
    assert len(EXAMPLE_DIRS) >= 2


@pytest.mark.parametrize("example", EXAMPLE_DIRS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_example_is_valid(example: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "-f", str(example.relative_to(ROOT))]) == 0
    out = capsys.readouterr()
    assert out.out == "Success! The spec is valid.\n"
    assert out.err == ""


def test_invalid_spec_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "-f", BAD]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"{BAD}/spec.yaml:4:5: error: Unknown key")


@pytest.mark.parametrize(
    "args",
    [
        ["validate", "--bogus"],
        ["validate", "-bogus"],
        ["validate", "-f"],
        ["validate", "extra-argument"],
        ["validate", "-json=yes"],
        ["nosuchcommand"],
        ["--bogus"],
        ["schema", "--bogus"],
        ["providers", "extra"],
        ["validate", "-f", "does/not/exist"],
        ["validate", "-f", BAD, "-var", "nope=1"],
        ["validate", "-f", BAD, "-var", "missing-equals"],
        ["validate", "-f", BAD, "-var-file", "does/not/exist.yaml"],
    ],
)
def test_errors_and_usage_errors_exit_1(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    assert "error" in captured.err


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["-help"],
        ["-h"],
        ["validate", "--help"],
        ["--version"],
        ["-version"],
        ["schema"],
        ["providers"],
    ],
)
def test_success_exits_0(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(args) == 0
    assert capsys.readouterr().out


def test_usage_errors_exit_1_as_a_process() -> None:
    for args in (["validate", "--bogus"], ["nosuchcommand"], ["validate", "-f"]):
        proc = run(*args)
        assert proc.returncode == 1, args
        assert proc.stdout == ""
        assert proc.stderr.startswith("error: ")
        assert "Traceback" not in proc.stderr


def test_no_command_prints_usage_not_an_error_wrapped_help(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main([]) == 1
    captured = capsys.readouterr()
    assert "Commands:" in captured.out + captured.err
    assert "error: Usage:" not in captured.err


def test_required_variable_never_prompts(tmp_path: Path) -> None:
    (tmp_path / "spec.yaml").write_text("version: 1\nvariables:\n  x: {type: string}\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "provision", "validate", "-f", str(tmp_path)],
        cwd=ROOT,
        env=subprocess_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _, err = proc.communicate(timeout=60)  # stdin stays open: a prompt would hang here
    assert proc.returncode == 1
    assert 'No value for required variable "x"' in err


# -- colour ----------------------------------------------------------------------------------


def test_colour_on_a_terminal() -> None:
    code, text = run_tty("validate", "-f", BAD)
    assert code == 1
    assert "\x1b[31;1merror:\x1b[0m" in text
    code, text = run_tty("validate", "-f", "examples/laptop-local-models")
    assert code == 0 and "\x1b[" in text


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["-no-color", "validate", "-f", BAD], {}),
        (["--no-color", "validate", "-f", BAD], {}),
        (["validate", "-f", BAD], {"NO_COLOR": "1"}),
        (["-no-color", "validate", "-f", "examples/laptop-local-models"], {}),
        (["validate", "-f", "examples/laptop-local-models"], {"NO_COLOR": "1"}),
    ],
)
def test_no_color(args: list[str], env: dict[str, str]) -> None:
    code, text = run_tty(*args, **env)
    assert code in (0, 1)
    assert "\x1b[" not in text
    assert "error:" in text or "Success!" in text


def test_never_colour_when_not_a_terminal() -> None:
    proc = run("validate", "-f", BAD)
    assert "\x1b[" not in proc.stdout + proc.stderr


def test_no_color_flag_reaches_the_error_handler() -> None:
    code, text = run_tty("-no-color", "plan", "-f", BAD)
    assert code == 1
    assert "error:" in text and "\x1b[" not in text


def test_no_color_after_the_command() -> None:
    code, text = run_tty("validate", "-no-color", "-f", BAD)
    assert code == 1
    assert "Unknown key" in text and "\x1b[" not in text


# -- schema ----------------------------------------------------------------------------------

# Draft 2020-12 keywords (core, applicator, unevaluated, validation, meta-data, format).
DRAFT_2020_12 = frozenset(
    {
        "$schema",
        "$id",
        "$ref",
        "$anchor",
        "$dynamicRef",
        "$dynamicAnchor",
        "$vocabulary",
        "$comment",
        "$defs",
        "prefixItems",
        "items",
        "contains",
        "additionalProperties",
        "properties",
        "patternProperties",
        "dependentSchemas",
        "propertyNames",
        "if",
        "then",
        "else",
        "allOf",
        "anyOf",
        "oneOf",
        "not",
        "unevaluatedItems",
        "unevaluatedProperties",
        "type",
        "const",
        "enum",
        "multipleOf",
        "maximum",
        "exclusiveMaximum",
        "minimum",
        "exclusiveMinimum",
        "maxLength",
        "minLength",
        "pattern",
        "maxItems",
        "minItems",
        "uniqueItems",
        "maxContains",
        "minContains",
        "maxProperties",
        "minProperties",
        "required",
        "dependentRequired",
        "title",
        "description",
        "default",
        "deprecated",
        "readOnly",
        "writeOnly",
        "examples",
        "format",
        "contentEncoding",
        "contentMediaType",
        "contentSchema",
    }
)
_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "dependentSchemas")
_SCHEMA_ONE = (
    "additionalProperties",
    "unevaluatedProperties",
    "propertyNames",
    "items",
    "contains",
    "if",
    "then",
    "else",
    "not",
    "unevaluatedItems",
)
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")


def subschemas(schema: Any, where: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(schema, bool):
        return
    assert isinstance(schema, dict), where
    yield where, schema
    for key in _SCHEMA_MAPS:
        for name, sub in schema.get(key, {}).items():
            yield from subschemas(sub, f"{where}/{key}/{name}")
    for key in _SCHEMA_ONE:
        if key in schema:
            yield from subschemas(schema[key], f"{where}/{key}")
    for key in _SCHEMA_LISTS:
        for i, sub in enumerate(schema.get(key, [])):
            yield from subschemas(sub, f"{where}/{key}/{i}")


def schema_json(*args: str) -> dict[str, Any]:
    proc = run("schema", *args)
    assert proc.returncode == 0 and proc.stderr == ""
    document: dict[str, Any] = json.loads(proc.stdout)
    return document


@pytest.fixture(scope="module")
def spec_schema() -> dict[str, Any]:
    return schema_json()


@pytest.mark.parametrize("args", [(), ("--module",)])
def test_schema_is_draft_2020_12(args: tuple[str, ...]) -> None:
    schema = schema_json(*args)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    for where, node in subschemas(schema):
        unknown = {k for k in node if k not in DRAFT_2020_12 and not k.startswith("x-")}
        assert not unknown, f"{where}: not draft 2020-12: {sorted(unknown)}"
        assert "definitions" not in node and not isinstance(node.get("items"), list)
        if "$ref" in node:
            target: Any = schema
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            assert isinstance(target, dict), where


def test_schema_output_is_what_the_validator_uses(spec_schema: dict[str, Any]) -> None:
    from provision.spec.schema import spec_schema as product_schema

    assert spec_schema == json.loads(json.dumps(product_schema()))


def example_documents() -> list[tuple[str, Path]]:
    out = []
    for directory in EXAMPLE_DIRS:
        for file in spec_files(directory):
            out.append((file.relative_to(ROOT).as_posix(), file))
        out.append((directory.relative_to(ROOT).as_posix() + " (merged)", directory))
    return out


@pytest.mark.parametrize(
    ("name", "path"), example_documents(), ids=[n for n, _ in example_documents()]
)
def test_every_example_validates_against_the_printed_schema(
    spec_schema: dict[str, Any], name: str, path: Path
) -> None:
    doc = load_spec(path) if path.is_dir() else load_file(path)
    assert validate(doc.data, doc.source, spec_schema) == []


def test_builtin_modules_validate_against_the_module_schema() -> None:
    schema = schema_json("--module")
    modules = sorted((ROOT / "modules").glob("*/module.yaml"))
    assert len(modules) >= 2
    for path in modules:
        doc = load_file(path)
        assert validate(doc.data, doc.source, schema) == [], path


def test_the_printed_schema_rejects_the_bad_fixtures(spec_schema: dict[str, Any]) -> None:
    doc = load_spec(ROOT / BAD)
    assert len(validate(doc.data, doc.source, spec_schema)) == 4


# -- providers -------------------------------------------------------------------------------

NAMED_IN_THE_ISSUE = {
    "anthropic",
    "openai",
    "google",
    "xai",
    "deepseek",
    "openrouter",
    "ollama",
    "bedrock",
    "github-copilot",
    "azure-openai",
    "groq",
    "fireworks",
    "mistral",
    "cerebras",
    "together",
    "perplexity",
    "cohere",
    "moonshot",
    "zai",
    "huggingface",
    "vercel-ai-gateway",
    "vllm",
    "lmstudio",
    "llama-cpp",
    "litellm",
}


def test_providers_json() -> None:
    proc = run("providers", "-json")
    assert proc.returncode == 0 and proc.stderr == ""
    document = json.loads(proc.stdout)
    assert document["format_version"] == "1.0"
    providers = document["providers"]
    ids = [p["id"] for p in providers]
    assert len(providers) >= 25
    assert len(set(ids)) == len(ids)
    assert set(ids) >= NAMED_IN_THE_ISSUE
    for p in providers:
        assert {"id", "api", "base_url", "key_env", "mux", "probe"} <= set(p), p["id"]


def test_providers_human_lists_the_same(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["providers"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["ID", "API", "MUX"]
    assert {line.split()[0] for line in lines[1:]} >= NAMED_IN_THE_ISSUE
