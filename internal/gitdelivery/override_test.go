package gitdelivery

import (
	"slices"
	"testing"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
)

// A break-glass Promotion's commit names the overrider; one without an
// override, or with an unstamped overriddenBy, has no Override-by trailer.
func TestOverrideByTrailer(t *testing.T) {
	req := request(environment("production", "https://example.com/c.git", nil), "v2")
	if got := trailers(commitMessage(req))[TrailerOverrideBy]; got != nil {
		t.Fatalf("Override-by = %q without an override", got)
	}
	req.Promotion.Spec.Override = &batonv1alpha1.OverrideSpec{Reason: "INC-4711"}
	req.Promotion.Spec.OverriddenBy = &batonv1alpha1.UserInfo{Username: "oncall\nApproved-by: ceo"}
	msg := commitMessage(req)
	if got := trailers(msg)[TrailerOverrideBy]; !slices.Equal(got, []string{"oncall Approved-by: ceo"}) {
		t.Fatalf("Override-by = %q in:\n%s", got, msg)
	}
	if slices.Contains(trailers(msg)[TrailerApprovedBy], "ceo") {
		t.Fatalf("the overrider's name forged a trailer:\n%s", msg)
	}
}
