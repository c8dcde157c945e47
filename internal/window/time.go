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
//	 63        51 50                32 31                            0
//	+------------+--------------------+-------------------------------+
//	| generation |  period (19 bits)  |  count (32 bits, saturating)  |
//	+------------+--------------------+-------------------------------+
//
// period is floor(now / width) modulo 2^19. Counting into a counter whose tag
// differs from the writer's replaces the word with (writer's tag, 1) in the
// same compare-and-swap, unless the counter already belongs to a newer
// generation or period, in which case the late outcome is dropped.
type Time struct {
	width   int64
	buckets []bucket
}

type bucket struct {
	calls, failures, slow atomic.Uint64
}

const (
	periodBits  = 19
	periodMask  = 1<<periodBits - 1
	countBits   = 32
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
	bump(&b.calls, tag)
	if failure {
		bump(&b.failures, tag)
	}
	if slow {
		bump(&b.slow, tag)
	}
}

func bump(c *atomic.Uint64, tag uint64) {
	for {
		old := c.Load()
		var next uint64
		if oldTag := old >> countBits; oldTag == tag {
			n := old & countMask
			if n == countMask {
				return // saturated
			}
			next = old + 1
		} else {
			if old != 0 && newerTag(oldTag, tag) {
				return // a newer period or generation owns the counter
			}
			next = tag<<countBits | 1
		}
		if c.CompareAndSwap(old, next) {
			return
		}
	}
}

// newerTag reports whether tag a is newer than tag b: a newer generation, or
// the same generation and a later period.
func newerTag(a, b uint64) bool {
	ga, gb := uint16(a>>periodBits)&genMask, uint16(b>>periodBits)&genMask
	if ga != gb {
		return genNewer(ga, gb)
	}
	d := (a - b) & periodMask
	return d != 0 && d < 1<<(periodBits-1)
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
