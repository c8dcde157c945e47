package breaker

import (
	"context"
	"errors"
	"testing"
	"time"
)

// toState drives a fresh breaker (FailureThreshold 1, Timeout 1s, two probe
// slots) into s.
func (e *env) toState(s State) {
	e.t.Helper()
	switch s {
	case StateOpen:
		e.trip(1)
	case StateHalfOpen:
		e.trip(1)
		e.adv(time.Second)
		e.admit() // a probe that never reports
	case StateForcedOpen:
		if err := e.b.ForceOpen(0); err != nil {
			e.t.Fatal(err)
		}
	case StateDisabled:
		e.b.Disable()
	}
	e.state(s)
}

var allStates = []State{StateClosed, StateOpen, StateHalfOpen, StateForcedOpen, StateDisabled}

func controlCfg() Config {
	return Config{FailureThreshold: 2, Timeout: time.Second, HalfOpenMaxCalls: 2, WindowSize: 10}
}

// recEnv is a breaker that trips on the first failure, driven into s, with
// its transitions recorded.
func recEnv(t *testing.T, s State) (*env, *recorder) {
	rec := &recorder{}
	cfg := controlCfg()
	cfg.FailureThreshold = 1
	cfg.OnStateChange = rec.on
	e := newEnv(t, cfg)
	e.toState(s)
	return e, rec
}

func TestResetFromEveryState(t *testing.T) {
	for _, s := range allStates {
		t.Run(s.String(), func(t *testing.T) {
			e, rec := recEnv(t, s)
			e.b.Reset()
			e.state(StateClosed)
			c := e.counts()
			eq(t, "ConsecutiveFailures", c.ConsecutiveFailures, 0)
			eq(t, "Window", c.Window, WindowCounts{})
			ts := rec.all()
			last := ts[len(ts)-1]
			eq(t, "reason", last.Reason, ReasonReset)
			eq(t, "From", last.From, s)
			eq(t, "To", last.To, StateClosed)
			checkGenerations(t, ts)
			e.fails(1) // the fresh breaker works
			e.state(StateOpen)
		})
	}
}

func TestForceOpenWithDurationExpires(t *testing.T) {
	for _, s := range allStates {
		eachClock(t, controlCfg(), func(e *env) {
			e.fails(1)
			e.b.RecordSuccess()
			e.fails(1)
			if s != StateClosed {
				e.b.Reset()
				e.fails(1)
				e.toState(s)
			}
			at := e.now()
			if err := e.b.ForceOpen(5 * time.Second); err != nil {
				t.Fatal(err)
			}
			e.state(StateForcedOpen)
			if !e.b.IsOpen() {
				t.Fatal("IsOpen false while forced open")
			}
			e.adv(5*time.Second - 1)
			oe := e.rejected(ErrOpen)
			eq(t, "State", oe.State, StateForcedOpen)
			eq(t, "RetryAt", oe.RetryAt, at.Add(5*time.Second))
			e.adv(1)
			tk := e.admit() // closes with fresh counters
			e.state(StateClosed)
			c := e.counts()
			eq(t, "ConsecutiveFailures", c.ConsecutiveFailures, 0)
			eq(t, "Window", c.Window, WindowCounts{})
			tk.Done(errBoom)
			e.fails(1)
			e.state(StateOpen)
		})
	}
}

func TestForceOpenExpiresViaState(t *testing.T) {
	eachClock(t, controlCfg(), func(e *env) {
		e.b.ForceOpen(time.Millisecond)
		e.adv(time.Millisecond)
		e.state(StateClosed)
	})
}

func TestForceOpenRoundsUpToMicrosecond(t *testing.T) {
	eachClock(t, controlCfg(), func(e *env) {
		e.adv(1) // not on a µs boundary
		e.b.ForceOpen(time.Microsecond)
		oe := e.rejected(ErrOpen)
		eq(t, "RetryAt", oe.RetryAt, t0.Add(2*time.Microsecond))
		e.adv(time.Microsecond) // d has passed, but the deadline was rounded up
		e.rejected(ErrOpen)
		e.adv(998) // 1ns before RetryAt
		e.rejected(ErrOpen)
		e.adv(1)
		e.admit()
	})
}

func TestForceOpenZeroStaysUntilRelease(t *testing.T) {
	eachClock(t, controlCfg(), func(e *env) {
		e.b.ForceOpen(0)
		e.adv(MaxForceDuration * 2)
		oe := e.rejected(ErrOpen)
		eq(t, "State", oe.State, StateForcedOpen)
		if !oe.RetryAt.IsZero() {
			t.Fatalf("RetryAt = %v, want zero", oe.RetryAt)
		}
		e.state(StateForcedOpen)
		e.b.Release()
		e.state(StateClosed)
		e.admit().Done(nil)
	})
}

func TestForceOpenReplacesDuration(t *testing.T) {
	eachClock(t, controlCfg(), func(e *env) {
		e.b.ForceOpen(time.Second)
		e.b.ForceOpen(0)
		e.adv(time.Hour)
		e.state(StateForcedOpen)
		e.b.ForceOpen(time.Minute)
		e.adv(time.Minute - 1)
		e.state(StateForcedOpen)
		e.adv(1)
		e.state(StateClosed)
	})
}

func TestForceOpenRefusesBadDurations(t *testing.T) {
	e := newEnv(t, controlCfg())
	for _, d := range []time.Duration{-1, -time.Hour, MaxForceDuration + 1} {
		if err := e.b.ForceOpen(d); err == nil {
			t.Fatalf("ForceOpen(%v) returned nil", d)
		}
		e.state(StateClosed)
	}
	if err := e.b.ForceOpen(MaxForceDuration); err != nil {
		t.Fatalf("ForceOpen(MaxForceDuration): %v", err)
	}
	e.adv(MaxForceDuration - time.Microsecond)
	e.state(StateForcedOpen)
	e.adv(time.Microsecond)
	e.state(StateClosed)
}

func TestDisableAdmitsCountsNeverTrips(t *testing.T) {
	e := newEnv(t, controlCfg())
	e.b.Disable()
	e.fails(50)
	e.oks(3)
	e.b.Call(func() error { return context.Canceled })
	e.state(StateDisabled)
	if e.b.IsOpen() {
		t.Fatal("IsOpen while disabled")
	}
	c := e.counts()
	eq(t, "FailureCalls", c.FailureCalls, 50)
	eq(t, "SuccessCalls", c.SuccessCalls, 3)
	eq(t, "NeutralCalls", c.NeutralCalls, 1)
	eq(t, "Window", c.Window, WindowCounts{Calls: 10, Failures: 7, FailureRate: 0.7})
	eq(t, "ConsecutiveFailures", c.ConsecutiveFailures, 0)
	e.b.Release()
	e.state(StateClosed)
	c = e.counts()
	eq(t, "Window after Release", c.Window, WindowCounts{})
	e.fails(2)
	e.state(StateOpen)
}

func TestDisableWithSlowCalls(t *testing.T) {
	e := newEnv(t, Config{SlowCallDuration: time.Second, SlowCallRateThreshold: 0.1, MinimumCalls: 1})
	e.b.Disable()
	e.slowCall(time.Second, nil)
	e.state(StateDisabled)
	eq(t, "Window.Slow", e.counts().Window.Slow, 1)
}

func TestReleaseIsNoOpOtherwise(t *testing.T) {
	for _, s := range []State{StateClosed, StateOpen, StateHalfOpen} {
		t.Run(s.String(), func(t *testing.T) {
			e, rec := recEnv(t, s)
			before := len(rec.all())
			c0 := e.counts()
			e.b.Release()
			e.state(s)
			eq(t, "transitions", len(rec.all()), before)
			eq(t, "Counts", e.counts(), c0)
		})
	}
}

func TestReleaseFromForcedWithDuration(t *testing.T) {
	e := newEnv(t, controlCfg())
	e.b.ForceOpen(time.Hour)
	e.b.Release()
	e.state(StateClosed)
	e.adv(time.Hour) // the forced timer firing later changes nothing
	e.state(StateClosed)
}

func TestForcedOpenRejectsWithErrOpen(t *testing.T) {
	e := newEnv(t, controlCfg())
	e.b.ForceOpen(0)
	err := e.ok()
	if !errors.Is(err, ErrOpen) || errors.Is(err, ErrTooManyRequests) {
		t.Fatalf("Call while forced open = %v", err)
	}
	eq(t, "Rejected", e.counts().Rejected, 1)
}

// ForceOpen accepts durations up to and including MaxForceDuration.
func TestForceOpenLimit(t *testing.T) {
	e := newEnv(t, Config{})
	if err := e.b.ForceOpen(MaxForceDuration); err != nil {
		t.Fatalf("ForceOpen(MaxForceDuration) = %v", err)
	}
	eq(t, "State", e.b.State(), StateForcedOpen)
	if err := e.b.ForceOpen(MaxForceDuration + 1); err == nil {
		t.Fatal("ForceOpen(MaxForceDuration+1) accepted")
	}
}
