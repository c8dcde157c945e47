// Package window implements the lock-free sliding windows behind a breaker's
// failure-rate and slow-call-rate rules.
//
// Two shapes exist: [Count] keeps the figures of the last N completions, and
// [Time] those of the last D of time in B buckets. Neither allocates after
// construction, except that a Time window allocates its per-core counters
// once, the first time two cores contend for it.
//
// # What a reader can rely on
//
// Every Figures value either shape returns satisfies Failures <= Calls and
// Slow <= Calls, under any interleaving of writers, readers and generation
// changes. A Count window's figures are those of an exact prefix of the
// completion order; a Time window's are those of the completions since a
// bucket boundary, give or take completions that raced with the boundary.
//
// # Generations
//
// Every figure belongs to one generation of the breaker (one closed or
// disabled period). Writers pass the generation they were admitted under and
// use the two-step protocol of each shape (load, check the breaker, CAS), so
// a completion admitted under an earlier generation never changes a later
// generation's window, wherever its goroutine is preempted.
//
// Generations are numbered modulo 2^GenBits, so a generation number comes
// back every 8192 transitions. Before a transition that starts generation
// g, the breaker calls Forget(g) on each window, which empties every word
// still tagged g by the period that had that number 8192 (or more)
// transitions earlier: without it, a window that no later period wrote
// would show that old period's figures as the new one's.
package window

import (
	"sync/atomic"
	"unsafe"
)

// Figures are the outcomes a window currently holds.
type Figures struct {
	Calls    uint64 // outcomes recorded (successes + failures)
	Failures uint64 // outcomes that were failures
	Slow     uint64 // outcomes that were slow (a slow call may also be a failure)
}

// GenBits is how many bits of the generation a window keeps in its tags. The
// breaker's generation has exactly this width.
const GenBits = 13

const genMask = 1<<GenBits - 1

// Pick spreads goroutines over n per-core counter sets without a goroutine
// id: a goroutine's stack address is stable while it runs and differs
// between goroutines. The address is taken above 2 KiB (the smallest stack),
// so the frames of one goroutine pick alike; it is mixed with the current
// salt (see Collided) by multiply, xor-shift, multiply, and the top 32 bits
// of the result, the best mixed, are scaled to [0, n).
func Pick(n int) int {
	var marker byte
	h := uint64(uintptr(unsafe.Pointer(&marker))>>11)*0x9E3779B97F4A7C15 + salt.v.Load()
	h ^= h >> 31
	h *= 0xBF58476D1CE4E5B9
	return int((h >> 32) * uint64(n) >> 32)
}

// salt is mixed into every Pick. It changes only when Collided finds two
// goroutines on one set, so it stays in every core's cache; it has a line
// of its own so that no other variable's writes evict it.
var salt struct {
	_ [64]byte
	v atomic.Uint64
	_ [56]byte
}

// maxRepickSets bounds the set counts for which Collided changes the salt:
// up to 32 sets (GOMAXPROCS 8), a new salt has a fair chance (at least 0.4
// for 8 busy goroutines over 32 sets) of giving every busy goroutine a set
// of its own. Over more cores some busy goroutines share a set whatever the
// salt, and changing it would only move every goroutine's counting to
// another line, again and again.
const maxRepickSets = 32

// Collided reports that a CAS on a word of one of n sets, picked by Pick,
// failed: another goroutine, on another core, counts in the same set. The
// hash of the stack address is fixed for a goroutine's life, so two
// long-lived busy goroutines that pick alike would share one cache line for
// as long as they run, at several times the cost of a set each. A new salt
// gives every goroutine a new pick; if they still collide the next failure
// changes it again. Concurrent reports of one collision change it once (a
// CAS from the value read).
func Collided(n int) {
	if n > maxRepickSets {
		return
	}
	s := salt.v.Load()
	salt.v.CompareAndSwap(s, s+0x9E3779B97F4A7C15)
}

// SetsFor is how many per-core counter sets a contended counter spreads
// over: four per core, so that two busy goroutines rarely pick the same one,
// at most 64.
func SetsFor(procs int) int { return min(max(4*procs, 4), 64) }

// ForgetWord empties *x, tagged with the generation in its top GenBits bits
// above shift, if that generation is gen: it becomes empty and tagged
// gen+1 (a generation that ran 8191 transitions ago and is over), which
// every reader of gen counts as nothing and the first writer of gen
// replaces. It gives up as soon as *word no longer holds w, the word the
// caller is about to replace: another goroutine has made the transition
// (having forgotten first), and gen's words may be the new period's own.
//
// Why it never empties a word the new period wrote: such a write follows
// the CAS that publishes gen, which follows every load of *word here that
// found w; the write changes *x after this load of it, so the CAS on *x
// below fails.
func ForgetWord(x *atomic.Uint64, shift uint, gen uint16, word *atomic.Uint64, w uint64) bool {
	gen &= genMask
	for {
		v := x.Load()
		if uint16(v>>shift)&genMask != gen {
			return true
		}
		if word.Load() != w {
			return false
		}
		if x.CompareAndSwap(v, uint64((gen+1)&genMask)<<shift) {
			return true
		}
	}
}
