# acceltel: build, run and test the otelcol-acceltel distribution.
#
#   make run    build the collector and start it with distributions/otelcol-acceltel/local.yaml
#   make test   install what the tests need, then run every test, end to end included
#
# Tools are pinned in internal/tools/go.mod (OCB, mdatagen, golangci-lint) and
# run with `go tool -modfile=...`; nothing needs to be on PATH but Go.

SHELL       := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
GO          ?= go
TOOL        := $(GO) tool -modfile=$(CURDIR)/internal/tools/go.mod
DIST        := otelcol-acceltel
DIST_DIR    := distributions/$(DIST)
BUILD_DIR   := _build/$(DIST)
CONFIG      ?= $(DIST_DIR)/local.yaml
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
GO_TEST_FLAGS ?=
FUZZTIME ?= 60s
FUZZ_SMOKE ?= 2s
# OCB builds with -trimpath; building everything the same way lets tests reuse its compiled packages.
export GOFLAGS := $(strip $(GOFLAGS) -trimpath)

# Everything the binaries are built from; make rebuilds only when one changes.
GO_SOURCES := go.mod go.sum builder-config.yaml $(shell find . -name '*.go' -not -path './_build/*' -not -path './internal/tools/*' -not -path './testbed/duckdb/node_modules/*' 2>/dev/null)

.PHONY: all build run test unit e2e fuzz fleet plan-eval generate generate-check lint bench deps clean help

all: build

help:
	@grep -E '^#   make' Makefile | sed 's/^#   //'

## build: bin/otelcol-acceltel through OCB, bin/acceltel with go build, the first-party benchmark plugins (hostbench, cudabench), the NCCL profiler plugin
build: bin/$(DIST) bin/acceltel bin/hostbench bin/cudabench bin/libnccl-profiler-acceltel.so

bin/$(DIST): $(GO_SOURCES)
	@mkdir -p _build bin
	$(TOOL) builder --config builder-config.yaml
	cp $(BUILD_DIR)/$(DIST) $@.tmp && mv -f $@.tmp $@ # a rename, so a running collector keeps its file

bin/acceltel: $(GO_SOURCES)
	@mkdir -p bin
	$(GO) build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o $@ ./cmd/acceltel

bin/hostbench: $(GO_SOURCES)
	@mkdir -p bin
	$(GO) build -trimpath -o $@ ./plugins/hostbench
	cd bin && sha256sum hostbench > hostbench.sha256 && chmod 644 hostbench.sha256 # the benchmark receiver's sha256_file

bin/cudabench: $(GO_SOURCES)
	@mkdir -p bin
	$(GO) build -trimpath -o $@ ./plugins/cudabench
	cd bin && sha256sum cudabench > cudabench.sha256 && chmod 644 cudabench.sha256

bin/libnccl-profiler-acceltel.so: $(wildcard native/nccl-profiler/*.c native/nccl-profiler/*.h)
	$(MAKE) -C native/nccl-profiler OUT=$(CURDIR)/bin $(CURDIR)/bin/libnccl-profiler-acceltel.so

## bin/versitygw: the S3 server the s3 exporter's tests write to (internal/s3test), pinned in internal/tools/versitygw/go.mod
bin/versitygw: internal/tools/versitygw/go.mod internal/tools/versitygw/go.sum
	@mkdir -p bin
	$(GO) build -modfile=internal/tools/versitygw/go.mod -o $@ github.com/versity/versitygw/cmd/versitygw

## run: the collector with local.yaml (OTLP on 4317/4318, Prometheus exporter on 127.0.0.1:8889)
run: bin/$(DIST) bin/hostbench
	./bin/$(DIST) --config $(CONFIG)

## test: every test, end to end with a real Prometheus included
test: deps build bin/versitygw
	$(GO) test $(GO_TEST_FLAGS) ./...
	scripts/fuzz.sh -s -t $(FUZZ_SMOKE)

## fleet: the fleet simulator's measurement (~9 min; needs prometheus); rewrites the results in testbed/README.md
fleet: build
	$(GO) test $(GO_TEST_FLAGS) -count=1 -timeout 25m -run '^TestFleet$$' -v ./testbed/fleet/ -fleet

## fuzz: every native fuzz target for FUZZTIME (default 60s) each; stops at the first failure
fuzz:
	scripts/fuzz.sh -t $(FUZZTIME)

## unit: the tests without the end-to-end testbed
unit: bin/versitygw
	$(GO) test $(GO_TEST_FLAGS) $$($(GO) list ./... | grep -v /testbed)

## e2e: the end-to-end testbed only
e2e: deps build bin/versitygw
	$(GO) test $(GO_TEST_FLAGS) -count=1 -v ./testbed/...

## deps: what the tests need from Debian (apt starts no service; the tests start their own)
deps:
	@command -v prometheus >/dev/null || { \
		echo "installing prometheus (Debian package) for the end-to-end tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus; }
	@command -v chromium >/dev/null || { \
		echo "installing chromium (Debian package) for the report and status page tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; }
	@command -v node >/dev/null && node -e 'process.exit(Number(process.versions.node.split(".")[0]) < 20 ? 1 : 0)' || { \
		echo "the DuckDB tests need Node.js 20+ with npm (testbed/duckdb)"; exit 1; }

## generate: rebuild every generated file (OCB component list, mdatagen)
generate:
	@mkdir -p _build
	$(TOOL) builder --config builder-config.yaml --skip-compilation --skip-get-modules
	sed -e 's/^package main$$/package distro/' \
	    -e 's|^func components() |// Components returns the factories of every component in builder-config.yaml.\nfunc Components() |' \
	    $(BUILD_DIR)/components.go > internal/distro/components.go
	gofmt -w internal/distro/components.go
	@command -v protoc >/dev/null || { echo "protoc is missing: apt-get install --no-install-recommends protobuf-compiler"; exit 1; }
	sh plugins/sdk/proto/generate.sh
	@command -v clang >/dev/null || { echo "clang is missing: apt-get install --no-install-recommends clang llvm libbpf-dev"; exit 1; }
	cd receivers/ebpfreceiver && $(GO) generate ./...
	cd native/cuda && $(GO) generate ./...
	@for m in $$(find . -name metadata.yaml -not -path './_build/*'); do \
		echo "mdatagen $$m"; (cd $$(dirname $$m) && $(TOOL) mdatagen metadata.yaml) || exit 1; \
	done

## generate-check: fail when a generated file is not what `make generate` writes
generate-check: generate
	@git diff --exit-code -- . ':!go.sum' || { echo "generated files are stale: run make generate and commit"; exit 1; }

## lint: gofmt, go vet, golangci-lint
lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...
	$(TOOL) golangci-lint run ./...

## plan-eval: the planner's evaluation figures in the README (ZeRO/DeepSpeed memory, vTrain held-out error and rank correlation, Megatron-LM Table 1, planning time)
plan-eval:
	$(GO) test -count=1 -v -run 'ZeRO|DeepSpeed|TestVTrain$$|TestVTrainLayoutChoice|TestMegatronTable1' ./internal/planner/ | grep -v '^=== '
	$(GO) test -count=1 -run '^$$' -bench Plan175 -benchmem ./internal/planner/

## bench: every component benchmark, with allocations
bench:
	$(GO) test -run '^$$' -bench . -benchmem $$($(GO) list ./... | grep -v /testbed)

clean:
	rm -rf _build bin testbed/duckdb/node_modules
