#!/usr/bin/env bash
# The main job on an example, on a fresh machine with no network: start bridge-sim (a local
# stand-in for Coder with AI Bridge), then validate → plan → apply (probes every endpoint before
# writing) → plan again, which must show no changes. Files go to a temporary directory.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e .
provision=.venv/bin/provision

work="$(mktemp -d)"
sim=""
cleanup() { [ -n "$sim" ] && kill "$sim" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

# The token the stand-in accepts, as a workspace would have it: in the environment only.
CODER_SESSION_TOKEN="demo-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
export CODER_SESSION_TOKEN
PROVISION_BRIDGE_SIM_TOKEN="$CODER_SESSION_TOKEN" "$provision" bridge-sim \
  --ready-file "$work/url" >/dev/null 2>"$work/bridge-sim.log" &
sim=$!
for _ in $(seq 100); do [ -s "$work/url" ] && break; sleep 0.1; done
[ -s "$work/url" ] || { cat "$work/bridge-sim.log" >&2; exit 1; }
url="$(cat "$work/url")"

spec=examples/gitops-aibridge/spec
vars=(-var "prod_coder_url=$url" -var "staging_coder_url=$url" -var "out_dir=$work/out")
step() { printf '\n\033[1m$ provision %s\033[0m\n' "$*"; }

step validate -f "$spec"
"$provision" validate -f "$spec" "${vars[@]}"
step plan -f "$spec"
"$provision" plan -f "$spec" "${vars[@]}" -state "$work/state.json"
step apply -auto-approve -f "$spec"
"$provision" apply -auto-approve -f "$spec" "${vars[@]}" -state "$work/state.json"
step plan -detailed-exitcode -f "$spec"
"$provision" plan -detailed-exitcode -f "$spec" "${vars[@]}" -state "$work/state.json"
printf '\nRendered files:\n'
(cd "$work/out" && find . -type f | sort | sed 's/^/  /')
