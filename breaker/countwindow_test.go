package breaker

import (
	"errors"
	"testing"
	"time"
)

// A contended count window keeps successes in per-core cells until the next
// failure claims them. A failure whose window would break the rate without
// the successes still waiting in cells must claim them and decide on the
// window the traffic produced: 1 failure in the last 10, not 6.
func TestCountWindowFailureClaimsWaitingSuccesses(t *testing.T) {
	b := MustNew(Config{FailureRateThreshold: 0.5, MinimumCalls: 10, WindowType: CountWindow, WindowSize: 10})
	down := errors.New("down")
	fail := func() { _ = b.Call(func() error { return down }) }
	ok := func() { _ = b.Call(func() error { return nil }) }
	for range 5 {
		fail()
	}
	for range 4 {
		ok()
	}
	b.cwin.Spread() // the shape the first pend that loses its CAS gives
	for range 6 {
		ok()
	}
	if w := b.Counts().Window; w.Calls != 10 || w.Failures != 0 {
		t.Fatalf("window with 6 successes in cells: %+v, want 10 calls, no failure", w)
	}
	fail()
	if b.State() != StateClosed {
		t.Fatal("tripped on a window without the successes that came before the failure")
	}
	if w := b.Counts().Window; w.Calls != 10 || w.Failures != 1 {
		t.Fatalf("window after the failure: %+v, want 10 calls, 1 failure", w)
	}
	for range 3 {
		fail()
	}
	if b.State() != StateClosed {
		t.Fatal("tripped at 4 failures in 10")
	}
	fail() // 5 of the last 10
	if c := b.Counts(); c.State != StateOpen {
		t.Fatalf("5 failures in the last 10 calls did not trip: %+v", c)
	}
}

// A failure that stops between its read of the cells and its head CAS
// while the window moves on (successes, another failure placing them) goes
// after everything placed meanwhile: it decides on the last 10 completions,
// 2 failures, and counts nothing twice.
func TestCountWindowFailureStoppedAfterItsCellRead(t *testing.T) {
	b := MustNew(Config{FailureRateThreshold: 0.5, MinimumCalls: 10, WindowType: CountWindow, WindowSize: 10})
	down := errors.New("down")
	fail := func() { _ = b.Call(func() error { return down }) }
	ok := func() { _ = b.Call(func() error { return nil }) }
	for range 4 {
		fail()
	}
	for range 5 {
		ok()
	}
	b.cwin.Spread()
	stopped := false
	testHookAfterPended = func() {
		if stopped {
			return
		}
		stopped = true // read 5 successes; meanwhile 6 more and a failure
		for range 6 {
			ok()
		}
		fail()
		if w := b.Counts().Window; w.Calls != 10 || w.Failures != 1 {
			t.Errorf("window while the first failure is stopped: %+v, want 10 calls, 1 failure", w)
		}
	}
	t.Cleanup(func() { testHookAfterPended = nil })
	fail()
	if !stopped {
		t.Fatal("the hook never ran")
	}
	if c := b.Counts(); c.State != StateClosed || c.Window.Calls != 10 || c.Window.Failures != 2 || c.FailureCalls != 6 || c.SuccessCalls != 11 {
		t.Fatalf("after the stopped failure: %+v, want closed, window 10 calls 2 failures, totals 6 and 11", c)
	}
}

// A failure admitted before a Reset that stops between its read of the
// cells and its head CAS never reaches the next period's window, wherever
// that window stands when it resumes.
func TestCountWindowStoppedFailureAcrossAReset(t *testing.T) {
	b := MustNew(Config{FailureRateThreshold: 0.5, MinimumCalls: 4, WindowType: CountWindow, WindowSize: 10})
	down := errors.New("down")
	fail := func() { _ = b.Call(func() error { return down }) }
	ok := func() { _ = b.Call(func() error { return nil }) }
	ok()
	stopped := false
	testHookAfterPended = func() {
		if stopped {
			return
		}
		stopped = true
		b.Reset()
		for range 3 {
			ok()
		}
		fail() // the new period's first failure places its 3 successes
	}
	t.Cleanup(func() { testHookAfterPended = nil })
	fail()
	if !stopped {
		t.Fatal("the hook never ran")
	}
	if c := b.Counts(); c.State != StateClosed || c.Window.Calls != 4 || c.Window.Failures != 1 {
		t.Fatalf("the new period's window: %+v, want 4 calls, 1 failure", c.Window)
	}
	fail() // 2 of 5: the stale failure would have made it 3 of 6
	if w := b.Counts().Window; w.Calls != 5 || w.Failures != 2 {
		t.Fatalf("window %+v, want 5 calls, 2 failures", w)
	}
}

// In rate-only count-window mode the run of failures is read from the
// window; a success waiting in a cell ends it.
func TestCountWindowRunOfFailures(t *testing.T) {
	b := MustNew(Config{FailureRateThreshold: 0.9, MinimumCalls: 10, WindowType: CountWindow, WindowSize: 10})
	down := errors.New("down")
	for range 3 {
		_ = b.Call(func() error { return down })
	}
	if c := b.Counts(); c.ConsecutiveFailures != 3 {
		t.Fatalf("run %d, want 3", c.ConsecutiveFailures)
	}
	b.cwin.Spread()
	_ = b.Call(func() error { return nil })
	if c := b.Counts(); c.ConsecutiveFailures != 0 {
		t.Fatalf("run %d after a success, want 0", c.ConsecutiveFailures)
	}
	_ = b.Call(func() error { return down })
	if c := b.Counts(); c.ConsecutiveFailures != 1 || c.Window.Calls != 5 || c.Window.Failures != 4 {
		t.Fatalf("after one more failure: run %d, window %+v", c.ConsecutiveFailures, c.Window)
	}
}

// Only a breaker that times slow calls keeps a slow-call window.
func TestCountWindowSlowWindowOnlyWhenTimed(t *testing.T) {
	b := MustNew(Config{FailureRateThreshold: 0.5, WindowType: CountWindow})
	if b.cwin == nil || b.cslow != nil {
		t.Fatalf("without SlowCallDuration: failure window %v, slow window %v", b.cwin != nil, b.cslow != nil)
	}
	b = MustNew(Config{FailureRateThreshold: 0.5, WindowType: CountWindow, SlowCallDuration: time.Second})
	if b.cslow == nil {
		t.Fatal("SlowCallDuration set, but no slow window")
	}
}

// With only a slow-call rate over a count window, failures trip nothing and
// their run can grow past the window: it is kept in the word, not read from
// the window (which holds at most R failures in a row).
func TestCountWindowRunWithoutFailureRule(t *testing.T) {
	b := MustNew(Config{SlowCallRateThreshold: 0.5, SlowCallDuration: time.Second, WindowType: CountWindow, WindowSize: 4})
	down := errors.New("down")
	for range 10 {
		_ = b.Call(func() error { return down })
	}
	if c := b.Counts(); c.State != StateClosed || c.ConsecutiveFailures != 10 {
		t.Fatalf("10 failures under a slow-call rule only: %v, run %d; want closed, 10", c.State, c.ConsecutiveFailures)
	}
}
