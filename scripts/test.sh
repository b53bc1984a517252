#!/usr/bin/env bash
# Run the test suite (API and bot) with coverage (fails under 80%, see pyproject.toml).
#
#   ./scripts/test.sh                       # SQLite (a temporary file per run)
#   ./scripts/test.sh -k auth -x            # extra arguments go to pytest
#   TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test ./scripts/test.sh
#
# It creates .venv and installs the project with its test tools into it (`pip install -e '.[dev]'`;
# only again when pyproject.toml changes).
# No .env is needed: the tests set their own environment.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/_venv.sh
source scripts/_venv.sh

ensure_venv dev

if [[ -n "${TEST_DATABASE_URL:-}" ]]; then
    # Print the URL without its password, if it has one.
    echo "Tests run against TEST_DATABASE_URL=$(sed -E 's#//([^:/@]*):[^@]*@#//\1:***@#' <<<"$TEST_DATABASE_URL")"
fi
exec "$VENV_PY" -m pytest backend/tests/ bot/tests/ -v --cov=backend --cov=shared --cov=bot "$@"
