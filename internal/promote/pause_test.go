package promote

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
)

func pausesOnFailure(e *batonv1alpha1.Environment) { e.Spec.PauseOnFailure = true }

// pausedBy is env paused since an hour ago by the failed Promotion name.
func pausedBy(name string) func(*batonv1alpha1.Environment) {
	return func(e *batonv1alpha1.Environment) {
		e.Spec.PauseOnFailure = true
		e.Status.AutoPromotePause = &batonv1alpha1.AutoPromotePause{Since: metav1.NewTime(now.Add(-time.Hour)),
			Promotion: batonv1alpha1.ObjectRef{Name: name, UID: name + "-uid"}, Result: batonv1alpha1.RevisionFailed}
	}
}

func pauseIs(name string, result batonv1alpha1.RevisionResult) func(t *testing.T, d Decision) {
	return func(t *testing.T, d Decision) {
		t.Helper()
		pause := d.Environment.AutoPromotePause
		if pause == nil || pause.Promotion.Name != name || pause.Promotion.UID != name+"-uid" || pause.Result != result || !pause.Since.Equal(&metav1.Time{Time: now}) {
			t.Fatalf("pause = %+v, want %s %s since now", pause, name, result)
		}
		if !hasEvent(d, batonv1alpha1.AutoPromotePausedReason, "Promotion "+name, "kubectl promote resume production") {
			t.Errorf("events %+v, want an AutoPromotePaused one naming %s and how to resume", d.Events, name)
		}
	}
}

func noPause(t *testing.T, d Decision) {
	t.Helper()
	if d.Environment != nil && d.Environment.AutoPromotePause != nil {
		t.Errorf("pause = %+v, want none", d.Environment.AutoPromotePause)
	}
}

// TestPauseOnFailure: which close-outs pause autoPromote, and which
// Promotions a pause holds.
func TestPauseOnFailure(t *testing.T) {
	p := promotion("p", batonv1alpha1.PromotionRollingOut, rollingOut)
	failed := runs(web2, metav1.ConditionFalse, batonv1alpha1.RolloutFailedReason)
	undo := promotion("undo", batonv1alpha1.PromotionRollingOut, rollingOut, func(u *batonv1alpha1.Promotion) {
		u.Spec.Rollback, u.Status.Image, u.Status.PreviousImage = &batonv1alpha1.RollbackSpec{}, web1, web2
	})
	// Revision 2 (web2, by Promotion shipped) Succeeded; undo returns to web1.
	left := func(e *batonv1alpha1.Environment) {
		e.Status.History = append(e.Status.History, batonv1alpha1.Revision{Revision: 2, Image: web2, Result: batonv1alpha1.RevisionSucceeded,
			Promotion: &batonv1alpha1.ObjectRef{Name: "shipped", UID: "shipped-uid"}})
		ref := &batonv1alpha1.ObjectRef{Name: undo.Name, UID: string(undo.UID)}
		e.Status.ActivePromotion = ref
		e.Status.History = append(e.Status.History, batonv1alpha1.Revision{Revision: 3, Image: web1, Promotion: ref, Rollback: true})
	}
	trigger := func(key string) func(*batonv1alpha1.Promotion) {
		return func(q *batonv1alpha1.Promotion) { q.Annotations = map[string]string{key: "x"} }
	}
	auto := promotion("auto", batonv1alpha1.PromotionQueued, trigger(batonv1alpha1.AutoPromoteKeyAnnotation))
	src := promotion("src", batonv1alpha1.PromotionQueued, trigger(batonv1alpha1.SourceCommitAnnotation))
	manual := promotion("manual", batonv1alpha1.PromotionQueued)
	queuedUndo := promotion("undo", batonv1alpha1.PromotionQueued, func(u *batonv1alpha1.Promotion) {
		u.Spec.Rollback, u.Status.Image, u.Spec.Reason = &batonv1alpha1.RollbackSpec{}, web1, "web2 is slow"
	}, trigger(batonv1alpha1.AutoPromoteKeyAnnotation))
	ranWeb2 := func(e *batonv1alpha1.Environment) {
		e.Status.History = append(e.Status.History, batonv1alpha1.Revision{Revision: 2, Image: web2, Result: batonv1alpha1.RevisionSucceeded})
		e.Status.Current = &batonv1alpha1.CurrentImage{Image: web2, Revision: 2}
	}
	held := []string{"paused since 2026-12-01T11:00:00Z: Promotion broke failed (spec.pauseOnFailure)", "resume with kubectl promote resume production"}
	cases := []decideCase{
		{"a failed rollout pauses, naming the Promotion", Input{Promotion: p, Environment: production(leasedTo(p), failed, pausesOnFailure)},
			want{phase: batonv1alpha1.PromotionFailed, finished: true, envWritten: true, check: pauseIs("p", batonv1alpha1.RevisionFailed)}},
		{"without pauseOnFailure a failure pauses nothing", Input{Promotion: p, Environment: production(leasedTo(p), failed)},
			want{phase: batonv1alpha1.PromotionFailed, finished: true, envWritten: true, check: noPause}},
		{"the first failure is the one to resume from", Input{Promotion: p, Environment: production(leasedTo(p), failed, pausedBy("broke"))},
			want{phase: batonv1alpha1.PromotionFailed, finished: true, envWritten: true, check: func(t *testing.T, d Decision) {
				if got := d.Environment.AutoPromotePause.Promotion.Name; got != "broke" {
					t.Errorf("pause names %s, want broke", got)
				}
			}}},
		{"a rollback pauses on the Promotion whose revision it left", Input{Promotion: undo, Environment: production(left, runs(web1, metav1.ConditionTrue, "RolloutComplete"), pausesOnFailure)},
			want{phase: batonv1alpha1.PromotionSucceeded, finished: true, envWritten: true, check: pauseIs("shipped", batonv1alpha1.RevisionRolledBack)}},
		{"an autoPromote Promotion waits while paused", Input{Promotion: auto, Upstream: staging(), Environment: production(pausedBy("broke"))},
			want{phase: batonv1alpha1.PromotionQueued, reason: batonv1alpha1.AutoPromotePausedReason, mentions: held}},
		{"a source deploy waits while paused", Input{Promotion: src, Upstream: staging(), Environment: production(pausedBy("broke"))},
			want{phase: batonv1alpha1.PromotionQueued, reason: batonv1alpha1.AutoPromotePausedReason, mentions: held}},
		{"a manual Promotion runs while paused, past the held trigger ahead of it", Input{Promotion: manual, Upstream: staging(), Environment: production(pausedBy("broke")),
			Queue: []batonv1alpha1.Promotion{*promotion("auto", batonv1alpha1.PromotionQueued, trigger(batonv1alpha1.AutoPromoteKeyAnnotation), func(q *batonv1alpha1.Promotion) {
				q.CreationTimestamp = metav1.NewTime(now.Add(-time.Hour))
			})}},
			want{phase: batonv1alpha1.PromotionPromoting, envWritten: true}},
		{"a rollback runs while paused, even one autoPromote's key marks", Input{Promotion: queuedUndo, Environment: production(ranWeb2, pausedBy("broke"))},
			want{phase: batonv1alpha1.PromotionPromoting, envWritten: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			in.Now = now
			tc.want.assert(t, Decide(in))
		})
	}
}

func TestDecideResume(t *testing.T) {
	// resumed is name with spec.resume by by, at generation 2; handled: the
	// engine recorded it (status.observedGeneration 2).
	resumed := func(name, by string, handled bool) *batonv1alpha1.Promotion {
		return promotion(name, batonv1alpha1.PromotionFailed, func(p *batonv1alpha1.Promotion) {
			p.Spec.Resume, p.Generation, p.Status.ObservedGeneration = true, 2, 1
			if handled {
				p.Status.ObservedGeneration = 2
			}
			if by != "" {
				p.Spec.ResumedBy = &batonv1alpha1.UserInfo{Username: by}
			}
		})
	}
	cases := []struct {
		name  string
		env   *batonv1alpha1.Environment
		promo *batonv1alpha1.Promotion
		want  Resume
		says  string
	}{
		{"the pause's own Promotion lifts it, naming who", production(pausedBy("broke")), resumed("broke", "oncall", false),
			Resume{Mark: true, Clear: true, Reason: batonv1alpha1.AutoPromoteResumedReason},
			"oncall resumed autoPromote and spec.source deploys in Environment production, paused since 2026-12-01T11:00:00Z by Promotion broke"},
		{"another Promotion changes nothing, naming the pause's", production(pausedBy("broke")), resumed("older", "oncall", false),
			Resume{Mark: true, Reason: batonv1alpha1.ResumeNotPausedReason}, "the pause in Environment production is Promotion broke's: nothing changed"},
		{"a namesake (another UID) changes nothing", production(pausedBy("broke"), func(e *batonv1alpha1.Environment) {
			e.Status.AutoPromotePause.Promotion.UID = "first-broke-uid"
		}), resumed("broke", "oncall", false), Resume{Mark: true, Reason: batonv1alpha1.ResumeNotPausedReason}, "nothing changed"},
		{"nothing paused changes nothing", production(), resumed("broke", "bob", false), Resume{Mark: true, Reason: batonv1alpha1.ResumeNotPausedReason},
			"bob set spec.resume on Promotion broke, but autoPromote in Environment production is not paused"},
		{"a retry after the mark lifts the pause still there, and says so then", production(pausedBy("broke")), resumed("broke", "oncall", true),
			Resume{Clear: true, Reason: batonv1alpha1.AutoPromoteResumedReason}, "oncall resumed"},
		{"a retry after the pause is gone says nothing more", production(), resumed("broke", "oncall", true), Resume{}, ""},
		{"a retry of a stale resume says nothing more", production(pausedBy("newer")), resumed("broke", "oncall", true), Resume{}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := DecideResume(tc.env, tc.promo)
			msg := d.Message
			d.Message = ""
			if d != tc.want || !strings.Contains(msg, tc.says) || (tc.says == "") != (msg == "") {
				t.Errorf("DecideResume = %+v %q, want %+v saying %q", d, msg, tc.want, tc.says)
			}
		})
	}
}
