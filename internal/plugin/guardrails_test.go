package plugin

import (
	"bytes"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	batonpromote "github.com/baton-dev/baton/internal/promote"
)

// TestWriteGuardrails is what `kubectl promote status ENV` prints under the
// Environment: the freezes in force on it, with who froze it and why, and
// each selected window, open or closed now and until when.
func TestWriteGuardrails(t *testing.T) {
	window := func(name string, typ batonv1alpha1.WindowType, mutate func(*batonv1alpha1.DeployWindowSpec)) batonv1alpha1.DeployWindow {
		dw := batonv1alpha1.DeployWindow{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, Labels: map[string]string{"team": "shop"}},
			Spec: batonv1alpha1.DeployWindowSpec{Type: typ, TimeZone: "Europe/Berlin", Duration: &metav1.Duration{Duration: 2 * time.Hour}}}
		mutate(&dw.Spec)
		return dw
	}
	// now is Thursday 2026-11-26 12:00 UTC, 13:00 in Berlin.
	lunch := window("lunch", batonv1alpha1.WindowDeny, func(s *batonv1alpha1.DeployWindowSpec) { s.Schedule = "0 12 * * *" })
	office := window("office-hours", batonv1alpha1.WindowAllow, func(s *batonv1alpha1.DeployWindowSpec) {
		s.Schedule, s.Duration = "0 9 * * MON-FRI", &metav1.Duration{Duration: 8 * time.Hour}
	})
	holiday := window("holiday", batonv1alpha1.WindowDeny, func(s *batonv1alpha1.DeployWindowSpec) {
		s.Duration, s.TimeZone = nil, ""
		s.Start, s.End = &metav1.Time{Time: time.Date(2026, 12, 24, 0, 0, 0, 0, time.UTC)}, &metav1.Time{Time: time.Date(2026, 12, 27, 0, 0, 0, 0, time.UTC)}
	})
	incident := batonpromote.Freeze{Kind: "Freeze", Namespace: "shop", Name: "incident-42", Sealed: true,
		Spec: batonv1alpha1.FreezeSpec{Environment: "production", Reason: "INC-42: checkout errors", FrozenBy: &batonv1alpha1.UserInfo{Username: "oncall"}, FrozenAt: ago(40 * time.Minute)}}
	lifted := incident
	lifted.Name, lifted.Spec.Lifted = "incident-41", true
	drill := batonpromote.Freeze{Kind: "ClusterFreeze", Name: "dr-drill", Sealed: false, Spec: batonv1alpha1.FreezeSpec{Reason: "DR drill"}}
	other := incident
	other.Name, other.Spec.Environment = "staging-only", "staging"

	for _, tc := range []struct {
		name    string
		g       guardrails
		windows *batonv1alpha1.WindowSelector
		pause   *batonv1alpha1.AutoPromotePause
	}{
		{name: "status_guardrails_none"},
		{
			name:    "status_guardrails",
			g:       guardrails{Guardrails: batonpromote.Guardrails{Windows: []batonv1alpha1.DeployWindow{lunch, office, holiday}, Freezes: []batonpromote.Freeze{incident, lifted, drill, other}}},
			windows: &batonv1alpha1.WindowSelector{Names: []string{"lunch", "office-hours", "holiday"}},
		},
		{
			name:    "status_guardrails_missing",
			g:       guardrails{Guardrails: batonpromote.Guardrails{Windows: []batonv1alpha1.DeployWindow{lunch}}, unreadable: []string{"freezes", "clusterfreezes"}},
			windows: &batonv1alpha1.WindowSelector{Names: []string{"lunch", "holiday"}},
		},
		{
			// spec.pauseOnFailure paused autoPromote: new (manual) Promotions
			// still start.
			name: "status_guardrails_paused",
			pause: &batonv1alpha1.AutoPromotePause{Since: *ago(25 * time.Minute), Result: batonv1alpha1.RevisionFailed,
				Promotion: batonv1alpha1.ObjectRef{Name: "production-auto-5f0c1d2e3a", UID: "u"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := fixtureEnvironment()
			env.Spec.DeployWindows = tc.windows
			if tc.pause != nil {
				env.Spec.PauseOnFailure, env.Status.AutoPromotePause = true, tc.pause
			}
			var out bytes.Buffer
			if err := writeGuardrails(&out, tc.g, env, now); err != nil {
				t.Fatal(err)
			}
			golden(t, tc.name, out.Bytes())
		})
	}
}
