#!/usr/bin/env bash
# "Merges" a change into the dev cluster's application repository, as a
# merged pull request would: one commit on main of acme/web in the dev
# cluster's Gitea, pushed over HTTPS as the developer "dev". Gitea's push
# webhook then tells Baton's receiver, so staging deploys at once. Prints the
# commit and the Promotion to expect.
#
#   hack/dev/merge.sh "Add the checkout page"
#   hack/dev/merge.sh --no-hook "Fix a typo"   # the webhook is off: Baton polls (10s)
#
# --no-hook turns the repository's push webhook off and leaves it off (Gitea
# prepares a push's webhooks after the push returns, so turning it back on at
# once could still send this one); the next merge without it turns it on
# before it pushes.
#
# DEV_DIR and DEV_PORT_BASE are those of `make dev` (defaults bin/dev, 17400).
set -euo pipefail
cd "$(dirname "$0")/../.."

hook=1
if [[ ${1:-} == --no-hook ]]; then
	hook=""
	shift
fi
message=${1:-"Merge change $(date -u +%Y-%m-%dT%H:%M:%SZ)"}
DEV_DIR=${DEV_DIR:-bin/dev}
DEV_PORT_BASE=${DEV_PORT_BASE:-17400}
# GITEA_PORT, from the one layout in hack/dev/procs; `make dev` built the
# cluster command.
cluster() { "${DEV_CLUSTER:-bin/dev-cluster}" --dir "$DEV_DIR" --port-base "$DEV_PORT_BASE" "$@"; }
eval "$(cluster ports)"
if [[ -z $hook ]]; then
	# A push while the webhook is off, as when a forge's delivery is lost.
	cluster gitea-hook off
else
	cluster gitea-hook on
fi
rc=0
# go-git trusts the cluster's CA, which signed Gitea's certificate, and
# pushes as dev (the password never leaves the file and the environment).
sha=$(SSL_CERT_FILE="$DEV_DIR/pki/ca.crt" GIT_USERNAME=dev GIT_PASSWORD="$(cat "$DEV_DIR/gitea/dev-password")" \
	go run ./hack/merge -repo "https://127.0.0.1:$GITEA_PORT/acme/web.git" -message "$message") || rc=$?
[[ -n $sha ]] || exit "$rc"
if [[ -z $hook ]]; then
	echo "the push webhook is off until the next hack/dev/merge.sh without --no-hook"
fi
echo "merged $sha into main: \"$message\""
echo "staging's Promotion: staging-src-${sha:0:12} (image registry.example.com/web:${sha:0:7})"
exit "$rc"
