package breaker

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// trip drives a closed breaker with FailureThreshold n open.
func (e *env) trip(n int) {
	e.t.Helper()
	e.fails(n)
	e.state(StateOpen)
}

// openLasts asserts that the current open period ends exactly d from now:
// still rejecting at d-1ns, a probe admitted at d. It returns the probe.
func (e *env) openLasts(d time.Duration) Ticket {
	e.t.Helper()
	e.adv(d - 1)
	e.rejected(ErrOpen)
	if !e.b.IsOpen() {
		e.t.Fatalf("IsOpen false 1ns before the deadline")
	}
	e.adv(1)
	return e.admit()
}

func TestConsecutiveFailuresTrip(t *testing.T) {
	eachClock(t, Config{FailureThreshold: 3, Timeout: 10 * time.Second}, func(e *env) {
		e.fails(2)
		eq(t, "ConsecutiveFailures", e.counts().ConsecutiveFailures, 2)
		e.oks(1) // a success resets the run
		eq(t, "ConsecutiveFailures after success", e.counts().ConsecutiveFailures, 0)
		e.fails(2)
		e.state(StateClosed)
		e.fails(1)
		e.state(StateOpen)
		eq(t, "ConsecutiveFailures while open", e.counts().ConsecutiveFailures, 0)
		if err := e.ok(); !errors.Is(err, ErrOpen) {
			t.Fatalf("Call while open = %v, want ErrOpen", err)
		}
	})
}

func TestDefaultConfigTripsAfterFive(t *testing.T) {
	e := newEnv(t, Config{})
	e.fails(4)
	e.state(StateClosed)
	e.fails(1)
	e.state(StateOpen)
	e.openLasts(DefaultTimeout).Done(nil)
	e.state(StateClosed)
}

func TestOpenDeadlineInclusiveNoBackoff(t *testing.T) {
	const timeout = 10 * time.Second
	eachClock(t, Config{FailureThreshold: 1, Timeout: timeout}, func(e *env) {
		e.trip(1)
		for i := range 5 { // every open period lasts exactly Timeout
			p := e.openLasts(timeout)
			e.state(StateHalfOpen)
			p.Done(errBoom) // one failed probe reopens
			e.state(StateOpen)
			if i == 0 {
				e.adv(time.Hour) // a long wait does not lengthen the next one
				e.state(StateHalfOpen)
				e.fails(1)
			}
		}
		e.openLasts(timeout).Done(nil)
		e.state(StateClosed)
	})
}

func TestStateSettlesOpenPeriod(t *testing.T) {
	eachClock(t, Config{FailureThreshold: 1, Timeout: time.Second}, func(e *env) {
		e.trip(1)
		e.adv(time.Second)
		e.state(StateHalfOpen) // State ends the period itself
		if e.b.IsOpen() {
			t.Fatal("IsOpen true while half-open")
		}
		eq(t, "ProbesInFlight", e.counts().ProbesInFlight, 0)
		e.admit().Done(nil)
		e.state(StateClosed)
	})
}

func TestHalfOpenCapAndSuccessThreshold(t *testing.T) {
	eachClock(t, Config{FailureThreshold: 1, SuccessThreshold: 3, HalfOpenMaxCalls: 2, Timeout: time.Second}, func(e *env) {
		e.trip(1)
		p1 := e.openLasts(time.Second)
		p2 := e.admit()
		oe := e.rejected(ErrTooManyRequests)
		eq(t, "OpenError.State", oe.State, StateHalfOpen)
		if errors.Is(oe, ErrOpen) {
			t.Fatal("a full half-open breaker's rejection matches ErrOpen")
		}
		c := e.counts()
		eq(t, "ProbesInFlight", c.ProbesInFlight, 2)
		p1.Done(nil) // frees its slot
		c = e.counts()
		eq(t, "ProbesInFlight", c.ProbesInFlight, 1)
		eq(t, "ProbeSuccesses", c.ProbeSuccesses, 1)
		p3 := e.admit()
		e.rejected(ErrTooManyRequests)
		p2.Done(nil)
		e.state(StateHalfOpen)
		p3.Done(nil)
		e.state(StateClosed)
		c = e.counts()
		eq(t, "ProbeSuccesses when closed", c.ProbeSuccesses, 0)
		eq(t, "ProbesInFlight when closed", c.ProbesInFlight, 0)
	})
}

func TestFailedProbeAfterSuccessesReopens(t *testing.T) {
	e := newEnv(t, Config{FailureThreshold: 1, SuccessThreshold: 3, HalfOpenMaxCalls: 3, Timeout: time.Second})
	e.trip(1)
	p1 := e.openLasts(time.Second)
	p2, p3 := e.admit(), e.admit()
	p1.Done(nil)
	p2.Done(errBoom)
	e.state(StateOpen)
	p3.Done(nil) // stale now: must not count toward closing anything
	e.openLasts(time.Second)
	eq(t, "ProbeSuccesses of the new half-open period", e.counts().ProbeSuccesses, 0)
}

func TestBackoff(t *testing.T) {
	const timeout = 10 * time.Second
	cfg := Config{FailureThreshold: 1, Timeout: timeout, Backoff: Backoff{Multiplier: 2, Max: 35 * time.Second}}
	eachClock(t, cfg, func(e *env) {
		e.trip(1)
		for _, want := range []time.Duration{10, 20, 35, 35} {
			e.openLasts(want * time.Second).Done(errBoom)
		}
		e.openLasts(35 * time.Second).Done(nil) // closing ends the streak
		e.trip(1)
		e.openLasts(timeout).Done(errBoom)
		e.openLasts(2 * timeout)
	})
}

func TestBackoffDefaultMaxAndFractionalMultiplier(t *testing.T) {
	e := newEnv(t, Config{FailureThreshold: 1, Timeout: time.Second, Backoff: Backoff{Multiplier: 1.5}})
	e.trip(1)
	// 1s * 1.5^n, exact in nanoseconds, capped at the default 10 * Timeout.
	for _, want := range []time.Duration{1e9, 1.5e9, 2.25e9, 3.375e9, 5.0625e9, 7.59375e9, 10e9, 10e9} {
		e.openLasts(want).Done(errBoom)
	}
	tr := e.b.openRec.Load()
	eq(t, "streak", tr.streak, 9)
}

func TestBackoffJitterWithinBounds(t *testing.T) {
	rec := &recorder{}
	const timeout = 10 * time.Second
	e := newEnv(t, Config{FailureThreshold: 1, Timeout: timeout, OnStateChange: rec.on,
		Backoff: Backoff{Multiplier: 2, Max: 40 * time.Second, Jitter: 0.25}})
	e.trip(1)
	distinct := map[time.Duration]bool{}
	base := timeout
	for range 40 {
		ts := rec.all()
		last := ts[len(ts)-1]
		eq(t, "To", last.To, StateOpen)
		oe := e.rejected(ErrOpen)
		d := oe.RetryAt.Sub(last.At)
		eq(t, "RetryAt - At", d, last.OpenFor)
		if d > base || d <= base-base/4 {
			t.Fatalf("open period %v outside (%v, %v]", d, base-base/4, base)
		}
		distinct[d] = true
		e.openLasts(d).Done(errBoom)
		base = min(2*base, 40*time.Second)
	}
	if len(distinct) < 5 {
		t.Fatalf("jitter produced only %d distinct periods", len(distinct))
	}
}

func TestFailureRateCountWindow(t *testing.T) {
	rec := &recorder{}
	e := newEnv(t, Config{FailureRateThreshold: 0.75, WindowSize: 4, MinimumCalls: 4, OnStateChange: rec.on})
	e.fails(3) // 3 calls < MinimumCalls; FailureThreshold defaults to off
	e.oks(1)   // a success never trips
	e.state(StateClosed)
	eq(t, "Window.Calls", e.counts().Window.Calls, 4)
	e.oks(1)   // window F F S S
	e.fails(1) // F S S F: 0.5
	e.fails(1) // S S F F: 0.5
	e.state(StateClosed)
	eq(t, "Window.FailureRate", e.counts().Window.FailureRate, 0.5)
	e.fails(1) // S F F F: 0.75 trips
	e.state(StateOpen)
	ts := rec.all()
	checkHops(t, ts, hop{StateClosed, StateOpen, ReasonFailureRate})
	eq(t, "Transition.Window", ts[0].Window, WindowCounts{Calls: 4, Failures: 3, FailureRate: 0.75})
	eq(t, "Transition.ConsecutiveFailures", ts[0].ConsecutiveFailures, 3)
	eq(t, "Window while open", e.counts().Window, WindowCounts{})
}

func TestFailureRateDefaultMinimumCalls(t *testing.T) {
	e := newEnv(t, Config{FailureRateThreshold: 1})
	e.fails(DefaultMinimumCalls - 1)
	e.state(StateClosed)
	e.fails(1)
	e.state(StateOpen)
}

func TestFailureRateTimeWindow(t *testing.T) {
	eachClock(t, Config{FailureRateThreshold: 0.5, WindowType: TimeWindow, WindowDuration: 10 * time.Second,
		WindowBuckets: 10, MinimumCalls: 3}, func(e *env) {
		e.fails(1) // t=0
		e.adv(time.Second)
		e.fails(1) // t=1s
		e.adv(9 * time.Second)
		e.fails(1) // t=10s: the t=0 failure has left the window
		e.state(StateClosed)
		eq(t, "Window.Calls", e.counts().Window.Calls, 2)
		e.adv(500 * time.Millisecond)
		e.oks(1)
		e.fails(1) // 3 of 4 failed
		e.state(StateOpen)
	})
}

// slowCall is a call that takes d on the fake clock and returns err.
func (e *env) slowCall(d time.Duration, err error) error {
	return e.b.Call(func() error { e.adv(d); return err })
}

func TestSlowCallRate(t *testing.T) {
	rec := &recorder{}
	e := newEnv(t, Config{SlowCallDuration: time.Second, SlowCallRateThreshold: 0.5, WindowSize: 10,
		MinimumCalls: 3, OnStateChange: rec.on})
	eq(t, "err", e.slowCall(999*time.Millisecond, nil), error(nil)) // not slow
	eq(t, "err", e.slowCall(time.Second, nil), error(nil))          // slow: at least SlowCallDuration
	eq(t, "SlowCalls", e.counts().SlowCalls, 1)
	e.state(StateClosed) // 2 calls < MinimumCalls
	e.slowCall(2*time.Second, nil)
	e.state(StateOpen)
	ts := rec.all()
	checkHops(t, ts, hop{StateClosed, StateOpen, ReasonSlowCallRate})
	eq(t, "Window.Slow", ts[0].Window.Slow, 2)
	c := e.counts()
	eq(t, "SlowCalls", c.SlowCalls, 2)
	eq(t, "SuccessCalls", c.SuccessCalls, 3)

	// A slow probe is a failed probe while the slow rate rule is on.
	e.adv(DefaultTimeout)
	e.slowCall(time.Second, nil)
	e.state(StateOpen)
	eq(t, "last reason", rec.all()[len(rec.all())-1].Reason, ReasonProbeFailed)
	e.adv(DefaultTimeout)
	e.slowCall(time.Second-1, nil)
	e.state(StateClosed)
}

func TestSlowProbeWithoutSlowRuleSucceeds(t *testing.T) {
	e := newEnv(t, Config{FailureThreshold: 1, SlowCallDuration: time.Second, Timeout: time.Second})
	e.trip(1)
	e.adv(time.Second)
	e.slowCall(time.Minute, nil)
	e.state(StateClosed)
	eq(t, "SlowCalls", e.counts().SlowCalls, 1)
}

func TestSlowFailuresAndNeutralTiming(t *testing.T) {
	e := newEnv(t, Config{FailureThreshold: 100, SlowCallDuration: time.Second})
	e.slowCall(time.Second, errBoom)
	e.slowCall(time.Second, context.Canceled) // neutral results are not timed
	c := e.counts()
	eq(t, "SlowCalls", c.SlowCalls, 1)
	eq(t, "FailureCalls", c.FailureCalls, 1)
	eq(t, "NeutralCalls", c.NeutralCalls, 1)
	eq(t, "Window (SlowCallDuration alone keeps no window)", c.Window, WindowCounts{})
}

func TestNeutralInEveryState(t *testing.T) {
	canceled := fmt.Errorf("wrapped: %w", context.Canceled)
	e := newEnv(t, Config{FailureThreshold: 3, Timeout: time.Second, WindowSize: 10})

	// Closed: neither resets nor extends the run, and stays out of the window.
	e.fails(2)
	eq(t, "neutral Call", e.b.Call(func() error { return canceled }), canceled)
	c := e.counts()
	eq(t, "ConsecutiveFailures", c.ConsecutiveFailures, 2)
	eq(t, "Window.Calls", c.Window.Calls, 2)
	e.fails(1)
	e.state(StateOpen)

	// Half-open: frees its slot and decides nothing.
	p := e.openLasts(time.Second)
	p.Done(canceled)
	e.state(StateHalfOpen)
	c = e.counts()
	eq(t, "ProbesInFlight", c.ProbesInFlight, 0)
	eq(t, "ProbeSuccesses", c.ProbeSuccesses, 0)
	p = e.admit()
	p.DoneOutcome(Neutral)
	e.state(StateHalfOpen)
	e.admit().Done(nil)
	e.state(StateClosed)

	// Disabled: counted as neutral only.
	e.b.Disable()
	e.b.Call(func() error { return canceled })
	eq(t, "Window.Calls while disabled", e.counts().Window.Calls, 0)
	eq(t, "NeutralCalls", e.counts().NeutralCalls, 4)

	// DeadlineExceeded is a failure, not neutral.
	eq(t, "DefaultClassify(DeadlineExceeded)", DefaultClassify(context.DeadlineExceeded), Failure)
	eq(t, "DefaultClassify(nil)", DefaultClassify(nil), Success)
	eq(t, "DefaultClassify(Canceled)", DefaultClassify(canceled), Neutral)
}

func TestCustomClassify(t *testing.T) {
	errNotFound := errors.New("not found")
	errWeird := errors.New("weird")
	rec := &recorder{}
	e := newEnv(t, Config{FailureThreshold: 2, OnStateChange: rec.on, Classify: func(err error) Outcome {
		switch err {
		case nil, errNotFound:
			return Success
		case errWeird:
			return Outcome(42) // invalid: counts as a failure
		case context.Canceled:
			return Failure
		}
		return Neutral
	}})
	e.b.Call(func() error { return errNotFound })
	e.b.Call(func() error { return errBoom }) // neutral here
	eq(t, "ConsecutiveFailures", e.counts().ConsecutiveFailures, 0)
	e.b.Call(func() error { return context.Canceled })
	e.b.Call(func() error { return errWeird })
	e.state(StateOpen)
	c := e.counts()
	eq(t, "SuccessCalls", c.SuccessCalls, 1)
	eq(t, "NeutralCalls", c.NeutralCalls, 1)
	eq(t, "FailureCalls", c.FailureCalls, 2)
}

func TestDoneOutcome(t *testing.T) {
	e := newEnv(t, Config{FailureThreshold: 2})
	e.admit().DoneOutcome(Failure)
	e.admit().DoneOutcome(Outcome(0)) // invalid: a failure
	e.state(StateOpen)
	Ticket{}.DoneOutcome(Success) // the zero Ticket does nothing
	Ticket{}.Done(errBoom)
	eq(t, "TotalCalls", e.counts().TotalCalls, 2)
	for o, s := range map[Outcome]string{Success: "success", Failure: "failure", Neutral: "neutral", 0: "invalid"} {
		eq(t, "Outcome.String", o.String(), s)
	}
}

func TestRecordSuccessFailure(t *testing.T) {
	e := newEnv(t, Config{FailureThreshold: 2, SuccessThreshold: 2, Timeout: time.Second})
	e.b.RecordFailure()
	e.b.RecordSuccess()
	e.b.RecordFailure()
	e.state(StateClosed)
	e.b.RecordFailure()
	e.state(StateOpen)
	e.b.RecordSuccess() // open: totals only
	e.b.RecordFailure()
	e.state(StateOpen)
	e.adv(time.Second)
	e.state(StateHalfOpen)
	p := e.admit()
	e.b.RecordSuccess() // a probe success without a slot
	c := e.counts()
	eq(t, "ProbeSuccesses", c.ProbeSuccesses, 1)
	eq(t, "ProbesInFlight", c.ProbesInFlight, 1)
	e.b.RecordFailure() // reopens
	e.state(StateOpen)
	p.Done(nil) // stale
	e.state(StateOpen)
	c = e.counts()
	eq(t, "SuccessCalls", c.SuccessCalls, 4)
	eq(t, "FailureCalls", c.FailureCalls, 5)
	e.adv(time.Second)
	e.state(StateHalfOpen)
	e.b.RecordSuccess()
	e.b.RecordSuccess()
	e.state(StateClosed)
	e.b.Disable()
	e.b.RecordFailure()
	e.b.RecordFailure()
	e.state(StateDisabled)
}

func TestRecordSlowDurationIgnored(t *testing.T) {
	e := newEnv(t, Config{SlowCallDuration: time.Nanosecond, SlowCallRateThreshold: 0.1, MinimumCalls: 1, WindowSize: 1})
	e.b.RecordSuccess() // not timed, so never slow
	e.state(StateClosed)
	eq(t, "SlowCalls", e.counts().SlowCalls, 0)
}

// The word keeps an open deadline modulo 2^47 ns (about 39 hours). A breaker
// left open and untouched for that long must not take the old deadline for
// a new one when it finally reads the clock.
func TestOpenPeriodLongIdle(t *testing.T) {
	for _, idle := range []time.Duration{1<<47 + time.Second/2, 1<<47 + time.Second, 2<<47 + time.Second/4} {
		eachClock(t, Config{FailureThreshold: 1, Timeout: time.Second}, func(e *env) {
			e.trip(1)
			e.adv(idle)
			e.admit()
		})
		eachClock(t, Config{FailureThreshold: 1, Timeout: time.Second}, func(e *env) {
			e.trip(1)
			e.adv(idle)
			e.state(StateHalfOpen)
		})
	}
}
