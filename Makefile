# synwatch — `make demo` shows it working, `make test` proves it.
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
BIN      := bin/synwatch
LDFLAGS  := -X main.version=$(VERSION)

.PHONY: all build test unit bench fuzz demo vet fmt clean setup chaos man

# One target at a time, in the order written: `demo` and `test` must install
# what the build needs (scripts/setup: libpcap-dev, ...) before building,
# also under make -j.
.NOTPARALLEL:

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/synwatch

setup:
	scripts/setup

# Man pages (section 1) from the same definitions as --help, into bin/man.
man: build
	$(BIN) man --dir bin/man

# The whole suite against real parts: libpcap on veth pairs, Apache Kafka,
# redis-server, nmap, rsyslog. Needs root. Installs what is missing first.
test: setup build
	scripts/test

# Unit tests only, no root, no services.
unit:
	$(GO) test -short ./...

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }

bench: setup build
	scripts/bench

fuzz:
	scripts/fuzz

# The fault-injection suite (a few minutes; not part of make test): brokers
# stopped and killed, sensor and verifier killed mid-stream, Redis killed, a
# full spool disk, poison and ~1 MiB messages, damaged store files. Prints
# per scenario what went in and out, lost, duplicated, and whether the
# process stayed up (docs/benchmarks.md). Needs root (tmpfs) and Kafka.
chaos: setup
	SYNWATCH_TEST_KAFKA=$${SYNWATCH_TEST_KAFKA:-$$(scripts/kafka-local start | tail -1)} \
		$(GO) test -tags chaos -count=1 -timeout 30m -v -run TestChaos ./internal/chaos

# A fresh Debian machine: setup installs libpcap-dev and the tools first.
demo: setup build
	scripts/demo

clean:
	rm -rf bin
