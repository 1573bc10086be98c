package controllers

import (
	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/verification"
	"github.com/baton-dev/baton/internal/workload"
)

// lastAppliedAnnotation holds a whole copy of an object as kubectl applied
// it; Baton never reads it.
const lastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

// CacheOptions are the manager's cache options. They keep in memory only
// what Baton reads:
//   - Deployments, StatefulSets and DaemonSets pass through workload.Transform;
//   - Environments and Promotions lose managedFields and kubectl's
//     last-applied annotation;
//   - a Promotion the manager has finished (FinishedLabel) is not cached at
//     all: past Promotions cost neither memory nor start-up reads, and
//     leave the informer the moment the manager labels them;
//   - only Baton's Jobs, those of job checks and the release Jobs (both
//     carry verification.JobEnvironmentLabel), are cached, without their
//     Pod template: Baton reads their status;
//   - Pods pass through workload.TransformPod: their labels, controller,
//     images, readiness and the digests their kubelets report.
//
// An object read from the cache is therefore partial: never Update it
// (Baton only patches), and read managedFields with the API reader.
func CacheOptions() cache.Options {
	byObject := workload.CacheByObject()
	byObject[&batonv1alpha1.Environment{}] = cache.ByObject{Transform: trimMeta}
	byObject[&batonv1alpha1.Promotion{}] = cache.ByObject{Label: unfinished(), Transform: trimMeta}
	byObject[&batchv1.Job{}] = cache.ByObject{Label: verification.JobSelector(), Transform: slimJob}
	return cache.Options{ByObject: byObject}
}

// slimJob is verification.SlimJob, then trimMeta.
func slimJob(obj any) (any, error) {
	obj, _ = verification.SlimJob(obj)
	return trimMeta(obj)
}

// unfinished selects the Promotions the manager has not labelled finished.
func unfinished() labels.Selector {
	req, err := labels.NewRequirement(batonv1alpha1.FinishedLabel, selection.DoesNotExist, nil)
	if err != nil {
		panic(err) // a constant key: cannot fail
	}
	return labels.NewSelector().Add(*req)
}

// trimMeta drops managedFields and the last-applied annotation from an
// object before it enters the cache. It changes the object in place, which
// the informer allows: the object is the informer's own decoded copy.
func trimMeta(obj any) (any, error) {
	o, ok := obj.(client.Object)
	if !ok {
		return obj, nil
	}
	o.SetManagedFields(nil)
	if a := o.GetAnnotations(); a != nil {
		if _, ok := a[lastAppliedAnnotation]; ok {
			delete(a, lastAppliedAnnotation)
			o.SetAnnotations(a)
		}
	}
	return o, nil
}
