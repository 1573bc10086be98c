package controllers

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/event"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/delivery"
	"github.com/baton-dev/baton/internal/gitdelivery"
	"github.com/baton-dev/baton/internal/identity"
	"github.com/baton-dev/baton/internal/outcome"
	"github.com/baton-dev/baton/internal/promote"
)

// act performs the one side effect a Decision asks for and returns the
// Input to decide again with.
func (r *PromotionReconciler) act(ctx context.Context, in promote.Input, d promote.Decision) (promote.Input, error) {
	switch d.Action {
	case promote.Deliver:
		out := r.deliver(ctx, in, d.Image)
		in.Delivery = &out
	case promote.LookupDigest:
		out, err := r.lookupDigest(ctx, in.Environment, d.Image)
		if err != nil {
			return in, err
		}
		in.Digest = &out
	case promote.RunRelease:
		out := r.runRelease(ctx, in.Environment, d.Release, d.ReleaseCreate)
		in.Release = &out
	case promote.DeleteRelease:
		if err := r.deleteRelease(ctx, in.Environment, d.Release); err != nil {
			return in, err
		}
		if in.Release == nil {
			in.Release = &promote.ReleaseOutcome{Job: d.Release}
		}
		in.Release.Deleted = true
	case promote.CreateRollback:
		rb, _, err := createSigned(ctx, r.Client, r.APIReader, r.Admission, d.Rollback)
		if err != nil {
			return in, fmt.Errorf("create the automatic rollback: %w", err)
		}
		// Decide adopts it only if it proves it is Baton's own.
		in.Rollback, in.RollbackNotAdmitted = rb, r.Admission.Verify(ctx, rb)
		if err := in.RollbackNotAdmitted; err != nil && !errors.Is(err, identity.ErrMarkerMissing) && !errors.Is(err, identity.ErrMarkerMismatch) {
			return in, fmt.Errorf("verify the admission marker of Promotion %s: %w", rb.Name, err)
		}
	}
	return in, nil
}

// deliver changes the target once: it first asks whether an earlier,
// interrupted reconcile already did.
func (r *PromotionReconciler) deliver(ctx context.Context, in promote.Input, image string) promote.DeliveryOutcome {
	env, promo := in.Environment, in.Promotion
	d, err := r.Deliverer(env)
	if err != nil {
		return promote.DeliveryOutcome{Err: err}
	}
	req := delivery.Request{
		Environment: env, Promotion: promo, Image: image,
		RequestedBy: promote.RequestedBy(promo), ApprovedBy: promote.ApprovedBy(promo),
	}
	var out promote.DeliveryOutcome
	if a, ok := d.(delivery.Async); ok {
		// The delivery goes on off this worker; it brings the Promotion
		// back when it is done.
		out.Record, out.Found, out.Err = a.Submit(ctx, req)
	} else {
		out.Record, out.Found, out.Err = d.Delivered(ctx, req)
		if out.Err == nil && !out.Found {
			out.Record, out.Err = d.Deliver(ctx, req)
		}
	}
	if out.Err != nil {
		return out
	}
	if g := env.Spec.Delivery.Git; g != nil {
		out.CommitURL = gitdelivery.CommitURL(g.URL, out.Record.Commit)
		// Flux applies the commit on its interval anyway: a failed request
		// is only a warning.
		if len(g.RequestReconcile) > 0 {
			if err := gitdelivery.RequestReconcile(ctx, r.Client, g.RequestReconcile, r.Clock.Now()); err != nil {
				out.Warnings = append(out.Warnings, promote.Event{Type: corev1.EventTypeWarning, Reason: gitdelivery.ReconcileRequestFailedReason,
					Action: "RequestReconcile", Message: fmt.Sprintf("Pushed %.12s, but could not ask Flux to apply it at once (it will on its next interval): %v", out.Record.Commit, err)})
			}
		}
	}
	return out
}

// Deliverers picks the delivery an Environment asks for.
// A nil git refuses delivery.git.
func Deliverers(direct *delivery.Direct, git *gitdelivery.Deliverer) func(env *batonv1alpha1.Environment) (delivery.Deliverer, error) {
	return func(env *batonv1alpha1.Environment) (delivery.Deliverer, error) {
		if env.Spec.Delivery.Direct != nil {
			return direct, nil
		}
		if env.Spec.Delivery.Git != nil && git != nil {
			return git, nil
		}
		return nil, outcome.Stall(batonv1alpha1.DeliveryFailedReason,
			"Environment %q asks for delivery.git, which this manager was started without; use delivery.direct", env.Name)
	}
}

// DefaultPromotionConcurrency is the Promotion controller's default number
// of workers. Git delivery runs off them (delivery.Async), so a reconcile
// is a handful of API requests, a few milliseconds each: 32 workers take a
// burst of 1,000 Promotions to the deliverer in about a second, while
// the Environment and other controllers keep --concurrency workers of
// their own. More workers would only queue on the client's rate limit and
// the API server.
const DefaultPromotionConcurrency = 32

// NotifyOn is a gitdelivery Notify that hands each Promotion to ch, for
// PromotionReconciler.DeliveryDone. The send runs on its own goroutine so
// that a delivery never waits for the controller's queue.
func NotifyOn(ch chan<- event.GenericEvent) func(*batonv1alpha1.Promotion) {
	return func(p *batonv1alpha1.Promotion) {
		go func() { ch <- event.GenericEvent{Object: p} }()
	}
}
