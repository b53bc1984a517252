# shellcheck shell=bash
# Shared helpers for scripts/run.sh, scripts/test.sh and .ci/run (sourced, not executed).
#
#   ensure_venv STAMP_NAME REQUIREMENTS_FILE [EXTRA_FILE_TO_HASH ...]
#
# Creates .venv with Python 3.11+ if it is missing, then installs REQUIREMENTS_FILE into it.
# The install is skipped when the sha256 of the requirements file(s) matches the stamp file
# .venv/STAMP_NAME written after the last successful install.

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

# sha256 of the given files (and of the venv's Python version), computed with the venv's Python.
_requirements_hash() {
    "$VENV_PY" - "$@" <<'EOF'
import hashlib
import sys

digest = hashlib.sha256(sys.version.encode())
for path in sys.argv[1:]:
    with open(path, "rb") as fh:
        digest.update(path.encode() + b"\0" + fh.read() + b"\0")
print(digest.hexdigest())
EOF
}

ensure_venv() {
    local stamp_name="$1" requirements="$2"
    shift 2
    local stamp="$VENV_DIR/$stamp_name"

    if [[ ! -x "$VENV_PY" ]]; then
        local python
        python="$(find_python)" || return 1
        echo "Creating virtual environment $VENV_DIR with $("$python" --version 2>&1) ($python)"
        if ! "$python" -m venv "$VENV_DIR"; then
            echo "error: could not create $VENV_DIR (on Debian/Ubuntu: apt install python3-venv)." >&2
            return 1
        fi
    fi

    local wanted current=""
    wanted="$(_requirements_hash "$requirements" "$@")"
    [[ -f "$stamp" ]] && current="$(<"$stamp")"
    if [[ "$wanted" != "$current" ]]; then
        echo "Installing $requirements into $VENV_DIR (this may take a minute)..."
        "$VENV_PY" -m pip install --quiet --disable-pip-version-check -r "$requirements"
        echo "$wanted" >"$stamp"
    fi
}
