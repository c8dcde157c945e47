// Package clock is the only place in fusebox that reads the system clock.
//
// Everything else works in monotonic nanoseconds measured from an origin that
// the owner of a [Source] picks (for a breaker: the moment it was created).
// Wall-clock time never drives a decision, so a stepped system clock (NTP,
// a VM resume) cannot open or close a breaker.
//
// A [Source] may also offer timers ([TimerSource]). The breaker uses a timer to
// learn that an open period has ended without reading the clock on every
// rejected call; a clock without timers is read on each rejection instead.
// [Fake] offers both and fires its timers synchronously inside Advance, so tests
// are exact and never sleep.
package clock

import "time"

// Source tells the current time. breaker.Clock has the same method set, so any
// breaker.Clock is a Source.
type Source interface {
	Now() time.Time
}

// Timer is a one-shot timer that can be re-armed. *time.Timer satisfies it.
type Timer interface {
	// Reset re-arms the timer to fire after d, whether or not it already
	// fired. It reports whether the timer was armed.
	Reset(d time.Duration) bool
	// Stop disarms the timer and reports whether it was armed.
	Stop() bool
}

// TimerSource is a Source that can call a function after a duration has passed
// on that same clock.
type TimerSource interface {
	Source
	// AfterFunc returns an armed timer that calls f, on a goroutine of the
	// source's choosing, once d has passed.
	AfterFunc(d time.Duration, f func()) Timer
}

// System is the machine's monotonic clock. Its zero value is ready to use.
type System struct{}

// Now returns time.Now(), which carries a monotonic reading.
func (System) Now() time.Time { return time.Now() }

// AfterFunc is time.AfterFunc.
func (System) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// Since returns the monotonic nanoseconds elapsed on src since origin, where
// origin is a time earlier returned by the same src. For System this uses only
// the monotonic reading (time.Since), which costs about half of time.Now.
func Since(src Source, origin time.Time) int64 {
	if _, ok := src.(System); ok {
		return int64(time.Since(origin))
	}
	return int64(src.Now().Sub(origin))
}

var (
	_ TimerSource = System{}
	_ TimerSource = (*Fake)(nil)
)
