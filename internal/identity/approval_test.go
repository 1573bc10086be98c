package identity_test

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/identity"
)

func TestApprovalState(t *testing.T) {
	const img, other = "registry.example.com/web:2", "registry.example.com/web:1"
	const digest, repushed = "sha256:1111111111111111111111111111111111111111111111111111111111111111", "sha256:2222222222222222222222222222222222222222222222222222222222222222"
	of := func(a batonv1alpha1.Approval, digest string) batonv1alpha1.Approval { a.Digest = digest; return a }
	by := func(user, image string) batonv1alpha1.Approval {
		return batonv1alpha1.Approval{UserInfo: batonv1alpha1.UserInfo{Username: user}, Image: image, ApprovedAt: metav1.Now()}
	}
	tests := []struct {
		name      string
		policy    batonv1alpha1.ApprovalPolicy
		rollback  bool
		image     string
		digest    string
		approvals []batonv1alpha1.Approval
		approved  bool
		have      int
		need      int
		message   string
	}{
		{name: "no approval required", image: img, approved: true, message: "requires no approval"},
		{name: "none yet", policy: batonv1alpha1.ApprovalPolicy{Required: 1}, image: img, need: 1, message: `1 more needed from someone granted the "approve" verb on environments/production`},
		{name: "image not resolved", policy: batonv1alpha1.ApprovalPolicy{Required: 1}, approvals: []batonv1alpha1.Approval{by("bob", img)}, need: 1, message: "waiting for the image to be resolved"},
		{name: "one of one", policy: batonv1alpha1.ApprovalPolicy{Required: 1}, image: img, approvals: []batonv1alpha1.Approval{by("bob", img)}, approved: true, have: 1, need: 1, message: "approved by 1 of 1"},
		{name: "one of two", policy: batonv1alpha1.ApprovalPolicy{Required: 2}, image: img, approvals: []batonv1alpha1.Approval{by("bob", img)}, have: 1, need: 2, message: "1 of 2 approval(s) for " + img + "; 1 more needed"},
		{name: "the same person twice counts once", policy: batonv1alpha1.ApprovalPolicy{Required: 2}, image: img, approvals: []batonv1alpha1.Approval{by("bob", img), by("bob", img)}, have: 1, need: 2, message: "1 more needed"},
		{name: "two distinct", policy: batonv1alpha1.ApprovalPolicy{Required: 2}, image: img, approvals: []batonv1alpha1.Approval{by("bob", img), by("dave", img)}, approved: true, have: 2, need: 2, message: "approved by 2 of 2"},
		{name: "an approval for another image does not count", policy: batonv1alpha1.ApprovalPolicy{Required: 1}, image: img, approvals: []batonv1alpha1.Approval{by("bob", other)}, need: 1, message: "0 of 1"},
		{name: "an approval of the same digest counts", policy: batonv1alpha1.ApprovalPolicy{Required: 1}, image: img, digest: digest, approvals: []batonv1alpha1.Approval{of(by("bob", img), digest)}, approved: true, have: 1, need: 1, message: "approved by 1 of 1"},
		{name: "an approval of other bytes under the same tag does not count", policy: batonv1alpha1.ApprovalPolicy{Required: 1}, image: img, digest: digest, approvals: []batonv1alpha1.Approval{of(by("bob", img), repushed)}, need: 1, message: "0 of 1"},
		{name: "an approval given before the digest was known does not count for it", policy: batonv1alpha1.ApprovalPolicy{Required: 1}, image: img, digest: digest, approvals: []batonv1alpha1.Approval{by("bob", img)}, need: 1, message: "0 of 1"},
		{name: "self-approval does not count", policy: batonv1alpha1.ApprovalPolicy{Required: 1}, image: img, approvals: []batonv1alpha1.Approval{by("alice", img)}, need: 1, message: "0 of 1"},
		{name: "self-approval counts when allowed", policy: batonv1alpha1.ApprovalPolicy{Required: 1, AllowSelfApproval: true}, image: img, approvals: []batonv1alpha1.Approval{by("alice", img)}, approved: true, have: 1, need: 1, message: "approved by 1 of 1"},
		{name: "a rollback skips the gate", policy: batonv1alpha1.ApprovalPolicy{Required: 2}, rollback: true, image: img, approved: true, message: "need no approval"},
		{name: "a rollback waits when requireForRollback", policy: batonv1alpha1.ApprovalPolicy{Required: 1, RequireForRollback: true}, rollback: true, image: img, need: 1, message: "1 more needed"},
		{name: "requireForRollback with an approval", policy: batonv1alpha1.ApprovalPolicy{Required: 1, RequireForRollback: true}, rollback: true, image: img, approvals: []batonv1alpha1.Approval{by("bob", img)}, approved: true, have: 1, need: 1, message: "approved by 1 of 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := &batonv1alpha1.Environment{ObjectMeta: metav1.ObjectMeta{Name: "production"}}
			env.Spec.Approval = tt.policy
			promo := &batonv1alpha1.Promotion{ObjectMeta: metav1.ObjectMeta{Name: "p"}}
			promo.Spec.Environment = "production"
			promo.Spec.RequestedBy = &batonv1alpha1.UserInfo{Username: "alice"}
			promo.Spec.Approvals = tt.approvals
			promo.Status.Image, promo.Status.Digest = tt.image, tt.digest
			if tt.rollback {
				promo.Spec.Rollback = &batonv1alpha1.RollbackSpec{}
			}
			approved, have, need, message := identity.ApprovalState(env, promo)
			if approved != tt.approved || have != tt.have || need != tt.need {
				t.Errorf("ApprovalState = (%v, %d, %d), want (%v, %d, %d); message %q", approved, have, need, tt.approved, tt.have, tt.need, message)
			}
			if !strings.Contains(message, tt.message) {
				t.Errorf("message %q does not contain %q", message, tt.message)
			}
		})
	}
}
