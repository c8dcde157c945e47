package breaker

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fusebox-go/fusebox/internal/clock"
	"github.com/stretchr/testify/require"
)

// Regression tests for the reliability findings (item numbers of the issue in
// the test names' comments); each failed on the core before the fix.

// mustPanic runs fn and returns what it panicked with, failing if it did not.
func mustPanic(t *testing.T, fn func()) (r any) {
	t.Helper()
	defer func() { r = recover() }()
	fn()
	t.Fatal("no panic")
	return nil
}

// 1. More than 8192 transitions queued behind a slow listener are delivered
// in order, numbered 1, 2, 3, ... with no gap, the first first.
func TestNotifierLongBacklogInOrder(t *testing.T) {
	const n = 9000
	release := make(chan struct{})
	var got []Transition
	first := true
	b := mustNew(t, Config{OnStateChange: func(tr Transition) {
		if first {
			first = false
			<-release // slow: everything below queues behind this
		}
		got = append(got, tr)
	}, Clock: clock.NewFake(t0)})
	done := make(chan struct{})
	go func() { defer close(done); _ = b.ForceOpen(0) }() // transition 1, delivered first
	// Wait until the first delivery is under way.
	for b.State() != StateForcedOpen {
	}
	for i := range n {
		if i%2 == 0 {
			b.Reset()
		} else {
			_ = b.ForceOpen(0)
		}
	}
	close(release)
	<-done
	require.Len(t, got, n+1)
	require.Equal(t, ReasonForceOpen, got[0].Reason, "the first transition first")
	require.Equal(t, StateClosed, got[0].From)
	for i, tr := range got {
		require.Equal(t, uint64(i+1), tr.Generation)
		if i > 0 {
			want := ReasonReset
			if i%2 == 0 {
				want = ReasonForceOpen
			}
			require.Equal(t, want, tr.Reason, "transition %d", i+1)
		}
	}
}

// 1. A goroutine preempted between its CAS and the rest of its transition
// for more than 8192 further transitions: its transition is still delivered
// first, and every later one after it, in order.
func TestNotifierPreemptedAfterCAS(t *testing.T) {
	const n = 8200
	var got []Transition
	b := mustNew(t, Config{FailureThreshold: 1, OnStateChange: func(tr Transition) { got = append(got, tr) }, Clock: clock.NewFake(t0)})
	reached, release := holdFirstCAS()
	defer func() { testHookAfterCAS = nil }()
	done := make(chan struct{})
	go func() { defer close(done); b.RecordFailure() }() // trips, then stops after its CAS
	<-reached
	for i := range n {
		if i%2 == 0 {
			b.Reset()
		} else {
			_ = b.ForceOpen(0)
		}
	}
	require.Empty(t, got, "nothing is delivered before the first transition")
	close(release)
	<-done
	require.Len(t, got, n+1)
	require.Equal(t, ReasonConsecutiveFailures, got[0].Reason)
	for i, tr := range got {
		require.Equal(t, uint64(i+1), tr.Generation)
	}
	require.Equal(t, ReasonReset, got[1].Reason)
}

// 1. A listener that calls back into the breaker and then panics: the panic
// reaches the caller, and the transition the listener caused is delivered
// all the same, before the panic goes on.
func TestNotifierPanicAfterReentry(t *testing.T) {
	var got []Transition
	var b *Breaker
	b = mustNew(t, Config{OnStateChange: func(tr Transition) {
		got = append(got, tr)
		if tr.Reason == ReasonForceOpen {
			b.Reset()
			panic("listener")
		}
	}, Clock: clock.NewFake(t0)})
	require.Equal(t, "listener", mustPanic(t, func() { _ = b.ForceOpen(0) }))
	require.Len(t, got, 2)
	require.Equal(t, ReasonReset, got[1].Reason, "the listener's last word matches the breaker")
	require.Equal(t, StateClosed, b.State())
	require.Equal(t, StateClosed, got[1].To)
	// And later transitions keep flowing.
	require.Equal(t, "listener", mustPanic(t, func() { _ = b.ForceOpen(time.Second) }))
	require.Len(t, got, 4)
	require.Equal(t, StateClosed, got[3].To)
	require.Equal(t, StateClosed, b.State())
}

// A forced period whose listener panics still has its record and its end.
func TestForcedPeriodSurvivesListenerPanic(t *testing.T) {
	fc := clock.NewFake(t0)
	b := mustNew(t, Config{OnStateChange: func(tr Transition) {
		if tr.Reason == ReasonForceOpen {
			panic("listener")
		}
	}, Clock: fc})
	require.Equal(t, "listener", mustPanic(t, func() { _ = b.ForceOpen(time.Second) }))
	var oe *OpenError
	require.ErrorAs(t, b.Call(func() error { return nil }), &oe)
	require.Equal(t, fc.Now().Add(time.Second), oe.RetryAt)
	fc.Advance(time.Second)
	require.NoError(t, b.Call(func() error { return nil }), "the timer ended the period")
}

// 1. The documented way to keep a slow listener off the call path.
func TestAsyncListener(t *testing.T) {
	block := make(chan struct{})
	var mu sync.Mutex
	var got []Reason
	a := NewAsyncListener(func(tr Transition) {
		<-block
		mu.Lock()
		got = append(got, tr.Reason)
		mu.Unlock()
	}, 16)
	b := mustNew(t, Config{FailureThreshold: 1, OnStateChange: a.Listen, Clock: clock.NewFake(t0)})
	done := make(chan error)
	go func() { done <- b.Call(func() error { return errBoom }) }()
	require.ErrorIs(t, <-done, errBoom, "the call returned while the listener is blocked")
	b.Reset()
	close(block)
	a.Close()
	a.Close()
	require.Equal(t, []Reason{ReasonConsecutiveFailures, ReasonReset}, got)
	a.Listen(Transition{})
	require.Equal(t, uint64(1), a.Dropped(), "after Close, transitions are dropped")
	stuck := make(chan struct{})
	full := NewAsyncListener(func(Transition) { <-stuck }, 1)
	full.Listen(Transition{}) // taken by the goroutine (blocks there) or queued
	for range 3 {
		full.Listen(Transition{})
	}
	require.GreaterOrEqual(t, full.Dropped(), uint64(2), "a full queue drops")
	close(stuck)
	full.Close()
}

// 2. A goroutine that read the clock long ago must not make a probe's lease
// look older than it is.
func TestProbeLeaseNotReclaimedEarly(t *testing.T) {
	fc := clock.NewFake(t0)
	b := mustNew(t, Config{FailureThreshold: 1, SuccessThreshold: 2, Timeout: time.Second, ProbeLease: 10 * time.Second, Clock: fc})
	b.RecordFailure()
	fc.Advance(time.Second)
	p0, err := b.Allow() // half-open, first probe
	require.NoError(t, err)
	p0.Done(nil) // one success of two: still half-open, slot free
	hold := fc.HoldNextRead()
	res := make(chan error)
	go func() { _, err := b.Allow(); res <- err }() // G reads the clock at 1s and stops
	<-hold.Reached
	fc.Advance(5 * time.Second)
	p1, err := b.Allow() // admitted at 6s
	require.NoError(t, err)
	hold.Release()
	require.ErrorIs(t, <-res, ErrTooManyRequests)
	fc.Advance(5 * time.Second) // 11s: p1 has held its slot 5s of 10
	_, err = b.Allow()
	require.ErrorIs(t, err, ErrTooManyRequests, "slot reclaimed after half its lease")
	p1.Done(nil)
	require.Equal(t, StateClosed, b.State(), "the real probe's success counts")
}

// 3. The trip streak survives a goroutine preempted between its trip's CAS
// and the publication of the period's record.
func TestBackoffStreakSurvivesPreemptedTrip(t *testing.T) {
	fc := clock.NewFake(t0)
	// A clock without timers: the preempted goroutine has not armed the
	// period's timer either, and calls read the clock instead.
	b := mustNew(t, Config{FailureThreshold: 1, Timeout: time.Second, Backoff: Backoff{Multiplier: 2, Max: time.Minute}, Clock: nowOnly{fc}})
	b.RecordFailure() // streak 1: 1s
	fc.Advance(time.Second)
	probe, err := b.Allow()
	require.NoError(t, err)
	reached, release := holdFirstCAS()
	defer func() { testHookAfterCAS = nil }()
	done := make(chan struct{})
	go func() { defer close(done); probe.Done(errBoom) }() // streak 2: 2s, stops after its CAS
	<-reached
	fc.Advance(2 * time.Second)
	p2, err := b.Allow() // leaves the 2s period while its record is unpublished
	require.NoError(t, err)
	p2.Done(errBoom) // streak 3: 4s
	close(release)
	<-done
	var oe *OpenError
	require.ErrorAs(t, b.Call(func() error { return nil }), &oe)
	require.Equal(t, fc.Now().Add(4*time.Second), oe.RetryAt, "the third open period in a row lasts 4s")
}

// 4. Counts never go backwards, even when the clock read of every 32nd
// rejection finds the period over.
func TestRejectedNeverGoesBack(t *testing.T) {
	e := newEnv(t, Config{FailureThreshold: 1, Timeout: time.Second})
	e.fails(1)
	e.b.timer.Load().t.Stop() // a late timer
	e.adv(time.Second)
	var last uint64
	for range 2 * rejectEvery {
		err := e.ok()
		c := e.b.Counts().Rejected
		require.GreaterOrEqual(t, c, last, "Rejected went from %d to %d", last, c)
		last = c
		if err == nil {
			break
		}
	}
}

// 5. A panicking Classify after the protected function returned frees the
// probe's slot and counts a failure; the panic goes on.
func TestClassifyPanicFreesSlot(t *testing.T) {
	for _, api := range []string{"Call", "Allow+Done", "Do", "Execute"} {
		t.Run(api, func(t *testing.T) {
			fc := clock.NewFake(t0)
			b := mustNew(t, Config{FailureThreshold: 1, Timeout: time.Second, Clock: fc,
				Classify: func(err error) Outcome {
					if err == nil {
						panic("classify")
					}
					return Failure
				}})
			b.RecordFailure()
			fc.Advance(time.Second)
			require.Equal(t, "classify", mustPanic(t, func() {
				switch api {
				case "Call":
					_ = b.Call(func() error { return nil })
				case "Allow+Done":
					tk, _ := b.Allow()
					tk.Done(nil)
				case "Do":
					_ = b.Do(context.Background(), func(context.Context) error { return nil })
				case "Execute":
					_, _ = Execute(b, func() (int, error) { return 1, nil })
				}
			}))
			c := b.Counts()
			require.Equal(t, uint64(2), c.FailureCalls, "the probe counts as a failure")
			require.Equal(t, StateOpen, c.State, "a failed probe reopens")
			require.Equal(t, uint32(0), c.ProbesInFlight)
		})
	}
}

// 5. A listener that panics inside a transition that admitted the caller
// frees the caller's slot.
func TestListenerPanicFreesAdmittedSlot(t *testing.T) {
	fc := clock.NewFake(t0)
	b := mustNew(t, Config{FailureThreshold: 1, Timeout: time.Second, Clock: fc, OnStateChange: func(tr Transition) {
		if tr.To == StateHalfOpen {
			panic("listener")
		}
	}})
	b.RecordFailure()
	fc.Advance(time.Second)
	require.Equal(t, "listener", mustPanic(t, func() { _, _ = b.Allow() }))
	require.Equal(t, uint32(0), b.Counts().ProbesInFlight, "the slot of the ticket never handed out is free")
	tk, err := b.Allow()
	require.NoError(t, err, "the next caller probes")
	tk.Done(nil)
	require.Equal(t, StateClosed, b.State())
	require.Equal(t, uint64(0), b.Counts().NeutralCalls+b.Counts().FailureCalls-1, "the lost admission counted nothing")
}

// 6. Misuse never counts against the dependency.
func TestMisuse(t *testing.T) {
	b := mustNew(t, Config{FailureThreshold: 1, Clock: clock.NewFake(t0)})
	for name, fn := range map[string]func(){
		"Call":    func() { _ = b.Call(nil) },
		"Do":      func() { _ = b.Do(context.Background(), nil) },
		"Execute": func() { _, _ = Execute[int](b, nil) },
	} {
		msg, _ := mustPanic(t, fn).(string)
		require.Contains(t, msg, "nil function", name)
	}
	c := b.Counts()
	require.Equal(t, StateClosed, c.State)
	require.Zero(t, c.TotalCalls)

	var nilB *Breaker
	for name, fn := range map[string]func(){
		"Call":    func() { _ = nilB.Call(func() error { return nil }) },
		"Do":      func() { _ = nilB.Do(context.Background(), func(context.Context) error { return nil }) },
		"Execute": func() { _, _ = Execute(nilB, func() (int, error) { return 1, nil }) },
		"Allow":   func() { _, _ = nilB.Allow() },
		"State":   func() { nilB.State() },
		"Counts":  func() { nilB.Counts() },
		"Reset":   func() { nilB.Reset() },
	} {
		msg, _ := mustPanic(t, fn).(string)
		require.True(t, strings.Contains(msg, "breaker.New"), "%s: %q", name, msg)
		require.True(t, strings.Contains(msg, name), "the message names the method called: %q", msg)
	}
	var zero Breaker
	for name, fn := range map[string]func(){
		"Call":          func() { _ = zero.Call(func() error { return nil }) },
		"State":         func() { zero.State() },
		"RecordFailure": func() { zero.RecordFailure() },
		"ForceOpen":     func() { _ = zero.ForceOpen(0) },
	} {
		msg, _ := mustPanic(t, fn).(string)
		require.True(t, strings.Contains(msg, "breaker.New"), "%s: %q", name, msg)
	}
}

// 6. A probe's slot is freed at most once, however often Done is called.
func TestDoubleDoneOfProbe(t *testing.T) {
	fc := clock.NewFake(t0)
	b := mustNew(t, Config{FailureThreshold: 1, HalfOpenMaxCalls: 2, SuccessThreshold: 2, Timeout: time.Second, Clock: fc})
	b.RecordFailure()
	fc.Advance(time.Second)
	t1, err := b.Allow()
	require.NoError(t, err)
	t1.Done(nil)
	t1.Done(nil)
	require.Equal(t, StateHalfOpen, b.State(), "one probe's double Done is one success, not two")
	t2, err := b.Allow()
	require.NoError(t, err)
	t3, err := b.Allow()
	require.NoError(t, err)
	_, err = b.Allow()
	require.ErrorIs(t, err, ErrTooManyRequests, "never more probes in flight than HalfOpenMaxCalls")
	t2.Done(nil)
	t2.Done(nil)
	require.Equal(t, StateClosed, b.State())
	t3.Done(nil)
}

// 6. Config rules: a lease that defeats the cap, a MinimumCalls no window
// reaches, and every broken field reported at once.
func TestConfigMisuse(t *testing.T) {
	_, err := New(Config{ProbeLease: time.Nanosecond})
	var ce *ConfigError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, "ProbeLease", ce.Field)
	_, err = New(Config{ProbeLease: time.Second, SlowCallDuration: time.Minute})
	require.ErrorAs(t, err, &ce)
	require.Equal(t, "ProbeLease", ce.Field)
	_, err = New(Config{MinimumCalls: 1e9, WindowType: TimeWindow, FailureRateThreshold: 0.5})
	require.ErrorAs(t, err, &ce)
	require.Equal(t, "MinimumCalls", ce.Field)
	b, err := New(Config{SlowCallDuration: time.Minute})
	require.NoError(t, err, "the default lease follows a longer SlowCallDuration")
	require.Equal(t, int64(time.Minute), b.s.lease)

	_, err = New(Config{Timeout: -1, FailureRateThreshold: 2, Backoff: Backoff{Jitter: 1}, WindowSize: 1 << 20})
	require.ErrorIs(t, err, ErrInvalidConfig)
	require.ErrorAs(t, err, &ce)
	fields := []string{ce.Field}
	for _, m := range ce.More {
		fields = append(fields, m.Field)
	}
	require.ElementsMatch(t, []string{"Timeout", "FailureRateThreshold", "Backoff.Jitter", "WindowSize"}, fields)
	for _, f := range fields {
		require.Contains(t, err.Error(), "Config."+f)
	}
	var jitter *ConfigError
	require.True(t, errors.As(errors.Unwrap(errors.Join(err)), &jitter) || errors.As(err, &jitter))
}

// Subscribe: listeners added and removed after New, each getting every
// transition in order; none after its cancel.
func TestSubscribe(t *testing.T) {
	b := mustNew(t, Config{FailureThreshold: 1, Clock: clock.NewFake(t0)})
	var a, c []Reason
	cancelA := b.Subscribe(func(tr Transition) { a = append(a, tr.Reason) })
	cancelC := b.Subscribe(func(tr Transition) { c = append(c, tr.Reason) })
	b.RecordFailure()
	cancelA()
	b.Reset()
	cancelC()
	cancelC()
	_ = b.ForceOpen(0)
	require.Equal(t, []Reason{ReasonConsecutiveFailures}, a)
	require.Equal(t, []Reason{ReasonConsecutiveFailures, ReasonReset}, c)
	require.Equal(t, "breaker: Subscribe with a nil function", mustPanic(t, func() { b.Subscribe(nil) }))
}

// Subscribe costs the call path nothing.
func TestSubscribeCostsCallsNothing(t *testing.T) {
	b := mustNew(t, Config{})
	b.Subscribe(func(Transition) {})
	require.Zero(t, testing.AllocsPerRun(100, func() { _ = b.Call(func() error { return nil }) }))
}

func TestTripFor(t *testing.T) {
	fc := clock.NewFake(t0)
	var got []Transition
	b := mustNew(t, Config{Timeout: time.Second, OnStateChange: func(tr Transition) { got = append(got, tr) }, Clock: fc})
	require.NoError(t, b.TripFor(5*time.Second))
	require.Equal(t, StateOpen, b.State())
	require.Equal(t, ReasonTripFor, got[0].Reason)
	require.Equal(t, 5*time.Second, got[0].OpenFor)
	require.NoError(t, b.TripFor(time.Second), "a shorter TripFor keeps the longer period")
	fc.Advance(4 * time.Second)
	require.Equal(t, StateOpen, b.State())
	fc.Advance(time.Second)
	require.Equal(t, StateHalfOpen, b.State(), "after d it half-opens like any trip")
	require.NoError(t, b.TripFor(time.Minute), "from half-open")
	require.Equal(t, StateOpen, b.State())
	for _, d := range []time.Duration{0, -1, MaxOpenDuration + 1} {
		require.Error(t, b.TripFor(d))
	}
	b.Disable()
	require.Error(t, b.TripFor(time.Second))
	require.Equal(t, StateDisabled, b.State())
	_ = b.ForceOpen(0)
	require.Error(t, b.TripFor(time.Second))
	require.Equal(t, StateForcedOpen, b.State())
}

func TestFleetControls(t *testing.T) {
	fc := clock.NewFake(t0)
	var reasons []Reason
	b := mustNew(t, Config{Timeout: time.Minute, OnStateChange: func(tr Transition) { reasons = append(reasons, tr.Reason) }, Clock: fc})
	require.False(t, b.FleetProbe(), "closed: nothing to end")
	require.False(t, b.FleetClose())
	require.NoError(t, b.FleetTrip(time.Hour))
	require.True(t, b.FleetProbe())
	require.Equal(t, StateHalfOpen, b.State())
	tk, err := b.Allow()
	require.NoError(t, err, "the elected replica probes at once")
	require.True(t, b.FleetClose())
	require.Equal(t, StateClosed, b.State())
	tk.Done(errBoom) // stale: changes nothing
	require.Equal(t, StateClosed, b.State())
	require.Equal(t, []Reason{ReasonFleetTrip, ReasonFleetProbe, ReasonFleetClose}, reasons)
	for _, r := range reasons {
		require.True(t, r.Fleet())
	}
	require.False(t, ReasonTripFor.Fleet())
	b.Disable()
	require.False(t, b.FleetClose())
}

// holdFirstCAS makes the first transition after it stop right after its CAS
// until release is closed; later transitions pass.
func holdFirstCAS() (reached, release chan struct{}) {
	reached, release = make(chan struct{}), make(chan struct{})
	var first atomic.Bool
	testHookAfterCAS = func(uint64) {
		if first.CompareAndSwap(false, true) {
			close(reached)
			<-release
		}
	}
	return reached, release
}

// Config returns the configuration with defaults applied, and it is a valid
// Config for New.
func TestConfigAccessor(t *testing.T) {
	fc := clock.NewFake(t0)
	b := mustNew(t, Config{Name: "x", FailureRateThreshold: 0.5, WindowType: TimeWindow, Clock: fc})
	c := b.Config()
	require.Equal(t, "x", c.Name)
	require.Equal(t, DefaultTimeout, c.Timeout)
	require.Equal(t, uint32(DefaultMinimumCalls), c.MinimumCalls)
	require.Equal(t, DefaultWindowDuration, c.WindowDuration)
	require.Equal(t, uint32(DefaultWindowBuckets), c.WindowBuckets)
	require.Equal(t, Clock(fc), c.Clock)
	require.Zero(t, c.FailureThreshold, "consecutive rule off with a rate rule")
	b2, err := New(c)
	require.NoError(t, err)
	require.Equal(t, c.Timeout, b2.Config().Timeout)
	require.Equal(t, uint32(DefaultWindowSize), mustNew(t, Config{WindowSize: 0, FailureRateThreshold: 0.5}).Config().WindowSize)
	require.Nil(t, mustNew(t, Config{}).Config().Clock, "the system clock reads as nil")
}

// A probe's entry is freed by its own admission id only: a second Done of a
// probe admitted earlier must not free the entry a later probe holds in the
// same slot, whatever their admission numbers have in common.
func TestDoubleDoneNeverFreesALaterProbe(t *testing.T) {
	fc := clock.NewFake(t0)
	b := mustNew(t, Config{FailureThreshold: 1, HalfOpenMaxCalls: 1, SuccessThreshold: 5, Timeout: time.Second, Clock: fc})
	b.RecordFailure()
	fc.Advance(time.Second)
	var done []Ticket
	for range 4 { // admissions 1 to 4, each finished: 4 successes of 5
		p, err := b.Allow()
		require.NoError(t, err)
		p.Done(nil)
		done = append(done, p)
	}
	held, err := b.Allow() // admission 5 holds the only slot
	require.NoError(t, err)
	for _, p := range done {
		p.Done(nil) // each a second Done
		_, err := b.Allow()
		require.ErrorIs(t, err, ErrTooManyRequests, "a second Done freed the slot a later probe holds")
	}
	require.Equal(t, StateHalfOpen, b.State())
	held.Done(nil)
	require.Equal(t, StateClosed, b.State())
}

// A custom Classify decides every result, success included: the fast path
// for a closed success is taken only with the default classifier.
func TestCustomClassifyDecidesSuccesses(t *testing.T) {
	b := mustNew(t, Config{FailureThreshold: 2, Classify: func(error) Outcome { return Failure }})
	_ = b.Call(func() error { return nil })
	_ = b.Call(func() error { return nil })
	require.Equal(t, StateOpen, b.State(), "Classify said both nil results failed")
}
