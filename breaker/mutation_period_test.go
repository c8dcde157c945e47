package breaker

import (
	"errors"
	"testing"
	"time"

	"github.com/fusebox-go/fusebox/internal/clock"
)

// A trip whose goroutine is preempted between its CAS and the publication of
// its period's record does not replace the record of the period that began
// meanwhile: rejections then share that record's error and its RetryAt.
func TestHeldTripDoesNotHideNewerRecord(t *testing.T) {
	fc := clock.NewFake(t0)
	b := mustNew(t, Config{FailureThreshold: 1, Timeout: time.Second, Clock: nowOnly{fc}})
	reached, release := holdFirstCAS()
	defer func() { testHookAfterCAS = nil }()
	done := make(chan struct{})
	go func() { defer close(done); b.RecordFailure() }() // trips, then stops after its CAS
	<-reached
	if err := b.TripFor(time.Minute); err != nil { // a longer period, its record published
		t.Fatal(err)
	}
	close(release)
	<-done
	var first *OpenError
	for i := range 3 {
		_, err := b.Allow()
		var oe *OpenError
		if !errors.As(err, &oe) {
			t.Fatalf("Allow: %v, want an *OpenError", err)
		}
		eq(t, "RetryAt", oe.RetryAt, t0.Add(time.Minute))
		if i == 0 {
			first = oe
		} else if oe != first {
			t.Fatalf("rejection %d built its own error: the current period lost its record", i+1)
		}
	}
}

// The timer armed when a breaker opens fires at the end of the open period,
// not before: advancing the clock within the period reads no clock.
func TestOpenTimerNotDueEarly(t *testing.T) {
	clk := &timerCounter{Fake: clock.NewFake(t0)}
	b := mustNew(t, Config{FailureThreshold: 1, Timeout: time.Second, Clock: clk})
	b.RecordFailure()
	clk.reads.Store(0)
	clk.Advance(time.Millisecond)
	eq(t, "clock reads within the open period", clk.reads.Load(), int64(0))
	clk.Advance(time.Second - time.Millisecond)
	eq(t, "clock reads when the period ends", clk.reads.Load(), int64(1))
	eq(t, "due bit", isDue(b.word.Load()), true)
	eq(t, "state", b.State(), StateHalfOpen)
}

// A forced-open period whose deadline lies exactly half the microsecond
// wrap range behind the clock (a breaker left untouched that long) reads as
// over, not as a deadline still ahead.
func TestForcedDeadlineHalfRangeBehindIsOver(t *testing.T) {
	fc := clock.NewFake(t0)
	b := mustNew(t, Config{Clock: nowOnly{fc}})
	if err := b.ForceOpen(time.Second); err != nil {
		t.Fatal(err)
	}
	field := payloadOf(b.word.Load()) & deadlineMask // µs since origin
	fc.Advance(time.Duration(field+deadlineWindow) * time.Microsecond)
	eq(t, "state", b.State(), StateClosed)
}
