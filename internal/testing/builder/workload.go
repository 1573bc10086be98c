package builder

import (
	"maps"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
)

// WorkloadBuilder builds a Deployment, StatefulSet or DaemonSet: T is the
// type Build returns.
type WorkloadBuilder[T client.Object] struct {
	kind        batonv1alpha1.WorkloadKind
	meta        metav1.ObjectMeta
	labels      map[string]string
	replicas    *int32
	containers  []corev1.Container
	minReadySec int32
}

// Deployment starts a Deployment whose Pods are labelled app=name.
func Deployment(namespace, name string) *WorkloadBuilder[*appsv1.Deployment] {
	return newWorkload[*appsv1.Deployment](batonv1alpha1.WorkloadKindDeployment, namespace, name)
}

// StatefulSet starts a StatefulSet whose Pods are labelled app=name.
func StatefulSet(namespace, name string) *WorkloadBuilder[*appsv1.StatefulSet] {
	return newWorkload[*appsv1.StatefulSet](batonv1alpha1.WorkloadKindStatefulSet, namespace, name)
}

// DaemonSet starts a DaemonSet whose Pods are labelled app=name.
func DaemonSet(namespace, name string) *WorkloadBuilder[*appsv1.DaemonSet] {
	return newWorkload[*appsv1.DaemonSet](batonv1alpha1.WorkloadKindDaemonSet, namespace, name)
}

// Workload starts a workload of a kind chosen at run time, for specs that run
// once per kind.
func Workload(kind batonv1alpha1.WorkloadKind, namespace, name string) *WorkloadBuilder[client.Object] {
	return newWorkload[client.Object](kind, namespace, name)
}

func newWorkload[T client.Object](kind batonv1alpha1.WorkloadKind, namespace, name string) *WorkloadBuilder[T] {
	return &WorkloadBuilder[T]{
		kind:   kind,
		meta:   metav1.ObjectMeta{Namespace: namespace, Name: name},
		labels: map[string]string{"app": name},
	}
}

// Container appends a container running image.
func (b *WorkloadBuilder[T]) Container(name, image string) *WorkloadBuilder[T] {
	b.containers = append(b.containers, corev1.Container{Name: name, Image: image})
	return b
}

// Replicas sets spec.replicas. A DaemonSet has none: it ignores this.
func (b *WorkloadBuilder[T]) Replicas(n int32) *WorkloadBuilder[T] {
	b.replicas = ptr.To(n)
	return b
}

// PodLabels replaces the Pods' labels, which are also the selector.
func (b *WorkloadBuilder[T]) PodLabels(labels map[string]string) *WorkloadBuilder[T] {
	b.labels = maps.Clone(labels)
	return b
}

// Annotation sets an annotation on the workload.
func (b *WorkloadBuilder[T]) Annotation(key, value string) *WorkloadBuilder[T] {
	if b.meta.Annotations == nil {
		b.meta.Annotations = map[string]string{}
	}
	b.meta.Annotations[key] = value
	return b
}

// AuthorizedFor lets Environment namespace/name use this workload from
// another namespace.
func (b *WorkloadBuilder[T]) AuthorizedFor(namespace, name string) *WorkloadBuilder[T] {
	return b.Annotation(batonv1alpha1.AuthorizedEnvironmentAnnotation, namespace+"/"+name)
}

// MinReadySeconds sets spec.minReadySeconds.
func (b *WorkloadBuilder[T]) MinReadySeconds(s int32) *WorkloadBuilder[T] {
	b.minReadySec = s
	return b
}

// Build returns a new workload each time it is called. An unknown kind
// builds a Deployment, as the API defaults spec.workload.kind.
func (b *WorkloadBuilder[T]) Build() T {
	meta := *b.meta.DeepCopy()
	selector := &metav1.LabelSelector{MatchLabels: maps.Clone(b.labels)}
	template := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: maps.Clone(b.labels)},
		Spec:       corev1.PodSpec{Containers: append([]corev1.Container(nil), b.containers...)},
	}
	var obj client.Object
	switch b.kind {
	case batonv1alpha1.WorkloadKindStatefulSet:
		obj = &appsv1.StatefulSet{ObjectMeta: meta, Spec: appsv1.StatefulSetSpec{
			Replicas: b.replicaCount(), Selector: selector, Template: template, MinReadySeconds: b.minReadySec}}
	case batonv1alpha1.WorkloadKindDaemonSet:
		obj = &appsv1.DaemonSet{ObjectMeta: meta, Spec: appsv1.DaemonSetSpec{
			Selector: selector, Template: template, MinReadySeconds: b.minReadySec}}
	default:
		obj = &appsv1.Deployment{ObjectMeta: meta, Spec: appsv1.DeploymentSpec{
			Replicas: b.replicaCount(), Selector: selector, Template: template, MinReadySeconds: b.minReadySec}}
	}
	return obj.(T)
}

// replicaCount is a copy of spec.replicas: nil leaves it to the API's
// default of 1.
func (b *WorkloadBuilder[T]) replicaCount() *int32 {
	if b.replicas == nil {
		return nil
	}
	return ptr.To(*b.replicas)
}
