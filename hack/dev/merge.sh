#!/usr/bin/env bash
# "Merges" a change into the dev cluster's application repository, as a
# merged pull request would: one commit on main of bin/dev/git/web.git,
# pushed over HTTP, then a signed GitHub push event to Baton's receiver so
# staging deploys at once. Prints the commit and the Promotion to expect.
#
#   hack/dev/merge.sh "Add the checkout page"
#   hack/dev/merge.sh --no-hook "Fix a typo"   # no webhook: Baton polls (10s)
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
# GIT_PORT and HOOKS_PORT, from the one layout in hack/dev/procs; `make dev`
# built the cluster command.
cluster=${DEV_CLUSTER:-bin/dev-cluster}
eval "$("$cluster" --port-base "$DEV_PORT_BASE" ports)"
args=(-repo "http://127.0.0.1:$GIT_PORT/web.git" -message "$message")
if [[ -n $hook ]]; then
	args+=(-hook "http://127.0.0.1:$HOOKS_PORT/hooks/web/staging" -hook-secret-file "$DEV_DIR/git/hook-token")
fi
rc=0
sha=$(go run ./hack/merge "${args[@]}") || rc=$?
[[ -n $sha ]] || exit "$rc"
echo "merged $sha into main: \"$message\""
echo "staging's Promotion: staging-src-${sha:0:12} (image registry.example.com/web:${sha:0:7})"
exit "$rc"
