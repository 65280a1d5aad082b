#!/usr/bin/env bash
# The test command: sets up .venv with the test extras, builds the package and runs the suite.
# Arguments go to pytest (e.g. scripts/test.sh -k tracker -x).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
. scripts/env.sh
exec python -m pytest test "$@"
