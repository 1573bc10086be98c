package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/release"
)

// defaultPromotionHistoryLimit is spec.promotionHistoryLimit's default, for
// an Environment stored before the field existed.
const defaultPromotionHistoryLimit = 20

// letGo removes the engine's finalizer and, from a finished Promotion, labels
// it finished, in one write. The label takes it out of the manager's caches
// (CacheOptions): it never comes back to a reconciler, and a restart does
// not read it.
func (r *PromotionReconciler) letGo(ctx context.Context, promo *batonv1alpha1.Promotion) error {
	finished := promo.Status.Phase.IsTerminal()
	if !controllerutil.ContainsFinalizer(promo, PromotionFinalizer) && (!finished || promo.IsFinishedLabelled()) {
		return nil
	}
	base := promo.DeepCopy()
	controllerutil.RemoveFinalizer(promo, PromotionFinalizer)
	if finished {
		metav1.SetMetaDataLabel(&promo.ObjectMeta, batonv1alpha1.FinishedLabel, batonv1alpha1.FinishedLabelValue(promo.Spec.Environment))
	}
	if err := r.Patch(ctx, promo, client.MergeFrom(base)); err != nil {
		return client.IgnoreNotFound(fmt.Errorf("let go of the finished Promotion: %w", err))
	}
	return nil
}

// prune deletes the oldest finished Promotions into env beyond its
// spec.promotionHistoryLimit. It runs when a Promotion into env finishes,
// so it reads (uncached, metadata only) at most the limit and the one
// that just finished. It deletes only what the manager labelled finished,
// never the Promotion env's status.autoPromotePause names,
// each with a precondition on its UID and resourceVersion. A failure is
// logged, not returned: the next Promotion to finish prunes again.
func (r *PromotionReconciler) prune(ctx context.Context, env *batonv1alpha1.Environment) {
	limit := int(env.Spec.PromotionHistoryLimit)
	if limit <= 0 {
		limit = defaultPromotionHistoryLimit
	}
	logger := ctrl.LoggerFrom(ctx)
	var finished metav1.PartialObjectMetadataList
	finished.SetGroupVersionKind(batonv1alpha1.GroupVersion.WithKind("PromotionList"))
	if err := r.APIReader.List(ctx, &finished, client.InNamespace(env.Namespace),
		client.MatchingLabels{batonv1alpha1.FinishedLabel: batonv1alpha1.FinishedLabelValue(env.Name)}); err != nil {
		logger.Error(err, "list the finished Promotions to prune")
		return
	}
	if pause := env.Status.AutoPromotePause; pause != nil {
		// The Promotion that paused autoPromote is the one a person resumes
		// it on (spec.resume): it stays, whatever the limit.
		finished.Items = slices.DeleteFunc(finished.Items, func(p metav1.PartialObjectMetadata) bool {
			return string(p.UID) == pause.Promotion.UID
		})
	}
	for _, p := range oldestBeyond(finished.Items, limit) {
		err := r.Delete(ctx, &p, client.Preconditions{UID: &p.UID, ResourceVersion: &p.ResourceVersion})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			logger.Error(err, "delete a finished Promotion beyond spec.promotionHistoryLimit", "promotion", p.Name)
			return
		}
		logger.V(1).Info("deleted a finished Promotion beyond spec.promotionHistoryLimit", "promotion", p.Name, "limit", limit)
	}
}

// oldestBeyond returns the Promotions that fall outside the newest limit,
// by creation time, then name. Those being deleted already do not count.
func oldestBeyond(items []metav1.PartialObjectMetadata, limit int) []metav1.PartialObjectMetadata {
	live := slices.DeleteFunc(slices.Clone(items), func(p metav1.PartialObjectMetadata) bool {
		return !p.DeletionTimestamp.IsZero()
	})
	if len(live) <= limit {
		return nil
	}
	slices.SortFunc(live, func(a, b metav1.PartialObjectMetadata) int {
		if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return live[:len(live)-limit]
}

// pruneReleaseJobs deletes env's finished release Jobs beyond the newest
// spec.historyLimit, with their Pods. It runs when a Promotion into env
// finishes; a failure is logged, and the next one prunes again.
func (r *PromotionReconciler) pruneReleaseJobs(ctx context.Context, env *batonv1alpha1.Environment) {
	logger := ctrl.LoggerFrom(ctx)
	if env.Spec.Cluster != nil && env.Spec.Release == nil {
		// A remote cache holds Jobs only for an Environment that runs
		// them; the TTL removes those of a release since removed.
		return
	}
	t, _, err := r.jobs(ctx, env)
	if err != nil {
		logger.Error(err, "find the cluster of the release Jobs to prune")
		return
	}
	jobs := &batchv1.JobList{}
	if err := t.Client.List(ctx, jobs, client.InNamespace(t.Namespace), t.Selector(map[string]string{release.EnvironmentLabel: env.Name}),
		client.HasLabels{release.PromotionUIDLabel}); err != nil {
		logger.Error(err, "list the release Jobs to prune")
		return
	}
	limit := int(env.HistoryLimitOrDefault())
	for _, job := range release.ToCollect(jobs.Items, limit) {
		err := t.Client.Delete(ctx, &job, client.PropagationPolicy(metav1.DeletePropagationBackground), client.Preconditions{UID: &job.UID})
		if client.IgnoreNotFound(err) != nil {
			logger.Error(err, "delete a release Job beyond spec.historyLimit", "job", job.Name)
			continue
		}
		logger.V(1).Info("deleted a release Job beyond spec.historyLimit", "job", job.Name, "limit", limit)
	}
}
