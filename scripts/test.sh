#!/usr/bin/env bash
# Every test of the workspace: formatting, lints, unit / vector / property tests,
# the vector checker, the core's wasm32 build, and the live tests against real
# redis-server, etcd, ZooKeeper and PostgreSQL processes (started here on loopback,
# stopped on exit).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh

step() { printf '\n[test] %s\n' "$*"; }
run_dir=$(mktemp -d "${TMPDIR:-/tmp}/fencelock-test.XXXXXX")
cleanup() {
    conformance/live/servers.sh stop "$run_dir/servers" >/dev/null 2>&1 || true
    for dir in "$run_dir"/py-servers "$run_dir"/py-fresh/*/ "$run_dir"/node-servers/*/servers; do
        conformance/live/servers.sh stop "$dir" >/dev/null 2>&1 || true
    done
    for dir in "$run_dir"/wasm-servers/*/redis "$run_dir"/wasm-servers/*/etcd; do
        conformance/live/servers.sh stop "$dir" >/dev/null 2>&1 || true
    done
    conformance/live/servers.sh stop "$run_dir/etcd" >/dev/null 2>&1 || true
    conformance/live/servers.sh stop "$run_dir/etcd-cluster" >/dev/null 2>&1 || true
    for dir in "$run_dir"/zookeeper "$run_dir"/zookeeper-ensemble "$run_dir"/postgres; do
        conformance/live/servers.sh stop "$dir" >/dev/null 2>&1 || true
    done
    rm -rf "$run_dir"
}
trap cleanup EXIT INT TERM

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings
# The core's other feature sets (the wasm builds below use them) must be clean too.
cargo clippy -p fencelock-core --lib --locked --no-default-features -- -D warnings
cargo clippy -p fencelock-core --lib --locked --no-default-features --features etcd-gateway -- -D warnings

step "cargo test (unit, doc, conformance vectors, property tests)"
cargo test --workspace --locked

step "conformance vectors: schema, descriptions, error codes"
.venv/bin/python conformance/tools/check_vectors.py

# The Python binding was built and installed into .venv by setup.sh (pip install
# ./bindings-py). Its live tests get their own 6 redis-servers, started here, and
# start more for the tests that SIGSTOP / SIGKILL masters, plus one etcd member, one
# ZooKeeper server, a 3-server ensemble and one PostgreSQL of their own (all under
# py-fresh/, stopped by the fixtures and again by cleanup), so they never share
# servers with the Rust live tests below. Any skipped or xfailed test fails the run.
step "Python binding: ruff, mypy --strict on the examples, pytest (every vector, bad input, live tests on Redis, etcd, ZooKeeper, PostgreSQL)"
(cd bindings-py && ../.venv/bin/ruff check . && ../.venv/bin/ruff format --check .)
(cd bindings-py && ../.venv/bin/mypy --strict examples)
conformance/live/servers.sh start-redis 6 "$run_dir/py-servers" >/dev/null
(
    set -a
    # shellcheck disable=SC1091
    . "$run_dir/py-servers/env"
    set +a
    FENCELOCK_SERVERS_DIR="$run_dir/py-fresh" .venv/bin/python -m pytest -q -rxs bindings-py/tests
)
conformance/live/servers.sh stop "$run_dir/py-servers" >/dev/null

# The Node binding was built by setup.sh (npm ci in bindings-node runs its install
# script: cargo build of the native module). npm test compiles the TypeScript
# tests and runs them with node --test: every vector and codec vector, bad input,
# and the live tests, each file on servers of its own (redis-server, etcd,
# ZooKeeper, a 3-server ZooKeeper ensemble, PostgreSQL; started under
# node-servers/, so they never share servers with the Rust live tests below). Any
# skipped or todo test fails the run.
step "Node binding: tsc --noEmit on the types, examples and tests; npm test (every vector, bad input, live tests on Redis, etcd, ZooKeeper, PostgreSQL)"
(cd bindings-node && npx --no-install tsc --noEmit -p tsconfig.json)
mkdir -p "$run_dir/node-servers"
(cd bindings-node && FENCELOCK_SERVERS_DIR="$run_dir/node-servers" npm test) | tee "$run_dir/node-test.log"
if ! grep -qx '# skipped 0' "$run_dir/node-test.log" || ! grep -qx '# todo 0' "$run_dir/node-test.log"; then
    echo "[test] Node binding: a test was skipped (every test, live ones included, must run here)" >&2
    exit 1
fi

# The wasm binding: the build script (cargo for wasm32, wasm-bindgen for the web and
# nodejs targets, binaryen's wasm-opt; prints the .wasm size), tsc on its types,
# examples and tests, then npm test: every vector under Node, bad input, the workerd
# tests (a Worker taking etcd and Redlock locks against servers of its own, started
# under wasm-servers/) and every vector in headless Chromium.
step "wasm binding: build, tsc --noEmit, npm test (every vector in Node, bad input, workerd, Chromium)"
(cd bindings-wasm && node scripts/build.mjs)
(cd bindings-wasm && npx --no-install tsc --noEmit -p tsconfig.json)
mkdir -p "$run_dir/wasm-servers"
(cd bindings-wasm && FENCELOCK_SERVERS_DIR="$run_dir/wasm-servers" npm test)

# Every profile of both kinds: Redlock against simulated Redis masters, and the etcd
# mutex and election against a simulated etcd cluster (the etcd-* profiles); about
# 40 s on 2 cores. `--etcd-seeds N` would run a different number of etcd seeds.
step "simulation: 2000 seeds of every fault profile, Redlock and etcd (fails on any violation a profile does not document)"
cargo run --quiet --release --locked -p fencelock-sim -- --seeds 2000 --jobs 2 --check

step "fencelock-core builds for wasm32-unknown-unknown (default features, none, the etcd gateway alone)"
cargo build -p fencelock-core --target wasm32-unknown-unknown --release --locked
cargo build -p fencelock-core --target wasm32-unknown-unknown --release --locked --no-default-features
cargo build -p fencelock-core --target wasm32-unknown-unknown --release --locked --no-default-features --features etcd-gateway

step "live tests against 6 redis-server processes (5 masters + 1 resource), one etcd member, a 3-member etcd cluster, one ZooKeeper server, a 3-server ZooKeeper ensemble and PostgreSQL"
conformance/live/servers.sh start-redis 6 "$run_dir/servers"
conformance/live/servers.sh start-etcd "$run_dir/etcd"
conformance/live/servers.sh start-etcd-cluster 3 "$run_dir/etcd-cluster"
conformance/live/servers.sh start-zookeeper "$run_dir/zookeeper"
conformance/live/servers.sh start-zookeeper-ensemble 3 "$run_dir/zookeeper-ensemble"
conformance/live/servers.sh start-postgres "$run_dir/postgres"
set -a
# shellcheck disable=SC1091
. "$run_dir/servers/env"
# shellcheck disable=SC1091
. "$run_dir/etcd/env"
# shellcheck disable=SC1091
. "$run_dir/etcd-cluster/env"
# shellcheck disable=SC1091
. "$run_dir/zookeeper/env"
# shellcheck disable=SC1091
. "$run_dir/zookeeper-ensemble/env"
# shellcheck disable=SC1091
. "$run_dir/postgres/env"
set +a
cargo test -p fencelock-live --locked -- --ignored --test-threads=1

step "all tests passed"
