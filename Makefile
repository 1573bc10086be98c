# Baton's Makefile. `make help` lists the targets.

# Every binary Baton needs is built from the Go module proxy through the
# pinned hack/tools module, into bin/, keyed by version.
TOOLS_DIR   := hack/tools
TOOLS_MOD   := $(TOOLS_DIR)/go.mod
BIN         := $(abspath bin)
tool_version = $(shell awk '$$1 == "$(1)" { print $$2; exit }' $(TOOLS_MOD))

K8S_VERSION            := $(call tool_version,k8s.io/kubernetes)
ETCD_VERSION           := $(call tool_version,go.etcd.io/etcd/server/v3)
KWOK_VERSION           := $(call tool_version,sigs.k8s.io/kwok)
CONTROLLER_GEN_VERSION := $(call tool_version,sigs.k8s.io/controller-tools)
GOTESTSUM_VERSION      := $(call tool_version,gotest.tools/gotestsum)
KUSTOMIZE_VERSION      := $(call tool_version,sigs.k8s.io/kustomize/kustomize/v5)

# envtest's KUBEBUILDER_ASSETS: kube-apiserver and etcd.
K8S_ASSETS     := $(BIN)/k8s/$(K8S_VERSION)-etcd-$(ETCD_VERSION)
# The rest of the control plane, for the dev cluster and e2e.
K8S_CLUSTER    := $(BIN)/k8s/$(K8S_VERSION)-kwok-$(KWOK_VERSION)
CONTROLLER_GEN := $(BIN)/controller-gen-$(CONTROLLER_GEN_VERSION)
GOTESTSUM      := $(BIN)/gotestsum-$(GOTESTSUM_VERSION)
KUSTOMIZE      := $(BIN)/kustomize-$(KUSTOMIZE_VERSION)

GO_BUILD_TOOL = cd $(TOOLS_DIR) && go build -trimpath -ldflags='-s -w' -o

# Flux's source-controller and kustomize-controller, for `make dev
# GITOPS=flux` (docs/flux.md), from their own module hack/tools/flux so that
# Flux's dependencies never move the Kubernetes pins of hack/tools. -mod=mod:
# the module records only Flux's versions and replace pins, not a go.sum
# for every dependency.
FLUX_TOOLS_DIR     := $(TOOLS_DIR)/flux
FLUX_SOURCE_VERSION    := $(shell awk '$$1 == "github.com/fluxcd/source-controller" { print $$2; exit }' $(FLUX_TOOLS_DIR)/go.mod)
FLUX_KUSTOMIZE_VERSION := $(shell awk '$$1 == "github.com/fluxcd/kustomize-controller" { print $$2; exit }' $(FLUX_TOOLS_DIR)/go.mod)
FLUX_BIN           := $(BIN)/flux
FLUX_SOURCE_CONTROLLER    := $(FLUX_BIN)/$(FLUX_SOURCE_VERSION)/source-controller
FLUX_KUSTOMIZE_CONTROLLER := $(FLUX_BIN)/$(FLUX_KUSTOMIZE_VERSION)/kustomize-controller
GO_BUILD_FLUX = cd $(FLUX_TOOLS_DIR) && go build -mod=mod -trimpath -ldflags='-s -w' -o

# Packages under test; TEST_FLAGS passes extra flags to go test.
TEST_PKGS  ?= ./...
TEST_FLAGS ?=

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate the CRDs and RBAC from the Go markers.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd webhook paths="./..." output:crd:artifacts:config=config/crd/bases

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate the DeepCopy methods.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./..."

.PHONY: fmt
fmt: ## Run gofmt on the code.
	gofmt -l -w $$(git ls-files '*.go')

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: tidy
tidy: ## Run go mod tidy on every module.
	go mod tidy
	cd $(TOOLS_DIR) && go mod tidy
	cd $(PROMQL_CHECK_DIR) && go mod tidy

.PHONY: verify
verify: fmt vet manifests generate tidy ## Fail if fmt, vet, generation or tidy change anything.
	@if [ -n "$$(git status --porcelain)" ]; then \
		echo "make verify: these files are stale or unformatted; run make verify and commit:"; \
		git status --porcelain; git --no-pager diff --stat; exit 1; \
	fi

# hack/promqlcheck is its own module, so Prometheus's dependencies stay out
# of the manager's go.mod.
PROMQL_CHECK_DIR := hack/promqlcheck

.PHONY: test-queries
test-queries: ## Parse every alert (config/prometheus) and dashboard (config/grafana) query with Prometheus's own PromQL parser.
	cd $(PROMQL_CHECK_DIR) && go run . $(addprefix $(CURDIR)/,config/prometheus/prometheusrule.yaml $(wildcard config/grafana/*.json))

.PHONY: test
test: manifests generate k8s-bins prometheus gitea $(GOTESTSUM) test-queries ## Run every unit and envtest suite against a real kube-apiserver and etcd (and a real Prometheus and Gitea).
	KUBEBUILDER_ASSETS=$(K8S_ASSETS) PROMETHEUS=$(PROMETHEUS) GITEA=$(GITEA) $(GOTESTSUM) --format standard-verbose -- -count=1 $(TEST_FLAGS) $(TEST_PKGS)

##@ Build

.PHONY: build
build: ## Build the manager and the kubectl promote plugin into bin/.
	go build -o $(BIN)/manager ./cmd/manager
	go build -o $(BIN)/kubectl-promote ./cmd/kubectl-promote

.PHONY: run
run: manifests generate ## Run the manager against the cluster in ~/.kube/config.
	go run ./cmd/manager

##@ Deployment

# The manager image, and what deploys it (docs/install.md). DEPLOY_CONFIG
# picks the kustomization under config/: default (the manager issues its own
# webhook certificate), certmanager, or webhook-client-auth (the webhook
# answers only the API server's client certificate).
IMG              ?= ghcr.io/baton-dev/baton:latest
CONTAINER_TOOL   ?= docker
PLATFORMS        ?= linux/amd64,linux/arm64
DEPLOY_CONFIG    ?= default
DEPLOY_KUBECTL   ?= kubectl
DEPLOY_DIR       := $(BIN)/deploy

.PHONY: docker-build
docker-build: ## Build the manager image IMG for this machine's platform.
	$(CONTAINER_TOOL) build -t $(IMG) .

.PHONY: docker-push
docker-push: ## Push the manager image IMG.
	$(CONTAINER_TOOL) push $(IMG)

.PHONY: docker-buildx
docker-buildx: ## Build and push IMG for every platform in PLATFORMS.
	$(CONTAINER_TOOL) buildx build --platform=$(PLATFORMS) --push -t $(IMG) .

# A throwaway overlay that only sets the image, so that no tracked file
# changes with IMG.
.PHONY: render
render: $(KUSTOMIZE)
	@rm -rf $(DEPLOY_DIR) && mkdir -p $(DEPLOY_DIR)
	@printf 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- ../../config/%s\n' $(DEPLOY_CONFIG) > $(DEPLOY_DIR)/kustomization.yaml
	@cd $(DEPLOY_DIR) && $(KUSTOMIZE) edit set image ghcr.io/baton-dev/baton=$(IMG)

.PHONY: build-installer
build-installer: render ## Render the whole install, image IMG, into dist/install.yaml.
	@mkdir -p dist
	$(KUSTOMIZE) build $(DEPLOY_DIR) > dist/install.yaml
	@echo "wrote dist/install.yaml (image $(IMG)); install it with: kubectl apply --server-side -f dist/install.yaml"

.PHONY: deploy
deploy: render ## Install Baton (config/default, or DEPLOY_CONFIG=certmanager; image IMG) into the current kubeconfig's cluster.
	$(KUSTOMIZE) build $(DEPLOY_DIR) | $(DEPLOY_KUBECTL) apply --server-side --force-conflicts -f -
	$(DEPLOY_KUBECTL) -n baton-system rollout status deploy/baton-controller-manager --timeout=5m

.PHONY: undeploy
undeploy: render ## Remove Baton, its CRDs and with them every Environment and Promotion.
	$(KUSTOMIZE) build $(DEPLOY_DIR) | $(DEPLOY_KUBECTL) delete --ignore-not-found --wait=false -f -

##@ Tools (built from the Go module proxy, cached in bin/ by version)

.PHONY: kustomize
kustomize: $(KUSTOMIZE) ## Build kustomize (for deploy, undeploy and build-installer).

.PHONY: k8s-bins
k8s-bins: $(K8S_ASSETS)/kube-apiserver $(K8S_ASSETS)/etcd ## Build kube-apiserver and etcd for envtest.

.PHONY: k8s-cluster-bins
k8s-cluster-bins: k8s-bins $(K8S_CLUSTER)/kube-controller-manager $(K8S_CLUSTER)/kube-scheduler $(K8S_CLUSTER)/kubectl $(K8S_CLUSTER)/kwok ## Also build kube-controller-manager, kube-scheduler, kubectl and kwok.

$(K8S_ASSETS)/kube-apiserver:
	$(GO_BUILD_TOOL) $@ k8s.io/kubernetes/cmd/kube-apiserver
$(K8S_ASSETS)/etcd:
	$(GO_BUILD_TOOL) $@ go.etcd.io/etcd/server/v3
$(K8S_CLUSTER)/kube-controller-manager:
	$(GO_BUILD_TOOL) $@ k8s.io/kubernetes/cmd/kube-controller-manager
$(K8S_CLUSTER)/kube-scheduler:
	$(GO_BUILD_TOOL) $@ k8s.io/kubernetes/cmd/kube-scheduler
$(K8S_CLUSTER)/kubectl:
	$(GO_BUILD_TOOL) $@ k8s.io/kubernetes/cmd/kubectl
$(K8S_CLUSTER)/kwok:
	$(GO_BUILD_TOOL) $@ sigs.k8s.io/kwok/cmd/kwok
.PHONY: flux-bins
flux-bins: $(FLUX_SOURCE_CONTROLLER) $(FLUX_KUSTOMIZE_CONTROLLER) ## Build Flux's source-controller and kustomize-controller (hack/tools/flux) into bin/flux/<version>/.

$(FLUX_SOURCE_CONTROLLER):
	$(GO_BUILD_FLUX) $@ github.com/fluxcd/source-controller
$(FLUX_KUSTOMIZE_CONTROLLER):
	$(GO_BUILD_FLUX) $@ github.com/fluxcd/kustomize-controller
$(CONTROLLER_GEN):
	$(GO_BUILD_TOOL) $@ sigs.k8s.io/controller-tools/cmd/controller-gen
$(GOTESTSUM):
	$(GO_BUILD_TOOL) $@ gotest.tools/gotestsum
$(KUSTOMIZE):
	$(GO_BUILD_TOOL) $@ sigs.k8s.io/kustomize/kustomize/v5

# Debian's Chromium, for the dashboard's browser test (test/e2e/dashboard_test.go).
CHROMIUM ?= /usr/bin/chromium

.PHONY: chromium
chromium: ## Install Debian's chromium for the dashboard's browser test, unless $(CHROMIUM) is there (apt-get; root or sudo).
	@if [ -x "$(CHROMIUM)" ]; then echo "$(CHROMIUM): $$($(CHROMIUM) --version 2>/dev/null)"; else \
		sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$sudo apt-get update && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium; fi

# A real Prometheus for the verification checks' tests (docs/verification.md).
# Debian's prometheus 2.42: building github.com/prometheus/prometheus from the
# module proxy (hack/tools/prometheus, make prometheus-from-source) did not
# finish within an hour on the shared 2-core machine.
PROMETHEUS ?= /usr/bin/prometheus
PROMETHEUS_VERSION := $(shell awk '$$1 == "github.com/prometheus/prometheus" { print $$2; exit }' $(TOOLS_DIR)/prometheus/go.mod)

.PHONY: prometheus
prometheus: ## Install Debian's prometheus for the verification tests, unless $(PROMETHEUS) is there (apt-get; root or sudo).
	@if [ -x "$(PROMETHEUS)" ]; then echo "$(PROMETHEUS): $$($(PROMETHEUS) --version 2>&1 | head -1)"; else \
		sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$sudo apt-get update && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus; fi

.PHONY: prometheus-from-source
prometheus-from-source: ## Build Prometheus $(PROMETHEUS_VERSION) from the module proxy into bin/prometheus/<version>/ (slow: use PROMETHEUS=$(BIN)/prometheus/$(PROMETHEUS_VERSION)/prometheus).
	cd $(TOOLS_DIR)/prometheus && go build -mod=mod -trimpath -ldflags='-s -w' -o $(BIN)/prometheus/$(PROMETHEUS_VERSION)/prometheus github.com/prometheus/prometheus/cmd/prometheus

# A real Gitea for the commit-status and push-webhook tests
# (controllers/gitea_test.go, docs/observability.md), built from the module
# proxy in Gitea's own module, so that its go.mod's replace directives apply
# (v1.27 declares the path gitea.dev and cannot be fetched as
# code.gitea.io/gitea). Gitea reads options/ and templates/ from its
# STATIC_ROOT_PATH at run time: they are copied next to the binary. cgo, for
# SQLite.
GITEA_VERSION ?= v1.26.0
GITEA         := $(BIN)/gitea/$(GITEA_VERSION)/gitea

.PHONY: gitea
gitea: $(GITEA) ## Build Gitea $(GITEA_VERSION) from the module proxy into bin/gitea/<version>/ (about 8 minutes cold on 2 cores).

$(GITEA):
	@src=$$(go mod download -json code.gitea.io/gitea@$(GITEA_VERSION) | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p'); \
	test -n "$$src" || { echo "make gitea: cannot download code.gitea.io/gitea@$(GITEA_VERSION)" >&2; exit 1; }; \
	mkdir -p $(@D) && rm -rf $(@D)/options $(@D)/templates && cp -R $$src/options $$src/templates $(@D)/ && chmod -R u+w $(@D); \
	echo "building Gitea $(GITEA_VERSION) from $$src"; \
	cd $$src && CGO_ENABLED=1 go build -mod=readonly -tags 'sqlite sqlite_unlock_notify' -trimpath -ldflags='-s -w' -o $@.tmp . && mv $@.tmp $@

.PHONY: clean
clean: ## Remove built binaries (not the cached tools).
	rm -f $(BIN)/manager $(BIN)/kubectl-promote

##@ Local cluster

# The dev cluster (hack/dev/cluster): state, kubeconfigs, pid files and logs
# under DEV_DIR; ports DEV_PORT_BASE..DEV_PORT_BASE+10 on 127.0.0.1 (etcd,
# etcd peer, kube-apiserver, kube-controller-manager, kube-scheduler, kwok,
# the manager's webhook, metrics, probes and push-hook receiver, then the
# sample application's Git server; +11..+15 for Flux; +16 the sample app's
# HTTP and +17 the Prometheus that scrapes it and the manager); the layout is defined
# in hack/dev/procs (docs/dev-cluster.md). E2E_PORT_BASE is the e2e suite's own
# cluster, so that it never collides with yours.
DEV_DIR        ?= $(BIN)/dev
DEV_PORT_BASE  ?= 17400
DEV_NAMESPACE  ?= baton-system
E2E_PORT_BASE  ?= 17500
E2E_FLAGS      ?=
DEV_CLUSTER    := $(BIN)/dev-cluster
KUBECTL        := $(K8S_CLUSTER)/kubectl
DEV_CLUSTER_BINS := $(K8S_ASSETS)/kube-apiserver $(K8S_ASSETS)/etcd $(K8S_CLUSTER)/kube-controller-manager \
	$(K8S_CLUSTER)/kube-scheduler $(K8S_CLUSTER)/kubectl $(K8S_CLUSTER)/kwok
DEV_CLUSTER_RUN = $(DEV_CLUSTER) --dir $(DEV_DIR) --port-base $(DEV_PORT_BASE)

# The first run builds the binaries, saying what and for how long.
DEV_BUILD = @MAKE="$(MAKE)" bash hack/dev/build-bins.sh $(DEV_CLUSTER_BINS) && go build -o $(DEV_CLUSTER) ./hack/dev/cluster

.PHONY: dev-cluster
dev-cluster: ## Start the local cluster (etcd, kube-apiserver, controller-manager, scheduler, kwok).
	$(DEV_BUILD)
	@$(DEV_CLUSTER_RUN) --assets-dir $(K8S_ASSETS) --cluster-bin-dir $(K8S_CLUSTER) --tools-dir $(TOOLS_DIR) up

.PHONY: dev-cluster-down
dev-cluster-down: ## Stop the local cluster (and the manager); leaves no process or port behind.
	@go build -o $(DEV_CLUSTER) ./hack/dev/cluster
	@$(DEV_CLUSTER_RUN) down

# GITOPS=flux also runs Flux's source-controller and kustomize-controller
# (make flux-bins) on DEV_PORT_BASE+11..+15, and both Environments deliver
# through Git to a config repository that Flux applies (docs/flux.md).
GITOPS ?=
DEV_ENV = DEV_DIR=$(DEV_DIR) DEV_PORT_BASE=$(DEV_PORT_BASE) DEV_NAMESPACE=$(DEV_NAMESPACE) \
	DEV_CLUSTER=$(DEV_CLUSTER) KUBECTL=$(KUBECTL) MANAGER=$(BIN)/manager GITOPS=$(GITOPS) \
	SAMPLEAPP=$(BIN)/sampleapp PROMETHEUS=$(PROMETHEUS) GITEA=$(GITEA) \
	FLUX_TOOLS_DIR=$(FLUX_TOOLS_DIR) FLUX_SOURCE_CONTROLLER=$(FLUX_SOURCE_CONTROLLER) \
	FLUX_KUSTOMIZE_CONTROLLER=$(FLUX_KUSTOMIZE_CONTROLLER)

.PHONY: dev
dev: dev-cluster prometheus gitea $(if $(filter flux,$(GITOPS)),flux-bins) ## Start the local cluster, install Baton, run the manager, Gitea (the app's repository), the sample app and Prometheus, and seed the app's Environments (GITOPS=flux: applied by Flux).
	@$(DEV_ENV) bash hack/dev/dev.sh up

.PHONY: dev-down
dev-down: dev-cluster-down ## Stop the manager, the Flux controllers and the local cluster.

.PHONY: dev-merge
dev-merge: ## "Merge" a commit into the sample app's repository: staging deploys it (MESSAGE="...").
	@DEV_DIR=$(DEV_DIR) DEV_PORT_BASE=$(DEV_PORT_BASE) bash hack/dev/merge.sh $(if $(MESSAGE),"$(MESSAGE)")

# The Ginkgo suite (test/e2e, docs/e2e.md) and the dev cluster's own tests
# (test/devcluster), one package at a time: each starts its own cluster.
E2E_PKGS ?= ./test/e2e/... ./test/devcluster/...

# The real GitOps loop (test/e2e/gitops_test.go, label "gitops"): its own
# `make dev GITOPS=flux` cluster on E2E_PORT_BASE+60..+75, beside the suite's.
.PHONY: test-e2e-gitops
test-e2e-gitops: build flux-bins ## Run the e2e scenarios where Flux applies Baton's commits (ports from E2E_PORT_BASE).
	$(DEV_BUILD)
	E2E_GITOPS=1 E2E_PORT_BASE=$(E2E_PORT_BASE) K8S_ASSETS=$(K8S_ASSETS) K8S_CLUSTER=$(K8S_CLUSTER) \
		go test -tags e2e -count=1 -timeout 30m -v ./test/e2e/ -ginkgo.label-filter=gitops -ginkgo.v $(E2E_FLAGS)

.PHONY: test-e2e
test-e2e: build ## Run the e2e suites against their own local clusters (ports from E2E_PORT_BASE).
	$(DEV_BUILD)
	E2E_PORT_BASE=$(E2E_PORT_BASE) K8S_ASSETS=$(K8S_ASSETS) K8S_CLUSTER=$(K8S_CLUSTER) CHROMIUM=$(CHROMIUM) \
		go test -tags e2e -count=1 -p 1 -timeout 60m -v $(E2E_PKGS) $(E2E_FLAGS)
