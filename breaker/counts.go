package breaker

import (
	"sync/atomic"
	"time"
	"unsafe"
)

// Counts is a snapshot of a breaker's figures. The lifetime totals are summed
// from per-core stripes while calls go on, so a snapshot taken under load may
// miss the calls that finished while it was taken.
type Counts struct {
	// State is the breaker's state when the snapshot was taken.
	State State

	// TotalCalls is the number of calls that finished and were counted:
	// SuccessCalls + FailureCalls + NeutralCalls. It includes results that
	// arrived too late to change the state (stale generation) and outcomes
	// reported by RecordSuccess and RecordFailure. Lifetime total.
	TotalCalls uint64
	// SuccessCalls is the number of calls that counted as Success. Lifetime.
	SuccessCalls uint64
	// FailureCalls is the number of calls that counted as Failure, panics
	// included. Lifetime.
	FailureCalls uint64
	// NeutralCalls is the number of calls that counted as Neutral. Lifetime.
	NeutralCalls uint64
	// SlowCalls is the number of successes and failures that took at least
	// SlowCallDuration (always 0 when it is not set). Lifetime.
	SlowCalls uint64
	// Rejected is the number of calls refused with ErrOpen or
	// ErrTooManyRequests. Lifetime.
	Rejected uint64

	// ConsecutiveFailures is the current run of failures while closed (0 in
	// other states).
	ConsecutiveFailures uint32
	// ProbesInFlight is the number of half-open probes admitted and not yet
	// finished (0 in other states).
	ProbesInFlight uint32
	// ProbeSuccesses is the number of successful probes in the current
	// half-open period (0 in other states).
	ProbeSuccesses uint32

	// LastFailTime is when the most recent failure was recorded; zero if
	// there has been none.
	LastFailTime time.Time

	// Window holds the current window's figures (zero when the breaker keeps
	// no window, or is not closed or disabled: every other state starts the
	// next closed period with an empty window).
	Window WindowCounts
}

// SuccessRate returns SuccessCalls / (SuccessCalls + FailureCalls), or 1 when
// nothing has been decided yet.
func (c Counts) SuccessRate() float64 {
	d := c.SuccessCalls + c.FailureCalls
	if d == 0 {
		return 1
	}
	return float64(c.SuccessCalls) / float64(d)
}

// WindowCounts are the figures of the current sliding window.
type WindowCounts struct {
	Calls       uint64  // successes and failures in the window
	Failures    uint64  // failures in the window
	Slow        uint64  // slow calls in the window
	FailureRate float64 // Failures / Calls (0 when Calls is 0)
	SlowRate    float64 // Slow / Calls (0 when Calls is 0)
}

// stripe holds one share of the lifetime totals. Each goroutine adds to the
// stripe picked by its stack address, so goroutines on different cores
// mostly write to different cache lines; Counts sums all stripes.
type stripe struct {
	success  atomic.Uint64
	failure  atomic.Uint64
	neutral  atomic.Uint64
	slow     atomic.Uint64
	rejected atomic.Uint64
	_        [128 - 5*8]byte // one stripe per 128 bytes: two lines, as x86 prefetches pairs
}

type stripes struct {
	s     []stripe
	shift uint // 64 - log2(len(s))
}

func newStripes(procs int) stripes {
	n := 1
	for n < 2*procs && n < 64 {
		n <<= 1
	}
	bits := uint(0)
	for 1<<bits < n {
		bits++
	}
	return stripes{s: make([]stripe, n), shift: 64 - bits}
}

// pick returns the stripe for the calling goroutine. A goroutine's stack
// address is stable while it runs and differs between goroutines, which makes
// it a free, lock-free "goroutine id" for spreading writes; the hash mixes
// the address above 2 KiB (the smallest stack) so nearby frames of one
// goroutine share a stripe.
func (st *stripes) pick() *stripe {
	var marker byte
	h := uint64(uintptr(unsafe.Pointer(&marker))>>11) * 0x9E3779B97F4A7C15
	return &st.s[h>>st.shift]
}

func (st *stripes) sum() (succ, fail, neutral, slow, rejected uint64) {
	for i := range st.s {
		s := &st.s[i]
		succ += s.success.Load()
		fail += s.failure.Load()
		neutral += s.neutral.Load()
		slow += s.slow.Load()
		rejected += s.rejected.Load()
	}
	return
}
