# Kubernetes mode: generated API code and manifests, the offline envtest
# binaries, and the Helm chart. The top-level Makefile includes this file.
#
# Tools are built from the Go module proxy into a per-machine cache outside
# the work tree (hack/envtest/install.sh), once; later runs only check
# their versions.

##@ Kubernetes

ENVTEST_INSTALL ?= hack/envtest/install.sh
VIGIL_TOOLS_DIR ?= $(shell $(ENVTEST_INSTALL) --print-bin)
KUBEBUILDER_ASSETS ?= $(shell $(ENVTEST_INSTALL) --print-assets)
export KUBEBUILDER_ASSETS
CONTROLLER_GEN ?= $(VIGIL_TOOLS_DIR)/controller-gen
HELM ?= $(VIGIL_TOOLS_DIR)/helm
export VIGIL_HELM ?= $(HELM)

CHART_DIR := charts/vigil
# helm lint needs values that pass the chart's own checks.
HELM_LINT_VALUES := --set postgres.url=postgres://vigil@postgres:5432/vigil --set amqp.url=amqp://vigil@rabbitmq:5672/

.PHONY: envtest-assets
envtest-assets: ## Build kube-apiserver, etcd, controller-gen and helm into the per-machine cache (first run: many minutes)
	@$(ENVTEST_INSTALL)

.PHONY: controller-gen-bin
controller-gen-bin:
	@$(ENVTEST_INSTALL) controller-gen >/dev/null

.PHONY: helm-bin
helm-bin:
	@$(ENVTEST_INSTALL) helm >/dev/null

.PHONY: generate
generate: controller-gen-bin ## Generate DeepCopy methods of the API types
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: manifests
manifests: controller-gen-bin ## Generate the CRD and the operator's RBAC from markers; copy the CRDs into the chart
	$(CONTROLLER_GEN) rbac:roleName=vigil-operator crd paths="./api/...;./controllers/..." \
		output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac
	cp config/crd/bases/monitoring.vigil.dev_*.yaml $(CHART_DIR)/crds/

.PHONY: helm-lint
helm-lint: helm-bin ## Lint the chart and render it with default values and with 3 replicas
	$(HELM) lint --strict $(CHART_DIR) $(HELM_LINT_VALUES)
	$(HELM) template vigil $(CHART_DIR) >/dev/null
	$(HELM) template vigil $(CHART_DIR) --set worker.replicas=3 --set server.replicas=3 >/dev/null

.PHONY: verify-generated
verify-generated: generate manifests ## Fail when generated code or manifests are stale
	@git diff --exit-code -- api config $(CHART_DIR)/crds || \
		{ echo "generated files are stale: run 'make generate manifests' and commit the result" >&2; exit 1; }
	@test -z "$$(git status --porcelain --untracked-files=all -- api config $(CHART_DIR)/crds)" || \
		{ git status --short -- api config $(CHART_DIR)/crds >&2; echo "untracked generated files: commit them" >&2; exit 1; }

# `make test` builds the envtest binaries and helm on a fresh machine (see
# docs/kubernetes.md for the time that takes) and reuses them afterwards.
test-assets: envtest-assets
