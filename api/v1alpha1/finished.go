package v1alpha1

import (
	"crypto/sha256"
	"encoding/hex"

	"k8s.io/apimachinery/pkg/util/validation"
)

// FinishedLabel is set by Baton's manager, in the write that removes its
// finalizer, on a Promotion that has reached a terminal phase. Its value
// names the Environment (FinishedLabelValue). The manager's caches select
// only Promotions without it, so the past Promotions of a namespace cost the
// manager no memory and no start-up reads, and retention lists one
// Environment's finished Promotions by it. The admission webhook lets only
// the manager add or remove it.
const FinishedLabel = "promotion.baton.dev/finished-in"

// FinishedLabelValue is FinishedLabel's value for an Environment: its name
// when that is a valid label value, otherwise a hash of it (an Environment's
// name may be up to 253 characters and hold dots; a label value is at most
// 63). Readers compare spec.environment too: a hash can collide.
func FinishedLabelValue(environment string) string {
	if len(validation.IsValidLabelValue(environment)) == 0 {
		return environment
	}
	sum := sha256.Sum256([]byte(environment))
	return "sha256-" + hex.EncodeToString(sum[:])[:40]
}

// IsFinishedLabelled tells whether the manager has set FinishedLabel.
func (p *Promotion) IsFinishedLabelled() bool {
	_, ok := p.Labels[FinishedLabel]
	return ok
}
