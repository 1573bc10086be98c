package plugin

import (
	"fmt"
	"io"
	"time"

	"k8s.io/apimachinery/pkg/util/duration"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/release"
)

// writeRelease prints the line of p's release Job, when it runs one: its
// name and where it is. env may be nil.
func writeRelease(w io.Writer, prefix string, p *batonv1alpha1.Promotion, env *batonv1alpha1.Environment, now time.Time) {
	if s := releaseState(p, env, now); s != "" {
		fmt.Fprintf(w, "%sRelease Job:\t%s\n", prefix, s)
	}
}

// releaseState is the release Job of p in words, "" when p runs none.
func releaseState(p *batonv1alpha1.Promotion, env *batonv1alpha1.Environment, now time.Time) string {
	r := p.Status.Release
	if r == nil {
		if p.Status.Phase == batonv1alpha1.PromotionReleasing {
			return release.JobName(p.Name) + "  being created"
		}
		return ""
	}
	switch r.Result {
	case batonv1alpha1.ReleaseRunning:
		timeout := release.DefaultTimeout
		if env != nil {
			timeout = release.Timeout(env)
		}
		return fmt.Sprintf("%s  Running (for %s, timeout %s)", r.Job, age(r.StartedAt, now), timeout)
	case batonv1alpha1.ReleaseSucceeded:
		if r.StartedAt != nil && r.FinishedAt != nil {
			return fmt.Sprintf("%s  Succeeded (took %s)", r.Job, duration.HumanDuration(r.FinishedAt.Sub(r.StartedAt.Time)))
		}
		return r.Job + "  Succeeded"
	}
	return fmt.Sprintf("%s  %s: %s", r.Job, r.Result, orText(r.Message, "no message"))
}
