package breaker

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fusebox-go/fusebox/internal/clock"
)

const hammerers = 64

// tally is what the test itself saw of a run.
type tally struct {
	admitted, rejected, tooMany atomic.Uint64
	inFlight, maxInFlight       atomic.Int64
}

// enter and leave bracket the protected function.
func (ty *tally) enter() {
	n := ty.inFlight.Add(1)
	for {
		m := ty.maxInFlight.Load()
		if n <= m || ty.maxInFlight.CompareAndSwap(m, n) {
			return
		}
	}
}

func (ty *tally) leave() { ty.inFlight.Add(-1) }

// see records the result of one call: fn ran (admitted) or was rejected.
func (ty *tally) see(t *testing.T, ran bool, err error) {
	switch {
	case ran:
		ty.admitted.Add(1)
	case errors.Is(err, ErrTooManyRequests):
		ty.tooMany.Add(1)
		ty.rejected.Add(1)
	case errors.Is(err, ErrOpen):
		ty.rejected.Add(1)
	default:
		t.Errorf("unexpected result: ran=%v err=%v", ran, err)
	}
}

// conserve checks the breaker's figures against the test's, given the
// breaker's figures before the run.
func (ty *tally) conserve(t *testing.T, before, c Counts) {
	t.Helper()
	eq(t, "TotalCalls vs admitted", c.TotalCalls-before.TotalCalls, ty.admitted.Load())
	eq(t, "Rejected vs rejections", c.Rejected-before.Rejected, ty.rejected.Load())
}

func TestHalfOpenCapUnderContention(t *testing.T) {
	trials := 30
	if testing.Short() {
		trials = 5
	}
	for _, maxCalls := range []uint32{1, 3, 16} {
		for trial := range trials {
			fc := clock.NewFake(t0)
			b := mustNew(t, Config{FailureThreshold: 1, Timeout: time.Second, HalfOpenMaxCalls: maxCalls,
				SuccessThreshold: MaxCount, ProbeLease: time.Hour, Clock: fc})
			b.RecordFailure()
			fc.Advance(time.Second)
			before := b.Counts()
			var ty tally
			var wg sync.WaitGroup
			start := make(chan struct{})
			for g := range hammerers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					for i := range 20 {
						ran := false
						err := b.Call(func() error {
							ran = true
							ty.enter()
							defer ty.leave()
							if (g+i)%3 == 0 {
								return context.Canceled // neutral: frees the slot too
							}
							return nil
						})
						ty.see(t, ran, err)
					}
				}()
			}
			close(start)
			wg.Wait()
			if m := ty.maxInFlight.Load(); m > int64(maxCalls) {
				t.Fatalf("max %d trial %d: %d probes in flight at once", maxCalls, trial, m)
			}
			c := b.Counts()
			eq(t, "State", c.State, StateHalfOpen)
			eq(t, "ProbesInFlight", c.ProbesInFlight, 0)
			eq(t, "ProbeSuccesses", c.ProbeSuccesses, uint32(c.SuccessCalls))
			eq(t, "tooMany == rejected", ty.tooMany.Load(), ty.rejected.Load())
			ty.conserve(t, before, c)
		}
	}
}

// TestNoWedgeUnderChaos hammers a breaker with successes, failures, panics,
// lost tickets and cancelled contexts while the clock moves; afterwards it
// must still close, and the counts must add up.
func TestNoWedgeUnderChaos(t *testing.T) {
	for _, k := range clockKinds {
		t.Run(k.name, func(t *testing.T) {
			fc := clock.NewFake(t0)
			b := mustNew(t, Config{FailureThreshold: 3, Timeout: time.Millisecond, HalfOpenMaxCalls: 2,
				ProbeLease: 5 * time.Millisecond, Clock: k.wrap(fc)})
			var ty tally
			var lost atomic.Uint64
			var wg sync.WaitGroup
			for g := range hammerers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range 60 {
						op := (g*7 + i) % 10
						if g == 0 {
							fc.Advance(time.Millisecond)
						}
						ran := false
						switch op {
						case 0: // a lost ticket: admitted, never reported
							if _, err := b.Allow(); err == nil {
								lost.Add(1)
								continue
							}
							ty.see(t, false, ErrOpen)
							continue
						case 1: // a panic
							func() {
								defer func() {
									r := recover()
									if ran && r != "chaos" {
										t.Errorf("recovered %v", r)
									}
									if ran {
										ty.see(t, true, nil)
									}
								}()
								err := b.Call(func() error { ran = true; panic("chaos") })
								ty.see(t, ran, err)
							}()
						case 2, 3: // the caller gives up
							ctx, cancel := context.WithCancel(context.Background())
							err := b.Do(ctx, func(context.Context) error { ran = true; cancel(); return ctx.Err() })
							cancel()
							ty.see(t, ran, err)
						case 4, 5, 6:
							err := b.Call(func() error { ran = true; return errBoom })
							ty.see(t, ran, err)
						default:
							err := b.Call(func() error { ran = true; return nil })
							ty.see(t, ran, err)
						}
					}
				}()
			}
			wg.Wait()
			// Lost tickets are never counted: they never reported.
			ty.conserve(t, Counts{}, b.Counts())
			// Not wedged: within a lease and a timeout a probe gets in.
			fc.Advance(10 * time.Millisecond)
			for range 3 {
				if err := b.Call(func() error { return nil }); err != nil {
					t.Fatalf("after the storm Call = %v (state %v)", err, b.State())
				}
			}
			eq(t, "State", b.State(), StateClosed)
		})
	}
}

func TestClosedConservation(t *testing.T) {
	b := mustNew(t, Config{FailureThreshold: MaxCount, WindowSize: 8192})
	var wg sync.WaitGroup
	const per = 128 // 64 x 128 = 8192 calls: the whole window
	for g := range hammerers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				var err error
				if (g+i)%4 == 0 {
					err = errBoom
				}
				b.Call(func() error { return err })
			}
		}()
	}
	wg.Wait()
	c := b.Counts()
	eq(t, "TotalCalls", c.TotalCalls, hammerers*per)
	eq(t, "FailureCalls", c.FailureCalls, hammerers*per/4)
	eq(t, "Window.Calls", c.Window.Calls, hammerers*per)
	eq(t, "Window.Failures", c.Window.Failures, hammerers*per/4)
	eq(t, "State", c.State, StateClosed)
}

func TestConcurrentTripHappensOnce(t *testing.T) {
	for range 20 {
		rec := &recorder{}
		fc := clock.NewFake(t0)
		b := mustNew(t, Config{FailureThreshold: 1, Timeout: time.Hour, OnStateChange: rec.on, Clock: fc})
		var wg sync.WaitGroup
		tickets := make([]Ticket, hammerers)
		for i := range tickets {
			tickets[i], _ = b.Allow()
		}
		for i := range tickets {
			wg.Add(1)
			go func() { defer wg.Done(); tickets[i].Done(errBoom) }()
		}
		wg.Wait()
		checkHops(t, rec.all(), hop{StateClosed, StateOpen, ReasonConsecutiveFailures})
		eq(t, "FailureCalls", b.Counts().FailureCalls, hammerers)
	}
}
