package breaker

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fusebox-go/fusebox/internal/clock"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv("FUSEBOX_MUTATE") != "" {
		// Under mutation testing a mutant that makes code spin must fail
		// fast (killed), not run into the tool's timeout (not counted).
		time.AfterFunc(15*time.Second, func() {
			fmt.Fprintln(os.Stderr, "breaker: suite still running after 15s: a loop that no longer ends")
			os.Exit(1)
		})
	}
	goleak.VerifyTestMain(m)
}

var (
	t0      = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	errBoom = errors.New("boom")
)

// nowOnly hides the timers of a fake clock: a breaker using it must read the
// clock on every decision, the path every user-supplied Clock takes.
type nowOnly struct{ f *clock.Fake }

func (c nowOnly) Now() time.Time { return c.f.Now() }

// clockKinds are the two ways a breaker learns an open period is over: the
// timer path (the fake clock offers timers) and the clock-read path.
var clockKinds = []struct {
	name string
	wrap func(*clock.Fake) Clock
}{
	{"timer", func(f *clock.Fake) Clock { return f }},
	{"now-only", func(f *clock.Fake) Clock { return nowOnly{f} }},
}

// env is a breaker on a fake clock.
type env struct {
	t  *testing.T
	fc *clock.Fake
	b  *Breaker
}

// eachClock runs body once per clock kind with a fresh fake clock set into
// cfg.Clock.
func eachClock(t *testing.T, cfg Config, body func(e *env)) {
	t.Helper()
	for _, k := range clockKinds {
		t.Run(k.name, func(t *testing.T) {
			fc := clock.NewFake(t0)
			cfg := cfg
			cfg.Clock = k.wrap(fc)
			body(&env{t: t, fc: fc, b: mustNew(t, cfg)})
		})
	}
}

func newEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	fc := clock.NewFake(t0)
	cfg.Clock = fc
	return &env{t: t, fc: fc, b: mustNew(t, cfg)}
}

func mustNew(t *testing.T, cfg Config) *Breaker {
	t.Helper()
	b, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return b
}

func (e *env) adv(d time.Duration) { e.fc.Advance(d) }

// now is the fake clock's reading.
func (e *env) now() time.Time { return e.fc.Now() }

func (e *env) ok() error   { return e.b.Call(func() error { return nil }) }
func (e *env) fail() error { return e.b.Call(func() error { return errBoom }) }

// fails records n failures through Call, each of which must be admitted.
func (e *env) fails(n int) {
	e.t.Helper()
	for i := range n {
		if err := e.fail(); err != errBoom {
			e.t.Fatalf("failure %d: Call returned %v, want it admitted", i+1, err)
		}
	}
}

func (e *env) oks(n int) {
	e.t.Helper()
	for i := range n {
		if err := e.ok(); err != nil {
			e.t.Fatalf("success %d: Call returned %v, want it admitted", i+1, err)
		}
	}
}

func (e *env) state(want State) {
	e.t.Helper()
	if got := e.b.State(); got != want {
		e.t.Fatalf("State() = %v, want %v", got, want)
	}
}

// rejected asserts that Allow refuses with target (ErrOpen or
// ErrTooManyRequests) and returns the *OpenError.
func (e *env) rejected(target error) *OpenError {
	e.t.Helper()
	tk, err := e.b.Allow()
	if err == nil {
		tk.Done(nil)
		e.t.Fatalf("Allow admitted a call (state %v), want %v", e.b.State(), target)
	}
	if !errors.Is(err, target) {
		e.t.Fatalf("Allow error %v does not match %v", err, target)
	}
	var oe *OpenError
	if !errors.As(err, &oe) {
		e.t.Fatalf("Allow error %T is not an *OpenError", err)
	}
	return oe
}

// admit asserts that Allow admits a call and returns its ticket.
func (e *env) admit() Ticket {
	e.t.Helper()
	tk, err := e.b.Allow()
	if err != nil {
		e.t.Fatalf("Allow: %v (state %v)", err, e.b.State())
	}
	return tk
}

func (e *env) counts() Counts { return e.b.Counts() }

// eq fails the test when got != want.
func eq[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
}

// recorder collects transitions delivered to OnStateChange. It appends
// copy-on-write with a CAS (no lock: this package's tests take none either).
type recorder struct {
	ts atomic.Pointer[[]Transition]
}

func (r *recorder) on(tr Transition) {
	for {
		old := r.ts.Load()
		var next []Transition
		if old != nil {
			next = append(next, *old...)
		}
		next = append(next, tr)
		if r.ts.CompareAndSwap(old, &next) {
			return
		}
	}
}

func (r *recorder) all() []Transition {
	if p := r.ts.Load(); p != nil {
		return *p
	}
	return nil
}

// checkGenerations asserts Generation 1, 2, 3, ... with no gap.
func checkGenerations(t *testing.T, ts []Transition) {
	t.Helper()
	for i, tr := range ts {
		if tr.Generation != uint64(i+1) {
			t.Fatalf("transition %d has Generation %d, want %d (%+v)", i, tr.Generation, i+1, tr)
		}
	}
}

type hop struct {
	from, to State
	reason   Reason
}

// checkHops asserts the From/To/Reason sequence of ts.
func checkHops(t *testing.T, ts []Transition, want ...hop) {
	t.Helper()
	if len(ts) != len(want) {
		t.Fatalf("got %d transitions, want %d: %+v", len(ts), len(want), ts)
	}
	for i, w := range want {
		if got := (hop{ts[i].From, ts[i].To, ts[i].Reason}); got != w {
			t.Fatalf("transition %d = %v->%v (%v), want %v->%v (%v)", i, got.from, got.to, got.reason, w.from, w.to, w.reason)
		}
	}
	checkGenerations(t, ts)
}
