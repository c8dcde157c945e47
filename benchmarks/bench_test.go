package benchmarks

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/fusebox-go/fusebox/benchmarks/peers"
)

// errDown is the error of a failing call.
var errDown = errors.New("dependency down")

// Scenario timeouts: long enough that an open breaker stays open for the
// whole benchmark, or short enough that a half-open one probes often.
const (
	longOpen  = time.Hour
	shortOpen = time.Millisecond // hystrix-go counts its sleep window in ms
	failEvery = 20               // ClosedFail5: every 20th call of each goroutine fails
	rateEvery = 10               // RateTimeFail10, RateCountFail10: every 10th call of each goroutine fails
	readEvery = 4                // ReadWhileCalling: every 4th op is a read
)

// worker is one goroutine's view: its own counters and its own protected
// function, so that counting calls shares no memory between goroutines.
type worker struct {
	br   peers.Breaker
	ts   peers.TwoStep
	ops  int   // operations done
	ran  int   // protected-function runs
	errs int   // calls that returned an error (rejected or failed)
	bad  int   // reads that saw an unexpected state
	fail int   // failures the protected function returned
	read int   // reads done
	last error // the last error a call returned, for the failure message
	ok   func() error
	flip func() error // fails every failEvery-th run
	tick func() error // fails every rateEvery-th run
	down func() error // always fails
}

func newWorker(br peers.Breaker) *worker {
	w := &worker{br: br}
	w.ts, _ = br.(peers.TwoStep)
	w.ok = func() error { w.ran++; return nil }
	w.flip = func() error {
		w.ran++
		if w.ran%failEvery == 0 {
			w.fail++
			return errDown
		}
		return nil
	}
	w.tick = func() error {
		w.ran++
		if w.ran%rateEvery == 0 {
			w.fail++
			return errDown
		}
		return nil
	}
	w.down = func() error { w.ran++; return errDown }
	return w
}

func (w *worker) call(fn func() error) {
	w.ops++
	if err := w.br.Call(fn); err != nil {
		w.errs++
		w.last = err
	}
}

// totals adds up the workers of one benchmark run.
type totals struct {
	ops, ran, errs, bad, fail, read int
	last                            error
}

func (t *totals) add(w *worker) {
	t.ops += w.ops
	t.ran += w.ran
	t.errs += w.errs
	t.bad += w.bad
	t.fail += w.fail
	t.read += w.read
	if w.last != nil {
		t.last = w.last
	}
}

// scenario is one row of the suite.
type scenario struct {
	name    peers.Scenario
	family  peers.Family                                                          // the implementations' configuration
	window  peers.Window                                                          // Config.Window, for the Rate family
	open    time.Duration                                                         // Config.OpenTimeout
	twoStep bool                                                                  // build for the two-step API
	prepare func(b *testing.B, br peers.Breaker)                                  // bring the breaker into the scenario's state
	op      func(w *worker)                                                       // one operation
	check   func(b *testing.B, br peers.Breaker, t totals, elapsed time.Duration) // after the loop
}

// wantState fails the benchmark unless the breaker is in state s.
func wantState(b *testing.B, br peers.Breaker, s peers.State) {
	b.Helper()
	if got := br.State(); got != s {
		b.Fatalf("breaker is %v after the loop, want %v", got, s)
	}
}

// closedAllRan checks a breaker that must have stayed closed and run every
// call; wantErrs is the number of calls that should have failed.
func closedAllRan(b *testing.B, br peers.Breaker, t totals, wantErrs int) {
	b.Helper()
	wantState(b, br, peers.Closed)
	if t.ran != t.ops-t.read || t.errs != wantErrs {
		b.Fatalf("closed breaker: %d calls, %d ran, %d errors (want %d), last error: %v", t.ops, t.ran, t.errs, wantErrs, t.last)
	}
}

// trip fails calls until the breaker reports open. Some peers decide
// asynchronously (hystrix-go applies its metrics on a goroutine), so it
// retries for a while.
func trip(b *testing.B, br peers.Breaker) {
	b.Helper()
	fail := func() error { return errDown }
	deadline := time.Now().Add(5 * time.Second)
	for i := 0; br.State() != peers.Open; i++ {
		if time.Now().After(deadline) {
			b.Fatalf("breaker did not open after %d failures (state %v)", i, br.State())
		}
		_ = br.Call(fail)
		if i >= 100 {
			time.Sleep(time.Millisecond)
		}
	}
}

var scenarios = []scenario{
	{
		name: peers.ClosedSuccess, open: longOpen,
		op: func(w *worker) { w.call(w.ok) },
		check: func(b *testing.B, br peers.Breaker, t totals, _ time.Duration) {
			closedAllRan(b, br, t, 0)
		},
	},
	{
		name: peers.ClosedFail5, open: longOpen,
		op: func(w *worker) { w.call(w.flip) },
		check: func(b *testing.B, br peers.Breaker, t totals, _ time.Duration) {
			closedAllRan(b, br, t, t.fail)
		},
	},
	{
		name: peers.OpenReject, open: longOpen, prepare: trip,
		op: func(w *worker) { w.call(w.ok) },
		check: func(b *testing.B, br peers.Breaker, t totals, _ time.Duration) {
			wantState(b, br, peers.Open)
			if t.ran != 0 || t.errs != t.ops {
				b.Fatalf("open breaker: %d calls, %d ran, %d errors", t.ops, t.ran, t.errs)
			}
		},
	},
	{
		// The dependency stays down: the breaker cycles open -> half-open ->
		// a probe fails -> open, every shortOpen.
		name: peers.HalfOpenProbe, open: shortOpen, prepare: trip,
		op: func(w *worker) { w.call(w.down) },
		check: func(b *testing.B, br peers.Breaker, t totals, elapsed time.Duration) {
			if br.State() == peers.Closed {
				b.Fatalf("breaker closed although every probe failed")
			}
			if t.errs != t.ops {
				b.Fatalf("%d calls, %d errors: every call must fail", t.ops, t.errs)
			}
			if elapsed > 50*shortOpen && t.ran == 0 {
				b.Fatalf("no probe in %v with a %v open period", elapsed, shortOpen)
			}
			b.ReportMetric(float64(t.ran)/elapsed.Seconds(), "probes/s")
		},
	},
	{
		name: peers.TwoStepCall, open: longOpen, twoStep: true,
		op: func(w *worker) {
			w.ops++
			if err := w.ts.AllowDone(w.ok); err != nil {
				w.errs++
				w.last = err
			}
		},
		check: func(b *testing.B, br peers.Breaker, t totals, _ time.Duration) {
			closedAllRan(b, br, t, 0)
		},
	},
	{
		// Every readEvery-th operation reads the state and counts; the others
		// call. In parallel, the reads race with the other goroutines' calls.
		name: peers.ReadWhileCall, open: longOpen,
		op: func(w *worker) {
			if w.ops%readEvery == readEvery-1 {
				w.ops++
				w.read++
				if w.br.Read() != peers.Closed {
					w.bad++
				}
				return
			}
			w.call(w.ok)
		},
		check: func(b *testing.B, br peers.Breaker, t totals, _ time.Duration) {
			if t.bad != 0 {
				b.Fatalf("%d reads saw a state other than closed", t.bad)
			}
			closedAllRan(b, br, t, 0)
		},
	},

	// The Rate family: the breakers trip on a failure rate of 50% over a
	// time or a count window once it holds 20 calls (see peers.Rate). At
	// 0% or 10% failures none may trip: every call must run.
	{
		name: peers.RateTimeSuccess, family: peers.Rate, window: peers.TimeWindow, open: longOpen,
		op: func(w *worker) { w.call(w.ok) },
		check: func(b *testing.B, br peers.Breaker, t totals, _ time.Duration) {
			closedAllRan(b, br, t, 0)
		},
	},
	{
		name: peers.RateTimeFail10, family: peers.Rate, window: peers.TimeWindow, open: longOpen,
		op: func(w *worker) { w.call(w.tick) },
		check: func(b *testing.B, br peers.Breaker, t totals, _ time.Duration) {
			closedAllRan(b, br, t, t.fail)
		},
	},
	{
		name: peers.RateCountSuccess, family: peers.Rate, window: peers.CountWindow, open: longOpen,
		op: func(w *worker) { w.call(w.ok) },
		check: func(b *testing.B, br peers.Breaker, t totals, _ time.Duration) {
			closedAllRan(b, br, t, 0)
		},
	},
	{
		name: peers.RateCountFail10, family: peers.Rate, window: peers.CountWindow, open: longOpen,
		op: func(w *worker) { w.call(w.tick) },
		check: func(b *testing.B, br peers.Breaker, t totals, _ time.Duration) {
			closedAllRan(b, br, t, t.fail)
		},
	},
}

func BenchmarkClosedSuccess(b *testing.B) { runScenario(b, peers.ClosedSuccess) }
func BenchmarkClosedFail5(b *testing.B)   { runScenario(b, peers.ClosedFail5) }
func BenchmarkOpenReject(b *testing.B)    { runScenario(b, peers.OpenReject) }
func BenchmarkHalfOpenProbe(b *testing.B) { runScenario(b, peers.HalfOpenProbe) }
func BenchmarkTwoStep(b *testing.B)       { runScenario(b, peers.TwoStepCall) }
func BenchmarkReadWhileCalling(b *testing.B) {
	runScenario(b, peers.ReadWhileCall)
}

// The Rate family; -bench Rate selects these four.

// BenchmarkRateTimeSuccess: time window, every call succeeds.
func BenchmarkRateTimeSuccess(b *testing.B) { runScenario(b, peers.RateTimeSuccess) }

// BenchmarkRateTimeFail10: time window, every 10th call fails.
func BenchmarkRateTimeFail10(b *testing.B) { runScenario(b, peers.RateTimeFail10) }

// BenchmarkRateCountSuccess: count window, every call succeeds.
func BenchmarkRateCountSuccess(b *testing.B) { runScenario(b, peers.RateCountSuccess) }

// BenchmarkRateCountFail10: count window, every 10th call fails.
func BenchmarkRateCountFail10(b *testing.B) { runScenario(b, peers.RateCountFail10) }

func runScenario(b *testing.B, name peers.Scenario) {
	var sc scenario
	for _, s := range scenarios {
		if s.name == name {
			sc = s
		}
	}
	if sc.name == "" {
		b.Fatalf("no scenario %s", name)
	}
	for _, mode := range []string{"serial", "parallel"} {
		for _, impl := range peers.All(sc.family) {
			b.Run(mode+"/impl="+impl.Name, func(b *testing.B) {
				if why, no := impl.Unsupported[name]; no {
					b.Skipf("%s cannot express %s: %s", impl.Name, name, why)
				}
				br := impl.New(peers.Config{Name: peers.UniqueName(impl.Name), OpenTimeout: sc.open, TwoStep: sc.twoStep,
					Window: sc.window})
				if _, ok := br.(peers.TwoStep); sc.twoStep && !ok {
					b.Fatalf("%s has no two-step API and does not say so in Unsupported", impl.Name)
				}
				if sc.prepare != nil {
					sc.prepare(b, br)
				}
				var t totals
				b.ReportAllocs()
				b.ResetTimer()
				start := time.Now()
				if mode == "serial" {
					w := newWorker(br)
					for b.Loop() {
						sc.op(w)
					}
					t.add(w)
				} else {
					var mu sync.Mutex
					b.RunParallel(func(pb *testing.PB) {
						w := newWorker(br)
						for pb.Next() {
							sc.op(w)
						}
						mu.Lock()
						t.add(w)
						mu.Unlock()
					})
				}
				elapsed := time.Since(start)
				b.StopTimer()
				if t.ops != b.N {
					b.Fatalf("%d operations, b.N = %d", t.ops, b.N)
				}
				sc.check(b, br, t, elapsed)
			})
		}
	}
}
