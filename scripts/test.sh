#!/usr/bin/env bash
# Run the test suite (API, panel, bot and jobs) with coverage (fails under 80%, see pyproject.toml).
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
# The Redis mode's tests (shared rate limiter, `python -m worker` processes) use TEST_REDIS_URL: by default
# database 2 of a Redis on this machine, when one answers; they are skipped without one.
if [[ -z "${TEST_REDIS_URL:-}" ]]; then
    if "$VENV_PY" -c 'import redis, sys; redis.Redis(socket_timeout=2).ping()' 2>/dev/null; then
        export TEST_REDIS_URL="redis://127.0.0.1:6379/2"
    else
        echo "No Redis at 127.0.0.1:6379: the Redis mode's tests are skipped (set TEST_REDIS_URL to run them)."
    fi
fi
exec "$VENV_PY" -m pytest -v --cov=backend --cov=shared --cov=bot --cov=worker "$@"
