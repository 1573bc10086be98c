package workload

import (
	"context"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
)

const (
	digestA = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	digestB = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

// pod is a ready Pod of Deployment shop/web's ReplicaSet web-5d8f, running
// web:1.0 as imageID.
func pod(name, imageID string, mutate func(*corev1.Pod)) corev1.Pod {
	p := corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop",
			Labels:          map[string]string{"app": "web", appsv1.DefaultDeploymentUniqueLabelKey: "5d8f"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-5d8f", UID: "rs-uid", Controller: ptr.To(true)}}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{
			{Name: "web", Image: "registry.example.com/web:1.0"},
			{Name: "sidecar", Image: "registry.example.com/proxy:2"},
		}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
			ContainerStatuses: []corev1.ContainerStatus{
				{Name: "web", Ready: true, ImageID: imageID},
				{Name: "sidecar", Ready: true, ImageID: "registry.example.com/proxy@" + digestB},
			}},
	}
	if mutate != nil {
		mutate(&p)
	}
	return p
}

func webWorkload() Workload {
	d := deployment(nil)
	return Workload{Object: d, Kind: batonv1alpha1.WorkloadKindDeployment, Ref: batonv1alpha1.WorkloadReference{Kind: batonv1alpha1.WorkloadKindDeployment, Name: "web", Container: "web"},
		Image: "registry.example.com/web:1.0", Images: []string{"registry.example.com/web:1.0"}}
}

func TestRunningDigest(t *testing.T) {
	idA := "registry.example.com/web@" + digestA
	idB := "registry.example.com/web@" + digestB
	tests := []struct {
		name       string
		pods       []corev1.Pod
		want       int
		digest     string
		known      bool
		disagrees  string // a part of the disagreement, "" for none
		ready      int
		unreported bool
	}{
		{name: "every ready Pod reports one digest", pods: []corev1.Pod{pod("a", idA, nil), pod("b", idA, nil), pod("c", "docker-pullable://registry.example.com/web@"+digestA, nil)},
			want: 3, digest: digestA, known: true, ready: 3},
		{name: "the cache has not seen every Pod ready yet", pods: []corev1.Pod{pod("a", idA, nil), pod("b", idA, nil)},
			want: 3, digest: digestA, known: false, ready: 2},
		{name: "the Pods disagree", pods: []corev1.Pod{pod("a", idA, nil), pod("b", idB, nil), pod("c", idA, nil)},
			want: 3, disagrees: digestA + " (Pod a, c) and " + digestB + " (Pod b)", ready: 3},
		{name: "a kubelet reports no imageID", pods: []corev1.Pod{pod("a", idA, nil), pod("b", "", nil)},
			want: 2, ready: 2},
		{name: "a bare image ID is not a registry digest", pods: []corev1.Pod{pod("a", digestA, nil)},
			want: 1, ready: 1},
		{name: "a Pod of the earlier revision (another image) is not counted", pods: []corev1.Pod{pod("a", idA, nil), pod("old", idB, func(p *corev1.Pod) {
			p.Spec.Containers[0].Image = "registry.example.com/web:0.9"
		})}, want: 1, digest: digestA, known: true, ready: 1},
		{name: "a Pod being deleted is not counted", pods: []corev1.Pod{pod("a", idA, nil), pod("gone", idB, func(p *corev1.Pod) {
			p.DeletionTimestamp = ptr.To(metav1.Now())
		})}, want: 1, digest: digestA, known: true, ready: 1},
		{name: "a Pod that is not ready is not counted", pods: []corev1.Pod{pod("a", idA, nil), pod("starting", idB, func(p *corev1.Pod) {
			p.Status.Conditions[0].Status = corev1.ConditionFalse
		})}, want: 1, digest: digestA, known: true, ready: 1},
		{name: "a Pod of another controller is not counted", pods: []corev1.Pod{pod("a", idA, nil), pod("canary", idB, func(p *corev1.Pod) {
			p.OwnerReferences[0].Name = "web-canary-5d8f"
		})}, want: 1, digest: digestA, known: true, ready: 1},
		{name: "a bare Pod is not counted", pods: []corev1.Pod{pod("a", idA, nil), pod("bare", idB, func(p *corev1.Pod) {
			p.OwnerReferences = nil
		})}, want: 1, digest: digestA, known: true, ready: 1},
		{name: "no Pods, none wanted", want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Summarize(CurrentPodImages(webWorkload(), tt.pods), tt.want)
			if r.Digest != tt.digest || r.Known() != tt.known || r.Ready != tt.ready {
				t.Errorf("got digest %q known %v ready %d; want %q, %v, %d", r.Digest, r.Known(), r.Ready, tt.digest, tt.known, tt.ready)
			}
			if tt.disagrees == "" && (r.Disagreement != "" || r.Disagrees()) {
				t.Errorf("disagreement %q, want none", r.Disagreement)
			}
			if tt.disagrees != "" && (!r.Disagrees() || !strings.Contains(r.Disagreement, tt.disagrees)) {
				t.Errorf("disagreement %q, want one saying %q", r.Disagreement, tt.disagrees)
			}
		})
	}
}

func TestRunningNamesAtMostThreePodsPerDigest(t *testing.T) {
	var pods []corev1.Pod
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		pods = append(pods, pod(n, "registry.example.com/web@"+digestA, nil))
	}
	pods = append(pods, pod("z", "registry.example.com/web@"+digestB, nil))
	r := Summarize(CurrentPodImages(webWorkload(), pods), 6)
	if !strings.Contains(r.Disagreement, "(Pod a, b, c and 2 more)") {
		t.Errorf("disagreement %q, want three Pods named and the rest counted", r.Disagreement)
	}
}

func TestLocalRunningSelectsTheWorkloadsPods(t *testing.T) {
	w := webWorkload()
	other := pod("other-app", "registry.example.com/web@"+digestB, func(p *corev1.Pod) { p.Labels["app"] = "api" })
	elsewhere := pod("elsewhere", "registry.example.com/web@"+digestB, func(p *corev1.Pod) { p.Namespace = "other" })
	mine := pod("a", "registry.example.com/web@"+digestA, nil)
	c := fake.NewClientBuilder().WithScheme(scheme.Scheme).WithObjects(&other, &elsewhere, &mine).Build()
	// Want 1: the workload's status counts one ready replica.
	d := w.Object.(*appsv1.Deployment)
	d.Status.UpdatedReplicas, d.Status.AvailableReplicas = 1, 1
	r, err := NewLocal(c, c).Running(context.Background(), nil, Set{w})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Known() || r.Digest != digestA || r.Ready != 1 {
		t.Errorf("got %+v, want only Pod a's digest", r)
	}
}

func TestImageIDDigest(t *testing.T) {
	for in, want := range map[string]string{
		"registry.example.com/web@" + digestA:                   digestA,
		"docker.io/library/nginx@" + digestA:                    digestA,
		"docker-pullable://registry.example.com/web@" + digestA: digestA,
		digestA:                 "",
		"":                      "",
		"web@sha256:short":      "",
		"web@" + digestA + "x":  "",
		"web@sha512:" + digestA: "",
		"web:1.0":               "",
		"web@" + digestA + "\n": "",
	} {
		if got := ImageIDDigest(in); got != want {
			t.Errorf("ImageIDDigest(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTransformPod(t *testing.T) {
	p := pod("a", "registry.example.com/web@"+digestA, func(p *corev1.Pod) {
		p.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubelet"}}
		p.Annotations = map[string]string{"big": strings.Repeat("x", 1000)}
		p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A", Value: "b"}}
		p.Spec.Volumes = []corev1.Volume{{Name: "v"}}
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, Message: "long"})
		p.Status.ContainerStatuses[0].State.Running = &corev1.ContainerStateRunning{}
		p.OwnerReferences = append(p.OwnerReferences, metav1.OwnerReference{Kind: "Other", Name: "x"})
	})
	out, err := TransformPod(&p)
	if err != nil {
		t.Fatal(err)
	}
	slim := out.(*corev1.Pod)
	if slim.ManagedFields != nil || slim.Annotations != nil || slim.Spec.Containers[0].Env != nil || slim.Spec.Volumes != nil ||
		len(slim.Status.Conditions) != 1 || slim.Status.ContainerStatuses[0].State.Running != nil || len(slim.OwnerReferences) != 1 {
		t.Errorf("fields Baton never reads were kept: %+v", slim)
	}
	// What Running reads survives: it judges the slim Pod as the whole one.
	w := webWorkload()
	d := w.Object.(*appsv1.Deployment)
	d.Status.UpdatedReplicas, d.Status.AvailableReplicas = 1, 1
	whole, trimmed := Summarize(CurrentPodImages(w, []corev1.Pod{p}), 1), Summarize(CurrentPodImages(w, []corev1.Pod{*slim}), 1)
	if !trimmed.Known() || whole != trimmed {
		t.Errorf("after the transform: %+v; before: %+v", trimmed, whole)
	}
	again, err := TransformPod(slim)
	if err != nil || !reflectEqual(again, slim) {
		t.Errorf("the transform is not idempotent")
	}
	cm := &corev1.ConfigMap{}
	if got, _ := TransformPod(cm); got != any(cm) {
		t.Errorf("an object that is not a Pod was changed")
	}
}

func TestWorkloadOfPod(t *testing.T) {
	sts := pod("db-0", "", func(p *corev1.Pod) {
		p.OwnerReferences[0].Kind, p.OwnerReferences[0].Name, p.OwnerReferences[0].UID = "StatefulSet", "db", types.UID("sts")
	})
	tests := []struct {
		name       string
		pod        corev1.Pod
		kind, want string
	}{
		{"a Deployment's Pod through its ReplicaSet", pod("a", "", nil), "Deployment", "web"},
		{"a ReplicaSet of its own", pod("a", "", func(p *corev1.Pod) { p.OwnerReferences[0].Name = "standalone" }), "", ""},
		{"a StatefulSet's Pod", sts, "StatefulSet", "db"},
		{"a bare Pod", pod("a", "", func(p *corev1.Pod) { p.OwnerReferences = nil }), "", ""},
		{"a Job's Pod", pod("a", "", func(p *corev1.Pod) { p.OwnerReferences[0].Kind = "Job" }), "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kind, name := WorkloadOfPod(&tt.pod)
			if kind != tt.kind || name != tt.want {
				t.Errorf("got %s %s, want %s %s", kind, name, tt.kind, tt.want)
			}
		})
	}
}
