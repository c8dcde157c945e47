package breaker

import (
	"time"

	uatomic "go.uber.org/atomic"
)

// Reason says why a transition happened.
type Reason uint8

const (
	// ReasonConsecutiveFailures: FailureThreshold consecutive failures.
	ReasonConsecutiveFailures Reason = iota + 1
	// ReasonFailureRate: the window's failure rate reached
	// FailureRateThreshold.
	ReasonFailureRate
	// ReasonSlowCallRate: the window's slow-call rate reached
	// SlowCallRateThreshold.
	ReasonSlowCallRate
	// ReasonTimeoutElapsed: the open period ended; the breaker probes.
	ReasonTimeoutElapsed
	// ReasonProbeFailed: a half-open probe failed (or was slow, or
	// panicked); the breaker reopened.
	ReasonProbeFailed
	// ReasonProbesSucceeded: SuccessThreshold probes succeeded; the breaker
	// closed.
	ReasonProbesSucceeded
	// ReasonProbeLeaseExpired: every probe slot was held past ProbeLease; the
	// slots were reclaimed (a half-open to half-open transition).
	ReasonProbeLeaseExpired
	// ReasonReset: Reset was called.
	ReasonReset
	// ReasonForceOpen: ForceOpen was called.
	ReasonForceOpen
	// ReasonForceExpired: the duration given to ForceOpen ran out.
	ReasonForceExpired
	// ReasonDisable: Disable was called.
	ReasonDisable
	// ReasonRelease: Release was called.
	ReasonRelease
	// ReasonStuckCalls: more than MaxStuckCalls calls of the closed period
	// had been in flight for at least SlowCallDuration.
	ReasonStuckCalls
	// ReasonTripFor: TripFor opened the breaker (for example on a
	// dependency's Retry-After).
	ReasonTripFor
	// ReasonFleetTrip: a fleet coordinator opened the breaker (FleetTrip)
	// because the fleet as a whole tripped.
	ReasonFleetTrip
	// ReasonFleetProbe: a fleet coordinator ended the open period early
	// (FleetProbe): this replica was elected to probe.
	ReasonFleetProbe
	// ReasonFleetClose: a fleet coordinator closed the breaker (FleetClose)
	// because the fleet closed.
	ReasonFleetClose
)

// Fleet reports whether r is one of the reasons a fleet coordinator causes
// (FleetTrip, FleetProbe, FleetClose), so that a coordinator listening to a
// breaker can skip the transitions it caused itself.
func (r Reason) Fleet() bool {
	return r == ReasonFleetTrip || r == ReasonFleetProbe || r == ReasonFleetClose
}

var reasonNames = [...]string{
	ReasonConsecutiveFailures: "consecutive-failures",
	ReasonFailureRate:         "failure-rate",
	ReasonSlowCallRate:        "slow-call-rate",
	ReasonTimeoutElapsed:      "timeout-elapsed",
	ReasonProbeFailed:         "probe-failed",
	ReasonProbesSucceeded:     "probes-succeeded",
	ReasonProbeLeaseExpired:   "probe-lease-expired",
	ReasonReset:               "reset",
	ReasonForceOpen:           "force-open",
	ReasonForceExpired:        "force-expired",
	ReasonDisable:             "disable",
	ReasonRelease:             "release",
	ReasonStuckCalls:          "stuck-calls",
	ReasonTripFor:             "trip-for",
	ReasonFleetTrip:           "fleet-trip",
	ReasonFleetProbe:          "fleet-probe",
	ReasonFleetClose:          "fleet-close",
}

// String returns a short kebab-case name such as "consecutive-failures".
func (r Reason) String() string {
	if int(r) < len(reasonNames) && reasonNames[r] != "" {
		return reasonNames[r]
	}
	return "unknown"
}

// Transition describes one state change, as delivered to
// Config.OnStateChange.
type Transition struct {
	// Name is Config.Name.
	Name string
	// From and To are the states before and after. They are equal for a
	// probe-lease reclaim (ReasonProbeLeaseExpired) and for Reset, ForceOpen
	// or Disable applied to a breaker already in the state they ask for.
	From, To State
	// Generation numbers the transitions of this breaker: 1 for the first,
	// then one more for each, with no gaps.
	Generation uint64
	// At is the time of the transition on the breaker's Clock.
	At time.Time
	// Reason says what caused it.
	Reason Reason
	// ConsecutiveFailures is the run of failures that tripped a closed
	// breaker (ReasonConsecutiveFailures; also filled for the rate reasons).
	ConsecutiveFailures uint32
	// ProbeSuccesses is the number of successful probes when a half-open
	// breaker closed or reopened.
	ProbeSuccesses uint32
	// StuckCalls is the number of stuck calls that tripped the breaker
	// (ReasonStuckCalls).
	StuckCalls uint64
	// Window holds the window's figures when a rate rule tripped.
	Window WindowCounts
	// OpenFor is the length of the open period that starts (To == StateOpen,
	// or StateForcedOpen with a duration); 0 otherwise.
	OpenFor time.Duration
}

// Delivery of transitions to listeners (Config.OnStateChange and Subscribe).
//
// A transition's goroutine enqueues its event (pending) before its CAS on the
// word, then marks it won or lost, then delivers. Enqueue order is CAS order
// for the events that win: a transition's goroutine loads the word it moves
// from after the previous transition's CAS, which came after the previous
// transition's enqueue. So the queue is the history, and delivering it in
// queue order, skipping lost events, delivers every transition once, in
// order, numbered by a 64-bit count that never wraps, however many
// transitions happen while a listener runs or a goroutine is preempted
// between its CAS and its mark. A pending event at the head stops delivery
// until its goroutine marks it; that goroutine then delivers.
//
// The queue is a lock-free multi-producer FIFO (tail swap, then link); one
// goroutine at a time delivers (the busy flag), in time linear in the
// backlog. Listeners run on the goroutine of a transition (synchronously),
// after the transition took effect and outside any critical section: a
// listener may call back into the breaker, whose transitions are then
// delivered by the same goroutine after the listener returns. A listener that
// must never slow a call down is wrapped in an AsyncListener.
type notifier struct {
	head      uatomic.Pointer[event] // written by the deliverer: the last event taken off
	tail      uatomic.Pointer[event]
	busy      uatomic.Bool
	delivered uint64 // owned by the deliverer
	listeners uatomic.Pointer[[]*listener]
}

// event states.
const (
	evPending uint32 = iota
	evWon
	evLost
)

type event struct {
	t     Transition
	state uatomic.Uint32
	next  uatomic.Pointer[event]
}

type listener struct {
	fn        func(Transition)
	cancelled uatomic.Bool
}

func newNotifier() *notifier {
	n := &notifier{}
	stub := &event{}
	stub.state.Store(evLost)
	n.head.Store(stub)
	n.tail.Store(stub)
	return n
}

// add registers fn and returns the function that removes it.
func (n *notifier) add(fn func(Transition)) (cancel func()) {
	l := &listener{fn: fn}
	for {
		old := n.listeners.Load()
		var next []*listener
		if old != nil {
			next = append(next, *old...)
		}
		next = append(next, l)
		if n.listeners.CompareAndSwap(old, &next) {
			break
		}
	}
	return func() {
		l.cancelled.Store(true)
		for {
			old := n.listeners.Load()
			next := make([]*listener, 0, len(*old))
			for _, x := range *old {
				if x != l {
					next = append(next, x)
				}
			}
			if n.listeners.CompareAndSwap(old, &next) {
				return
			}
		}
	}
}

// enqueue appends a pending event for t.
func (n *notifier) enqueue(t Transition) *event {
	e := &event{t: t}
	prev := n.tail.Swap(e)
	prev.next.Store(e)
	return e
}

// resolve marks e won or lost and delivers what is deliverable.
func (n *notifier) resolve(e *event, won bool) {
	if won {
		e.state.Store(evWon)
	} else {
		e.state.Store(evLost)
	}
	n.drain()
}

// ready reports whether the event after head is marked.
func (n *notifier) ready() bool {
	next := n.head.Load().next.Load()
	return next != nil && next.state.Load() != evPending
}

// drain delivers, in queue order, every marked event, as long as this
// goroutine can be the deliverer. After giving the role up it looks again:
// a goroutine that marked an event while this one was delivering found the
// role taken and left the event to this one (both sides write, then read,
// with sequentially consistent atomics, so one of them sees the other).
func (n *notifier) drain() {
	for n.busy.CompareAndSwap(false, true) {
		n.deliverReady()
		n.busy.Store(false)
		if !n.readyAfterRelease() {
			return
		}
	}
}

// readyAfterRelease is ready, read after the role was given up: if another
// goroutine took the role meanwhile, it delivers and this one need not.
func (n *notifier) readyAfterRelease() bool {
	if n.busy.Load() {
		return false
	}
	return n.ready()
}

func (n *notifier) deliverReady() {
	for {
		next := n.head.Load().next.Load()
		if next == nil || next.state.Load() == evPending {
			return
		}
		n.head.Store(next)
		if next.state.Load() != evWon {
			continue
		}
		n.delivered++
		next.t.Generation = n.delivered
		n.call(next.t)
	}
}

// call hands t to every listener. If one panics, the others still get t;
// then the deliverer role is given up and the rest of the queue delivered
// before the first panic goes on up the stack of the call that was
// delivering, so no transition stays queued behind a panicking listener.
func (n *notifier) call(t Transition) {
	ls := n.listeners.Load()
	if ls == nil {
		return
	}
	var first any
	panicked := false
	for _, l := range *ls {
		if l.cancelled.Load() {
			continue
		}
		if r, p := n.guarded(l.fn, t); p && !panicked {
			first, panicked = r, true
		}
	}
	if panicked {
		n.busy.Store(false)
		n.drain()
		panic(first)
	}
}

// guarded calls fn(t) and returns what it panicked with, if it did. A
// listener that calls runtime.Goexit ends its goroutine; the deliverer role is
// given up first, and the next transition delivers what is queued.
func (n *notifier) guarded(fn func(Transition), t Transition) (r any, panicked bool) {
	defer func() {
		if panicked {
			if r = recover(); r == nil {
				n.busy.Store(false)
			}
		}
	}()
	panicked = true
	fn(t)
	return nil, false
}
