package breaker

import (
	"errors"
	"fmt"
	"time"
)

var (
	// ErrOpen is returned, wrapped in an *OpenError, for a call rejected
	// because the breaker is open or forced open.
	ErrOpen = errors.New("breaker: circuit open")

	// ErrTooManyRequests is returned, wrapped in an *OpenError, for a call
	// rejected because every half-open probe slot is taken.
	ErrTooManyRequests = errors.New("breaker: too many requests while half-open")

	// ErrInvalidConfig is matched (errors.Is) by every error New returns for a
	// Config it cannot use; the error itself is a *ConfigError.
	ErrInvalidConfig = errors.New("breaker: invalid config")
)

// OpenError is the error of a rejected call. It matches ErrOpen or
// ErrTooManyRequests with errors.Is and tells why and until when:
//
//	var oe *breaker.OpenError
//	if errors.As(err, &oe) { log.Printf("%s is %s, retry at %v", oe.Name, oe.State, oe.RetryAt) }
//
// Rejections return pointers to OpenErrors that the breaker prepared when it
// changed state, so rejecting allocates nothing. (The one exception is a
// rejection in the few nanoseconds between the start of an open period and
// the publication of its prepared error: it builds its own, from the same
// deadline.) An OpenError is shared: do not modify it.
type OpenError struct {
	// Name is Config.Name of the breaker that rejected the call.
	Name string
	// State is the state the breaker was in when it rejected the call:
	// StateOpen, StateForcedOpen or StateHalfOpen.
	State State
	// RetryAt is the earliest time at which a call may be admitted again: the
	// end of the open or forced-open period. It is zero when that is not known
	// in advance (forced open until released, or half-open with every probe
	// slot taken: a slot frees when a probe finishes).
	RetryAt time.Time

	sentinel error
}

// Error describes the rejection.
func (e *OpenError) Error() string {
	msg := e.sentinel.Error()
	if e.Name != "" {
		msg = fmt.Sprintf("%s (breaker %q)", msg, e.Name)
	}
	if e.RetryAt.IsZero() {
		return fmt.Sprintf("%s: state %s", msg, e.State)
	}
	return fmt.Sprintf("%s: state %s until %s", msg, e.State, e.RetryAt.Format(time.RFC3339Nano))
}

// Unwrap returns ErrOpen or ErrTooManyRequests.
func (e *OpenError) Unwrap() error { return e.sentinel }

// ConfigError says which Config field New rejected and why. It matches
// ErrInvalidConfig with errors.Is. When several fields break rules, the
// error names the first in Field, Rule and Value and the others in More;
// Error lists them all, and errors.As finds each.
type ConfigError struct {
	Field string // the Config field, e.g. "Timeout" or "Backoff.Jitter"
	Rule  string // the rule it broke, e.g. "must not be negative"
	Value any    // the offending value
	// More are the other broken fields, in Config order.
	More []*ConfigError
}

// Error returns e.g. `breaker: invalid Config.Timeout -1s: must not be
// negative`, with "; Config.X ..." for each further broken field.
func (e *ConfigError) Error() string {
	msg := fmt.Sprintf("breaker: invalid Config.%s %v: %s", e.Field, e.Value, e.Rule)
	for _, m := range e.More {
		msg += fmt.Sprintf("; Config.%s %v: %s", m.Field, m.Value, m.Rule)
	}
	return msg
}

// Unwrap returns the other broken fields' errors.
func (e *ConfigError) Unwrap() []error {
	errs := make([]error, len(e.More))
	for i, m := range e.More {
		errs[i] = m
	}
	return errs
}

// Is reports whether target is ErrInvalidConfig.
func (e *ConfigError) Is(target error) bool { return target == ErrInvalidConfig }
