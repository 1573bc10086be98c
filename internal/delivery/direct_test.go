package delivery

import (
	"context"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/workload"
)

// TestDeliveredComparesByDigest pins the docs' promise: a Promotion of the
// digest the workload runs ends AlreadyAtImage, whatever tag names it.
func TestDeliveredComparesByDigest(t *testing.T) {
	const x = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	const y = "sha256:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
	cases := []struct {
		name, running, want string
		delivered           bool
	}{
		{"the same digest under another tag", "registry.example.com/web:1.3.0@" + x, "registry.example.com/web:1.3.1@" + x, true},
		{"the pinned form of the running image", "registry.example.com/web:1.3.0@" + x, "registry.example.com/web@" + x, true},
		{"the same tag with another digest", "registry.example.com/web:1.3.0@" + x, "registry.example.com/web:1.3.0@" + y, false},
		{"another tag", "registry.example.com/web:1.3.0", "registry.example.com/web:1.3.1", false},
		{"the Docker Hub spelling of the same tag", "nginx:1.27", "docker.io/library/nginx:1.27", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := runtime.NewScheme()
			if err := scheme.AddToScheme(s); err != nil {
				t.Fatal(err)
			}
			if err := batonv1alpha1.AddToScheme(s); err != nil {
				t.Fatal(err)
			}
			c := fake.NewClientBuilder().WithScheme(s).WithIndex(&batonv1alpha1.Environment{}, workload.IndexField, func(o client.Object) []string {
				return workload.IndexKeys(o.(*batonv1alpha1.Environment))
			}).WithObjects(&appsv1.Deployment{
				ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"},
				Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
					Containers: []corev1.Container{{Name: "web", Image: tc.running}}}}},
			}).Build()
			d := &Direct{Workloads: workload.NewLocal(c, c)}
			env := &batonv1alpha1.Environment{
				ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "production"},
				Spec: batonv1alpha1.EnvironmentSpec{
					Workload: &batonv1alpha1.WorkloadReference{Kind: batonv1alpha1.WorkloadKindDeployment, Name: "web", Container: "web"},
					Delivery: batonv1alpha1.Delivery{Direct: &batonv1alpha1.DirectDelivery{}},
				},
			}
			_, done, err := d.Delivered(context.Background(), Request{Environment: env, Image: tc.want})
			if err != nil {
				t.Fatal(err)
			}
			if done != tc.delivered {
				t.Errorf("workload runs %s: Delivered(%s) = %v, want %v", tc.running, tc.want, done, tc.delivered)
			}
		})
	}
}
