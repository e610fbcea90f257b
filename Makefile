# Outpost: the Makefile is the interface. `make run` starts a node, `make test` runs the tests.
GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
BIN       := bin
PKGS      := ./...
# Our copy of mochi-mqtt (third_party/mochi-mqtt-server/OUTPOST.md): a module of its own, so ./... leaves it out.
MOCHI     := third_party/mochi-mqtt-server
# Our copy of ristretto (third_party/ristretto/OUTPOST.md), Badger's allocator pool: a module of its own too.
RISTRETTO := third_party/ristretto
# Our copy of flatbuffers' Go package (third_party/flatbuffers/OUTPOST.md), which Badger builds table indexes with.
FLATBUF   := third_party/flatbuffers
# Our copy of Badger (third_party/badger/OUTPOST.md): memtable arenas outside the Go heap.
BADGER    := third_party/badger
FUZZTIME  ?= 30s

.PHONY: build run test race test-short test-arm test-arm-if-qemu bench fuzz lint cross deb deps clean

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/outpost ./cmd/outpost
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/firmware-sim ./firmware-sim

# One node on embedded defaults: data in ./outpost-data, MQTT on 127.0.0.1:1883, HTTP on 127.0.0.1:8080.
run: build
	$(BIN)/outpost serve

# Installs the Debian packages some tests use (mosquitto, kcat, chromium, qemu-user-static) when it
# can, then runs every test with the race detector, then the ARM runs when qemu is there. Tests
# whose package is missing skip and name it.
test: deps race test-arm-if-qemu

race:
	$(GO) test -race -timeout 12m $(PKGS)
	GO=$(GO) scripts/test-mochi.sh
	cd $(RISTRETTO) && $(GO) test -race -run 'Allocat|Calloc|PowTwo' ./z
	cd $(FLATBUF) && $(GO) test -race ./go
	GO=$(GO) scripts/test-badger.sh

test-short:
	$(GO) test -race -short $(PKGS)

# The storage and edge suites built for arm64 and 32-bit arm/v7 and run under qemu-user (Debian
# package qemu-user-static; no -race under qemu; -short keeps the crash test to 3 kills per mode).
# OUTPOST_TEST_EXEC runs the tests' own child processes through the same emulator. The ristretto
# copy's allocator tests run on arm/v7 too: its 32-bit fix (OUTPOST.md, change 4) shows only there;
# and the Badger copy's arena and table tests: 32-bit mappings.
ARM_PKGS := ./storage/ ./edge/
test-arm:
	GOARCH=arm64 OUTPOST_TEST_EXEC=qemu-aarch64-static $(GO) test -short -count=1 -timeout 10m -exec qemu-aarch64-static $(ARM_PKGS)
	GOARCH=arm GOARM=7 OUTPOST_TEST_EXEC=qemu-arm-static $(GO) test -short -count=1 -timeout 10m -exec qemu-arm-static $(ARM_PKGS)
	cd $(RISTRETTO) && GOARCH=arm GOARM=7 $(GO) test -count=1 -exec qemu-arm-static -run 'Allocat|Calloc|PowTwo' ./z
	cd $(BADGER) && GOARCH=arm GOARM=7 $(GO) test -count=1 -exec qemu-arm-static -run TestOutpost ./skl ./table

test-arm-if-qemu:
	@if command -v qemu-aarch64-static >/dev/null 2>&1 && command -v qemu-arm-static >/dev/null 2>&1; then \
		$(MAKE) --no-print-directory test-arm; \
	else echo "test-arm skipped: needs the Debian package qemu-user-static"; fi

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
	cd $(MOCHI) && $(GO) vet ./...
	cd $(RISTRETTO) && $(GO) vet . ./z ./sim # z/simd: upstream assembly that vet flags
	cd $(RISTRETTO) && GOOS=darwin $(GO) vet ./z && GOOS=windows $(GO) build ./z # the copy's Linux-only files have stand-ins
	cd $(FLATBUF) && $(GO) vet ./go
	cd $(BADGER) && $(GO) vet ./skl ./y ./table # the root package: upstream's copylocks in publisher.go

CROSS     ?= linux/amd64 linux/arm64 linux/arm/7 linux/arm/6
cross:
	@for p in $(CROSS); do \
		os=$${p%%/*}; rest=$${p#*/}; arch=$${rest%%/*}; arm=$${rest#*/}; [ "$$arm" = "$$rest" ] && arm=; \
		out=$(BIN)/outpost-$$os-$$arch$${arm:+v$$arm}; echo "building $$out"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch GOARM=$$arm $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $$out ./cmd/outpost || exit 1; \
	done

# One .deb per architecture from the make cross binaries (nfpm from the Go module proxy): Debian's
# armhf gets the arm/v6 build, so it runs on Raspberry Pi OS on every Pi, Zero and Pi 1 included.
NFPM      := $(GO) run github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.45.2
DEB_VERSION = $(shell echo $(VERSION) | sed -e 's/^v//' -e 's/^\([^0-9]\)/0.0.0~\1/' -e 's/-/~/g')
deb: cross
	@mkdir -p dist
	@for a in amd64:amd64 arm64:arm64 armhf:armv6; do \
		deb=$${a%%:*}; bin=$${a#*:}; echo "packaging dist/outpost_$(DEB_VERSION)_$$deb.deb"; \
		cp $(BIN)/outpost-linux-$$bin dist/outpost || exit 1; \
		DEB_ARCH=$$deb DEB_VERSION=$(DEB_VERSION) $(NFPM) package -f configs/packaging/nfpm.yaml -p deb -t dist/ || exit 1; \
	done
	@rm -f dist/outpost

clean:
	rm -rf $(BIN) dist outpost-data
