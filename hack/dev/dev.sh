#!/usr/bin/env bash
# Runs Baton against the dev cluster: `make dev` (up) and `make dev-down`.
# The Makefile starts the cluster first (make dev-cluster) and passes:
#   DEV_DIR DEV_PORT_BASE DEV_NAMESPACE DEV_CLUSTER KUBECTL MANAGER
#   SAMPLEAPP PROMETHEUS GITEA
# and, for GITOPS=flux (docs/flux.md), FLUX_TOOLS_DIR,
# FLUX_SOURCE_CONTROLLER and FLUX_KUSTOMIZE_CONTROLLER.
# Every step is idempotent: running `make dev` again re-applies the
# manifests, rebuilds the manager and restarts it.
set -euo pipefail

: "${DEV_DIR:?}" "${DEV_PORT_BASE:?}" "${DEV_NAMESPACE:?}" "${DEV_CLUSTER:?}" "${KUBECTL:?}" "${MANAGER:?}"
: "${SAMPLEAPP:?}" "${PROMETHEUS:?}" "${GITEA:?}"

cluster() { "$DEV_CLUSTER" --dir "$DEV_DIR" --port-base "$DEV_PORT_BASE" "$@"; }
kubectl() { "$KUBECTL" --kubeconfig "$DEV_DIR/admin.kubeconfig" "$@"; }
step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
rel() { echo "${1#"$PWD"/}"; }

# The ports of the manager (WEBHOOK_PORT, METRICS_PORT, PROBE_PORT,
# HOOKS_PORT), of the bare repositories' git server (GIT_PORT), of the Flux
# controllers (FLUX_*_PORT), of the sample app (SAMPLEAPP_PORT), of
# Prometheus (PROMETHEUS_PORT) and of Gitea (GITEA_PORT), from the one
# layout in hack/dev/procs.
eval "$(cluster ports)"
# The application repository, in Gitea (hack/dev/cluster/gitea.go).
GITEA_URL="https://127.0.0.1:$GITEA_PORT"
GIT_URL="$GITEA_URL/acme/web.git"
PROMETHEUS_URL="http://127.0.0.1:$PROMETHEUS_PORT"
MANAGER_LOG="$DEV_DIR/manager/manager.log"

# GITOPS=flux: Flux's source-controller and kustomize-controller apply the
# config repository $CONFIG_URL, and both Environments deliver through Git.
# Their ports (FLUX_*_PORT) follow the cluster's.
GITOPS=${GITOPS:-}
CONFIG_URL="http://127.0.0.1:$GIT_PORT/config.git"
case $GITOPS in
"" | flux) ;;
*)
	echo "GITOPS=$GITOPS: the only GitOps engine of the dev cluster is flux (or none)" >&2
	exit 2
	;;
esac

# git for the config repository only (under $DEV_DIR/git), with a fixed
# identity and no user or system configuration.
cfggit() {
	GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null \
		GIT_AUTHOR_NAME="Baton Dev" GIT_AUTHOR_EMAIL=dev@example.com \
		GIT_COMMITTER_NAME="Baton Dev" GIT_COMMITTER_EMAIL=dev@example.com git "$@"
}

# wait_ready NAME URL: wait up to 60s for the background process NAME to
# answer URL; otherwise show the end of its log and fail.
wait_ready() {
	if ! wait_http "$2" 60; then
		echo "$1 did not answer in 60s; the end of $(rel "$DEV_DIR/$1/$1.log"):" >&2
		tail -n 30 "$DEV_DIR/$1/$1.log" >&2
		exit 1
	fi
}

wait_http() { # URL SECONDS
	local i
	for ((i = 0; i < $2 * 5; i++)); do
		curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
		sleep 0.2
	done
	return 1
}

# The config repository: config/dev/flux/repo (base/, staging/ and
# production/ overlays) as one commit on main of $DEV_DIR/git/config.git,
# created once; Baton's commits go on top of it.
config_repo_init() {
	local bare="$DEV_DIR/git/config.git" work
	if cfggit --git-dir "$bare" rev-parse --verify -q refs/heads/main >/dev/null 2>&1; then
		echo "  config repository $(rel "$bare") (main at $(cfggit --git-dir "$bare" rev-parse --short HEAD))"
		return
	fi
	rm -rf "$bare"
	cfggit init -q --bare --initial-branch=main "$bare"
	cfggit --git-dir "$bare" config http.receivepack true
	work=$(mktemp -d)
	cfggit init -q --initial-branch=main "$work"
	cp -R config/dev/flux/repo/. "$work/"
	cfggit -C "$work" add -A
	cfggit -C "$work" commit -q -m "Seed the staging and production overlays"
	cfggit -C "$work" push -q "$bare" main
	rm -rf "$work"
	echo "  config repository $(rel "$bare") created (main at $(cfggit --git-dir "$bare" rev-parse --short HEAD))"
}

# Flux's CRDs, copied at run time from the controllers' modules in the Go
# module cache (the versions hack/tools/flux pins), and the two controllers.
flux_up() {
	step "Installing Flux's CRDs (config/crd/bases of source-controller and kustomize-controller)"
	local crds="$DEV_DIR/flux/crds" m dir
	rm -rf "$crds" && mkdir -p "$crds"
	for m in github.com/fluxcd/source-controller github.com/fluxcd/kustomize-controller; do
		dir=$(cd "$FLUX_TOOLS_DIR" && go list -mod=mod -m -f '{{.Dir}}' "$m")
		cp "$dir"/config/crd/bases/*.yaml "$crds/"
	done
	chmod u+w "$crds"/*.yaml
	kubectl apply --server-side -f "$crds"
	kubectl wait --for condition=Established --timeout=60s \
		crd/gitrepositories.source.toolkit.fluxcd.io crd/kustomizations.kustomize.toolkit.fluxcd.io
	kubectl create namespace flux-system --dry-run=client -o yaml | kubectl apply --server-side -f -

	step "Starting Flux's source-controller and kustomize-controller ($(rel "$(dirname "$FLUX_SOURCE_CONTROLLER")"))"
	mkdir -p "$DEV_DIR/flux/storage" "$DEV_DIR/flux/bin"
	# Started through symlinks under DEV_DIR: `cluster down` signals only a
	# process whose command line names the cluster's directory.
	ln -sf "$FLUX_SOURCE_CONTROLLER" "$DEV_DIR/flux/bin/source-controller"
	ln -sf "$FLUX_KUSTOMIZE_CONTROLLER" "$DEV_DIR/flux/bin/kustomize-controller"
	KUBECONFIG="$DEV_DIR/admin.kubeconfig" RUNTIME_NAMESPACE=flux-system \
		cluster run source-controller -- "$DEV_DIR/flux/bin/source-controller" \
		--storage-path="$DEV_DIR/flux/storage" \
		--storage-addr="127.0.0.1:$FLUX_STORAGE_PORT" \
		--storage-adv-addr="127.0.0.1:$FLUX_STORAGE_PORT" \
		--metrics-addr="127.0.0.1:$FLUX_SOURCE_METRICS_PORT" \
		--health-addr="127.0.0.1:$FLUX_SOURCE_HEALTH_PORT" \
		--enable-leader-election=false --log-level=info
	KUBECONFIG="$DEV_DIR/admin.kubeconfig" RUNTIME_NAMESPACE=flux-system \
		cluster run kustomize-controller -- "$DEV_DIR/flux/bin/kustomize-controller" \
		--metrics-addr="127.0.0.1:$FLUX_KUSTOMIZE_METRICS_PORT" \
		--health-addr="127.0.0.1:$FLUX_KUSTOMIZE_HEALTH_PORT" \
		--enable-leader-election=false --no-remote-bases=true --log-level=info
	local name port
	for name in source-controller:$FLUX_SOURCE_HEALTH_PORT kustomize-controller:$FLUX_KUSTOMIZE_HEALTH_PORT; do
		port=${name#*:}
		name=${name%%:*}
		wait_ready "$name" "http://127.0.0.1:$port/readyz"
		echo "  $name ready, log $(rel "$DEV_DIR/$name/$name.log")"
	done
}

# The config repository, Flux's GitRepository and Kustomizations, and the
# Environments delivering through Git.
flux_seed() {
	step "Flux applies the config repository $CONFIG_URL (staging/ and production/)"
	config_repo_init
	sed "s|http://127.0.0.1:17410/|http://127.0.0.1:$GIT_PORT/|" config/dev/flux/gitops.yaml |
		kubectl apply --server-side -f -
	kubectl -n flux-system wait --for condition=Ready --timeout=120s \
		gitrepository/config kustomization/staging kustomization/production
	sed -e "s|http://127.0.0.1:17410/|http://127.0.0.1:$GIT_PORT/|" -e "s|https://127.0.0.1:17418|$GITEA_URL|" config/dev/flux/environments.yaml |
		kubectl apply --server-side -f -
}

# The application's stand-in and its monitoring (docs/verification.md):
# hack/sampleapp serves http://127.0.0.1:$SAMPLEAPP_PORT/<namespace>/<name>
# for every Deployment, as the image it runs now, and sends each one 10
# requests a second; Prometheus scrapes it and the manager every second.
monitoring_up() {
	step "Starting the sample app (go build -o $(rel "$SAMPLEAPP") ./hack/sampleapp) and Prometheus ($PROMETHEUS)"
	go build -o "$SAMPLEAPP" ./hack/sampleapp
	cluster run sampleapp -- "$SAMPLEAPP" --kubeconfig "$DEV_DIR/admin.kubeconfig" \
		--listen "127.0.0.1:$SAMPLEAPP_PORT" --rps 10
	mkdir -p "$DEV_DIR/prometheus"
	cat >"$DEV_DIR/prometheus/prometheus.yml" <<PROM
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
- job_name: sampleapp
  static_configs: [{targets: ["127.0.0.1:$SAMPLEAPP_PORT"]}]
- job_name: baton
  static_configs: [{targets: ["127.0.0.1:$METRICS_PORT"]}]
PROM
	cluster run prometheus -- "$PROMETHEUS" --config.file="$DEV_DIR/prometheus/prometheus.yml" \
		--storage.tsdb.path="$DEV_DIR/prometheus/data" --storage.tsdb.retention.time=1d \
		--web.listen-address="127.0.0.1:$PROMETHEUS_PORT"
	wait_ready sampleapp "http://127.0.0.1:$SAMPLEAPP_PORT/metrics"
	wait_ready prometheus "$PROMETHEUS_URL/-/ready"
	echo "  sample app http://127.0.0.1:$SAMPLEAPP_PORT/metrics, Prometheus $PROMETHEUS_URL"
}

# Gitea, which hosts the application repository: installed once under
# $DEV_DIR/gitea, then started as the process "gitea" with a certificate of
# the cluster's CA. gitea_seed makes the repository once it answers.
gitea_up() {
	step "Starting Gitea ($(rel "$GITEA")) on $GITEA_URL"
	cluster git-init
	cluster --gitea "$GITEA" gitea-init
	HOME="$DEV_DIR/gitea" GITEA_WORK_DIR="$DEV_DIR/gitea" cluster run gitea -- \
		"$GITEA" web --config "$DEV_DIR/gitea/app.ini" --work-path "$DEV_DIR/gitea"
}

# The repository acme/web, its users dev and baton, the push webhook to
# staging's receiver, and the Secrets staging reads it and reports commit
# statuses with (Baton's token is never printed).
gitea_seed() {
	step "Seeding the application repository $GIT_URL"
	cluster gitea-seed
	kubectl -n web create secret generic web-gitea --type=kubernetes.io/basic-auth \
		--from-literal=username=baton --from-file=password="$DEV_DIR/gitea/baton-token" \
		--dry-run=client -o yaml | kubectl apply --server-side -f -
	kubectl -n web create secret generic web-commit-status --from-file=token="$DEV_DIR/gitea/baton-token" \
		--dry-run=client -o yaml | kubectl label --local -f - promotion.baton.dev/credentials=true -o yaml |
		kubectl apply --server-side -f -
}

up() {
	local t0=$SECONDS

	# Gitea takes a few seconds to start: it does while the manager builds.
	gitea_up

	step "Installing Baton's CRDs and roles (config/dev/baton)"
	kubectl apply --server-side -k config/dev/baton
	kubectl wait --for condition=Established --timeout=60s \
		crd/environments.promotion.baton.dev crd/promotions.promotion.baton.dev

	step "Pointing the admission webhooks at the manager on https://127.0.0.1:$WEBHOOK_PORT"
	cluster webhook-config | kubectl apply --server-side -f -

	step "Building the manager (go build -o $(rel "$MANAGER") ./cmd/manager) and starting it"
	go build -o "$MANAGER" ./cmd/manager
	local args=(
		--webhook-cert-dir="$DEV_DIR/webhook-certs"
		--webhook-port="$WEBHOOK_PORT"
		--metrics-bind-address="127.0.0.1:$METRICS_PORT"
		--health-probe-bind-address="127.0.0.1:$PROBE_PORT"
		--admission-key-namespace="$DEV_NAMESPACE"
		--zap-devel
	)
	# Only kube-apiserver's client certificate gets an answer from the
	# webhook (bin/dev-cluster issues it and the admission configuration).
	args+=(--webhook-client-ca-file="$DEV_DIR/pki/webhook-client-ca.crt" --webhook-client-names=kube-apiserver-webhook-client)
	# The certificate and caBundle are the dev CA's (bin/dev-cluster
	# webhook-config), not the manager's own; every port binds loopback only.
	args+=(--enable-cert-rotation=false --hooks-bind-address="127.0.0.1:$HOOKS_PORT" --webhook-host=127.0.0.1)
	# Its clones of the application repository stay with the cluster, not in
	# the shared /tmp/baton-git.
	args+=(--git-cache-dir="$DEV_DIR/manager/git-cache")
	# The dev Git servers are on the loopback: only they may be named, and
	# only 127.0.0.1 may get credentials over plain HTTP (docs/security.md).
	args+=(--allowed-git-hosts=127.0.0.1,localhost --insecure-http-git-hosts=127.0.0.1)
	# Checks may ask only the dev Prometheus, on the loopback, too.
	args+=(--allowed-prometheus-hosts=127.0.0.1,localhost)
	# And only registries on the loopback (the e2e suite's): a pinDigest
	# lookup of registry.example.com fails at once with HostNotAllowed.
	args+=(--allowed-registry-hosts=127.0.0.1,localhost)
	# The manager trusts the cluster's CA, which signed Gitea's certificate,
	# as a manager in a cluster trusts a company CA mounted into its Pod.
	SSL_CERT_FILE="$DEV_DIR/pki/ca.crt" KUBECONFIG="$DEV_DIR/admin.kubeconfig" cluster run manager -- "$MANAGER" "${args[@]}"
	local ready=""
	for _ in $(seq 1 300); do
		if curl -fsS -o /dev/null "http://127.0.0.1:$PROBE_PORT/readyz" 2>/dev/null &&
			curl -sS --cacert "$DEV_DIR/pki/ca.crt" --cert "$DEV_DIR/pki/webhook-client.crt" --key "$DEV_DIR/pki/webhook-client.key" \
				-o /dev/null "https://127.0.0.1:$WEBHOOK_PORT/" 2>/dev/null; then
			ready=1
			break
		fi
		sleep 0.2
	done
	if [[ -z $ready ]]; then
		echo "The manager did not become ready in 60s; the end of $(rel "$MANAGER_LOG"):" >&2
		tail -n 30 "$MANAGER_LOG" >&2
		exit 1
	fi
	echo "  manager ready: metrics http://127.0.0.1:$METRICS_PORT/metrics, log $(rel "$MANAGER_LOG")"

	if [[ $GITOPS == flux ]]; then
		flux_up
	fi

	monitoring_up

	step "Serving the bare repositories under $(rel "$DEV_DIR/git") on http://127.0.0.1:$GIT_PORT/"
	cluster run gitserver -- "$DEV_CLUSTER" --dir "$DEV_DIR" --port-base "$DEV_PORT_BASE" git-serve
	ready=""
	for _ in $(seq 1 50); do
		# Any answer will do: it serves no repository at / (404).
		if curl -sS -o /dev/null "http://127.0.0.1:$GIT_PORT/" 2>/dev/null; then
			ready=1
			break
		fi
		sleep 0.2
	done
	if [[ -z $ready ]]; then
		echo "The git server did not answer in 10s; the end of $(rel "$DEV_DIR/gitserver/gitserver.log"):" >&2
		tail -n 30 "$DEV_DIR/gitserver/gitserver.log" >&2
		exit 1
	fi

	step "Seeding the sample application (config/dev/app)"
	kubectl apply --server-side -k config/dev/app
	gitea_seed
	# The push-hook token of staging's spec.source.git.webhookSecretRef.
	kubectl -n web create secret generic web-hook --from-file=token="$DEV_DIR/git/hook-token" \
		--dry-run=client -o yaml | kubectl apply --server-side -f -
	if [[ $GITOPS == flux ]]; then
		flux_seed
	else
		seed_direct
	fi
	local ns d
	for ns in staging production; do
		for d in web worker; do
			kubectl -n "$ns" rollout status "deploy/$d" --timeout=60s
		done
	done
	kubectl -n web wait --for condition=Ready --timeout=60s environment/staging environment/production

	step "Baton is running ($((SECONDS - t0))s after the cluster was up)"
	kubectl -n web get environments -o wide
	if [[ $GITOPS == flux ]]; then
		kubectl -n flux-system get gitrepositories,kustomizations
	fi
	guide
}

seed_direct() {
	# Created once and never re-applied: see config/dev/app/kustomization.yaml.
	local out
	if ! out=$(kubectl create -f config/dev/app/deployments.yaml 2>&1); then
		if grep -v -e 'AlreadyExists' -e ' created$' <<<"$out" | grep -q .; then
			echo "$out" >&2
			exit 1
		fi
	fi
	grep ' created$' <<<"$out" || true
	if grep -q 'AlreadyExists' <<<"$out"; then
		echo "kept the existing Deployments in staging and production: Baton owns their images now"
	fi
	# staging follows the repository served on this DEV_PORT_BASE.
	sed -e "s|https://127.0.0.1:17418|$GITEA_URL|" -e "s|http://127.0.0.1:17417|$PROMETHEUS_URL|" config/dev/app/environments.yaml |
		kubectl apply --server-side -f -
}

guide() {
	local d k m
	d=$(rel "$DEV_DIR")
	k=$(rel "$KUBECTL")
	m=hack/dev/merge.sh
	if [[ $d != bin/dev || $DEV_PORT_BASE != 17400 ]]; then
		m="DEV_DIR=$d DEV_PORT_BASE=$DEV_PORT_BASE $m"
	fi
	cat <<GUIDE

Manager log:  $(rel "$MANAGER_LOG")   (tail -f it in another terminal)
Users:        $d/{admin,alice,bob,carol,oncall,mallory}.kubeconfig
              Environments and Promotions live in namespace "web" (the kubeconfigs' default).
kubectl:      $k

Next steps (docs/dev-cluster.md explains each one; the files are in config/dev/promotions/):

 1. Merge a change to main of the application repository ($GIT_URL):
    staging deploys registry.example.com/web:<short SHA> by itself, no kubectl needed:
      $m "Add the checkout page"
 2. Watch staging's Promotion staging-src-<sha> roll out, then, after 30s healthy,
    the image become verified (VERIFIED column):
      $k --kubeconfig $d/carol.kubeconfig get promotions,environments -o wide
 3. As alice, promote staging's verified image to production:
      $k --kubeconfig $d/alice.kubeconfig create -f config/dev/promotions/production-checkout.yaml
 4. As bob, approve it (once IMAGE shows in 'get promotions'):
      $k --kubeconfig $d/bob.kubeconfig patch promotion production-checkout --type=json -p '[{"op":"add","path":"/spec/approvals","value":[{}]}]'
 5. Watch production run its migrate release Job, then roll out web and worker:
      bin/kubectl-promote --kubeconfig $d/carol.kubeconfig status production-checkout
      $k --kubeconfig $d/carol.kubeconfig -n production rollout status deploy/worker
 6. Ship a broken image to staging: its Pods never become Ready, the Deployment reaches
    ProgressDeadlineExceeded after 15s, the Promotion fails and staging rolls back by itself:
      $k --kubeconfig $d/alice.kubeconfig create -f config/dev/promotions/staging-broken.yaml
      $k --kubeconfig $d/carol.kubeconfig get promotions -w
 7. As oncall, roll production back by hand to its previous good revision:
      $k --kubeconfig $d/oncall.kubeconfig create -f config/dev/promotions/production-rollback.yaml

Stop everything with: make dev-down
GUIDE
}

case "${1:-}" in
up) up ;;
guide) guide ;;
*)
	echo "usage: $0 up|guide" >&2
	exit 2
	;;
esac
