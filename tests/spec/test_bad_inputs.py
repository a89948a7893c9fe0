"""The golden table of bad inputs: one small spec (file, directory or module tree) per row under
tests/spec/bad/<case>/, each with the exact diagnostics `provision validate` must report.

Every row is checked twice: in process through `provision.cli.main` with `-json` (exact
severity, file, line, column and summary of every diagnostic), and as a real
`python -m provision validate -f <case>` subprocess (exit code, `file:line:col: error: summary`
lines, no traceback). The subprocesses run concurrently once per module to keep the suite fast.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from provision.cli import main

ROOT = Path(__file__).resolve().parents[2]
BAD = ROOT / "tests" / "spec" / "bad"
UNSET_ENV = "PROVISION_TEST_UNSET"

E, W = "error", "warning"


@dataclass(frozen=True)
class Diag:
    severity: str
    file: str | None  # relative to the case directory; None for a command-line problem
    line: int
    column: int
    summary: str
    detail: str = ""  # a substring the detail must contain


@dataclass(frozen=True)
class Case:
    name: str
    diags: tuple[Diag, ...]
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    bug: str = ""  # non-empty: the product is wrong; the row asserts the right behaviour

    @property
    def exit_code(self) -> int:
        return 1 if any(d.severity == E for d in self.diags) else 0


def d(
    severity: str, file: str | None, line: int, column: int, summary: str, detail: str = ""
) -> Diag:
    return Diag(severity, file, line, column, summary, detail)


P = "deployments.dev.providers"
S, J = "spec.yaml", "spec.json5"

CASES = [
    Case(
        "yaml_syntax_flow",
        (
            d(
                E,
                S,
                5,
                8,
                "Invalid YAML: did not find expected ',' or ']'",
                "while parsing a flow sequence at tests/spec/bad/yaml_syntax_flow/spec.yaml:4:16",
            ),
        ),
    ),
    Case(
        "yaml_syntax_colon",
        (d(E, S, 4, 23, "Invalid YAML: mapping values are not allowed in this context"),),
    ),
    Case("json5_syntax", (d(E, J, 3, 3, 'Invalid JSON5: unexpected character "d"'),)),
    Case(
        "yaml_duplicate_key",
        (
            d(
                E,
                S,
                7,
                9,
                'Duplicate key "base_url"',
                "first defined at tests/spec/bad/yaml_duplicate_key/spec.yaml:6:9",
            ),
        ),
    ),
    Case(
        "json5_duplicate_key",
        (
            d(
                E,
                J,
                5,
                5,
                'Duplicate key "dev"',
                "first defined at tests/spec/bad/json5_duplicate_key/spec.json5:4:5",
            ),
        ),
    ),
    Case(
        "unknown_key",
        (d(E, S, 6, 9, f'Unknown key "base_ulr" in {P}.openai', 'Did you mean "base_url"?'),),
    ),
    Case(
        "json5_unknown_key",
        (d(E, J, 7, 16, f'Unknown key "modles" in {P}.groq', 'Did you mean "models"?'),),
    ),
    Case(
        "wrong_type",
        (d(E, S, 6, 18, f"Expected true or false for {P}.openai.enabled, got a string"),),
    ),
    Case(
        "bad_enum",
        (
            d(
                E,
                S,
                6,
                22,
                f'Invalid value "response" for {P}.openai.wire_format',
                'Expected one of: "responses", "chat_completions".\nDid you mean "responses"?',
            ),
        ),
    ),
    Case(
        "version_missing",
        (d(E, S, 1, 1, 'Missing required key "version"', "Every spec starts with `version: 1`."),),
    ),
    Case("version_2", (d(E, S, 1, 10, "Invalid value 2 for version", "Expected 1."),)),
    Case(
        "id_uppercase",
        (
            d(
                E,
                S,
                5,
                7,
                'Invalid provider ID "MyProxy"',
                "must start with a lowercase letter or digit",
            ),
        ),
    ),
    Case(
        "id_dot",
        (
            d(
                E,
                S,
                5,
                7,
                'Invalid provider ID "my.proxy"',
                'must not contain ".", ":", "/", or whitespace',
            ),
        ),
    ),
    Case(
        "id_reserved",
        (
            d(
                E,
                S,
                5,
                7,
                'Invalid provider ID "constructor"',
                'Custom provider id "constructor" is reserved.',
            ),
        ),
    ),
    Case(
        "unknown_catalog", (d(E, S, 6, 18, 'Unknown provider "opnai"', 'Did you mean "openai"?'),)
    ),
    Case(
        "option_not_applicable",
        (
            d(
                E,
                S,
                6,
                9,
                '"cache_ttl" does not apply to provider "openai" (openai)',
                "It applies to: anthropic.",
            ),
        ),
    ),
    Case(
        "azure_option_elsewhere",
        (
            d(
                E,
                S,
                6,
                9,
                '"azure_deployment" does not apply to provider "openai" (openai)',
                "It applies to: azure-openai.",
            ),
        ),
    ),
    Case(
        "option_value_for_provider",
        (
            d(
                E,
                S,
                7,
                23,
                f'Invalid value "flex" for {P}.xai.service_tier',
                'xAI accepts one of: "default", "priority".',
            ),
        ),
    ),
    Case(
        "temperature_range",
        (
            d(
                E,
                S,
                8,
                26,
                f"Invalid value 3 for {P}.openai.model_parameters.gpt-5.temperature: "
                "must be at most 2",
            ),
        ),
    ),
    Case(
        "top_p_range",
        (
            d(
                E,
                S,
                7,
                24,
                f"Invalid value 1.5 for {P}.openai.model_parameters.*.top_p: must be at most 1",
            ),
        ),
    ),
    Case(
        "max_output_tokens_zero",
        (
            d(
                E,
                J,
                7,
                55,
                f"Invalid value 0 for {P}.anthropic.model_parameters.*.max_output_tokens:"
                " must be at least 1",
            ),
        ),
    ),
    Case(
        "model_extra_key",
        (
            d(
                E,
                S,
                9,
                13,
                f'Unknown key "context_window" in {P}.openai.models[1]',
                'Did you mean "context_window_tokens"?',
            ),
        ),
    ),
    Case(
        "model_empty_id",
        (d(E, S, 7, 17, f'Invalid value "" for {P}.openai.models[0].id: must not be empty'),),
    ),
    Case(
        "invalid_url",
        (
            d(
                E,
                S,
                6,
                19,
                'Invalid URL "ftp://gpu.example.com/v1" for providers.vllm.base_url',
                "Expected an http:// or https:// URL with a host.",
            ),
        ),
    ),
    Case(
        "invalid_url_bracket",
        (d(E, S, 6, 19, 'Invalid URL "http://l[ocalhost:8000/v1" for providers.vllm.base_url',
           "Invalid IPv6 URL."),),
    ),
    Case(
        "invalid_url_port",
        (d(E, S, 6, 19,
           'Invalid URL "http://gpu.example.com:99999/v1" for providers.vllm.base_url',
           "Port out of range 0-65535."),),
    ),
    Case(
        "aibridge_without_coder",
        (d(E, S, 6, 14, "via: aibridge needs the deployment's Coder URL and token"),),
    ),
    Case("aibridge_with_base_url", (d(E, S, 10, 9, '"base_url" conflicts with via: aibridge'),)),
    Case(
        "target_unknown_deployment",
        (d(E, S, 9, 17, 'Target "mux" names unknown deployment "deV"', 'Did you mean "dev"?'),),
    ),
    Case(
        "target_unknown_provider",
        (
            d(
                E,
                S,
                10,
                25,
                'Target "env" names unknown provider "anthropic"',
                'Deployment "dev" has: openai',
            ),
        ),
    ),
    Case(
        "targets_same_path",
        (
            d(
                E,
                S,
                15,
                11,
                'Targets "shell" and "dotenv" both write '
                "{root}/tests/spec/bad/targets_same_path/out/ai.env",
                '"shell" is defined at tests/spec/bad/targets_same_path/spec.yaml:7:3',
            ),
        ),
    ),
    Case(
        "targets_same_path_spelled",
        (
            d(
                E,
                S,
                15,
                11,
                'Targets "shell" and "dotenv" both write '
                "{root}/tests/spec/bad/targets_same_path_spelled/out/ai.env",
                '"shell" is defined at tests/spec/bad/targets_same_path_spelled/spec.yaml:7:3',
            ),
        ),
    ),
    Case(
        "targets_key_file_collision",
        (
            d(
                E,
                S,
                16,
                11,
                'Targets "mux" and "env" both write '
                "{root}/tests/spec/bad/targets_key_file_collision/out/keys/groq.key",
                '"mux" writes it as the key file of provider "groq", "env" as its file.\n'
                '"mux" is defined at tests/spec/bad/targets_key_file_collision/spec.yaml:8:3',
            ),
        ),
    ),
    Case(
        "targets_declarations_collision",
        (
            d(
                E,
                S,
                16,
                11,
                'Targets "tf" and "env" both write '
                "{root}/tests/spec/bad/targets_declarations_collision/out/agent.declarations.tf",
                '"tf" writes it as its declarations file, "env" as its file.',
            ),
        ),
    ),
    Case(
        "target_file_where_directory_needed",
        (
            d(
                E,
                S,
                16,
                11,
                'Target "env" writes {root}/tests/spec/bad/target_file_where_directory_needed/'
                'out/keys, a directory target "mux" needs',
                '"mux" writes {root}/tests/spec/bad/target_file_where_directory_needed/out/keys/'
                'groq.key as the key file of provider "groq"',
            ),
        ),
    ),
    Case(
        "target_writes_state_file",
        (
            d(
                E,
                S,
                10,
                11,
                'Target "env" would write {root}/tests/spec/bad/target_writes_state_file/'
                ".provision/state.json, provision's state file",
                "Give the target another path.",
            ),
        ),
    ),
    Case(
        "template_without_path", (d(E, S, 8, 5, 'Missing required key "path" in targets.readme'),)
    ),
    Case(
        "target_without_path",
        (
            d(
                E,
                S,
                7,
                3,
                'Target "tf" needs a path',
                "Only mux_providers has a default path (coder_agent_env does not).",
            ),
        ),
    ),
    Case(
        "undeclared_variable",
        (
            d(
                E,
                S,
                8,
                12,
                'Reference to undeclared variable "coder_ulr"',
                'Did you mean "coder_url"?',
            ),
        ),
    ),
    Case(
        "required_variable",
        (d(E, S, 3, 3, 'No value for required variable "x"', "PROVISION_VAR_x"),),
    ),
    Case(
        "env_unset_two_places",
        (
            d(
                E,
                S,
                6,
                14,
                f'Environment variable "{UNSET_ENV}" is not set',
                "Used at:\ntests/spec/bad/env_unset_two_places/spec.yaml:6:14\n"
                "tests/spec/bad/env_unset_two_places/spec.yaml:10:20\n",
            ),
        ),
    ),
    Case(
        "unsupported_expression",
        (
            d(
                E,
                S,
                6,
                23,
                'Unsupported expression "${foo()}": only ${var.NAME}, ${env.NAME} and '
                "${env.NAME:-default} are allowed (write $${ for a literal ${)",
            ),
        ),
    ),
    Case("unterminated_interpolation", (d(E, S, 8, 23, 'Unterminated "${" in "${var.name)"'),)),
    Case(
        "duplicate_deployment",
        (
            d(
                E,
                "20-more.yaml",
                6,
                3,
                'Deployment "dev" is defined twice',
                "first defined at tests/spec/bad/duplicate_deployment/10-dev.yaml:3:3",
            ),
        ),
    ),
    Case("module_not_found", (d(E, S, 5, 17, 'Module "./modules/nope" not found'),)),
    Case(
        "module_unknown_input",
        (
            d(
                E,
                S,
                10,
                11,
                'Unknown input "openai_modles" for module "coder-aibridge"',
                'Did you mean "openai_models"?',
            ),
        ),
    ),
    Case(
        "module_missing_input",
        (d(E, S, 5, 9, 'Missing input "url" for module "gateway"', "The gateway's base URL."),),
    ),
    Case(
        "module_cycle",
        (
            d(
                E,
                "modules/b/module.yaml",
                3,
                13,
                'Module cycle through "../a"',
                "tests/spec/bad/module_cycle/modules/a -> tests/spec/bad/module_cycle/modules/b -> "
                "tests/spec/bad/module_cycle/modules/a",
            ),
        ),
    ),
    Case(
        "module_bad_body",
        (
            d(
                E,
                "lib/proxy/module.yaml",
                5,
                5,
                'Unknown key "base_ulr" in providers.proxy',
                'Did you mean "base_url"?',
            ),
        ),
    ),
    Case(
        "bad_var_number",
        (
            d(
                E,
                None,
                0,
                0,
                'Invalid value for variable "max_tokens"',
                "-var max_tokens: expected a number; got 'lots'.",
            ),
        ),
        args=("-var", "max_tokens=lots"),
    ),
    Case(
        "bad_env_var_bool",
        (
            d(
                E,
                S,
                3,
                3,
                'Invalid value for variable "bridged"',
                "env PROVISION_VAR_bridged: expected true or false; got 'yes'.",
            ),
        ),
        env={"PROVISION_VAR_bridged": "yes"},
    ),
    Case(
        "secret_two_keys",
        (
            d(
                E,
                S,
                6,
                18,
                f"A secret source takes exactly one of env, file, env_list at {P}.openai.api_key",
            ),
        ),
    ),
    Case(
        "misplaced_secret",
        (
            d(
                E,
                S,
                12,
                23,
                f"Sensitive value used in {P}.openai.display_name",
                "Secrets go only in api_key, token",
            ),
        ),
    ),
    Case(
        "four_errors",
        (
            d(E, S, 4, 5, 'Unknown key "descripton" in deployments.dev'),
            d(E, S, 7, 18, f"Expected true or false for {P}.openai.enabled, got 1"),
            d(E, S, 8, 23, f'Invalid value "fast" for {P}.openai.service_tier'),
            d(E, S, 9, 17, f"Expected a list for {P}.openai.models, got a string"),
        ),
    ),
    Case("warn_base_url_no_v1", (d(W, S, 6, 19, 'Base URL of "vllm" does not end in /v1'),)),
    Case(
        "warn_http_key",
        (
            d(
                W,
                S,
                6,
                19,
                'The API key of "lmstudio" would be sent over plain http to gpu.example.com',
                "allow_insecure: true",
            ),
        ),
    ),
    Case(
        "warn_anthropic_temperature",
        (
            d(
                W,
                S,
                7,
                42,
                'temperature 0.5 for "claude-opus-4-1" breaks Anthropic extended thinking',
            ),
        ),
    ),
    Case(
        "warn_literal_secret",
        (
            d(
                W,
                S,
                6,
                18,
                f"Secret written literally at {P}.groq.api_key",
                "Use {env: NAME} or {file: PATH}",
            ),
        ),
    ),
]


def params() -> list[object]:
    return [
        pytest.param(
            c,
            id=c.name,
            marks=[pytest.mark.xfail(strict=True, reason=f"BUG: {c.bug}")] if c.bug else [],
        )
        for c in CASES
    ]


def case_path(case: Case) -> str:
    return f"tests/spec/bad/{case.name}"


def filename(case: Case, diag: Diag) -> str | None:
    return f"{case_path(case)}/{diag.file}" if diag.file else None


def summary(diag: Diag) -> str:
    return diag.summary.replace("{root}", str(ROOT))


def head_line(case: Case, diag: Diag) -> str:
    name = filename(case, diag)
    where = f"{name}:{diag.line}:{diag.column}: " if name else ""
    return f"{where}{diag.severity}: {summary(diag)}"


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if k != UNSET_ENV and not k.startswith("PROVISION_VAR_")
    }
    env.pop("NO_COLOR", None)
    return {**env, **extra}


@pytest.fixture
def in_root(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv(UNSET_ENV, raising=False)
    for name in [k for k in os.environ if k.startswith("PROVISION_VAR_")]:
        monkeypatch.delenv(name)
    yield


def test_table_is_big_and_every_fixture_is_used() -> None:
    assert len(CASES) >= 30
    assert len({c.name for c in CASES}) == len(CASES)
    fixtures = {p.name for p in BAD.iterdir() if p.is_dir()}
    assert fixtures == {c.name for c in CASES}


@pytest.mark.parametrize("case", params())
def test_diagnostics_exact(
    case: Case, in_root: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for k, v in case.env.items():
        monkeypatch.setenv(k, v)
    code = main(["validate", "-json", "-f", case_path(case), *case.args])
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    got = [
        (
            x["severity"],
            x.get("range", {}).get("filename"),
            x["range"]["start"]["line"] if "range" in x else 0,
            x["range"]["start"]["column"] if "range" in x else 0,
            x["summary"],
        )
        for x in report["diagnostics"]
    ]
    want = [(w.severity, filename(case, w), w.line, w.column, summary(w)) for w in case.diags]
    assert got == want
    for x, w in zip(report["diagnostics"], case.diags, strict=True):
        assert w.detail.replace("{root}", str(ROOT)) in x["detail"]
    assert code == case.exit_code
    assert report["valid"] is (case.exit_code == 0)
    assert report["error_count"] == sum(w.severity == E for w in case.diags)
    assert report["warning_count"] == sum(w.severity == W for w in case.diags)
    assert captured.err == ""


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_json_shape(
    case: Case, in_root: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for k, v in case.env.items():
        monkeypatch.setenv(k, v)
    main(["validate", "-json", "-f", case_path(case), *case.args])
    report = json.loads(capsys.readouterr().out)
    assert set(report) == {"format_version", "valid", "error_count", "warning_count", "diagnostics"}
    assert report["format_version"] == "1.0"
    assert report["error_count"] + report["warning_count"] == len(report["diagnostics"])
    for x in report["diagnostics"]:
        assert x["severity"] in (E, W)
        assert isinstance(x["summary"], str) and x["summary"]
        assert isinstance(x["detail"], str)
        if "range" not in x:
            continue
        assert set(x) == {"severity", "summary", "detail", "range"}
        r = x["range"]
        assert set(r) == {"filename", "start", "end"}
        assert (ROOT / r["filename"]).is_file()
        start, end = r["start"], r["end"]
        assert set(start) == set(end) == {"line", "column"}
        assert start["line"] >= 1 and start["column"] >= 1
        assert (end["line"], end["column"]) >= (start["line"], start["column"])


def _run(case: Case) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "provision", "validate", "-f", case_path(case), *case.args],
        cwd=ROOT,
        env=clean_env(case.env),
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def cli_runs() -> dict[str, subprocess.CompletedProcess[str]]:
    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip([c.name for c in CASES], pool.map(_run, CASES), strict=True))


@pytest.mark.parametrize("case", params())
def test_cli_subprocess(case: Case, cli_runs: dict[str, subprocess.CompletedProcess[str]]) -> None:
    proc = cli_runs[case.name]
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "unexpected error" not in proc.stderr
    assert "\x1b[" not in proc.stdout + proc.stderr  # not a terminal: no colour
    heads = [line for line in proc.stderr.splitlines() if line and not line.startswith("  ")]
    assert heads == [head_line(case, w) for w in case.diags]
    assert proc.returncode == case.exit_code
    if case.exit_code == 0:
        assert proc.stdout == "Success! The spec is valid.\n"
    else:
        assert proc.stdout == ""


def test_json_subprocess_all_errors_in_one_run() -> None:
    case = next(c for c in CASES if c.name == "four_errors")
    proc = subprocess.run(
        [sys.executable, "-m", "provision", "validate", "-json", "-f", case_path(case)],
        cwd=ROOT,
        env=clean_env({}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert proc.stderr == ""
    report = json.loads(proc.stdout)
    assert report["valid"] is False
    assert report["error_count"] == 4
    assert [x["range"]["start"]["line"] for x in report["diagnostics"]] == [4, 7, 8, 9]
