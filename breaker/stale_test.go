package breaker

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestStaleClosedTicketInHalfOpen(t *testing.T) {
	for _, result := range []error{nil, errBoom, context.Canceled} {
		t.Run(DefaultClassify(result).String(), func(t *testing.T) {
			e := newEnv(t, Config{FailureThreshold: 1, SuccessThreshold: 1, HalfOpenMaxCalls: 1, Timeout: time.Second})
			late := e.admit() // admitted while closed
			e.trip(1)
			e.adv(time.Second)
			probe := e.admit() // half-open, the only slot taken
			before := e.counts()
			late.Done(result)
			e.state(StateHalfOpen) // neither closed nor reopened
			c := e.counts()
			eq(t, "ProbesInFlight", c.ProbesInFlight, 1) // no slot freed
			eq(t, "ProbeSuccesses", c.ProbeSuccesses, 0)
			eq(t, "TotalCalls", c.TotalCalls, before.TotalCalls+1) // but counted
			e.rejected(ErrTooManyRequests)
			probe.Done(nil)
			e.state(StateClosed)
		})
	}
}

func TestStaleTicketsChangeNothingAfterReset(t *testing.T) {
	e := newEnv(t, Config{FailureThreshold: 2})
	late := []Ticket{e.admit(), e.admit()}
	e.b.Reset()
	e.fails(1)
	late[0].Done(errBoom) // would complete the run of two
	e.state(StateClosed)
	eq(t, "ConsecutiveFailures", e.counts().ConsecutiveFailures, 1)
	late[1].Done(nil) // would reset the run
	eq(t, "ConsecutiveFailures", e.counts().ConsecutiveFailures, 1)
	eq(t, "FailureCalls", e.counts().FailureCalls, 2)
}

// A stale result must not take a place in the current count window: the
// window is "the last N calls" of the current generation.
func TestStaleResultDoesNotEvictWindow(t *testing.T) {
	for _, kind := range []string{"closed", "disabled"} {
		t.Run(kind, func(t *testing.T) {
			e := newEnv(t, Config{FailureRateThreshold: 0.5, WindowSize: 4, MinimumCalls: 4})
			if kind == "disabled" {
				e.b.Disable()
			}
			late := []Ticket{e.admit(), e.admit()}
			e.b.Reset()
			e.oks(2)
			e.fails(1)
			late[0].Done(nil)
			late[1].Done(nil)
			eq(t, "Window", e.counts().Window, WindowCounts{Calls: 3, Failures: 1, FailureRate: 1.0 / 3})
			e.fails(1) // S S F F: 0.5 trips
			e.state(StateOpen)
		})
	}
}

func TestStaleProbeAfterReopen(t *testing.T) {
	e := newEnv(t, Config{FailureThreshold: 1, SuccessThreshold: 1, HalfOpenMaxCalls: 2, Timeout: time.Second})
	e.trip(1)
	e.adv(time.Second)
	p1, p2 := e.admit(), e.admit()
	p1.Done(errBoom) // reopen
	e.adv(time.Second)
	p3 := e.admit()
	p2.Done(nil) // stale success must not close
	e.state(StateHalfOpen)
	eq(t, "ProbesInFlight", e.counts().ProbesInFlight, 1)
	p2.Done(errBoom) // nor reopen
	e.state(StateHalfOpen)
	p3.Done(nil)
	e.state(StateClosed)
}

func TestProbeLeaseRecoversLostTicket(t *testing.T) {
	const lease = 5 * time.Second
	rec := &recorder{}
	eachClock(t, Config{FailureThreshold: 1, Timeout: time.Second, ProbeLease: lease, OnStateChange: rec.on}, func(e *env) {
		e.trip(1)
		e.adv(time.Second)
		lost := e.admit() // never reported in time
		e.adv(lease - 1)
		e.rejected(ErrTooManyRequests)
		e.adv(1)
		p := e.admit() // the slot was reclaimed
		e.state(StateHalfOpen)
		lost.Done(errBoom) // stale: must not reopen
		e.state(StateHalfOpen)
		lost.Done(nil) // nor close, nor free p's slot
		e.state(StateHalfOpen)
		eq(t, "ProbesInFlight", e.counts().ProbesInFlight, 1)
		e.rejected(ErrTooManyRequests)
		p.Done(nil)
		e.state(StateClosed)
	})
	var leases int
	for _, tr := range rec.all() {
		if tr.Reason == ReasonProbeLeaseExpired {
			leases++
			eq(t, "From", tr.From, StateHalfOpen)
			eq(t, "To", tr.To, StateHalfOpen)
		}
	}
	eq(t, "lease transitions", leases, 2)
}

func TestProbeLeaseNotBeforeLastAdmission(t *testing.T) {
	e := newEnv(t, Config{FailureThreshold: 1, Timeout: time.Second, HalfOpenMaxCalls: 2, ProbeLease: 10 * time.Second})
	e.trip(1)
	e.adv(time.Second)
	e.admit()
	e.adv(8 * time.Second)
	e.admit() // the last admission restarts the lease
	e.adv(8 * time.Second)
	e.rejected(ErrTooManyRequests)
	e.adv(2 * time.Second)
	e.admit()
}

func TestDefaultProbeLease(t *testing.T) {
	e := newEnv(t, Config{FailureThreshold: 1, Timeout: time.Second})
	e.trip(1)
	e.adv(time.Second)
	e.admit()
	e.adv(DefaultProbeLease - 1)
	e.rejected(ErrTooManyRequests)
	e.adv(1)
	e.admit()
}

// panicking runs fn, which must panic with want, through one of the three
// call entry points.
var panickers = []struct {
	name string
	run  func(b *Breaker, v any)
}{
	{"Call", func(b *Breaker, v any) { b.Call(func() error { panic(v) }) }},
	{"Do", func(b *Breaker, v any) { b.Do(context.Background(), func(context.Context) error { panic(v) }) }},
	{"Execute", func(b *Breaker, v any) { Execute(b, func() (int, error) { panic(v) }) }},
}

func mustPanicWith(t *testing.T, want any, fn func()) {
	t.Helper()
	defer func() {
		if got := recover(); got != want {
			t.Fatalf("recovered %v, want %v", got, want)
		}
	}()
	fn()
}

func TestPanicsCountAsFailureAndFreeSlot(t *testing.T) {
	for _, p := range panickers {
		t.Run(p.name, func(t *testing.T) {
			e := newEnv(t, Config{FailureThreshold: 2, Timeout: time.Second, HalfOpenMaxCalls: 1})
			val := errors.New("the panic value")
			mustPanicWith(t, val, func() { p.run(e.b, val) })
			c := e.counts()
			eq(t, "FailureCalls", c.FailureCalls, 1)
			eq(t, "ConsecutiveFailures", c.ConsecutiveFailures, 1)
			mustPanicWith(t, val, func() { p.run(e.b, val) })
			e.state(StateOpen)
			e.adv(time.Second)
			mustPanicWith(t, val, func() { p.run(e.b, val) }) // a panicking probe
			e.state(StateOpen)                                // counted as a failed probe
			eq(t, "ProbesInFlight", e.counts().ProbesInFlight, 0)
			e.adv(time.Second)
			e.admit().Done(nil) // not wedged
			e.state(StateClosed)
			eq(t, "FailureCalls", e.counts().FailureCalls, 3)
		})
	}
}

func TestPanicWithNeutralClassifierStillFreesSlot(t *testing.T) {
	// Under a classifier that would call every error neutral, a panic is
	// still a failure: it reopens rather than leaving its slot taken.
	e := newEnv(t, Config{FailureThreshold: 1, Timeout: time.Second, Classify: func(err error) Outcome {
		if err == nil {
			return Success
		}
		return Neutral
	}})
	e.fails(1)
	e.state(StateClosed)
	e.b.RecordFailure()
	e.adv(time.Second)
	mustPanicWith(t, "x", func() { panickers[0].run(e.b, "x") })
	e.state(StateOpen)
}

// A trip that won its CAS but arms the timer late, after a Reset and a newer
// trip armed it for their shorter period, must not push that period's end
// back: with a timer the breaker rejects on a plain load until it fires.
func TestLateTimerArmOfOldPeriod(t *testing.T) {
	for _, newer := range []string{"trip", "force"} {
		t.Run(newer, func(t *testing.T) {
			e := newEnv(t, Config{FailureThreshold: 1, Timeout: time.Second})
			e.trip(1)
			old := e.b.word.Load()
			e.b.Reset()
			if newer == "trip" {
				e.trip(1)
			} else {
				e.b.ForceOpen(time.Second)
			}
			e.b.armTimer(old, e.b.now()+int64(time.Hour)) // the old trip's late arm
			e.adv(time.Second - 1)
			e.rejected(ErrOpen)
			e.adv(1)
			e.admit()
		})
	}
}

func TestOnTimerEdges(t *testing.T) {
	e := newEnv(t, Config{FailureThreshold: 1, Timeout: time.Second})
	e.b.onTimer() // closed: nothing to do
	e.state(StateClosed)
	e.trip(1)
	e.adv(time.Second / 2)
	e.b.onTimer() // early: re-arms for the rest, sets nothing
	if isDue(e.b.word.Load()) {
		t.Fatal("an early timer set the due bit")
	}
	e.adv(time.Second/2 - 1)
	e.rejected(ErrOpen)
	e.adv(1) // the re-armed timer fires at the deadline
	if !isDue(e.b.word.Load()) {
		t.Fatal("the timer did not mark the period over")
	}
	e.b.onTimer() // already due: nothing to do
	e.admit()
}
