package promote

import (
	"fmt"
	"time"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/image"
)

// Watch is spec.rollout.watch: how long a Promotion stays Verifying after
// its rollout completed; zero means no watch.
func Watch(env *batonv1alpha1.Environment) time.Duration {
	if w := env.Spec.Rollout.Watch; w != nil && w.Duration > 0 {
		return w.Duration
	}
	return 0
}

// watches: a forward Promotion into an Environment with a watch. A rollback
// is not watched: nothing would roll it back again.
func watches(p *batonv1alpha1.Promotion, env *batonv1alpha1.Environment) bool {
	return Watch(env) > 0 && !IsRollback(p)
}

// startWatch moves a Promotion whose rollout completed to Verifying, still
// holding the lease.
func (x *decider) startWatch(rolledOut string) {
	watch := Watch(x.env)
	x.setPhase(batonv1alpha1.PromotionVerifying, batonv1alpha1.WatchingReason,
		fmt.Sprintf("%s; watching the checks of spec.verification for spec.rollout.watch (%s): a breach fails the Promotion", rolledOut, watch))
	x.d.RequeueAfter = watch
}

// verifying reads the checks the Environment reconciler evaluates (it is
// the only one that queries, once per interval): a breach of a check for
// this image fails the Promotion with CheckFailed, and with autoRollback
// rolls back; a rollout that fails meanwhile fails it too. A check that
// cannot be evaluated (Prometheus unreachable) fails nothing. Once the
// watch has passed, the Promotion succeeds.
func (x *decider) verifying() {
	p, env := x.p, x.env
	if msg, ok := breachedCheck(p, env); ok {
		x.closeOut(batonv1alpha1.PromotionFailed, batonv1alpha1.CheckFailedReason,
			fmt.Sprintf("A check breached during spec.rollout.watch in Environment %q: %s", env.Name, msg))
		return
	}
	if v := JudgeRollout(p, env, "", x.in.Now); v.Phase == batonv1alpha1.PromotionFailed && v.Reason == batonv1alpha1.RolloutFailedReason {
		x.closeOut(v.Phase, v.Reason, v.Message)
		return
	}
	end := x.in.Now
	if p.Status.PhaseSince != nil {
		end = p.Status.PhaseSince.Add(Watch(env))
	}
	if x.in.Now.Before(end) {
		x.d.RequeueAfter = end.Sub(x.in.Now)
		return
	}
	x.closeOut(batonv1alpha1.PromotionSucceeded, batonv1alpha1.SucceededReason,
		fmt.Sprintf("Environment %q runs %s as revision %d, and no check breached during spec.rollout.watch (%s)", env.Name, p.Status.Image, p.Status.Revision, Watch(env)))
}

// breachedCheck is the message of a check that breached for the
// Promotion's image.
func breachedCheck(p *batonv1alpha1.Promotion, env *batonv1alpha1.Environment) (string, bool) {
	v := env.Status.Verification
	if v == nil || !image.Same(v.Image, "", p.Status.Image, p.Status.Digest) {
		return "", false
	}
	for _, c := range v.Checks {
		if c.Breached {
			return c.Message, true
		}
	}
	return "", false
}
