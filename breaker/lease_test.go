package breaker

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fusebox-go/fusebox/internal/clock"
)

// The probe lease under interleavings that a sequential model cannot show:
// one goroutine is held between a decision and the CAS that acts on it.

// holdReclaimDecision holds the first goroutine that decides a reclaim,
// after its CAS on the lease and before the word's CAS, until release.
func holdReclaimDecision(t *testing.T) (reached, release chan struct{}) {
	reached, release = make(chan struct{}), make(chan struct{})
	var first atomic.Bool
	testHookReclaimDecided = func() {
		if first.CompareAndSwap(false, true) {
			close(reached)
			<-release
		}
	}
	t.Cleanup(func() { testHookReclaimDecided = nil })
	return reached, release
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
	var reclaims atomic.Int32
	b, fc, _ := leaseBreaker(t, 1, func(tr Transition) {
		if tr.Reason == ReasonProbeLeaseExpired {
			reclaims.Add(1)
		}
	})
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

// A reclaim decided on a word that then came back to the same value (a
// probe finished without an outcome and a new probe took its slot) is not
// carried out: the new probe stamped the lease, and its slot stays its own.
func TestLeaseReclaimAbandonedAfterNewAdmission(t *testing.T) {
	b, fc, held := leaseBreaker(t, 1, nil)
	fc.Advance(10 * time.Second)
	reached, release := holdReclaimDecision(t)
	res := make(chan error, 1)
	go func() { _, err := b.Allow(); res <- err }()
	<-reached
	held[0].DoneOutcome(Neutral) // frees the slot: the word loses one probe
	fresh, err := b.Allow()      // and gets it back: the same word as before
	require.NoError(t, err)
	close(release)
	require.ErrorIs(t, <-res, ErrTooManyRequests, "the fresh probe's slot is not reclaimed")
	fresh.Done(nil)
	require.Equal(t, StateClosed, b.State(), "the fresh probe's result counts")
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
