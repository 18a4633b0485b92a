package guard

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// ErrorKind classifies a failure by what the caller should do about it.
type ErrorKind string

const (
	// KindTransient: try again later (throttling, 5xx, network, a busy
	// resource). RetryAfter, when set, says how long to wait.
	KindTransient ErrorKind = "transient"
	// KindNotFound: the resource does not exist.
	KindNotFound ErrorKind = "not-found"
	// KindConflict: someone else changed the record first (ETag mismatch) or
	// it already exists; re-read and decide again.
	KindConflict ErrorKind = "conflict"
	// KindForbidden: the guard's identity lacks a permission; a person must
	// grant it.
	KindForbidden ErrorKind = "forbidden"
	// KindInvalid: the request is wrong and retrying will not help.
	KindInvalid ErrorKind = "invalid"
)

// Error is a classified failure. Adapters classify SDK errors once, at the
// edge, and wrap them in an Error; the domain decides on Kind alone.
type Error struct {
	Kind ErrorKind
	// Code is the service's error code, such as "AuthorizationFailed".
	Code string
	// RetryAfter is the wait the service asked for, zero when it named none.
	RetryAfter time.Duration
	Err        error
}

func (e *Error) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("%s (%s, %s)", e.Err, e.Kind, e.Code)
	}
	return fmt.Sprintf("%s (%s)", e.Err, e.Kind)
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the kind of err. An error nobody classified is transient:
// network failures and timeouts are the usual cause, and retrying is safe
// because every step is idempotent.
func KindOf(err error) ErrorKind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindTransient
}

// CodeOf returns the service error code carried by err, or "".
func CodeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// RetryAfterOf returns the wait the service asked for, or zero.
func RetryAfterOf(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

// Errorf returns an *Error of the given kind whose message is formatted as
// by fmt.Errorf, so %w wraps.
func Errorf(kind ErrorKind, format string, args ...any) error {
	return &Error{Kind: kind, Err: fmt.Errorf(format, args...)}
}

// leftOut takes apart the error of a filtered query: the records it left
// out (logged, as what, and counted) and any other error, for the caller
// to handle. A record that cannot be decoded never stops the others.
func leftOut(log *slog.Logger, what string, err error) (int, error) {
	var pe *PartialError
	if errors.As(err, &pe) {
		log.Error(what+": records left out", "error", err)
		return len(pe.Bad), nil
	}
	return 0, err
}

// PartialError is the error of a query that left out records it could not
// decode; the records it returned are good. A bad row must not stop every
// claim or every reconciliation.
type PartialError struct {
	// Bad names the records left out and why.
	Bad []string
}

func (e *PartialError) Error() string {
	return fmt.Sprintf("%d record(s) could not be decoded and were left out: %s", len(e.Bad), strings.Join(e.Bad, "; "))
}
