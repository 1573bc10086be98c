package promote

import (
	"errors"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
)

// The checks run again when the lease is granted and right before delivery
// (issue 18, class 4); a rollback that re-ships says why, and only a
// deliberate re-ship lifts a rejection (class 5); a NotAdmitted Promotion
// leaves the queue (class 10).
func guardCases() []decideCase {
	required := func(n int32) func(*batonv1alpha1.Environment) {
		return func(e *batonv1alpha1.Environment) { e.Spec.Approval.Required = n }
	}
	queued := promotion("p", batonv1alpha1.PromotionQueued)
	bobApproved := promotion("p", batonv1alpha1.PromotionQueued, func(p *batonv1alpha1.Promotion) {
		p.Spec.Approvals = []batonv1alpha1.Approval{{UserInfo: batonv1alpha1.UserInfo{Username: "bob"}, Image: web2}}
	})
	promoting := promotion("p", batonv1alpha1.PromotionPromoting, func(p *batonv1alpha1.Promotion) { p.Status.Revision, p.Status.PreviousImage = 2, web1 })
	rejected := func(img string) func(*batonv1alpha1.Environment) {
		return func(e *batonv1alpha1.Environment) {
			e.Status.RejectedImages = append(e.Status.RejectedImages, batonv1alpha1.RejectedImage{Image: img, Promotion: "undo-1"})
		}
	}
	// ran web2 as revision 2, then was rolled back to web1 as revision 3.
	rolledBack := func(e *batonv1alpha1.Environment) {
		e.Status.History = append(e.Status.History,
			batonv1alpha1.Revision{Revision: 2, Image: web2, Result: batonv1alpha1.RevisionRolledBack},
			batonv1alpha1.Revision{Revision: 3, Image: web1, Result: batonv1alpha1.RevisionSucceeded, Rollback: true})
		e.Status.Current.Revision = 3
		rejected(web2)(e)
	}
	rollbackTo := func(rev int64, img, reason string) *batonv1alpha1.Promotion {
		return promotion("undo", batonv1alpha1.PromotionQueued, func(p *batonv1alpha1.Promotion) {
			p.Spec.Rollback, p.Status.Image, p.Spec.Reason = &batonv1alpha1.RollbackSpec{ToRevision: rev}, img, reason
		})
	}
	noLease := func(t *testing.T, d Decision) {
		t.Helper()
		if d.Environment != nil && d.Environment.ActivePromotion != nil {
			t.Errorf("lease = %+v, want none", d.Environment.ActivePromotion)
		}
	}
	return []decideCase{
		{"a status written to Queued without the approvals goes back to waiting for them", Input{Promotion: queued, Upstream: staging(), Environment: production(required(1))},
			want{phase: batonv1alpha1.PromotionWaitingForApproval, reason: batonv1alpha1.WaitingForApprovalReason, mentions: []string{"0 of 1"}}},
		{"approval policy raised while it waited in the queue: back to waiting, no lease", Input{Promotion: bobApproved, Upstream: staging(), Environment: production(required(2))},
			want{phase: batonv1alpha1.PromotionWaitingForApproval, reason: batonv1alpha1.WaitingForApprovalReason, mentions: []string{"1 of 2"}}},
		{"a status written to Queued with an image the upstream never verified fails", Input{Promotion: promotion("p", batonv1alpha1.PromotionQueued, func(p *batonv1alpha1.Promotion) { p.Status.Image = web3 }),
			Upstream: staging(), Environment: production()},
			want{phase: batonv1alpha1.PromotionFailed, reason: batonv1alpha1.UpstreamNotVerifiedReason, mentions: []string{web3, "not verified"}, finished: true}},
		{"a status.image other than spec.image fails", Input{Promotion: promotion("p", batonv1alpha1.PromotionQueued, func(p *batonv1alpha1.Promotion) { p.Spec.Image, p.Status.Image = web2, web3 }),
			Upstream: verifying(web3), Environment: production()},
			want{phase: batonv1alpha1.PromotionFailed, reason: batonv1alpha1.ImageMismatchReason, mentions: []string{"spec.image " + web2}, finished: true}},
		{"an Environment deleted and created again while it waited: fails, no lease", Input{Promotion: promotion("p", batonv1alpha1.PromotionQueued, func(p *batonv1alpha1.Promotion) { p.Status.EnvironmentUID = "old-uid" }),
			Upstream: staging(), Environment: production(func(e *batonv1alpha1.Environment) { e.UID = "new-uid" })},
			want{phase: batonv1alpha1.PromotionFailed, reason: batonv1alpha1.EnvironmentReplacedReason, mentions: []string{"spec.environment", "created again"}, finished: true}},
		{"the upstream gone while it waited: fails", Input{Promotion: queued, Environment: production()},
			want{phase: batonv1alpha1.PromotionFailed, reason: batonv1alpha1.UpstreamNotFoundReason, finished: true}},
		{"checked again right before delivery: a policy raised under the lease fails it and releases the lease", Input{Promotion: promoting, Upstream: staging(), Environment: production(leasedTo(promoting), required(1))},
			want{phase: batonv1alpha1.PromotionFailed, reason: batonv1alpha1.NotApprovedReason, mentions: []string{"right before delivery"}, finished: true, envWritten: true, check: func(t *testing.T, d Decision) {
				noLease(t, d)
				if d.Environment.History[1].Result != batonv1alpha1.RevisionFailed {
					t.Errorf("entry = %+v, want Failed", d.Environment.History[1])
				}
			}}},
		{"checked again right before delivery: an image no longer verified upstream is not delivered", Input{Promotion: promoting, Upstream: func() *batonv1alpha1.Environment {
			up := verifying(web3)
			up.Status.VerifiedImages = up.Status.VerifiedImages[1:]
			return up
		}(), Environment: production(leasedTo(promoting))},
			want{phase: batonv1alpha1.PromotionFailed, reason: batonv1alpha1.UpstreamNotVerifiedReason, finished: true, envWritten: true, check: noLease}},
		{"a status written to Promoting without the lease goes back through the gate", Input{Promotion: promoting, Upstream: staging(), Environment: production(required(1))},
			want{phase: batonv1alpha1.PromotionWaitingForApproval, reason: batonv1alpha1.WaitingForApprovalReason}},
		{"Baton's own rollback, handed the lease, needs no approval", Input{Promotion: promotion("auto", batonv1alpha1.PromotionPromoting, func(p *batonv1alpha1.Promotion) {
			p.Spec.Rollback, p.Status.Image = &batonv1alpha1.RollbackSpec{ToRevision: 1}, web1
			p.Spec.Reason = "Automatic rollback of uid p-uid: Promotion p failed (RolloutFailed)"
		}), Environment: production(leasedTo(promotion("auto", "", func(p *batonv1alpha1.Promotion) { p.Spec.Rollback = &batonv1alpha1.RollbackSpec{} })), required(1), func(e *batonv1alpha1.Environment) {
			e.Spec.Approval.RequireForRollback = true
		})}, want{phase: batonv1alpha1.PromotionPromoting, action: Deliver}},

		{"a rollback to the adopted revision without a reason fails, naming spec.reason", Input{Promotion: rollbackTo(1, web1, ""), Environment: production()},
			want{phase: batonv1alpha1.PromotionFailed, reason: batonv1alpha1.ImageRejectedReason, mentions: []string{"spec.reason", "adopted"}, finished: true}},
		{"a rollback to a rejected image without a reason fails", Input{Promotion: rollbackTo(0, web2, ""), Environment: production(rolledBack, func(e *batonv1alpha1.Environment) {
			e.Status.History[1].Result = batonv1alpha1.RevisionSucceeded
		})}, want{phase: batonv1alpha1.PromotionFailed, reason: batonv1alpha1.ImageRejectedReason, mentions: []string{"rolled back away"}, finished: true}},
		{"a rollback that re-ships with a reason is recorded as a re-ship and lifts the rejection", Input{Promotion: rollbackTo(1, web1, "the fix is in"), Environment: production(rejected(web1), func(e *batonv1alpha1.Environment) {
			e.Status.History = append(e.Status.History, batonv1alpha1.Revision{Revision: 2, Image: web2, Result: batonv1alpha1.RevisionSucceeded})
			e.Status.Current = &batonv1alpha1.CurrentImage{Image: web2, Revision: 2}
		})},
			want{phase: batonv1alpha1.PromotionPromoting, envWritten: true, check: func(t *testing.T, d Decision) {
				last := d.Environment.History[len(d.Environment.History)-1]
				if !last.Reship || !last.Rollback {
					t.Errorf("entry %+v, want a rollback re-ship", last)
				}
				if r := d.Environment.RejectedImages; len(r) != 1 || r[0].Image != web2 {
					t.Errorf("rejected = %+v, want only web2, the image it moves away from", r)
				}
			}}},
		{"an ordinary rollback is not a re-ship", Input{Promotion: rollbackTo(2, web2, ""), Environment: production(func(e *batonv1alpha1.Environment) {
			e.Status.History = append(e.Status.History, batonv1alpha1.Revision{Revision: 2, Image: web2, Result: batonv1alpha1.RevisionSucceeded},
				batonv1alpha1.Revision{Revision: 3, Image: web3, Result: batonv1alpha1.RevisionSucceeded})
			e.Status.Current = &batonv1alpha1.CurrentImage{Image: web3, Revision: 3}
		})}, want{phase: batonv1alpha1.PromotionPromoting, envWritten: true, check: func(t *testing.T, d Decision) {
			if last := d.Environment.History[len(d.Environment.History)-1]; last.Reship {
				t.Errorf("entry %+v is not a re-ship", last)
			}
		}}},
		{"an image rejected while the Promotion waited is not shipped, and the rejection stays", Input{Promotion: queued, Upstream: staging(), Environment: production(rejected(web2))},
			want{phase: batonv1alpha1.PromotionFailed, reason: batonv1alpha1.ImageRejectedReason, mentions: []string{"while this Promotion waited", "spec.reason"}, finished: true}},
		{"a deliberate re-ship takes the lease, recorded as a re-ship, and lifts the rejection", Input{Promotion: promotion("p", batonv1alpha1.PromotionQueued, func(p *batonv1alpha1.Promotion) {
			p.Spec.Image, p.Spec.Reason = web2, "fixed the config, not the image"
		}), Upstream: staging(), Environment: production(rejected(web2))},
			want{phase: batonv1alpha1.PromotionPromoting, envWritten: true, check: func(t *testing.T, d Decision) {
				last := d.Environment.History[len(d.Environment.History)-1]
				if !last.Reship || len(d.Environment.RejectedImages) != 0 {
					t.Errorf("entry %+v, rejected %+v", last, d.Environment.RejectedImages)
				}
			}}},

		{"a NotAdmitted Promotion leaves the queue", Input{Promotion: queued, Environment: production(), NotAdmitted: errors.New("the admission marker does not match")},
			want{phase: batonv1alpha1.PromotionPending, reason: batonv1alpha1.NotAdmittedReason, check: stalled}},
		{"a NotAdmitted lease holder ends Failed and releases the lease with its entry", Input{Promotion: promotion("p", batonv1alpha1.PromotionRollingOut, rollingOut),
			Environment: production(leasedTo(promotion("p", batonv1alpha1.PromotionRollingOut))), NotAdmitted: errors.New("the admission marker does not match")},
			want{phase: batonv1alpha1.PromotionFailed, reason: batonv1alpha1.NotAdmittedReason, finished: true, envWritten: true, check: func(t *testing.T, d Decision) {
				noLease(t, d)
				if d.Environment.History[1].Result != batonv1alpha1.RevisionFailed {
					t.Errorf("entry = %+v, want Failed", d.Environment.History[1])
				}
			}}},
	}
}

// autoRollbackCases: the automatic rollback adopts only what Baton created
// and can prove (issue 18, class 3).
func autoRollbackCases() []decideCase {
	p := promotion("p", batonv1alpha1.PromotionRollingOut, rollingOut)
	env := func() *batonv1alpha1.Environment {
		return production(leasedTo(p), runs(web2, metav1.ConditionFalse, batonv1alpha1.RolloutFailedReason), func(e *batonv1alpha1.Environment) { e.Spec.Rollout.AutoRollback = true })
	}
	squatted := func(name string, tune func(*batonv1alpha1.Promotion)) decideCase {
		return decideCase{"a squatted rollback name is never adopted: " + name, Input{Promotion: p, Environment: env(), Rollback: autoRollback("p-rollback", tune), Nonce: "x7k2q"},
			want{phase: batonv1alpha1.PromotionRollingOut, check: func(t *testing.T, d Decision) {
				if a := d.Status.AutoRollback; a == nil || a.Name != "p-rollback-x7k2q" || a.UID != "" {
					t.Errorf("autoRollback = %+v, want the next name recorded first", a)
				}
				expectEvent(t, d, "AutoRollback", "was not created by Baton")
			}}}
	}
	return []decideCase{
		squatted("requested by someone else", func(rb *batonv1alpha1.Promotion) { rb.Spec.RequestedBy.Username = "mallory" }),
		squatted("a forward Promotion", func(rb *batonv1alpha1.Promotion) { rb.Spec.Rollback, rb.Spec.Image = nil, web1 }),
		squatted("into another Environment", func(rb *batonv1alpha1.Promotion) { rb.Spec.Environment = "staging" }),
		squatted("to another revision", func(rb *batonv1alpha1.Promotion) { rb.Spec.Rollback.ToRevision = 7 }),
		squatted("for another failed Promotion of that name", func(rb *batonv1alpha1.Promotion) {
			rb.Spec.Reason = "Automatic rollback of uid earlier-uid: Promotion p failed (RolloutFailed): 3/3 RolloutFailed"
		}),
		{"a squatted rollback whose marker does not verify is never adopted", Input{Promotion: p, Environment: env(), Rollback: autoRollback("p-rollback", nil),
			RollbackNotAdmitted: errors.New("the admission marker does not match"), Nonce: "x7k2q"},
			want{phase: batonv1alpha1.PromotionRollingOut, check: func(t *testing.T, d Decision) {
				if a := d.Status.AutoRollback; a == nil || a.Name != "p-rollback-x7k2q" {
					t.Errorf("autoRollback = %+v", a)
				}
			}}},
		{"the recorded name is the one created next", Input{Promotion: promotion("p", batonv1alpha1.PromotionRollingOut, rollingOut, func(p *batonv1alpha1.Promotion) {
			p.Status.AutoRollback = &batonv1alpha1.ObjectRef{Name: "p-rollback-x7k2q"}
		}), Environment: env()},
			want{phase: batonv1alpha1.PromotionRollingOut, action: CreateRollback, check: func(t *testing.T, d Decision) {
				if d.Rollback == nil || d.Rollback.Name != "p-rollback-x7k2q" {
					t.Errorf("rollback = %+v", d.Rollback)
				}
			}}},
		{"the manager's own username, as admission recorded it, proves it", Input{Promotion: p, Environment: env(), Self: "system:serviceaccount:baton-system:baton",
			Rollback: autoRollback("p-rollback", func(rb *batonv1alpha1.Promotion) {
				rb.Spec.RequestedBy.Username = "system:serviceaccount:baton-system:baton"
			})},
			want{phase: batonv1alpha1.PromotionFailed, finished: true, envWritten: true, check: func(t *testing.T, d Decision) {
				if a := d.Environment.ActivePromotion; a == nil || a.Name != "p-rollback" {
					t.Errorf("lease = %+v, want p-rollback", a)
				}
				if a := d.Status.AutoRollback; a == nil || a.UID != "p-rollback-uid" {
					t.Errorf("autoRollback = %+v, want its UID recorded", a)
				}
			}}},
	}
}

func TestAutoRollbackName(t *testing.T) {
	long := ""
	for len(long) < 250 {
		long += "web-production."
	}
	for _, tc := range []struct{ name, suffix string }{{"p", ""}, {long[:253], ""}, {long[:253], "x7k2q"}, {long[:244], ""}} {
		got := AutoRollbackName(tc.name, tc.suffix)
		if errs := validation.IsDNS1123Subdomain(got); len(errs) > 0 {
			t.Errorf("AutoRollbackName(%d chars, %q) = %q: %v", len(tc.name), tc.suffix, got, errs)
		}
	}
	if got := AutoRollbackName("web-1", ""); got != "web-1-rollback" {
		t.Errorf("AutoRollbackName(web-1) = %q", got)
	}
}
