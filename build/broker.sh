#!/usr/bin/env bash
# A throwaway RabbitMQ node on loopback, with its own node name, ports and data
# directory, for `make run` and `make test`. Never touches a system broker.
#
#   build/broker.sh start     start it (idempotent), wait until ready, print the AMQP URL
#   build/broker.sh stop      stop it gracefully and wait (killed if it will not stop)
#   build/broker.sh status    say whether it runs; exit 0 running, 1 not responding, 3 stopped
#   build/broker.sh url       print amqp://guest:guest@127.0.0.1:PORT/
#   build/broker.sh env       print `export` lines for eval: broker, gateway and test variables
#   build/broker.sh ctl ARGS  run rabbitmqctl against this node (e.g. `ctl list_queues`)
#   build/broker.sh logs      print the tail of the node's logs
#
# Environment:
#   BROKER_NAME       node name before the @ (default eventsourced-dev; node NAME@localhost)
#   BROKER_PORT       AMQP port (default 5672); Erlang distribution uses BROKER_PORT+20000
#   BROKER_DIR        data, logs and Erlang cookie (default <repo>/.broker/<name>)
#   BROKER_FRESH=1    on start, wipe the node's data (queues, messages) unless it is running
#   BROKER_NO_INSTALL=1  never install rabbitmq-server, even as root
#   BROKER_START_TIMEOUT seconds to wait for readiness (default 120)
#   RABBITMQ_SBIN     directory holding rabbitmq-server and rabbitmqctl, when not the default
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BROKER_NAME=${BROKER_NAME:-eventsourced-dev}
BROKER_PORT=${BROKER_PORT:-5672}
BROKER_DIR=${BROKER_DIR:-$ROOT/.broker/$BROKER_NAME}
BROKER_START_TIMEOUT=${BROKER_START_TIMEOUT:-120}

log() { printf 'broker: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

[[ "$BROKER_NAME" =~ ^[A-Za-z0-9_-]+$ ]] || die "BROKER_NAME must be letters, digits, - or _ (got '$BROKER_NAME')"
[[ "$BROKER_PORT" =~ ^[0-9]+$ ]] && [ "$BROKER_PORT" -ge 1 ] && [ "$BROKER_PORT" -le 45535 ] ||
    die "BROKER_PORT must be a port number up to 45535, so that BROKER_PORT+20000 is one too (got '$BROKER_PORT')"
case "$BROKER_DIR" in /*) ;; *) BROKER_DIR="$PWD/$BROKER_DIR" ;; esac

NODE="$BROKER_NAME@localhost"
DIST_PORT=$((BROKER_PORT + 20000))
URL="amqp://guest:guest@127.0.0.1:$BROKER_PORT/"
MNESIA="$BROKER_DIR/mnesia"
LOGDIR="$BROKER_DIR/log"
COOKIE="$BROKER_DIR/.erlang.cookie"
SBIN=

# Debian's /usr/sbin/rabbitmq-server and rabbitmqctl are wrappers that cd to
# /var/lib/rabbitmq and, for root, `su rabbitmq` (so they use that user's HOME and
# Erlang cookie, and could not write our directory). The real scripts live in
# /usr/lib/rabbitmq/bin; elsewhere (generic tarball, Homebrew) they are on PATH.
find_scripts() {
    local dir candidate
    for dir in "${RABBITMQ_SBIN:-}" /usr/lib/rabbitmq/bin; do
        if [ -n "$dir" ] && [ -x "$dir/rabbitmq-server" ] && [ -x "$dir/rabbitmqctl" ]; then
            SBIN=$dir
            return 0
        fi
    done
    candidate=$(command -v rabbitmq-server 2>/dev/null) || return 1
    if grep -q 'cd /var/lib/rabbitmq' "$candidate" 2>/dev/null; then
        return 1 # a Debian wrapper without the scripts it wraps
    fi
    dir=$(dirname "$(readlink -f "$candidate")")
    [ -x "$dir/rabbitmqctl" ] || return 1
    SBIN=$dir
}

can_install() {
    [ -z "${BROKER_NO_INSTALL:-}" ] && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1
}

explain_no_broker() {
    local why=$1
    cat >&2 <<EOF
broker: cannot start a local RabbitMQ node: $why
broker: install RabbitMQ (Debian/Ubuntu: apt-get install rabbitmq-server) or use a broker you already have:
broker:   make run:  EVENTSOURCED_BROKER__NODE__0=amqp://user:pass@host:5672/ make run
broker:   make test: EVENTSOURCED_TEST_AMQP=amqp://user:pass@host:5672/ make test
broker:              (plus EVENTSOURCED_TEST_NODE=rabbit@host and EVENTSOURCED_TEST_ERLANG_COOKIE=...
broker:               for the tests that inspect the broker with rabbitmqctl)
EOF
    exit 1
}

ensure_scripts() {
    find_scripts && return 0
    if ! can_install; then
        if [ -n "${BROKER_NO_INSTALL:-}" ]; then
            explain_no_broker "rabbitmq-server is not installed and BROKER_NO_INSTALL is set"
        fi
        explain_no_broker "rabbitmq-server is not installed, and installing it needs root and apt-get"
    fi
    log "rabbitmq-server is not installed; installing Debian's package"
    "$ROOT/build/ci-deps.sh" rabbitmq-server || explain_no_broker "installing rabbitmq-server failed"
    find_scripts || explain_no_broker "rabbitmq-server was installed but its scripts were not found"
}

# rabbitmqctl against our node, bounded by TIMEOUT seconds. HOME points at our
# directory so the CLI reads the node's cookie.
ctl_timeout() {
    local seconds=$1
    shift
    timeout -k 5 "$seconds" env HOME="$BROKER_DIR" "$SBIN/rabbitmqctl" -n "$NODE" "$@"
}

# Processes of this node: found by the data directory in their environment
# (the node name is not on the command line), so a reused pid is never ours by accident.
our_pids() {
    local env_file pid
    for env_file in /proc/[0-9]*/environ; do
        pid=${env_file#/proc/}
        pid=${pid%/environ}
        [ "$pid" != "$$" ] || continue
        if grep -qzxF "RABBITMQ_MNESIA_BASE=$MNESIA" "$env_file" 2>/dev/null; then
            printf '%s ' "$pid"
        fi
    done
}

responds() {
    local seconds=${1:-10}
    ctl_timeout $((seconds + 10)) -q await_startup --timeout "$seconds" >/dev/null 2>&1
}

port_in_use() {
    timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

epmd_bin() {
    command -v epmd 2>/dev/null || ls /usr/lib/erlang/erts-*/bin/epmd 2>/dev/null | head -n 1
}

# Is a node with our name registered in epmd? (0 yes, 1 no, 2 epmd does not answer)
name_registered() {
    local epmd out
    epmd=$(epmd_bin) || return 1
    [ -n "$epmd" ] || return 1
    if ! out=$(timeout 5 "$epmd" -names 2>&1); then
        case "$out" in
            *"Cannot connect"* | *"cannot connect"*) return 1 ;;
        esac
        [ -n "$out" ] || return 2
        return 1
    fi
    grep -q "^name $BROKER_NAME at port " <<<"$out"
}

print_logs() {
    local f
    for f in "$LOGDIR/startup.log" "$LOGDIR/$NODE.log"; do
        if [ -s "$f" ]; then
            log "---- last lines of $f"
            tail -n "${1:-25}" "$f" | sed 's/^/broker:   /' >&2
        fi
    done
}

wait_gone() {
    local seconds=$1 deadline=$((SECONDS + $1))
    while [ -n "$(our_pids)" ]; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.5
    done
}

# Stop whatever runs from our directory: gracefully (when it still answers), then
# TERM (and CONT, should it be stopped), then KILL.
terminate() {
    local graceful=$1 pids
    pids=$(our_pids)
    [ -n "$pids" ] || return 0
    if [ "$graceful" = graceful ]; then
        if [ -s "$BROKER_DIR/beam.pid" ]; then
            ctl_timeout 60 stop "$BROKER_DIR/beam.pid" >/dev/null 2>&1 || true
        else
            ctl_timeout 60 stop >/dev/null 2>&1 || true
        fi
        wait_gone 30 && return 0
        log "node did not stop gracefully"
    fi
    pids=$(our_pids)
    [ -z "$pids" ] || { log "sending TERM to $pids"; kill -TERM $pids 2>/dev/null || true; kill -CONT $pids 2>/dev/null || true; }
    wait_gone 15 && return 0
    pids=$(our_pids)
    [ -z "$pids" ] || { log "sending KILL to $pids"; kill -KILL $pids 2>/dev/null || true; }
    wait_gone 10 || die "could not stop processes $(our_pids)"
}

prepare_dir() {
    mkdir -p "$MNESIA" "$LOGDIR" "$BROKER_DIR/conf.d"
    if [ ! -s "$COOKIE" ]; then
        (umask 077 && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' | tr a-f A-F >"$COOKIE")
    fi
    chmod 400 "$COOKIE"
    # Our own (empty) configuration, so nothing in /etc/rabbitmq applies.
    echo '[].' >"$BROKER_DIR/enabled_plugins"
    : >"$BROKER_DIR/rabbitmq-env.conf"
    cat >"$BROKER_DIR/rabbitmq.conf" <<EOF
# Written by build/broker.sh on every start (listeners come from RABBITMQ_NODE_*).
log.file.level = info
EOF
    rm -f "$BROKER_DIR/beam.pid"
}

launch() {
    local -a vars=(
        HOME="$BROKER_DIR"
        RABBITMQ_NODENAME="$NODE"
        RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
        RABBITMQ_NODE_PORT="$BROKER_PORT"
        RABBITMQ_DIST_PORT="$DIST_PORT"
        RABBITMQ_MNESIA_BASE="$MNESIA"
        RABBITMQ_LOG_BASE="$LOGDIR"
        RABBITMQ_PID_FILE="$BROKER_DIR/beam.pid"
        RABBITMQ_CONF_ENV_FILE="$BROKER_DIR/rabbitmq-env.conf"
        RABBITMQ_CONFIG_FILE="$BROKER_DIR/rabbitmq.conf"
        RABBITMQ_CONFIG_FILES="$BROKER_DIR/conf.d"
        RABBITMQ_ADVANCED_CONFIG_FILE="$BROKER_DIR/advanced.config"
        RABBITMQ_ENABLED_PLUGINS_FILE="$BROKER_DIR/enabled_plugins"
        # Distribution on loopback only, like AMQP.
        RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
        ERL_CRASH_DUMP="$LOGDIR/erl_crash.dump"
    )
    {
        printf '==== %s start %s port %s dist %s\n' "$(date '+%F %T')" "$NODE" "$BROKER_PORT" "$DIST_PORT"
    } >>"$LOGDIR/startup.log"
    # setsid: its own session, so no terminal or make job control reaches it; all
    # output to the log, stdin from /dev/null, and no other inherited descriptor (make's
    # jobserver pipe, a caller's lock file): the node must hold nothing of its caller.
    (
        for fd in /proc/$BASHPID/fd/*; do
            fd=${fd##*/}
            if [ "$fd" -gt 2 ]; then eval "exec $fd>&-"; fi
        done
        cd "$BROKER_DIR" && exec env "${vars[@]}" setsid "$SBIN/rabbitmq-server" \
            >>"$LOGDIR/startup.log" 2>&1 </dev/null
    ) &
    echo $! >"$BROKER_DIR/server.pid"
}

wait_ready() {
    local deadline=$((SECONDS + BROKER_START_TIMEOUT)) started=$SECONDS
    while :; do
        if responds 15; then
            log "node $NODE ready after $((SECONDS - started)) s"
            return 0
        fi
        if [ -z "$(our_pids)" ]; then
            print_logs
            die "node $NODE exited during start-up (logs in $LOGDIR)"
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            print_logs
            terminate kill
            die "node $NODE not ready after ${BROKER_START_TIMEOUT}s (logs in $LOGDIR)"
        fi
        sleep 1
    done
}

cmd_start() {
    ensure_scripts
    mkdir -p "$BROKER_DIR"
    local pids running_port
    pids=$(our_pids)
    if [ -n "$pids" ]; then
        running_port=$(tr '\0' '\n' <"/proc/${pids%% *}/environ" 2>/dev/null | sed -n 's/^RABBITMQ_NODE_PORT=//p')
        if [ -n "$running_port" ] && [ "$running_port" != "$BROKER_PORT" ]; then
            die "node $NODE already runs from $BROKER_DIR, but on port $running_port; stop it first (build/broker.sh stop)"
        fi
        # Running, or still booting (a concurrent start): booting nodes have not
        # written beam.pid yet, so they get the full start-up time.
        if responds 10 || { [ ! -s "$BROKER_DIR/beam.pid" ] && wait_ready; }; then
            log "node $NODE already running"
            echo "$URL"
            return 0
        fi
        log "node $NODE runs but does not answer (half-dead from an earlier run?); replacing it"
        terminate kill
    fi

    # Left-overs of other runs that would make the start fail in confusing ways.
    local registered=0
    name_registered || registered=$?
    if [ "$registered" -eq 0 ]; then
        # epmd drops a name when its node's connection closes; give a dying node a moment.
        sleep 2
        registered=0
        name_registered || registered=$?
    fi
    case "$registered" in
        0) die "a node named $NODE already runs, but not from $BROKER_DIR (another checkout?);" \
            "stop it or choose another BROKER_NAME and BROKER_PORT" ;;
        2) die "epmd (port 4369) does not answer; a stale epmd? check it with 'epmd -names', or kill it" ;;
    esac
    local port
    for port in "$BROKER_PORT" "$DIST_PORT"; do
        if port_in_use "$port"; then
            die "port $port on 127.0.0.1 is already in use (a system rabbitmq-server?" \
                "'service rabbitmq-server stop'); or choose another BROKER_PORT"
        fi
    done

    if [ -n "${BROKER_FRESH:-}" ]; then
        rm -rf "$MNESIA"
    fi
    prepare_dir
    log "starting node $NODE on 127.0.0.1:$BROKER_PORT (dist $DIST_PORT), data in $BROKER_DIR"
    launch
    wait_ready
    echo "$URL"
}

cmd_stop() {
    find_scripts || true # without rabbitmqctl, terminate falls back to signals
    if [ -z "$(our_pids)" ]; then
        log "node $NODE not running"
        return 0
    fi
    local started=$SECONDS
    terminate graceful
    rm -f "$BROKER_DIR/beam.pid" "$BROKER_DIR/server.pid"
    log "node $NODE stopped after $((SECONDS - started)) s"
}

cmd_status() {
    local pids
    pids=$(our_pids)
    if [ -z "$pids" ]; then
        echo "stopped: $NODE (data in $BROKER_DIR)"
        return 3
    fi
    if find_scripts && responds 5; then
        echo "running: $NODE at $URL (pids ${pids% })"
        return 0
    fi
    echo "not responding: $NODE (pids ${pids% }); see build/broker.sh logs"
    return 1
}

cmd_env() {
    local cookie=
    [ -r "$COOKIE" ] && cookie=$(cat "$COOKIE")
    local -a lines=(
        BROKER_NAME="$BROKER_NAME"
        BROKER_NODE="$NODE"
        BROKER_PORT="$BROKER_PORT"
        BROKER_DIR="$BROKER_DIR"
        BROKER_URL="$URL"
        EVENTSOURCED_BROKER__NODE__0="$URL"
        EVENTSOURCED_TEST_AMQP="$URL"
        EVENTSOURCED_TEST_NODE="$NODE"
    )
    [ -z "$cookie" ] || lines+=(EVENTSOURCED_TEST_ERLANG_COOKIE="$cookie")
    local line
    for line in "${lines[@]}"; do
        printf 'export %s=%q\n' "${line%%=*}" "${line#*=}"
    done
}

cmd_ctl() {
    find_scripts || die "rabbitmqctl not found; run build/broker.sh start first"
    exec env HOME="$BROKER_DIR" "$SBIN/rabbitmqctl" -n "$NODE" "$@"
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    url) echo "$URL" ;;
    env) cmd_env ;;
    ctl) shift; cmd_ctl "$@" ;;
    logs) print_logs "${2:-50}" ;;
    *)
        sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
        exit 2
        ;;
esac
