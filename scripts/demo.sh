#!/usr/bin/env bash
# The demo: five local redis-server masters and a sixth Redis holding a fenced
# counter; eight workers contend for one Redlock lock, print every acquisition
# (worker, fencing token, latency) and a summary. Servers are stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh

run_dir=$(mktemp -d "${TMPDIR:-/tmp}/fencelock-demo.XXXXXX")
cleanup() {
    conformance/live/servers.sh stop "$run_dir/servers" >/dev/null 2>&1 || true
    rm -rf "$run_dir"
}
trap cleanup EXIT INT TERM

echo "[demo] building"
cargo build --quiet --release -p fencelock-live --bin demo
echo "[demo] starting 5 lock masters + 1 resource (redis-server, loopback)"
conformance/live/servers.sh start-redis 6 "$run_dir/servers" >/dev/null
set -a
# shellcheck disable=SC1091
. "$run_dir/servers/env"
set +a
target/release/demo "$@"
