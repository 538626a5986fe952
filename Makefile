GO      ?= go
BIN     ?= bin/ficus
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
# Two runs keep `make test` well under 15 minutes on 2 cores: with -race, the packages whose
# tests stay inside the test process; without it, those whose tests start processes (the
# throwaway PostgreSQL, MariaDB and NATS cluster, the real binary in e2e/, plugins, tools),
# where the detector sees only the test's side and slows the databases' workloads by minutes.
# internal/testsplit reads the tests to tell which is which: nothing to list here.
RACE_PKGS    = $$($(GO) run ./internal/testsplit)
PROCESS_PKGS = $$($(GO) run ./internal/testsplit -processes)
# golangci-lint (config: .golangci.yml) is installed into GOPATH/bin by `make lint` when
# missing or of another version; the first build takes a few minutes.
GOLANGCI_LINT_VERSION := 2.15.0
GOLANGCI_LINT = $(firstword $(subst :, ,$(shell $(GO) env GOPATH)))/bin/golangci-lint

.PHONY: all build test demo bench fuzz vet lint deps clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/ficus

deps:
	@bash deploy/install-deps.sh test

vet:
	$(GO) vet ./...

lint:
	@if [ "$$($(GOLANGCI_LINT) version --short 2>/dev/null)" != "$(GOLANGCI_LINT_VERSION)" ]; then \
		echo "installing golangci-lint v$(GOLANGCI_LINT_VERSION) into $(dir $(GOLANGCI_LINT))"; \
		GOBIN="$(dir $(GOLANGCI_LINT))" $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v$(GOLANGCI_LINT_VERSION); \
	fi
	$(GOLANGCI_LINT) run ./...

test: deps vet lint
	$(GO) test -race -count=1 -timeout 10m $(RACE_PKGS)
	$(GO) test -count=1 -timeout 14m $(PROCESS_PKGS)

demo: build
	@bash deploy/install-deps.sh demo
	./$(BIN) demo $(DEMO_ARGS)

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzLoad -fuzztime 60s ./internal/config/
	$(GO) test -run '^$$' -fuzz FuzzFastPathResponse -fuzztime 3000x ./proxy/
	$(GO) test -run '^$$' -fuzz FuzzCleanPath -fuzztime 60s ./proxy/rules/
	$(GO) test -run '^$$' -fuzz FuzzHeadConflict -fuzztime 60s ./proxy/serve/

bench: build
	@bash deploy/install-deps.sh bench
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 5000x ./proxy/...
	$(GO) run ./cmd/ficusbench proxy -ficus $(BIN)
	$(GO) run ./cmd/ficusbench replay -ficus $(BIN)
	$(GO) run ./cmd/ficusbench pgcapture -ficus $(BIN)
	$(GO) run ./cmd/ficusbench mysqlcapture -ficus $(BIN)
	$(GO) run ./cmd/ficusbench backfill
	$(GO) run ./cmd/ficusbench reconcile
	$(GO) run ./cmd/ficusbench reconcile-keys
	$(GO) run ./cmd/ficusbench datacompare
	$(GO) run ./cmd/ficusbench plugins

clean:
	rm -rf bin ficus-data
