package delivery

import (
	"context"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
)

// Request is one delivery: move Environment to Image for Promotion.
type Request struct {
	Environment *batonv1alpha1.Environment
	Promotion   *batonv1alpha1.Promotion
	// Image is the reference to write, already pinned by digest when the
	// Environment asks for it.
	Image string
	// RequestedBy and ApprovedBy are the admitted identities, for commit
	// trailers and audit.
	RequestedBy string
	ApprovedBy  []string
}

// Record says what a delivery changed.
type Record struct {
	// Commit is the Git commit that carries the change (git delivery).
	Commit string
	// Patch describes the workload patch (direct delivery).
	Patch string
}

// Deliverer changes an Environment's target. Implementations must make
// Deliver safe to call again after a crash: Delivered reports whether the
// target already carries the image, so that the engine acts at most once.
type Deliverer interface {
	// Delivered reports whether the target already carries req.Image, and if
	// so the record of that change.
	Delivered(ctx context.Context, req Request) (Record, bool, error)
	// Deliver changes the target to req.Image. A problem a person must fix
	// is an *outcome.Stalled; a change made but not complete yet (a commit
	// awaiting its merge) returns its Record together with an
	// *outcome.Waiting; any other error is retried.
	Deliver(ctx context.Context, req Request) (Record, error)
}

// Async is a Deliverer that does its work off the caller's goroutine, so
// that no reconcile waits on it. Submit returns at once: while the delivery
// is queued or in flight, an *outcome.Waiting; once it is done, what
// Delivered and then Deliver would have returned (found reports that the
// target already carried the image, or this Promotion's earlier change).
// The implementation tells the engine when a delivery is done, so that it
// calls Submit again then.
type Async interface {
	Submit(ctx context.Context, req Request) (rec Record, found bool, err error)
}
