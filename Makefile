# eventsourced: build, run and test. `make` lists the targets.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

DOTNET ?= dotnet
CONFIGURATION ?= Release
SOLUTION := eventsourced.sln
APP := cmd/Eventsourced/Eventsourced.Cli.csproj
OUT := out/eventsourced
# Extra arguments for `make run`, e.g. make run ARGS="-c"
ARGS ?=

export DOTNET_CLI_TELEMETRY_OPTOUT := 1
export DOTNET_NOLOGO := 1
export DOTNET_SKIP_FIRST_TIME_EXPERIENCE := 1

.PHONY: help restore build publish pack run broker-start broker-stop test test-stress clean format lint

help: ## list the targets
	@echo "usage: make TARGET"
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## (.*)/  \1\t\2/' | expand -t 16

restore: ## restore NuGet packages for the whole solution
	$(DOTNET) restore $(SOLUTION)

build: restore ## publish the gateway to out/eventsourced (run out/eventsourced/eventsourced)
	$(DOTNET) publish $(APP) -c $(CONFIGURATION) -o $(OUT) --no-restore

publish: build ## same as build

pack: restore ## the library as a NuGet package (out/packages/Eventsourced.VERSION.nupkg) for ASP.NET Core applications
	$(DOTNET) pack src/Eventsourced/Eventsourced.csproj -c $(CONFIGURATION) -o out/packages --no-restore
	@# NuGet restores a version it has extracted once from its global packages folder, never again from out/packages:
	@# drop this version's copy there, so that an application built next (examples/aspnetcore) gets this package.
	@cache=$$($(DOTNET) nuget locals global-packages --list | sed -n 's/^global-packages: *//p'); \
	if [ -n "$$cache" ]; then rm -rf "$$cache/eventsourced/$$(cat VERSION)"; fi

run: build ## build, start the local broker (unless a variable EVENTSOURCED_BROKER__NODE... names one), run the gateway
	@if ! env | grep -qi '^EVENTSOURCED_BROKER__NODE[_=]'; then \
	    url=$$(bash build/broker.sh start); \
	    export EVENTSOURCED_BROKER__NODE__0="$$url"; \
	    broker="local broker $$url"; \
	else \
	    broker="broker from the environment"; \
	fi; \
	echo "run: $(OUT)/eventsourced $(ARGS) ($$broker)"; \
	exec $(OUT)/eventsourced $(ARGS)

broker-start: ## start the local development broker (build/broker.sh; BROKER_NAME, BROKER_PORT)
	@bash build/broker.sh start

broker-stop: ## stop the local development broker
	@bash build/broker.sh stop

test: restore build ## unit + integration tests (not Category=Stress) against a throwaway broker
	@bash build/test.sh

test-stress: restore build ## only the Category=Stress tests, against a throwaway broker
	@bash build/test.sh --stress

# Arguments for the load tool, e.g. make bench BENCH_ARGS="--scenario drain --queues 10"
BENCH_ARGS ?=
.PHONY: bench
bench: build ## load tool (drain, live, hold, storm, slow, churn, fanout, resume) on the published gateway and a throwaway broker
	@bash build/bench.sh $(BENCH_ARGS)

# Every scenario but slow (which waits out the 60 s write timeout) at small sizes: the tool's checks
# (all delivered, in order, none refused) hold; no targets at these sizes. CI runs it.
.PHONY: bench-smoke
bench-smoke: build ## the load tool at small sizes (about a minute): catches a broken tool or gateway under load
	@bash build/bench.sh --scenario drain,live,hold,storm,fanout,resume --queues 10 --messages 200 --repeat 1 \
		--streams 200 --duration 3 --warmup 2 --settle 2 --markdown out/bench/smoke.md

clean: ## remove build output and test results
	rm -rf out
	find src cmd bench tests -type d \( -name bin -o -name obj -o -name TestResults \) -prune -exec rm -rf {} +

format: ## format the code (dotnet format)
	$(DOTNET) format $(SOLUTION)

lint: ## check formatting and build everything with warnings as errors
	$(DOTNET) format $(SOLUTION) --verify-no-changes
	$(DOTNET) build $(SOLUTION) -c $(CONFIGURATION) -warnaserror -p:TreatWarningsAsErrors=true
