#!/usr/bin/env bash
# The project's test command (what CI runs): lint (ruff, the import-layer contract, shellcheck), the fast
# pytest suite and the
# slow end-to-end recipe test. Brings the environment up first (a no-op when it is ready).
# Usage: ./run_tests.sh [--fast] [pytest args...]
#   --fast   skip the slow end-to-end test (plain `pytest` does the same)
# e.g.:  ./run_tests.sh
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")"
utils/setup_env.sh
. ./path.sh

markers="slow or not slow"
if [ "${1:-}" = "--fast" ]; then markers="not slow"; shift; fi

echo "== ruff" >&2
ruff check .
echo "== import layers (lint-imports, contract in pyproject.toml)" >&2
lint-imports --no-cache
echo "== shellcheck" >&2
mapfile -t shell_scripts < <(git ls-files -- '*.sh' 'path.sh' 'cmd.sh' '.ci/run' | sort -u)
shellcheck -x "${shell_scripts[@]}"
echo "== pytest" >&2
python -m pytest -m "$markers" "$@"
