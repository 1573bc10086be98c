package delivery

import (
	"context"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/health"
)

// DefaultFieldManager is the server-side apply field manager Baton applies
// with unless the Environment names another.
const DefaultFieldManager = "baton"

// Direct delivers by server-side applying only the image of the named
// container, with force, as field manager "baton".
type Direct struct {
	// Client applies the patch.
	Client client.Client
	// Reader reads the workload uncached, with managedFields, which the
	// manager's cache strips.
	Reader client.Reader
}

var _ Deliverer = (*Direct)(nil)

func fieldManager(env *batonv1alpha1.Environment) string {
	if d := env.Spec.Delivery.Direct; d != nil && d.FieldManager != "" {
		return d.FieldManager
	}
	return DefaultFieldManager
}

// read fetches the workload uncached and checks that Baton may change it.
func (d *Direct) read(ctx context.Context, env *batonv1alpha1.Environment) (client.Object, string, error) {
	obj, err := health.NewWorkload(env.Spec.Workload.Kind)
	if err != nil {
		return nil, "", Stalled(batonv1alpha1.WorkloadNotFoundReason, "%v", err)
	}
	key := health.WorkloadKey(env)
	if err := d.Reader.Get(ctx, key, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, "", Stalled(batonv1alpha1.WorkloadNotFoundReason,
				"%s %s named by spec.workload does not exist", env.Spec.Workload.Kind, key)
		}
		return nil, "", fmt.Errorf("read %s %s: %w", env.Spec.Workload.Kind, key, err)
	}
	if !health.Authorized(env, obj) {
		return nil, "", Stalled(batonv1alpha1.WorkloadNotAuthorizedReason,
			"%s %s is in another namespace and lacks the annotation %s: %s/%s",
			env.Spec.Workload.Kind, key, batonv1alpha1.AuthorizedEnvironmentAnnotation, env.Namespace, env.Name)
	}
	image, err := health.ContainerImage(obj, env.Spec.Workload.Container)
	if err != nil {
		return nil, "", Stalled(batonv1alpha1.ContainerNotFoundReason, "%v, named by spec.workload.container", err)
	}
	return obj, image, nil
}

// Delivered reports whether the workload already runs req.Image.
func (d *Direct) Delivered(ctx context.Context, req Request) (Record, bool, error) {
	_, image, err := d.read(ctx, req.Environment)
	if err != nil {
		return Record{}, false, err
	}
	if image != req.Image {
		return Record{}, false, nil
	}
	return Record{Patch: describePatch(req)}, true, nil
}

// Deliver applies the new image. It refuses, changing nothing, when another
// field manager owns the image field: applying with force would take the
// field from Argo CD, Flux or Helm, which would then put it back.
func (d *Direct) Deliver(ctx context.Context, req Request) (Record, error) {
	env := req.Environment
	obj, _, err := d.read(ctx, env)
	if err != nil {
		return Record{}, err
	}
	manager := fieldManager(env)
	if owners, err := imageOwners(obj, env.Spec.Workload.Container, manager); err != nil {
		return Record{}, err
	} else if len(owners) > 0 {
		return Record{}, Stalled(batonv1alpha1.ImageManagedElsewhereReason,
			"the image of container %q in %s %s is managed by %s; Baton will not fight it over the field: use delivery.git so that the change goes through the repository %s applies",
			env.Spec.Workload.Container, env.Spec.Workload.Kind, client.ObjectKeyFromObject(obj), strings.Join(owners, ", "), owners[0])
	}

	container := corev1ac.Container().WithName(env.Spec.Workload.Container).WithImage(req.Image)
	template := corev1ac.PodTemplateSpec().WithSpec(corev1ac.PodSpec().WithContainers(container))
	key := client.ObjectKeyFromObject(obj)
	var ac runtime.ApplyConfiguration
	switch env.Spec.Workload.Kind {
	case batonv1alpha1.WorkloadKindDeployment:
		ac = appsv1ac.Deployment(key.Name, key.Namespace).WithSpec(appsv1ac.DeploymentSpec().WithTemplate(template))
	case batonv1alpha1.WorkloadKindStatefulSet:
		ac = appsv1ac.StatefulSet(key.Name, key.Namespace).WithSpec(appsv1ac.StatefulSetSpec().WithTemplate(template))
	case batonv1alpha1.WorkloadKindDaemonSet:
		ac = appsv1ac.DaemonSet(key.Name, key.Namespace).WithSpec(appsv1ac.DaemonSetSpec().WithTemplate(template))
	}
	if err := d.Client.Apply(ctx, ac, client.FieldOwner(manager), client.ForceOwnership); err != nil {
		return Record{}, fmt.Errorf("apply image %s to %s %s: %w", req.Image, env.Spec.Workload.Kind, key, err)
	}
	return Record{Patch: describePatch(req)}, nil
}

func describePatch(req Request) string {
	env := req.Environment
	return fmt.Sprintf("server-side apply by %s: %s %s container %s image=%s",
		fieldManager(env), env.Spec.Workload.Kind, health.WorkloadKey(env), env.Spec.Workload.Container, req.Image)
}

// gitOpsManagers are field managers that write with update (not apply) but
// still re-assert the image from their own source of truth.
var gitOpsManagers = []string{"argocd-controller", "argocd-application-controller", "kustomize-controller", "helm-controller", "helm"}

// imageOwners lists the field managers other than self that own the image of
// the named container: every server-side apply manager (it would conflict),
// and the GitOps controllers that update it.
func imageOwners(obj client.Object, container, self string) ([]string, error) {
	path := fieldpath.MakePathOrDie("spec", "template", "spec", "containers",
		fieldpath.KeyByFields("name", container), "image")
	var owners []string
	for _, mf := range obj.GetManagedFields() {
		if mf.Manager == self || mf.FieldsV1 == nil {
			continue
		}
		if mf.Operation != metav1.ManagedFieldsOperationApply && !isGitOpsManager(mf.Manager) {
			continue
		}
		set := &fieldpath.Set{}
		if err := set.FromJSON(strings.NewReader(string(mf.FieldsV1.Raw))); err != nil {
			return nil, fmt.Errorf("parse managedFields of %s: %w", mf.Manager, err)
		}
		if set.Has(path) {
			owners = append(owners, mf.Manager)
		}
	}
	return owners, nil
}

func isGitOpsManager(m string) bool {
	for _, g := range gitOpsManagers {
		if m == g || strings.HasPrefix(m, g+"/") {
			return true
		}
	}
	return false
}
