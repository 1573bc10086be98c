package identity

import (
	"fmt"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
)

// ApprovalState is the approval gate for the Promotion engine. It counts the
// distinct people who approved the Promotion's resolved image (status.image,
// and status.digest: an approval recorded for other bytes, or before the
// digest was known, does not count),
// leaving out the requester unless the Environment allows self-approval, and
// compares that with the Environment's approval.required. A rollback skips
// the gate unless approval.requireForRollback is set.
//
// It trusts spec.approvals, so call it only for a Promotion whose admission
// marker verifies.
func ApprovalState(env *batonv1alpha1.Environment, promo *batonv1alpha1.Promotion) (approved bool, have, need int, message string) {
	policy := env.Spec.Approval
	need = int(policy.Required)
	if promo.Spec.Rollback != nil && !policy.RequireForRollback {
		return true, 0, 0, fmt.Sprintf("rollbacks into Environment %q need no approval (approval.requireForRollback is not set)", env.Name)
	}
	if need <= 0 {
		return true, 0, 0, fmt.Sprintf("Environment %q requires no approval", env.Name)
	}
	image := promo.Status.Image
	if image == "" {
		return false, 0, need, fmt.Sprintf("waiting for the image to be resolved; then %d approval(s) are needed", need)
	}
	seen := map[string]bool{}
	for _, a := range promo.Spec.Approvals {
		if a.Image != image || a.Digest != promo.Status.Digest || a.Username == "" || seen[a.Username] {
			continue
		}
		if !policy.AllowSelfApproval && promo.Spec.RequestedBy != nil && a.Username == promo.Spec.RequestedBy.Username {
			continue
		}
		seen[a.Username] = true
	}
	if o := promo.Spec.OverriddenBy; o != nil && promo.Spec.Override != nil && env.Spec.Override.CountsAsApproval &&
		(policy.AllowSelfApproval || promo.Spec.RequestedBy == nil || o.Username != promo.Spec.RequestedBy.Username) {
		// The Environment lets the overrider's break-glass stand for one
		// approval (override.countsAsApproval).
		seen[o.Username] = true
	}
	have = len(seen)
	if have >= need {
		return true, have, need, fmt.Sprintf("approved by %d of %d required approver(s) for %s", have, need, image)
	}
	return false, have, need, fmt.Sprintf(
		"%d of %d approval(s) for %s; %d more needed from someone granted the %q verb on environments/%s (kubectl patch promotion %s --type=json -p '[{\"op\":\"add\",\"path\":\"/spec/approvals\",\"value\":[{}]}]')",
		have, need, image, need-have, VerbApprove, env.Name, promo.Name)
}
