GO      ?= go
BIN     ?= bin/ficus
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
# Race detection where it is cheap enough to keep `make test` well under 15 minutes on 2 cores:
# the libraries and the in-process tests of cmd/ficus; the tests that drive the real binary
# (kill -9, 1M rows) and the database-backed packages run without it.
# Everything but the database-backed packages, the process tests and the bench tool.
RACE_PKGS = $$($(GO) list ./... | grep -v -e '/cmd/ficus$$' -e /internal/testenv -e /capture -e /cmd/ficusbench -e '/deploy$$' -e /internal/demo/apps -e /plugins/host -e /plugins/e2e -e /shadow/data/reconcile)
RACE_MAIN := TestDemo|TestHelp|TestValidate
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

test: vet lint deps
	$(GO) test -race -count=1 -timeout 10m $(RACE_PKGS)
	$(GO) test -race -count=1 -timeout 5m -run '$(RACE_MAIN)' ./cmd/ficus
	$(GO) test -count=1 -timeout 14m ./cmd/ficus ./internal/testenv ./capture/... ./cmd/ficusbench ./deploy ./internal/demo/apps ./plugins/host ./plugins/e2e ./shadow/data/reconcile

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
	$(GO) run ./cmd/ficusbench pgcapture -ficus $(BIN)
	$(GO) run ./cmd/ficusbench mysqlcapture -ficus $(BIN)
	$(GO) run ./cmd/ficusbench reconcile
	$(GO) run ./cmd/ficusbench datacompare
	$(GO) run ./cmd/ficusbench plugins

clean:
	rm -rf bin ficus-data
