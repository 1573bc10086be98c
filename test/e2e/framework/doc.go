// Package framework holds what Baton's end-to-end tests share: where the
// repository and the cluster binaries are, their ports, the users'
// kubeconfigs, and the checks that a local cluster listens on 127.0.0.1 only
// and leaves no process behind. test/e2e (the Ginkgo suite) and
// test/devcluster (the dev cluster's own tests) use it.
package framework
