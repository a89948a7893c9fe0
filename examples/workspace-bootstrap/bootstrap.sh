#!/usr/bin/env bash
# Coder workspace startup script: install provision, apply the workspace spec for the workspace
# owner (non-interactive, probes first), and hook `provision env` into the shell rc files.
# Safe to run at every start: a restart with the same token changes nothing ("No changes.").
#
# From the agent environment (set by the template, see README.md):
#   CODER_SESSION_TOKEN  the owner's session token (data.coder_workspace_owner.me.session_token)
#   CODER_URL            the access URL (data.coder_workspace.me.access_url); when unset, the
#                        agent's own CODER_AGENT_URL is used
# Optional:
#   PROVISION_SPEC       the spec file (default: provision.yaml beside this script)
#   PROVISION_SRC        what pip installs (default: the pinned release below); a local checkout
#                        works too. The venv is reinstalled only when this value changes.
#   PROVISION_PYTHON     Python >= 3.11 with venv (default: python3)
set -euo pipefail

say() { printf 'provision-bootstrap: %s\n' "$*"; }
die() { say "$*" >&2; exit 1; }

src="${PROVISION_SRC:-git+https://github.com/your-org/provision@v0.1.0}"
python="${PROVISION_PYTHON:-python3}"
spec="${PROVISION_SPEC:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/provision.yaml}"

[ -n "${CODER_SESSION_TOKEN:-}" ] ||
  die "CODER_SESSION_TOKEN is not set: the template must set it to data.coder_workspace_owner.me.session_token"
coder_url="${CODER_URL:-${CODER_AGENT_URL:-}}"
coder_url="${coder_url%/}"
case "$coder_url" in
  http://?* | https://?*) ;;
  *) die "no Coder URL: set CODER_URL (data.coder_workspace.me.access_url) in the template" ;;
esac
case "$coder_url" in
  *[[:space:]\"\\]*) die "the Coder URL contains a space, a quote or a backslash: $coder_url" ;;
esac
[ -r "$spec" ] || die "spec not found: $spec (set PROVISION_SPEC)"

venv="$HOME/.local/share/provision/venv"
conf="$HOME/.config/provision/workspace"
state="$HOME/.local/state/provision/workspace.json"
provision="$venv/bin/provision"

# 1. Install, once per PROVISION_SRC (a restart with the same value skips this).
if [ ! -x "$provision" ] || [ "$(cat "$venv/.provision-src" 2>/dev/null)" != "$src" ]; then
  say "installing provision from $src"
  "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
    die "$python is older than 3.11"
  rm -rf "$venv"
  "$python" -m venv "$venv" || die "cannot create a venv (Debian/Ubuntu: apt-get install python3-venv)"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$src"
  printf '%s\n' "$src" >"$venv/.provision-src"
else
  say "provision already installed ($("$provision" --version))"
fi

# 2. The spec and this workspace's URL, where apply and the shell hook both find them.
mkdir -p "$conf" "$(dirname "$state")"
cp "$spec" "$conf/provision.yaml"
printf '# Written by bootstrap.sh at workspace start.\ncoder_url: "%s"\n' "$coder_url" \
  >"$conf/coder.auto.vars.yaml"

# 3. Apply for the workspace owner: probes AI Bridge with the owner's token, then writes. A
#    failure (AI Bridge down, a managed entry edited in Mux's settings) still gets the shell
#    hook below, and is this script's exit status.
status=0
"$provision" -no-color apply -auto-approve -input=false -f "$conf" -state "$state" || status=$?

# 4. The shell hook, added once. It runs `provision env` in each new shell, so exports follow
#    the spec and the current token without another apply.
marker="# provision: LLM provider environment (workspace-bootstrap)"
hook() {
  printf '%s\n' "$marker"
  printf 'if [ -n "${CODER_SESSION_TOKEN:-}" ] && [ -x "$HOME/.local/share/provision/venv/bin/provision" ]; then\n'
  printf '  eval "$("$HOME/.local/share/provision/venv/bin/provision" env -d workspace --shell %s -f "$HOME/.config/provision/workspace")"\n' "$1"
  printf 'fi\n'
}
add_hook() {  # rc file, shell
  if grep -qxF "$marker" "$1" 2>/dev/null; then
    say "$1 already runs provision env"
  else
    { printf '\n'; hook "$2"; } >>"$1"
    say "added provision env to $1"
  fi
}
add_hook "$HOME/.bashrc" bash
if [ -f "$HOME/.zshrc" ] || command -v zsh >/dev/null 2>&1; then
  add_hook "$HOME/.zshrc" zsh
fi
exit "$status"
