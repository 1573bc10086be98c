package workload

import (
	"context"
	"errors"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/image"
	"github.com/baton-dev/baton/internal/outcome"
)

// Workload is one reading of one of an Environment's workloads, which the
// Environment may use.
type Workload struct {
	// Object is the workload as read. Read through the manager's cache, it
	// holds only what Transform keeps.
	Object client.Object
	// Ref is the entry of spec.workload or spec.workloads it was read for.
	Ref batonv1alpha1.WorkloadReference
	// Kind is Ref.Kind.
	Kind batonv1alpha1.WorkloadKind
	// Image is the image of the first container Ref names.
	Image string
	// Images are the images of every container Ref names, in its order.
	Images []string
}

// Name is "Kind namespace/name", as messages name a workload.
func (w Workload) Name() string {
	return fmt.Sprintf("%s %s", w.Kind, client.ObjectKeyFromObject(w.Object))
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
			"%s: %s; Baton judges rollouts as `kubectl rollout status` does, so it needs the RollingUpdate strategy",
			w.Name(), r.Message)
	}
	return r, nil
}

// Set is one reading of all of an Environment's workloads, in the order
// the Environment lists them: the app's process types, which run one image.
type Set []Workload

// Primary is the first workload listed: spec.workload, or
// spec.workloads[0].
func (s Set) Primary() Workload { return s[0] }

// Disagreement says which workloads run another image than the first one
// listed; "" when every listed container runs the same image.
func (s Set) Disagreement() string {
	want := s[0].Image
	var parts []string
	for _, w := range s {
		for i, img := range w.Images {
			if !image.Same(img, "", want, "") {
				parts = append(parts, fmt.Sprintf("container %q of %s runs %s", w.Ref.ContainerNames()[i], w.Name(), img))
			}
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return fmt.Sprintf("%s, not %s as container %q of %s does", strings.Join(parts, "; "), want, s[0].Ref.ContainerNames()[0], s[0].Name())
}

// Image is the one image the set runs. When the workloads disagree it is
// current, the image the Environment last recorded, if any of them still
// runs it, so that a change to one process type does not make the
// Environment's image flip back and forth; otherwise the first workload's.
func (s Set) Image(current string) string {
	if s.Disagreement() == "" || current == "" {
		return s[0].Image
	}
	for _, w := range s {
		for _, img := range w.Images {
			if image.Same(img, "", current, "") {
				return current
			}
		}
	}
	return s[0].Image
}

// Rollout judges the set as one rollout: complete only when every workload
// is complete and all of them run the same image, failed when any one has
// failed (naming it), progressing otherwise, naming the workloads not done.
func (s Set) Rollout() (Rollout, error) {
	var failed, progressing []string
	var first Rollout
	for i, w := range s {
		r, err := w.Rollout()
		if err != nil {
			return Rollout{}, err
		}
		if i == 0 {
			first = r
		}
		switch r.Phase {
		case PhaseFailed:
			failed = append(failed, w.Name()+": "+r.Message)
		case PhaseProgressing:
			progressing = append(progressing, w.Name()+": "+r.Message)
		}
	}
	if len(s) == 1 {
		return first, nil
	}
	switch {
	case len(failed) > 0:
		return Rollout{Phase: PhaseFailed, Message: strings.Join(failed, "; ")}, nil
	case len(progressing) > 0:
		return Rollout{Phase: PhaseProgressing, Message: strings.Join(progressing, "; ")}, nil
	}
	if d := s.Disagreement(); d != "" {
		return Rollout{Phase: PhaseProgressing, Message: "the workloads do not all run one image: " + d}, nil
	}
	return Rollout{Phase: PhaseComplete, Message: fmt.Sprintf("all %d workloads rolled out", len(s))}, nil
}

// Names are the workloads as Kind/namespace/name, as history records them.
func (s Set) Names() []string {
	names := make([]string, 0, len(s))
	for _, w := range s {
		names = append(names, RefName(w.Kind, client.ObjectKeyFromObject(w.Object)))
	}
	return names
}

// RefName is a workload as Kind/namespace/name.
func RefName(kind batonv1alpha1.WorkloadKind, key client.ObjectKey) string {
	return string(kind) + "/" + key.Namespace + "/" + key.Name
}

// Accessor reads and changes the workloads Environments name. Every method
// checks that the Environment may use every one of its workloads, and
// returns outcome.Stalled, with a message that says what to fix, for what a
// person must fix: WorkloadNotFound, WorkloadNotAuthorized, WorkloadClaimed,
// ContainerNotFound, ImageManagedElsewhere. Cluster serves the workloads of
// one cluster; internal/remote routes each Environment to the Cluster of
// its spec.cluster.
type Accessor interface {
	// Get reads the workloads as the manager last observed them (from its
	// cache), which is what the Environment reconciler judges.
	Get(ctx context.Context, env *batonv1alpha1.Environment) (Set, error)
	// GetUncached reads the workloads from the API server, for a decision
	// to change them.
	GetUncached(ctx context.Context, env *batonv1alpha1.Environment) (Set, error)
	// ApplyImage sets the image of every listed container of every
	// workload to ref, one apply per workload, skipping a workload whose
	// containers already run it (by digest when both references carry
	// one). Every workload is read and checked before any is changed.
	// changed names the workloads it wrote (Kind/namespace/name).
	ApplyImage(ctx context.Context, env *batonv1alpha1.Environment, ref string) (changed []string, err error)
	// Running says which digest the ready Pods of the set's current
	// revision run, from the cache.
	Running(ctx context.Context, env *batonv1alpha1.Environment, set Set) (Running, error)
}

// Cluster is the Accessor for the workloads of one cluster: the manager's
// own (NewLocal), or the remote cluster of an Environment's spec.cluster
// (NewRemote).
type Cluster struct {
	// Client reads through the cache of the workloads' cluster, and
	// applies there.
	Client client.Client
	// APIReader reads the workloads' cluster uncached, with managedFields,
	// which the cache strips.
	APIReader client.Reader
	// Environments lists Environments, in the manager's cluster, by
	// IndexField, to tell who claims a workload.
	Environments client.Reader
}

var _ Accessor = (*Cluster)(nil)

// NewLocal returns the Accessor over the manager's client and API reader.
func NewLocal(c client.Client, apiReader client.Reader) *Cluster {
	return &Cluster{Client: c, APIReader: apiReader, Environments: c}
}

// NewRemote returns the Accessor over a remote cluster's client and API
// reader; environments reads the manager's own Environments.
func NewRemote(c client.Client, apiReader client.Reader, environments client.Reader) *Cluster {
	return &Cluster{Client: c, APIReader: apiReader, Environments: environments}
}

// Get reads the workloads from the cluster's cache.
func (l *Cluster) Get(ctx context.Context, env *batonv1alpha1.Environment) (Set, error) {
	return l.readSet(ctx, l.Client, env)
}

// GetUncached reads the workloads from the API server.
func (l *Cluster) GetUncached(ctx context.Context, env *batonv1alpha1.Environment) (Set, error) {
	return l.readSet(ctx, l.APIReader, env)
}

func (l *Cluster) readSet(ctx context.Context, r client.Reader, env *batonv1alpha1.Environment) (Set, error) {
	refs := env.WorkloadRefs()
	if len(refs) == 0 {
		// The CRD requires one; say so rather than panic.
		return nil, outcome.Stall(batonv1alpha1.WorkloadNotFoundReason, "the Environment names no workload; set spec.workload or spec.workloads")
	}
	seen := map[string]int{}
	for i, ref := range refs {
		key := RefName(ref.Kind, Key(env, ref))
		if j, dup := seen[key]; dup {
			return nil, outcome.Stall(batonv1alpha1.WorkloadListedTwiceReason,
				"%s and %s both name %s %s; list each workload once", fieldOf(env, j), fieldOf(env, i), ref.Kind, Key(env, ref))
		}
		seen[key] = i
	}
	set := make(Set, 0, len(refs))
	for i, ref := range refs {
		w, err := read(ctx, r, env, ref, fieldOf(env, i))
		if err != nil {
			return nil, err
		}
		if err := l.claimed(ctx, env, w); err != nil {
			return nil, err
		}
		set = append(set, w)
	}
	return set, nil
}

// claimed refuses a workload that an older Environment already names: two
// Environments moving one workload would each record the other's changes as
// drift, and fight over it.
func (l *Cluster) claimed(ctx context.Context, env *batonv1alpha1.Environment, w Workload) error {
	var list batonv1alpha1.EnvironmentList
	if err := l.Environments.List(ctx, &list, client.MatchingFields{IndexField: ClusterIndexKey(env, w.Kind, client.ObjectKeyFromObject(w.Object))}); err != nil {
		return fmt.Errorf("list the Environments that name %s: %w", w.Name(), err)
	}
	if first := FirstClaim(list.Items, w.Object); first != nil && first.UID != env.UID {
		return outcome.Stall(batonv1alpha1.WorkloadClaimedReason,
			"%s already belongs to Environment %s/%s, which named it first; one workload runs one Environment: remove it from this Environment's spec, or delete %s",
			w.Name(), first.Namespace, first.Name, first.Name)
	}
	return nil
}

// FirstClaim is the Environment that owns the workload among those that
// name it and may use it: one that already has a history (it observed its
// workloads before) over one that has none, then the oldest by creation
// time (to the second), then by namespace and name. Nil when none may use
// it.
func FirstClaim(envs []batonv1alpha1.Environment, obj metav1.Object) *batonv1alpha1.Environment {
	var first *batonv1alpha1.Environment
	for i := range envs {
		e := &envs[i]
		if !e.DeletionTimestamp.IsZero() || !Authorized(e, obj) {
			continue
		}
		if first == nil || olderThan(e, first) {
			first = e
		}
	}
	return first
}

func olderThan(a, b *batonv1alpha1.Environment) bool {
	if ea, eb := len(a.Status.History) > 0, len(b.Status.History) > 0; ea != eb {
		return ea
	}
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	if a.Namespace != b.Namespace {
		return a.Namespace < b.Namespace
	}
	return a.Name < b.Name
}

// IndexField is the field index of Environments by the workloads they
// name; IndexKeys computes it. The manager registers it (controllers'
// SetupIndexes).
const IndexField = "spec.workloads.key"

// IndexKey is the index value of one workload in the manager's cluster.
func IndexKey(kind batonv1alpha1.WorkloadKind, key client.ObjectKey) string {
	return RefName(kind, key)
}

// ClusterKey names the cluster of an Environment's workloads in index
// values: "" for the manager's own, "kubeconfig:<namespace>/<secret>" for
// spec.cluster. Environments reach one remote cluster through one Secret,
// so the Secret is the cluster's name.
func ClusterKey(env *batonv1alpha1.Environment) string {
	if env.Spec.Cluster == nil {
		return ""
	}
	return "kubeconfig:" + env.Namespace + "/" + env.Spec.Cluster.KubeConfig.SecretRef.Name
}

// RemoteIndexKey is the index value of one workload in the remote cluster
// clusterKey names.
func RemoteIndexKey(clusterKey string, kind batonv1alpha1.WorkloadKind, key client.ObjectKey) string {
	if clusterKey == "" {
		return IndexKey(kind, key)
	}
	return clusterKey + "#" + IndexKey(kind, key)
}

// ClusterIndexKey is the index value of one workload in env's cluster.
func ClusterIndexKey(env *batonv1alpha1.Environment, kind batonv1alpha1.WorkloadKind, key client.ObjectKey) string {
	return RemoteIndexKey(ClusterKey(env), kind, key)
}

// IndexKeys are the index values of every workload an Environment names.
func IndexKeys(env *batonv1alpha1.Environment) []string {
	var keys []string
	for _, ref := range env.WorkloadRefs() {
		keys = append(keys, ClusterIndexKey(env, ref.Kind, Key(env, ref)))
	}
	return keys
}

// RefNames are the workloads an Environment names, as Kind/namespace/name.
func RefNames(env *batonv1alpha1.Environment) []string {
	var names []string
	for _, ref := range env.WorkloadRefs() {
		names = append(names, RefName(ref.Kind, Key(env, ref)))
	}
	return names
}

// fieldOf is the spec field that lists the i-th workload, for messages.
func fieldOf(env *batonv1alpha1.Environment, i int) string {
	if env.Spec.Workload != nil {
		return "spec.workload"
	}
	return fmt.Sprintf("spec.workloads[%d]", i)
}

// read gets one workload and checks that the Environment may use it: it
// exists, it is in the Environment's namespace or its annotation names the
// Environment, and it has the containers.
func read(ctx context.Context, r client.Reader, env *batonv1alpha1.Environment, ref batonv1alpha1.WorkloadReference, field string) (Workload, error) {
	kind := ref.Kind
	obj, err := New(kind)
	if err != nil {
		return Workload{}, outcome.Stall(batonv1alpha1.WorkloadNotFoundReason, "%s: %v", field, err)
	}
	key := Key(env, ref)
	if err := r.Get(ctx, key, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return Workload{}, outcome.Stall(batonv1alpha1.WorkloadNotFoundReason,
				"%s %s does not exist; create it or fix %s", kind, key, field)
		}
		return Workload{}, fmt.Errorf("get %s %s: %w", kind, key, err)
	}
	if !Authorized(env, obj) {
		return Workload{}, outcome.Stall(batonv1alpha1.WorkloadNotAuthorizedReason,
			"%s %s is in another namespace and its annotation %s is %q; set it to %q to let this Environment use it",
			kind, key, batonv1alpha1.AuthorizedEnvironmentAnnotation,
			obj.GetAnnotations()[batonv1alpha1.AuthorizedEnvironmentAnnotation], env.Namespace+"/"+env.Name)
	}
	w := Workload{Object: obj, Ref: ref, Kind: kind}
	for i, c := range ref.ContainerNames() {
		image, err := containerImage(obj, c)
		if errors.Is(err, errContainerNotFound) {
			at := field + ".container"
			if ref.Container == "" {
				at = fmt.Sprintf("%s.containers[%d]", field, i)
			}
			return Workload{}, outcome.Stall(batonv1alpha1.ContainerNotFoundReason, "%v; fix %s", err, at)
		}
		if err != nil {
			return Workload{}, err
		}
		w.Images = append(w.Images, image)
	}
	if len(w.Images) == 0 {
		return Workload{}, outcome.Stall(batonv1alpha1.ContainerNotFoundReason, "%s names no container; set container or containers", field)
	}
	w.Image = w.Images[0]
	return w, nil
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

// Key is the namespace and name of one of an Environment's workloads; an
// empty namespace means the Environment's own.
func Key(env *batonv1alpha1.Environment, ref batonv1alpha1.WorkloadReference) client.ObjectKey {
	ns := ref.Namespace
	if ns == "" {
		ns = env.Namespace
	}
	return client.ObjectKey{Namespace: ns, Name: ref.Name}
}

// Authorized reports whether the Environment may use the workload: it is in
// the Environment's namespace, or it carries the
// promotion.baton.dev/authorized-environment annotation naming it. In a
// remote cluster the kubeconfig's identity is the authorization: its
// namespaces are not the manager's, and what that identity may read and
// patch, the Environment may use.
func Authorized(env *batonv1alpha1.Environment, workload metav1.Object) bool {
	return env.Spec.Cluster != nil || workload.GetNamespace() == env.Namespace ||
		workload.GetAnnotations()[batonv1alpha1.AuthorizedEnvironmentAnnotation] == env.Namespace+"/"+env.Name
}
