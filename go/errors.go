package dllbridge

import (
	"errors"
	"fmt"
)

// Kind names what went wrong, as the C API's dllbridge_status_name spells it
// (docs/errors.md): "timeout", "crashed", "circuit_open", ...
type Kind string

// The error kinds of docs/errors.md, plus KindInternal (the C API's
// DLLBRIDGE_INTERNAL) and KindClosed (a call on a closed Bridge).
const (
	KindTimeout              Kind = "timeout"
	KindCrashed              Kind = "crashed"
	KindCircuitOpen          Kind = "circuit_open"
	KindBadSignature         Kind = "bad_signature"
	KindBadArgument          Kind = "bad_argument"
	KindSymbolNotFound       Kind = "symbol_not_found"
	KindLibraryLoadFailed    Kind = "library_load_failed"
	KindSurrogateStartFailed Kind = "surrogate_start_failed"
	KindProtocol             Kind = "protocol"
	KindUnauthorized         Kind = "unauthorized"
	KindCallbackFailed       Kind = "callback_failed"
	KindInternal             Kind = "internal"
	KindClosed               Kind = "closed"
)

// Sentinels for errors.Is: every error this package returns is an *Error
// (but for a call on a context cancelled before it started, which returns
// ctx.Err()), and errors.Is(err, ErrX) is true exactly when its Kind is X's.
var (
	ErrTimeout              = errors.New("dllbridge: timeout")
	ErrCrashed              = errors.New("dllbridge: crashed")
	ErrCircuitOpen          = errors.New("dllbridge: circuit_open")
	ErrBadSignature         = errors.New("dllbridge: bad_signature")
	ErrBadArgument          = errors.New("dllbridge: bad_argument")
	ErrSymbolNotFound       = errors.New("dllbridge: symbol_not_found")
	ErrLibraryLoadFailed    = errors.New("dllbridge: library_load_failed")
	ErrSurrogateStartFailed = errors.New("dllbridge: surrogate_start_failed")
	ErrProtocol             = errors.New("dllbridge: protocol")
	ErrUnauthorized         = errors.New("dllbridge: unauthorized")
	ErrCallbackFailed       = errors.New("dllbridge: callback_failed")
	ErrInternal             = errors.New("dllbridge: internal")
	// ErrClosed: the Bridge was closed before the operation started.
	ErrClosed = errors.New("dllbridge: closed")
)

var sentinels = map[Kind]error{
	KindTimeout:              ErrTimeout,
	KindCrashed:              ErrCrashed,
	KindCircuitOpen:          ErrCircuitOpen,
	KindBadSignature:         ErrBadSignature,
	KindBadArgument:          ErrBadArgument,
	KindSymbolNotFound:       ErrSymbolNotFound,
	KindLibraryLoadFailed:    ErrLibraryLoadFailed,
	KindSurrogateStartFailed: ErrSurrogateStartFailed,
	KindProtocol:             ErrProtocol,
	KindUnauthorized:         ErrUnauthorized,
	KindCallbackFailed:       ErrCallbackFailed,
	KindInternal:             ErrInternal,
	KindClosed:               ErrClosed,
}

// Error is a failed operation: its Kind and the bridge's message (which
// names the parameter, the signal, the deadline, ...).
type Error struct {
	Kind    Kind
	Message string
	// ctx is the context's error when the call's deadline came from it
	// (context.DeadlineExceeded): errors.Is matches it too.
	ctx error
}

// Error returns "dllbridge: KIND: MESSAGE".
func (e *Error) Error() string {
	if e.Message == "" {
		return "dllbridge: " + string(e.Kind)
	}
	return fmt.Sprintf("dllbridge: %s: %s", e.Kind, e.Message)
}

// Is reports whether target is the sentinel of e's Kind (ErrTimeout for
// KindTimeout, ...).
func (e *Error) Is(target error) bool {
	s, ok := sentinels[e.Kind]
	return ok && s == target
}

// Unwrap returns context.DeadlineExceeded for a timeout whose deadline came
// from the call's context, else nil.
func (e *Error) Unwrap() error { return e.ctx }

func newError(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}
