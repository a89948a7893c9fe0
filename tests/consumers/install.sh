#!/usr/bin/env bash
# Installs the real consumers of what provision renders: Mux's JSONC parser (npm jsonc-parser),
# GitHub's own workflow parser (npm @actions/workflow-parser, the one behind the Actions language
# server) for the example's workflow file, and the shells. Idempotent; quiet when everything is
# already there.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
prefix="$here/../.consumers"
if [ ! -f "$prefix/node_modules/jsonc-parser/package.json" ] ||
   [ ! -f "$prefix/node_modules/@actions/workflow-parser/package.json" ]; then
  mkdir -p "$prefix"
  npm install --silent --no-audit --no-fund --prefix "$prefix" \
    jsonc-parser@3 @actions/workflow-parser@0.3 >/dev/null
fi
missing=()
for sh in zsh dash fish; do command -v "$sh" >/dev/null 2>&1 || missing+=("$sh"); done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "tests/consumers: missing shells: ${missing[*]} (install them; run as root to do it here)" >&2
  fi
fi
