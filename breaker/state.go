package breaker

import (
	"fmt"

	"github.com/fusebox-go/fusebox/internal/window"
)

// State is the externally visible state of a Breaker.
type State uint8

const (
	// StateClosed admits every call and counts outcomes.
	StateClosed State = iota
	// StateOpen rejects every call with ErrOpen until its open period ends.
	StateOpen
	// StateHalfOpen admits up to Config.HalfOpenMaxCalls probes at a time and
	// rejects the rest with ErrTooManyRequests.
	StateHalfOpen
	// StateForcedOpen was entered by ForceOpen: it rejects every call with
	// ErrOpen until Release, Reset, or the end of the duration given to
	// ForceOpen.
	StateForcedOpen
	// StateDisabled was entered by Disable: it admits every call and counts
	// outcomes, but never trips.
	StateDisabled
)

// String returns "closed", "open", "half-open", "forced-open" or "disabled".
func (s State) String() string {
	switch s {
	case StateClosed:
		return "closed"
	case StateOpen:
		return "open"
	case StateHalfOpen:
		return "half-open"
	case StateForcedOpen:
		return "forced-open"
	case StateDisabled:
		return "disabled"
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// The state word.
//
// Everything a decision depends on lives in one uint64, Breaker.word, and
// every change to it is a single compare-and-swap from the exact word the
// decision was made on to a complete new word. A reader therefore sees a
// phase together with the generation and counters that belong to it, never a
// new phase with old counters.
//
//	 63   61 60          48 47                                              0
//	+-------+--------------+-------------------------------------------------+
//	| phase |  generation  |                  payload (48 bits)              |
//	+-------+--------------+-------------------------------------------------+
//
//	phase closed        payload[15:0]  consecutive failures (saturates at 65535)
//	phase half-open     payload[15:0]  probes in flight
//	                    payload[31:16] probe successes
//	                    payload[47:32] trip streak: opens since the last close
//	phase open          payload[47]    due: the open period is known to be over
//	                    payload[46:0]  deadline, ns since the origin, mod 2^47
//	phase forced        payload[47]    due
//	                    payload[46:0]  deadline, µs since the origin, rounded up
//	phase forced-until-released, disabled: payload is zero
//
// The generation (13 bits, wrapping) is incremented by every transition,
// including the ones that keep the phase (Reset of a closed breaker, a probe
// lease reclaim). A Ticket carries the generation it was admitted under; a
// result whose generation no longer matches the word is counted in the
// lifetime totals and changes nothing else. That is what makes late results
// harmless: a slow call admitted while closed cannot close or reopen a later
// half-open breaker, and a probe whose slot was reclaimed by the lease cannot
// free a slot twice. The windows tag their buckets with the same generation,
// so a new closed period starts with an empty window without clearing it.
//
// Open deadlines are kept modulo 2^47 ns (about 39 hours) and compared
// against "now" by their distance: a deadline is still ahead when it is at
// most maxOpen (the longest open period the Config can produce, itself at
// most MaxOpenDuration) in the future. That reading is used only until the
// period's openRecord (which keeps the whole deadline) is published, so an
// open breaker left untouched for longer than 2^47 ns still sees its period
// over. The due bit is set by the breaker's timer when its clock offers
// timers (the system clock does), so a rejection then needs no clock read at
// all: one load of the word decides it.
type phase uint8

const (
	// phaseUnset is the zero word: a Breaker not made by New. Every path
	// that meets it fails with a message saying to use New.
	phaseUnset phase = iota
	phaseClosed
	phaseOpen
	phaseHalfOpen
	phaseForced      // forced open until a deadline
	phaseForcedIndef // forced open until released
	phaseDisabled
)

const (
	phaseShift = 61
	genShift   = 48
	genBits    = window.GenBits // 13
	genMask    = 1<<genBits - 1
	payMask    = 1<<genShift - 1

	cfMask = 1<<16 - 1 // closed: consecutive failures

	hoFlightMask   = 1<<16 - 1 // half-open: in flight
	hoSuccShift    = 16
	hoStreakShift  = 32
	maxCounter     = 1<<16 - 1
	dueBit         = 1 << 47
	deadlineBits   = 47
	deadlineMask   = 1<<deadlineBits - 1
	deadlineWindow = 1 << (deadlineBits - 1)
)

func pack(p phase, gen uint16, payload uint64) uint64 {
	return uint64(p)<<phaseShift | uint64(gen&genMask)<<genShift | payload&payMask
}

func phaseOf(w uint64) phase    { return phase(w >> phaseShift) }
func genOf(w uint64) uint16     { return uint16(w>>genShift) & genMask }
func payloadOf(w uint64) uint64 { return w & payMask }
func nextGen(w uint64) uint16   { return (genOf(w) + 1) & genMask }

func closedFailures(w uint64) uint32 { return uint32(w & cfMask) }

func halfOpenPayload(inFlight, successes, streak uint32) uint64 {
	return uint64(inFlight) | uint64(successes)<<hoSuccShift | uint64(streak)<<hoStreakShift
}

func halfOpenFields(w uint64) (inFlight, successes, streak uint32) {
	p := payloadOf(w)
	return uint32(p & hoFlightMask), uint32(p>>hoSuccShift) & maxCounter, uint32(p>>hoStreakShift) & maxCounter
}

func isDue(w uint64) bool { return w&dueBit != 0 }

// publicState maps a phase to the State users see.
func (p phase) public() State {
	switch p {
	case phaseOpen:
		return StateOpen
	case phaseHalfOpen:
		return StateHalfOpen
	case phaseForced, phaseForcedIndef:
		return StateForcedOpen
	case phaseDisabled:
		return StateDisabled
	}
	return StateClosed
}

// openDeadlineField encodes an open deadline (ns since origin).
func openDeadlineField(deadline int64) uint64 { return uint64(deadline) & deadlineMask }

// openRemaining returns how long the open period in w still lasts at now
// (<= 0: over). maxOpen bounds every open period, so a distance above it can
// only mean the deadline lies in the past.
func openRemaining(w uint64, now, maxOpen int64) int64 {
	d := (payloadOf(w) - uint64(now)) & deadlineMask
	if d == 0 || d > uint64(maxOpen) {
		return 0
	}
	return int64(d)
}

// forcedDeadlineField encodes a forced-open deadline (ns since origin) in µs,
// rounded up so the breaker never reopens early.
func forcedDeadlineField(deadline int64) uint64 {
	return uint64((deadline+999)/1000) & deadlineMask
}

// forcedRemaining is openRemaining for a forced deadline (µs resolution).
func forcedRemaining(w uint64, now int64) int64 {
	d := (payloadOf(w) - uint64(now/1000)) & deadlineMask
	if d == 0 || d >= deadlineWindow {
		return 0
	}
	return int64(d)*1000 - now%1000
}
