# fusebox — every target runs from a clean clone; tools are pinned here and
# installed by `go run tool@version`, so nothing needs installing by hand.

GO            ?= go
STATICCHECK   := honnef.co/go/tools/cmd/staticcheck@v0.8.2
BENCHSTAT     := golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da
GREMLINS      := github.com/go-gremlins/gremlins/cmd/gremlins@v0.6.0
# Every module of the repository (the root plus nested modules).
MODULE_DIRS   := $(shell find . -name go.mod -not -path './.git/*' -exec dirname {} \; | sort)

.PHONY: help all build test test-386 lint tidy-check cover demo demo-fleet bench bench-quick verify-long mutate fuzz

help: ## list the targets
	@grep -E '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

all: lint test test-386 ## lint and every test

build: ## build every module
	@set -e; for d in $(MODULE_DIRS); do echo "== build $$d"; (cd $$d && $(GO) build ./...); done

test: ## the whole test suite with the race detector, every module
	@set -e; for d in $(MODULE_DIRS); do \
		echo "== test $$d"; \
		if [ "$$d" = "." ]; then \
			GORACE=halt_on_error=1 $(GO) test -race -count=1 -timeout=30m $$($(GO) list ./... | grep -v /proptest); \
		else \
			(cd $$d && GORACE=halt_on_error=1 $(GO) test -race -count=1 -timeout=30m ./...); \
		fi; \
	done
	@echo "== property, linearizability and stress suites (proptest/)"
	cd proptest && GORACE=halt_on_error=1 $(GO) test -race -count=1 -timeout=30m
	@echo "== stress tests at several -cpu values"
	cd proptest && GORACE=halt_on_error=1 $(GO) test -race -count=1 -timeout=30m -run 'Stress' -cpu 1,2,4,8
	@echo "== benchmarks compile and run one iteration (a smoke run: its timings mean nothing, so only the verdict is shown)"
	@cd benchmarks && out=$$($(GO) test -race -count=1 -run='^$$' -bench=. -benchtime=1x ./... 2>&1) || { echo "$$out"; exit 1; }; \
		echo "$$out" | grep -E '^(ok|FAIL|---)' 

test-386: ## the root module's tests on 32-bit (GOARCH=386); where the kernel cannot run 386 binaries, type-checked only
	@if GOARCH=386 $(GO) test -count=1 -run '^$$' ./internal/clock/ >/dev/null 2>&1; then \
		GOARCH=386 $(GO) test -count=1 ./...; \
	else \
		echo "test-386: this kernel cannot execute 386 binaries; type-checking the tests for GOARCH=386 instead (go vet)"; \
		GOARCH=386 $(GO) vet ./...; \
	fi

lint: tidy-check ## gofmt, go vet and staticcheck (pinned) in every module
	@set -e; test -z "$$(gofmt -l .)" || { gofmt -l .; echo "gofmt: files above need formatting"; exit 1; }
	@set -e; for d in $(MODULE_DIRS); do echo "== lint $$d"; (cd $$d && $(GO) vet ./... && $(GO) run $(STATICCHECK) ./...); done

tidy-check: ## go mod tidy leaves every module unchanged
	@set -e; for d in $(MODULE_DIRS); do (cd $$d && $(GO) mod tidy && git diff --exit-code -- go.mod go.sum) || { echo "go mod tidy changed $$d"; exit 1; }; done

cover: ## coverage of breaker/ and internal/ (atomic mode, race on)
	$(GO) test -race -covermode=atomic -coverpkg=./breaker/...,./internal/... -coverprofile=cover.out ./breaker/... ./internal/... ./proptest/...
	$(GO) tool cover -func=cover.out | tail -1

demo: ## a flaky HTTP service on loopback behind a breaker, with a live timeline
	$(GO) run ./cmd/demo

demo-fleet: ## four replicas sharing a breaker through a local redis-server: a fleet trip, one elected probe, a fleet close
	cd cmd/demo-fleet && $(GO) run .

bench: ## the full comparison with the peers; writes BENCHMARKS.md and the chart
	cd benchmarks && BENCHSTAT=$(BENCHSTAT) ./run.sh full

bench-quick: ## a short comparison run for development
	cd benchmarks && BENCHSTAT=$(BENCHSTAT) ./run.sh quick

# The model test is one goroutine driving a fake clock, so it runs without the
# race detector (about nine times faster: 100,000 cases take about 13 minutes
# on 2 vCPUs instead of hours); every suite with concurrent goroutines runs
# under it.
verify-long: ## the property, linearizability and stress suites at a much larger size
	FUSEBOX_LONG=1 $(GO) test -count=1 -timeout=80m -run '^TestModel$$' ./proptest/
	FUSEBOX_LONG=1 GORACE=halt_on_error=1 $(GO) test -race -count=1 -timeout=80m -skip '^TestModel$$' ./proptest/...

mutate: ## mutation testing of breaker/ and internal/ with gremlins
	./scripts/mutate.sh $(GREMLINS)

fuzz: ## run each fuzz target for a minute (their seed corpora run in `make test`)
	$(GO) test ./proptest/ -run='^$$' -fuzz='^FuzzConfig$$' -fuzztime=60s
	$(GO) test ./proptest/ -run='^$$' -fuzz='^FuzzStateWordPublic$$' -fuzztime=60s
	$(GO) test ./breaker/ -run='^$$' -fuzz='^FuzzStateWord$$' -fuzztime=60s
