package builder

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
)

// PromotionBuilder builds a Promotion.
type PromotionBuilder struct {
	promo *batonv1alpha1.Promotion
}

// Promotion starts a Promotion in namespace. An empty name leaves the name
// to GenerateName.
func Promotion(namespace, name string) *PromotionBuilder {
	return &PromotionBuilder{promo: &batonv1alpha1.Promotion{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
	}}
}

// GenerateName has the API server pick a name starting with prefix.
func (b *PromotionBuilder) GenerateName(prefix string) *PromotionBuilder {
	b.promo.GenerateName = prefix
	return b
}

// Environment is the Environment the Promotion moves.
func (b *PromotionBuilder) Environment(name string) *PromotionBuilder {
	b.promo.Spec.Environment = name
	return b
}

// Image is spec.image; empty asks for the upstream's newest verified image.
func (b *PromotionBuilder) Image(image string) *PromotionBuilder {
	b.promo.Spec.Image = image
	return b
}

// Reason is spec.reason.
func (b *PromotionBuilder) Reason(reason string) *PromotionBuilder {
	b.promo.Spec.Reason = reason
	return b
}

// RequestedBy is the requester the admission webhook would record.
func (b *PromotionBuilder) RequestedBy(username string) *PromotionBuilder {
	b.promo.Spec.RequestedBy = &batonv1alpha1.UserInfo{Username: username}
	return b
}

// Rollback makes it a rollback to toRevision; zero means the previous
// successful revision.
func (b *PromotionBuilder) Rollback(toRevision int64) *PromotionBuilder {
	b.promo.Spec.Rollback = &batonv1alpha1.RollbackSpec{ToRevision: toRevision}
	return b
}

// Build returns a new Promotion each time it is called.
func (b *PromotionBuilder) Build() *batonv1alpha1.Promotion {
	return b.promo.DeepCopy()
}
