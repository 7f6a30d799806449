#!/usr/bin/env bash
# Installs what the Python package's tests need, on a fresh machine too:
# a virtual environment (target/python-venv) holding the package itself
# (built with cargo by `pip install ./bindings/python[mcp]`, so the MCP SDK
# comes with it) and the test tools, and the reference MCP filesystem server
# from npm (target/mcp-node). Idempotent: a second run only checks and
# reinstalls the package (cargo does nothing when the library is current).
#
# Prints nothing else on success but its last line; the tests find both by
# these paths.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="$root/target/python-venv"
node_dir="$root/target/mcp-node"
# Pinned, so that every run tests the same servers and tools.
FS_SERVER="@modelcontextprotocol/server-filesystem@2026.8.31"
TOOLS=(pytest==9.2.0 pytest-timeout==2.4.0 mypy==2.4.1 ruff==0.17.6 build==1.6.1)

python="${PYTHON:-python3}"
command -v "$python" >/dev/null || { echo "setup-python: $python not found" >&2; exit 1; }
for bin in node npm cargo; do
    command -v "$bin" >/dev/null || { echo "setup-python: $bin not found (install Node.js, npm and Rust)" >&2; exit 1; }
done

if [ ! -x "$venv/bin/python" ]; then
    echo "setup-python: creating $venv"
    "$python" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip --disable-pip-version-check --quiet)
if ! "$venv/bin/python" -c 'import pytest, pytest_timeout, mypy, ruff, build' 2>/dev/null; then
    echo "setup-python: installing ${TOOLS[*]}"
    "${pip[@]}" install "${TOOLS[@]}"
fi
# Always: the package carries the library, which may have changed.
"${pip[@]}" install --force-reinstall --no-deps "$root/bindings/python"
if ! "$venv/bin/python" -c 'import mcp, anyio' 2>/dev/null; then
    echo "setup-python: installing the mcp extra"
    "${pip[@]}" install "$root/bindings/python[mcp]"
fi

if [ ! -f "$node_dir/node_modules/@modelcontextprotocol/server-filesystem/package.json" ] ||
    ! grep -q "\"version\": \"${FS_SERVER##*@}\"" "$node_dir/node_modules/@modelcontextprotocol/server-filesystem/package.json"; then
    echo "setup-python: installing $FS_SERVER"
    mkdir -p "$node_dir"
    (cd "$node_dir" && npm install --no-audit --no-fund --loglevel=error "$FS_SERVER" >/dev/null)
fi
# The oldest Python the package supports, when this machine has one (pyenv
# here): the sync and asyncio tests run under it too.
old_python="$(command -v python3.9 2>/dev/null || true)"
if ! { [ -n "$old_python" ] && "$old_python" -c '' 2>/dev/null; }; then
    old_python=""
    if command -v pyenv >/dev/null; then
        v="$(pyenv versions --bare 2>/dev/null | grep -E '^3\.9\.[0-9]+$' | tail -1 || true)"
        [ -n "$v" ] && old_python="$(pyenv root)/versions/$v/bin/python3.9"
    fi
fi
venv39="$root/target/python39-venv"
if [ -n "$old_python" ] && [ -x "$old_python" ]; then
    [ -x "$venv39/bin/python" ] || "$old_python" -m venv "$venv39"
    pip39=("$venv39/bin/python" -m pip --disable-pip-version-check --quiet)
    "$venv39/bin/python" -c 'import pytest, pytest_timeout, anyio' 2>/dev/null ||
        "${pip39[@]}" install pytest==8.4.2 pytest-timeout==2.4.0 "anyio>=4.9"
    "${pip39[@]}" install --force-reinstall --no-deps "$root/bindings/python"
else
    rm -rf "$venv39"
    echo "setup-python: no Python 3.9 on this machine; the package's 3.9 run is skipped"
fi
echo "setup-python: ready ($("$venv/bin/python" --version), $venv; $FS_SERVER in $node_dir)"
