#!/usr/bin/env bash
# Installs what the package's tests need (tests/support/setup-python.sh),
# then lints (ruff), type-checks (mypy --strict) and runs the tests (pytest)
# against the installed package, and the sync and asyncio tests again under
# Python 3.9 where the machine has it. `test.sh --bench` then prints the
# benchmark against the standard library.
#
# RR_REQUIRE_ALL_RUNNERS=1 makes a missing runner (firejail, landrun,
# docker) or MCP server fail the tests instead of skipping them.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

"$root/tests/support/setup-python.sh"
py="$root/target/python-venv/bin/python"
cd "$here"
export DOCKER_HOST="${RR_DOCKER_SOCK:-${DOCKER_HOST:-unix:///tmp/rr-podman.sock}}"
unset RESTRICTED_RUNNER_LIB PYTHONPATH

"$py" -m ruff check --quiet .
"$py" -m ruff format --check --quiet .
"$py" -m mypy
"$py" -m pytest -q -p no:cacheprovider --timeout=1800 tests
if [ -x "$root/target/python39-venv/bin/python" ]; then
    echo "Python 3.9:"
    "$root/target/python39-venv/bin/python" -m pytest -q -p no:cacheprovider --timeout=900 tests/test_sync.py tests/test_async.py
fi

if [ "${1:-}" = "--bench" ]; then
    "$py" bench.py
fi
