package v1alpha1_test

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
)

// conditioned is what generic condition helpers expect of a kind.
type conditioned interface {
	GetConditions() []metav1.Condition
	SetConditions([]metav1.Condition)
}

func TestConditionAccessorsUseStatusConditions(t *testing.T) {
	environment := &batonv1alpha1.Environment{}
	promotion := &batonv1alpha1.Promotion{}
	for name, c := range map[string]struct {
		obj    conditioned
		status func() []metav1.Condition
	}{
		"Environment": {environment, func() []metav1.Condition { return environment.Status.Conditions }},
		"Promotion":   {promotion, func() []metav1.Condition { return promotion.Status.Conditions }},
	} {
		t.Run(name, func(t *testing.T) {
			conditions := c.obj.GetConditions()
			meta.SetStatusCondition(&conditions, metav1.Condition{Type: batonv1alpha1.ReadyCondition, Status: metav1.ConditionTrue, Reason: "Test"})
			c.obj.SetConditions(conditions)

			if !meta.IsStatusConditionTrue(c.status(), batonv1alpha1.ReadyCondition) {
				t.Fatalf("SetConditions did not write status.conditions: %v", c.status())
			}
			if got := c.obj.GetConditions(); len(got) != 1 || got[0].Reason != "Test" {
				t.Fatalf("GetConditions = %v, want the condition just set", got)
			}
		})
	}
}
