package controllers

import (
	"context"

	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/commitstatus"
	"github.com/baton-dev/baton/internal/dora"
	"github.com/baton-dev/baton/internal/metrics"
	"github.com/baton-dev/baton/internal/notify"
	"github.com/baton-dev/baton/internal/promote"
)

// observe follows a written Decision, like emit: one audit line per phase
// change and, for a terminal phase, the delivery (DORA) metrics. It runs
// once per write that succeeded, so a Conflict (which discards the
// Decision) never audits or counts twice.
func (r *PromotionReconciler) observe(ctx context.Context, in promote.Input, promo *batonv1alpha1.Promotion, d promote.Decision) {
	r.auditPause(ctx, in.Environment, d.Environment)
	from := in.Promotion.Status.Phase
	if from == promo.Status.Phase {
		return
	}
	r.audit(ctx, from, promo)
	if d.Finished == "" {
		return
	}
	env := in.Environment
	if env != nil && d.Environment != nil {
		env = env.DeepCopy()
		env.Status = *d.Environment
	}
	r.countDelivery(ctx, promo, env, d.Finished)
}

// audit writes the one structured line a log pipeline keeps for each phase
// change: who, what, where, from which image to which, with which approvals
// and commit, and why. Everything in it is already in the Promotion's
// status; no Secret is ever read here. The same facts go to the
// NotificationPolicies.
func (r *PromotionReconciler) audit(ctx context.Context, from batonv1alpha1.PromotionPhase, promo *batonv1alpha1.Promotion) {
	ev := notify.EventOf(promo, from, r.Clock.Now())
	ev.PromotionURL = r.PromotionLink.For(promo.Namespace, promo.Name)
	ctrl.LoggerFrom(ctx).WithName("audit").Info("Promotion phase changed",
		"audit", true,
		"promotion", klog.KObj(promo),
		"uid", ev.UID,
		"environment", ev.Environment,
		"kind", ev.Kind,
		"fromPhase", ev.FromPhase,
		"toPhase", ev.Phase,
		"requestedBy", ev.RequestedBy,
		"approvedBy", ev.ApprovedBy,
		"fromImage", ev.FromImage,
		"toImage", ev.Image,
		"digest", promo.Status.Digest,
		"revision", ev.Revision,
		"commit", ev.Commit,
		"reason", ev.Reason,
		"message", ev.Message,
		"requestReason", promo.Spec.Reason,
	)
	if r.Notifier != nil {
		r.Notifier.Notify(ev)
	}
	if r.CommitStatuses != nil {
		r.CommitStatuses.Report(commitStatusChange(promo, ev))
	}
}

// commitStatusChange is what the commit-status reporter needs of a phase
// change: the audit Event's facts and the trusted source commit.
func commitStatusChange(promo *batonv1alpha1.Promotion, ev notify.Event) commitstatus.Change {
	ch := commitstatus.Change{
		Namespace: ev.Namespace, Environment: ev.Environment, Promotion: ev.Promotion,
		Phase: promo.Status.Phase, Image: promo.Status.Image, Digest: promo.Status.Digest,
		PreviousImage: promo.Status.PreviousImage, Rollback: promote.IsRollback(promo),
		SourceCommit: promote.SourceCommit(promo), Approvals: len(ev.ApprovedBy), Reason: ev.Reason,
	}
	if promo.Spec.Rollback != nil {
		ch.ToRevision = promo.Spec.Rollback.ToRevision
	}
	return ch
}

// auditPause writes the audit line for a pause that this Decision set
// (spec.pauseOnFailure).
func (r *PromotionReconciler) auditPause(ctx context.Context, env *batonv1alpha1.Environment, written *batonv1alpha1.EnvironmentStatus) {
	if env == nil || written == nil || written.AutoPromotePause == nil || env.Status.AutoPromotePause != nil {
		return
	}
	pause := written.AutoPromotePause
	ctrl.LoggerFrom(ctx).WithName("audit").Info("autoPromote paused",
		"audit", true,
		"environment", klog.KObj(env),
		"promotion", pause.Promotion.Name,
		"uid", pause.Promotion.UID,
		"result", pause.Result,
		"reason", batonv1alpha1.AutoPromotePausedReason,
		"message", pause.Message,
	)
}

// countDelivery counts a finished Promotion into the DORA metrics of its
// Environment (env as just written; nil when it no longer exists).
func (r *PromotionReconciler) countDelivery(ctx context.Context, promo *batonv1alpha1.Promotion, env *batonv1alpha1.Environment, finished batonv1alpha1.PromotionPhase) {
	ns, name := promo.Namespace, promo.Spec.Environment
	auto := promote.IsAutoRollback(promo, r.Self)
	rollback := promote.IsRollback(promo)
	switch {
	case !rollback && (finished == batonv1alpha1.PromotionSucceeded || finished == batonv1alpha1.PromotionFailed):
		metrics.ChangesTotal.WithLabelValues(ns, name).Inc()
		if finished == batonv1alpha1.PromotionFailed {
			metrics.ChangeFailuresTotal.WithLabelValues(ns, name).Inc()
		}
	case rollback && finished == batonv1alpha1.PromotionSucceeded && !auto:
		// The change it undid was a failure nobody's rollout caught.
		metrics.ChangeFailuresTotal.WithLabelValues(ns, name).Inc()
	}
	if finished != batonv1alpha1.PromotionSucceeded {
		return
	}
	done := promo.Status.CompletedAt.Time
	if rollback {
		trigger := metrics.RollbackManual
		if auto {
			trigger = metrics.RollbackAuto
		}
		metrics.RollbacksTotal.WithLabelValues(ns, name, trigger).Inc()
	} else if start, ok := dora.LeadTimeStart(promo, r.upstream(ctx, env)); ok {
		metrics.LeadTime.WithLabelValues(ns, name).Observe(done.Sub(start).Seconds())
	}
	if env == nil {
		return
	}
	if i := promote.FindRevision(env, string(promo.UID)); i >= 0 {
		if start, ok := dora.RestoreStart(env.Status.History, i, rollback && !auto); ok {
			metrics.TimeToRestore.WithLabelValues(ns, name).Observe(done.Sub(start).Seconds())
		}
	}
}

// upstream reads env's upstream from the cache, for the lead time of an
// image it verified; nil when there is none.
func (r *PromotionReconciler) upstream(ctx context.Context, env *batonv1alpha1.Environment) *batonv1alpha1.Environment {
	if env == nil || env.Spec.Upstream == "" {
		return nil
	}
	up := &batonv1alpha1.Environment{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: env.Namespace, Name: env.Spec.Upstream}, up); err != nil {
		return nil
	}
	return up
}

// Notifier sends phase changes to NotificationPolicies (notify.Notifier in
// the manager); Notify must never block.
type Notifier interface {
	Notify(ev notify.Event)
}

// CommitStatusReporter reports phase changes on source commits; Report
// must never block.
type CommitStatusReporter interface {
	Report(ch commitstatus.Change)
}
