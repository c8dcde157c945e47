package breaker

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// With a count window a closed success is counted by its cell alone: every
// way a success can arrive is counted exactly once in SuccessCalls, and
// only the successes of the current period are in its window.
func TestCountWindowSuccessCountedOnce(t *testing.T) {
	cfg := Config{FailureRateThreshold: 0.5, MinimumCalls: 50, WindowType: CountWindow, WindowSize: 100}
	e := newEnv(t, cfg)
	want := uint64(0)
	check := func(what string, calls uint64) {
		t.Helper()
		c := e.counts()
		require.Equal(t, want, c.SuccessCalls, what)
		require.Equal(t, calls, c.Window.Calls, what)
	}
	e.oks(7) // the one-CAS path, base cell
	want += 7
	check("closed successes", 7)
	e.b.RecordSuccess()
	e.b.RecordSuccess()
	want += 2
	check("RecordSuccess", 9)
	tk := e.admit()
	tk.DoneOutcome(Success) // through finish
	want++
	check("DoneOutcome", 10)
	e.b.cwin.Spread()
	e.oks(5) // a cell per core slot
	want += 5
	check("contended", 15)
	require.Error(t, e.fail())
	check("a failure claims, nothing is counted twice", 16)

	// A success admitted before a Reset and reported after it is counted,
	// once, and the new period's window does not see it.
	stale := e.admit()
	e.b.Reset()
	stale.Done(nil)
	want++
	check("a stale success", 0)

	// Disabled: successes still fill the window, counted once.
	e.b.Disable()
	e.oks(3)
	want += 3
	check("disabled", 3)
	e.b.Release()

	// Half-open probe successes are counted in the totals.
	e.b.Reset()
	e.fails(50)
	e.state(StateOpen)
	e.adv(time.Duration(e.b.s.timeout))
	e.state(StateHalfOpen)
	require.NoError(t, e.ok())
	want++
	e.state(StateClosed)
	require.Equal(t, want, e.counts().SuccessCalls)
}

// A success whose cell finds 2^31 successes waiting outside the head goes
// to the head with them; it is still counted once, by its cell.
func TestCountWindowManyWaitingSuccessesGoToTheHead(t *testing.T) {
	e := newEnv(t, Config{FailureRateThreshold: 0.5, MinimumCalls: 50, WindowType: CountWindow, WindowSize: 100})
	e.oks(1)
	before := e.counts()
	w := e.b.word.Load()
	r := e.b.cwin.Cell()
	// The cell's count reaches 2^31 - 1: the next success brings it to a
	// multiple of the check interval with 2^31 waiting.
	e.b.cwin.Preload(r, genOf(w), 1<<31-2)
	base := before.SuccessCalls + (1<<31 - 2)
	require.Equal(t, base, e.counts().SuccessCalls)
	head := e.b.cwin.Head()
	e.oks(1)
	c := e.counts()
	require.Equal(t, base+1, c.SuccessCalls, "the success that went to the head")
	require.Equal(t, uint64(100), c.Window.Calls)
	require.NotEqual(t, head, e.b.cwin.Head(), "the head took the waiting successes in")
	// A success after it stays in its cell.
	head = e.b.cwin.Head()
	e.oks(1)
	require.Equal(t, head, e.b.cwin.Head())
	require.Equal(t, base+2, e.counts().SuccessCalls)
}

// RecordSuccess that a cell of the ending period's window counted, and then
// found the period over, is not applied again to the next period: it is
// counted once, and the next period's window does not hold it.
func TestRecordSuccessCountedByTheEndingPeriod(t *testing.T) {
	e := newEnv(t, Config{FailureRateThreshold: 0.5, MinimumCalls: 50, WindowType: CountWindow, WindowSize: 100})
	e.oks(2)
	var once sync.Once
	testHookAfterCountAdd = func() { once.Do(e.b.Reset) }
	t.Cleanup(func() { testHookAfterCountAdd = nil })
	e.b.RecordSuccess()
	c := e.counts()
	require.Equal(t, uint64(3), c.SuccessCalls)
	require.Zero(t, c.Window.Calls, "the next period's window holds the success")
	// A failure recorded the same way goes on to the next period.
	testHookAfterCountAdd = func() { once.Do(func() {}) }
	e.b.RecordFailure()
	c = e.counts()
	require.Equal(t, uint64(1), c.FailureCalls)
	require.Equal(t, uint64(1), c.Window.Failures)
}

// Concurrent successes with Resets between them: SuccessCalls never goes
// back and ends at the number of successes made.
func TestCountWindowSuccessTotalsMonotonic(t *testing.T) {
	b := MustNew(Config{FailureRateThreshold: 0.5, MinimumCalls: 50, WindowType: CountWindow, WindowSize: 100})
	const workers, per = 4, 3000
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var readerErr error
	var rwg sync.WaitGroup
	rwg.Add(1)
	go func() {
		defer rwg.Done()
		var last uint64
		for {
			select {
			case <-stop:
				return
			default:
			}
			if i := b.Counts().SuccessCalls; i < last {
				readerErr = errors.New("SuccessCalls went back")
				return
			} else {
				last = i
			}
			b.Reset()
		}
	}()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range per {
				_ = b.Call(func() error { return nil })
			}
		}()
	}
	wg.Wait()
	close(stop)
	rwg.Wait()
	require.NoError(t, readerErr)
	require.Equal(t, uint64(workers*per), b.Counts().SuccessCalls)
}

// A trip shows the figures of both windows at the outcome that caused it,
// whether or not the outcome is marked in each window and whether or not
// the windows are contended: a failure that is not slow takes its place in
// the slow-call window's head too, and decides that window's rule there.
func TestCountTripFiguresOfBothWindows(t *testing.T) {
	for _, contended := range []bool{false, true} {
		rec := &recorder{}
		e := newEnv(t, Config{FailureRateThreshold: 0.4, SlowCallRateThreshold: 0.4, SlowCallDuration: time.Second,
			MinimumCalls: 3, WindowType: CountWindow, WindowSize: 10, OnStateChange: rec.on})
		if contended {
			e.b.cwin.Spread()
			e.b.cslow.Spread()
		}
		require.NoError(t, e.slowCall(time.Second, nil))
		require.NoError(t, e.slowCall(time.Second, nil))
		require.NoError(t, e.ok())
		e.state(StateClosed)       // no decision after a fast success
		require.Error(t, e.fail()) // 1 failure in 4; 2 slow in 4
		e.state(StateOpen)
		ts := rec.all()
		require.Len(t, ts, 1)
		require.Equal(t, ReasonSlowCallRate, ts[0].Reason)
		require.Equal(t, WindowCounts{Calls: 4, Failures: 1, Slow: 2, FailureRate: 0.25, SlowRate: 0.5}, ts[0].Window,
			"contended %v", contended)
	}
}

// A slow success decides the slow-call rule and reports the failure
// window's figures too.
func TestCountSlowTripShowsFailures(t *testing.T) {
	for _, contended := range []bool{false, true} {
		rec := &recorder{}
		e := newEnv(t, Config{SlowCallRateThreshold: 0.5, SlowCallDuration: time.Second,
			MinimumCalls: 3, WindowType: CountWindow, WindowSize: 10, OnStateChange: rec.on})
		if contended {
			e.b.cwin.Spread()
			e.b.cslow.Spread()
		}
		require.Error(t, e.fail())
		require.NoError(t, e.slowCall(time.Second, nil))
		e.state(StateClosed)
		require.NoError(t, e.slowCall(time.Second, nil)) // 2 slow in 3
		e.state(StateOpen)
		ts := rec.all()
		require.Len(t, ts, 1)
		require.Equal(t, ReasonSlowCallRate, ts[0].Reason)
		require.Equal(t, WindowCounts{Calls: 3, Failures: 1, Slow: 2, FailureRate: 1.0 / 3, SlowRate: 2.0 / 3}, ts[0].Window,
			"contended %v", contended)
	}
}
