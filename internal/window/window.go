// Package window implements the lock-free sliding windows that feed a
// breaker's failure-rate and slow-call-rate rules.
//
// Two shapes exist: [Count] remembers the outcomes of the last N calls, and
// [Time] sums the outcomes of the last D of time in B buckets. Both are rings
// of atomic words and never allocate after construction.
//
// # Tags instead of clears
//
// Every word in a ring carries a tag next to its data: the generation of the
// breaker state it belongs to and the position (call sequence number or time
// period) it describes. A writer that finds a word tagged for an older period
// or generation replaces tag and data in the same compare-and-swap that counts
// its own outcome, so a bucket is reset by the first write of its new period,
// never by a separate clear that a concurrent writer could slip in front of.
// Readers simply ignore words whose tag is not current. Starting a fresh
// window for a new generation therefore costs nothing: the old words are
// stale the moment the generation changes.
//
// # Read consistency
//
// A sum is taken word by word while writers carry on. It may miss an outcome
// whose writer has claimed its place but not yet written it, and may include
// outcomes recorded after the sum began; it never counts an outcome twice and
// never counts one from another generation.
package window

// Figures are the outcomes a window currently holds.
type Figures struct {
	Calls    uint64 // outcomes recorded (successes + failures)
	Failures uint64 // outcomes that were failures
	Slow     uint64 // outcomes that were slow (a slow call may also be a failure)
}

// Window is what both ring shapes offer a breaker.
type Window interface {
	// Add records one outcome for generation gen at monotonic time now (ns).
	Add(gen uint16, now int64, failure, slow bool)
	// Sum returns what generation gen's window holds at time now.
	Sum(gen uint16, now int64) Figures
	// NeedsTime reports whether Add and Sum use now; a count window does not,
	// so its caller may skip reading the clock.
	NeedsTime() bool
}

// GenBits is how many bits of the generation a window keeps in its tags. The
// breaker's generation has exactly this width.
const GenBits = 13

const genMask = 1<<GenBits - 1
