package statuspatch

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ConflictRetry is how soon a reconcile whose status write lost an
// optimistic-concurrency race runs again, on fresh data. A Conflict is
// expected between Baton's reconcilers (the lease, history entries), so it
// is neither logged as an error nor retried with backoff.
const ConflictRetry = 200 * time.Millisecond

// Helper remembers an object as it was read, so that the status written at
// the end of the reconcile carries only what changed.
type Helper struct {
	client client.Client
	base   client.Object
}

// New snapshots obj. Call it right after the read, before any change.
func New(c client.Client, obj client.Object) *Helper {
	return &Helper{client: c, base: obj.DeepCopyObject().(client.Object)}
}

// Changed reports whether obj's status differs from the snapshot.
func (h *Helper) Changed(obj client.Object) (bool, error) {
	before, err := statusOf(h.base)
	if err != nil {
		return false, err
	}
	after, err := statusOf(obj)
	if err != nil {
		return false, err
	}
	return !equality.Semantic.DeepEqual(before, after), nil
}

// Patch writes obj's status if it changed, with the snapshot's
// resourceVersion, so that a concurrent write fails with Conflict instead of
// being overwritten. It reports whether anything was sent.
func (h *Helper) Patch(ctx context.Context, obj client.Object) (bool, error) {
	changed, err := h.Changed(obj)
	if err != nil || !changed {
		return false, err
	}
	patch := client.MergeFromWithOptions(h.base, client.MergeFromWithOptimisticLock{})
	if err := h.client.Status().Patch(ctx, obj, patch); err != nil {
		return false, fmt.Errorf("patch status of %T %s: %w", obj, client.ObjectKeyFromObject(obj), err)
	}
	h.base = obj.DeepCopyObject().(client.Object)
	return true, nil
}

// Finish is the deferred end of a reconcile: it writes the status, turns a
// Conflict into a quick requeue, and calls after (Events, metrics, audit)
// only when the write succeeded or there was nothing to write. result and
// retErr are the reconcile's named results.
func (h *Helper) Finish(ctx context.Context, obj client.Object, result *ctrl.Result, retErr *error, after func()) {
	_, err := h.Patch(ctx, obj)
	switch {
	case apierrors.IsConflict(err):
		ctrl.LoggerFrom(ctx).V(1).Info("the status changed while reconciling; deciding again", "object", client.ObjectKeyFromObject(obj))
		*result, *retErr = ctrl.Result{RequeueAfter: ConflictRetry}, nil
		return
	case err != nil:
		*retErr = errors.Join(*retErr, err)
		return
	}
	if after != nil {
		after()
	}
}

func statusOf(obj client.Object) (any, error) {
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, fmt.Errorf("convert %T: %w", obj, err)
	}
	return u["status"], nil
}
