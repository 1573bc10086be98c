package promote

import (
	"testing"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
)

// TestSourceCommit: the commit of spec.source's Promotions comes from the
// annotation only the manager may write, whoever the API server says the
// manager is.
func TestSourceCommit(t *testing.T) {
	const sha = "4874609e81bde1071bac6f0d94a0e8822ccf9049"
	promo := func(by string, annotated, rollback bool) *batonv1alpha1.Promotion {
		p := &batonv1alpha1.Promotion{}
		p.Spec.RequestedBy = &batonv1alpha1.UserInfo{Username: by}
		if annotated {
			p.Annotations = map[string]string{batonv1alpha1.SourceCommitAnnotation: sha}
		}
		if rollback {
			p.Spec.Rollback = &batonv1alpha1.RollbackSpec{}
		}
		return p
	}
	for _, tc := range []struct {
		name string
		p    *batonv1alpha1.Promotion
		want string
	}{
		{"created without the webhook", promo(ControllerUser, true, false), sha},
		// The webhook stamps the manager's own user as the requester.
		{"created behind the webhook", promo("system:serviceaccount:baton-system:baton-controller-manager", true, false), sha},
		{"a person's Promotion has none", promo("alice", false, false), ""},
		{"a rollback is not the commit's deploy", promo(ControllerUser, true, true), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := SourceCommit(tc.p); got != tc.want {
				t.Fatalf("SourceCommit = %q, want %q", got, tc.want)
			}
		})
	}
}
