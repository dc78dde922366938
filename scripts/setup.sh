#!/usr/bin/env bash
# Installs what fencelock's demo and tests need, idempotently: Debian packages for
# the servers, the wasm32 Rust target, and a Python virtualenv with the vector
# checker's dependency and the Python binding. Safe to run again; it only
# installs what is missing or out of date.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[setup] %s\n' "$*"; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Debian packages: the real servers the live tests start on loopback.
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
command -v etcd >/dev/null 2>&1 || missing+=(etcd-server)
command -v etcdctl >/dev/null 2>&1 || missing+=(etcd-client)
command -v curl >/dev/null 2>&1 || missing+=(curl)
# ZooKeeper and PostgreSQL keep their launchers out of PATH on Debian.
{ command -v zkServer.sh >/dev/null 2>&1 || [ -x /usr/share/zookeeper/bin/zkServer.sh ]; } || missing+=(zookeeper)
{ command -v pg_ctl >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; } || missing+=(postgresql)
command -v nc >/dev/null 2>&1 || missing+=(netcat-openbsd)
command -v python3 >/dev/null 2>&1 || missing+=(python3 python3-venv)
# Debian's Chromium (and its driver) for the wasm binding's browser test.
command -v chromium >/dev/null 2>&1 || missing+=(chromium chromium-driver)
if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Rust: the toolchain comes from rustup; add the wasm target the core must build for.
if ! command -v cargo >/dev/null 2>&1; then
    echo "[setup] cargo not found: install Rust with rustup first" >&2
    exit 1
fi
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    log "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown >/dev/null
fi
for component in rustfmt clippy; do
    if ! rustup component list --installed 2>/dev/null | grep -q "^$component"; then
        log "adding rustup component $component"
        rustup component add "$component" >/dev/null
    fi
done

# Python: a project-local virtualenv for the conformance tools.
if [ ! -x .venv/bin/python ]; then
    log "creating .venv"
    python3 -m venv .venv
fi
if ! .venv/bin/python -c 'import jsonschema' >/dev/null 2>&1; then
    log "installing jsonschema into .venv"
    .venv/bin/pip install --quiet --disable-pip-version-check 'jsonschema>=4.18'
fi

# Python binding (bindings-py): maturin builds it; pytest, mypy, ruff and redis-py
# test it; pottery is only for its benchmark. The binding itself is reinstalled
# whenever its sources or the core's change (a hash kept in the venv).
if ! .venv/bin/python -c 'import maturin, pytest, mypy, ruff, redis, pottery' >/dev/null 2>&1; then
    log "installing maturin, pytest, mypy, ruff, redis, pottery into .venv"
    .venv/bin/pip install --quiet --disable-pip-version-check 'maturin>=1.9.4,<2' \
        'pytest>=8' 'mypy>=1.10' 'ruff>=0.5' 'redis>=5' 'pottery>=3'
fi
# The ZooKeeper and PostgreSQL clients the binding drives (its optional
# dependencies; its tests and benchmark use both): kazoo, and psycopg 3.2+ with its
# bundled libpq (psycopg[binary]; RawCursor runs the core's $1 statements).
if ! .venv/bin/python -c 'import kazoo, psycopg, psycopg_binary; assert psycopg.RawCursor' >/dev/null 2>&1; then
    log "installing kazoo and psycopg[binary] into .venv"
    .venv/bin/pip install --quiet --disable-pip-version-check 'kazoo>=2.10' 'psycopg[binary]>=3.2'
fi
py_stamp=$(find bindings-py/src bindings-py/python bindings-py/Cargo.toml bindings-py/pyproject.toml \
    bindings-py/README.md core/src core/Cargo.toml Cargo.lock -type f \
    ! -name '*.so' ! -name '*.pyc' -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-64)
if [ "$(cat .venv/.fencelock-py-stamp 2>/dev/null)" != "$py_stamp" ] ||
    ! .venv/bin/python -c 'import fencelock' >/dev/null 2>&1; then
    log "building and installing the Python binding (pip install ./bindings-py)"
    PATH="$PWD/.venv/bin:$PATH" .venv/bin/pip install --quiet --disable-pip-version-check \
        --no-build-isolation ./bindings-py
    echo "$py_stamp" >.venv/.fencelock-py-stamp
fi
# Node binding (bindings-node): npm ci installs its devDependencies (napi CLI,
# TypeScript, ioredis, node-redis, etcd3, node-zookeeper-client, pg, the
# node-redlock versions the benchmark compares; all from the npm registry) and its
# install script builds the native module with cargo. Redone
# whenever the lockfile or the Rust sources change (a hash kept in node_modules).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "[setup] node and npm not found: install Node.js 20 or later" >&2
    exit 1
fi
if [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
    echo "[setup] Node.js $(node --version) is too old: the Node binding needs 20 or later" >&2
    exit 1
fi
node_stamp=$(find bindings-node/src bindings-node/Cargo.toml bindings-node/build.rs bindings-node/package.json \
    bindings-node/package-lock.json core/src core/Cargo.toml Cargo.lock -type f -print0 |
    sort -z | xargs -0 sha256sum | sha256sum | cut -c1-64)
if [ "$(cat bindings-node/node_modules/.fencelock-node-stamp 2>/dev/null)" != "$node_stamp" ] ||
    ! ls bindings-node/fencelock.*.node >/dev/null 2>&1; then
    log "installing the Node binding's dependencies and building it (npm ci in bindings-node)"
    (cd bindings-node && npm ci --no-audit --no-fund --loglevel=error)
    echo "$node_stamp" >bindings-node/node_modules/.fencelock-node-stamp
fi
# Wasm binding (bindings-wasm): Debian's Chromium for the browser test (installed
# with the packages above), then npm ci for workerd, binaryen (wasm-opt),
# playwright-core (drives /usr/bin/chromium; no browser download) and TypeScript.
# Its build script (run by test.sh and demo.sh) installs the wasm-bindgen CLI
# matching the crate when it is missing.
wasm_stamp=$(sha256sum bindings-wasm/package.json bindings-wasm/package-lock.json | sha256sum | cut -c1-64)
if [ "$(cat bindings-wasm/node_modules/.fencelock-wasm-stamp 2>/dev/null)" != "$wasm_stamp" ]; then
    log "installing the wasm binding's dependencies (npm ci in bindings-wasm)"
    (cd bindings-wasm && npm ci --no-audit --no-fund --loglevel=error)
    echo "$wasm_stamp" >bindings-wasm/node_modules/.fencelock-wasm-stamp
fi
log "ready"
