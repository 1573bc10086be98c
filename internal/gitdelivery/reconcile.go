package gitdelivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
)

// ReconcileRequestAnnotation is Flux's on-demand reconcile trigger (what
// `flux reconcile` sets): a new value makes the controller reconcile the
// object at once.
const ReconcileRequestAnnotation = "reconcile.fluxcd.io/requestedAt"

// ReconcileRequestFailedReason is the reason of the warning Event when
// RequestReconcile fails; the Promotion goes on.
const ReconcileRequestFailedReason = "ReconcileRequestFailed"

var fluxKinds = map[string]schema.GroupVersionKind{
	"GitRepository": {Group: "source.toolkit.fluxcd.io", Version: "v1", Kind: "GitRepository"},
	"Kustomization": {Group: "kustomize.toolkit.fluxcd.io", Version: "v1", Kind: "Kustomization"},
}

// RequestReconcile sets ReconcileRequestAnnotation to at (RFC 3339 with
// nanoseconds, so that every request is a new value) on each object of
// delivery.git.requestReconcile with a merge patch of metadata alone. It
// tries every object and returns the errors together.
func RequestReconcile(ctx context.Context, c client.Client, refs []batonv1alpha1.FluxObjectReference, at time.Time) error {
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
		"annotations": map[string]string{ReconcileRequestAnnotation: at.UTC().Format(time.RFC3339Nano)}}})
	if err != nil {
		return err
	}
	var errs []error
	for _, ref := range refs {
		gvk, ok := fluxKinds[ref.Kind]
		if !ok {
			errs = append(errs, fmt.Errorf("delivery.git.requestReconcile: kind %q is neither GitRepository nor Kustomization", ref.Kind))
			continue
		}
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(gvk)
		u.SetNamespace(ref.Namespace)
		u.SetName(ref.Name)
		if err := c.Patch(ctx, u, client.RawPatch(types.MergePatchType, patch)); err != nil {
			errs = append(errs, fmt.Errorf("request a reconcile of %s %s/%s: %w", ref.Kind, ref.Namespace, ref.Name, err))
		}
	}
	return errors.Join(errs...)
}
