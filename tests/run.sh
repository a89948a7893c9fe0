#!/usr/bin/env bash
# The whole test suite from a fresh machine with only Python and pip: a local virtualenv, the
# project with its dev extras, the real consumers the renderers are tested against (npm
# jsonc-parser, bash/zsh/dash/fish), then lint, types and pytest. Arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]'
bash tests/consumers/install.sh
.venv/bin/ruff check provision tests bench
.venv/bin/mypy
exec .venv/bin/python -m pytest "$@"
