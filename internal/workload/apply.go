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

// ApplyImage server-side applies only the images of the Environment's
// containers, one apply per workload, with force, as FieldManager(env). It
// reads every workload uncached first and changes nothing at all when one
// of them cannot be changed: it does not exist, may not be used, or another
// field manager owns one of the image fields (applying with force would
// take the field from Argo CD, Flux or Helm, which would then put it back).
// A workload whose containers already run ref is skipped, so that applying
// again after a crash between two workloads changes only the rest.
func (l *Cluster) ApplyImage(ctx context.Context, env *batonv1alpha1.Environment, ref string) ([]string, error) {
	set, err := l.GetUncached(ctx, env)
	if err != nil {
		return nil, err
	}
	manager := FieldManager(env)
	var todo []Workload
	for _, w := range set {
		if Runs(w, ref) {
			continue
		}
		for _, container := range w.Ref.ContainerNames() {
			if owners, err := imageOwners(w.Object, container, manager); err != nil {
				return nil, err
			} else if len(owners) > 0 {
				return nil, outcome.Stall(batonv1alpha1.ImageManagedElsewhereReason,
					"the image of container %q in %s is managed by %s; Baton will not fight it over the field: use delivery.git so that the change goes through the repository %s applies",
					container, w.Name(), strings.Join(owners, ", "), owners[0])
			}
		}
		todo = append(todo, w)
	}
	var changed []string
	for _, w := range todo {
		key := client.ObjectKeyFromObject(w.Object)
		ac, err := imageApplyConfiguration(w.Kind, key, w.Ref.ContainerNames(), ref)
		if err != nil {
			return changed, err
		}
		if err := l.Client.Apply(ctx, ac, client.FieldOwner(manager), client.ForceOwnership); err != nil {
			return changed, fmt.Errorf("apply image %s to %s: %w", ref, w.Name(), err)
		}
		changed = append(changed, RefName(w.Kind, key))
	}
	return changed, nil
}

// Runs reports whether every listed container of w already runs ref (by
// digest when both references carry one).
func Runs(w Workload, ref string) bool {
	for _, img := range w.Images {
		if !image.Same(img, "", ref, "") {
			return false
		}
	}
	return true
}

// imageApplyConfiguration is the apply configuration that holds nothing but
// the images of the named containers.
func imageApplyConfiguration(kind batonv1alpha1.WorkloadKind, key client.ObjectKey, containers []string, ref string) (runtime.ApplyConfiguration, error) {
	spec := corev1ac.PodSpec()
	for _, name := range containers {
		spec.WithContainers(corev1ac.Container().WithName(name).WithImage(ref))
	}
	template := corev1ac.PodTemplateSpec().WithSpec(spec)
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
