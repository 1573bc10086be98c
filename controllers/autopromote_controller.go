package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/image"
	"github.com/baton-dev/baton/internal/promote"
	"github.com/baton-dev/baton/internal/statuspatch"
)

// AutoPromoteReconciler creates one Promotion into an Environment with
// spec.autoPromote for each image its upstream newly verifies, skipping the
// images this Environment rejected.
type AutoPromoteReconciler struct {
	client.Client
	// APIReader checks, uncached, whether the Promotion already exists.
	APIReader client.Reader
	Recorder  events.EventRecorder
	// Admission signs the Promotions it creates.
	Admission Admission
}

// SetupWithManager registers the reconciler; it shares the Environment
// reconciler's index of Environments by upstream.
func (r *AutoPromoteReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&batonv1alpha1.Environment{}).
		Watches(&batonv1alpha1.Environment{}, enqueueDownstreams(r.Client)).
		Named("autopromote").
		Complete(r)
}

// Reconcile creates the Promotion for the upstream's newest verified image,
// unless it exists already. Its name is derived from (environment, image), so
// re-reconciles, restarts and two racing managers all create the same one.
// The AutoPromote condition says what it decided, for this generation.
func (r *AutoPromoteReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	env := &batonv1alpha1.Environment{}
	if err := r.Get(ctx, req.NamespacedName, env); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !env.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	var created *batonv1alpha1.Promotion
	defer statuspatch.New(r.Client, env).Finish(ctx, env, &result, &retErr, func() {
		if created != nil {
			r.announce(ctx, env, created)
		}
	})
	if !env.Spec.AutoPromote || env.Spec.Upstream == "" {
		apimeta.RemoveStatusCondition(&env.Status.Conditions, batonv1alpha1.AutoPromoteCondition)
		return ctrl.Result{}, nil
	}
	// Until the Environment reconciler has seen what the workload runs, there
	// is no telling whether a Promotion is needed.
	if env.Status.Current == nil {
		return ctrl.Result{}, nil
	}
	upstream := &batonv1alpha1.Environment{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: env.Namespace, Name: env.Spec.Upstream}, upstream); err != nil {
		// The Environment reconciler reports a missing upstream.
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	promo, reason, message := decideAutoPromote(env, upstream)
	if promo != nil {
		p, isNew, err := createSigned(ctx, r.Client, r.APIReader, r.Admission, promo)
		if err != nil {
			return ctrl.Result{}, err
		}
		if isNew {
			created = p
		}
	}
	status := metav1.ConditionFalse
	if promo != nil && reason != batonv1alpha1.AutoPromotePausedReason {
		status = metav1.ConditionTrue
	}
	setCondition(env, batonv1alpha1.AutoPromoteCondition, status, reason, message)
	return ctrl.Result{}, nil
}

// decideAutoPromote returns the Promotion autoPromote wants, or nil and the
// reason it wants none. Only the newest verified image is a candidate:
// falling back to an older one would undo a rollback away from the newest,
// which the Held condition reports instead.
func decideAutoPromote(env, upstream *batonv1alpha1.Environment) (*batonv1alpha1.Promotion, string, string) {
	if env.Spec.Suspend {
		return nil, batonv1alpha1.SuspendedReason, "spec.suspend is set: autoPromote waits until it is false"
	}
	res, ok := promote.NewestVerified(upstream)
	switch {
	case !ok:
		return nil, batonv1alpha1.UpstreamNotVerifiedReason, fmt.Sprintf("upstream Environment %q has verified no image yet", upstream.Name)
	case promote.IsRejected(env, res.Image, res.Digest):
		return nil, batonv1alpha1.ImageRejectedReason, fmt.Sprintf(
			"%s, the newest image verified in %q, was rolled back away from here: autoPromote does not ship it again, nor an older one (see the Held condition)", res.Image, upstream.Name)
	case image.Same(env.Status.Current.Image, env.Status.Current.Digest, res.Image, res.Digest):
		return nil, batonv1alpha1.UpToDateReason, fmt.Sprintf("runs %s, the newest image verified in %q", res.Image, upstream.Name)
	}
	key := AutoPromoteKey(env.Name, res.Image, res.Digest)
	promo := &batonv1alpha1.Promotion{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:   env.Namespace,
			Name:        autoPromoteName(env.Name, key),
			Annotations: map[string]string{batonv1alpha1.AutoPromoteKeyAnnotation: key},
		},
		Spec: batonv1alpha1.PromotionSpec{
			Environment: env.Name,
			Image:       res.Image,
			Reason:      fmt.Sprintf("autoPromote: Environment %q verified %s", upstream.Name, res.Image),
			RequestedBy: &batonv1alpha1.UserInfo{Username: ControllerUser},
		},
	}
	msg := fmt.Sprintf("Promotion %s promotes %s, verified in %q", promo.Name, res.Image, upstream.Name)
	if paused := promote.PausedMessage(env); paused != "" {
		// As during a freeze, the trigger is kept: the Promotion is created
		// and waits Queued until someone resumes.
		return promo, batonv1alpha1.AutoPromotePausedReason, msg + "; it waits Queued: " + paused
	}
	return promo, batonv1alpha1.AutoPromotedReason, msg
}

// announce emits the Event and log line for a Promotion autoPromote created.
func (r *AutoPromoteReconciler) announce(ctx context.Context, env *batonv1alpha1.Environment, promo *batonv1alpha1.Promotion) {
	msg := fmt.Sprintf("Created Promotion %s: %s was verified in %s", promo.Name, promo.Spec.Image, env.Spec.Upstream)
	if r.Recorder != nil {
		r.Recorder.Eventf(env, promo, corev1.EventTypeNormal, batonv1alpha1.AutoPromotedReason, "AutoPromote", msg)
	}
	log.FromContext(ctx).Info(msg, "reason", batonv1alpha1.AutoPromotedReason)
}

// AutoPromoteKey identifies what autoPromote promoted: the Environment and
// the image, by digest when it is known and by normalized reference
// otherwise.
func AutoPromoteKey(env, ref, digest string) string {
	if digest == "" {
		digest = image.DigestOf(ref)
	}
	if digest != "" {
		return env + "/" + digest
	}
	if parsed, err := image.Parse(ref); err == nil {
		return env + "/" + parsed.Name
	}
	return env + "/" + ref
}

func autoPromoteName(env, key string) string {
	sum := sha256.Sum256([]byte(key))
	return promote.Truncate(env, 230) + "-auto-" + hex.EncodeToString(sum[:])[:10]
}
