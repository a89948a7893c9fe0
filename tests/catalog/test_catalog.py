from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest

import provision.catalog as catalog_module
from provision.catalog import Catalog, CatalogEntry, load_catalog, parse_catalog
from provision.record import FrozenInstanceError, fields

REQUIRED_IDS = {
    "anthropic", "openai", "google", "xai", "deepseek", "openrouter", "ollama", "bedrock",
    "github-copilot", "azure-openai", "groq", "fireworks", "mistral", "cerebras", "together",
    "perplexity", "cohere", "moonshot", "zai", "huggingface", "vercel-ai-gateway", "vllm",
    "lmstudio", "llama-cpp", "litellm",
}  # fmt: skip

# reference/mux-providers.md, "Credentials: precedence and env fallback", keyed by Mux ID:
# (key env, base URL env, other env by setting).
MUX_ENV: dict[str, tuple[tuple[str, ...], tuple[str, ...], dict[str, tuple[str, ...]]]] = {
    "anthropic": (("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"), ("ANTHROPIC_BASE_URL",), {}),
    "openai": (
        ("OPENAI_API_KEY",),
        ("OPENAI_BASE_URL", "OPENAI_API_BASE"),
        {"organization": ("OPENAI_ORG_ID",)},
    ),
    "google": (("GOOGLE_GENERATIVE_AI_API_KEY", "GOOGLE_API_KEY"), ("GOOGLE_BASE_URL",), {}),
    "xai": (("XAI_API_KEY",), ("XAI_BASE_URL",), {}),
    "openrouter": (("OPENROUTER_API_KEY",), (), {}),
    "deepseek": (("DEEPSEEK_API_KEY",), (), {}),
    "moonshotai": (("MOONSHOT_API_KEY",), (), {}),
    "github-copilot": (("GITHUB_COPILOT_TOKEN",), (), {}),
    "bedrock": (
        (),
        (),
        {
            "region": ("AWS_REGION", "AWS_DEFAULT_REGION"),
            "bearer_token": ("AWS_BEARER_TOKEN_BEDROCK",),
            "profile": ("AWS_PROFILE",),
            "access_key_id": ("AWS_ACCESS_KEY_ID",),
            "secret_access_key": ("AWS_SECRET_ACCESS_KEY",),
        },
    ),
}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture
def real_text() -> Iterator[str]:
    yield resources.files("provision.catalog").joinpath("catalog.toml").read_text("utf-8")
    load_catalog.cache_clear()


def by_mux_id(catalog: Catalog, mux_id: str) -> CatalogEntry:
    (entry,) = [e for e in catalog.entries if e.mux_id == mux_id]
    return entry


def test_required_ids_present_and_sorted(catalog: Catalog) -> None:
    ids = [e.id for e in catalog.entries]
    assert set(ids) >= REQUIRED_IDS
    assert len(ids) >= 25
    assert ids == sorted(set(ids))


def test_load_is_cached() -> None:
    assert load_catalog() is load_catalog()


def test_public_surface() -> None:
    assert set(catalog_module.__all__) == {
        "AIBridgeRoute", "ApiKind", "AuthScheme", "Catalog", "CatalogEntry", "ClassifyHint",
        "HttpMethod", "MuxMode", "Outcome", "ProbeRecipe", "ProbeStep", "ResponseShape",
        "load_catalog", "parse_catalog",
    }  # fmt: skip


def test_every_probe_names_a_recipe(catalog: Catalog) -> None:
    for entry in catalog.entries:
        assert entry.probe in catalog.recipes, entry.id
        if entry.aibridge is not None:
            assert entry.aibridge.probe in catalog.recipes, entry.id
    assert "coder" in catalog.recipes


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("moonshotai", "moonshot"),
        ("lm-studio", "lmstudio"),
        ("llama.cpp", "llama-cpp"),
        ("z.ai", "zai"),
        ("gemini", "google"),
        ("azure", "azure-openai"),
        ("copilot", "github-copilot"),
        ("OpenAI", "openai"),
        (" groq ", "groq"),
    ],
)
def test_aliases_resolve(catalog: Catalog, name: str, expected: str) -> None:
    entry = catalog.get(name)
    assert entry is not None
    assert entry.id == expected


def test_unknown_name_is_none(catalog: Catalog) -> None:
    assert catalog.get("no-such-provider") is None
    assert catalog.get("") is None


def test_mux_builtin_mapping(catalog: Catalog) -> None:
    assert catalog.mux_builtin_ids == (
        "mux-gateway", "anthropic", "openai", "google", "xai", "deepseek", "moonshotai",
        "openrouter", "github-copilot", "coder", "bedrock", "ollama",
    )  # fmt: skip
    builtin = {e.mux_id for e in catalog.entries if e.mux == "builtin"}
    assert builtin <= set(catalog.mux_builtin_ids)
    assert set(catalog.mux_builtin_ids) - builtin == {"coder", "mux-gateway"}
    assert by_mux_id(catalog, "moonshotai").id == "moonshot"


def test_mux_representation_is_consistent(catalog: Catalog) -> None:
    for entry in catalog.entries:
        if entry.mux == "none":
            assert entry.mux_id is None
            assert entry.mux_reason
        else:
            assert entry.mux_id
            assert entry.mux_reason is None
        if entry.mux == "custom":
            assert catalog.is_valid_custom_id(entry.mux_id or "") is None, entry.id
    azure = catalog.get("azure-openai")
    assert azure is not None
    assert azure.mux == "none"
    assert "shell_exports" in (azure.mux_reason or "")


INVALID_TEXT = (
    "Custom provider id must start with a lowercase letter or digit and contain only"
    " lowercase letters, digits, underscores, and hyphens."
)
FORBIDDEN = 'Custom provider id must not contain ".", ":", "/", or whitespace.'


@pytest.mark.parametrize(
    ("provider_id", "reason"),
    [
        ("", "Custom provider id is required."),
        ("__proto__", 'Custom provider id "__proto__" is reserved.'),
        ("prototype", 'Custom provider id "prototype" is reserved.'),
        ("constructor", 'Custom provider id "constructor" is reserved.'),
        ("hasOwnProperty", 'Custom provider id "hasOwnProperty" is reserved.'),
        ("openai", 'Custom provider id "openai" conflicts with a built-in provider.'),
        ("coder", 'Custom provider id "coder" conflicts with a built-in provider.'),
        ("mux-gateway", 'Custom provider id "mux-gateway" conflicts with a built-in provider.'),
        ("local.vllm", FORBIDDEN),
        ("local:vllm", FORBIDDEN),
        ("local/vllm", FORBIDDEN),
        ("local vllm", FORBIDDEN),
        ("vllm\n", FORBIDDEN),
        ("a\ufeffb", FORBIDDEN),
        # Order: forbidden characters are reported before the pattern.
        ("Local.VLLM", FORBIDDEN),
        # Built-in matching is exact, so this one fails only the pattern.
        ("OpenAI", INVALID_TEXT),
        ("-vllm", INVALID_TEXT),
        ("_vllm", INVALID_TEXT),
        ("vllm!", INVALID_TEXT),
        ("local-vllm", None),
        ("llama-cpp", None),
        ("lm_studio", None),
        ("0day", None),
        ("moonshot", None),
    ],
)
def test_custom_id_rules(catalog: Catalog, provider_id: str, reason: str | None) -> None:
    assert catalog.is_valid_custom_id(provider_id) == reason


@pytest.mark.parametrize("mux_id", sorted(MUX_ENV))
def test_env_names_match_mux(catalog: Catalog, mux_id: str) -> None:
    key_env, base_url_env, extra_env = MUX_ENV[mux_id]
    entry = by_mux_id(catalog, mux_id)
    assert entry.key_env == key_env
    assert entry.base_url_env == base_url_env
    assert dict(entry.extra_env) == extra_env


def test_azure_env_names_match_mux_docs(catalog: Catalog) -> None:
    azure = catalog.get("azure-openai")
    assert azure is not None
    assert azure.key_env == ("AZURE_OPENAI_API_KEY",)
    assert azure.base_url_env == ("AZURE_OPENAI_ENDPOINT",)
    assert azure.extra_env["azure_deployment"] == ("AZURE_OPENAI_DEPLOYMENT",)
    assert azure.extra_env["api_version"][0] == "AZURE_OPENAI_API_VERSION"
    assert azure.base_url is None
    assert azure.base_url_required


@pytest.mark.parametrize(
    ("provider_id", "base_url", "needs_key"),
    [
        ("ollama", "http://localhost:11434", False),
        ("vllm", "http://localhost:8000/v1", False),
        ("lmstudio", "http://localhost:1234/v1", False),
        ("llama-cpp", "http://localhost:8080/v1", False),
        ("litellm", "http://localhost:4000/v1", True),
    ],
)
def test_local_servers(catalog: Catalog, provider_id: str, base_url: str, needs_key: bool) -> None:
    entry = catalog.get(provider_id)
    assert entry is not None
    assert (entry.base_url, entry.needs_key, entry.local) == (base_url, needs_key, True)


def test_bedrock_uses_the_aws_chain(catalog: Catalog) -> None:
    bedrock = catalog.get("bedrock")
    assert bedrock is not None
    assert not bedrock.needs_key
    assert set(bedrock.secret_options) == {"bearer_token", "access_key_id", "secret_access_key"}


def test_mux_options(catalog: Catalog) -> None:
    def options(provider_id: str) -> dict[str, str]:
        entry = catalog.get(provider_id)
        assert entry is not None
        return dict(entry.mux_options)

    assert options("openai")["service_tier"] == "serviceTier"
    assert options("openai")["wire_format"] == "wireFormat"
    assert options("openai")["organization"] == "organization"
    assert options("anthropic") == {
        "cache_ttl": "cacheTtl",
        "disable_beta_features": "disableBetaFeatures",
    }
    assert options("xai") == {
        "search_parameters": "searchParameters",
        "service_tier": "serviceTier",
    }
    assert options("bedrock")["bearer_token"] == "bearerToken"
    openrouter = catalog.get("openrouter")
    assert openrouter is not None
    assert openrouter.mux_flatten["routing"] == (
        "order", "allow_fallbacks", "only", "ignore", "require_parameters", "data_collection",
        "sort", "quantizations",
    )  # fmt: skip


def test_aibridge_routes(catalog: Catalog) -> None:
    bridged = {e.id: e.aibridge for e in catalog.entries if e.aibridge is not None}
    assert set(bridged) == {"openai", "anthropic"}
    openai, anthropic = bridged["openai"], bridged["anthropic"]
    assert openai is not None
    assert anthropic is not None
    assert openai.path_for() == "/api/v2/aibridge/openai/v1"
    assert openai.path_for("team-gpt") == "/api/v2/aibridge/team-gpt/v1"
    assert anthropic.path_for() == "/api/v2/aibridge/anthropic"


@pytest.mark.parametrize(
    ("recipe", "expected"),
    [
        ("openai", [("GET", "/models", "bearer", "data_list")]),
        ("together", [("GET", "/models", "bearer", "bare_list")]),
        ("anthropic", [("GET", "/v1/models", "x-api-key", "data_list")]),
        ("google", [("GET", "/v1beta/models?pageSize=1", "x-goog-api-key", "models_list")]),
        (
            "ollama",
            [
                ("GET", "/api/version", "none", "version"),
                ("GET", "/api/tags", "none", "models_list"),
            ],
        ),
        ("openrouter", [("GET", "/key", "bearer", "key_info")]),
        (
            "llama-cpp",
            [("GET", "/models", "none", "data_list"), ("GET", "/props", "bearer", "object")],
        ),
        (
            "azure-openai",
            [("GET", "/openai/models?api-version=2024-10-21", "api-key", "data_list")],
        ),
        (
            "bedrock",
            [
                (
                    "GET",
                    "https://bedrock.{region}.amazonaws.com/foundation-models",
                    "aws",
                    "model_summaries",
                )
            ],
        ),
        ("cohere", [("POST", "/v1/check-api-key", "bearer", "valid_flag")]),
        (
            "coder",
            [
                ("GET", "/api/v2/buildinfo", "none", "version"),
                ("GET", "/api/v2/users/me", "coder-session-token", "object"),
            ],
        ),
    ],
)
def test_recipes_follow_probes_reference(
    catalog: Catalog, recipe: str, expected: list[tuple[str, str, str, str]]
) -> None:
    steps = catalog.recipes[recipe].steps
    assert [(s.method, s.path or s.root_path or s.url, s.auth, s.expect) for s in steps] == expected


def test_recipe_details(catalog: Catalog) -> None:
    recipes = catalog.recipes
    assert recipes["anthropic"].steps[0].headers == {"anthropic-version": "2023-06-01"}
    (google,) = recipes["google"].classify
    assert (google.status, google.body_contains, google.outcome) == (
        400,
        "API_KEY_INVALID",
        "credential_rejected",
    )
    assert [(h.status, h.outcome) for h in recipes["xai"].classify] == [
        (400, "credential_rejected")
    ]
    assert recipes["llama-cpp"].steps[1].root_path == "/props"
    assert not recipes["llama-cpp"].steps[0].checks_credential
    copilot = recipes["github-copilot"]
    assert copilot.unofficial
    assert copilot.steps[1].credential == "token"


def test_to_json_round_trips(catalog: Catalog) -> None:
    document = catalog.to_json()
    assert json.loads(json.dumps(document)) == document
    assert [item["id"] for item in document] == [e.id for e in catalog.entries]
    names = {f.name for f in fields(CatalogEntry)}
    assert all(set(item) == names for item in document)


def test_values_are_read_only(catalog: Catalog) -> None:
    entry = catalog.entries[0]
    with pytest.raises(FrozenInstanceError):
        entry.id = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        entry.mux_options["x"] = "y"  # type: ignore[index]


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            'probe = "google"',
            'probe = "google"\nbsae_url = "x"',
            r"google: unknown field 'bsae_url'",
        ),
        ('probe = "google"', "", r"google: missing required field 'probe'"),
        ('probe = "google"', 'probe = "nope"', r"google\.probe: 'nope' is not a recipe"),
        ('api = "google"', 'api = "soap"', r"google\.api: 'soap' is not one of"),
        ('id = "groq"\n', 'id = "groq"\nmux_id = "grok.cloud"\n', r"groq\.mux_id: .*must not"),
        ('mux_id = "moonshotai"', 'mux_id = "kimi"', r"moonshot\.mux_id: 'kimi' is not a Mux"),
        ('aliases = ["gemini"]', 'aliases = ["grok"]', r"name 'grok' is already taken"),
        ("needs_key = false\nlocal = true", "needs_key = 1\nlocal = true", r"needs_key: must be"),
        ('credential = "token"', 'credential = "tokn"', r"steps\[2\]\.credential: 'tokn'"),
        ("base_url_required = true", "", r"azure-openai\.base_url_required: must be true"),
        ("[mux]\n", "[mux]\nextra = 1\n", r"mux: unknown field 'extra'"),
        ('id = "groq"', 'id = "groq', r"invalid TOML"),
    ],
)
def test_broken_catalog_raises(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, real_text: str, old: str, new: str,
    message: str,
) -> None:
    assert old in real_text
    broken = tmp_path / "catalog.toml"
    broken.write_text(real_text.replace(old, new, 1), encoding="utf-8")
    monkeypatch.setattr(catalog_module, "CATALOG_PATH", broken)
    load_catalog.cache_clear()
    with pytest.raises(RuntimeError, match=message):
        load_catalog()


def test_parse_catalog_accepts_the_shipped_text(real_text: str) -> None:
    assert parse_catalog(real_text).to_json() == load_catalog().to_json()


def test_import_stays_light() -> None:
    code = (
        "import sys, provision.catalog as c; c.load_catalog(); "
        "print(sorted({'httpx', 'jinja2', 'deepdiff', 'click'} & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
