package proptest

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/internal/clock"
)

// Regression tests for the window findings 9 to 13 (FINDINGS.md): each fails
// on the windows before the rewrite of internal/window.

var errWin = errors.New("down")

// checkWindow fails the test for a window figure no traffic can produce.
func checkWindow(t *testing.T, where string, w breaker.WindowCounts) {
	t.Helper()
	if w.Failures > w.Calls || w.Slow > w.Calls || w.FailureRate < 0 || w.FailureRate > 1 || w.SlowRate < 0 || w.SlowRate > 1 {
		t.Errorf("%s: impossible window %+v", where, w)
	}
}

// tripRecorder records the trips a breaker reports, for checks after a run.
type tripRecorder struct {
	n    atomic.Int64
	mu   sync.Mutex // test-side only
	last []breaker.Transition
}

func (r *tripRecorder) on(tr breaker.Transition) {
	if tr.To != breaker.StateOpen {
		return
	}
	r.n.Add(1)
	r.mu.Lock()
	r.last = append(r.last, tr)
	r.mu.Unlock()
}

func (r *tripRecorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return fmt.Sprint(r.last)
}

// Finding 9 (a): 16 goroutines that each record a success before each
// failure can never make a window of 100 or more calls hold more than 16
// failures above its successes (rate <= 0.58), so a 0.6 threshold must never
// trip, and no window
// figure may be impossible; with the system clock (the default) and with a
// fake one.
func TestFinding9TimeWindowRatesStayPossible(t *testing.T) {
	for _, name := range []string{"system clock", "fake clock"} {
		t.Run(name, func(t *testing.T) {
			var trips tripRecorder
			cfg := breaker.Config{
				FailureRateThreshold: 0.6, MinimumCalls: 100,
				WindowType: breaker.TimeWindow, WindowDuration: 10 * time.Millisecond, WindowBuckets: 10,
				OnStateChange: trips.on,
			}
			var clk *clock.Fake
			if name == "fake clock" {
				clk = clock.NewFake(epoch)
				cfg.Clock = clk
			}
			b := breaker.MustNew(cfg)
			watch := breaker.MustNew(breaker.Config{WindowType: breaker.TimeWindow, WindowDuration: 10 * time.Millisecond, WindowBuckets: 10, Clock: cfg.Clock})
			watch.Disable()
			var wg sync.WaitGroup
			for g := range 16 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range 4000 {
						_ = b.Call(func() error { return nil })
						_ = b.Call(func() error { return errWin })
						watch.RecordSuccess()
						watch.RecordFailure()
						if clk != nil && g == 0 && i%50 == 0 {
							clk.Advance(time.Millisecond)
						}
						if i%64 == 0 {
							checkWindow(t, "Counts().Window", b.Counts().Window)
							checkWindow(t, "disabled Counts().Window", watch.Counts().Window)
						}
					}
				}()
			}
			wg.Wait()
			if trips.n.Load() != 0 {
				t.Fatalf("tripped on traffic whose failure rate stays near 0.5: %v", trips.String())
			}
		})
	}
}

// Finding 10 (b): a count window is judged on the last WindowSize calls, not
// a fragment. Two goroutines alternating success and failure: every prefix
// and every 10 consecutive calls hold at most as many failures as successes
// plus 2, far from a 0.7 rate once 3 calls are in.
func TestFinding10CountWindowNoFragment(t *testing.T) {
	for trial := range trials(20) {
		var trips tripRecorder
		b := breaker.MustNew(breaker.Config{
			FailureRateThreshold: 0.7, MinimumCalls: 3, WindowSize: 10, OnStateChange: trips.on,
		})
		var wg sync.WaitGroup
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 2000 {
					_ = b.Call(func() error { return nil })
					_ = b.Call(func() error { return errWin })
				}
			}()
		}
		wg.Wait()
		if trips.n.Load() != 0 {
			t.Fatalf("trial %d: tripped on a fragment: %v", trial, trips.String())
		}
		if w := b.Counts().Window; w.Calls != 10 {
			t.Fatalf("trial %d: final window %+v, want the last 10 calls", trial, w)
		}
	}
}

// Finding 11 (c): a call admitted before a Reset (or Disable and Release)
// and preempted at a clock read must not change the new generation's window:
// after the Reset, 4 failures in 4 calls trip the breaker, however the late
// result lands. The late call is held at the first clock read its Done makes:
// with SlowCallDuration that is before anything else; without it, it is
// wherever the window code reads the time (a time window with a clock
// without timers), or nowhere, and the late result then lands before the
// Reset. Both window shapes, with and without clock timers.
func TestFinding11LateResultLeavesCurrentWindow(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  breaker.Config
	}{
		{"count", breaker.Config{WindowSize: 4}},
		{"time", breaker.Config{WindowType: breaker.TimeWindow, WindowDuration: time.Second, WindowBuckets: 10}},
		{"count/timed", breaker.Config{WindowSize: 4, SlowCallDuration: time.Hour}},
		{"time/timed", breaker.Config{WindowType: breaker.TimeWindow, WindowDuration: time.Second, WindowBuckets: 10, SlowCallDuration: time.Hour}},
	} {
		for _, timers := range []bool{true, false} {
			for _, ctl := range []string{"Reset", "Disable+Release"} {
				t.Run(fmt.Sprintf("%s/timers=%v/%s", tc.name, timers, ctl), func(t *testing.T) {
					cfg := tc.cfg
					cfg.FailureRateThreshold, cfg.MinimumCalls = 1, 4
					b, clk := newFake(t, cfg, timers)
					late, err := b.Allow()
					if err != nil {
						t.Fatal(err)
					}
					hold := clk.HoldNextRead()
					done := make(chan struct{})
					go func() { defer close(done); late.Done(nil) }()
					select {
					case <-hold.Reached:
					case <-done: // it read no clock: it landed before the Reset
						clk.HoldNextRead().Release()
					}
					if ctl == "Reset" {
						b.Reset()
					} else {
						b.Disable()
						b.Release()
					}
					for range 3 {
						_ = b.Call(func() error { return errWin })
					}
					hold.Release()
					<-done
					if w := b.Counts().Window; w.Calls != 3 || w.Failures != 3 {
						t.Fatalf("after the late success: window %+v, want the 3 failures only", w)
					}
					_ = b.Call(func() error { return errWin })
					if s := b.State(); s != breaker.StateOpen {
						t.Fatalf("4 failures in 4 calls left the breaker %v", s)
					}
				})
			}
		}
	}
}

// Finding 12 (d): no counter saturates. 2^24+16 successes in one 1-minute
// bucket, then failures: the rate must stay what the traffic made it.
func TestFinding12TimeWindowNoSaturation(t *testing.T) {
	b, _ := newFake(t, breaker.Config{WindowType: breaker.TimeWindow, WindowDuration: 10 * time.Minute, WindowBuckets: 10}, true)
	b.Disable() // counts, never trips
	const n = 1<<24 + 16
	for range n {
		b.RecordSuccess()
	}
	for range 16 {
		b.RecordFailure()
	}
	w := b.Counts().Window
	if w.Calls != n+16 || w.Failures != 16 {
		t.Fatalf("window %+v, want %d calls with 16 failures", w, n+16)
	}
}

// Finding 13 (e): period tags never alias. A failure, then exactly 2^27
// periods of a healthy breaker (15.5 days of 10 ms buckets): the old failure
// must not come back, and a new one must count.
func TestFinding13NoTagAliasing(t *testing.T) {
	for _, timers := range []bool{true, false} {
		b, clk := newFake(t, breaker.Config{WindowType: breaker.TimeWindow, WindowDuration: time.Second, WindowBuckets: 100}, timers)
		b.RecordFailure()
		clk.Advance(time.Duration(1<<27) * 10 * time.Millisecond)
		if w := b.Counts().Window; w.Calls != 0 {
			t.Fatalf("timers=%v: a failure 2^27 periods old is back: %+v", timers, w)
		}
		b.RecordFailure()
		if w := b.Counts().Window; w.Calls != 1 || w.Failures != 1 {
			t.Fatalf("timers=%v: the new failure: %+v", timers, w)
		}
	}
}

// TestStressWindowInvariants: writers, Resets, Disable/Release and time jumps
// at once. Every Counts() satisfies the window invariants, lifetime totals
// never go back, and every trip a listener sees carries a window that
// justifies it.
func TestStressWindowInvariants(t *testing.T) {
	for trial := range trials(12) {
		clk := clock.NewFake(epoch)
		var bad atomic.Int64
		var badTrip atomic.Value
		cfg := breaker.Config{
			FailureRateThreshold: 0.5, SlowCallRateThreshold: 0.5, SlowCallDuration: 3 * time.Millisecond,
			MinimumCalls: 8, Timeout: 5 * time.Millisecond, HalfOpenMaxCalls: 3, Clock: clk,
		}
		if trial%2 == 0 {
			cfg.WindowType, cfg.WindowDuration, cfg.WindowBuckets = breaker.TimeWindow, 20*time.Millisecond, 4
		} else {
			cfg.WindowSize = 16
		}
		cfg.OnStateChange = func(tr breaker.Transition) {
			if tr.Reason != breaker.ReasonFailureRate && tr.Reason != breaker.ReasonSlowCallRate {
				return
			}
			w := tr.Window
			ok := w.Calls >= 8 && w.Failures <= w.Calls && w.Slow <= w.Calls
			if tr.Reason == breaker.ReasonFailureRate {
				ok = ok && w.FailureRate >= 0.5 && w.FailureRate <= 1
			} else {
				ok = ok && w.SlowRate >= 0.5 && w.SlowRate <= 1
			}
			if !ok {
				badTrip.Store(tr)
			}
		}
		b := breaker.MustNew(cfg)
		var wg sync.WaitGroup
		for g := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var last breaker.Counts
				for i := range 400 {
					switch {
					case g == 0 && i%40 == 0:
						b.Reset()
					case g == 1 && i%60 == 0:
						b.Disable()
						b.Release()
					case g == 2 && i%7 == 0:
						clk.Advance(time.Duration(i%5) * time.Millisecond)
					}
					tk, err := b.Allow()
					if err == nil {
						if i%3 == 0 {
							clk.Advance(time.Millisecond)
						}
						if (i+g)%3 == 0 {
							tk.Done(errWin)
						} else {
							tk.Done(nil)
						}
					}
					c := b.Counts()
					w := c.Window
					if w.Failures > w.Calls || w.Slow > w.Calls || w.FailureRate > 1 || w.SlowRate > 1 {
						bad.Add(1)
					}
					if c.SuccessCalls < last.SuccessCalls || c.FailureCalls < last.FailureCalls ||
						c.Rejected < last.Rejected || c.SlowCalls < last.SlowCalls || c.TotalCalls < last.TotalCalls {
						bad.Add(1)
					}
					if c.ProbesInFlight > 3 {
						bad.Add(1)
					}
					last = c
				}
			}()
		}
		wg.Wait()
		if n := bad.Load(); n != 0 {
			t.Fatalf("trial %d: %d invariant violations", trial, n)
		}
		if tr := badTrip.Load(); tr != nil {
			t.Fatalf("trial %d: a trip its window does not justify: %+v", trial, tr)
		}
	}
}
