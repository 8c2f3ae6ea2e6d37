# Sourced by the other scripts: creates .venv from a fresh clone and puts it first on PATH.
# (`.venv/bin/activate` is the onedata CLI, not the venv's shell script, so we never source it.)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
python_bin="${PYTHON:-$(command -v python3.11 || command -v python3)}"
if [ ! -x .venv/bin/python ]; then
    echo "==> creating .venv with $python_bin"
    "$python_bin" -m venv .venv
fi
# Extras to install: dev by default; scripts/test adds spark.
extras="${ONEDATA_EXTRAS:-dev}"
stamp=".venv/.installed-${extras//,/-}-$(cksum < pyproject.toml | cut -d' ' -f1)"
if [ ! -f "$stamp" ]; then
    echo "==> installing onedata and its tools into .venv"
    # The full pip log is kept, and shown only if the install fails.
    if ! { .venv/bin/python -m pip install --upgrade pip \
            && .venv/bin/python -m pip install -e ".[$extras]"; } > .venv/install.log 2>&1; then
        tail -n 40 .venv/install.log
        echo "pip install failed; the full log is .venv/install.log" >&2
        exit 1
    fi
    touch "$stamp"
fi
export PATH="$PWD/.venv/bin:$PATH"
