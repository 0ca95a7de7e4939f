# Mutation testing with gremlins (hack/mutation.sh, docs/testing.md). The
# top-level Makefile includes this file.
#
# Each package is mutated and judged by its own tests only. CPU-heavy: one
# `go test` per mutant; MUTATION_WORKERS=2 halves the time on an idle
# machine.

##@ Mutation testing

MUTATION_PACKAGES ?= check scheduler worker broadcast probe
# The packages whose tests gate CI, and the efficacy they must keep.
MUTATION_GATE_PACKAGES ?= check scheduler worker
MUTATION_GATE_MIN ?= 90

.PHONY: mutation
mutation: ## Mutation-test the core packages and print killed/lived/efficacy per package (many minutes)
	hack/mutation.sh $(MUTATION_PACKAGES)

.PHONY: mutation-gate
mutation-gate: ## Fail when check, scheduler or worker falls below MUTATION_GATE_MIN% mutation efficacy
	hack/mutation.sh --min-efficacy $(MUTATION_GATE_MIN) $(MUTATION_GATE_PACKAGES)

.PHONY: mutation-store
mutation-store: ## Mutation-test internal/store against the local PostgreSQL (slow; not in CI)
	hack/mutation.sh store
