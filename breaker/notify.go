package breaker

import (
	"slices"
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
)

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

// notifier delivers transitions to the callback in generation order without
// a lock. A transition's winner pushes it on a lock-free stack and then tries
// to become the deliverer (busy 0 -> 1). The deliverer alone owns pending and
// next: it drains the stack, delivers every transition whose generation is
// the next one due, parks the others (their predecessor's winner has not
// pushed yet; it will, and will find the stack non-empty or deliver itself),
// and before leaving re-checks the stack, so nothing pushed while it was busy
// is stranded. A callback that causes a transition pushes it and returns at
// once: the deliverer further up its own stack delivers it next.
type notifier struct {
	fn      func(Transition)
	head    uatomic.Pointer[event]
	busy    uatomic.Bool
	pending []*event // owned by the deliverer
	next    uint64   // generation due next; owned by the deliverer
}

type event struct {
	t    Transition
	gen  uint16 // 13-bit generation of the word the transition published
	link *event
}

func newNotifier(fn func(Transition)) *notifier {
	return &notifier{fn: fn, next: 1}
}

func (n *notifier) push(e *event) {
	for {
		old := n.head.Load()
		e.link = old
		if n.head.CompareAndSwap(old, e) {
			break
		}
	}
	n.drain()
}

func (n *notifier) drain() {
	for {
		if !n.busy.CompareAndSwap(false, true) {
			return
		}
		for e := n.head.Swap(nil); e != nil; e = e.link {
			n.pending = append(n.pending, e)
		}
		for {
			i := slices.IndexFunc(n.pending, func(e *event) bool { return e.gen == uint16(n.next)&genMask })
			if i < 0 {
				break
			}
			e := n.pending[i]
			n.pending = slices.Delete(n.pending, i, i+1)
			e.t.Generation = n.next
			n.next++
			n.deliver(e.t)
			for e := n.head.Swap(nil); e != nil; e = e.link {
				n.pending = append(n.pending, e)
			}
		}
		n.busy.Store(false)
		if n.head.Load() == nil {
			return
		}
	}
}

// deliver calls the callback. If the callback panics, the panic goes on up the
// stack of the call that was delivering, but the deliverer role is released
// first, so later transitions are still delivered.
func (n *notifier) deliver(t Transition) {
	returned := false
	defer func() {
		if !returned {
			n.busy.Store(false)
		}
	}()
	n.fn(t)
	returned = true
}
