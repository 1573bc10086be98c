package promote

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
)

func deployWindow(name string, typ batonv1alpha1.WindowType, schedule string, d time.Duration, tune ...func(*batonv1alpha1.DeployWindow)) batonv1alpha1.DeployWindow {
	w := batonv1alpha1.DeployWindow{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name},
		Spec: batonv1alpha1.DeployWindowSpec{Type: typ, Schedule: schedule, Duration: &metav1.Duration{Duration: d}, TimeZone: "Europe/Berlin"}}
	for _, f := range tune {
		f(&w)
	}
	return w
}

func selecting(names ...string) func(*batonv1alpha1.Environment) {
	return func(e *batonv1alpha1.Environment) { e.Spec.DeployWindows = &batonv1alpha1.WindowSelector{Names: names} }
}

func freeze(ns, env string, tune ...func(*Freeze)) Freeze {
	f := Freeze{Kind: "Freeze", Namespace: ns, Name: "incident-42", Sealed: true, Spec: batonv1alpha1.FreezeSpec{
		Environment: env, Reason: "payment outage", FrozenBy: &batonv1alpha1.UserInfo{Username: "oncall"}}}
	for _, t := range tune {
		t(&f)
	}
	return f
}

func overridden(p *batonv1alpha1.Promotion) {
	p.Spec.Override = &batonv1alpha1.OverrideSpec{Reason: "hotfix for the outage"}
	p.Spec.OverriddenBy = &batonv1alpha1.UserInfo{Username: "oncall"}
}

type holdCase struct {
	name  string
	in    Input
	now   time.Time
	want  want
	until time.Duration // RequeueAfter; 0 when none is expected
}

// TestHold: windows and freezes hold a Queued Promotion with a message that
// names them and when they end, and it looks again exactly at the boundary.
// now is Tuesday 2026-12-01 13:00 in Berlin (12:00 UTC).
func TestHold(t *testing.T) {
	queued := promotion("p", batonv1alpha1.PromotionQueued)
	// Every day 12:30 to 14:00 Berlin: open at 13:00.
	lunch := deployWindow("lunch", batonv1alpha1.WindowDeny, "30 12 * * *", 90*time.Minute, func(w *batonv1alpha1.DeployWindow) { w.Spec.Reason = "lunch traffic" })
	// Weekdays 09:00 to 12:00 Berlin: closed at 13:00, next Wednesday 09:00.
	mornings := deployWindow("mornings", batonv1alpha1.WindowAllow, "0 9 * * 1-5", 3*time.Hour)
	afternoons := deployWindow("afternoons", batonv1alpha1.WindowAllow, "0 12 * * 1-5", 4*time.Hour)
	holiday := deployWindow("holiday-freeze", batonv1alpha1.WindowDeny, "", 0, func(w *batonv1alpha1.DeployWindow) {
		w.Spec.Duration = nil
		w.Spec.Start = &metav1.Time{Time: time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)}
		w.Spec.End = &metav1.Time{Time: time.Date(2026, 12, 26, 23, 0, 0, 0, time.UTC)}
	})
	// ran web2 as revision 2: a rollback returns to web1.
	ranWeb2 := func(e *batonv1alpha1.Environment) {
		e.Status.History = append(e.Status.History, batonv1alpha1.Revision{Revision: 2, Image: web2, Result: batonv1alpha1.RevisionSucceeded})
		e.Status.Current = &batonv1alpha1.CurrentImage{Image: web2, Revision: 2}
	}
	undo := promotion("undo", batonv1alpha1.PromotionQueued, func(p *batonv1alpha1.Promotion) {
		p.Spec.Rollback, p.Status.Image, p.Spec.Reason = &batonv1alpha1.RollbackSpec{}, web1, "web2 is slow"
	})
	leased := func(t *testing.T, d Decision) {
		t.Helper()
		if d.Environment == nil || d.Environment.ActivePromotion == nil {
			t.Fatalf("no lease granted")
		}
	}
	cases := []holdCase{
		{name: "an open deny window holds it until the window ends, and it looks again then",
			in:    Input{Promotion: queued, Upstream: staging(), Environment: production(selecting("lunch")), Guardrails: Guardrails{Windows: []batonv1alpha1.DeployWindow{lunch}}},
			want:  want{phase: batonv1alpha1.PromotionQueued, reason: batonv1alpha1.DeployWindowReason, mentions: []string{"deny window lunch until 2026-12-01T14:00 Europe/Berlin: lunch traffic", "verb override on environments/production"}},
			until: time.Hour},
		{name: "at the boundary it takes the lease",
			in:  Input{Promotion: queued, Upstream: staging(), Environment: production(selecting("lunch")), Guardrails: Guardrails{Windows: []batonv1alpha1.DeployWindow{lunch}}},
			now: now.Add(time.Hour), want: want{phase: batonv1alpha1.PromotionPromoting, envWritten: true, check: leased}},
		{name: "a fixed holiday window names its end in its zone",
			in:    Input{Promotion: queued, Upstream: staging(), Environment: production(selecting("holiday-freeze")), Guardrails: Guardrails{Windows: []batonv1alpha1.DeployWindow{holiday}}},
			want:  want{phase: batonv1alpha1.PromotionQueued, reason: batonv1alpha1.DeployWindowReason, mentions: []string{"deny window holiday-freeze until 2026-12-27T00:00 Europe/Berlin"}},
			until: time.Date(2026, 12, 26, 23, 0, 0, 0, time.UTC).Sub(now)},
		{name: "outside every allow window: held until the next one opens",
			in:    Input{Promotion: queued, Upstream: staging(), Environment: production(selecting("mornings")), Guardrails: Guardrails{Windows: []batonv1alpha1.DeployWindow{mornings}}},
			want:  want{phase: batonv1alpha1.PromotionQueued, reason: batonv1alpha1.DeployWindowReason, mentions: []string{"outside every allow window (mornings) until allow window mornings opens at 2026-12-02T09:00 Europe/Berlin"}},
			until: 20 * time.Hour},
		{name: "inside one of two allow windows: it starts",
			in:   Input{Promotion: queued, Upstream: staging(), Environment: production(selecting("mornings", "afternoons")), Guardrails: Guardrails{Windows: []batonv1alpha1.DeployWindow{mornings, afternoons}}},
			want: want{phase: batonv1alpha1.PromotionPromoting, envWritten: true, check: leased}},
		{name: "a deny window wins over an open allow window",
			in:   Input{Promotion: queued, Upstream: staging(), Environment: production(selecting("afternoons", "lunch")), Guardrails: Guardrails{Windows: []batonv1alpha1.DeployWindow{afternoons, lunch}}},
			want: want{phase: batonv1alpha1.PromotionQueued, reason: batonv1alpha1.DeployWindowReason, mentions: []string{"deny window lunch"}}, until: time.Hour},
		{name: "a selector picks windows by label",
			in: Input{Promotion: queued, Upstream: staging(), Environment: production(func(e *batonv1alpha1.Environment) {
				e.Spec.DeployWindows = &batonv1alpha1.WindowSelector{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "shop"}}}
			}), Guardrails: Guardrails{Windows: []batonv1alpha1.DeployWindow{mornings, deployWindow("lunch", batonv1alpha1.WindowDeny, "30 12 * * *", 90*time.Minute, func(w *batonv1alpha1.DeployWindow) { w.Labels = map[string]string{"team": "shop"} })}}},
			want: want{phase: batonv1alpha1.PromotionQueued, reason: batonv1alpha1.DeployWindowReason, mentions: []string{"deny window lunch"}}, until: time.Hour},
		{name: "a named window that does not exist holds it, naming the field",
			in:   Input{Promotion: queued, Upstream: staging(), Environment: production(selecting("lunch", "nights")), Guardrails: Guardrails{Windows: []batonv1alpha1.DeployWindow{lunch}}},
			want: want{phase: batonv1alpha1.PromotionQueued, reason: batonv1alpha1.WindowNotFoundReason, mentions: []string{`spec.deployWindows.names[1]: DeployWindow "nights" does not exist`}}},
		{name: "a selector that matches nothing holds it, naming the field",
			in: Input{Promotion: queued, Upstream: staging(), Environment: production(func(e *batonv1alpha1.Environment) {
				e.Spec.DeployWindows = &batonv1alpha1.WindowSelector{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "nobody"}}}
			}), Guardrails: Guardrails{Windows: []batonv1alpha1.DeployWindow{lunch}}},
			want: want{phase: batonv1alpha1.PromotionQueued, reason: batonv1alpha1.WindowNotFoundReason, mentions: []string{"spec.deployWindows.selector \"team=nobody\" matches no DeployWindow"}}},
		{name: "a window stored behind the webhook that cannot be read holds it",
			in: Input{Promotion: queued, Upstream: staging(), Environment: production(selecting("bad")), Guardrails: Guardrails{Windows: []batonv1alpha1.DeployWindow{
				deployWindow("bad", batonv1alpha1.WindowDeny, "not cron", time.Hour)}}},
			want: want{phase: batonv1alpha1.PromotionQueued, reason: batonv1alpha1.WindowInvalidReason, mentions: []string{"DeployWindow bad cannot be evaluated"}}},
		{name: "a freeze of the Environment holds it, naming who and why",
			in:   Input{Promotion: queued, Upstream: staging(), Environment: production(), Guardrails: Guardrails{Freezes: []Freeze{freeze("shop", "production")}}},
			want: want{phase: batonv1alpha1.PromotionQueued, reason: batonv1alpha1.FrozenReason, mentions: []string{"Freeze shop/incident-42 (by oncall): payment outage", "rollbacks still run"}}},
		{name: "a namespace freeze holds it",
			in:   Input{Promotion: queued, Upstream: staging(), Environment: production(), Guardrails: Guardrails{Freezes: []Freeze{freeze("shop", "")}}},
			want: want{phase: batonv1alpha1.PromotionQueued, reason: batonv1alpha1.FrozenReason}},
		{name: "a ClusterFreeze holds it",
			in:   Input{Promotion: queued, Upstream: staging(), Environment: production(), Guardrails: Guardrails{Freezes: []Freeze{freeze("", "", func(f *Freeze) { f.Kind, f.Name = "ClusterFreeze", "dr-drill" })}}},
			want: want{phase: batonv1alpha1.PromotionQueued, reason: batonv1alpha1.FrozenReason, mentions: []string{"ClusterFreeze dr-drill (by oncall)"}}},
		{name: "an unsealed freeze still holds it, and its frozenBy is not believed",
			in:   Input{Promotion: queued, Upstream: staging(), Environment: production(), Guardrails: Guardrails{Freezes: []Freeze{freeze("shop", "", func(f *Freeze) { f.Sealed = false })}}},
			want: want{phase: batonv1alpha1.PromotionQueued, reason: batonv1alpha1.FrozenReason, mentions: []string{"by an unverified user"}}},
		{name: "a freeze of another Environment, another namespace or a lifted one does not hold it",
			in: Input{Promotion: queued, Upstream: staging(), Environment: production(), Guardrails: Guardrails{Freezes: []Freeze{
				freeze("shop", "staging"), freeze("other", ""), freeze("shop", "", func(f *Freeze) { f.Spec.Lifted = true })}}},
			want: want{phase: batonv1alpha1.PromotionPromoting, envWritten: true, check: leased}},
		{name: "a rollback runs during a freeze and a deny window",
			in:   Input{Promotion: undo, Environment: production(ranWeb2, selecting("lunch")), Guardrails: Guardrails{Windows: []batonv1alpha1.DeployWindow{lunch}, Freezes: []Freeze{freeze("shop", "")}}},
			want: want{phase: batonv1alpha1.PromotionPromoting, envWritten: true, check: leased}},
		{name: "with freeze.blockRollbacks a rollback waits too",
			in:   Input{Promotion: undo, Environment: production(ranWeb2, func(e *batonv1alpha1.Environment) { e.Spec.Freeze.BlockRollbacks = true }), Guardrails: Guardrails{Freezes: []Freeze{freeze("shop", "")}}},
			want: want{phase: batonv1alpha1.PromotionQueued, reason: batonv1alpha1.FrozenReason, mentions: []string{"rollbacks wait too"}}},
		{name: "a break-glass override starts during a freeze and a deny window, and is on the record",
			in: Input{Promotion: promotion("p", batonv1alpha1.PromotionQueued, overridden), Upstream: staging(),
				Environment: production(selecting("lunch")), Guardrails: Guardrails{Windows: []batonv1alpha1.DeployWindow{lunch}, Freezes: []Freeze{freeze("shop", "")}}},
			want: want{phase: batonv1alpha1.PromotionPromoting, envWritten: true, check: func(t *testing.T, d Decision) {
				leased(t, d)
				rev := d.Environment.History[len(d.Environment.History)-1]
				if rev.OverriddenBy != "oncall" || rev.OverrideReason != "hotfix for the outage" {
					t.Errorf("history entry %+v does not record the override", rev)
				}
				if !hasEvent(d, batonv1alpha1.OverriddenReason, "Break-glass override by oncall", "hotfix for the outage", "frozen by Freeze shop/incident-42") {
					t.Errorf("events %+v, want an Overridden one naming who, why and what it set aside", d.Events)
				}
			}}},
		{name: "an override goes past a held Promotion ahead of it in the queue",
			in: Input{Promotion: promotion("p", batonv1alpha1.PromotionQueued, overridden), Upstream: staging(),
				Environment: production(), Guardrails: Guardrails{Freezes: []Freeze{freeze("shop", "")}},
				Queue: []batonv1alpha1.Promotion{*promotion("older", batonv1alpha1.PromotionQueued, func(p *batonv1alpha1.Promotion) { p.CreationTimestamp = metav1.NewTime(now.Add(-time.Hour)) })}},
			want: want{phase: batonv1alpha1.PromotionPromoting, envWritten: true, check: leased}},
		{name: "an override field without the webhook's stamp is not an override",
			in: Input{Promotion: promotion("p", batonv1alpha1.PromotionQueued, func(p *batonv1alpha1.Promotion) { p.Spec.Override = &batonv1alpha1.OverrideSpec{Reason: "x"} }), Upstream: staging(),
				Environment: production(), Guardrails: Guardrails{Freezes: []Freeze{freeze("shop", "")}}},
			want: want{phase: batonv1alpha1.PromotionQueued, reason: batonv1alpha1.FrozenReason}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			in.Now = now
			if !tc.now.IsZero() {
				in.Now = tc.now
			}
			d := Decide(in)
			tc.want.assert(t, d)
			if d.RequeueAfter != tc.until {
				t.Errorf("RequeueAfter = %v, want %v", d.RequeueAfter, tc.until)
			}
		})
	}
}

func hasEvent(d Decision, reason string, says ...string) bool {
	for _, e := range d.Events {
		if e.Reason != reason {
			continue
		}
		all := true
		for _, s := range says {
			all = all && strings.Contains(e.Message, s)
		}
		if all {
			return true
		}
	}
	return false
}
