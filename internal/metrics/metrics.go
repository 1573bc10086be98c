package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Every label is bounded by the number of Environments (or a fixed set of
// words): never a Promotion's name, an image or a SHA, except
// baton_environment_info, which has one series per Environment.
var (
	// PromotionsTotal counts Promotions that reached a terminal phase.
	PromotionsTotal = newCounterVec("baton_promotions_total",
		"Promotions that reached a terminal phase, by namespace, environment and result (Succeeded, Failed, Canceled, Superseded).",
		"namespace", "environment", "result")

	// PhaseDuration observes how long Promotions spend in each phase.
	PhaseDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "baton_promotion_phase_duration_seconds",
		Help:    "Time a Promotion spent in a phase before leaving it, by namespace, environment and phase.",
		Buckets: durationBuckets,
	}, []string{"namespace", "environment", "phase"})

	// RollbacksTotal counts rollbacks that put an Environment back on an
	// earlier revision.
	RollbacksTotal = newCounterVec("baton_rollbacks_total",
		"Rollback Promotions that succeeded, by namespace, environment and trigger (manual or auto).",
		"namespace", "environment", "trigger")

	// ChangesTotal and ChangeFailuresTotal make the change failure rate.
	ChangesTotal = newCounterVec("baton_changes_total",
		"Forward Promotions (not rollbacks) that changed or tried to change an Environment: ended Succeeded or Failed.",
		"namespace", "environment")
	ChangeFailuresTotal = newCounterVec("baton_change_failures_total",
		"Changes that failed: a forward Promotion that ended Failed, or a Succeeded one a manual rollback undid.",
		"namespace", "environment")

	// LeadTime is the DORA lead time for changes.
	LeadTime = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "baton_lead_time_seconds",
		Help:    "From the source commit's time (or the image's verification upstream) to a forward Promotion's success here.",
		Buckets: durationBuckets,
	}, []string{"namespace", "environment"})

	// TimeToRestore is the DORA time to restore service.
	TimeToRestore = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "baton_time_to_restore_seconds",
		Help:    "From the first failed change since the last success (a failed Promotion, or a manual rollback's request) to the next success.",
		Buckets: durationBuckets,
	}, []string{"namespace", "environment"})

	// GitPushAttempts counts pushes of Promotion commits.
	GitPushAttempts = newCounterVec("baton_git_push_attempts_total",
		"Pushes of Promotion commits, by result: ok, conflict (the branch moved; retried on the new head) or error.",
		"result")

	// GitOperationDuration times the network Git operations of a delivery.
	RemoteClusterUp = newGaugeVec("baton_remote_cluster_up",
		"1 while the cache of a remote cluster (spec.cluster) runs and its API server answers, 0 while it does not answer, by namespace and kubeconfig Secret; absent when no Environment uses it.",
		"namespace", "secret")

	GitOperationDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "baton_git_operation_duration_seconds",
		Help:    "Time of one Git operation of a delivery, by op (fetch, push), whatever its result.",
		Buckets: prometheus.ExponentialBuckets(0.01, 2, 14), // 10ms to about 80s
	}, []string{"op"})
)

// durationBuckets span half a second to about 2 days: a phase, a lead time
// or a time to restore.
var durationBuckets = prometheus.ExponentialBuckets(0.5, 2, 19)

// all is every collector Baton registers.
var all = []prometheus.Collector{PromotionsTotal, PhaseDuration, RollbacksTotal, ChangesTotal, ChangeFailuresTotal,
	LeadTime, TimeToRestore, GitPushAttempts, GitOperationDuration, RemoteClusterUp,
	EnvironmentInfo, EnvironmentVerified, EnvironmentLastVerified, EnvironmentActiveSince, EnvironmentRolloutTimeout,
	NotificationsTotal, NotificationRetries, CommitStatusesTotal, CommitStatusRetries}

// The results of a push, baton_git_push_attempts_total's label values.
const (
	PushOK       = "ok"
	PushConflict = "conflict"
	PushError    = "error"
)

func init() {
	ctrlmetrics.Registry.MustRegister(all...)
	// Every result is exported from the start, at 0: a rate over them (the
	// push conflict alert) then has its series before the first conflict,
	// and the first conflict counts as an increase.
	for _, r := range []string{PushOK, PushConflict, PushError} {
		GitPushAttempts.WithLabelValues(r)
	}
}

// TimeGit starts timing one Git operation; call what it returns when the
// operation is done.
func TimeGit(op string) func() {
	t := prometheus.NewTimer(GitOperationDuration.WithLabelValues(op))
	return func() { t.ObserveDuration() }
}

func newCounterVec(name, help string, labels ...string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
}

func newGaugeVec(name, help string, labels ...string) *prometheus.GaugeVec {
	return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
}

var (
	// NotificationsTotal counts notifications by how they ended.
	NotificationsTotal = newCounterVec("baton_notifications_total",
		"Notifications of phase changes, by namespace, NotificationPolicy and result: sent, failed (after every retry), invalid (the policy or its Secret is wrong; see the log) or dropped (the queue was full; policy empty).",
		"namespace", "policy", "result")
	// NotificationRetries counts deliveries tried again after a failure.
	NotificationRetries = newCounterVec("baton_notification_retries_total",
		"Notification deliveries retried after the receiver failed or was unreachable, by namespace and NotificationPolicy.",
		"namespace", "policy")
	// CommitStatusesTotal counts commit statuses by how they ended.
	CommitStatusesTotal = newCounterVec("baton_commit_statuses_total",
		"Commit statuses on source commits, by namespace, provider (github, gitlab, gitea) and result: sent, rate_limited, unauthorized, rejected, unavailable (after every retry), invalid (spec.source.commitStatus or its Secret is wrong) or dropped (the queue was full).",
		"namespace", "provider", "result")
	// CommitStatusRetries counts commit-status calls tried again.
	CommitStatusRetries = newCounterVec("baton_commit_status_retries_total",
		"Commit-status calls tried again after the forge failed, was unreachable or rate-limited the call, by namespace and provider.",
		"namespace", "provider")
)
