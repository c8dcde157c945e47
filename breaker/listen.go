package breaker

import (
	"errors"
	"sync/atomic"
	"time"
)

// Subscribe adds fn as a listener of the breaker's transitions, with the same
// guarantees as Config.OnStateChange: every transition that takes effect
// after Subscribe returns, in order, after it took effect, on the goroutine
// that caused it (wrap a slow listener in an AsyncListener). Any number of
// listeners may be added and removed at any time; adding one costs the call
// path nothing. After cancel returns, fn is not called for any transition
// delivered later (a delivery to fn already under way on another goroutine
// finishes). Transition.Generation counts the transitions since the
// breaker's first listener was added (from New with OnStateChange).
func (b *Breaker) Subscribe(fn func(Transition)) (cancel func()) {
	b.load("Subscribe")
	if fn == nil {
		panic("breaker: Subscribe with a nil function")
	}
	n := b.notify.Load()
	if n == nil {
		b.notify.CompareAndSwap(nil, newNotifier())
		n = b.notify.Load()
	}
	return n.add(fn)
}

// TripFor opens the breaker now for d: StateOpen, as if it had tripped
// (ReasonTripFor), so after d it half-opens and probes like after any trip.
// It is how a caller applies a dependency's own "retry after d" (an HTTP
// Retry-After). An open breaker whose period ends later than d from now
// keeps its period: TripFor never shortens one. A breaker that is forced
// open or disabled is left alone, with an error (an operator's choice wins),
// and so is a d outside (0, MaxOpenDuration].
func (b *Breaker) TripFor(d time.Duration) error { return b.tripFor(d, ReasonTripFor) }

func (b *Breaker) tripFor(d time.Duration, reason Reason) error {
	b.load("TripFor")
	if d <= 0 || d > MaxOpenDuration {
		return errors.New("breaker: TripFor duration must be within (0, " + MaxOpenDuration.String() + "]")
	}
	for {
		w := b.settle()
		now := b.now()
		streak := uint32(1)
		switch phaseOf(w) {
		case phaseForced, phaseForcedIndef:
			return errors.New("breaker: TripFor on a forced-open breaker: it stays forced open")
		case phaseDisabled:
			return errors.New("breaker: TripFor on a disabled breaker: it stays disabled")
		case phaseOpen:
			if b.periodLeft(w, now) >= int64(d) {
				return nil
			}
			streak = b.streakOf(w)
		case phaseHalfOpen:
			_, _, k := halfOpenFields(w)
			streak = k + 1
		}
		t := Transition{Reason: reason}
		if phaseOf(w) == phaseClosed {
			t.ConsecutiveFailures = b.runOf(w)
		}
		if b.open(w, streak, int64(d), now, t) {
			return nil
		}
	}
}

// AsyncListener hands transitions to a function on a goroutine of its own, in
// order, so that a slow listener never slows down the call that caused a
// transition. Pass its Listen method to Config.OnStateChange or Subscribe,
// and Close it when done.
//
// It queues up to the size given to NewAsyncListener; a transition that
// arrives while the queue is full is dropped and counted (Dropped), never
// waited for.
type AsyncListener struct {
	ch      chan Transition
	done    chan struct{}
	closed  atomic.Bool
	dropped atomic.Uint64
}

// NewAsyncListener starts the goroutine that calls fn for each transition
// passed to Listen, with room for size waiting transitions (at least 1).
func NewAsyncListener(fn func(Transition), size int) *AsyncListener {
	if fn == nil {
		panic("breaker: NewAsyncListener with a nil function")
	}
	a := &AsyncListener{ch: make(chan Transition, max(size, 1)), done: make(chan struct{})}
	go func() {
		defer close(a.done)
		for t := range a.ch {
			fn(t)
		}
	}()
	return a
}

// Listen queues t for the listener's goroutine without waiting; it drops t
// (and counts it) if the queue is full or the listener is closed.
func (a *AsyncListener) Listen(t Transition) {
	if a.closed.Load() {
		a.dropped.Add(1)
		return
	}
	defer func() {
		if recover() != nil { // closed meanwhile
			a.dropped.Add(1)
		}
	}()
	select {
	case a.ch <- t:
	default:
		a.dropped.Add(1)
	}
}

// Dropped returns how many transitions were dropped.
func (a *AsyncListener) Dropped() uint64 { return a.dropped.Load() }

// Close stops taking transitions, waits until those queued have been handed
// to fn, and stops the goroutine. It is safe to call more than once.
func (a *AsyncListener) Close() {
	if a.closed.CompareAndSwap(false, true) {
		close(a.ch)
	}
	<-a.done
}

// FleetTrip is TripFor for a coordinator that shares decisions between the
// replicas of a service (such as contrib/redis): the same transition, with
// ReasonFleetTrip, so that listeners (and the coordinator itself) can tell
// it from a local trip.
func (b *Breaker) FleetTrip(d time.Duration) error {
	return b.tripFor(d, ReasonFleetTrip)
}

// FleetProbe ends the current open period now, for a replica that a fleet
// coordinator elected to probe: the breaker becomes half-open
// (ReasonFleetProbe) and its next calls are probes. It reports whether it
// did; it does nothing in any state but StateOpen.
func (b *Breaker) FleetProbe() bool {
	for {
		w := b.settle()
		if phaseOf(w) != phaseOpen {
			return false
		}
		now := b.now()
		nw := pack(phaseHalfOpen, nextGen(w), halfOpenPayload(0, 0, b.streakOf(w)))
		b.stampLease(now)
		if b.move(w, nw, Transition{Reason: ReasonFleetProbe, At: b.timeAt(now)}) {
			return true
		}
	}
}

// FleetClose closes an open or half-open breaker with fresh counters
// (ReasonFleetClose), for a fleet coordinator whose fleet closed. It reports
// whether it did; a closed, forced-open or disabled breaker is left alone.
func (b *Breaker) FleetClose() bool {
	for {
		w := b.settle()
		if p := phaseOf(w); p != phaseOpen && p != phaseHalfOpen {
			return false
		}
		now := b.now()
		if b.move(w, pack(phaseClosed, nextGen(w), 0), Transition{Reason: ReasonFleetClose, At: b.timeAt(now)}) {
			return true
		}
	}
}
