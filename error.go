package patchpilot

import (
	"context"
	"errors"
	"fmt"
)

// Code is a machine-readable error class. Every error that reaches a user is
// classified by one of these codes, which maps to a CLI exit code through
// one table (exitCodes). Front ends map codes to their own statuses (an
// HTTP server owns its code-to-status table).
type Code string

// Error codes.
const (
	EINTERNAL        Code = "internal"        // a bug or an unexpected failure
	EINVALID         Code = "invalid"         // bad input: a flag, a file, a field
	ENOTFOUND        Code = "not_found"       // the named thing does not exist
	ECONFLICT        Code = "conflict"        // the request contradicts the current state
	EUNREACHABLE     Code = "unreachable"     // a host could not be reached or logged into
	EHOSTKEY         Code = "host_key"        // a host key is unknown or has changed
	ETIMEOUT         Code = "timeout"         // an operation ran past its bound
	ECANCELED        Code = "canceled"        // the operation was interrupted
	EUNAVAILABLE     Code = "unavailable"     // a dependency (database, tool) is missing or down
	EPARTIAL         Code = "partial"         // the command ran but some hosts failed
	EUNSUPPORTED     Code = "unsupported"     // the host or platform is not supported
	EUNFINISHED      Code = "not_finished"    // the feature exists in the CLI but is not built yet
	EUNAUTHENTICATED Code = "unauthenticated" // no token, or one that is unknown or revoked
	EFORBIDDEN       Code = "forbidden"       // the caller's role or a rule (four-eyes, policy) does not allow it

	// Codes of a rollout that ended other than in success; each has its
	// own exit code so that scripts can tell them apart.
	EHALTED         Code = "halted"           // the rollout halted (or was held or aborted)
	EROLLEDBACK     Code = "rolled_back"      // the rollout was rolled back
	EAPPROVAL       Code = "waiting_approval" // a stage waits for a person's approval
	EPAUSED         Code = "paused"           // the rollout was paused
	EROLLBACKFAILED Code = "rollback_failed"  // a rollback failed on some host
)

// Exit codes that scripts can rely on. They are part of the CLI contract.
const (
	ExitOK          = 0 // everything succeeded
	ExitFailure     = 1 // the command itself failed
	ExitUsage       = 2 // bad flags, arguments or input files
	ExitPartial     = 3 // the command ran, but one or more hosts failed
	ExitNotFound    = 4 // the named host, rollout or file does not exist
	ExitUnavailable = 5 // a required tool, database or service is unavailable
	ExitDenied      = 6 // a server refused the token, or the role or a rule forbids the call
	ExitCanceled    = 130

	// Rollout exit codes.
	ExitHalted          = 10 // the rollout halted, was held for a person or was aborted
	ExitRolledBack      = 11 // the rollout was rolled back
	ExitWaitingApproval = 12 // a stage waits for approval ('rollout approve')
	ExitPaused          = 13 // the rollout was paused ('rollout resume')
	ExitRollbackFailed  = 14 // a rollback failed on some host: a person must look
)

// exitCodes is the single mapping from error codes to exit codes. Keep it
// the only one.
var exitCodes = map[Code]int{
	EINTERNAL:        ExitFailure,
	EINVALID:         ExitUsage,
	ENOTFOUND:        ExitNotFound,
	ECONFLICT:        ExitFailure,
	EUNREACHABLE:     ExitFailure,
	EHOSTKEY:         ExitFailure,
	ETIMEOUT:         ExitFailure,
	ECANCELED:        ExitCanceled,
	EUNAVAILABLE:     ExitUnavailable,
	EPARTIAL:         ExitPartial,
	EUNSUPPORTED:     ExitFailure,
	EUNFINISHED:      ExitFailure,
	EUNAUTHENTICATED: ExitDenied,
	EFORBIDDEN:       ExitDenied,
	EHALTED:          ExitHalted,
	EROLLEDBACK:      ExitRolledBack,
	EAPPROVAL:        ExitWaitingApproval,
	EPAUSED:          ExitPaused,
	EROLLBACKFAILED:  ExitRollbackFailed,
}

// Error is patchpilot's error type. Message is safe to show to a user (it
// never contains secrets); Hint tells an operator what to do about it.
type Error struct {
	Code    Code
	Op      string // the operation that failed, e.g. "ssh.dial"
	Message string
	Hint    string
	Err     error // the underlying cause, if any

	// causeInMessage is set by Errorf, whose Message already includes
	// the text of the %w cause.
	causeInMessage bool
}

func (e *Error) Error() string {
	msg := e.Message
	if e.Err != nil && !e.causeInMessage {
		if msg == "" {
			msg = e.Err.Error()
		} else {
			msg += ": " + e.Err.Error()
		}
	}
	if e.Op != "" {
		msg = e.Op + ": " + msg
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and a formatted message. A %w
// verb in format wraps the cause as usual.
func Errorf(code Code, format string, args ...any) *Error {
	err := fmt.Errorf(format, args...)
	cause := errors.Unwrap(err)
	return &Error{Code: code, Message: err.Error(), Err: cause, causeInMessage: cause != nil}
}

// WithHint returns a copy of e with its hint set.
func (e *Error) WithHint(hint string) *Error {
	c := *e
	c.Hint = hint
	return &c
}

// ErrorCode returns the code of the first *Error in err's chain. Context
// cancellation maps to ECANCELED and deadlines to ETIMEOUT; anything else is
// EINTERNAL. A nil error has no code.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	switch {
	case errors.Is(err, context.Canceled):
		return ECANCELED
	case errors.Is(err, context.DeadlineExceeded):
		return ETIMEOUT
	}
	return EINTERNAL
}

// ErrorHint returns the hint of the first *Error in err's chain that has one.
func ErrorHint(err error) string {
	for err != nil {
		var e *Error
		if !errors.As(err, &e) {
			return ""
		}
		if e.Hint != "" {
			return e.Hint
		}
		err = e.Err
	}
	return ""
}

// ExitCode maps an error to the CLI exit code of its class. A nil error exits 0.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	if exit, ok := exitCodes[ErrorCode(err)]; ok {
		return exit
	}
	return ExitFailure
}
