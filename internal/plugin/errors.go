package plugin

import (
	"errors"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// Exit codes of kubectl promote.
const (
	// ExitOK: the command did what was asked; with --wait, the Promotion
	// succeeded.
	ExitOK = 0
	// ExitFailed: the Promotion ended Failed, Canceled or Superseded, --wait
	// timed out, or the command failed for another reason.
	ExitFailed = 1
	// ExitUsage: the command line is wrong.
	ExitUsage = 2
	// ExitDenied: the API server or Baton's admission webhook refused the
	// request because the user lacks a permission.
	ExitDenied = 3
)

// exitError carries the exit code an error should end the process with.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageErrorf is a command-line mistake: exit code 2.
func usageErrorf(format string, args ...any) error {
	return &exitError{code: ExitUsage, err: fmt.Errorf(format, args...)}
}

// failedErrorf is a Promotion that did not succeed: exit code 1.
func failedErrorf(format string, args ...any) error {
	return &exitError{code: ExitFailed, err: fmt.Errorf(format, args...)}
}

// webhookDenial is how the API server words a refusal by an admission
// webhook.
const webhookDenial = "denied the request"

// isDenied reports whether err is a refusal for lack of permission: RBAC's
// Forbidden, or a denial by Baton's admission webhook (which answers
// Forbidden, but is matched on its wording too in case it is ever wrapped
// as Invalid).
func isDenied(err error) bool {
	if apierrors.IsForbidden(err) {
		return true
	}
	return apierrors.IsInvalid(err) && strings.Contains(err.Error(), "admission webhook") && strings.Contains(err.Error(), webhookDenial)
}

// exitCode classifies an error returned by a command.
func exitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if isDenied(err) {
		return ExitDenied
	}
	return ExitFailed
}

// denied wraps a refusal with what the user can do about it. The webhook's
// own messages already name the verb and the Environment, or say what to do
// (retry once the image is resolved, ask someone else to approve). When the
// refusal is about a missing permission, hint says what the action needs
// and how to check it.
func denied(err error, hint string) error {
	if !isDenied(err) {
		return err
	}
	msg := strings.TrimSuffix(err.Error(), ".")
	missing := strings.Contains(msg, "is forbidden: User") || strings.Contains(msg, "that needs the")
	if missing && hint != "" {
		msg += ". " + hint
	}
	return &exitError{code: ExitDenied, err: errors.New(msg)}
}

// ExitCode is the exit code kubectl promote ends with for err; the dashboard
// uses it to tell a refusal (ExitDenied) from bad input (ExitUsage).
func ExitCode(err error) int { return exitCode(err) }
