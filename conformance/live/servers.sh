#!/usr/bin/env bash
# Starts and stops the loopback servers the live conformance tests run against.
#
#   servers.sh start-redis N DIR   start N redis-server processes on free 127.0.0.1
#                                  ports (no persistence), wait until each answers
#                                  PING, and write DIR/env:
#                                    FENCELOCK_REDIS_PORTS=p1,p2,...
#                                    FENCELOCK_REDIS_PIDS=pid1,pid2,...
#   servers.sh stop DIR            stop every server listed in DIR/env (also those
#                                  a test left SIGSTOPped); already-dead ones are fine.
#
# Use the env file with:  set -a; . DIR/env; set +a
# Needs redis-server and redis-cli (Debian package redis-server). Loopback only.
set -euo pipefail

usage() {
    sed -n '2,13p' "$0" >&2
    exit 2
}

REDIS_SERVER=${REDIS_SERVER:-redis-server}
REDIS_CLI=${REDIS_CLI:-redis-cli}
START_WAIT_TENTHS=100 # 10 s per server
STOP_WAIT_TENTHS=50   # 5 s for all servers

# Whether something already listens on 127.0.0.1:$1.
port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Whether PID $1 is a live redis-server (guards against PID reuse).
is_redis() {
    [[ -r /proc/$1/cmdline ]] && tr '\0' ' ' <"/proc/$1/cmdline" | grep -q 'redis-server'
}

# Kills every PID given (TERM, CONT so a stopped one can act on it, then KILL).
kill_all() {
    local pid live tries
    for pid in "$@"; do
        if is_redis "$pid"; then
            kill -TERM "$pid" 2>/dev/null || true
            kill -CONT "$pid" 2>/dev/null || true
        fi
    done
    for ((tries = 0; tries < STOP_WAIT_TENTHS; tries++)); do
        live=0
        for pid in "$@"; do
            if is_redis "$pid" && [[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) != Z ]]; then
                live=1
            fi
        done
        ((live)) || return 0
        sleep 0.1
    done
    for pid in "$@"; do
        if is_redis "$pid"; then
            echo "servers.sh: pid $pid did not stop; sending SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
}

start_redis() {
    local n=$1 dir=$2
    [[ $n =~ ^[1-9][0-9]*$ ]] || { echo "servers.sh: N must be a positive number, got '$n'" >&2; exit 2; }
    command -v "$REDIS_SERVER" >/dev/null || { echo "servers.sh: $REDIS_SERVER not found (apt-get install -y redis-server)" >&2; exit 1; }
    command -v "$REDIS_CLI" >/dev/null || { echo "servers.sh: $REDIS_CLI not found (apt-get install -y redis-server)" >&2; exit 1; }
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    if [[ -e $dir/env ]]; then
        echo "servers.sh: $dir/env exists; run 'servers.sh stop $dir' first" >&2
        exit 1
    fi

    local -a ports=() pids=()
    # On any failure, stop what was started.
    trap 'kill_all "${pids[@]}"' ERR

    local i attempt port pid data tries ok
    for ((i = 1; i <= n; i++)); do
        data="$dir/redis-$i"
        mkdir -p "$data"
        ok=0
        for ((attempt = 0; attempt < 20 && !ok; attempt++)); do
            port=$((20000 + RANDOM % 40000))
            if [[ " ${ports[*]} " == *" $port "* ]] || port_in_use "$port"; then
                continue
            fi
            "$REDIS_SERVER" --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
                --dir "$data" --daemonize no --logfile "$data/redis.log" </dev/null >/dev/null 2>&1 &
            pid=$!
            for ((tries = 0; tries < START_WAIT_TENTHS; tries++)); do
                if ! kill -0 "$pid" 2>/dev/null; then
                    break # exited: most likely the port was taken meanwhile
                fi
                if [[ $("$REDIS_CLI" -h 127.0.0.1 -p "$port" ping 2>/dev/null) == PONG ]]; then
                    ok=1
                    break
                fi
                sleep 0.1
            done
            if ((ok)); then
                ports+=("$port")
                pids+=("$pid")
            else
                kill -KILL "$pid" 2>/dev/null || true
                wait "$pid" 2>/dev/null || true
                echo "servers.sh: redis-server on port $port did not answer PING; retrying on another port" >&2
            fi
        done
        if ((!ok)); then
            echo "servers.sh: could not start redis-server #$i (see $data/redis.log)" >&2
            false
        fi
    done
    trap - ERR

    local IFS=,
    {
        echo "FENCELOCK_REDIS_PORTS=${ports[*]}"
        echo "FENCELOCK_REDIS_PIDS=${pids[*]}"
    } >"$dir/env"
    cat "$dir/env"
}

stop() {
    local dir=$1 env=$1/env
    if [[ ! -f $env ]]; then
        echo "servers.sh: no $env; nothing to stop" >&2
        return 0
    fi
    local line pids_csv=""
    while IFS= read -r line; do
        case $line in
        FENCELOCK_REDIS_PIDS=*) pids_csv=${line#FENCELOCK_REDIS_PIDS=} ;;
        esac
    done <"$env"
    local -a pids=()
    IFS=, read -r -a pids <<<"$pids_csv"
    local pid
    for pid in "${pids[@]}"; do
        [[ $pid =~ ^[0-9]+$ ]] || { echo "servers.sh: bad pid '$pid' in $env" >&2; exit 1; }
    done
    if ((${#pids[@]})); then
        kill_all "${pids[@]}"
    fi
    rm -f "$env"
    echo "servers.sh: stopped ${#pids[@]} redis-server(s) from $dir"
}

case ${1:-} in
start-redis)
    [[ $# -eq 3 ]] || usage
    start_redis "$2" "$3"
    ;;
stop)
    [[ $# -eq 2 ]] || usage
    stop "$2"
    ;;
*) usage ;;
esac
