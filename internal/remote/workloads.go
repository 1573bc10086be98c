package remote

import (
	"context"
	"errors"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/jobtemplate"
	"github.com/baton-dev/baton/internal/outcome"
	"github.com/baton-dev/baton/internal/workload"
)

// Workloads is the Accessor of every Environment: the manager's own
// cluster for one without spec.cluster, Clusters for one with it. A call
// to a remote cluster that does not answer returns an *outcome.Waiting
// (ClusterUnreachable), never a bare network error, so that a Promotion
// waits and says why.
type Workloads struct {
	Local    *workload.Cluster
	Clusters *Clusters
}

var _ workload.Accessor = (*Workloads)(nil)

func (w *Workloads) accessor(ctx context.Context, env *batonv1alpha1.Environment) (*workload.Cluster, error) {
	if env.Spec.Cluster == nil {
		return w.Local, nil
	}
	if w.Clusters == nil {
		return nil, outcome.Stall(batonv1alpha1.ClusterUnreachableReason, "spec.cluster is set, but this manager serves no remote clusters")
	}
	return w.Clusters.For(ctx, env)
}

// Jobs is where env's release Jobs and job checks run: the manager's
// cluster and env's namespace without spec.cluster; with it, the remote
// cluster and the namespace of env's first workload. Its errors are For's.
func (w *Workloads) Jobs(ctx context.Context, env *batonv1alpha1.Environment) (jobtemplate.Target, error) {
	if env.Spec.Cluster == nil {
		return jobtemplate.Target{Client: w.Local.Client, Reader: w.Local.APIReader, Namespace: env.Namespace, EnvironmentNamespace: env.Namespace}, nil
	}
	refs := env.WorkloadRefs()
	if len(refs) == 0 {
		return jobtemplate.Target{}, outcome.Stall(batonv1alpha1.WorkloadNotFoundReason, "spec.workloads is empty: a Job in spec.cluster runs in the namespace of the first workload")
	}
	c, err := w.accessor(ctx, env)
	if err != nil {
		return jobtemplate.Target{}, err
	}
	return jobtemplate.Target{Client: c.Client, Reader: c.APIReader, Namespace: workload.Key(env, refs[0]).Namespace,
		Remote: true, EnvironmentNamespace: env.Namespace}, nil
}

// Classify is classify for the errors of a Target's clients.
func (w *Workloads) Classify(env *batonv1alpha1.Environment, err error) error {
	return w.classify(env, err)
}

// Get reads the workloads from their cluster's cache.
func (w *Workloads) Get(ctx context.Context, env *batonv1alpha1.Environment) (workload.Set, error) {
	a, err := w.accessor(ctx, env)
	if err != nil {
		return nil, err
	}
	set, err := a.Get(ctx, env)
	return set, w.classify(env, err)
}

// GetUncached reads the workloads from their cluster's API server.
func (w *Workloads) GetUncached(ctx context.Context, env *batonv1alpha1.Environment) (workload.Set, error) {
	a, err := w.accessor(ctx, env)
	if err != nil {
		return nil, err
	}
	set, err := a.GetUncached(ctx, env)
	return set, w.classify(env, err)
}

// ApplyImage changes the workloads in their cluster.
func (w *Workloads) ApplyImage(ctx context.Context, env *batonv1alpha1.Environment, ref string) ([]string, error) {
	a, err := w.accessor(ctx, env)
	if err != nil {
		return nil, err
	}
	changed, err := a.ApplyImage(ctx, env, ref)
	return changed, w.classify(env, err)
}

// Running reads the workloads' Pods in their cluster.
func (w *Workloads) Running(ctx context.Context, env *batonv1alpha1.Environment, set workload.Set) (workload.Running, error) {
	a, err := w.accessor(ctx, env)
	if err != nil {
		return workload.Running{}, err
	}
	r, err := a.Running(ctx, env, set)
	return r, w.classify(env, err)
}

// classify turns what a remote API server answered into what Baton does
// about it: a refusal of the kubeconfig's identity is WorkloadNotAuthorized,
// a network error (no API status at all) is ClusterUnreachable.
func (w *Workloads) classify(env *batonv1alpha1.Environment, err error) error {
	if err == nil || env.Spec.Cluster == nil || !outcome.Retryable(err) {
		return err
	}
	server := ""
	if w.Clusters != nil {
		server = w.Clusters.Server(env)
	}
	var status apierrors.APIStatus
	switch {
	case errors.Is(err, context.Canceled):
		return err
	case apierrors.IsForbidden(err):
		return forbidden(server, err)
	case apierrors.IsUnauthorized(err):
		return Unreachable(server, err)
	case !errors.As(err, &status) || status.Status().Code >= 500:
		return Unreachable(server, err)
	}
	return err
}
