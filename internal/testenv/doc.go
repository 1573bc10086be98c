// Package testenv starts a real kube-apiserver and etcd (envtest) with Baton's
// CRDs installed, for the Ginkgo suites.
package testenv
