#!/usr/bin/env bash
# Installs the Debian packages the tests need, only those that are missing.
#
#   build/ci-deps.sh            install everything in CI_PACKAGES
#   build/ci-deps.sh PKG...     install just these (build/broker.sh uses this)
#
# Runs `apt-get update` at most once, and only when something must be installed.
# Services that packages would start on install (the system rabbitmq-server on
# 5672, ...) are kept from starting: the tests run their own instances.
set -euo pipefail

# Packages the test suites need. Add to this list (prometheus, nginx, chromium,
# amqp-tools, ...) rather than installing things anywhere else.
CI_PACKAGES=(
    make            # .ci/run drives everything through the Makefile
    rabbitmq-server # build/broker.sh and the integration tests' private nodes
    prometheus      # tests/Eventsourced.IntegrationTests/Observability: promtool check metrics and rules, test rules, a real scrape
    chromium        # tests/Eventsourced.EndToEndTests: Playwright drives /usr/bin/chromium
    nginx           # tests/Eventsourced.EndToEndTests: examples/nginx in front of the gateway
    amqp-tools      # tests/Eventsourced.EndToEndTests: examples/amqp-tools (amqp-publish)
    util-linux      # tests/Eventsourced.EndToEndTests: unshare, setpriv for the unprivileged run
    systemd         # tests/Eventsourced.EndToEndTests: systemd-analyze verify for examples/systemd
)

log() { printf 'ci-deps: %s\n' "$*" >&2; }

if [ "$#" -gt 0 ]; then
    wanted=("$@")
else
    wanted=("${CI_PACKAGES[@]}")
fi

installed() {
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" = installed ]
}

if ! command -v dpkg-query >/dev/null 2>&1; then
    log "not a Debian system: install these yourself: ${wanted[*]}"
    exit 1
fi

missing=()
for pkg in "${wanted[@]}"; do
    installed "$pkg" || missing+=("$pkg")
done
if [ "${#missing[@]}" -eq 0 ]; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    log "missing packages: ${missing[*]}; run as root: apt-get install -y ${missing[*]}"
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt=(apt-get -qq -o Dpkg::Use-Pty=0 -o APT::Install-Recommends=false)

# Keep package installs from starting services (the Docker convention); only for this run.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# Added by eventsourced build/ci-deps.sh for the duration of an install.\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    policy_added=1 # removed again by the EXIT trap below
fi

log "installing ${missing[*]}"
# Quiet unless something fails: apt and dpkg output goes to a log shown on error.
aptlog=$(mktemp)
trap 'rm -f "$aptlog"; [ -z "${policy_added:-}" ] || rm -f "$policy"' EXIT
run() {
    if ! "$@" >>"$aptlog" 2>&1; then
        log "failed: $*"
        tail -n 30 "$aptlog" >&2
        return 1
    fi
}
# One update per run, and only when the package lists lack a candidate.
updated=
if ! apt-cache show "${missing[@]}" >/dev/null 2>&1; then
    run "${apt[@]}" update
    updated=1
fi
if ! run "${apt[@]}" install -y "${missing[@]}"; then
    [ -z "$updated" ] || exit 1
    # Stale package lists (a superseded version 404s): refresh once and retry.
    log "retrying after apt-get update"
    run "${apt[@]}" update
    run "${apt[@]}" install -y "${missing[@]}"
fi
log "installed ${missing[*]}"
