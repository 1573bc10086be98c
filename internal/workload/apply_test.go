package workload

import (
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestImageOwners(t *testing.T) {
	const ownsWebImage = `{"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"web\"}":{".":{},"f:image":{},"f:name":{}}}}}}}`
	const ownsSidecarImage = `{"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"sidecar\"}":{".":{},"f:image":{},"f:name":{}}}}}}}`
	const ownsReplicas = `{"f:spec":{"f:replicas":{}}}`
	entry := func(manager string, op metav1.ManagedFieldsOperationType, fields string) metav1.ManagedFieldsEntry {
		return metav1.ManagedFieldsEntry{Manager: manager, Operation: op, FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(fields)}}
	}
	cases := []struct {
		name    string
		entries []metav1.ManagedFieldsEntry
		want    []string
	}{
		{"nobody else", []metav1.ManagedFieldsEntry{entry("baton", metav1.ManagedFieldsOperationApply, ownsWebImage)}, nil},
		{"a kubectl create (update) does not own it", []metav1.ManagedFieldsEntry{entry("kubectl-create", metav1.ManagedFieldsOperationUpdate, ownsWebImage)}, nil},
		{"Argo CD by update", []metav1.ManagedFieldsEntry{entry("argocd-controller", metav1.ManagedFieldsOperationUpdate, ownsWebImage)}, []string{"argocd-controller"}},
		{"Flux by apply", []metav1.ManagedFieldsEntry{entry("kustomize-controller", metav1.ManagedFieldsOperationApply, ownsWebImage)}, []string{"kustomize-controller"}},
		{"any server-side applier", []metav1.ManagedFieldsEntry{entry("platform-team", metav1.ManagedFieldsOperationApply, ownsWebImage)}, []string{"platform-team"}},
		{"Helm owns another container's image", []metav1.ManagedFieldsEntry{entry("helm", metav1.ManagedFieldsOperationUpdate, ownsSidecarImage)}, nil},
		{"Flux owns only replicas", []metav1.ManagedFieldsEntry{entry("kustomize-controller", metav1.ManagedFieldsOperationApply, ownsReplicas)}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{ManagedFields: tc.entries}}
			got, err := imageOwners(d, "web", "baton")
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("imageOwners = %v, want %v", got, tc.want)
			}
		})
	}
}
