GO      ?= go
BIN     ?= bin/ficus
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
# Race detection where it is cheap enough to keep `make test` well under 15 minutes on 2 cores.
RACE_PKGS := ./cmd/... ./proxy/...

.PHONY: all build test demo bench fuzz vet deps clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/ficus

deps:
	@bash deploy/install-deps.sh test

vet:
	$(GO) vet ./...

test: deps vet
	$(GO) test -race -count=1 -timeout 12m $(RACE_PKGS)
	$(GO) test -count=1 -timeout 12m $$($(GO) list ./... | grep -v -e /cmd/ -e /proxy)

demo: build
	@bash deploy/install-deps.sh demo
	./$(BIN) demo $(DEMO_ARGS)

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzLoad -fuzztime 60s ./cmd/ficus/config/

bench: build
	@bash deploy/install-deps.sh bench
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf bin ficus-data
