package identity_test

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/identity"
)

// A break-glass override counts as one approval only where the Environment
// says so, and never as the requester's own unless self-approval is allowed.
func TestOverrideCountsAsApproval(t *testing.T) {
	const img = "registry.example.com/web:2"
	tests := []struct {
		name           string
		counts, selfOK bool
		requester, by  string
		approved       bool
		have           int
	}{
		{name: "not by default", by: "oncall", requester: "alice"},
		{name: "counts when the Environment says so", counts: true, by: "oncall", requester: "alice", approved: true, have: 1},
		{name: "not the requester's own override", counts: true, by: "alice", requester: "alice"},
		{name: "the requester's own, with allowSelfApproval", counts: true, selfOK: true, by: "alice", requester: "alice", approved: true, have: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := &batonv1alpha1.Environment{ObjectMeta: metav1.ObjectMeta{Name: "production"}}
			env.Spec.Approval = batonv1alpha1.ApprovalPolicy{Required: 1, AllowSelfApproval: tc.selfOK}
			env.Spec.Override.CountsAsApproval = tc.counts
			p := &batonv1alpha1.Promotion{Spec: batonv1alpha1.PromotionSpec{
				RequestedBy:  &batonv1alpha1.UserInfo{Username: tc.requester},
				Override:     &batonv1alpha1.OverrideSpec{Reason: "INC-4711"},
				OverriddenBy: &batonv1alpha1.UserInfo{Username: tc.by},
			}}
			p.Status.Image = img
			approved, have, _, msg := identity.ApprovalState(env, p)
			if approved != tc.approved || have != tc.have {
				t.Fatalf("ApprovalState = %v, %d (%s), want %v, %d", approved, have, msg, tc.approved, tc.have)
			}
		})
	}
}
