"""provision.spec.modules: typed inputs and defaults, nested use, relative paths, lookup, the
built-in modules, and the errors (missing/unknown inputs, cycles) with their locations."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from provision.api import load_spec
from provision.errors import Diagnostic, DiagnosticsError
from provision.model import Spec
from provision.spec.modules import MODULE_FILE, builtin_modules_dir, find_module

ROOT = Path(__file__).resolve().parents[2]
CODER = "https://coder.example.com"
ENV = {"CODER_SESSION_TOKEN": "tok-123456"}


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture
def cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def spec_with(cwd: Path, use: str, providers: str = "", coder: bool = True) -> Spec:
    coder_block = (
        f"    coder: {{url: {CODER}, token: {{env: CODER_SESSION_TOKEN}}}}\n" if coder else ""
    )
    text = (
        "version: 1\ndeployments:\n  dev:\n"
        + coder_block
        + "    use:\n"
        + textwrap.indent(textwrap.dedent(use), "      ")
    )
    if providers:
        text += "    providers:\n" + textwrap.indent(textwrap.dedent(providers), "      ")
    (cwd / "spec.yaml").write_text(text)
    return load_spec(cwd / "spec.yaml", env=ENV).spec


def line_of(module: str, text: str) -> int:
    """The 1-based line of a built-in module's providers section that reads exactly text."""
    lines = (builtin_modules_dir() / module / MODULE_FILE).read_text().splitlines()
    return lines.index(text, lines.index("providers:")) + 1


def diags(cwd: Path, use: str) -> list[Diagnostic]:
    with pytest.raises(DiagnosticsError) as info:
        spec_with(cwd, use)
    return list(info.value.diagnostics)


# -- built-in modules ------------------------------------------------------------------------


def test_builtin_modules_ship_with_the_package() -> None:
    assert builtin_modules_dir() == ROOT / "modules"
    for name in ("coder-aibridge", "local-inference"):
        assert (builtin_modules_dir() / name / MODULE_FILE).is_file()


def test_coder_aibridge_defaults(cwd: Path) -> None:
    spec = spec_with(cwd, "- module: coder-aibridge\n")
    providers = spec.deployments["dev"].providers
    assert list(providers) == ["openai", "anthropic"]
    openai, anthropic = providers["openai"], providers["anthropic"]
    assert openai.base_url == f"{CODER}/api/v2/aibridge/openai/v1"
    assert anthropic.base_url == f"{CODER}/api/v2/aibridge/anthropic"
    assert (openai.bridge.kind, openai.bridge.instance) == ("openai", "openai")
    assert (anthropic.bridge.kind, anthropic.bridge.instance) == ("anthropic", "anthropic")
    token = spec.deployments["dev"].coder.token
    assert openai.api_key == token and anthropic.api_key == token
    assert openai.enabled and anthropic.enabled
    assert openai.models == () and anthropic.models == ()
    module = builtin_modules_dir() / "coder-aibridge" / MODULE_FILE
    assert str(openai.span) == f"{module}:{line_of('coder-aibridge', '  openai:')}:3"


def test_coder_aibridge_inputs(cwd: Path) -> None:
    spec = spec_with(
        cwd,
        """\
        - module: coder-aibridge
          with:
            openai: false
            openai_instance: team-openai
            anthropic_instance: claude-eu
            anthropic_models: [claude-sonnet-4-5, claude-opus-4-1]
        """,
    )
    providers = spec.deployments["dev"].providers
    assert providers["openai"].enabled is False
    assert providers["openai"].base_url == f"{CODER}/api/v2/aibridge/team-openai/v1"
    assert providers["anthropic"].base_url == f"{CODER}/api/v2/aibridge/claude-eu"
    assert providers["anthropic"].bridge.instance == "claude-eu"
    assert [m.id for m in providers["anthropic"].models] == ["claude-sonnet-4-5", "claude-opus-4-1"]


def test_coder_aibridge_needs_the_coder_block(cwd: Path) -> None:
    (cwd / "spec.yaml").write_text(
        "version: 1\ndeployments:\n  dev:\n    use:\n      - module: coder-aibridge\n"
    )
    with pytest.raises(DiagnosticsError) as info:
        load_spec(cwd / "spec.yaml", env={})
    got = [(d.summary, d.span.line, d.span.column) for d in info.value.diagnostics]
    via = [
        i + 1
        for i, line in enumerate(
            (builtin_modules_dir() / "coder-aibridge" / MODULE_FILE).read_text().splitlines()
        )
        if line == "    via: aibridge"
    ]
    assert got == [("via: aibridge needs the deployment's Coder URL and token", n, 10) for n in via]


def test_local_inference_default_ports(cwd: Path) -> None:
    spec = spec_with(cwd, "- module: local-inference\n", coder=False)
    providers = spec.deployments["dev"].providers
    assert {p.id: p.base_url for p in providers.values()} == {
        "ollama": "http://localhost:11434",
        "vllm": "http://localhost:8000/v1",
        "lmstudio": "http://localhost:1234/v1",
        "llama-cpp": "http://localhost:8080/v1",
    }
    assert {p.catalog.id for p in providers.values()} == {"ollama", "vllm", "lmstudio", "llama-cpp"}
    assert all(p.api_key is None and p.bridge is None for p in providers.values())
    assert all(p.probe.required is False for p in providers.values())


def test_local_inference_inputs(cwd: Path) -> None:
    spec = spec_with(
        cwd,
        """\
        - module: local-inference
          with:
            host: 127.0.0.1
            require_probes: true
            ollama_models: [qwen3-coder:30b]
        """,
        coder=False,
    )
    providers = spec.deployments["dev"].providers
    assert providers["vllm"].base_url == "http://127.0.0.1:8000/v1"
    assert [m.id for m in providers["ollama"].models] == ["qwen3-coder:30b"]
    assert all(p.probe.required is True for p in providers.values())


def test_builtin_modules_together_with_spec_providers(cwd: Path) -> None:
    spec = spec_with(cwd, "- module: local-inference\n", providers="groq: {}\n")
    assert list(spec.deployments["dev"].providers) == [
        "groq",
        "ollama",
        "vllm",
        "lmstudio",
        "llama-cpp",
    ]


def test_a_provider_from_a_module_and_the_spec_is_defined_twice(cwd: Path) -> None:
    with pytest.raises(DiagnosticsError) as info:
        spec_with(cwd, "- module: local-inference\n", providers="vllm: {}\n")
    (d,) = info.value.diagnostics
    assert (
        d.summary == 'Provider "vllm" is defined twice in deployment "dev" (from module '
        '"local-inference")'
    )
    assert d.detail == "first defined at spec.yaml:8:7"
    assert d.span.line == line_of("local-inference", "  vllm:")


# -- user modules ----------------------------------------------------------------------------

OUTER = """\
    version: 1
    inputs:
      prefix: {type: string, default: team}
      models: {type: list}
    providers:
      outer-llm:
        catalog: openai-compatible
        base_url: https://${var.prefix}.example.com/v1
        models: ${var.models}
    targets:
      env:
        type: shell_exports
        path: out/${var.prefix}.sh
    use:
      - module: inner
        with: {port: 9000, name: "${var.prefix}-inner"}
    """
INNER = """\
    version: 1
    inputs:
      port: {type: number}
      name: {type: string}
    providers:
      inner:
        catalog: vllm
        display_name: ${var.name}
        base_url: http://localhost:${var.port}/v1
    """


def test_inputs_defaults_nesting_and_targets(cwd: Path) -> None:
    write(cwd / "modules" / "outer" / MODULE_FILE, OUTER)
    write(cwd / "modules" / "inner" / MODULE_FILE, INNER)
    spec = spec_with(cwd, "- module: outer\n  with: {models: [m1]}\n", coder=False)
    providers = spec.deployments["dev"].providers
    assert list(providers) == ["outer-llm", "inner"]
    assert providers["outer-llm"].base_url == "https://team.example.com/v1"
    assert [m.id for m in providers["outer-llm"].models] == ["m1"]
    assert providers["inner"].base_url == "http://localhost:9000/v1"
    assert providers["inner"].display_name == "team-inner"
    assert str(providers["inner"].span) == "modules/inner/module.yaml:6:3"
    (target,) = spec.targets.values()
    assert (target.name, target.deployment, target.type) == ("dev-env", "dev", "shell_exports")
    assert target.path == cwd.resolve() / "out" / "team.sh"
    assert str(target.span) == "modules/outer/module.yaml:11:3"


def test_inputs_override_defaults_and_take_spec_variables(cwd: Path) -> None:
    write(cwd / "modules" / "outer" / MODULE_FILE, OUTER)
    write(cwd / "modules" / "inner" / MODULE_FILE, INNER)
    (cwd / "spec.yaml").write_text(
        textwrap.dedent("""\
        version: 1
        variables:
          org: {default: acme}
        deployments:
          dev:
            use:
              - module: outer
                with: {models: [a, b], prefix: "${var.org}"}
        """)
    )
    spec = load_spec(cwd / "spec.yaml", env={}).spec
    providers = spec.deployments["dev"].providers
    assert providers["outer-llm"].base_url == "https://acme.example.com/v1"
    assert providers["inner"].display_name == "acme-inner"


def test_relative_path_modules(cwd: Path) -> None:
    write(
        cwd / "lib" / "groq" / MODULE_FILE,
        """\
        version: 1
        inputs:
          enable: {type: bool, default: true}
        providers:
          groq: {enabled: "${var.enable}"}
        use:
          - module: ../mistral/module.yaml
        """,
    )
    write(cwd / "lib" / "mistral" / MODULE_FILE, "version: 1\nproviders:\n  mistral: {}\n")
    write(
        cwd / "sub" / "spec.yaml",
        """\
        version: 1
        deployments:
          dev:
            use:
              - module: ../lib/groq
                with: {enable: false}
        """,
    )
    spec = load_spec(cwd / "sub" / "spec.yaml", env={}).spec
    providers = spec.deployments["dev"].providers
    assert list(providers) == ["groq", "mistral"]
    assert providers["groq"].enabled is False


def test_lookup_walks_up_from_the_spec_root_before_builtins(cwd: Path) -> None:
    write(cwd / "modules" / "coder-aibridge" / MODULE_FILE, "version: 1\nproviders:\n  groq: {}\n")
    (cwd / "a" / "b").mkdir(parents=True)
    found = find_module("coder-aibridge", cwd / "a" / "b", cwd / "a" / "b" / "spec.yaml")
    assert found == cwd / "modules" / "coder-aibridge" / MODULE_FILE
    assert find_module("local-inference", cwd / "a", cwd / "a" / "s.yaml") == (
        builtin_modules_dir() / "local-inference" / MODULE_FILE
    )
    assert find_module("nope", cwd, cwd / "s.yaml") is None
    assert find_module("./nope", cwd, cwd / "s.yaml") is None


def test_module_inputs_are_the_only_variables_inside(cwd: Path) -> None:
    write(
        cwd / "modules" / "m" / MODULE_FILE,
        """\
        version: 1
        providers:
          groq: {display_name: "${var.org}"}
        """,
    )
    (cwd / "spec.yaml").write_text(
        "version: 1\nvariables:\n  org: {default: acme}\n"
        "deployments:\n  dev:\n    use:\n      - module: m\n"
    )
    with pytest.raises(DiagnosticsError) as info:
        load_spec(cwd / "spec.yaml", env={})
    got = [(d.summary, str(d.span)) for d in info.value.diagnostics]
    assert ('Reference to undeclared input "org"', "modules/m/module.yaml:3:24") in got


def test_a_failed_reference_in_a_module_is_reported_once(cwd: Path) -> None:
    write(
        cwd / "modules" / "m" / MODULE_FILE,
        """\
        version: 1
        providers:
          groq: {display_name: "${var.org}"}
        """,
    )
    (cwd / "spec.yaml").write_text(
        "version: 1\ndeployments:\n  dev:\n    use:\n      - module: m\n"
    )
    with pytest.raises(DiagnosticsError) as info:
        load_spec(cwd / "spec.yaml", env={})
    assert [d.summary for d in info.value.diagnostics] == ['Reference to undeclared input "org"']


def test_unknown_missing_and_mistyped_inputs_are_all_reported(cwd: Path) -> None:
    write(
        cwd / "modules" / "m" / MODULE_FILE,
        """\
        version: 1
        inputs:
          url: {type: string}
          port: {type: number}
        providers:
          vllm: {base_url: "${var.url}:${var.port}/v1"}
        """,
    )
    got = [
        (d.summary, str(d.span))
        for d in diags(
            cwd,
            """\
        - module: m
          with: {prot: 80}
        - module: m
          with: {port: eighty, url: http://localhost}
        """,
        )
    ]
    assert got == [
        ('Missing input "port" for module "m"', "spec.yaml:6:9"),
        ('Missing input "url" for module "m"', "spec.yaml:6:9"),
        ('Unknown input "prot" for module "m"', "spec.yaml:7:16"),
        ('Invalid value for input "port" of module "m"', "spec.yaml:9:22"),
    ]


def test_mistyped_input_names_input_and_module(cwd: Path) -> None:
    write(cwd / "modules" / "m" / MODULE_FILE, "version: 1\ninputs:\n  port: {type: number}\n")
    (d,) = diags(cwd, "- module: m\n  with: {port: eighty}\n")
    assert 'input "port"' in d.summary
    assert '"m"' in d.summary


def test_cycles_are_found_at_any_depth(cwd: Path) -> None:
    for name, uses in (("a", "b"), ("b", "c"), ("c", "a")):
        write(cwd / "modules" / name / MODULE_FILE, f"version: 1\nuse:\n  - module: {uses}\n")
    (d,) = diags(cwd, "- module: a\n")
    assert d.summary == 'Module cycle through "a"'
    assert d.detail == "modules/a -> modules/b -> modules/c -> modules/a"
    assert str(d.span) == "modules/c/module.yaml:3:13"


def test_a_module_used_twice_is_not_a_cycle(cwd: Path) -> None:
    write(cwd / "modules" / "leaf2" / MODULE_FILE, "version: 1\nproviders:\n  groq: {}\n")
    write(
        cwd / "modules" / "pair" / MODULE_FILE,
        "version: 1\nuse:\n  - module: leaf2\n  - module: ../leaf2\n",
    )
    with pytest.raises(DiagnosticsError) as info:
        spec_with(cwd, "- module: pair\n", coder=False)
    # groq twice is a duplicate provider, not a cycle.
    assert [d.summary for d in info.value.diagnostics] == [
        'Provider "groq" is defined twice in deployment "dev" (from module "../leaf2")'
    ]


def test_module_file_problems_point_into_the_module(cwd: Path) -> None:
    write(cwd / "modules" / "empty" / MODULE_FILE, "# nothing\n")
    write(cwd / "modules" / "badkey" / MODULE_FILE, "version: 1\nprovides: {}\n")
    write(cwd / "modules" / "syntax" / MODULE_FILE, "version: 1\nproviders: [\n")
    got = [
        (d.summary, str(d.span))
        for d in diags(cwd, "- module: empty\n- module: badkey\n- module: syntax\n")
    ]
    assert got == [
        ('Unknown key "provides" at the top level', "modules/badkey/module.yaml:2:1"),
        ('Module "empty" is empty or not a mapping', "modules/empty/module.yaml:1:1"),
        ("Invalid YAML: did not find expected node content", "modules/syntax/module.yaml:3:1"),
    ]
