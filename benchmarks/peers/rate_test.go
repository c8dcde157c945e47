package peers

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// windowScenarios are the Rate-family scenarios of each window.
var windowScenarios = map[Window][]Scenario{
	TimeWindow:  {RateTimeSuccess, RateTimeFail10},
	CountWindow: {RateCountSuccess, RateCountFail10},
}

// rateCase is one Rate-family implementation and the windows it can keep.
type rateCase struct {
	impl    Impl
	windows []Window
}

// rateCases returns the Rate-family implementations in report order with
// the windows each can keep, and fails the test if an implementation's
// Unsupported entries do not agree for the two scenarios of one window.
func rateCases(t *testing.T) []rateCase {
	t.Helper()
	var out []rateCase
	for _, impl := range All(Rate) {
		c := rateCase{impl: impl}
		for _, w := range []Window{TimeWindow, CountWindow} {
			scs := windowScenarios[w]
			_, no0 := impl.Unsupported[scs[0]]
			_, no1 := impl.Unsupported[scs[1]]
			if no0 != no1 {
				t.Fatalf("%s: Unsupported names one %v scenario but not the other", impl.Name, w)
			}
			if !no0 {
				c.windows = append(c.windows, w)
			}
		}
		out = append(out, c)
	}
	return out
}

// tripsLate lists the adapters that do not trip on the very call at which
// the window first holds RateMinCalls calls of which half failed, with the
// call at which they do (0: some time later), and why.
var tripsLate = map[string]struct {
	at  int
	why string
}{
	"failsafe/count window":       {100, "a count window has no minimum-calls setting: WithFailureThresholdRatio(50, 100) trips at the 50th failure of the last 100"},
	"failsafePermit/count window": {100, "as failsafe"},
	"hystrix/time window":         {0, "it applies results on a goroutine, so it sees the 20th call a little later"},
}

// pattern runs calls 1..n through br, failing call i when fails(i), and
// fails the test if a call did not run or did not return its own error.
func pattern(t *testing.T, br Breaker, from, to int, fails func(i int) bool) {
	t.Helper()
	down := errors.New("down")
	for i := from; i <= to; i++ {
		ran := false
		fail := fails(i)
		err := br.Call(func() error {
			ran = true
			if fail {
				return down
			}
			return nil
		})
		if !ran || (fail && err != down) || (!fail && err != nil) {
			t.Fatalf("call %d (failing: %v): ran %v, err %v: the breaker rejected it", i, fail, ran, err)
		}
	}
}

// TestRateDoesNotTrip checks that a failure rate of 10%, and of 40% spread
// evenly, keeps every Rate-family breaker closed and every call running.
func TestRateDoesNotTrip(t *testing.T) {
	for _, c := range rateCases(t) {
		impl, name := c.impl, c.impl.Name
		for _, w := range c.windows {
			for _, tc := range []struct {
				rate  string
				fails func(int) bool
			}{
				{"10%", func(i int) bool { return i%10 == 0 }},
				{"40%", func(i int) bool { return i%5 == 2 || i%5 == 4 }}, // at most 44% of any prefix of 20 or more
			} {
				t.Run(fmt.Sprintf("%s/%v/%s", name, w, tc.rate), func(t *testing.T) {
					br := impl.New(Config{Name: UniqueName("rate-" + name), OpenTimeout: time.Hour, Window: w})
					pattern(t, br, 1, 5*RateWindowSize, tc.fails)
					if s := br.State(); s != Closed {
						t.Fatalf("%v after %d calls at %s failures, want closed", s, 5*RateWindowSize, tc.rate)
					}
				})
			}
		}
	}
}

// TestRateTripsAtHalf checks that every Rate-family breaker trips on a 50%
// failure rate once its window holds RateMinCalls calls, not before, and then
// rejects calls without running them.
func TestRateTripsAtHalf(t *testing.T) {
	every2nd := func(i int) bool { return i%2 == 0 } // 50% after every even call
	for _, c := range rateCases(t) {
		impl, name := c.impl, c.impl.Name
		for _, w := range c.windows {
			t.Run(fmt.Sprintf("%s/%v", name, w), func(t *testing.T) {
				at := RateMinCalls
				late, isLate := tripsLate[fmt.Sprintf("%s/%v", name, w)]
				if isLate && late.at != 0 {
					at = late.at
				}
				br := impl.New(Config{Name: UniqueName("rate-" + name), OpenTimeout: time.Hour, Window: w})
				for i := 1; i < at; i++ {
					pattern(t, br, i, i, every2nd)
					if s := br.State(); s != Closed {
						t.Fatalf("%v after %d calls, half of them failed; want it closed until call %d", s, i, at)
					}
				}
				pattern(t, br, at, at, every2nd)
				if isLate && late.at == 0 {
					deadline := time.Now().Add(5 * time.Second)
					for i := at + 1; br.State() != Open; i++ {
						if time.Now().After(deadline) {
							t.Fatalf("not open %d calls after call %d, half of them failed", i-at, at)
						}
						_ = br.Call(func() error { return errors.New("down") })
						time.Sleep(time.Millisecond)
					}
				}
				if s := br.State(); s != Open {
					t.Fatalf("%v after %d calls, half of them failed; want open", s, at)
				}
				ran := false
				if err := br.Call(func() error { ran = true; return nil }); err == nil || ran {
					t.Fatalf("open call: err %v, ran %v", err, ran)
				}
			})
		}
	}
}

// TestRateFamilyComplete checks that the Rate family has the implementations
// the report compares, and that an unsupported window is refused loudly.
func TestRateFamilyComplete(t *testing.T) {
	cases := map[string][]Window{}
	for _, c := range rateCases(t) {
		cases[c.impl.Name] = c.windows
	}
	for _, name := range []string{"fusebox", "gobreaker", "failsafe", "failsafePermit", "cep21", "hystrix", "rubyist", "mutexRef", "rwmutexRef"} {
		if len(cases[name]) == 0 {
			t.Errorf("%s: not registered in the Rate family, or it supports no window", name)
		}
	}
	for _, name := range []string{"fusebox", "failsafe", "failsafePermit", "mutexRef", "rwmutexRef"} {
		if len(cases[name]) != 2 {
			t.Errorf("%s: windows %v, want both", name, cases[name])
		}
	}
	for _, impl := range All(Rate) {
		if _, no := impl.Unsupported[RateCountSuccess]; !no {
			continue
		}
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: New with a count window, which it says it cannot keep, did not panic", impl.Name)
				}
			}()
			impl.New(Config{Name: UniqueName("rate-" + impl.Name), OpenTimeout: time.Hour, Window: CountWindow})
		}()
	}
}

// TestTimeRing checks the reference time window: buckets fill by time,
// stale buckets leave the totals, a gap longer than the window empties it,
// and a late clock reading counts in the newest bucket.
func TestTimeRing(t *testing.T) {
	var w timeRing
	at := func(sec float64) time.Duration { return time.Duration(sec * float64(time.Second)) }
	want := func(calls, failures int) {
		t.Helper()
		if c, f := w.totals(); c != calls || f != failures {
			t.Fatalf("totals %d calls, %d failures; want %d, %d", c, f, calls, failures)
		}
	}
	w.add(at(0), true)
	w.add(at(0.5), false)
	w.add(at(9.9), false) // bucket 9: the window is 0..10s
	want(3, 1)
	w.add(at(10.2), false) // bucket 10 replaces bucket 0 (2 calls, 1 failure)
	want(2, 0)
	w.add(at(10.1), true) // read the clock before the previous call: newest bucket
	want(3, 1)
	w.add(at(19.95), false) // bucket 19 replaces bucket 9 (1 call); bucket 10 stays
	want(3, 1)
	w.add(at(20.0), false) // bucket 20 replaces 10
	want(2, 0)
	w.add(at(100), true) // a gap longer than the window
	want(1, 1)
	w.clear()
	want(0, 0)
}

// TestCountRing checks the reference count window: it fills up to
// RateWindowSize outcomes, then each new one replaces the oldest.
func TestCountRing(t *testing.T) {
	var w countRing
	for i := range RateWindowSize {
		w.add(0, i < 10) // the first 10 fail
	}
	if c, f := w.totals(); c != RateWindowSize || f != 10 {
		t.Fatalf("full: %d calls, %d failures", c, f)
	}
	for range 5 {
		w.add(0, false) // replaces 5 of the failures
	}
	if c, f := w.totals(); c != RateWindowSize || f != 5 {
		t.Fatalf("after 5 successes: %d calls, %d failures", c, f)
	}
	w.add(0, true) // replaces the 6th failure with a failure
	if c, f := w.totals(); c != RateWindowSize || f != 5 {
		t.Fatalf("after a failure: %d calls, %d failures", c, f)
	}
	w.clear()
	if c, f := w.totals(); c != 0 || f != 0 {
		t.Fatalf("cleared: %d calls, %d failures", c, f)
	}
}
