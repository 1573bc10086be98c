package testenv

import (
	"context"
	"fmt"
	"hash/fnv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/baton-dev/baton/internal/image"
)

// PodsRun plays the ReplicaSet controller and the kubelets for a
// Deployment's current template: it creates one ready Pod per replica,
// owned by the ReplicaSet the Deployment controller would name
// (<name>-<pod-template-hash>), and reports digests[i % len(digests)] as
// the imageID of each Pod's containers, as containerd does
// (repository@sha256:…). A digest of "" reports no imageID. Call it before
// RolloutComplete: a kubelet reports a Pod ready before the Deployment
// counts it available.
func PodsRun(ctx context.Context, c client.Client, d *appsv1.Deployment, digests ...string) error {
	if err := c.Get(ctx, client.ObjectKeyFromObject(d), d); err != nil {
		return err
	}
	if len(digests) == 0 {
		return fmt.Errorf("PodsRun %s: name at least one digest", d.Name)
	}
	hash := templateHash(d)
	labels := map[string]string{appsv1.DefaultDeploymentUniqueLabelKey: hash}
	for k, v := range d.Spec.Template.Labels {
		labels[k] = v
	}
	for i := range replicasOf(d.Spec.Replicas) {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: d.Namespace, Name: fmt.Sprintf("%s-%s-%d", d.Name, hash, i), Labels: labels,
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: d.Name + "-" + hash,
					UID: types.UID("rs-" + hash), Controller: ptr.To(true)}}},
			Spec: *d.Spec.Template.Spec.DeepCopy(),
		}
		if err := c.Create(ctx, pod); err != nil {
			return fmt.Errorf("create Pod %s: %w", pod.Name, err)
		}
		digest := digests[int(i)%len(digests)]
		pod.Status.Phase = corev1.PodRunning
		pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}}
		for _, ctr := range pod.Spec.Containers {
			s := corev1.ContainerStatus{Name: ctr.Name, Image: ctr.Image, Ready: true}
			if digest != "" {
				s.ImageID = image.Pin(ctr.Image, digest)
			}
			pod.Status.ContainerStatuses = append(pod.Status.ContainerStatuses, s)
		}
		if err := c.Status().Update(ctx, pod); err != nil {
			return fmt.Errorf("report the status of Pod %s: %w", pod.Name, err)
		}
	}
	return nil
}

// templateHash stands in for the Deployment controller's
// pod-template-hash: it changes with the containers' images.
func templateHash(d *appsv1.Deployment) string {
	h := fnv.New32a()
	for _, c := range d.Spec.Template.Spec.Containers {
		_, _ = h.Write([]byte(c.Name + "=" + c.Image + ";"))
	}
	return fmt.Sprintf("%08x", h.Sum32())[:8]
}
