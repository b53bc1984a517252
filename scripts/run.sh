#!/usr/bin/env bash
# Run the lesson store API locally, from a fresh clone, with Python 3.11+.
#
#   ./scripts/run.sh              # http://127.0.0.1:8000 (docs at /docs)
#   ./scripts/run.sh --reload     # extra arguments go to uvicorn
#   HOST=0.0.0.0 PORT=9000 ./scripts/run.sh
#   PYTHON=/usr/bin/python3.12 ./scripts/run.sh
#
# It creates .venv and installs requirements.txt (only again when that file changes),
# creates .env from .env.example if there is none, loads the demo catalog (once), and starts uvicorn.
# The server creates/migrates the database itself on startup.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/_venv.sh
source scripts/_venv.sh

ensure_venv .requirements.sha256 requirements.txt

if [[ ! -f .env ]]; then
    cp .env.example .env
    echo "Created .env from .env.example (development defaults; edit it to change settings)."
fi

echo "Loading demo data (skipped if the catalog already has lessons)..."
"$VENV_PY" -m backend.seed

host="${HOST:-127.0.0.1}"
port="${PORT:-8000}"
case "$host" in
    0.0.0.0 | "::" | "") shown_host=127.0.0.1 ;;
    *:*) shown_host="[$host]" ;;
    *) shown_host="$host" ;;
esac

# The admin account comes from the settings (environment, then .env, then defaults).
admin_login="$("$VENV_PY" - <<'EOF' 2>/dev/null || echo "see ADMIN_USERNAME / ADMIN_PASSWORD in .env"
from backend.config import DEFAULT_ADMIN_PASSWORDS, get_settings

s = get_settings()
password = s.ADMIN_PASSWORD.get_secret_value()
if password in DEFAULT_ADMIN_PASSWORDS:
    print(f"{s.ADMIN_USERNAME} / {password} (default; change ADMIN_PASSWORD in .env)")
else:
    print(f"{s.ADMIN_USERNAME} / the ADMIN_PASSWORD from your settings")
EOF
)"

echo
echo "API docs (Swagger): http://$shown_host:$port/docs   Admin login: $admin_login"
echo
exec "$VENV_PY" -m uvicorn backend.main:app --host "$host" --port "$port" "$@"
