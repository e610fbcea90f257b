# Outpost: the Makefile is the interface. `make run` starts a node, `make test` runs the tests.
GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
BIN       := bin
PKGS      := ./...
FUZZTIME  ?= 30s

.PHONY: build run test race test-short bench fuzz lint cross deps clean

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/outpost ./cmd/outpost
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/firmware-sim ./firmware-sim

# One node on embedded defaults: data in ./outpost-data, MQTT on 127.0.0.1:1883, HTTP on 127.0.0.1:8080.
run: build
	$(BIN)/outpost serve

# Installs the Debian packages some tests use (mosquitto, kcat) when it can, then runs every
# test with the race detector. Tests whose package is missing skip and name it.
test: deps race

race:
	$(GO) test -race -timeout 25m $(PKGS)

test-short:
	$(GO) test -race -short $(PKGS)

deps:
	@scripts/install-deps.sh

bench:
	$(GO) test -run '^$$' -bench . -benchtime 1x $(PKGS)
	scripts/bench.sh

fuzz:
	scripts/fuzz.sh $(FUZZTIME)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

cross:
	@for p in linux/amd64 linux/arm64 linux/arm/7 linux/arm/6; do \
		os=$${p%%/*}; rest=$${p#*/}; arch=$${rest%%/*}; arm=$${rest#*/}; [ "$$arm" = "$$rest" ] && arm=; \
		out=$(BIN)/outpost-$$os-$$arch$${arm:+v$$arm}; echo "building $$out"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch GOARM=$$arm $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $$out ./cmd/outpost || exit 1; \
	done

clean:
	rm -rf $(BIN) outpost-data
