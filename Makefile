# matrix-notify. `make demo` runs the main job on the bundled homeserver;
# `make test` runs every test.
GO      ?= go
BIN     := bin/matrix-notify
# The commit goes in too for `matrix-notify version` where the toolchain does
# not stamp it (GOFLAGS=-buildvcs=false, git worktrees).
LDFLAGS := -s -w -X main.buildCommit=$(shell git rev-parse --short=12 HEAD 2>/dev/null)
# mautrix's pure-Go olm (sender/e2ee); without it the crypto packages need cgo and libolm.
export GOFLAGS := $(strip $(GOFLAGS) -tags=goolm)

STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: all build test integration fuzz vet staticcheck fmt demo fetch-netdata liquidjs-deps clean bench

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./plugin

# Everything: formatting, vet, staticcheck, the race-checked tests (the end-to-end ones
# build and run the real binary; the oracle ones run Debian's alarm-notify.sh
# and npm's liquidjs), and a short run of every fuzz target.
test: fetch-netdata liquidjs-deps vet staticcheck fmt build
	LIQUIDJS_ORACLE=required $(GO) test -race -count=1 ./...
	$(MAKE) fuzz

# The real peers (scripts/realpeers): the binary against Dendrite v0.13.8,
# read back with a real client, and Debian's netdata daemon (when installed;
# needs root). Dendrite is built once into DENDRITE_BIN_DIR (~8 min cold).
DENDRITE_BIN_DIR  ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/matrix-notify/dendrite-v0.13.8
REALPEERS_NETDATA ?= $(shell PATH="$$PATH:/usr/sbin:/sbin" command -v netdata 2>/dev/null)
integration:
	@DENDRITE_BIN_DIR='$(DENDRITE_BIN_DIR)' bash scripts/realpeers/dendrite.sh build >/dev/null
	DENDRITE_BIN_DIR='$(DENDRITE_BIN_DIR)' REALPEERS_NETDATA='$(REALPEERS_NETDATA)' \
		$(GO) test -count=1 -v -timeout 20m ./scripts/realpeers/ ./sender/e2ee/

# LiquidJS at Kuma's pinned version, the reference renderer for templates.
liquidjs-deps:
	@[ -d scripts/liquidjs/node_modules/liquidjs ] || npm ci --prefix scripts/liquidjs --no-audit --no-fund

fetch-netdata:
	@bash scripts/fetch-netdata.sh

# Also without the goolm tag, as a plain `go vet ./...` runs, where libolm's
# headers are installed (Debian: libolm-dev): mautrix then builds its cgo
# binding, which must compile too.
vet:
	$(GO) vet ./...
	@if [ -f /usr/include/olm/olm.h ]; then echo "GOFLAGS= go vet ./... (libolm)"; GOFLAGS= $(GO) vet ./...; \
	else echo "vet without the goolm tag skipped: libolm's headers are not installed (apt-get install libolm-dev)"; fi

# staticcheck from the module proxy, at a pinned version (no tool to install).
staticcheck:
	$(GO) run $(STATICCHECK) ./...

fmt:
	@out=$$(gofmt -l $$(find . -name '*.go' -not -path './testdata/*')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

FUZZTIME ?= 10s
fuzz:
	@bash scripts/fuzz.sh $(FUZZTIME)

# Performance against alarm-notify.sh and curl on a loopback homeserver,
# encrypted rooms on Dendrite (built once, as for integration), the storm,
# serve under load and the Go benchmarks; checks BENCHMARKS.md's budget
# (PASS/MISS) and writes scripts/bench/results.md.
bench: fetch-netdata build
	@DENDRITE_BIN_DIR='$(DENDRITE_BIN_DIR)' bash scripts/realpeers/dendrite.sh build >/dev/null
	DENDRITE_BIN_DIR='$(DENDRITE_BIN_DIR)' $(GO) run ./scripts/bench -bin $(BIN)

demo: build
	$(GO) run ./scripts/demo -bin $(BIN)

clean:
	rm -rf bin
