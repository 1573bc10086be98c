#!/usr/bin/env bash
# Runs Baton against the dev cluster: `make dev` (up) and `make dev-down`.
# The Makefile starts the cluster first (make dev-cluster) and passes:
#   DEV_DIR DEV_PORT_BASE DEV_NAMESPACE DEV_CLUSTER KUBECTL MANAGER
# Every step is idempotent: running `make dev` again re-applies the
# manifests, rebuilds the manager and restarts it.
set -euo pipefail

: "${DEV_DIR:?}" "${DEV_PORT_BASE:?}" "${DEV_NAMESPACE:?}" "${DEV_CLUSTER:?}" "${KUBECTL:?}" "${MANAGER:?}"

cluster() { "$DEV_CLUSTER" --dir "$DEV_DIR" --port-base "$DEV_PORT_BASE" "$@"; }
kubectl() { "$KUBECTL" --kubeconfig "$DEV_DIR/admin.kubeconfig" "$@"; }
step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
rel() { echo "${1#"$PWD"/}"; }

# Same layout as hack/dev/cluster: base+6 webhook, +7 metrics, +8 probes,
# +9 the push-hook receiver, +10 the application repository's git server.
WEBHOOK_PORT=$((DEV_PORT_BASE + 6))
METRICS_PORT=$((DEV_PORT_BASE + 7))
PROBE_PORT=$((DEV_PORT_BASE + 8))
HOOKS_PORT=$((DEV_PORT_BASE + 9))
GIT_PORT=$((DEV_PORT_BASE + 10))
GIT_URL="http://127.0.0.1:$GIT_PORT/web.git"
MANAGER_LOG="$DEV_DIR/manager/manager.log"

up() {
	local t0=$SECONDS

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
	# The certificate and caBundle are the dev CA's (bin/dev-cluster
	# webhook-config), not the manager's own; every port binds loopback only.
	args+=(--enable-cert-rotation=false --hooks-bind-address="127.0.0.1:$HOOKS_PORT" --webhook-host=127.0.0.1)
	# Its clones of the application repository stay with the cluster, not in
	# the shared /tmp/baton-git.
	args+=(--git-cache-dir="$DEV_DIR/manager/git-cache")
	KUBECONFIG="$DEV_DIR/admin.kubeconfig" cluster run manager -- "$MANAGER" "${args[@]}"
	local ready=""
	for _ in $(seq 1 300); do
		if curl -fsS -o /dev/null "http://127.0.0.1:$PROBE_PORT/readyz" 2>/dev/null &&
			curl -sS --cacert "$DEV_DIR/pki/ca.crt" -o /dev/null "https://127.0.0.1:$WEBHOOK_PORT/" 2>/dev/null; then
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

	step "Serving the application repository on $GIT_URL"
	cluster git-init
	cluster run gitserver -- "$DEV_CLUSTER" --dir "$DEV_DIR" --port-base "$DEV_PORT_BASE" git-serve
	ready=""
	for _ in $(seq 1 50); do
		if curl -fsS -o /dev/null "$GIT_URL/info/refs?service=git-upload-pack" 2>/dev/null; then
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
	# The push-hook token of staging's spec.source.git.webhookSecretRef.
	kubectl -n web create secret generic web-hook --from-file=token="$DEV_DIR/git/hook-token" \
		--dry-run=client -o yaml | kubectl apply --server-side -f -
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
	sed "s|http://127.0.0.1:17410/web.git|$GIT_URL|" config/dev/app/environments.yaml |
		kubectl apply --server-side -f -
	kubectl -n staging rollout status deploy/web --timeout=60s
	kubectl -n production rollout status deploy/web --timeout=60s
	kubectl -n web wait --for condition=Ready --timeout=60s environment/staging environment/production

	step "Baton is running ($((SECONDS - t0))s after the cluster was up)"
	kubectl -n web get environments -o wide
	guide
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
Users:        $d/{admin,alice,bob,carol,oncall}.kubeconfig
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
 5. Watch production roll out:
      $k --kubeconfig $d/carol.kubeconfig -n production rollout status deploy/web
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
