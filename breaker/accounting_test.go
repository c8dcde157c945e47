package breaker

import (
	"testing"
	"time"

	"github.com/fusebox-go/fusebox/internal/clock"
)

// A slow success while closed is a success (and slow); only a slow probe is
// turned into a failure, and only while the slow-call rate rule is on.
func TestSlowSuccessAccounting(t *testing.T) {
	fc := clock.NewFake(t0)
	b := mustNew(t, Config{
		FailureThreshold: 1, Timeout: time.Second, Clock: fc,
		SlowCallDuration: time.Second, SlowCallRateThreshold: 1, MinimumCalls: 100, WindowSize: 100,
	})
	slowOK := func() error { fc.Advance(time.Second); return nil }

	if err := b.Call(slowOK); err != nil {
		t.Fatal(err)
	}
	c := b.Counts()
	eq(t, "SuccessCalls", c.SuccessCalls, uint64(1))
	eq(t, "FailureCalls", c.FailureCalls, uint64(0))
	eq(t, "SlowCalls", c.SlowCalls, uint64(1))
	eq(t, "State", c.State, StateClosed)

	tripOnce(b)
	fc.Advance(time.Second)
	if err := b.Call(slowOK); err != nil { // the probe: slow, so it fails
		t.Fatal(err)
	}
	c = b.Counts()
	eq(t, "State after a slow probe", c.State, StateOpen)
	eq(t, "SuccessCalls", c.SuccessCalls, uint64(1))
	eq(t, "FailureCalls", c.FailureCalls, uint64(2))
	eq(t, "SlowCalls", c.SlowCalls, uint64(2))
}

// The run of consecutive failures saturates at 65535 instead of wrapping to
// zero (reachable when the consecutive rule is off and a rate rule cannot
// trip yet).
func TestConsecutiveFailuresSaturate(t *testing.T) {
	b := mustNew(t, Config{
		FailureRateThreshold: 1, WindowType: TimeWindow, MinimumCalls: MaxMinimumCalls,
		Clock: clock.NewFake(t0),
	})
	for range MaxCount + 2 {
		b.RecordFailure()
	}
	c := b.Counts()
	eq(t, "State", c.State, StateClosed)
	eq(t, "ConsecutiveFailures", c.ConsecutiveFailures, uint32(MaxCount))
	eq(t, "FailureCalls", c.FailureCalls, uint64(MaxCount+2))
}
