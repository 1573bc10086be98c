package outcome

import (
	"errors"
	"fmt"
	"time"
)

// Stalled is a problem that retrying cannot fix: a person must change
// something. Reason is a condition reason from api/v1alpha1; Message says
// what is wrong and what to do, for a person to read.
type Stalled struct {
	Reason  string
	Message string
}

func (e *Stalled) Error() string { return e.Message }

// Waiting is not a failure: something is not ready yet, and Baton looks again
// after RequeueAfter. Reason is a condition reason; Message says what Baton
// waits for.
type Waiting struct {
	Reason       string
	Message      string
	RequeueAfter time.Duration
}

func (w *Waiting) Error() string { return w.Message }

// Stall returns a Stalled error.
func Stall(reason, format string, args ...any) error {
	return &Stalled{Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// Wait returns a Waiting error that asks to be looked at again after after.
func Wait(after time.Duration, reason, format string, args ...any) error {
	return &Waiting{Reason: reason, Message: fmt.Sprintf(format, args...), RequeueAfter: after}
}

// AsStalled returns the Stalled inside err, if any.
func AsStalled(err error) (*Stalled, bool) {
	var e *Stalled
	ok := errors.As(err, &e)
	return e, ok
}

// AsWaiting returns the Waiting inside err, if any.
func AsWaiting(err error) (*Waiting, bool) {
	var w *Waiting
	ok := errors.As(err, &w)
	return w, ok
}

// Retryable reports whether err is neither Stalled nor Waiting: the caller
// returns it to controller-runtime, which retries with backoff.
func Retryable(err error) bool {
	if err == nil {
		return false
	}
	_, stalled := AsStalled(err)
	_, waiting := AsWaiting(err)
	return !stalled && !waiting
}
