#!/usr/bin/env bash
# The whole test suite: sets up the sandboxes the tests need (installs and
# starts them where missing), then runs lints, the Rust tests, the C tests
# (also under valgrind), the Go binding's tests and the Python package's.
# CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

suites_passed=0
suite() {
    local name=$1
    shift
    echo
    echo "==== $name"
    "$@"
    suites_passed=$((suites_passed + 1))
}

suite "environment (firejail, podman, docker API, test image)" tests/support/setup-env.sh
suite "rustfmt" cargo fmt --all -- --check
suite "clippy" cargo clippy --release --all-targets --quiet -- -D warnings
# The sandbox-exec runner lives on macOS: type-check the crate for it.
macos_check() {
    if rustup target list --installed 2>/dev/null | grep -q x86_64-apple-darwin ||
        timeout 300 rustup target add x86_64-apple-darwin >/dev/null 2>&1; then
        RUSTFLAGS="${RUSTFLAGS:-} -D warnings" cargo check --quiet --target x86_64-apple-darwin --all-targets
    else
        echo "macOS type-check: the x86_64-apple-darwin standard library cannot be installed here; not checked"
    fi
}
suite "type-check for macOS" macos_check
suite "build (release: .so, .a)" cargo build --release --quiet
suite "Rust tests" cargo test --release
suite "C tests" make -C tests/c test
# The same C tests through the Landlock runner (its commands need the system
# folders, and /proc for the fd checks).
LANDRUN_OPTS='{"allow_read_exec_folders":["/usr","/bin","/lib","/lib64"],"allow_read_folders":["/etc","/proc"]}'
suite "C tests under landrun" tests/c/build/test_abi landrun "$LANDRUN_OPTS"
suite "C tests under valgrind" make -C tests/c valgrind
if [ -x bindings/go/test.sh ]; then
    suite "Go binding tests" bindings/go/test.sh
fi
# Installs its venv, the MCP SDK and the npm MCP server (tests/support/setup-python.sh).
suite "Python package (ruff, mypy, pytest)" bindings/python/test.sh

echo
echo "suites: $suites_passed passed, 0 failed"
