package delivery

import (
	"errors"
	"time"
)

// Waiting is a delivery that was made but is not complete yet, such as a
// commit pushed to a branch that a person still has to merge. The engine
// keeps the Promotion in its phase with Reason and checks again after
// RequeueAfter; it is neither a failure nor a retryable error.
type Waiting struct {
	// Reason is a condition reason from api/v1alpha1.
	Reason string
	// Message says what Baton waits for, for a person to read.
	Message string
	// RequeueAfter is when to look again.
	RequeueAfter time.Duration
	// Record is what was delivered so far, such as the pushed commit.
	Record Record
}

func (w *Waiting) Error() string { return w.Message }

// AsWaiting returns the Waiting inside err, if any.
func AsWaiting(err error) (*Waiting, bool) {
	var w *Waiting
	ok := errors.As(err, &w)
	return w, ok
}
