#!/usr/bin/env bash
# Starts and stops the loopback servers the live conformance tests run against.
#
#   servers.sh start-redis N DIR   start N redis-server processes on free 127.0.0.1
#                                  ports (no persistence), wait until each answers
#                                  PING, and write DIR/env:
#                                    FENCELOCK_REDIS_PORTS=p1,p2,...
#                                    FENCELOCK_REDIS_PIDS=pid1,pid2,...
#   servers.sh start-etcd DIR      start one etcd member (Debian etcd-server) on free
#                                  127.0.0.1 ports, wait until /health says true, and
#                                  write DIR/env:
#                                    FENCELOCK_ETCD_ENDPOINTS=127.0.0.1:port
#                                    FENCELOCK_ETCD_PIDS=pid
#   servers.sh start-etcd-cluster N DIR
#                                  start an N-member etcd cluster on loopback, wait
#                                  until every member is healthy, and write DIR/env:
#                                    FENCELOCK_ETCD_CLUSTER_ENDPOINTS=127.0.0.1:p1,...
#                                    FENCELOCK_ETCD_CLUSTER_PIDS=pid1,...
#   servers.sh start-zookeeper DIR start one standalone ZooKeeper server (Debian
#                                  zookeeper, zkServer.sh start-foreground) on a free
#                                  127.0.0.1 port, wait until it serves, and write
#                                  DIR/env:
#                                    FENCELOCK_ZK_ENDPOINTS=127.0.0.1:port
#                                    FENCELOCK_ZK_PIDS=pid
#   servers.sh start-zookeeper-ensemble N DIR
#                                  start an N-server ensemble on loopback, wait until
#                                  every server is leader or follower, and write
#                                  DIR/env:
#                                    FENCELOCK_ZK_ENSEMBLE_ENDPOINTS=127.0.0.1:p1,...
#                                    FENCELOCK_ZK_ENSEMBLE_PIDS=pid1,...
#   servers.sh start-postgres DIR  initdb and start one PostgreSQL server (Debian
#                                  postgresql; as the postgres user when root) on a
#                                  free 127.0.0.1 port, trust auth, fsync off, and
#                                  write DIR/env:
#                                    FENCELOCK_PG_PORT=port
#                                    FENCELOCK_PG_PIDS=postmaster pid
#                                    FENCELOCK_PG_DATA=its data directory
#   servers.sh stop DIR            stop every server listed in DIR/env (also those
#                                  a test left SIGSTOPped); already-dead ones are fine.
#
# Use the env file with:  set -a; . DIR/env; set +a
# Needs redis-server and redis-cli (Debian package redis-server), etcd (etcd-server),
# curl, zookeeper, postgresql and nc (netcat-openbsd). Loopback only.
set -euo pipefail

usage() {
    sed -n '2,43p' "$0" >&2
    exit 2
}

REDIS_SERVER=${REDIS_SERVER:-redis-server}
REDIS_CLI=${REDIS_CLI:-redis-cli}
ETCD=${ETCD:-etcd}
START_WAIT_TENTHS=100 # 10 s per server
STOP_WAIT_TENTHS=50   # 5 s for all servers

# Whether something already listens on 127.0.0.1:$1.
port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Whether PID $1 is a live redis-server, etcd, ZooKeeper or postgres started here
# (guards against PID reuse).
is_redis() {
    [[ -r /proc/$1/cmdline ]] &&
        tr '\0' ' ' <"/proc/$1/cmdline" | grep -Eq '^(redis-server|[^ ]*etcd|[^ ]*java .*QuorumPeerMain|[^ ]*postgres) '
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

# Exits (status 2) unless $1, the N of a start command, is a positive number.
check_count() {
    [[ $1 =~ ^[1-9][0-9]*$ ]] || { echo "servers.sh: N must be a positive number, got '$1'" >&2; exit 2; }
}

# Creates directory $1 if needed and prints its absolute path; fails (status 1,
# with a message) when it already holds an env file.
fresh_dir() {
    local dir=$1
    mkdir -p "$dir" || return 1
    dir=$(cd "$dir" && pwd) || return 1
    if [[ -e $dir/env ]]; then
        echo "servers.sh: $dir/env exists; run 'servers.sh stop $dir' first" >&2
        return 1
    fi
    echo "$dir"
}

# write_env DIR LINE...: writes the lines to DIR/env and prints them.
write_env() {
    local dir=$1
    shift
    printf '%s\n' "$@" >"$dir/env"
    cat "$dir/env"
}

# wait_for PID TENTHS CHECK...: runs CHECK every 0.1 s until it succeeds (status 0);
# status 1 once PID has exited or after TENTHS tries.
wait_for() {
    local pid=$1 tenths=$2 tries
    shift 2
    for ((tries = 0; tries < tenths; tries++)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            return 1
        fi
        if "$@"; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# Whether the redis-server on 127.0.0.1:$1 answers PING.
redis_pongs() {
    [[ $("$REDIS_CLI" -h 127.0.0.1 -p "$1" ping 2>/dev/null) == PONG ]]
}

# A free 127.0.0.1 port not in the list given.
pick_port() {
    local port attempt
    for ((attempt = 0; attempt < 50; attempt++)); do
        port=$((20000 + RANDOM % 12000)) # below the kernel's ephemeral range (32768+)
        if [[ " $* " != *" $port "* ]] && ! port_in_use "$port"; then
            echo "$port"
            return 0
        fi
    done
    return 1
}

start_redis() {
    local n=$1 dir=$2
    check_count "$n"
    command -v "$REDIS_SERVER" >/dev/null || { echo "servers.sh: $REDIS_SERVER not found (apt-get install -y redis-server)" >&2; exit 1; }
    command -v "$REDIS_CLI" >/dev/null || { echo "servers.sh: $REDIS_CLI not found (apt-get install -y redis-server)" >&2; exit 1; }
    dir=$(fresh_dir "$dir") || exit 1

    local -a ports=() pids=()
    # On any failure, stop what was started.
    trap 'kill_all "${pids[@]}"' ERR

    local i attempt port pid data ok
    for ((i = 1; i <= n; i++)); do
        data="$dir/redis-$i"
        mkdir -p "$data"
        ok=0
        for ((attempt = 0; attempt < 20 && !ok; attempt++)); do
            port=$(pick_port "${ports[@]}") || continue
            "$REDIS_SERVER" --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
                --dir "$data" --daemonize no --logfile "$data/redis.log" </dev/null >/dev/null 2>&1 &
            pid=$!
            # Gives up early when it exits: most likely the port was taken meanwhile.
            if wait_for "$pid" "$START_WAIT_TENTHS" redis_pongs "$port"; then
                ok=1
            fi
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
    write_env "$dir" "FENCELOCK_REDIS_PORTS=${ports[*]}" "FENCELOCK_REDIS_PIDS=${pids[*]}"
}

# Whether the etcd member serving clients on 127.0.0.1:$1 reports itself healthy.
etcd_healthy() {
    [[ $(curl -s --max-time 1 "http://127.0.0.1:$1/health" 2>/dev/null) == *'"health":"true"'* ]]
}

# start_etcd_members N DIR VAR_PREFIX: N members forming one cluster.
start_etcd_members() {
    local n=$1 dir=$2 var=$3
    check_count "$n"
    command -v "$ETCD" >/dev/null || { echo "servers.sh: $ETCD not found (apt-get install -y etcd-server)" >&2; exit 1; }
    command -v curl >/dev/null || { echo "servers.sh: curl not found (apt-get install -y curl)" >&2; exit 1; }
    dir=$(fresh_dir "$dir") || exit 1
    local -a clients=() peers=() pids=() endpoints=()
    trap 'kill_all "${pids[@]}"' ERR
    local i taken="" cluster="" port
    for ((i = 1; i <= n; i++)); do
        port=$(pick_port $taken) || { echo "servers.sh: no free port" >&2; false; }
        clients+=("$port"); taken="$taken $port"
        port=$(pick_port $taken) || { echo "servers.sh: no free port" >&2; false; }
        peers+=("$port"); taken="$taken $port"
        cluster="${cluster:+$cluster,}m$i=http://127.0.0.1:$port"
    done
    local token="fencelock-$$-$RANDOM"
    for ((i = 1; i <= n; i++)); do
        local data="$dir/etcd-$i" c=${clients[i - 1]} p=${peers[i - 1]}
        mkdir -p "$data"
        "$ETCD" --name "m$i" --data-dir "$data/data" \
            --listen-client-urls "http://127.0.0.1:$c" --advertise-client-urls "http://127.0.0.1:$c" \
            --listen-peer-urls "http://127.0.0.1:$p" --initial-advertise-peer-urls "http://127.0.0.1:$p" \
            --initial-cluster "$cluster" --initial-cluster-token "$token" --initial-cluster-state new \
            </dev/null >"$data/etcd.log" 2>&1 &
        pids+=($!)
        endpoints+=("127.0.0.1:$c")
    done
    for ((i = 0; i < n; i++)); do
        if ! wait_for "${pids[i]}" $((START_WAIT_TENTHS * 2)) etcd_healthy "${clients[i]}"; then
            echo "servers.sh: etcd member $((i + 1)) did not become healthy (see $dir/etcd-$((i + 1))/etcd.log)" >&2
            false
        fi
    done
    trap - ERR
    local IFS=,
    write_env "$dir" "${var}_ENDPOINTS=${endpoints[*]}" "${var}_PIDS=${pids[*]}"
}

# The Debian ZooKeeper launcher (not on PATH on Debian).
zk_server() {
    if command -v zkServer.sh >/dev/null 2>&1; then
        command -v zkServer.sh
    elif [[ -x /usr/share/zookeeper/bin/zkServer.sh ]]; then
        echo /usr/share/zookeeper/bin/zkServer.sh
    else
        return 1
    fi
}

# What a ZooKeeper server on 127.0.0.1:$1 answers to the four-letter word $2.
zk_four_letter() {
    printf '%s' "$2" | nc -q 1 -w 1 127.0.0.1 "$1" 2>/dev/null || true
}

# Whether the ZooKeeper server on 127.0.0.1:$1 serves (standalone, leader or follower).
zk_serving() {
    [[ $(zk_four_letter "$1" srvr) == *"Mode: "* ]]
}

# start_zookeeper_servers N DIR VAR_PREFIX: one standalone server (N = 1) or an
# N-server ensemble, each started with `zkServer.sh start-foreground` and a minimal
# zoo.cfg on loopback; waits until each one serves (standalone, leader or follower).
start_zookeeper_servers() {
    local n=$1 dir=$2 var=$3
    check_count "$n"
    local launcher
    launcher=$(zk_server) || { echo "servers.sh: zkServer.sh not found (apt-get install -y zookeeper)" >&2; exit 1; }
    command -v java >/dev/null || { echo "servers.sh: java not found (apt-get install -y zookeeper)" >&2; exit 1; }
    command -v nc >/dev/null || { echo "servers.sh: nc not found (apt-get install -y netcat-openbsd)" >&2; exit 1; }
    dir=$(fresh_dir "$dir") || exit 1
    local -a clients=() pids=() endpoints=()
    trap 'kill_all "${pids[@]}"' ERR
    local attempt ok=0
    # A port picked free can be taken before the JVM binds it (and Debian's ZooKeeper
    # logs nothing): start again on fresh ports.
    for ((attempt = 1; attempt <= 3 && !ok; attempt++)); do
        if ((${#pids[@]})); then
            kill_all "${pids[@]}"
        fi
        local -a quorum=() election=()
        clients=() pids=() endpoints=()
        local i taken="" port
        for ((i = 1; i <= n; i++)); do
            port=$(pick_port $taken) || { echo "servers.sh: no free port" >&2; false; }
            clients+=("$port"); taken="$taken $port"
            if ((n > 1)); then
                port=$(pick_port $taken) || { echo "servers.sh: no free port" >&2; false; }
                quorum+=("$port"); taken="$taken $port"
                port=$(pick_port $taken) || { echo "servers.sh: no free port" >&2; false; }
                election+=("$port"); taken="$taken $port"
            fi
        done
        for ((i = 1; i <= n; i++)); do
            local data="$dir/zookeeper-$i"
            rm -rf "$data"
            mkdir -p "$data/data"
            {
                echo "tickTime=2000"
                echo "dataDir=$data/data"
                echo "clientPort=${clients[i - 1]}"
                echo "clientPortAddress=127.0.0.1"
                echo "admin.enableServer=false"
                echo "4lw.commands.whitelist=ruok,srvr,stat,mntr"
                if ((n > 1)); then
                    echo "initLimit=10"
                    echo "syncLimit=5"
                    local j
                    for ((j = 1; j <= n; j++)); do
                        echo "server.$j=127.0.0.1:${quorum[j - 1]}:${election[j - 1]}"
                    done
                fi
            } >"$data/zoo.cfg"
            if ((n > 1)); then
                echo "$i" >"$data/data/myid"
            fi
            ZOO_LOG_DIR="$data" "$launcher" start-foreground "$data/zoo.cfg" </dev/null >"$data/zookeeper.log" 2>&1 &
            pids+=($!)
            endpoints+=("127.0.0.1:${clients[i - 1]}")
        done
        ok=1
        for ((i = 0; i < n && ok; i++)); do
            if ! wait_for "${pids[i]}" $((START_WAIT_TENTHS * 3)) zk_serving "${clients[i]}"; then
                ok=0
                echo "servers.sh: ZooKeeper server $((i + 1)) did not start serving (attempt $attempt)" >&2
            fi
        done
    done
    if ((!ok)); then
        echo "servers.sh: could not start ZooKeeper (see $dir/zookeeper-*/zookeeper.log)" >&2
        false
    fi
    trap - ERR
    local IFS=,
    write_env "$dir" "${var}_ENDPOINTS=${endpoints[*]}" "${var}_PIDS=${pids[*]}"
}

# The PostgreSQL server binaries (Debian keeps them out of PATH).
pg_bin() {
    if command -v "$1" >/dev/null 2>&1; then
        command -v "$1"
        return 0
    fi
    local found
    found=$(ls -d /usr/lib/postgresql/*/bin/"$1" 2>/dev/null | sort -V | tail -n 1)
    [[ -n $found ]] && echo "$found"
}

# Runs a command as the postgres user when we are root (initdb refuses root).
as_postgres() {
    if [[ $(id -u) -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# start_postgres DIR: one PostgreSQL server on 127.0.0.1 (trust auth, fsync off),
# its data in a directory of its own (the postgres user must own it).
start_postgres() {
    local dir=$1
    local initdb pg_ctl
    initdb=$(pg_bin initdb) || { echo "servers.sh: initdb not found (apt-get install -y postgresql)" >&2; exit 1; }
    pg_ctl=$(pg_bin pg_ctl) || { echo "servers.sh: pg_ctl not found (apt-get install -y postgresql)" >&2; exit 1; }
    dir=$(fresh_dir "$dir") || exit 1
    local data
    data=$(mktemp -d "${TMPDIR:-/tmp}/fencelock-pg.XXXXXX")
    if [[ $(id -u) -eq 0 ]]; then
        chown postgres:postgres "$data"
    fi
    if ! as_postgres "$initdb" -D "$data/data" -A trust --no-sync -U postgres >"$dir/initdb.log" 2>&1; then
        echo "servers.sh: initdb failed (see $dir/initdb.log)" >&2
        rm -rf "$data"
        exit 1
    fi
    local port attempt started=0
    for ((attempt = 0; attempt < 5 && !started; attempt++)); do
        port=$(pick_port) || { echo "servers.sh: no free port" >&2; break; }
        if as_postgres "$pg_ctl" -D "$data/data" -l "$data/postgres.log" -w -t 30 \
            -o "-p $port -c listen_addresses=127.0.0.1 -k $data -c fsync=off -c max_connections=200" \
            start >/dev/null 2>&1; then
            started=1
        fi
    done
    if ((!started)); then
        echo "servers.sh: PostgreSQL did not start (see $data/postgres.log)" >&2
        cp "$data/postgres.log" "$dir/postgres.log" 2>/dev/null || true
        rm -rf "$data"
        exit 1
    fi
    local pid
    pid=$(head -n 1 "$data/data/postmaster.pid")
    write_env "$dir" "FENCELOCK_PG_PORT=$port" "FENCELOCK_PG_PIDS=$pid" "FENCELOCK_PG_DATA=$data"
}

# Stops the PostgreSQL server whose data lives in $1 (fast shutdown: sessions are
# cut, locks released), then removes its files.
stop_postgres() {
    local data=$1 pg_ctl
    [[ -d $data/data ]] || return 0
    pg_ctl=$(pg_bin pg_ctl) || true
    if [[ -n $pg_ctl ]]; then
        as_postgres "$pg_ctl" -D "$data/data" -m fast -w -t 10 stop </dev/null >/dev/null 2>&1 || true
    fi
    rm -rf "$data"
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
        FENCELOCK_*_PIDS=*) pids_csv="${pids_csv:+$pids_csv,}${line#*=}" ;;
        FENCELOCK_PG_DATA=*) stop_postgres "${line#*=}" ;;
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
    echo "servers.sh: stopped ${#pids[@]} server(s) from $dir"
}

case ${1:-} in
start-redis)
    [[ $# -eq 3 ]] || usage
    start_redis "$2" "$3"
    ;;
start-etcd)
    [[ $# -eq 2 ]] || usage
    start_etcd_members 1 "$2" FENCELOCK_ETCD
    ;;
start-etcd-cluster)
    [[ $# -eq 3 ]] || usage
    start_etcd_members "$2" "$3" FENCELOCK_ETCD_CLUSTER
    ;;
start-zookeeper)
    [[ $# -eq 2 ]] || usage
    start_zookeeper_servers 1 "$2" FENCELOCK_ZK
    ;;
start-zookeeper-ensemble)
    [[ $# -eq 3 ]] || usage
    start_zookeeper_servers "$2" "$3" FENCELOCK_ZK_ENSEMBLE
    ;;
start-postgres)
    [[ $# -eq 2 ]] || usage
    start_postgres "$2"
    ;;
stop)
    [[ $# -eq 2 ]] || usage
    stop "$2"
    ;;
*) usage ;;
esac
