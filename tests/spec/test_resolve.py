"""provision.spec.resolve/build: the model values a spec resolves to — bridged base URLs, named
instances, catalog defaults, secret sources, target paths — and that the model is frozen."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from provision.api import load_spec
from provision.errors import Diagnostic, DiagnosticsError, ProvisionError
from provision.model import Spec
from provision.record import FrozenInstanceError, is_record, replace
from provision.secrets import Origin, Secret
from provision.spec.build import is_loopback

ROOT = Path(__file__).resolve().parents[2]
ENV = {"CODER_SESSION_TOKEN": "tok-session-123", "HOME": "/home/dev"}


@pytest.fixture
def cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def resolve(cwd: Path, text: str, env: dict[str, str] | None = None, **kw: Any) -> Spec:
    (cwd / "spec.yaml").write_text(textwrap.dedent(text))
    return load_spec(cwd / "spec.yaml", env=ENV if env is None else env, **kw).spec


def warnings(cwd: Path, text: str, env: dict[str, str] | None = None) -> list[str]:
    (cwd / "spec.yaml").write_text(textwrap.dedent(text))
    resolved = load_spec(cwd / "spec.yaml", env=ENV if env is None else env, read_secrets=False)
    return [f"{w.span}: {w.summary}" for w in resolved.warnings]


def errors(cwd: Path, text: str, env: dict[str, str] | None = None, **kw: Any) -> list[Diagnostic]:
    (cwd / "spec.yaml").write_text(textwrap.dedent(text))
    with pytest.raises(DiagnosticsError) as info:
        load_spec(cwd / "spec.yaml", env=ENV if env is None else env, **kw)
    return list(info.value.diagnostics)


BRIDGED = """\
    version: 1
    deployments:
      prod:
        coder:
          url: {url}
          token: {{env: CODER_SESSION_TOKEN}}
        providers:
          openai: {{via: aibridge}}
          anthropic: {{via: aibridge}}
          team-openai:
            catalog: openai
            via: aibridge
            aibridge_instance: team-openai
    """


@pytest.mark.parametrize("url", ["https://coder.example.com", "https://coder.example.com/"])
def test_bridged_base_urls(cwd: Path, url: str) -> None:
    spec = resolve(cwd, BRIDGED.format(url=url))
    prod = spec.deployments["prod"]
    providers = prod.providers
    assert prod.coder.url == "https://coder.example.com"
    assert providers["openai"].base_url == "https://coder.example.com/api/v2/aibridge/openai/v1"
    assert providers["anthropic"].base_url == "https://coder.example.com/api/v2/aibridge/anthropic"
    assert providers["team-openai"].base_url == (
        "https://coder.example.com/api/v2/aibridge/team-openai/v1"
    )
    assert providers["team-openai"].bridge == replace(
        providers["openai"].bridge, instance="team-openai"
    )
    assert providers["openai"].bridge.kind == "openai"
    assert providers["anthropic"].bridge.instance == "anthropic"
    for p in providers.values():
        assert p.api_key is prod.coder.token
        assert p.api_key.reveal() == "tok-session-123"
        assert p.api_key.origin == Origin("env", "CODER_SESSION_TOKEN")


def test_bridged_urls_keep_a_path_prefix(cwd: Path) -> None:
    spec = resolve(cwd, BRIDGED.format(url="https://example.com/coder/"))
    assert spec.deployments["prod"].providers["openai"].base_url == (
        "https://example.com/coder/api/v2/aibridge/openai/v1"
    )


def test_bridge_only_for_openai_and_anthropic_kinds(cwd: Path) -> None:
    (d,) = errors(
        cwd,
        """\
        version: 1
        deployments:
          dev:
            coder: {url: https://c.example.com, token: {env: CODER_SESSION_TOKEN}}
            providers:
              google: {via: aibridge}
        """,
    )
    assert d.summary == 'Provider "google" (google) cannot be routed through AI Bridge'
    assert str(d.span) == "spec.yaml:6:21"


def test_instance_without_bridge(cwd: Path) -> None:
    (d,) = errors(
        cwd,
        """\
        version: 1
        deployments:
          dev:
            providers:
              openai: {aibridge_instance: x}
        """,
    )
    assert d.summary == "aibridge_instance needs via: aibridge"


def test_catalog_defaults(cwd: Path) -> None:
    spec = resolve(
        cwd,
        """\
        version: 1
        deployments:
          dev:
            providers:
              groq: {}
              openai: {base_url: https://proxy.example.com/v1/}
              my-vllm:
                catalog: vllm
                display_name: Tuned
                models: [a, {id: b, context_window_tokens: 8192, mapped_to_model: a}]
                model_parameters:
                  "*": {temperature: 0.2, custom_knob: x}
              anthropic: {cache_ttl: 1h}
        """,
    )
    p = spec.deployments["dev"].providers
    assert p["groq"].catalog.id == "groq"
    assert p["groq"].base_url == "https://api.groq.com/openai/v1"
    assert p["groq"].api_key is None and p["groq"].bridge is None
    # Kept as written: a trailing slash tells newer Mux (Xum) not to append /v1.
    assert p["openai"].base_url == "https://proxy.example.com/v1/"
    assert p["my-vllm"].catalog.id == "vllm"
    assert p["my-vllm"].base_url == "http://localhost:8000/v1"
    assert p["my-vllm"].display_name == "Tuned"
    assert [(m.id, m.context_window_tokens, m.mapped_to_model) for m in p["my-vllm"].models] == [
        ("a", None, None),
        ("b", 8192, "a"),
    ]
    assert dict(p["my-vllm"].model_parameters["*"]) == {"temperature": 0.2, "custom_knob": "x"}
    assert dict(p["anthropic"].options) == {"cache_ttl": "1h"}
    assert p["groq"].enabled is True and p["groq"].probe.enabled is True
    assert p["groq"].address == "dev.groq"


def test_catalog_aliases_and_shadowing(cwd: Path) -> None:
    spec = resolve(
        cwd,
        """\
        version: 1
        deployments:
          dev:
            providers:
              moonshotai: {catalog: moonshot}
        """,
    )
    assert spec.deployments["dev"].providers["moonshotai"].catalog.id == "moonshot"
    got = warnings(
        cwd,
        """\
        version: 1
        deployments:
          dev:
            providers:
              openai: {catalog: vllm}
        """,
    )
    assert got == ['spec.yaml:5:7: Provider "openai" shadows Mux\'s built-in provider of that name']


def test_no_v1_warning_for_catalog_defaults(cwd: Path) -> None:
    assert (
        warnings(
            cwd,
            """\
        version: 1
        deployments:
          dev:
            providers:
              deepseek: {}
              perplexity: {}
              zai: {}
        """,
        )
        == []
    )


def test_needs_a_base_url(cwd: Path) -> None:
    (d,) = errors(
        cwd,
        """\
        version: 1
        deployments:
          dev:
            providers:
              corp: {catalog: openai-compatible}
        """,
    )
    assert d.summary == 'Provider "corp" (openai-compatible) needs a base_url'
    assert str(d.span) == "spec.yaml:5:7"


# -- secrets ---------------------------------------------------------------------------------

SECRETS = """\
    version: 1
    deployments:
      dev:
        coder: {url: https://coder.example.com, token: {file: token.txt}}
        providers:
          groq: {api_key: {env_list: GROQ_KEYS}}
          bedrock: {region: eu-west-1, bearer_token: {env: BEDROCK_TOKEN}}
          my-vllm:
            catalog: vllm
            headers: {X-Plain: plain, X-Key: {env: BEDROCK_TOKEN}, X-Env: "${env.HDR}"}
    """


def test_secret_sources_are_read(cwd: Path) -> None:
    (cwd / "token.txt").write_text("  tok-from-file-1\n\n")
    spec = resolve(
        cwd,
        SECRETS,
        env={"GROQ_KEYS": " k-1111; k-2222 ,k-3333,", "HDR": "h", "BEDROCK_TOKEN": "br-token-1"},
    )
    dev = spec.deployments["dev"]
    assert dev.coder.token.reveal() == "tok-from-file-1"
    assert dev.coder.token.origin == Origin("file", "token.txt")
    groq = dev.providers["groq"].api_key
    assert [c.reveal() for c in groq.candidates] == ["k-1111", "k-2222", "k-3333"]
    assert groq.reveal() == "k-1111"
    bedrock = dev.providers["bedrock"].options
    assert bedrock["region"] == "eu-west-1"
    assert bedrock["bearer_token"].reveal() == "br-token-1"
    headers = dev.providers["my-vllm"].headers
    assert headers["X-Plain"] == "plain"
    # Anything read from the environment or a secret source is a Secret in a header.
    assert isinstance(headers["X-Env"], Secret) and headers["X-Env"].reveal() == "h"
    assert headers["X-Env"].origin == Origin("env", "HDR")
    assert isinstance(headers["X-Key"], Secret)


def test_validate_reads_no_secret(cwd: Path) -> None:
    spec = resolve(cwd, SECRETS, env={"HDR": "h"}, read_secrets=False)
    token = spec.deployments["dev"].coder.token
    assert not token.known and token.origin == Origin("file", "token.txt")
    with pytest.raises(ProvisionError, match="has not been read"):
        token.reveal()


def test_unreadable_secret_sources(cwd: Path) -> None:
    (cwd / "empty.txt").write_text(" \n")
    got = [
        (d.summary, str(d.span))
        for d in errors(
            cwd,
            """\
        version: 1
        deployments:
          dev:
            coder: {url: https://coder.example.com, token: {file: nope.txt}}
            providers:
              groq: {api_key: {env_list: GROQ_KEYS}}
              mistral: {api_key: {env: MISTRAL_KEY}}
              xai: {api_key: {file: empty.txt}}
        """,
            env={"GROQ_KEYS": " ;, "},
        )
    ]
    assert got == [
        ("Cannot read secret file nope.txt: No such file or directory", "spec.yaml:4:52"),
        ('Environment variable "GROQ_KEYS" holds no keys', "spec.yaml:6:23"),
        ('Environment variable "MISTRAL_KEY" is not set', "spec.yaml:7:26"),
        ("Secret file empty.txt is empty", "spec.yaml:8:22"),
    ]


def test_secret_file_paths_expand_home_and_are_relative_to_the_spec(cwd: Path) -> None:
    (cwd / "home").mkdir()
    (cwd / "home" / "key").write_text("k-home-1")
    (cwd / "sub").mkdir()
    (cwd / "sub" / "key").write_text("k-rel-1")
    (cwd / "sub" / "spec.yaml").write_text(
        textwrap.dedent("""\
        version: 1
        deployments:
          dev:
            providers:
              groq: {api_key: {file: ~/key}}
              xai: {api_key: {file: key}}
        """)
    )
    spec = load_spec(cwd / "sub" / "spec.yaml", env={"HOME": str(cwd / "home")}).spec
    providers = spec.deployments["dev"].providers
    assert providers["groq"].api_key.reveal() == "k-home-1"
    assert providers["xai"].api_key.reveal() == "k-rel-1"


# -- warnings --------------------------------------------------------------------------------


def test_plain_http_warnings(cwd: Path) -> None:
    got = warnings(
        cwd,
        """\
        version: 1
        deployments:
          dev:
            coder: {url: "http://coder.internal", token: {env: CODER_SESSION_TOKEN}}
            providers:
              vllm: {base_url: "http://10.0.0.5:8000/v1", api_key: {env: K}}
              lmstudio: {base_url: "http://127.0.0.1:1234/v1", api_key: {env: K}}
              llama-cpp: {base_url: "http://[::1]:8080/v1", api_key: {env: K}}
              litellm:
                base_url: "http://gw.internal/v1"
                api_key: {env: K}
                allow_insecure: true
              my-vllm: {catalog: vllm, base_url: "http://gpu.internal/v1"}
        """,
    )
    assert got == [
        "spec.yaml:4:18: The Coder token would be sent over plain http to coder.internal",
        'spec.yaml:6:24: The API key of "vllm" would be sent over plain http to 10.0.0.5',
    ]


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("LocalHost", True),
        ("localhost.", True),
        ("models.localhost", True),
        ("a.b.LOCALHOST.", True),
        ("127.0.0.1", True),
        ("127.3.2.1", True),
        ("127.0.0.1.", True),
        ("::1", True),
        ("[::1]", True),
        ("[0:0:0:0:0:0:0:1]", True),
        ("::ffff:127.0.0.1", True),
        ("[::ffff:7f00:1]", True),
        ("", False),
        (".", False),
        ("notlocalhost", False),
        ("localhost.example.com", False),
        ("[localhost]", False),
        ("[127.0.0.1]", False),
        ("[::1", False),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.5", False),
        ("::ffff:10.0.0.5", False),
        ("2001:db8::1", False),
        ("coder.internal", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    """One rule for the spec's plain-http warning, the probe's refusal and bridge-sim's bind."""
    assert is_loopback(host) is loopback


def test_plain_http_to_a_spelling_of_localhost_is_no_warning(cwd: Path) -> None:
    got = warnings(
        cwd,
        """\
        version: 1
        deployments:
          dev:
            providers:
              vllm: {base_url: "http://LOCALHOST.:8000/v1", api_key: {env: K}}
              lmstudio: {base_url: "http://[::ffff:127.0.0.1]:1234/v1", api_key: {env: K}}
        """,
    )
    assert got == []


def test_anthropic_temperature_one_is_fine(cwd: Path) -> None:
    assert (
        warnings(
            cwd,
            """\
        version: 1
        deployments:
          dev:
            providers:
              anthropic:
                model_parameters: {"*": {temperature: 1}, a: {temperature: 1.0}}
              openai:
                model_parameters: {"*": {temperature: 0.3}}
        """,
        )
        == []
    )


# -- targets ---------------------------------------------------------------------------------

TARGETS = """\
    version: 1
    deployments:
      dev:
        providers: {groq: {}, xai: {}}
    targets:
      mux: {type: mux_providers, deployment: dev, providers: [xai]}
      rel: {type: shell_exports, deployment: dev, path: out/x.sh, env: {A: a, B: {env: B}}}
      home: {type: coder_agent_env, deployment: dev, path: ~/x.tf, style: locals}
    """


def test_target_paths(cwd: Path) -> None:
    spec = resolve(cwd, TARGETS, env={"HOME": "/home/dev"}, read_secrets=False)
    t = spec.targets
    assert t["mux"].path == Path("/home/dev/.mux/providers.jsonc")
    assert t["rel"].path == cwd.resolve() / "out" / "x.sh"
    assert t["home"].path == Path("/home/dev/x.tf")
    assert t["mux"].providers == ("xai",) and t["rel"].providers is None
    assert [p.id for p in spec.providers_of(t["mux"])] == ["xai"]
    assert [p.id for p in spec.providers_of(t["rel"])] == ["groq", "xai"]
    assert dict(t["home"].options) == {"style": "locals"}
    assert t["rel"].options["env"]["A"] == "a"
    assert isinstance(t["rel"].options["env"]["B"], Secret)
    assert t["home"].address == "coder_agent_env.home"


@pytest.mark.parametrize(
    ("env", "want"),
    [
        ({"HOME": "/h", "MUX_ROOT": "/m"}, "/m/providers.jsonc"),
        ({"HOME": "/h", "MUX_ROOT": "/m", "XUM_ROOT": "/x"}, "/x/providers.jsonc"),
        ({"HOME": "/h", "MUX_ROOT": "~/mux"}, "/h/mux/providers.jsonc"),
    ],
)
def test_default_mux_path(cwd: Path, env: dict[str, str], want: str) -> None:
    spec = resolve(cwd, TARGETS, env=env, read_secrets=False)
    assert spec.targets["mux"].path == Path(want)


def test_default_mux_path_prefers_an_existing_xum_dir(cwd: Path) -> None:
    (cwd / ".xum").mkdir()
    spec = resolve(cwd, TARGETS, env={"HOME": str(cwd)}, read_secrets=False)
    assert spec.targets["mux"].path == cwd / ".xum" / "providers.jsonc"


# -- the files targets write --------------------------------------------------------------------

EXTRA_FILES = """\
    version: 1
    deployments:
      dev:
        coder: {url: "https://c.example.com", token: {env: CODER_SESSION_TOKEN}}
        providers:
          openai: {api_key: {env: OPENAI_KEY}}
          groq: {api_key_file: /run/groq.key}
          anthropic: {via: aibridge}
          ollama: {}
    targets:
      mux: {type: mux_providers, deployment: dev, path: out/providers.jsonc, secrets: file}
      tf: {type: coder_agent_env, deployment: dev, path: out/agent.env.tf, style: env_block}
      bare: {type: coder_agent_env, deployment: dev, providers: [ollama], path: out/bare.tf,
             style: env_block}
      sh: {type: shell_exports, deployment: dev, path: out/ai.sh}
    """


def test_target_files_are_the_files_the_renderers_write(cwd: Path) -> None:
    """The names validate checks are the names the renderers write; a target without anything
    to declare still owns its declarations file's name."""
    from provision.render import render
    from provision.render._paths import target_files

    spec = resolve(cwd, EXTRA_FILES, env={**ENV, "OPENAI_KEY": "sk-test-1"})
    out = cwd.resolve() / "out"
    named = {n: [f.path for f in target_files(t, spec.providers_of(t))]
             for n, t in spec.targets.items()}
    assert named == {
        "mux": [out / "providers.jsonc", out / "keys" / "openai.key",
                out / "keys" / "anthropic.key"],
        "tf": [out / "agent.env.tf", out / "agent.declarations.tf"],
        "bare": [out / "bare.tf", out / "bare.declarations.tf"],
        "sh": [out / "ai.sh"],
    }
    written = {n: [a.path for a in render(spec, t).artifacts] for n, t in spec.targets.items()}
    assert written == {**named, "bare": [out / "bare.tf"]}


def test_a_target_writing_a_file_twice(cwd: Path) -> None:
    diags = errors(cwd, """\
        version: 1
        deployments:
          dev:
            providers:
              openai: {api_key: {env: OPENAI_KEY}}
        targets:
          mux: {type: mux_providers, deployment: dev, path: k/openai.key, secrets: file,
                secrets_dir: k}
          tf: {type: coder_agent_env, deployment: dev, path: out/a.declarations.tf,
               style: env_block}
        """, read_secrets=False)
    root = cwd.resolve()
    assert [(f"{d.span}", d.summary, d.detail) for d in diags] == [
        ("spec.yaml:8:22", f'Target "mux" writes {root}/k/openai.key twice',
         'As its file and as the key file of provider "openai".'),
        ("spec.yaml:10:15", f'Target "tf" writes {root}/out/a.declarations.tf twice',
         "As its file and as its declarations file."),
    ]


def test_path_checks_survive_other_target_errors(cwd: Path) -> None:
    diags = errors(cwd, """\
        version: 1
        deployments:
          dev:
            providers:
              openai: {api_key: {env: OPENAI_KEY}}
        targets:
          mux: {type: mux_providers, deployment: dev, providers: [openai, nope],
                path: out/providers.jsonc, secrets: file}
          sh: {type: shell_exports, deployment: dev, path: out/keys/openai.key}
        """, read_secrets=False)
    assert [d.summary for d in diags] == [
        'Target "mux" names unknown provider "nope"',
        f'Targets "mux" and "sh" both write {cwd.resolve()}/out/keys/openai.key',
    ]


def test_state_option_reserves_its_files(cwd: Path) -> None:
    text = """\
        version: 1
        deployments:
          dev:
            providers:
              openai: {}
        targets:
          sh: {type: shell_exports, deployment: dev, path: st/s.json}
        """
    (cwd / "spec.yaml").write_text(textwrap.dedent(text))
    load_spec(cwd / "spec.yaml", env=ENV)  # st/ is the user's while the state is the default
    diags = errors(cwd, text, state=cwd / "st" / "s.json")
    assert [d.summary for d in diags] == [
        f'Target "sh" would write {cwd.resolve()}/st/s.json, provision\'s state file']


# -- the model is frozen ---------------------------------------------------------------------


def test_model_is_frozen(cwd: Path) -> None:
    spec = resolve(
        cwd,
        BRIDGED.format(url="https://c.example.com").rstrip(" ")
        + "            models: [a]\n            model_parameters: {a: {top_k: 3}}\n",
    )
    provider = spec.deployments["prod"].providers["team-openai"]
    for obj, attr in (
        (spec, "root"),
        (spec.deployments["prod"], "name"),
        (provider, "base_url"),
        (provider.models[0], "id"),
        (provider.bridge, "kind"),
        (spec.deployments["prod"].coder, "url"),
        (provider.probe, "enabled"),
    ):
        assert is_record(obj)
        with pytest.raises(FrozenInstanceError):
            setattr(obj, attr, None)
    for mapping in (
        spec.deployments,
        spec.deployments["prod"].providers,
        spec.variables,
        provider.model_parameters,
        provider.model_parameters["a"],
        provider.headers,
        provider.options,
    ):
        with pytest.raises(TypeError):
            mapping["x"] = 1  # type: ignore[index]
    assert isinstance(provider.models, tuple)
    assert spec.files == ("spec.yaml",) and spec.root == cwd.resolve()


def test_equal_specs_compare_equal_whatever_their_positions(cwd: Path) -> None:
    a = resolve(cwd, BRIDGED.format(url="https://c.example.com"))
    b = resolve(cwd, "\n\n" + textwrap.dedent(BRIDGED.format(url="https://c.example.com")))
    assert a.deployments["prod"].providers["openai"].span != (
        b.deployments["prod"].providers["openai"].span
    )
    assert a.deployments == b.deployments


# -- sensitive values in fields that are not secrets ------------------------------------------

SENSITIVE = """\
    version: 1
    variables:
      tok: {{type: string, sensitive: true, default: tok-not-a-url-1}}
    deployments:
      dev:
        providers:
          openai:
            {field}
    """


def test_sensitive_value_in_base_url_is_a_diagnostic(cwd: Path) -> None:
    got = errors(
        cwd,
        SENSITIVE.format(field="base_url: https://${var.tok}.example.com/v1"),
        read_secrets=False,
    )
    assert [(d.summary, str(d.span)) for d in got] == [
        ("Sensitive value used in deployments.dev.providers.openai.base_url", "spec.yaml:8:19")
    ]


def test_sensitive_value_in_enum_field_is_an_error(cwd: Path) -> None:
    got = errors(cwd, SENSITIVE.format(field="wire_format: ${var.tok}"), read_secrets=False)
    assert [(d.summary, str(d.span)) for d in got] == [
        ("Sensitive value used in deployments.dev.providers.openai.wire_format", "spec.yaml:8:22")
    ]


def test_sensitive_values_are_kept_as_secrets_in_variables(cwd: Path) -> None:
    spec = resolve(cwd, SENSITIVE.format(field="display_name: plain"))
    assert isinstance(spec.variables["tok"], Secret)


def test_examples_resolve() -> None:
    for example in ("laptop-local-models", "gitops-aibridge/spec"):
        spec = load_spec(ROOT / "examples" / example, env=ENV).spec
        assert spec.deployments
        for d in spec.deployments.values():
            for p in d.providers.values():
                if p.bridge is not None:
                    assert p.base_url.startswith(d.coder.url + "/api/v2/aibridge/")
