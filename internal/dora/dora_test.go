package dora

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/promote"
)

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

func at(m int) *metav1.Time { t := metav1.NewTime(t0.Add(time.Duration(m) * time.Minute)); return &t }

func rev(result batonv1alpha1.RevisionResult, started, finished int) batonv1alpha1.Revision {
	return batonv1alpha1.Revision{Result: result, StartedAt: at(started), FinishedAt: at(finished)}
}

func TestRestoreStart(t *testing.T) {
	ok, failed, adopted := batonv1alpha1.RevisionSucceeded, batonv1alpha1.RevisionFailed, batonv1alpha1.RevisionAdopted
	for _, tc := range []struct {
		name    string
		history []batonv1alpha1.Revision
		manual  bool
		want    *metav1.Time
	}{
		{"a success after a success restores nothing", []batonv1alpha1.Revision{rev(adopted, 0, 0), rev(ok, 1, 2), rev(ok, 3, 4)}, false, nil},
		{"from the one failure", []batonv1alpha1.Revision{rev(adopted, 0, 0), rev(failed, 1, 2), rev(ok, 3, 4)}, false, at(2)},
		{"from the first of two failures", []batonv1alpha1.Revision{rev(ok, 0, 1), rev(failed, 2, 3), rev(batonv1alpha1.RevisionSuperseded, 4, 5), rev(failed, 6, 7), rev(ok, 8, 9)}, false, at(3)},
		{"not past the last success", []batonv1alpha1.Revision{rev(failed, 0, 1), rev(ok, 2, 3), rev(failed, 4, 5), rev(ok, 6, 7)}, false, at(5)},
		{"a manual rollback with no failure: from its start", []batonv1alpha1.Revision{rev(adopted, 0, 0), rev(batonv1alpha1.RevisionRolledBack, 1, 2), rev(ok, 5, 8)}, true, at(5)},
		{"a manual rollback after a failure: from the failure", []batonv1alpha1.Revision{rev(ok, 0, 1), rev(failed, 2, 3), rev(ok, 5, 8)}, true, at(3)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, found := RestoreStart(tc.history, len(tc.history)-1, tc.manual)
			if found != (tc.want != nil) || (found && !got.Equal(tc.want.Time)) {
				t.Fatalf("RestoreStart = %v, %v; want %v", got, found, tc.want)
			}
		})
	}
}

func TestLeadTimeStart(t *testing.T) {
	upstream := &batonv1alpha1.Environment{Status: batonv1alpha1.EnvironmentStatus{VerifiedImages: []batonv1alpha1.VerifiedImage{
		{Image: "registry.example.com/web:1", VerifiedAt: *at(10)},
	}}}
	promo := func(by, committedAt string, rollback bool) *batonv1alpha1.Promotion {
		p := &batonv1alpha1.Promotion{}
		p.Spec.RequestedBy = &batonv1alpha1.UserInfo{Username: by}
		p.Status.Image = "registry.example.com/web:1"
		if committedAt != "" {
			p.Annotations = map[string]string{batonv1alpha1.SourceCommittedAtAnnotation: committedAt}
		}
		if rollback {
			p.Spec.Rollback = &batonv1alpha1.RollbackSpec{}
		}
		return p
	}
	commit := t0.Add(-time.Hour).Format(time.RFC3339)
	for _, tc := range []struct {
		name     string
		p        *batonv1alpha1.Promotion
		upstream *batonv1alpha1.Environment
		want     *metav1.Time
	}{
		{"spec.source's Promotion: from the commit", promo(promote.ControllerUser, commit, false), nil, &metav1.Time{Time: t0.Add(-time.Hour)}},
		// Behind the admission webhook, the requester of spec.source's
		// Promotions is the manager's own user; only it may write the
		// annotation (identity.CheckMetadata).
		{"spec.source's Promotion behind the webhook: from the commit", promo("system:serviceaccount:baton-system:baton-controller-manager", commit, false), upstream, &metav1.Time{Time: t0.Add(-time.Hour)}},
		{"downstream: from the upstream's verification", promo("alice", "", false), upstream, at(10)},
		{"an entry Environment without a source has none", promo("alice", "", false), nil, nil},
		{"a rollback is not a change", promo("oncall", "", true), upstream, nil},
		{"an unreadable commit time falls back to the upstream", promo(promote.ControllerUser, "yesterday", false), upstream, at(10)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, found := LeadTimeStart(tc.p, tc.upstream)
			if found != (tc.want != nil) || (found && !got.Equal(tc.want.Time)) {
				t.Fatalf("LeadTimeStart = %v, %v; want %v", got, found, tc.want)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	img := func(r batonv1alpha1.Revision, image string, rollback bool) batonv1alpha1.Revision {
		r.Image, r.Rollback = image, rollback
		return r
	}
	upstream := &batonv1alpha1.Environment{Status: batonv1alpha1.EnvironmentStatus{VerifiedImages: []batonv1alpha1.VerifiedImage{
		{Image: "web:1", VerifiedAt: *at(0)}, {Image: "web:2", VerifiedAt: *at(60)},
	}}}
	env := &batonv1alpha1.Environment{Status: batonv1alpha1.EnvironmentStatus{History: []batonv1alpha1.Revision{
		img(rev(batonv1alpha1.RevisionAdopted, 0, 0), "web:0", false),
		img(rev(batonv1alpha1.RevisionSucceeded, 30, 40), "web:1", false),    // lead 40m
		img(rev(batonv1alpha1.RevisionFailed, 70, 80), "web:2", false),       // a failure at 80
		img(rev(batonv1alpha1.RevisionSucceeded, 80, 90), "web:1", true),     // auto rollback: restored in 10m
		img(rev(batonv1alpha1.RevisionRolledBack, 100, 120), "web:2", false), // re-shipped: lead 60m, later undone
		img(rev(batonv1alpha1.RevisionSucceeded, 130, 135), "web:1", true),   // manual rollback: 5m
	}}}
	s := Summarize(env, upstream, t0.Add(24*time.Hour+30*time.Minute))
	want := "4 deploys in 24h0m (4.0/day), lead time 1h0m (median of 2), change failure rate 67% (2 of 3), time to restore 7m30s (mean of 2); over the last 5 revisions"
	if got := s.String(); got != want {
		t.Fatalf("summary:\n got %s\nwant %s", got, want)
	}
	if got := Summarize(&batonv1alpha1.Environment{}, nil, t0).String(); got != "no revisions made by Baton yet" {
		t.Fatalf("empty summary: %s", got)
	}
}
