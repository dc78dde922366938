#!/usr/bin/env bash
# Every test of the workspace: formatting, lints, unit / vector / property tests,
# the vector checker, the core's wasm32 build, and the live tests against real
# redis-server processes (started here on loopback, stopped on exit).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh

step() { printf '\n[test] %s\n' "$*"; }
run_dir=$(mktemp -d "${TMPDIR:-/tmp}/fencelock-test.XXXXXX")
cleanup() {
    conformance/live/servers.sh stop "$run_dir/servers" >/dev/null 2>&1 || true
    rm -rf "$run_dir"
}
trap cleanup EXIT INT TERM

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test (unit, doc, conformance vectors, property tests)"
cargo test --workspace --locked

step "conformance vectors: schema, descriptions, error codes"
.venv/bin/python conformance/tools/check_vectors.py

step "fencelock-core builds for wasm32-unknown-unknown (with and without serde)"
cargo build -p fencelock-core --target wasm32-unknown-unknown --release --locked
cargo build -p fencelock-core --target wasm32-unknown-unknown --release --locked --no-default-features

step "live tests against 6 redis-server processes (5 masters + 1 resource)"
conformance/live/servers.sh start-redis 6 "$run_dir/servers"
set -a
# shellcheck disable=SC1091
. "$run_dir/servers/env"
set +a
cargo test -p fencelock-live --locked -- --ignored --test-threads=1

step "all tests passed"
