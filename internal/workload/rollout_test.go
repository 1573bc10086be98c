package workload

import (
	"errors"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

func deployment(mutate func(*appsv1.Deployment)) *appsv1.Deployment {
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", Generation: 2,
			Annotations:   map[string]string{"keep": "me", lastAppliedAnnotation: `{"big":"blob"}`},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationApply}}},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](3),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType},
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{
				{Name: "web", Image: "registry.example.com/web:1.0", Env: []corev1.EnvVar{{Name: "A", Value: "b"}}},
				{Name: "sidecar", Image: "registry.example.com/proxy:2"},
			}}},
		},
		Status: appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 3, UpdatedReplicas: 3, ReadyReplicas: 3, AvailableReplicas: 3,
			Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: "NewReplicaSetAvailable"}}},
	}
	if mutate != nil {
		mutate(d)
	}
	return d
}

func statefulSet(mutate func(*appsv1.StatefulSet)) *appsv1.StatefulSet {
	s := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "shop", Generation: 1},
		Spec: appsv1.StatefulSetSpec{
			Replicas: ptr.To[int32](2),
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr.To[int32](0)}},
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "db", Image: "db:1"}}}},
		},
		Status: appsv1.StatefulSetStatus{ObservedGeneration: 1, Replicas: 2, ReadyReplicas: 2, UpdatedReplicas: 2, CurrentRevision: "r1", UpdateRevision: "r1"},
	}
	if mutate != nil {
		mutate(s)
	}
	return s
}

func daemonSet(mutate func(*appsv1.DaemonSet)) *appsv1.DaemonSet {
	d := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "shop", Generation: 4},
		Spec: appsv1.DaemonSetSpec{
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType},
			Template:       corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "agent", Image: "agent:4"}}}},
		},
		Status: appsv1.DaemonSetStatus{ObservedGeneration: 4, DesiredNumberScheduled: 3, UpdatedNumberScheduled: 3, NumberAvailable: 3},
	}
	if mutate != nil {
		mutate(d)
	}
	return d
}

func TestAssessRollout(t *testing.T) {
	tests := []struct {
		name        string
		obj         client.Object
		wantPhase   Phase
		wantMessage string
	}{
		{"deployment complete", deployment(nil), PhaseComplete, `deployment "web" successfully rolled out`},
		{"deployment spec not observed yet", deployment(func(d *appsv1.Deployment) { d.Generation = 3 }), PhaseProgressing, "spec update to be observed"},
		{"deployment replicas not updated", deployment(func(d *appsv1.Deployment) { d.Status.UpdatedReplicas = 1 }), PhaseProgressing, "1 out of 3 new replicas"},
		{"deployment old replicas pending termination", deployment(func(d *appsv1.Deployment) { d.Status.Replicas = 4 }), PhaseProgressing, "1 old replicas are pending termination"},
		{"deployment updated replicas not available", deployment(func(d *appsv1.Deployment) { d.Status.AvailableReplicas = 2 }), PhaseProgressing, "2 of 3 updated replicas are available"},
		{"deployment progress deadline exceeded", deployment(func(d *appsv1.Deployment) {
			d.Status.UpdatedReplicas = 1
			d.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse,
				Reason: "ProgressDeadlineExceeded", Message: `ReplicaSet "web-7d4" has timed out progressing.`}}
		}), PhaseFailed, `ReplicaSet "web-7d4" has timed out progressing.`},
		{"deployment rolled back to an available ReplicaSet, with the old deadline condition still there", deployment(func(d *appsv1.Deployment) {
			d.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse,
				Reason: "ProgressDeadlineExceeded", Message: `ReplicaSet "web-bad" has timed out progressing.`}}
		}), PhaseComplete, `deployment "web" successfully rolled out`},
		{"deployment past its deadline with old replicas left", deployment(func(d *appsv1.Deployment) {
			d.Status.Replicas = 4
			d.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse,
				Reason: "ProgressDeadlineExceeded", Message: `ReplicaSet "web-bad" has timed out progressing.`}}
		}), PhaseFailed, "timed out progressing"},
		{"statefulset complete", statefulSet(nil), PhaseComplete, "partitioned roll out complete"},
		{"statefulset pods not ready", statefulSet(func(s *appsv1.StatefulSet) { s.Status.ReadyReplicas = 1 }), PhaseProgressing, "Waiting for 1 pods to be ready"},
		{"statefulset spec not observed", statefulSet(func(s *appsv1.StatefulSet) { s.Generation = 2 }), PhaseProgressing, "spec update to be observed"},
		{"statefulset on delete", statefulSet(func(s *appsv1.StatefulSet) {
			s.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
		}), PhaseUnsupported, "only available for RollingUpdate"},
		{"daemonset complete", daemonSet(nil), PhaseComplete, `daemon set "agent" successfully rolled out`},
		{"daemonset pods not updated", daemonSet(func(d *appsv1.DaemonSet) { d.Status.UpdatedNumberScheduled = 2 }), PhaseProgressing, "2 out of 3 new pods"},
		{"daemonset pods not available", daemonSet(func(d *appsv1.DaemonSet) { d.Status.NumberAvailable = 0 }), PhaseProgressing, "0 of 3 updated pods are available"},
		{"daemonset on delete", daemonSet(func(d *appsv1.DaemonSet) {
			d.Spec.UpdateStrategy.Type = appsv1.OnDeleteDaemonSetStrategyType
		}), PhaseUnsupported, "only available for RollingUpdate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := AssessRollout(tt.obj)
			if err != nil {
				t.Fatalf("AssessRollout: %v", err)
			}
			if got.Phase != tt.wantPhase || !strings.Contains(got.Message, tt.wantMessage) {
				t.Errorf("got %s %q, want %s containing %q", got.Phase, got.Message, tt.wantPhase, tt.wantMessage)
			}
			// The cache holds the transformed object: it must be judged the same.
			slim, err := Transform(tt.obj)
			if err != nil {
				t.Fatalf("Transform: %v", err)
			}
			gotSlim, err := AssessRollout(slim.(client.Object))
			if err != nil || gotSlim != got {
				t.Errorf("after the cache transform: got %+v, %v; want %+v", gotSlim, err, got)
			}
		})
	}
}

func TestContainerImage(t *testing.T) {
	tests := []struct {
		name      string
		container string
		want      string
		wantErr   string
	}{
		{"first container", "web", "registry.example.com/web:1.0", ""},
		{"second container", "sidecar", "registry.example.com/proxy:2", ""},
		{"missing container", "api", "", `Deployment shop/web has no container "api" (it has: web, sidecar)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := containerImage(deployment(nil), tt.container)
			if tt.wantErr != "" {
				if !errors.Is(err, errContainerNotFound) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want errContainerNotFound saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestTransform(t *testing.T) {
	out, err := Transform(deployment(nil))
	if err != nil {
		t.Fatal(err)
	}
	d := out.(*appsv1.Deployment)
	if d.ManagedFields != nil {
		t.Errorf("managedFields kept: %v", d.ManagedFields)
	}
	if _, ok := d.Annotations[lastAppliedAnnotation]; ok || d.Annotations["keep"] != "me" {
		t.Errorf("annotations = %v, want only keep=me", d.Annotations)
	}
	if d.Spec.Template.Spec.Containers[0].Env != nil {
		t.Errorf("fields Baton never reads were kept: env %v", d.Spec.Template.Spec.Containers[0].Env)
	}
	// Running finds the Pods by the selector.
	if d.Spec.Selector == nil || d.Spec.Selector.MatchLabels["app"] != "web" {
		t.Errorf("the selector was lost: %v", d.Spec.Selector)
	}
	if d.Name != "web" || d.Generation != 2 || *d.Spec.Replicas != 3 || d.Spec.Template.Spec.Containers[1].Image != "registry.example.com/proxy:2" || d.Status.AvailableReplicas != 3 {
		t.Errorf("fields Baton reads were lost: %+v", d)
	}
	again, err := Transform(d)
	if err != nil || !reflectEqual(again, d) {
		t.Errorf("the transform is not idempotent")
	}
	other := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x", ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "m"}}}}
	if got, _ := Transform(other); got != any(other) || len(other.ManagedFields) != 1 {
		t.Errorf("an object that is not a workload was changed")
	}
}

func reflectEqual(a, b any) bool { return equality.Semantic.DeepEqual(a, b) }
