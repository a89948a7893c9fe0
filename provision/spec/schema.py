"""The spec language v1 as one JSON Schema (draft 2020-12).

This document is printed by `provision schema` for editors and is also what
`provision.spec.jsonschema` validates every spec against, so the two cannot drift. Fields that
take a number or true/false also accept a whole-string interpolation ("${var.x}"); the resolver
validates again after interpolation with that alternative switched off.
"""

from __future__ import annotations

from functools import cache
from typing import Any

SCHEMA_ID = "https://provision.dev/schema/spec-v1.json"

TARGET_TYPES = ("mux_providers", "coder_agent_env", "shell_exports", "template")
VARIABLE_TYPES = ("string", "number", "bool", "list", "map")
NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_-]*$"
VARIABLE_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
BRIDGE_INSTANCE_PATTERN = r"^[a-z0-9]+(-[a-z0-9]+)*$"

_INTERP = {"$ref": "#/$defs/interpolation"}


def _or_interp(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, _INTERP]}


def _bool(description: str) -> dict[str, Any]:
    return {**_or_interp({"type": "boolean"}), "description": description}


def _str(description: str, **extra: Any) -> dict[str, Any]:
    if "pattern" in extra:
        return {**_or_interp({"type": "string", **extra}), "description": description}
    return {"type": "string", "description": description, **extra}


def _enum(description: str, *values: str) -> dict[str, Any]:
    return {**_or_interp({"enum": list(values)}), "description": description}


def _secret(description: str) -> dict[str, Any]:
    return {"$ref": "#/$defs/secret", "description": description}


def _strings(description: str) -> dict[str, Any]:
    return {**_or_interp({"type": "array", "items": {"type": "string"}}),
            "description": description}


def _env_map(description: str) -> dict[str, Any]:
    return {
        "type": "object",
        "description": description,
        "propertyNames": {
            "pattern": ENV_NAME_PATTERN,
            "x-message": "Invalid environment variable name",
        },
        "additionalProperties": {"$ref": "#/$defs/secret"},
    }


_MODEL_PARAMETERS = {
    "type": "object",
    "description": "Per-model defaults (Mux `modelParameters`); unknown keys pass through as "
    "provider-specific options.",
    "properties": {
        "max_output_tokens": _or_interp({"type": "integer", "minimum": 1}),
        "temperature": _or_interp({"type": "number", "minimum": 0, "maximum": 2}),
        "top_p": _or_interp({"type": "number", "minimum": 0, "maximum": 1}),
        "top_k": _or_interp({"type": "integer", "minimum": 1}),
        "seed": _or_interp({"type": "integer"}),
        "frequency_penalty": _or_interp({"type": "number"}),
        "presence_penalty": _or_interp({"type": "number"}),
    },
}

_MODEL_ENTRY = {
    "anyOf": [
        {"type": "string", "minLength": 1},
        {
            "type": "object",
            "properties": {
                "id": {"type": "string", "minLength": 1},
                "context_window_tokens": _or_interp({"type": "integer", "minimum": 1}),
                "mapped_to_model": {"type": "string", "minLength": 1},
            },
            "required": ["id"],
            "additionalProperties": False,
        },
    ],
    "description": "A model ID, or {id, context_window_tokens, mapped_to_model}.",
}

_ROUTING = {
    "type": "object",
    "description": "OpenRouter provider routing (sent as extraBody.provider).",
    "properties": {
        "order": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
                  "description": "Providers to try first, in order."},
        "allow_fallbacks": _bool("Try other providers when the preferred ones fail."),
        "only": _strings("Use only these providers."),
        "ignore": _strings("Never use these providers."),
        "require_parameters": _bool("Only providers that support every request parameter."),
        "data_collection": _enum("Training-data policy.", "allow", "deny"),
        "sort": _str("Sort providers by price, throughput or latency."),
        "quantizations": _strings("Allowed quantizations."),
    },
    "additionalProperties": False,
}

_PROBE = {
    "type": "object",
    "description": "How `apply` and `provision probe` check this endpoint.",
    "properties": {
        "enabled": _bool("Probe this endpoint (default true)."),
        "required": _bool("A failed probe stops apply (default true); false makes it a warning."),
        "path": _str("Request path relative to the base URL, overriding the catalog recipe.",
                     pattern="^/"),
        "method": _enum("HTTP method.", "GET", "HEAD", "POST"),
        "expect": {
            "type": "object",
            "properties": {
                "status": _or_interp({"type": "array", "items": {"type": "integer"},
                                      "minItems": 1}),
                "shape": {"enum": ["data_list", "bare_list", "models_list",
                                   "model_summaries", "key_info", "version", "valid_flag",
                                   "object", "validation_error"]},
            },
            "additionalProperties": False,
        },
        "timeout": _or_interp({"type": "number", "exclusiveMinimum": 0}),
        "ca_bundle": _str("PEM file of CA certificates to trust for this endpoint."),
    },
    "additionalProperties": False,
}

_PROVIDER = {
    "type": "object",
    "description": "One provider, keyed by its Mux provider ID.",
    "properties": {
        "catalog": _str("Catalog entry this provider is an instance of (defaults to the key)."),
        "via": _enum("Route through the deployment's Coder AI Bridge.", "aibridge"),
        "aibridge_instance": _str("Named AI Bridge instance (default: the API kind).",
                                  pattern=BRIDGE_INSTANCE_PATTERN),
        "base_url": _str("API base URL (defaults to the catalog's)."),
        "api_key": _secret("API key."),
        "api_key_file": _str("File holding the API key (Mux apiKeyFile)."),
        "headers": {
            "type": "object",
            "description": "Extra HTTP headers.",
            "additionalProperties": {"$ref": "#/$defs/secret"},
        },
        "models": {**_or_interp({"type": "array", "items": _MODEL_ENTRY}),
                   "description": "Models to list in Mux's model picker."},
        "model_parameters": {
            "type": "object",
            "description": 'Model ID or "*" → parameters.',
            "propertyNames": {"minLength": 1},
            "additionalProperties": _MODEL_PARAMETERS,
        },
        "display_name": _str("Label shown in Mux.", minLength=1),
        "enabled": _bool("false keeps the entry but switches the provider off."),
        "allow_insecure": _bool("Allow sending the credential over plain http to a remote host."),
        "organization": _str("OpenAI organization."),
        "service_tier": _enum("Service tier.", "auto", "default", "flex", "priority"),
        "wire_format": _enum("OpenAI wire format.", "responses", "chat_completions"),
        "store": _bool("OpenAI `store`."),
        "codex_oauth_default_auth": _enum("OpenAI: default auth for Codex.", "oauth", "apiKey"),
        "default_model": _str("OpenAI: default model."),
        "api_version": _str("OpenAI: API version (Azure-style deployments). Azure OpenAI: "
                            "AZURE_OPENAI_API_VERSION."),
        "azure_deployment": _str("Azure OpenAI: the deployment name (AZURE_OPENAI_DEPLOYMENT).",
                                 minLength=1),
        "websocket_transport_enabled": _bool("OpenAI: use the WebSocket transport."),
        "cache_ttl": _enum("Anthropic prompt cache TTL.", "5m", "1h"),
        "disable_beta_features": _bool("Anthropic: disable beta features."),
        "search_parameters": {"type": "object", "description": "xAI live search parameters."},
        "region": _str("AWS region (Bedrock)."),
        "profile": _str("AWS profile (Bedrock)."),
        "bearer_token": _secret("Bedrock API key."),
        "access_key_id": _secret("AWS access key ID (Bedrock)."),
        "secret_access_key": _secret("AWS secret access key (Bedrock)."),
        "routing": _ROUTING,
        "probe": _PROBE,
    },
    "additionalProperties": False,
}

_USE = {
    "type": "array",
    "description": "Modules contributing providers (and targets) to this deployment.",
    "items": {
        "type": "object",
        "properties": {
            "module": _str("Module name (modules/<name>) or a relative path ./…", minLength=1),
            "with": {"type": "object", "description": "Module inputs."},
        },
        "required": ["module"],
        "additionalProperties": False,
    },
}

_PROVIDERS = {
    "type": "object",
    "description": "Providers by Mux provider ID.",
    "propertyNames": {"minLength": 1},
    "additionalProperties": {"$ref": "#/$defs/provider"},
}

_DEPLOYMENT = {
    "type": "object",
    "properties": {
        "description": _str("What this deployment is."),
        "coder": {
            "type": "object",
            "description": "The Coder deployment whose AI Bridge bridged providers use.",
            "properties": {
                "url": _str("Coder access URL, e.g. https://coder.example.com."),
                "token": _secret("Coder session token or API key."),
                "allow_insecure": _bool("Allow sending the token over plain http to a remote "
                                        "host."),
            },
            "required": ["url", "token"],
            "additionalProperties": False,
        },
        "providers": _PROVIDERS,
        "use": _USE,
    },
    "additionalProperties": False,
}


def _target_type(name: str, properties: dict[str, Any], required: tuple[str, ...] = ()) -> Any:
    then: dict[str, Any] = {"properties": properties}
    if required:
        then["required"] = list(required)
    return {"if": {"properties": {"type": {"const": name}}, "required": ["type"]}, "then": then}


_TARGET = {
    "type": "object",
    "properties": {
        "type": {"enum": list(TARGET_TYPES), "description": "What this target renders."},
        "deployment": _str("The deployment whose providers this target renders."),
        "path": _str("Output file; `~` is expanded, relative paths are from the spec root."),
        "description": _str("What this target is for."),
        "providers": _strings("Only these provider IDs (default: all of the deployment's)."),
        "follow_symlinks": _bool("Allow writing through a symlinked output file."),
    },
    "required": ["type", "deployment"],
    "allOf": [
        _target_type("mux_providers", {
            "secrets": _enum("Where API keys go.", "inline", "file", "env"),
            "secrets_dir": _str("Directory for key files when secrets: file."),
        }),
        _target_type("coder_agent_env", {
            "style": _enum("Terraform shape.", "coder_env", "locals", "env_block", "tf_json"),
            "agent": _str("The coder_agent resource address (default coder_agent.main)."),
            "workspace_data": _str("Data source for the access URL."),
            "owner_data": _str("Data source for the session token."),
            "declare_data_sources": _bool("Declare the two data sources in the output."),
            "locals_name": _str("Name of the local map (style: locals).",
                                pattern=VARIABLE_NAME_PATTERN),
            "env": _env_map("Extra variables."),
        }),
        _target_type("shell_exports", {
            "dialect": _enum("Shell dialect.", "posix", "fish", "powershell", "dotenv"),
            "secrets": _enum("inline: values in the file; reference: refer to the env var the "
                             "secret came from.", "inline", "reference"),
            "env": _env_map("Extra variables."),
        }),
        _target_type("template", {
            "template": _str("Jinja2 template file, relative to the spec root."),
        }, required=("template", "path")),
    ],
    "unevaluatedProperties": False,
}

_VARIABLE = {
    "type": "object",
    "properties": {
        "type": {"enum": list(VARIABLE_TYPES)},
        "description": _str("What the variable is for."),
        "default": {"description": "Value when none is given; no default makes it required."},
        "sensitive": _bool("Treat the value as a secret everywhere."),
    },
    "additionalProperties": False,
}

_DEFS: dict[str, Any] = {
    "interpolation": {
        "type": "string",
        "pattern": r"^\$\{[^}]+\}$",
        "description": "A whole-string reference: ${var.NAME} or ${env.NAME}.",
    },
    "secret_source": {
        "type": "object",
        "description": "Read a secret at plan/apply time.",
        "properties": {
            "env": _str("Environment variable.", pattern=ENV_NAME_PATTERN),
            "file": _str("File (trimmed); `~` expanded, relative to the spec root."),
            "env_list": _str("Environment variable holding candidate keys, separated by , or ;.",
                             pattern=ENV_NAME_PATTERN),
            "env_keys": _str("Rotation by convention for a prefix such as OPENAI: "
                             "PROVISION_LIVE_<P>_KEY, <P>_API_KEYS, <P>_API_KEY, <P>_API_KEY_1…",
                             pattern=ENV_NAME_PATTERN),
        },
        "minProperties": 1,
        "additionalProperties": False,
    },
    "secret": {"anyOf": [{"type": "string"}, {"$ref": "#/$defs/secret_source"}]},
    "provider": _PROVIDER,
    "variable": _VARIABLE,
}


@cache
def spec_schema() -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "provision spec v1",
        "type": "object",
        "properties": {
            "$schema": {"type": "string"},
            "version": {"const": 1, "description": "Spec language version; must be 1."},
            "variables": {
                "type": "object",
                "propertyNames": {"pattern": VARIABLE_NAME_PATTERN,
                                  "x-message": "Invalid variable name"},
                "additionalProperties": {"$ref": "#/$defs/variable"},
            },
            "deployments": {
                "type": "object",
                "propertyNames": {"pattern": NAME_PATTERN, "x-message": "Invalid deployment name"},
                "additionalProperties": _DEPLOYMENT,
            },
            "targets": {
                "type": "object",
                "propertyNames": {"pattern": NAME_PATTERN, "x-message": "Invalid target name"},
                "additionalProperties": _TARGET,
            },
        },
        "additionalProperties": False,
        "$defs": _DEFS,
    }


@cache
def module_schema() -> dict[str, Any]:
    """modules/<name>/module.yaml: typed inputs plus the providers/targets it contributes."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "provision module v1",
        "type": "object",
        "properties": {
            "version": {"const": 1},
            "description": _str("What the module contributes."),
            "inputs": {
                "type": "object",
                "propertyNames": {"pattern": VARIABLE_NAME_PATTERN,
                                  "x-message": "Invalid input name"},
                "additionalProperties": {"$ref": "#/$defs/variable"},
            },
            "providers": _PROVIDERS,
            "targets": {
                "type": "object",
                "description": "Targets added for each deployment using the module.",
                "additionalProperties": {**_TARGET, "required": ["type"]},
            },
            "use": _USE,
        },
        "required": ["version"],
        "additionalProperties": False,
        "$defs": _DEFS,
    }
