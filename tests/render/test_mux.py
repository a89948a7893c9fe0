"""provision.render.mux: providers.jsonc as Mux reads it, built through the real pipeline.

Specs are YAML written to tmp_path and loaded with `provision.api.load_spec`; output is read
back with npm jsonc-parser (what Mux uses) and the json5 package.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import json5
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from provision.api import load_spec
from provision.errors import DiagnosticsError
from provision.model import Spec
from provision.render import Rendered, render
from provision.render.jsonc import SensitiveBytes, dumps, js_number, parse
from provision.render.mux import MUX_HEADER, parse_existing, remove_entries
from provision.secrets import Secret

GOLDEN = Path(__file__).parent / "golden" / "mux"
CONSUMERS = Path(__file__).resolve().parents[1] / ".consumers"
TOKEN = "coder-session-token-0123"
ENV = {
    "CODER_TOKEN": TOKEN,
    "OPENAI_KEY": "sk-openai-1111",
    "ANTHROPIC_KEY": "sk-ant-2222",
    "XAI_KEY": "xai-3333",
    "OR_KEY": "sk-or-4444",
    "GROQ_KEY": "gsk-5555",
    "BEDROCK_TOKEN": "bedrock-6666",
    "AWS_SECRET": "aws-secret-7777",
    "AWS_ID": "AKIA8888",
    "GOOGLE_KEY": "goog-9999",
    "DS_KEY": "ds-0000",
}
JsoncParse = Callable[[str], Any]


def load(tmp_path: Path, text: str, env: dict[str, str] | None = None, **kw: Any) -> Spec:
    (tmp_path / "provision.yaml").write_text(textwrap.dedent(text), encoding="utf-8")
    return load_spec(tmp_path, env={"HOME": str(tmp_path), **ENV, **(env or {})}, **kw).spec


def spec_with(
    tmp_path: Path, providers: str, target: str = "", coder: bool = True, **kw: Any
) -> Spec:
    """A one-deployment spec: `providers` and `target` are YAML bodies (indented freely)."""
    coder_block = (
        "    coder: {url: https://coder.example.com, token: {env: CODER_TOKEN}}\n" if coder else ""
    )
    text = (
        "version: 1\ndeployments:\n  team:\n"
        + coder_block
        + "    providers:\n"
        + textwrap.indent(textwrap.dedent(providers).rstrip("\n") + "\n", "      ")
        + "targets:\n  mux:\n    type: mux_providers\n    deployment: team\n"
        + "    path: out/providers.jsonc\n"
        + textwrap.indent(textwrap.dedent(target), "    ")
    )
    return load(tmp_path, text, **kw)


def run(spec: Spec, existing: bytes | None = None) -> Rendered:
    return render(spec, spec.targets["mux"], existing)


def text_of(rendered: Rendered) -> str:
    return rendered.artifacts[0].content.decode("utf-8")


def body(rendered: Rendered) -> Any:
    """The JSON after the comment header, read strictly."""
    text = text_of(rendered)
    lines = text.splitlines(keepends=True)
    while lines and lines[0].startswith("//"):
        lines.pop(0)
    return json.loads("".join(lines))


def errors(exc: pytest.ExceptionInfo[DiagnosticsError]) -> list[str]:
    return [d.format() for d in exc.value.diagnostics if d.is_error]


# ── every field of the reference, mapped from the spec ─────────────────────────────────────────

ALL_FIELDS = """\
openai:
  via: aibridge
  organization: org-123
  service_tier: flex
  wire_format: chat_completions
  store: false
  models: [gpt-5, {id: gpt-5-codex, context_window_tokens: 400000}]
anthropic:
  api_key: {env: ANTHROPIC_KEY}
  cache_ttl: 1h
  disable_beta_features: true
  display_name: Claude
  headers: {X-Team: platform, X-Secret: {env: OPENAI_KEY}}
  models:
    - claude-sonnet-4-5
    - {id: claude-opus, context_window_tokens: 200000, mapped_to_model: claude-opus-4-1}
  model_parameters:
    claude-sonnet-4-5: {temperature: 1, max_output_tokens: 16384}
    "*": {max_output_tokens: 8192, top_p: 0.9, top_k: 40, seed: 7,
          frequency_penalty: -0.5, presence_penalty: 0.25, reasoning_effort: high}
xai:
  api_key: {env: XAI_KEY}
  search_parameters: {mode: auto, max_search_results: 5, sources: [{type: web}]}
  service_tier: priority
openrouter:
  api_key: {env: OR_KEY}
  routing:
    quantizations: [fp8]
    order: [Cerebras, Fireworks]
    allow_fallbacks: false
    only: [Cerebras]
    ignore: [Azure]
    require_parameters: true
    data_collection: deny
    sort: throughput
bedrock:
  region: us-east-1
  profile: dev
  bearer_token: {env: BEDROCK_TOKEN}
  access_key_id: {env: AWS_ID}
  secret_access_key: {env: AWS_SECRET}
google:
  api_key: {env: GOOGLE_KEY}
  base_url: https://gemini-proxy.example.com
deepseek:
  api_key: {env: DS_KEY}
  enabled: false
"""

ALL_FIELDS_EXPECTED = {
    "openai": {
        "apiKey": TOKEN,
        "baseUrl": "https://coder.example.com/api/v2/aibridge/openai/v1",
        "models": ["gpt-5", {"id": "gpt-5-codex", "contextWindowTokens": 400000}],
        "organization": "org-123",
        "serviceTier": "flex",
        "wireFormat": "chatCompletions",
        "store": False,
    },
    "anthropic": {
        "displayName": "Claude",
        "apiKey": "sk-ant-2222",
        "headers": {"X-Team": "platform", "X-Secret": "sk-openai-1111"},
        "models": [
            "claude-sonnet-4-5",
            {
                "id": "claude-opus",
                "contextWindowTokens": 200000,
                "mappedToModel": "claude-opus-4-1",
            },
        ],
        "modelParameters": {
            "claude-sonnet-4-5": {"temperature": 1, "max_output_tokens": 16384},
            "*": {
                "max_output_tokens": 8192,
                "top_p": 0.9,
                "top_k": 40,
                "seed": 7,
                "frequency_penalty": -0.5,
                "presence_penalty": 0.25,
                "reasoning_effort": "high",
            },
        },
        "cacheTtl": "1h",
        "disableBetaFeatures": True,
    },
    "xai": {
        "apiKey": "xai-3333",
        "searchParameters": {"mode": "auto", "max_search_results": 5, "sources": [{"type": "web"}]},
        "serviceTier": "priority",
    },
    "openrouter": {
        "apiKey": "sk-or-4444",
        "order": ["Cerebras", "Fireworks"],
        "allow_fallbacks": False,
        "only": ["Cerebras"],
        "ignore": ["Azure"],
        "require_parameters": True,
        "data_collection": "deny",
        "sort": "throughput",
        "quantizations": ["fp8"],
    },
    "bedrock": {
        "region": "us-east-1",
        "profile": "dev",
        "bearerToken": "bedrock-6666",
        "accessKeyId": "AKIA8888",
        "secretAccessKey": "aws-secret-7777",
    },
    "google": {"apiKey": "goog-9999", "baseUrl": "https://gemini-proxy.example.com/v1beta"},
    "deepseek": {"apiKey": "ds-0000", "enabled": False},
}


@pytest.mark.consumer
def test_every_reference_field_is_mapped(tmp_path: Path, jsonc_parse: JsoncParse) -> None:
    rendered = run(spec_with(tmp_path, ALL_FIELDS))
    assert jsonc_parse(text_of(rendered)) == ALL_FIELDS_EXPECTED
    assert body(rendered) == ALL_FIELDS_EXPECTED
    # Key order inside entries is fixed, whatever order the spec used.
    assert list(body(rendered)["openrouter"]) == list(ALL_FIELDS_EXPECTED["openrouter"])
    main = rendered.artifacts[0]
    assert main.managed_keys == tuple(ALL_FIELDS_EXPECTED)
    assert (main.mode, main.sensitive) == (0o600, True)
    assert isinstance(main.structured["anthropic"]["apiKey"], Secret)
    assert isinstance(main.structured["anthropic"]["headers"]["X-Secret"], Secret)
    assert main.structured["anthropic"]["headers"]["X-Team"] == "platform"
    assert rendered.env_required == ()


@pytest.mark.consumer
def test_bridged_providers_render_exactly_as_seed_001(
    tmp_path: Path, jsonc_parse: JsoncParse
) -> None:
    spec = spec_with(tmp_path, "openai: {via: aibridge}\nanthropic: {via: aibridge}\n")
    rendered = run(spec)
    seed = {
        "openai": {
            "apiKey": TOKEN,
            "baseUrl": "https://coder.example.com/api/v2/aibridge/openai/v1",
        },
        "anthropic": {
            "apiKey": TOKEN,
            "baseUrl": "https://coder.example.com/api/v2/aibridge/anthropic",
        },
    }
    assert jsonc_parse(text_of(rendered)) == seed
    assert text_of(rendered).endswith(json.dumps(seed, indent=2) + "\n")


def test_named_bridge_instance_and_custom_id_for_a_bridged_openai(tmp_path: Path) -> None:
    spec = spec_with(tmp_path, "codex: {catalog: openai, via: aibridge, aibridge_instance: codex}")
    assert body(run(spec)) == {
        "codex": {
            "providerType": "openai-compatible",
            "displayName": "OpenAI",
            "apiKey": TOKEN,
            "baseUrl": "https://coder.example.com/api/v2/aibridge/codex/v1",
        }
    }


# ── built-in vs custom entries ──────────────────────────────────────────────────────────────────


def test_builtin_on_its_default_url_has_no_base_url(tmp_path: Path) -> None:
    spec = spec_with(tmp_path, "openai: {api_key: {env: OPENAI_KEY}}", coder=False)
    assert body(run(spec)) == {"openai": {"apiKey": "sk-openai-1111"}}


@pytest.mark.consumer
def test_custom_and_local_providers(tmp_path: Path, jsonc_parse: JsoncParse) -> None:
    providers = """\
    groq: {api_key: {env: GROQ_KEY}, models: [llama-3.3-70b-versatile]}
    vllm: {models: [qwen3-coder]}
    llama-cpp: {display_name: llama.cpp, base_url: "http://127.0.0.1:8080/v1"}
    lmstudio: {}
    ollama: {models: ["qwen3-coder:30b"]}
    remote-ollama: {catalog: openai-compatible, base_url: "https://gpu.example.com/v1"}
    perplexity: {api_key: {env: DS_KEY}}
    cohere: {api_key: {env: DS_KEY}}
    """
    rendered = run(spec_with(tmp_path, providers, coder=False))
    expected = {
        "groq": {
            "providerType": "openai-compatible",
            "displayName": "Groq",
            "apiKey": "gsk-5555",
            "baseUrl": "https://api.groq.com/openai/v1",
            "models": ["llama-3.3-70b-versatile"],
        },
        "vllm": {
            "providerType": "openai-compatible",
            "displayName": "vLLM",
            "baseUrl": "http://localhost:8000/v1",
            "models": ["qwen3-coder"],
        },
        "llama-cpp": {
            "providerType": "openai-compatible",
            "displayName": "llama.cpp",
            "baseUrl": "http://127.0.0.1:8080/v1",
        },
        "lmstudio": {
            "providerType": "openai-compatible",
            "displayName": "LM Studio",
            "baseUrl": "http://localhost:1234/v1",
        },
        # A built-in, but a local one: Mux counts it configured only with baseUrl or models.
        "ollama": {"baseUrl": "http://localhost:11434/api", "models": ["qwen3-coder:30b"]},
        "remote-ollama": {
            "providerType": "openai-compatible",
            "displayName": "OpenAI-compatible server",
            "baseUrl": "https://gpu.example.com/v1",
        },
        # Xum appends /v1 to a bare host; the trailing slash keeps Perplexity's root.
        "perplexity": {
            "providerType": "openai-compatible",
            "displayName": "Perplexity",
            "apiKey": "ds-0000",
            "baseUrl": "https://api.perplexity.ai/",
        },
        "cohere": {
            "providerType": "openai-compatible",
            "displayName": "Cohere",
            "apiKey": "ds-0000",
            "baseUrl": "https://api.cohere.com/compatibility/v1",
        },
    }
    assert jsonc_parse(text_of(rendered)) == expected
    assert list(body(rendered)) == list(expected)


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        ("http://gpu.lan:11434", "http://gpu.lan:11434/api"),
        ("http://gpu.lan:11434/", "http://gpu.lan:11434/api"),
        ("http://gpu.lan:11434/api", "http://gpu.lan:11434/api"),
    ],
)
def test_ollama_base_url_ends_in_api_once(tmp_path: Path, base_url: str, expected: str) -> None:
    spec = spec_with(tmp_path, f'ollama: {{base_url: "{base_url}"}}', coder=False)
    assert body(run(spec)) == {"ollama": {"baseUrl": expected}}


def test_builtin_catalog_under_another_id_needs_an_openai_api(tmp_path: Path) -> None:
    spec = spec_with(tmp_path, "gemini-work: {catalog: google, api_key: {env: GOOGLE_KEY}}")
    with pytest.raises(DiagnosticsError) as exc:
        run(spec)
    (message,) = errors(exc)
    assert 'Provider "gemini-work" cannot be a Mux custom provider' in message
    assert "provision.yaml:6:7" in message
    assert 'Name it "google"' in message


def test_builtin_options_do_not_apply_to_a_custom_entry(tmp_path: Path) -> None:
    spec = spec_with(tmp_path, "codex: {catalog: openai, via: aibridge, service_tier: flex}")
    with pytest.raises(DiagnosticsError) as exc:
        run(spec)
    assert '"service_tier" does not apply to provider "codex"' in errors(exc)[0]


def test_azure_is_an_error_that_says_which_target_can_carry_it(tmp_path: Path) -> None:
    providers = """\
    openai: {via: aibridge}
    azure:
      catalog: azure-openai
      base_url: https://res.openai.azure.com
      api_key: {env: OPENAI_KEY}
    """
    with pytest.raises(DiagnosticsError) as exc:
        run(spec_with(tmp_path, providers))
    (diag,) = exc.value.diagnostics
    assert diag.summary == (
        'Provider "azure" (Azure OpenAI) cannot be written to Mux\'s providers.jsonc '
        "(target mux_providers.mux)"
    )
    assert "shell_exports or coder_agent_env" in diag.detail
    assert diag.span is not None and (diag.span.line, diag.span.column) == (7, 7)


def test_headers_mux_ignores_are_a_warning(tmp_path: Path) -> None:
    spec = spec_with(tmp_path, "bedrock: {region: us-east-1, headers: {X-A: b}}", coder=False)
    rendered = run(spec)
    assert [w.summary for w in rendered.warnings] == ['Mux ignores headers for provider "bedrock"']


# ── secrets modes ───────────────────────────────────────────────────────────────────────────────


def test_secrets_file_writes_one_key_file_per_provider(tmp_path: Path) -> None:
    spec = spec_with(
        tmp_path,
        "openai: {via: aibridge}\ngroq: {api_key: {env: GROQ_KEY}}\nollama: {}\n",
        "secrets: file\n",
    )
    rendered = run(spec)
    main, openai_key, groq_key = rendered.artifacts
    keys = tmp_path / "out" / "keys"
    assert body(rendered) == {
        "openai": {
            "apiKeyFile": str(keys / "openai.key"),
            "baseUrl": "https://coder.example.com/api/v2/aibridge/openai/v1",
        },
        "groq": {
            "providerType": "openai-compatible",
            "displayName": "Groq",
            "apiKeyFile": str(keys / "groq.key"),
            "baseUrl": "https://api.groq.com/openai/v1",
        },
        "ollama": {"baseUrl": "http://localhost:11434/api"},
    }
    assert (main.mode, main.sensitive) == (0o644, False)
    assert TOKEN.encode() not in main.content
    assert (openai_key.address, openai_key.path) == (
        "mux_providers.mux/keys/openai",
        keys / "openai.key",
    )
    assert openai_key.content == (TOKEN + "\n").encode()
    assert groq_key.content == b"gsk-5555\n"
    for key in (openai_key, groq_key):
        assert (key.mode, key.sensitive, key.managed_keys) == (0o600, True, None)


def test_secrets_file_honours_secrets_dir_and_keeps_secret_headers_inline(tmp_path: Path) -> None:
    providers = "groq: {api_key: {env: GROQ_KEY}, headers: {X-Key: {env: OPENAI_KEY}}}"
    spec = spec_with(tmp_path, providers, "secrets: file\nsecrets_dir: private\n", coder=False)
    rendered = run(spec)
    main, key = rendered.artifacts
    assert key.path == tmp_path / "private" / "groq.key"
    assert body(rendered)["groq"]["apiKeyFile"] == str(tmp_path / "private" / "groq.key")
    assert (main.mode, main.sensitive) == (0o600, True)
    assert [w.summary for w in rendered.warnings] == [
        f'Secret headers of provider "groq" are written into {tmp_path / "out/providers.jsonc"}'
    ]


def test_secrets_file_refuses_other_secret_options(tmp_path: Path) -> None:
    spec = spec_with(
        tmp_path, "bedrock: {region: us-east-1, bearer_token: {env: BEDROCK_TOKEN}}",
        "secrets: file\n", coder=False,
    )  # fmt: skip
    with pytest.raises(DiagnosticsError) as exc:
        run(spec)
    (diag,) = exc.value.diagnostics
    assert diag.summary == 'Mux has no file reference for "bearerToken" (provider "bedrock")'
    assert "secrets: inline" in diag.detail


def test_secrets_env_writes_no_key_and_lists_what_mux_reads(tmp_path: Path) -> None:
    providers = """\
    openai: {via: aibridge}
    anthropic: {api_key: {env: ANTHROPIC_KEY}}
    bedrock: {region: us-east-1, bearer_token: {env: BEDROCK_TOKEN}}
    ollama: {}
    """
    rendered = run(spec_with(tmp_path, providers, "secrets: env\n"))
    assert body(rendered) == {
        "openai": {"baseUrl": "https://coder.example.com/api/v2/aibridge/openai/v1"},
        "anthropic": {},
        "bedrock": {"region": "us-east-1"},
        "ollama": {"baseUrl": "http://localhost:11434/api"},
    }
    assert rendered.env_required == (
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "AWS_BEARER_TOKEN_BEDROCK",
    )
    assert (rendered.artifacts[0].mode, rendered.artifacts[0].sensitive) == (0o644, False)
    assert len(rendered.artifacts) == 1


def test_secrets_env_refuses_a_custom_provider_key(tmp_path: Path) -> None:
    spec = spec_with(tmp_path, "groq: {api_key: {env: GROQ_KEY}}", "secrets: env\n", coder=False)
    with pytest.raises(DiagnosticsError) as exc:
        run(spec)
    assert "read no environment variables" in exc.value.diagnostics[0].detail


def test_secrets_env_keeps_a_keyless_custom_provider(tmp_path: Path) -> None:
    spec = spec_with(tmp_path, "vllm: {}", "secrets: env\n", coder=False)
    assert run(spec).env_required == ()


def test_unread_secrets_are_never_revealed(tmp_path: Path) -> None:
    providers = "openai: {api_key: {env: OPENAI_KEY}}"
    spec = spec_with(tmp_path, providers, coder=False, read_secrets=False)
    with pytest.raises(DiagnosticsError) as exc:
        run(spec)
    assert "secret not available" in errors(exc)[0]
    assert "env OPENAI_KEY" in exc.value.diagnostics[0].detail
    # env mode never needs the value.
    spec = spec_with(tmp_path, providers, "secrets: env\n", coder=False, read_secrets=False)
    assert run(spec).env_required == ("OPENAI_API_KEY",)


def test_api_key_file_is_written_as_given(tmp_path: Path) -> None:
    providers = "openai: {api_key_file: ~/.config/openai.key}\ngroq: {api_key_file: keys/g}\n"
    assert body(run(spec_with(tmp_path, providers, coder=False))) == {
        "openai": {"apiKeyFile": "~/.config/openai.key"},
        "groq": {
            "providerType": "openai-compatible",
            "displayName": "Groq",
            "apiKeyFile": str(tmp_path / "keys/g"),
            "baseUrl": "https://api.groq.com/openai/v1",
        },
    }


def test_keys_mux_would_not_read_back_are_refused(tmp_path: Path) -> None:
    spec = spec_with(tmp_path, "openai: {api_key: {env: OPENAI_KEY}}", coder=False,
                     env={"OPENAI_KEY": "op://vault/openai/key"})  # fmt: skip
    with pytest.raises(DiagnosticsError, match="op://"):
        run(spec)
    spec = spec_with(tmp_path, "openai: {api_key: {env: OPENAI_KEY}}", "secrets: file\n",
                     coder=False, env={"OPENAI_KEY": " padded "})  # fmt: skip
    with pytest.raises(DiagnosticsError, match="surrounding whitespace"):
        run(spec)


# ── merge-managed ───────────────────────────────────────────────────────────────────────────────

USER_FILE = """\
// Providers configuration for mux
// Configure your AI providers here
{
  "google": {"apiKey": "user-google-key", "models": ["gemini-2.5-pro",],},
  "anthropic": {"apiKey": "old", "baseUrl": "https://old.example.com"},
  "my-proxy": {"providerType": "openai-compatible", "baseUrl": "http://proxy:1/v1",
               "headers": {"Authorization": "Bearer user-proxy-token"}},
  "1": {"weird": true},
  "xai": {"apiKey": "user-xai", "enabled": false},
}
"""


@pytest.mark.consumer
def test_merge_keeps_user_entries_values_and_order(tmp_path: Path, jsonc_parse: JsoncParse) -> None:
    spec = spec_with(tmp_path, "openai: {via: aibridge}\nanthropic: {via: aibridge}\n")
    rendered = run(spec, USER_FILE.encode())
    config = jsonc_parse(text_of(rendered))
    assert config == {
        "1": {"weird": True},
        "google": {"apiKey": "user-google-key", "models": ["gemini-2.5-pro"]},
        "anthropic": {
            "apiKey": TOKEN,
            "baseUrl": "https://coder.example.com/api/v2/aibridge/anthropic",
        },
        "my-proxy": {
            "providerType": "openai-compatible",
            "baseUrl": "http://proxy:1/v1",
            "headers": {"Authorization": "Bearer user-proxy-token"},
        },
        "xai": {"apiKey": "user-xai", "enabled": False},
        "openai": {
            "apiKey": TOKEN,
            "baseUrl": "https://coder.example.com/api/v2/aibridge/openai/v1",
        },
    }
    # Order as JSON.stringify writes it: integer-like keys first, then insertion order with the
    # managed entry replaced in place and the new one appended.
    assert list(body(rendered)) == ["1", "google", "anthropic", "my-proxy", "xai", "openai"]
    assert rendered.warnings == ()  # only Mux's own header comments
    main = rendered.artifacts[0]
    assert main.managed_keys == ("openai", "anthropic")
    # The user's own credentials stay, as Secrets for plan to mask.
    assert isinstance(main.structured["google"]["apiKey"], Secret)
    assert isinstance(main.structured["my-proxy"]["headers"]["Authorization"], Secret)
    assert main.structured["google"]["models"] == ["gemini-2.5-pro"]


def test_user_secrets_keep_the_file_private_in_file_mode(tmp_path: Path) -> None:
    spec = spec_with(tmp_path, "openai: {via: aibridge}", "secrets: file\n")
    existing = b'{"google": {"apiKey": "user-google-key"}}'
    main = run(spec, existing).artifacts[0]
    assert (main.mode, main.sensitive) == (0o600, True)


def test_second_render_of_own_output_is_byte_identical(tmp_path: Path) -> None:
    spec = spec_with(tmp_path, ALL_FIELDS)
    first = run(spec, USER_FILE.encode())
    second = run(spec, first.artifacts[0].content)
    assert second.artifacts[0].content == first.artifacts[0].content
    assert second.warnings == ()
    assert run(spec, second.artifacts[0].content).artifacts[0].content == first.artifacts[0].content


def test_a_file_saved_by_mux_has_no_comment_warning(tmp_path: Path) -> None:
    spec = spec_with(tmp_path, "openai: {via: aibridge}")
    mux_saved = MUX_HEADER + json.dumps({"google": {"apiKey": "k"}}, indent=2)
    rendered = run(spec, mux_saved.encode())
    assert rendered.warnings == ()
    assert list(body(rendered)) == ["google", "openai"]


def test_user_comments_are_a_warning(tmp_path: Path) -> None:
    spec = spec_with(tmp_path, "openai: {via: aibridge}")
    existing = b'// Providers configuration for mux\n{\n  // my note\n  "google": {} /* x */\n}\n'
    rendered = run(spec, existing)
    (warning,) = rendered.warnings
    path = tmp_path / "out" / "providers.jsonc"
    assert warning.summary == f"Comments in {path} will be lost"
    assert warning.detail.startswith("2 comment(s) outside the header, the first at line 3")
    assert warning.span is not None and (warning.span.line, warning.span.column) == (3, 3)


@pytest.mark.parametrize(
    ("existing", "where", "message"),
    [
        (b'{\n  "a": {"apiKey": "k"\n}\n', (4, 1), "Expected ',' or '}'"),
        (b'{"a": 1}\n{"b": 2}', (2, 1), "Unexpected text after the end of the document"),
        (b'{"a": /* open', (1, 7), "Unterminated /* comment"),
        (b"{'a': 1}", (1, 2), "Expected a property name in double quotes or '}'"),
        (b'{"a": "line\nbreak"}', (1, 12), "Control character in a string (escape it)"),
        (b'{"a": 1e999}', (1, 7), "Number out of range"),
        (b'{"a": {"__proto__": {}}}', (1, 8), 'The key "__proto__" is not allowed'),
        (b'{"a": "\xff"}', (1, 8), "is not valid UTF-8"),
        (b'["a"]', (1, 1), "does not hold a JSON object at the top level"),
        (b"null", (1, 1), "does not hold a JSON object at the top level"),
    ],
)
def test_a_file_that_cannot_be_read_exactly_is_never_rewritten(
    tmp_path: Path, existing: bytes, where: tuple[int, int], message: str
) -> None:
    spec = spec_with(tmp_path, "openai: {via: aibridge}")
    with pytest.raises(DiagnosticsError) as exc:
        run(spec, existing)
    (diag,) = exc.value.diagnostics
    assert message in diag.summary
    assert str(tmp_path / "out" / "providers.jsonc") in diag.summary
    assert diag.span is not None and (diag.span.line, diag.span.column) == where
    assert "never rewrites" in diag.detail


@pytest.mark.parametrize("existing", [b"", b"  \n", b"// only a note\n"])
def test_an_empty_file_is_an_empty_config(tmp_path: Path, existing: bytes) -> None:
    spec = spec_with(tmp_path, "openai: {via: aibridge}")
    assert list(body(run(spec, existing))) == ["openai"]


def test_remove_entries_keeps_everything_else(tmp_path: Path) -> None:
    spec = spec_with(tmp_path, "openai: {via: aibridge}\nanthropic: {via: aibridge}\n")
    content = run(spec, USER_FILE.encode()).artifacts[0].content
    remaining = remove_entries(content, ["openai", "anthropic", "absent"])
    assert isinstance(remaining, SensitiveBytes)  # the user's own keys are still in it
    assert remaining.startswith(b"// Providers configuration for mux\n{")
    config = parse_existing(remaining)
    assert list(config) == ["1", "google", "my-proxy", "xai"]
    assert isinstance(config["google"]["apiKey"], Secret)
    assert config["google"]["apiKey"].reveal() == "user-google-key"
    assert remove_entries(b'{"a": {}}', ["a"]) == b"// Providers configuration for mux\n{}\n"
    with pytest.raises(DiagnosticsError, match="Cannot parse"):
        remove_entries(b'{"a": ', ["a"])


# ── values Mux could not read back ─────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("providers", "where", "line"),
    [
        ("vllm: {headers: {__proto__: x}}", 'headers["__proto__"]', 5),
        ("vllm: {model_parameters: {constructor: {seed: 1}}}", 'modelParameters["constructor"]', 5),
        ("xai: {search_parameters: {prototype: 1}}", 'searchParameters["prototype"]', 5),
    ],
)
def test_prototype_keys_are_refused(tmp_path: Path, providers: str, where: str, line: int) -> None:
    with pytest.raises(DiagnosticsError) as exc:
        run(spec_with(tmp_path, providers, coder=False))
    (diag,) = [d for d in exc.value.diagnostics if d.is_error]
    assert diag.summary.startswith(f"Cannot write {where} of provider")
    assert "target mux_providers.mux" in diag.summary
    assert diag.span is not None and diag.span.line == line


def test_text_that_is_not_unicode_is_refused_with_its_location(tmp_path: Path) -> None:
    # os.environ decodes undecodable bytes to lone surrogates; such text cannot be JSON.
    spec = spec_with(
        tmp_path, "vllm:\n  display_name: ${env.BAD_NAME}\n", coder=False,
        env={"BAD_NAME": "caf\udce9"},
    )  # fmt: skip
    with pytest.raises(DiagnosticsError) as exc:
        run(spec)
    (diag,) = exc.value.diagnostics
    assert diag.summary == 'Cannot write displayName of provider "vllm" to target mux_providers.mux'
    assert diag.span is not None and (diag.span.line, diag.span.column) == (6, 23)


def test_a_key_that_is_not_unicode_is_refused_without_showing_it(tmp_path: Path) -> None:
    spec = spec_with(tmp_path, "openai: {api_key: {env: OPENAI_KEY}}", coder=False,
                     env={"OPENAI_KEY": "sk-\udcff-hidden-value"})  # fmt: skip
    with pytest.raises(DiagnosticsError) as exc:
        run(spec)
    (diag,) = exc.value.diagnostics
    assert diag.summary == 'The API key of provider "openai" is not valid Unicode text'
    assert "hidden-value" not in diag.format()


# ── secrets do not leak ────────────────────────────────────────────────────────────────────────

CANARY = "canary-4f1d2a9c8e7b"


def test_canary_secret_is_in_the_file_and_nowhere_else(tmp_path: Path) -> None:
    providers = """\
    anthropic:
      api_key: {env: CANARY}
      headers: {X-Canary: {env: CANARY}}
    bedrock: {region: us-east-1, bearer_token: {env: CANARY}}
    """
    spec = spec_with(tmp_path, providers, coder=False, env={"CANARY": CANARY})
    rendered = run(spec, b'{"x": {} // note\n}')
    assert rendered.artifacts[0].content.count(CANARY.encode()) == 3
    assert isinstance(rendered.artifacts[0].content, SensitiveBytes)
    assert rendered.warnings  # the comment warning
    for text in (repr(rendered), str(rendered), repr(rendered.artifacts[0].structured)):
        assert CANARY not in text
    assert all(CANARY not in w.format() for w in rendered.warnings)
    # Errors name the secret's source, never its value.
    file_spec = spec_with(tmp_path, providers, "secrets: file\n", coder=False,
                          env={"CANARY": CANARY})  # fmt: skip
    with pytest.raises(DiagnosticsError) as exc:
        run(file_spec)
    assert CANARY not in str(exc.value)
    assert all(CANARY not in d.format() for d in exc.value.diagnostics)
    key_file = run(spec_with(tmp_path, "openai: {api_key: {env: CANARY}}", "secrets: file\n",
                             coder=False, env={"CANARY": CANARY})).artifacts[1]  # fmt: skip
    assert key_file.content == f"{CANARY}\n".encode()
    assert CANARY not in repr(key_file)


# ── golden file ─────────────────────────────────────────────────────────────────────────────────


@pytest.mark.consumer
def test_golden_providers_jsonc(jsonc_parse: JsoncParse) -> None:
    env = {"HOME": "/home/dev", **ENV}
    spec = load_spec(GOLDEN, env=env).spec
    content = render(spec, spec.targets["mux"], None).artifacts[0].content
    golden = GOLDEN / "providers.jsonc"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.write_bytes(content)
    assert content == golden.read_bytes(), "run with UPDATE_GOLDEN=1 to regenerate"
    assert jsonc_parse(content.decode())["openai"]["apiKey"] == TOKEN


# ── round trip through the real consumers ──────────────────────────────────────────────────────

BATCH_SCRIPT = """
const jsonc = require('jsonc-parser');
const docs = JSON.parse(require('fs').readFileSync(0, 'utf8'));
process.stdout.write(JSON.stringify(docs.map((text) => {
  const errors = [];
  const value = jsonc.parse(text, errors, {allowTrailingComma: true});
  return {value, errors};
})));
"""


def jsonc_parse_many(texts: list[str]) -> list[Any]:
    """npm jsonc-parser over many documents in one node process."""
    proc = subprocess.run(
        ["node", "-e", BATCH_SCRIPT], input=json.dumps(texts), capture_output=True, text=True,
        cwd=CONSUMERS, timeout=120, check=True,
    )  # fmt: skip
    results = json.loads(proc.stdout)
    assert all(r["errors"] == [] for r in results), [r["errors"] for r in results]
    return [r["value"] for r in results]


TRICKY = [
    '"', "\\", "'", "$", "`", "$(id)", "`id`", "${HOME}", "%{x}", "${var.x}", "\n", "\r\n", "\t",
    "\x01", "\x1f", "\x7f", "\u2028", "\u2029", "\ufeff", "é", "日本", "😀", "//", "/*", "*/",
    "\\u0041", "</script>",
]  # fmt: skip
# U+0000 is the one character a spec refuses (tests/test_special_files.py).
PIECE = st.one_of(
    st.sampled_from(TRICKY),
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
            max_size=12),
)
TEXT = st.lists(PIECE, min_size=1, max_size=8).map("".join).filter(bool)
# The json5 package parses about 16k characters a second, so long values stay rare here; the
# very long ones get a test of their own.
LONG = st.builds(lambda piece, n: piece * n, st.sampled_from(TRICKY), st.integers(100, 800))
VALUE = st.one_of(*[TEXT] * 7, LONG)
# YAML caps an implicit key at 1024 characters (PyYAML's dumper does not know), and a key that
# is all astral characters is ten times longer once escaped.
HEADER_NAME = TEXT.map(lambda s: s[:80]).filter(
    lambda s: s not in {"__proto__", "prototype", "constructor"}
)


def literal(text: str) -> str:
    """A spec string that interpolates to exactly `text`."""
    return text.replace("${", "$${")


@pytest.mark.consumer
def test_tricky_values_round_trip_through_jsonc_parser_and_json5(
    tmp_path: Path, jsonc_parse: JsoncParse
) -> None:
    cases: list[tuple[str, dict[str, Any]]] = []

    @settings(max_examples=200, deadline=None, database=None)
    @given(
        display_name=VALUE,
        headers=st.dictionaries(HEADER_NAME, VALUE, max_size=3),
        models=st.lists(VALUE, min_size=1, max_size=3),
    )
    def check(display_name: str, headers: dict[str, str], models: list[str]) -> None:
        provider = {
            "catalog": "openai-compatible",
            "base_url": "http://localhost:8000/v1",
            "display_name": literal(display_name),
            "headers": {name: literal(value) for name, value in headers.items()},
            "models": [literal(m) for m in models],
            # Keys are not interpolated; values are.
            "model_parameters": {
                models[0][:80]: {"temperature": 0.5, "extra": literal(models[-1])}
            },
        }
        doc = {
            "version": 1,
            "deployments": {"d": {"providers": {"lab": provider}}},
            "targets": {"mux": {"type": "mux_providers", "deployment": "d", "path": "p.jsonc"}},
        }
        (tmp_path / "provision.yaml").write_text(yaml.safe_dump(doc), "utf-8")
        spec = load_spec(tmp_path, env={}).spec
        text = render(spec, spec.targets["mux"], None).artifacts[0].content.decode()
        expected = {
            "lab": {
                "providerType": "openai-compatible",
                "displayName": display_name,
                "baseUrl": "http://localhost:8000/v1",
                **({"headers": headers} if headers else {}),
                "models": models,
                "modelParameters": {models[0][:80]: {"temperature": 0.5, "extra": models[-1]}},
            }
        }
        assert json5.loads(text) == expected
        cases.append((text, expected))

    check()
    assert len(cases) >= 200
    values = jsonc_parse_many([text for text, _ in cases])
    for value, (text, expected) in zip(values, cases, strict=True):
        assert value == expected, text


@pytest.mark.consumer
def test_very_long_values_round_trip(tmp_path: Path, jsonc_parse: JsoncParse) -> None:
    long_name = "".join(TRICKY) * 300
    long_model = "m" * 100_000
    spec = spec_with(tmp_path, "vllm: {display_name: '${env.NAME}', models: ['${env.MODEL}']}",
                     coder=False, env={"NAME": long_name, "MODEL": long_model})  # fmt: skip
    text = text_of(run(spec))
    assert jsonc_parse(text)["vllm"]["displayName"] == long_name
    assert json.loads(text.split("\n", 3)[3])["vllm"]["models"] == [long_model]
    assert json5.loads(text.replace(long_model, "m"))["vllm"]["displayName"] == long_name


# ── the JSON codec against JavaScript itself ───────────────────────────────────────────────────

NODE_STRINGIFY = """
const docs = JSON.parse(require('fs').readFileSync(0, 'utf8'));
process.stdout.write(JSON.stringify(docs.map((d) => JSON.stringify(d, null, 2))));
"""


@pytest.mark.consumer
def test_dumps_is_json_stringify(jsonc_parse: JsoncParse) -> None:
    numbers = [0, -0.0, 1.0, 0.1, 1 / 3, 1e21, 1e-7, 1e-6, 123456789012345680000.0, 5e-324,
               -2.5e-10, 1.7976931348623157e308, 2**53 - 1, 100.0, 1e16]  # fmt: skip
    docs: list[Any] = [
        {"b": 1, "a": [], "10": {}, "2": [1, [2, {}]], "x": None, "t": True, "n": numbers},
        {"s": '\x00\x1f\x7f\u2028\ud800 lone\udfff "\\/ é😀'},
        [],
        "text",
    ]
    # The documents travel to node as ASCII JSON, which carries lone surrogates intact.
    proc = subprocess.run(
        ["node", "-e", NODE_STRINGIFY], input=json.dumps(docs), capture_output=True,
        text=True, cwd=CONSUMERS, timeout=60, check=True,
    )  # fmt: skip
    expected = json.loads(proc.stdout)
    assert [dumps(d) for d in docs] == expected
    assert parse(dumps(docs[1])).value == docs[1]


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_js_number_reads_back_as_the_same_double(value: float) -> None:
    assert float(js_number(value)) == value
