// Package devcluster holds the end-to-end tests of the local cluster that
// `make dev-cluster` and `make dev` run (hack/dev). They start real
// processes on their own ports and need the binaries of
// `make k8s-cluster-bins`; run them with `make test-e2e` (build tag e2e).
package devcluster
