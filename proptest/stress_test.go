package proptest

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/internal/clock"
)

// Stress tests: many goroutines on one breaker, checked for invariants that
// hold whatever the interleaving. Run them under -race at several -cpu
// values (go test -race -cpu=1,2,4,8 -run Stress ./proptest/).

func trials(n int) int {
	switch {
	case long:
		return 20 * n
	case mutating:
		return max(n/4, 2)
	}
	return n
}

// openToHalfOpen trips b and lets its open period run out.
func openToHalfOpen(t *testing.T, b *breaker.Breaker, clk *clock.Fake) {
	t.Helper()
	for b.State() == breaker.StateClosed {
		b.RecordFailure()
	}
	clk.Advance(time.Hour)
	if s := b.State(); s != breaker.StateHalfOpen {
		t.Fatalf("state %v; want half-open", s)
	}
}

// TestStressHalfOpenCap: 64 goroutines race for the probe slots; never more
// than HalfOpenMaxCalls are admitted, and exactly that many are when none
// finishes.
func TestStressHalfOpenCap(t *testing.T) {
	const goroutines = 64
	for trial := range trials(60) {
		statStressTrials.Add(1)
		limit := uint32(1 + trial%5)
		clk := clock.NewFake(epoch)
		b := breaker.MustNew(breaker.Config{FailureThreshold: 1, HalfOpenMaxCalls: limit, SuccessThreshold: 1000, Timeout: time.Second, Clock: clk})
		openToHalfOpen(t, b, clk)
		var inFlight, peak, admitted, rejected atomic.Int64
		start := make(chan struct{})
		var wg sync.WaitGroup
		for g := range goroutines {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for i := range 20 {
					tk, err := b.Allow()
					if err != nil {
						if !errors.Is(err, breaker.ErrTooManyRequests) {
							t.Errorf("rejection %v; want ErrTooManyRequests", err)
						}
						rejected.Add(1)
						continue
					}
					admitted.Add(1)
					n := inFlight.Add(1)
					for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
					}
					if c := b.Counts(); c.ProbesInFlight > limit {
						t.Errorf("Counts().ProbesInFlight = %d > %d", c.ProbesInFlight, limit)
					}
					inFlight.Add(-1)
					if (g+i)%2 == 0 {
						tk.Done(nil)
					} else {
						tk.Done(context.Canceled)
					}
				}
			}()
		}
		close(start)
		wg.Wait()
		if p := peak.Load(); p > int64(limit) {
			t.Fatalf("trial %d: %d probes in flight at once; cap %d", trial, p, limit)
		}
		c := b.Counts()
		if c.State != breaker.StateHalfOpen || c.ProbesInFlight != 0 {
			t.Fatalf("trial %d: after all probes finished: %+v", trial, c)
		}
		if uint64(rejected.Load()) != c.Rejected || uint64(admitted.Load()) != c.TotalCalls-1 {
			t.Fatalf("trial %d: admitted %d rejected %d; Counts %+v", trial, admitted.Load(), rejected.Load(), c)
		}
		// Now hold every slot: exactly limit of 64 racing callers get one.
		var got atomic.Int64
		var tickets sync.Map
		start = make(chan struct{})
		for g := range goroutines {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				if tk, err := b.Allow(); err == nil {
					got.Add(1)
					tickets.Store(g, tk)
				}
			}()
		}
		close(start)
		wg.Wait()
		if got.Load() != int64(limit) {
			t.Fatalf("trial %d: %d of %d callers admitted; want exactly the cap %d", trial, got.Load(), goroutines, limit)
		}
	}
}

// TestStressConservation: random calls, results, panics and controls from
// many goroutines; afterwards every outcome and rejection is in the totals
// exactly once, and the breaker still works.
func TestStressConservation(t *testing.T) {
	configs := []breaker.Config{
		{FailureThreshold: 3, HalfOpenMaxCalls: 3, SuccessThreshold: 2},
		{FailureRateThreshold: 0.5, WindowSize: 20, MinimumCalls: 5, HalfOpenMaxCalls: 2},
		{FailureRateThreshold: 0.5, SlowCallRateThreshold: 0.5, SlowCallDuration: 5 * time.Millisecond, WindowType: breaker.TimeWindow,
			WindowDuration: 100 * time.Millisecond, WindowBuckets: 10, MinimumCalls: 4, Backoff: breaker.Backoff{Multiplier: 2, Jitter: 0.5}},
	}
	for trial := range trials(24) {
		statStressTrials.Add(1)
		clk := clock.NewFake(epoch)
		cfg := configs[trial%len(configs)]
		cfg.Timeout, cfg.ProbeLease, cfg.Clock = 20*time.Millisecond, 10*time.Millisecond, clk
		var transitions atomic.Int64
		cfg.OnStateChange = func(breaker.Transition) { transitions.Add(1) }
		b := breaker.MustNew(cfg)
		var succ, fail, neutral, rejected atomic.Uint64
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := rand.New(rand.NewPCG(uint64(trial), uint64(g)))
				var held []breaker.Ticket
				for range 300 {
					switch p := r.IntN(100); {
					case p < 40:
						want := []error{nil, errBackend, context.Canceled}[r.IntN(3)]
						panics := r.IntN(20) == 0
						err := func() (err error) {
							defer func() {
								if v := recover(); v != nil {
									if v != errPanicVal {
										t.Errorf("panic %v", v)
									}
									fail.Add(1)
									err = nil
								}
							}()
							return b.Call(func() error {
								if r.IntN(4) == 0 {
									clk.Advance(time.Duration(r.IntN(8)) * time.Millisecond)
								}
								if panics {
									panic(errPanicVal)
								}
								return want
							})
						}()
						switch {
						case errors.Is(err, breaker.ErrOpen), errors.Is(err, breaker.ErrTooManyRequests):
							rejected.Add(1)
						case panics:
						case want == nil:
							succ.Add(1)
						case errors.Is(want, context.Canceled):
							neutral.Add(1)
						default:
							fail.Add(1)
						}
					case p < 60:
						if tk, err := b.Allow(); err == nil {
							held = append(held, tk)
						} else {
							rejected.Add(1)
						}
					case p < 80 && len(held) > 0:
						i := r.IntN(len(held))
						if r.IntN(5) == 0 { // lost ticket
							held = append(held[:i], held[i+1:]...)
							continue
						}
						o := breaker.Outcome(1 + r.IntN(3))
						held[i].DoneOutcome(o)
						held = append(held[:i], held[i+1:]...)
						map[breaker.Outcome]*atomic.Uint64{breaker.Success: &succ, breaker.Failure: &fail, breaker.Neutral: &neutral}[o].Add(1)
					case p < 90:
						clk.Advance(time.Duration(r.IntN(15)) * time.Millisecond)
					case p < 93:
						b.Reset()
					case p < 95:
						_ = b.ForceOpen(time.Duration(r.IntN(2)) * 30)
					case p < 96:
						b.Disable()
					case p < 98:
						b.Release()
					default:
						_ = b.Counts()
					}
				}
				for _, tk := range held {
					tk.Done(nil)
					succ.Add(1)
				}
			}()
		}
		wg.Wait()
		c := b.Counts()
		if cfg.SlowCallRateThreshold > 0 {
			// A slow probe that succeeded counts as a failure (Config doc):
			// which calls were probes is not known here, only the sum is.
			succ.Store(succ.Load() - (c.FailureCalls - fail.Load()))
			fail.Store(c.FailureCalls)
		}
		if c.SuccessCalls != succ.Load() || c.FailureCalls != fail.Load() || c.NeutralCalls != neutral.Load() ||
			c.Rejected != rejected.Load() || c.TotalCalls != c.SuccessCalls+c.FailureCalls+c.NeutralCalls {
			t.Fatalf("trial %d: Counts %+v; want success %d failure %d neutral %d rejected %d",
				trial, c, succ.Load(), fail.Load(), neutral.Load(), rejected.Load())
		}
		if c.ProbesInFlight > max(cfg.HalfOpenMaxCalls, 1) {
			t.Fatalf("trial %d: %d probes in flight", trial, c.ProbesInFlight)
		}
		// Not wedged: Release and Reset bring it back; a call goes through.
		b.Release()
		b.Reset()
		if err := b.Call(func() error { return nil }); err != nil {
			t.Fatalf("trial %d: after Reset: %v", trial, err)
		}
	}
}

// TestStressNoWedge: probes that panic, tickets that are lost and calls
// whose context is cancelled, from many goroutines at once; once the probe
// lease has passed the breaker admits a probe again and closes on success.
func TestStressNoWedge(t *testing.T) {
	for trial := range trials(40) {
		statStressTrials.Add(1)
		clk := clock.NewFake(epoch)
		b := breaker.MustNew(breaker.Config{FailureThreshold: 1, HalfOpenMaxCalls: 4, Timeout: time.Second, ProbeLease: time.Minute, Clock: clk})
		openToHalfOpen(t, b, clk)
		var wg sync.WaitGroup
		for g := range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				switch g % 4 {
				case 0: // panics
					defer func() { _ = recover() }()
					_ = b.Call(func() error { panic(errPanicVal) })
				case 1: // lost
					_, _ = b.Allow()
				case 2: // cancelled
					ctx, cancel := context.WithCancel(context.Background())
					_ = b.Do(ctx, func(context.Context) error { cancel(); return ctx.Err() })
				default: // cancelled before the call
					ctx, cancel := context.WithCancel(context.Background())
					cancel()
					if err := b.Do(ctx, func(context.Context) error { t.Error("ran"); return nil }); !errors.Is(err, context.Canceled) {
						t.Errorf("Do with a done context: %v", err)
					}
				}
			}()
		}
		wg.Wait()
		// Whatever happened, within Timeout (if a panic reopened it) plus the
		// lease the breaker probes again and a success closes it.
		clk.Advance(time.Second + time.Minute)
		for range 8 {
			if err := b.Call(func() error { return nil }); err == nil && b.State() == breaker.StateClosed {
				break
			}
			clk.Advance(time.Minute)
		}
		if s := b.State(); s != breaker.StateClosed {
			t.Fatalf("trial %d: wedged in %v: %+v", trial, s, b.Counts())
		}
	}
}

// TestStressStaleResults: results of calls admitted while closed arrive,
// from many goroutines, after the breaker tripped and went half-open; none
// of them may change the half-open state.
func TestStressStaleResults(t *testing.T) {
	for trial := range trials(40) {
		statStressTrials.Add(1)
		clk := clock.NewFake(epoch)
		b := breaker.MustNew(breaker.Config{FailureThreshold: 1, HalfOpenMaxCalls: 2, SuccessThreshold: 2, Timeout: time.Second,
			SlowCallDuration: time.Millisecond, SlowCallRateThreshold: 1, FailureRateThreshold: 1, MinimumCalls: 1, WindowSize: 4, Clock: clk})
		old := make([]breaker.Ticket, 64)
		for i := range old {
			old[i], _ = b.Allow()
		}
		openToHalfOpen(t, b, clk)
		probe, err := b.Allow()
		if err != nil {
			t.Fatal(err)
		}
		before := b.Counts()
		var wg sync.WaitGroup
		for i, tk := range old {
			wg.Add(1)
			go func() {
				defer wg.Done()
				switch i % 3 {
				case 0:
					tk.Done(nil) // a stale success must not count toward closing
				case 1:
					tk.Done(errBackend) // nor a stale failure reopen it
				default:
					tk.DoneOutcome(breaker.Neutral) // nor a stale neutral free a slot
				}
			}()
		}
		wg.Wait()
		c := b.Counts()
		if c.State != breaker.StateHalfOpen || c.ProbesInFlight != before.ProbesInFlight || c.ProbeSuccesses != before.ProbeSuccesses {
			t.Fatalf("trial %d: stale results changed the half-open breaker: before %+v after %+v", trial, before, c)
		}
		if c.TotalCalls != before.TotalCalls+uint64(len(old)) {
			t.Fatalf("trial %d: stale results missing from the totals: %d -> %d", trial, before.TotalCalls, c.TotalCalls)
		}
		probe.Done(nil)
		if c := b.Counts(); c.ProbeSuccesses != 1 || c.ProbesInFlight != 0 {
			t.Fatalf("trial %d: the current probe's success did not count: %+v", trial, c)
		}
	}
}

// TestStressRetryAtKnown: trips and ForceOpen racing each other; once the
// dust settles a forced-open breaker with a duration must say until when
// (OpenError.RetryAt is zero only "when that is not known in advance").
// FINDINGS.md, finding 7.
func TestStressRetryAtKnown(t *testing.T) {
	for trial := range trials(200) {
		statStressTrials.Add(1)
		clk := clock.NewFake(epoch)
		b := breaker.MustNew(breaker.Config{FailureThreshold: 1, Timeout: time.Hour, Clock: clk})
		var wg sync.WaitGroup
		start := make(chan struct{})
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				if g == 0 {
					_ = b.ForceOpen(time.Minute)
				} else {
					b.RecordFailure()
				}
			}()
		}
		close(start)
		wg.Wait()
		_, err := b.Allow()
		var oe *breaker.OpenError
		if !errors.As(err, &oe) {
			t.Fatalf("trial %d: Allow = %v; want a rejection", trial, err)
		}
		if oe.RetryAt.IsZero() {
			t.Fatalf("trial %d: rejected in %v with a zero RetryAt although the period's end is known", trial, oe.State)
		}
	}
}
