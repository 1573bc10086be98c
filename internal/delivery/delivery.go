package delivery

import (
	"context"
	"errors"
	"fmt"

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
	// Deliver changes the target to req.Image.
	Deliver(ctx context.Context, req Request) (Record, error)
}

// Error is a delivery failure that a person must fix: retrying cannot help.
// Reason is a condition reason from api/v1alpha1.
type Error struct {
	Reason  string
	Message string
}

func (e *Error) Error() string { return e.Message }

// Stalled returns a delivery Error with a condition reason.
func Stalled(reason, format string, args ...any) error {
	return &Error{Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// AsError returns the delivery Error inside err, if any.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
