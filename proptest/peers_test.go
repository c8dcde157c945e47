package proptest

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/internal/clock"
	"go.uber.org/goleak"
)

// One regression test per bug class of the peer libraries
// (shared/reference/go-peers.md, section 3). Each fails on the peer's
// behaviour named in its comment.

// Class 1a: unlimited or only time-gated half-open admission (mercari,
// eapache, slok, sentinel; hystrix, cep21, rubyist, handy, bytedance): 100
// concurrent callers in half-open, exactly HalfOpenMaxCalls admitted, and a
// finished probe frees its slot at once, with no time passing.
func TestPeerClass1HalfOpenInFlightCap(t *testing.T) {
	clk := clock.NewFake(epoch)
	b := breaker.MustNew(breaker.Config{FailureThreshold: 1, HalfOpenMaxCalls: 3, SuccessThreshold: 10, Timeout: time.Second, Clock: clk})
	openToHalfOpen(t, b, clk)
	var mu sync.Mutex
	var admitted []breaker.Ticket
	var wg sync.WaitGroup
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if tk, err := b.Allow(); err == nil {
				mu.Lock()
				admitted = append(admitted, tk)
				mu.Unlock()
			} else if !errors.Is(err, breaker.ErrTooManyRequests) {
				t.Errorf("rejection %v", err)
			}
		}()
	}
	wg.Wait()
	if len(admitted) != 3 {
		t.Fatalf("%d of 100 admitted; want exactly 3", len(admitted))
	}
	admitted[0].Done(nil)
	if _, err := b.Allow(); err != nil {
		t.Fatalf("a finished probe did not free its slot: %v", err)
	}
}

// Class 1b: the in-flight cap wedges when a probe never reports (gobreaker's
// two-step done never called; failsafe-go's panic): the lease reclaims it.
func TestPeerClass1LostProbeDoesNotWedge(t *testing.T) {
	clk := clock.NewFake(epoch)
	b := breaker.MustNew(breaker.Config{FailureThreshold: 1, Timeout: time.Second, ProbeLease: 10 * time.Second, Clock: clk})
	openToHalfOpen(t, b, clk)
	if _, err := b.Allow(); err != nil { // lost: never Done
		t.Fatal(err)
	}
	clk.Advance(10 * time.Second)
	if err := b.Call(func() error { return nil }); err != nil || b.State() != breaker.StateClosed {
		t.Fatalf("after the lease: %v, state %v; want a probe that closes it", err, b.State())
	}
	// failsafe-go: a panicking probe leaks its permit.
	b.RecordFailure()
	clk.Advance(time.Second)
	func() {
		defer func() {
			if recover() != errPanicVal {
				t.Error("the panic did not go on")
			}
		}()
		_ = b.Call(func() error { panic(errPanicVal) })
	}()
	if c := b.Counts(); c.State != breaker.StateOpen || c.FailureCalls != 3 {
		t.Fatalf("after a panicking probe: %+v; want open with the panic counted as a failure", c)
	}
}

// Class 2: stale results (failsafe-go, hystrix-go, handy, cep21 before
// v4.2): a success of a call admitted before the trip must not close the
// half-open breaker, nor a stale failure reopen it.
func TestPeerClass2StaleSuccessDoesNotClose(t *testing.T) {
	clk := clock.NewFake(epoch)
	b := breaker.MustNew(breaker.Config{FailureThreshold: 1, Timeout: time.Second, Clock: clk})
	early, _ := b.Allow()
	early2, _ := b.Allow()
	openToHalfOpen(t, b, clk)
	early.Done(nil)
	early2.Done(errBackend)
	if c := b.Counts(); c.State != breaker.StateHalfOpen || c.ProbeSuccesses != 0 {
		t.Fatalf("stale results changed the half-open breaker: %+v", c)
	}
}

// Class 3: callbacks under the lock (gobreaker deadlocks, #37; mercari runs
// its hook under the lock; failsafe-go and bytedance lose the order): the
// callback re-enters the breaker, and transitions arrive in order.
func TestPeerClass3CallbackReentersInOrder(t *testing.T) {
	clk := clock.NewFake(epoch)
	var b *breaker.Breaker
	var got []breaker.Transition
	b = breaker.MustNew(breaker.Config{FailureThreshold: 1, Timeout: time.Second, Clock: clk,
		OnStateChange: func(tr breaker.Transition) {
			got = append(got, tr)
			_ = b.State()
			_ = b.Counts()
			if tr.To == breaker.StateOpen && len(got) == 1 {
				b.Reset() // re-entrant transition from inside the callback
			}
		}})
	b.RecordFailure()
	if len(got) != 2 || got[0].To != breaker.StateOpen || got[1].Reason != breaker.ReasonReset || got[1].Generation != 2 {
		t.Fatalf("transitions %+v; want open then reset, in order", got)
	}
}

// Class 4: cancellation counted as a failure by default (gobreaker,
// failsafe-go, eapache): a cancelled call is neutral, trips nothing and
// frees its half-open slot.
func TestPeerClass4CancellationIsNeutral(t *testing.T) {
	clk := clock.NewFake(epoch)
	b := breaker.MustNew(breaker.Config{FailureThreshold: 1, Timeout: time.Second, Clock: clk})
	for range 10 {
		ctx, cancel := context.WithCancel(context.Background())
		_ = b.Do(ctx, func(ctx context.Context) error { cancel(); return ctx.Err() })
	}
	if c := b.Counts(); c.State != breaker.StateClosed || c.NeutralCalls != 10 || c.FailureCalls != 0 {
		t.Fatalf("after 10 cancelled calls: %+v", c)
	}
	openToHalfOpen(t, b, clk)
	_ = b.Do(context.Background(), func(context.Context) error { return context.Canceled })
	if c := b.Counts(); c.State != breaker.StateHalfOpen || c.ProbesInFlight != 0 {
		t.Fatalf("a cancelled probe: %+v; want its slot free and nothing decided", c)
	}
}

// Class 5: a goroutine, ticker or timer goroutine per breaker (hystrix-go,
// mercari, slok, handy, eapache): a thousand breakers on the system clock,
// tripped and probed, start no goroutine and leave none behind.
func TestPeerClass5NoGoroutinePerBreaker(t *testing.T) {
	before := runtime.NumGoroutine()
	bs := make([]*breaker.Breaker, 1000)
	for i := range bs {
		bs[i] = breaker.MustNew(breaker.Config{FailureThreshold: 1, Timeout: time.Hour, WindowType: breaker.TimeWindow})
		bs[i].RecordFailure()
		_, _ = bs[i].Allow()
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("%d goroutines for 1000 breakers (%d before)", n, before)
	}
	for _, b := range bs {
		b.Reset()
	}
	goleak.VerifyNone(t)
}

// Class 6: time (clocks that cannot be injected; cep21 #159, lost window
// writes after an idle gap): on an injected clock a time window keeps
// counting after idle gaps of any length, and an outcome leaves it exactly
// at the bucket edge WindowDuration later.
func TestPeerClass6WindowAcrossIdleGaps(t *testing.T) {
	for _, gap := range []time.Duration{time.Minute, time.Hour, 30 * time.Hour, 200 * time.Hour} {
		b, clk := newFake(t, breaker.Config{WindowType: breaker.TimeWindow, WindowDuration: 10 * time.Second, WindowBuckets: 10}, true)
		b.RecordFailure()
		clk.Advance(gap)
		b.RecordFailure()
		if w := b.Counts().Window; w.Calls != 1 {
			t.Fatalf("after a %v gap: window %+v; want the one new failure", gap, w)
		}
		clk.Advance(10*time.Second - 1)
		if w := b.Counts().Window; w.Calls != 1 {
			t.Fatalf("1ns before the window passes: %+v", w)
		}
		clk.Advance(1) // exactly WindowDuration after the failure
		if w := b.Counts().Window; w.Calls != 0 {
			t.Fatalf("after the window passed: %+v", w)
		}
	}
}

// Class 2, probes: a probe whose slot the lease reclaimed, or admitted in an
// earlier half-open period, is stale too: its success must not close the
// breaker, its failure not reopen it, its end not free a current slot.
func TestPeerClass2StaleProbeResults(t *testing.T) {
	clk := clock.NewFake(epoch)
	b := breaker.MustNew(breaker.Config{FailureThreshold: 1, HalfOpenMaxCalls: 2, Timeout: time.Second, ProbeLease: time.Second, Clock: clk})
	openToHalfOpen(t, b, clk)
	lostA, _ := b.Allow()
	lostB, _ := b.Allow()
	clk.Advance(time.Second)
	current, err := b.Allow() // reclaims both slots: a new generation
	if err != nil {
		t.Fatal(err)
	}
	held, _ := b.Allow()
	lostA.Done(nil)
	lostB.Done(errBackend)
	if c := b.Counts(); c.State != breaker.StateHalfOpen || c.ProbesInFlight != 2 || c.ProbeSuccesses != 0 {
		t.Fatalf("reclaimed probes' results changed the breaker: %+v", c)
	}
	current.Done(errBackend) // reopens
	clk.Advance(time.Hour)
	_ = b.State() // a later half-open period
	held.Done(nil)
	if c := b.Counts(); c.State != breaker.StateHalfOpen || c.ProbeSuccesses != 0 {
		t.Fatalf("a probe of an earlier half-open period changed a later one: %+v", c)
	}
}
