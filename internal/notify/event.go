package notify

import (
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/promote"
)

// EventOf is the phase change of promo from the phase it had, at now: the
// same facts the audit line records.
func EventOf(promo *batonv1alpha1.Promotion, from batonv1alpha1.PromotionPhase, now time.Time) Event {
	ev := Event{
		Version:     PayloadVersion,
		Namespace:   promo.Namespace,
		Environment: promo.Spec.Environment,
		Promotion:   promo.Name,
		UID:         string(promo.UID),
		Kind:        "promote",
		FromPhase:   string(from),
		Phase:       string(promo.Status.Phase),
		Image:       promo.Status.Image,
		FromImage:   promo.Status.PreviousImage,
		Revision:    promo.Status.Revision,
		Commit:      promo.Status.Commit,
		CommitURL:   promo.Status.CommitURL,
		ApprovedBy:  promote.ApprovedBy(promo),
		Time:        now.UTC(),
	}
	if promote.IsRollback(promo) {
		ev.Kind = "rollback"
	}
	if promo.Spec.RequestedBy != nil {
		ev.RequestedBy = promo.Spec.RequestedBy.Username
	}
	if c := apimeta.FindStatusCondition(promo.Status.Conditions, batonv1alpha1.ReadyCondition); c != nil {
		ev.Reason, ev.Message = c.Reason, c.Message
	}
	return ev
}
