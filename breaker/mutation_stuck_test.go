package breaker

import (
	"sync/atomic"
	"testing"
)

// newStuckAt returns a stuck-call counter with buckets of width ns over a
// state word that is closed under generation gen.
func newStuckAt(gen uint16, width int64) *stuckCalls {
	var word atomic.Uint64
	word.Store(pack(phaseClosed, gen, 0))
	return newStuckCalls(&word, width)
}

// An admission that read the clock before its ring slot moved on to a later
// bucket counts as old at once, and leaves the later bucket's calls in their
// slot, where they are not stuck yet.
func TestStuckLateAdmissionLeavesLaterBucket(t *testing.T) {
	s := newStuckAt(1, 1)
	for range 3 {
		s.admit(1, 5) // bucket 5, slot 1
	}
	s.admit(1, 1) // bucket 1, slot 1: read the clock four buckets ago
	eq(t, "stuck at bucket 5", s.count(1, 5), uint64(1))
	eq(t, "stuck at bucket 6", s.count(1, 6), uint64(1))
	eq(t, "stuck at bucket 7", s.count(1, 7), uint64(4))
}

// A slot's bucket exactly half the bucket range ahead of an admission's
// reads as an earlier bucket: the admission takes the slot over and the
// slot's calls move to the old ones.
func TestStuckAdmissionHalfRangeBehindTakesSlot(t *testing.T) {
	half := int64(1) << (stBucketBits - 1)
	s := newStuckAt(1, 1)
	s.admit(1, half) // bucket 2^26, slot 0
	s.admit(1, 0)    // bucket 0, slot 0
	eq(t, "stuck at bucket 1", s.count(1, 1), uint64(1))
	eq(t, "stuck at bucket 2", s.count(1, 2), uint64(2))
}

// A finished call is taken off the count of its own admission bucket (not
// off the old calls), so calls of other buckets still count as stuck.
func TestStuckDoneTakesCallOffItsBucket(t *testing.T) {
	s := newStuckAt(1, 10)
	s.admit(1, 0)  // bucket 0, slot 0
	s.admit(1, 20) // bucket 2, slot 2
	s.done(1, 20)
	eq(t, "stuck at bucket 2", s.count(1, 20), uint64(1))
	eq(t, "stuck at bucket 4", s.count(1, 40), uint64(1))
	s.done(1, 0)
	eq(t, "stuck after both finished", s.count(1, 40), uint64(0))
}

// A finish that lands between the two steps of a slot move (slot taken over,
// then its calls added to the old ones) is taken off the old calls of the
// current period even while the accumulator still belongs to an earlier one,
// so the moved call does not count as stuck once it has finished.
func TestStuckDoneDuringSlotMove(t *testing.T) {
	s := newStuckAt(1, 1)
	s.admit(1, 0) // call A: bucket 0, slot 0
	// An admission at bucket 4 takes slot 0 over (its first step)...
	s.ring[0].Store(stuckTag(1, 4) | 1)
	// ...A finishes and finds its slot moved on...
	s.done(1, 0)
	// ...and the mover adds A to the old calls (its second step).
	s.addOld(1, 1, true)
	eq(t, "stuck at bucket 4", s.count(1, 4), uint64(0))
	eq(t, "stuck at bucket 6", s.count(1, 6), uint64(1)) // the mover's own call
}

// The count takes a slot's calls as stuck only while its bucket lies less
// than half the bucket range back: a bucket ahead of the reading (an
// admission that read the clock after the counter did) and one exactly half
// the range away are not counted.
func TestStuckCountAgeRange(t *testing.T) {
	half := int64(1) << (stBucketBits - 1)
	s := newStuckAt(1, 1)
	s.admit(1, 0)
	eq(t, "stuck just under half the range later", s.count(1, half-1), uint64(1))
	eq(t, "stuck exactly half the range later", s.count(1, half), uint64(0))
	s2 := newStuckAt(1, 1)
	s2.admit(1, 10)
	eq(t, "stuck counted at an earlier bucket", s2.count(1, 5), uint64(0))
	eq(t, "stuck counted two buckets on", s2.count(1, 12), uint64(1))
}
