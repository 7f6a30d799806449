#!/usr/bin/env bash
# Builds the C library (release, static) when it is missing or stale, then
# checks formatting, vets and runs the Go binding's tests under the race
# detector. `test.sh --bench` also runs the spawn benchmarks against os/exec
# (single spawn and 8-goroutine throughput).
#
# RR_REQUIRE_ALL_RUNNERS=1 makes a missing Linux runner (firejail, landrun,
# docker) fail the tests instead of skipping its cases.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

# cargo does nothing when the library is up to date.
(cd "$root" && cargo build --release --lib --quiet)

cd "$here"
unformatted="$(gofmt -l .)"
if [ -n "$unformatted" ]; then
    echo "gofmt needed for: $unformatted" >&2
    exit 1
fi
go vet ./...
# -count=1: the go command does not see the static library change, so a
# cached result could hide a rebuilt library.
go test -race -count=1 ./...

if [ "${1:-}" = "--bench" ]; then
    go test -run '^$' -bench . -benchtime 1x .
fi
