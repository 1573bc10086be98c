package promote

import (
	"strings"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
)

// IsAutoRollback reports whether p is a rollback the manager (ControllerUser,
// or self as the API server knows it) created after a failure, rather than
// one a person asked for. The reason it checks is sealed by the admission
// marker.
func IsAutoRollback(p *batonv1alpha1.Promotion, self string) bool {
	requester := userOf(p.Spec.RequestedBy)
	byManager := requester == ControllerUser || (self != "" && requester == self)
	return IsRollback(p) && byManager && strings.HasPrefix(p.Spec.Reason, autoRollbackTag(&batonv1alpha1.Promotion{}))
}
