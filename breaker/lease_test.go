package breaker

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fusebox-go/fusebox/internal/clock"
)

// The probe lease under interleavings that a sequential model cannot show:
// one goroutine is held between a decision and the CAS that acts on it.

// holdReclaimDecision holds the first goroutine that decides a reclaim,
// after its CAS on the lease and before it reads the lease back, until
// release.
func holdReclaimDecision(t *testing.T) (reached, release chan struct{}) {
	return holdFirstAt(t, &testHookReclaimDecided)
}

// holdBeforeReclaimCAS holds the first goroutine that carries out a reclaim,
// after it read its decision back from the lease and right before the
// word's CAS, until release.
func holdBeforeReclaimCAS(t *testing.T) (reached, release chan struct{}) {
	return holdFirstAt(t, &testHookBeforeReclaimCAS)
}

// holdFirstAt sets the test hook *hook to hold the first goroutine that
// reaches it until release, and unsets it when t ends.
func holdFirstAt(t *testing.T, hook *func()) (reached, release chan struct{}) {
	reached, release = make(chan struct{}), make(chan struct{})
	var first atomic.Bool
	*hook = func() {
		if first.CompareAndSwap(false, true) {
			close(reached)
			<-release
		}
	}
	t.Cleanup(func() { *hook = nil })
	return reached, release
}

// countReclaims returns a listener that counts lease reclaims, and the
// count.
func countReclaims() (*atomic.Int32, func(Transition)) {
	n := new(atomic.Int32)
	return n, func(tr Transition) {
		if tr.Reason == ReasonProbeLeaseExpired {
			n.Add(1)
		}
	}
}

// leaseBreaker returns a half-open breaker with every one of its maxProbes
// slots held since t0+1s, and the tickets holding them. The lease is 10s.
func leaseBreaker(t *testing.T, maxProbes uint32, onChange func(Transition)) (*Breaker, *clock.Fake, []Ticket) {
	fc := clock.NewFake(t0)
	b := mustNew(t, Config{FailureThreshold: 1, SuccessThreshold: 1, HalfOpenMaxCalls: maxProbes, Timeout: time.Second,
		ProbeLease: 10 * time.Second, OnStateChange: onChange, Clock: fc})
	b.RecordFailure()
	fc.Advance(time.Second)
	var held []Ticket
	for range maxProbes {
		tk, err := b.Allow()
		require.NoError(t, err)
		held = append(held, tk)
	}
	_, err := b.Allow()
	require.ErrorIs(t, err, ErrTooManyRequests, "every slot is taken")
	return b, fc, held
}

// A caller that found every slot taken and was preempted at its clock read
// while another caller reclaimed the expired slots is admitted when it
// resumes: the slots it waited for were free again. Before the lease
// recorded reclaims, it judged its stale word by the reclaimer's fresh stamp
// and was turned away (ErrTooManyRequests while a slot was free), which the
// linearizability check found.
func TestLeaseCallerPreemptedDuringReclaimIsAdmitted(t *testing.T) {
	b, fc, held := leaseBreaker(t, 2, nil)
	fc.Advance(10 * time.Second) // both slots held a whole lease
	hold := fc.HoldNextRead()
	res := make(chan error, 1)
	var late Ticket
	go func() {
		var err error
		late, err = b.Allow() // loads the full word, reads the clock and stops
		res <- err
	}()
	<-hold.Reached
	first, err := b.Allow() // reclaims: a new generation, first slot
	require.NoError(t, err)
	hold.Release()
	require.NoError(t, <-res, "the second slot of the new generation is free")
	require.Equal(t, uint32(2), b.Counts().ProbesInFlight)
	held[0].Done(nil) // stale: reclaimed
	require.Equal(t, StateHalfOpen, b.State(), "a reclaimed probe's success changes nothing")
	late.Done(nil)
	require.Equal(t, StateClosed, b.State())
	first.Done(nil) // stale now: the breaker closed
}

// A reclaim decided by a goroutine that is then preempted before its CAS on
// the word is carried out by the next caller instead of that caller being
// turned away, and the slot the carrier takes is not reclaimed again: with
// one slot, the decider then finds it taken.
func TestLeaseReclaimDecidedIsCarriedOut(t *testing.T) {
	reclaims, onChange := countReclaims()
	b, fc, _ := leaseBreaker(t, 1, onChange)
	fc.Advance(10 * time.Second)
	reached, release := holdReclaimDecision(t)
	res := make(chan error, 1)
	go func() { _, err := b.Allow(); res <- err }()
	<-reached
	carrier, err := b.Allow()
	require.NoError(t, err, "the decided reclaim is carried out, not waited for")
	close(release)
	require.ErrorIs(t, <-res, ErrTooManyRequests, "the new generation's only slot is the carrier's")
	require.Equal(t, int32(1), reclaims.Load(), "one reclaim")

	// The carrier's slot has its own whole lease.
	fc.Advance(10*time.Second - time.Nanosecond)
	_, err = b.Allow()
	require.ErrorIs(t, err, ErrTooManyRequests)
	fc.Advance(time.Nanosecond)
	again, err := b.Allow()
	require.NoError(t, err, "a lease after the carrier's admission")
	require.Equal(t, int32(2), reclaims.Load())
	carrier.Done(nil) // stale
	require.Equal(t, StateHalfOpen, b.State())
	again.Done(nil)
	require.Equal(t, StateClosed, b.State())
}

// A reclaim decided by a goroutine held before it reads its decision back,
// while the judged probe finishes without an outcome and a new caller
// arrives: the new caller carries the decision out (a recorded decision
// admits nobody into its generation any more), so the decider finds the
// lease moved or the word moved on, and the new probe's slot stays its own.
func TestLeaseReclaimAbandonedAfterNewAdmission(t *testing.T) {
	b, fc, held := leaseBreaker(t, 1, nil)
	fc.Advance(10 * time.Second)
	reached, release := holdReclaimDecision(t)
	res := make(chan error, 1)
	go func() { _, err := b.Allow(); res <- err }()
	<-reached
	held[0].DoneOutcome(Neutral) // frees the slot: the word loses one probe
	fresh, err := b.Allow()      // carries the reclaim out: a new generation
	require.NoError(t, err)
	close(release)
	require.ErrorIs(t, <-res, ErrTooManyRequests, "the fresh probe's slot is not reclaimed")
	fresh.Done(nil)
	require.Equal(t, StateClosed, b.State(), "the fresh probe's result counts")
}

// A decider held after it read its decision back from the lease, right
// before its CAS on the word, never reclaims a probe admitted meanwhile. The
// judged probe finishes without an outcome and a new caller arrives: before
// the fix the new caller took the free slot, the word came back to the value
// judged, and the decider's CAS reclaimed the new probe's slot, so two probes
// ran with HalfOpenMaxCalls 1 (found by make verify-long's linearizability
// check, FINDINGS 22). Now the new caller carries the recorded reclaim out
// and the decider finds the new generation's only slot taken.
func TestLeaseDeciderHeldBeforeItsCASNeverReclaimsAFreshProbe(t *testing.T) {
	reclaims, onChange := countReclaims()
	b, fc, held := leaseBreaker(t, 1, onChange)
	fc.Advance(10 * time.Second) // the slot has been held a whole lease
	reached, release := holdBeforeReclaimCAS(t)
	res := make(chan error, 1)
	go func() { _, err := b.Allow(); res <- err }() // decides, reads it back, stops
	<-reached
	held[0].Done(context.Canceled) // neutral: the judged probe frees its slot
	fresh, err := b.Allow()
	require.NoError(t, err)
	close(release)
	require.ErrorIs(t, <-res, ErrTooManyRequests, "the only slot is the fresh probe's")
	require.Equal(t, uint32(1), b.Counts().ProbesInFlight)
	require.Equal(t, int32(1), reclaims.Load(), "one reclaim, carried out by the fresh caller")
	fresh.Done(nil)
	require.Equal(t, StateClosed, b.State(), "the fresh probe's result counts")
}

// A caller that read the lease before a reclaim was decided, found a slot
// free and stopped at its clock read, does not take that slot once it
// resumes into a generation whose reclaim is decided: its stamp would clear
// the decision, its CAS bring the word back to the value judged, and the
// held decider's CAS reclaim its fresh slot. It carries the reclaim out
// instead.
func TestLeaseProbeNeverEntersADecidedGeneration(t *testing.T) {
	b, fc, held := leaseBreaker(t, 1, nil)
	held[0].Done(context.Canceled) // the slot is free
	hold := fc.HoldNextRead()
	res := make(chan error, 1)
	var late Ticket
	go func() {
		var err error
		late, err = b.Allow() // loads the word with a free slot and the lease, reads the clock, stops
		res <- err
	}()
	<-hold.Reached
	filler, err := b.Allow() // takes the free slot at 1s
	require.NoError(t, err)
	fc.Advance(10 * time.Second) // the filler's slot has been held a whole lease
	reached, release := holdBeforeReclaimCAS(t)
	decider := make(chan error, 1)
	go func() { _, err := b.Allow(); decider <- err }() // decides, stops before the word's CAS
	<-reached
	filler.Done(context.Canceled) // the judged probe frees its slot
	hold.Release()
	require.NoError(t, <-res, "the late caller carries the reclaim out")
	close(release)
	require.ErrorIs(t, <-decider, ErrTooManyRequests, "the only slot is the late caller's")
	require.Equal(t, uint32(1), b.Counts().ProbesInFlight)
	late.Done(nil)
	require.Equal(t, StateClosed, b.State(), "the late caller's probe is current")
}

// A reclaim decision stays on the lease after it was carried out; a later
// half-open period of the same parity must not find it. State or Counts
// ending an open period enter half-open with no probe, and that entry stamps
// the lease like every other one: without it, the first probe of the new
// period carried the old decision out, a reclaim of nothing (TestModel,
// after finding 22 made a decision bar its generation's admissions).
func TestLeaseDecisionOfAnEarlierPeriodIsCleared(t *testing.T) {
	reclaims, onChange := countReclaims()
	b, fc, _ := leaseBreaker(t, 1, onChange)
	fc.Advance(10 * time.Second)
	carrier, err := b.Allow() // reclaims: the decision stays on the lease
	require.NoError(t, err)
	carrier.Done(nil) // closes
	require.NoError(t, b.TripFor(time.Second))
	fc.Advance(time.Second)
	require.Equal(t, StateHalfOpen, b.Counts().State, "Counts ends the open period") // two generations on: the same parity
	probe, err := b.Allow()
	require.NoError(t, err)
	require.Equal(t, int32(1), reclaims.Load(), "the first probe of a new period reclaims nothing")
	probe.Done(nil)
	require.Equal(t, StateClosed, b.State())
}

// A caller that carries out a reclaim decided by a goroutine whose clock
// reading is newer than its own never moves the lease back: the new slot's
// lease runs from the newer reading.
func TestLeaseCarrierNeverMovesLeaseBack(t *testing.T) {
	b, fc, _ := leaseBreaker(t, 1, nil)
	fc.Advance(10 * time.Second) // 11s: the slot has held a whole lease
	hold := fc.HoldNextRead()
	carried := make(chan error, 1)
	var carrier Ticket
	go func() {
		var err error
		carrier, err = b.Allow() // reads 11s and stops
		carried <- err
	}()
	<-hold.Reached
	fc.Advance(5 * time.Second) // 16s
	reached, release := holdReclaimDecision(t)
	decided := make(chan error, 1)
	go func() { _, err := b.Allow(); decided <- err }() // decides at 16s, stops
	<-reached
	hold.Release()
	require.NoError(t, <-carried, "the carrier takes the slot")
	close(release)
	require.ErrorIs(t, <-decided, ErrTooManyRequests)

	fc.Advance(10*time.Second - time.Nanosecond) // just under a lease after 16s
	_, err := b.Allow()
	require.ErrorIs(t, err, ErrTooManyRequests, "the lease runs from 16s, not from the carrier's 11s")
	fc.Advance(time.Nanosecond)
	next, err := b.Allow()
	require.NoError(t, err)
	carrier.Done(nil) // reclaimed: stale
	next.Done(nil)
	require.Equal(t, StateClosed, b.State())
}
