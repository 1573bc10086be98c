package controllers

import (
	"context"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/promote"
)

// +kubebuilder:rbac:groups=promotion.baton.dev,resources=deploywindows;freezes;clusterfreezes,verbs=get;list;watch

// FreezeVerifier checks the seal the admission webhook writes on a freeze
// (identity.KeyStore in the manager).
type FreezeVerifier interface {
	VerifyFreeze(ctx context.Context, kind, namespace, name string, spec batonv1alpha1.FreezeSpec, seal string) error
}

// guardrailWatches wakes the Queued Promotions a window or freeze may now
// hold or release. A window's boundaries need no watch: the engine requeues
// at the next one.
func (r *PromotionReconciler) guardrailWatches() []struct {
	obj client.Object
	fn  handler.MapFunc
} {
	return []struct {
		obj client.Object
		fn  handler.MapFunc
	}{
		{&batonv1alpha1.DeployWindow{}, r.queuedIn},
		{&batonv1alpha1.Freeze{}, r.queuedIn},
		{&batonv1alpha1.ClusterFreeze{}, r.queuedIn},
	}
}

// queuedIn enqueues the Queued Promotions of o's namespace, or of every
// namespace for a cluster-scoped o.
func (r *PromotionReconciler) queuedIn(ctx context.Context, o client.Object) []reconcile.Request {
	var promos batonv1alpha1.PromotionList
	var opts []client.ListOption
	if o.GetNamespace() != "" {
		opts = append(opts, client.InNamespace(o.GetNamespace()))
	}
	if err := r.List(ctx, &promos, opts...); err != nil {
		return nil
	}
	var reqs []reconcile.Request
	for _, p := range promos.Items {
		if promote.Waiting(&p) {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&p)})
		}
	}
	return reqs
}

// readGuardrails lists, from the cache, the DeployWindows and Freezes of the
// namespace and every ClusterFreeze, and checks each freeze's seal.
func (r *PromotionReconciler) readGuardrails(ctx context.Context, namespace string) (promote.Guardrails, error) {
	var g promote.Guardrails
	var windows batonv1alpha1.DeployWindowList
	if err := r.List(ctx, &windows, client.InNamespace(namespace)); err != nil {
		return g, fmt.Errorf("list DeployWindows: %w", err)
	}
	g.Windows = windows.Items
	var freezes batonv1alpha1.FreezeList
	if err := r.List(ctx, &freezes, client.InNamespace(namespace)); err != nil {
		return g, fmt.Errorf("list Freezes: %w", err)
	}
	for _, f := range freezes.Items {
		g.Freezes = append(g.Freezes, r.freeze(ctx, "Freeze", f.ObjectMeta.Namespace, f.Name, f.Spec, f.Annotations))
	}
	var cluster batonv1alpha1.ClusterFreezeList
	if err := r.List(ctx, &cluster); err != nil {
		return g, fmt.Errorf("list ClusterFreezes: %w", err)
	}
	for _, f := range cluster.Items {
		g.Freezes = append(g.Freezes, r.freeze(ctx, "ClusterFreeze", "", f.Name, f.Spec, f.Annotations))
	}
	return g, nil
}

func (r *PromotionReconciler) freeze(ctx context.Context, kind, namespace, name string, spec batonv1alpha1.FreezeSpec, annotations map[string]string) promote.Freeze {
	sealed := r.Freezes != nil &&
		r.Freezes.VerifyFreeze(ctx, kind, namespace, name, spec, annotations[batonv1alpha1.FreezeMarkerAnnotation]) == nil
	return promote.Freeze{Kind: kind, Namespace: namespace, Name: name, Spec: spec, Sealed: sealed}
}
