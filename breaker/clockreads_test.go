package breaker

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fusebox-go/fusebox/internal/clock"
)

// nowCounter counts the clock reads of a Now-only clock.
type nowCounter struct {
	fc    *clock.Fake
	reads atomic.Int64
}

func (c *nowCounter) Now() time.Time { c.reads.Add(1); return c.fc.Now() }

// timerCounter is a clock with timers that counts its reads.
type timerCounter struct {
	*clock.Fake
	reads atomic.Int64
}

func (c *timerCounter) Now() time.Time { c.reads.Add(1); return c.Fake.Now() }

// The hot paths promise not to read the clock: a closed success without a
// time window or slow-call rule, through every entry point, a call through a
// disabled breaker without a slow-call rule, and a rejection
// while open when the clock has timers (except one in rejectEvery).
func TestHotPathsReadNoClock(t *testing.T) {
	calls := map[string]func(b *Breaker) error{
		"Call": func(b *Breaker) error { return b.Call(func() error { return nil }) },
		"Do": func(b *Breaker) error {
			return b.Do(context.Background(), func(context.Context) error { return nil })
		},
		"Execute": func(b *Breaker) error {
			_, err := Execute(b, func() (int, error) { return 1, nil })
			return err
		},
		"Allow/Done": allowDone,
	}
	for name, call := range calls {
		t.Run("closed/"+name, func(t *testing.T) {
			for _, cfg := range []Config{{}, {FailureRateThreshold: 0.5}} { // consecutive mode, count window
				clk := &nowCounter{fc: clock.NewFake(t0)}
				cfg.Clock = clk
				b := mustNew(t, cfg)
				clk.reads.Store(0)
				for range 100 {
					if err := call(b); err != nil {
						t.Fatal(err)
					}
				}
				if n := clk.reads.Load(); n != 0 {
					t.Fatalf("%d clock reads for 100 closed successes (config %+v)", n, cfg)
				}
			}
		})
		t.Run("disabled/"+name, func(t *testing.T) {
			clk := &nowCounter{fc: clock.NewFake(t0)}
			b := mustNew(t, Config{Clock: clk})
			b.Disable()
			clk.reads.Store(0)
			for range 100 {
				if err := call(b); err != nil {
					t.Fatal(err)
				}
			}
			if n := clk.reads.Load(); n != 0 {
				t.Fatalf("%d clock reads for 100 calls through a disabled breaker", n)
			}
		})
		t.Run("open-with-timer/"+name, func(t *testing.T) {
			clk := &timerCounter{Fake: clock.NewFake(t0)}
			b := mustNew(t, Config{FailureThreshold: 1, Clock: clk})
			tripOnce(b)
			clk.reads.Store(0)
			for range rejectEvery - 1 {
				if err := call(b); !errors.Is(err, ErrOpen) {
					t.Fatalf("got %v, want a rejection", err)
				}
			}
			if n := clk.reads.Load(); n != 0 {
				t.Fatalf("%d clock reads for %d rejections", n, rejectEvery-1)
			}
		})
	}
}
