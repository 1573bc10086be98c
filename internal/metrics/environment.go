package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
)

// The Environment gauges mirror each Environment's status as the
// Environment reconciler last wrote or read it: one series per Environment,
// replaced (not added to) when the image or revision changes.
var (
	// EnvironmentInfo is 1 for the image and revision an Environment runs.
	EnvironmentInfo = newGaugeVec("baton_environment_info",
		"Always 1: the image and revision an Environment runs now (status.current).",
		"namespace", "environment", "image", "revision")

	// EnvironmentVerified is 1 when the Environment's Verified condition is True.
	EnvironmentVerified = newGaugeVec("baton_environment_verified",
		"1 when the Environment has verified the image it runs (condition Verified is True), else 0.",
		"namespace", "environment")

	// EnvironmentLastVerified is when the newest verified image was verified.
	EnvironmentLastVerified = newGaugeVec("baton_environment_last_verified_timestamp_seconds",
		"Unix time the Environment last verified an image (the newest status.verifiedImages entry).",
		"namespace", "environment")

	// EnvironmentActiveSince is when the change of the lease holder began.
	EnvironmentActiveSince = newGaugeVec("baton_environment_active_promotion_started_timestamp_seconds",
		"Unix time the Promotion holding the Environment's lease started its change; absent when none holds it.",
		"namespace", "environment")

	// EnvironmentRolloutTimeout is spec.rollout.timeout, for the stuck alert.
	EnvironmentRolloutTimeout = newGaugeVec("baton_environment_rollout_timeout_seconds",
		"The Environment's spec.rollout.timeout in seconds; absent when it has none.",
		"namespace", "environment")
)

// The triggers of a rollback, baton_rollbacks_total's label values.
const (
	RollbackManual = "manual"
	RollbackAuto   = "auto"
)

// ObserveEnvironment sets the Environment gauges from env, and makes sure
// its counters exist: each of their label values is exported at 0 from the
// first time the Environment is seen, so that the first Promotion, failure
// or rollback counts as an increase (a series that appears at 1 adds
// nothing to increase()), and an alert such as two automatic rollbacks in
// an hour fires on the second.
func ObserveEnvironment(env *batonv1alpha1.Environment) {
	ForgetEnvironment(env.Namespace, env.Name)
	ns, name := env.Namespace, env.Name
	for _, result := range []batonv1alpha1.PromotionPhase{batonv1alpha1.PromotionSucceeded, batonv1alpha1.PromotionFailed,
		batonv1alpha1.PromotionCanceled, batonv1alpha1.PromotionSuperseded} {
		PromotionsTotal.WithLabelValues(ns, name, string(result))
	}
	RollbacksTotal.WithLabelValues(ns, name, RollbackManual)
	RollbacksTotal.WithLabelValues(ns, name, RollbackAuto)
	ChangesTotal.WithLabelValues(ns, name)
	ChangeFailuresTotal.WithLabelValues(ns, name)
	if cur := env.Status.Current; cur != nil {
		EnvironmentInfo.WithLabelValues(ns, name, cur.Image, strconv.FormatInt(cur.Revision, 10)).Set(1)
	}
	verified := 0.0
	if apimeta.IsStatusConditionTrue(env.Status.Conditions, batonv1alpha1.VerifiedCondition) {
		verified = 1
	}
	EnvironmentVerified.WithLabelValues(ns, name).Set(verified)
	if n := len(env.Status.VerifiedImages); n > 0 {
		EnvironmentLastVerified.WithLabelValues(ns, name).Set(unix(env.Status.VerifiedImages[n-1].VerifiedAt))
	}
	if started := activeStart(env); started != nil {
		EnvironmentActiveSince.WithLabelValues(ns, name).Set(unix(*started))
	}
	if t := env.Spec.Rollout.Timeout; t != nil {
		EnvironmentRolloutTimeout.WithLabelValues(ns, name).Set(t.Seconds())
	}
}

// ForgetEnvironment drops every gauge series of an Environment, when it is
// deleted or before its new values are set.
func ForgetEnvironment(namespace, name string) {
	labels := prometheus.Labels{"namespace": namespace, "environment": name}
	for _, g := range []*prometheus.GaugeVec{EnvironmentInfo, EnvironmentVerified, EnvironmentLastVerified, EnvironmentActiveSince, EnvironmentRolloutTimeout} {
		g.DeletePartialMatch(labels)
	}
}

// activeStart is when the lease holder's history entry started.
func activeStart(env *batonv1alpha1.Environment) *metav1.Time {
	a := env.Status.ActivePromotion
	if a == nil {
		return nil
	}
	for i := len(env.Status.History) - 1; i >= 0; i-- {
		h := env.Status.History[i]
		if h.Promotion != nil && h.Promotion.UID == a.UID && h.StartedAt != nil {
			return h.StartedAt
		}
	}
	return nil
}

func unix(t metav1.Time) float64 { return float64(t.UnixNano()) / 1e9 }
