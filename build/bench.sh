#!/usr/bin/env bash
# Runs the load tool (bench/Eventsourced.Bench) against the published gateway and a throwaway broker:
#
#   build/bench.sh [TOOL ARGS...]      e.g. build/bench.sh --scenario drain --queues 10
#
# It publishes the tool to out/bench, starts the broker with build/broker.sh (BENCH_BROKER_NAME, default
# eventsourced-bench; BENCH_BROKER_PORT, default 5710; BENCH_BROKER_DIR, default .broker/<name>; one that
# already runs is used and left running) and then, for each scenario asked for (--scenario, default all),
# starts a fresh out/eventsourced/eventsourced (`make build`) on 127.0.0.1:BENCH_GATEWAY_PORT (default 2170)
# at log level warning, runs the tool with the gateway's and the broker's pids, and stops the gateway:
# no scenario inherits another's heap. Everything is stopped again, also on failure or Ctrl-C.
# BENCH_SHARED_GATEWAY=1 runs every scenario against one gateway instead. BENCH_GATEWAY_ENV="VAR=VALUE ..." sets
# environment variables for the gateways only (runtime settings tried against a scenario).
# --token-secret SECRET also starts a second gateway on BENCH_GATEWAY_PORT+1 that requires tokens
# (EVENTSOURCED_AUTH__JWT__SECRET=SECRET) and passes it as --token-gateway: drain then measures both in the
# same rounds, every SSE client of the second sending its own token.
#
# The Markdown table goes to out/bench/results.md (--markdown FILE for another), the gateways' logs to
# out/bench/gateway-SCENARIO.log. Exits 1 if a scenario failed, 3 if a target was missed and
# --require-targets was given, 2 on bad usage, else 0.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

BENCH_BROKER_NAME=${BENCH_BROKER_NAME:-eventsourced-bench}
BENCH_BROKER_PORT=${BENCH_BROKER_PORT:-5710}
BENCH_BROKER_DIR=${BENCH_BROKER_DIR:-$ROOT/.broker/$BENCH_BROKER_NAME}
BENCH_GATEWAY_PORT=${BENCH_GATEWAY_PORT:-2170}
CONFIGURATION=${CONFIGURATION:-Release}
OUT="$ROOT/out/bench"
GATEWAY="$ROOT/out/eventsourced/eventsourced"

log() { printf 'bench: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

# The scenarios asked for, and the tool's other arguments (--scenario is given per run below).
all_scenarios=(hold storm live drain slow churn fanout resume)
scenarios=()
args=()
token_secret=
markdown="$OUT/results.md"
while [ $# -gt 0 ]; do
    case "$1" in
        --scenario)
            [ $# -ge 2 ] || { log "--scenario needs a value"; exit 2; }
            IFS=, read -r -a names <<<"$2"
            for name in "${names[@]}"; do
                if [ "$name" = all ]; then scenarios+=("${all_scenarios[@]}"); else scenarios+=("$name"); fi
            done
            shift 2 ;;
        --markdown)
            [ $# -ge 2 ] || { log "--markdown needs a value"; exit 2; }
            markdown=$2
            shift 2 ;;
        --token-secret)
            [ $# -ge 2 ] || { log "--token-secret needs a value"; exit 2; }
            token_secret=$2
            args+=("$1" "$2")
            shift 2 ;;
        *) args+=("$1"); shift ;;
    esac
done
[ "${#scenarios[@]}" -gt 0 ] || scenarios=("${all_scenarios[@]}")
if [ -n "${BENCH_SHARED_GATEWAY:-}" ]; then
    runs=("$(IFS=,; echo "${scenarios[*]}")")
else
    runs=("${scenarios[@]}")
fi

# One descriptor per stream on both sides, plus a few: take everything the hard limit allows.
ulimit -n "$(ulimit -Hn)"
log "open files limit $(ulimit -n)"

[ -x "$GATEWAY" ] || die "$GATEWAY is missing: run make build (or make bench) first"
mkdir -p "$OUT"
dotnet publish bench/Eventsourced.Bench/Eventsourced.Bench.csproj -c "$CONFIGURATION" -o "$OUT" --nologo -v quiet >&2

broker() {
    env -u BROKER_FRESH BROKER_NAME="$BENCH_BROKER_NAME" BROKER_PORT="$BENCH_BROKER_PORT" BROKER_DIR="$BENCH_BROKER_DIR" \
        bash "$ROOT/build/broker.sh" "$@"
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

gateway_pid=
token_gateway_pid=
broker_started=
stop_pid() {
    local pid=$1
    [ -n "$pid" ] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 150); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            log "gateway $pid did not stop within 15 s; killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    wait "$pid" 2>/dev/null || true
}
stop_gateway() {
    stop_pid "$gateway_pid"
    gateway_pid=
    stop_pid "$token_gateway_pid"
    token_gateway_pid=
}
cleanup() {
    local rc=$?
    stop_gateway
    if [ -n "$broker_started" ]; then
        broker stop || true
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start_gateway LOGFILE PORT [SECRET]: sets started_pid.
start_gateway() {
    local logfile=$1 port=$2 secret=${3:-}
    port_open "$port" && die "port $port is in use; set BENCH_GATEWAY_PORT"
    # BENCH_GATEWAY_ENV: VAR=VALUE words for the gateways only (runtime settings tried against a scenario), not the tool.
    local -a extra=()
    read -r -a extra <<<"${BENCH_GATEWAY_ENV:-}"
    # After the defaults, so that they can be overridden (EVENTSOURCED_LOG__LEVEL=information, say).
    env EVENTSOURCED_SERVER__ADDRESS="127.0.0.1:$port" \
        EVENTSOURCED_BROKER__NODE__0="$url" \
        EVENTSOURCED_LOG__LEVEL=warning \
        EVENTSOURCED_AUTH__JWT__SECRET="$secret" \
        "${extra[@]}" \
        "$GATEWAY" >"$logfile" 2>&1 </dev/null &
    started_pid=$!
    for _ in $(seq 1 300); do
        port_open "$port" && return 0
        kill -0 "$started_pid" 2>/dev/null || { cat "$logfile" >&2; die "the gateway exited during start-up"; }
        sleep 0.1
    done
    die "the gateway does not listen on 127.0.0.1:$port after 30 s"
}

if broker status >/dev/null 2>&1; then
    url=$(broker url)
    log "using the running broker $BENCH_BROKER_NAME at $url (left running)"
else
    url=$(BROKER_FRESH=1 broker start)
    broker_started=1
fi
broker_pid=$(cat "$BENCH_BROKER_DIR/beam.pid" 2>/dev/null || true)
# rabbitmqctl against this broker, for the scenarios that count its channels, consumers and queues (churn).
broker_ctl="$OUT/rabbitmqctl"
printf '#!/usr/bin/env bash\nexec env BROKER_NAME=%q BROKER_PORT=%q BROKER_DIR=%q bash %q ctl "$@"\n' \
    "$BENCH_BROKER_NAME" "$BENCH_BROKER_PORT" "$BENCH_BROKER_DIR" "$ROOT/build/broker.sh" >"$broker_ctl"
chmod +x "$broker_ctl"

rm -f "$markdown"
rc=0
for run in "${runs[@]}"; do
    logfile="$OUT/gateway-${run//,/-}.log"
    start_gateway "$logfile" "$BENCH_GATEWAY_PORT"
    gateway_pid=$started_pid
    log "$run: gateway pid $gateway_pid on 127.0.0.1:$BENCH_GATEWAY_PORT, broker $url${broker_pid:+ (pid $broker_pid)}"
    token_args=()
    if [ -n "$token_secret" ]; then
        token_port=$((BENCH_GATEWAY_PORT + 1))
        start_gateway "$OUT/gateway-${run//,/-}-tokens.log" "$token_port" "$token_secret"
        token_gateway_pid=$started_pid
        token_args=(--token-gateway "http://127.0.0.1:$token_port/" --token-gateway-pid "$token_gateway_pid")
        log "$run: gateway requiring tokens pid $token_gateway_pid on 127.0.0.1:$token_port"
    fi
    code=0
    dotnet "$OUT/Eventsourced.Bench.dll" \
        --gateway "http://127.0.0.1:$BENCH_GATEWAY_PORT/" --amqp "$url" --gateway-pid "$gateway_pid" \
        ${broker_pid:+--broker-pid "$broker_pid"} --broker-ctl "$broker_ctl" --scenario "$run" --markdown "$markdown" --markdown-append \
        ${token_args[@]+"${token_args[@]}"} ${args[@]+"${args[@]}"} || code=$?
    stop_gateway
    if [ -s "$logfile" ]; then
        log "$run: the gateway logged $(wc -l <"$logfile") lines ($logfile), the last:"
        tail -n 3 "$logfile" | sed 's/^/bench:   /' >&2
    fi
    case "$code" in
        0) ;;
        2) exit 2 ;;
        1) rc=1 ;;
        *) [ "$rc" -eq 1 ] || rc=$code ;;
    esac
done
log "results: $markdown"
cat "$markdown"
exit "$rc"
