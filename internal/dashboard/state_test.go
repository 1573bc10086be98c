package dashboard

import (
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/testing/builder"
)

func TestDepthsFollowUpstream(t *testing.T) {
	env := func(name, upstream string) batonv1alpha1.Environment {
		return *builder.Environment("web", name).Upstream(upstream).Build()
	}
	cases := []struct {
		name string
		envs []batonv1alpha1.Environment
		want map[string]int
	}{
		{"a chain", []batonv1alpha1.Environment{env("production", "canary"), env("staging", ""), env("canary", "staging")},
			map[string]int{"staging": 0, "canary": 1, "production": 2}},
		{"two downstream of one", []batonv1alpha1.Environment{env("eu", "staging"), env("us", "staging"), env("staging", "")},
			map[string]int{"staging": 0, "eu": 1, "us": 1}},
		{"an upstream that does not exist", []batonv1alpha1.Environment{env("production", "gone")},
			map[string]int{"production": 0}},
		{"a cycle ends", []batonv1alpha1.Environment{env("a", "b"), env("b", "a")},
			map[string]int{"a": 1, "b": 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := depths(tc.envs)
			for name, want := range tc.want {
				if got[name] != want {
					t.Errorf("depth of %s = %d, want %d (all: %v)", name, got[name], want, got)
				}
			}
		})
	}
}

func TestBuildStateSortsEachEnvironmentsPromotions(t *testing.T) {
	prod := *builder.Environment("web", "production").Upstream("staging").RequiredApprovals(1).Build()
	prod.Status.ActivePromotion = &batonv1alpha1.ObjectRef{Name: "rolling"}
	at := func(min int) metav1.Time { return metav1.NewTime(time.Date(2026, 12, 1, 10, min, 0, 0, time.UTC)) }
	promo := func(name string, phase batonv1alpha1.PromotionPhase, created int, rollback bool) batonv1alpha1.Promotion {
		b := builder.Promotion("web", name).Environment("production")
		if rollback {
			b = b.Rollback(0)
		}
		p := *b.Build()
		p.CreationTimestamp = at(created)
		p.Status.Phase = phase
		return p
	}
	snap := snapshot{
		namespace:    "web",
		environments: []batonv1alpha1.Environment{prod, *builder.Environment("web", "staging").Build()},
		promotions: []batonv1alpha1.Promotion{
			promo("old-done", batonv1alpha1.PromotionSucceeded, 1, false),
			promo("waiting", batonv1alpha1.PromotionWaitingForApproval, 2, false),
			promo("rolling", batonv1alpha1.PromotionRollingOut, 3, false),
			promo("rollback", batonv1alpha1.PromotionQueued, 4, true),
			promo("new-done", batonv1alpha1.PromotionFailed, 5, false),
			*builder.Promotion("web", "elsewhere").Environment("staging").Build(),
		},
		events: []corev1.Event{
			{InvolvedObject: corev1.ObjectReference{Kind: "Promotion", Name: "waiting"}, Reason: "Older", LastTimestamp: at(1)},
			{InvolvedObject: corev1.ObjectReference{Kind: "Environment", Name: "production"}, Reason: "Newer", LastTimestamp: at(2)},
			{InvolvedObject: corev1.ObjectReference{Kind: "Promotion", Name: "elsewhere"}, Reason: "NotMine", LastTimestamp: at(3)},
		},
		permissions: map[string]Permissions{"production": {Approve: true}},
	}
	st := buildState(snap)
	if names := []string{st.Environments[0].Name, st.Environments[1].Name}; !slices.Equal(names, []string{"staging", "production"}) {
		t.Fatalf("order %v, want staging first", names)
	}
	p := st.Environments[1]
	if p.Active == nil || p.Active.Name != "rolling" {
		t.Fatalf("active %+v, want the lease holder", p.Active)
	}
	var queued, recent, events []string
	for _, q := range p.Queued {
		queued = append(queued, q.Name)
	}
	for _, r := range p.Recent {
		recent = append(recent, r.Name)
	}
	for _, e := range p.Events {
		events = append(events, e.Reason)
	}
	if !slices.Equal(queued, []string{"rollback", "waiting"}) {
		t.Errorf("queued %v, want rollbacks first, as the engine takes them", queued)
	}
	if !slices.Equal(recent, []string{"new-done", "old-done"}) {
		t.Errorf("recent %v, want newest first", recent)
	}
	if !slices.Equal(events, []string{"Newer", "Older"}) {
		t.Errorf("events %v, want the production ones, newest first", events)
	}
	if !p.Queued[1].Approvable || p.Queued[0].Approvable {
		t.Errorf("approvable: %+v", p.Queued)
	}
	if !p.Can.Approve || st.Environments[0].Can.Approve {
		t.Errorf("permissions: %+v / %+v", p.Can, st.Environments[0].Can)
	}
}
