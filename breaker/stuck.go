package breaker

import (
	"sync/atomic"

	"github.com/fusebox-go/fusebox/internal/window"
)

// The stuck-call rule (Config.MaxStuckCalls): a closed breaker trips when
// more than MaxStuckCalls calls admitted in its current closed period have
// each been in flight for at least SlowCallDuration, without waiting for
// them to finish.
//
// Calls in flight are counted by admission bucket, a bucket being
// SlowCallDuration (w) wide: a call admitted in bucket k has been in flight
// for at least w once the clock reads bucket k+2 or later, and every call in
// flight for 2w has reached that point. So the stuck calls at bucket p are
// those of buckets up to p-2, which the rule notices at most 2w after a call
// was admitted. Four ring slots hold the last four buckets; when an
// admission reuses a slot, the calls still in flight from the bucket it held
// move to an accumulator of old calls.
//
//	ring slot:    | generation 13 | bucket mod 2^27 | calls in flight 24 |
//	accumulator:  | generation 13 |   calls in flight (51, two's complement) |
//
// Both carry the generation of the closed period they count, so calls
// admitted before a transition never count after it. A finish that finds its
// slot already moved on takes its call off the accumulator instead; the move
// (slot first, then accumulator) is two steps, so the accumulator may dip
// below its true value for an instant (it is signed for that), which can only
// delay a trip, never cause one.
type stuckCalls struct {
	word  *atomic.Uint64 // the breaker's state word
	width int64
	ring  [4]atomic.Uint64
	old   atomic.Uint64
}

const (
	stCountBits  = 24
	stCountMask  = 1<<stCountBits - 1
	stBucketBits = 27
	stBucketMask = 1<<stBucketBits - 1
	stGenShift   = stCountBits + stBucketBits // 51
	oldCountMask = 1<<stGenShift - 1
)

func newStuckCalls(word *atomic.Uint64, width int64) *stuckCalls {
	return &stuckCalls{word: word, width: width}
}

func stuckTag(gen uint16, k uint64) uint64 {
	return uint64(gen&genMask)<<stGenShift | (k&stBucketMask)<<stCountBits
}

// admit counts a call of generation gen admitted at now.
func (s *stuckCalls) admit(gen uint16, now int64) {
	k := uint64(max(now, 0) / s.width)
	slot := &s.ring[k%4]
	tag := stuckTag(gen, k)
	for {
		v := slot.Load()
		if v&^stCountMask == tag {
			if v&stCountMask == stCountMask || slot.CompareAndSwap(v, v+1) {
				return // (a bucket with 2^24-1 calls in flight stops counting)
			}
			continue
		}
		if uint16(v>>stGenShift) == gen&genMask {
			if d := ((v>>stCountBits)&stBucketMask - k) & stBucketMask; d != 0 && d < 1<<(stBucketBits-1) {
				// The slot already serves a later bucket: this admission
				// read the clock long ago. It is old already.
				s.addOld(gen, 1, true)
				return
			}
		}
		if slot.CompareAndSwap(v, tag|1) {
			if uint16(v>>stGenShift) == gen&genMask && v&stCountMask != 0 {
				s.addOld(gen, v&stCountMask, true)
			}
			return
		}
	}
}

// done takes a finished call of generation gen, admitted at start, off the
// count.
func (s *stuckCalls) done(gen uint16, start int64) {
	k := uint64(max(start, 0) / s.width)
	slot := &s.ring[k%4]
	tag := stuckTag(gen, k)
	for {
		v := slot.Load()
		if v&^stCountMask != tag || v&stCountMask == 0 {
			w := s.word.Load()
			s.addOld(gen, oldCountMask, phaseOf(w) == phaseClosed && genOf(w) == gen) // -1
			return
		}
		if slot.CompareAndSwap(v, v-1) {
			return
		}
	}
}

// forget empties the ring slots and the accumulator that still count calls
// of generation gen from the period that had that number 8192 transitions
// (or a multiple) ago, before the CAS that replaces the word w by one of
// generation gen (see window.Forget): their calls in flight must not count
// as the new period's stuck calls.
func (s *stuckCalls) forget(gen uint16, w uint64) {
	for i := range s.ring {
		if !window.ForgetWord(&s.ring[i], stGenShift, gen, s.word, w) {
			return
		}
	}
	window.ForgetWord(&s.old, stGenShift, gen, s.word, w)
}

// addOld adds delta (modulo 2^51) to the accumulator of generation gen. An
// accumulator of another generation is replaced only by a writer whose
// generation was the breaker's when it looked (current): admissions, and
// finishes of the current period. A finish of an ended period leaves it
// alone, so it never restarts the current period's count.
func (s *stuckCalls) addOld(gen uint16, delta uint64, current bool) {
	g := uint64(gen&genMask) << stGenShift
	for {
		v := s.old.Load()
		next := g | delta&oldCountMask
		if v&^oldCountMask == g {
			next = g | (v+delta)&oldCountMask
		} else if !current {
			return
		}
		if s.old.CompareAndSwap(v, next) {
			return
		}
	}
}

// count returns how many calls of generation gen admitted while closed have
// been in flight since bucket p-2 or earlier.
func (s *stuckCalls) count(gen uint16, now int64) uint64 {
	p := uint64(max(now, 0) / s.width)
	g := uint64(gen&genMask) << stGenShift
	var n int64
	for i := range s.ring {
		v := s.ring[i].Load()
		if v&^(stBucketMask<<stCountBits|stCountMask) != g {
			continue
		}
		if age := (p - (v>>stCountBits)&stBucketMask) & stBucketMask; age >= 2 && age < 1<<(stBucketBits-1) {
			n += int64(v & stCountMask)
		}
	}
	if v := s.old.Load(); v&^oldCountMask == g {
		n += int64(v<<(64-stGenShift)) >> (64 - stGenShift) // sign-extend 51 bits
	}
	return uint64(max(n, 0))
}

// stuckTrip applies the stuck-call rule to the closed word w at now. It
// reports true if the word may have changed (it tripped the breaker, or lost
// a race doing so): the caller reads the word again.
func (b *Breaker) stuckTrip(w uint64, now int64) bool {
	n := b.stuck.count(genOf(w), now)
	if n <= uint64(b.s.maxStuck) {
		return false
	}
	b.trip(w, 1, ReasonStuckCalls, now, Transition{StuckCalls: n, ConsecutiveFailures: b.runOf(w)})
	return true
}
