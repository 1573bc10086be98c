package workload

import (
	"context"
	"errors"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/outcome"
)

// Workload is one reading of an Environment's workload, which the
// Environment may use.
type Workload struct {
	// Object is the workload as read. Read through the manager's cache, it
	// holds only what Transform keeps.
	Object client.Object
	// Kind is spec.workload.kind.
	Kind batonv1alpha1.WorkloadKind
	// Image is the image of the container spec.workload.container names.
	Image string
}

// Rollout judges the workload's rollout as `kubectl rollout status` does. A
// rollout kubectl cannot judge (the OnDelete update strategy) is
// outcome.Stalled with reason UnsupportedUpdateStrategy.
func (w Workload) Rollout() (Rollout, error) {
	r, err := AssessRollout(w.Object)
	if err != nil {
		return Rollout{}, err
	}
	if r.Phase == PhaseUnsupported {
		return Rollout{}, outcome.Stall(batonv1alpha1.UnsupportedUpdateStrategyReason,
			"%s %s: %s; Baton judges rollouts as `kubectl rollout status` does, so it needs the RollingUpdate strategy",
			w.Kind, client.ObjectKeyFromObject(w.Object), r.Message)
	}
	return r, nil
}

// Accessor reads and changes the workloads Environments name. Every method
// checks that the Environment may use its workload, and returns
// outcome.Stalled, with a message that says what to fix, for what a person
// must fix: WorkloadNotFound, WorkloadNotAuthorized, ContainerNotFound,
// ImageManagedElsewhere. Local serves workloads in the manager's own cluster;
// a workload in another cluster needs another Accessor.
type Accessor interface {
	// Get reads the workload as the manager last observed it (from its
	// cache), which is what the Environment reconciler judges.
	Get(ctx context.Context, env *batonv1alpha1.Environment) (Workload, error)
	// GetUncached reads the workload from the API server, for a decision
	// to change it.
	GetUncached(ctx context.Context, env *batonv1alpha1.Environment) (Workload, error)
	// ApplyImage sets the image of the Environment's container to ref,
	// unless the container already runs that image (by digest when both
	// references carry one); changed says whether it wrote anything.
	ApplyImage(ctx context.Context, env *batonv1alpha1.Environment, ref string) (changed bool, err error)
}

// Local is the Accessor for workloads in the manager's own cluster.
type Local struct {
	// Client reads through the manager's cache, and applies.
	Client client.Client
	// APIReader reads uncached, with managedFields, which the cache strips.
	APIReader client.Reader
}

var _ Accessor = (*Local)(nil)

// NewLocal returns the Accessor over the manager's client and API reader.
func NewLocal(c client.Client, apiReader client.Reader) *Local {
	return &Local{Client: c, APIReader: apiReader}
}

// Get reads the workload from the manager's cache.
func (l *Local) Get(ctx context.Context, env *batonv1alpha1.Environment) (Workload, error) {
	return read(ctx, l.Client, env)
}

// GetUncached reads the workload from the API server.
func (l *Local) GetUncached(ctx context.Context, env *batonv1alpha1.Environment) (Workload, error) {
	return read(ctx, l.APIReader, env)
}

// read gets the workload and checks that the Environment may use it: it
// exists, it is in the Environment's namespace or its annotation names the
// Environment, and it has the container.
func read(ctx context.Context, r client.Reader, env *batonv1alpha1.Environment) (Workload, error) {
	kind := env.Spec.Workload.Kind
	obj, err := New(kind)
	if err != nil {
		return Workload{}, outcome.Stall(batonv1alpha1.WorkloadNotFoundReason, "%v", err)
	}
	key := Key(env)
	if err := r.Get(ctx, key, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return Workload{}, outcome.Stall(batonv1alpha1.WorkloadNotFoundReason,
				"%s %s does not exist; create it or fix spec.workload", kind, key)
		}
		return Workload{}, fmt.Errorf("get %s %s: %w", kind, key, err)
	}
	if !Authorized(env, obj) {
		return Workload{}, outcome.Stall(batonv1alpha1.WorkloadNotAuthorizedReason,
			"%s %s is in another namespace and its annotation %s is %q; set it to %q to let this Environment use it",
			kind, key, batonv1alpha1.AuthorizedEnvironmentAnnotation,
			obj.GetAnnotations()[batonv1alpha1.AuthorizedEnvironmentAnnotation], env.Namespace+"/"+env.Name)
	}
	image, err := containerImage(obj, env.Spec.Workload.Container)
	if errors.Is(err, errContainerNotFound) {
		return Workload{}, outcome.Stall(batonv1alpha1.ContainerNotFoundReason, "%v; fix spec.workload.container", err)
	}
	if err != nil {
		return Workload{}, err
	}
	return Workload{Object: obj, Kind: kind, Image: image}, nil
}

// New returns an empty object of an Environment's workload kind.
func New(kind batonv1alpha1.WorkloadKind) (client.Object, error) {
	switch kind {
	case batonv1alpha1.WorkloadKindDeployment:
		return &appsv1.Deployment{}, nil
	case batonv1alpha1.WorkloadKindStatefulSet:
		return &appsv1.StatefulSet{}, nil
	case batonv1alpha1.WorkloadKindDaemonSet:
		return &appsv1.DaemonSet{}, nil
	}
	// The CRD enum prevents this; say so rather than panic.
	return nil, fmt.Errorf("spec.workload.kind %q is not Deployment, StatefulSet or DaemonSet", kind)
}

// Key is the namespace and name of an Environment's workload; an empty
// spec.workload.namespace means the Environment's own.
func Key(env *batonv1alpha1.Environment) client.ObjectKey {
	ns := env.Spec.Workload.Namespace
	if ns == "" {
		ns = env.Namespace
	}
	return client.ObjectKey{Namespace: ns, Name: env.Spec.Workload.Name}
}

// Authorized reports whether the Environment may use the workload: it is in
// the Environment's namespace, or it carries the
// promotion.baton.dev/authorized-environment annotation naming it.
func Authorized(env *batonv1alpha1.Environment, workload metav1.Object) bool {
	return workload.GetNamespace() == env.Namespace ||
		workload.GetAnnotations()[batonv1alpha1.AuthorizedEnvironmentAnnotation] == env.Namespace+"/"+env.Name
}
