package breaker

import (
	"errors"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fusebox-go/fusebox/internal/clock"
)

// classifyPlain is a Classify that reads nil as a success and anything else
// as a failure, like the default, but takes a breaker off its quick path.
func classifyPlain(err error) Outcome {
	if err == nil {
		return Success
	}
	return Failure
}

// A failed call timed for slowness reads the clock once when it is admitted
// and once when it finishes, even when the finish reads the breaker's origin
// (time 0): the reading taken for the slow-call check is the failure's time.
func TestSlowTimedFailureReadsClockOnce(t *testing.T) {
	clk := &nowCounter{fc: clock.NewFake(t0)}
	b := mustNew(t, Config{FailureThreshold: 10, SlowCallDuration: time.Second, Clock: clk})
	clk.reads.Store(0)
	tk, err := b.Allow()
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "clock reads by Allow", clk.reads.Load(), int64(1))
	tk.Done(errBoom)
	eq(t, "clock reads by Allow and Done", clk.reads.Load(), int64(2))
	eq(t, "failures", b.Counts().FailureCalls, uint64(1))
}

// A success through a custom classifier reads no clock with a count window
// and no slow-call rule, as the quick path does.
func TestClassifiedSuccessReadsNoClock(t *testing.T) {
	clk := &nowCounter{fc: clock.NewFake(t0)}
	b := mustNew(t, Config{FailureRateThreshold: 0.5, Classify: classifyPlain, Clock: clk})
	clk.reads.Store(0)
	for range 20 {
		if err := b.Call(func() error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	eq(t, "clock reads for 20 classified successes", clk.reads.Load(), int64(0))
	eq(t, "window calls", b.Counts().Window.Calls, uint64(20))
}

// A failure that trips the breaker reads the clock exactly once, for the
// failure's time, whichever rule trips it (a run of failures, a failure rate
// over a count window or over a time window), both at the breaker's origin
// (time 0) and later; the trip happens at that time.
func TestTripByFailureReadsClockOnce(t *testing.T) {
	cfgs := map[string]Config{
		"consecutive":     {FailureThreshold: 1},
		"count-rate":      {FailureRateThreshold: 0.5, MinimumCalls: 1},
		"time-rate":       {FailureRateThreshold: 0.5, MinimumCalls: 1, WindowType: TimeWindow},
		"rate-and-streak": {FailureThreshold: 3, FailureRateThreshold: 0.5, MinimumCalls: 1},
	}
	for name, cfg := range cfgs {
		for _, at := range []time.Duration{0, time.Second} {
			t.Run(name+"/"+at.String(), func(t *testing.T) {
				rec := &recorder{}
				clk := &nowCounter{fc: clock.NewFake(t0)}
				cfg.Clock, cfg.OnStateChange = clk, rec.on
				b := mustNew(t, cfg)
				clk.fc.Advance(at)
				clk.reads.Store(0)
				b.RecordFailure()
				eq(t, "clock reads by the tripping failure", clk.reads.Load(), int64(1))
				ts := rec.all()
				if len(ts) != 1 || ts[0].To != StateOpen {
					t.Fatalf("transitions %+v, want one trip", ts)
				}
				eq(t, "trip time", ts[0].At, t0.Add(at))
			})
		}
	}
}

// A failed probe reads the clock once, for the failure's time, whether it
// comes from a probe's Done or from RecordFailure.
func TestProbeFailureReadsClockOnce(t *testing.T) {
	for _, viaTicket := range []bool{true, false} {
		clk := &nowCounter{fc: clock.NewFake(t0)}
		b := mustNew(t, Config{FailureThreshold: 1, Timeout: time.Second, Clock: clk})
		b.RecordFailure()
		clk.fc.Advance(time.Second)
		tk, err := b.Allow()
		if err != nil {
			t.Fatal(err)
		}
		clk.reads.Store(0)
		if viaTicket {
			tk.Done(errBoom)
		} else {
			b.RecordFailure()
		}
		eq(t, "clock reads by a failed probe", clk.reads.Load(), int64(1))
		eq(t, "state after a failed probe", b.State(), StateOpen)
	}
}

// A probe ticket kept across a full wrap of the 13-bit generation, whose
// Done then lands in a half-open period of the same generation with no probe
// in flight, does not take the in-flight count below zero.
func TestProbeInFlightNeverUnderflows(t *testing.T) {
	fc := clock.NewFake(t0)
	b := mustNew(t, Config{FailureThreshold: 1, Timeout: time.Second, SuccessThreshold: 2, Clock: nowOnly{fc}})
	b.RecordFailure()
	fc.Advance(time.Second)
	tk, err := b.Allow() // a probe of the first half-open period
	if err != nil {
		t.Fatal(err)
	}
	gen := genOf(b.word.Load())
	b.Reset()
	for genOf(b.word.Load()) != (gen-2)&genMask {
		b.Reset()
	}
	b.RecordFailure() // opens under gen-1
	fc.Advance(time.Second)
	eq(t, "state", b.State(), StateHalfOpen) // under gen again, nothing in flight
	eq(t, "generation", genOf(b.word.Load()), gen)
	tk.DoneOutcome(Neutral)
	c := b.Counts()
	eq(t, "probes in flight", c.ProbesInFlight, uint32(0))
	eq(t, "probe successes", c.ProbeSuccesses, uint32(0))
	if _, err := b.Allow(); err != nil {
		t.Fatalf("Allow after the stale probe's Done: %v", err)
	}
}

// TripFor on a half-open breaker opens the next period of the trip streak,
// so the period after a failed probe that follows it backs off further.
func TestTripForContinuesHalfOpenStreak(t *testing.T) {
	rec := &recorder{}
	fc := clock.NewFake(t0)
	b := mustNew(t, Config{
		FailureThreshold: 1, Timeout: time.Second, Clock: fc, OnStateChange: rec.on,
		Backoff: Backoff{Multiplier: 2, Max: time.Hour},
	})
	b.RecordFailure() // first open period: 1s
	fc.Advance(time.Second)
	eq(t, "state", b.State(), StateHalfOpen)
	if err := b.TripFor(5 * time.Second); err != nil { // second in a row
		t.Fatal(err)
	}
	fc.Advance(5 * time.Second)
	eq(t, "state", b.State(), StateHalfOpen)
	b.RecordFailure() // third in a row: 1s * 2 * 2
	ts := rec.all()
	last := ts[len(ts)-1]
	eq(t, "last reason", last.Reason, ReasonProbeFailed)
	eq(t, "third open period", last.OpenFor, 4*time.Second)
}

// A negative ProbeLease without SlowCallDuration is reported as negative and
// as shorter than the minimum, not as shorter than the (unset)
// SlowCallDuration.
func TestNegativeProbeLeaseErrors(t *testing.T) {
	_, err := New(Config{ProbeLease: -time.Millisecond})
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("New: %v, want a *ConfigError", err)
	}
	all := append([]*ConfigError{ce}, ce.More...)
	if len(all) != 2 {
		t.Fatalf("got %d errors, want 2: %v", len(all), err)
	}
	for _, e := range all {
		eq(t, "field", e.Field, "ProbeLease")
	}
}

// A listener that ends its goroutine with runtime.Goexit gives up the
// deliverer role, so later transitions are still delivered.
func TestListenerGoexitKeepsDelivering(t *testing.T) {
	b := mustNew(t, Config{Clock: clock.NewFake(t0)})
	var exited atomic.Bool
	b.Subscribe(func(Transition) {
		if exited.CompareAndSwap(false, true) {
			runtime.Goexit()
		}
	})
	rec := &recorder{}
	b.Subscribe(rec.on)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = b.ForceOpen(0)
	}()
	<-done
	eq(t, "listener ran", exited.Load(), true)
	b.Reset()
	ts := rec.all()
	if len(ts) != 1 || ts[0].Reason != ReasonReset {
		t.Fatalf("transitions after the Goexit: %+v, want the Reset", ts)
	}
}

// A call through a disabled breaker without slow-call timing reads no clock
// when it is admitted.
func TestDisabledAllowReadsNoClock(t *testing.T) {
	clk := &nowCounter{fc: clock.NewFake(t0)}
	b := mustNew(t, Config{Clock: clk})
	b.Disable()
	clk.reads.Store(0)
	for range 10 {
		tk, err := b.Allow()
		if err != nil {
			t.Fatal(err)
		}
		tk.Done(nil)
	}
	eq(t, "clock reads", clk.reads.Load(), int64(0))
}

// The ticket of the call that ends a forced-open period carries no
// admission time when calls are not timed.
func TestForcedExpiryTicketUntimed(t *testing.T) {
	fc := clock.NewFake(t0)
	b := mustNew(t, Config{Clock: fc})
	if err := b.ForceOpen(time.Second); err != nil {
		t.Fatal(err)
	}
	fc.Advance(2 * time.Second)
	tk, err := b.Allow()
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "ticket kind", tk.kind, kindClosed)
	eq(t, "ticket start", tk.start, int64(0))
	tk.Done(nil)
	eq(t, "state", b.State(), StateClosed)
}

// Successes through a classifier on a contended count window wait in cells
// and are counted in the window.
func TestContendedClassifiedSuccessesCounted(t *testing.T) {
	b := mustNew(t, Config{FailureRateThreshold: 0.5, Classify: classifyPlain, Clock: clock.NewFake(t0)})
	b.cwin.Spread()
	for range 5 {
		if err := b.Call(func() error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	eq(t, "window calls", b.Counts().Window.Calls, uint64(5))
	eq(t, "successes", b.Counts().SuccessCalls, uint64(5))
}

// A RecordFailure whose goroutine is preempted right after reading the
// clock, and then applied to a half-open period that began meanwhile, fails
// that period's probing with the reading it took: it reads the clock once in
// all, even when that reading is the breaker's origin (time 0).
func TestHeldRecordFailureFailsLaterProbing(t *testing.T) {
	fc := clock.NewFake(t0)
	clk := &nowCounter{fc: fc}
	rec := &recorder{}
	b := mustNew(t, Config{FailureThreshold: 1, Timeout: time.Second, Clock: clk, OnStateChange: rec.on})
	hold := fc.HoldNextRead()
	done := make(chan struct{})
	go func() { defer close(done); b.RecordFailure() }() // reads the clock at 0 and stops
	<-hold.Reached
	b.RecordFailure() // trips
	fc.Advance(time.Second)
	eq(t, "state", b.State(), StateHalfOpen)
	clk.reads.Store(0)
	hold.Release()
	<-done
	eq(t, "clock reads by the held failure after its release", clk.reads.Load(), int64(0))
	ts := rec.all()
	eq(t, "last transition", ts[len(ts)-1].Reason, ReasonProbeFailed)
	eq(t, "failures", b.Counts().FailureCalls, uint64(2))
}
