package manifest

import (
	"errors"
	"fmt"
)

// ErrInvalid is matched, through errors.Is, by every error that the user must
// fix in the Environment or in the config repository: retrying will not help.
// Any other error from this package is I/O and may be retried.
var ErrInvalid = errors.New("invalid manifest edit")

// ErrPathEscapes is matched by an *Error for a file reached through a
// symlink that leaves delivery.git.path (or a delivery.git.path that is a
// link itself). It matches ErrInvalid too.
var ErrPathEscapes = errors.New("the edit leaves delivery.git.path")

// Error is a problem with the configuration of an edit. Field is the
// Environment field at fault, such as "delivery.git.edit.yaml.field", and
// Reason says why, naming the file and line where there is one.
type Error struct {
	Field  string
	Reason string
	// Escapes is true when the problem is a path that leaves
	// delivery.git.path.
	Escapes bool
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s", e.Field, e.Reason)
}

// Is makes every *Error match ErrInvalid, and one that Escapes match
// ErrPathEscapes.
func (e *Error) Is(target error) bool {
	return target == ErrInvalid || e.Escapes && target == ErrPathEscapes
}

func invalid(field, format string, args ...any) *Error {
	return &Error{Field: field, Reason: fmt.Sprintf(format, args...)}
}

func escapes(field, format string, args ...any) *Error {
	e := invalid(field, format, args...)
	e.Escapes = true
	return e
}
