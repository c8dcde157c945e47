package breaker

import (
	"errors"
	"time"
)

// Reset returns the breaker to closed with fresh counters from any state,
// forced-open and disabled included. Results of calls admitted before the
// Reset are counted in the lifetime totals and change nothing else.
func (b *Breaker) Reset() {
	b.moveTo(ReasonReset, 0, func(uint64) (uint64, bool) { return pack(phaseClosed, 0, 0), true }, nil)
}

// ForceOpen isolates the dependency: the breaker rejects every call with
// ErrOpen (state StateForcedOpen) until Release or Reset, or until d has
// passed, when it closes with fresh counters. d == 0 means until released.
// Calling it again replaces the earlier duration. A negative d, or one longer
// than MaxForceDuration, is refused with an error and changes nothing.
//
// A forced deadline has microsecond resolution (it is rounded up).
func (b *Breaker) ForceOpen(d time.Duration) error {
	if d < 0 {
		return errors.New("breaker: ForceOpen duration must not be negative")
	}
	if d > MaxForceDuration {
		return errors.New("breaker: ForceOpen duration must be at most " + MaxForceDuration.String())
	}
	b.load("ForceOpen")
	now := b.now()
	b.moveTo(ReasonForceOpen, int64(d), func(uint64) (uint64, bool) {
		if d == 0 {
			return pack(phaseForcedIndef, 0, 0), true
		}
		return pack(phaseForced, 0, forcedDeadlineField(now+int64(d))), true
	}, func(nw uint64) {
		if d == 0 {
			return
		}
		// The word is already published; a rejection that reads it before
		// this record builds its error from the word (rejectUnpublished).
		// Both run before listeners hear of the transition, so a panicking
		// listener cannot leave the period without its record or timer.
		deadline := int64(payloadOf(nw)&deadlineMask) * 1000
		b.publishRecord(&openRecord{
			err:      OpenError{Name: b.s.name, State: StateForcedOpen, RetryAt: b.timeAt(deadline), sentinel: ErrOpen},
			word:     nw,
			deadline: deadline,
		})
		b.armTimer(nw, deadline)
	})
	return nil
}

// Disable turns the breaker off: it admits every call and keeps counting, but
// never trips, until Release or Reset.
func (b *Breaker) Disable() {
	b.moveTo(ReasonDisable, 0, func(uint64) (uint64, bool) { return pack(phaseDisabled, 0, 0), true }, nil)
}

// Release ends ForceOpen or Disable: the breaker closes with fresh counters.
// In any other state Release does nothing.
func (b *Breaker) Release() {
	b.moveTo(ReasonRelease, 0, func(w uint64) (uint64, bool) {
		switch phaseOf(w) {
		case phaseForced, phaseForcedIndef, phaseDisabled:
			return pack(phaseClosed, 0, 0), true
		}
		return 0, false
	}, nil)
}

// moveTo replaces the word with next(w) under the next generation (the
// generation bits that next returns are ignored) and reports the transition.
// It returns the word it published, or the unchanged word if next declined.
func (b *Breaker) moveTo(reason Reason, openFor int64, next func(w uint64) (uint64, bool), after func(nw uint64)) uint64 {
	for {
		w := b.load("Reset, ForceOpen, Disable or Release")
		nw, ok := next(w)
		if !ok {
			return w
		}
		nw = nw&^(genMask<<genShift) | uint64(nextGen(w))<<genShift
		var t Transition
		if b.notify.Load() != nil {
			t = Transition{Reason: reason, At: b.timeAt(b.now()), OpenFor: time.Duration(openFor)}
		}
		var then func()
		if after != nil {
			then = func() { after(nw) }
		}
		if b.moveThen(w, nw, t, then) {
			return nw
		}
	}
}
