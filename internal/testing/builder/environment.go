package builder

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
)

// EnvironmentBuilder builds an Environment.
type EnvironmentBuilder struct {
	env *batonv1alpha1.Environment
}

// Environment starts an Environment in namespace. It has no workload and no
// delivery until they are set.
func Environment(namespace, name string) *EnvironmentBuilder {
	return &EnvironmentBuilder{env: &batonv1alpha1.Environment{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
	}}
}

// Upstream names the Environment whose verified images may be promoted here.
func (b *EnvironmentBuilder) Upstream(name string) *EnvironmentBuilder {
	b.env.Spec.Upstream = name
	return b
}

// Workload points the Environment at container of a workload of kind in its
// own namespace.
func (b *EnvironmentBuilder) Workload(kind batonv1alpha1.WorkloadKind, name, container string) *EnvironmentBuilder {
	ns := ""
	if b.env.Spec.Workload != nil {
		ns = b.env.Spec.Workload.Namespace
	}
	b.env.Spec.Workload = &batonv1alpha1.WorkloadReference{Kind: kind, Name: name, Namespace: ns, Container: container}
	b.env.Spec.Workloads = nil
	return b
}

// Workloads points the Environment at several workloads (spec.workloads),
// in place of spec.workload.
func (b *EnvironmentBuilder) Workloads(refs ...batonv1alpha1.WorkloadReference) *EnvironmentBuilder {
	b.env.Spec.Workload = nil
	b.env.Spec.Workloads = refs
	return b
}

// Deployment points the Environment at container of Deployment name.
func (b *EnvironmentBuilder) Deployment(name, container string) *EnvironmentBuilder {
	return b.Workload(batonv1alpha1.WorkloadKindDeployment, name, container)
}

// WorkloadNamespace moves the workload to another namespace; the workload
// must then name this Environment in its authorized-environment annotation.
func (b *EnvironmentBuilder) WorkloadNamespace(namespace string) *EnvironmentBuilder {
	if b.env.Spec.Workload == nil {
		b.env.Spec.Workload = &batonv1alpha1.WorkloadReference{}
	}
	b.env.Spec.Workload.Namespace = namespace
	return b
}

// Cluster puts the workloads in the cluster of the kubeconfig in Secret
// secret (spec.cluster).
func (b *EnvironmentBuilder) Cluster(secret string) *EnvironmentBuilder {
	b.env.Spec.Cluster = &batonv1alpha1.ClusterReference{KubeConfig: batonv1alpha1.KubeConfigReference{
		SecretRef: batonv1alpha1.LocalObjectReference{Name: secret}}}
	return b
}

// Direct delivers by patching the workload.
func (b *EnvironmentBuilder) Direct() *EnvironmentBuilder {
	b.env.Spec.Delivery = batonv1alpha1.Delivery{Direct: &batonv1alpha1.DirectDelivery{}}
	return b
}

// Git delivers by committing to a configuration repository.
func (b *EnvironmentBuilder) Git(git *batonv1alpha1.GitDelivery) *EnvironmentBuilder {
	b.env.Spec.Delivery = batonv1alpha1.Delivery{Git: git}
	return b
}

// SoakTime is how long a rollout must stay healthy before it is verified.
// Zero is kept as zero (verified at once), not replaced by the default.
func (b *EnvironmentBuilder) SoakTime(d time.Duration) *EnvironmentBuilder {
	b.env.Spec.Verification.SoakTime = &metav1.Duration{Duration: d}
	return b
}

// Check adds a verification check.
func (b *EnvironmentBuilder) Check(c batonv1alpha1.VerificationCheck) *EnvironmentBuilder {
	b.env.Spec.Verification.Checks = append(b.env.Spec.Verification.Checks, c)
	return b
}

// Watch sets spec.rollout.watch.
func (b *EnvironmentBuilder) Watch(d time.Duration) *EnvironmentBuilder {
	b.env.Spec.Rollout.Watch = &metav1.Duration{Duration: d}
	return b
}

// RolloutTimeout is spec.rollout.timeout.
func (b *EnvironmentBuilder) RolloutTimeout(d time.Duration) *EnvironmentBuilder {
	b.env.Spec.Rollout.Timeout = &metav1.Duration{Duration: d}
	return b
}

// AutoRollback sets spec.rollout.autoRollback.
func (b *EnvironmentBuilder) AutoRollback() *EnvironmentBuilder {
	b.env.Spec.Rollout.AutoRollback = true
	return b
}

// AutoPromote sets spec.autoPromote.
func (b *EnvironmentBuilder) AutoPromote() *EnvironmentBuilder {
	b.env.Spec.AutoPromote = true
	return b
}

// RequiredApprovals is spec.approval.required.
func (b *EnvironmentBuilder) RequiredApprovals(n int32) *EnvironmentBuilder {
	b.env.Spec.Approval.Required = n
	return b
}

// Suspend sets spec.suspend.
func (b *EnvironmentBuilder) Suspend() *EnvironmentBuilder {
	b.env.Spec.Suspend = true
	return b
}

// Build returns a new Environment each time it is called.
func (b *EnvironmentBuilder) Build() *batonv1alpha1.Environment {
	return b.env.DeepCopy()
}
