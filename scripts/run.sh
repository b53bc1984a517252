#!/usr/bin/env bash
# Run the lesson store API locally, from a fresh clone, with Python 3.11+.
#
#   ./scripts/run.sh              # http://127.0.0.1:8000 (docs at /docs)
#   ./scripts/run.sh --reload     # extra arguments go to uvicorn
#   HOST=0.0.0.0 PORT=9000 ./scripts/run.sh
#   PYTHON=/usr/bin/python3.12 ./scripts/run.sh
#
# It creates .venv and installs the project into it (`pip install -e .`; only again when pyproject.toml
# changes), creates .env from .env.example if there is none, loads the demo catalog (once), and starts
# uvicorn, and the bot beside it when TELEGRAM_BOT_TOKEN is set. The server creates/migrates the database
# itself on startup.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/_venv.sh
source scripts/_venv.sh

ensure_venv

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
from shared.config import DEFAULT_ADMIN_PASSWORDS, get_settings

s = get_settings()
password = s.ADMIN_PASSWORD.get_secret_value()
if password in DEFAULT_ADMIN_PASSWORDS:
    print(f"{s.ADMIN_USERNAME} / {password} (default; change ADMIN_PASSWORD in .env)")
else:
    print(f"{s.ADMIN_USERNAME} / the ADMIN_PASSWORD from your settings")
EOF
)"

echo
echo "Admin panel: http://$shown_host:$port/admin   API docs (Swagger): http://$shown_host:$port/docs"
echo "Admin login: $admin_login"

# The bot: long polling in a second process, unless the token is missing or the API takes a webhook.
bot_mode="$("$VENV_PY" -c '
from shared.config import get_settings
from shared.setup_checks import SetupError, check_bot_token
s = get_settings()
try:
    on = check_bot_token(s.TELEGRAM_BOT_TOKEN.get_secret_value())
except SetupError as error:
    print(f"off: {error}")
else:
    print("webhook" if on and s.WEBHOOK_URL else "polling" if on else "off")
')"

# Runs the bot and says so if it fails. When run.sh stops (Ctrl-C, TERM) it stops the bot, quietly: this
# subshell must not die of Ctrl-C first and leave the bot behind, still starting.
run_bot() {
    "$VENV_PY" -m bot &
    local pid=$! status=0
    trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; exit 0' INT TERM
    wait "$pid" || status=$?
    # The bot exits with 0 only when told to stop.
    if [[ $status -ne 0 ]]; then
        echo "The bot exited (status $status); see the lines above. The API keeps running without it." >&2
    fi
}

case "$bot_mode" in
    off) echo "Telegram bot: off (set TELEGRAM_BOT_TOKEN in .env to turn it on; the API runs without it)." ;;
    off:*) echo "Telegram bot: ${bot_mode#off: } (the API runs without the bot)." ;;
    webhook) echo "Telegram bot: webhook mode (the API receives updates at /telegram/webhook)." ;;
    polling)
        echo "Telegram bot: starting with long polling (python -m bot)."
        run_bot &
        bot_pid=$!
        trap 'kill -TERM "$bot_pid" 2>/dev/null; wait "$bot_pid" 2>/dev/null' EXIT INT TERM
        ;;
esac
echo
# --no-proxy-headers: uvicorn would believe X-Forwarded-For from 127.0.0.1; FORWARDED_ALLOW_IPS decides.
if [[ "$bot_mode" == polling ]]; then
    # Not exec: this shell stays to stop the bot when the server stops.
    "$VENV_PY" -m uvicorn backend.main:app --host "$host" --port "$port" --no-proxy-headers "$@"
else
    exec "$VENV_PY" -m uvicorn backend.main:app --host "$host" --port "$port" --no-proxy-headers "$@"
fi
