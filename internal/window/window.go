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
package window

import "unsafe"

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
// so the frames of one goroutine pick alike; a multiplicative hash mixes it,
// and its top 32 bits, the best mixed, are scaled to [0, n).
func Pick(n int) int {
	var marker byte
	h := uint64(uintptr(unsafe.Pointer(&marker))>>11) * 0x9E3779B97F4A7C15
	return int((h >> 32) * uint64(n) >> 32)
}

// SetsFor is how many per-core counter sets a contended counter spreads
// over: four per core, so that two busy goroutines rarely pick the same one,
// at most 64.
func SetsFor(procs int) int { return min(max(4*procs, 4), 64) }
