#!/usr/bin/env bash
# Runs the load tool (cmd/Eventsourced.Bench) against the published gateway and a throwaway broker:
#
#   build/bench.sh [TOOL ARGS...]      e.g. build/bench.sh --scenario drain --queues 10
#
# It publishes the tool to out/bench, starts the broker with build/broker.sh (BENCH_BROKER_NAME, default
# eventsourced-bench; BENCH_BROKER_PORT, default 5710; one that already runs is used and left running),
# starts out/eventsourced/eventsourced (`make build`) on 127.0.0.1:BENCH_GATEWAY_PORT (default 2170) at
# log level warning, runs the tool with the gateway's pid, and stops both again, also on failure or
# Ctrl-C. The Markdown table goes to out/bench/results.md unless --markdown says otherwise; the gateway's
# log to out/bench/gateway.log. Exits with the tool's exit code (1: a scenario failed).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

BENCH_BROKER_NAME=${BENCH_BROKER_NAME:-eventsourced-bench}
BENCH_BROKER_PORT=${BENCH_BROKER_PORT:-5710}
BENCH_GATEWAY_PORT=${BENCH_GATEWAY_PORT:-2170}
CONFIGURATION=${CONFIGURATION:-Release}
OUT="$ROOT/out/bench"
GATEWAY="$ROOT/out/eventsourced/eventsourced"

log() { printf 'bench: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

# One descriptor per stream on both sides, plus a few: take everything the hard limit allows.
ulimit -n "$(ulimit -Hn)"
log "open files limit $(ulimit -n)"

[ -x "$GATEWAY" ] || die "$GATEWAY is missing: run make build (or make bench) first"
mkdir -p "$OUT"
dotnet publish cmd/Eventsourced.Bench/Eventsourced.Bench.csproj -c "$CONFIGURATION" -o "$OUT" --nologo -v quiet >&2

broker() { env -u BROKER_DIR -u BROKER_FRESH BROKER_NAME="$BENCH_BROKER_NAME" BROKER_PORT="$BENCH_BROKER_PORT" bash "$ROOT/build/broker.sh" "$@"; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

gateway_pid=
broker_started=
cleanup() {
    local rc=$?
    if [ -n "$gateway_pid" ] && kill -0 "$gateway_pid" 2>/dev/null; then
        kill -TERM "$gateway_pid" 2>/dev/null || true
        for _ in $(seq 1 150); do
            kill -0 "$gateway_pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$gateway_pid" 2>/dev/null; then
            log "gateway $gateway_pid did not stop within 15 s; killing it"
            kill -KILL "$gateway_pid" 2>/dev/null || true
        fi
        wait "$gateway_pid" 2>/dev/null || true
    fi
    if [ -n "$broker_started" ]; then
        broker stop || true
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if broker status >/dev/null 2>&1; then
    url=$(broker url)
    log "using the running broker $BENCH_BROKER_NAME at $url (left running)"
else
    url=$(BROKER_FRESH=1 broker start)
    broker_started=1
fi

port_open "$BENCH_GATEWAY_PORT" && die "port $BENCH_GATEWAY_PORT is in use; set BENCH_GATEWAY_PORT"
EVENTSOURCED_SERVER__ADDRESS="127.0.0.1:$BENCH_GATEWAY_PORT" \
    EVENTSOURCED_BROKER__NODE__0="$url" \
    EVENTSOURCED_LOG__LEVEL=warning \
    "$GATEWAY" >"$OUT/gateway.log" 2>&1 </dev/null &
gateway_pid=$!
for _ in $(seq 1 300); do
    port_open "$BENCH_GATEWAY_PORT" && break
    kill -0 "$gateway_pid" 2>/dev/null || { cat "$OUT/gateway.log" >&2; die "the gateway exited during start-up"; }
    sleep 0.1
done
port_open "$BENCH_GATEWAY_PORT" || die "the gateway does not listen on 127.0.0.1:$BENCH_GATEWAY_PORT after 30 s"
log "gateway pid $gateway_pid on 127.0.0.1:$BENCH_GATEWAY_PORT, broker $url"

rc=0
dotnet "$OUT/Eventsourced.Bench.dll" \
    --gateway "http://127.0.0.1:$BENCH_GATEWAY_PORT/" --amqp "$url" --gateway-pid "$gateway_pid" \
    --markdown "$OUT/results.md" "$@" || rc=$?
if [ -s "$OUT/gateway.log" ]; then
    log "gateway log ($OUT/gateway.log), last lines:"
    tail -n 5 "$OUT/gateway.log" | sed 's/^/bench:   /' >&2
fi
exit "$rc"
