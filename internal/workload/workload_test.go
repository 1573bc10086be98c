package workload

import (
	"context"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/outcome"
)

// fakeClient serves objs, Environments included, with the index the
// manager registers.
func fakeClient(objs ...client.Object) client.Client {
	s := runtime.NewScheme()
	if err := scheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := batonv1alpha1.AddToScheme(s); err != nil {
		panic(err)
	}
	return fake.NewClientBuilder().WithScheme(s).WithObjects(objs...).
		WithIndex(&batonv1alpha1.Environment{}, IndexField, func(o client.Object) []string {
			return IndexKeys(o.(*batonv1alpha1.Environment))
		}).Build()
}

func environmentFor(kind batonv1alpha1.WorkloadKind, namespace, container string) *batonv1alpha1.Environment {
	return &batonv1alpha1.Environment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "production"},
		Spec: batonv1alpha1.EnvironmentSpec{
			Workload: &batonv1alpha1.WorkloadReference{Kind: kind, Namespace: namespace, Name: "web", Container: container},
		},
	}
}

// TestGetStalls pins the one set of messages both the Environment reconciler
// and direct delivery report: each names what to fix.
func TestGetStalls(t *testing.T) {
	web := func(namespace string, annotations map[string]string, strategy appsv1.StatefulSetUpdateStrategyType) client.Object {
		return &appsv1.StatefulSet{
			ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "web", Annotations: annotations},
			Spec: appsv1.StatefulSetSpec{UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: strategy},
				Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "registry.example.com/web:1"}}}}},
		}
	}
	const sts = batonv1alpha1.WorkloadKindStatefulSet
	cases := []struct {
		name    string
		obj     client.Object
		env     *batonv1alpha1.Environment
		reason  string
		message string
	}{
		{"missing", nil, environmentFor(sts, "", "web"), batonv1alpha1.WorkloadNotFoundReason,
			"StatefulSet shop/web does not exist; create it or fix spec.workload"},
		{"of another kind", web("shop", nil, ""), environmentFor(batonv1alpha1.WorkloadKindDeployment, "", "web"), batonv1alpha1.WorkloadNotFoundReason,
			"Deployment shop/web does not exist"},
		{"in another namespace without the annotation", web("other", nil, ""), environmentFor(sts, "other", "web"), batonv1alpha1.WorkloadNotAuthorizedReason,
			`StatefulSet other/web is in another namespace and its annotation promotion.baton.dev/authorized-environment is ""; set it to "shop/production"`},
		{"annotated for another Environment", web("other", map[string]string{batonv1alpha1.AuthorizedEnvironmentAnnotation: "shop/staging"}, ""), environmentFor(sts, "other", "web"),
			batonv1alpha1.WorkloadNotAuthorizedReason, `is "shop/staging"; set it to "shop/production"`},
		{"without the container", web("shop", nil, ""), environmentFor(sts, "", "api"), batonv1alpha1.ContainerNotFoundReason,
			`StatefulSet shop/web has no container "api" (it has: web); fix spec.workload.container`},
		{"with the OnDelete strategy", web("shop", nil, appsv1.OnDeleteStatefulSetStrategyType), environmentFor(sts, "", "web"), batonv1alpha1.UnsupportedUpdateStrategyReason,
			"needs the RollingUpdate strategy"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var objs []client.Object
			if tc.obj != nil {
				objs = append(objs, tc.obj)
			}
			c := fakeClient(objs...)
			for name, get := range map[string]func(context.Context, *batonv1alpha1.Environment) (Set, error){
				"Get": NewLocal(c, c).Get, "GetUncached": NewLocal(c, c).GetUncached,
			} {
				w, err := get(context.Background(), tc.env)
				if err == nil {
					_, err = w.Rollout()
				}
				s, ok := outcome.AsStalled(err)
				if !ok || s.Reason != tc.reason || !strings.Contains(s.Message, tc.message) {
					t.Errorf("%s: got %v, want Stalled %s saying %q", name, err, tc.reason, tc.message)
				}
			}
		})
	}
}

func TestGetAuthorizedAcrossNamespaces(t *testing.T) {
	obj := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "other", Name: "web",
			Annotations: map[string]string{batonv1alpha1.AuthorizedEnvironmentAnnotation: "shop/production"}},
		Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "proxy", Image: "proxy:1"}, {Name: "web", Image: "registry.example.com/web:1"}}}}},
	}
	c := fakeClient(obj)
	set, err := NewLocal(c, c).Get(context.Background(), environmentFor(batonv1alpha1.WorkloadKindDeployment, "other", "web"))
	if err != nil || len(set) != 1 || set[0].Image != "registry.example.com/web:1" || set[0].Kind != batonv1alpha1.WorkloadKindDeployment {
		t.Fatalf("Get = %+v, %v; want the web container's image", set, err)
	}
}

func TestApplyImage(t *testing.T) {
	const x = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	running := "registry.example.com/web:1.3.0@" + x
	cases := []struct {
		name, ref string
		changed   bool
	}{
		{"a new image is applied", "registry.example.com/web:1.4.0", true},
		{"the same digest under another tag is left alone", "registry.example.com/web:1.3.1@" + x, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			obj := &appsv1.Deployment{
				ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"},
				Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
					Containers: []corev1.Container{{Name: "web", Image: running}}}}},
			}
			c := fakeClient(obj)
			env := environmentFor(batonv1alpha1.WorkloadKindDeployment, "", "web")
			changed, err := NewLocal(c, c).ApplyImage(context.Background(), env, tc.ref)
			if err != nil || (len(changed) == 1) != tc.changed {
				t.Fatalf("ApplyImage(%s) = %v, %v; want %v", tc.ref, changed, err, tc.changed)
			}
			got := &appsv1.Deployment{}
			if err := c.Get(context.Background(), client.ObjectKeyFromObject(obj), got); err != nil {
				t.Fatal(err)
			}
			want := running
			if tc.changed {
				want = tc.ref
			}
			if img := got.Spec.Template.Spec.Containers[0].Image; img != want {
				t.Errorf("the workload runs %s, want %s", img, want)
			}
		})
	}
}
