# Vigil's developer entry points. `make` lists them.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO        ?= go
BIN       ?= bin
COVER_MIN ?= 80
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION  ?= $(shell git rev-parse HEAD 2>/dev/null)
IMAGE     ?= vigil:local
# Test packages run in parallel against the one local PostgreSQL and
# RabbitMQ; each test uses its own schema / queue names.
TEST_FLAGS ?= -race -count=1 -timeout 20m

##@ General
.PHONY: help
help: ## Show the targets.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development
.PHONY: fmt
fmt: ## Format the code.
	gofmt -w $$(git ls-files '*.go')

.PHONY: fmt-check
fmt-check: ## Fail when gofmt would change a file.
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

.PHONY: vet
vet: ## Run go vet.
	$(GO) vet ./...

# golangci-lint is built from the Go module proxy into the per-machine tool
# cache (hack/envtest/install.sh; a few minutes the first time), pinned
# there; .golangci.yml says which linters run and why the others do not.
GOLANGCI_LINT ?= $(shell hack/envtest/install.sh --print-bin)/golangci-lint

.PHONY: golangci-lint
golangci-lint: ## Run golangci-lint (.golangci.yml).
	@hack/envtest/install.sh golangci-lint >/dev/null
	$(GOLANGCI_LINT) run ./...

.PHONY: lint
lint: fmt-check vet golangci-lint ## Static checks.

.PHONY: verify
verify: lint verify-generated ## Static checks, and fail when generated code or manifests are stale.
	@test -z "$$(git status --porcelain go.mod go.sum)" || { echo "go.mod/go.sum changed: commit them" >&2; exit 1; }

.PHONY: build
build: ## Build bin/vigil.
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w -X main.version=$(VERSION) -X main.revision=$(REVISION)" -o $(BIN)/vigil ./cmd/vigil

.PHONY: run
run: build ## Run a server against the local PostgreSQL and RabbitMQ.
	VIGIL_DATABASE_URL=$${VIGIL_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable} \
	VIGIL_AMQP_URL=$${VIGIL_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/} $(BIN)/vigil server

##@ Testing
.PHONY: services
services: ## Start (or install) the local PostgreSQL and RabbitMQ the tests use.
	hack/services.sh

.PHONY: test
test: lint test-assets ## Every test: unit, integration (real PostgreSQL, RabbitMQ, kube-apiserver), coverage gate.
	$(GO) test $(TEST_FLAGS) -coverpkg=./... -coverprofile=coverage.out ./...
	hack/coverage.sh coverage.out $(COVER_MIN)

.PHONY: test-unit
test-unit: ## Tests that need no service (domain, scheduler, worker, config).
	$(GO) test -race -count=1 ./internal/check/... ./internal/scheduler/... ./internal/worker/... ./internal/config/... ./internal/logging/...

.PHONY: fuzz
fuzz: ## Run every fuzz target briefly (FUZZTIME=10s each); CI runs it after make test.
	hack/fuzz.sh

.PHONY: cover-html
cover-html: ## Open the last coverage profile as HTML.
	$(GO) tool cover -html=coverage.out

##@ Benchmarks
BENCH_CHECKS   ?= 1000
BENCH_INTERVAL ?= 10s
BENCH_DURATION ?= 60s

.PHONY: bench
bench: build ## Load harness: BENCH_CHECKS checks at BENCH_INTERVAL for BENCH_DURATION (docs/benchmarks.md).
	$(GO) run ./hack/bench -checks $(BENCH_CHECKS) -interval $(BENCH_INTERVAL) -duration $(BENCH_DURATION) -bin $(BIN)/vigil

.PHONY: bench-go
bench-go: ## Go micro-benchmarks of the hot paths against the real services.
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 2s ./internal/queue/... ./internal/probe/... ./internal/metrics/...

##@ Packaging
.PHONY: docker-build
docker-build: ## Build the container image (needs a Docker engine).
	docker build --build-arg VERSION=$(VERSION) --build-arg REVISION=$(REVISION) -t $(IMAGE) .

# test-assets fetches what the tests need besides Go modules: Debian's
# Chromium for the dashboard's browser test here, and (in the Kubernetes
# fragment) the envtest binaries and helm.
.PHONY: test-assets
test-assets:
	hack/install-chromium.sh

-include hack/make/*.mk
