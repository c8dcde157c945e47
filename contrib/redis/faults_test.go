package breakerredis_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fusebox-go/fusebox/breaker"
	breakerredis "github.com/fusebox-go/fusebox/contrib/redis"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeClock is a breaker.Clock that moves only when advanced.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// twins drives an attached breaker and a local twin with the same Config,
// clock and outcomes, and counts every call whose result differs.
//
// The twins must see the same transitions at the same steps for their
// outcomes to be comparable, but the Fleet's goroutine reads Counts, which
// ends an open period that is due at a moment of its own choosing. So the
// open period never ends by time (Timeout 1h); the driver resets both twins
// every 60 steps instead.
type twins struct {
	attached, local *breaker.Breaker
	steps           atomic.Int64
	mismatches      atomic.Int64
	maxCall         atomic.Int64 // ns
	stop            chan struct{}
	done            chan struct{}
	first           atomic.Value // string: the first mismatch
}

func newTwins() *twins {
	clk := newFakeClock()
	cfg := breaker.Config{Name: "x", FailureThreshold: 3, Timeout: time.Hour, Clock: clk}
	tw := &twins{attached: breaker.MustNew(cfg), local: breaker.MustNew(cfg), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(tw.done)
		for i := 0; ; i++ {
			select {
			case <-tw.stop:
				return
			default:
			}
			fail := i%40 < 12 || i%7 == 0 // failing spells and scattered failures
			fn := func() error {
				if fail {
					return errDep
				}
				return nil
			}
			start := time.Now()
			ea := tw.attached.Call(fn)
			if d := time.Since(start); int64(d) > tw.maxCall.Load() {
				tw.maxCall.Store(int64(d))
			}
			el := tw.local.Call(fn)
			if kind(ea) != kind(el) || tw.attached.State() != tw.local.State() {
				if tw.mismatches.Add(1) == 1 {
					tw.first.Store(fmt.Sprintf("step %d: attached %v %v, local %v %v", i, ea, tw.attached.State(), el, tw.local.State()))
				}
			}
			tw.steps.Add(1)
			if i%60 == 59 {
				tw.attached.Reset()
				tw.local.Reset()
			}
			clk.Advance(5 * time.Millisecond)
			time.Sleep(time.Millisecond) // pacing only
		}
	}()
	return tw
}

func (tw *twins) halt() { close(tw.stop); <-tw.done }

func kind(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, breaker.ErrOpen):
		return "open"
	case errors.Is(err, breaker.ErrTooManyRequests):
		return "busy"
	case errors.Is(err, errDep):
		return "failed"
	}
	return "other: " + err.Error()
}

// Redis killed and restarted empty, paused, delayed, black-holed and filled
// with garbage: every call of an attached breaker gives what its local twin
// gives, no call waits, and sharing resumes after each fault.
func TestFaultsLeaveBreakersLocal(t *testing.T) {
	r := startRedis(t, true)
	px := startProxy(t, r.tcpAddr())
	opts := func(inst string) breakerredis.Options {
		return breakerredis.Options{Namespace: "faults", Instance: inst, Interval: 50 * time.Millisecond, Timeout: 100 * time.Millisecond}
	}
	fa, err := breakerredis.NewFleet(newClient(t, "tcp", px.addr(), "", ""), opts("a")) // through the proxy
	require.NoError(t, err)
	defer fa.Close()
	fb, err := breakerredis.NewFleet(newClient(t, "tcp", r.tcpAddr(), "", ""), opts("b"))
	require.NoError(t, err)
	defer fb.Close()

	tw := newTwins()
	defer func() {
		if tw != nil {
			tw.halt()
		}
	}()
	// the fleet must never act on x: its rule cannot be met
	require.NoError(t, fa.Attach(tw.attached, breakerredis.WithRule(breakerredis.Rule{MinInstances: 1000})))

	failed := func() uint64 { return fa.Status().FailedExchanges }
	waitFailures := func(what string) {
		n := failed()
		eventually(t, 10*time.Second, func() bool { return failed() >= n+3 }, "exchanges kept succeeding with Redis %s", what)
	}
	round := 0
	resumed := func(after string) {
		t.Helper()
		n := fa.Status().Exchanges
		eventually(t, 10*time.Second, func() bool { s := fa.Status(); return s.Connected && s.Exchanges >= n+2 }, "no exchange after %s", after)
		round++
		name := fmt.Sprintf("y%d", round)
		// b trips the fleet by the rule from its own goroutine; the test's
		// goroutine causes no transition (see the report on the core's
		// notifier race)
		ya := breaker.MustNew(breaker.Config{Name: name})
		yb := breaker.MustNew(breaker.Config{Name: name, FailureThreshold: 100})
		rule := breakerredis.WithRule(breakerredis.Rule{MinimumCalls: 3, MinInstances: 1})
		require.NoError(t, fa.Attach(ya, rule))
		require.NoError(t, fb.Attach(yb, rule))
		for range 3 {
			yb.RecordFailure()
		}
		eventually(t, 10*time.Second, func() bool { return ya.State() == breaker.StateOpen }, "a fleet trip did not reach a after %s", after)
		eventually(t, 10*time.Second, func() bool { return yb.State() == breaker.StateOpen }, "b did not apply its own fleet trip after %s", after)
	}

	resumed("start")

	r.kill()
	waitFailures("killed")
	r.start() // empty: every key and the script cache are gone
	resumed("a restart")

	r.signal(syscall.SIGSTOP)
	waitFailures("paused")
	r.signal(syscall.SIGCONT)
	resumed("SIGSTOP/SIGCONT")

	px.delay.Store(int64(300 * time.Millisecond))
	waitFailures("slow")
	px.delay.Store(0)
	resumed("a slow Redis")

	px.hole.Store(true)
	waitFailures("black-holed")
	px.hole.Store(false)
	px.reset()
	resumed("a black hole")

	// garbage in x's keys and on the event channel
	raw := newClient(t, "tcp", r.tcpAddr(), "", "")
	ctx := context.Background()
	key := func(s string) string { return "fusebox:v1:faults:{x}:" + s }
	invalid := fa.Status().InvalidValues
	waitExchange := func() {
		n := fa.Status().Exchanges
		eventually(t, 10*time.Second, func() bool { return fa.Status().Exchanges >= n+2 }, "no exchange")
	}
	require.NoError(t, raw.Set(ctx, key("st"), "garbage", 0).Err())
	require.NoError(t, raw.Set(ctx, key("w"), "garbage", 0).Err())
	waitExchange()
	require.NoError(t, raw.HSet(ctx, key("st"), "inc", "1.2", "epoch", "abc", "phase", "7", "until", "99999999999999999").Err())
	require.NoError(t, raw.HSet(ctx, key("w"), "zz", "1", "1:c", "-5", "99999999999999:c", "1e99").Err())
	require.NoError(t, raw.Set(ctx, key("probe"), "x", 0).Err())
	waitExchange()
	for _, p := range []string{"junk", "v1|x|1.2|abc|o|100", "v1|x|1.2|3|o|99999999999", "v1|x|nope|3|o|100", "v2|x|1.2|3|o|100",
		"v1|x|1.2|0|o|100", "v1|x|1.2|3|c|5", string(make([]byte, 300))} {
		require.NoError(t, raw.Publish(ctx, "fusebox:v1:faults:events", p).Err())
	}
	eventually(t, 10*time.Second, func() bool { return fa.Status().InvalidValues >= invalid+10 },
		"invalid values not counted: %d then %d", invalid, fa.Status().InvalidValues)
	resumed("garbage")

	tw.halt()
	steps, mism, maxCall := tw.steps.Load(), tw.mismatches.Load(), time.Duration(tw.maxCall.Load())
	first, _ := tw.first.Load().(string)
	tw = nil
	assert.Zero(t, mism, "calls whose result differed from the local twin (first: %s)", first)
	assert.Greater(t, steps, int64(500), "too few calls were made to show anything")
	assert.Less(t, maxCall, 50*time.Millisecond, "a call waited (the fleet must never block one)")
	st := fa.Status()
	assert.Positive(t, st.Dropped, "failed exchanges drop their figures")
	t.Logf("calls %d, status %+v", steps, st)
}
