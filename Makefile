# synwatch — `make demo` shows it working, `make test` proves it.
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
BIN      := bin/synwatch
LDFLAGS  := -X main.version=$(VERSION)

.PHONY: all build test unit bench fuzz demo vet fmt clean setup man

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

# A fresh Debian machine: setup installs libpcap-dev and the tools first.
demo: setup build
	scripts/demo

clean:
	rm -rf bin
