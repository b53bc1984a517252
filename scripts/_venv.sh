# shellcheck shell=bash
# Shared helpers for scripts/run.sh, scripts/test.sh and .ci/run (sourced, not executed).
#
#   ensure_venv [EXTRA]
#
# Creates .venv with Python 3.11+ if it is missing, then installs the project into it, editable:
# `pip install -e .` (the app), or `pip install -e '.[EXTRA]'` (EXTRA=dev: also the test tools).
# The install is skipped when pyproject.toml's [build-system], [project] and [tool.setuptools] have not
# changed since the last one with those extras (the stamp file .venv/.install.sha256); an install with
# the dev extra also serves the app.

VENV_DIR="${VENV_DIR:-.venv}"
VENV_PY="$VENV_DIR/bin/python"

# Prints the first Python 3.11+ interpreter found (PYTHON overrides the search).
find_python() {
    local candidate candidates=(python3.11 python3.12 python3.13 python3.14 python3 python)
    [[ -n "${PYTHON:-}" ]] && candidates=("$PYTHON")
    for candidate in "${candidates[@]}"; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; then
            command -v "$candidate"
            return 0
        fi
    done
    echo "error: Python 3.11 or newer was not found${PYTHON:+ (PYTHON=$PYTHON)}." >&2
    echo "       Install it, or point PYTHON at it: PYTHON=/path/to/python3.11 $0" >&2
    return 1
}

# sha256 of what in pyproject.toml decides the install (not the tools' settings) and of the venv's Python
# version, computed with the venv's Python.
_project_hash() {
    "$VENV_PY" - <<'EOF'
import hashlib
import json
import sys
import tomllib

with open("pyproject.toml", "rb") as fh:
    pyproject = tomllib.load(fh)
install = [pyproject.get("build-system"), pyproject.get("project"), pyproject.get("tool", {}).get("setuptools")]
print(hashlib.sha256((sys.version + json.dumps(install, sort_keys=True)).encode()).hexdigest())
EOF
}

ensure_venv() {
    local extra="${1:-}"
    local stamp="$VENV_DIR/.install.sha256"

    if [[ ! -x "$VENV_PY" ]]; then
        local python
        python="$(find_python)" || return 1
        echo "Creating virtual environment $VENV_DIR with $("$python" --version 2>&1) ($python)"
        if ! "$python" -m venv "$VENV_DIR"; then
            echo "error: could not create $VENV_DIR (on Debian/Ubuntu: apt install python3-venv)." >&2
            return 1
        fi
    fi

    local hash installed=""
    hash="$(_project_hash)"
    [[ -f "$stamp" ]] && installed="$(<"$stamp")"
    # The stamp reads "<hash> <extra>"; the dev extra includes everything the app needs.
    if [[ "$installed" == "$hash $extra" || "$installed" == "$hash dev" ]]; then
        return 0
    fi
    local target=".${extra:+[$extra]}"
    echo "Installing $target (pyproject.toml) into $VENV_DIR (this may take a minute)..."
    "$VENV_PY" -m pip install --quiet --disable-pip-version-check -e "$target"
    echo "$hash $extra" >"$stamp"
}
