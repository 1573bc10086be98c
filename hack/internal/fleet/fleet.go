// Package fleet creates many realistic Deployments and their ready Pods in
// a real API server, for the programs in hack/ that measure Baton against a
// fleet.
package fleet

import (
	"context"
	"fmt"
	"strings"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Create creates count realistic Deployments in namespace ns (created when
// missing), each with podsEach ready Pods; done, when not nil, runs on each
// Deployment after its Pods, such as to write a finished rollout.
func Create(ctx context.Context, c client.Client, ns string, count, podsEach int, done func(*appsv1.Deployment) error) error {
	const workers = 16
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace: %w", err)
	}
	jobs := make(chan int)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				d := Deployment(ns, i)
				if err := c.Create(ctx, d); err != nil {
					errs <- fmt.Errorf("create Deployment %d: %w", i, err)
					return
				}
				for j := range podsEach {
					if err := CreatePod(ctx, c, d, j); err != nil {
						errs <- err
						return
					}
				}
				if done != nil {
					if err := done(d); err != nil {
						errs <- fmt.Errorf("Deployment %d: %w", i, err)
						return
					}
				}
			}
		}()
	}
	for i := range count {
		select {
		case jobs <- i:
		case err := <-errs:
			close(jobs)
			return err
		}
	}
	close(jobs)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

// CreatePod creates the j-th Pod of d as its ReplicaSet would, and writes
// the status its kubelet would: ready, with an imageID per container.
func CreatePod(ctx context.Context, c client.Client, d *appsv1.Deployment, j int) error {
	const hash = "7c9d8f6b5"
	labels := map[string]string{appsv1.DefaultDeploymentUniqueLabelKey: hash}
	for k, v := range d.Spec.Template.Labels {
		labels[k] = v
	}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: d.Namespace, Name: fmt.Sprintf("%s-%s-%05d", d.Name, hash, j), Labels: labels,
			Annotations: map[string]string{"kubectl.kubernetes.io/restartedAt": "2026-12-01T10:00:00Z"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: d.Name + "-" + hash,
				UID: types.UID(fmt.Sprintf("0000-%s", d.Name)), Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}}},
		Spec: *d.Spec.Template.Spec.DeepCopy(),
	}
	p.Spec.NodeName = fmt.Sprintf("node-%02d", j%20)
	if err := c.Create(ctx, p); err != nil {
		return fmt.Errorf("create Pod %s: %w", p.Name, err)
	}
	now := metav1.Now()
	p.Status = corev1.PodStatus{Phase: corev1.PodRunning, HostIP: "10.0.0.1", PodIP: fmt.Sprintf("10.1.%d.%d", j%250, len(d.Name)%250),
		QOSClass: corev1.PodQOSBurstable, StartTime: &now,
		Conditions: []corev1.PodCondition{
			{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
		}}
	for _, ctr := range p.Spec.Containers {
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{
			Name: ctr.Name, Image: ctr.Image, Ready: true, Started: ptr.To(true),
			ImageID:     "registry.example.com/shop/" + d.Name + "@sha256:" + strings.Repeat("a", 64),
			ContainerID: "containerd://" + strings.Repeat("b", 64),
			State:       corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
		})
	}
	if err := c.Status().Update(ctx, p); err != nil {
		return fmt.Errorf("write the status of Pod %s: %w", p.Name, err)
	}
	return nil
}

// Deployment is shaped like a typical application Deployment: two
// containers with ports, env, resources, probes and a volume. It carries no
// kubectl last-applied annotation, so the figures do not flatter the
// transform.
func Deployment(ns string, i int) *appsv1.Deployment {
	name := fmt.Sprintf("app-%05d", i)
	labels := map[string]string{"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "shop", "team": "payments"}
	var env []corev1.EnvVar
	for j := range 12 {
		env = append(env, corev1.EnvVar{Name: fmt.Sprintf("SETTING_%02d", j), Value: fmt.Sprintf("value-%d-%d", i, j)})
	}
	probe := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(8080)}}, PeriodSeconds: 10}
	resources := corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
	}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels,
			Annotations: map[string]string{"owner": "payments@example.com"}},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](3),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					Containers: []corev1.Container{
						{Name: "web", Image: "registry.example.com/shop/" + name + ":1.0.0", Env: env, Resources: resources,
							Ports:         []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
							LivenessProbe: probe, ReadinessProbe: probe,
							VolumeMounts: []corev1.VolumeMount{{Name: "config", MountPath: "/etc/app"}}},
						{Name: "proxy", Image: "registry.example.com/envoy:1.30", Resources: resources,
							Ports: []corev1.ContainerPort{{Name: "admin", ContainerPort: 9901}}},
					},
					Volumes: []corev1.Volume{{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
						LocalObjectReference: corev1.LocalObjectReference{Name: name + "-config"}}}}},
				},
			},
		},
	}
}
