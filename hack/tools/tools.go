//go:build tools

// Package tools records the build-time dependencies of Baton so that go.mod
// pins them. Nothing imports this package.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "gotest.tools/gotestsum"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "sigs.k8s.io/controller-tools/cmd/controller-gen"
	_ "sigs.k8s.io/kustomize/kustomize/v5"
	_ "sigs.k8s.io/kwok/cmd/kwok"
)
