#!/usr/bin/env bash
# Builds the dev cluster's binaries (make k8s-cluster-bins) with progress: it
# says what is missing and roughly how long it takes, then prints the elapsed
# time every 20s so that a cold first run is never silent.
# Usage: build-bins.sh DIR/BINARY... (the binaries make would build)
set -euo pipefail

declare -A cost=(
	[kube-apiserver]="about 4 min" [etcd]="about 20 s"
	[kube-controller-manager]="about 2-3 min" [kube-scheduler]="under 1 min once kube-controller-manager is built"
	[kubectl]="under 1 min" [kwok]="about 1 min"
)
missing=()
for bin in "$@"; do
	[[ -x $bin ]] || missing+=("$bin")
done
if ((${#missing[@]} == 0)); then
	exit 0
fi
echo "First run: building ${#missing[@]} Kubernetes binaries from the Go module proxy into bin/k8s/ (cached for later runs)."
echo "On 2 cores this takes about 10 minutes in all, less with a warm Go build cache:"
for bin in "${missing[@]}"; do
	name=$(basename "$bin")
	printf '  %-24s %s\n' "$name" "${cost[$name]:-}"
done
start=$SECONDS
(
	while sleep 20; do
		printf '  ... still building (%dm%02ds elapsed)\n' $(((SECONDS - start) / 60)) $(((SECONDS - start) % 60))
	done
) &
ticker=$!
trap 'kill $ticker 2>/dev/null || true' EXIT
"${MAKE:-make}" --no-print-directory k8s-cluster-bins
echo "Built in $(((SECONDS - start) / 60))m$(((SECONDS - start) % 60))s."
