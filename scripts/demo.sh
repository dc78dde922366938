#!/usr/bin/env bash
# The demo: five local redis-server masters and a sixth Redis holding a fenced
# counter; eight Rust workers, eight Python workers (four threads, four asyncio
# tasks), eight Node async workers (ioredis and node-redis) and a workerd Worker
# running the wasm build (three concurrent requests, RESP over connect()) contend for one
# Redlock lock at once, print every acquisition (worker, fencing token, latency)
# and a summary each, then the writes of all three processes are checked
# together. Servers are stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh

run_dir=$(mktemp -d "${TMPDIR:-/tmp}/fencelock-demo.XXXXXX")
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    conformance/live/servers.sh stop "$run_dir/servers" >/dev/null 2>&1 || true
    rm -rf "$run_dir"
}
trap cleanup EXIT INT TERM

echo "[demo] building"
cargo build --quiet --release -p fencelock-live --bin demo
(cd bindings-wasm && node scripts/build.mjs >/dev/null)
echo "[demo] starting 5 lock masters + 1 resource (redis-server, loopback)"
conformance/live/servers.sh start-redis 6 "$run_dir/servers" >/dev/null
set -a
# shellcheck disable=SC1091
. "$run_dir/servers/env"
set +a
lock="demo-$$-$RANDOM"
echo "[demo] Rust, Python and Node workers contend for lock \"$lock\" (Python lines start with \"py\", Node lines with \"js\", workerd lines with \"wasm\")"
target/release/demo --lock "$lock" --log "$run_dir/rust.log" "$@" &
pids+=($!)
.venv/bin/python -u bindings-py/examples/demo.py --lock "$lock" --log "$run_dir/python.log" &
pids+=($!)
node bindings-node/examples/demo-workers.mjs --lock "$lock" --log "$run_dir/node.log" &
pids+=($!)
node bindings-wasm/examples/demo-workerd.mjs --lock "$lock" --log "$run_dir/wasm.log" &
pids+=($!)
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
pids=()
.venv/bin/python bindings-py/examples/demo.py --lock "$lock" \
    --check "$run_dir/rust.log" "$run_dir/python.log" "$run_dir/node.log" "$run_dir/wasm.log" || status=1
exit "$status"
