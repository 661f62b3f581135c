#!/usr/bin/env bash
# Runs the unit and integration tests against a real RabbitMQ and prints one summary line:
#   tests: N passed, N failed, N skipped
#
#   build/test.sh            everything except trait Category=Stress
#   build/test.sh --stress   only Category=Stress
#
# Without EVENTSOURCED_TEST_AMQP it starts a throwaway broker with build/broker.sh
# (TEST_BROKER_NAME, default eventsourced-test; TEST_BROKER_PORT, default 5680; TEST_BROKER_DIR)
# and stops it afterwards (one started by hand is left running), unless EVENTSOURCED_TEST_BROKER=container:
# then the suites start their shared brokers in containers too (Testcontainers). Exits non-zero when a
# test failed, a test run broke (build error, crashed test host) or no test ran at all.
#
# Environment: CONFIGURATION (default Release), TEST_RESULTS (default out/test-results),
# TEST_HANG_TIMEOUT (default 20m: a single test running longer kills its test host, so CI
# cannot hang), TEST_ARGS (extra `dotnet test` arguments).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

mode=default
filter='Category!=Stress'
case "${1:-}" in
    "") ;;
    --stress) mode=stress filter='Category=Stress' ;;
    *) echo "usage: build/test.sh [--stress]" >&2; exit 2 ;;
esac

# The test suites, NAME:PROJECT, run in this order (NAME names the TRX file). Add new ones here.
SUITES=(
    '&unit:tests/Eventsourced.Tests/Eventsourced.Tests.csproj' # beside integration too: a minute of CPU while the integration suite starts its brokers
    '&e2e:tests/Eventsourced.EndToEndTests/Eventsourced.EndToEndTests.csproj' # beside integration (TEST_PARALLEL); browser, nginx, examples, unprivileged run: needs build/ci-deps.sh's packages and root
    integration:tests/Eventsourced.IntegrationTests/Eventsourced.IntegrationTests.csproj
)

CONFIGURATION=${CONFIGURATION:-Release}
results="${TEST_RESULTS:-$ROOT/out/test-results}/$mode"
rm -rf "$results"
mkdir -p "$results"

log() { printf 'test: %s\n' "$*" >&2; }

# The suites need Debian packages (rabbitmq-server, prometheus, chromium, nginx, ...): install what is
# missing when we may (root with apt-get; TEST_NO_INSTALL=1 to skip), so `make test` alone works on a
# fresh machine. Otherwise the tests that need a missing program fail, naming the package.
if [ -z "${TEST_NO_INSTALL:-}" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    bash "$ROOT/build/ci-deps.sh" || log "installing test dependencies failed; tests needing them will fail"
else
    log "not installing test dependencies (needs root and apt-get); see build/ci-deps.sh for the list"
fi

# The test broker may be shared by concurrent runs from the same checkout (several engineers,
# or `make test` next to `make test-stress`): each run holds a lease on it, and the last run to
# leave stops it, if a test run started it. A broker started by hand is left running.
leased=
broker() {
    env -u BROKER_DIR -u BROKER_FRESH BROKER_NAME="$TEST_BROKER_NAME" BROKER_PORT="$TEST_BROKER_PORT" \
        ${TEST_BROKER_DIR:+BROKER_DIR="$TEST_BROKER_DIR"} bash "$ROOT/build/broker.sh" "$@"
}
locked() { { flock 9; "$@"; } 9>"$BROKER_DIR/.lock"; }
join_broker() {
    mkdir -p "$BROKER_DIR/users"
    if broker status >/dev/null 2>&1; then
        if [ -e "$BROKER_DIR/test-owned" ]; then
            log "sharing the test broker $TEST_BROKER_NAME with a concurrent test run"
        else
            log "using the test broker $TEST_BROKER_NAME that was already running (it stays running)"
        fi
    else
        rm -f "$BROKER_DIR"/users/* "$BROKER_DIR/test-owned"
        # Fresh data: no queues or messages left over from an earlier run.
        BROKER_FRESH=1 broker start >/dev/null || return 1
        : >"$BROKER_DIR/test-owned"
    fi
    : >"$BROKER_DIR/users/$$"
    leased=1
}
leave_broker() {
    rm -f "$BROKER_DIR/users/$$"
    local lease others=
    for lease in "$BROKER_DIR"/users/*; do
        [ -e "$lease" ] || continue
        if kill -0 "${lease##*/}" 2>/dev/null; then others=1; else rm -f "$lease"; fi
    done
    if [ -n "$others" ]; then
        log "leaving the test broker running for a concurrent test run"
    elif [ -e "$BROKER_DIR/test-owned" ]; then
        broker stop || true
        rm -f "$BROKER_DIR/test-owned"
    fi
}
release_broker() {
    if [ -n "$leased" ]; then
        leased=
        locked leave_broker
    fi
}
trap release_broker EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

broker_setting=$(printf '%s' "${EVENTSOURCED_TEST_BROKER:-}" | tr -d '[:space:]' | tr '[:upper:]' '[:lower:]')
if [ -z "${EVENTSOURCED_TEST_AMQP:-}" ] && [ "$broker_setting" = container ]; then
    log "EVENTSOURCED_TEST_BROKER=container: every suite starts its brokers in containers (Testcontainers)"
elif [ -z "${EVENTSOURCED_TEST_AMQP:-}" ]; then
    TEST_BROKER_NAME=${TEST_BROKER_NAME:-eventsourced-test}
    TEST_BROKER_PORT=${TEST_BROKER_PORT:-5680}
    eval "$(broker env | grep '^export BROKER_DIR=')"
    mkdir -p "$BROKER_DIR"
    locked join_broker
    # Only the test variables: EVENTSOURCED_BROKER__* would reconfigure gateways under test.
    eval "$(broker env | grep -E '^export EVENTSOURCED_TEST_')"
    log "broker $EVENTSOURCED_TEST_NODE at $EVENTSOURCED_TEST_AMQP"
else
    log "broker from EVENTSOURCED_TEST_AMQP${EVENTSOURCED_TEST_NODE:+ (node $EVENTSOURCED_TEST_NODE)}"
fi
export EVENTSOURCED_TEST_AMQP EVENTSOURCED_TEST_NODE EVENTSOURCED_TEST_ERLANG_COOKIE

broken=()
run_tests() {
    local name=$1 project=$2 rc=0
    log "$name tests ($filter)"
    # shellcheck disable=SC2086 # TEST_ARGS is a list of words
    dotnet test "$project" -c "$CONFIGURATION" --nologo --no-build \
        --filter "$filter" \
        --results-directory "$results" \
        --logger "trx;LogFileName=$name.trx" \
        --blame-hang-timeout "${TEST_HANG_TIMEOUT:-20m}" --blame-hang-dump-type none \
        ${TEST_ARGS:-} || rc=$?
    # Failed tests are counted from the TRX. A non-zero exit without a failed test in the
    # TRX (or without a TRX) means the run itself broke: build error, crashed or hung test host.
    if [ "$rc" -ne 0 ] && { [ ! -s "$results/$name.trx" ] || ! grep -qE '<UnitTestResult [^>]*outcome="(Failed|Error|Timeout|Aborted)"' "$results/$name.trx"; }; then
        broken+=("$name (dotnet test exited with $rc)")
    fi
}

# TEST_PARALLEL=1 (the default) runs the suites marked '&' in SUITES alongside the next suite: the unit
# tests are a minute of CPU, and the end-to-end tests spend most of their time waiting on browsers, nginx
# and gateway restarts, not on the CPU, so next to the integration tests they cost little wall time.
# Their console output goes to a file, printed whole when they end, so that the suites' lines do not
# interleave.
# Built first, one project after the other: two `dotnet test` builds at once would write the same
# shared projects' outputs. A build error fails the run here, naming the project.
has_stress_tests() { grep -rqsE --include='*.cs' 'Trait\("Category", "Stress"\)' "$(dirname "$1")"; }
for suite in "${SUITES[@]}"; do
    project=${suite#*:}
    if [ "$mode" = stress ] && ! has_stress_tests "$project"; then
        continue
    fi
    if ! dotnet build "$project" -c "$CONFIGURATION" --nologo -v quiet; then
        log "building $project failed"
        exit 1
    fi
done

background=()
for suite in "${SUITES[@]}"; do
    project=${suite#*:}
    name=${suite%%:*}
    # A suite without a Category=Stress test would only be built and searched in vain (~15 s each).
    if [ "$mode" = stress ] && ! has_stress_tests "$project"; then
        log "${name#&} tests: none with Category=Stress"
        continue
    fi
    if [ "${name:0:1}" = "&" ] && [ "${TEST_PARALLEL:-1}" = 1 ]; then
        name=${name#&}
        log "$name tests run in the background; their output follows when they end"
        ( broken=(); run_tests "$name" "$project"; printf '%s\n' "${broken[@]}" >"$results/$name.broken" ) \
            >"$results/$name.out" 2>&1 &
        background+=("$name:$!")
        continue
    fi
    run_tests "${name#&}" "$project"
done
for job in "${background[@]}"; do
    name=${job%%:*}
    wait "${job#*:}" || true
    log "$name tests (run in the background): their output"
    cat "$results/$name.out" >&2
    if [ ! -e "$results/$name.broken" ]; then
        broken+=("$name (its background run left no outcome)")
        continue
    fi
    while IFS= read -r line; do
        if [ -n "$line" ]; then broken+=("$line"); fi
    done <"$results/$name.broken"
done
release_broker

# Count the outcome of every test result in every TRX (xunit's skipped tests are NotExecuted).
passed=0 failed=0 skipped=0
shopt -s nullglob
for trx in "$results"/*.trx; do
    while read -r outcome; do
        case "$outcome" in
            Passed) passed=$((passed + 1)) ;;
            NotExecuted | Inconclusive | Pending) skipped=$((skipped + 1)) ;;
            *) failed=$((failed + 1)) ;; # Failed, Error, Timeout, Aborted, ...
        esac
    done < <(grep -o '<UnitTestResult [^>]*' "$trx" | sed -n 's/.* outcome="\([A-Za-z]*\)".*/\1/p')
done

for run in "${broken[@]}"; do
    log "the $run run broke without reporting a failed test (build error, crashed test host? see above)"
done
echo "tests: $passed passed, $failed failed, $skipped skipped"
if [ "$failed" -gt 0 ] || [ "${#broken[@]}" -gt 0 ]; then
    exit 1
fi
if [ $((passed + failed)) -eq 0 ]; then
    log "no test ran (filter $filter)"
    exit 1
fi
