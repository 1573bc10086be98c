package controllers

import (
	"context"

	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
)

// downstreamNames lists, from the cache, the Environments whose upstream is
// o: they wait on its verified images.
func downstreamNames(ctx context.Context, c client.Reader, o client.Object) []string {
	var list batonv1alpha1.EnvironmentList
	if err := c.List(ctx, &list, client.InNamespace(o.GetNamespace()), client.MatchingFields{upstreamIndex: o.GetNamespace() + "/" + o.GetName()}); err != nil {
		log.FromContext(ctx).Error(err, "list downstream Environments", "environment", klog.KObj(o))
		return nil
	}
	names := make([]string, 0, len(list.Items))
	for _, e := range list.Items {
		names = append(names, e.Name)
	}
	return names
}

// enqueueDownstreams maps an Environment to reconciles of the Environments
// downstream of it.
func enqueueDownstreams(c client.Reader) handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
		names := downstreamNames(ctx, c, o)
		reqs := make([]reconcile.Request, 0, len(names))
		for _, name := range names {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKey{Namespace: o.GetNamespace(), Name: name}})
		}
		return reqs
	})
}
