#!/bin/sh
# Create .venv-fuzz: the coverage-guided fuzzer (atheris) lives in its own
# virtual environment, apart from the test environment, because it ships a
# native libFuzzer build tied to one Python version.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-python3.11}
VENV="$ROOT/.venv-fuzz"
if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet --upgrade pip
# jsonschema checks every event against the shipped schema; splunk-sdk writes
# the XML stream exactly as the modular input does.
"$VENV/bin/pip" install --quiet atheris "jsonschema>=4.18" "splunk-sdk>=2.1,<3"
"$VENV/bin/pip" install --quiet --no-deps -e "$ROOT"
"$VENV/bin/python" -c "import atheris, esa_auth; print('atheris', atheris.__version__ if hasattr(atheris, '__version__') else '?', 'esa_auth', esa_auth.__version__)"
