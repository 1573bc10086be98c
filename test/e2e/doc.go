// Package e2e is Baton's end-to-end suite: a Ginkgo suite (build tag e2e)
// that runs `make dev` on its own ports, so that a real kube-apiserver,
// kube-controller-manager, kube-scheduler and kwok roll Deployments out, and
// the manager runs as its own process, then drives each scenario with the
// dev users' own kubeconfigs. Run it with `make test-e2e`; see docs/e2e.md.
package e2e
