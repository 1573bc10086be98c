package promote

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/outcome"
)

// TestRecheckRefusesAClaimedWorkload: an Environment stalled because
// another one owns its workload (or it lists one twice) delivers nothing,
// in git mode too, where no workload read would stop it. The attack is a
// second Environment pointed at production's Deployment with a repository
// of its own.
func TestRecheckRefusesAClaimedWorkload(t *testing.T) {
	for _, reason := range []string{batonv1alpha1.WorkloadClaimedReason, batonv1alpha1.WorkloadListedTwiceReason} {
		env := &batonv1alpha1.Environment{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "mallory"}}
		env.Status.Conditions = []metav1.Condition{{Type: batonv1alpha1.StalledCondition, Status: metav1.ConditionTrue,
			Reason: reason, Message: "Deployment shop/web already belongs to Environment shop/production"}}
		forward := &batonv1alpha1.Promotion{Spec: batonv1alpha1.PromotionSpec{Environment: "mallory", Image: "registry.example.com/web:2"}}
		forward.Status.Image = "registry.example.com/web:2"
		rollback := &batonv1alpha1.Promotion{Spec: batonv1alpha1.PromotionSpec{Environment: "mallory", Rollback: &batonv1alpha1.RollbackSpec{}}}
		for name, p := range map[string]*batonv1alpha1.Promotion{"forward": forward, "rollback": rollback} {
			s, ok := outcome.AsStalled(Recheck(p, env, nil))
			if !ok || s.Reason != reason {
				t.Errorf("%s, %s: Recheck = %v, want Stalled %s", reason, name, s, reason)
			}
		}
		// Without the condition the forward Promotion is fine: the check is
		// what refuses it.
		env.Status.Conditions = nil
		if err := Recheck(forward, env, nil); err != nil {
			t.Errorf("%s: without the condition, Recheck = %v, want nil", reason, err)
		}
	}
}
