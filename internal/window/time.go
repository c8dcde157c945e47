package window

import "sync/atomic"

// MaxBuckets is the largest number of buckets a Time window may have.
const MaxBuckets = 1 << 12

// Time sums the outcomes of the last D of time, split into B buckets of width
// D/B. The window at time now is the bucket holding now plus the B-1 buckets
// before it.
//
// Each bucket has three counters (calls, failures, slow calls), each one
// uint64 that carries its own tag:
//
//	 63        51 50                      24 23                        0
//	+------------+--------------------------+---------------------------+
//	| generation |     period (27 bits)     | count (24 bits, saturates) |
//	+------------+--------------------------+---------------------------+
//
// period is floor(now / width) modulo 2^27. Counting into a counter whose tag
// differs from the writer's replaces the word with (writer's tag, 1) in the
// same compare-and-swap. The one exception is a late writer: when the counter
// already holds the same generation and a period at most one window ahead of
// the writer's, the writer's outcome is older than the window and is
// dropped. A counter of another generation is always replaced: writers check
// the breaker's generation just before they add, so the writer's generation
// is the current one unless a transition slipped in between.
//
// Tags compare modulo their width, so a bucket left untouched for 2^27
// periods (155 days of 100 ms buckets) could read as current again, and one
// whose generation was lapped by 8192 transitions within a window could be
// counted for the current generation; neither is reachable in practice.
type Time struct {
	width   int64
	buckets []bucket
}

type bucket struct {
	calls, failures, slow atomic.Uint64
}

const (
	periodBits  = 27
	periodMask  = 1<<periodBits - 1
	countBits   = 24
	countMask   = 1<<countBits - 1
	tagGenShift = countBits + periodBits // 51
)

// NewTime returns a window of n buckets, each width nanoseconds wide.
func NewTime(width int64, n int) *Time {
	if width < 1 || n < 1 || n > MaxBuckets {
		panic("window: time window shape out of range") // callers validate first
	}
	return &Time{width: width, buckets: make([]bucket, n)}
}

// NeedsTime reports true.
func (*Time) NeedsTime() bool { return true }

func (t *Time) tag(gen uint16, period int64) uint64 {
	return uint64(gen&genMask)<<periodBits | uint64(period)&periodMask
}

// Add records one outcome at time now.
func (t *Time) Add(gen uint16, now int64, failure, slow bool) {
	p := floorDiv(now, t.width)
	b := &t.buckets[floorMod(p, int64(len(t.buckets)))]
	tag := t.tag(gen, p)
	n := uint64(len(t.buckets))
	bump(&b.calls, tag, n)
	if failure {
		bump(&b.failures, tag, n)
	}
	if slow {
		bump(&b.slow, tag, n)
	}
}

func bump(c *atomic.Uint64, tag uint64, n uint64) {
	for {
		old := c.Load()
		var next uint64
		if oldTag := old >> countBits; oldTag == tag {
			if old&countMask == countMask {
				return // saturated
			}
			next = old + 1
		} else {
			if old != 0 && aheadWithin(oldTag, tag, n) {
				return // the counter already serves a later period: we are late
			}
			next = tag<<countBits | 1
		}
		if c.CompareAndSwap(old, next) {
			return
		}
	}
}

// aheadWithin reports whether tag a is of the same generation as tag b and
// at most n periods after it.
func aheadWithin(a, b, n uint64) bool {
	if a>>periodBits != b>>periodBits {
		return false
	}
	d := (a - b) & periodMask
	return d != 0 && d <= n
}

// Sum returns what gen's window holds at time now.
func (t *Time) Sum(gen uint16, now int64) Figures {
	p := floorDiv(now, t.width)
	n := uint64(len(t.buckets))
	var f Figures
	read := func(c *atomic.Uint64) uint64 {
		w := c.Load()
		tag := w >> countBits
		if w == 0 || uint16(tag>>periodBits)&genMask != gen&genMask {
			return 0
		}
		// In the window when p-n < period <= p, modulo 2^19.
		if age := (uint64(p) - tag) & periodMask; age >= n {
			return 0
		}
		return w & countMask
	}
	for i := range t.buckets {
		b := &t.buckets[i]
		f.Calls += read(&b.calls)
		f.Failures += read(&b.failures)
		f.Slow += read(&b.slow)
	}
	return f
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func floorMod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}
