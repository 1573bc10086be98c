package promote

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
)

// TestDecidePodDigest: a Promotion that froze a digest but delivers the tag
// (delivery.pinDigest false) is judged by the bytes its Pods run, as the
// Environment reports them in status.current.digest.
func TestDecidePodDigest(t *testing.T) {
	frozen := "sha256:" + strings.Repeat("a", 64)
	repushed := "sha256:" + strings.Repeat("b", 64)
	p := promotion("p", batonv1alpha1.PromotionRollingOut, rollingOut, func(p *batonv1alpha1.Promotion) { p.Status.Digest = frozen })
	podsRun := func(digest string) func(*batonv1alpha1.Environment) {
		return func(e *batonv1alpha1.Environment) { e.Status.Current.Digest = digest }
	}
	already := promotion("p", batonv1alpha1.PromotionPromoting, func(p *batonv1alpha1.Promotion) {
		p.Status.Digest, p.Status.PreviousImage, p.Status.Revision = frozen, web2, 2
	})
	ready := runs(web2, metav1.ConditionTrue, "Healthy")
	disagree := func(e *batonv1alpha1.Environment) {
		e.Status.Conditions = append(e.Status.Conditions, metav1.Condition{Type: batonv1alpha1.DriftedCondition, Status: metav1.ConditionTrue,
			Reason: batonv1alpha1.DigestsDisagreeReason, Message: "the ready Pods of the current revision run " + frozen + " (Pod a) and " + repushed + " (Pod b)"})
	}
	cases := []decideCase{
		{"succeeds once the Pods report the frozen digest", Input{Promotion: p, Environment: production(leasedTo(p), ready, podsRun(frozen))},
			want{phase: batonv1alpha1.PromotionSucceeded, reason: batonv1alpha1.SucceededReason, finished: true, envWritten: true}},
		{"fails DigestMismatch when the Pods run other bytes, naming both", Input{Promotion: p, Environment: production(leasedTo(p), ready, podsRun(repushed))},
			want{phase: batonv1alpha1.PromotionFailed, reason: batonv1alpha1.DigestMismatchReason, mentions: []string{repushed, frozen, "pushed again", "delivery.pinDigest"}, finished: true, envWritten: true}},
		{"fails DigestMismatch when the Pods disagree", Input{Promotion: p, Environment: production(leasedTo(p), ready, disagree)},
			want{phase: batonv1alpha1.PromotionFailed, reason: batonv1alpha1.DigestMismatchReason, mentions: []string{"(Pod b)", "not all as " + frozen}, finished: true, envWritten: true}},
		{"rolls back a mismatch with autoRollback", Input{Promotion: p, Environment: production(leasedTo(p), ready, podsRun(repushed), func(e *batonv1alpha1.Environment) { e.Spec.Rollout.AutoRollback = true })},
			want{phase: batonv1alpha1.PromotionRollingOut, action: CreateRollback}},
		{"waits while the Pods have not reported a digest", Input{Promotion: p, Environment: production(leasedTo(p), ready)},
			want{phase: batonv1alpha1.PromotionRollingOut}},
		{"times out when the Pods never report one, and says so", Input{Promotion: promotion("p", batonv1alpha1.PromotionRollingOut, rollingOut, func(p *batonv1alpha1.Promotion) {
			p.Status.Digest, p.Status.DeliveredAt = frozen, at(-11*time.Minute)
		}), Environment: production(leasedTo(p), ready)},
			want{phase: batonv1alpha1.PromotionFailed, reason: batonv1alpha1.RolloutTimeoutReason, mentions: []string{"never reported the digest", "imageID", frozen}, finished: true, envWritten: true}},
		{"pinDigest delivers the digest itself: the reference decides", Input{Promotion: p, Environment: production(leasedTo(p), func(e *batonv1alpha1.Environment) {
			e.Spec.Delivery.PinDigest = true
			e.Status.Current = &batonv1alpha1.CurrentImage{Image: "reg.example.com/web@" + frozen, Digest: frozen, Revision: 2}
			e.Status.Conditions = []metav1.Condition{{Type: batonv1alpha1.ReadyCondition, Status: metav1.ConditionTrue, Reason: "Healthy", ObservedGeneration: 1}}
		})}, want{phase: batonv1alpha1.PromotionSucceeded, finished: true, envWritten: true}},
		{"a tag that already ran here is not AlreadyAtImage: the Pods must show the bytes", Input{Promotion: already, Environment: production(leasedTo(already), ready, podsRun(repushed)), Delivery: &DeliveryOutcome{Found: true}},
			want{phase: batonv1alpha1.PromotionRollingOut, reason: batonv1alpha1.RolloutInProgressReason}},
		{"without a frozen digest, the tag is judged as before", Input{Promotion: promotion("p", batonv1alpha1.PromotionRollingOut, rollingOut), Environment: production(leasedTo(p), ready, podsRun(repushed))},
			want{phase: batonv1alpha1.PromotionSucceeded, finished: true, envWritten: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			in.Now = now
			tc.want.assert(t, Decide(in))
		})
	}
}
