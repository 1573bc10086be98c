package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/image"
	"github.com/baton-dev/baton/internal/promote"
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
func (r *AutoPromoteReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	env := &batonv1alpha1.Environment{}
	if err := r.Get(ctx, req.NamespacedName, env); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	// Until the Environment reconciler has seen what the workload runs, there
	// is no telling whether a Promotion is needed.
	if !env.Spec.AutoPromote || env.Spec.Suspend || env.Spec.Upstream == "" || !env.DeletionTimestamp.IsZero() || env.Status.Current == nil {
		return ctrl.Result{}, nil
	}
	upstream := &batonv1alpha1.Environment{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: env.Namespace, Name: env.Spec.Upstream}, upstream); err != nil {
		// The Environment reconciler reports a missing upstream.
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	// Only the newest verified image is a candidate: falling back to an older
	// one would undo a rollback away from the newest, which the Held
	// condition reports instead.
	res, ok := promote.NewestVerified(upstream)
	if !ok || promote.IsRejected(env, res.Image, res.Digest) {
		return ctrl.Result{}, nil
	}
	if cur := env.Status.Current; cur != nil && image.Same(cur.Image, cur.Digest, res.Image, res.Digest) {
		return ctrl.Result{}, nil
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
	if _, created, err := createSigned(ctx, r.Client, r.APIReader, r.Admission, promo); err != nil || !created {
		return ctrl.Result{}, err
	}
	msg := fmt.Sprintf("Created Promotion %s: %s was verified in %s", promo.Name, res.Image, upstream.Name)
	if r.Recorder != nil {
		r.Recorder.Eventf(env, promo, corev1.EventTypeNormal, batonv1alpha1.AutoPromotedReason, "AutoPromote", msg)
	}
	log.FromContext(ctx).Info(msg, "reason", batonv1alpha1.AutoPromotedReason)
	return ctrl.Result{}, nil
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
