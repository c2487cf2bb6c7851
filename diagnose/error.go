package diagnose

import (
	"errors"
	"fmt"
	"strings"
)

// Error codes: what kind of failure a user-facing error is. The bot turns a
// code into Slack text and the CLI into an exit status, each in one place.
const (
	EINVALID      = "invalid"      // the input or request is malformed
	ENOTFOUND     = "not_found"    // a tenant, policy or request does not exist
	EUNAUTHORIZED = "unauthorized" // the caller may not do this
	ECONFLICT     = "conflict"     // the state changed underneath (a policy edited since the plan)
	EUNAVAILABLE  = "unavailable"  // a dependency failed; retrying may help
	EINTERNAL     = "internal"     // a bug
)

// Error is a failure with a code and the sentence to show a person.
type Error struct {
	Code    string
	Message string // one sentence a user can act on
	Err     error  // the underlying cause, for logs and errors.Is
}

func (e *Error) Error() string {
	// Errorf already put the cause into Message.
	if e.Err != nil && !strings.Contains(e.Message, e.Err.Error()) {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with code and a formatted message. A %w verb wraps
// its argument as the cause.
func Errorf(code, format string, args ...any) *Error {
	err := fmt.Errorf(format, args...)
	return &Error{Code: code, Message: err.Error(), Err: errors.Unwrap(err)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for
// any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the message to show a person: the first *Error's
// message, or a generic sentence for errors that carry no such message, so
// internal details never reach a user by accident.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Message
	}
	return "internal error"
}
