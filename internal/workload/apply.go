package workload

import (
	"context"
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/image"
	"github.com/baton-dev/baton/internal/outcome"
)

// DefaultFieldManager is the server-side apply field manager Baton applies
// with unless the Environment names another.
const DefaultFieldManager = "baton"

// FieldManager is the server-side apply field manager for env's workload.
func FieldManager(env *batonv1alpha1.Environment) string {
	if d := env.Spec.Delivery.Direct; d != nil && d.FieldManager != "" {
		return d.FieldManager
	}
	return DefaultFieldManager
}

// ApplyImage server-side applies only the image of the Environment's
// container, with force, as FieldManager(env). It reads the workload
// uncached first, and changes nothing when the container already runs ref,
// or when another field manager owns the image field: applying with force
// would take the field from Argo CD, Flux or Helm, which would then put it
// back.
func (l *Local) ApplyImage(ctx context.Context, env *batonv1alpha1.Environment, ref string) (bool, error) {
	w, err := l.GetUncached(ctx, env)
	if err != nil {
		return false, err
	}
	if image.Same(w.Image, "", ref, "") {
		return false, nil
	}
	container, manager, key := env.Spec.Workload.Container, FieldManager(env), client.ObjectKeyFromObject(w.Object)
	if owners, err := imageOwners(w.Object, container, manager); err != nil {
		return false, err
	} else if len(owners) > 0 {
		return false, outcome.Stall(batonv1alpha1.ImageManagedElsewhereReason,
			"the image of container %q in %s %s is managed by %s; Baton will not fight it over the field: use delivery.git so that the change goes through the repository %s applies",
			container, w.Kind, key, strings.Join(owners, ", "), owners[0])
	}
	ac, err := imageApplyConfiguration(w.Kind, key, container, ref)
	if err != nil {
		return false, err
	}
	if err := l.Client.Apply(ctx, ac, client.FieldOwner(manager), client.ForceOwnership); err != nil {
		return false, fmt.Errorf("apply image %s to %s %s: %w", ref, w.Kind, key, err)
	}
	return true, nil
}

// imageApplyConfiguration is the apply configuration that holds nothing but
// the image of one container.
func imageApplyConfiguration(kind batonv1alpha1.WorkloadKind, key client.ObjectKey, container, ref string) (runtime.ApplyConfiguration, error) {
	c := corev1ac.Container().WithName(container).WithImage(ref)
	template := corev1ac.PodTemplateSpec().WithSpec(corev1ac.PodSpec().WithContainers(c))
	switch kind {
	case batonv1alpha1.WorkloadKindDeployment:
		return appsv1ac.Deployment(key.Name, key.Namespace).WithSpec(appsv1ac.DeploymentSpec().WithTemplate(template)), nil
	case batonv1alpha1.WorkloadKindStatefulSet:
		return appsv1ac.StatefulSet(key.Name, key.Namespace).WithSpec(appsv1ac.StatefulSetSpec().WithTemplate(template)), nil
	case batonv1alpha1.WorkloadKindDaemonSet:
		return appsv1ac.DaemonSet(key.Name, key.Namespace).WithSpec(appsv1ac.DaemonSetSpec().WithTemplate(template)), nil
	}
	_, err := New(kind)
	return nil, err
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
