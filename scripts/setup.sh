#!/usr/bin/env bash
# Installs what fencelock's demo and tests need, idempotently: Debian packages for
# the servers, the wasm32 Rust target, and a Python virtualenv with the vector
# checker's dependency. Safe to run again; it only installs what is missing.
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
command -v python3 >/dev/null 2>&1 || missing+=(python3 python3-venv)
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
log "ready"
