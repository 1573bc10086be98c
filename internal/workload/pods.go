package workload

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
)

// Running is what the ready Pods of a Set's current revision run, as their
// kubelets report it (status.containerStatuses[].imageID).
type Running struct {
	// Digest is the digest every listed container of every counted Pod
	// runs; "" when none reports one, when some report none, or when they
	// disagree.
	Digest string
	// Ready is how many ready Pods of the current revision were seen.
	Ready int
	// Want is how many the workloads' status counts as updated and ready:
	// the Pods the rollout judgement rests on.
	Want int
	// Disagreement names which Pods run which digest when they run more
	// than one; "" when they agree.
	Disagreement string
}

// Known reports whether Digest is what every Pod the rollout judgement
// counted runs: the cache has seen each of them ready, each reported its
// digest, and they agree.
func (r Running) Known() bool {
	return r.Digest != "" && r.Ready >= r.Want && r.Want > 0
}

// Disagrees reports whether every counted Pod was seen and they run more
// than one digest.
func (r Running) Disagrees() bool {
	return r.Disagreement != "" && r.Ready >= r.Want
}

// Running reads the Pods of the set's workloads from the cluster's cache
// (TransformPod keeps what it needs) and says which digest they run.
func (l *Cluster) Running(ctx context.Context, _ *batonv1alpha1.Environment, set Set) (Running, error) {
	var found []PodImage
	want := 0
	for _, w := range set {
		pods, err := l.pods(ctx, w)
		if err != nil {
			return Running{}, err
		}
		found = append(found, CurrentPodImages(w, pods)...)
		want += readyWant(w.Object)
	}
	return Summarize(found, want), nil
}

func (l *Cluster) pods(ctx context.Context, w Workload) ([]corev1.Pod, error) {
	sel := selectorOf(w.Object)
	if sel == nil {
		return nil, nil
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil || s.Empty() {
		// The API server validates the selector, and an empty one selects
		// every Pod of the namespace: read none rather than guess.
		return nil, nil
	}
	var list corev1.PodList
	if err := l.Client.List(ctx, &list, client.InNamespace(w.Object.GetNamespace()), client.MatchingLabelsSelector{Selector: s}); err != nil {
		return nil, fmt.Errorf("list the Pods of %s: %w", w.Name(), err)
	}
	return list.Items, nil
}

// PodImage is one ready Pod of a workload's current revision and the
// digest its kubelet reports for each listed container, in the order the
// Environment lists them ("" where it reports none).
type PodImage struct {
	// Pod is the Pod's name.
	Pod string
	// Digests are the digests of the listed containers.
	Digests []string
}

// CurrentPodImages picks, from pods, the ready Pods the workload controls
// that run its template's images in every listed container, and reads the
// digest each runs. A Pod being deleted, not ready, or of an earlier
// revision (another image) is not counted.
func CurrentPodImages(w Workload, pods []corev1.Pod) []PodImage {
	names := w.Ref.ContainerNames()
	var out []PodImage
	for i := range pods {
		p := &pods[i]
		if !p.DeletionTimestamp.IsZero() || !podReady(p) || !controlledBy(p, w) {
			continue
		}
		pi := PodImage{Pod: p.Name}
		current := true
		for j, name := range names {
			if j >= len(w.Images) || specImage(p, name) != w.Images[j] {
				current = false
				break
			}
			pi.Digests = append(pi.Digests, statusDigest(p, name))
		}
		if current {
			out = append(out, pi)
		}
	}
	return out
}

// Summarize judges the digests of the counted Pods against want, the Pods
// the workloads' status counts. A container whose kubelet reports no digest
// leaves the digest unknown; it does not disagree.
func Summarize(pods []PodImage, want int) Running {
	r := Running{Ready: len(pods), Want: want}
	byDigest := map[string][]string{}
	unreported := false
	for _, p := range pods {
		for _, d := range p.Digests {
			if d == "" {
				unreported = true
				continue
			}
			byDigest[d] = appendOnce(byDigest[d], p.Pod)
		}
	}
	switch {
	case len(byDigest) == 1 && !unreported:
		for d := range byDigest {
			r.Digest = d
		}
	case len(byDigest) > 1:
		r.Disagreement = describeDigests(byDigest)
	}
	return r
}

func appendOnce(list []string, s string) []string {
	if len(list) > 0 && list[len(list)-1] == s {
		return list
	}
	return append(list, s)
}

// describeDigests names, for each digest, up to three Pods that run it.
func describeDigests(byDigest map[string][]string) string {
	digests := make([]string, 0, len(byDigest))
	for d := range byDigest {
		digests = append(digests, d)
	}
	sort.Strings(digests)
	parts := make([]string, 0, len(digests))
	for _, d := range digests {
		pods := byDigest[d]
		sort.Strings(pods)
		list := strings.Join(pods[:min(3, len(pods))], ", ")
		if len(pods) > 3 {
			list += fmt.Sprintf(" and %d more", len(pods)-3)
		}
		parts = append(parts, fmt.Sprintf("%s (Pod %s)", d, list))
	}
	return "the ready Pods of the current revision run " + strings.Join(parts, " and ")
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// controlledBy: the Pod's controller is the workload, or for a Deployment
// one of its ReplicaSets (named after it and the Pod's pod-template-hash).
func controlledBy(p *corev1.Pod, w Workload) bool {
	owner := metav1.GetControllerOfNoCopy(p)
	if owner == nil {
		return false
	}
	switch w.Object.(type) {
	case *appsv1.Deployment:
		hash := p.Labels[appsv1.DefaultDeploymentUniqueLabelKey]
		return owner.Kind == "ReplicaSet" && hash != "" && owner.Name == w.Object.GetName()+"-"+hash
	case *appsv1.StatefulSet:
		return owner.Kind == "StatefulSet" && owner.UID == w.Object.GetUID()
	case *appsv1.DaemonSet:
		return owner.Kind == "DaemonSet" && owner.UID == w.Object.GetUID()
	}
	return false
}

func specImage(p *corev1.Pod, container string) string {
	for _, c := range p.Spec.Containers {
		if c.Name == container {
			return c.Image
		}
	}
	return ""
}

func statusDigest(p *corev1.Pod, container string) string {
	for _, s := range p.Status.ContainerStatuses {
		if s.Name == container {
			return ImageIDDigest(s.ImageID)
		}
	}
	return ""
}

var repoDigest = regexp.MustCompile(`@(sha256:[0-9a-f]{64})$`)

// ImageIDDigest is the manifest digest in a kubelet's imageID:
// "registry/repo@sha256:…" (containerd, CRI-O) or
// "docker-pullable://repo@sha256:…" (dockershim). A bare "sha256:…" is
// the image's config ID, not a digest a registry serves, so it yields "".
func ImageIDDigest(imageID string) string {
	if m := repoDigest.FindStringSubmatch(imageID); m != nil {
		return m[1]
	}
	return ""
}

// readyWant is how many Pods the workload's status counts as updated and
// ready: the Pods a complete rollout rests on.
func readyWant(obj client.Object) int {
	switch w := obj.(type) {
	case *appsv1.Deployment:
		return int(min(w.Status.UpdatedReplicas, w.Status.AvailableReplicas))
	case *appsv1.StatefulSet:
		return int(min(w.Status.UpdatedReplicas, w.Status.ReadyReplicas))
	case *appsv1.DaemonSet:
		return int(min(w.Status.UpdatedNumberScheduled, w.Status.NumberReady))
	}
	return 0
}

func selectorOf(obj client.Object) *metav1.LabelSelector {
	switch w := obj.(type) {
	case *appsv1.Deployment:
		return w.Spec.Selector
	case *appsv1.StatefulSet:
		return w.Spec.Selector
	case *appsv1.DaemonSet:
		return w.Spec.Selector
	}
	return nil
}

// TransformPod is the cache transform for Pods. It keeps what Running
// reads: identity, labels (for the workloads' selectors), the controller
// reference, each container's name and image, the Ready condition and
// each container status's name, imageID and readiness. Other objects pass
// through unchanged; it is idempotent.
func TransformPod(obj any) (any, error) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil
	}
	slim := &corev1.Pod{
		TypeMeta: p.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{
			Name: p.Name, Namespace: p.Namespace, UID: p.UID, ResourceVersion: p.ResourceVersion,
			DeletionTimestamp: p.DeletionTimestamp, Labels: p.Labels,
		},
		Status: corev1.PodStatus{Phase: p.Status.Phase},
	}
	if owner := metav1.GetControllerOfNoCopy(p); owner != nil {
		slim.OwnerReferences = []metav1.OwnerReference{{APIVersion: owner.APIVersion, Kind: owner.Kind, Name: owner.Name, UID: owner.UID, Controller: owner.Controller}}
	}
	slim.Spec.Containers = make([]corev1.Container, len(p.Spec.Containers))
	for i, c := range p.Spec.Containers {
		slim.Spec.Containers[i] = corev1.Container{Name: c.Name, Image: c.Image}
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			slim.Status.Conditions = []corev1.PodCondition{{Type: c.Type, Status: c.Status}}
		}
	}
	if len(p.Status.ContainerStatuses) > 0 {
		slim.Status.ContainerStatuses = make([]corev1.ContainerStatus, len(p.Status.ContainerStatuses))
		for i, s := range p.Status.ContainerStatuses {
			slim.Status.ContainerStatuses[i] = corev1.ContainerStatus{Name: s.Name, ImageID: s.ImageID, Ready: s.Ready}
		}
	}
	return slim, nil
}

// WorkloadOfPod is the workload that controls a Pod, as the index key of
// IndexField: a Deployment through its ReplicaSet (the owner's name less
// the Pod's pod-template-hash), a StatefulSet or a DaemonSet directly; ""
// for any other Pod.
func WorkloadOfPod(p *corev1.Pod) (kind string, name string) {
	owner := metav1.GetControllerOfNoCopy(p)
	if owner == nil {
		return "", ""
	}
	switch owner.Kind {
	case "ReplicaSet":
		hash := p.Labels[appsv1.DefaultDeploymentUniqueLabelKey]
		if hash == "" || !strings.HasSuffix(owner.Name, "-"+hash) {
			return "", ""
		}
		return "Deployment", strings.TrimSuffix(owner.Name, "-"+hash)
	case "StatefulSet", "DaemonSet":
		return owner.Kind, owner.Name
	}
	return "", ""
}

// PodChanged reports whether a Pod update changes what Running reads, so
// that a watch can skip the kubelet's other status writes.
func PodChanged(oldObj, newObj any) bool {
	old, _ := TransformPod(oldObj)
	cur, _ := TransformPod(newObj)
	o, okOld := old.(*corev1.Pod)
	c, okNew := cur.(*corev1.Pod)
	if !okOld || !okNew {
		return true
	}
	// TransformPod returns new objects: the cache's stay as they are.
	o.ResourceVersion, c.ResourceVersion = "", ""
	return !equality.Semantic.DeepEqual(o, c)
}
