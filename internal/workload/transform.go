package workload

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// lastAppliedAnnotation holds a full copy of the object as kubectl applied
// it; it is often the biggest part of a workload and Baton never reads it.
const lastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

// Transform is a cache transform for Deployments, StatefulSets and
// DaemonSets. It keeps only what Baton reads: identity, generation, labels and
// annotations, the replica count and update strategy the status viewers
// need, the selector (to find the Pods), each container's name and image,
// and the whole status. Everything else, managedFields included, is dropped
// before the object enters the cache; code that needs managedFields must use
// the uncached API reader.
// Other objects pass through unchanged. The transform is idempotent.
func Transform(obj any) (any, error) {
	switch w := obj.(type) {
	case *appsv1.Deployment:
		return &appsv1.Deployment{
			TypeMeta:   w.TypeMeta,
			ObjectMeta: slimMeta(w.ObjectMeta),
			Spec: appsv1.DeploymentSpec{
				Selector: w.Spec.Selector,
				Replicas: w.Spec.Replicas,
				Strategy: appsv1.DeploymentStrategy{Type: w.Spec.Strategy.Type},
				Template: slimTemplate(w.Spec.Template),
			},
			Status: w.Status,
		}, nil
	case *appsv1.StatefulSet:
		return &appsv1.StatefulSet{
			TypeMeta:   w.TypeMeta,
			ObjectMeta: slimMeta(w.ObjectMeta),
			Spec: appsv1.StatefulSetSpec{
				Selector: w.Spec.Selector,
				Replicas: w.Spec.Replicas,
				// The partition decides when a partitioned rollout is done.
				UpdateStrategy: w.Spec.UpdateStrategy,
				Template:       slimTemplate(w.Spec.Template),
			},
			Status: w.Status,
		}, nil
	case *appsv1.DaemonSet:
		return &appsv1.DaemonSet{
			TypeMeta:   w.TypeMeta,
			ObjectMeta: slimMeta(w.ObjectMeta),
			Spec: appsv1.DaemonSetSpec{
				Selector:       w.Spec.Selector,
				UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: w.Spec.UpdateStrategy.Type},
				Template:       slimTemplate(w.Spec.Template),
			},
			Status: w.Status,
		}, nil
	}
	return obj, nil
}

func slimMeta(m metav1.ObjectMeta) metav1.ObjectMeta {
	annotations := m.Annotations
	if _, ok := annotations[lastAppliedAnnotation]; ok {
		annotations = make(map[string]string, len(m.Annotations)-1)
		for k, v := range m.Annotations {
			if k != lastAppliedAnnotation {
				annotations[k] = v
			}
		}
	}
	return metav1.ObjectMeta{
		Name:              m.Name,
		Namespace:         m.Namespace,
		UID:               m.UID,
		ResourceVersion:   m.ResourceVersion,
		Generation:        m.Generation,
		CreationTimestamp: m.CreationTimestamp,
		DeletionTimestamp: m.DeletionTimestamp,
		Labels:            m.Labels,
		Annotations:       annotations,
	}
}

func slimTemplate(t corev1.PodTemplateSpec) corev1.PodTemplateSpec {
	containers := make([]corev1.Container, len(t.Spec.Containers))
	for i, c := range t.Spec.Containers {
		containers[i] = corev1.Container{Name: c.Name, Image: c.Image}
	}
	return corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: containers}}
}

func podTemplateContainers(obj client.Object) []corev1.Container {
	if spec := PodSpec(obj); spec != nil {
		return spec.Containers
	}
	return nil
}

// PodSpec is the Pod template's spec of a Deployment, StatefulSet or
// DaemonSet; nil for any other object. Read through the manager's cache it
// holds only the containers' names and images (Transform).
func PodSpec(obj client.Object) *corev1.PodSpec {
	switch w := obj.(type) {
	case *appsv1.Deployment:
		return &w.Spec.Template.Spec
	case *appsv1.StatefulSet:
		return &w.Spec.Template.Spec
	case *appsv1.DaemonSet:
		return &w.Spec.Template.Spec
	}
	return nil
}

// CacheByObject are the cache options of every kind an Accessor reads in a
// cluster: the workload kinds through Transform, Pods through
// TransformPod. The manager's cache uses them for its own cluster, and
// every remote cluster's cache uses only them.
func CacheByObject() map[client.Object]cache.ByObject {
	slim := cache.ByObject{Transform: Transform}
	return map[client.Object]cache.ByObject{
		&appsv1.Deployment{}:  slim,
		&appsv1.StatefulSet{}: slim,
		&appsv1.DaemonSet{}:   slim,
		&corev1.Pod{}:         {Transform: TransformPod},
	}
}
