package breaker

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestRejectionErrors(t *testing.T) {
	eachClock(t, Config{Name: "db", FailureThreshold: 1, Timeout: 7 * time.Second}, func(e *env) {
		e.adv(3 * time.Second)
		e.fails(1)
		tripAt := e.now()
		err := e.ok()
		if !errors.Is(err, ErrOpen) || errors.Is(err, ErrTooManyRequests) {
			t.Fatalf("open rejection %v", err)
		}
		var oe *OpenError
		if !errors.As(err, &oe) {
			t.Fatalf("%T is not *OpenError", err)
		}
		eq(t, "State", oe.State, StateOpen)
		eq(t, "Name", oe.Name, "db")
		eq(t, "RetryAt", oe.RetryAt, tripAt.Add(7*time.Second))
		if !strings.Contains(oe.Error(), `"db"`) || !strings.Contains(oe.Error(), "until") {
			t.Fatalf("Error() = %q", oe.Error())
		}
		v, err := Execute(e.b, func() (int, error) { return 1, nil })
		if v != 0 || !errors.Is(err, ErrOpen) {
			t.Fatalf("Execute while open = %v, %v", v, err)
		}
		if err := e.b.Do(context.Background(), func(context.Context) error { return nil }); !errors.Is(err, ErrOpen) {
			t.Fatalf("Do while open = %v", err)
		}

		e.adv(7 * time.Second)
		e.admit()
		err = e.ok()
		if !errors.Is(err, ErrTooManyRequests) || errors.Is(err, ErrOpen) {
			t.Fatalf("half-open rejection %v", err)
		}
		errors.As(err, &oe)
		eq(t, "State", oe.State, StateHalfOpen)
		if !oe.RetryAt.IsZero() || strings.Contains(oe.Error(), "until") {
			t.Fatalf("half-open RetryAt %v, Error %q", oe.RetryAt, oe.Error())
		}
	})
}

func TestOpenErrorWithoutName(t *testing.T) {
	e := newEnv(t, Config{})
	e.b.ForceOpen(0)
	eq(t, "Error", e.ok().Error(), "breaker: circuit open: state forced-open")
	eq(t, "Name", e.b.Name(), "")
}

func TestOpenErrorFallbacks(t *testing.T) {
	// Rejections that read the word before the period's record is published
	// build their error from the deadline kept in the word: RetryAt is still
	// exact.
	eachClock(t, Config{FailureThreshold: 1, Timeout: time.Second}, func(e *env) {
		e.fails(1)
		tripped := e.b.timeAt(e.b.now())
		e.b.openRec.Store(nil)
		oe := e.rejected(ErrOpen)
		eq(t, "State", oe.State, StateOpen)
		eq(t, "RetryAt", oe.RetryAt, tripped.Add(time.Second))
		e.openLasts(time.Second)
		e.b.Reset()
		forced := e.b.timeAt(e.b.now())
		e.b.ForceOpen(time.Hour)
		e.b.openRec.Store(nil)
		oe = e.rejected(ErrOpen)
		eq(t, "State", oe.State, StateForcedOpen)
		eq(t, "RetryAt", oe.RetryAt, forced.Add(time.Hour))
	})
}

func TestDoSkipsDoneContext(t *testing.T) {
	e := newEnv(t, Config{FailureThreshold: 1})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ran := false
	err := e.b.Do(ctx, func(context.Context) error { ran = true; return nil })
	if ran || !errors.Is(err, context.Canceled) {
		t.Fatalf("Do with a done context ran=%v err=%v", ran, err)
	}
	eq(t, "Counts", e.counts(), Counts{})
	got := e.b.Do(context.Background(), func(context.Context) error { return context.Canceled })
	eq(t, "err", got, context.Canceled)
	eq(t, "NeutralCalls", e.counts().NeutralCalls, 1)
	eq(t, "Execute", func() int { v, _ := Execute(e.b, func() (int, error) { return 7, nil }); return v }(), 7)
}

func TestCounts(t *testing.T) {
	e := newEnv(t, Config{FailureThreshold: 3, Timeout: time.Second, HalfOpenMaxCalls: 2, SuccessThreshold: 2,
		WindowSize: 10, SlowCallDuration: time.Second})
	eq(t, "SuccessRate of nothing", e.counts().SuccessRate(), 1.0)
	e.oks(3)
	e.adv(time.Minute)
	e.fails(1)
	failAt := e.now()
	e.slowCall(time.Second, nil)
	e.b.Call(func() error { return context.Canceled })
	e.fails(2)
	c := e.counts()
	eq(t, "State", c.State, StateClosed)
	eq(t, "SuccessCalls", c.SuccessCalls, 4)
	eq(t, "FailureCalls", c.FailureCalls, 3)
	eq(t, "NeutralCalls", c.NeutralCalls, 1)
	eq(t, "TotalCalls", c.TotalCalls, 8)
	eq(t, "SlowCalls", c.SlowCalls, 1)
	eq(t, "ConsecutiveFailures", c.ConsecutiveFailures, 2)
	eq(t, "LastFailTime", c.LastFailTime, failAt.Add(time.Second))
	eq(t, "Window", c.Window, WindowCounts{Calls: 7, Failures: 3, Slow: 1, FailureRate: 3.0 / 7, SlowRate: 1.0 / 7})
	eq(t, "SuccessRate", c.SuccessRate(), 4.0/7)

	e.fails(1)
	e.rejected(ErrOpen)
	e.rejected(ErrOpen)
	c = e.counts()
	eq(t, "State", c.State, StateOpen)
	eq(t, "Rejected", c.Rejected, 2)
	eq(t, "Window while open", c.Window, WindowCounts{})
	eq(t, "ConsecutiveFailures while open", c.ConsecutiveFailures, 0)

	e.adv(time.Second)
	p := e.admit()
	e.admit()
	e.rejected(ErrTooManyRequests)
	p.Done(nil)
	c = e.counts()
	eq(t, "State", c.State, StateHalfOpen)
	eq(t, "ProbesInFlight", c.ProbesInFlight, 1)
	eq(t, "ProbeSuccesses", c.ProbeSuccesses, 1)
	eq(t, "Rejected", c.Rejected, 3)
	eq(t, "TotalCalls", c.TotalCalls, 10)
}

func TestCountsSettlesOpenPeriod(t *testing.T) {
	eachClock(t, Config{FailureThreshold: 1, Timeout: time.Second}, func(e *env) {
		e.trip(1)
		e.adv(time.Second)
		eq(t, "Counts().State", e.counts().State, StateHalfOpen)
		e.b.ForceOpen(time.Second)
		e.adv(time.Second)
		eq(t, "Counts().State", e.counts().State, StateClosed)
	})
}

func TestOnStateChangeSequence(t *testing.T) {
	rec := &recorder{}
	e := newEnv(t, Config{Name: "svc", FailureThreshold: 2, Timeout: 5 * time.Second, OnStateChange: rec.on})
	e.fails(2)
	tripAt := e.now()
	e.adv(5 * time.Second)
	e.admit().Done(errBoom)
	e.adv(5 * time.Second)
	e.admit().Done(nil)
	e.b.ForceOpen(time.Minute)
	e.adv(time.Minute)
	e.state(StateClosed)
	e.b.Disable()
	e.b.Release()
	e.b.ForceOpen(0)
	e.b.Reset()
	ts := rec.all()
	checkHops(t, ts,
		hop{StateClosed, StateOpen, ReasonConsecutiveFailures},
		hop{StateOpen, StateHalfOpen, ReasonTimeoutElapsed},
		hop{StateHalfOpen, StateOpen, ReasonProbeFailed},
		hop{StateOpen, StateHalfOpen, ReasonTimeoutElapsed},
		hop{StateHalfOpen, StateClosed, ReasonProbesSucceeded},
		hop{StateClosed, StateForcedOpen, ReasonForceOpen},
		hop{StateForcedOpen, StateClosed, ReasonForceExpired},
		hop{StateClosed, StateDisabled, ReasonDisable},
		hop{StateDisabled, StateClosed, ReasonRelease},
		hop{StateClosed, StateForcedOpen, ReasonForceOpen},
		hop{StateForcedOpen, StateClosed, ReasonReset},
	)
	eq(t, "Name", ts[0].Name, "svc")
	eq(t, "At", ts[0].At, tripAt)
	eq(t, "OpenFor", ts[0].OpenFor, 5*time.Second)
	eq(t, "ConsecutiveFailures", ts[0].ConsecutiveFailures, 2)
	eq(t, "At", ts[1].At, tripAt.Add(5*time.Second))
	eq(t, "OpenFor", ts[1].OpenFor, 0)
	eq(t, "OpenFor", ts[2].OpenFor, 5*time.Second)
	eq(t, "ProbeSuccesses", ts[4].ProbeSuccesses, 1)
	eq(t, "OpenFor", ts[5].OpenFor, time.Minute)
	eq(t, "OpenFor", ts[9].OpenFor, 0)
	for i := 1; i < len(ts); i++ {
		if ts[i].At.Before(ts[i-1].At) {
			t.Fatalf("transition %d At %v before %v", i, ts[i].At, ts[i-1].At)
		}
	}
}

func TestOnStateChangeProbeSuccessesOnReopen(t *testing.T) {
	rec := &recorder{}
	e := newEnv(t, Config{FailureThreshold: 1, SuccessThreshold: 3, HalfOpenMaxCalls: 3, Timeout: time.Second, OnStateChange: rec.on})
	e.trip(1)
	e.adv(time.Second)
	p1, p2, p3 := e.admit(), e.admit(), e.admit()
	p1.Done(nil)
	p2.Done(nil)
	p3.Done(errBoom)
	ts := rec.all()
	eq(t, "Reason", ts[len(ts)-1].Reason, ReasonProbeFailed)
	eq(t, "ProbeSuccesses", ts[len(ts)-1].ProbeSuccesses, 2)
}

func TestOnStateChangeReentrant(t *testing.T) {
	var (
		got   []Transition
		b     *Breaker
		depth atomic.Int32
	)
	cfg := Config{FailureThreshold: 1, Timeout: time.Second}
	e := newEnv(t, cfg)
	cfg.Clock = e.fc
	cfg.OnStateChange = func(tr Transition) {
		if depth.Add(1) != 1 {
			t.Error("callback entered twice at once")
		}
		defer depth.Add(-1)
		got = append(got, tr)
		_ = b.State()
		_ = b.Counts()
		if tr.Generation == 1 {
			b.Reset() // a transition from inside the callback
			b.Call(func() error { return errBoom })
		}
	}
	b = mustNew(t, cfg)
	b.Call(func() error { return errBoom })
	checkHops(t, got,
		hop{StateClosed, StateOpen, ReasonConsecutiveFailures},
		hop{StateOpen, StateClosed, ReasonReset},
		hop{StateClosed, StateOpen, ReasonConsecutiveFailures},
	)
	// The callback ran after each change took effect.
	eq(t, "State", b.State(), StateOpen)
}

func TestOnStateChangeConcurrentOrder(t *testing.T) {
	var rec recorder
	cfg := Config{FailureThreshold: 1, Timeout: time.Microsecond, HalfOpenMaxCalls: 2}
	e := newEnv(t, cfg)
	cfg.Clock = e.fc
	cfg.OnStateChange = rec.on
	b := mustNew(t, cfg)
	const workers, ops = 8, 150 // well under 8192 transitions: no wrap
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range ops {
				switch (w + i) % 6 {
				case 0:
					b.Reset()
				case 1:
					b.Call(func() error { return errBoom })
				case 2:
					e.adv(time.Microsecond)
					b.Call(func() error { return nil })
				case 3:
					b.ForceOpen(time.Duration(i%2) * time.Microsecond)
				case 4:
					b.Release()
				case 5:
					b.Disable()
				}
			}
		}()
	}
	wg.Wait()
	gens := rec.all()
	for i, tr := range gens {
		if tr.Generation != uint64(i+1) {
			t.Fatalf("delivery %d has Generation %d, want %d", i, tr.Generation, i+1)
		}
	}
	eq(t, "deliveries", uint64(len(gens)), uint64(genOf(b.word.Load())))
	if len(gens) < workers*ops/3 {
		t.Fatalf("only %d transitions: the test did not exercise much", len(gens))
	}
}

// Once the totals have spread over stripes, each failure stamps its own
// stripe, and LastFailTime is the latest stamp of all, whichever stripe
// holds it.
func TestLastFailTimeAcrossStripes(t *testing.T) {
	e := newEnv(t, Config{FailureThreshold: 100})
	e.b.totals.spread()
	st := *e.b.totals.stripes.Load()
	e.adv(time.Hour)
	e.fails(1)
	first := e.now()
	mine := -1
	for i := range st {
		if st[i].lastFail.Load() != 0 {
			mine = i
		}
	}
	if mine < 0 || e.b.totals.base.lastFail.Load() != 0 {
		t.Fatalf("a failure after the spread stamped stripe %d and base %d", mine, e.b.totals.base.lastFail.Load())
	}
	other := (mine + 1) % len(st)
	// Another stripe stamped at an earlier time, as by a goroutine that
	// read the clock before and was preempted: the latest still wins.
	e.adv(time.Second)
	st[other].lastFail.Store(int64(time.Millisecond) + 1)
	eq(t, "LastFailTime", e.counts().LastFailTime, first)
	// A later stamp in any stripe is the latest.
	later := e.b.now() + int64(time.Minute)
	st[other].lastFail.Store(later + 1)
	eq(t, "LastFailTime", e.counts().LastFailTime, e.b.timeAt(later))
}
