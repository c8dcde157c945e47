package breaker

import (
	"runtime"
	"sync/atomic"
	"time"

	"github.com/fusebox-go/fusebox/internal/window"
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

	// StuckCalls is the number of calls admitted in the current closed
	// period that have been in flight for at least SlowCallDuration, as the
	// MaxStuckCalls rule counts them (0 when the rule is off or in other
	// states).
	StuckCalls uint64

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

// The lifetime totals, kept like Java's LongAdder: one base stripe while
// nobody contends, per-core stripes from the first contended update on.
const (
	totSuccess = iota
	totFailure
	totNeutral
	totSlow
	totRejected
	numTotals
)

// stripe holds one share of the lifetime totals, on a cache line (two, as
// x86 prefetches pairs) of its own.
type stripe struct {
	n [numTotals]atomic.Uint64
	// lastFail is 1 + the time of the latest failure counted in this
	// stripe (0: none). Every failure writes it next to the counter it adds
	// to, on a line that core writes anyway; LastFailTime is the latest of
	// all stripes.
	lastFail atomic.Int64
	_        [128 - numTotals*8 - 8]byte
}

// adder is a set of monotonic counters that costs one stripe while a single
// core updates it. The base stripe is updated by compare-and-swap; the first
// CAS that fails (another core updated the same counter in between) makes
// the adder allocate one stripe per core slot (up to 64), and from then on
// every goroutine adds to the stripe its stack address picks, which keeps
// contended counting as cheap as it is per-core. Sums add the base and all
// stripes; every counter only grows, so a sum never goes backwards.
type adder struct {
	base    stripe
	stripes atomic.Pointer[[]stripe]
}

// counter returns the word of total k the calling goroutine adds to.
func (a *adder) counter(k int) *atomic.Uint64 {
	if st := a.stripes.Load(); st != nil {
		s := *st
		return &s[window.Pick(len(s))].n[k]
	}
	return &a.base.n[k]
}

// inc adds one to total k.
func (a *adder) inc(k int) { a.add(a.counter(k), k) }

// fail counts a failure at time now in the stripe the calling goroutine
// adds to, and stamps that stripe's lastFail.
func (a *adder) fail(now int64) {
	s := &a.base
	if st := a.stripes.Load(); st != nil {
		s = &(*st)[window.Pick(len(*st))]
	}
	a.add(&s.n[totFailure], totFailure)
	s.lastFail.Store(now + 1)
}

// lastFail returns 1 + the time of the latest failure stamped (0: none).
func (a *adder) lastFail() int64 {
	lf := a.base.lastFail.Load()
	if st := a.stripes.Load(); st != nil {
		for i := range *st {
			lf = max(lf, (*st)[i].lastFail.Load())
		}
	}
	return lf
}

// add adds one to counter c of total k, as returned by counter.
func (a *adder) add(c *atomic.Uint64, k int) {
	if c != &a.base.n[k] {
		// A stripe: CAS first, so a stripe shared with a goroutine on
		// another core shows up (see window.Collided).
		if old := c.Load(); !c.CompareAndSwap(old, old+1) {
			if st := a.stripes.Load(); st != nil {
				window.Collided(len(*st))
			}
			c.Add(1)
		}
		return
	}
	old := c.Load()
	if c.CompareAndSwap(old, old+1) {
		return
	}
	a.spread()
	a.counter(k).Add(1)
}

func (a *adder) spread() {
	st := make([]stripe, window.SetsFor(runtime.GOMAXPROCS(0)))
	a.stripes.CompareAndSwap(nil, &st)
}

// width returns the number of stripes counted into: 1 until contention.
func (a *adder) width() int {
	if st := a.stripes.Load(); st != nil {
		return len(*st)
	}
	return 1
}

// sum returns the totals.
func (a *adder) sum() (v [numTotals]uint64) {
	for k := range v {
		v[k] = a.base.n[k].Load()
	}
	if st := a.stripes.Load(); st != nil {
		for i := range *st {
			for k := range v {
				v[k] += (*st)[i].n[k].Load()
			}
		}
	}
	return v
}

// Counts returns a snapshot of the breaker's figures. Like State, it ends an
// open period that is over and applies the stuck-call rule.
func (b *Breaker) Counts() Counts {
	b.load("Counts") // a nil or zero Breaker panics naming Counts
	w := b.settle()
	var now int64 // read below when the stuck-call rule needs it
	if b.stuck != nil && phaseOf(w) == phaseClosed {
		now = b.now()
		if b.stuckTrip(w, now) {
			w = b.settle()
		}
	}
	var c Counts
	c.State = phaseOf(w).public()
	t := b.totals.sum()
	if b.cwin != nil {
		// A closed success of a count window is counted by its cell
		// alone (see closedSuccess).
		t[totSuccess] += b.cwin.Lifetime()
	}
	c.SuccessCalls, c.FailureCalls, c.NeutralCalls = t[totSuccess], t[totFailure], t[totNeutral]
	c.SlowCalls, c.Rejected = t[totSlow], t[totRejected]
	c.TotalCalls = c.SuccessCalls + c.FailureCalls + c.NeutralCalls
	switch phaseOf(w) {
	case phaseClosed:
		c.ConsecutiveFailures = b.runOf(w)
		if b.stuck != nil {
			c.StuckCalls = b.stuck.count(genOf(w), now)
		}
	case phaseHalfOpen:
		c.ProbesInFlight, c.ProbeSuccesses, _ = halfOpenFields(w)
	}
	if lf := b.totals.lastFail(); lf != 0 {
		c.LastFailTime = b.timeAt(lf - 1)
	}
	if phaseOf(w) == phaseClosed || phaseOf(w) == phaseDisabled {
		c.Window = b.windowCounts(w)
	}
	return c
}
