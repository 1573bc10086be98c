package promote

import (
	"errors"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/delivery"
	"github.com/baton-dev/baton/internal/outcome"
)

var now = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

const (
	web1 = "reg.example.com/web:1"
	web2 = "reg.example.com/web:2"
	web3 = "reg.example.com/web:3"
)

func at(d time.Duration) *metav1.Time { t := metav1.NewTime(now.Add(d)); return &t }

// production runs web1 as revision 1 (adopted), and is Ready.
func production(tune ...func(*batonv1alpha1.Environment)) *batonv1alpha1.Environment {
	env := &batonv1alpha1.Environment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "production", Generation: 1},
		Spec:       batonv1alpha1.EnvironmentSpec{Upstream: "staging"},
	}
	env.Status.Current = &batonv1alpha1.CurrentImage{Image: web1, Revision: 1}
	env.Status.History = []batonv1alpha1.Revision{{Revision: 1, Image: web1, Result: batonv1alpha1.RevisionAdopted}}
	env.Status.Conditions = []metav1.Condition{{Type: batonv1alpha1.ReadyCondition, Status: metav1.ConditionTrue, Reason: "RolloutComplete", ObservedGeneration: 1}}
	for _, f := range tune {
		f(env)
	}
	return env
}

// verifying is staging having verified img too.
func verifying(img string) *batonv1alpha1.Environment {
	env := staging()
	env.Status.VerifiedImages = append(env.Status.VerifiedImages, batonv1alpha1.VerifiedImage{Image: img, VerifiedAt: metav1.NewTime(now.Add(-time.Hour))})
	return env
}

func staging() *batonv1alpha1.Environment {
	env := &batonv1alpha1.Environment{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "staging"}}
	env.Status.Current = &batonv1alpha1.CurrentImage{Image: web2, Revision: 4}
	env.Status.VerifiedImages = []batonv1alpha1.VerifiedImage{{Image: web2, VerifiedAt: metav1.NewTime(now.Add(-time.Hour))}}
	return env
}

func promotion(name string, phase batonv1alpha1.PromotionPhase, tune ...func(*batonv1alpha1.Promotion)) *batonv1alpha1.Promotion {
	p := &batonv1alpha1.Promotion{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, UID: types.UID(name + "-uid"), Generation: 1,
			CreationTimestamp: metav1.NewTime(now.Add(-time.Minute))},
		Spec: batonv1alpha1.PromotionSpec{Environment: "production", RequestedBy: &batonv1alpha1.UserInfo{Username: "alice"}},
	}
	p.Status.Phase = phase
	if phase != "" && phase != batonv1alpha1.PromotionPending {
		p.Status.Image = web2
	}
	for _, f := range tune {
		f(p)
	}
	return p
}

// leasedTo gives env's lease to p with an open history entry, revision 2.
func leasedTo(p *batonv1alpha1.Promotion) func(*batonv1alpha1.Environment) {
	return func(env *batonv1alpha1.Environment) {
		ref := &batonv1alpha1.ObjectRef{Name: p.Name, UID: string(p.UID)}
		env.Status.ActivePromotion = ref
		env.Status.History = append(env.Status.History, batonv1alpha1.Revision{Revision: 2, Image: p.Status.Image, Promotion: ref, Rollback: IsRollback(p)})
	}
}

func rollingOut(p *batonv1alpha1.Promotion) {
	p.Status.Revision, p.Status.PreviousImage, p.Status.DeliveredAt = 2, web1, at(-time.Minute)
}

func runs(image string, ready metav1.ConditionStatus, reason string) func(*batonv1alpha1.Environment) {
	return func(env *batonv1alpha1.Environment) {
		env.Status.Current = &batonv1alpha1.CurrentImage{Image: image, Revision: 2}
		env.Status.Conditions = []metav1.Condition{{Type: batonv1alpha1.ReadyCondition, Status: ready, Reason: reason, Message: "3/3 " + reason, ObservedGeneration: 1}}
	}
}

type want struct {
	phase      batonv1alpha1.PromotionPhase
	reason     string
	mentions   []string
	action     Action
	finished   bool
	envWritten bool
	err        bool
	check      func(t *testing.T, d Decision)
}

func TestDecide(t *testing.T) {
	for _, tc := range decideCases() {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			in.Now = now
			before, beforeEnv := in.Promotion.DeepCopy(), in.Environment.DeepCopy()
			d := Decide(in)
			if !equality.Semantic.DeepEqual(before, in.Promotion) || !equality.Semantic.DeepEqual(beforeEnv, in.Environment) {
				t.Fatalf("Decide changed its input")
			}
			tc.want.assert(t, d)
		})
	}
}

func (w want) assert(t *testing.T, d Decision) {
	t.Helper()
	if got := d.Status.Phase; w.phase != "" && got != w.phase {
		t.Errorf("phase = %q, want %q", got, w.phase)
	}
	ready := findCondition(d.Status.Conditions, batonv1alpha1.ReadyCondition)
	if w.reason != "" && (ready == nil || ready.Reason != w.reason) {
		t.Errorf("Ready = %+v, want reason %q", ready, w.reason)
	}
	for _, m := range w.mentions {
		if ready == nil || !strings.Contains(ready.Message, m) {
			t.Errorf("Ready message %v does not mention %q", ready, m)
		}
	}
	if d.Action != w.action {
		t.Errorf("action = %v, want %v", d.Action, w.action)
	}
	if (d.Finished != "") != w.finished {
		t.Errorf("finished = %q, want finished %v", d.Finished, w.finished)
	}
	if (d.Environment != nil) != w.envWritten {
		t.Errorf("Environment written = %v, want %v", d.Environment != nil, w.envWritten)
	}
	if (d.Err != nil) != w.err {
		t.Errorf("err = %v, want an error %v", d.Err, w.err)
	}
	if w.check != nil {
		w.check(t, d)
	}
}

type decideCase struct {
	name string
	in   Input
	want want
}

func decideCases() []decideCase {
	var cases []decideCase
	cases = append(cases, resolveCases()...)
	cases = append(cases, leaseCases()...)
	cases = append(cases, deliveryCases()...)
	cases = append(cases, rolloutCases()...)
	cases = append(cases, endCases()...)
	cases = append(cases, guardCases()...)
	cases = append(cases, autoRollbackCases()...)
	return cases
}

func resolveCases() []decideCase {
	fresh := promotion("p", "")
	return []decideCase{
		{"resolves the upstream's newest verified image", Input{Promotion: fresh, Environment: production(), Upstream: staging()},
			want{phase: batonv1alpha1.PromotionWaitingForApproval, reason: batonv1alpha1.WaitingForApprovalReason, check: func(t *testing.T, d Decision) {
				if d.Status.Image != web2 {
					t.Errorf("image = %q, want %q", d.Status.Image, web2)
				}
				if d.Status.ObservedGeneration != 1 {
					t.Errorf("observedGeneration = %d, want 1", d.Status.ObservedGeneration)
				}
			}}},
		{"waits for a missing upstream", Input{Promotion: fresh, Environment: production()},
			want{phase: batonv1alpha1.PromotionPending, reason: batonv1alpha1.UpstreamNotFoundReason, mentions: []string{`"staging"`, "spec.upstream"}}},
		{"waits for an image the upstream has not verified", Input{Promotion: promotion("p", "", func(p *batonv1alpha1.Promotion) { p.Spec.Image = web3 }), Environment: production(), Upstream: staging()},
			want{phase: batonv1alpha1.PromotionPending, reason: batonv1alpha1.UpstreamNotVerifiedReason, mentions: []string{web3}}},
		{"fails an unparsable image", Input{Promotion: promotion("p", "", func(p *batonv1alpha1.Promotion) { p.Spec.Image = "reg.example.com/Web:1" }), Environment: production(), Upstream: staging()},
			want{phase: batonv1alpha1.PromotionFailed, reason: batonv1alpha1.InvalidImageReason, mentions: []string{"spec.image"}, finished: true}},
		{"fails a rollback to a revision that does not exist", Input{Promotion: promotion("p", "", func(p *batonv1alpha1.Promotion) { p.Spec.Rollback = &batonv1alpha1.RollbackSpec{ToRevision: 9} }), Environment: production()},
			want{phase: batonv1alpha1.PromotionFailed, reason: batonv1alpha1.RevisionNotFoundReason, mentions: []string{"revision 9"}, finished: true}},
		{"cancels before the lease", Input{Promotion: promotion("p", batonv1alpha1.PromotionQueued, func(p *batonv1alpha1.Promotion) {
			p.Spec.Cancel, p.Spec.CanceledBy = true, &batonv1alpha1.UserInfo{Username: "bob"}
		}), Environment: production()},
			want{phase: batonv1alpha1.PromotionCanceled, reason: batonv1alpha1.CanceledReason, mentions: []string{"bob"}, finished: true}},
		{"stalls a Promotion that did not come through admission", Input{Promotion: fresh, Environment: production(), NotAdmitted: errors.New("the admission marker is missing")},
			want{phase: batonv1alpha1.PromotionPending, reason: batonv1alpha1.NotAdmittedReason, mentions: []string{"marker is missing", "never act"}, check: stalled}},
		{"stalls on a missing Environment", Input{Promotion: fresh},
			want{phase: batonv1alpha1.PromotionPending, reason: batonv1alpha1.EnvironmentNotFoundReason, mentions: []string{"spec.environment", `"production"`}, check: stalled}},
		{"waits for approval", Input{Upstream: staging(), Promotion: promotion("p", batonv1alpha1.PromotionWaitingForApproval), Environment: production(func(e *batonv1alpha1.Environment) { e.Spec.Approval.Required = 1 })},
			want{phase: batonv1alpha1.PromotionWaitingForApproval, reason: batonv1alpha1.WaitingForApprovalReason, mentions: []string{"0 of 1"}}},
		{"queues once approved", Input{Promotion: promotion("p", batonv1alpha1.PromotionWaitingForApproval, func(p *batonv1alpha1.Promotion) {
			p.Spec.Approvals = []batonv1alpha1.Approval{{UserInfo: batonv1alpha1.UserInfo{Username: "bob"}, Image: web2}}
		}), Upstream: staging(), Environment: production(func(e *batonv1alpha1.Environment) { e.Spec.Approval.Required = 1 })},
			want{phase: batonv1alpha1.PromotionQueued, reason: batonv1alpha1.QueuedReason, check: func(t *testing.T, d Decision) {
				if c := findCondition(d.Status.Conditions, batonv1alpha1.ApprovedCondition); c == nil || c.Status != metav1.ConditionTrue {
					t.Errorf("Approved = %+v, want True", c)
				}
			}}},
	}
}

func stalled(t *testing.T, d Decision) {
	t.Helper()
	if c := findCondition(d.Status.Conditions, batonv1alpha1.StalledCondition); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("Stalled = %+v, want True", c)
	}
}

func leaseCases() []decideCase {
	queued := promotion("p", batonv1alpha1.PromotionQueued)
	older := *promotion("older", batonv1alpha1.PromotionQueued, func(p *batonv1alpha1.Promotion) { p.CreationTimestamp = metav1.NewTime(now.Add(-time.Hour)) })
	holder := promotion("holder", batonv1alpha1.PromotionRollingOut, rollingOut)
	undo := promotion("undo", batonv1alpha1.PromotionQueued, func(p *batonv1alpha1.Promotion) {
		p.Spec.Rollback, p.Status.Image, p.Spec.Reason = &batonv1alpha1.RollbackSpec{}, web1, "checkout errors"
	})
	promoting := promotion("holder", batonv1alpha1.PromotionPromoting)
	return []decideCase{
		{"holds while the Environment is suspended", Input{Upstream: staging(), Promotion: queued, Environment: production(func(e *batonv1alpha1.Environment) { e.Spec.Suspend = true })},
			want{phase: batonv1alpha1.PromotionQueued, reason: batonv1alpha1.SuspendedReason, mentions: []string{"spec.suspend"}}},
		{"waits behind an older Promotion", Input{Upstream: staging(), Promotion: queued, Environment: production(), Queue: []batonv1alpha1.Promotion{older}},
			want{phase: batonv1alpha1.PromotionQueued, reason: batonv1alpha1.QueuedReason, mentions: []string{"behind Promotion older"}}},
		{"waits for the lease holder", Input{Upstream: staging(), Promotion: queued, Environment: production(leasedTo(holder))},
			want{phase: batonv1alpha1.PromotionQueued, reason: batonv1alpha1.QueuedReason, mentions: []string{"Promotion holder, which holds the lease"}}},
		{"takes a free lease and writes the intent in one step", Input{Upstream: staging(), Promotion: queued, Environment: production(), Queue: []batonv1alpha1.Promotion{*queued}},
			want{phase: batonv1alpha1.PromotionPromoting, reason: batonv1alpha1.ProgressingReason, envWritten: true, check: func(t *testing.T, d Decision) {
				if a := d.Environment.ActivePromotion; a == nil || a.UID != "p-uid" {
					t.Errorf("lease = %+v, want p", a)
				}
				last := d.Environment.History[len(d.Environment.History)-1]
				if last.Revision != 2 || last.Image != web2 || last.RequestedBy != "alice" || last.Result != "" {
					t.Errorf("new history entry = %+v", last)
				}
				if d.Status.Revision != 2 || d.Status.PreviousImage != web1 {
					t.Errorf("intent: revision %d, previous %q", d.Status.Revision, d.Status.PreviousImage)
				}
				expectEvent(t, d, "Promoting", "requested by alice")
			}}},
		{"a rollback preempts a Promotion that is rolling out", Input{Upstream: staging(), Promotion: undo, Environment: production(leasedTo(holder)), Holder: holder},
			want{phase: batonv1alpha1.PromotionPromoting, envWritten: true, check: func(t *testing.T, d Decision) {
				if d.Environment.History[1].Result != batonv1alpha1.RevisionSuperseded {
					t.Errorf("preempted entry = %+v, want Superseded", d.Environment.History[1])
				}
				if a := d.Environment.ActivePromotion; a == nil || a.Name != "undo" {
					t.Errorf("lease = %+v, want undo", a)
				}
				expectEvent(t, d, "Preempt", "preempted Promotion holder")
			}}},
		{"a rollback waits for a Promotion that is changing the target", Input{Upstream: staging(), Promotion: undo, Environment: production(leasedTo(promoting)), Holder: promoting},
			want{phase: batonv1alpha1.PromotionQueued, reason: batonv1alpha1.QueuedReason}},
		{"a rollback takes a lease whose holder is gone", Input{Upstream: staging(), Promotion: undo, Environment: production(leasedTo(holder))},
			want{phase: batonv1alpha1.PromotionQueued, reason: batonv1alpha1.QueuedReason}},
		{"writes a lost intent again", Input{Upstream: staging(), Promotion: queued, Environment: production(leasedTo(queued))},
			want{phase: batonv1alpha1.PromotionPromoting, check: func(t *testing.T, d Decision) {
				if d.Status.Revision != 2 {
					t.Errorf("revision = %d, want 2", d.Status.Revision)
				}
			}}},
		{"an automatic rollback handed the lease takes its image from its entry", Input{
			Promotion:   promotion("auto", batonv1alpha1.PromotionPending, func(p *batonv1alpha1.Promotion) { p.Spec.Rollback = &batonv1alpha1.RollbackSpec{ToRevision: 1} }),
			Environment: production(leasedTo(promotion("auto", batonv1alpha1.PromotionQueued, func(p *batonv1alpha1.Promotion) { p.Status.Image = web1 })))},
			want{phase: batonv1alpha1.PromotionPromoting, check: func(t *testing.T, d Decision) {
				if d.Status.Image != web1 {
					t.Errorf("image = %q, want %q", d.Status.Image, web1)
				}
			}}},
	}
}

func deliveryCases() []decideCase {
	p := promotion("p", batonv1alpha1.PromotionPromoting, func(p *batonv1alpha1.Promotion) { p.Status.Revision, p.Status.PreviousImage = 2, web1 })
	atImage := promotion("p", batonv1alpha1.PromotionPromoting, func(p *batonv1alpha1.Promotion) { p.Status.Revision, p.Status.PreviousImage = 2, web2 })
	env := func() *batonv1alpha1.Environment { return production(leasedTo(p)) }
	out := func(o DeliveryOutcome) *DeliveryOutcome { return &o }
	return []decideCase{
		{"asks for the delivery", Input{Upstream: staging(), Promotion: p, Environment: env()}, want{phase: batonv1alpha1.PromotionPromoting, action: Deliver, check: func(t *testing.T, d Decision) {
			if d.Image != web2 {
				t.Errorf("image to deliver = %q, want %q", d.Image, web2)
			}
		}}},
		{"pins the digest when the Environment asks", Input{Promotion: promotion("p", batonv1alpha1.PromotionPromoting, func(p *batonv1alpha1.Promotion) {
			p.Status.Image, p.Status.Digest = "reg.example.com/web:2@sha256:"+strings.Repeat("a", 64), "sha256:"+strings.Repeat("a", 64)
		}), Upstream: verifying("reg.example.com/web:2@sha256:" + strings.Repeat("a", 64)), Environment: production(leasedTo(p), func(e *batonv1alpha1.Environment) { e.Spec.Delivery.PinDigest = true })},
			want{action: Deliver, check: func(t *testing.T, d Decision) {
				if d.Image != "reg.example.com/web@sha256:"+strings.Repeat("a", 64) {
					t.Errorf("image to deliver = %q", d.Image)
				}
			}}},
		{"watches the rollout once delivered", Input{Upstream: staging(), Promotion: p, Environment: env(), Delivery: out(DeliveryOutcome{Record: delivery.Record{Patch: "image web2"}})},
			want{phase: batonv1alpha1.PromotionRollingOut, reason: batonv1alpha1.RolloutInProgressReason, check: func(t *testing.T, d Decision) {
				if d.Status.DeliveredAt == nil || d.Status.Patch != "image web2" || d.RequeueAfter != DefaultRolloutTimeout {
					t.Errorf("delivered status %+v, requeue %v", d.Status, d.RequeueAfter)
				}
				expectEvent(t, d, "Deliver", "as revision 2")
			}}},
		{"ends AlreadyAtImage when the target ran the image before", Input{Upstream: staging(), Promotion: atImage, Environment: env(), Delivery: out(DeliveryOutcome{Found: true})},
			want{phase: batonv1alpha1.PromotionSucceeded, reason: batonv1alpha1.AlreadyAtImageReason, finished: true, envWritten: true, check: func(t *testing.T, d Decision) {
				if d.Environment.History[1].Result != batonv1alpha1.RevisionAlreadyAtImage || d.Environment.ActivePromotion != nil {
					t.Errorf("history %+v, lease %+v", d.Environment.History[1], d.Environment.ActivePromotion)
				}
			}}},
		{"resumes its own earlier delivery", Input{Upstream: staging(), Promotion: p, Environment: env(), Delivery: out(DeliveryOutcome{Found: true, Record: delivery.Record{Commit: "abc"}})},
			want{phase: batonv1alpha1.PromotionRollingOut}},
		{"stays Promoting while a delivery waits", Input{Upstream: staging(), Promotion: p, Environment: env(), Delivery: out(DeliveryOutcome{Record: delivery.Record{Commit: "abc"}, Err: outcome.Wait(time.Minute, "AwaitingMerge", "merge it")})},
			want{phase: batonv1alpha1.PromotionPromoting, reason: "AwaitingMerge", check: func(t *testing.T, d Decision) {
				if d.Status.Commit != "abc" || d.RequeueAfter != time.Minute {
					t.Errorf("commit %q, requeue %v", d.Status.Commit, d.RequeueAfter)
				}
			}}},
		{"fails a delivery a person must fix, releasing the lease", Input{Upstream: staging(), Promotion: p, Environment: env(), Delivery: out(DeliveryOutcome{Err: outcome.Stall(batonv1alpha1.WorkloadNotAuthorizedReason, "set the annotation")})},
			want{phase: batonv1alpha1.PromotionFailed, reason: batonv1alpha1.WorkloadNotAuthorizedReason, mentions: []string{"annotation"}, finished: true, envWritten: true, check: func(t *testing.T, d Decision) {
				if d.Environment.History[1].Result != batonv1alpha1.RevisionFailed || d.Environment.ActivePromotion != nil {
					t.Errorf("history %+v, lease %+v", d.Environment.History[1], d.Environment.ActivePromotion)
				}
			}}},
		{"retries any other delivery error", Input{Upstream: staging(), Promotion: p, Environment: env(), Delivery: out(DeliveryOutcome{Err: errors.New("connection reset")})},
			want{phase: batonv1alpha1.PromotionPromoting, err: true}},
		{"refuses to deliver without the lease", Input{Upstream: staging(), Promotion: p, Environment: production(leasedTo(p), func(e *batonv1alpha1.Environment) {
			e.Status.ActivePromotion = &batonv1alpha1.ObjectRef{Name: "other", UID: "other-uid"}
		})}, want{err: true}},
	}
}

// autoRollback is the rollback Baton created for p to revision 1, as read
// back, tuned.
func autoRollback(name string, tune func(*batonv1alpha1.Promotion)) *batonv1alpha1.Promotion {
	return promotion(name, "", func(rb *batonv1alpha1.Promotion) {
		rb.Spec.Rollback = &batonv1alpha1.RollbackSpec{ToRevision: 1}
		rb.Spec.RequestedBy = &batonv1alpha1.UserInfo{Username: ControllerUser}
		rb.Spec.Reason = "Automatic rollback of uid p-uid: Promotion p failed (RolloutFailed): 3/3 RolloutFailed"
		if tune != nil {
			tune(rb)
		}
	})
}

func rolloutCases() []decideCase {
	p := promotion("p", batonv1alpha1.PromotionRollingOut, rollingOut)
	auto := func(e *batonv1alpha1.Environment) { e.Spec.Rollout.AutoRollback = true }
	failed := runs(web2, metav1.ConditionFalse, batonv1alpha1.RolloutFailedReason)
	rb := autoRollback("p-rollback", nil)
	undo := promotion("undo", batonv1alpha1.PromotionRollingOut, rollingOut, func(u *batonv1alpha1.Promotion) {
		u.Spec.Rollback, u.Status.Image, u.Status.PreviousImage = &batonv1alpha1.RollbackSpec{}, web1, web2
	})
	left := func(e *batonv1alpha1.Environment) {
		e.Status.History = append(e.Status.History, batonv1alpha1.Revision{Revision: 2, Image: web2, Result: batonv1alpha1.RevisionSucceeded})
		ref := &batonv1alpha1.ObjectRef{Name: undo.Name, UID: string(undo.UID)}
		e.Status.ActivePromotion = ref
		e.Status.History = append(e.Status.History, batonv1alpha1.Revision{Revision: 3, Image: web1, Promotion: ref, Rollback: true})
	}
	return []decideCase{
		{"succeeds when the Environment runs the image, Ready", Input{Promotion: p, Environment: production(leasedTo(p), runs(web2, metav1.ConditionTrue, "RolloutComplete"))},
			want{phase: batonv1alpha1.PromotionSucceeded, reason: batonv1alpha1.SucceededReason, finished: true, envWritten: true, check: func(t *testing.T, d Decision) {
				if d.Environment.History[1].Result != batonv1alpha1.RevisionSucceeded {
					t.Errorf("entry = %+v", d.Environment.History[1])
				}
			}}},
		{"waits while the rollout goes on", Input{Promotion: p, Environment: production(leasedTo(p), runs(web2, metav1.ConditionUnknown, "RolloutInProgress"))},
			want{phase: batonv1alpha1.PromotionRollingOut, check: func(t *testing.T, d Decision) {
				if d.RequeueAfter != DefaultRolloutTimeout-time.Minute {
					t.Errorf("requeue = %v, want the time left", d.RequeueAfter)
				}
			}}},
		{"fails a failed rollout", Input{Promotion: p, Environment: production(leasedTo(p), failed)},
			want{phase: batonv1alpha1.PromotionFailed, reason: batonv1alpha1.RolloutFailedReason, finished: true, envWritten: true}},
		{"asks for the automatic rollback first", Input{Promotion: p, Environment: production(leasedTo(p), failed, auto)},
			want{phase: batonv1alpha1.PromotionRollingOut, action: CreateRollback, check: func(t *testing.T, d Decision) {
				if d.Rollback == nil || d.Rollback.Name != "p-rollback" || d.Rollback.Spec.Rollback.ToRevision != 1 || d.Rollback.Spec.RequestedBy.Username != ControllerUser {
					t.Errorf("rollback = %+v", d.Rollback)
				}
			}}},
		{"hands the lease to its rollback in the same write", Input{Promotion: p, Environment: production(leasedTo(p), failed, auto), Rollback: rb},
			want{phase: batonv1alpha1.PromotionFailed, mentions: []string{"Rolling back to revision 1 with Promotion p-rollback"}, finished: true, envWritten: true, check: func(t *testing.T, d Decision) {
				if a := d.Environment.ActivePromotion; a == nil || a.Name != "p-rollback" {
					t.Errorf("lease = %+v, want p-rollback", a)
				}
				last := d.Environment.History[len(d.Environment.History)-1]
				if last.Revision != 3 || last.Image != web1 || !last.Rollback {
					t.Errorf("rollback entry = %+v", last)
				}
				if len(d.Environment.RejectedImages) != 1 || d.Environment.RejectedImages[0].Image != web2 {
					t.Errorf("rejected = %+v, want web2", d.Environment.RejectedImages)
				}
			}}},
		{"says so when there is nothing to roll back to", Input{Promotion: p, Environment: production(leasedTo(p), failed, auto, func(e *batonv1alpha1.Environment) {
			e.Status.History[0].Result = batonv1alpha1.RevisionFailed
		})}, want{phase: batonv1alpha1.PromotionFailed, mentions: []string{"found no earlier"}, finished: true, envWritten: true}},
		{"times out", Input{Promotion: promotion("p", batonv1alpha1.PromotionRollingOut, rollingOut, func(p *batonv1alpha1.Promotion) {
			p.Status.DeliveredAt, p.Status.Commit = at(-11*time.Minute), "0123456789abcdef"
		}), Environment: production(leasedTo(p), func(e *batonv1alpha1.Environment) {
			e.Spec.Delivery.Git = &batonv1alpha1.GitDelivery{URL: "https://user:secret@git.example.com/app.git", Branch: "main"}
		})}, want{phase: batonv1alpha1.PromotionFailed, reason: batonv1alpha1.RolloutTimeoutReason, mentions: []string{"0123456789ab", "never applied"}, finished: true, envWritten: true,
			check: func(t *testing.T, d Decision) {
				if strings.Contains(findCondition(d.Status.Conditions, batonv1alpha1.ReadyCondition).Message, "secret") {
					t.Errorf("the message carries the repository password")
				}
				if i := FindRevision(&batonv1alpha1.Environment{Status: *d.Environment}, string(p.UID)); i < 0 || d.Environment.History[i].Commit != "0123456789abcdef" {
					t.Errorf("the closed history entry does not record the commit that delivered it: %+v", d.Environment.History)
				}
			}}},
		{"a rollback marks the revision it left RolledBack", Input{Promotion: undo, Environment: production(left, runs(web1, metav1.ConditionTrue, "RolloutComplete"))},
			want{phase: batonv1alpha1.PromotionSucceeded, finished: true, envWritten: true, check: func(t *testing.T, d Decision) {
				if got := d.Environment.History[1].Result; got != batonv1alpha1.RevisionRolledBack {
					t.Errorf("left revision = %q, want RolledBack", got)
				}
			}}},
		{"refuses a cancel once the target changed", Input{Promotion: promotion("p", batonv1alpha1.PromotionRollingOut, rollingOut, func(p *batonv1alpha1.Promotion) { p.Spec.Cancel = true }),
			Environment: production(leasedTo(p), runs(web2, metav1.ConditionUnknown, "RolloutInProgress"))},
			want{phase: batonv1alpha1.PromotionRollingOut, check: func(t *testing.T, d Decision) {
				if c := findCondition(d.Status.Conditions, batonv1alpha1.ReconcilingCondition); c == nil || c.Reason != batonv1alpha1.CanceledReason {
					t.Errorf("Reconciling = %+v, want the refused cancel", c)
				}
			}}},
	}
}

func endCases() []decideCase {
	p := promotion("p", batonv1alpha1.PromotionRollingOut, rollingOut)
	closed := func(result batonv1alpha1.RevisionResult) func(*batonv1alpha1.Environment) {
		return func(e *batonv1alpha1.Environment) {
			leasedTo(p)(e)
			e.Status.ActivePromotion = nil
			e.Status.History[1].Result, e.Status.History[1].Message = result, "closed earlier"
		}
	}
	deleted := promotion("p", batonv1alpha1.PromotionRollingOut, rollingOut, func(p *batonv1alpha1.Promotion) { p.DeletionTimestamp = at(0) })
	return []decideCase{
		{"adopts a result whose Promotion write was lost", Input{Promotion: p, Environment: production(closed(batonv1alpha1.RevisionSucceeded))},
			want{phase: batonv1alpha1.PromotionSucceeded, reason: batonv1alpha1.SucceededReason, finished: true}},
		{"adopts being superseded", Input{Promotion: p, Environment: production(closed(batonv1alpha1.RevisionSuperseded))},
			want{phase: batonv1alpha1.PromotionSuperseded, reason: batonv1alpha1.SupersededReason, finished: true}},
		{"fails when the Environment is deleted in flight", Input{Promotion: p},
			want{phase: batonv1alpha1.PromotionFailed, reason: batonv1alpha1.EnvironmentNotFoundReason, finished: true}},
		{"a deleted Promotion in flight closes its entry and releases the lease", Input{Promotion: deleted, Environment: production(leasedTo(p))},
			want{envWritten: true, check: func(t *testing.T, d Decision) {
				h := d.Environment.History[1]
				if !d.RemoveFinalizer || h.Result != batonv1alpha1.RevisionFailed || !strings.Contains(h.Message, "deleted") || d.Environment.ActivePromotion != nil {
					t.Errorf("remove finalizer %v, entry %+v, lease %+v", d.RemoveFinalizer, h, d.Environment.ActivePromotion)
				}
			}}},
		{"a deleted Promotion of a deleted Environment just goes", Input{Promotion: deleted},
			want{check: func(t *testing.T, d Decision) {
				if !d.RemoveFinalizer {
					t.Errorf("the finalizer stays")
				}
			}}},
		{"a terminal Promotion is left alone", Input{Promotion: promotion("p", batonv1alpha1.PromotionSucceeded), Environment: production()},
			want{phase: batonv1alpha1.PromotionSucceeded, check: func(t *testing.T, d Decision) {
				if len(d.Events) != 0 {
					t.Errorf("events = %+v", d.Events)
				}
			}}},
	}
}

func expectEvent(t *testing.T, d Decision, action, mentions string) {
	t.Helper()
	for _, ev := range d.Events {
		if ev.Action == action && strings.Contains(ev.Message, mentions) {
			return
		}
	}
	t.Errorf("no %s Event mentioning %q in %+v", action, mentions, d.Events)
}

func findCondition(conds []metav1.Condition, t string) *metav1.Condition {
	for i := range conds {
		if conds[i].Type == t {
			return &conds[i]
		}
	}
	return nil
}
