package breaker

import (
	"errors"
	"testing"
	"time"
)

// A runtime timer can fire late on a loaded machine. A breaker that relies on
// its timer must still notice the end of an open (or forced) period within
// rejectEvery rejections counted on one stripe, through every entry point.
func TestLateTimerNoticedByRejections(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start func(b *Breaker)
		call  func(b *Breaker) error
	}{
		{"open/Call", tripOnce, func(b *Breaker) error { return b.Call(func() error { return nil }) }},
		{"open/Allow", tripOnce, allowDone},
		{"forced/Allow", func(b *Breaker) { _ = b.ForceOpen(time.Second) }, allowDone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Config{FailureThreshold: 1, Timeout: time.Second})
			tc.start(e.b)
			e.b.timer.Load().t.Stop() // the timer will be "late": it never fires
			e.fc.Advance(time.Second)
			rejected := 0
			for range 2 * rejectEvery * e.b.totals.width() {
				err := tc.call(e.b)
				if err == nil {
					break
				}
				if !errors.Is(err, ErrOpen) {
					t.Fatalf("unexpected error %v", err)
				}
				rejected++
			}
			if rejected >= rejectEvery*e.b.totals.width() {
				t.Fatalf("still rejecting after %d calls past the deadline", rejected)
			}
			if got := e.b.Counts().Rejected; got != uint64(rejected)+1 && got != uint64(rejected) {
				t.Fatalf("Rejected = %d, want the %d real rejections (plus the one before the deadline, if any)", got, rejected)
			}
			if s := e.b.State(); s == StateOpen || s == StateForcedOpen {
				t.Fatalf("state %v after the period ended", s)
			}
		})
	}
}

func tripOnce(b *Breaker) { _ = b.Call(func() error { return errors.New("boom") }) }

func allowDone(b *Breaker) error {
	tk, err := b.Allow()
	if err == nil {
		tk.Done(nil)
	}
	return err
}
