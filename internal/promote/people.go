package promote

import (
	"slices"
	"strings"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
)

// ControllerUser is the requester recorded on the Promotions Baton creates
// itself (automatic rollbacks, autoPromote, merges to main) where no
// admission webhook stamps the manager's own identity over it.
const ControllerUser = "system:baton-controller"

// ApprovedBy lists the distinct users who approved the resolved image.
func ApprovedBy(p *batonv1alpha1.Promotion) []string {
	var users []string
	for _, a := range p.Spec.Approvals {
		if a.Image == p.Status.Image && !slices.Contains(users, a.Username) {
			users = append(users, a.Username)
		}
	}
	return users
}

// RequestedBy is the admitted requester, or "unknown".
func RequestedBy(p *batonv1alpha1.Promotion) string { return userOf(p.Spec.RequestedBy) }

func userOf(u *batonv1alpha1.UserInfo) string {
	if u == nil {
		return "unknown"
	}
	return u.Username
}

// overriddenBy is who overrode the guardrails for p, or "".
func overriddenBy(p *batonv1alpha1.Promotion) string {
	if !Overrides(p) {
		return ""
	}
	return p.Spec.OverriddenBy.Username
}

func overrideReason(p *batonv1alpha1.Promotion) string {
	if !Overrides(p) {
		return ""
	}
	return Truncate(p.Spec.Override.Reason, 1024)
}

// OrNobody joins names, or says "nobody".
func OrNobody(s []string) string {
	if len(s) == 0 || (len(s) == 1 && s[0] == "") {
		return "nobody"
	}
	return strings.Join(s, ", ")
}

// Truncate cuts s to at most n bytes, marking the cut.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}
